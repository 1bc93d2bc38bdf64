//! `review open`: decrypts every new submission of a bundle into the output folder.
//!
//! For each submission not yet opened: check `manifest.age` against `SHA256SUMS`, decrypt it,
//! then decrypt each file streaming into a temp file while its ciphertext is hashed (one read),
//! and keep it only if age authenticated the whole stream (age detects truncation and
//! tampering only at the end) and the ciphertext matched its `SHA256SUMS` line. Everything is written into a hidden staging folder beside the final one, which is
//! renamed into place at the end: `<id>/` if every file made it, `<id>.incomplete/` if not.
//! A folder `<id>/` therefore means "complete", and re-running skips it. The server's deletion
//! records the bundle carries (`deletions.txt`) are listed in the report every time.

use std::collections::HashSet;
use std::fs;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use zeroize::Zeroizing;

use super::bundle::{read_capped, Bundle};
use super::identity::{self, Identities};
use super::names::{sanitize, shown, NameSet};
use super::report::{manifest_text, FileReport, OpenReport, SubmissionReport, SubmissionStatus};
use super::{metadata, ReviewError};
use lanterne_core::bundle::READ_BUFFER;
use lanterne_core::manifest::{self, Manifest};
use lanterne_core::padding::{self, PAD_BYTE};
use lanterne_core::{durable, seal};

/// Largest manifest read (ciphertext) and decrypted (plaintext).
const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// Prefix of staging folders; leftovers from a killed run are removed on the next run.
const STAGING_PREFIX: &str = ".lanterne-opening-";

const MESSAGE_FILE: &str = "message.txt";
const MANIFEST_FILE: &str = "manifest.txt";

/// `lanterne review open BUNDLE --identity FILE --out DIR`.
///
/// Decrypts every submission of `bundle` not already in `out` into
/// `out/<designation>/<submission id>/` (or `<id>.incomplete/` if some file was damaged),
/// with the files under their sanitized original names, `message.txt` and `manifest.txt`.
/// `passphrase` is needed only for a passphrase-protected identity file (see
/// [`super::identity_needs_passphrase`] and [`super::identity::passphrase_from_env_or_tty`]).
pub fn open(
    bundle: &Path,
    identity_file: &Path,
    out: &Path,
    passphrase: Option<SecretString>,
) -> Result<OpenReport, ReviewError> {
    let bundle = Bundle::open(bundle)?;
    let identities = identity::load(identity_file, passphrase)?;
    make_private_dir(out)?;
    let mut report = OpenReport {
        out: out.to_owned(),
        problems: bundle.problems.clone(),
        ..OpenReport::default()
    };
    report.deletions = bundle
        .deletions(&mut report.problems)
        .iter()
        .map(|d| d.describe())
        .collect();
    for source in bundle.sources(&mut report.problems)? {
        let dest = out.join(&source.designation);
        let mut prepared = false;
        for id in &source.submissions {
            if dest.join(id).is_dir() {
                report.submissions.push(SubmissionReport::new(
                    &source.designation,
                    id,
                    SubmissionStatus::AlreadyOpened,
                ));
                continue;
            }
            if !prepared {
                make_private_dir(&dest)?;
                remove_stale_staging(&dest);
                prepared = true;
            }
            let sub = Submission {
                bundle: &bundle,
                identities: &identities,
                designation: &source.designation,
                id,
                dest: &dest,
            };
            report.submissions.push(sub.open()?);
        }
    }
    Ok(report)
}

/// One submission being opened (by `review open`, or read from the inbox, which is a folder
/// of the bundle format: `inbox.rs`).
pub(crate) struct Submission<'a> {
    pub(crate) bundle: &'a Bundle,
    pub(crate) identities: &'a Identities,
    pub(crate) designation: &'a str,
    pub(crate) id: &'a str,
    /// `OUT/<designation>/` (unused by [`Submission::manifest`] and [`Submission::file`]).
    pub(crate) dest: &'a Path,
}

