//! Batches in SQLite (the rules: store/batches.rs).

use sqlx::{Row, SqliteConnection};

use super::{Store, EXPIRES_ON_SQL};
use crate::store::audit::Actor;
use crate::store::batches::{category_sql, Batch, BatchSummary};
use crate::store::StoreError;

pub(super) const COLS: &str = "id, name, business_id, created_on, created_by";

pub(super) fn from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Batch, sqlx::Error> {
    Ok(Batch {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        business_id: r.try_get(2)?,
        created_on: r.try_get(3)?,
        created_by: r.try_get(4)?,
    })
}

/// Make the batch `name` of the tokens `ids`, in the caller's transaction.
pub(super) async fn make(
    conn: &mut SqliteConnection,
    name: &str,
    business_id: i64,
    now: i64,
    actor: &Actor,
    ids: &[i64],
) -> Result<i64, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO batches (name, business_id, created_on, created_by) VALUES (?, ?, ?, ?) \
         RETURNING id",
    )
    .bind(name)
    .bind(business_id)
    .bind(now)
    .bind(&actor.0)
    .fetch_one(&mut *conn)
    .await?;
    for chunk in ids.chunks(500) {
        let sql = format!(
            "UPDATE access_tokens SET batch_id = ? WHERE id IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut q = sqlx::query(&sql).bind(id);
        for t in chunk {
            q = q.bind(*t);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(id)
}

impl Store {
    /// The newest `limit` batches that have codes of the businesses
    /// `scope` (`None`: all), with how those codes stand at `now`.
    pub async fn batches(
        &self,
        scope: Option<&[i64]>,
        now: i64,
        limit: i64,
    ) -> Result<Vec<BatchSummary>, StoreError> {
        let scoped = match scope {
            None => String::new(),
            Some([]) => " AND 0 = 1".into(),
            Some(ids) => format!(
                " AND business_id IN ({})",
                ids.iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let listed = format!(
            "SELECT DISTINCT batch_id FROM access_tokens WHERE batch_id IS NOT NULL{scoped} \
             ORDER BY batch_id DESC LIMIT ?"
        );
        let sql = format!("SELECT {COLS} FROM batches WHERE id IN ({listed}) ORDER BY id DESC");
        let rows = sqlx::query(&sql).bind(limit).fetch_all(self.pool()).await?;
        let mut out: Vec<BatchSummary> = rows
            .iter()
            .map(|r| from_row(r).map(BatchSummary::new))
            .collect::<Result<_, _>>()?;
        let Some(oldest) = out.last().map(|b| b.batch.id) else {
            return Ok(out);
        };
        let cat = category_sql(EXPIRES_ON_SQL, "single_use = 1", "?");
        let sql = format!(
            "SELECT batch_id, {cat} AS cat, COUNT(*) FROM access_tokens \
             WHERE batch_id >= ?{scoped} GROUP BY batch_id, cat"
        );
        let counts = sqlx::query(&sql)
            .bind(now)
            .bind(oldest)
            .fetch_all(self.pool())
            .await?;
        for r in counts {
            let (id, cat, n): (i64, String, i64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if let Some(b) = out.iter_mut().find(|b| b.batch.id == id) {
                b.add(&cat, n);
            }
        }
        Ok(out)
    }

    pub async fn batch(&self, id: i64) -> Result<Option<Batch>, StoreError> {
        let sql = format!("SELECT {COLS} FROM batches WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }
}
