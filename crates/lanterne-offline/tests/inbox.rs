//! The persistent offline inbox (issue 14): `review import`, `list`, `show`, `export`, `star`.
//! Each test plays what a compromised server or a hostile source would try: replaying a
//! bundle, rewriting a file it already delivered, hostile file names, and checks that no
//! plaintext is ever written under the inbox's home.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lanterne_offline::{self as review, ReviewError};
use support::files::{any_file_contains, walk};
use support::{TestBundle, HOME_ENV, SOURCE};

const BIN: &str = env!("CARGO_BIN_EXE_lanterne-review");

fn import(b: &TestBundle) -> Result<review::ImportReport, ReviewError> {
    review::import(&b.root(), &b.key(), None, &b.review_home())
}

fn show(b: &TestBundle, designation: &str) -> String {
    review::show(&b.review_home(), designation, &b.key(), None)
        .unwrap()
        .to_string()
}

fn list(b: &TestBundle) -> String {
    review::list(&b.review_home(), &b.key(), None)
        .unwrap()
        .to_string()
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walk(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

#[test]
fn importing_the_same_growing_bundle_twice_adds_only_what_is_new() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    b.add_submission("s1", "first", &[("a.txt", "text/plain", b"aaa")]);
    let r = import(&b).unwrap();
    assert_eq!((r.added.len(), r.already), (1, 0), "{r}");
    let inbox = b.home().join("inbox");
    let before = snapshot(&inbox);
    // Replayed: nothing is added, not a byte of the inbox changes.
    let r = import(&b).unwrap();
    assert_eq!((r.added.len(), r.already), (0, 1), "{r}");
    assert_eq!(snapshot(&inbox), before);
    // Grown: only the new submission is added.
    b.add_submission("s2", "second", &[("b.txt", "text/plain", b"bbb")]);
    let r = import(&b).unwrap();
    assert_eq!((r.added.len(), r.already), (1, 1), "{r}");
    assert_eq!(r.added, [format!("{SOURCE} / s2")]);
    // The inbox holds the ciphertext exactly as the bundle had it: stock `age` decrypts it.
    let stored = b.ciphertexts(&inbox.join("sources").join(SOURCE).join("submissions/s2"));
    assert_eq!(stored.len(), 1);
    let plain = support::files::age_cli_decrypt(&b.key(), &stored[0]);
    assert_eq!(plain, b"bbb");
}

#[test]
fn a_file_changed_under_a_known_name_is_refused_and_the_inbox_is_unchanged() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let sub = b.add_submission("s1", "the truth", &[("a.txt", "text/plain", b"original")]);
    import(&b).unwrap();
    let inbox = b.home().join("inbox");
    let before = snapshot(&inbox);
    // The server rewrites a file it already delivered, and lists its new hash; a new
    // submission rides along.
    let file = b.ciphertexts(&sub).remove(0);
    std::fs::write(&file, b.seal(b"forged")).unwrap();
    b.add_submission("s2", "new", &[("n.txt", "text/plain", b"new")]);
    let e = import(&b).unwrap_err();
    assert!(matches!(e, ReviewError::HistoryRewritten { .. }), "{e}");
    assert!(e.to_string().contains("REFUSED"), "{e}");
    assert_eq!(
        snapshot(&inbox),
        before,
        "the refused import changed the inbox"
    );
    // The rewritten manifest (a message changed after the fact) is refused alike.
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let sub = b.add_submission("s1", "the truth", &[]);
    import(&b).unwrap();
    b.write_manifest(&sub, "a rewritten message", Vec::new());
    let e = import(&b).unwrap_err();
    assert!(matches!(e, ReviewError::HistoryRewritten { .. }), "{e}");
    assert!(show(&b, SOURCE).contains("the truth"));
    // Rewritten in SHA256SUMS only, with the file itself left out of the bundle: still a
    // rewrite of what the inbox holds.
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let sub = b.add_submission("s1", "m", &[("a.txt", "text/plain", b"original")]);
    import(&b).unwrap();
    let file = b.ciphertexts(&sub).remove(0);
    let rel = file
        .strip_prefix(b.root())
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    std::fs::remove_file(&file).unwrap();
    let sums = std::fs::read_to_string(b.root().join("SHA256SUMS")).unwrap();
    let forged = format!("{}  {rel}\n", "ab".repeat(32));
    std::fs::write(b.root().join("SHA256SUMS"), sums + &forged).unwrap();
    let e = import(&b).unwrap_err();
    assert!(matches!(e, ReviewError::HistoryRewritten { .. }), "{e}");
}

