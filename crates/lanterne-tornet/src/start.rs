//! Bringing the private network up, one step per function, and the node plumbing the steps and
//! the public API share (spawn a tor, wait for a condition, show log tails).
//!
//! The order: [`Plan::new`] picks the temp dir, the names and free ports;
//! [`make_authority_keys`] runs `tor-gencert` and `tor --list-fingerprint`; [`shared_config`]
//! writes the torrc lines every node shares and the arti fragment; then the authorities and
//! relays are launched with a shifted first vote, the consensus is awaited, and the C tor
//! client is started and awaited.

use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;
use std::time::Instant;

use crate::util::{
    consensus_interval, free_ports, make_private_dir, run_all, torrc_value, unix_now,
    voting_interval, PID_FILE,
};
use crate::{
    Failure, Node, Timings, TorNet, CLIENT_TORRC, FIRST_VOTE_AFTER, INITIAL_DELAY,
    INITIAL_VOTING_INTERVAL, KEYGEN_DEADLINE, N_AUTHORITIES, N_RELAYS, POLL, SOCKS_FLAGS,
    START_DEADLINE, TAIL_LINES,
};

/// Where every node lives and listens, chosen before anything runs.
struct Plan {
    root: PathBuf,
    /// Authorities first (`a<N>`), then relays (`r<N>`).
    names: Vec<String>,
    /// OR ports for every relay, Dir ports for the authorities, then the client's SOCKS port.
    ports: Vec<u16>,
    voting_interval: u32,
    started: Instant,
}

impl Plan {
    /// The plan, and the temp dir that holds every node (removed when dropped).
    fn new() -> Result<(tempfile::TempDir, Plan), Failure> {
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("tornet-")
            .tempdir()
            .map_err(|e| format!("cannot create temp dir: {e}"))?;
        let root = dir.path().to_owned();
        let names: Vec<String> = (0..N_AUTHORITIES)
            .map(|i| format!("a{i}"))
            .chain((0..N_RELAYS).map(|i| format!("r{i}")))
            .collect();
        for name in &names {
            make_private_dir(&root.join(name).join("keys"));
        }
        fs::write(root.join("empty-defaults-torrc"), "").map_err(|e| e.to_string())?;
        let plan = Plan {
            root,
            ports: free_ports(names.len() + N_AUTHORITIES + 1),
            names,
            voting_interval: voting_interval(),
            started,
        };
        Ok((dir, plan))
    }

    fn or_port(&self, i: usize) -> u16 {
        self.ports[i]
    }

    fn dir_port(&self, i: usize) -> u16 {
        self.ports[self.names.len() + i]
    }

    fn socks(&self) -> SocketAddr {
        SocketAddr::from((
            Ipv4Addr::LOCALHOST,
            self.ports[self.names.len() + N_AUTHORITIES],
        ))
    }

    fn authorities(&self) -> &[String] {
        &self.names[..N_AUTHORITIES]
    }
}

/// Authority keys: identity and signing certificate, and the relay identity the DirAuthority
/// lines name. Relays make their own keys.
fn make_authority_keys(plan: &Plan) -> Result<(), Failure> {
    let mut jobs = Vec::new();
    for (i, name) in plan.authorities().iter().enumerate() {
        let keys = plan.root.join(name).join("keys");
        let mut c = Command::new("tor-gencert");
        c.args([
            "--create-identity-key",
            "--passphrase-fd",
            "0",
            "-m",
            "12",
            "-a",
        ])
        .arg(format!("127.0.0.1:{}", plan.dir_port(i)))
        .arg("-i")
        .arg(keys.join("authority_identity_key"))
        .arg("-s")
        .arg(keys.join("authority_signing_key"))
        .arg("-c")
        .arg(keys.join("authority_certificate"));
        jobs.push((format!("tor-gencert for {name}"), c));
    }
    for name in plan.authorities() {
        let mut c = Command::new("tor");
        c.arg("--defaults-torrc")
            .arg(plan.root.join("empty-defaults-torrc"))
            .args(["-f", "/dev/null", "--ignore-missing-torrc", "--ORPort", "1"])
            .arg("--DataDirectory")
            .arg(plan.root.join(name))
            .args(["--Nickname", name, "--list-fingerprint"]);
        jobs.push((format!("tor --list-fingerprint for {name}"), c));
    }
    run_all(jobs, Instant::now() + KEYGEN_DEADLINE)
}

/// The torrc lines of the test network that every node shares.
fn base_torrc() -> String {
    format!(
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
    )
}

