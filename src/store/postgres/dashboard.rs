//! The dashboard's facts from PostgreSQL (see store/dashboard.rs).

use super::Store;
use crate::store::dashboard::{DashboardFacts, SessionFact, TokenFact, DASHBOARD_ROW_LIMIT};
use crate::store::StoreError;

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
        let client = self.client().await?;
        let ids: Option<Vec<i64>> = business_ids.map(<[i64]>::to_vec);
        let limit = DASHBOARD_ROW_LIMIT + 1;
        let rows = client
            .query(
                "SELECT s.created_at, s.state, s.expires_at, s.stopped_at, s.updated_at, \
                 s.session_time, s.close_reason FROM sessions s JOIN access_tokens t ON t.id = s.token_id \
                 WHERE s.created_at <= $2 \
                 AND (s.created_at >= $1 OR s.state <> 'closed' OR COALESCE(s.stopped_at, s.updated_at) >= $1) \
                 AND ($3::BIGINT[] IS NULL OR t.business_id = ANY($3)) \
                 ORDER BY s.created_at DESC LIMIT $4",
                &[&since, &now, &ids, &limit],
            )
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
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
        let rows = client
            .query(
                "SELECT t.created_on, t.first_used_on FROM access_tokens t \
                 WHERE ((t.created_on >= $1 AND t.created_on <= $2) \
                 OR (t.first_used_on >= $1 AND t.first_used_on <= $2)) \
                 AND ($3::BIGINT[] IS NULL OR t.business_id = ANY($3)) \
                 ORDER BY t.id DESC LIMIT $4",
                &[&since, &now, &ids, &limit],
            )
            .await?;
        let mut tokens = rows
            .iter()
            .map(|r| {
                Ok(TokenFact {
                    created_on: r.try_get(0)?,
                    first_used_on: r.try_get(1)?,
                })
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
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