#[test]
fn a_swapped_source_key_is_refused_by_import() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    b.add_submission("s1", "m", &[]);
    import(&b).unwrap();
    // The server pairs the source's name with a key of its own, to read the replies.
    b.add_source_with(SOURCE, &age::x25519::Identity::generate());
    b.add_submission("s2", "m2", &[]);
    let e = import(&b).unwrap_err();
    match &e {
        ReviewError::HistoryRewritten { rel, .. } => {
            assert_eq!(rel, &format!("sources/{SOURCE}/recipient"))
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_damaged_file_is_not_imported_and_the_next_import_takes_it() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let sub = b.add_submission("s1", "m", &[("a.txt", "text/plain", b"aaa")]);
    let file = b.ciphertexts(&sub).remove(0);
    let good = std::fs::read(&file).unwrap();
    // Damaged on the way: the bytes no longer match the bundle's SHA256SUMS.
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    std::fs::write(&file, &bad).unwrap();
    let r = import(&b).unwrap();
    assert_eq!((r.added.len(), r.skipped.len()), (0, 1), "{r}");
    assert!(list(&b).contains("the inbox is empty"));
    std::fs::write(&file, &good).unwrap();
    let r = import(&b).unwrap();
    assert_eq!(r.added.len(), 1, "{r}");
}

/// A server (broken or hostile) serves files whose bytes match its own sums but that do not
/// decrypt as their manifest says: sealed to another key, cut before age's last chunk, longer
/// than declared. Import keeps them as given, and names each the day it arrives.
#[test]
fn import_names_files_that_do_not_decrypt_and_keeps_them_as_given() {
    use lanterne_core::manifest::FileEntry;
    use std::io::Write as _;
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let sub = b.add_submission("s1", "m", &[]);
    let other = age::x25519::Identity::generate().to_public();
    let mut to_other = Vec::new();
    let enc =
        age::Encryptor::with_recipients(std::iter::once(&other as &dyn age::Recipient)).unwrap();
    let mut w = enc.wrap_output(&mut to_other).unwrap();
    w.write_all(b"for someone else").unwrap();
    w.finish().unwrap();
    let mut cut = b.seal(&vec![7u8; 200_000]);
    cut.truncate(cut.len() - 1000);
    let files: [(&str, Vec<u8>, u64); 4] = [
        ("other-key", to_other, 16),
        ("cut", cut, 200_000),
        ("longer", b.seal(b"0123456789"), 5),
        ("fine", b.seal(b"fine"), 4),
    ];
    let mut entries = Vec::new();
    for (name, bytes, size) in &files {
        let stored_as = format!("{}.age", support::random_hex());
        std::fs::write(sub.join(&stored_as), bytes).unwrap();
        entries.push(FileEntry {
            name: name.to_string(),
            content_type: "text/plain".into(),
            size: *size,
            stored_as,
        });
    }
    b.write_manifest(&sub, "m", entries);
    let printed = import(&b).unwrap().to_string();
    assert!(printed.contains("1 submission(s) added"), "{printed}");
    assert_eq!(printed.matches("WARNING").count(), 3, "{printed}");
    assert!(
        printed.contains("does not decrypt with this identity"),
        "{printed}"
    );
    assert!(printed.contains("damaged or truncated"), "{printed}");
    assert!(printed.contains("more than the 5 bytes"), "{printed}");
    // Every file is in the inbox exactly as the bundle had it.
    let stored = b
        .home()
        .join("inbox")
        .join(sub.strip_prefix(b.root()).unwrap());
    for f in b.ciphertexts(&sub) {
        let kept = std::fs::read(stored.join(f.file_name().unwrap())).unwrap();
        assert_eq!(kept, std::fs::read(&f).unwrap());
    }
}

#[test]
fn a_message_and_a_follow_up_show_in_order_and_no_plaintext_is_at_rest() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let secrets = [
        "FIRST-MESSAGE-PLAINTEXT",
        "FOLLOW-UP-PLAINTEXT",
        "SECRET-FILE-BODY",
        "secret-file-name",
    ];
    // The follow-up's id sorts before the first's: order is the inbox's, not the names'.
    b.add_submission(
        "zz-first",
        secrets[0],
        &[("secret-file-name.txt", "text/plain", secrets[2].as_bytes())],
    );
    import(&b).unwrap();
    assert!(list(&b).contains("1 unseen"), "{}", list(&b));
    b.add_submission("aa-follow-up", secrets[1], &[]);
    import(&b).unwrap();
    assert!(list(&b).contains("2 unseen"), "{}", list(&b));
    let text = show(&b, SOURCE);
    let first = text.find(secrets[0]).expect(&text);
    let second = text.find(secrets[1]).expect(&text);
    assert!(first < second, "out of order:\n{text}");
    assert!(text.contains("\"secret-file-name.txt\", \"text/plain\", 16 bytes"));
    assert!(list(&b).contains("0 unseen"), "{}", list(&b));
    for s in secrets {
        assert_eq!(
            any_file_contains(&b.home(), s.as_bytes()),
            None,
            "{s} is in plaintext under the inbox home"
        );
    }
}

