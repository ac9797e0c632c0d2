//! Operators managed by an admin in the web UI (SPEC §10 point 4): add,
//! change role and businesses, disable, set a new password, remove —
//! each in the audit log as `ui:<admin>`. An admin cannot take away their
//! own admin role, disable or remove themselves (someone must stay able to
//! manage operators).

use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::Signed;
use super::{message, store_trouble, UiState};
use crate::store::audit::Actor;
use crate::store::operators::{check_name, hash_password, NewOperator, Operator, Role};

fn refused(op: &Operator, status: StatusCode, why: &str) -> Response {
    message(status, Some(op), "Not changed", why)
}

fn admin_only(op: &Operator) -> Option<Response> {
    (op.role < Role::Admin).then(|| {
        refused(
            op,
            StatusCode::FORBIDDEN,
            "Only an admin may manage operators.",
        )
    })
}

/// "3, 7" → [3, 7]; empty → all businesses.
pub(super) fn businesses(text: &str) -> Result<Vec<i64>, String> {
    let mut out = Vec::new();
    for part in text.split([',', ' ']).filter(|p| !p.trim().is_empty()) {
        match part.trim().parse::<i64>() {
            Ok(n) if n >= 0 => out.push(n),
            _ => {
                return Err(format!(
                    "{part:?} is not a BusinessId (a number, 0 or more)"
                ))
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn actor(op: &Operator) -> Actor {
    Actor(format!("ui:{}", op.name))
}

async fn hashed(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
}

#[derive(Deserialize)]
pub struct Add {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    businesses: String,
    #[serde(default)]
    password: String,
}

/// `POST /operators/add`.
pub async fn add(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Form(f): Form<Add>,
) -> Response {
    if let Some(r) = admin_only(&op) {
        return r;
    }
    let bad = |why: String| refused(&op, StatusCode::UNPROCESSABLE_ENTITY, &why);
    let name = match check_name(&f.name) {
        Ok(n) => n.to_string(),
        Err(e) => return bad(format!("Name: {e}.")),
    };
    let role = match Role::parse(&f.role) {
        Ok(r) => r,
        Err(e) => return bad(format!("Role: {e}.")),
    };
    let businesses = match businesses(&f.businesses) {
        Ok(b) => b,
        Err(e) => return bad(format!("Businesses: {e}.")),
    };
    let hash = match hashed(f.password).await {
        Ok(h) => h,
        Err(e) => return bad(format!("Password: it {e}.")),
    };
    let new = NewOperator {
        name,
        role,
        businesses,
        password_hash: hash,
    };
    let now = chrono::Utc::now().timestamp();
    match s
        .store
        .create_operator(&new, &format!("ui:{}", op.name), now, &actor(&op))
        .await
    {
        Ok(_) => Redirect::to("/operators").into_response(),
        Err(e) => store_trouble(&op, &e),
    }
}

#[derive(Deserialize)]
pub struct Update {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    businesses: String,
    #[serde(default)]
    disabled: Option<String>,
}

/// `POST /operators/update`: role, businesses, disabled.
pub async fn update(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Form(f): Form<Update>,
) -> Response {
    if let Some(r) = admin_only(&op) {
        return r;
    }
    let bad = |why: String| refused(&op, StatusCode::UNPROCESSABLE_ENTITY, &why);
    let role = match Role::parse(&f.role) {
        Ok(r) => r,
        Err(e) => return bad(format!("Role: {e}.")),
    };
    let businesses = match businesses(&f.businesses) {
        Ok(b) => b,
        Err(e) => return bad(format!("Businesses: {e}.")),
    };
    let disabled = f.disabled.as_deref() == Some("on");
    let name = f.name.trim();
    if name == op.name && (role != Role::Admin || disabled || !businesses.is_empty()) {
        return bad("You cannot limit, demote or disable yourself: ask another admin.".to_string());
    }
    let now = chrono::Utc::now().timestamp();
    match s
        .store
        .update_operator(name, role, &businesses, disabled, now, &actor(&op))
        .await
    {
        Ok(Some(_)) => Redirect::to("/operators").into_response(),
        Ok(None) => refused(
            &op,
            StatusCode::NOT_FOUND,
            "There is no operator of that name.",
        ),
        Err(e) => store_trouble(&op, &e),
    }
}

#[derive(Deserialize)]
pub struct Password {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// `POST /operators/password`: a new password; their sign-ins end.
pub async fn password(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Form(f): Form<Password>,
) -> Response {
    if let Some(r) = admin_only(&op) {
        return r;
    }
    let hash = match hashed(f.password).await {
        Ok(h) => h,
        Err(e) => {
            return refused(
                &op,
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("Password: it {e}."),
            )
        }
    };
    match s
        .store
        .set_operator_password(f.name.trim(), &hash, &actor(&op))
        .await
    {
        Ok(true) if f.name.trim() == op.name => Redirect::to("/login").into_response(),
        Ok(true) => Redirect::to("/operators").into_response(),
        Ok(false) => refused(
            &op,
            StatusCode::NOT_FOUND,
            "There is no operator of that name.",
        ),
        Err(e) => store_trouble(&op, &e),
    }
}

#[derive(Deserialize)]
pub struct Remove {
    #[serde(default)]
    name: String,
}

/// `POST /operators/remove`.
pub async fn remove(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Form(f): Form<Remove>,
) -> Response {
    if let Some(r) = admin_only(&op) {
        return r;
    }
    if f.name.trim() == op.name {
        return refused(
            &op,
            StatusCode::UNPROCESSABLE_ENTITY,
            "You cannot remove yourself: ask another admin.",
        );
    }
    match s.store.remove_operator(f.name.trim(), &actor(&op)).await {
        Ok(true) => Redirect::to("/operators").into_response(),
        Ok(false) => refused(
            &op,
            StatusCode::NOT_FOUND,
            "There is no operator of that name.",
        ),
        Err(e) => store_trouble(&op, &e),
    }
}
