//! The server's HTTP face: the sources' app and the reviewer API, their security headers, and
//! the connection loop that serves them.
//!
//! On the server this is the only module that serves HTTP (the workstation's client,
//! [`crate::workstation`], sends it). It turns requests into calls on [`crate::ingest`],
//! [`crate::store`] and [`crate::source_key`], and their results into pages. It never logs a
//! peer address, a user agent, a path with a secret or a precise time.
//!
//! [`serve`] runs over any [`Incoming`] source of connections, so the same app serves the
//! loopback TCP listener and the onion service's streams ([`crate::onion`]).

// Handlers return a finished error response early; a `Response` is large, but those paths are
// cold and boxing them would only add noise.
#![allow(clippy::result_large_err)]

pub mod circuit;
mod conns;
mod pages;
mod reviewer_api;
mod served;
mod session;
mod source;
mod upload;

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::code::ListVersion;
use crate::config::{Config, HttpConfig, ValidConfig};
use crate::seal::{Recipients, RecipientsError};
use crate::source_key::Deriver;
use crate::store::Store;

pub use circuit::Circuit;
pub use reviewer_api::router as reviewer_router;
pub use session::Sessions;

/// Everything a request handler may use.
#[derive(Clone)]
pub struct AppState {
    pub(crate) config: Arc<Config>,
    pub(crate) store: Arc<Store>,
    pub(crate) recipients: Arc<Recipients>,
    pub(crate) deriver: Arc<Deriver>,
    pub(crate) sessions: Arc<Sessions>,
    /// The word lists the box was made with: login also takes their words (see `code`).
    pub(crate) lists: ListVersion,
}

