//! The Captive Portal API (RFC 8908) for phones that learn its address
//! from the network (DHCP option 114, RFC 8910): `GET
//! /captive-portal/api[?hotspot=<client name>]` answers
//! `application/captive+json` — whether the asking device is online (an
//! open session whose Framed-IP-Address is the address the request comes
//! from), the time it has left, and `user-portal-url`: radgate's
//! `/captive-portal/login[?hotspot=…]`, which sends the browser to the
//! hotspot's `hotspot_login_url`, where the hotspot's own login starts (and
//! sends the guest on to the code page with its variables).
//!
//! `hotspot` names the `[[client]]`; it may be left out when only one
//! client has a `hotspot_login_url`. With it, only a session through that
//! hotspot counts (the same private address may be in use at another
//! venue).
//!
//! A device is told it is online only when radgate sees its own address:
//! behind NAT every guest looks like the router and stays "captive". IPv4
//! only (sessions record Framed-IP-Address).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::server::PortalState;
use crate::config::ClientConfig;
use crate::store::SessionFilter;

/// The API's media type (RFC 8908 §5).
pub const MEDIA_TYPE: &str = "application/captive+json";

#[derive(Default, Deserialize)]
struct Which {
    hotspot: Option<String>,
}

/// The hotspot a request is about: the named `[[client]]` (404 when there
/// is none with a `hotspot_login_url`), else the only client with one, else
/// none in particular.
fn hotspot<'a>(s: &'a PortalState, raw: Option<&str>) -> Result<Option<&'a ClientConfig>, ()> {
    let which: Which = serde_urlencoded::from_str(raw.unwrap_or("")).unwrap_or_default();
    let mut with_login = s
        .config
        .clients
        .iter()
        .filter(|c| c.hotspot_login_url.is_some());
    match which.hotspot.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => with_login.find(|c| c.name == name).map(Some).ok_or(()),
        _ => {
            let first = with_login.next();
            Ok(if with_login.next().is_none() {
                first
            } else {
                None
            })
        }
    }
}

/// `user-portal-url`: the portal's own address (HTTPS where the portal
/// serves it), naming the hotspot when more than one could be meant.
fn user_portal_url(s: &PortalState, client: &ClientConfig) -> String {
    let base = s.config.portal.public_url.as_deref().unwrap_or("");
    let several = s
        .config
        .clients
        .iter()
        .filter(|c| c.hotspot_login_url.is_some())
        .count()
        > 1;
    if several {
        let q = serde_urlencoded::to_string([("hotspot", client.name.as_str())])
            .unwrap_or_default()
            .replace('+', "%20");
        format!("{base}/captive-portal/login?{q}")
    } else {
        format!("{base}/captive-portal/login")
    }
}

fn captive_json(status: StatusCode, body: serde_json::Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    // Per device, and changes at login: the portal's pages all go out
    // with `Cache-Control: no-store` (server.rs), this answer too.
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    r
}

/// Seconds a device has left: what the code had at its last accounting
/// update, less the time since that update, and no later than the end of
/// its validity window; never below 0.
pub fn seconds_remaining(
    left_at_update: i64,
    updated_at: i64,
    window_end: Option<i64>,
    now: i64,
) -> i64 {
    let mut left = left_at_update.saturating_sub(now.saturating_sub(updated_at).max(0));
    if let Some(end) = window_end {
        left = left.min(end.saturating_sub(now));
    }
    left.max(0)
}

fn unavailable(e: &dyn std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "captive portal API: the store did not answer");
    captive_json(
        StatusCode::SERVICE_UNAVAILABLE,
        serde_json::json!({"error": "the store did not answer"}),
    )
}

