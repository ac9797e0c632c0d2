//! Persistence behind one seam. [`Store`] is the interface the daemon,
//! the CLI and the API use: a few operations, each one transaction. A
//! backend is one folder: `sqlite/` (the embedded default: a group-commit
//! writer thread, WAL, readers) and `postgres/` (several nodes on one
//! database). Backends differ in SQL, never in rules: the rules live in
//! `policy/` and `token/`.

pub mod apikeys;
pub mod audit;
pub mod batches;
pub mod dashboard;
pub mod operators;
pub mod postgres;
pub mod presets;
pub mod sqlite;
pub mod writer;

use crate::config::DatabaseConfig;
use crate::token::{AccessToken, NewToken, TokenFilter};

pub use sqlite::database_file;
pub use sqlite::writer::LAST_ACCESS_SWEEP_EVERY;
pub use writer::{
    AcceptFacts, AcctJob, AcctOutcome, AuthJob, AuthOutcome, SweepOutcome, Writer, WriterGauges,
    WriterSettings,
};

/// Whether opening a database may create or migrate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// `radgate serve`: create a missing database, migrate an older one.
    Serve,
    /// Commands that add codes or keys: create a missing (or empty)
    /// database; one of an older schema is refused
    /// ([`StoreError::OlderSchema`]): only `serve` migrates, so that a newer
    /// CLI cannot change the schema under an older server.
    Create,
    /// Commands that read or change what exists: the database must exist
    /// with this version's schema ([`StoreError::Missing`] otherwise), and
    /// nothing is created.
    Existing,
}

/// The configured database: the interface every surface uses.
#[derive(Clone)]
pub enum Store {
    Sqlite(std::sync::Arc<sqlite::Store>),
    Postgres(std::sync::Arc<postgres::Store>),
}

/// The same call on whichever backend this is.
macro_rules! each {
    ($self:expr, $b:ident => $e:expr) => {
        match $self {
            Store::Sqlite($b) => $e,
            Store::Postgres($b) => $e,
        }
    };
}

impl Store {
    /// Open the database `cfg.url` names (`sqlite:` or `postgres:`).
    pub async fn open(cfg: &DatabaseConfig, mode: OpenMode) -> Result<Store, StoreError> {
        if postgres::is_postgres_url(&cfg.url) {
            Ok(Store::Postgres(std::sync::Arc::new(
                postgres::Store::open(cfg, mode).await?,
            )))
        } else {
            Ok(Store::Sqlite(std::sync::Arc::new(
                sqlite::Store::open(cfg, mode).await?,
            )))
        }
    }

    /// The SQLite store, when this is one (tests and SQLite-only tools).
    pub fn as_sqlite(&self) -> Option<&sqlite::Store> {
        match self {
            Store::Sqlite(s) => Some(s),
            Store::Postgres(_) => None,
        }
    }

    /// An error naming the database when this process may not write it.
    pub fn ensure_writable(&self) -> Result<(), StoreError> {
        each!(self, b => b.ensure_writable())
    }

    /// Close the connections before the process ends.
    pub async fn close(&self) {
        each!(self, b => b.close().await)
    }

    /// Start the daemon's writer: every RADIUS decision and charge goes
    /// through it, in batches, one transaction each.
    pub async fn spawn_writer(&self, settings: WriterSettings) -> Result<Writer, StoreError> {
        match self {
            Store::Sqlite(s) => Ok(Writer::Sqlite(s.spawn_writer(settings).await?)),
            Store::Postgres(p) => Ok(Writer::Postgres(p.spawn_writer(settings))),
        }
    }

    pub async fn create_token(
        &self,
        t: &NewToken,
        now: i64,
        actor: &audit::Actor,
    ) -> Result<AccessToken, StoreError> {
        each!(self, b => b.create_token(t, now, actor).await)
    }

    pub async fn token_by_id(&self, id: i64) -> Result<Option<AccessToken>, StoreError> {
        each!(self, b => b.token_by_id(id).await)
    }

