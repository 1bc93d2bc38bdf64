//! Test harness: runs the real `lanterne` binary on a loopback port and drives it over HTTP
//! like a source's browser would (cookies, forms, multipart), and decrypts what it stored with
//! the stock `age` CLI. Every server gets its own temp folder, data dir and TMPDIR.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_lanterne");

// Listing, walking and searching folders, and the stock age CLI: shared with the offline crate's
// tests, which cannot include this harness (it needs the `lanterne` binary).
// The offline crate's test support (bundles made by hand, the offline round trip), shared
// rather than copied.
#[path = "../../crates/lanterne-offline/tests/support/mod.rs"]
pub mod support;
#[allow(unused_imports)] // each test binary uses some of them
pub use support::files::{age_cli_decrypt, any_file_contains, list, walk};
pub mod tmux;

/// A running box and everything around it.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub base: String,
    /// The reviewer API's base URL.
    pub reviewer_base: String,
    pub identity: PathBuf,
    pub recipient: String,
    /// Flags added to `serve` (by default `--no-onion`: tests never reach the real Tor).
    pub serve_args: Vec<String>,
    /// The `LANTERNE_LOG` filter the server runs with.
    pub log_filter: String,
    stdout: Option<std::sync::mpsc::Receiver<String>>,
    child: Child,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Server {
    /// Starts a box with a fresh reviewer key and the given extra TOML config.
    pub fn start(extra_config: &str) -> Server {
        Server::start_with(extra_config, &["--no-onion"])
    }

    /// Starts a box with extra `serve` flags instead of `--no-onion`.
    pub fn start_with(extra_config: &str, serve_args: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let identity = dir.path().join("reviewer.key");
        let card = dir.path().join("reviewer.card");
        let out = Command::new(BIN)
            .args(["keys", "new", "--out"])
            .arg(&identity)
            .arg("--public")
            .arg(&card)
            .output()
            .unwrap();
        assert!(out.status.success(), "keys new failed: {out:?}");
        let recipient = card_recipient(&String::from_utf8(out.stdout).unwrap());
        // The reviewer's offline machine pins their own card as the whole team.
        let pinned = Command::new(BIN)
            .args(["review", "team", "add"])
            .arg(&card)
            .env(REVIEW_HOME_ENV, dir.path().join("review-home"))
            .output()
            .unwrap();
        assert!(pinned.status.success(), "team add failed: {pinned:?}");
        // The server's keys dir holds the same card, so replies it signs are accepted.
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        std::fs::copy(&card, dir.path().join("keys/reviewer.card")).unwrap();
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        std::fs::write(dir.path().join("lanterne.toml"), extra_config).unwrap();
        let mut s = Server {
            dir,
            base: String::new(),
            reviewer_base: String::new(),
            identity,
            recipient,
            serve_args: serve_args.iter().map(|a| a.to_string()).collect(),
            log_filter: std::env::var("TEST_LANTERNE_LOG")
                .unwrap_or_else(|_| "lanterne=debug,warn".into()),
            stdout: None,
            child: Command::new("true").spawn().unwrap(),
            stderr: None,
        };
        s.launch();
        s
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The reviewer's offline state (`LANTERNE_REVIEW_HOME`), with their card pinned.
    pub fn review_home(&self) -> PathBuf {
        self.dir.path().join("review-home")
    }

    pub fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    /// (Re)starts the process on a new port with the same folders.
    pub fn launch(&mut self) {
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(&self.serve_args)
            .arg("--config")
            .arg(self.dir.path().join("lanterne.toml"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--reviewer-listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(self.data())
            .arg("--keys-dir")
            .arg(self.dir.path().join("keys"))
            .env("TMPDIR", self.tmp())
            .env("LANTERNE_LOG", &self.log_filter)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        // Later stdout lines (the onion address) are collected for `stdout_lines`.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in stdout.lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        self.stdout = Some(rx);
        let err = child.stderr.take().unwrap();
        self.stderr = Some(std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut BufReader::new(err), &mut s);
            s
        }));
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        self.base = addr.to_owned();
        self.child = child;
        self.reviewer_base = self
            .wait_stdout("reviewer api on ", Duration::from_secs(10))
            .expect("no reviewer api line");
    }

    /// Stops the process and returns what it logged.
    pub fn stop(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default()
    }

    /// Waits up to `timeout` for a stdout line starting with `prefix`; returns the rest.
    pub fn wait_stdout(&self, prefix: &str, timeout: Duration) -> Option<String> {
        let rx = self.stdout.as_ref()?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return Some(rest.to_owned());
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Issues a reviewer credential `name` into `out` with `lanterne reviewers add`; returns
    /// the `Authorization` header value it gives.
    pub fn add_reviewer(&self, name: &str, out: &Path) -> String {
        lanterne(&[
            "reviewers",
            "add",
            name,
            "--out",
            out.to_str().unwrap(),
            "--data-dir",
            self.data().to_str().unwrap(),
        ]);
        let c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
        format!("Bearer {name}:{}", c["token"].as_str().unwrap())
    }

    /// A source with one submitted message (so its folder exists).
    pub fn source_with_message(&self, message: &str) -> Page {
        let b = self.browser();
        let page = b.new_code();
        assert_eq!(b.submit(&page, &[], message).status, 200);
        page
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's peak resident memory so far (VmHWM), in KiB, read from /proc.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Whether the server process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A new browser: its own cookie jar.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.base, None)
    }

    /// Every source folder.
    pub fn sources(&self) -> Vec<PathBuf> {
        list(&self.data().join("sources"))
    }

    /// Every submission folder of every source.
    pub fn submissions(&self) -> Vec<PathBuf> {
        self.sources()
            .iter()
            .flat_map(|s| list(&s.join("submissions")))
            .collect()
    }

    pub fn staging_entries(&self) -> usize {
        list(&self.data().join("staging")).len()
    }

    /// Decrypts a stored file with the Debian `age` CLI and the reviewer identity.
    pub fn age_decrypt(&self, file: &Path) -> Vec<u8> {
        age_cli_decrypt(&self.identity, file)
    }

    /// A stored submission file's exact bytes, `size` from its manifest, through the stock
    /// `age` CLI: what it decrypts is the file padded with zeros to its size bucket.
    pub fn age_decrypt_file(&self, file: &Path, size: u64) -> Vec<u8> {
        let mut plain = self.age_decrypt(file);
        assert_eq!(
            plain.len() as u64,
            lanterne::padding::bucket(size),
            "{file:?} is not padded to its bucket"
        );
        assert!(
            plain[size as usize..]
                .iter()
                .all(|&b| b == lanterne::padding::PAD_BYTE),
            "{file:?}'s padding is not zeros"
        );
        plain.truncate(size as usize);
        plain
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the lanterne binary with `args`; panics with its output unless it succeeds.
pub fn lanterne(args: &[&str]) -> String {
    lanterne_run(Command::new(BIN).args(args), args)
}

/// Writes, in `dir`, an arti fragment for a Tor network that does not exist (its authority and
/// fallback are loopback ports nobody listens on), for `serve --tor-network`: the onion is on,
/// and nothing leaves the machine. Returns its path.
pub fn unreachable_tor_network(dir: &Path) -> PathBuf {
    let fragment = dir.join("net.toml");
    std::fs::write(
        &fragment,
        r#"
[tor_network]
fallback_caches = [{ rsa_identity = "0000000000000000000000000000000000000000", ed_identity = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", orports = ["127.0.0.1:9"] }]
[tor_network.authorities]
v3idents = ["0000000000000000000000000000000000000001"]
uploads = [["127.0.0.1:9"]]
downloads = [["127.0.0.1:9"]]
votes = [["127.0.0.1:9"]]
[address_filter]
allow_local_addrs = true
"#,
    )
    .unwrap();
    fragment
}

/// A path as the `&str` a command line takes.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The arguments of `lanterne fetch` from the reviewer API at `base` into `bundle`.
pub fn fetch_args<'a>(base: &'a str, cred: &'a Path, bundle: &'a Path, ack: bool) -> Vec<&'a str> {
    let mut args = vec![
        "fetch",
        "--server",
        base,
        "--credential",
        p(cred),
        "--out",
        p(bundle),
    ];
    if ack {
        args.push("--ack");
    }
    args
}

/// `lanterne fetch` from the reviewer API at `base`, which must succeed; returns what it printed.
pub fn fetch_at(base: &str, cred: &Path, bundle: &Path, ack: bool) -> String {
    lanterne(&fetch_args(base, cred, bundle, ack))
}

/// `lanterne fetch` from `server`'s reviewer API, which must succeed; returns what it printed.
pub fn fetch(server: &Server, cred: &Path, bundle: &Path, ack: bool) -> String {
    fetch_at(&server.reviewer_base, cred, bundle, ack)
}

/// POSTs a reply to `url` as `auth`, with a signature header when given; (status, body).
pub fn post_reply(url: &str, auth: &str, signature: Option<&str>, body: Vec<u8>) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new()
            .post(url)
            .header("authorization", auth);
        if let Some(sig) = signature {
            req = req.header("lanterne-signature", sig);
        }
        let r = req.body(body).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    })
}

