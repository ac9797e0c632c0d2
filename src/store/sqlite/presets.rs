//! Quick-issue presets in SQLite (the rules: store/presets.rs).

use sqlx::Row;

use super::Store;
use crate::store::audit::{Actor, Change};
use crate::store::presets::{NewPreset, Preset};
use crate::store::StoreError;

pub(super) const COLS: &str =
    "id, name, business_id, minutes_included, valid_for_minutes, user_limit, single_use, created_on, \
     megabytes_included";

pub(super) fn from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Preset, sqlx::Error> {
    Ok(Preset {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        business_id: r.try_get(2)?,
        minutes_included: r.try_get(3)?,
        valid_for_minutes: r.try_get(4)?,
        user_limit: r.try_get(5)?,
        single_use: r.try_get(6)?,
        created_on: r.try_get(7)?,
        megabytes_included: r.try_get(8)?,
    })
}

impl Store {
    /// Every preset, by name.
    pub async fn presets(&self) -> Result<Vec<Preset>, StoreError> {
        let sql = format!("SELECT {COLS} FROM presets ORDER BY name");
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    pub async fn create_preset(
        &self,
        p: &NewPreset,
        now: i64,
        actor: &Actor,
    ) -> Result<Preset, StoreError> {
        let mut tx = self.pool().begin().await?;
        let r = sqlx::query(
            "INSERT INTO presets (name, business_id, minutes_included, valid_for_minutes, \
             user_limit, single_use, created_on, megabytes_included) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(p.name.trim())
        .bind(p.business_id)
        .bind(p.minutes_included)
        .bind(p.valid_for_minutes)
        .bind(p.user_limit)
        .bind(p.single_use)
        .bind(now)
        .bind(p.megabytes_included)
        .execute(&mut *tx)
        .await;
        let id = match r {
            Ok(r) => r.last_insert_rowid(),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Conflict(format!(
                    "a preset named {:?} exists",
                    p.name.trim()
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let sql = format!("SELECT {COLS} FROM presets WHERE id = ?");
        let made = from_row(&sqlx::query(&sql).bind(id).fetch_one(&mut *tx).await?)?;
        super::audit::record(
            &mut tx,
            now,
            actor,
            &Change::other("preset.add", &made.name, None, Some(made.audit_json())),
        )
        .await?;
        tx.commit().await?;
        Ok(made)
    }

    /// Remove a preset: whether there was one.
    pub async fn remove_preset(&self, id: i64, actor: &Actor) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let sql = format!("SELECT {COLS} FROM presets WHERE id = ?");
        let Some(row) = sqlx::query(&sql).bind(id).fetch_optional(&mut *tx).await? else {
            return Ok(false);
        };
        let gone = from_row(&row)?;
        sqlx::query("DELETE FROM presets WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        super::audit::record(
            &mut tx,
            chrono::Utc::now().timestamp(),
            actor,
            &Change::other("preset.remove", &gone.name, Some(gone.audit_json()), None),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
