//! The admin HTTP API (SPEC §7), served by `radgate serve` when
//! `[api] listen` is set: Nexudus-compatible access tokens
//! (`/api/spaces/accesstokens`) and the IronWifi REST connector
//! (`/api/ironwifi/authorize`). Every request needs `Authorization: Bearer
//! <key>` (`radgate apikey create`): 401 without a valid key, 403 without
//! the role. Token input goes through the same validation as the CLI.

mod ops;
mod query;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tokio::sync::watch;

use crate::config::Config;
use crate::policy::auth::Decision;
use crate::policy::reply;
use crate::radius::codec::Credential;
use crate::radius::disconnect;
use crate::store::apikeys::{
    check_businesses, check_name, parse_role, scope_for_new_key, scope_text, ApiKey,
};
use crate::store::TokenUpdate;
use crate::store::{AuthJob, Store, StoreError, Writer};
use crate::token::parse::{device_id, format_utc, normalize_mac};
use crate::token::{ts, AccessToken, FieldError, TokenInput};

/// What the handlers share.
pub struct ApiState {
    pub store: Store,
    pub config: Arc<Config>,
    /// The server's writer: the IronWifi connector decides like RADIUS.
    pub writer: Writer,
    /// What `/metrics` shows.
    pub metrics: Arc<crate::metrics::Metrics>,
}

type St = State<Arc<ApiState>>;

/// A request's body must arrive within this long (after its key was
/// checked).
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request body (axum's default for JSON, 2 MiB).
const BODY_LIMIT: usize = 2 << 20;

/// Serve on `listener` until `stop` turns true. Each connection is served
/// by hyper's HTTP/1.1 with a header read timeout and a lifetime cap, and
/// the number of connections is bounded, so slow or idle clients cannot pin
/// resources (or the shutdown).
pub fn start(
    listener: tokio::net::TcpListener,
    served: crate::http::LiveServed,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    crate::http::serve(listener, served, stop, "HTTP API", true)
}

/// The API's and the web UI's routes and certificate for `state`'s
/// configuration: made at start and again on every reload (the sign-in
/// throttle carries over).
pub fn served(
    state: Arc<ApiState>,
    throttle: Arc<crate::ui::SignInThrottle>,
) -> crate::http::Served {
    let tls = state.config.api.tls.as_ref().map(crate::tls::Tls::acceptor);
    let ui = Arc::new(crate::ui::UiState {
        store: state.store.clone(),
        config: state.config.clone(),
        throttle,
        https: tls.is_some(),
    });
    let ops = Router::new()
        .route("/metrics", get(ops::metrics))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .with_state(state.clone());
    let app = router(state.clone())
        .merge(crate::ui::router(ui))
        .merge(ops)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state, ops::count));
    crate::http::Served { app, tls }
}

/// An address nothing serves: the API's JSON error under `/api/`, the web
/// UI's page elsewhere.
async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path() == "/api" || uri.path().starts_with("/api/") {
        ApiError::NotFound("no such endpoint".into()).into_response()
    } else {
        crate::ui::not_found().await
    }
}

pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route(
            "/api/spaces/accesstokens",
            get(list).post(create).put(replace),
        )
        .route("/api/spaces/accesstokens/{id}", get(read).delete(remove))
        .route("/api/ironwifi/authorize", post(ironwifi_authorize))
        .route("/api/apikeys", post(create_key))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            key_before_body,
        ))
        .with_state(state)
}

/// A request with a body is read only once its key is known, and within
/// [`BODY_READ_TIMEOUT`]: a client without a key cannot hold a connection
/// slot by sending a body slowly. (The handler still checks the key's role.)
async fn key_before_body(
    State(s): St,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    ) {
        return next.run(req).await;
    }
    let ironwifi = req.uri().path().starts_with("/api/ironwifi/");
    // Failures in the endpoint's own shape.
    let fail = |e: ApiError| {
        if ironwifi {
            ironwifi_error(e)
        } else {
            e.into_response()
        }
    };
    let (parts, body) = req.into_parts();
    if let Err(e) = authenticate(&s, &parts.headers).await {
        return fail(e);
    }
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large =
        || ApiError::TooLarge(format!("the body is too large: at most {BODY_LIMIT} bytes"));
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return fail(too_large());
    }
    let bytes =
        match tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, BODY_LIMIT)).await
        {
            Ok(Ok(b)) => b,
            Ok(Err(_)) => return fail(too_large()),
            Err(_) => {
                let mut r = fail(ApiError::Malformed(format!(
                    "the body did not arrive within {} s",
                    BODY_READ_TIMEOUT.as_secs()
                )));
                *r.status_mut() = StatusCode::REQUEST_TIMEOUT;
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                return r;
            }
        };
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

