//! `GET /api/spaces/accesstokens`: the Nexudus list query (page, size,
//! orderBy, dir, `AccessToken_<Field>` exact filters and
//! `from_`/`to_AccessToken_<Field>` ranges) and its envelope.

use chrono_tz::Tz;

use crate::config::Zones;
use serde_json::Value;

use super::FieldErr;
use crate::token::parse::{normalize_mac, normalize_uuid, parse_datetime_span};
use crate::token::TokenFilter;
use crate::token::{CmpOp, FilterValue, TokenCond, TokenField};

/// Largest page.
const MAX_SIZE: i64 = 1000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Bool,
    Date,
    Text,
}

fn kind(f: TokenField) -> Kind {
    use TokenField as F;
    match f {
        F::Id
        | F::BusinessId
        | F::MinutesIncluded
        | F::MinutesLeft
        | F::UserLimit
        | F::ValidForMinutes
        | F::MegabytesIncluded
        | F::MegabytesLeft => Kind::Int,
        F::SingleUse => Kind::Bool,
        F::ValidFrom
        | F::ValidTo
        | F::LastAccess
        | F::CreatedOn
        | F::UpdatedOn
        | F::FirstUsedOn
        | F::SpentOn => Kind::Date,
        _ => Kind::Text,
    }
}

fn err(property: &str, message: impl Into<String>, value: &str) -> FieldErr {
    FieldErr {
        property: property.into(),
        message: message.into(),
        attempted: Value::String(value.into()),
    }
}

/// Build the store filter from the query parameters; every bad one is
/// reported. Unknown parameters that are not `AccessToken_…` are ignored
/// (clients add cache-busters and the like).
///
/// Zone-less dates are read in the zone of the one business filtered on
/// (`AccessToken_Business=N` or `AccessToken_BusinessId=N`), in
/// `server.timezone` when the filter spans businesses (SPEC §12).
pub(super) fn filter(
    params: &[(String, String)],
    zones: &Zones,
) -> Result<TokenFilter, Vec<FieldErr>> {
    let business = params.iter().find_map(|(name, value)| {
        let n = name.to_ascii_lowercase();
        (n.starts_with("accesstoken_") && TokenField::parse(&n) == Some(TokenField::BusinessId))
            .then(|| value.trim().parse::<i64>().ok())
            .flatten()
    });
    let tz = zones.of_filter(business);
    let mut errs = Vec::new();
    let mut f = TokenFilter {
        page: 1,
        size: 25,
        ..Default::default()
    };
    for (name, value) in params {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "page" => match value.trim().parse::<i64>() {
                Ok(p) if p >= 1 => f.page = p,
                _ => errs.push(err("page", "must be 1 or more", value)),
            },
            "size" => match value.trim().parse::<i64>() {
                Ok(n) if (1..=MAX_SIZE).contains(&n) => f.size = n,
                _ => errs.push(err("size", format!("must be 1..{MAX_SIZE}"), value)),
            },
            "orderby" => match TokenField::parse(value) {
                Some(field) => f.order_by = Some(field),
                None => errs.push(err("orderBy", "is not a field name", value)),
            },
            "dir" => match value.trim() {
                "1" | "+1" => f.descending = false,
                "-1" => f.descending = true,
                _ => errs.push(err("dir", "must be 1 or -1", value)),
            },
            _ => {
                let (op, rest) = if let Some(r) = lower.strip_prefix("from_") {
                    (Some(CmpOp::Ge), r)
                } else if let Some(r) = lower.strip_prefix("to_") {
                    (Some(CmpOp::Le), r)
                } else {
                    (None, lower.as_str())
                };
                if !rest.starts_with("accesstoken_") {
                    continue;
                }
                let Some(field) = TokenField::parse(rest) else {
                    errs.push(err(name, "is not a field of AccessToken", value));
                    continue;
                };
                if let Err(e) = cond(&mut f, field, op, value, tz) {
                    errs.push(err(name, e, value));
                }
            }
        }
    }
    if errs.is_empty() {
        Ok(f)
    } else {
        Err(errs)
    }
}

