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
    serde_json::json!({
        "Name": k.name,
        "Display": k.display,
        "Roles": k.roles,
        "BusinessIds": k.businesses,
    })
}

// ------------------------------------------------------- business scope
//
// A key may be limited to some BusinessIds (SPEC §7, "Tenants"), like
// DataFast's `websiteIds`; none listed: every business. Stored like an
// operator's businesses (store/operators.rs: comma-separated, empty: all).

/// BusinessIds as given (CLI `--business`, API `BusinessIds`, the web
/// form): each 0 or more (as a code's BusinessId); sorted, repeats
/// dropped. Empty: every business. Else why not (the first bad one).
pub fn check_businesses(ids: impl IntoIterator<Item = i64>) -> Result<Vec<i64>, String> {
    let mut out = Vec::new();
    for id in ids {
        if id < 0 {
            return Err(format!("{id} is not a BusinessId (a number, 0 or more)"));
        }
        out.push(id);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Whether a scope `inner` reaches no further than `outer` (either empty:
/// every business). Every business is within only every business.
pub fn within(inner: &[i64], outer: &[i64]) -> bool {
    outer.is_empty() || (!inner.is_empty() && inner.iter().all(|b| outer.contains(b)))
}

/// The BusinessIds of a key made by a creator limited to `creator` (empty:
/// every business), asked for `asked` (`None`: left out). Left out: the
/// creator's own. Asked for more than the creator reaches (every business
/// included, from a limited creator): refused, naming what is too much.
pub fn scope_for_new_key(creator: &[i64], asked: Option<&[i64]>) -> Result<Vec<i64>, String> {
    let Some(asked) = asked else {
        return Ok(creator.to_vec());
    };
    if within(asked, creator) {
        return Ok(asked.to_vec());
    }
    let reach = format!("reaches only BusinessIds {}", scope_text(creator));
    if asked.is_empty() {
        return Err(format!("cannot be every business: the creator {reach}"));
    }
    let outside: Vec<i64> = asked
        .iter()
        .copied()
        .filter(|b| !creator.contains(b))
        .collect();
    Err(format!(
        "{} beyond the creator's businesses: the creator {reach}",
        scope_text(&outside)
    ))
}

/// A scope in words: `3, 4`, or `all`.
pub fn scope_text(businesses: &[i64]) -> String {
    if businesses.is_empty() {
        "all".into()
    } else {
        businesses
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
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
    /// The BusinessIds whose codes the key reaches; empty: all.
    pub businesses: Vec<i64>,
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

    /// Whether the key reaches the codes of `business_id`.
    pub fn sees(&self, business_id: i64) -> bool {
        self.businesses.is_empty() || self.businesses.contains(&business_id)
    }

    /// The key's businesses as a list filter: `None` for all.
    pub fn scope(&self) -> Option<Vec<i64>> {
        (!self.businesses.is_empty()).then(|| self.businesses.clone())
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
            businesses: vec![],
            created_on: 0,
            created_by: None,
            last_used: None,
            revoked_on: None,
        };
        assert!(key.has_role("AccessToken-List") && !key.has_role("AccessToken-Edit"));
        assert!(key.sees(0) && key.sees(99) && key.scope().is_none());
        let scoped = ApiKey {
            businesses: vec![3, 4],
            ..key
        };
        assert!(scoped.sees(3) && scoped.sees(4) && !scoped.sees(5) && !scoped.sees(0));
        assert_eq!(scoped.scope(), Some(vec![3, 4]));
        assert_eq!(
            audit_json(&scoped)["BusinessIds"],
            serde_json::json!([3, 4])
        );
    }

    #[test]
    fn business_scopes() {
        assert_eq!(check_businesses([4, 3, 4, 0]), Ok(vec![0, 3, 4]));
        assert_eq!(check_businesses([]), Ok(vec![]));
        assert!(check_businesses([3, -1])
            .unwrap_err()
            .contains("-1 is not a BusinessId"));

        // Every business is within every business only.
        assert!(within(&[], &[]));
        assert!(within(&[3], &[]));
        assert!(!within(&[], &[3]));
        assert!(within(&[3], &[3, 4]) && within(&[3, 4], &[3, 4]));
        assert!(!within(&[3, 5], &[3, 4]));

        // An unlimited creator: left out is every business; any list goes.
        assert_eq!(scope_for_new_key(&[], None), Ok(vec![]));
        assert_eq!(scope_for_new_key(&[], Some(&[])), Ok(vec![]));
        assert_eq!(scope_for_new_key(&[], Some(&[7])), Ok(vec![7]));
        // A limited creator: left out is its own; a subset goes; more is refused.
        assert_eq!(scope_for_new_key(&[3, 4], None), Ok(vec![3, 4]));
        assert_eq!(scope_for_new_key(&[3, 4], Some(&[4])), Ok(vec![4]));
        let e = scope_for_new_key(&[3, 4], Some(&[4, 5, 6])).unwrap_err();
        assert!(e.starts_with("5, 6 beyond"), "{e}");
        assert!(e.contains("reaches only BusinessIds 3, 4"), "{e}");
        let e = scope_for_new_key(&[3, 4], Some(&[])).unwrap_err();
        assert!(e.contains("cannot be every business"), "{e}");

        assert_eq!(scope_text(&[]), "all");
        assert_eq!(scope_text(&[3, 4]), "3, 4");
    }
}
