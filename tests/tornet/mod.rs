//! A private Tor network on 127.0.0.1 for tests: 3 directory authorities, 5 relays and a C tor
//! client with a SOCKS port, run from Debian's `tor` and `tor-gencert` in a fresh temp dir on
//! free ports, plus C tor onion services on demand and an arti config fragment describing the
//! network (for `lanterne serve --tor-network FILE`).
//!
//! Nothing leaves loopback: every node knows only our authorities (no default authorities or
//! fallbacks), exits allow 127.0.0.0/8 only, and DNS self-tests are off. Every tor is a child of
//! the test process, killed by PID on drop; should the test process die without unwinding, tor
//! exits by itself (`__OwningControllerProcess`). Every wait has a deadline and fails with the
//! tail of the relevant tor logs. Set `TORNET_KEEP=1` to keep the temp dir for a post-mortem.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
const INITIAL_VOTING_INTERVAL: u32 = 10;
/// Vote and distribution delays of that initial schedule.
const INITIAL_DELAY: u32 = 2;
/// When the authorities hold their first vote, counted from their launch (the schedule is
/// shifted with `TestingV3AuthVotingStartOffset`). Every relay should have uploaded its
/// descriptor by then: about 2 s after launch on an idle 2-core machine, up to 9 s seen under
/// a load average of 9. A vote too early for two authorities costs one initial interval
/// (10 s); a consensus that misses a relay costs a full voting interval (60 s).
const FIRST_VOTE_AFTER: Duration = Duration::from_secs(8);
const N_AUTHORITIES: usize = 3;
const N_RELAYS: usize = 5;
/// Whole `start()`, from key generation to the client's 100% bootstrap.
const START_DEADLINE: Duration = Duration::from_secs(180);
/// From launching an onion service's tor to its first descriptor upload.
const ONION_DEADLINE: Duration = Duration::from_secs(120);
/// `tor-gencert` and `tor --list-fingerprint`.
const KEYGEN_DEADLINE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);
const TAIL_LINES: usize = 30;

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

struct Node {
    name: String,
    dir: PathBuf,
    child: Child,
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
struct Failure {
    msg: String,
    port_clash: bool,
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

