//! Codes as CSV: the columns of `token list --format csv`, `token export`
//! and `token import` (the Nexudus names), shared by the CLI and the web
//! UI's export and import.

use std::collections::HashMap;

use crate::config::Zones;

use crate::store::ImportToken;
use crate::token::parse::{code_key, normalize_uuid, parse_datetime};
use crate::token::{AccessToken, FieldError, TokenField, TokenInput};

/// Columns that an export carries but an import ignores: the new token gets
/// its own Id, and UpdatedOn/UpdatedBy record this import.
const IGNORED: [TokenField; 3] = [TokenField::Id, TokenField::UpdatedOn, TokenField::UpdatedBy];

/// The columns of list, export and import: the Nexudus names.
pub const HEADER: [&str; 26] = [
    "Id",
    "UniqueId",
    "BusinessId",
    "AccessCode",
    "Description",
    "MinutesIncluded",
    "MinutesLeft",
    "ValidFrom",
    "ValidTo",
    "UserLimit",
    "MacAddress",
    "BookingGuid",
    "VisitorGuid",
    "LastAccess",
    "CreatedOn",
    "UpdatedOn",
    "UpdatedBy",
    "ValidForMinutes",
    "SingleUse",
    "FirstUsedOn",
    "SpentOn",
    "RateLimit",
    "ExpiresOn",
    "GuestName",
    "MegabytesIncluded",
    "MegabytesLeft",
];

