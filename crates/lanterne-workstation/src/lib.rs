//! lanterne-workstation: the reviewer's *networked* workstation, `lanterne fetch` and
//! `lanterne push`.
//!
//! It only moves ciphertext: `fetch` copies new submissions (and the team's signed replies)
//! from the server's reviewer API into a bundle folder (see `docs/bundle.md`) that is carried
//! to the offline machine, and `push` uploads the replies that the offline machine encrypted
//! and signed. It never holds a key that decrypts anything, and the offline crate never
//! depends on it: this is where the network is.
//!
//! # Layout
//!
//! All of it runs on the networked workstation:
//! - [`fetch`]: the incremental, resumable download into a bundle, and the ack;
//! - [`push`]: the upload of replies;
//! - this file: the error type and the reviewer API client they share (which reads at most
//!   [`MAX_ERROR_BODY`] of an error's body and escapes it with `lanterne_core::text`, so no
//!   byte of the server's reaches the terminal raw), and the route to the
//!   server: direct (loopback, a tunnel), or through a SOCKS5 proxy (`--socks`, a tor client
//!   holding the reviewer onion's client key) that resolves names itself, so a `.onion` server
//!   is only ever named to tor. The wire types and the
//!   paths are `lanterne_core::api` (the server's router uses the same paths); the bundle
//!   format `fetch` writes is `lanterne_core::bundle`, which the offline machine reads; the
//!   credential file is `lanterne_core::credential`.

#![forbid(unsafe_code)]

use std::io;
use std::path::{Path, PathBuf};

use lanterne_core::credential::Credential;
use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;
use serde::Deserialize;
use zeroize::Zeroizing;

mod fetch;
mod push;

pub use fetch::{fetch, FetchReport};
pub use push::{push, PushReport};

/// Why a fetch or push stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkstationError {
    #[error("cannot reach the server: {0}")]
    Http(#[from] reqwest::Error),
    #[error(
        "--server {0} is an onion address: pass --socks HOST:PORT, the SOCKS port of a tor \
         client that holds this workstation's reviewer onion key (e.g. --socks 127.0.0.1:9050)"
    )]
    OnionNeedsSocks(String),
    #[error("--server {0} is not an http:// URL with a host, like http://127.0.0.1:8081")]
    BadServer(String),
    #[error("--socks {0} is not HOST:PORT, like 127.0.0.1:9050")]
    BadSocks(String),
    #[error("the server refused the credential (401): check --credential, or ask for a new one")]
    Unauthorized,
    /// The body is already escaped ([`lanterne_core::text::scrubbed`]) and cut.
    #[error("the server answered {0}: {1}")]
    Status(StatusCode, String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Names in the message are ones the workstation validated (or escaped) first.
    #[error("the server sent something unexpected: {0}")]
    Protocol(String),
    #[error("the server's answer is not the JSON this build expects (is it a lanterne reviewer API of the same version?)")]
    Json(#[source] serde_json::Error),
    #[error("{0} is not a lanterne bundle of a format this build reads")]
    NotABundle(PathBuf),
    /// The server refused an ack: this credential was not served every byte of `refused`.
    #[error(
        "{report}\nthe server REFUSED the ack and deleted nothing: this credential was not \
         served every byte of {refused}. The server recorded the refusal under this \
         credential's name. Those submissions stay on the server and are no longer pending in \
         this bundle; run `lanterne fetch --ack` again to ack the others. To ack the refused \
         ones from this workstation, fetch them whole into a new bundle folder \
         (`lanterne fetch --ack --out NEW_FOLDER`)"
    )]
    AckRefused { report: String, refused: String },
    #[error(
        "{0} has no signature beside it (.age.minisig, at most {max} bytes), so it was not \
         sent: the server accepts only signed replies. Write it with `review reply --identity` \
         on the offline machine, and carry both files",
        max = lanterne_core::reply::MAX_SIGNATURE_BYTES
    )]
    Unsigned(PathBuf),
}

/// Most bytes of an error's body that are read: the server's explanation is short, and a
/// hostile server's endless one must not fill the workstation's memory or terminal.
pub const MAX_ERROR_BODY: usize = 4 << 10;

/// The first `max` bytes of `resp`'s body, or all of it if it is shorter; the rest is never
/// read.
pub(crate) async fn body_capped(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = max - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == max {
            break;
        }
    }
    Ok(body)
}

