//! The box-wide sequence: numbers that are never given twice, and the bound below which every
//! number is settled.
//!
//! Reviewers fetch "everything after N" (see [`crate::api`]), so a number that came back would
//! hide whatever got it: the reviewers' cursor is already past it. Numbers therefore never come
//! back, whatever is deleted (an ack, retention, a source deleting its newest reply) and however
//! often the box restarts. The last number given out is kept in `DATA/sequence`, written
//! durably *before* the number is used; at start the counter resumes from the larger of that mark
//! and the highest name on disk, so a data dir from before the mark existed upgrades safely.
//!
//! A number is given out before the rename that makes its submission or reply visible, so two
//! commits can become visible out of order. A [`Ticket`] holds a number while it is in flight;
//! [`Store::settled`] is the highest number below every number in flight. The index lists only
//! up to it, so the reviewers' cursor never passes a commit that has not landed yet.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::Path;

use super::{list_names, seq_of, Store, REPLIES, SOURCES, SUBMISSIONS};

/// Where the last number given out is kept.
const SEQUENCE: &str = "sequence";

/// The counter behind the sequence.
#[derive(Debug, Default)]
pub(super) struct Counter {
    /// The last number given out (and already durable in `DATA/sequence`).
    last: u64,
    /// Numbers given out whose commit has neither landed nor been abandoned.
    in_flight: BTreeSet<u64>,
}

/// A sequence number in use by one commit. Dropping it (after the commit landed, or when the
/// commit failed) settles the number.
#[derive(Debug)]
pub(super) struct Ticket<'a> {
    store: &'a Store,
    pub(super) seq: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.store.counter().in_flight.remove(&self.seq);
    }
}

impl Store {
    fn counter(&self) -> std::sync::MutexGuard<'_, Counter> {
        self.counter.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the counter from the durable mark and the names on disk, at start.
    pub(super) fn load_counter(&self) -> io::Result<()> {
        let path = self.root.join(SEQUENCE);
        let mark = match fs::read_to_string(&path) {
            Ok(text) => text.trim().parse::<u64>().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} is damaged: it must hold one number, the last sequence number given \
                         out. If it was lost, write a number at least as large as every \
                         reviewer bundle's `next` (lanterne-bundle.json) and start again",
                        path.display()
                    ),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        self.counter().last = mark.max(highest_on_disk(&self.root)?);
        Ok(())
    }

    /// The next number of the sequence, made durable before it is handed out.
    pub(super) fn ticket(&self) -> io::Result<Ticket<'_>> {
        let mut counter = self.counter();
        let seq = counter
            .last
            .checked_add(1)
            .ok_or_else(|| io::Error::other("the sequence is exhausted"))?;
        // Held under the lock, so the mark on disk only ever grows.
        self.replace_durable(&self.root.join(SEQUENCE), format!("{seq}\n").as_bytes())?;
        counter.last = seq;
        counter.in_flight.insert(seq);
        Ok(Ticket { store: self, seq })
    }

    /// Every number up to this one is settled: its submission or reply is in place (or was
    /// deleted since), or its commit failed. Take it *before* listing the folders.
    pub fn settled(&self) -> u64 {
        let counter = self.counter();
        match counter.in_flight.first() {
            Some(lowest) => lowest - 1,
            None => counter.last,
        }
    }
}

/// The highest sequence number of a submission held in the data dir `root`, 0 if none. Read
/// from the names alone, without opening the store (no lock, no write), so it works beside a
/// running box (`lanterne digest`, [`crate::digest`]).
pub fn newest_submission(root: &Path) -> io::Result<u64> {
    let mut max = 0;
    for source in list_names(&root.join(SOURCES))? {
        for name in list_names(&root.join(SOURCES).join(source).join(SUBMISSIONS))? {
            max = max.max(seq_of(&name).unwrap_or(0));
        }
    }
    Ok(max)
}

