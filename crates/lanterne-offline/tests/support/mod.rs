//! What the offline commands' tests share: a bundle built by hand exactly as docs/bundle.md
//! says, and running a binary's offline commands with no network under `strace`.
//!
//! Used by this crate's `tests/review_offline.rs` (the library and the `lanterne-review`
//! binary) and, through `#[path]` in `tests/common/mod.rs`, by the top-level package's `e2e` tests (the
//! `lanterne review` commands): a test can name only its own package's binaries.

#![allow(dead_code)]

pub mod files;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use lanterne_core::manifest::{FileEntry, Manifest, VERSION};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The designation of the source the tests' bundles hold: derived from [`SOURCE_KEY`]'s
/// recipient (`lanterne_core::designation::of_recipient`), as the offline side checks.
pub const SOURCE: &str = "respect-monopoly-1289";

/// The fixed identity of the source [`SOURCE`] (a test key, made with `age-keygen`).
pub const SOURCE_KEY: &str =
    "AGE-SECRET-KEY-1CR57NL0XFELEUFJ233X6EZKC7NPXY6L6REUJ2XUWEMTF63M4NFVSSJ98D2";

/// The environment variable naming the offline state's directory.
pub const HOME_ENV: &str = "LANTERNE_REVIEW_HOME";

/// A bundle in a temp folder, with one reviewer (identity, signing key and card, made by
/// `keys new`) who is the whole team pinned in [`TestBundle::home`].
pub struct TestBundle {
    pub dir: tempfile::TempDir,
    pub reviewer: age::x25519::Identity,
}

impl TestBundle {
    pub fn new() -> TestBundle {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("reviewer.key");
        let card = lanterne_offline::keys::new_reviewer(&key, None).unwrap();
        std::fs::write(dir.path().join("reviewer.card"), card.to_string()).unwrap();
        let reviewer = read_identity(&key);
        let b = TestBundle { dir, reviewer };
        std::fs::create_dir_all(b.root().join("sources")).unwrap();
        std::fs::write(b.root().join("lanterne-bundle.json"), r#"{"format": 1}"#).unwrap();
        std::fs::write(
            b.root().join("reviewers.txt"),
            format!("# reviewers\n{}\n", b.reviewer.to_public()),
        )
        .unwrap();
        b.review_home()
            .add_card(&b.dir.path().join("reviewer.card"))
            .unwrap();
        b.write_sums();
        b
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    /// The reviewer's identity; its signing key is beside it (`reviewer.key.minisign`).
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("reviewer.key")
    }

    /// The reviewer's public card.
    pub fn card(&self) -> PathBuf {
        self.dir.path().join("reviewer.card")
    }

    /// The offline state (`LANTERNE_REVIEW_HOME`), with the team pinned.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn review_home(&self) -> lanterne_offline::ReviewHome {
        lanterne_offline::ReviewHome::at(&self.home()).unwrap()
    }

