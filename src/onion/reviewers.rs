//! The reviewer API's onion: a second service on the box's Tor client that only workstations
//! holding a client key can discover (restricted discovery).
//!
//! Its authorized clients are the `<name>.auth` files of `DATA/reviewer-onion-clients`, which
//! `reviewers add` writes and `reviewers remove` deletes; arti watches that folder and
//! republishes the descriptor, so a change needs no restart. arti refuses to publish a
//! restricted service with no client at all, hence the supervisor below.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arti_client::TorClient;
use futures_util::StreamExt;
use tokio::task::JoinHandle;
use tor_hsservice::status::State;
use tor_hsservice::RendRequest;
use tor_rtcompat::PreferredRuntime;

use super::{report_publication, service_config, url, Onion, OnionError, OnionIncoming, Service};
use crate::config::OnionConfig;

impl Onion {
    /// Starts the reviewer API's onion service on the same Tor client, with restricted
    /// discovery: only the workstations whose `<name>.auth` key is in `clients_dir` can fetch
    /// its descriptor. arti refuses to publish such a service with no client at all, so the
    /// returned task waits for the first key (`reviewers add`), launches the service, and starts
    /// over if it stops (say the last key was removed). Prints `reviewer onion address: URL`
    /// once published. Abort the task to take the service down.
    pub fn launch_reviewers(
        &self,
        cfg: &OnionConfig,
        nickname: &str,
        clients_dir: &Path,
    ) -> Result<(OnionIncoming, JoinHandle<()>), OnionError> {
        // Checked now, so a bad nickname stops the start instead of the background task.
        let which = Service::Reviewers {
            nickname,
            clients_dir,
        };
        service_config(cfg, which)?;
        make_private_dir(clients_dir)?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<RendRequest>(32);
        let task = tokio::spawn(supervise_reviewers(
            self.client.clone(),
            cfg.clone(),
            nickname.to_owned(),
            clients_dir.to_owned(),
            tx,
        ));
        let requests = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        Ok((OnionIncoming::new(requests, cfg.circuit.clone()), task))
    }
}

/// Creates a folder of the box (0700) if missing.
fn make_private_dir(dir: &Path) -> Result<(), OnionError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| OnionError::CreateDir {
            path: dir.to_owned(),
            source,
        })
}

/// Whether `dir` holds at least one client key (`*.auth`).
fn has_client_keys(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "auth"))
    })
}

/// How often the reviewer onion's supervisor looks for a first client key.
const CLIENT_KEY_POLL: Duration = Duration::from_secs(5);

/// Keeps the reviewer onion up whenever it has a client: waits for a key, launches, forwards
/// its rendezvous requests to `tx`, and starts over if the service breaks.
async fn supervise_reviewers(
    client: Arc<TorClient<PreferredRuntime>>,
    cfg: OnionConfig,
    nickname: String,
    clients_dir: PathBuf,
    tx: tokio::sync::mpsc::Sender<RendRequest>,
) {
    let which = Service::Reviewers {
        nickname: &nickname,
        clients_dir: &clients_dir,
    };
    loop {
        if !has_client_keys(&clients_dir) {
            tracing::warn!(
                "the reviewer onion waits for a workstation key: run `lanterne reviewers add`"
            );
            while !has_client_keys(&clients_dir) {
                tokio::time::sleep(CLIENT_KEY_POLL).await;
            }
        }
        let launched = service_config(&cfg, which).and_then(|svc| {
            client
                .launch_onion_service(svc)
                .map_err(|e| OnionError::Tor(Box::new(e)))?
                .ok_or(OnionError::Disabled)
        });
        let (service, mut requests) = match launched {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the reviewer onion; retrying in a minute");
                tokio::time::sleep(Duration::from_secs(60)).await;
                continue;
            }
        };
        let Some(id) = service.onion_address() else {
            tracing::error!("the reviewer onion has no key");
            return;
        };
        let report = tokio::spawn(report_publication(
            service.clone(),
            "reviewers",
            format!("reviewer onion address: {}", url(&id)),
        ));
        let mut events = service.status_events();
        loop {
            tokio::select! {
                request = requests.next() => match request {
                    Some(r) => {
                        if tx.send(r).await.is_err() {
                            report.abort();
                            return;
                        }
                    }
                    None => break,
                },
                status = events.next() => match status {
                    Some(s) if s.state() == State::Broken => {
                        tracing::warn!(problem = ?s.current_problem(), "the reviewer onion stopped");
                        break;
                    }
                    Some(_) => {}
                    None => break,
                },
            }
        }
        report.abort();
        drop(service);
        tokio::time::sleep(CLIENT_KEY_POLL).await;
    }
}
