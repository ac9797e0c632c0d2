//! The UI's pages. Each takes the signed-in operator ([`Signed`]), checks
//! the role the page needs, and shows only codes of businesses the
//! operator may see (another business's code is "not found", as if it did
//! not exist). A code's times are shown in the zone of its business
//! (`[[business]] timezone`, else `[server] timezone`); what spans
//! businesses (operators, the audit log) in `[server] timezone`.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::auth::Signed;
use super::{html, message, store_trouble, UiState};
use crate::store::operators::{Operator, Role};
use crate::store::SessionFilter;
use crate::token::filter::TokenFilter;
use crate::token::parse::{duration_words, format_local};
use crate::token::{ts, AccessToken, Usability};

/// Search results shown at most.
const PAGE_SIZE: i64 = 100;

#[derive(Template)]
#[template(path = "message.html")]
pub struct Message<'a> {
    pub operator: Option<&'a Operator>,
    pub page: &'a str,
    pub title: &'a str,
    pub text: &'a str,
}

/// A code's state in words, and its colour (`ok`, `warn`, `bad`, or none).
pub fn status_words(t: &AccessToken, devices_online: usize, now: i64) -> (String, &'static str) {
    match t.usability(now) {
        Usability::NotYetValid => ("not valid yet".into(), "warn"),
        Usability::Expired => ("expired".into(), "bad"),
        Usability::Spent => ("spent".into(), "bad"),
        Usability::UsedUp => ("used up".into(), "bad"),
        Usability::Usable if devices_online == 1 => ("active on 1 device".into(), "ok"),
        Usability::Usable if devices_online > 1 => {
            (format!("active on {devices_online} devices"), "ok")
        }
        Usability::Usable if t.last_access.is_none() => ("unused".into(), ""),
        Usability::Usable => ("valid, not online".into(), ""),
    }
}

pub(super) fn when(v: Option<i64>, tz: chrono_tz::Tz, none: &str) -> String {
    v.map(|s| format_local(ts(s), tz))
        .unwrap_or_else(|| none.to_string())
}

fn minutes_text(m: i64) -> String {
    if m <= 0 {
        "none".into()
    } else {
        duration_words(m)
    }
}

/// Time left, with the data left for a code with an allowance:
/// `45 minutes · 120 MB`.
fn left_text(t: &AccessToken) -> String {
    match t.megabytes_left() {
        None => minutes_text(t.minutes_left()),
        Some(mb) => format!(
            "{} · {}",
            minutes_text(t.minutes_left()),
            if mb <= 0 {
                "no data".into()
            } else {
                crate::token::format_megabytes(mb)
            }
        ),
    }
}

/// The businesses `op` sees, as a filter: `None` for all.
pub(super) fn scope(op: &Operator) -> Option<Vec<i64>> {
    (!op.businesses.is_empty()).then(|| op.businesses.clone())
}

pub struct TokenRow {
    pub(super) id: i64,
    pub(super) code: String,
    pub(super) status: String,
    pub(super) status_class: &'static str,
    pub(super) left: String,
    pub(super) until: String,
    pub(super) description: String,
    pub(super) guest: String,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage<'a> {
    operator: Option<&'a Operator>,
    page: &'a str,
    presets: Vec<super::presets::PresetRow>,
    q: &'a str,
    rows: Vec<TokenRow>,
    total: i64,
}

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    pub(super) q: String,
}

/// `/tokens?q=`: codes whose code, description, guest name or MAC address contains
/// the text, newest first.
pub async fn tokens(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Query(q): Query<Search>,
) -> Response {
    let now = chrono::Utc::now().timestamp();
    let text = q.q.trim();
    let filter = TokenFilter {
        search: (!text.is_empty()).then(|| text.to_string()),
        business_ids: scope(&op),
        descending: true,
        page: 1,
        size: PAGE_SIZE,
        ..TokenFilter::default()
    };
    let (found, total) = match s.store.list_tokens(&filter, now).await {
        Ok(v) => v,
        Err(e) => return store_trouble(&op, &e),
    };
    let rows = match token_rows(&s, &op, &found, now).await {
        Ok(v) => v,
        Err(e) => return store_trouble(&op, &e),
    };
    html(
        StatusCode::OK,
        &TokensPage {
            presets: super::presets::visible(&s, &op).await,
            operator: Some(&op),
            page: "tokens",
            q: text,
            rows,
            total,
        },
    )
}

