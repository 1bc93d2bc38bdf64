//! The reviewers' view of the data dir: listing sources and submissions, checksums for
//! fetching, and deletion (after a confirmed fetch, or when retention runs out).
//!
//! Retention needs to know when a submission arrived, which nothing else on disk says (names
//! are random, times are the epoch). So each commit appends the submission's path to
//! `retention/<day>`, a list per UTC day, and [`Store::expire`] deletes the lists older than the
//! retention period with everything they name. A seized disk thus shows the arrival *day* of
//! each submission still held, and no finer time.
//!
//! Deletion renames the submission folder into `staging/` (one atomic step: it is there or gone)
//! and then removes it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::{
    fsync_dir, list_names, normalize_times, random_id, valid_name, Store, SOURCES, STAGING,
    SUBMISSIONS,
};
use crate::source_key::LookupId;

const RETENTION: &str = "retention";
const SUMS: &str = "SHA256SUMS";

/// The UTC day `offset` days from today, `YYYY-MM-DD`.
pub fn day_utc(offset: i64) -> String {
    let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(offset);
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// One stored ciphertext file, as a reviewer fetches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

impl Store {
    /// Every source on the box.
    pub fn sources(&self) -> io::Result<Vec<LookupId>> {
        Ok(list_names(&self.root.join(SOURCES))?
            .iter()
            .filter_map(|n| LookupId::from_hex(n))
            .collect())
    }

    /// The ciphertext files of a submission with their sizes and SHA-256, computed on first
    /// request and kept in the submission's `SHA256SUMS` (the upload path never hashes).
    pub fn submission_files(&self, lookup: &LookupId, id: &str) -> io::Result<Vec<StoredFile>> {
        let dir = self
            .submission_dir(lookup, id)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad submission id"))?;
        let cached = dir.join(SUMS);
        if let Ok(text) = fs::read_to_string(&cached) {
            let parsed: Option<Vec<StoredFile>> = text.lines().map(parse_sum_line).collect();
            if let Some(files) = parsed {
                return Ok(files);
            }
        }
        let mut files = Vec::new();
        for name in list_names(&dir)? {
            if !name.ends_with(".age") {
                continue;
            }
            let path = dir.join(&name);
            let mut hasher = Sha256::new();
            let size = io::copy(&mut File::open(&path)?, &mut hasher)?;
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
        let tmp = dir.join(format!(".sums-{}", random_id()));
        fs::write(&tmp, text)?;
        normalize_times(&tmp)?;
        fs::rename(&tmp, &cached)?;
        normalize_times(&dir)?;
        Ok(files)
    }

    /// The path of one ciphertext file of a submission, if the names are well-formed.
    pub fn submission_file(&self, lookup: &LookupId, id: &str, name: &str) -> Option<PathBuf> {
        let stem = name.strip_suffix(".age")?;
        let ok = stem == "manifest" || valid_name(stem);
        ok.then(|| self.submission_dir(lookup, id).map(|d| d.join(name)))
            .flatten()
    }

    /// Deletes a whole submission atomically. Returns whether it existed.
    pub fn delete_submission(&self, lookup: &LookupId, id: &str) -> io::Result<bool> {
        let Some(dir) = self.submission_dir(lookup, id) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad submission id",
            ));
        };
        let doomed = self.root.join(STAGING).join(random_id());
        match fs::rename(&dir, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        }
        let parent = self.source_dir(lookup).join(SUBMISSIONS);
        fsync_dir(&parent)?;
        normalize_times(&parent)?;
        fs::remove_dir_all(&doomed)?;
        Ok(true)
    }

    /// Notes that a submission arrived today, for retention.
    pub(super) fn record_arrival(&self, lookup: &LookupId, id: &str) -> io::Result<()> {
        let dir = self.root.join(RETENTION);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(dir.join(day_utc(0)))?;
        writeln!(f, "{}/{id}", lookup.to_hex())?;
        f.sync_all()?;
        normalize_times(&dir.join(day_utc(0)))?;
        fsync_dir(&dir)
    }

    /// Deletes every submission that arrived more than `days` days ago. Returns how many.
    pub fn expire(&self, days: u32) -> io::Result<usize> {
        let cutoff = day_utc(-i64::from(days));
        let dir = self.root.join(RETENTION);
        let mut deleted = 0;
        for day in list_names(&dir)? {
            if day >= cutoff {
                continue;
            }
            let path = dir.join(&day);
            for line in BufReader::new(File::open(&path)?).lines() {
                let line = line?;
                let Some((lookup, id)) = line.split_once('/') else {
                    continue;
                };
                if let Some(lookup) = LookupId::from_hex(lookup) {
                    if self.delete_submission(&lookup, id)? {
                        deleted += 1;
                    }
                }
            }
            fs::remove_file(&path)?;
            fsync_dir(&dir)?;
        }
        Ok(deleted)
    }
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
    fn expire_deletes_only_what_is_older_than_the_period() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let old = submit(&store, b"old");
        let new = submit(&store, b"new");
        // Pretend `old` arrived 100 days ago.
        let ledger = dir.path().join(RETENTION);
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
