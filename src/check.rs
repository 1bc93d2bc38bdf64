//! `lanterne check`: tells the admin what is wrong with a box before a source finds out.
//!
//! A check is a list of [`Finding`]s, each an error, a warning or plain information, with the
//! fix when there is one; `lanterne check` prints them and exits 0 only when none is an error.
//! Today it asks the running box, over its status socket ([`crate::status`]), for the onion
//! self-check's last result ([`crate::onion::selfcheck`]):
//!
//! - the box is not running: error;
//! - the self-check failed M (`[onion] self_check_failures`) or more times in a row: error;
//! - it failed fewer times than that: warning;
//! - reachable, not run yet, or off: information.
//!
//! More checks of the data dir, the keys and the system join the same list (issue 15).

use std::fmt;
use std::path::Path;

use crate::onion::selfcheck::{failures_in_a_row, OffReason, SelfCheckStatus};
use crate::status::{self, QueryError};

/// How much a finding matters. Only errors make `lanterne check` fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// One thing `lanterne check` found, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub what: String,
    pub fix: Option<String>,
}

impl Finding {
    fn new(severity: Severity, what: impl Into<String>, fix: Option<&str>) -> Finding {
        Finding {
            severity,
            what: what.into(),
            fix: fix.map(str::to_owned),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Info => "ok",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{label}: {}", self.what)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

/// Everything one run of `lanterne check` found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    /// True when no finding is an error: `lanterne check` then exits 0.
    pub fn passed(&self) -> bool {
        self.findings.iter().all(|f| f.severity != Severity::Error)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        Ok(())
    }
}

/// Checks the box whose data dir is `data_dir`.
pub fn run(data_dir: &Path) -> Report {
    let finding = match status::query(data_dir) {
        Ok(status) => self_check(&status.onion_self_check),
        Err(QueryError::NotRunning { path }) => Finding::new(
            Severity::Error,
            format!(
                "the box is not running (no status socket at {})",
                path.display()
            ),
            Some(
                "start it (`systemctl start lanterne`, or `lanterne serve`) with this data dir, \
                 and read its log if it stopped",
            ),
        ),
        Err(e) => Finding::new(Severity::Error, error_chain(&e), None),
    };
    Report {
        findings: vec![finding],
    }
}

/// An error and its sources on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn ago(mins: u64) -> String {
    match mins {
        0 => "under a minute ago".into(),
        1 => "1 min ago".into(),
        n => format!("{n} min ago"),
    }
}

/// The finding for the onion self-check's status.
fn self_check(status: &SelfCheckStatus) -> Finding {
    const FIX_UNREACHABLE: &str = "check that the server reaches the Tor network (the box's \
        `Tor bootstrap` log lines), that no firewall blocks outgoing connections to Tor relays, \
        and that the system clock is right; then look for `onion self-check` in the box's log";
    match status {
        SelfCheckStatus::Off {
            reason: OffReason::NoOnion,
        } => Finding::new(
            Severity::Info,
            "onion self-check: off (the embedded onion service is off)",
            None,
        ),
        SelfCheckStatus::Off {
            reason: OffReason::Disabled,
        } => Finding::new(
            Severity::Info,
            "onion self-check: off ([onion] self_check_every_secs = 0)",
            None,
        ),
        SelfCheckStatus::NotRunYet { every_secs } => Finding::new(
            Severity::Info,
            format!(
                "onion self-check: not run yet (the first check runs {every_secs} s after the \
                 box starts)"
            ),
            None,
        ),
        SelfCheckStatus::Ran {
            reachable: true,
            mins_ago,
            failures_in_a_row: failures,
            ..
        } => Finding::new(
            Severity::Info,
            format!(
                "onion self-check: reachable (last check {}, {})",
                ago(*mins_ago),
                failures_in_a_row(*failures)
            ),
            None,
        ),
        SelfCheckStatus::Ran {
            reachable: false,
            mins_ago,
            failures_in_a_row: failures,
            warn_at,
            last_failure,
        } => {
            let why = last_failure.as_deref().unwrap_or("no reason given");
            let severity = if failures >= warn_at {
                Severity::Error
            } else {
                Severity::Warning
            };
            Finding::new(
                severity,
                format!(
                    "onion self-check: unreachable: {} (the box warns at {warn_at}; last \
                     check {}: {why})",
                    failures_in_a_row(*failures),
                    ago(*mins_ago)
                ),
                Some(FIX_UNREACHABLE),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(reachable: bool, failures: u32) -> SelfCheckStatus {
        SelfCheckStatus::Ran {
            reachable,
            mins_ago: 3,
            failures_in_a_row: failures,
            warn_at: 3,
            last_failure: (!reachable).then(|| "no answer within 120 s".to_owned()),
        }
    }

    fn report(status: SelfCheckStatus) -> Report {
        Report {
            findings: vec![self_check(&status)],
        }
    }

    /// Only the box not running, or M failures in a row, fail the check.
    #[test]
    fn only_m_failures_fail_the_check() {
        let ok = report(ran(true, 0));
        assert!(ok.passed());
        assert_eq!(
            ok.to_string(),
            "ok: onion self-check: reachable (last check 3 min ago, 0 failures in a row)\n"
        );
        let two = report(ran(false, 2));
        assert!(two.passed(), "{two}");
        assert!(two.to_string().starts_with("warning: "), "{two}");
        let three = report(ran(false, 3));
        assert!(!three.passed());
        let text = three.to_string();
        assert!(
            text.starts_with("error: onion self-check: unreachable: 3 failures in a row"),
            "{text}"
        );
        assert!(
            text.contains("no answer within 120 s") && text.contains("fix: "),
            "{text}"
        );
        for quiet in [
            SelfCheckStatus::NotRunYet { every_secs: 600 },
            SelfCheckStatus::Off {
                reason: OffReason::NoOnion,
            },
            SelfCheckStatus::Off {
                reason: OffReason::Disabled,
            },
        ] {
            let r = report(quiet);
            assert!(r.passed(), "{r}");
        }
    }

    #[test]
    fn no_socket_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let r = run(dir.path());
        assert!(!r.passed());
        assert!(
            r.to_string()
                .starts_with("error: the box is not running (no status socket at "),
            "{r}"
        );
    }
}
