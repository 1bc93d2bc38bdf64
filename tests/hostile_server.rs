//! A hostile reviewer API against the real `lanterne fetch` and `lanterne push`: a small HTTP
//! server on loopback (a std `TcpListener` thread) that answers with terminal escape
//! sequences, bidi overrides, huge error bodies, refusals naming invented submissions, and
//! files longer than the index announced. The workstation must print none of its bytes raw,
//! keep what it prints bounded, and stop a download at the announced size.

use crate::common::*;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What a hostile server's text holds: a window title (OSC 0), a cleared screen and a fake
/// report, a clipboard write (OSC 52), a right-to-left override, a C1 CSI.
const EVIL: &str = "\x1b]0;PWNED\x07\x1b[2J\x1b[Hfetched 0 new submission(s), all good\
                    \x1b]52;c;cm0gLXJmIH4=\x07 \u{202e}txt.exe \u{9b}31m";

/// One request as the hostile server saw it: method and path.
struct Request {
    method: String,
    path: String,
}

/// Reads one request's head and body (by its Content-Length), so that answering and closing
/// never resets a connection whose request was not read.
fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split(' ');
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    std::io::copy(
        &mut reader.by_ref().take(length as u64),
        &mut std::io::sink(),
    )
    .ok()?;
    Some(Request { method, path })
}

/// Serves every connection on a loopback port with `answer`, which writes the whole response
/// (and may fail half-way when the client hangs up). Returns the base URL.
fn hostile(answer: impl Fn(&Request, &mut TcpStream) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            if let Some(req) = read_request(&stream) {
                answer(&req, &mut stream);
            }
        }
    });
    base
}

