//! `radgate token …`: create, generate, show, list, update, delete, import,
//! export, print.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::filter::{field_errors, FilterArgs, OrderArgs};
use super::output::{print_json, print_kv, print_table, Cell};
use super::progress::Progress;
use super::{CliError, Format};
use crate::config::{Config, Zones};
use crate::radius::disconnect;
use crate::store::{GenerateError, TokenUpdate};
use crate::store::{LiveSession, SessionRow, Store};
use crate::token::parse::{
    code_key, format_local, format_minutes_span, format_utc, generate_code, CODE_ALPHABET,
};
use crate::token::{ts, AccessToken, FieldError, TokenInput, TokenJson};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create one access token.
    #[command(after_help = concat!(
        "Examples:\n",
        "  radgate token create --code WELCOME1 --minutes 60\n",
        "  radgate token create --code LOBBY-7 --minutes 1440 --valid-to 2027-12-31T23:59 --user-limit 2\n",
        "  radgate token create --code ROOM12 --minutes 600 --mac aa-bb-cc-dd-ee-ff --format json\n",
        "  radgate token create --code DAYPASS --minutes 1440 --valid-for 24h --single-use\n\n",
        "Dates: 2025-07-21T12:45 (the Nexudus format) and other zone-less forms are local time in the zone of the code's\n",
        "business ([[business]] timezone, else server.timezone); with Z or an offset they are absolute.\n",
        "--valid-for: the code works for that long from its first successful login (and never after\n",
        "--valid-to). --single-use: the code is spent when its first session ends (a Stop from the\n",
        "NAS, or a session that goes silent); a router reboot (Accounting-On) does not spend it."
    ))]
    Create(CreateArgs),
    /// Create many tokens with random codes (all or none).
    #[command(after_help = concat!(
        "Codes use the alphabet ABCDEFGHJKMNPQRSTUVWXYZ23456789 (no 0/O, 1/I/L look-alikes) and are\n",
        "unique, also against existing codes. All codes are created in one transaction: on any\n",
        "error none is. A progress bar is shown on a terminal for large batches.\n\n",
        "Examples:\n",
        "  radgate token generate --count 50 --minutes 120\n",
        "  radgate token generate --count 1000 --minutes 1440 --length 6 --prefix CAFE- --valid-to 2027-12-31T23:59\n",
        "  radgate token generate --count 200 --minutes 60 --user-limit 1 --format csv > batch.csv\n",
        "  radgate token generate --count 100 --minutes 1440 --valid-for 24h --single-use --user-limit 1"
    ))]
    Generate(GenerateArgs),
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
    /// List tokens: Nexudus filters, ranges, order and pages.
    #[command(after_help = concat!(
        "Every filter given must hold. Exact date filters match the whole minute (2025-07-21T12:45)\n",
        "or day (2025-07-21) given; --from-X / --to-X include their bounds. Zone-less dates are local\n",
        "time in the zone of --business-id N ([[business]] timezone), else in server.timezone.\n",
        "--format json prints the Nexudus list envelope (Records, CurrentPage, TotalItems, …).\n\n",
        "Examples:\n",
        "  radgate token list\n",
        "  radgate token list --active --format json\n",
        "  radgate token list --business-id 3 --page 2 --size 50 --format csv\n",
        "  radgate token list --from-minutes-left 1 --to-minutes-left 10 --order-by MinutesLeft\n",
        "  radgate token list --from-created-on 2025-07-01 --to-created-on 2025-07-31 --order-by CreatedOn --dir -1\n",
        "  radgate token list --unused --to-valid-to 2025-07-21"
    ))]
    List(ListArgs),
    /// Change a token (by code or Id): any field, minutes, usage.
    #[command(after_help = concat!(
        "An empty value clears an optional field (--valid-to '', --mac ''); --user-limit unlimited\n",
        "removes the device limit. The same rules as for create apply to the resulting token\n",
        "(e.g. ValidTo must be after ValidFrom, also the stored one). Takes effect at the next\n",
        "login, also while `radgate serve` runs.\n\n",
        "Examples:\n",
        "  radgate token update WELCOME1 --add-minutes 30\n",
        "  radgate token update WELCOME1 --reset-usage --valid-to 2027-12-31T23:59\n",
        "  radgate token update 42 --user-limit unlimited --mac '' --description 'room 12'\n",
        "  radgate token update DAYPASS --valid-for 48h --single-use false"
    ))]
    Update(UpdateArgs),
    /// Delete tokens: by code or Id, or all that match filters.
    #[command(after_help = concat!(
        "With codes, all of them are deleted or (if one does not exist) none. With filters (or\n",
        "--all), the matching tokens are counted and deleted after a confirmation on stdin;\n",
        "--yes skips it. Their sessions go with them.\n\n",
        "Examples:\n",
        "  radgate token delete WELCOME1\n",
        "  radgate token delete ABC123 XYZ789 42\n",
        "  radgate token delete --expired\n",
        "  radgate token delete --exhausted --to-last-access 2025-06-30 --yes"
    ))]
    Delete(DeleteArgs),
    /// Create tokens from a CSV file (the columns of `token export`).
    #[command(after_help = concat!(
        "The header row names the columns (Nexudus names, any case): AccessCode and\n",
        "MinutesIncluded are required; BusinessId, Description, ValidFrom, ValidTo, UserLimit,\n",
        "MacAddress, BookingGuid, VisitorGuid, UniqueId, MinutesLeft (restores usage), LastAccess,\n",
        "CreatedOn, ValidForMinutes, SingleUse, FirstUsedOn and SpentOn are used when present; Id,\n",
        "UpdatedOn and UpdatedBy are ignored. Every bad\n",
        "row is reported with its line number, and then nothing is imported.\n\n",
        "Examples:\n",
        "  radgate token import vouchers.csv\n",
        "  radgate token export --business-id 3 | radgate --config other.toml token import -\n",
        "  radgate token import vouchers.csv --dry-run"
    ))]
    Import(ImportArgs),
    /// Write tokens as CSV (all that match the filters).
    #[command(after_help = concat!(
        "Examples:\n",
        "  radgate token export > all.csv\n",
        "  radgate token export --active --output active.csv\n",
        "  radgate token export --from-created-on 2025-07-01 --order-by AccessCode"
    ))]
    Export(ExportArgs),
    /// Write a printable HTML sheet of voucher cards.
    #[command(after_help = concat!(
        "Each card shows the code, the minutes, the validity, the network name and, with\n",
        "--login-url, a QR code for the hotspot login ({code} is replaced by the code). Open the\n",
        "file in a browser and print it (A4, 24 cards a page), or save it as PDF from there.\n\n",
        "Examples:\n",
        "  radgate token print --unused --network Guest-WiFi --output vouchers.html\n",
        "  radgate token print --created-on 2025-07-21 --network Cafe \\\n",
        "      --login-url 'http://hotspot.lan/login?username={code}&password={code}' --output today.html"
    ))]
    Print(super::print::PrintArgs),
}

