//! SQLite store: schema migrations, token CRUD for the CLI, and the
//! connection settings shared with the writer task.

mod apikeys;
mod audit;
pub mod backup;
mod batches;
mod codes;
mod copy;
mod dashboard;
mod operators;
mod presets;
pub mod sessions;
mod stamps;
mod wal;
mod walsync;
pub mod writer;

use crate::store::audit::{Actor, Change};
use std::str::FromStr;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};

use super::{
    GenerateError, ImportConflict, ImportToken, Imported, OpenMode, SessionRow, StoreError,
    TokenUpdate,
};
use crate::config::{DatabaseConfig, Synchronous};
use crate::token::parse::code_key;
use crate::token::{AccessToken, CmpOp, FilterValue, NewToken, TokenField, TokenFilter};

/// Page size of a new database file. Smaller than SQLite's 4096 default:
/// each request dirties a row or two on random pages, and every commit
/// writes each dirty page whole into the WAL (and a checkpoint writes it
/// again into the database file), so the page size is what the disk
/// writes per request. An existing database keeps its page size.
pub(crate) const NEW_DATABASE_PAGE_SIZE: u32 = 1024;

/// Migrations in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/sqlite/0001_init.sql"),
    include_str!("../../../migrations/sqlite/0002_first_use.sql"),
    include_str!("../../../migrations/sqlite/0003_session_user_name.sql"),
    include_str!("../../../migrations/sqlite/0004_token_rate_limit.sql"),
    include_str!("../../../migrations/sqlite/0005_api_keys.sql"),
    include_str!("../../../migrations/sqlite/0006_token_ids_never_reused.sql"),
    include_str!("../../../migrations/sqlite/0007_sessions_rebuilt.sql"),
    include_str!("../../../migrations/sqlite/0008_session_ids_reused.sql"),
    include_str!("../../../migrations/sqlite/0009_operators.sql"),
    include_str!("../../../migrations/sqlite/0010_audit_log.sql"),
    include_str!("../../../migrations/sqlite/0011_presets.sql"),
    include_str!("../../../migrations/sqlite/0012_batches.sql"),
    include_str!("../../../migrations/sqlite/0013_guest_name.sql"),
    include_str!("../../../migrations/sqlite/0014_apikey_businesses.sql"),
    include_str!("../../../migrations/sqlite/0015_data_allowance.sql"),
];

pub(crate) const TOKEN_COLS: &str = "id, unique_id, business_id, access_code, description, \
    minutes_included, seconds_used, valid_from, valid_to, user_limit, mac_address, \
    booking_guid, visitor_guid, last_access, created_on, updated_on, updated_by, \
    valid_for_minutes, single_use, first_used_on, spent_on, rate_limit, guest_name, \
    megabytes_included, bytes_used";

pub(crate) fn token_from_row(r: &SqliteRow) -> Result<AccessToken, sqlx::Error> {
    Ok(AccessToken {
        id: r.try_get(0)?,
        unique_id: r.try_get(1)?,
        business_id: r.try_get(2)?,
        access_code: r.try_get(3)?,
        description: r.try_get(4)?,
        minutes_included: r.try_get(5)?,
        seconds_used: r.try_get(6)?,
        valid_from: r.try_get(7)?,
        valid_to: r.try_get(8)?,
        user_limit: r.try_get(9)?,
        mac_address: r.try_get(10)?,
        booking_guid: r.try_get(11)?,
        visitor_guid: r.try_get(12)?,
        last_access: r.try_get(13)?,
        created_on: r.try_get(14)?,
        updated_on: r.try_get(15)?,
        updated_by: r.try_get(16)?,
        valid_for_minutes: r.try_get(17)?,
        single_use: r.try_get(18)?,
        first_used_on: r.try_get(19)?,
        spent_on: r.try_get(20)?,
        rate_limit: r.try_get(21)?,
        guest_name: r.try_get(22)?,
        megabytes_included: r.try_get(23)?,
        bytes_used: r.try_get(24)?,
    })
}

/// The SQL expression for a field (a fixed string from this list).
fn field_sql(f: TokenField) -> &'static str {
    match f {
        TokenField::Id => "id",
        TokenField::UniqueId => "unique_id",
        TokenField::BusinessId => "business_id",
        TokenField::AccessCode => "code_key",
        TokenField::Description => "description",
        TokenField::MinutesIncluded => "minutes_included",
        TokenField::MinutesLeft => MINUTES_LEFT_SQL,
        TokenField::ValidFrom => "valid_from",
        TokenField::ValidTo => "valid_to",
        TokenField::UserLimit => "user_limit",
        TokenField::MacAddress => "mac_address",
        TokenField::BookingGuid => "booking_guid",
        TokenField::VisitorGuid => "visitor_guid",
        TokenField::LastAccess => "last_access",
        TokenField::CreatedOn => "created_on",
        TokenField::UpdatedOn => "updated_on",
        TokenField::UpdatedBy => "updated_by",
        TokenField::ValidForMinutes => "valid_for_minutes",
        TokenField::SingleUse => "single_use",
        TokenField::FirstUsedOn => "first_used_on",
        TokenField::SpentOn => "spent_on",
        TokenField::RateLimit => "rate_limit",
        TokenField::GuestName => "guest_name",
        TokenField::MegabytesIncluded => "megabytes_included",
        TokenField::MegabytesLeft => MEGABYTES_LEFT_SQL,
    }
}

