//! The onion service: lanterne publishes itself on Tor with an in-process arti client.
//!
//! No other program is needed: `lanterne serve` starts arti, publishes a v3 onion service whose
//! key lives in `DATA/tor/state` (so the address survives restarts), and hands the service's
//! incoming streams to the same HTTP app that serves loopback, through
//! [`crate::web::Incoming`]. Only port 80 is answered; a stream to any other port closes its
//! circuit, as C tor does.
//!
//! If Tor cannot be reached, arti keeps retrying in the background and the box keeps serving
//! loopback; progress and publication are logged. `--tor-network FILE` swaps the public Tor
//! network for another (an arti TOML fragment: authorities, fallback caches, path rules), which
//! is how the tests run against a private network on 127.0.0.1.
//!
//! With `[reviewer] onion` the same client also publishes the reviewer API as a second
//! service that only workstations with a client key can discover (`reviewers`). Every stream
//! of either service carries its rendezvous circuit's budgets (`incoming`,
//! [`crate::web::circuit`]).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arti_client::config::onion_service::OnionServiceConfigBuilder;
use arti_client::config::{CfgPath, ConfigBuildError, TorClientConfigBuilder};
use arti_client::{BootstrapBehavior, TorClient, TorClientConfig};
use futures_util::StreamExt;
use safelog::DisplayRedacted;
use tor_hsservice::config::restricted_discovery::DirectoryKeyProviderBuilder;
use tor_hsservice::config::TokenBucketConfig;
use tor_hsservice::status::State;
use tor_hsservice::{HsId, InvalidNickname, RunningOnionService, StartupError};
use tor_keymgr::KeystoreSelector;
use tor_rtcompat::PreferredRuntime;

use crate::config::OnionConfig;

mod incoming;
mod reviewers;

pub use incoming::OnionIncoming;

pub(crate) mod selfcheck;

/// The only port served over the onion.
pub const PORT: u16 = 80;

/// Why the onion service could not be set up. (An unreachable network is not an error.) arti's
/// errors are boxed: they are large, and this travels up every startup call.
#[derive(Debug, thiserror::Error)]
pub enum OnionError {
    #[error("cannot create the Tor folder {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the Tor network file {path}")]
    ReadNetwork {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the Tor network file {path} is not a valid arti config fragment")]
    ParseNetwork {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("invalid Tor configuration")]
    Config(#[source] Box<ConfigBuildError>),
    #[error("invalid onion.nickname {nickname:?} in the config")]
    Nickname {
        nickname: String,
        #[source]
        source: Box<InvalidNickname>,
    },
    #[error("the arti configuration turns onion services off")]
    Disabled,
    #[error("Tor could not start")]
    Tor(#[source] Box<arti_client::Error>),
    #[error("cannot make or read the onion service's key")]
    Key(#[source] Box<StartupError>),
    #[error("the onion service has no key")]
    NoKey,
    #[error("cannot prepare the reviewer onion's client keys in {path}")]
    ClientKeys {
        path: PathBuf,
        #[source]
        source: Box<crate::credentials::CredentialError>,
    },
}

/// Where arti keeps its state (including the onion service key) and cache.
pub fn tor_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("tor")
}

/// Where arti's keystore keeps the keys of the onion service `nickname`: its folder holds the
/// identity key (`ks_hs_id.*`) once `lanterne onion-address` or the first start made it. This
/// is arti's own layout (tor-keymgr 0.47, `state/keystore/hss/<nickname>/`); a test in
/// `crate::check` makes a key through [`address`] and finds it here.
pub fn key_dir(data_dir: &Path, nickname: &str) -> PathBuf {
    keystore_dir(data_dir).join("hss").join(nickname)
}

/// arti's keystore: every onion service key of the box (the rest of `tor/` is arti's state,
/// its public directory cache and lock files).
pub fn keystore_dir(data_dir: &Path) -> PathBuf {
    tor_dir(data_dir).join("state").join("keystore")
}

/// Whether the onion service `nickname` has its identity key (so a stable address) yet.
pub fn has_identity_key(data_dir: &Path, nickname: &str) -> bool {
    std::fs::read_dir(key_dir(data_dir, nickname)).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with("ks_hs_id."))
    })
}

