//! The reviewer bundle's format (docs/bundle.md), defined once: the networked workstation's
//! `fetch` writes bundles through this module and the offline machine reads them through it.
//!
//! A bundle is a folder: a marker file ([`MARKER`], the [`State`] with the format number), the
//! box's reviewer recipients ([`REVIEWERS`]), a `sha256sum(1)` file ([`SUMS`]) and the sources'
//! folders, at the paths [`recipient_path`], [`submission_file`], [`reply_file`] and
//! [`reply_signature_file`] give. Names the server chooses pass [`safe_name`] (or
//! `designation::is_valid`, or [`is_reply_id`]) before they become paths.
//!
//! Nothing here decrypts or touches the network. Writing is through [`crate::durable`].

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::AckItem;

/// The bundle format that this build writes and reads.
pub const FORMAT: u32 = 1;
/// The marker file, holding the [`State`] as JSON.
pub const MARKER: &str = "lanterne-bundle.json";
/// The checksums of every file under [`SOURCES`], `sha256sum(1)` format.
pub const SUMS: &str = "SHA256SUMS";
/// The box's reviewer recipients as the server listed them, age `-R` format.
pub const REVIEWERS: &str = "reviewers.txt";
/// The folder that holds one folder per source designation.
pub const SOURCES: &str = "sources";
/// The server's deletion records (`api::Deletion` lines) that `fetch` appends, listed in
/// [`SUMS`].
pub const DELETIONS: &str = "deletions.txt";

/// Largest marker file read.
pub(crate) const MAX_MARKER_BYTES: u64 = 64 << 10;
/// Largest [`SUMS`] read (about 700,000 files).
pub(crate) const MAX_SUMS_BYTES: u64 = 64 << 20;

/// `sources/<designation>/recipient`: the source's age recipient, one line.
pub fn recipient_path(designation: &str) -> String {
    format!("{SOURCES}/{designation}/recipient")
}

/// `sources/<designation>/submissions`: the folder of a source's submissions.
pub fn submissions_path(designation: &str) -> String {
    format!("{SOURCES}/{designation}/submissions")
}

/// `sources/<designation>/submissions/<id>/<name>`, the form [`SUMS`] uses.
pub fn submission_file(designation: &str, id: &str, name: &str) -> String {
    format!("{}/{id}/{name}", submissions_path(designation))
}

/// `sources/<designation>/replies`: the folder of the team's replies to a source.
pub fn replies_path(designation: &str) -> String {
    format!("{SOURCES}/{designation}/replies")
}

/// `sources/<designation>/replies/<id>.age`: a reply's ciphertext, the form [`SUMS`] uses.
pub fn reply_file(designation: &str, id: &str) -> String {
    format!("{}/{id}{REPLY_SUFFIX}", replies_path(designation))
}

/// `sources/<designation>/replies/<id>.age.minisig`: the reply's minisign signature, as the
/// server stored it beside the reply.
pub fn reply_signature_file(designation: &str, id: &str) -> String {
    format!("{}{SIGNATURE_SUFFIX}", reply_file(designation, id))
}

/// What a reply's id gains as a file name.
pub const REPLY_SUFFIX: &str = ".age";
/// What a reply's file name gains for its signature (minisign's own convention).
pub const SIGNATURE_SUFFIX: &str = ".minisig";

