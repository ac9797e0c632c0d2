//! Session listings for the CLI (reads only; the writer owns changes).

use sqlx::Row;

use super::{Store, StoreError};
use crate::token::parse::code_key;

/// A session or pending place with its token's code, for `session list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: i64,
    pub token_id: i64,
    pub access_code: String,
    pub nas: String,
    pub device: Option<String>,
    pub state: String,
    pub acct_session_id: Option<String>,
    pub framed_ip: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: Option<i64>,
    pub stopped_at: Option<i64>,
    pub session_time: i64,
    pub terminate_cause: Option<i64>,
    pub close_reason: Option<String>,
    pub input_octets: i64,
    pub output_octets: i64,
}

#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// Only sessions holding a place now (active, or pending and unexpired).
    pub active: bool,
    pub code: Option<String>,
    pub limit: i64,
}

impl Store {
    /// Newest first.
    pub async fn list_sessions(
        &self,
        f: &SessionFilter,
        now: i64,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.id, s.token_id, t.access_code, s.nas, s.device, s.state, s.acct_session_id, s.framed_ip, \
             s.created_at, s.updated_at, s.expires_at, s.stopped_at, s.session_time, s.terminate_cause, \
             s.close_reason, s.input_octets, s.output_octets \
             FROM sessions s JOIN access_tokens t ON t.id = s.token_id \
             WHERE (?1 IS NULL OR t.code_key = ?1) \
             AND (?2 = 0 OR s.state = 'active' OR (s.state = 'pending' AND s.expires_at > ?3)) \
             ORDER BY s.id DESC LIMIT ?4",
        )
        .bind(f.code.as_deref().map(code_key))
        .bind(f.active)
        .bind(now)
        .bind(f.limit.max(1))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get(5)?;
                let expires_at: Option<i64> = r.try_get(10)?;
                // A place whose time passed without an accounting Start
                // holds nothing any more, even before the sweep deletes it.
                let state = if state == "pending" && expires_at.is_some_and(|e| e <= now) {
                    "expired".to_string()
                } else {
                    state
                };
                Ok(SessionInfo {
                    id: r.try_get(0)?,
                    token_id: r.try_get(1)?,
                    access_code: r.try_get(2)?,
                    nas: r.try_get(3)?,
                    device: r.try_get(4)?,
                    state,
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
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