/// `tokens` as the lines of a list, with their status now.
pub(super) async fn token_rows(
    s: &UiState,
    op: &Operator,
    tokens: &[AccessToken],
    now: i64,
) -> Result<Vec<TokenRow>, crate::store::StoreError> {
    let zones = s.config.zones();
    let online = online_devices(s, op, now).await?;
    Ok(tokens
        .iter()
        .map(|t| {
            let devices = online.iter().filter(|(id, _)| *id == t.id).count();
            let (status, status_class) = status_words(t, devices, now);
            TokenRow {
                id: t.id,
                code: t.access_code.clone(),
                status,
                status_class,
                left: left_text(t),
                until: when(t.expires_on(), zones.of(t.business_id), "—"),
                description: t.description.clone().unwrap_or_default(),
                guest: t.guest_name.clone().unwrap_or_default(),
            }
        })
        .collect())
}

/// (token id, device) of every session online now that `op` may see.
async fn online_devices(
    s: &UiState,
    op: &Operator,
    now: i64,
) -> Result<Vec<(i64, String)>, crate::store::StoreError> {
    let f = SessionFilter {
        active: true,
        limit: 10_000,
        ..SessionFilter::default()
    };
    Ok(s.store
        .list_sessions(&f, now)
        .await?
        .into_iter()
        .filter(|x| x.state == "active" && op.sees(x.business_id))
        .map(|x| (x.token_id, x.device.unwrap_or_default()))
        .collect())
}

pub struct TokenView {
    id: i64,
    has_end: bool,
    bound: bool,
    code: String,
    status: String,
    status_class: &'static str,
    left: String,
    included: String,
    /// "120 MB of 500 MB" for a code with a data allowance.
    data: Option<String>,
    from: String,
    until: String,
    devices: String,
    mac: String,
    description: String,
    guest: String,
    business: i64,
    zone: String,
    created: String,
}

pub struct SessionView {
    token_id: i64,
    acct_session_id: String,
    code: String,
    device: String,
    state: String,
    started: String,
    used: String,
    ip: String,
}

#[derive(Template)]
#[template(path = "token.html")]
struct TokenPage<'a> {
    operator: Option<&'a Operator>,
    page: &'a str,
    done: Option<&'static str>,
    last_change: Option<String>,
    t: TokenView,
    sessions: Vec<SessionView>,
}

fn session_view(x: &crate::store::SessionInfo, tz: chrono_tz::Tz) -> SessionView {
    SessionView {
        token_id: x.token_id,
        acct_session_id: x.acct_session_id.clone().unwrap_or_default(),
        code: x.access_code.clone(),
        device: x.device.clone().unwrap_or_else(|| "—".into()),
        state: match x.state.as_str() {
            "active" => "online".into(),
            "pending" => "logging in".into(),
            other => other.to_string(),
        },
        started: format_local(ts(x.created_at), tz),
        used: minutes_text((x.session_time + 59) / 60),
        ip: x.framed_ip.clone().unwrap_or_else(|| "—".into()),
    }
}

/// `/tokens/{Id}`: one code, its state in words, and its sessions.
#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    done: String,
}

/// The confirmation after an action (a fixed text per action: nothing
/// from the request reaches the page).
fn done_text(key: &str) -> Option<&'static str> {
    match key {
        "extend" => Some("Extended."),
        "revoke" => Some("Revoked: the code no longer works."),
        "unbind" => Some("The bound device is forgotten."),
        "guest" => Some("Guest name saved."),
        _ => None,
    }
}

