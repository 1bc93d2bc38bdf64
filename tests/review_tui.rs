//! Issue 14: `lanterne review inbox`, the terminal UI, driven in a real `tmux` (80×24) on a
//! bundle the real server made and `fetch` brought over loopback HTTP. The reviewer goes to the
//! source, reads the thread, writes a reply inline and sends it to the outgoing folder; `lanterne
//! push` uploads it, and the source reads it after logging in with its code; the next fetch
//! brings the reply back and the thread shows it as the team's. The UI's screens
//! themselves are snapshot-tested in crates/lanterne-offline/tests/inbox_tui.rs.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::tmux::Tmux;
use crate::common::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Esc alone: a key sent right after it would be read as Alt+key.
fn escape(t: &Tmux) {
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(400));
}

#[test]
fn a_reviewer_reads_and_replies_in_the_terminal_ui_and_the_source_reads_the_reply() {
    let server = Server::start("");
    let message = "TUI-MESSAGE: les comptes du maire sont dans le dossier";
    let page = server.source_with_message(message);
    let code = page.code();
    let cred = server.dir.path().join("ws.json");
    server.add_reviewer("ws", &cred);
    let bundle = server.dir.path().join("bundle");
    fetch(&server, &cred, &bundle, false);
    let key = server.identity.clone();
    lanterne_offline(
        &server,
        &["review", "import", s(&bundle), "--identity", s(&key)],
    );
    let listed = lanterne_offline(&server, &["review", "list", "--identity", s(&key)]);
    let designation = listed.split_whitespace().next().unwrap().to_owned();

    // The collective works in French: the UI follows the locale.
    let outgoing = server.dir.path().join("outgoing");
    let home = server.review_home();
    let ui = Tmux::start(
        server.dir.path(),
        BIN,
        &[
            "review",
            "inbox",
            "--identity",
            s(&key),
            "--out",
            s(&outgoing),
        ],
        &[(REVIEW_HOME_ENV, s(&home)), ("LANG", "fr_FR.UTF-8")],
    );
    let sources = ui.wait_for("boîte lanterne : sources", 30);
    assert!(sources.contains(&designation), "{sources}");
    assert!(sources.contains("1 non lu(s)"), "{sources}");

    // Open the source: its message, and the thread is now seen.
    ui.keys(&["Enter"]);
    let thread = ui.wait_for(&format!("Conversation avec {designation}"), 30);
    assert!(
        thread.contains("| TUI-MESSAGE: les comptes du maire"),
        "{thread}"
    );

    // Write a reply inline (two lines) and send it.
    let reply_first = "Merci. Pouvez-vous envoyer la page 4 ?";
    let reply_second = "Nous ne publierons rien sans vous.";
    ui.keys(&["r"]);
    ui.type_text(reply_first);
    ui.keys(&["Enter"]);
    ui.type_text(reply_second);
    ui.keys(&["C-d"]);
    let sent = ui.wait_for("réponse chiffrée et signée", 30);
    assert!(sent.contains("lanterne push"), "{sent}");
    // Not sent yet, but in the thread.
    escape(&ui);
    ui.wait_for("boîte lanterne : sources", 10);
    ui.keys(&["q"]);
    ui.wait_exit(10);
    drop(ui);

    let list = lanterne_offline(&server, &["review", "list", "--identity", s(&key)]);
    assert!(
        list.contains("0 unseen"),
        "opening the thread marks it seen:\n{list}"
    );

    // The outgoing folder holds the reply and its signature, which `push` sends.
    let written: Vec<_> = walk(&outgoing);
    assert_eq!(
        written
            .iter()
            .filter(|p| s(p).ends_with(".age.minisig"))
            .count(),
        1,
        "{written:?}"
    );
    let pushed = Command::new(BIN)
        .args(["push", "--server", &server.reviewer_base, "--credential"])
        .arg(&cred)
        .arg(&outgoing)
        .output()
        .unwrap();
    assert!(pushed.status.success(), "{pushed:?}");

    // The source logs in with its code and reads the reply, both lines.
    let page = server.browser().login(&code);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(reply_first), "{}", page.body);
    assert!(page.body.contains(reply_second), "{}", page.body);

    // The next fetch brings the pushed reply back; once imported, the thread shows it as the
    // team's, signed by a pinned card, among the source's messages.
    fetch(&server, &cred, &bundle, false);
    lanterne_offline(
        &server,
        &["review", "import", s(&bundle), "--identity", s(&key)],
    );
    let ui = Tmux::start(
        server.dir.path(),
        BIN,
        &["review", "inbox", "--identity", s(&key)],
        &[(REVIEW_HOME_ENV, s(&home)), ("LANG", "fr_FR.UTF-8")],
    );
    ui.wait_for("boîte lanterne : sources", 30);
    ui.keys(&["Enter"]);
    let thread = ui.wait_for("réponse n°2 de", 30);
    assert!(thread.contains(reply_first), "{thread}");
    assert!(!thread.contains("pas encore envoyée"), "{thread}");
    let (m, r) = (
        thread.find("TUI-MESSAGE").unwrap(),
        thread.find("réponse n°2 de").unwrap(),
    );
    assert!(m < r, "the reply comes after the message:\n{thread}");
    ui.keys(&["q"]);
    escape(&ui);
    ui.keys(&["q"]);
    ui.wait_exit(10);

    // Nothing the reviewer read or wrote is in plaintext under the review home.
    for secret in [message, reply_first, reply_second] {
        assert_eq!(
            any_file_contains(&home, secret.as_bytes()),
            None,
            "{secret}"
        );
    }
}