/// The highest sequence number in a name on disk.
fn highest_on_disk(root: &Path) -> io::Result<u64> {
    let mut max = 0;
    for source in list_names(&root.join(SOURCES))? {
        let dir = root.join(SOURCES).join(source);
        for name in list_names(&dir.join(SUBMISSIONS))?
            .into_iter()
            .chain(list_names(&dir.join(REPLIES))?)
        {
            max = max.max(seq_of(&name).unwrap_or(0));
        }
    }
    // Deletion records carry numbers too.
    let ledger = root.join(super::deletions::DELETIONS);
    for day in list_names(&ledger)? {
        for line in fs::read_to_string(ledger.join(day))?.lines() {
            if let Some(d) = lanterne_core::api::Deletion::parse_line(line) {
                max = max.max(d.seq);
            }
        }
    }
    Ok(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source_key::LookupId;
    use std::io::Write;

    fn lookup() -> LookupId {
        LookupId::from_hex(&"cd".repeat(32)).unwrap()
    }

    fn staged_with(store: &Store, body: &[u8]) -> super::super::Staged {
        let staged = store.stage().unwrap();
        let mut t = staged.tempfile().unwrap();
        t.write_all(body).unwrap();
        staged.keep(t, "0a.age").unwrap();
        staged
    }

    fn listed(store: &Store, after: u64) -> Vec<u64> {
        store
            .listing(after)
            .unwrap()
            .into_iter()
            .flat_map(|(_, subs)| subs.into_iter().map(|(_, seq)| seq))
            .collect()
    }

    /// Two commits; the higher number lands first. An index taken in between lists neither,
    /// so a cursor taken from it cannot pass the lower one.
    #[test]
    fn the_index_never_runs_ahead_of_a_commit_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.ensure_source(&lookup(), "age1x").unwrap();
        let before = store.settled();
        let low = store.ticket().unwrap();
        let high = store.commit_submission(staged_with(&store, b"high"), &lookup());
        let high = seq_of(&high.unwrap()).unwrap();
        assert!(high > low.seq);
        assert_eq!(store.settled(), before);
        assert_eq!(
            listed(&store, before),
            Vec::<u64>::new(),
            "listed past a commit in flight"
        );
        let low_seq = low.seq;
        store
            .commit_numbered(staged_with(&store, b"low"), &lookup(), &low)
            .unwrap();
        drop(low);
        assert_eq!(store.settled(), high);
        assert_eq!(listed(&store, before), vec![low_seq, high]);
        assert_eq!(listed(&store, low_seq), vec![high]);
    }

    /// A commit that fails settles its number too.
    #[test]
    fn an_abandoned_number_settles() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let t = store.ticket().unwrap();
        assert_eq!(store.settled(), t.seq - 1);
        drop(t);
        assert_eq!(store.settled(), 1);
    }

    #[test]
    fn numbers_survive_deletion_and_restart_and_the_mark_upgrades_old_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.ensure_source(&lookup(), "age1x").unwrap();
        let a = store
            .commit_submission(staged_with(&store, b"a"), &lookup())
            .unwrap();
        let r = crate::store::replies::tests::stored(store.put_reply(
            &lookup(),
            b"reply",
            b"sig",
            &crate::store::random_id(),
        ));
        assert!(store.delete_submission(&lookup(), &a).unwrap());
        assert!(store.delete_reply(&lookup(), &r).unwrap());
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let b = store
            .commit_submission(staged_with(&store, b"b"), &lookup())
            .unwrap();
        assert_eq!(seq_of(&b), Some(3), "numbers 1 and 2 are gone for good");

        // A data dir from before the mark: the names on disk win over a smaller mark.
        fs::write(dir.path().join(SEQUENCE), "1\n").unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.settled(), 3);
        // A damaged mark stops the box with a message, rather than guess.
        fs::write(dir.path().join(SEQUENCE), "").unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is damaged"), "{err}");
    }
}
