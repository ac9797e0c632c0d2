//! API keys for the admin HTTP API (SPEC §7): `rgk_` + 32 random
//! characters, shown once; only their SHA-256 is stored. Roles as in
//! Nexudus (`AccessToken-Create`, …) plus `Radius-Authorize`; `*` is all.

use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::sqlite::Store;
use super::StoreError;

/// Every role a key can carry.
pub const ROLES: [&str; 7] = [
    "AccessToken-Create",
    "AccessToken-List",
    "AccessToken-Read",
    "AccessToken-Edit",
    "AccessToken-Delete",
    "Radius-Authorize",
    "*",
];

const KEY_PREFIX: &str = "rgk_";
const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const KEY_RANDOM_CHARS: usize = 32;

/// A role by its name, any case: its canonical spelling.
pub fn parse_role(s: &str) -> Result<&'static str, String> {
    ROLES
        .iter()
        .find(|r| r.eq_ignore_ascii_case(s.trim()))
        .copied()
        .ok_or_else(|| format!("unknown role {s:?}; one of: {}", ROLES.join(", ")))
}

/// A new random key (about 190 bits).
pub fn generate_key<R: Rng + ?Sized>(rng: &mut R) -> String {
    let random: String = (0..KEY_RANDOM_CHARS)
        .map(|_| KEY_ALPHABET[rng.gen_range(0..KEY_ALPHABET.len())] as char)
        .collect();
    format!("{KEY_PREFIX}{random}")
}

/// Hex SHA-256 of a key: what is stored and looked up.
pub fn key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `rgk_ab1…xyz9`: enough to recognise a key, not to use it.
pub fn display_form(key: &str) -> String {
    let random = key.strip_prefix(KEY_PREFIX).unwrap_or(key);
    let head: String = random.chars().take(3).collect();
    let tail: String = random
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{KEY_PREFIX}{head}…{tail}")
}

/// A stored key (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    pub display: String,
    pub roles: Vec<String>,
    pub created_on: i64,
    pub created_by: Option<String>,
    pub last_used: Option<i64>,
    pub revoked_on: Option<i64>,
}

impl ApiKey {
    /// Whether the key carries `role` (or `*`).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == "*" || r == role)
    }
}

const COLS: &str = "id, name, display, roles, created_on, created_by, last_used, revoked_on";

fn from_row(r: &sqlx::sqlite::SqliteRow) -> Result<ApiKey, sqlx::Error> {
    let roles: String = r.try_get(3)?;
    Ok(ApiKey {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        display: r.try_get(2)?,
        roles: roles
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        created_on: r.try_get(4)?,
        created_by: r.try_get(5)?,
        last_used: r.try_get(6)?,
        revoked_on: r.try_get(7)?,
    })
}

/// LastUsed is written at most this often per key.
const LAST_USED_RESOLUTION: i64 = 60;

impl Store {
    /// Create a key; returns the raw key (shown once) and its record.
    pub async fn create_api_key(
        &self,
        name: &str,
        roles: &[&str],
        created_by: &str,
        now: i64,
    ) -> Result<(String, ApiKey), StoreError> {
        let key = generate_key(&mut rand::thread_rng());
        let r = sqlx::query(
            "INSERT INTO api_keys (name, key_hash, display, roles, created_on, created_by) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(name)
        .bind(key_hash(&key))
        .bind(display_form(&key))
        .bind(roles.join(","))
        .bind(now)
        .bind(created_by)
        .execute(self.pool())
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
    ) -> Result<(ApiKey, Vec<ApiKey>), StoreError> {
        let live = self.api_keys(false).await?;
        let k = live
            .iter()
            .find(|k| k.name == name_or_id)
            .or_else(|| {
                name_or_id
                    .parse::<i64>()
                    .ok()
                    .and_then(|id| live.iter().find(|k| k.id == id))
            })
            .cloned()
            .ok_or_else(|| StoreError::NoSuchApiKey(name_or_id.to_string()))?;
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE api_keys SET revoked_on = ? WHERE id = ?")
            .bind(now)
            .bind(k.id)
            .execute(&mut *tx)
            .await?;
        // Keys created through the API record their creator's name; only
        // those created while the creator was live are its own.
        let mut with_it = Vec::new();
        let mut parents = vec![(k.name.clone(), k.created_on)];
        while let Some((name, since)) = parents.pop() {
            let children: Vec<ApiKey> = live
                .iter()
                .filter(|c| {
                    c.created_by.as_deref() == Some(name.as_str())
                        && c.created_on >= since
                        && c.id != k.id
                        && !with_it.iter().any(|w: &ApiKey| w.id == c.id)
                })
                .cloned()
                .collect();
            for c in children {
                sqlx::query("UPDATE api_keys SET revoked_on = ? WHERE id = ?")
                    .bind(now)
                    .bind(c.id)
                    .execute(&mut *tx)
                    .await?;
                parents.push((c.name.clone(), c.created_on));
                with_it.push(ApiKey {
                    revoked_on: Some(now),
                    ..c
                });
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn keys_roles_and_display() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let k = generate_key(&mut rng);
        assert!(k.starts_with("rgk_") && k.len() == 36, "{k}");
        assert_ne!(k, generate_key(&mut rng));
        let d = display_form(&k);
        assert!(d.starts_with(&k[..7]) && d.ends_with(&k[32..]), "{d}");
        assert!(!d.contains(&k[7..32]));
        assert_eq!(key_hash("abc").len(), 64);
        assert_eq!(
            key_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(parse_role("accesstoken-read"), Ok("AccessToken-Read"));
        assert_eq!(parse_role("*"), Ok("*"));
        assert!(parse_role("admin").unwrap_err().contains("one of"));
        let key = ApiKey {
            id: 1,
            name: "x".into(),
            display: d,
            roles: vec!["AccessToken-List".into()],
            created_on: 0,
            created_by: None,
            last_used: None,
            revoked_on: None,
        };
        assert!(key.has_role("AccessToken-List") && !key.has_role("AccessToken-Edit"));
    }
}
