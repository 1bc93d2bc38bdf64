//! Process hardening: what the running box keeps out of core dumps, swap and a second copy, and
//! what the offline commands keep out of core dumps.
//!
//! Codes, identities and plaintext pass through this process's memory (the server's, and the
//! offline reviewer's while it opens a bundle or makes a key). A core dump (a crash,
//! `gcore`, a debugger) would write all of it to disk, and swap could too; a second `serve` on
//! the same data dir would sweep the first one's uploads in progress out of `staging/`. So:
//! - [`no_core_dumps`] sets `RLIMIT_CORE` to 0 and marks the process not dumpable
//!   (`PR_SET_DUMPABLE` 0, which also stops other processes of the same user from attaching to
//!   it or reading its memory through `/proc`);
//! - [`lock_memory`] (opt-in, `lock_memory = true`) locks every page, present and future, in
//!   RAM, and refuses to start if `RLIMIT_MEMLOCK` is too low for that (and the process has no
//!   `CAP_IPC_LOCK`, which lifts the limit);
//! - [`DataDirLock`] holds an exclusive lock on `DATA/lock` for the life of the process.
//!
//! The server uses all three; the offline commands (`lanterne_offline::cli`) use
//! [`no_core_dumps`].
//!
//! The system calls go through `rustix`, a widely used Bytecode Alliance crate (`tempfile` uses
//! it too): it has safe wrappers for `setrlimit`, `prctl`, `capget`
//! and `mlockall`, so this project keeps no `unsafe` of its own. The data dir lock is std's
//! `File::try_lock` (`flock`).

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustix::mm::{mlockall, MlockAllFlags};
use rustix::process::{getrlimit, set_dumpable_behavior, setrlimit, DumpableBehavior};
use rustix::process::{Resource, Rlimit};
use rustix::thread::{capabilities, CapabilitySet};

/// Name of the lock file in the data dir.
pub const LOCK_FILE: &str = "lock";

/// The least `RLIMIT_MEMLOCK` that `lock_memory` accepts, unless it is unlimited: the box's
/// heap grows with key derivations (64 MiB each), sessions and uploads, and with every future
/// page locked, an allocation past the limit would fail and stop the process.
pub(crate) const MIN_MEMLOCK_BYTES: u64 = 1 << 30;

/// Why the process could not be hardened. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum HardeningError {
    #[error("cannot turn off core dumps ({what}): {source}")]
    CoreDumps {
        what: &'static str,
        source: io::Error,
    },
    #[error(
        "lock_memory is on, but the locked-memory limit (RLIMIT_MEMLOCK) is {limit}: it must be \
         unlimited or at least {MIN_MEMLOCK_BYTES} bytes. Raise it (LimitMEMLOCK=infinity in the \
         systemd unit, or `ulimit -l unlimited`), or set lock_memory = false in the config"
    )]
    MemlockLimit { limit: String },
    #[error(
        "lock_memory is on, but locking memory failed: {source}. Raise the locked-memory limit \
         (LimitMEMLOCK=infinity in the systemd unit), or set lock_memory = false in the config"
    )]
    Mlock { source: io::Error },
    #[error("cannot create or open the lock file {path}: {source}")]
    LockFile { path: PathBuf, source: io::Error },
    #[error(
        "another lanterne serve is already running on the data dir {dir} (it holds {lock}). \
         Stop it first, or give this one another --data-dir"
    )]
    DataDirInUse { dir: PathBuf, lock: PathBuf },
}

/// No core file, and no debugger or `/proc/PID/mem` reader of the same user.
pub fn no_core_dumps() -> Result<(), HardeningError> {
    let zero = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    setrlimit(Resource::Core, zero).map_err(|e| HardeningError::CoreDumps {
        what: "RLIMIT_CORE",
        source: e.into(),
    })?;
    set_dumpable_behavior(DumpableBehavior::NotDumpable).map_err(|e| HardeningError::CoreDumps {
        what: "PR_SET_DUMPABLE",
        source: e.into(),
    })
}

/// Locks every page of the process, present and future, in RAM (never swapped out).
///
/// A process with `CAP_IPC_LOCK` (root, usually) may lock past `RLIMIT_MEMLOCK`; any other
/// needs the limit to hold everything the box will ever allocate.
pub fn lock_memory() -> Result<(), HardeningError> {
    let limit = getrlimit(Resource::Memlock).current;
    let may_exceed =
        capabilities(None).is_ok_and(|c| c.effective.contains(CapabilitySet::IPC_LOCK));
    if let Some(bytes) = limit.filter(|&b| b < MIN_MEMLOCK_BYTES && !may_exceed) {
        return Err(HardeningError::MemlockLimit {
            limit: format!("{bytes} bytes"),
        });
    }
    mlockall(MlockAllFlags::CURRENT | MlockAllFlags::FUTURE)
        .map_err(|e| HardeningError::Mlock { source: e.into() })
}

/// An exclusive lock on `DATA/lock`, held until dropped (the OS drops it if the process dies).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Creates the data dir (0700) if missing and takes its lock, or says who holds it.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, HardeningError> {
        let path = dir.join(LOCK_FILE);
        let lock_file_error = |source| HardeningError::LockFile {
            path: path.clone(),
            source,
        };
        crate::durable::create_private_dir_all(dir).map_err(lock_file_error)?;
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(lock_file_error)?;
        match file.try_lock() {
            // Its times go back to the epoch in `Store::open`, like every other entry.
            Ok(()) => Ok(DataDirLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(HardeningError::DataDirInUse {
                dir: dir.to_owned(),
                lock: path,
            }),
            Err(TryLockError::Error(e)) => Err(lock_file_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_no_core_dumps_the_process_is_not_dumpable_and_has_no_core_limit() {
        no_core_dumps().unwrap();
        assert_eq!(
            rustix::process::dumpable_behavior().unwrap(),
            DumpableBehavior::NotDumpable
        );
        let core = getrlimit(Resource::Core);
        assert_eq!((core.current, core.maximum), (Some(0), Some(0)));
    }

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = DataDirLock::acquire(&data).unwrap();
        let second = DataDirLock::acquire(&data).unwrap_err();
        assert!(matches!(second, HardeningError::DataDirInUse { .. }));
        assert!(second.to_string().contains("another lanterne serve"));
        drop(first);
        DataDirLock::acquire(&data).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join(LOCK_FILE)), 0o600);
    }
}