/// Why the server's state could not be opened. Each message (with its source) says what failed.
#[derive(Debug, thiserror::Error)]
pub enum AppStateError {
    #[error("cannot open data dir {path}")]
    Store {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Recipients(#[from] RecipientsError),
    #[error("cannot read or create the instance secret in {path}")]
    InstanceSecret {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl AppState {
    /// Opens the data dir, loads the recipients and prepares the key derivation, for a box made
    /// with the word lists of `lists` (what `pinned::check_or_record` said).
    pub fn open(config: ValidConfig, lists: ListVersion) -> Result<AppState, AppStateError> {
        let config = config.into_inner();
        let path = || config.data_dir.clone();
        let store = Store::open(&config.data_dir).map_err(|source| AppStateError::Store {
            path: path(),
            source,
        })?;
        let recipients = Recipients::load_dir(&config.keys_dir)?;
        let secret = store
            .instance_secret()
            .map_err(|source| AppStateError::InstanceSecret {
                path: path(),
                source,
            })?;
        let deriver = Deriver::new(secret, &config.kdf);
        let sessions = Sessions::new(&config.sessions);
        Ok(AppState {
            config: Arc::new(config),
            store: Arc::new(store),
            recipients: Arc::new(recipients),
            deriver: Arc::new(deriver),
            sessions: Arc::new(sessions),
            lists,
        })
    }
}

/// Headers on every response. The CSP allows only same-origin CSS: no script can run.
const SECURITY_HEADERS: [(&str, &str); 8] = [
    (
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    ),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("cross-origin-embedder-policy", "require-corp"),
];

/// The application: every route, with the hardening layers.
pub fn router(state: AppState) -> Router {
    let limits = &state.config.limits;
    // The exact limits are enforced by `ingest` with a clear page; this is only a backstop on
    // the raw body, with room for the multipart framing.
    let body_cap =
        usize::try_from(limits.max_submission_bytes.saturating_add(1 << 20)).unwrap_or(usize::MAX);
    let timeout = TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        state.config.http.request_timeout(),
    );

    let timed = Router::new()
        .route("/", get(pages::index))
        .route("/code", post(source::new_code))
        .route("/login", get(pages::login_form).post(source::login))
        .route("/reply/delete", post(source::delete_reply))
        .route("/logout", post(source::logout))
        .route("/static/style.css", get(pages::style))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(timeout);
    // Uploads are bounded by silence between chunks (see `upload`), not by total time.
    let uploads = Router::new().route(
        "/submit",
        get(pages::submit_form)
            .layer(timeout)
            .post(upload::submit)
            .layer(DefaultBodyLimit::max(body_cap)),
    );

    let mut app = timed
        .merge(uploads)
        .fallback(pages::not_found)
        .method_not_allowed_fallback(pages::method_not_allowed)
        .layer(middleware::from_fn(gate))
        .with_state(state);
    for (name, value) in SECURITY_HEADERS {
        app = app.layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
    }
    app
}

/// Largest request head (target plus headers) accepted, in bytes. A browser sends a few hundred.
/// hyper's own buffer limit is not a hard cap (a head that arrives in one read is parsed
/// whole), so it is enforced here too.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Refuses oversized request heads, and every method but GET, POST and HEAD, on every path.
async fn gate(req: Request, next: Next) -> Response {
    let head: usize = req.uri().to_string().len()
        + req
            .headers()
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>();
    if head > MAX_HEAD_BYTES {
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request headers too large\n",
        )
            .into_response();
    }
    if matches!(*req.method(), Method::GET | Method::POST | Method::HEAD) {
        return next.run(req).await;
    }
    let mut resp = (StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n").into_response();
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, POST, HEAD"));
    resp
}

/// A source of incoming connections: a TCP listener, or the onion service's streams.
pub trait Incoming: Send + 'static {
    type Io: AsyncRead + AsyncWrite + Send + Unpin + 'static;
    /// The next connection, with its circuit's budgets when it came over the onion; `None` once
    /// there will be no more. Errors are logged and the loop goes on.
    fn accept(&mut self) -> impl Future<Output = Option<io::Result<Accepted<Self::Io>>>> + Send;
}

/// A connection and, over the onion, the rendezvous circuit it came on.
pub struct Accepted<Io> {
    pub io: Io,
    pub circuit: Option<Circuit>,
}

impl Incoming for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;
    async fn accept(&mut self) -> Option<io::Result<Accepted<Self::Io>>> {
        // The peer address is dropped here, unread: the box never knows who connects.
        Some(
            tokio::net::TcpListener::accept(self)
                .await
                .map(|(stream, _)| {
                    let _ = stream.set_nodelay(true);
                    Accepted {
                        io: stream,
                        circuit: None,
                    }
                }),
        )
    }
}

/// Serves `app` on every connection from `incoming`, HTTP/1.1 only, until `incoming` ends or
/// this future is dropped; either way every connection it accepted is then closed (a request
/// in progress is dropped, as when its client goes away). Every listener (loopback, onion,
/// reviewer) comes through here, so each gets the head deadline and its own table of at most
/// `max_connections` (see [`conns`]).
pub async fn serve<I: Incoming>(mut incoming: I, app: Router, http: &HttpConfig) {
    // Each connection's task watches this; dropping the sender (when this future ends or is
    // dropped) ends them all.
    let (_stop, stopped) = tokio::sync::watch::channel(());
    let table = conns::Table::new(http.max_connections);
    let header_timeout = http.header_timeout();
    loop {
        let Accepted { io, circuit } = match incoming.accept().await {
            None => return,
            Some(Ok(accepted)) => accepted,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // At the cap, the connection that has done least makes room: a crowd of slow
        // connections must not keep an honest one out, and the table never grows past the cap.
        let (entry, evicted) = table.admit();
        if evicted {
            tracing::debug!("at max_connections: the idlest connection was closed to make room");
        }
        let tower = TowerToHyperService::new(app.clone());
        // A request is "in progress" (see `conns`) while its future runs; the guard clears the
        // mark even when hyper drops that future half-way (client gone).
        let conn = entry.conn.clone();
        let on_circuit = circuit.clone();
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let serving = conn.serving(hyper::body::Body::is_end_stream(req.body()));
            let mut req = req.map(|body| conns::Watched::new(body, conn.clone()));
            if let Some(c) = &on_circuit {
                // The handlers that spend a key derivation ask the circuit first.
                req.extensions_mut().insert(c.clone());
            }
            let response = hyper::service::Service::call(&tower, req);
            async move {
                let r = response.await;
                drop(serving);
                r
            }
        });
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let io = conns::Tracked::new(io, entry.conn.clone());
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                // Also runs while a keep-alive connection waits for its next request.
                .header_read_timeout(header_timeout)
                .max_buf_size(64 * 1024)
                // No `Date` header: the server's clock would help tell this box apart.
                .auto_date_header(false)
                .serve_connection(TokioIo::new(io), service);
            let slow = tokio::select! {
                r = conn => match r {
                    Err(e) => {
                        tracing::debug!(error = %e, "connection ended with an error");
                        e.is_timeout()
                    }
                    Ok(()) => false,
                },
                () = entry.conn.evicted() => true,
                _ = stopped.changed() => false,
            };
            // A head that timed out, or a connection that did least at the cap: on a circuit
            // that has too many of these, the whole circuit goes.
            if let (true, Some(c)) = (slow, &circuit) {
                c.slow_stream();
            }
            drop(entry);
        });
    }
}
