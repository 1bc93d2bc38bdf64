//! HTTP requests to onion services through a C tor client's SOCKS port, with Debian's `curl`
//! (what a source's or a workstation's tor would do, and no HTTP client of our own to trust).
//! [`TorNet::curl_once`] is one request with any curl arguments and a `Result`, for tests that
//! must see a failure within a bounded time or POST forms; [`TorNet::curl_get_via`] and
//! [`TorNet::curl_get`] retry a GET until a deadline, for tests that need the page.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::wait_output;
use crate::TorNet;

/// Longest single curl run inside the retrying GETs.
const ATTEMPT_MAX: Duration = Duration::from_secs(60);
/// Proxy variables curl would otherwise honour over `--socks5-hostname`.
const PROXY_VARS: [&str; 8] = [
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
];

/// Why one request through a SOCKS port gave no HTTP response.
#[derive(Debug, thiserror::Error)]
pub enum CurlError {
    /// curl ran and failed. `exit` is curl's exit code: 97 for a SOCKS failure (the message
    /// then ends with C tor's extended reply code in decimal, e.g. "(240)" for 0xF0, descriptor
    /// not found, or "(244)" for 0xF4, client authorization missing), 28 when `max_time` ran
    /// out.
    #[error("curl failed (exit {exit:?}): {stderr}")]
    Failed { exit: Option<i32>, stderr: String },
    /// curl ignored its own `--max-time` and was killed.
    #[error("curl hung: {0}")]
    Hung(String),
    /// curl itself could not be run (install Debian's `curl`).
    #[error("cannot run curl")]
    Spawn(#[source] std::io::Error),
}

impl CurlError {
    /// curl's exit code, when it ran and failed.
    pub fn exit(&self) -> Option<i32> {
        match self {
            CurlError::Failed { exit, .. } => *exit,
            _ => None,
        }
    }
}

/// Panics unless `url` is `http://<something>.onion[:port]/...`: these helpers never reach
/// anything but onion services of the private network.
fn assert_onion_url(url: &str) {
    let authority = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("tornet: curl wants an http:// URL, got {url}"))
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    assert!(
        host.to_ascii_lowercase().ends_with(".onion") && !host.contains('@'),
        "tornet: curl only fetches onion services, got {url}"
    );
}

impl TorNet {
    /// One request to `url` (an `http://….onion` URL) through the SOCKS port `socks`
    /// (`socks()` or one from `add_client`), with `curl --socks5-hostname`, giving up after
    /// `max_time`. `args` go to curl before the URL (e.g. `["--data", "csrf=…"]`, or `-c`/`-b`
    /// with a cookie jar). With `isolation`, the request goes with that SOCKS username, so C tor
    /// (`IsolateSOCKSAuth`, on by default) never shares a circuit between different
    /// isolation tokens; the same token may reuse one. Returns (status, body), the status of
    /// the last response when curl follows redirects. No retry.
    pub fn curl_once(
        &self,
        socks: SocketAddr,
        isolation: Option<&str>,
        url: &str,
        args: &[&str],
        max_time: Duration,
    ) -> Result<(u16, String), CurlError> {
        assert_onion_url(url);
        let mut cmd = Command::new("curl");
        cmd.args(["-q", "--silent", "--show-error", "--max-time"])
            .arg(max_time.as_secs().max(1).to_string())
            .arg("--socks5-hostname")
            .arg(socks.to_string());
        if let Some(token) = isolation {
            assert!(
                !token.is_empty()
                    && token
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "tornet: isolation token {token:?} must be [A-Za-z0-9_-]+"
            );
            cmd.arg("--proxy-user").arg(format!("{token}:{token}"));
        }
        cmd.args(args)
            .args(["--output", "-", "--write-out", "%{http_code}", "--"])
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for var in PROXY_VARS {
            cmd.env_remove(var);
        }
        let child = cmd.spawn().map_err(CurlError::Spawn)?;
        // curl enforces --max-time itself; this limit is a backstop.
        let (status, stdout, stderr) =
            wait_output(child, max_time + Duration::from_secs(10)).map_err(CurlError::Hung)?;
        let code = stdout
            .len()
            .checked_sub(3)
            .and_then(|i| std::str::from_utf8(&stdout[i..]).ok())
            .and_then(|c| c.parse::<u16>().ok())
            .unwrap_or(0);
        if status.success() && code != 0 {
            let body = String::from_utf8_lossy(&stdout[..stdout.len() - 3]);
            return Ok((code, body.into_owned()));
        }
        Err(CurlError::Failed {
            exit: status.code(),
            stderr: String::from_utf8_lossy(&stderr).trim().to_owned(),
        })
    }

    /// GET `url` through the network's own client (`socks()`), retrying until `deadline`; see
    /// [`TorNet::curl_get_via`].
    pub fn curl_get(&self, url: &str, deadline: Duration) -> (u16, String) {
        self.curl_get_via(self.socks, None, url, deadline)
    }

    /// GET an `http://<onion>/...` URL through the SOCKS port `socks` (see `curl_once` for
    /// `isolation`), retrying until `deadline` (an onion service can be unreachable for a
    /// minute or so around a time-period change, see `ensure_stable_period`); returns
    /// (status, body) of the first complete response. Panics with the clients' and the onion
    /// services' log tails if none came.
    pub fn curl_get_via(
        &self,
        socks: SocketAddr,
        isolation: Option<&str>,
        url: &str,
        deadline: Duration,
    ) -> (u16, String) {
        assert_onion_url(url);
        let end = Instant::now() + deadline;
        let mut attempts = 0;
        let mut last_err = String::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            attempts += 1;
            match self.curl_once(socks, isolation, url, &[], left.min(ATTEMPT_MAX)) {
                Ok(response) => return response,
                Err(e @ CurlError::Spawn(_)) => panic!("tornet: {e}"),
                Err(e) => last_err = e.to_string(),
            }
            std::thread::sleep(
                Duration::from_secs(1).min(end.saturating_duration_since(Instant::now())),
            );
        }
        let mut msg = format!(
            "tornet: GET {url} via {socks} got no response within {deadline:?} ({attempts} attempts); last error: {last_err}"
        );
        let n = self.nodes().len();
        for i in 0..n {
            if self.nodes()[i].name.starts_with(['c', 'h']) {
                msg.push_str(&self.tail(i));
            }
        }
        panic!("{msg}");
    }
}
