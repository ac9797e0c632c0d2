//! Batches (SPEC §10): every `token generate` — the CLI's, the web UI's
//! quick issue — makes a named batch, so that a manager can see how its
//! codes are doing and act on them together (print the unused ones,
//! export, extend, revoke, delete). A code keeps its batch for life.

/// One generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub id: i64,
    pub name: String,
    pub business_id: i64,
    pub created_on: i64,
    /// Who made it, as the audit log names them (`cli:anna`, `ui:bob`).
    pub created_by: String,
}

/// A batch and how its codes stand now. Each code counts once, in the
/// first that holds of: expired (its window has ended), used up (no time
/// left, or a single-use code spent), unused (never logged in), in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSummary {
    pub batch: Batch,
    pub total: i64,
    pub unused: i64,
    pub in_use: i64,
    pub expired: i64,
    pub used_up: i64,
}

/// The most characters a batch's name may have.
pub const MAX_NAME: usize = 100;

/// A batch name as given (trimmed), or why not.
pub fn check_name(name: &str) -> Result<String, String> {
    let n = name.trim();
    if n.is_empty() {
        return Err("the batch name is empty".into());
    }
    if n.chars().count() > MAX_NAME {
        return Err(format!(
            "the batch name has more than {MAX_NAME} characters"
        ));
    }
    if n.chars().any(char::is_control) {
        return Err("the batch name has a control character".into());
    }
    Ok(n.to_string())
}

/// The name of a batch made without one: when, in the server's zone.
pub fn default_name(now: i64, tz: chrono_tz::Tz) -> String {
    match chrono::DateTime::from_timestamp(now, 0) {
        Some(t) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        None => "batch".into(),
    }
}

/// The SQL sorting a code into the summary's categories, given the
/// backend's expression for the end of its window and `single_use` as a
/// boolean test; one placeholder, `now`, written `{now}`.
pub(crate) fn category_sql(expires_on: &str, single_use: &str, now: &str) -> String {
    format!(
        "CASE WHEN {expires_on} <= {now} THEN 'expired' \
         WHEN ({single_use} AND spent_on IS NOT NULL) OR seconds_used >= minutes_included * 60 \
         OR (megabytes_included IS NOT NULL AND bytes_used >= megabytes_included * 1000000) \
         THEN 'used_up' WHEN last_access IS NULL THEN 'unused' ELSE 'in_use' END"
    )
}

impl BatchSummary {
    /// Add `n` codes of `category` (from [`category_sql`]).
    pub(crate) fn add(&mut self, category: &str, n: i64) {
        self.total += n;
        match category {
            "expired" => self.expired += n,
            "used_up" => self.used_up += n,
            "unused" => self.unused += n,
            _ => self.in_use += n,
        }
    }

    pub(crate) fn new(batch: Batch) -> BatchSummary {
        BatchSummary {
            batch,
            total: 0,
            unused: 0,
            in_use: 0,
            expired: 0,
            used_up: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_defaulted() {
        assert_eq!(check_name("  Conference  ").unwrap(), "Conference");
        assert!(check_name(" ").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"x".repeat(101)).is_err());
        assert_eq!(
            default_name(1_764_788_400, chrono_tz::Europe::Berlin),
            "2025-12-03 20:00"
        );
    }
}
