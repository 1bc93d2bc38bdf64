//! The status socket: how `lanterne check` asks the running box what only the box knows (today
//! the onion self-check's last result), without anything with a time going to disk.
//!
//! The box listens on a Unix socket, `DATA/run/status.sock` (folder 0700, socket 0600: only the
//! box's own user, and root, can connect). Whoever connects gets one JSON document,
//! [`BoxStatus`], then the end of the stream; nothing a client sends is read. Each client is
//! answered by a task of its own with a write timeout, so a client that never reads holds
//! nobody else up. The box holds the data dir's lock, so there is one box per socket: a socket
//! file left by a box that was killed is replaced at start, and the socket is removed when the
//! server stops. The folder's and the socket's times go back to the epoch, like every other
//! entry of the data dir, so they do not say when the box last started or stopped.
//!
//! [`query`] is the client side, used by `lanterne check` (`crate::check`).

use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::onion::selfcheck::{SelfCheck, SelfCheckStatus};

/// The folder of the box's runtime files, under the data dir.
pub const RUN_DIR: &str = "run";
/// The socket's name in [`RUN_DIR`].
pub const SOCKET: &str = "status.sock";

/// How long the box keeps trying to hand a client its answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `lanterne check` waits for the answer.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer `lanterne check` accepts.
const MAX_ANSWER: u64 = 64 * 1024;

/// Where the status socket of the box using `data_dir` is.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(RUN_DIR).join(SOCKET)
}

/// What the box answers. Later versions add fields; readers ignore the ones they do not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoxStatus {
    pub onion_self_check: SelfCheckStatus,
}

/// Why the status socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("cannot prepare the status socket's folder {path}")]
    Dir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path} is not a folder owned by the box: remove or rename it so the box can make its \
         status socket there"
    )]
    NotADir { path: PathBuf },
    #[error("cannot replace the old status socket {path}; remove it by hand")]
    Stale {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot listen on the status socket {path}")]
    Bind {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The listening status socket. Dropping it stops answering and removes the socket file.
pub struct StatusSocket {
    path: PathBuf,
    task: JoinHandle<()>,
}

impl StatusSocket {
    /// Makes `DATA/run/` (0700) if needed, replaces a socket left by a killed box, listens, and
    /// answers every client with `check`'s status. Needs a tokio runtime, and the data dir's
    /// lock held by the caller (so no other box uses this socket).
    pub fn bind(data_dir: &Path, check: SelfCheck) -> Result<StatusSocket, StatusError> {
        let dir = data_dir.join(RUN_DIR);
        let dir_err = |source| StatusError::Dir {
            path: dir.clone(),
            source,
        };
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(dir_err(e)),
        }
        // Not through a symlink: the socket must land in the data dir itself.
        let meta = std::fs::symlink_metadata(&dir).map_err(dir_err)?;
        if !meta.is_dir() {
            return Err(StatusError::NotADir { path: dir });
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(dir_err)?;
        let path = dir.join(SOCKET);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(StatusError::Stale { path, source }),
        }
        let bind_err = |source| StatusError::Bind {
            path: path.clone(),
            source,
        };
        let listener = UnixListener::bind(&path).map_err(bind_err)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(bind_err)?;
        // The data dir's own times changed too when `run/` was first made.
        for changed in [&path, &dir, data_dir] {
            normalize_times(changed);
        }
        Ok(StatusSocket {
            path,
            task: tokio::spawn(serve(listener, check)),
        })
    }
}

impl Drop for StatusSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
        if let Some(dir) = self.path.parent() {
            normalize_times(dir);
        }
    }
}

/// Sets a path's access and modification times to the epoch without opening it (a socket
/// cannot be opened). Best effort: what it would hide is the box's start or stop.
fn normalize_times(path: &Path) {
    use rustix::fs::{AtFlags, Timespec, Timestamps, CWD};
    let epoch = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: epoch,
        last_modification: epoch,
    };
    if let Err(e) = rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW) {
        tracing::debug!("cannot reset the times of {}: {e}", path.display());
    }
}

/// Answers each client in a task of its own until aborted (which ends the clients' tasks too).
async fn serve(listener: UnixListener, check: SelfCheck) {
    let mut clients = JoinSet::new();
    loop {
        while clients.try_join_next().is_some() {}
        match listener.accept().await {
            Ok((stream, _)) => {
                let status = BoxStatus {
                    onion_self_check: check.status(),
                };
                clients.spawn(answer(stream, status));
            }
            Err(e) => {
                // Out of file descriptors, say: wait a little rather than spin.
                tracing::debug!("status socket: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Writes the status and closes, within [`WRITE_TIMEOUT`]; a client that went away or never
/// reads is simply dropped.
async fn answer(mut stream: UnixStream, status: BoxStatus) {
    let Ok(mut body) = serde_json::to_vec(&status) else {
        return;
    };
    body.push(b'\n');
    let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(&body).await?;
        stream.shutdown().await
    })
    .await;
}

/// Why `lanterne check` could not get the box's status.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// No socket, or nothing listens on it (a box that was killed leaves its socket).
    #[error("the box is not running (no status socket at {path})")]
    NotRunning { path: PathBuf },
    #[error(
        "cannot connect to the box's status socket {path}; run `lanterne check` as the box's \
         user (or root)"
    )]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the box's status socket {path} did not answer")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "the box's status socket {path} answered something this lanterne cannot read; is the \
         running box another version?"
    )]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Asks the box using `data_dir` for its status.
