//! Issue 12, server half: a pushed reply is stored only with a valid signature, for its source,
//! by a reviewer whose card is in the server's keys dir. Every attack runs through the real
//! `lanterne` binary (offline `review reply`, workstation `push`, the server) over loopback HTTP,
//! and the source's own page is read to see what it would be shown.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// A box with one source that submitted once, its code, a credential and a fresh bundle.
struct Setup {
    server: Server,
    code: String,
    credential: PathBuf,
    bundle: PathBuf,
    designation: String,
}

fn setup() -> Setup {
    let server = Server::start("");
    let page = server.source_with_message("hello");
    let code = page.code();
    let credential = server.dir.path().join("ws.json");
    server.add_reviewer("ws", &credential);
    let bundle = server.dir.path().join("bundle");
    fetch(&server, &credential, &bundle, false);
    let designation = only_designation(&bundle);
    Setup {
        server,
        code,
        credential,
        bundle,
        designation,
    }
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

/// The one source of a bundle.
fn only_designation(bundle: &Path) -> String {
    let sources = list(&bundle.join("sources"));
    assert_eq!(sources.len(), 1, "{sources:?}");
    sources[0].file_name().unwrap().to_str().unwrap().to_owned()
}

/// Writes a signed reply offline (`review reply --identity`); returns the `.age` path.
fn write_reply(setup: &Setup, designation: &str, text: &str, out: &Path) -> PathBuf {
    let message = setup.server.dir.path().join(format!("{designation}.msg"));
    std::fs::write(&message, text).unwrap();
    let printed = lanterne_offline(
        &setup.server,
        &[
            "review",
            "reply",
            &s(&setup.bundle),
            "--source",
            designation,
            "--message",
            &s(&message),
            "--identity",
            &s(&setup.server.identity),
            "--out",
            &s(out),
        ],
    );
    let path = printed
        .lines()
        .find_map(|l| l.strip_prefix("reply encrypted to "))
        .unwrap_or_else(|| panic!("{printed}"));
    PathBuf::from(path.trim())
}

/// `lanterne push` of `dir`, returning (success, stdout + stderr).
fn push(setup: &Setup, dir: &Path) -> (bool, String) {
    let out = Command::new(BIN)
        .args([
            "push",
            "--server",
            &setup.server.reviewer_base,
            "--credential",
            &s(&setup.credential),
            &s(dir),
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// What the source sees after logging in with its code (its replies are on that page).
fn source_page(setup: &Setup) -> String {
    let page = setup.server.browser().login(&setup.code);
    assert_eq!(page.status, 200, "{}", page.body);
    page.body
}

/// Every stored reply file (`.age` and `.minisig`) on the server.
fn stored_replies(server: &Server) -> Vec<PathBuf> {
    server
        .sources()
        .iter()
        .flat_map(|s| list(&s.join("replies")))
        .collect()
}

/// The age recipients of the source and of the team, as the bundle gives them.
fn recipients(setup: &Setup, designation: &str) -> Vec<String> {
    let source = std::fs::read_to_string(
        setup
            .bundle
            .join("sources")
            .join(designation)
            .join("recipient"),
    )
    .unwrap();
    vec![source.trim().to_owned(), setup.server.recipient.clone()]
}

#[test]
fn the_honest_loop_keys_team_reply_push_and_the_source_reads_it() {
    let setup = setup();
    let out = setup.server.dir.path().join("replies");
    let text = "honest reply from the team";
    let reply = write_reply(&setup, &setup.designation, text, &out);
    let sig = PathBuf::from(format!("{}.minisig", reply.display()));
    assert!(sig.exists());
    // The stock minisign CLI verifies the signature with the key on the reviewer's card.
    let card = std::fs::read_to_string(setup.server.dir.path().join("reviewer.card")).unwrap();
    let key = card
        .lines()
        .find_map(|l| l.strip_prefix("# minisign: "))
        .unwrap()
        .trim()
        .to_owned();
    let verified = Command::new("minisign")
        .arg("-Vm")
        .arg(&reply)
        .arg("-x")
        .arg(&sig)
        .arg("-P")
        .arg(&key)
        .output()
        .expect("the `minisign` CLI must be installed");
    assert!(verified.status.success(), "{verified:?}");
    let shown = String::from_utf8_lossy(&verified.stdout);
    assert!(
        shown.contains(&format!("designation={}", setup.designation)),
        "{shown}"
    );

    let (ok, printed) = push(&setup, &out);
    assert!(ok, "{printed}");
    assert!(source_page(&setup).contains(text));
    // Stored with its signature beside it.
    let stored = stored_replies(&setup.server);
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(stored
        .iter()
        .any(|p| p.to_str().unwrap().ends_with(".age.minisig")));
    let stored_sig = stored.iter().find(|p| p.extension().unwrap() == "minisig");
    assert_eq!(std::fs::read(stored_sig.unwrap()).unwrap(), {
        let sent = out.join(&setup.designation).join("sent");
        std::fs::read(sent.join(sig.file_name().unwrap())).unwrap()
    });
}

/// A stolen workstation credential, without the signing key: the thief re-encrypts a reply
/// (same plaintext, same recipients, new ciphertext) and pushes it with the old signature, or
/// with none. Refused with 422, nothing stored, and the source never sees it.
#[test]
fn a_stolen_credential_cannot_push_a_re_encrypted_reply() {
    let setup = setup();
    let out = setup.server.dir.path().join("replies");
    let honest = write_reply(&setup, &setup.designation, "the team's words", &out);
    let sig = std::fs::read(format!("{}.minisig", honest.display())).unwrap();
    let forged_text = "FORGED: come to the station at noon";
    let evil = setup.server.dir.path().join("evil");
    let dir = evil.join(&setup.designation);
    std::fs::create_dir_all(&dir).unwrap();
    let recipients = recipients(&setup, &setup.designation);
    let refs: Vec<&str> = recipients.iter().map(String::as_str).collect();

    // With the old signature beside the new ciphertext.
    age_cli_encrypt(&refs, forged_text.as_bytes(), &dir.join("f1.age"));
    std::fs::write(dir.join("f1.age.minisig"), &sig).unwrap();
    let (ok, printed) = push(&setup, &evil);
    assert!(!ok, "{printed}");
    assert!(printed.contains("422"), "{printed}");
    assert!(printed.contains("does not match"), "{printed}");

    // With no signature at all, straight to the API (push itself refuses to send it).
    std::fs::remove_file(dir.join("f1.age.minisig")).unwrap();
    let (ok, printed) = push(&setup, &evil);
    assert!(!ok, "{printed}");
    assert!(printed.contains("no signature"), "{printed}");
    let status = raw_push(&setup, &setup.designation, &dir.join("f1.age"), None);
    assert_eq!(status, 422);

    assert!(stored_replies(&setup.server).is_empty());
    assert!(!source_page(&setup).contains("FORGED"));
}

/// A reply signed by a key that is not on any card in the server's keys dir: 422.
#[test]
fn a_reply_signed_by_an_unknown_key_is_refused() {
    let setup = setup();
    let dir = setup.server.dir.path().join("other");
    std::fs::create_dir(&dir).unwrap();
    // Another reviewer, pinned offline by this reviewer but never given to the server.
    let key = dir.join("mallory.key");
    let card = dir.join("mallory.card");
    lanterne(&["keys", "new", "--out", &s(&key), "--public", &s(&card)]);
    let out = setup.server.dir.path().join("replies");
    let reply = write_reply(&setup, &setup.designation, "signed by someone else", &out);
    // Re-sign the same ciphertext with mallory's key (what the stock minisign CLI does).
    std::fs::remove_file(format!("{}.minisig", reply.display())).unwrap();
    minisign_cli_sign(
        &PathBuf::from(format!("{}.minisign", key.display())),
        &reply,
        &setup.designation,
        &recipients(&setup, &setup.designation)[0],
    );
    let (ok, printed) = push(&setup, &out);
    assert!(!ok, "{printed}");
    assert!(printed.contains("422"), "{printed}");
    assert!(printed.contains("no reviewer whose card"), "{printed}");
    assert!(stored_replies(&setup.server).is_empty());
    assert!(!source_page(&setup).contains("signed by someone else"));
}

/// A genuine signature for source A, replayed on a push to source B: 422.
#[test]
fn a_signature_for_one_source_is_refused_for_another() {
    let setup = setup();
    // A second source; fetch again so the bundle has both.
    let page_b = setup.server.source_with_message("second source");
    std::fs::remove_dir_all(&setup.bundle).unwrap();
    fetch(&setup.server, &setup.credential, &setup.bundle, false);
    let all = list(&setup.bundle.join("sources"));
    assert_eq!(all.len(), 2);
    let b = all
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        .find(|d| *d != setup.designation)
        .unwrap();
    // A's genuine reply and signature, pushed to B.
    let out = setup.server.dir.path().join("replies");
    let reply = write_reply(&setup, &setup.designation, "meant for A only", &out);
    let replay = setup.server.dir.path().join("replay");
    std::fs::create_dir_all(replay.join(&b)).unwrap();
    std::fs::copy(&reply, replay.join(&b).join("r.age")).unwrap();
    std::fs::copy(
        format!("{}.minisig", reply.display()),
        replay.join(&b).join("r.age.minisig"),
    )
    .unwrap();
    let (ok, printed) = push(&setup, &replay);
    assert!(!ok, "{printed}");
    assert!(printed.contains("422"), "{printed}");
    assert!(printed.contains("another source"), "{printed}");
    assert!(stored_replies(&setup.server).is_empty());
    let seen = setup.server.browser().login(&page_b.code()).body;
    assert!(seen.contains("no answer yet"), "{seen}");
}

/// POSTs `file` as a reply to `designation` with an optional raw signature header value;
/// returns the HTTP status.
fn raw_push(setup: &Setup, designation: &str, file: &Path, signature: Option<&str>) -> u16 {
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&setup.credential).unwrap()).unwrap();
    let auth = format!(
        "Bearer {}:{}",
        c["name"].as_str().unwrap_or("ws"),
        c["token"].as_str().unwrap()
    );
    let url = format!(
        "{}/api/v1/sources/{designation}/replies",
        setup.server.reviewer_base
    );
    post_reply(&url, &auth, signature, std::fs::read(file).unwrap()).0
}
