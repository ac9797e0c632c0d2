//! The PostgreSQL writer: one task per node owns one connection and commits
//! the requests waiting in batches (group commit), like SQLite's writer:
//! it takes every request waiting, runs each one's read-check-write in
//! order inside one transaction (each under its own savepoint), commits,
//! and only then answers all of them. Several nodes run their writers on
//! one database; races between them are settled by row locks:
//!
//! - every batch first locks the tokens its requests name, in id order
//!   (`SELECT … FOR UPDATE`), so that two nodes deciding on one token take
//!   turns, and two batches cannot wait on each other in a circle;
//! - a request then counts, decides (policy/) and records with the token
//!   locked: two devices racing for the last place of a UserLimit code on
//!   two nodes get one Accept; an Interim-Update retransmitted to the other
//!   node finds the session time already recorded and charges nothing; a
//!   single-use code is spent once.
//!
//! A request answered by this writer is committed: Access-Accepts and
//! Accounting-Responses alike leave after the COMMIT (PostgreSQL's commit
//! is durable with `synchronous_commit = on`, its default). While the
//! database is unreachable every request fails at once (no answer: the NAS
//! retries or fails over to another node), and the writer reconnects with
//! a growing delay (0.1 s to 5 s).
//!
//! Per node, by design: the brute-force throttle (in this task) and the
//! retransmit cache (in the UDP server). This writer keeps no cache of the
//! database, so there is nothing another node's writes could make stale.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use crate::policy::accounting::{self, AcctStatus, Ended, Plan};
use crate::policy::auth::{
    self, AuthOptions, Decision, LivePlaces, RejectReason, RequestFacts, TokenFacts,
};
use crate::policy::throttle::{Throttle, Verdict};
use crate::store::writer::{
    AcceptFacts, AcctJob, AcctOutcome, AuthJob, AuthOutcome, SweepOutcome, WriterGauges,
    WriterSettings,
};
use crate::store::{LiveSession, StoreError};
use crate::token::parse::code_key;

/// Requests taken into one transaction at most.
const MAX_BATCH: usize = 512;
/// Requests waiting at most; more are shed (the NAS retries).
const QUEUE: usize = 8192;
/// A request that met a deadlock is run again this many times.
const DEADLOCK_TRIES: usize = 3;
/// LastAccess is stamped by a login only when it is older than this.
pub(super) const LAST_ACCESS_RESOLUTION: i64 = 60;
/// Taken (per transaction) by the stale-session sweep: one node at a time.
const SWEEP_LOCK: i64 = 0x7261_6467_6174_6502;

type Then<T> = Box<dyn FnOnce(Result<T, StoreError>) + Send>;

enum Op {
    Auth(AuthJob, Then<AuthOutcome>),
    Acct(AcctJob, Then<AcctOutcome>),
    Flush(oneshot::Sender<Result<(), StoreError>>),
    Sweep {
        now: i64,
        stale_after: i64,
        done: oneshot::Sender<Result<SweepOutcome, StoreError>>,
    },
}

impl Op {
    /// Answer with an error (the request is not answered to the NAS).
    fn fail(self, e: impl Fn() -> StoreError) {
        match self {
            Op::Auth(_, then) => then(Err(e())),
            Op::Acct(_, then) => then(Err(e())),
            Op::Flush(done) => {
                let _ = done.send(Err(e()));
            }
            Op::Sweep { done, .. } => {
                let _ = done.send(Err(e()));
            }
        }
    }
}

/// Handle to the writer's lanes; cheap to clone. The tasks end when the
/// last handle is dropped.
///
/// A node runs [`LANES`] lanes, each a task with a connection of its own
/// and its own batches, so that PostgreSQL works on several transactions
/// (and commits) at once. A login goes to the lane of its device (or, with
/// none, of its NAS), so that one device's attempts are counted by the
/// throttle in the order they came; accounting to the lane of its code (or
/// session), so that one code's charges keep their order. Lanes are like
/// nodes to each other: the same row locks settle their races. The
/// throttle is one for all lanes.
#[derive(Clone)]
pub struct Writer {
    lanes: Arc<[mpsc::Sender<Op>]>,
    gauges: Arc<WriterGauges>,
    throttle: Arc<std::sync::Mutex<Throttle>>,
}

/// Lanes (connections that write) per node. Two keep PostgreSQL busy while
/// one lane waits for its commit: on the 2-vCPU benchmark machine one lane
/// gave ~5.4k accounting requests/s, two ~8k, four no more than two
/// (session 11, short runs).
pub const LANES: usize = 2;

impl Writer {
    /// Start the writer's lanes, each on a connection of its own.
    pub fn start(pg: tokio_postgres::Config, hosts: String, settings: WriterSettings) -> Writer {
        let gauges = Arc::new(WriterGauges::default());
        let throttle = Arc::new(std::sync::Mutex::new(Throttle::new(
            settings.throttle.clone(),
        )));
        let lanes: Vec<mpsc::Sender<Op>> = (0..LANES)
            .map(|_| {
                let (tx, rx) = mpsc::channel(QUEUE / LANES);
                tokio::spawn(run(
                    pg.clone(),
                    hosts.clone(),
                    settings.clone(),
                    rx,
                    gauges.clone(),
                    throttle.clone(),
                ));
                tx
            })
            .collect();
        Writer {
            lanes: lanes.into(),
            gauges,
            throttle,
        }
    }

    /// The lane of a key (a code, or a session).
    fn lane(&self, key: &str) -> &mpsc::Sender<Op> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        &self.lanes[(h.finish() as usize) % self.lanes.len()]
    }

    fn queue(&self, key: &str, op: Op) -> Result<(), StoreError> {
        self.lane(key).try_send(op).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => StoreError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => StoreError::WriterGone,
        })
    }

    /// Decide an Access-Request and record it; `then` gets the answer once
    /// committed.
    pub fn authorize_then(
        &self,
        job: AuthJob,
        then: impl FnOnce(Result<AuthOutcome, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        let key = match &job.device {
            Some(d) => format!("{}\u{1}{d}", job.nas),
            None => job.nas.clone(),
        };
        self.queue(&key, Op::Auth(job, Box::new(then)))
    }

    /// Apply an Accounting-Request; `then` gets the answer once committed.
    pub fn account_then(
        &self,
        job: AcctJob,
        then: impl FnOnce(Result<AcctOutcome, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        let key = match (&job.user_name, &job.acct_session_id) {
            (Some(u), _) => code_key(u),
            (None, Some(sid)) => format!("{}\u{1}{sid}", job.nas),
            // Accounting-On/Off: the NAS.
            (None, None) => job.nas.clone(),
        };
        self.queue(&key, Op::Acct(job, Box::new(then)))
    }

    /// Wait until everything submitted before has been committed, on every
    /// lane.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let mut waits = Vec::with_capacity(self.lanes.len());
        for lane in self.lanes.iter() {
            let (done, rx) = oneshot::channel();
            lane.send(Op::Flush(done))
                .await
                .map_err(|_| StoreError::WriterGone)?;
            waits.push(rx);
        }
        for rx in waits {
            rx.await.map_err(|_| StoreError::WriterGone)??;
        }
        Ok(())
    }

    /// Close stale sessions and purge expired pending places (one node at a
    /// time: a node that finds another sweeping skips this round).
    pub async fn sweep(&self, now: i64, stale_after: i64) -> Result<SweepOutcome, StoreError> {
        let (done, rx) = oneshot::channel();
        self.lanes[0]
            .send(Op::Sweep {
                now,
                stale_after,
                done,
            })
            .await
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// New brute-force limits, for every lane at once.
    pub async fn set_throttle(&self, cfg: crate::config::ThrottleConfig) -> Result<(), StoreError> {
        self.throttle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_config(cfg);
        Ok(())
    }

    pub fn queue_depth(&self) -> usize {
        self.lanes
            .iter()
            .map(|l| l.max_capacity() - l.capacity())
            .sum()
    }

    pub fn gauges(&self) -> &WriterGauges {
        &self.gauges
    }
}

/// The writer's connection and its statements, prepared when it connects
/// (so that the methods take `&self`: the requests of a batch run at once
/// on the one connection, and their statements go out pipelined).
pub(super) struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

/// Every statement the writer runs, prepared at connect.
/// Settings of the writer's connections (see [`connect`]).
///
/// The statements below sort by `id + 0`, not `id`: an order that no index
/// gives, so that the plan finds the rows through the index of what the
/// statement looks for (code, session id, token) and sorts those few. With
/// `ORDER BY id` a plan made while a table is small walks the primary key in
/// id order and filters, and keeps doing so as the table grows
/// (tests/postgres.rs `the_writers_plans_use_their_indexes_…`).
pub const WRITER_SESSION: &str = "SET enable_seqscan = off";

/// Every statement the writer prepares on each connection (its own and
/// the set-based accounting's).
pub fn prepared_statements() -> Vec<&'static str> {
    STATEMENTS
        .iter()
        .chain(super::accounting::STATEMENTS)
        .copied()
        .collect()
}

