//! The dashboard's facts from SQLite (see store/dashboard.rs).

use sqlx::Row;

use super::Store;
use crate::store::dashboard::{DashboardFacts, SessionFact, TokenFact, DASHBOARD_ROW_LIMIT};
use crate::store::StoreError;

/// ` AND t.business_id IN (…)` for a scope (the ids are integers, written
/// as such); nothing for all businesses.
fn scope_sql(business_ids: Option<&[i64]>) -> String {
    match business_ids {
        None => String::new(),
        Some([]) => " AND 0 = 1".into(),
        Some(ids) => format!(
            " AND t.business_id IN ({})",
            ids.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl Store {
    /// Sessions that started in `since..=now` or were open at `since`, and
    /// codes created or first used in `since..=now`, of the businesses
    /// given (`None`: all); the newest [`DASHBOARD_ROW_LIMIT`] of each.
    pub async fn dashboard_facts(
        &self,
        since: i64,
        now: i64,
        business_ids: Option<&[i64]>,
    ) -> Result<DashboardFacts, StoreError> {
        let scope = scope_sql(business_ids);
        let sql = format!(
            "SELECT s.created_at, s.state, s.expires_at, s.stopped_at, s.updated_at, s.session_time, \
             s.close_reason FROM sessions s JOIN access_tokens t ON t.id = s.token_id \
             WHERE s.created_at <= ?2 \
             AND (s.created_at >= ?1 OR s.state <> 'closed' OR COALESCE(s.stopped_at, s.updated_at) >= ?1)\
             {scope} ORDER BY s.created_at DESC LIMIT ?3"
        );
        let rows = sqlx::query(&sql)
            .bind(since)
            .bind(now)
            .bind(DASHBOARD_ROW_LIMIT + 1)
            .fetch_all(self.pool())
            .await?;
        let mut sessions = rows
            .iter()
            .map(|r| {
                Ok(SessionFact {
                    start: r.try_get(0)?,
                    state: r.try_get(1)?,
                    expires_at: r.try_get(2)?,
                    stopped_at: r.try_get(3)?,
                    updated_at: r.try_get(4)?,
                    session_time: r.try_get(5)?,
                    close_reason: r.try_get(6)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let sql = format!(
            "SELECT t.created_on, t.first_used_on FROM access_tokens t \
             WHERE ((t.created_on >= ?1 AND t.created_on <= ?2) \
             OR (t.first_used_on >= ?1 AND t.first_used_on <= ?2)){scope} \
             ORDER BY t.id DESC LIMIT ?3"
        );
        let rows = sqlx::query(&sql)
            .bind(since)
            .bind(now)
            .bind(DASHBOARD_ROW_LIMIT + 1)
            .fetch_all(self.pool())
            .await?;
        let mut tokens = rows
            .iter()
            .map(|r| {
                Ok(TokenFact {
                    created_on: r.try_get(0)?,
                    first_used_on: r.try_get(1)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let limit = DASHBOARD_ROW_LIMIT as usize;
        let truncated = sessions.len() > limit || tokens.len() > limit;
        sessions.truncate(limit);
        tokens.truncate(limit);
        Ok(DashboardFacts {
            sessions,
            tokens,
            truncated,
        })
    }
}
