//! The data dir: where ciphertext lives, and how it gets there without ever being half-written.
//!
//! ```text
//! DATA/
//!   instance.key                    32 random bytes: the argon2 salt of this box (0600)
//!   sequence                        the last sequence number given out (never given again)
//!   params                          KDF parameters and word-list hashes pinned at first start
//!                                   ([`crate::pinned`])
//!   lock                            held by the running `serve` ([`crate::hardening`])
//!   digest                          the newest submission `lanterne digest` counted
//!                                   ([`crate::digest`])
//!   staging/                        uploads in flight; emptied at every start
//!   retention/<YYYY-MM-DD>          `<lookup id>/<submission id>` per submission held that
//!                                   arrived that day; a line goes when its submission does
//!   deletions/<YYYY-MM-DD>          deletion records made that day: acks, retention, refused
//!                                   acks, by designation and credential ([`deletions`])
//!   reviewers/<name>                SHA-256 of a reviewer workstation's fetch token
//!   sources/<lookup id>/
//!     recipient                     the source's age recipient (public)
//!     active                        the day of the source's last submission or reply
//!     reply-ids                     the signed id of every reply ever stored here, one a
//!                                   line: a reply is stored once, never again
//!     retention/<YYYY-MM-DD>        ids of the replies held that were stored that day
//!     submissions/s<seq>-<id>/manifest.age  the message, names, types, sizes, day (encrypted)
//!     submissions/s<seq>-<id>/<id>.age      one per uploaded file (encrypted)
//!     submissions/s<seq>-<id>/SHA256SUMS    ciphertext checksums, written at first fetch
//!     submissions/s<seq>-<id>/fetched       bytes served to each credential ([`fetched`])
//!     replies/r<seq>-<hash>.age     replies from reviewers (encrypted to source and reviewers)
//!     replies/r<seq>-<hash>.age.minisig  its signature by a reviewer (checked when pushed)
//! ```
//!
//! `<seq>` is one counter for the whole box, so reviewers can fetch "everything after N"; it
//! orders arrivals but says nothing of their time, and no number is ever given twice
//! ([`sequence`]). The retention records hold days, never times ([`ledger`]); outside a source's
//! own folder, only the `retention/` line of a submission still held names the source.
//!
//! A submission is built in its own folder under `staging/`; every file in it is fsynced, then
//! the folder is renamed into `submissions/` in one step and the parent fsynced. So a crash
//! leaves either the whole submission or only staging debris, which [`Store::open`] clears.
//! All names are random, and every modification time is set to the Unix epoch, so the tree shows
//! neither what a file was nor when it came. This module never sees plaintext.

use std::fs::{self, File, FileTimes};
use std::io::{self, Read};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::UNIX_EPOCH;

mod archive;
mod deletions;
mod error;
mod fetched;
mod ledger;
mod replies;
mod sequence;

pub use archive::day_utc;
pub use deletions::AckOutcome;
pub use error::StoreError;
pub use fetched::Served;
/// Every durable write of the store goes through `lanterne_core::durable`.
pub use lanterne_core::durable::{self, fsync_dir};
pub use replies::Pushed;
pub use sequence::newest_submission;

use rand::RngCore;
use zeroize::Zeroizing;

use crate::source_key::LookupId;

const STAGING: &str = "staging";
const SOURCES: &str = "sources";
const SUBMISSIONS: &str = "submissions";

/// Where the encrypted submissions of the box whose data dir is `root` are stored, for people
/// (`lanterne demo` prints it): `ROOT/sources/*/submissions/*/`, each folder holding the
/// submission's `manifest.age` and one `.age` file per file sent.
pub fn submissions_pattern(root: &Path) -> PathBuf {
    root.join(SOURCES).join("*").join(SUBMISSIONS).join("*")
}
const REPLIES: &str = "replies";
const RECIPIENT: &str = "recipient";
const INSTANCE_KEY: &str = "instance.key";

/// A fresh random name: 128 bits, hex.
pub fn random_id() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// The data dir of a running box.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    /// The box-wide sequence ([`sequence`]).
    counter: Mutex<sequence::Counter>,
    /// Held while a retention record or a source folder's existence changes ([`ledger`]).
    records: Mutex<()>,
    /// Bytes served to each credential, by file ([`fetched`]).
    served: Mutex<fetched::Counts>,
    /// Held while a `fetched` file is rewritten.
    served_writes: Mutex<()>,
    /// Held by an ack from its checks to its deletion, so two acks do not race ([`deletions`]).
    deleting: Mutex<()>,
    /// Held while a reply is checked against `reply-ids` and stored, so one id is stored once.
    pushing: Mutex<()>,
}

