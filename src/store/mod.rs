//! Persistence. SQLite is the embedded default; the daemon's writes go
//! through one writer task that commits requests in batches (group commit),
//! so that each request's read-check-write is serialized by the database and
//! one fsync covers a whole batch.

pub mod apikeys;
pub mod sqlite;

use crate::token::NewToken;

pub use sqlite::sessions::{SessionFilter, SessionInfo};
pub use sqlite::writer::{
    AcceptFacts, AcctJob, AcctOutcome, AuthJob, AuthOutcome, SweepOutcome, Writer, WriterSettings,
    LAST_ACCESS_SWEEP_EVERY,
};
pub use sqlite::{database_file, OpenMode, Store};

/// A live session as a NAS knows it: what a Disconnect-Request (RFC 5176)
/// needs to name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSession {
    /// The NAS: the source IP address of the session's accounting.
    pub nas: String,
    pub acct_session_id: String,
    /// User-Name as the NAS sent it in accounting (the code as typed), or
    /// the stored code when the NAS never sent one.
    pub user_name: String,
    pub framed_ip: Option<String>,
    /// Calling-Station-Id (normalized MAC when it is one).
    pub device: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("AccessCode: \"{code}\" already exists for BusinessId {business_id}")]
    DuplicateCode { code: String, business_id: i64 },
    #[error("no access token matches \"{0}\"")]
    NotFound(String),
    #[error("no live API key is named (or has the Id) \"{0}\"; see radgate apikey list")]
    NoSuchApiKey(String),
    #[error("\"{0}\" matches codes in several businesses ({1}); use the Id instead")]
    Ambiguous(String, String),
    #[error(
        "the database {0} does not exist: is this the server's configuration? (--config PATH; \
         database.url, where a relative path is relative to the config file's directory)"
    )]
    Missing(String),
    #[error("database url {0:?}: {1}")]
    BadUrl(String, String),
    #[error(
        "cannot open the database {path}: {reason} (does its directory exist, and may this user write there?)"
    )]
    Open { path: String, reason: String },
    #[error(
        "{path} is not a radgate database SQLite can read ({reason}): is database.url right? \
         (restore a backup if the file was damaged)"
    )]
    NotADatabase { path: String, reason: String },
    #[error(
        "the database {0} is read-only for this user: radgate needs to write it, its -wal and -shm files \
         and its directory (check their owner and mode; run the CLI as the same user as the server, \
         e.g. sudo -u radgate radgate ...)"
    )]
    ReadOnly(String),
    #[error(
        "the database has schema version {found}, newer than this radgate knows ({known}): \
         it was written by a newer radgate; run that version (an older one would misread it)"
    )]
    NewerSchema { found: i64, known: i64 },
    #[error(
        "the database has schema version {found}, older than this radgate's ({known}): only \
         `radgate serve` migrates it, when it starts; restart the server with this version first, \
         or use the radgate that serves it"
    )]
    OlderSchema { found: i64, known: i64 },
    #[error("commit failed: {0}")]
    CommitFailed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the store's writer queue is full; request shed")]
    Overloaded,
    #[error("the store's writer task has stopped")]
    WriterGone,
}

/// A session or pending place, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: i64,
    pub token_id: i64,
    pub nas: String,
    pub device: Option<String>,
    pub state: String,
    pub acct_session_id: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub session_time: i64,
}

/// A validated change to one token: its new field values and whether to
/// reset its usage.
#[derive(Debug, Clone)]
pub struct TokenUpdate {
    pub token: NewToken,
    pub reset_usage: bool,
}

/// One token to import: the fields of a new token plus what an export
/// carries about its past (all optional).
#[derive(Debug, Clone, Default)]
pub struct ImportToken {
    pub token: NewToken,
    pub unique_id: Option<String>,
    pub seconds_used: i64,
    pub last_access: Option<i64>,
    pub created_on: Option<i64>,
    pub first_used_on: Option<i64>,
    pub spent_on: Option<i64>,
}

/// What an import did (or, dry, would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    pub imported: usize,
    /// Rows whose code or UniqueId already existed (`--skip-existing`).
    pub skipped: usize,
}

/// An imported row that clashes with a stored token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportConflict {
    Code { code: String, business_id: i64 },
    UniqueId(String),
}

impl std::fmt::Display for ImportConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportConflict::Code { code, business_id } => write!(
                f,
                "AccessCode: \"{code}\" already exists for BusinessId {business_id}"
            ),
            ImportConflict::UniqueId(u) => write!(f, "UniqueId: {u} already exists"),
        }
    }
}

/// Why a generated batch could not be created.
#[derive(Debug)]
pub enum GenerateError {
    Store(StoreError),
    /// No free code was found after this many tries in a row.
    NoFreeCode(usize),
}

impl From<StoreError> for GenerateError {
    fn from(e: StoreError) -> Self {
        GenerateError::Store(e)
    }
}

impl From<sqlx::Error> for GenerateError {
    fn from(e: sqlx::Error) -> Self {
        GenerateError::Store(e.into())
    }
}