    /// `review reply` through the library, as the reviewer, into `out`.
    pub fn reply(
        &self,
        designation: &str,
        message: &Path,
        out: &Path,
    ) -> Result<PathBuf, lanterne_offline::ReviewError> {
        lanterne_offline::reply(&lanterne_offline::ReplyRequest {
            bundle: &self.root(),
            designation,
            message,
            identity: &self.key(),
            out,
            home: &self.review_home(),
            after: None,
        })
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("opened")
    }

    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let r = self.reviewer.to_public();
        let enc =
            age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient)).unwrap();
        let mut out = Vec::new();
        let mut w = enc.wrap_output(&mut out).unwrap();
        w.write_all(plaintext).unwrap();
        w.finish().unwrap();
        out
    }

    /// Adds a source folder; returns the source's identity. [`SOURCE`] gets [`SOURCE_KEY`];
    /// any other designation a fresh key (so it is not derived from it).
    pub fn add_source(&self, designation: &str) -> age::x25519::Identity {
        let id = if designation == SOURCE {
            SOURCE_KEY.parse().unwrap()
        } else {
            age::x25519::Identity::generate()
        };
        self.add_source_with(designation, &id);
        id
    }

    /// Adds (or rewrites) a source folder with the recipient of `id`.
    pub fn add_source_with(&self, designation: &str, id: &age::x25519::Identity) {
        let dir = self.root().join("sources").join(designation);
        std::fs::create_dir_all(dir.join("submissions")).unwrap();
        std::fs::write(dir.join("recipient"), format!("{}\n", id.to_public())).unwrap();
        self.write_sums();
    }

    /// Adds a submission of [`SOURCE`] with `(name, type, bytes)` files; returns its folder.
    pub fn add_submission(
        &self,
        id: &str,
        message: &str,
        files: &[(&str, &str, &[u8])],
    ) -> PathBuf {
        self.add_submission_to(SOURCE, id, message, files)
    }

    /// Adds a submission of `designation` with `(name, type, bytes)` files; returns its folder.
    pub fn add_submission_to(
        &self,
        designation: &str,
        id: &str,
        message: &str,
        files: &[(&str, &str, &[u8])],
    ) -> PathBuf {
        let dir = self
            .root()
            .join("sources")
            .join(designation)
            .join("submissions")
            .join(id);
        std::fs::create_dir_all(&dir).unwrap();
        let mut entries = Vec::new();
        for (name, content_type, bytes) in files {
            let stored_as = format!("{}.age", random_hex());
            std::fs::write(dir.join(&stored_as), self.seal(bytes)).unwrap();
            entries.push(FileEntry {
                name: name.to_string(),
                content_type: content_type.to_string(),
                size: bytes.len() as u64,
                stored_as,
            });
        }
        self.write_manifest(&dir, message, entries);
        dir
    }

    /// (Re)writes the manifest of the submission folder `dir` with these entries, as given.
    pub fn write_manifest(&self, dir: &Path, message: &str, entries: Vec<FileEntry>) {
        let manifest = Manifest {
            version: VERSION,
            received: "2026-11-22".into(),
            message: message.into(),
            files: entries,
        };
        std::fs::write(
            dir.join("manifest.age"),
            self.seal(&manifest.to_padded_json()),
        )
        .unwrap();
        self.write_sums();
    }

    /// Rewrites `SHA256SUMS` for every file under `sources/`, as `fetch` does.
    pub fn write_sums(&self) {
        let mut lines = Vec::new();
        for path in files::walk(&self.root().join("sources")) {
            let rel = path.strip_prefix(self.root()).unwrap().to_str().unwrap();
            let sum = hex::encode(Sha256::digest(std::fs::read(&path).unwrap()));
            lines.push(format!("{sum}  {rel}\n"));
        }
        lines.sort();
        std::fs::write(self.root().join("SHA256SUMS"), lines.concat()).unwrap();
    }

    /// Puts `ciphertext` (and `signature`, if any) into the bundle as the team's reply number
    /// `seq` to `designation`, named as the server names it (`r<seq>-<start of its sha256>`)
    /// and as `fetch` writes it, and rewrites the sums; returns the reply's path.
    pub fn put_reply(
        &self,
        designation: &str,
        seq: u64,
        ciphertext: &[u8],
        signature: Option<&[u8]>,
    ) -> PathBuf {
        let dir = self
            .root()
            .join("sources")
            .join(designation)
            .join("replies");
        std::fs::create_dir_all(&dir).unwrap();
        let hash = hex::encode(&Sha256::digest(ciphertext)[..16]);
        let path = dir.join(format!("r{seq:010}-{hash}.age"));
        std::fs::write(&path, ciphertext).unwrap();
        if let Some(sig) = signature {
            std::fs::write(sig_path(&path), sig).unwrap();
        }
        self.write_sums();
        path
    }

    /// A genuine reply to `designation`, written by `review reply` (encrypted to the source and
    /// the pinned team, signed by the pinned reviewer): (ciphertext, signature).
    pub fn genuine_reply(&self, designation: &str, text: &str) -> (Vec<u8>, Vec<u8>) {
        let message = self.dir.path().join("genuine-reply.txt");
        std::fs::write(&message, text).unwrap();
        let out = self.dir.path().join("genuine-replies");
        let path = self.reply(designation, &message, &out).unwrap();
        let pair = (
            std::fs::read(&path).unwrap(),
            std::fs::read(sig_path(&path)).unwrap(),
        );
        std::fs::remove_dir_all(&out).unwrap();
        pair
    }

    /// A reply the server could write itself: encrypted to the reviewer, signed by the stock
    /// `minisign` CLI with a fresh key on no card, with the trusted comment of a real reply to
    /// `designation`: (ciphertext, signature).
    pub fn forged_reply(&self, designation: &str, text: &str) -> (Vec<u8>, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = (dir.path().join("forger.key"), dir.path().join("forger.pub"));
        let made = Command::new("minisign")
            .args(["-G", "-W", "-f", "-p"])
            .arg(&public)
            .arg("-s")
            .arg(&key)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("the `minisign` CLI must be installed");
        assert!(made.success());
        let file = dir.path().join("forged.age");
        let ciphertext = self.seal(text.as_bytes());
        std::fs::write(&file, &ciphertext).unwrap();
        let signed = Command::new("minisign")
            .args(["-S", "-s"])
            .arg(&key)
            .arg("-m")
            .arg(&file)
            .args(["-t", &self.comment_for(designation)])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(signed.success());
        (ciphertext, std::fs::read(sig_path(&file)).unwrap())
    }

    /// A signature of `ciphertext` by the pinned reviewer's own signing key (the stock
    /// `minisign` CLI), with any trusted comment.
    pub fn sign_with_comment(&self, ciphertext: &[u8], comment: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("reply.age");
        std::fs::write(&file, ciphertext).unwrap();
        let mut key = self.key().into_os_string();
        key.push(".minisign");
        let signed = Command::new("minisign")
            .args(["-S", "-s"])
            .arg(&key)
            .arg("-m")
            .arg(&file)
            .args(["-t", comment])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
            .expect("the `minisign` CLI must be installed");
        assert!(signed.success());
        std::fs::read(sig_path(&file)).unwrap()
    }

    /// The trusted comment of a genuine reply to `designation`'s first submission in the bundle,
    /// signed for the source's recipient in the bundle.
    pub fn comment_for(&self, designation: &str) -> String {
        let dir = self.root().join("sources").join(designation);
        let recipient = std::fs::read_to_string(dir.join("recipient")).unwrap();
        let mut subs: Vec<String> = std::fs::read_dir(dir.join("submissions"))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        subs.sort();
        lanterne_offline::Signed {
            designation: designation.to_owned(),
            recipient: recipient.trim().to_owned(),
            id: random_hex(),
            after: subs
                .first()
                .cloned()
                .unwrap_or_else(|| "s0000000001-00".into()),
        }
        .comment()
    }

    pub fn open(&self) -> lanterne_offline::OpenReport {
        lanterne_offline::open(&self.root(), &self.key(), &self.out(), None).unwrap()
    }

    /// The file ciphertexts (not the manifest) of the submission folder `sub`.
    pub fn ciphertexts(&self, sub: &Path) -> Vec<PathBuf> {
        files::list(sub)
            .into_iter()
            .filter(|p| p.file_name().unwrap() != "manifest.age")
            .collect()
    }
}

