//! The deletion records: every submission deleted (an ack, retention) and every ack refused, with
//! who asked, written durably *before* anything is deleted (issue 12).
//!
//! `DATA/deletions/<YYYY-MM-DD>` holds one line per record, [`api::Deletion::to_line`]:
//! `<seq> <day> <ack|retention|refused> <credential or -> <designation> <submission id>`.
//! The number comes from the box-wide sequence ([`super::sequence`]), so the reviewers' index
//! lists the records after their cursor with the submissions ([`Store::deletions_after`]).
//!
//! Because the record is durable before the folder is renamed away, no deletion happens without
//! one. A crash in between leaves a record of a deletion that was asked and not yet done; the
//! retry (the workstation's pending ack, the next retention sweep) completes it and finds the
//! record already there, so it is not written twice. Records hold the day, never a time, and
//! the designation, never the lookup id; they are linkable metadata all the same, so a day's
//! list goes when it is older than the retention period ([`Store::expire`]).

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

use super::{day_utc, fsync_dir, list_names, normalize_times, Store, StoreError};
use crate::source_key::LookupId;
use lanterne_core::api::{Deletion, DeletionKind};

/// The folder of day lists.
pub(super) const DELETIONS: &str = "deletions";

/// A record to write: what, by whom (`None` for retention), which submission.
pub(super) struct Asked<'a> {
    pub kind: DeletionKind,
    pub by: Option<&'a str>,
    pub lookup: LookupId,
    pub submission: &'a str,
}

/// `which` as records of `kind` asked by `credential`.
fn asked<'a>(
    kind: DeletionKind,
    credential: &'a str,
    which: &'a [(LookupId, &'a str)],
) -> Vec<Asked<'a>> {
    which
        .iter()
        .map(|(lookup, id)| Asked {
            kind,
            by: Some(credential),
            lookup: *lookup,
            submission: id,
        })
        .collect()
}

/// What an ack did.
#[derive(Debug, PartialEq, Eq)]
pub enum AckOutcome {
    /// Every submission named was fetched in full by the credential: this many were deleted.
    Deleted(u64),
    /// These (designation, submission) were not: nothing was deleted, and each was recorded as
    /// a refused ack.
    Refused(Vec<(String, String)>),
}

