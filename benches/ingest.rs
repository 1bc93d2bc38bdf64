//! Benchmark: ingest speed and memory, measured against the server process itself.
//!
//! 1. Throughput: a 1 GiB upload over loopback HTTP to 3 recipients, from the first byte sent
//!    to the "received" page (so after fsync and rename), against the `age` crate alone
//!    encrypting the same bytes in this process to the same recipients. Reported as MB/s and
//!    their ratio.
//! 2. Memory against size: the server's peak RSS (VmHWM, reset through /proc/PID/clear_refs
//!    before each upload) for 10 MiB, 1 GiB and 4 GiB uploads.
//! 3. Memory against the crowd: 200 concurrent uploads of 20 MiB, each throttled to about
//!    1 MB/s; peak RSS and the server's thread count.
//! 4. Logins: 100 parallel logins with a real code; p50 and p99 latency, peak RSS.
//!
//! Run: `cargo bench --bench ingest` (SKIP_4GIB=1 to skip the 4 GiB upload).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lanterne");
const MIB: u64 = 1024 * 1024;

struct Box {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
    recipients: Vec<age::x25519::Recipient>,
}

fn start() -> Box {
    let dir =
        tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into()))
            .unwrap();
    let ids: Vec<_> = (0..3).map(|_| age::x25519::Identity::generate()).collect();
    let recipients: Vec<_> = ids.iter().map(|i| i.to_public()).collect();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    let lines: String = recipients.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(dir.path().join("keys/team.txt"), lines).unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        "[limits]\nmax_submission_bytes = 6442450944\n[kdf]\nper_minute = 100000\nburst = 1000\nmax_waiting = 256\n[http]\nmax_connections = 1024\n",
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--no-onion",
            "--listen",
            "127.0.0.1:0",
            "--reviewer-listen",
            "127.0.0.1:0",
        ])
        .arg("--config")
        .arg(dir.path().join("config.toml"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--keys-dir")
        .arg(dir.path().join("keys"))
        .env("LANTERNE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .to_owned();
    Box {
        child,
        addr,
        _dir: dir,
        recipients,
    }
}

impl Box {
    fn status(&self, key: &str) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
    fn peak_mib(&self) -> f64 {
        self.status("VmHWM:") as f64 / 1024.0
    }
    fn reset_peak(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5").unwrap();
    }
}

impl Drop for Box {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a request and reads the whole answer: (status, headers+body).
fn request(addr: &str, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    read_answer(&mut s)
}

fn read_answer(s: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text)
}

fn between(s: &str, a: &str, b: &str) -> String {
    let i = s.find(a).unwrap() + a.len();
    let j = s[i..].find(b).unwrap();
    s[i..i + j].to_owned()
}

/// A session with a code: (cookie, csrf, code).
fn session(addr: &str) -> (String, String, String) {
    let (_, home) = request(
        addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"",
    );
    let cookie = between(&home, "set-cookie: ", ";");
    let csrf = between(&home, "name=\"csrf\" value=\"", "\"");
    let body = format!("csrf={csrf}");
    let head = format!("POST /code HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    let (status, page) = request(addr, &head, body.as_bytes());
    assert_eq!(status, 200);
    let cookie = between(&page, "set-cookie: ", ";");
    (
        cookie,
        between(&page, "name=\"csrf\" value=\"", "\""),
        between(&page, "id=\"source-code\">", "<"),
    )
}

/// Uploads `size` bytes (a repeated random block) as one file; `pace` sleeps between 64 KiB
/// writes to throttle. Returns the seconds from first byte to the answer, and the status.
fn upload(
    addr: &str,
    cookie: &str,
    csrf: &str,
    block: &[u8],
    size: u64,
    pace: Option<Duration>,
) -> (f64, u16) {
    let b = "BenchBoundary7f3a";
    let pre = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{b}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"bench.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let post = format!("\r\n--{b}--\r\n");
    let len = pre.len() as u64 + size + post.len() as u64;
    let head = format!("POST /submit HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nContent-Type: multipart/form-data; boundary={b}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(pre.as_bytes()).unwrap();
    let mut left = size;
    let step = if pace.is_some() {
        64 * 1024
    } else {
        block.len() as u64
    };
    while left > 0 {
        let n = left.min(step) as usize;
        s.write_all(&block[..n]).unwrap();
        left -= n as u64;
        if let Some(p) = pace {
            std::thread::sleep(p);
        }
    }
    s.write_all(post.as_bytes()).unwrap();
    let (status, _) = read_answer(&mut s);
    (started.elapsed().as_secs_f64(), status)
}

fn age_alone(recipients: &[age::x25519::Recipient], block: &[u8], size: u64) -> f64 {
    let started = Instant::now();
    let enc = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .unwrap();
    let mut w = enc.wrap_output(std::io::sink()).unwrap();
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        w.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    w.finish().unwrap();
    started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let mut block = vec![0u8; 4 * MIB as usize];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut block)
        .unwrap();
    let gib = 1024 * MIB;

    // 1. Throughput, alternating lanterne and age alone, 3 rounds each.
    let server = start();
    let (cookie, csrf, _) = session(&server.addr);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let (secs, status) = upload(&server.addr, &cookie, &csrf, &block, gib, None);
        assert_eq!(status, 200);
        ours.push(gib as f64 / secs / 1e6);
        theirs.push(gib as f64 / age_alone(&server.recipients, &block, gib) / 1e6);
    }
    ours.sort_by(f64::total_cmp);
    theirs.sort_by(f64::total_cmp);
    let (o, t) = (ours[1], theirs[1]);
    println!("## Throughput: 1 GiB to 3 recipients (median of 3)\n");
    println!("| path | MB/s |\n|---|---|");
    println!("| lanterne over loopback HTTP, to durable (fsync + rename) | {o:.0} |");
    println!("| age crate alone, in process, to a sink | {t:.0} |");
    println!("\nratio: {:.2}\n", o / t);
    drop(server);

    // 2. Memory against size.
    println!(
        "## Peak RSS against upload size\n\n| upload | server peak RSS during it |\n|---|---|"
    );
    let server = start();
    let (cookie, csrf, _) = session(&server.addr);
    let mut sizes = vec![("10 MiB", 10 * MIB), ("1 GiB", gib)];
    if std::env::var("SKIP_4GIB").is_err() {
        sizes.push(("4 GiB", 4 * gib));
    }
    for (name, size) in sizes {
        server.reset_peak();
        let (_, status) = upload(&server.addr, &cookie, &csrf, &block, size, None);
        assert_eq!(status, 200);
        println!("| {name} | {:.1} MiB |", server.peak_mib());
    }
    drop(server);

    // 3. The crowd.
    let server = start();
    let (cookie, csrf, _) = session(&server.addr);
    server.reset_peak();
    let started = Instant::now();
    let small = block[..64 * 1024].to_vec();
    let handles: Vec<_> = (0..200)
        .map(|_| {
            let (addr, cookie, csrf, small) = (
                server.addr.clone(),
                cookie.clone(),
                csrf.clone(),
                small.clone(),
            );
            std::thread::spawn(move || {
                upload(
                    &addr,
                    &cookie,
                    &csrf,
                    &small,
                    20 * MIB,
                    Some(Duration::from_millis(64)),
                )
                .1
            })
        })
        .collect();
    let mut peak_threads = 0;
    while handles.iter().any(|h| !h.is_finished()) {
        peak_threads = peak_threads.max(server.status("Threads:"));
        std::thread::sleep(Duration::from_millis(500));
    }
    let ok = handles
        .into_iter()
        .filter(|_| true)
        .map(|h| h.join().unwrap())
        .filter(|s| *s == 200)
        .count();
    println!("\n## 200 concurrent uploads of 20 MiB at about 1 MB/s each\n");
    println!(
        "| succeeded | wall time | server peak RSS | server threads (peak) |\n|---|---|---|---|"
    );
    println!(
        "| {ok} / 200 | {:.0} s | {:.1} MiB | {peak_threads} |",
        started.elapsed().as_secs_f64(),
        server.peak_mib()
    );
    drop(server);

    // 4. Logins.
    let server = start();
    let (cookie, csrf, code) = session(&server.addr);
    let (_, status) = upload(&server.addr, &cookie, &csrf, &block, 1024, None);
    assert_eq!(status, 200);
    server.reset_peak();
    let handles: Vec<_> = (0..100)
        .map(|_| {
            let (addr, code) = (server.addr.clone(), code.clone());
            std::thread::spawn(move || {
                let (_, home) = request(&addr, "GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"");
                let cookie = between(&home, "set-cookie: ", ";");
                let csrf = between(&home, "name=\"csrf\" value=\"", "\"");
                let body = format!("csrf={csrf}&code={}", code.replace(' ', "+"));
                let head = format!("POST /login HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let t = Instant::now();
                let (status, _) = request(&addr, &head, body.as_bytes());
                (t.elapsed().as_secs_f64(), status)
            })
        })
        .collect();
    let results: Vec<(f64, u16)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ok = results.iter().filter(|r| r.1 == 200).count();
    let mut lat: Vec<f64> = results.iter().map(|r| r.0).collect();
    lat.sort_by(f64::total_cmp);
    println!("\n## 100 parallel code logins\n");
    println!("| answered 200 | p50 | p99 | server peak RSS |\n|---|---|---|---|");
    println!(
        "| {ok} / 100 | {:.2} s | {:.2} s | {:.1} MiB |",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        server.peak_mib()
    );
}