// ------------------------------------------------------------------ errors

/// One failing field, Nexudus style.
#[derive(Debug, Clone)]
struct FieldErr {
    property: String,
    message: String,
    attempted: Value,
}

#[derive(Debug)]
enum ApiError {
    Unauthorized,
    Forbidden(&'static str),
    /// A field asking for more than the key reaches: a code of a business
    /// outside its BusinessIds, or a new key wider than its creator (403,
    /// Nexudus-style naming the field).
    OutOfScope(FieldErr),
    BadRequest(Vec<FieldErr>),
    /// A request that is not even a JSON object.
    Malformed(String),
    /// A body over the size limit.
    TooLarge(String),
    /// A method the endpoint does not take.
    MethodNotAllowed,
    NotFound(String),
    Internal(String),
}

const METHOD_NOT_ALLOWED: &str = "this endpoint does not take that method";

fn failure(status: StatusCode, message: &str, errors: Value) -> Response {
    (
        status,
        Json(json!({
            "Message": message,
            "Value": null,
            "Errors": errors,
            "WasSuccessful": false,
        })),
    )
        .into_response()
}

impl ApiError {
    /// Status and plain messages, for answers in another shape.
    fn status_and_messages(&self) -> (StatusCode, Vec<String>) {
        match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                vec!["missing or invalid API key (Authorization: Bearer <key>)".into()],
            ),
            ApiError::Forbidden(role) => (
                StatusCode::FORBIDDEN,
                vec![format!("this API key lacks the role {role}")],
            ),
            ApiError::OutOfScope(e) => (
                StatusCode::FORBIDDEN,
                vec![format!("{}: {}", e.property, e.message)],
            ),
            ApiError::BadRequest(errs) => (
                StatusCode::BAD_REQUEST,
                first_per_field(errs.clone())
                    .iter()
                    .map(|e| format!("{}: {}", e.property, e.message))
                    .collect(),
            ),
            ApiError::Malformed(m) => (StatusCode::BAD_REQUEST, vec![m.clone()]),
            ApiError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, vec![m.clone()]),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                vec![METHOD_NOT_ALLOWED.into()],
            ),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, vec![m.clone()]),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                vec!["internal error (see the server log)".into()],
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Unauthorized => {
                let mut r = failure(
                    StatusCode::UNAUTHORIZED,
                    "missing or invalid API key (Authorization: Bearer <key>)",
                    Value::Null,
                );
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
            ApiError::Forbidden(role) => failure(
                StatusCode::FORBIDDEN,
                &format!("this API key lacks the role {role}"),
                Value::Null,
            ),
            ApiError::BadRequest(errs) => {
                let errs = first_per_field(errs);
                let message = errs
                    .first()
                    .map(|e| format!("{}: {}", e.property, e.message))
                    .unwrap_or_default();
                let list: Vec<Value> = errs
                    .into_iter()
                    .map(|e| {
                        json!({
                            "AttemptedValue": e.attempted,
                            "Message": e.message,
                            "PropertyName": e.property,
                        })
                    })
                    .collect();
                failure(StatusCode::BAD_REQUEST, &message, Value::Array(list))
            }
            ApiError::OutOfScope(e) => failure(
                StatusCode::FORBIDDEN,
                &format!("{}: {}", e.property, e.message),
                json!([{
                    "AttemptedValue": e.attempted,
                    "Message": e.message,
                    "PropertyName": e.property,
                }]),
            ),
            ApiError::Malformed(m) => failure(StatusCode::BAD_REQUEST, &m, json!([])),
            ApiError::TooLarge(m) => failure(StatusCode::PAYLOAD_TOO_LARGE, &m, Value::Null),
            ApiError::MethodNotAllowed => failure(
                StatusCode::METHOD_NOT_ALLOWED,
                METHOD_NOT_ALLOWED,
                Value::Null,
            ),
            ApiError::NotFound(m) => failure(StatusCode::NOT_FOUND, &m, Value::Null),
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "HTTP API: internal error");
                failure(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error (see the server log)",
                    Value::Null,
                )
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::NotFound(format!("no access token {m}")),
            StoreError::DuplicateCode { code, business_id } => {
                ApiError::BadRequest(vec![FieldErr {
                    property: "AccessCode".into(),
                    message: format!("already exists for BusinessId {business_id}"),
                    attempted: Value::String(code),
                }])
            }
            e => ApiError::Internal(e.to_string()),
        }
    }
}

