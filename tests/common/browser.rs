//! A real browser for the end-to-end tests: Debian's headless Chromium
//! driven over WebDriver (`chromedriver`, fantoccini), at a phone's or a
//! desktop's size. Screenshots of the steps a test names go to
//! `target/tmp/browser-shots/<test>/`, and one of the page at the moment a
//! test fails (`failure.png`), so that a human can look at them.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use tokio::io::{AsyncBufReadExt, BufReader};

/// A phone (the size the issue names) and a desktop.
pub const PHONE: (u32, u32) = (390, 844);
pub const DESKTOP: (u32, u32) = (1280, 800);

pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

impl Browser {
    /// Chromium at `size`, preferring language `lang`, with JavaScript on
    /// or off; `None` (a loud skip, or a failure under
    /// RADGATE_REQUIRE_INTEROP=1) without the browser or its driver.
    pub async fn start(test: &str, size: (u32, u32), lang: &str, js: bool) -> Option<Browser> {
        let chromium = super::tool("chromium", "chromium")?;
        JS_OFF.with(|j| j.set(!js));
        let chromedriver = super::tool("chromedriver", "chromium-driver")?;
        let mut driver = tokio::process::Command::new(chromedriver)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        // Readiness: the driver says which port it took.
        let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
        let port = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    return rest.trim_end_matches('.').parse::<u16>().unwrap();
                }
            }
            panic!("chromedriver ended without saying its port");
        })
        .await
        .expect("chromedriver ready within 30 s");
        // Keep reading its output so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let profile = tempfile::tempdir().unwrap();
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-quic",
                    "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={},{}", size.0, size.1),
                    format!("--lang={lang}"),
                    format!("--accept-lang={lang}"),
                ],
                "prefs": {
                    "intl": { "accept_languages": lang },
                    "profile": { "managed_default_content_settings": { "javascript": if js { 1 } else { 2 } } },
                },
            },
        });
        let caps = match caps {
            serde_json::Value::Object(m) => m,
            _ => unreachable!(),
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a browser session");
        // The viewport, not the window, is what a page lays out in.
        let inner: Vec<u64> = serde_json::from_value(
            client
                .execute("return [window.innerWidth, window.innerHeight];", vec![])
                .await
                .unwrap(),
        )
        .unwrap();
        let (w, h) = (
            2 * size.0 as u64 - inner[0].min(size.0 as u64),
            2 * size.1 as u64 - inner[1].min(size.1 as u64),
        );
        client.set_window_size(w as u32, h as u32).await.unwrap();
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("browser-shots")
            .join(format!(
                "{test}-{}x{}-{lang}{}",
                size.0,
                size.1,
                if js { "" } else { "-nojs" }
            ));
        std::fs::create_dir_all(&shots).unwrap();
        Some(Browser {
            client,
            driver,
            _profile: profile,
            shots,
        })
    }

    /// Save what the browser shows now as `<name>.png`.
    pub async fn shot(&self, name: &str) {
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(self.shots.join(format!("{name}.png")), png);
        }
    }

    /// Run `flow` with this browser; when it fails, a screenshot of the
    /// page it failed on (and its address) before the failure goes on. The
    /// browser is closed either way.
    pub async fn run<F, Fut>(self, flow: F)
    where
        F: FnOnce(Client) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let result = tokio::spawn(flow(self.client.clone())).await;
        if let Err(e) = result {
            self.shot("failure").await;
            let url = self.client.current_url().await.map(|u| u.to_string());
            eprintln!(
                "browser test failed on {url:?}; screenshot: {}",
                self.shots.join("failure.png").display()
            );
            self.close().await;
            std::panic::resume_unwind(e.into_panic());
        }
        self.close().await;
    }

    async fn close(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill().await;
    }

    /// Where this browser's screenshots go.
    pub fn shots(&self) -> PathBuf {
        self.shots.clone()
    }
}

/// Save a screenshot from inside a flow (which holds only the client).
pub async fn shot(c: &Client, dir: &std::path::Path, name: &str) {
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(dir.join(format!("{name}.png")), png);
    }
}

