//! The `radgate` command line: one file per command group.

mod apikey;
mod audit;
mod backup;
mod db;
mod filter;
mod import;
mod man;
mod operator;
mod output;
mod portal;
mod print;
mod progress;
mod serve;
mod session;
mod style;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::config::{Config, LogFormat};
use crate::store::{OpenMode, Store};

/// Exit codes (documented in the README).
pub const EXIT_OK: u8 = 0;
/// Operational failure: database error, code not found, port in use.
pub const EXIT_FAILURE: u8 = 1;
/// Invalid input: bad option values, a field that fails validation.
pub const EXIT_INPUT: u8 = 2;
/// Invalid or unreadable configuration file.
pub const EXIT_CONFIG: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "radgate",
    version,
    about = "RADIUS server for WiFi access codes",
    after_help = concat!(
        "Examples:\n",
        "  radgate serve\n",
        "  radgate token create --code WELCOME1 --minutes 60\n",
        "  radgate token generate --count 100 --minutes 120 --format csv > batch.csv\n",
        "  radgate token list --active --format json\n",
        "  radgate check-config --config /etc/radgate/radgate.toml\n",
        "  radgate completions bash > /etc/bash_completion.d/radgate\n\n",
        "Exit codes: 0 success; 1 operational failure (database, code not found, port in use);\n",
        "2 invalid input (the message names the field); 3 invalid or missing configuration file."
    )
)]
pub struct Cli {
    /// Configuration file (default: $RADGATE_CONFIG, ./radgate.toml, /etc/radgate/radgate.toml, else built-in defaults).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the RADIUS server.
    #[command(
        after_help = "Examples:\n  radgate serve\n  radgate --config /etc/radgate/radgate.toml serve\n  RADGATE_LOG=debug radgate serve"
    )]
    Serve,
    /// Manage access tokens (codes).
    #[command(
        subcommand,
        after_help = "Examples:\n  radgate token create --code WELCOME1 --minutes 60\n  radgate token generate --count 50 --minutes 120\n  radgate token list --unused --format csv\n  radgate token update WELCOME1 --add-minutes 30\n  radgate token print --unused --network Guest --output vouchers.html"
    )]
    Token(Box<token::TokenCommand>),
    /// List accounting sessions and pending places.
    #[command(
        subcommand,
        after_help = "Examples:\n  radgate session list --active\n  radgate session list --code WELCOME1\n  radgate session list --limit 1000 --format csv > sessions.csv"
    )]
    Session(session::SessionCommand),
    /// Manage keys for the admin HTTP API ([api] in the config).
    #[command(
        subcommand,
        after_help = "Examples:\n  radgate apikey create --name booking-system --role AccessToken-Create --role AccessToken-List\n  radgate apikey list\n  radgate apikey revoke booking-system"
    )]
    Apikey(apikey::ApiKeyCommand),
    /// Manage operators of the admin web UI (served on [api] listen).
    #[command(
        subcommand,
        after_help = "Examples:\n  printf '%s\\n' 'a long passphrase' | radgate operator add anna --role desk --password-stdin\n  radgate operator list\n  radgate operator remove anna"
    )]
    Operator(operator::OperatorCommand),
    /// The audit log: every change made through the CLI, the API or the web UI.
    #[command(
        subcommand,
        after_help = "Examples:\n  radgate audit list --since 2025-07-01\n  radgate audit list --target WELCOME1 --format json"
    )]
    Audit(audit::AuditCommand),
    /// The database as a whole: copy it to another (SQLite or PostgreSQL).
    #[command(
        subcommand,
        after_help = "Examples:\n  radgate db copy --to 'postgres://radgate:PASSWORD@db/radgate'"
    )]
    Db(db::DbCommand),
    /// Write a consistent copy of the SQLite database to FILE, also while the server runs.
    #[command(
        after_help = "The copy is one snapshot of everything (codes, sessions, API keys, operators, presets,\n\
                      batches, the audit log), taken with SQLite's online backup API: the server goes on\n\
                      answering meanwhile. It is written to a temporary file next to FILE, synced, checked\n\
                      (PRAGMA integrity_check) and only then renamed to FILE. It holds every code in clear:\n\
                      it gets the database's permissions (0640). PostgreSQL: use pg_dump.\n\n\
                      Restore: stop radgate, replace the database file with the backup, remove the\n\
                      database's -wal and -shm files, start radgate (README, \"Backups and restore\").\n\n\
                      Examples:\n  radgate backup /var/backups/radgate/radgate-$(date +%F).db\n  sudo -u radgate radgate --config /etc/radgate/radgate.toml backup --force /var/backups/radgate/latest.db"
    )]
    Backup {
        /// The file to write (its directory must exist); refused when it exists, unless --force.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Replace FILE when it exists.
        #[arg(long)]
        force: bool,
    },
    /// The guest's login pages for hotspots (Mikrotik).
    #[command(
        subcommand,
        after_help = "Examples:\n  radgate portal mikrotik --out hotspot --business 7"
    )]
    Portal(portal::PortalCommand),
    /// Validate the configuration and print a summary.
    #[command(
        after_help = "Examples:\n  radgate check-config\n  radgate check-config --config /etc/radgate/radgate.toml"
    )]
    CheckConfig,
    /// Print a shell completion script to stdout.
    #[command(
        after_help = "Examples:\n  radgate completions bash > /etc/bash_completion.d/radgate\n  radgate completions zsh > \"${fpath[1]}/_radgate\"\n  radgate completions fish > ~/.config/fish/completions/radgate.fish"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout, or write one per command.
    #[command(
        after_help = "Examples:\n  radgate man | man -l -\n  radgate man > /usr/local/share/man/man1/radgate.1\n  radgate man --dir /usr/local/share/man/man1"
    )]
    Man {
        /// Write radgate.1, radgate-token.1, radgate-token-list.1, … into DIR.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, Default, ValueEnum, PartialEq, Eq)]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
}

