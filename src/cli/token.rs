//! `radgate token …`: create, show, list, delete.

use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::{print_json, print_kv, print_table, Cell};
use super::{CliError, Format};
use crate::config::Config;
use crate::store::{SessionRow, Store, TokenFilter};
use crate::token::{ts, AccessToken, TokenInput, TokenJson};
use crate::token_parse::{format_local, format_utc};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create one access token.
    #[command(
        after_help = "Examples:\n  radgate token create --code WELCOME1 --minutes 60\n  radgate token create --code LOBBY-7 --minutes 1440 --valid-to 2025-12-31T23:59 --user-limit 2\n  radgate token create --code ROOM12 --minutes 600 --mac aa-bb-cc-dd-ee-ff --format json"
    )]
    Create(CreateArgs),
    /// Show one token (by code or Id) with its live sessions.
    #[command(
        after_help = "Examples:\n  radgate token show WELCOME1\n  radgate token show 42 --format json"
    )]
    Show {
        /// The access code (case-insensitive) or the token's Id.
        code_or_id: String,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// List tokens.
    #[command(
        after_help = "Examples:\n  radgate token list\n  radgate token list --active --format json\n  radgate token list --business-id 3 --page 2 --size 50 --format csv"
    )]
    List(ListArgs),
    /// Delete a token (by code or Id).
    #[command(after_help = "Example:\n  radgate token delete WELCOME1")]
    Delete {
        /// The access code (case-insensitive) or the token's Id.
        code_or_id: String,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The code guests type (AccessCode).
    #[arg(long)]
    pub code: String,
    /// Minutes of access (MinutesIncluded).
    #[arg(long, allow_negative_numbers = true)]
    pub minutes: i64,
    /// Start of validity: 2025-07-21T12:45 (local time in server.timezone) or RFC 3339 with Z/offset.
    #[arg(long, value_name = "T")]
    pub valid_from: Option<String>,
    /// End of validity, same formats as --valid-from.
    #[arg(long, value_name = "T")]
    pub valid_to: Option<String>,
    /// Devices that may use the code at the same time (default: unlimited).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub user_limit: Option<i64>,
    /// Bind the code to one device MAC (any common notation).
    #[arg(long)]
    pub mac: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub business_id: Option<i64>,
    #[arg(long, value_name = "UUID")]
    pub booking_guid: Option<String>,
    #[arg(long, value_name = "UUID")]
    pub visitor_guid: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this code (case-insensitive).
    #[arg(long)]
    pub code: Option<String>,
    #[arg(long, value_name = "N")]
    pub business_id: Option<i64>,
    /// Only tokens usable now (inside their window, with time left).
    #[arg(long)]
    pub active: bool,
    /// Only tokens whose ValidTo has passed.
    #[arg(long)]
    pub expired: bool,
    #[arg(long, default_value_t = 1)]
    pub page: i64,
    #[arg(long, default_value_t = 25)]
    pub size: i64,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub async fn run(cmd: TokenCommand, config: &Config) -> Result<(), CliError> {
    let store = Store::open(&config.database).await?;
    let tz = config.server.timezone;
    match cmd {
        TokenCommand::Create(a) => {
            let input = TokenInput {
                business_id: a.business_id,
                access_code: Some(a.code),
                description: a.description,
                minutes_included: Some(a.minutes),
                valid_from: a.valid_from,
                valid_to: a.valid_to,
                user_limit: a.user_limit,
                mac_address: a.mac,
                booking_guid: a.booking_guid,
                visitor_guid: a.visitor_guid,
            };
            let mut new = input.validate(tz, 0).map_err(|errs| {
                CliError::input(
                    errs.iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("\n"),
                )
            })?;
            new.updated_by = Some(whoami());
            let t = store.create_token(&new, now()).await?;
            match a.format {
                Format::Json => print_json(&t.to_json()),
                Format::Csv => print_csv(&[t]),
                Format::Table => {
                    show_token(&t, &[], tz);
                    Ok(())
                }
            }
        }
        TokenCommand::Show { code_or_id, format } => {
            let t = store.find_token(&code_or_id).await?;
            let sessions = store.live_sessions(t.id, now()).await?;
            match format {
                Format::Json => {
                    #[derive(Serialize)]
                    struct Show<'a> {
                        #[serde(flatten)]
                        token: TokenJson,
                        #[serde(rename = "LiveSessions")]
                        live_sessions: Vec<SessionJson<'a>>,
                    }
                    print_json(&Show {
                        token: t.to_json(),
                        live_sessions: sessions.iter().map(SessionJson::from).collect(),
                    })
                }
                Format::Csv => print_csv(&[t]),
                Format::Table => {
                    show_token(&t, &sessions, tz);
                    Ok(())
                }
            }
        }
        TokenCommand::List(a) => {
            if a.page < 1 {
                return Err(CliError::input(format!(
                    "--page: must be 1 or more, got {}",
                    a.page
                )));
            }
            if !(1..=10_000).contains(&a.size) {
                return Err(CliError::input(format!(
                    "--size: must be 1..10000, got {}",
                    a.size
                )));
            }
            let f = TokenFilter {
                code: a.code,
                business_id: a.business_id,
                active: a.active,
                expired: a.expired,
                page: a.page,
                size: a.size,
            };
            let (tokens, total) = store.list_tokens(&f, now()).await?;
            match a.format {
                Format::Json => print_json(&envelope(&tokens, total, a.page, a.size)),
                Format::Csv => print_csv(&tokens),
                Format::Table => {
                    list_table(&tokens, tz);
                    eprintln!(
                        "page {} of {}, {} token(s) in all",
                        a.page,
                        pages(total, a.size).max(1),
                        total
                    );
                    Ok(())
                }
            }
        }
        TokenCommand::Delete { code_or_id } => {
            let t = store.find_token(&code_or_id).await?;
            if store.delete_token(t.id).await? {
                println!("deleted token {} ({})", t.id, t.access_code);
                Ok(())
            } else {
                Err(CliError::failure(format!(
                    "no access token matches \"{code_or_id}\""
                )))
            }
        }
    }
}

