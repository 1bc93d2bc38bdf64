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

/// `lanterne demo` under `dir`, on loopback ports of its own: the child (stderr piped) and the
/// base URL it prints first.
fn start_demo(dir: &std::path::Path) -> (std::process::Child, String) {
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--reviewer-listen",
            "127.0.0.1:0",
        ])
        .arg("--dir")
        .arg(dir.join("demo"))
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
    (child, base)
}

#[test]
fn demo_serves_with_a_generated_key_that_decrypts_submissions() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = start_demo(dir.path());
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

#[test]
fn serve_help_and_the_keys_readme_name_the_files_the_loader_reads() {
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/keys/README.md")).unwrap();
    for ext in lanterne::seal::KEY_FILE_EXTENSIONS {
        let glob = format!("*.{ext}");
        assert!(
            help.contains(&glob),
            "serve --help does not name {glob}:\n{help}"
        );
        assert!(
            readme.contains(&glob),
            "keys/README.md does not name {glob}"
        );
    }
    // And nothing else is named as a key file.
    for doc in [&help, &readme] {
        for word in doc.split(|c: char| c.is_whitespace() || c == ',' || c == '`') {
            if let Some(ext) = word.strip_prefix("*.") {
                let ext = ext.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
                assert!(
                    lanterne::seal::KEY_FILE_EXTENSIONS.contains(&ext),
                    "{word} is named but not read"
                );
            }
        }
    }
}

/// Runs `lanterne ARGS` in `dir`, with its own review home, and returns (success, stderr). A
/// command still running after 30 s (a box that started when it should have refused) is
/// stopped and counts as a success.
fn lanterne_in(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let err_file = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env(REVIEW_HOME_ENV, dir.join("review-home"))
        .stdout(Stdio::null())
        .stderr(err_file.reopen().unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let ok = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.success();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    (ok, std::fs::read_to_string(err_file.path()).unwrap())
}

#[test]
fn an_error_says_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["review", "team", "add", "missing.card"][..],
        &["keys", "new", "--out", "no-such-dir/reviewer.key"],
        &["serve", "--no-onion", "--config", "missing.toml"],
    ] {
        let (ok, err) = lanterne_in(dir.path(), args);
        assert!(!ok, "{args:?}");
        let io = "No such file or directory (os error 2)";
        assert_eq!(err.matches(io).count(), 1, "{args:?}:\n{err}");
    }
}

#[test]
fn a_missing_keys_dir_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--no-onion",
        "--listen",
        "127.0.0.1:0",
        "--keys-dir",
        "no-keys",
    ];
    let (ok, err) = lanterne_in(dir.path(), &[&["serve"][..], &args].concat());
    assert!(!ok);
    for fix in [
        "no-keys does not exist",
        "mkdir -p no-keys",
        "lanterne keys new",
        "keys_dir",
    ] {
        assert!(err.contains(fix), "no {fix:?} in:\n{err}");
    }
    let out = Command::new(BIN)
        .args(["check", "--data-dir", "data", "--keys-dir", "no-keys"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("no keys folder at no-keys")
            && report.contains("create it")
            && report.contains("keys_dir"),
        "{report}"
    );
}

