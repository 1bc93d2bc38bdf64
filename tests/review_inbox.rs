//! Issue 14, first step: the offline inbox on bundles made by the real server and `fetch`
//! over loopback HTTP, through `lanterne review import|list|show|export` (the same code as the
//! `lanterne-review` binary, whose own tests, on hand-built and hostile bundles, are in
//! crates/lanterne-offline/tests/inbox.rs).

use crate::common::*;

#[test]
fn a_message_and_a_follow_up_fetched_twice_show_in_order_with_no_plaintext_in_the_inbox() {
    let server = Server::start("");
    let first = "FIRST-MESSAGE-c4f1";
    let follow_up = "FOLLOW-UP-MESSAGE-9e2d";
    let file_body = canary("inbox-file");
    let page = server.source_with_message(first);
    let code = page.code();
    let cred = server.dir.path().join("ws.json");
    server.add_reviewer("ws", &cred);
    let bundle = server.dir.path().join("bundle");
    let key = server.identity.clone();
    let import = || {
        lanterne_offline(
            &server,
            &["review", "import", p(&bundle), "--identity", p(&key)],
        )
    };

    fetch(&server, &cred, &bundle, false);
    let imported = import();
    assert!(imported.contains("1 submission(s) added"), "{imported}");

    // The source comes back with a follow-up and a file; the same bundle grows.
    let back = server.browser();
    let inbox_page = back.login(&code);
    assert_eq!(inbox_page.status, 200);
    let doc = Upload {
        name: "notes.txt",
        mime: "text/plain",
        bytes: file_body.clone(),
    };
    let sent = back.submit(&inbox_page, &[doc], follow_up);
    assert_eq!(sent.status, 200, "{}", sent.body);
    fetch(&server, &cred, &bundle, false);
    let imported = import();
    assert!(
        imported.contains("1 submission(s) added to the inbox, 1 already there"),
        "{imported}"
    );
    let again = import();
    assert!(again.contains("0 submission(s) added"), "{again}");

    let listed = lanterne_offline(&server, &["review", "list", "--identity", p(&key)]);
    assert!(
        listed.contains("2 submission(s), 2 unseen, 1 file(s)"),
        "{listed}"
    );
    let designation = listed.split_whitespace().next().unwrap().to_owned();
    let shown = lanterne_offline(
        &server,
        &["review", "show", &designation, "--identity", p(&key)],
    );
    let a = shown.find(first).expect(&shown);
    let b = shown.find(follow_up).expect(&shown);
    assert!(a < b, "out of order:\n{shown}");
    assert!(shown.contains("\"notes.txt\", \"text/plain\""), "{shown}");
    for secret in [
        first.as_bytes(),
        follow_up.as_bytes(),
        &file_body,
        b"notes.txt",
    ] {
        assert_eq!(
            any_file_contains(&server.review_home(), secret),
            None,
            "plaintext under the inbox home"
        );
    }

    let out = server.dir.path().join("export");
    let exported = lanterne_offline(
        &server,
        &[
            "review",
            "export",
            &designation,
            "--identity",
            p(&key),
            "--out",
            p(&out),
        ],
    );
    assert!(exported.contains("1 file(s) exported"), "{exported}");
    assert_eq!(std::fs::read(out.join("notes.txt")).unwrap(), file_body);
    let transcript = std::fs::read_to_string(out.join("transcript.txt")).unwrap();
    assert!(transcript.contains(follow_up) && transcript.contains("exported as: notes.txt"));
}