/// The number in the box's sequence that a server-chosen name carries: `s<seq>-…` for a
/// submission, `r<seq>-…` for a reply (zero-padded). `None` for any other name.
pub fn sequence_of(name: &str) -> Option<u64> {
    let (digits, _) = name.strip_prefix(['s', 'r'])?.split_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether `id` is a reply id as the server names replies: `r<seq>-<lower-case hex>`, a
/// [`safe_name`].
pub fn is_reply_id(id: &str) -> bool {
    id.starts_with('r')
        && safe_name(id)
        && sequence_of(id).is_some()
        && id.split_once('-').is_some_and(|(_, hash)| {
            !hash.is_empty()
                && hash
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// Whether a submission id or file name the server gave is a plain name that may become a
/// path component: ASCII letters, digits, `-`, `_` and `.`, not starting with `.`, at most
/// 100 bytes. Everything lanterne's server names passes.
pub fn safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The marker file's content.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// [`FORMAT`] when written by this build.
    pub format: u32,
    /// The server's cursor: every submission up to it is in the bundle.
    #[serde(default)]
    pub next: u64,
    /// Submissions fetched whole by a `fetch --ack` whose ack the server has not confirmed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub awaiting_ack: Vec<AckItem>,
}

impl Default for State {
    fn default() -> State {
        State {
            format: FORMAT,
            next: 0,
            awaiting_ack: Vec::new(),
        }
    }
}

/// Why a folder is not a bundle this build can use.
#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    #[error("{} is not a lanterne bundle (no valid {MARKER})", .0.display())]
    NotABundle(PathBuf),
    #[error("the bundle has format {0}, but this lanterne reads format {FORMAT}")]
    Format(u64),
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
}

impl State {
    /// Reads the whole state of the bundle at `root`, for the writer: `None` if there is no
    /// marker yet; a marker of another format, or with fields this build does not know, is an
    /// error (rewriting it would lose them).
    pub fn read(root: &Path) -> Result<Option<State>, MarkerError> {
        let Some(bytes) = read_marker(root)? else {
            return Ok(None);
        };
        let format = format_of(root, &bytes)?;
        if format != u64::from(FORMAT) {
            return Err(MarkerError::Format(format));
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| MarkerError::NotABundle(root.to_owned()))
    }

    /// Writes the state atomically (temp file, fsync, rename).
    pub fn write(&self, root: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        crate::durable::replace(&root.join(MARKER), &bytes)
    }
}

/// Checks the marker of the bundle at `root`, for readers: they look at its format alone, so
/// fields a newer writer adds do not stop them.
pub fn check_format(root: &Path) -> Result<(), MarkerError> {
    let bytes = read_marker(root)?.ok_or_else(|| MarkerError::NotABundle(root.to_owned()))?;
    match format_of(root, &bytes)? {
        f if f == u64::from(FORMAT) => Ok(()),
        other => Err(MarkerError::Format(other)),
    }
}

fn read_marker(root: &Path) -> Result<Option<Vec<u8>>, MarkerError> {
    let path = root.join(MARKER);
    match read_capped(&path, MAX_MARKER_BYTES) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(MarkerError::Read { path, source }),
    }
}

fn format_of(root: &Path, bytes: &[u8]) -> Result<u64, MarkerError> {
    /// Only the field every format has.
    #[derive(Deserialize)]
    struct Format {
        format: u64,
    }
    serde_json::from_slice::<Format>(bytes)
        .map(|f| f.format)
        .map_err(|_| MarkerError::NotABundle(root.to_owned()))
}

/// What [`SUMS`] says about one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listed {
    Sum([u8; 32]),
    /// Listed twice with different sums: trusted neither way.
    Conflict,
}

/// Why a file of the bundle is not trusted.
#[derive(Debug)]
pub enum Integrity {
    NotListed,
    Conflict,
    Missing,
    NotAFile,
    /// A folder on the path is a symlink.
    SymlinkOnPath,
    Mismatch,
    Unreadable(io::Error),
}

impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Integrity::NotListed => write!(f, "not listed in {SUMS}"),
            Integrity::Conflict => write!(f, "listed twice in {SUMS} with different sums"),
            Integrity::Missing => write!(f, "missing from the bundle"),
            Integrity::NotAFile => write!(f, "not a regular file (a symlink or a folder)"),
            Integrity::SymlinkOnPath => {
                write!(f, "a folder on its path is a symlink (never followed)")
            }
            Integrity::Mismatch => write!(f, "does not match its {SUMS} line (damaged)"),
            Integrity::Unreadable(e) => write!(f, "cannot be read: {e}"),
        }
    }
}

