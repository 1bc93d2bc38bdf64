//! Fuzzes the inbox's `review import` (`lanterne::review::import`) on a whole bundle folder
//! built from the input, then `list` and `show`: the bundle comes from the networked side, so
//! its folder layout, names, sums and ciphertexts are all hostile.
//!
//! The input is a program of small steps, each putting one thing into the bundle folder:
//! - a file at `sources/<designation>/submissions/<id>/<name>` (each part picked from a few
//!   real ones or taken from the input as one path component), holding raw bytes from the
//!   input or those bytes sealed with age to the reviewer;
//! - a manifest there, sealed to the reviewer, listing files whose names, sizes and
//!   `stored_as` come from the input;
//! - a symlink there, to a file outside the bundle or to `/etc/hostname`;
//! - a source's `recipient` (the real one or bytes from the input);
//! - a raw line in `SHA256SUMS`.
//!
//! Each file's `SHA256SUMS` line is, as the input says, right, wrong, missing, or listed twice
//! with two sums. The reviewer is the fixed throwaway identity in `reply_check.identity`; the
//! real source is a fixed test key whose designation is derived from it.
//!
//! Asserts: no panic; nothing outside the review home is created, changed or removed (the
//! bundle, the identity file and a file beside them are compared byte for byte); a second
//! import of the same bundle adds nothing and changes not a byte of the home; `list` and
//! `show` of every designation used do not panic, and print no control character but
//! newlines.
#![no_main]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use lanterne::manifest::{FileEntry, Manifest, VERSION};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

#[path = "../common/tmp.rs"]
mod tmp;

/// The reviewer (a throwaway key, shared with `reply_check`).
const IDENTITY: &str = include_str!("reply_check.identity");
/// The source: a throwaway test key (the offline crate's tests use it too).
const SOURCE_KEY: &str =
    "AGE-SECRET-KEY-1CR57NL0XFELEUFJ233X6EZKC7NPXY6L6REUJ2XUWEMTF63M4NFVSSJ98D2";

struct Keys {
    reviewer: age::x25519::Recipient,
    source: String,
    designation: String,
    base: tempfile::TempDir,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let line = IDENTITY
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-"))
            .expect("key line");
        let reviewer = age::x25519::Identity::from_str(line).expect("identity");
        let source = age::x25519::Identity::from_str(SOURCE_KEY)
            .expect("source key")
            .to_public()
            .to_string();
        Keys {
            reviewer: reviewer.to_public(),
            designation: lanterne::designation::of_recipient(&source),
            source,
            base: tmp::dir("import"),
        }
    })
}

/// Reads the input a byte or a slice at a time; past the end, zeros and empty slices.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = (usize::from(self.byte()) * 8).min(max).min(self.0.len());
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        taken.to_vec()
    }
    /// One path component: a real name, or one from the input (refused if it is not one
    /// plain component).
    fn part(&mut self, real: &[&str]) -> Option<String> {
        let pick = usize::from(self.byte());
        if let Some(name) = real.get(pick % (real.len() + 1)) {
            return Some((*name).to_owned());
        }
        let raw = String::from_utf8_lossy(&self.bytes(64)).into_owned();
        let plain = !raw.is_empty() && raw != "." && raw != ".." && !raw.contains(['/', '\0']);
        plain.then_some(raw)
    }
}

fn seal(plaintext: &[u8]) -> Vec<u8> {
    let r = &keys().reviewer as &dyn age::Recipient;
    let enc = age::Encryptor::with_recipients(std::iter::once(r)).expect("encryptor");
    let mut out = Vec::new();
    let mut w = enc.wrap_output(&mut out).expect("wrap");
    w.write_all(plaintext).expect("seal");
    w.finish().expect("finish");
    out
}

const IDS: [&str; 2] = ["s0000000001-0a1b2c", "s0000000002-3d4e5f"];
const NAMES: [&str; 3] = ["manifest.age", "f0a1b2c3d.age", "f4e5f6a7b.age"];

