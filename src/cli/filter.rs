//! Token filters shared by `token list`, `export`, `print` and `delete`:
//! the Nexudus AccessToken list semantics (exact filters on every field,
//! `from`/`to` ranges, ordering) as command-line options.

use crate::config::Zones;
use clap::Args;

use super::CliError;
use crate::token::parse::{normalize_mac, normalize_uuid, parse_datetime_span};
use crate::token::FieldError;
use crate::token::TokenFilter;
use crate::token::{CmpOp, FilterValue, TokenCond, TokenField};

/// Exact filters, ranges and shortcuts. Every condition given must hold.
#[derive(Debug, Default, Args)]
pub struct FilterArgs {
    /// Only the token with this Id.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Filters (exact)"
    )]
    pub id: Option<i64>,
    /// Only the token with this UniqueId.
    #[arg(long, value_name = "UUID", help_heading = "Filters (exact)")]
    pub unique_id: Option<String>,
    /// Codes whose code, Description, GuestName or MAC address contains
    /// TEXT (any case), as the web UI's search box.
    #[arg(long, value_name = "TEXT", help_heading = "Filters (exact)")]
    pub search: Option<String>,
    /// Only this code (case-insensitive).
    #[arg(
        long,
        visible_alias = "access-code",
        value_name = "CODE",
        help_heading = "Filters (exact)"
    )]
    pub code: Option<String>,
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Filters (exact)"
    )]
    pub business_id: Option<i64>,
    /// Description equal to TEXT.
    #[arg(long, value_name = "TEXT", help_heading = "Filters (exact)")]
    pub description: Option<String>,
    /// GuestName equal to NAME.
    #[arg(long, value_name = "NAME", help_heading = "Filters (exact)")]
    pub guest_name: Option<String>,
    #[arg(
        long,
        visible_alias = "minutes",
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Filters (exact)"
    )]
    pub minutes_included: Option<i64>,
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Filters (exact)"
    )]
    pub minutes_left: Option<i64>,
    /// Data allowance of N MB (codes without one never match).
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Filters (exact)"
    )]
    pub megabytes_included: Option<i64>,
    /// N MB of data left (rounded up; codes without an allowance never match).
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Filters (exact)"
    )]
    pub megabytes_left: Option<i64>,
    /// ValidFrom within this minute (2025-07-21T12:45) or day (2025-07-21).
    #[arg(long, value_name = "T", help_heading = "Filters (exact)")]
    pub valid_from: Option<String>,
    /// ValidTo within this minute or day.
    #[arg(long, value_name = "T", help_heading = "Filters (exact)")]
    pub valid_to: Option<String>,
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Filters (exact)"
    )]
    pub user_limit: Option<i64>,
    /// Bound to this device (any MAC notation).
    #[arg(
        long,
        visible_alias = "mac",
        value_name = "MAC",
        help_heading = "Filters (exact)"
    )]
    pub mac_address: Option<String>,
    #[arg(long, value_name = "UUID", help_heading = "Filters (exact)")]
    pub booking_guid: Option<String>,
    #[arg(long, value_name = "UUID", help_heading = "Filters (exact)")]
    pub visitor_guid: Option<String>,
    /// LastAccess within this minute or day.
    #[arg(long, value_name = "T", help_heading = "Filters (exact)")]
    pub last_access: Option<String>,
    /// CreatedOn within this minute or day.
    #[arg(long, value_name = "T", help_heading = "Filters (exact)")]
    pub created_on: Option<String>,
    /// UpdatedOn within this minute or day.
    #[arg(long, value_name = "T", help_heading = "Filters (exact)")]
    pub updated_on: Option<String>,
    /// Last changed by (e.g. cli:alice).
    #[arg(long, value_name = "TEXT", help_heading = "Filters (exact)")]
    pub updated_by: Option<String>,
    /// Valid this many minutes from first use.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Filters (exact)"
    )]
    pub valid_for_minutes: Option<i64>,
    /// RateLimit equal to this (e.g. 2M/5M).
    #[arg(long, value_name = "UP/DOWN", help_heading = "Filters (exact)")]
    pub rate_limit: Option<String>,
    /// Single-use codes (true) or the others (false).
    #[arg(long, value_name = "BOOL", value_parser = parse_bool, help_heading = "Filters (exact)")]
    pub single_use: Option<bool>,
    /// First login within this minute or day.
    #[arg(long, value_name = "T", help_heading = "Filters (exact)")]
    pub first_used_on: Option<String>,
    /// Single-use code spent within this minute or day.
    #[arg(long, value_name = "T", help_heading = "Filters (exact)")]
    pub spent_on: Option<String>,

    /// MinutesIncluded >= N.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Ranges (inclusive)"
    )]
    pub from_minutes_included: Option<i64>,
    /// MinutesIncluded <= N.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Ranges (inclusive)"
    )]
    pub to_minutes_included: Option<i64>,
    /// MinutesLeft >= N.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Ranges (inclusive)"
    )]
    pub from_minutes_left: Option<i64>,
    /// MinutesLeft <= N.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Ranges (inclusive)"
    )]
    pub to_minutes_left: Option<i64>,
    /// MegabytesIncluded >= N.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Ranges (inclusive)"
    )]
    pub from_megabytes_included: Option<i64>,
    /// MegabytesIncluded <= N.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Ranges (inclusive)"
    )]
    pub to_megabytes_included: Option<i64>,
    /// MegabytesLeft >= N.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Ranges (inclusive)"
    )]
    pub from_megabytes_left: Option<i64>,
    /// MegabytesLeft <= N.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Ranges (inclusive)"
    )]
    pub to_megabytes_left: Option<i64>,
    /// ValidFrom at or after T.
    #[arg(long, value_name = "T", help_heading = "Ranges (inclusive)")]
    pub from_valid_from: Option<String>,
    /// ValidFrom at or before T (a whole minute or day).
    #[arg(long, value_name = "T", help_heading = "Ranges (inclusive)")]
    pub to_valid_from: Option<String>,
    /// ValidTo at or after T.
    #[arg(long, value_name = "T", help_heading = "Ranges (inclusive)")]
    pub from_valid_to: Option<String>,
    /// ValidTo at or before T (a whole minute or day).
    #[arg(long, value_name = "T", help_heading = "Ranges (inclusive)")]
    pub to_valid_to: Option<String>,
    /// UserLimit >= N.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Ranges (inclusive)"
    )]
    pub from_user_limit: Option<i64>,
    /// UserLimit <= N.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        help_heading = "Ranges (inclusive)"
    )]
    pub to_user_limit: Option<i64>,
    /// LastAccess at or after T.
    #[arg(long, value_name = "T", help_heading = "Ranges (inclusive)")]
    pub from_last_access: Option<String>,
    /// LastAccess at or before T.
    #[arg(long, value_name = "T", help_heading = "Ranges (inclusive)")]
    pub to_last_access: Option<String>,
    /// CreatedOn at or after T.
    #[arg(long, value_name = "T", help_heading = "Ranges (inclusive)")]
    pub from_created_on: Option<String>,
    /// CreatedOn at or before T.
    #[arg(long, value_name = "T", help_heading = "Ranges (inclusive)")]
    pub to_created_on: Option<String>,
    /// UpdatedOn at or after T.
    #[arg(long, value_name = "T", help_heading = "Ranges (inclusive)")]
    pub from_updated_on: Option<String>,
    /// UpdatedOn at or before T.
    #[arg(long, value_name = "T", help_heading = "Ranges (inclusive)")]
    pub to_updated_on: Option<String>,
    /// First login at or after T.
    #[arg(long, value_name = "T", help_heading = "Ranges (inclusive)")]
    pub from_first_used_on: Option<String>,
    /// First login at or before T.
    #[arg(long, value_name = "T", help_heading = "Ranges (inclusive)")]
    pub to_first_used_on: Option<String>,

    /// Usable now: inside its validity window, with minutes (and data) left, not spent.
    #[arg(long, help_heading = "Shortcuts")]
    pub active: bool,
    /// The window has ended: ValidTo, or ValidForMinutes after the first login.
    #[arg(long, help_heading = "Shortcuts")]
    pub expired: bool,
    /// Single-use codes whose session has ended.
    #[arg(long, help_heading = "Shortcuts")]
    pub spent: bool,
    /// Never used (no LastAccess).
    #[arg(long, help_heading = "Shortcuts")]
    pub unused: bool,
    /// No minutes left (usage >= MinutesIncluded), or no data left.
    #[arg(long, help_heading = "Shortcuts")]
    pub exhausted: bool,
}

