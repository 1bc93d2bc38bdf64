//! The browser harness of `tests/browser.rs`: Debian's Chromium driven through chromedriver
//! (WebDriver, with the `fantoccini` crate), with JavaScript off the way Tor Browser's "Safest"
//! level sets it, at a phone's width, every request it makes logged; and the processes it
//! starts, found and killed by PID. [`visit`] is one person's visit to a server with it.

pub mod visit;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's Chromium binary. `/usr/bin/chromium` is a shell wrapper that adds flags of its own
/// (remote extensions, API keys); the test wants exactly the flags it passes.
pub(crate) const CHROMIUM: &str = "/usr/lib/chromium/chromium";
pub(crate) const CHROMEDRIVER: &str = "chromedriver";
/// The longest any single browser step may take (a page load includes a 64 MiB argon2 key
/// derivation on the server for the code and login pages).
pub(crate) const STEP: Duration = Duration::from_secs(60);
/// The longest a whole browser test may take: past it, the watchdog kills the browser.
pub(crate) const WHOLE: Duration = Duration::from_secs(300);
/// A phone's viewport, in CSS pixels.
pub(crate) const PHONE: (u32, u32) = (390, 844);

/// The flags the issue asks for; nothing else may reach outside the machine either.
pub(crate) const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    // Belt and braces: no host name resolves (the server is reached by its loopback IP).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    // No crash handler writing reports outside the profile.
    "--disable-breakpad",
    "--disable-crash-reporter",
];

// ---------------------------------------------------------------------------------------------
// Processes and deadlines

/// Runs `fut` with the step deadline; panics with `what` on an error or on time out.
pub(crate) async fn step<T, E: std::fmt::Debug>(
    what: &str,
    fut: impl Future<Output = Result<T, E>>,
) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("{what}: {e:?}"),
        Err(_) => panic!("{what}: no answer within {STEP:?}"),
    }
}

/// The environment variable that marks every process of one test's browser.
pub(crate) const MARK: &str = "LANTERNE_TEST_BROWSER";

pub(crate) fn all_pids() -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .collect()
}

/// The processes of one browser: chromedriver's descendants (parents first), and any process
/// that left the tree (Chromium's crash handler double-forks) but carries the browser's mark
/// in its environment. Never `root` itself.
pub(crate) fn browser_processes(root: u32, mark: &str) -> Vec<u32> {
    let mut out = descendants(root);
    let needle = format!("{MARK}={mark}\0").into_bytes();
    for pid in all_pids() {
        if pid == root || out.contains(&pid) {
            continue;
        }
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if env.windows(needle.len()).any(|w| w == needle) {
            out.push(pid);
        }
    }
    out
}

/// Every process whose parent chain leads to `root` (not `root` itself), parents first.
pub(crate) fn descendants(root: u32) -> Vec<u32> {
    let parent_of: HashMap<u32, u32> = all_pids()
        .into_iter()
        .filter_map(|pid| Some((pid, parent_pid(pid)?)))
        .collect();
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        let mut children: Vec<u32> = parent_of
            .iter()
            .filter(|&(_, &pp)| pp == p)
            .map(|(&c, _)| c)
            .collect();
        children.sort();
        out.extend(&children);
        frontier.extend(children);
    }
    out
}

