//! Slow-connection attacks played with real tools (M3): Debian's `slowhttptest` holds slow
//! heads (slowloris, `-H`) and slow bodies (`-B`) beyond the connection cap, and raw sockets
//! trickle uploads. Throughout each attack a normal client must get `/` within 5 s at every
//! probe (one a second) and a normal submission must succeed; slow uploads must be cut while an
//! honest one at Tor speed (20 KB/s) passes. Each attack prints its worst probe latency and the
//! server's peak RSS (`cargo test --test slow_attacks -- --nocapture`; see BENCHMARKS.md).
//! Attacks run one at a time (they share 2 cores), loopback only, each bounded in time.

mod common;
#[path = "support/probe.rs"]
mod probe;

use common::*;
use probe::{addr_of, paced_upload, Attacker, Probes};
use std::sync::Mutex;
use std::time::Duration;

/// Attacks run one after the other, so that their figures do not mix.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A small cap, so that 200 attack connections are well beyond it.
const SMALL_CAP: &str = "[http]\nmax_connections = 64\n[kdf]\niterations = 1\n";

/// How long each attack lasts, and for how long it is probed.
const ATTACK_SECS: u64 = 24;

/// Runs `slowhttptest` with `args` (several attackers at once if given) against the server,
/// probes `/` throughout, and submits once half-way. Prints and checks the figures.
fn play(server: &mut Server, name: &str, attacks: &[(&str, &[&str])]) {
    let addr = addr_of(&server.base);
    let length = ATTACK_SECS.to_string();
    let attackers: Vec<Attacker> = attacks
        .iter()
        .map(|(path, args)| {
            let mut all = args.to_vec();
            all.extend(["-l", &length, "-p", "5"]);
            Attacker::start(&server.url(path), &all)
        })
        .collect();
    // Let the attackers open their connections before the first probe.
    std::thread::sleep(Duration::from_secs(3));
    let mut submitted = Err("not tried".to_owned());
    let probes = Probes::run(&addr, Duration::from_secs(ATTACK_SECS - 5), |n| {
        if n == 8 {
            submitted = try_submission(server);
        }
    });
    drop(attackers);
    let peak = server.peak_rss_kib();
    // The attack went beyond the cap: connections were closed to make room.
    let made_room = server.stop().matches("to make room").count();
    eprintln!(
        "BENCH {name}: {} probes, {} without 200 within 5 s, worst {} ms, peak RSS {peak} KiB, \
         {made_room} connections closed to make room, submission {submitted:?}",
        probes.count,
        probes.failed,
        probes.worst.as_millis(),
    );
    assert!(made_room > 0, "{name}: the attack never filled the table");
    assert_eq!(
        probes.failed, 0,
        "{name}: a normal GET / went unanswered within 5 s ({probes:?})"
    );
    assert_eq!(
        submitted,
        Ok(200),
        "{name}: a normal submission failed during the attack"
    );
}

