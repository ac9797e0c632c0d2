//! Session listings for the CLI (reads only; the writer owns changes).

use super::Store;
use crate::store::{listed_state, SessionFilter, SessionInfo, StoreError};
use crate::token::parse::code_key;

impl Store {
    /// Sessions the hotspots report running (accounting started, not
    /// stopped or closed as stale).
    pub async fn count_active_sessions(&self) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT COUNT(*) FROM sessions WHERE state = 'active'", &[])
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Newest first.
    pub async fn list_sessions(
        &self,
        f: &SessionFilter,
        now: i64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let client = self.client().await?;
        let code = f.code.as_deref().map(code_key);
        let limit = f.limit.max(1);
        let rows = client
            .query(
                "SELECT s.id, s.token_id, t.access_code, s.nas, s.device, s.state, s.acct_session_id, \
                 s.framed_ip, s.created_at, s.updated_at, s.expires_at, s.stopped_at, s.session_time, \
                 s.terminate_cause, s.close_reason, s.input_octets, s.output_octets, t.business_id \
                 FROM sessions s JOIN access_tokens t ON t.id = s.token_id \
                 WHERE ($1::TEXT IS NULL OR t.code_key = $1) \
                 AND (NOT $2 OR s.state = 'active' OR (s.state = 'pending' AND s.expires_at > $3)) \
                 AND ($5::TEXT IS NULL OR s.framed_ip = $5) \
                 ORDER BY s.id DESC LIMIT $4",
                &[&code, &f.active, &now, &limit, &f.framed_ip],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let expires_at: Option<i64> = r.try_get(10)?;
                Ok(SessionInfo {
                    id: r.try_get(0)?,
                    token_id: r.try_get(1)?,
                    access_code: r.try_get(2)?,
                    business_id: r.try_get(17)?,
                    nas: r.try_get(3)?,
                    device: r.try_get(4)?,
                    state: listed_state(r.try_get(5)?, expires_at, now),
                    acct_session_id: r.try_get(6)?,
                    framed_ip: r.try_get(7)?,
                    created_at: r.try_get(8)?,
                    updated_at: r.try_get(9)?,
                    expires_at,
                    stopped_at: r.try_get(11)?,
                    session_time: r.try_get(12)?,
                    terminate_cause: r.try_get(13)?,
                    close_reason: r.try_get(14)?,
                    input_octets: r.try_get(15)?,
                    output_octets: r.try_get(16)?,
                })
            })
            .collect()
    }
}
