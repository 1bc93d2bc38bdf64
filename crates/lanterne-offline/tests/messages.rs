//! What `lanterne-review` says when something is wrong (issue 22): each cause once, and a key
//! that opens nothing in the inbox is an error that changes nothing, rather than "0 added, 8
//! already there" and another reviewer's unread submissions marked seen.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use lanterne_offline::{self as review, ReviewError};
use support::{TestBundle, HOME_ENV, SOURCE};

const BIN: &str = env!("CARGO_BIN_EXE_lanterne-review");

fn run(b: &TestBundle, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env(HOME_ENV, b.home())
        .output()
        .unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn an_error_says_its_cause_once() {
    let b = TestBundle::new();
    let missing = b.dir.path().join("missing.key");
    for args in [
        &["list", "--identity", p(&missing)][..],
        &["import", p(&b.root()), "--identity", p(&missing)],
        &[
            "keys",
            "new",
            "--out",
            p(&b.dir.path().join("no-dir/k.key")),
        ],
    ] {
        let out = run(&b, args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let io = "No such file or directory (os error 2)";
        assert_eq!(err.matches(io).count(), 1, "{args:?}:\n{err}");
    }
}

/// A bundle of eight submissions, imported with the reviewer's own key, and a colleague's key
/// (a real identity, that opens none of them) written beside it.
fn imported_and_another_key() -> (TestBundle, std::path::PathBuf) {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    for i in 1..=8 {
        b.add_submission(&format!("s{i}"), &format!("message {i}"), &[]);
    }
    let r = review::import(&b.root(), &b.key(), None, &b.review_home()).unwrap();
    assert_eq!(r.added.len(), 8, "{r}");
    let other = b.dir.path().join("colleague.key");
    let key = age::x25519::Identity::generate();
    use age::secrecy::ExposeSecret;
    std::fs::write(&other, format!("{}\n", key.to_string().expose_secret())).unwrap();
    (b, other)
}

fn state(b: &TestBundle) -> Vec<u8> {
    std::fs::read(b.home().join("inbox/state.json")).unwrap()
}

#[test]
fn import_with_a_key_that_opens_nothing_is_an_error() {
    let (b, other) = imported_and_another_key();
    let before = state(&b);
    let out = run(&b, &["import", p(&b.root()), "--identity", p(&other)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        err.contains("opens none of the 8 submission(s)") && err.contains("keys new"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("already there"));
    assert_eq!(state(&b), before);
    let e = review::import(&b.root(), &other, None, &b.review_home()).unwrap_err();
    assert!(
        matches!(e, ReviewError::KeyOpensNothing { total: 8, .. }),
        "{e}"
    );
    // On an empty inbox too: nothing is imported, and the reason is the key.
    let fresh = tempfile::tempdir().unwrap();
    let home = review::ReviewHome::at(fresh.path()).unwrap();
    let e = review::import(&b.root(), &other, None, &home).unwrap_err();
    assert!(matches!(e, ReviewError::KeyOpensNothing { .. }), "{e}");
    // The reviewer's own key still imports (nothing new).
    let r = review::import(&b.root(), &b.key(), None, &b.review_home()).unwrap();
    assert_eq!((r.added.len(), r.already), (0, 8), "{r}");
}

#[test]
fn show_with_a_key_that_opens_nothing_marks_nothing_seen() {
    let (b, other) = imported_and_another_key();
    let before = state(&b);
    let out = run(&b, &["show", SOURCE, "--identity", p(&other)]);
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("opens none of the 8 submission(s)"), "{err}");
    assert_eq!(state(&b), before, "show marked submissions seen");
    let dest = b.dir.path().join("exported");
    let out = run(
        &b,
        &["export", SOURCE, "--identity", p(&other), "--out", p(&dest)],
    );
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(state(&b), before, "export marked submissions seen");
    let listed = review::list(&b.review_home(), &b.key(), None).unwrap();
    assert!(
        listed.contains("8 submission(s), 8 unseen"),
        "{}",
        listed.as_str()
    );
    // The reviewer's own key shows them, and marks them seen.
    review::show(&b.review_home(), SOURCE, &b.key(), None).unwrap();
    let listed = review::list(&b.review_home(), &b.key(), None).unwrap();
    assert!(
        listed.contains("8 submission(s), 0 unseen"),
        "{}",
        listed.as_str()
    );
}
