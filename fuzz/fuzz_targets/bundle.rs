//! Fuzzes the reviewer-side reading of a bundle (docs/bundle.md), i.e. `lanterne review open`
//! and the inbox's `review import`, `show` and `export`, on input that came from the networked
//! side. The first byte picks what the rest of the
//! input is:
//!
//! - 0: an untrusted name, run through `lanterne::review::names`: `sanitize`, `NameSet::claim`
//!   (one name per line), `shown`, `scrubbed`, `is_server_name`, `designation::is_valid`;
//! - 1: the bundle's `SHA256SUMS`;
//! - 2: the plaintext of a submission's manifest (encrypted to the reviewer by the harness,
//!   with a matching `SHA256SUMS`), so the names, types and `stored_as` values are hostile;
//! - 3: the bundle's `lanterne-bundle.json`;
//! - the byte `4` (checked before the others): a team reply in the bundle, its ciphertext the
//!   bytes up to the first NUL and its `.minisig` the rest, both listed in `SHA256SUMS`, as
//!   `fetch` writes them (a reviewer's signing key is pinned, so a signature that parses is
//!   verified against it).
//!
//! Modes 1-3 call the public `lanterne::review::open` on a small bundle in a temp folder
//! (tmpfs when there is one) holding one source with one real submission (a manifest and one
//! file, encrypted to a throwaway reviewer identity). `Bundle::parse_sums` itself is private,
//! so this is the only way in. In `SHA256SUMS` inputs, `@M@`, `@F@` and `@R@` stand for the
//! real SHA-256 of the manifest, of the file and of the source's recipient, so seeds can list
//! them correctly.
//!
//! Asserts: no panic. `sanitize` gives one plain, non-empty path component of at most 120
//! bytes that is not `.` or `..`, starts with no dot, and holds no `/`, `\`, control or
//! unportable character; `claim` never hands out a name twice (ignoring case); `shown` and
//! `scrubbed` output no control character; a server name is one plain component. After
//! `review::open`, everything written is inside the output folder, every saved name is one
//! component saved at `OUT/<designation>/<id>/<name>`, and the report prints. Then
//! `review import` into a fresh inbox, `show` (no control character but newlines in its
//! text) and `export` (only plain files with one-component names in the output folder).
#![no_main]

use std::collections::HashSet;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use age::secrecy::ExposeSecret;
use lanterne::designation::is_valid as is_designation;
use lanterne::manifest::{FileEntry, Manifest, VERSION};
use lanterne::review::names::{is_server_name, sanitize, scrubbed, shown, NameSet};
use lanterne::review::SubmissionStatus;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

#[path = "../common/tmp.rs"]
mod tmp;

const DESIGNATION: &str = "brave-otter-41";
const REPLY: &str = "r0000000002-0123abcd";
/// A minisign public key for the pinned card.
const SIGNING_KEY: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";
const SUBMISSION: &str = "s1-0123abcd";
const FILE_ID: &str = "f0123abcd.age";
/// The submission's one file: a small PDF with an Info dictionary, so the metadata reader
/// runs on what `review open` saves.
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj\n<< /Author (Jane Doe) /Producer (x) >>\nendobj\ntrailer\n<< /Info 1 0 R >>\n%%EOF\n";

struct Fixture {
    dir: tempfile::TempDir,
    recipient: age::x25519::Recipient,
    /// The good encrypted manifest and its SHA-256.
    manifest: Vec<u8>,
    manifest_sum: String,
    file_sum: String,
}