#[test]
fn a_secret_key_in_the_keys_dir_stops_the_box_and_is_named_as_exposed() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    // The reviewer makes their key in the keys folder and leaves it there, beside their card.
    let made = Command::new(BIN)
        .args([
            "keys",
            "new",
            "--out",
            "keys/reviewer.key",
            "--name",
            "alice",
        ])
        .args(["--public", "keys/alice.card"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(made.status.success());
    let secret = std::fs::read_to_string(keys.join("reviewer.key")).unwrap();
    let secret = secret
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_owned();
    let serve = ["serve", "--no-onion", "--listen", "127.0.0.1:0"];
    let serve = [&serve[..], &["--data-dir", "data", "--keys-dir", "keys"]].concat();
    let refused = |file: &str| {
        let (ok, err) = lanterne_in(dir.path(), &serve);
        assert!(!ok, "started with {file} in the keys folder");
        for said in [
            file,
            "SECRET KEY",
            "Remove that file",
            "exposed",
            "keys new",
        ] {
            assert!(err.contains(said), "no {said:?} in:\n{err}");
        }
        // The secret itself is never printed (neither is its bech32 body).
        assert!(!err.contains(&secret[15..]), "{err}");
        let out = Command::new(BIN)
            .args(["check", "--data-dir", "data", "--keys-dir", "keys"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{report}");
        assert!(
            report.contains(file) && report.contains("SECRET KEY") && report.contains("exposed"),
            "{report}"
        );
        assert!(!report.contains(&secret[15..]), "{report}");
    };
    // Its identity (any name), then only its signing key, then the identity as a `.txt`.
    refused("keys/reviewer.key");
    std::fs::remove_file(keys.join("reviewer.key")).unwrap();
    refused("keys/reviewer.key.minisign");
    std::fs::remove_file(keys.join("reviewer.key.minisign")).unwrap();
    std::fs::write(keys.join("team.txt"), format!("{secret}\n")).unwrap();
    refused("keys/team.txt");
    std::fs::remove_file(keys.join("team.txt")).unwrap();
    // With the card alone, the box starts.
    let mut child = Command::new(BIN)
        .args(&serve)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("listening on "), "{line}");
}

/// Expands a path whose components may be `*` into the existing paths it names.
fn expand(pattern: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = vec![std::path::PathBuf::new()];
    for part in pattern.components() {
        found = found
            .into_iter()
            .flat_map(|base| {
                if part.as_os_str() == "*" {
                    std::fs::read_dir(&base)
                        .map(|rd| rd.filter_map(|e| Some(e.ok()?.path())).collect())
                        .unwrap_or_default()
                } else {
                    vec![base.join(part)]
                }
            })
            .filter(|p| p.exists())
            .collect();
    }
    found
}

#[test]
fn the_demo_names_the_folder_of_its_stored_age_files() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = start_demo(dir.path());
    let b = Browser::new(&base, None);
    let page = b.new_code();
    let file = Upload {
        name: "note.txt",
        mime: "text/plain",
        bytes: b"the demo keeps this".to_vec(),
    };
    assert_eq!(b.submit(&page, &[file], "hello").status, 200);
    let _ = child.kill();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let _ = child.wait();
    let banner = err
        .split("Submissions are stored")
        .nth(1)
        .unwrap_or_else(|| panic!("{err}"));
    let folder = banner.lines().nth(1).unwrap().trim();
    assert!(folder.ends_with("/submissions/*/"), "{folder}");
    let folders = expand(std::path::Path::new(folder));
    assert_eq!(folders.len(), 1, "{folder} names {folders:?}");
    let identity = dir.path().join("demo/reviewer-identity.txt");
    let mut plain = Vec::new();
    for f in std::fs::read_dir(&folders[0]).unwrap() {
        let f = f.unwrap().path();
        assert_eq!(f.extension().unwrap(), "age", "{f:?}");
        let out = Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&identity)
            .arg(&f)
            .output()
            .unwrap();
        assert!(out.status.success(), "{f:?}");
        plain.push(out.stdout);
    }
    assert!(plain.iter().any(|p| p.starts_with(b"the demo keeps this")));
}

#[test]
fn the_readme_first_serve_stays_off_tor_with_flags_the_binary_has() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let by_hand = readme.split("### By hand").nth(1).unwrap();
    let block = by_hand.split("```").nth(1).unwrap();
    let serves: Vec<&str> = block
        .lines()
        .filter(|l| l.trim_start().starts_with("lanterne serve"))
        .collect();
    // The first `serve` a newcomer copies does not reach for the Tor network.
    assert!(
        serves.first().is_some_and(|l| l.contains("--no-onion")),
        "{serves:?}"
    );
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for line in serves {
        for flag in line.split(|c: char| c.is_whitespace() || c == '[' || c == ']') {
            if flag.starts_with("--") {
                assert!(
                    help.contains(flag),
                    "README's {flag} is not in serve --help"
                );
            }
        }
    }
}
