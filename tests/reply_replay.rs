//! A signed reply is delivered once: after its source deleted it, a second push of the same
//! files (through any credential) is refused with 409 and the source never sees it again; a
//! second push while it is stored is refused too and refreshes nothing (no retention
//! extension); and a reply signed for another key of the source (a ground designation) is
//! refused with 422. Everything runs through the real binaries over loopback HTTP.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// A box with one source that submitted once, its code, two credentials and a fresh bundle.
struct Setup {
    server: Server,
    code: String,
    ws1: PathBuf,
    ws2: PathBuf,
    bundle: PathBuf,
    designation: String,
}

fn setup() -> Setup {
    let server = Server::start("");
    let code = server
        .source_with_message("should I send the files?")
        .code();
    let ws1 = server.dir.path().join("ws1.json");
    let ws2 = server.dir.path().join("ws2.json");
    server.add_reviewer("ws1", &ws1);
    server.add_reviewer("ws2", &ws2);
    let bundle = server.dir.path().join("bundle");
    fetch(&server, &ws1, &bundle, false);
    let sources = list(&bundle.join("sources"));
    assert_eq!(sources.len(), 1, "{sources:?}");
    let designation = sources[0].file_name().unwrap().to_str().unwrap().to_owned();
    Setup {
        server,
        code,
        ws1,
        ws2,
        bundle,
        designation,
    }
}

