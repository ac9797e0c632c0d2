//! A progress bar on stderr for long batches, drawn only on a terminal.

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// Batches smaller than this finish too fast to need a bar.
const MIN_TOTAL: usize = 500;

pub struct Progress {
    label: &'static str,
    total: usize,
    enabled: bool,
    drawn_percent: Option<usize>,
    start: Instant,
}

impl Progress {
    pub fn new(label: &'static str, total: usize) -> Progress {
        Progress {
            label,
            total,
            enabled: total >= MIN_TOTAL && std::io::stderr().is_terminal(),
            drawn_percent: None,
            start: Instant::now(),
        }
    }

    /// `done` items finished; redraws once per percent.
    pub fn set(&mut self, done: usize) {
        if !self.enabled {
            return;
        }
        let percent = done * 100 / self.total.max(1);
        if self.drawn_percent == Some(percent) {
            return;
        }
        self.drawn_percent = Some(percent);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{}", render(self.label, done, self.total, 30));
        let _ = err.flush();
    }

    /// End the bar's line (with the elapsed time).
    pub fn finish(&mut self) {
        if self.enabled && self.drawn_percent.is_some() {
            eprintln!(" {:.1}s", self.start.elapsed().as_secs_f64());
        }
    }
}

/// `label [#########.....................]  3000/10000  30%`
pub fn render(label: &str, done: usize, total: usize, width: usize) -> String {
    let total = total.max(1);
    let done = done.min(total);
    let filled = done * width / total;
    format!(
        "{label} [{}{}] {done:>w$}/{total} {:>3}%",
        "#".repeat(filled),
        ".".repeat(width - filled),
        done * 100 / total,
        w = total.to_string().len(),
    )
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn renders_bar() {
        assert_eq!(
            render("codes", 3000, 10000, 10),
            "codes [###.......]  3000/10000  30%"
        );
        assert_eq!(render("x", 5, 5, 4), "x [####] 5/5 100%");
        assert_eq!(render("x", 0, 0, 2), "x [..] 0/1   0%");
    }
}
