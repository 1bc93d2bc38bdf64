//! The reviewer API: a separate listener (default 127.0.0.1:8081), never on the sources' onion.
//!
//! Reviewer workstations fetch ciphertext with it and push replies that were encrypted and
//! signed offline; nothing here decrypts anything, and a reply is stored only with a valid
//! signature by a reviewer's card in the keys dir (checked by [`crate::reply`], which holds the
//! crypto; this module only speaks HTTP). Every request must carry a valid credential
//! ([`crate::credentials`]); a bad one gets 401 and no data, and too many failures in a minute
//! with one token make requests with that name and token answer 429 until the minute is over
//! (counted per presented token, so bad tokens sent with a reviewer's name never lock out the
//! workstation that holds the good one; unknown names share one budget). Sources are named by designation,
//! derived from each source's recipient ([`crate::designation::of_recipient`]); the lookup id
//! never leaves the server. See [`crate::api`] for the
//! routes and their JSON.
//!
//! Deletion is bounded (issue 12): what each credential is served of each file is counted
//! ([`super::served`]), and an ack naming a submission the credential was not served every byte
//! of is refused as a whole (403, nothing deleted) and recorded as a refused ack under the
//! credential's name. Every deletion, by an ack or by retention, is recorded before the files
//! go; the index lists the records after the reviewer's cursor ([`crate::store::AckOutcome`]).
//!
//! The index also lists each source's replies after the cursor (issue 14), and a workstation
//! fetches each with its signature, so the offline machine shows what the team already said
//! and checks who said it against its own pins. Acks never delete replies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use tower_http::services::ServeFile;
use tower_http::set_header::SetResponseHeaderLayer;

use super::AppState;
use crate::api;
use crate::designation;
use crate::source_key::LookupId;
use crate::store::{AckOutcome, Pushed, Served, StoreError};

/// The credential a request was authenticated with: its name (in deletion records and
/// messages) and the name its served counts are kept under ([`crate::credentials::served_as`]).
#[derive(Clone)]
struct Reviewer {
    name: String,
    served_as: String,
}

/// Most (name, token) pairs tracked at once. Only registered names are tracked; past it (after
/// dropping ended windows), a pair's failures count in the shared budget of unknown names,
/// which a good token never needs, since it never fails.
const MAX_TRACKED_NAMES: usize = 1024;

/// Whose budget a failed check is counted in.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Presented {
    /// A registered reviewer's name and the SHA-256 of the token presented with it (a hash,
    /// so that no presented secret stays in memory).
    Reviewer(String, [u8; 32]),
    /// Any name that is not registered, a malformed header, or none: one budget for all of
    /// them, so endless invented names cannot grow the map.
    Unknown,
}

/// Counts failed credential checks per presented name and token in fixed one-minute windows,
/// so bad requests for one name (or for invented names) never lock out a reviewer's good
/// token.
struct Failures {
    windows: Mutex<HashMap<Presented, (Instant, u32)>>,
    limit: u32,
}

const WINDOW: Duration = Duration::from_secs(60);