pub async fn api(
    State(s): State<Arc<PortalState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Ok(client) = hotspot(&s, raw.as_deref()) else {
        return captive_json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": "no [[client]] of that name with a hotspot_login_url"}),
        );
    };
    let mut answer = serde_json::Map::new();
    answer.insert("captive".into(), true.into());
    if let Some(c) = client {
        answer.insert("user-portal-url".into(), user_portal_url(&s, c).into());
    }
    let now = chrono::Utc::now().timestamp();
    let (left, bytes) = match remaining(&s, peer.ip(), client, now).await {
        Ok(Some(left)) => left,
        Ok(None) => return captive_json(StatusCode::OK, answer.into()),
        Err(e) => return unavailable(&e),
    };
    answer.insert("captive".into(), false.into());
    answer.insert("seconds-remaining".into(), left.into());
    // RFC 8908 bytes-remaining: what the code's data allowance had left at
    // its last accounting update (SPEC §12); absent without one.
    if let Some(b) = bytes {
        answer.insert("bytes-remaining".into(), b.into());
    }
    answer.insert("can-extend-session".into(), false.into());
    captive_json(StatusCode::OK, answer.into())
}

/// Seconds left to the device at `ip` when it has an open session (through
/// `client` when given), else `None`.
pub async fn time_left(
    s: &PortalState,
    ip: std::net::IpAddr,
    client: Option<&ClientConfig>,
    now: i64,
) -> Result<Option<i64>, crate::store::StoreError> {
    Ok(remaining(s, ip, client, now).await?.map(|(secs, _)| secs))
}

/// [`time_left`], with the bytes left of the code's data allowance (`None`
/// without one).
async fn remaining(
    s: &PortalState,
    ip: std::net::IpAddr,
    client: Option<&ClientConfig>,
    now: i64,
) -> Result<Option<(i64, Option<i64>)>, crate::store::StoreError> {
    let filter = SessionFilter {
        active: true,
        framed_ip: Some(ip.to_canonical().to_string()),
        limit: 20,
        ..SessionFilter::default()
    };
    let sessions = s.store.list_sessions(&filter, now).await?;
    let open = sessions.into_iter().find(|x| {
        x.state == "active"
            && client.is_none_or(|c| {
                x.nas
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|nas| c.network.contains(&nas))
            })
    });
    let Some(open) = open else {
        return Ok(None);
    };
    let Some(token) = s.store.token_by_id(open.token_id).await? else {
        return Ok(None);
    };
    let end = crate::policy::auth::window_end(
        token.valid_to,
        token.valid_for_minutes,
        token.first_used_on,
        now,
    );
    Ok(Some((
        seconds_remaining(
            crate::policy::auth::seconds_left(token.minutes_included, token.seconds_used),
            open.updated_at,
            end,
            now,
        ),
        crate::policy::auth::bytes_left(token.megabytes_included, token.bytes_used),
    )))
}

/// `user-portal-url`: on to where the hotspot's login starts.
pub async fn login(State(s): State<Arc<PortalState>>, RawQuery(raw): RawQuery) -> Response {
    let to = hotspot(&s, raw.as_deref())
        .ok()
        .flatten()
        .and_then(|c| c.hotspot_login_url.as_deref())
        .and_then(|u| HeaderValue::from_str(u).ok());
    match to {
        Some(to) => (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "name the hotspot: ?hotspot=<its [[client]] name>",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::seconds_remaining;

    #[test]
    fn time_left_counts_down_from_the_last_update_and_stops_at_the_window() {
        assert_eq!(seconds_remaining(3600, 1000, None, 1000), 3600);
        assert_eq!(seconds_remaining(3600, 1000, None, 1600), 3000);
        assert_eq!(seconds_remaining(3600, 1000, Some(1900), 1600), 300);
        assert_eq!(seconds_remaining(100, 1000, None, 5000), 0);
        assert_eq!(seconds_remaining(3600, 1000, Some(900), 1000), 0);
        // An update stamped ahead of this node's clock counts nothing back.
        assert_eq!(seconds_remaining(3600, 2000, None, 1000), 3600);
    }
}
