//! The writer: one OS thread owns the write connection and commits requests
//! in batches (group commit). It takes every request waiting, runs each
//! one's read-check-write in order inside one `BEGIN IMMEDIATE` transaction
//! (each under its own savepoint, so one failing request does not spoil the
//! others), commits once, and only then answers all of them. Order inside
//! the batch settles races (two devices on a UserLimit=1 code); one commit
//! per batch makes durability affordable.
//!
//! The writer talks to SQLite through rusqlite with cached prepared
//! statements, synchronously on its own thread: the hot path runs several
//! statements per request, and sqlx's SQLite driver costs a thread hand-off
//! per statement (measured: 9,000 auth/s and 3,500 accounting updates/s
//! through sqlx, see BENCHMARKS-history.md). Reads for the CLI stay on sqlx. Both
//! use the same bundled SQLite library.

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot};

use super::codes::CodeHints;
use super::stamps::{self, Stamps};
use super::wal::{self, WalControl};
use super::walsync::{Responder, WalSyncer};
use super::Store;
use super::StoreError;
use crate::config::Synchronous;
use crate::store::writer::{
    AcceptFacts, AcctJob, AcctOutcome, AuthJob, AuthOutcome, SweepOutcome, WriterGauges,
    WriterSettings,
};

use crate::policy::accounting::{self, AcctStatus, Ended, Plan};
use crate::policy::auth::{
    self, AuthOptions, Decision, LivePlaces, RejectReason, RequestFacts, TokenFacts,
};
use crate::policy::throttle::{Throttle, Verdict};
use crate::token::parse::code_key;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Requests taken into one transaction at most.
const MAX_BATCH: usize = 1024;

/// A batch taking longer than this is logged at debug level, with where
/// the time went (SQL, COMMIT, WAL checkpoint work after the commit).
const SLOW_BATCH: std::time::Duration = std::time::Duration::from_millis(4);

/// The interval between sweeps of deferred LastAccess stamps (see
/// store/stamps.rs).
pub const LAST_ACCESS_SWEEP_EVERY: std::time::Duration = stamps::SWEEP_EVERY;

/// What the writer thread owns besides the connection.
struct State {
    settings: WriterSettings,
    throttle: Throttle,
    codes: CodeHints,
    stamps: Stamps,
    /// Set by [`Writer::write_stamps`]: a batch of that alone finds the
    /// writer idle.
    stamp_tick: bool,
    /// The database's disk is full (see [`DiskFull`]): Access-Requests that
    /// wrote wait for the commit like accounting, so that none is accepted
    /// with a place, a first use or a MAC binding that is not stored.
    hold_writes: bool,
}

/// A unit of work: runs inside the batch transaction, under its own
/// savepoint, and yields the responder that delivers its result after the
/// commit — or `None` when it answered at once (see [`Durability`]).
type RunWork = Box<dyn FnOnce(&Connection, &mut State) -> Option<Responder> + Send>;

struct Work {
    run: RunWork,
}

/// When a caller gets its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// After the batch has committed (accounting: nothing acknowledged is lost).
    Committed,
    /// As soon as the work has run inside the transaction, before the fsync.
    /// For Access-Requests: the decision and its place are already visible
    /// to every later request of this writer; a crash or failed commit can
    /// only forget a LastAccess stamp or a pending place of the last moment.
    Applied,
}

/// Handle to the writer thread; cheap to clone. The thread ends when the
/// last handle is dropped.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Work>,
    gauges: Arc<WriterGauges>,
}

impl Writer {
    /// Wrap `f` and its continuation `then` into work for the writer thread.
    /// `then` runs on the writer thread: once the batch has committed, or as
    /// soon as `f` ran (see [`Durability`]). Work dropped unrun (the writer
    /// could not begin a transaction) drops `then` uncalled.
    fn work<T, F, C>(durability: Durability, f: F, then: C) -> Work
    where
        T: Send + 'static,
        F: FnOnce(&Job, &mut State) -> Result<T, StoreError> + Send + 'static,
        C: FnOnce(Result<T, StoreError>) + Send + 'static,
    {
        Work {
            run: Box::new(move |conn, s| {
                let mut wrote = false;
                let res = in_job(conn, &mut wrote, |job| f(job, s));
                if durability == Durability::Applied && !(wrote && s.hold_writes) {
                    then(res);
                    return None;
                }
                Some(Box::new(move |commit_err: Option<&str>| {
                    then(match commit_err {
                        None => res,
                        Some(e) => Err(StoreError::CommitFailed(e.to_string())),
                    })
                }))
            }),
        }
    }

    /// Run `f` in the next batch and return its result: once the batch has
    /// committed, or as soon as `f` ran (see [`Durability`]).
    async fn submit<T, F>(&self, durability: Durability, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Job, &mut State) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, StoreError>>();
        let work = Self::work(durability, f, move |res| {
            let _ = tx.send(res);
        });
        self.tx
            .send(work)
            .await
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Queue `f` without waiting; `then` gets the result on the writer
    /// thread. Fails at once when the queue is full (the caller sheds the
    /// request: over UDP the NAS retries).
    fn submit_then<T, F, C>(&self, durability: Durability, f: F, then: C) -> Result<(), StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Job, &mut State) -> Result<T, StoreError> + Send + 'static,
        C: FnOnce(Result<T, StoreError>) + Send + 'static,
    {
        self.tx
            .try_send(Self::work(durability, f, then))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StoreError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => StoreError::WriterGone,
            })
    }

    /// Decide an Access-Request and record its outcome; `then` gets the
    /// answer on the writer thread once applied (before the commit's fsync,
    /// see [`Durability::Applied`]).
    pub fn authorize_then(
        &self,
        job: AuthJob,
        then: impl FnOnce(Result<AuthOutcome, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        self.submit_then(Durability::Applied, move |c, s| authorize(c, job, s), then)
    }

    /// Apply an Accounting-Request; `then` gets the answer on the writer
    /// thread after the commit.
    pub fn account_then(
        &self,
        job: AcctJob,
        then: impl FnOnce(Result<AcctOutcome, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        self.submit_then(
            Durability::Committed,
            move |c, s| account(c, job, &mut s.codes, &mut s.stamps),
            then,
        )
    }

    /// Wait until everything submitted before has been committed, with
    /// every deferred LastAccess stamp (see store/stamps.rs).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.submit(Durability::Committed, |c, s| {
            if s.stamps.len() > 0 {
                c.writing()?;
                s.stamps.write_all(c)?;
            }
            Ok(())
        })
        .await
    }

    /// Run an empty batch; when it is alone (no requests waiting), the
    /// writer then goes on with a due or running sweep of deferred
    /// LastAccess stamps until requests come. Batches of requests write a
    /// chunk anyway; this keeps a server without requests writing them.
    pub async fn write_stamps(&self) -> Result<(), StoreError> {
        self.submit(Durability::Applied, |_, s| {
            s.stamp_tick = true;
            Ok(())
        })
        .await
    }

    /// New brute-force limits, from the next batch on.
    pub async fn set_throttle(&self, cfg: crate::config::ThrottleConfig) -> Result<(), StoreError> {
        self.submit(Durability::Applied, move |_, s| {
            s.throttle.set_config(cfg);
            Ok(())
        })
        .await
    }

    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub fn gauges(&self) -> &WriterGauges {
        &self.gauges
    }

    /// Close stale sessions and purge expired pending places.
    pub async fn sweep(&self, now: i64, stale_after: i64) -> Result<SweepOutcome, StoreError> {
        self.submit(Durability::Committed, move |c, _| {
            sweep(c, now, stale_after)
        })
        .await
    }
}

