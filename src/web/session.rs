//! Source sessions: a random cookie that maps to a little state kept in memory.
//!
//! The state holds the source's lookup id and public recipient once they have a code, and a
//! CSRF token every form must echo. It never holds the code or the identity. Sessions live
//! only in memory (a restart logs everyone out), expire after an idle time, and are capped in
//! number; the map is keyed by a hash of the cookie, so a memory dump does not hand out live
//! cookies.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, HeaderValue};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::SessionConfig;
use crate::source_key::LookupId;

pub const COOKIE: &str = "lanterne_session";

/// A source known to this session.
#[derive(Clone)]
pub struct SourceRef {
    pub lookup: LookupId,
    pub recipient: String,
}

/// What the server remembers of one browser.
#[derive(Clone)]
pub struct Session {
    pub csrf: String,
    pub source: Option<SourceRef>,
    last_seen: Instant,
}

impl Session {
    /// Compares a submitted CSRF token in constant time.
    pub fn csrf_ok(&self, submitted: &str) -> bool {
        !submitted.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(submitted.as_bytes()))
    }
}

/// A session and the cookie that names it.
pub struct Active {
    pub token: String,
    pub session: Session,
}

impl Active {
    /// The `Set-Cookie` value for this session: HttpOnly, SameSite=Strict, no expiry date.
    pub fn cookie(&self) -> HeaderValue {
        let v = format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict", self.token);
        HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// A `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("lanterne_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session store.
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
    idle: Duration,
    max: usize,
}

/// Why no session could be made.
#[derive(Debug)]
pub struct Full;

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The value of cookie `name` in a request, if any.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

/// The session cookie's value in a request, if it is well-formed.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, COOKIE)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Sessions {
    pub fn new(cfg: &SessionConfig) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            idle: Duration::from_secs(cfg.idle_timeout_secs),
            max: cfg.max_sessions,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // matters (each operation is a single insert or remove), so poisoning is ignored.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live session named by the request's cookie, refreshed.
    pub fn get(&self, headers: &HeaderMap) -> Option<Active> {
        let token = cookie_token(headers)?;
        let mut map = self.lock();
        let k = key(&token);
        let now = Instant::now();
        match map.get_mut(&k) {
            Some(s) if now.duration_since(s.last_seen) < self.idle => {
                s.last_seen = now;
                Some(Active {
                    token,
                    session: s.clone(),
                })
            }
            Some(_) => {
                map.remove(&k);
                None
            }
            None => None,
        }
    }

    /// A new session (a fresh cookie and CSRF token), optionally for a source.
    pub fn create(&self, source: Option<SourceRef>) -> Result<Active, Full> {
        let mut map = self.lock();
        if map.len() >= self.max {
            let now = Instant::now();
            map.retain(|_, s| now.duration_since(s.last_seen) < self.idle);
        }
        if map.len() >= self.max {
            // Still full: drop the longest-idle anonymous session, never a source's.
            let oldest = map
                .iter()
                .filter(|(_, s)| s.source.is_none())
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => {
                    map.remove(&k);
                }
                None => return Err(Full),
            }
        }
        let token = random_token();
        let session = Session {
            csrf: random_token(),
            source,
            last_seen: Instant::now(),
        };
        map.insert(key(&token), session.clone());
        Ok(Active { token, session })
    }

    /// Ends a session.
    pub fn remove(&self, token: &str) {
        self.lock().remove(&key(token));
    }

    /// The session of the request, or a new anonymous one.
    pub fn get_or_create(&self, headers: &HeaderMap) -> Result<(Active, bool), Full> {
        match self.get(headers) {
            Some(a) => Ok((a, false)),
            None => self.create(None).map(|a| (a, true)),
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_for(a: &Active) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("lang=fr; {COOKIE}={}", a.token)).unwrap(),
        );
        h
    }

    #[test]
    fn sessions_round_trip_expire_and_cap() {
        let s = Sessions::new(&SessionConfig {
            idle_timeout_secs: 3600,
            max_sessions: 2,
        });
        let a = s.create(None).unwrap();
        let got = s.get(&headers_for(&a)).unwrap();
        assert!(got.session.csrf_ok(&a.session.csrf));
        assert!(!got.session.csrf_ok("") && !got.session.csrf_ok("00"));
        let src = SourceRef {
            lookup: LookupId::from_hex(&"11".repeat(32)).unwrap(),
            recipient: "age1".into(),
        };
        let b = s.create(Some(src.clone())).unwrap();
        // Full: the anonymous one makes room, the source's stays.
        let c = s.create(Some(src.clone())).unwrap();
        assert!(s.get(&headers_for(&a)).is_none());
        assert!(s.get(&headers_for(&b)).is_some());
        assert!(s.create(Some(src)).is_err());
        s.remove(&c.token);
        assert!(s.get(&headers_for(&c)).is_none());
        assert!(s.get(&HeaderMap::new()).is_none());

        let short = Sessions::new(&SessionConfig {
            idle_timeout_secs: 0,
            max_sessions: 2,
        });
        let a = short.create(None).unwrap();
        assert!(short.get(&headers_for(&a)).is_none());
    }
}