/// Creates the data dir and its `tor/` folder, private (0700) like every folder of the box,
/// if missing.
fn make_tor_dir(data_dir: &Path) -> Result<(), OnionError> {
    lanterne_core::durable::create_private_dir_all(&tor_dir(data_dir)).map_err(|source| {
        OnionError::CreateDir {
            path: tor_dir(data_dir),
            source,
        }
    })
}

/// Parses a `--tor-network` fragment: the arti settings that describe a Tor network.
pub fn parse_network(text: &str) -> Result<TorClientConfigBuilder, toml::de::Error> {
    toml::from_str(text)
}

/// The arti client configuration: the chosen network, storage under the data dir.
pub fn client_config(cfg: &OnionConfig, data_dir: &Path) -> Result<TorClientConfig, OnionError> {
    let mut builder = match &cfg.tor_network {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| OnionError::ReadNetwork {
                path: path.clone(),
                source,
            })?;
            parse_network(&text).map_err(|source| OnionError::ParseNetwork {
                path: path.clone(),
                source,
            })?
        }
        None => TorClientConfigBuilder::default(),
    };
    let dir = tor_dir(data_dir);
    builder
        .storage()
        .state_dir(CfgPath::new_literal(dir.join("state")))
        .cache_dir(CfgPath::new_literal(dir.join("cache")));
    builder.build().map_err(|e| OnionError::Config(Box::new(e)))
}

/// Which of the box's onion services: each has its own key (named by its nickname) and the
/// reviewers' one answers only workstations holding a client key (restricted discovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service<'a> {
    /// The sources' onion: anyone with the address.
    Sources,
    /// The reviewer API's onion, discoverable only with a key from `clients_dir`.
    Reviewers {
        nickname: &'a str,
        clients_dir: &'a Path,
    },
}

fn service_config(
    cfg: &OnionConfig,
    which: Service<'_>,
) -> Result<tor_hsservice::OnionServiceConfig, OnionError> {
    let nick_text = match which {
        Service::Sources => &cfg.nickname,
        Service::Reviewers { nickname, .. } => nickname,
    };
    let nickname = nick_text.parse().map_err(|source| OnionError::Nickname {
        nickname: nick_text.to_owned(),
        source: Box::new(source),
    })?;
    let dos = &cfg.dos;
    let mut builder = OnionServiceConfigBuilder::default();
    builder
        .nickname(nickname)
        .num_intro_points(dos.intro_points)
        .rate_limit_at_intro(Some(TokenBucketConfig::new(
            dos.intro_rate_per_second,
            dos.intro_burst,
        )))
        .max_concurrent_streams_per_circuit(dos.max_streams_per_circuit)
        .enable_pow(cfg.proof_of_work);
    if let Service::Reviewers { clients_dir, .. } = which {
        let discovery = builder.restricted_discovery();
        discovery.enabled(true);
        // arti re-reads the folder when a key file appears or goes (`reviewers add/remove`)
        // and republishes the descriptor: no restart.
        discovery.watch_configuration(true);
        discovery.key_dirs().access().push(
            DirectoryKeyProviderBuilder::default()
                .path(CfgPath::new_literal(clients_dir))
                .clone(),
        );
    }
    builder.build().map_err(|e| OnionError::Config(Box::new(e)))
}

/// `http://<address>.onion`, unredacted: this is for the operator's eyes.
pub fn url(id: &HsId) -> String {
    format!("http://{}", id.display_unredacted())
}

/// The sources' onion address, generating its key if this is the first run. Does not touch
/// the network (`lanterne onion-address`).
pub fn address(cfg: &OnionConfig, data_dir: &Path) -> Result<String, OnionError> {
    address_of(cfg, data_dir, Service::Sources)
}

/// The address of one of the box's onion services, generating its key if this is the first
/// run. Does not touch the network.
pub fn address_of(
    cfg: &OnionConfig,
    data_dir: &Path,
    which: Service<'_>,
) -> Result<String, OnionError> {
    make_tor_dir(data_dir)?;
    let client_cfg = client_config(cfg, data_dir)?;
    let service = TorClient::<PreferredRuntime>::create_onion_service(
        &client_cfg,
        service_config(cfg, which)?,
    )
    .map_err(|e| OnionError::Tor(Box::new(e)))?;
    let id = service
        .generate_identity_key(KeystoreSelector::Primary)
        .map_err(|e| OnionError::Key(Box::new(e)))?;
    Ok(url(&id))
}

