//! The guest portal `radgate serve` runs when `[portal] listen` is set.
//!
//! Mikrotik (external page): the router's `login.html` (written by
//! `radgate portal mikrotik --external`) forwards its variables to
//! `/mikrotik`; the guest types the code there; `/mikrotik/login` computes
//! the CHAP answer (or PAP) and sends the browser to the router's
//! `link-login-only`, which must lie inside `[portal] login_targets`. The
//! router then asks radgate over RADIUS; a refusal comes back through the
//! router's page to `/mikrotik` with `error`.
//!
//! CoovaChilli / uspot (UAM): `/chilli` and `/chilli/login` (logon with
//! the CHAP response, the redirect's `md` checked with `uam_secret`).
//! Omada (RADIUS + external web portal): `/omada` and `/omada/login` (a
//! form the browser posts to the controller's `browserauth`).
//! Meraki (sign-on splash): `/meraki` and `/meraki/login` (a form the
//! browser posts to Meraki's `login_url`), `/meraki/online` its
//! `success_url`.
//! The Captive Portal API (RFC 8908): `/captive-portal/api` (capport.rs).
//!
//! Pages need no JavaScript (the Omada and Meraki hand-offs run one line,
//! allowed by its hash); every text is escaped; nothing of a guest is
//! logged.

use std::sync::Arc;

use axum::extract::{RawForm, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use tokio::sync::watch;

use super::i18n::{self, Catalog};
use super::{chap, esc, Branding};
use crate::config::Config;

pub struct PortalState {
    pub(super) config: Arc<Config>,
    /// Read by the captive portal API (sessions, codes).
    pub(super) store: crate::store::Store,
    catalogs: Vec<Catalog>,
}

/// Serve `served` (see [`served`]) on `listener` until `stop`.
pub fn start(
    listener: tokio::net::TcpListener,
    served: crate::http::LiveServed,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    crate::http::serve(listener, served, stop, "guest portal", false)
}

/// The portal's routes and certificate for `config` (HTTPS with `[portal]
/// tls_cert`): made at start and again on every reload.
pub fn served(config: Arc<Config>, store: crate::store::Store) -> crate::http::Served {
    let tls = config.portal.tls.as_ref().map(crate::tls::Tls::acceptor);
    let state = Arc::new(PortalState {
        catalogs: i18n::with_venue(&config.portal.translations),
        config,
        store,
    });
    crate::http::Served {
        app: router(state),
        tls,
    }
}

pub fn router(state: Arc<PortalState>) -> Router {
    Router::new()
        .route("/mikrotik", get(mikrotik_get).post(mikrotik_post))
        .route("/mikrotik/login", post(mikrotik_login))
        .route("/chilli", get(chilli_get))
        .route("/chilli/login", post(chilli_login))
        .route("/omada", get(omada_get).post(omada_post))
        .route("/omada/login", post(omada_login))
        .route("/meraki", get(meraki_get))
        .route("/meraki/login", post(meraki_login))
        .route("/meraki/online", get(meraki_online))
        .route("/meraki/online/{business}", get(meraki_online))
        .route("/captive-portal/api", get(super::capport::api))
        .route("/captive-portal/login", get(super::capport::login))
        .fallback(not_found)
        .layer(axum::middleware::map_response(headers))
        .with_state(state)
}

type St = State<Arc<PortalState>>;

/// What a Mikrotik router's page forwards (its variable names), with the
/// business the page was written for; unknown fields are ignored.
#[derive(Debug, Default, Deserialize)]
struct Hotspot {
    #[serde(rename = "link-login-only")]
    link_login_only: Option<String>,
    #[serde(rename = "link-orig")]
    link_orig: Option<String>,
    #[serde(rename = "chap-id")]
    chap_id: Option<String>,
    #[serde(rename = "chap-challenge")]
    chap_challenge: Option<String>,
    error: Option<String>,
    business: Option<String>,
    /// The form's own fields.
    code: Option<String>,
    terms: Option<String>,
}

async fn mikrotik_get(State(s): St, h: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q: Hotspot = lenient(raw.as_deref().unwrap_or("").as_bytes());
    code_page(&s, &h, &q, None)
}

async fn mikrotik_post(State(s): St, h: HeaderMap, RawForm(form): RawForm) -> Response {
    let q: Hotspot = lenient(&form);
    code_page(&s, &h, &q, None)
}

/// The guest typed a code: send the browser to the router's login with
/// it (the CHAP answer, or the code itself for PAP).
async fn mikrotik_login(State(s): St, h: HeaderMap, RawForm(form): RawForm) -> Response {
    let q: Hotspot = lenient(&form);
    if !same_origin(&s.config, &h) {
        return (StatusCode::FORBIDDEN, "cross-site form posts are refused").into_response();
    }
    let lang = language(&s, &h);
    let Some(target) = q
        .link_login_only
        .as_deref()
        .and_then(|u| login_target(&s.config, u))
    else {
        return message_page(&s, &q, lang, StatusCode::BAD_REQUEST, "open_from_hotspot");
    };
    let branding = branding(&s, &q);
    let code = match form_code(&branding, q.code.as_deref(), q.terms.as_deref()) {
        Ok(c) => c,
        Err(problem) => return code_page(&s, &h, &q, Some(problem)),
    };
    let id = q.chap_id.as_deref().unwrap_or("");
    let challenge = q.chap_challenge.as_deref().unwrap_or("");
    let password = if id.is_empty() && challenge.is_empty() {
        code.to_string()
    } else {
        match (chap::unescape_octal(id), chap::unescape_octal(challenge)) {
            (Some(i), Some(c)) if !i.is_empty() && !c.is_empty() => chap::answer(&i, code, &c),
            _ => return message_page(&s, &q, lang, StatusCode::BAD_REQUEST, "open_from_hotspot"),
        }
    };
    let mut pairs = vec![("username", code), ("password", password.as_str())];
    if let Some(dst) = onward(q.link_orig.as_deref()) {
        pairs.push(("dst", dst));
    }
    pairs.push(("popup", "true"));
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    let sep = if target.contains('?') { '&' } else { '?' };
    let location = format!("{target}{sep}{query}");
    match HeaderValue::from_str(&location) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => message_page(&s, &q, lang, StatusCode::BAD_REQUEST, "open_from_hotspot"),
    }
}

