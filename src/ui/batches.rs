//! Batches (SPEC §10, managers and admins): every generate — the CLI's
//! `token generate`, the desk's quick issue — makes a named batch. The
//! list shows how each batch's codes stand (unused, in use, expired, used
//! up); a batch's page acts on all its codes at once: print the unused
//! ones, export them as CSV, extend, revoke (with a reason; running
//! sessions are disconnected) or delete. Each code's change is its own
//! audit record, as if done one by one. Operators limited to some
//! businesses see and touch only those businesses' codes.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::actions::{actor, chosen, extended, revoke_reason, revoked, Extend, Refusal, Revoke};
use super::auth::Signed;
use super::pages::{scope, token_rows, TokenRow};
use super::{html, managers_only, message, store_trouble, UiState};
use crate::radius::disconnect;
use crate::store::batches::{Batch, BatchSummary};
use crate::store::operators::Operator;
use crate::store::TokenUpdate;
use crate::token::parse::format_local;
use crate::token::{ts, AccessToken, NewToken, TokenFilter, Usability};

/// Batches the list shows.
const LISTED: i64 = 100;
/// Codes one batch print view shows at most.
const MAX_PRINTED: usize = 1000;
/// Codes a batch's page lists (all of them are acted on).
const CODES_SHOWN: usize = 200;

pub struct BatchRow {
    id: i64,
    name: String,
    created: String,
    by: String,
    business: i64,
    total: i64,
    unused: i64,
    in_use: i64,
    expired: i64,
    used_up: i64,
}

/// A batch, its time in the zone of its business.
fn row(b: &BatchSummary, zones: &crate::config::Zones) -> BatchRow {
    let tz = zones.of(b.batch.business_id);
    BatchRow {
        id: b.batch.id,
        name: b.batch.name.clone(),
        created: format_local(ts(b.batch.created_on), tz),
        by: b.batch.created_by.clone(),
        business: b.batch.business_id,
        total: b.total,
        unused: b.unused,
        in_use: b.in_use,
        expired: b.expired,
        used_up: b.used_up,
    }
}

#[derive(Template)]
#[template(path = "batches.html")]
struct BatchesPage<'a> {
    operator: Option<&'a Operator>,
    page: &'a str,
    rows: Vec<BatchRow>,
}

/// `GET /batches`: the newest batches with how their codes stand.
pub async fn list(State(s): State<Arc<UiState>>, Signed(op): Signed) -> Response {
    if let Some(r) = managers_only(&op) {
        return r;
    }
    let now = chrono::Utc::now().timestamp();
    let sc = scope(&op);
    let batches = match s.store.batches(sc.as_deref(), now, LISTED).await {
        Ok(v) => v,
        Err(e) => return store_trouble(&op, &e),
    };
    let zones = s.config.zones();
    html(
        StatusCode::OK,
        &BatchesPage {
            operator: Some(&op),
            page: "batches",
            rows: batches.iter().map(|b| row(b, &zones)).collect(),
        },
    )
}

/// The batch `id` (as typed) with the codes of it `op` may see, or the
/// page to answer with.
async fn visible_batch(
    s: &UiState,
    op: &Operator,
    id: &str,
) -> Result<(Batch, Vec<AccessToken>), Response> {
    if let Some(r) = managers_only(op) {
        return Err(r);
    }
    let none = || {
        message(
            StatusCode::NOT_FOUND,
            Some(op),
            "No such batch",
            "There is no batch with this Id.",
        )
    };
    let Ok(id) = id.trim().parse::<i64>() else {
        return Err(none());
    };
    let batch = match s.store.batch(id).await {
        Ok(Some(b)) if op.sees(b.business_id) => b,
        Ok(_) => return Err(none()),
        Err(e) => return Err(store_trouble(op, &e)),
    };
    let f = TokenFilter {
        batch_id: Some(id),
        business_ids: scope(op),
        ..TokenFilter::default()
    };
    match s.store.all_tokens(&f, chrono::Utc::now().timestamp()).await {
        Ok(codes) => Ok((batch, codes)),
        Err(e) => Err(store_trouble(op, &e)),
    }
}

#[derive(Template)]
#[template(path = "batch.html")]
struct BatchPage<'a> {
    operator: Option<&'a Operator>,
    page: &'a str,
    b: BatchRow,
    done: Option<String>,
    codes: Vec<TokenRow>,
    more: usize,
    any_end: bool,
}