pub fn query(data_dir: &Path) -> Result<BoxStatus, QueryError> {
    let path = socket_path(data_dir);
    let mut stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(QueryError::NotRunning { path });
        }
        Err(source) => return Err(QueryError::Connect { path, source }),
    };
    let read_err = |source| QueryError::Read {
        path: path.clone(),
        source,
    };
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .map_err(read_err)?;
    let mut body = Vec::new();
    (&mut stream)
        .take(MAX_ANSWER)
        .read_to_end(&mut body)
        .map_err(read_err)?;
    serde_json::from_slice(&body).map_err(|source| QueryError::Parse { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OnionConfig;
    use std::os::unix::fs::MetadataExt;

    fn off() -> SelfCheck {
        SelfCheck::new(&OnionConfig {
            enabled: false,
            ..OnionConfig::default()
        })
    }

    async fn query_async(data: &Path) -> Result<BoxStatus, QueryError> {
        let data = data.to_owned();
        tokio::task::spawn_blocking(move || query(&data))
            .await
            .unwrap()
    }

    /// The box answers its status; the socket is 0600 in a 0700 folder, their times say
    /// nothing, and stopping removes the socket: then `query` says the box is not running.
    #[tokio::test]
    async fn answers_then_goes_away() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        assert!(matches!(
            query_async(data).await,
            Err(QueryError::NotRunning { .. })
        ));
        let socket = StatusSocket::bind(data, off()).unwrap();
        let status = query_async(data).await.unwrap();
        assert_eq!(status.onion_self_check, off().status());
        assert_eq!(std::fs::metadata(data).unwrap().mtime(), 0);
        let path = socket_path(data);
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert_eq!(meta.mtime(), 0);
        let run = std::fs::metadata(data.join(RUN_DIR)).unwrap();
        assert_eq!(run.mode() & 0o777, 0o700);
        assert_eq!(run.mtime(), 0);
        drop(socket);
        assert!(!path.exists());
        assert_eq!(std::fs::metadata(data.join(RUN_DIR)).unwrap().mtime(), 0);
        assert!(matches!(
            query_async(data).await,
            Err(QueryError::NotRunning { .. })
        ));
    }

    /// A socket left by a killed box (nothing listening) reads as "not running", and the next
    /// start replaces it; a loose run folder is made private again.
    #[tokio::test]
    async fn a_stale_socket_is_not_running_and_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        std::fs::create_dir(data.join(RUN_DIR)).unwrap();
        std::fs::set_permissions(data.join(RUN_DIR), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let stale = std::os::unix::net::UnixListener::bind(socket_path(data)).unwrap();
        drop(stale);
        assert!(socket_path(data).exists());
        assert!(matches!(
            query_async(data).await,
            Err(QueryError::NotRunning { .. })
        ));
        let _socket = StatusSocket::bind(data, off()).unwrap();
        query_async(data).await.unwrap();
        let run = std::fs::metadata(data.join(RUN_DIR)).unwrap();
        assert_eq!(run.mode() & 0o777, 0o700);
    }

    /// `run` as a symlink (to put the socket elsewhere) or a file is refused, naming it.
    #[tokio::test]
    async fn a_run_symlink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join(RUN_DIR)).unwrap();
        let err = StatusSocket::bind(dir.path(), off()).err().unwrap();
        assert!(matches!(err, StatusError::NotADir { .. }), "{err:?}");
        assert!(err.to_string().contains("run"), "{err}");
        assert!(!elsewhere.path().join(SOCKET).exists());
    }

    /// Clients that connect and never read, or that send junk and hang up, hold nobody up: a
    /// client after them still gets its answer at once, and they are dropped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hung_and_rude_clients_block_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let _socket = StatusSocket::bind(data, off()).unwrap();
        let path = socket_path(data);
        let mut hung = Vec::new();
        for _ in 0..50 {
            hung.push(UnixStream::connect(&path).await.unwrap());
        }
        for _ in 0..20 {
            let mut rude = UnixStream::connect(&path).await.unwrap();
            let _ = rude.write_all(&[0xff; 4096]).await;
            drop(rude);
        }
        let started = std::time::Instant::now();
        let status = query_async(data).await.unwrap();
        assert_eq!(status.onion_self_check, off().status());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        drop(hung);
        query_async(data).await.unwrap();
    }
}