/// MinutesLeft in SQL, rounded up like [`crate::policy::auth::minutes_left`].
const MINUTES_LEFT_SQL: &str = "MAX(0, (minutes_included * 60 - seconds_used + 59) / 60)";
/// MegabytesLeft in SQL, rounded up like
/// [`crate::policy::auth::megabytes_left`]; NULL without an allowance.
const MEGABYTES_LEFT_SQL: &str =
    "MAX(0, (megabytes_included * 1000000 - bytes_used + 999999) / 1000000)";
/// A data allowance used up (SPEC §12).
pub(super) const DATA_USED_UP_SQL: &str =
    "(megabytes_included IS NOT NULL AND bytes_used >= megabytes_included * 1000000)";

/// The end of the validity window in SQL, like
/// [`crate::token::AccessToken::expires_on`]: ValidTo, or ValidForMinutes
/// after the first login when that is earlier.
pub(super) const EXPIRES_ON_SQL: &str =
    "(CASE WHEN valid_for_minutes IS NULL OR first_used_on IS NULL \
     THEN valid_to ELSE MIN(COALESCE(valid_to, first_used_on + valid_for_minutes * 60), \
     first_used_on + valid_for_minutes * 60) END)";

fn op_sql(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ge => ">=",
        CmpOp::Le => "<=",
        CmpOp::Lt => "<",
    }
}

/// The WHERE clause (without `WHERE`) and its bind values, in order.
fn where_sql(f: &TokenFilter, now: i64) -> (String, Vec<FilterValue>) {
    let mut cond = vec!["1 = 1".to_string()];
    let mut binds = Vec::new();
    if let Some(c) = &f.code {
        cond.push("code_key = ?".into());
        binds.push(FilterValue::Text(code_key(c)));
    }
    if let Some(b) = f.business_id {
        cond.push("business_id = ?".into());
        binds.push(FilterValue::Int(b));
    }
    if let Some(ids) = &f.business_ids {
        if ids.is_empty() {
            cond.push("0 = 1".into());
        } else {
            cond.push(format!(
                "business_id IN ({})",
                vec!["?"; ids.len()].join(", ")
            ));
            binds.extend(ids.iter().map(|b| FilterValue::Int(*b)));
        }
    }
    if let Some(text) = f.search.as_deref().filter(|t| !t.trim().is_empty()) {
        cond.push(
            "(lower(access_code) LIKE ? ESCAPE '\\' OR lower(COALESCE(description, '')) LIKE ? ESCAPE '\\' \
             OR lower(COALESCE(guest_name, '')) LIKE ? ESCAPE '\\' \
             OR lower(COALESCE(mac_address, '')) LIKE ? ESCAPE '\\')"
                .into(),
        );
        let p = crate::token::filter::search_pattern(text);
        binds.push(FilterValue::Text(p.clone()));
        binds.push(FilterValue::Text(p.clone()));
        binds.push(FilterValue::Text(p));
        binds.push(FilterValue::Text(crate::token::filter::search_mac_pattern(
            text,
        )));
    }
    if f.active {
        cond.push(format!(
            "(valid_from IS NULL OR valid_from <= ?) AND ({EXPIRES_ON_SQL} IS NULL OR {EXPIRES_ON_SQL} > ?) \
             AND seconds_used < minutes_included * 60 AND (single_use = 0 OR spent_on IS NULL) \
             AND NOT {DATA_USED_UP_SQL}"
        ));
        binds.push(FilterValue::Int(now));
        binds.push(FilterValue::Int(now));
    }
    if f.expired {
        cond.push(format!("{EXPIRES_ON_SQL} <= ?"));
        binds.push(FilterValue::Int(now));
    }
    if f.spent {
        cond.push("single_use = 1 AND spent_on IS NOT NULL".into());
    }
    if f.unused {
        cond.push("last_access IS NULL".into());
    }
    if f.exhausted {
        cond.push(format!(
            "(seconds_used >= minutes_included * 60 OR {DATA_USED_UP_SQL})"
        ));
    }
    if let Some(b) = f.batch_id {
        cond.push("batch_id = ?".into());
        binds.push(FilterValue::Int(b));
    }
    for c in &f.conds {
        cond.push(format!("{} {} ?", field_sql(c.field), op_sql(c.op)));
        binds.push(match (&c.field, &c.value) {
            (TokenField::AccessCode, FilterValue::Text(t)) => FilterValue::Text(code_key(t)),
            (_, v) => v.clone(),
        });
    }
    (cond.join(" AND "), binds)
}

fn order_sql(f: &TokenFilter) -> String {
    let dir = if f.descending { "DESC" } else { "ASC" };
    let field = f.order_by.unwrap_or(TokenField::Id);
    if field == TokenField::Id {
        format!("id {dir}")
    } else {
        format!("{} {dir}, id {dir}", field_sql(field))
    }
}

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;
type SqliteScalar<'q, T> =
    sqlx::query::QueryScalar<'q, sqlx::Sqlite, T, sqlx::sqlite::SqliteArguments<'q>>;

