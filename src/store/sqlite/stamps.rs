//! LastAccess stamps of logins, written in sweeps.
//!
//! A login that finds its token's LastAccess more than a minute old must
//! stamp it. Written at once, that is one row — one random page of the
//! tokens table — per login: with many codes in use (a million codes, each
//! logged in once in a while) nearly every login dirties a page of its own,
//! which then goes through the WAL and a checkpoint. The writer defers such
//! a stamp instead, when it is the only change the login (or accounting
//! Start) makes to the token's row — a first use, a MAC binding or time
//! charged writes the row at once, LastAccess with it. It keeps token id →
//! time here and writes the stamps in id order in a sweep every
//! [`SWEEP_EVERY`]: [`CHUNK`] with each batch of requests, and
//! [`IDLE_CHUNK`] per transaction of their own while no requests wait
//! (after the server's 1 s idle tick). Every stamp a page collects in the
//! meantime then costs one page write.
//!
//! What this changes for readers: another connection (the CLI, the HTTP
//! API) sees a login's LastAccess about [`SWEEP_EVERY`] later, longer after
//! a burst of logins on many codes. The writer itself decides with the
//! deferred stamp ([`Stamps::last_access`]). Graceful shutdown writes them
//! all ([`Stamps::write_all`]); a crash or a failed commit loses those not
//! yet written, as it may lose any stamp not yet synced (see
//! `Durability::Applied`).

use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

/// A sweep starts this long after the previous one started.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// Stamps written per batch while a sweep runs.
pub(crate) const CHUNK: usize = 256;
/// Stamps written per transaction of stamps alone, while no requests wait
/// (a few milliseconds of the writer's time each).
pub(crate) const IDLE_CHUNK: usize = 1024;

const WRITE: &str = "UPDATE access_tokens SET last_access = ?1 \
     WHERE id = ?2 AND (last_access IS NULL OR last_access < ?1)";

/// Token ids per page of the table (16 KiB of stamps).
const PAGE: usize = 4096;
/// Tokens with larger ids (never reached in practice: ids count tokens
/// ever created) are stamped at once; this bounds the page index to
/// 1 MiB.
const MAX_ID: u64 = 1 << 28;

/// Deferred stamps of the ids `n * PAGE ..` (0: none).
struct Page {
    at: Box<[u32; PAGE]>,
    count: usize,
}

pub(crate) struct Stamps {
    /// Token id → LastAccess to write, by pages of ids: a login looks its
    /// token up in constant time and a sweep walks the ids in order.
    /// Memory follows the ids with deferred stamps (16 KiB per 4096 ids
    /// touched; 4 MiB for a million tokens), and a page goes once swept.
    pages: Vec<Option<Page>>,
    count: usize,
    /// While a sweep runs: the next id it writes.
    cursor: Option<u64>,
    next_sweep: Instant,
    every: Duration,
}

/// `id` as a page index and a slot, when it can be kept here.
fn slot(id: i64) -> Option<(usize, usize)> {
    let id = u64::try_from(id).ok().filter(|&i| i < MAX_ID)?;
    let id = usize::try_from(id).ok()?;
    Some((id / PAGE, id % PAGE))
}

impl Stamps {
    /// Sweeps start `every` apart ([`SWEEP_EVERY`] in service).
    pub(crate) fn new(clock: Instant, every: Duration) -> Stamps {
        Stamps {
            pages: Vec::new(),
            count: 0,
            cursor: None,
            next_sweep: clock + every,
            every,
        }
    }

    fn get(&self, id: i64) -> Option<u32> {
        let (p, i) = slot(id)?;
        let page = self.pages.get(p)?.as_ref()?;
        page.at.get(i).copied().filter(|&t| t != 0)
    }

    /// Token `id`'s LastAccess as this writer will leave it: the later of
    /// the stored one and the deferred one.
    pub(crate) fn last_access(&self, id: i64, stored: Option<i64>) -> Option<i64> {
        stored.max(self.get(id).map(i64::from))
    }

    /// Defer stamping token `id` with `at`. False when the stamp cannot be
    /// kept here (an id beyond MAX_ID, a time outside 1..2^32): the caller
    /// writes it at once.
    pub(crate) fn defer(&mut self, id: i64, at: i64) -> bool {
        let (Some((p, i)), Some(t)) = (slot(id), u32::try_from(at).ok().filter(|&t| t != 0)) else {
            return false;
        };
        if self.pages.len() <= p {
            self.pages.resize_with(p + 1, || None);
        }
        let Some(entry) = self.pages.get_mut(p) else {
            return false;
        };
        let page = entry.get_or_insert_with(|| Page {
            at: Box::new([0; PAGE]),
            count: 0,
        });
        let Some(v) = page.at.get_mut(i) else {
            return false;
        };
        if *v == 0 {
            page.count += 1;
            self.count += 1;
        }
        *v = (*v).max(t);
        true
    }

