//! The guest's login through each supported hotspot, in a real browser:
//! headless Chromium over WebDriver (tests/common/browser.rs) drives the
//! guest's side, a fake hotspot on loopback (tests/common/hotspot.rs) the
//! router's, and radgate answers the hotspot's real RADIUS requests — the
//! whole chain guest → page → hotspot → RADIUS → page. Each flow runs at a
//! phone's size in one of the portal's languages and at a desktop's in
//! English; a wrong code first (its reason shown, translated), then the
//! right one (typed as a guest would: spaces around, lower case) and the
//! time left. Screenshots: target/tmp/browser-shots/.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::browser::{self, Browser, DESKTOP, PHONE};
use common::hotspot;
use fantoccini::{Client, Locator};

const UAM_SECRET: &str = "uamsecret1";

/// A venue as an administrator sets it up: a config file with business 7
/// (name, logo, colour, terms), the hotspot as RADIUS client (with its
/// UAM secret), the portal on loopback; radgate serving it; one code of
/// 60 minutes.
struct Venue {
    dir: tempfile::TempDir,
    server: common::TestServer,
    /// The portal's address, as the hotspots know it.
    portal: String,
}

impl Venue {
    async fn start() -> Venue {
        // The portal's public_url is its own loopback address: the port is
        // chosen here (the hotspots sign and forward to it).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let portal = format!("http://127.0.0.1:{port}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("logo.svg"),
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"64\" height=\"64\" viewBox=\"0 0 64 64\">\
             <circle cx=\"32\" cy=\"32\" r=\"30\" fill=\"#2D6A4F\"/>\
             <path d=\"M20 24h20v14a8 8 0 0 1-8 8h-4a8 8 0 0 1-8-8z\" fill=\"#fff\"/>\
             <path d=\"M40 28h3a5 5 0 0 1 0 10h-3\" stroke=\"#fff\" stroke-width=\"3\" fill=\"none\"/></svg>",
        )
        .unwrap();
        let path = dir.path().join("radgate.toml");
        std::fs::write(
            &path,
            format!(
                "[server]\nauth_listen = \"127.0.0.1:0\"\nacct_listen = \"127.0.0.1:0\"\n\n\
                 [portal]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{portal}\"\n\
                 login_targets = [\"127.0.0.1\"]\n\n\
                 [[client]]\nname = \"hotspot\"\naddress = \"127.0.0.1\"\nsecret = \"{}\"\n\
                 uam_secret = \"{UAM_SECRET}\"\n\n\
                 [[business]]\nid = 7\nname = \"Café Rosa\"\nlogo = \"logo.svg\"\n\
                 accent_color = \"#2D6A4F\"\nterms_url = \"https://example.net/terms\"\n",
                common::SECRET
            ),
        )
        .unwrap();
        let loaded = radgate::config::Config::load(Some(&path)).unwrap();
        let server = common::TestServer::start_with(move |c| {
            let db = c.database.url.clone();
            *c = loaded;
            c.database.url = db;
        })
        .await;
        assert_eq!(
            server.portal_addr.map(|a| a.port()),
            Some(port),
            "the portal on its port"
        );
        server
            .token("WELCOME1", 60, |t| t.business_id = Some(7))
            .await;
        Venue {
            dir,
            server,
            portal,
        }
    }

    /// `radgate portal mikrotik --out DIR --business 7 [extra]`, as the
    /// venue runs it: the directory written.
    fn mikrotik_pages(&self, extra: &[&str]) -> PathBuf {
        let out = Command::new(env!("CARGO_BIN_EXE_radgate"))
            .current_dir(self.dir.path())
            .arg("--config")
            .arg(self.dir.path().join("radgate.toml"))
            .args(["portal", "mikrotik", "--out", "hotspot", "--business", "7"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.dir.path().join("hotspot")
    }
}

/// The guest's texts in the languages the flows use.
struct Texts {
    lang: &'static str,
    code_label: &'static str,
    unknown_code: &'static str,
    online: &'static str,
}

const EN: Texts = Texts {
    lang: "en",
    code_label: "Access code",
    unknown_code: "Unknown access code",
    online: "You are online",
};
const DE: Texts = Texts {
    lang: "de",
    code_label: "Zugangscode",
    unknown_code: "Unbekannter Zugangscode",
    online: "Sie sind online",
};
const FR: Texts = Texts {
    lang: "fr",
    code_label: "Code d’accès",
    unknown_code: "Code d’accès inconnu",
    online: "Vous êtes connecté",
};
const ES: Texts = Texts {
    lang: "es",
    code_label: "Código de acceso",
    unknown_code: "Código de acceso desconocido",
    online: "Está conectado",
};

async fn find(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
}

/// The code page as a guest meets it: the venue's name and logo, the
/// label in the guest's language, laid out for the screen.
async fn the_code_page(c: &Client, t: &Texts) {
    assert_eq!(browser::text(c, "h1").await, "Café Rosa");
    assert!(find(c, "img.logo").await.is_displayed().await.unwrap());
    assert_eq!(browser::text(c, "label[for=code]").await, t.code_label);
    let lang = c
        .execute("return document.documentElement.lang;", vec![])
        .await
        .unwrap();
    assert_eq!(lang, t.lang, "the page's language");
    browser::fits_and_touchable(c).await;
}

/// Type `code` into the code field, accept the terms, send.
async fn log_in(c: &Client, code: &str) {
    let field = find(c, "#code").await;
    field.clear().await.unwrap();
    field.send_keys(code).await.unwrap();
    let terms = find(c, "#terms").await;
    if !terms.is_selected().await.unwrap() {
        // The label ticks it (a large touch target).
        find(c, "label[for=terms]").await.click().await.unwrap();
        assert!(terms.is_selected().await.unwrap());
    }
    find(c, "button[type=submit]").await.click().await.unwrap();
}

/// Run `flow` in a browser at `size` in `t`'s language (`js` off where
/// the hotspot does without).
async fn in_browser<F, Fut>(test: &str, size: (u32, u32), t: &'static Texts, js: bool, flow: F)
where
    F: FnOnce(Client, PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Some(b) = Browser::start(test, size, t.lang, js).await else {
        return;
    };
    let shots = b.shots();
    b.run(move |c| flow(c, shots)).await;
}

/// Mikrotik with the pages the router serves itself (`radgate portal
/// mikrotik`): CHAP computed in the browser with the router's md5.js over
/// its chap-id and chap-challenge, the router's refusal translated, then
/// the status page with the time left.
#[tokio::test]
async fn a_guest_logs_in_on_the_pages_a_mikrotik_router_serves() {
    for (size, t, chap) in [(PHONE, &DE, true), (DESKTOP, &EN, false)] {
        let v = Venue::start().await;
        let router = hotspot::Mikrotik::start(&v.mikrotik_pages(&[]), chap, v.server.addr).await;
        in_browser("mikrotik", size, t, true, move |c, shots| async move {
            c.goto(&format!("http://{router}/login")).await.unwrap();
            the_code_page(&c, t).await;
            browser::shot(&c, &shots, "1-code").await;
            log_in(&c, "nope-nope").await;
            assert_eq!(browser::text(&c, "#error").await, t.unknown_code);
            browser::shot(&c, &shots, "2-refused").await;
            log_in(&c, " welcome1 ").await;
            assert_eq!(browser::text(&c, "p.ok").await, t.online);
            browser::shot(&c, &shots, "3-online").await;
            c.goto(&format!("http://{router}/status")).await.unwrap();
            assert_eq!(browser::text(&c, "#left").await, "1h");
            assert!(find(&c, "#until").await.is_displayed().await.unwrap());
            browser::fits_and_touchable(&c).await;
            browser::shot(&c, &shots, "4-status").await;
        })
        .await;
        assert_eq!(
            common::stat(&v.server.stats().access_accepts),
            1,
            "one Access-Accept"
        );
    }
}

/// Mikrotik with radgate's page (`--external`): the router's login.html
/// forwards its variables to the portal, the guest types the code there,
/// radgate sends the browser to the router's login with the CHAP answer;
/// a refusal comes back to radgate's page through the router.
#[tokio::test]
async fn a_guest_logs_in_through_a_mikrotik_router_on_the_portal() {
    for (size, t) in [(PHONE, &FR), (DESKTOP, &EN)] {
        let v = Venue::start().await;
        let router =
            hotspot::Mikrotik::start(&v.mikrotik_pages(&["--external"]), true, v.server.addr).await;
        let portal = v.portal.clone();
        in_browser(
            "mikrotik-external",
            size,
            t,
            true,
            move |c, shots| async move {
                c.goto(&format!("http://{router}/login")).await.unwrap();
                let url = browser::wait_url(&c, "the portal", |u| u.starts_with(&portal)).await;
                assert!(url.ends_with("/mikrotik?business=7"), "{url}");
                the_code_page(&c, t).await;
                browser::shot(&c, &shots, "1-code").await;
                log_in(&c, "nope-nope").await;
                browser::wait_url(&c, "the portal again", |u| u.starts_with(&portal)).await;
                assert_eq!(browser::text(&c, "p.error").await, t.unknown_code);
                browser::shot(&c, &shots, "2-refused").await;
                log_in(&c, " welcome1 ").await;
                assert_eq!(browser::text(&c, "p.ok").await, t.online);
                browser::shot(&c, &shots, "3-online").await;
                c.goto(&format!("http://{router}/status")).await.unwrap();
                assert_eq!(browser::text(&c, "#left").await, "1h");
                browser::shot(&c, &shots, "4-status").await;
            },
        )
        .await;
        assert_eq!(
            common::stat(&v.server.stats().access_accepts),
            1,
            "one Access-Accept"
        );
    }
}

/// CoovaChilli (UAM): the hotspot's signed redirect, the code page (with
/// JavaScript off: none is needed), the hotspot's logon with the CHAP
/// response, `res=failed` with the reason, `res=success` with the time
/// left and until when, and on to the page the guest first asked for.
#[tokio::test]
async fn a_guest_logs_in_through_coovachilli() {
    for (size, t, js) in [(PHONE, &ES, false), (DESKTOP, &EN, true)] {
        let v = Venue::start().await;
        let chilli = hotspot::Chilli::start(
            &format!("{}/chilli?business=7", v.portal),
            UAM_SECRET,
            v.server.addr,
        )
        .await;
        let portal = v.portal.clone();
        in_browser("chilli", size, t, js, move |c, shots| async move {
            c.goto(&format!("http://{chilli}/")).await.unwrap();
            browser::wait_url(&c, "the portal", |u| u.starts_with(&portal)).await;
            the_code_page(&c, t).await;
            browser::shot(&c, &shots, "1-code").await;
            log_in(&c, "nope-nope").await;
            let url = browser::wait_url(&c, "the portal again", |u| u.contains("res=failed")).await;
            assert!(url.starts_with(&portal), "{url}");
            assert_eq!(browser::text(&c, "p.error").await, t.unknown_code);
            browser::shot(&c, &shots, "2-refused").await;
            log_in(&c, " welcome1 ").await;
            browser::wait_url(&c, "the success page", |u| u.contains("res=success")).await;
            assert_eq!(browser::text(&c, "p.ok").await, t.online);
            let left = browser::text(&c, "main p strong").await;
            assert_eq!(left, "1 h 00 min");
            browser::fits_and_touchable(&c).await;
            browser::shot(&c, &shots, "3-online").await;
            find(&c, "a.button").await.click().await.unwrap();
            assert_eq!(browser::text(&c, "#internet").await, "The Internet");
            let ran = browser::text(&c, "#js").await;
            assert_eq!(ran, if js { "on" } else { "off" }, "JavaScript on or off");
        })
        .await;
        assert_eq!(
            common::stat(&v.server.stats().access_accepts),
            1,
            "one Access-Accept"
        );
    }
}

/// Omada (RADIUS + external web portal): the controller's redirect, the
/// code page, the browser's post to the controller's browserauth (which
/// asks radgate), on to the page the guest first asked for.
#[tokio::test]
async fn a_guest_logs_in_through_an_omada_controller() {
    for (size, t) in [(PHONE, &DE), (DESKTOP, &EN)] {
        let v = Venue::start().await;
        let omada =
            hotspot::Omada::start(&format!("{}/omada?business=7", v.portal), v.server.addr).await;
        let portal = v.portal.clone();
        in_browser("omada", size, t, true, move |c, shots| async move {
            c.goto(&format!("http://{omada}/")).await.unwrap();
            browser::wait_url(&c, "the portal", |u| u.starts_with(&portal)).await;
            the_code_page(&c, t).await;
            browser::shot(&c, &shots, "1-code").await;
            log_in(&c, " welcome1 ").await;
            assert_eq!(browser::text(&c, "#internet").await, "The Internet");
            let url = c.current_url().await.unwrap().to_string();
            assert_eq!(url, format!("http://{omada}/internet"));
        })
        .await;
        assert_eq!(
            common::stat(&v.server.stats().access_accepts),
            1,
            "one Access-Accept"
        );
    }
}

/// Cisco Meraki (sign-on splash with RADIUS): Meraki's redirect to the
/// portal, the code page, the browser's post to Meraki's login_url (which
/// asks radgate), a refusal back on the page with Meraki's error_message,
/// then radgate's success page (the time left, from the session the AP's
/// accounting opened for the guest's address; Meraki's log-out link).
#[tokio::test]
async fn a_guest_logs_in_through_meraki_sign_on() {
    for (size, t) in [(PHONE, &FR), (DESKTOP, &EN)] {
        let v = Venue::start().await;
        let meraki = hotspot::Meraki::start(
            &format!("{}/meraki?business=7", v.portal),
            v.server.addr,
            v.server.acct_addr,
        )
        .await;
        let portal = v.portal.clone();
        in_browser("meraki", size, t, true, move |c, shots| async move {
            c.goto(&format!("http://{meraki}/")).await.unwrap();
            browser::wait_url(&c, "the portal", |u| u.starts_with(&portal)).await;
            the_code_page(&c, t).await;
            browser::shot(&c, &shots, "1-code").await;
            log_in(&c, "nope-nope").await;
            browser::wait_url(&c, "the portal again", |u| u.contains("error_message=")).await;
            assert_eq!(browser::text(&c, "p.error").await, t.unknown_code);
            browser::shot(&c, &shots, "2-refused").await;
            log_in(&c, " welcome1 ").await;
            let url =
                browser::wait_url(&c, "the success page", |u| u.contains("/meraki/online")).await;
            assert!(
                url.starts_with(&format!("{portal}/meraki/online/7?logout_url=")),
                "{url}"
            );
            assert_eq!(browser::text(&c, "p.ok").await, t.online);
            assert_eq!(browser::text(&c, "h1").await, "Café Rosa");
            // Meraki passes no time left; the AP's accounting gives radgate
            // the guest's address, and the session its time.
            assert_eq!(browser::text(&c, "main p strong").await, "1 h 00 min");
            let logout = find(&c, "a.button")
                .await
                .attr("href")
                .await
                .unwrap()
                .unwrap();
            assert!(logout.contains("/splash/logout?mauth="), "{logout}");
            browser::fits_and_touchable(&c).await;
            browser::shot(&c, &shots, "3-online").await;
        })
        .await;
        assert_eq!(
            common::stat(&v.server.stats().access_accepts),
            1,
            "one Access-Accept"
        );
    }
}
