//! Voucher cards to print (SPEC §5 `token print`, and the web UI's print
//! views): an A4 sheet of 3 × 8 cards, each with the code, its time, its
//! validity, the network name and an optional QR code for the hotspot's
//! login URL. Everything is escaped; the only markup is ours.

use chrono_tz::Tz;

use crate::token::parse::{duration_words, format_local};
use crate::token::{ts, AccessToken};

/// Cards on one A4 page: 3 columns × 8 rows.
pub const CARDS_PER_PAGE: usize = 24;

pub struct Sheet<'a> {
    pub title: &'a str,
    pub network: Option<&'a str>,
    pub login_url: Option<&'a str>,
    pub note: Option<&'a str>,
    /// Each card's times are shown in the zone of its code's business
    /// (SPEC §12).
    pub zones: crate::config::Zones,
}

impl Sheet<'_> {
    pub fn render(&self, tokens: &[AccessToken]) -> Result<String, String> {
        let mut out = String::with_capacity(4096 + tokens.len() * 4096);
        out.push_str(HEAD);
        for (p, page) in tokens.chunks(CARDS_PER_PAGE).enumerate() {
            out.push_str(&format!(
                "<section class=\"page\" aria-label=\"page {}\">\n",
                p + 1
            ));
            for t in page {
                out.push_str(&self.card(t)?);
            }
            out.push_str("</section>\n");
        }
        out.push_str("</body>\n</html>\n");
        Ok(out)
    }

    fn card(&self, t: &AccessToken) -> Result<String, String> {
        let qr = match self.login_url {
            None => String::new(),
            Some(u) => {
                let url = u.replace("{code}", &url_encode(&t.access_code));
                format!("<div class=\"qr\">{}</div>", qr_svg(&url)?)
            }
        };
        let network = self.network.map_or(String::new(), |n| {
            format!("<div class=\"network\">{}</div>", esc(n))
        });
        let note = self.note.map_or(String::new(), |n| {
            format!("<div class=\"note\">{}</div>", esc(n))
        });
        let guest = t.guest_name.as_deref().map_or(String::new(), |g| {
            format!("\n    <div class=\"guest\">For {}</div>", esc(g))
        });
        // Smaller type for longer codes, so that every code fits its card.
        let code_class = match t.access_code.chars().count() {
            0..=10 => "code",
            11..=15 => "code medium",
            _ => "code long",
        };
        Ok(format!(
            "<article class=\"card{qr_class}\">\n  <header><div class=\"title\">{title}</div>{network}</header>\n  <div class=\"text\">{guest}\n    <div class=\"{code_class}\">{code}</div>\n    <div class=\"minutes\">{minutes}</div>\n    <div class=\"validity\">{validity}</div>{first_use}\n  </div>\n  {qr}\n  {note}\n</article>\n",
            qr_class = if qr.is_empty() { "" } else { " with-qr" },
            title = esc(self.title),
            code = esc(&t.access_code),
            minutes = esc(&allowance_text(t.minutes_included, t.megabytes_included)),
            validity = validity_html(t.valid_from, t.valid_to, self.zones.of(t.business_id)),
            first_use = first_use_text(t.valid_for_minutes, t.single_use).map_or(
                String::new(),
                |f| format!("\n    <div class=\"validity\">{}</div>", esc(&f))
            ),
        ))
    }
}

/// `90` → `1 h 30 min of access`, `1440` → `1 day of access`.
pub fn duration_text(minutes: i64) -> String {
    format!("{} of access", duration_words(minutes))
}

/// What a code gives, for a card or receipt: its time, and its data when it
/// has an allowance: `2 hours of access · 500 MB of data`.
pub fn allowance_text(minutes: i64, megabytes: Option<i64>) -> String {
    match megabytes {
        None => duration_text(minutes),
        Some(mb) => format!(
            "{} · {} of data",
            duration_text(minutes),
            crate::token::format_megabytes(mb)
        ),
    }
}

/// The rules that start at the first login, for a card: `For 1 day from
/// the first login · single use`; `None` when the code has neither.
pub fn first_use_text(valid_for_minutes: Option<i64>, single_use: bool) -> Option<String> {
    let window =
        valid_for_minutes.map(|m| format!("For {} from the first login", duration_words(m)));
    match (window, single_use) {
        (None, false) => None,
        (None, true) => Some("Single use".into()),
        (Some(w), false) => Some(w),
        (Some(w), true) => Some(format!("{w} · single use")),
    }
}

