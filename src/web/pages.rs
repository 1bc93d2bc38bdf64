//! Page rendering: the askama templates, the language and session every page carries, and the
//! pages that only display (landing, forms, errors, the stylesheet).
//!
//! Templates live in `templates/` and hold no text of their own: every string comes from the
//! catalogue through `t.get(...)`. No template contains a script.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::session::{cookie_value, Active};
use super::AppState;
use fluent_bundle::FluentArgs;

use crate::i18n::{size_text, Lang, Tr};

const LANG_COOKIE: &str = "lang";

/// What every page needs besides its own content.
pub struct Chrome {
    pub csrf: String,
    /// Whether the visitor has a code in this session (shows "log out").
    pub has_source: bool,
    /// The GET path the language switch links to; empty for a page that must not be left by
    /// accident (the code page: the code is shown only once).
    pub here: &'static str,
}

/// A visitor's request, as pages see it: language and session.
pub struct Visit {
    pub lang: Lang,
    pub active: Active,
    /// Cookies to send back (a new session, a language choice).
    pub cookies: Vec<HeaderValue>,
}

impl Visit {
    pub fn tr(&self) -> Tr {
        Tr::new(self.lang)
    }

    pub fn chrome(&self, here: &'static str) -> Chrome {
        Chrome {
            csrf: self.active.session.csrf.clone(),
            has_source: self.active.session.source.is_some(),
            here,
        }
    }

    /// Renders a template with this visit's cookies.
    pub fn render(&self, status: StatusCode, page: &impl Template) -> Response {
        render(status, page, &self.cookies)
    }

    /// A page with a title, a text and a way back.
    pub fn notice(&self, notice: Notice) -> Response {
        self.notice_with(notice, None)
    }

    /// A page with a title, a text that may say the box's limits, and a way back: a source
    /// with a code in this session goes back to its own form (told, after a failed form, that
    /// its code still works), never to the landing page, whose main button makes a new code.
    pub fn notice_with(&self, notice: Notice, limits: Option<&FormLimits>) -> Response {
        let (status, title, body) = notice.parts();
        let t = self.tr();
        let body = match limits {
            Some(l) => {
                let mut args = FluentArgs::new();
                args.set("size", l.size.clone());
                args.set("files", l.max_files);
                args.set("chars", l.max_chars);
                t.with(body, &args)
            }
            None => t.get(body),
        };
        let has_source = self.active.session.source.is_some();
        let back = if has_source {
            Back::Form {
                code_works: notice.follows_a_form(),
            }
        } else if notice.follows_a_form() {
            Back::Login
        } else {
            Back::Home
        };
        let page = NoticePage {
            t,
            c: self.chrome("/"),
            title,
            body,
            back,
        };
        self.render(status, &page)
    }
}

/// Where a notice page leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Back {
    /// The landing page.
    Home,
    /// The session's own form, saying the code still works when `code_works`.
    Form { code_works: bool },
    /// The login page (and the landing page, for someone who has no code yet).
    Login,
}

/// The pages that only say what happened: their status and message ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    NotFound,
    MethodNotAllowed,
    SessionEnded,
    CsrfExpired,
    BadForm,
    RateLimited,
    Busy,
    Internal,
    TooLarge,
    TooManyFiles,
    MessageTooLong,
    Empty,
    DiskFull,
    Idle,
    TooSlow,
    ReplyDeleted,
    ReplyMissing,
}

impl Notice {
    /// Whether this answers a form a source may have sent with a code in hand (an upload, a
    /// login, a new code): the page then says the code still works and leads back to it.
    fn follows_a_form(self) -> bool {
        use Notice as N;
        matches!(
            self,
            N::SessionEnded
                | N::CsrfExpired
                | N::BadForm
                | N::Internal
                | N::TooLarge
                | N::TooManyFiles
                | N::MessageTooLong
                | N::Empty
                | N::DiskFull
                | N::Idle
                | N::TooSlow
        )
    }

    fn parts(self) -> (StatusCode, &'static str, &'static str) {
        use Notice as N;
        use StatusCode as S;
        match self {
            N::NotFound => (
                S::NOT_FOUND,
                "error-not-found-title",
                "error-not-found-body",
            ),
            N::MethodNotAllowed => (
                S::METHOD_NOT_ALLOWED,
                "error-method-title",
                "error-method-body",
            ),
            N::SessionEnded => (S::FORBIDDEN, "error-session-title", "error-session-body"),
            N::CsrfExpired => (S::FORBIDDEN, "error-csrf-title", "error-csrf-body"),
            N::BadForm => (S::BAD_REQUEST, "error-form-title", "error-form-body"),
            N::RateLimited => (S::TOO_MANY_REQUESTS, "error-rate-title", "error-rate-body"),
            N::Busy => (S::SERVICE_UNAVAILABLE, "error-busy-title", "error-busy"),
            N::Internal => (
                S::INTERNAL_SERVER_ERROR,
                "error-internal-title",
                "error-internal-body",
            ),
            N::TooLarge => (
                S::PAYLOAD_TOO_LARGE,
                "error-too-large-title",
                "error-too-large-body",
            ),
            N::TooManyFiles => (
                S::PAYLOAD_TOO_LARGE,
                "error-too-many-title",
                "error-too-many-body",
            ),
            N::MessageTooLong => (
                S::PAYLOAD_TOO_LARGE,
                "error-message-title",
                "error-message-body",
            ),
            N::Empty => (S::BAD_REQUEST, "error-empty-title", "error-empty-body"),
            N::DiskFull => (
                S::INSUFFICIENT_STORAGE,
                "error-disk-title",
                "error-disk-body",
            ),
            N::Idle => (S::REQUEST_TIMEOUT, "error-idle-title", "error-idle-body"),
            N::TooSlow => (S::REQUEST_TIMEOUT, "error-slow-title", "error-slow-body"),
            N::ReplyDeleted => (S::OK, "deleted-title", "deleted-body"),
            N::ReplyMissing => (S::NOT_FOUND, "error-not-found-title", "deleted-missing"),
        }
    }
}

