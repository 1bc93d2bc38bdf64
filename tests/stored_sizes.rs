//! What a seized disk tells of sizes: through the real server, files, messages and replies of
//! close but different sizes are stored at one size, the stock `age -d` still decrypts each
//! stored file (with `head -c SIZE`, SIZE from the manifest, for the exact bytes), and the
//! reviewer's `review open`, `review import` and `review export` give back the exact bytes.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::common::*;

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The size of a stored file's age payload (nonce and chunks), which follows from its
/// plaintext's length alone. The header before it varies from file to file by a random
/// length: age adds a "grease" stanza of random size to every header it writes, whatever the
/// content.
fn size_of(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    let mac = memchr::memmem::find(&bytes, b"\n--- ").unwrap() + 1;
    let end = mac + memchr::memchr(b'\n', &bytes[mac..]).unwrap() + 1;
    (bytes.len() - end) as u64
}

/// The stored ciphertexts of the submission whose folder is `dir`, manifest first.
fn stored_files(dir: &Path) -> (PathBuf, Vec<PathBuf>) {
    let manifest = dir.join("manifest.age");
    let files = list(dir)
        .into_iter()
        .filter(|f| *f != manifest && f.extension().is_some_and(|x| x == "age"))
        .collect();
    (manifest, files)
}

/// The one-line recipe SECURITY.md gives: `age -d -i KEY FILE | head -c SIZE`.
fn stock_recipe(key: &Path, file: &Path, size: u64) -> Vec<u8> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"age -d -i "$1" "$2" | head -c "$3""#)
        .args(["sh", p(key), p(file), &size.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    out.stdout
}

#[test]
fn close_sizes_are_stored_alike_and_come_back_exact() {
    let server = Server::start("");
    let key = server.identity.clone();
    let (a, _) = file_with_canary("pad-a", 3_200_000);
    let (b, _) = file_with_canary("pad-b", 3_250_000);
    let browser = server.browser();
    let page = browser.new_code();
    let upload = |name: &'static str, bytes: &[u8]| Upload {
        name,
        mime: "application/pdf",
        bytes: bytes.to_vec(),
    };
    let sent = browser.submit(&page, &[upload("a.pdf", &a), upload("b.pdf", &b)], "m");
    assert_eq!(sent.status, 200, "{}", sent.body);
    // A second source's message, much longer than the first's.
    let long_message = "une phrase assez longue. ".repeat(400);
    server.source_with_message(&long_message);

    let mut manifests = Vec::new();
    let mut files = Vec::new();
    for dir in server.submissions() {
        let (manifest, stored) = stored_files(&dir);
        manifests.push(manifest);
        files.extend(stored);
    }
    assert_eq!((manifests.len(), files.len()), (2, 2));
    // A disk shows one size for both files, and one for both manifests.
    assert_eq!(
        size_of(&files[0]),
        size_of(&files[1]),
        "stored ciphertexts differ in size"
    );
    assert_eq!(
        size_of(&manifests[0]),
        size_of(&manifests[1]),
        "manifests differ in size"
    );

    // The stock tool decrypts every stored file; the manifest (which it decrypts too) has
    // each file's exact size, and `head -c SIZE` gives the exact bytes.
    let originals = [(&a, "a.pdf"), (&b, "b.pdf")];
    for manifest in &manifests {
        let plain = server.age_decrypt(manifest);
        let m: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        for f in m["files"].as_array().unwrap() {
            let size = f["size"].as_u64().unwrap();
            let stored = manifest.with_file_name(f["stored_as"].as_str().unwrap());
            let whole = server.age_decrypt(&stored);
            assert!(whole.len() as u64 >= size);
            let (want, _) = originals
                .iter()
                .find(|(_, n)| *n == f["name"].as_str().unwrap())
                .unwrap();
            assert_eq!(size, want.len() as u64);
            assert_eq!(sha256(&stock_recipe(&key, &stored, size)), sha256(want));
        }
    }

    // The reviewer tools give back the exact bytes.
    let cred = server.dir.path().join("ws.json");
    server.add_reviewer("ws", &cred);
    let bundle = server.dir.path().join("bundle");
    fetch(&server, &cred, &bundle, false);
    let opened = server.dir.path().join("opened");
    let report = lanterne_offline(
        &server,
        &[
            "review",
            "open",
            p(&bundle),
            "--identity",
            p(&key),
            "--out",
            p(&opened),
        ],
    );
    let imported = lanterne_offline(
        &server,
        &["review", "import", p(&bundle), "--identity", p(&key)],
    );
    assert!(!imported.contains("WARNING"), "{imported}");
    let listed = lanterne_offline(&server, &["review", "list", "--identity", p(&key)]);
    let out = server.dir.path().join("export");
    for designation in listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.split('-').count() == 3)
    {
        lanterne_offline(
            &server,
            &[
                "review",
                "export",
                designation,
                "--identity",
                p(&key),
                "--out",
                p(&out.join(designation)),
            ],
        );
    }
    for (want, name) in originals {
        for tree in [&opened, &out] {
            let found: Vec<_> = walk(tree)
                .into_iter()
                .filter(|f| f.file_name().is_some_and(|n| n == name))
                .collect();
            assert_eq!(found.len(), 1, "{name} in {tree:?}: {report}");
            assert_eq!(sha256(&std::fs::read(&found[0]).unwrap()), sha256(want));
        }
    }
    let message = walk(&opened)
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "message.txt"))
        .map(|f| std::fs::read_to_string(f).unwrap())
        .find(|m| m.contains("assez longue"))
        .unwrap();
    assert!(message.contains(&long_message), "{message}");
}