/// An error with the exit code it maps to. The message is printed as is.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn input(message: impl Into<String>) -> Self {
        CliError {
            code: EXIT_INPUT,
            message: message.into(),
        }
    }
    pub fn failure(message: impl Into<String>) -> Self {
        CliError {
            code: EXIT_FAILURE,
            message: message.into(),
        }
    }
}

impl From<crate::store::StoreError> for CliError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError as E;
        match e {
            E::DuplicateCode { .. } | E::Ambiguous(..) | E::Conflict(_) => {
                CliError::input(e.to_string())
            }
            _ => CliError::failure(e.to_string()),
        }
    }
}

/// What a command does with the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Only reads: the database must exist; nothing is created.
    Read,
    /// Changes what exists (update, delete, revoke): the database must
    /// exist and be writable.
    Change,
    /// Adds codes or keys: a missing database is created (and the CLI says
    /// so).
    Create,
}

/// Open the configured database for a CLI command. With no configuration
/// file found, says which database the built-in defaults point at, so that
/// a command run in another directory cannot quietly work on another
/// database than the server's.
pub(crate) async fn open_store(config: &Config, access: Access) -> Result<Store, CliError> {
    let file = crate::store::database_file(&config.database.url);
    let shown = file
        .as_deref()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
        .map_or_else(|| config.database.url.clone(), |p| p.display().to_string());
    if config.is_builtin() {
        eprintln!(
            "{} no configuration file found (--config, $RADGATE_CONFIG, ./radgate.toml, \
             /etc/radgate/radgate.toml): built-in defaults, database {shown}",
            style::note_prefix()
        );
    }
    let existed = file.as_deref().is_none_or(std::path::Path::exists);
    let mode = match access {
        Access::Read | Access::Change => OpenMode::Existing,
        Access::Create => OpenMode::Create,
    };
    let store = Store::open(&config.database, mode).await?;
    if access != Access::Read {
        if let Err(e) = store.ensure_writable() {
            store.close().await;
            return Err(e.into());
        }
        if !existed {
            eprintln!("{} created a new database {shown}", style::note_prefix());
        }
    }
    Ok(store)
}

