//! Benchmark: time to the first page over an onion service, lanterne's embedded arti service
//! versus the same app behind a C tor `HiddenServiceDir`/`HiddenServicePort`, and the reviewer
//! onion (restricted discovery, reached with a workstation's client key: the reviewer API's
//! index) versus the sources' onion, on one private Tor network on 127.0.0.1 (the harness in
//! crates/lanterne-tornet).
//!
//! Each fetch asks the C tor client for a fresh circuit (a new SOCKS username, so
//! `IsolateSOCKSAuth` applies): it measures what a new visitor waits for, rendezvous included.
//! Fetches alternate between the two services so that load on the machine falls on both
//! alike; the figures are medians and their ratio, from one run.
//!
//! Run: `cargo bench --bench onion` (FETCHES=n to change the count, default 15).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_lanterne");

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One GET of `url` on a fresh circuit (with `auth` as the Authorization header when given);
/// seconds to the whole first page, or None on failure.
fn fetch(
    socks: std::net::SocketAddr,
    url: &str,
    isolation: &str,
    auth: Option<&str>,
) -> Option<f64> {
    let mut curl = Command::new("curl");
    if let Some(a) = auth {
        curl.arg("--header").arg(format!("Authorization: {a}"));
    }
    let out = curl
        .args([
            "-q",
            "--silent",
            "--max-time",
            "60",
            "--output",
            "/dev/null",
        ])
        .args(["--write-out", "%{http_code} %{time_total}"])
        .arg("--proxy")
        .arg(format!("socks5h://{isolation}:x@{socks}"))
        .arg(url)
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, secs) = text.split_once(' ')?;
    (code == "200").then(|| secs.parse().ok()).flatten()
}

/// One table row per service: its name, sorted times (s), failures and median.
fn print_rows(rows: &[(&str, &Vec<f64>, usize, f64)]) {
    for (name, v, failed, m) in rows {
        println!(
            "| {name} | {} | {failed} | {:.0} ms | {:.0} ms | {:.0} ms |",
            v.len(),
            m * 1000.0,
            v[0] * 1000.0,
            v[v.len() - 1] * 1000.0
        );
    }
}

fn main() {
    let fetches: usize = std::env::var("FETCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let net = lanterne_tornet::TorNet::start();
    net.ensure_stable_period(Duration::from_secs(600));
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("reviewer.key");
    let out = Command::new(BIN)
        .args(["keys", "new", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    std::fs::create_dir(work.path().join("keys")).unwrap();
    std::fs::write(work.path().join("keys/r.txt"), &out.stdout).unwrap();

    let mut server = Command::new(BIN)
        .args([
            "serve",
            "--reviewer-onion",
            "--listen",
            "127.0.0.1:0",
            "--reviewer-listen",
            "127.0.0.1:0",
        ])
        .arg("--tor-network")
        .arg(net.arti_fragment())
        .arg("--data-dir")
        .arg(work.path().join("data"))
        .arg("--keys-dir")
        .arg(work.path().join("keys"))
        .env("LANTERNE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let mut loopback = None;
    let mut arti_url = None;
    let mut reviewer_url = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(a) = line.strip_prefix("listening on http://") {
            loopback = Some(a.parse::<std::net::SocketAddr>().unwrap());
        }
        if let Some(u) = line.strip_prefix("onion address: ") {
            arti_url = Some(u.to_owned());
        }
        if let Some(u) = line.strip_prefix("reviewer onion address: ") {
            reviewer_url = Some(u.to_owned());
        }
        if arti_url.is_some() && reviewer_url.is_some() {
            break;
        }
    }
    let arti_url = format!("{}/", arti_url.expect("no onion address"));
    let reviewer_url = format!(
        "{}{}",
        reviewer_url.expect("no reviewer onion address"),
        lanterne_core::api::path::index(0)
    );
    // A workstation: its credential and client key from `reviewers add`, the key in its own
    // C tor client's ClientOnionAuthDir. That client times every fetch.
    let ws = work.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    let cred = ws.join("ws.cred");
    let added = Command::new(BIN)
        .args(["reviewers", "add", "ws", "--out"])
        .arg(&cred)
        .arg("--data-dir")
        .arg(work.path().join("data"))
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let token: serde_json::Value = serde_json::from_slice(&std::fs::read(&cred).unwrap()).unwrap();
    let bearer = format!("Bearer ws:{}", token["token"].as_str().unwrap());
    let auth_dir = work.path().join("auth");
    std::fs::create_dir(&auth_dir).unwrap();
    std::fs::copy(
        ws.join("ws.cred.auth_private"),
        auth_dir.join("ws.auth_private"),
    )
    .unwrap();
    let ws_socks = net.add_client(Some(&auth_dir));
    let c_host = net.add_c_onion_service(loopback.expect("no loopback address"));
    let c_url = format!("http://{c_host}/");
    // Each must answer once before timing starts (the reviewer onion answers 401 without the
    // token: reached).
    net.curl_get(&arti_url, Duration::from_secs(300));
    net.curl_get(&c_url, Duration::from_secs(300));
    net.curl_get_via(ws_socks, None, &reviewer_url, Duration::from_secs(300));
    net.curl_get_via(ws_socks, None, &arti_url, Duration::from_secs(300));

    let (mut arti, mut ctor) = (Vec::new(), Vec::new());
    let (mut arti_failed, mut ctor_failed) = (0, 0);
    let (mut rev, mut src) = (Vec::new(), Vec::new());
    let (mut rev_failed, mut src_failed) = (0, 0);
    for i in 0..fetches {
        match fetch(net.socks(), &arti_url, &format!("a{i}"), None) {
            Some(s) => arti.push(s),
            None => arti_failed += 1,
        }
        match fetch(net.socks(), &c_url, &format!("c{i}"), None) {
            Some(s) => ctor.push(s),
            None => ctor_failed += 1,
        }
        match fetch(ws_socks, &reviewer_url, &format!("r{i}"), Some(&bearer)) {
            Some(s) => rev.push(s),
            None => rev_failed += 1,
        }
        match fetch(ws_socks, &arti_url, &format!("s{i}"), None) {
            Some(s) => src.push(s),
            None => src_failed += 1,
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        arti.len() >= 10 && ctor.len() >= 10 && rev.len() >= 10 && src.len() >= 10,
        "too many failed fetches"
    );
    let (ma, mc) = (median(&mut arti), median(&mut ctor));
    let (mr, ms) = (median(&mut rev), median(&mut src));
    println!("| service | fetches | failed | median first page | min | max |");
    println!("|---|---|---|---|---|---|");
    print_rows(&[
        (
            "lanterne, embedded arti onion service",
            &arti,
            arti_failed,
            ma,
        ),
        (
            "same app behind C tor HiddenServicePort",
            &ctor,
            ctor_failed,
            mc,
        ),
    ]);
    println!("\nratio of medians (arti / C tor): {:.2}", ma / mc);
    println!("\n| through the workstation's C tor (client key) | fetches | failed | median | min | max |");
    println!("|---|---|---|---|---|---|");
    print_rows(&[
        ("reviewer onion, GET the API index", &rev, rev_failed, mr),
        ("sources' onion, GET /", &src, src_failed, ms),
    ]);
    println!(
        "\nratio of medians (reviewer onion / sources' onion): {:.2}",
        mr / ms
    );
}
