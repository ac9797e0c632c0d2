//! API keys for the admin HTTP API (SPEC §7): `rgk_` + 32 random
//! characters, shown once; only their SHA-256 is stored. Roles as in
//! Nexudus (`AccessToken-Create`, …) plus `Radius-Authorize`; `*` is all.

use rand::Rng;
use sha2::{Digest, Sha256};

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

/// The most characters a key's name may have.
pub const MAX_NAME_CHARS: usize = 100;

/// A key's name as typed (CLI, API, web UI): trimmed, 1 to 100
/// characters; else why not.
pub fn check_name(name: &str) -> Result<&str, String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("must be 1 to {MAX_NAME_CHARS} characters"));
    }
    // A key's creator is recorded as `cli:<user>`, `ui:<operator>` or the
    // creating key's name; revoking a key revokes what its name created.
    // A key named like a person's mark would take their keys with it.
    if name.contains(':') {
        return Err("must not contain ':' (cli: and ui: mark people, not keys)".into());
    }
    Ok(name)
}

/// Roles as typed (any case, repeats dropped): their canonical spellings;
/// at least one. Else why not (the first unknown role).
pub fn parse_roles<'a>(
    roles: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<&'static str>, String> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in roles {
        let r = parse_role(r)?;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    if out.is_empty() {
        return Err(format!("at least one; one of: {}", ROLES.join(", ")));
    }
    Ok(out)
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

/// An API key as the audit log shows it (never the key or its hash).
pub fn audit_json(k: &ApiKey) -> serde_json::Value {
    serde_json::json!({"Name": k.name, "Display": k.display, "Roles": k.roles})
}

/// LastUsed is written at most this often per key.
pub const LAST_USED_RESOLUTION: i64 = 60;

/// The roles as stored: comma-separated.
pub fn roles_from_column(roles: &str) -> Vec<String> {
    roles
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The keys revoked with `k`: every live key it created through the API
/// (while it was live), and theirs. Keys created through the API record
/// their creator's name.
pub fn created_by_chain(k: &ApiKey, live: &[ApiKey]) -> Vec<ApiKey> {
    let mut with_it: Vec<ApiKey> = Vec::new();
    let mut parents = vec![(k.name.clone(), k.created_on)];
    while let Some((name, since)) = parents.pop() {
        let children: Vec<ApiKey> = live
            .iter()
            .filter(|c| {
                c.created_by.as_deref() == Some(name.as_str())
                    && c.created_on >= since
                    && c.id != k.id
                    && !with_it.iter().any(|w| w.id == c.id)
            })
            .cloned()
            .collect();
        for c in children {
            parents.push((c.name.clone(), c.created_on));
            with_it.push(c);
        }
    }
    with_it
}

/// The live key named `name_or_id` (its name first, then its Id).
pub fn find_live<'a>(live: &'a [ApiKey], name_or_id: &str) -> Option<&'a ApiKey> {
    live.iter().find(|k| k.name == name_or_id).or_else(|| {
        name_or_id
            .parse::<i64>()
            .ok()
            .and_then(|id| live.iter().find(|k| k.id == id))
    })
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
        assert_eq!(
            parse_roles(["accesstoken-list", "*", "AccessToken-List"]),
            Ok(vec!["AccessToken-List", "*"])
        );
        assert!(parse_roles([]).unwrap_err().contains("at least one"));
        assert!(parse_roles(["AccessToken-List", "root"])
            .unwrap_err()
            .contains("\"root\""));
        assert_eq!(check_name("  booking "), Ok("booking"));
        assert!(check_name(" ").is_err());
        assert!(check_name("ui:boss").is_err());
        assert_eq!(check_name(&"é".repeat(100)).map(str::len), Ok(200));
        assert!(check_name(&"x".repeat(101)).is_err());
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