// -------------------------------------------------------------- key check

/// The caller's key, whatever its roles.
async fn authenticate(s: &ApiState, headers: &HeaderMap) -> Result<ApiKey, ApiError> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .ok_or(ApiError::Unauthorized)?;
    s.store
        .authenticate_api_key(key, now())
        .await?
        .ok_or(ApiError::Unauthorized)
}

/// The caller's key, if it carries `role`.
async fn authorize(
    s: &ApiState,
    headers: &HeaderMap,
    role: &'static str,
) -> Result<ApiKey, ApiError> {
    let k = authenticate(s, headers).await?;
    if !k.has_role(role) {
        tracing::warn!(key = %k.name, role, "HTTP API: key lacks the role");
        return Err(ApiError::Forbidden(role));
    }
    Ok(k)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

// ---------------------------------------------------------- token bodies

/// A JSON number as a whole number: `1e3` is 1000; `1.5` is not whole; a
/// whole number beyond 64 bits is too large (and not "not whole").
fn whole_number(n: &serde_json::Number) -> Result<i64, &'static str> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    if n.is_u64() {
        return Err("is too large");
    }
    match n.as_f64() {
        Some(f) if f.fract() != 0.0 || !f.is_finite() => Err("must be a whole number"),
        // i64::MAX as f64 rounds up to 2^63, itself out of range.
        Some(f) if f.abs() < 9.2e18 => Ok(f as i64),
        Some(_) => Err("is too large"),
        None => Err("must be a whole number"),
    }
}

/// A whole number given as a string; all digits but out of range is "too
/// large".
fn parse_whole(s: &str) -> Result<i64, &'static str> {
    s.parse().map_err(|_| {
        let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            "is too large"
        } else {
            "must be a whole number"
        }
    })
}

/// The JSON body as an object, its keys looked up case-insensitively.
struct Body(Map<String, Value>);

impl Body {
    fn parse(body: Result<Json<Value>, JsonRejection>) -> Result<Body, ApiError> {
        match body {
            Ok(Json(Value::Object(m))) => Ok(Body(m)),
            Ok(_) => Err(ApiError::Malformed("the body must be a JSON object".into())),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::TooLarge(
                format!("the body is too large: {}", e.body_text()),
            )),
            Err(e) => Err(ApiError::Malformed(format!(
                "invalid JSON body: {}",
                e.body_text()
            ))),
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    fn attempted(&self, name: &str) -> Value {
        self.get(name).cloned().unwrap_or(Value::Null)
    }

    fn int(&self, name: &str, errs: &mut Vec<FieldErr>) -> Option<i64> {
        let v = self.get(name)?;
        let n = match v {
            Value::Number(n) => whole_number(n),
            Value::String(s) if s.trim().is_empty() => return None,
            Value::String(s) => parse_whole(s.trim()),
            _ => Err("must be a whole number"),
        };
        match n {
            Ok(n) => Some(n),
            Err(message) => {
                errs.push(FieldErr {
                    property: name.into(),
                    message: message.into(),
                    attempted: v.clone(),
                });
                None
            }
        }
    }

    fn text(&self, name: &str, errs: &mut Vec<FieldErr>) -> Option<String> {
        match self.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            v => {
                errs.push(FieldErr {
                    property: name.into(),
                    message: "must be a string".into(),
                    attempted: v.clone(),
                });
                None
            }
        }
    }

    /// A string, and only a string (no number taken for one).
    fn string(&self, name: &str, errs: &mut Vec<FieldErr>) -> Option<String> {
        match self.get(name)? {
            Value::String(s) => Some(s.clone()),
            v => {
                errs.push(FieldErr {
                    property: name.into(),
                    message: "must be a string".into(),
                    attempted: v.clone(),
                });
                None
            }
        }
    }

    fn bool(&self, name: &str, errs: &mut Vec<FieldErr>) -> Option<bool> {
        match self.get(name)? {
            Value::Bool(b) => Some(*b),
            v => {
                errs.push(FieldErr {
                    property: name.into(),
                    message: "must be true or false".into(),
                    attempted: v.clone(),
                });
                None
            }
        }
    }

