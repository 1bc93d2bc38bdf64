//! The offline machine trusts nothing a bundle says about keys (issue 12, security review M1):
//! each test plays one attack of a compromised server on a bundle, end to end through the real
//! `lanterne-review` binary, and checks the stock `age` and `minisign` CLIs read what the
//! honest path writes.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use age::secrecy::ExposeSecret;
use support::files::{age_cli_decrypt, list};
use support::{read_identity, TestBundle, HOME_ENV, SOURCE};

const BIN: &str = env!("CARGO_BIN_EXE_lanterne-review");

/// A well-formed plugin recipient for a plugin named `evil` (bech32, 32 bytes of data).
const EVIL: &str = "age1evil1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnzs23v9ccrydpk8qarc0scfcyv3";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `lanterne-review ARGS` with the bundle's offline state.
fn review(b: &TestBundle, args: &[&str]) -> Output {
    review_with_path(b, args, None)
}

/// The same, with `dir` first on PATH.
fn review_with_path(b: &TestBundle, args: &[&str], dir: Option<&Path>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env(HOME_ENV, b.home());
    if let Some(dir) = dir {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", dir.display()));
    }
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A message file and a replies folder in the bundle's temp dir.
fn message_and_replies(b: &TestBundle) -> (PathBuf, PathBuf) {
    let message = b.dir.path().join("m.txt");
    std::fs::write(&message, "Merci, nous lisons tout.\n").unwrap();
    (message, b.dir.path().join("replies"))
}

/// `review reply` as the bundle's reviewer.
fn reply(b: &TestBundle, message: &Path, replies: &Path) -> Output {
    reply_as(b, &b.key(), message, replies, None)
}

/// `review reply` with the identity `identity` (and `trap` first on PATH, if given).
fn reply_as(
    b: &TestBundle,
    identity: &Path,
    message: &Path,
    replies: &Path,
    trap: Option<&Path>,
) -> Output {
    let root = b.root();
    let args = [
        "reply",
        s(&root),
        "--source",
        SOURCE,
        "--message",
        s(message),
        "--identity",
        s(identity),
        "--out",
        s(replies),
    ];
    review_with_path(b, &args, trap)
}

/// `review open` as the bundle's reviewer (with `trap` first on PATH, if given).
fn open(b: &TestBundle, trap: Option<&Path>) -> Output {
    let (root, key, out) = (b.root(), b.key(), b.out());
    let args = ["open", s(&root), "--identity", s(&key), "--out", s(&out)];
    review_with_path(b, &args, trap)
}

/// Every file under `dir` (none if it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    if !dir.exists() {
        return Vec::new();
    }
    support::files::walk(dir)
}

/// Writes a source identity to a key file the stock CLI reads.
fn key_file(dir: &Path, name: &str, id: &age::x25519::Identity) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{}\n", id.to_string().expose_secret())).unwrap();
    path
}

#[test]
fn a_reviewer_list_with_an_added_recipient_is_refused_and_nothing_reaches_it() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let attacker = age::x25519::Identity::generate();
    std::fs::write(
        b.root().join("reviewers.txt"),
        format!("{}\n{}\n", b.reviewer.to_public(), attacker.to_public()),
    )
    .unwrap();
    let (message, replies) = message_and_replies(&b);
    let out = reply(&b, &message, &replies);
    assert!(!out.status.success(), "a tampered list was accepted");
    let err = stderr(&out);
    assert!(
        err.contains("differs from the pinned team")
            && err.contains(&attacker.to_public().to_string()),
        "{err}"
    );
    let attacker_key = key_file(b.dir.path(), "attacker.key", &attacker);
    for f in files_under(&replies) {
        let read = Command::new("age")
            .args(["-d", "-i", s(&attacker_key)])
            .arg(&f)
            .output()
            .unwrap();
        assert!(!read.status.success(), "{f:?} is readable by the attacker");
    }
    // `review open` warns about it, but still decrypts.
    b.add_submission("w", "hi", &[("a.txt", "text/plain", b"warned")]);
    let out = open(&b, None);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stderr(&out).contains("differs from the pinned team"),
        "{out:?}"
    );
    assert_eq!(
        std::fs::read(b.out().join(SOURCE).join("w/a.txt")).unwrap(),
        b"warned"
    );
}

