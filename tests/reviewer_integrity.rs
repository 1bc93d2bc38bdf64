//! Reviewers never miss a submission, `fetch --ack` deletes only what arrived whole, and what is
//! deleted leaves nothing on disk that links back to a source (issue 10: H2, L4, L1). Every test
//! drives the real binary over loopback.

use crate::common::*;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_str().unwrap().to_owned()
}

/// The sequence number in `s0000000042-…` or `r0000000042-….age`.
fn seq(id: &str) -> u64 {
    id[1..].split('-').next().unwrap().parse().unwrap()
}

/// The first line of what `fetch` printed: its summary.
fn summary(out: &str) -> &str {
    out.lines().next().unwrap_or_default()
}

/// Submission ids in a bundle.
fn in_bundle(bundle: &Path) -> BTreeSet<String> {
    list(&bundle.join("sources"))
        .iter()
        .flat_map(|s| list(&s.join("submissions")))
        .map(|s| name(&s))
        .collect()
}

fn on_server(server: &Server) -> BTreeSet<String> {
    server.submissions().iter().map(|s| name(s)).collect()
}

/// Reply ids (file names) of a source folder (not their signatures, `.age.minisig`).
fn replies_of(source: &Path) -> Vec<String> {
    list(&source.join("replies"))
        .iter()
        .map(|r| name(r))
        .filter(|n| n.ends_with(".age"))
        .collect()
}

fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn restart(server: &mut Server) {
    server.stop();
    server.launch();
}

/// Moves every line of a retention ledger folder to a day long past, so the next sweep (one
/// runs at every start) expires what they name.
fn age_ledger(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut all = String::new();
    for f in list(dir) {
        all.push_str(&std::fs::read_to_string(&f).unwrap());
        std::fs::remove_file(&f).unwrap();
    }
    std::fs::write(dir.join("2000-01-01"), all).unwrap();
}

/// Encrypts `text` as a reply to the source `designation` of `bundle` and pushes it.
fn push_reply(server: &Server, cred: &Path, bundle: &Path, designation: &str, text: &str) {
    let work = tempfile::tempdir().unwrap();
    let recipient =
        std::fs::read_to_string(bundle.join("sources").join(designation).join("recipient"))
            .unwrap();
    let dir = work.path().join(designation);
    std::fs::create_dir(&dir).unwrap();
    age_cli_encrypt(
        &[recipient.trim(), &server.recipient],
        text.as_bytes(),
        &dir.join("reply.age"),
    );
    // Signed with the reviewer's key, as `review reply --identity` would.
    let mut key = server.identity.clone().into_os_string();
    key.push(".minisign");
    minisign_cli_sign(
        Path::new(&key),
        &dir.join("reply.age"),
        designation,
        &recipient,
    );
    let pushed = lanterne(&[
        "push",
        "--server",
        &server.reviewer_base,
        "--credential",
        p(cred),
        p(work.path()),
    ]);
    assert!(pushed.contains("pushed 1"), "{pushed}");
}

/// The only designation in a bundle.
fn only_designation(bundle: &Path) -> String {
    let sources = list(&bundle.join("sources"));
    assert_eq!(sources.len(), 1, "{sources:?}");
    name(&sources[0])
}

/// A fresh box and a workstation credential for it (in `work`).
fn box_with_reviewer() -> (Server, tempfile::TempDir, PathBuf) {
    let server = Server::start("");
    let work = tempfile::tempdir().unwrap();
    let cred = work.path().join("ws.cred");
    server.add_reviewer("ws", &cred);
    (server, work, cred)
}

/// A new source (its browser and code) that sent one message with one small file.
fn source_with_file(server: &Server, message: &str) -> (Browser, String) {
    let b = server.browser();
    let page = b.new_code();
    let doc = Upload {
        name: "doc.txt",
        mime: "text/plain",
        bytes: format!("a document with {message}").into_bytes(),
    };
    assert_eq!(b.submit(&page, &[doc], message).status, 200);
    (b, page.code())
}

/// H2 as reproduced: 3 submissions, `fetch --ack`, restart, a 4th: it must be fetched.
#[test]
fn a_restart_after_an_ack_does_not_hide_the_next_submission() {
    let (mut server, work, cred) = box_with_reviewer();
    for i in 0..3 {
        server.source_with_message(&format!("early {i}"));
    }
    let bundle = work.path().join("bundle");
    let out = fetch(&server, &cred, &bundle, true);
    assert!(
        out.contains("fetched 3 new submission") && out.contains("3 deleted on the server"),
        "{out}"
    );
    assert!(server.submissions().is_empty());

    restart(&mut server);
    server.source_with_message("after the restart");
    let fourth = on_server(&server);
    let out = fetch(&server, &cred, &bundle, false);
    assert!(out.contains("fetched 1 new submission"), "{out}");
    assert!(fourth.is_subset(&in_bundle(&bundle)));
    assert_eq!(in_bundle(&bundle).len(), 4);
}

