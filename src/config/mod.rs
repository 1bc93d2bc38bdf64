//! Settings for a running drop box, as plain structs with defaults.
//!
//! Every setting has a safe default, so `lanterne serve` needs no file. A TOML file
//! (`--config`) may override any of them, then command-line flags override the file.
//! [`Config::validated`] checks the result once, at start, and gives a [`ValidConfig`]: the
//! only form the server ([`crate::server::run`], [`crate::web::AppState::open`]) accepts, so the
//! rest of the program trusts what it checked.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod validate;

/// Why a configuration was refused. Each message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The TOML parser's error names the line and the key.
    #[error("config file {path} is not valid")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error(
        "refusing to listen on {0}: it is not a loopback address. Sources should reach the box \
         through Tor; pass --allow-public-listen if you really mean it"
    )]
    PublicListen(SocketAddr),
    #[error(
        "refusing to open the reviewer API on {0}: it is not a loopback address, and its bearer \
         tokens would cross the network in plain HTTP. Reach it over SSH or your own tunnel; \
         pass --allow-public-reviewer-listen (or set [reviewer] allow_public_listen) only if \
         you really mean it. --allow-public-listen does not cover it"
    )]
    PublicReviewerListen(SocketAddr),
    /// A setting out of its range: `field` is its TOML path, `problem` what it must be.
    #[error("invalid setting {field}: {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
}

/// A [`Config`] that passed [`Config::validate`]. Made only by [`Config::validated`]; read it
/// through `Deref`.
#[derive(Debug, Clone)]
pub struct ValidConfig(Config);

impl ValidConfig {
    /// The settings, to own (the checks hold for them as they are).
    pub fn into_inner(self) -> Config {
        self.0
    }
}

impl std::ops::Deref for ValidConfig {
    type Target = Config;
    fn deref(&self) -> &Config {
        &self.0
    }
}

/// The whole configuration of `lanterne serve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the HTTP listener binds. Loopback unless `allow_public_listen` is set.
    pub listen: SocketAddr,
    /// Allow `listen` to be a non-loopback address.
    pub allow_public_listen: bool,
    /// Where ciphertext, the staging area and the instance secret live.
    pub data_dir: PathBuf,
    /// Folder of the reviewers' keys: cards (`*.card`) and plain age recipients files (`*.txt`),
    /// as `seal::Recipients::load_dir` reads them.
    pub keys_dir: PathBuf,
    /// Lock every page of the process in RAM (mlockall), so nothing it holds is swapped out.
    /// Needs a locked-memory limit of at least 1 GiB or unlimited (`LimitMEMLOCK=infinity` in
    /// the systemd unit), or `CAP_IPC_LOCK`; the box refuses to start otherwise.
    pub lock_memory: bool,
    pub limits: Limits,
    pub kdf: KdfConfig,
    pub sessions: SessionConfig,
    pub http: HttpConfig,
    pub onion: OnionConfig,
    pub reviewer: ReviewerConfig,
}

/// The reviewer interface: a separate listener, never on the sources' onion.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewerConfig {
    /// Serve the reviewer API at all.
    pub enabled: bool,
    /// Where it listens (`--reviewer-listen`). Loopback unless this section's own
    /// `allow_public_listen` is set: the top-level one does not open it.
    pub listen: SocketAddr,
    /// Allow the reviewer API on a non-loopback address (`--allow-public-reviewer-listen`).
    /// Its bearer tokens then travel in plain HTTP: use a tunnel instead where you can.
    pub allow_public_listen: bool,
    /// Submissions are deleted this many days after they arrived.
    pub retention_days: u32,
    /// Failed credential checks allowed per minute for one reviewer name and token before
    /// requests presenting that name and token get 429. Names that are not registered share
    /// one such budget, so bad requests never lock out a reviewer's good token.
    pub auth_failures_per_minute: u32,
    /// Also publish the reviewer API as a second onion service with restricted discovery
    /// (`--reviewer-onion`): only workstations holding a client key from `reviewers add` can
    /// fetch its descriptor. Needs the embedded onion (`[onion] enabled`).
    pub onion: bool,
    /// The reviewer onion's nickname: names its key in `DATA/tor/state`, so its address is
    /// stable across restarts. Must differ from `onion.nickname`.
    pub onion_nickname: String,
}

