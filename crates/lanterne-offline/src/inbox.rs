//! The persistent offline inbox (issue 14): `review import` merges bundles into it, and
//! `review list`, `show`, `export`, `star` read it (`inbox_read.rs`).
//!
//! The inbox is `LANTERNE_REVIEW_HOME/inbox/`, and it is itself a folder of the bundle format
//! (docs/bundle.md): a marker, `SHA256SUMS` and `sources/<designation>/…` holding **only
//! ciphertext**, copied from bundles. So it is read with the same code as a bundle
//! ([`Bundle`], [`Submission`]), every file is checked against the inbox's own `SHA256SUMS`
//! in the same pass that decrypts it (what was decrypted is used only if the whole file
//! matched), and plaintext exists only in memory (and in `review export`'s
//! output folder). Beside them, `state.json` holds the inbox's small state: each
//! submission's place in the inbox's sequence (the order it was imported, and within one
//! import the server's order, which its ids carry; no clock time), what was seen, which
//! sources are starred. Each command holds an exclusive lock on `inbox/lock` while it runs.
//!
//! `SHA256SUMS` is the commit point: a submission is in the inbox once its `manifest.age` is
//! listed there. Import copies each new submission into a hidden staging folder, checking every
//! byte against the bundle's sums while it copies, renames it into place, and then rewrites
//! the inbox's `SHA256SUMS` durably; a folder left by a killed import is not listed, and is
//! replaced by the next import. A file the inbox already holds is never copied again, and one
//! the bundle lists with another hash is refused before anything is written: a server does
//! not rewrite history. The team's replies are imported the same way, beside the
//! submissions (`inbox_replies.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use lanterne_core::bundle::{self as format, Sums};
use lanterne_core::{durable, manifest};
use serde::{Deserialize, Serialize};

use crate::bundle::{read_capped, Bundle};
use crate::home::ReviewHome;
use crate::identity;
use crate::open::{make_private_dir, write_error, Submission};
use crate::ReviewError;

/// The inbox's folder inside `LANTERNE_REVIEW_HOME`.
pub(crate) const INBOX_DIR: &str = "inbox";
/// The inbox's small state.
const STATE_FILE: &str = "state.json";
/// Largest `state.json` read.
const MAX_STATE_BYTES: u64 = 64 << 20;
/// The lock file, in the inbox's root.
const LOCK_FILE: &str = "lock";
/// Prefix of the staging folders of an import, in the inbox's root.
pub(crate) const STAGING_PREFIX: &str = ".lanterne-importing-";

/// The inbox's `state.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct State {
    /// The next number of the inbox's sequence.
    next_seq: u64,
    /// `designation/submission id` → its number in the inbox's sequence.
    order: BTreeMap<String, u64>,
    /// `designation/submission id` shown by `review show`.
    seen: BTreeSet<String>,
    /// Starred designations.
    starred: BTreeSet<String>,
}

/// `designation/submission id`, the key of [`State`]'s sets.
pub(crate) fn key(designation: &str, id: &str) -> String {
    format!("{designation}/{id}")
}

/// The inbox: its folder, its sums and its state, read under its lock.
pub(crate) struct Inbox {
    root: PathBuf,
    pub(crate) sums: Sums,
    pub(crate) state: State,
    /// An exclusive `flock` on `inbox/lock`, held while this command reads and writes, so two
    /// commands at once (an import and a `star`) cannot lose each other's updates.
    _lock: File,
}

/// One submission the inbox holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    pub(crate) seq: u64,
    pub(crate) designation: String,
    pub(crate) id: String,
    pub(crate) seen: bool,
}

impl Held {
    /// The number a person reads and says: the box's own sequence number in the submission's
    /// id (`s0000000007-…` is #7), the same in `list`, `show`, the transcript and the TUI.
    pub(crate) fn number(&self) -> u64 {
        format::sequence_of(&self.id).unwrap_or(self.seq)
    }
}

