//! What the front desk does to one code (desk role and up, only codes of
//! the operator's businesses): add time or days of validity, revoke (a
//! reason is required; its running sessions are disconnected), undo
//! the MAC binding, and set the guest's name. Each is one change through the store, recorded in the
//! audit log as `ui:<operator>`; then back to the code's page.

use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::Signed;
use super::{message, store_trouble, UiState};
use crate::radius::disconnect;
use crate::store::audit::Actor;
use crate::store::operators::Operator;
use crate::store::{StoreError, TokenUpdate};
use crate::token::{AccessToken, NewToken};

pub(super) fn actor(op: &Operator) -> Actor {
    Actor(format!("ui:{}", op.name))
}

/// What an action asks of the code, or why it cannot.
pub(super) enum Refusal {
    NotFound,
    Input(&'static str),
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => Refusal::NotFound,
            e => Refusal::Store(e),
        }
    }
}

/// Change the code `id` (when `op` may see it) with `f`, recorded as
/// `action` (with `reason`); its running sessions are disconnected when
/// the change leaves them less. Then back to the code's page.
async fn change(
    s: &UiState,
    op: &Operator,
    id: &str,
    action: &'static str,
    reason: Option<String>,
    f: impl FnOnce(&AccessToken, i64) -> Result<NewToken, Refusal>,
) -> Response {
    let Ok(id) = id.trim().parse::<i64>() else {
        return super::no_such_code(op);
    };
    let now = chrono::Utc::now().timestamp();
    let mut before = None;
    let res = s
        .store
        .update_token_by_id(id, now, &actor(op), |cur| {
            if !op.sees(cur.business_id) {
                return Err(Refusal::NotFound);
            }
            before = Some(cur.clone());
            let mut token = f(cur, now)?;
            token.updated_by = Some(format!("ui:{}", op.name));
            Ok(TokenUpdate {
                token,
                reset_usage: false,
                audit_action: action,
                reason,
            })
        })
        .await;
    match res {
        Ok(t) => {
            tracing::info!(operator = %op.name, id, action, "web UI: code changed");
            if before.is_some_and(|old| old.shortened_by(&t, now)) {
                match s.store.running_sessions(&[t.id]).await {
                    Ok(sessions) => {
                        disconnect::later(&s.config, sessions, "changed at the front desk")
                    }
                    Err(e) => tracing::warn!(error = %e, "web UI: sessions to disconnect not read"),
                }
            }
            Redirect::to(&format!(
                "/tokens/{id}?done={}",
                action.trim_start_matches("token.")
            ))
            .into_response()
        }
        Err(Refusal::NotFound) => super::no_such_code(op),
        Err(Refusal::Input(why)) => message(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(op),
            "Not changed",
            why,
        ),
        Err(Refusal::Store(e)) => store_trouble(op, &e),
    }
}

#[derive(Deserialize, Default)]
pub struct Extend {
    #[serde(default)]
    minutes: String,
    #[serde(default)]
    days: String,
}

/// `POST /tokens/{Id}/extend`: `minutes` more time and/or `days` more of
/// validity (from ValidTo, or from now when it has passed).
pub async fn extend(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Path(id): Path<String>,
    Form(f): Form<Extend>,
) -> Response {
    change(&s, &op, &id, "token.extend", None, |cur, now| {
        let (minutes, days) = chosen(&f)?;
        extended(cur, now, minutes, days)
    })
    .await
}

/// The minutes and days an Extend form asks for (only what it offers).
pub(super) fn chosen(f: &Extend) -> Result<(i64, i64), Refusal> {
    let pick = |v: &str, offered: &[i64]| -> Result<i64, Refusal> {
        match v.trim() {
            "" => Ok(0),
            v => v
                .parse::<i64>()
                .ok()
                .filter(|n| offered.contains(n))
                .ok_or(Refusal::Input("Choose how much time to add from the list.")),
        }
    };
    let minutes = pick(&f.minutes, &[0, 30, 60, 120, 1440])?;
    let days = pick(&f.days, &[0, 1, 7, 30])?;
    if minutes == 0 && days == 0 {
        return Err(Refusal::Input("Choose how much time to add."));
    }
    Ok((minutes, days))
}

/// `cur` with `minutes` more time and `days` more of validity (from
/// ValidTo, or from now when it has passed).
pub(super) fn extended(
    cur: &AccessToken,
    now: i64,
    minutes: i64,
    days: i64,
) -> Result<NewToken, Refusal> {
    let mut t = cur.as_new();
    t.minutes_included = t.minutes_included.saturating_add(minutes);
    if days > 0 {
        let Some(to) = t.valid_to else {
            return Err(Refusal::Input(
                "This code has no end date to move: it is valid until its time is used.",
            ));
        };
        t.valid_to = Some(to.max(now).saturating_add(days * 86_400));
    }
    // Dates the CLI, the API and exports can still write (up to the
    // year 9999), and at most a century of minutes.
    const LAST_DATE: i64 = 253_402_300_799;
    if t.minutes_included > 100 * 525_600 || t.valid_to.is_some_and(|v| v > LAST_DATE) {
        return Err(Refusal::Input("That is too far ahead: not extended."));
    }
    Ok(t)
}