/// What CoovaChilli's redirect carries (its names), and the form's own
/// fields; unknown fields are ignored.
#[derive(Debug, Default, Deserialize)]
struct Uam {
    res: Option<String>,
    uamip: Option<String>,
    uamport: Option<String>,
    challenge: Option<String>,
    userurl: Option<String>,
    reply: Option<String>,
    timeleft: Option<String>,
    business: Option<String>,
    code: Option<String>,
    terms: Option<String>,
}

impl Uam {
    fn as_hotspot(&self) -> Hotspot {
        Hotspot {
            business: self.business.clone(),
            ..Hotspot::default()
        }
    }

    /// The fields carried through the code page to `/chilli/login`.
    fn fields(&self) -> Vec<(&'static str, Option<&str>)> {
        vec![
            ("uamip", self.uamip.as_deref()),
            ("uamport", self.uamport.as_deref()),
            ("challenge", self.challenge.as_deref()),
            ("userurl", self.userurl.as_deref()),
            ("business", self.business.as_deref()),
        ]
    }
}

/// The hotspot's logon address `http://uamip:uamport/logon`, when uamip is
/// inside `[portal] login_targets` and uamport a port; with the client
/// whose address covers uamip (its `uam_secret`).
fn uam_target<'a>(
    config: &'a Config,
    q: &Uam,
) -> Option<(String, Option<&'a crate::config::ClientConfig>)> {
    let ip: std::net::IpAddr = q.uamip.as_deref()?.trim().parse().ok()?;
    let port: u16 = q.uamport.as_deref()?.trim().parse().ok()?;
    let ip = ip.to_canonical();
    let host = target_host(config, ip, port)?;
    Some((
        format!("http://{host}:{port}/logon"),
        config.find_client(ip),
    ))
}

/// `ip` as a URL's host (`[…]` for IPv6) when it lies inside `[portal]
/// login_targets` and `port` is a port.
fn target_host(config: &Config, ip: std::net::IpAddr, port: u16) -> Option<String> {
    if port == 0 || !config.portal.login_targets.iter().any(|n| n.contains(&ip)) {
        return None;
    }
    Some(match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    })
}

/// CoovaChilli sends the guest here (its `uamserver`): `res=notyet` (or
/// `failed` with the refusal as `reply`) shows the code page,
/// `res=success`/`already` that the guest is online. With the client's
/// `uam_secret`, the redirect's `md` must sign it.
async fn chilli_get(State(s): St, h: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q: Uam = lenient(raw.as_deref().unwrap_or("").as_bytes());
    let t = language(&s, &h);
    let res = q.res.as_deref().unwrap_or("notyet");
    let Some((_, client)) = uam_target(&s.config, &q) else {
        return message_page(
            &s,
            &q.as_hotspot(),
            t,
            StatusCode::BAD_REQUEST,
            "open_from_hotspot",
        );
    };
    if let Some(secret) = client.and_then(|c| c.uam_secret.as_deref()) {
        let raw = raw.unwrap_or_default();
        let signed = raw.rfind("&md=").is_some_and(|i| {
            let url = format!(
                "{}/chilli?{}",
                s.config.portal.public_url.as_deref().unwrap_or(""),
                &raw[..i]
            );
            chap::uam_signed(&url, secret, &raw[i + 4..])
        });
        if !signed {
            return message_page(
                &s,
                &q.as_hotspot(),
                t,
                StatusCode::FORBIDDEN,
                "open_from_hotspot",
            );
        }
    }
    let b = branding(&s, &q.as_hotspot());
    if matches!(res, "success" | "already") {
        let left = q
            .timeleft
            .as_deref()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|secs| time_left_html(&s, &q.as_hotspot(), t, secs))
            .unwrap_or_default();
        let cont = match q
            .userurl
            .as_deref()
            .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        {
            Some(u) => format!(
                "<p><a class=\"button\" href=\"{}\">{}</a></p>\n",
                esc(u),
                esc(t.get("continue"))
            ),
            None => String::new(),
        };
        let body = format!("<p class=\"ok\">{}</p>\n{left}{cont}", esc(t.get("online")));
        return html(StatusCode::OK, page(&b, t, &body));
    }
    let problem = match res {
        "failed" => Some(
            q.reply
                .as_deref()
                .map_or("login_failed", |r| reason_key(&s.config, r)),
        ),
        _ => None,
    };
    let fields = q.fields();
    html(
        StatusCode::OK,
        page(
            &b,
            t,
            &code_form(&s, t, &b, problem, "chilli/login", &fields),
        ),
    )
}

