//! Fake hotspots for the browser tests of the guest pages: each serves
//! the router's side of its vendor's login protocol on loopback — the
//! redirect to the login page, the page variables, the login endpoint —
//! and on login sends radgate the RADIUS Access-Request the real NAS would
//! (CHAP over the router's own challenge, or PAP), so that a test drives the
//! whole chain guest → page → hotspot → RADIUS → page.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use md5::{Digest, Md5};

use super::{Client, Pw, Reply};

/// What a Mikrotik router does to a page before a browser sees it: `$(if
/// VAR)…$(endif)` kept when VAR is set and not empty, `$(VAR)` replaced.
pub fn as_router_serves(page: &str, vars: &[(&str, &str)]) -> String {
    let get = |k: &str| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| *v)
            .filter(|v| !v.is_empty())
    };
    let mut out = String::new();
    let mut rest = page;
    while let Some(i) = rest.find("$(") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find(')').unwrap();
        let name = &after[..end];
        rest = &after[end + 1..];
        if let Some(var) = name.strip_prefix("if ") {
            let close = rest.find("$(endif)").unwrap();
            if get(var).is_some() {
                out.push_str(&as_router_serves(&rest[..close], vars));
            }
            rest = &rest[close + "$(endif)".len()..];
        } else {
            out.push_str(get(name).unwrap_or(""));
        }
    }
    out.push_str(rest);
    out
}

/// The hotspot's RADIUS side: Access-Requests to radgate, one at a time.
pub struct Nas {
    client: tokio::sync::Mutex<(Client, u8)>,
}

impl Nas {
    pub async fn new(radius: SocketAddr) -> Arc<Nas> {
        Arc::new(Nas {
            client: tokio::sync::Mutex::new((Client::new(radius).await, 0)),
        })
    }

    pub async fn auth(&self, user: &str, pw: Pw<'_>, mac: &str) -> Reply {
        let mut c = self.client.lock().await;
        c.1 = c.1.wrapping_add(1);
        let ident = c.1;
        c.0.auth(ident, user, pw, Some(mac)).await
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The page every fake hotspot sends a guest on to: "the Internet".
async fn internet() -> Html<&'static str> {
    Html(
        "<!doctype html><title>Internet</title><h1 id=\"internet\">The Internet</h1>\
         <p>JavaScript <span id=\"js\">off</span></p>\
         <script>document.getElementById('js').textContent = 'on';</script>",
    )
}

const MAC: &str = "02-00-00-00-00-01";

// --- Mikrotik --------------------------------------------------------------

/// A Mikrotik hotspot serving the pages in `dir` (what `radgate portal
/// mikrotik` wrote): `login.html` with the router's variables, the login
/// endpoint (`username` + `password`: the CHAP answer in hex over the
/// router's chap-id and chap-challenge, or the code itself when `chap` is
/// off), `alogin.html` after an Access-Accept, `status.html` with the time
/// left from Session-Timeout, the router's `md5.js`.
pub struct Mikrotik {
    dir: PathBuf,
    chap: Option<(u8, Vec<u8>)>,
    nas: Arc<Nas>,
    base: String,
    left: Mutex<Option<u32>>,
}

impl Mikrotik {
    pub async fn start(dir: &Path, chap: bool, radius: SocketAddr) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mikrotik {
            dir: dir.to_path_buf(),
            // Bytes a careless page would get wrong: NUL, quote, backslash, 0xff.
            chap: chap.then(|| {
                (
                    0xf9,
                    vec![
                        0x00, 0x27, 0x5c, 0xff, 0x10, 0x22, 0x80, 0x7f, 0x01, 0x02, 0x03, 0x04,
                        0x3c, 0x2f, 0x0a, 0xce,
                    ],
                )
            }),
            nas: Nas::new(radius).await,
            base: format!("http://{addr}"),
            left: Mutex::new(None),
        });
        let app = Router::new()
            .route("/", get(mt_login_get))
            .route("/login", get(mt_login_get).post(mt_login_post))
            .route("/status", get(mt_status))
            .route("/md5.js", get(mt_md5))
            .route("/internet", get(internet))
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    fn page(&self, name: &str, extra: &[(&str, &str)]) -> Response {
        let text = std::fs::read_to_string(self.dir.join(name)).unwrap();
        let octal = |b: &[u8]| b.iter().map(|x| format!("\\{x:03o}")).collect::<String>();
        let (id, challenge) = match &self.chap {
            Some((id, c)) => (octal(&[*id]), octal(c)),
            None => (String::new(), String::new()),
        };
        let login = format!("{}/login", self.base);
        let orig = format!("{}/internet", self.base);
        let mut vars: Vec<(&str, &str)> = vec![
            ("link-login", &login),
            ("link-login-only", &login),
            ("link-orig", &orig),
            ("link-orig-esc", &orig),
            ("link-status", "/status"),
            ("link-logout", "/logout"),
            ("chap-id", &id),
            ("chap-challenge", &challenge),
            ("mac", "02:00:00:00:00:01"),
            ("ip", "10.5.50.7"),
            ("identity", "hotspot1"),
        ];
        vars.extend_from_slice(extra);
        // A later value for a name wins.
        vars.reverse();
        (
            [(header::CACHE_CONTROL, "no-store")],
            Html(as_router_serves(&text, &vars)),
        )
            .into_response()
    }