fn whoami() -> String {
    std::env::var("USER")
        .map(|u| format!("cli:{u}"))
        .unwrap_or_else(|_| "cli".into())
}

fn pages(total: i64, size: i64) -> i64 {
    (total + size - 1) / size
}

/// The Nexudus list envelope.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    records: Vec<TokenJson>,
    current_page: i64,
    current_page_size: i64,
    current_order_field: &'static str,
    current_sort_direction: i64,
    first_item: i64,
    last_item: i64,
    total_items: i64,
    total_pages: i64,
    has_next_page: bool,
    has_previous_page: bool,
}

fn envelope(tokens: &[AccessToken], total: i64, page: i64, size: i64) -> Envelope {
    let first = if tokens.is_empty() {
        0
    } else {
        (page - 1) * size + 1
    };
    let total_pages = pages(total, size);
    Envelope {
        records: tokens.iter().map(|t| t.to_json()).collect(),
        current_page: page,
        current_page_size: size,
        current_order_field: "Id",
        current_sort_direction: 1,
        first_item: first,
        last_item: if tokens.is_empty() {
            0
        } else {
            first + tokens.len() as i64 - 1
        },
        total_items: total,
        total_pages,
        has_next_page: page < total_pages,
        has_previous_page: page > 1,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SessionJson<'a> {
    id: i64,
    nas: &'a str,
    device: Option<&'a str>,
    state: &'a str,
    acct_session_id: Option<&'a str>,
    started: String,
    pending_until: Option<String>,
    session_time: i64,
}

impl<'a> From<&'a SessionRow> for SessionJson<'a> {
    fn from(s: &'a SessionRow) -> Self {
        SessionJson {
            id: s.id,
            nas: &s.nas,
            device: s.device.as_deref(),
            state: &s.state,
            acct_session_id: s.acct_session_id.as_deref(),
            started: format_utc(ts(s.created_at)),
            pending_until: s
                .expires_at
                .filter(|_| s.state == "pending")
                .map(|e| format_utc(ts(e))),
            session_time: s.session_time,
        }
    }
}

fn opt_time(v: Option<i64>, tz: chrono_tz::Tz) -> String {
    v.map(|s| format_local(ts(s), tz))
        .unwrap_or_else(|| "-".into())
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|x| x.to_string())
        .unwrap_or_else(|| "-".into())
}

