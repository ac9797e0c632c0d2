//! Where the writer looks for a code first: a hint from the code's key to
//! its token's id.
//!
//! Looking a code up through the `code_key` index and then reading its row
//! reads two B-trees. With a million codes neither leaf is in SQLite's page
//! cache, and half of a login's time went to the index descent (perf,
//! session 4). With a hint the writer reads the row by id — one B-tree —
//! and checks that it is the row asked for.
//!
//! A hint is never trusted, only checked, so it can be stale without harm:
//! - the row read must have the code key asked for (a deleted, renamed or
//!   re-created code, or two keys with the same 32-bit tag, fail this and
//!   fall back to the index);
//! - it must belong to the client's business when the client has one;
//! - a client without a business may use a hint only while every token in
//!   the database belongs to one business: otherwise a code might exist in
//!   two businesses, which must be refused as ambiguous, and only the index
//!   shows that. The writer re-reads this whenever another connection (the
//!   CLI, the HTTP API) has committed (`PRAGMA data_version`), before any
//!   lookup of its batch, inside its write transaction.
//!
//! The hints come from a scan of the code index on a thread of its own at
//! start (the writer serves from the index meanwhile), and from every
//! lookup the index answers afterwards. They take 8 bytes a slot, at most
//! three quarters full: 16 MiB for a million codes.

use std::hash::BuildHasher;
use std::sync::mpsc;

use foldhash::fast::RandomState;
use rusqlite::Connection;

use super::StoreError;

/// The table never grows beyond this many slots (32 MiB, room for about
/// three million codes); past that it is emptied and learned again.
const MAX_SLOTS: usize = 1 << 22;

/// Open addressing, linear probing: each slot packs a 32-bit tag of the
/// code key's hash (which also picks the slot) and a token id; 0 is empty.
/// A lookup is one or two cache lines, where a sorted array of a million
/// hints took some twenty. Two keys with the same tag share a slot: one of
/// them gets the other's id, fails the check on use and goes to the index.
/// Ids that do not fit 32 bits get no hint.
struct Table {
    slots: Vec<u64>,
    len: usize,
}

impl Table {
    fn new() -> Table {
        Table {
            slots: vec![0; 1024],
            len: 0,
        }
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    fn get(&self, tag: u32) -> Option<i64> {
        let mut i = tag as usize & self.mask();
        // At most three quarters full: the probe ends at an empty slot.
        loop {
            let s = *self.slots.get(i)?;
            if s == 0 {
                return None;
            }
            if (s >> 32) as u32 == tag {
                return Some((s & 0xffff_ffff) as i64);
            }
            i = (i + 1) & self.mask();
        }
    }

    fn insert(&mut self, tag: u32, id: i64) {
        let Ok(id) = u32::try_from(id) else { return };
        if id == 0 {
            return;
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let packed = (u64::from(tag) << 32) | u64::from(id);
        let mut i = tag as usize & self.mask();
        loop {
            let Some(s) = self.slots.get_mut(i) else {
                return;
            };
            if *s == 0 {
                *s = packed;
                self.len += 1;
                return;
            }
            if (*s >> 32) as u32 == tag {
                *s = packed;
                return;
            }
            i = (i + 1) & self.mask();
        }
    }

    fn grow(&mut self) {
        let size = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![0; size.min(MAX_SLOTS)]);
        self.len = 0;
        if size > MAX_SLOTS {
            return;
        }
        for s in old.into_iter().filter(|s| *s != 0) {
            self.insert((s >> 32) as u32, (s & 0xffff_ffff) as i64);
        }
    }

    fn iter(&self) -> impl Iterator<Item = (u32, i64)> + '_ {
        self.slots
            .iter()
            .filter(|s| **s != 0)
            .map(|s| ((s >> 32) as u32, (s & 0xffff_ffff) as i64))
    }
}

pub(crate) struct CodeHints {
    hasher: RandomState,
    table: Table,
    loading: Option<mpsc::Receiver<Table>>,
    data_version: Option<i64>,
    single_business: bool,
}

