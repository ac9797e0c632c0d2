//! LastAccess stamps of logins, written in sweeps.
//!
//! A login that finds its token's LastAccess more than a minute old must
//! stamp it. Written at once, that is one row — one random page of the
//! tokens table — per login: with many codes in use (a million codes, each
//! logged in once in a while) nearly every login dirties a page of its own,
//! which then goes through the WAL and a checkpoint. The writer defers such
//! a stamp instead, when it is the only thing the login changes (a first
//! use, a MAC binding or a pending place is written at once, LastAccess
//! with it): it keeps token id → time here and writes the stamps in id
//! order, a chunk per batch, in a sweep every [`SWEEP_EVERY`]. Every stamp
//! a page collects in the meantime then costs one page write.
//!
//! What this changes for readers: another connection (the CLI, the HTTP
//! API) sees a login's LastAccess up to about [`SWEEP_EVERY`] later. The
//! writer itself decides with the deferred stamp ([`Stamps::last_access`]).
//! Graceful shutdown writes them all ([`Stamps::write_all`]); a crash loses
//! the deferred ones, as it may lose any stamp not yet synced (see
//! `Durability::Applied`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

/// A sweep starts this long after the previous one started.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// Stamps written per batch while a sweep runs.
pub(crate) const CHUNK: usize = 256;
/// Stamps written per second on a server without requests.
pub(crate) const IDLE_CHUNK: usize = 4096;

const WRITE: &str = "UPDATE access_tokens SET last_access = ?1 \
     WHERE id = ?2 AND (last_access IS NULL OR last_access < ?1)";

pub(crate) struct Stamps {
    /// Token id → LastAccess to write. Ids and times that do not fit in
    /// 32 bits are written at once instead (see [`Stamps::defer`]).
    pending: BTreeMap<u32, u32>,
    /// While a sweep runs: the next id it writes.
    cursor: Option<u32>,
    next_sweep: Instant,
}

impl Stamps {
    pub(crate) fn new(clock: Instant) -> Stamps {
        Stamps {
            pending: BTreeMap::new(),
            cursor: None,
            next_sweep: clock + SWEEP_EVERY,
        }
    }

    /// Token `id`'s LastAccess as this writer will leave it: the later of
    /// the stored one and the deferred one.
    pub(crate) fn last_access(&self, id: i64, stored: Option<i64>) -> Option<i64> {
        let deferred = u32::try_from(id)
            .ok()
            .and_then(|k| self.pending.get(&k))
            .map(|&t| i64::from(t));
        stored.max(deferred)
    }

    /// Defer stamping token `id` with `at`. False when the stamp cannot be
    /// kept here (id or time beyond 32 bits): the caller writes it at once.
    pub(crate) fn defer(&mut self, id: i64, at: i64) -> bool {
        let (Ok(k), Ok(t)) = (u32::try_from(id), u32::try_from(at)) else {
            return false;
        };
        let e = self.pending.entry(k).or_insert(t);
        *e = (*e).max(t);
        true
    }

