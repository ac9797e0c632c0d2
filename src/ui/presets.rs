//! Quick issue (SPEC §10): presets a manager defines ("2 hours", "Day pass,
//! 1 device"), and the desk's one click that makes 1..N codes of one and
//! opens their print view. Both in the audit log.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::Signed;
use super::{html, managers_only, message, store_trouble, UiState};
use crate::store::audit::Actor;
use crate::store::operators::Operator;
use crate::store::presets::{NewPreset, Preset};
use crate::token::parse::{duration_words, generate_code};

/// Codes one click may make.
pub const MAX_COUNT: i64 = 50;
/// Length of a quick-issued code (31 letters and digits without look-alikes).
const CODE_LENGTH: usize = 8;

fn actor(op: &Operator) -> Actor {
    Actor(format!("ui:{}", op.name))
}

/// A preset in words: "2 hours · 1 device · for 1 day from the first login".
pub fn describe(p: &Preset) -> String {
    let mut parts = vec![duration_words(p.minutes_included)];
    if let Some(mb) = p.megabytes_included {
        parts.push(format!("{} of data", crate::token::format_megabytes(mb)));
    }
    if let Some(u) = p.user_limit {
        parts.push(format!("{u} device{}", if u == 1 { "" } else { "s" }));
    }
    if let Some(v) = p.valid_for_minutes {
        parts.push(format!("for {} from the first login", duration_words(v)));
    }
    if p.single_use {
        parts.push("single use".into());
    }
    if p.business_id != 0 {
        parts.push(format!("business {}", p.business_id));
    }
    parts.join(" · ")
}

pub struct PresetRow {
    pub id: i64,
    pub name: String,
    pub what: String,
}

/// The presets `op` may issue from.
pub async fn visible(s: &UiState, op: &Operator) -> Vec<PresetRow> {
    s.store
        .presets()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|p| op.sees(p.business_id))
        .map(|p| PresetRow {
            id: p.id,
            name: p.name.clone(),
            what: describe(p),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "presets.html")]
struct PresetsPage<'a> {
    operator: Option<&'a Operator>,
    page: &'a str,
    rows: Vec<PresetRow>,
}

/// `GET /presets` (managers and admins).
pub async fn page(State(s): State<Arc<UiState>>, Signed(op): Signed) -> Response {
    if let Some(r) = managers_only(&op) {
        return r;
    }
    let rows = visible(&s, &op).await;
    html(
        StatusCode::OK,
        &PresetsPage {
            operator: Some(&op),
            page: "presets",
            rows,
        },
    )
}

#[derive(Deserialize)]
pub struct Add {
    #[serde(default)]
    name: String,
    #[serde(default)]
    minutes: String,
    #[serde(default)]
    valid_for: String,
    #[serde(default)]
    devices: String,
    #[serde(default)]
    megabytes: String,
    #[serde(default)]
    business: String,
    #[serde(default)]
    single_use: Option<String>,
}

/// `POST /presets/add`.
pub async fn add(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Form(f): Form<Add>,
) -> Response {
    if let Some(r) = managers_only(&op) {
        return r;
    }
    let bad = |why: &str| {
        message(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&op),
            "Not added",
            why,
        )
    };
    let opt = |v: &str| -> Result<Option<i64>, ()> {
        match v.trim() {
            "" => Ok(None),
            v => v.parse().map(Some).map_err(|_| ()),
        }
    };
    let (Ok(Some(minutes)), Ok(valid_for), Ok(devices), Ok(megabytes), Ok(business)) = (
        opt(&f.minutes),
        opt(&f.valid_for),
        opt(&f.devices),
        opt(&f.megabytes),
        opt(&f.business),
    ) else {
        return bad(
            "Time, valid for, devices, data and business are whole numbers (time is required).",
        );
    };
    let business = business.unwrap_or(op.businesses.first().copied().unwrap_or(0));
    if !op.sees(business) {
        return bad("Business: one of yours.");
    }
    let p = NewPreset {
        name: f.name.trim().to_string(),
        business_id: business,
        minutes_included: minutes,
        valid_for_minutes: valid_for,
        user_limit: devices,
        single_use: f.single_use.as_deref() == Some("on"),
        megabytes_included: megabytes,
    };
    if let Err(e) = p.check() {
        return bad(&e);
    }
    match s
        .store
        .create_preset(&p, chrono::Utc::now().timestamp(), &actor(&op))
        .await
    {
        Ok(_) => Redirect::to("/presets").into_response(),
        Err(e) => store_trouble(&op, &e),
    }
}

