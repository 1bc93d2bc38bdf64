//! Crash safety: SIGKILL the server at random moments while sources upload, restart it, and
//! check that nothing acknowledged was lost, nothing plaintext was left, and staging was cleared.

use crate::common::*;
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const UPLOADS: usize = 120;
const SIZES: [usize; 4] = [2_000, 300_000, 2_000_000, 6_000_000];

/// One upload's bytes, sent slowly so that kills land in the middle of bodies.
fn slow_submit(base: &str, name: &str, bytes: Vec<u8>) -> Result<bool, String> {
    use reqwest::multipart::{Form, Part};
    let b = Browser::new(base, None);
    let home = b.try_get("/")?;
    let page = b.try_post_form("/code", &[("csrf", &home.csrf())])?;
    if page.status != 200 {
        return Err(format!("code page {}", page.status));
    }
    let csrf = page.csrf();
    let chunks: Vec<Vec<u8>> = bytes.chunks(256 * 1024).map(<[u8]>::to_vec).collect();
    let len = bytes.len() as u64;
    let stream = futures_util::stream::iter(chunks).then(|c| async move {
        tokio::time::sleep(Duration::from_millis(15)).await;
        Ok::<_, std::io::Error>(c)
    });
    let part = Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
        .file_name(name.to_owned())
        .mime_str("application/octet-stream")
        .unwrap();
    let form = Form::new()
        .text("csrf", csrf)
        .part("files", part)
        .text("message", name.to_owned());
    let done = b.try_multipart("/submit", form)?;
    Ok(done.status == 200 && done.body.contains("arrived"))
}

use futures_util::StreamExt;

#[test]
fn sigkill_during_uploads_loses_nothing_acknowledged_and_leaks_nothing() {
    let server = Arc::new(Mutex::new(Server::start("")));
    let started = Instant::now();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let kills = Arc::new(std::sync::atomic::AtomicUsize::new(0));

    // The killer: SIGKILL at a random moment, restart, again.
    let killer = {
        let (server, done, kills) = (server.clone(), done.clone(), kills.clone());
        std::thread::spawn(move || {
            let mut rng = rand::thread_rng();
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(rng.gen_range(300..1500)));
                let mut s = server.lock().unwrap();
                s.stop();
                kills.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                s.launch();
            }
        })
    };

    // Three sources upload in turn; each upload is acknowledged, or interrupted.
    let expected: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
    let interrupted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let canaries: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let (server, expected, interrupted, canaries) = (
                server.clone(),
                expected.clone(),
                interrupted.clone(),
                canaries.clone(),
            );
            std::thread::spawn(move || {
                for i in (w..UPLOADS).step_by(3) {
                    let size = SIZES[i % SIZES.len()];
                    let (bytes, canary) = file_with_canary(&format!("crash{i}"), size);
                    canaries.lock().unwrap().push(canary);
                    let name = format!("upload-{i:03}.bin");
                    let base = server.lock().unwrap().base.clone();
                    match slow_submit(&base, &name, bytes.clone()) {
                        Ok(true) => {
                            expected.lock().unwrap().insert(name, bytes);
                        }
                        _ => {
                            interrupted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    killer.join().unwrap();

    // A last kill and restart: start-up must clear whatever the last kill left.
    let mut server = Arc::try_unwrap(server).ok().unwrap().into_inner().unwrap();
    server.stop();
    server.launch();
    assert_eq!(
        server.staging_entries(),
        0,
        "staging debris survived a restart"
    );

    // Every acknowledged upload decrypts intact.
    let expected = expected.lock().unwrap();
    let mut found = HashMap::new();
    for sub in server.submissions() {
        let manifest: serde_json::Value =
            serde_json::from_slice(&server.age_decrypt(&sub.join("manifest.age"))).unwrap();
        for f in manifest["files"].as_array().unwrap() {
            let name = f["name"].as_str().unwrap().to_owned();
            let stored = sub.join(f["stored_as"].as_str().unwrap());
            let size = f["size"].as_u64().unwrap();
            found.insert(name, server.age_decrypt_file(&stored, size));
        }
    }
    let mut recovered = 0;
    for (name, bytes) in expected.iter() {
        assert_eq!(
            found.get(name),
            Some(bytes),
            "{name} was acknowledged but is lost or damaged"
        );
        recovered += 1;
    }
    // Committed but killed before the answer reached the client: kept whole, never half.
    let unacknowledged_but_kept = found.len() - recovered;

    // No plaintext anywhere on disk: every upload carries a canary starting with this prefix,
    // so one search per file covers them all.
    assert!(canaries
        .lock()
        .unwrap()
        .iter()
        .all(|c| c.starts_with(b"CANARY-crash")));
    for dir in [server.data(), server.tmp()] {
        assert_eq!(
            any_file_contains(&dir, b"CANARY-crash"),
            None,
            "plaintext on disk"
        );
    }
    let interrupted = interrupted.load(std::sync::atomic::Ordering::SeqCst);
    eprintln!(
        "crash test: uploads={UPLOADS} acknowledged={} interrupted={interrupted} recovered={recovered} \
         kept-without-ack={unacknowledged_but_kept} kills={} in {:?}",
        expected.len(),
        kills.load(std::sync::atomic::Ordering::SeqCst),
        started.elapsed()
    );
    assert_eq!(expected.len() + interrupted, UPLOADS);
    assert!(
        expected.len() >= 10,
        "too few uploads got through to mean anything"
    );
    assert!(
        interrupted >= 10,
        "too few uploads were interrupted to mean anything"
    );
    assert_eq!(recovered, expected.len());
}