    /// The caller wrote token `id`'s LastAccess itself.
    pub(crate) fn written(&mut self, id: i64) {
        if let Ok(k) = u32::try_from(id) {
            self.pending.remove(&k);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Inside a write transaction: when a sweep is due or running, write
    /// up to `max` stamps, in id order from where it stopped. Written
    /// stamps are forgotten even if the transaction then fails (a stamp
    /// lost with a failed commit, as any other).
    pub(crate) fn sweep(
        &mut self,
        conn: &Connection,
        clock: Instant,
        max: usize,
    ) -> rusqlite::Result<usize> {
        if self.cursor.is_none() {
            if clock < self.next_sweep || self.pending.is_empty() {
                return Ok(0);
            }
            self.cursor = Some(0);
            self.next_sweep = clock + SWEEP_EVERY;
        }
        let from = self.cursor.unwrap_or(0);
        let chunk: Vec<(u32, u32)> = self
            .pending
            .range(from..)
            .take(max)
            .map(|(&k, &t)| (k, t))
            .collect();
        self.cursor = match chunk.last() {
            Some(&(k, _)) if chunk.len() == max => k.checked_add(1),
            _ => None,
        };
        write(conn, &mut self.pending, &chunk)?;
        Ok(chunk.len())
    }

    /// Inside a write transaction: write every deferred stamp.
    pub(crate) fn write_all(&mut self, conn: &Connection) -> rusqlite::Result<usize> {
        let all: Vec<(u32, u32)> = self.pending.iter().map(|(&k, &t)| (k, t)).collect();
        self.cursor = None;
        write(conn, &mut self.pending, &all)?;
        Ok(all.len())
    }
}

fn write(
    conn: &Connection,
    pending: &mut BTreeMap<u32, u32>,
    stamps: &[(u32, u32)],
) -> rusqlite::Result<()> {
    let mut st = conn.prepare_cached(WRITE)?;
    for &(id, at) in stamps {
        pending.remove(&id);
        st.execute(params![at, id])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE access_tokens (id INTEGER PRIMARY KEY, last_access INTEGER);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
             INSERT INTO access_tokens (id) SELECT i FROM n;",
        )
        .unwrap();
        c
    }

    fn stored(c: &Connection, id: i64) -> Option<i64> {
        c.query_row(
            "SELECT last_access FROM access_tokens WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn the_later_stamp_wins_and_is_what_the_writer_sees() {
        let t0 = Instant::now();
        let mut s = Stamps::new(t0);
        assert!(s.defer(7, 1_000));
        assert!(s.defer(7, 900));
        assert_eq!(s.last_access(7, Some(500)), Some(1_000));
        assert_eq!(s.last_access(7, Some(2_000)), Some(2_000));
        assert_eq!(s.last_access(8, None), None);
        s.written(7);
        assert_eq!(s.last_access(7, Some(500)), Some(500));
        // Beyond 32 bits: not kept, the caller writes.
        assert!(!s.defer(1 << 40, 1_000));
        assert!(!s.defer(7, 1 << 40));
        assert!(!s.defer(-1, 1_000));
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn a_sweep_waits_its_turn_then_writes_in_chunks_in_id_order() {
        let c = db();
        let t0 = Instant::now();
        let mut s = Stamps::new(t0);
        for id in (1..=600).rev() {
            assert!(s.defer(id, 5_000 + id));
        }
        // Not due yet.
        assert_eq!(s.sweep(&c, t0, 256).unwrap(), 0);
        assert_eq!(stored(&c, 1), None);
        let due = t0 + SWEEP_EVERY;
        assert_eq!(s.sweep(&c, due, 256).unwrap(), 256);
        assert_eq!(stored(&c, 1), Some(5_001));
        assert_eq!(stored(&c, 256), Some(5_256));
        assert_eq!(stored(&c, 257), None);
        // A stamp behind the cursor waits for the next sweep; one ahead of
        // it is written by this one.
        assert!(s.defer(3, 9_000));
        assert!(s.defer(599, 9_000));
        assert_eq!(s.sweep(&c, due, 256).unwrap(), 256);
        assert_eq!(s.sweep(&c, due, 256).unwrap(), 88);
        assert_eq!(stored(&c, 599), Some(9_000));
        assert_eq!(stored(&c, 600), Some(5_600));
        assert_eq!(stored(&c, 3), Some(5_003));
        // The sweep is over; the next starts SWEEP_EVERY after this one did.
        assert_eq!(s.sweep(&c, due, 256).unwrap(), 0);
        assert_eq!(s.len(), 1);
        assert_eq!(s.sweep(&c, due + SWEEP_EVERY, 256).unwrap(), 1);
        assert_eq!(stored(&c, 3), Some(9_000));
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn a_stamp_never_moves_last_access_back_and_write_all_empties() {
        let c = db();
        c.execute(
            "UPDATE access_tokens SET last_access = 8000 WHERE id = 2",
            [],
        )
        .unwrap();
        let mut s = Stamps::new(Instant::now());
        assert!(s.defer(1, 7_000));
        assert!(s.defer(2, 7_000));
        assert_eq!(s.write_all(&c).unwrap(), 2);
        assert_eq!(stored(&c, 1), Some(7_000));
        assert_eq!(stored(&c, 2), Some(8_000));
        assert_eq!(s.len(), 0);
    }
}
