//! `radgate db copy` on SQLite: read every row in one snapshot (a read
//! transaction on WAL sees one state of the database while a server
//! writes), write every row in one `BEGIN IMMEDIATE` transaction.

use sqlx::{Row, SqliteConnection};
use tokio::sync::mpsc;

use super::{token_from_row, Store, TOKEN_COLS};
use crate::store::apikeys::{roles_from_column, ApiKey};
use crate::store::{ApiKeyRecord, CopyChunk, CopyCounts, SessionRecord, StoreError, COPY_CHUNK};
use crate::token::parse::code_key;

const SESSION_COLS: &str =
    "id, token_id, nas, device, state, acct_session_id, framed_ip, created_at, \
    updated_at, expires_at, session_time, stopped_at, terminate_cause, close_reason, input_octets, \
    output_octets, input_packets, output_packets, user_name";
const KEY_COLS: &str =
    "id, name, display, roles, created_on, created_by, last_used, revoked_on, key_hash";

impl Store {
    /// Send every row, in chunks, from one snapshot.
    pub async fn dump(&self, tx: &mpsc::Sender<CopyChunk>) -> Result<(), StoreError> {
        let mut conn = self.pool().acquire().await?;
        sqlx::query("BEGIN").execute(&mut *conn).await?;
        let r = dump_in(&mut conn, tx).await;
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        r
    }

    /// Receive rows and write them into this (empty) database, committing
    /// only after [`CopyChunk::End`].
    pub async fn load(&self, mut rx: mpsc::Receiver<CopyChunk>) -> Result<CopyCounts, StoreError> {
        let mut conn = self.pool().acquire().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        let r = load_in(&mut conn, &mut rx).await;
        match r {
            Ok(counts) => {
                sqlx::query("COMMIT").execute(&mut *conn).await?;
                Ok(counts)
            }
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                Err(e)
            }
        }
    }
}

async fn send(tx: &mpsc::Sender<CopyChunk>, c: CopyChunk) -> Result<(), StoreError> {
    tx.send(c)
        .await
        .map_err(|_| StoreError::CommitFailed("the copy's target stopped".into()))
}

