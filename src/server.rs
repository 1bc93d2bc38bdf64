//! The server's lifecycle as one library call: [`run`] hardens the process, takes the data
//! dir, binds the listeners, serves the sources' app, the reviewer API and the onion, runs the
//! retention sweep, and returns when `shutdown` completes.
//!
//! It lives here rather than in `main.rs` so that tests can run the whole server in-process
//! (over real loopback sockets) and stop it, and so the binary only parses arguments. It takes
//! a [`ValidConfig`]: the settings were checked once, when they were loaded.
//!
//! What shutdown promises: when [`Server::serve`] returns, no listener accepts any more, every
//! connection it served is closed (an upload cut off mid-way leaves nothing but staging debris,
//! which the next start sweeps; a submission is in `sources/` whole or not at all), the
//! retention loop has stopped, and the data dir's lock is free for the next start. (With the
//! onion on, arti's own background tasks end only with the runtime.)

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::{OnionConfig, ValidConfig};
use crate::hardening::{self, DataDirLock, HardeningError};
use crate::onion::OnionError;
use crate::pinned::PinError;
use crate::store::Store;
use crate::web::{self, AppState, AppStateError};

/// Why the server could not start. Each message (with its source) says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Hardening(#[from] HardeningError),
    #[error(transparent)]
    Pinned(#[from] PinError),
    #[error(transparent)]
    State(#[from] AppStateError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Onion(#[from] OnionError),
    #[error(transparent)]
    Status(#[from] crate::status::StatusError),
}

/// A server whose listeners are bound, not yet serving. Holds the data dir's lock.
pub struct Server {
    state: AppState,
    listener: TcpListener,
    addr: SocketAddr,
    reviewer: Option<(TcpListener, SocketAddr)>,
    onion: OnionConfig,
    // Held until the server is dropped; taken before anything in the data dir is touched (the
    // staging sweep would delete another running box's uploads in progress).
    _lock: DataDirLock,
}

/// Binds, serves until `shutdown` completes, then stops everything it started (see the module
/// docs). Prints `listening on …` and `reviewer api on …` on stdout once bound.
pub async fn run(
    config: ValidConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    Server::bind(config).await?.serve(shutdown).await
}

impl Server {
    /// Hardens the process (no core dumps; locked memory if asked), takes the data dir, checks
    /// the pinned KDF settings, opens the store and binds both listeners.
    pub async fn bind(config: ValidConfig) -> Result<Server, ServerError> {
        hardening::no_core_dumps()?;
        if config.lock_memory {
            hardening::lock_memory()?;
        }
        let lock = DataDirLock::acquire(&config.data_dir)?;
        let lists = crate::pinned::check_or_record(&config.data_dir, &config.kdf)?;
        if lists != crate::code::ListVersion::CURRENT {
            tracing::info!(
                made_with = lists.number(),
                current = crate::code::ListVersion::CURRENT.number(),
                "this box was made with older word lists: their codes still log in, new codes \
                 come from the current lists"
            );
        }
        let listen = config.listen;
        let reviewer_cfg = config.reviewer.clone();
        let onion = config.onion.clone();
        let state = AppState::open(config, lists)?;
        tracing::info!(
            reviewers = state.recipients.names().len(),
            "encrypting every submission to the reviewers' keys"
        );
        let (listener, addr) = bind(listen).await?;
        let reviewer = if reviewer_cfg.enabled {
            Some(bind(reviewer_cfg.listen).await?)
        } else {
            None
        };
        Ok(Server {
            state,
            listener,
            addr,
            reviewer,
            onion,
            _lock: lock,
        })
    }

    /// Where the sources' app listens (useful when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the reviewer API listens, if it is enabled.
    pub fn reviewer_addr(&self) -> Option<SocketAddr> {
        self.reviewer.as_ref().map(|(_, addr)| *addr)
    }

    /// Serves until `shutdown` completes (or a listener fails for good), then stops every task
    /// it started and returns.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let Server {
            state,
            listener,
            addr,
            reviewer,
            onion: onion_cfg,
            _lock,
        } = self;
        let http = state.config.http.clone();
        web::Sessions::spawn_sweeper(&state.sessions);
        let _retention = Abort(tokio::spawn(retention(
            state.store.clone(),
            state.config.reviewer.retention_days,
        )));
        let _load = tracing::enabled!(target: "lanterne::load", tracing::Level::DEBUG)
            .then(|| Abort(tokio::spawn(report_load())));
        let reviewer = reviewer.map(|(l, a)| (l, a, web::reviewer_router(state.clone())));
        let data_dir = state.config.data_dir.clone();
        let reviewer_cfg = state.config.reviewer.clone();
        let app = web::router(state);
        // The onion service serves the same app; it stays up as long as this `onion` lives.
        let (onion, onion_streams) = if onion_cfg.enabled {
            let (onion, incoming) = crate::onion::launch(&onion_cfg, &data_dir)?;
            tracing::info!("publishing the onion service; bootstrapping Tor");
            (Some(onion), Some(incoming))
        } else {
            tracing::info!("onion service off (--no-onion): loopback only");
            (None, None)
        };
        // The reviewer API's own onion, on the same Tor client, for workstations with a key.
        let (reviewer_onion, _reviewer_onion_task) = match (&onion, &reviewer, reviewer_cfg.onion) {
            (Some(onion), Some((_, _, router)), true) => {
                let (incoming, task) = onion.launch_reviewers(
                    &onion_cfg,
                    &reviewer_cfg.onion_nickname,
                    &crate::credentials::onion_clients_dir(&data_dir),
                )?;
                tracing::info!("publishing the reviewer onion (restricted discovery)");
                (Some((incoming, router.clone())), Some(Abort(task)))
            }
            _ => (None, None),
        };
        let serve_reviewer_onion = async {
            if let Some((incoming, router)) = reviewer_onion {
                web::serve(incoming, router, &http).await;
                tracing::error!("the reviewer onion stopped; still serving loopback");
            }
            std::future::pending::<()>().await
        };
        // The onion self-check, and the status socket `lanterne check` reads it from.
        let self_check = crate::onion::selfcheck::SelfCheck::new(&onion_cfg);
        let _self_check = onion.as_ref().and_then(|o| {
            crate::onion::selfcheck::spawn(&self_check, o.client.clone(), &o.url).map(Abort)
        });
        let _status = crate::status::StatusSocket::bind(&data_dir, self_check)?;
        let serve_onion = async {
            if let Some(incoming) = onion_streams {
                web::serve(incoming, app.clone(), &http).await;
                tracing::error!("the onion service stopped; still serving loopback");
            }
            std::future::pending::<()>().await
        };
        crate::announce(&format!("listening on http://{addr}"));
        let serve_reviewers = async {
            if let Some((listener, addr, router)) = reviewer {
                crate::announce(&format!("reviewer api on http://{addr}"));
                web::serve(listener, router, &http).await;
            }
            std::future::pending::<()>().await
        };
        // Leaving this select drops every `web::serve`, which closes each one's connections.
        tokio::select! {
            () = serve_reviewers => {}
            () = web::serve(listener, app.clone(), &http) => {}
            () = serve_onion => {}
            () = serve_reviewer_onion => {}
            () = shutdown => tracing::info!("shutting down"),
        }
        drop(onion);
        Ok(())
    }
}

