//! Replies in a source's folder: stored as reviewers pushed them, read at the source's login,
//! deleted by the source.
//!
//! A reply is named `r<seq>-<hash>.age`, where `<hash>` is the start of the ciphertext's SHA-256.
//! Its signature names a random reply id (`lanterne_core::reply::Signed`), and the source's
//! folder keeps every id it ever stored in `reply-ids` (written durably before the push is
//! answered, and again from the stored signature when a reply is deleted, in case a crash came
//! between the reply and its id; removed only with the folder): a second push of an id stores nothing and touches
//! nothing, even after the source deleted the reply, so a credential cannot deliver an old
//! answer again at a time it picks. Its signature by a reviewer (checked before it
//! is stored, `lanterne_core::reply`) is kept beside it as `r<seq>-<hash>.age.minisig`, written
//! first, so a stored reply always has its signature (a crash in between leaves a lone
//! signature, which says nothing and goes with the reply's id or the source's folder). Replies
//! expire like submissions ([`super::ledger`]), with their signatures. Reviewers fetch them
//! too (the reviewer API lists them after the cursor, [`Store::replies_upto`]), so the offline
//! machine shows what the team already said; an ack never deletes one.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::archive::Listing;
use super::{
    fsync_dir, list_names, normalize_times, seq_of, valid_name, Store, StoreError, REPLIES,
};
use crate::source_key::LookupId;

/// What a reply's signature file adds to the reply's file name (minisign's own convention).
use lanterne_core::bundle::SIGNATURE_SUFFIX;

/// The file of a source's folder that lists every reply id it ever stored.
const REPLY_IDS: &str = "reply-ids";

/// What [`Store::put_reply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// Stored under this id (`r<seq>-<hash>`).
    Stored(String),
    /// This reply was stored for this source before: nothing written, nothing refreshed.
    Again,
}

impl Store {
    /// Reply ids of a source, oldest first.
    pub fn replies(&self, lookup: &LookupId) -> io::Result<Vec<String>> {
        let mut ids: Vec<String> = list_names(&self.source_dir(lookup).join(REPLIES))?
            .into_iter()
            .filter_map(|n| n.strip_suffix(".age").map(str::to_owned))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Reads one reply's ciphertext, refusing files over `max` bytes.
    pub fn read_reply(&self, lookup: &LookupId, id: &str, max: u64) -> Result<Vec<u8>, StoreError> {
        let path = self.reply_path(lookup, id)?;
        let mut buf = Vec::new();
        File::open(path)?.take(max + 1).read_to_end(&mut buf)?;
        if buf.len() as u64 > max {
            return Err(io::Error::other("reply larger than allowed").into());
        }
        Ok(buf)
    }

    /// The replies numbered above `after` and up to `upto` (a [`Store::settled`] taken before
    /// listing, as for submissions: the reply is renamed into place before its number settles),
    /// by source, for the reviewers' index.
    pub fn replies_upto(&self, after: u64, upto: u64) -> io::Result<Listing> {
        let mut listing = Vec::new();
        for lookup in self.sources()? {
            let replies: Vec<(String, u64)> = self
                .replies(&lookup)?
                .into_iter()
                .filter_map(|id| {
                    let seq = seq_of(&id).filter(|s| *s > after && *s <= upto)?;
                    Some((id, seq))
                })
                .collect();
            if !replies.is_empty() {
                listing.push((lookup, replies));
            }
        }
        Ok(listing)
    }

    /// A reply's ciphertext and its signature (empty if it has none), for a reviewer's fetch.
    pub fn reply_with_signature(
        &self,
        lookup: &LookupId,
        id: &str,
    ) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
        let ciphertext = self.read_reply(
            lookup,
            id,
            lanterne_core::limits::MAX_REPLY_CIPHERTEXT_BYTES,
        )?;
        let signature = read_signature(&self.reply_path(lookup, id)?)?;
        Ok((ciphertext, signature))
    }

