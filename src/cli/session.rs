//! `radgate session …`: list sessions and pending places.

use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::{print_json, print_table, Cell};
use super::{CliError, Format};
use crate::config::Config;
use crate::store::{SessionFilter, SessionInfo};
use crate::token::parse::{format_local, format_utc};
use crate::token::ts;

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List sessions, newest first.
    #[command(
        after_help = "Examples:\n  radgate session list --active\n  radgate session list --code WELCOME1 --format json\n  radgate session list --limit 1000 --format csv > sessions.csv"
    )]
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only sessions holding a place now (active, or pending and not expired).
    #[arg(long)]
    pub active: bool,
    /// Only sessions of this code (case-insensitive).
    #[arg(long)]
    pub code: Option<String>,
    /// At most this many sessions.
    #[arg(long, default_value_t = 100, allow_negative_numbers = true)]
    pub limit: i64,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SessionJson<'a> {
    id: i64,
    access_token_id: i64,
    access_code: &'a str,
    state: &'a str,
    nas: &'a str,
    device: Option<&'a str>,
    acct_session_id: Option<&'a str>,
    framed_ip_address: Option<&'a str>,
    started: String,
    last_update: String,
    pending_until: Option<String>,
    stopped: Option<String>,
    session_time: i64,
    terminate_cause: Option<i64>,
    close_reason: Option<&'a str>,
    input_octets: i64,
    output_octets: i64,
}

impl<'a> From<&'a SessionInfo> for SessionJson<'a> {
    fn from(s: &'a SessionInfo) -> Self {
        SessionJson {
            id: s.id,
            access_token_id: s.token_id,
            access_code: &s.access_code,
            state: &s.state,
            nas: &s.nas,
            device: s.device.as_deref(),
            acct_session_id: s.acct_session_id.as_deref(),
            framed_ip_address: s.framed_ip.as_deref(),
            started: format_utc(ts(s.created_at)),
            last_update: format_utc(ts(s.updated_at)),
            pending_until: s
                .expires_at
                .filter(|_| s.state == "pending")
                .map(|e| format_utc(ts(e))),
            stopped: s.stopped_at.map(|e| format_utc(ts(e))),
            session_time: s.session_time,
            terminate_cause: s.terminate_cause,
            close_reason: s.close_reason.as_deref(),
            input_octets: s.input_octets,
            output_octets: s.output_octets,
        }
    }
}

pub async fn run(cmd: SessionCommand, config: &Config) -> Result<(), CliError> {
    let SessionCommand::List(a) = cmd;
    if !(1..=1_000_000).contains(&a.limit) {
        return Err(CliError::input(format!(
            "--limit: must be 1..1000000, got {}",
            a.limit
        )));
    }
    let store = super::open_store(config, super::Access::Read).await?;
    let f = SessionFilter {
        active: a.active,
        code: a.code,
        framed_ip: None,
        limit: a.limit,
    };
    let sessions = store
        .list_sessions(&f, chrono::Utc::now().timestamp())
        .await;
    store.close().await;
    let sessions = sessions?;
    // Each session's start in the zone of its code's business.
    let zones = config.zones();
    match a.format {
        Format::Json => print_json(&sessions.iter().map(SessionJson::from).collect::<Vec<_>>()),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            let res = (|| -> Result<(), Box<dyn std::error::Error>> {
                for s in &sessions {
                    w.serialize(SessionJson::from(s))?;
                }
                if sessions.is_empty() {
                    w.write_record([
                        "Id",
                        "AccessTokenId",
                        "AccessCode",
                        "State",
                        "Nas",
                        "Device",
                        "AcctSessionId",
                        "FramedIpAddress",
                        "Started",
                        "LastUpdate",
                        "PendingUntil",
                        "Stopped",
                        "SessionTime",
                        "TerminateCause",
                        "CloseReason",
                        "InputOctets",
                        "OutputOctets",
                    ])?;
                }
                w.flush()?;
                Ok(())
            })();
            res.map_err(|e| CliError::failure(format!("writing CSV: {e}")))
        }
        Format::Table => {
            let header = [
                "Id",
                "AccessCode",
                "State",
                "Device",
                "NAS",
                "Acct-Session-Id",
                "FramedIP",
                "Started",
                "Time",
                "In",
                "Out",
                "Closed",
            ];
            let dash = |v: Option<&str>| v.unwrap_or("-").to_string();
            let body: Vec<Vec<Cell>> = sessions
                .iter()
                .map(|s| {
                    vec![
                        Cell::num(s.id),
                        Cell::text(&s.access_code),
                        Cell::text(&s.state),
                        Cell::text(&dash(s.device.as_deref())),
                        Cell::text(&s.nas),
                        Cell::text(&dash(s.acct_session_id.as_deref())),
                        Cell::text(&dash(s.framed_ip.as_deref())),
                        Cell::text(&format_local(ts(s.created_at), zones.of(s.business_id))),
                        Cell::text(&format_duration(s.session_time)),
                        Cell::num(s.input_octets),
                        Cell::num(s.output_octets),
                        Cell::text(&dash(s.close_reason.as_deref())),
                    ]
                })
                .collect();
            print_table(&header, &body);
            Ok(())
        }
    }
}

/// 3725 -> "1h02m05s".
fn format_duration(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}
