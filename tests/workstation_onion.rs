//! Issue 13, the workstation's way to the reviewer onion: `reviewers add` writes the onion
//! client key beside the credential (and `remove` deletes the server's half), and `fetch` and
//! `push` go through a SOCKS5 proxy that resolves the `.onion` name itself, as a C tor client
//! does. The proxy here is a small recording SOCKS5 server on loopback that forwards every
//! stream to the box's loopback reviewer API; the real Tor network is tests/tornet's.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use crate::common::*;

/// A SOCKS5 proxy (no authentication, CONNECT only) that records each destination it is asked
/// for, as `host:port` (a name stays a name, an address is written as one), and connects every
/// stream to `target`.
struct Socks {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Socks {
    fn start(target: SocketAddr) -> Socks {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let record = asked.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let record = record.clone();
                std::thread::spawn(move || {
                    let _ = serve_socks(client, target, &record);
                });
            }
        });
        Socks { addr, asked }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

fn serve_socks(
    mut client: TcpStream,
    target: SocketAddr,
    record: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut head = [0u8; 2];
    client.read_exact(&mut head)?;
    let mut methods = vec![0u8; head[1] as usize];
    client.read_exact(&mut methods)?;
    assert_eq!(head[0], 5, "not SOCKS5");
    assert!(methods.contains(&0), "no 'no authentication' method");
    client.write_all(&[5, 0])?;
    let mut req = [0u8; 4];
    client.read_exact(&mut req)?;
    assert_eq!(req[..3], [5, 1, 0], "not a CONNECT");
    let host = match req[3] {
        1 => {
            let mut a = [0u8; 4];
            client.read_exact(&mut a)?;
            std::net::Ipv4Addr::from(a).to_string()
        }
        3 => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len)?;
            let mut name = vec![0u8; len[0] as usize];
            client.read_exact(&mut name)?;
            String::from_utf8(name).unwrap()
        }
        4 => {
            let mut a = [0u8; 16];
            client.read_exact(&mut a)?;
            format!("[{}]", std::net::Ipv6Addr::from(a))
        }
        t => panic!("address type {t}"),
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port)?;
    record
        .lock()
        .unwrap()
        .push(format!("{host}:{}", u16::from_be_bytes(port)));
    let upstream = TcpStream::connect(target)?;
    client.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0])?;
    let (mut c_in, mut u_out) = (client.try_clone()?, upstream.try_clone()?);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_in, &mut u_out);
        let _ = u_out.shutdown(Shutdown::Write);
    });
    let (mut u_in, mut c_out) = (upstream, client);
    let _ = std::io::copy(&mut u_in, &mut c_out);
    let _ = c_out.shutdown(Shutdown::Write);
    let _ = up.join();
    Ok(())
}

