//! PostgreSQL store: several radgate nodes on one database (SPEC §8).
//! Schema migrations (under an advisory lock, so that nodes starting
//! together do not race), and the operations of the CLI and the HTTP API,
//! each in one transaction, with the SQL of PostgreSQL. The rules are the
//! same as SQLite's: they live in `policy/` and `token/`.
//!
//! The driver is tokio-postgres (multi-host URLs with
//! `target_session_attrs=read-write`, unix sockets with `host=/path`),
//! pooled by deadpool-postgres.

mod accounting;
mod apikeys;
mod audit;
mod batches;
mod copy;
mod dashboard;
mod operators;
mod presets;
mod sessions;
pub mod writer;

use crate::store::audit::{Actor, Change};
use std::time::Duration;

use deadpool_postgres::GenericClient;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{
    GenerateError, ImportConflict, ImportToken, Imported, LiveSession, SessionRow, StoreError,
    TokenUpdate,
};
use crate::config::DatabaseConfig;
use crate::token::parse::code_key;
use crate::token::{AccessToken, CmpOp, FilterValue, NewToken, TokenField, TokenFilter};

/// Migrations in order; the table `radgate_schema` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_init.sql"),
    include_str!("../../../migrations/postgres/0002_operators.sql"),
    include_str!("../../../migrations/postgres/0003_audit_log.sql"),
    include_str!("../../../migrations/postgres/0004_presets.sql"),
    include_str!("../../../migrations/postgres/0005_batches.sql"),
    include_str!("../../../migrations/postgres/0006_guest_name.sql"),
    include_str!("../../../migrations/postgres/0007_apikey_businesses.sql"),
    include_str!("../../../migrations/postgres/0008_data_allowance.sql"),
];

/// Connections the CLI and the API may hold at once, per process.
pub const POOL_SIZE: usize = 8;

/// Taken (per transaction) while migrating: one node at a time.
const MIGRATION_LOCK: i64 = 0x7261_6467_6174_6501; // "radgate\x01"

pub(crate) const TOKEN_COLS: &str = "id, unique_id, business_id, access_code, description, \
    minutes_included, seconds_used, valid_from, valid_to, user_limit, mac_address, \
    booking_guid, visitor_guid, last_access, created_on, updated_on, updated_by, \
    valid_for_minutes, single_use, first_used_on, spent_on, rate_limit, guest_name, \
    megabytes_included, bytes_used";

pub(crate) fn token_from_row(r: &Row) -> Result<AccessToken, tokio_postgres::Error> {
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

/// Whether a database URL names PostgreSQL.
pub fn is_postgres_url(url: &str) -> bool {
    let scheme = url.split_once(':').map_or("", |(s, _)| s);
    scheme.eq_ignore_ascii_case("postgres") || scheme.eq_ignore_ascii_case("postgresql")
}

/// The hosts a URL names, for messages (never the password).
pub fn hosts_of(cfg: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let hosts: Vec<String> = cfg
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    if hosts.is_empty() {
        "the default host".into()
    } else {
        hosts.join(", ")
    }
}

#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// Where it connects, for messages (hosts, never the password).
    hosts: String,
    /// The connection settings, for the writer's own connection.
    pg: tokio_postgres::Config,
}

