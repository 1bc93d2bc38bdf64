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
//! 5. Padding (`padding`, only with `--features bench-unpadded`): what padding every stored
//!    file to its size bucket costs, against a server of the same build started with
//!    `LANTERNE_BENCH_UNPADDED`: the bytes stored for a mix of 50 files, and the upload time
//!    of the same bytes, alternating the two servers round by round.
//!
//! Run: `cargo bench --bench ingest` (SKIP_4GIB=1 to skip the 4 GiB upload; BENCH_ONLY=a,b to
//! run only some of `throughput`, `size`, `crowd`, `logins` and `padding`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lanterne");
const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

struct Box {
    child: Child,
    /// The most tasks the server's runtime reported (its `lanterne::load` debug lines).
    peak_tasks: Arc<AtomicUsize>,
    addr: String,
    dir: tempfile::TempDir,
    recipients: Vec<age::x25519::Recipient>,
}

fn start() -> Box {
    start_with(&[])
}

/// [`start`] with extra environment variables for the server.
fn start_with(env: &[(&str, &str)]) -> Box {
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
        .env("LANTERNE_LOG", "warn,lanterne::load=debug")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let peak_tasks = Arc::new(AtomicUsize::new(0));
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let peak = peak_tasks.clone();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let tasks = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("tasks="))
                .and_then(|n| n.parse().ok());
            if let Some(n) = tasks {
                peak.fetch_max(n, Ordering::Relaxed);
            }
        }
    });
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
        peak_tasks,
        addr,
        dir,
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
    /// CPU seconds (user + system) the server has used so far.
    fn cpu_secs(&self) -> f64 {
        cpu_secs_of(&format!("/proc/{}/stat", self.child.id()))
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

/// utime + stime from a /proc `stat` file, in seconds (clock ticks are 100 a second on Linux).
fn cpu_secs_of(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // Fields 14 and 15 of stat(5), counted from the state field (3).
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// CPU seconds this thread has used so far.
fn own_cpu_secs() -> f64 {
    cpu_secs_of("/proc/thread-self/stat")
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

/// Seconds for the age crate alone to encrypt `size` bytes to `out`.
fn age_alone<W: Write>(
    recipients: &[age::x25519::Recipient],
    block: &[u8],
    size: u64,
    out: W,
) -> (f64, W) {
    let started = Instant::now();
    let enc = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .unwrap();
    let mut w = enc.wrap_output(out).unwrap();
    write_n(&mut w, block, size);
    let out = w.finish().unwrap();
    (started.elapsed().as_secs_f64(), out)
}

fn write_n(w: &mut impl Write, block: &[u8], size: u64) {
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        w.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
}

/// Seconds to encrypt with the age crate into a new file in `dir`, then fsync it: the same
/// disk work as lanterne's, without HTTP.
fn age_to_disk(recipients: &[age::x25519::Recipient], block: &[u8], size: u64, dir: &Path) -> f64 {
    let started = Instant::now();
    let file = tempfile::NamedTempFile::new_in(dir).unwrap();
    let (_, file) = age_alone(recipients, block, size, file);
    file.as_file().sync_all().unwrap();
    started.elapsed().as_secs_f64()
}

/// Seconds to write `size` plaintext bytes to a new file in `dir` and fsync it: the disk's own
/// ceiling for a durable write.
fn disk_alone(block: &[u8], size: u64, dir: &Path) -> f64 {
    let started = Instant::now();
    let mut file = tempfile::NamedTempFile::new_in(dir).unwrap();
    write_n(&mut file, block, size);
    file.as_file().sync_all().unwrap();
    started.elapsed().as_secs_f64()
}

/// Throughput: lanterne against the age crate alone, alternating, `ROUNDS` rounds each.
fn throughput(block: &[u8]) {
    const ROUNDS: usize = 5;
    let server = start();
    let (cookie, csrf, _) = session(&server.addr);
    let dir = server.dir.path();
    let mb_s = |secs: f64| GIB as f64 / secs / 1e6;
    let mut rows: [Vec<f64>; 4] = Default::default();
    let (mut server_cpu, mut client_cpu, mut age_cpu) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (server0, client0) = (server.cpu_secs(), own_cpu_secs());
        let (secs, status) = upload(&server.addr, &cookie, &csrf, block, GIB, None);
        assert_eq!(status, 200);
        rows[0].push(mb_s(secs));
        server_cpu.push(server.cpu_secs() - server0);
        client_cpu.push(own_cpu_secs() - client0);
        let age0 = own_cpu_secs();
        let (secs, _) = age_alone(&server.recipients, block, GIB, std::io::sink());
        age_cpu.push(own_cpu_secs() - age0);
        rows[1].push(mb_s(secs));
        rows[2].push(mb_s(age_to_disk(&server.recipients, block, GIB, dir)));
        rows[3].push(mb_s(disk_alone(block, GIB, dir)));
    }
    let medians: Vec<f64> = rows
        .iter_mut()
        .map(|r| {
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        })
        .collect();
    println!("## Throughput: 1 GiB to 3 recipients (median of {ROUNDS})\n");
    println!("data dir: {}\n", dir.display());
    println!("| path | MB/s |\n|---|---|");
    println!(
        "| lanterne over loopback HTTP, to durable (fsync + rename) | {:.0} |",
        medians[0]
    );
    println!(
        "| age crate alone, in process, to a sink | {:.0} |",
        medians[1]
    );
    println!(
        "| age crate alone, in process, to a file + fsync in the data dir | {:.0} |",
        medians[2]
    );
    println!(
        "| plaintext to a file + fsync in the data dir (the disk alone) | {:.0} |",
        medians[3]
    );
    println!(
        "\nratio to the age crate to a sink: {:.2}",
        medians[0] / medians[1]
    );
    println!(
        "ratio to the age crate to the same disk: {:.2}\n",
        medians[0] / medians[2]
    );
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (s, c, a) = (
        median(&mut server_cpu),
        median(&mut client_cpu),
        median(&mut age_cpu),
    );
    println!("CPU seconds per GiB (median): lanterne server {s:.2}, upload client {c:.2}, age crate alone {a:.2}");
    println!("server CPU / age crate CPU: {:.2}\n", s / a);
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Whether a section was asked for (all of them by default).
fn wanted(section: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |v| v.split(',').any(|s| s.trim() == section))
}

/// Memory against size: peak RSS for each upload size.
fn by_size(block: &[u8]) {
    println!(
        "## Peak RSS against upload size\n\n| upload | server peak RSS during it |\n|---|---|"
    );
    let server = start();
    let (cookie, csrf, _) = session(&server.addr);
    let mut sizes = vec![("10 MiB", 10 * MIB), ("1 GiB", GIB)];
    if std::env::var("SKIP_4GIB").is_err() {
        sizes.push(("4 GiB", 4 * GIB));
    }
    for (name, size) in sizes {
        server.reset_peak();
        let (_, status) = upload(&server.addr, &cookie, &csrf, block, size, None);
        assert_eq!(status, 200);
        println!("| {name} | {:.1} MiB |", server.peak_mib());
    }
    drop(server);
}

/// Memory against the crowd: 200 slow uploads at once.
fn crowd(block: &[u8]) {
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
        "| succeeded | wall time | server peak RSS | server threads (peak) | runtime tasks (peak) |\n|---|---|---|---|---|"
    );
    println!(
        "| {ok} / 200 | {:.0} s | {:.1} MiB | {peak_threads} | {} |",
        started.elapsed().as_secs_f64(),
        server.peak_mib(),
        server.peak_tasks.load(Ordering::Relaxed)
    );
    drop(server);
}

/// Logins: 100 at once with a real code.
fn logins(block: &[u8]) {
    let server = start();
    let (cookie, csrf, code) = session(&server.addr);
    let (_, status) = upload(&server.addr, &cookie, &csrf, block, 1024, None);
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

#[path = "ingest/padding.rs"]
mod padding;

fn main() {
    let mut block = vec![0u8; 4 * MIB as usize];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut block)
        .unwrap();
    if wanted("throughput") {
        throughput(&block);
    }
    if wanted("size") {
        by_size(&block);
    }
    if wanted("crowd") {
        crowd(&block);
    }
    if wanted("logins") {
        logins(&block);
    }
    if wanted("padding") {
        padding::run(&block);
    }
}