/// The writer's own statements (see [`prepared_statements`]).
const STATEMENTS: &[&str] = &[
    LOCK_TOKENS,
    LIVE_PLACES_OF_CODES,
    TOKEN_FACTS,
    TOKEN_FACTS_LOCKED,
    LIVE_DEVICES,
    REFRESH_PENDING,
    INSERT_PENDING,
    STAMP_LOGIN,
    TOKEN_USE,
    SESSIONS_BY_ID,
    SESSION_BY_ID_AND_USER,
    LOCK_SESSION_TOKENS,
    NAS_RESTART,
    REPLACED,
    FIND_PENDING,
    SESSION_UPDATE,
    SESSION_CLOSE,
    SESSION_REOPEN,
    CONFIRM_PENDING,
    INSERT_SESSION,
    CHARGE,
    LIVE_SESSIONS,
];

impl Conn {
    /// COMMIT the open transaction. PostgreSQL answers the COMMIT of a
    /// transaction a statement failed in with ROLLBACK, not an error: a
    /// caller that pipelines it checks every statement's result.
    pub(super) async fn commit(&self) -> Result<(), tokio_postgres::Error> {
        self.client.batch_execute("COMMIT").await
    }

    /// COMMIT a transaction that made nothing durable (it read, and at
    /// most locked rows): without waiting for the WAL flush, which would
    /// keep nothing that matters after a crash.
    pub(super) async fn commit_unflushed(&self) -> Result<(), tokio_postgres::Error> {
        self.client
            .batch_execute("SET LOCAL synchronous_commit = off; COMMIT")
            .await
    }

    fn statement(&self, sql: &'static str) -> Option<&Statement> {
        self.statements.get(sql)
    }

    pub(super) async fn query(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        match self.statement(sql) {
            Some(s) => self.client.query(s, params).await,
            None => self.client.query(sql, params).await,
        }
    }

    pub(super) async fn query_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        match self.statement(sql) {
            Some(s) => self.client.query_opt(s, params).await,
            None => self.client.query_opt(sql, params).await,
        }
    }

    pub(super) async fn execute(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        match self.statement(sql) {
            Some(s) => self.client.execute(s, params).await,
            None => self.client.execute(sql, params).await,
        }
    }
}

async fn connect(pg: &tokio_postgres::Config) -> Result<Conn, tokio_postgres::Error> {
    let (client, connection) = pg.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "PostgreSQL: the writer's connection ended");
        }
    });
    // Every statement of the writer finds its rows through an index. A
    // statement is planned once per connection (a generic plan), perhaps
    // while the tables are still nearly empty, when scanning a whole table
    // looks cheapest and would then be kept as the table grows: rule that
    // out for this connection. (Planning each execution instead,
    // plan_cache_mode = force_custom_plan, costs half the throughput.)
    client.batch_execute(WRITER_SESSION).await?;
    // Prepared together: one round trip for all of them.
    let all = prepared_statements();
    let prepared =
        futures_util::future::try_join_all(all.iter().map(|sql| client.prepare(sql))).await?;
    let statements = all.into_iter().zip(prepared).collect();
    Ok(Conn { client, statements })
}