impl Store {
    /// Connect and migrate. Only `serve` migrates ([`super::OpenMode`]);
    /// the CLI refuses another schema version, as on SQLite.
    pub async fn open(cfg: &DatabaseConfig, mode: super::OpenMode) -> Result<Store, StoreError> {
        let pg: tokio_postgres::Config = cfg.url.parse().map_err(|e: tokio_postgres::Error| {
            StoreError::BadUrl(crate::config::redact_url(&cfg.url), e.to_string())
        })?;
        let hosts = hosts_of(&pg);
        let mut pg = pg;
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(Duration::from_secs(5));
        }
        let mgr = Manager::from_config(
            pg.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError::Unreachable {
                hosts: hosts.clone(),
                reason: e.to_string(),
            })?;
        let store = Store { pool, hosts, pg };
        let mut client = store.client().await?;
        let ready = match mode {
            super::OpenMode::Serve => migrate(&mut client).await,
            _ => check_schema(&mut client, mode).await,
        };
        ready.map_err(|e| match e {
            StoreError::NoSchema(_) => StoreError::NoSchema(store.hosts.clone()),
            e => e,
        })?;
        Ok(store)
    }

    /// A pooled connection; an unreachable database names its hosts.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Unreachable {
            hosts: self.hosts.clone(),
            // What PostgreSQL said (e.g. `database "x" does not exist`), not
            // the pool's "error occurred while creating a new object".
            reason: match &e {
                deadpool_postgres::PoolError::Backend(pe) => super::pg_detail(pe),
                e => e.to_string(),
            },
        })
    }

    pub fn ensure_writable(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Start the daemon's writer on a connection of its own.
    pub fn spawn_writer(&self, settings: crate::store::WriterSettings) -> writer::Writer {
        writer::Writer::start(self.pg.clone(), self.hosts.clone(), settings)
    }

    pub async fn close(&self) {
        self.pool.close();
    }

    pub async fn create_token(
        &self,
        t: &NewToken,
        now: i64,
        actor: &Actor,
    ) -> Result<AccessToken, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let id = insert_token(&tx, t, now).await?;
        let tok = tokens_by_ids(&tx, &[id])
            .await?
            .pop()
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        audit::record(
            &tx,
            now,
            actor,
            &Change::token("token.create", None, Some(&tok)),
        )
        .await?;
        tx.commit().await?;
        Ok(tok)
    }

    pub async fn token_by_id(&self, id: i64) -> Result<Option<AccessToken>, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT {TOKEN_COLS} FROM access_tokens WHERE id = $1");
        let row = client.query_opt(&sql, &[&id]).await?;
        Ok(row.map(|r| token_from_row(&r)).transpose()?)
    }

    /// Find a token by its code (case-insensitive) or, failing that, its Id.
    pub async fn find_token(&self, code_or_id: &str) -> Result<AccessToken, StoreError> {
        let client = self.client().await?;
        find_in(&client, code_or_id, false).await
    }

    /// Delete the token with this Id if it is one of `scope`'s businesses
    /// (`None`: any), checked in the same transaction; whether it was.
    pub async fn delete_token(
        &self,
        id: i64,
        scope: Option<&[i64]>,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(before) = tokens_by_ids_locked(&tx, &[id])
            .await?
            .pop()
            .filter(|t| scope.is_none_or(|s| s.contains(&t.business_id)))
        else {
            return Ok(false);
        };
        tx.execute("DELETE FROM access_tokens WHERE id = $1", &[&id])
            .await?;
        audit::record(
            &tx,
            chrono::Utc::now().timestamp(),
            actor,
            &Change::token("token.delete", Some(&before), None),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// One page of tokens and the total count matching the filter.
    pub async fn list_tokens(
        &self,
        f: &TokenFilter,
        now: i64,
    ) -> Result<(Vec<AccessToken>, i64), StoreError> {
        let client = self.client().await?;
        let (wh, mut binds) = where_sql(f, now);
        let size = f.size.clamp(1, 10_000);
        let page = f.page.max(1);
        let count_sql = format!("SELECT COUNT(*) FROM access_tokens WHERE {wh}");
        let total: i64 = client
            .query_one(&count_sql, &params(&binds))
            .await?
            .try_get(0)?;
        let n = binds.len();
        let list_sql = format!(
            "SELECT {TOKEN_COLS} FROM access_tokens WHERE {wh} ORDER BY {} LIMIT ${} OFFSET ${}",
            order_sql(f),
            n + 1,
            n + 2
        );
        binds.push(FilterValue::Int(size));
        binds.push(FilterValue::Int((page - 1).saturating_mul(size)));
        let rows = client.query(&list_sql, &params(&binds)).await?;
        let tokens = rows.iter().map(token_from_row).collect::<Result<_, _>>()?;
        Ok((tokens, total))
    }

    /// Every token matching the filter, in its order (page and size ignored).
    pub async fn all_tokens(
        &self,
        f: &TokenFilter,
        now: i64,
    ) -> Result<Vec<AccessToken>, StoreError> {
        let client = self.client().await?;
        let (wh, binds) = where_sql(f, now);
        let sql = format!(
            "SELECT {TOKEN_COLS} FROM access_tokens WHERE {wh} ORDER BY {}",
            order_sql(f)
        );
        let rows = client.query(&sql, &params(&binds)).await?;
        Ok(rows.iter().map(token_from_row).collect::<Result<_, _>>()?)
    }

    /// Create `count` tokens like `template`, each with a code from
    /// `next_code`, in one transaction: all or none. A code that already
    /// exists is replaced by the next one (each insert under a savepoint,
    /// so that a clash does not abort the transaction); after `max_tries`
    /// clashes in a row the batch fails.
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
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let mut t = template.clone();
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            let mut tries = 0;
            loop {
                t.access_code = next_code();
                tx.execute("SAVEPOINT one", &[])
                    .await
                    .map_err(StoreError::from)?;
                match insert_token(&tx, &t, now).await {
                    Ok(id) => {
                        tx.execute("RELEASE SAVEPOINT one", &[])
                            .await
                            .map_err(StoreError::from)?;
                        ids.push(id);
                        break;
                    }
                    Err(StoreError::DuplicateCode { .. }) => {
                        tx.execute("ROLLBACK TO SAVEPOINT one", &[])
                            .await
                            .map_err(StoreError::from)?;
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
        batches::make(&tx, batch, t.business_id, now, actor, &ids).await?;
        let tokens = tokens_by_ids(&tx, &ids).await?;
        let list: Vec<(i64, String)> = tokens
            .iter()
            .map(|t| (t.id, t.access_code.clone()))
            .collect();
        audit::record(&tx, now, actor, &Change::tokens("token.generate", &list)).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(tokens)
    }

    /// Change one token (by code or Id) in one transaction, its row locked
    /// while `f` decides: `f` sees the stored token and returns its new
    /// values (or refuses). Bumps UpdatedOn.
    pub async fn update_token<E: From<StoreError>>(
        &self,
        code_or_id: &str,
        now: i64,
        actor: &Actor,
        f: impl FnOnce(&AccessToken) -> Result<TokenUpdate, E>,
    ) -> Result<AccessToken, E> {
        self.update_token_ref(Some(code_or_id), None, now, actor, f)
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
        self.update_token_ref(None, Some(id), now, actor, f).await
    }

    async fn update_token_ref<E: From<StoreError>>(
        &self,
        code_or_id: Option<&str>,
        id: Option<i64>,
        now: i64,
        actor: &Actor,
        f: impl FnOnce(&AccessToken) -> Result<TokenUpdate, E>,
    ) -> Result<AccessToken, E> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let cur = match (code_or_id, id) {
            (Some(c), _) => find_in(&tx, c, true).await?,
            (None, Some(id)) => tokens_by_ids_locked(&tx, &[id])
                .await?
                .pop()
                .ok_or_else(|| StoreError::NotFound(id.to_string()))?,
            (None, None) => return Err(StoreError::NotFound(String::new()).into()),
        };
        let u = f(&cur)?;
        let t = &u.token;
        let updated_on = now.max(cur.updated_on);
        let key = code_key(&t.access_code);
        let r = tx
            .execute(
                "UPDATE access_tokens SET business_id = $1, access_code = $2, code_key = $3, \
                 description = $4, minutes_included = $5, valid_from = $6, valid_to = $7, \
                 user_limit = $8, mac_address = $9, booking_guid = $10, visitor_guid = $11, \
                 updated_on = $12, updated_by = $13, valid_for_minutes = $14, single_use = $15, \
                 rate_limit = $16, guest_name = $19, megabytes_included = $20, \
                 bytes_used = CASE WHEN $17 THEN 0 ELSE bytes_used END, \
                 seconds_used = CASE WHEN $17 THEN 0 ELSE seconds_used END, \
                 first_used_on = CASE WHEN $17 THEN NULL ELSE first_used_on END, \
                 spent_on = CASE WHEN $17 OR NOT $15 THEN NULL ELSE spent_on END WHERE id = $18",
                &[
                    &t.business_id,
                    &t.access_code,
                    &key,
                    &t.description,
                    &t.minutes_included,
                    &t.valid_from,
                    &t.valid_to,
                    &t.user_limit,
                    &t.mac_address,
                    &t.booking_guid,
                    &t.visitor_guid,
                    &updated_on,
                    &t.updated_by,
                    &t.valid_for_minutes,
                    &t.single_use,
                    &t.rate_limit,
                    &u.reset_usage,
                    &cur.id,
                    &t.guest_name,
                    &t.megabytes_included,
                ],
            )
            .await;
        match r {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::DuplicateCode {
                    code: t.access_code.clone(),
                    business_id: t.business_id,
                }
                .into())
            }
            Err(e) => return Err(StoreError::from(e).into()),
        }
        let token = tokens_by_ids(&tx, &[cur.id])
            .await?
            .pop()
            .ok_or_else(|| StoreError::NotFound(cur.id.to_string()))?;
        audit::record(
            &tx,
            now,
            actor,
            &Change::token_because(u.audit_action, &cur, &token, u.reason.as_deref()),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(token)
    }

    /// Delete the tokens named by code or Id, in one transaction. When any
    /// of them does not exist nothing is deleted and the missing ones are
    /// returned as `Ok(Err(..))`.
    pub async fn delete_tokens(
        &self,
        refs: &[String],
        actor: &Actor,
    ) -> Result<Result<Vec<AccessToken>, Vec<String>>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut found: Vec<AccessToken> = Vec::new();
        let mut missing = Vec::new();
        for r in refs {
            match find_in(&tx, r, true).await {
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
            tx.rollback().await?;
            return Ok(Err(missing));
        }
        let ids: Vec<i64> = found.iter().map(|t| t.id).collect();
        tx.execute("DELETE FROM access_tokens WHERE id = ANY($1)", &[&ids])
            .await?;
        let now = chrono::Utc::now().timestamp();
        for t in &found {
            audit::record(
                &tx,
                now,
                actor,
                &Change::token("token.delete", Some(t), None),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Ok(found))
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
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let (wh, binds) = where_sql(f, now);
        let sql = format!(
            "DELETE FROM access_tokens WHERE id = ANY(${}) AND {wh} RETURNING {TOKEN_COLS}",
            binds.len() + 1
        );
        let ids = ids.to_vec();
        let mut p = params(&binds);
        p.push(&ids);
        let gone = tx.query(&sql, &p).await?;
        for r in &gone {
            let t = token_from_row(r)?;
            audit::record(
                &tx,
                now,
                actor,
                &Change::token("token.delete", Some(&t), None),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(gone.len() as u64)
    }

    /// Insert imported tokens in one transaction: all or none (see the
    /// SQLite store). Each row under a savepoint, so that a clash does not
    /// abort the others.
    pub async fn import_tokens(
        &self,
        rows: &[ImportToken],
        now: i64,
        dry_run: bool,
        skip_existing: bool,
        actor: &Actor,
    ) -> Result<Result<Imported, Vec<(usize, ImportConflict)>>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut bad = Vec::new();
        let mut done = Imported::default();
        let mut made = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            tx.execute("SAVEPOINT one", &[]).await?;
            match insert_imported(&tx, row, now).await {
                Ok(id) => {
                    tx.execute("RELEASE SAVEPOINT one", &[]).await?;
                    done.imported += 1;
                    made.push((id, row.token.access_code.clone()));
                }
                Err(Ok(conflict)) => {
                    tx.execute("ROLLBACK TO SAVEPOINT one", &[]).await?;
                    if skip_existing {
                        done.skipped += 1;
                    } else {
                        bad.push((i, conflict));
                    }
                }
                Err(Err(e)) => return Err(e),
            }
        }
        if dry_run || !bad.is_empty() {
            tx.rollback().await?;
        } else {
            if !made.is_empty() {
                audit::record(&tx, now, actor, &Change::tokens("token.import", &made)).await?;
            }
            tx.commit().await?;
        }
        Ok(if bad.is_empty() { Ok(done) } else { Err(bad) })
    }

    /// The sessions of these tokens that accounting shows running, as a
    /// Disconnect-Request names them.
    pub async fn running_sessions(
        &self,
        token_ids: &[i64],
    ) -> Result<Vec<LiveSession>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT s.nas, s.acct_session_id, COALESCE(s.user_name, t.access_code), s.framed_ip, s.device \
                 FROM sessions s JOIN access_tokens t ON t.id = s.token_id \
                 WHERE s.token_id = ANY($1) AND s.state IN ('pending', 'active') \
                 AND s.state = 'active' AND s.acct_session_id IS NOT NULL ORDER BY s.id",
                &[&token_ids],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(LiveSession {
                    nas: r.try_get(0)?,
                    acct_session_id: r.try_get(1)?,
                    user_name: r.try_get(2)?,
                    framed_ip: r.try_get(3)?,
                    device: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Sessions and places of a token that hold a place now.
    pub async fn live_sessions(
        &self,
        token_id: i64,
        now: i64,
    ) -> Result<Vec<SessionRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, token_id, nas, device, state, acct_session_id, created_at, expires_at, session_time \
                 FROM sessions WHERE token_id = $1 AND state IN ('pending', 'active') \
                 AND (state = 'active' OR expires_at > $2) ORDER BY id",
                &[&token_id, &now],
            )
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
            .collect()
    }
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// The schema version recorded in the database (0: none yet).
async fn schema_version(client: &impl GenericClient) -> Result<i64, StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('radgate_schema') IS NOT NULL", &[])
        .await?
        .try_get(0)?;
    if !exists {
        return Ok(0);
    }
    let v: Option<i64> = client
        .query_one("SELECT max(version) FROM radgate_schema", &[])
        .await?
        .try_get(0)?;
    Ok(v.unwrap_or(0))
}

/// For the CLI: this version's schema is used as it is; an empty database
/// is set up by commands that create; anything else is refused.
async fn check_schema(
    client: &mut deadpool_postgres::Object,
    mode: super::OpenMode,
) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    match schema_version(&*client).await? {
        v if v == known => Ok(()),
        0 if mode == super::OpenMode::Create => migrate(client).await,
        0 => Err(StoreError::NoSchema(String::new())),
        v if v > known => Err(StoreError::NewerSchema { found: v, known }),
        v => Err(StoreError::OlderSchema { found: v, known }),
    }
}

/// Apply the migrations not applied yet, one transaction, under an
/// advisory lock: nodes starting at the same moment migrate one after the
/// other (the second finds nothing left to do).
async fn migrate(client: &mut deadpool_postgres::Object) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    // (No NOTICE in the log when the table exists.)
    tx.batch_execute(
        "SET LOCAL client_min_messages = warning; \
         CREATE TABLE IF NOT EXISTS radgate_schema (version BIGINT NOT NULL, applied_on BIGINT NOT NULL)",
    )
    .await?;
    let version = schema_version(&tx).await?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::NewerSchema {
            found: version,
            known,
        });
    }
    let now = chrono::Utc::now().timestamp();
    for (i, m) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        tx.batch_execute(m).await?;
        tx.execute(
            "INSERT INTO radgate_schema (version, applied_on) VALUES ($1, $2)",
            &[&(i as i64 + 1), &now],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn insert_token(
    client: &impl GenericClient,
    t: &NewToken,
    now: i64,
) -> Result<i64, StoreError> {
    let key = code_key(&t.access_code);
    let unique_id = uuid::Uuid::new_v4().to_string();
    let r = client
        .query_one(
            "INSERT INTO access_tokens (unique_id, business_id, access_code, code_key, description, \
             minutes_included, valid_from, valid_to, user_limit, mac_address, booking_guid, visitor_guid, \
             created_on, updated_on, updated_by, valid_for_minutes, single_use, rate_limit, \
             guest_name, megabytes_included) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15, $16, $17, \
             $18, $19) RETURNING id",
            &[
                &unique_id,
                &t.business_id,
                &t.access_code,
                &key,
                &t.description,
                &t.minutes_included,
                &t.valid_from,
                &t.valid_to,
                &t.user_limit,
                &t.mac_address,
                &t.booking_guid,
                &t.visitor_guid,
                &now,
                &t.updated_by,
                &t.valid_for_minutes,
                &t.single_use,
                &t.rate_limit,
                &t.guest_name,
                &t.megabytes_included,
            ],
        )
        .await;
    match r {
        Ok(row) => Ok(row.try_get(0)?),
        Err(e) if is_unique_violation(&e) => Err(StoreError::DuplicateCode {
            code: t.access_code.clone(),
            business_id: t.business_id,
        }),
        Err(e) => Err(e.into()),
    }
}

/// Find a token by its code (case-insensitive) or, failing that, its Id;
/// `lock`: its row locked until the transaction ends.
async fn find_in(
    client: &impl GenericClient,
    code_or_id: &str,
    lock: bool,
) -> Result<AccessToken, StoreError> {
    let for_update = if lock { " FOR UPDATE" } else { "" };
    let sql =
        format!("SELECT {TOKEN_COLS} FROM access_tokens WHERE code_key = $1 ORDER BY id LIMIT 10{for_update}");
    let rows = client.query(&sql, &[&code_key(code_or_id)]).await?;
    match rows.len() {
        1 => return Ok(token_from_row(&rows[0])?),
        0 => {}
        _ => {
            let ids: Vec<String> = rows
                .iter()
                .filter_map(|r| r.try_get::<_, i64>(2).ok())
                .map(|b| format!("BusinessId {b}"))
                .collect();
            return Err(StoreError::Ambiguous(code_or_id.into(), ids.join(", ")));
        }
    }
    if let Ok(id) = code_or_id.trim().parse::<i64>() {
        let v = if lock {
            tokens_by_ids_locked(client, &[id]).await?
        } else {
            tokens_by_ids(client, &[id]).await?
        };
        if let Some(t) = v.into_iter().next() {
            return Ok(t);
        }
    }
    Err(StoreError::NotFound(code_or_id.into()))
}

/// The tokens with these Ids, in the order given (missing ones left out).
async fn tokens_by_ids(
    client: &impl GenericClient,
    ids: &[i64],
) -> Result<Vec<AccessToken>, StoreError> {
    tokens_by_ids_sql(client, ids, "").await
}

/// [`tokens_by_ids`], their rows locked until the transaction ends.
async fn tokens_by_ids_locked(
    client: &impl GenericClient,
    ids: &[i64],
) -> Result<Vec<AccessToken>, StoreError> {
    tokens_by_ids_sql(client, ids, " ORDER BY id FOR UPDATE").await
}

async fn tokens_by_ids_sql(
    client: &impl GenericClient,
    ids: &[i64],
    tail: &str,
) -> Result<Vec<AccessToken>, StoreError> {
    let sql = format!("SELECT {TOKEN_COLS} FROM access_tokens WHERE id = ANY($1){tail}");
    let rows = client.query(&sql, &[&ids]).await?;
    let mut by_id = std::collections::HashMap::with_capacity(rows.len());
    for r in &rows {
        let t = token_from_row(r)?;
        by_id.insert(t.id, t);
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Inserts one imported token; `Err(Ok(..))` is a clash with an existing
/// token, `Err(Err(..))` any other failure.
async fn insert_imported(
    client: &impl GenericClient,
    row: &ImportToken,
    now: i64,
) -> Result<i64, Result<ImportConflict, StoreError>> {
    let t = &row.token;
    let unique_id = row
        .unique_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let key = code_key(&t.access_code);
    // A code that exists is the clash to report (as SQLite does), before
    // a UniqueId that exists too.
    let exists = client
        .query_opt(
            "SELECT 1 FROM access_tokens WHERE business_id = $1 AND code_key = $2",
            &[&t.business_id, &key],
        )
        .await
        .map_err(|e| Err(e.into()))?;
    if exists.is_some() {
        return Err(Ok(ImportConflict::Code {
            code: t.access_code.clone(),
            business_id: t.business_id,
        }));
    }
    let seconds_used = row.seconds_used.max(0);
    let bytes_used = row.bytes_used.max(0);
    let created_on = row.created_on.unwrap_or(now);
    let r = client
        .query_one(
            "INSERT INTO access_tokens (unique_id, business_id, access_code, code_key, description, \
             minutes_included, seconds_used, valid_from, valid_to, user_limit, mac_address, \
             booking_guid, visitor_guid, last_access, created_on, updated_on, updated_by, \
             valid_for_minutes, single_use, first_used_on, spent_on, rate_limit, guest_name, \
             megabytes_included, bytes_used) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19, $20, $21, $22, $23, $24, $25) RETURNING id",
            &[
                &unique_id,
                &t.business_id,
                &t.access_code,
                &key,
                &t.description,
                &t.minutes_included,
                &seconds_used,
                &t.valid_from,
                &t.valid_to,
                &t.user_limit,
                &t.mac_address,
                &t.booking_guid,
                &t.visitor_guid,
                &row.last_access,
                &created_on,
                &now,
                &t.updated_by,
                &t.valid_for_minutes,
                &t.single_use,
                &row.first_used_on,
                &row.spent_on,
                &t.rate_limit,
                &t.guest_name,
                &t.megabytes_included,
                &bytes_used,
            ],
        )
        .await;
    match r {
        Ok(row) => row.try_get(0).map_err(|e| Err(e.into())),
        Err(e) if is_unique_violation(&e) => {
            let on_uid = e
                .as_db_error()
                .and_then(|d| d.constraint())
                .is_some_and(|c| c.contains("unique_id"));
            Err(Ok(if on_uid {
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

// ---------------------------------------------------------------------------
// Filters in PostgreSQL's SQL
// ---------------------------------------------------------------------------

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
        // Compared with 0/1 like SQLite's integer column.
        TokenField::SingleUse => "(CASE WHEN single_use THEN 1 ELSE 0 END)::BIGINT",
        TokenField::FirstUsedOn => "first_used_on",
        TokenField::SpentOn => "spent_on",
        TokenField::RateLimit => "rate_limit",
        TokenField::GuestName => "guest_name",
        TokenField::MegabytesIncluded => "megabytes_included",
        TokenField::MegabytesLeft => MEGABYTES_LEFT_SQL,
    }
}

/// MinutesLeft in SQL, rounded up like [`crate::policy::auth::minutes_left`].
const MINUTES_LEFT_SQL: &str = "GREATEST(0, (minutes_included * 60 - seconds_used + 59) / 60)";
/// MegabytesLeft in SQL, rounded up like
/// [`crate::policy::auth::megabytes_left`]; NULL without an allowance
/// (GREATEST would turn NULL into 0).
const MEGABYTES_LEFT_SQL: &str = "(CASE WHEN megabytes_included IS NULL THEN NULL \
     ELSE GREATEST(0, (megabytes_included * 1000000 - bytes_used + 999999) / 1000000) END)";
/// A data allowance used up (SPEC §12).
const DATA_USED_UP_SQL: &str =
    "(megabytes_included IS NOT NULL AND bytes_used >= megabytes_included * 1000000)";

/// The end of the validity window, like [`AccessToken::expires_on`].
pub(super) const EXPIRES_ON_SQL: &str =
    "(CASE WHEN valid_for_minutes IS NULL OR first_used_on IS NULL \
     THEN valid_to ELSE LEAST(COALESCE(valid_to, first_used_on + valid_for_minutes * 60), \
     first_used_on + valid_for_minutes * 60) END)";

fn op_sql(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ge => ">=",
        CmpOp::Le => "<=",
        CmpOp::Lt => "<",
    }
}

/// The WHERE clause (without `WHERE`), with `$1…` placeholders, and its
/// bind values in order.
fn where_sql(f: &TokenFilter, now: i64) -> (String, Vec<FilterValue>) {
    let mut cond = vec!["TRUE".to_string()];
    let mut binds: Vec<FilterValue> = Vec::new();
    let bind = |binds: &mut Vec<FilterValue>, v: FilterValue| {
        binds.push(v);
        format!("${}", binds.len())
    };
    if let Some(c) = &f.code {
        let p = bind(&mut binds, FilterValue::Text(code_key(c)));
        cond.push(format!("code_key = {p}"));
    }
    if let Some(b) = f.business_id {
        let p = bind(&mut binds, FilterValue::Int(b));
        cond.push(format!("business_id = {p}"));
    }
    if let Some(ids) = &f.business_ids {
        if ids.is_empty() {
            cond.push("FALSE".into());
        } else {
            let ps: Vec<String> = ids
                .iter()
                .map(|b| bind(&mut binds, FilterValue::Int(*b)))
                .collect();
            cond.push(format!("business_id IN ({})", ps.join(", ")));
        }
    }
    if let Some(text) = f.search.as_deref().filter(|t| !t.trim().is_empty()) {
        let p = bind(
            &mut binds,
            FilterValue::Text(crate::token::filter::search_pattern(text)),
        );
        let m = bind(
            &mut binds,
            FilterValue::Text(crate::token::filter::search_mac_pattern(text)),
        );
        cond.push(format!(
            "(lower(access_code) LIKE {p} ESCAPE '\\' OR lower(COALESCE(description, '')) LIKE {p} ESCAPE '\\' \
             OR lower(COALESCE(guest_name, '')) LIKE {p} ESCAPE '\\' \
             OR lower(COALESCE(mac_address, '')) LIKE {m} ESCAPE '\\')"
        ));
    }
    if f.active {
        let p = bind(&mut binds, FilterValue::Int(now));
        cond.push(format!(
            "(valid_from IS NULL OR valid_from <= {p}) AND ({EXPIRES_ON_SQL} IS NULL OR {EXPIRES_ON_SQL} > {p}) \
             AND seconds_used < minutes_included * 60 AND (NOT single_use OR spent_on IS NULL) \
             AND NOT {DATA_USED_UP_SQL}"
        ));
    }
    if f.expired {
        let p = bind(&mut binds, FilterValue::Int(now));
        cond.push(format!("{EXPIRES_ON_SQL} <= {p}"));
    }
    if f.spent {
        cond.push("single_use AND spent_on IS NOT NULL".into());
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
        let p = bind(&mut binds, FilterValue::Int(b));
        cond.push(format!("batch_id = {p}"));
    }
    for c in &f.conds {
        let v = match (&c.field, &c.value) {
            (TokenField::AccessCode, FilterValue::Text(t)) => FilterValue::Text(code_key(t)),
            (_, v) => v.clone(),
        };
        let p = bind(&mut binds, v);
        cond.push(format!("{} {} {p}", field_sql(c.field), op_sql(c.op)));
    }
    (cond.join(" AND "), binds)
}

fn order_sql(f: &TokenFilter) -> String {
    let dir = if f.descending { "DESC" } else { "ASC" };
    // Empty values first ascending, as on SQLite.
    let nulls = if f.descending {
        "NULLS LAST"
    } else {
        "NULLS FIRST"
    };
    let field = f.order_by.unwrap_or(TokenField::Id);
    // Text in byte order, as SQLite compares it, whatever the database's
    // collation.
    let collate = match field {
        TokenField::UniqueId
        | TokenField::AccessCode
        | TokenField::Description
        | TokenField::MacAddress
        | TokenField::BookingGuid
        | TokenField::VisitorGuid
        | TokenField::UpdatedBy
        | TokenField::RateLimit
        | TokenField::GuestName => " COLLATE \"C\"",
        _ => "",
    };
    if field == TokenField::Id {
        format!("id {dir}")
    } else {
        format!("{}{collate} {dir} {nulls}, id {dir}", field_sql(field))
    }
}

/// Bind values as tokio-postgres parameters.
fn params(binds: &[FilterValue]) -> Vec<&(dyn ToSql + Sync)> {
    binds
        .iter()
        .map(|b| match b {
            FilterValue::Int(i) => i as &(dyn ToSql + Sync),
            FilterValue::Text(t) => t as &(dyn ToSql + Sync),
        })
        .collect()
}
