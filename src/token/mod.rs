//! The domain: the AccessToken model (Nexudus field names) and its
//! validation, the filters and orderings the CLI and the API share
//! ([`filter`]), parsing of what people type ([`parse`]: MACs, times,
//! codes), and the credential a login proves ([`credential`]). Knows
//! nothing of SQL or of RADIUS bytes.

pub mod credential;
pub mod csv;
pub mod filter;
pub mod parse;

pub use credential::Credential;
pub use filter::{CmpOp, FilterValue, TokenCond, TokenField, TokenFilter};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::policy::auth::{bytes_left, megabytes_left, minutes_left, seconds_left, window_end};
use crate::policy::reply::parse_rate_limit;
use crate::token::parse::{
    format_utc, normalize_mac, normalize_uuid, parse_datetime, parse_minutes_span, validate_code,
};

/// The most MinutesIncluded a code may have (about 190 years): far beyond
/// any voucher, and far from overflowing seconds.
pub const MAX_MINUTES: i64 = 100_000_000;

/// The most MegabytesIncluded a code may have (a petabyte): far beyond any
/// voucher, and far from overflowing bytes.
pub const MAX_MEGABYTES: i64 = 1_000_000_000;

/// A stored access token. Times are Unix seconds (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub id: i64,
    pub unique_id: String,
    pub business_id: i64,
    pub access_code: String,
    pub description: Option<String>,
    pub minutes_included: i64,
    pub seconds_used: i64,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
    pub user_limit: Option<i64>,
    pub mac_address: Option<String>,
    pub booking_guid: Option<String>,
    pub visitor_guid: Option<String>,
    pub last_access: Option<i64>,
    pub created_on: i64,
    pub updated_on: i64,
    pub updated_by: Option<String>,
    /// The window ends this many minutes after the first login (or at
    /// ValidTo, whichever comes first).
    pub valid_for_minutes: Option<i64>,
    /// Spent when its first session ends.
    pub single_use: bool,
    /// The first successful login.
    pub first_used_on: Option<i64>,
    /// When the first session of a single-use code ended.
    pub spent_on: Option<i64>,
    /// Mikrotik-Rate-Limit for this code ("2M/5M"), overriding the config.
    pub rate_limit: Option<String>,
    /// The guest the code was issued to (searchable, printed).
    pub guest_name: Option<String>,
    /// Data allowance in MB (1,000,000 bytes); `None`: unlimited.
    pub megabytes_included: Option<i64>,
    /// Octets (input + output) accounting has charged.
    pub bytes_used: i64,
}

impl AccessToken {
    pub fn minutes_left(&self) -> i64 {
        minutes_left(self.minutes_included, self.seconds_used)
    }

    /// MegabytesLeft, rounded up (`None` without an allowance).
    pub fn megabytes_left(&self) -> Option<i64> {
        megabytes_left(self.megabytes_included, self.bytes_used)
    }

