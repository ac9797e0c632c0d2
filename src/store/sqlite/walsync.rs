//! Durable answers without stalling the writer: the WAL's fsync on a thread
//! of its own.
//!
//! With `synchronous = FULL` SQLite fsyncs the WAL inside every COMMIT, and
//! the writer can do nothing else meanwhile: a batch costs its SQL *plus* an
//! fsync. Instead the writer commits with `synchronous = NORMAL` (the
//! frames are written to the WAL, not synced) and hands the batch's
//! answers to this thread, which calls `fdatasync` on the WAL file and only
//! then lets the answers go. The writer runs the next batch's SQL while the
//! disk syncs the previous one, and one fsync covers every batch committed
//! before it started.
//!
//! Why an answer sent after this sync is as safe as one sent after a FULL
//! commit:
//! - A COMMIT returns after `write()` of all its WAL frames. `fdatasync` on
//!   any descriptor of the file flushes all data written to the file before
//!   the call (Linux syncs per inode), and the file size with it. That is
//!   the same sync SQLite does at FULL, only later and on another thread.
//! - The WAL file stays the same file while the writer's connection is
//!   open: SQLite deletes it only when the last connection closes, and
//!   truncation (`journal_size_limit`) keeps the inode. The first sync also
//!   syncs the directory, as SQLite does for a newly created WAL.
//! - Frames of a commit that was not synced yet may be overwritten only
//!   after a WAL restart, and SQLite restarts the WAL only when every frame
//!   has been copied into the database file by a checkpoint, which syncs
//!   the WAL before copying and the database file after: by then those
//!   frames are durable in the database itself.
//! - After a crash, recovery replays the WAL up to the last commit frame
//!   whose checksums hold; a commit that did not reach the disk completely
//!   is dropped, and it was never answered.
//! - The next batches may read what a commit not yet synced wrote (as with
//!   Access-Requests answered before the fsync, see `Durability::Applied`).
//!   Answers to them wait for a later sync, which covers the earlier commit.
//!
//! A failed fsync leaves unknown what reached the disk (the kernel may have
//! dropped the pages), so it is not retried: the waiting answers are not
//! sent, and the writer stops taking work ([`WalSyncer::failed`]) — the
//! server must be restarted, and SQLite's recovery then starts from what the
//! disk holds. That holds for an ENOSPC from the fsync too (storage that
//! allocates at writeback: NFS, thin provisioning): the pages may be gone.
//! A full disk on a local filesystem shows up earlier, at the `write()` of
//! the WAL frames inside COMMIT, which SQLite reports as SQLITE_FULL before
//! the commit happened: nothing was handed here, nothing was answered, and
//! the writer carries on (see `DiskFull` in writer.rs).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

/// Delivers one request's answer: `None` once it is durable, else the error.
pub(crate) type Responder = Box<dyn FnOnce(Option<&str>) + Send>;

/// Handle to the sync thread. The thread ends when this is dropped, after
/// syncing and answering everything handed to it.
pub(crate) struct WalSyncer {
    tx: Option<mpsc::Sender<Vec<Responder>>>,
    failed: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WalSyncer {
    /// Start the thread for the WAL of the database at `db_path`.
    pub(crate) fn start(db_path: &Path) -> std::io::Result<WalSyncer> {
        let mut wal = db_path.as_os_str().to_owned();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        let mut file: Option<File> = None;
        Self::start_with(move || sync(&mut file, &wal))
    }

    /// Start the thread with `sync` as the way to make the WAL durable.
    fn start_with(
        sync: impl FnMut() -> std::io::Result<()> + Send + 'static,
    ) -> std::io::Result<WalSyncer> {
        let (tx, rx) = mpsc::channel::<Vec<Responder>>();
        let failed = Arc::new(AtomicBool::new(false));
        let f = failed.clone();
        let thread = std::thread::Builder::new()
            .name("radgate-sync".into())
            .spawn(move || run(rx, sync, &f))?;
        Ok(WalSyncer {
            tx: Some(tx),
            failed,
            thread: Some(thread),
        })
    }

    /// Answer `responders` once everything committed so far is on disk.
    pub(crate) fn after_sync(&self, responders: Vec<Responder>) {
        if responders.is_empty() {
            return;
        }
        match &self.tx {
            Some(tx) => {
                if let Err(mpsc::SendError(rs)) = tx.send(responders) {
                    fail_all(rs, "the WAL sync thread is gone");
                }
            }
            None => fail_all(responders, "the WAL sync thread is gone"),
        }
    }

    /// A sync failed: nothing more may be acknowledged.
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }
}

