//! A real browser, as a source would use it (issue 5).
//!
//! Debian's Chromium, headless, with JavaScript switched off the way Tor Browser's "Safest"
//! level does, is driven through chromedriver (WebDriver, with the `fantoccini` crate) over the
//! whole source flow against the real `lanterne` binary on loopback: the landing page, a new
//! code, a real `<input type=file>` upload with a message, a reply planted by a reviewer,
//! logging back in with the code, reading and deleting the reply, logging out. Once in French
//! (the browser's own language, through `Accept-Language`) and once in English (chosen with the
//! visible language link, in a browser that asks for French).
//!
//! Along the way:
//! - JavaScript is proven off: a probe page whose script would rename it and whose `<noscript>`
//!   would stay inert is loaded, and a second test shows the same probe catches a browser with
//!   JavaScript on;
//! - chromedriver's performance log lists every request the page made, and each must go to the
//!   server's own origin (or be a `data:`/`about:` URL);
//! - every page is photographed full length at a phone's width (390 CSS pixels). The pictures
//!   go to the target dir, or to `docs/screenshots/` with `LANTERNE_SCREENSHOTS=docs`.
//!
//! A second flow plays a tired source (issue 22): the form sent with the file chooser left empty
//! and no message is nothing to send, stores nothing and leads back to the form; a message alone
//! is confirmed as a message; a mistyped code word is named on the login page.
//!
//! The browser harness (chromedriver, Chromium's processes, one visit) is in `tests/chromium/`.
//!
//! Chromium and chromedriver are required (Debian: `chromium chromium-driver`): without them
//! the tests fail, they do not skip. Every wait has a deadline, and the browser's processes are
//! killed by PID at the end, whatever happens.

mod chromium;
mod common;

use chromium::visit::{pick, screenshot_dir, Picked, Visit};
use chromium::*;
use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// What one flow does, per language.
struct Script {
    lang: &'static str,
    /// The browser's `Accept-Language`.
    browser_lang: &'static str,
    /// Whether the person must use the visible language link to get `lang`.
    use_switch: bool,
    files: &'static [(&'static str, usize)],
    message: &'static str,
    reply: &'static str,
    /// The server's extra configuration.
    config: &'static str,
    /// How many pages (each loads the stylesheet) the flow shows at least.
    pages: usize,
}

