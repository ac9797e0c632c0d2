//! The audit log in PostgreSQL (the rules: store/audit.rs).

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::Store;
use crate::store::audit::{Actor, Change, Filter, Record};
use crate::store::StoreError;

/// Record `c` on `client`, inside the transaction of the change.
pub(super) async fn record(
    client: &impl GenericClient,
    at: i64,
    actor: &Actor,
    c: &Change,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO audit_log (at, actor, action, target, business_id, before, after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &at,
                &actor.0,
                &c.action,
                &c.target,
                &c.business_id,
                &c.before,
                &c.after,
            ],
        )
        .await?;
    Ok(())
}

impl Store {
    /// Record an action that changes nothing stored (a disconnect).
    pub async fn record_audit(&self, at: i64, actor: &Actor, c: &Change) -> Result<(), StoreError> {
        let client = self.client().await?;
        record(&client, at, actor, c).await
    }

    /// Recorded changes matching `f`, newest first.
    pub async fn audit_log(&self, f: &Filter) -> Result<Vec<Record>, StoreError> {
        let client = self.client().await?;
        let mut sql = String::from(
            "SELECT id, at, actor, action, target, business_id, before, after FROM audit_log WHERE TRUE",
        );
        let mut binds: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        let mark = |binds: &mut Vec<Box<dyn ToSql + Sync + Send>>,
                    v: Box<dyn ToSql + Sync + Send>| {
            binds.push(v);
            format!("${}", binds.len())
        };
        if let Some(v) = f.since {
            let m = mark(&mut binds, Box::new(v));
            sql.push_str(&format!(" AND at >= {m}"));
        }
        if let Some(v) = f.until {
            let m = mark(&mut binds, Box::new(v));
            sql.push_str(&format!(" AND at < {m}"));
        }
        if let Some(v) = &f.actor {
            let m = mark(&mut binds, Box::new(v.clone()));
            if v.ends_with(':') {
                sql.push_str(&format!(" AND left(actor, length({m})) = {m}"));
            } else {
                sql.push_str(&format!(" AND actor = {m}"));
            }
        }
        if let Some(v) = &f.action {
            let m = mark(&mut binds, Box::new(v.clone()));
            if v.ends_with('.') {
                sql.push_str(&format!(" AND left(action, length({m})) = {m}"));
            } else {
                sql.push_str(&format!(" AND action = {m}"));
            }
        }
        if let Some(v) = &f.target {
            let m = mark(
                &mut binds,
                Box::new(crate::token::filter::search_pattern(v)),
            );
            sql.push_str(&format!(" AND lower(target) LIKE {m} ESCAPE '\\'"));
        }
        if let Some(ids) = &f.business_ids {
            let m = mark(&mut binds, Box::new(ids.clone()));
            sql.push_str(&format!(" AND business_id = ANY({m})"));
        }
        let m = mark(&mut binds, Box::new(f.limit.clamp(1, 1_000_000)));
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {m}"));
        let params: Vec<&(dyn ToSql + Sync)> = binds
            .iter()
            .map(|b| b.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = client.query(&sql, &params).await?;
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