impl CodeHints {
    /// Hints that fill in from a scan of `path` on a thread of their own.
    /// Without that thread (it could not start, or the scan failed) the
    /// hints are only learned: slower at first, never wrong.
    pub(crate) fn start(path: &std::path::Path) -> CodeHints {
        let hasher = RandomState::default();
        let (tx, rx) = mpsc::channel();
        let h = hasher.clone();
        let path = path.to_path_buf();
        let started = std::thread::Builder::new()
            .name("radgate-codes".into())
            .spawn(move || match scan(&path, &h) {
                Ok(t) => {
                    // The writer takes them at its next batch; until then
                    // (and when it never comes) it uses the index.
                    let _ = tx.send(t);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "store: cannot read the codes for the lookup hints")
                }
            });
        CodeHints {
            hasher,
            table: Table::new(),
            loading: started.is_ok().then_some(rx),
            data_version: None,
            single_business: false,
        }
    }

    /// The tag of a code key (see [`Table`]).
    pub(crate) fn hash(&self, code_key: &str) -> u32 {
        (self.hasher.hash_one(code_key) >> 32) as u32
    }

    /// Call at the start of every batch, inside its transaction.
    pub(crate) fn refresh(&mut self, conn: &Connection) -> Result<(), StoreError> {
        if let Some(rx) = &self.loading {
            match rx.try_recv() {
                Ok(mut t) => {
                    tracing::debug!(codes = t.len, "store: code lookup hints loaded");
                    // What was learned meanwhile is newer than the scan.
                    for (tag, id) in self.table.iter() {
                        t.insert(tag, id);
                    }
                    self.table = t;
                    self.loading = None;
                }
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => self.loading = None,
            }
        }
        let v: i64 = conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        if self.data_version != Some(v) {
            self.single_business = conn
                .prepare_cached(
                    "SELECT COALESCE((SELECT business_id FROM access_tokens ORDER BY business_id LIMIT 1) \
                     = (SELECT business_id FROM access_tokens ORDER BY business_id DESC LIMIT 1), 1)",
                )?
                .query_row([], |r| r.get(0))?;
            self.data_version = Some(v);
        }
        Ok(())
    }

    /// Use hints only for clients tied to a business (whose rows are
    /// checked against it) until a refresh succeeds again.
    pub(crate) fn distrust(&mut self) {
        self.data_version = None;
        self.single_business = false;
    }

    /// The token id hinted for this code key, when a hint may be used for
    /// a client of `business_id`.
    pub(crate) fn get(&self, hash: u32, business_id: Option<i64>) -> Option<i64> {
        if business_id.is_none() && !self.single_business {
            return None;
        }
        self.table.get(hash)
    }

    /// Remember what the index answered.
    pub(crate) fn learn(&mut self, hash: u32, id: i64) {
        self.table.insert(hash, id);
    }

    #[cfg(test)]
    fn loaded(&self) -> usize {
        self.table.len
    }
}

