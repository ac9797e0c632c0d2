//! The Captive Portal API (RFC 8908) for phones that learn its address
//! from the network (DHCP option 114, RFC 8910): `GET /capport/<client>`
//! answers `application/captive+json` for the hotspot `[[client]]` of that
//! name — whether the asking device is online (an open session whose
//! Framed-IP-Address is the address the request comes from, through that
//! hotspot), the time it has left, and `user-portal-url`: radgate's
//! `/capport/<client>/login`, which sends the browser to the hotspot's
//! `hotspot_login_url`, where the hotspot's own login starts (and sends the
//! guest on to the code page with its variables).
//!
//! A device is told it is online only when radgate sees its own address:
//! behind NAT every guest looks like the router and stays "captive". IPv4
//! only (sessions record Framed-IP-Address).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::server::PortalState;
use crate::config::ClientConfig;
use crate::store::SessionFilter;

/// The API's media type (RFC 8908 §5).
pub const MEDIA_TYPE: &str = "application/captive+json";

fn client<'a>(s: &'a PortalState, name: &str) -> Option<(&'a ClientConfig, &'a str)> {
    s.config
        .clients
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| Some((c, c.hotspot_login_url.as_deref()?)))
}

/// `user-portal-url`: the portal's own address (HTTPS where the portal
/// serves it) for this hotspot.
fn user_portal_url(s: &PortalState, name: &str) -> String {
    let name: String = serde_urlencoded::to_string([("", name)])
        .unwrap_or_default()
        .trim_start_matches('=')
        .replace('+', "%20");
    format!(
        "{}/capport/{name}/login",
        s.config.portal.public_url.as_deref().unwrap_or("")
    )
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

pub async fn api(
    State(s): State<Arc<PortalState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Response {
    let Some((client, _)) = client(&s, &name) else {
        return captive_json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": "no hotspot of that name with a hotspot_login_url"}),
        );
    };
    let portal = user_portal_url(&s, &name);
    let now = chrono::Utc::now().timestamp();
    let ip = peer.ip().to_canonical().to_string();
    let filter = SessionFilter {
        active: true,
        framed_ip: Some(ip),
        limit: 20,
        ..SessionFilter::default()
    };
    let sessions = match s.store.list_sessions(&filter, now).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "captive portal API: the store did not answer");
            return captive_json(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"error": "the store did not answer"}),
            );
        }
    };
    // The same private address may be in use at another venue: only a
    // session through this hotspot counts.
    let open = sessions.into_iter().find(|x| {
        x.state == "active"
            && x.nas
                .parse::<std::net::IpAddr>()
                .is_ok_and(|nas| client.network.contains(&nas))
    });
    let Some(open) = open else {
        return captive_json(
            StatusCode::OK,
            serde_json::json!({"captive": true, "user-portal-url": portal}),
        );
    };
    let token = match s.store.token_by_id(open.token_id).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            return captive_json(
                StatusCode::OK,
                serde_json::json!({"captive": true, "user-portal-url": portal}),
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "captive portal API: the store did not answer");
            return captive_json(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"error": "the store did not answer"}),
            );
        }
    };
    let end = crate::policy::auth::window_end(
        token.valid_to,
        token.valid_for_minutes,
        token.first_used_on,
        now,
    );
    let left = seconds_remaining(
        crate::policy::auth::seconds_left(token.minutes_included, token.seconds_used),
        open.updated_at,
        end,
        now,
    );
    captive_json(
        StatusCode::OK,
        serde_json::json!({
            "captive": false,
            "user-portal-url": portal,
            "seconds-remaining": left,
            "can-extend-session": false,
        }),
    )
}

/// `user-portal-url`: on to where the hotspot's login starts.
pub async fn login(State(s): State<Arc<PortalState>>, Path(name): Path<String>) -> Response {
    match client(&s, &name).and_then(|(_, url)| HeaderValue::from_str(url).ok()) {
        Some(to) => (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response(),
        None => (StatusCode::NOT_FOUND, "no hotspot of that name").into_response(),
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
