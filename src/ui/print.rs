//! Print views of a code (desk role and up, the operator's businesses):
//! an 80 mm receipt for the desk's thermal printer and the A4 card sheet
//! of `radgate token print`, each with the business's name, logo, network
//! name (`[[business]] network`) and a QR code for `voucher_login_url`.
//! The browser's print dialog does the rest.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::auth::Signed;
use super::{html, message, store_trouble, visible_code, UiState};
use crate::token::parse::format_local;
use crate::token::{ts, AccessToken};
use crate::voucher;

/// Codes one print view shows at most (by Id).
const MAX_PRINTED: usize = 100;

/// One receipt.
pub struct ReceiptView {
    logo: Option<String>,
    venue: String,
    network: Option<String>,
    guest: Option<String>,
    code: String,
    time: String,
    validity: String,
    first_use: Option<String>,
    qr: Option<String>,
}

#[derive(Template)]
#[template(path = "receipt.html")]
struct Receipts {
    title: String,
    items: Vec<ReceiptView>,
    printed: String,
    back: String,
    card: Option<String>,
}

fn receipt_view(s: &UiState, t: &AccessToken) -> ReceiptView {
    let tz = s.config.zone_of(t.business_id);
    let b = s
        .config
        .branding
        .get(&t.business_id)
        .cloned()
        .unwrap_or_default();
    let logo = b.logo.as_ref().map(|(mime, bytes)| {
        use base64::Engine as _;
        format!(
            "data:{mime};base64,{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    });
    ReceiptView {
        logo,
        venue: if b.name == crate::portal::DEFAULT_NAME {
            "Wi-Fi access".into()
        } else {
            b.name.clone()
        },
        network: b.network.clone(),
        guest: t.guest_name.clone(),
        code: t.access_code.clone(),
        time: voucher::allowance_text(t.minutes_included, t.megabytes_included),
        validity: voucher::validity_html(t.valid_from, t.valid_to, tz),
        first_use: voucher::first_use_text(t.valid_for_minutes, t.single_use),
        qr: qr(&b, &t.access_code),
    }
}

/// Now, on the clock of the (first) code's business.
fn now_text(s: &UiState, t: &AccessToken) -> String {
    format_local(
        ts(chrono::Utc::now().timestamp()),
        s.config.zone_of(t.business_id),
    )
}

fn qr(b: &crate::portal::Branding, code: &str) -> Option<String> {
    let url = b.voucher_login_url.as_deref()?;
    voucher::qr_svg(&url.replace("{code}", &voucher::url_encode(code))).ok()
}

/// `GET /tokens/{Id}/receipt`: the 80 mm receipt.
pub async fn receipt(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Path(id): Path<String>,
) -> Response {
    let t = match visible_code(&s, &op, &id).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let r = Receipts {
        title: format!("Voucher {}", t.access_code),
        items: vec![receipt_view(&s, &t)],
        printed: now_text(&s, &t),
        back: format!("/tokens/{}", t.id),
        card: None,
    };
    html(StatusCode::OK, &r)
}

/// `GET /tokens/{Id}/card`: the code's card on the A4 sheet of `token
/// print`.
pub async fn card(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    Path(id): Path<String>,
) -> Response {
    let t = match visible_code(&s, &op, &id).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    cards(&s, &op, std::slice::from_ref(&t))
}

/// `tokens` as A4 cards (`token print`'s sheet), in the look of the first
/// one's business. The sheet's stylesheet is inline: this page alone
/// allows inline style.
fn cards(s: &UiState, op: &crate::store::operators::Operator, tokens: &[AccessToken]) -> Response {
    let b = tokens
        .first()
        .and_then(|t| s.config.branding.get(&t.business_id))
        .cloned()
        .unwrap_or_default();
    let title = if b.name == crate::portal::DEFAULT_NAME {
        "WiFi access".to_string()
    } else {
        b.name.clone()
    };
    let sheet = voucher::Sheet {
        title: &title,
        network: b.network.as_deref(),
        login_url: b.voucher_login_url.as_deref(),
        note: None,
        zones: s.config.zones(),
    };
    match sheet.render(tokens) {
        Ok(body) => {
            let mut r = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                body,
            )
                .into_response();
            r.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; \
                     frame-ancestors 'none'; base-uri 'none'",
                ),
            );
            r
        }
        Err(e) => message(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(op),
            "Not printed",
            &e,
        ),
    }
}

/// `GET /print?ids=1,2,3[&as=card]`: several codes (those just issued, or
/// those ticked in a list: `ids` may repeat) as receipts one after
/// another, or as A4 cards; `?batch=Id` prints a batch's unused codes.
/// Codes the operator may not see are left out.
pub async fn many(
    State(s): State<Arc<UiState>>,
    Signed(op): Signed,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Response {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(q.as_deref().unwrap_or_default()).unwrap_or_default();
    let value = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let as_card = value("as") == Some("card");
    let (tokens, back, again) = if let Some(batch) = value("batch") {
        match super::batches::unused_codes(&s, &op, batch).await {
            Ok((b, codes)) => (
                codes,
                format!("/batches/{}", b.id),
                format!("/print?batch={}&as=card", b.id),
            ),
            Err(r) => return r,
        }
    } else {
        let ids: Vec<i64> = pairs
            .iter()
            .filter(|(n, _)| n == "ids")
            .flat_map(|(_, v)| v.split(','))
            .filter_map(|v| v.trim().parse().ok())
            .take(MAX_PRINTED)
            .collect();
        if ids.is_empty() {
            return message(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&op),
                "Nothing to print",
                "Tick the codes to print first.",
            );
        }
        let mut tokens = Vec::new();
        for id in ids {
            match s.store.token_by_id(id).await {
                Ok(Some(t)) if op.sees(t.business_id) => tokens.push(t),
                Ok(_) => {}
                Err(e) => return store_trouble(&op, &e),
            }
        }
        let ids = tokens
            .iter()
            .map(|t| t.id.to_string())
            .collect::<Vec<_>>()
            .join(",");
        (
            tokens,
            "/tokens".to_string(),
            format!("/print?ids={ids}&as=card"),
        )
    };
    if tokens.is_empty() {
        return message(
            StatusCode::NOT_FOUND,
            Some(&op),
            "Nothing to print",
            "None of these codes exists.",
        );
    }
    if as_card {
        return cards(&s, &op, &tokens);
    }
    let r = Receipts {
        title: format!("{} voucher(s)", tokens.len()),
        items: tokens.iter().map(|t| receipt_view(&s, t)).collect(),
        printed: now_text(&s, &tokens[0]),
        back,
        card: Some(again),
    };
    html(StatusCode::OK, &r)
}
