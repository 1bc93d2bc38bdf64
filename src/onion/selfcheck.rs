//! The onion self-check: the box fetches its own landing page over its own onion, as a source
//! would, so the operator learns that sources cannot reach it before a source finds out.
//!
//! Every `[onion] self_check_every_secs` seconds (the first time that long after start) the
//! box's arti client opens a stream to its own onion address on a circuit of its own (isolated
//! from every other stream), sends `GET /` and waits up to [`PROBE_TIMEOUT`] for a `200` status
//! line. After `[onion] self_check_failures` (M) failures in a row it logs one warning, and
//! another after each further M; the first success logs `onion self-check: reachable` at info,
//! and so does a recovery after a warning. Nothing else is logged above debug: no time, no
//! address, no circuit.
//!
//! The last result lives in memory only ([`SelfCheck`]); `lanterne check` reads it through the
//! status socket (`crate::status`), and the time since the last check is worked out from the
//! monotonic clock when it is asked for, never stored.
//!
//! The loop ([`run`]) takes the probe as a closure, so tests drive it with a fake one.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arti_client::config::BoolOrAuto;
use arti_client::{HasKind, StreamPrefs, TorClient};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tor_rtcompat::PreferredRuntime;

use crate::config::OnionConfig;

/// How long one check may take, from opening the stream to the status line: an onion circuit
/// on a slow day takes tens of seconds.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(120);

/// The longest status line read; a longer one is not a 200.
const MAX_STATUS_LINE: usize = 256;

/// Why one check failed. Its text names a kind of failure only: never the address or a circuit.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProbeError {
    #[error("no answer within {} s", .0.as_secs())]
    Timeout(Duration),
    #[error("could not open a stream to the onion service through Tor ({kind})")]
    Connect {
        kind: arti_client::ErrorKind,
        #[source]
        source: Box<arti_client::Error>,
    },
    #[error("the stream failed before the status line came")]
    Io(#[source] std::io::Error),
    #[error("the landing page did not answer 200 (status line: {0})")]
    Status(String),
}

/// Why the self-check does not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffReason {
    /// The embedded onion service is off (`--no-onion`, `[onion] enabled = false`).
    NoOnion,
    /// `[onion] self_check_every_secs = 0`.
    Disabled,
}

/// What the self-check knows at the moment it is asked, as the status socket sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SelfCheckStatus {
    Off {
        reason: OffReason,
    },
    /// On, but the first check has not finished yet.
    NotRunYet {
        every_secs: u64,
    },
    Ran {
        /// Whether the last check got its 200.
        reachable: bool,
        /// Whole minutes since the last check ended, rounded down.
        mins_ago: u64,
        failures_in_a_row: u32,
        /// M: the box warns at this many failures in a row.
        warn_at: u32,
        /// What went wrong the last time a check failed, if one did since the last success.
        last_failure: Option<String>,
    },
}

/// Something worth a log line at info or warn level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// The first success since start.
    FirstReachable,
    /// A success after at least M failures in a row.
    Recovered { after: u32 },
    /// M failures in a row (or 2M, 3M…).
    Unreachable { failures: u32, last: String },
}

#[derive(Debug)]
enum State {
    Off(OffReason),
    NotRunYet,
    Ran {
        at: Instant,
        reachable: bool,
        last_failure: Option<String>,
    },
}

#[derive(Debug)]
struct Inner {
    state: State,
    every: Duration,
    warn_at: u32,
    failures: u32,
    ever_reachable: bool,
}

/// The self-check's last result, shared by its task and the status socket. Memory only.
#[derive(Debug, Clone)]
pub struct SelfCheck(Arc<Mutex<Inner>>);

