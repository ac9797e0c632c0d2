//! Operators of the admin web UI (SPEC §10): a name, a role (desk, manager,
//! admin), the businesses they may see (none listed: all), an Argon2id
//! password hash; and their sign-in sessions, whose cookie holds 32 random
//! bytes of which the database keeps only the SHA-256.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// What an operator may do; each role may do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Search, issue from presets, print, extend, revoke, guests online.
    Desk,
    /// Also presets, batches, import/export, API keys, the audit log.
    Manager,
    /// Also operators.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Desk => "desk",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Role, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "desk" => Ok(Role::Desk),
            "manager" => Ok(Role::Manager),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("{s:?} is not a role: desk, manager or admin")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// The BusinessIds this operator sees; empty: all.
    pub businesses: Vec<i64>,
    pub created_on: i64,
    pub created_by: Option<String>,
    pub disabled_on: Option<i64>,
}

impl Operator {
    /// May this operator see a code of `business_id`?
    pub fn sees(&self, business_id: i64) -> bool {
        self.businesses.is_empty() || self.businesses.contains(&business_id)
    }
}

/// An operator as the audit log shows them (never the password hash).
pub fn audit_json(o: &Operator) -> serde_json::Value {
    serde_json::json!({
        "Name": o.name,
        "Role": o.role.as_str(),
        "BusinessIds": o.businesses,
        "Disabled": o.disabled_on.is_some(),
    })
}

/// A new operator as `operator add` gives it.
#[derive(Debug, Clone)]
pub struct NewOperator {
    pub name: String,
    pub role: Role,
    pub businesses: Vec<i64>,
    pub password_hash: String,
}

/// Operator names: what people type to sign in.
pub fn check_name(name: &str) -> Result<&str, String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if n.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!("{n:?} has spaces or control characters"));
    }
    Ok(n)
}

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 10;

/// Argon2id (the crate's defaults: 19 MiB, 2 passes) of `password`, as a
/// PHC string; refused when too short or too long.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::PasswordHasher;
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(format!("must be at least {MIN_PASSWORD} characters"));
    }
    if password.len() > 1024 {
        return Err("must be at most 1024 bytes".into());
    }
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash it: {e}"))
}

/// Does `password` match the stored PHC string?
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::phc::PasswordHash;
    use argon2::password_hash::PasswordVerifier;
    match PasswordHash::new(phc) {
        Ok(h) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the name is unknown, so that an unknown
/// name takes as long as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("radgate-dummy-password").unwrap_or_default())
}

/// A new session id for the cookie (base64url of 32 random bytes).
pub fn new_session_id() -> String {
    use base64::Engine as _;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Hex SHA-256 of a session id: what is stored and looked up.
pub fn session_hash(id: &str) -> String {
    Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn businesses_to_column(b: &[i64]) -> String {
    b.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

pub fn businesses_from_column(s: &str) -> Vec<i64> {
    s.split(',').filter_map(|v| v.trim().parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        assert!(hash_password("short").unwrap_err().contains("at least 10"));
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn roles_and_names() {
        assert_eq!(Role::parse(" Manager ").unwrap(), Role::Manager);
        assert!(Role::parse("root").is_err());
        assert!(Role::Desk < Role::Manager && Role::Manager < Role::Admin);
        assert_eq!(check_name(" anna ").unwrap(), "anna");
        assert!(check_name("an na").is_err());
        assert!(check_name("").is_err());
        assert_eq!(
            businesses_from_column(&businesses_to_column(&[3, 7])),
            vec![3, 7]
        );
        assert!(businesses_from_column("").is_empty());
    }
}