#[test]
fn show_reports_identifying_metadata_and_damage_without_writing_plaintext() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let pdf = b"%PDF-1.4\n1 0 obj\n<< /Author (Jane Leaker-7f3a) >>\nendobj\n\
        trailer << /Info 1 0 R >>\n%%EOF\n";
    let sub = b.add_submission(
        "s1",
        "see attached",
        &[
            ("doc.pdf", "application/pdf", pdf),
            ("plain.txt", "text/plain", b"nothing to see"),
        ],
    );
    import(&b).unwrap();
    let text = show(&b, SOURCE);
    assert!(
        text.contains("metadata: PDF Author: \"Jane Leaker-7f3a\""),
        "{text}"
    );
    assert!(text.contains("no identifying metadata found"), "{text}");
    assert_eq!(any_file_contains(&b.home(), b"Jane Leaker-7f3a"), None);
    // A ciphertext damaged at rest in the inbox is named, not shown.
    let stored = b
        .home()
        .join("inbox")
        .join(sub.strip_prefix(b.root()).unwrap());
    for f in b.ciphertexts(&stored) {
        let mut bytes = std::fs::read(&f).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&f, bytes).unwrap();
    }
    let text = show(&b, SOURCE);
    assert!(text.contains("CANNOT BE READ"), "{text}");
    let out = b.dir.path().join("out");
    let report = review::export(&b.review_home(), SOURCE, &b.key(), None, &out).unwrap();
    assert_eq!(
        (report.exported, report.problems.len()),
        (0, 2),
        "{report:?}"
    );
    // So is a manifest damaged at rest: show names it, export counts it as a problem.
    let manifest = stored.join("manifest.age");
    let mut bytes = std::fs::read(&manifest).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&manifest, bytes).unwrap();
    let text = show(&b, SOURCE);
    assert!(text.contains("CANNOT BE READ: manifest.age"), "{text}");
    let report = review::export(&b.review_home(), SOURCE, &b.key(), None, &out).unwrap();
    assert_eq!(
        (report.exported, report.problems.len()),
        (0, 1),
        "{report:?}"
    );
}

/// A submission with no file from another source (a fresh key), added to the bundle.
fn add_other_source(b: &TestBundle, id: &str, message: &str) -> String {
    let key = age::x25519::Identity::generate();
    let designation = lanterne_core::designation::of_recipient(&key.to_public().to_string());
    add_for(b, &key, id, message);
    designation
}

/// A submission with no file from the source of `key`.
fn add_for(b: &TestBundle, key: &age::x25519::Identity, id: &str, message: &str) {
    let designation = lanterne_core::designation::of_recipient(&key.to_public().to_string());
    b.add_source_with(&designation, key);
    let dir = b
        .root()
        .join("sources")
        .join(&designation)
        .join("submissions")
        .join(id);
    std::fs::create_dir_all(&dir).unwrap();
    b.write_manifest(&dir, message, Vec::new());
}