/// Binds one listener and reads back its address.
async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), ServerError> {
    let bind_err = |source| ServerError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
    let bound = listener.local_addr().map_err(bind_err)?;
    Ok((listener, bound))
}

/// Aborts its task when dropped, so nothing the server started outlives [`Server::serve`].
struct Abort(JoinHandle<()>);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Every second, at debug level under the `lanterne::load` target, how many tasks the runtime
/// holds: a count only, for an operator watching a flood and for
/// `cargo bench --bench ingest` (`LANTERNE_LOG=warn,lanterne::load=debug`). Started only when
/// that level is on.
async fn report_load() {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let tasks = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        tracing::debug!(target: "lanterne::load", tasks, "runtime load");
    }
}

/// Deletes submissions and replies past the retention period, and source folders left empty
/// and inactive that long, at start and then every hour.
async fn retention(store: Arc<Store>, days: u32) {
    loop {
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.expire(days)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::debug!(
                deleted = n,
                days,
                "retention: old submissions and replies deleted"
            ),
            Ok(Err(e)) => tracing::error!(error = %e, "retention sweep failed"),
            Err(e) => tracing::error!(error = %e, "retention task failed"),
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;
    use std::path::Path;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::config::Config;

    const CANARY: &[u8] = b"in-process server canary 7f3e9a";

    fn config(root: &Path) -> ValidConfig {
        let mut c = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: root.join("data"),
            keys_dir: root.join("keys"),
            ..Config::default()
        };
        c.reviewer.listen = "127.0.0.1:0".parse().unwrap();
        c.onion.enabled = false;
        c.validated().unwrap()
    }

    /// The value between `start` and the next `end` in `s`.
    fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
        let from = s
            .find(start)
            .unwrap_or_else(|| panic!("no {start:?} in {s}"))
            + start.len();
        let len = s[from..].find(end).unwrap();
        &s[from..from + len]
    }

    /// A source gets a code and uploads one file, over HTTP.
    async fn upload(base: &str) {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let home = client.get(format!("{base}/")).send().await.unwrap();
        let home = home.text().await.unwrap();
        let csrf = between(&home, "name=\"csrf\" value=\"", "\"");
        let code_page = client
            .post(format!("{base}/code"))
            .form(&[("csrf", csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(code_page.status(), 200);
        let code_page = code_page.text().await.unwrap();
        let csrf = between(&code_page, "name=\"csrf\" value=\"", "\"").to_owned();
        let form = reqwest::multipart::Form::new()
            .text("csrf", csrf)
            .part(
                "files",
                reqwest::multipart::Part::bytes(CANARY.to_vec())
                    .file_name("note.txt")
                    .mime_str("text/plain")
                    .unwrap(),
            )
            .text("message", "");
        let sent = client
            .post(format!("{base}/submit"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 200, "{}", sent.text().await.unwrap());
    }

    /// The reviewer API's index and the first non-manifest file of its only submission.
    async fn fetch(base: &str, bearer: &str) -> Vec<u8> {
        let client = reqwest::Client::new();
        let get = |path: String| {
            client
                .get(format!("{base}{path}"))
                .header("authorization", bearer)
                .send()
        };
        let index = get(crate::api::path::index(0)).await.unwrap();
        assert_eq!(index.status(), 200);
        let index: crate::api::Index =
            serde_json::from_slice(&index.bytes().await.unwrap()).unwrap();
        let [source] = &index.sources[..] else {
            panic!("one source expected: {index:?}")
        };
        let [sub] = &source.submissions[..] else {
            panic!("one submission expected: {index:?}")
        };
        let file = sub.files.iter().find(|f| f.name != "manifest.age").unwrap();
        let path = crate::api::path::file(&source.designation, &sub.id, &file.name);
        let resp = get(path).await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap().to_vec()
    }

    /// A stored file holds the canary, then zeros to its size bucket.
    fn assert_canary(plain: &[u8]) {
        assert_eq!(
            plain.len() as u64,
            lanterne_core::padding::bucket(CANARY.len() as u64)
        );
        let (canary, padding) = plain.split_at(CANARY.len());
        assert_eq!(canary, CANARY);
        assert!(padding.iter().all(|&b| b == 0));
    }

    fn decrypt(identity: &age::x25519::Identity, ciphertext: &[u8]) -> Vec<u8> {
        let decryptor = age::Decryptor::new(ciphertext).unwrap();
        let mut reader = decryptor
            .decrypt(std::iter::once(identity as &dyn age::Identity))
            .unwrap();
        let mut plain = Vec::new();
        reader.read_to_end(&mut plain).unwrap();
        plain
    }

    /// The server runs in-process: a source uploads and a reviewer fetches over loopback; then
    /// shutdown closes a connection still sending its request (the old lifecycle left it to
    /// the header timeout), frees the ports and the data dir, and a second start on the same
    /// data dir serves the same submission with nothing left in staging.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_in_process_and_shuts_down_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let identity = age::x25519::Identity::generate();
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        std::fs::write(
            dir.path().join("keys/r.txt"),
            identity.to_public().to_string(),
        )
        .unwrap();
        let data = dir.path().join("data");
        let cred_file = dir.path().join("alice.cred");

        let server = Server::bind(config(dir.path())).await.unwrap();
        let (base, api) = (
            format!("http://{}", server.local_addr()),
            format!("http://{}", server.reviewer_addr().unwrap()),
        );
        let onion = crate::config::Config::default();
        let reviewer_onion = crate::credentials::ReviewerOnion {
            onion: &onion.onion,
            nickname: &onion.reviewer.onion_nickname,
        };
        crate::credentials::add(&data, "alice", &cred_file, reviewer_onion).unwrap();
        let cred = crate::credentials::Credential::read(&cred_file).unwrap();
        let bearer = format!("Bearer {}:{}", cred.name, cred.token);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(server.serve(async {
            let _ = stopped.await;
        }));

        upload(&base).await;
        assert_canary(&decrypt(&identity, &fetch(&api, &bearer).await));

        // A client half-way through its request head when the box stops.
        let mut slow = tokio::net::TcpStream::connect(server_addr(&base))
            .await
            .unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: box\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), running)
            .await
            .expect("serve returns promptly after shutdown")
            .unwrap()
            .unwrap();
        let mut buf = [0u8; 64];
        let closed = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buf)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "the half-sent request's connection is still open after shutdown: {closed:?}"
        );
        assert!(
            tokio::net::TcpStream::connect(server_addr(&base))
                .await
                .is_err(),
            "the sources' port still accepts after shutdown"
        );

        // The lock is free, the submission whole, staging empty.
        let again = Server::bind(config(dir.path())).await.unwrap();
        let api = format!("http://{}", again.reviewer_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(again.serve(async {
            let _ = stopped.await;
        }));
        assert_canary(&decrypt(&identity, &fetch(&api, &bearer).await));
        assert_eq!(std::fs::read_dir(data.join("staging")).unwrap().count(), 0);
        stop.send(()).unwrap();
        running.await.unwrap().unwrap();
    }

    fn server_addr(base: &str) -> SocketAddr {
        base.trim_start_matches("http://").parse().unwrap()
    }
}
