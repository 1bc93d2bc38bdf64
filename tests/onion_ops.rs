//! Onion operations on the private Tor network (issue 13): the routes a box's operator can take
//! to publish lanterne, tested with the real binaries. Every test here shares one network
//! (`TorNet::shared`: starting one costs about 20 s and 9 tors).
//!
//! The C tor route: `lanterne serve --no-onion` on loopback, and the system's C tor publishing
//! it with `HiddenServicePoWDefensesEnabled 1` (C tor's stable proof-of-work defence;
//! docs/onion-pow.md).

mod common;
mod onion_arti;

use common::*;
use lanterne_tornet::TorNet;
use std::net::SocketAddr;
use std::time::Duration;

/// How long a fresh onion service may take to become reachable (time-period rollovers on a
/// young network cause outages of up to a minute).
const REACH_DEADLINE: Duration = Duration::from_secs(300);

/// What a C tor client logs (in the `rend` domain, at debug level) when the descriptor it
/// decrypted for a service carries proof-of-work parameters (`pow-params`), right after its
/// info line about introducing itself to that service.
const POW_IN_DESCRIPTOR: &str = "PoW params present in descriptor";

/// How often the client introduced itself to the service `host` (56 characters, no `.onion`),
/// and how many of those introductions followed a descriptor with proof-of-work parameters.
fn introductions(rend_log: &str, host: &str) -> (usize, usize) {
    let to_host = format!("Considering sending INTRODUCE1 cell to service {host} ");
    let (mut intros, mut with_pow, mut current) = (0, 0, false);
    for line in rend_log.lines() {
        if line.contains("Considering sending INTRODUCE1 cell to service ") {
            current = line.contains(&to_host);
            intros += usize::from(current);
        } else if current && line.contains(POW_IN_DESCRIPTOR) {
            with_pow += 1;
        }
    }
    (intros, with_pow)
}

/// The box's loopback listener, as `serve --no-onion` printed it.
fn listener(server: &Server) -> SocketAddr {
    let addr = server.base.strip_prefix("http://").unwrap_or(&server.base);
    addr.parse()
        .unwrap_or_else(|e| panic!("odd listen address {addr}: {e}"))
}

/// The C tor route of issue 13: `serve --no-onion` behind a C tor onion service with
/// `HiddenServicePoWDefensesEnabled 1`. A C tor client reaches the landing page, and the
/// descriptor it fetched carries proof-of-work parameters. The proof is the client's own log:
/// "PoW params present in descriptor" after it decided to introduce itself to that service, so
/// the parameters were in the descriptor the service published, not only in its torrc. The
/// same client reaching the same box behind a service without the torrc line logs no such
/// thing, which shows the check can fail (it did when the line was removed from the first
/// service: 0 of 1 introductions with parameters).
#[test]
fn c_tor_route_with_proof_of_work_serves_the_landing_page() {
    let net = TorNet::shared();
    net.ensure_stable_period(Duration::from_secs(360));
    let server = Server::start("");
    let target = listener(&server);

    let with_pow = net.add_c_onion_service_with(target, "HiddenServicePoWDefensesEnabled 1\n");
    let without_pow = net.add_c_onion_service(target);
    let logs = tempfile::tempdir().unwrap();
    let rend_log = logs.path().join("rend.log");
    let socks = net.add_client_with(
        None,
        &format!("Log [rend]debug file {}\n", rend_log.display()),
    );

    for (onion, pow) in [(&with_pow, true), (&without_pow, false)] {
        let (status, body) =
            net.curl_get_via(socks, None, &format!("http://{onion}/"), REACH_DEADLINE);
        assert_eq!(status, 200, "{onion}: {body}");
        assert!(body.contains("Share documents safely"), "{onion}: {body}");

        let log = std::fs::read_to_string(&rend_log).unwrap();
        let host = onion.strip_suffix(".onion").unwrap();
        let (intros, seen) = introductions(&log, host);
        assert!(intros >= 1, "the client never introduced itself to {onion}");
        if pow {
            assert_eq!(
                seen, intros,
                "proof-of-work parameters missing from {onion}'s descriptor ({seen} of {intros} introductions)"
            );
        } else {
            assert_eq!(
                seen, 0,
                "{onion} has no proof-of-work, yet the client saw parameters"
            );
        }
    }
}
