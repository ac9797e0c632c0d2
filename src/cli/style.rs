//! Colour, only on a terminal: never in pipes, files or tests, and never
//! when `NO_COLOR` is set or `TERM=dumb`.

use std::io::IsTerminal;

/// Whether to colour output written to stdout (`false`) or stderr (`true`).
pub fn enabled(stderr: bool) -> bool {
    let tty = if stderr {
        std::io::stderr().is_terminal()
    } else {
        std::io::stdout().is_terminal()
    };
    tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

fn paint(on: bool, code: &str, text: &str) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// `radgate: error:`, red and bold on a terminal.
pub fn error_prefix() -> String {
    paint(enabled(true), "1;31", "radgate: error:")
}

/// `radgate: warning:`, yellow and bold on a terminal.
pub fn warning_prefix() -> String {
    paint(enabled(true), "1;33", "radgate: warning:")
}

/// `radgate: note:`, bold on a terminal.
pub fn note_prefix() -> String {
    paint(enabled(true), "1", "radgate: note:")
}

/// Bold text for stdout (table headers).
pub fn bold(text: &str) -> String {
    paint(enabled(false), "1", text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn paint_only_when_on() {
        assert_eq!(super::paint(false, "1", "x"), "x");
        assert_eq!(super::paint(true, "1", "x"), "\x1b[1mx\x1b[0m");
    }
}
