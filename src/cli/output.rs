//! Plain-text tables and JSON output.

use serde::Serialize;

use super::CliError;

pub struct Cell {
    text: String,
    right: bool,
}

impl Cell {
    pub fn text(s: &str) -> Cell {
        Cell {
            text: s.to_string(),
            right: false,
        }
    }
    pub fn num(n: i64) -> Cell {
        Cell {
            text: n.to_string(),
            right: true,
        }
    }
}

pub fn print_table(header: &[&str], rows: &[Vec<Cell>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.text.chars().count());
            }
        }
    }
    let line: Vec<String> = header
        .iter()
        .zip(&widths)
        .map(|(h, w)| format!("{h:<w$}"))
        .collect();
    println!("{}", super::style::bold(line.join("  ").trim_end()));
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                if c.right {
                    format!("{:>w$}", c.text)
                } else {
                    format!("{:<w$}", c.text)
                }
            })
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

pub fn print_kv(rows: &[(&str, String)]) {
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("{k:<w$}  {v}");
    }
}

pub fn print_json<T: Serialize>(v: &T) -> Result<(), CliError> {
    let s = serde_json::to_string_pretty(v).map_err(|e| CliError::failure(e.to_string()))?;
    println!("{s}");
    Ok(())
}
