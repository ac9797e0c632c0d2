//! Pure parsing and normalization helpers for access tokens (SPEC section 1).
//!
//! Everything here is side-effect free and must never panic, whatever the input:
//! these functions see raw RADIUS attributes, CLI arguments and API bodies.
//!
//! Decisions worth knowing:
//! - MAC addresses: exactly the four notations `AA:BB:CC:DD:EE:FF`,
//!   `aa-bb-cc-dd-ee-ff` (one separator kind, two digits per group), Cisco
//!   `aabb.ccdd.eeff` and bare `AABBCCDDEEFF`; output is upper case with colons.
//! - Datetimes: a zone-less value is local time in the configured zone; a local
//!   time that falls into a daylight-saving gap is an error, an ambiguous one
//!   (clocks set back) resolves to the earlier instant. Years must have four
//!   digits, so `25-07-21` is rejected instead of meaning year 25.
//! - Codes are compared through [`code_key`] (Unicode upper case), so `ß` and `SS`
//!   give the same key.

use chrono::{
    DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc,
};
use chrono_tz::Tz;

/// Longest input echoed back in an error message (in characters).
const MAX_ECHO_CHARS: usize = 64;

/// Quote user input for an error message: Debug-escaped (control characters become
/// visible) and shortened when very long.
fn quote(s: &str) -> String {
    if s.chars().count() > MAX_ECHO_CHARS {
        let head: String = s.chars().take(MAX_ECHO_CHARS).collect();
        format!("{head:?}…")
    } else {
        format!("{s:?}")
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Collect the 12 hex digits of a MAC address in one of the accepted notations.
/// Works on bytes, so any non-ASCII input simply fails the hex check.
fn mac_digits(s: &str) -> Option<[u8; 12]> {
    let b = s.as_bytes();
    let digits: Vec<u8> = match b.len() {
        // AABBCCDDEEFF
        12 => b.to_vec(),
        // AABB.CCDD.EEFF
        14 => {
            if b[4] != b'.' || b[9] != b'.' {
                return None;
            }
            b.iter().copied().filter(|&c| c != b'.').collect()
        }
        // AA:BB:CC:DD:EE:FF or AA-BB-CC-DD-EE-FF (no mixing)
        17 => {
            let sep = b[2];
            if sep != b':' && sep != b'-' {
                return None;
            }
            if [5, 8, 11, 14].iter().any(|&i| b[i] != sep) {
                return None;
            }
            (0..6).flat_map(|g| [b[g * 3], b[g * 3 + 1]]).collect()
        }
        _ => return None,
    };
    if digits.len() != 12 {
        return None;
    }
    let mut out = [0u8; 12];
    for (o, &c) in out.iter_mut().zip(&digits) {
        *o = hex_val(c)?;
    }
    Some(out)
}

/// Accepts `AA:BB:CC:DD:EE:FF`, `aa-bb-cc-dd-ee-ff`, `aabb.ccdd.eeff`, `AABBCCDDEEFF`
/// (any case, surrounding whitespace trimmed). Returns `"AA:BB:CC:DD:EE:FF"`.
pub fn normalize_mac(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty MAC address (expected e.g. AA:BB:CC:DD:EE:FF)".to_string());
    }
    let digits = mac_digits(t).ok_or_else(|| {
        format!(
            "{} is not a MAC address (expected e.g. AA:BB:CC:DD:EE:FF)",
            quote(t)
        )
    })?;
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(17);
    for (i, pair) in digits.chunks(2).enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push(HEX[usize::from(pair[0])] as char);
        out.push(HEX[usize::from(pair[1])] as char);
    }
    Ok(out)
}

/// Device identity from a Calling-Station-Id: the normalized MAC when it parses as
/// one, else the trimmed string as-is. `None` if empty after trimming.
pub fn device_id(calling_station_id: &str) -> Option<String> {
    let t = calling_station_id.trim();
    if t.is_empty() {
        return None;
    }
    Some(normalize_mac(t).unwrap_or_else(|_| t.to_string()))
}

/// Zone-less layouts accepted by [`parse_datetime`] (besides the date-only form).
const NAIVE_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S%.f",
];

fn datetime_format_error(s: &str, tz: Tz) -> String {
    format!(
        "{} is not a date/time; accepted formats: 2025-07-21T12:45, 2025-07-21T12:45:30, \
         2025-07-21 12:45, 2025-07-21 (local time in {}), or with a zone: \
         2025-07-21T12:45Z, 2025-07-21T12:45:00Z, 2025-07-21T12:45:00+02:00",
        quote(s),
        tz.name()
    )
}

