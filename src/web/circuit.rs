//! Per-circuit budgets: over the onion, one rendezvous circuit is one client, so that is where
//! a flood is stopped first.
//!
//! The box never knows who a client is, but each onion connection arrives on a rendezvous
//! circuit that a client built for itself (at a real cost in time, and with proof-of-work on,
//! in work). [`crate::onion`] gives every connection a [`Circuit`] handle shared by all streams
//! of one circuit; the handlers ask it before spending a key derivation (new code, login), and
//! the connection layer tells it when a stream was slow (ended by a timeout or made room at the
//! connection cap). A circuit over its budget, or with too many slow streams, is closed: the
//! attacker must build a new one for each few requests, while the global budgets
//! (`kdf.per_minute`) stay as the last resort for everyone together.
//!
//! Nothing here names a client: a handle lives exactly as long as its circuit's connections,
//! holds counters only, and is never logged. Loopback connections have no handle and only the
//! global budgets apply to them.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::CircuitBudget;
use crate::source_key::Purpose;

/// How long a circuit over its code or login budget stays open for its "too many attempts" page.
const PAGE_FIRST: Duration = Duration::from_millis(500);

/// The budgets of one rendezvous circuit, shared by its connections.
#[derive(Clone)]
pub struct Circuit(Arc<Inner>);

struct Inner {
    new_codes: DefaultDirectRateLimiter,
    logins: DefaultDirectRateLimiter,
    slow: AtomicU32,
    max_slow: u32,
    closed: AtomicBool,
    close: Box<dyn Fn() + Send + Sync>,
}

impl fmt::Debug for Circuit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Counters only; there is nothing else to show.
        f.debug_struct("Circuit")
            .field("slow", &self.0.slow.load(Ordering::Relaxed))
            .field("closed", &self.0.closed.load(Ordering::Relaxed))
            .finish()
    }
}