    /// A token by its code (case-insensitive) or, failing that, its Id.
    pub async fn find_token(&self, code_or_id: &str) -> Result<AccessToken, StoreError> {
        each!(self, b => b.find_token(code_or_id).await)
    }

    pub async fn delete_token(&self, id: i64, actor: &audit::Actor) -> Result<bool, StoreError> {
        each!(self, b => b.delete_token(id, None, actor).await)
    }

    /// Delete the token with this Id only if it is one of these businesses'
    /// (`None`: any; checked in the deleting transaction); whether it was.
    pub async fn delete_token_in(
        &self,
        id: i64,
        scope: Option<&[i64]>,
        actor: &audit::Actor,
    ) -> Result<bool, StoreError> {
        each!(self, b => b.delete_token(id, scope, actor).await)
    }

    /// One page of tokens and the total count matching the filter.
    pub async fn list_tokens(
        &self,
        f: &TokenFilter,
        now: i64,
    ) -> Result<(Vec<AccessToken>, i64), StoreError> {
        each!(self, b => b.list_tokens(f, now).await)
    }

    /// Every token matching the filter, in its order.
    pub async fn all_tokens(
        &self,
        f: &TokenFilter,
        now: i64,
    ) -> Result<Vec<AccessToken>, StoreError> {
        each!(self, b => b.all_tokens(f, now).await)
    }

    /// Create `count` tokens like `template` with codes from `next_code`,
    /// in one transaction (see the backends).
    // The batch's template, size, clock, retry bound, code source, progress
    // and author: each a caller's choice.
    #[allow(clippy::too_many_arguments)]
    pub async fn generate_tokens(
        &self,
        template: &NewToken,
        count: usize,
        now: i64,
        max_tries: usize,
        next_code: impl FnMut() -> String,
        progress: impl FnMut(usize),
        actor: &audit::Actor,
        batch: &str,
    ) -> Result<Vec<AccessToken>, GenerateError> {
        each!(self, b => b.generate_tokens(template, count, now, max_tries, next_code, progress, actor, batch).await)
    }

    /// The newest `limit` batches with codes of the businesses `scope`
    /// (`None`: all), with how those codes stand at `now`, newest first.
    pub async fn batches(
        &self,
        scope: Option<&[i64]>,
        now: i64,
        limit: i64,
    ) -> Result<Vec<batches::BatchSummary>, StoreError> {
        each!(self, b => b.batches(scope, now, limit).await)
    }

    pub async fn batch(&self, id: i64) -> Result<Option<batches::Batch>, StoreError> {
        each!(self, b => b.batch(id).await)
    }

    /// Change one token (by code or Id) in one transaction: `f` sees the
    /// stored token and returns its new values (or refuses).
    pub async fn update_token<E: From<StoreError>>(
        &self,
        code_or_id: &str,
        now: i64,
        actor: &audit::Actor,
        f: impl FnOnce(&AccessToken) -> Result<TokenUpdate, E>,
    ) -> Result<AccessToken, E> {
        each!(self, b => b.update_token(code_or_id, now, actor, f).await)
    }

    /// [`Store::update_token`] for the token with this Id only (the API).
    pub async fn update_token_by_id<E: From<StoreError>>(
        &self,
        id: i64,
        now: i64,
        actor: &audit::Actor,
        f: impl FnOnce(&AccessToken) -> Result<TokenUpdate, E>,
    ) -> Result<AccessToken, E> {
        each!(self, b => b.update_token_by_id(id, now, actor, f).await)
    }

    /// Delete the tokens named by code or Id, all or none.
    pub async fn delete_tokens(
        &self,
        refs: &[String],
        actor: &audit::Actor,
    ) -> Result<Result<Vec<AccessToken>, Vec<String>>, StoreError> {
        each!(self, b => b.delete_tokens(refs, actor).await)
    }

    /// Delete those of `ids` that still match the filter; how many.
    pub async fn delete_matching(
        &self,
        f: &TokenFilter,
        ids: &[i64],
        now: i64,
        actor: &audit::Actor,
    ) -> Result<u64, StoreError> {
        each!(self, b => b.delete_matching(f, ids, now, actor).await)
    }

