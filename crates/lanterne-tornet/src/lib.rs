//! lanterne-tornet: a private Tor network on 127.0.0.1 for lanterne's tests (a dev-dependency
//! only; nothing ships it): 3 directory authorities, 5 relays and a C tor
//! client with a SOCKS port, run from Debian's `tor` and `tor-gencert` in a fresh temp dir on
//! free ports, plus C tor onion services on demand and an arti config fragment describing the
//! network (for `lanterne serve --tor-network FILE`).
//!
//! Nothing leaves loopback: every node knows only our authorities (no default authorities or
//! fallbacks), exits allow 127.0.0.0/8 only, and DNS self-tests are off. Every tor is a child of
//! the test process, killed by PID on drop; should the test process die without unwinding, tor
//! exits by itself (`__OwningControllerProcess`). Every wait has a deadline and fails with the
//! tail of the relevant tor logs. Set `TORNET_KEEP=1` to keep the temp dir for a post-mortem.

//!
//! # Layout
//!
//! Everything here runs in a test process on the developer's or CI's machine:
//! - this file: [`TorNet`], what tests call (start, SOCKS address, arti fragment, time periods,
//!   C tor onion services, `curl` through the client);
//! - `start`: bringing the network up, one small step per function (plan the ports and dirs,
//!   make the authorities' keys, write the shared torrc and arti fragment, launch, wait for the
//!   consensus, start the client), and the node plumbing (spawn, wait, log tails);
//! - `util`: process and file helpers with deadlines.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod start;
mod util;

use util::{assert_tools, make_private_dir, torrc_value, unix_now, wait_output};

/// Seconds between consensuses (`V3AuthVotingInterval`); `TORNET_VOTING_INTERVAL` overrides it.
///
/// Under `TestingTorNetwork`, C tor's onion-service time period is 24 voting intervals (one
/// shared-random protocol run) and arti's is the `hsdir_interval` consensus parameter, which
/// the authorities publish to match (`24 * interval / 60` minutes). A period change is when an
/// onion service can drop off a young network for a while (40-60 s were seen with arti
/// services; a C tor service stayed reachable through one here), so the longer the better:
/// 60 s gives 24-minute periods, against 8 minutes at 20 s, and costs nothing at start-up since
/// the first consensus follows the short initial schedule either way.
pub const DEFAULT_VOTING_INTERVAL: u32 = 60;
/// Voting schedule before the first consensus: short, so the network comes up quickly. The
/// first consensus already carries the full interval (fresh-until = valid-after + interval).
pub(crate) const INITIAL_VOTING_INTERVAL: u32 = 10;
/// Vote and distribution delays of that initial schedule.
pub(crate) const INITIAL_DELAY: u32 = 2;
/// When the authorities hold their first vote, counted from their launch (the schedule is
/// shifted with `TestingV3AuthVotingStartOffset`). Every relay should have uploaded its
/// descriptor by then: about 2 s after launch on an idle 2-core machine, up to 9 s seen under
/// a load average of 9. A vote too early for two authorities costs one initial interval
/// (10 s); a consensus that misses a relay costs a full voting interval (60 s).
pub(crate) const FIRST_VOTE_AFTER: Duration = Duration::from_secs(8);
pub(crate) const N_AUTHORITIES: usize = 3;
pub(crate) const N_RELAYS: usize = 5;
/// Whole `start()`, from key generation to the client's 100% bootstrap.
pub(crate) const START_DEADLINE: Duration = Duration::from_secs(180);
/// From launching an onion service's tor to its first descriptor upload.
pub(crate) const ONION_DEADLINE: Duration = Duration::from_secs(120);
/// `tor-gencert` and `tor --list-fingerprint`.
pub(crate) const KEYGEN_DEADLINE: Duration = Duration::from_secs(60);
pub(crate) const POLL: Duration = Duration::from_millis(200);
pub(crate) const TAIL_LINES: usize = 30;

/// When each stage of `start()` was reached, counted from the start of `start()`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    /// Keys generated and relays launched.
    pub launched: Duration,
    /// Every authority has a consensus listing every relay.
    pub consensus: Duration,
    /// The C tor client reported "Bootstrapped 100%".
    pub bootstrapped: Duration,
}

pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) child: Child,
}

/// A running private Tor network. Dropping it kills every tor it started.
pub struct TorNet {
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    nodes: Vec<Node>,
    socks: SocketAddr,
    /// torrc lines every node shares: the test-network settings and our DirAuthority lines.
    common_torrc: String,
    fragment: PathBuf,
    voting_interval: u32,
    started: Instant,
    timings: Timings,
    onions: usize,
}

