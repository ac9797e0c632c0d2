//! `radgate man`: man pages from the clap definitions (clap_mangen), with
//! the examples kept line by line (clap_mangen would fill them into one
//! paragraph) and no page for clap's `help` subcommand, which man pages do
//! not need.

use std::io::Write;
use std::path::Path;

use clap::Command;
use clap_mangen::Man;

/// The main page to `w`, or one page per command into `dir`.
pub fn write(cmd: Command, dir: Option<&Path>, w: &mut dyn Write) -> std::io::Result<()> {
    let mut cmd = without_help(cmd);
    cmd.build();
    match dir {
        None => render(&cmd, w),
        Some(dir) => {
            let named = |e: std::io::Error| {
                std::io::Error::new(e.kind(), format!("--dir {}: {e}", dir.display()))
            };
            std::fs::create_dir_all(dir).map_err(named)?;
            write_pages(&cmd, dir).map_err(named)
        }
    }
}

fn write_pages(cmd: &Command, dir: &Path) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir)?;
    }
    let path = dir.join(Man::new(cmd.clone()).get_filename());
    let mut file = std::fs::File::create(path)?;
    render(cmd, &mut file)?;
    file.flush()
}

/// clap's `help` subcommand, at every level, left out.
fn without_help(cmd: Command) -> Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    let mut cmd = cmd.disable_help_subcommand(true);
    for n in names {
        cmd = cmd.mut_subcommand(n, without_help);
    }
    cmd
}

/// clap_mangen's sections, with the after-help text (examples, exit codes)
/// as an EXAMPLES section in no-fill mode: each line as written.
fn render(cmd: &Command, w: &mut dyn Write) -> std::io::Result<()> {
    let man = Man::new(cmd.clone());
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(w)?;
    }
    if let Some(after) = cmd.get_after_long_help().or(cmd.get_after_help()) {
        let text = after.to_string();
        let (title, text) = match text.strip_prefix("Examples:\n") {
            Some(rest) => ("EXAMPLES", rest),
            None => ("NOTES", text.as_str()),
        };
        writeln!(w, ".SH {title}\n.nf")?;
        for line in text.lines() {
            writeln!(w, "{}", roff_line(line))?;
        }
        writeln!(w, ".fi")?;
    }
    if cmd.get_version().is_some() {
        man.render_version_section(w)?;
    }
    Ok(())
}

/// A line of text as roff shows it literally: backslashes and hyphens
/// escaped, and a leading `.` or `'` kept from being read as a request.
fn roff_line(line: &str) -> String {
    let escaped = line.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_lines_are_literal() {
        assert_eq!(roff_line("radgate --x a\\b"), "radgate \\-\\-x a\\eb");
        assert_eq!(roff_line(".hidden"), "\\&.hidden");
        assert_eq!(roff_line("'q"), "\\&'q");
    }
}
