//! API keys (SPEC §7 and §10; managers and admins): the live keys (name,
//! roles, display form, created when and by whom, last used), a form that
//! creates one and shows the raw key once — on the answer to the POST
//! itself, never in an address —, and a confirmed revoke. Every change
//! goes through the store with the actor `ui:<operator>`, so it is in the
//! audit log.
//!
//! The limits, decided here:
//! - Businesses (SPEC §7, "Tenants"): a key may be limited to some
//!   BusinessIds (the form's "Businesses", comma-separated; empty: every
//!   business for an operator who sees every business, the operator's own
//!   businesses otherwise). An operator limited to some businesses sees,
//!   creates and revokes only keys within them (a key of every business,
//!   or of another business too, is not theirs to see); a key wider than
//!   the operator is refused (403, saying why).
//! - `*` (every role, including roles added later, and the right to mint
//!   further `*` keys through the API) is the API's admin: only an admin
//!   may give it. The named roles are what a manager does in the UI anyway
//!   (create, list, read, change, delete codes; check a login), so a
//!   manager may give any of them. Revoking only takes access away: a
//!   manager may revoke any live key, `*` ones included (a leaked key must
//!   be stoppable at once by whoever notices).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::actions::actor;
use super::auth::Signed;
use super::{html, managers_only, message, store_trouble, UiState};
use crate::store::apikeys::{
    check_name, parse_roles, scope_for_new_key, scope_text, within, ApiKey, ROLES,
};
use crate::store::operators::{Operator, Role};
use crate::store::StoreError;
use crate::token::parse::format_local;
use crate::token::ts;

/// The role only an admin may give.
const EVERY_ROLE: &str = "*";

/// What a role lets a key do, in words.
fn role_words(role: &str) -> &'static str {
    match role {
        "AccessToken-Create" => "create codes",
        "AccessToken-List" => "list and search codes",
        "AccessToken-Read" => "read one code",
        "AccessToken-Edit" => "change codes",
        "AccessToken-Delete" => "delete codes",
        "Radius-Authorize" => "check a guest's login (the IronWifi connector)",
        "*" => "everything, including roles added later and giving them to new keys",
        _ => "",
    }
}

/// Whether `op` may give a key `role`.
fn may_give(op: &Operator, role: &str) -> bool {
    role != EVERY_ROLE || op.role >= Role::Admin
}

/// The page refusing `op` the API keys, if `op` may not manage them: the
/// desk.
fn refused(op: &Operator) -> Option<Response> {
    managers_only(op)
}

/// Whether `op` may see (and revoke) key `k`: one reaching no further
/// than the operator's businesses.
fn mine(op: &Operator, k: &ApiKey) -> bool {
    within(&k.businesses, &op.businesses)
}

pub struct KeyRow {
    id: i64,
    name: String,
    display: String,
    roles: String,
    businesses: String,
    created: String,
    by: String,
    last_used: String,
    revoked: Option<String>,
}

fn row(k: &ApiKey, tz: chrono_tz::Tz) -> KeyRow {
    KeyRow {
        id: k.id,
        name: k.name.clone(),
        display: k.display.clone(),
        roles: k.roles.join(" "),
        businesses: scope_text(&k.businesses),
        created: format_local(ts(k.created_on), tz),
        by: k.created_by.clone().unwrap_or_default(),
        last_used: k
            .last_used
            .map(|t| format_local(ts(t), tz))
            .unwrap_or_else(|| "never".into()),
        revoked: k.revoked_on.map(|t| format_local(ts(t), tz)),
    }
}

pub struct RoleBox {
    name: &'static str,
    what: &'static str,
}

/// A key just created: the only time its raw form is shown.
pub struct Created {
    key: String,
    name: String,
    display: String,
    roles: String,
    businesses: String,
}

#[derive(Template)]
#[template(path = "apikeys.html")]
struct KeysPage<'a> {
    operator: Option<&'a Operator>,
    page: &'a str,
    rows: Vec<KeyRow>,
    roles: Vec<RoleBox>,
    all: bool,
    admin: bool,
    /// The operator's businesses, when limited to some (`3, 7`).
    limited: Option<String>,
    done: Option<String>,
    created: Option<Created>,
}

/// The page: the keys (revoked ones too with `all`), the create form, and
/// a notice or the key just created on top.
async fn render(
    s: &UiState,
    op: &Operator,
    all: bool,
    done: Option<String>,
    created: Option<Created>,
) -> Response {
    let keys = match s.store.api_keys(all).await {
        Ok(v) => v,
        Err(e) => return store_trouble(op, &e),
    };
    let tz = s.config.server.timezone;
    html(
        StatusCode::OK,
        &KeysPage {
            operator: Some(op),
            page: "apikeys",
            rows: keys
                .iter()
                .filter(|k| mine(op, k))
                .map(|k| row(k, tz))
                .collect(),
            roles: ROLES
                .iter()
                .filter(|r| may_give(op, r))
                .map(|r| RoleBox {
                    name: r,
                    what: role_words(r),
                })
                .collect(),
            all,
            admin: op.role >= Role::Admin,
            limited: (!op.businesses.is_empty()).then(|| scope_text(&op.businesses)),
            done,
            created,
        },
    )
}

#[derive(Deserialize, Default)]
pub struct Shown {
    #[serde(default)]
    all: String,
    #[serde(default)]
    revoked: String,
    #[serde(default)]
    with: String,
}