async fn run(
    pg: tokio_postgres::Config,
    hosts: String,
    settings: WriterSettings,
    mut rx: mpsc::Receiver<Op>,
    gauges: Arc<WriterGauges>,
    throttle: Arc<std::sync::Mutex<Throttle>>,
) {
    let mut conn: Option<Conn> = None;
    let mut backoff = Duration::from_millis(100);
    let mut batch: Vec<Op> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        if conn.as_ref().is_none_or(|c| c.client.is_closed()) {
            match connect(&pg).await {
                Ok(c) => {
                    if backoff > Duration::from_millis(100) {
                        tracing::info!(hosts = %hosts, "PostgreSQL: the writer is connected again");
                    }
                    conn = Some(c);
                    backoff = Duration::from_millis(100);
                }
                Err(e) => {
                    // Nothing is answered while the database is away: the
                    // NAS retries, or fails over to another node.
                    let reason = crate::store::pg_detail(&e);
                    tracing::warn!(hosts = %hosts, error = %reason, retry_in = ?backoff, "PostgreSQL: the writer cannot connect; requests are not answered");
                    for op in batch.drain(..) {
                        op.fail(|| StoreError::Unreachable {
                            hosts: hosts.clone(),
                            reason: reason.clone(),
                        });
                    }
                    // Requests that came meanwhile fail too, then wait.
                    let until = tokio::time::Instant::now() + backoff;
                    while let Ok(Some(op)) = tokio::time::timeout_at(until, rx.recv()).await {
                        op.fail(|| StoreError::Unreachable {
                            hosts: hosts.clone(),
                            reason: reason.clone(),
                        });
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let ops = std::mem::take(&mut batch);
        let (nb, t0) = (ops.len(), Instant::now());
        // Whether the batch writes rows (a Flush or Sweep alone proves
        // little about the disk).
        let writes = ops.iter().any(|o| matches!(o, Op::Auth(..) | Op::Acct(..)));
        let done = run_batch(c, ops, &settings, &throttle).await;
        if done.is_ok() {
            gauges.batch_size.observe(nb as f64);
            gauges.batch_seconds.observe(t0.elapsed().as_secs_f64());
            if writes {
                gauges.disk_full.store(false, Ordering::Relaxed);
            }
        }
        if let Err(e) = done {
            // PostgreSQL's own disk: SQLSTATE 53100 (disk_full) says so.
            // Set until a batch that writes commits again; other failures
            // leave it as it is.
            if e.code() == Some(&SqlState::DISK_FULL) {
                gauges.disk_full.store(true, Ordering::Relaxed);
            }
            tracing::warn!(hosts = %hosts, error = %e, "PostgreSQL: a batch failed; its requests are not answered");
            if c.client.is_closed() {
                conn = None;
            }
        }
        let (d, n, g) = throttle.lock().unwrap_or_else(|p| p.into_inner()).tracked();
        gauges.throttled_devices.store(d, Ordering::Relaxed);
        gauges.throttled_nases.store(n, Ordering::Relaxed);
        gauges.good_devices.store(g, Ordering::Relaxed);
    }
}

/// What a request came to, to be delivered after the commit.
enum Done {
    Auth(Then<AuthOutcome>, Result<AuthOutcome, StoreError>),
    Acct(Then<AcctOutcome>, Result<AcctOutcome, StoreError>),
    Flush(oneshot::Sender<Result<(), StoreError>>),
}

/// A request of the batch, and what it came to.
#[derive(Clone, Copy)]
enum Job<'a> {
    Auth(&'a AuthJob),
    Acct(&'a AcctJob),
}

enum Outcome {
    Auth(AuthOutcome),
    Acct(AcctOutcome),
}

impl Job<'_> {
    /// What a request must be run in order with: requests that share a
    /// key run one after the other, in the order they came; the others at
    /// the same time. None: a barrier (Accounting-On/Off touches every
    /// session of its NAS), run alone between what came before and after.
    fn keys(self) -> Option<Vec<String>> {
        match self {
            Job::Auth(a) => Some(vec![code_key(&a.user_name)]),
            Job::Acct(a) => match a.status {
                AcctStatus::AccountingOn | AcctStatus::AccountingOff => None,
                _ => {
                    let mut k = Vec::with_capacity(2);
                    if let Some(u) = &a.user_name {
                        k.push(code_key(u));
                    }
                    if let Some(sid) = &a.acct_session_id {
                        k.push(format!("\u{1}{}\u{1}{sid}", a.nas));
                    }
                    Some(k)
                }
            },
        }
    }

    async fn run(
        self,
        c: &Conn,
        settings: &WriterSettings,
        throttle: &std::sync::Mutex<Throttle>,
    ) -> Result<Outcome, StoreError> {
        match self {
            Job::Auth(a) => authorize(c, a, settings, throttle, None)
                .await
                .map(Outcome::Auth),
            Job::Acct(a) => account(c, a).await.map(Outcome::Acct),
        }
    }
}

/// One batch: its requests in one transaction. Sweeps run in transactions
/// of their own after it. On an error of the batch as a whole every request
/// gets it (and none is answered to a NAS).
async fn run_batch(
    c: &mut Conn,
    ops: Vec<Op>,
    settings: &WriterSettings,
    throttle: &std::sync::Mutex<Throttle>,
) -> Result<(), tokio_postgres::Error> {
    let mut sweeps = Vec::new();
    let mut work = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            Op::Sweep {
                now,
                stale_after,
                done,
            } => sweeps.push((now, stale_after, done)),
            other => work.push(other),
        }
    }
    if !work.is_empty() {
        let jobs: Vec<Option<Job>> = work
            .iter()
            .map(|op| match op {
                Op::Auth(j, _) => Some(Job::Auth(j)),
                Op::Acct(j, _) => Some(Job::Acct(j)),
                _ => None,
            })
            .collect();
        // The fast way: the batch's requests at once, pipelined on the
        // connection; the slow way, when that fails (a request's error
        // aborts the whole transaction, or a deadlock with another node):
        // one after the other, each under a savepoint.
        let mut committed = false;
        let mut outcomes = match pipelined(c, &jobs, settings, throttle).await {
            Ok((o, done)) => {
                committed = done;
                Some(o)
            }
            Err(e) => {
                tracing::debug!(error = %e, "PostgreSQL: a pipelined batch failed; running it one request at a time");
                None
            }
        };
        if outcomes.is_none() {
            outcomes = match one_by_one(c, &jobs, settings, throttle).await {
                Ok(o) => Some(o),
                Err(e) => {
                    fail_all(work, &e);
                    return Err(e);
                }
            };
        }
        let outcomes = outcomes.unwrap_or_default();
        let mut done: Vec<Done> = Vec::with_capacity(work.len());
        for (op, outcome) in work.into_iter().zip(outcomes) {
            match op {
                Op::Auth(_, then) => done.push(Done::Auth(
                    then,
                    outcome.and_then(|o| match o {
                        Outcome::Auth(o) => Ok(o),
                        Outcome::Acct(_) => Err(StoreError::WriterGone),
                    }),
                )),
                Op::Acct(_, then) => done.push(Done::Acct(
                    then,
                    outcome.and_then(|o| match o {
                        Outcome::Acct(o) => Ok(o),
                        Outcome::Auth(_) => Err(StoreError::WriterGone),
                    }),
                )),
                Op::Flush(tx) => done.push(Done::Flush(tx)),
                Op::Sweep { .. } => {}
            }
        }
        // The hot path sent its COMMIT with its last statements.
        let commit = if committed { Ok(()) } else { c.commit().await };
        if let Err(e) = commit {
            let msg = e.to_string();
            for d in done {
                let err = || StoreError::CommitFailed(msg.clone());
                match d {
                    Done::Auth(then, _) => then(Err(err())),
                    Done::Acct(then, _) => then(Err(err())),
                    Done::Flush(tx) => {
                        let _ = tx.send(Err(err()));
                    }
                }
            }
            return Err(e);
        }
        for d in done {
            match d {
                Done::Auth(then, r) => then(r),
                Done::Acct(then, r) => then(r),
                Done::Flush(tx) => {
                    let _ = tx.send(Ok(()));
                }
            }
        }
    }
    for (now, stale_after, tx) in sweeps {
        let _ = tx.send(sweep(c, now, stale_after).await);
    }
    Ok(())
}

/// Every request's outcome (None for a flush), in order.
type Outcomes = Vec<Result<Outcome, StoreError>>;

/// BEGIN, lock the batch's tokens in id order (so that two nodes' batches
/// cannot wait on each other in a circle), and run the requests: those
/// that share no key at the same time, their statements pipelined. Any
/// error rolls the whole transaction back (`Err`). On the hot path (no
/// Accounting-On/Off, no request that needs a round trip of its own) the
/// COMMIT goes out with the last writes, and the flag says so: a batch is
/// then two round trips, [BEGIN + lock + reads] and [writes + COMMIT].
/// Otherwise the transaction is left open for the caller's COMMIT.
async fn pipelined(
    c: &Conn,
    jobs: &[Option<Job<'_>>],
    settings: &WriterSettings,
    throttle: &std::sync::Mutex<Throttle>,
) -> Result<(Outcomes, bool), StoreError> {
    // An Accounting-On/Off in the batch closes sessions that later
    // packets may name: then nothing is read ahead of it.
    let barrier = jobs
        .iter()
        .any(|j| matches!(j, Some(j) if j.keys().is_none()));
    // BEGIN, the lock of the tokens, and (without a barrier) what the
    // set-based accounting reads, in one round trip: in this order on the
    // connection, so the reads run after the lock.
    let ahead: Vec<&AcctJob> = if barrier {
        Vec::new()
    } else {
        jobs.iter()
            .filter_map(|j| match j {
                Some(Job::Acct(a)) if super::accounting::may_take(a) => Some(*a),
                _ => None,
            })
            .collect()
    };
    // Logins decided without a lock: a login of a code no accounting
    // packet of this batch names, when no Accounting-On/Off is in it; their
    // tokens are read in the same round trip.
    let charged: std::collections::HashSet<String> = jobs
        .iter()
        .filter_map(|j| match j {
            Some(Job::Acct(a)) => a.user_name.as_deref().map(code_key),
            _ => None,
        })
        .collect();
    let early: Vec<(usize, &AuthJob)> = if barrier {
        Vec::new()
    } else {
        jobs.iter()
            .enumerate()
            .filter_map(|(i, j)| match j {
                Some(Job::Auth(a)) if !charged.contains(&code_key(&a.user_name)) => Some((i, *a)),
                _ => None,
            })
            .collect()
    };
    // Their tokens that need a lock (UserLimit, or a device to bind) are
    // locked with the accounting's, and their places read after the lock.
    let mut login_keys: Vec<String> = early.iter().map(|(_, a)| code_key(&a.user_name)).collect();
    login_keys.sort();
    login_keys.dedup();
    let early_facts = futures_util::future::try_join_all(early.iter().map(|(_, a)| {
        let key = code_key(&a.user_name);
        async move { c.query(TOKEN_FACTS, &[&key, &a.business_id]).await }
    }));
    let places = async {
        if login_keys.is_empty() {
            Ok(Vec::new())
        } else {
            c.query(LIVE_PLACES_OF_CODES, &[&login_keys]).await
        }
    };
    let ((begun, locked, read_ahead), (fetched, places)) = futures_util::future::join(
        futures_util::future::join3(
            c.client.batch_execute("BEGIN"),
            lock_tokens(c, jobs, &login_keys, settings.bind_mac_on_first_use),
            super::accounting::fetch(c, &ahead),
        ),
        futures_util::future::join(early_facts, places),
    )
    .await;
    begun?;
    let r = async {
        let locked = locked?;
        let mut held = Held::new(&locked, &places?)?;
        let read_ahead: Option<super::accounting::Fetched> =
            if barrier { None } else { Some(read_ahead?) };
        let read_ahead = read_ahead.as_ref();
        let fetched = fetched?;
        let mut out: Vec<Option<Result<Outcome, StoreError>>> =
            (0..jobs.len()).map(|_| None).collect();
        // In order (the throttle counts failures in the order they come),
        // without a round trip: each decided from what was read, or left
        // for the locked path below.
        let mut stamps: Vec<Stamp> = Vec::new();
        let mut places: Vec<Place> = Vec::new();
        // Logins left for the locked path, with their token as read.
        let mut read: HashMap<usize, Vec<Row>> = HashMap::new();
        for ((i, a), rows) in early.iter().zip(fetched) {
            match decide_early(a, settings, throttle, &rows, &mut held)? {
                Some((outcome, stamp, place)) => {
                    out[*i] = Some(Ok(Outcome::Auth(outcome)));
                    stamps.extend(stamp);
                    places.extend(place);
                }
                None => {
                    read.insert(*i, rows);
                }
            }
        }
        let read = std::sync::Mutex::new(read);
        let writes_early = !places.is_empty() || !stamps.is_empty();
        // The rest, in segments between barriers; in a segment, requests
        // that share no key at the same time; with the logins' stamps, sent
        // first (the COMMIT, when it goes with the last writes, follows
        // them on the connection).
        let stamps = futures_util::future::try_join(
            futures_util::future::try_join_all(places.iter().map(|p| async move {
                match p {
                    Place::Refresh {
                        token_id,
                        device,
                        now,
                        expires,
                    } => {
                        c.execute(REFRESH_PENDING, &[expires, now, token_id, device])
                            .await
                    }
                    Place::Insert {
                        token_id,
                        nas,
                        device,
                        now,
                        expires,
                    } => {
                        c.execute(INSERT_PENDING, &[token_id, nas, device, now, expires])
                            .await
                    }
                }
            })),
            futures_util::future::try_join_all(stamps.iter().map(|(now, mac, id)| async move {
                c.execute(STAMP_LOGIN, &[now, mac, id]).await
            })),
        );
        let rest = async {
            // Every request decided from what was read: the stamps, then
            // the COMMIT, in one round trip. Nothing written (logins that
            // only read, or locked tokens to decide on): nothing to flush.
            if !barrier
                && jobs
                    .iter()
                    .zip(&out)
                    .all(|(j, o)| j.is_none() || o.is_some())
            {
                if writes_early {
                    c.commit().await?;
                } else {
                    c.commit_unflushed().await?;
                }
                return Ok((out, true));
            }
            let mut committed = false;
            let mut start = 0;
            while start < jobs.len() {
                if let Some(Some(j)) = jobs.get(start) {
                    if j.keys().is_none() {
                        let o = j.run(c, settings, throttle).await?;
                        out[start] = Some(Ok(o));
                        start += 1;
                        continue;
                    }
                }
                let end = (start..jobs.len())
                    .find(|&i| matches!(jobs[i], Some(j) if j.keys().is_none()))
                    .unwrap_or(jobs.len());
                let todo: Vec<Option<Job>> = (start..end)
                    .map(|i| if out[i].is_some() { None } else { jobs[i] })
                    .collect();
                // Groups of accounting packets only go to the set-based
                // path (store/postgres/accounting.rs), the others one
                // request at a time, the groups at once.
                let (fast, slow): (Vec<Vec<usize>>, Vec<Vec<usize>>) =
                    group(&todo).into_iter().partition(|members| {
                        members.iter().any(|&i| todo[i].is_some())
                            && members.iter().all(|&i| match todo[i] {
                                None => true,
                                Some(Job::Acct(a)) => super::accounting::may_take(a),
                                Some(Job::Auth(_)) => false,
                            })
                    });
                let todo = &todo;
                let read = &read;
                let run_groups = |groups: Vec<Vec<usize>>| {
                    futures_util::future::try_join_all(groups.into_iter().map(
                        |members| async move {
                            let mut res = Vec::with_capacity(members.len());
                            for i in members {
                                let rows = read
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .remove(&(start + i));
                                let o = match (todo[i], rows) {
                                    (Some(Job::Auth(a)), rows @ Some(_)) => {
                                        authorize(c, a, settings, throttle, rows)
                                            .await
                                            .map(Outcome::Auth)?
                                    }
                                    (Some(j), _) => j.run(c, settings, throttle).await?,
                                    (None, _) => continue,
                                };
                                res.push((start + i, Ok(o)));
                            }
                            Ok::<_, StoreError>(res)
                        },
                    ))
                };
                // The last writes of the transaction when nothing runs
                // one by one: then the COMMIT goes with them.
                let commit = !barrier && slow.is_empty();
                let (slow_done, (fast_done, late, done)) = futures_util::future::try_join(
                    run_groups(slow),
                    set_based(c, todo, fast, &locked, read_ahead, commit),
                )
                .await?;
                committed = done;
                for group in slow_done {
                    for (i, o) in group {
                        out[i] = Some(o);
                    }
                }
                for (i, o) in fast_done {
                    out[start + i] = Some(Ok(Outcome::Acct(o)));
                }
                // Groups the set-based path did not take, after it.
                for group in run_groups(late).await? {
                    for (i, o) in group {
                        out[i] = Some(o);
                    }
                }
                start = end;
            }
            Ok::<_, StoreError>((out, committed))
        };
        // A failed stamp fails the batch even when the COMMIT went out
        // (PostgreSQL then rolled back).
        let (_, (out, committed)) =
            futures_util::future::try_join(async { stamps.await.map_err(StoreError::from) }, rest)
                .await?;
        let out = out
            .into_iter()
            .map(|o| o.unwrap_or(Err(StoreError::WriterGone)))
            .collect();
        Ok((out, committed))
    }
    .await;
    if r.is_err() {
        let _ = c.client.batch_execute("ROLLBACK").await;
    }
    r
}

/// The accounting groups `fast` (indexes into `todo`) through the
/// set-based path: read once, decided in arrival order, written once.
/// Returns the outcomes (by index into `todo`), the groups it did not
/// take (see `accounting::Batch::takes`), for the one-by-one path, and
/// whether it committed: with `commit`, when it took every group, the
/// COMMIT goes out with its writes.
async fn set_based(
    c: &Conn,
    todo: &[Option<Job<'_>>],
    fast: Vec<Vec<usize>>,
    locked: &[Row],
    fetched: Option<&super::accounting::Fetched>,
    commit: bool,
) -> Result<(Vec<(usize, AcctOutcome)>, Vec<Vec<usize>>, bool), StoreError> {
    if fast.is_empty() {
        return Ok((Vec::new(), Vec::new(), false));
    }
    let acct = |i: usize| match todo.get(i) {
        Some(Some(Job::Acct(a))) => Some(*a),
        _ => None,
    };
    let jobs: Vec<&AcctJob> = fast.iter().flatten().filter_map(|&i| acct(i)).collect();
    // Read with BEGIN (see `pipelined`), or now, after an Accounting-On/Off.
    let read_now;
    let fetched = match fetched {
        Some(f) => f,
        None => {
            read_now = super::accounting::fetch(c, &jobs).await?;
            &read_now
        }
    };
    let mut batch = super::accounting::batch(locked, fetched)?;
    let (taken, late): (Vec<Vec<usize>>, Vec<Vec<usize>>) = fast
        .into_iter()
        .partition(|m| m.iter().filter_map(|&i| acct(i)).all(|a| batch.takes(a)));
    let mut order: Vec<usize> = taken.into_iter().flatten().collect();
    order.sort_unstable();
    let mut decided = Vec::with_capacity(order.len());
    for i in order {
        if let Some(a) = acct(i) {
            let (o, ran_out) = batch.account(a);
            decided.push((i, o, ran_out));
        }
    }
    let written = batch.write(c, commit && late.is_empty()).await?;
    let live = written.live;
    let out = decided
        .into_iter()
        .map(|(i, mut o, ran_out)| {
            if ran_out {
                if let Some(t) = o.token_id {
                    o.disconnect = live.get(&t).cloned().unwrap_or_default();
                }
            }
            (i, o)
        })
        .collect();
    Ok((out, late, written.committed))
}

/// A LastAccess / first use stamp to write: (now, MAC to bind, token id).
type Stamp = (i64, Option<String>, i64);

/// A login decided from its token as read, without a lock: `None` when
/// its decision needs the token locked (it counts places, or binds a
/// device), else the outcome and the LastAccess / first use stamp to
/// write (now, MAC to bind, token id). Records the outcome with the
/// throttle, as [`authorize`] does.
fn decide_early(
    a: &AuthJob,
    s: &WriterSettings,
    throttle: &std::sync::Mutex<Throttle>,
    rows: &[Row],
    held: &mut Held,
) -> Result<Option<EarlyLogin>, StoreError> {
    let now = a.now;
    let clock = Instant::now();
    let mut t = throttle.lock().unwrap_or_else(|p| p.into_inner());
    if t.check(&a.nas, a.device.as_deref(), clock) != Verdict::Allow {
        let o = AuthOutcome {
            decision: Decision::Reject(RejectReason::Throttled),
            token_id: None,
            accepted: None,
        };
        return Ok(Some((o, None, None)));
    }
    let (opts, req) = (auth_options(a, s), request_facts(a));
    let found = match rows {
        [r] => Some(facts_row(r, now)?),
        [] => None,
        _ => {
            tracing::warn!(
                nas = %a.nas,
                "code matches tokens of several businesses; set business_id on the client"
            );
            None
        }
    };
    // A token that needs the lock: decided here when the batch locked it
    // (its places read after the lock), once per batch; a second login of
    // it goes the locked path, after this one's writes.
    let mut live = LivePlaces::default();
    let mut holds: Option<Holds> = None;
    if let Some(f) = &found {
        if needs_lock(&f.facts, s) {
            match held.take(f.token_id, now, a.device.as_deref()) {
                Some((l, h)) => (live, holds) = (l, h),
                None => return Ok(None),
            }
        }
    }
    let decision = auth::decide(found.as_ref().map(|f| &f.facts), &req, &live, opts, now);
    let (guess_failed, accepted) = match &decision {
        Decision::Reject(RejectReason::UnknownCode | RejectReason::WrongPassword) => (true, false),
        Decision::Accept(_) => (false, true),
        Decision::Reject(_) => (false, false),
    };
    t.record(&a.nas, a.device.as_deref(), guess_failed, accepted, clock);
    let Some(f) = found else {
        let o = AuthOutcome {
            decision,
            token_id: None,
            accepted: None,
        };
        return Ok(Some((o, None, None)));
    };
    let place = match &decision {
        Decision::Accept(g) if f.facts.user_limit.is_some() => {
            let expires = now + s.pending_place_ttl;
            match (g.already_holds_place, &a.device) {
                // An active session, or a pending place with more than
                // half its time left: nothing to write.
                (true, Some(_))
                    if holds.is_some_and(|h| match h {
                        Holds::Active => true,
                        Holds::Pending(e) => !auth::refresh_place(e, now, s.pending_place_ttl),
                    }) =>
                {
                    None
                }
                (true, Some(device)) => Some(Place::Refresh {
                    token_id: f.token_id,
                    device: device.clone(),
                    now,
                    expires,
                }),
                _ => Some(Place::Insert {
                    token_id: f.token_id,
                    nas: a.nas.clone(),
                    device: a.device.clone(),
                    now,
                    expires,
                }),
            }
        }
        _ => None,
    };
    let stamp = match &decision {
        Decision::Accept(g) => {
            let stale = f
                .last_access
                .is_none_or(|t| now - t >= LAST_ACCESS_RESOLUTION);
            (stale || g.bind_mac.is_some() || f.first_used_on.is_none())
                .then(|| (now, g.bind_mac.clone(), f.token_id))
        }
        Decision::Reject(_) => None,
    };
    let accepted = matches!(decision, Decision::Accept(_)).then(|| AcceptFacts {
        business_id: f.business_id,
        rate_limit: f.rate_limit.clone(),
        window_end: f.facts.valid_to,
    });
    let o = AuthOutcome {
        decision,
        token_id: Some(f.token_id),
        accepted,
    };
    Ok(Some((o, stamp, place)))
}

/// A login decided early: its outcome, and what it writes.
type EarlyLogin = (AuthOutcome, Option<Stamp>, Option<Place>);

/// A pending or active session of a token: (device, active, expires_at).
type LivePlace = (Option<String>, bool, Option<i64>);

/// A place a login takes or keeps on a UserLimit code.
enum Place {
    Refresh {
        token_id: i64,
        device: String,
        now: i64,
        expires: i64,
    },
    Insert {
        token_id: i64,
        nas: String,
        device: Option<String>,
        now: i64,
        expires: i64,
    },
}

/// The tokens a batch locked for its logins, with their live places as
/// read after the lock; each decided on once (see [`decide_early`]).
struct Held {
    /// token id → (device, active, expires_at) of its pending and active
    /// sessions.
    places: HashMap<i64, Vec<LivePlace>>,
    locked: std::collections::HashSet<i64>,
}

impl Held {
    /// From LOCK_TOKENS's rows (those locked for logins: column 7 false)
    /// and LIVE_PLACES_OF_CODES's.
    fn new(locked: &[Row], places: &[Row]) -> Result<Held, tokio_postgres::Error> {
        let mut h = Held {
            places: HashMap::new(),
            locked: std::collections::HashSet::new(),
        };
        for r in locked {
            if !r.try_get::<_, bool>(7)? {
                h.locked.insert(r.try_get(0)?);
            }
        }
        for r in places {
            h.places.entry(r.try_get(0)?).or_default().push((
                r.try_get(1)?,
                r.try_get(2)?,
                r.try_get(3)?,
            ));
        }
        Ok(h)
    }

    /// The live places of token `id` at `now` when the batch locked it and
    /// no login of this batch decided on it yet, and the place `device`
    /// holds among them.
    fn take(
        &mut self,
        id: i64,
        now: i64,
        device: Option<&str>,
    ) -> Option<(LivePlaces, Option<Holds>)> {
        if !self.locked.remove(&id) {
            return None;
        }
        let live: Vec<LivePlace> = self
            .places
            .remove(&id)
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, active, expires)| *active || expires.is_some_and(|e| e > now))
            .collect();
        let holds = device.and_then(|d| {
            let mine = live.iter().filter(|(x, _, _)| x.as_deref() == Some(d));
            let mut h = None;
            for (_, active, expires) in mine {
                h = match (h, active, expires) {
                    (_, true, _) | (Some(Holds::Active), _, _) => Some(Holds::Active),
                    (Some(Holds::Pending(a)), false, Some(e)) => Some(Holds::Pending(a.max(*e))),
                    (None, false, Some(e)) => Some(Holds::Pending(*e)),
                    (h, false, None) => h,
                };
            }
            h
        });
        let devices = live.into_iter().map(|(d, _, _)| d).collect();
        Some((LivePlaces { devices }, holds))
    }
}

/// The place a device holds on a token: an active session, or a pending
/// place until a time.
#[derive(Clone, Copy)]
enum Holds {
    Active,
    Pending(i64),
}

/// A decision that counts places or binds a device is made on the token's
/// row locked: two nodes deciding on it take turns.
fn needs_lock(f: &TokenFacts, s: &WriterSettings) -> bool {
    f.user_limit.is_some() || (s.bind_mac_on_first_use && f.mac_address.is_none())
}

fn auth_options(a: &AuthJob, s: &WriterSettings) -> AuthOptions {
    AuthOptions {
        accept_any_password: a.accept_any_password,
        case_sensitive_codes: s.case_sensitive_codes,
        bind_mac_on_first_use: s.bind_mac_on_first_use,
    }
}

fn request_facts(a: &AuthJob) -> RequestFacts<'_> {
    RequestFacts {
        user_name: &a.user_name,
        credential: &a.credential,
        device: a.device.as_deref(),
        device_mac: a.device_mac.as_deref(),
    }
}

