//! Checkpoints off the writer's path, with a bound on the WAL.
//!
//! SQLite's automatic checkpoint runs inside the COMMIT that pushes the WAL
//! past its limit: that commit (and every request waiting on it) stalls
//! while the checkpoint copies the WAL's pages into the database file and
//! fsyncs it. The writer therefore turns it off (its connection gets a WAL
//! hook of ours instead, which only records the WAL's length after each
//! commit), and a checkpoint thread with its own connection copies pages
//! back while the writer goes on committing.
//!
//! A checkpoint from another connection alone never lets the WAL restart
//! under sustained load: it copies the frames that were there when it
//! started, while the writer appends more, so the WAL is never completely
//! copied back when the writer begins its next transaction — the only
//! moment SQLite can start writing at the beginning of the WAL file again.
//! The writer closes that gap itself: once the checkpoint thread has copied
//! all but a short tail, the writer (between batches, after its answers are
//! out) checkpoints that tail, and its next transaction restarts the WAL.
//! And when the WAL reaches the hard limit anyway (the disk cannot keep up
//! with the writes), the writer waits for the running checkpoint and
//! finishes the job before its next batch: the WAL stays below the hard
//! limit plus one batch, and the writes slow down to what the disk can
//! copy back.

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rusqlite::{ffi, Connection};

// Measured on the 2-vCPU development machine (BENCHMARKS-history.md), accounting
// with 10k codes: a soft limit of 4 MiB restarted the WAL (one short
// writer-side checkpoint with two syncs) several times a second, 13.5k/s
// with p99 18.5 ms; 16 MiB: 16.3k/s, p99 12.8 ms; 40 MiB: 16.2k/s, p99
// 8.7 ms. With 1M codes a 40 MiB soft limit ran into a 64 MiB hard limit
// (the writer waiting up to 450 ms), hence a hard limit of three times the
// soft one. A 1 MiB tail took the writer up to 13 ms to copy back. Each
// restart stalls the writer for about 5-8 ms (the tail, then SQLite's sync
// of the new WAL header), at 32 MiB twice a second under 21k accounting
// requests/s; 64 MiB halves that (p99 10.6-10.8 ms -> 8.6-9.4 ms, with the
// WAL sync on its own thread). The WAL file can then reach the hard limit
// on disk (journal_size_limit), about 64 MiB in steady use.

/// WAL bytes at which the checkpoint thread starts copying back.
const SOFT_LIMIT_BYTES: u64 = 64 << 20;
/// WAL bytes at which the writer waits for the checkpoint to complete.
const HARD_LIMIT_BYTES: u64 = 192 << 20;
/// The writer copies back a remaining tail of at most this many bytes itself.
const TAIL_BYTES: u64 = 128 << 10;

/// Shared between the writer and the checkpoint thread.
pub(crate) struct WalControl {
    /// Frames in the WAL after the writer's last commit (from the WAL hook).
    frames: AtomicU64,
    /// Frames of the WAL the last checkpoint copied back, and the WAL's
    /// length it saw (both of the WAL generation it ran on).
    backfilled: AtomicU64,
    seen_frames: AtomicU64,
    /// Held for the length of every checkpoint: two checkpoints cannot run
    /// at once (SQLite refuses the second with SQLITE_BUSY).
    running: Mutex<()>,
    /// Wakes the checkpoint thread.
    wake: Mutex<bool>,
    wake_cv: Condvar,
    stop: AtomicBool,
    soft: u64,
    hard: u64,
    tail: u64,
}

/// What the writer does after a commit; see [`WalControl::after_commit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WalAction {
    None,
    Wake,
    FinishTail,
    FinishBlocking,
}

impl WalControl {
    pub(crate) fn new(page_size: u64) -> Arc<WalControl> {
        let page = page_size.max(512);
        Self::with_limits(
            (SOFT_LIMIT_BYTES / page).max(1),
            (HARD_LIMIT_BYTES / page).max(2),
            (TAIL_BYTES / page).max(1),
        )
    }

    /// Limits in frames: soft, hard, tail.
    fn with_limits(soft: u64, hard: u64, tail: u64) -> Arc<WalControl> {
        Arc::new(WalControl {
            frames: AtomicU64::new(0),
            backfilled: AtomicU64::new(0),
            seen_frames: AtomicU64::new(0),
            running: Mutex::new(()),
            wake: Mutex::new(false),
            wake_cv: Condvar::new(),
            stop: AtomicBool::new(false),
            soft,
            hard,
            tail,
        })
    }

