//! POST /submit: the multipart form, streamed into [`crate::ingest`].
//!
//! The form's first field must be the CSRF token, so a forged request is refused before any
//! file byte is read. Then each `files` part is streamed chunk by chunk into the ingest (which
//! encrypts as it goes), and the `message` part is read with a hard cap. Any failure drops the
//! ingest, which removes every partial ciphertext; "received" is shown only after the commit
//! made the submission durable.
//!
//! Time limits keep a crowd of trickling uploads from holding every connection, while a slow
//! but live Tor upload (20 KB/s) always finishes. The CSRF token must arrive within the head
//! deadline (`header_timeout_secs`); after that, the upload is [`Pace`]d: never silent longer
//! than `upload_idle_timeout_secs`, and after `upload_grace_secs` at least
//! `upload_min_bytes_per_sec` on average since it started.

use std::future::Future;
use std::time::{Duration, Instant};

use askama::Template;
use axum::body::Bytes;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use zeroize::Zeroizing;

use super::pages::{Chrome, FormLimits, Notice, Visit};
use super::source::post_visit;
use super::{AppState, Circuit};
use crate::i18n::Tr;
use crate::ingest::{Ingest, IngestError};

#[derive(Template)]
#[template(path = "submitted.html")]
struct SubmittedPage {
    t: Tr,
    c: Chrome,
    files: u64,
    message: bool,
}

/// Why reading the form stopped, besides the ingest's own errors.
enum Stop {
    Ingest(IngestError),
    Multipart(MultipartError),
    Idle,
    TooSlow,
    BadField,
    BadText,
}

impl From<IngestError> for Stop {
    fn from(e: IngestError) -> Self {
        Stop::Ingest(e)
    }
}

impl From<MultipartError> for Stop {
    fn from(e: MultipartError) -> Self {
        Stop::Multipart(e)
    }
}

/// The pace an upload must keep, and what it has received so far.
struct Pace {
    start: Instant,
    received: u64,
    idle: Duration,
    grace: Duration,
    min_rate: u64,
    /// Over the onion, the upload's circuit: told when the upload is ended for being slow.
    circuit: Option<Circuit>,
}

impl Pace {
    fn new(state: &AppState, circuit: Option<Circuit>) -> Pace {
        let http = &state.config.http;
        Pace {
            start: Instant::now(),
            received: 0,
            idle: http.upload_idle_timeout(),
            grace: http.upload_grace(),
            min_rate: http.upload_min_bytes_per_sec.max(1),
            circuit,
        }
    }

    /// How long the next piece may take, and why the upload ends if it takes longer: the
    /// average rate must not fall under `min_rate` once the grace period is over.
    fn allowance(&self) -> (Duration, Stop) {
        let due = Duration::try_from_secs_f64(self.received as f64 / self.min_rate as f64)
            .unwrap_or(Duration::MAX)
            .max(self.grace);
        let by_rate = self.start.checked_add(due).map_or(Duration::MAX, |t| {
            t.saturating_duration_since(Instant::now())
        });
        if by_rate < self.idle {
            (by_rate, Stop::TooSlow)
        } else {
            (self.idle, Stop::Idle)
        }
    }

    /// Awaits `fut` within the allowance.
    async fn within<T>(
        &self,
        fut: impl Future<Output = Result<T, MultipartError>>,
    ) -> Result<T, Stop> {
        let (limit, stop) = self.allowance();
        match tokio::time::timeout(limit, fut).await {
            Ok(r) => r.map_err(Stop::Multipart),
            Err(_) => {
                if let Some(c) = &self.circuit {
                    c.slow_stream();
                }
                Err(stop)
            }
        }
    }

    /// The next chunk of `field`, counted.
    async fn chunk(&mut self, field: &mut Field<'_>) -> Result<Option<Bytes>, Stop> {
        let chunk = self.within(field.chunk()).await?;
        if let Some(c) = &chunk {
            self.received = self.received.saturating_add(c.len() as u64);
        }
        Ok(chunk)
    }
}

/// Reads the CSRF part, which must come first and arrive within the head deadline.
async fn read_csrf(
    multipart: &mut Multipart,
    pace: &mut Pace,
    deadline: Duration,
) -> Result<Zeroizing<String>, Stop> {
    let read = async {
        match pace.within(multipart.next_field()).await? {
            Some(field) if field.name() == Some("csrf") => read_text(field, pace, 256).await,
            _ => Ok(Zeroizing::new(String::new())),
        }
    };
    tokio::time::timeout(deadline, read)
        .await
        .unwrap_or(Err(Stop::Idle))
}

pub async fn submit(
    State(state): State<AppState>,
    circuit: Option<Extension<Circuit>>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let mut pace = Pace::new(&state, circuit.map(|Extension(c)| c));
    let Ok(mut multipart) = multipart else {
        return fail_page(&state, &headers, Stop::BadField);
    };
    // A declared length over the cap is refused before reading anything.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let cap = state.config.limits.max_submission_bytes;
    if declared.is_some_and(|n| n > cap.saturating_add(1 << 20)) {
        return fail_page(&state, &headers, Stop::Ingest(IngestError::TooLarge(cap)));
    }

    // The CSRF token comes first.
    let deadline = state.config.http.header_timeout();
    let csrf = match read_csrf(&mut multipart, &mut pace, deadline).await {
        Ok(s) => s,
        Err(stop) => return fail_page(&state, &headers, stop),
    };
    let v = match post_visit(&state, &headers, &csrf) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(source) = v.active.session.source.clone() else {
        return v.notice(Notice::SessionEnded);
    };

    let ingest = match Ingest::new(
        state.store.clone(),
        state.recipients.clone(),
        state.config.limits.clone(),
    ) {
        Ok(i) => i,
        Err(e) => return stop_page(&state, &v, Stop::Ingest(e)),
    };
    let ingest = match receive(ingest, &mut multipart, &state, &mut pace).await {
        Ok(i) => i,
        Err(stop) => {
            if matches!(stop, Stop::Ingest(_) | Stop::BadText) {
                drain(&mut multipart, &mut pace).await;
            }
            return stop_page(&state, &v, stop);
        }
    };
    match ingest.commit(source.lookup, source.recipient).await {
        Ok(receipt) => {
            tracing::debug!(files = receipt.files, "submission stored");
            let page = SubmittedPage {
                t: v.tr(),
                c: v.chrome("/submit"),
                files: receipt.files as u64,
                message: receipt.message,
            };
            v.render(StatusCode::OK, &page)
        }
        Err(e) => stop_page(&state, &v, Stop::Ingest(e)),
    }
}