impl Inbox {
    /// The inbox of `home`, created (0700, with its marker) if missing.
    pub(crate) fn open(home: &ReviewHome) -> Result<Inbox, ReviewError> {
        let root = home.dir().join(INBOX_DIR);
        make_private_dir(&root.join(format::SOURCES))?;
        // Only a missing marker is written: one of another format is left for
        // `Bundle::open` to refuse, never overwritten.
        if matches!(format::State::read(&root), Ok(None)) {
            format::State::default()
                .write(&root)
                .map_err(|e| write_error(&root.join(format::MARKER), e))?;
        }
        let lock_path = root.join(LOCK_FILE);
        let lock = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| write_error(&lock_path, e))?;
        // Waits for another command on this inbox to finish.
        lock.lock().map_err(|e| write_error(&lock_path, e))?;
        let (sums, problems) = Sums::read(&root, true).map_err(|source| ReviewError::Read {
            path: root.join(format::SUMS),
            source,
        })?;
        if !root.join(format::SUMS).exists() {
            sums.write(&root)
                .map_err(|e| write_error(&root.join(format::SUMS), e))?;
        }
        if let Some(p) = problems.first() {
            return Err(damaged(&root.join(format::SUMS), p));
        }
        let path = root.join(STATE_FILE);
        let state = match read_capped(&path, MAX_STATE_BYTES) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| damaged(&path, &e))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => State::default(),
            Err(source) => return Err(ReviewError::Read { path, source }),
        };
        let mut inbox = Inbox {
            root,
            sums,
            state,
            _lock: lock,
        };
        // Submissions committed by an import killed before it wrote the state get their
        // number now, in name order.
        for (d, id) in inbox.committed()? {
            inbox.number(&d, &id);
        }
        Ok(inbox)
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The inbox read as a bundle.
    pub(crate) fn as_bundle(&self) -> Result<Bundle, ReviewError> {
        Bundle::open(&self.root)
    }

    /// Every (designation, id) whose manifest `SHA256SUMS` lists, in name order.
    fn committed(&self) -> Result<Vec<(String, String)>, ReviewError> {
        let mut out = Vec::new();
        for source in self.as_bundle()?.sources(&mut Vec::new())? {
            for id in source.submissions {
                if self.holds(&source.designation, &id) {
                    out.push((source.designation.clone(), id));
                }
            }
        }
        Ok(out)
    }

    fn holds(&self, designation: &str, id: &str) -> bool {
        self.sums.contains(&format::submission_file(
            designation,
            id,
            manifest::FILE_NAME,
        ))
    }

    /// Gives the submission the next number of the inbox's sequence, if it has none.
    fn number(&mut self, designation: &str, id: &str) {
        let k = key(designation, id);
        if !self.state.order.contains_key(&k) {
            self.state.order.insert(k, self.state.next_seq);
            self.state.next_seq += 1;
        }
    }

    /// Every submission held, in the inbox's sequence.
    pub(crate) fn held(&self) -> Result<Vec<Held>, ReviewError> {
        let mut out: Vec<Held> = self
            .committed()?
            .into_iter()
            .map(|(designation, id)| {
                let k = key(&designation, &id);
                Held {
                    seq: self.state.order.get(&k).copied().unwrap_or(u64::MAX),
                    seen: self.state.seen.contains(&k),
                    designation,
                    id,
                }
            })
            .collect();
        out.sort_by_key(|h| h.seq);
        Ok(out)
    }

    /// The submissions of one source, in order; an error if the inbox has none of it.
    pub(crate) fn thread(&self, designation: &str) -> Result<Vec<Held>, ReviewError> {
        if !lanterne_core::designation::is_valid(designation) {
            return Err(ReviewError::BadDesignation(designation.to_owned()));
        }
        let thread: Vec<Held> = self
            .held()?
            .into_iter()
            .filter(|h| h.designation == designation)
            .collect();
        if thread.is_empty() && crate::inbox_replies::held(self, designation).is_empty() {
            return Err(ReviewError::NotInInbox(designation.to_owned()));
        }
        Ok(thread)
    }

    pub(crate) fn is_starred(&self, designation: &str) -> bool {
        self.state.starred.contains(designation)
    }

    /// Stars or unstars a source the inbox holds, durably.
    pub(crate) fn set_star(&mut self, designation: &str, on: bool) -> Result<(), ReviewError> {
        self.thread(designation)?;
        if on {
            self.state.starred.insert(designation.to_owned());
        } else {
            self.state.starred.remove(designation);
        }
        self.save_state()
    }

    /// Marks submissions seen, durably.
    pub(crate) fn mark_seen(&mut self, held: &[Held]) -> Result<(), ReviewError> {
        for h in held {
            self.state.seen.insert(key(&h.designation, &h.id));
        }
        self.save_state()
    }

    /// Writes `state.json` durably.
    pub(crate) fn save_state(&self) -> Result<(), ReviewError> {
        let path = self.root.join(STATE_FILE);
        let bytes = serde_json::to_vec_pretty(&self.state).map_err(io::Error::other);
        bytes
            .and_then(|b| durable::replace(&path, &b))
            .map_err(|e| write_error(&path, e))
    }
}