fn bind_all<'q>(mut q: SqliteQuery<'q>, binds: &'q [FilterValue]) -> SqliteQuery<'q> {
    for b in binds {
        q = match b {
            FilterValue::Int(i) => q.bind(*i),
            FilterValue::Text(t) => q.bind(t.as_str()),
        };
    }
    q
}

fn bind_all_scalar<'q, T>(
    mut q: SqliteScalar<'q, T>,
    binds: &'q [FilterValue],
) -> SqliteScalar<'q, T> {
    for b in binds {
        q = match b {
            FilterValue::Int(i) => q.bind(*i),
            FilterValue::Text(t) => q.bind(t.as_str()),
        };
    }
    q
}

/// How a caller names a token.
#[derive(Debug, Clone, Copy)]
enum TokenRef<'a> {
    /// The code (case-insensitive) or, failing that, the Id (the CLI).
    CodeOrId(&'a str),
    /// The Id only (the API).
    Id(i64),
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    opts: SqliteConnectOptions,
    db: DatabaseConfig,
    /// SQLite opened the file read-only: this user may not write it.
    read_only: bool,
}

/// Errors opening the database that are about the file (SQLITE_CANTOPEN,
/// SQLITE_READONLY: missing directory, another user's file or leftover
/// -wal/-shm files) name it; others pass unchanged.
fn name_the_file(e: StoreError, path: &str) -> StoreError {
    let StoreError::Db(sqlx::Error::Database(d)) = &e else {
        return e;
    };
    // Extended result codes keep the primary code in the low byte.
    match d
        .code()
        .and_then(|c| c.parse::<i32>().ok())
        .map(|c| c & 0xff)
    {
        Some(8) => StoreError::ReadOnly(path.to_string()),
        Some(14) => StoreError::Open {
            path: path.to_string(),
            reason: d.message().to_string(),
        },
        // SQLITE_CORRUPT, SQLITE_NOTADB.
        Some(11 | 26) => StoreError::NotADatabase {
            path: path.to_string(),
            reason: d.message().to_string(),
        },
        _ => e,
    }
}

/// Whether SQLite opened the database read-only: the URL asked for it
/// (`?mode=ro`), or the file is not writable for this process (SQLite then
/// falls back to read-only without a word).
async fn is_read_only(conn: &mut sqlx::SqliteConnection) -> Result<bool, StoreError> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: a valid connection handle, locked for the call; "main" is a
    // NUL-terminated schema name. (sqlx and rusqlite link the one SQLite.)
    let ro = unsafe { rusqlite::ffi::sqlite3_db_readonly(db, c"main".as_ptr()) };
    Ok(ro == 1)
}

/// The database file a `sqlite:` URL names (`None` for an in-memory
/// database or another scheme).
pub fn database_file(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") || is_in_memory(url) {
        return None;
    }
    let opts = SqliteConnectOptions::from_str(url).ok()?;
    Some(opts.get_filename().to_path_buf())
}

