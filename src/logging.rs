//! Logging: the subscriber set up at start, codes as they may appear in the
//! log, and a limiter for lines that a flood could repeat.

use std::sync::atomic::{AtomicU64, Ordering};

/// Set up the tracing subscriber: `RADGATE_LOG` (EnvFilter syntax) or the
/// default level, to stderr.
///
/// The server's default is `info`: a line per refused login (why a guest was
/// refused is what the front desk asks), per dropped packet (rate-limited),
/// per change of state, and a summary of the traffic every minute
/// ([`crate::daemon`]). A line per accepted login and per accounting packet
/// is `debug` (`RADGATE_LOG=debug`): at tens of thousands of requests a
/// second, writing them cost about a fifth of the login throughput
/// (BENCHMARKS.md).
pub fn init(serve: bool) {
    let default = if serve { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RADGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// An access code as the log shows it: the first two characters and four
/// stars, whatever the code's length (`WE****`), so that the log tells
/// codes apart for support without giving them away. Codes shorter than six
/// characters show no character at all (`****`): two would be a third of
/// the code or more.
pub fn mask_code(code: &str) -> String {
    let shown = if code.chars().count() >= 6 { 2 } else { 0 };
    let mut out: String = code.chars().take(shown).collect();
    out.push_str("****");
    out
}

/// Allows at most `PER_SECOND` log lines per second (across threads).
#[derive(Debug, Default)]
pub struct LogLimiter {
    /// (second << 16) | count within that second.
    state: AtomicU64,
}

impl LogLimiter {
    const PER_SECOND: u64 = 10;

    pub fn allow(&self) -> bool {
        let sec = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.allow_at(sec)
    }

    fn allow_at(&self, sec: u64) -> bool {
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            let (s, n) = (cur >> 16, cur & 0xffff);
            let next = if s == sec {
                if n >= Self::PER_SECOND {
                    return false;
                }
                cur + 1
            } else {
                (sec << 16) | 1
            };
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_codes_do_not_tell_their_length() {
        assert_eq!(mask_code("WELCOME1"), "WE****");
        assert_eq!(mask_code("WELCOME1WELCOME1WELCOME1"), "WE****");
        assert_eq!(mask_code("GUEST1"), "GU****");
        assert_eq!(mask_code("ABCDE"), "****");
        assert_eq!(mask_code("A"), "****");
        assert_eq!(mask_code(""), "****");
        // Characters, not bytes.
        assert_eq!(mask_code("ÄÖÜßÄÖÜ"), "ÄÖ****");
    }

    #[test]
    fn the_limiter_allows_ten_a_second() {
        let l = LogLimiter::default();
        assert!((0..10).all(|_| l.allow_at(100)));
        assert!(!l.allow_at(100));
        assert!(l.allow_at(101));
    }
}
