//! `radgate apikey …`: keys for the admin HTTP API (SPEC §7).

use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::{print_json, print_table, Cell};
use super::{CliError, Format};
use crate::config::Config;
use crate::store::apikeys::{check_businesses, check_name, parse_roles, scope_text, ApiKey};
use crate::store::Store;
use crate::token::parse::{format_local, format_utc};
use crate::token::ts;

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key and print it once (only a hash is stored).
    #[command(after_help = concat!(
        "Roles: AccessToken-Create, AccessToken-List, AccessToken-Read, AccessToken-Edit,\n",
        "AccessToken-Delete, Radius-Authorize (the IronWifi connector), * (everything).\n\n",
        "Businesses: without --business the key reaches every business's codes; with\n",
        "--business it lists, reads, creates, changes, deletes and authorizes only those\n",
        "businesses' codes (another business's code answers 404, as if it did not exist).\n\n",
        "Examples:\n",
        "  radgate apikey create --name booking-system --role AccessToken-Create --role AccessToken-List\n",
        "  radgate apikey create --name ironwifi --role Radius-Authorize\n",
        "  radgate apikey create --name hotel-3 --role '*' --business 3 --business 4\n",
        "  radgate apikey create --name admin --role '*' --format json"
    ))]
    Create(CreateArgs),
    /// List keys (display form, name, roles, businesses, created and
    /// last-used times).
    #[command(
        after_help = "Examples:\n  radgate apikey list\n  radgate apikey list --all --format json"
    )]
    List {
        /// Revoked keys too.
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Revoke a key by name (or Id): it stops working at once.
    #[command(after_help = "Examples:\n  radgate apikey revoke booking-system")]
    Revoke {
        /// The key's name or Id.
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A name for the key (who or what uses it).
    #[arg(long)]
    pub name: String,
    /// A role the key carries (repeat for several).
    #[arg(long = "role", value_name = "ROLE", required = true)]
    pub roles: Vec<String>,
    /// Limit the key to this BusinessId's codes (repeat for several; none:
    /// every business).
    #[arg(
        long = "business",
        value_name = "BUSINESS_ID",
        allow_negative_numbers = true
    )]
    pub businesses: Vec<i64>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyJson<'a> {
    id: i64,
    name: &'a str,
    display: &'a str,
    roles: &'a [String],
    /// Empty: every business.
    business_ids: &'a [i64],
    created_on: String,
    created_by: Option<&'a str>,
    last_used: Option<String>,
    revoked_on: Option<String>,
    /// Only when created: the key itself, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
}

fn json<'a>(k: &'a ApiKey, key: Option<&'a str>) -> KeyJson<'a> {
    let t = |v: Option<i64>| v.map(|s| format_utc(ts(s)));
    KeyJson {
        id: k.id,
        name: &k.name,
        display: &k.display,
        roles: &k.roles,
        business_ids: &k.businesses,
        created_on: format_utc(ts(k.created_on)),
        created_by: k.created_by.as_deref(),
        last_used: t(k.last_used),
        revoked_on: t(k.revoked_on),
        key,
    }
}

pub async fn run(cmd: ApiKeyCommand, config: &Config) -> Result<(), CliError> {
    let access = match cmd {
        ApiKeyCommand::List { .. } => super::Access::Read,
        ApiKeyCommand::Create { .. } => super::Access::Create,
        _ => super::Access::Change,
    };
    let store = super::open_store(config, access).await?;
    let res = run_on(&store, cmd, config).await;
    store.close().await;
    res
}