/// The token options that create, generate and import share.
#[derive(Debug, Args)]
pub struct TokenOptions {
    /// Start of validity: 2025-07-21T12:45 (local time in the business's [[business]] timezone, else
    /// server.timezone) or RFC 3339 with Z/offset.
    #[arg(long, value_name = "T")]
    pub valid_from: Option<String>,
    /// End of validity, same formats as --valid-from (a bare date is 00:00 at the start of that day).
    #[arg(long, value_name = "T")]
    pub valid_to: Option<String>,
    /// Devices that may use the code at the same time (default: unlimited).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub user_limit: Option<i64>,
    /// Bind the code to one device MAC (any common notation).
    #[arg(long)]
    pub mac: Option<String>,
    /// Free text (Description).
    #[arg(long)]
    pub description: Option<String>,
    /// The guest the code is for (GuestName): searchable, printed on the
    /// voucher.
    #[arg(long, value_name = "NAME")]
    pub guest_name: Option<String>,
    /// Tenant / location owning the code (default 0).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub business_id: Option<i64>,
    #[arg(long, value_name = "UUID")]
    pub booking_guid: Option<String>,
    #[arg(long, value_name = "UUID")]
    pub visitor_guid: Option<String>,
    /// Valid for this long from the first successful login (24h, 90m, 7d,
    /// 1h30m; a bare number is minutes), and never after --valid-to.
    #[arg(long, value_name = "SPAN", allow_hyphen_values = true)]
    pub valid_for: Option<String>,
    /// The code is spent when its first session ends (needs RADIUS
    /// accounting from the NAS).
    #[arg(long)]
    pub single_use: bool,
    /// Bandwidth for this code, as Mikrotik-Rate-Limit: upload/download,
    /// e.g. 2M/5M (overrides [reply] and [[business]] rate_limit).
    #[arg(long, value_name = "UP/DOWN")]
    pub rate_limit: Option<String>,
    /// Data allowance in MB (MegabytesIncluded; 1 MB = 1,000,000 bytes,
    /// input + output; default: unlimited). Sent to the NAS as
    /// Mikrotik-Total-Limit / ChilliSpot-Max-Total-Octets.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub megabytes: Option<i64>,
}

