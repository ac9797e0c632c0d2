//! What an operations team's tools ask the HTTP listener (SPEC §11):
//! `GET /metrics` (Prometheus; behind `[api] metrics_key` when set),
//! `GET /healthz` (the process answers) and `GET /readyz` (the store
//! answers within [`READY_BOUND`] and its writer runs: a load balancer or
//! Kubernetes sends guests' NASes elsewhere otherwise). Also the counting
//! of every HTTP request for the metrics.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::ApiState;

/// How long `/readyz` waits for the store.
pub const READY_BOUND: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process lives and serves HTTP.
pub async fn healthz() -> Response {
    plain(StatusCode::OK, "ok\n")
}

/// `GET /readyz`: an empty commit through the writer (the path every
/// RADIUS answer takes) within [`READY_BOUND`]; 503 with the reason
/// otherwise. While the database's disk is full the SQLite writer adds a
/// one-page write to every commit, this one too: it fails until space is
/// free, and the first that succeeds makes radgate ready again.
pub async fn readyz(State(s): State<Arc<ApiState>>) -> Response {
    match ready(&s).await {
        Ok(()) => plain(StatusCode::OK, "ready\n"),
        Err(why) => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("not ready: {why}\n"),
        ),
    }
}

/// Whether the store answers through the writer within the bound.
pub async fn ready(s: &ApiState) -> Result<(), String> {
    match tokio::time::timeout(READY_BOUND, s.writer.flush()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_))
            if s.writer
                .gauges()
                .disk_full
                .load(std::sync::atomic::Ordering::Relaxed) =>
        {
            Err("the database's disk is full".into())
        }
        Ok(Err(e)) => Err(format!("the store's writer: {e}")),
        Err(_) => Err(format!(
            "the store did not answer within {} s",
            READY_BOUND.as_secs()
        )),
    }
}

/// `GET /metrics`: the Prometheus exposition.
pub async fn metrics(State(s): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    if let Some(key) = &s.config.api.metrics_key {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !same_secret(given.trim(), &key.0) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "metrics need Authorization: Bearer <api.metrics_key>\n",
            )
                .into_response();
        }
    }
    let sessions = match tokio::time::timeout(READY_BOUND, s.store.count_active_sessions()).await {
        Ok(Ok(n)) => n,
        // The rest is still worth a scrape; the gauge reads -1.
        _ => -1,
    };
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(sessions),
    )
        .into_response()
}

/// Whether two secrets are equal, compared as SHA-256 digests: the time
/// taken tells nothing about how much of a guess was right.
fn same_secret(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.to_string(),
    )
        .into_response()
}

/// Count each HTTP request by method, route pattern and status.
pub async fn count(
    State(s): State<Arc<ApiState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let r = next.run(req).await;
    s.metrics
        .http
        .get_or_create(&[
            ("method", method),
            ("route", route),
            ("status", r.status().as_u16().to_string()),
        ])
        .inc();
    r
}
