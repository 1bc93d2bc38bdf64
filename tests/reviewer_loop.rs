//! The reviewers' loop over loopback: a source submits; a workstation fetches ciphertext into a
//! bundle; the offline machine opens it and writes a reply; the workstation pushes the reply;
//! the source reads it with the code and deletes it. Plus the API's refusals.

use crate::common::*;

fn api_get(url: &str, auth: Option<&str>) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new().get(url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    })
}

/// The one source's recipient and designation, and the reviewer API URL of its replies.
fn reply_target(server: &Server, auth: &str) -> (String, String, String) {
    let recipient = std::fs::read_to_string(server.sources()[0].join("recipient")).unwrap();
    let (_, index) = api_get(
        &format!("{}/api/v1/index", server.reviewer_base),
        Some(auth),
    );
    let designation = between(&index, "\"designation\":\"", "\"").unwrap();
    let url = format!(
        "{}/api/v1/sources/{designation}/replies",
        server.reviewer_base
    );
    (recipient.trim().to_owned(), designation, url)
}

#[test]
fn the_whole_loop_submit_fetch_open_reply_push_read_delete() {
    let server = Server::start("");
    let work = tempfile::tempdir().unwrap();

    // 1. A source submits files and a message.
    let b = server.browser();
    let page = b.new_code();
    let code = page.code();
    let (report, _) = file_with_canary("report", 200_000);
    let files = [
        Upload {
            name: "rapport.pdf",
            mime: "application/pdf",
            bytes: report.clone(),
        },
        Upload {
            name: "notes de réunion.txt",
            mime: "text/plain",
            bytes: b"root:x:0:0".to_vec(),
        },
    ];
    assert_eq!(
        b.submit(&page, &files, "Bonjour, voici les documents.")
            .status,
        200
    );

    // 2. fetch, on the networked workstation.
    let cred = work.path().join("ws1.cred");
    lanterne(&[
        "reviewers",
        "add",
        "ws1",
        "--out",
        p(&cred),
        "--data-dir",
        p(&server.data()),
    ]);
    let bundle = work.path().join("bundle");
    let fetched = fetch(&server, &cred, &bundle, false);
    assert!(fetched.contains("fetched 1 new submission"), "{fetched}");
    // The bundle holds only ciphertext, each file checks against SHA256SUMS and decrypts with
    // the stock age CLI.
    let sums = std::fs::read_to_string(bundle.join("SHA256SUMS")).unwrap();
    let check = std::process::Command::new("sha256sum")
        .arg("-c")
        .arg("--quiet")
        .arg("SHA256SUMS")
        .current_dir(&bundle)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    assert_eq!(
        sums.lines().count(),
        4,
        "recipient, manifest and two files: {sums}"
    );
    for line in sums.lines() {
        let rel = line.split_once("  ").unwrap().1;
        if rel.ends_with("/recipient") {
            continue;
        }
        let plain = server.age_decrypt(&bundle.join(rel));
        if rel.ends_with("manifest.age") {
            assert!(String::from_utf8_lossy(&plain).contains("voici les documents"));
        }
    }
    assert_eq!(any_file_contains(&bundle, b"voici les documents"), None);
    let designation = std::fs::read_dir(bundle.join("sources"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let designation = designation.to_str().unwrap().to_owned();
    assert_eq!(designation.split('-').count(), 3, "{designation}");
    // A second fetch has nothing new.
    let again = fetch(&server, &cred, &bundle, false);
    assert!(again.contains("fetched 0 new submission"), "{again}");
    // An interrupted fetch continues: half of the largest file is left as `.part`, the cursor
    // is back where it was, and fetching again completes it with a Range request.
    let big = walk(&bundle)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|x| x == "age"))
        .max_by_key(|f| std::fs::metadata(f).unwrap().len())
        .unwrap();
    let whole = std::fs::read(&big).unwrap();
    std::fs::write(big.with_extension("age.part"), &whole[..whole.len() / 2]).unwrap();
    std::fs::remove_file(&big).unwrap();
    let rel = big
        .strip_prefix(&bundle)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let kept: String = sums
        .lines()
        .filter(|l| !l.ends_with(&rel))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(bundle.join("SHA256SUMS"), kept).unwrap();
    std::fs::write(
        bundle.join("lanterne-bundle.json"),
        r#"{"format": 1, "next": 0}"#,
    )
    .unwrap();
    let resumed = fetch(&server, &cred, &bundle, false);
    assert!(resumed.contains("1 file(s)"), "{resumed}");
    assert_eq!(std::fs::read(&big).unwrap(), whole);
    assert!(!big.with_extension("age.part").exists());
    assert_eq!(
        std::fs::read_to_string(bundle.join("SHA256SUMS")).unwrap(),
        sums
    );

    // 3. review open and review reply, offline.
    let opened = work.path().join("opened");
    let shown = lanterne_offline(
        &server,
        &[
            "review",
            "open",
            p(&bundle),
            "--identity",
            p(&server.identity),
            "--out",
            p(&opened),
        ],
    );
    let sub_dir = std::fs::read_dir(opened.join(&designation))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        std::fs::read(sub_dir.join("rapport.pdf")).unwrap(),
        report,
        "{shown}"
    );
    assert!(std::fs::read_to_string(sub_dir.join("message.txt"))
        .unwrap()
        .contains("voici les documents"));
    for f in walk(&opened) {
        assert!(f.starts_with(&opened), "{f:?} escaped");
    }
    assert!(walk(&opened)
        .iter()
        .any(|f| std::fs::read(f).unwrap() == b"root:x:0:0"));
    // 4. reply offline, then push.
    let pushed = reply_and_push(
        &server,
        &bundle,
        &designation,
        "Merci. Un journaliste vous répondra bientôt.",
        &cred,
        &work.path().join("replies"),
    );
    assert!(pushed.contains("pushed 1"), "{pushed}");

    // 5. The source reads the reply with the code, then deletes it.
    let later = server.browser();
    let inbox = later.login(&code);
    assert!(
        inbox.body.contains("Un journaliste vous répondra bientôt."),
        "{}",
        inbox.body
    );
    let reply_id = between(&inbox.body, "name=\"reply\" value=\"", "\"").unwrap();
    let gone = later.post_form(
        "/reply/delete",
        &[("csrf", &inbox.csrf()), ("reply", &reply_id)],
    );
    assert_eq!(gone.status, 200);
    assert!(later.login(&code).body.contains("no answer yet"));

    // 6. fetch --ack deletes what was fetched from the server, and the bundle keeps it.
    let b2 = server.browser();
    let page2 = b2.new_code();
    assert_eq!(b2.submit(&page2, &[], "second source").status, 200);
    let acked = fetch(&server, &cred, &bundle, true);
    assert!(
        acked.contains("fetched 1 new submission") && acked.contains("1 deleted on the server"),
        "{acked}"
    );
    assert_eq!(
        server.submissions().len(),
        1,
        "only the first, un-acked submission stays"
    );
    assert_eq!(
        std::fs::read_dir(bundle.join("sources")).unwrap().count(),
        2
    );
}