/// The parent PID of `pid`, from /proc/PID/stat (the field after the parenthesised name).
pub(crate) fn parent_pid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` is a live process (a zombie counts as gone).
pub(crate) fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

pub(crate) fn kill_pid(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// chromedriver on a free loopback port, and the Chromium it starts, with a fresh profile.
pub(crate) struct Driver {
    pub(crate) chromedriver: Child,
    /// The value of `MARK` in the environment of chromedriver and of all Chromium's processes.
    pub(crate) mark: String,
    pub(crate) url: String,
    pub(crate) profile: tempfile::TempDir,
    /// chromedriver's stderr (and Chromium's, which it inherits), for failure messages.
    pub(crate) log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Dropping it stops the watchdog.
    pub(crate) _watchdog: std::sync::mpsc::Sender<()>,
}

/// Kills a browser's processes (parents first, so nothing is respawned), then `root`: by PID.
pub(crate) fn kill_browser(root: u32, mark: &str) {
    for pid in browser_processes(root, mark) {
        kill_pid(pid);
    }
    kill_pid(root);
}

impl Driver {
    pub(crate) fn start() -> Driver {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: install Debian's `chromium` and `chromium-driver` packages"
        );
        let profile = tempfile::tempdir().unwrap();
        let mark = profile.path().display().to_string();
        let mut child = Command::new(CHROMEDRIVER)
            .args(["--port=0", "--log-level=WARNING"])
            .env(MARK, &mark)
            // Whatever Chromium writes outside its profile lands in the temp folder too.
            .env("XDG_CONFIG_HOME", profile.path().join("config"))
            .env("XDG_CACHE_HOME", profile.path().join("cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {CHROMEDRIVER} ({e}): install Debian's `chromium-driver`")
            });
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let err = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody listens any more: keep draining so chromedriver never blocks.
                    continue;
                }
            }
        });
        // Whatever hangs, the browser does not outlive the test's time: every pending WebDriver
        // call then fails, and the test with it.
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let root = child.id();
        let watched = mark.clone();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(WHOLE) {
                eprintln!("browser test over {WHOLE:?}: killing chromedriver and Chromium");
                kill_browser(root, &watched);
            }
        });
        let mut driver = Driver {
            chromedriver: child,
            mark,
            url: String::new(),
            profile,
            log,
            _watchdog: stop,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.split("started successfully on port ").nth(1) {
                        break rest.trim_end_matches('.').trim().parse::<u16>().unwrap();
                    }
                }
                Err(_) => panic!("chromedriver did not start: {:?}", driver.log()),
            }
        };
        driver.url = format!("http://127.0.0.1:{port}");
        driver
    }

    pub(crate) fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// A WebDriver session: JavaScript off (unless `javascript`), the browser's language
    /// `lang` (an `Accept-Language` list), every network request logged.
    pub(crate) async fn session(&self, lang: &str, javascript: bool) -> Client {
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!(
            "--user-data-dir={}",
            self.profile.path().join("profile").display()
        ));
        args.push(format!("--lang={}", lang.split(',').next().unwrap()));
        args.push(format!("--window-size={},{}", PHONE.0, PHONE.1));
        let mut prefs = json!({
            "intl.accept_languages": lang,
            // The first tab opens on a blank page, not on Chromium's new tab page (chromedriver
            // gives Chromium no URL to start with, and `args` cannot carry one).
            "session.restore_on_startup": 4,
            "session.startup_urls": ["about:blank"],
        });
        if !javascript {
            // What Tor Browser's "Safest" does: no script runs on any page.
            prefs["profile.managed_default_content_settings.javascript"] = json!(2);
        }
        let caps = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": { "pageLoad": 45_000, "script": 5_000, "implicit": 0 },
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
                "prefs": prefs,
                "perfLoggingPrefs": { "enableNetwork": true, "enablePage": false },
            },
            "goog:loggingPrefs": { "performance": "ALL" },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = step(
            "starting Chromium through chromedriver",
            ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&self.url),
        )
        .await;
        // A phone: its width, its touch-free mobile layout (the viewport meta tag applies).
        cdp(
            &client,
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": PHONE.0, "height": PHONE.1, "deviceScaleFactor": 1, "mobile": true }),
        )
        .await;
        client
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Chromium and its helpers, then chromedriver: all by PID.
        for pid in browser_processes(self.chromedriver.id(), &self.mark) {
            kill_pid(pid);
        }
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Commands chromedriver has beyond the W3C ones

/// A chromedriver command under `/session/ID/`.
#[derive(Debug)]
pub(crate) struct Extension {
    pub(crate) path: &'static str,
    pub(crate) body: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Extension {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/{}", session_id.unwrap(), self.path))
    }

    fn method_and_body(&self, _: &url::Url) -> (reqwest::Method, Option<String>) {
        (reqwest::Method::POST, Some(self.body.to_string()))
    }
}

/// A DevTools protocol command through chromedriver.
pub(crate) async fn cdp(c: &Client, cmd: &'static str, params: Value) -> Value {
    step(
        cmd,
        c.issue_cmd(Extension {
            path: "goog/cdp/execute",
            body: json!({ "cmd": cmd, "params": params }),
        }),
    )
    .await
}

/// Every URL the page asked for since the last call (chromedriver's performance log).
pub(crate) async fn requested_urls(c: &Client) -> Vec<String> {
    let entries = step(
        "reading the performance log",
        c.issue_cmd(Extension {
            path: "se/log",
            body: json!({ "type": "performance" }),
        }),
    )
    .await;
    let mut urls = Vec::new();
    for e in entries.as_array().expect("log entries") {
        let msg: Value = serde_json::from_str(e["message"].as_str().unwrap()).unwrap();
        let msg = &msg["message"];
        if msg["method"] == "Network.requestWillBeSent" {
            urls.push(msg["params"]["request"]["url"].as_str().unwrap().to_owned());
        }
    }
    urls
}

// ---------------------------------------------------------------------------------------------
// The page texts, from the catalogues (so rewording a text does not break the test)

pub(crate) fn catalogue(lang: &str) -> HashMap<String, String> {
    let path = format!("{}/locales/{lang}.ftl", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with([' ', '#', '*', '[', '}']))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// JavaScript is off: a page whose script would retitle it keeps its title, and its
/// `<noscript>` content is real, visible markup. (With JavaScript on, both checks fail: see
/// `the_javascript_probe_catches_a_browser_with_javascript_on`.)
pub(crate) const PROBE: &str = "data:text/html;charset=utf-8,<!DOCTYPE html><title>probe</title>\
<script>document.title='script ran'</script>\
<noscript><p id=noscript>scripts are off</p></noscript>";

/// Whether scripts ran in the probe page.
pub(crate) async fn scripts_run(c: &Client) -> bool {
    step("loading the JavaScript probe", c.goto(PROBE)).await;
    let title = step("reading the probe's title", c.title()).await;
    let noscript_shown = match c.find(Locator::Id("noscript")).await {
        Ok(p) => step("reading the noscript text", p.is_displayed()).await,
        Err(_) => false,
    };
    match (title.as_str(), noscript_shown) {
        ("probe", true) => false,
        ("script ran", false) => true,
        other => panic!("the JavaScript probe is inconclusive: {other:?}"),
    }
}
