//! The writer task: owns the write connection and commits requests in
//! batches. It takes every request waiting, runs each one's read-check-write
//! in order inside one `BEGIN IMMEDIATE` transaction (each under its own
//! savepoint, so one failing request does not spoil the others), commits
//! once, and only then answers all of them. Order inside the batch settles
//! races (two devices on a UserLimit=1 code); one commit per batch makes
//! durability affordable.

use sqlx::{ConnectOptions, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::sqlite::{token_from_row, Store, TOKEN_COLS};
use super::StoreError;
use crate::policy::accounting::{self, AcctStatus, Seen};
use crate::policy::auth::{self, AuthOptions, Decision, LivePlaces, RequestFacts, TokenFacts};
use crate::radius::codec::Credential;
use crate::token_parse::code_key;

/// Requests taken into one transaction at most.
const MAX_BATCH: usize = 512;

#[derive(Debug, Clone, Copy)]
pub struct WriterSettings {
    pub case_sensitive_codes: bool,
    pub bind_mac_on_first_use: bool,
    /// Seconds an Access-Accept holds a place before accounting confirms it.
    pub pending_place_ttl: i64,
}

/// One Access-Request to decide and record.
#[derive(Debug, Clone)]
pub struct AuthJob {
    pub user_name: String,
    pub credential: Credential,
    /// Device identity (normalized MAC, or the raw Calling-Station-Id).
    pub device: Option<String>,
    /// Calling-Station-Id when it is a MAC.
    pub device_mac: Option<String>,
    /// Name of the client (NAS) that asked.
    pub nas: String,
    /// Only codes of this business, when the client is tied to one.
    pub business_id: Option<i64>,
    pub accept_any_password: bool,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthOutcome {
    pub decision: Decision,
    pub token_id: Option<i64>,
}

type Responder = Box<dyn FnOnce(Option<&str>) + Send>;

/// A unit of work for the writer: runs inside the batch transaction and
/// yields a responder that is called once the batch has committed (with the
/// commit error, if any).
type Work = Box<
    dyn for<'c> FnOnce(&'c mut SqliteConnection, WriterSettings) -> BoxFut<'c, Responder> + Send,
>;

/// Handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Work>,
}

impl Writer {
    /// Run `f` in the next batch (under its own savepoint) and return its
    /// result once the batch has committed.
    async fn submit<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection, WriterSettings) -> BoxFut<'c, T>
            + Send
            + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, StoreError>>();
        let work: Work = Box::new(move |conn, s| {
            Box::pin(async move {
                let res = in_savepoint(conn, |c| f(c, s)).await;
                let responder: Responder = Box::new(move |commit_err: Option<&str>| {
                    let _ = tx.send(match commit_err {
                        None => res,
                        Some(e) => Err(StoreError::CommitFailed(e.to_string())),
                    });
                });
                Ok(responder)
            })
        });
        self.tx
            .send(work)
            .await
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Decide an Access-Request and record its outcome; returns after commit.
    pub async fn authorize(&self, job: AuthJob) -> Result<AuthOutcome, StoreError> {
        self.submit(move |c, s| Box::pin(authorize(c, job, s)))
            .await
    }

    /// Apply an Accounting-Request; returns after commit.
    pub async fn account(&self, job: AcctJob) -> Result<AcctOutcome, StoreError> {
        self.submit(move |c, _| Box::pin(account(c, job))).await
    }

    /// Close stale sessions and purge expired pending places.
    pub async fn sweep(&self, now: i64, stale_after: i64) -> Result<SweepOutcome, StoreError> {
        self.submit(move |c, _| Box::pin(sweep(c, now, stale_after)))
            .await
    }
}

impl Store {
    /// Start the writer task on its own connection.
    pub async fn spawn_writer(&self, settings: WriterSettings) -> Result<Writer, StoreError> {
        let conn = self.connect_options().clone().connect().await?;
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(run(conn, rx, settings));
        Ok(Writer { tx })
    }
}