/// A running onion service: keep it alive as long as it should be reachable.
pub struct Onion {
    pub client: Arc<TorClient<PreferredRuntime>>,
    pub service: Arc<RunningOnionService>,
    pub url: String,
}

/// Starts arti and the sources' onion service. Returns at once; bootstrap and publication go
/// on in the background, logged, and `onion address: URL` is printed on stdout once published.
pub fn launch(cfg: &OnionConfig, data_dir: &Path) -> Result<(Onion, OnionIncoming), OnionError> {
    make_tor_dir(data_dir)?;
    let client = TorClient::builder()
        .config(client_config(cfg, data_dir)?)
        .bootstrap_behavior(BootstrapBehavior::OnDemand)
        .create_unbootstrapped()
        .map_err(|e| OnionError::Tor(Box::new(e)))?;
    if cfg.proof_of_work {
        tracing::warn!(
            "proof-of-work is on ([onion] proof_of_work): arti still calls its proof-of-work \
             experimental (hs-pow-full); see docs/onion-pow.md"
        );
    }
    let (service, requests) = client
        .launch_onion_service(service_config(cfg, Service::Sources)?)
        .map_err(|e| OnionError::Tor(Box::new(e)))?
        .ok_or(OnionError::Disabled)?;
    let id = service.onion_address().ok_or(OnionError::NoKey)?;
    let url = url(&id);
    tokio::spawn(keep_bootstrapping(client.clone()));
    tokio::spawn(report_publication(
        service.clone(),
        "sources",
        format!("onion address: {url}"),
    ));
    let incoming = OnionIncoming::new(requests, cfg.circuit.clone());
    Ok((
        Onion {
            client,
            service,
            url,
        },
        incoming,
    ))
}

/// Bootstraps, logging progress; if Tor is unreachable, says so and tries again, forever.
async fn keep_bootstrapping(client: Arc<TorClient<PreferredRuntime>>) {
    let mut events = client.bootstrap_events();
    tokio::spawn(async move {
        let mut last_tenth = -1;
        while let Some(status) = events.next().await {
            let tenth = (status.as_frac() * 10.0).floor() as i32;
            if tenth != last_tenth {
                last_tenth = tenth;
                tracing::info!("Tor bootstrap: {status}");
            }
        }
    });
    let mut wait = Duration::from_secs(5);
    loop {
        match client.bootstrap().await {
            Ok(()) => {
                tracing::info!("Tor bootstrap complete");
                return;
            }
            Err(e) => {
                tracing::warn!(
                    "cannot reach the Tor network yet ({e}); retrying in {}s",
                    wait.as_secs()
                );
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(300));
            }
        }
    }
}

