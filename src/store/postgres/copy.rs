//! `radgate db copy` on PostgreSQL: read every row in one REPEATABLE READ
//! snapshot, write every row in one transaction.

use deadpool_postgres::GenericClient;
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

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

async fn send(tx: &mpsc::Sender<CopyChunk>, c: CopyChunk) -> Result<(), StoreError> {
    tx.send(c)
        .await
        .map_err(|_| StoreError::CommitFailed("the copy's target stopped".into()))
}

/// The high-water mark of an identity column's sequence (0 when unused).
const SEQUENCE: &str = "SELECT COALESCE((SELECT last_value FROM pg_sequences \
     WHERE sequencename = $1 AND schemaname = current_schema()), 0)";

/// Send a table in chunks of [`COPY_CHUNK`] rows, by id: `cols` start
/// with the id.
async fn send_table<T>(
    client: &impl GenericClient,
    tx: &mpsc::Sender<CopyChunk>,
    table: &str,
    cols: &str,
    row: fn(&Row) -> Result<T, StoreError>,
    chunk: fn(Vec<T>) -> CopyChunk,
) -> Result<(), StoreError> {
    let sql = format!("SELECT {cols} FROM {table} WHERE id > $1 ORDER BY id LIMIT $2");
    let mut after = 0i64;
    loop {
        let rows = client.query(&sql, &[&after, &COPY_CHUNK]).await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get(0)?;
        let v = rows.iter().map(row).collect::<Result<Vec<_>, _>>()?;
        send(tx, chunk(v)).await?;
    }
    Ok(())
}

fn token_record(r: &Row) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        token: token_from_row(r)?,
        batch_id: r.try_get("batch_id")?,
    })
}