    async fn login(&self, q: HashMap<String, String>) -> Response {
        let (Some(user), Some(password)) = (q.get("username"), q.get("password")) else {
            return self.page("login.html", &[]);
        };
        let reply = match &self.chap {
            Some((id, challenge)) => {
                let Some(answer) = unhex(password).filter(|a| a.len() == 16) else {
                    return self.page("login.html", &[("error", "invalid password")]);
                };
                let mut chap = vec![*id];
                chap.extend_from_slice(&answer);
                self.nas
                    .auth(user, Pw::ChapAnswer(&chap, challenge), MAC)
                    .await
            }
            None => self.nas.auth(user, Pw::Pap(password), MAC).await,
        };
        if reply.is_accept() {
            *self.left.lock().unwrap() = reply.session_timeout();
            let dst = q.get("dst").cloned().unwrap_or_else(|| "/status".into());
            self.page("alogin.html", &[("link-redirect", &dst)])
        } else {
            let error = reply
                .reply_message()
                .unwrap_or_else(|| "invalid username or password".into());
            self.page("login.html", &[("error", &error), ("username", user)])
        }
    }
}

/// RouterOS's way of writing a duration: `1h`, `59m59s`, `1d2h`.
fn routeros_time(secs: u32) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (v, u) in [(d, "d"), (h, "h"), (m, "m"), (s, "s")] {
        if v > 0 {
            out.push_str(&format!("{v}{u}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

type Mt = State<Arc<Mikrotik>>;

async fn mt_login_get(State(s): Mt, Query(q): Query<HashMap<String, String>>) -> Response {
    s.login(q).await
}

async fn mt_login_post(State(s): Mt, Form(q): Form<HashMap<String, String>>) -> Response {
    s.login(q).await
}

async fn mt_status(State(s): Mt) -> Response {
    let left = *s.left.lock().unwrap();
    match left {
        Some(secs) => s.page(
            "status.html",
            &[("session-time-left", &routeros_time(secs))],
        ),
        None => s.page("status.html", &[]),
    }
}

async fn mt_md5() -> Response {
    (
        [(header::CONTENT_TYPE, "application/javascript")],
        include_str!("md5.js"),
    )
        .into_response()
}

// --- CoovaChilli -------------------------------------------------------------

/// A CoovaChilli (UAM) hotspot: a guest's first page is redirected to the
/// portal (`uamserver`, e.g. `…/chilli?business=7`; `res=notyet`, signed with `md` = MD5(URL ‖ uamsecret));
/// `/logon` takes `username` + `response` (CHAP over MD5(challenge ‖
/// uamsecret), identifier 0), asks radgate and redirects to the portal with
/// `res=success` (and `timeleft`) or `res=failed` (and `reply`).
pub struct Chilli {
    nas: Arc<Nas>,
    secret: String,
    challenge: [u8; 16],
    portal: String,
    port: u16,
}

impl Chilli {
    pub async fn start(portal: &str, secret: &str, radius: SocketAddr) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Chilli {
            nas: Nas::new(radius).await,
            secret: secret.into(),
            challenge: *b"\x8c\x01\xfe\x00\x27\x5c\x22\x10\x99\xaa\x3c\x3e\x26\x7f\x80\x01",
            portal: portal.into(),
            port: addr.port(),
        });
        let app = Router::new()
            .route("/", get(chilli_redirect))
            .route("/logon", get(chilli_logon))
            .route("/internet", get(internet))
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    /// The portal's URL with `pairs`, signed as chilli signs it.
    fn to_portal(&self, res: &str, extra: &[(&str, &str)]) -> Redirect {
        let port = self.port.to_string();
        let challenge = hex(&self.challenge);
        let userurl = format!("http://127.0.0.1:{}/internet", self.port);
        let mut pairs: Vec<(&str, &str)> = vec![
            ("res", res),
            ("uamip", "127.0.0.1"),
            ("uamport", &port),
            ("challenge", &challenge),
            ("called", "AA-BB-CC-DD-EE-FF"),
            ("mac", MAC),
            ("ip", "10.1.0.5"),
            ("nasid", "chilli1"),
            ("sessionid", "5f3a0c1e00000001"),
            ("userurl", &userurl),
        ];
        pairs.extend_from_slice(extra);
        let url = format!(
            "{}{}{}",
            self.portal,
            if self.portal.contains('?') { '&' } else { '?' },
            serde_urlencoded::to_string(&pairs).unwrap()
        );
        let mut h = Md5::new();
        h.update(url.as_bytes());
        h.update(self.secret.as_bytes());
        let md = hex(&h.finalize()).to_uppercase();
        Redirect::to(&format!("{url}&md={md}"))
    }
}

type Ch = State<Arc<Chilli>>;

async fn chilli_redirect(State(s): Ch) -> Redirect {
    s.to_portal("notyet", &[])
}

async fn chilli_logon(State(s): Ch, Query(q): Query<HashMap<String, String>>) -> Response {
    let (Some(user), Some(response)) = (q.get("username"), q.get("response")) else {
        return (StatusCode::BAD_REQUEST, "username and response").into_response();
    };
    let Some(answer) = unhex(response).filter(|a| a.len() == 16) else {
        return s.to_portal("failed", &[]).into_response();
    };
    let mut h = Md5::new();
    h.update(s.challenge);
    h.update(s.secret.as_bytes());
    let newchal = h.finalize().to_vec();
    let mut chap = vec![0u8];
    chap.extend_from_slice(&answer);
    let reply = s.nas.auth(user, Pw::ChapAnswer(&chap, &newchal), MAC).await;
    if reply.is_accept() {
        let left = reply.session_timeout().unwrap_or(0).to_string();
        s.to_portal("success", &[("uid", user), ("timeleft", &left)])
            .into_response()
    } else {
        let why = reply.reply_message().unwrap_or_default();
        s.to_portal("failed", &[("reply", &why)]).into_response()
    }
}

// --- Omada -------------------------------------------------------------------

/// An Omada controller with "RADIUS server + External Web Portal": the
/// guest is redirected to the portal (e.g. `…/omada?business=7`) with the controller's
/// parameters; the browser posts `username`/`password` to
/// `/portal/radius/browserauth`; the controller asks radgate (PAP) and
/// sends the browser to `originUrl`, or answers its JSON error.
pub struct Omada {
    nas: Arc<Nas>,
    portal: String,
    port: u16,
}

impl Omada {
    pub async fn start(portal: &str, radius: SocketAddr) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Omada {
            nas: Nas::new(radius).await,
            portal: portal.into(),
            port: addr.port(),
        });
        let app = Router::new()
            .route("/", get(omada_redirect))
            .route("/portal/radius/browserauth", post(omada_auth))
            .route("/internet", get(internet))
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }
}

type Om = State<Arc<Omada>>;

async fn omada_redirect(State(s): Om) -> Redirect {
    let port = s.port.to_string();
    let orig = format!("http://127.0.0.1:{}/internet", s.port);
    let q = serde_urlencoded::to_string([
        ("target", "127.0.0.1"),
        ("targetPort", &port),
        ("scheme", "http"),
        ("clientMac", "02-00-00-00-00-01"),
        ("clientIp", "10.0.1.5"),
        ("apMac", "AA-BB-CC-DD-EE-02"),
        ("gatewayMac", "AA-BB-CC-DD-EE-03"),
        ("ssidName", "Guest"),
        ("vid", "1"),
        ("radioId", "1"),
        ("originUrl", &orig),
    ])
    .unwrap();
    let sep = if s.portal.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{}{sep}{q}", s.portal))
}

async fn omada_auth(State(s): Om, Form(q): Form<HashMap<String, String>>) -> Response {
    let (Some(user), Some(password)) = (q.get("username"), q.get("password")) else {
        return (StatusCode::BAD_REQUEST, "username and password").into_response();
    };
    if q.get("authType").map(String::as_str) != Some("2") {
        return (StatusCode::BAD_REQUEST, "authType 2 (RADIUS)").into_response();
    }
    let mac = q.get("clientMac").cloned().unwrap_or_default();
    let reply = s.nas.auth(user, Pw::Pap(password), &mac).await;
    if reply.is_accept() {
        let to = q
            .get("originUrl")
            .cloned()
            .unwrap_or_else(|| "/internet".into());
        Redirect::to(&to).into_response()
    } else {
        let msg = reply.reply_message().unwrap_or_default();
        axum::Json(serde_json::json!({"errorCode": -41501, "msg": msg})).into_response()
    }
}

// --- Meraki --------------------------------------------------------------

/// Cisco Meraki's cloud with a sign-on splash page (EXCAP): the guest is
/// redirected to the splash page (e.g. `…/meraki?business=7`) with
/// `login_url` and `continue_url`; the browser posts `username`,
/// `password` and `success_url` to `login_url`; Meraki asks radgate (PAP)
/// and sends the browser to `success_url` with `logout_url`, or back to
/// the splash page with `error_message`.
pub struct Meraki {
    nas: Arc<Nas>,
    /// Where the AP sends accounting: a Start with the guest's address
    /// (127.0.0.1, the browser) after each login.
    acct: Client,
    splash: String,
    port: u16,
}

impl Meraki {
    pub async fn start(splash: &str, radius: SocketAddr, acct: SocketAddr) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Meraki {
            nas: Nas::new(radius).await,
            acct: Client::new(acct).await,
            splash: splash.into(),
            port: addr.port(),
        });
        let app = Router::new()
            .route("/", get(meraki_redirect))
            .route("/splash/login", post(meraki_login))
            .route("/internet", get(internet))
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    fn to_splash(&self, extra: &[(&str, &str)]) -> Redirect {
        let login = format!("http://127.0.0.1:{}/splash/login?mauth=MM1SZQ", self.port);
        let cont = format!("http://127.0.0.1:{}/internet", self.port);
        let mut pairs: Vec<(&str, &str)> = vec![
            ("login_url", &login),
            ("continue_url", &cont),
            ("ap_mac", "88:15:44:60:1c:1a"),
            ("ap_name", "mr53-lobby"),
            ("client_mac", "02:00:00:00:00:01"),
            ("client_ip", "10.0.0.5"),
        ];
        pairs.extend_from_slice(extra);
        let sep = if self.splash.contains('?') { '&' } else { '?' };
        Redirect::to(&format!(
            "{}{sep}{}",
            self.splash,
            serde_urlencoded::to_string(&pairs).unwrap()
        ))
    }
}

