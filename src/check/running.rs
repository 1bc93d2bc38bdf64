//! The running box's part of `lanterne check`: its onion self-check's last result, asked over
//! its status socket ([`crate::status`]; the self-check is [`crate::onion::selfcheck`]).
//!
//! - the box is not running: warning (see the parent module on why not an error);
//! - the self-check failed M (`[onion] self_check_failures`) or more times in a row: error;
//! - it failed fewer times than that: warning;
//! - reachable, not run yet, or off: information.

use std::path::Path;

use super::{error_chain, Finding, Severity};
use crate::onion::selfcheck::{failures_in_a_row, OffReason, SelfCheckStatus};
use crate::status::{self, QueryError};

/// The finding for the box using `data_dir`: its self-check, or that it does not run.
pub(super) fn box_status(data_dir: &Path) -> Finding {
    match status::query(data_dir) {
        Ok(status) => self_check(&status.onion_self_check),
        Err(QueryError::NotRunning { path }) => Finding::new(
            Severity::Warning,
            format!(
                "the box is not running (no status socket at {}), so its onion self-check \
                 cannot be read",
                path.display()
            ),
            Some(
                "start it (`systemctl start lanterne`, or `lanterne serve`) with this data dir, \
                 and read its log if it stopped",
            ),
        ),
        Err(e) => Finding::new(Severity::Error, error_chain(&e), None),
    }
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
    use crate::check::Report;

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

    /// Before the first start there is no box to ask: that alone does not fail the check.
    #[test]
    fn no_socket_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let f = box_status(dir.path());
        assert_eq!(f.severity, Severity::Warning);
        assert!(
            f.to_string()
                .starts_with("warning: the box is not running (no status socket at "),
            "{f}"
        );
    }
}
