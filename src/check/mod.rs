//! `lanterne check`: tells the admin what is wrong with a box before a source finds out.
//!
//! A check is a list of [`Finding`]s, each an error, a warning or plain information, with the
//! fix when there is one; `lanterne check` prints them and exits 0 only when none is an error.
//! It looks at what `lanterne serve` would use with the same `--config` (or `--data-dir` and
//! `--keys-dir`), and reads without writing anything: it can run before the first start, and
//! beside a running box (it never takes the data dir's lock).
//!
//! Errors (the box would not start, or would run unsafely):
//! - the config is refused ([`crate::config::Config::validate`]);
//! - no reviewer key, or a key file that is not a valid recipient or card ([`files::keys`],
//!   through the server's own loader, [`crate::seal::Recipients::load_dir`]; run as root, it
//!   also warns when the data dir's owner could not read them, [`files::keys_readable_by`]);
//! - a data dir that is not 0700 or not owned by the user running the check, or an entry in it
//!   (the instance secret, `params`, the onion keys…) that others may read or that another
//!   user owns ([`files::data_dir`]);
//! - a config whose `[kdf]` differs from the parameters the box was made with
//!   ([`files::kdf`], through [`crate::pinned::compare`]);
//! - the running box's onion self-check failed `[onion] self_check_failures` times in a row
//!   ([`running`]).
//!
//! Warnings (the box runs, but less safely than it could): a data dir not on dm-crypt or
//! mounted without `noatime`, swap not on dm-crypt, core dumps allowed ([`system`]); no onion
//! key yet ([`files::onion_key`]); a clock that is clearly wrong ([`system::clock`]); the box
//! not running, or its self-check failing fewer times than that ([`running`]).
//!
//! "Not running" is a warning, not an error: `lanterne check` is also the pre-flight check of a
//! fresh install, which must pass once its key is in place, before the box ever started.
//! Whether the box runs is for `systemctl status lanterne` to say.

use std::fmt;
use std::os::unix::fs::MetadataExt;

use crate::config::Config;

mod files;
mod running;
mod system;

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

    fn info(what: impl Into<String>) -> Finding {
        Finding::new(Severity::Info, what, None)
    }

    fn warning(what: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Warning,
            what: what.into(),
            fix: Some(fix.into()),
        }
    }

    fn error(what: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Error,
            what: what.into(),
            fix: Some(fix.into()),
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

/// Checks the box `lanterne serve` would run with `config`.
pub fn run(config: &Config) -> Report {
    let mut findings = Vec::new();
    if let Err(e) = config.validate() {
        findings.push(Finding::error(
            format!("the config is refused: {}", error_chain(&e)),
            "change the setting it names; `lanterne serve` would refuse to start",
        ));
    }
    findings.push(files::keys(&config.keys_dir));
    if system::uid() == 0 {
        // Root reads anything: would the box's user (the data dir's owner) read the keys?
        let owner = std::fs::metadata(&config.data_dir).ok();
        if let Some(m) = owner.filter(|m| m.uid() != 0) {
            findings.extend(files::keys_readable_by(&config.keys_dir, m.uid(), m.gid()));
        }
    }
    findings.extend(files::data_dir(&config.data_dir, system::uid()));
    findings.push(files::kdf(&config.data_dir, &config.kdf));
    findings.extend(files::onion_key(config));
    findings.extend(system::all(&config.data_dir));
    findings.push(running::box_status(&config.data_dir));
    Report { findings }
}

/// An error and its causes on one line, each once.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    lanterne_core::causes::chain(e)
}
