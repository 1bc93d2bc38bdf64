//! End-to-end: a source submits, comes back with the code, reads and deletes a reply, over
//! real HTTP on loopback, and the reviewer decrypts everything with the stock `age` CLI.

use crate::common::*;
use std::os::unix::fs::MetadataExt;

fn manifest_of(server: &Server, submission: &std::path::Path) -> serde_json::Value {
    let bytes = server.age_decrypt(&submission.join("manifest.age"));
    serde_json::from_slice(&bytes).expect("manifest is JSON")
}

#[test]
fn three_files_and_a_message_are_stored_encrypted_and_decrypt_with_the_age_cli() {
    let server = Server::start("");
    let b = server.browser();
    let code_page = b.new_code();
    let code = code_page.code();
    assert_eq!(code.split(' ').count(), 7, "{code}");

    let (big, c1) = file_with_canary("big", 3 * 1024 * 1024 + 17);
    let (small, c2) = file_with_canary("small", 100);
    let (_, c3) = file_with_canary("text", 200);
    let text = [b"notes:\n".as_slice(), &c3, b"\n"].concat();
    let message_canary = String::from_utf8(canary("message")).unwrap();
    let message = format!("Voici les documents. {message_canary} Fin.");
    let files = [
        Upload {
            name: "rapport-surveillance.pdf",
            mime: "application/pdf",
            bytes: big.clone(),
        },
        Upload {
            name: "photo été.jpg",
            mime: "image/jpeg",
            bytes: small.clone(),
        },
        Upload {
            name: "notes.txt",
            mime: "text/plain",
            bytes: text.clone(),
        },
    ];
    let done = b.submit(&code_page, &files, &message);
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.body.contains("3 files and your message arrived"),
        "{}",
        done.body
    );

    let subs = server.submissions();
    assert_eq!(subs.len(), 1);
    let m = manifest_of(&server, &subs[0]);
    assert_eq!(m["message"], message);
    assert_eq!(m["received"].as_str().unwrap().len(), 10, "day only");
    let entries = m["files"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    for (entry, upload) in entries.iter().zip(&files) {
        assert_eq!(entry["name"], upload.name);
        assert_eq!(entry["content_type"], upload.mime);
        assert_eq!(entry["size"], upload.bytes.len() as u64);
        let stored = subs[0].join(entry["stored_as"].as_str().unwrap());
        let size = entry["size"].as_u64().unwrap();
        assert_eq!(
            server.age_decrypt_file(&stored, size),
            upload.bytes,
            "{}",
            upload.name
        );
    }

    // Nothing readable on disk: no canary, no original name, no telling times.
    for needle in [
        &c1,
        &c2,
        &c3,
        message_canary.as_bytes(),
        b"rapport-surveillance",
    ] {
        for dir in [server.data(), server.tmp()] {
            assert_eq!(
                any_file_contains(&dir, needle),
                None,
                "plaintext found on disk"
            );
        }
    }
    for path in walk(&server.data().join("sources")) {
        let name = path.file_name().unwrap().to_str().unwrap();
        // The retention records hold days only: `active` and `retention/<YYYY-MM-DD>`.
        let day_list = path.parent().is_some_and(|p| p.ends_with("retention"));
        assert!(
            name == "recipient" || name == "active" || name.ends_with(".age") || day_list,
            "{path:?}"
        );
        if name.ends_with(".age") {
            assert_eq!(std::fs::metadata(&path).unwrap().mtime(), 0, "{path:?}");
            assert_eq!(
                std::fs::metadata(&path).unwrap().mode() & 0o777,
                0o600,
                "{path:?}"
            );
        }
    }
    assert_eq!(server.staging_entries(), 0);
}