    /// A list of BusinessIds (`[3, 4]`; numbers as strings too): `None`
    /// when left out or null, else the checked list (empty: every
    /// business).
    fn business_ids(&self, name: &str, errs: &mut Vec<FieldErr>) -> Option<Vec<i64>> {
        let mut bad = |message: String, attempted: &Value| {
            errs.push(FieldErr {
                property: name.into(),
                message,
                attempted: attempted.clone(),
            })
        };
        let Value::Array(items) = self.get(name)? else {
            bad(
                "must be a list of BusinessIds (numbers, 0 or more; empty: every business)".into(),
                &self.attempted(name),
            );
            return None;
        };
        let mut ids = Vec::with_capacity(items.len());
        for item in items {
            let n = match item {
                Value::Number(n) => whole_number(n),
                Value::String(s) => parse_whole(s.trim()),
                _ => Err("must be a whole number"),
            };
            match n {
                Ok(n) => ids.push(n),
                Err(m) => {
                    bad(format!("each BusinessId {m}"), item);
                    return None;
                }
            }
        }
        match check_businesses(ids) {
            Ok(ids) => Some(ids),
            Err(m) => {
                bad(m, &self.attempted(name));
                None
            }
        }
    }

    /// The token fields of the body (§1 names), BusinessId required.
    fn token_input(&self, errs: &mut Vec<FieldErr>) -> TokenInput {
        let business_id = self.int("BusinessId", errs);
        if business_id.is_none() && self.get("BusinessId").is_none() {
            errs.push(FieldErr {
                property: "BusinessId".into(),
                message: "is a required field".into(),
                attempted: Value::Null,
            });
        }
        TokenInput {
            business_id,
            access_code: self.text("AccessCode", errs),
            description: self.text("Description", errs),
            minutes_included: self.int("MinutesIncluded", errs),
            valid_from: self.text("ValidFrom", errs),
            valid_to: self.text("ValidTo", errs),
            user_limit: self.int("UserLimit", errs),
            mac_address: self.text("MacAddress", errs),
            booking_guid: self.text("BookingGuid", errs),
            visitor_guid: self.text("VisitorGuid", errs),
            valid_for: self.int("ValidForMinutes", errs).map(|m| m.to_string()),
            single_use: self.bool("SingleUse", errs),
            rate_limit: self.text("RateLimit", errs),
            guest_name: self.text("GuestName", errs),
            megabytes_included: self.int("MegabytesIncluded", errs),
        }
    }

    fn field_errors(&self, errs: Vec<FieldError>) -> Vec<FieldErr> {
        errs.into_iter()
            .map(|e| FieldErr {
                property: e.field.into(),
                attempted: self.attempted(e.field),
                message: e.message,
            })
            .collect()
    }
}

/// The Nexudus answer to a successful write.
fn written(message: &str, t: &AccessToken) -> Response {
    Json(json!({
        "Status": 200,
        "Message": message,
        "Value": {"Id": t.id},
        "OpenInDialog": false,
        "OpenInWindow": false,
        "RedirectURL": null,
        "JavaScript": null,
        "UpdatedOn": format_utc(ts(t.updated_on)),
        "UpdatedBy": t.updated_by,
        "Errors": null,
        "WasSuccessful": true,
    }))
    .into_response()
}

/// `message`, followed by why the code as stored cannot log in, if it
/// cannot (the CLI says the same on stderr).
fn with_warnings(message: &str, t: &AccessToken, cfg: &Config) -> String {
    let mut m = message.to_string();
    let tz = cfg.zone_of(t.business_id);
    for w in crate::token::unusable_warnings(t.minutes_included, t.valid_to, now(), tz) {
        m.push_str(" Warning: ");
        m.push_str(&w);
        m.push('.');
    }
    m
}

/// UpdatedBy of a change made with this key: the key's name (SPEC §7).
fn actor(k: &ApiKey) -> String {
    k.name.clone()
}

/// Who a key's changes are recorded as in the audit log.
fn audit_actor(k: &ApiKey) -> crate::store::audit::Actor {
    crate::store::audit::Actor(format!("api:{}", k.name))
}

/// 403 for a token of a business outside the key's BusinessIds, naming
/// BusinessId (the key's own businesses are no secret to it).
fn business_out_of_scope(k: &ApiKey, business_id: i64) -> ApiError {
    tracing::warn!(key = %k.name, business_id, "HTTP API: BusinessId outside the key's businesses");
    ApiError::OutOfScope(FieldErr {
        property: "BusinessId".into(),
        message: format!(
            "this API key is limited to BusinessIds {}",
            scope_text(&k.businesses)
        ),
        attempted: json!(business_id),
    })
}

