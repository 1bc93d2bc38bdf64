//! What each workstation credential was served of each submission, so that a credential can
//! ack (delete) only what it fetched in full (issue 12).
//!
//! For every (credential, submission, file) the store counts the *contiguous* bytes served from
//! the start of the file: a response covering bytes `a..b` extends the count `n` to `b` only
//! when `a <= n`. So a Range request for the end of a file, or for its last byte, counts for
//! nothing, while an interrupted download resumed with a Range request from where it stopped
//! counts as one. Bytes count when the reviewer API hands them to the connection
//! (`web::served`), not when they are read from disk.
//!
//! The counts live in memory while the box runs and in `fetched`, a small file (0600) inside the
//! submission's own folder, one line `<credential> <file> <bytes>` each, where `<credential>`
//! is the name the counts are kept under (`credentials::served_as`: the credential's name and a
//! hash of its token, so a name removed and added again starts with no counts). The file goes with the
//! submission (an ack, retention), so nothing outside `sources/` remembers who fetched what. It
//! is written durably (temp file, fsync, rename) when a download ends or is cut off, every
//! [`CHECKPOINT_BYTES`] while one runs, and *before* the last byte of a file is handed out:
//! a workstation that holds a whole file therefore always finds the count complete after a
//! restart, and its pending ack is accepted. (The price: a crash between that write and the
//! send counts one last chunk that never left; it takes a server crash, which a credential
//! cannot cause, and the file's other bytes were served.)

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::PathBuf;

use super::{Store, StoreError};
use crate::source_key::LookupId;

/// The file, inside a submission's folder, that keeps the counts.
const FETCHED: &str = "fetched";

/// A download running this many bytes past the last durable count writes it again.
pub const CHECKPOINT_BYTES: u64 = 8 << 20;

/// One file of one submission, as served to one credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Served {
    pub credential: String,
    pub lookup: LookupId,
    pub submission: String,
    pub file: String,
}

/// The counts held in memory: for each file, the bytes counted and the bytes durable.
pub(super) type Counts = HashMap<Served, (u64, u64)>;

impl Served {
    fn dir(&self, store: &Store) -> Option<PathBuf> {
        store.submission_dir(&self.lookup, &self.submission)
    }
}

/// `fetched`'s lines: `(credential, file) -> bytes`.
fn read_counts(dir: &std::path::Path) -> io::Result<HashMap<(String, String), u64>> {
    let text = match fs::read_to_string(dir.join(FETCHED)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(e),
    };
    let mut out = HashMap::new();
    for line in text.lines() {
        let mut f = line.split(' ');
        if let (Some(who), Some(file), Some(Ok(n)), None) = (
            f.next(),
            f.next(),
            f.next().map(str::parse::<u64>),
            f.next(),
        ) {
            let e = out.entry((who.to_owned(), file.to_owned())).or_insert(0);
            *e = (*e).max(n);
        }
    }
    Ok(out)
}