impl Default for ReviewerConfig {
    fn default() -> Self {
        ReviewerConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            allow_public_listen: false,
            retention_days: 90,
            auth_failures_per_minute: 20,
            onion: false,
            onion_nickname: "lanterne-reviewers".to_owned(),
        }
    }
}

/// The embedded onion service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OnionConfig {
    /// Publish the onion service (`--no-onion` turns it off).
    pub enabled: bool,
    /// The service's nickname: names its key in `DATA/tor/state`.
    pub nickname: String,
    /// An arti TOML fragment describing another Tor network (`--tor-network`).
    pub tor_network: Option<PathBuf>,
    /// Denial-of-service settings of the onion services (docs/onion-dos.md).
    pub dos: OnionDos,
    /// What one rendezvous circuit (one client) may spend before it is closed.
    pub circuit: CircuitBudget,
    /// Ask clients for proof-of-work when the service is flooded (arti's `hs-pow-full`, which
    /// arti still calls experimental; docs/onion-pow.md). Off by default; read at start only.
    pub proof_of_work: bool,
    /// Seconds between two self-checks, in which the box fetches its own landing page over its
    /// onion (src/onion/selfcheck.rs; `lanterne check` shows the last result). 0 turns it off;
    /// otherwise at least 10.
    pub self_check_every_secs: u64,
    /// Self-check failures in a row after which the box logs a warning (and again after each as
    /// many more). At least 1.
    pub self_check_failures: u32,
}

impl Default for OnionConfig {
    fn default() -> Self {
        OnionConfig {
            enabled: true,
            nickname: "lanterne".to_owned(),
            tor_network: None,
            dos: OnionDos::default(),
            circuit: CircuitBudget::default(),
            proof_of_work: false,
            self_check_every_secs: 600,
            self_check_failures: 3,
        }
    }
}

/// `[onion.dos]`: what the Tor network does for the service before a request reaches lanterne.
/// The defaults suit a drop box: a handful of sources at a time, each a person in Tor Browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OnionDos {
    /// Introduction points the service keeps (arti allows 3 to 20). More spread a flood over
    /// more relays, at the cost of more circuits; 3 is Tor's default and enough for a box that
    /// sees a few sources an hour.
    pub intro_points: u8,
    /// Introduction requests per second each introduction point lets through to the service
    /// (sent to it as `DOS_PARAMS`; it drops the rest before they cost the box a circuit).
    pub intro_rate_per_second: u32,
    /// Introduction requests an introduction point lets through at once above that rate.
    pub intro_burst: u32,
    /// Streams one rendezvous circuit (one client) may hold open at once; a circuit that opens
    /// more is torn down. Tor Browser keeps Firefox's limit of 6 connections per server, so an
    /// honest source should stay well under it.
    pub max_streams_per_circuit: u32,
}

impl Default for OnionDos {
    fn default() -> Self {
        OnionDos {
            intro_points: 3,
            // C tor's defaults for HiddenServiceEnableIntroDoSRatePerSec and ...BurstPerSec (25
            // and 200, Debian's `man tor`).
            intro_rate_per_second: 25,
            intro_burst: 200,
            max_streams_per_circuit: 16,
        }
    }
}

/// `[onion.circuit]`: the budgets of one rendezvous circuit (docs/onion-dos.md). Over the onion
/// each client builds its own circuit, so a flood is stopped there first; the global budgets
/// (`kdf.per_minute`) stay as the last resort. Loopback connections have no circuit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircuitBudget {
    /// New codes one circuit may ask for at once. A source needs one; a few allow a retry.
    pub new_codes_burst: u32,
    /// New codes one circuit regains per hour after its burst.
    pub new_codes_per_hour: u32,
    /// Logins one circuit may try at once (a mistyped code costs one).
    pub logins_burst: u32,
    /// Logins one circuit regains per hour after its burst.
    pub logins_per_hour: u32,
    /// Slow streams (timed out, under the least upload rate, or pushed out at the connection
    /// cap) one circuit may have; one more closes it.
    pub slow_streams: u32,
}

