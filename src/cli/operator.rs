//! `radgate operator …`: accounts for the admin web UI (SPEC §10).
//! Passwords come on standard input and are stored as Argon2id hashes;
//! there is no default account.

use std::io::Read;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::{print_json, print_table, Cell};
use super::{CliError, Format};
use crate::config::Config;
use crate::store::operators::{check_name, hash_password, NewOperator, Operator, Role};
use crate::store::Store;
use crate::token::parse::{format_local, format_utc};
use crate::token::ts;

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Add an operator who signs in to the web UI.
    #[command(after_help = concat!(
        "Roles: desk (search, issue, print, extend, revoke, guests online), manager (also\n",
        "presets, batches, import/export, API keys, audit log), admin (also operators).\n",
        "--business limits what the operator sees to those businesses (repeat it); without\n",
        "it, all.\n\n",
        "Examples:\n",
        "  printf '%s\\n' 'a long passphrase' | radgate operator add anna --role desk --business 3 --password-stdin\n",
        "  radgate operator add boss --role admin --password-stdin < boss-password.txt"
    ))]
    Add(AddArgs),
    /// List operators (name, role, businesses, created).
    #[command(
        after_help = "Examples:\n  radgate operator list\n  radgate operator list --format json"
    )]
    List {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Remove an operator; their sign-ins end at once.
    #[command(after_help = "Examples:\n  radgate operator remove anna")]
    Remove {
        /// The operator's name.
        name: String,
    },
    /// Set an operator's password (from standard input); their sign-ins end.
    #[command(
        after_help = "Examples:\n  printf '%s\\n' 'a new passphrase' | radgate operator passwd anna --password-stdin"
    )]
    Passwd {
        /// The operator's name.
        name: String,
        /// Read the password from standard input (its first line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The name the operator signs in with.
    pub name: String,
    /// desk, manager or admin.
    #[arg(long)]
    pub role: String,
    /// A BusinessId the operator may see (repeat for several; none: all).
    #[arg(long = "business", value_name = "N")]
    pub businesses: Vec<i64>,
    /// Read the password from standard input (its first line).
    #[arg(long, required = true)]
    pub password_stdin: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct OperatorJson<'a> {
    id: i64,
    name: &'a str,
    role: &'static str,
    business_ids: &'a [i64],
    created_on: String,
    created_by: Option<&'a str>,
    disabled_on: Option<String>,
}

fn json(o: &Operator) -> OperatorJson<'_> {
    OperatorJson {
        id: o.id,
        name: &o.name,
        role: o.role.as_str(),
        business_ids: &o.businesses,
        created_on: format_utc(ts(o.created_on)),
        created_by: o.created_by.as_deref(),
        disabled_on: o.disabled_on.map(|t| format_utc(ts(t))),
    }
}

/// The password on standard input: its first line, without the line end.
fn password_from_stdin() -> Result<String, CliError> {
    let mut s = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut s)
        .map_err(|e| {
            CliError::input(format!("--password-stdin: cannot read standard input: {e}"))
        })?;
    let line = s.lines().next().unwrap_or("").to_string();
    hash_password(&line).map_err(|e| CliError::input(format!("--password-stdin: the password {e}")))
}

pub async fn run(cmd: OperatorCommand, config: &Config) -> Result<(), CliError> {
    let access = match cmd {
        OperatorCommand::List { .. } => super::Access::Read,
        OperatorCommand::Add(_) => super::Access::Create,
        _ => super::Access::Change,
    };
    // Check the input (and hash the password) before touching the store.
    let hashed = match &cmd {
        OperatorCommand::Add(a) => {
            check_name(&a.name).map_err(|e| CliError::input(format!("NAME: {e}")))?;
            Role::parse(&a.role).map_err(|e| CliError::input(format!("--role: {e}")))?;
            if let Some(b) = a.businesses.iter().find(|b| **b < 0) {
                return Err(CliError::input(format!(
                    "--business: {b} is not a BusinessId (0 or more)"
                )));
            }
            Some(password_from_stdin()?)
        }
        OperatorCommand::Passwd { .. } => Some(password_from_stdin()?),
        _ => None,
    };
    let store = super::open_store(config, access).await?;
    let res = run_on(&store, cmd, hashed, config).await;
    store.close().await;
    res
}

