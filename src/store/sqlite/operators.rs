//! Operators and their web sessions in SQLite (the rules: store/operators.rs).

use sqlx::Row;

use super::Store;
use crate::store::audit::{Actor, Change};
use crate::store::operators::audit_json;
use crate::store::operators::{
    businesses_from_column, businesses_to_column, NewOperator, Operator, Role,
};
use crate::store::StoreError;

pub(super) const COLS: &str =
    "o.id, o.name, o.role, o.businesses, o.created_on, o.created_by, o.disabled_on";

pub(super) fn from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Operator, sqlx::Error> {
    let role: String = r.try_get(2)?;
    let businesses: String = r.try_get(3)?;
    Ok(Operator {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        role: Role::parse(&role).map_err(|e| sqlx::Error::Decode(e.into()))?,
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
        let mut tx = self.pool().begin().await?;
        let r = sqlx::query(
            "INSERT INTO operators (name, role, businesses, password_hash, created_on, created_by) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&o.name)
        .bind(o.role.as_str())
        .bind(businesses_to_column(&o.businesses))
        .bind(&o.password_hash)
        .bind(now)
        .bind(created_by)
        .execute(&mut *tx)
        .await;
        match r {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Conflict(format!(
                    "an operator named {:?} exists",
                    o.name
                )))
            }
            Err(e) => return Err(e.into()),
        }
        let sql = format!("SELECT {COLS} FROM operators o WHERE o.name = ?");
        let made = from_row(&sqlx::query(&sql).bind(&o.name).fetch_one(&mut *tx).await?)?;
        super::audit::record(
            &mut tx,
            now,
            actor,
            &Change::other("operator.add", &made.name, None, Some(audit_json(&made))),
        )
        .await?;
        tx.commit().await?;
        self.operator_password(&o.name)
            .await?
            .map(|(op, _)| op)
            .ok_or_else(|| StoreError::NoSuchOperator(o.name.clone()))
    }

    /// Every operator, by name.
    pub async fn operators(&self) -> Result<Vec<Operator>, StoreError> {
        let sql = format!("SELECT {COLS} FROM operators o ORDER BY o.name");
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// An operator and the stored password hash, by name.
    pub async fn operator_password(
        &self,
        name: &str,
    ) -> Result<Option<(Operator, String)>, StoreError> {
        let sql = format!("SELECT {COLS}, o.password_hash FROM operators o WHERE o.name = ?");
        let row = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some((from_row(&r)?, r.try_get(7)?))),
        }
    }

    /// Remove an operator (and end their sessions): whether there was one.
    pub async fn remove_operator(&self, name: &str, actor: &Actor) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let sql = format!("SELECT {COLS} FROM operators o WHERE o.name = ?");
        let Some(row) = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(false);
        };
        let gone = from_row(&row)?;
        sqlx::query("DELETE FROM operators WHERE id = ?")
            .bind(gone.id)
            .execute(&mut *tx)
            .await?;
        super::audit::record(
            &mut tx,
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
        let mut tx = self.pool().begin().await?;
        let r = sqlx::query("UPDATE operators SET password_hash = ? WHERE name = ?")
            .bind(hash)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM web_sessions WHERE operator_id IN (SELECT id FROM operators WHERE name = ?)",
        )
        .bind(name)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() > 0 {
            super::audit::record(
                &mut tx,
                chrono::Utc::now().timestamp(),
                actor,
                &Change::other("operator.passwd", name, None, None),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(r.rows_affected() > 0)
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
        let mut tx = self.pool().begin().await?;
        let sql = format!("SELECT {COLS} FROM operators o WHERE o.name = ?");
        let Some(row) = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let before = from_row(&row)?;
        let disabled_on = if disabled {
            Some(before.disabled_on.unwrap_or(now))
        } else {
            None
        };
        sqlx::query("UPDATE operators SET role = ?, businesses = ?, disabled_on = ? WHERE id = ?")
            .bind(role.as_str())
            .bind(businesses_to_column(businesses))
            .bind(disabled_on)
            .bind(before.id)
            .execute(&mut *tx)
            .await?;
        if disabled {
            sqlx::query("DELETE FROM web_sessions WHERE operator_id = ?")
                .bind(before.id)
                .execute(&mut *tx)
                .await?;
        }
        let after = from_row(&sqlx::query(&sql).bind(name).fetch_one(&mut *tx).await?)?;
        super::audit::record(
            &mut tx,
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
        sqlx::query(
            "INSERT INTO web_sessions (id_hash, operator_id, created_on, last_seen) VALUES (?, ?, ?, ?)",
        )
        .bind(id_hash)
        .bind(operator_id)
        .bind(now)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The session's operator, its start and when it was last used.
    pub async fn web_session(
        &self,
        id_hash: &str,
    ) -> Result<Option<(Operator, i64, i64)>, StoreError> {
        let sql = format!(
            "SELECT {COLS}, s.created_on, s.last_seen FROM web_sessions s \
             JOIN operators o ON o.id = s.operator_id WHERE s.id_hash = ?"
        );
        let row = sqlx::query(&sql)
            .bind(id_hash)
            .fetch_optional(self.pool())
            .await?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some((from_row(&r)?, r.try_get(7)?, r.try_get(8)?))),
        }
    }

    pub async fn touch_web_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE web_sessions SET last_seen = ? WHERE id_hash = ?")
            .bind(now)
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn end_web_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM web_sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Delete sessions idle since `idle_before` or begun before `begun_before`.
    pub async fn sweep_web_sessions(
        &self,
        idle_before: i64,
        begun_before: i64,
    ) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM web_sessions WHERE last_seen < ? OR created_on < ?")
            .bind(idle_before)
            .bind(begun_before)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected())
    }
}
