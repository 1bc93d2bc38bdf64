//! Self-test of the private Tor network harness (crates/lanterne-tornet): a C tor onion service in front of
//! a tiny loopback HTTP server is reachable through the network's C tor client, arti
//! bootstraps on the network from the harness's config fragment, and an added client keeps
//! requests with different isolation tokens on different circuits and reports a bad address
//! at once, and a client reaches a restricted-discovery service only with its key in
//! `ClientOnionAuthDir`. The tests share one network (`TorNet::shared`).
//! Needs Debian's `tor` (with `tor-gencert`) and `curl`; takes about half a minute.
//! Run with `cargo test --test tornet_selftest -- --nocapture` to see the timings.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use arti_client::config::{CfgPath, TorClientConfigBuilder};
use arti_client::TorClient;
use lanterne_tornet::TorNet;

const BODY: &str = "bonjour from the lanterne tornet self-test\n";

/// Answers every connection on a loopback port with `200 OK` and `body`.
fn serve_fixed(body: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    addr
}

/// Builds an arti config from the fragment (plus storage in `dir`), as `lanterne serve
/// --tor-network` will, and bootstraps a client with it.
fn arti_bootstrap_time(fragment: &Path, dir: &Path) -> Duration {
    let text = std::fs::read_to_string(fragment).unwrap();
    let mut builder: TorClientConfigBuilder =
        toml::from_str(&text).unwrap_or_else(|e| panic!("arti rejects the fragment: {e}\n{text}"));
    builder
        .storage()
        .state_dir(CfgPath::new_literal(dir.join("state")))
        .cache_dir(CfgPath::new_literal(dir.join("cache")));
    let config = builder.build().expect("arti config from the fragment");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t0 = Instant::now();
    rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(60),
            TorClient::create_bootstrapped(config),
        )
        .await
        .expect("arti did not bootstrap within 60 s")
        .expect("arti bootstrap failed")
    });
    t0.elapsed()
}

#[test]
fn c_tor_onion_service_is_reachable_through_the_client() {
    let net = TorNet::shared();
    let t = net.timings();
    eprintln!(
        "tornet: launched {:.1?}, consensus {:.1?}, client bootstrapped {:.1?}; {} s voting interval, {:.0?} left in the {:.0?} time period",
        t.launched,
        t.consensus,
        t.bootstrapped,
        net.voting_interval(),
        net.time_period_remaining(),
        net.time_period(),
    );

    let arti = arti_bootstrap_time(net.arti_fragment(), &net.dir().join("arti"));
    eprintln!("tornet: arti bootstrapped from the fragment in {arti:.1?}");

    let backend = serve_fixed(BODY);
    let onion = net.add_c_onion_service(backend);
    let published = net.elapsed();
    eprintln!("tornet: onion service {onion} published {published:.1?}");

    let (status, body) = net.curl_get(&format!("http://{onion}/"), Duration::from_secs(150));
    let reachable = net.elapsed();
    assert_eq!(status, 200);
    assert_eq!(body, BODY);
    eprintln!(
        "tornet: onion reachable {reachable:.1?} (+{:.1?} after publishing)",
        reachable - published
    );
}

/// Introductions the client logged (`Log [rend]info`) to the service `host` (no `.onion`): one
/// per rendezvous circuit it built to it.
fn introductions(rend_log: &Path, host: &str) -> usize {
    let log = std::fs::read_to_string(rend_log).unwrap_or_default();
    let needle = format!("Considering sending INTRODUCE1 cell to service {host} ");
    log.lines().filter(|l| l.contains(&needle)).count()
}