/// The bundle's [`SUMS`]: relative path to SHA-256.
#[derive(Debug, Default, Clone)]
pub struct Sums {
    entries: BTreeMap<String, Listed>,
}

impl Sums {
    /// Reads `sha256sum` lines: `<64 hex>  <path>` (or ` *<path>`, binary mode). Lines that
    /// are not of that form are returned as problems, for the reader's report.
    pub fn parse(text: &str) -> (Sums, Vec<String>) {
        let mut sums = Sums::default();
        let mut problems = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let parsed = line.split_once(' ').and_then(|(hash, rest)| {
                let path = rest.strip_prefix([' ', '*'])?;
                let mut sum = [0u8; 32];
                hex::decode_to_slice(hash, &mut sum).ok()?;
                Some((path, sum))
            });
            let Some((path, sum)) = parsed else {
                problems.push(format!("{SUMS} line {} is not `<sha256>  <path>`", i + 1));
                continue;
            };
            let entry = match sums.entries.get(path) {
                Some(Listed::Sum(old)) if *old != sum => Listed::Conflict,
                Some(old) => *old,
                None => Listed::Sum(sum),
            };
            sums.entries.insert(path.to_owned(), entry);
        }
        (sums, problems)
    }

    /// Reads the [`SUMS`] of the bundle at `root`; a missing file is an empty list when
    /// `missing_ok` (a bundle being written for the first time).
    pub fn read(root: &Path, missing_ok: bool) -> io::Result<(Sums, Vec<String>)> {
        match read_capped(&root.join(SUMS), MAX_SUMS_BYTES) {
            Ok(bytes) => Ok(Sums::parse(&String::from_utf8_lossy(&bytes))),
            Err(e) if missing_ok && e.kind() == io::ErrorKind::NotFound => {
                Ok((Sums::default(), Vec::new()))
            }
            Err(e) => Err(e),
        }
    }

    /// What the list says about `rel`.
    pub(crate) fn get(&self, rel: &str) -> Option<Listed> {
        self.entries.get(rel).copied()
    }

    /// Whether `rel` is listed at all (even with conflicting sums).
    pub fn contains(&self, rel: &str) -> bool {
        self.entries.contains_key(rel)
    }

    /// The one sum listed for `rel`; `None` if it is not listed, or listed with conflicting
    /// sums (trusted neither way).
    pub fn sum(&self, rel: &str) -> Option<[u8; 32]> {
        match self.get(rel) {
            Some(Listed::Sum(s)) => Some(s),
            _ => None,
        }
    }

    /// Whether `rel` is listed with exactly this sum (hex, as the reviewer API gives it).
    pub fn lists(&self, rel: &str, sha256_hex: &str) -> bool {
        matches!(self.get(rel), Some(Listed::Sum(s)) if hex::encode(s) == sha256_hex)
    }

    /// Lists `rel` with `sum`, replacing what was there.
    pub fn insert(&mut self, rel: String, sum: [u8; 32]) {
        self.entries.insert(rel, Listed::Sum(sum));
    }

    /// The `sha256sum(1)` text, in path order. A path listed with conflicting sums is left
    /// out (it is not trusted, so it is fetched again).
    pub(crate) fn to_text(&self) -> String {
        self.entries
            .iter()
            .filter_map(|(p, l)| match l {
                Listed::Sum(s) => Some(format!("{}  {p}\n", hex::encode(s))),
                Listed::Conflict => None,
            })
            .collect()
    }

    /// Writes the list into the bundle at `root` atomically.
    pub fn write(&self, root: &Path) -> io::Result<()> {
        crate::durable::replace(&root.join(SUMS), self.to_text().as_bytes())
    }

    /// Checks one file of the bundle at `root`, by its relative path, against the list. A
    /// symlink is refused, never followed.
    pub fn verify(&self, root: &Path, rel: &str) -> Result<(), Integrity> {
        self.open_checked(root, rel)?.finish().map(|_| ())
    }

    /// Opens one file of the bundle at `root` to be checked against the list while it is read:
    /// one pass that checks and uses it (copies or decrypts it), instead of a pass that checks
    /// and a second that uses bytes which may have changed since. Whatever was made from the
    /// bytes is kept only if [`CheckedFile::finish`] then says they were the listed ones. A
    /// path that is not listed (or listed twice), missing, or not a regular file is refused
    /// here, before anything is read; a symlink, for the file or any folder on its path, is
    /// refused, never followed.
    pub fn open_checked(&self, root: &Path, rel: &str) -> Result<CheckedFile, Integrity> {
        let expected = match self.get(rel) {
            None => return Err(Integrity::NotListed),
            Some(Listed::Conflict) => return Err(Integrity::Conflict),
            Some(Listed::Sum(s)) => s,
        };
        let path = root.join(rel);
        // Every folder between the bundle and the file is a real one, not a symlink.
        let mut folder = root.to_owned();
        for part in Path::new(rel)
            .parent()
            .into_iter()
            .flat_map(Path::components)
        {
            folder.push(part);
            match std::fs::symlink_metadata(&folder) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Integrity::Missing),
                Err(e) => return Err(Integrity::Unreadable(e)),
                Ok(m) if m.file_type().is_symlink() => return Err(Integrity::SymlinkOnPath),
                Ok(_) => {}
            }
        }
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Integrity::Missing),
            Err(e) => return Err(Integrity::Unreadable(e)),
            Ok(m) if !m.is_file() => return Err(Integrity::NotAFile),
            Ok(_) => {}
        }
        let file = File::open(&path).map_err(Integrity::Unreadable)?;
        let len = match file.metadata() {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => return Err(Integrity::NotAFile),
            Err(e) => return Err(Integrity::Unreadable(e)),
        };
        Ok(CheckedFile {
            file,
            hasher: Hasher::for_len(len),
            expected,
        })
    }
}

