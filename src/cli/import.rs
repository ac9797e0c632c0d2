//! `radgate token import FILE.csv`: the columns of `token export`, all rows
//! or none.

use std::io::Read;

use crate::config::Zones;

use super::token::{now, whoami, ImportArgs};
use super::CliError;
use crate::store::Store;

pub async fn run(store: &Store, a: ImportArgs, zones: &Zones) -> Result<(), CliError> {
    let name = a.file.display().to_string();
    let mut data = Vec::new();
    let read = if name == "-" {
        std::io::stdin().read_to_end(&mut data)
    } else {
        std::fs::File::open(&a.file).and_then(|mut f| f.read_to_end(&mut data))
    };
    read.map_err(|e| CliError::failure(format!("cannot read {name}: {e}")))?;
    let (rows, lines, mut bad) = crate::token::csv::parse(&data, zones, &whoami())
        .map_err(|e| CliError::input(format!("{name}: {e}")))?;
    // Rows that passed their own checks are checked against the database
    // too (without writing) when other rows are bad, so that one report
    // names every problem.
    let mut exist = false;
    if bad.is_empty() || !rows.is_empty() {
        let checking_only = a.dry_run || !bad.is_empty();
        match store
            .import_tokens(
                &rows,
                now(),
                checking_only,
                a.skip_existing,
                &crate::store::audit::Actor(super::token::whoami()),
            )
            .await?
        {
            Ok(_) if !bad.is_empty() => {}
            Ok(done) if a.dry_run => {
                println!(
                    "{name}: {} row(s) can be imported{}; nothing imported (--dry-run)",
                    done.imported,
                    skipped(done.skipped)
                );
                return Ok(());
            }
            Ok(done) => {
                println!(
                    "imported {} token(s) from {name}{}",
                    done.imported,
                    skipped(done.skipped)
                );
                return Ok(());
            }
            Err(conflicts) => {
                exist = true;
                for (i, c) in conflicts {
                    bad.push((lines[i], c.to_string()));
                }
            }
        }
    }
    bad.sort_by_key(|(line, _)| *line);
    let rows_bad = {
        let mut l: Vec<u64> = bad.iter().map(|(l, _)| *l).collect();
        l.dedup();
        l.len()
    };
    let list: Vec<String> = bad
        .iter()
        .map(|(line, msg)| format!("  line {line}: {msg}"))
        .collect();
    let hint = if exist {
        "\n(--skip-existing imports the rows whose code is new and leaves the others as they are)"
    } else {
        ""
    };
    Err(CliError::input(format!(
        "{name}: {rows_bad} bad row(s); nothing imported\n{}{hint}",
        list.join("\n")
    )))
}

fn skipped(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(", {n} skipped (their code or UniqueId already exists)")
    }
}