impl TokenOptions {
    fn input(&self, code: String, minutes: i64) -> TokenInput {
        TokenInput {
            business_id: self.business_id,
            access_code: Some(code),
            description: self.description.clone(),
            minutes_included: Some(minutes),
            valid_from: self.valid_from.clone(),
            valid_to: self.valid_to.clone(),
            user_limit: self.user_limit,
            mac_address: self.mac.clone(),
            booking_guid: self.booking_guid.clone(),
            visitor_guid: self.visitor_guid.clone(),
            valid_for: self.valid_for.clone(),
            single_use: Some(self.single_use),
            rate_limit: self.rate_limit.clone(),
            guest_name: self.guest_name.clone(),
            megabytes_included: self.megabytes,
        }
    }
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The code guests type (AccessCode).
    #[arg(long)]
    pub code: String,
    /// Minutes of access (MinutesIncluded).
    #[arg(long, allow_negative_numbers = true)]
    pub minutes: i64,
    #[command(flatten)]
    pub opts: TokenOptions,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many codes (1 to 100000).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub count: i64,
    /// Minutes of access of each code (MinutesIncluded).
    #[arg(long, value_name = "M", allow_negative_numbers = true)]
    pub minutes: i64,
    /// Random characters per code (4 to 64), after the prefix.
    #[arg(
        long,
        value_name = "L",
        default_value_t = 8,
        allow_negative_numbers = true
    )]
    pub length: i64,
    /// Text put before every code (e.g. CAFE-).
    #[arg(long, value_name = "P", default_value = "")]
    pub prefix: String,
    /// Name of the batch the codes make (the web UI lists batches); default:
    /// the date and time.
    #[arg(long, value_name = "NAME")]
    pub batch: Option<String>,
    #[command(flatten)]
    pub opts: TokenOptions,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Seed the random generator (for tests: repeatable codes).
    #[arg(long, hide = true)]
    pub seed: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub order: OrderArgs,
    /// Page number, from 1.
    #[arg(
        long,
        default_value_t = 1,
        allow_negative_numbers = true,
        help_heading = "Order and page"
    )]
    pub page: i64,
    /// Tokens per page (1 to 10000).
    #[arg(
        long,
        default_value_t = 25,
        allow_negative_numbers = true,
        help_heading = "Order and page"
    )]
    pub size: i64,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The access code (case-insensitive) or the token's Id.
    pub code_or_id: String,
    /// New code (AccessCode).
    #[arg(long)]
    pub code: Option<String>,
    /// New MinutesIncluded.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        conflicts_with = "add_minutes"
    )]
    pub minutes: Option<i64>,
    /// Add N minutes to MinutesIncluded (negative to take away).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub add_minutes: Option<i64>,
    /// Forget the usage: MinutesLeft becomes MinutesIncluded again, and
    /// FirstUsedOn and SpentOn are cleared (the code starts afresh).
    #[arg(long)]
    pub reset_usage: bool,
    /// New ValidFrom ('' clears it).
    #[arg(long, value_name = "T")]
    pub valid_from: Option<String>,
    /// New ValidTo ('' clears it).
    #[arg(long, value_name = "T")]
    pub valid_to: Option<String>,
    /// New UserLimit ('unlimited' or '' removes the limit).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub user_limit: Option<String>,
    /// Bind to this device MAC ('' unbinds).
    #[arg(long)]
    pub mac: Option<String>,
    /// New Description ('' clears it).
    #[arg(long)]
    pub description: Option<String>,
    /// New GuestName ('' clears it).
    #[arg(long, value_name = "NAME")]
    pub guest_name: Option<String>,
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub business_id: Option<i64>,
    /// New BookingGuid ('' clears it).
    #[arg(long, value_name = "UUID")]
    pub booking_guid: Option<String>,
    /// New VisitorGuid ('' clears it).
    #[arg(long, value_name = "UUID")]
    pub visitor_guid: Option<String>,
    /// Valid for this long from the first login (24h, 90m, 7d; '' removes
    /// it). With --reset-usage the window starts again at the next login.
    #[arg(long, value_name = "SPAN", allow_hyphen_values = true)]
    pub valid_for: Option<String>,
    /// Make the code single-use (true, or no value) or not (false).
    #[arg(
        long,
        value_name = "BOOL",
        value_parser = super::filter::parse_bool,
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub single_use: Option<bool>,
    /// New RateLimit (UP/DOWN, e.g. 2M/5M; '' removes it).
    #[arg(long, value_name = "UP/DOWN")]
    pub rate_limit: Option<String>,
    /// New MegabytesIncluded ('unlimited' or '' removes the allowance).
    /// --reset-usage also forgets the data used.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub megabytes: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Access codes (case-insensitive) or Ids of the tokens to delete.
    #[arg(value_name = "CODE|ID")]
    pub codes: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Delete every token (asks for confirmation unless --yes).
    #[arg(long)]
    pub all: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// CSV file to read ('-' for stdin).
    #[arg(value_name = "FILE.csv")]
    pub file: PathBuf,
    /// Check the file and report problems, but import nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Skip rows whose code (for their BusinessId) or UniqueId already
    /// exists, instead of refusing the file: for importing a file again
    /// after adding rows to it. The skipped codes are left as they are.
    #[arg(long)]
    pub skip_existing: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub order: OrderArgs,
    /// Write to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub(super) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub async fn run(cmd: TokenCommand, config: &Config) -> Result<(), CliError> {
    let access = match cmd {
        TokenCommand::Show { .. }
        | TokenCommand::List(_)
        | TokenCommand::Export(_)
        | TokenCommand::Print(_) => super::Access::Read,
        TokenCommand::Create(_) | TokenCommand::Generate(_) | TokenCommand::Import(_) => {
            super::Access::Create
        }
        _ => super::Access::Change,
    };
    let store = super::open_store(config, access).await?;
    let res = run_on(&store, cmd, config).await;
    store.close().await;
    res
}