/// The environment variable naming the offline reviewer's state directory.
pub const REVIEW_HOME_ENV: &str = "LANTERNE_REVIEW_HOME";

/// The age recipient on a reviewer card (its one line that is not a comment).
pub fn card_recipient(card: &str) -> String {
    card.lines()
        .map(str::trim)
        .find(|l| l.starts_with("age1"))
        .unwrap_or_else(|| panic!("no recipient on the card:\n{card}"))
        .to_owned()
}

/// Runs the offline command `lanterne ARGS` as `server`'s reviewer (with their pinned team).
pub fn lanterne_offline(server: &Server, args: &[&str]) -> String {
    lanterne_run(
        Command::new(BIN)
            .args(args)
            .env(REVIEW_HOME_ENV, server.review_home()),
        args,
    )
}

fn lanterne_run(cmd: &mut Command, args: &[&str]) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "lanterne {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Signs `file` as a reply to `designation` (whose recipient is `recipient`) with the stock
/// `minisign` CLI and the unencrypted secret key `key` (a reviewer's `IDENTITY.minisign`), as
/// `review reply` would: the reply id is the start of the file's SHA-256, and it answers a
/// first submission. The signature goes to `<file>.minisig`, whose bytes are returned.
pub fn minisign_cli_sign(key: &Path, file: &Path, designation: &str, recipient: &str) -> Vec<u8> {
    use sha2::Digest;
    let id = hex(&sha2::Sha256::digest(std::fs::read(file).unwrap())[..16]);
    let comment = format!(
        "lanterne-reply v2 designation={designation} recipient={} id={id} after=s0000000001-00",
        recipient.trim()
    );
    minisign_cli_sign_comment(key, file, &comment)
}

