//! Bounded deletion (issue 12): a workstation credential can ack only what it was served in
//! full, a refused ack is recorded under the credential's name, and every deletion (ack or
//! retention) reaches the other reviewers: in the index, in `fetch`'s output, in the bundle's
//! `deletions.txt` and in `review open`. Every test drives the real binary over loopback.

use crate::common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_str().unwrap().to_owned()
}

/// `lanterne fetch` that may fail.
fn try_fetch(base: &str, cred: &Path, bundle: &Path, ack: bool) -> Output {
    std::process::Command::new(BIN)
        .args(fetch_args(base, cred, bundle, ack))
        .output()
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A raw request to the reviewer API: (status, body).
fn api(
    server: &Server,
    auth: &str,
    method: reqwest::Method,
    path: &str,
    range: Option<&str>,
    body: Option<String>,
) -> (u16, Vec<u8>) {
    runtime().block_on(async {
        let mut req = reqwest::Client::new()
            .request(method, format!("{}{path}", server.reviewer_base))
            .header("authorization", auth);
        if let Some(r) = range {
            req = req.header("range", r);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.bytes().await.unwrap().to_vec())
    })
}

/// `POST /api/v1/ack` of one submission, as `auth`.
fn ack(server: &Server, auth: &str, designation: &str, id: &str) -> (u16, String) {
    let body = format!(r#"{{"submissions":[{{"designation":"{designation}","id":"{id}"}}]}}"#);
    let (status, body) = api(
        server,
        auth,
        reqwest::Method::POST,
        "/api/v1/ack",
        None,
        Some(body),
    );
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The index as `auth` sees it.
fn index(server: &Server, auth: &str) -> serde_json::Value {
    let (status, body) = api(
        server,
        auth,
        reqwest::Method::GET,
        "/api/v1/index?after=0",
        None,
        None,
    );
    assert_eq!(status, 200);
    serde_json::from_slice(&body).unwrap()
}

/// The only source's designation and its only submission's id in an index.
fn only_submission(index: &serde_json::Value) -> (String, String, Vec<(String, u64)>) {
    let source = &index["sources"][0];
    let sub = &source["submissions"][0];
    let files = sub["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["size"].as_u64().unwrap(),
            )
        })
        .collect();
    (
        source["designation"].as_str().unwrap().to_owned(),
        sub["id"].as_str().unwrap().to_owned(),
        files,
    )
}

/// A box with two workstation credentials, alice and bob: (server, work dir, alice's
/// credential file, bob's credential file, bob's Authorization header).
fn box_with_two_reviewers() -> (Server, tempfile::TempDir, PathBuf, PathBuf, String) {
    let server = Server::start("");
    let work = tempfile::tempdir().unwrap();
    let alice = work.path().join("alice.cred");
    let bob = work.path().join("bob.cred");
    server.add_reviewer("alice", &alice);
    let bob_auth = server.add_reviewer("bob", &bob);
    (server, work, alice, bob, bob_auth)
}

fn source_with_file(server: &Server, bytes: Vec<u8>) {
    let b = server.browser();
    let page = b.new_code();
    let doc = Upload {
        name: "doc.bin",
        mime: "application/octet-stream",
        bytes,
    };
    assert_eq!(b.submit(&page, &[doc], "a message").status, 200);
}

/// `review open` of `bundle` by the server's reviewer; returns what it printed.
fn review_open(server: &Server, bundle: &Path, out: &Path) -> String {
    lanterne_offline(
        server,
        &[
            "review",
            "open",
            p(bundle),
            "--identity",
            p(&server.identity),
            "--out",
            p(out),
        ],
    )
}

/// The bundle's files check against its SHA256SUMS with sha256sum(1), and deletions.txt is
/// listed there.
fn assert_bundle_checks(bundle: &Path) {
    let sums = std::fs::read_to_string(bundle.join("SHA256SUMS")).unwrap();
    assert!(sums.contains("  deletions.txt\n"), "{sums}");
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(bundle)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
}

/// The attack of the issue: bob's credential never fetched a submission and acks it, by hand
/// and through `lanterne fetch --ack` with a crafted pending ack. Refused both ways, nothing
/// deleted, and alice's next fetch, her bundle and her `review open` show the refusal by name.
#[test]
fn an_ack_by_a_credential_that_never_fetched_is_refused_and_recorded() {
    let (server, work, alice, bob, bob_auth) = box_with_two_reviewers();
    source_with_file(&server, b"for alice's eyes".to_vec());
    let bundle = work.path().join("alice-bundle");
    assert!(fetch(&server, &alice, &bundle, false).contains("fetched 1 new submission"));
    let (designation, id, _) = only_submission(&index(&server, &bob_auth));

    let (status, body) = ack(&server, &bob_auth, &designation, &id);
    assert_eq!(status, 403, "bob's ack was not refused: {body}");
    assert!(body.contains("refused"), "{body}");
    assert_eq!(server.submissions().len(), 1, "the submission was deleted");

    // The same through the workstation: a bundle whose pending ack names it.
    let bob_bundle = work.path().join("bob-bundle");
    std::fs::create_dir(&bob_bundle).unwrap();
    std::fs::write(
        bob_bundle.join("lanterne-bundle.json"),
        format!(
            r#"{{"format":1,"next":1000000,"awaiting_ack":[{{"designation":"{designation}","id":"{id}"}}]}}"#
        ),
    )
    .unwrap();
    let out = try_fetch(&server.reviewer_base, &bob, &bob_bundle, true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        stderr.contains("REFUSED the ack") && stderr.contains(&id),
        "{stderr}"
    );
    assert_eq!(server.submissions().len(), 1, "the submission was deleted");
    let state = std::fs::read_to_string(bob_bundle.join("lanterne-bundle.json")).unwrap();
    assert!(!state.contains("awaiting_ack"), "{state}");

    // Alice's next fetch tells her, once; her bundle and the offline machine keep it.
    let seen = fetch(&server, &alice, &bundle, false);
    let line = format!("REFUSED ack by bob: {designation} / {id}");
    assert!(seen.contains(&line), "{seen}");
    assert_eq!(seen.matches("REFUSED ack by bob").count(), 1, "{seen}");
    let again = fetch(&server, &alice, &bundle, false);
    assert!(!again.contains("REFUSED"), "{again}");
    let records = std::fs::read_to_string(bundle.join("deletions.txt")).unwrap();
    assert_eq!(records.lines().count(), 1, "{records}");
    assert!(
        records.contains(&format!(" refused bob {designation} {id}")),
        "{records}"
    );
    assert_bundle_checks(&bundle);
    let opened = review_open(&server, &bundle, &work.path().join("opened"));
    assert!(opened.contains(&line), "{opened}");
}

/// A credential that asked only for the end of each file (Range) was not served them in full:
/// its ack is refused. The first byte afterwards does not join up with what was served before
/// it; only a download from the start counts.
#[test]
fn a_credential_served_only_the_last_bytes_cannot_ack() {
    let (server, _work, _alice, _bob, bob_auth) = box_with_two_reviewers();
    source_with_file(&server, vec![7u8; 50_000]);
    let (designation, id, files) = only_submission(&index(&server, &bob_auth));
    assert_eq!(files.len(), 2, "{files:?}");
    let get = |file: &str, range: Option<&str>| {
        let path = format!("/api/v1/sources/{designation}/submissions/{id}/{file}");
        api(&server, &bob_auth, reqwest::Method::GET, &path, range, None)
    };
    for (file, size) in &files {
        let (status, body) = get(file, Some(&format!("bytes={}-", size - 1)));
        assert_eq!((status, body.len()), (206, 1), "{file}");
    }
    let (status, body) = ack(&server, &bob_auth, &designation, &id);
    assert_eq!(status, 403, "an ack after the last byte only: {body}");
    for (file, _) in &files {
        assert_eq!(get(file, Some("bytes=1-")).0, 206);
        assert_eq!(get(file, Some("bytes=0-0")).0, 206);
    }
    let (status, body) = ack(&server, &bob_auth, &designation, &id);
    assert_eq!(
        status, 403,
        "everything but in two pieces out of order: {body}"
    );
    assert_eq!(server.submissions().len(), 1);
    // Whole downloads count.
    for (file, size) in &files {
        let (status, body) = get(file, None);
        assert_eq!((status, body.len() as u64), (200, *size));
    }
    assert_eq!(ack(&server, &bob_auth, &designation, &id).0, 200);
    assert!(server.submissions().is_empty());
}

/// The honest loop: alice's `fetch --ack` deletes, and bob's next fetch says alice did it, in
/// his output, his bundle and his `review open`.
#[test]
fn an_honest_ack_deletes_and_another_reviewer_sees_who() {
    let (server, work, alice, bob, _) = box_with_two_reviewers();
    source_with_file(&server, b"both read this".to_vec());
    let bob_bundle = work.path().join("bob-bundle");
    assert!(fetch(&server, &bob, &bob_bundle, false).contains("fetched 1 new submission"));
    let acked = fetch(&server, &alice, &work.path().join("alice-bundle"), true);
    assert!(acked.contains("1 deleted on the server"), "{acked}");
    assert!(server.submissions().is_empty());

    let seen = fetch(&server, &bob, &bob_bundle, false);
    let designation = name(&list(&bob_bundle.join("sources"))[0]);
    let line = format!("deleted on the server by alice: {designation} / ");
    assert!(seen.contains(&line), "{seen}");
    assert_bundle_checks(&bob_bundle);
    let opened = review_open(&server, &bob_bundle, &work.path().join("opened"));
    assert!(opened.contains(&line), "{opened}");
}

/// Moves every line of a retention ledger to a day long past.
fn age_ledger(dir: &Path) {
    let mut all = String::new();
    for f in list(dir) {
        all.push_str(&std::fs::read_to_string(&f).unwrap());
        std::fs::remove_file(&f).unwrap();
    }
    std::fs::write(dir.join("2000-01-01"), all).unwrap();
}

fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What retention deletes is recorded as retention's doing.
#[test]
fn a_retention_deletion_is_recorded_as_retention() {
    let (mut server, work, alice, _, _) = box_with_two_reviewers();
    source_with_file(&server, b"old news".to_vec());
    let bundle = work.path().join("bundle");
    fetch(&server, &alice, &bundle, false);
    age_ledger(&server.data().join("retention"));
    server.stop();
    server.launch();
    wait_for("retention to delete it", || server.submissions().is_empty());
    let seen = fetch(&server, &alice, &bundle, false);
    assert!(
        seen.contains("deleted on the server by retention"),
        "{seen}"
    );
    assert!(!seen.contains("by alice"), "{seen}");
}

/// A TCP relay to `upstream` that passes `cut_after` bytes of the server's answers, then
/// closes both connections: a download cut off mid-file.
fn cutting_relay(upstream: String, cut_after: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut passed = 0;
        for client in listener.incoming() {
            let Ok(mut client) = client else { break };
            let Ok(mut server) = TcpStream::connect(&upstream) else {
                break;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut s2);
            });
            let mut buf = [0u8; 16384];
            loop {
                let n = match server.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n.min(cut_after.saturating_sub(passed)),
                };
                if n == 0 || client.write_all(&buf[..n]).is_err() {
                    break;
                }
                passed += n;
            }
            let _ = client.shutdown(std::net::Shutdown::Both);
            let _ = server.shutdown(std::net::Shutdown::Both);
        }
    });
    format!("http://{addr}")
}