#[derive(Deserialize, Default)]
pub struct Guest {
    #[serde(default)]
    guest_name: String,
}

/// `POST /tokens/{Id}/guest`: set (or, empty, clear) the GuestName.
pub async fn guest(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Path(id): Path<String>,
    Form(f): Form<Guest>,
) -> Response {
    change(&s, &op, &id, "token.guest", None, |cur, _| {
        let mut t = cur.as_new();
        t.guest_name = guest_name(&f.guest_name)?;
        Ok(t)
    })
    .await
}

/// A guest's name as typed in a form: `None` when empty.
pub(super) fn guest_name(typed: &str) -> Result<Option<String>, Refusal> {
    match typed.trim() {
        "" => Ok(None),
        n => crate::token::check_guest_name(n)
            .map(Some)
            .map_err(|_| Refusal::Input("Guest name: at most 200 characters, on one line.")),
    }
}

#[derive(Deserialize)]
pub struct Revoke {
    #[serde(default)]
    pub(super) reason: String,
}

/// `POST /tokens/{Id}/revoke`: the code ends now (ValidTo = now), with a
/// reason for the audit log; its sessions are disconnected.
pub async fn revoke(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Path(id): Path<String>,
    Form(f): Form<Revoke>,
) -> Response {
    let reason = match revoke_reason(&op, &f.reason) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    change(&s, &op, &id, "token.revoke", Some(reason), |cur, now| {
        Ok(revoked(cur, now))
    })
    .await
}

/// A revoke's reason as typed, or the page refusing it.
pub(super) fn revoke_reason(op: &Operator, typed: &str) -> Result<String, Box<Response>> {
    let reason = typed.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 200 || reason.chars().any(char::is_control) {
        return Err(Box::new(message(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(op),
            "Not revoked",
            "Give a reason (at most 200 characters): it goes into the audit log.",
        )));
    }
    Ok(reason)
}

/// `cur` ending now (ValidTo = now).
pub(super) fn revoked(cur: &AccessToken, now: i64) -> NewToken {
    let mut t = cur.as_new();
    t.valid_to = Some(now);
    // A code not valid yet (a future booking) ends before it starts.
    if t.valid_from.is_some_and(|f| f >= now) {
        t.valid_from = Some(now - 1);
    }
    t
}

/// `POST /tokens/{Id}/unbind`: the code forgets the device it is bound to
/// (the next device to log in binds it again where the server does that).
pub async fn unbind(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Path(id): Path<String>,
) -> Response {
    change(&s, &op, &id, "token.unbind", None, |cur, _| {
        if cur.mac_address.is_none() {
            return Err(Refusal::Input("This code is not bound to a device."));
        }
        let mut t = cur.as_new();
        t.mac_address = None;
        Ok(t)
    })
    .await
}

#[derive(Deserialize)]
pub struct Disconnect {
    #[serde(default)]
    token: String,
    #[serde(default)]
    session: String,
}

/// `POST /sessions/disconnect` (`token` Id, `session` Acct-Session-Id): a
/// Disconnect-Request to the guest's NAS, recorded in the audit log. The
/// guest may log in again while the code is valid (revoke ends the code).
pub async fn disconnect(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Form(f): Form<Disconnect>,
) -> Response {
    let t = match super::visible_code(&s, &op, &f.token).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let id = t.id;
    let sessions = match s.store.running_sessions(&[t.id]).await {
        Ok(v) => v,
        Err(e) => return store_trouble(&op, &e),
    };
    let Some(session) = sessions
        .into_iter()
        .find(|x| x.acct_session_id == f.session.trim())
    else {
        return message(
            StatusCode::NOT_FOUND,
            Some(&op),
            "Not online",
            "This guest is no longer online.",
        );
    };
    if disconnect::targets(&s.config, std::slice::from_ref(&session)).is_empty() {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&op),
            "Not disconnected",
            "This hotspot does not take disconnect requests from radgate (its [[client]] has no coa_port). Revoke the code, or log the guest out on the hotspot.",
        );
    }
    let change = crate::store::audit::Change {
        action: "session.disconnect",
        target: format!(
            "{} (Id {}) session {}",
            t.access_code, t.id, session.acct_session_id
        ),
        business_id: Some(t.business_id),
        before: Some(
            serde_json::json!({
                "AcctSessionId": session.acct_session_id,
                "Device": session.device,
                "FramedIp": session.framed_ip,
                "Nas": session.nas,
            })
            .to_string(),
        ),
        after: None,
    };
    if let Err(e) = s
        .store
        .record_audit(chrono::Utc::now().timestamp(), &actor(&op), &change)
        .await
    {
        return store_trouble(&op, &e);
    }
    tracing::info!(operator = %op.name, id, "web UI: disconnecting a guest");
    disconnect::later(&s.config, vec![session], "disconnected at the front desk");
    Redirect::to("/sessions").into_response()
}