impl Store {
    /// Start the writer thread on its own connection.
    pub async fn spawn_writer(&self, settings: WriterSettings) -> Result<Writer, StoreError> {
        self.ensure_writable()?;
        let path = self.connect_options().get_filename().to_path_buf();
        let db = self.database_config().clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            let conn = Connection::open(&path)?;
            conn.busy_timeout(db.busy_timeout)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            // Commits never sync here: with synchronous = full the WAL is
            // synced by the sync thread before accounting is answered (see
            // walsync.rs); checkpoints still sync the WAL and the database.
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            conn.set_prepared_statement_cache_capacity(64);
            let (wal, checkpointer) = open_checkpointer(&conn, &path, &db)?;
            Ok((conn, wal, checkpointer))
        })
        .await
        .map_err(|e| StoreError::CommitFailed(e.to_string()))??;
        let (conn, wal, checkpointer) = conn;
        // The checkpoint thread syncs the database file itself (see wal.rs).
        let db_file = std::fs::OpenOptions::new()
            .write(true)
            .open(self.connect_options().get_filename())
            .map_err(|e| {
                wal::remove_hook(&conn);
                StoreError::Open {
                    path: self.connect_options().get_filename().display().to_string(),
                    reason: e.to_string(),
                }
            })?;
        let syncer = match settings.synchronous {
            Synchronous::Full => Some(
                WalSyncer::start(self.connect_options().get_filename()).map_err(|e| {
                    wal::remove_hook(&conn);
                    StoreError::CommitFailed(format!("cannot start the WAL sync thread: {e}"))
                })?,
            ),
            Synchronous::Normal => None,
        };
        let (tx, rx) = mpsc::channel(8192);
        let gauges = Arc::new(WriterGauges::default());
        let state = State {
            throttle: Throttle::new(settings.throttle.clone()),
            codes: CodeHints::start(self.connect_options().get_filename()),
            stamps: Stamps::new(Instant::now(), settings.stamp_sweep_every),
            stamp_tick: false,
            hold_writes: false,
            settings,
        };
        let g = gauges.clone();
        let ctl = wal.clone();
        std::thread::Builder::new()
            .name("radgate-ckpt".into())
            .spawn(move || ctl.run_checkpointer(checkpointer, Some(db_file)))
            .map_err(|e| {
                wal::remove_hook(&conn);
                StoreError::CommitFailed(format!("cannot start the checkpoint thread: {e}"))
            })?;
        let ctl = wal.clone();
        let db_dir = match self.connect_options().get_filename().parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let started = std::thread::Builder::new()
            .name("radgate-writer".into())
            .spawn(move || {
                run(&conn, rx, state, &g, &ctl, syncer.as_ref(), &db_dir);
                // Answers waiting for a sync go out (or fail) first.
                drop(syncer);
                // Unhook before the WalControl can go away, then close.
                wal::remove_hook(&conn);
                drop(conn);
                ctl.shut_down();
            });
        if let Err(e) = started {
            wal.shut_down();
            return Err(StoreError::CommitFailed(format!(
                "cannot start the writer thread: {e}"
            )));
        }
        Ok(Writer { tx, gauges })
    }
}

/// Hand checkpoints from the writer's connection to a checkpoint thread of
/// their own (see [`wal`]): install the WAL hook on `conn` and open the
/// checkpoint thread's connection.
fn open_checkpointer(
    conn: &Connection,
    path: &std::path::Path,
    db: &crate::config::DatabaseConfig,
) -> Result<(Arc<WalControl>, Connection), StoreError> {
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let wal = WalControl::new(u64::try_from(page_size).unwrap_or(4096));
    conn.pragma_update(
        None,
        "journal_size_limit",
        i64::try_from(WalControl::journal_size_limit()).unwrap_or(i64::MAX),
    )?;
    // Replaces (and so turns off) SQLite's automatic checkpoint.
    wal::install_hook(conn, &wal);
    let ckpt = Connection::open(path)?;
    ckpt.busy_timeout(db.busy_timeout)?;
    // A checkpoint syncs the WAL before and the database file after copying
    // back at any level but OFF; never OFF here.
    ckpt.pragma_update(
        None,
        "synchronous",
        match db.synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        },
    )?;
    ckpt.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok((wal, ckpt))
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

