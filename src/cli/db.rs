//! `radgate db …`: the database as a whole.

use clap::Subcommand;

use super::{Access, CliError};
use crate::config::{check_database_url, redact_url, Config, DatabaseConfig};
use crate::store::{OpenMode, Store};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy everything (codes with their usage and batches, sessions, API
    /// keys, operators, presets, the audit log) from the configured database
    /// into an empty one: SQLite to PostgreSQL or back.
    #[command(
        after_help = "The source is read in one snapshot (it may keep serving); the target is written in one\n\
                      transaction and must be empty. Ids are kept, and so is each table's highest id, so that\n\
                      an Id a booking system holds never names another code. Operators keep their passwords;\n\
                      their web UI sign-ins are not copied: they sign in again on the new database.\n\n\
                      Examples:\n  radgate db copy --to 'postgres://radgate:PASSWORD@db1,db2/radgate?target_session_attrs=read-write'\n  radgate --config node.toml db copy --to sqlite:///var/lib/radgate/radgate.db"
    )]
    Copy {
        /// The target database (sqlite://PATH or postgres://…): a SQLite file
        /// is created when missing (a relative PATH is relative to the
        /// current directory); a PostgreSQL database must exist (its tables
        /// are created); refused when it holds anything.
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

pub async fn run(cmd: DbCommand, config: &Config) -> Result<(), CliError> {
    let DbCommand::Copy { to } = cmd;
    let to = to.trim().to_string();
    check_database_url(&to).map_err(|e| CliError::input(format!("--to: {e}")))?;
    // A relative SQLite path on the command line is relative to where the
    // command runs (said in --help, and the path is printed whole).
    let to = match std::env::current_dir() {
        Ok(dir) => crate::config::resolve_sqlite_url(&to, &dir),
        Err(_) => to,
    };
    if to == config.database.url {
        return Err(CliError::input(
            "--to: that is the configured database itself; give another",
        ));
    }
    let source = super::open_store(config, Access::Read).await?;
    let target_cfg = DatabaseConfig {
        url: to.clone(),
        ..config.database.clone()
    };
    let target = match Store::open(&target_cfg, OpenMode::Create).await {
        Ok(t) => t,
        Err(e) => {
            source.close().await;
            return Err(CliError::failure(format!("--to: {e}")));
        }
    };
    let r = source.copy_to(&target).await;
    source.close().await;
    target.close().await;
    let n = r.map_err(|e| CliError::failure(format!("nothing copied: {e}")))?;
    println!("copied {} to {}", n.describe(), redact_url(&to));
    if n.operators > 0 {
        println!("web UI sign-ins are not copied: operators sign in again on the new database");
    }
    Ok(())
}
