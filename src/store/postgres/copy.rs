//! `radgate db copy` on PostgreSQL: read every row in one REPEATABLE READ
//! snapshot, write every row in one transaction.

use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;

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

async fn send(tx: &mpsc::Sender<CopyChunk>, c: CopyChunk) -> Result<(), StoreError> {
    tx.send(c)
        .await
        .map_err(|_| StoreError::CommitFailed("the copy's target stopped".into()))
}

/// The high-water mark of an identity column's sequence (0 when unused).
const SEQUENCE: &str = "SELECT COALESCE((SELECT last_value FROM pg_sequences \
     WHERE sequencename = $1 AND schemaname = current_schema()), 0)";

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
        let mut after = 0i64;
        loop {
            let sql = format!(
                "SELECT {TOKEN_COLS} FROM access_tokens WHERE id > $1 ORDER BY id LIMIT $2"
            );
            let rows = t.query(&sql, &[&after, &COPY_CHUNK]).await?;
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
            let sql =
                format!("SELECT {SESSION_COLS} FROM sessions WHERE id > $1 ORDER BY id LIMIT $2");
            let rows = t.query(&sql, &[&after, &COPY_CHUNK]).await?;
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
                .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
            send(tx, CopyChunk::Sessions(v)).await?;
        }
        let sql = format!("SELECT {KEY_COLS} FROM api_keys ORDER BY id");
        let keys = t
            .query(&sql, &[])
            .await?
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
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
        if !keys.is_empty() {
            send(tx, CopyChunk::ApiKeys(keys)).await?;
        }
        let mut seq = Vec::new();
        for name in ["access_tokens_id_seq", "sessions_id_seq", "api_keys_id_seq"] {
            seq.push(
                t.query_one(SEQUENCE, &[&name])
                    .await?
                    .try_get::<_, i64>(0)?,
            );
        }
        t.rollback().await?;
        send(
            tx,
            CopyChunk::Sequences {
                tokens: seq[0],
                sessions: seq[1],
                api_keys: seq[2],
            },
        )
        .await
    }

    /// Receive rows and write them into this (empty) database, committing
    /// only after [`CopyChunk::End`].
    pub async fn load(&self, mut rx: mpsc::Receiver<CopyChunk>) -> Result<CopyCounts, StoreError> {
        let mut client = self.client().await?;
        let t = client.transaction().await?;
        let row = t
            .query_one(
                "SELECT (SELECT COUNT(*) FROM access_tokens), (SELECT COUNT(*) FROM sessions), \
                 (SELECT COUNT(*) FROM api_keys)",
                &[],
            )
            .await?;
        let (nt, ns, nk): (i64, i64, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if nt + ns + nk > 0 {
            return Err(StoreError::Conflict(format!(
                "the target database is not empty ({nt} token(s), {ns} session(s), {nk} API key(s)): \
                 radgate db copy only copies into an empty one"
            )));
        }
        let token_sql = t
            .prepare(&format!(
                "INSERT INTO access_tokens ({TOKEN_COLS}, code_key) VALUES ($1, $2, $3, $4, $5, $6, $7, \
                 $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
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
                "INSERT INTO api_keys ({KEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ))
            .await?;
        let mut counts = CopyCounts::default();
        while let Some(chunk) = rx.recv().await {
            match chunk {
                CopyChunk::Tokens(v) => {
                    for x in v {
                        let key = code_key(&x.access_code);
                        let p: [&(dyn ToSql + Sync); 23] = [
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
                        let p: [&(dyn ToSql + Sync); 9] = [
                            &k.id,
                            &k.name,
                            &k.display,
                            &roles,
                            &k.created_on,
                            &k.created_by,
                            &k.last_used,
                            &k.revoked_on,
                            &r.key_hash,
                        ];
                        t.execute(&key_sql, &p).await?;
                        counts.api_keys += 1;
                    }
                }
                CopyChunk::Sequences {
                    tokens,
                    sessions,
                    api_keys,
                } => {
                    for (name, v) in [
                        ("access_tokens_id_seq", tokens),
                        ("sessions_id_seq", sessions),
                        ("api_keys_id_seq", api_keys),
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