/// The validity window in local time, as HTML: each date and time is kept
/// on one line.
pub fn validity_html(from: Option<i64>, to: Option<i64>, tz: Tz) -> String {
    let f = |s: i64| {
        format!(
            "<span class=\"when\">{}</span>",
            esc(&format_local(ts(s), tz))
        )
    };
    match (from, to) {
        (None, None) => "No expiry date".into(),
        (Some(a), None) => format!("Valid from {}", f(a)),
        (None, Some(b)) => format!("Valid until {}", f(b)),
        (Some(a), Some(b)) => format!("Valid {} – {}", f(a), f(b)),
    }
}

/// HTML-escape text for element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Percent-encode everything but RFC 3986 unreserved characters.
pub fn url_encode(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            o.push(char::from(b));
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// The QR code for `data` as an inline SVG element (scaled by CSS).
pub fn qr_svg(data: &str) -> Result<String, String> {
    let code = qrcode::QrCode::with_error_correction_level(data, qrcode::EcLevel::M)
        .map_err(|e| format!("cannot make a QR code of the login URL: {e}"))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .module_dimensions(1, 1)
        .quiet_zone(true)
        .build();
    // Inline in HTML: drop the XML declaration.
    let start = svg.find("<svg").unwrap_or(0);
    Ok(svg[start..].replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"QR code: {}\" ", esc(data)),
        1,
    ))
}

