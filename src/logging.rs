//! Logging: the subscriber set up at start, codes as they may appear in the
//! log, and a limiter for lines that a flood could repeat.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogFormat;

/// Set up the tracing subscriber: `RADGATE_LOG` (EnvFilter syntax) or the
/// default level, to stderr, in `format` (`[server] log_format`: lines for
/// people, or [`JsonLines`]).
///
/// The server's default is `info`: a line per refused login (why a guest was
/// refused is what the front desk asks), per dropped packet (rate-limited),
/// per change of state, and a summary of the traffic every minute
/// ([`crate::daemon`]). A line per accepted login and per accounting packet
/// is `debug` (`RADGATE_LOG=debug`): at tens of thousands of requests a
/// second, writing them cost about a fifth of the login throughput
/// (BENCHMARKS.md).
pub fn init(serve: bool, format: LogFormat) {
    let default = if serve { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RADGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Not `log_internal_errors`: it reports a line the writer could not
    // write with `eprintln!`, which panics when stderr itself fails (closed
    // pipe, journald restarted), and so killed whatever thread was logging
    // (the SQLite worker at start-up: `serve` then hung). A lost line is lost.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false)
            .try_init(),
        LogFormat::Json => builder.with_ansi(false).event_format(JsonLines).try_init(),
    };
}

/// `log_format = "json"`: one JSON object per line, its keys in this order:
///
/// - `timestamp`: when, RFC 3339 in UTC with microseconds
///   (`2025-07-21T10:45:03.123456Z`);
/// - `level`: `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`;
/// - `target`: the module that wrote it (`radgate::radius::server`; for a
///   library's line, the library's own target), as `RADGATE_LOG` filters it;
/// - `message`: the text the text format shows (`""` if an event has none);
/// - then the event's fields as they come (`src`, `client`, `code`,
///   `operator`, `error`, …): numbers and booleans as JSON numbers and
///   booleans, everything else as a string. A field that has one of the four
///   names above is written as `field.NAME` instead. Codes are masked as in
///   the text format (`server.mask_codes`).
///
/// The server makes no spans, so no span keys.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        writeln!(writer, "{}", json_line(event))
    }
}

fn json_line(event: &tracing::Event<'_>) -> String {
    let meta = event.metadata();
    let mut fields = JsonFields::default();
    event.record(&mut fields);
    let mut line = serde_json::Map::new();
    line.insert(
        "timestamp".into(),
        chrono::Utc::now()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            .into(),
    );
    line.insert("level".into(), meta.level().as_str().into());
    line.insert(
        "target".into(),
        fields
            .log_target
            .unwrap_or_else(|| meta.target().to_string())
            .into(),
    );
    line.insert("message".into(), fields.message.unwrap_or_default().into());
    for (name, value) in fields.rest {
        let name = if line.contains_key(name) {
            format!("field.{name}")
        } else {
            name.to_string()
        };
        line.insert(name, value);
    }
    serde_json::Value::Object(line).to_string()
}

/// An event's fields for [`JsonLines`].
#[derive(Default)]
struct JsonFields {
    message: Option<String>,
    /// A line from a library that logs with the `log` crate: its target.
    log_target: Option<String>,
    rest: Vec<(&'static str, serde_json::Value)>,
}

impl JsonFields {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        let text = |v: serde_json::Value| match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        match field.name() {
            "message" => self.message = Some(text(value)),
            "log.target" => self.log_target = Some(text(value)),
            // The rest of the `log` crate's metadata (module, file, line).
            name if name.starts_with("log.") => {}
            name => self.rest.push((name, value)),
        }
    }
}

impl Visit for JsonFields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // NaN and the infinities are no JSON numbers: as text.
        let v = serde_json::Number::from_f64(value)
            .map_or_else(|| value.to_string().into(), serde_json::Value::Number);
        self.put(field, v);
    }
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

    /// What `tracing` macros write through [`JsonLines`].
    fn json_lines(events: impl FnOnce()) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .event_format(JsonLines)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, events);
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| match serde_json::from_str(l) {
                Ok(serde_json::Value::Object(o)) => o,
                other => panic!("not a JSON object: {l:?} ({other:?})"),
            })
            .collect()
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_have_the_documented_keys_in_order() {
        let src: std::net::SocketAddr = "192.0.2.7:4000".parse().unwrap();
        let lines = json_lines(|| {
            tracing::warn!(%src, client = "lobby", len = 5000u64, ok = false, "dropped: {}\n\"x\"", "why");
            tracing::info!(target: "x::y", level = 3, message_id = -1i64, "");
            tracing::error!(error = %std::io::Error::other("disk full"));
        });
        assert_eq!(lines.len(), 3);
        let keys: Vec<&str> = lines[0].keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "timestamp",
                "level",
                "target",
                "message",
                "src",
                "client",
                "len",
                "ok"
            ]
        );
        let ts = lines[0]["timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z'), "{ts}");
        chrono::DateTime::parse_from_rfc3339(ts).unwrap();
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(lines[0]["target"], "radgate::logging::tests");
        assert_eq!(lines[0]["message"], "dropped: why\n\"x\"");
        assert_eq!(lines[0]["src"], "192.0.2.7:4000");
        assert_eq!(lines[0]["client"], "lobby");
        assert_eq!(lines[0]["len"], 5000);
        assert_eq!(lines[0]["ok"], false);
        // A field named like a fixed key does not replace it.
        assert_eq!(lines[1]["target"], "x::y");
        assert_eq!(lines[1]["level"], "INFO");
        assert_eq!(lines[1]["field.level"], 3);
        assert_eq!(lines[1]["message_id"], -1);
        // No message: an empty one, the key is always there.
        assert_eq!(lines[2]["message"], "");
        assert_eq!(lines[2]["error"], "disk full");
    }

    #[test]
    fn the_limiter_allows_ten_a_second() {
        let l = LogLimiter::default();
        assert!((0..10).all(|_| l.allow_at(100)));
        assert!(!l.allow_at(100));
        assert!(l.allow_at(101));
    }
}