/// A new source gets a code and submits a file, as a browser would; any failure is an `Err`.
fn try_submission(server: &Server) -> Result<u16, String> {
    use reqwest::multipart::{Form, Part};
    let b = server.browser();
    let home = b.try_get("/")?;
    if home.status != 200 {
        return Err(format!("GET / answered {}", home.status));
    }
    let page = b.try_post_form("/code", &[("csrf", &home.csrf())])?;
    if page.status != 200 {
        return Err(format!("POST /code answered {}", page.status));
    }
    let (bytes, _) = file_with_canary("attack", 64 * 1024);
    let file = Part::bytes(bytes)
        .file_name("during-attack.bin")
        .mime_str("application/octet-stream")
        .map_err(|e| e.to_string())?;
    let form = Form::new()
        .text("csrf", page.csrf())
        .part("files", file)
        .text("message", "sent during an attack");
    Ok(b.try_multipart("/submit", form)?.status)
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// Slowloris: 200 connections that send their head a header every 5 s, against a cap of 64.
#[test]
fn slow_heads_beyond_the_cap_do_not_shut_the_door() {
    let _one = lock();
    let mut server = Server::start(SMALL_CAP);
    play(
        &mut server,
        "slow heads (-H), 200 connections, cap 64",
        &[(
            "/",
            &["-H", "-c", "200", "-r", "100", "-i", "5", "-x", "24"],
        )],
    );
}

/// Slow bodies: 200 connections that send a complete head and then trickle a body, half on a
/// form route, half on the upload route (which must see the CSRF part within the head
/// deadline), against a cap of 64.
#[test]
fn slow_bodies_beyond_the_cap_do_not_shut_the_door() {
    let _one = lock();
    let mut server = Server::start(SMALL_CAP);
    let slow_body = [
        "-B", "-c", "100", "-r", "50", "-i", "5", "-s", "8192", "-x", "10",
    ];
    let mut multipart = slow_body.to_vec();
    multipart.extend(["-f", "multipart/form-data; boundary=zz"]);
    play(
        &mut server,
        "slow bodies (-B), 2 x 100 connections (/login, /submit), cap 64",
        &[("/login", &slow_body), ("/submit", &multipart)],
    );
}

/// The review's reproduction: the default cap of 512 against 900 slowloris connections.
#[test]
fn nine_hundred_slow_heads_against_the_default_cap() {
    let _one = lock();
    let mut server = Server::start("[kdf]\niterations = 1\n");
    play(
        &mut server,
        "slow heads (-H), 900 connections, default cap 512",
        &[(
            "/",
            &["-H", "-c", "900", "-r", "300", "-i", "5", "-x", "24"],
        )],
    );
}

/// The session that a new source's code page sets, and that page.
fn source_session(server: &Server) -> (String, Page) {
    let page = server.browser().new_code();
    (page.session_cookie(), page)
}

/// An honest upload at Tor speed (about 20 KB/s) lasting past the grace period passes; one
/// at 1 KB/s is cut soon after the grace period, with a clear page or a close.
#[test]
fn an_upload_at_tor_speed_passes_and_a_trickle_is_cut() {
    let _one = lock();
    // The default minimum rate, with a short grace period so the test is quick.
    let server = Server::start("[http]\nupload_grace_secs = 4\n[kdf]\niterations = 1\n");
    let addr = addr_of(&server.base);
    let (cookie, page) = source_session(&server);
    let (status, took) = paced_upload(&addr, &cookie, &page.csrf(), 160 * 1024, 20 * 1024);
    eprintln!("upload at 20 KB/s: {status:?} after {took:?}");
    assert_eq!(
        status,
        Some(200),
        "an honest upload at Tor speed was refused"
    );
    assert!(
        took > Duration::from_secs(6),
        "the upload must outlast the grace period"
    );
    let before = server.submissions().len();

    let (cookie, page) = source_session(&server);
    let (status, took) = paced_upload(&addr, &cookie, &page.csrf(), 60 * 1024, 1024);
    eprintln!("upload at 1 KB/s: {status:?} after {took:?}");
    assert!(
        matches!(status, None | Some(408)),
        "a trickling upload must be cut, got {status:?}"
    );
    assert!(took < Duration::from_secs(20), "cut too late: {took:?}");
    assert_eq!(server.submissions().len(), before, "nothing of it is kept");
    assert_eq!(server.staging_entries(), 0);
}

/// The CSRF part must arrive within the head deadline, however steadily it trickles.
#[test]
fn a_trickled_csrf_part_is_cut_at_the_head_deadline() {
    let _one = lock();
    let server = Server::start("[http]\nheader_timeout_secs = 3\n[kdf]\niterations = 1\n");
    let addr = addr_of(&server.base);
    let (cookie, _) = source_session(&server);
    let start = std::time::Instant::now();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    let head = format!(
        "POST /submit HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\
         Content-Type: multipart/form-data; boundary=zz\r\nContent-Length: 100000\r\n\r\n\
         --zz\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n"
    );
    use std::io::{Read, Write};
    s.write_all(head.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(900)))
        .unwrap();
    let mut answer = Vec::new();
    // One byte of token a second, for at most 15 s.
    while start.elapsed() < Duration::from_secs(15) {
        if s.write_all(b"a").is_err() {
            break;
        }
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                break;
            }
            Err(_) => {}
        }
    }
    let took = start.elapsed();
    eprintln!("trickled CSRF part ended after {took:?}");
    assert!(
        took < Duration::from_secs(10),
        "a trickled CSRF part held the connection for {took:?}"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}

/// A keep-alive connection that sends nothing after its first answer is closed at the head
/// deadline (hyper's `header_read_timeout` runs between requests too).
#[test]
fn an_idle_keep_alive_connection_is_closed_at_the_head_deadline() {
    let _one = lock();
    let server = Server::start("[http]\nheader_timeout_secs = 2\n");
    let addr = addr_of(&server.base);
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(format!("GET /static/style.css HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let start = std::time::Instant::now();
    let mut buf = [0u8; 64 * 1024];
    let mut got = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => panic!("the idle connection was not closed: {e}"),
        }
    }
    assert!(got > 0);
    assert!(start.elapsed() < Duration::from_secs(10));
}