    /// Insert imported tokens in one transaction: all or none.
    pub async fn import_tokens(
        &self,
        rows: &[ImportToken],
        now: i64,
        dry_run: bool,
        skip_existing: bool,
        actor: &audit::Actor,
    ) -> Result<Result<Imported, Vec<(usize, ImportConflict)>>, StoreError> {
        each!(self, b => b.import_tokens(rows, now, dry_run, skip_existing, actor).await)
    }

    /// The running sessions of these tokens, as a Disconnect-Request names them.
    pub async fn running_sessions(
        &self,
        token_ids: &[i64],
    ) -> Result<Vec<LiveSession>, StoreError> {
        each!(self, b => b.running_sessions(token_ids).await)
    }

    /// Sessions and places of a token that hold a place now.
    pub async fn live_sessions(
        &self,
        token_id: i64,
        now: i64,
    ) -> Result<Vec<SessionRow>, StoreError> {
        each!(self, b => b.live_sessions(token_id, now).await)
    }

    /// Sessions the hotspots report running.
    pub async fn count_active_sessions(&self) -> Result<i64, StoreError> {
        each!(self, b => b.count_active_sessions().await)
    }

    /// Sessions, newest first.
    pub async fn list_sessions(
        &self,
        f: &SessionFilter,
        now: i64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        each!(self, b => b.list_sessions(f, now).await)
    }

    /// What the dashboard counts: sessions that started in `since..=now`
    /// or were still open at `since`, and codes created or first used in
    /// that window, of these businesses (`None`: all). At most
    /// [`dashboard::DASHBOARD_ROW_LIMIT`] rows of each, the newest.
    pub async fn dashboard_facts(
        &self,
        since: i64,
        now: i64,
        business_ids: Option<&[i64]>,
    ) -> Result<dashboard::DashboardFacts, StoreError> {
        each!(self, b => b.dashboard_facts(since, now, business_ids).await)
    }

    /// Create an API key reaching every business; the raw key (shown
    /// once) and its record.
    pub async fn create_api_key(
        &self,
        name: &str,
        roles: &[&str],
        created_by: &str,
        now: i64,
        actor: &audit::Actor,
    ) -> Result<(String, apikeys::ApiKey), StoreError> {
        self.create_scoped_api_key(name, roles, &[], created_by, now, actor)
            .await
    }

    /// Create an API key reaching only the codes of `businesses` (empty:
    /// all; checked by the caller, see `apikeys::scope_for_new_key`); the
    /// raw key (shown once) and its record.
    pub async fn create_scoped_api_key(
        &self,
        name: &str,
        roles: &[&str],
        businesses: &[i64],
        created_by: &str,
        now: i64,
        actor: &audit::Actor,
    ) -> Result<(String, apikeys::ApiKey), StoreError> {
        each!(self, b => b.create_api_key(name, roles, businesses, created_by, now, actor).await)
    }

    /// API keys, newest first; revoked ones only with `all`.
    pub async fn api_keys(&self, all: bool) -> Result<Vec<apikeys::ApiKey>, StoreError> {
        each!(self, b => b.api_keys(all).await)
    }

    /// Revoke a live key and the keys it created; both returned.
    pub async fn revoke_api_key(
        &self,
        name_or_id: &str,
        now: i64,
        actor: &audit::Actor,
    ) -> Result<(apikeys::ApiKey, Vec<apikeys::ApiKey>), StoreError> {
        each!(self, b => b.revoke_api_key(name_or_id, now, actor).await)
    }

    /// The live key whose hash matches `key`; stamps LastUsed.
    pub async fn authenticate_api_key(
        &self,
        key: &str,
        now: i64,
    ) -> Result<Option<apikeys::ApiKey>, StoreError> {
        each!(self, b => b.authenticate_api_key(key, now).await)
    }
}