/// The token with this Id, if the key reaches it: a token of another
/// business is "no access token", exactly as one that does not exist.
async fn token_in_scope(s: &ApiState, k: &ApiKey, id: i64) -> Result<AccessToken, ApiError> {
    s.store
        .token_by_id(id)
        .await?
        .filter(|t| k.sees(t.business_id))
        .ok_or_else(|| no_token(id))
}

/// The 404 for a token Id (the same for one of another business).
fn no_token(id: i64) -> ApiError {
    ApiError::NotFound(format!("no access token with Id {id}"))
}

/// The NAS identity of the IronWifi connector for throttling and places.
fn connector_nas(k: &ApiKey) -> String {
    format!("api:{}", k.name)
}

/// One error per field: the first (a value that is not a number is not
/// also "required").
fn first_per_field(errs: Vec<FieldErr>) -> Vec<FieldErr> {
    let mut out: Vec<FieldErr> = Vec::with_capacity(errs.len());
    for e in errs {
        if !out
            .iter()
            .any(|o| o.property.eq_ignore_ascii_case(&e.property))
        {
            out.push(e);
        }
    }
    out
}

// --------------------------------------------------------------- handlers

async fn create(
    State(s): St,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let key = authorize(&s, &headers, "AccessToken-Create").await?;
    let body = Body::parse(body)?;
    let mut errs = Vec::new();
    let input = body.token_input(&mut errs);
    // Zone-less ValidFrom/ValidTo in the zone of its BusinessId (SPEC §12).
    let validated = input.validate_in(&s.config.zones(), 0);
    let mut token = match validated {
        Ok(t) if errs.is_empty() => t,
        Ok(_) => return Err(ApiError::BadRequest(errs)),
        Err(e) => {
            errs.extend(body.field_errors(e));
            return Err(ApiError::BadRequest(errs));
        }
    };
    if !key.sees(token.business_id) {
        return Err(business_out_of_scope(&key, token.business_id));
    }
    token.updated_by = Some(actor(&key));
    let t = s
        .store
        .create_token(&token, now(), &audit_actor(&key))
        .await?;
    tracing::info!(key = %key.name, id = t.id, "HTTP API: token created");
    Ok(written(
        &with_warnings("AccessToken was successfully created.", &t, &s.config),
        &t,
    ))
}

async fn replace(
    State(s): St,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let key = authorize(&s, &headers, "AccessToken-Edit").await?;
    let body = Body::parse(body)?;
    let mut errs = Vec::new();
    let id = body.int("Id", &mut errs);
    if id.is_none() && body.get("Id").is_none() {
        errs.push(FieldErr {
            property: "Id".into(),
            message: "is a required field".into(),
            attempted: Value::Null,
        });
    }
    let input = body.token_input(&mut errs);
    // The record replaces the stored one: its times are read in the zone
    // of the BusinessId it carries (the new one, if it moves the code).
    let token = match input.validate_in(&s.config.zones(), 0) {
        Ok(t) => Some(t),
        Err(e) => {
            errs.extend(body.field_errors(e));
            None
        }
    };
    let (Some(id), Some(mut token), true) = (id, token, errs.is_empty()) else {
        return Err(ApiError::BadRequest(errs));
    };
    // Not into a business outside the key's (403), nor out of one: a token
    // of another business is not there for this key (404, below).
    if !key.sees(token.business_id) {
        return Err(business_out_of_scope(&key, token.business_id));
    }
    token.updated_by = Some(actor(&key));
    let mut before = None;
    let t = s
        .store
        .update_token_by_id(id, now(), &audit_actor(&key), |cur| {
            if !key.sees(cur.business_id) {
                return Err(StoreError::NotFound(String::new()));
            }
            before = Some(cur.clone());
            Ok::<_, StoreError>(TokenUpdate {
                token,
                reset_usage: false,
                audit_action: "token.update",
                reason: None,
            })
        })
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => no_token(id),
            e => e.into(),
        })?;
    tracing::info!(key = %key.name, id, "HTTP API: token replaced");
    if before.is_some_and(|old| old.shortened_by(&t, now())) {
        let sessions = s.store.running_sessions(&[t.id]).await?;
        disconnect::later(&s.config, sessions, "shortened through the API");
    }
    Ok(written(
        &with_warnings("AccessToken was successfully updated.", &t, &s.config),
        &t,
    ))
}

