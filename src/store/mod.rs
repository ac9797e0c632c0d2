//! Persistence. SQLite is the embedded default; the daemon's writes go
//! through one writer task that commits requests in batches (group commit),
//! so that each request's read-check-write is serialized by the database and
//! one fsync covers a whole batch.

pub mod sessions;
pub mod sqlite;
mod wal;
pub mod writer;

pub use sessions::{SessionFilter, SessionInfo};
pub use sqlite::{SessionRow, Store, TokenFilter};
pub use writer::{
    AcctJob, AcctOutcome, AuthJob, AuthOutcome, SweepOutcome, Writer, WriterSettings,
};

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
    #[error("\"{0}\" matches codes in several businesses ({1}); use the Id instead")]
    Ambiguous(String, String),
    #[error("database url {0:?}: {1}")]
    BadUrl(String, String),
    #[error("commit failed: {0}")]
    CommitFailed(String),
    #[error("the store's writer queue is full; request shed")]
    Overloaded,
    #[error("the store's writer task has stopped")]
    WriterGone,
}