impl Submission<'_> {
    /// Opens the submission. Damage is reported; only local write failures are errors.
    fn open(&self) -> Result<SubmissionReport, ReviewError> {
        let mut report = SubmissionReport::new(self.designation, self.id, SubmissionStatus::Failed);
        let manifest = match self.manifest() {
            Ok(m) => m,
            Err(problem) => {
                report.problems.push(problem);
                return Ok(report);
            }
        };
        report.received = Some(manifest.received.clone());
        if manifest.files.len() > manifest::MAX_FILES {
            report.problems.push(format!(
                "{} lists {} files, more than the {} any lanterne box accepts; nothing was \
                 opened. The server may be compromised: tell the box's operator",
                manifest::FILE_NAME,
                manifest.files.len(),
                manifest::MAX_FILES
            ));
            return Ok(report);
        }
        let staging = tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .tempdir_in(self.dest)
            .map_err(|source| write_error(self.dest, source))?;
        let mut names = NameSet::with_reserved(&[MESSAGE_FILE, MANIFEST_FILE]);
        let mut ciphertexts = HashSet::new();
        for (i, entry) in manifest.files.iter().enumerate() {
            let mut file = FileReport {
                sent_name: entry.name.clone(),
                content_type: entry.content_type.clone(),
                size: entry.size,
                saved_name: names.claim(&sanitize(&entry.name, i + 1)),
                saved: None,
                metadata: Vec::new(),
                notes: Vec::new(),
                risks: Vec::new(),
                problems: Vec::new(),
            };
            // One ciphertext listed under many entries would be decrypted and written again
            // for each: only its first entry is opened.
            let first = ciphertexts.insert(entry.stored_as.as_str());
            let opened = if first {
                self.file(entry, staging.path(), &file.saved_name)
            } else {
                Err(format!(
                    "the manifest lists {} more than once; opened only for its first entry",
                    shown(&entry.stored_as)
                ))
            };
            match opened {
                Ok(note) => {
                    file.problems.extend(note);
                    let inspection = metadata::inspect(&staging.path().join(&file.saved_name));
                    file.metadata = inspection.findings;
                    file.notes = inspection.notes;
                    file.risks = inspection.risks;
                    file.saved = Some(PathBuf::from(&file.saved_name));
                }
                Err(problem) => file.problems.push(problem),
            }
            report.files.push(file);
        }
        let listed: Vec<&str> = manifest
            .files
            .iter()
            .map(|f| f.stored_as.as_str())
            .collect();
        for extra in self.bundle.submission_files(self.designation, self.id) {
            if extra != manifest::FILE_NAME && !listed.contains(&extra.as_str()) {
                report.problems.push(format!(
                    "{} is in the bundle but not in the manifest; ignored",
                    shown(&extra)
                ));
            }
        }
        if !manifest.message.is_empty() {
            write_private(
                &staging.path().join(MESSAGE_FILE),
                manifest.message.as_bytes(),
            )?;
            report.message_saved = true;
        }
        let complete = report.files.iter().all(|f| f.saved.is_some());
        report.status = if complete {
            SubmissionStatus::Opened
        } else {
            SubmissionStatus::Incomplete
        };
        write_private(
            &staging.path().join(MANIFEST_FILE),
            manifest_text(&report, manifest.message.len()).as_bytes(),
        )?;
        // An incomplete folder from an earlier run is ours to replace, and a complete one
        // supersedes it.
        let incomplete = self.dest.join(format!("{}.incomplete", self.id));
        let remove_incomplete = || match fs::remove_dir_all(&incomplete) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(write_error(&incomplete, e)),
            _ => Ok(()),
        };
        let final_dir = if complete {
            self.dest.join(self.id)
        } else {
            remove_incomplete()?;
            incomplete.clone()
        };
        fs::rename(staging.path(), &final_dir).map_err(|source| write_error(&final_dir, source))?;
        let _ = staging.keep();
        if complete {
            remove_incomplete()?;
        }
        sync_dir(self.dest);
        for file in &mut report.files {
            file.saved = file.saved.as_ref().map(|name| final_dir.join(name));
        }
        report.folder = Some(final_dir);
        Ok(report)
    }

    /// Checks and decrypts the manifest, in memory.
    pub(crate) fn manifest(&self) -> Result<Manifest, String> {
        let rel =
            lanterne_core::bundle::submission_file(self.designation, self.id, manifest::FILE_NAME);
        self.bundle
            .verify(&rel)
            .map_err(|e| format!("{}: {e}; fetch the bundle again", manifest::FILE_NAME))?;
        let ciphertext = read_capped(&self.bundle.root().join(&rel), MAX_MANIFEST_BYTES)
            .map_err(|e| format!("{}: {e}", manifest::FILE_NAME))?;
        let plaintext = self.decrypt_small(&ciphertext).map_err(|e| {
            format!(
                "{}: {e}. Is this the right identity file for this box?",
                manifest::FILE_NAME
            )
        })?;
        Manifest::parse(&plaintext).map_err(|e| format!("{}: {e}", manifest::FILE_NAME))
    }

    /// Whether the manifest is sealed to none of these identities: it matches its `SHA256SUMS`
    /// line and age finds no key for them in its header, so the identity file given is not one
    /// this submission was encrypted to. A manifest that is missing or damaged is not that (a
    /// damaged header stanza also reads as "no matching key"; it says nothing about the key).
    pub(crate) fn not_for_these_keys(&self) -> bool {
        let rel =
            lanterne_core::bundle::submission_file(self.designation, self.id, manifest::FILE_NAME);
        if self.bundle.verify(&rel).is_err() {
            return false;
        }
        let Ok(ciphertext) = read_capped(&self.bundle.root().join(&rel), MAX_MANIFEST_BYTES) else {
            return false;
        };
        matches!(
            seal::open_small_with(&ciphertext, self.identities(), MAX_MANIFEST_BYTES),
            Err(seal::OpenError::NoMatchingKeys)
        )
    }

    fn decrypt_small(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        seal::open_small_with(ciphertext, self.identities(), MAX_MANIFEST_BYTES).map_err(
            |e| match e {
                seal::OpenError::TooLarge(_) => "larger than any manifest lanterne writes".into(),
                other => other.to_string(),
            },
        )
    }

    pub(crate) fn identities(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.identities
            .iter()
            .map(|i| i.as_ref() as &dyn age::Identity)
    }

    /// Decrypts one file's ciphertext with `body`, checking it against the sums in the same
    /// pass ([`Bundle::open_checked`]): `body` gets the decrypting reader, and its outcome is
    /// returned only if the whole ciphertext then matched its `SHA256SUMS` line. A mismatch is
    /// reported as such even when age also failed (the bundle is damaged: fetch it again), and
    /// whatever `body` made from a mismatching file is for the caller to drop.
    fn decrypt_checked<T>(
        &self,
        stored: &str,
        body: impl FnOnce(&mut dyn Read) -> Result<T, String>,
    ) -> Result<T, String> {
        check_ciphertext_name(stored).map_err(|e| format!("{e}; not opened"))?;
        let rel = lanterne_core::bundle::submission_file(self.designation, self.id, stored);
        let not_opened = |e: &dyn std::fmt::Display| {
            format!("{stored}: {e}; not opened. Fetch the bundle again")
        };
        let mut checked = self.bundle.open_checked(&rel).map_err(|e| not_opened(&e))?;
        let outcome = match seal::decrypt(
            BufReader::with_capacity(seal::MAX_HEADER_BYTES + READ_BUFFER, &mut checked),
            self.identities(),
        ) {
            Ok(mut reader) => body(&mut reader),
            Err(e) => Err(format!("{stored}: {e}; not opened")),
        };
        checked.finish().map_err(|e| not_opened(&e))?;
        outcome
    }

    /// Checks and decrypts one file into memory, if the manifest declares at most `max`
    /// bytes (`Ok(None)` if it declares more). A stream longer than declared, truncated or
    /// tampered with is an error.
    pub(crate) fn file_bytes(
        &self,
        entry: &manifest::FileEntry,
        max: u64,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, String> {
        if entry.size > max {
            return Ok(None);
        }
        let stored = &entry.stored_as;
        self.decrypt_checked(stored, |reader| {
            // Reserved up front: growing a Vec would leave copies of the plaintext in freed
            // memory (the zeroizing allocator clears them too; this avoids them).
            let mut out = Zeroizing::new(Vec::with_capacity(entry.size as usize + 1));
            let length = copy_declared(reader, entry.size, &mut *out)
                .map_err(|e| format!("{stored} is damaged or truncated ({e})"))?;
            if let Length::Long = length {
                return Err(format!("{stored} {}", too_long(entry.size)));
            }
            Ok(Some(out))
        })
    }

    /// Checks and decrypts one file into `dir/name`, never over an existing file. `Ok` may
    /// carry a remark. The plaintext goes to a temp file that is synced and renamed into place
    /// only once age authenticated the whole stream and the ciphertext matched its sum.
    pub(crate) fn file(
        &self,
        entry: &manifest::FileEntry,
        dir: &Path,
        name: &str,
    ) -> Result<Option<String>, String> {
        let stored = &entry.stored_as;
        let tmp = tempfile::Builder::new()
            .prefix(".lanterne-part-")
            .tempfile_in(dir)
            .map_err(|e| format!("cannot create a temp file in {}: {e}", dir.display()))?;
        let length = self.decrypt_checked(stored, |reader| {
            let mut writer = durable::EarlySync::new(tmp.as_file());
            let length = copy_declared(reader, entry.size, &mut writer).map_err(|e| {
                format!("{stored} is damaged or truncated ({e}); nothing was saved for it")
            })?;
            writer
                .finish()
                .map_err(|e| format!("cannot save {name} in {}: {e}", dir.display()))?;
            Ok(length)
        })?;
        if let Length::Long = length {
            return Err(format!("{stored} {}; not saved", too_long(entry.size)));
        }
        durable::keep(tmp, &dir.join(name), false)
            .map_err(|e| format!("cannot save {name} in {}: {e}", dir.display()))?;
        Ok(match length {
            Length::Short(copied) => Some(format!(
                "{copied} bytes, but the manifest declares {}; saved as it decrypted",
                entry.size
            )),
            _ => None,
        })
    }
}