fn scan(path: &std::path::Path, hasher: &RandomState) -> Result<Table, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut stmt = conn.prepare("SELECT code_key, id FROM access_tokens")?;
    let mut rows = stmt.query([])?;
    let mut t = Table::new();
    while let Some(r) = rows.next()? {
        let key: String = r.get(0)?;
        t.insert((hasher.hash_one(key.as_str()) >> 32) as u32, r.get(1)?);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(dir: &std::path::Path, sql: &str) -> Connection {
        let conn = Connection::open(dir.join("c.db")).unwrap();
        conn.execute_batch(
            "CREATE TABLE access_tokens (id INTEGER PRIMARY KEY, business_id INTEGER NOT NULL, \
             code_key TEXT NOT NULL, UNIQUE (business_id, code_key));",
        )
        .unwrap();
        conn.execute_batch(sql).unwrap();
        conn
    }

    fn loaded(dir: &std::path::Path, conn: &Connection) -> CodeHints {
        let mut h = CodeHints::start(&dir.join("c.db"));
        let rx = h.loading.take().unwrap();
        h.table = rx.recv().unwrap();
        h.refresh(conn).unwrap();
        h
    }

    #[test]
    fn hints_come_from_the_scan_and_from_lookups() {
        let dir = tempfile::tempdir().unwrap();
        let conn = db(
            dir.path(),
            "INSERT INTO access_tokens VALUES (1, 0, 'ALPHA'), (2, 0, 'BRAVO');",
        );
        let mut h = loaded(dir.path(), &conn);
        assert_eq!(h.loaded(), 2);
        assert_eq!(h.get(h.hash("ALPHA"), None), Some(1));
        assert_eq!(h.get(h.hash("BRAVO"), Some(0)), Some(2));
        assert_eq!(h.get(h.hash("CHARLIE"), None), None);
        // A code created later, then re-created with a new id: the newest
        // lookup wins over the scan.
        h.learn(h.hash("CHARLIE"), 3);
        h.learn(h.hash("ALPHA"), 7);
        assert_eq!(h.get(h.hash("CHARLIE"), None), Some(3));
        assert_eq!(h.get(h.hash("ALPHA"), None), Some(7));
    }

    #[test]
    fn a_client_without_business_gets_no_hint_once_there_are_two_businesses() {
        let dir = tempfile::tempdir().unwrap();
        let conn = db(
            dir.path(),
            "INSERT INTO access_tokens VALUES (1, 5, 'ALPHA');",
        );
        let mut h = loaded(dir.path(), &conn);
        assert_eq!(h.get(h.hash("ALPHA"), None), Some(1));
        // Another connection (the CLI) adds the same code in business 6.
        let other = Connection::open(dir.path().join("c.db")).unwrap();
        other
            .execute("INSERT INTO access_tokens VALUES (2, 6, 'ALPHA')", [])
            .unwrap();
        h.refresh(&conn).unwrap();
        assert_eq!(h.get(h.hash("ALPHA"), None), None);
        // A client tied to a business may still use it (the row is checked
        // against its business).
        assert_eq!(h.get(h.hash("ALPHA"), Some(5)), Some(1));
        // Back to one business.
        other
            .execute("DELETE FROM access_tokens WHERE id = 2", [])
            .unwrap();
        h.refresh(&conn).unwrap();
        assert_eq!(h.get(h.hash("ALPHA"), None), Some(1));
    }

    #[test]
    fn an_empty_database_is_one_business() {
        let dir = tempfile::tempdir().unwrap();
        let conn = db(dir.path(), "");
        let h = loaded(dir.path(), &conn);
        assert!(h.single_business);
        assert_eq!(h.loaded(), 0);
    }

    #[test]
    fn the_table_grows_keeps_every_hint_and_overwrites_by_tag() {
        let mut t = Table::new();
        // Spread tags (a bijection of i), then tags that all start at slot
        // 0 while the table is smaller than 2^20 slots (long probes).
        let spread = |i: i64| (i as u32).wrapping_mul(0x9E37_79B9);
        let crowded = |i: i64| (i as u32) << 20;
        for i in 1..=10_000i64 {
            t.insert(spread(i), i);
        }
        for i in 1..=300i64 {
            t.insert(crowded(i), -i & 0xffff);
        }
        assert_eq!(t.len, 10_300);
        assert!(t.slots.len() * 3 >= t.len * 4);
        for i in 1..=10_000i64 {
            assert_eq!(t.get(spread(i)), Some(i));
        }
        for i in 1..=300i64 {
            assert_eq!(t.get(crowded(i)), Some(-i & 0xffff));
        }
        t.insert(5, 42);
        t.insert(5, 43);
        assert_eq!(t.get(5), Some(43));
        // No hint for ids that do not fit, or for a tag never seen.
        t.insert(6, 1 << 40);
        assert_eq!(t.get(6), None);
        assert_eq!(t.get(0xdead_beef), None);
    }
}
