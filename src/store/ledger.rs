//! Retention records: the day each submission and reply arrived, and the day each source was
//! last active, so that everything is deleted on time and nothing outlives what it describes.
//!
//! Nothing else on disk says when something came (names are random, times are the epoch), so:
//!
//! - each commit appends `<lookup id>/<submission id>` to `retention/<day>`;
//! - each stored reply appends its id to `sources/<lookup id>/retention/<day>`;
//! - `sources/<lookup id>/active` holds the day of the source's last submission or reply.
//!
//! [`Store::expire`] records ([`super::deletions`]) then deletes what the lists older than the
//! retention period name, drops deletion records that old, then every
//! source folder with nothing left whose last activity is that old (after that the source's
//! code opens nothing). A line goes as soon as what it names is deleted (an ack, a source
//! deleting a reply), so after a deletion nothing outside the source's own folder names the
//! source. Only days are written, never times; a seized disk shows the arrival day of what is
//! still held, and the last active day of each source folder still there.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use super::{
    day_utc, fsync_dir, list_names, normalize_times, Store, RECIPIENT, REPLIES, SUBMISSIONS,
};
use crate::source_key::LookupId;

/// The folder of day lists, both box-wide and in each source's folder.
pub(super) const RETENTION: &str = "retention";
/// A source folder's last active day.
pub(super) const ACTIVE: &str = "active";

/// A day list's name: `YYYY-MM-DD`, which sorts as the days do.
fn is_day(name: &str) -> bool {
    name.len() == 10
        && name.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
}

