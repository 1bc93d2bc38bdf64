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

/// [`submit_over_tor`], retried as a whole for up to [`REACH_DEADLINE`] while circuits settle;
/// the last error if none went through. `which` names the onion in the retry lines.
fn submit_over_tor_until(
    net: &TorNet,
    url: &str,
    file: &std::path::Path,
    which: &str,
) -> Result<(), String> {
    let deadline = Instant::now() + REACH_DEADLINE;
    loop {
        match submit_over_tor(net, url, file) {
            Err(e) if Instant::now() < deadline => {
                eprintln!("submission over the {which}onion failed, retrying: {e}");
                std::thread::sleep(Duration::from_secs(5));
            }
            done => return done,
        }
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
    submit_over_tor_until(&net, &url, &upload, "")
        .unwrap_or_else(|e| panic!("no submission over the onion: {e}"));
    let subs = server.submissions();
    assert!(!subs.is_empty());
    let manifest: serde_json::Value =
        serde_json::from_slice(&server.age_decrypt(&subs[0].join("manifest.age"))).unwrap();
    let stored = manifest["files"][0]["stored_as"].as_str().unwrap();
    let size = manifest["files"][0]["size"].as_u64().unwrap();
    assert_eq!(server.age_decrypt_file(&subs[0].join(stored), size), bytes);

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

/// The uid the confined box runs as: owns nothing else on the machine (stands for the package's
/// `lanterne` user).
const CONFINED_UID: u32 = 64123;

/// The package's unit lets the box run its onion service: the binary, confined by
/// packaging/lanterne.service as scripts/confined-run plays it (its own uid, no capabilities,
/// read-only file system but the data dir, the unit's system call filter, address families and
/// MemoryDenyWriteExecute, with arti's proof-of-work on, whose hashx verifier would JIT-compile),
/// publishes on the private Tor network and takes a submission over the onion that stock age
/// decrypts. Needs root (mount namespaces, seccomp, another uid), as CI runs.
#[test]
fn the_box_confined_by_its_unit_publishes_and_takes_a_submission() {
    assert!(
        rustix::process::geteuid().is_root(),
        "run as root: scripts/confined-run needs mount namespaces and another uid"
    );
    let net = TorNet::start();
    net.ensure_stable_period(Duration::from_secs(360));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(etc.join("keys")).unwrap();
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&data)
            .unwrap();
    }
    std::os::unix::fs::chown(&data, Some(CONFINED_UID), Some(CONFINED_UID)).unwrap();
    let key = dir.path().join("alice.key");
    let card = etc.join("keys").join("alice.card");
    lanterne(&[
        "keys",
        "new",
        "--out",
        p(&key),
        "--name",
        "alice",
        "--public",
        p(&card),
    ]);
    std::fs::copy(net.arti_fragment(), etc.join("net.toml")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The paths confined-run shows the box: the data dir and this etc dir (read-only).
    std::fs::write(
        etc.join("lanterne.toml"),
        format!(
            "data_dir = \"/var/lib/lanterne\"\nkeys_dir = \"/var/lib/lanterne-etc/keys\"\n\
             listen = \"127.0.0.1:{port}\"\n\
             [onion]\ntor_network = \"/var/lib/lanterne-etc/net.toml\"\nproof_of_work = true\n\
             [reviewer]\nenabled = false\n"
        ),
    )
    .unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let mut runner = Command::new(format!("{root}/scripts/confined-run"))
        .arg(format!("{root}/packaging/lanterne.service"))
        .args([&data, &etc])
        .arg(CONFINED_UID.to_string())
        .args([
            "--",
            BIN,
            "serve",
            "--config",
            "/var/lib/lanterne-etc/lanterne.toml",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    for stream in [
        Box::new(runner.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(runner.stderr.take().unwrap()),
    ] {
        let tx = lines_tx.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
    }
    let mut log = String::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    let url = loop {
        match lines_rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) => {
                log.push_str(&line);
                log.push('\n');
                if let Some(url) = line.strip_prefix("onion address: ") {
                    break url.trim().to_owned();
                }
            }
            Err(_) if Instant::now() < deadline && runner.try_wait().unwrap().is_none() => {}
            Err(_) => panic!("the confined box never printed its onion address:\n{log}"),
        }
    };
    let (bytes, _) = file_with_canary("confined", 100_000);
    let upload = dir.path().join("upload.bin");
    std::fs::write(&upload, &bytes).unwrap();
    submit_over_tor_until(&net, &url, &upload, "confined ")
        .unwrap_or_else(|e| panic!("no submission over the confined onion: {e}\n{log}"));
    // Stop the box (confined-run's child: the runner itself is unshare) and read its log.
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", runner.id()))
        .unwrap_or_default();
    for pid in children.split_whitespace() {
        let _ = Command::new("kill").args(["-TERM", pid]).status();
    }
    let status = runner.wait().unwrap();
    log.extend(lines_rx.try_iter().map(|l| l + "\n"));
    assert!(
        status.success(),
        "the confined box did not stop cleanly: {status}\n{log}"
    );
    let stored = walk(&data.join("sources"))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "age"))
        .map(|f| age_cli_decrypt(&key, &f))
        .any(|plain| {
            plain.len() as u64 == lanterne::padding::bucket(bytes.len() as u64)
                && plain.starts_with(&bytes)
        });
    assert!(stored, "no stored file decrypts to the upload\n{log}");
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Stock `age -d -i KEY FILE`.
fn age_cli_decrypt(key: &std::path::Path, file: &std::path::Path) -> Vec<u8> {
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(key)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "age -d {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
