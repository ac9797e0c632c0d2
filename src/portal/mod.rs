//! The guest's side (SPEC §9): the pages where a guest types an access
//! code. `i18n` holds their texts; `mikrotik` writes the hotspot pages a
//! Mikrotik router serves itself (`radgate portal mikrotik`); `server`
//! serves the portal (`[portal] listen`); `capport` is its RFC 8908 API.

pub mod capport;
pub mod chap;
pub mod i18n;
pub mod mikrotik;
pub mod server;

/// How a venue's guest pages look: `[[business]]` `name`, `logo`,
/// `accent_color`, `terms_url` (config.rs checks them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branding {
    /// Shown as the page's heading.
    pub name: String,
    /// (MIME type, bytes), shown above the name.
    pub logo: Option<(String, Vec<u8>)>,
    /// `#rrggbb`: buttons and links.
    pub accent_color: String,
    /// Terms of use the guest must accept (a checkbox and a link).
    pub terms_url: Option<String>,
    /// `network`: the Wi-Fi's name (SSID), printed on vouchers.
    pub network: Option<String>,
    /// `voucher_login_url`: a QR code on vouchers, `{code}` replaced.
    pub voucher_login_url: Option<String>,
}

impl Default for Branding {
    fn default() -> Self {
        Branding {
            name: DEFAULT_NAME.into(),
            logo: None,
            accent_color: DEFAULT_ACCENT.into(),
            terms_url: None,
            network: None,
            voucher_login_url: None,
        }
    }
}

/// The heading of a page for no business in particular: shown as the
/// page's title in the guest's language instead ("WLAN-Zugang", …).
pub const DEFAULT_NAME: &str = "Wi-Fi";

impl Branding {
    /// The page's heading: the business's name, or `title` (the page's
    /// translated title) for the default branding.
    pub fn heading<'a>(&'a self, title: &'a str) -> &'a str {
        if self.name == DEFAULT_NAME {
            title
        } else {
            &self.name
        }
    }
}

/// The accent colour when a venue sets none: white text on it passes WCAG
/// AA (contrast 5.9:1).
pub const DEFAULT_ACCENT: &str = "#1f5fa8";

/// Text for HTML: escaped, and `$` too (a Mikrotik router would read
/// `$(…)` in its pages as its own variables).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '$' => out.push_str("&#36;"),
            c => out.push(c),
        }
    }
    out
}

/// The terms checkbox (its label ticks it) and, apart, the link to the
/// terms (a new tab: the login page stays). `label` is escaped here;
/// `data_t` marks it for the page's translation script.
pub fn terms_html(url: &str, label: &str, name_attr: bool, data_t: bool) -> String {
    let shown = url
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    format!(
        "<p class=\"terms\"><input type=\"checkbox\" id=\"terms\"{} required>\
         <label for=\"terms\"{}>{}</label></p>\n\
         <p class=\"terms-link\"><a href=\"{}\" target=\"_blank\" rel=\"noopener\">{}</a></p>\n",
        if name_attr { " name=\"terms\"" } else { "" },
        if data_t { " data-t=\"terms\"" } else { "" },
        esc(label),
        esc(url),
        esc(shown),
    )
}

/// The logo as an inline image (pages carry it within their budget), or
/// nothing.
pub fn logo_html(b: &Branding) -> String {
    match &b.logo {
        Some((mime, bytes)) => {
            use base64::Engine as _;
            format!(
                "<img class=\"logo\" alt=\"\" src=\"data:{mime};base64,{}\">\n",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            )
        }
        None => String::new(),
    }
}

/// The most a logo may weigh (a guest page's budget is
/// [`mikrotik::PAGE_BUDGET`], 30 kB, with the logo inline).
pub const LOGO_BUDGET: usize = 20 * 1024;

/// A `[[business]] logo` file: its MIME type (by extension: png, jpg, jpeg,
/// gif, svg, webp) and bytes, at most [`LOGO_BUDGET`].
pub fn read_logo(path: &std::path::Path) -> Result<(String, Vec<u8>), String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let mime = match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        _ => {
            return Err(format!(
                "{}: give a .png, .jpg, .gif, .svg or .webp file",
                path.display()
            ))
        }
    };
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() > LOGO_BUDGET {
        return Err(format!(
            "{} is {} bytes; a logo may have at most {} kB (it goes inline into pages of at most {} kB)",
            path.display(),
            bytes.len(),
            LOGO_BUDGET / 1024,
            mikrotik::PAGE_BUDGET / 1024
        ));
    }
    let start = |sig: &[u8]| bytes.starts_with(sig);
    let is_image = match mime {
        "image/png" => start(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => start(b"\xff\xd8\xff"),
        "image/gif" => start(b"GIF87a") || start(b"GIF89a"),
        "image/webp" => start(b"RIFF") && bytes.get(8..12) == Some(b"WEBP"),
        _ => {
            let text = String::from_utf8_lossy(&bytes);
            let t = text.trim_start_matches('\u{feff}').trim_start();
            t.starts_with('<') && text.contains("<svg")
        }
    };
    if !is_image {
        return Err(format!(
            "{} is not a {} image (its first bytes say otherwise)",
            path.display(),
            ext
        ));
    }
    Ok((mime.to_string(), bytes))
}