impl Failures {
    fn new(limit: u32) -> Failures {
        Failures {
            windows: Mutex::new(HashMap::new()),
            limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Presented, (Instant, u32)>> {
        // Each update is a single insert or increment: a poisoned map is still consistent.
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn blocked(&self, who: &Presented) -> bool {
        self.lock()
            .get(who)
            .is_some_and(|w| w.0.elapsed() < WINDOW && w.1 >= self.limit)
    }

    fn record(&self, mut who: Presented) {
        let mut map = self.lock();
        if !map.contains_key(&who) && map.len() >= MAX_TRACKED_NAMES {
            map.retain(|_, w| w.0.elapsed() < WINDOW);
            if map.len() >= MAX_TRACKED_NAMES {
                who = Presented::Unknown;
            }
        }
        let w = map.entry(who).or_insert((Instant::now(), 0));
        if w.0.elapsed() >= WINDOW {
            *w = (Instant::now(), 0);
        }
        w.1 = w.1.saturating_add(1);
    }
}

#[derive(Clone)]
struct ReviewerState {
    app: AppState,
    failures: Arc<Failures>,
}

/// The reviewer API's routes.
pub fn router(app: AppState) -> Router {
    let cfg = &app.config.reviewer;
    // One limit with the offline side: a reply `review reply` writes fits, one the source's
    // page could not show does not.
    let reply_cap =
        usize::try_from(lanterne_core::limits::MAX_REPLY_CIPHERTEXT_BYTES).unwrap_or(usize::MAX);
    let state = ReviewerState {
        failures: Arc::new(Failures::new(cfg.auth_failures_per_minute)),
        app,
    };
    Router::new()
        .route(api::path::INDEX, get(index))
        .route(api::path::FILE, get(file))
        .route(api::path::REPLY, get(reply))
        .route(api::path::ACK, post(ack))
        .route(
            api::path::REPLIES,
            post(push).layer(DefaultBodyLimit::max(reply_cap)),
        )
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(state)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, format!("{message}\n")).into_response()
}

/// Checks `Authorization: Bearer <name>:<token>` before any handler runs.
async fn authenticate(State(s): State<ReviewerState>, req: Request, next: Next) -> Response {
    let root = s.app.store.root();
    let presented = credential(req.headers());
    let who = match &presented {
        Some((name, token)) if crate::credentials::exists(root, name) => {
            Presented::Reviewer(name.clone(), Sha256::digest(token.as_bytes()).into())
        }
        _ => Presented::Unknown,
    };
    if s.failures.blocked(&who) {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed attempts with this credential; wait a minute",
        );
    }
    let reviewer = presented
        .filter(|(name, token)| crate::credentials::verify(root, name, token))
        .map(|(name, token)| Reviewer {
            served_as: crate::credentials::served_as(&name, &token),
            name,
        });
    let Some(reviewer) = reviewer else {
        s.failures.record(who);
        tracing::warn!("reviewer API: a request with a bad credential was refused");
        return error(StatusCode::UNAUTHORIZED, "bad credential");
    };
    let mut req = req;
    req.extensions_mut().insert(reviewer);
    next.run(req).await
}

fn credential(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (name, token) = value.strip_prefix("Bearer ")?.split_once(':')?;
    Some((name.to_owned(), token.to_owned()))
}

/// Every source by designation, derived from its stored recipient
/// ([`designation::of_recipient`]), so the offline machine can check the pairing. A
/// designation shared by two sources maps to both, and the handlers refuse to act on it; a
/// source folder without a recipient (removed since the listing) is left out.
fn designations(app: &AppState) -> std::io::Result<HashMap<String, Vec<LookupId>>> {
    let mut map: HashMap<String, Vec<LookupId>> = HashMap::new();
    for lookup in app.store.sources()? {
        if let Some(name) = app.store.designation(&lookup)? {
            map.entry(name).or_default().push(lookup);
        }
    }
    Ok(map)
}

fn resolve(app: &AppState, name: &str) -> Result<LookupId, Response> {
    let map =
        designations(app).map_err(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "storage error"))?;
    lookup_in(&map, name)?.ok_or_else(|| error(StatusCode::NOT_FOUND, "no such source"))
}

/// The source a designation names in `map`, `None` if there is none; refuses a malformed or
/// ambiguous one.
fn lookup_in(
    map: &HashMap<String, Vec<LookupId>>,
    name: &str,
) -> Result<Option<LookupId>, Response> {
    if !designation::is_valid(name) {
        return Err(error(StatusCode::BAD_REQUEST, "bad designation"));
    }
    match map.get(name).map(Vec::as_slice) {
        Some([one]) => Ok(Some(*one)),
        Some(_) => Err(error(StatusCode::CONFLICT, "ambiguous designation")),
        None => Ok(None),
    }
}

#[derive(Deserialize)]
struct After {
    #[serde(default)]
    after: u64,
}

async fn index(
    State(s): State<ReviewerState>,
    Extension(who): Extension<Reviewer>,
    Query(q): Query<After>,
) -> Response {
    let app = s.app.clone();
    let built =
        tokio::task::spawn_blocking(move || build_index(&app, &who.served_as, q.after)).await;
    match built {
        Ok(Ok(index)) => Json(index).into_response(),
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "could not list submissions",
        ),
    }
}

/// Names with their sequence numbers, as the store lists them.
type Numbered = Vec<(String, u64)>;