impl Store {
    /// Open and migrate the database; `mode` says whether a missing file
    /// is created.
    pub async fn open(cfg: &DatabaseConfig, mode: OpenMode) -> Result<Store, StoreError> {
        let url = cfg.url.as_str();
        if !url.starts_with("sqlite:") {
            return Err(StoreError::BadUrl(
                url.into(),
                "only sqlite:// URLs are supported".into(),
            ));
        }
        if mode == OpenMode::Existing {
            if let Some(path) = database_file(url) {
                let shown = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
                match std::fs::metadata(&path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(StoreError::Missing(shown.display().to_string()));
                    }
                    // Opened, SQLite would write a header into it.
                    Ok(m) if m.len() == 0 => {
                        return Err(StoreError::Missing(format!(
                            "{} (the file is empty)",
                            shown.display()
                        )));
                    }
                    _ => {}
                }
            }
        }
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::BadUrl(url.into(), e.to_string()))?
            .create_if_missing(mode != OpenMode::Existing)
            // Only takes effect on a database that does not exist yet.
            .page_size(NEW_DATABASE_PAGE_SIZE);
        // A read-only connection (`?mode=ro`) cannot switch a database to
        // WAL: a file in another journal mode (a `radgate backup`) is read
        // as it is.
        let opts = if url.contains("mode=ro") {
            opts
        } else {
            opts.journal_mode(SqliteJournalMode::Wal)
        };
        let opts = opts
            .synchronous(match cfg.synchronous {
                Synchronous::Full => SqliteSynchronous::Full,
                Synchronous::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(cfg.busy_timeout)
            .foreign_keys(true);
        let path = opts.get_filename().display().to_string();
        create_private(opts.get_filename(), url);
        let mut conn = opts
            .connect()
            .await
            .map_err(|e| name_the_file(e.into(), &path))?;
        let ready = match mode {
            OpenMode::Serve => migrate(&mut conn).await,
            _ => check_schema(&mut conn, mode, &path).await,
        };
        ready.map_err(|e| name_the_file(e, &path))?;
        let read_only = is_read_only(&mut conn).await?;
        conn.close().await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.clone())
            .await?;
        Ok(Store {
            pool,
            opts,
            db: cfg.clone(),
            read_only,
        })
    }

    /// An error naming the file when this process may not write the
    /// database (SQLite then opens it read-only without a word, and every
    /// write fails later).
    pub fn ensure_writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly(
                self.opts.get_filename().display().to_string(),
            ));
        }
        Ok(())
    }

    pub(crate) fn database_config(&self) -> &DatabaseConfig {
        &self.db
    }

    pub(crate) fn connect_options(&self) -> &SqliteConnectOptions {
        &self.opts
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Close the connections before the process ends. SQLite checkpoints
    /// the WAL and removes the -wal and -shm files when the last connection
    /// to the file closes cleanly — often, not always, after a CLI command
    /// (never while a server has the file open).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn create_token(
        &self,
        t: &NewToken,
        now: i64,
        actor: &Actor,
    ) -> Result<AccessToken, StoreError> {
        let mut conn = begin_immediate(&self.pool).await?;
        let res = async {
            let id = insert_token(&mut conn, t, now).await?;
            let tok = tokens_by_ids(&mut conn, &[id])
                .await?
                .pop()
                .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
            audit::record(
                &mut conn,
                now,
                actor,
                &Change::token("token.create", None, Some(&tok)),
            )
            .await?;
            Ok(tok)
        }
        .await;
        finish(&mut conn, res).await
    }

    pub async fn token_by_id(&self, id: i64) -> Result<Option<AccessToken>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLS} FROM access_tokens WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| token_from_row(&r)).transpose()?)
    }

    /// Find a token by its code (case-insensitive) or, failing that, its Id.
    pub async fn find_token(&self, code_or_id: &str) -> Result<AccessToken, StoreError> {
        let mut conn = self.pool.acquire().await?;
        find_in(&mut conn, code_or_id).await
    }

    /// Delete the token with this Id if it is one of `scope`'s businesses
    /// (`None`: any), checked in the same transaction; whether it was.
    pub async fn delete_token(
        &self,
        id: i64,
        scope: Option<&[i64]>,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut conn = begin_immediate(&self.pool).await?;
        let res = async {
            let Some(before) = tokens_by_ids(&mut conn, &[id])
                .await?
                .pop()
                .filter(|t| scope.is_none_or(|s| s.contains(&t.business_id)))
            else {
                return Ok(false);
            };
            sqlx::query("DELETE FROM access_tokens WHERE id = ?")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            audit::record(
                &mut conn,
                chrono::Utc::now().timestamp(),
                actor,
                &Change::token("token.delete", Some(&before), None),
            )
            .await?;
            Ok(true)
        }
        .await;
        finish(&mut conn, res).await
    }

    /// One page of tokens and the total count matching the filter.
    pub async fn list_tokens(
        &self,
        f: &TokenFilter,
        now: i64,
    ) -> Result<(Vec<AccessToken>, i64), StoreError> {
        let (wh, binds) = where_sql(f, now);
        let size = f.size.clamp(1, 10_000);
        let page = f.page.max(1);
        let list_sql = format!(
            "SELECT {TOKEN_COLS} FROM access_tokens WHERE {wh} ORDER BY {} LIMIT ? OFFSET ?",
            order_sql(f)
        );
        let count_sql = format!("SELECT COUNT(*) FROM access_tokens WHERE {wh}");
        let rows = bind_all(sqlx::query(&list_sql), &binds)
            .bind(size)
            .bind((page - 1).saturating_mul(size))
            .fetch_all(&self.pool)
            .await?;
        let total: i64 = bind_all_scalar(sqlx::query_scalar(&count_sql), &binds)
            .fetch_one(&self.pool)
            .await?;
        let tokens = rows.iter().map(token_from_row).collect::<Result<_, _>>()?;
        Ok((tokens, total))
    }

    /// Every token matching the filter, in its order (page and size ignored).
    pub async fn all_tokens(
        &self,
        f: &TokenFilter,
        now: i64,
    ) -> Result<Vec<AccessToken>, StoreError> {
        let (wh, binds) = where_sql(f, now);
        let sql = format!(
            "SELECT {TOKEN_COLS} FROM access_tokens WHERE {wh} ORDER BY {}",
            order_sql(f)
        );
        let rows = bind_all(sqlx::query(&sql), &binds)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(token_from_row).collect::<Result<_, _>>()?)
    }

    /// Create `count` tokens like `template`, each with a code from
    /// `next_code`, in one transaction: all or none. A code that already
    /// exists (in the database or earlier in the batch) is replaced by the
    /// next one; after `max_tries` collisions in a row the batch fails.
    /// `progress` is called with the number created so far.
    // The batch's template, size, clock, retry bound, code source, progress
    // and author: each a caller's choice.
    #[allow(clippy::too_many_arguments)]
    pub async fn generate_tokens(
        &self,
        template: &NewToken,
        count: usize,
        now: i64,
        max_tries: usize,
        mut next_code: impl FnMut() -> String,
        mut progress: impl FnMut(usize),
        actor: &Actor,
        batch: &str,
    ) -> Result<Vec<AccessToken>, GenerateError> {
        let mut conn = begin_immediate(&self.pool).await?;
        let res = async {
            let mut t = template.clone();
            let mut ids = Vec::with_capacity(count);
            for i in 0..count {
                let mut tries = 0;
                loop {
                    t.access_code = next_code();
                    match insert_token(&mut conn, &t, now).await {
                        Ok(id) => {
                            ids.push(id);
                            break;
                        }
                        Err(StoreError::DuplicateCode { .. }) => {
                            tries += 1;
                            if tries >= max_tries {
                                return Err(GenerateError::NoFreeCode(tries));
                            }
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                progress(i + 1);
            }
            batches::make(&mut conn, batch, t.business_id, now, actor, &ids).await?;
            let made = tokens_by_ids(&mut conn, &ids).await?;
            let list: Vec<(i64, String)> =
                made.iter().map(|t| (t.id, t.access_code.clone())).collect();
            audit::record(
                &mut conn,
                now,
                actor,
                &Change::tokens("token.generate", &list),
            )
            .await?;
            Ok(made)
        }
        .await;
        finish(&mut conn, res).await
    }

    /// Change one token (by code or Id) in one transaction: `f` sees the
    /// stored token and returns its new values (or refuses). Bumps UpdatedOn.
    pub async fn update_token<E: From<StoreError>>(
        &self,
        code_or_id: &str,
        now: i64,
        actor: &Actor,
        f: impl FnOnce(&AccessToken) -> Result<TokenUpdate, E>,
    ) -> Result<AccessToken, E> {
        self.update_token_ref(TokenRef::CodeOrId(code_or_id), now, actor, f)
            .await
    }

    /// [`Store::update_token`] for the token with this Id only (the API).
    pub async fn update_token_by_id<E: From<StoreError>>(
        &self,
        id: i64,
        now: i64,
        actor: &Actor,
        f: impl FnOnce(&AccessToken) -> Result<TokenUpdate, E>,
    ) -> Result<AccessToken, E> {
        self.update_token_ref(TokenRef::Id(id), now, actor, f).await
    }

    async fn update_token_ref<E: From<StoreError>>(
        &self,
        r: TokenRef<'_>,
        now: i64,
        actor: &Actor,
        f: impl FnOnce(&AccessToken) -> Result<TokenUpdate, E>,
    ) -> Result<AccessToken, E> {
        let code_or_id = match r {
            TokenRef::CodeOrId(c) => c.to_string(),
            TokenRef::Id(id) => id.to_string(),
        };
        let code_or_id = code_or_id.as_str();
        let mut conn = begin_immediate(&self.pool).await?;
        let res = async {
            let cur = match r {
                TokenRef::CodeOrId(c) => find_in(&mut conn, c).await?,
                TokenRef::Id(id) => tokens_by_ids(&mut conn, &[id])
                    .await?
                    .pop()
                    .ok_or_else(|| StoreError::NotFound(id.to_string()))?,
            };
            let u = f(&cur)?;
            let t = &u.token;
            let r = sqlx::query(
                "UPDATE access_tokens SET business_id = ?, access_code = ?, code_key = ?, \
                 description = ?, minutes_included = ?, valid_from = ?, valid_to = ?, \
                 user_limit = ?, mac_address = ?, booking_guid = ?, visitor_guid = ?, \
                 updated_on = ?, updated_by = ?, valid_for_minutes = ?, single_use = ?, rate_limit = ?, \
                 guest_name = ?, megabytes_included = ?, \
                 bytes_used = CASE WHEN ? THEN 0 ELSE bytes_used END, \
                 seconds_used = CASE WHEN ? THEN 0 ELSE seconds_used END, \
                 first_used_on = CASE WHEN ? THEN NULL ELSE first_used_on END, \
                 spent_on = CASE WHEN ? OR ? = 0 THEN NULL ELSE spent_on END WHERE id = ?",
            )
            .bind(t.business_id)
            .bind(&t.access_code)
            .bind(code_key(&t.access_code))
            .bind(&t.description)
            .bind(t.minutes_included)
            .bind(t.valid_from)
            .bind(t.valid_to)
            .bind(t.user_limit)
            .bind(&t.mac_address)
            .bind(&t.booking_guid)
            .bind(&t.visitor_guid)
            .bind(now.max(cur.updated_on))
            .bind(&t.updated_by)
            .bind(t.valid_for_minutes)
            .bind(t.single_use)
            .bind(&t.rate_limit)
            .bind(&t.guest_name)
            .bind(t.megabytes_included)
            .bind(u.reset_usage)
            .bind(u.reset_usage)
            .bind(u.reset_usage)
            .bind(u.reset_usage)
            .bind(t.single_use)
            .bind(cur.id)
            .execute(&mut *conn)
            .await;
            match r {
                Ok(_) => {}
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(StoreError::DuplicateCode {
                        code: t.access_code.clone(),
                        business_id: t.business_id,
                    }
                    .into())
                }
                Err(e) => return Err(StoreError::from(e).into()),
            }
            let new = tokens_by_ids(&mut conn, &[cur.id])
                .await?
                .pop()
                .ok_or_else(|| StoreError::NotFound(code_or_id.into()))?;
            audit::record(
                &mut conn,
                now,
                actor,
                &Change::token_because(u.audit_action, &cur, &new, u.reason.as_deref()),
            )
            .await?;
            Ok(new)
        }
        .await;
        finish(&mut conn, res).await
    }

    /// Delete the tokens named by code or Id, in one transaction. When any
    /// of them does not exist nothing is deleted and the missing ones are
    /// returned as `Ok(Err(..))`.
    pub async fn delete_tokens(
        &self,
        refs: &[String],
        actor: &Actor,
    ) -> Result<Result<Vec<AccessToken>, Vec<String>>, StoreError> {
        let mut conn = begin_immediate(&self.pool).await?;
        let res = async {
            let mut found: Vec<AccessToken> = Vec::new();
            let mut missing = Vec::new();
            for r in refs {
                match find_in(&mut conn, r).await {
                    Ok(t) => {
                        if !found.iter().any(|f| f.id == t.id) {
                            found.push(t);
                        }
                    }
                    Err(StoreError::NotFound(m)) => missing.push(m),
                    Err(e) => return Err(e),
                }
            }
            if !missing.is_empty() {
                return Ok(Err(missing));
            }
            let now = chrono::Utc::now().timestamp();
            for t in &found {
                sqlx::query("DELETE FROM access_tokens WHERE id = ?")
                    .bind(t.id)
                    .execute(&mut *conn)
                    .await?;
                audit::record(
                    &mut conn,
                    now,
                    actor,
                    &Change::token("token.delete", Some(t), None),
                )
                .await?;
            }
            Ok(Ok(found))
        }
        .await;
        match res {
            Ok(Err(missing)) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                Ok(Err(missing))
            }
            other => finish(&mut conn, other).await,
        }
    }

    /// Delete, in one transaction, those of `ids` that still match the
    /// filter. Returns how many were deleted.
    pub async fn delete_matching(
        &self,
        f: &TokenFilter,
        ids: &[i64],
        now: i64,
        actor: &Actor,
    ) -> Result<u64, StoreError> {
        let (wh, binds) = where_sql(f, now);
        let mut conn = begin_immediate(&self.pool).await?;
        let res = async {
            let mut deleted = 0;
            for chunk in ids.chunks(500) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let select = format!(
                    "SELECT {TOKEN_COLS} FROM access_tokens WHERE id IN ({marks}) AND {wh}"
                );
                let mut q = sqlx::query(&select);
                for id in chunk {
                    q = q.bind(*id);
                }
                let going: Vec<AccessToken> = bind_all(q, &binds)
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(token_from_row)
                    .collect::<Result<_, _>>()?;
                for t in &going {
                    sqlx::query("DELETE FROM access_tokens WHERE id = ?")
                        .bind(t.id)
                        .execute(&mut *conn)
                        .await?;
                    audit::record(
                        &mut conn,
                        now,
                        actor,
                        &Change::token("token.delete", Some(t), None),
                    )
                    .await?;
                    deleted += 1;
                }
            }
            Ok(deleted)
        }
        .await;
        finish(&mut conn, res).await
    }

    /// Insert imported tokens in one transaction: all or none. A row whose
    /// code or UniqueId already exists is reported with its index and the
    /// whole import is rolled back (`Ok(Err(..))`). With `dry_run` the
    /// transaction is always rolled back.
    pub async fn import_tokens(
        &self,
        rows: &[ImportToken],
        now: i64,
        dry_run: bool,
        skip_existing: bool,
        actor: &Actor,
    ) -> Result<Result<Imported, Vec<(usize, ImportConflict)>>, StoreError> {
        let mut conn = begin_immediate(&self.pool).await?;
        let res = async {
            let mut bad = Vec::new();
            let mut done = Imported::default();
            let mut made = Vec::new();
            for (i, row) in rows.iter().enumerate() {
                match insert_imported(&mut conn, row, now).await {
                    Ok(id) => {
                        done.imported += 1;
                        made.push((id, row.token.access_code.clone()));
                    }
                    Err(Ok(_)) if skip_existing => done.skipped += 1,
                    Err(Ok(conflict)) => bad.push((i, conflict)),
                    Err(Err(e)) => return Err(e),
                }
            }
            if bad.is_empty() && !made.is_empty() {
                audit::record(
                    &mut conn,
                    now,
                    actor,
                    &Change::tokens("token.import", &made),
                )
                .await?;
            }
            Ok(if bad.is_empty() { Ok(done) } else { Err(bad) })
        }
        .await;
        match res {
            Ok(r) if dry_run || r.is_err() => {
                sqlx::query("ROLLBACK").execute(&mut *conn).await?;
                Ok(r)
            }
            other => finish(&mut conn, other).await,
        }
    }

    /// The sessions of these tokens that accounting shows running, as a
    /// Disconnect-Request names them.
    pub async fn running_sessions(
        &self,
        token_ids: &[i64],
    ) -> Result<Vec<crate::store::LiveSession>, StoreError> {
        let mut out = Vec::new();
        for chunk in token_ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT s.nas, s.acct_session_id, COALESCE(s.user_name, t.access_code), s.framed_ip, s.device \
                 FROM sessions s JOIN access_tokens t ON t.id = s.token_id \
                 WHERE s.token_id IN ({marks}) AND s.state IN ('pending', 'active') \
                 AND s.state = 'active' AND s.acct_session_id IS NOT NULL \
                 ORDER BY s.id"
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(crate::store::LiveSession {
                    nas: r.try_get(0)?,
                    acct_session_id: r.try_get(1)?,
                    user_name: r.try_get(2)?,
                    framed_ip: r.try_get(3)?,
                    device: r.try_get(4)?,
                });
            }
        }
        Ok(out)
    }

    /// Sessions and places of a token that hold a place now.
    pub async fn live_sessions(
        &self,
        token_id: i64,
        now: i64,
    ) -> Result<Vec<SessionRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, token_id, nas, device, state, acct_session_id, created_at, expires_at, session_time \
             FROM sessions WHERE token_id = ? AND state IN ('pending', 'active') \
             AND (state = 'active' OR expires_at > ?) \
             ORDER BY id",
        )
        .bind(token_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SessionRow {
                    id: r.try_get(0)?,
                    token_id: r.try_get(1)?,
                    nas: r.try_get(2)?,
                    device: r.try_get(3)?,
                    state: r.try_get(4)?,
                    acct_session_id: r.try_get(5)?,
                    created_at: r.try_get(6)?,
                    expires_at: r.try_get(7)?,
                    session_time: r.try_get(8)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

/// For the CLI: a database of this version's schema is used as it is; an
/// empty one is set up (commands that create) or refused; any other
/// version is refused, never migrated.
async fn check_schema(
    conn: &mut SqliteConnection,
    mode: OpenMode,
    path: &str,
) -> Result<(), StoreError> {
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *conn)
        .await?;
    let known = MIGRATIONS.len() as i64;
    match version {
        v if v == known => Ok(()),
        0 if mode == OpenMode::Create => migrate(conn).await,
        0 => Err(StoreError::Missing(format!("{path} (the file is empty)"))),
        v if v > known => Err(StoreError::NewerSchema { found: v, known }),
        v => Err(StoreError::OlderSchema { found: v, known }),
    }
}

async fn migrate(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    // Foreign keys off while migrating (it cannot change inside a
    // transaction): rebuilding a table (0006) drops the old one, which with
    // foreign keys on would cascade-delete the sessions of every token.
    // foreign_key_check afterwards proves nothing was left dangling.
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await?;
    let res = migrate_in_transaction(conn).await;
    let check = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&mut *conn)
        .await;
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut *conn)
        .await?;
    res?;
    if !check?.is_empty() {
        return Err(StoreError::CommitFailed(
            "database migration left rows whose token is missing (PRAGMA foreign_key_check)".into(),
        ));
    }
    Ok(())
}