#[test]
fn code_login_shows_replies_wrong_codes_fail_alike_and_delete_removes() {
    let server = Server::start("");
    let b = server.browser();
    let code_page = b.new_code();
    let code = code_page.code();
    let done = b.submit(&code_page, &[], "first contact");
    assert_eq!(done.status, 200, "{}", done.body);

    // A reviewer's reply, encrypted offline to the source's stored recipient and the team.
    let source = &server.sources()[0];
    let source_recipient = std::fs::read_to_string(source.join("recipient")).unwrap();
    let reply_text = "Merci. Pouvez-vous préciser la date ? <b>not markup</b>";
    let reply = source.join("replies/r000001-00112233445566778899aabbccddeeff.age");
    age_cli_encrypt(
        &[source_recipient.trim(), &server.recipient],
        reply_text.as_bytes(),
        &reply,
    );

    // A new browser, the code typed sloppily: upper case, extra spaces.
    let later = server.browser();
    let sloppy = format!("  {}  ", code.to_uppercase().replace(' ', "   "));
    let inbox = later.login(&sloppy);
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    assert!(
        inbox
            .body
            .contains("Merci. Pouvez-vous préciser la date ? &#60;b&#62;not markup&#60;/b&#62;")
            || inbox
                .body
                .contains("Merci. Pouvez-vous préciser la date ? &lt;b&gt;not markup&lt;/b&gt;"),
        "reply not shown escaped:\n{}",
        inbox.body
    );

    // Wrong codes: two well-formed ones (this code's words reversed, and a code no source
    // ever used) get the same answer, so a page never tells whether a code has a folder;
    // typed text that cannot be a code is told what to fix (the lists are public), never more.
    let other = server.browser();
    let wrong = {
        let mut words: Vec<&str> = code.split(' ').collect();
        words.reverse();
        words.join(" ")
    };
    let unused = server.browser().new_code().code();
    let answers: Vec<Page> = [wrong.as_str(), unused.as_str()]
        .iter()
        .map(|c| other.login(c))
        .collect();
    for a in &answers {
        assert_eq!(a.status, 403);
        assert!(a.body.contains("That did not work"), "{}", a.body);
        assert!(!a.body.contains("Merci"));
    }
    let strip = |p: &Page| p.body.replace(&p.csrf(), "");
    assert_eq!(strip(&answers[0]), strip(&answers[1]));
    for malformed in ["not a code at all", &"x".repeat(5000)] {
        let a = other.login(malformed);
        assert_eq!(a.status, 403);
        assert!(!a.body.contains("That did not work"), "{}", a.body);
        assert!(
            a.body.contains("is not in our list of words") || a.body.contains("A code has 7 words"),
            "{}",
            a.body
        );
    }

    // Delete the reply.
    let reply_id = between(&inbox.body, "name=\"reply\" value=\"", "\"").unwrap();
    let gone = later.post_form(
        "/reply/delete",
        &[("csrf", &inbox.csrf()), ("reply", &reply_id)],
    );
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert!(!reply.exists());
    let again = later.login(&code);
    assert!(again.body.contains("no answer yet"), "{}", again.body);
    // A path in the reply field is refused, and the recipient file stays.
    let evil = later.post_form(
        "/reply/delete",
        &[("csrf", &again.csrf()), ("reply", "../recipient")],
    );
    assert_eq!(evil.status, 400);
    assert!(source.join("recipient").exists());
}

#[test]
fn a_follow_up_lands_in_the_same_source_folder() {
    let server = Server::start("");
    let b = server.browser();
    let code_page = b.new_code();
    let code = code_page.code();
    assert_eq!(b.submit(&code_page, &[], "one").status, 200);
    let bye = b.post_form("/logout", &[("csrf", &code_page.csrf())]);
    assert_eq!(bye.status, 200);
    assert!(bye.body.contains("New Identity"), "{}", bye.body);
    // The logged-out session cannot submit any more.
    let refused = b.submit(&code_page, &[], "after logout");
    assert_eq!(refused.status, 403);

    let back = server.browser();
    let inbox = back.login(&code);
    assert_eq!(inbox.status, 200);
    let doc = Upload {
        name: "more.txt",
        mime: "text/plain",
        bytes: b"second".to_vec(),
    };
    assert_eq!(back.submit(&inbox, &[doc], "two").status, 200);
    assert_eq!(server.sources().len(), 1);
    assert_eq!(server.submissions().len(), 2);

    // A different code is a different source.
    let other = server.browser();
    let p = other.new_code();
    assert_eq!(other.submit(&p, &[], "someone else").status, 200);
    assert_eq!(server.sources().len(), 2);
}

#[test]
fn french_pages_and_french_codes() {
    let server = Server::start("");
    let mut b = server.browser();
    b.accept_language = "fr-FR,fr;q=0.9,en;q=0.5";
    let home = b.get("/");
    assert!(home.body.contains("<html lang=\"fr\">"));
    assert!(
        home.body.contains("Transmettre des documents"),
        "{}",
        home.body
    );
    let code_page = b.new_code();
    // The default 2 GiB limit reads as whole gigabytes.
    assert!(
        code_page.body.contains("2\u{a0}Go au total."),
        "{}",
        code_page.body
    );
    let code = code_page.code();
    let fr_list =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/wordlists/fr.txt")).unwrap();
    let words: std::collections::HashSet<&str> = fr_list.lines().collect();
    assert!(code.split(' ').all(|w| words.contains(w)), "{code}");
    // The visible switch sets the language for the next pages, whatever the browser says.
    let en = b.get("/login?lang=en");
    assert!(en.body.contains("<html lang=\"en\">"));
    assert!(b.get("/").body.contains("Share documents safely"));
    // Accents do not matter at login.
    b.submit(&code_page, &[], "bonjour");
    let folded: String = code
        .chars()
        .map(|c| match c {
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'à' | 'â' | 'ä' => 'a',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ÿ' => 'y',
            c => c,
        })
        .collect();
    assert_eq!(server.browser().login(&folded).status, 200);
}