    /// Stores an already-encrypted reply and its signature atomically, under the signed
    /// `reply_id`, and returns its stored id. A `reply_id` this source ever stored (even if
    /// deleted since), or the same bytes still stored, give [`Pushed::Again`]: nothing is
    /// written and the source's activity day is not refreshed.
    pub fn put_reply(
        &self,
        lookup: &LookupId,
        ciphertext: &[u8],
        signature: &[u8],
        reply_id: &str,
    ) -> io::Result<Pushed> {
        let _pushing = self.pushing.lock().unwrap_or_else(|p| p.into_inner());
        let source = self.source_dir(lookup);
        if !source.join(super::RECIPIENT).exists() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such source"));
        }
        let mut ids = self.reply_ids(lookup)?;
        if ids.iter().any(|id| id == reply_id) {
            return Ok(Pushed::Again);
        }
        let dir = source.join(REPLIES);
        let hash = hex::encode(&Sha256::digest(ciphertext)[..16]);
        let suffix = format!("-{hash}");
        if self
            .replies(lookup)?
            .into_iter()
            .any(|id| id.ends_with(&suffix))
        {
            // Stored by a push that stopped before its id was recorded: record it now.
            ids.push(reply_id.to_owned());
            self.write_reply_ids(lookup, &ids)?;
            return Ok(Pushed::Again);
        }
        // Today's activity first: from here retention leaves the folder alone.
        if !self.touch_source(lookup)? {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such source"));
        }
        let ticket = self.ticket()?;
        let id = format!("r{:010}{suffix}", ticket.seq);
        self.replace_durable(&dir.join(format!("{id}.age{SIGNATURE_SUFFIX}")), signature)?;
        self.replace_durable(&dir.join(format!("{id}.age")), ciphertext)?;
        drop(ticket);
        self.record_reply(lookup, &id)?;
        ids.push(reply_id.to_owned());
        self.write_reply_ids(lookup, &ids)?;
        Ok(Pushed::Stored(id))
    }

    /// Before a stored reply goes, makes sure its signed id is in `reply-ids`. `put_reply`
    /// records the id after the reply's files are in place (so that a crash never loses an
    /// honest reply), and a crash in between leaves a stored reply whose id is not recorded;
    /// a replay after the source deleted it would then be stored again. The id is read from
    /// the stored signature, checked when it was pushed.
    fn record_signed_id(&self, lookup: &LookupId, path: &Path) -> io::Result<()> {
        let Some(id) = lanterne_core::reply::signed_id(&read_signature(path)?) else {
            return Ok(());
        };
        let _pushing = self.pushing.lock().unwrap_or_else(|p| p.into_inner());
        let mut ids = self.reply_ids(lookup)?;
        if !ids.contains(&id) {
            ids.push(id);
            self.write_reply_ids(lookup, &ids)?;
        }
        Ok(())
    }

    /// The signed ids of every reply this source's folder ever stored.
    fn reply_ids(&self, lookup: &LookupId) -> io::Result<Vec<String>> {
        match fs::read_to_string(self.source_dir(lookup).join(REPLY_IDS)) {
            Ok(text) => Ok(text.lines().map(str::to_owned).collect()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Replaces the source's `reply-ids` durably (temp file, fsync, rename, fsync).
    fn write_reply_ids(&self, lookup: &LookupId, ids: &[String]) -> io::Result<()> {
        let mut text = ids.join("\n");
        text.push('\n');
        self.replace_durable(&self.source_dir(lookup).join(REPLY_IDS), text.as_bytes())
    }

    /// Deletes a reply and its retention line. Returns whether it existed.
    pub fn delete_reply(&self, lookup: &LookupId, id: &str) -> Result<bool, StoreError> {
        let existed = self.remove_reply_file(lookup, &self.reply_path(lookup, id)?)?;
        if existed {
            self.forget_reply(lookup, id)?;
        }
        Ok(existed)
    }

    /// Deletes a reply's file (its [`Store::reply_path`]) and its signature, leaving its
    /// retention line. Returns whether the reply existed.
    pub(super) fn remove_reply_file(&self, lookup: &LookupId, path: &Path) -> io::Result<bool> {
        self.record_signed_id(lookup, path)?;
        let existed = match fs::remove_file(path) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        // The signature goes with its reply (or alone, if a crash left it without one).
        let mut sig = path.as_os_str().to_owned();
        sig.push(SIGNATURE_SUFFIX);
        let sig_existed = match fs::remove_file(PathBuf::from(sig)) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        if !existed && !sig_existed {
            return Ok(false);
        }
        let dir = self.source_dir(lookup).join(REPLIES);
        fsync_dir(&dir)?;
        normalize_times(&dir)?;
        Ok(existed)
    }

    pub(super) fn reply_path(&self, lookup: &LookupId, id: &str) -> Result<PathBuf, StoreError> {
        if !valid_name(id) {
            return Err(StoreError::BAD_REPLY);
        }
        Ok(self
            .source_dir(lookup)
            .join(REPLIES)
            .join(format!("{id}.age")))
    }
}

/// The signature stored beside the reply at `path`: empty when there is none or it is larger
/// than any signature the server accepts.
fn read_signature(path: &Path) -> io::Result<Vec<u8>> {
    let mut sig = path.as_os_str().to_owned();
    sig.push(SIGNATURE_SUFFIX);
    let mut signature = Vec::new();
    match File::open(PathBuf::from(sig)) {
        Ok(f) => {
            let cap = lanterne_core::reply::MAX_SIGNATURE_BYTES as u64;
            f.take(cap + 1).read_to_end(&mut signature)?;
            if signature.len() as u64 > cap {
                signature.clear();
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(signature)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The stored id of a reply that must have been stored.
    pub(in crate::store) fn stored(pushed: io::Result<Pushed>) -> String {
        match pushed.unwrap() {
            Pushed::Stored(id) => id,
            Pushed::Again => panic!("the reply was not stored"),
        }
    }

    /// A second push of an id stores nothing and refreshes nothing, while the reply is stored
    /// and after it was deleted; the same bytes under another id are not stored twice.
    #[test]
    fn a_reply_id_is_stored_once_ever_and_a_second_push_touches_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let lookup = LookupId::from_hex(&"ab".repeat(32)).unwrap();
        store.ensure_source(&lookup, "age1x").unwrap();
        let id = "c".repeat(32);
        let first = stored(store.put_reply(&lookup, b"one", b"sig", &id));
        let active = store.source_dir(&lookup).join(super::super::ledger::ACTIVE);
        fs::write(&active, "2000-01-01\n").unwrap();
        assert_eq!(
            store.put_reply(&lookup, b"one", b"sig", &id).unwrap(),
            Pushed::Again
        );
        assert_eq!(
            store
                .put_reply(&lookup, b"one", b"sig", &"d".repeat(32))
                .unwrap(),
            Pushed::Again
        );
        assert_eq!(fs::read_to_string(&active).unwrap(), "2000-01-01\n");
        assert!(store.delete_reply(&lookup, &first).unwrap());
        assert_eq!(
            store.put_reply(&lookup, b"one", b"sig", &id).unwrap(),
            Pushed::Again
        );
        assert!(store.replies(&lookup).unwrap().is_empty());
        assert_eq!(fs::read_to_string(&active).unwrap(), "2000-01-01\n");
    }

    /// A reply whose number is given out but whose files are not in place yet holds back the
    /// listing of every reply numbered after it, as a submission in flight does.
    #[test]
    fn replies_are_listed_after_the_cursor_and_never_past_a_commit_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let lookup = LookupId::from_hex(&"ef".repeat(32)).unwrap();
        store.ensure_source(&lookup, "age1x").unwrap();
        let first = stored(store.put_reply(&lookup, b"one", b"sig", &"a".repeat(32)));
        let listed = |after| -> Vec<String> {
            store
                .replies_upto(after, store.settled())
                .unwrap()
                .into_iter()
                .flat_map(|(_, r)| r.into_iter().map(|(id, _)| id))
                .collect()
        };
        assert_eq!(listed(0), vec![first.clone()]);
        let in_flight = store.ticket().unwrap();
        let later = stored(store.put_reply(&lookup, b"two", b"sig", &"b".repeat(32)));
        assert_eq!(
            listed(0),
            vec![first.clone()],
            "listed past a commit in flight"
        );
        drop(in_flight);
        assert_eq!(listed(seq_of(&first).unwrap()), vec![later.clone()]);
        let (ciphertext, signature) = store.reply_with_signature(&lookup, &later).unwrap();
        assert_eq!(
            (&ciphertext[..], &signature[..]),
            (&b"two"[..], &b"sig"[..])
        );
    }
}
