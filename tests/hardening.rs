//! End-to-end: limits, CSRF, headers, methods and rate limits, against the real binary.

use crate::common::*;

const SMALL_LIMITS: &str = "
[limits]
max_submission_bytes = 1048576
max_files = 2
max_message_chars = 10
";

#[test]
fn over_limit_uploads_get_413_and_leave_nothing_on_disk() {
    let server = Server::start(SMALL_LIMITS);
    let b = server.browser();
    let page = b.new_code();
    let file = |n: usize| Upload {
        name: "f.bin",
        mime: "application/octet-stream",
        bytes: vec![7u8; n],
    };

    let too_big = b.submit(&page, &[file(1024 * 1024 + 1)], "");
    let too_many = b.submit(&page, &[file(10), file(10), file(10)], "");
    let too_long = b.submit(&page, &[], "12345678901");
    for (p, what) in [
        (&too_big, "Too large"),
        (&too_many, "Too many files"),
        (&too_long, "Message too long"),
    ] {
        assert_eq!(p.status, 413, "{}", p.body);
        assert!(p.body.contains(what), "{}", p.body);
        assert!(p.body.contains("Nothing was kept"));
    }
    let empty = b.submit(&page, &[], "   ");
    assert_eq!(empty.status, 400);
    assert_eq!(server.staging_entries(), 0);
    assert!(server.submissions().is_empty());
    assert!(walk(&server.data().join("sources")).is_empty());

    // The box keeps serving, and a submission within the limits goes through.
    let ok = b.submit(&page, &[file(1000), file(2000)], "ok");
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(server.submissions().len(), 1);
}

#[test]
fn posts_without_a_valid_csrf_token_are_refused() {
    let server = Server::start("");
    let b = server.browser();
    let home = b.get("/");
    assert_eq!(b.post_form("/code", &[]).status, 403);
    assert_eq!(b.post_form("/code", &[("csrf", "00")]).status, 403);
    let page = b.new_code();
    let doc = Upload {
        name: "a.txt",
        mime: "text/plain",
        bytes: b"secret".to_vec(),
    };
    let no_token = b.submit_with(None, std::slice::from_ref(&doc), "hi");
    assert_eq!(no_token.status, 403, "{}", no_token.body);
    // A token from another session is no good either.
    let other = server.browser();
    let foreign = other.get("/").csrf();
    assert_eq!(b.submit_with(Some(&foreign), &[doc], "hi").status, 403);
    assert_eq!(
        b.post_form("/logout", &[("csrf", &home.csrf())]).status,
        403,
        "token rotated at /code"
    );
    // Without any session cookie at all.
    let fresh = server.browser();
    assert_eq!(
        fresh
            .post_form("/login", &[("csrf", &page.csrf()), ("code", "a b c")])
            .status,
        403
    );
    assert!(server.submissions().is_empty());
    assert_eq!(server.staging_entries(), 0);
}

#[test]
fn every_page_has_the_security_headers_and_no_script() {
    let server = Server::start("");
    let b = server.browser();
    let code_page = b.new_code();
    let mut pages = vec![
        ("/", b.get("/")),
        ("/login", b.get("/login")),
        ("/submit", b.get("/submit")),
        ("/static/style.css", b.get("/static/style.css")),
        ("/nowhere", b.get("/nowhere")),
        ("code", code_page),
    ];
    pages.push(("bad login", b.login("wrong words")));
    for (name, p) in &pages {
        let h = |k: &str| p.headers.get(k).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            h("content-security-policy").as_deref(),
            Some("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
            "{name}"
        );
        assert_eq!(
            h("referrer-policy").as_deref(),
            Some("no-referrer"),
            "{name}"
        );
        assert_eq!(h("cache-control").as_deref(), Some("no-store"), "{name}");
        assert_eq!(
            h("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{name}"
        );
        assert_eq!(
            h("cross-origin-opener-policy").as_deref(),
            Some("same-origin"),
            "{name}"
        );
        assert_eq!(
            h("cross-origin-resource-policy").as_deref(),
            Some("same-origin"),
            "{name}"
        );
        assert_eq!(
            h("cross-origin-embedder-policy").as_deref(),
            Some("require-corp"),
            "{name}"
        );
        for absent in ["server", "etag", "date", "x-powered-by"] {
            assert_eq!(h(absent), None, "{name} has {absent}");
        }
        assert!(!p.body.to_lowercase().contains("<script"), "{name}");
        assert!(!p.body.contains("://"), "{name} names an absolute URL");
        if let Some(cookie) = h("set-cookie") {
            if cookie.starts_with("lanterne_session") {
                assert!(
                    cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
                    "{cookie}"
                );
            }
        }
    }
    assert_eq!(pages[4].1.status, 404);
    for m in ["PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"] {
        let p = b.request(reqwest::Method::from_bytes(m.as_bytes()).unwrap(), "/");
        assert_eq!(p.status, 405, "{m}");
    }
    assert_eq!(b.request(reqwest::Method::HEAD, "/").status, 200);
    // GET /submit with no code in the session goes back to the start.
    assert_eq!(server.browser().get("/submit").status, 303);
}

#[test]
fn code_attempts_are_rate_limited() {
    let server = Server::start("[kdf]\nper_minute = 1\nburst = 2\n");
    let b = server.browser();
    let page = b.new_code(); // the new-code budget
    let code = page.code();
    assert_eq!(b.submit(&page, &[], "hello").status, 200);
    assert_eq!(server.browser().login(&code).status, 200); // login budget: one
    assert_eq!(server.browser().login(&code).status, 200); // two
    let limited = server.browser().login(&code); // three: over the burst
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.body.contains("Too many attempts"));
    // Input that cannot be a code never costs a derivation, and still gets the generic answer.
    assert_eq!(server.browser().login("hello").status, 403);
    // A flood of logins does not stop a new source from getting a code.
    assert_eq!(server.browser().new_code().status, 200);
}

#[test]
fn restart_clears_staging_debris_and_keeps_submissions() {
    let mut server = Server::start("");
    let b = server.browser();
    let page = b.new_code();
    assert_eq!(b.submit(&page, &[], "kept").status, 200);
    server.stop();
    std::fs::create_dir(server.data().join("staging/deadbeef")).unwrap();
    std::fs::write(server.data().join("staging/deadbeef/.part-x"), b"partial").unwrap();
    server.launch();
    assert_eq!(server.staging_entries(), 0);
    assert_eq!(server.submissions().len(), 1);
    assert_eq!(server.browser().get("/").status, 200);
    let logs = server.stop();
    assert!(logs.contains("cleared unfinished uploads"), "{logs}");
}
