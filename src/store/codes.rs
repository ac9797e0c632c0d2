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
//!   re-created code, or two keys with the same 64-bit hash, fail this and
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
//! lookup the index answers afterwards.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::mpsc;

use rusqlite::Connection;

use super::StoreError;

/// At most this many hints learned after the start; then they are dropped
/// and learned again (bounds memory when codes churn).
const MAX_LEARNED: usize = 1 << 20;

pub(crate) struct CodeHints {
    hasher: RandomState,
    /// From the scan at start: (hash of code key, token id), sorted.
    base: Vec<(u64, i64)>,
    /// Learned since; checked first (newer).
    learned: HashMap<u64, i64>,
    loading: Option<mpsc::Receiver<Vec<(u64, i64)>>>,
    data_version: Option<i64>,
    single_business: bool,
}

impl CodeHints {
    /// Hints that fill in from a scan of `path` on a thread of their own.
    /// Without that thread (it could not start, or the scan failed) the
    /// hints are only learned: slower at first, never wrong.
    pub(crate) fn start(path: &std::path::Path) -> CodeHints {
        let hasher = RandomState::new();
        let (tx, rx) = mpsc::channel();
        let h = hasher.clone();
        let path = path.to_path_buf();
        let started = std::thread::Builder::new()
            .name("radgate-codes".into())
            .spawn(move || match scan(&path, &h) {
                Ok(v) => {
                    // The writer takes them at its next batch; until then
                    // (and when it never comes) it uses the index.
                    let _ = tx.send(v);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "store: cannot read the codes for the lookup hints")
                }
            });
        CodeHints {
            hasher,
            base: Vec::new(),
            learned: HashMap::new(),
            loading: started.is_ok().then_some(rx),
            data_version: None,
            single_business: false,
        }
    }

    pub(crate) fn hash(&self, code_key: &str) -> u64 {
        self.hasher.hash_one(code_key)
    }

    /// Call at the start of every batch, inside its transaction.
    pub(crate) fn refresh(&mut self, conn: &Connection) -> Result<(), StoreError> {
        if let Some(rx) = &self.loading {
            match rx.try_recv() {
                Ok(v) => {
                    tracing::debug!(codes = v.len(), "store: code lookup hints loaded");
                    self.base = v;
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
    pub(crate) fn get(&self, hash: u64, business_id: Option<i64>) -> Option<i64> {
        if business_id.is_none() && !self.single_business {
            return None;
        }
        if let Some(id) = self.learned.get(&hash) {
            return Some(*id);
        }
        self.base
            .binary_search_by_key(&hash, |e| e.0)
            .ok()
            .and_then(|i| self.base.get(i))
            .map(|e| e.1)
    }

    /// Remember what the index answered.
    pub(crate) fn learn(&mut self, hash: u64, id: i64) {
        if self.learned.len() >= MAX_LEARNED {
            self.learned.clear();
        }
        self.learned.insert(hash, id);
    }

    #[cfg(test)]
    fn loaded(&self) -> usize {
        self.base.len()
    }
}

fn scan(path: &std::path::Path, hasher: &RandomState) -> Result<Vec<(u64, i64)>, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut stmt = conn.prepare("SELECT code_key, id FROM access_tokens")?;
    let mut rows = stmt.query([])?;
    let mut v = Vec::new();
    while let Some(r) = rows.next()? {
        let key: String = r.get(0)?;
        v.push((hasher.hash_one(key.as_str()), r.get::<_, i64>(1)?));
    }
    // A key hashing like another keeps one of its ids; the check on use
    // sends the other to the index.
    v.sort_unstable_by_key(|e| e.0);
    v.dedup_by_key(|e| e.0);
    Ok(v)
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
        h.base = rx.recv().unwrap();
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
}
