//! `radgate audit list`: the audit log (SPEC §10) — every change made
//! through the CLI, the API or the web UI, newest first.

use clap::Subcommand;
use serde::Serialize;

use super::output::{print_json, print_table, Cell};
use super::{CliError, Format};
use crate::config::Config;
use crate::store::audit::{Filter, Record};
use crate::token::parse::{format_local, format_utc, parse_datetime};
use crate::token::ts;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List recorded changes, newest first.
    #[command(after_help = concat!(
        "Actors: cli:<user>, api:<key name>, ui:<operator>; give `ui:` for every operator.\n",
        "Actions: token.create, token.generate, token.import, token.update, token.delete,\n",
        "token.extend, token.revoke, token.unbind, session.disconnect (the web UI),\n",
        "apikey.create, apikey.revoke, operator.add, operator.update, operator.remove,\n",
        "operator.passwd, preset.add, preset.remove;\n",
        "give `token.` for every action on codes.\n\n",
        "Examples:\n",
        "  radgate audit list --since 2025-07-01\n",
        "  radgate audit list --target WELCOME1 --format json\n",
        "  radgate audit list --actor ui: --action token. --limit 1000 --format csv > changes.csv"
    ))]
    List {
        /// Changes at or after this time (local time, server.timezone; or RFC 3339).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Changes before this time.
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// Who: an actor, or `cli:`, `api:`, `ui:` for every one of a kind.
        #[arg(long)]
        actor: Option<String>,
        /// What: an action, or a family such as `token.`.
        #[arg(long)]
        action: Option<String>,
        /// Part of what was changed: a code, a key or operator name.
        #[arg(long, value_name = "TEXT")]
        target: Option<String>,
        /// Only changes to codes of this BusinessId (repeat for several).
        #[arg(long = "business", value_name = "N")]
        businesses: Vec<i64>,
        /// At most this many (default 100).
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RecordJson {
    id: i64,
    at: String,
    actor: String,
    action: String,
    target: String,
    business_id: Option<i64>,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
}

fn json(r: &Record) -> RecordJson {
    let parse = |v: &Option<String>| {
        v.as_deref()
            .map(|t| serde_json::from_str(t).unwrap_or(serde_json::Value::String(t.into())))
    };
    RecordJson {
        id: r.id,
        at: format_utc(ts(r.at)),
        actor: r.actor.clone(),
        action: r.action.clone(),
        target: r.target.clone(),
        business_id: r.business_id,
        before: parse(&r.before),
        after: parse(&r.after),
    }
}

/// Text for a terminal: control characters (which could move the cursor
/// or recolour the screen) shown as U+FFFD.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

pub async fn run(cmd: AuditCommand, config: &Config) -> Result<(), CliError> {
    let AuditCommand::List {
        since,
        until,
        actor,
        action,
        target,
        businesses,
        limit,
        format,
    } = cmd;
    let tz = config.server.timezone;
    let time = |flag: &str, v: Option<String>| -> Result<Option<i64>, CliError> {
        v.map(|s| {
            parse_datetime(&s, tz)
                .map(|t| t.timestamp())
                .map_err(|e| CliError::input(format!("{flag}: {e}")))
        })
        .transpose()
    };
    if !(1..=1_000_000).contains(&limit) {
        return Err(CliError::input(format!(
            "--limit: must be 1..1000000, got {limit}"
        )));
    }
    let f = Filter {
        since: time("--since", since)?,
        until: time("--until", until)?,
        actor: actor.filter(|v| !v.trim().is_empty()),
        action: action.filter(|v| !v.trim().is_empty()),
        target: target.filter(|v| !v.trim().is_empty()),
        business_ids: (!businesses.is_empty()).then_some(businesses),
        limit,
    };
    let store = super::open_store(config, super::Access::Read).await?;
    let res = store.audit_log(&f).await;
    store.close().await;
    let records = res?;
    match format {
        Format::Json => print_json(&records.iter().map(json).collect::<Vec<_>>()),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            let res = w
                .write_record([
                    "Id",
                    "At",
                    "Actor",
                    "Action",
                    "Target",
                    "BusinessId",
                    "Before",
                    "After",
                ])
                .and_then(|_| {
                    records.iter().try_for_each(|r| {
                        w.write_record([
                            r.id.to_string(),
                            format_utc(ts(r.at)),
                            r.actor.clone(),
                            r.action.clone(),
                            r.target.clone(),
                            r.business_id.map(|b| b.to_string()).unwrap_or_default(),
                            r.before.clone().unwrap_or_default(),
                            r.after.clone().unwrap_or_default(),
                        ])
                    })
                })
                .and_then(|_| w.flush().map_err(csv::Error::from));
            res.map_err(|e| CliError::failure(format!("writing CSV: {e}")))
        }
        Format::Table => {
            let body: Vec<Vec<Cell>> = records
                .iter()
                .map(|r| {
                    vec![
                        Cell::text(&format_local(ts(r.at), tz)),
                        Cell::text(&printable(&r.actor)),
                        Cell::text(&printable(&r.action)),
                        Cell::text(&printable(&r.target)),
                        Cell::text(&printable(&crate::store::audit::what_changed(r))),
                    ]
                })
                .collect();
            print_table(&["At", "Actor", "Action", "Target", "Changed"], &body);
            Ok(())
        }
    }
}