#[derive(Deserialize, Default)]
pub struct LangQuery {
    lang: Option<String>,
}

/// The language of a request: the `lang` cookie, then `Accept-Language`, then English.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    cookie_value(headers, LANG_COOKIE)
        .and_then(|v| Lang::from_tag(&v))
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or(Lang::En)
}

fn lang_cookie(lang: Lang) -> HeaderValue {
    HeaderValue::from_static(match lang {
        Lang::En => "lang=en; Path=/; SameSite=Strict",
        Lang::Fr => "lang=fr; Path=/; SameSite=Strict",
    })
}

/// Starts a page view: picks the language (a `?lang=` choice is remembered in a cookie) and
/// finds or opens the session.
pub fn visit(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Visit, Response> {
    let mut lang = lang_of(headers);
    let mut cookies = Vec::new();
    if let Some(chosen) = query.and_then(Lang::from_tag) {
        lang = chosen;
        cookies.push(lang_cookie(chosen));
    }
    let (active, fresh) = state.sessions.get_or_create(headers);
    if fresh {
        cookies.push(active.cookie());
    }
    Ok(Visit {
        lang,
        active,
        cookies,
    })
}

pub fn render(status: StatusCode, page: &impl Template, cookies: &[HeaderValue]) -> Response {
    match page.render() {
        Ok(html) => {
            let mut resp = (status, axum::response::Html(html)).into_response();
            for c in cookies {
                resp.headers_mut().append(header::SET_COOKIE, c.clone());
            }
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "index.html")]
pub struct IndexPage {
    pub t: Tr,
    pub c: Chrome,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub t: Tr,
    pub c: Chrome,
    /// Why the last try failed, in the visit's language; `None` on a first visit.
    pub failed: Option<String>,
}

#[derive(Template)]
#[template(path = "submit.html")]
pub struct SubmitPage {
    pub t: Tr,
    pub c: Chrome,
    pub form: FormLimits,
}

#[derive(Template)]
#[template(path = "notice.html")]
pub struct NoticePage {
    pub t: Tr,
    pub c: Chrome,
    pub title: &'static str,
    /// The text, already in the visit's language.
    pub body: String,
    pub back: Back,
}

impl NoticePage {
    fn to_form(&self) -> bool {
        matches!(self.back, Back::Form { .. })
    }

    fn code_works(&self) -> bool {
        self.back == Back::Form { code_works: true }
    }

    fn to_login(&self) -> bool {
        self.back == Back::Login
    }
}

/// The limits shown beside the submission form and on the pages that refuse a submission.
pub struct FormLimits {
    pub max_files: u64,
    /// The size limit as the source reads it, in the visit's language ([`size_text`]).
    pub size: String,
    pub max_chars: u64,
}

impl FormLimits {
    pub fn of(state: &AppState, lang: Lang) -> FormLimits {
        let l = &state.config.limits;
        FormLimits {
            max_files: l.max_files as u64,
            size: size_text(lang, l.max_submission_bytes),
            max_chars: l.max_message_chars as u64,
        }
    }
}

/// Renders a GET page built from the visit, or the error that stopped the visit.
fn show<P: Template>(
    state: &AppState,
    headers: &HeaderMap,
    q: &LangQuery,
    build: impl FnOnce(&Visit) -> Option<P>,
) -> Response {
    match visit(state, headers, q.lang.as_deref()) {
        Ok(v) => match build(&v) {
            Some(page) => v.render(StatusCode::OK, &page),
            // The page needs a code this session does not have: back to the start.
            None => Redirect::to("/").into_response(),
        },
        Err(r) => r,
    }
}

pub async fn index(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Response {
    show(&state, &headers, &q, |v| {
        Some(IndexPage {
            t: v.tr(),
            c: v.chrome("/"),
        })
    })
}

pub async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Response {
    show(&state, &headers, &q, |v| {
        Some(LoginPage {
            t: v.tr(),
            c: v.chrome("/login"),
            failed: None,
        })
    })
}

pub async fn submit_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Response {
    show(&state, &headers, &q, |v| {
        v.active.session.source.as_ref().map(|_| SubmitPage {
            t: v.tr(),
            c: v.chrome("/submit"),
            form: FormLimits::of(&state, v.lang),
        })
    })
}

pub async fn not_found(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match visit(&state, &headers, None) {
        Ok(v) => v.notice(Notice::NotFound),
        Err(r) => r,
    }
}

pub async fn method_not_allowed(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match visit(&state, &headers, None) {
        Ok(v) => v.notice(Notice::MethodNotAllowed),
        Err(r) => r,
    }
}

/// The one stylesheet, compiled in and served from the same origin.
pub async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../static/style.css"),
    )
        .into_response()
}
