//! `radgate db copy` on SQLite: read every row in one snapshot (a read
//! transaction on WAL sees one state of the database while a server
//! writes), write every row in one `BEGIN IMMEDIATE` transaction.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use tokio::sync::mpsc;

use super::{batches, operators, presets, token_from_row, Store, TOKEN_COLS};
use crate::store::apikeys::{roles_from_column, ApiKey};
use crate::store::audit::Record;
use crate::store::operators::{businesses_from_column, businesses_to_column};
use crate::store::{
    ApiKeyRecord, CopyChunk, CopyCounts, CopySequences, OperatorRecord, SessionRecord, StoreError,
    TokenRecord, COPY_CHUNK, COPY_TARGET_COUNTS,
};
use crate::token::parse::code_key;

const SESSION_COLS: &str =
    "id, token_id, nas, device, state, acct_session_id, framed_ip, created_at, \
    updated_at, expires_at, session_time, stopped_at, terminate_cause, close_reason, input_octets, \
    output_octets, input_packets, output_packets, user_name";
const KEY_COLS: &str =
    "id, name, display, roles, created_on, created_by, last_used, revoked_on, key_hash, businesses";
const OPERATOR_COLS: &str =
    "id, name, role, businesses, created_on, created_by, disabled_on, password_hash";
const AUDIT_COLS: &str = "id, at, actor, action, target, business_id, before, after";

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

/// Send a table in chunks of [`COPY_CHUNK`] rows, by id: `cols` start
/// with the id.
async fn send_table<T>(
    conn: &mut SqliteConnection,
    tx: &mpsc::Sender<CopyChunk>,
    table: &str,
    cols: &str,
    row: fn(&SqliteRow) -> Result<T, StoreError>,
    chunk: fn(Vec<T>) -> CopyChunk,
) -> Result<(), StoreError> {
    let sql = format!("SELECT {cols} FROM {table} WHERE id > ? ORDER BY id LIMIT ?");
    let mut after = 0i64;
    loop {
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(COPY_CHUNK)
            .fetch_all(&mut *conn)
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get(0)?;
        let v = rows.iter().map(row).collect::<Result<Vec<_>, _>>()?;
        send(tx, chunk(v)).await?;
    }
    Ok(())
}

fn token_record(r: &SqliteRow) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        token: token_from_row(r)?,
        batch_id: r.try_get("batch_id")?,
    })
}

fn session_record(r: &SqliteRow) -> Result<SessionRecord, StoreError> {
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
}

fn batch_record(r: &SqliteRow) -> Result<crate::store::batches::Batch, StoreError> {
    Ok(batches::from_row(r)?)
}

fn audit_record(r: &SqliteRow) -> Result<Record, StoreError> {
    Ok(Record {
        id: r.try_get(0)?,
        at: r.try_get(1)?,
        actor: r.try_get(2)?,
        action: r.try_get(3)?,
        target: r.try_get(4)?,
        business_id: r.try_get(5)?,
        before: r.try_get(6)?,
        after: r.try_get(7)?,
    })
}

/// The highest id `table` has given: its AUTOINCREMENT high-water mark
/// (which survives deletes) when it has one, else its largest id.
async fn high_water(conn: &mut SqliteConnection, table: &str) -> Result<i64, StoreError> {
    let sql = format!(
        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?), 0), \
         COALESCE((SELECT MAX(id) FROM {table}), 0))"
    );
    Ok(sqlx::query_scalar(&sql)
        .bind(table)
        .fetch_one(&mut *conn)
        .await?)
}

