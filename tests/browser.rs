//! A real browser, as a source would use it (issue 5).
//!
//! Debian's Chromium, headless, with JavaScript switched off the way Tor Browser's "Safest"
//! level does, is driven through chromedriver (WebDriver, with the `fantoccini` crate) over the
//! whole source flow against the real `lanterne` binary on loopback: the landing page, a new
//! code, a real `<input type=file>` upload with a message, a reply planted by a reviewer,
//! logging back in with the code, reading and deleting the reply, logging out. Once in French
//! (the browser's own language, through `Accept-Language`) and once in English (chosen with the
//! visible language link, in a browser that asks for French).
//!
//! Along the way:
//! - JavaScript is proven off: a probe page whose script would rename it and whose `<noscript>`
//!   would stay inert is loaded, and a second test shows the same probe catches a browser with
//!   JavaScript on;
//! - chromedriver's performance log lists every request the page made, and each must go to the
//!   server's own origin (or be a `data:`/`about:` URL);
//! - every page is photographed full length at a phone's width (390 CSS pixels). The pictures
//!   go to the target dir, or to `docs/screenshots/` with `LANTERNE_SCREENSHOTS=docs`.
//!
//! Chromium and chromedriver are required (Debian: `chromium chromium-driver`): without them
//! the tests fail, they do not skip. Every wait has a deadline, and the browser's processes are
//! killed by PID at the end, whatever happens.

mod common;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's Chromium binary. `/usr/bin/chromium` is a shell wrapper that adds flags of its own
/// (remote extensions, API keys); the test wants exactly the flags it passes.
const CHROMIUM: &str = "/usr/lib/chromium/chromium";
const CHROMEDRIVER: &str = "chromedriver";
/// The longest any single browser step may take (a page load includes a 64 MiB argon2 key
/// derivation on the server for the code and login pages).
const STEP: Duration = Duration::from_secs(60);
/// The longest a whole browser test may take: past it, the watchdog kills the browser.
const WHOLE: Duration = Duration::from_secs(300);
/// A phone's viewport, in CSS pixels.
const PHONE: (u32, u32) = (390, 844);

/// The flags the issue asks for; nothing else may reach outside the machine either.
const CHROMIUM_FLAGS: &[&str] = &[
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
async fn step<T, E: std::fmt::Debug>(what: &str, fut: impl Future<Output = Result<T, E>>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("{what}: {e:?}"),
        Err(_) => panic!("{what}: no answer within {STEP:?}"),
    }
}

/// The environment variable that marks every process of one test's browser.
const MARK: &str = "LANTERNE_TEST_BROWSER";

