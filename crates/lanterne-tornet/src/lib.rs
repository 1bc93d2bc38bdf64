//! lanterne-tornet: a private Tor network on 127.0.0.1 for lanterne's tests (a dev-dependency
//! only; nothing ships it): 3 directory authorities, 5 relays and a C tor client with a SOCKS
//! port, run from Debian's `tor` and `tor-gencert` in a fresh temp dir on free ports, plus C tor
//! onion services and more C tor clients on demand, and an arti config fragment describing the
//! network (for `lanterne serve --tor-network FILE`).
//!
//! Nothing leaves loopback: every node knows only our authorities (no default authorities or
//! fallbacks), exits allow 127.0.0.0/8 only, and DNS self-tests are off. Every tor is a child of
//! the test process, killed by PID on drop; should the test process die without unwinding, tor
//! exits by itself (`__OwningControllerProcess`). Every wait has a deadline and fails with the
//! tail of the relevant tor logs. Set `TORNET_KEEP=1` to keep the temp dir for a post-mortem.
//!
//! # Using it
//!
//! A network costs about 20 s and 9 tor processes, so the tests of one test binary share one:
//! [`TorNet::shared`] starts it on first use and every method takes `&self`, so tests running
//! in parallel threads can each add what they need:
//! - [`TorNet::add_c_onion_service_with`]: a C tor onion service in front of a loopback
//!   listener, with extra torrc lines (e.g. `HiddenServicePoWDefensesEnabled 1`), and
//!   [`TorNet::add_c_onion_service_restricted`], one only given client keys can discover;
//! - [`TorNet::add_client`]: a fresh C tor client (no cached descriptors), optionally with a
//!   `ClientOnionAuthDir`: a workstation that has, has not or no longer has a key;
//! - [`TorNet::curl_get_via`] (retries until a deadline) and [`TorNet::curl_once`] (one
//!   request, any curl arguments, a `Result`) through any client's SOCKS port, optionally on
//!   an isolated circuit.
//!
//! [`TorNet::start`] still gives a network of one's own, stopped when dropped.
//!
//! # Layout
//!
//! Everything here runs in a test process on the developer's or CI's machine:
//! - this file: [`TorNet`] and its accessors (start, shared, SOCKS address, arti fragment,
//!   time periods);
//! - `start`: bringing the network up, one small step per function (plan the ports and dirs,
//!   make the authorities' keys, write the shared torrc and arti fragment, launch, wait for the
//!   consensus, start the client), and the node plumbing (spawn, wait, log tails);
//! - `nodes`: tors added on demand (onion services and clients);
//! - `curl`: HTTP requests through a client's SOCKS port;
//! - `util`: process and file helpers with deadlines.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::AtomicUsize;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

mod curl;
mod nodes;
mod start;
mod util;

pub use curl::CurlError;
use util::{assert_tools, unix_now};

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
/// From launching an added client's tor to its 100% bootstrap.
pub(crate) const CLIENT_DEADLINE: Duration = Duration::from_secs(120);
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
    /// Every tor started, in order: authorities, relays, the client `c0`, then what tests
    /// added. Only ever grows, so an index names one node for good.
    nodes: Mutex<Vec<Node>>,
    socks: SocketAddr,
    /// torrc lines every node shares: the test-network settings and our DirAuthority lines.
    common_torrc: String,
    fragment: PathBuf,
    voting_interval: u32,
    started: Instant,
    timings: Timings,
    /// Onion services (`h<N>`) and clients (`c<N>`) added so far, for their names.
    onions: AtomicUsize,
    clients: AtomicUsize,
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

    /// The network every test of this test binary shares, started by the first caller
    /// (the others wait for it). It is never dropped: its tors exit with the test process
    /// (`__OwningControllerProcess`, which each tor polls). Its temp dir names the owning
    /// process, and the next `shared()` of a later run, once that process is gone, kills any
    /// of its tors still running (by the PIDs in their `PidFile`s) and removes the dir (unless
    /// `TORNET_KEEP` is set). Should the start fail, the test panics and the next caller tries
    /// again.
    pub fn shared() -> &'static TorNet {
        static SHARED: OnceLock<TorNet> = OnceLock::new();
        SHARED.get_or_init(|| {
            util::sweep_abandoned();
            let net = TorNet::start();
            if !keep() {
                util::mark_owned(&net.root);
            }
            eprintln!("tornet: shared network in {}", net.root.display());
            net
        })
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
}

impl TorNet {
    /// The node list, even if a panicking test poisoned the lock (the list itself is always
    /// consistent: nodes are only pushed).
    pub(crate) fn nodes(&self) -> MutexGuard<'_, Vec<Node>> {
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `TORNET_KEEP` is set: keep the temp dir.
fn keep() -> bool {
    std::env::var_os("TORNET_KEEP").is_some_and(|v| !v.is_empty() && v != "0")
}

impl Drop for TorNet {
    fn drop(&mut self) {
        let nodes = self.nodes.get_mut().unwrap_or_else(PoisonError::into_inner);
        for node in nodes.iter_mut() {
            let _ = node.child.kill();
        }
        for node in nodes.iter_mut() {
            let _ = node.child.wait();
        }
        if keep() {
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

/// Flags of every client's `SocksPort`: C tor's extended SOCKS5 error codes, so a failure says
/// why (e.g. `F0` descriptor not found, `F4` client authorization missing, `F5` wrong; see
/// `ExtendedErrors` in `man tor`), which curl shows in its error message. `IsolateSOCKSAuth` is on by default.
pub(crate) const SOCKS_FLAGS: &str = "ExtendedErrors";

/// What C tor logs (at info) when an HSDir accepted a descriptor.
pub(crate) const UPLOAD_OK: &str = "Uploading hidden service descriptor: finished with status 200";