/// The index after `after`, with the counts served to the credential kept as `who`.
fn build_index(app: &AppState, who: &str, after: u64) -> Result<api::Index, StoreError> {
    let mut index = api::Index {
        next: after,
        reviewers: app.recipients.names().to_vec(),
        sources: Vec::new(),
        deletions: Vec::new(),
    };
    // The listing stops below any commit in flight, so `next`, the highest number listed,
    // never passes a submission or reply that has not landed yet. The deletion records stop at
    // the same number: `next` may not pass a record that is not listed either.
    let upto = app.store.settled();
    let listing = app.store.listing_upto(after, upto)?;
    let mut replies: HashMap<LookupId, Vec<(String, u64)>> =
        app.store.replies_upto(after, upto)?.into_iter().collect();
    // Sources with new submissions, then those with only new replies.
    let mut by_source: Vec<(LookupId, Numbered, Numbered)> = listing
        .into_iter()
        .map(|(lookup, subs)| {
            let r = replies.remove(&lookup).unwrap_or_default();
            (lookup, subs, r)
        })
        .collect();
    by_source.extend(replies.into_iter().map(|(l, r)| (l, Vec::new(), r)));
    let map = designations(app)?;
    for (lookup, ids, reply_ids) in by_source {
        let Some(recipient) = app.store.source_recipient(&lookup)? else {
            continue; // expired since the listing
        };
        let name = designation::of_recipient(&recipient);
        match map.get(&name).map_or(0, Vec::len) {
            1 => {}
            0 => continue, // expired since the listing
            _ => {
                tracing::error!("two sources share a designation; skipping them in the index");
                continue;
            }
        }
        let mut submissions = Vec::new();
        for (id, seq) in ids {
            let files = match app.store.submission_files(&lookup, &id) {
                Ok(files) => files,
                // Deleted (acked by another workstation) since the listing.
                Err(StoreError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let files = files
                .into_iter()
                .map(|f| api::File {
                    served: app.store.served_count(&Served {
                        credential: who.to_owned(),
                        lookup,
                        submission: id.clone(),
                        file: f.name.clone(),
                    }),
                    name: f.name,
                    size: f.size,
                    sha256: f.sha256,
                })
                .collect();
            index.next = index.next.max(seq);
            submissions.push(api::Submission { id, seq, files });
        }
        let mut listed_replies = Vec::new();
        for (id, seq) in reply_ids {
            let cap = lanterne_core::limits::MAX_REPLY_CIPHERTEXT_BYTES;
            let ciphertext = match app.store.read_reply(&lookup, &id, cap) {
                Ok(c) => c,
                // Deleted by the source since the listing: its number is passed all the same.
                Err(StoreError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    index.next = index.next.max(seq);
                    continue;
                }
                Err(e) => return Err(e),
            };
            index.next = index.next.max(seq);
            listed_replies.push(api::Reply {
                size: ciphertext.len() as u64,
                sha256: hex::encode(Sha256::digest(&ciphertext)),
                id,
                seq,
            });
        }
        listed_replies.sort_by_key(|r| r.seq);
        if !submissions.is_empty() || !listed_replies.is_empty() {
            index.sources.push(api::Source {
                designation: name,
                recipient,
                submissions,
                replies: listed_replies,
            });
        }
    }
    index
        .sources
        .sort_by(|a, b| a.designation.cmp(&b.designation));
    index.deletions = app.store.deletions_between(after, upto)?;
    if let Some(last) = index.deletions.last() {
        index.next = index.next.max(last.seq);
    }
    Ok(index)
}

/// One stored reply, with its signature in the [`api::SIGNATURE_HEADER`] header (as it was
/// pushed), for a workstation's fetch. Nothing is counted or deleted: replies stay until the
/// source deletes them or retention does.
async fn reply(
    State(s): State<ReviewerState>,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    let lookup = match resolve(&s.app, &name) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let store = s.app.store.clone();
    let read = tokio::task::spawn_blocking(move || store.reply_with_signature(&lookup, &id)).await;
    match read {
        Ok(Ok((ciphertext, signature))) => {
            let mut resp = ciphertext.into_response();
            let headers = resp.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            if let Ok(v) = HeaderValue::from_str(&api::encode_signature(&signature)) {
                if !signature.is_empty() {
                    headers.insert(api::SIGNATURE_HEADER, v);
                }
            }
            resp
        }
        Ok(Err(StoreError::BadId { .. })) => error(StatusCode::BAD_REQUEST, "bad reply id"),
        Ok(Err(StoreError::Io(e))) if e.kind() == std::io::ErrorKind::NotFound => {
            error(StatusCode::NOT_FOUND, "no such reply")
        }
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, "read error"),
    }
}

async fn file(
    State(s): State<ReviewerState>,
    Extension(who): Extension<Reviewer>,
    Path((name, id, file)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    let lookup = match resolve(&s.app, &name) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let Some(path) = s.app.store.submission_file(&lookup, &id, &file) else {
        return error(StatusCode::BAD_REQUEST, "bad file name");
    };
    let size = match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => m.len(),
        _ => return error(StatusCode::NOT_FOUND, "no such file"),
    };
    let key = Served {
        credential: who.served_as,
        lookup,
        submission: id,
        file,
    };
    // tower-http's ServeFile streams the file and answers Range requests, so an interrupted
    // download resumes where it stopped; what it hands out counts for this credential.
    match ServeFile::new(path).oneshot(req).await {
        Ok(resp) => super::served::count(resp.into_response(), s.app.store.clone(), key, size),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "read error"),
    }
}