async fn run_on(
    store: &Store,
    cmd: OperatorCommand,
    hashed: Option<String>,
    config: &Config,
) -> Result<(), CliError> {
    let now = super::token::now();
    match cmd {
        OperatorCommand::Add(a) => {
            let mut businesses = a.businesses.clone();
            businesses.sort_unstable();
            businesses.dedup();
            let new = NewOperator {
                name: check_name(&a.name)
                    .map_err(|e| CliError::input(format!("NAME: {e}")))?
                    .to_string(),
                role: Role::parse(&a.role).map_err(|e| CliError::input(format!("--role: {e}")))?,
                businesses,
                password_hash: hashed.unwrap_or_default(),
            };
            let o = store
                .create_operator(
                    &new,
                    &super::token::whoami(),
                    now,
                    &super::token::cli_actor(),
                )
                .await?;
            match a.format {
                Format::Json => print_json(&json(&o)),
                _ => {
                    println!(
                        "operator {:?} added: role {}, {}",
                        o.name,
                        o.role.as_str(),
                        sees(&o)
                    );
                    Ok(())
                }
            }
        }
        OperatorCommand::List { format } => {
            let all = store.operators().await?;
            match format {
                Format::Json => print_json(&all.iter().map(json).collect::<Vec<_>>()),
                Format::Csv => {
                    let mut w = csv::Writer::from_writer(std::io::stdout().lock());
                    let res = w
                        .write_record([
                            "Id",
                            "Name",
                            "Role",
                            "BusinessIds",
                            "CreatedOn",
                            "CreatedBy",
                            "DisabledOn",
                        ])
                        .and_then(|_| {
                            all.iter().try_for_each(|o| {
                                w.write_record([
                                    o.id.to_string(),
                                    o.name.clone(),
                                    o.role.as_str().to_string(),
                                    o.businesses
                                        .iter()
                                        .map(i64::to_string)
                                        .collect::<Vec<_>>()
                                        .join(" "),
                                    format_utc(ts(o.created_on)),
                                    o.created_by.clone().unwrap_or_default(),
                                    o.disabled_on.map(|t| format_utc(ts(t))).unwrap_or_default(),
                                ])
                            })
                        })
                        .and_then(|_| w.flush().map_err(csv::Error::from));
                    res.map_err(|e| CliError::failure(format!("writing CSV: {e}")))
                }
                Format::Table => {
                    let tz = config.server.timezone;
                    let body: Vec<Vec<Cell>> = all
                        .iter()
                        .map(|o| {
                            vec![
                                Cell::text(&o.name),
                                Cell::text(o.role.as_str()),
                                Cell::text(&if o.businesses.is_empty() {
                                    "all".to_string()
                                } else {
                                    o.businesses
                                        .iter()
                                        .map(i64::to_string)
                                        .collect::<Vec<_>>()
                                        .join(" ")
                                }),
                                Cell::text(&format_local(ts(o.created_on), tz)),
                                Cell::text(o.created_by.as_deref().unwrap_or("-")),
                            ]
                        })
                        .collect();
                    print_table(
                        &["Name", "Role", "Businesses", "CreatedOn", "CreatedBy"],
                        &body,
                    );
                    Ok(())
                }
            }
        }
        OperatorCommand::Remove { name } => {
            if store
                .remove_operator(name.trim(), &super::token::cli_actor())
                .await?
            {
                println!("operator {:?} removed; their sign-ins ended", name.trim());
                Ok(())
            } else {
                Err(crate::store::StoreError::NoSuchOperator(name.trim().into()).into())
            }
        }
        OperatorCommand::Passwd { name, .. } => {
            if store
                .set_operator_password(
                    name.trim(),
                    &hashed.unwrap_or_default(),
                    &super::token::cli_actor(),
                )
                .await?
            {
                println!(
                    "password of {:?} changed; their sign-ins ended",
                    name.trim()
                );
                Ok(())
            } else {
                Err(crate::store::StoreError::NoSuchOperator(name.trim().into()).into())
            }
        }
    }
}

fn sees(o: &Operator) -> String {
    if o.businesses.is_empty() {
        "sees every business".into()
    } else {
        format!(
            "sees business{} {}",
            if o.businesses.len() > 1 { "es" } else { "" },
            o.businesses
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}