#[test]
fn submissions_arriving_in_one_bundle_are_numbered_in_the_servers_order() {
    // The server's ids carry its sequence (`s0000000042-…`); the source whose name sorts
    // first sent last.
    let keys = [(); 2].map(|_| age::x25519::Identity::generate());
    let name = |k: &age::x25519::Identity| {
        lanterne_core::designation::of_recipient(&k.to_public().to_string())
    };
    let (newer, older) = if name(&keys[0]) < name(&keys[1]) {
        (&keys[0], &keys[1])
    } else {
        (&keys[1], &keys[0])
    };
    let b = TestBundle::new();
    add_for(&b, older, "s0000000001-aa", "older");
    add_for(&b, newer, "s0000000002-bb", "newer");
    import(&b).unwrap();
    let text = list(&b);
    assert!(
        text.lines().next().unwrap().contains(&name(newer)),
        "{text}"
    );
}

#[test]
fn list_puts_the_newest_activity_first_and_shows_stars() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    b.add_submission("a", "one", &[]);
    import(&b).unwrap();
    let other = add_other_source(&b, "b", "two");
    import(&b).unwrap();
    let text = list(&b);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains(&other) && lines[1].contains(SOURCE),
        "{text}"
    );
    b.add_submission("c", "three", &[]);
    import(&b).unwrap();
    let text = list(&b);
    assert!(text.lines().next().unwrap().contains(SOURCE), "{text}");
    review::set_star(&b.review_home(), &other, true).unwrap();
    assert!(list(&b).contains(&format!("* {other}")), "{}", list(&b));
    review::set_star(&b.review_home(), &other, false).unwrap();
    assert!(!list(&b).contains(&format!("* {other}")));
    let e = review::set_star(&b.review_home(), "no-such-source-1", true).unwrap_err();
    assert!(matches!(e, ReviewError::NotInInbox(_)), "{e}");
}

#[test]
fn export_sanitizes_hostile_names_and_never_overwrites() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    b.add_submission(
        "s1",
        "files",
        &[
            ("../x", "text/plain", b"dotdot"),
            ("evil\x1b[31m\u{202e}name.txt", "text/plain", b"escape"),
            ("x", "text/plain", b"second x"),
        ],
    );
    import(&b).unwrap();
    let out = b.dir.path().join("export");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("x"), b"the reviewer's own file").unwrap();
    let report = review::export(&b.review_home(), SOURCE, &b.key(), None, &out).unwrap();
    assert_eq!(report.exported, 3, "{:?}", report.problems);
    assert!(
        !b.dir.path().join("x").exists(),
        "escaped the output folder"
    );
    assert_eq!(
        std::fs::read(out.join("x")).unwrap(),
        b"the reviewer's own file"
    );
    assert_eq!(std::fs::read(out.join("x (2)")).unwrap(), b"dotdot");
    assert_eq!(std::fs::read(out.join("x (3)")).unwrap(), b"second x");
    assert_eq!(
        std::fs::read(out.join("evil[31mname.txt")).unwrap(),
        b"escape"
    );
    for p in support::files::list(&out) {
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            !name.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{name:?}"
        );
    }
    let transcript = std::fs::read_to_string(out.join("transcript.txt")).unwrap();
    assert!(transcript.contains("exported as: x (2)"), "{transcript}");
    assert!(!transcript.contains('\x1b'), "{transcript}");
    // A second export into the same folder changes nothing that is there.
    let before = snapshot(&out);
    let again = review::export(&b.review_home(), SOURCE, &b.key(), None, &out).unwrap();
    assert_eq!(again.transcript, out.join("transcript (2).txt"));
    let after = snapshot(&out);
    for (p, bytes) in before {
        assert_eq!(after[&p], bytes, "{p:?} was overwritten");
    }
}

