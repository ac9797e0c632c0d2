//! Signing in to the web UI: a server-side session per sign-in (the
//! cookie holds a random id, the database its SHA-256), ended by signing
//! out, by 30 minutes without a request, after 12 hours, or when the
//! operator is removed or gets a new password. Sign-in attempts are
//! throttled per name (5 failures in 15 minutes) and per address (20). Every request that changes
//! something must come from the UI's own pages (Sec-Fetch-Site, or Origin
//! against Host): else 403 and nothing changes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{html, message, UiState};
use crate::store::operators::{
    dummy_hash, new_session_id, session_hash, verify_password, Operator,
};

/// The cookie's name.
pub const COOKIE: &str = "radgate_session";
/// A session unused this long ends.
pub const IDLE_TIMEOUT: i64 = 30 * 60;
/// A session ends this long after sign-in, used or not.
pub const ABSOLUTE_TIMEOUT: i64 = 12 * 3600;
/// last_seen is written at most this often per session.
const TOUCH_EVERY: i64 = 60;
/// Failed sign-ins allowed per name within the window.
const MAX_FAILURES: u32 = 5;
/// Failed sign-ins allowed per client address within the window (higher:
/// operators behind one proxy or NAT share an address).
const MAX_FAILURES_PER_ADDRESS: u32 = 20;
const FAILURE_WINDOW: i64 = 15 * 60;

/// Sign-in attempts per name and per client address, in memory (per
/// node). An attempt is counted before its password is checked (so that
/// guesses sent in parallel cannot slip past the limit) and taken back
/// when it succeeds. The table holds at most [`MAX_ENTRIES`] keys.
#[derive(Default)]
pub struct SignInThrottle {
    failures: Mutex<HashMap<String, (u32, i64)>>,
}

/// Keys the throttle remembers at most (names are at most 64 characters).
const MAX_ENTRIES: usize = 10_000;

impl SignInThrottle {
    fn keys(name: Option<&str>, ip: std::net::IpAddr) -> Vec<String> {
        let mut k = vec![format!("ip:{}", ip.to_canonical())];
        if let Some(n) = name {
            k.push(format!("name:{n}"));
        }
        k
    }

    /// Whether an attempt may be made now; if so it is counted (as a
    /// failure until [`Self::succeeded`]). `name` is `None` for a name
    /// no operator can have (only the address counts then).
    pub fn attempt(&self, name: Option<&str>, ip: std::net::IpAddr, now: i64) -> bool {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let keys = Self::keys(name, ip);
        let blocked = keys.iter().any(|k| match f.get(k) {
            Some((n, since)) => {
                let max = if k.starts_with("ip:") {
                    MAX_FAILURES_PER_ADDRESS
                } else {
                    MAX_FAILURES
                };
                *n >= max && now - since < FAILURE_WINDOW
            }
            None => false,
        });
        if blocked {
            return false;
        }
        if f.len() + keys.len() > MAX_ENTRIES {
            f.retain(|_, (_, since)| now - *since < FAILURE_WINDOW);
        }
        if f.len() + keys.len() > MAX_ENTRIES {
            // Still full: forget the oldest counts rather than grow.
            let mut by_age: Vec<(i64, String)> = f
                .iter()
                .map(|(k, (_, since))| (*since, k.clone()))
                .collect();
            by_age.sort_unstable();
            for (_, k) in by_age.into_iter().take(MAX_ENTRIES / 10) {
                f.remove(&k);
            }
        }
        for k in keys {
            let e = f.entry(k).or_insert((0, now));
            if now - e.1 >= FAILURE_WINDOW {
                *e = (0, now);
            }
            e.0 += 1;
        }
        true
    }

    /// The attempt succeeded: it does not count against the name or the
    /// address.
    pub fn succeeded(&self, name: &str, ip: std::net::IpAddr) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for k in Self::keys(Some(name), ip) {
            if let Some(e) = f.get_mut(&k) {
                e.0 = e.0.saturating_sub(1);
            }
        }
        f.remove(&format!("name:{name}"));
    }
}

