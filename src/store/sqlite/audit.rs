//! The audit log in SQLite (the rules: store/audit.rs).

use sqlx::{Row, SqliteConnection};

use super::Store;
use crate::store::audit::{Actor, Change, Filter, Record};
use crate::store::StoreError;

/// Record `c` on `conn`, inside the transaction of the change.
pub(super) async fn record(
    conn: &mut SqliteConnection,
    at: i64,
    actor: &Actor,
    c: &Change,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, target, business_id, before, after) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(at)
    .bind(&actor.0)
    .bind(c.action)
    .bind(&c.target)
    .bind(c.business_id)
    .bind(&c.before)
    .bind(&c.after)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// Record an action that changes nothing stored (a disconnect).
    pub async fn record_audit(&self, at: i64, actor: &Actor, c: &Change) -> Result<(), StoreError> {
        let mut conn = self.pool().acquire().await?;
        record(&mut conn, at, actor, c).await
    }

    /// Recorded changes matching `f`, newest first.
    pub async fn audit_log(&self, f: &Filter) -> Result<Vec<Record>, StoreError> {
        let mut sql = String::from(
            "SELECT id, at, actor, action, target, business_id, before, after FROM audit_log WHERE 1 = 1",
        );
        let mut ints: Vec<(usize, i64)> = Vec::new();
        let mut texts: Vec<(usize, String)> = Vec::new();
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if let Some(v) = f.since {
            sql.push_str(" AND at >= ?");
            ints.push((next(), v));
        }
        if let Some(v) = f.until {
            sql.push_str(" AND at < ?");
            ints.push((next(), v));
        }
        if let Some(v) = &f.actor {
            if v.ends_with(':') {
                sql.push_str(" AND substr(actor, 1, length(?)) = ?");
                let i = next();
                texts.push((i, v.clone()));
                texts.push((next(), v.clone()));
            } else {
                sql.push_str(" AND actor = ?");
                texts.push((next(), v.clone()));
            }
        }
        if let Some(v) = &f.action {
            if v.ends_with('.') {
                sql.push_str(" AND substr(action, 1, length(?)) = ?");
                texts.push((next(), v.clone()));
                texts.push((next(), v.clone()));
            } else {
                sql.push_str(" AND action = ?");
                texts.push((next(), v.clone()));
            }
        }
        if let Some(v) = &f.target {
            sql.push_str(" AND lower(target) LIKE ? ESCAPE '\\'");
            texts.push((next(), crate::token::filter::search_pattern(v)));
        }
        if let Some(ids) = &f.business_ids {
            if ids.is_empty() {
                sql.push_str(" AND 0 = 1");
            } else {
                sql.push_str(&format!(
                    " AND business_id IN ({})",
                    ids.iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        let limit = f.limit.clamp(1, 1_000_000);
        // Binds in the order of their marks.
        let mut all: Vec<(usize, Result<i64, String>)> = ints
            .into_iter()
            .map(|(i, v)| (i, Ok(v)))
            .chain(texts.into_iter().map(|(i, v)| (i, Err(v))))
            .collect();
        all.sort_by_key(|(i, _)| *i);
        let mut q = sqlx::query(&sql);
        for (_, v) in &all {
            q = match v {
                Ok(i) => q.bind(*i),
                Err(t) => q.bind(t.as_str()),
            };
        }
        let rows = q.bind(limit).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(Record {
                    id: r.try_get(0)?,
                    at: r.try_get(1)?,
                    actor: r.try_get(2)?,
                    action: r.try_get(3)?,
                    target: r.try_get(4)?,
                    business_id: r.try_get(5)?,
                    before: r.try_get(6)?,
                    after: r.try_get(7)?,
                })
            })
            .collect()
    }
}