fn run(b: &TestBundle, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env(HOME_ENV, b.home())
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_binary_imports_lists_shows_exports_and_stars() {
    let b = TestBundle::new();
    b.add_source(SOURCE);
    b.add_submission(
        "s1",
        "hello from the binary",
        &[("a.txt", "text/plain", b"A")],
    );
    let (root, key) = (b.root(), b.key());
    let (root, key) = (root.to_str().unwrap(), key.to_str().unwrap());
    let text = ok(run(&b, &["import", root, "--identity", key]));
    assert!(text.contains("1 submission(s) added"), "{text}");
    let text = ok(run(&b, &["import", root, "--identity", key]));
    assert!(
        text.contains("0 submission(s) added to the inbox, 1 already there"),
        "{text}"
    );
    ok(run(&b, &["star", SOURCE]));
    let text = ok(run(&b, &["list", "--identity", key]));
    // The key's fingerprint sits beside the designation ("not pinned yet" before a reply).
    assert!(text.starts_with(&format!("* {SOURCE}  key ")), "{text}");
    assert!(text.contains("  1 submission(s), 1 unseen"), "{text}");
    let text = ok(run(&b, &["show", SOURCE, "--identity", key]));
    assert!(text.contains("| hello from the binary"), "{text}");
    let out = b.dir.path().join("out");
    let o = out.to_str().unwrap();
    let text = ok(run(&b, &["export", SOURCE, "--identity", key, "--out", o]));
    assert!(text.contains("1 file(s) exported"), "{text}");
    assert_eq!(std::fs::read(out.join("a.txt")).unwrap(), b"A");
    let failed = run(&b, &["show", "no-such-source-1", "--identity", key]);
    assert!(!failed.status.success());
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(err.contains("the inbox has no source called"), "{err}");
}

#[test]
fn commands_running_at_once_lose_no_update() {
    // Each thread stars its own source at the same time: every star must stay.
    let b = TestBundle::new();
    let sources: Vec<String> = (0..6)
        .map(|i| add_other_source(&b, &format!("s{i}"), "m"))
        .collect();
    import(&b).unwrap();
    let home = b.review_home();
    std::thread::scope(|scope| {
        for d in &sources {
            let home = home.clone();
            scope.spawn(move || review::set_star(&home, d, true).unwrap());
        }
    });
    let text = list(&b);
    for d in &sources {
        assert!(
            text.contains(&format!("* {d}")),
            "{d} lost its star:\n{text}"
        );
    }
}

#[test]
fn a_file_swapped_in_the_inbox_is_never_exported_or_shown() {
    // Someone with write access to the offline disk swaps a stored ciphertext for another
    // valid one, encrypted to the reviewer's public key: age authenticates it, so only the
    // inbox's SHA256SUMS can tell. The files are large enough (9 MiB) to be hashed on the
    // helper thread while they are decrypted, and small (a few bytes) to be hashed inline.
    let b = TestBundle::new();
    b.add_source(SOURCE);
    let big = vec![b'o'; 9 << 20];
    let sub = b.add_submission(
        "s1",
        "m",
        &[
            ("big.bin", "application/octet-stream", &big),
            ("small.txt", "text/plain", b"original"),
        ],
    );
    import(&b).unwrap();
    let stored = b
        .home()
        .join("inbox/sources")
        .join(SOURCE)
        .join("submissions/s1");
    let canary = b"CANARY-swapped-in-the-inbox".repeat(1 << 15);
    for ct in b.ciphertexts(&sub) {
        let name = ct.file_name().unwrap();
        std::fs::write(stored.join(name), b.seal(&canary)).unwrap();
    }
    let text = show(&b, SOURCE);
    assert_eq!(text.matches("SHA256SUMS").count(), 2, "{text}");
    let out = b.dir.path().join("exported");
    let r = review::export(&b.review_home(), SOURCE, &b.key(), None, &out).unwrap();
    assert_eq!(r.exported, 0, "{r:?}");
    assert_eq!(r.problems.len(), 2, "{r:?}");
    assert!(any_file_contains(&out, b"CANARY-swapped").is_none());
    assert_eq!(
        walk(&out),
        std::slice::from_ref(&r.transcript),
        "debris left in the export folder"
    );
}
