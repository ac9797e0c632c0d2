//! The audit log (SPEC §10): every change made through the CLI, the API or
//! the web UI is recorded in the same transaction as the change — who
//! (`cli:<user>`, `api:<key>`, `ui:<operator>`), when, what, and the values
//! before and after. The RADIUS path (charging minutes, binding a MAC on
//! first use) is the codes being used, not changed by someone: not logged.

use crate::token::AccessToken;

/// Who makes a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    pub fn cli(user: &str) -> Actor {
        Actor(user.to_string())
    }
}

/// One change to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: &'static str,
    pub target: String,
    pub business_id: Option<i64>,
    pub before: Option<String>,
    pub after: Option<String>,
}

fn token_json(t: &AccessToken) -> String {
    serde_json::to_string(&t.to_json()).unwrap_or_default()
}

impl Change {
    /// A change to one code: `before` and `after` as its JSON.
    pub fn token(
        action: &'static str,
        before: Option<&AccessToken>,
        after: Option<&AccessToken>,
    ) -> Change {
        let t = after.or(before);
        Change {
            action,
            target: t
                .map(|t| format!("{} (Id {})", t.access_code, t.id))
                .unwrap_or_default(),
            business_id: t.map(|t| t.business_id),
            before: before.map(token_json),
            after: after.map(token_json),
        }
    }

    /// A change to one code for a reason, recorded in `after` as `Reason`.
    pub fn token_because(
        action: &'static str,
        before: &AccessToken,
        after: &AccessToken,
        reason: Option<&str>,
    ) -> Change {
        let mut c = Change::token(action, Some(before), Some(after));
        if let Some(r) = reason {
            let mut v: serde_json::Value =
                serde_json::from_str(c.after.as_deref().unwrap_or("{}")).unwrap_or_default();
            if let serde_json::Value::Object(m) = &mut v {
                m.insert("Reason".into(), r.into());
            }
            c.after = Some(v.to_string());
        }
        c
    }

    /// Many codes at once (generate, import): their Ids and codes.
    pub fn tokens(action: &'static str, tokens: &[(i64, String)]) -> Change {
        let list: Vec<serde_json::Value> = tokens
            .iter()
            .map(|(id, code)| serde_json::json!({"Id": id, "AccessCode": code}))
            .collect();
        Change {
            action,
            target: format!(
                "{} code{}",
                tokens.len(),
                if tokens.len() == 1 { "" } else { "s" }
            ),
            business_id: None,
            before: None,
            after: Some(serde_json::Value::Array(list).to_string()),
        }
    }

    /// Anything else: `target` in words, `before`/`after` as given JSON.
    pub fn other(
        action: &'static str,
        target: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Change {
        Change {
            action,
            target: target.to_string(),
            business_id: None,
            before: before.map(|v| v.to_string()),
            after: after.map(|v| v.to_string()),
        }
    }
}

/// A recorded change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub business_id: Option<i64>,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Which records to list (all conditions hold), newest first.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Exactly this actor (`ui:anna`), or every actor of a kind (`ui:`).
    pub actor: Option<String>,
    /// An action (`token.update`) or a family (`token.`).
    pub action: Option<String>,
    /// Part of the target (a code, a name), any case.
    pub target: Option<String>,
    /// Only records about these businesses' codes; `None`: all.
    pub business_ids: Option<Vec<i64>>,
    pub limit: i64,
}

/// The fields a change touched, in words: `MinutesIncluded 60 → 90,
/// ValidTo – → 2025-08-01T00:00:00Z`; for a create or delete, nothing.
pub fn what_changed(r: &Record) -> String {
    let parse = |v: &Option<String>| {
        v.as_deref()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
    };
    let show = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => "–".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    // One side only (made, removed): what it held, briefly.
    let brief = |m: &serde_json::Map<String, serde_json::Value>| {
        let mut parts: Vec<String> = m
            .iter()
            .filter(|(k, v)| {
                !v.is_null()
                    && !matches!(
                        k.as_str(),
                        "UpdatedOn" | "UpdatedBy" | "CreatedOn" | "UniqueId" | "Id"
                    )
            })
            .take(5)
            .map(|(k, v)| format!("{k} {}", show(Some(v))))
            .collect();
        if m.len() > parts.len() + 5 {
            parts.push("…".into());
        }
        parts.join(", ")
    };
    let (b, a) = match (parse(&r.before), parse(&r.after)) {
        (Some(serde_json::Value::Object(b)), Some(serde_json::Value::Object(a))) => (b, a),
        (None, Some(serde_json::Value::Object(a))) => return format!("new: {}", brief(&a)),
        (Some(serde_json::Value::Object(b)), None) => return format!("was: {}", brief(&b)),
        _ => return String::new(),
    };
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(*v) && !matches!(k.as_str(), "UpdatedOn" | "UpdatedBy"))
        .map(|(k, v)| format!("{k} {} → {}", show(b.get(k)), show(Some(v))))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(before: Option<&str>, after: Option<&str>) -> Record {
        Record {
            id: 1,
            at: 0,
            actor: "ui:anna".into(),
            action: "x".into(),
            target: "t".into(),
            business_id: None,
            before: before.map(str::to_string),
            after: after.map(str::to_string),
        }
    }

    #[test]
    fn what_changed_names_changes_or_what_one_side_held() {
        let r = rec(
            Some(r#"{"MinutesIncluded":60,"UpdatedOn":"a"}"#),
            Some(r#"{"MinutesIncluded":120,"UpdatedOn":"b"}"#),
        );
        assert_eq!(what_changed(&r), "MinutesIncluded 60 → 120");
        let r = rec(None, Some(r#"{"Name":"booking","Roles":["*"],"Id":3}"#));
        assert_eq!(what_changed(&r), r#"new: Name booking, Roles ["*"]"#);
        let r = rec(Some(r#"{"AccessCode":"ROOM1","Description":null}"#), None);
        assert_eq!(what_changed(&r), "was: AccessCode ROOM1");
        assert_eq!(what_changed(&rec(None, None)), "");
    }
}
