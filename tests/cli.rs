//! The command line: keys, start-up checks, and the demo.

use crate::common::*;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

#[test]
fn keys_new_writes_a_private_identity_the_age_cli_reads() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.txt");
    let out = Command::new(BIN)
        .args(["keys", "new", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let recipient = card_recipient(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let y = Command::new("age-keygen")
        .arg("-y")
        .arg(&key)
        .output()
        .expect("age-keygen installed");
    assert_eq!(String::from_utf8(y.stdout).unwrap().trim(), recipient);
    let again = Command::new(BIN)
        .args(["keys", "new", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
}

#[test]
fn serve_refuses_to_start_without_keys_or_on_a_public_address() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    let run = |extra: &[&str]| {
        Command::new(BIN)
            .arg("serve")
            .arg("--no-onion")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--keys-dir")
            .arg(dir.path().join("keys"))
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no reviewer recipients") && err.contains("lanterne keys new"),
        "{err}"
    );
    let out = run(&["--listen", "0.0.0.0:0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
}

#[test]
fn demo_serves_with_a_generated_key_that_decrypts_submissions() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--reviewer-listen",
            "127.0.0.1:0",
            "--dir",
        ])
        .arg(dir.path().join("demo"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async { reqwest::get(&base).await.unwrap().status().as_u16() });
    assert_eq!(status, 200);
    let _ = child.kill();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let _ = child.wait();
    assert!(err.contains("DEMO MODE"), "{err}");
    let identity = dir.path().join("demo/reviewer-identity.txt");
    assert!(identity.exists());
    // The generated card holds the demo key's public half and a signing key, so the demo
    // reviewer's signed replies are accepted.
    let keys = std::fs::read_to_string(dir.path().join("demo/keys/demo-reviewer.card")).unwrap();
    assert!(keys.contains("# minisign: RW"), "{keys}");
    assert!(dir
        .path()
        .join("demo/reviewer-identity.txt.minisign")
        .exists());
    let y = Command::new("age-keygen")
        .arg("-y")
        .arg(&identity)
        .output()
        .unwrap();
    assert!(keys.contains(String::from_utf8(y.stdout).unwrap().trim()));
}

#[test]
fn onion_address_is_stable_and_needs_no_network() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let out = Command::new(BIN)
            .args(["onion-address", "--data-dir"])
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let a = run();
    assert_eq!(a, run());
    let host = a
        .strip_prefix("http://")
        .unwrap()
        .strip_suffix(".onion")
        .unwrap();
    assert_eq!(host.len(), 56);
    assert!(host
        .bytes()
        .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)));
}

#[test]
fn an_unreachable_tor_network_never_stops_the_box() {
    // Authorities on loopback ports where nothing listens: Tor can never bootstrap.
    let dir = tempfile::tempdir().unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let fragment = format!(
        r#"[tor_network]
fallback_caches = [{{ rsa_identity = "0000000000000000000000000000000000000000", ed_identity = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", orports = ["127.0.0.1:{port}"] }}]
[tor_network.authorities]
v3idents = ["0000000000000000000000000000000000000001"]
uploads = [["127.0.0.1:{port}"]]
downloads = [["127.0.0.1:{port}"]]
votes = [["127.0.0.1:{port}"]]
[address_filter]
allow_local_addrs = true
"#
    );
    std::fs::write(dir.path().join("dead.toml"), fragment).unwrap();
    let net = dir.path().join("dead.toml");
    let mut server = Server::start_with("", &["--tor-network", net.to_str().unwrap()]);
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert!(server.alive());
    let b = server.browser();
    let page = b.new_code();
    assert_eq!(b.submit(&page, &[], "still works").status, 200);
    assert!(server.alive());
    let logs = server.stop();
    assert!(logs.contains("Tor bootstrap"), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}