pub async fn token(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    let now = chrono::Utc::now().timestamp();
    let t = match super::visible_code(&s, &op, &id).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let tz = s.config.zone_of(t.business_id);
    let f = SessionFilter {
        code: Some(t.access_code.clone()),
        limit: 50,
        ..SessionFilter::default()
    };
    let sessions: Vec<crate::store::SessionInfo> = match s.store.list_sessions(&f, now).await {
        Ok(v) => v.into_iter().filter(|x| x.token_id == t.id).collect(),
        Err(e) => return store_trouble(&op, &e),
    };
    let mut online: Vec<&str> = sessions
        .iter()
        .filter(|x| x.state == "active")
        .filter_map(|x| x.device.as_deref())
        .collect();
    online.sort_unstable();
    online.dedup();
    let (status, status_class) = status_words(&t, online.len(), now);
    // The newest change to this code, in words (with a revoke's reason).
    let last_change = s
        .store
        .audit_log(&crate::store::audit::Filter {
            target: Some(format!("(Id {})", t.id)),
            limit: 1,
            ..Default::default()
        })
        .await
        .ok()
        .and_then(|v| v.into_iter().next())
        .map(|r| {
            let reason = r
                .after
                .as_deref()
                .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())
                .and_then(|v| v.get("Reason").and_then(|x| x.as_str()).map(str::to_string))
                .map(|why| format!(": “{why}”"))
                .unwrap_or_default();
            format!(
                "{} by {} on {}{reason}",
                r.action.trim_start_matches("token."),
                r.actor,
                format_local(ts(r.at), tz)
            )
        });
    let view = TokenView {
        id: t.id,
        has_end: t.valid_to.is_some(),
        bound: t.mac_address.is_some(),
        code: t.access_code.clone(),
        status,
        status_class,
        left: minutes_text(t.minutes_left()),
        included: minutes_text(t.minutes_included),
        data: t.megabytes_included.map(|mb| {
            let left = t.megabytes_left().unwrap_or(0);
            format!(
                "{} of {}",
                if left <= 0 {
                    "none".into()
                } else {
                    crate::token::format_megabytes(left)
                },
                crate::token::format_megabytes(mb)
            )
        }),
        from: when(t.valid_from, tz, "now"),
        until: match (t.expires_on(), t.valid_for_minutes) {
            (Some(e), _) => format_local(ts(e), tz),
            (None, Some(m)) => format!("{} after the first login", duration_words(m)),
            (None, None) => "no end".into(),
        },
        devices: format!(
            "{} online{}",
            online.len(),
            t.user_limit
                .map(|l| format!(" (at most {l})"))
                .unwrap_or_default()
        ),
        mac: t.mac_address.clone().unwrap_or_else(|| "—".into()),
        description: t.description.clone().unwrap_or_else(|| "—".into()),
        guest: t.guest_name.clone().unwrap_or_default(),
        business: t.business_id,
        zone: tz.name().to_string(),
        created: format_local(ts(t.created_on), tz),
    };
    html(
        StatusCode::OK,
        &TokenPage {
            operator: Some(&op),
            page: "tokens",
            done: done_text(&done.done),
            last_change,
            t: view,
            sessions: sessions.iter().map(|x| session_view(x, tz)).collect(),
        },
    )
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage<'a> {
    operator: Option<&'a Operator>,
    page: &'a str,
    rows: Vec<SessionView>,
}

/// `/sessions`: guests online now.
pub async fn sessions(State(s): State<Arc<UiState>>, Signed(op): Signed) -> Response {
    let zones = s.config.zones();
    let now = chrono::Utc::now().timestamp();
    let f = SessionFilter {
        active: true,
        limit: 10_000,
        ..SessionFilter::default()
    };
    let rows = match s.store.list_sessions(&f, now).await {
        Ok(v) => v
            .iter()
            .filter(|x| x.state == "active" && op.sees(x.business_id))
            .map(|x| session_view(x, zones.of(x.business_id)))
            .collect(),
        Err(e) => return store_trouble(&op, &e),
    };
    html(
        StatusCode::OK,
        &SessionsPage {
            operator: Some(&op),
            page: "sessions",
            rows,
        },
    )
}

pub struct OperatorRow {
    name: String,
    role: &'static str,
    businesses: String,
    created: String,
    disabled: bool,
}

#[derive(Template)]
#[template(path = "operators.html")]
struct OperatorsPage<'a> {
    operator: Option<&'a Operator>,
    page: &'a str,
    rows: Vec<OperatorRow>,
    self_name: &'a str,
}

