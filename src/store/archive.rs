//! The reviewers' view of the data dir: listing sources and submissions, checksums for
//! fetching, and deletion (after a confirmed fetch, or when retention runs out; see
//! [`super::ledger`] for the records retention keeps).
//!
//! Deletion renames the submission folder into `staging/` (one atomic step: it is there or gone)
//! and then removes it, then drops the submission's retention line.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{list_names, seq_of, valid_name, Store, StoreError, SOURCES};
use crate::source_key::LookupId;

const SUMS: &str = "SHA256SUMS";

pub use lanterne_core::day::utc as day_utc;

/// One stored ciphertext file, as a reviewer fetches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// Submissions (id, sequence number) of each source that has some to list.
pub type Listing = Vec<(LookupId, Vec<(String, u64)>)>;

impl Store {
    /// Every source on the box.
    pub fn sources(&self) -> io::Result<Vec<LookupId>> {
        Ok(list_names(&self.root.join(SOURCES))?
            .iter()
            .filter_map(|n| LookupId::from_hex(n))
            .collect())
    }

    /// [`Store::listing_upto`] up to [`Store::settled`] now.
    #[cfg(test)]
    pub fn listing(&self, after: u64) -> io::Result<Listing> {
        self.listing_upto(after, self.settled())
    }

    /// The submissions numbered above `after` and up to `upto`, for the reviewers' index.
    /// `upto` is a [`Store::settled`] the caller took before listing, so a cursor taken from the
    /// highest one listed never passes a commit still in flight, and the index's deletion
    /// records can stop at the same number.
    pub fn listing_upto(&self, after: u64, upto: u64) -> io::Result<Listing> {
        let mut listing = Vec::new();
        for lookup in self.sources()? {
            let subs: Vec<(String, u64)> = self
                .submissions(&lookup)?
                .into_iter()
                .filter_map(|id| {
                    let seq = seq_of(&id).filter(|s| *s > after && *s <= upto)?;
                    Some((id, seq))
                })
                .collect();
            if !subs.is_empty() {
                listing.push((lookup, subs));
            }
        }
        Ok(listing)
    }

    /// The ciphertext files of a submission with their sizes and SHA-256, computed on first
    /// request and kept in the submission's `SHA256SUMS` (the upload path never hashes). A cache
    /// that does not match the folder (empty after a crash, damaged, stale) is rebuilt.
    pub fn submission_files(
        &self,
        lookup: &LookupId,
        id: &str,
    ) -> Result<Vec<StoredFile>, StoreError> {
        let dir = self
            .submission_dir(lookup, id)
            .ok_or(StoreError::BAD_SUBMISSION)?;
        let names: Vec<String> = list_names(&dir)?
            .into_iter()
            .filter(|n| n.ends_with(".age"))
            .collect();
        if let Some(files) = cached_sums(&dir, &names) {
            return Ok(files);
        }
        let mut files = Vec::new();
        for name in names {
            let mut hasher = Sha256::new();
            let size = io::copy(&mut File::open(dir.join(&name))?, &mut hasher)?;
            files.push(StoredFile {
                name,
                size,
                sha256: hex::encode(hasher.finalize()),
            });
        }
        let text: String = files
            .iter()
            .map(|f| format!("{}  {}  {}\n", f.sha256, f.size, f.name))
            .collect();
        self.replace_durable(&dir.join(SUMS), text.as_bytes())?;
        Ok(files)
    }

    /// The path of one ciphertext file of a submission, if the names are well-formed.
    pub fn submission_file(&self, lookup: &LookupId, id: &str, name: &str) -> Option<PathBuf> {
        let stem = name.strip_suffix(".age")?;
        let ok = stem == "manifest" || valid_name(stem);
        ok.then(|| self.submission_dir(lookup, id).map(|d| d.join(name)))
            .flatten()
    }

    /// Deletes a whole submission atomically. Returns whether it existed. (The server deletes
    /// in batches, [`Store::delete_submissions`]; the tests use this one.)
    #[cfg(test)]
    pub fn delete_submission(&self, lookup: &LookupId, id: &str) -> Result<bool, StoreError> {
        Ok(self.delete_submissions(&[(*lookup, id)])? == 1)
    }

    /// Deletes submissions (each atomically), then their retention lines in one pass. Returns
    /// how many existed. Refuses the lot, before deleting any, if one id is malformed. Callers
    /// record the deletion first ([`Store::ack`]).
    pub(super) fn delete_submissions(&self, which: &[(LookupId, &str)]) -> Result<u64, StoreError> {
        let dirs = which
            .iter()
            .map(|(lookup, id)| self.submission_dir(lookup, id))
            .collect::<Option<Vec<PathBuf>>>()
            .ok_or(StoreError::BAD_SUBMISSION)?;
        let mut deleted = 0;
        for dir in dirs {
            if self.remove_atomically(&dir)? {
                deleted += 1;
            }
        }
        // After the folders: a crash in between leaves a line naming nothing, which retention
        // clears, rather than a submission retention would never delete.
        self.forget_submissions(which)?;
        self.forget_served(which);
        Ok(deleted)
    }
}

