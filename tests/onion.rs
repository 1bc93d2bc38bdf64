//! lanterne as an onion service, end to end over a real (private) Tor network.
//!
//! The harness `lanterne-tornet` (crates/lanterne-tornet) starts Debian's `tor` as authorities, relays and a client on
//! 127.0.0.1. lanterne runs with `--tor-network` pointing at that network, so its embedded arti
//! publishes the onion service there; the test then reaches it only through the C tor client's
//! SOCKS port, as a source's Tor Browser would, and submits a file.

mod common;

use common::*;
use lanterne_tornet::TorNet;
use std::process::Command;
use std::time::{Duration, Instant};

/// One curl request through the C tor client, with a cookie jar; returns (status, body).
fn curl(net: &TorNet, jar: &std::path::Path, args: &[&str]) -> Result<(u16, String), String> {
    let out = Command::new("curl")
        .args([
            "-q",
            "--silent",
            "--show-error",
            "--max-time",
            "60",
            "--socks5-hostname",
        ])
        .arg(net.socks().to_string())
        .arg("-c")
        .arg(jar)
        .arg("-b")
        .arg(jar)
        .args(["--write-out", "%{http_code}"])
        .args(args)
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.split_at(text.len().saturating_sub(3));
    Ok((
        code.parse().map_err(|_| format!("no status in {text:?}"))?,
        body.to_owned(),
    ))
}

/// Landing page, new code, then a multipart submission of `file`, all over the onion.
fn submit_over_tor(net: &TorNet, url: &str, file: &std::path::Path) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let jar = dir.path().join("jar");
    let (_, home) = curl(net, &jar, &[&format!("{url}/")])?;
    let csrf =
        between(&home, "name=\"csrf\" value=\"", "\"").ok_or("no csrf on the landing page")?;
    let (status, page) = curl(
        net,
        &jar,
        &["--data", &format!("csrf={csrf}"), &format!("{url}/code")],
    )?;
    if status != 200 {
        return Err(format!("code page: {status}"));
    }
    let csrf = between(&page, "name=\"csrf\" value=\"", "\"").ok_or("no csrf on the code page")?;
    let (status, done) = curl(
        net,
        &jar,
        &[
            "-F",
            &format!("csrf={csrf}"),
            "-F",
            &format!("files=@{};type=application/octet-stream", file.display()),
            "-F",
            "message=sent over Tor",
            &format!("{url}/submit"),
        ],
    )?;
    if status == 200 && done.contains("arrived") {
        Ok(())
    } else {
        Err(format!("submit: {status}"))
    }
}

/// How long a fresh onion service may take to become reachable (time-period rollovers on a
/// young network cause outages of up to a minute).
const REACH_DEADLINE: Duration = Duration::from_secs(300);

