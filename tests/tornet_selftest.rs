//! Self-test of the private Tor network harness (crates/lanterne-tornet): a C tor onion service in front of
//! a tiny loopback HTTP server is reachable through the network's C tor client, and arti
//! bootstraps on the network from the harness's config fragment.
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
    let mut net = TorNet::start();
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
