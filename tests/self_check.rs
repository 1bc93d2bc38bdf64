//! `lanterne check` against a real box: it reads the onion self-check's state from the running
//! box's status socket, and says so when no box runs. (That the self-check reaches a real onion
//! is tested over the private Tor network, in tests/onion.rs; the other checks, in
//! tests/check_digest.rs.)

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// `lanterne check` with `args`: (exit code, its last finding: the running box's).
fn check(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).arg("check").args(args).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    (out.status.code().unwrap_or(-1), last_finding(&stdout))
}

/// The last finding of a report: its line and its `  fix:` line if any.
fn last_finding(report: &str) -> String {
    let lines: Vec<&str> = report.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| !l.starts_with("  "))
        .unwrap_or(0);
    let mut text = String::new();
    for line in &lines[start..] {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// Checks the data dir `data` with the reviewer key in its sibling `keys/` (as `Server` lays
/// them out).
fn check_data(data: &Path) -> (i32, String) {
    let keys = data.parent().unwrap().join("keys");
    check(&["--data-dir", p(data), "--keys-dir", p(&keys)])
}

/// With the onion off the self-check is "off" and the check passes; a config file's data_dir
/// is used the same way; once the box is stopped (killed: its socket file stays behind),
/// `check` says it is not running, a warning (the pre-flight check before a first start must
/// pass); a restarted box answers again.
#[test]
fn check_reports_off_then_not_running() {
    let mut server = Server::start("");
    let (code, out) = check_data(&server.data());
    assert_eq!(
        out,
        "ok: onion self-check: off (the embedded onion service is off)\n"
    );
    assert_eq!(code, 0);

    let socket = server.data().join("run/status.sock");
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(&server.data().join("run")), 0o700);

    let config = server.dir.path().join("check.toml");
    let keys = server.dir.path().join("keys");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nkeys_dir = {:?}\n",
            p(&server.data()),
            p(&keys)
        ),
    )
    .unwrap();
    assert_eq!(check(&["--config", p(&config)]), (code, out));

    server.stop();
    assert!(socket.exists(), "a killed box leaves its socket");
    let (code, out) = check_data(&server.data());
    assert!(
        out.starts_with("warning: the box is not running (no status socket at "),
        "{out}"
    );
    assert!(out.contains("fix: "), "{out}");
    assert_eq!(code, 0);

    server.launch();
    assert_eq!(check_data(&server.data()).0, 0);
    server.stop();

    // No box ever ran here (and no key: that is the error).
    let empty = tempfile::tempdir().unwrap();
    let (code, out) = check_data(&empty.path().join("data"));
    assert!(out.contains("not running"), "{out}");
    assert_eq!(code, 1);
}

/// With the onion on (on a Tor network that does not exist: loopback ports nobody listens
/// on), the self-check waits for its first run, or is off when the config says 0.
#[test]
fn check_reports_not_run_yet_or_off_by_config() {
    let net = tempfile::tempdir().unwrap();
    let fragment = unreachable_tor_network(net.path());
    let args = ["--tor-network", p(&fragment)];
    let server = Server::start_with("[onion]\nself_check_every_secs = 3600\n", &args);
    let (code, out) = check_data(&server.data());
    assert_eq!(
        out,
        "ok: onion self-check: not run yet (the first check runs 3600 s after the box starts)\n"
    );
    assert_eq!(code, 0);
    drop(server);

    let server = Server::start_with("[onion]\nself_check_every_secs = 0\n", &args);
    let (code, out) = check_data(&server.data());
    assert_eq!(
        out,
        "ok: onion self-check: off ([onion] self_check_every_secs = 0)\n"
    );
    assert_eq!(code, 0);
}