fn session_record(r: &Row) -> Result<SessionRecord, StoreError> {
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

fn batch_record(r: &Row) -> Result<crate::store::batches::Batch, StoreError> {
    Ok(batches::from_row(r)?)
}

fn audit_record(r: &Row) -> Result<Record, StoreError> {
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

impl Store {
    /// Send every row, in chunks, from one snapshot.
    pub async fn dump(&self, tx: &mpsc::Sender<CopyChunk>) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let t = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        // Operators with their password hashes (their sign-ins stay behind).
        let sql = format!(
            "SELECT {}, o.password_hash FROM operators o ORDER BY o.id",
            operators::COLS
        );
        let ops = t
            .query(&sql, &[])
            .await?
            .iter()
            .map(|r| {
                Ok(OperatorRecord {
                    operator: operators::from_row(r)?,
                    password_hash: r.try_get(7)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if !ops.is_empty() {
            send(tx, CopyChunk::Operators(ops)).await?;
        }
        let sql = format!("SELECT {} FROM presets ORDER BY id", presets::COLS);
        let v = t
            .query(&sql, &[])
            .await?
            .iter()
            .map(presets::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        if !v.is_empty() {
            send(tx, CopyChunk::Presets(v)).await?;
        }
        // Batches before the codes that name them.
        send_table(
            &t,
            tx,
            "batches",
            batches::COLS,
            batch_record,
            CopyChunk::Batches,
        )
        .await?;
        let cols = format!("{TOKEN_COLS}, batch_id");
        send_table(
            &t,
            tx,
            "access_tokens",
            &cols,
            token_record,
            CopyChunk::Tokens,
        )
        .await?;
        send_table(
            &t,
            tx,
            "sessions",
            SESSION_COLS,
            session_record,
            CopyChunk::Sessions,
        )
        .await?;
        let sql = format!("SELECT {KEY_COLS} FROM api_keys ORDER BY id");
        let keys = t
            .query(&sql, &[])
            .await?
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
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
        if !keys.is_empty() {
            send(tx, CopyChunk::ApiKeys(keys)).await?;
        }
        send_table(
            &t,
            tx,
            "audit_log",
            AUDIT_COLS,
            audit_record,
            CopyChunk::Audit,
        )
        .await?;
        let mut seq = [0i64; 7];
        for (v, name) in seq.iter_mut().zip([
            "access_tokens_id_seq",
            "sessions_id_seq",
            "api_keys_id_seq",
            "operators_id_seq",
            "audit_log_id_seq",
            "presets_id_seq",
            "batches_id_seq",
        ]) {
            *v = t.query_one(SEQUENCE, &[&name]).await?.try_get(0)?;
        }
        t.rollback().await?;
        send(
            tx,
            CopyChunk::Sequences(CopySequences {
                tokens: seq[0],
                sessions: seq[1],
                api_keys: seq[2],
                operators: seq[3],
                audit_log: seq[4],
                presets: seq[5],
                batches: seq[6],
            }),
        )
        .await
    }

    /// Receive rows and write them into this (empty) database, committing
    /// only after [`CopyChunk::End`].
    pub async fn load(&self, mut rx: mpsc::Receiver<CopyChunk>) -> Result<CopyCounts, StoreError> {
        let mut client = self.client().await?;
        let t = client.transaction().await?;
        let row = t.query_one(COPY_TARGET_COUNTS, &[]).await?;
        let mut held = [0i64; 7];
        for (i, n) in held.iter_mut().enumerate() {
            *n = row.try_get(i)?;
        }
        CopyCounts::refuse_unless_empty(held)?;
        let operator_sql = t
            .prepare(&format!(
                "INSERT INTO operators ({OPERATOR_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ))
            .await?;
        let preset_sql = t
            .prepare(&format!(
                "INSERT INTO presets ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                presets::COLS
            ))
            .await?;
        let batch_sql = t
            .prepare(&format!(
                "INSERT INTO batches ({}) VALUES ($1, $2, $3, $4, $5)",
                batches::COLS
            ))
            .await?;
        // One placeholder per column of TOKEN_COLS, then the two.
        let marks = (1..=TOKEN_COLS.split(',').count() + 2)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let token_sql = t
            .prepare(&format!(
                "INSERT INTO access_tokens ({TOKEN_COLS}, batch_id, code_key) VALUES ({marks})"
            ))
            .await?;
        let session_sql = t
            .prepare(&format!(
                "INSERT INTO sessions ({SESSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
                 $11, $12, $13, $14, $15, $16, $17, $18, $19)"
            ))
            .await?;
        let key_sql = t
            .prepare(&format!(
                "INSERT INTO api_keys ({KEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ))
            .await?;
        let audit_sql = t
            .prepare(&format!(
                "INSERT INTO audit_log ({AUDIT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ))
            .await?;
        let mut counts = CopyCounts::default();
        while let Some(chunk) = rx.recv().await {
            match chunk {
                CopyChunk::Operators(v) => {
                    for r in v {
                        let o = &r.operator;
                        let role = o.role.as_str();
                        let businesses = businesses_to_column(&o.businesses);
                        let p: [&(dyn ToSql + Sync); 8] = [
                            &o.id,
                            &o.name,
                            &role,
                            &businesses,
                            &o.created_on,
                            &o.created_by,
                            &o.disabled_on,
                            &r.password_hash,
                        ];
                        t.execute(&operator_sql, &p).await?;
                        counts.operators += 1;
                    }
                }
                CopyChunk::Presets(v) => {
                    for x in v {
                        let p: [&(dyn ToSql + Sync); 9] = [
                            &x.id,
                            &x.name,
                            &x.business_id,
                            &x.minutes_included,
                            &x.valid_for_minutes,
                            &x.user_limit,
                            &x.single_use,
                            &x.created_on,
                            &x.megabytes_included,
                        ];
                        t.execute(&preset_sql, &p).await?;
                        counts.presets += 1;
                    }
                }
                CopyChunk::Batches(v) => {
                    for b in v {
                        let p: [&(dyn ToSql + Sync); 5] =
                            [&b.id, &b.name, &b.business_id, &b.created_on, &b.created_by];
                        t.execute(&batch_sql, &p).await?;
                        counts.batches += 1;
                    }
                }
                CopyChunk::Tokens(v) => {
                    for r in v {
                        let x = &r.token;
                        let key = code_key(&x.access_code);
                        let p: [&(dyn ToSql + Sync); 27] = [
                            &x.id,
                            &x.unique_id,
                            &x.business_id,
                            &x.access_code,
                            &x.description,
                            &x.minutes_included,
                            &x.seconds_used,
                            &x.valid_from,
                            &x.valid_to,
                            &x.user_limit,
                            &x.mac_address,
                            &x.booking_guid,
                            &x.visitor_guid,
                            &x.last_access,
                            &x.created_on,
                            &x.updated_on,
                            &x.updated_by,
                            &x.valid_for_minutes,
                            &x.single_use,
                            &x.first_used_on,
                            &x.spent_on,
                            &x.rate_limit,
                            &x.guest_name,
                            &x.megabytes_included,
                            &x.bytes_used,
                            &r.batch_id,
                            &key,
                        ];
                        t.execute(&token_sql, &p).await?;
                        counts.tokens += 1;
                    }
                }
                CopyChunk::Sessions(v) => {
                    for s in v {
                        let p: [&(dyn ToSql + Sync); 19] = [
                            &s.id,
                            &s.token_id,
                            &s.nas,
                            &s.device,
                            &s.state,
                            &s.acct_session_id,
                            &s.framed_ip,
                            &s.created_at,
                            &s.updated_at,
                            &s.expires_at,
                            &s.session_time,
                            &s.stopped_at,
                            &s.terminate_cause,
                            &s.close_reason,
                            &s.input_octets,
                            &s.output_octets,
                            &s.input_packets,
                            &s.output_packets,
                            &s.user_name,
                        ];
                        t.execute(&session_sql, &p).await?;
                        counts.sessions += 1;
                    }
                }
                CopyChunk::ApiKeys(v) => {
                    for r in v {
                        let k = &r.key;
                        let roles = k.roles.join(",");
                        let businesses = businesses_to_column(&k.businesses);
                        let p: [&(dyn ToSql + Sync); 10] = [
                            &k.id,
                            &k.name,
                            &k.display,
                            &roles,
                            &k.created_on,
                            &k.created_by,
                            &k.last_used,
                            &k.revoked_on,
                            &r.key_hash,
                            &businesses,
                        ];
                        t.execute(&key_sql, &p).await?;
                        counts.api_keys += 1;
                    }
                }
                CopyChunk::Audit(v) => {
                    // Written as they were, not recorded anew: a copy
                    // changes nothing.
                    for a in v {
                        let p: [&(dyn ToSql + Sync); 8] = [
                            &a.id,
                            &a.at,
                            &a.actor,
                            &a.action,
                            &a.target,
                            &a.business_id,
                            &a.before,
                            &a.after,
                        ];
                        t.execute(&audit_sql, &p).await?;
                        counts.audit_records += 1;
                    }
                }
                CopyChunk::Sequences(seq) => {
                    for (name, v) in [
                        ("access_tokens_id_seq", seq.tokens),
                        ("sessions_id_seq", seq.sessions),
                        ("api_keys_id_seq", seq.api_keys),
                        ("operators_id_seq", seq.operators),
                        ("audit_log_id_seq", seq.audit_log),
                        ("presets_id_seq", seq.presets),
                        ("batches_id_seq", seq.batches),
                    ] {
                        if v >= 1 {
                            t.execute("SELECT setval($1::TEXT::REGCLASS, $2, true)", &[&name, &v])
                                .await?;
                        }
                    }
                }
                CopyChunk::End => {
                    t.commit().await?;
                    return Ok(counts);
                }
            }
        }
        Err(StoreError::CommitFailed(
            "the copy's source stopped before the end; nothing was written".into(),
        ))
    }
}