#[test]
fn wrong_or_revoked_credentials_get_nothing_and_failures_are_limited() {
    let server = Server::start("[reviewer]\nauth_failures_per_minute = 5\n");
    server.source_with_message("secret words");
    let work = tempfile::tempdir().unwrap();
    let cred = work.path().join("c");
    let good = server.add_reviewer("ws", &cred);
    let index = format!("{}/api/v1/index", server.reviewer_base);

    let (status, body) = api_get(&index, Some(&good));
    assert_eq!(status, 200);
    assert!(body.contains("\"designation\""));
    // The stored hash is not the token.
    let stored = std::fs::read_to_string(server.data().join("reviewers/ws")).unwrap();
    assert!(!stored.contains(good.rsplit(':').next().unwrap()));

    for bad in [
        None,
        Some("Bearer ws:00"),
        Some("Bearer nobody:00"),
        Some("Basic x"),
    ] {
        let (status, body) = api_get(&index, bad);
        assert_eq!(status, 401, "{bad:?}");
        assert!(
            !body.contains("designation") && !body.contains("age1"),
            "{body}"
        );
    }
    // The sources' port does not serve the API.
    assert_eq!(
        api_get(&format!("{}/api/v1/index", server.base), Some(&good)).0,
        404
    );

    // Five failures in a minute with this token: that token now waits, but the good one,
    // which never failed, does not (bad_tokens_with_a_reviewers_name_do_not_lock_it_out).
    for _ in 0..5 {
        api_get(&index, Some("Bearer ws:11"));
    }
    assert_eq!(api_get(&index, Some("Bearer ws:11")).0, 429);
    assert_eq!(api_get(&index, Some(&good)).0, 200);

    // A fresh server: revocation is immediate.
    let server = Server::start("");
    let cred = work.path().join("c2");
    let good = server.add_reviewer("ws", &cred);
    let index = format!("{}/api/v1/index", server.reviewer_base);
    assert_eq!(api_get(&index, Some(&good)).0, 200);
    lanterne(&["reviewers", "remove", "ws", "--data-dir", p(&server.data())]);
    assert_eq!(api_get(&index, Some(&good)).0, 401);
    let out = std::process::Command::new(BIN)
        .args(fetch_args(
            &server.reviewer_base,
            &cred,
            &work.path().join("b"),
            false,
        ))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused the credential"));
}

