//! Availability under abuse that needs no slow connections: abandoned logins (H1), session
//! floods (M3), reviewer credential floods and the reviewer listener's own switch (L7). Each
//! test plays the attack against the real binary on loopback, then checks that an honest
//! source or reviewer still gets through.

mod common;
#[path = "support/probe.rs"]
mod probe;

use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

/// A well-formed code (seven words of the English list) that no source has.
const WRONG_CODE: &str = "abacus abacus abacus abacus abacus abacus abacus";

/// H1: 200 logins whose clients close the connection while the server waits for a KDF slot.
/// Each abandoned wait must give its place back: a new source still gets a code afterwards.
#[test]
fn two_hundred_logins_closed_mid_wait_do_not_lock_out_new_codes() {
    // One slow derivation at a time, a small waiting room, and rate budgets out of the way.
    let server = Server::start(
        "[kdf]\nmax_concurrent = 1\nmax_waiting = 16\niterations = 12\n\
         per_minute = 100000\nburst = 100000\n",
    );
    let addr = server.base.trim_start_matches("http://").to_owned();
    let b = server.browser();
    let form = b.get("/login");
    let cookie = form.session_cookie();
    let body = format!("csrf={}&code={}", form.csrf(), WRONG_CODE.replace(' ', "+"));
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // Ten waves of twenty: each wave's logins queue behind the one derivation running, and
    // all of them are cut off while they wait.
    for _ in 0..10 {
        let wave: Vec<TcpStream> = (0..20)
            .map(|_| {
                let mut s = TcpStream::connect(&addr).unwrap();
                s.write_all(request.as_bytes()).unwrap();
                s
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        drop(wave);
    }
    // Let the derivations already running finish, then ask for a new code.
    let start = Instant::now();
    let page = loop {
        let home = b.get("/");
        let page = b.post_form("/code", &[("csrf", &home.csrf())]);
        if page.status == 200 || start.elapsed() > Duration::from_secs(30) {
            break page;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        page.status, 200,
        "after abandoned logins, POST /code answered: {}",
        page.body
    );
    assert!(!page.code().is_empty());
}

/// M3: every session slot held by sources (the attacker got codes and keeps each session
/// alive). A new visitor must still get a page, and the oldest idle source can log in again.
#[test]
fn a_table_full_of_source_sessions_still_lets_a_new_visitor_in() {
    let server = Server::start(
        "[sessions]\nmax_sessions = 8\n[kdf]\niterations = 1\nper_minute = 100000\n\
         burst = 100000\n",
    );
    let first = server.browser();
    let page = first.new_code();
    let code = page.code();
    // A source exists once it has sent something.
    assert_eq!(
        first.submit(&page, &[], "before the table filled").status,
        200
    );
    let holders: Vec<Browser> = (0..8)
        .map(|_| {
            let b = server.browser();
            b.new_code();
            b
        })
        .collect();
    let newcomer = server.browser();
    let home = newcomer.get("/");
    assert_eq!(home.status, 200, "a new visitor got: {}", home.body);
    // The newcomer can go on to get a code and submit.
    let page = newcomer.post_form("/code", &[("csrf", &home.csrf())]);
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        newcomer.submit(&page, &[], "through a full table").status,
        200
    );
    // The evicted source logs in again with its code.
    let again = first.login(&code);
    assert_eq!(again.status, 200, "{}", again.body);
    drop(holders);
}

/// M3: a flood of plain GETs (each makes a new session) against a table of 200. Throughout,
/// a normal client gets `/` within 5 s at every probe and new sources get a code and submit.
#[test]
fn a_flood_of_gets_does_not_lock_out_a_new_source() {
    let server = Server::start("[sessions]\nmax_sessions = 200\n[kdf]\niterations = 1\n");
    let addr = probe::addr_of(&server.base);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooders: Vec<_> = (0..3)
        .map(|_| {
            let (addr, stop) = (addr.clone(), stop.clone());
            std::thread::spawn(move || {
                let (mut sent, mut refused) = (0u32, 0u32);
                let start = Instant::now();
                // Bounded: at most 30 s or 100,000 requests per thread.
                while !stop.load(std::sync::atomic::Ordering::Relaxed)
                    && start.elapsed() < Duration::from_secs(30)
                    && sent < 100_000
                {
                    let (status, _) = probe::get(&addr, "/", probe::PROBE_LIMIT);
                    sent += 1;
                    if status != Some(200) {
                        refused += 1;
                    }
                }
                (sent, refused)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let mut submitted = 0;
    let probes = probe::Probes::run(&addr, Duration::from_secs(12), |n| {
        if n % 4 == 0 {
            let b = server.browser();
            let page = b.new_code();
            let done = b.submit(&page, &[], "during a session flood");
            assert_eq!(done.status, 200, "{}", done.body);
            submitted += 1;
        }
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (sent, refused) = flooders
        .into_iter()
        .map(|t| t.join().unwrap())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    eprintln!(
        "BENCH session flood: {sent} GETs ({refused} without 200), {} probes, {} failed, \
         worst {} ms, peak RSS {} KiB",
        probes.count,
        probes.failed,
        probes.worst.as_millis(),
        server.peak_rss_kib()
    );
    assert!(
        sent > 2_000,
        "the flood must overflow the table many times ({sent} GETs)"
    );
    assert_eq!(
        refused, 0,
        "flood GETs were refused: the table locked visitors out"
    );
    assert_eq!(probes.failed, 0, "{probes:?}");
    assert!(submitted >= 2);
}

/// L7: bad tokens for reviewer X and endless invented names must not stop reviewer Y.
#[test]
fn a_credential_flood_for_one_name_does_not_lock_out_another_reviewer() {
    let server = Server::start("[reviewer]\nauth_failures_per_minute = 5\n");
    let dir = tempfile::tempdir().unwrap();
    let _x = server.add_reviewer("xavier", &dir.path().join("x.cred"));
    let y = server.add_reviewer("yvonne", &dir.path().join("y.cred"));
    let b = Browser::new(&server.reviewer_base, None);
    let index = format!("{}/api/v1/index", server.reviewer_base);
    let get = |auth: &str| {
        b.try_run(b.client.get(&index).header("authorization", auth))
            .unwrap()
            .status
    };
    for i in 0..30 {
        get("Bearer xavier:not-the-token");
        get(&format!("Bearer invented-{i}:whatever"));
        get("Bearer");
    }
    // The flooded name and the unknown names are throttled...
    assert_eq!(get("Bearer xavier:not-the-token"), 429);
    assert_eq!(get("Bearer someone-else:x"), 429);
    // ...but Yvonne's valid fetch goes through.
    assert_eq!(get(&y), 200, "a valid reviewer was locked out");
}

/// L7 through the CLI: `--allow-public-listen` does not open the reviewer API on a public
/// address; `--allow-public-reviewer-listen` does. Nothing binds a public address here: the
/// accepted run stops at the next check (no reviewer recipients).
#[test]
fn the_reviewer_listener_needs_its_own_flag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(BIN)
            .args(["serve", "--no-onion", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--keys-dir")
            .arg(dir.path().join("keys"))
            .args(["--reviewer-listen", "0.0.0.0:0"])
            .args(extra)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&["--allow-public-listen"]);
    assert!(
        err.contains("reviewer API") && err.contains("--allow-public-reviewer-listen"),
        "{err}"
    );
    let err = run(&["--allow-public-reviewer-listen"]);
    assert!(err.contains("no reviewer recipients"), "{err}");
}
