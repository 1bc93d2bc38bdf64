//! One person's visit to a server in the browser: pages awaited by their title in the visit's
//! language, every request checked to stay on the server's origin, full-length screenshots at
//! a phone's width, and the files the person picks in the file chooser.

use super::{cdp, requested_urls, step, PHONE, STEP};
use crate::common::*;
use fantoccini::{Client, Locator};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// One visit

/// A browser session on one server, with what it has seen.
pub(crate) struct Visit<'a> {
    pub(crate) c: Client,
    pub(crate) server: &'a Server,
    /// `en` or `fr`: the screenshots' prefix and the expected texts.
    pub(crate) lang: &'static str,
    pub(crate) t: HashMap<String, String>,
    pub(crate) shots: PathBuf,
    /// Every URL requested so far.
    pub(crate) requests: Vec<String>,
}

impl Visit<'_> {
    pub(crate) fn text(&self, id: &str) -> &str {
        self.t
            .get(id)
            .unwrap_or_else(|| panic!("no {id} in {}.ftl", self.lang))
    }

    pub(crate) async fn goto(&mut self, path: &str) {
        let url = self.server.url(path);
        step(&format!("loading {url}"), self.c.goto(&url)).await;
    }

    pub(crate) async fn find(&self, css: &str) -> fantoccini::elements::Element {
        step(
            &format!("waiting for {css}"),
            self.c.wait().at_most(STEP).for_element(Locator::Css(css)),
        )
        .await
    }

    /// Waits for the page whose `<h1>` is the text `title_id`, in the visit's language.
    pub(crate) async fn expect_page(&mut self, title_id: &str) {
        let want = self.text(title_id).to_owned();
        let deadline = Instant::now() + STEP;
        loop {
            let read = async {
                match self.c.find(Locator::Css("h1")).await {
                    Ok(e) => e.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                }
            };
            let h1 = tokio::time::timeout(STEP, read).await.unwrap_or_default();
            if h1 == want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "expected the page {title_id:?} ({want:?}), got {h1:?} at {:?}:\n{}",
                self.c.current_url().await.ok(),
                self.c.source().await.unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let html = self.find("html").await;
        let lang = step("reading html@lang", html.attr("lang")).await;
        assert_eq!(lang.as_deref(), Some(self.lang), "page language");
        self.check_requests().await;
    }

    /// Every request so far went to the server (or was a `data:`/`about:` URL).
    pub(crate) async fn check_requests(&mut self) {
        let base = self.server.base.trim_end_matches('/').to_owned();
        for url in requested_urls(&self.c).await {
            let ours = url == base || url.starts_with(&format!("{base}/"));
            assert!(
                ours || url.starts_with("data:") || url.starts_with("about:"),
                "the browser asked for {url}, which is not {base}"
            );
            self.requests.push(url);
        }
    }

    pub(crate) async fn click(&self, css: &str) {
        let e = self.find(css).await;
        step(&format!("clicking {css}"), e.click()).await;
    }

    /// A full-length picture of the page at the phone's width, named `LANG-NAME.png`.
    pub(crate) async fn screenshot(&self, name: &str) {
        let metrics = cdp(&self.c, "Page.getLayoutMetrics", json!({})).await;
        let height = metrics["cssContentSize"]["height"]
            .as_f64()
            .expect("content height")
            .ceil()
            .max(f64::from(PHONE.1)) as u32;
        // The viewport grows to the whole page for the picture, then goes back to a phone's.
        let resize = |h: u32| {
            let metrics = json!({
                "width": PHONE.0, "height": h, "deviceScaleFactor": 1, "mobile": true
            });
            cdp(&self.c, "Emulation.setDeviceMetricsOverride", metrics)
        };
        resize(height).await;
        let png = step("screenshot", self.c.screenshot()).await;
        resize(PHONE.1).await;
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::create_dir_all(&self.shots).unwrap();
        std::fs::write(self.shots.join(format!("{}-{name}.png", self.lang)), png).unwrap();
    }

    /// Follows the visible language link (the page must then be in the visit's language).
    pub(crate) async fn switch_language(&self) {
        let link = self.find(".langs a").await;
        let hreflang = step("reading the language link", link.attr("hreflang")).await;
        assert_eq!(
            hreflang.as_deref(),
            Some(self.lang),
            "the link offers {hreflang:?}"
        );
        step("following the language link", link.click()).await;
    }
}

pub(crate) fn screenshot_dir() -> PathBuf {
    match std::env::var("LANTERNE_SCREENSHOTS").as_deref() {
        Ok("docs") => Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots"),
        _ => Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
    }
}

/// A file the source will pick in the file chooser.
pub(crate) struct Picked {
    pub(crate) path: PathBuf,
    pub(crate) bytes: Vec<u8>,
}

pub(crate) fn pick(dir: &Path, name: &str, tag: &str, size: usize) -> Picked {
    let (bytes, _) = file_with_canary(tag, size);
    let path = dir.join(name);
    std::fs::write(&path, &bytes).unwrap();
    Picked { path, bytes }
}