async fn run(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Work>, s: WriterSettings) {
    let mut batch: Vec<Work> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await {
            tracing::error!(error = %e, "store: cannot begin a write transaction");
            // Dropping the work drops its reply channel: callers see WriterGone
            // for this batch only, and the NAS retries.
            batch.clear();
            continue;
        }
        let mut responders = Vec::with_capacity(batch.len());
        for work in batch.drain(..) {
            match work(&mut conn, s).await {
                Ok(r) => responders.push(r),
                Err(e) => tracing::error!(error = %e, "store: savepoint handling failed"),
            }
        }
        match sqlx::query("COMMIT").execute(&mut conn).await {
            Ok(_) => responders.into_iter().for_each(|r| r(None)),
            Err(e) => {
                tracing::error!(error = %e, "store: commit failed; the batch is not answered");
                let _ = sqlx::query("ROLLBACK").execute(&mut conn).await;
                let msg = e.to_string();
                responders.into_iter().for_each(|r| r(Some(&msg)));
            }
        }
    }
}

type BoxFut<'c, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'c>>;

/// Run `f` under a savepoint: released on success, rolled back on error.
async fn in_savepoint<T, F>(conn: &mut SqliteConnection, f: F) -> Result<T, StoreError>
where
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFut<'c, T>,
{
    sqlx::query("SAVEPOINT job").execute(&mut *conn).await?;
    match f(&mut *conn).await {
        Ok(v) => {
            sqlx::query("RELEASE job").execute(&mut *conn).await?;
            Ok(v)
        }
        Err(e) => {
            let _ = sqlx::query("ROLLBACK TO job").execute(&mut *conn).await;
            let _ = sqlx::query("RELEASE job").execute(&mut *conn).await;
            Err(e)
        }
    }
}

