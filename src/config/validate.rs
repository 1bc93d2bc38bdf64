//! The one check of a configuration, at start: every setting out of its range is named by its
//! TOML path, with what it must be.

use super::{Config, ConfigError};

impl Config {
    /// Checks the settings; the first one out of range is named in the error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.listen.ip().is_loopback() && !self.allow_public_listen {
            return Err(ConfigError::PublicListen(self.listen));
        }
        let r = &self.reviewer;
        if r.enabled && !r.listen.ip().is_loopback() && !r.allow_public_listen {
            return Err(ConfigError::PublicReviewerListen(r.listen));
        }
        if r.onion && !(r.enabled && self.onion.enabled) {
            return Err(ConfigError::Invalid {
                field: "reviewer.onion",
                problem: "needs the reviewer API ([reviewer] enabled) and the embedded onion \
                          service ([onion] enabled, no --no-onion)"
                    .into(),
            });
        }
        if r.onion_nickname == self.onion.nickname {
            return Err(ConfigError::Invalid {
                field: "reviewer.onion_nickname",
                problem: "must differ from onion.nickname: each onion service has its own key"
                    .into(),
            });
        }
        let at_least_1 = "must be at least 1";
        let (k, l, h) = (&self.kdf, &self.limits, &self.http);
        let dos = &self.onion.dos;
        let cb = &self.onion.circuit;
        let checks: [(bool, &'static str, String); 27] = [
            (
                k.memory_kib < 64 * 1024,
                "kdf.memory_kib",
                "must be at least 65536 (64 MiB): codes must be costly to guess".into(),
            ),
            (k.iterations == 0, "kdf.iterations", at_least_1.into()),
            (
                k.max_concurrent == 0,
                "kdf.max_concurrent",
                at_least_1.into(),
            ),
            (k.per_minute == 0, "kdf.per_minute", at_least_1.into()),
            (k.burst == 0, "kdf.burst", at_least_1.into()),
            (l.max_files == 0, "limits.max_files", at_least_1.into()),
            (
                l.max_files > crate::manifest::MAX_FILES,
                "limits.max_files",
                format!(
                    "must be at most {}: reviewers' `review open` refuses more",
                    crate::manifest::MAX_FILES
                ),
            ),
            (
                l.max_submission_bytes == 0,
                "limits.max_submission_bytes",
                at_least_1.into(),
            ),
            (
                r.retention_days == 0,
                "reviewer.retention_days",
                at_least_1.into(),
            ),
            (
                self.sessions.idle_timeout_secs == 0,
                "sessions.idle_timeout_secs",
                at_least_1.into(),
            ),
            (
                self.sessions.max_sessions == 0,
                "sessions.max_sessions",
                at_least_1.into(),
            ),
            (
                h.header_timeout_secs == 0,
                "http.header_timeout_secs",
                at_least_1.into(),
            ),
            (
                h.request_timeout_secs == 0,
                "http.request_timeout_secs",
                at_least_1.into(),
            ),
            (
                h.upload_idle_timeout_secs == 0,
                "http.upload_idle_timeout_secs",
                at_least_1.into(),
            ),
            (
                h.max_connections == 0,
                "http.max_connections",
                at_least_1.into(),
            ),
            (
                h.upload_grace_secs == 0,
                "http.upload_grace_secs",
                at_least_1.into(),
            ),
            (
                !(3..=20).contains(&dos.intro_points),
                "onion.dos.intro_points",
                "must be 3 to 20 (what arti accepts)".into(),
            ),
            (
                dos.intro_rate_per_second == 0 || dos.intro_rate_per_second > i32::MAX as u32,
                "onion.dos.intro_rate_per_second",
                "must be 1 to 2147483647 (0 would shut the door)".into(),
            ),
            (
                dos.intro_burst == 0 || dos.intro_burst > i32::MAX as u32,
                "onion.dos.intro_burst",
                "must be 1 to 2147483647".into(),
            ),
            (
                dos.max_streams_per_circuit == 0,
                "onion.dos.max_streams_per_circuit",
                at_least_1.into(),
            ),
            (
                cb.new_codes_burst == 0,
                "onion.circuit.new_codes_burst",
                at_least_1.into(),
            ),
            (
                cb.new_codes_per_hour == 0,
                "onion.circuit.new_codes_per_hour",
                at_least_1.into(),
            ),
            (
                cb.logins_burst == 0,
                "onion.circuit.logins_burst",
                at_least_1.into(),
            ),
            (
                cb.logins_per_hour == 0,
                "onion.circuit.logins_per_hour",
                at_least_1.into(),
            ),
            (
                cb.slow_streams == 0,
                "onion.circuit.slow_streams",
                at_least_1.into(),
            ),
            (
                (1..10).contains(&self.onion.self_check_every_secs),
                "onion.self_check_every_secs",
                "must be 0 (off) or at least 10".into(),
            ),
            (
                self.onion.self_check_failures == 0,
                "onion.self_check_failures",
                at_least_1.into(),
            ),
        ];
        if let Some((_, field, problem)) = checks.into_iter().find(|(bad, _, _)| *bad) {
            return Err(ConfigError::Invalid { field, problem });
        }
        if !(1..=16384).contains(&h.upload_min_bytes_per_sec) {
            return Err(ConfigError::Invalid {
                field: "http.upload_min_bytes_per_sec",
                problem: "must be between 1 and 16384 (an honest upload over Tor can be as slow \
                          as 20 KB/s)"
                    .into(),
            });
        }
        Ok(())
    }
}