#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    done: String,
    #[serde(default)]
    n: String,
    #[serde(default)]
    skipped: String,
}

/// `GET /batches/{Id}`: the batch, its codes and what can be done to all.
pub async fn show(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Path(id): Path<String>,
    axum::extract::Query(d): axum::extract::Query<Done>,
) -> Response {
    let (batch, codes) = match visible_batch(&s, &op, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let now = chrono::Utc::now().timestamp();
    let mut summary = BatchSummary::new(batch);
    for c in &codes {
        summary.add(category(c, now), 1);
    }
    let shown = &codes[..codes.len().min(CODES_SHOWN)];
    let rows = match token_rows(&s, &op, shown, now).await {
        Ok(v) => v,
        Err(e) => return store_trouble(&op, &e),
    };
    let n: usize = d.n.parse().unwrap_or(0);
    let skipped: usize = d.skipped.parse().unwrap_or(0);
    let codes_word = |n: usize| format!("{n} code{}", if n == 1 { "" } else { "s" });
    let skipped_text = if skipped > 0 {
        format!(" ({} left as they were)", codes_word(skipped))
    } else {
        String::new()
    };
    let done = match d.done.as_str() {
        "extend" => Some(format!("Extended {}{skipped_text}.", codes_word(n))),
        "revoke" => Some(format!(
            "Revoked {}{skipped_text}; guests online are being disconnected.",
            codes_word(n)
        )),
        _ => None,
    };
    html(
        StatusCode::OK,
        &BatchPage {
            operator: Some(&op),
            page: "batches",
            b: row(&summary, &s.config.zones()),
            done,
            more: codes.len() - shown.len(),
            any_end: codes.iter().any(|c| c.valid_to.is_some()),
            codes: rows,
        },
    )
}

/// The summary's category of one code (as store/batches.rs sorts them).
fn category(t: &AccessToken, now: i64) -> &'static str {
    match t.usability(now) {
        Usability::Expired => "expired",
        Usability::Spent | Usability::UsedUp => "used_up",
        _ if t.last_access.is_none() => "unused",
        _ => "in_use",
    }
}

/// The unused codes of a batch, for its print view.
pub async fn unused_codes(
    s: &UiState,
    op: &Operator,
    id: &str,
) -> Result<(Batch, Vec<AccessToken>), Response> {
    let (batch, codes) = visible_batch(s, op, id).await?;
    let now = chrono::Utc::now().timestamp();
    let unused = codes
        .into_iter()
        .filter(|c| category(c, now) == "unused")
        .take(MAX_PRINTED)
        .collect();
    Ok((batch, unused))
}