/// The cached checksums of a submission, if they name exactly its `.age` files at their
/// current sizes.
fn cached_sums(dir: &Path, names: &[String]) -> Option<Vec<StoredFile>> {
    let text = fs::read_to_string(dir.join(SUMS)).ok()?;
    let files: Vec<StoredFile> = text.lines().map(parse_sum_line).collect::<Option<_>>()?;
    let listed: HashSet<&str> = files.iter().map(|f| f.name.as_str()).collect();
    let whole = !files.is_empty()
        && files.len() == names.len()
        && names.iter().all(|n| listed.contains(n.as_str()))
        && files.iter().all(|f| {
            fs::metadata(dir.join(&f.name)).is_ok_and(|m| m.is_file() && m.len() == f.size)
        });
    whole.then_some(files)
}

fn parse_sum_line(line: &str) -> Option<StoredFile> {
    let mut parts = line.split("  ");
    let sha256 = parts.next()?.to_owned();
    let size = parts.next()?.parse().ok()?;
    let name = parts.next()?.to_owned();
    (sha256.len() == 64).then_some(StoredFile { name, size, sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    fn lookup() -> LookupId {
        LookupId::from_hex(&"ee".repeat(32)).unwrap()
    }

    fn submit(store: &Store, body: &[u8]) -> String {
        store.ensure_source(&lookup(), "age1x").unwrap();
        let staged = store.stage().unwrap();
        let mut t = staged.tempfile().unwrap();
        t.write_all(body).unwrap();
        staged.keep(t, "0011.age").unwrap();
        store.commit_submission(staged, &lookup()).unwrap()
    }

    #[test]
    fn sums_listing_sequence_and_atomic_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = submit(&store, b"first");
        let b = submit(&store, b"second");
        assert!(super::super::seq_of(&a) < super::super::seq_of(&b));
        let files = store.submission_files(&lookup(), &a).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].size, 5);
        assert_eq!(files[0].sha256, hex::encode(Sha256::digest(b"first")));
        assert_eq!(
            store.submission_files(&lookup(), &a).unwrap(),
            files,
            "cached"
        );
        assert!(store
            .submission_file(&lookup(), &a, "../recipient")
            .is_none());
        assert!(store
            .submission_file(&lookup(), &a, "0011.age")
            .unwrap()
            .exists());
        assert!(store.delete_submission(&lookup(), &a).unwrap());
        assert!(!store.delete_submission(&lookup(), &a).unwrap());
        assert_eq!(store.submissions(&lookup()).unwrap(), vec![b.clone()]);
        assert_eq!(fs::read_dir(dir.path().join("staging")).unwrap().count(), 0);
        // The sequence goes on after a restart.
        let store = Store::open(dir.path()).unwrap();
        let c = submit(&store, b"third");
        assert!(super::super::seq_of(&c) > super::super::seq_of(&b));
    }

    #[test]
    fn a_sums_cache_that_does_not_match_is_rebuilt_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = submit(&store, b"content");
        let sub = store.submission_dir(&lookup(), &a).unwrap();
        let good = store.submission_files(&lookup(), &a).unwrap();
        let mode = fs::metadata(sub.join(SUMS)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let other = format!("{}  3  0011.age\n", "0".repeat(64));
        for damaged in ["", "garbage\n", other.as_str()] {
            fs::write(sub.join(SUMS), damaged).unwrap();
            assert_eq!(
                store.submission_files(&lookup(), &a).unwrap(),
                good,
                "{damaged:?}"
            );
        }
    }

    #[test]
    fn expire_deletes_only_what_is_older_than_the_period() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let old = submit(&store, b"old");
        let new = submit(&store, b"new");
        // Pretend `old` arrived 100 days ago.
        let ledger = dir.path().join("retention");
        fs::write(
            ledger.join(day_utc(0)),
            format!("{}/{new}\n", lookup().to_hex()),
        )
        .unwrap();
        fs::write(
            ledger.join(day_utc(-100)),
            format!("{}/{old}\n", lookup().to_hex()),
        )
        .unwrap();
        assert_eq!(store.expire(90).unwrap(), 1);
        assert_eq!(store.submissions(&lookup()).unwrap(), vec![new]);
        assert_eq!(store.expire(90).unwrap(), 0);
        assert_eq!(list_names(&ledger).unwrap(), vec![day_utc(0)]);
    }
}
