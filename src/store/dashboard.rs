//! The raw facts the admin dashboard draws its charts from (the counting
//! is in `ui/dashboard.rs`, in Rust, the same for both backends).

/// Rows of each kind read at most for one dashboard. A venue with more
/// logins than this in the window sees the newest ones counted, and the
/// page says so ([`DashboardFacts::truncated`]).
pub const DASHBOARD_ROW_LIMIT: i64 = 200_000;

/// One session or pending place, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFact {
    /// `created_at`: the Access-Accept of a place, else the first
    /// accounting packet.
    pub start: i64,
    /// `pending`, `active` or `closed`.
    pub state: String,
    pub expires_at: Option<i64>,
    pub stopped_at: Option<i64>,
    /// The last accounting packet (or the close).
    pub updated_at: i64,
    /// Acct-Session-Time, seconds.
    pub session_time: i64,
    /// `stop`, `stale`, `nas-restart`, `replaced` (closed sessions).
    pub close_reason: Option<String>,
}

/// One access code's creation and first login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenFact {
    pub created_on: i64,
    pub first_used_on: Option<i64>,
}

/// What [`crate::store::Store::dashboard_facts`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DashboardFacts {
    pub sessions: Vec<SessionFact>,
    pub tokens: Vec<TokenFact>,
    /// More rows matched than [`DASHBOARD_ROW_LIMIT`] (of either kind):
    /// only the newest were read.
    pub truncated: bool,
}
