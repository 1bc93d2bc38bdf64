//! Fuzzes the source upload path, in process: the real axum app (`lanterne::web::router`)
//! with a temp data dir, one reviewer X25519 recipient and the onion off, driven with
//! `tower::ServiceExt::oneshot` on one tokio runtime. A session and its CSRF token are obtained
//! once per process (`GET /`, then `POST /code`, which runs the real 64 MiB argon2 derivation).
//! Each input then becomes one `POST /submit` carrying the session cookie:
//!
//! - first byte even: `Content-Type: multipart/form-data; boundary=FuzzBoundary` and the rest of
//!   the input as the body;
//! - first byte odd: the rest is `<content type>\n<Name: value>\n…\n\n<body>`, so the input also
//!   controls the boundary and up to 16 more headers (Content-Length, Accept-Language, Cookie…).
//!
//! Every `@CSRF@` in the input is replaced by the session's real CSRF token first, so seeds
//! (fuzz/seeds/upload) and the inputs grown from them get past the CSRF check and into the
//! multipart parser, `ingest` (age encryption) and the store.
//!
//! Asserts: the app answers (no panic) with a status in {200, 400, 403, 408, 413, 507}, and
//! after every request nothing is left in `DATA/staging` (a refused or broken upload leaves
//! no partial ciphertext). Stored submissions are removed after each 200 to keep the data dir
//! small.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use age::secrecy::ExposeSecret;
use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::Router;
use lanterne::config::Config;
use lanterne::web::{router, AppState};
use libfuzzer_sys::fuzz_target;

#[path = "../common/tmp.rs"]
mod tmp;
use tower::ServiceExt;

const PLACEHOLDER: &[u8] = b"@CSRF@";
const BOUNDARY: &str = "FuzzBoundary";
const ALLOWED: [u16; 6] = [200, 400, 403, 408, 413, 507];

struct Fixture {
    rt: tokio::runtime::Runtime,
    app: Router,
    data: PathBuf,
    cookie: HeaderValue,
    csrf: Vec<u8>,
    _dir: tempfile::TempDir,
}

/// The `lanterne_session=…` pair of a response's `Set-Cookie`, if any.
fn session_cookie(resp: &axum::response::Response) -> Option<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with("lanterne_session="))
        .map(str::to_owned)
}

/// The value of the page's hidden `csrf` input.
fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("the page has a CSRF field") + marker.len();
    let end = html[start..].find('"').expect("closed attribute") + start;
    html[start..end].to_owned()
}

async fn send(app: &Router, req: Request<Body>) -> (axum::response::Response, String) {
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.expect("body");
    let resp = axum::response::Response::from_parts(parts, Body::empty());
    (resp, String::from_utf8_lossy(&bytes).into_owned())
}

fn setup() -> Fixture {
    let dir = tmp::dir("upload");
    let data = dir.path().join("data");
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let identity = age::x25519::Identity::generate();
    std::fs::write(
        keys.join("reviewer.txt"),
        format!("{}\n", identity.to_public()),
    )
    .unwrap();
    // Keep the throwaway identity beside the data, for decrypting by hand when debugging.
    std::fs::write(
        dir.path().join("reviewer.key"),
        identity.to_string().expose_secret(),
    )
    .unwrap();

    let mut config = Config::default();
    config.data_dir = data.clone();
    config.keys_dir = keys;
    config.onion.enabled = false;
    config.limits.max_submission_bytes = 64 * 1024;
    config.limits.max_files = 4;
    config.limits.max_message_chars = 2000;
    config.sessions.max_sessions = 64;
    config.sessions.idle_timeout_secs = 30 * 24 * 3600;
    let config = config.validated().expect("fuzz config is valid");
    let state = AppState::open(config, lanterne::code::ListVersion::CURRENT).expect("app state");
    let app = router(state);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (cookie, csrf) = rt.block_on(async {
        let (resp, html) = send(&app, Request::get("/").body(Body::empty()).unwrap()).await;
        assert_eq!(resp.status(), StatusCode::OK, "GET /");
        let cookie = session_cookie(&resp).expect("GET / sets a session cookie");
        let csrf = csrf_of(&html);
        let (resp, html) = send(
            &app,
            Request::post("/code")
                .header(header::COOKIE, &cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("csrf={csrf}")))
                .unwrap(),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK, "POST /code: {html}");
        let cookie = session_cookie(&resp).expect("POST /code rotates the session");
        (cookie, csrf_of(&html))
    });
    Fixture {
        rt,
        app,
        data,
        cookie: HeaderValue::from_str(&cookie).unwrap(),
        csrf: csrf.into_bytes(),
        _dir: dir,
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(setup)
}