fn respond(stream: &mut TcpStream, status: &str, headers: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

/// A credential file the hostile server never checks.
fn credential(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("ws.cred");
    std::fs::write(&path, r#"{"name":"ws","token":"00"}"#).unwrap();
    path
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Everything the command printed, both streams.
fn printed(out: &Output) -> Vec<u8> {
    [out.stdout.as_slice(), out.stderr.as_slice()].concat()
}

/// No ESC, no C1 control, no bidi override: nothing of the server's reached the terminal raw.
fn assert_harmless(out: &Output, what: &str) {
    let bytes = printed(out);
    let text = String::from_utf8_lossy(&bytes);
    assert!(!bytes.contains(&0x1b), "{what} printed a raw ESC: {text:?}");
    assert!(!bytes.contains(&0x07), "{what} printed a raw BEL: {text:?}");
    for c in ['\u{202e}', '\u{9b}'] {
        assert!(!text.contains(c), "{what} printed a raw {c:?}: {text:?}");
    }
}

/// A 500 whose body is escape sequences and 8 MiB more: `fetch` and `push` say the server
/// answered 500, with the body escaped and cut to a few KiB.
#[test]
fn error_bodies_are_escaped_and_capped() {
    let mut body = EVIL.as_bytes().to_vec();
    body.resize(8 << 20, b'A');
    let base = hostile(move |_, stream| {
        respond(stream, "500 Internal Server Error", "", &body);
    });
    let dir = tempfile::tempdir().unwrap();
    let cred = credential(dir.path());
    let out = run(&fetch_args(&base, &cred, &dir.path().join("b"), false));
    assert!(!out.status.success());
    assert_harmless(&out, "fetch");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(text.contains("500"), "{text}");
    assert!(text.contains("\\u{1b}]0;PWNED"), "{text}");
    assert!(
        printed(&out).len() < 8 << 10,
        "fetch printed {} bytes",
        printed(&out).len()
    );

    let replies = dir.path().join("replies");
    let source = replies.join("brave-otter-41");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("r.age"), b"ciphertext").unwrap();
    std::fs::write(source.join("r.age.minisig"), b"signature").unwrap();
    let out = run(&[
        "push",
        "--server",
        &base,
        "--credential",
        p(&cred),
        p(&replies),
    ]);
    assert!(!out.status.success());
    assert_harmless(&out, "push");
    assert!(
        printed(&out).len() < 8 << 10,
        "push printed {} bytes",
        printed(&out).len()
    );
    assert!(
        source.join("r.age").is_file(),
        "a refused reply was moved to sent/"
    );
}

/// An index with one whole submission (a 16-byte `manifest.age`), served as `file`.
fn one_submission_index(designation: &str, size: u64, sha256: &str) -> String {
    format!(
        r#"{{"next":1,"reviewers":[],"sources":[{{"designation":"{designation}","recipient":"age1x","submissions":[{{"id":"s1","seq":1,"files":[{{"name":"manifest.age","size":{size},"sha256":"{sha256}"}}]}}]}}]}}"#
    )
}

/// The server announces 16 bytes and sends them, then 128 MiB more: the workstation stops
/// reading at the announced size, keeps no `.part` and says why.
#[test]
fn a_download_stops_at_the_announced_size() {
    let declared = b"sixteen bytes!!\n";
    let sha = hex::encode(Sha256::digest(declared));
    let index = one_submission_index("brave-otter-41", declared.len() as u64, &sha);
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let base = hostile(move |req, stream| {
        if req.path.starts_with("/api/v1/index") {
            respond(
                stream,
                "200 OK",
                "content-type: application/json\r\n",
                index.as_bytes(),
            );
            return;
        }
        // No content-length: the body runs until the server closes the connection.
        let head = "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n";
        if stream.write_all(head.as_bytes()).is_err() || stream.write_all(declared).is_err() {
            return;
        }
        let block = vec![b'x'; 64 << 10];
        for _ in 0..(128 << 20) / block.len() {
            if stream.write_all(&block).is_err() {
                return;
            }
            counter.fetch_add(block.len() as u64, Ordering::Relaxed);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let cred = credential(dir.path());
    let bundle = dir.path().join("b");
    let out = run(&fetch_args(&base, &cred, &bundle, false));
    assert!(!out.status.success(), "fetch accepted the long file");
    assert_harmless(&out, "fetch");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        text.contains("more than the 16 bytes"),
        "no clear error for the long file: {text}"
    );
    let parts: Vec<_> = walk(&bundle)
        .into_iter()
        .filter(|f| f.to_string_lossy().ends_with(".part"))
        .collect();
    assert!(parts.is_empty(), "a .part was kept: {parts:?}");
    // Give the server's thread a moment to see the hang-up.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let extra = sent.load(Ordering::Relaxed);
    assert!(
        extra < 32 << 20,
        "the workstation read {extra} bytes past the announced size"
    );
}

/// An ack refused with names the server made up (escapes in a designation, a path in an id):
/// the workstation refuses the refusal as malformed and prints none of it raw.
#[test]
fn a_refusal_naming_malformed_submissions_is_not_printed() {
    let manifest = b"a manifest, whole";
    let sha = hex::encode(Sha256::digest(manifest));
    let index = one_submission_index("brave-otter-41", manifest.len() as u64, &sha);
    let refused = serde_json::json!({
        "refused": [
            {"designation": EVIL, "id": "s1"},
            {"designation": "brave-otter-41", "id": format!("../{EVIL}")},
        ],
        "message": EVIL,
    })
    .to_string();
    let base = hostile(move |req, stream| {
        if req.method == "POST" {
            respond(
                stream,
                "403 Forbidden",
                "content-type: application/json\r\n",
                refused.as_bytes(),
            );
        } else if req.path.starts_with("/api/v1/index") {
            respond(
                stream,
                "200 OK",
                "content-type: application/json\r\n",
                index.as_bytes(),
            );
        } else {
            respond(stream, "200 OK", "", manifest);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let cred = credential(dir.path());
    let out = run(&fetch_args(&base, &cred, &dir.path().join("b"), true));
    assert!(!out.status.success());
    assert_harmless(&out, "fetch --ack");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(text.contains("malformed"), "{text}");
    assert!(!text.contains("PWNED"), "{text}");
}
