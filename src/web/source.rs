//! The source's code pages: get a code, log in with it, delete a reply, log out.
//!
//! A code is turned into keys only here, through the bounded [`crate::source_key::Deriver`].
//! At login the identity decrypts the source's replies in memory for this one response and is
//! then dropped; the session keeps only the lookup id and the public recipient. A code that is
//! well formed but opens nothing gets one answer, whatever went wrong; typed text that cannot be
//! a code (a word in neither public list, a word missing) is told what to fix.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Form};
use serde::Deserialize;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::pages::{visit, Chrome, FormLimits, LoginPage, Notice, Visit};
use super::session::{clear_cookie, SourceRef};
use super::{AppState, Circuit};
use crate::code::{self, Code};
use crate::i18n::Tr;
use crate::source_key::{DeriveError, InternalError, Purpose, SourceKeys};
use crate::store::{Store, StoreError};
use crate::{padding, seal};
use lanterne_core::limits;

#[derive(Template)]
#[template(path = "code.html")]
struct CodePage<'a> {
    t: Tr,
    c: Chrome,
    code: &'a str,
    form: FormLimits,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    t: Tr,
    c: Chrome,
    replies: Vec<ReplyView>,
    unreadable: u64,
    form: FormLimits,
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage {
    t: Tr,
    c: Chrome,
}

struct ReplyView {
    id: String,
    text: Zeroizing<String>,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reply: String,
}

/// A form that carries a CSRF token.
pub trait HasCsrf {
    fn csrf(&self) -> &str;
}

impl HasCsrf for CsrfForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
impl HasCsrf for LoginForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
impl HasCsrf for DeleteForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Checks a POST: a live session and its CSRF token. On failure, a page that says what to do.
pub fn post_visit(state: &AppState, headers: &HeaderMap, csrf: &str) -> Result<Visit, Response> {
    let had_session = state.sessions.get(headers).is_some();
    let v = visit(state, headers, None)?;
    if !had_session {
        return Err(v.notice(Notice::SessionEnded));
    }
    if !v.active.session.csrf_ok(csrf) {
        return Err(v.notice(Notice::CsrfExpired));
    }
    Ok(v)
}

/// Reads a urlencoded form and checks it like [`post_visit`].
fn checked<F: HasCsrf>(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<Form<F>, FormRejection>,
) -> Result<(Visit, F), Response> {
    let Ok(Form(form)) = form else {
        return Err(visit(state, headers, None)?.notice(Notice::BadForm));
    };
    Ok((post_visit(state, headers, form.csrf())?, form))
}

fn derive_failed(v: &Visit, e: &DeriveError) -> Response {
    match e {
        DeriveError::RateLimited => v.notice(Notice::RateLimited),
        DeriveError::Busy => v.notice(Notice::Busy),
        DeriveError::Internal(cause) => {
            tracing::error!(error = %cause, "key derivation failed");
            v.notice(Notice::Internal)
        }
    }
}

/// Asks the request's rendezvous circuit (none on loopback) for one derivation of `purpose`:
/// the per-circuit budget comes before the global one. Over it, the page says to wait and the
/// circuit is closed (see [`Circuit`]).
fn over_circuit_budget(
    v: &Visit,
    circuit: Option<Extension<Circuit>>,
    purpose: Purpose,
) -> Option<Response> {
    let Extension(circuit) = circuit?;
    (!circuit.allow(purpose)).then(|| v.notice(Notice::RateLimited))
}

/// Replaces the visit's session with a fresh one for `source` (a new cookie after login).
fn rotate(state: &AppState, v: &mut Visit, source: SourceRef) -> Result<(), Response> {
    state.sessions.remove(&v.active.token);
    let active = state.sessions.create(Some(source));
    v.cookies.push(active.cookie());
    v.active = active;
    Ok(())
}

/// POST /code: draws a new code, derives its keys, shows the code once.
pub async fn new_code(
    State(state): State<AppState>,
    circuit: Option<Extension<Circuit>>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let mut v = match checked(&state, &headers, form) {
        Ok((v, _)) => v,
        Err(r) => return r,
    };
    if let Some(r) = over_circuit_budget(&v, circuit, Purpose::NewCode) {
        return r;
    }
    let code = Code::generate(v.lang);
    let keys = match code.normalized() {
        Ok(normalized) => state.deriver.derive(normalized, Purpose::NewCode).await,
        Err(e) => Err(InternalError::Code(e).into()),
    };
    let keys = match keys {
        Ok(k) => k,
        Err(e) => return derive_failed(&v, &e),
    };
    let source = SourceRef {
        lookup: keys.lookup,
        recipient: keys.recipient().to_string(),
    };
    drop(keys);
    if let Err(r) = rotate(&state, &mut v, source) {
        return r;
    }
    tracing::debug!("new code issued");
    let page = CodePage {
        t: v.tr(),
        // No language switch here: following it would lose the code, shown only once.
        c: v.chrome(""),
        code: code.as_str(),
        form: FormLimits::of(&state, v.lang),
    };
    v.render(StatusCode::OK, &page)
}

