//! The reviewer API's onion: a second service on the box's Tor client that only workstations
//! holding a client key can discover (restricted discovery).
//!
//! Its authorized clients are the `<name>.auth` files of `DATA/reviewer-onion-clients`, which
//! `reviewers add` writes and `reviewers remove` deletes; arti watches that folder and
//! republishes the descriptor, so a change needs no restart.
//!
//! arti treats a restricted service with no client at all as broken for good: it stops, and a
//! new launch finds its state still locked. So the folder always holds one more key, made by
//! the box, whose secret half was never kept ([`crate::credentials::ensure_placeholder_client`]):
//! with no workstation left the service stays up, and nobody can read its descriptor.

use std::path::Path;

use tokio::task::JoinHandle;

use super::{report_publication, service_config, url, Onion, OnionError, OnionIncoming, Service};
use crate::config::OnionConfig;

impl Onion {
    /// Starts the reviewer API's onion service on the same Tor client, with restricted
    /// discovery over `clients_dir`. Prints `reviewer onion address: URL` once published;
    /// abort the returned task to take the service down.
    pub fn launch_reviewers(
        &self,
        cfg: &OnionConfig,
        nickname: &str,
        clients_dir: &Path,
    ) -> Result<(OnionIncoming, JoinHandle<()>), OnionError> {
        let config = service_config(
            cfg,
            Service::Reviewers {
                nickname,
                clients_dir,
            },
        )?;
        crate::credentials::ensure_placeholder_client(clients_dir).map_err(|source| {
            OnionError::ClientKeys {
                path: clients_dir.to_owned(),
                source: Box::new(source),
            }
        })?;
        let (service, requests) = self
            .client
            .launch_onion_service(config)
            .map_err(|e| OnionError::Tor(Box::new(e)))?
            .ok_or(OnionError::Disabled)?;
        let id = service.onion_address().ok_or(OnionError::NoKey)?;
        // The task owns the service: aborting it drops the last handle, which stops it.
        let task = tokio::spawn(report_publication(
            service,
            "reviewers",
            format!("reviewer onion address: {}", url(&id)),
        ));
        Ok((OnionIncoming::new(requests, cfg.circuit.clone()), task))
    }
}