/// The guest typed a code: send the browser to the hotspot's logon with
/// the CHAP answer over the (secret-salted) challenge.
async fn chilli_login(State(s): St, h: HeaderMap, RawForm(form): RawForm) -> Response {
    let q: Uam = lenient(&form);
    if !same_origin(&s.config, &h) {
        return (StatusCode::FORBIDDEN, "cross-site form posts are refused").into_response();
    }
    let t = language(&s, &h);
    let Some((target, client)) = uam_target(&s.config, &q) else {
        return message_page(
            &s,
            &q.as_hotspot(),
            t,
            StatusCode::BAD_REQUEST,
            "open_from_hotspot",
        );
    };
    let b = branding(&s, &q.as_hotspot());
    let fields = q.fields();
    let again = |k: &str| {
        html(
            StatusCode::OK,
            page(
                &b,
                t,
                &code_form(&s, t, &b, Some(k), "chilli/login", &fields),
            ),
        )
    };
    let code = match form_code(&b, q.code.as_deref(), q.terms.as_deref()) {
        Ok(c) => c,
        Err(problem) => return again(problem),
    };
    let secret = client.and_then(|c| c.uam_secret.as_deref());
    let Some(response) = chap::uam_response(q.challenge.as_deref().unwrap_or(""), secret, code)
    else {
        return message_page(
            &s,
            &q.as_hotspot(),
            t,
            StatusCode::BAD_REQUEST,
            "open_from_hotspot",
        );
    };
    let mut pairs = vec![("username", code), ("response", response.as_str())];
    if let Some(u) = onward(q.userurl.as_deref()) {
        pairs.push(("userurl", u));
    }
    let location = format!(
        "{target}?{}",
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    );
    match HeaderValue::from_str(&location) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => message_page(
            &s,
            &q.as_hotspot(),
            t,
            StatusCode::BAD_REQUEST,
            "open_from_hotspot",
        ),
    }
}

/// What a TP-Link Omada controller's "External Web Portal" redirect
/// carries with RADIUS authentication (both spellings the vendor uses),
/// and the form's own fields.
#[derive(Debug, Default, Deserialize)]
struct Omada {
    target: Option<String>,
    #[serde(rename = "targetPort")]
    target_port: Option<String>,
    scheme: Option<String>,
    #[serde(rename = "clientMac")]
    client_mac: Option<String>,
    #[serde(rename = "clientIp", alias = "clientIP")]
    client_ip: Option<String>,
    #[serde(rename = "apMac")]
    ap_mac: Option<String>,
    #[serde(rename = "gatewayMac", alias = "GatewayMac")]
    gateway_mac: Option<String>,
    #[serde(rename = "ssidName")]
    ssid_name: Option<String>,
    #[serde(rename = "radioId")]
    radio_id: Option<String>,
    vid: Option<String>,
    #[serde(rename = "originUrl", alias = "originalUrl")]
    origin_url: Option<String>,
    business: Option<String>,
    code: Option<String>,
    terms: Option<String>,
}

impl Omada {
    fn as_hotspot(&self) -> Hotspot {
        Hotspot {
            business: self.business.clone(),
            ..Hotspot::default()
        }
    }

    /// The fields carried through the code page to the controller.
    fn fields(&self) -> Vec<(&'static str, Option<&str>)> {
        vec![
            ("target", self.target.as_deref()),
            ("targetPort", self.target_port.as_deref()),
            ("scheme", self.scheme.as_deref()),
            ("clientMac", self.client_mac.as_deref()),
            ("clientIp", self.client_ip.as_deref()),
            ("apMac", self.ap_mac.as_deref()),
            ("gatewayMac", self.gateway_mac.as_deref()),
            ("ssidName", self.ssid_name.as_deref()),
            ("radioId", self.radio_id.as_deref()),
            ("vid", self.vid.as_deref()),
            ("originUrl", self.origin_url.as_deref()),
            ("business", self.business.as_deref()),
        ]
    }
}

/// The controller's `…/portal/radius/browserauth`, when its address is
/// inside `[portal] login_targets`.
fn omada_target(config: &Config, q: &Omada) -> Option<String> {
    let ip: std::net::IpAddr = q.target.as_deref()?.trim().parse().ok()?;
    let port: u16 = q.target_port.as_deref()?.trim().parse().ok()?;
    let scheme = match q.scheme.as_deref().map(str::trim) {
        None | Some("") | Some("http") => "http",
        Some("https") => "https",
        _ => return None,
    };
    let host = target_host(config, ip.to_canonical(), port)?;
    Some(format!(
        "{scheme}://{host}:{port}/portal/radius/browserauth"
    ))
}