async fn run_on(store: &Store, cmd: TokenCommand, config: &Config) -> Result<(), CliError> {
    // Each code's times in the zone of its business (SPEC §12).
    let zones = config.zones();
    match cmd {
        TokenCommand::Create(a) => {
            let mut new = a
                .opts
                .input(a.code, a.minutes)
                .validate_in(&zones, 0)
                .map_err(|e| field_errors(&e))?;
            new.updated_by = Some(whoami());
            let t = store.create_token(&new, now(), &cli_actor()).await?;
            print_tokens(std::slice::from_ref(&t), a.format, &zones, true)?;
            warn_unusable(t.minutes_included, t.valid_to, zones.of(t.business_id));
            Ok(())
        }
        TokenCommand::Generate(a) => generate(store, a, &zones).await,
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
                    show_token(&t, Some(&sessions), zones.of(t.business_id));
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
            let mut f = a.filter.to_filter(&zones, &a.order)?;
            f.page = a.page;
            f.size = a.size;
            let (tokens, total) = store.list_tokens(&f, now()).await?;
            match a.format {
                Format::Json => print_json(&crate::token::list_envelope(&tokens, total, &f, false)),
                Format::Csv => print_csv(&tokens),
                Format::Table => {
                    list_table(&tokens, &zones);
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
        TokenCommand::Update(a) => update(store, a, config).await,
        TokenCommand::Delete(a) => delete(store, a, config).await,
        TokenCommand::Import(a) => super::import::run(store, a, &zones).await,
        TokenCommand::Export(a) => {
            let f = a.filter.to_filter(&zones, &a.order)?;
            let tokens = store.all_tokens(&f, now()).await?;
            match &a.output {
                None => print_csv(&tokens),
                Some(path) => {
                    let file = std::fs::File::create(path).map_err(|e| {
                        CliError::failure(format!("cannot write {}: {e}", path.display()))
                    })?;
                    crate::token::csv::write(std::io::BufWriter::new(file), &tokens).map_err(
                        |e| CliError::failure(format!("writing {}: {e}", path.display())),
                    )?;
                    eprintln!("exported {} token(s) to {}", tokens.len(), path.display());
                    Ok(())
                }
            }
        }
        TokenCommand::Print(a) => super::print::run(store, a, &zones).await,
    }
}

/// Print created or changed tokens: one in detail as a table, several as a
/// list; JSON is the record (one) or an array of records (`single` false).
fn print_tokens(
    tokens: &[AccessToken],
    format: Format,
    zones: &Zones,
    single: bool,
) -> Result<(), CliError> {
    match format {
        Format::Json if single && tokens.len() == 1 => print_json(&tokens[0].to_json()),
        Format::Json => print_json(&tokens.iter().map(|t| t.to_json()).collect::<Vec<_>>()),
        Format::Csv => print_csv(tokens),
        Format::Table if single && tokens.len() == 1 => {
            // After create/update: its sessions were not read (`show` has them).
            show_token(&tokens[0], None, zones.of(tokens[0].business_id));
            Ok(())
        }
        Format::Table => {
            list_table(tokens, zones);
            Ok(())
        }
    }
}

/// Largest batch `token generate` makes at once.
const MAX_GENERATE: i64 = 100_000;

async fn generate(store: &Store, a: GenerateArgs, zones: &Zones) -> Result<(), CliError> {
    let tz = zones.of(a.opts.business_id.unwrap_or(0));
    let mut errs = Vec::new();
    if !(1..=MAX_GENERATE).contains(&a.count) {
        errs.push(format!(
            "--count: must be 1..{MAX_GENERATE}, got {}",
            a.count
        ));
    }
    if !(4..=64).contains(&a.length) {
        errs.push(format!("--length: must be 4..64, got {}", a.length));
    }
    let batch = match &a.batch {
        None => crate::store::batches::default_name(now(), tz),
        Some(b) => crate::store::batches::check_name(b).unwrap_or_else(|e| {
            errs.push(format!("--batch: {e}"));
            String::new()
        }),
    };
    if !errs.is_empty() {
        return Err(CliError::input(errs.join("\n")));
    }
    let (count, length) = (a.count as usize, a.length as usize);
    // Distinct codes of this length: 31^length (saturating). With the limits
    // above (length >= 4: 923521 codes) this always holds; it guards the
    // limits against a change. Codes already taken are handled by retrying.
    let space = (CODE_ALPHABET.len() as u128)
        .checked_pow(length as u32)
        .unwrap_or(u128::MAX);
    if (count as u128) * 2 > space {
        return Err(CliError::input(format!(
            "--count: {count} codes need more than {length} characters (only {space} codes of \
             that length exist); use a larger --length"
        )));
    }
    let mut rng: Box<dyn rand::RngCore> = match a.seed {
        Some(seed) => Box::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(
            seed,
        )),
        None => Box::new(rand::thread_rng()),
    };
    // Validate the options once, with a sample code: every code differs only
    // in its random part.
    let sample = format!("{}{}", a.prefix, generate_code(length, &mut rng));
    let mut template = a
        .opts
        .input(sample, a.minutes)
        .validate_in(zones, 0)
        // Only the prefix can make a generated code invalid.
        .map_err(|e| {
            let mut err = field_errors(&e);
            let by = if err.message.contains("bytes long") {
                "--prefix with --length:"
            } else {
                "--prefix:"
            };
            err.message = err.message.replace("AccessCode:", by);
            err
        })?;
    template.updated_by = Some(whoami());
    warn_unusable(template.minutes_included, template.valid_to, tz);
    let mut seen = std::collections::HashSet::with_capacity(count);
    let prefix = a.prefix.clone();
    // Skips codes drawn earlier in this batch (cheaper than a failed insert);
    // the database's unique index is the real check, and bounds the retries.
    let next_code = move || {
        let mut code = String::new();
        for _ in 0..100 {
            code = format!("{prefix}{}", generate_code(length, &mut rng));
            if seen.insert(code_key(&code)) {
                break;
            }
        }
        code
    };
    let mut bar = Progress::new("generating codes", count);
    let res = store
        .generate_tokens(
            &template,
            count,
            now(),
            1000,
            next_code,
            |n| bar.set(n),
            &cli_actor(),
            &batch,
        )
        .await;
    bar.finish();
    let tokens = res.map_err(|e| match e {
        GenerateError::Store(e) => CliError::from(e),
        GenerateError::NoFreeCode(n) => CliError::failure(format!(
            "no free code found after {n} tries (most codes of this length and prefix are \
             taken); nothing was created; use a larger --length"
        )),
    })?;
    print_tokens(&tokens, a.format, zones, false)?;
    eprintln!("created {} token(s)", tokens.len());
    Ok(())
}

/// `''` or `none` (any case): clear the field.
fn clears(v: &str) -> bool {
    v.trim().is_empty() || v.trim().eq_ignore_ascii_case("none")
}

/// The stored token with the requested changes, as raw input for the same
/// validation as `create`.
fn merged_input(cur: &AccessToken, a: &UpdateArgs) -> Result<TokenInput, Vec<FieldError>> {
    let mut errs = Vec::new();
    let time = |new: &Option<String>, old: Option<i64>| match new {
        Some(v) if clears(v) => None,
        Some(v) => Some(v.clone()),
        None => old.map(|t| format_utc(ts(t))),
    };
    let text = |new: &Option<String>, old: &Option<String>| match new {
        Some(v) if clears(v) => None,
        Some(v) => Some(v.clone()),
        None => old.clone(),
    };
    let minutes = match (a.minutes, a.add_minutes) {
        (Some(m), _) => m,
        (None, Some(add)) => match cur.minutes_included.checked_add(add) {
            Some(m) => m,
            None => {
                errs.push(FieldError {
                    field: "MinutesIncluded",
                    message: format!("is too large: {} + {add}", cur.minutes_included),
                });
                cur.minutes_included
            }
        },
        (None, None) => cur.minutes_included,
    };
    let user_limit = match a.user_limit.as_deref().map(str::trim) {
        None => cur.user_limit,
        Some(v) if clears(v) || v.eq_ignore_ascii_case("unlimited") => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                errs.push(FieldError {
                    field: "UserLimit",
                    message: format!("{v:?} is not a number (give 1 or more, or 'unlimited')"),
                });
                None
            }
        },
    };
    let megabytes = match a.megabytes.as_deref().map(str::trim) {
        None => cur.megabytes_included,
        Some(v) if clears(v) || v.eq_ignore_ascii_case("unlimited") => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                errs.push(FieldError {
                    field: "MegabytesIncluded",
                    message: format!("{v:?} is not a number (give 1 or more, or 'unlimited')"),
                });
                None
            }
        },
    };
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(TokenInput {
        business_id: Some(a.business_id.unwrap_or(cur.business_id)),
        access_code: Some(a.code.clone().unwrap_or_else(|| cur.access_code.clone())),
        description: match &a.description {
            Some(d) => Some(d.clone()),
            None => cur.description.clone(),
        },
        minutes_included: Some(minutes),
        valid_from: time(&a.valid_from, cur.valid_from),
        valid_to: time(&a.valid_to, cur.valid_to),
        user_limit,
        mac_address: text(&a.mac, &cur.mac_address),
        booking_guid: text(&a.booking_guid, &cur.booking_guid),
        visitor_guid: text(&a.visitor_guid, &cur.visitor_guid),
        valid_for: match &a.valid_for {
            Some(v) if clears(v) => None,
            Some(v) => Some(v.clone()),
            None => cur.valid_for_minutes.map(|m| m.to_string()),
        },
        single_use: Some(a.single_use.unwrap_or(cur.single_use)),
        rate_limit: text(&a.rate_limit, &cur.rate_limit),
        guest_name: text(&a.guest_name, &cur.guest_name),
        megabytes_included: megabytes,
    })
}