/// Logs each change of the service's state and prints `line` once it is published.
/// `name` says which service in the log, without its address (that is for stdout only).
async fn report_publication(service: Arc<RunningOnionService>, name: &'static str, line: String) {
    let mut events = service.status_events();
    let mut printed = false;
    let mut last = None;
    while let Some(status) = events.next().await {
        let state = status.state();
        if last != Some(state) {
            last = Some(state);
            tracing::info!(service = %name, ?state, "onion service state");
        }
        // DegradedUnreachable means some descriptor upload failed; on a young network that
        // happens while the service is already reachable, so it counts as published too.
        let published = matches!(
            state,
            State::Running | State::DegradedReachable | State::DegradedUnreachable
        );
        if published && !printed {
            printed = true;
            crate::announce(&line);
            tracing::info!(service = %name, "onion service published");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_fragment_parses_and_garbage_does_not() {
        let fragment = r#"
[tor_network]
fallback_caches = [{ rsa_identity = "0000000000000000000000000000000000000000", ed_identity = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", orports = ["127.0.0.1:1"] }]
[tor_network.authorities]
v3idents = ["0000000000000000000000000000000000000001"]
uploads = [["127.0.0.1:2"]]
downloads = [["127.0.0.1:2"]]
votes = [["127.0.0.1:2"]]
[path_rules]
ipv4_subnet_family_prefix = 33
ipv6_subnet_family_prefix = 129
[address_filter]
allow_local_addrs = true
"#;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("net.toml"), fragment).unwrap();
        let cfg = OnionConfig {
            tor_network: Some(dir.path().join("net.toml")),
            ..OnionConfig::default()
        };
        client_config(&cfg, dir.path()).unwrap();
        assert!(parse_network("[tor_network]\nfallback_caches = 3\n").is_err());
        assert!(parse_network("not toml [").is_err());
    }

    /// A bad network file or nickname names what to fix and keeps the parser's error.
    #[test]
    fn config_errors_keep_their_cause() {
        use std::error::Error as _;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("net.toml"), "not toml [").unwrap();
        let cfg = OnionConfig {
            tor_network: Some(dir.path().join("net.toml")),
            ..OnionConfig::default()
        };
        let err = client_config(&cfg, dir.path()).unwrap_err();
        assert!(matches!(err, OnionError::ParseNetwork { .. }), "{err:?}");
        assert!(err.to_string().contains("net.toml"), "{err}");
        assert!(err.source().is_some_and(|s| s.is::<toml::de::Error>()));
        let cfg = OnionConfig {
            nickname: "no spaces allowed".into(),
            ..OnionConfig::default()
        };
        let err = service_config(&cfg, Service::Sources).unwrap_err();
        assert!(matches!(err, OnionError::Nickname { .. }), "{err:?}");
        assert!(err.to_string().contains("onion.nickname"), "{err}");
        assert!(err.source().is_some());
    }

    /// The DoS settings reach the service's arti config: the defaults, and a config's own.
    #[test]
    fn dos_settings_reach_the_onion_service() {
        let svc = service_config(&OnionConfig::default(), Service::Sources).unwrap();
        assert_eq!(*svc.num_intro_points(), 3);
        assert_eq!(
            svc.rate_limit_at_intro(),
            &Some(TokenBucketConfig::new(25, 200))
        );
        assert_eq!(*svc.max_concurrent_streams_per_circuit(), 16);
        let cfg: crate::config::Config = toml::from_str(
            "[onion.dos]\nintro_points = 5\nintro_rate_per_second = 10\nintro_burst = 50\n\
             max_streams_per_circuit = 8\n",
        )
        .unwrap();
        let cfg = cfg.validated().unwrap();
        let svc = service_config(&cfg.onion, Service::Sources).unwrap();
        assert_eq!(*svc.num_intro_points(), 5);
        assert_eq!(
            svc.rate_limit_at_intro(),
            &Some(TokenBucketConfig::new(10, 50))
        );
        assert_eq!(*svc.max_concurrent_streams_per_circuit(), 8);
    }

    /// The reviewer onion has its own key and restricted discovery over the clients folder;
    /// the sources' onion is open to anyone with the address.
    #[test]
    fn the_reviewer_onion_is_restricted_and_has_its_own_address() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = OnionConfig::default();
        let clients = dir.path().join("clients");
        let reviewers = Service::Reviewers {
            nickname: "lanterne-reviewers",
            clients_dir: &clients,
        };
        let svc = service_config(&cfg, reviewers).unwrap();
        assert!(*svc.restricted_discovery().enabled());
        assert_eq!(svc.restricted_discovery().key_dirs().len(), 1);
        let open = service_config(&cfg, Service::Sources).unwrap();
        assert!(!*open.restricted_discovery().enabled());
        let a = address_of(&cfg, dir.path(), reviewers).unwrap();
        assert_eq!(a, address_of(&cfg, dir.path(), reviewers).unwrap());
        assert_ne!(a, address(&cfg, dir.path()).unwrap());
    }

    #[test]
    fn the_address_is_stable_and_needs_no_network() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = OnionConfig::default();
        let a = address(&cfg, dir.path()).unwrap();
        let b = address(&cfg, dir.path()).unwrap();
        assert_eq!(a, b);
        assert!(a.starts_with("http://") && a.ends_with(".onion"), "{a}");
        assert_eq!(a.len(), "http://".len() + 56 + ".onion".len());
        let other = tempfile::tempdir().unwrap();
        assert_ne!(address(&cfg, other.path()).unwrap(), a);
    }
}