fn show_token(t: &AccessToken, sessions: &[SessionRow], tz: chrono_tz::Tz) {
    let rows: Vec<(&str, String)> = vec![
        ("Id", t.id.to_string()),
        ("UniqueId", t.unique_id.clone()),
        ("BusinessId", t.business_id.to_string()),
        ("AccessCode", t.access_code.clone()),
        ("Description", opt(&t.description)),
        ("MinutesIncluded", t.minutes_included.to_string()),
        ("MinutesLeft", t.minutes_left().to_string()),
        ("ValidFrom", opt_time(t.valid_from, tz)),
        ("ValidTo", opt_time(t.valid_to, tz)),
        (
            "UserLimit",
            t.user_limit
                .map(|u| u.to_string())
                .unwrap_or_else(|| "unlimited".into()),
        ),
        ("MacAddress", opt(&t.mac_address)),
        ("BookingGuid", opt(&t.booking_guid)),
        ("VisitorGuid", opt(&t.visitor_guid)),
        ("LastAccess", opt_time(t.last_access, tz)),
        ("CreatedOn", format_local(ts(t.created_on), tz)),
        ("UpdatedOn", format_local(ts(t.updated_on), tz)),
        ("UpdatedBy", opt(&t.updated_by)),
        ("LiveSessions", sessions.len().to_string()),
    ];
    print_kv(&rows);
    if !sessions.is_empty() {
        println!();
        let header = [
            "Id",
            "State",
            "Device",
            "NAS",
            "Acct-Session-Id",
            "Started",
            "PendingUntil",
        ];
        let body: Vec<Vec<Cell>> = sessions
            .iter()
            .map(|s| {
                vec![
                    Cell::num(s.id),
                    Cell::text(&s.state),
                    Cell::text(s.device.as_deref().unwrap_or("-")),
                    Cell::text(&s.nas),
                    Cell::text(s.acct_session_id.as_deref().unwrap_or("-")),
                    Cell::text(&format_local(ts(s.created_at), tz)),
                    Cell::text(&if s.state == "pending" {
                        opt_time(s.expires_at, tz)
                    } else {
                        "-".into()
                    }),
                ]
            })
            .collect();
        print_table(&header, &body);
    }
}

fn list_table(tokens: &[AccessToken], tz: chrono_tz::Tz) {
    let header = [
        "Id",
        "AccessCode",
        "BusinessId",
        "MinutesIncluded",
        "MinutesLeft",
        "ValidFrom",
        "ValidTo",
        "UserLimit",
        "MacAddress",
        "LastAccess",
    ];
    let body: Vec<Vec<Cell>> = tokens
        .iter()
        .map(|t| {
            vec![
                Cell::num(t.id),
                Cell::text(&t.access_code),
                Cell::num(t.business_id),
                Cell::num(t.minutes_included),
                Cell::num(t.minutes_left()),
                Cell::text(&opt_time(t.valid_from, tz)),
                Cell::text(&opt_time(t.valid_to, tz)),
                Cell::text(&opt(&t.user_limit)),
                Cell::text(&opt(&t.mac_address)),
                Cell::text(&opt_time(t.last_access, tz)),
            ]
        })
        .collect();
    print_table(&header, &body);
}

fn print_csv(tokens: &[AccessToken]) -> Result<(), CliError> {
    let mut w = csv::Writer::from_writer(std::io::stdout());
    let mut write = || -> Result<(), csv::Error> {
        w.write_record([
            "Id",
            "UniqueId",
            "BusinessId",
            "AccessCode",
            "Description",
            "MinutesIncluded",
            "MinutesLeft",
            "ValidFrom",
            "ValidTo",
            "UserLimit",
            "MacAddress",
            "BookingGuid",
            "VisitorGuid",
            "LastAccess",
            "CreatedOn",
            "UpdatedOn",
            "UpdatedBy",
        ])?;
        for t in tokens {
            let j = t.to_json();
            let o = |v: &Option<String>| v.clone().unwrap_or_default();
            w.write_record([
                j.id.to_string(),
                j.unique_id,
                j.business_id.to_string(),
                j.access_code.clone(),
                o(&j.description),
                j.minutes_included.to_string(),
                j.minutes_left.to_string(),
                o(&j.valid_from),
                o(&j.valid_to),
                j.user_limit.map(|u| u.to_string()).unwrap_or_default(),
                o(&j.mac_address),
                o(&j.booking_guid),
                o(&j.visitor_guid),
                o(&j.last_access),
                j.created_on.clone(),
                j.updated_on.clone(),
                o(&j.updated_by),
            ])?;
        }
        w.flush()?;
        Ok(())
    };
    write().map_err(|e| CliError::failure(format!("writing CSV: {e}")))
}