/// Parse a UTC offset such as `+02:00`, `-0530` or `+02` (sign included).
fn parse_offset(s: &str) -> Option<FixedOffset> {
    let b = s.as_bytes();
    let sign: i32 = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = &b[1..];
    let digits: Vec<u8> = match rest.len() {
        2 => rest.to_vec(),
        4 => rest.to_vec(),
        5 if rest[2] == b':' => vec![rest[0], rest[1], rest[3], rest[4]],
        _ => return None,
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let num = |i: usize| i32::from(digits[i] - b'0') * 10 + i32::from(digits[i + 1] - b'0');
    let hours = num(0);
    let minutes = if digits.len() == 4 { num(2) } else { 0 };
    if hours > 23 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

/// Split a trailing zone designator (`Z` or a numeric offset) off a date-time.
/// Returns the remaining text and the offset, if any. Only looks after the
/// date/time separator, so the dashes of the date are never mistaken for an offset.
fn split_zone(s: &str) -> Result<(&str, Option<FixedOffset>), ()> {
    if let Some(rest) = s.strip_suffix(['Z', 'z']) {
        return Ok((rest, Some(FixedOffset::east_opt(0).ok_or(())?)));
    }
    let Some(sep) = s.find(['T', 't', ' ']) else {
        return Ok((s, None));
    };
    let time = &s[sep + 1..];
    match time.rfind(['+', '-']) {
        Some(pos) => {
            let at = sep + 1 + pos;
            let off = parse_offset(&s[at..]).ok_or(())?;
            Ok((&s[..at], Some(off)))
        }
        None => Ok((s, None)),
    }
}

/// Datetime input for CLI/API.
///
/// Zone-less forms are local time in `tz`: `2025-07-21T12:45` (Nexudus format),
/// `2025-07-21T12:45:30`, the same with a space instead of `T`, and `2025-07-21`
/// (00:00 local). With `Z` or an offset (RFC 3339, e.g. `2025-07-21T12:45:00+02:00`,
/// also `2025-07-21T12:45Z`) the instant is absolute. A local time in a DST gap is an
/// error; an ambiguous local time (clocks set back) gives the earlier instant.
pub fn parse_datetime(s: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(datetime_format_error(t, tz));
    }
    // Four-digit year required: chrono's %Y would also take "25" or "+12345".
    let b = t.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return Err(datetime_format_error(t, tz));
    }
    let (body, offset) = split_zone(t).map_err(|()| datetime_format_error(t, tz))?;

    // RFC 3339 allows a lower-case separator; no other letter is valid in `body`.
    let body = body.replace('t', "T");
    let naive = NAIVE_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(&body, f).ok());
    let naive = match (naive, offset) {
        (Some(n), _) => n,
        // Date only: the start of that local day (00:00, or the end of a
        // daylight-saving gap at midnight). Not combined with a zone.
        (None, None) => {
            let day = NaiveDate::parse_from_str(&body, "%Y-%m-%d")
                .map_err(|_| datetime_format_error(t, tz))?;
            return local_day_start(day, tz).ok_or_else(|| format!("{} is out of range", quote(t)));
        }
        (None, Some(_)) => return Err(datetime_format_error(t, tz)),
    };

    if let Some(off) = offset {
        return off
            .from_local_datetime(&naive)
            .single()
            .map(|dt| dt.with_timezone(&Utc))
            .ok_or_else(|| format!("{} is out of range", quote(t)));
    }
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(dt) => Ok(dt.with_timezone(&Utc)),
        LocalResult::Ambiguous(earlier, later) => Ok(earlier.min(later).with_timezone(&Utc)),
        LocalResult::None => Err(format!(
            "{} does not exist in {} (daylight-saving change); give a time outside the \
             skipped hour, or the UTC offset you mean (e.g. 2025-03-30T02:30+01:00)",
            naive.format("%Y-%m-%d %H:%M"),
            tz.name()
        )),
    }
}

/// The first instant of `day` in `tz`: local midnight, or where a clock
/// change that skips midnight (e.g. America/Santiago in September) lets the
/// day begin.
fn local_day_start(day: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    let midnight = day.and_hms_opt(0, 0, 0)?;
    // Gaps last an hour, some 30 minutes; a few hours bound the search.
    (0..=240).find_map(|m| {
        let local = midnight.checked_add_signed(chrono::Duration::minutes(m))?;
        match tz.from_local_datetime(&local) {
            LocalResult::Single(dt) => Some(dt.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
            LocalResult::None => None,
        }
    })
}

/// The span of time a datetime filter value stands for, as `[start, end)`:
/// a date alone (`2025-07-21`) is that whole local day, a value with seconds
/// that second, any other form that minute (`2025-07-21T12:45` is 12:45:00 up
/// to 12:46:00, the Nexudus minute precision). Same input forms as
/// [`parse_datetime`]. Used for exact (`start <= t < end`) and range filters
/// (`--from-…` is `t >= start`, `--to-…` is `t < end`, so both bounds are
/// inclusive of the unit given).
pub fn parse_datetime_span(s: &str, tz: Tz) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let start = parse_datetime(s, tz)?;
    let t = s.trim();
    let (body, _) = split_zone(t).map_err(|()| datetime_format_error(t, tz))?;
    if body.len() == 10 {
        // Date only: up to the next local midnight (23, 24 or 25 hours).
        let day = NaiveDate::parse_from_str(body, "%Y-%m-%d")
            .map_err(|_| datetime_format_error(t, tz))?;
        let end = day
            .succ_opt()
            .and_then(|next| local_day_start(next, tz))
            .ok_or_else(|| format!("{} is out of range", quote(t)))?;
        return Ok((start, end));
    }
    // Seconds given: `HH:MM:SS` after the date and the separator.
    let unit = if body.len() >= 19 { 1 } else { 60 };
    let start_unit = start.timestamp() - start.timestamp().rem_euclid(unit);
    let start = DateTime::from_timestamp(start_unit, 0).unwrap_or(start);
    Ok((start, start + chrono::Duration::seconds(unit)))
}