fn damaged(path: &Path, what: &dyn std::fmt::Display) -> ReviewError {
    ReviewError::InboxDamaged {
        path: path.to_owned(),
        message: what.to_string(),
    }
}

/// What `review import` did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// `designation / id` of each submission added, in the order imported.
    pub added: Vec<String>,
    /// Submissions the inbox already held.
    pub already: usize,
    /// Submissions not imported (damaged, or not for this identity); the next import retries.
    pub skipped: Vec<String>,
    /// Files imported whole (their ciphertext is what the bundle lists) that do not decrypt
    /// with this identity, or not to the size their manifest declares.
    pub unreadable: Vec<String>,
    /// Problems with the bundle itself.
    pub problems: Vec<String>,
    /// The server's deletion records in the bundle, as sentences.
    pub deletions: Vec<String>,
    /// `designation / reply id` of each reply of the team added.
    pub replies_added: Vec<String>,
    /// Replies the inbox already held.
    pub replies_already: usize,
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} submission(s) added to the inbox, {} already there, {} not imported",
            self.added.len(),
            self.already,
            self.skipped.len()
        )?;
        for a in &self.added {
            writeln!(f, "  added {a}")?;
        }
        if !self.replies_added.is_empty() || self.replies_already > 0 {
            writeln!(
                f,
                "{} reply(ies) of the team added, {} already there",
                self.replies_added.len(),
                self.replies_already
            )?;
        }
        for s in &self.skipped {
            writeln!(
                f,
                "  NOT IMPORTED {s} (the next import tries again; fetch the bundle again)"
            )?;
        }
        for u in &self.unreadable {
            writeln!(
                f,
                "  WARNING {u}. Its ciphertext is kept as the server gave it: tell the team, \
                 and ask the source to send it again"
            )?;
        }
        if !self.deletions.is_empty() {
            writeln!(
                f,
                "\nThe server's deletion records ({}, as the server reports them):",
                format::DELETIONS
            )?;
            for d in &self.deletions {
                writeln!(f, "  {}", crate::names::scrubbed(d))?;
            }
        }
        if !self.problems.is_empty() {
            writeln!(f, "\nBundle problems:")?;
            for p in &self.problems {
                writeln!(f, "  {}", crate::names::scrubbed(p))?;
            }
        }
        Ok(())
    }
}