pub(crate) fn io_at(path: &Path) -> impl FnOnce(io::Error) -> WorkstationError + '_ {
    move |source| WorkstationError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The reviewer API's client: one base URL and one credential.
pub(crate) struct Client {
    pub(crate) http: reqwest::Client,
    base: String,
    pub(crate) auth: Zeroizing<String>,
}

impl Client {
    /// A client for the reviewer API at `server`, direct or through the SOCKS5 proxy `socks`
    /// (`HOST:PORT`). Never a proxy from the environment: the route is the one asked for.
    pub(crate) fn new(
        server: &str,
        credential: &Credential,
        socks: Option<&str>,
    ) -> Result<Client, WorkstationError> {
        let onion = is_onion(server)?;
        // No redirects either: a server's `Location` could point anywhere.
        let builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none());
        let builder = match socks {
            Some(proxy) => builder.proxy(socks_proxy(proxy)?),
            // Refused before any connection or name lookup: an onion name must never reach
            // the local resolver, which would leak it to the network.
            None if onion => return Err(WorkstationError::OnionNeedsSocks(server.to_owned())),
            None => builder,
        };
        Ok(Client {
            http: builder.build()?,
            base: server.trim_end_matches('/').to_owned(),
            auth: credential.bearer(),
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn check(
        resp: reqwest::Response,
    ) -> Result<reqwest::Response, WorkstationError> {
        match resp.status() {
            s if s.is_success() => Ok(resp),
            StatusCode::UNAUTHORIZED => Err(WorkstationError::Unauthorized),
            s => {
                let body = body_capped(resp, MAX_ERROR_BODY).await.unwrap_or_default();
                let text = lanterne_core::text::scrubbed(String::from_utf8_lossy(&body).trim());
                Err(WorkstationError::Status(s, text))
            }
        }
    }

    pub(crate) async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
    ) -> Result<T, WorkstationError> {
        let resp = self
            .http
            .get(self.url(path))
            .header(AUTHORIZATION, self.auth.as_str())
            .send()
            .await?;
        let bytes = Self::check(resp).await?.bytes().await?;
        serde_json::from_slice(&bytes).map_err(WorkstationError::Json)
    }
}

/// Whether `server`'s host is an onion address (which only tor can reach).
fn is_onion(server: &str) -> Result<bool, WorkstationError> {
    let bad = || WorkstationError::BadServer(server.to_owned());
    let url = reqwest::Url::parse(server).map_err(|_| bad())?;
    if url.scheme() != "http" {
        return Err(bad());
    }
    let host = url.host_str().ok_or_else(bad)?.trim_end_matches('.');
    Ok(host.eq_ignore_ascii_case("onion") || host.to_ascii_lowercase().ends_with(".onion"))
}

/// The proxy for `--socks HOST:PORT`: SOCKS5 with the proxy resolving names (`socks5h`), so
/// an onion name reaches tor and no name is looked up locally.
fn socks_proxy(hostport: &str) -> Result<reqwest::Proxy, WorkstationError> {
    let bad = || WorkstationError::BadSocks(hostport.to_owned());
    let url = reqwest::Url::parse(&format!("socks5h://{hostport}")).map_err(|_| bad())?;
    let plain = url.host_str().is_some_and(|h| !h.is_empty())
        && url.port().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && matches!(url.path(), "" | "/")
        && url.query().is_none()
        && url.fragment().is_none();
    if !plain {
        return Err(bad());
    }
    reqwest::Proxy::all(url).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onion_servers_and_socks_addresses() {
        let onion = "http://abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzab.onion";
        for s in [onion, "http://x.ONION/", "http://x.onion.:80"] {
            assert!(is_onion(s).unwrap(), "{s}");
        }
        for s in [
            "http://127.0.0.1:8081",
            "http://onion.example",
            "http://[::1]:1",
        ] {
            assert!(!is_onion(s).unwrap(), "{s}");
        }
        for s in ["127.0.0.1:8081", "https://x.onion", "ftp://x", "http://"] {
            assert!(is_onion(s).is_err(), "{s}");
        }
        for s in ["127.0.0.1:9050", "localhost:9150", "[::1]:9050"] {
            assert!(socks_proxy(s).is_ok(), "{s}");
        }
        for s in [
            "127.0.0.1",
            "u:p@127.0.0.1:9050",
            "127.0.0.1:9050/x",
            "",
            ":9050",
            "h:99999",
        ] {
            assert!(socks_proxy(s).is_err(), "{s}");
        }
    }
}
