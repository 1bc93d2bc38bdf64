//! End-to-end: what the source pages tell a source who makes the usual mistakes (an empty form,
//! a file too large, a typo in the code), over real HTTP on loopback. Each answer must be true,
//! say what to do next, and never lead a source who has a code to "Get a code".

use crate::common::*;

/// The parts a browser sends for the submission form with no file chosen: an empty `files`
/// part with `filename=""`, and the message.
fn browser_form(csrf: &str, message: &str) -> reqwest::multipart::Form {
    use reqwest::multipart::{Form, Part};
    Form::new()
        .text("csrf", csrf.to_owned())
        .part(
            "files",
            Part::bytes(Vec::new())
                .file_name("")
                .mime_str("application/octet-stream")
                .unwrap(),
        )
        .text("message", message.to_owned())
}

#[test]
fn an_empty_form_is_nothing_to_send_and_stores_nothing() {
    let server = Server::start("");
    let b = server.browser();
    let page = b.new_code();
    let empty = b
        .try_multipart("/submit", browser_form(&page.csrf(), ""))
        .unwrap();
    assert_eq!(empty.status, 400, "{}", empty.body);
    assert!(empty.body.contains("Nothing to send"), "{}", empty.body);
    assert!(
        server.submissions().is_empty(),
        "{:?}",
        server.submissions()
    );
    assert!(
        walk(&server.data().join("sources")).is_empty(),
        "a source folder was made for nothing"
    );
    assert_eq!(server.staging_entries(), 0);

    // With a message, the empty part is still no file: the message alone arrives.
    let sent = b
        .try_multipart("/submit", browser_form(&page.csrf(), "only words"))
        .unwrap();
    assert_eq!(sent.status, 200, "{}", sent.body);
    let subs = server.submissions();
    assert_eq!(subs.len(), 1);
    let m: serde_json::Value =
        serde_json::from_slice(&server.age_decrypt(&subs[0].join("manifest.age"))).unwrap();
    assert_eq!(m["message"], "only words");
    assert_eq!(m["files"].as_array().unwrap().len(), 0, "{m}");

    // An empty file the source chose has a name: it is a file, and is kept.
    let chosen = Upload {
        name: "empty.txt",
        mime: "text/plain",
        bytes: Vec::new(),
    };
    let sent = b.submit(&page, &[chosen], "");
    assert_eq!(sent.status, 200, "{}", sent.body);
    let subs = server.submissions();
    assert_eq!(subs.len(), 2);
    let mut names = Vec::new();
    for sub in &subs {
        let m: serde_json::Value =
            serde_json::from_slice(&server.age_decrypt(&sub.join("manifest.age"))).unwrap();
        for f in m["files"].as_array().unwrap() {
            names.push((f["name"].clone(), f["size"].clone()));
        }
    }
    assert_eq!(names, [("empty.txt".into(), 0.into())], "{names:?}");
}
