//! Hostile input: over a thousand malformed or abusive requests against a running server, each
//! of which must get a clear 4xx (or, for the slow ones, a clean close), while a normal
//! submission still goes through and the server's memory stays bounded.

use crate::common::*;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const CONFIG: &str = "
[http]
header_timeout_secs = 2
request_timeout_secs = 5
upload_idle_timeout_secs = 3
[limits]
max_submission_bytes = 1048576
[kdf]
per_minute = 30
burst = 10
";

/// Sends raw bytes and returns the status code of the answer, or `None` if the server closed
/// the connection without one.
fn raw(addr: &str, request: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(request);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    let head = String::from_utf8_lossy(&buf);
    head.strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
}

struct Session {
    cookie: String,
    csrf: String,
}

/// A session with a code, its cookie and CSRF token, for raw requests.
fn session(server: &Server) -> Session {
    let b = server.browser();
    let page = b.new_code();
    Session {
        cookie: page.session_cookie(),
        csrf: page.csrf(),
    }
}

fn multipart(s: &Session, boundary: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /submit HTTP/1.1\r\nHost: x\r\nCookie: {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        s.cookie,
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn csrf_part(s: &Session, b: &str) -> String {
    format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n",
        s.csrf
    )
}

fn file_part(b: &str, filename: &[u8]) -> Vec<u8> {
    let mut v = format!("--{b}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"")
        .into_bytes();
    v.extend_from_slice(filename);
    v.extend_from_slice(
        format!("\"\r\nContent-Type: text/plain\r\n\r\nDATA\r\n--{b}--\r\n").as_bytes(),
    );
    v
}

#[test]
fn a_thousand_hostile_requests_get_4xx_and_the_box_keeps_serving() {
    let server = Server::start(CONFIG);
    let addr = server.base.strip_prefix("http://").unwrap().to_owned();
    let s = session(&server);
    let other = session(&server);
    let mut tally: BTreeMap<&str, (usize, BTreeMap<Option<u16>, usize>)> = BTreeMap::new();
    let mut record = |kind: &'static str, status: Option<u16>| {
        let e = tally.entry(kind).or_default();
        e.0 += 1;
        *e.1.entry(status).or_default() += 1;
    };
    let b = "XyZ";

    // Slowloris: connections that trickle header bytes, left open during the whole barrage.
    let slow: Vec<_> = (0..40)
        .map(|_| {
            let a = addr.clone();
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(&a).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let started = Instant::now();
                for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                    if c.write_all(&[*byte]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
                let mut rest = Vec::new();
                let _ = c.read_to_end(&mut rest);
                (started.elapsed(), rest)
            })
        })
        .collect();

    for i in 0..100 {
        // Broken multipart: wrong boundary, no closing boundary, garbage, truncated.
        let bodies: [(&str, Vec<u8>); 4] = [
            (
                "multipart: wrong boundary",
                [csrf_part(&s, b).into_bytes(), file_part("other", b"a.txt")].concat(),
            ),
            (
                "multipart: unterminated",
                format!(
                    "{}--{b}\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nhello",
                    csrf_part(&s, b)
                )
                .into_bytes(),
            ),
            ("multipart: garbage", vec![b'\xff'; 200 + i]),
            (
                "multipart: headers without body",
                format!("--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n").into_bytes(),
            ),
        ];
        for (kind, body) in bodies {
            record(kind, raw(&addr, &multipart(&s, b, &body)));
        }
        // Hostile file names: paths, NUL, control characters, invalid UTF-8.
        let names: [&[u8]; 4] = [
            b"../../etc/passwd",
            b"a\0b.txt",
            b"a\x07\x1b[31m.txt",
            b"\xff\xfe.txt",
        ];
        let name = names[i % names.len()];
        let body = [csrf_part(&s, b).into_bytes(), file_part(b, name)].concat();
        record(
            "file name: path/NUL/control/invalid",
            raw(&addr, &multipart(&s, b, &body)),
        );
        // A huge field name.
        let huge = format!(
            "{}--{b}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\nx\r\n--{b}--\r\n",
            csrf_part(&s, b),
            "n".repeat(70_000)
        );
        record(
            "multipart: huge field name",
            raw(&addr, &multipart(&s, b, huge.as_bytes())),
        );
        // Missing or replayed CSRF tokens.
        let body = file_part(b, b"a.txt");
        record("csrf: missing", raw(&addr, &multipart(&s, b, &body)));
        let replay = [csrf_part(&other, b).into_bytes(), file_part(b, b"a.txt")].concat();
        record(
            "csrf: from another session",
            raw(&addr, &multipart(&s, b, &replay)),
        );
        // Huge headers.
        let req = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
            "h".repeat(100_000 + i)
        );
        record("huge header", raw(&addr, req.as_bytes()));
        // Wrong methods.
        for m in [
            "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT", "BREW",
        ] {
            let req = format!("{m} / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            record("wrong method", raw(&addr, req.as_bytes()));
        }
        // Codes of absurd length, or not words.
        let code = match i % 3 {
            0 => "word ".repeat(20_000),
            1 => "%00%01%02 ../ <script> ' OR 1=1 --".to_owned(),
            _ => "a".repeat(3000),
        };
        let body = format!("csrf={}&code={code}", s.csrf);
        let req = format!(
            "POST /login HTTP/1.1\r\nHost: x\r\nCookie: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            s.cookie,
            body.len()
        );
        record("login: absurd code", raw(&addr, req.as_bytes()));
        // HTTP/2 prior knowledge on the HTTP/1 port.
        record(
            "http/2 prior knowledge",
            raw(
                &addr,
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00",
            ),
        );
    }
    // A flood of login attempts with well-formed but wrong codes: rate-limited.
    let words =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/wordlists/fr.txt")).unwrap();
    let words: Vec<&str> = words.lines().collect();
    for i in 0..100 {
        let code: Vec<&str> = (0..7)
            .map(|k| words[(i * 7 + k) * 13 % words.len()])
            .collect();
        let body = format!("csrf={}&code={}", s.csrf, code.join("+"));
        let req = format!(
            "POST /login HTTP/1.1\r\nHost: x\r\nCookie: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            s.cookie,
            body.len()
        );
        record("login flood: wrong codes", raw(&addr, req.as_bytes()));
    }

    // Slowloris connections were closed by the header timeout, without an answer or with 408.
    let mut slow_closed = 0;
    for t in slow {
        let (took, rest) = t.join().unwrap();
        let text = String::from_utf8_lossy(&rest);
        assert!(
            rest.is_empty() || text.starts_with("HTTP/1.1 408"),
            "slowloris got: {text}"
        );
        assert!(
            took < Duration::from_secs(25),
            "a slow connection was held {took:?}"
        );
        slow_closed += 1;
    }

    // Every answer is a 4xx, or a clean close for the kinds where that is the right answer.
    let mut total = slow_closed;
    for (kind, (n, statuses)) in &tally {
        total += n;
        eprintln!("{kind:40} {n:4} requests: {statuses:?}");
        for status in statuses.keys() {
            let ok = match status {
                Some(code) => (400..500).contains(code),
                None => matches!(*kind, "huge header" | "http/2 prior knowledge"),
            };
            assert!(ok, "{kind}: got {status:?}");
        }
    }
    let flood = &tally["login flood: wrong codes"].1;
    assert!(
        flood.contains_key(&Some(429)),
        "the login flood was never rate-limited: {flood:?}"
    );
    eprintln!("slowloris                                  {slow_closed:4} connections: closed");
    eprintln!("total hostile requests: {total}");
    assert!(total >= 1000, "only {total} hostile requests");

    // The box still serves, a normal submission goes through, memory stayed bounded.
    let b2 = server.browser();
    let page = b2.new_code();
    let doc = Upload {
        name: "ok.txt",
        mime: "text/plain",
        bytes: b"still here".to_vec(),
    };
    assert_eq!(b2.submit(&page, &[doc], "after the storm").status, 200);
    let peak = server.peak_rss_kib();
    eprintln!("server peak RSS after the barrage: {} MiB", peak / 1024);
    assert!(peak < 400 * 1024, "peak RSS {peak} KiB");
    assert_eq!(server.staging_entries(), 0);
    assert_eq!(server.submissions().len(), 1);
}

#[test]
fn an_upload_that_goes_silent_is_ended_and_leaves_nothing() {
    let server = Server::start(CONFIG); // upload_idle_timeout_secs = 3
    let addr = server.base.strip_prefix("http://").unwrap().to_owned();
    let s = session(&server);
    let b = "Idle";
    let start = format!(
        "{}--{b}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.bin\"\r\n\r\n",
        csrf_part(&s, b)
    );
    let head = format!(
        "POST /submit HTTP/1.1\r\nHost: x\r\nCookie: {}\r\nContent-Type: multipart/form-data; boundary={b}\r\nContent-Length: 1000000\r\nConnection: close\r\n\r\n",
        s.cookie
    );
    let mut c = TcpStream::connect(&addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(start.as_bytes()).unwrap();
    c.write_all(&[7u8; 100_000]).unwrap();
    let silent = Instant::now();
    let mut answer = Vec::new();
    let _ = c.read_to_end(&mut answer);
    let waited = silent.elapsed();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("The connection stopped"), "{text}");
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(20),
        "{waited:?}"
    );
    assert_eq!(server.staging_entries(), 0);
    assert!(server.submissions().is_empty());
}