async fn update(store: &Store, a: UpdateArgs, config: &Config) -> Result<(), CliError> {
    let zones = config.zones();
    let changes = a.code.is_some()
        || a.minutes.is_some()
        || a.add_minutes.is_some()
        || a.reset_usage
        || a.valid_from.is_some()
        || a.valid_to.is_some()
        || a.user_limit.is_some()
        || a.mac.is_some()
        || a.description.is_some()
        || a.guest_name.is_some()
        || a.business_id.is_some()
        || a.booking_guid.is_some()
        || a.visitor_guid.is_some()
        || a.valid_for.is_some()
        || a.single_use.is_some()
        || a.rate_limit.is_some()
        || a.megabytes.is_some();
    if !changes {
        return Err(CliError::input(
            "nothing to change: give at least one option (see radgate token update --help)",
        ));
    }
    let mut before: Option<AccessToken> = None;
    let t = store
        .update_token(&a.code_or_id, now(), &cli_actor(), |cur| {
            before = Some(cur.clone());
            let input = merged_input(cur, &a).map_err(|e| field_errors(&e))?;
            // Zone-less times in the zone of the business the code belongs
            // to after the change (the new one with --business-id).
            let mut token = input
                .validate_in(&zones, cur.business_id)
                .map_err(|e| field_errors(&e))?;
            token.updated_by = Some(whoami());
            Ok::<_, CliError>(TokenUpdate {
                token,
                reset_usage: a.reset_usage,
                audit_action: "token.update",
                reason: None,
            })
        })
        .await?;
    print_tokens(std::slice::from_ref(&t), a.format, &zones, true)?;
    // Said when the change is what makes the code unusable.
    let valid_to = t
        .valid_to
        .filter(|_| a.valid_to.as_deref().is_some_and(|v| !v.is_empty()));
    let minutes = if a.minutes.is_some() {
        t.minutes_included
    } else {
        1
    };
    warn_unusable(minutes, valid_to, zones.of(t.business_id));
    if let Some(old) = before.filter(|old| old.shortened_by(&t, now())) {
        let sessions = store.running_sessions(&[t.id]).await?;
        disconnect_sessions(config, &sessions, &format!("{} shortened", old.access_code)).await;
    }
    Ok(())
}