/// The shared torrc (base lines plus one DirAuthority line per authority) and the path of the
/// arti fragment written beside the nodes.
fn shared_config(plan: &Plan) -> Result<(String, PathBuf), Failure> {
    let read = |p: PathBuf| {
        fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let second_word = |s: &str, p: &str| {
        s.split_whitespace()
            .nth(1)
            .map(str::to_owned)
            .ok_or_else(|| format!("cannot parse {p}: {s:?}"))
    };
    let mut common = base_torrc();
    let mut fallbacks = String::new();
    let (mut v3idents, mut dirs) = (Vec::new(), Vec::new());
    // Arti bootstraps from the fallback caches: list only the authorities, which have every
    // consensus and microdescriptor first. Relays start without a consensus and back off
    // between fetches, so for 10-20 s after the first consensus some of them answer 404,
    // which made arti's bootstrap take 10 s instead of under 1 s.
    for (i, name) in plan.authorities().iter().enumerate() {
        let nd = plan.root.join(name);
        let rsa = second_word(&read(nd.join("fingerprint"))?, "fingerprint")?;
        let ed = second_word(
            &read(nd.join("fingerprint-ed25519"))?,
            "fingerprint-ed25519",
        )?;
        writeln!(
            fallbacks,
            "  {{ rsa_identity = \"{rsa}\", ed_identity = \"{ed}\", orports = [\"127.0.0.1:{}\"] }},",
            plan.or_port(i)
        )
        .map_err(|e| e.to_string())?;
        let cert = read(nd.join("keys/authority_certificate"))?;
        let v3 = cert
            .lines()
            .find_map(|l| l.strip_prefix("fingerprint "))
            .map(|s| s.trim().to_owned())
            .ok_or_else(|| format!("no fingerprint in {name}'s authority certificate"))?;
        writeln!(
            common,
            "DirAuthority {name} orport={} no-v2 v3ident={v3} 127.0.0.1:{} {rsa}",
            plan.or_port(i),
            plan.dir_port(i)
        )
        .map_err(|e| e.to_string())?;
        v3idents.push(format!("\"{v3}\""));
        dirs.push(format!("[\"127.0.0.1:{}\"]", plan.dir_port(i)));
    }
    let fragment = plan.root.join("arti-net.toml");
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
            plan.root.display(),
            v3idents.join(", ")
        ),
    )
    .map_err(|e| e.to_string())?;
    Ok((common, fragment))
}

/// The torrc lines of relay `i` (an authority when `i < N_AUTHORITIES`, else an exit).
fn relay_torrc(plan: &Plan, i: usize, start_offset: u64) -> String {
    let voting_interval = plan.voting_interval;
    let hsdir_interval_min = 24 * voting_interval / 60;
    let mut torrc = format!(
        "SocksPort 0\n\
         Address 127.0.0.1\n\
         ORPort 127.0.0.1:{}\n\
         AssumeReachable 1\n\
         ServerDNSDetectHijacking 0\n\
         ServerDNSTestAddresses\n\
         ServerDNSResolvConfFile /dev/null\n",
        plan.or_port(i)
    );
    if i < N_AUTHORITIES {
        torrc.push_str(&format!(
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
            plan.dir_port(i)
        ));
    } else {
        torrc.push_str(
            "ExitRelay 1\n\
             ExitPolicyRejectPrivate 0\n\
             ExitPolicy accept 127.0.0.0/8:*\n\
             ExitPolicy reject *:*\n",
        );
    }
    torrc
}

impl TorNet {
    /// One attempt at the whole start, step by step.
    pub(crate) fn try_start() -> Result<TorNet, Failure> {
        let (dir, plan) = Plan::new()?;
        let deadline = plan.started + START_DEADLINE;
        make_authority_keys(&plan)?;
        let (common_torrc, fragment) = shared_config(&plan)?;
        let mut net = TorNet {
            root: plan.root.clone(),
            nodes: Mutex::new(Vec::new()),
            socks: plan.socks(),
            common_torrc,
            fragment,
            voting_interval: plan.voting_interval,
            started: plan.started,
            timings: Timings::default(),
            onions: AtomicUsize::new(0),
            clients: AtomicUsize::new(1),
            dir: Some(dir),
        };
        net.launch_relays(&plan)?;
        net.wait_for_consensus(deadline)?;
        net.start_client(deadline)?;
        Ok(net)
    }

    /// Launches the authorities and relays, with the authorities' first vote placed
    /// `FIRST_VOTE_AFTER` from now.
    fn launch_relays(&mut self, plan: &Plan) -> Result<(), Failure> {
        // Votes happen `2 * delay` before each boundary; boundaries fall at multiples of the
        // interval (since midnight UTC) plus the start offset. Place the first vote.
        let first_vote = (unix_now() + FIRST_VOTE_AFTER).as_secs() + 1;
        let start_offset =
            (first_vote + 2 * u64::from(INITIAL_DELAY)) % u64::from(INITIAL_VOTING_INTERVAL);
        for (i, name) in plan.names.iter().enumerate() {
            self.spawn(name, &relay_torrc(plan, i, start_offset))?;
        }
        self.timings.launched = self.started.elapsed();
        Ok(())
    }