/// `lanterne push` of `dir` with `credential`: (success, stdout + stderr).
fn push(setup: &Setup, credential: &Path, dir: &Path) -> (bool, String) {
    let out = Command::new(BIN)
        .args([
            "push",
            "--server",
            &setup.server.reviewer_base,
            "--credential",
        ])
        .arg(credential)
        .arg(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Every file under the source's `replies/`, with its bytes.
fn stored(server: &Server) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = server
        .sources()
        .iter()
        .flat_map(|s| list(&s.join("replies")))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

/// The genuine reply `push` sent (the `.age` and `.age.minisig` in `sent/`), copied under a new
/// name into a fresh replies folder, as a replayer would.
fn copy_sent(setup: &Setup, outgoing: &Path, name: &str) -> PathBuf {
    let sent = outgoing.join(&setup.designation).join("sent");
    let reply = list(&sent)
        .into_iter()
        .find(|p| p.extension().is_some_and(|x| x == "age"))
        .expect("a sent reply");
    let replay = setup.server.dir.path().join(name);
    let dir = replay.join(&setup.designation);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&reply, dir.join("x.age")).unwrap();
    std::fs::copy(
        format!("{}.minisig", reply.display()),
        dir.join("x.age.minisig"),
    )
    .unwrap();
    replay
}

#[test]
fn a_reply_its_source_deleted_cannot_be_pushed_again_through_another_credential() {
    let setup = setup();
    let outgoing = setup.server.dir.path().join("outgoing");
    let text = "REPLAYED-ANSWER-3c9e: yes, please send the files.";
    reply_and_push(
        &setup.server,
        &setup.bundle,
        &setup.designation,
        text,
        &setup.ws1,
        &outgoing,
    );
    let b = setup.server.browser();
    let inbox = b.login(&setup.code);
    assert!(inbox.body.contains(text), "{}", inbox.body);
    let id = between(&inbox.body, "name=\"reply\" value=\"", "\"").unwrap();
    let gone = b.post_form("/reply/delete", &[("csrf", &inbox.csrf()), ("reply", &id)]);
    assert_eq!(gone.status, 200);
    assert!(stored(&setup.server).is_empty());
    // The source writes again, so a replay would look like an answer to the new message.
    let sent = b.submit(&b.login(&setup.code), &[], "here is a second message");
    assert_eq!(sent.status, 200, "{}", sent.body);

    // A stolen credential pushes the genuine files again, from the bundle or a sent folder.
    let replay = copy_sent(&setup, &outgoing, "replay");
    let (ok, printed) = push(&setup, &setup.ws2, &replay);
    assert!(!ok, "the replay was accepted: {printed}");
    assert!(printed.contains("409"), "{printed}");
    assert!(printed.contains("already stored"), "{printed}");
    assert!(stored(&setup.server).is_empty(), "stored again");
    let page = setup.server.browser().login(&setup.code);
    assert!(!page.body.contains("REPLAYED-ANSWER"), "{}", page.body);
}

/// A crash between storing a reply and recording its id (the server writes the reply first, so
/// that a crash never loses an honest one) leaves a stored reply whose id is not recorded. The
/// source then reads and deletes it: the deletion records the id from the stored signature, so
/// a replay is still refused.
#[test]
fn a_reply_whose_id_a_crash_left_unrecorded_still_cannot_be_replayed_after_its_deletion() {
    let setup = setup();
    let outgoing = setup.server.dir.path().join("outgoing");
    let text = "CRASH-WINDOW-5d21: yes.";
    reply_and_push(
        &setup.server,
        &setup.bundle,
        &setup.designation,
        text,
        &setup.ws1,
        &outgoing,
    );
    // What a crash right after the reply's files were renamed in place leaves.
    let ids = setup.server.sources()[0].join("reply-ids");
    assert!(ids.exists(), "no reply-ids record");
    std::fs::remove_file(&ids).unwrap();
    let b = setup.server.browser();
    let inbox = b.login(&setup.code);
    assert!(inbox.body.contains(text), "{}", inbox.body);
    let id = between(&inbox.body, "name=\"reply\" value=\"", "\"").unwrap();
    let gone = b.post_form("/reply/delete", &[("csrf", &inbox.csrf()), ("reply", &id)]);
    assert_eq!(gone.status, 200);
    assert!(stored(&setup.server).is_empty());

    let replay = copy_sent(&setup, &outgoing, "replay");
    let (ok, printed) = push(&setup, &setup.ws2, &replay);
    assert!(
        !ok,
        "the replay was accepted after a crash and a deletion: {printed}"
    );
    assert!(printed.contains("409"), "{printed}");
    assert!(stored(&setup.server).is_empty(), "stored again");
}

#[test]
fn the_same_reply_pushed_twice_is_refused_and_refreshes_nothing() {
    let setup = setup();
    let outgoing = setup.server.dir.path().join("outgoing");
    reply_and_push(
        &setup.server,
        &setup.bundle,
        &setup.designation,
        "ONCE-ONLY-71aa",
        &setup.ws1,
        &outgoing,
    );
    let before = stored(&setup.server);
    assert_eq!(before.len(), 2, "{before:?}");
    // The source has been idle for a year: its folder is due for retention.
    let active = setup.server.sources()[0].join("active");
    std::fs::write(&active, "2026-01-01\n").unwrap();
    let times = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let replies_dir = setup.server.sources()[0].join("replies");
    let dir_time = times(&replies_dir);

    let again = copy_sent(&setup, &outgoing, "again");
    let (ok, printed) = push(&setup, &setup.ws2, &again);
    assert!(!ok, "a second push was accepted: {printed}");
    assert!(printed.contains("409"), "{printed}");
    assert_eq!(stored(&setup.server), before, "the replies changed");
    assert_eq!(
        std::fs::read_to_string(&active).unwrap(),
        "2026-01-01\n",
        "a duplicate push refreshed the source's retention"
    );
    assert_eq!(times(&replies_dir), dir_time);
}

/// M2: a reply encrypted and signed (by a genuine reviewer) for another recipient R′ of the
/// same designation, as an offline machine fooled by a ground key would write it: the server
/// knows the source's real recipient and refuses it with 422, storing nothing.
#[test]
fn a_reply_signed_for_another_key_of_the_source_is_refused() {
    let setup = setup();
    let ground = age::x25519::Identity::generate().to_public().to_string();
    let dir = setup.server.dir.path().join("ground");
    let sub = dir.join(&setup.designation);
    std::fs::create_dir_all(&sub).unwrap();
    let file = sub.join("g.age");
    age_cli_encrypt(
        &[&ground, &setup.server.recipient],
        b"INTERCEPTED-9d1f",
        &file,
    );
    let submission = list(
        &setup
            .bundle
            .join("sources")
            .join(&setup.designation)
            .join("submissions"),
    )
    .into_iter()
    .next()
    .unwrap();
    let comment = format!(
        "lanterne-reply v2 designation={} recipient={ground} id={} after={}",
        setup.designation,
        "ab".repeat(16),
        submission.file_name().unwrap().to_str().unwrap()
    );
    minisign_cli_sign_comment(
        &PathBuf::from(format!("{}.minisign", setup.server.identity.display())),
        &file,
        &comment,
    );
    let (ok, printed) = push(&setup, &setup.ws1, &dir);
    assert!(!ok, "{printed}");
    assert!(printed.contains("422"), "{printed}");
    assert!(printed.contains("another key of this source"), "{printed}");
    assert!(stored(&setup.server).is_empty());
}

/// M1: a reply signed by a genuine reviewer in the first format (`lanterne-reply v1`, the
/// designation alone: no id, so it could be pushed again at will) is refused with 422 through
/// the real server, naming the format, and nothing is stored.
#[test]
fn a_reply_signed_in_the_first_format_is_refused() {
    let setup = setup();
    let dir = setup.server.dir.path().join("old");
    let sub = dir.join(&setup.designation);
    std::fs::create_dir_all(&sub).unwrap();
    let file = sub.join("o.age");
    let source = std::fs::read_to_string(
        setup
            .bundle
            .join("sources")
            .join(&setup.designation)
            .join("recipient"),
    )
    .unwrap();
    age_cli_encrypt(
        &[source.trim(), &setup.server.recipient],
        b"OLD-FORMAT-4e0a",
        &file,
    );
    minisign_cli_sign_comment(
        &PathBuf::from(format!("{}.minisign", setup.server.identity.display())),
        &file,
        &format!("lanterne-reply v1 designation={}", setup.designation),
    );
    let (ok, printed) = push(&setup, &setup.ws1, &dir);
    assert!(!ok, "a first-format reply was accepted: {printed}");
    assert!(printed.contains("422"), "{printed}");
    assert!(printed.contains("first reply format"), "{printed}");
    assert!(stored(&setup.server).is_empty());
    let page = setup.server.browser().login(&setup.code);
    assert!(!page.body.contains("OLD-FORMAT-4e0a"), "{}", page.body);
}