/// `--order-by` and `--dir`.
#[derive(Debug, Default, Args)]
pub struct OrderArgs {
    /// Sort by this field (Nexudus name: Id, AccessCode, MinutesIncluded,
    /// MinutesLeft, ValidFrom, ValidTo, UserLimit, LastAccess, CreatedOn, …).
    #[arg(long, value_name = "FIELD", value_parser = parse_field, help_heading = "Order and page")]
    pub order_by: Option<TokenField>,
    /// Sort direction: 1 ascending (default), -1 descending.
    #[arg(
        long,
        value_name = "1|-1",
        allow_hyphen_values = true,
        value_parser = parse_dir,
        help_heading = "Order and page"
    )]
    pub dir: Option<i64>,
}

fn parse_field(s: &str) -> Result<TokenField, String> {
    TokenField::parse(s).ok_or_else(|| {
        let names: Vec<&str> = TokenField::ALL.iter().map(|f| f.name()).collect();
        format!("unknown field {s:?}; one of: {}", names.join(", "))
    })
}

/// `true`/`false` and the usual spellings (yes/no, 1/0, on/off).
pub use crate::token::csv::parse_bool;

fn parse_dir(s: &str) -> Result<i64, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "+1" | "asc" => Ok(1),
        "-1" | "desc" => Ok(-1),
        _ => Err(format!(
            "must be 1 (ascending) or -1 (descending), got {s:?}"
        )),
    }
}

