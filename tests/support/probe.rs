//! Raw loopback HTTP for the availability tests: a probe that times one whole answer on a
//! fresh connection, a series of such probes during an attack, a multipart upload sent at a
//! set pace, and Debian's `slowhttptest` as the attacker.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a probe may take: the bound for a normal `GET /` under attack.
pub const PROBE_LIMIT: Duration = Duration::from_secs(5);

/// `host:port` of a base URL.
pub fn addr_of(base: &str) -> String {
    base.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// Reads until the server closes, or `None` past `deadline` or on a reset.
fn read_all(s: &mut TcpStream, start: Instant, limit: Duration) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let left = limit.checked_sub(start.elapsed())?;
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        match s.read(&mut chunk) {
            Ok(0) => return Some(buf),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return None,
        }
    }
}

fn status_of(answer: &[u8]) -> Option<u16> {
    std::str::from_utf8(answer.get(9..12)?).ok()?.parse().ok()
}

/// GETs `path` on a new connection (`Connection: close`) and reads the whole answer. Returns
/// its status, or `None` if no whole answer came within `limit`; and the time it took.
pub fn get(addr: &str, path: &str, limit: Duration) -> (Option<u16>, Duration) {
    let start = Instant::now();
    let status = (|| {
        let sock: SocketAddr = addr.parse().ok()?;
        let mut s = TcpStream::connect_timeout(&sock, limit).ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).ok()?;
        let answer = read_all(&mut s, start, limit)?;
        status_of(&answer)
    })();
    (status, start.elapsed())
}

/// What a series of probes saw.
#[derive(Debug, Default)]
pub struct Probes {
    pub count: u32,
    /// Probes with no `200` within [`PROBE_LIMIT`].
    pub failed: u32,
    pub worst: Duration,
}

impl Probes {
    /// Probes `GET /` about once a second for `duration`, each on a fresh connection, calling
    /// `between` after each probe (for other honest work).
    pub fn run(addr: &str, duration: Duration, mut between: impl FnMut(u32)) -> Probes {
        let mut p = Probes::default();
        let start = Instant::now();
        while start.elapsed() < duration {
            let (status, took) = get(addr, "/", PROBE_LIMIT);
            p.count += 1;
            p.worst = p.worst.max(took);
            if status != Some(200) {
                p.failed += 1;
            }
            between(p.count);
            std::thread::sleep(Duration::from_secs(1).saturating_sub(took));
        }
        p
    }
}

/// Posts a submission to `/submit` with one file of `size` bytes sent at about `rate` bytes a
/// second (a tick every 100 ms). Returns the answer's status, `None` if the server closed the
/// connection without one; and the time it took.
pub fn paced_upload(
    addr: &str,
    cookie: &str,
    csrf: &str,
    size: usize,
    rate: usize,
) -> (Option<u16>, Duration) {
    let b = "paced-boundary-7d1e";
    let head_part = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"paced.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!(
        "\r\n--{b}\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\npaced\r\n--{b}--\r\n"
    );
    let len = head_part.len() + size + tail.len();
    let head = format!(
        "POST /submit HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\
         Content-Type: multipart/form-data; boundary={b}\r\nContent-Length: {len}\r\n\r\n"
    );
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(head_part.as_bytes()).unwrap();
    let per_tick = (rate / 10).max(1);
    let mut sent = 0;
    let answered = |s: &mut TcpStream| -> Option<Option<u16>> {
        s.set_nonblocking(true).ok()?;
        let mut peek = [0u8; 16];
        let r = s.peek(&mut peek);
        let _ = s.set_nonblocking(false);
        match r {
            Ok(0) => Some(None),
            Ok(_) => Some(status_of(&peek)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            Err(_) => Some(None),
        }
    };
    while sent < size {
        if let Some(early) = answered(&mut s) {
            return (early, start.elapsed());
        }
        let n = per_tick.min(size - sent);
        if s.write_all(&vec![b'x'; n]).is_err() {
            return (answered(&mut s).flatten(), start.elapsed());
        }
        sent += n;
        std::thread::sleep(Duration::from_millis(100));
    }
    if s.write_all(tail.as_bytes()).is_err() {
        return (answered(&mut s).flatten(), start.elapsed());
    }
    let answer = read_all(&mut s, start, Duration::from_secs(600));
    (answer.as_deref().and_then(status_of), start.elapsed())
}

/// Starts Debian's `slowhttptest` against `url` with `args` (quiet; it ends by itself after
/// its `-l` seconds, and is killed on drop).
pub struct Attacker(Child);

impl Attacker {
    pub fn start(url: &str, args: &[&str]) -> Attacker {
        let child = Command::new("slowhttptest")
            .args(args)
            .args(["-u", url, "-v", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("slowhttptest must be installed (apt-get install slowhttptest)");
        Attacker(child)
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