async fn migrate_in_transaction(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let res = async {
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *conn)
            .await?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Ok(Err(StoreError::NewerSchema {
                found: version,
                known,
            }));
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            sqlx::raw_sql(m).execute(&mut *conn).await?;
            sqlx::query(&format!("PRAGMA user_version = {}", i + 1))
                .execute(&mut *conn)
                .await?;
        }
        Ok::<_, sqlx::Error>(Ok(()))
    }
    .await;
    let res = match res {
        Ok(Err(newer)) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            return Err(newer);
        }
        Ok(Ok(())) => Ok(()),
        Err(e) => Err(e),
    };
    match res {
        Ok(()) => {
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            Ok(())
        }
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            Err(e.into())
        }
    }
}

async fn insert_token(
    conn: &mut SqliteConnection,
    t: &NewToken,
    now: i64,
) -> Result<i64, StoreError> {
    let key = code_key(&t.access_code);
    let r = sqlx::query(
        "INSERT INTO access_tokens (unique_id, business_id, access_code, code_key, description, \
         minutes_included, valid_from, valid_to, user_limit, mac_address, booking_guid, visitor_guid, \
         created_on, updated_on, updated_by, valid_for_minutes, single_use, rate_limit, \
         guest_name, megabytes_included) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(t.business_id)
    .bind(&t.access_code)
    .bind(&key)
    .bind(&t.description)
    .bind(t.minutes_included)
    .bind(t.valid_from)
    .bind(t.valid_to)
    .bind(t.user_limit)
    .bind(&t.mac_address)
    .bind(&t.booking_guid)
    .bind(&t.visitor_guid)
    .bind(now)
    .bind(now)
    .bind(&t.updated_by)
    .bind(t.valid_for_minutes)
    .bind(t.single_use)
    .bind(&t.rate_limit)
    .bind(&t.guest_name)
    .bind(t.megabytes_included)
    .execute(&mut *conn)
    .await;
    match r {
        Ok(r) => Ok(r.last_insert_rowid()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(StoreError::DuplicateCode {
                code: t.access_code.clone(),
                business_id: t.business_id,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// A pooled connection inside `BEGIN IMMEDIATE`: the write lock is taken at
/// once (waiting up to the busy timeout), so the transaction never fails
/// half-way with "database is locked" when the daemon writes concurrently.
async fn begin_immediate(
    pool: &SqlitePool,
) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>, StoreError> {
    let mut conn = pool.acquire().await?;
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    Ok(conn)
}

/// COMMIT on success, ROLLBACK on error.
async fn finish<T, E: From<StoreError>>(
    conn: &mut SqliteConnection,
    res: Result<T, E>,
) -> Result<T, E> {
    match res {
        Ok(v) => match sqlx::query("COMMIT").execute(&mut *conn).await {
            Ok(_) => Ok(v),
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                Err(StoreError::from(e).into())
            }
        },
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            Err(e)
        }
    }
}

/// Find a token by its code (case-insensitive) or, failing that, its Id.
async fn find_in(conn: &mut SqliteConnection, code_or_id: &str) -> Result<AccessToken, StoreError> {
    let sql = format!("SELECT {TOKEN_COLS} FROM access_tokens WHERE code_key = ? LIMIT 10");
    let rows = sqlx::query(&sql)
        .bind(code_key(code_or_id))
        .fetch_all(&mut *conn)
        .await?;
    match rows.len() {
        1 => return Ok(token_from_row(&rows[0])?),
        0 => {}
        _ => {
            let ids: Vec<String> = rows
                .iter()
                .filter_map(|r| r.try_get::<i64, _>(2).ok())
                .map(|b| format!("BusinessId {b}"))
                .collect();
            return Err(StoreError::Ambiguous(code_or_id.into(), ids.join(", ")));
        }
    }
    if let Ok(id) = code_or_id.trim().parse::<i64>() {
        let mut v = tokens_by_ids(conn, &[id]).await?;
        if let Some(t) = v.pop() {
            return Ok(t);
        }
    }
    Err(StoreError::NotFound(code_or_id.into()))
}

/// The tokens with these Ids, in the order given (missing ones left out).
async fn tokens_by_ids(
    conn: &mut SqliteConnection,
    ids: &[i64],
) -> Result<Vec<AccessToken>, StoreError> {
    let mut by_id = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!("SELECT {TOKEN_COLS} FROM access_tokens WHERE id IN ({marks})");
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let t = token_from_row(&r)?;
            by_id.insert(t.id, t);
        }
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Inserts one imported token; `Err(Ok(..))` is a conflict with an existing
/// token, `Err(Err(..))` any other failure.
async fn insert_imported(
    conn: &mut SqliteConnection,
    row: &ImportToken,
    now: i64,
) -> Result<i64, Result<ImportConflict, StoreError>> {
    let t = &row.token;
    let unique_id = row
        .unique_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let r = sqlx::query(
        "INSERT INTO access_tokens (unique_id, business_id, access_code, code_key, description, \
         minutes_included, seconds_used, valid_from, valid_to, user_limit, mac_address, \
         booking_guid, visitor_guid, last_access, created_on, updated_on, updated_by, \
         valid_for_minutes, single_use, first_used_on, spent_on, rate_limit, guest_name, \
         megabytes_included, bytes_used) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&unique_id)
    .bind(t.business_id)
    .bind(&t.access_code)
    .bind(code_key(&t.access_code))
    .bind(&t.description)
    .bind(t.minutes_included)
    .bind(row.seconds_used.max(0))
    .bind(t.valid_from)
    .bind(t.valid_to)
    .bind(t.user_limit)
    .bind(&t.mac_address)
    .bind(&t.booking_guid)
    .bind(&t.visitor_guid)
    .bind(row.last_access)
    .bind(row.created_on.unwrap_or(now))
    .bind(now)
    .bind(&t.updated_by)
    .bind(t.valid_for_minutes)
    .bind(t.single_use)
    .bind(row.first_used_on)
    .bind(row.spent_on)
    .bind(&t.rate_limit)
    .bind(&t.guest_name)
    .bind(t.megabytes_included)
    .bind(row.bytes_used.max(0))
    .execute(&mut *conn)
    .await;
    match r {
        Ok(r) => Ok(r.last_insert_rowid()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(Ok(if e.message().contains("unique_id") {
                ImportConflict::UniqueId(unique_id)
            } else {
                ImportConflict::Code {
                    code: t.access_code.clone(),
                    business_id: t.business_id,
                }
            }))
        }
        Err(e) => Err(Err(e.into())),
    }
}

/// Whether a database URL names an in-memory database (no file).
pub fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// A new database file is created readable by its owner and group only
/// (0640, whatever the umask): it holds every access code in clear. SQLite
/// gives its -wal and -shm files the database file's mode. Nothing is done
/// for an in-memory or read-only URL, or a file that exists; a failure here
/// is left to SQLite's own open to report.
fn create_private(path: &std::path::Path, url: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    if is_in_memory(url) || url.contains("mode=ro") {
        return;
    }
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(path);
}