fn read_lines(path: &Path) -> io::Result<Vec<String>> {
    match File::open(path) {
        Ok(f) => BufReader::new(f).lines().collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn submission_line(lookup: &LookupId, id: &str) -> String {
    format!("{}/{id}", lookup.to_hex())
}

impl Store {
    /// Notes that a submission arrived today, for retention.
    pub(super) fn record_arrival(&self, lookup: &LookupId, id: &str) -> io::Result<()> {
        self.append_line(&self.root.join(RETENTION), &submission_line(lookup, id))
    }

    /// Notes that a reply was stored today, for retention.
    pub(super) fn record_reply(&self, lookup: &LookupId, id: &str) -> io::Result<()> {
        self.append_line(&self.source_dir(lookup).join(RETENTION), id)
    }

    /// Drops the retention lines of deleted submissions.
    pub(super) fn forget_submissions(&self, gone: &[(LookupId, &str)]) -> io::Result<()> {
        let lines = gone.iter().map(|(l, id)| submission_line(l, id)).collect();
        self.remove_lines(&self.root.join(RETENTION), &lines)
    }

    /// Drops the retention line of a deleted reply.
    pub(super) fn forget_reply(&self, lookup: &LookupId, id: &str) -> io::Result<()> {
        let lines = HashSet::from([id.to_owned()]);
        self.remove_lines(&self.source_dir(lookup).join(RETENTION), &lines)
    }

    /// Appends `line` to today's list in `dir`, durably.
    fn append_line(&self, dir: &Path, line: &str) -> io::Result<()> {
        let _records = self.records();
        if !dir.is_dir() {
            fs::DirBuilder::new().mode(0o700).create(dir)?;
            if let Some(parent) = dir.parent() {
                fsync_dir(parent)?;
                normalize_times(parent)?;
            }
        }
        let path = dir.join(day_utc(0));
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)?;
        writeln!(f, "{line}")?;
        f.sync_all()?;
        normalize_times(&path)?;
        fsync_dir(dir)?;
        normalize_times(dir)
    }

    /// Removes `lines` from every list in `dir`; a list left empty goes.
    fn remove_lines(&self, dir: &Path, lines: &HashSet<String>) -> io::Result<()> {
        let _records = self.records();
        for day in list_names(dir)? {
            let path = dir.join(&day);
            let all = read_lines(&path)?;
            let kept: Vec<&String> = all.iter().filter(|l| !lines.contains(*l)).collect();
            if kept.len() == all.len() {
                continue;
            }
            if kept.is_empty() {
                self.remove_list(dir, &day)?;
            } else {
                let text: String = kept.iter().map(|l| format!("{l}\n")).collect();
                self.replace_durable(&path, text.as_bytes())?;
            }
        }
        Ok(())
    }

    /// Removes one day list (the caller holds the records lock).
    fn remove_list(&self, dir: &Path, day: &str) -> io::Result<()> {
        match fs::remove_file(dir.join(day)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        fsync_dir(dir)?;
        normalize_times(dir)
    }

    /// The lists in `dir` of days before `cutoff`, with their lines.
    fn lists_before(&self, dir: &Path, cutoff: &str) -> io::Result<Vec<(String, Vec<String>)>> {
        let _records = self.records();
        let mut out = Vec::new();
        for day in list_names(dir)? {
            if is_day(&day) && day.as_str() < cutoff {
                let lines = read_lines(&dir.join(&day))?;
                out.push((day, lines));
            }
        }
        Ok(out)
    }

    /// Notes today's activity in a source's folder, if it exists; returns whether it does.
    /// Under the records lock, so [`Store::expire`] cannot remove the folder after this.
    pub(super) fn touch_source(&self, lookup: &LookupId) -> io::Result<bool> {
        let _records = self.records();
        let dir = self.source_dir(lookup);
        if !dir.join(RECIPIENT).exists() {
            return Ok(false);
        }
        let today = day_utc(0);
        let path = dir.join(ACTIVE);
        if fs::read_to_string(&path).is_ok_and(|d| d.trim() == today) {
            return Ok(true);
        }
        self.replace_durable(&path, format!("{today}\n").as_bytes())?;
        Ok(true)
    }

    /// Deletes every submission and reply that arrived more than `days` days ago, then every
    /// source folder with nothing left and no activity for that long. Returns how many
    /// submissions and replies it deleted.
    pub fn expire(&self, days: u32) -> io::Result<usize> {
        let cutoff = day_utc(-i64::from(days));
        let dir = self.root.join(RETENTION);
        let mut deleted = 0;
        for (day, lines) in self.lists_before(&dir, &cutoff)? {
            let doomed: Vec<(LookupId, String)> = lines
                .iter()
                .filter_map(|line| {
                    let (lookup, id) = line.split_once('/')?;
                    let lookup = LookupId::from_hex(lookup)?;
                    self.submission_dir(&lookup, id)?;
                    Some((lookup, id.to_owned()))
                })
                .collect();
            // Not while an ack checks and deletes (one record per deletion).
            let _deleting = self.deleting.lock().unwrap_or_else(|p| p.into_inner());
            // Recorded before anything goes; a crash after this, and the next sweep finishes.
            self.record_retention(&doomed)?;
            for (lookup, id) in &doomed {
                if let Some(dir) = self.submission_dir(lookup, id) {
                    if self.remove_atomically(&dir)? {
                        deleted += 1;
                    }
                }
            }
            let gone: Vec<(LookupId, &str)> =
                doomed.iter().map(|(l, id)| (*l, id.as_str())).collect();
            self.forget_served(&gone);
            let _records = self.records();
            self.remove_list(&dir, &day)?;
        }
        self.expire_deletions(&cutoff)?;
        let mut folders = 0;
        for lookup in self.sources()? {
            deleted += self.expire_replies(&lookup, &cutoff)?;
            if self.expire_folder(&lookup, &cutoff)? {
                folders += 1;
            }
        }
        if folders > 0 {
            tracing::debug!(folders, "retention: inactive source folders removed");
        }
        Ok(deleted)
    }

    fn expire_replies(&self, lookup: &LookupId, cutoff: &str) -> io::Result<usize> {
        let dir = self.source_dir(lookup).join(RETENTION);
        let mut deleted = 0;
        for (day, ids) in self.lists_before(&dir, cutoff)? {
            for id in ids {
                // A line naming no valid reply is skipped, as a bad submission line is.
                if let Ok(path) = self.reply_path(lookup, &id) {
                    if self.remove_reply_file(lookup, &path)? {
                        deleted += 1;
                    }
                }
            }
            let _records = self.records();
            self.remove_list(&dir, &day)?;
        }
        // Replies stored before this list existed start their retention now.
        let mut listed = HashSet::new();
        for day in list_names(&dir)? {
            listed.extend(read_lines(&dir.join(day))?);
        }
        for id in self.replies(lookup)? {
            if !listed.contains(&id) {
                self.record_reply(lookup, &id)?;
            }
        }
        Ok(deleted)
    }

    /// Removes a source folder that holds nothing and was last active before `cutoff`.
    fn expire_folder(&self, lookup: &LookupId, cutoff: &str) -> io::Result<bool> {
        let _records = self.records();
        let dir = self.source_dir(lookup);
        let active = dir.join(ACTIVE);
        let day = fs::read_to_string(&active)
            .ok()
            .map(|d| d.trim().to_owned())
            .filter(|d| is_day(d));
        let Some(day) = day else {
            // A folder from an older build (or a damaged day): its inactivity counts from now.
            self.replace_durable(&active, format!("{}\n", day_utc(0)).as_bytes())?;
            return Ok(false);
        };
        if day.as_str() >= cutoff
            || !list_names(&dir.join(SUBMISSIONS))?.is_empty()
            || !list_names(&dir.join(REPLIES))?.is_empty()
        {
            return Ok(false);
        }
        self.remove_atomically(&dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(b: &str) -> LookupId {
        LookupId::from_hex(&b.repeat(32)).unwrap()
    }

    fn submit(store: &Store, who: &LookupId) -> String {
        store.ensure_source(who, "age1x").unwrap();
        let staged = store.stage().unwrap();
        let mut t = staged.tempfile().unwrap();
        t.write_all(b"ciphertext").unwrap();
        staged.keep(t, "0b.age").unwrap();
        store.commit_submission(staged, who).unwrap()
    }

    /// Moves every list in `dir` to a day long past.
    fn age(dir: &Path) {
        let mut all = String::new();
        for day in list_names(dir).unwrap() {
            all.push_str(&fs::read_to_string(dir.join(&day)).unwrap());
            fs::remove_file(dir.join(day)).unwrap();
        }
        fs::write(dir.join("2000-01-01"), all).unwrap();
    }

    #[test]
    fn deletion_takes_the_line_and_an_empty_list_goes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b) = (lookup("a1"), lookup("b2"));
        let sa = submit(&store, &a);
        let sb = submit(&store, &b);
        let ledger = dir.path().join(RETENTION);
        assert!(store.delete_submission(&a, &sa).unwrap());
        let text = fs::read_to_string(ledger.join(day_utc(0))).unwrap();
        assert!(!text.contains(&a.to_hex()) && text.contains(&sb), "{text}");
        assert!(store.delete_submission(&b, &sb).unwrap());
        assert!(list_names(&ledger).unwrap().is_empty());

        let r = crate::store::replies::tests::stored(store.put_reply(
            &a,
            b"reply",
            b"sig",
            &crate::store::random_id(),
        ));
        let replies = store.source_dir(&a).join(RETENTION);
        assert_eq!(
            read_lines(&replies.join(day_utc(0))).unwrap(),
            vec![r.clone()]
        );
        assert!(store.delete_reply(&a, &r).unwrap());
        assert!(list_names(&replies).unwrap().is_empty());
    }

    #[test]
    fn old_replies_expire_then_empty_inactive_folders() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (quiet, busy) = (lookup("c3"), lookup("d4"));
        let s = submit(&store, &quiet);
        store.delete_submission(&quiet, &s).unwrap();
        crate::store::replies::tests::stored(store.put_reply(
            &quiet,
            b"old reply",
            b"sig",
            &crate::store::random_id(),
        ));
        submit(&store, &busy);
        age(&store.source_dir(&quiet).join(RETENTION));
        // Still active today: the reply goes, the folder stays.
        assert_eq!(store.expire(90).unwrap(), 1);
        assert!(store.replies(&quiet).unwrap().is_empty());
        // Its signature went with it.
        assert!(list_names(&store.source_dir(&quiet).join(REPLIES))
            .unwrap()
            .is_empty());
        assert!(store.source_dir(&quiet).is_dir());
        // Inactive for longer than retention: the empty folder goes, the busy one stays.
        fs::write(store.source_dir(&quiet).join(ACTIVE), "2000-01-01\n").unwrap();
        fs::write(store.source_dir(&busy).join(ACTIVE), "2000-01-01\n").unwrap();
        assert_eq!(store.expire(90).unwrap(), 0);
        assert!(!store.source_dir(&quiet).exists());
        assert_eq!(store.sources().unwrap(), vec![busy]);
        assert_eq!(fs::read_dir(dir.path().join("staging")).unwrap().count(), 0);
        // A folder that comes back to life is made afresh.
        submit(&store, &quiet);
        assert_eq!(store.submissions(&quiet).unwrap().len(), 1);
    }

    #[test]
    fn folders_and_replies_from_older_builds_start_their_retention_now() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let who = lookup("e5");
        let s = submit(&store, &who);
        store.delete_submission(&who, &s).unwrap();
        let r = crate::store::replies::tests::stored(store.put_reply(
            &who,
            b"reply",
            b"sig",
            &crate::store::random_id(),
        ));
        fs::remove_dir_all(store.source_dir(&who).join(RETENTION)).unwrap();
        fs::remove_file(store.source_dir(&who).join(ACTIVE)).unwrap();
        assert_eq!(store.expire(90).unwrap(), 0);
        assert_eq!(
            read_lines(&store.source_dir(&who).join(RETENTION).join(day_utc(0))).unwrap(),
            vec![r]
        );
        assert_eq!(
            fs::read_to_string(store.source_dir(&who).join(ACTIVE)).unwrap(),
            format!("{}\n", day_utc(0))
        );
    }
}