    /// Forget token `id`'s deferred stamp; returns it.
    fn take(&mut self, id: u64) -> Option<u32> {
        let id = usize::try_from(id).ok()?;
        let entry = self.pages.get_mut(id / PAGE)?;
        let page = entry.as_mut()?;
        let v = page.at.get_mut(id % PAGE)?;
        let t = std::mem::take(v);
        if t == 0 {
            return None;
        }
        page.count -= 1;
        self.count -= 1;
        if page.count == 0 {
            *entry = None;
        }
        Some(t)
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Is a sweep running, or due at `clock` with stamps to write?
    pub(crate) fn sweeping(&self, clock: Instant) -> bool {
        self.cursor.is_some() || (self.count > 0 && clock >= self.next_sweep)
    }

    /// Up to `max` stamps from id `from` on, in id order, taken out; and
    /// the id after the last one taken when `max` were found.
    fn take_from(&mut self, from: u64, max: usize) -> (Vec<(u64, u32)>, Option<u64>) {
        let mut out = Vec::new();
        let first = usize::try_from(from).map_or(usize::MAX, |f| f / PAGE);
        for p in first..self.pages.len() {
            let Some(page) = self.pages.get(p).and_then(Option::as_ref) else {
                continue;
            };
            let base = (p * PAGE) as u64;
            let start = usize::try_from(from.saturating_sub(base)).unwrap_or(PAGE);
            let ids: Vec<u64> = page
                .at
                .iter()
                .enumerate()
                .skip(start)
                .filter(|(_, &t)| t != 0)
                .map(|(i, _)| base + i as u64)
                .take(max - out.len())
                .collect();
            for id in ids {
                if let Some(t) = self.take(id) {
                    out.push((id, t));
                }
            }
            if out.len() == max {
                let next = out.last().map(|&(id, _)| id + 1);
                return (out, next);
            }
        }
        (out, None)
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
            if clock < self.next_sweep || self.count == 0 {
                return Ok(0);
            }
            self.cursor = Some(0);
            self.next_sweep = clock + self.every;
        }
        let (chunk, next) = self.take_from(self.cursor.unwrap_or(0), max.max(1));
        self.cursor = next;
        write(conn, &chunk)?;
        Ok(chunk.len())
    }

    /// Inside a write transaction: write every deferred stamp.
    pub(crate) fn write_all(&mut self, conn: &Connection) -> rusqlite::Result<usize> {
        let (all, _) = self.take_from(0, usize::MAX);
        self.cursor = None;
        write(conn, &all)?;
        Ok(all.len())
    }
}

fn write(conn: &Connection, stamps: &[(u64, u32)]) -> rusqlite::Result<()> {
    let mut st = conn.prepare_cached(WRITE)?;
    for &(id, at) in stamps {
        st.execute(params![at, id as i64])?;
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
        let mut s = Stamps::new(t0, SWEEP_EVERY);
        assert!(s.defer(7, 1_000));
        assert!(s.defer(7, 900));
        assert_eq!(s.last_access(7, Some(500)), Some(1_000));
        assert_eq!(s.last_access(7, Some(2_000)), Some(2_000));
        assert_eq!(s.last_access(8, None), None);
        s.take(7);
        assert_eq!(s.last_access(7, Some(500)), Some(500));
        // Beyond 32 bits: not kept, the caller writes.
        assert!(!s.defer(1 << 40, 1_000));
        assert!(!s.defer(7, 1 << 40));
        assert!(!s.defer(7, 0));
        assert!(!s.defer(-1, 1_000));
        assert_eq!(s.len(), 0);
        // Far apart ids: pages come and go with their stamps.
        for id in [1, 5_000, 9_999_999, (MAX_ID - 1) as i64] {
            assert!(s.defer(id, 42));
        }
        assert_eq!(s.len(), 4);
        assert_eq!(s.pages.iter().flatten().count(), 4);
        assert_eq!(s.last_access(9_999_999, None), Some(42));
        s.take(9_999_999);
        assert_eq!(s.pages.iter().flatten().count(), 3);
        let (all, next) = s.take_from(2, usize::MAX);
        assert_eq!(all, vec![(5_000, 42), (MAX_ID - 1, 42)]);
        assert_eq!(next, None);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn a_sweep_waits_its_turn_then_writes_in_chunks_in_id_order() {
        let c = db();
        let t0 = Instant::now();
        let mut s = Stamps::new(t0, SWEEP_EVERY);
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
        let mut s = Stamps::new(Instant::now(), SWEEP_EVERY);
        assert!(s.defer(1, 7_000));
        assert!(s.defer(2, 7_000));
        assert_eq!(s.write_all(&c).unwrap(), 2);
        assert_eq!(stored(&c, 1), Some(7_000));
        assert_eq!(stored(&c, 2), Some(8_000));
        assert_eq!(s.len(), 0);
    }
}