/// Where the signature of `file` is: `<file>.minisig`.
pub fn sig_path(file: &Path) -> PathBuf {
    let mut p = file.as_os_str().to_owned();
    p.push(".minisig");
    PathBuf::from(p)
}

/// The age identity in the file `path` (the `AGE-SECRET-KEY-1…` line).
pub fn read_identity(path: &Path) -> age::x25519::Identity {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap()
        .parse()
        .unwrap()
}

/// A random 16-byte name in hex, as the server gives submissions and files.
pub fn random_hex() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Runs `BIN ARGS` (with `home` as `LANTERNE_REVIEW_HOME`) in a new network namespace (no
/// interface but a down loopback) under `strace`, and checks that it made no network system
/// call at all. Both tools are required (CI runs as root and installs strace): a missing one
/// fails the test.
pub fn run_offline(bin: &str, args: &[&str], home: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    let strace = Command::new("strace").arg("-V").output().is_ok();
    assert!(strace, "strace must be installed (scripts/install-deps)");
    let mut cmd = Command::new("unshare");
    cmd.arg("-n");
    if strace {
        let quiet = [
            "-f",
            "-qq",
            "-e",
            "trace=network",
            "-e",
            "signal=none",
            "-o",
        ];
        cmd.arg("strace").args(quiet).arg(&trace);
    }
    let out = cmd
        .arg(bin)
        .args(args)
        .env(HOME_ENV, home)
        .output()
        .unwrap();
    assert!(out.status.success(), "{bin} {args:?} failed: {out:?}");
    if strace {
        let calls = std::fs::read_to_string(&trace).unwrap();
        assert!(
            calls.trim().is_empty(),
            "{args:?} made network calls:\n{calls}"
        );
    }
}

/// Makes a reviewer's keys and card, pins the card, opens a bundle, imports it into the inbox
/// (`import`, `list`, `star`, `show`, `export`) and writes a signed reply
/// with `bin` (its offline commands after the words `prefix`: `["review"]` for
/// `lanterne review open`, none for `lanterne-review open`), each in a network namespace with
/// no interface, under `strace`.
pub fn offline_round_trip(bin: &str, prefix: &[&str]) {
    let unshare = Command::new("unshare").args(["-n", "true"]).status();
    assert!(
        unshare.is_ok_and(|s| s.success()),
        "`unshare -n` must work here (it needs root, as in CI)"
    );
    let b = TestBundle::new();
    b.add_source(SOURCE);
    b.add_submission("o", "hello", &[("a.txt", "text/plain", b"offline")]);
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let with_prefix = |args: &[&str]| -> Vec<String> {
        prefix.iter().chain(args).map(|a| a.to_string()).collect()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_offline(bin, &args, &b.home());
    };

    let new_key = b.dir.path().join("new.key");
    let new_card = b.dir.path().join("new.card");
    run([
        "keys",
        "new",
        "--out",
        &s(&new_key),
        "--public",
        &s(&new_card),
    ]
    .map(String::from)
    .to_vec());
    let text = std::fs::read_to_string(&new_key).unwrap();
    assert!(
        text.contains("AGE-SECRET-KEY-1"),
        "keys new wrote no identity"
    );
    let card = std::fs::read_to_string(&new_card).unwrap();
    assert!(card.contains("# minisign: RW"), "{card}");
    run(with_prefix(&["team", "add", &s(&new_card)]));
    // The bundle lists the whole pinned team: the bundle's reviewer and the new one.
    let new_recipient = read_identity(&new_key).to_public();
    std::fs::write(
        b.root().join("reviewers.txt"),
        format!("{}\n{new_recipient}\n", b.reviewer.to_public()),
    )
    .unwrap();

    let (root, key, out) = (s(&b.root()), s(&b.key()), s(&b.out()));
    run(with_prefix(&[
        "open",
        &root,
        "--identity",
        &key,
        "--out",
        &out,
    ]));
    let opened = b.out().join(SOURCE).join("o/a.txt");
    assert_eq!(std::fs::read(opened).unwrap(), b"offline");

    // The inbox's commands, likewise.
    run(with_prefix(&["import", &root, "--identity", &key]));
    run(with_prefix(&["list", "--identity", &key]));
    run(with_prefix(&["star", SOURCE]));
    run(with_prefix(&["show", SOURCE, "--identity", &key]));
    let exported = b.dir.path().join("exported");
    run(with_prefix(&[
        "export",
        SOURCE,
        "--identity",
        &key,
        "--out",
        &s(&exported),
    ]));
    assert_eq!(std::fs::read(exported.join("a.txt")).unwrap(), b"offline");

    let message = b.dir.path().join("m.txt");
    std::fs::write(&message, "reply").unwrap();
    let replies = b.dir.path().join("replies");
    let (message, replies_dir) = (s(&message), s(&replies));
    run(with_prefix(&[
        "reply",
        &root,
        "--source",
        SOURCE,
        "--message",
        &message,
        "--identity",
        &s(&new_key),
        "--out",
        &replies_dir,
    ]));
    let written = files::list(&replies.join(SOURCE));
    assert_eq!(written.len(), 2, "{written:?}");
    assert!(written.iter().any(|p| p.extension().unwrap() == "age"));
    assert!(written.iter().any(|p| p.extension().unwrap() == "minisig"));
}