impl Store {
    /// Opens (creating if needed) the data dir, and removes staging debris a crash left.
    pub fn open(root: &Path) -> io::Result<Store> {
        for dir in [root.to_owned(), root.join(STAGING), root.join(SOURCES)] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)?;
        }
        let store = Store {
            root: root.to_owned(),
            counter: Mutex::default(),
            records: Mutex::default(),
            served: Mutex::default(),
            served_writes: Mutex::default(),
            deleting: Mutex::default(),
            pushing: Mutex::default(),
        };
        store.load_counter()?;
        let removed = store.sweep_staging()?;
        if removed > 0 {
            tracing::info!(removed, "cleared unfinished uploads from staging");
        }
        // A data dir written by an older build may show times; from here on none does. The
        // server's lock file (`hardening::DataDirLock`, taken before the store opens) would
        // otherwise show when it last started.
        for dir in [
            root.join(SOURCES),
            root.join(ledger::RETENTION),
            root.join(deletions::DELETIONS),
            root.join(crate::hardening::LOCK_FILE),
            root.to_owned(),
        ] {
            if dir.exists() {
                normalize_times(&dir)?;
            }
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn records(&self) -> MutexGuard<'_, ()> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sweep_staging(&self) -> io::Result<usize> {
        let mut n = 0;
        for entry in fs::read_dir(self.root.join(STAGING))? {
            let path = entry?.path();
            if path.is_dir() {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
            n += 1;
        }
        fsync_dir(&self.root.join(STAGING))?;
        self.staging_changed()?;
        Ok(n)
    }

    /// Something was created in, renamed out of or removed from `staging/`: its times go back
    /// to the epoch, so they do not date the last upload or deletion.
    fn staging_changed(&self) -> io::Result<()> {
        normalize_times(&self.root.join(STAGING))
    }

    /// Replaces (or creates) `dest` durably: a 0600 file under `staging/`, fsynced, renamed
    /// over `dest`, and `dest`'s folder fsynced. Every time it touched goes back to the epoch.
    fn replace_durable(&self, dest: &Path, bytes: &[u8]) -> io::Result<()> {
        let staged = self.root.join(STAGING).join(random_id());
        let written = write_durable(&staged, bytes)
            .and_then(|()| normalize_times(&staged))
            .and_then(|()| fs::rename(&staged, dest));
        if let Err(e) = written {
            let _ = fs::remove_file(&staged);
            self.staging_changed()?;
            return Err(e);
        }
        self.staging_changed()?;
        let parent = dest.parent().unwrap_or(&self.root);
        fsync_dir(parent)?;
        normalize_times(parent)
    }

    /// The box's instance secret, created on first start.
    pub fn instance_secret(&self) -> io::Result<Zeroizing<[u8; 32]>> {
        let path = self.root.join(INSTANCE_KEY);
        let mut secret = Zeroizing::new([0u8; 32]);
        match File::open(&path) {
            Ok(mut f) => {
                let mut buf = Zeroizing::new(Vec::new());
                f.read_to_end(&mut buf)?;
                if buf.len() != 32 {
                    return Err(io::Error::other(format!(
                        "{} is damaged: it must hold exactly 32 bytes",
                        path.display()
                    )));
                }
                secret.copy_from_slice(&buf);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                rand::rngs::OsRng.fill_bytes(secret.as_mut());
                self.replace_durable(&path, secret.as_ref())?;
            }
            Err(e) => return Err(e),
        }
        Ok(secret)
    }

    /// A new empty folder under staging for one submission.
    pub fn stage(&self) -> io::Result<Staged> {
        let path = self.root.join(STAGING).join(random_id());
        fs::DirBuilder::new().mode(0o700).create(&path)?;
        self.staging_changed()?;
        Ok(Staged {
            path,
            committed: false,
        })
    }

    fn source_dir(&self, lookup: &LookupId) -> PathBuf {
        self.root.join(SOURCES).join(lookup.to_hex())
    }

    /// The stored recipient of a source, if the source exists.
    pub fn source_recipient(&self, lookup: &LookupId) -> io::Result<Option<String>> {
        match fs::read_to_string(self.source_dir(lookup).join(RECIPIENT)) {
            Ok(s) => Ok(Some(s.trim().to_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The designation reviewers know a source by: derived from its stored recipient
    /// (`designation::of_recipient`), so the offline machine can check the pairing; `None` if
    /// the source's folder is gone. The one place the server names a source for reviewers.
    pub fn designation(&self, lookup: &LookupId) -> io::Result<Option<String>> {
        Ok(self
            .source_recipient(lookup)?
            .map(|r| lanterne_core::designation::of_recipient(&r)))
    }

    /// Creates a source's folder with its recipient, atomically, or notes today's activity in
    /// the one that exists (so retention does not remove it under a submission in progress).
    pub fn ensure_source(&self, lookup: &LookupId, recipient: &str) -> io::Result<()> {
        if self.touch_source(lookup)? {
            return Ok(());
        }
        let dest = self.source_dir(lookup);
        let staged = self.stage()?;
        for sub in [SUBMISSIONS, REPLIES] {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(staged.path.join(sub))?;
        }
        write_durable(&staged.path.join(RECIPIENT), recipient.as_bytes())?;
        write_durable(
            &staged.path.join(ledger::ACTIVE),
            format!("{}\n", day_utc(0)).as_bytes(),
        )?;
        for entry in fs::read_dir(&staged.path)? {
            normalize_times(&entry?.path())?;
        }
        match staged.commit_to(&dest) {
            Ok(()) => {}
            // Two first submissions raced: the other one made the folder, which is all we want.
            Err(_) if dest.join(RECIPIENT).exists() => return Ok(()),
            Err(e) => return Err(e),
        }
        normalize_times(&dest)?;
        normalize_times(&self.root.join(SOURCES))
    }

    /// Moves a finished submission into a source's folder: the step that makes it durable.
    pub fn commit_submission(&self, staged: Staged, lookup: &LookupId) -> io::Result<String> {
        let ticket = self.ticket()?;
        self.commit_numbered(staged, lookup, &ticket)
    }

    /// [`Store::commit_submission`] with a number already given out. The caller drops the
    /// ticket afterwards, whatever the outcome.
    fn commit_numbered(
        &self,
        staged: Staged,
        lookup: &LookupId,
        ticket: &sequence::Ticket<'_>,
    ) -> io::Result<String> {
        let id = format!("s{:010}-{}", ticket.seq, random_id());
        let parent = self.source_dir(lookup).join(SUBMISSIONS);
        for entry in fs::read_dir(&staged.path)? {
            normalize_times(&entry?.path())?;
        }
        normalize_times(&staged.path)?;
        staged.commit_to(&parent.join(&id))?;
        normalize_times(&parent)?;
        self.record_arrival(lookup, &id)?;
        Ok(id)
    }

    /// Submission ids of a source.
    pub fn submissions(&self, lookup: &LookupId) -> io::Result<Vec<String>> {
        list_names(&self.source_dir(lookup).join(SUBMISSIONS))
    }

    /// The folder of one submission.
    pub fn submission_dir(&self, lookup: &LookupId, id: &str) -> Option<PathBuf> {
        valid_name(id).then(|| self.source_dir(lookup).join(SUBMISSIONS).join(id))
    }

    /// Renames `dir` into `staging/` (one atomic step: it is there or gone), makes that
    /// durable, then removes it. Returns whether it existed.
    fn remove_atomically(&self, dir: &Path) -> io::Result<bool> {
        let doomed = self.root.join(STAGING).join(random_id());
        match fs::rename(dir, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        }
        if let Some(parent) = dir.parent() {
            fsync_dir(parent)?;
            normalize_times(parent)?;
        }
        fs::remove_dir_all(&doomed)?;
        self.staging_changed()?;
        Ok(true)
    }
}

/// A submission being built under `staging/`. Dropped without commit, it removes itself and
/// every partial ciphertext in it.
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
    committed: bool,
}

impl Staged {
    /// A new temporary file inside this folder (mode 0600, removed unless persisted).
    pub fn tempfile(&self) -> io::Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix(".part-")
            .tempfile_in(&self.path)
    }

    /// Fsyncs `file` and gives it its final name inside this folder.
    pub fn keep(&self, file: tempfile::NamedTempFile, name: &str) -> io::Result<()> {
        durable::keep(file, &self.path.join(name), true)
    }

    /// Fsyncs this folder and renames it to `dest`, then fsyncs `dest`'s parent.
    fn commit_to(mut self, dest: &Path) -> io::Result<()> {
        fsync_dir(&self.path)?;
        fs::rename(&self.path, dest)?;
        self.committed = true;
        self.staging_changed();
        if let Some(parent) = dest.parent() {
            fsync_dir(parent)?;
        }
        Ok(())
    }

    /// Puts `staging/`'s times back to the epoch after this folder came or went.
    fn staging_changed(&self) {
        if let Some(staging) = self.path.parent() {
            if let Err(e) = normalize_times(staging) {
                tracing::warn!(error = %e, "could not reset the times of staging/");
            }
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            if let Err(e) = fs::remove_dir_all(&self.path) {
                tracing::warn!(error = %e, "could not remove an unfinished upload; it goes at next start");
            }
            self.staging_changed();
        }
    }
}

/// Names we create are lower-case hex with an optional `s0000000001-` or `r…-` prefix;
/// anything else from outside is refused before it reaches a path.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 80
        && s.bytes().all(|b| {
            b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || matches!(b, b'r' | b's' | b'-')
        })
}

/// The sequence number in a name like `s0000000042-…` or `r0000000042-….age`
/// (`lanterne_core::bundle::sequence_of`, which the offline machine reads them with too).
pub fn seq_of(name: &str) -> Option<u64> {
    lanterne_core::bundle::sequence_of(name)
}

fn list_names(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    match fs::read_dir(dir) {
        Ok(rd) => {
            for entry in rd {
                if let Some(name) = entry?.file_name().to_str() {
                    names.push(name.to_owned());
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    names.sort();
    Ok(names)
}

/// Writes a new file (0600) and fsyncs it. The caller renames it into place.
fn write_durable(path: &Path, bytes: &[u8]) -> io::Result<()> {
    durable::write_new(path, bytes, 0o600)
}

/// Sets access and modification times to the Unix epoch, so they say nothing.
/// (The inode change time cannot be set from user space; see SECURITY.md.)
pub fn normalize_times(path: &Path) -> io::Result<()> {
    let times = FileTimes::new()
        .set_accessed(UNIX_EPOCH)
        .set_modified(UNIX_EPOCH);
    File::open(path)?.set_times(times)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn open_clears_staging_debris_and_keeps_the_instance_secret() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let secret = store.instance_secret().unwrap();
        let staged = store.stage().unwrap();
        let mut t = staged.tempfile().unwrap();
        t.write_all(b"partial").unwrap();
        std::mem::forget(t);
        std::mem::forget(staged);
        assert_eq!(fs::read_dir(dir.path().join(STAGING)).unwrap().count(), 1);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path().join(STAGING)).unwrap().count(), 0);
        assert_eq!(*store.instance_secret().unwrap(), *secret);
        let mode = fs::metadata(dir.path().join(INSTANCE_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn dropped_staging_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let staged = store.stage().unwrap();
        let t = staged.tempfile().unwrap();
        staged.keep(t, "a.age").unwrap();
        drop(staged);
        assert_eq!(fs::read_dir(dir.path().join(STAGING)).unwrap().count(), 0);
    }

    #[test]
    fn submissions_and_replies_land_with_epoch_times() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let lookup = LookupId::from_hex(&"ab".repeat(32)).unwrap();
        store.ensure_source(&lookup, "age1example").unwrap();
        store.ensure_source(&lookup, "age1example").unwrap();
        assert_eq!(
            store.source_recipient(&lookup).unwrap().as_deref(),
            Some("age1example")
        );
        let staged = store.stage().unwrap();
        let mut t = staged.tempfile().unwrap();
        t.write_all(b"ciphertext").unwrap();
        staged.keep(t, "f.age").unwrap();
        let id = store.commit_submission(staged, &lookup).unwrap();
        let sub = store.submission_dir(&lookup, &id).unwrap();
        assert_eq!(fs::read(sub.join("f.age")).unwrap(), b"ciphertext");
        for p in [sub.join("f.age"), sub.clone(), store.source_dir(&lookup)] {
            assert_eq!(
                fs::metadata(&p).unwrap().modified().unwrap(),
                UNIX_EPOCH,
                "{p:?}"
            );
        }
        let r1 = crate::store::replies::tests::stored(store.put_reply(
            &lookup,
            b"one",
            b"sig one",
            &crate::store::random_id(),
        ));
        let r2 = crate::store::replies::tests::stored(store.put_reply(
            &lookup,
            b"two",
            b"sig two",
            &crate::store::random_id(),
        ));
        assert_eq!(
            store.replies(&lookup).unwrap(),
            vec![r1.clone(), r2.clone()]
        );
        assert_eq!(store.read_reply(&lookup, &r2, 10).unwrap(), b"two");
        assert!(store.read_reply(&lookup, &r2, 2).is_err());
        // Each reply's signature beside it, with no time either; it goes with its reply.
        let replies = store.source_dir(&lookup).join(REPLIES);
        let sig1 = replies.join(format!("{r1}.age.minisig"));
        assert_eq!(fs::read(&sig1).unwrap(), b"sig one");
        assert_eq!(fs::metadata(&sig1).unwrap().modified().unwrap(), UNIX_EPOCH);
        assert!(store.delete_reply(&lookup, &r1).unwrap());
        assert!(!sig1.exists());
        assert!(!store.delete_reply(&lookup, &r1).unwrap());
        assert!(store.delete_reply(&lookup, "../recipient").is_err());
        assert_eq!(store.replies(&lookup).unwrap(), vec![r2]);
    }
}