/// How much of a refused upload's remaining body is read and dropped, so that a client still
/// sending gets to read the answer rather than a reset connection. Beyond this, it is cut off.
const DRAIN_BYTES: usize = 16 * 1024 * 1024;

/// Reads and drops what is left of a refused upload, up to [`DRAIN_BYTES`], at the same pace.
async fn drain(multipart: &mut Multipart, pace: &mut Pace) {
    let mut left = DRAIN_BYTES;
    while let Ok(Some(mut field)) = pace.within(multipart.next_field()).await {
        while let Ok(Some(chunk)) = pace.chunk(&mut field).await {
            left = left.saturating_sub(chunk.len());
            if left == 0 {
                return;
            }
        }
    }
}

/// Reads every remaining part into the ingest.
async fn receive(
    mut ingest: Ingest,
    multipart: &mut Multipart,
    state: &AppState,
    pace: &mut Pace,
) -> Result<Ingest, Stop> {
    // UTF-8 takes at most 4 bytes a character; the ingest then counts characters exactly.
    let message_cap = state.config.limits.max_message_chars.saturating_mul(4);
    while let Some(mut field) = pace.within(multipart.next_field()).await? {
        match field.name() {
            Some("files") => {
                // Browsers always send a `filename` (empty when no file was chosen); a part
                // without one, or with one that is not UTF-8, is forged.
                let Some(name) = field.file_name().map(str::to_owned) else {
                    return Err(Stop::BadField);
                };
                let ctype = field.content_type().unwrap_or("").to_owned();
                // A browser sends a bare file name. Separators, NUL or control characters mean
                // a forged request: refuse it rather than carry the name to a reviewer.
                if !plain_name(&name) || ctype.chars().any(char::is_control) {
                    return Err(Stop::BadField);
                }
                let mut started = false;
                while let Some(chunk) = pace.chunk(&mut field).await? {
                    // The multipart reader can hand over an empty chunk (it does for the
                    // empty part of a file input left empty): it starts no file.
                    if chunk.is_empty() {
                        continue;
                    }
                    if !started {
                        ingest.begin_file(&name, &ctype).await?;
                        started = true;
                    }
                    ingest.write(chunk).await?;
                }
                // A browser sends an empty, nameless part when no file was chosen: no file.
                // An empty file the source chose has its name, and is kept.
                if !started && !name.is_empty() {
                    ingest.begin_file(&name, &ctype).await?;
                    started = true;
                }
                if started {
                    ingest.end_file().await?;
                }
            }
            Some("message") => {
                let text = read_text(field, pace, message_cap).await?;
                ingest.set_message(text)?;
            }
            _ => return Err(Stop::BadField),
        }
    }
    Ok(ingest)
}

/// Whether a part's file name is one a browser could send: no path, no control characters.
fn plain_name(name: &str) -> bool {
    !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
        && name != ".."
        && name != "."
}

/// Reads a text part of at most `cap` bytes into a zeroizing string.
async fn read_text(
    mut field: Field<'_>,
    pace: &mut Pace,
    cap: usize,
) -> Result<Zeroizing<String>, Stop> {
    let mut buf = Zeroizing::new(Vec::new());
    while let Some(chunk) = pace.chunk(&mut field).await? {
        if buf.len() + chunk.len() > cap {
            return Err(Stop::BadText);
        }
        buf.extend_from_slice(&chunk);
    }
    let text = std::str::from_utf8(&buf).map_err(|_| Stop::BadText)?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// A failure before the session was checked.
fn fail_page(state: &AppState, headers: &HeaderMap, stop: Stop) -> Response {
    match super::pages::visit(state, headers, None) {
        Ok(v) => stop_page(state, &v, stop),
        Err(r) => r,
    }
}

/// The page for a stopped upload. Nothing of it was kept.
fn stop_page(state: &AppState, v: &Visit, stop: Stop) -> Response {
    use IngestError as E;
    let notice = match stop {
        Stop::Ingest(E::TooLarge(_)) => Notice::TooLarge,
        Stop::Ingest(E::TooManyFiles(_)) => Notice::TooManyFiles,
        Stop::Ingest(E::MessageTooLong(_)) | Stop::BadText => Notice::MessageTooLong,
        Stop::Ingest(E::Empty) => Notice::Empty,
        Stop::Ingest(E::DiskFull) => {
            tracing::error!("disk full: a submission was refused");
            Notice::DiskFull
        }
        Stop::Ingest(E::Io(e)) => {
            tracing::error!(error = %e, "storage error during a submission");
            Notice::Internal
        }
        Stop::Multipart(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Notice::TooLarge,
        Stop::Multipart(_) | Stop::BadField => Notice::BadForm,
        Stop::Idle => Notice::Idle,
        Stop::TooSlow => Notice::TooSlow,
    };
    v.notice_with(notice, Some(&FormLimits::of(state, v.lang)))
}