/// Builds the bundle the input describes in `bundle`; returns the designations it used.
fn build(input: &mut Input<'_>, bundle: &Path, outside: &Path) -> Vec<String> {
    let k = keys();
    std::fs::create_dir_all(bundle.join("sources")).unwrap();
    std::fs::write(bundle.join("lanterne-bundle.json"), br#"{"format": 1}"#).unwrap();
    std::fs::write(bundle.join("reviewers.txt"), format!("{}\n", k.reviewer)).unwrap();
    let mut sums = String::new();
    let mut designations = vec![k.designation.clone()];
    for _ in 0..24 {
        if input.0.is_empty() {
            break;
        }
        let op = input.byte();
        let Some(designation) = input.part(&[&k.designation, "brave-otter-41"]) else {
            continue;
        };
        if !designations.contains(&designation) {
            designations.push(designation.clone());
        }
        let source = bundle.join("sources").join(&designation);
        if op % 6 == 4 {
            let _ = std::fs::create_dir_all(&source);
            let bytes = if input.byte() % 2 == 0 {
                format!("{}\n", k.source).into_bytes()
            } else {
                input.bytes(200)
            };
            let _ = std::fs::write(source.join("recipient"), &bytes);
            add_sum(
                &mut sums,
                &format!("sources/{designation}/recipient"),
                &bytes,
                input,
            );
            continue;
        }
        if op % 6 == 5 {
            sums.push_str(&String::from_utf8_lossy(&input.bytes(200)));
            sums.push('\n');
            continue;
        }
        let (Some(id), Some(name)) = (input.part(&IDS), input.part(&NAMES)) else {
            continue;
        };
        let dir = source.join("submissions").join(&id);
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(&name);
        let rel = format!("sources/{designation}/submissions/{id}/{name}");
        let bytes = match op % 6 {
            0 => input.bytes(4096),
            1 => seal(&input.bytes(4096)),
            2 => seal(&manifest(input)),
            _ => {
                let target = if input.byte() % 2 == 0 {
                    outside.to_owned()
                } else {
                    PathBuf::from("/etc/hostname")
                };
                let _ = std::os::unix::fs::symlink(&target, &path);
                let listed = std::fs::read(&target).unwrap_or_default();
                add_sum(&mut sums, &rel, &listed, input);
                continue;
            }
        };
        let _ = std::fs::write(&path, &bytes);
        add_sum(&mut sums, &rel, &bytes, input);
    }
    std::fs::write(bundle.join("SHA256SUMS"), sums).unwrap();
    designations
}

/// A manifest whose files come from the input.
fn manifest(input: &mut Input<'_>) -> Vec<u8> {
    let mut files = Vec::new();
    for _ in 0..usize::from(input.byte() % 4) {
        let name = String::from_utf8_lossy(&input.bytes(40)).into_owned();
        let stored_as = input.part(&NAMES[1..]).unwrap_or_default();
        files.push(FileEntry {
            name,
            content_type: "application/octet-stream".into(),
            size: u64::from(input.byte()) * 16,
            stored_as,
        });
    }
    Manifest {
        version: VERSION,
        received: "2026-12-06".into(),
        message: String::from_utf8_lossy(&input.bytes(100)).into_owned(),
        files,
    }
    .to_padded_json()
    .to_vec()
}

/// The `SHA256SUMS` line(s) for `rel`: right, wrong, none, or two different ones.
fn add_sum(sums: &mut String, rel: &str, bytes: &[u8], input: &mut Input<'_>) {
    let right = hex::encode(Sha256::digest(bytes));
    let wrong = hex::encode(Sha256::digest([bytes, b"x"].concat()));
    match input.byte() % 4 {
        0 | 1 => sums.push_str(&format!("{right}  {rel}\n")),
        2 => sums.push_str(&format!("{wrong}  {rel}\n")),
        _ => sums.push_str(&format!("{right}  {rel}\n{wrong}  {rel}\n")),
    }
}

/// Every entry under `dir` (not following symlinks) with its bytes or link target.
fn snapshot(dir: &Path, skip: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path == skip {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            out.insert(path.clone(), b"<dir>".to_vec());
            snapshot(&path, skip, out);
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).unwrap_or_default();
            out.insert(path, target.into_os_string().into_encoded_bytes());
        } else {
            out.insert(path.clone(), std::fs::read(&path).unwrap_or_default());
        }
    }
}

fn printable(text: &str) -> bool {
    text.chars().all(|c| c == '\n' || !c.is_control())
}

fuzz_target!(|data: &[u8]| {
    let k = keys();
    let run = tempfile::tempdir_in(k.base.path()).expect("run dir");
    let root = run.path();
    let (bundle, home_dir, identity, outside) = (
        root.join("bundle"),
        root.join("home"),
        root.join("reviewer.key"),
        root.join("outside.txt"),
    );
    std::fs::write(&identity, IDENTITY).unwrap();
    std::fs::write(&outside, b"a file beside the bundle, never to be touched").unwrap();
    let designations = build(&mut Input(data), &bundle, &outside);
    let mut before = BTreeMap::new();
    snapshot(root, &home_dir, &mut before);

    let home = lanterne::review::ReviewHome::at(&home_dir).expect("home");
    let first = lanterne::review::import(&bundle, &identity, None, &home);
    let mut after_first = BTreeMap::new();
    snapshot(&home_dir, Path::new(""), &mut after_first);
    let second = lanterne::review::import(&bundle, &identity, None, &home);
    if let (Ok(_), Ok(again)) = (&first, &second) {
        assert!(
            again.added.is_empty(),
            "a replayed bundle added {:?}",
            again.added
        );
        let mut after_second = BTreeMap::new();
        snapshot(&home_dir, Path::new(""), &mut after_second);
        assert!(
            after_first == after_second,
            "a replayed import changed the home"
        );
    }
    if let Ok(text) = lanterne::review::list(&home, &identity, None) {
        assert!(printable(&text), "{:?}", *text);
    }
    for d in &designations {
        if let Ok(text) = lanterne::review::show(&home, d, &identity, None) {
            assert!(printable(&text), "{:?}", *text);
        }
    }
    let mut after = BTreeMap::new();
    snapshot(root, &home_dir, &mut after);
    assert!(before == after, "something outside the review home changed");
});