async fn run_on(store: &Store, cmd: ApiKeyCommand, config: &Config) -> Result<(), CliError> {
    let tz = config.server.timezone;
    let now = super::token::now();
    match cmd {
        ApiKeyCommand::Create(a) => {
            let name = check_name(&a.name).map_err(|e| CliError::input(format!("--name: {e}")))?;
            let roles = parse_roles(a.roles.iter().map(String::as_str))
                .map_err(|e| CliError::input(format!("--role: {e}")))?;
            let businesses = check_businesses(a.businesses.iter().copied())
                .map_err(|e| CliError::input(format!("--business: {e}")))?;
            let (key, k) = store
                .create_scoped_api_key(
                    name,
                    &roles,
                    &businesses,
                    &super::token::whoami(),
                    now,
                    &super::token::cli_actor(),
                )
                .await?;
            match a.format {
                Format::Json => print_json(&json(&k, Some(&key))),
                _ => {
                    println!("{key}");
                    let reach = if k.businesses.is_empty() {
                        "every business".to_string()
                    } else {
                        format!("BusinessId(s) {}", scope_text(&k.businesses))
                    };
                    eprintln!(
                        "API key {:?} ({}) with role(s) {} for {reach}: copy it now, it is not shown again",
                        k.name,
                        k.display,
                        k.roles.join(", ")
                    );
                    Ok(())
                }
            }
        }
        ApiKeyCommand::List { all, format } => {
            let keys = store.api_keys(all).await?;
            match format {
                Format::Json => print_json(&keys.iter().map(|k| json(k, None)).collect::<Vec<_>>()),
                Format::Csv => {
                    let mut w = csv::Writer::from_writer(std::io::stdout().lock());
                    let row = |w: &mut csv::Writer<_>, k: &ApiKey| {
                        let t = |v: Option<i64>| v.map(|s| format_utc(ts(s))).unwrap_or_default();
                        w.write_record([
                            k.id.to_string(),
                            k.name.clone(),
                            k.display.clone(),
                            k.roles.join(" "),
                            k.businesses
                                .iter()
                                .map(i64::to_string)
                                .collect::<Vec<_>>()
                                .join(" "),
                            format_utc(ts(k.created_on)),
                            k.created_by.clone().unwrap_or_default(),
                            t(k.last_used),
                            t(k.revoked_on),
                        ])
                    };
                    let head = [
                        "Id",
                        "Name",
                        "Display",
                        "Roles",
                        "BusinessIds",
                        "CreatedOn",
                        "CreatedBy",
                        "LastUsed",
                        "RevokedOn",
                    ];
                    let res = w
                        .write_record(head)
                        .and_then(|_| keys.iter().try_for_each(|k| row(&mut w, k)))
                        .and_then(|_| w.flush().map_err(csv::Error::from));
                    res.map_err(|e| CliError::failure(format!("writing CSV: {e}")))
                }
                Format::Table => {
                    let t = |v: Option<i64>| {
                        v.map(|s| format_local(ts(s), tz))
                            .unwrap_or_else(|| "-".into())
                    };
                    let body: Vec<Vec<Cell>> = keys
                        .iter()
                        .map(|k| {
                            vec![
                                Cell::num(k.id),
                                Cell::text(&k.name),
                                Cell::text(&k.display),
                                Cell::text(&k.roles.join(" ")),
                                Cell::text(&scope_text(&k.businesses)),
                                Cell::text(&format_local(ts(k.created_on), tz)),
                                Cell::text(&t(k.last_used)),
                                Cell::text(&t(k.revoked_on)),
                            ]
                        })
                        .collect();
                    print_table(
                        &[
                            "Id",
                            "Name",
                            "Key",
                            "Roles",
                            "Businesses",
                            "CreatedOn",
                            "LastUsed",
                            "RevokedOn",
                        ],
                        &body,
                    );
                    Ok(())
                }
            }
        }
        ApiKeyCommand::Revoke { name } => {
            let (k, with_it) = store
                .revoke_api_key(&name, now, &super::token::cli_actor())
                .await?;
            println!("revoked API key {:?} ({})", k.name, k.display);
            for c in with_it {
                println!(
                    "revoked API key {:?} ({}), which it created",
                    c.name, c.display
                );
            }
            Ok(())
        }
    }
}