/// The requests one after the other, each under a savepoint (a failing
/// request leaves the others' work intact; one that met a deadlock runs
/// again). The transaction is left open for the caller's COMMIT.
async fn one_by_one(
    c: &Conn,
    jobs: &[Option<Job<'_>>],
    settings: &WriterSettings,
    throttle: &std::sync::Mutex<Throttle>,
) -> Result<Outcomes, tokio_postgres::Error> {
    // BEGIN and the lock in one round trip (in order on the connection).
    let (begun, locked) = futures_util::future::join(
        c.client.batch_execute("BEGIN"),
        lock_tokens(c, jobs, &[], false),
    )
    .await;
    begun?;
    let r = async {
        locked?;
        let mut out = Vec::with_capacity(jobs.len());
        for j in jobs {
            match j {
                Some(j) => out.push(in_savepoint(c, *j, settings, throttle).await?),
                None => out.push(Err(StoreError::WriterGone)),
            }
        }
        Ok(out)
    }
    .await;
    if r.is_err() {
        let _ = c.client.batch_execute("ROLLBACK").await;
    }
    r
}

/// Lock the tokens the batch's requests name by code, in id order (see
/// the module's comment). Logins of tokens without UserLimit need no lock
/// and are left out: only requests that write what they read lock.
async fn lock_tokens(
    c: &Conn,
    jobs: &[Option<Job<'_>>],
    logins: &[String],
    bind: bool,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let mut keys: Vec<String> = jobs
        .iter()
        .filter_map(|j| match j {
            Some(Job::Acct(a)) => a.user_name.as_deref().map(code_key),
            _ => None,
        })
        .collect();
    keys.sort();
    keys.dedup();
    if keys.is_empty() && logins.is_empty() {
        return Ok(Vec::new());
    }
    c.query(LOCK_TOKENS, &[&keys, &logins, &bind]).await
}

/// Indices of `jobs` in groups: connected by a shared key, in order within
/// each group.
fn group(jobs: &[Option<Job<'_>>]) -> Vec<Vec<usize>> {
    let mut owner: HashMap<String, usize> = HashMap::new();
    let mut parent: Vec<usize> = (0..jobs.len()).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for (i, j) in jobs.iter().enumerate() {
        let Some(keys) = j.and_then(|j| j.keys()) else {
            continue;
        };
        for k in keys {
            match owner.get(&k) {
                Some(&o) => {
                    let (a, b) = (find(&mut parent, o), find(&mut parent, i));
                    if a != b {
                        parent[b.max(a)] = a.min(b);
                    }
                }
                None => {
                    owner.insert(k, i);
                }
            }
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut index: HashMap<usize, usize> = HashMap::new();
    for i in 0..jobs.len() {
        let r = find(&mut parent, i);
        let g = *index.entry(r).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    groups
}

fn fail_all(work: Vec<Op>, e: &tokio_postgres::Error) {
    let msg = e.to_string();
    for op in work {
        op.fail(|| StoreError::CommitFailed(msg.clone()));
    }
}

/// Run one request under a savepoint: released on success, rolled back on
/// error (so that one failing request leaves the others' work intact); a
/// request that met a deadlock with another node runs again.
async fn in_savepoint(
    c: &Conn,
    job: Job<'_>,
    settings: &WriterSettings,
    throttle: &std::sync::Mutex<Throttle>,
) -> Result<Result<Outcome, StoreError>, tokio_postgres::Error> {
    let mut tries = 0;
    loop {
        c.client.batch_execute("SAVEPOINT job").await?;
        match job.run(c, settings, throttle).await {
            Ok(v) => {
                c.client.batch_execute("RELEASE SAVEPOINT job").await?;
                return Ok(Ok(v));
            }
            Err(e) => {
                c.client
                    .batch_execute("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job")
                    .await?;
                tries += 1;
                let retry = matches!(&e, StoreError::Pg(p)
                    if p.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED)
                        || p.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE));
                if !retry || tries >= DEADLOCK_TRIES {
                    return Ok(Err(e));
                }
            }
        }
    }
}

/// The batch's tokens, locked in one order every batch keeps (code, then
/// id), so that two batches never wait for each other in a circle. (In id
/// order alone the plan could walk the whole primary key.)
/// (It returns what the set-based accounting needs of each token:
/// store/postgres/accounting.rs reads them from here.)
/// $1: the codes of accounting packets (every token of each, locked);
/// $2: the codes of logins (only tokens whose decision needs the lock:
/// a UserLimit, or, with $3 (bind_mac_on_first_use), no MAC yet). Column 7
/// says whether a row is accounting's.
pub(super) const LOCK_TOKENS: &str = "SELECT id, code_key, business_id, \
     minutes_included * 60 - seconds_used, user_limit, last_access, first_used_on, \
     code_key = ANY($1), megabytes_included * 1000000 - bytes_used \
     FROM access_tokens WHERE code_key = ANY($1::TEXT[] || $2::TEXT[]) \
     AND (code_key = ANY($1) OR user_limit IS NOT NULL OR ($3 AND mac_address IS NULL)) \
     ORDER BY code_key, id FOR UPDATE";
/// The pending and active sessions of the UserLimit tokens of some codes
/// (token id, device, active, expires_at); a batch reads it after
/// LOCK_TOKENS.
const LIVE_PLACES_OF_CODES: &str = "SELECT token_id, device, state = 'active', expires_at \
     FROM sessions WHERE token_id = ANY(ARRAY(SELECT id FROM access_tokens \
     WHERE code_key = ANY($1) AND user_limit IS NOT NULL)) \
     AND state IN ('pending', 'active') ORDER BY id + 0";

const TOKEN_FACTS: &str =
    "SELECT id, access_code, minutes_included, seconds_used, valid_from, valid_to, \
     user_limit, mac_address, last_access, valid_for_minutes, first_used_on, \
     CASE WHEN single_use THEN spent_on END, business_id, rate_limit, megabytes_included, \
     bytes_used FROM access_tokens WHERE code_key = $1 AND ($2::BIGINT IS NULL OR business_id = $2) \
     ORDER BY id + 0 LIMIT 2";
const TOKEN_FACTS_LOCKED: &str =
    "SELECT id, access_code, minutes_included, seconds_used, valid_from, valid_to, \
     user_limit, mac_address, last_access, valid_for_minutes, first_used_on, \
     CASE WHEN single_use THEN spent_on END, business_id, rate_limit, megabytes_included, \
     bytes_used FROM access_tokens WHERE id = $1 FOR UPDATE";
const LIVE_DEVICES: &str = "SELECT device FROM sessions WHERE token_id = $1 \
     AND state IN ('pending', 'active') AND (state = 'active' OR expires_at > $2)";
const REFRESH_PENDING: &str = "UPDATE sessions SET expires_at = $1, updated_at = $2 \
     WHERE token_id = $3 AND state IN ('pending', 'active') AND device = $4 AND state = 'pending'";
const INSERT_PENDING: &str =
    "INSERT INTO sessions (token_id, nas, device, state, created_at, updated_at, expires_at) \
     VALUES ($1, $2, $3, 'pending', $4, $4, $5)";
const STAMP_LOGIN: &str =
    "UPDATE access_tokens SET last_access = $1, mac_address = COALESCE(mac_address, $2), \
     first_used_on = COALESCE(first_used_on, $1) WHERE id = $3";

/// A login, on its token locked where its decision needs it; `read`, the
/// token's TOKEN_FACTS rows when already read in this transaction.
async fn authorize(
    c: &Conn,
    a: &AuthJob,
    s: &WriterSettings,
    throttle: &std::sync::Mutex<Throttle>,
    read: Option<Vec<Row>>,
) -> Result<AuthOutcome, StoreError> {
    let clock = Instant::now();
    let allowed = {
        let t = throttle.lock().unwrap_or_else(|p| p.into_inner());
        t.check(&a.nas, a.device.as_deref(), clock) == Verdict::Allow
    };
    if !allowed {
        return Ok(AuthOutcome {
            decision: Decision::Reject(RejectReason::Throttled),
            token_id: None,
            accepted: None,
        });
    }
    let outcome = authorize_unthrottled(c, a, s, read).await?;
    let (guess_failed, accepted) = match &outcome.decision {
        Decision::Reject(RejectReason::UnknownCode | RejectReason::WrongPassword) => (true, false),
        Decision::Accept(_) => (false, true),
        Decision::Reject(_) => (false, false),
    };
    throttle.lock().unwrap_or_else(|p| p.into_inner()).record(
        &a.nas,
        a.device.as_deref(),
        guess_failed,
        accepted,
        clock,
    );
    Ok(outcome)
}

/// A token as a login reads it.
struct Facts {
    token_id: i64,
    last_access: Option<i64>,
    first_used_on: Option<i64>,
    business_id: i64,
    rate_limit: Option<String>,
    facts: TokenFacts,
}

fn facts_row(r: &Row, now: i64) -> Result<Facts, tokio_postgres::Error> {
    let first_used_on: Option<i64> = r.try_get(10)?;
    Ok(Facts {
        token_id: r.try_get(0)?,
        last_access: r.try_get(8)?,
        first_used_on,
        business_id: r.try_get(12)?,
        rate_limit: r.try_get(13)?,
        facts: TokenFacts {
            access_code: r.try_get(1)?,
            minutes_included: r.try_get(2)?,
            seconds_used: r.try_get(3)?,
            valid_from: r.try_get(4)?,
            valid_to: auth::window_end(r.try_get(5)?, r.try_get(9)?, first_used_on, now),
            user_limit: r.try_get(6)?,
            mac_address: r.try_get(7)?,
            spent: r.try_get::<_, Option<i64>>(11)?.is_some(),
            megabytes_included: r.try_get(14)?,
            bytes_used: r.try_get(15)?,
        },
    })
}

async fn authorize_unthrottled(
    c: &Conn,
    a: &AuthJob,
    s: &WriterSettings,
    read: Option<Vec<Row>>,
) -> Result<AuthOutcome, StoreError> {
    let now = a.now;
    let rows = match read {
        Some(rows) => rows,
        None => {
            let key = code_key(&a.user_name);
            c.query(TOKEN_FACTS, &[&key, &a.business_id]).await?
        }
    };
    let (opts, req) = (auth_options(a, s), request_facts(a));
    if rows.len() > 1 {
        tracing::warn!(
            nas = %a.nas,
            "code matches tokens of several businesses; set business_id on the client"
        );
    }
    let Some(r) = rows.first().filter(|_| rows.len() == 1) else {
        let decision = auth::decide(None, &req, &LivePlaces::default(), opts, now);
        return Ok(AuthOutcome {
            decision,
            token_id: None,
            accepted: None,
        });
    };
    let mut t = facts_row(r, now)?;
    // A decision that counts places or binds a device is made on the
    // token's row locked (read again): two nodes deciding on it take turns.
    // Other logins write nothing that depends on what they read. The
    // places are read in the same round trip, after the lock.
    let mut devices = None;
    if needs_lock(&t.facts, s) {
        let id = t.token_id;
        let (locked, live) =
            futures_util::future::join(c.query_opt(TOKEN_FACTS_LOCKED, &[&id]), async {
                match t.facts.user_limit {
                    Some(_) => c.query(LIVE_DEVICES, &[&id, &now]).await.map(Some),
                    None => Ok(None),
                }
            })
            .await;
        devices = live?;
        let Some(r) = locked? else {
            let decision = auth::decide(None, &req, &LivePlaces::default(), opts, now);
            return Ok(AuthOutcome {
                decision,
                token_id: None,
                accepted: None,
            });
        };
        t = facts_row(&r, now)?;
    }
    let token_id = t.token_id;
    let facts = t.facts;
    // Places matter only where a UserLimit counts them.
    let live = if facts.user_limit.is_some() {
        let rows = match devices {
            Some(rows) => rows,
            None => c.query(LIVE_DEVICES, &[&token_id, &now]).await?,
        };
        let devices = rows
            .iter()
            .map(|r| r.try_get::<_, Option<String>>(0))
            .collect::<Result<Vec<_>, _>>()?;
        LivePlaces { devices }
    } else {
        LivePlaces::default()
    };
    let decision = auth::decide(Some(&facts), &req, &live, opts, now);
    if let Decision::Accept(g) = &decision {
        // The place and the stamp in one round trip.
        let expires = now + s.pending_place_ttl;
        let place = async {
            match (facts.user_limit, g.already_holds_place) {
                (None, _) => Ok(0),
                (Some(_), true) => {
                    c.execute(REFRESH_PENDING, &[&expires, &now, &token_id, &a.device])
                        .await
                }
                (Some(_), false) => {
                    c.execute(
                        INSERT_PENDING,
                        &[&token_id, &a.nas, &a.device, &now, &expires],
                    )
                    .await
                }
            }
        };
        let stale = t
            .last_access
            .is_none_or(|t| now - t >= LAST_ACCESS_RESOLUTION);
        let stamp = async {
            if stale || g.bind_mac.is_some() || t.first_used_on.is_none() {
                c.execute(STAMP_LOGIN, &[&now, &g.bind_mac, &token_id])
                    .await
            } else {
                Ok(0)
            }
        };
        futures_util::future::try_join(place, stamp).await?;
    }
    let accepted = matches!(decision, Decision::Accept(_)).then(|| AcceptFacts {
        business_id: t.business_id,
        rate_limit: t.rate_limit,
        window_end: facts.valid_to,
    });
    Ok(AuthOutcome {
        decision,
        token_id: Some(token_id),
        accepted,
    })
}

/// What accounting reads about a token.
struct TokenUse {
    id: i64,
    /// Seconds left before this packet.
    left: i64,
    /// Bytes left of its data allowance before this packet (`None`:
    /// unlimited).
    bytes_left: Option<i64>,
    user_limit: Option<i64>,
    last_access: Option<i64>,
    first_used_on: Option<i64>,
}

/// A [`TokenUse`] from the five columns at `i` (id, seconds left,
/// user_limit, last_access, first_used_on) and the bytes left at `bytes`.
fn token_use_at(r: &Row, i: usize, bytes: usize) -> Result<TokenUse, tokio_postgres::Error> {
    Ok(TokenUse {
        id: r.try_get(i)?,
        left: r.try_get(i + 1)?,
        bytes_left: r.try_get(bytes)?,
        user_limit: r.try_get(i + 2)?,
        last_access: r.try_get(i + 3)?,
        first_used_on: r.try_get(i + 4)?,
    })
}

const TOKEN_USE: &str = "SELECT id, minutes_included * 60 - seconds_used, user_limit, last_access, \
     first_used_on, megabytes_included * 1000000 - bytes_used FROM access_tokens WHERE code_key = $1 AND ($2::BIGINT IS NULL OR business_id = $2) \
     ORDER BY id + 0 LIMIT 2 FOR UPDATE";

/// A session accounting has seen, with its token.
struct SeenSession {
    id: i64,
    ended: Ended,
    session_time: i64,
    /// Its octet counters' high-water marks.
    octets: accounting::Octets,
    token: TokenUse,
    code_key: String,
    stopped_at: Option<i64>,
    /// The token's code now (the batch locked the tokens of the packets'
    /// codes; a session of a renamed token may need its own lock).
    token_code_key: String,
}

impl SeenSession {
    fn stored(&self) -> accounting::Stored<'_> {
        accounting::Stored {
            ended: self.ended,
            session_time: self.session_time,
            octets: self.octets,
            code_key: &self.code_key,
            stopped_at: self.stopped_at,
        }
    }
}

fn stored(rows: &[SeenSession]) -> Vec<accounting::Stored<'_>> {
    rows.iter().map(SeenSession::stored).collect()
}

fn seen_session(r: &Row) -> Result<SeenSession, tokio_postgres::Error> {
    let closed: bool = r.try_get(1)?;
    let reason: Option<String> = r.try_get(8)?;
    Ok(SeenSession {
        id: r.try_get(0)?,
        ended: match (closed, reason.as_deref()) {
            (false, _) => Ended::No,
            (true, Some("stale" | "nas-restart" | "replaced")) => Ended::Presumed,
            (true, _) => Ended::ByStop,
        },
        session_time: r.try_get(2)?,
        octets: accounting::Octets {
            input: r.try_get(13)?,
            output: r.try_get(14)?,
        },
        token: token_use_at(r, 3, 12)?,
        code_key: code_key(&r.try_get::<_, String>(9)?),
        stopped_at: r.try_get(10)?,
        token_code_key: r.try_get(11)?,
    })
}

/// The sessions with a NAS and Acct-Session-Id, newest first, with their
/// tokens; read after the tokens are locked (see [`LOCK_SESSION_TOKENS`]).
/// The token is read through a LATERAL subquery, which is looked up by id
/// whatever the statistics say (a join's plan, made on a near-empty
/// table, could scan the tokens for each session).
const SESSIONS_BY_ID: &str = "SELECT s.id, s.state = 'closed', s.session_time, t.id, \
     t.minutes_included * 60 - t.seconds_used, t.user_limit, t.last_access, t.first_used_on, \
     s.close_reason, COALESCE(s.user_name, t.access_code), s.stopped_at, t.code_key, \
     t.megabytes_included * 1000000 - t.bytes_used, s.input_octets, s.output_octets \
     FROM sessions s CROSS JOIN LATERAL (SELECT id, minutes_included, seconds_used, user_limit, \
     last_access, first_used_on, access_code, code_key, megabytes_included, bytes_used \
     FROM access_tokens \
     WHERE id = s.token_id LIMIT 1) t \
     WHERE s.nas = $1 AND s.acct_session_id = $2 ORDER BY s.id + 0 DESC LIMIT 16";
const SESSIONS_BY_ID_LIMIT: usize = 16;
const SESSION_BY_ID_AND_USER: &str = "SELECT s.id, s.state = 'closed', s.session_time, t.id, \
     t.minutes_included * 60 - t.seconds_used, t.user_limit, t.last_access, t.first_used_on, \
     s.close_reason, COALESCE(s.user_name, t.access_code), s.stopped_at, t.code_key, \
     t.megabytes_included * 1000000 - t.bytes_used, s.input_octets, s.output_octets \
     FROM sessions s CROSS JOIN LATERAL (SELECT id, minutes_included, seconds_used, user_limit, \
     last_access, first_used_on, access_code, code_key, megabytes_included, bytes_used \
     FROM access_tokens \
     WHERE id = s.token_id LIMIT 1) t \
     WHERE s.nas = $1 AND s.acct_session_id = $2 AND s.user_name = $3 ORDER BY s.id + 0 DESC LIMIT 1";
/// The tokens of the sessions on an id, locked (a session may belong to a
/// code the packet does not name, which the batch did not lock).
const LOCK_SESSION_TOKENS: &str = "SELECT id FROM access_tokens WHERE id = ANY(ARRAY( \
     SELECT token_id FROM sessions WHERE nas = $1 AND acct_session_id = $2)) ORDER BY id FOR UPDATE";
const NAS_RESTART: &str =
    "UPDATE sessions SET state = 'closed', stopped_at = $1, updated_at = $1, \
     close_reason = 'nas-restart' WHERE state IN ('pending', 'active') AND nas = $2";
const REPLACED: &str = "UPDATE sessions SET state = 'closed', stopped_at = $1, updated_at = $1, \
     close_reason = 'replaced' WHERE id = $2";
const FIND_PENDING: &str = "SELECT id FROM sessions WHERE token_id = $1 \
     AND state IN ('pending', 'active') AND state = 'pending' AND device IS NOT DISTINCT FROM $2 \
     ORDER BY id + 0 LIMIT 1";
const SESSION_UPDATE: &str = "UPDATE sessions SET session_time = $1, updated_at = $2, \
     framed_ip = COALESCE($3, framed_ip), input_octets = GREATEST(input_octets, $4), \
     output_octets = GREATEST(output_octets, $5), input_packets = GREATEST(input_packets, $6), \
     output_packets = GREATEST(output_packets, $7), user_name = COALESCE($9, user_name) WHERE id = $8";
const SESSION_CLOSE: &str = "UPDATE sessions SET session_time = $1, updated_at = $2, \
     framed_ip = COALESCE($3, framed_ip), input_octets = GREATEST(input_octets, $4), \
     output_octets = GREATEST(output_octets, $5), input_packets = GREATEST(input_packets, $6), \
     output_packets = GREATEST(output_packets, $7), user_name = COALESCE($9, user_name), \
     state = 'closed', stopped_at = $2, terminate_cause = $10, close_reason = 'stop' WHERE id = $8";
const SESSION_REOPEN: &str = "UPDATE sessions SET session_time = $1, updated_at = $2, \
     framed_ip = COALESCE($3, framed_ip), input_octets = GREATEST(input_octets, $4), \
     output_octets = GREATEST(output_octets, $5), input_packets = GREATEST(input_packets, $6), \
     output_packets = GREATEST(output_packets, $7), user_name = COALESCE($9, user_name), \
     state = 'active', stopped_at = NULL, close_reason = NULL WHERE id = $8";
const CONFIRM_PENDING: &str = "UPDATE sessions SET state = $12, nas = $1, acct_session_id = $2, \
     framed_ip = $3, session_time = $4, updated_at = $5, expires_at = NULL, input_octets = $6, \
     output_octets = $7, input_packets = $8, output_packets = $9, user_name = $11, \
     stopped_at = $13, terminate_cause = $14, close_reason = $15 WHERE id = $10";
const INSERT_SESSION: &str =
    "INSERT INTO sessions (token_id, nas, device, state, acct_session_id, \
     framed_ip, created_at, updated_at, session_time, input_octets, output_octets, input_packets, \
     output_packets, user_name, stopped_at, terminate_cause, close_reason) \
     VALUES ($1, $2, $3, $13, $4, $5, $6, $6, $7, $8, $9, $10, $11, $12, $14, $15, $16)";
const CHARGE: &str =
    "UPDATE access_tokens SET seconds_used = seconds_used + $1, last_access = $2, \
     first_used_on = COALESCE(first_used_on, $2), \
     spent_on = CASE WHEN $3 AND single_use THEN COALESCE(spent_on, $2) ELSE spent_on END, \
     bytes_used = CASE WHEN bytes_used > 9223372036854775807 - $5 THEN 9223372036854775807 \
     ELSE bytes_used + $5 END \
     WHERE id = $4";
pub(super) const LIVE_SESSIONS: &str =
    "SELECT s.nas, s.acct_session_id, COALESCE(s.user_name, t.access_code), \
     s.framed_ip, s.device FROM sessions s JOIN access_tokens t ON t.id = s.token_id \
     WHERE s.token_id = $1 AND s.state IN ('pending', 'active') AND s.state = 'active' \
     AND s.acct_session_id IS NOT NULL ORDER BY s.id + 0";

async fn account(c: &Conn, a: &AcctJob) -> Result<AcctOutcome, StoreError> {
    let now = a.now;
    match a.status {
        AcctStatus::AccountingOn | AcctStatus::AccountingOff => {
            // The NAS (re)started or is going down: none of its sessions or
            // places survive. Idempotent: several nodes may see it.
            let n = c.execute(NAS_RESTART, &[&now, &a.nas]).await?;
            return Ok(AcctOutcome {
                token_id: None,
                charged: 0,
                bytes: 0,
                closed: n,
                ignored: None,
                disconnect: Vec::new(),
            });
        }
        AcctStatus::Other(_) => return Ok(AcctOutcome::ignored("unsupported Acct-Status-Type")),
        AcctStatus::Start | AcctStatus::Interim | AcctStatus::Stop => {}
    }
    let Some(sid) = a.acct_session_id.as_deref() else {
        return Ok(AcctOutcome::ignored("no Acct-Session-Id"));
    };
    let packet_code = a.user_name.as_deref().map(code_key);
    let read = || async {
        c.query(SESSIONS_BY_ID, &[&a.nas, &sid])
            .await?
            .iter()
            .map(seen_session)
            .collect::<Result<Vec<SeenSession>, _>>()
    };
    let mut rows = read().await?;
    // The batch locked the token of the packet's code before reading; a
    // session of another token (renamed since) is read again with its
    // token locked.
    if rows
        .iter()
        .any(|s| Some(&s.token_code_key) != packet_code.as_ref())
    {
        c.query(LOCK_SESSION_TOKENS, &[&a.nas, &sid]).await?;
        rows = read().await?;
    }
    let packet = a.packet(packet_code.as_deref());
    let mut plan = accounting::plan(&stored(&rows), &packet, SESSIONS_BY_ID_LIMIT);
    if plan == Plan::LookForOwn {
        let mut own = None;
        if let Some(user) = a.user_name.as_deref() {
            let by_user = || async {
                c.query_opt(SESSION_BY_ID_AND_USER, &[&a.nas, &sid, &user])
                    .await?
                    .map(|r| seen_session(&r))
                    .transpose()
            };
            own = by_user().await?;
            if own
                .as_ref()
                .is_some_and(|s| Some(&s.token_code_key) != packet_code.as_ref())
            {
                c.query(LOCK_SESSION_TOKENS, &[&a.nas, &sid]).await?;
                own = by_user().await?;
            }
        }
        plan = match own {
            Some(s) => {
                rows = vec![s];
                accounting::plan_own(&rows[0].stored(), &packet)
            }
            None => accounting::plan(&stored(&rows), &packet, usize::MAX),
        };
    }
    let record = match plan {
        Plan::Record(r) => r,
        Plan::Ignore(why) => return Ok(AcctOutcome::ignored(why)),
        Plan::LookForOwn => return Ok(AcctOutcome::ignored("no session found by User-Name")),
    };
    let replaces: Vec<i64> = record
        .replaces
        .iter()
        .filter_map(|&i| rows.get(i).map(|s| s.id))
        .collect();
    let row = record
        .session
        .filter(|&i| i < rows.len())
        .map(|i| rows.swap_remove(i));
    let tr = record.transition;
    if tr.ignore {
        return Ok(AcctOutcome {
            token_id: row.map(|s| s.token.id),
            ..AcctOutcome::ignored("duplicate or late packet")
        });
    }
    let cause = a.terminate_cause.map(i64::from);
    let token = match row {
        Some(s) => {
            let p: [&(dyn ToSql + Sync); 10] = [
                &tr.session_time,
                &now,
                &a.framed_ip,
                &a.input_octets,
                &a.output_octets,
                &a.input_packets,
                &a.output_packets,
                &s.id,
                &a.user_name,
                &cause,
            ];
            if tr.close {
                c.execute(SESSION_CLOSE, &p).await?;
            } else if tr.reopen {
                c.execute(SESSION_REOPEN, &p[..9]).await?;
            } else {
                c.execute(SESSION_UPDATE, &p[..9]).await?;
            }
            s.token
        }
        None => {
            let Some(user) = a.user_name.as_deref() else {
                return Ok(AcctOutcome::ignored("no User-Name"));
            };
            let found = c
                .query(TOKEN_USE, &[&code_key(user), &a.business_id])
                .await?;
            if found.len() > 1 {
                tracing::warn!(
                    nas = %a.nas,
                    "code matches tokens of several businesses; set business_id on the client"
                );
            }
            let Some(r) = found.first().filter(|_| found.len() == 1) else {
                return Ok(AcctOutcome::ignored("unknown code"));
            };
            let token = token_use_at(r, 0, 5)?;
            let opening = accounting::opening(&tr, a.status, a.terminate_cause);
            let (io, oo, ip, op) = a.opening_counters(&opening);
            let pending: Option<i64> = if token.user_limit.is_some() {
                c.query_opt(FIND_PENDING, &[&token.id, &a.device])
                    .await?
                    .map(|r| r.try_get(0))
                    .transpose()?
            } else {
                None
            };
            let (state, stopped_at, cause, reason) = (
                opening.state,
                opening.stopped.then_some(now),
                opening.terminate_cause.map(i64::from),
                opening.close_reason,
            );
            for old in replaces {
                c.execute(REPLACED, &[&now, &old]).await?;
            }
            match pending {
                Some(id) => {
                    c.execute(
                        CONFIRM_PENDING,
                        &[
                            &a.nas,
                            &sid,
                            &a.framed_ip,
                            &tr.session_time,
                            &now,
                            &io,
                            &oo,
                            &ip,
                            &op,
                            &id,
                            &user,
                            &state,
                            &stopped_at,
                            &cause,
                            &reason,
                        ],
                    )
                    .await?;
                }
                None => {
                    c.execute(
                        INSERT_SESSION,
                        &[
                            &token.id,
                            &a.nas,
                            &a.device,
                            &sid,
                            &a.framed_ip,
                            &now,
                            &tr.session_time,
                            &io,
                            &oo,
                            &ip,
                            &op,
                            &user,
                            &state,
                            &stopped_at,
                            &cause,
                            &reason,
                        ],
                    )
                    .await?;
                }
            }
            token
        }
    };
    let spends = accounting::spends(&tr, a.terminate_cause);
    let stale = token
        .last_access
        .is_none_or(|t| now - t >= LAST_ACCESS_RESOLUTION);
    if stale || tr.charge != 0 || tr.bytes != 0 || spends || token.first_used_on.is_none() {
        c.execute(CHARGE, &[&tr.charge, &now, &spends, &token.id, &tr.bytes])
            .await?;
    }
    let disconnect = if accounting::disconnects(token.left, token.bytes_left, &tr) {
        live_sessions(c, token.id).await?
    } else {
        Vec::new()
    };
    Ok(AcctOutcome {
        token_id: Some(token.id),
        charged: tr.charge,
        bytes: tr.bytes,
        closed: u64::from(tr.close),
        ignored: None,
        disconnect,
    })
}

pub(super) async fn live_sessions(c: &Conn, token_id: i64) -> Result<Vec<LiveSession>, StoreError> {
    Ok(live_rows(&c.query(LIVE_SESSIONS, &[&token_id]).await?)?)
}

/// The rows of [`LIVE_SESSIONS`].
pub(super) fn live_rows(rows: &[Row]) -> Result<Vec<LiveSession>, tokio_postgres::Error> {
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

const SWEEP_STALE: &str = "UPDATE sessions SET state = 'closed', stopped_at = $1, close_reason = 'stale' \
     WHERE state IN ('pending', 'active') AND state = 'active' AND updated_at <= $1::BIGINT - $2::BIGINT RETURNING token_id";
const SPEND_STALE: &str = "UPDATE access_tokens SET spent_on = $1 \
     WHERE id = ANY($2) AND single_use AND spent_on IS NULL";
const PURGE_PENDING: &str = "DELETE FROM sessions WHERE state IN ('pending', 'active') \
     AND state = 'pending' AND expires_at <= $1";

/// The stale-session sweep in a transaction of its own, by one node at a
/// time: a node that finds another's sweep under way skips this round.
async fn sweep(c: &mut Conn, now: i64, stale_after: i64) -> Result<SweepOutcome, StoreError> {
    c.client.batch_execute("BEGIN").await?;
    let r = async {
        let got: bool = c
            .query("SELECT pg_try_advisory_xact_lock($1)", &[&SWEEP_LOCK])
            .await?
            .first()
            .map(|r| r.try_get(0))
            .transpose()?
            .unwrap_or(false);
        if !got {
            return Ok(SweepOutcome::default());
        }
        let stale: Vec<i64> = c
            .query(SWEEP_STALE, &[&now, &stale_after])
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        // A session that went silent has ended: it spends a single-use code.
        if !stale.is_empty() {
            c.execute(SPEND_STALE, &[&now, &stale]).await?;
        }
        let purged = c.execute(PURGE_PENDING, &[&now]).await?;
        Ok::<_, StoreError>(SweepOutcome {
            stale_closed: stale.len() as u64,
            pending_purged: purged,
        })
    }
    .await;
    match r {
        Ok(o) => {
            c.client.batch_execute("COMMIT").await?;
            Ok(o)
        }
        Err(e) => {
            let _ = c.client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}