fn run(
    conn: &Connection,
    mut rx: mpsc::Receiver<Work>,
    mut state: State,
    gauges: &WriterGauges,
    wal: &WalControl,
    syncer: Option<&WalSyncer>,
    db_dir: &std::path::Path,
) {
    let mut batch: Vec<Work> = Vec::with_capacity(MAX_BATCH);
    let mut disk_full: Option<DiskFull> = None;
    // Every commit is made without an fsync. Access-Requests are answered
    // as soon as they ran (Durability::Applied); the rest once the batch
    // has committed and, with synchronous = full, once the sync thread has
    // synced the WAL (walsync.rs) — while this thread goes on with the
    // next batch.
    while let Some(first) = rx.blocking_recv() {
        if syncer.is_some_and(WalSyncer::failed) {
            tracing::error!(
                "store: the writer stops: a WAL sync failed (see above); restart radgate"
            );
            return;
        }
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let t0 = Instant::now();
        let nb = batch.len();
        if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "store: cannot begin a write transaction");
            // Dropping the work drops its reply channel: every caller of this
            // batch gets an error and sends nothing (the NAS retries).
            batch.clear();
            continue;
        }
        if let Err(e) = state.codes.refresh(conn) {
            tracing::warn!(error = %e, "store: cannot check for changes by other connections");
            state.codes.distrust();
        }
        let responders: Vec<Responder> = batch
            .drain(..)
            .filter_map(|work| (work.run)(conn, &mut state))
            .collect();
        // Deferred LastAccess stamps ride on the batch's commit.
        if let Err(e) = state.stamps.sweep(conn, t0, stamps::CHUNK) {
            tracing::warn!(error = %e, "store: cannot write LastAccess stamps; they are lost");
        }
        gauges
            .deferred_stamps
            .store(state.stamps.len(), Ordering::Relaxed);
        let (d, n, g) = state.throttle.tracked();
        gauges.throttled_devices.store(d, Ordering::Relaxed);
        gauges.throttled_nases.store(n, Ordering::Relaxed);
        gauges.good_devices.store(g, Ordering::Relaxed);
        let t1 = Instant::now();
        // While the disk is full, every batch writes a page, so that the
        // first commit that succeeds (a request's, or /readyz's empty one)
        // shows there is room again.
        let committed = if disk_full.is_some() {
            has_room(db_dir)
                .and_then(|()| probe_write(conn))
                .and_then(|()| exec(conn, "COMMIT"))
        } else {
            exec(conn, "COMMIT")
        };
        match committed {
            Ok(()) => {
                if let Some(full) = disk_full.take() {
                    tracing::info!(
                        full_for = ?full.since.elapsed(),
                        batches_not_answered = full.batches,
                        "store: writing again (the database's disk has room)"
                    );
                    state.hold_writes = false;
                    gauges.disk_full.store(false, Ordering::Relaxed);
                }
                let t2 = Instant::now();
                gauges.batch_size.observe(nb as f64);
                gauges.batch_seconds.observe((t2 - t0).as_secs_f64());
                match syncer {
                    Some(s) => s.after_sync(responders),
                    None => responders.into_iter().for_each(|r| r(None)),
                }
                // Now the WAL's turn (see wal.rs).
                let f0 = wal.frames();
                wal.after_commit(conn);
                let t3 = Instant::now();
                if t3 - t0 > SLOW_BATCH {
                    tracing::debug!(
                        requests = nb,
                        sql = ?(t1 - t0),
                        commit = ?(t2 - t1),
                        wal = ?(t3 - t2),
                        frames = f0,
                        "store: slow batch"
                    );
                }
            }
            Err(e) if is_disk_full(&e) => {
                // SQLite's write() of the WAL frames failed (ENOSPC comes
                // back as SQLITE_FULL): the commit did not happen, SQLite
                // rolls the transaction back, and none of its requests is
                // answered. Nothing acknowledged depends on it, so the
                // writer goes on and the next batch tries again. (A failed
                // fsync is another matter: see walsync.rs.)
                let _ = exec(conn, "ROLLBACK");
                let full = disk_full.get_or_insert_with(|| {
                    tracing::error!(
                        error = %e,
                        "store: the database's disk is full; requests are not answered until \
                         space is free (the NASes retry)"
                    );
                    DiskFull::new()
                });
                full.batches += 1;
                full.remind(&e);
                state.hold_writes = true;
                gauges.disk_full.store(true, Ordering::Relaxed);
                let msg = e.to_string();
                responders.into_iter().for_each(|r| r(Some(&msg)));
            }
            Err(e) => {
                tracing::error!(error = %e, "store: commit failed; the batch is not answered");
                let _ = exec(conn, "ROLLBACK");
                let msg = e.to_string();
                responders.into_iter().for_each(|r| r(Some(&msg)));
            }
        }
        // The tick found no requests waiting (its batch is the tick alone):
        // a running sweep of LastAccess stamps goes on in transactions of
        // its own until requests come (one arriving meanwhile waits for one
        // chunk at most).
        let idle = nb == 1 && state.stamp_tick;
        state.stamp_tick = false;
        while idle && rx.is_empty() && state.stamps.sweeping(Instant::now()) {
            if let Err(e) = sweep_alone(conn, &mut state.stamps, wal) {
                tracing::warn!(error = %e, "store: cannot write LastAccess stamps; they are lost");
                break;
            }
        }
        gauges
            .deferred_stamps
            .store(state.stamps.len(), Ordering::Relaxed);
    }
}

/// How often the writer says again that the disk is still full.
const DISK_FULL_REMINDER: std::time::Duration = std::time::Duration::from_secs(60);

/// The database's disk has been full since the first commit that failed
/// with SQLITE_FULL.
struct DiskFull {
    since: Instant,
    /// Batches not answered since.
    batches: u64,
    reminded: Instant,
}

impl DiskFull {
    fn new() -> DiskFull {
        let now = Instant::now();
        DiskFull {
            since: now,
            batches: 0,
            reminded: now,
        }
    }

    /// Log once a minute at most while the disk stays full.
    fn remind(&mut self, e: &rusqlite::Error) {
        if self.reminded.elapsed() >= DISK_FULL_REMINDER {
            self.reminded = Instant::now();
            tracing::error!(
                error = %e,
                full_for = ?self.since.elapsed(),
                batches_not_answered = self.batches,
                "store: the database's disk is still full; requests are not answered until \
                 space is free"
            );
        }
    }
}

/// Whether SQLite failed for want of space (SQLITE_FULL: a write returned
/// ENOSPC, or the database reached its maximum size).
pub(crate) fn is_disk_full(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull
    )
}

/// Free bytes the database's disk needs before the writer tries again
/// after it was full: a commit may fit in the space an earlier, failed one
/// left allocated in the WAL file while the next larger batch fails again;
/// this keeps radgate from flapping between full and ready.
const DISK_ROOM: u64 = 1 << 20;

/// Whether the database's filesystem has [`DISK_ROOM`] free (for radgate's
/// user: root may use the blocks reserved for it); SQLITE_FULL if not. A
/// filesystem that cannot tell is left to the probe write.
fn has_room(dir: &std::path::Path) -> rusqlite::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return Ok(());
    };
    // SAFETY: `path` is NUL-terminated and `st` is written by statvfs.
    let (ok, st, root) = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        let ok = libc::statvfs(path.as_ptr(), &mut st) == 0;
        (ok, st, libc::geteuid() == 0)
    };
    if !ok {
        return Ok(());
    }
    let blocks = if root { st.f_bfree } else { st.f_bavail };
    // fsblkcnt_t and c_ulong are 32 bits wide on some targets.
    #[allow(clippy::useless_conversion)]
    let free = u64::from(blocks).saturating_mul(u64::from(st.f_frsize));
    if free >= DISK_ROOM {
        return Ok(());
    }
    Err(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
        Some(format!(
            "{free} bytes free on the database's disk; waiting for {DISK_ROOM}"
        )),
    ))
}

