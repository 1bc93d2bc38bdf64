//! Secrets and logs: the whole source and reviewer flow with every crate logging at trace level,
//! then a search of everything the server wrote for the code, the plaintext and addresses.

use crate::common::*;

#[test]
fn trace_logs_hold_no_code_no_plaintext_and_no_address() {
    let mut server = Server::start("");
    // Restart at trace level for every crate (hyper, tokio, axum, age, ...).
    server.stop();
    server.log_filter = "trace".into();
    server.launch();

    let b = server.browser();
    let page = b.new_code();
    let code = page.code();
    let (file, file_canary) = file_with_canary("logfile", 50_000);
    let message_canary = String::from_utf8(canary("logmsg")).unwrap();
    let doc = Upload {
        name: "secret-name-of-file.pdf",
        mime: "application/pdf",
        bytes: file,
    };
    assert_eq!(
        b.submit(&page, &[doc], &format!("message {message_canary}"))
            .status,
        200
    );

    // A reply, read at login and deleted.
    let source = &server.sources()[0];
    let recipient = std::fs::read_to_string(source.join("recipient")).unwrap();
    let reply_canary = String::from_utf8(canary("logreply")).unwrap();
    let reply = source.join("replies/r0000000099-00112233445566778899aabbccddeeff.age");
    age_cli_encrypt(
        &[recipient.trim(), &server.recipient],
        reply_canary.as_bytes(),
        &reply,
    );
    let later = server.browser();
    let inbox = later.login(&code.to_uppercase());
    assert!(inbox.body.contains(&reply_canary));
    let id = between(&inbox.body, "name=\"reply\" value=\"", "\"").unwrap();
    assert_eq!(
        later
            .post_form("/reply/delete", &[("csrf", &inbox.csrf()), ("reply", &id)])
            .status,
        200
    );
    assert_eq!(
        server
            .browser()
            .login("wrong code words here and more")
            .status,
        403
    );
    later.post_form("/logout", &[("csrf", &inbox.csrf())]);

    // A reviewer fetch through the API.
    let work = tempfile::tempdir().unwrap();
    let cred = work.path().join("c");
    lanterne(&[
        "reviewers",
        "add",
        "ws",
        "--out",
        p(&cred),
        "--data-dir",
        p(&server.data()),
    ]);
    fetch(&server, &cred, &work.path().join("b"), false);

    let logs = server.stop();
    assert!(
        logs.contains("TRACE") && logs.lines().count() > 10,
        "trace logging did not take effect:\n{logs}"
    );
    assert!(logs.contains("submission stored"), "{logs}");
    let words: Vec<&str> = code.split(' ').collect();
    let mut needles = vec![
        code.clone(),
        code.to_uppercase(),
        String::from_utf8_lossy(&file_canary).into_owned(),
        message_canary,
        reply_canary,
        "secret-name-of-file".to_owned(),
        "127.0.0.1".to_owned(),
        "User-Agent".to_lowercase(),
    ];
    for pair in words.windows(2) {
        needles.push(pair.join(" "));
    }
    let token = std::fs::read_to_string(&cred).unwrap();
    let token: serde_json::Value = serde_json::from_str(&token).unwrap();
    needles.push(token["token"].as_str().unwrap().to_owned());
    let lower = logs.to_lowercase();
    for n in needles {
        assert!(!lower.contains(&n.to_lowercase()), "the logs contain {n:?}");
    }
}

/// At the default filter the server logs its start, warnings and errors, and no line per
/// event: journald would timestamp each one, making the log a record of when sources came.
#[test]
fn default_logs_hold_no_line_per_event() {
    let mut server = Server::start("");
    server.stop();
    server.log_filter = lanterne::DEFAULT_LOG_FILTER.into();
    server.launch();
    let startup = server.stop();
    assert!(
        startup.contains("encrypting every submission"),
        "the default filter did not take effect:\n{startup}"
    );
    server.launch();

    // A new code, a submission, a login, a failed login.
    let b = server.browser();
    let page = b.new_code();
    let code = page.code();
    let doc = Upload {
        name: "a.txt",
        mime: "text/plain",
        bytes: b"some words".to_vec(),
    };
    assert_eq!(b.submit(&page, &[doc], "hello").status, 200);
    assert_eq!(server.browser().login(&code).status, 200);
    assert_eq!(
        server
            .browser()
            .login("wrong code words here and more")
            .status,
        403
    );

    // A fetch --ack, and a reply written offline and pushed.
    let work = tempfile::tempdir().unwrap();
    let cred = work.path().join("c");
    server.add_reviewer("ws", &cred);
    let bundle = work.path().join("b");
    let acked = fetch(&server, &cred, &bundle, true);
    assert!(acked.contains("1 deleted on the server"), "{acked}");
    assert!(server.submissions().is_empty());
    let designation = list(&bundle.join("sources"))[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let pushed = reply_and_push(
        &server,
        &bundle,
        &designation,
        "thank you",
        &cred,
        &work.path().join("r"),
    );
    assert!(pushed.contains("pushed 1"), "{pushed}");

    let logs = server.stop();
    let startup_lines: Vec<&str> = startup.lines().collect();
    for line in logs.lines() {
        assert!(
            startup_lines.contains(&line),
            "a line that is not a startup line: {line:?}\nall logs:\n{logs}"
        );
    }
}