/// H2 through retention: what retention deleted does not give its numbers back.
#[test]
fn numbers_freed_by_retention_are_not_given_again() {
    let (mut server, work, cred) = box_with_reviewer();
    server.source_with_message("one");
    server.source_with_message("two");
    let bundle = work.path().join("bundle");
    assert!(fetch(&server, &cred, &bundle, false).contains("fetched 2 new submission"));

    age_ledger(&server.data().join("retention"));
    restart(&mut server);
    wait_for("retention to delete both", || {
        server.submissions().is_empty()
    });
    restart(&mut server);
    server.source_with_message("after retention");
    let out = fetch(&server, &cred, &bundle, false);
    assert!(out.contains("fetched 1 new submission"), "{out}");
    assert_eq!(in_bundle(&bundle).len(), 3);
}

/// H2 through replies: a source deleting its newest reply does not give its number again.
#[test]
fn a_deleted_newest_reply_does_not_give_its_number_again() {
    let (mut server, work, cred) = box_with_reviewer();
    let (b, code) = source_with_file(&server, "hello");
    let bundle = work.path().join("bundle");
    fetch(&server, &cred, &bundle, false);
    let designation = only_designation(&bundle);
    let source = server.sources()[0].clone();

    push_reply(&server, &cred, &bundle, &designation, "first answer");
    let first = replies_of(&source);
    assert_eq!(first.len(), 1);
    let inbox = b.login(&code);
    let id = between(&inbox.body, "name=\"reply\" value=\"", "\"").unwrap();
    let gone = b.post_form("/reply/delete", &[("csrf", &inbox.csrf()), ("reply", &id)]);
    assert_eq!(gone.status, 200);
    assert!(replies_of(&source).is_empty());

    restart(&mut server);
    push_reply(&server, &cred, &bundle, &designation, "second answer");
    let second = replies_of(&source);
    assert_eq!(second.len(), 1);
    assert!(
        seq(&second[0]) > seq(&first[0]),
        "reply number given twice: {first:?} then {second:?}"
    );
}

