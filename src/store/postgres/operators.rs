//! Operators and their web sessions in PostgreSQL (the rules:
//! store/operators.rs).

use tokio_postgres::Row;

use super::{is_unique_violation, Store};
use crate::store::audit::{Actor, Change};
use crate::store::operators::audit_json;
use crate::store::operators::{
    businesses_from_column, businesses_to_column, NewOperator, Operator, Role,
};
use crate::store::StoreError;

pub(super) const COLS: &str =
    "o.id, o.name, o.role, o.businesses, o.created_on, o.created_by, o.disabled_on";

pub(super) fn from_row(r: &Row) -> Result<Operator, StoreError> {
    let role: String = r.try_get(2)?;
    let businesses: String = r.try_get(3)?;
    Ok(Operator {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        role: Role::parse(&role).map_err(StoreError::Conflict)?,
        businesses: businesses_from_column(&businesses),
        created_on: r.try_get(4)?,
        created_by: r.try_get(5)?,
        disabled_on: r.try_get(6)?,
    })
}

impl Store {
    pub async fn create_operator(
        &self,
        o: &NewOperator,
        created_by: &str,
        now: i64,
        actor: &Actor,
    ) -> Result<Operator, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let r = tx
            .execute(
                "INSERT INTO operators (name, role, businesses, password_hash, created_on, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &o.name,
                    &o.role.as_str(),
                    &businesses_to_column(&o.businesses),
                    &o.password_hash,
                    &now,
                    &created_by,
                ],
            )
            .await;
        match r {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "an operator named {:?} exists",
                    o.name
                )))
            }
            Err(e) => return Err(e.into()),
        }
        let sql = format!("SELECT {COLS} FROM operators o WHERE o.name = $1");
        let made = from_row(&tx.query_one(&sql, &[&o.name]).await?)?;
        super::audit::record(
            &tx,
            now,
            actor,
            &Change::other("operator.add", &made.name, None, Some(audit_json(&made))),
        )
        .await?;
        tx.commit().await?;
        drop(client);
        self.operator_password(&o.name)
            .await?
            .map(|(op, _)| op)
            .ok_or_else(|| StoreError::NoSuchOperator(o.name.clone()))
    }

    /// Every operator, by name.
    pub async fn operators(&self) -> Result<Vec<Operator>, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT {COLS} FROM operators o ORDER BY o.name");
        let rows = client.query(&sql, &[]).await?;
        rows.iter().map(from_row).collect()
    }

    /// An operator and the stored password hash, by name.
    pub async fn operator_password(
        &self,
        name: &str,
    ) -> Result<Option<(Operator, String)>, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT {COLS}, o.password_hash FROM operators o WHERE o.name = $1");
        match client.query_opt(&sql, &[&name]).await? {
            None => Ok(None),
            Some(r) => Ok(Some((from_row(&r)?, r.try_get(7)?))),
        }
    }

    /// Remove an operator (and end their sessions): whether there was one.
    pub async fn remove_operator(&self, name: &str, actor: &Actor) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let sql = format!("DELETE FROM operators o WHERE o.name = $1 RETURNING {COLS}");
        let Some(row) = tx.query_opt(&sql, &[&name]).await? else {
            return Ok(false);
        };
        let gone = from_row(&row)?;
        super::audit::record(
            &tx,
            chrono::Utc::now().timestamp(),
            actor,
            &Change::other("operator.remove", &gone.name, Some(audit_json(&gone)), None),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A new password (and the operator's sessions ended): whether there
    /// was such an operator.
    pub async fn set_operator_password(
        &self,
        name: &str,
        hash: &str,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE operators SET password_hash = $1 WHERE name = $2",
                &[&hash, &name],
            )
            .await?;
        tx.execute(
            "DELETE FROM web_sessions WHERE operator_id IN (SELECT id FROM operators WHERE name = $1)",
            &[&name],
        )
        .await?;
        if n > 0 {
            super::audit::record(
                &tx,
                chrono::Utc::now().timestamp(),
                actor,
                &Change::other("operator.passwd", name, None, None),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Change an operator's role, businesses and whether they are
    /// disabled (their sessions end when disabled): the operator after, or
    /// `None` when there is none of that name.
    pub async fn update_operator(
        &self,
        name: &str,
        role: Role,
        businesses: &[i64],
        disabled: bool,
        now: i64,
        actor: &Actor,
    ) -> Result<Option<Operator>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let sql = format!("SELECT {COLS} FROM operators o WHERE o.name = $1 FOR UPDATE");
        let Some(row) = tx.query_opt(&sql, &[&name]).await? else {
            return Ok(None);
        };
        let before = from_row(&row)?;
        let disabled_on = if disabled {
            Some(before.disabled_on.unwrap_or(now))
        } else {
            None
        };
        tx.execute(
            "UPDATE operators SET role = $1, businesses = $2, disabled_on = $3 WHERE id = $4",
            &[
                &role.as_str(),
                &businesses_to_column(businesses),
                &disabled_on,
                &before.id,
            ],
        )
        .await?;
        if disabled {
            tx.execute(
                "DELETE FROM web_sessions WHERE operator_id = $1",
                &[&before.id],
            )
            .await?;
        }
        let sql = format!("SELECT {COLS} FROM operators o WHERE o.name = $1");
        let after = from_row(&tx.query_one(&sql, &[&name]).await?)?;
        super::audit::record(
            &tx,
            now,
            actor,
            &Change::other(
                "operator.update",
                name,
                Some(audit_json(&before)),
                Some(audit_json(&after)),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(after))
    }

    pub async fn create_web_session(
        &self,
        id_hash: &str,
        operator_id: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO web_sessions (id_hash, operator_id, created_on, last_seen) \
                 VALUES ($1, $2, $3, $3)",
                &[&id_hash, &operator_id, &now],
            )
            .await?;
        Ok(())
    }

    /// The session's operator, its start and when it was last used.
    pub async fn web_session(
        &self,
        id_hash: &str,
    ) -> Result<Option<(Operator, i64, i64)>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {COLS}, s.created_on, s.last_seen FROM web_sessions s \
             JOIN operators o ON o.id = s.operator_id WHERE s.id_hash = $1"
        );
        match client.query_opt(&sql, &[&id_hash]).await? {
            None => Ok(None),
            Some(r) => Ok(Some((from_row(&r)?, r.try_get(7)?, r.try_get(8)?))),
        }
    }

    pub async fn touch_web_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE web_sessions SET last_seen = $1 WHERE id_hash = $2",
                &[&now, &id_hash],
            )
            .await?;
        Ok(())
    }

    pub async fn end_web_session(&self, id_hash: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM web_sessions WHERE id_hash = $1", &[&id_hash])
            .await?;
        Ok(())
    }

    /// Delete sessions idle since `idle_before` or begun before `begun_before`.
    pub async fn sweep_web_sessions(
        &self,
        idle_before: i64,
        begun_before: i64,
    ) -> Result<u64, StoreError> {
        let client = self.client().await?;
        Ok(client
            .execute(
                "DELETE FROM web_sessions WHERE last_seen < $1 OR created_on < $2",
                &[&idle_before, &begun_before],
            )
            .await?)
    }
}