/// Size of the blocks that bundle files are read, copied and decrypted in: an age chunk.
/// Larger blocks make fewer system calls but fall out of the CPU's cache between the read, the
/// hash, the decryption and the write (measured: 1 MiB blocks cost more kernel time copying
/// into the page cache than 64 KiB ones; BENCHMARKS.md, issue 14).
pub const READ_BUFFER: usize = 64 << 10;

/// Files at least this long are hashed on a helper thread while the caller uses the bytes
/// (on two cores, the hash then costs no time beside the copy or the decryption).
const HASH_THREAD_MIN: u64 = 8 << 20;

/// Blocks in flight to the hashing thread: how far the caller may run ahead of it.
const HASH_BLOCKS: usize = 16;

/// A bundle file being read and hashed in one pass ([`Sums::open_checked`]).
pub struct CheckedFile {
    file: File,
    hasher: Hasher,
    expected: [u8; 32],
}

/// Where the bytes read are hashed.
enum Hasher {
    Here(Sha256),
    /// A thread that hashes copies of the blocks read, in order, and hands the emptied
    /// blocks back.
    Thread {
        blocks: std::sync::mpsc::SyncSender<Vec<u8>>,
        spare: std::sync::mpsc::Receiver<Vec<u8>>,
        thread: std::thread::JoinHandle<[u8; 32]>,
    },
}