async fn omada_get(State(s): St, h: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q: Omada = lenient(raw.as_deref().unwrap_or("").as_bytes());
    omada_page(&s, &h, &q, None)
}

async fn omada_post(State(s): St, h: HeaderMap, RawForm(form): RawForm) -> Response {
    let q: Omada = lenient(&form);
    omada_page(&s, &h, &q, None)
}

fn omada_page(s: &PortalState, h: &HeaderMap, q: &Omada, problem: Option<&str>) -> Response {
    let t = language(s, h);
    if omada_target(&s.config, q).is_none() {
        return message_page(
            s,
            &q.as_hotspot(),
            t,
            StatusCode::BAD_REQUEST,
            "open_from_hotspot",
        );
    }
    let b = branding(s, &q.as_hotspot());
    html(
        StatusCode::OK,
        page(
            &b,
            t,
            &code_form(s, t, &b, problem, "omada/login", &q.fields()),
        ),
    )
}

/// The guest typed a code: a form the browser posts to the controller's
/// RADIUS portal login (at once where JavaScript runs; a button where
/// not), which asks radgate over RADIUS.
async fn omada_login(State(s): St, h: HeaderMap, RawForm(form): RawForm) -> Response {
    let q: Omada = lenient(&form);
    if !same_origin(&s.config, &h) {
        return (StatusCode::FORBIDDEN, "cross-site form posts are refused").into_response();
    }
    let t = language(&s, &h);
    let Some(target) = omada_target(&s.config, &q) else {
        return message_page(
            &s,
            &q.as_hotspot(),
            t,
            StatusCode::BAD_REQUEST,
            "open_from_hotspot",
        );
    };
    let b = branding(&s, &q.as_hotspot());
    let code = match form_code(&b, q.code.as_deref(), q.terms.as_deref()) {
        Ok(c) => c,
        Err(problem) => return omada_page(&s, &h, &q, Some(problem)),
    };
    let send = [
        ("clientMac", q.client_mac.as_deref()),
        ("clientIp", q.client_ip.as_deref()),
        ("apMac", q.ap_mac.as_deref()),
        ("gatewayMac", q.gateway_mac.as_deref()),
        ("ssidName", q.ssid_name.as_deref()),
        ("vid", q.vid.as_deref()),
        ("radioId", q.radio_id.as_deref()),
        ("originUrl", onward(q.origin_url.as_deref())),
        ("authType", Some("2")),
        ("username", Some(code)),
        ("password", Some(code)),
    ];
    auto_post(&b, t, &target, &send)
}

/// A page whose form the browser posts to the hotspot's login `target`
/// with `send` (at once where JavaScript runs; a button where not). Its
/// Content-Security-Policy allows that one script and no other.
fn auto_post(b: &Branding, t: &Catalog, target: &str, send: &[(&str, Option<&str>)]) -> Response {
    let fields: String = send.iter().map(|(n, v)| hidden(n, *v)).collect();
    let body = format!(
        "<form id=\"go\" action=\"{}\" method=\"post\">{fields}\
         <button type=\"submit\">{}</button></form>\n<script>{AUTO_SUBMIT}</script>\n",
        esc(target),
        esc(t.get("connect")),
    );
    let mut r = html(StatusCode::OK, page(b, t, &body));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src '{}'; \
         form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'",
        auto_submit_hash()
    )) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

/// What Cisco Meraki's sign-on splash (EXCAP) sends the guest with (its
/// names), and the form's own fields; unknown fields are ignored.
#[derive(Debug, Default, Deserialize)]
struct Meraki {
    login_url: Option<String>,
    continue_url: Option<String>,
    error_message: Option<String>,
    business: Option<String>,
    code: Option<String>,
    terms: Option<String>,
}

impl Meraki {
    fn as_hotspot(&self) -> Hotspot {
        Hotspot {
            business: self.business.clone(),
            ..Hotspot::default()
        }
    }

    fn fields(&self) -> Vec<(&'static str, Option<&str>)> {
        vec![
            ("login_url", self.login_url.as_deref()),
            ("continue_url", self.continue_url.as_deref()),
            ("business", self.business.as_deref()),
        ]
    }
}

/// Where Meraki's `login_url` (or `logout_url`) may point: Meraki's cloud,
/// `https://<shard>.network-auth.com/…`, or a hotspot inside
/// `[portal] login_targets`.
fn meraki_target<'a>(config: &Config, url: &'a str) -> Option<&'a str> {
    let u = url.trim();
    if let Some(rest) = u.strip_prefix("https://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let cloud = host
            .to_ascii_lowercase()
            .strip_suffix(".network-auth.com")
            .is_some_and(|shard| {
                !shard.is_empty()
                    && shard
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            });
        if cloud
            && u.len() <= 2000
            && !u.contains('#')
            && !u.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Some(u);
        }
    }
    login_target(config, u)
}

async fn meraki_get(State(s): St, h: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q: Meraki = lenient(raw.as_deref().unwrap_or("").as_bytes());
    // A failed sign-on comes back with Meraki's error_message (radgate's
    // Reply-Message where Meraki passes it on).
    let problem = q
        .error_message
        .as_deref()
        .filter(|m| !m.trim().is_empty())
        .map(|m| reason_key(&s.config, m));
    meraki_page(&s, &h, &q, problem)
}