/// Runs `flow` in a fresh browser with JavaScript off against a fresh server, then checks that
/// every request stayed on the server and that no browser process survives.
fn run(script: &Script, flow: impl AsyncFnOnce(&mut Visit<'_>, &Script, &[Picked])) {
    let t0 = Instant::now();
    let server = Server::start(script.config);
    let driver = Driver::start();
    let uploads = tempfile::tempdir().unwrap();
    let picked: Vec<Picked> = script
        .files
        .iter()
        .enumerate()
        .map(|(i, (name, size))| pick(uploads.path(), name, &format!("f{i}"), *size))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let chromedriver = driver.chromedriver.id();
    let (requests, browser) = rt.block_on(async {
        let c = driver.session(script.browser_lang, false).await;
        // Chromium's processes, to check at the end that none survives.
        let browser = browser_processes(chromedriver, &driver.mark);
        assert!(
            !browser.is_empty(),
            "no Chromium process under chromedriver"
        );
        assert!(!scripts_run(&c).await, "JavaScript is on");
        let mut v = Visit {
            c,
            server: &server,
            lang: script.lang,
            t: catalogue(script.lang),
            shots: screenshot_dir(),
            requests: Vec::new(),
        };
        flow(&mut v, script, &picked).await;
        // Still no script after all those pages.
        assert!(!scripts_run(&v.c).await, "JavaScript came back on");
        v.check_requests().await;
        let Visit { c, requests, .. } = v;
        step("closing the browser", c.close()).await;
        (requests, browser)
    });
    // The check above saw real traffic: every page and its stylesheet.
    let css = requests
        .iter()
        .filter(|u| u.ends_with("/static/style.css"))
        .count();
    assert!(
        css >= script.pages,
        "only {css} stylesheet loads seen in {requests:#?}"
    );
    drop(driver);
    let deadline = Instant::now() + Duration::from_secs(10);
    while browser.iter().any(|&pid| alive(pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let survivors: Vec<u32> = browser.into_iter().filter(|&pid| alive(pid)).collect();
    assert!(
        survivors.is_empty(),
        "browser processes survived: {survivors:?}"
    );
    eprintln!(
        "{} flow: {} requests, all to {}, in {:.1} s",
        script.lang,
        requests.len(),
        server.base,
        t0.elapsed().as_secs_f64()
    );
}

/// The whole flow: a code, an upload, a reply read and deleted, logging out.
async fn whole_flow(v: &mut Visit<'_>, script: &Script, picked: &[Picked]) {
    // 1. The landing page, in the person's language.
    v.goto("/").await;
    if script.use_switch {
        v.switch_language().await;
    }
    v.expect_page("index-title").await;
    v.screenshot("1-landing").await;

    // 2. "Get a code": the code page, with the form.
    v.click("form[action='/code'] button").await;
    v.expect_page("code-title").await;
    let code = step("reading the code", v.find("#source-code").await.text()).await;
    assert_eq!(code.split(' ').count(), 7, "{code:?}");
    v.screenshot("2-code").await;

    // 3. A real file chooser upload and a typed message.
    let paths: Vec<String> = picked
        .iter()
        .map(|p| p.path.display().to_string())
        .collect();
    let input = v.find("input[type=file]#files").await;
    step("choosing the files", input.send_keys(&paths.join("\n"))).await;
    let message = v.find("textarea#message").await;
    step("typing the message", message.send_keys(script.message)).await;
    v.click("form[action='/submit'] button[type=submit]").await;
    v.expect_page("submitted-title").await;
    v.screenshot("3-submitted").await;

    // What arrived: the very bytes, names and message, sealed to the reviewers.
    let subs = v.server.submissions();
    assert_eq!(subs.len(), 1, "{subs:?}");
    let manifest: Value =
        serde_json::from_slice(&v.server.age_decrypt(&subs[0].join("manifest.age"))).unwrap();
    // Browsers send a textarea's line breaks as CRLF.
    let got = manifest["message"].as_str().unwrap().replace("\r\n", "\n");
    assert_eq!(got, script.message);
    let entries = manifest["files"].as_array().unwrap();
    assert_eq!(entries.len(), picked.len(), "{manifest}");
    for ((entry, p), (name, _)) in entries.iter().zip(picked).zip(script.files) {
        assert_eq!(entry["name"], *name);
        let stored = subs[0].join(entry["stored_as"].as_str().unwrap());
        let size = entry["size"].as_u64().unwrap();
        assert!(
            v.server.age_decrypt_file(&stored, size) == p.bytes,
            "{name} differs"
        );
    }

    // A reviewer answers, offline: encrypted to the source's stored recipient and the team.
    let source = &v.server.sources()[0];
    let recipient = std::fs::read_to_string(source.join("recipient")).unwrap();
    let reply_file = source.join("replies/r0000000001-00112233445566778899aabbccddeeff.age");
    age_cli_encrypt(
        &[recipient.trim(), &v.server.recipient],
        script.reply.as_bytes(),
        &reply_file,
    );

    // Days later, after Tor Browser's "New Identity": no cookie, no language choice left.
    step("forgetting the cookies", v.c.delete_all_cookies()).await;
    v.goto("/").await;
    if script.use_switch {
        v.switch_language().await;
    }
    v.expect_page("index-title").await;

    // 4. "I already have a code", then the code.
    v.click("a[href='/login']").await;
    v.expect_page("login-title").await;
    v.screenshot("4-login").await;
    let field = v.find("input#code").await;
    step("typing the code", field.send_keys(&code)).await;
    v.click("form[action='/login'] button[type=submit]").await;

    // 5. The answer.
    v.expect_page("inbox-title").await;
    let shown = step("reading the reply", v.find(".reply-text").await.text()).await;
    assert_eq!(shown.trim(), script.reply);
    v.screenshot("5-reply").await;

    // 6. Delete it.
    v.click("form[action='/reply/delete'] button").await;
    v.expect_page("deleted-title").await;
    assert!(!reply_file.exists(), "the reply is still on disk");
    v.screenshot("6-deleted").await;

    // 7. Log out.
    v.click("form[action='/logout'] button").await;
    v.expect_page("logout-title").await;
    let cookies = step("reading cookies", v.c.get_all_cookies()).await;
    assert!(
        cookies.iter().all(|c| c.name() != "lanterne_session"),
        "the session cookie is still there: {cookies:?}"
    );
    v.screenshot("7-logout").await;
}

/// A tired source: an empty form, the way back, a message alone, a typo in the code.
async fn tired_flow(v: &mut Visit<'_>, _: &Script, _: &[Picked]) {
    v.goto("/").await;
    v.expect_page("index-title").await;
    v.click("form[action='/code'] button").await;
    v.expect_page("code-title").await;
    let code = step("reading the code", v.find("#source-code").await.text()).await;

    // The real file chooser, left empty, and no message: the browser still sends an empty
    // `files` part. Nothing to send, nothing stored, and the way back is the source's form.
    v.click("form[action='/submit'] button[type=submit]").await;
    v.expect_page("error-empty-title").await;
    v.screenshot("tired-1-empty").await;
    assert!(
        v.server.submissions().is_empty() && v.server.sources().is_empty(),
        "an empty form stored something"
    );
    let back = v.text("nav-form").to_owned();
    let link = v.find("a[href='/submit']").await;
    assert_eq!(step("reading the link", link.text()).await, back);
    step("going back to the form", link.click()).await;
    v.expect_page("submit-title").await;

    // A message alone is confirmed as a message.
    let message = v.find("textarea#message").await;
    step("typing the message", message.send_keys("only words")).await;
    v.click("form[action='/submit'] button[type=submit]").await;
    v.expect_page("submitted-title").await;
    let lead = step("reading the confirmation", v.find("p.lead").await.text()).await;
    assert!(
        lead.contains("message"),
        "the confirmation does not name the message: {lead}"
    );
    assert_eq!(v.server.submissions().len(), 1);
    v.screenshot("tired-2-message").await;

    // Back with the code, the third word mistyped: the field shows what is typed, and the
    // page names that word.
    v.goto("/login").await;
    v.expect_page("login-title").await;
    let field = v.find("input#code").await;
    let kind = step("reading the field's type", field.attr("type")).await;
    assert_eq!(kind.as_deref(), Some("text"));
    let mut words: Vec<&str> = code.split(' ').collect();
    let typo = format!("{}x", words[2]);
    words[2] = &typo;
    step("typing the code", field.send_keys(&words.join(" "))).await;
    v.click("form[action='/login'] button[type=submit]").await;
    v.expect_page("login-title").await;
    let error = step("reading the error", v.find("p.error").await.text()).await;
    assert!(
        error.contains(&typo),
        "the mistyped word is not named: {error}"
    );
    assert!(
        error.contains('3'),
        "the word's place is not named: {error}"
    );
    v.screenshot("tired-3-typo").await;
}

/// The tired flow in `lang`, in a browser that asks for `browser_lang`.
fn tired(lang: &'static str, browser_lang: &'static str) {
    run(
        &Script {
            lang,
            browser_lang,
            use_switch: false,
            files: &[],
            message: "",
            reply: "",
            config: "",
            pages: 6,
        },
        tired_flow,
    );
}

#[test]
fn a_tired_french_source_sends_an_empty_form_and_mistypes_the_code() {
    tired("fr", "fr-FR,fr");
}

#[test]
fn a_tired_english_source_sends_an_empty_form_and_mistypes_the_code() {
    tired("en", "en-US,en");
}

#[test]
fn a_french_source_in_a_browser_without_javascript() {
    run(
        &Script {
            lang: "fr",
            browser_lang: "fr-FR,fr",
            use_switch: false,
            files: &[
                ("procès-verbal réunion.pdf", 300 * 1024),
                ("photo du tableau.jpg", 80 * 1024),
            ],
            message: "Bonjour,\nvoici le procès-verbal de la réunion du 3 mars et une photo du \
                  tableau.\nJe préfère rester anonyme.",
            reply: "Merci, nous avons bien reçu vos deux documents.\nPouvez-vous nous dire qui \
                d'autre était présent à cette réunion ?",
            config: "",
            pages: 7,
        },
        whole_flow,
    );
}

#[test]
fn an_english_source_picks_english_with_the_language_link() {
    run(
        &Script {
            lang: "en",
            // The browser asks for French: the person picks English with the visible link.
            browser_lang: "fr-FR,fr",
            use_switch: true,
            files: &[("meeting notes.txt", 12 * 1024)],
            message:
                "Hello,\nthese are the notes from the March meeting.\nPlease do not use my name.",
            reply:
                "Thank you, your notes arrived.\nCould you tell us who else was at that meeting?",
            config: "",
            pages: 7,
        },
        whole_flow,
    );
}

#[test]
fn the_javascript_probe_catches_a_browser_with_javascript_on() {
    let driver = Driver::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = driver.session("en-US,en", true).await;
        assert!(
            scripts_run(&c).await,
            "the probe must notice scripts running"
        );
        step("closing the browser", c.close()).await;
    });
}