/// A ValidTo already past or no minutes make every login fail: say so on
/// stderr (the command still succeeds; an admin may mean it).
fn warn_unusable(minutes_included: i64, valid_to: Option<i64>, tz: chrono_tz::Tz) {
    for w in crate::token::unusable_warnings(minutes_included, valid_to, now(), tz) {
        eprintln!("{} {w}", super::style::warning_prefix());
    }
}

/// Send a Disconnect-Request for each session whose client has a
/// `coa_port`, and say what happened (stderr: the command's own output
/// stays clean for scripts).
async fn disconnect_sessions(config: &Config, sessions: &[LiveSession], why: &str) {
    if sessions.is_empty() {
        return;
    }
    let targets = disconnect::targets(config, sessions);
    let unreachable = sessions.len() - targets.len();
    if unreachable > 0 {
        eprintln!(
            "{unreachable} live session(s) ({why}) run on until their Session-Timeout: \
             their client has no coa_port (see [[client]] coa_port in the config)"
        );
    }
    let outcomes = disconnect::send_all(&targets, Some(config.server.acct_listen.ip())).await;
    for (t, o) in targets.iter().zip(outcomes) {
        eprintln!(
            "disconnect {} session {} on {} ({}): {}",
            t.session.user_name,
            t.session.acct_session_id,
            t.client,
            t.addr,
            o.describe()
        );
    }
}