async fn authorize(
    conn: &mut SqliteConnection,
    a: AuthJob,
    s: WriterSettings,
) -> Result<AuthOutcome, StoreError> {
    let now = a.now;
    let key = code_key(&a.user_name);
    let sql = format!(
        "SELECT {TOKEN_COLS} FROM access_tokens WHERE code_key = ?1 AND (?2 IS NULL OR business_id = ?2) LIMIT 2"
    );
    let rows = sqlx::query(&sql)
        .bind(&key)
        .bind(a.business_id)
        .fetch_all(&mut *conn)
        .await?;
    let token = match rows.as_slice() {
        [one] => Some(token_from_row(one)?),
        [] => None,
        _ => {
            tracing::warn!(nas = %a.nas, "code matches tokens of several businesses; set business_id on the client");
            None
        }
    };
    let opts = AuthOptions {
        accept_any_password: a.accept_any_password,
        case_sensitive_codes: s.case_sensitive_codes,
        bind_mac_on_first_use: s.bind_mac_on_first_use,
    };
    let req = RequestFacts {
        user_name: &a.user_name,
        credential: &a.credential,
        device: a.device.as_deref(),
        device_mac: a.device_mac.as_deref(),
    };
    let Some(token) = token else {
        let decision = auth::decide(None, &req, &LivePlaces::default(), opts, now);
        return Ok(AuthOutcome {
            decision,
            token_id: None,
        });
    };
    let live = if token.user_limit.is_some() || a.device.is_some() {
        let devices: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT device FROM sessions WHERE token_id = ? \
             AND (state = 'active' OR (state = 'pending' AND expires_at > ?))",
        )
        .bind(token.id)
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
        LivePlaces { devices }
    } else {
        LivePlaces::default()
    };
    let facts = TokenFacts {
        access_code: token.access_code.clone(),
        minutes_included: token.minutes_included,
        seconds_used: token.seconds_used,
        valid_from: token.valid_from,
        valid_to: token.valid_to,
        user_limit: token.user_limit,
        mac_address: token.mac_address.clone(),
    };
    let decision = auth::decide(Some(&facts), &req, &live, opts, now);
    if let Decision::Accept(g) = &decision {
        let expires = now + s.pending_place_ttl;
        // Places matter only where a UserLimit counts them: an unlimited
        // token records none, so a flood of logins cannot grow the table.
        let refreshed = if token.user_limit.is_none() {
            true
        } else if g.already_holds_place {
            // Refresh the device's pending place, if that is what it holds;
            // a live session needs nothing.
            sqlx::query(
                "UPDATE sessions SET expires_at = ?, updated_at = ? WHERE token_id = ? AND device = ? AND state = 'pending'",
            )
            .bind(expires)
            .bind(now)
            .bind(token.id)
            .bind(&a.device)
            .execute(&mut *conn)
            .await?;
            true
        } else {
            false
        };
        if !refreshed {
            sqlx::query(
                "INSERT INTO sessions (token_id, nas, device, state, created_at, updated_at, expires_at) \
                 VALUES (?, ?, ?, 'pending', ?, ?, ?)",
            )
            .bind(token.id)
            .bind(&a.nas)
            .bind(&a.device)
            .bind(now)
            .bind(now)
            .bind(expires)
            .execute(&mut *conn)
            .await?;
        }
        sqlx::query("UPDATE access_tokens SET last_access = ?, mac_address = COALESCE(mac_address, ?) WHERE id = ?")
            .bind(now)
            .bind(&g.bind_mac)
            .bind(token.id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(AuthOutcome {
        decision,
        token_id: Some(token.id),
    })
}

/// One Accounting-Request to apply.
#[derive(Debug, Clone)]
pub struct AcctJob {
    pub status: AcctStatus,
    /// NAS source IP address: Acct-Session-Id is unique per NAS.
    pub nas: String,
    pub acct_session_id: Option<String>,
    pub user_name: Option<String>,
    pub device: Option<String>,
    pub framed_ip: Option<String>,
    pub session_time: Option<i64>,
    pub terminate_cause: Option<u32>,
    pub input_octets: i64,
    pub output_octets: i64,
    pub input_packets: i64,
    pub output_packets: i64,
    /// Only codes of this business, when the client is tied to one.
    pub business_id: Option<i64>,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcctOutcome {
    pub token_id: Option<i64>,
    /// Seconds charged to the token by this packet.
    pub charged: i64,
    /// Sessions closed (Accounting-On/Off).
    pub closed: u64,
    /// Why nothing was recorded, when nothing was.
    pub ignored: Option<&'static str>,
}

impl AcctOutcome {
    fn ignored(why: &'static str) -> Self {
        AcctOutcome {
            token_id: None,
            charged: 0,
            closed: 0,
            ignored: Some(why),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepOutcome {
    pub stale_closed: u64,
    pub pending_purged: u64,
}

async fn find_token_id(
    conn: &mut SqliteConnection,
    user_name: &str,
    business_id: Option<i64>,
) -> Result<Option<i64>, StoreError> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM access_tokens WHERE code_key = ?1 AND (?2 IS NULL OR business_id = ?2) LIMIT 2",
    )
    .bind(code_key(user_name))
    .bind(business_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(match ids.as_slice() {
        [one] => Some(*one),
        _ => None,
    })
}

async fn account(conn: &mut SqliteConnection, a: AcctJob) -> Result<AcctOutcome, StoreError> {
    let now = a.now;
    match a.status {
        AcctStatus::AccountingOn | AcctStatus::AccountingOff => {
            // The NAS (re)started or is going down: none of its sessions or
            // pending places survive.
            let r = sqlx::query(
                "UPDATE sessions SET state = 'closed', stopped_at = ?1, updated_at = ?1, close_reason = 'nas-restart' \
                 WHERE nas = ?2 AND state IN ('active', 'pending')",
            )
            .bind(now)
            .bind(&a.nas)
            .execute(&mut *conn)
            .await?;
            return Ok(AcctOutcome {
                token_id: None,
                charged: 0,
                closed: r.rows_affected(),
                ignored: None,
            });
        }
        AcctStatus::Other(_) => return Ok(AcctOutcome::ignored("unsupported Acct-Status-Type")),
        AcctStatus::Start | AcctStatus::Interim | AcctStatus::Stop => {}
    }
    let Some(sid) = a.acct_session_id.as_deref() else {
        return Ok(AcctOutcome::ignored("no Acct-Session-Id"));
    };
    let row: Option<(i64, i64, String, i64)> = sqlx::query_as(
        "SELECT id, token_id, state, session_time FROM sessions WHERE nas = ? AND acct_session_id = ?",
    )
    .bind(&a.nas)
    .bind(sid)
    .fetch_optional(&mut *conn)
    .await?;
    let seen = row.as_ref().map(|(_, _, state, t)| Seen {
        closed: state == "closed",
        session_time: *t,
    });
    let tr = accounting::transition(seen, a.status, a.session_time);
    if tr.ignore {
        return Ok(AcctOutcome {
            token_id: row.map(|r| r.1),
            ..AcctOutcome::ignored("duplicate or late packet")
        });
    }
    let (session_id, token_id) = match row {
        Some((id, token_id, _, _)) => {
            sqlx::query(
                "UPDATE sessions SET session_time = ?, updated_at = ?, framed_ip = COALESCE(?, framed_ip) WHERE id = ?",
            )
            .bind(tr.session_time)
            .bind(now)
            .bind(&a.framed_ip)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            (id, token_id)
        }
        None => {
            let Some(user) = a.user_name.as_deref() else {
                return Ok(AcctOutcome::ignored("no User-Name"));
            };
            let Some(token_id) = find_token_id(conn, user, a.business_id).await? else {
                return Ok(AcctOutcome::ignored("unknown code"));
            };
            // Confirm the device's pending place from authentication, if any.
            let pending: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM sessions WHERE token_id = ? AND state = 'pending' AND device IS ? ORDER BY id LIMIT 1",
            )
            .bind(token_id)
            .bind(&a.device)
            .fetch_optional(&mut *conn)
            .await?;
            let id = match pending {
                Some(id) => {
                    sqlx::query(
                        "UPDATE sessions SET state = 'active', nas = ?, acct_session_id = ?, framed_ip = ?, \
                         session_time = ?, updated_at = ?, expires_at = NULL WHERE id = ?",
                    )
                    .bind(&a.nas)
                    .bind(sid)
                    .bind(&a.framed_ip)
                    .bind(tr.session_time)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                    id
                }
                None => sqlx::query(
                    "INSERT INTO sessions (token_id, nas, device, state, acct_session_id, framed_ip, created_at, \
                     updated_at, session_time) VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?)",
                )
                .bind(token_id)
                .bind(&a.nas)
                .bind(&a.device)
                .bind(sid)
                .bind(&a.framed_ip)
                .bind(now)
                .bind(now)
                .bind(tr.session_time)
                .execute(&mut *conn)
                .await?
                .last_insert_rowid(),
            };
            (id, token_id)
        }
    };
    if a.status != AcctStatus::Start {
        sqlx::query(
            "UPDATE sessions SET input_octets = MAX(input_octets, ?), output_octets = MAX(output_octets, ?), \
             input_packets = MAX(input_packets, ?), output_packets = MAX(output_packets, ?) WHERE id = ?",
        )
        .bind(a.input_octets)
        .bind(a.output_octets)
        .bind(a.input_packets)
        .bind(a.output_packets)
        .bind(session_id)
        .execute(&mut *conn)
        .await?;
    }
    if tr.close {
        sqlx::query(
            "UPDATE sessions SET state = 'closed', stopped_at = ?, terminate_cause = ?, close_reason = 'stop' WHERE id = ?",
        )
        .bind(now)
        .bind(a.terminate_cause)
        .bind(session_id)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "UPDATE access_tokens SET seconds_used = seconds_used + ?, last_access = ? WHERE id = ?",
    )
    .bind(tr.charge)
    .bind(now)
    .bind(token_id)
    .execute(&mut *conn)
    .await?;
    Ok(AcctOutcome {
        token_id: Some(token_id),
        charged: tr.charge,
        closed: u64::from(tr.close),
        ignored: None,
    })
}

async fn sweep(
    conn: &mut SqliteConnection,
    now: i64,
    stale_after: i64,
) -> Result<SweepOutcome, StoreError> {
    let stale = sqlx::query(
        "UPDATE sessions SET state = 'closed', stopped_at = ?1, close_reason = 'stale' \
         WHERE state = 'active' AND updated_at <= ?1 - ?2",
    )
    .bind(now)
    .bind(stale_after)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let purged = sqlx::query("DELETE FROM sessions WHERE state = 'pending' AND expires_at <= ?")
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(SweepOutcome {
        stale_closed: stale,
        pending_purged: purged,
    })
}