fn all_pids() -> Vec<u32> {
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
fn browser_processes(root: u32, mark: &str) -> Vec<u32> {
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
fn descendants(root: u32) -> Vec<u32> {
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
fn parent_pid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` is a live process (a zombie counts as gone).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn kill_pid(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// chromedriver on a free loopback port, and the Chromium it starts, with a fresh profile.
struct Driver {
    chromedriver: Child,
    /// The value of `MARK` in the environment of chromedriver and of all Chromium's processes.
    mark: String,
    url: String,
    profile: tempfile::TempDir,
    /// chromedriver's stderr (and Chromium's, which it inherits), for failure messages.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Dropping it stops the watchdog.
    _watchdog: std::sync::mpsc::Sender<()>,
}

/// Kills a browser's processes (parents first, so nothing is respawned), then `root`: by PID.
fn kill_browser(root: u32, mark: &str) {
    for pid in browser_processes(root, mark) {
        kill_pid(pid);
    }
    kill_pid(root);
}

impl Driver {
    fn start() -> Driver {
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

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// A WebDriver session: JavaScript off (unless `javascript`), the browser's language
    /// `lang` (an `Accept-Language` list), every network request logged.
    async fn session(&self, lang: &str, javascript: bool) -> Client {
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
struct Extension {
    path: &'static str,
    body: Value,
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
async fn cdp(c: &Client, cmd: &'static str, params: Value) -> Value {
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
async fn requested_urls(c: &Client) -> Vec<String> {
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

fn catalogue(lang: &str) -> HashMap<String, String> {
    let path = format!("{}/locales/{lang}.ftl", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with([' ', '#', '*', '[', '}']))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// One visit

/// A browser session on one server, with what it has seen.
struct Visit<'a> {
    c: Client,
    server: &'a Server,
    /// `en` or `fr`: the screenshots' prefix and the expected texts.
    lang: &'static str,
    t: HashMap<String, String>,
    shots: PathBuf,
    /// Every URL requested so far.
    requests: Vec<String>,
}

impl Visit<'_> {
    fn text(&self, id: &str) -> &str {
        self.t
            .get(id)
            .unwrap_or_else(|| panic!("no {id} in {}.ftl", self.lang))
    }

    async fn goto(&mut self, path: &str) {
        let url = self.server.url(path);
        step(&format!("loading {url}"), self.c.goto(&url)).await;
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        step(
            &format!("waiting for {css}"),
            self.c.wait().at_most(STEP).for_element(Locator::Css(css)),
        )
        .await
    }

    /// Waits for the page whose `<h1>` is the text `title_id`, in the visit's language.
    async fn expect_page(&mut self, title_id: &str) {
        let want = self.text(title_id).to_owned();
        let deadline = Instant::now() + STEP;
        loop {
            let read = async {
                match self.c.find(Locator::Css("h1")).await {
                    Ok(e) => e.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                }
            };
            let h1 = tokio::time::timeout(STEP, read).await.unwrap_or_default();
            if h1 == want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "expected the page {title_id:?} ({want:?}), got {h1:?} at {:?}:\n{}",
                self.c.current_url().await.ok(),
                self.c.source().await.unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let html = self.find("html").await;
        let lang = step("reading html@lang", html.attr("lang")).await;
        assert_eq!(lang.as_deref(), Some(self.lang), "page language");
        self.check_requests().await;
    }

    /// Every request so far went to the server (or was a `data:`/`about:` URL).
    async fn check_requests(&mut self) {
        let base = self.server.base.trim_end_matches('/').to_owned();
        for url in requested_urls(&self.c).await {
            let ours = url == base || url.starts_with(&format!("{base}/"));
            assert!(
                ours || url.starts_with("data:") || url.starts_with("about:"),
                "the browser asked for {url}, which is not {base}"
            );
            self.requests.push(url);
        }
    }

    async fn click(&self, css: &str) {
        let e = self.find(css).await;
        step(&format!("clicking {css}"), e.click()).await;
    }

    /// A full-length picture of the page at the phone's width, named `LANG-NAME.png`.
    async fn screenshot(&self, name: &str) {
        let metrics = cdp(&self.c, "Page.getLayoutMetrics", json!({})).await;
        let height = metrics["cssContentSize"]["height"]
            .as_f64()
            .expect("content height")
            .ceil()
            .max(f64::from(PHONE.1)) as u32;
        // The viewport grows to the whole page for the picture, then goes back to a phone's.
        let resize = |h: u32| {
            let metrics = json!({
                "width": PHONE.0, "height": h, "deviceScaleFactor": 1, "mobile": true
            });
            cdp(&self.c, "Emulation.setDeviceMetricsOverride", metrics)
        };
        resize(height).await;
        let png = step("screenshot", self.c.screenshot()).await;
        resize(PHONE.1).await;
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::create_dir_all(&self.shots).unwrap();
        std::fs::write(self.shots.join(format!("{}-{name}.png", self.lang)), png).unwrap();
    }

    /// Follows the visible language link (the page must then be in the visit's language).
    async fn switch_language(&self) {
        let link = self.find(".langs a").await;
        let hreflang = step("reading the language link", link.attr("hreflang")).await;
        assert_eq!(
            hreflang.as_deref(),
            Some(self.lang),
            "the link offers {hreflang:?}"
        );
        step("following the language link", link.click()).await;
    }
}

fn screenshot_dir() -> PathBuf {
    match std::env::var("LANTERNE_SCREENSHOTS").as_deref() {
        Ok("docs") => Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots"),
        _ => Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
    }
}

/// A file the source will pick in the file chooser.
struct Picked {
    path: PathBuf,
    bytes: Vec<u8>,
}

fn pick(dir: &Path, name: &str, tag: &str, size: usize) -> Picked {
    let (bytes, _) = file_with_canary(tag, size);
    let path = dir.join(name);
    std::fs::write(&path, &bytes).unwrap();
    Picked { path, bytes }
}

/// What one flow does, per language.
struct Script {
    lang: &'static str,
    /// The browser's `Accept-Language`.
    browser_lang: &'static str,
    /// Whether the person must use the visible language link to get `lang`.
    use_switch: bool,
    files: &'static [(&'static str, usize)],
    message: &'static str,
    reply: &'static str,
}

/// JavaScript is off: a page whose script would retitle it keeps its title, and its
/// `<noscript>` content is real, visible markup. (With JavaScript on, both checks fail: see
/// `the_javascript_probe_catches_a_browser_with_javascript_on`.)
const PROBE: &str = "data:text/html;charset=utf-8,<!DOCTYPE html><title>probe</title>\
<script>document.title='script ran'</script>\
<noscript><p id=noscript>scripts are off</p></noscript>";

/// Whether scripts ran in the probe page.
async fn scripts_run(c: &Client) -> bool {
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

fn run(script: &Script) {
    let t0 = Instant::now();
    let server = Server::start("");
    let driver = Driver::start();
    let uploads = tempfile::tempdir().unwrap();
    let picked: Vec<Picked> = script
        .files
        .iter()
        .enumerate()
        .map(|(i, (name, size))| pick(uploads.path(), name, &format!("f{i}"), *size))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let chromedriver = driver.chromedriver.id();
    let (requests, browser) = rt.block_on(async {
        let c = driver.session(script.browser_lang, false).await;
        // Chromium's processes, to check at the end that none survives.
        let browser = browser_processes(chromedriver, &driver.mark);
        assert!(
            !browser.is_empty(),
            "no Chromium process under chromedriver"
        );
        assert!(!scripts_run(&c).await, "JavaScript is on");
        let mut v = Visit {
            c,
            server: &server,
            lang: script.lang,
            t: catalogue(script.lang),
            shots: screenshot_dir(),
            requests: Vec::new(),
        };
        flow(&mut v, script, &picked).await;
        // Still no script after all those pages.
        assert!(!scripts_run(&v.c).await, "JavaScript came back on");
        v.check_requests().await;
        let Visit { c, requests, .. } = v;
        step("closing the browser", c.close()).await;
        (requests, browser)
    });
    // The check above saw real traffic: every page and its stylesheet.
    let css = requests
        .iter()
        .filter(|u| u.ends_with("/static/style.css"))
        .count();
    assert!(
        css >= 7,
        "only {css} stylesheet loads seen in {requests:#?}"
    );
    drop(driver);
    let deadline = Instant::now() + Duration::from_secs(10);
    while browser.iter().any(|&pid| alive(pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let survivors: Vec<u32> = browser.into_iter().filter(|&pid| alive(pid)).collect();
    assert!(
        survivors.is_empty(),
        "browser processes survived: {survivors:?}"
    );
    eprintln!(
        "{} flow: {} requests, all to {}, in {:.1} s",
        script.lang,
        requests.len(),
        server.base,
        t0.elapsed().as_secs_f64()
    );
}

async fn flow(v: &mut Visit<'_>, script: &Script, picked: &[Picked]) {
    // 1. The landing page, in the person's language.
    v.goto("/").await;
    if script.use_switch {
        v.switch_language().await;
    }
    v.expect_page("index-title").await;
    v.screenshot("1-landing").await;

    // 2. "Get a code": the code page, with the form.
    v.click("form[action='/code'] button").await;
    v.expect_page("code-title").await;
    let code = step("reading the code", v.find("#source-code").await.text()).await;
    assert_eq!(code.split(' ').count(), 7, "{code:?}");
    v.screenshot("2-code").await;

    // 3. A real file chooser upload and a typed message.
    let paths: Vec<String> = picked
        .iter()
        .map(|p| p.path.display().to_string())
        .collect();
    let input = v.find("input[type=file]#files").await;
    step("choosing the files", input.send_keys(&paths.join("\n"))).await;
    let message = v.find("textarea#message").await;
    step("typing the message", message.send_keys(script.message)).await;
    v.click("form[action='/submit'] button[type=submit]").await;
    v.expect_page("submitted-title").await;
    v.screenshot("3-submitted").await;

    // What arrived: the very bytes, names and message, sealed to the reviewers.
    let subs = v.server.submissions();
    assert_eq!(subs.len(), 1, "{subs:?}");
    let manifest: Value =
        serde_json::from_slice(&v.server.age_decrypt(&subs[0].join("manifest.age"))).unwrap();
    // Browsers send a textarea's line breaks as CRLF.
    let got = manifest["message"].as_str().unwrap().replace("\r\n", "\n");
    assert_eq!(got, script.message);
    let entries = manifest["files"].as_array().unwrap();
    assert_eq!(entries.len(), picked.len(), "{manifest}");
    for ((entry, p), (name, _)) in entries.iter().zip(picked).zip(script.files) {
        assert_eq!(entry["name"], *name);
        let stored = subs[0].join(entry["stored_as"].as_str().unwrap());
        let size = entry["size"].as_u64().unwrap();
        assert!(
            v.server.age_decrypt_file(&stored, size) == p.bytes,
            "{name} differs"
        );
    }

    // A reviewer answers, offline: encrypted to the source's stored recipient and the team.
    let source = &v.server.sources()[0];
    let recipient = std::fs::read_to_string(source.join("recipient")).unwrap();
    let reply_file = source.join("replies/r0000000001-00112233445566778899aabbccddeeff.age");
    age_cli_encrypt(
        &[recipient.trim(), &v.server.recipient],
        script.reply.as_bytes(),
        &reply_file,
    );

    // Days later, after Tor Browser's "New Identity": no cookie, no language choice left.
    step("forgetting the cookies", v.c.delete_all_cookies()).await;
    v.goto("/").await;
    if script.use_switch {
        v.switch_language().await;
    }
    v.expect_page("index-title").await;

    // 4. "I already have a code", then the code.
    v.click("a[href='/login']").await;
    v.expect_page("login-title").await;
    v.screenshot("4-login").await;
    let field = v.find("input#code").await;
    step("typing the code", field.send_keys(&code)).await;
    v.click("form[action='/login'] button[type=submit]").await;

    // 5. The answer.
    v.expect_page("inbox-title").await;
    let shown = step("reading the reply", v.find(".reply-text").await.text()).await;
    assert_eq!(shown.trim(), script.reply);
    v.screenshot("5-reply").await;

    // 6. Delete it.
    v.click("form[action='/reply/delete'] button").await;
    v.expect_page("deleted-title").await;
    assert!(!reply_file.exists(), "the reply is still on disk");
    v.screenshot("6-deleted").await;

    // 7. Log out.
    v.click("form[action='/logout'] button").await;
    v.expect_page("logout-title").await;
    let cookies = step("reading cookies", v.c.get_all_cookies()).await;
    assert!(
        cookies.iter().all(|c| c.name() != "lanterne_session"),
        "the session cookie is still there: {cookies:?}"
    );
    v.screenshot("7-logout").await;
}

#[test]
fn a_french_source_in_a_browser_without_javascript() {
    run(&Script {
        lang: "fr",
        browser_lang: "fr-FR,fr",
        use_switch: false,
        files: &[
            ("procès-verbal réunion.pdf", 300 * 1024),
            ("photo du tableau.jpg", 80 * 1024),
        ],
        message: "Bonjour,\nvoici le procès-verbal de la réunion du 3 mars et une photo du \
                  tableau.\nJe préfère rester anonyme.",
        reply: "Merci, nous avons bien reçu vos deux documents.\nPouvez-vous nous dire qui \
                d'autre était présent à cette réunion ?",
    });
}

#[test]
fn an_english_source_picks_english_with_the_language_link() {
    run(&Script {
        lang: "en",
        // The browser asks for French: the person picks English with the visible link.
        browser_lang: "fr-FR,fr",
        use_switch: true,
        files: &[("meeting notes.txt", 12 * 1024)],
        message: "Hello,\nthese are the notes from the March meeting.\nPlease do not use my name.",
        reply: "Thank you, your notes arrived.\nCould you tell us who else was at that meeting?",
    });
}

#[test]
fn the_javascript_probe_catches_a_browser_with_javascript_on() {
    let driver = Driver::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = driver.session("en-US,en", true).await;
        assert!(
            scripts_run(&c).await,
            "the probe must notice scripts running"
        );
        step("closing the browser", c.close()).await;
    });
}
