//! Source sessions: a random cookie that maps to a little state kept in memory.
//!
//! The state holds the source's lookup id and public recipient once they have a code, and a
//! CSRF token every form must echo. It never holds the code or the identity. Sessions live
//! only in memory (a restart logs everyone out), expire after an idle time, and are capped in
//! number; the map is keyed by a hash of the cookie, so a memory dump does not hand out live
//! cookies.
//!
//! The cap never locks anyone out: at `max_sessions` the expired sessions are swept, then
//! anonymous sessions make room (first those never used again, as a flood of GETs leaves them,
//! oldest first), and only when sources hold every slot does the longest-idle source's session
//! go (that source logs in again with its code). Expired sessions are also swept every minute,
//! so they do not linger in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
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
    /// Whether a request came back with this session after the one that made it.
    returned: bool,
}

impl Session {
    /// Which sessions make room first when the table is full: lowest first. Anonymous ones
    /// never used again (what a flood of GETs leaves), then anonymous ones that came back,
    /// then sources; the longest idle first within each.
    fn keep_rank(&self) -> (u8, Instant) {
        let class = match (&self.source, self.returned) {
            (None, false) => 0,
            (None, true) => 1,
            (Some(_), _) => 2,
        };
        (class, self.last_seen)
    }
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

/// How often expired sessions are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

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
                s.returned = true;
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

    /// A new session (a fresh cookie and CSRF token), optionally for a source. When the table
    /// is full, others make room (see the module doc); it never refuses.
    pub fn create(&self, source: Option<SourceRef>) -> Active {
        let mut map = self.lock();
        if map.len() >= self.max {
            let now = Instant::now();
            map.retain(|_, s| now.duration_since(s.last_seen) < self.idle);
        }
        if map.len() >= self.max {
            // What must go, plus, among unused anonymous sessions only, room for a batch of
            // newcomers: a flood then costs one scan of the table per batch, not per request.
            let needed = map.len() + 1 - self.max;
            let cut = (needed + self.max / 64).min(map.len());
            let mut ranked: Vec<_> = map.iter().map(|(k, s)| (s.keep_rank(), *k)).collect();
            if cut < ranked.len() {
                ranked.select_nth_unstable(cut);
            }
            let lowest = &mut ranked[..cut];
            lowest.sort_unstable();
            for (i, (rank, k)) in lowest.iter().enumerate() {
                if i < needed || rank.0 == 0 {
                    map.remove(k);
                }
            }
        }
        let token = random_token();
        let session = Session {
            csrf: random_token(),
            source,
            last_seen: Instant::now(),
            returned: false,
        };
        map.insert(key(&token), session.clone());
        Active { token, session }
    }

    /// Drops every expired session.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.lock()
            .retain(|_, s| now.duration_since(s.last_seen) < self.idle);
    }

    /// Sweeps expired sessions every minute for as long as `sessions` is in use elsewhere.
    pub fn spawn_sweeper(sessions: &Arc<Sessions>) {
        let weak: Weak<Sessions> = Arc::downgrade(sessions);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(s) => s.sweep(),
                    None => return,
                }
            }
        });
    }

    /// Ends a session.
    pub fn remove(&self, token: &str) {
        self.lock().remove(&key(token));
    }

    /// The session of the request, or a new anonymous one (and whether it is new).
    pub fn get_or_create(&self, headers: &HeaderMap) -> (Active, bool) {
        match self.get(headers) {
            Some(a) => (a, false),
            None => (self.create(None), true),
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

    fn source() -> SourceRef {
        SourceRef {
            lookup: LookupId::from_hex(&"11".repeat(32)).unwrap(),
            recipient: "age1".into(),
        }
    }

    #[test]
    fn sessions_round_trip_and_expire() {
        let s = Sessions::new(&SessionConfig {
            idle_timeout_secs: 3600,
            max_sessions: 4,
        });
        let a = s.create(None);
        let got = s.get(&headers_for(&a)).unwrap();
        assert!(got.session.csrf_ok(&a.session.csrf));
        assert!(!got.session.csrf_ok("") && !got.session.csrf_ok("00"));
        s.remove(&a.token);
        assert!(s.get(&headers_for(&a)).is_none());
        assert!(s.get(&HeaderMap::new()).is_none());

        let short = Sessions::new(&SessionConfig {
            idle_timeout_secs: 0,
            max_sessions: 2,
        });
        let a = short.create(None);
        assert!(short.get(&headers_for(&a)).is_none());
        short.create(None);
        short.sweep();
        assert!(short.is_empty(), "the sweep must drop expired sessions");
    }

    /// M3: at the cap, unused anonymous sessions go first, then anonymous ones that came
    /// back, and only then the longest-idle source; nobody is ever refused.
    #[test]
    fn a_full_table_makes_room_in_order_and_never_refuses() {
        let s = Sessions::new(&SessionConfig {
            idle_timeout_secs: 3600,
            max_sessions: 4,
        });
        let old_src = s.create(Some(source()));
        let src = s.create(Some(source()));
        let visitor = s.create(None);
        assert!(s.get(&headers_for(&visitor)).is_some());
        let flood = s.create(None);
        // Full: the flood's unused session makes room, not the visitor who came back.
        s.create(None);
        assert!(s.get(&headers_for(&flood)).is_none());
        assert!(s.get(&headers_for(&visitor)).is_some());
        assert_eq!(s.len(), 4);
        // Sources only: the longest-idle one goes, and a newcomer still gets in.
        let s = Sessions::new(&SessionConfig {
            idle_timeout_secs: 3600,
            max_sessions: 2,
        });
        let old_src2 = s.create(Some(source()));
        std::thread::sleep(Duration::from_millis(5));
        let src2 = s.create(Some(source()));
        let _newcomer = s.create(None);
        assert!(s.get(&headers_for(&old_src2)).is_none());
        assert!(s.get(&headers_for(&src2)).is_some());
        assert_eq!(s.len(), 2);

        // A large table of sources gives up one session for one newcomer, not a batch; a
        // source that has not come back yet is not preferred over older ones.
        let s = Sessions::new(&SessionConfig {
            idle_timeout_secs: 3600,
            max_sessions: 256,
        });
        let oldest = s.create(Some(source()));
        std::thread::sleep(Duration::from_millis(5));
        let rest: Vec<_> = (0..255).map(|_| s.create(Some(source()))).collect();
        for a in &rest {
            assert!(s.get(&headers_for(a)).is_some());
        }
        s.create(None);
        assert_eq!(s.len(), 256);
        assert!(s.get(&headers_for(&oldest)).is_none());
        // Unused anonymous sessions go in a batch.
        for _ in 0..10 {
            s.create(None);
        }
        assert!(s.len() <= 256);
        assert!(
            rest.iter()
                .filter(|a| s.get(&headers_for(a)).is_none())
                .count()
                <= 10
        );
        drop((old_src, src));
    }
}