/// Why a start attempt failed; `port_clash` ones are retried on fresh ports.
pub(crate) struct Failure {
    pub(crate) msg: String,
    pub(crate) port_clash: bool,
}

impl From<String> for Failure {
    fn from(msg: String) -> Failure {
        Failure {
            msg,
            port_clash: false,
        }
    }
}

impl TorNet {
    /// Starts 3 authorities, 5 relays and a C tor client with a SOCKS port; returns once the
    /// client has bootstrapped 100% (deadline 180 s).
    pub fn start() -> TorNet {
        assert_tools();
        let mut attempt = 1;
        loop {
            match TorNet::try_start() {
                Ok(net) => return net,
                // Ports are picked free, then released for tor to bind: another process can
                // take one in between. Rare; try again on new ports.
                Err(f) if f.port_clash && attempt < 3 => {
                    eprintln!("tornet: port taken under us, retrying: {}", f.msg);
                    attempt += 1;
                }
                Err(f) => panic!("tornet: {}", f.msg),
            }
        }
    }

    /// SOCKS5 address of the C tor client (use with curl --socks5-hostname or socks5h://).
    pub fn socks(&self) -> SocketAddr {
        self.socks
    }

    /// Path of an arti TOML config fragment describing this network (arti 0.47 format):
    /// `[tor_network]` fallback caches and authorities, loopback-friendly `[path_rules]` and
    /// `[address_filter]`; no storage section.
    pub fn arti_fragment(&self) -> &Path {
        &self.fragment
    }