    /// Every authority has a consensus listing every relay, at the full voting interval (so
    /// that the time period it implies is the one that lasts), with the `hsdir_interval` that
    /// makes arti's time periods C tor's.
    fn wait_for_consensus(&mut self, deadline: Instant) -> Result<(), Failure> {
        let n_relays = N_AUTHORITIES + N_RELAYS;
        let voting_interval = self.voting_interval;
        let auths: Vec<usize> = (0..N_AUTHORITIES).collect();
        let auth_dirs: Vec<PathBuf> = {
            let nodes = self.nodes();
            auths.iter().map(|&i| nodes[i].dir.clone()).collect()
        };
        self.wait_for("a consensus listing every relay", deadline, &auths, |_| {
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
        self.timings.consensus = self.started.elapsed();
        let consensus = fs::read_to_string(auth_dirs[0].join("cached-microdesc-consensus"))
            .map_err(|e| e.to_string())?;
        let want = format!("hsdir_interval={}", 24 * voting_interval / 60);
        if !consensus
            .lines()
            .any(|l| l.starts_with("params ") && l.split(' ').any(|p| p == want))
        {
            return Err(format!(
                "the consensus lacks {want}, so arti's time periods would differ from C tor's"
            )
            .into());
        }
        Ok(())
    }

    /// Starts the C tor client with the SOCKS port and waits for its 100% bootstrap.
    fn start_client(&mut self, deadline: Instant) -> Result<(), Failure> {
        let torrc = format!("SocksPort {} {SOCKS_FLAGS}\n{CLIENT_TORRC}", self.socks);
        let client = self.spawn("c0", &torrc)?;
        self.wait_for_bootstrap(client, deadline)?;
        self.timings.bootstrapped = self.started.elapsed();
        Ok(())
    }

    /// Waits until node `i` (a client) has bootstrapped 100%.
    pub(crate) fn wait_for_bootstrap(&self, i: usize, deadline: Instant) -> Result<(), Failure> {
        let log = self.nodes()[i].dir.join("notice.log");
        let name = self.nodes()[i].name.clone();
        self.wait_for(
            &format!("client {name} to bootstrap"),
            deadline,
            &[i],
            |_| {
                let log = fs::read_to_string(&log).ok()?;
                log.contains("Bootstrapped 100%").then_some(())
            },
        )
    }

    /// Writes `<root>/<name>/torrc` (common lines + `extra`) and launches tor on it; returns
    /// the new node's index.
    pub(crate) fn spawn(&self, name: &str, extra: &str) -> Result<usize, Failure> {
        let dir = self.root.join(name);
        make_private_dir(&dir);
        let torrc_path = dir.join("torrc");
        let torrc = format!(
            "{}DataDirectory {}\nPidFile {}\nNickname {name}\nLog notice file {}\nLog info file {}\n{extra}",
            self.common_torrc,
            torrc_value(&dir),
            torrc_value(&dir.join(PID_FILE)),
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
        let mut nodes = self.nodes();
        nodes.push(Node {
            name: name.to_owned(),
            dir,
            child,
        });
        Ok(nodes.len() - 1)
    }

    /// Polls `check` until it gives a value, failing at `deadline` or as soon as a node of the
    /// network itself (authorities, relays, `c0`) or one in `watch` exits, with the log tails
    /// of the nodes in `watch` (and of the dead node). Nodes other tests added are not
    /// watched: one of them failing must not fail this wait.
    pub(crate) fn wait_for<T>(
        &self,
        what: &str,
        deadline: Instant,
        watch: &[usize],
        mut check: impl FnMut(&TorNet) -> Option<T>,
    ) -> Result<T, Failure> {
        const CORE: usize = N_AUTHORITIES + N_RELAYS + 1;
        loop {
            if let Some(v) = check(self) {
                return Ok(v);
            }
            let dead = {
                let mut nodes = self.nodes();
                let n = nodes.len();
                (0..n.min(CORE))
                    .chain(watch.iter().copied().filter(|&i| i >= CORE && i < n))
                    .find_map(|i| match nodes[i].child.try_wait() {
                        Ok(Some(status)) => Some((i, status)),
                        _ => None,
                    })
            };
            if let Some((i, status)) = dead {
                let tail = self.tail(i);
                return Err(Failure {
                    port_clash: tail.contains("Address already in use"),
                    msg: format!(
                        "tor node {} exited ({status}) while waiting for {what}{tail}",
                        self.nodes()[i].name
                    ),
                });
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
    pub(crate) fn tail(&self, i: usize) -> String {
        let (name, dir) = {
            let nodes = self.nodes();
            (nodes[i].name.clone(), nodes[i].dir.clone())
        };
        let mut s = String::new();
        for file in ["notice.log", "stdout.log"] {
            let text = fs::read_to_string(dir.join(file)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            if lines.is_empty() {
                continue;
            }
            let from = lines.len().saturating_sub(TAIL_LINES);
            write!(
                s,
                "\n--- {name}/{file} (last {} lines) ---\n",
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
