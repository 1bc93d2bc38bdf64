//! Durable files: the one "temp file, fsync, rename" and the one "new 0600 file, fsync" that
//! every machine uses. A file written here is either whole or absent after a crash, and the
//! directory entry that names it is on disk before the call returns.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Makes a rename, creation or removal in `dir` durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `path` with `bytes` atomically: a temp file (0600) beside it, fsync, rename, fsync
/// of the directory. Readers see the old content or the new one, never a mix.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // tempfile creates the file 0600 with O_EXCL under a random name.
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    fsync_dir(dir)
}

/// Creates `path` (mode 0600; an existing file is an error), writes `bytes` and fsyncs the file
/// and its directory.
pub fn create_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => fsync_dir(d),
        _ => fsync_dir(Path::new(".")),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

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
        assert!(super::create_private(&q, b"again").is_err());
        assert_eq!(std::fs::read(&q).unwrap(), b"secret");
    }
}