    /// Whether `new` (this token after a change) leaves a running session
    /// with less than it had: less time, an earlier end, a start in the
    /// future, or another device bound. Its sessions are then disconnected,
    /// so that the guests log in again under the new limits (Session-Timeout
    /// was computed at their login).
    pub fn shortened_by(&self, new: &AccessToken, now: i64) -> bool {
        let secs = |t: &AccessToken| seconds_left(t.minutes_included, t.seconds_used);
        let earlier = match (self.expires_on(), new.expires_on()) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(o), Some(n)) => n < o,
        };
        let not_yet = |t: &AccessToken| t.valid_from.is_some_and(|f| f > now);
        let data = |t: &AccessToken| bytes_left(t.megabytes_included, t.bytes_used);
        let less_data = match (data(self), data(new)) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(o), Some(n)) => n < o,
        };
        secs(new) < secs(self)
            || less_data
            || earlier
            || (not_yet(new) && !not_yet(self))
            || (new.mac_address.is_some() && new.mac_address != self.mac_address)
    }

    /// When the validity window ends as things stand: ValidTo, or
    /// ValidForMinutes after the first login when that is earlier. A code
    /// not used yet ends at ValidTo (its window from first use has not
    /// started).
    pub fn expires_on(&self) -> Option<i64> {
        match self.first_used_on {
            Some(first) => window_end(self.valid_to, self.valid_for_minutes, Some(first), first),
            None => self.valid_to,
        }
    }

    /// Whether a guest could log in with this code at `now`, as far as the
    /// code itself tells (devices and MAC binding aside), in the order the
    /// login checks it.
    pub fn usability(&self, now: i64) -> Usability {
        if self.valid_from.is_some_and(|f| f > now) {
            Usability::NotYetValid
        } else if self.expires_on().is_some_and(|e| e <= now) {
            Usability::Expired
        } else if self.single_use && self.spent_on.is_some() {
            Usability::Spent
        } else if seconds_left(self.minutes_included, self.seconds_used) == 0
            || bytes_left(self.megabytes_included, self.bytes_used) == Some(0)
        {
            Usability::UsedUp
        } else {
            Usability::Usable
        }
    }

    /// Its settable fields as they stand, for a change to some of them.
    pub fn as_new(&self) -> NewToken {
        NewToken {
            business_id: self.business_id,
            access_code: self.access_code.clone(),
            description: self.description.clone(),
            minutes_included: self.minutes_included,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            user_limit: self.user_limit,
            mac_address: self.mac_address.clone(),
            booking_guid: self.booking_guid.clone(),
            visitor_guid: self.visitor_guid.clone(),
            updated_by: self.updated_by.clone(),
            valid_for_minutes: self.valid_for_minutes,
            single_use: self.single_use,
            rate_limit: self.rate_limit.clone(),
            guest_name: self.guest_name.clone(),
            megabytes_included: self.megabytes_included,
        }
    }

    /// The JSON form with Nexudus field names; datetimes RFC 3339 UTC.
    pub fn to_json(&self) -> TokenJson {
        let t = |s: Option<i64>| s.map(|s| format_utc(ts(s)));
        TokenJson {
            id: self.id,
            unique_id: self.unique_id.clone(),
            business_id: self.business_id,
            access_code: self.access_code.clone(),
            description: self.description.clone(),
            minutes_included: self.minutes_included,
            minutes_left: self.minutes_left(),
            valid_from: t(self.valid_from),
            valid_to: t(self.valid_to),
            user_limit: self.user_limit,
            mac_address: self.mac_address.clone(),
            booking_guid: self.booking_guid.clone(),
            visitor_guid: self.visitor_guid.clone(),
            last_access: t(self.last_access),
            created_on: format_utc(ts(self.created_on)),
            updated_on: format_utc(ts(self.updated_on)),
            updated_by: self.updated_by.clone(),
            valid_for_minutes: self.valid_for_minutes,
            single_use: self.single_use,
            first_used_on: t(self.first_used_on),
            spent_on: t(self.spent_on),
            expires_on: t(self.expires_on()),
            rate_limit: self.rate_limit.clone(),
            guest_name: self.guest_name.clone(),
            megabytes_included: self.megabytes_included,
            megabytes_left: self.megabytes_left(),
        }
    }
}

/// See [`AccessToken::usability`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Usability {
    Usable,
    /// ValidFrom is still ahead: usable later.
    NotYetValid,
    /// ValidTo, or the window from first use, has passed.
    Expired,
    /// Single use, and its session has ended.
    Spent,
    /// No time left, or no data.
    UsedUp,
}

impl Usability {
    /// In words, for people (`not yet valid`, `used up`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Usability::Usable => "usable",
            Usability::NotYetValid => "not yet valid",
            Usability::Expired => "expired",
            Usability::Spent => "spent",
            Usability::UsedUp => "used up",
        }
    }

    /// It can never log in again as it stands (an admin could still
    /// extend it).
    pub fn is_dead(self) -> bool {
        matches!(
            self,
            Usability::Expired | Usability::Spent | Usability::UsedUp
        )
    }
}