impl Store {
    /// Add an operator (`operator add`).
    pub async fn create_operator(
        &self,
        o: &operators::NewOperator,
        created_by: &str,
        now: i64,
        actor: &audit::Actor,
    ) -> Result<operators::Operator, StoreError> {
        each!(self, b => b.create_operator(o, created_by, now, actor).await)
    }

    /// Every operator, by name.
    pub async fn operators(&self) -> Result<Vec<operators::Operator>, StoreError> {
        each!(self, b => b.operators().await)
    }

    /// An operator and the stored password hash, by name.
    pub async fn operator_password(
        &self,
        name: &str,
    ) -> Result<Option<(operators::Operator, String)>, StoreError> {
        each!(self, b => b.operator_password(name).await)
    }

    /// Remove an operator and end their sessions: whether there was one.
    pub async fn remove_operator(
        &self,
        name: &str,
        actor: &audit::Actor,
    ) -> Result<bool, StoreError> {
        each!(self, b => b.remove_operator(name, actor).await)
    }

    /// A new password hash; the operator's sessions end.
    pub async fn set_operator_password(
        &self,
        name: &str,
        hash: &str,
        actor: &audit::Actor,
    ) -> Result<bool, StoreError> {
        each!(self, b => b.set_operator_password(name, hash, actor).await)
    }

    /// Change an operator's role, businesses and whether they are
    /// disabled (their sessions end when disabled).
    pub async fn update_operator(
        &self,
        name: &str,
        role: operators::Role,
        businesses: &[i64],
        disabled: bool,
        now: i64,
        actor: &audit::Actor,
    ) -> Result<Option<operators::Operator>, StoreError> {
        each!(self, b => b.update_operator(name, role, businesses, disabled, now, actor).await)
    }

    /// A web sign-in session (by the hash of its cookie's id).
    pub async fn create_web_session(
        &self,
        id_hash: &str,
        operator_id: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        each!(self, b => b.create_web_session(id_hash, operator_id, now).await)
    }

    /// The session's operator, its start and when it was last used.
    pub async fn web_session(
        &self,
        id_hash: &str,
    ) -> Result<Option<(operators::Operator, i64, i64)>, StoreError> {
        each!(self, b => b.web_session(id_hash).await)
    }

    pub async fn touch_web_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError> {
        each!(self, b => b.touch_web_session(id_hash, now).await)
    }

    pub async fn end_web_session(&self, id_hash: &str) -> Result<(), StoreError> {
        each!(self, b => b.end_web_session(id_hash).await)
    }

    /// Delete sessions idle since `idle_before` or begun before `begun_before`.
    pub async fn sweep_web_sessions(
        &self,
        idle_before: i64,
        begun_before: i64,
    ) -> Result<u64, StoreError> {
        each!(self, b => b.sweep_web_sessions(idle_before, begun_before).await)
    }
}

impl Store {
    /// Record an action that changes nothing stored (a disconnect).
    pub async fn record_audit(
        &self,
        at: i64,
        actor: &audit::Actor,
        c: &audit::Change,
    ) -> Result<(), StoreError> {
        each!(self, b => b.record_audit(at, actor, c).await)
    }

    /// The audit log: recorded changes matching `f`, newest first.
    pub async fn audit_log(&self, f: &audit::Filter) -> Result<Vec<audit::Record>, StoreError> {
        each!(self, b => b.audit_log(f).await)
    }
}

impl Store {
    /// Quick-issue presets, by name.
    pub async fn presets(&self) -> Result<Vec<presets::Preset>, StoreError> {
        each!(self, b => b.presets().await)
    }

    pub async fn create_preset(
        &self,
        p: &presets::NewPreset,
        now: i64,
        actor: &audit::Actor,
    ) -> Result<presets::Preset, StoreError> {
        each!(self, b => b.create_preset(p, now, actor).await)
    }