/// Whether to print each answer's status (`LANTERNE_FUZZ_VERBOSE=1`), to check the harness.
fn verbose() -> bool {
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("LANTERNE_FUZZ_VERBOSE").is_some())
}

/// `input` with every `@CSRF@` replaced by the real token.
fn with_csrf(input: &[u8], csrf: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + 64);
    let mut i = 0;
    while i < input.len() {
        if input[i..].starts_with(PLACEHOLDER) {
            out.extend_from_slice(csrf);
            i += PLACEHOLDER.len();
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

fn build_request(f: &Fixture, data: &[u8]) -> Request<Body> {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/submit")
        .header(header::COOKIE, f.cookie.clone());
    let body = if data[0] & 1 == 0 {
        req = req.header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        );
        with_csrf(&data[1..], &f.csrf)
    } else {
        let rest = &data[1..];
        let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
            Some(i) => (&rest[..i], &rest[i + 2..]),
            None => (rest, &[][..]),
        };
        let mut lines = head.split(|&b| b == b'\n');
        if let Some(ctype) = lines.next() {
            if let Ok(v) = HeaderValue::from_bytes(trim(ctype)) {
                req = req.header(header::CONTENT_TYPE, v);
            }
        }
        for line in lines.take(16) {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(trim(&line[..colon])),
                HeaderValue::from_bytes(trim(&line[colon + 1..])),
            ) else {
                continue;
            };
            req = req.header(name, value);
        }
        with_csrf(body, &f.csrf)
    };
    req.body(Body::from(body)).expect("request")
}

/// Removes what a successful submission stored, so the data dir does not grow.
fn remove_submissions(data: &Path) {
    let _ = std::fs::remove_dir_all(data.join("retention"));
    let Ok(sources) = std::fs::read_dir(data.join("sources")) else {
        return;
    };
    for source in sources.flatten() {
        // Empty `submissions/` but keep it: the store creates it only with the source folder.
        let Ok(subs) = std::fs::read_dir(source.path().join("submissions")) else {
            continue;
        };
        for sub in subs.flatten() {
            let _ = std::fs::remove_dir_all(sub.path());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let f = fixture();
    let req = build_request(f, data);
    let resp =
        f.rt.block_on(f.app.clone().oneshot(req))
            .expect("infallible");
    let status = resp.status();
    if verbose() {
        let page =
            f.rt.block_on(axum::body::to_bytes(resp.into_body(), 1 << 20))
                .unwrap_or_default();
        let page = String::from_utf8_lossy(&page);
        let title = page
            .split_once("<h1")
            .and_then(|(_, t)| t.split_once('>'))
            .and_then(|(_, t)| t.split_once('<'))
            .map_or("", |(t, _)| t);
        eprintln!("POST /submit -> {status}: {title}");
    }
    assert!(
        ALLOWED.contains(&status.as_u16()),
        "POST /submit answered {status}"
    );
    let left: Vec<_> = std::fs::read_dir(f.data.join("staging"))
        .expect("staging exists")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.is_empty(),
        "staging not empty after {status}: {left:?}"
    );
    if status == StatusCode::OK {
        remove_submissions(&f.data);
    }
});
