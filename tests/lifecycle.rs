//! Stopping the real binary as systemd does: SIGTERM, then a deadline before SIGKILL.

use crate::common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// With the onion on and Tor unreachable (arti still bootstrapping, its blocking work pending),
/// SIGTERM ends the process within seconds, and the same data dir starts again at once. Before
/// the fix the process logged "shutting down" and then waited for arti's blocking tasks forever,
/// so systemd would have had to SIGKILL it at `TimeoutStopSec`.
#[test]
fn sigterm_stops_the_box_promptly_with_the_onion_on() {
    let net = tempfile::tempdir().unwrap();
    let fragment = unreachable_tor_network(net.path());
    let mut server = Server::start_with("", &["--tor-network", p(&fragment)]);
    // Let arti start bootstrapping.
    std::thread::sleep(Duration::from_secs(3));
    let pid = server.pid().to_string();
    let sent = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    while server.alive() && sent.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = sent.elapsed();
    let alive = server.alive();
    let logs = server.stop();
    assert!(!alive, "still running 20 s after SIGTERM:\n{logs}");
    assert!(took < Duration::from_secs(10), "took {took:?} to stop");
    assert!(logs.contains("shutting down"), "{logs}");
    // The lock is free: the next start on the same data dir serves.
    server.launch();
    assert!(server.alive());
}
