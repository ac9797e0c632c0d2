//! Access-Request decision (SPEC §2): first failure wins, in this order:
//! unknown code · wrong password · not yet valid · expired · already used ·
//! no minutes left · no data left · bound to another device · device limit
//! reached.

use crate::radius::codec::Credential;
use crate::token::parse::code_key;

/// What the decision needs to know about a token. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFacts {
    pub access_code: String,
    pub minutes_included: i64,
    pub seconds_used: i64,
    pub valid_from: Option<i64>,
    /// The end of the window: ValidTo, or earlier when the code is valid
    /// for a while from its first login (see [`window_end`]).
    pub valid_to: Option<i64>,
    pub user_limit: Option<i64>,
    /// Normalized `AA:BB:CC:DD:EE:FF`.
    pub mac_address: Option<String>,
    /// A single-use code whose first session has ended.
    pub spent: bool,
    /// The data allowance (SPEC §12), `None`: unlimited.
    pub megabytes_included: Option<i64>,
    /// Octets (input + output) accounting has charged.
    pub bytes_used: i64,
}

/// The end of a token's validity window: ValidTo, or `valid_for_minutes`
/// after the first login when that comes first. A code not used yet whose
/// window starts at first use is measured from `now` (the login being
/// decided would be its first).
pub fn window_end(
    valid_to: Option<i64>,
    valid_for_minutes: Option<i64>,
    first_used_on: Option<i64>,
    now: i64,
) -> Option<i64> {
    let Some(minutes) = valid_for_minutes else {
        return valid_to;
    };
    let from_first = first_used_on
        .unwrap_or(now)
        .saturating_add(minutes.saturating_mul(60));
    Some(valid_to.map_or(from_first, |to| to.min(from_first)))
}

impl TokenFacts {
    /// Seconds of access left, never below 0.
    pub fn seconds_left(&self) -> i64 {
        seconds_left(self.minutes_included, self.seconds_used)
    }
}

/// Seconds left of `minutes_included` after `seconds_used`, never below 0.
pub fn seconds_left(minutes_included: i64, seconds_used: i64) -> i64 {
    minutes_included
        .saturating_mul(60)
        .saturating_sub(seconds_used)
        .max(0)
}

/// MinutesLeft as shown to admins: whole minutes, rounded **up**, so that a
/// code is shown with 0 minutes exactly when it is refused for lack of time
/// (30 s left shows as 1 minute and is still admitted).
pub fn minutes_left(minutes_included: i64, seconds_used: i64) -> i64 {
    let s = seconds_left(minutes_included, seconds_used);
    // Not `(s + 59) / 60`: that overflows when `s` saturated at i64::MAX.
    s / 60 + i64::from(s % 60 != 0)
}

/// Bytes in a megabyte of a data allowance (SPEC §12: 1 MB = 1,000,000
/// bytes, as NASes and phones count).
pub const BYTES_PER_MB: i64 = 1_000_000;

/// Bytes left of a data allowance of `megabytes_included` after
/// `bytes_used`, never below 0; `None`: no allowance (unlimited).
pub fn bytes_left(megabytes_included: Option<i64>, bytes_used: i64) -> Option<i64> {
    megabytes_included.map(|mb| {
        mb.saturating_mul(BYTES_PER_MB)
            .saturating_sub(bytes_used)
            .max(0)
    })
}

/// MegabytesLeft as shown to admins: whole megabytes, rounded **up** like
/// [`minutes_left`], so that a code shows 0 exactly when it is refused for
/// lack of data (1 byte left shows as 1 MB and is still admitted).
pub fn megabytes_left(megabytes_included: Option<i64>, bytes_used: i64) -> Option<i64> {
    bytes_left(megabytes_included, bytes_used)
        .map(|b| b / BYTES_PER_MB + i64::from(b % BYTES_PER_MB != 0))
}

/// Facts of one Access-Request.
#[derive(Debug, Clone)]
pub struct RequestFacts<'a> {
    /// The code as the guest typed it (User-Name).
    pub user_name: &'a str,
    pub credential: &'a Credential,
    /// Device identity from Calling-Station-Id (normalized MAC when it is one).
    pub device: Option<&'a str>,
    /// Calling-Station-Id parsed as a MAC, if it is one.
    pub device_mac: Option<&'a str>,
}