type Mk = State<Arc<Meraki>>;

async fn meraki_redirect(State(s): Mk) -> Redirect {
    s.to_splash(&[])
}

async fn meraki_login(
    State(s): Mk,
    Query(q): Query<HashMap<String, String>>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if q.get("mauth").map(String::as_str) != Some("MM1SZQ") {
        return (StatusCode::BAD_REQUEST, "mauth").into_response();
    }
    let (Some(user), Some(password), Some(success)) =
        (f.get("username"), f.get("password"), f.get("success_url"))
    else {
        return (StatusCode::BAD_REQUEST, "username, password, success_url").into_response();
    };
    let reply = s.nas.auth(user, Pw::Pap(password), MAC).await;
    if reply.is_accept() {
        s.acct
            .acct(
                200,
                &super::Acct {
                    status: super::START,
                    user,
                    session_id: "meraki-1",
                    session_time: Some(0),
                    mac: Some(MAC),
                    framed_ip: Some(std::net::Ipv4Addr::LOCALHOST),
                    ..Default::default()
                },
            )
            .await;
        let logout = format!("http://127.0.0.1:{}/splash/logout?mauth=MM1SZQ", s.port);
        let sep = if success.contains('?') { '&' } else { '?' };
        Redirect::to(&format!(
            "{success}{sep}{}",
            serde_urlencoded::to_string([("logout_url", logout)]).unwrap()
        ))
        .into_response()
    } else {
        let why = reply.reply_message().unwrap_or_default();
        s.to_splash(&[("error_message", &why)]).into_response()
    }
}
