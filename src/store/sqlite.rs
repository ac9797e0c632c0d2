//! SQLite store: schema migrations, token CRUD for the CLI, and the
//! connection settings shared with the writer task.

use std::str::FromStr;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};

use super::StoreError;
use crate::config::{DatabaseConfig, Synchronous};
use crate::token::{AccessToken, NewToken};
use crate::token_parse::code_key;

/// Migrations in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[include_str!("../../migrations/0001_init.sql")];

pub(crate) const TOKEN_COLS: &str = "id, unique_id, business_id, access_code, description, \
    minutes_included, seconds_used, valid_from, valid_to, user_limit, mac_address, \
    booking_guid, visitor_guid, last_access, created_on, updated_on, updated_by";

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
    })
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

/// Filters for `token list`.
#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    pub code: Option<String>,
    pub business_id: Option<i64>,
    /// Usable now: inside its window and with time left.
    pub active: bool,
    /// ValidTo in the past.
    pub expired: bool,
    pub page: i64,
    pub size: i64,
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    opts: SqliteConnectOptions,
}

impl Store {
    /// Open (creating if missing) and migrate the database.
    pub async fn open(cfg: &DatabaseConfig) -> Result<Store, StoreError> {
        let url = cfg.url.as_str();
        if !url.starts_with("sqlite:") {
            return Err(StoreError::BadUrl(
                url.into(),
                "only sqlite:// URLs are supported".into(),
            ));
        }
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::BadUrl(url.into(), e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match cfg.synchronous {
                Synchronous::Full => SqliteSynchronous::Full,
                Synchronous::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(cfg.busy_timeout)
            .foreign_keys(true);
        let mut conn = opts.connect().await?;
        migrate(&mut conn).await?;
        conn.close().await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.clone())
            .await?;
        Ok(Store { pool, opts })
    }

    pub(crate) fn connect_options(&self) -> &SqliteConnectOptions {
        &self.opts
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn create_token(&self, t: &NewToken, now: i64) -> Result<AccessToken, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let id = insert_token(&mut conn, t, now).await?;
        drop(conn);
        self.token_by_id(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))
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
        let sql = format!("SELECT {TOKEN_COLS} FROM access_tokens WHERE code_key = ? LIMIT 10");
        let rows = sqlx::query(&sql)
            .bind(code_key(code_or_id))
            .fetch_all(&self.pool)
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
            if let Some(t) = self.token_by_id(id).await? {
                return Ok(t);
            }
        }
        Err(StoreError::NotFound(code_or_id.into()))
    }

    pub async fn delete_token(&self, id: i64) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM access_tokens WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// One page of tokens and the total count matching the filter.
    pub async fn list_tokens(
        &self,
        f: &TokenFilter,
        now: i64,
    ) -> Result<(Vec<AccessToken>, i64), StoreError> {
        let mut cond = vec!["1 = 1".to_string()];
        if f.code.is_some() {
            cond.push("code_key = ?1".into());
        }
        if f.business_id.is_some() {
            cond.push("business_id = ?2".into());
        }
        if f.active {
            cond.push(
                "(valid_from IS NULL OR valid_from <= ?3) AND (valid_to IS NULL OR valid_to > ?3) \
                 AND seconds_used < minutes_included * 60"
                    .into(),
            );
        }
        if f.expired {
            cond.push("valid_to IS NOT NULL AND valid_to <= ?3".into());
        }
        let wh = cond.join(" AND ");
        let size = f.size.clamp(1, 10_000);
        let page = f.page.max(1);
        let list_sql = format!(
            "SELECT {TOKEN_COLS} FROM access_tokens WHERE {wh} ORDER BY id LIMIT ?4 OFFSET ?5"
        );
        let count_sql = format!("SELECT COUNT(*) FROM access_tokens WHERE {wh}");
        let code = f.code.as_deref().map(code_key);
        let rows = sqlx::query(&list_sql)
            .bind(&code)
            .bind(f.business_id)
            .bind(now)
            .bind(size)
            .bind((page - 1) * size)
            .fetch_all(&self.pool)
            .await?;
        let total: i64 = sqlx::query_scalar(&count_sql)
            .bind(&code)
            .bind(f.business_id)
            .bind(now)
            .fetch_one(&self.pool)
            .await?;
        let tokens = rows.iter().map(token_from_row).collect::<Result<_, _>>()?;
        Ok((tokens, total))
    }

    /// Sessions and places of a token that hold a place now.
    pub async fn live_sessions(
        &self,
        token_id: i64,
        now: i64,
    ) -> Result<Vec<SessionRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, token_id, nas, device, state, acct_session_id, created_at, expires_at, session_time \
             FROM sessions WHERE token_id = ? AND (state = 'active' OR (state = 'pending' AND expires_at > ?)) \
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

async fn migrate(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let res = async {
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *conn)
            .await?;
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            sqlx::raw_sql(m).execute(&mut *conn).await?;
            sqlx::query(&format!("PRAGMA user_version = {}", i + 1))
                .execute(&mut *conn)
                .await?;
        }
        Ok::<_, sqlx::Error>(())
    }
    .await;
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
         created_on, updated_on, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