/// H2, second trigger: many submissions commit while a fetch loop runs; together the fetches
/// must bring exactly what is on disk.
#[test]
fn concurrent_submissions_during_a_fetch_loop_are_all_fetched() {
    const WRITERS: usize = 4;
    const EACH: usize = 30;
    let (server, work, cred) = box_with_reviewer();
    let bundle = work.path().join("bundle");
    let done = Arc::new(AtomicBool::new(false));
    let fetcher = {
        let (base, cred, bundle, done) = (
            server.reviewer_base.clone(),
            cred.clone(),
            bundle.clone(),
            done.clone(),
        );
        std::thread::spawn(move || {
            let mut runs = 0;
            while !done.load(Ordering::SeqCst) {
                fetch_at(&base, &cred, &bundle, false);
                runs += 1;
            }
            runs
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let base = server.base.clone();
            std::thread::spawn(move || {
                let b = Browser::new(&base, None);
                let page = b.new_code();
                for i in 0..EACH {
                    let doc = Upload {
                        name: "a.txt",
                        mime: "text/plain",
                        bytes: vec![b'x'; 100 + i],
                    };
                    assert_eq!(b.submit(&page, &[doc], &format!("{w}/{i}")).status, 200);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let runs = fetcher.join().unwrap();
    assert!(runs >= 2, "the fetch loop ran only {runs} time(s)");
    fetch(&server, &cred, &bundle, false);
    let stored = on_server(&server);
    assert_eq!(stored.len(), WRITERS * EACH);
    let fetched = in_bundle(&bundle);
    let missed: Vec<_> = stored.difference(&fetched).collect();
    assert!(
        missed.is_empty(),
        "{} of {} never fetched over {runs} fetches: {missed:?}",
        missed.len(),
        stored.len()
    );
}

/// L4: a submission listed without its manifest, or with no files at all, is never acked; a
/// SHA256SUMS cache a crash left empty is rebuilt, not trusted.
#[test]
fn fetch_ack_deletes_only_submissions_it_got_whole() {
    let (server, work, cred) = box_with_reviewer();
    for i in 0..4 {
        source_with_file(&server, &format!("with a file {i}"));
    }
    let subs = server.submissions();
    let [intact, no_manifest, empty_sums, no_files] = &subs[..] else {
        panic!("{subs:?}")
    };
    std::fs::remove_file(no_manifest.join("manifest.age")).unwrap();
    std::fs::write(empty_sums.join("SHA256SUMS"), "").unwrap();
    for f in list(no_files) {
        std::fs::remove_file(f).unwrap();
    }
    let bundle = work.path().join("bundle");
    let out = fetch(&server, &cred, &bundle, true);
    assert!(out.contains("2 deleted on the server"), "{out}");
    assert!(
        out.contains("2 submission(s) listed without their manifest"),
        "{out}"
    );
    let left = on_server(&server);
    assert_eq!(
        left,
        [name(no_manifest), name(no_files)].into_iter().collect(),
        "{out}"
    );
    // What was acked is whole in the bundle, and decrypts.
    for sub in [intact, empty_sums] {
        let dir = list(&bundle.join("sources"))
            .into_iter()
            .map(|s| s.join("submissions").join(name(sub)))
            .find(|d| d.is_dir())
            .unwrap();
        let files = list(&dir);
        assert_eq!(files.len(), 2, "{files:?}");
        let manifest = server.age_decrypt(&dir.join("manifest.age"));
        assert!(String::from_utf8_lossy(&manifest).contains("with a file"));
    }
    // Asking again does not delete the broken ones either.
    let again = fetch(&server, &cred, &bundle, true);
    // The summary (first line) counts no deletion; the lines after it are the server's
    // deletion records of the first ack (issue 12).
    assert!(
        !summary(&again).contains("deleted on the server"),
        "{again}"
    );
    assert_eq!(on_server(&server).len(), 2);
}

/// A tiny TCP relay to the reviewer API that holds any `POST /api/v1/ack` forever: the fetch
/// waiting on it is then killed, as a crash between the fetch and the ack would.
fn ack_swallowing_relay(upstream: String, seen: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { break };
            let Ok(mut server) = TcpStream::connect(&upstream) else {
                break;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s2, &mut c2);
            });
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                loop {
                    let n = match client.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if memchr::memmem::find(&buf[..n], b"POST /api/v1/ack").is_some() {
                        seen.store(true, Ordering::SeqCst);
                        // Hold both ends open: the request is never answered.
                        std::thread::sleep(Duration::from_secs(600));
                        return;
                    }
                    if server.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// L4 and H2: `fetch --ack` killed after the fetch, before the server answered the ack. Nothing
/// is lost, and the next `fetch --ack` sends the ack that was cut off.
#[test]
fn a_fetch_killed_before_its_ack_is_acked_by_the_next_one() {
    let (server, work, cred) = box_with_reviewer();
    server.source_with_message("one");
    server.source_with_message("two");
    let stored = on_server(&server);
    let bundle = work.path().join("bundle");
    let seen = Arc::new(AtomicBool::new(false));
    let upstream = server
        .reviewer_base
        .trim_start_matches("http://")
        .to_owned();
    let relay = ack_swallowing_relay(upstream, seen.clone());
    let mut child = std::process::Command::new(BIN)
        .args(fetch_args(&relay, &cred, &bundle, true))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the ack request", || seen.load(Ordering::SeqCst));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(on_server(&server), stored, "the ack never arrived");
    assert_eq!(in_bundle(&bundle), stored);

    let out = fetch(&server, &cred, &bundle, true);
    assert!(
        out.contains("fetched 0 new submission") && out.contains("2 deleted on the server"),
        "{out}"
    );
    assert!(server.submissions().is_empty());
    assert_eq!(in_bundle(&bundle), stored);
    let again = fetch(&server, &cred, &bundle, true);
    // The summary (first line) counts no deletion; the lines after it are the server's
    // deletion records of the first ack (issue 12).
    assert!(
        !summary(&again).contains("deleted on the server"),
        "{again}"
    );

    // An ack for a source whose folder has since expired deletes nothing and succeeds, so a
    // pending ack cannot fail for ever.
    let auth = server.add_reviewer("ws2", &work.path().join("ws2.cred"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, body) = rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{}/api/v1/ack", server.reviewer_base))
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(
                r#"{"submissions":[{"designation":"no-such-source-1234","id":"s0000000001-00"}]}"#,
            )
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    assert_eq!((status, body.as_str()), (200, r#"{"deleted":0}"#));
}

/// Every path under `root` except `skip`, with itself.
fn every_entry(root: &Path, skip: &[&str]) -> Vec<PathBuf> {
    let mut out = vec![root.to_owned()];
    for entry in list(root) {
        if skip.iter().any(|s| entry.ends_with(s)) {
            continue;
        }
        if entry.is_dir() {
            out.extend(every_entry(&entry, skip));
        } else {
            out.push(entry);
        }
    }
    out
}

/// L1: after an ack, nothing outside `sources/` names the source (neither a file name nor a
/// file's bytes); every time on disk is the epoch; the SHA256SUMS cache is 0600.
#[test]
fn after_an_ack_the_lookup_id_is_only_under_sources() {
    use std::os::unix::fs::PermissionsExt;
    let (server, work, cred) = box_with_reviewer();
    let (b, code) = source_with_file(&server, "first");
    let bundle = work.path().join("bundle");
    fetch(&server, &cred, &bundle, false);
    let sums = server.submissions()[0].join("SHA256SUMS");
    let mode = std::fs::metadata(&sums).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "SHA256SUMS mode {mode:o}");

    // A reply the source deletes, one it keeps, a second submission, then the ack.
    let designation = only_designation(&bundle);
    push_reply(&server, &cred, &bundle, &designation, "read and deleted");
    let inbox = b.login(&code);
    let id = between(&inbox.body, "name=\"reply\" value=\"", "\"").unwrap();
    let gone = b.post_form("/reply/delete", &[("csrf", &inbox.csrf()), ("reply", &id)]);
    assert_eq!(gone.status, 200);
    push_reply(&server, &cred, &bundle, &designation, "kept");
    let b = server.browser();
    let page = b.login(&code);
    assert_eq!(b.submit(&page, &[], "second").status, 200);
    // A second workstation's first `fetch --ack` takes both submissions.
    let out = fetch(&server, &cred, &work.path().join("second"), true);
    assert!(out.contains("2 deleted on the server"), "{out}");
    assert!(server.submissions().is_empty());

    let data = server.data();
    let lookup = name(&server.sources()[0]);
    let raw: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&lookup[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let mut problems = Vec::new();
    for path in every_entry(&data, &["sources", "tor"]) {
        let rel = path
            .strip_prefix(&data)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        if rel.contains(&lookup) {
            problems.push(format!("{rel} names the source"));
        }
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            for needle in [lookup.as_bytes(), &raw[..]] {
                if memchr::memmem::find(&bytes, needle).is_some() {
                    problems.push(format!("{rel} holds the lookup id"));
                }
            }
        }
    }
    // Every time on disk says nothing (the reviewers' credential hashes and onion client keys
    // are the administrator's files, written by `lanterne reviewers add`, not by the server).
    for path in every_entry(&data, &["tor", "reviewers", "reviewer-onion-clients"]) {
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        if modified != UNIX_EPOCH {
            problems.push(format!("{path:?} shows when it changed"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// L1: a source folder with nothing left expires after `retention_days` without activity, and
/// a reply expires like a submission.
#[test]
fn old_replies_and_empty_source_folders_expire() {
    let (mut server, work, cred) = box_with_reviewer();
    // `quiet` sent once and was acked; `answered` got a reply; `recent` got one today.
    let mut folders = Vec::new();
    for (what, reply) in [("quiet", false), ("answered", true), ("recent", true)] {
        let before: BTreeSet<PathBuf> = server.sources().into_iter().collect();
        server.source_with_message(what);
        let folder = server
            .sources()
            .into_iter()
            .find(|s| !before.contains(s))
            .unwrap();
        let bundle = work.path().join(what);
        fetch(&server, &cred, &bundle, true);
        if reply {
            // A fresh bundle also holds the earlier sources' replies: the new source is the
            // one with a submission.
            let designation = list(&bundle.join("sources"))
                .into_iter()
                .find(|s| !list(&s.join("submissions")).is_empty())
                .map(|s| name(&s))
                .unwrap();
            push_reply(&server, &cred, &bundle, &designation, what);
        }
        folders.push(folder);
    }
    let [quiet, answered, recent] = &folders[..] else {
        unreachable!()
    };
    assert!(server.submissions().is_empty());
    // Make the first two look 100 days old: their activity day and their replies' ledger.
    for folder in [quiet, answered] {
        std::fs::write(folder.join("active"), "2000-01-01\n").unwrap();
    }
    age_ledger(&answered.join("retention"));
    restart(&mut server);
    wait_for("the old folders to expire", || {
        !quiet.exists() && !answered.exists()
    });
    assert_eq!(replies_of(recent).len(), 1);
    assert_eq!(server.sources(), vec![recent.clone()]);
}