#[test]
fn pushed_replies_are_checked_and_stored_once() {
    let server = Server::start("");
    server.source_with_message("hello");
    let work = tempfile::tempdir().unwrap();
    let cred = work.path().join("c");
    let auth = server.add_reviewer("ws", &cred);
    let source = &server.sources()[0];
    let (recipient, designation, url) = reply_target(&server, &auth);
    let reply = work.path().join("r.age");
    age_cli_encrypt(&[&recipient, &server.recipient], b"a reply", &reply);
    let bytes = std::fs::read(&reply).unwrap();
    // Signed by the reviewer, whose card is in the server's keys dir (tests/signed_replies.rs
    // has the refusals of unsigned and wrongly signed replies).
    let mut key = server.identity.clone().into_os_string();
    key.push(".minisign");
    let signature = hex(&minisign_cli_sign(
        std::path::Path::new(&key),
        &reply,
        &designation,
        &recipient,
    ));
    let post = |body: Vec<u8>| post_reply(&url, &auth, Some(&signature), body);
    let (s1, id1) = post(bytes.clone());
    let (s2, id2) = post(bytes.clone());
    // A reply is stored once: a second push is refused and stores nothing
    // (tests/reply_replay.rs plays it through the workstation).
    assert_eq!((s1, s2), (200, 409), "{id1} {id2}");
    assert!(id2.contains("already stored"), "{id2}");
    assert_eq!(
        list(&source.join("replies")).len(),
        2,
        "one reply and its signature"
    );
    assert_eq!(post(b"not age at all".to_vec()).0, 422);
    assert_eq!(post(bytes[..40].to_vec()).0, 422);
    assert_eq!(post(vec![0u8; 3 * 1024 * 1024]).0, 413);
    let other = format!(
        "{}/api/v1/sources/no-such-source-1234/replies",
        server.reviewer_base
    );
    let st = post_reply(&other, &auth, None, bytes.clone()).0;
    assert_eq!(st, 404);
    assert_eq!(
        list(&source.join("replies")).len(),
        2,
        "one reply and its signature"
    );
}

/// The server and the offline side share one reply limit (`lanterne_core::limits`): a push
/// that the source's page could never show is refused, and the largest reply `review reply`
/// writes is not refused for its size.
#[test]
fn replies_too_large_to_show_are_refused_at_push() {
    let server = Server::start("");
    server.source_with_message("hello");
    let work = tempfile::tempdir().unwrap();
    let auth = server.add_reviewer("ws", &work.path().join("c"));
    let source = &server.sources()[0];
    let (recipient, _, url) = reply_target(&server, &auth);
    let push = |plaintext_len: usize| {
        let file = work.path().join(format!("r{plaintext_len}.age"));
        age_cli_encrypt(
            &[&recipient, &server.recipient],
            &vec![b'a'; plaintext_len],
            &file,
        );
        post_reply(&url, &auth, None, std::fs::read(&file).unwrap()).0
    };
    // 1.5 MiB of text: more than the source's page decrypts, so never readable by the source.
    assert_eq!(push(3 << 19), 413, "an unshowable reply must be refused");
    assert_eq!(
        std::fs::read_dir(source.join("replies"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
    // The largest reply `review reply` accepts passes the size check.
    assert_ne!(push(1 << 20), 413);
}

/// Anyone who can reach the reviewer API and knows a workstation's name sends 25 bad tokens
/// with it, each more than once, in a minute (the limit is 20): the real workstation still
/// fetches, while the flooding tokens get 429.
#[test]
fn bad_tokens_with_a_reviewers_name_do_not_lock_it_out() {
    let server = Server::start("");
    server.source_with_message("still reachable");
    let work = tempfile::tempdir().unwrap();
    let cred = work.path().join("ws.cred");
    server.add_reviewer("ws", &cred);
    let index = format!("{}/api/v1/index", server.reviewer_base);
    for i in 0..25 {
        for _ in 0..2 {
            api_get(&index, Some(&format!("Bearer ws:{i:064x}")));
        }
    }
    for _ in 0..20 {
        api_get(&index, Some("Bearer ws:00"));
    }
    assert_eq!(
        api_get(&index, Some("Bearer ws:00")).0,
        429,
        "one bad token is still limited"
    );
    let bundle = work.path().join("bundle");
    let out = std::process::Command::new(BIN)
        .args(fetch_args(&server.reviewer_base, &cred, &bundle, false))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the real workstation was locked out: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("fetched 1 new submission(s)"));
}

#[test]
fn fetch_counts_the_sources_files_not_the_manifests() {
    let server = Server::start("");
    let work = tempfile::tempdir().unwrap();
    // One submission with a message only, one with two files.
    server.source_with_message("a message, no file");
    let b = server.browser();
    let page = b.new_code();
    let files = ["a.txt", "b.txt"].map(|name| Upload {
        name,
        mime: "text/plain",
        bytes: name.as_bytes().to_vec(),
    });
    assert_eq!(b.submit(&page, &files, "").status, 200);
    let cred = work.path().join("ws.cred");
    server.add_reviewer("ws", &cred);
    let out = fetch(&server, &cred, &work.path().join("bundle"), false);
    assert!(
        out.contains("fetched 2 new submission(s), 2 file(s)"),
        "{out}"
    );
}
