//! What `serve` checks and sets before it serves anything, through the real binary: the data
//! dir's lock, the pinned KDF parameters, no core dumps, locked memory, private folders.

use crate::common::*;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `serve` with the same folders and config as `server`, on fresh ports, run through
/// `wrapper` (e.g. `prlimit --core=…`) if not empty.
fn serve_command(server: &Server, wrapper: &[&str]) -> Command {
    serve_command_on(server, &server.data(), wrapper)
}

/// The same with another data dir.
fn serve_command_on(server: &Server, data: &Path, wrapper: &[&str]) -> Command {
    let mut cmd = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg("--").arg(BIN);
            c
        }
        None => Command::new(BIN),
    };
    cmd.arg("serve")
        .arg("--no-onion")
        .arg("--config")
        .arg(server.dir.path().join("lanterne.toml"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--reviewer-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data)
        .arg("--keys-dir")
        .arg(server.dir.path().join("keys"))
        .env("TMPDIR", server.tmp())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `cmd`, which must exit by itself within 60 s; kills it and panics otherwise.
fn run_to_exit(mut cmd: Command) -> Output {
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve did not exit: {:?}", child.wait_with_output());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Starts `cmd` and waits for its `listening on` line.
struct Running(Child);

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("listening on "), "{line:?}");
        Running(child)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn other_kdf_parameters_on_an_existing_box_are_refused_with_what_to_put_back() {
    let mut server = Server::start("");
    let b = server.browser();
    let page = b.new_code();
    let code = page.code();
    assert_eq!(b.submit(&page, &[], "first").status, 200);
    server.stop();
    let params = std::fs::read_to_string(server.data().join("params")).unwrap();
    assert!(params.contains("memory_kib = 65536"), "{params}");
    assert_eq!(mode(&server.data().join("params")), 0o600);

    let config = server.dir.path().join("lanterne.toml");
    for (toml, want) in [
        (
            "[kdf]\nmemory_kib = 131072\n",
            "kdf.memory_kib is 131072 in the config, but this box was made with 65536",
        ),
        ("[kdf]\niterations = 4\n", "put `iterations = 3` back"),
    ] {
        std::fs::write(&config, toml).unwrap();
        let out = run_to_exit(serve_command(&server, &[]));
        assert!(!out.status.success(), "served with {toml:?}");
        let err = stderr(&out);
        assert!(err.contains(want), "{err}");
        assert!(err.contains("lock out every source"), "{err}");
        assert!(out.stdout.is_empty(), "it listened: {out:?}");
    }

    // Put back, the box starts and the source still logs in with the same code.
    std::fs::write(&config, "").unwrap();
    server.launch();
    let inbox = server.browser().login(&code);
    assert_eq!(inbox.status, 200, "{}", inbox.body);
}

#[test]
fn a_second_serve_on_the_same_data_dir_is_refused_and_the_first_keeps_serving() {
    let server = Server::start("");
    // An upload in progress of the first box, as its staging folder.
    let in_flight = server
        .data()
        .join("staging/0123456789abcdef0123456789abcdef");
    std::fs::create_dir(&in_flight).unwrap();
    std::fs::write(in_flight.join("part.age"), b"ciphertext so far").unwrap();

    let out = run_to_exit(serve_command(&server, &[]));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("another lanterne serve is already running on the data dir"),
        "{err}"
    );
    assert!(in_flight.join("part.age").exists(), "the upload was swept");
    assert_eq!(server.browser().get("/").status, 200);
    let b = server.browser();
    let page = b.new_code();
    assert_eq!(b.submit(&page, &[], "still here").status, 200);
}

#[test]
fn a_running_serve_has_no_core_file_limit_even_when_started_with_one() {
    let server = Server::start("");
    let second_data = server.dir.path().join("data2");
    let running = Running::start(serve_command_on(
        &server,
        &second_data,
        &["prlimit", "--core=unlimited:unlimited"],
    ));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", running.0.id())).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..], ["0", "0", "bytes"], "{core}");
}

/// Whether this test process has the capability numbered `bit` in its effective set.
fn has_capability(bit: u32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    eff & (1 << bit) != 0
}

/// Whether this test process may lock memory past RLIMIT_MEMLOCK (CAP_IPC_LOCK).
fn has_cap_ipc_lock() -> bool {
    has_capability(14)
}

/// The hard RLIMIT_MEMLOCK of this test process, in bytes (`None`: unlimited).
fn memlock_hard_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max locked memory"))
        .unwrap();
    line.split_whitespace().nth(4).unwrap().parse().ok()
}

#[test]
fn lock_memory_with_a_low_memlock_limit_fails_at_start_naming_the_fix() {
    let mut server = Server::start("");
    server.stop();
    std::fs::write(
        server.dir.path().join("lanterne.toml"),
        "lock_memory = true\n",
    )
    .unwrap();
    // CAP_IPC_LOCK lifts the limit; a process running with it (root) loses it here.
    let mut wrapper = vec![];
    if has_cap_ipc_lock() {
        wrapper.extend([
            "setpriv",
            "--bounding-set=-ipc_lock",
            "--inh-caps=-ipc_lock",
        ]);
    }
    wrapper.extend(["prlimit", "--memlock=0:0"]);
    let out = run_to_exit(serve_command(&server, &wrapper));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("lock_memory"), "{err}");
    assert!(err.contains("RLIMIT_MEMLOCK"), "{err}");
    assert!(err.contains("LimitMEMLOCK=infinity"), "{err}");
    assert!(out.stdout.is_empty(), "it listened: {out:?}");
}

#[test]
fn lock_memory_locks_the_pages_when_it_may() {
    let mut server = Server::start("");
    server.stop();
    std::fs::write(
        server.dir.path().join("lanterne.toml"),
        "lock_memory = true\n",
    )
    .unwrap();
    let may_lock = has_cap_ipc_lock() || memlock_hard_limit().is_none_or(|l| l >= 1 << 30);
    assert!(
        may_lock,
        "this test needs CAP_IPC_LOCK or a hard RLIMIT_MEMLOCK of at least 1 GiB"
    );
    let wrapper = if has_cap_ipc_lock() {
        vec![]
    } else {
        vec!["prlimit", "--memlock=unlimited:unlimited"]
    };
    let running = Running::start(serve_command(&server, &wrapper));
    let status = std::fs::read_to_string(format!("/proc/{}/status", running.0.id())).unwrap();
    let locked_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(locked_kib > 1024, "{status}");
}

#[test]
fn onion_address_before_the_first_serve_makes_private_folders() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh/data");
    let url = lanterne(&["onion-address", "--data-dir", data.to_str().unwrap()]);
    assert!(url.trim().ends_with(".onion"), "{url}");
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("tor")), 0o700);
}
