//! The admin web UI (SPEC §10), served with the HTTP API on `[api]
//! listen`: server-rendered pages (askama templates in `templates/`, one
//! stylesheet, one small script that only adds conveniences), for operators signed in with a cookie session
//! (`auth`). `pages` holds the pages; every one checks the operator's role
//! and shows only the businesses the operator may see.

mod actions;
mod apikeys;
mod auth;
mod batches;
mod charts;
mod dashboard;
mod operators;
mod pages;
mod presets;
mod print;
mod transfer;

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::config::Config;
use crate::store::Store;

pub use auth::SignInThrottle;

/// What the pages share.
pub struct UiState {
    pub store: Store,
    pub config: Arc<Config>,
    /// Kept across reloads.
    pub throttle: Arc<SignInThrottle>,
    /// Served over HTTPS: cookies are marked Secure.
    pub https: bool,
}

const CSS: &str = include_str!("ui.css");
const RECEIPT_CSS: &str = include_str!("receipt.css");
const JS: &str = include_str!("ui.js");

pub fn router(state: Arc<UiState>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/tokens") }))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/tokens", get(pages::tokens))
        .route("/tokens/export", get(transfer::export))
        .route("/tokens/{id}", get(pages::token))
        .route("/tokens/{id}/extend", post(actions::extend))
        .route("/tokens/{id}/revoke", post(actions::revoke))
        .route("/tokens/{id}/unbind", post(actions::unbind))
        .route("/tokens/{id}/guest", post(actions::guest))
        .route("/tokens/{id}/receipt", get(print::receipt))
        .route("/tokens/{id}/card", get(print::card))
        .route("/sessions", get(pages::sessions))
        .route("/sessions/disconnect", post(actions::disconnect))
        .route("/operators", get(pages::operators))
        .route("/operators/add", post(operators::add))
        .route("/operators/update", post(operators::update))
        .route("/operators/password", post(operators::password))
        .route("/operators/remove", post(operators::remove))
        .route("/audit", get(pages::audit))
        .route("/dashboard", get(dashboard::page))
        .route("/presets", get(presets::page))
        .route("/presets/add", post(presets::add))
        .route("/presets/remove", post(presets::remove))
        .route("/apikeys", get(apikeys::page))
        .route("/apikeys/add", post(apikeys::add))
        .route("/apikeys/revoke", post(apikeys::revoke))
        .route("/issue", post(presets::issue))
        .route("/print", get(print::many))
        .route(
            "/import",
            get(transfer::form)
                .post(transfer::import)
                .layer(axum::extract::DefaultBodyLimit::max(transfer::MAX_UPLOAD)),
        )
        .route("/batches", get(batches::list))
        .route("/batches/{id}", get(batches::show))
        .route("/batches/{id}/export", get(batches::export))
        .route("/batches/{id}/extend", post(batches::extend))
        .route("/batches/{id}/revoke", post(batches::revoke))
        .route("/batches/{id}/delete", post(batches::delete))
        .route("/ui.css", get(css))
        .route("/receipt.css", get(receipt_css))
        .route("/ui.js", get(js))
        .layer(axum::middleware::from_fn(auth::same_origin_writes))
        .layer(axum::middleware::map_response(headers))
        .with_state(state)
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        JS,
    )
        .into_response()
}

async fn receipt_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        RECEIPT_CSS,
    )
        .into_response()
}

/// Headers every page carries: only our own script (ui.js) and styles,
/// no framing, no caching of pages that show codes.
async fn headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
                 img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// An HTML page from a template (a template that fails to render is a
/// bug: a plain 500 then).
fn html<T: askama::Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "web UI: a page did not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page did not render").into_response()
        }
    }
}

/// A page for `status` with a title and a sentence.
fn message(
    status: StatusCode,
    operator: Option<&crate::store::operators::Operator>,
    title: &str,
    text: &str,
) -> Response {
    html(
        status,
        &pages::Message {
            operator,
            page: "",
            title,
            text,
        },
    )
}

/// The page for a store error: a name already taken (409, its message),
/// or the database not answering (503; the cause goes to the log).
fn store_trouble(op: &crate::store::operators::Operator, e: &crate::store::StoreError) -> Response {
    match e {
        crate::store::StoreError::Conflict(m) => {
            message(StatusCode::CONFLICT, Some(op), "Not changed", m)
        }
        e => {
            tracing::warn!(error = %e, "web UI: the store did not answer");
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(op),
                "Try again",
                "The database did not answer. Try again in a moment.",
            )
        }
    }
}

/// The page refusing `op` what only managers and admins may do, if `op`
/// is neither.
fn managers_only(op: &crate::store::operators::Operator) -> Option<Response> {
    (op.role < crate::store::operators::Role::Manager).then(|| {
        message(
            StatusCode::FORBIDDEN,
            Some(op),
            "Not for your role",
            "Only a manager or an admin may do this.",
        )
    })
}

/// "No such code": also for another business's code (as if it did not
/// exist).
fn no_such_code(op: &crate::store::operators::Operator) -> Response {
    message(
        StatusCode::NOT_FOUND,
        Some(op),
        "No such code",
        "There is no code with this Id.",
    )
}

/// The code with Id `id` (as typed in a path or form) when `op` may see
/// it; else the page to answer with.
async fn visible_code(
    s: &UiState,
    op: &crate::store::operators::Operator,
    id: &str,
) -> Result<crate::token::AccessToken, Response> {
    let Ok(id) = id.trim().parse::<i64>() else {
        return Err(no_such_code(op));
    };
    match s.store.token_by_id(id).await {
        Ok(Some(t)) if op.sees(t.business_id) => Ok(t),
        Ok(_) => Err(no_such_code(op)),
        Err(e) => Err(store_trouble(op, &e)),
    }
}

/// For paths no page or API endpoint has.
pub async fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        None,
        "Not found",
        "There is no page at this address.",
    )
}