/// [`minisign_cli_sign`] with the given trusted comment.
pub fn minisign_cli_sign_comment(key: &Path, file: &Path, comment: &str) -> Vec<u8> {
    let out = Command::new("minisign")
        .args(["-S", "-s"])
        .arg(key)
        .arg("-m")
        .arg(file)
        .args(["-t", comment])
        .stdin(Stdio::null())
        .output()
        .expect("the `minisign` CLI must be installed");
    assert!(out.status.success(), "minisign -S failed: {out:?}");
    let mut sig = file.as_os_str().to_owned();
    sig.push(".minisig");
    std::fs::read(sig).unwrap()
}

/// Encrypts with the `age` CLI to the given recipients.
pub fn age_cli_encrypt(recipients: &[&str], plaintext: &[u8], out: &Path) {
    use std::io::Write;
    let mut cmd = Command::new("age");
    for r in recipients {
        cmd.arg("-r").arg(r);
    }
    let mut child = cmd
        .arg("-o")
        .arg(out)
        .stdin(Stdio::piped())
        .spawn()
        .expect("the `age` CLI must be installed");
    child.stdin.take().unwrap().write_all(plaintext).unwrap();
    assert!(child.wait().unwrap().success());
}

/// A response, read whole.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        between(&self.body, "name=\"csrf\" value=\"", "\"")
            .unwrap_or_else(|| panic!("no csrf token in page:\n{}", self.body))
    }

    /// The session cookie this response sets, as `name=value` (for raw requests).
    pub fn session_cookie(&self) -> String {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("lanterne_session="))
            .and_then(|v| v.split(';').next())
            .unwrap_or_else(|| panic!("no session cookie in {:?}", self.headers))
            .to_owned()
    }

    /// The code shown on the new-code page.
    pub fn code(&self) -> String {
        between(&self.body, "id=\"source-code\">", "</p>")
            .unwrap_or_else(|| panic!("no code in page:\n{}", self.body))
    }
}

pub fn between(s: &str, start: &str, end: &str) -> Option<String> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(s[from..from + len].to_owned())
}

/// A file to upload.
pub struct Upload<'a> {
    pub name: &'a str,
    pub mime: &'a str,
    pub bytes: Vec<u8>,
}

/// A source's browser: cookies on, redirects off.
pub struct Browser {
    base: String,
    pub client: reqwest::Client,
    pub accept_language: &'static str,
    rt: tokio::runtime::Runtime,
}