/// The session id in the request's cookies, if any.
fn cookie_id(h: &HeaderMap) -> Option<String> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= 100)
}

fn set_cookie(value: &str, https: bool, clear: bool) -> HeaderValue {
    let mut c = format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict");
    if https {
        c.push_str("; Secure");
    }
    if clear {
        c.push_str("; Max-Age=0");
    }
    HeaderValue::from_str(&c)
        .unwrap_or_else(|_| HeaderValue::from_static("radgate_session=; Max-Age=0"))
}

/// A signed-in operator: pages take it as an argument. Without a valid
/// session the browser is sent to `/login`.
pub struct Signed(pub Operator);

impl FromRequestParts<Arc<UiState>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        s: &Arc<UiState>,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || Redirect::to("/login").into_response();
        let Some(id) = cookie_id(&parts.headers) else {
            return Err(to_login());
        };
        let hash = session_hash(&id);
        let now = chrono::Utc::now().timestamp();
        let found = match s.store.web_session(&hash).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "web UI: the store did not answer");
                return Err(message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    "Try again",
                    "The database did not answer. Try again in a moment.",
                ));
            }
        };
        let Some((op, created, last_seen)) = found else {
            return Err(to_login());
        };
        if op.disabled_on.is_some()
            || now - last_seen >= IDLE_TIMEOUT
            || now - created >= ABSOLUTE_TIMEOUT
        {
            let _ = s.store.end_web_session(&hash).await;
            return Err(to_login());
        }
        if now - last_seen >= TOUCH_EVERY {
            let _ = s.store.touch_web_session(&hash, now).await;
        }
        Ok(Signed(op))
    }
}

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    operator: Option<&'a Operator>,
    page: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

pub async fn login_page(State(s): State<Arc<UiState>>, h: HeaderMap) -> Response {
    if let Some(id) = cookie_id(&h) {
        if let Ok(Some((op, created, last_seen))) = s.store.web_session(&session_hash(&id)).await {
            let now = chrono::Utc::now().timestamp();
            if op.disabled_on.is_none()
                && now - last_seen < IDLE_TIMEOUT
                && now - created < ABSOLUTE_TIMEOUT
            {
                return Redirect::to("/tokens").into_response();
            }
        }
    }
    html(
        StatusCode::OK,
        &LoginPage {
            operator: None,
            page: "login",
            username: "",
            error: None,
        },
    )
}

#[derive(Deserialize)]
pub struct SignIn {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

pub async fn login(
    State(s): State<Arc<UiState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(f): Form<SignIn>,
) -> Response {
    let now = chrono::Utc::now().timestamp();
    // A name no operator can have, or an absurd password: refused like a
    // wrong password, without looking further; only the address counts.
    let valid = crate::store::operators::check_name(&f.username)
        .ok()
        .map(str::to_string)
        .filter(|_| f.password.len() <= 1024);
    let name = valid.clone().unwrap_or_default();
    let again = |status: StatusCode, error: &str| {
        html(
            status,
            &LoginPage {
                operator: None,
                page: "login",
                username: &name,
                error: Some(error),
            },
        )
    };
    if !s.throttle.attempt(valid.as_deref(), peer.ip(), now) {
        tracing::warn!(operator = ?name, "web UI: sign-in refused, too many failed attempts");
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts. Wait a few minutes and try again.",
        );
    }
    if valid.is_none() {
        return again(StatusCode::UNAUTHORIZED, "Wrong name or password.");
    }
    let found = match s.store.operator_password(&name).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "web UI: the store did not answer");
            return again(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database did not answer. Try again in a moment.",
            );
        }
    };
    // Argon2 takes tens of milliseconds: off the async threads. An unknown
    // name is checked against a dummy hash, so that it takes as long.
    let password = f.password;
    let (op, ok) = match found {
        Some((op, hash)) => {
            let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
                .await
                .unwrap_or(false);
            (Some(op), ok)
        }
        None => {
            let _ =
                tokio::task::spawn_blocking(move || verify_password(&password, dummy_hash())).await;
            (None, false)
        }
    };
    let op = match op {
        Some(op) if ok && op.disabled_on.is_none() => op,
        _ => {
            tracing::info!(operator = ?name, "web UI: sign-in failed");
            return again(StatusCode::UNAUTHORIZED, "Wrong name or password.");
        }
    };
    s.throttle.succeeded(&name, peer.ip());
    let _ = s
        .store
        .sweep_web_sessions(now - IDLE_TIMEOUT, now - ABSOLUTE_TIMEOUT)
        .await;
    let id = new_session_id();
    if let Err(e) = s
        .store
        .create_web_session(&session_hash(&id), op.id, now)
        .await
    {
        tracing::warn!(error = %e, "web UI: the store did not answer");
        return again(
            StatusCode::SERVICE_UNAVAILABLE,
            "The database did not answer. Try again in a moment.",
        );
    }
    tracing::info!(operator = %op.name, role = op.role.as_str(), "web UI: signed in");
    let mut r = Redirect::to("/tokens").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&id, s.https, false));
    r
}

