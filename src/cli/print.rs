//! `radgate token print`: a printable HTML sheet of voucher cards (A4,
//! 3 × 8 cards a page), each with the code, minutes, validity, network name
//! and an optional QR code for the hotspot login URL.

use std::path::PathBuf;

use crate::config::Zones;
use clap::Args;

use super::filter::{FilterArgs, OrderArgs};
use super::token::now;
use super::CliError;
use crate::store::Store;
use crate::token::Usability;

use crate::voucher::{Sheet, CARDS_PER_PAGE};

#[derive(Debug, Args)]
pub struct PrintArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub order: OrderArgs,
    /// Write the HTML to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE", help_heading = "Sheet")]
    pub output: Option<PathBuf>,
    /// WiFi network name (SSID) shown on every card.
    #[arg(long, value_name = "NAME", help_heading = "Sheet")]
    pub network: Option<String>,
    /// Hotspot login URL for a QR code on each card; {code} is replaced by the
    /// (URL-encoded) code, e.g. 'http://hotspot.lan/login?username={code}&password={code}'.
    #[arg(long, value_name = "URL", help_heading = "Sheet")]
    pub login_url: Option<String>,
    /// Heading of each card.
    #[arg(
        long,
        value_name = "TEXT",
        default_value = "WiFi access",
        help_heading = "Sheet"
    )]
    pub title: String,
    /// Small line at the bottom of each card (e.g. how to log in).
    #[arg(long, value_name = "TEXT", help_heading = "Sheet")]
    pub note: Option<String>,
    /// Also print codes that can no longer be used (expired, spent, or no
    /// minutes left); by default they are left out, and counted on stderr.
    #[arg(long, help_heading = "Sheet")]
    pub include_unusable: bool,
}

pub async fn run(store: &Store, a: PrintArgs, zones: &Zones) -> Result<(), CliError> {
    if let Some(u) = &a.login_url {
        if !u.contains("{code}") {
            return Err(CliError::input(
                "--login-url: must contain {code}, which is replaced by each card's code",
            ));
        }
    }
    let f = a.filter.to_filter(zones, &a.order)?;
    let now = now();
    let mut tokens = store.all_tokens(&f, now).await?;
    // A sheet is handed to guests: codes that cannot log in any more stay
    // off it unless asked for, and codes not valid yet are pointed out.
    let mut dead = std::collections::BTreeMap::<Usability, usize>::new();
    let mut later = 0;
    tokens.retain(|t| match t.usability(now) {
        u if u.is_dead() => {
            *dead.entry(u).or_default() += 1;
            a.include_unusable
        }
        Usability::NotYetValid => {
            later += 1;
            true
        }
        _ => true,
    });
    let dead_total: usize = dead.values().sum();
    let counts = dead
        .iter()
        .map(|(u, n)| format!("{n} {}", u.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    if dead_total > 0 && !a.include_unusable {
        eprintln!(
            "{} left out {dead_total} code(s) that can no longer be used ({counts}); \
             --include-unusable prints them",
            super::style::note_prefix()
        );
    } else if dead_total > 0 {
        eprintln!(
            "{} {dead_total} printed code(s) can no longer be used ({counts})",
            super::style::warning_prefix()
        );
    }
    if later > 0 {
        eprintln!(
            "{} {later} printed code(s) are not valid yet (their cards show from when)",
            super::style::note_prefix()
        );
    }
    if tokens.is_empty() {
        return Err(CliError::failure(if dead_total > 0 {
            "no usable token matches the filters; nothing to print"
        } else {
            "no token matches the filters; nothing to print"
        }));
    }
    let sheet = Sheet {
        title: &a.title,
        network: a.network.as_deref(),
        login_url: a.login_url.as_deref(),
        note: a.note.as_deref(),
        zones: zones.clone(),
    };
    let html = sheet
        .render(&tokens)
        .map_err(|e| CliError::input(format!("--login-url: {e}")))?;
    let pages = tokens.len().div_ceil(CARDS_PER_PAGE);
    match &a.output {
        None => {
            print!("{html}");
            Ok(())
        }
        Some(path) => {
            std::fs::write(path, html)
                .map_err(|e| CliError::failure(format!("cannot write {}: {e}", path.display())))?;
            eprintln!(
                "wrote {} voucher(s) on {pages} page(s) to {}",
                tokens.len(),
                path.display()
            );
            Ok(())
        }
    }
}