async fn ack(
    State(s): State<ReviewerState>,
    Extension(Reviewer {
        name: who,
        served_as,
    }): Extension<Reviewer>,
    Json(body): Json<api::Ack>,
) -> Response {
    let Ok(map) = designations(&s.app) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "storage error");
    };
    let mut which = Vec::with_capacity(body.submissions.len());
    for item in body.submissions {
        match lookup_in(&map, &item.designation) {
            Ok(Some(lookup)) => which.push((lookup, item.id)),
            // The source's folder expired, with everything it held: nothing left to delete.
            // (Refusing would leave a workstation's pending ack failing for ever.)
            Ok(None) => {}
            Err(r) => return r,
        }
    }
    let store = s.app.store.clone();
    let by = who.clone();
    let done = tokio::task::spawn_blocking(move || {
        let which: Vec<(LookupId, &str)> = which.iter().map(|(l, id)| (*l, id.as_str())).collect();
        store.ack(&by, &served_as, &which)
    })
    .await;
    match done {
        Ok(Ok(AckOutcome::Deleted(deleted))) => {
            tracing::debug!(deleted, "submissions deleted after a confirmed fetch");
            Json(api::AckDone { deleted }).into_response()
        }
        Ok(Ok(AckOutcome::Refused(refused))) => {
            tracing::debug!(
                refused = refused.len(),
                "an ack of submissions not fetched in full was refused"
            );
            let refused: Vec<api::AckItem> = refused
                .into_iter()
                .map(|(designation, id)| api::AckItem { designation, id })
                .collect();
            let message = format!(
                "ack refused, nothing deleted: credential {who} was not served every byte of \
                 {} of the submissions it named; the refusal is recorded",
                refused.len()
            );
            (
                StatusCode::FORBIDDEN,
                Json(api::AckRefused { refused, message }),
            )
                .into_response()
        }
        Ok(Err(StoreError::BadId { .. })) => error(StatusCode::BAD_REQUEST, "bad submission id"),
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, "could not delete"),
    }
}

/// Stores a reply only if it carries a valid signature, for this source and its stored
/// recipient, by a reviewer whose card is in the keys dir ([`crate::reply::verify`]); anything
/// else is refused with 422 and nothing is stored, so a source never sees it. A reply whose
/// signed id this source already stored once (even if deleted since) is refused with 409,
/// storing and touching nothing. The signature is stored beside the reply.
async fn push(
    State(s): State<ReviewerState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lookup = match resolve(&s.app, &name) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let signature = match headers.get(api::SIGNATURE_HEADER) {
        None => Vec::new(),
        Some(v) => match v.to_str().ok().and_then(api::decode_signature) {
            Some(sig) => sig,
            None => {
                return refuse_reply(&crate::reply::ReplyError::BadSignatureFile);
            }
        },
    };
    let recipient = match s.app.store.source_recipient(&lookup) {
        Ok(Some(r)) => r,
        Ok(None) => return error(StatusCode::NOT_FOUND, "no such source"),
        Err(_) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not read the source",
            )
        }
    };
    let reply_id = match crate::reply::verify(
        &body,
        &signature,
        &name,
        &recipient,
        s.app.recipients.reviewers(),
    ) {
        Ok(v) => v.signed.id,
        Err(why) => return refuse_reply(&why),
    };
    let store = s.app.store.clone();
    let id = reply_id.clone();
    match tokio::task::spawn_blocking(move || store.put_reply(&lookup, &body, &signature, &id))
        .await
    {
        Ok(Ok(Pushed::Stored(id))) => {
            tracing::debug!("reply stored");
            Json(api::Pushed { id }).into_response()
        }
        Ok(Ok(Pushed::Again)) => {
            tracing::warn!("reviewer API: a reply already stored once was pushed again");
            error(
                StatusCode::CONFLICT,
                &format!(
                    "reply refused: this reply (id {reply_id}) was already stored for this \
                     source once, and a reply is delivered once, never again (even after the \
                     source deleted it); nothing was stored"
                ),
            )
        }
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "could not store the reply",
        ),
    }
}

/// 422 for a reply that is not stored, with why.
fn refuse_reply(why: &crate::reply::ReplyError) -> Response {
    tracing::warn!("reviewer API: a pushed reply was refused: {why}");
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        &format!("reply refused: {why}"),
    )
}