/// `review import BUNDLE --identity FILE`: merges the bundle into the inbox of `home`.
pub fn import(
    bundle: &Path,
    identity_file: &Path,
    passphrase: Option<SecretString>,
    home: &ReviewHome,
) -> Result<ImportReport, ReviewError> {
    let bundle = Bundle::open(bundle)?;
    let identities = identity::load(identity_file, passphrase)?;
    let mut inbox = Inbox::open(home)?;
    let mut report = ImportReport {
        problems: bundle.problems.clone(),
        ..ImportReport::default()
    };
    report.deletions = bundle
        .deletions(&mut report.problems)
        .iter()
        .map(|d| d.describe())
        .collect();
    let sources = bundle.sources(&mut report.problems)?;
    // First, before anything is written: every file the inbox holds must be listed by the
    // bundle with the same hash, or not at all (a bundle only grows). The files are the
    // inbox's, so one the bundle lists but left out is checked too.
    let held_bundle = inbox.as_bundle()?;
    for (designation, id) in inbox.committed()? {
        let mut rels = vec![format::recipient_path(&designation)];
        for name in held_bundle.submission_files(&designation, &id) {
            rels.push(format::submission_file(&designation, &id, &name));
        }
        for rel in rels {
            let held = inbox.sums.sum(&rel);
            let listed = bundle.sums().contains(&rel);
            if inbox.sums.contains(&rel) && listed && bundle.sums().sum(&rel) != held {
                let listed = bundle.sums().sum(&rel).map(hex::encode);
                return Err(ReviewError::HistoryRewritten {
                    rel,
                    held: held.map(hex::encode).unwrap_or_default(),
                    bundle: listed.unwrap_or_else(|| {
                        format!("listed twice in the bundle's {}", format::SUMS)
                    }),
                });
            }
        }
    }
    crate::inbox_replies::check_history(&inbox, &bundle)?;
    crate::inbox_key::check_bundle(&bundle, &identities, identity_file, &sources)?;
    remove_stale_staging(inbox.root());
    let root = inbox.root().to_owned();
    let mut added = Vec::new();
    for source in &sources {
        for id in &source.submissions {
            if inbox.holds(&source.designation, id) {
                report.already += 1;
                continue;
            }
            let sub = Submission {
                bundle: &bundle,
                identities: &identities,
                designation: &source.designation,
                id,
                dest: &root,
            };
            match copy_submission(&sub, &mut inbox) {
                Ok(problems) => {
                    added.push((source.designation.clone(), id.clone()));
                    report.unreadable.extend(problems.iter().map(|p| {
                        format!(
                            "{} / {id}: {}",
                            source.designation,
                            crate::names::scrubbed(p)
                        )
                    }));
                }
                Err(Skip::Problem(p)) => report.skipped.push(format!(
                    "{} / {id}: {}",
                    source.designation,
                    crate::names::scrubbed(&p)
                )),
                Err(Skip::Fatal(e)) => return Err(e),
            }
        }
    }
    let mut replies = crate::inbox_replies::Imported::default();
    for source in &sources {
        crate::inbox_replies::import(
            &bundle,
            &mut inbox,
            &source.designation,
            &mut report.problems,
            &mut replies,
        )?;
    }
    report.skipped.append(&mut replies.skipped);
    report.replies_already = replies.already;
    report.replies_added = replies.added;
    if !added.is_empty() || !report.replies_added.is_empty() {
        // The commit point.
        inbox
            .sums
            .write(inbox.root())
            .map_err(|e| write_error(&inbox.root().join(format::SUMS), e))?;
    }
    // The server's submission ids begin with its sequence number, zero-padded
    // (`s0000000042-…`), so several submissions arriving in one bundle, from any sources,
    // are numbered in the order the box received them.
    added.sort_by(|a, b| a.1.cmp(&b.1));
    for (d, id) in &added {
        inbox.number(d, id);
        report.added.push(format!("{d} / {id}"));
    }
    inbox.save_state()?;
    crate::trust::keep_reviewer_list(&bundle, inbox.root())?;
    Ok(report)
}