async fn dump_in(
    conn: &mut SqliteConnection,
    tx: &mpsc::Sender<CopyChunk>,
) -> Result<(), StoreError> {
    let mut after = 0i64;
    loop {
        let sql =
            format!("SELECT {TOKEN_COLS} FROM access_tokens WHERE id > ? ORDER BY id LIMIT ?");
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(COPY_CHUNK)
            .fetch_all(&mut *conn)
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get(0)?;
        let v = rows
            .iter()
            .map(token_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        send(tx, CopyChunk::Tokens(v)).await?;
    }
    let mut after = 0i64;
    loop {
        let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE id > ? ORDER BY id LIMIT ?");
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(COPY_CHUNK)
            .fetch_all(&mut *conn)
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get(0)?;
        let v = rows
            .iter()
            .map(|r| {
                Ok(SessionRecord {
                    id: r.try_get(0)?,
                    token_id: r.try_get(1)?,
                    nas: r.try_get(2)?,
                    device: r.try_get(3)?,
                    state: r.try_get(4)?,
                    acct_session_id: r.try_get(5)?,
                    framed_ip: r.try_get(6)?,
                    created_at: r.try_get(7)?,
                    updated_at: r.try_get(8)?,
                    expires_at: r.try_get(9)?,
                    session_time: r.try_get(10)?,
                    stopped_at: r.try_get(11)?,
                    terminate_cause: r.try_get(12)?,
                    close_reason: r.try_get(13)?,
                    input_octets: r.try_get(14)?,
                    output_octets: r.try_get(15)?,
                    input_packets: r.try_get(16)?,
                    output_packets: r.try_get(17)?,
                    user_name: r.try_get(18)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        send(tx, CopyChunk::Sessions(v)).await?;
    }
    let sql = format!("SELECT {KEY_COLS} FROM api_keys ORDER BY id");
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
    let keys = rows
        .iter()
        .map(|r| {
            let roles: String = r.try_get(3)?;
            Ok(ApiKeyRecord {
                key: ApiKey {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    display: r.try_get(2)?,
                    roles: roles_from_column(&roles),
                    created_on: r.try_get(4)?,
                    created_by: r.try_get(5)?,
                    last_used: r.try_get(6)?,
                    revoked_on: r.try_get(7)?,
                },
                key_hash: r.try_get(8)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    if !keys.is_empty() {
        send(tx, CopyChunk::ApiKeys(keys)).await?;
    }
    // access_tokens is AUTOINCREMENT: its high-water mark survives deletes.
    let tokens: i64 = sqlx::query_scalar(
        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'access_tokens'), 0), \
         COALESCE((SELECT MAX(id) FROM access_tokens), 0))",
    )
    .fetch_one(&mut *conn)
    .await?;
    let sessions: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM sessions")
        .fetch_one(&mut *conn)
        .await?;
    let api_keys: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM api_keys")
        .fetch_one(&mut *conn)
        .await?;
    send(
        tx,
        CopyChunk::Sequences {
            tokens,
            sessions,
            api_keys,
        },
    )
    .await
}

async fn load_in(
    conn: &mut SqliteConnection,
    rx: &mut mpsc::Receiver<CopyChunk>,
) -> Result<CopyCounts, StoreError> {
    let (t, s, k): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM access_tokens), (SELECT COUNT(*) FROM sessions), \
         (SELECT COUNT(*) FROM api_keys)",
    )
    .fetch_one(&mut *conn)
    .await?;
    if t + s + k > 0 {
        return Err(StoreError::Conflict(format!(
            "the target database is not empty ({t} token(s), {s} session(s), {k} API key(s)): \
             radgate db copy only copies into an empty one"
        )));
    }
    let mut counts = CopyCounts::default();
    while let Some(chunk) = rx.recv().await {
        match chunk {
            CopyChunk::Tokens(v) => {
                for t in v {
                    let sql = format!(
                        "INSERT INTO access_tokens ({TOKEN_COLS}, code_key) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    );
                    sqlx::query(&sql)
                        .bind(t.id)
                        .bind(&t.unique_id)
                        .bind(t.business_id)
                        .bind(&t.access_code)
                        .bind(&t.description)
                        .bind(t.minutes_included)
                        .bind(t.seconds_used)
                        .bind(t.valid_from)
                        .bind(t.valid_to)
                        .bind(t.user_limit)
                        .bind(&t.mac_address)
                        .bind(&t.booking_guid)
                        .bind(&t.visitor_guid)
                        .bind(t.last_access)
                        .bind(t.created_on)
                        .bind(t.updated_on)
                        .bind(&t.updated_by)
                        .bind(t.valid_for_minutes)
                        .bind(t.single_use)
                        .bind(t.first_used_on)
                        .bind(t.spent_on)
                        .bind(&t.rate_limit)
                        .bind(code_key(&t.access_code))
                        .execute(&mut *conn)
                        .await?;
                    counts.tokens += 1;
                }
            }
            CopyChunk::Sessions(v) => {
                for s in v {
                    let sql = format!(
                        "INSERT INTO sessions ({SESSION_COLS}) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    );
                    sqlx::query(&sql)
                        .bind(s.id)
                        .bind(s.token_id)
                        .bind(&s.nas)
                        .bind(&s.device)
                        .bind(&s.state)
                        .bind(&s.acct_session_id)
                        .bind(&s.framed_ip)
                        .bind(s.created_at)
                        .bind(s.updated_at)
                        .bind(s.expires_at)
                        .bind(s.session_time)
                        .bind(s.stopped_at)
                        .bind(s.terminate_cause)
                        .bind(&s.close_reason)
                        .bind(s.input_octets)
                        .bind(s.output_octets)
                        .bind(s.input_packets)
                        .bind(s.output_packets)
                        .bind(&s.user_name)
                        .execute(&mut *conn)
                        .await?;
                    counts.sessions += 1;
                }
            }
            CopyChunk::ApiKeys(v) => {
                for r in v {
                    let k = &r.key;
                    let sql = format!(
                        "INSERT INTO api_keys ({KEY_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    );
                    sqlx::query(&sql)
                        .bind(k.id)
                        .bind(&k.name)
                        .bind(&k.display)
                        .bind(k.roles.join(","))
                        .bind(k.created_on)
                        .bind(&k.created_by)
                        .bind(k.last_used)
                        .bind(k.revoked_on)
                        .bind(&r.key_hash)
                        .execute(&mut *conn)
                        .await?;
                    counts.api_keys += 1;
                }
            }
            CopyChunk::Sequences { tokens, .. } => {
                // The other tables take max(id) + 1 by themselves.
                sqlx::query("DELETE FROM sqlite_sequence WHERE name = 'access_tokens'")
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES ('access_tokens', ?)")
                    .bind(tokens)
                    .execute(&mut *conn)
                    .await?;
            }
            CopyChunk::End => return Ok(counts),
        }
    }
    Err(StoreError::CommitFailed(
        "the copy's source stopped before the end; nothing was written".into(),
    ))
}
