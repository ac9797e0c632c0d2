//! `radgate backup`: a consistent copy of a SQLite database while a server
//! writes it.
//!
//! Made with SQLite's online backup API (`sqlite3_backup_*`, rusqlite's
//! `backup` feature), all pages in one step, rather than `VACUUM INTO`:
//!
//! - Consistent: one `sqlite3_backup_step(-1)` copies every page inside one
//!   read transaction on the source. In WAL mode that read transaction sees
//!   one committed state (everything committed before it began, nothing
//!   after), and readers never block the writer: the server goes on
//!   committing into the WAL meanwhile. (Copying in several smaller steps
//!   would let go of the snapshot between them, and SQLite restarts a
//!   backup from the first page whenever another connection wrote the
//!   source in between: under steady accounting it might never finish.)
//! - Short: it copies pages as they are, the cheapest way to read the
//!   whole file, so the read transaction is held for as short a time as a
//!   full read allows. `VACUUM INTO` is just as consistent and as
//!   harmless to the writer, but rebuilds every table and index row by row
//!   (more CPU, competing with the server, and a longer snapshot).
//! - What the snapshot costs the server: while it is held, a checkpoint
//!   cannot copy back WAL frames committed after it began, so the `-wal`
//!   file may grow for the length of the backup (it is bounded by the
//!   writer's hard limit, see `wal.rs`); it starts over after.
//!
//! The copy is written into a file the caller names (a temporary file next
//! to the target), switched to a rollback journal (`journal_mode =
//! DELETE`) so that it is one self-contained file that can be opened
//! read-only, then synced. `radgate serve` turns a restored copy back to
//! WAL when it opens it.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use crate::store::StoreError;

/// What a finished backup holds, read back from the written file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// `PRAGMA user_version`: the migrations the copy has.
    pub schema_version: i64,
    /// The schema version this radgate knows.
    pub known_schema_version: i64,
    pub codes: i64,
    pub sessions: i64,
    pub bytes: u64,
}

/// The schema version this radgate's migrations reach.
pub fn known_schema_version() -> i64 {
    super::MIGRATIONS.len() as i64
}

/// Errors about a file SQLite cannot use name it, as when the store opens.
fn file_error(e: rusqlite::Error, path: &Path) -> StoreError {
    use rusqlite::ErrorCode as C;
    let shown = path.display().to_string();
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            let reason = msg.clone().unwrap_or_else(|| f.to_string());
            match f.code {
                C::NotADatabase | C::DatabaseCorrupt => StoreError::NotADatabase {
                    path: shown,
                    reason,
                },
                C::CannotOpen => StoreError::Open {
                    path: shown,
                    reason,
                },
                _ => e.into(),
            }
        }
        _ => e.into(),
    }
}

/// Copy the database at `source` into `dest` (an empty or new file), in
/// one snapshot, then sync `dest`. `busy_timeout` bounds how long it waits
/// for the source's WAL lock (a checkpoint restarting the WAL holds it for
/// a moment). Returns the schema version of the copy.
pub fn backup_to(source: &Path, dest: &Path, busy_timeout: Duration) -> Result<i64, StoreError> {
    // Read-write (not created): a read-only connection could not create
    // the -shm file of a WAL database that no server has open. SQLite falls
    // back to read-only by itself when this user may not write the file;
    // the backup only reads.
    let src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| file_error(e, source))?;
    src.busy_timeout(busy_timeout)?;
    let version: i64 = src
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| file_error(e, source))?;
    if version == 0 {
        return Err(StoreError::Missing(format!(
            "{} (it holds no radgate tables: schema version 0)",
            source.display()
        )));
    }
    let mut dst = Connection::open(dest).map_err(|e| file_error(e, dest))?;
    // Synced once, whole, below: no syncs while the pages go in.
    dst.execute_batch("PRAGMA synchronous = OFF")?;
    {
        let b = Backup::new(&src, &mut dst)?;
        let deadline = Instant::now() + busy_timeout.max(Duration::from_secs(1));
        loop {
            match b.step(-1).map_err(|e| file_error(e, source))? {
                StepResult::Done => break,
                // -1 copies everything in one step; More cannot come, but
                // a step that did not finish is simply taken again.
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked => {
                    if Instant::now() >= deadline {
                        return Err(StoreError::CommitFailed(format!(
                            "the database {} stayed locked for {} ms (database.busy_timeout_ms); \
                             nothing was written",
                            source.display(),
                            busy_timeout.as_millis()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                // StepResult is non-exhaustive.
                _ => {}
            }
        }
    }
    // The pages came with the source's WAL mark: make the copy one file.
    dst.query_row("PRAGMA journal_mode = DELETE", [], |r| {
        r.get::<_, String>(0)
    })?;
    let copied: i64 = dst.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    dst.close().map_err(|(_, e)| e)?;
    drop(src);
    std::fs::File::open(dest)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::CommitFailed(format!("syncing {}: {e}", dest.display())))?;
    if copied != version {
        return Err(StoreError::CommitFailed(format!(
            "the database's schema changed during the backup (v{version} before, v{copied} in \
             the copy: a server started and migrated it); run the backup again"
        )));
    }
    Ok(copied)
}

/// Open a backup read-only, check it whole (`PRAGMA integrity_check` and
/// `foreign_key_check`) and say what it holds.
pub fn check_backup(path: &Path) -> Result<BackupInfo, StoreError> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| file_error(e, path))?;
    let mut st = c.prepare("PRAGMA integrity_check")?;
    let problems: Vec<String> = st
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(|e| file_error(e, path))?
        .collect::<Result<_, _>>()?;
    drop(st);
    if problems != ["ok"] {
        return Err(StoreError::NotADatabase {
            path: path.display().to_string(),
            reason: format!(
                "integrity check failed: {}",
                problems
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        });
    }
    let dangling = c
        .prepare("PRAGMA foreign_key_check")?
        .query_map([], |_| Ok(()))?
        .count();
    if dangling > 0 {
        return Err(StoreError::NotADatabase {
            path: path.display().to_string(),
            reason: format!("{dangling} row(s) name a missing row (PRAGMA foreign_key_check)"),
        });
    }
    let schema_version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let codes: i64 = c.query_row("SELECT COUNT(*) FROM access_tokens", [], |r| r.get(0))?;
    let sessions: i64 = c.query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))?;
    drop(c);
    let bytes = std::fs::metadata(path)
        .map_err(|e| StoreError::CommitFailed(format!("{}: {e}", path.display())))?
        .len();
    Ok(BackupInfo {
        schema_version,
        known_schema_version: known_schema_version(),
        codes,
        sessions,
        bytes,
    })
}