    /// The WAL size in bytes at which the file is truncated after a restart.
    pub(crate) fn journal_size_limit() -> u64 {
        HARD_LIMIT_BYTES
    }

    /// Frames in the WAL after the last commit.
    pub(crate) fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    /// Decide what to do about the WAL after a commit.
    fn decide(&self) -> WalAction {
        let n = self.frames();
        if n < self.soft {
            return WalAction::None;
        }
        if n >= self.hard {
            return WalAction::FinishBlocking;
        }
        // The checkpoint thread's figures are of the current WAL only while
        // the WAL is at least as long as it saw it (else it has restarted
        // since).
        let seen = self.seen_frames.load(Ordering::Acquire);
        let done = if n >= seen {
            self.backfilled.load(Ordering::Acquire)
        } else {
            0
        };
        if n.saturating_sub(done) <= self.tail {
            WalAction::FinishTail
        } else {
            WalAction::Wake
        }
    }

    /// Called by the writer after each commit, outside any transaction,
    /// once the batch's answers are out.
    pub(crate) fn after_commit(&self, conn: &Connection) {
        match self.decide() {
            WalAction::None => {}
            WalAction::Wake => self.wake(),
            WalAction::FinishTail => {
                // While the checkpoint thread is at it, look again after the
                // next commit.
                if let Ok(_guard) = self.running.try_lock() {
                    self.checkpoint(conn, "writer");
                }
            }
            WalAction::FinishBlocking => {
                let _guard = self.running.lock().unwrap_or_else(|e| e.into_inner());
                self.checkpoint(conn, "writer (WAL at its hard limit)");
            }
        }
    }

    fn wake(&self) {
        let mut w = self.wake.lock().unwrap_or_else(|e| e.into_inner());
        if !*w {
            *w = true;
            self.wake_cv.notify_one();
        }
    }

    /// One PASSIVE checkpoint; the caller holds `running`. Returns the
    /// frames in the WAL and the frames copied back, when it ran.
    fn checkpoint(&self, conn: &Connection, who: &str) -> Option<(i64, i64)> {
        let res = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        });
        match res {
            Ok((_busy, log, done)) => {
                // Store the length first: a reader that sees the new
                // `backfilled` also sees a `seen_frames` of the same run.
                self.seen_frames
                    .store(u64::try_from(log).unwrap_or(0), Ordering::Release);
                self.backfilled
                    .store(u64::try_from(done).unwrap_or(0), Ordering::Release);
                tracing::trace!(who, log, done, "store: checkpoint");
                Some((log, done))
            }
            Err(e) => {
                tracing::warn!(error = %e, who, "store: checkpoint failed");
                None
            }
        }
    }

    /// Tell the checkpoint thread to end.
    pub(crate) fn shut_down(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let mut w = self.wake.lock().unwrap_or_else(|e| e.into_inner());
        *w = true;
        self.wake_cv.notify_one();
    }

    /// The checkpoint thread: copies the WAL back whenever the writer says
    /// it has grown past the soft limit.
    ///
    /// SQLite syncs the database file only after a checkpoint that reached
    /// the end of the WAL as it is when the copying ends, which one running
    /// beside a busy writer almost never does: the pages it copies back
    /// would stay dirty in the page cache until the writer's tail
    /// checkpoint, whose sync would then write them all out while the
    /// writer waits (measured: 250-320 ms with 1M codes). So this thread
    /// syncs `db_file` itself after every checkpoint that has copied pages
    /// back. Not only when fewer frames were copied than the WAL held: the
    /// checkpoint reports the WAL's length as it was when it *started*, so
    /// "all copied" does not tell whether the writer appended meanwhile
    /// (and SQLite skipped its sync). When SQLite did sync, ours finds
    /// nothing left to write.
    pub(crate) fn run_checkpointer(&self, conn: Connection, db_file: Option<std::fs::File>) {
        // The checkpoint's figures when this thread last synced: `done` is
        // a running total for the WAL generation, so a sync is due only
        // when it moved (or the WAL restarted).
        let mut synced = (0, 0);
        loop {
            {
                let mut w = self.wake.lock().unwrap_or_else(|e| e.into_inner());
                while !*w {
                    let (g, _) = self
                        .wake_cv
                        .wait_timeout(w, Duration::from_secs(1))
                        .unwrap_or_else(|e| e.into_inner());
                    w = g;
                    if self.frames() >= self.soft {
                        break;
                    }
                }
                *w = false;
            }
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            if self.frames() < self.soft {
                continue;
            }
            let _guard = self.running.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((log, done)) = self.checkpoint(&conn, "checkpointer") {
                if done > 0 && (log, done) != synced {
                    synced = (log, done);
                    if let Some(f) = &db_file {
                        if let Err(e) = f.sync_data() {
                            tracing::warn!(error = %e, "store: cannot sync the database file");
                        }
                    }
                }
            }
        }
    }
}

