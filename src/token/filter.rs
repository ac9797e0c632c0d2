//! Filters and orderings of token listings (Nexudus list semantics), shared
//! by the CLI and the HTTP API. Each backend translates them to its SQL
//! from fixed strings per field: user input never reaches SQL text.

/// A token field by its Nexudus name, for filters and ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenField {
    Id,
    UniqueId,
    BusinessId,
    AccessCode,
    Description,
    MinutesIncluded,
    MinutesLeft,
    ValidFrom,
    ValidTo,
    UserLimit,
    MacAddress,
    BookingGuid,
    VisitorGuid,
    LastAccess,
    CreatedOn,
    UpdatedOn,
    UpdatedBy,
    ValidForMinutes,
    SingleUse,
    FirstUsedOn,
    SpentOn,
    RateLimit,
    GuestName,
    MegabytesIncluded,
    MegabytesLeft,
}

impl TokenField {
    pub const ALL: [TokenField; 25] = [
        TokenField::Id,
        TokenField::UniqueId,
        TokenField::BusinessId,
        TokenField::AccessCode,
        TokenField::Description,
        TokenField::MinutesIncluded,
        TokenField::MinutesLeft,
        TokenField::ValidFrom,
        TokenField::ValidTo,
        TokenField::UserLimit,
        TokenField::MacAddress,
        TokenField::BookingGuid,
        TokenField::VisitorGuid,
        TokenField::LastAccess,
        TokenField::CreatedOn,
        TokenField::UpdatedOn,
        TokenField::UpdatedBy,
        TokenField::ValidForMinutes,
        TokenField::SingleUse,
        TokenField::FirstUsedOn,
        TokenField::SpentOn,
        TokenField::RateLimit,
        TokenField::GuestName,
        TokenField::MegabytesIncluded,
        TokenField::MegabytesLeft,
    ];

    /// The Nexudus field name (`MinutesIncluded`).
    pub fn name(self) -> &'static str {
        match self {
            TokenField::Id => "Id",
            TokenField::UniqueId => "UniqueId",
            TokenField::BusinessId => "BusinessId",
            TokenField::AccessCode => "AccessCode",
            TokenField::Description => "Description",
            TokenField::MinutesIncluded => "MinutesIncluded",
            TokenField::MinutesLeft => "MinutesLeft",
            TokenField::ValidFrom => "ValidFrom",
            TokenField::ValidTo => "ValidTo",
            TokenField::UserLimit => "UserLimit",
            TokenField::MacAddress => "MacAddress",
            TokenField::BookingGuid => "BookingGuid",
            TokenField::VisitorGuid => "VisitorGuid",
            TokenField::LastAccess => "LastAccess",
            TokenField::CreatedOn => "CreatedOn",
            TokenField::UpdatedOn => "UpdatedOn",
            TokenField::UpdatedBy => "UpdatedBy",
            TokenField::ValidForMinutes => "ValidForMinutes",
            TokenField::SingleUse => "SingleUse",
            TokenField::FirstUsedOn => "FirstUsedOn",
            TokenField::SpentOn => "SpentOn",
            TokenField::RateLimit => "RateLimit",
            TokenField::GuestName => "GuestName",
            TokenField::MegabytesIncluded => "MegabytesIncluded",
            TokenField::MegabytesLeft => "MegabytesLeft",
        }
    }

    /// Parse a field name case-insensitively, ignoring `-`, `_` and an
    /// `AccessToken_` prefix: `MinutesLeft`, `minutes-left`, `minutes_left`.
    pub fn parse(s: &str) -> Option<TokenField> {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        let norm = norm.strip_prefix("accesstoken").unwrap_or(&norm);
        let norm = if norm == "business" {
            "businessid"
        } else {
            norm
        };
        TokenField::ALL
            .into_iter()
            .find(|f| f.name().to_ascii_lowercase() == norm)
    }
}

/// A value compared in a filter condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterValue {
    Int(i64),
    Text(String),
}

/// Comparison of a [`TokenCond`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ge,
    Le,
    Lt,
}

/// One condition: `field op value`. Times are Unix seconds; an AccessCode
/// value is compared case-insensitively (through its code key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCond {
    pub field: TokenField,
    pub op: CmpOp,
    pub value: FilterValue,
}

/// `%text%` for LIKE with `\\` as escape, lower case: what a search
/// matches. MAC separators are matched either way (`-` as `:`) by
/// [`search_mac_pattern`].
pub fn search_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The search as a MAC address fragment (`aa-bb` finds `AA:BB:…`).
pub fn search_mac_pattern(text: &str) -> String {
    search_pattern(&text.replace('-', ":"))
}

/// Filters, order and page for listing tokens (Nexudus list semantics).
/// All conditions must hold.
#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    pub code: Option<String>,
    pub business_id: Option<i64>,
    /// Only these businesses (an operator limited to some); `None`: all.
    pub business_ids: Option<Vec<i64>>,
    /// Text a desk types: part of the code, the description, the guest's
    /// name or the MAC address, any case.
    pub search: Option<String>,
    /// Usable now: inside its window, with time (and data) left, not spent.
    pub active: bool,
    /// The window has ended (ValidTo, or ValidForMinutes after first use).
    pub expired: bool,
    /// Single-use codes whose session has ended.
    pub spent: bool,
    /// Never used: LastAccess is empty.
    pub unused: bool,
    /// No time left (usage >= MinutesIncluded), or no data left.
    pub exhausted: bool,
    /// Only the codes of this batch (store/batches.rs).
    pub batch_id: Option<i64>,
    /// Any further field conditions.
    pub conds: Vec<TokenCond>,
    /// Order by this field (default Id), then by Id.
    pub order_by: Option<TokenField>,
    pub descending: bool,
    pub page: i64,
    pub size: i64,
}

impl TokenFilter {
    /// Whether the filter selects every token.
    pub fn is_empty(&self) -> bool {
        self.code.is_none()
            && self.business_id.is_none()
            && self.business_ids.is_none()
            && self.search.is_none()
            && !self.active
            && !self.expired
            && !self.spent
            && !self.unused
            && !self.exhausted
            && self.batch_id.is_none()
            && self.conds.is_empty()
    }
}