/// The loopback address of a `http://ADDR` base URL.
fn socket_of(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `lanterne` with `args` and proxy variables in its environment that point at `decoy`: the
/// workstation must never pick a proxy up from there.
fn lanterne_with_proxy_env(args: &[&str], decoy: &Socks) -> std::process::Output {
    let decoy = format!("socks5h://{}", decoy.addr);
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for var in ["ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"] {
        cmd.env(var, &decoy);
    }
    cmd.env_remove("NO_PROXY").env_remove("no_proxy");
    cmd.output().unwrap()
}

/// `reviewers add --config` writes the client key for the reviewer onion the config names
/// (its nickname), both halves 0600, and prints how to install it; `remove` deletes the
/// server's half with the token.
#[test]
fn reviewers_add_writes_the_client_key_of_the_configured_reviewer_onion() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("lanterne.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[reviewer]\nonion_nickname = \"desk-onion\"\n",
            p(&data)
        ),
    )
    .unwrap();
    let out = dir.path().join("alice.cred");
    let printed = lanterne(&[
        "reviewers",
        "add",
        "alice",
        "--out",
        p(&out),
        "--config",
        p(&config),
    ]);
    let auth_private = dir.path().join("alice.cred.auth_private");
    let auth = data.join("reviewer-onion-clients/alice.auth");
    for f in [&out, &auth_private, &auth] {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    for needle in [
        p(&auth_private),
        p(&auth),
        "ClientOnionAuthDir",
        "Tor Browser",
        "Tails",
    ] {
        assert!(printed.contains(needle), "{needle} not in {printed}");
    }

    // The address in the secret half is the reviewer onion's of this config (nickname
    // desk-onion), not the sources' onion's nor the default nickname's.
    let cfg = lanterne::config::Config::from_file(&config).unwrap();
    let reviewer_url = lanterne::onion::address_of(
        &cfg.onion,
        &data,
        lanterne::onion::Service::Reviewers {
            nickname: "desk-onion",
            clients_dir: &lanterne::credentials::onion_clients_dir(&data),
        },
    )
    .unwrap();
    let sources_url = lanterne(&["onion-address", "--config", p(&config)]);
    assert_ne!(reviewer_url, sources_url.trim());
    let line = std::fs::read_to_string(&auth_private).unwrap();
    let host = line.split(':').next().unwrap();
    assert_eq!(format!("http://{host}.onion"), reviewer_url);
    assert!(
        line.starts_with(&format!("{host}:descriptor:x25519:")),
        "{line}"
    );

    // A config serve would refuse (the reviewer onion named like the sources' one, whose
    // address the key would then carry) is refused before anything is written.
    let clash = dir.path().join("clash.toml");
    std::fs::write(
        &clash,
        format!(
            "data_dir = {:?}\n[reviewer]\nonion_nickname = \"lanterne\"\n",
            p(&data)
        ),
    )
    .unwrap();
    let bob = dir.path().join("bob.cred");
    let refused = Command::new(BIN)
        .args([
            "reviewers",
            "add",
            "bob",
            "--out",
            p(&bob),
            "--config",
            p(&clash),
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("reviewer.onion_nickname"),
        "{refused:?}"
    );
    assert!(!bob.exists() && !data.join("reviewers/bob").exists());
    assert!(!data.join("reviewer-onion-clients/bob.auth").exists());

    let removed = lanterne(&["reviewers", "remove", "alice", "--config", p(&config)]);
    assert!(removed.contains("revoked"), "{removed}");
    assert!(!auth.exists());
    assert!(!data.join("reviewers/alice").exists());
    // The workstation's files are the workstation's: remove does not touch them.
    assert!(out.exists() && auth_private.exists());
}

/// `fetch --socks` and `push --socks` reach a `.onion` server only through the proxy, which
/// is asked for the onion name (socks5h: tor resolves it), never for an address; without
/// --socks no proxy is taken from the environment.
#[test]
fn fetch_and_push_reach_an_onion_server_through_socks_by_name() {
    let server = Server::start("");
    server.source_with_message("through the proxy");
    let cred = server.dir.path().join("ws.cred");
    server.add_reviewer("ws", &cred);
    let socks = Socks::start(socket_of(&server.reviewer_base));
    let decoy = Socks::start(socket_of(&server.reviewer_base));
    let onion = "http://abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzab.onion";
    let socks_arg = socks.addr.to_string();
    let bundle = server.dir.path().join("bundle");

    // Without --socks, the loopback API is reached directly, whatever the environment says.
    let direct = server.dir.path().join("direct");
    let out = lanterne_with_proxy_env(
        &fetch_args(&server.reviewer_base, &cred, &direct, false),
        &decoy,
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(decoy.asked(), Vec::<String>::new());

    let mut args = fetch_args(onion, &cred, &bundle, false);
    args.extend(["--socks", &socks_arg]);
    let out = lanterne_with_proxy_env(&args, &decoy);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("fetched 1 new submission"),
        "{out:?}"
    );
    let asked = socks.asked();
    assert!(!asked.is_empty());
    let onion_host = format!("{}:80", onion.trim_start_matches("http://"));
    assert!(asked.iter().all(|a| *a == onion_host), "{asked:?}");
    assert_eq!(decoy.asked(), Vec::<String>::new());

    // A signed reply pushed the same way.
    let designation = list(&bundle.join("sources"))[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let replies = server.dir.path().join("replies");
    let message = server.dir.path().join("reply.txt");
    std::fs::write(&message, "a reply through tor").unwrap();
    lanterne_offline(
        &server,
        &[
            "review",
            "reply",
            p(&bundle),
            "--source",
            &designation,
            "--message",
            p(&message),
            "--identity",
            p(&server.identity),
            "--out",
            p(&replies),
        ],
    );
    let before = socks.asked().len();
    let out = lanterne_with_proxy_env(
        &[
            "push",
            "--server",
            onion,
            "--socks",
            &socks_arg,
            "--credential",
            p(&cred),
            p(&replies),
        ],
        &decoy,
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("pushed 1"),
        "{out:?}"
    );
    let asked = socks.asked();
    assert!(asked.len() > before);
    assert!(asked.iter().all(|a| *a == onion_host), "{asked:?}");
    assert_eq!(decoy.asked(), Vec::<String>::new());
}

/// Without --socks, a `.onion` server is refused before any connection: no name lookup, no
/// proxy from the environment, a message that says what to do.
#[test]
fn an_onion_server_without_socks_is_refused_before_any_connection() {
    let dir = tempfile::tempdir().unwrap();
    let cred = dir.path().join("ws.cred");
    std::fs::write(&cred, r#"{"name":"ws","token":"00"}"#).unwrap();
    // Any stream through the decoy would be recorded; it forwards to a closed port.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let decoy = Socks::start(closed);
    let bundle = dir.path().join("bundle");
    let onion = "http://abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzab.onion";
    for args in [
        fetch_args(onion, &cred, &bundle, false),
        vec![
            "push",
            "--server",
            onion,
            "--credential",
            p(&cred),
            p(dir.path()),
        ],
    ] {
        let out = lanterne_with_proxy_env(&args, &decoy);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("is an onion address: pass --socks HOST:PORT"),
            "{err}"
        );
        assert_eq!(decoy.asked(), Vec::<String>::new());
    }
    assert!(!bundle.exists());
}
