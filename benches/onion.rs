//! Benchmark: time to the first page over an onion service, lanterne's embedded arti service
//! versus the same app behind a C tor `HiddenServiceDir`/`HiddenServicePort`, on one private Tor
//! network on 127.0.0.1 (the harness in crates/lanterne-tornet).
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

/// One GET of `url` on a fresh circuit; seconds to the whole first page, or None on failure.
fn fetch(socks: std::net::SocketAddr, url: &str, isolation: &str) -> Option<f64> {
    let out = Command::new("curl")
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
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(a) = line.strip_prefix("listening on http://") {
            loopback = Some(a.parse::<std::net::SocketAddr>().unwrap());
        }
        if let Some(u) = line.strip_prefix("onion address: ") {
            arti_url = Some(u.to_owned());
            break;
        }
    }
    let arti_url = format!("{}/", arti_url.expect("no onion address"));
    let c_host = net.add_c_onion_service(loopback.expect("no loopback address"));
    let c_url = format!("http://{c_host}/");
    // Both must answer once before timing starts.
    net.curl_get(&arti_url, Duration::from_secs(300));
    net.curl_get(&c_url, Duration::from_secs(300));

    let (mut arti, mut ctor) = (Vec::new(), Vec::new());
    let (mut arti_failed, mut ctor_failed) = (0, 0);
    for i in 0..fetches {
        match fetch(net.socks(), &arti_url, &format!("a{i}")) {
            Some(s) => arti.push(s),
            None => arti_failed += 1,
        }
        match fetch(net.socks(), &c_url, &format!("c{i}")) {
            Some(s) => ctor.push(s),
            None => ctor_failed += 1,
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        arti.len() >= 10 && ctor.len() >= 10,
        "too many failed fetches"
    );
    let (ma, mc) = (median(&mut arti), median(&mut ctor));
    println!("| service | fetches | failed | median first page | min | max |");
    println!("|---|---|---|---|---|---|");
    for (name, v, failed, m) in [
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
    ] {
        println!(
            "| {name} | {} | {failed} | {:.0} ms | {:.0} ms | {:.0} ms |",
            v.len(),
            m * 1000.0,
            v[0] * 1000.0,
            v[v.len() - 1] * 1000.0
        );
    }
    println!("\nratio of medians (arti / C tor): {:.2}", ma / mc);
}