impl Store {
    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.served.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The count for `key`, loading it from disk the first time.
    fn count_entry<'a>(&self, counts: &'a mut Counts, key: &Served) -> &'a mut (u64, u64) {
        if !counts.contains_key(key) {
            let on_disk = key
                .dir(self)
                .and_then(|d| read_counts(&d).ok())
                .and_then(|c| c.get(&(key.credential.clone(), key.file.clone())).copied())
                .unwrap_or(0);
            counts.insert(key.clone(), (on_disk, on_disk));
        }
        counts.get_mut(key).expect("inserted above")
    }

    /// Notes that bytes `start..end` of a file were handed to `key`'s credential; returns the
    /// contiguous count from the start of the file, and whether it is ahead of the durable one
    /// by more than [`CHECKPOINT_BYTES`].
    pub fn note_served(&self, key: &Served, start: u64, end: u64) -> (u64, bool) {
        let mut counts = self.counts();
        let entry = self.count_entry(&mut counts, key);
        if start <= entry.0 && end > entry.0 {
            entry.0 = end;
        }
        (entry.0, entry.0 >= entry.1.saturating_add(CHECKPOINT_BYTES))
    }

    /// The contiguous bytes of a file counted as served to `key`'s credential.
    pub fn served_count(&self, key: &Served) -> u64 {
        let mut counts = self.counts();
        self.count_entry(&mut counts, key).0
    }

    /// Writes `key`'s count to the submission's `fetched` file durably, if it grew. A
    /// submission deleted meanwhile has nothing to write to.
    pub fn persist_served(&self, key: &Served) -> io::Result<()> {
        let Some(dir) = key.dir(self) else {
            return Ok(());
        };
        // One writer at a time: each rewrites the whole (small) file.
        let _writing = self.served_writes.lock().unwrap_or_else(|p| p.into_inner());
        let count = {
            let mut counts = self.counts();
            let entry = self.count_entry(&mut counts, key);
            if entry.0 <= entry.1 {
                return Ok(());
            }
            entry.0
        };
        if !dir.is_dir() {
            return Ok(());
        }
        let mut lines = read_counts(&dir)?;
        let e = lines
            .entry((key.credential.clone(), key.file.clone()))
            .or_insert(0);
        *e = (*e).max(count);
        let mut sorted: Vec<_> = lines.into_iter().collect();
        sorted.sort();
        let text: String = sorted
            .iter()
            .map(|((who, file), n)| format!("{who} {file} {n}\n"))
            .collect();
        match self.replace_durable(&dir.join(FETCHED), text.as_bytes()) {
            Ok(()) => {}
            // Deleted (acked, expired) while we wrote.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut counts = self.counts();
        let entry = self.count_entry(&mut counts, key);
        entry.1 = entry.1.max(count);
        Ok(())
    }

    /// Whether `credential` was served every byte of every file of a submission (and it has
    /// files). A count that reached a file's size was made durable before its last byte went.
    pub fn fetched_in_full(
        &self,
        credential: &str,
        lookup: &LookupId,
        id: &str,
    ) -> Result<bool, StoreError> {
        let files = self.submission_files(lookup, id)?;
        if files.is_empty() {
            return Ok(false);
        }
        Ok(files.iter().all(|f| {
            let key = Served {
                credential: credential.to_owned(),
                lookup: *lookup,
                submission: id.to_owned(),
                file: f.name.clone(),
            };
            self.served_count(&key) >= f.size
        }))
    }

    /// Forgets the in-memory counts of deleted submissions (their `fetched` files went with
    /// their folders).
    pub(super) fn forget_served(&self, gone: &[(LookupId, &str)]) {
        self.counts().retain(|k, _| {
            !gone
                .iter()
                .any(|(l, id)| *l == k.lookup && *id == k.submission)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lookup() -> LookupId {
        LookupId::from_hex(&"f1".repeat(32)).unwrap()
    }

    #[test]
    fn only_contiguous_bytes_from_the_start_count_and_they_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.ensure_source(&lookup(), "age1x").unwrap();
        let staged = store.stage().unwrap();
        let mut t = staged.tempfile().unwrap();
        t.write_all(&[7u8; 100]).unwrap();
        staged.keep(t, "0c.age").unwrap();
        let id = store.commit_submission(staged, &lookup()).unwrap();
        let key = |who: &str| Served {
            credential: who.into(),
            lookup: lookup(),
            submission: id.clone(),
            file: "0c.age".into(),
        };
        // The last byte alone, then the end: nothing counts.
        assert_eq!(store.note_served(&key("bob"), 99, 100).0, 0);
        assert_eq!(store.note_served(&key("bob"), 50, 100).0, 0);
        assert!(!store.fetched_in_full("bob", &lookup(), &id).unwrap());
        // A download cut at 60, resumed from 60.
        assert_eq!(store.note_served(&key("alice"), 0, 60).0, 60);
        store.persist_served(&key("alice")).unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.served_count(&key("alice")), 60);
        assert!(!store.fetched_in_full("alice", &lookup(), &id).unwrap());
        assert_eq!(store.note_served(&key("alice"), 60, 100).0, 100);
        assert!(store.fetched_in_full("alice", &lookup(), &id).unwrap());
        assert!(!store.fetched_in_full("bob", &lookup(), &id).unwrap());
        store.persist_served(&key("alice")).unwrap();
        let sub = store.submission_dir(&lookup(), &id).unwrap();
        let text = fs::read_to_string(sub.join(FETCHED)).unwrap();
        assert_eq!(text, "alice 0c.age 100\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(sub.join(FETCHED))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // The checksums list only the ciphertext.
        assert_eq!(store.submission_files(&lookup(), &id).unwrap().len(), 1);
    }
}