/// Write one page inside the open transaction without changing anything:
/// `PRAGMA user_version` (the migrations' count) set to what it is. Its
/// commit appends a frame to the WAL, so it succeeds only where there is
/// room.
fn probe_write(conn: &Connection) -> rusqlite::Result<()> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    conn.pragma_update(None, "user_version", v)
}

/// One chunk of a stamp sweep in a transaction of its own. Not synced
/// here: stamps need no acknowledgement, and the next synced commit or
/// checkpoint carries them to disk.
fn sweep_alone(conn: &Connection, stamps: &mut Stamps, wal: &WalControl) -> rusqlite::Result<()> {
    exec(conn, "BEGIN IMMEDIATE")?;
    let res = stamps
        .sweep(conn, Instant::now(), stamps::IDLE_CHUNK)
        .and_then(|_| exec(conn, "COMMIT"));
    match res {
        Ok(()) => {
            wal.after_commit(conn);
            Ok(())
        }
        Err(e) => {
            let _ = exec(conn, "ROLLBACK");
            Err(e)
        }
    }
}

/// One request's work inside the batch transaction. Reads need nothing
/// more; before its first write a request calls [`Job::writing`], which
/// opens its savepoint, so that a request that fails half-way leaves the
/// others' work intact. Most Access-Requests only read (the code is in
/// service and LastAccess recent): they pay for no savepoint.
pub(crate) struct Job<'c> {
    conn: &'c Connection,
    savepoint: std::cell::Cell<bool>,
}

impl std::ops::Deref for Job<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Job<'_> {
    /// Call before the request's first write.
    fn writing(&self) -> Result<(), StoreError> {
        if !self.savepoint.get() {
            exec(self.conn, "SAVEPOINT job")?;
            self.savepoint.set(true);
        }
        Ok(())
    }
}

/// Run `f` as one request: its writes (if any) under a savepoint, released
/// on success, rolled back on error.
/// `wrote` tells whether it wrote (took its savepoint).
fn in_job<T>(
    conn: &Connection,
    wrote: &mut bool,
    f: impl FnOnce(&Job) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let job = Job {
        conn,
        savepoint: std::cell::Cell::new(false),
    };
    let res = f(&job);
    *wrote = job.savepoint.get();
    if !job.savepoint.get() {
        return res;
    }
    match res {
        Ok(v) => {
            exec(conn, "RELEASE job")?;
            Ok(v)
        }
        Err(e) => {
            let _ = exec(conn, "ROLLBACK TO job");
            let _ = exec(conn, "RELEASE job");
            Err(e)
        }
    }
}

/// LastAccess is stamped by a login only when it is older than this, so a
/// burst of logins on one code does not rewrite its row every time
/// (LastAccess is exact to this many seconds).
const LAST_ACCESS_RESOLUTION: i64 = 60;

macro_rules! token_facts {
    () => {
        "SELECT id, access_code, minutes_included, seconds_used, valid_from, valid_to, \
         user_limit, mac_address, last_access, valid_for_minutes, first_used_on, \
         CASE WHEN single_use = 1 THEN spent_on END, \
         business_id, rate_limit, code_key, megabytes_included, bytes_used FROM access_tokens "
    };
}
const TOKEN_FACTS: &str = concat!(
    token_facts!(),
    "WHERE code_key = ?1 AND (?2 IS NULL OR business_id = ?2) LIMIT 2"
);
/// The row a [`CodeHints`] hint names; checked before use.
const TOKEN_FACTS_BY_ID: &str = concat!(token_facts!(), "WHERE id = ?1");

/// What the writer reads about a token besides [`TokenFacts`].
struct TokenRow {
    id: i64,
    last_access: Option<i64>,
    first_used_on: Option<i64>,
    business_id: i64,
    rate_limit: Option<String>,
}

fn authorize(conn: &Job, a: AuthJob, state: &mut State) -> Result<AuthOutcome, StoreError> {
    let clock = Instant::now();
    let verdict = state.throttle.check(&a.nas, a.device.as_deref(), clock);
    if verdict != Verdict::Allow {
        // Refused without a store lookup.
        return Ok(AuthOutcome {
            decision: Decision::Reject(RejectReason::Throttled),
            token_id: None,
            accepted: None,
        });
    }
    let outcome = authorize_unthrottled(
        conn,
        &a,
        &state.settings,
        &mut state.codes,
        &mut state.stamps,
    )?;
    let (guess_failed, accepted) = match &outcome.decision {
        Decision::Reject(RejectReason::UnknownCode | RejectReason::WrongPassword) => (true, false),
        Decision::Accept(_) => (false, true),
        Decision::Reject(_) => (false, false),
    };
    state
        .throttle
        .record(&a.nas, a.device.as_deref(), guess_failed, accepted, clock);
    Ok(outcome)
}

/// A token row as [`TOKEN_FACTS`] reads it, with its code key.
fn token_facts_row(
    r: &rusqlite::Row,
    now: i64,
) -> rusqlite::Result<(TokenRow, TokenFacts, String)> {
    let first_used_on: Option<i64> = r.get(10)?;
    Ok((
        TokenRow {
            id: r.get(0)?,
            last_access: r.get(8)?,
            first_used_on,
            business_id: r.get(12)?,
            rate_limit: r.get(13)?,
        },
        TokenFacts {
            access_code: r.get(1)?,
            minutes_included: r.get(2)?,
            seconds_used: r.get(3)?,
            valid_from: r.get(4)?,
            valid_to: auth::window_end(r.get(5)?, r.get(9)?, first_used_on, now),
            user_limit: r.get(6)?,
            mac_address: r.get(7)?,
            spent: r.get::<_, Option<i64>>(11)?.is_some(),
            megabytes_included: r.get(15)?,
            bytes_used: r.get(16)?,
        },
        r.get(14)?,
    ))
}

/// A token row found by code: what the caller reads, its code key and
/// business (to check a hinted row), and its id.
struct Found<T> {
    row: T,
    code_key: String,
    business_id: i64,
    id: i64,
}

/// The one token a code names: by its hint when the hinted row checks out,
/// else through the code index (see [`CodeHints`]). `by_id` and `by_key`
/// read the same columns, WHERE `id = ?1`, and WHERE `code_key = ?1 AND (?2
/// IS NULL OR business_id = ?2) LIMIT 2`. A code in several businesses,
/// asked for without one, is no token (and logged).
fn find_by_code<T>(
    conn: &Connection,
    key: &str,
    business_id: Option<i64>,
    nas: &str,
    codes: &mut CodeHints,
    (by_id, by_key): (&str, &str),
    read: impl Fn(&rusqlite::Row) -> rusqlite::Result<Found<T>>,
) -> Result<Option<T>, StoreError> {
    let hash = codes.hash(key);
    if let Some(id) = codes.get(hash, business_id) {
        let hinted = conn
            .prepare_cached(by_id)?
            .query_row(params![id], &read)
            .optional()?;
        if let Some(f) = hinted {
            if f.code_key == key && business_id.is_none_or(|b| b == f.business_id) {
                return Ok(Some(f.row));
            }
        }
    }
    let mut rows = conn
        .prepare_cached(by_key)?
        .query_map(params![key, business_id], &read)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match rows.len() {
        1 => rows.pop().map(|f| {
            codes.learn(hash, f.id);
            f.row
        }),
        0 => None,
        _ => {
            tracing::warn!(
                nas,
                "code matches tokens of several businesses; set business_id on the client"
            );
            None
        }
    })
}