/// `"2025-07-21 14:45"` in `tz`, for tables.
pub fn format_local(dt: DateTime<Utc>, tz: Tz) -> String {
    dt.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// RFC 3339 UTC with whole seconds, `"2025-07-21T12:45:00Z"`, for JSON.
pub fn format_utc(dt: DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Lookup key for case-insensitive matching: Unicode uppercase of the code.
pub fn code_key(code: &str) -> String {
    code.to_uppercase()
}

/// Longest access code in bytes: the password must equal the code, and a PAP
/// User-Password carries at most 128 bytes (RFC 2865 §5.2).
pub const MAX_CODE_BYTES: usize = 128;

/// Access code validation: not empty, no leading/trailing whitespace, no control
/// characters, at most [`MAX_CODE_BYTES`] bytes.
pub fn validate_code(code: &str) -> Result<(), String> {
    if code.is_empty() {
        return Err("access code is empty".to_string());
    }
    if code.len() > MAX_CODE_BYTES {
        return Err(format!(
            "access code is {} bytes long; at most {MAX_CODE_BYTES} bytes are allowed \
             (the PAP password limit)",
            code.len()
        ));
    }
    if code.starts_with(char::is_whitespace) || code.ends_with(char::is_whitespace) {
        return Err(format!(
            "access code {} has leading or trailing whitespace",
            quote(code)
        ));
    }
    if let Some(c) = code.chars().find(|c| c.is_control()) {
        return Err(format!(
            "access code {} contains a control character (U+{:04X})",
            quote(code),
            u32::from(c)
        ));
    }
    Ok(())
}

/// Alphabet without look-alikes: uppercase letters and digits minus 0, O, 1, I, L.
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// Random code of `len` characters from [`CODE_ALPHABET`].
pub fn generate_code<R: rand::Rng + ?Sized>(len: usize, rng: &mut R) -> String {
    (0..len)
        .map(|_| char::from(CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())]))
        .collect()
}

/// Parse a UUID in any common form (hyphenated, simple, braced, `urn:uuid:`, any
/// case) into the lowercase hyphenated form.
pub fn normalize_uuid(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty UUID (expected e.g. 67e55044-10b1-426f-9247-bb680e5fe0c8)".to_string());
    }
    uuid::Uuid::try_parse(t)
        .map(|u| u.hyphenated().to_string())
        .map_err(|e| format!("{} is not a UUID: {e}", quote(t)))
}

/// Largest ValidForMinutes: 100 years.
pub const MAX_VALID_FOR_MINUTES: i64 = 100 * 366 * 24 * 60;

/// A span of whole minutes as admins write it: `90` (minutes), `90m`, `24h`,
/// `7d`, `2w`, or a sum such as `1h30m` / `1d 12h`. Units: m (min), h, d, w.
pub fn parse_minutes_span(s: &str) -> Result<i64, String> {
    let example = "(e.g. 24h, 90m, 7d, 1h30m; a bare number is minutes)";
    let t = s.trim();
    if t.is_empty() {
        return Err(format!("is empty {example}"));
    }
    if let Ok(n) = t.parse::<i64>() {
        return check_span(n, t);
    }
    let mut total: i64 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(format!("{} is not a duration {example}", quote(t)));
        }
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{} is too large", quote(t)))?;
        rest = rest[digits..].trim_start();
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let per = match rest[..unit_len].to_ascii_lowercase().as_str() {
            "m" | "min" | "mins" | "minute" | "minutes" => 1,
            "h" | "hour" | "hours" => 60,
            "d" | "day" | "days" => 24 * 60,
            "w" | "week" | "weeks" => 7 * 24 * 60,
            _ => return Err(format!("{} is not a duration {example}", quote(t))),
        };
        rest = rest[unit_len..].trim_start();
        total = n
            .checked_mul(per)
            .and_then(|m| total.checked_add(m))
            .ok_or_else(|| format!("{} is too large", quote(t)))?;
    }
    check_span(total, t)
}

fn check_span(minutes: i64, s: &str) -> Result<i64, String> {
    if minutes < 1 {
        return Err(format!("must be at least 1 minute, got {}", quote(s)));
    }
    if minutes > MAX_VALID_FOR_MINUTES {
        return Err(format!("is too large: {} (at most 100 years)", quote(s)));
    }
    Ok(minutes)
}

/// Minutes as the largest whole units: `1440` -> `1d`, `90` -> `1h30m`.
pub fn format_minutes_span(minutes: i64) -> String {
    let mut out = String::new();
    let mut rest = minutes.max(0);
    for (unit, per) in [("d", 24 * 60), ("h", 60), ("m", 1)] {
        if rest >= per {
            out.push_str(&format!("{}{unit}", rest / per));
            rest %= per;
        }
    }
    if out.is_empty() {
        out.push_str("0m");
    }
    out
}