    /// Remove a preset: whether there was one.
    pub async fn remove_preset(&self, id: i64, actor: &audit::Actor) -> Result<bool, StoreError> {
        each!(self, b => b.remove_preset(id, actor).await)
    }
}

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
    #[error("database error: {}", pg_detail(.0))]
    Pg(#[from] tokio_postgres::Error),
    #[error(
        "the PostgreSQL database at {0} has no radgate tables yet: `radgate serve` with this \
         configuration creates them (so does a command that adds codes or keys)"
    )]
    NoSchema(String),
    #[error("cannot reach the PostgreSQL database at {hosts}: {reason}")]
    Unreachable { hosts: String, reason: String },
    #[error("AccessCode: \"{code}\" already exists for BusinessId {business_id}")]
    DuplicateCode { code: String, business_id: i64 },
    #[error("no access token matches \"{0}\"")]
    NotFound(String),
    #[error("no live API key is named (or has the Id) \"{0}\"; see radgate apikey list")]
    NoSuchApiKey(String),
    #[error("no operator is named \"{0}\"; see radgate operator list")]
    NoSuchOperator(String),
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
    /// How the audit log names the change (`token.update`,
    /// `token.revoke`, …).
    pub audit_action: &'static str,
    /// A reason given for it, recorded with it.
    pub reason: Option<String>,
}

/// One token to import: the fields of a new token plus what an export
/// carries about its past (all optional).
#[derive(Debug, Clone, Default)]
pub struct ImportToken {
    pub token: NewToken,
    pub unique_id: Option<String>,
    pub seconds_used: i64,
    /// Octets used of a data allowance (from MegabytesLeft).
    pub bytes_used: i64,
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

/// A session or pending place with its token's code, for `session list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: i64,
    pub token_id: i64,
    pub access_code: String,
    /// The code's BusinessId.
    pub business_id: i64,
    pub nas: String,
    pub device: Option<String>,
    pub state: String,
    pub acct_session_id: Option<String>,
    pub framed_ip: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: Option<i64>,
    pub stopped_at: Option<i64>,
    pub session_time: i64,
    pub terminate_cause: Option<i64>,
    pub close_reason: Option<String>,
    pub input_octets: i64,
    pub output_octets: i64,
}

#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// Only sessions holding a place now (active, or pending and unexpired).
    pub active: bool,
    pub code: Option<String>,
    /// Only sessions whose NAS gave the device this address
    /// (Framed-IP-Address), as the address is written.
    pub framed_ip: Option<String>,
    pub limit: i64,
}

/// A session's state as listings show it: a pending place whose time passed
/// without an accounting Start holds nothing any more, even before the
/// sweep deletes it: `expired`.
pub fn listed_state(state: String, expires_at: Option<i64>, now: i64) -> String {
    if state == "pending" && expires_at.is_some_and(|e| e <= now) {
        "expired".to_string()
    } else {
        state
    }
}

/// What PostgreSQL said (its message, detail and hint), or the error's
/// chain of causes: tokio-postgres's own Display says only "db error".
pub(crate) fn pg_detail(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} ({})", db.message(), db.code().code());
        if let Some(d) = db.detail() {
            s.push_str(&format!("; {d}"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!("; hint: {h}"));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        s.push_str(&format!(": {c}"));
        cause = c.source();
    }
    s
}

/// A database in pieces, for `radgate db copy`: every column, ids kept.
/// Sent in an order the target's foreign keys accept (batches before the
/// codes that name them, codes before their sessions). Web UI sign-ins
/// (`web_sessions`) are not copied: operators sign in again.
#[derive(Debug, Clone)]
pub enum CopyChunk {
    Operators(Vec<OperatorRecord>),
    Presets(Vec<presets::Preset>),
    Batches(Vec<batches::Batch>),
    Tokens(Vec<TokenRecord>),
    Sessions(Vec<SessionRecord>),
    ApiKeys(Vec<ApiKeyRecord>),
    Audit(Vec<audit::Record>),
    /// The highest id each table has given so far (ids are never reused,
    /// and the copy keeps it so).
    Sequences(CopySequences),
    /// Everything was sent: the copy may commit.
    End,
}

/// The highest id each table has given so far (0: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopySequences {
    pub tokens: i64,
    pub sessions: i64,
    pub api_keys: i64,
    pub operators: i64,
    pub audit_log: i64,
    pub presets: i64,
    pub batches: i64,
}