impl Drop for WalSyncer {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn fail_all(responders: Vec<Responder>, why: &str) {
    responders.into_iter().for_each(|r| r(Some(why)));
}

fn run(
    rx: mpsc::Receiver<Vec<Responder>>,
    mut sync: impl FnMut() -> std::io::Result<()>,
    failed: &AtomicBool,
) {
    while let Ok(first) = rx.recv() {
        let mut waiting = first;
        // Everything queued meanwhile rides on the same sync.
        while let Ok(more) = rx.try_recv() {
            waiting.extend(more);
        }
        if failed.load(Ordering::Acquire) {
            fail_all(waiting, "an earlier WAL sync failed");
            continue;
        }
        match sync() {
            Ok(()) => waiting.into_iter().for_each(|r| r(None)),
            Err(e) => {
                failed.store(true, Ordering::Release);
                tracing::error!(
                    error = %e,
                    "store: cannot sync the WAL; nothing more is acknowledged — restart radgate"
                );
                fail_all(waiting, &format!("cannot sync the WAL: {e}"));
            }
        }
    }
}

fn sync(file: &mut Option<File>, wal: &Path) -> std::io::Result<()> {
    let f = match file {
        Some(f) => f,
        None => {
            let f = File::open(wal)?;
            // As SQLite does for a WAL it created: make its directory entry
            // durable too.
            let dir = match wal.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            File::open(dir)?.sync_all()?;
            file.insert(f)
        }
    };
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn answers_after_the_sync_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        std::fs::write(dir.path().join("t.db-wal"), b"frames").unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let s = WalSyncer::start(&db).unwrap();
        for batch in 0..3 {
            let rs: Vec<Responder> = (0..2)
                .map(|i| {
                    let g = got.clone();
                    Box::new(move |e: Option<&str>| {
                        g.lock().unwrap().push((batch, i, e.map(str::to_owned)));
                    }) as Responder
                })
                .collect();
            s.after_sync(rs);
        }
        drop(s);
        let got = got.lock().unwrap();
        let want: Vec<_> = (0..3)
            .flat_map(|b| (0..2).map(move |i| (b, i, None)))
            .collect();
        assert_eq!(*got, want);
    }

    #[test]
    fn nothing_is_answered_before_the_sync_that_covers_it() {
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let l = log.clone();
        let mut syncs = 0;
        let s = WalSyncer::start_with(move || {
            syncs += 1;
            l.lock().unwrap().push(format!("sync {syncs}"));
            Ok(())
        })
        .unwrap();
        for batch in 0..50 {
            let l = log.clone();
            s.after_sync(vec![Box::new(move |e: Option<&str>| {
                assert_eq!(e, None);
                l.lock().unwrap().push(format!("answer {batch}"));
            })]);
        }
        drop(s);
        let log = log.lock().unwrap();
        // Every answer comes after a sync, each batch's answer after the
        // sync that started once it was handed over, and in order.
        assert!(log[0].starts_with("sync"), "{log:?}");
        let answers: Vec<&String> = log.iter().filter(|e| e.starts_with("answer")).collect();
        let want: Vec<String> = (0..50).map(|b| format!("answer {b}")).collect();
        assert_eq!(answers, want.iter().collect::<Vec<_>>());
        assert!(log.last().unwrap().starts_with("answer"));
    }

    #[test]
    fn a_failed_sync_answers_nothing_and_sticks() {
        let dir = tempfile::tempdir().unwrap();
        // No WAL file: the sync cannot open it.
        let db = dir.path().join("missing.db");
        let s = WalSyncer::start(&db).unwrap();
        let (tx, rx) = mpsc::channel();
        let t = tx.clone();
        s.after_sync(vec![Box::new(move |e: Option<&str>| {
            t.send(e.map(str::to_owned)).unwrap()
        })]);
        let first = rx.recv().unwrap();
        assert!(first.unwrap().contains("cannot sync the WAL"));
        assert!(s.failed());
        // Even once the file exists, nothing more is acknowledged.
        std::fs::write(dir.path().join("missing.db-wal"), b"x").unwrap();
        s.after_sync(vec![Box::new(move |e: Option<&str>| {
            tx.send(e.map(str::to_owned)).unwrap()
        })]);
        assert!(rx
            .recv()
            .unwrap()
            .unwrap()
            .contains("earlier WAL sync failed"));
    }
}
