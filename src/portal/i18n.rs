//! The guest pages' texts. English, German, French and Spanish are built
//! in (`src/portal/lang/*.toml`, one `key = "text"` per line); a venue can
//! add languages or change texts with files of its own (see the README,
//! "The guest's login page").

use std::collections::BTreeMap;

/// Every text a guest page uses; each built-in language has them all.
pub const KEYS: &[&str] = &[
    "title",
    "code_label",
    "connect",
    "terms",
    "online",
    "time_left",
    "until",
    "log_out",
    "continue",
    "open_from_hotspot",
    "login_failed",
    "check_code",
    "terms_required",
    "unknown_code",
    "wrong_password",
    "not_yet_valid",
    "expired",
    "already_used",
    "no_minutes_left",
    "data_used_up",
    "mac_mismatch",
    "user_limit_reached",
    "throttled",
];

/// The built-in languages, English first (the fallback).
const BUILTIN: &[(&str, &str)] = &[
    ("en", include_str!("lang/en.toml")),
    ("de", include_str!("lang/de.toml")),
    ("fr", include_str!("lang/fr.toml")),
    ("es", include_str!("lang/es.toml")),
];

/// One language's texts, by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    /// A BCP 47 primary language tag, lower case: `en`, `de`, …
    pub lang: String,
    pub texts: BTreeMap<String, String>,
}

impl Catalog {
    /// The text for `key` (the key itself when missing: never empty).
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.texts.get(key).map_or(key, String::as_str)
    }
}

/// Parse one language file: `key = "text"` pairs of the keys in [`KEYS`].
pub fn parse(lang: &str, text: &str) -> Result<Catalog, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| e.message().to_string())?;
    let mut texts = BTreeMap::new();
    for (k, v) in table {
        if !KEYS.contains(&k.as_str()) {
            return Err(format!("unknown key {k:?} (the keys: {})", KEYS.join(", ")));
        }
        let Some(v) = v.as_str() else {
            return Err(format!("{k} must be a string"));
        };
        texts.insert(k, v.to_string());
    }
    Ok(Catalog {
        lang: lang.to_ascii_lowercase(),
        texts,
    })
}

/// The built-in catalogs, English first.
pub fn builtin() -> Vec<Catalog> {
    BUILTIN
        .iter()
        .filter_map(|(lang, text)| parse(lang, text).ok())
        .collect()
}

/// The built-in catalogs with a venue's files merged in: a file for a
/// built-in language changes the texts it names; a new language takes its
/// missing texts from English.
pub fn with_venue(extra: &[Catalog]) -> Vec<Catalog> {
    let mut all = builtin();
    let english = all.first().cloned();
    for e in extra {
        match all.iter_mut().find(|c| c.lang == e.lang) {
            Some(c) => c.texts.extend(e.texts.clone()),
            None => {
                let mut c = english.clone().unwrap_or_else(|| Catalog {
                    lang: String::new(),
                    texts: BTreeMap::new(),
                });
                c.lang = e.lang.clone();
                c.texts.extend(e.texts.clone());
                all.push(c);
            }
        }
    }
    all
}

/// The language of `available` that an `Accept-Language` header prefers
/// most (by q-value, then order; a region falls back to its language:
/// `de-AT` is `de`), or the first of `available` when none fits.
pub fn pick<'a>(accept_language: &str, available: &[&'a str]) -> Option<&'a str> {
    let mut best: Option<(f32, usize, &'a str)> = None;
    for (i, part) in accept_language.split(',').enumerate().take(32) {
        let mut it = part.split(';');
        let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        if q.is_nan() || q <= 0.0 {
            continue;
        }
        let primary = tag.split('-').next().unwrap_or("");
        let Some(&lang) = available.iter().find(|a| a.eq_ignore_ascii_case(primary)) else {
            continue;
        };
        if best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi)) {
            best = Some((q, i, lang));
        }
    }
    best.map(|(_, _, l)| l)
        .or_else(|| available.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_language_has_every_text() {
        let all = builtin();
        assert_eq!(
            all.iter().map(|c| c.lang.as_str()).collect::<Vec<_>>(),
            ["en", "de", "fr", "es"]
        );
        for c in &all {
            for k in KEYS {
                assert!(
                    c.texts.get(*k).is_some_and(|t| !t.trim().is_empty()),
                    "{}: {k} missing",
                    c.lang
                );
            }
        }
    }

    #[test]
    fn the_reject_texts_in_english_are_the_default_messages() {
        let en = &builtin()[0];
        let m = crate::config::Messages::default();
        assert_eq!(en.get("unknown_code"), m.unknown_code);
        assert_eq!(en.get("user_limit_reached"), m.user_limit_reached);
        assert_eq!(en.get("throttled"), m.throttled);
    }

    #[test]
    fn accept_language_picks_by_weight_then_order() {
        let av = ["en", "de", "fr", "es"];
        assert_eq!(pick("de-AT,de;q=0.9,en;q=0.8", &av), Some("de"));
        assert_eq!(pick("it,fr;q=0.5,es;q=0.7", &av), Some("es"));
        assert_eq!(pick("it, pt", &av), Some("en"));
        assert_eq!(pick("", &av), Some("en"));
        assert_eq!(pick("fr;q=0, es", &av), Some("es"));
        assert_eq!(pick("ES", &av), Some("es"));
        assert_eq!(pick("de", &[]), None);
    }

    #[test]
    fn a_venue_changes_and_adds_languages() {
        let it = parse("it", "title = \"Accesso Wi-Fi\"\nconnect = \"Connetti\"").unwrap();
        let de = parse("de", "connect = \"Los\"").unwrap();
        let all = with_venue(&[it, de]);
        assert_eq!(all.len(), 5);
        let get = |l: &str, k: &str| all.iter().find(|c| c.lang == l).unwrap().get(k).to_string();
        assert_eq!(get("it", "connect"), "Connetti");
        assert_eq!(
            get("it", "code_label"),
            "Access code",
            "missing texts from English"
        );
        assert_eq!(get("de", "connect"), "Los");
        assert_eq!(get("de", "code_label"), "Zugangscode");
    }

    #[test]
    fn a_venue_file_is_checked() {
        assert!(parse("it", "title = \"Accesso Wi-Fi\"").is_ok());
        let e = parse("it", "titel = \"x\"").unwrap_err();
        assert!(e.contains("unknown key \"titel\""), "{e}");
        assert!(parse("it", "title = 3")
            .unwrap_err()
            .contains("title must be a string"));
        assert!(parse("it", "title = ").is_err());
    }
}
