//! `radgate portal …`: the guest's login pages for hotspots.

use std::path::PathBuf;

use clap::Subcommand;

use super::CliError;
use crate::config::Config;
use crate::portal::{i18n, mikrotik, Branding};

#[derive(Debug, Subcommand)]
pub enum PortalCommand {
    /// Write a Mikrotik hotspot's pages: login.html (the code alone; CHAP with
    /// the router's md5.js, or PAP), alogin.html and status.html (online, time
    /// left), branded from [[business]], in English, German, French and Spanish.
    #[command(
        after_help = "Upload the files into the hotspot's html directory (keep its md5.js), e.g. with\n\
                      WinBox (Files) or: scp DIR/*.html admin@ROUTER:hotspot/\n\
                      deploy/mikrotik.md says more.\n\n\
                      Examples:\n  radgate portal mikrotik --out hotspot\n  radgate portal mikrotik --out hotspot --business 7 --lang de"
    )]
    Mikrotik {
        /// The directory to write into (created when missing; radgate's own
        /// files in it are replaced).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The [[business]] whose name, logo, accent_color and terms_url the
        /// pages show (default: a plain "Wi-Fi" page).
        #[arg(long, value_name = "ID")]
        business: Option<i64>,
        /// The language for browsers without JavaScript (with it, each guest
        /// sees the pages in the browser's language): en, de, fr, es, or one
        /// of [portal] translations.
        #[arg(long, value_name = "LANG", default_value = "en")]
        lang: String,
        /// login.html sends the guest on to radgate's own page
        /// (<[portal] public_url>/mikrotik), which radgate serve runs when
        /// [portal] listen is set; the router then needs the portal's
        /// address in its walled garden.
        #[arg(long)]
        external: bool,
    },
}

pub fn run(cmd: PortalCommand, config: &Config) -> Result<(), CliError> {
    let PortalCommand::Mikrotik {
        out,
        business,
        lang,
        external,
    } = cmd;
    let branding = match business {
        None => Branding::default(),
        Some(id) => config.branding.get(&id).cloned().ok_or_else(|| {
            let known: Vec<String> = config.branding.keys().map(i64::to_string).collect();
            CliError::input(format!(
                "--business {id}: the configuration ({}) has no [[business]] with id = {id} and a name, logo, \
                 accent_color or terms_url{}",
                config.source,
                if known.is_empty() {
                    String::new()
                } else {
                    format!(" (those with: {})", known.join(", "))
                }
            ))
        })?,
    };
    let catalogs = i18n::with_venue(&config.portal.translations);
    let lang = lang.trim().to_ascii_lowercase();
    if !catalogs.iter().any(|c| c.lang == lang) {
        let all: Vec<&str> = catalogs.iter().map(|c| c.lang.as_str()).collect();
        return Err(CliError::input(format!(
            "--lang {lang:?}: one of {}",
            all.join(", ")
        )));
    }
    let mut pages = mikrotik::pages(
        &branding,
        &config.messages,
        &catalogs,
        &lang,
        config.auth.case_sensitive_codes,
    )
    .map_err(CliError::input)?;
    if external {
        let Some(url) = config.portal.public_url.as_deref() else {
            return Err(CliError::input(format!(
                "--external: the configuration ({}) has no [portal] public_url (and listen): the address \
                 guests' browsers reach radgate's portal at, e.g. public_url = \"http://wifi.example.net:8081\"",
                config.source
            )));
        };
        if let Some(login) = pages.iter_mut().find(|p| p.name == "login.html") {
            *login = mikrotik::external_login(&branding, url, business);
        }
    }
    if out.exists() && !out.is_dir() {
        return Err(CliError::input(format!(
            "--out {}: is a file, not a directory",
            out.display()
        )));
    }
    std::fs::create_dir_all(&out)
        .map_err(|e| CliError::failure(format!("--out {}: {e}", out.display())))?;
    for p in &pages {
        let path = out.join(p.name);
        std::fs::write(&path, &p.html)
            .map_err(|e| CliError::failure(format!("{}: {e}", path.display())))?;
        println!("wrote {} ({} bytes)", path.display(), p.html.len());
    }
    if external {
        eprintln!(
            "next: upload these into the hotspot's html directory, and add the portal's address to the \
             walled garden (deploy/mikrotik.md, \"The login page\")"
        );
    } else {
        eprintln!(
            "next: upload these into the hotspot's html directory, next to its md5.js; guests then type \
             their code alone (deploy/mikrotik.md, \"The login page\")"
        );
    }
    Ok(())
}