impl Hasher {
    fn for_len(len: u64) -> Hasher {
        if len < HASH_THREAD_MIN {
            return Hasher::Here(Sha256::new());
        }
        let (blocks, todo) = std::sync::mpsc::sync_channel::<Vec<u8>>(HASH_BLOCKS);
        let (give_back, spare) = std::sync::mpsc::sync_channel::<Vec<u8>>(HASH_BLOCKS);
        for _ in 0..HASH_BLOCKS {
            let _ = give_back.send(Vec::with_capacity(READ_BUFFER));
        }
        let spawned = std::thread::Builder::new()
            .name("bundle-hash".into())
            .spawn(move || {
                let mut hasher = Sha256::new();
                for block in todo {
                    hasher.update(&block);
                    let _ = give_back.try_send(block);
                }
                hasher.finalize().into()
            });
        match spawned {
            Ok(thread) => Hasher::Thread {
                blocks,
                spare,
                thread,
            },
            // No thread to be had: hashed here, as small files are.
            Err(_) => Hasher::Here(Sha256::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Hasher::Here(h) => h.update(bytes),
            Hasher::Thread { blocks, spare, .. } => {
                let gone = || io::Error::other("the hashing thread stopped");
                let mut block = spare.recv().map_err(|_| gone())?;
                block.clear();
                block.extend_from_slice(bytes);
                blocks.send(block).map_err(|_| gone())?;
            }
        }
        Ok(())
    }

    fn finalize(self) -> io::Result<[u8; 32]> {
        match self {
            Hasher::Here(h) => Ok(h.finalize().into()),
            Hasher::Thread { blocks, thread, .. } => {
                drop(blocks);
                thread
                    .join()
                    .map_err(|_| io::Error::other("the hashing thread panicked"))
            }
        }
    }
}

impl Read for CheckedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.hasher.update(&buf[..n])?;
        Ok(n)
    }
}

impl CheckedFile {
    /// Reads what is left of the file, then compares the whole file's hash with the listed
    /// one; returns it if they match.
    pub fn finish(mut self) -> Result<[u8; 32], Integrity> {
        let mut buf = vec![0u8; READ_BUFFER];
        loop {
            match self.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Integrity::Unreadable(e)),
            }
        }
        let sum = self.hasher.finalize().map_err(Integrity::Unreadable)?;
        if sum == self.expected {
            Ok(sum)
        } else {
            Err(Integrity::Mismatch)
        }
    }
}