/// Replace SQLite's automatic checkpoint on `conn` by a hook that records
/// the WAL's length after each commit in `ctl`.
///
/// `ctl` must outlive `conn` (or the hook must be removed first); the
/// writer keeps its `Arc` until after the connection is closed.
pub(crate) fn install_hook(conn: &Connection, ctl: &Arc<WalControl>) {
    unsafe extern "C" fn hook(
        ctx: *mut c_void,
        _db: *mut ffi::sqlite3,
        _name: *const c_char,
        frames: c_int,
    ) -> c_int {
        // SAFETY: ctx is the WalControl registered below, alive while the
        // connection is (see install_hook's contract).
        let ctl = unsafe { &*(ctx as *const WalControl) };
        ctl.frames
            .store(u64::try_from(frames).unwrap_or(0), Ordering::Relaxed);
        ffi::SQLITE_OK
    }
    // SAFETY: the handle is valid while `conn` is; the context pointer
    // stays valid as documented above. sqlite3_wal_hook replaces the
    // automatic checkpoint's hook, which is what we want.
    unsafe {
        ffi::sqlite3_wal_hook(
            conn.handle(),
            Some(hook),
            Arc::as_ptr(ctl) as *mut WalControl as *mut c_void,
        );
    }
}

/// Remove the hook installed by [`install_hook`].
pub(crate) fn remove_hook(conn: &Connection) {
    // SAFETY: a valid handle; a null hook unregisters.
    unsafe {
        ffi::sqlite3_wal_hook(conn.handle(), None, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decides_by_wal_length_and_checkpoint_progress() {
        let c = WalControl::with_limits(100, 1000, 10);
        assert_eq!(c.decide(), WalAction::None);
        c.frames.store(100, Ordering::Relaxed);
        assert_eq!(c.decide(), WalAction::Wake);
        // The checkpoint thread copied all but a short tail.
        c.seen_frames.store(100, Ordering::Relaxed);
        c.backfilled.store(99, Ordering::Relaxed);
        c.frames.store(109, Ordering::Relaxed);
        assert_eq!(c.decide(), WalAction::FinishTail);
        c.frames.store(110, Ordering::Relaxed);
        assert_eq!(c.decide(), WalAction::Wake);
        // The WAL restarted since: the old progress does not count.
        c.frames.store(100, Ordering::Relaxed);
        c.seen_frames.store(105, Ordering::Relaxed);
        assert_eq!(c.decide(), WalAction::Wake);
        c.frames.store(1000, Ordering::Relaxed);
        assert_eq!(c.decide(), WalAction::FinishBlocking);
    }

    fn open(path: &std::path::Path) -> Connection {
        let c = Connection::open(path).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c.pragma_update(None, "synchronous", "NORMAL").unwrap();
        c
    }

    /// A writer that never pauses, a checkpoint thread beside it: the WAL
    /// restarts again and again and never grows past the hard limit.
    #[test]
    fn wal_stays_bounded_under_sustained_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = open(&path);
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO t (v) SELECT randomblob(200) FROM n;",
        )
        .unwrap();
        let (soft, hard) = (50, 400);
        let ctl = WalControl::with_limits(soft, hard, 8);
        install_hook(&conn, &ctl);
        let ckpt = open(&path);
        let db_file = std::fs::OpenOptions::new().write(true).open(&path).ok();
        let c2 = ctl.clone();
        let th = std::thread::spawn(move || c2.run_checkpointer(ckpt, db_file));
        let (mut max, mut restarts, mut prev) = (0, 0, 0);
        for i in 0..3000i64 {
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            for k in 0..5 {
                conn.execute(
                    "UPDATE t SET v = randomblob(200) WHERE id = ?1",
                    [(i * 37 + k * 401) % 2000 + 1],
                )
                .unwrap();
            }
            conn.execute_batch("COMMIT").unwrap();
            let n = ctl.frames();
            max = max.max(n);
            if n < prev {
                restarts += 1;
            }
            prev = n;
            ctl.after_commit(&conn);
        }
        ctl.shut_down();
        th.join().unwrap();
        remove_hook(&conn);
        assert!(restarts >= 3, "the WAL restarted {restarts} times");
        // One commit writes at most a handful of frames past the limit.
        assert!(max < hard + 20, "the WAL reached {max} frames");
    }
}