fn meraki_page(s: &PortalState, h: &HeaderMap, q: &Meraki, problem: Option<&str>) -> Response {
    let t = language(s, h);
    if q.login_url
        .as_deref()
        .and_then(|u| meraki_target(&s.config, u))
        .is_none()
    {
        return message_page(
            s,
            &q.as_hotspot(),
            t,
            StatusCode::BAD_REQUEST,
            "open_from_hotspot",
        );
    }
    let b = branding(s, &q.as_hotspot());
    html(
        StatusCode::OK,
        page(
            &b,
            t,
            &code_form(s, t, &b, problem, "meraki/login", &q.fields()),
        ),
    )
}

/// The guest typed a code: a form the browser posts to Meraki's
/// `login_url` (username and password: the code), which asks radgate over
/// RADIUS and then sends the browser to radgate's `/meraki/online`.
async fn meraki_login(State(s): St, h: HeaderMap, RawForm(form): RawForm) -> Response {
    let q: Meraki = lenient(&form);
    if !same_origin(&s.config, &h) {
        return (StatusCode::FORBIDDEN, "cross-site form posts are refused").into_response();
    }
    let t = language(&s, &h);
    let Some(target) = q
        .login_url
        .as_deref()
        .and_then(|u| meraki_target(&s.config, u))
    else {
        return message_page(
            &s,
            &q.as_hotspot(),
            t,
            StatusCode::BAD_REQUEST,
            "open_from_hotspot",
        );
    };
    let b = branding(&s, &q.as_hotspot());
    let code = match form_code(&b, q.code.as_deref(), q.terms.as_deref()) {
        Ok(c) => c,
        Err(problem) => return meraki_page(&s, &h, &q, Some(problem)),
    };
    // Meraki appends `?logout_url=…` to success_url: the business goes in
    // the path, not in a query of its own.
    let business: Option<i64> = q.business.as_deref().and_then(|v| v.trim().parse().ok());
    let success = format!(
        "{}/meraki/online{}",
        s.config.portal.public_url.as_deref().unwrap_or(""),
        business.map_or(String::new(), |id| format!("/{id}"))
    );
    let send = [
        ("username", Some(code)),
        ("password", Some(code)),
        ("success_url", Some(success.as_str())),
    ];
    auto_post(&b, t, target, &send)
}

/// Meraki's `success_url`: the guest is online (and may log out through
/// Meraki's `logout_url`).
async fn meraki_online(
    State(s): St,
    h: HeaderMap,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    business: Option<axum::extract::Path<i64>>,
    RawQuery(raw): RawQuery,
) -> Response {
    #[derive(Default, Deserialize)]
    struct Online {
        logout_url: Option<String>,
    }
    let q: Online = lenient(raw.as_deref().unwrap_or("").as_bytes());
    let t = language(&s, &h);
    let hs = Hotspot {
        business: business.map(|axum::extract::Path(id)| id.to_string()),
        ..Hotspot::default()
    };
    let b = branding(&s, &hs);
    let logout = q
        .logout_url
        .as_deref()
        .and_then(|u| meraki_target(&s.config, u))
        .map(|u| {
            format!(
                "<p><a class=\"button\" href=\"{}\">{}</a></p>\n",
                esc(u),
                esc(t.get("log_out"))
            )
        })
        .unwrap_or_default();
    // Meraki passes no time left: where radgate sees the guest's own
    // address, the guest's session tells it.
    let now = chrono::Utc::now().timestamp();
    let left = match super::capport::time_left(&s, peer.ip(), None, now).await {
        Ok(Some(secs)) => time_left_html(&s, &hs, t, secs.max(0) as u64),
        _ => String::new(),
    };
    let body = format!(
        "<p class=\"ok\">{}</p>\n{left}{logout}",
        esc(t.get("online"))
    );
    html(StatusCode::OK, page(&b, t, &body))
}

/// "Time left: 1 h 05 min (until 14:30)", until when on the venue's clock
/// (the page's business's `[[business]] timezone`, else server.timezone);
/// nothing for an absurd value.
fn time_left_html(s: &PortalState, q: &Hotspot, t: &Catalog, secs: u64) -> String {
    if secs > 100 * 365 * 86_400 {
        return String::new();
    }
    let end = chrono::Utc::now() + chrono::Duration::seconds(secs as i64);
    let local = end.with_timezone(&page_zone(&s.config, q));
    let until = if secs < 86_400 {
        local.format("%H:%M").to_string()
    } else {
        local.format("%Y-%m-%d %H:%M").to_string()
    };
    format!(
        "<p>{}: <strong>{}</strong> ({} {})</p>\n",
        esc(t.get("time_left")),
        esc(&duration(secs)),
        esc(t.get("until")),
        esc(&until)
    )
}

/// The zone of the page's business (`business=` of the hotspot's page):
/// its `[[business]] timezone`, else `server.timezone`.
fn page_zone(config: &Config, q: &Hotspot) -> chrono_tz::Tz {
    q.business
        .as_deref()
        .and_then(|b| b.trim().parse::<i64>().ok())
        .map_or(config.server.timezone, |b| config.zone_of(b))
}