async fn dump_in(
    conn: &mut SqliteConnection,
    tx: &mpsc::Sender<CopyChunk>,
) -> Result<(), StoreError> {
    // Operators with their password hashes (their sign-ins stay behind).
    let sql = format!(
        "SELECT {}, o.password_hash FROM operators o ORDER BY o.id",
        operators::COLS
    );
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
    let ops = rows
        .iter()
        .map(|r| {
            Ok(OperatorRecord {
                operator: operators::from_row(r)?,
                password_hash: r.try_get(7)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    if !ops.is_empty() {
        send(tx, CopyChunk::Operators(ops)).await?;
    }
    let sql = format!("SELECT {} FROM presets ORDER BY id", presets::COLS);
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
    let v = rows
        .iter()
        .map(presets::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    if !v.is_empty() {
        send(tx, CopyChunk::Presets(v)).await?;
    }
    // Batches before the codes that name them.
    send_table(
        conn,
        tx,
        "batches",
        batches::COLS,
        batch_record,
        CopyChunk::Batches,
    )
    .await?;
    let cols = format!("{TOKEN_COLS}, batch_id");
    send_table(
        conn,
        tx,
        "access_tokens",
        &cols,
        token_record,
        CopyChunk::Tokens,
    )
    .await?;
    send_table(
        conn,
        tx,
        "sessions",
        SESSION_COLS,
        session_record,
        CopyChunk::Sessions,
    )
    .await?;
    let sql = format!("SELECT {KEY_COLS} FROM api_keys ORDER BY id");
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
    let keys = rows
        .iter()
        .map(|r| {
            let roles: String = r.try_get(3)?;
            let businesses: String = r.try_get(9)?;
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
                    businesses: businesses_from_column(&businesses),
                },
                key_hash: r.try_get(8)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    if !keys.is_empty() {
        send(tx, CopyChunk::ApiKeys(keys)).await?;
    }
    send_table(
        conn,
        tx,
        "audit_log",
        AUDIT_COLS,
        audit_record,
        CopyChunk::Audit,
    )
    .await?;
    // access_tokens and batches are AUTOINCREMENT: their high-water marks
    // survive deletes; the other tables' is their largest id.
    let seq = CopySequences {
        tokens: high_water(conn, "access_tokens").await?,
        sessions: high_water(conn, "sessions").await?,
        api_keys: high_water(conn, "api_keys").await?,
        operators: high_water(conn, "operators").await?,
        audit_log: high_water(conn, "audit_log").await?,
        presets: high_water(conn, "presets").await?,
        batches: high_water(conn, "batches").await?,
    };
    send(tx, CopyChunk::Sequences(seq)).await
}

async fn load_in(
    conn: &mut SqliteConnection,
    rx: &mut mpsc::Receiver<CopyChunk>,
) -> Result<CopyCounts, StoreError> {
    let row = sqlx::query(COPY_TARGET_COUNTS)
        .fetch_one(&mut *conn)
        .await?;
    let mut held = [0i64; 7];
    for (i, n) in held.iter_mut().enumerate() {
        *n = row.try_get(i)?;
    }
    CopyCounts::refuse_unless_empty(held)?;
    let mut counts = CopyCounts::default();
    while let Some(chunk) = rx.recv().await {
        match chunk {
            CopyChunk::Operators(v) => {
                let sql = format!(
                    "INSERT INTO operators ({OPERATOR_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                );
                for r in v {
                    let o = &r.operator;
                    sqlx::query(&sql)
                        .bind(o.id)
                        .bind(&o.name)
                        .bind(o.role.as_str())
                        .bind(businesses_to_column(&o.businesses))
                        .bind(o.created_on)
                        .bind(&o.created_by)
                        .bind(o.disabled_on)
                        .bind(&r.password_hash)
                        .execute(&mut *conn)
                        .await?;
                    counts.operators += 1;
                }
            }
            CopyChunk::Presets(v) => {
                let sql = format!(
                    "INSERT INTO presets ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    presets::COLS
                );
                for p in v {
                    sqlx::query(&sql)
                        .bind(p.id)
                        .bind(&p.name)
                        .bind(p.business_id)
                        .bind(p.minutes_included)
                        .bind(p.valid_for_minutes)
                        .bind(p.user_limit)
                        .bind(p.single_use)
                        .bind(p.created_on)
                        .bind(p.megabytes_included)
                        .execute(&mut *conn)
                        .await?;
                    counts.presets += 1;
                }
            }
            CopyChunk::Batches(v) => {
                let sql = format!(
                    "INSERT INTO batches ({}) VALUES (?, ?, ?, ?, ?)",
                    batches::COLS
                );
                for b in v {
                    sqlx::query(&sql)
                        .bind(b.id)
                        .bind(&b.name)
                        .bind(b.business_id)
                        .bind(b.created_on)
                        .bind(&b.created_by)
                        .execute(&mut *conn)
                        .await?;
                    counts.batches += 1;
                }
            }
            CopyChunk::Tokens(v) => {
                // One placeholder per column of TOKEN_COLS, then the two.
                let marks = vec!["?"; TOKEN_COLS.split(',').count() + 2].join(", ");
                let sql = format!(
                    "INSERT INTO access_tokens ({TOKEN_COLS}, batch_id, code_key) VALUES ({marks})"
                );
                for r in v {
                    let t = &r.token;
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
                        .bind(&t.guest_name)
                        .bind(t.megabytes_included)
                        .bind(t.bytes_used)
                        .bind(r.batch_id)
                        .bind(code_key(&t.access_code))
                        .execute(&mut *conn)
                        .await?;
                    counts.tokens += 1;
                }
            }
            CopyChunk::Sessions(v) => {
                let sql = format!(
                    "INSERT INTO sessions ({SESSION_COLS}) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                );
                for s in v {
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
                let sql = format!(
                    "INSERT INTO api_keys ({KEY_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                );
                for r in v {
                    let k = &r.key;
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
                        .bind(businesses_to_column(&k.businesses))
                        .execute(&mut *conn)
                        .await?;
                    counts.api_keys += 1;
                }
            }
            CopyChunk::Audit(v) => {
                // Written as they were, not recorded anew: a copy changes nothing.
                let sql =
                    format!("INSERT INTO audit_log ({AUDIT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
                for a in v {
                    sqlx::query(&sql)
                        .bind(a.id)
                        .bind(a.at)
                        .bind(&a.actor)
                        .bind(&a.action)
                        .bind(&a.target)
                        .bind(a.business_id)
                        .bind(&a.before)
                        .bind(&a.after)
                        .execute(&mut *conn)
                        .await?;
                    counts.audit_records += 1;
                }
            }
            CopyChunk::Sequences(seq) => {
                // The AUTOINCREMENT tables keep the source's high-water
                // mark; the others take max(id) + 1 by themselves.
                for (table, v) in [("access_tokens", seq.tokens), ("batches", seq.batches)] {
                    sqlx::query("DELETE FROM sqlite_sequence WHERE name = ?")
                        .bind(table)
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)")
                        .bind(table)
                        .bind(v)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            CopyChunk::End => return Ok(counts),
        }
    }
    Err(StoreError::CommitFailed(
        "the copy's source stopped before the end; nothing was written".into(),
    ))
}