/// A `fetch --ack` cut off mid-file, the server killed and started again, then `fetch --ack`
/// again: it resumes with a Range request from where it stopped, the server's durable count
/// joins up with it, and the ack is accepted.
#[test]
fn a_fetch_cut_mid_file_and_resumed_after_a_restart_still_acks() {
    let (mut server, work, alice, _, _) = box_with_two_reviewers();
    const SIZE: usize = 16 << 20;
    let (big, _) = file_with_canary("big", SIZE);
    source_with_file(&server, big);
    let bundle = work.path().join("bundle");
    let relay = cutting_relay(
        server
            .reviewer_base
            .trim_start_matches("http://")
            .to_owned(),
        1 << 20,
    );
    let cut = try_fetch(&relay, &alice, &bundle, true);
    assert!(!cut.status.success(), "the relay did not cut: {cut:?}");
    let parts: Vec<PathBuf> = walk(&bundle)
        .into_iter()
        .filter(|f| f.to_string_lossy().ends_with(".part"))
        .collect();
    assert_eq!(parts.len(), 1, "{parts:?}");
    let have = std::fs::metadata(&parts[0]).unwrap().len();
    assert!(have > 0);

    // The server counted what it handed out, durably, before it is killed.
    let count = server.submissions()[0].join("fetched");
    let counted = || -> u64 {
        std::fs::read_to_string(&count)
            .ok()
            .and_then(|t| {
                t.lines()
                    .filter(|l| l.starts_with("alice.") && !l.contains("manifest"))
                    .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
                    .next()
            })
            .unwrap_or(0)
    };
    wait_for("the count of the cut download", || counted() >= have);
    assert!(
        counted() < SIZE as u64,
        "the whole file counted: {}",
        counted()
    );
    server.stop();
    server.launch();

    let out = fetch(&server, &alice, &bundle, true);
    assert!(
        out.contains("fetched 1 new submission") && out.contains("1 deleted on the server"),
        "{out}"
    );
    assert!(server.submissions().is_empty());
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(&bundle)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
}

/// `reviewers remove bob` then `reviewers add bob`: the new bob is a new credential, with none
/// of the old one's served counts, so it cannot ack what only the old bob fetched.
#[test]
fn a_name_added_again_inherits_no_served_counts() {
    let (server, work, _alice, bob, _bob_auth) = box_with_two_reviewers();
    source_with_file(&server, vec![7u8; 4096]);
    let out = try_fetch(&server.reviewer_base, &bob, &work.path().join("b"), false);
    assert!(out.status.success(), "{out:?}");
    lanterne(&[
        "reviewers",
        "remove",
        "bob",
        "--data-dir",
        p(&server.data()),
    ]);
    let again = work.path().join("bob-again.cred");
    let auth = server.add_reviewer("bob", &again);
    let listed = index(&server, &auth);
    let served: Vec<u64> = listed["sources"][0]["submissions"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["served"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        served.iter().all(|&n| n == 0),
        "the new bob inherited served counts: {served:?}"
    );
    let (designation, id, _) = only_submission(&listed);
    let (status, body) = ack(&server, &auth, &designation, &id);
    assert_eq!(
        status, 403,
        "the new bob acked what it never fetched: {body}"
    );
    assert_eq!(server.submissions().len(), 1);
}