/// The one script a portal page runs: post the form to the hotspot.
const AUTO_SUBMIT: &str = "document.getElementById('go').submit();";

/// Its CSP hash (`sha256-…`): the page allows that script and no other.
fn auto_submit_hash() -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(AUTO_SUBMIT.as_bytes()))
    )
}

/// Seconds as `1 h 05 min` / `12 min`.
fn duration(secs: u64) -> String {
    // Whole minutes rounded up first: 3599 s is "1 h 00 min", not "60 min".
    let minutes = secs.div_ceil(60);
    let (h, m) = (minutes / 60, minutes % 60);
    if h > 0 {
        format!("{h} h {m:02} min")
    } else {
        format!("{m} min")
    }
}

/// A query or form body as the hotspots send them: the first of a name
/// that comes twice wins (Omada spells some names two ways: those count as
/// one), undecodable bytes become U+FFFD, and anything unreadable is an
/// empty request (which the handlers refuse with a page).
fn lenient<T: serde::de::DeserializeOwned + Default>(raw: &[u8]) -> T {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(raw).unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    let first: Vec<(String, String)> = pairs
        .into_iter()
        .map(|(k, v)| {
            let k = match k.as_str() {
                "clientIP" => "clientIp".to_string(),
                "GatewayMac" => "gatewayMac".to_string(),
                "originalUrl" => "originUrl".to_string(),
                _ => k,
            };
            (k, v)
        })
        .filter(|(k, _)| seen.insert(k.clone()))
        .collect();
    serde_urlencoded::to_string(&first)
        .ok()
        .and_then(|s| serde_urlencoded::from_str(&s).ok())
        .unwrap_or_default()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

/// Headers on every answer: no framing, no caching, no referrer, a strict
/// Content-Security-Policy (no script at all; the login form may go to the
/// router's http(s) address after it posts here).
async fn headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    // (A page that runs its one script sets its own, with that script's hash.)
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self' http: https:; \
             frame-ancestors 'none'; base-uri 'none'",
        ));
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::CACHE_CONTROL, "no-store");
    r
}

/// A form post from another site is refused (Sec-Fetch-Site, or Origin
/// when the browser sends no Sec-Fetch-Site).
fn same_origin(config: &Config, h: &HeaderMap) -> bool {
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => config
            .portal
            .public_url
            .as_deref()
            .is_some_and(|u| origin_of(u) == origin_of(origin)),
    }
}

/// `scheme://host[:port]` of a URL, lower case, without the scheme's
/// default port (browsers leave `:80` / `:443` out of `Origin`).
fn origin_of(url: &str) -> String {
    let url = url.trim().to_ascii_lowercase();
    let after = url.find("://").map_or(0, |i| i + 3);
    let end = url[after..].find('/').map_or(url.len(), |i| after + i);
    let origin = &url[..end];
    origin
        .strip_prefix("http://")
        .and_then(|h| h.strip_suffix(":80"))
        .map(|h| format!("http://{h}"))
        .or_else(|| {
            origin
                .strip_prefix("https://")
                .and_then(|h| h.strip_suffix(":443"))
                .map(|h| format!("https://{h}"))
        })
        .unwrap_or_else(|| origin.to_string())
}

/// A URL the guest goes on to after login (`dst`, `originUrl`): http(s)
/// only, else none.
fn onward(url: Option<&str>) -> Option<&str> {
    url.map(str::trim).filter(|u| {
        (u.starts_with("http://") || u.starts_with("https://"))
            && u.len() <= 2000
            && !u.chars().any(char::is_control)
    })
}

/// The code a login form carries, or the text key of what is wrong with
/// the form (a code no code looks like; terms not accepted where the
/// business has them).
fn form_code<'a>(
    b: &Branding,
    code: Option<&'a str>,
    terms: Option<&str>,
) -> Result<&'a str, &'static str> {
    let code = typed_code(code).ok_or("check_code")?;
    if b.terms_url.is_some() && terms != Some("on") {
        return Err("terms_required");
    }
    Ok(code)
}

/// A code as typed: trimmed; `None` when empty, too long, or holding what
/// no code holds (control characters, undecodable bytes).
fn typed_code(code: Option<&str>) -> Option<&str> {
    let c = code?.trim();
    (!c.is_empty()
        && c.len() <= 128
        && !c
            .chars()
            .any(|ch| ch.is_control() || ch == char::REPLACEMENT_CHARACTER))
    .then_some(c)
}

/// The router's login address, when it is an http(s) URL whose host is
/// inside `[portal] login_targets`: never send a browser anywhere else.
fn login_target<'a>(config: &Config, url: &'a str) -> Option<&'a str> {
    let url = url.trim();
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    // (A fragment would swallow the credentials appended to it.)
    if url.len() > 2000
        || url.contains('#')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    let authority = rest.split(['/', '?']).next()?;
    if authority.contains('@') {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, rest) = v6.split_once(']')?;
        (h, rest.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if let Some(p) = port {
        if !matches!(p.parse::<u16>(), Ok(1..)) {
            return None;
        }
    }
    let p = &config.portal;
    let ok = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => p
            .login_targets
            .iter()
            .any(|n| n.contains(&ip.to_canonical())),
        Err(_) => p.login_hosts.iter().any(|n| n.eq_ignore_ascii_case(host)),
    };
    ok.then_some(url)
}

