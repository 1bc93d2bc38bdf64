//! The embedded arti onion's operations on the private Tor network (issue 13): the reviewer
//! onion that only workstations with a key can find, the per-circuit budgets, and arti's
//! proof-of-work. A module of the `onion_ops` binary, sharing its network.

use super::*;
use std::path::Path;
use std::time::Instant;

/// `serve` on the private network with the embedded onion (not `--no-onion`), `extra` flags
/// and config; returns the box and the URLs it printed once published: the sources' onion, and
/// the reviewer onion when `--reviewer-onion` is among `extra` (in whichever order they come).
fn box_on_tor(net: &TorNet, config: &str, extra: &[&str]) -> (Server, String, Option<String>) {
    let fragment = p(net.arti_fragment()).to_owned();
    let mut args = vec!["--tor-network", &fragment];
    args.extend_from_slice(extra);
    let server = Server::start_with(config, &args);
    let want_reviewer = extra.contains(&"--reviewer-onion");
    let (mut sources, mut reviewers) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(180);
    while sources.is_none() || (want_reviewer && reviewers.is_none()) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = server
            .wait_stdout("", left)
            .unwrap_or_else(|| panic!("no onion address printed: {sources:?} {reviewers:?}"));
        if let Some(u) = line.strip_prefix("reviewer onion address: ") {
            reviewers = Some(u.to_owned());
        } else if let Some(u) = line.strip_prefix("onion address: ") {
            sources = Some(u.to_owned());
        }
    }
    (server, sources.unwrap_or_default(), reviewers)
}

/// A workstation's C tor: a fresh client whose `ClientOnionAuthDir` holds `auth_private`.
fn workstation_tor(net: &TorNet, auth_private: &Path) -> (tempfile::TempDir, SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(auth_private, dir.path().join("ws.auth_private")).unwrap();
    let socks = net.add_client(Some(dir.path()));
    (dir, socks)
}

/// GET `url` once through `socks`; the status, or the curl error.
fn get_once(net: &TorNet, socks: SocketAddr, url: &str) -> Result<u16, String> {
    net.curl_once(socks, None, url, &[], Duration::from_secs(60))
        .map(|(status, _)| status)
        .map_err(|e| format!("{e:?}"))
}

/// The reviewer onion, end to end: published with its own address; a C tor client without a
/// key cannot reach it; one with the `.auth_private` file `reviewers add` wrote can, and
/// `fetch --socks` through it gets a submission; a workstation added while the box runs gets in
/// without a restart; after `reviewers remove`, a fresh client holding the removed key no
/// longer finds it, while the other workstation still does.
#[test]
fn reviewer_onion_answers_only_workstations_with_a_key() {
    let net = TorNet::shared();
    net.ensure_stable_period(Duration::from_secs(420));
    let dir = tempfile::tempdir().unwrap();
    // Published with no workstation yet (the placeholder client keeps it up), then alice.
    let (mut server, source_url, reviewer_url) = box_on_tor(net, "", &["--reviewer-onion"]);
    let reviewer_url = reviewer_url.unwrap_or_default();
    let alice = dir.path().join("alice.cred");
    server.add_reviewer("alice", &alice);
    assert_ne!(reviewer_url, source_url);
    let index = format!("{reviewer_url}/api/v1/index");
    let alice_key = dir.path().join("alice.cred.auth_private");
    let host = reviewer_url
        .strip_prefix("http://")
        .and_then(|h| h.strip_suffix(".onion"))
        .unwrap();
    assert!(std::fs::read_to_string(&alice_key)
        .unwrap()
        .starts_with(&format!("{host}:descriptor:x25519:")));

    // A source submits (over loopback: the source side is tested in tests/onion.rs).
    server.source_with_message("over the reviewer onion");

    // With alice's key: the API answers (401 without a token), and fetch --socks works.
    let (_alice_dir, alice_socks) = workstation_tor(net, &alice_key);
    let started = Instant::now();
    let (status, _) = net.curl_get_via(alice_socks, None, &index, REACH_DEADLINE);
    eprintln!("reviewer onion: first answer after {:?}", started.elapsed());
    assert_eq!(status, 401);
    let bundle = dir.path().join("bundle");
    let socks = alice_socks.to_string();
    let mut args = fetch_args(&reviewer_url, &alice, &bundle, false);
    args.extend(["--socks", &socks]);
    let out = lanterne(&args);
    assert!(out.contains("fetched 1 new submission(s)"), "{out}");

    // Without a key: the descriptor cannot be read (C tor says X'F4', curl "(244)"), while the
    // same client reaches the sources' onion.
    let stranger = net.add_client(None);
    assert_eq!(
        net.curl_get_via(stranger, None, &format!("{source_url}/"), REACH_DEADLINE)
            .0,
        200
    );
    let refused = get_once(net, stranger, &index);
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("(244)")),
        "a client without a key must fail with X'F4', missing client authorization: {refused:?}"
    );

    // bob, added while the box runs: no restart.
    let bob = dir.path().join("bob.cred");
    server.add_reviewer("bob", &bob);
    let (_bob_dir, bob_socks) = workstation_tor(net, &dir.path().join("bob.cred.auth_private"));
    let (status, _) = net.curl_get_via(bob_socks, None, &index, REACH_DEADLINE);
    assert_eq!(status, 401);

    // alice removed: after the republication (arti uploads at most once a minute), a fresh
    // client with her key no longer finds the onion; bob's fresh client still does.
    lanterne(&[
        "reviewers",
        "remove",
        "alice",
        "--data-dir",
        p(&server.data()),
    ]);
    let deadline = Instant::now() + Duration::from_secs(240);
    std::thread::sleep(Duration::from_secs(65));
    loop {
        let (_d, revoked) = workstation_tor(net, &alice_key);
        match get_once(net, revoked, &index) {
            Err(_) => break,
            Ok(status) if Instant::now() < deadline => {
                eprintln!("the removed key still finds the onion ({status}); waiting");
                std::thread::sleep(Duration::from_secs(15));
            }
            Ok(status) => panic!("the removed key still finds the reviewer onion: {status}"),
        }
    }
    let (_bob_dir2, bob_again) = workstation_tor(net, &dir.path().join("bob.cred.auth_private"));
    let (status, _) = net.curl_get_via(bob_again, None, &index, REACH_DEADLINE);
    assert_eq!(status, 401);
    let logs = server.stop();
    assert!(
        !logs.contains(host),
        "the reviewer onion's address was logged"
    );
}