/// `GET /apikeys` (`?all=1`: revoked keys too; `?revoked=Id&with=N`: the
/// notice after a revoke).
pub async fn page(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Query(q): Query<Shown>,
) -> Response {
    if let Some(r) = refused(&op) {
        return r;
    }
    let mut done = None;
    if let Ok(id) = q.revoked.trim().parse::<i64>() {
        let gone = match s.store.api_keys(true).await {
            Ok(v) => v
                .into_iter()
                .find(|k| k.id == id && k.revoked_on.is_some() && mine(&op, k)),
            Err(e) => return store_trouble(&op, &e),
        };
        if let Some(k) = gone {
            let with = match q.with.trim().parse::<usize>().unwrap_or(0) {
                0 => String::new(),
                1 => ", and 1 key it created".into(),
                n => format!(", and {n} keys it created"),
            };
            done = Some(format!(
                "Revoked the key “{}” ({}){with}: it no longer works.",
                k.name, k.display
            ));
        }
    }
    render(&s, &op, q.all == "1", done, None).await
}

/// `POST /apikeys/add`: `name`, repeated `role`, and `businesses`
/// (comma-separated BusinessIds; empty: the operator's, every business for
/// one who sees every business). The answer (200, not a redirect) shows
/// the new key, once.
pub async fn add(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    if let Some(r) = refused(&op) {
        return r;
    }
    let bad = |status: StatusCode, why: &str| message(status, Some(&op), "Not created", why);
    let name = f
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let name = match check_name(name) {
        Ok(n) => n,
        Err(e) => return bad(StatusCode::UNPROCESSABLE_ENTITY, &format!("Name: {e}.")),
    };
    let typed: Vec<&str> = f
        .iter()
        .filter(|(k, _)| k == "role")
        .map(|(_, v)| v.as_str())
        .collect();
    if typed.is_empty() {
        return bad(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Roles: tick at least one.",
        );
    }
    let roles = match parse_roles(typed) {
        Ok(r) => r,
        Err(e) => return bad(StatusCode::UNPROCESSABLE_ENTITY, &format!("Roles: {e}.")),
    };
    if roles.iter().any(|r| !may_give(&op, r)) {
        return bad(
            StatusCode::FORBIDDEN,
            "Roles: only an admin may give a key every role (*). Tick the roles it needs.",
        );
    }
    let typed = f
        .iter()
        .find(|(k, _)| k == "businesses")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let asked = match super::operators::businesses(typed) {
        Ok(b) if b.is_empty() => None,
        Ok(b) => Some(b),
        Err(e) => {
            return bad(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("Businesses: {e}."),
            )
        }
    };
    let businesses = match scope_for_new_key(&op.businesses, asked.as_deref()) {
        Ok(b) => b,
        Err(e) => {
            let e = e
                .replace("the creator's", "your")
                .replace("the creator reaches", "you reach");
            return bad(StatusCode::FORBIDDEN, &format!("Businesses: {e}."));
        }
    };
    let created = s
        .store
        .create_scoped_api_key(
            name,
            &roles,
            &businesses,
            &format!("ui:{}", op.name),
            chrono::Utc::now().timestamp(),
            &actor(&op),
        )
        .await;
    let (key, k) = match created {
        Ok(v) => v,
        Err(StoreError::Conflict(m)) => {
            return bad(StatusCode::CONFLICT, &format!("Name: {m}."));
        }
        Err(e) => return store_trouble(&op, &e),
    };
    tracing::info!(operator = %op.name, key = %k.name, "web UI: API key created");
    let created = Created {
        key,
        name: k.name.clone(),
        display: k.display.clone(),
        roles: k.roles.join(" "),
        businesses: scope_text(&k.businesses),
    };
    render(&s, &op, false, None, Some(created)).await
}

#[derive(Deserialize)]
pub struct Revoke {
    #[serde(default)]
    id: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /apikeys/revoke` (`id`, `confirm=yes`): the key stops working at
/// once, with every key it created through the API.
pub async fn revoke(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Form(f): Form<Revoke>,
) -> Response {
    if let Some(r) = refused(&op) {
        return r;
    }
    if f.confirm != "yes" {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&op),
            "Not revoked",
            "Tick the box to confirm: the key stops working at once.",
        );
    }
    let live = match s.store.api_keys(false).await {
        Ok(v) => v,
        Err(e) => return store_trouble(&op, &e),
    };
    let id = f.id.trim().parse::<i64>().ok();
    let Some(k) = live.iter().find(|k| Some(k.id) == id && mine(&op, k)) else {
        return message(
            StatusCode::NOT_FOUND,
            Some(&op),
            "No such key",
            "There is no live API key with this Id (it may be revoked already).",
        );
    };
    // By its name: the store looks names up before Ids, and live names are
    // unique, so a key named like another's Id cannot be hit instead.
    match s
        .store
        .revoke_api_key(&k.name, chrono::Utc::now().timestamp(), &actor(&op))
        .await
    {
        Ok((gone, with_it)) => {
            tracing::info!(operator = %op.name, key = %gone.name, with_it = with_it.len(), "web UI: API key revoked");
            Redirect::to(&format!(
                "/apikeys?revoked={}&with={}",
                gone.id,
                with_it.len()
            ))
            .into_response()
        }
        Err(StoreError::NoSuchApiKey(_)) => message(
            StatusCode::NOT_FOUND,
            Some(&op),
            "No such key",
            "There is no live API key with this Id (it may be revoked already).",
        ),
        Err(e) => store_trouble(&op, &e),
    }
}
