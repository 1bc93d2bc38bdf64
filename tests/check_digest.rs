//! `lanterne check`'s static checks and `lanterne digest`, with the real binary: a fresh install
//! fails the check for its missing key and passes once a key is added; a bad key file, a loose
//! data dir and a changed `[kdf]` each fail it; and the digest says no, yes, no around a
//! submission to a running box, without touching the box's lock.

use crate::common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

/// `lanterne check` with `args`: (exit code, stdout).
fn check(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).arg("check").args(args).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    (out.status.code().unwrap_or(-1), stdout)
}

/// The report's error lines.
fn errors(report: &str) -> Vec<&str> {
    report
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect()
}

fn digest(data: &Path) -> String {
    let out = Command::new(BIN)
        .args(["digest", "--data-dir", p(data)])
        .output()
        .unwrap();
    assert!(out.status.success(), "digest failed: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// A fresh install (default config, an empty keys folder, a private data dir no box ever
/// used): the check fails for the missing key only, and passes once a card is added, though
/// the box is not running. Then a file that is not a key, a 0755 data dir, and a config
/// whose [kdf] differs from the box's each fail it again, naming the problem.
#[test]
fn check_fails_without_a_key_and_passes_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = dir.path().join("keys");
    for d in [&data, &keys] {
        std::fs::create_dir(d).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let args = ["--data-dir", p(&data), "--keys-dir", p(&keys)];
    let (code, out) = check(&args);
    assert_eq!(code, 1, "{out}");
    assert_eq!(errors(&out).len(), 1, "{out}");
    assert!(out.starts_with("error: no reviewer key in "), "{out}");
    assert!(out.contains("warning: the box is not running"), "{out}");
    assert!(out.contains("warning: no onion key yet"), "{out}");

    lanterne(&[
        "keys",
        "new",
        "--out",
        p(&dir.path().join("reviewer.key")),
        "--public",
        p(&keys.join("alice.card")),
    ]);
    let (code, out) = check(&args);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("ok: reviewer keys: 1 recipient(s) in "),
        "{out}"
    );
    assert!(errors(&out).is_empty(), "{out}");
    assert_eq!(
        std::fs::read_dir(&data).unwrap().count(),
        0,
        "check wrote in the data dir"
    );

    // A file that is not a key.
    std::fs::write(keys.join("bob.txt"), "ssh-ed25519 AAAA bob@laptop\n").unwrap();
    let (code, out) = check(&args);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("error: a key file is not a valid recipient or card: "),
        "{out}"
    );
    assert!(out.contains("bob.txt"), "{out}");
    std::fs::remove_file(keys.join("bob.txt")).unwrap();

    // A data dir others may read.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, out) = check(&args);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        errors(&out),
        [format!(
            "error: the data dir {} is mode 0755; it must be 0700 (only the box's user)",
            data.display()
        )],
        "{out}"
    );
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(check(&args).0, 0);
}

/// A box made with the default [kdf], checked with a config that changes it: an error that
/// says what to put back. Its own config passes.
#[test]
fn check_fails_on_a_kdf_mismatch() {
    let mut server = Server::start("");
    server.stop();
    let keys = server.dir.path().join("keys");
    let config = server.dir.path().join("other.toml");
    let write = |kdf: &str| {
        std::fs::write(
            &config,
            format!(
                "data_dir = {:?}\nkeys_dir = {:?}\n{kdf}",
                p(&server.data()),
                p(&keys)
            ),
        )
        .unwrap();
    };
    write("");
    let (code, out) = check(&["--config", p(&config)]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ok: [kdf] and word lists: as this box was made with"),
        "{out}"
    );
    write("[kdf]\niterations = 9\n");
    let (code, out) = check(&["--config", p(&config)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error: [kdf] or the word lists differ"),
        "{out}"
    );
    assert!(out.contains("put `iterations = "), "{out}");
}

/// The digest says no, yes, no around a submission, while the box runs; its mark is a number
/// only, private, dated 1970; and the box keeps its data dir's lock throughout (a second
/// `serve` is still refused, and the box still takes submissions); a `yes` that could not be
/// printed is given again.
#[test]
fn digest_says_no_yes_no_around_a_submission() {
    let server = Server::start("");
    let data = server.data();
    assert_eq!(digest(&data), "no\n");
    server.source_with_message("one");
    assert_eq!(digest(&data), "yes\n");
    let mark = data.join("digest");
    let meta = std::fs::metadata(&mark).unwrap();
    assert_eq!((meta.mtime(), meta.atime()), (0, 0));
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&data).unwrap().mtime(), 0);
    assert_eq!(digest(&data), "no\n");
    let text = std::fs::read_to_string(&mark).unwrap();
    let number = text.strip_suffix('\n').unwrap();
    assert!(
        !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()),
        "{text:?}"
    );

    let second = Command::new(BIN)
        .args(["serve", "--no-onion", "--listen", "127.0.0.1:0"])
        .args(["--reviewer-listen", "127.0.0.1:0", "--data-dir", p(&data)])
        .args(["--keys-dir", p(&server.dir.path().join("keys"))])
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("another lanterne serve is already running"),
        "{err}"
    );

    // An answer that cannot be handed on (its reader went away) is not counted: the next
    // digest gives it again.
    server.source_with_message("two");
    // A pipe nobody reads: its read end is closed before the digest starts.
    let (reader, unwritable) = std::io::pipe().unwrap();
    drop(reader);
    let failed = Command::new(BIN)
        .args(["digest", "--data-dir", p(&data)])
        .stdout(unwritable)
        .output()
        .unwrap();
    assert!(!failed.status.success());
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(err.contains("cannot print the digest"), "{err}");
    assert_eq!(digest(&data), "yes\n");
    assert_eq!(digest(&data), "no\n");
}