/// Why a code, stored as asked, cannot log in as it stands: a ValidTo
/// already past, or no minutes at all. Said to whoever creates or changes it
/// (the CLI on stderr, the API in `Message`) rather than refused: an admin
/// may mean it (a placeholder, an import of spent codes). Times are shown
/// in `tz`.
pub fn unusable_warnings(
    minutes_included: i64,
    valid_to: Option<i64>,
    now: i64,
    tz: Tz,
) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(v) = valid_to.filter(|&v| v <= now) {
        w.push(format!(
            "ValidTo {} ({}) is already past: the code cannot be used",
            crate::token::parse::format_local(ts(v), tz),
            tz.name()
        ));
    }
    if minutes_included == 0 {
        w.push("MinutesIncluded is 0: the code cannot log in until minutes are added".into());
    }
    w
}

/// The most characters a GuestName may have.
pub const MAX_GUEST_NAME_CHARS: usize = 200;

/// A GuestName as typed (already trimmed, not empty): at most
/// [`MAX_GUEST_NAME_CHARS`] characters and no control characters (it is
/// printed on vouchers and shown in tables); else why not.
pub fn check_guest_name(name: &str) -> Result<String, String> {
    if name.chars().count() > MAX_GUEST_NAME_CHARS {
        return Err(format!("at most {MAX_GUEST_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters (line breaks, tabs)".into());
    }
    Ok(name.to_string())
}

/// Unix seconds to a UTC datetime (out-of-range values clamp to the epoch).
pub fn ts(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TokenJson {
    pub id: i64,
    pub unique_id: String,
    pub business_id: i64,
    pub access_code: String,
    pub description: Option<String>,
    pub minutes_included: i64,
    pub minutes_left: i64,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub user_limit: Option<i64>,
    pub mac_address: Option<String>,
    pub booking_guid: Option<String>,
    pub visitor_guid: Option<String>,
    pub last_access: Option<String>,
    pub created_on: String,
    pub updated_on: String,
    pub updated_by: Option<String>,
    /// radgate additions to the Nexudus fields: validity from first use,
    /// single-use codes, and the computed end of the window.
    pub valid_for_minutes: Option<i64>,
    pub single_use: bool,
    pub first_used_on: Option<String>,
    pub spent_on: Option<String>,
    pub expires_on: Option<String>,
    pub rate_limit: Option<String>,
    pub guest_name: Option<String>,
    /// The data allowance (SPEC §12): null = unlimited.
    pub megabytes_included: Option<i64>,
    /// Rounded up: 0 exactly when a login is refused for lack of data.
    pub megabytes_left: Option<i64>,
}

/// A token to create, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewToken {
    pub business_id: i64,
    pub access_code: String,
    pub description: Option<String>,
    pub minutes_included: i64,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
    pub user_limit: Option<i64>,
    pub mac_address: Option<String>,
    pub booking_guid: Option<String>,
    pub visitor_guid: Option<String>,
    pub updated_by: Option<String>,
    pub valid_for_minutes: Option<i64>,
    pub single_use: bool,
    pub rate_limit: Option<String>,
    pub guest_name: Option<String>,
    pub megabytes_included: Option<i64>,
}

/// Raw, unvalidated input (from the CLI now, the HTTP API later).
#[derive(Debug, Clone, Default)]
pub struct TokenInput {
    pub business_id: Option<i64>,
    pub access_code: Option<String>,
    pub description: Option<String>,
    pub minutes_included: Option<i64>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub user_limit: Option<i64>,
    pub mac_address: Option<String>,
    pub booking_guid: Option<String>,
    pub visitor_guid: Option<String>,
    /// ValidForMinutes as typed: `24h`, `90m`, `7d`, `1h30m`, or minutes.
    pub valid_for: Option<String>,
    pub single_use: Option<bool>,
    /// Mikrotik-Rate-Limit, e.g. `2M/5M`.
    pub rate_limit: Option<String>,
    /// GuestName: trimmed; empty is none.
    pub guest_name: Option<String>,
    /// MegabytesIncluded (≥ 1; `None`: unlimited).
    pub megabytes_included: Option<i64>,
}

/// One invalid field: its Nexudus name and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn err(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

impl TokenInput {
    /// [`TokenInput::validate`] with zone-less times read in the zone of
    /// the business the token is for (SPEC §12): its BusinessId, else
    /// `default_business_id`, whose `[[business]] timezone` or
    /// `server.timezone`. On a change that moves a code to another
    /// business, that is the new business's zone.
    pub fn validate_in(
        &self,
        zones: &crate::config::Zones,
        default_business_id: i64,
    ) -> Result<NewToken, Vec<FieldError>> {
        let tz = zones.of(self.business_id.unwrap_or(default_business_id));
        self.validate(tz, default_business_id)
    }

    /// Validate into a [`NewToken`]; every failing field is reported.
    pub fn validate(&self, tz: Tz, default_business_id: i64) -> Result<NewToken, Vec<FieldError>> {
        let mut errors = Vec::new();
        let access_code = match self.access_code.as_deref() {
            None => {
                errors.push(err("AccessCode", "is a required field"));
                String::new()
            }
            Some(c) => {
                if let Err(e) = validate_code(c) {
                    errors.push(err("AccessCode", e));
                }
                c.to_string()
            }
        };
        let minutes_included = match self.minutes_included {
            None => {
                errors.push(err("MinutesIncluded", "is a required field"));
                0
            }
            Some(m) if m < 0 => {
                errors.push(err(
                    "MinutesIncluded",
                    format!("must be 0 or more, got {m}"),
                ));
                0
            }
            Some(m) if m > MAX_MINUTES => {
                errors.push(err(
                    "MinutesIncluded",
                    format!("is too large: {m} (at most {MAX_MINUTES}, about 190 years)"),
                ));
                0
            }
            Some(m) => m,
        };
        let business_id = self.business_id.unwrap_or(default_business_id);
        if business_id < 0 {
            errors.push(err(
                "BusinessId",
                format!("must be 0 or more, got {business_id}"),
            ));
        }
        let mut date = |field: &'static str, v: &Option<String>| -> Option<i64> {
            let s = v.as_deref()?;
            match parse_datetime(s, tz) {
                Ok(d) => Some(d.timestamp()),
                Err(e) => {
                    errors.push(err(field, e));
                    None
                }
            }
        };
        let valid_from = date("ValidFrom", &self.valid_from);
        let valid_to = date("ValidTo", &self.valid_to);
        if let (Some(f), Some(t)) = (valid_from, valid_to) {
            if t <= f {
                errors.push(err("ValidTo", "must be after ValidFrom"));
            }
        }
        if let Some(u) = self.user_limit {
            if u < 1 {
                errors.push(err(
                    "UserLimit",
                    format!("must be 1 or more (leave it out for unlimited), got {u}"),
                ));
            }
        }
        if let Err(e) = check_megabytes(self.megabytes_included) {
            errors.push(e);
        }
        let mac_address = match self.mac_address.as_deref() {
            None | Some("") => None,
            Some(m) => match normalize_mac(m) {
                Ok(m) => Some(m),
                Err(e) => {
                    errors.push(err("MacAddress", e));
                    None
                }
            },
        };
        let valid_for_minutes = match self.valid_for.as_deref() {
            None => None,
            Some(v) => match parse_minutes_span(v) {
                Ok(m) => Some(m),
                Err(e) => {
                    errors.push(err("ValidForMinutes", e));
                    None
                }
            },
        };
        let rate_limit = match self.rate_limit.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(r) => match parse_rate_limit(r) {
                Ok(_) => Some(r.to_string()),
                Err(e) => {
                    errors.push(err("RateLimit", e));
                    None
                }
            },
        };
        let guest_name = match self.guest_name.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(n) => match check_guest_name(n) {
                Ok(n) => Some(n),
                Err(e) => {
                    errors.push(err("GuestName", e));
                    None
                }
            },
        };
        let mut guid = |field: &'static str, v: &Option<String>| -> Option<String> {
            match v.as_deref() {
                None | Some("") => None,
                Some(g) => match normalize_uuid(g) {
                    Ok(g) => Some(g),
                    Err(e) => {
                        errors.push(err(field, e));
                        None
                    }
                },
            }
        };
        let booking_guid = guid("BookingGuid", &self.booking_guid);
        let visitor_guid = guid("VisitorGuid", &self.visitor_guid);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(NewToken {
            business_id,
            access_code,
            description: self.description.clone().filter(|d| !d.is_empty()),
            minutes_included,
            valid_from,
            valid_to,
            user_limit: self.user_limit,
            mac_address,
            booking_guid,
            visitor_guid,
            updated_by: None,
            valid_for_minutes,
            single_use: self.single_use.unwrap_or(false),
            rate_limit,
            guest_name,
            megabytes_included: self.megabytes_included,
        })
    }
}

