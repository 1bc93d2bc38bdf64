//! Process and file helpers for the harness, each with a deadline or a clear panic.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Failure, DEFAULT_VOTING_INTERVAL};

/// `DEFAULT_VOTING_INTERVAL`, or `TORNET_VOTING_INTERVAL` (e.g. 20 to provoke period changes).
pub(crate) fn voting_interval() -> u32 {
    let Some(v) = std::env::var_os("TORNET_VOTING_INTERVAL") else {
        return DEFAULT_VOTING_INTERVAL;
    };
    let v = v.to_str().and_then(|v| v.parse::<u32>().ok());
    // Whole minutes of time period (multiple of 5 s), at least 20 s (vote and distribution
    // delays of 4 s must fit in half of it), and dividing a day.
    match v {
        Some(v) if v >= 20 && v % 5 == 0 && 86_400 % v == 0 => v,
        _ => panic!(
            "tornet: TORNET_VOTING_INTERVAL must be a multiple of 5 s, >= 20, dividing a day"
        ),
    }
}

pub(crate) fn unix_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock before 1970")
}

pub(crate) fn assert_tools() {
    for tool in ["tor", "tor-gencert", "curl"] {
        let found = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
        assert!(
            found,
            "tornet: `{tool}` not found (apt-get install tor curl)"
        );
    }
}

/// `n` distinct free TCP ports on 127.0.0.1, all held at once so they differ, then released.
pub(crate) fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("tornet: bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

pub(crate) fn make_private_dir(path: &Path) {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .unwrap_or_else(|e| panic!("tornet: cannot create {}: {e}", path.display()));
}

/// A path as a torrc value. torrc has no quoting that every option (e.g. `Log`) honours, so
/// refuse paths it would split.
pub(crate) fn torrc_value(path: &Path) -> String {
    let s = path.to_str().expect("tornet: non-UTF-8 temp path");
    assert!(
        !s.contains(|c: char| c.is_whitespace() || c == '"' || c == '#' || c == '\\'),
        "tornet: temp path {s:?} cannot go into a torrc; set TMPDIR to a plain path"
    );
    s.to_owned()
}

/// fresh-until minus valid-after of a consensus, in seconds.
pub(crate) fn consensus_interval(consensus: &str) -> Option<u32> {
    let secs_of_day = |key: &str| -> Option<i64> {
        let line = consensus.lines().find_map(|l| l.strip_prefix(key))?;
        let time = line.split_whitespace().nth(1)?;
        let mut it = time.split(':').map(|p| p.parse::<i64>().ok());
        Some(it.next()?? * 3600 + it.next()?? * 60 + it.next()??)
    };
    let diff = (secs_of_day("fresh-until ")? - secs_of_day("valid-after ")?).rem_euclid(86_400);
    u32::try_from(diff).ok()
}

/// Runs every command at once (stdin: an empty line, for tor-gencert's passphrase) and waits
/// for all of them to succeed before `deadline`.
pub(crate) fn run_all(jobs: Vec<(String, Command)>, deadline: Instant) -> Result<(), Failure> {
    let mut running = Vec::new();
    for (what, mut cmd) in jobs {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {what}: {e}"))?;
        let _ = child.stdin.take().unwrap().write_all(b"\n");
        running.push((what, child));
    }
    let mut failure = None;
    for (what, child) in running {
        let left = deadline.saturating_duration_since(Instant::now());
        match wait_output(child, left) {
            Ok((status, _, _)) if status.success() => {}
            Ok((status, out, err)) => {
                failure.get_or_insert(format!(
                    "{what} failed ({status}):\n{}{}",
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&err)
                ));
            }
            Err(e) => {
                failure.get_or_insert(format!("{what}: {e}"));
            }
        }
    }
    failure.map_or(Ok(()), |f| Err(f.into()))
}

/// Waits at most `limit` for `child` to exit, reading its piped stdout and stderr; kills it
/// at the limit.
pub(crate) fn wait_output(
    mut child: Child,
    limit: Duration,
) -> Result<(std::process::ExitStatus, Vec<u8>, Vec<u8>), String> {
    fn drain<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let end = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not finish within {limit:?}; killed"));
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    Ok((
        status,
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    ))
}

/// The file in a shared network's temp dir naming the test process that owns it.
const OWNER_FILE: &str = "owner-pid";

/// Marks `root` as owned by this process, for `sweep_abandoned` to remove once it is gone.
pub(crate) fn mark_owned(root: &Path) {
    let path = root.join(OWNER_FILE);
    fs::write(&path, std::process::id().to_string())
        .unwrap_or_else(|e| panic!("tornet: cannot write {}: {e}", path.display()));
}

/// Where each node's tor writes its PID (`PidFile`), for `sweep_abandoned`.
pub(crate) const PID_FILE: &str = "pid";

/// Removes the temp dirs of shared networks whose owning process is gone (a static is never
/// dropped, so nothing else removes them), after killing any of their tors still running:
/// a tor notices its owner's death only at its next check, and one was seen hanging at exit
/// once its data dir had been removed. A dir without an owner file (a network dropped
/// normally, or kept with `TORNET_KEEP`) is left alone.
pub(crate) fn sweep_abandoned() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with("tornet-") {
            continue;
        }
        let dir = entry.path();
        let Ok(owner) = fs::read_to_string(dir.join(OWNER_FILE)) else {
            continue;
        };
        let Ok(pid) = owner.trim().parse::<u32>() else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            kill_leftover_tors(&dir);
            let _ = fs::remove_dir_all(&dir);
        }
    }
}

/// Kills (by PID, with `kill -KILL`) every tor still running from a node dir under `root`:
/// a PID counts only while `/proc/PID/cmdline` names that node's torrc, so a reused PID is
/// never touched.
fn kill_leftover_tors(root: &Path) {
    let Ok(nodes) = fs::read_dir(root) else {
        return;
    };
    for node in nodes.flatten() {
        let Some(pid) = fs::read_to_string(node.path().join(PID_FILE))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        else {
            continue;
        };
        let torrc = node.path().join("torrc");
        let ours = fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
            cmdline
                .split(|&b| b == 0)
                .any(|arg| Path::new(std::ffi::OsStr::from_bytes(arg)) == torrc)
        });
        if ours {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