/// `GET /batches/{Id}/export`: the batch's codes as CSV (`token export`'s
/// columns), to download.
pub async fn export(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Path(id): Path<String>,
) -> Response {
    let (batch, codes) = match visible_batch(&s, &op, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    csv_download(&op, &format!("batch-{}.csv", batch.id), &codes)
}

/// `codes` as a CSV file named `file`.
pub fn csv_download(op: &Operator, file: &str, codes: &[AccessToken]) -> Response {
    let mut body = Vec::new();
    if let Err(e) = crate::token::csv::write(&mut body, codes) {
        tracing::warn!(error = %e, "web UI: CSV not written");
        return message(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(op),
            "Not exported",
            "The CSV could not be written.",
        );
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// What a whole-batch change did.
struct Outcome {
    changed: usize,
    skipped: usize,
}

/// Change each code of the batch with `f` (`None`: leave it), each its own
/// transaction and audit record as `action`; then disconnect the running
/// sessions the changes cut short.
async fn each_code(
    s: &UiState,
    op: &Operator,
    id: &str,
    action: &'static str,
    reason: Option<String>,
    mut f: impl FnMut(&AccessToken, i64) -> Option<Result<NewToken, Refusal>>,
) -> Result<(i64, Outcome), Response> {
    let (batch, codes) = visible_batch(s, op, id).await?;
    let now = chrono::Utc::now().timestamp();
    let mut out = Outcome {
        changed: 0,
        skipped: 0,
    };
    let mut shortened = Vec::new();
    for c in codes {
        let mut before = None;
        let res = s
            .store
            .update_token_by_id(c.id, now, &actor(op), |cur| {
                if !op.sees(cur.business_id) {
                    return Err(Refusal::NotFound);
                }
                let Some(new) = f(cur, now) else {
                    return Err(Refusal::Input("left as it is"));
                };
                let mut token = new?;
                before = Some(cur.clone());
                token.updated_by = Some(format!("ui:{}", op.name));
                Ok(TokenUpdate {
                    token,
                    reset_usage: false,
                    audit_action: action,
                    reason: reason.clone(),
                })
            })
            .await;
        match res {
            Ok(t) => {
                out.changed += 1;
                if before.is_some_and(|old| old.shortened_by(&t, now)) {
                    shortened.push(t.id);
                }
            }
            Err(Refusal::NotFound) | Err(Refusal::Input(_)) => out.skipped += 1,
            Err(Refusal::Store(e)) => return Err(store_trouble(op, &e)),
        }
    }
    tracing::info!(operator = %op.name, batch = batch.id, action, changed = out.changed,
        skipped = out.skipped, "web UI: batch changed");
    if !shortened.is_empty() {
        match s.store.running_sessions(&shortened).await {
            Ok(sessions) => disconnect::later(&s.config, sessions, "batch changed by a manager"),
            Err(e) => tracing::warn!(error = %e, "web UI: sessions to disconnect not read"),
        }
    }
    Ok((batch.id, out))
}

fn back(id: i64, done: &str, out: &Outcome) -> Response {
    Redirect::to(&format!(
        "/batches/{id}?done={done}&n={}&skipped={}",
        out.changed, out.skipped
    ))
    .into_response()
}

/// `POST /batches/{Id}/extend`: the single code's Extend, to every code
/// (a code without an end date gets the time only, or is left).
pub async fn extend(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Path(id): Path<String>,
    Form(f): Form<Extend>,
) -> Response {
    let (minutes, days) = match chosen(&f) {
        Ok(v) => v,
        Err(Refusal::Input(why)) => {
            return message(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&op),
                "Not changed",
                why,
            )
        }
        Err(_) => return super::not_found().await,
    };
    match each_code(&s, &op, &id, "token.extend", None, |cur, now| {
        let days = if cur.valid_to.is_some() { days } else { 0 };
        (minutes > 0 || days > 0).then(|| extended(cur, now, minutes, days))
    })
    .await
    {
        Ok((id, out)) => back(id, "extend", &out),
        Err(r) => r,
    }
}

/// `POST /batches/{Id}/revoke`: every code still usable (or not valid
/// yet) ends now, with the reason; the others are left as they are.
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
    match each_code(&s, &op, &id, "token.revoke", Some(reason), |cur, now| {
        matches!(
            cur.usability(now),
            Usability::Usable | Usability::NotYetValid
        )
        .then(|| Ok(revoked(cur, now)))
    })
    .await
    {
        Ok((id, out)) => back(id, "revoke", &out),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct Delete {
    #[serde(default)]
    confirm: String,
}

/// `POST /batches/{Id}/delete` (with `confirm=yes`): every code of the
/// batch is deleted, its running sessions disconnected.
pub async fn delete(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Path(id): Path<String>,
    Form(f): Form<Delete>,
) -> Response {
    let (batch, codes) = match visible_batch(&s, &op, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if f.confirm != "yes" {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&op),
            "Not deleted",
            "Tick the box to confirm that the codes go for good.",
        );
    }
    let ids: Vec<i64> = codes.iter().map(|c| c.id).collect();
    let sessions = match s.store.running_sessions(&ids).await {
        Ok(v) => v,
        Err(e) => return store_trouble(&op, &e),
    };
    let f = TokenFilter {
        batch_id: Some(batch.id),
        business_ids: scope(&op),
        ..TokenFilter::default()
    };
    let now = chrono::Utc::now().timestamp();
    match s.store.delete_matching(&f, &ids, now, &actor(&op)).await {
        Ok(n) => {
            tracing::info!(operator = %op.name, batch = batch.id, deleted = n, "web UI: batch deleted");
            disconnect::later(&s.config, sessions, "batch deleted by a manager");
            message(
                StatusCode::OK,
                Some(&op),
                "Batch deleted",
                &format!(
                    "{n} code{} of “{}” deleted.",
                    if n == 1 { "" } else { "s" },
                    batch.name
                ),
            )
        }
        Err(e) => store_trouble(&op, &e),
    }
}