/// A rate of `per_hour` with bursts of `burst`; both at least 1 (the config checks it).
fn quota(burst: u32, per_hour: u32) -> Quota {
    let per_hour = per_hour.max(1);
    let period = Duration::from_secs(3600) / per_hour;
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_hour(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

impl Circuit {
    /// A fresh circuit's budgets; `close` tears the circuit down (all its streams).
    pub fn new(budget: &CircuitBudget, close: impl Fn() + Send + Sync + 'static) -> Circuit {
        Circuit(Arc::new(Inner {
            new_codes: RateLimiter::direct(quota(
                budget.new_codes_burst,
                budget.new_codes_per_hour,
            )),
            logins: RateLimiter::direct(quota(budget.logins_burst, budget.logins_per_hour)),
            slow: AtomicU32::new(0),
            max_slow: budget.slow_streams,
            closed: AtomicBool::new(false),
            close: Box::new(close),
        }))
    }

    /// Takes one derivation of `purpose` from this circuit's budget. `false` means it is spent:
    /// the caller refuses the request and the circuit is closed.
    pub fn allow(&self, purpose: Purpose) -> bool {
        let limiter = match purpose {
            Purpose::NewCode => &self.0.new_codes,
            Purpose::Login => &self.0.logins,
        };
        if limiter.check().is_ok() {
            return true;
        }
        let what = match purpose {
            Purpose::NewCode => "new codes",
            Purpose::Login => "logins",
        };
        self.close(what, Some(PAGE_FIRST));
        false
    }

    /// Counts a stream of this circuit that was slow (a head or body that timed out, an upload
    /// under the least rate, a connection that made room at the cap); past `slow_streams` the
    /// circuit is closed.
    pub fn slow_stream(&self) {
        let n = self.0.slow.fetch_add(1, Ordering::Relaxed) + 1;
        if n > self.0.max_slow {
            self.close("slow streams", None);
        }
    }

    /// Whether the circuit was closed for going over a budget.
    pub fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Relaxed)
    }

    /// Closes the circuit, once: at once, or after `delay` so the page saying "too many
    /// attempts" reaches an honest client first.
    fn close(&self, what: &'static str, delay: Option<Duration>) {
        if self.0.closed.swap(true, Ordering::Relaxed) {
            return;
        }
        tracing::info!("a rendezvous circuit went over its budget of {what}: closing it");
        match delay {
            None => (self.0.close)(),
            Some(delay) => {
                let me = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    (me.0.close)();
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> CircuitBudget {
        CircuitBudget {
            new_codes_burst: 2,
            new_codes_per_hour: 1,
            logins_burst: 3,
            logins_per_hour: 1,
            slow_streams: 2,
        }
    }

    #[tokio::test]
    async fn a_circuit_over_its_code_budget_is_closed_and_another_is_not() {
        let cut = Arc::new(AtomicU32::new(0));
        let c = cut.clone();
        let flood = Circuit::new(&budget(), move || {
            c.fetch_add(1, Ordering::Relaxed);
        });
        let honest = Circuit::new(&budget(), || panic!("the honest circuit was closed"));
        assert!(flood.allow(Purpose::NewCode));
        assert!(flood.allow(Purpose::NewCode));
        assert!(!flood.allow(Purpose::NewCode));
        assert!(!flood.allow(Purpose::NewCode));
        // Logins have their own budget.
        assert!(flood.allow(Purpose::Login));
        assert!(flood.is_closed());
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(cut.load(Ordering::Relaxed), 1, "closed once");
        assert!(honest.allow(Purpose::NewCode));
        assert!(!honest.is_closed());
    }

    #[test]
    fn too_many_slow_streams_close_the_circuit_at_once() {
        let cut = Arc::new(AtomicU32::new(0));
        let c = cut.clone();
        let circuit = Circuit::new(&budget(), move || {
            c.fetch_add(1, Ordering::Relaxed);
        });
        circuit.slow_stream();
        circuit.slow_stream();
        assert_eq!(cut.load(Ordering::Relaxed), 0);
        circuit.slow_stream();
        circuit.slow_stream();
        assert_eq!(cut.load(Ordering::Relaxed), 1);
    }

    /// Connections from a loopback listener, each tagged with the circuit `circuit_of` picks
    /// by order of arrival: the serving path is the onion's, without Tor.
    struct Tagged {
        listener: tokio::net::TcpListener,
        circuits: Vec<Circuit>,
        n: usize,
    }

    impl crate::web::Incoming for Tagged {
        type Io = tokio::net::TcpStream;
        async fn accept(&mut self) -> Option<std::io::Result<crate::web::Accepted<Self::Io>>> {
            let (io, _) = self.listener.accept().await.ok()?;
            let circuit = self.circuits[self.n.min(self.circuits.len() - 1)].clone();
            self.n += 1;
            Some(Ok(crate::web::Accepted {
                io,
                circuit: Some(circuit),
            }))
        }
    }

    /// One client's code flow on its own connection: landing page, then `n` new codes.
    async fn ask_codes(base: &str, n: usize) -> Vec<u16> {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        let mut page = client.get(format!("{base}/")).send().await.unwrap();
        let mut statuses = Vec::new();
        for _ in 0..n {
            let text = page.text().await.unwrap();
            let csrf = text
                .split("name=\"csrf\" value=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_default()
                .to_owned();
            page = client
                .post(format!("{base}/code"))
                .form(&[("csrf", csrf)])
                .send()
                .await
                .unwrap();
            statuses.push(page.status().as_u16());
        }
        statuses
    }

    /// Over the real serving path: the handlers ask the connection's circuit before the
    /// global budget. The flooding circuit gets 3 codes, then "too many attempts" and is
    /// closed; another circuit still gets a code. (Failed before the handlers asked.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_code_page_spends_the_circuits_budget_first() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        let id = age::x25519::Identity::generate();
        std::fs::write(dir.path().join("keys/r.txt"), id.to_public().to_string()).unwrap();
        let mut c = crate::config::Config {
            data_dir: dir.path().join("data"),
            keys_dir: dir.path().join("keys"),
            ..Default::default()
        };
        c.onion.enabled = false;
        c.kdf.per_minute = 1000;
        c.kdf.burst = 1000;
        let state =
            crate::web::AppState::open(c.validated().unwrap(), crate::code::ListVersion::CURRENT)
                .unwrap();
        let http = state.config.http.clone();
        let budget = CircuitBudget {
            new_codes_burst: 3,
            ..CircuitBudget::default()
        };
        let cut = Arc::new(AtomicU32::new(0));
        let counted = cut.clone();
        let flood = Circuit::new(&budget, move || {
            counted.fetch_add(1, Ordering::Relaxed);
        });
        let other = Circuit::new(&budget, || panic!("the other circuit was closed"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let incoming = Tagged {
            listener,
            circuits: vec![flood.clone(), other],
            n: 0,
        };
        let server = tokio::spawn(async move {
            crate::web::serve(incoming, crate::web::router(state), &http).await;
        });
        // The burst, then the refusal. (A fifth request is not asked over HTTP: the client may
        // open a new connection for it, which this listener tags with the other circuit; the
        // circuit's own answer is checked instead.)
        assert_eq!(ask_codes(&base, 4).await, [200, 200, 200, 429]);
        assert!(
            !flood.allow(Purpose::NewCode),
            "the flood circuit got another code"
        );
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(flood.is_closed());
        assert_eq!(cut.load(Ordering::Relaxed), 1);
        assert_eq!(ask_codes(&base, 1).await, [200]);
        server.abort();
    }
}