fn language<'a>(s: &'a PortalState, h: &HeaderMap) -> &'a Catalog {
    let al = h
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let langs: Vec<&str> = s.catalogs.iter().map(|c| c.lang.as_str()).collect();
    let pick = i18n::pick(al, &langs).unwrap_or("en");
    s.catalogs
        .iter()
        .find(|c| c.lang == pick)
        .or(s.catalogs.first())
        .expect("the built-in languages")
}

fn branding(s: &PortalState, q: &Hotspot) -> Branding {
    q.business
        .as_deref()
        .and_then(|b| b.trim().parse::<i64>().ok())
        .and_then(|b| s.config.branding.get(&b).cloned())
        .unwrap_or_default()
}

/// The key of a refusal text the router shows (`$(error)`): one of the
/// `[messages]`, else a generic failure.
fn reason_key(config: &Config, error: &str) -> &'static str {
    let e = error.trim();
    config
        .messages
        .by_key()
        .into_iter()
        .find(|(t, _)| *t == e)
        .map_or("login_failed", |(_, k)| k)
}

fn hidden(name: &str, v: Option<&str>) -> String {
    match v {
        Some(v) if !v.is_empty() => format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            esc(v)
        ),
        _ => String::new(),
    }
}

fn page(b: &Branding, t: &Catalog, body: &str) -> String {
    let logo = super::logo_html(b);
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{name}</title>\n<style>\n{css}</style></head>\n\
         <body><main>\n{logo}<h1>{name}</h1>\n{body}</main></body></html>\n",
        lang = esc(&t.lang),
        name = esc(b.heading(t.get("title"))),
        css = super::css(&b.accent_color),
    )
}

/// The page with the code field; `problem`, a text key to show, else the
/// router's `error` translated.
fn code_page(s: &PortalState, h: &HeaderMap, q: &Hotspot, problem: Option<&str>) -> Response {
    let t = language(s, h);
    if q.link_login_only
        .as_deref()
        .and_then(|u| login_target(&s.config, u))
        .is_none()
    {
        return message_page(s, q, t, StatusCode::BAD_REQUEST, "open_from_hotspot");
    }
    let b = branding(s, q);
    let error = match (problem, q.error.as_deref().map(str::trim)) {
        (Some(k), _) => Some(k),
        (None, Some(e)) if !e.is_empty() => Some(reason_key(&s.config, e)),
        _ => None,
    };
    let fields = [
        ("link-login-only", q.link_login_only.as_deref()),
        ("link-orig", q.link_orig.as_deref()),
        ("chap-id", q.chap_id.as_deref()),
        ("chap-challenge", q.chap_challenge.as_deref()),
        ("business", q.business.as_deref()),
    ];
    html(
        StatusCode::OK,
        page(
            &b,
            t,
            &code_form(s, t, &b, error, "mikrotik/login", &fields),
        ),
    )
}

/// The form for the code: `error`, a text key to show; the hidden `fields`
/// carried to `action`.
fn code_form(
    s: &PortalState,
    t: &Catalog,
    b: &Branding,
    error: Option<&str>,
    action: &str,
    fields: &[(&str, Option<&str>)],
) -> String {
    let error = error
        .map(|k| format!("<p class=\"error\" role=\"alert\">{}</p>\n", esc(t.get(k))))
        .unwrap_or_default();
    let terms = match &b.terms_url {
        Some(url) => super::terms_html(url, t.get("terms"), true, false),
        None => String::new(),
    };
    let caps = if s.config.auth.case_sensitive_codes {
        "off"
    } else {
        "characters"
    };
    let hidden: String = fields.iter().map(|(n, v)| hidden(n, *v)).collect();
    format!(
        "{error}<form action=\"{action}\" method=\"post\">\n{hidden}\n\
         <label for=\"code\">{label}</label>\n\
         <input id=\"code\" name=\"code\" type=\"text\" required autofocus maxlength=\"128\" \
         autocomplete=\"one-time-code\" autocapitalize=\"{caps}\" autocorrect=\"off\" spellcheck=\"false\">\n\
         {terms}<button type=\"submit\">{connect}</button>\n</form>\n",
        action = esc(action),
        label = esc(t.get("code_label")),
        connect = esc(t.get("connect")),
    )
}

