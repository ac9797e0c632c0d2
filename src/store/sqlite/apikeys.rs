//! API keys in SQLite (the key rules: store/apikeys.rs).

use sqlx::Row;

use super::Store;
use crate::store::apikeys::audit_json;
use crate::store::apikeys::{
    created_by_chain, display_form, find_live, generate_key, key_hash, roles_from_column, ApiKey,
    LAST_USED_RESOLUTION,
};
use crate::store::audit::{Actor, Change};
use crate::store::operators::{businesses_from_column, businesses_to_column};
use crate::store::StoreError;

const COLS: &str =
    "id, name, display, roles, created_on, created_by, last_used, revoked_on, businesses";

fn from_row(r: &sqlx::sqlite::SqliteRow) -> Result<ApiKey, sqlx::Error> {
    let roles: String = r.try_get(3)?;
    let businesses: String = r.try_get(8)?;
    Ok(ApiKey {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        display: r.try_get(2)?,
        roles: roles_from_column(&roles),
        created_on: r.try_get(4)?,
        created_by: r.try_get(5)?,
        last_used: r.try_get(6)?,
        revoked_on: r.try_get(7)?,
        businesses: businesses_from_column(&businesses),
    })
}

impl Store {
    /// Create a key reaching the codes of `businesses` (empty: all);
    /// returns the raw key (shown once) and its record.
    pub async fn create_api_key(
        &self,
        name: &str,
        roles: &[&str],
        businesses: &[i64],
        created_by: &str,
        now: i64,
        actor: &Actor,
    ) -> Result<(String, ApiKey), StoreError> {
        let key = generate_key(&mut rand::thread_rng());
        let mut tx = self.pool().begin().await?;
        let r = sqlx::query(
            "INSERT INTO api_keys (name, key_hash, display, roles, created_on, created_by, \
             businesses) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(name)
        .bind(key_hash(&key))
        .bind(display_form(&key))
        .bind(roles.join(","))
        .bind(now)
        .bind(created_by)
        .bind(businesses_to_column(businesses))
        .execute(&mut *tx)
        .await;
        let id = match r {
            Ok(r) => r.last_insert_rowid(),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Conflict(format!(
                    "an API key named {name:?} exists; revoke it first or choose another name"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let sql = format!("SELECT {COLS} FROM api_keys WHERE id = ?");
        let made = from_row(&sqlx::query(&sql).bind(id).fetch_one(&mut *tx).await?)?;
        super::audit::record(
            &mut tx,
            now,
            actor,
            &Change::other("apikey.create", &made.name, None, Some(audit_json(&made))),
        )
        .await?;
        tx.commit().await?;
        let k = self.api_keys(true).await?.into_iter().find(|k| k.id == id);
        k.map(|k| (key, k))
            .ok_or_else(|| StoreError::NoSuchApiKey(id.to_string()))
    }

    /// Keys, newest first; revoked ones only with `all`.
    pub async fn api_keys(&self, all: bool) -> Result<Vec<ApiKey>, StoreError> {
        let sql =
            format!("SELECT {COLS} FROM api_keys WHERE ? OR revoked_on IS NULL ORDER BY id DESC");
        let rows = sqlx::query(&sql).bind(all).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Revoke the live key with this name (or Id).
    /// Revoke a live key, and with it every live key it created through the
    /// API (and theirs): a leaked key cannot leave copies behind. Returns the
    /// key and the keys revoked with it.
    pub async fn revoke_api_key(
        &self,
        name_or_id: &str,
        now: i64,
        actor: &Actor,
    ) -> Result<(ApiKey, Vec<ApiKey>), StoreError> {
        let live = self.api_keys(false).await?;
        let k = find_live(&live, name_or_id)
            .cloned()
            .ok_or_else(|| StoreError::NoSuchApiKey(name_or_id.to_string()))?;
        let with_it: Vec<ApiKey> = created_by_chain(&k, &live)
            .into_iter()
            .map(|c| ApiKey {
                revoked_on: Some(now),
                ..c
            })
            .collect();
        let mut tx = self.pool().begin().await?;
        for id in std::iter::once(k.id).chain(with_it.iter().map(|c| c.id)) {
            sqlx::query("UPDATE api_keys SET revoked_on = ? WHERE id = ?")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        for r in std::iter::once(&k).chain(with_it.iter()) {
            super::audit::record(
                &mut tx,
                now,
                actor,
                &Change::other("apikey.revoke", &r.name, Some(audit_json(r)), None),
            )
            .await?;
        }
        tx.commit().await?;
        Ok((
            ApiKey {
                revoked_on: Some(now),
                ..k
            },
            with_it,
        ))
    }

    /// The live key whose hash matches `key`; stamps LastUsed.
    pub async fn authenticate_api_key(
        &self,
        key: &str,
        now: i64,
    ) -> Result<Option<ApiKey>, StoreError> {
        let sql = format!("SELECT {COLS} FROM api_keys WHERE key_hash = ? AND revoked_on IS NULL");
        let Some(row) = sqlx::query(&sql)
            .bind(key_hash(key))
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(None);
        };
        let k = from_row(&row)?;
        if k.last_used.is_none_or(|t| now - t >= LAST_USED_RESOLUTION) {
            sqlx::query("UPDATE api_keys SET last_used = ? WHERE id = ?")
                .bind(now)
                .bind(k.id)
                .execute(self.pool())
                .await?;
        }
        Ok(Some(k))
    }
}