impl Browser {
    /// A browser for `base`, through a proxy such as `socks5h://127.0.0.1:9050` if given.
    pub fn new(base: &str, proxy: Option<&str>) -> Browser {
        let mut builder = reqwest::Client::builder();
        if let Some(p) = proxy {
            builder = builder.proxy(reqwest::Proxy::all(p).unwrap());
        }
        Browser {
            base: base.trim_end_matches('/').to_owned(),
            client: builder
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
            accept_language: "en-US,en;q=0.5",
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    fn run(&self, req: reqwest::RequestBuilder) -> Page {
        self.try_run(req)
            .unwrap_or_else(|e| panic!("request failed: {e}"))
    }

    /// Sends a request; a transport error (server gone, connection cut) is an `Err`.
    pub fn try_run(&self, req: reqwest::RequestBuilder) -> Result<Page, String> {
        self.rt.block_on(async {
            let resp = req
                .header("accept-language", self.accept_language)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.text().await.map_err(|e| e.to_string())?;
            Ok(Page {
                status,
                headers,
                body,
            })
        })
    }

    pub fn try_get(&self, path: &str) -> Result<Page, String> {
        self.try_run(self.client.get(format!("{}{path}", self.base)))
    }

    pub fn try_post_form(&self, path: &str, fields: &[(&str, &str)]) -> Result<Page, String> {
        self.try_run(
            self.client
                .post(format!("{}{path}", self.base))
                .form(fields),
        )
    }

    pub fn try_multipart(
        &self,
        path: &str,
        form: reqwest::multipart::Form,
    ) -> Result<Page, String> {
        self.try_run(
            self.client
                .post(format!("{}{path}", self.base))
                .multipart(form),
        )
    }

    pub fn get(&self, path: &str) -> Page {
        self.run(self.client.get(format!("{}{path}", self.base)))
    }

    pub fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.run(
            self.client
                .post(format!("{}{path}", self.base))
                .form(fields),
        )
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> Page {
        self.run(self.client.request(method, format!("{}{path}", self.base)))
    }

    /// Landing page, then "get a code". Returns the code page.
    pub fn new_code(&self) -> Page {
        let home = self.get("/");
        assert_eq!(home.status, 200);
        let page = self.post_form("/code", &[("csrf", &home.csrf())]);
        assert_eq!(page.status, 200, "{}", page.body);
        page
    }

    /// Submits files and a message with the CSRF token of `form_page`.
    pub fn submit(&self, form_page: &Page, files: &[Upload], message: &str) -> Page {
        self.submit_with(Some(&form_page.csrf()), files, message)
    }

    pub fn submit_with(&self, csrf: Option<&str>, files: &[Upload], message: &str) -> Page {
        use reqwest::multipart::{Form, Part};
        let mut form = Form::new();
        if let Some(c) = csrf {
            form = form.text("csrf", c.to_owned());
        }
        for f in files {
            form = form.part(
                "files",
                Part::bytes(f.bytes.clone())
                    .file_name(f.name.to_owned())
                    .mime_str(f.mime)
                    .unwrap(),
            );
        }
        form = form.text("message", message.to_owned());
        self.run(
            self.client
                .post(format!("{}/submit", self.base))
                .multipart(form),
        )
    }

    /// Login page, then the code. Returns the answer page.
    pub fn login(&self, code: &str) -> Page {
        let form = self.get("/login");
        self.post_form("/login", &[("csrf", &form.csrf()), ("code", code)])
    }
}

/// Bytes that cannot occur by chance: a canary to look for on disk.
pub fn canary(tag: &str) -> Vec<u8> {
    let mut b = [0u8; 16];
    getrandom_fill(&mut b);
    format!("CANARY-{tag}-{}", hex(&b)).into_bytes()
}

fn getrandom_fill(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(buf)
        .unwrap();
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Random-looking bytes of a given size containing a canary.
pub fn file_with_canary(tag: &str, size: usize) -> (Vec<u8>, Vec<u8>) {
    let c = canary(tag);
    let mut bytes = vec![0u8; size];
    getrandom_fill(&mut bytes);
    let at = size / 2;
    bytes[at..at + c.len()].copy_from_slice(&c);
    (bytes, c)
}

/// Writes `text` as a reply to `designation` offline (`review reply` on `bundle`, into `out`)
/// and pushes it from the workstation with `credential`; returns what `push` printed.
pub fn reply_and_push(
    server: &Server,
    bundle: &Path,
    designation: &str,
    text: &str,
    credential: &Path,
    out: &Path,
) -> String {
    let message = out.with_extension("txt");
    std::fs::write(&message, text).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    lanterne_offline(
        server,
        &[
            "review",
            "reply",
            &s(bundle),
            "--source",
            designation,
            "--message",
            &s(&message),
            "--identity",
            &s(&server.identity),
            "--out",
            &s(out),
        ],
    );
    lanterne(&[
        "push",
        "--server",
        &server.reviewer_base,
        "--credential",
        &s(credential),
        &s(out),
    ])
}