/// Every column of a token row: the token and the batch it was made in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub token: AccessToken,
    pub batch_id: Option<i64>,
}

/// Every column of an operator row (the password hash too, so that
/// operators sign in with their passwords on the copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRecord {
    pub operator: operators::Operator,
    pub password_hash: String,
}

/// Every column of a session row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: i64,
    pub token_id: i64,
    pub nas: String,
    pub device: Option<String>,
    pub state: String,
    pub acct_session_id: Option<String>,
    pub framed_ip: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: Option<i64>,
    pub session_time: i64,
    pub stopped_at: Option<i64>,
    pub terminate_cause: Option<i64>,
    pub close_reason: Option<String>,
    pub input_octets: i64,
    pub output_octets: i64,
    pub input_packets: i64,
    pub output_packets: i64,
    pub user_name: Option<String>,
}

/// Every column of an API key row (its hash too, so that keys go on
/// working on the copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub key: apikeys::ApiKey,
    pub key_hash: String,
}

/// What a copy moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyCounts {
    pub tokens: u64,
    pub sessions: u64,
    pub api_keys: u64,
    pub operators: u64,
    pub audit_records: u64,
    pub presets: u64,
    pub batches: u64,
}

impl CopyCounts {
    /// What a database holds, in words, as a copy's messages say it.
    pub fn describe(&self) -> String {
        format!(
            "{} token(s), {} batch(es), {} session(s), {} API key(s), {} operator(s), \
             {} preset(s) and {} audit record(s)",
            self.tokens,
            self.batches,
            self.sessions,
            self.api_keys,
            self.operators,
            self.presets,
            self.audit_records
        )
    }

    pub fn total(&self) -> u64 {
        self.tokens
            + self.sessions
            + self.api_keys
            + self.operators
            + self.audit_records
            + self.presets
            + self.batches
    }
}

/// Rows per chunk of a copy.
pub(crate) const COPY_CHUNK: i64 = 5000;

/// What a copy's target holds (it must hold nothing), in the order of
/// [`CopyCounts::refuse_unless_empty`]; the same SQL on both backends.
pub(crate) const COPY_TARGET_COUNTS: &str = "SELECT (SELECT COUNT(*) FROM access_tokens), \
     (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM api_keys), \
     (SELECT COUNT(*) FROM operators), (SELECT COUNT(*) FROM audit_log), \
     (SELECT COUNT(*) FROM presets), (SELECT COUNT(*) FROM batches)";

impl CopyCounts {
    /// The counts of [`COPY_TARGET_COUNTS`]: `Ok` when the target is
    /// empty, the refusal naming what it holds otherwise.
    pub(crate) fn refuse_unless_empty(n: [i64; 7]) -> Result<(), StoreError> {
        let c = |i: usize| u64::try_from(n[i]).unwrap_or_default();
        let held = CopyCounts {
            tokens: c(0),
            sessions: c(1),
            api_keys: c(2),
            operators: c(3),
            audit_records: c(4),
            presets: c(5),
            batches: c(6),
        };
        if held.total() == 0 {
            return Ok(());
        }
        Err(StoreError::Conflict(format!(
            "the target database is not empty ({}): radgate db copy only copies into an empty one",
            held.describe()
        )))
    }
}

impl Store {
    /// Copy this database into `target`, which must be empty: read in one
    /// snapshot (consistent while a server writes), written in one
    /// transaction (all or nothing).
    pub async fn copy_to(&self, target: &Store) -> Result<CopyCounts, StoreError> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let (sent, loaded) = tokio::join!(
            async {
                let r = each!(self, b => b.dump(&tx).await);
                if r.is_ok() {
                    let _ = tx.send(CopyChunk::End).await;
                }
                drop(tx);
                r
            },
            async { each!(target, b => b.load(rx).await) }
        );
        // The target's error says more (a dump that stops because the
        // target gave up only says the channel closed).
        let counts = loaded?;
        sent?;
        Ok(counts)
    }
}