pub async fn logout(State(s): State<Arc<UiState>>, h: HeaderMap) -> Response {
    if let Some(id) = cookie_id(&h) {
        let _ = s.store.end_web_session(&session_hash(&id)).await;
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, set_cookie("", s.https, true));
    r
}

/// A request that may change something (not GET or HEAD) must come from
/// the UI's own pages: `Sec-Fetch-Site: same-origin` (or `none`, typed by
/// the user), or where a browser sends no Sec-Fetch-Site, an `Origin` whose
/// host is the request's `Host`. Else 403 and the handler does not run.
pub async fn same_origin_writes(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let h = req.headers();
    let ok = match h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => matches!(site, "same-origin" | "none"),
        None => match h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            None => true,
            Some(origin) => {
                let host = h
                    .get(header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let o = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
                !host.is_empty() && o.eq_ignore_ascii_case(host)
            }
        },
    };
    if ok {
        next.run(req).await
    } else {
        message(
            StatusCode::FORBIDDEN,
            None,
            "Refused",
            "This form was sent from another site, so nothing was changed.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_counts_per_name_and_address_and_forgets() {
        let t = SignInThrottle::default();
        let ip: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        let other: std::net::IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(t.attempt(Some("anna"), ip, 1000));
        }
        assert!(!t.attempt(Some("anna"), ip, 1000));
        assert!(
            !t.attempt(Some("anna"), other, 1000),
            "the name, from anywhere"
        );
        assert!(
            t.attempt(Some("Anna"), other, 1000),
            "names are case-sensitive"
        );
        for i in 0..(MAX_FAILURES_PER_ADDRESS - MAX_FAILURES) {
            assert!(t.attempt(Some(&format!("n{i}")), ip, 1000));
        }
        assert!(
            !t.attempt(Some("bob"), ip, 1000),
            "the address, for any name"
        );
        assert!(t.attempt(Some("anna"), ip, 1000 + FAILURE_WINDOW));
        // A success does not count.
        let t = SignInThrottle::default();
        for _ in 0..10 {
            assert!(t.attempt(Some("anna"), ip, 1000));
            t.succeeded("anna", ip);
        }
        // The table stays bounded.
        let t = SignInThrottle::default();
        for i in 0..(MAX_ENTRIES as u32 + 500) {
            let ip = std::net::IpAddr::V4(std::net::Ipv4Addr::from(i));
            t.attempt(None, ip, 1000);
        }
        assert!(t.failures.lock().unwrap().len() <= MAX_ENTRIES);
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; radgate_session=abc; b=2"),
        );
        assert_eq!(cookie_id(&h).as_deref(), Some("abc"));
        let c = set_cookie("abc", true, false);
        assert_eq!(
            c.to_str().unwrap(),
            "radgate_session=abc; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
    }
}