/// Check a MegabytesIncluded: 1 or more (`None` is unlimited), at most
/// [`MAX_MEGABYTES`].
pub fn check_megabytes(mb: Option<i64>) -> Result<(), FieldError> {
    match mb {
        Some(m) if m < 1 => Err(err(
            "MegabytesIncluded",
            format!("must be 1 or more (leave it out for unlimited), got {m}"),
        )),
        Some(m) if m > MAX_MEGABYTES => Err(err(
            "MegabytesIncluded",
            format!("is too large: {m} (at most {MAX_MEGABYTES}, a petabyte)"),
        )),
        _ => Ok(()),
    }
}

/// A data allowance for people: `500 MB`, `5 GB`, `1.5 GB` (1 GB = 1,000
/// MB, as NASes and phones count).
pub fn format_megabytes(mb: i64) -> String {
    if mb >= 1_000 && mb % 100 == 0 {
        let gb = mb / 1_000;
        match mb % 1_000 {
            0 => format!("{gb} GB"),
            r => format!("{gb}.{} GB", r / 100),
        }
    } else {
        format!("{mb} MB")
    }
}

/// The Nexudus list envelope around one page of tokens (CLI `token list
/// --format json` and the API's GET /api/spaces/accesstokens). `summary`
/// leaves MinutesIncluded, ValidTo and UserLimit out of the records, as
/// Nexudus lists them.
pub fn list_envelope(
    tokens: &[AccessToken],
    total: i64,
    f: &TokenFilter,
    summary: bool,
) -> serde_json::Value {
    let (page, size) = (f.page, f.size);
    let pages = (total + size - 1) / size;
    let first = if tokens.is_empty() {
        0
    } else {
        (page - 1) * size + 1
    };
    let records: Vec<serde_json::Value> = tokens
        .iter()
        .map(|t| {
            let mut v = serde_json::to_value(t.to_json()).unwrap_or(serde_json::Value::Null);
            if let (true, serde_json::Value::Object(m)) = (summary, &mut v) {
                for k in ["MinutesIncluded", "ValidTo", "UserLimit"] {
                    m.shift_remove(k);
                }
            }
            v
        })
        .collect();
    serde_json::json!({
        "Records": records,
        "CurrentPage": page,
        "CurrentPageSize": size,
        "CurrentOrderField": f.order_by.unwrap_or(TokenField::Id).name(),
        "CurrentSortDirection": if f.descending { -1 } else { 1 },
        "FirstItem": first,
        "LastItem": if tokens.is_empty() { 0 } else { first + tokens.len() as i64 - 1 },
        "TotalItems": total,
        "TotalPages": pages,
        "HasNextPage": page < pages,
        "HasPreviousPage": page > 1,
        "PageNumber": page,
        "PageSize": size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> TokenInput {
        TokenInput {
            access_code: Some("WELCOME1".into()),
            minutes_included: Some(60),
            ..Default::default()
        }
    }

    fn fields(r: Result<NewToken, Vec<FieldError>>) -> Vec<&'static str> {
        r.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn valid_minimal() {
        let t = input().validate(Tz::UTC, 0).unwrap();
        assert_eq!(t.access_code, "WELCOME1");
        assert_eq!(t.minutes_included, 60);
        assert_eq!(t.user_limit, None);
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut i = input();
        i.minutes_included = Some(-1);
        assert_eq!(fields(i.validate(Tz::UTC, 0)), ["MinutesIncluded"]);
        let mut i = input();
        i.user_limit = Some(0);
        assert_eq!(fields(i.validate(Tz::UTC, 0)), ["UserLimit"]);
        let mut i = input();
        i.mac_address = Some("zz:zz".into());
        assert_eq!(fields(i.validate(Tz::UTC, 0)), ["MacAddress"]);
        let mut i = input();
        i.valid_from = Some("2025-07-21T12:45".into());
        i.valid_to = Some("2025-07-21T12:00".into());
        assert_eq!(fields(i.validate(Tz::UTC, 0)), ["ValidTo"]);
        let mut i = input();
        i.valid_to = Some("next tuesday".into());
        assert_eq!(fields(i.validate(Tz::UTC, 0)), ["ValidTo"]);
        let i = TokenInput::default();
        assert_eq!(
            fields(i.validate(Tz::UTC, 0)),
            ["AccessCode", "MinutesIncluded"]
        );
    }

    #[test]
    fn zoneless_dates_are_local_time() {
        let mut i = input();
        i.valid_from = Some("2025-07-21T12:45".into());
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let t = i.validate(tz, 0).unwrap();
        assert_eq!(
            format_utc(ts(t.valid_from.unwrap())),
            "2025-07-21T10:45:00Z"
        );
    }

    #[test]
    fn zoneless_dates_are_read_in_the_business_zone() {
        let zones = crate::config::Zones {
            server: Tz::UTC,
            business: [
                (1, chrono_tz::Europe::Berlin),
                (2, chrono_tz::America::New_York),
            ]
            .into(),
        };
        let at = |business: Option<i64>, default: i64, v: &str| {
            let mut i = input();
            i.business_id = business;
            i.valid_to = Some(v.into());
            i.validate_in(&zones, default)
                .map(|t| format_utc(ts(t.valid_to.unwrap())))
        };
        assert_eq!(
            at(Some(1), 0, "2026-07-01T12:00").unwrap(),
            "2026-07-01T10:00:00Z"
        );
        assert_eq!(
            at(Some(2), 0, "2026-07-01T12:00").unwrap(),
            "2026-07-01T16:00:00Z"
        );
        assert_eq!(
            at(Some(3), 0, "2026-07-01T12:00").unwrap(),
            "2026-07-01T12:00:00Z"
        );
        // No BusinessId given: the default's zone (an update: the code's).
        assert_eq!(
            at(None, 2, "2026-07-01T12:00").unwrap(),
            "2026-07-01T16:00:00Z"
        );
        // An offset is absolute whatever the business.
        assert_eq!(
            at(Some(2), 0, "2026-07-01T12:00Z").unwrap(),
            "2026-07-01T12:00:00Z"
        );
        // The DST gap of one zone is an error there only.
        let e = at(Some(1), 0, "2026-03-29T02:30").unwrap_err();
        assert_eq!(e[0].field, "ValidTo");
        assert!(
            e[0].message.contains("does not exist in Europe/Berlin"),
            "{e:?}"
        );
        assert_eq!(
            at(Some(2), 0, "2026-03-29T02:30").unwrap(),
            "2026-03-29T06:30:00Z"
        );
    }

    fn stored() -> AccessToken {
        AccessToken {
            id: 1,
            unique_id: String::new(),
            business_id: 0,
            access_code: "A1".into(),
            description: None,
            minutes_included: 60,
            seconds_used: 600,
            valid_from: None,
            valid_to: Some(10_000),
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
    fn what_shortens_a_token() {
        let now = 5_000;
        let old = stored();
        let changed = |f: fn(&mut AccessToken)| {
            let mut t = stored();
            f(&mut t);
            old.shortened_by(&t, now)
        };
        assert!(!changed(|_| {}));
        assert!(!changed(|t| t.minutes_included = 90), "more time");
        assert!(!changed(|t| t.valid_to = None), "no end any more");
        assert!(!changed(|t| t.description = Some("x".into())));
        assert!(changed(|t| t.minutes_included = 30), "less time");
        assert!(changed(|t| t.valid_to = Some(9_000)), "earlier end");
        assert!(changed(|t| t.valid_from = Some(6_000)), "starts later");
        assert!(changed(|t| t.mac_address = Some("AA:BB:CC:DD:EE:FF".into())));
        assert!(changed(|t| t.megabytes_included = Some(100)), "a data cap");
        assert!(!changed(|t| t.bytes_used = 5), "unlimited stays unlimited");
        assert!(
            changed(|t| {
                t.valid_for_minutes = Some(10);
                t.first_used_on = Some(4_000);
            }),
            "a window from first use that ends before ValidTo"
        );
    }

    #[test]
    fn usability_in_the_order_a_login_checks() {
        let now = 5_000;
        let at = |f: fn(&mut AccessToken)| {
            let mut t = stored();
            f(&mut t);
            t.usability(now)
        };
        assert_eq!(at(|_| {}), Usability::Usable);
        assert_eq!(at(|t| t.valid_from = Some(5_001)), Usability::NotYetValid);
        assert_eq!(at(|t| t.valid_from = Some(5_000)), Usability::Usable);
        assert_eq!(at(|t| t.valid_to = Some(5_000)), Usability::Expired);
        assert_eq!(
            at(|t| {
                t.valid_for_minutes = Some(10);
                t.first_used_on = Some(4_000);
            }),
            Usability::Expired,
            "ten minutes from the first use, 1000 s ago"
        );
        assert_eq!(
            at(|t| {
                t.valid_for_minutes = Some(10);
            }),
            Usability::Usable,
            "the window from first use has not started"
        );
        assert_eq!(
            at(|t| {
                t.single_use = true;
                t.spent_on = Some(4_000);
            }),
            Usability::Spent
        );
        assert_eq!(
            at(|t| t.spent_on = Some(4_000)),
            Usability::Usable,
            "not single-use"
        );
        assert_eq!(at(|t| t.seconds_used = 3_600), Usability::UsedUp);
        assert_eq!(at(|t| t.seconds_used = 3_599), Usability::Usable);
        assert_eq!(at(|t| t.minutes_included = 0), Usability::UsedUp);
        assert_eq!(
            at(|t| {
                t.valid_to = Some(1);
                t.seconds_used = 3_600;
            }),
            Usability::Expired,
            "the first failing check names it"
        );
        assert!(!Usability::NotYetValid.is_dead());
        assert!(
            Usability::Spent.is_dead()
                && Usability::Expired.is_dead()
                && Usability::UsedUp.is_dead()
        );
    }

    #[test]
    fn data_allowances_validate_show_and_use_up() {
        let mut i = input();
        i.megabytes_included = Some(0);
        assert_eq!(fields(i.validate(Tz::UTC, 0)), ["MegabytesIncluded"]);
        i.megabytes_included = Some(MAX_MEGABYTES + 1);
        assert_eq!(fields(i.validate(Tz::UTC, 0)), ["MegabytesIncluded"]);
        i.megabytes_included = Some(500);
        assert_eq!(
            i.validate(Tz::UTC, 0).unwrap().megabytes_included,
            Some(500)
        );
        let mut t = stored();
        t.megabytes_included = Some(5);
        t.bytes_used = 4_000_001;
        assert_eq!(t.megabytes_left(), Some(1));
        assert_eq!(t.usability(0), Usability::Usable);
        let j = t.to_json();
        assert_eq!((j.megabytes_included, j.megabytes_left), (Some(5), Some(1)));
        t.bytes_used = 5_000_000;
        assert_eq!(t.megabytes_left(), Some(0));
        assert_eq!(t.usability(0), Usability::UsedUp);
        assert_eq!(stored().to_json().megabytes_left, None);
        for (mb, text) in [
            (500, "500 MB"),
            (1_000, "1 GB"),
            (5_000, "5 GB"),
            (1_500, "1.5 GB"),
            (1_234, "1234 MB"),
            (1, "1 MB"),
        ] {
            assert_eq!(format_megabytes(mb), text);
        }
    }

    #[test]
    fn mac_is_normalized() {
        let mut i = input();
        i.mac_address = Some("aabb.ccdd.eeff".into());
        assert_eq!(
            i.validate(Tz::UTC, 0).unwrap().mac_address.as_deref(),
            Some("AA:BB:CC:DD:EE:FF")
        );
    }
}