    fn try_start() -> Result<TorNet, Failure> {
        let started = Instant::now();
        let deadline = started + START_DEADLINE;
        let voting_interval = voting_interval();
        let dir = tempfile::Builder::new()
            .prefix("tornet-")
            .tempdir()
            .map_err(|e| format!("cannot create temp dir: {e}"))?;
        let root = dir.path().to_owned();
        let n_relays = N_AUTHORITIES + N_RELAYS;
        // OR ports for every relay, Dir ports for the authorities, the client's SOCKS port.
        let ports = free_ports(n_relays + N_AUTHORITIES + 1);
        let or_port = |i: usize| ports[i];
        let dir_port = |i: usize| ports[n_relays + i];
        let socks = SocketAddr::from((Ipv4Addr::LOCALHOST, ports[n_relays + N_AUTHORITIES]));
        let names: Vec<String> = (0..N_AUTHORITIES)
            .map(|i| format!("a{i}"))
            .chain((0..N_RELAYS).map(|i| format!("r{i}")))
            .collect();
        for name in &names {
            make_private_dir(&root.join(name).join("keys"));
        }
        fs::write(root.join("empty-defaults-torrc"), "").map_err(|e| e.to_string())?;

        // Authority keys: identity + signing certificate, and relay identity (for the
        // DirAuthority lines). Relays make their own keys.
        let mut jobs = Vec::new();
        for (i, name) in names.iter().enumerate().take(N_AUTHORITIES) {
            let keys = root.join(name).join("keys");
            let mut c = Command::new("tor-gencert");
            c.args([
                "--create-identity-key",
                "--passphrase-fd",
                "0",
                "-m",
                "12",
                "-a",
            ])
            .arg(format!("127.0.0.1:{}", dir_port(i)))
            .arg("-i")
            .arg(keys.join("authority_identity_key"))
            .arg("-s")
            .arg(keys.join("authority_signing_key"))
            .arg("-c")
            .arg(keys.join("authority_certificate"));
            jobs.push((format!("tor-gencert for {name}"), c));
        }
        for name in names.iter().take(N_AUTHORITIES) {
            let mut c = Command::new("tor");
            c.arg("--defaults-torrc")
                .arg(root.join("empty-defaults-torrc"))
                .args(["-f", "/dev/null", "--ignore-missing-torrc", "--ORPort", "1"])
                .arg("--DataDirectory")
                .arg(root.join(name))
                .args(["--Nickname", name, "--list-fingerprint"]);
            jobs.push((format!("tor --list-fingerprint for {name}"), c));
        }
        run_all(jobs, Instant::now() + KEYGEN_DEADLINE)?;

        let read = |p: PathBuf| {
            fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))
        };
        let second_word = |s: &str, p: &str| {
            s.split_whitespace()
                .nth(1)
                .map(str::to_owned)
                .ok_or_else(|| format!("cannot parse {p}: {s:?}"))
        };
        let mut common = format!(
            "TestingTorNetwork 1\n\
             TestingDirAuthVoteExit *\n\
             TestingDirAuthVoteHSDir *\n\
             TestingDirAuthVoteGuard *\n\
             TestingMinExitFlagThreshold 0\n\
             PathsNeededToBuildCircuits 0.67\n\
             V3AuthNIntervalsValid 2\n\
             RunAsDaemon 0\n\
             ShutdownWaitLength 0\n\
             SafeLogging 0\n\
             LogTimeGranularity 1\n\
             Sandbox 0\n\
             ClientUseIPv6 0\n\
             GeoIPFile /dev/null\n\
             GeoIPv6File /dev/null\n\
             FetchDirInfoEarly 1\n\
             FetchDirInfoExtraEarly 1\n\
             __OwningControllerProcess {}\n",
            std::process::id()
        );
        let mut fallbacks = String::new();
        let (mut v3idents, mut dirs) = (Vec::new(), Vec::new());
        // Arti bootstraps from the fallback caches: list only the authorities, which have every
        // consensus and microdescriptor first. Relays start without a consensus and back off
        // between fetches, so for 10-20 s after the first consensus some of them answer 404,
        // which made arti's bootstrap take 10 s instead of under 1 s.
        for (i, name) in names.iter().enumerate().take(N_AUTHORITIES) {
            let nd = root.join(name);
            let rsa = second_word(&read(nd.join("fingerprint"))?, "fingerprint")?;
            let ed = second_word(
                &read(nd.join("fingerprint-ed25519"))?,
                "fingerprint-ed25519",
            )?;
            writeln!(
                fallbacks,
                "  {{ rsa_identity = \"{rsa}\", ed_identity = \"{ed}\", orports = [\"127.0.0.1:{}\"] }},",
                or_port(i)
            )
            .unwrap();
            let cert = read(nd.join("keys/authority_certificate"))?;
            let v3 = cert
                .lines()
                .find_map(|l| l.strip_prefix("fingerprint "))
                .map(|s| s.trim().to_owned())
                .ok_or_else(|| format!("no fingerprint in {name}'s authority certificate"))?;
            writeln!(
                common,
                "DirAuthority {name} orport={} no-v2 v3ident={v3} 127.0.0.1:{} {rsa}",
                or_port(i),
                dir_port(i)
            )
            .unwrap();
            v3idents.push(format!("\"{v3}\""));
            dirs.push(format!("[\"127.0.0.1:{}\"]", dir_port(i)));
        }
        let fragment = root.join("arti-net.toml");
        let dirs = dirs.join(", ");
        fs::write(
            &fragment,
            format!(
                "# arti config fragment for the private Tor network in {}\n\
                 [tor_network]\n\
                 fallback_caches = [\n{fallbacks}]\n\n\
                 [tor_network.authorities]\n\
                 v3idents = [{}]\n\
                 uploads = [{dirs}]\n\
                 downloads = [{dirs}]\n\
                 votes = [{dirs}]\n\n\
                 # Every relay is on 127.0.0.1: don't treat them all as one family.\n\
                 [path_rules]\n\
                 ipv4_subnet_family_prefix = 33\n\
                 ipv6_subnet_family_prefix = 129\n\n\
                 [address_filter]\n\
                 allow_local_addrs = true\n",
                root.display(),
                v3idents.join(", ")
            ),
        )
        .map_err(|e| e.to_string())?;

