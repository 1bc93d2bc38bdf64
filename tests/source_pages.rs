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

/// The texts a page that follows a failed upload must have for a source with a code.
fn leads_back_to_the_form(page: &Page) {
    assert!(
        page.body.contains("Your code has not changed"),
        "the page does not say the code still works:\n{}",
        page.body
    );
    assert!(
        page.body.contains("<a href=\"/submit\">"),
        "no way back to the form:\n{}",
        page.body
    );
    assert!(
        !page.body.contains("<a href=\"/\">") && !page.body.contains("Get a code"),
        "the page leads to the landing page, whose button makes a new code:\n{}",
        page.body
    );
}

#[test]
fn a_failed_upload_leads_back_to_the_form_and_says_what_to_change() {
    // 1.5 MiB: the cap must read "1.5 MB", never "1 MB" or "0 MB".
    let server = Server::start("[limits]\nmax_submission_bytes = 1572864\nmax_files = 2\n");
    let b = server.browser();
    let page = b.new_code();
    assert!(
        page.body.contains("Up to 1.5\u{a0}MB in total."),
        "{}",
        page.body
    );
    let file = |n: usize| Upload {
        name: "f.bin",
        mime: "application/octet-stream",
        bytes: vec![7u8; n],
    };

    let too_large = b.submit(&page, &[file(2 << 20)], "");
    assert_eq!(too_large.status, 413, "{}", too_large.body);
    assert!(too_large.body.contains("Too large"), "{}", too_large.body);
    assert!(
        too_large.body.contains("1.5\u{a0}MB"),
        "the cap is not said:\n{}",
        too_large.body
    );
    leads_back_to_the_form(&too_large);

    let too_many = b.submit(&page, &[file(1), file(1), file(1)], "");
    assert_eq!(too_many.status, 413, "{}", too_many.body);
    assert!(too_many.body.contains("up to 2 files"), "{}", too_many.body);
    leads_back_to_the_form(&too_many);

    // A part no browser sends (a file without a file name): the form could not be read.
    let unreadable = b
        .try_multipart(
            "/submit",
            reqwest::multipart::Form::new()
                .text("csrf", page.csrf())
                .text("files", "not a file"),
        )
        .unwrap();
    assert_eq!(unreadable.status, 400, "{}", unreadable.body);
    assert!(
        unreadable.body.contains("The form could not be read"),
        "{}",
        unreadable.body
    );
    leads_back_to_the_form(&unreadable);

    let empty = b.submit(&page, &[], "");
    assert_eq!(empty.status, 400, "{}", empty.body);
    leads_back_to_the_form(&empty);

    // The way back works: the form, in the same session, then a submission that fits.
    let form = b.get("/submit");
    assert_eq!(form.status, 200, "{}", form.body);
    assert_eq!(b.submit(&form, &[file(1000)], "").status, 200);
    assert_eq!(server.submissions().len(), 1);

    // A session that ended (here: logged out) is sent to the login page, not to a new code.
    let bye = b.post_form("/logout", &[("csrf", &form.csrf())]);
    assert_eq!(bye.status, 200);
    let ended = b.submit(&form, &[file(10)], "");
    assert_eq!(ended.status, 403, "{}", ended.body);
    assert!(ended.body.contains("<a href=\"/login\">"), "{}", ended.body);
}

#[test]
fn small_and_large_caps_read_in_mb_or_gb_never_0_mb() {
    for (bytes, en, fr) in [
        (500_000u64, "0.47\u{a0}MB", "0,47\u{a0}Mo"),
        (1 << 20, "1\u{a0}MB", "1\u{a0}Mo"),
        (1500 << 20, "1500\u{a0}MB", "1500\u{a0}Mo"),
        (3 << 29, "1.5\u{a0}GB", "1,5\u{a0}Go"),
        (2 << 30, "2\u{a0}GB", "2\u{a0}Go"),
    ] {
        let server = Server::start(&format!("[limits]\nmax_submission_bytes = {bytes}\n"));
        let b = server.browser();
        let page = b.new_code();
        assert!(
            page.body.contains(&format!("Up to {en} in total.")),
            "{bytes}: {}",
            page.body
        );
        assert!(!page.body.contains(" 0\u{a0}MB") && !page.body.contains(" 0 MB"));
        let mut fr_browser = server.browser();
        fr_browser.accept_language = "fr-FR,fr";
        let page = fr_browser.new_code();
        assert!(
            page.body.contains(&format!("Jusqu’à {fr} au total.")),
            "{bytes}: {}",
            page.body
        );
    }
}

/// The words of a code, from the code page of a fresh source.
fn code_words(page: &Page) -> Vec<String> {
    page.code().split(' ').map(str::to_owned).collect()
}