#[derive(Deserialize)]
pub struct Remove {
    #[serde(default)]
    id: String,
}

/// `POST /presets/remove`.
pub async fn remove(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Form(f): Form<Remove>,
) -> Response {
    if let Some(r) = managers_only(&op) {
        return r;
    }
    let Ok(id) = f.id.trim().parse::<i64>() else {
        return message(
            StatusCode::NOT_FOUND,
            Some(&op),
            "No such preset",
            "It is gone.",
        );
    };
    let mine = s
        .store
        .presets()
        .await
        .unwrap_or_default()
        .into_iter()
        .any(|p| p.id == id && op.sees(p.business_id));
    if !mine {
        return message(
            StatusCode::NOT_FOUND,
            Some(&op),
            "No such preset",
            "It is gone.",
        );
    }
    match s.store.remove_preset(id, &actor(&op)).await {
        Ok(_) => Redirect::to("/presets").into_response(),
        Err(e) => store_trouble(&op, &e),
    }
}

#[derive(Deserialize)]
pub struct Issue {
    #[serde(default)]
    preset: String,
    #[serde(default)]
    count: String,
    /// GuestName for the codes issued (optional).
    #[serde(default)]
    guest_name: String,
}

/// `POST /issue` (the desk and up): `count` codes of a preset, then their
/// print view.
pub async fn issue(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Form(f): Form<Issue>,
) -> Response {
    let count = match f.count.trim() {
        "" => 1,
        v => match v.parse::<i64>() {
            Ok(n) if (1..=MAX_COUNT).contains(&n) => n,
            _ => {
                return message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(&op),
                    "Not issued",
                    "How many: 1 to 50.",
                )
            }
        },
    };
    let preset = match s.store.presets().await {
        Ok(all) => all
            .into_iter()
            .find(|p| f.preset.trim().parse::<i64>().ok() == Some(p.id) && op.sees(p.business_id)),
        Err(e) => return store_trouble(&op, &e),
    };
    let Some(preset) = preset else {
        return message(
            StatusCode::NOT_FOUND,
            Some(&op),
            "No such preset",
            "It is gone.",
        );
    };
    let guest_name = match super::actions::guest_name(&f.guest_name) {
        Ok(g) => g,
        Err(_) => {
            return message(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&op),
                "Not issued",
                "Guest name: at most 200 characters, on one line.",
            )
        }
    };
    let now = chrono::Utc::now().timestamp();
    let mut template = preset.template();
    template.guest_name = guest_name;
    template.updated_by = Some(format!("ui:{}", op.name));
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_entropy();
    let next_code = move || generate_code(CODE_LENGTH, &mut rng);
    let made = s
        .store
        .generate_tokens(
            &template,
            count as usize,
            now,
            1000,
            next_code,
            |_| {},
            &actor(&op),
            &format!(
                "{} {}",
                preset.name,
                crate::store::batches::default_name(now, s.config.zone_of(preset.business_id))
            ),
        )
        .await;
    match made {
        Ok(tokens) => {
            tracing::info!(operator = %op.name, preset = %preset.name, count, "web UI: codes issued");
            let ids = tokens
                .iter()
                .map(|t| t.id.to_string())
                .collect::<Vec<_>>()
                .join(",");
            Redirect::to(&format!("/print?ids={ids}")).into_response()
        }
        Err(e) => {
            tracing::warn!(error = ?e, "web UI: codes not issued");
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(&op),
                "Not issued",
                "The codes could not be made. Try again in a moment.",
            )
        }
    }
}
