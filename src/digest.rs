//! `lanterne digest`: were there new submissions since the last digest? It answers `yes` or
//! `no`, then counts them, so a daily timer can tell reviewers there is something to fetch
//! without saying how much or when.
//!
//! `lanterne digest` prints the word before it writes the mark, so an answer that could not be
//! handed on (stdout closed) is given again next time rather than lost.
//!
//! The mark is one number in `DATA/digest`: the sequence number ([`crate::store`]'s box-wide
//! sequence) of the newest submission a digest has counted. A digest says `yes` when a
//! submission with a higher number is held, and then writes that number (durably:
//! `lanterne_core::durable::replace`, 0600, its times and the data dir's set back to 1970
//! like every other entry). The file holds no count and no time, and is not rewritten when the
//! answer is `no`.
//!
//! It reads the submissions' names only, and never opens the store or takes the data dir's
//! lock, so it runs beside the box (the box never reads `DATA/digest`). Numbers are given out
//! before their submission lands, so a lower number can land just after a digest counted a
//! higher one; that digest said `yes`, and the reviewers who fetch after it get both. A
//! submission fetched and deleted (acked) before the next digest is not announced again:
//! the reviewers have it. Two digests at the same moment may both say `yes`; the packaged timer
//! runs one at a time.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::store::{self, durable};

/// The mark's file name in the data dir.
pub const FILE_NAME: &str = "digest";

/// Why the digest could not answer. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("cannot read the data dir {path}; run `lanterne digest` as the box's user")]
    DataDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path} is damaged: it must hold one number. Remove it: the next digest then says yes \
         if any submission is held"
    )]
    Damaged { path: PathBuf },
    #[error("cannot read or write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What one digest found: the newest submission held, and the newest already counted.
#[derive(Debug)]
pub struct Digest {
    data_dir: PathBuf,
    owner: u32,
    counted: u64,
    newest: u64,
}

impl Digest {
    /// Reads the mark and the submissions' names; writes nothing.
    pub fn read(data_dir: &Path) -> Result<Digest, DigestError> {
        let data_err = |source| DigestError::DataDir {
            path: data_dir.to_owned(),
            source,
        };
        let meta = std::fs::metadata(data_dir).map_err(data_err)?;
        if !meta.is_dir() {
            return Err(data_err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a folder",
            )));
        }
        let counted = read_mark(&data_dir.join(FILE_NAME))?;
        let newest = store::newest_submission(data_dir).map_err(data_err)?;
        Ok(Digest {
            data_dir: data_dir.to_owned(),
            owner: meta.uid(),
            counted,
            newest,
        })
    }

    /// Whether a submission arrived since the last digest.
    pub fn any_new(&self) -> bool {
        self.newest > self.counted
    }

    /// Counts what [`Digest::read`] found. Call it once the answer was handed on: if that
    /// failed, the next digest says `yes` again rather than never.
    pub fn mark_counted(&self) -> Result<(), DigestError> {
        if !self.any_new() {
            return Ok(());
        }
        let path = self.data_dir.join(FILE_NAME);
        write_mark(&self.data_dir, &path, self.newest, self.owner)
            .map_err(|source| DigestError::Io { path, source })
    }
}

/// Whether a submission arrived since the last digest; if so, marks it counted.
pub fn run(data_dir: &Path) -> Result<bool, DigestError> {
    let digest = Digest::read(data_dir)?;
    digest.mark_counted()?;
    Ok(digest.any_new())
}

/// The number in `DATA/digest`, 0 when no digest ran yet.
fn read_mark(path: &Path) -> Result<u64, DigestError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(DigestError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    let number = text.strip_suffix('\n').unwrap_or(&text);
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DigestError::Damaged {
            path: path.to_owned(),
        });
    }
    number.parse().map_err(|_| DigestError::Damaged {
        path: path.to_owned(),
    })
}

/// Replaces the mark durably; its times and the data dir's go back to the epoch. Run as root,
/// it gives the file to the data dir's owner, so the box's user keeps it private.
fn write_mark(data_dir: &Path, path: &Path, seq: u64, owner: u32) -> io::Result<()> {
    durable::replace(path, format!("{seq}\n").as_bytes())?;
    if rustix::process::getuid().as_raw() != owner {
        std::os::unix::fs::chown(path, Some(owner), None)?;
    }
    store::normalize_times(path)?;
    store::normalize_times(data_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn submission(data: &Path, source: &str, seq: u64) {
        let dir = data
            .join("sources")
            .join(source)
            .join("submissions")
            .join(format!("s{seq:010}-{}", "ab".repeat(16)));
        std::fs::create_dir_all(dir).unwrap();
    }

    /// No, yes, no around a submission; a lower number (landed late) does not say yes again;
    /// the mark is a number only, 0600, dated 1970, and the data dir's time too. (Reading it
    /// later sets its access time, unless the data dir is mounted noatime: `lanterne check`
    /// warns about that.)
    #[test]
    fn no_yes_no_and_the_mark_says_nothing_more() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        assert!(!run(data).unwrap());
        assert!(!data.join(FILE_NAME).exists(), "a no writes nothing");
        submission(data, &"cd".repeat(32), 5);
        assert!(run(data).unwrap());
        let mark = data.join(FILE_NAME);
        let meta = std::fs::metadata(&mark).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!((meta.mtime(), meta.atime()), (0, 0));
        assert_eq!(std::fs::metadata(data).unwrap().mtime(), 0);
        assert!(!run(data).unwrap());
        assert_eq!(std::fs::read_to_string(&mark).unwrap(), "5\n");
        assert_eq!(
            std::fs::read_dir(data).unwrap().count(),
            2,
            "no temp file left"
        );
        submission(data, &"ef".repeat(32), 4);
        assert!(!run(data).unwrap());
        submission(data, &"ef".repeat(32), 9);
        assert!(run(data).unwrap());
        assert_eq!(std::fs::read_to_string(&mark).unwrap(), "9\n");
    }

    /// Run as root on a box's data dir, the mark goes to the box's user, so it stays theirs
    /// (and `lanterne check` finds nothing owned by another user).
    #[test]
    fn as_root_the_mark_belongs_to_the_data_dirs_owner() {
        if rustix::process::getuid().as_raw() != 0 {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        submission(dir.path(), &"cd".repeat(32), 1);
        std::os::unix::fs::chown(dir.path(), Some(4242), None).unwrap();
        assert!(run(dir.path()).unwrap());
        let meta = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(meta.uid(), 4242);
        assert_eq!(std::fs::metadata(dir.path()).unwrap().mtime(), 0);
    }

    #[test]
    fn a_damaged_mark_or_missing_dir_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "5 at 12:03\n").unwrap();
        let err = run(dir.path()).unwrap_err();
        assert!(matches!(err, DigestError::Damaged { .. }), "{err}");
        assert!(err.to_string().contains("Remove it"), "{err}");
        let err = run(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(err, DigestError::DataDir { .. }), "{err}");
    }
}