async fn delete(store: &Store, a: DeleteArgs, config: &Config) -> Result<(), CliError> {
    let f = a.filter.to_filter(&config.zones(), &OrderArgs::default())?;
    let by_filter = !f.is_empty() || a.all;
    if !a.codes.is_empty() {
        if by_filter {
            return Err(CliError::input(
                "give either codes/Ids or filters (or --all), not both",
            ));
        }
        // Read the running sessions first: they go with their tokens.
        let mut ids = Vec::new();
        for c in &a.codes {
            if let Ok(t) = store.find_token(c).await {
                ids.push(t.id);
            }
        }
        let sessions = store.running_sessions(&ids).await?;
        return match store.delete_tokens(&a.codes, &cli_actor()).await? {
            Ok(deleted) => {
                for t in &deleted {
                    println!("deleted token {} ({})", t.id, t.access_code);
                }
                disconnect_sessions(config, &sessions, "token deleted").await;
                Ok(())
            }
            Err(missing) => Err(CliError::failure(format!(
                "no access token matches {}; nothing was deleted",
                missing
                    .iter()
                    .map(|m| format!("\"{m}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        };
    }
    if !by_filter {
        return Err(CliError::input(
            "nothing to delete: give codes or Ids, filters (e.g. --expired) or --all",
        ));
    }
    let tokens = store.all_tokens(&f, now()).await?;
    if tokens.is_empty() {
        println!("no token matches; nothing deleted");
        return Ok(());
    }
    if !a.yes {
        let mut sample: Vec<&str> = tokens
            .iter()
            .take(5)
            .map(|t| t.access_code.as_str())
            .collect();
        if tokens.len() > 5 {
            sample.push("…");
        }
        eprint!(
            "delete {} token(s) ({})? [y/N] ",
            tokens.len(),
            sample.join(", ")
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        let answer = answer.trim().to_ascii_lowercase();
        if answer != "y" && answer != "yes" {
            if answer.is_empty() {
                eprintln!();
            }
            return Err(CliError::failure(
                "not confirmed; nothing deleted (use --yes to skip the question)",
            ));
        }
    }
    let ids: Vec<i64> = tokens.iter().map(|t| t.id).collect();
    let sessions = store.running_sessions(&ids).await?;
    let n = store.delete_matching(&f, &ids, now(), &cli_actor()).await?;
    println!("deleted {n} token(s)");
    disconnect_sessions(config, &sessions, "token deleted").await;
    Ok(())
}

/// Who the CLI's changes are recorded as in the audit log.
pub(super) fn cli_actor() -> crate::store::audit::Actor {
    crate::store::audit::Actor(whoami())
}

pub(super) fn whoami() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.trim().is_empty());
    match user {
        Some(u) => format!("cli:{u}"),
        // SAFETY: getuid has no preconditions and cannot fail.
        #[cfg(unix)]
        None => format!("cli:uid{}", unsafe { libc::getuid() }),
        #[cfg(not(unix))]
        None => "cli:unknown".into(),
    }
}

fn pages(total: i64, size: i64) -> i64 {
    (total + size - 1) / size
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

fn show_token(t: &AccessToken, sessions: Option<&[SessionRow]>, tz: chrono_tz::Tz) {
    let mut rows: Vec<(&str, String)> = vec![
        ("Id", t.id.to_string()),
        ("UniqueId", t.unique_id.clone()),
        ("BusinessId", t.business_id.to_string()),
        ("AccessCode", t.access_code.clone()),
        ("Description", opt(&t.description)),
        ("GuestName", opt(&t.guest_name)),
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
        (
            "ValidForMinutes",
            t.valid_for_minutes
                .map(|m| format!("{m} ({} from the first login)", format_minutes_span(m)))
                .unwrap_or_else(|| "-".into()),
        ),
        ("SingleUse", if t.single_use { "yes" } else { "no" }.into()),
        ("FirstUsedOn", opt_time(t.first_used_on, tz)),
        ("SpentOn", opt_time(t.spent_on, tz)),
        ("ExpiresOn", opt_time(t.expires_on(), tz)),
        ("TimeZone", tz.name().to_string()),
        ("RateLimit", opt(&t.rate_limit)),
        (
            "MegabytesIncluded",
            t.megabytes_included
                .map(|m| format!("{m} ({})", crate::token::format_megabytes(m)))
                .unwrap_or_else(|| "unlimited".into()),
        ),
        ("MegabytesLeft", opt(&t.megabytes_left())),
    ];
    if let Some(s) = sessions {
        rows.push(("LiveSessions", s.len().to_string()));
    }
    let sessions = sessions.unwrap_or_default();
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

/// Each row's times in the zone of its business; when the rows have
/// different zones, stderr says which.
fn list_table(tokens: &[AccessToken], zones: &Zones) {
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
        "ExpiresOn",
        "MegabytesLeft",
    ];
    let body: Vec<Vec<Cell>> = tokens
        .iter()
        .map(|t| {
            let tz = zones.of(t.business_id);
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
                Cell::text(&opt_time(t.expires_on(), tz)),
                Cell::text(&opt(&t.megabytes_left())),
            ]
        })
        .collect();
    print_table(&header, &body);
    let mut shown = std::collections::BTreeMap::new();
    for t in tokens {
        shown.insert(t.business_id, zones.of(t.business_id));
    }
    let distinct: std::collections::BTreeSet<_> = shown.values().map(|z| z.name()).collect();
    if distinct.len() > 1 {
        let each: Vec<String> = shown
            .iter()
            .map(|(b, z)| format!("BusinessId {b}: {}", z.name()))
            .collect();
        eprintln!("times in each code's business zone ({})", each.join(", "));
    }
}

fn print_csv(tokens: &[AccessToken]) -> Result<(), CliError> {
    crate::token::csv::write(std::io::stdout().lock(), tokens)
        .map_err(|e| CliError::failure(format!("writing CSV: {e}")))
}