    /// The temp dir holding every node's data dir and logs.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    pub fn timings(&self) -> Timings {
        self.timings
    }

    /// Seconds between consensuses on this network.
    pub fn voting_interval(&self) -> u32 {
        self.voting_interval
    }

    /// Length of an onion-service time period here: 24 voting intervals (C tor's rule under
    /// `TestingTorNetwork`, and the `hsdir_interval` the authorities publish for arti).
    pub fn time_period(&self) -> Duration {
        Duration::from_secs(24 * u64::from(self.voting_interval))
    }

    /// Wall-clock time left before the next time period begins. Periods start at whole minutes
    /// m with (m - 12 * interval / 60) divisible by the period length in minutes (the same
    /// formula in C tor and arti); each node switches with its first consensus of the new period.
    pub fn time_period_remaining(&self) -> Duration {
        let now = unix_now();
        let len_min = 24 * u64::from(self.voting_interval) / 60;
        let offset_min = 12 * u64::from(self.voting_interval) / 60;
        let minute = now.as_secs() / 60;
        let into = (minute - offset_min) % len_min;
        Duration::from_secs((minute + len_min - into) * 60).saturating_sub(now)
    }

    /// Makes sure at least `need` of the current time period is left; otherwise sleeps through
    /// the change until every node has a consensus of the new period (two voting intervals
    /// after it, plus a margin). Call it before starting the onion services a test needs for
    /// `need`: a period change under a young service can make it unreachable for up to a minute.
    pub fn ensure_stable_period(&self, need: Duration) {
        let settle = Duration::from_secs(2 * u64::from(self.voting_interval) + 10);
        assert!(
            need + settle < self.time_period(),
            "tornet: cannot promise {need:?} of a {:?} time period",
            self.time_period()
        );
        let left = self.time_period_remaining();
        if left < need {
            eprintln!(
                "tornet: only {left:.0?} left in this time period, waiting {:.0?} for the next one",
                left + settle
            );
            std::thread::sleep(left + settle);
        }
    }

    /// Time since `start()` began.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Starts a C tor onion service (its own tor, `HiddenServicePort 80` -> `target`) and returns
    /// its "<56 chars>.onion" hostname once a descriptor has been uploaded to an HSDir
    /// (deadline 120 s). Its data dir is `dir()/h<N>`.
    pub fn add_c_onion_service(&mut self, target: SocketAddr) -> String {
        assert!(
            target.ip().is_loopback(),
            "tornet: onion service target {target} is not on loopback"
        );
        let name = format!("h{}", self.onions);
        self.onions += 1;
        let dir = self.root.join(&name);
        let hs_dir = dir.join("hs");
        make_private_dir(&hs_dir);
        let torrc = format!(
            "SocksPort 0\nHiddenServiceDir {}\nHiddenServicePort 80 {target}\n{CLIENT_TORRC}",
            torrc_value(&hs_dir)
        );
        let deadline = Instant::now() + ONION_DEADLINE;
        let result = self.spawn(&name, &torrc).and_then(|()| {
            let idx = self.nodes.len() - 1;
            self.wait_for(
                &format!("onion service {name} to publish"),
                deadline,
                &[idx],
                |_| {
                    let info = fs::read_to_string(dir.join("info.log")).unwrap_or_default();
                    let uploaded = info.contains(UPLOAD_OK);
                    let host = fs::read_to_string(hs_dir.join("hostname")).ok()?;
                    uploaded.then(|| host.trim().to_owned())
                },
            )
        });
        match result {
            Ok(host) => {
                assert!(
                    host.len() == 62 && host.ends_with(".onion"),
                    "tornet: odd onion hostname {host:?}"
                );
                host
            }
            Err(f) => panic!("tornet: {}", f.msg),
        }
    }

    /// GET an `http://<onion>/...` URL through the client's SOCKS port with
    /// `curl --socks5-hostname`, retrying until `deadline` (an onion service can be unreachable
    /// for a minute or so around a time-period change, see `ensure_stable_period`); returns
    /// (status, body) of the first complete response. Panics with the client's and the onion
    /// services' log tails if none came.
    pub fn curl_get(&self, url: &str, deadline: Duration) -> (u16, String) {
        let authority = url
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("tornet: curl_get wants an http:// URL, got {url}"))
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("");
        let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
        assert!(
            host.to_ascii_lowercase().ends_with(".onion") && !host.contains('@'),
            "tornet: curl_get only fetches onion services, got {url}"
        );
        let end = Instant::now() + deadline;
        let mut attempts = 0;
        let mut last_err = String::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            attempts += 1;
            let max_time = left.min(Duration::from_secs(60)).as_secs().max(1);
            let child = Command::new("curl")
                .args(["-q", "--silent", "--show-error", "--max-time"])
                .arg(max_time.to_string())
                .arg("--socks5-hostname")
                .arg(self.socks.to_string())
                .args(["--output", "-", "--write-out", "%{http_code}", "--"])
                .arg(url)
                .env_remove("ALL_PROXY")
                .env_remove("all_proxy")
                .env_remove("NO_PROXY")
                .env_remove("no_proxy")
                .env_remove("HTTP_PROXY")
                .env_remove("http_proxy")
                .env_remove("HTTPS_PROXY")
                .env_remove("https_proxy")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("tornet: cannot run curl");
            // curl enforces --max-time itself; the harness deadline is a backstop.
            let out = wait_output(child, Duration::from_secs(max_time + 10));
            match out {
                Ok((status, stdout, stderr)) => {
                    let code = stdout
                        .len()
                        .checked_sub(3)
                        .and_then(|i| std::str::from_utf8(&stdout[i..]).ok())
                        .and_then(|c| c.parse::<u16>().ok())
                        .unwrap_or(0);
                    if status.success() && code != 0 {
                        let body = String::from_utf8_lossy(&stdout[..stdout.len() - 3]);
                        return (code, body.into_owned());
                    }
                    last_err = format!("{status}: {}", String::from_utf8_lossy(&stderr).trim());
                }
                Err(e) => last_err = e,
            }
            std::thread::sleep(
                Duration::from_secs(1).min(end.saturating_duration_since(Instant::now())),
            );
        }
        let mut msg = format!(
            "tornet: GET {url} got no response within {deadline:?} ({attempts} attempts); last curl error: {last_err}"
        );
        for i in 0..self.nodes.len() {
            if self.nodes[i].name.starts_with(['c', 'h']) {
                msg.push_str(&self.tail(i));
            }
        }
        panic!("{msg}");
    }
}

impl Drop for TorNet {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.child.kill();
        }
        for node in &mut self.nodes {
            let _ = node.child.wait();
        }
        if std::env::var_os("TORNET_KEEP").is_some_and(|v| !v.is_empty() && v != "0") {
            if let Some(dir) = self.dir.take() {
                eprintln!("tornet: keeping {}", dir.keep().display());
            }
        }
    }
}

/// For the C tor client and onion services. C tor builds an onion-service circuit guard ->
/// layer-2 vanguard -> last hop, picking the last hop first and, for onion-service purposes,
/// without excluding it from the guard choice. On 8 relays it often picked its own guard as
/// last hop; the middle refuses to extend back where the circuit came from, and the client kept
/// failing such circuits for 80-90 s before bootstrapping (in 6 of 12 runs;
/// `VanguardsLiteEnabled 0` did not help). Without entry guards the first hop is picked per
/// circuit and excludes the last one. These tors only stand in for users: no anonymity needed.
pub(crate) const CLIENT_TORRC: &str = "UseEntryGuards 0\n";

/// What C tor logs (at info) when an HSDir accepted a descriptor.
pub(crate) const UPLOAD_OK: &str = "Uploading hidden service descriptor: finished with status 200";
