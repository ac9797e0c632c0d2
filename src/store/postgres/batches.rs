//! Batches in PostgreSQL (the rules: store/batches.rs).

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{Store, EXPIRES_ON_SQL};
use crate::store::audit::Actor;
use crate::store::batches::{category_sql, Batch, BatchSummary};
use crate::store::StoreError;

pub(super) const COLS: &str = "id, name, business_id, created_on, created_by";

pub(super) fn from_row(r: &Row) -> Result<Batch, tokio_postgres::Error> {
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
    tx: &impl GenericClient,
    name: &str,
    business_id: i64,
    now: i64,
    actor: &Actor,
    ids: &[i64],
) -> Result<i64, StoreError> {
    let row = tx
        .query_one(
            "INSERT INTO batches (name, business_id, created_on, created_by) \
             VALUES ($1, $2, $3, $4) RETURNING id",
            &[&name, &business_id, &now, &actor.0],
        )
        .await?;
    let id: i64 = row.try_get(0)?;
    tx.execute(
        "UPDATE access_tokens SET batch_id = $1 WHERE id = ANY($2)",
        &[&id, &ids],
    )
    .await?;
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
        let client = self.client().await?;
        let all = scope.is_none();
        let ids: Vec<i64> = scope.map(<[i64]>::to_vec).unwrap_or_default();
        let sql = format!(
            "SELECT {COLS} FROM batches WHERE id IN (SELECT DISTINCT batch_id FROM access_tokens \
             WHERE batch_id IS NOT NULL AND ($1 OR business_id = ANY($2)) \
             ORDER BY batch_id DESC LIMIT $3) ORDER BY id DESC"
        );
        let rows = client.query(&sql, &[&all, &ids, &limit]).await?;
        let mut out: Vec<BatchSummary> = rows
            .iter()
            .map(|r| from_row(r).map(BatchSummary::new))
            .collect::<Result<_, _>>()?;
        let Some(oldest) = out.last().map(|b| b.batch.id) else {
            return Ok(out);
        };
        let cat = category_sql(EXPIRES_ON_SQL, "single_use", "$1");
        let sql = format!(
            "SELECT batch_id, cat, COUNT(*) FROM (SELECT batch_id, {cat} AS cat FROM access_tokens \
             WHERE batch_id >= $2 AND ($3 OR business_id = ANY($4))) c GROUP BY batch_id, cat"
        );
        let counts = client.query(&sql, &[&now, &oldest, &all, &ids]).await?;
        for r in counts {
            let (id, cat, n): (i64, String, i64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if let Some(b) = out.iter_mut().find(|b| b.batch.id == id) {
                b.add(&cat, n);
            }
        }
        Ok(out)
    }

    pub async fn batch(&self, id: i64) -> Result<Option<Batch>, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT {COLS} FROM batches WHERE id = $1");
        let row = client.query_opt(&sql, &[&id]).await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }
}