/// `90` → `1 h 30 min`, `1440` → `1 day`.
pub fn duration_words(minutes: i64) -> String {
    let plural = |n: i64, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    if minutes > 0 && minutes % 1440 == 0 {
        plural(minutes / 1440, "day", "days")
    } else if minutes > 0 && minutes % 60 == 0 {
        plural(minutes / 60, "hour", "hours")
    } else if minutes > 60 {
        format!("{} h {} min", minutes / 60, minutes % 60)
    } else {
        plural(minutes, "minute", "minutes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;
    use chrono_tz::Europe::Berlin;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    // ---------- minutes spans ----------

    #[test]
    fn minutes_spans() {
        for (s, m) in [
            ("90", 90),
            ("90m", 90),
            ("24h", 1440),
            ("7d", 10080),
            ("2w", 20160),
            ("1h30m", 90),
            ("1d 12h", 2160),
            (" 3 hours ", 180),
            ("1H", 60),
        ] {
            assert_eq!(parse_minutes_span(s), Ok(m), "{s}");
        }
        for s in [
            "",
            "0",
            "-5",
            "h",
            "5x",
            "1.5h",
            "99999999999999999999m",
            "1000000w",
        ] {
            assert!(parse_minutes_span(s).is_err(), "{s}");
        }
        assert_eq!(format_minutes_span(1440), "1d");
        assert_eq!(format_minutes_span(90), "1h30m");
        assert_eq!(format_minutes_span(2161), "1d12h1m");
        assert_eq!(format_minutes_span(0), "0m");
    }

    // ---------- normalize_mac ----------

    #[test]
    fn mac_colon_form() {
        assert_eq!(
            normalize_mac("AA:BB:CC:DD:EE:FF").unwrap(),
            "AA:BB:CC:DD:EE:FF"
        );
        assert_eq!(
            normalize_mac("aa:bb:cc:dd:ee:ff").unwrap(),
            "AA:BB:CC:DD:EE:FF"
        );
        assert_eq!(
            normalize_mac("00:1a:2B:3c:4D:5e").unwrap(),
            "00:1A:2B:3C:4D:5E"
        );
    }

    #[test]
    fn mac_dash_form() {
        assert_eq!(
            normalize_mac("aa-bb-cc-dd-ee-ff").unwrap(),
            "AA:BB:CC:DD:EE:FF"
        );
        assert_eq!(
            normalize_mac("01-23-45-67-89-AB").unwrap(),
            "01:23:45:67:89:AB"
        );
    }

    #[test]
    fn mac_cisco_dot_form() {
        assert_eq!(
            normalize_mac("aabb.ccdd.eeff").unwrap(),
            "AA:BB:CC:DD:EE:FF"
        );
        assert_eq!(
            normalize_mac("0123.4567.89AB").unwrap(),
            "01:23:45:67:89:AB"
        );
    }

    #[test]
    fn mac_bare_form() {
        assert_eq!(normalize_mac("AABBCCDDEEFF").unwrap(), "AA:BB:CC:DD:EE:FF");
        assert_eq!(normalize_mac("0123456789ab").unwrap(), "01:23:45:67:89:AB");
    }

    #[test]
    fn mac_trims_whitespace() {
        assert_eq!(
            normalize_mac("  aa:bb:cc:dd:ee:ff\n").unwrap(),
            "AA:BB:CC:DD:EE:FF"
        );
        assert_eq!(
            normalize_mac("\taabbccddeeff ").unwrap(),
            "AA:BB:CC:DD:EE:FF"
        );
    }

    #[test]
    fn mac_is_idempotent() {
        for s in ["aa-bb-cc-dd-ee-ff", "aabb.ccdd.eeff", "AABBCCDDEEFF"] {
            let once = normalize_mac(s).unwrap();
            assert_eq!(normalize_mac(&once).unwrap(), once);
        }
    }

    #[test]
    fn mac_rejects_wrong_lengths() {
        for s in [
            "AA:BB:CC:DD:EE",
            "AA:BB:CC:DD:EE:FF:00",
            "AABBCCDDEEF",
            "AABBCCDDEEFF0",
            "aabb.ccdd.eef",
            "aabb.ccdd.eeff.0011",
            "A:B:C:D:E:F",
            "AAA:BB:CC:DD:EE:F",
        ] {
            assert!(normalize_mac(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn mac_rejects_non_hex() {
        for s in [
            "GG:BB:CC:DD:EE:FF",
            "AA:BB:CC:DD:EE:FZ",
            "AABBCCDDEEFG",
            "aabb.ccdd.eefx",
            "+A:BB:CC:DD:EE:FF",
            "AA BB CC DD EE FF",
        ] {
            assert!(normalize_mac(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn mac_rejects_bad_separators() {
        for s in [
            "AA:BB-CC:DD:EE:FF", // mixed
            "AA.BB.CC.DD.EE.FF",
            "AA:BB:CC:DD:EEFF:",
            "AABB:CCDD:EEFF",
            "aabb-ccdd-eeff",
            "aab.bccd.deeff",
            "AA::BB:CC:DD:EE:F",
        ] {
            assert!(normalize_mac(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn mac_rejects_unicode_without_panicking() {
        for s in [
            "ÄÄ:BB:CC:DD:EE:FF",
            "AA:BB:CC:DD:EE:ＦＦ",
            "ａａｂｂｃｃｄｄｅｅｆｆ",
            "🦀🦀🦀",
            "AABBCCDDEE🦀",
            "AA:BB:CC:DD:E🦀",
            "\u{0}\u{0}:BB:CC:DD:EE:FF",
        ] {
            assert!(normalize_mac(s).is_err(), "{s:?} should be rejected");
        }
    }

    #[test]
    fn mac_error_messages() {
        assert_eq!(
            normalize_mac("xx").unwrap_err(),
            "\"xx\" is not a MAC address (expected e.g. AA:BB:CC:DD:EE:FF)"
        );
        assert!(normalize_mac("   ").unwrap_err().contains("empty"));
        assert!(normalize_mac("").unwrap_err().contains("empty"));
        // Control characters are escaped, long input is shortened.
        assert!(normalize_mac("a\u{7}b").unwrap_err().contains("\\u{7}"));
        let long = "x".repeat(1000);
        assert!(normalize_mac(&long).unwrap_err().len() < 200);
    }

    // ---------- device_id ----------

    #[test]
    fn device_id_normalizes_macs() {
        assert_eq!(
            device_id("aa-bb-cc-dd-ee-ff").as_deref(),
            Some("AA:BB:CC:DD:EE:FF")
        );
        assert_eq!(
            device_id(" aabb.ccdd.eeff ").as_deref(),
            Some("AA:BB:CC:DD:EE:FF")
        );
    }

    #[test]
    fn device_id_passes_other_strings_trimmed() {
        assert_eq!(device_id("  10.0.0.5 ").as_deref(), Some("10.0.0.5"));
        assert_eq!(
            device_id("+4915112345678").as_deref(),
            Some("+4915112345678")
        );
        assert_eq!(
            device_id("aa:bb:cc:dd:ee").as_deref(),
            Some("aa:bb:cc:dd:ee")
        );
        assert_eq!(device_id("gerät").as_deref(), Some("gerät"));
    }

    #[test]
    fn device_id_empty_is_none() {
        assert_eq!(device_id(""), None);
        assert_eq!(device_id("   \t\n"), None);
    }

    // ---------- parse_datetime ----------

    #[test]
    fn datetime_nexudus_format_utc() {
        assert_eq!(
            parse_datetime("2025-07-21T12:45", Tz::UTC).unwrap(),
            utc("2025-07-21T12:45:00Z")
        );
    }

    #[test]
    fn datetime_naive_forms_utc() {
        let cases = [
            ("2025-07-21T12:45:30", "2025-07-21T12:45:30Z"),
            ("2025-07-21 12:45", "2025-07-21T12:45:00Z"),
            ("2025-07-21 12:45:30", "2025-07-21T12:45:30Z"),
            ("2025-07-21t12:45", "2025-07-21T12:45:00Z"),
            ("2025-07-21", "2025-07-21T00:00:00Z"),
            ("  2025-07-21T12:45  ", "2025-07-21T12:45:00Z"),
            ("2025-07-21T12:45:30.250", "2025-07-21T12:45:30.250Z"),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_datetime(input, Tz::UTC).unwrap(),
                utc(want),
                "input {input}"
            );
        }
    }

    #[test]
    fn datetime_naive_forms_berlin() {
        // Summer: CEST = UTC+2.
        let cases = [
            ("2025-07-21T12:45", "2025-07-21T10:45:00Z"),
            ("2025-07-21T12:45:30", "2025-07-21T10:45:30Z"),
            ("2025-07-21 12:45", "2025-07-21T10:45:00Z"),
            ("2025-07-21 12:45:30", "2025-07-21T10:45:30Z"),
            ("2025-07-21", "2025-07-20T22:00:00Z"),
            // Winter: CET = UTC+1.
            ("2025-01-15T08:00", "2025-01-15T07:00:00Z"),
            ("2025-12-31", "2025-12-30T23:00:00Z"),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_datetime(input, Berlin).unwrap(),
                utc(want),
                "input {input}"
            );
        }
    }

    #[test]
    fn a_bare_date_starts_where_the_local_day_does() {
        use chrono_tz::America::Santiago;
        // Chile's clocks go from 00:00 to 01:00 on 2030-09-08 (UTC-4 to
        // UTC-3): that day begins at 01:00 local, 04:00 UTC.
        assert_eq!(
            parse_datetime("2030-09-08", Santiago).unwrap(),
            utc("2030-09-08T04:00:00Z")
        );
        let (start, end) = parse_datetime_span("2030-09-07", Santiago).unwrap();
        assert_eq!(
            (start, end),
            (utc("2030-09-07T04:00:00Z"), utc("2030-09-08T04:00:00Z"))
        );
        // The last four-digit day still has an end.
        assert_eq!(
            parse_datetime_span("9999-12-31", Berlin).unwrap().1,
            utc("9999-12-31T23:00:00Z")
        );
    }

    #[test]
    fn datetime_dst_gap_is_error() {
        let err = parse_datetime("2025-03-30T02:30", Berlin).unwrap_err();
        assert!(
            err.contains("does not exist in Europe/Berlin (daylight-saving change)"),
            "{err}"
        );
        assert!(err.contains("2025-03-30 02:30"), "{err}");
        // Just around the gap is fine.
        assert_eq!(
            parse_datetime("2025-03-30T01:59", Berlin).unwrap(),
            utc("2025-03-30T00:59:00Z")
        );
        assert_eq!(
            parse_datetime("2025-03-30T03:00", Berlin).unwrap(),
            utc("2025-03-30T01:00:00Z")
        );
        // With an explicit offset the same wall time is fine.
        assert_eq!(
            parse_datetime("2025-03-30T02:30+01:00", Berlin).unwrap(),
            utc("2025-03-30T01:30:00Z")
        );
    }

    #[test]
    fn datetime_ambiguous_takes_earlier() {
        // 02:30 happens twice: first in CEST (UTC+2), then in CET (UTC+1).
        assert_eq!(
            parse_datetime("2025-10-26T02:30", Berlin).unwrap(),
            utc("2025-10-26T00:30:00Z")
        );
        assert_eq!(
            parse_datetime("2025-10-26 02:30:00", Berlin).unwrap(),
            utc("2025-10-26T00:30:00Z")
        );
    }

    #[test]
    fn datetime_absolute_forms() {
        let cases = [
            ("2025-07-21T12:45:00Z", "2025-07-21T12:45:00Z"),
            ("2025-07-21T12:45Z", "2025-07-21T12:45:00Z"),
            ("2025-07-21T12:45:00z", "2025-07-21T12:45:00Z"),
            ("2025-07-21T12:45:00+02:00", "2025-07-21T10:45:00Z"),
            ("2025-07-21T12:45+02:00", "2025-07-21T10:45:00Z"),
            ("2025-07-21T12:45:00-05:30", "2025-07-21T18:15:00Z"),
            ("2025-07-21T12:45:00+0200", "2025-07-21T10:45:00Z"),
            ("2025-07-21T12:45:00+02", "2025-07-21T10:45:00Z"),
            ("2025-07-21 12:45:00+00:00", "2025-07-21T12:45:00Z"),
            ("2025-07-21T12:45:00.5Z", "2025-07-21T12:45:00.5Z"),
            ("2025-07-21T00:30:00+02:00", "2025-07-20T22:30:00Z"),
        ];
        for (input, want) in cases {
            // Time zone is irrelevant for absolute forms.
            for tz in [Tz::UTC, Berlin, chrono_tz::America::New_York] {
                assert_eq!(
                    parse_datetime(input, tz).unwrap(),
                    utc(want),
                    "input {input}"
                );
            }
        }
    }

    #[test]
    fn datetime_rejects_garbage() {
        for s in [
            "",
            "   ",
            "tomorrow",
            "2025",
            "2025-07",
            "25-07-21",
            "+12025-07-21T12:45",
            "2025-13-01",
            "2025-02-30",
            "2025-07-21T25:00",
            "2025-07-21T12:60",
            "2025-07-21T12",
            "2025-07-21T",
            "2025-07-21T12:45:00+25:00",
            "2025-07-21T12:45:00+02:60",
            "2025-07-21T12:45:00+2",
            "2025-07-21T12:45:00+ab:cd",
            "2025-07-21Z",
            "2025-07-21+02:00",
            "2025-07-21T12:45 Europe/Berlin",
            "2025-07-21T12:45ZZ",
            "21.07.2025 12:45",
            "07/21/2025",
            "2025-07-21T12:45:00+02:00 trailing",
            "2025-07-21T1２:45",
            "2025-07-21🦀12:45",
            "🦀",
        ] {
            assert!(
                parse_datetime(s, Berlin).is_err(),
                "{s:?} should be rejected"
            );
        }
    }

    #[test]
    fn datetime_error_names_formats() {
        let err = parse_datetime("next tuesday", Berlin).unwrap_err();
        assert!(err.contains("\"next tuesday\""), "{err}");
        assert!(err.contains("2025-07-21T12:45"), "{err}");
        assert!(err.contains("2025-07-21T12:45:00+02:00"), "{err}");
        assert!(err.contains("Europe/Berlin"), "{err}");
    }

    // ---------- formatting ----------

    #[test]
    fn format_local_and_utc() {
        let dt = utc("2025-07-21T12:45:30Z");
        assert_eq!(format_local(dt, Berlin), "2025-07-21 14:45");
        assert_eq!(format_local(dt, Tz::UTC), "2025-07-21 12:45");
        assert_eq!(
            format_local(utc("2025-01-01T00:00:00Z"), Berlin),
            "2025-01-01 01:00"
        );
        assert_eq!(format_utc(dt), "2025-07-21T12:45:30Z");
        assert_eq!(
            format_utc(utc("2025-07-21T12:45:00Z")),
            "2025-07-21T12:45:00Z"
        );
        // Sub-second precision is dropped.
        assert_eq!(
            format_utc(utc("2025-07-21T12:45:00.987Z")),
            "2025-07-21T12:45:00Z"
        );
    }

    #[test]
    fn format_round_trips_through_parse() {
        let dt = utc("2025-07-21T12:45:00Z");
        assert_eq!(parse_datetime(&format_utc(dt), Berlin).unwrap(), dt);
        assert_eq!(
            parse_datetime(&format_local(dt, Berlin), Berlin).unwrap(),
            dt
        );
        let parsed = parse_datetime(&format_local(dt, Berlin), Berlin).unwrap();
        assert_eq!(parsed.with_timezone(&Berlin).hour(), 14);
    }

    /// SPEC §12: two businesses in different zones, the same wall time.
    /// The rule of each zone's clock changes is the one above (a gap is an
    /// error, an ambiguous time the earlier instant), zone by zone.
    #[test]
    fn same_wall_time_in_two_zones() {
        use chrono_tz::America::New_York;
        let t = "2026-07-01T09:00";
        assert_eq!(
            parse_datetime(t, Berlin).unwrap(),
            utc("2026-07-01T07:00:00Z")
        );
        assert_eq!(
            parse_datetime(t, New_York).unwrap(),
            utc("2026-07-01T13:00:00Z")
        );
        // Berlin springs forward on 2026-03-29 (02:00 -> 03:00); New York
        // did on 2026-03-08, so 02:30 exists there (EDT, UTC-4).
        let gap = "2026-03-29T02:30";
        let e = parse_datetime(gap, Berlin).unwrap_err();
        assert!(
            e.contains("2026-03-29 02:30 does not exist in Europe/Berlin"),
            "{e}"
        );
        assert_eq!(
            parse_datetime(gap, New_York).unwrap(),
            utc("2026-03-29T06:30:00Z")
        );
        let e = parse_datetime("2026-03-08T02:30", New_York).unwrap_err();
        assert!(e.contains("does not exist in America/New_York"), "{e}");
        assert_eq!(
            parse_datetime("2026-03-08T02:30", Berlin).unwrap(),
            utc("2026-03-08T01:30:00Z")
        );
        // Berlin falls back on 2026-10-25 (02:00-03:00 twice): the earlier,
        // CEST. New York on 2026-11-01 (01:00-02:00 twice): the earlier, EDT.
        let twice = "2026-10-25T02:30";
        assert_eq!(
            parse_datetime(twice, Berlin).unwrap(),
            utc("2026-10-25T00:30:00Z")
        );
        assert_eq!(
            parse_datetime(twice, New_York).unwrap(),
            utc("2026-10-25T06:30:00Z")
        );
        assert_eq!(
            parse_datetime("2026-11-01T01:30", New_York).unwrap(),
            utc("2026-11-01T05:30:00Z")
        );
        // With an offset, the later of the two is reachable.
        assert_eq!(
            parse_datetime("2026-10-25T02:30+01:00", Berlin).unwrap(),
            utc("2026-10-25T01:30:00Z")
        );
        // Filter spans follow the same zone: a whole Berlin day of 23 hours.
        let (a, b) = parse_datetime_span("2026-03-29", Berlin).unwrap();
        assert_eq!(
            (a, b),
            (utc("2026-03-28T23:00:00Z"), utc("2026-03-29T22:00:00Z"))
        );
        let (a, b) = parse_datetime_span("2026-03-29", New_York).unwrap();
        assert_eq!(
            (a, b),
            (utc("2026-03-29T04:00:00Z"), utc("2026-03-30T04:00:00Z"))
        );
    }

    #[test]
    fn display_round_trips_per_zone() {
        use chrono_tz::America::New_York;
        for tz in [Berlin, New_York, Tz::UTC] {
            for instant in [
                "2026-01-15T08:00:00Z",
                "2026-03-29T01:00:00Z",
                "2026-07-01T23:59:00Z",
                "2026-10-25T00:30:00Z",
                "2026-11-01T05:30:00Z",
            ] {
                let dt = utc(instant);
                assert_eq!(
                    parse_datetime(&format_local(dt, tz), tz).unwrap(),
                    dt,
                    "{tz} {instant}"
                );
            }
        }
        // The one exception: the second pass of an hour shown twice reads
        // back as the first (tables show no offset); JSON and CSV are UTC.
        let second = utc("2026-10-25T01:30:00Z");
        assert_eq!(format_local(second, Berlin), "2026-10-25 02:30");
        assert_eq!(
            parse_datetime(&format_local(second, Berlin), Berlin).unwrap(),
            utc("2026-10-25T00:30:00Z")
        );
    }

    // ---------- datetime spans ----------

    #[test]
    fn datetime_span_units() {
        let span = |s: &str, tz: Tz| {
            let (a, b) = parse_datetime_span(s, tz).unwrap();
            (format_utc(a), format_utc(b))
        };
        assert_eq!(
            span("2025-07-21T12:45", Tz::UTC),
            ("2025-07-21T12:45:00Z".into(), "2025-07-21T12:46:00Z".into())
        );
        assert_eq!(
            span("2025-07-21T12:45:30", Tz::UTC),
            ("2025-07-21T12:45:30Z".into(), "2025-07-21T12:45:31Z".into())
        );
        assert_eq!(
            span("2025-07-21T12:45+02:00", Tz::UTC),
            ("2025-07-21T10:45:00Z".into(), "2025-07-21T10:46:00Z".into())
        );
        assert_eq!(
            span("2025-07-21", Berlin),
            ("2025-07-20T22:00:00Z".into(), "2025-07-21T22:00:00Z".into())
        );
        // The day clocks go forward has 23 hours.
        assert_eq!(
            span("2025-03-30", Berlin),
            ("2025-03-29T23:00:00Z".into(), "2025-03-30T22:00:00Z".into())
        );
        assert!(parse_datetime_span("tomorrow", Berlin).is_err());
        assert!(parse_datetime_span("2025-07-21Z", Berlin).is_err());
    }

    // ---------- codes ----------

    #[test]
    fn code_key_folds_case() {
        assert_eq!(code_key("abc123"), "ABC123");
        assert_eq!(code_key("AbC"), code_key("aBc"));
        assert_eq!(code_key("grüße"), "GRÜSSE");
        assert_eq!(code_key("ÉTÉ-été"), "ÉTÉ-ÉTÉ");
        assert_eq!(code_key("καλημέρα"), "ΚΑΛΗΜΈΡΑ");
        assert_eq!(code_key("a b-c_1"), "A B-C_1");
        assert_eq!(code_key(""), "");
    }

    #[test]
    fn validate_code_accepts_normal_codes() {
        for c in ["A", "WELCOME2025", "guest wifi", "café-42", "🦀🦀"] {
            assert_eq!(validate_code(c), Ok(()), "{c}");
        }
        assert_eq!(validate_code(&"x".repeat(128)), Ok(()));
        // 64 two-byte chars = 128 bytes.
        assert_eq!(validate_code(&"é".repeat(64)), Ok(()));
    }

    #[test]
    fn validate_code_rejects_empty() {
        assert!(validate_code("").unwrap_err().contains("empty"));
    }

    #[test]
    fn validate_code_rejects_too_long() {
        let err = validate_code(&"x".repeat(129)).unwrap_err();
        assert!(err.contains("129 bytes"), "{err}");
        assert!(err.contains("128"), "{err}");
        // Bytes, not characters: 65 × "é" = 130 bytes.
        assert!(validate_code(&"é".repeat(65)).is_err());
    }

    #[test]
    fn validate_code_rejects_surrounding_whitespace() {
        for c in [
            " ABC",
            "ABC ",
            "\tABC",
            "ABC\n",
            "\u{a0}ABC",
            "ABC\u{3000}",
            " ",
        ] {
            let err = validate_code(c).unwrap_err();
            assert!(
                err.contains("leading or trailing whitespace"),
                "{c:?}: {err}"
            );
        }
    }

    #[test]
    fn validate_code_rejects_control_characters() {
        for (c, cp) in [
            ("AB\tC", "U+0009"),
            ("AB\u{0}C", "U+0000"),
            ("AB\u{7f}C", "U+007F"),
            ("A\u{1b}[0m", "U+001B"),
            ("A\u{85}B", "U+0085"),
        ] {
            let err = validate_code(c).unwrap_err();
            assert!(err.contains("control character"), "{c:?}: {err}");
            assert!(err.contains(cp), "{c:?}: {err}");
        }
    }

    #[test]
    fn alphabet_has_no_look_alikes() {
        assert_eq!(CODE_ALPHABET.len(), 31);
        for bad in b"0O1IL" {
            assert!(!CODE_ALPHABET.contains(bad), "{}", *bad as char);
        }
        for &c in CODE_ALPHABET {
            assert!(c.is_ascii_uppercase() || c.is_ascii_digit());
        }
        let mut sorted = CODE_ALPHABET.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), CODE_ALPHABET.len(), "no duplicates");
    }

    #[test]
    fn generate_code_length_and_alphabet() {
        let mut rng = StdRng::seed_from_u64(42);
        for len in [0, 1, 4, 8, 12, 32, 128] {
            for _ in 0..50 {
                let code = generate_code(len, &mut rng);
                assert_eq!(code.len(), len);
                assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{code}");
                if len > 0 {
                    assert_eq!(validate_code(&code), Ok(()));
                    assert_eq!(code_key(&code), code, "generated codes are upper case");
                }
            }
        }
    }

    #[test]
    fn generate_code_is_deterministic_per_seed_and_uses_whole_alphabet() {
        let a = generate_code(16, &mut StdRng::seed_from_u64(7));
        let b = generate_code(16, &mut StdRng::seed_from_u64(7));
        let c = generate_code(16, &mut StdRng::seed_from_u64(8));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let big = generate_code(5000, &mut StdRng::seed_from_u64(1));
        for &ch in CODE_ALPHABET {
            assert!(big.as_bytes().contains(&ch), "{} never drawn", ch as char);
        }
    }

    #[test]
    fn generate_code_accepts_dyn_rng() {
        let mut rng = StdRng::seed_from_u64(3);
        let dyn_rng: &mut dyn rand::RngCore = &mut rng;
        assert_eq!(generate_code(6, dyn_rng).len(), 6);
    }

    // ---------- normalize_uuid ----------

    #[test]
    fn uuid_accepted_forms() {
        let want = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        for s in [
            "67e55044-10b1-426f-9247-bb680e5fe0c8",
            "67E55044-10B1-426F-9247-BB680E5FE0C8",
            "67e5504410b1426f9247bb680e5fe0c8",
            "67E5504410B1426F9247BB680E5FE0C8",
            "{67e55044-10b1-426f-9247-bb680e5fe0c8}",
            "{67E55044-10B1-426F-9247-BB680E5FE0C8}",
            "urn:uuid:67e55044-10b1-426f-9247-bb680e5fe0c8",
            "  67e55044-10b1-426f-9247-bb680e5fe0c8\n",
        ] {
            assert_eq!(normalize_uuid(s).as_deref(), Ok(want), "{s}");
        }
    }

    #[test]
    fn uuid_rejected_forms() {
        for s in [
            "",
            "  ",
            "not-a-uuid",
            "67e55044-10b1-426f-9247-bb680e5fe0c",
            "67e55044-10b1-426f-9247-bb680e5fe0c88",
            "67e55044-10b1-426f-9247-bb680e5fe0cg",
            "67e55044_10b1_426f_9247_bb680e5fe0c8",
            "{67e55044-10b1-426f-9247-bb680e5fe0c8",
            "67e55044-10b1-426f-9247-bb680e5fe0ç8",
            "🦀",
        ] {
            assert!(normalize_uuid(s).is_err(), "{s:?} should be rejected");
        }
        let err = normalize_uuid("not-a-uuid").unwrap_err();
        assert!(err.starts_with("\"not-a-uuid\" is not a UUID: "), "{err}");
        assert!(normalize_uuid("").unwrap_err().contains("empty"));
    }

    // ---------- robustness ----------

    /// Characters that make random strings likely to hit interesting parser paths.
    const FUZZ_CHARS: &[char] = &[
        '0',
        '1',
        '2',
        '5',
        '9',
        'a',
        'b',
        'e',
        'f',
        'A',
        'F',
        'g',
        'T',
        't',
        'Z',
        'z',
        ':',
        '-',
        '.',
        '+',
        ' ',
        '\t',
        '\n',
        '{',
        '}',
        '\0',
        'é',
        'ß',
        'Ä',
        '２',
        'Ｆ',
        '🦀',
        '\u{200b}',
        '\u{85}',
        '\u{feff}',
        '\u{10ffff}',
    ];

    const SEEDS: &[&str] = &[
        "AA:BB:CC:DD:EE:FF",
        "aabb.ccdd.eeff",
        "aabbccddeeff",
        "2025-07-21T12:45",
        "2025-07-21T12:45:30+02:00",
        "2025-03-30T02:30",
        "2025-07-21",
        "67e55044-10b1-426f-9247-bb680e5fe0c8",
    ];

    fn random_char(rng: &mut StdRng) -> char {
        match rng.gen_range(0..4) {
            0 => char::from(rng.gen_range(0u8..0x80)),
            1 => rng.gen::<char>(),
            _ => FUZZ_CHARS[rng.gen_range(0..FUZZ_CHARS.len())],
        }
    }

    fn random_string(rng: &mut StdRng) -> String {
        if rng.gen_bool(0.5) {
            let len = rng.gen_range(0..40);
            (0..len).map(|_| random_char(rng)).collect()
        } else {
            // Mutate a valid input: replace, insert or delete a few characters.
            let mut chars: Vec<char> = SEEDS[rng.gen_range(0..SEEDS.len())].chars().collect();
            for _ in 0..rng.gen_range(1..4) {
                let pos = rng.gen_range(0..=chars.len());
                match rng.gen_range(0..3) {
                    0 if pos < chars.len() => chars[pos] = random_char(rng),
                    1 if pos < chars.len() => {
                        chars.remove(pos);
                    }
                    _ => chars.insert(pos, random_char(rng)),
                }
            }
            chars.into_iter().collect()
        }
    }

    #[test]
    fn parsers_never_panic_on_random_input() {
        let mut rng = StdRng::seed_from_u64(0x5eed_cafe);
        let zones = [Tz::UTC, Berlin, chrono_tz::Australia::Lord_Howe];
        for i in 0..20_000 {
            let s = random_string(&mut rng);
            if let Ok(mac) = normalize_mac(&s) {
                assert_eq!(mac.len(), 17);
                assert_eq!(normalize_mac(&mac).as_deref(), Ok(mac.as_str()));
            }
            match device_id(&s) {
                None => assert!(s.trim().is_empty()),
                Some(id) => assert!(!id.is_empty()),
            }
            if let Ok(dt) = parse_datetime(&s, zones[i % zones.len()]) {
                let _ = format_local(dt, zones[i % zones.len()]);
                assert_eq!(
                    parse_datetime(&format_utc(dt), Tz::UTC)
                        .unwrap()
                        .timestamp(),
                    dt.timestamp()
                );
            }
            let _ = normalize_uuid(&s);
            let _ = validate_code(&s);
            let _ = code_key(&s);
        }
    }
}