#[test]
fn a_swapped_source_recipient_is_refused_loudly() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    b.add_submission("s", "hi", &[("a.txt", "text/plain", b"x")]);
    // First sight (open) pins the source's recipient.
    let out = open(&b, None);
    assert!(out.status.success(), "{out:?}");
    let pinned = std::fs::read_to_string(b.home().join("sources.txt")).unwrap();
    assert!(pinned.contains(SOURCE), "{pinned}");

    let swapped = age::x25519::Identity::generate();
    b.add_source_with(SOURCE, &swapped);
    let out = open(&b, None);
    assert!(out.status.success(), "open must still work: {out:?}");
    assert!(stderr(&out).contains("SOURCE KEY CHANGED"), "{out:?}");

    let (message, replies) = message_and_replies(&b);
    let out = reply(&b, &message, &replies);
    assert!(!out.status.success(), "a swapped key was accepted");
    let err = stderr(&out);
    assert!(
        err.contains("SOURCE KEY CHANGED")
            && err.contains(&swapped.to_public().to_string())
            && err.contains(SOURCE),
        "{err}"
    );
    assert!(files_under(&replies).is_empty());
}

#[test]
fn a_plugin_line_in_a_bundle_runs_no_plugin() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    b.add_submission("p", "hi", &[("a.txt", "text/plain", b"x")]);
    let trap = b.dir.path().join("trap");
    std::fs::create_dir(&trap).unwrap();
    let marker = b.dir.path().join("plugin-ran");
    let script = trap.join("age-plugin-evil");
    std::fs::write(
        &script,
        format!("#!/bin/sh\ntouch '{}'\nexit 1\n", marker.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The trap works: the stock age CLI, given the line, runs the plugin.
    let control = Command::new("age")
        .args(["-r", EVIL, "-o", "/dev/null"])
        .arg(&script)
        .env(
            "PATH",
            format!("{}:{}", trap.display(), std::env::var("PATH").unwrap()),
        )
        .output()
        .unwrap();
    assert!(!control.status.success());
    assert!(marker.exists(), "the trap did not fire: {control:?}");
    std::fs::remove_file(&marker).unwrap();

    std::fs::write(
        b.root().join("reviewers.txt"),
        format!("{}\n{EVIL}\n", b.reviewer.to_public()),
    )
    .unwrap();
    let (message, replies) = message_and_replies(&b);
    let out = reply_as(&b, &b.key(), &message, &replies, Some(&trap));
    assert!(
        !marker.exists(),
        "review reply ran a plugin named by the bundle"
    );
    assert!(!out.status.success(), "a plugin line was accepted");
    assert!(stderr(&out).contains(EVIL), "{out:?}");
    let out = open(&b, Some(&trap));
    assert!(out.status.success(), "{out:?}");
    assert!(
        !marker.exists(),
        "review open ran a plugin named by the bundle"
    );
    assert!(files_under(&replies).is_empty());
}

#[test]
fn no_team_pinned_no_reply() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    b.review_home().remove_card("reviewer").unwrap();
    let (message, replies) = message_and_replies(&b);
    let out = reply(&b, &message, &replies);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no team is pinned"), "{out:?}");
    assert!(files_under(&replies).is_empty());
    b.add_submission("n", "hi", &[("a.txt", "text/plain", b"x")]);
    let out = open(&b, None);
    assert!(out.status.success(), "{out:?}");
    assert!(stderr(&out).contains("no team is pinned"), "{out:?}");
}

#[test]
fn a_signing_key_on_no_pinned_card_is_refused() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let other = b.dir.path().join("other.key");
    lanterne_offline::keys::new_reviewer(&other, None).unwrap();
    let (message, replies) = message_and_replies(&b);
    let out = reply_as(&b, &other, &message, &replies, None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("on no pinned card"), "{out:?}");
    assert!(files_under(&replies).is_empty());
}

#[test]
fn a_designation_not_derived_from_its_recipient_is_refused() {
    let b = TestBundle::new();
    b.add_source("brave-otter-41");
    // `review open` says so and does not pin the pair.
    let out = open(&b, None);
    assert!(
        stderr(&out).contains("is not the designation of its recipient"),
        "{out:?}"
    );
    let pins = std::fs::read_to_string(b.home().join("sources.txt")).unwrap_or_default();
    assert!(!pins.contains("brave-otter-41"), "{pins}");
    let (message, replies) = message_and_replies(&b);
    let e = b.reply("brave-otter-41", &message, &replies).unwrap_err();
    assert!(
        matches!(e, lanterne_offline::ReviewError::DesignationMismatch { .. }),
        "{e}"
    );
    assert!(files_under(&replies).is_empty());
}