        let mut net = TorNet {
            dir: Some(dir),
            root,
            nodes: Vec::new(),
            socks,
            common_torrc: common,
            fragment,
            voting_interval,
            started,
            timings: Timings::default(),
            onions: 0,
        };

        let hsdir_interval_min = 24 * voting_interval / 60;
        // Votes happen `2 * delay` before each boundary; boundaries fall at multiples of the
        // interval (since midnight UTC) plus the start offset. Place the first vote.
        let first_vote = (unix_now() + FIRST_VOTE_AFTER).as_secs() + 1;
        let start_offset =
            (first_vote + 2 * u64::from(INITIAL_DELAY)) % u64::from(INITIAL_VOTING_INTERVAL);
        for (i, name) in names.iter().enumerate() {
            let mut torrc = format!(
                "SocksPort 0\n\
                 Address 127.0.0.1\n\
                 ORPort 127.0.0.1:{}\n\
                 AssumeReachable 1\n\
                 ServerDNSDetectHijacking 0\n\
                 ServerDNSTestAddresses\n\
                 ServerDNSResolvConfFile /dev/null\n",
                or_port(i)
            );
            if i < N_AUTHORITIES {
                write!(
                    torrc,
                    "DirPort 127.0.0.1:{}\n\
                     AuthoritativeDirectory 1\n\
                     V3AuthoritativeDirectory 1\n\
                     ContactInfo tornet@test.invalid\n\
                     ExitRelay 0\n\
                     ExitPolicy reject *:*\n\
                     TestingV3AuthInitialVotingInterval {INITIAL_VOTING_INTERVAL}\n\
                     TestingV3AuthInitialVoteDelay {INITIAL_DELAY}\n\
                     TestingV3AuthInitialDistDelay {INITIAL_DELAY}\n\
                     TestingV3AuthVotingStartOffset {start_offset}\n\
                     V3AuthVotingInterval {voting_interval}\n\
                     V3AuthVoteDelay 4\n\
                     V3AuthDistDelay 4\n\
                     ConsensusParams hsdir_interval={hsdir_interval_min}\n",
                    dir_port(i)
                )
                .unwrap();
            } else {
                torrc.push_str(
                    "ExitRelay 1\n\
                     ExitPolicyRejectPrivate 0\n\
                     ExitPolicy accept 127.0.0.0/8:*\n\
                     ExitPolicy reject *:*\n",
                );
            }
            net.spawn(name, &torrc)?;
        }
        net.timings.launched = started.elapsed();

        // Every authority has a consensus listing every relay, at the full voting interval (so
        // that the time period it implies is the one that lasts).
        let auths: Vec<usize> = (0..N_AUTHORITIES).collect();
        let auth_dirs: Vec<PathBuf> = auths.iter().map(|&i| net.nodes[i].dir.clone()).collect();
        net.wait_for("a consensus listing every relay", deadline, &auths, |_| {
            auth_dirs
                .iter()
                .all(|d| {
                    let Ok(c) = fs::read_to_string(d.join("cached-microdesc-consensus")) else {
                        return false;
                    };
                    let listed = c.lines().filter(|l| l.starts_with("r ")).count();
                    listed == n_relays && consensus_interval(&c) == Some(voting_interval)
                })
                .then_some(())
        })?;
        net.timings.consensus = started.elapsed();
        let consensus = fs::read_to_string(auth_dirs[0].join("cached-microdesc-consensus"))
            .map_err(|e| e.to_string())?;
        let want = format!("hsdir_interval={hsdir_interval_min}");
        if !consensus
            .lines()
            .any(|l| l.starts_with("params ") && l.split(' ').any(|p| p == want))
        {
            return Err(format!(
                "the consensus lacks {want}, so arti's time periods would differ from C tor's"
            )
            .into());
        }