fn message_page(
    s: &PortalState,
    q: &Hotspot,
    t: &Catalog,
    status: StatusCode,
    key: &str,
) -> Response {
    let b = branding(s, q);
    let body = format!(
        "<p class=\"error\" role=\"alert\">{}</p>\n",
        esc(t.get(key))
    );
    html(status, page(&b, t, &body))
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_left_is_on_the_clock_of_the_page_s_business() {
        let mut c = Config::builtin_default();
        c.server.timezone = chrono_tz::Europe::London;
        c.business_timezones.insert(2, chrono_tz::America::New_York);
        let page = |business: Option<&str>| Hotspot {
            business: business.map(str::to_string),
            ..Hotspot::default()
        };
        assert_eq!(
            page_zone(&c, &page(Some(" 2"))),
            chrono_tz::America::New_York
        );
        assert_eq!(page_zone(&c, &page(Some("3"))), chrono_tz::Europe::London);
        assert_eq!(page_zone(&c, &page(Some("x"))), chrono_tz::Europe::London);
        assert_eq!(page_zone(&c, &page(None)), chrono_tz::Europe::London);
    }

    fn config() -> Config {
        let mut c = Config::builtin_default();
        c.portal.public_url = Some("http://wifi.example.net:8081".into());
        c.portal.login_hosts = vec!["hotspot.lan".into()];
        c
    }

    #[test]
    fn only_login_targets_inside_the_configured_ranges() {
        let c = config();
        for ok in [
            "http://10.5.50.1/login",
            "https://192.168.88.1:8443/login?x=1",
            "http://hotspot.lan/login",
            "http://HOTSPOT.lan:80/login",
        ] {
            assert_eq!(login_target(&c, ok), Some(ok), "{ok}");
        }
        for bad in [
            "http://203.0.113.5/login",
            "http://evil.example/login",
            "javascript:alert(1)",
            "//10.5.50.1/login",
            "http://10.5.50.1@evil.example/login",
            "http://evil.example#@10.5.50.1/",
            "ftp://10.5.50.1/",
            "http://10.5.50.1/lo gin",
            "http://[2001:db8::1]/login",
            "http://10.5.50.1/login#x",
            "http://10.5.50.1:0/login",
            "http://10.5.50.1:99999/login",
            "http://10.5.50.1:/login",
            "",
        ] {
            assert_eq!(login_target(&c, bad), None, "{bad}");
        }
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let c = config();
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            h
        };
        assert!(same_origin(&c, &h(&[])));
        assert!(same_origin(&c, &h(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&c, &h(&[("sec-fetch-site", "cross-site")])));
        assert!(same_origin(
            &c,
            &h(&[("origin", "http://wifi.example.net:8081")])
        ));
        assert!(!same_origin(&c, &h(&[("origin", "http://evil.example")])));
        // Browsers leave the scheme's default port out of Origin.
        let mut d = config();
        d.portal.public_url = Some("http://wifi.example.net:80".into());
        assert!(same_origin(
            &d,
            &h(&[("origin", "http://wifi.example.net")])
        ));
        assert!(same_origin(
            &d,
            &h(&[("origin", "HTTP://WIFI.example.net")])
        ));
        d.portal.public_url = Some("https://wifi.example.net".into());
        assert!(same_origin(
            &d,
            &h(&[("origin", "https://wifi.example.net:443")])
        ));
        assert!(!same_origin(
            &d,
            &h(&[("origin", "http://wifi.example.net")])
        ));
    }

    #[test]
    fn only_web_addresses_to_go_on_to_and_codes_as_typed() {
        assert_eq!(
            onward(Some("http://example.com/")),
            Some("http://example.com/")
        );
        assert_eq!(onward(Some("javascript:alert(1)")), None);
        assert_eq!(onward(Some("data:text/html,x")), None);
        assert_eq!(onward(None), None);
        assert_eq!(typed_code(Some("  welcome1 ")), Some("welcome1"));
        assert_eq!(typed_code(Some("\u{fffd}\u{fffd}")), None);
        assert_eq!(typed_code(Some("a\nb")), None);
        assert_eq!(typed_code(Some("   ")), None);
        assert_eq!(typed_code(Some(&"A".repeat(129))), None);
    }

    #[test]
    fn a_name_twice_keeps_the_first() {
        let q: Hotspot = lenient(b"code=A&code=B&link-login-only=http%3A%2F%2F10.5.50.1%2F");
        assert_eq!(q.code.as_deref(), Some("A"));
        let o: Omada =
            lenient(b"clientIp=10.0.0.5&clientIP=10.0.0.6&originalUrl=http%3A%2F%2Fx%2F");
        assert_eq!(o.client_ip.as_deref(), Some("10.0.0.5"));
        assert_eq!(o.origin_url.as_deref(), Some("http://x/"));
        let bad: Hotspot = lenient(b"code=%FF%FE");
        assert_eq!(bad.code.as_deref(), Some("\u{fffd}\u{fffd}"));
    }

    #[test]
    fn durations_round_up_to_whole_minutes() {
        assert_eq!(duration(3600), "1 h 00 min");
        assert_eq!(duration(3599), "1 h 00 min");
        assert_eq!(duration(3601), "1 h 01 min");
        assert_eq!(duration(59), "1 min");
        assert_eq!(duration(3900), "1 h 05 min");
    }

    #[test]
    fn refusals_map_to_their_text() {
        let c = config();
        assert_eq!(reason_key(&c, "Unknown access code"), "unknown_code");
        assert_eq!(
            reason_key(&c, " Too many devices are using this access code "),
            "user_limit_reached"
        );
        assert_eq!(
            reason_key(&c, "RADIUS server is not responding"),
            "login_failed"
        );
    }
}