/// `/operators` (admin).
pub async fn operators(State(s): State<Arc<UiState>>, Signed(op): Signed) -> Response {
    if op.role < Role::Admin {
        return message(
            StatusCode::FORBIDDEN,
            Some(&op),
            "Not for your role",
            "Only an admin may see the operators.",
        );
    }
    let tz = s.config.server.timezone;
    let rows = match s.store.operators().await {
        Ok(v) => v
            .iter()
            .map(|o| OperatorRow {
                name: o.name.clone(),
                role: o.role.as_str(),
                businesses: if o.businesses.is_empty() {
                    String::new()
                } else {
                    o.businesses
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                created: format_local(ts(o.created_on), tz),
                disabled: o.disabled_on.is_some(),
            })
            .collect(),
        Err(e) => return store_trouble(&op, &e),
    };
    html(
        StatusCode::OK,
        &OperatorsPage {
            operator: Some(&op),
            page: "operators",
            rows,
            self_name: &op.name,
        },
    )
}

pub struct AuditRow {
    at: String,
    actor: String,
    action: String,
    target: String,
    changed: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage<'a> {
    operator: Option<&'a Operator>,
    page: &'a str,
    q: &'a str,
    rows: Vec<AuditRow>,
}

/// `/audit?q=` (managers and admins): the newest 200 changes, or those
/// whose target contains the text, or those by one actor (`ui:anna`) or
/// kind of actor (`cli:`). An operator limited to some businesses
/// sees only changes to those businesses' codes.
pub async fn audit(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Query(q): Query<Search>,
) -> Response {
    if op.role < Role::Manager {
        return message(
            StatusCode::FORBIDDEN,
            Some(&op),
            "Not for your role",
            "Only a manager or an admin may see the audit log.",
        );
    }
    let tz = s.config.server.timezone;
    let text = q.q.trim();
    // `ui:anna`, `cli:` or `api:booking` search by who; anything else by
    // what was changed.
    let by_actor = ["ui:", "cli:", "api:"].iter().any(|p| text.starts_with(p));
    let f = crate::store::audit::Filter {
        actor: (by_actor).then(|| text.to_string()),
        target: (!text.is_empty() && !by_actor).then(|| text.to_string()),
        business_ids: scope(&op),
        limit: 200,
        ..Default::default()
    };
    let rows = match s.store.audit_log(&f).await {
        Ok(v) => v
            .iter()
            .map(|r| AuditRow {
                at: format_local(ts(r.at), tz),
                actor: r.actor.clone(),
                action: r.action.clone(),
                target: r.target.clone(),
                changed: crate::store::audit::what_changed(r),
            })
            .collect(),
        Err(e) => return store_trouble(&op, &e),
    };
    html(
        StatusCode::OK,
        &AuditPage {
            operator: Some(&op),
            page: "audit",
            q: text,
            rows,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> AccessToken {
        AccessToken {
            id: 1,
            unique_id: "u".into(),
            business_id: 0,
            access_code: "WELCOME1".into(),
            description: None,
            minutes_included: 60,
            seconds_used: 0,
            valid_from: None,
            valid_to: None,
            user_limit: None,
            mac_address: None,
            booking_guid: None,
            visitor_guid: None,
            last_access: None,
            created_on: 0,
            updated_on: 0,
            updated_by: None,
            valid_for_minutes: None,
            single_use: false,
            first_used_on: None,
            spent_on: None,
            rate_limit: None,
            guest_name: None,
            megabytes_included: None,
            bytes_used: 0,
        }
    }

    #[test]
    fn a_code_s_state_in_words() {
        let now = 10_000;
        let t = token();
        assert_eq!(status_words(&t, 0, now).0, "unused");
        let used = AccessToken {
            last_access: Some(9_000),
            seconds_used: 600,
            ..token()
        };
        assert_eq!(status_words(&used, 0, now).0, "valid, not online");
        assert_eq!(
            status_words(&used, 2, now),
            ("active on 2 devices".into(), "ok")
        );
        let up = AccessToken {
            seconds_used: 3600,
            ..token()
        };
        assert_eq!(status_words(&up, 0, now).0, "used up");
        let no_data = AccessToken {
            megabytes_included: Some(5),
            bytes_used: 5_000_000,
            ..token()
        };
        assert_eq!(status_words(&no_data, 0, now).0, "used up");
        assert_eq!(left_text(&no_data), "1 hour · no data");
        let some_data = AccessToken {
            megabytes_included: Some(5_000),
            bytes_used: 1,
            ..token()
        };
        assert_eq!(left_text(&some_data), "1 hour · 5 GB");
        let over = AccessToken {
            valid_to: Some(now),
            ..token()
        };
        assert_eq!(status_words(&over, 0, now).0, "expired");
        let later = AccessToken {
            valid_from: Some(now + 1),
            ..token()
        };
        assert_eq!(status_words(&later, 0, now).0, "not valid yet");
        let spent = AccessToken {
            single_use: true,
            spent_on: Some(now - 1),
            ..token()
        };
        assert_eq!(status_words(&spent, 0, now).0, "spent");
    }
}