const HEAD: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>WiFi vouchers</title>
<style>
  @page { size: A4 portrait; margin: 0; }
  * { box-sizing: border-box; }
  html, body { margin: 0; padding: 0; }
  body {
    font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif;
    color: #111;
    background: #888;
    -webkit-print-color-adjust: exact;
    print-color-adjust: exact;
  }
  .page {
    width: 210mm;
    height: 297mm;
    margin: 6mm auto;
    padding: 9mm 8mm;
    background: #fff;
    display: grid;
    grid-template-columns: repeat(3, 1fr);
    grid-template-rows: repeat(8, 1fr);
    gap: 2mm 3mm;
    overflow: hidden;
  }
  .card {
    border: 0.3mm dashed #777;
    border-radius: 2mm;
    padding: 1.8mm 2.5mm;
    display: grid;
    grid-template-columns: 1fr;
    grid-template-rows: auto 1fr auto;
    column-gap: 2mm;
    overflow: hidden;
    break-inside: avoid;
  }
  .card.with-qr { grid-template-columns: 1fr 21mm; }
  header { grid-column: 1 / -1; display: flex; align-items: baseline; gap: 1.5mm; min-width: 0; }
  .title { flex: none; font-size: 7pt; text-transform: uppercase; letter-spacing: 0.08em; color: #555; }
  .network { font-size: 8.5pt; font-weight: 700; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; min-width: 0; }
  .text { min-width: 0; display: flex; flex-direction: column; justify-content: center; gap: 0.5mm; }
  .code {
    font-family: "DejaVu Sans Mono", "Consolas", "Menlo", monospace;
    font-size: 15pt;
    font-weight: 700;
    letter-spacing: 0.06em;
    white-space: nowrap;
  }
  .with-qr .code { font-size: 13pt; letter-spacing: 0.02em; }
  .code.medium, .with-qr .code.medium { font-size: 10.5pt; letter-spacing: 0; }
  .code.long, .with-qr .code.long { font-size: 8.5pt; white-space: normal; overflow-wrap: anywhere; letter-spacing: 0; }
  .minutes { font-size: 8.5pt; }
  .guest { font-size: 8pt; font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  .validity { font-size: 7.5pt; color: #333; }
  .when { white-space: nowrap; }
  .note { grid-column: 1 / -1; font-size: 6.5pt; color: #555; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  .qr { align-self: center; width: 21mm; height: 21mm; }
  .qr svg { width: 100%; height: 100%; display: block; }
  @media print {
    body { background: none; }
    .page { margin: 0; break-after: page; }
    .page:last-child { break-after: auto; }
  }
</style>
</head>
<body>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn token(code: &str) -> AccessToken {
        AccessToken {
            id: 1,
            unique_id: String::new(),
            business_id: 0,
            access_code: code.into(),
            description: None,
            minutes_included: 90,
            seconds_used: 0,
            valid_from: None,
            valid_to: Some(1_767_225_540),
            user_limit: None,
            mac_address: None,
            booking_guid: None,
            visitor_guid: None,
            last_access: None,
            created_on: 0,
            updated_on: 0,
            updated_by: None,
            valid_for_minutes: None,
            single_use: false,
            first_used_on: None,
            spent_on: None,
            rate_limit: None,
            guest_name: None,
            megabytes_included: None,
            bytes_used: 0,
        }
    }

    #[test]
    fn texts() {
        assert_eq!(duration_text(1), "1 minute of access");
        assert_eq!(duration_text(45), "45 minutes of access");
        assert_eq!(allowance_text(45, None), "45 minutes of access");
        assert_eq!(
            allowance_text(45, Some(5_000)),
            "45 minutes of access · 5 GB of data"
        );
        assert_eq!(
            allowance_text(45, Some(500)),
            "45 minutes of access · 500 MB of data"
        );
        assert_eq!(duration_text(60), "1 hour of access");
        assert_eq!(duration_text(90), "1 h 30 min of access");
        assert_eq!(duration_text(2880), "2 days of access");
        assert_eq!(
            validity_html(None, Some(1_767_225_540), Tz::UTC),
            "Valid until <span class=\"when\">2025-12-31 23:59</span>"
        );
        assert_eq!(validity_html(None, None, Tz::UTC), "No expiry date");
        assert_eq!(first_use_text(None, false), None);
        assert_eq!(
            first_use_text(Some(1440), true).as_deref(),
            Some("For 1 day from the first login · single use")
        );
        assert_eq!(first_use_text(None, true).as_deref(), Some("Single use"));
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(url_encode("AB c/é"), "AB%20c%2F%C3%A9");
    }

    #[test]
    fn sheet_escapes_and_paginates() {
        let tokens: Vec<AccessToken> = (0..30).map(|i| token(&format!("<C{i}>"))).collect();
        let s = Sheet {
            title: "WiFi",
            network: Some("Café & Bar"),
            login_url: Some("http://hotspot.lan/login?username={code}&password={code}"),
            note: None,
            zones: crate::config::Zones::fixed(Tz::UTC),
        };
        let html = s.render(&tokens).unwrap();
        assert_eq!(html.matches("<section class=\"page\"").count(), 2);
        assert_eq!(html.matches("<article").count(), 30);
        assert_eq!(html.matches("<svg").count(), 30);
        assert!(html.contains("&lt;C0&gt;"));
        assert!(!html.contains("<C0>"));
        assert!(html.contains("Café &amp; Bar"));
        assert!(html.contains("username=%3CC0%3E&amp;password=%3CC0%3E"));
    }

    /// Each card in its business's zone: the same instant, two wall times.
    #[test]
    fn cards_show_their_business_zone() {
        let mut berlin = token("BERLIN1");
        berlin.business_id = 1;
        berlin.valid_from = Some(1_782_892_800); // 2026-07-01T08:00:00Z
        berlin.valid_to = Some(1_792_888_200); // 2026-10-25T00:30:00Z
        let mut ny = berlin.clone();
        ny.business_id = 2;
        ny.access_code = "NEWYORK1".into();
        let mut other = berlin.clone();
        other.business_id = 7;
        other.access_code = "OTHER1".into();
        let s = Sheet {
            title: "WiFi",
            network: None,
            login_url: None,
            note: None,
            zones: crate::config::Zones {
                server: Tz::UTC,
                business: [
                    (1, chrono_tz::Europe::Berlin),
                    (2, chrono_tz::America::New_York),
                ]
                .into(),
            },
        };
        let html = s.render(&[berlin, ny, other]).unwrap();
        let card = |code: &str| {
            let at = html.find(code).unwrap();
            html[at..].split("</article>").next().unwrap().to_string()
        };
        let when = |a: &str, b: &str| {
            format!("Valid <span class=\"when\">{a}</span> – <span class=\"when\">{b}</span>")
        };
        assert!(
            card("BERLIN1").contains(&when("2026-07-01 10:00", "2026-10-25 02:30")),
            "{html}"
        );
        assert!(
            card("NEWYORK1").contains(&when("2026-07-01 04:00", "2026-10-24 20:30")),
            "{html}"
        );
        assert!(
            card("OTHER1").contains(&when("2026-07-01 08:00", "2026-10-25 00:30")),
            "{html}"
        );
    }
}