/// The text of the first element matching `css`, waited for (an element
/// of a page the browser is leaving is looked up again, and so is a
/// lookup the navigation to the next page aborted).
pub async fn text(c: &Client, css: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await;
        let e = match found {
            Ok(e) => e,
            Err(err) if tokio::time::Instant::now() < deadline => {
                let _ = err;
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            Err(err) => panic!("no {css} on the page: {err}"),
        };
        match e.text().await {
            Ok(t) => return t,
            Err(err) if tokio::time::Instant::now() < deadline => {
                let _ = err;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => panic!("{css}: {err}"),
        }
    }
}

/// Wait until the first element matching `css` reads `want` (the page a
/// click leads to may take a moment to replace the one before).
pub async fn wait_text(c: &Client, css: &str, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let seen = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.ok(),
            Err(_) => None,
        };
        if seen.as_deref() == Some(want) {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("{css} never read {want:?}; last {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait until the text of the first element matching `css` contains
/// `needle`.
pub async fn wait_contains(c: &Client, css: &str, needle: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let seen = text(c, css).await;
        if seen.contains(needle) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{css} never held {needle:?}; last {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait until the page's address satisfies `f`; its address then.
pub async fn wait_url(c: &Client, what: &str, f: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let url = c.current_url().await.unwrap().to_string();
        if f(&url) {
            return url;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("the browser never reached {what}; it is on {url}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// axe-core 4.10.3 (MPL-2.0, Deque Systems), vendored unchanged from npm:
/// the accessibility rules a page is checked against.
const AXE: &str = include_str!("axe.min.js");

thread_local! {
    /// The browser of this test (a test's flow runs on its thread) has
    /// JavaScript off: axe-core cannot run there (its timers do not fire);
    /// the same pages are checked with JavaScript on in other tests.
    static JS_OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The page passes axe-core's WCAG 2.0/2.1 A and AA rules (contrast,
/// names of controls and links, labels, landmarks, language, …).
pub async fn accessible(c: &Client) {
    if JS_OFF.with(|j| j.get()) {
        return;
    }
    let found = violations(c).await;
    let url = c
        .current_url()
        .await
        .map(|u| u.to_string())
        .unwrap_or_default();
    assert!(
        found.is_empty(),
        "accessibility problems on {url}: {found:#?}"
    );
}

/// What axe-core finds wrong with the page (WCAG 2.0/2.1 A and AA).
pub async fn violations(c: &Client) -> Vec<serde_json::Value> {
    let loaded = c
        .execute("return typeof window.axe !== 'undefined';", vec![])
        .await
        .unwrap();
    if loaded != serde_json::Value::Bool(true) {
        c.execute(&format!("{AXE}\nreturn true;"), vec![])
            .await
            .expect("axe-core loads");
    }
    let v = c
        .execute_async(
            "var done = arguments[arguments.length - 1];\
             axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })\
               .then(function (r) { done(r.violations.map(function (v) { return v.id + ' (' + v.impact + '): ' +\
                 v.help + ' at ' + v.nodes.slice(0, 3).map(function (n) { return n.target.join(' '); }).join(', '); })); },\
                     function (e) { done(['axe failed: ' + e]); });",
            vec![],
        )
        .await
        .unwrap();
    v.as_array().cloned().unwrap_or_default()
}

/// No horizontal scrolling, every button and text field at least 44 px
/// high (a touch target), and no accessibility problem axe-core finds.
pub async fn fits_and_touchable(c: &Client) {
    let v = c
        .execute(
            "var small = []; document.querySelectorAll('button, input:not([type=hidden]):not([type=checkbox]), a.button')\
               .forEach(function (e) { var r = e.getBoundingClientRect(); \
                 if (r.height > 0 && r.height < 44) small.push(e.outerHTML.slice(0, 80) + ' ' + r.height); });\
             return [document.documentElement.scrollWidth, window.innerWidth, small];",
            vec![],
        )
        .await
        .unwrap();
    let scroll = v[0].as_u64().unwrap();
    let width = v[1].as_u64().unwrap();
    assert!(
        scroll <= width,
        "the page scrolls sideways: {scroll} px wide in a {width} px window"
    );
    assert!(
        v[2].as_array().unwrap().is_empty(),
        "touch targets under 44 px: {}",
        v[2]
    );
    accessible(c).await;
}