#[test]
fn the_code_field_is_visible_and_a_failed_login_names_the_word_not_in_the_lists() {
    let server = Server::start("");
    let b = server.browser();
    let words = code_words(&server.source_with_message("hello"));
    assert_eq!(words.len(), 7);
    // A field the source can see while typing seven words, which the browser neither fills,
    // capitalises, corrects nor spell-checks.
    let login = b.get("/login");
    let field = login
        .body
        .split("<input")
        .find(|i| i.contains("id=\"code\""))
        .expect("no code field");
    let field = field.split('>').next().unwrap_or_default();
    for attr in [
        "type=\"text\"",
        "autocomplete=\"off\"",
        "autocapitalize=\"none\"",
        "autocorrect=\"off\"",
        "spellcheck=\"false\"",
    ] {
        assert!(field.contains(attr), "the code field lacks {attr}: {field}");
    }

    // A typo in the third word: the page names that word (escaped) and its place.
    let mut typo = words.clone();
    typo[2] = format!("{}<q>", words[2]);
    let failed = b.login(&typo.join(" "));
    assert_eq!(failed.status, 403, "{}", failed.body);
    let shown = format!("“{}&#60;q&#62;” (word 3)", words[2]);
    assert!(
        failed.body.contains(&shown),
        "the page does not name the word not in the lists ({shown}):\n{}",
        failed.body
    );
    assert!(!failed.body.contains("<q>"), "the word is not escaped");
    for (i, w) in words.iter().enumerate() {
        if i != 2 {
            assert!(
                !failed.body.contains(&format!("“{w}”")),
                "a correct word is named: {w}"
            );
        }
    }

    // Six words: the page says how many a code has.
    let short = b.login(&words[..6].join(" "));
    assert_eq!(short.status, 403);
    assert!(short.body.contains("A code has 7 words"), "{}", short.body);

    // In French too.
    let mut fr = server.browser();
    fr.accept_language = "fr-FR,fr";
    let failed = fr.login(&typo.join(" "));
    let shown = format!("« {}&#60;q&#62; » (mot n° 3)", words[2]);
    assert!(failed.body.contains(&shown), "{}", failed.body);

    // Seven real words that are not this box's code get the generic answer, naming no word.
    let mut other = words.clone();
    other.swap(0, 1);
    let wrong = b.login(&other.join(" "));
    assert_eq!(wrong.status, 403);
    assert!(wrong.body.contains("That did not work"), "{}", wrong.body);
    assert!(!wrong.body.contains("(word "), "{}", wrong.body);

    // The right code still logs in, and no typed word reached the log.
    let ok = b.login(&words.join(" "));
    assert_eq!(ok.status, 200, "{}", ok.body);
    let mut server = server;
    let log = server.stop();
    assert!(!log.contains(&words.join(" ")), "the code is in the log");
    assert!(!log.contains(&typo[2]), "the mistyped word is in the log");
}

#[test]
fn the_confirmation_names_the_files_and_the_message() {
    let server = Server::start("");
    let b = server.browser();
    let page = b.new_code();
    let file = |name: &'static str| Upload {
        name,
        mime: "text/plain",
        bytes: b"x".to_vec(),
    };
    for (files, message, en) in [
        (vec![file("a.txt")], "", "Your file arrived safely"),
        (
            vec![file("a.txt")],
            "some words",
            "Your file and your message arrived safely",
        ),
        (
            vec![file("a.txt"), file("b.txt")],
            "some words",
            "Your 2 files and your message arrived safely",
        ),
        (vec![], "some words", "Your message arrived safely"),
    ] {
        let done = b.submit(&page, &files, message);
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains(en), "{en:?} not in:\n{}", done.body);
        if message.is_empty() {
            assert!(!done.body.contains("message arrived"), "{}", done.body);
        }
    }
    let mut fr = server.browser();
    fr.accept_language = "fr-FR,fr";
    let page = fr.new_code();
    let done = fr.submit(&page, &[file("a.txt")], "des mots");
    assert!(
        done.body
            .contains("Votre fichier et votre message sont bien arrivés"),
        "{}",
        done.body
    );
}

#[test]
fn the_landing_page_claims_only_what_is_true() {
    let server = Server::start("");
    for (lang, keeps, never) in [
        (
            "en",
            "keeps only encrypted copies and holds no key to open them",
            "cannot read it",
        ),
        (
            "fr",
            "n’en garde que des copies chiffrées et ne détient aucune clé pour les ouvrir",
            "ne peut pas le lire",
        ),
    ] {
        let mut b = server.browser();
        b.accept_language = lang;
        let page = b.get("/");
        assert!(page.body.contains(keeps), "{lang}: {}", page.body);
        assert!(
            !page.body.contains(never),
            "{lang} overclaims: {}",
            page.body
        );
    }
}