/// A `[[business]] accent_color`: `#rrggbb` or `#rgb`, dark enough that
/// white text on it is readable (contrast at least 4.5:1, WCAG AA).
/// Returns it as lower-case `#rrggbb`.
pub fn accent_color(s: &str) -> Result<String, String> {
    let hex = s.trim().strip_prefix('#').unwrap_or("");
    let full: String = match hex.len() {
        3 => hex.chars().flat_map(|c| [c, c]).collect(),
        6 => hex.to_string(),
        _ => String::new(),
    };
    if full.len() != 6 || !full.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("{s:?} is not a colour like \"#1f5fa8\""));
    }
    let full = full.to_ascii_lowercase();
    let channel = |i: usize| {
        let v = f64::from(u8::from_str_radix(&full[i..i + 2], 16).unwrap_or(0)) / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4);
    let contrast = 1.05 / (l + 0.05);
    if contrast < 4.5 {
        return Err(format!(
            "#{full}: white text on it has a contrast of {contrast:.1}:1, under the 4.5:1 guests need \
             to read it; choose a darker colour"
        ));
    }
    Ok(format!("#{full}"))
}

/// The pages' one stylesheet: large touch targets, readable on a phone,
/// the venue's accent on buttons and links. `accent` is a checked
/// `#rrggbb`.
pub fn css(accent: &str) -> String {
    format!(
        "*{{box-sizing:border-box}}\
         body{{margin:0;font:17px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1b1b;background:#f4f5f7}}\
         main{{max-width:26rem;margin:0 auto;padding:1.5rem 1rem;text-align:center}}\
         .logo{{max-width:10rem;max-height:6rem;margin:.5rem auto 0;display:block}}\
         h1{{font-size:1.4rem;margin:.75rem 0 1.25rem}}\
         form{{text-align:left}}\
         label{{display:block;font-weight:600;margin:.5rem 0 .25rem}}\
         input[type=text]{{width:100%;font-size:1.4rem;padding:.7rem .8rem;border:2px solid #6b6f76;border-radius:.5rem;\
         letter-spacing:.08em}}\
         input[type=text]:focus{{outline:3px solid {accent};outline-offset:1px}}\
         .terms{{display:flex;gap:.6rem;align-items:center;margin:1rem 0}}\
         .terms input{{width:1.6rem;height:1.6rem;flex:none}}\
         .terms label{{display:inline;font-weight:400;margin:0}}\
         .terms-link{{margin:-.5rem 0 1rem 2.2rem;font-size:.9rem;overflow-wrap:anywhere}}\
         button,.button{{display:block;width:100%;min-height:3rem;margin:1rem 0;padding:.7rem;font-size:1.15rem;font-weight:600;\
         color:#fff;background:{accent};border:0;border-radius:.5rem;text-align:center;text-decoration:none;cursor:pointer}}\
         a{{color:{accent}}}\
         .error{{background:#fdecea;color:#8a1c12;border-left:4px solid #c0392b;padding:.6rem .8rem;border-radius:.3rem;text-align:left}}\
         .ok{{font-size:1.2rem;font-weight:600}}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accent_colours_are_checked_for_contrast() {
        assert_eq!(accent_color("#1F5FA8").as_deref(), Ok("#1f5fa8"));
        assert_eq!(accent_color(DEFAULT_ACCENT).as_deref(), Ok(DEFAULT_ACCENT));
        assert_eq!(accent_color("#036").as_deref(), Ok("#003366"));
        let e = accent_color("#ffcc00").unwrap_err();
        assert!(e.contains("contrast of 1.") && e.contains("darker"), "{e}");
        assert!(accent_color("blue").unwrap_err().contains("not a colour"));
        assert!(accent_color("#12345g").is_err());
        assert!(accent_color("#").is_err());
    }

    #[test]
    fn logos_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("logo.PNG");
        std::fs::write(&ok, b"\x89PNG\r\n\x1a\n....").unwrap();
        assert_eq!(read_logo(&ok).unwrap().0, "image/png");
        let fake = dir.path().join("fake.png");
        std::fs::write(&fake, b"hello").unwrap();
        assert!(read_logo(&fake).unwrap_err().contains("is not a png image"));
        let big = dir.path().join("big.svg");
        let mut svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\">".to_vec();
        svg.resize(LOGO_BUDGET + 1, b' ');
        std::fs::write(&big, svg).unwrap();
        assert!(read_logo(&big).unwrap_err().contains("at most 20 kB"));
        assert!(read_logo(&dir.path().join("logo.bmp"))
            .unwrap_err()
            .contains(".png, .jpg"));
        assert!(read_logo(&dir.path().join("gone.png"))
            .unwrap_err()
            .contains("cannot read"));
    }
}