impl Store {
    /// The designation a record names a source by ([`Store::designation`]); its folder must
    /// exist (a record is written before anything in it goes).
    fn designation_of(&self, lookup: &LookupId) -> io::Result<String> {
        self.designation(lookup)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "a source folder without its recipient",
            )
        })
    }

    /// Every record in the ledger.
    fn all_deletions(&self) -> io::Result<Vec<Deletion>> {
        let dir = self.root.join(DELETIONS);
        let mut out = Vec::new();
        for day in list_names(&dir)? {
            for line in fs::read_to_string(dir.join(day))?.lines() {
                match Deletion::parse_line(line) {
                    Some(d) => out.push(d),
                    None => tracing::warn!("a deletion record is damaged; skipped"),
                }
            }
        }
        out.sort_by_key(|d| d.seq);
        Ok(out)
    }

    /// The records numbered above `after`, up to [`Store::settled`].
    #[cfg(test)]
    pub fn deletions_after(&self, after: u64) -> io::Result<Vec<Deletion>> {
        self.deletions_between(after, self.settled())
    }

    /// The records numbered above `after` and up to `upto` (a [`Store::settled`] taken before
    /// the index's listing, so both stop at the same number), for the reviewers' index.
    pub fn deletions_between(&self, after: u64, upto: u64) -> io::Result<Vec<Deletion>> {
        let _records = self.records();
        Ok(self
            .all_deletions()?
            .into_iter()
            .filter(|d| d.seq > after && d.seq <= upto)
            .collect())
    }

    /// Appends a record for each of `asked` that the ledger does not hold yet (same kind, same
    /// credential, same submission), durably, each with a new sequence number.
    pub(super) fn record_deletions(&self, asked: &[Asked<'_>]) -> io::Result<()> {
        let _records = self.records();
        let seen: HashSet<(DeletionKind, Option<String>, String, String)> = self
            .all_deletions()?
            .into_iter()
            .map(|d| (d.kind, d.by, d.designation, d.submission))
            .collect();
        let day = day_utc(0);
        let mut lines = String::new();
        let mut tickets = Vec::new();
        let mut written = HashSet::new();
        for a in asked {
            let designation = self.designation_of(&a.lookup)?;
            let key = (
                a.kind,
                a.by.map(str::to_owned),
                designation.clone(),
                a.submission.to_owned(),
            );
            if seen.contains(&key) || !written.insert(key) {
                continue;
            }
            let ticket = self.ticket()?;
            let record = Deletion {
                seq: ticket.seq,
                day: day.clone(),
                kind: a.kind,
                by: a.by.map(str::to_owned),
                designation,
                submission: a.submission.to_owned(),
            };
            if !record.is_well_formed() {
                return Err(io::Error::other("a deletion record would be malformed"));
            }
            lines.push_str(&record.to_line());
            lines.push('\n');
            tickets.push(ticket);
        }
        if lines.is_empty() {
            return Ok(());
        }
        let dir = self.root.join(DELETIONS);
        if !dir.is_dir() {
            fs::DirBuilder::new().mode(0o700).create(&dir)?;
            fsync_dir(&self.root)?;
            normalize_times(&self.root)?;
        }
        let path = dir.join(&day);
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)?;
        f.write_all(lines.as_bytes())?;
        f.sync_all()?;
        normalize_times(&path)?;
        fsync_dir(&dir)?;
        normalize_times(&dir)?;
        // The numbers settle only now that their records are on disk.
        drop(tickets);
        Ok(())
    }

    /// `credential`'s ack of `which`: refused as a whole, and each offending submission
    /// recorded as a refused ack, if the credential (whose served counts are kept as
    /// `served_as`) was not served every byte of one that is still held; otherwise each one
    /// held is recorded as acked by the credential, then deleted. Submissions already gone are
    /// skipped (another workstation acked them, or retention).
    pub fn ack(
        &self,
        credential: &str,
        served_as: &str,
        which: &[(LookupId, &str)],
    ) -> Result<AckOutcome, StoreError> {
        let _deleting = self.deleting.lock().unwrap_or_else(|p| p.into_inner());
        let mut held = Vec::new();
        let mut refused = Vec::new();
        for (lookup, id) in which {
            let dir = self
                .submission_dir(lookup, id)
                .ok_or(StoreError::BAD_SUBMISSION)?;
            if !dir.is_dir() {
                continue;
            }
            if self.fetched_in_full(served_as, lookup, id)? {
                held.push((*lookup, *id));
            } else {
                refused.push((*lookup, *id));
            }
        }
        if !refused.is_empty() {
            self.record_deletions(&asked(DeletionKind::Refused, credential, &refused))?;
            return Ok(AckOutcome::Refused(
                refused
                    .iter()
                    .map(|(l, id)| Ok((self.designation_of(l)?, (*id).to_owned())))
                    .collect::<io::Result<_>>()?,
            ));
        }
        self.record_deletions(&asked(DeletionKind::Ack, credential, &held))?;
        Ok(AckOutcome::Deleted(self.delete_submissions(&held)?))
    }

    /// Records the submissions retention is about to delete (those still held).
    pub(super) fn record_retention(&self, which: &[(LookupId, String)]) -> io::Result<()> {
        let records: Vec<Asked<'_>> = which
            .iter()
            .filter(|(l, id)| self.submission_dir(l, id).is_some_and(|d| d.is_dir()))
            .map(|(lookup, id)| Asked {
                kind: DeletionKind::Retention,
                by: None,
                lookup: *lookup,
                submission: id,
            })
            .collect();
        self.record_deletions(&records)
    }

    /// Removes the day lists of records older than `cutoff` (a `YYYY-MM-DD`).
    pub(super) fn expire_deletions(&self, cutoff: &str) -> io::Result<()> {
        let _records = self.records();
        let dir = self.root.join(DELETIONS);
        let mut removed = false;
        for day in list_names(&dir)? {
            if day.as_str() < cutoff {
                fs::remove_file(dir.join(&day))?;
                removed = true;
            }
        }
        if removed {
            fsync_dir(&dir)?;
            normalize_times(&dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup() -> LookupId {
        LookupId::from_hex(&"a7".repeat(32)).unwrap()
    }

    fn submit(store: &Store) -> String {
        store.ensure_source(&lookup(), "age1x").unwrap();
        let staged = store.stage().unwrap();
        let mut t = staged.tempfile().unwrap();
        t.write_all(b"ciphertext").unwrap();
        staged.keep(t, "0d.age").unwrap();
        store.commit_submission(staged, &lookup()).unwrap()
    }

    #[test]
    fn a_refused_ack_deletes_nothing_and_every_deletion_is_recorded_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = submit(&store);
        let before = store.settled();
        let out = store.ack("bob", "bob", &[(lookup(), &id)]).unwrap();
        assert_eq!(
            out,
            AckOutcome::Refused(vec![(store.designation_of(&lookup()).unwrap(), id.clone())])
        );
        assert_eq!(store.submissions(&lookup()).unwrap(), vec![id.clone()]);
        // Asking again adds no second record.
        store.ack("bob", "bob", &[(lookup(), &id)]).unwrap();
        let recs = store.deletions_after(before).unwrap();
        assert_eq!(recs.len(), 1, "{recs:?}");
        assert_eq!(recs[0].kind, DeletionKind::Refused);
        assert_eq!(recs[0].by.as_deref(), Some("bob"));
        assert!(recs[0].seq > before);

        let key = super::super::fetched::Served {
            credential: "alice".into(),
            lookup: lookup(),
            submission: id.clone(),
            file: "0d.age".into(),
        };
        store.note_served(&key, 0, 10);
        assert_eq!(
            store.ack("alice", "alice", &[(lookup(), &id)]).unwrap(),
            AckOutcome::Deleted(1)
        );
        assert!(store.submissions(&lookup()).unwrap().is_empty());
        // Gone: a second ack is a no-op, with no record.
        assert_eq!(
            store.ack("alice", "alice", &[(lookup(), &id)]).unwrap(),
            AckOutcome::Deleted(0)
        );
        let recs = store.deletions_after(before).unwrap();
        assert_eq!(recs.len(), 2, "{recs:?}");
        assert_eq!(recs[1].kind, DeletionKind::Ack);
        assert_eq!(recs[1].by.as_deref(), Some("alice"));
        // The ledger names no lookup id and shows no time.
        let ledger = dir.path().join(DELETIONS);
        let text = fs::read_to_string(ledger.join(day_utc(0))).unwrap();
        assert!(!text.contains(&lookup().to_hex()), "{text}");
        assert_eq!(
            fs::metadata(&ledger).unwrap().modified().unwrap(),
            std::time::UNIX_EPOCH
        );
        // Old lists go.
        store.expire_deletions(&day_utc(1)).unwrap();
        assert!(store.deletions_after(0).unwrap().is_empty());
    }

    /// A record numbered above a commit still in flight is not listed until that commit
    /// settles, like a submission: the index's cursor cannot pass the commit.
    #[test]
    fn records_wait_for_the_commits_in_flight_below_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = submit(&store);
        let before = store.settled();
        let low = store.ticket().unwrap();
        store.ack("bob", "bob", &[(lookup(), &id)]).unwrap();
        assert!(store
            .deletions_between(before, store.settled())
            .unwrap()
            .is_empty());
        drop(low);
        let listed = store.deletions_between(before, store.settled()).unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");
    }

    /// Retention records before it deletes; a sweep cut off after the record (a crash) is
    /// completed by the next one, which does not record it twice.
    #[test]
    fn retention_records_first_and_a_retry_does_not_record_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = submit(&store);
        // The crash: recorded, not deleted.
        store.record_retention(&[(lookup(), id.clone())]).unwrap();
        assert_eq!(store.submissions(&lookup()).unwrap(), vec![id.clone()]);
        let ledger = dir.path().join(super::super::ledger::RETENTION);
        let line = fs::read_to_string(ledger.join(day_utc(0))).unwrap();
        fs::remove_file(ledger.join(day_utc(0))).unwrap();
        fs::write(ledger.join("2000-01-01"), line).unwrap();
        assert_eq!(store.expire(90).unwrap(), 1);
        assert!(store.submissions(&lookup()).unwrap().is_empty());
        let recs = store.deletions_after(0).unwrap();
        assert_eq!(recs.len(), 1, "{recs:?}");
        assert_eq!(
            (recs[0].kind, recs[0].by.as_deref()),
            (DeletionKind::Retention, None)
        );
        assert_eq!(recs[0].submission, id);
        assert_eq!(
            recs[0].designation,
            lanterne_core::designation::of_recipient("age1x")
        );
    }
}