#[test]
fn the_box_is_reachable_as_an_onion_service_and_takes_a_submission() {
    let net = TorNet::start();
    // A time-period change under a young service makes it unreachable for a minute or so.
    net.ensure_stable_period(Duration::from_secs(360));
    let fragment = net.arti_fragment().to_str().unwrap().to_owned();
    let mut server = Server::start_with("", &["--tor-network", &fragment]);
    let url = server
        .wait_stdout("onion address: ", Duration::from_secs(180))
        .expect("lanterne never printed its onion address");
    let host = url
        .strip_prefix("http://")
        .unwrap()
        .strip_suffix(".onion")
        .unwrap();
    assert_eq!(host.len(), 56, "{url}");

    // The landing page, through C tor's SOCKS port.
    let started = Instant::now();
    let (status, body) = net.curl_get(&format!("{url}/"), REACH_DEADLINE);
    eprintln!("first page over the onion after {:?}", started.elapsed());
    assert_eq!(status, 200);
    assert!(body.contains("Share documents safely"), "{body}");

    // A whole submission over the onion with curl through C tor (cookies, the code form, then a
    // multipart upload), retried as a whole while circuits settle.
    let (bytes, _) = file_with_canary("onion", 300_000);
    let upload = server.dir.path().join("via-tor.bin");
    std::fs::write(&upload, &bytes).unwrap();
    let deadline = Instant::now() + REACH_DEADLINE;
    loop {
        match submit_over_tor(&net, &url, &upload) {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                eprintln!("submission over the onion failed, retrying: {e}");
                std::thread::sleep(Duration::from_secs(5));
            }
            Err(e) => panic!("no submission over the onion: {e}"),
        }
    }
    let subs = server.submissions();
    assert!(!subs.is_empty());
    let manifest: serde_json::Value =
        serde_json::from_slice(&server.age_decrypt(&subs[0].join("manifest.age"))).unwrap();
    let stored = manifest["files"][0]["stored_as"].as_str().unwrap();
    assert_eq!(server.age_decrypt(&subs[0].join(stored)), bytes);

    // Only port 80 is served: another port gets no answer at all (curl_get panics when it
    // gets none within its deadline).
    let other = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        net.curl_get(
            &format!("http://{host}.onion:8080/"),
            Duration::from_secs(20),
        )
    }));
    assert!(other.is_err(), "port 8080 answered: {other:?}");

    // The address is the one `onion-address` reads from the data dir, and survives a restart.
    let logs = server.stop();
    assert!(logs.contains("Tor bootstrap"), "{logs}");
    let out = std::process::Command::new(BIN)
        .args(["onion-address", "--data-dir"])
        .arg(server.data())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), url);
    server.launch();
    let again = server
        .wait_stdout("onion address: ", Duration::from_secs(180))
        .expect("no onion address after restart");
    assert_eq!(again, url);
}

/// The self-check reaches the box over its own onion: `lanterne check` comes to say
/// "reachable" (and passes) and still does two checks later, the log has the first success's
/// line, and no self-check line names the address.
#[test]
fn the_self_check_reaches_the_box_over_its_own_onion() {
    let net = TorNet::start();
    net.ensure_stable_period(Duration::from_secs(360));
    let fragment = net.arti_fragment().to_str().unwrap().to_owned();
    let mut server = Server::start_with(
        "[onion]\nself_check_every_secs = 10\n",
        &["--tor-network", &fragment],
    );
    let url = server
        .wait_stdout("onion address: ", Duration::from_secs(180))
        .expect("lanterne never printed its onion address");
    let started = Instant::now();
    let last = loop {
        let out = Command::new(BIN)
            .args(["check", "--data-dir"])
            .arg(server.data())
            .arg("--keys-dir")
            .arg(server.dir.path().join("keys"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("ok: onion self-check: reachable") {
            assert!(out.status.success(), "{text}");
            break text;
        }
        if started.elapsed() > REACH_DEADLINE {
            let logs = server.stop();
            panic!("the self-check never reached the onion: {text}\nthe box's log:\n{logs}");
        }
        std::thread::sleep(Duration::from_secs(5));
    };
    eprintln!(
        "self-check reachable {:?} after the address was printed: {last}",
        started.elapsed()
    );
    // Two more checks, each on a circuit of its own, still get through.
    std::thread::sleep(Duration::from_secs(25));
    let out = Command::new(BIN)
        .args(["check", "--data-dir"])
        .arg(server.data())
        .arg("--keys-dir")
        .arg(server.dir.path().join("keys"))
        .output()
        .unwrap();
    let again = String::from_utf8_lossy(&out.stdout).into_owned();
    let logs = server.stop();
    assert!(
        out.status.success() && again.contains("ok: onion self-check: reachable"),
        "{again}\n{logs}"
    );
    assert!(logs.contains("onion self-check: reachable"), "{logs}");
    let host = url.strip_prefix("http://").unwrap();
    let host = host.strip_suffix(".onion").unwrap();
    for line in logs.lines().filter(|l| l.contains("self-check")) {
        assert!(!line.contains(host), "{line}");
    }
}