/// How a decrypted file's length compares with what its manifest declares.
pub(crate) enum Length {
    /// The declared bytes, then the padding a box writes ([`padding::is_stored_length`]).
    Declared,
    /// The stream ended after this many bytes, fewer than declared.
    Short(u64),
    /// More than the declared bytes and their padding, or padding that is not [`PAD_BYTE`]s.
    Long,
}

/// The one length check of a decrypted file: copies the first `declared` bytes of `plain` to
/// `out` and reads what follows, which must be its bucket's padding (`review open`, `export`,
/// `show`, the TUI's export and `import` all check here). It reads to the end of the
/// stream, so that age authenticates its last chunk, but never more than one byte past the
/// padding; the padding is read into a buffer cleared when dropped, and written nowhere.
pub(crate) fn copy_declared(
    plain: &mut dyn Read,
    declared: u64,
    out: &mut dyn io::Write,
) -> io::Result<Length> {
    let copied = copy_in_blocks(&mut plain.take(declared), out)?;
    if copied < declared {
        return Ok(Length::Short(copied));
    }
    let mut rest = plain.take(padding::padding_len(declared) + 1);
    let mut buf = Zeroizing::new(vec![0u8; READ_BUFFER]);
    let (mut extra, mut only_padding) = (0u64, true);
    loop {
        match rest.read(&mut buf[..]) {
            Ok(0) => break,
            Ok(n) => {
                extra += n as u64;
                only_padding &= buf[..n].iter().all(|&b| b == PAD_BYTE);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(
        if only_padding && padding::is_stored_length(declared, declared + extra) {
            Length::Declared
        } else {
            Length::Long
        },
    )
}

/// What [`Length::Long`] says, after the file's name.
pub(crate) fn too_long(declared: u64) -> String {
    format!("holds more than the {declared} bytes its manifest declares and their padding")
}

/// Copies `input` to `out` in blocks of [`READ_BUFFER`] bytes (a decrypting reader gives less
/// than an age chunk on some reads; one write per full block instead), through a buffer
/// cleared when dropped.
pub(crate) fn copy_in_blocks(input: &mut dyn Read, out: &mut dyn io::Write) -> io::Result<u64> {
    let mut buf = Zeroizing::new(vec![0u8; READ_BUFFER]);
    let mut total = 0;
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            match input.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if filled == 0 {
            return Ok(total);
        }
        out.write_all(&buf[..filled])?;
        total += filled as u64;
    }
}

/// Refuses a manifest's `stored_as` that is not a ciphertext name lanterne writes
/// (`<server name>.age`, not the manifest itself).
pub(crate) fn check_ciphertext_name(stored: &str) -> Result<(), String> {
    let plain = stored
        .strip_suffix(".age")
        .is_some_and(super::names::is_server_name);
    if !plain || stored == manifest::FILE_NAME {
        return Err(format!(
            "the manifest names its ciphertext {}, which is not a file name lanterne writes",
            shown(stored)
        ));
    }
    Ok(())
}

pub(crate) fn write_error(path: &Path, source: io::Error) -> ReviewError {
    ReviewError::Write {
        path: path.to_owned(),
        source,
    }
}

/// Creates `dir` (and its parents) private to the user, if missing.
pub(crate) fn make_private_dir(dir: &Path) -> Result<(), ReviewError> {
    lanterne_core::durable::create_private_dir_all(dir).map_err(|source| write_error(dir, source))
}

/// Writes a new file, mode 0600, and syncs it (its staging folder is synced when renamed).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ReviewError> {
    durable::write_new(path, bytes, 0o600).map_err(|source| write_error(path, source))
}

/// Removes staging folders left by a run that was killed (they hold partial plaintext).
fn remove_stale_staging(dest: &Path) {
    let Ok(entries) = fs::read_dir(dest) else {
        return;
    };
    for e in entries.flatten() {
        let stale = e.file_name().to_string_lossy().starts_with(STAGING_PREFIX)
            && e.file_type().is_ok_and(|t| t.is_dir());
        if stale {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Makes a rename in `dir` durable; best effort (some filesystems refuse directory fsync).
pub(crate) fn sync_dir(dir: &Path) {
    let _ = durable::fsync_dir(dir);
}