/// A datetime field with its exact, from and to values.
type DateFilters<'a> = (
    TokenField,
    &'a Option<String>,
    &'a Option<String>,
    &'a Option<String>,
);

fn ferr(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// All field errors as one input error (one line each).
pub fn field_errors(errs: &[FieldError]) -> CliError {
    CliError::input(
        errs.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

impl FilterArgs {
    /// Build the store filter; every bad value is reported, naming its field.
    /// Zone-less times are read in the zone of the business filtered on
    /// (`--business-id N`), `server.timezone` when the filter spans
    /// businesses (SPEC §12).
    pub fn to_filter(&self, zones: &Zones, order: &OrderArgs) -> Result<TokenFilter, CliError> {
        let tz = zones.of_filter(self.business_id);
        let mut errs = Vec::new();
        let mut conds = Vec::new();
        let mut int = |field: TokenField, op: CmpOp, v: Option<i64>| {
            if let Some(v) = v {
                conds.push(TokenCond {
                    field,
                    op,
                    value: FilterValue::Int(v),
                });
            }
        };
        use TokenField as F;
        int(F::Id, CmpOp::Eq, self.id);
        int(F::MinutesIncluded, CmpOp::Eq, self.minutes_included);
        int(F::MinutesLeft, CmpOp::Eq, self.minutes_left);
        int(F::UserLimit, CmpOp::Eq, self.user_limit);
        int(F::MinutesIncluded, CmpOp::Ge, self.from_minutes_included);
        int(F::MinutesIncluded, CmpOp::Le, self.to_minutes_included);
        int(F::MinutesLeft, CmpOp::Ge, self.from_minutes_left);
        int(F::MinutesLeft, CmpOp::Le, self.to_minutes_left);
        int(F::MegabytesIncluded, CmpOp::Eq, self.megabytes_included);
        int(F::MegabytesLeft, CmpOp::Eq, self.megabytes_left);
        int(
            F::MegabytesIncluded,
            CmpOp::Ge,
            self.from_megabytes_included,
        );
        int(F::MegabytesIncluded, CmpOp::Le, self.to_megabytes_included);
        int(F::MegabytesLeft, CmpOp::Ge, self.from_megabytes_left);
        int(F::MegabytesLeft, CmpOp::Le, self.to_megabytes_left);
        int(F::UserLimit, CmpOp::Ge, self.from_user_limit);
        int(F::UserLimit, CmpOp::Le, self.to_user_limit);
        int(F::ValidForMinutes, CmpOp::Eq, self.valid_for_minutes);
        int(F::SingleUse, CmpOp::Eq, self.single_use.map(i64::from));

        let mut text = |field: TokenField, v: Option<String>| {
            if let Some(v) = v {
                conds.push(TokenCond {
                    field,
                    op: CmpOp::Eq,
                    value: FilterValue::Text(v),
                });
            }
        };
        text(F::Description, self.description.clone());
        text(F::GuestName, self.guest_name.clone());
        text(F::UpdatedBy, self.updated_by.clone());
        text(F::RateLimit, self.rate_limit.clone());
        let mut norm = |field: TokenField,
                        v: &Option<String>,
                        f: fn(&str) -> Result<String, String>|
         -> Option<String> {
            let v = v.as_deref()?;
            match f(v) {
                Ok(n) => Some(n),
                Err(e) => {
                    errs.push(ferr(field.name(), e));
                    None
                }
            }
        };
        let unique_id = norm(F::UniqueId, &self.unique_id, normalize_uuid);
        let mac = norm(F::MacAddress, &self.mac_address, normalize_mac);
        let booking = norm(F::BookingGuid, &self.booking_guid, normalize_uuid);
        let visitor = norm(F::VisitorGuid, &self.visitor_guid, normalize_uuid);
        text(F::UniqueId, unique_id);
        text(F::MacAddress, mac);
        text(F::BookingGuid, booking);
        text(F::VisitorGuid, visitor);

        // Datetimes: exact = within the unit given; from = at or after its
        // start; to = before its end.
        let dates: [DateFilters; 7] = [
            (
                F::ValidFrom,
                &self.valid_from,
                &self.from_valid_from,
                &self.to_valid_from,
            ),
            (
                F::ValidTo,
                &self.valid_to,
                &self.from_valid_to,
                &self.to_valid_to,
            ),
            (
                F::LastAccess,
                &self.last_access,
                &self.from_last_access,
                &self.to_last_access,
            ),
            (
                F::CreatedOn,
                &self.created_on,
                &self.from_created_on,
                &self.to_created_on,
            ),
            (
                F::UpdatedOn,
                &self.updated_on,
                &self.from_updated_on,
                &self.to_updated_on,
            ),
            (
                F::FirstUsedOn,
                &self.first_used_on,
                &self.from_first_used_on,
                &self.to_first_used_on,
            ),
            (F::SpentOn, &self.spent_on, &None, &None),
        ];
        for (field, exact, from, to) in dates {
            let mut span = |v: &Option<String>| -> Option<(i64, i64)> {
                let v = v.as_deref()?;
                match parse_datetime_span(v, tz) {
                    Ok((a, b)) => Some((a.timestamp(), b.timestamp())),
                    Err(e) => {
                        errs.push(ferr(field.name(), e));
                        None
                    }
                }
            };
            let mut push = |op, v| {
                conds.push(TokenCond {
                    field,
                    op,
                    value: FilterValue::Int(v),
                })
            };
            if let Some((a, b)) = span(exact) {
                push(CmpOp::Ge, a);
                push(CmpOp::Lt, b);
            }
            if let Some((a, _)) = span(from) {
                push(CmpOp::Ge, a);
            }
            if let Some((_, b)) = span(to) {
                push(CmpOp::Lt, b);
            }
        }
        if !errs.is_empty() {
            return Err(field_errors(&errs));
        }
        Ok(TokenFilter {
            code: self.code.clone(),
            business_id: self.business_id,
            business_ids: None,
            search: self.search.clone().filter(|s| !s.trim().is_empty()),
            active: self.active,
            expired: self.expired,
            spent: self.spent,
            unused: self.unused,
            exhausted: self.exhausted,
            batch_id: None,
            conds,
            order_by: order.order_by,
            descending: order.dir == Some(-1),
            page: 1,
            size: 25,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_and_field_parsing() {
        assert_eq!(parse_dir("1"), Ok(1));
        assert_eq!(parse_dir("-1"), Ok(-1));
        assert_eq!(parse_dir("desc"), Ok(-1));
        assert!(parse_dir("2").is_err());
        assert_eq!(parse_field("minutes-left"), Ok(TokenField::MinutesLeft));
        assert_eq!(parse_field("AccessCode"), Ok(TokenField::AccessCode));
        assert_eq!(
            parse_field("AccessToken_Business"),
            Ok(TokenField::BusinessId)
        );
        assert!(parse_field("id; DROP TABLE access_tokens").is_err());
    }

    #[test]
    fn bad_values_name_their_fields() {
        let a = FilterArgs {
            mac_address: Some("nope".into()),
            from_valid_to: Some("soon".into()),
            ..Default::default()
        };
        let e = a
            .to_filter(&Zones::fixed(chrono_tz::Tz::UTC), &OrderArgs::default())
            .unwrap_err();
        assert!(e.message.contains("MacAddress: "), "{}", e.message);
        assert!(e.message.contains("ValidTo: "), "{}", e.message);
    }
}