impl SelfCheck {
    /// The self-check as the config and the onion service's state make it: off, or waiting
    /// for its first check.
    pub fn new(cfg: &OnionConfig) -> SelfCheck {
        let state = if !cfg.enabled {
            State::Off(OffReason::NoOnion)
        } else if cfg.self_check_every_secs == 0 {
            State::Off(OffReason::Disabled)
        } else {
            State::NotRunYet
        };
        SelfCheck(Arc::new(Mutex::new(Inner {
            state,
            every: Duration::from_secs(cfg.self_check_every_secs),
            warn_at: cfg.self_check_failures.max(1),
            failures: 0,
            ever_reachable: false,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether checks should run at all.
    pub fn is_on(&self) -> bool {
        !matches!(self.lock().state, State::Off(_))
    }

    /// The state now; the time since the last check is measured at this call.
    pub fn status(&self) -> SelfCheckStatus {
        let inner = self.lock();
        match &inner.state {
            State::Off(reason) => SelfCheckStatus::Off { reason: *reason },
            State::NotRunYet => SelfCheckStatus::NotRunYet {
                every_secs: inner.every.as_secs(),
            },
            State::Ran {
                at,
                reachable,
                last_failure,
            } => SelfCheckStatus::Ran {
                reachable: *reachable,
                mins_ago: at.elapsed().as_secs() / 60,
                failures_in_a_row: inner.failures,
                warn_at: inner.warn_at,
                last_failure: last_failure.clone(),
            },
        }
    }

    /// Records one check's result; returns what deserves a log line, if anything.
    fn record(&self, result: Result<(), String>) -> Option<Event> {
        let mut inner = self.lock();
        let warn_at = inner.warn_at;
        let (event, reachable, last_failure) = match result {
            Ok(()) => {
                let event = if inner.failures >= warn_at {
                    Some(Event::Recovered {
                        after: inner.failures,
                    })
                } else if !inner.ever_reachable {
                    Some(Event::FirstReachable)
                } else {
                    None
                };
                inner.failures = 0;
                inner.ever_reachable = true;
                (event, true, None)
            }
            Err(why) => {
                inner.failures = inner.failures.saturating_add(1);
                let failures = inner.failures;
                let event = failures
                    .is_multiple_of(warn_at)
                    .then(|| Event::Unreachable {
                        failures,
                        last: why.clone(),
                    });
                (event, false, Some(why))
            }
        };
        inner.state = State::Ran {
            at: Instant::now(),
            reachable,
            last_failure,
        };
        event
    }
}

/// Checks every `every`, each probe cut off after `timeout`, recording each result in `check`
/// and handing each [`Event`] to `report`. Runs until its task is aborted.
pub(crate) async fn run<P, F>(
    check: SelfCheck,
    every: Duration,
    timeout: Duration,
    mut probe: P,
    mut report: impl FnMut(Event),
) where
    P: FnMut() -> F,
    F: Future<Output = Result<(), ProbeError>>,
{
    loop {
        tokio::time::sleep(every).await;
        let result = match tokio::time::timeout(timeout, probe()).await {
            Ok(result) => result,
            Err(_) => Err(ProbeError::Timeout(timeout)),
        };
        if let Err(e) = &result {
            tracing::debug!("onion self-check failed: {e}");
        }
        if let Some(event) = check.record(result.map_err(|e| e.to_string())) {
            report(event);
        }
    }
}

/// "1 failure in a row", "3 failures in a row".
pub(crate) fn failures_in_a_row(n: u32) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{n} failure{s} in a row")
}

/// The log line of each event: no time, address or circuit.
fn log(event: Event) {
    match event {
        Event::FirstReachable => tracing::info!("onion self-check: reachable"),
        Event::Recovered { after } => tracing::info!(
            "onion self-check: reachable again after {}",
            failures_in_a_row(after)
        ),
        Event::Unreachable { failures, last } => tracing::warn!(
            "onion self-check: the box cannot reach its own onion service ({}; the last: \
             {last}). Sources probably cannot reach it either. Check that \
             the server reaches the Tor network (the `Tor bootstrap` log lines), that no \
             firewall blocks outgoing connections to Tor relays, and the system clock; \
             `lanterne check` shows the latest result",
            failures_in_a_row(failures)
        ),
    }
}

/// Starts the self-check of the running onion service `url` (`http://….onion`) through the
/// box's own arti `client`, if the config has it on. Abort the task to stop it.
pub fn spawn(
    check: &SelfCheck,
    client: Arc<TorClient<PreferredRuntime>>,
    url: &str,
) -> Option<tokio::task::JoinHandle<()>> {
    if !check.is_on() {
        return None;
    }
    let every = check.lock().every;
    let host = url.strip_prefix("http://").unwrap_or(url).to_owned();
    let task = run(
        check.clone(),
        every,
        PROBE_TIMEOUT,
        move || probe(client.clone(), host.clone()),
        log,
    );
    Some(tokio::spawn(task))
}

/// One check: `GET /` to the box's own onion on a fresh circuit, and a `200` status line.
async fn probe(client: Arc<TorClient<PreferredRuntime>>, host: String) -> Result<(), ProbeError> {
    let mut prefs = StreamPrefs::new();
    prefs
        .isolate_every_stream()
        .connect_to_onion_services(BoolOrAuto::Explicit(true));
    let mut stream = client
        .connect_with_prefs((host.as_str(), super::PORT), &prefs)
        .await
        .map_err(|e| ProbeError::Connect {
            kind: e.kind(),
            source: Box::new(e),
        })?;
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(ProbeError::Io)?;
    // arti sends buffered stream data only on flush.
    stream.flush().await.map_err(ProbeError::Io)?;
    let mut head = Vec::with_capacity(MAX_STATUS_LINE);
    let mut buf = [0u8; MAX_STATUS_LINE];
    while !head.contains(&b'\n') && head.len() < MAX_STATUS_LINE {
        let n = stream.read(&mut buf).await.map_err(ProbeError::Io)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    status_ok(&head)
}

/// Whether `head` starts with an HTTP/1.x status line saying 200.
fn status_ok(head: &[u8]) -> Result<(), ProbeError> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line).trim_end().to_owned();
    let mut parts = line.split(' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if version.starts_with("HTTP/1.") && code == "200" && head.contains(&b'\n') {
        Ok(())
    } else {
        let mut shown: String = line.chars().take(40).collect();
        if shown.is_empty() {
            shown = "none".into();
        }
        Err(ProbeError::Status(format!("{shown:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    fn check(every: u64, m: u32) -> SelfCheck {
        SelfCheck::new(&OnionConfig {
            self_check_every_secs: every,
            self_check_failures: m,
            ..OnionConfig::default()
        })
    }

    /// Runs the real loop with a fake probe that answers `script` in order (true = a 200),
    /// then hangs; returns the events it reported, once every answer was used.
    async fn drive(check: &SelfCheck, script: &[bool]) -> Vec<Event> {
        let answers: Arc<Mutex<VecDeque<bool>>> =
            Arc::new(Mutex::new(script.iter().copied().collect()));
        let events = Arc::new(Mutex::new(Vec::new()));
        let (a, e) = (answers.clone(), events.clone());
        let task = tokio::spawn(run(
            check.clone(),
            Duration::from_millis(1),
            Duration::from_secs(30),
            move || {
                let next = a.lock().unwrap().pop_front();
                async move {
                    match next {
                        Some(true) => Ok(()),
                        Some(false) => Err(ProbeError::Status("\"HTTP/1.1 503\"".into())),
                        None => std::future::pending().await,
                    }
                }
            },
            move |event| e.lock().unwrap().push(event),
        ));
        // A probe's answer is taken and recorded in one poll of the loop's task, and this
        // runtime has one thread: once the script is used up, every answer is recorded.
        while !answers.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        task.abort();
        let out = events.lock().unwrap().clone();
        out
    }

    fn unreachable(failures: u32) -> Event {
        Event::Unreachable {
            failures,
            last: "the landing page did not answer 200 (status line: \"HTTP/1.1 503\")".into(),
        }
    }

    #[tokio::test]
    async fn m_minus_1_failures_do_not_warn_and_m_warn_once() {
        let c = check(600, 3);
        assert_eq!(drive(&c, &[false, false]).await, vec![]);
        assert!(matches!(
            c.status(),
            SelfCheckStatus::Ran {
                reachable: false,
                failures_in_a_row: 2,
                warn_at: 3,
                mins_ago: 0,
                last_failure: Some(_),
            }
        ));
        let c = check(600, 3);
        assert_eq!(
            drive(&c, &[false, false, false, false, false]).await,
            vec![unreachable(3)]
        );
        // And again at each further M.
        let c = check(600, 3);
        assert_eq!(
            drive(&c, &[false; 6]).await,
            vec![unreachable(3), unreachable(6)]
        );
    }

    #[tokio::test]
    async fn a_success_resets_the_count_and_a_recovery_is_reported() {
        // The first success is reported once (the lead's onion test waits for it).
        let c = check(600, 3);
        assert_eq!(
            drive(&c, &[true, true, false, false, true, false, false]).await,
            vec![Event::FirstReachable]
        );
        let c = check(600, 3);
        assert_eq!(
            drive(&c, &[true, false, false, false, false, true, false, false]).await,
            vec![
                Event::FirstReachable,
                unreachable(3),
                Event::Recovered { after: 4 }
            ]
        );
        assert!(matches!(
            c.status(),
            SelfCheckStatus::Ran {
                reachable: false,
                failures_in_a_row: 2,
                ..
            }
        ));
        let c = check(600, 1);
        assert_eq!(
            drive(&c, &[false, true]).await,
            vec![unreachable(1), Event::Recovered { after: 1 }]
        );
        assert!(matches!(
            c.status(),
            SelfCheckStatus::Ran {
                reachable: true,
                failures_in_a_row: 0,
                last_failure: None,
                ..
            }
        ));
    }

    /// A probe that never answers counts as a failure once its timeout passes.
    #[tokio::test]
    async fn a_hanging_probe_is_a_failure() {
        let c = check(600, 1);
        let events = Arc::new(Mutex::new(Vec::new()));
        let e = events.clone();
        let task = tokio::spawn(run(
            c.clone(),
            Duration::from_millis(1),
            Duration::from_millis(20),
            std::future::pending,
            move |event| e.lock().unwrap().push(event),
        ));
        tokio::time::sleep(Duration::from_millis(500)).await;
        task.abort();
        let events = events.lock().unwrap().clone();
        assert!(
            matches!(&events[0], Event::Unreachable { failures: 1, last } if last.contains("no answer")),
            "{events:?}"
        );
    }

    #[test]
    fn off_and_not_run_yet() {
        assert_eq!(
            check(0, 3).status(),
            SelfCheckStatus::Off {
                reason: OffReason::Disabled
            }
        );
        let no_onion = SelfCheck::new(&OnionConfig {
            enabled: false,
            ..OnionConfig::default()
        });
        assert_eq!(
            no_onion.status(),
            SelfCheckStatus::Off {
                reason: OffReason::NoOnion
            }
        );
        assert!(!no_onion.is_on());
        assert_eq!(
            check(600, 3).status(),
            SelfCheckStatus::NotRunYet { every_secs: 600 }
        );
    }

    #[test]
    fn only_a_200_status_line_passes() {
        assert!(status_ok(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\n").is_ok());
        assert!(status_ok(b"HTTP/1.0 200 OK\r\n").is_ok());
        for bad in [
            &b"HTTP/1.1 503 Service Unavailable\r\n"[..],
            b"HTTP/1.1 2000 OK\r\n",
            b"HTTP/1.1 200",
            b"",
            b"SSH-2.0-OpenSSH\r\n",
        ] {
            let err = status_ok(bad).unwrap_err();
            assert!(matches!(err, ProbeError::Status(_)), "{err:?}");
        }
    }
}