/// The SHA-256 of a file's content.
pub fn sha256_file(path: &Path) -> io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(hasher.finalize().into()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads a whole file, refusing more than `max` bytes.
pub fn read_capped(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    File::open(path)?
        .take(max.saturating_add(1))
        .read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(io::Error::other(format!(
            "larger than the {max} bytes allowed"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(b: &[u8]) -> [u8; 32] {
        Sha256::digest(b).into()
    }

    #[test]
    fn written_bundles_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert!(State::read(root).unwrap().is_none());
        assert!(matches!(
            check_format(root),
            Err(MarkerError::NotABundle(_))
        ));
        let state = State {
            next: 7,
            awaiting_ack: vec![AckItem {
                designation: "brave-otter-41".into(),
                id: "abc".into(),
            }],
            ..State::default()
        };
        state.write(root).unwrap();
        assert_eq!(State::read(root).unwrap(), Some(state));
        check_format(root).unwrap();

        let rel = submission_file("brave-otter-41", "abc", "manifest.age");
        assert_eq!(rel, "sources/brave-otter-41/submissions/abc/manifest.age");
        std::fs::create_dir_all(root.join("sources/brave-otter-41/submissions/abc")).unwrap();
        std::fs::write(root.join(&rel), b"ciphertext").unwrap();
        let mut sums = Sums::default();
        sums.insert(rel.clone(), sum(b"ciphertext"));
        sums.insert(recipient_path("brave-otter-41"), sum(b"age1x\n"));
        sums.write(root).unwrap();
        let (back, problems) = Sums::read(root, false).unwrap();
        assert!(problems.is_empty());
        back.verify(root, &rel).unwrap();
        assert!(back.lists(&rel, &hex::encode(sum(b"ciphertext"))));
        assert!(matches!(
            back.verify(root, &recipient_path("brave-otter-41")),
            Err(Integrity::Missing)
        ));
        // The text is what sha256sum(1) writes, so `sha256sum -c` checks it too.
        assert_eq!(
            std::fs::read_to_string(root.join(SUMS)).unwrap(),
            format!(
                "{}  sources/brave-otter-41/recipient\n{}  {rel}\n",
                hex::encode(sum(b"age1x\n")),
                hex::encode(sum(b"ciphertext"))
            )
        );
    }

    #[test]
    fn bundles_written_before_this_module_still_read() {
        // Exactly as fetch wrote them before: a compact marker without `awaiting_ack`,
        // or a pretty one with it, and sha256sum lines.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join(MARKER), r#"{"format":1}"#).unwrap();
        check_format(root).unwrap();
        assert_eq!(State::read(root).unwrap().unwrap().next, 0);
        std::fs::write(
            root.join(MARKER),
            "{\n  \"format\": 1,\n  \"next\": 3,\n  \"awaiting_ack\": [\n    {\n      \
             \"designation\": \"brave-otter-41\",\n      \"id\": \"x\"\n    }\n  ]\n}",
        )
        .unwrap();
        let state = State::read(root).unwrap().unwrap();
        assert_eq!((state.next, state.awaiting_ack.len()), (3, 1));
        // A reader ignores fields a newer writer adds; the writer refuses to drop them.
        std::fs::write(root.join(MARKER), r#"{"format":1,"later":true}"#).unwrap();
        check_format(root).unwrap();
        assert!(State::read(root).is_err());
        std::fs::write(root.join(MARKER), r#"{"format":2}"#).unwrap();
        assert!(matches!(check_format(root), Err(MarkerError::Format(2))));
        assert!(matches!(State::read(root), Err(MarkerError::Format(2))));
        std::fs::write(root.join(MARKER), "not json").unwrap();
        assert!(matches!(
            check_format(root),
            Err(MarkerError::NotABundle(_))
        ));
    }

    #[test]
    fn sums_keep_conflicts_untrusted_and_report_bad_lines() {
        let hello = hex::encode(sum(b"hello"));
        let other = hex::encode(sum(b"other"));
        let text = format!(
            "{hello}  sources/a/x\n{hello} *sources/a/bin\n{hello}  t\n{other}  t\nbad line\n"
        );
        let (sums, problems) = Sums::parse(&text);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(sums.get("sources/a/bin"), Some(Listed::Sum(sum(b"hello"))));
        assert_eq!(sums.get("t"), Some(Listed::Conflict));
        assert_eq!(sums.sum("t"), None);
        assert_eq!(sums.sum("sources/a/x"), Some(sum(b"hello")));
        assert_eq!(sums.sum("absent"), None);
        assert!(!sums.to_text().contains("  t\n"));
    }

    #[test]
    fn reply_paths_and_sequence_numbers() {
        let id = "r0000000042-0123abcd";
        assert!(is_reply_id(id));
        assert_eq!(sequence_of(id), Some(42));
        assert_eq!(sequence_of("s0000000007-ff00"), Some(7));
        assert_eq!(
            reply_signature_file("brave-otter-41", id),
            "sources/brave-otter-41/replies/r0000000042-0123abcd.age.minisig"
        );
        for bad in [
            "r-00ab",
            "rx1-00ab",
            "r12-",
            "r12-XYZ",
            "s12-00ab",
            "r12-00ab/..",
            "r12-00.ab",
            "",
        ] {
            assert!(!is_reply_id(bad), "{bad:?}");
        }
        assert_eq!(sequence_of("zz-first"), None);
        assert_eq!(sequence_of("s+1-ab"), None);
    }

    #[test]
    fn safe_names_are_one_plain_component() {
        for ok in ["abc-1", "manifest.age", "f_0.age", "9f0e-AB"] {
            assert!(safe_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", ".hidden", "a/b", "a\\b", "a b", "é", "a\0"] {
            assert!(!safe_name(bad), "{bad:?}");
        }
        assert!(!safe_name(&"a".repeat(101)));
    }
}