fn authorize_unthrottled(
    conn: &Job,
    a: &AuthJob,
    s: &WriterSettings,
    codes: &mut CodeHints,
    stamps: &mut Stamps,
) -> Result<AuthOutcome, StoreError> {
    let now = a.now;
    let token = find_by_code(
        conn,
        &code_key(&a.user_name),
        a.business_id,
        &a.nas,
        codes,
        (TOKEN_FACTS_BY_ID, TOKEN_FACTS),
        |r| {
            let (row, facts, code_key) = token_facts_row(r, now)?;
            Ok(Found {
                code_key,
                business_id: row.business_id,
                id: row.id,
                row: (row, facts),
            })
        },
    )?;
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
    let Some((row, facts)) = token else {
        let decision = auth::decide(None, &req, &LivePlaces::default(), opts, now);
        return Ok(AuthOutcome {
            decision,
            token_id: None,
            accepted: None,
        });
    };
    let token_id = row.id;
    // Places matter only where a UserLimit counts them: an unlimited token
    // records none, so a flood of logins cannot grow the table.
    let live = if facts.user_limit.is_some() {
        let devices = conn
            .prepare_cached(LIVE_DEVICES)?
            .query_map(params![token_id, now], |r| r.get::<_, Option<String>>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        LivePlaces { devices }
    } else {
        LivePlaces::default()
    };
    let decision = auth::decide(Some(&facts), &req, &live, opts, now);
    if let Decision::Accept(g) = &decision {
        if facts.user_limit.is_some() {
            conn.writing()?;
            let expires = now + s.pending_place_ttl;
            // A device that holds a place refreshes its pending place (a
            // live session needs nothing); a new device takes a place.
            if g.already_holds_place {
                conn.prepare_cached(REFRESH_PENDING)?
                    .execute(params![expires, now, token_id, a.device])?;
            } else {
                conn.prepare_cached(
                    "INSERT INTO sessions (token_id, nas, device, state, created_at, updated_at, expires_at) \
                     VALUES (?1, ?2, ?3, 'pending', ?4, ?4, ?5)",
                )?
                .execute(params![token_id, a.nas, a.device, now, expires])?;
            }
        }
        // The first Accept starts a window measured from first use
        // (FirstUsedOn); later logins stamp LastAccess now and then — a
        // stamp alone is deferred (see stamps.rs).
        let stale = stamps
            .last_access(token_id, row.last_access)
            .is_none_or(|t| now - t >= LAST_ACCESS_RESOLUTION);
        let must_write = g.bind_mac.is_some() || row.first_used_on.is_none();
        // A deferred stamp stays even when the row is written here: a
        // sweep writes it only over an older value, and it survives this
        // request failing.
        if stale && !must_write && stamps.defer(token_id, now) {
            // Written by a sweep.
        } else if stale || must_write {
            conn.writing()?;
            conn.prepare_cached(
                "UPDATE access_tokens SET last_access = ?1, mac_address = COALESCE(mac_address, ?2), \
                 first_used_on = COALESCE(first_used_on, ?1) WHERE id = ?3",
            )?
            .execute(params![now, g.bind_mac, token_id])?;
        }
    }
    let accepted = matches!(decision, Decision::Accept(_)).then(|| AcceptFacts {
        business_id: row.business_id,
        rate_limit: row.rate_limit,
        window_end: facts.valid_to,
    });
    Ok(AuthOutcome {
        decision,
        token_id: Some(token_id),
        accepted,
    })
}

/// What accounting reads about a token: enough to charge it and to know
/// whether its row needs writing at all.
struct TokenUse {
    id: i64,
    /// Seconds left before this packet (MinutesIncluded × 60 − used).
    left: i64,
    /// Bytes left of its data allowance before this packet (`None`:
    /// unlimited).
    bytes_left: Option<i64>,
    user_limit: Option<i64>,
    last_access: Option<i64>,
    first_used_on: Option<i64>,
}

/// A [`TokenUse`] from the five columns at `i`: id, seconds left,
/// user_limit, last_access, first_used_on (as `token_use!` reads them),
/// and the bytes left at `bytes` (`token_bytes_left!`).
fn token_use_at(r: &rusqlite::Row, i: usize, bytes: usize) -> rusqlite::Result<TokenUse> {
    Ok(TokenUse {
        id: r.get(i)?,
        left: r.get(i + 1)?,
        bytes_left: r.get(bytes)?,
        user_limit: r.get(i + 2)?,
        last_access: r.get(i + 3)?,
        first_used_on: r.get(i + 4)?,
    })
}

/// Bytes left of a token's data allowance (NULL: unlimited), of table `t`.
macro_rules! token_bytes_left {
    ($t:literal) => {
        concat!($t, "megabytes_included * 1000000 - ", $t, "bytes_used")
    };
}

macro_rules! token_use {
    () => {
        concat!(
            "SELECT id, minutes_included * 60 - seconds_used, user_limit, last_access, first_used_on, \
             code_key, business_id, ",
            token_bytes_left!(""),
            " FROM access_tokens "
        )
    };
}

/// The one token an accounting packet names (see [`find_by_code`]).
fn find_token_use(
    conn: &Connection,
    user_name: &str,
    business_id: Option<i64>,
    nas: &str,
    codes: &mut CodeHints,
) -> Result<Option<TokenUse>, StoreError> {
    find_by_code(
        conn,
        &code_key(user_name),
        business_id,
        nas,
        codes,
        (
            concat!(token_use!(), "WHERE id = ?1"),
            concat!(
                token_use!(),
                "WHERE code_key = ?1 AND (?2 IS NULL OR business_id = ?2) LIMIT 2"
            ),
        ),
        |r| {
            let row = token_use_at(r, 0, 7)?;
            Ok(Found {
                id: row.id,
                row,
                code_key: r.get(5)?,
                business_id: r.get(6)?,
            })
        },
    )
}

/// A session accounting has seen, with its token.
struct SeenSession {
    id: i64,
    ended: Ended,
    session_time: i64,
    /// Its octet counters' high-water marks.
    octets: accounting::Octets,
    token: TokenUse,
    /// The key of the code the NAS named for it (its User-Name; the
    /// token's code for a session recorded without one).
    code_key: String,
    stopped_at: Option<i64>,
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

/// A row of [`SESSIONS_BY_ID`] (or [`SESSION_BY_ID_AND_USER`]).
fn seen_session(r: &rusqlite::Row) -> rusqlite::Result<SeenSession> {
    let closed: bool = r.get(1)?;
    let reason: Option<String> = r.get(8)?;
    Ok(SeenSession {
        id: r.get(0)?,
        // Closed without the NAS's Stop: by the stale sweep, the NAS's
        // Accounting-On/Off, or a newer session on its id.
        ended: match (closed, reason.as_deref()) {
            (false, _) => Ended::No,
            (true, Some("stale" | "nas-restart" | "replaced")) => Ended::Presumed,
            (true, _) => Ended::ByStop,
        },
        session_time: r.get(2)?,
        octets: accounting::Octets {
            input: r.get(12)?,
            output: r.get(13)?,
        },
        token: token_use_at(r, 3, 11)?,
        code_key: code_key(&r.get::<_, String>(9)?),
        stopped_at: r.get(10)?,
    })
}

fn account(
    conn: &Job,
    a: AcctJob,
    codes: &mut CodeHints,
    stamps: &mut Stamps,
) -> Result<AcctOutcome, StoreError> {
    let now = a.now;
    match a.status {
        AcctStatus::AccountingOn | AcctStatus::AccountingOff => {
            // The NAS (re)started or is going down: none of its sessions or
            // pending places survive. This does not spend single-use codes:
            // their guests did not end the session, the router did, and they
            // may log in again.
            conn.writing()?;
            let n = conn
                .prepare_cached(NAS_RESTART)?
                .execute(params![now, a.nas])?;
            return Ok(AcctOutcome {
                token_id: None,
                charged: 0,
                bytes: 0,
                closed: n as u64,
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
    // The sessions with this NAS and Acct-Session-Id, newest first (a NAS
    // may reuse its ids), each with its token (needed to charge it; foreign
    // keys guarantee it exists) and the code the NAS named for it.
    let mut rows: Vec<SeenSession> = conn
        .prepare_cached(SESSIONS_BY_ID)?
        .query_map(params![a.nas, sid], seen_session)?
        .collect::<Result<_, _>>()?;
    let packet_code = a.user_name.as_deref().map(code_key);
    let packet = a.packet(packet_code.as_deref());
    let mut plan = accounting::plan(&stored(&rows), &packet, SESSIONS_BY_ID_LIMIT);
    if plan == Plan::LookForOwn {
        let own = match a.user_name.as_deref() {
            Some(user) => conn
                .prepare_cached(SESSION_BY_ID_AND_USER)?
                .query_row(params![a.nas, sid, user], seen_session)
                .optional()?,
            None => None,
        };
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
    // A session of its own replaces the live sessions with this id: they
    // are closed when it is recorded.
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
    conn.writing()?;
    let token = match row {
        Some(s) => {
            // Interim-Updates leave `state` out of the statement, so SQLite
            // leaves the live-sessions index (its condition reads `state`)
            // alone; a Stop closes the session in the same statement.
            macro_rules! set {
                () => {
                    "UPDATE sessions SET session_time = ?1, updated_at = ?2, \
                     framed_ip = COALESCE(?3, framed_ip), input_octets = MAX(input_octets, ?4), \
                     output_octets = MAX(output_octets, ?5), input_packets = MAX(input_packets, ?6), \
                     output_packets = MAX(output_packets, ?7), user_name = COALESCE(?9, user_name)"
                };
            }
            let p = params![
                tr.session_time,
                now,
                a.framed_ip,
                a.input_octets,
                a.output_octets,
                a.input_packets,
                a.output_packets,
                s.id,
                a.user_name,
                a.terminate_cause,
            ];
            if tr.close {
                conn.prepare_cached(concat!(
                    set!(),
                    ", state = 'closed', stopped_at = ?2, terminate_cause = ?10, \
                     close_reason = 'stop' WHERE id = ?8"
                ))?
                .execute(p)?;
            } else if tr.reopen {
                // Presumed over, but the NAS reports more time: live again.
                conn.prepare_cached(concat!(
                    set!(),
                    ", state = 'active', stopped_at = NULL, close_reason = NULL WHERE id = ?8"
                ))?
                .execute(&p[..9])?;
            } else {
                conn.prepare_cached(concat!(set!(), " WHERE id = ?8"))?
                    .execute(&p[..9])?;
            }
            s.token
        }
        None => {
            let Some(user) = a.user_name.as_deref() else {
                return Ok(AcctOutcome::ignored("no User-Name"));
            };
            let Some(token) = find_token_use(conn, user, a.business_id, &a.nas, codes)? else {
                return Ok(AcctOutcome::ignored("unknown code"));
            };
            let opening = accounting::opening(&tr, a.status, a.terminate_cause);
            let (io, oo, ip, op) = a.opening_counters(&opening);
            // Confirm the device's pending place from authentication, if
            // any. Only a token with a UserLimit has places (see authorize).
            let pending: Option<i64> = if token.user_limit.is_some() {
                conn.prepare_cached(FIND_PENDING)?
                    .query_row(params![token.id, a.device], |r| r.get(0))
                    .optional()?
            } else {
                None
            };
            let (state, stopped_at, cause, reason) = (
                opening.state,
                opening.stopped.then_some(now),
                opening.terminate_cause,
                opening.close_reason,
            );
            for old in replaces {
                conn.prepare_cached(REPLACED)?.execute(params![now, old])?;
            }
            match pending {
                Some(id) => {
                    conn.prepare_cached(
                        "UPDATE sessions SET state = ?12, nas = ?1, acct_session_id = ?2, framed_ip = ?3, \
                         session_time = ?4, updated_at = ?5, expires_at = NULL, input_octets = ?6, \
                         output_octets = ?7, input_packets = ?8, output_packets = ?9, user_name = ?11, \
                         stopped_at = ?13, terminate_cause = ?14, close_reason = ?15 WHERE id = ?10",
                    )?
                    .execute(params![
                        a.nas, sid, a.framed_ip, tr.session_time, now, io, oo, ip, op, id, user,
                        state, stopped_at, cause, reason
                    ])?;
                }
                None => {
                    conn.prepare_cached(
                        "INSERT INTO sessions (token_id, nas, device, state, acct_session_id, framed_ip, created_at, \
                         updated_at, session_time, input_octets, output_octets, input_packets, output_packets, \
                         user_name, stopped_at, terminate_cause, close_reason) \
                         VALUES (?1, ?2, ?3, ?13, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?14, ?15, ?16)",
                    )?
                    .execute(params![
                        token.id, a.nas, a.device, sid, a.framed_ip, now, tr.session_time, io, oo, ip,
                        op, user, state, stopped_at, cause, reason
                    ])?;
                }
            }
            token
        }
    };
    // A single-use code is spent when its first session ends — unless the
    // NAS or an admin ended it (see `ends_the_guests_use`). FirstUsedOn is
    // normally set by the Access-Accept; accounting fills it in when that
    // stamp was lost (it is written before the fsync, see Durability).
    // LastAccess is stamped by every packet that charges; one that charges
    // nothing (a Start) stamps it only when it is older than
    // LAST_ACCESS_RESOLUTION, like a login, and defers that stamp when it
    // is all the packet would write (see stamps.rs).
    let spends = accounting::spends(&tr, a.terminate_cause);
    let stale = stamps
        .last_access(token.id, token.last_access)
        .is_none_or(|t| now - t >= LAST_ACCESS_RESOLUTION);
    let must_write = tr.charge != 0 || tr.bytes != 0 || spends || token.first_used_on.is_none();
    if stale && !must_write && stamps.defer(token.id, now) {
        // Written by a sweep.
    } else if stale || must_write {
        conn.prepare_cached(
            "UPDATE access_tokens SET seconds_used = seconds_used + ?1, last_access = ?2, \
             first_used_on = COALESCE(first_used_on, ?2), \
             spent_on = CASE WHEN ?3 AND single_use = 1 THEN COALESCE(spent_on, ?2) ELSE spent_on END, \
             bytes_used = CASE WHEN bytes_used > 9223372036854775807 - ?5 THEN 9223372036854775807 \
             ELSE bytes_used + ?5 END \
             WHERE id = ?4",
        )?
        .execute(params![tr.charge, now, spends, token.id, tr.bytes])?;
    }
    // This packet used the last of the time or of the data: the sessions
    // still running on the token are to be disconnected (their
    // Session-Timeout and Total-Limit assumed each was alone on the code).
    // Every later charging packet of a session that keeps running asks
    // again. (The token was read in this transaction, by the only writer:
    // `left` and `bytes_left` are exact.)
    let disconnect = if accounting::disconnects(token.left, token.bytes_left, &tr) {
        live_sessions(conn, token.id)?
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

/// Statements on sessions by token or by state. Each repeats the
/// condition of the partial index `sessions_live` word for word — `state
/// IN ('pending', 'active')` — which is what lets SQLite use it (see
/// migrations/sqlite/0007); `every_sessions_statement_uses_an_index` checks.
const LIVE_DEVICES: &str = "SELECT device FROM sessions WHERE token_id = ?1 \
     AND state IN ('pending', 'active') AND (state = 'active' OR expires_at > ?2)";
macro_rules! sessions_by_id {
    () => {
        concat!(
            "SELECT s.id, s.state = 'closed', s.session_time, t.id, \
             t.minutes_included * 60 - t.seconds_used, t.user_limit, t.last_access, t.first_used_on, \
             s.close_reason, COALESCE(s.user_name, t.access_code), s.stopped_at, ",
            token_bytes_left!("t."),
            ", s.input_octets, s.output_octets \
             FROM sessions s JOIN access_tokens t ON t.id = s.token_id \
             WHERE s.nas = ?1 AND s.acct_session_id = ?2 "
        )
    };
}
/// The sessions accounting matches a packet against (see `account`), at
/// most [`SESSIONS_BY_ID_LIMIT`].
const SESSIONS_BY_ID: &str = concat!(sessions_by_id!(), "ORDER BY s.id DESC LIMIT 16");
const SESSIONS_BY_ID_LIMIT: usize = 16;
/// The newest session of one User-Name on an id, when more sessions than
/// [`SESSIONS_BY_ID_LIMIT`] share that id.
const SESSION_BY_ID_AND_USER: &str = concat!(
    sessions_by_id!(),
    "AND s.user_name = ?3 ORDER BY s.id DESC LIMIT 1"
);
/// A live session whose NAS reused its Acct-Session-Id for a new one.
const REPLACED: &str = "UPDATE sessions SET state = 'closed', stopped_at = ?1, updated_at = ?1, \
     close_reason = 'replaced' WHERE id = ?2";
const REFRESH_PENDING: &str = "UPDATE sessions SET expires_at = ?1, updated_at = ?2 \
     WHERE token_id = ?3 AND state IN ('pending', 'active') AND device = ?4 AND state = 'pending'";
const NAS_RESTART: &str =
    "UPDATE sessions SET state = 'closed', stopped_at = ?1, updated_at = ?1, \
     close_reason = 'nas-restart' WHERE state IN ('pending', 'active') AND nas = ?2";
const FIND_PENDING: &str = "SELECT id FROM sessions WHERE token_id = ?1 \
     AND state IN ('pending', 'active') AND state = 'pending' AND device IS ?2 ORDER BY id LIMIT 1";
const LIVE_SESSIONS: &str =
    "SELECT s.nas, s.acct_session_id, COALESCE(s.user_name, t.access_code), \
     s.framed_ip, s.device FROM sessions s JOIN access_tokens t ON t.id = s.token_id \
     WHERE s.token_id = ?1 AND s.state IN ('pending', 'active') AND s.state = 'active' \
     AND s.acct_session_id IS NOT NULL ORDER BY s.id";
const SWEEP_STALE: &str = "UPDATE sessions SET state = 'closed', stopped_at = ?1, close_reason = 'stale' \
     WHERE state IN ('pending', 'active') AND state = 'active' AND updated_at <= ?1 - ?2 RETURNING token_id";
const PURGE_PENDING: &str = "DELETE FROM sessions WHERE state IN ('pending', 'active') \
     AND state = 'pending' AND expires_at <= ?1";

/// The token's sessions that accounting shows running.
fn live_sessions(
    conn: &Connection,
    token_id: i64,
) -> Result<Vec<crate::store::LiveSession>, StoreError> {
    Ok(conn
        .prepare_cached(LIVE_SESSIONS)?
        .query_map(params![token_id], |r| {
            Ok(crate::store::LiveSession {
                nas: r.get(0)?,
                acct_session_id: r.get(1)?,
                user_name: r.get(2)?,
                framed_ip: r.get(3)?,
                device: r.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?)
}

fn sweep(conn: &Job, now: i64, stale_after: i64) -> Result<SweepOutcome, StoreError> {
    conn.writing()?;
    let stale = conn
        .prepare_cached(SWEEP_STALE)?
        .query_map(params![now, stale_after], |r| r.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    // A session that went silent has ended too: it spends a single-use code.
    for token_id in &stale {
        conn.prepare_cached(
            "UPDATE access_tokens SET spent_on = ?1 WHERE id = ?2 AND single_use = 1 AND spent_on IS NULL",
        )?
        .execute(params![now, token_id])?;
    }
    let stale = stale.len();
    let purged = conn.prepare_cached(PURGE_PENDING)?.execute(params![now])?;
    Ok(SweepOutcome {
        stale_closed: stale as u64,
        pending_purged: purged as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DatabaseConfig, ThrottleConfig};

    async fn writer(dir: &std::path::Path) -> (Store, Writer) {
        let cfg = DatabaseConfig {
            url: format!("sqlite://{}", dir.join("w.db").display()),
            ..DatabaseConfig::default()
        };
        let store = Store::open(&cfg, crate::store::OpenMode::Serve)
            .await
            .unwrap();
        let w = store
            .spawn_writer(WriterSettings {
                case_sensitive_codes: false,
                bind_mac_on_first_use: false,
                pending_place_ttl: 60,
                throttle: ThrottleConfig::default(),
                synchronous: Synchronous::Full,
                // Every batch sweeps.
                stamp_sweep_every: std::time::Duration::ZERO,
            })
            .await
            .unwrap();
        (store, w)
    }

    /// SQLite's plan for `sql`, one line per step. Unbound parameters are
    /// NULL: the plan does not depend on them.
    fn query_plan(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let mut rows = stmt.raw_query();
        let mut plan = Vec::new();
        while let Some(r) = rows.next().unwrap() {
            plan.push(r.get::<_, String>(3).unwrap());
        }
        plan
    }

    /// Every statement the writer runs on sessions by token or by state
    /// finds its rows through an index (the table keeps every session ever
    /// closed; a full scan would grow with it).
    #[tokio::test]
    async fn every_sessions_statement_uses_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, _w) = writer(dir.path()).await;
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        for sql in [
            LIVE_DEVICES,
            REFRESH_PENDING,
            NAS_RESTART,
            FIND_PENDING,
            LIVE_SESSIONS,
            SWEEP_STALE,
            PURGE_PENDING,
        ] {
            let plan = query_plan(&conn, sql);
            let scans: Vec<_> = plan
                .iter()
                .filter(|d| d.starts_with("SCAN") && !d.contains("USING"))
                .collect();
            assert!(scans.is_empty(), "{sql}\n{plan:?}");
            assert!(
                plan.iter().any(|d| d.contains("sessions_live")),
                "{sql}\n{plan:?}"
            );
        }
        // Accounting's lookups by NAS and Acct-Session-Id: the index, newest
        // first straight from it (no sort).
        assert!(SESSIONS_BY_ID.ends_with(&format!("LIMIT {SESSIONS_BY_ID_LIMIT}")));
        for sql in [SESSIONS_BY_ID, SESSION_BY_ID_AND_USER] {
            let plan = query_plan(&conn, sql);
            assert!(
                plan.iter()
                    .any(|d| d.contains("USING INDEX sessions_nas_acct")),
                "{sql}\n{plan:?}"
            );
            assert!(
                !plan.iter().any(|d| d.contains("TEMP B-TREE")),
                "{sql}\n{plan:?}"
            );
        }
    }

    /// One request failing after it wrote leaves no trace, and the other
    /// requests of its batch (before and after it, reading or writing)
    /// commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_request_is_rolled_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, w) = writer(dir.path()).await;
        w.submit(Durability::Committed, |c, _| {
            c.writing()?;
            c.execute_batch("CREATE TABLE t (v INTEGER)")?;
            Ok(())
        })
        .await
        .unwrap();
        let insert = |v: i64, fail: bool| {
            move |c: &Job, _: &mut State| -> Result<(), StoreError> {
                c.writing()?;
                c.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
                if fail {
                    return Err(StoreError::Conflict("failed on purpose".into()));
                }
                Ok(())
            }
        };
        let count = |c: &Job, _: &mut State| -> Result<i64, StoreError> {
            Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)
        };
        // Queued together, so that they share one batch as far as the
        // writer takes them at once; the outcome must not depend on it.
        let (a, b, r, d) = tokio::join!(
            w.submit(Durability::Committed, insert(1, false)),
            w.submit(Durability::Committed, insert(2, true)),
            w.submit(Durability::Applied, count),
            w.submit(Durability::Committed, insert(3, false)),
        );
        a.unwrap();
        assert!(matches!(b, Err(StoreError::Conflict(_))), "{b:?}");
        // Requests run in the order they were queued: the count sees the
        // first insert and not the rolled-back second.
        assert_eq!(r.unwrap(), 1);
        d.unwrap();
        let vs = w
            .submit(Durability::Committed, |c, _| {
                Ok(c.prepare("SELECT v FROM t ORDER BY v")?
                    .query_map([], |r| r.get::<_, i64>(0))?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await
            .unwrap();
        assert_eq!(vs, vec![1, 3]);
    }

    /// Deferred LastAccess stamps reach the database without a flush: the
    /// batch that deferred them writes a chunk, and after an idle tick the
    /// writer goes on until all are written (this writer's sweeps are due
    /// at once).
    #[tokio::test]
    async fn deferred_stamps_are_swept_without_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, w) = writer(dir.path()).await;
        const N: i64 = 3000;
        w.submit(Durability::Committed, |c, s| {
            c.writing()?;
            c.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
                 INSERT INTO access_tokens (unique_id, business_id, access_code, code_key, \
                 minutes_included, seconds_used, created_on, updated_on, updated_by) \
                 SELECT 'u' || i, 0, 'C' || i, 'C' || i, 60, 0, 0, 0, 't' FROM n",
                [N],
            )?;
            let ids: Vec<i64> = c
                .prepare("SELECT id FROM access_tokens")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            assert_eq!(ids.len() as i64, N);
            for id in ids {
                assert!(s.stamps.defer(id, 1_000_000));
            }
            Ok(())
        })
        .await
        .unwrap();
        // The idle tick (stamp_loop's, in the server) finds no requests
        // waiting: the writer writes the rest.
        w.write_stamps().await.unwrap();
        let deadline = Instant::now() + std::time::Duration::from_secs(20);
        while w.gauges().deferred_stamps.load(Ordering::Relaxed) > 0 {
            assert!(Instant::now() < deadline, "stamps not swept");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        let stamped: i64 = conn
            .query_row(
                "SELECT count(*) FROM access_tokens WHERE last_access = 1000000",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stamped, N);
    }
}
