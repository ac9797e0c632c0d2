//! Codes in and out as CSV (managers and admins): the Codes page's search
//! exported (`GET /tokens/export?q=`), and `/import`, which takes a file
//! of `token export`'s columns (token/csv.rs) — all rows or none, as
//! `radgate token import`: "check only" reports what would happen, "skip
//! codes that exist" imports the new ones. An operator limited to some
//! businesses exports only those and imports only rows of those.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::auth::Signed;
use super::batches::csv_download;
use super::pages::{scope, Search};
use super::{html, managers_only, store_trouble, UiState};
use crate::store::operators::Operator;
use crate::token::TokenFilter;

/// The largest file `/import` takes (about 100,000 codes).
pub const MAX_UPLOAD: usize = 16 * 1024 * 1024;
/// Problems the result page lists at most.
const SHOWN: usize = 50;

/// `GET /tokens/export?q=`: every code the search finds (not only the
/// page shown), as CSV.
pub async fn export(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Query(q): Query<Search>,
) -> Response {
    if let Some(r) = managers_only(&op) {
        return r;
    }
    let text = q.q.trim();
    let f = TokenFilter {
        search: (!text.is_empty()).then(|| text.to_string()),
        business_ids: scope(&op),
        ..TokenFilter::default()
    };
    match s.store.all_tokens(&f, chrono::Utc::now().timestamp()).await {
        Ok(codes) => csv_download(&op, "codes.csv", &codes),
        Err(e) => store_trouble(&op, &e),
    }
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage<'a> {
    operator: Option<&'a Operator>,
    page: &'a str,
    /// What the last upload did, if there was one.
    result: Option<String>,
    ok: bool,
    problems: Vec<String>,
    more: usize,
}

fn page(
    op: &Operator,
    status: StatusCode,
    result: Option<String>,
    ok: bool,
    mut problems: Vec<String>,
) -> Response {
    let more = problems.len().saturating_sub(SHOWN);
    problems.truncate(SHOWN);
    html(
        status,
        &ImportPage {
            operator: Some(op),
            page: "import",
            result,
            ok,
            problems,
            more,
        },
    )
}

/// `GET /import`: the upload form.
pub async fn form(Signed(op): Signed) -> Response {
    if let Some(r) = managers_only(&op) {
        return r;
    }
    page(&op, StatusCode::OK, None, true, Vec::new())
}

/// What the upload form sent.
#[derive(Default)]
struct Upload {
    file: Vec<u8>,
    name: String,
    check_only: bool,
    skip_existing: bool,
}

async fn read_upload(mut m: Multipart) -> Result<Upload, String> {
    let mut u = Upload::default();
    while let Some(field) = m.next_field().await.map_err(|e| e.body_text())? {
        match field.name() {
            Some("file") => {
                u.name = field.file_name().unwrap_or("the file").to_string();
                u.file = field.bytes().await.map_err(|e| e.body_text())?.to_vec();
            }
            Some("check_only") => u.check_only = true,
            Some("skip_existing") => u.skip_existing = true,
            _ => {}
        }
    }
    Ok(u)
}

/// `POST /import` (multipart: `file`, `check_only`, `skip_existing`).
pub async fn import(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    m: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    // The role first: a desk's request is refused whatever it carries.
    if let Some(r) = managers_only(&op) {
        return r;
    }
    let bad = |why: String| {
        page(
            &op,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(why),
            false,
            Vec::new(),
        )
    };
    let m = match m {
        Ok(m) => m,
        Err(e) => {
            return bad(format!(
                "Send the form as the page does (a file upload): {}",
                e.body_text()
            ))
        }
    };
    let u = match read_upload(m).await {
        Ok(u) => u,
        Err(e) => return bad(format!("The upload did not arrive whole: {e}")),
    };
    if u.file.is_empty() {
        return bad("Choose a CSV file to import.".into());
    }
    let who = format!("ui:{}", op.name);
    // Each row's zone-less times in the zone of its BusinessId.
    let zones = s.config.zones();
    let (rows, lines, mut problems) = match crate::token::csv::parse(&u.file, &zones, &who) {
        Ok(v) => v,
        Err(e) => return bad(format!("{}: {e}. Nothing imported.", u.name)),
    };
    // Only the operator's businesses.
    for (row, line) in rows.iter().zip(&lines) {
        if !op.sees(row.token.business_id) {
            problems.push((
                *line,
                format!(
                    "BusinessId: {} is not one of yours ({})",
                    row.token.business_id,
                    op.businesses
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    let now = chrono::Utc::now().timestamp();
    let checking = u.check_only || !problems.is_empty();
    if problems.is_empty() || !rows.is_empty() {
        let actor = crate::store::audit::Actor(who);
        match s
            .store
            .import_tokens(&rows, now, checking, u.skip_existing, &actor)
            .await
        {
            Ok(Ok(_)) if !problems.is_empty() => {}
            Ok(Ok(done)) => {
                let skipped = if done.skipped > 0 {
                    format!(", {} skipped (their code or UniqueId exists)", done.skipped)
                } else {
                    String::new()
                };
                let text = if u.check_only {
                    format!(
                        "{}: {} code(s) can be imported{skipped}. Nothing imported yet (check only).",
                        u.name, done.imported
                    )
                } else {
                    tracing::info!(operator = %op.name, imported = done.imported, "web UI: codes imported");
                    format!(
                        "Imported {} code(s) from {}{skipped}.",
                        done.imported, u.name
                    )
                };
                return page(&op, StatusCode::OK, Some(text), true, Vec::new());
            }
            Err(e) => return store_trouble(&op, &e),
            Ok(Err(conflicts)) => {
                for (i, c) in conflicts {
                    problems.push((lines.get(i).copied().unwrap_or(0), c.to_string()));
                }
            }
        }
    }
    problems.sort_by_key(|(line, _)| *line);
    let rows_bad = {
        let mut l: Vec<u64> = problems.iter().map(|(l, _)| *l).collect();
        l.dedup();
        l.len()
    };
    page(
        &op,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some(format!(
            "{}: {rows_bad} bad row(s); nothing imported.",
            u.name
        )),
        false,
        problems
            .into_iter()
            .map(|(line, msg)| format!("line {line}: {msg}"))
            .collect(),
    )
}