/// POST /login: a code in, the source's replies out, or the generic failure.
pub async fn login(
    State(state): State<AppState>,
    circuit: Option<Extension<Circuit>>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let (mut v, form) = match checked(&state, &headers, form) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Some(r) = over_circuit_budget(&v, circuit, Purpose::Login) {
        return r;
    }
    let refused = |v: &Visit, why: String| {
        let page = LoginPage {
            t: v.tr(),
            c: v.chrome("/login"),
            failed: Some(why),
        };
        v.render(StatusCode::FORBIDDEN, &page)
    };
    let failed = |v: &Visit| refused(v, v.tr().get("login-failed"));
    // Input that cannot be a code skips the costly derivation, and the source is told what to
    // fix: the lists are public, so this tells nobody anything about any code.
    let normalized = match code::normalize_for(&form.code, state.lists) {
        Ok(n) => n,
        Err(e) => return refused(&v, not_a_code(&v, &e, &form.code)),
    };
    drop(form);
    let keys = match state.deriver.derive(normalized, Purpose::Login).await {
        Ok(k) => k,
        Err(e) => return derive_failed(&v, &e),
    };
    let lookup = keys.lookup;
    let recipient = match state.store.source_recipient(&lookup) {
        Ok(Some(r)) => r,
        Ok(None) => return failed(&v),
        Err(e) => {
            tracing::error!(error = %e, "cannot read a source folder");
            return failed(&v);
        }
    };
    let store = state.store.clone();
    let read = tokio::task::spawn_blocking(move || read_replies(&store, &keys)).await;
    let (replies, unreadable) = read.unwrap_or_else(|e| {
        tracing::error!(error = %e, "reading replies failed");
        (Vec::new(), 0)
    });
    if let Err(r) = rotate(&state, &mut v, SourceRef { lookup, recipient }) {
        return r;
    }
    let page = InboxPage {
        t: v.tr(),
        c: v.chrome("/submit"),
        replies,
        unreadable,
        form: FormLimits::of(&state, v.lang),
    };
    v.render(StatusCode::OK, &page)
}

/// What a source who typed something that cannot be a code is told: the word that is in neither
/// list, with its place, or how many words a code has. The word goes only into this answer
/// (escaped by the template), never into a log.
fn not_a_code(v: &Visit, e: &code::CodeError, typed: &str) -> String {
    let t = v.tr();
    match e {
        code::CodeError::UnknownWord(place) => {
            // A word longer than any in the lists is cut: the page echoes a typo, not a paste.
            let word: String = typed
                .split_whitespace()
                .nth(place.saturating_sub(1))
                .unwrap_or_default()
                .chars()
                .take(30)
                .collect();
            let mut args = fluent_bundle::FluentArgs::new();
            args.set("word", word);
            args.set("place", *place as u64);
            t.with("login-unknown-word", &args)
        }
        code::CodeError::WrongWordCount | code::CodeError::TooLong => {
            t.count("login-word-count", "words", &(code::WORDS as u64))
        }
    }
}

/// Decrypts every reply of a source in memory. The keys are dropped (zeroized) on return.
fn read_replies(store: &Store, keys: &SourceKeys) -> (Vec<ReplyView>, u64) {
    let mut views = Vec::new();
    let mut unreadable = 0;
    for id in store.replies(&keys.lookup).unwrap_or_default() {
        let text = store
            .read_reply(&keys.lookup, &id, limits::MAX_REPLY_CIPHERTEXT_BYTES)
            .ok()
            .and_then(|ct| seal::open_small(&ct, &keys.identity, limits::MAX_REPLY_BYTES).ok());
        match text {
            Some(bytes) => views.push(ReplyView {
                id,
                text: Zeroizing::new(
                    String::from_utf8_lossy(padding::unpad_text(&bytes)).into_owned(),
                ),
            }),
            None => unreadable += 1,
        }
    }
    (views, unreadable)
}

/// POST /reply/delete: removes one of the source's replies.
pub async fn delete_reply(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<DeleteForm>, FormRejection>,
) -> Response {
    let (v, form) = match checked(&state, &headers, form) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(source) = v.active.session.source.clone() else {
        return v.notice(Notice::SessionEnded);
    };
    match state.store.delete_reply(&source.lookup, &form.reply) {
        Ok(true) => v.notice(Notice::ReplyDeleted),
        Ok(false) => v.notice(Notice::ReplyMissing),
        Err(StoreError::BadId { .. }) => v.notice(Notice::BadForm),
        Err(e) => {
            tracing::error!(error = %e, "deleting a reply failed");
            v.notice(Notice::Internal)
        }
    }
}

/// POST /logout: ends the session and explains how to leave no trace in the browser.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let mut v = match checked(&state, &headers, form) {
        Ok((v, _)) => v,
        Err(r) => return r,
    };
    state.sessions.remove(&v.active.token);
    v.cookies = vec![clear_cookie()];
    v.active.session.source = None;
    let page = LogoutPage {
        t: v.tr(),
        c: v.chrome("/"),
    };
    v.render(StatusCode::OK, &page)
}