/// Add the condition `field op value` (`op` None: exact).
fn cond(
    f: &mut TokenFilter,
    field: TokenField,
    op: Option<CmpOp>,
    value: &str,
    tz: Tz,
) -> Result<(), String> {
    let mut push = |op, value| {
        f.conds.push(TokenCond { field, op, value });
    };
    match kind(field) {
        Kind::Int => {
            let n: i64 = value
                .trim()
                .parse()
                .map_err(|_| "must be a whole number".to_string())?;
            push(op.unwrap_or(CmpOp::Eq), FilterValue::Int(n));
        }
        Kind::Bool => {
            if op.is_some() {
                return Err("has no range; give true or false".into());
            }
            let b = match value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => 1,
                "false" | "0" => 0,
                _ => return Err("must be true or false".into()),
            };
            push(CmpOp::Eq, FilterValue::Int(b));
        }
        Kind::Date => {
            let (a, b) = parse_datetime_span(value, tz)?;
            let (a, b) = (a.timestamp(), b.timestamp());
            match op {
                None => {
                    push(CmpOp::Ge, FilterValue::Int(a));
                    push(CmpOp::Lt, FilterValue::Int(b));
                }
                Some(CmpOp::Ge) => push(CmpOp::Ge, FilterValue::Int(a)),
                Some(_) => push(CmpOp::Lt, FilterValue::Int(b)),
            }
        }
        Kind::Text => {
            if op.is_some() {
                return Err("has no range; ranges are for numbers and dates".into());
            }
            let v = match field {
                TokenField::MacAddress => normalize_mac(value)?,
                TokenField::UniqueId | TokenField::BookingGuid | TokenField::VisitorGuid => {
                    normalize_uuid(value)?
                }
                _ => value.to_string(),
            };
            push(CmpOp::Eq, FilterValue::Text(v));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn nexudus_parameters() {
        let f = filter(
            &p(&[
                ("page", "2"),
                ("size", "10"),
                ("orderBy", "MinutesLeft"),
                ("dir", "-1"),
                ("AccessToken_Business", "3"),
                ("from_AccessToken_ValidTo", "2025-07-21T12:45"),
                ("AccessToken_MacAddress", "aa-bb-cc-dd-ee-ff"),
                ("_", "12345"),
            ]),
            &Zones::fixed(Tz::UTC),
        )
        .unwrap();
        assert_eq!((f.page, f.size, f.descending), (2, 10, true));
        assert_eq!(f.order_by, Some(TokenField::MinutesLeft));
        assert_eq!(f.conds.len(), 3);
        assert_eq!(f.conds[0].field, TokenField::BusinessId);
        assert_eq!(
            f.conds[2].value,
            FilterValue::Text("AA:BB:CC:DD:EE:FF".into())
        );
        let e = filter(
            &p(&[("from_AccessToken_AccessCode", "A")]),
            &Zones::fixed(Tz::UTC),
        )
        .unwrap_err();
        assert!(e[0].message.contains("no range"));
    }

    /// SPEC §12: a filter on one business reads its dates in that
    /// business's zone; one that spans businesses, in server.timezone.
    #[test]
    fn dates_in_the_zone_of_the_business_filtered_on() {
        let zones = Zones {
            server: chrono_tz::Europe::London,
            business: [
                (1, chrono_tz::Europe::Berlin),
                (2, chrono_tz::America::New_York),
            ]
            .into(),
        };
        let from = |business: Option<(&str, &str)>, v: &str| -> Result<String, Vec<FieldErr>> {
            let mut q = vec![("from_AccessToken_ValidTo", v)];
            q.extend(business);
            let f = filter(&p(&q), &zones)?;
            let c = f
                .conds
                .iter()
                .find(|c| c.field == TokenField::ValidTo)
                .unwrap();
            match c.value {
                FilterValue::Int(t) => Ok(crate::token::parse::format_utc(crate::token::ts(t))),
                _ => unreachable!(),
            }
        };
        let t = "2026-07-01T09:00";
        assert_eq!(
            from(Some(("AccessToken_Business", "1")), t).unwrap(),
            "2026-07-01T07:00:00Z"
        );
        assert_eq!(
            from(Some(("accesstoken_businessid", " 2")), t).unwrap(),
            "2026-07-01T13:00:00Z"
        );
        assert_eq!(
            from(Some(("AccessToken_Business", "3")), t).unwrap(),
            "2026-07-01T08:00:00Z"
        );
        assert_eq!(from(None, t).unwrap(), "2026-07-01T08:00:00Z");
        // A range on BusinessId spans businesses.
        assert_eq!(
            from(Some(("from_AccessToken_Business", "1")), t).unwrap(),
            "2026-07-01T08:00:00Z"
        );
        // Not a number: reported as such, dates in server.timezone.
        let e = from(Some(("AccessToken_Business", "x")), t).unwrap_err();
        assert_eq!(e[0].property, "AccessToken_Business");
        // The DST gap of business 1's zone, not of 2's.
        let e = from(Some(("AccessToken_Business", "1")), "2026-03-29T02:30").unwrap_err();
        assert_eq!(e[0].property, "from_AccessToken_ValidTo");
        assert!(
            e[0].message.contains("does not exist in Europe/Berlin"),
            "{e:?}"
        );
        assert_eq!(
            from(Some(("AccessToken_Business", "2")), "2026-03-29T02:30").unwrap(),
            "2026-03-29T06:30:00Z"
        );
    }

    proptest! {
        #[test]
        fn any_query_is_answered_without_panicking(
            params in proptest::collection::vec((
                prop_oneof![
                    "[a-zA-Z_]{0,30}",
                    "(from_|to_)?AccessToken_(ValidTo|MinutesLeft|AccessCode|SingleUse|MacAddress|Id|Business|SpentOn|MegabytesIncluded|MegabytesLeft)",
                    "page|size|dir|orderBy",
                ],
                prop_oneof!["\\PC{0,40}", "-?[0-9]{1,20}", "[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2})?"],
            ), 0..8)
        ) {
            let _ = filter(&params, &Zones::fixed(Tz::UTC));
        }
    }
}