fn load_config(cli: &Cli) -> Result<Config, CliError> {
    Config::load(cli.config.as_deref()).map_err(|e| CliError {
        code: EXIT_CONFIG,
        message: e.to_string(),
    })
}

/// Run the command line; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve) {
        restore_sigpipe();
    }
    // Generated from the clap definitions; need no configuration.
    match &cli.command {
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(*shell, &mut cmd, "radgate", &mut std::io::stdout());
            return ExitCode::from(EXIT_OK);
        }
        Command::Man { dir } => {
            return match man(dir.as_deref()) {
                Ok(()) => ExitCode::from(EXIT_OK),
                Err(e) => {
                    eprintln!("{} {e}", style::error_prefix());
                    ExitCode::from(EXIT_FAILURE)
                }
            };
        }
        _ => {}
    }
    let serve = matches!(cli.command, Command::Serve);
    // The configuration before the log: `serve` writes its log in the
    // file's `[server] log_format`. A file that does not load is reported
    // as a plain line, whatever format it asks for.
    let config = match load_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{} {}", style::error_prefix(), e.message);
            return ExitCode::from(e.code);
        }
    };
    // The command-line tools write their few warnings for people.
    let format = if serve {
        config.server.log_format
    } else {
        LogFormat::Text
    };
    crate::logging::init(serve, format);
    let rt = if serve {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{} cannot start the runtime: {e}", style::error_prefix());
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match rt.block_on(run(cli, config)) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            // With a JSON log, the reason `serve` stops is a line of it too
            // (unless RADGATE_LOG hides errors).
            if format == LogFormat::Json && tracing::enabled!(tracing::Level::ERROR) {
                tracing::error!("{}", e.message);
            } else {
                eprintln!("{} {}", style::error_prefix(), e.message);
            }
            ExitCode::from(e.code)
        }
    }
}

/// `radgate token export | head` should end quietly when `head` exits, as
/// other command-line tools do, instead of failing on the closed pipe: let
/// SIGPIPE end the process (Rust ignores it by default). Not for `serve`.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called at start-up before any other thread exists; setting a
    // signal's disposition to its default is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn man(dir: Option<&std::path::Path>) -> std::io::Result<()> {
    man::write(Cli::command(), dir, &mut std::io::stdout())?;
    if let Some(dir) = dir {
        eprintln!("wrote man pages to {}", dir.display());
    }
    Ok(())
}

async fn run(cli: Cli, config: Config) -> Result<(), CliError> {
    match cli.command {
        Command::Serve => serve::run(config).await,
        Command::CheckConfig => {
            println!("{}", config.describe());
            if let Some(w) = serve::config_readable_warning(&config) {
                eprintln!("warning: {w}");
            }
            for w in config.warnings() {
                eprintln!("warning: {w}");
            }
            if let Some(file) = crate::store::database_file(&config.database.url) {
                let file = std::path::absolute(&file).unwrap_or(file);
                println!("database file:    {}", file.display());
            }
            Ok(())
        }
        Command::Token(cmd) => token::run(*cmd, &config).await,
        Command::Session(cmd) => session::run(cmd, &config).await,
        Command::Apikey(cmd) => apikey::run(cmd, &config).await,
        Command::Operator(cmd) => operator::run(cmd, &config).await,
        Command::Audit(cmd) => audit::run(cmd, &config).await,
        Command::Db(cmd) => db::run(cmd, &config).await,
        Command::Backup { file, force } => backup::run(file, force, &config).await,
        Command::Portal(cmd) => portal::run(cmd, &config),
        Command::Completions { .. } | Command::Man { .. } => Ok(()),
    }
}