async fn remove(
    State(s): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key = authorize(&s, &headers, "AccessToken-Delete").await?;
    let id = parse_id(&id)?;
    let t = token_in_scope(&s, &key, id).await?;
    let sessions = s.store.running_sessions(&[id]).await?;
    // In scope again as it is deleted: it may have moved since it was read.
    let scope = key.scope();
    if !s
        .store
        .delete_token_in(id, scope.as_deref(), &audit_actor(&key))
        .await?
    {
        return Err(no_token(id));
    }
    tracing::info!(key = %key.name, id, "HTTP API: token deleted");
    disconnect::later(&s.config, sessions, "deleted through the API");
    let t = AccessToken {
        updated_by: Some(actor(&key)),
        updated_on: now(),
        ..t
    };
    Ok(written("AccessToken was successfully deleted.", &t))
}

async fn read(
    State(s): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key = authorize(&s, &headers, "AccessToken-Read").await?;
    let id = parse_id(&id)?;
    let t = token_in_scope(&s, &key, id).await?;
    let mut v = serde_json::to_value(t.to_json()).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Value::Object(m) = &mut v {
        m.insert("IsNew".into(), Value::Bool(false));
        m.insert("SystemId".into(), Value::Null);
        m.insert("ToStringText".into(), Value::String(t.access_code.clone()));
        m.insert("LocalizationDetails".into(), Value::Null);
        m.insert("CustomFields".into(), Value::Null);
    }
    Ok(Json(v).into_response())
}

fn parse_id(s: &str) -> Result<i64, ApiError> {
    s.trim().parse().map_err(|_| {
        ApiError::BadRequest(vec![FieldErr {
            property: "Id".into(),
            message: "must be a whole number".into(),
            attempted: Value::String(s.into()),
        }])
    })
}

async fn list(
    State(s): St,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let key = authorize(&s, &headers, "AccessToken-List").await?;
    let mut f = query::filter(&params, &s.config.zones()).map_err(ApiError::BadRequest)?;
    // Only the key's businesses, whatever the filters ask (a filter on
    // another business finds nothing).
    f.business_ids = key.scope();
    let (tokens, total) = s.store.list_tokens(&f, now()).await?;
    Ok(Json(crate::token::list_envelope(&tokens, total, &f, true)).into_response())
}

// ------------------------------------------------------------ API keys

/// `POST /api/apikeys` `{"Name", "Roles": [...], "BusinessIds": [...]}`:
/// any key may create keys, but only with roles it has itself (`*` only
/// from a `*` key) and reaching no further than itself: `BusinessIds` left
/// out (or null) is the creator's; `[]` is every business, so only from a
/// key that reaches every business (403 otherwise). The new key is in the
/// answer, once.
async fn create_key(
    State(s): St,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let creator = authenticate(&s, &headers).await?;
    let body = Body::parse(body)?;
    let mut errs = Vec::new();
    let name = match body.text("Name", &mut errs).as_deref().map(check_name) {
        Some(Ok(n)) => Some(n.to_string()),
        other => {
            let why = match other {
                Some(Err(e)) => e,
                _ => check_name("").err().unwrap_or_default(),
            };
            errs.push(FieldErr {
                property: "Name".into(),
                message: why,
                attempted: body.attempted("Name"),
            });
            None
        }
    };
    let mut roles: Vec<&'static str> = Vec::new();
    match body.get("Roles") {
        Some(Value::Array(items)) if !items.is_empty() => {
            for item in items {
                match item.as_str().map(parse_role) {
                    Some(Ok(r)) => {
                        if !roles.contains(&r) {
                            roles.push(r);
                        }
                    }
                    Some(Err(e)) => errs.push(FieldErr {
                        property: "Roles".into(),
                        message: e,
                        attempted: item.clone(),
                    }),
                    None => errs.push(FieldErr {
                        property: "Roles".into(),
                        message: "must be a list of role names".into(),
                        attempted: item.clone(),
                    }),
                }
            }
        }
        _ => errs.push(FieldErr {
            property: "Roles".into(),
            message: "is a required field: a non-empty list of role names".into(),
            attempted: body.attempted("Roles"),
        }),
    }
    let asked = body.business_ids("BusinessIds", &mut errs);
    let Some(name) = name.filter(|_| errs.is_empty()) else {
        return Err(ApiError::BadRequest(errs));
    };
    let granted = |r: &str| {
        creator
            .roles
            .iter()
            .any(|c| c == "*" || (c == r && r != "*"))
    };
    if let Some(r) = roles.iter().find(|r| !granted(r)) {
        tracing::warn!(key = %creator.name, role = r, "HTTP API: key tried to grant a role it lacks");
        return Err(ApiError::Forbidden(r));
    }
    let businesses = match scope_for_new_key(&creator.businesses, asked.as_deref()) {
        Ok(b) => b,
        Err(why) => {
            tracing::warn!(key = %creator.name, "HTTP API: key tried to create a key reaching further than itself");
            return Err(ApiError::OutOfScope(FieldErr {
                property: "BusinessIds".into(),
                message: why,
                attempted: body.attempted("BusinessIds"),
            }));
        }
    };
    let created = s
        .store
        .create_scoped_api_key(
            &name,
            &roles,
            &businesses,
            &actor(&creator),
            now(),
            &audit_actor(&creator),
        )
        .await;
    let (key, k) = match created {
        Err(StoreError::Conflict(m)) => {
            return Err(ApiError::BadRequest(vec![FieldErr {
                property: "Name".into(),
                message: m,
                attempted: Value::String(name),
            }]))
        }
        other => other?,
    };
    tracing::info!(key = %creator.name, created = %k.name, "HTTP API: API key created");
    Ok(Json(json!({
        "Status": 200,
        "Message": "API key was successfully created.",
        "Value": {
            "Id": k.id, "Name": k.name, "Key": key, "Display": k.display, "Roles": k.roles,
            "BusinessIds": k.businesses,
        },
        "Errors": null,
        "WasSuccessful": true,
    }))
    .into_response())
}

