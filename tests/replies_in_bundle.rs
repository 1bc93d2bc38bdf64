//! Issue 14, "replies in the bundle": `fetch` also brings the team's replies (the box's index
//! lists them after the cursor, the reviewer API serves each with its signature), and the
//! offline inbox shows them in the conversation. Everything runs through the real binaries
//! over loopback HTTP; the stock `age`, `minisign` and `sha256sum` check what `fetch` wrote.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// The one source of a bundle.
fn only_designation(bundle: &Path) -> String {
    let sources = list(&bundle.join("sources"));
    assert_eq!(sources.len(), 1, "{sources:?}");
    sources[0].file_name().unwrap().to_str().unwrap().to_owned()
}

/// The reply files (`.age` and `.age.minisig`) of `designation` in `bundle`.
fn reply_files(bundle: &Path, designation: &str) -> Vec<PathBuf> {
    list(&bundle.join("sources").join(designation).join("replies"))
}

/// The minisign public key on the reviewer's card (`# minisign: RW…`).
fn card_minisign_key(server: &Server) -> String {
    let card = std::fs::read_to_string(server.dir.path().join("reviewer.card")).unwrap();
    card.lines()
        .find_map(|l| l.strip_prefix("# minisign: "))
        .unwrap_or_else(|| panic!("no minisign key on the card:\n{card}"))
        .trim()
        .to_owned()
}

#[test]
fn fetch_brings_a_pushed_reply_once_and_the_stock_tools_read_and_verify_it() {
    let server = Server::start("");
    server.source_with_message("hello");
    let cred = server.dir.path().join("ws.json");
    server.add_reviewer("ws", &cred);
    let bundle = server.dir.path().join("bundle");
    fetch(&server, &cred, &bundle, false);
    let designation = only_designation(&bundle);
    assert!(reply_files(&bundle, &designation).is_empty());

    let text = "REPLY-IN-BUNDLE-8f1c: merci, nous lisons.";
    let outgoing = server.dir.path().join("outgoing");
    reply_and_push(&server, &bundle, &designation, text, &cred, &outgoing);

    // The cursor is past the submission: the source is listed for its new reply alone.
    let fetched = fetch(&server, &cred, &bundle, false);
    assert!(fetched.contains("1 reply(ies) of the team"), "{fetched}");
    let files = reply_files(&bundle, &designation);
    assert_eq!(files.len(), 2, "{files:?}");
    let (reply, sig) = (&files[0], &files[1]);
    assert!(reply.to_str().unwrap().ends_with(".age"), "{reply:?}");
    assert_eq!(
        sig.to_str().unwrap(),
        format!("{}.minisig", reply.to_str().unwrap())
    );
    // Both listed in SHA256SUMS, which the stock sha256sum checks.
    let sums = std::fs::read_to_string(bundle.join("SHA256SUMS")).unwrap();
    for f in &files {
        let rel = f.strip_prefix(&bundle).unwrap().to_str().unwrap();
        assert!(
            sums.contains(&format!("  {rel}\n")),
            "{rel} not in:\n{sums}"
        );
    }
    let check = Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(&bundle)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    // The stock age CLI decrypts it with the reviewer's identity.
    assert_eq!(
        lanterne::padding::unpad_text(&server.age_decrypt(reply)),
        text.as_bytes()
    );
    // The stock minisign CLI verifies it with the key on the reviewer's card, for this source.
    let verified = Command::new("minisign")
        .args(["-V", "-P", &card_minisign_key(&server), "-m"])
        .arg(reply)
        .output()
        .expect("the `minisign` CLI must be installed");
    let said = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{verified:?}");
    assert!(
        said.contains(&format!(
            "lanterne-reply v2 designation={designation} recipient=age1"
        )) && said.contains(" after=s0000000001-"),
        "{said}"
    );

    // A second fetch adds nothing, and no byte of the bundle's replies changes.
    let before: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let again = fetch(&server, &cred, &bundle, false);
    assert!(!again.contains("reply"), "{again}");
    assert!(again.contains("fetched 0 new submission(s)"), "{again}");
    let after: Vec<Vec<u8>> = reply_files(&bundle, &designation)
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    assert_eq!(after, before);
    // A fresh bundle, from the start, gets it too.
    let fresh = server.dir.path().join("fresh");
    let from_start = fetch(&server, &cred, &fresh, false);
    assert!(from_start.contains("1 reply(ies)"), "{from_start}");
}

#[test]
fn message_reply_follow_up_show_in_order_and_no_text_is_at_rest_in_the_inbox() {
    let server = Server::start("");
    let first = "FIRST-MESSAGE-2b7e";
    let answer = "TEAM-ANSWER-a61d";
    let follow_up = "FOLLOW-UP-5f03";
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
    // Acked: the first message is deleted from the box once fetched.
    fetch(&server, &cred, &bundle, true);
    import();
    let designation = only_designation(&bundle);

    let outgoing = server.dir.path().join("outgoing");
    reply_and_push(&server, &bundle, &designation, answer, &cred, &outgoing);
    let back = server.browser();
    let inbox_page = back.login(&code);
    assert!(
        inbox_page.body.contains(answer),
        "the source cannot read the reply"
    );
    let sent = back.submit(&inbox_page, &[], follow_up);
    assert_eq!(sent.status, 200, "{}", sent.body);

    let fetched = fetch(&server, &cred, &bundle, true);
    assert!(fetched.contains("1 reply(ies)"), "{fetched}");
    // The ack deleted the follow-up from the box, never the reply.
    let on_server: Vec<PathBuf> = server
        .sources()
        .iter()
        .flat_map(|s| list(&s.join("replies")))
        .collect();
    assert_eq!(
        on_server.len(),
        2,
        "reply and signature kept: {on_server:?}"
    );
    assert!(
        server.submissions().is_empty(),
        "{:?}",
        server.submissions()
    );

    let imported = import();
    assert!(
        imported.contains("1 reply(ies) of the team added, 0 already there"),
        "{imported}"
    );
    let again = import();
    assert!(again.contains("0 submission(s) added"), "{again}");
    assert!(
        again.contains("0 reply(ies) of the team added, 1 already there"),
        "{again}"
    );

    let shown = lanterne_offline(
        &server,
        &["review", "show", &designation, "--identity", p(&key)],
    );
    let a = shown.find(first).expect(&shown);
    // The reply is shown under the number the box gave it (`r<seq>-…` on the server), as the
    // submissions are (`#1 submission s0000000001-…`).
    let seq = on_server
        .iter()
        .filter_map(|p| p.file_name()?.to_str()?.strip_suffix(".age"))
        .find_map(lanterne_core::bundle::sequence_of)
        .expect("the reply's number");
    let by = shown
        .find(&format!("\nreply #{seq} by reviewer\n"))
        .expect(&shown);
    let b = shown.find(answer).expect(&shown);
    let c = shown.find(follow_up).expect(&shown);
    assert!(a < by && by < b && b < c, "out of order:\n{shown}");
    assert!(!shown.contains("WARNING"), "{shown}");
    for secret in [first, answer, follow_up] {
        assert_eq!(
            any_file_contains(&server.review_home(), secret.as_bytes()),
            None,
            "{secret} in plaintext under the inbox home"
        );
    }

    // The transcript has the reply in its place too.
    let out = server.dir.path().join("export");
    lanterne_offline(
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
    let transcript = std::fs::read_to_string(out.join("transcript.txt")).unwrap();
    let (a, b, c) = (
        transcript.find(first).unwrap(),
        transcript.find(answer).unwrap(),
        transcript.find(follow_up).unwrap(),
    );
    assert!(a < b && b < c, "{transcript}");
}
