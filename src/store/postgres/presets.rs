//! Quick-issue presets in PostgreSQL (the rules: store/presets.rs).

use tokio_postgres::Row;

use super::{is_unique_violation, Store};
use crate::store::audit::{Actor, Change};
use crate::store::presets::{NewPreset, Preset};
use crate::store::StoreError;

pub(super) const COLS: &str =
    "id, name, business_id, minutes_included, valid_for_minutes, user_limit, single_use, created_on, \
     megabytes_included";

pub(super) fn from_row(r: &Row) -> Result<Preset, tokio_postgres::Error> {
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
        let client = self.client().await?;
        let sql = format!("SELECT {COLS} FROM presets ORDER BY name COLLATE \"C\"");
        let rows = client.query(&sql, &[]).await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    pub async fn create_preset(
        &self,
        p: &NewPreset,
        now: i64,
        actor: &Actor,
    ) -> Result<Preset, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let sql = format!(
            "INSERT INTO presets (name, business_id, minutes_included, valid_for_minutes, \
             user_limit, single_use, created_on, megabytes_included) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING {COLS}"
        );
        let r = tx
            .query_one(
                &sql,
                &[
                    &p.name.trim(),
                    &p.business_id,
                    &p.minutes_included,
                    &p.valid_for_minutes,
                    &p.user_limit,
                    &p.single_use,
                    &now,
                    &p.megabytes_included,
                ],
            )
            .await;
        let made = match r {
            Ok(row) => from_row(&row)?,
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "a preset named {:?} exists",
                    p.name.trim()
                )))
            }
            Err(e) => return Err(e.into()),
        };
        super::audit::record(
            &tx,
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
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let sql = format!("DELETE FROM presets WHERE id = $1 RETURNING {COLS}");
        let Some(row) = tx.query_opt(&sql, &[&id]).await? else {
            return Ok(false);
        };
        let gone = from_row(&row)?;
        super::audit::record(
            &tx,
            chrono::Utc::now().timestamp(),
            actor,
            &Change::other("preset.remove", &gone.name, Some(gone.audit_json()), None),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