impl Fixture {
    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }
    fn submission(&self) -> PathBuf {
        self.bundle()
            .join("sources")
            .join(DESIGNATION)
            .join("submissions")
            .join(SUBMISSION)
    }
    fn identity(&self) -> PathBuf {
        self.dir.path().join("reviewer.key")
    }
    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }
    fn rel(name: &str) -> String {
        format!("sources/{DESIGNATION}/submissions/{SUBMISSION}/{name}")
    }
    /// A `SHA256SUMS` listing the manifest, the file and the source's recipient correctly.
    fn good_sums(&self, manifest_sum: &str) -> String {
        format!(
            "{manifest_sum}  {}\n{}  {}\n{}  sources/{DESIGNATION}/recipient\n",
            Fixture::rel("manifest.age"),
            self.file_sum,
            Fixture::rel(FILE_ID),
            sha256_hex(format!("{}\n", self.recipient).as_bytes())
        )
    }
    fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let r = &self.recipient as &dyn age::Recipient;
        let enc = age::Encryptor::with_recipients(std::iter::once(r)).unwrap();
        let mut out = Vec::new();
        let mut w = enc.wrap_output(&mut out).unwrap();
        w.write_all(plaintext).unwrap();
        w.finish().unwrap();
        out
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn setup() -> Fixture {
    let dir = tmp::dir("bundle");
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public();
    std::fs::write(
        dir.path().join("reviewer.key"),
        format!("{}\n", identity.to_string().expose_secret()),
    )
    .unwrap();
    let mut f = Fixture {
        dir,
        recipient,
        manifest: Vec::new(),
        manifest_sum: String::new(),
        file_sum: String::new(),
    };
    let sub = f.submission();
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(
        f.bundle()
            .join("sources")
            .join(DESIGNATION)
            .join("recipient"),
        format!("{}\n", f.recipient),
    )
    .unwrap();
    std::fs::write(
        f.bundle().join("reviewers.txt"),
        format!("{}\n", f.recipient),
    )
    .unwrap();
    // The reviewer's card: the recipient and a minisign key (whose secret nobody has here).
    let card = lanterne::card::Card {
        name: "fuzz".into(),
        recipient: f.recipient.to_string(),
        minisign: Some(SIGNING_KEY.into()),
    };
    std::fs::write(f.dir.path().join("reviewer.card"), card.to_string()).unwrap();
    let file = f.encrypt(PDF);
    std::fs::write(sub.join(FILE_ID), &file).unwrap();
    f.file_sum = sha256_hex(&file);
    let manifest = Manifest {
        version: VERSION,
        received: "2025-01-01".into(),
        message: "hello".into(),
        files: vec![FileEntry {
            name: "../report.pdf".into(),
            content_type: "application/pdf".into(),
            size: PDF.len() as u64,
            stored_as: FILE_ID.into(),
        }],
    };
    let manifest = f.encrypt(&manifest.to_padded_json());
    std::fs::write(sub.join("manifest.age"), &manifest).unwrap();
    f.manifest_sum = sha256_hex(&manifest);
    f.manifest = manifest;
    write_marker(&f, br#"{"format":1}"#);
    std::fs::write(f.bundle().join("SHA256SUMS"), f.good_sums(&f.manifest_sum)).unwrap();
    f
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(setup)
}

fn write_marker(f: &Fixture, bytes: &[u8]) {
    std::fs::write(f.bundle().join("lanterne-bundle.json"), bytes).unwrap();
}

fn replace(text: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

fn is_one_component(name: &str) -> bool {
    let mut comps = Path::new(name).components();
    matches!(comps.next(), Some(Component::Normal(_))) && comps.next().is_none()
}

fn check_names(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let mut set = NameSet::with_reserved(&["message.txt", "manifest.txt"]);
    let mut claimed = HashSet::new();
    for (i, line) in text.split('\n').enumerate() {
        let name = sanitize(line, i + 1);
        assert!(
            !name.is_empty() && name.len() <= 120,
            "{line:?} -> {name:?}"
        );
        assert!(
            name != "." && name != ".." && !name.starts_with('.'),
            "{line:?} -> {name:?}"
        );
        assert!(
            !name.chars().any(|c| c.is_control()
                || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')),
            "{line:?} -> {name:?}"
        );
        assert!(is_one_component(&name), "{line:?} -> {name:?}");
        assert_eq!(name, name.trim(), "{line:?} -> {name:?}");
        let got = set.claim(&name);
        assert!(
            claimed.insert(got.to_lowercase()),
            "{got:?} handed out twice"
        );
        assert!(got.to_lowercase() != "message.txt" && got.to_lowercase() != "manifest.txt");
    }
    for out in [shown(&text), scrubbed(&text)] {
        assert!(!out.chars().any(char::is_control), "{out:?}");
    }
    if is_designation(&text) {
        assert!(is_server_name(&text));
    }
    if is_server_name(&text) {
        assert!(is_one_component(&text) && text != "." && text != "..");
    }
}

/// Whether to print what each `review open` gave (`LANTERNE_FUZZ_VERBOSE=1`).
fn verbose() -> bool {
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("LANTERNE_FUZZ_VERBOSE").is_some())
}

fn open_bundle(f: &Fixture) {
    let out = f.out();
    let result = lanterne::review::open(&f.bundle(), &f.identity(), &out, None);
    if verbose() {
        match &result {
            Ok(r) => eprintln!(
                "review open: {} submission(s), opened {}, incomplete {}, failed {}, {} problem(s)",
                r.submissions.len(),
                r.count(SubmissionStatus::Opened),
                r.count(SubmissionStatus::Incomplete),
                r.count(SubmissionStatus::Failed),
                r.problems.len()
            ),
            Err(e) => eprintln!("review open: {e}"),
        }
    }
    if let Ok(report) = result {
        let _ = report.to_string();
        for sub in &report.submissions {
            for file in &sub.files {
                assert!(
                    is_one_component(&file.saved_name),
                    "saved name {:?}",
                    file.saved_name
                );
                if let Some(saved) = &file.saved {
                    // OUT/<designation>/<id or id.incomplete>/<saved name>, nothing else.
                    let rel = saved
                        .strip_prefix(&out)
                        .unwrap_or_else(|_| panic!("saved outside the output folder: {saved:?}"));
                    assert!(
                        rel.components().count() == 3
                            && rel.components().all(|c| matches!(c, Component::Normal(_)))
                            && rel.file_name() == Some(file.saved_name.as_ref()),
                        "saved as {saved:?}"
                    );
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    import_bundle(f);
    // Nothing may appear beside the bundle, the identity, the output folder and the inbox.
    for entry in std::fs::read_dir(f.dir.path()).unwrap().flatten() {
        let name = entry.file_name();
        assert!(
            name == "bundle"
                || name == "reviewer.key"
                || name == "reviewer.card"
                || name == "out"
                || name == "home",
            "review open or the inbox wrote {name:?} outside their folders"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(f.dir.path().join("home"));
}

/// `review import` of the same bundle into a fresh inbox, then `show` and `export`: the
/// inbox holds only what `SHA256SUMS` vouches for, and exports stay in their folder.
fn import_bundle(f: &Fixture) {
    let home = lanterne::review::ReviewHome::at(&f.dir.path().join("home")).unwrap();
    // A pinned team whose card has a signing key, so replies' signatures are verified.
    home.add_card(&f.dir.path().join("reviewer.card")).unwrap();
    let result = lanterne::review::import(&f.bundle(), &f.identity(), None, &home);
    if verbose() {
        match &result {
            Ok(r) => eprintln!("review import: {r}"),
            Err(e) => eprintln!("review import: {e}"),
        }
    }
    let Ok(report) = result else { return };
    let _ = report.to_string();
    if report.added.is_empty() && report.replies_added.is_empty() {
        return;
    }
    // The replies' typed view (the TUI's), then `show`, which prints them.
    let _ = lanterne::review::thread_replies(&home, DESIGNATION, &f.identity(), None);
    let shown = lanterne::review::show(&home, DESIGNATION, &f.identity(), None).unwrap();
    assert!(!shown.chars().any(|c| c.is_control() && c != '\n'), "{:?}", *shown);
    let out = f.out();
    let exported = lanterne::review::export(&home, DESIGNATION, &f.identity(), None, &out);
    if exported.is_ok() {
        for entry in std::fs::read_dir(&out).unwrap().flatten() {
            let name = entry.file_name().into_string().unwrap();
            assert!(is_one_component(&name), "exported as {name:?}");
            assert!(entry.file_type().unwrap().is_file(), "{name:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode == b'4' {
        let f = fixture();
        let at = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        let (reply, signature) = (&rest[..at], rest.get(at + 1..).unwrap_or_default());
        let dir = f.bundle().join("sources").join(DESIGNATION).join("replies");
        std::fs::create_dir_all(&dir).unwrap();
        let rel = format!("sources/{DESIGNATION}/replies/{REPLY}.age");
        std::fs::write(f.bundle().join(&rel), reply).unwrap();
        std::fs::write(f.bundle().join(format!("{rel}.minisig")), signature).unwrap();
        let sums = format!(
            "{}{}  {rel}\n{}  {rel}.minisig\n",
            f.good_sums(&f.manifest_sum),
            sha256_hex(reply),
            sha256_hex(signature)
        );
        std::fs::write(f.bundle().join("SHA256SUMS"), sums).unwrap();
        open_bundle(f);
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::write(f.bundle().join("SHA256SUMS"), f.good_sums(&f.manifest_sum)).unwrap();
        return;
    }
    match mode % 4 {
        0 => check_names(rest),
        1 => {
            let f = fixture();
            let sums = replace(rest, b"@M@", f.manifest_sum.as_bytes());
            let sums = replace(&sums, b"@F@", f.file_sum.as_bytes());
            let recipient_sum = sha256_hex(format!("{}\n", f.recipient).as_bytes());
            let sums = replace(&sums, b"@R@", recipient_sum.as_bytes());
            std::fs::write(f.bundle().join("SHA256SUMS"), sums).unwrap();
            open_bundle(f);
            std::fs::write(f.bundle().join("SHA256SUMS"), f.good_sums(&f.manifest_sum)).unwrap();
        }
        2 => {
            let f = fixture();
            let manifest = f.encrypt(rest);
            let path = f.submission().join("manifest.age");
            std::fs::write(&path, &manifest).unwrap();
            std::fs::write(
                f.bundle().join("SHA256SUMS"),
                f.good_sums(&sha256_hex(&manifest)),
            )
            .unwrap();
            open_bundle(f);
            // Put back the good manifest and sums for the other modes.
            std::fs::write(&path, &f.manifest).unwrap();
            std::fs::write(f.bundle().join("SHA256SUMS"), f.good_sums(&f.manifest_sum)).unwrap();
        }
        _ => {
            let f = fixture();
            write_marker(f, rest);
            open_bundle(f);
            write_marker(f, br#"{"format":1}"#);
        }
    }
});