impl Default for CircuitBudget {
    fn default() -> Self {
        CircuitBudget {
            new_codes_burst: 3,
            new_codes_per_hour: 6,
            logins_burst: 10,
            logins_per_hour: 30,
            slow_streams: 8,
        }
    }
}

/// What one submission may hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Total plaintext bytes of all files plus the message, per submission.
    pub max_submission_bytes: u64,
    /// Files per submission.
    pub max_files: usize,
    /// Characters of message per submission.
    pub max_message_chars: usize,
}

/// The key derivation from a source's code, and how much of it may run at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KdfConfig {
    /// argon2id memory cost in KiB (at least 65536, i.e. 64 MiB).
    pub memory_kib: u32,
    /// argon2id passes.
    pub iterations: u32,
    /// Derivations running at the same time; each holds `memory_kib` of memory.
    pub max_concurrent: usize,
    /// Derivations allowed to wait for a slot; beyond that the box answers "busy".
    pub max_waiting: usize,
    /// Sustained rate of code derivations per minute, all sources together (there are no
    /// per-client limits: the box never sees who a client is). Logins and new codes each have
    /// a budget of this size, so guessing floods never stop new sources.
    pub per_minute: u32,
    /// Derivations allowed in a burst above the sustained rate.
    pub burst: u32,
}

/// Source sessions (a random cookie mapped to server-side state).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// A session ends after this many seconds without a request.
    pub idle_timeout_secs: u64,
    /// Sessions held in memory at most. At the cap nobody is refused: unused anonymous
    /// sessions make room first, and a source's only when sources hold every slot.
    pub max_sessions: usize,
}

/// Time and size limits of the HTTP layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Time allowed to send the request line and headers.
    pub header_timeout_secs: u64,
    /// Time a request other than an upload may take in total.
    pub request_timeout_secs: u64,
    /// During an upload, the longest silence between two pieces of the body. Uploads over Tor
    /// are slow but steady, so the limit is on silence, not on total time.
    pub upload_idle_timeout_secs: u64,
    /// An upload's first seconds, during which it may be slower than `upload_min_bytes_per_sec`
    /// (Tor circuits take a while to get going).
    pub upload_grace_secs: u64,
    /// After the grace period, the least average rate (bytes a second since the upload began)
    /// an upload must keep, or it is ended: a crowd of trickling uploads must not hold every
    /// connection. At most 16384, so an honest upload over Tor (about 20 KB/s) always passes.
    pub upload_min_bytes_per_sec: u64,
    /// Connections served at once, per listener. At the cap a newcomer is not refused: the
    /// connection that has done least (no request in progress, silent longest) makes room.
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            allow_public_listen: false,
            data_dir: PathBuf::from("data"),
            keys_dir: PathBuf::from("keys"),
            lock_memory: false,
            limits: Limits::default(),
            kdf: KdfConfig::default(),
            sessions: SessionConfig::default(),
            http: HttpConfig::default(),
            onion: OnionConfig::default(),
            reviewer: ReviewerConfig::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_submission_bytes: 2 * 1024 * 1024 * 1024,
            max_files: 50,
            max_message_chars: 100_000,
        }
    }
}

impl Default for KdfConfig {
    fn default() -> Self {
        KdfConfig {
            memory_kib: 64 * 1024,
            iterations: 3,
            max_concurrent: 2,
            max_waiting: 64,
            per_minute: 120,
            burst: 30,
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle_timeout_secs: 2 * 60 * 60,
            max_sessions: 10_000,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_timeout_secs: 30,
            request_timeout_secs: 60,
            upload_idle_timeout_secs: 120,
            upload_grace_secs: 60,
            upload_min_bytes_per_sec: 4096,
            max_connections: 512,
        }
    }
}

impl Config {
    /// Reads a TOML config file. Missing settings keep their defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Parses TOML text; the error says which line and key are wrong.
    pub fn from_toml(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    /// Checks the settings, then hands them on as a [`ValidConfig`].
    pub fn validated(self) -> Result<ValidConfig, ConfigError> {
        self.validate()?;
        Ok(ValidConfig(self))
    }
}

impl HttpConfig {
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
    pub fn upload_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.upload_idle_timeout_secs)
    }
    pub fn upload_grace(&self) -> Duration {
        Duration::from_secs(self.upload_grace_secs)
    }
}

#[cfg(test)]
mod tests;