/// Switches that shape the decision.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthOptions {
    pub accept_any_password: bool,
    pub case_sensitive_codes: bool,
    pub bind_mac_on_first_use: bool,
}

/// Devices that hold a place on the token now (live session or unexpired
/// pending place). `None` entries are places held by requests without a
/// Calling-Station-Id: each counts as a device of its own.
#[derive(Debug, Clone, Default)]
pub struct LivePlaces {
    pub devices: Vec<Option<String>>,
}

impl LivePlaces {
    pub fn holds(&self, device: &str) -> bool {
        self.devices.iter().any(|d| d.as_deref() == Some(device))
    }
    /// Distinct devices: named ones once each, anonymous ones each.
    pub fn distinct(&self) -> usize {
        let mut named: Vec<&str> = self.devices.iter().filter_map(|d| d.as_deref()).collect();
        named.sort_unstable();
        named.dedup();
        named.len() + self.devices.iter().filter(|d| d.is_none()).count()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    UnknownCode,
    WrongPassword,
    NotYetValid,
    Expired,
    /// A single-use code whose first session has ended.
    AlreadyUsed,
    NoMinutesLeft,
    /// Its data allowance is used up (SPEC §12).
    NoDataLeft,
    MacMismatch,
    UserLimitReached,
    /// Refused before any lookup: the device or NAS failed too often
    /// (see policy::throttle).
    Throttled,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::UnknownCode => "unknown code",
            RejectReason::WrongPassword => "wrong password",
            RejectReason::NotYetValid => "not yet valid",
            RejectReason::Expired => "expired",
            RejectReason::AlreadyUsed => "already used (single-use)",
            RejectReason::NoMinutesLeft => "no minutes left",
            RejectReason::NoDataLeft => "no data left",
            RejectReason::MacMismatch => "bound to another device",
            RejectReason::UserLimitReached => "device limit reached",
            RejectReason::Throttled => "throttled after repeated failures",
        }
    }
}

/// An accepted request: what to answer and what to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// min(seconds left, seconds until ValidTo), at least 1.
    pub session_timeout: u32,
    /// Bytes left of the data allowance (at least 1), `None` without one:
    /// sent as Mikrotik-Total-Limit and ChilliSpot-Max-Total-Octets.
    pub bytes_left: Option<i64>,
    /// Bind the token to this MAC (bind_mac_on_first_use).
    pub bind_mac: Option<String>,
    /// The device already holds a place: do not count it again.
    pub already_holds_place: bool,
}

/// Does a device's pending place (held until `expires_at`) need its time
/// extended by a login at `now`? Only when less than half of `ttl` is left:
/// a device that logs in again and again keeps its place without a write
/// each time, and never holds it for less than half the TTL.
pub fn refresh_place(expires_at: i64, now: i64, ttl: i64) -> bool {
    expires_at - now < ttl / 2
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Accept(Grant),
    Reject(RejectReason),
}

/// Does the credential prove the code? With CHAP the server cannot fold
/// case, so it is checked against the code as typed in User-Name (when that
/// matches the stored code) and against the stored code.
fn password_ok(token: &TokenFacts, req: &RequestFacts, opts: AuthOptions) -> bool {
    if opts.accept_any_password {
        return true;
    }
    match req.credential {
        Credential::Pap(pw) => {
            if opts.case_sensitive_codes {
                req.credential.matches(token.access_code.as_bytes())
            } else {
                match std::str::from_utf8(pw) {
                    Ok(pw) => code_key(pw) == code_key(&token.access_code),
                    Err(_) => false,
                }
            }
        }
        Credential::Chap { .. } => {
            req.credential.matches(token.access_code.as_bytes())
                || (!opts.case_sensitive_codes
                    && code_key(req.user_name) == code_key(&token.access_code)
                    && req.credential.matches(req.user_name.as_bytes()))
        }
        Credential::Invalid | Credential::None => false,
    }
}