#[test]
fn added_client_isolates_by_token_and_fails_fast() {
    let net = TorNet::shared();
    net.ensure_stable_period(Duration::from_secs(300));
    let onion = net.add_c_onion_service(serve_fixed(BODY));
    let host = onion.strip_suffix(".onion").unwrap();
    let url = format!("http://{onion}/");
    let logs = tempfile::tempdir().unwrap();
    let rend_log = logs.path().join("rend.log");
    let socks = net.add_client_with(
        None,
        &format!("Log [rend]info file {}\n", rend_log.display()),
    );
    assert_ne!(socks, net.socks());

    let (status, body) = net.curl_get_via(socks, Some("alice"), &url, Duration::from_secs(150));
    assert_eq!((status, body.as_str()), (200, BODY));
    let first = introductions(&rend_log, host);
    assert!(
        first >= 1,
        "no introduction logged in {}",
        rend_log.display()
    );

    // The same token reuses its rendezvous circuit; another token gets a circuit of its own.
    let max = Duration::from_secs(60);
    let again = net.curl_once(socks, Some("alice"), &url, &[], max);
    assert_eq!(again.unwrap().0, 200);
    assert_eq!(
        introductions(&rend_log, host),
        first,
        "same token, new circuit"
    );
    let other = net.curl_once(socks, Some("bob"), &url, &[], max);
    assert_eq!(other.unwrap().0, 200);
    assert_eq!(
        introductions(&rend_log, host),
        first + 1,
        "new token, same circuit"
    );

    // An address with a broken checksum fails at once with C tor's extended SOCKS error
    // X'F6' (invalid onion address), shown by curl in decimal.
    let last = if host.ends_with('a') { 'b' } else { 'a' };
    let bad = format!("http://{}{last}.onion/", &host[..55]);
    let t0 = Instant::now();
    let err = net.curl_once(socks, None, &bad, &[], max).unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert_eq!(err.exit(), Some(97), "{err}");
    assert!(err.to_string().contains("(246)"), "{err}");
}

/// RFC 4648 base32 without padding, as C tor writes client-authorization keys.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut out, mut acc, mut bits) = (String::new(), 0u32, 0);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// An x25519 key pair from the `openssl` CLI: (private, public) raw 32-byte keys, the last 32
/// bytes of their DER encodings.
fn x25519_pair() -> ([u8; 32], [u8; 32]) {
    use std::process::{Command, Stdio};
    let der = Command::new("openssl")
        .args(["genpkey", "-algorithm", "X25519", "-outform", "DER"])
        .output()
        .expect("openssl genpkey");
    assert!(der.status.success(), "{der:?}");
    let mut child = Command::new("openssl")
        .args(["pkey", "-inform", "DER", "-pubout", "-outform", "DER"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl pkey");
    child.stdin.take().unwrap().write_all(&der.stdout).unwrap();
    let public = child.wait_with_output().unwrap();
    assert!(public.status.success(), "{public:?}");
    let last32 = |b: &[u8]| <[u8; 32]>::try_from(&b[b.len() - 32..]).unwrap();
    (last32(&der.stdout), last32(&public.stdout))
}

#[test]
fn restricted_service_is_reached_only_with_the_key_in_client_onion_auth_dir() {
    let net = TorNet::shared();
    net.ensure_stable_period(Duration::from_secs(300));
    let (private, public) = x25519_pair();
    let onion = net.add_c_onion_service_restricted(
        serve_fixed(BODY),
        &[&format!("descriptor:x25519:{}", base32(&public))],
    );
    let host = onion.strip_suffix(".onion").unwrap();
    let url = format!("http://{onion}/");

    // The key in C tor's client format, in the directory a workstation's tor reads.
    let auth = tempfile::tempdir().unwrap();
    std::fs::write(
        auth.path().join("reviewer.auth_private"),
        format!("{host}:descriptor:x25519:{}\n", base32(&private)),
    )
    .unwrap();
    let with_key = net.add_client(Some(auth.path()));
    let without_key = net.add_client(None);

    let (status, body) = net.curl_get_via(with_key, None, &url, Duration::from_secs(150));
    assert_eq!((status, body.as_str()), (200, BODY));

    // The service is up and its descriptor published: without the key, C tor fetches the
    // descriptor, cannot decrypt it and says so (X'F4', missing client authorization).
    let t0 = Instant::now();
    let err = net
        .curl_once(without_key, None, &url, &[], Duration::from_secs(60))
        .unwrap_err();
    eprintln!("tornet: without the key after {:.1?}: {err}", t0.elapsed());
    assert_eq!(err.exit(), Some(97), "{err}");
    assert!(err.to_string().contains("(244)"), "{err}");
}