#[test]
fn the_honest_loop_works_with_the_stock_age_and_minisign() {
    let b = TestBundle::new();
    let source = b.add_source(SOURCE);
    // What the reply answers.
    b.add_submission_to(SOURCE, "s0000000001-aa", "hello", &[]);
    // A second reviewer, made and pinned through the binary.
    let bob_key = b.dir.path().join("bob.key");
    let bob_card = b.dir.path().join("bob.card");
    let out = review(
        &b,
        &[
            "keys",
            "new",
            "--out",
            s(&bob_key),
            "--public",
            s(&bob_card),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed, std::fs::read_to_string(&bob_card).unwrap());
    let out = review(&b, &["team", "add", s(&bob_card)]);
    assert!(out.status.success(), "{out:?}");
    let pinned = String::from_utf8(out.stdout).unwrap();
    let bob = read_identity(&bob_key).to_public().to_string();
    assert!(pinned.contains("bob") && pinned.contains(&bob), "{pinned}");
    let listed = review(&b, &["team", "list"]);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed.contains("bob") && listed.contains("reviewer"),
        "{listed}"
    );
    std::fs::write(
        b.root().join("reviewers.txt"),
        format!("# team\n{bob}\n{}\n", b.reviewer.to_public()),
    )
    .unwrap();

    // The card is an age recipients file for the stock CLI.
    let sealed = b.dir.path().join("to-bob.age");
    let enc = Command::new("age")
        .args(["-R", s(&bob_card), "-o", s(&sealed)])
        .arg(&bob_card)
        .output()
        .unwrap();
    assert!(enc.status.success(), "{enc:?}");
    assert_eq!(
        age_cli_decrypt(&bob_key, &sealed),
        std::fs::read(&bob_card).unwrap()
    );

    let (message, replies) = message_and_replies(&b);
    let out = reply_as(&b, &bob_key, &message, &replies, None);
    assert!(out.status.success(), "{out:?}");
    let written = list(&replies.join(SOURCE));
    let age_file = written
        .iter()
        .find(|p| p.extension().unwrap() == "age")
        .unwrap();
    let source_key = key_file(b.dir.path(), "source.key", &source);
    for key in [&source_key, &b.key(), &bob_key] {
        assert_eq!(
            lanterne_core::padding::unpad_text(&age_cli_decrypt(key, age_file)),
            std::fs::read(&message).unwrap()
        );
    }
    let card = std::fs::read_to_string(&bob_card).unwrap();
    let public = card
        .lines()
        .find_map(|l| l.strip_prefix("# minisign: "))
        .unwrap();
    let verify = Command::new("minisign")
        .args(["-V", "-P", public, "-m", s(age_file)])
        .output()
        .expect("minisign installed (scripts/install-deps)");
    assert!(verify.status.success(), "{verify:?}");
    let shown = String::from_utf8_lossy(&verify.stdout);
    assert!(
        shown.contains(&format!(
            "lanterne-reply v2 designation={SOURCE} recipient={} id=",
            source.to_public()
        )) && shown.contains(" after=s0000000001-aa"),
        "{shown}"
    );
    // Another reviewer's key does not verify it.
    let alice_card = std::fs::read_to_string(b.card()).unwrap();
    let alice = alice_card
        .lines()
        .find_map(|l| l.strip_prefix("# minisign: "))
        .unwrap();
    let wrong = Command::new("minisign")
        .args(["-V", "-P", alice, "-m", s(age_file)])
        .output()
        .unwrap();
    assert!(!wrong.status.success());

    // The stock minisign signs with the key `keys new` wrote beside the identity.
    let data = b.dir.path().join("data");
    std::fs::write(&data, "data").unwrap();
    let sign = Command::new("minisign")
        .arg("-S")
        .arg("-s")
        .arg(s(&bob_key).to_owned() + ".minisign")
        .args(["-m", s(&data)])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(sign.status.success(), "{sign:?}");
    let verify = Command::new("minisign")
        .args(["-V", "-P", public, "-m", s(&data)])
        .output()
        .unwrap();
    assert!(verify.status.success(), "{verify:?}");
}
