//! Durable files: the one "temp file, fsync, rename" ([`keep`] for a temp file the caller
//! streamed into, [`replace`] and [`create_atomic`] for bytes in memory) and the
//! one "new 0600 file, fsync" ([`write_new`], [`create_private`]) that every machine uses. A
//! file written here is either whole or absent after a crash, and, except with [`write_new`]
//! (whose caller renames the file into place), the directory entry that names it is on disk
//! before the call returns. Private folders are made by [`create_private_dir_all`].
//! [`EarlySync`] writes a large stream so that its final fsync has little left to wait for.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// How much [`EarlySync`] writes between two background flushes.
pub const EARLY_SYNC_BYTES: u64 = 32 << 20;

/// A writer into a file that asks a helper thread to flush what is written so far
/// (`fdatasync`) every [`EARLY_SYNC_BYTES`], so the disk works while the caller reads,
/// hashes or decrypts the next part, instead of all at the final fsync (Linux would start
/// writing only past its dirty-memory threshold, gigabytes here). It changes nothing about
/// durability: the caller still fsyncs the file (through [`keep`], or `sync_all`) before it
/// names or lists it. A file shorter than [`EARLY_SYNC_BYTES`] never starts the thread.
pub struct EarlySync<'a> {
    file: &'a File,
    since: u64,
    helper: Option<(
        std::sync::mpsc::SyncSender<()>,
        std::thread::JoinHandle<io::Result<()>>,
    )>,
}

impl<'a> EarlySync<'a> {
    pub fn new(file: &'a File) -> EarlySync<'a> {
        EarlySync {
            file,
            since: 0,
            helper: None,
        }
    }

    /// Waits for the helper's last flush and returns its error, if any.
    pub fn finish(mut self) -> io::Result<()> {
        match self.helper.take() {
            None => Ok(()),
            Some((tx, thread)) => {
                drop(tx);
                thread
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("the flushing thread panicked")))
            }
        }
    }

    fn ask_for_flush(&mut self) -> io::Result<()> {
        if self.helper.is_none() {
            let clone = self.file.try_clone()?;
            // One request pending at most: requests made while it flushes are merged.
            let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
            let thread = std::thread::Builder::new()
                .name("early-sync".into())
                .spawn(move || {
                    for () in rx {
                        clone.sync_data()?;
                    }
                    Ok(())
                })?;
            self.helper = Some((tx, thread));
        }
        if let Some((tx, _)) = &self.helper {
            // Full: a flush is already queued. Disconnected: the helper stopped on an
            // error, which `finish` returns.
            let _ = tx.try_send(());
        }
        Ok(())
    }
}

impl Write for EarlySync<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = (&mut &*self.file).write(buf)?;
        self.since += n as u64;
        if self.since >= EARLY_SYNC_BYTES {
            self.since = 0;
            self.ask_for_flush()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EarlySync<'_> {
    fn drop(&mut self) {
        if let Some((tx, thread)) = self.helper.take() {
            drop(tx);
            let _ = thread.join();
        }
    }
}

/// Makes a rename, creation or removal in `dir` durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The folder that holds `path` (`.` for a bare name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// A temp file (0600, O_EXCL, random hidden name) beside `path`, holding `bytes`.
fn temp_beside(path: &Path, bytes: &[u8]) -> io::Result<tempfile::NamedTempFile> {
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(path.file_name().unwrap_or_default());
    prefix.push(".");
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(parent(path))?;
    tmp.write_all(bytes)?;
    Ok(tmp)
}

/// Fsyncs a temp file the caller filled (a stream, for example) and gives it the name
/// `path` in the same filesystem: over an existing file if `replace_existing`, otherwise never
/// (`AlreadyExists`). The caller fsyncs the directory, often after more entries.
pub fn keep(tmp: tempfile::NamedTempFile, path: &Path, replace_existing: bool) -> io::Result<()> {
    tmp.as_file().sync_all()?;
    if replace_existing {
        tmp.persist(path).map_err(|e| e.error)?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| e.error)?;
    }
    Ok(())
}

/// Replaces `path` with `bytes` atomically: a temp file (0600) beside it, fsync, rename, fsync
/// of the directory. Readers see the old content or the new one, never a mix.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    keep(temp_beside(path, bytes)?, path, true)?;
    fsync_dir(parent(path))
}

/// Creates `path` atomically with `bytes`, never over an existing file (`AlreadyExists`): a
/// temp file (0600) beside it, fsync, link into place, fsync of the directory. Readers never
/// see a partial file under `path`.
pub fn create_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    keep(temp_beside(path, bytes)?, path, false)?;
    fsync_dir(parent(path))
}

/// Creates `path` with `mode` (an existing file is an error, `AlreadyExists`), writes `bytes`
/// and fsyncs the file, not its directory: for a file the caller renames into place, or
/// follows with [`fsync_dir`].
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Creates `path` (mode 0600; an existing file is an error, `AlreadyExists`), writes `bytes`
/// and fsyncs the file and its directory.
pub fn create_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_new(path, bytes, 0o600)?;
    fsync_dir(parent(path))
}

/// Creates `dir` and any missing parents, each 0700 (the umask may only narrow it): every
/// folder of the box and of the offline home is private. An existing folder is left as it is.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn early_sync_writes_every_byte_in_order_past_its_flush_points() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        let file = std::fs::File::create(&p).unwrap();
        let mut w = super::EarlySync::new(&file);
        let block: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
        let blocks = (super::EARLY_SYNC_BYTES >> 20) * 2 + 3;
        for i in 0..blocks {
            w.write_all(&block).unwrap();
            w.write_all(&i.to_le_bytes()).unwrap();
        }
        assert!(w.helper.is_some(), "no flush was asked for");
        w.finish().unwrap();
        let back = std::fs::read(&p).unwrap();
        assert_eq!(back.len() as u64, blocks * ((1 << 20) + 8));
        for (i, chunk) in back.chunks((1 << 20) + 8).enumerate() {
            assert_eq!(&chunk[..1 << 20], &block[..]);
            assert_eq!(chunk[1 << 20..], (i as u64).to_le_bytes());
        }
        // A small file never starts the thread.
        let small = std::fs::File::create(dir.path().join("small")).unwrap();
        let mut w = super::EarlySync::new(&small);
        w.write_all(b"tiny").unwrap();
        assert!(w.helper.is_none());
        w.finish().unwrap();
    }

    #[test]
    fn replace_and_create_private_leave_whole_0600_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        super::replace(&p, b"one").unwrap();
        super::replace(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let q = dir.path().join("g");
        super::create_private(&q, b"secret").unwrap();
        let mode = std::fs::metadata(&q).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = super::create_private(&q, b"again").unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&q).unwrap(), b"secret");
        let again = super::create_atomic(&q, b"again").unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&q).unwrap(), b"secret");
        let r = dir.path().join("r");
        super::create_atomic(&r, b"whole").unwrap();
        assert_eq!(std::fs::read(&r).unwrap(), b"whole");
        let mode = std::fs::metadata(&r).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // No temp file is left beside them.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }
}