        net.spawn("c0", &format!("SocksPort {socks}\n{CLIENT_TORRC}"))?;
        let client = net.nodes.len() - 1;
        let client_dir = net.nodes[client].dir.clone();
        net.wait_for("the client to bootstrap", deadline, &[client], |_| {
            let log = fs::read_to_string(client_dir.join("notice.log")).ok()?;
            log.contains("Bootstrapped 100%").then_some(())
        })?;
        net.timings.bootstrapped = started.elapsed();
        Ok(net)
    }

    /// Writes `<root>/<name>/torrc` (common lines + `extra`) and launches tor on it.
    fn spawn(&mut self, name: &str, extra: &str) -> Result<(), Failure> {
        let dir = self.root.join(name);
        make_private_dir(&dir);
        let torrc_path = dir.join("torrc");
        let torrc = format!(
            "{}DataDirectory {}\nNickname {name}\nLog notice file {}\nLog info file {}\n{extra}",
            self.common_torrc,
            torrc_value(&dir),
            torrc_value(&dir.join("notice.log")),
            torrc_value(&dir.join("info.log")),
        );
        fs::write(&torrc_path, torrc).map_err(|e| e.to_string())?;
        let out = fs::File::create(dir.join("stdout.log")).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new("tor")
            .arg("--defaults-torrc")
            .arg(self.root.join("empty-defaults-torrc"))
            .arg("-f")
            .arg(&torrc_path)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot run tor: {e}"))?;
        self.nodes.push(Node {
            name: name.to_owned(),
            dir,
            child,
        });
        Ok(())
    }

    /// Polls `check` until it gives a value, failing at `deadline` or as soon as any node exits,
    /// with the log tails of the nodes in `watch` (and of the dead node).
    fn wait_for<T>(
        &mut self,
        what: &str,
        deadline: Instant,
        watch: &[usize],
        mut check: impl FnMut(&TorNet) -> Option<T>,
    ) -> Result<T, Failure> {
        loop {
            if let Some(v) = check(self) {
                return Ok(v);
            }
            for i in 0..self.nodes.len() {
                if let Ok(Some(status)) = self.nodes[i].child.try_wait() {
                    let tail = self.tail(i);
                    return Err(Failure {
                        port_clash: tail.contains("Address already in use"),
                        msg: format!(
                            "tor node {} exited ({status}) while waiting for {what}{tail}",
                            self.nodes[i].name
                        ),
                    });
                }
            }
            if Instant::now() >= deadline {
                let mut msg = format!(
                    "timed out waiting for {what} ({:?} after start, dir {})",
                    self.started.elapsed(),
                    self.root.display()
                );
                for &i in watch {
                    msg.push_str(&self.tail(i));
                }
                return Err(msg.into());
            }
            std::thread::sleep(POLL);
        }
    }

    /// The last lines of a node's notice log and stdout (where config errors go).
    fn tail(&self, i: usize) -> String {
        let node = &self.nodes[i];
        let mut s = String::new();
        for file in ["notice.log", "stdout.log"] {
            let text = fs::read_to_string(node.dir.join(file)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            if lines.is_empty() {
                continue;
            }
            let from = lines.len().saturating_sub(TAIL_LINES);
            write!(
                s,
                "\n--- {}/{file} (last {} lines) ---\n",
                node.name,
                lines.len() - from
            )
            .unwrap();
            for l in &lines[from..] {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
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
const CLIENT_TORRC: &str = "UseEntryGuards 0\n";

/// What C tor logs (at info) when an HSDir accepted a descriptor.
const UPLOAD_OK: &str = "Uploading hidden service descriptor: finished with status 200";

/// `DEFAULT_VOTING_INTERVAL`, or `TORNET_VOTING_INTERVAL` (e.g. 20 to provoke period changes).
fn voting_interval() -> u32 {
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

fn unix_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock before 1970")
}

fn assert_tools() {
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
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("tornet: bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

fn make_private_dir(path: &Path) {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .unwrap_or_else(|e| panic!("tornet: cannot create {}: {e}", path.display()));
}

/// A path as a torrc value. torrc has no quoting that every option (e.g. `Log`) honours, so
/// refuse paths it would split.
fn torrc_value(path: &Path) -> String {
    let s = path.to_str().expect("tornet: non-UTF-8 temp path");
    assert!(
        !s.contains(|c: char| c.is_whitespace() || c == '"' || c == '#' || c == '\\'),
        "tornet: temp path {s:?} cannot go into a torrc; set TMPDIR to a plain path"
    );
    s.to_owned()
}

/// fresh-until minus valid-after of a consensus, in seconds.
fn consensus_interval(consensus: &str) -> Option<u32> {
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
fn run_all(jobs: Vec<(String, Command)>, deadline: Instant) -> Result<(), Failure> {
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
fn wait_output(
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