/// Decide an Access-Request. `token` is `None` when no code matched.
pub fn decide(
    token: Option<&TokenFacts>,
    req: &RequestFacts,
    live: &LivePlaces,
    opts: AuthOptions,
    now: i64,
) -> Decision {
    let Some(token) = token else {
        return Decision::Reject(RejectReason::UnknownCode);
    };
    if opts.case_sensitive_codes && token.access_code != req.user_name {
        return Decision::Reject(RejectReason::UnknownCode);
    }
    if !password_ok(token, req, opts) {
        return Decision::Reject(RejectReason::WrongPassword);
    }
    if let Some(from) = token.valid_from {
        if now < from {
            return Decision::Reject(RejectReason::NotYetValid);
        }
    }
    if let Some(to) = token.valid_to {
        if now >= to {
            return Decision::Reject(RejectReason::Expired);
        }
    }
    if token.spent {
        return Decision::Reject(RejectReason::AlreadyUsed);
    }
    let left = token.seconds_left();
    if left <= 0 {
        return Decision::Reject(RejectReason::NoMinutesLeft);
    }
    let bytes_left = bytes_left(token.megabytes_included, token.bytes_used);
    if bytes_left.is_some_and(|b| b <= 0) {
        return Decision::Reject(RejectReason::NoDataLeft);
    }
    let mut bind_mac = None;
    match (&token.mac_address, req.device_mac) {
        (Some(bound), Some(mac)) if bound == mac => {}
        (Some(_), _) => return Decision::Reject(RejectReason::MacMismatch),
        (None, Some(mac)) if opts.bind_mac_on_first_use => bind_mac = Some(mac.to_string()),
        (None, _) => {}
    }
    let already_holds_place = req.device.is_some_and(|d| live.holds(d));
    if let Some(limit) = token.user_limit {
        if !already_holds_place && live.distinct() as i64 >= limit {
            return Decision::Reject(RejectReason::UserLimitReached);
        }
    }
    let mut timeout = left;
    if let Some(to) = token.valid_to {
        timeout = timeout.min(to.saturating_sub(now));
    }
    Decision::Accept(Grant {
        session_timeout: timeout.clamp(1, u32::MAX as i64) as u32,
        bytes_left,
        bind_mac,
        already_holds_place,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    const NOW: i64 = 1_750_000_000;
    const MAC: &str = "AA:BB:CC:DD:EE:FF";
    const OTHER: &str = "11:22:33:44:55:66";

    fn token() -> TokenFacts {
        TokenFacts {
            access_code: "Welcome1".into(),
            minutes_included: 60,
            seconds_used: 0,
            valid_from: None,
            valid_to: None,
            user_limit: None,
            mac_address: None,
            spent: false,
            megabytes_included: None,
            bytes_used: 0,
        }
    }

    fn pap(pw: &str) -> Credential {
        Credential::Pap(pw.as_bytes().to_vec())
    }

    fn chap(pw: &str) -> Credential {
        let challenge = b"sixteen-byte-chl".to_vec();
        let mut h = Md5::new();
        h.update([5u8]);
        h.update(pw.as_bytes());
        h.update(&challenge);
        Credential::Chap {
            ident: 5,
            response: h.finalize().into(),
            challenge,
        }
    }

    fn run(
        t: &TokenFacts,
        user: &str,
        cred: &Credential,
        dev: Option<&str>,
        live: &LivePlaces,
        opts: AuthOptions,
    ) -> Decision {
        let req = RequestFacts {
            user_name: user,
            credential: cred,
            device: dev,
            device_mac: dev,
        };
        decide(Some(t), &req, live, opts, NOW)
    }

    fn simple(t: &TokenFacts) -> Decision {
        run(
            t,
            "Welcome1",
            &pap("Welcome1"),
            Some(MAC),
            &LivePlaces::default(),
            AuthOptions::default(),
        )
    }

    fn reject(r: RejectReason) -> Decision {
        Decision::Reject(r)
    }

    #[test]
    fn accept_with_session_timeout_from_minutes() {
        match simple(&token()) {
            Decision::Accept(g) => {
                assert_eq!(g.session_timeout, 3600);
                assert_eq!(g.bind_mac, None);
                assert!(!g.already_holds_place);
            }
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn unknown_code() {
        let cred = pap("x");
        let req = RequestFacts {
            user_name: "x",
            credential: &cred,
            device: None,
            device_mac: None,
        };
        assert_eq!(
            decide(
                None,
                &req,
                &LivePlaces::default(),
                AuthOptions::default(),
                NOW
            ),
            reject(RejectReason::UnknownCode)
        );
    }

    #[test]
    fn pap_is_case_insensitive_by_default_and_checked() {
        let t = token();
        let o = AuthOptions::default();
        let l = LivePlaces::default();
        assert!(matches!(
            run(&t, "WELCOME1", &pap("welcome1"), None, &l, o),
            Decision::Accept(_)
        ));
        assert_eq!(
            run(&t, "Welcome1", &pap("nope"), None, &l, o),
            reject(RejectReason::WrongPassword)
        );
        assert_eq!(
            run(&t, "Welcome1", &Credential::None, None, &l, o),
            reject(RejectReason::WrongPassword)
        );
        assert_eq!(
            run(&t, "Welcome1", &Credential::Invalid, None, &l, o),
            reject(RejectReason::WrongPassword)
        );
    }

    #[test]
    fn case_sensitive_mode() {
        let t = token();
        let o = AuthOptions {
            case_sensitive_codes: true,
            ..Default::default()
        };
        let l = LivePlaces::default();
        assert_eq!(
            run(&t, "WELCOME1", &pap("WELCOME1"), None, &l, o),
            reject(RejectReason::UnknownCode)
        );
        assert_eq!(
            run(&t, "Welcome1", &pap("welcome1"), None, &l, o),
            reject(RejectReason::WrongPassword)
        );
        assert!(matches!(
            run(&t, "Welcome1", &pap("Welcome1"), None, &l, o),
            Decision::Accept(_)
        ));
    }

    #[test]
    fn chap_checks_code_as_typed() {
        let t = token();
        let o = AuthOptions::default();
        let l = LivePlaces::default();
        // Guest typed lower case in both fields: CHAP over "welcome1".
        assert!(matches!(
            run(&t, "welcome1", &chap("welcome1"), None, &l, o),
            Decision::Accept(_)
        ));
        // Stored form also works.
        assert!(matches!(
            run(&t, "WELCOME1", &chap("Welcome1"), None, &l, o),
            Decision::Accept(_)
        ));
        // Password differs from the user name in case: not provable.
        assert_eq!(
            run(&t, "welcome1", &chap("WELCOME1"), None, &l, o),
            reject(RejectReason::WrongPassword)
        );
        assert_eq!(
            run(&t, "welcome1", &chap("other"), None, &l, o),
            reject(RejectReason::WrongPassword)
        );
    }

    #[test]
    fn accept_any_password_switch() {
        let o = AuthOptions {
            accept_any_password: true,
            ..Default::default()
        };
        assert!(matches!(
            run(
                &token(),
                "Welcome1",
                &Credential::None,
                None,
                &LivePlaces::default(),
                o
            ),
            Decision::Accept(_)
        ));
    }

    #[test]
    fn validity_window() {
        let mut t = token();
        t.valid_from = Some(NOW + 1);
        assert_eq!(simple(&t), reject(RejectReason::NotYetValid));
        t.valid_from = Some(NOW);
        assert!(matches!(simple(&t), Decision::Accept(_)));
        t.valid_to = Some(NOW);
        assert_eq!(simple(&t), reject(RejectReason::Expired));
        t.valid_to = Some(NOW + 600);
        match simple(&t) {
            Decision::Accept(g) => assert_eq!(g.session_timeout, 600),
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn window_from_first_use() {
        // No ValidForMinutes: ValidTo as stored.
        assert_eq!(window_end(None, None, None, NOW), None);
        assert_eq!(
            window_end(Some(NOW + 5), None, Some(NOW - 99), NOW),
            Some(NOW + 5)
        );
        // Not used yet: the login being decided starts the window.
        assert_eq!(window_end(None, Some(60), None, NOW), Some(NOW + 3600));
        // Used an hour ago with a 24 h window: 23 h left.
        assert_eq!(
            window_end(None, Some(1440), Some(NOW - 3600), NOW),
            Some(NOW + 23 * 3600)
        );
        // ValidTo first wins.
        assert_eq!(
            window_end(Some(NOW + 600), Some(1440), None, NOW),
            Some(NOW + 600)
        );
        // Huge values saturate instead of overflowing.
        assert_eq!(
            window_end(None, Some(i64::MAX), Some(NOW), NOW),
            Some(i64::MAX)
        );
        // Through decide: the window caps the Session-Timeout of the first
        // login, and a window that has passed is Expired.
        let mut t = token();
        t.minutes_included = 600;
        t.valid_to = window_end(None, Some(30), None, NOW);
        match simple(&t) {
            Decision::Accept(g) => assert_eq!(g.session_timeout, 1800),
            d => panic!("{d:?}"),
        }
        t.valid_to = window_end(None, Some(30), Some(NOW - 1800), NOW);
        assert_eq!(simple(&t), reject(RejectReason::Expired));
    }

    #[test]
    fn data_allowance_refuses_when_used_up_and_rounds_up() {
        let mut t = token();
        match simple(&t) {
            Decision::Accept(g) => assert_eq!(g.bytes_left, None, "unlimited"),
            d => panic!("{d:?}"),
        }
        t.megabytes_included = Some(5);
        t.bytes_used = 5_000_000;
        assert_eq!(simple(&t), reject(RejectReason::NoDataLeft));
        t.bytes_used = 9_000_000;
        assert_eq!(simple(&t), reject(RejectReason::NoDataLeft));
        assert_eq!(megabytes_left(Some(5), 9_000_000), Some(0));
        t.bytes_used = 4_999_999;
        match simple(&t) {
            Decision::Accept(g) => assert_eq!(g.bytes_left, Some(1)),
            d => panic!("{d:?}"),
        }
        assert_eq!(
            megabytes_left(Some(5), 4_999_999),
            Some(1),
            "1 byte left shows as 1 MB"
        );
        assert_eq!(megabytes_left(Some(5), 0), Some(5));
        assert_eq!(megabytes_left(Some(5), 1), Some(5));
        assert_eq!(megabytes_left(Some(5), 1_000_000), Some(4));
        assert_eq!(megabytes_left(None, 123), None);
        // No time left is named first.
        t.bytes_used = 5_000_000;
        t.seconds_used = 3_600;
        assert_eq!(simple(&t), reject(RejectReason::NoMinutesLeft));
        // Huge allowances saturate instead of overflowing.
        assert_eq!(bytes_left(Some(i64::MAX), 0), Some(i64::MAX));
        assert_eq!(
            megabytes_left(Some(i64::MAX), 0),
            Some(i64::MAX / 1_000_000 + 1)
        );
    }

    #[test]
    fn spent_single_use_code_is_refused() {
        let mut t = token();
        t.spent = true;
        assert_eq!(simple(&t), reject(RejectReason::AlreadyUsed));
    }

    #[test]
    fn minutes_exhausted_and_rounding() {
        let mut t = token();
        t.seconds_used = 3600;
        assert_eq!(simple(&t), reject(RejectReason::NoMinutesLeft));
        t.seconds_used = 4000;
        assert_eq!(simple(&t), reject(RejectReason::NoMinutesLeft));
        assert_eq!(minutes_left(60, 4000), 0);
        t.seconds_used = 3570;
        match simple(&t) {
            Decision::Accept(g) => assert_eq!(g.session_timeout, 30),
            d => panic!("{d:?}"),
        }
        assert_eq!(minutes_left(60, 3570), 1, "30 s left shows as 1 minute");
        assert_eq!(minutes_left(60, 0), 60);
        assert_eq!(minutes_left(60, 60), 59);
        assert_eq!(minutes_left(60, 61), 59);
        assert_eq!(minutes_left(0, 0), 0);
    }

    #[test]
    fn mac_binding() {
        let mut t = token();
        t.mac_address = Some(MAC.into());
        let l = LivePlaces::default();
        let o = AuthOptions::default();
        assert!(matches!(simple(&t), Decision::Accept(_)));
        assert_eq!(
            run(&t, "Welcome1", &pap("Welcome1"), Some(OTHER), &l, o),
            reject(RejectReason::MacMismatch)
        );
        assert_eq!(
            run(&t, "Welcome1", &pap("Welcome1"), None, &l, o),
            reject(RejectReason::MacMismatch)
        );
    }

    #[test]
    fn bind_on_first_use() {
        let o = AuthOptions {
            bind_mac_on_first_use: true,
            ..Default::default()
        };
        match run(
            &token(),
            "Welcome1",
            &pap("Welcome1"),
            Some(MAC),
            &LivePlaces::default(),
            o,
        ) {
            Decision::Accept(g) => assert_eq!(g.bind_mac.as_deref(), Some(MAC)),
            d => panic!("{d:?}"),
        }
        // Without the switch nothing is bound.
        match simple(&token()) {
            Decision::Accept(g) => assert_eq!(g.bind_mac, None),
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn user_limit_counts_distinct_devices_and_lets_holders_back_in() {
        let mut t = token();
        t.user_limit = Some(2);
        let o = AuthOptions::default();
        let live = LivePlaces {
            devices: vec![Some(MAC.into()), Some(MAC.into())],
        };
        // Same device twice counts once: a second device fits.
        assert!(matches!(
            run(&t, "Welcome1", &pap("Welcome1"), Some(OTHER), &live, o),
            Decision::Accept(_)
        ));
        let full = LivePlaces {
            devices: vec![Some(MAC.into()), Some(OTHER.into())],
        };
        assert_eq!(
            run(
                &t,
                "Welcome1",
                &pap("Welcome1"),
                Some("22:22:22:22:22:22"),
                &full,
                o
            ),
            reject(RejectReason::UserLimitReached)
        );
        // Anonymous requests each count.
        let anon = LivePlaces {
            devices: vec![None, None],
        };
        assert_eq!(
            run(&t, "Welcome1", &pap("Welcome1"), None, &anon, o),
            reject(RejectReason::UserLimitReached)
        );
        // A holder re-authenticates without counting twice.
        match run(&t, "Welcome1", &pap("Welcome1"), Some(MAC), &full, o) {
            Decision::Accept(g) => assert!(g.already_holds_place),
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn order_first_failure_wins() {
        // Everything wrong at once: wrong password is reported (after unknown code).
        let mut t = token();
        t.valid_from = Some(NOW + 10);
        t.valid_to = Some(NOW - 10);
        t.seconds_used = 99_999;
        t.megabytes_included = Some(1);
        t.bytes_used = 1_000_000;
        t.mac_address = Some(OTHER.into());
        t.user_limit = Some(1);
        t.spent = true;
        let full = LivePlaces {
            devices: vec![Some("33:33:33:33:33:33".into())],
        };
        let o = AuthOptions::default();
        let go = |t: &TokenFacts, pw: &str| run(t, "Welcome1", &pap(pw), Some(MAC), &full, o);
        assert_eq!(go(&t, "bad"), reject(RejectReason::WrongPassword));
        assert_eq!(go(&t, "Welcome1"), reject(RejectReason::NotYetValid));
        t.valid_from = None;
        assert_eq!(go(&t, "Welcome1"), reject(RejectReason::Expired));
        t.valid_to = None;
        assert_eq!(go(&t, "Welcome1"), reject(RejectReason::AlreadyUsed));
        t.spent = false;
        assert_eq!(go(&t, "Welcome1"), reject(RejectReason::NoMinutesLeft));
        t.seconds_used = 0;
        assert_eq!(go(&t, "Welcome1"), reject(RejectReason::NoDataLeft));
        t.bytes_used = 999_999;
        assert_eq!(go(&t, "Welcome1"), reject(RejectReason::MacMismatch));
        t.mac_address = None;
        assert_eq!(go(&t, "Welcome1"), reject(RejectReason::UserLimitReached));
        t.user_limit = None;
        assert!(matches!(go(&t, "Welcome1"), Decision::Accept(_)));
    }

    #[test]
    fn reject_reasons_read_as_documented() {
        for (r, text) in [
            (RejectReason::UnknownCode, "unknown code"),
            (RejectReason::WrongPassword, "wrong password"),
            (RejectReason::NotYetValid, "not yet valid"),
            (RejectReason::Expired, "expired"),
            (RejectReason::AlreadyUsed, "already used (single-use)"),
            (RejectReason::NoMinutesLeft, "no minutes left"),
            (RejectReason::NoDataLeft, "no data left"),
            (RejectReason::MacMismatch, "bound to another device"),
            (RejectReason::UserLimitReached, "device limit reached"),
            (RejectReason::Throttled, "throttled after repeated failures"),
        ] {
            assert_eq!(r.as_str(), text, "{r:?}");
        }
    }

    #[test]
    fn a_place_is_refreshed_only_when_half_its_time_is_gone() {
        // TTL 60 s, taken at 1000: held until 1060.
        assert!(!refresh_place(1060, 1000, 60));
        assert!(!refresh_place(1060, 1029, 60));
        assert!(refresh_place(1060, 1031, 60));
        assert!(refresh_place(1060, 1070, 60));
    }
}