// ------------------------------------------------------ IronWifi connector

/// `YYYY/MM/DD HH:MM:SS +0000`, as the IronWifi connector expects.
fn ironwifi_time(t: i64) -> String {
    ts(t).format("%Y/%m/%d %H:%M:%S +0000").to_string()
}

/// The connector answers every failure in its own shape, `{"errors": [...]}`
/// (401 keeps its `WWW-Authenticate`).
async fn ironwifi_authorize(
    state: St,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    match ironwifi_decide(state, headers, body).await {
        Ok(r) => r,
        Err(ApiError::Internal(detail)) => {
            tracing::error!(error = %detail, "IronWifi authorize: internal error");
            ironwifi_reject(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error (see the server log)",
            )
        }
        Err(e) => ironwifi_error(e),
    }
}

/// A failure of the IronWifi connector in its shape: `{"errors": [...]}`.
fn ironwifi_error(e: ApiError) -> Response {
    let (status, messages) = e.status_and_messages();
    let mut r = (status, Json(json!({ "errors": messages }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

async fn ironwifi_decide(
    State(s): St,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let key = authorize(&s, &headers, "Radius-Authorize").await?;
    let body = Body::parse(body)?;
    let mut errs = Vec::new();
    // Strings as IronWifi sends them: a number is a client's mistake, not a
    // code, and a "mac" that is not a MAC address would bind or count a
    // device that does not exist.
    let login = body.string("login", &mut errs);
    let password = body.string("password", &mut errs);
    let mac = body
        .string("mac", &mut errs)
        .filter(|m| !m.trim().is_empty());
    if let Some(Err(e)) = mac.as_deref().map(normalize_mac) {
        errs.push(FieldErr {
            property: "mac".into(),
            message: e,
            attempted: body.get("mac").cloned().unwrap_or(Value::Null),
        });
    }
    let (Some(login), Some(password), true) = (login.clone(), password, errs.is_empty()) else {
        if errs.is_empty() {
            // IronWifi sends the password only for PAP logins.
            let why = if login.is_some() {
                "password is required: this connector takes PAP logins only \
                 (for CHAP and MS-CHAP IronWifi sends no password); set the hotspot to PAP"
            } else {
                "login and password are required"
            };
            return Ok(ironwifi_reject(StatusCode::BAD_REQUEST, why));
        }
        return Err(ApiError::BadRequest(errs));
    };
    let now = now();
    let business_id = connector_business(&s, &key, &login, now).await?;
    let job = AuthJob {
        user_name: login.clone(),
        credential: Credential::Pap(password.into_bytes()),
        device: mac.as_deref().and_then(device_id),
        device_mac: mac.as_deref().and_then(|m| normalize_mac(m).ok()),
        // Throttling and places count this key as the "NAS".
        nas: connector_nas(&key),
        business_id,
        accept_any_password: false,
        now,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    s.writer
        .authorize_then(job, move |r| {
            let _ = tx.send(r);
        })
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let outcome = rx
        .await
        .map_err(|_| ApiError::Internal("the store's writer stopped".into()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let cfg = &s.config;
    match (&outcome.decision, &outcome.accepted) {
        (Decision::Accept(g), Some(a)) => {
            let mut attrs = vec![attr("Session-Timeout", g.session_timeout)];
            if let Some(b) = g.bytes_left {
                let l = reply::total_limit(b);
                attrs.push(attr("Mikrotik-Total-Limit", l.octets));
                attrs.push(attr("ChilliSpot-Max-Total-Octets", l.octets));
                if let Some(g) = l.gigawords {
                    attrs.push(attr("Mikrotik-Total-Limit-Gigawords", g));
                    attrs.push(attr("ChilliSpot-Max-Total-Gigawords", g));
                }
            }
            if cfg.auth.acct_interim_interval > 0 {
                attrs.push(attr(
                    "Acct-Interim-Interval",
                    cfg.auth.acct_interim_interval,
                ));
            }
            let p = reply::plan(
                &cfg.reply,
                a.business_id,
                a.rate_limit.as_deref(),
                a.window_end,
            );
            if let Some(t) = p.idle_timeout {
                attrs.push(attr("Idle-Timeout", t));
            }
            if let Some(c) = &p.class {
                attrs.push(attr("Class", c));
            }
            if let Some(r) = &p.rate_limit {
                attrs.push(attr("Mikrotik-Rate-Limit", r));
            }
            if let Some(b) = p.bandwidth {
                attrs.push(attr("WISPr-Bandwidth-Max-Up", b.up));
                attrs.push(attr("WISPr-Bandwidth-Max-Down", b.down));
            }
            if let Some(t) = &p.terminate_time {
                attrs.push(attr("WISPr-Session-Terminate-Time", t));
            }
            let valid_from = match outcome.token_id {
                Some(id) => s.store.token_by_id(id).await?.and_then(|t| t.valid_from),
                None => None,
            };
            let until = a.window_end.unwrap_or(now + i64::from(g.session_timeout));
            tracing::info!(key = %key.name, "IronWifi authorize: accept");
            Ok(Json(json!({
                "valid_from": ironwifi_time(valid_from.unwrap_or(now).min(now)),
                "valid_until": ironwifi_time(until),
                "attributes": attrs,
            }))
            .into_response())
        }
        (Decision::Reject(r), _) => {
            tracing::info!(key = %key.name, reason = r.as_str(), "IronWifi authorize: reject");
            let status = if *r == crate::policy::auth::RejectReason::Throttled {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::FORBIDDEN
            };
            Ok(ironwifi_reject(status, cfg.messages.for_reason(*r)))
        }
        (Decision::Accept(_), None) => Err(ApiError::Internal("accept without token facts".into())),
    }
}

/// A BusinessId no code has (BusinessIds are 0 or more): a login looked up
/// in it is an unknown code.
const NO_BUSINESS: i64 = i64::MIN;

/// The business the connector looks `login` up in. A key of every
/// business: none (the code's own, as for a RADIUS client not tied to a
/// business). A key limited to businesses looks only among its own, so
/// that a code of another business is refused exactly as an unknown code
/// (the same decision path, answer, throttling and log): its only
/// business; else the one of its businesses that has the code; when none
/// of them has it, or several do (a code in several businesses is no
/// token, as for a key of every business), [`NO_BUSINESS`] — never "any
/// business", which a code moved or deleted meanwhile could turn into
/// another business's token.
async fn connector_business(
    s: &ApiState,
    key: &ApiKey,
    login: &str,
    now: i64,
) -> Result<Option<i64>, ApiError> {
    let several = match key.businesses.as_slice() {
        [] => return Ok(None),
        [only] => return Ok(Some(*only)),
        several => several,
    };
    let f = crate::token::TokenFilter {
        code: Some(login.to_string()),
        business_ids: Some(several.to_vec()),
        page: 1,
        size: 2,
        ..Default::default()
    };
    let (found, _) = s.store.list_tokens(&f, now).await?;
    Ok(Some(match found.as_slice() {
        [t] => t.business_id,
        _ => NO_BUSINESS,
    }))
}

fn attr(name: &str, value: impl ToString) -> Value {
    json!({"name": name, "value": value.to_string(), "op": ":="})
}

fn ironwifi_reject(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"errors": [message]}))).into_response()
}