/// Tokens as CSV with a header row; datetimes RFC 3339 UTC.
pub fn write<W: std::io::Write>(out: W, tokens: &[AccessToken]) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER)?;
    for t in tokens {
        let j = t.to_json();
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        w.write_record([
            j.id.to_string(),
            j.unique_id,
            j.business_id.to_string(),
            j.access_code.clone(),
            o(&j.description),
            j.minutes_included.to_string(),
            j.minutes_left.to_string(),
            o(&j.valid_from),
            o(&j.valid_to),
            j.user_limit.map(|u| u.to_string()).unwrap_or_default(),
            o(&j.mac_address),
            o(&j.booking_guid),
            o(&j.visitor_guid),
            o(&j.last_access),
            j.created_on.clone(),
            j.updated_on.clone(),
            o(&j.updated_by),
            j.valid_for_minutes
                .map(|m| m.to_string())
                .unwrap_or_default(),
            j.single_use.to_string(),
            o(&j.first_used_on),
            o(&j.spent_on),
            o(&j.rate_limit),
            o(&j.expires_on),
            o(&j.guest_name),
            j.megabytes_included
                .map(|m| m.to_string())
                .unwrap_or_default(),
            j.megabytes_left.map(|m| m.to_string()).unwrap_or_default(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// true/yes/y/1/on or false/no/n/0/off, any case.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "on" => Ok(true),
        "false" | "no" | "n" | "0" | "off" => Ok(false),
        _ => Err(format!("must be true or false, got {s:?}")),
    }
}

/// The line of a quoted field that is never closed, if any. A field is
/// quoted when it starts with `"`; inside it `""` is a quote and the next
/// lone `"` ends it. A `"` anywhere else is an ordinary character (as the
/// csv reader reads it: `12" screen`). The csv reader would read an unclosed
/// quoted field to the end of the file.
fn unclosed_quote(data: &[u8], delimiter: u8) -> Option<u64> {
    let mut line = 1;
    let mut field_start = true;
    let mut open: Option<u64> = None;
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        i += 1;
        if open.is_some() {
            match b {
                b'"' if data.get(i) == Some(&b'"') => i += 1,
                b'"' => open = None,
                b'\n' => line += 1,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' if field_start => open = Some(line),
            d if d == delimiter => {
                field_start = true;
                continue;
            }
            b'\n' => {
                line += 1;
                field_start = true;
                continue;
            }
            b'\r' => continue,
            _ => {}
        }
        field_start = false;
    }
    open
}

/// The field separator: a comma, unless the header row has none and has
/// semicolons (what spreadsheets write where the comma is the decimal
/// mark) or tabs.
/// The separator: the first of `,` `;` tab the header row has.
fn delimiter(data: &[u8]) -> u8 {
    let header = data.split(|&b| b == b'\n').next().unwrap_or_default();
    if header.contains(&b',') {
        b','
    } else if header.contains(&b';') {
        b';'
    } else if header.contains(&b'\t') {
        b'\t'
    } else {
        b','
    }
}

/// Rows to import, their line numbers, and every problem found as
/// `(line, message)`. `Err` when the file as a whole is unusable.
/// Zone-less times of a row are read in the zone of its BusinessId
/// (`zones`, SPEC §12).
#[allow(clippy::type_complexity)]
pub fn parse(
    data: &[u8],
    zones: &Zones,
    user: &str,
) -> Result<(Vec<ImportToken>, Vec<u64>, Vec<(u64, String)>), String> {
    let delimiter = delimiter(data);
    if let Some(line) = unclosed_quote(data, delimiter) {
        return Err(format!(
            "line {line}: a double quote (\") opens a field that is never closed; \
             check the quoting (a quote inside a quoted field is written twice)"
        ));
    }
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .delimiter(delimiter)
        .from_reader(data);
    let headers = rdr
        .headers()
        .map_err(|e| format!("cannot read the header row: {e}"))?
        .clone();
    if headers.iter().all(|h| h.trim().is_empty()) {
        return Err("the file is empty; the first row must name the columns (AccessCode, MinutesIncluded, …)".into());
    }
    let mut cols: HashMap<TokenField, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim_start_matches('\u{feff}').trim();
        // Computed by export from other columns; nothing to import.
        if h.eq_ignore_ascii_case("ExpiresOn") {
            continue;
        }
        let Some(f) = TokenField::parse(h) else {
            if h.contains([',', ';', '\t']) {
                return Err(format!(
                    "line 1: unknown column {h:?}: the header row must be separated by commas, \
                     semicolons or tabs, one of them throughout (read as {:?})",
                    char::from(delimiter)
                ));
            }
            return Err(format!(
                "line 1: unknown column {h:?}; columns are the Nexudus names: {} (and ExpiresOn, \
                 which export computes and import ignores)",
                TokenField::ALL.map(|f| f.name()).join(", ")
            ));
        };
        if cols.insert(f, i).is_some() {
            return Err(format!("line 1: column {} appears twice", f.name()));
        }
    }
    for f in [TokenField::AccessCode, TokenField::MinutesIncluded] {
        if !cols.contains_key(&f) {
            return Err(format!(
                "line 1: the required column {} is missing",
                f.name()
            ));
        }
    }
    for f in IGNORED {
        cols.remove(&f);
    }

    let mut rows = Vec::new();
    let mut lines = Vec::new();
    let mut bad: Vec<(u64, String)> = Vec::new();
    let mut codes: HashMap<(i64, String), u64> = HashMap::new();
    let mut uids: HashMap<String, u64> = HashMap::new();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let msg = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!("has {len} fields, the header has {expected_len}")
                    }
                    _ => e.to_string(),
                };
                bad.push((line, msg));
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        if rec.iter().all(|v| v.trim().is_empty()) {
            continue; // blank line
        }
        let get = |f: TokenField| -> Option<&str> { cols.get(&f).and_then(|&i| rec.get(i)) };
        let mut errs: Vec<FieldError> = Vec::new();
        let mut int = |f: TokenField| -> Option<i64> {
            let v = get(f)?.trim();
            if v.is_empty() {
                return None;
            }
            match v.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errs.push(FieldError {
                        field: f.name(),
                        message: format!("{v:?} is not a whole number"),
                    });
                    None
                }
            }
        };
        let business_id = int(TokenField::BusinessId);
        let tz = zones.of(business_id.unwrap_or(0));
        let minutes = int(TokenField::MinutesIncluded);
        // An unparsable value is reported once, not again as missing.
        let minutes = minutes.or_else(|| {
            get(TokenField::MinutesIncluded)
                .filter(|v| !v.trim().is_empty())
                .map(|_| 0)
        });
        let user_limit = int(TokenField::UserLimit);
        let minutes_left = int(TokenField::MinutesLeft);
        let megabytes = int(TokenField::MegabytesIncluded);
        let megabytes_left = int(TokenField::MegabytesLeft);
        let text = |f: TokenField| get(f).filter(|v| !v.trim().is_empty()).map(str::to_string);
        let input = TokenInput {
            business_id,
            access_code: get(TokenField::AccessCode)
                .map(str::to_string)
                .filter(|c| !c.is_empty()),
            description: text(TokenField::Description),
            minutes_included: minutes,
            valid_from: text(TokenField::ValidFrom),
            valid_to: text(TokenField::ValidTo),
            user_limit,
            mac_address: text(TokenField::MacAddress),
            booking_guid: text(TokenField::BookingGuid),
            visitor_guid: text(TokenField::VisitorGuid),
            valid_for: text(TokenField::ValidForMinutes),
            single_use: None,
            rate_limit: text(TokenField::RateLimit),
            guest_name: text(TokenField::GuestName),
            megabytes_included: megabytes,
        };
        let mut input = input;
        if let Some(v) = text(TokenField::SingleUse) {
            match parse_bool(&v) {
                Ok(b) => input.single_use = Some(b),
                Err(e) => errs.push(FieldError {
                    field: "SingleUse",
                    message: e,
                }),
            }
        }
        let mut time = |f: TokenField| -> Option<i64> {
            let v = text(f)?;
            match parse_datetime(&v, tz) {
                Ok(d) => Some(d.timestamp()),
                Err(e) => {
                    errs.push(FieldError {
                        field: f.name(),
                        message: e,
                    });
                    None
                }
            }
        };
        let last_access = time(TokenField::LastAccess);
        let created_on = time(TokenField::CreatedOn);
        let first_used_on = time(TokenField::FirstUsedOn);
        let spent_on = time(TokenField::SpentOn);
        let unique_id = match text(TokenField::UniqueId).map(|u| normalize_uuid(&u)) {
            None => None,
            Some(Ok(u)) => Some(u),
            Some(Err(e)) => {
                errs.push(FieldError {
                    field: "UniqueId",
                    message: e,
                });
                None
            }
        };
        let token = match input.validate(tz, 0) {
            Ok(t) => Some(t),
            Err(e) => {
                errs.extend(e);
                None
            }
        };
        let mut seconds_used = 0;
        if let (Some(t), Some(left)) = (&token, minutes_left) {
            if left < 0 || left > t.minutes_included {
                errs.push(FieldError {
                    field: "MinutesLeft",
                    message: format!(
                        "must be 0..MinutesIncluded ({}), got {left}",
                        t.minutes_included
                    ),
                });
            } else {
                seconds_used = (t.minutes_included - left) * 60;
            }
        }
        let mut bytes_used = 0;
        if let (Some(t), Some(left)) = (&token, megabytes_left) {
            match t.megabytes_included {
                Some(mb) if (0..=mb).contains(&left) => {
                    bytes_used = (mb - left) * crate::policy::auth::BYTES_PER_MB;
                }
                Some(mb) => errs.push(FieldError {
                    field: "MegabytesLeft",
                    message: format!("must be 0..MegabytesIncluded ({mb}), got {left}"),
                }),
                None => errs.push(FieldError {
                    field: "MegabytesLeft",
                    message: "needs a MegabytesIncluded (empty: unlimited)".into(),
                }),
            }
        }
        if let Some(t) = &token {
            if let Some(first) = codes.insert((t.business_id, code_key(&t.access_code)), line) {
                errs.push(FieldError {
                    field: "AccessCode",
                    message: format!(
                        "{:?} appears twice for BusinessId {} (also on line {first})",
                        t.access_code, t.business_id
                    ),
                });
            }
        }
        if let (Some(t), Some(_)) = (&token, spent_on) {
            if !t.single_use {
                errs.push(FieldError {
                    field: "SpentOn",
                    message: "only a single-use code can be spent (SingleUse must be true)".into(),
                });
            }
        }
        if let Some(u) = &unique_id {
            if let Some(first) = uids.insert(u.clone(), line) {
                errs.push(FieldError {
                    field: "UniqueId",
                    message: format!("{u} appears twice (also on line {first})"),
                });
            }
        }
        if !errs.is_empty() {
            bad.extend(errs.into_iter().map(|e| (line, e.to_string())));
            continue;
        }
        let Some(mut token) = token else { continue };
        token.updated_by = Some(user.to_string());
        rows.push(ImportToken {
            token,
            unique_id,
            seconds_used,
            bytes_used,
            last_access,
            created_on,
            first_used_on,
            spent_on,
        });
        lines.push(line);
    }
    Ok((rows, lines, bad))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Tz;

    #[test]
    fn megabytes_round_trip_and_megabytes_left_restores_usage() {
        let (rows, _, bad) = parse(
            b"AccessCode,MinutesIncluded,MegabytesIncluded,MegabytesLeft\nA,60,500,120\nB,60,,\nC,60,5,6\nD,60,,3\nE,60,0,\n",
            &Zones::fixed(Tz::UTC),
            "t",
        )
        .unwrap();
        assert_eq!(rows.len(), 2, "{bad:?}");
        assert_eq!(rows[0].token.megabytes_included, Some(500));
        assert_eq!(rows[0].bytes_used, 380_000_000);
        assert_eq!(
            (rows[1].token.megabytes_included, rows[1].bytes_used),
            (None, 0)
        );
        let msgs: Vec<&str> = bad.iter().map(|(_, m)| m.as_str()).collect();
        assert!(
            msgs[0].starts_with("MegabytesLeft: must be 0..MegabytesIncluded (5)"),
            "{msgs:?}"
        );
        assert!(
            msgs[1].starts_with("MegabytesLeft: needs a MegabytesIncluded"),
            "{msgs:?}"
        );
        assert!(
            msgs[2].starts_with("MegabytesIncluded: must be 1 or more"),
            "{msgs:?}"
        );
    }

    #[test]
    fn an_unclosed_quote_is_refused_with_its_line() {
        let csv = "AccessCode,MinutesIncluded\nQ1,\"5\"\nQ2,\"5\n\n";
        let err = parse(csv.as_bytes(), &Zones::fixed(Tz::UTC), "test")
            .err()
            .unwrap();
        assert!(err.starts_with("line 3: a double quote"), "{err}");
        // Quotes in pairs, "" inside a quoted field: fine.
        let csv = "AccessCode,MinutesIncluded,Description\nQ1,5,\"say \"\"hi\"\"\nthere\"\n";
        let (rows, _, bad) = parse(csv.as_bytes(), &Zones::fixed(Tz::UTC), "test").unwrap();
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(
            rows[0].token.description.as_deref(),
            Some("say \"hi\"\nthere")
        );
        // A quote inside an unquoted field is an ordinary character.
        let csv = "AccessCode,MinutesIncluded,Description\r\nQ1,5,12\" screen\r\nQ2,5,\"a, b\"\r\n";
        let (rows, _, bad) = parse(csv.as_bytes(), &Zones::fixed(Tz::UTC), "test").unwrap();
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(rows[0].token.description.as_deref(), Some("12\" screen"));
        assert_eq!(rows[1].token.description.as_deref(), Some("a, b"));
        assert_eq!(unclosed_quote(b"A,B\r\n1,\"x\r\n\r\n", b','), Some(2));
    }

    #[test]
    fn reports_every_bad_row_with_its_line() {
        let csv = "AccessCode,MinutesIncluded,UserLimit\nA1,10,\nA2,-1,0\nA1,5,\nA3,x,2\n";
        let (rows, lines, bad) = parse(csv.as_bytes(), &Zones::fixed(Tz::UTC), "test").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(lines, [2]);
        let lines_bad: Vec<u64> = bad.iter().map(|b| b.0).collect();
        assert_eq!(lines_bad, [3, 3, 4, 5], "{bad:?}");
        assert!(bad[0].1.starts_with("MinutesIncluded: "), "{bad:?}");
        assert!(bad[1].1.starts_with("UserLimit: "), "{bad:?}");
        assert!(bad[2].1.contains("also on line 2"), "{bad:?}");
        assert!(bad[3].1.contains("\"x\" is not a whole number"), "{bad:?}");
    }

    #[test]
    fn header_problems() {
        assert!(parse(b"AccessCode\nA\n", &Zones::fixed(Tz::UTC), "test")
            .unwrap_err()
            .contains("MinutesIncluded"));
        assert!(parse(
            b"AccessCode,Minutes,MinutesIncluded\n",
            &Zones::fixed(Tz::UTC),
            "test"
        )
        .unwrap_err()
        .contains("unknown column \"Minutes\""));
        assert!(parse(b"", &Zones::fixed(Tz::UTC), "test")
            .unwrap_err()
            .contains("empty"));
        let (rows, _, bad) = parse(
            "\u{feff}accesscode,minutes_included\nOK,5\n".as_bytes(),
            &Zones::fixed(Tz::UTC),
            "test",
        )
        .unwrap();
        assert_eq!((rows.len(), bad.len()), (1, 0));
    }

    #[test]
    fn semicolons_and_tabs_separate_fields_when_the_header_has_no_comma() {
        for sep in [";", "\t"] {
            let csv = format!(
                "AccessCode{sep}MinutesIncluded{sep}Description\nS1{sep}60{sep}\"a, b; c\"\nS2{sep}30{sep}\n"
            );
            let (rows, _, bad) = parse(csv.as_bytes(), &Zones::fixed(Tz::UTC), "test").unwrap();
            assert!(bad.is_empty(), "{sep:?}: {bad:?}");
            assert_eq!(rows.len(), 2);
            assert_eq!(rows[0].token.description.as_deref(), Some("a, b; c"));
            assert_eq!(rows[1].token.minutes_included, 30);
        }
        // Mixed in the header: named.
        let err = parse(
            b"AccessCode,MinutesIncluded;Description\n",
            &Zones::fixed(Tz::UTC),
            "test",
        )
        .unwrap_err();
        assert!(
            err.contains("separated by commas, semicolons or tabs"),
            "{err}"
        );
    }

    #[test]
    fn minutes_left_restores_usage() {
        let (rows, _, bad) = parse(
            b"AccessCode,MinutesIncluded,MinutesLeft\nA,60,45\nB,60,61\n",
            &Zones::fixed(Tz::UTC),
            "test",
        )
        .unwrap();
        assert_eq!(rows[0].seconds_used, 15 * 60);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].1.starts_with("MinutesLeft: "), "{bad:?}");
    }

    /// SPEC §12: each row's zone-less times in the zone of its BusinessId.
    #[test]
    fn each_row_in_its_business_zone() {
        let zones = Zones {
            server: Tz::UTC,
            business: [
                (1, chrono_tz::Europe::Berlin),
                (2, chrono_tz::America::New_York),
            ]
            .into(),
        };
        let csv = "BusinessId,AccessCode,MinutesIncluded,ValidFrom,ValidTo,CreatedOn\n\
                   1,B1,60,2026-07-01T09:00,2026-10-25T02:30,2026-06-01T12:00\n\
                   2,N1,60,2026-07-01T09:00,2026-10-25T02:30,2026-06-01T12:00\n\
                   ,U1,60,2026-07-01T09:00,,\n\
                   2,N2,60,2026-03-29T02:30,2026-07-01T09:00Z,\n\
                   1,B2,60,2026-03-29T02:30,,\n";
        let (rows, lines, bad) = parse(csv.as_bytes(), &zones, "test").unwrap();
        let utc = |t: Option<i64>| crate::token::parse::format_utc(crate::token::ts(t.unwrap()));
        assert_eq!(lines, [2, 3, 4, 5]);
        assert_eq!(utc(rows[0].token.valid_from), "2026-07-01T07:00:00Z");
        assert_eq!(utc(rows[0].token.valid_to), "2026-10-25T00:30:00Z");
        assert_eq!(utc(rows[0].created_on), "2026-06-01T10:00:00Z");
        assert_eq!(utc(rows[1].token.valid_from), "2026-07-01T13:00:00Z");
        assert_eq!(utc(rows[1].token.valid_to), "2026-10-25T06:30:00Z");
        assert_eq!(utc(rows[1].created_on), "2026-06-01T16:00:00Z");
        assert_eq!(utc(rows[2].token.valid_from), "2026-07-01T09:00:00Z");
        assert_eq!(utc(rows[3].token.valid_from), "2026-03-29T06:30:00Z");
        assert_eq!(utc(rows[3].token.valid_to), "2026-07-01T09:00:00Z");
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(bad[0].0, 6);
        assert!(
            bad[0]
                .1
                .starts_with("ValidFrom: 2026-03-29 02:30 does not exist in Europe/Berlin"),
            "{bad:?}"
        );
    }
}