/// Why one submission (or reply) was not imported.
pub(crate) enum Skip {
    /// Damage in the bundle: reported, the others are imported.
    Problem(String),
    /// The inbox cannot be written: stop.
    Fatal(ReviewError),
}

impl From<ReviewError> for Skip {
    fn from(e: ReviewError) -> Skip {
        Skip::Fatal(e)
    }
}

/// Copies a submission's ciphertexts (its manifest, the files it lists, and the source's
/// recipient if the inbox lacks it) into the inbox, checked against the bundle's sums as they
/// are copied, the files decrypted in the same read (`inbox_copy.rs`), and adds their sums to
/// `inbox.sums` (not yet written). Returns what is wrong with files that were copied whole but
/// do not decrypt as their manifest says.
fn copy_submission(sub: &Submission<'_>, inbox: &mut Inbox) -> Result<Vec<String>, Skip> {
    // Decrypting the manifest in memory shows the submission is whole and for this identity.
    let manifest = sub.manifest().map_err(Skip::Problem)?;
    if manifest.files.len() > manifest::MAX_FILES {
        return Err(Skip::Problem(format!(
            "{} lists more than {} files",
            manifest::FILE_NAME,
            manifest::MAX_FILES
        )));
    }
    let staging = tempfile::Builder::new()
        .prefix(STAGING_PREFIX)
        .tempdir_in(inbox.root())
        .map_err(|e| write_error(inbox.root(), e))?;
    let manifest_rel = format::submission_file(sub.designation, sub.id, manifest::FILE_NAME);
    let sum = copy_checked(
        sub.bundle,
        &manifest_rel,
        &staging.path().join(manifest::FILE_NAME),
    )?;
    let mut sums = vec![(manifest_rel, sum)];
    let mut problems = Vec::new();
    for f in &manifest.files {
        let rel = format::submission_file(sub.designation, sub.id, &f.stored_as);
        if sums.iter().any(|(r, _)| *r == rel) {
            continue; // listed twice: copied once (`show` says so)
        }
        let copied = sub
            .copy_decrypting(f, &staging.path().join(&f.stored_as))
            .map_err(Skip::Problem)?;
        problems.extend(copied.problem);
        sums.push((rel, copied.sum));
    }
    let recipient = format::recipient_path(sub.designation);
    if !inbox.sums.contains(&recipient) {
        let dest = inbox.root().join(&recipient);
        make_private_dir(dest.parent().unwrap_or(inbox.root()))?;
        let tmp = staging.path().join("recipient");
        let sum = copy_checked(sub.bundle, &recipient, &tmp)?;
        fs::rename(&tmp, &dest).map_err(|e| write_error(&dest, e))?;
        sums.push((recipient, sum));
    }
    let subs = inbox.root().join(format::submissions_path(sub.designation));
    make_private_dir(&subs)?;
    let dest = subs.join(sub.id);
    // A folder no sum lists was left by a killed import: replaced.
    match fs::remove_dir_all(&dest) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(write_error(&dest, e).into()),
        _ => {}
    }
    crate::open::sync_dir(staging.path());
    fs::rename(staging.path(), &dest).map_err(|e| write_error(&dest, e))?;
    let _ = staging.keep();
    crate::open::sync_dir(&subs);
    for (rel, sum) in sums {
        inbox.sums.insert(rel, sum);
    }
    Ok(problems)
}

/// Copies the bundle's file `rel` to `dest` (new, 0600, synced), checking it against the
/// bundle's `SHA256SUMS` as it copies (one read), and returns its hash.
pub(crate) fn copy_checked(bundle: &Bundle, rel: &str, dest: &Path) -> Result<[u8; 32], Skip> {
    crate::inbox_copy::copy_checked_with(bundle, rel, dest, |_| ())
        .map(|(sum, ())| sum)
        .map_err(Skip::Problem)
}

/// Removes staging folders left by a killed import (they hold ciphertext only).
fn remove_stale_staging(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}
