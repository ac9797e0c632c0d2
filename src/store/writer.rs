//! The writer task: owns the write connection and commits requests in
//! batches. It takes every request waiting, runs each one's read-check-write
//! in order inside one `BEGIN IMMEDIATE` transaction (each under its own
//! savepoint, so one failing request does not spoil the others), commits
//! once, and only then answers all of them. Order inside the batch settles
//! races (two devices on a UserLimit=1 code); one commit per batch makes
//! durability affordable.

use std::time::Duration;

use sqlx::{ConnectOptions, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::sqlite::{token_from_row, Store, TOKEN_COLS};
use super::StoreError;
use crate::policy::auth::{self, AuthOptions, Decision, LivePlaces, RequestFacts, TokenFacts};
use crate::radius::codec::Credential;
use crate::token_parse::code_key;

/// Requests taken into one transaction at most.
const MAX_BATCH: usize = 512;
/// Expired pending places are purged this often.
const PURGE_EVERY: Duration = Duration::from_secs(30);

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

enum Job {
    Auth(AuthJob, oneshot::Sender<Result<AuthOutcome, StoreError>>),
}

/// Handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Decide an Access-Request and record its outcome; returns after commit.
    pub async fn authorize(&self, job: AuthJob) -> Result<AuthOutcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Job::Auth(job, tx))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
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

enum Reply {
    Auth(
        oneshot::Sender<Result<AuthOutcome, StoreError>>,
        Result<AuthOutcome, StoreError>,
    ),
}

async fn run(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Job>, s: WriterSettings) {
    let mut last_purge = std::time::Instant::now();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let mut replies = Vec::with_capacity(batch.len());
        if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await {
            tracing::error!(error = %e, "store: cannot begin a write transaction");
            fail_all(batch.drain(..), &e);
            continue;
        }
        for job in batch.drain(..) {
            match job {
                Job::Auth(a, tx) => {
                    let res = in_savepoint(&mut conn, |c| Box::pin(authorize(c, a, s))).await;
                    replies.push(Reply::Auth(tx, res));
                }
            }
        }
        if last_purge.elapsed() >= PURGE_EVERY {
            last_purge = std::time::Instant::now();
            let now = chrono::Utc::now().timestamp();
            if let Err(e) =
                sqlx::query("DELETE FROM sessions WHERE state = 'pending' AND expires_at <= ?")
                    .bind(now)
                    .execute(&mut conn)
                    .await
            {
                tracing::warn!(error = %e, "store: purging expired pending places failed");
            }
        }
        match sqlx::query("COMMIT").execute(&mut conn).await {
            Ok(_) => {
                for r in replies {
                    match r {
                        Reply::Auth(tx, res) => {
                            let _ = tx.send(res);
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "store: commit failed; the batch is not answered");
                let _ = sqlx::query("ROLLBACK").execute(&mut conn).await;
                for r in replies {
                    match r {
                        Reply::Auth(tx, _) => {
                            let _ = tx.send(Err(StoreError::Db(sqlx::Error::Protocol(format!(
                                "commit failed: {e}"
                            )))));
                        }
                    }
                }
            }
        }
    }
}

fn fail_all(jobs: impl Iterator<Item = Job>, e: &sqlx::Error) {
    for job in jobs {
        match job {
            Job::Auth(_, tx) => {
                let _ = tx.send(Err(StoreError::Db(sqlx::Error::Protocol(e.to_string()))));
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
        let refreshed = if g.already_holds_place {
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