#[test]
fn replies_of_different_lengths_are_stored_alike_and_read_exact() {
    let server = Server::start("");
    let page = server.source_with_message("bonjour");
    let code = page.code();
    let cred = server.dir.path().join("ws.json");
    server.add_reviewer("ws", &cred);
    let bundle = server.dir.path().join("bundle");
    fetch(&server, &cred, &bundle, false);
    let designation = std::fs::read_dir(bundle.join("sources"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    let short = "Merci.";
    let long = format!("{}fin.", "Nous avons bien reçu vos documents. ".repeat(100));
    for (i, text) in [short, long.as_str()].into_iter().enumerate() {
        let pushed = reply_and_push(
            &server,
            &bundle,
            &designation,
            text,
            &cred,
            &server.dir.path().join(format!("reply{i}")),
        );
        assert!(pushed.contains("pushed 1"), "{pushed}");
    }
    let replies: Vec<PathBuf> = walk(&server.data())
        .into_iter()
        .filter(|f| {
            f.to_string_lossy().contains("/replies/") && f.extension().is_some_and(|x| x == "age")
        })
        .collect();
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert_eq!(
        size_of(&replies[0]),
        size_of(&replies[1]),
        "stored replies differ in size"
    );

    // The source sees each text exactly: nothing of the padding reaches the page.
    let inbox = server.browser().login(&code);
    assert_eq!(inbox.status, 200);
    assert!(inbox.body.contains(short), "{}", inbox.body);
    assert!(inbox.body.contains("vos documents. fin."), "{}", inbox.body);
    for padding in ["\u{0}", "&#0;", "\u{fffd}", "&#xfffd;"] {
        assert!(!inbox.body.contains(padding), "{padding:?} on the page");
    }
    // And so does the reviewer's thread, from the bundle's copy of the replies.
    fetch(&server, &cred, &bundle, false);
    lanterne_offline(
        &server,
        &[
            "review",
            "import",
            p(&bundle),
            "--identity",
            p(&server.identity),
        ],
    );
    let shown = lanterne_offline(
        &server,
        &[
            "review",
            "show",
            &designation,
            "--identity",
            p(&server.identity),
        ],
    );
    // The thread shows the start of a long reply; the short one ends where its text does.
    assert!(shown.contains("  | Merci.\n"), "{shown}");
    assert!(shown.contains("  | Nous avons bien reçu"), "{shown}");
    assert!(!shown.contains('\u{0}'), "{shown}");
}