/// One request of the code flow over `socks` with `isolation` (one circuit per isolation):
/// the landing page, then a new code; the code page's status.
fn ask_code(net: &TorNet, socks: SocketAddr, isolation: &str, url: &str) -> Result<u16, String> {
    let jar = tempfile::tempdir().map_err(|e| e.to_string())?;
    let jar = jar.path().join("jar");
    let jar = p(&jar).to_owned();
    let (_, home) = net
        .curl_once(
            socks,
            Some(isolation),
            &format!("{url}/"),
            &["-c", &jar, "-b", &jar],
            Duration::from_secs(60),
        )
        .map_err(|e| format!("{e:?}"))?;
    let csrf = between(&home, "name=\"csrf\" value=\"", "\"").ok_or("no csrf")?;
    net.curl_once(
        socks,
        Some(isolation),
        &format!("{url}/code"),
        &["-c", &jar, "-b", &jar, "--data", &format!("csrf={csrf}")],
        Duration::from_secs(60),
    )
    .map(|(status, _)| status)
    .map_err(|e| format!("{e:?}"))
}

/// One circuit flooding new codes gets its budget (3), then "too many attempts", and is cut:
/// its next request comes on a new circuit (C tor builds one when the old is gone), which
/// has a fresh budget and gets a code again; with the circuit left open it would get 429
/// (a code comes back every 10 minutes). Meanwhile another circuit gets a code.
#[test]
fn a_circuit_flooding_new_codes_is_cut_while_another_gets_a_code() {
    let net = TorNet::shared();
    net.ensure_stable_period(Duration::from_secs(360));
    let (mut server, url, _) = box_on_tor(net, "", &[]);
    let socks = net.add_client(None);
    net.curl_get_via(socks, Some("warmup"), &format!("{url}/"), REACH_DEADLINE);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(ask_code(net, socks, "flood", &url));
    }
    assert_eq!(
        statuses,
        [Ok(200), Ok(200), Ok(200), Ok(429)],
        "the flooding circuit's code requests"
    );
    assert_eq!(ask_code(net, socks, "honest", &url), Ok(200));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        ask_code(net, socks, "flood", &url),
        Ok(200),
        "the flooding circuit was not cut (its budget is spent, so it would get 429)"
    );
    let logs = server.stop();
    assert!(
        logs.contains("a rendezvous circuit went over its budget of new codes: closing it"),
        "{logs}"
    );
}

/// With `[onion] proof_of_work = true` the arti service publishes proof-of-work parameters in
/// its descriptor (the C tor client's log says so when it introduces itself), a C tor client
/// reaches it, and the box says at start that arti calls this experimental.
#[test]
fn arti_proof_of_work_publishes_and_a_c_tor_client_reaches_it() {
    let net = TorNet::shared();
    net.ensure_stable_period(Duration::from_secs(360));
    let (mut server, url, _) = box_on_tor(net, "[onion]\nproof_of_work = true\n", &[]);
    let logs = tempfile::tempdir().unwrap();
    let rend_log = logs.path().join("rend.log");
    let socks = net.add_client_with(
        None,
        &format!("Log [rend]debug file {}\n", rend_log.display()),
    );
    let (status, body) = net.curl_get_via(socks, None, &format!("{url}/"), REACH_DEADLINE);
    assert_eq!(status, 200);
    assert!(body.contains("Share documents safely"), "{body}");
    let host = url
        .strip_prefix("http://")
        .and_then(|h| h.strip_suffix(".onion"))
        .unwrap();
    let (intros, with_pow) = introductions(&std::fs::read_to_string(&rend_log).unwrap(), host);
    assert!(intros >= 1, "the client never introduced itself");
    assert_eq!(
        with_pow, intros,
        "no proof-of-work parameters in arti's descriptor"
    );
    let out = server.stop();
    assert!(
        out.contains("proof-of-work is on") && out.contains("experimental"),
        "{out}"
    );
}
