//! radgate-bench: a RADIUS load generator (and a trivial responder to
//! measure its own ceiling). Works against any RADIUS server: radgate,
//! FreeRADIUS, anything that speaks RFC 2865/2866.
//!
//! ```text
//! radgate-bench load --server 127.0.0.1:1812 --secret testing123 \
//!     --mode auth-pap --codes 10000 --concurrency 64 --duration 10s --warmup 1s
//! radgate-bench load --server 127.0.0.1:1812,127.0.0.1:1822 ...   (two nodes, load split)
//! radgate-bench responder --auth-listen 127.0.0.1:18120 --acct-listen 127.0.0.1:18130
//! radgate-bench fsync-floor --dir /tmp --concurrency 64 --duration 10s
//! ```
//!
//! See BENCHMARKS.md and scripts/bench.sh.

#[path = "radgate_bench/floor.rs"]
mod floor;
#[path = "radgate_bench/hist.rs"]
mod hist;
#[path = "radgate_bench/load.rs"]
mod load;
#[path = "radgate_bench/net.rs"]
mod net;
#[path = "radgate_bench/responder.rs"]
mod responder;
#[path = "radgate_bench/wire.rs"]
mod wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use load::{LoadConfig, Mode};

#[derive(Parser)]
#[command(
    name = "radgate-bench",
    version,
    about = "RADIUS load generator (PAP, CHAP, accounting) with a trivial responder to measure its own ceiling"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Drive load against a RADIUS server and report throughput and latency.
    Load(LoadArgs),
    /// Answer every Access-Request with Access-Accept and every
    /// Accounting-Request with Accounting-Response (no other work).
    Responder(ResponderArgs),
    /// The physical floor of durable accounting: N requests in flight, each
    /// appending a record to a journal file and waiting for an fdatasync that
    /// covers it, the syncs grouped ideally (one thread writes and syncs
    /// everything waiting, then releases it all). No RADIUS, no SQL.
    FsyncFloor(FloorArgs),
    /// Print N distinct UDP ports that are free on 127.0.0.1 right now, one a
    /// line (for scripts that start servers).
    FreePorts {
        #[arg(default_value_t = 1)]
        count: usize,
    },
}

#[derive(Args)]
struct LoadArgs {
    /// Server address (authentication or accounting port, per --mode).
    /// Several (comma-separated, or --server given again): nodes of one
    /// service; the requests in flight are split evenly over them, each
    /// socket (and so each accounting session) sending to one of them, and
    /// the report covers all (per_server in the JSON).
    #[arg(
        long,
        default_value = "127.0.0.1:1812",
        value_delimiter = ',',
        num_args = 1
    )]
    server: Vec<SocketAddr>,
    /// Shared secret.
    #[arg(long, default_value = "testing123", env = "RADGATE_BENCH_SECRET")]
    secret: String,
    #[arg(long, value_enum, default_value = "auth-pap")]
    mode: Mode,
    /// Number of distinct codes: PREFIX + number zero-padded to --code-width,
    /// numbers --code-start .. --code-start + N. The password is the code.
    #[arg(long, default_value_t = 10_000)]
    codes: u64,
    #[arg(long, default_value = "BENCH")]
    code_prefix: String,
    #[arg(long, default_value_t = 6)]
    code_width: usize,
    #[arg(long, default_value_t = 0)]
    code_start: u64,
    /// Size of the device pool (Calling-Station-Id 02:xx:xx:xx:xx:xx); each
    /// request takes the next device, so they are distinct until it wraps.
    #[arg(long, default_value_t = 1_000_000)]
    devices: u64,
    /// Logins: code N always comes from device N (a guest who logs in
    /// again from the same phone), instead of the next device of the
    /// pool: with a device limit of 1 every login is then accepted.
    #[arg(long)]
    device_per_code: bool,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// UDP sockets to spread them over (0 = automatic; at most 256 in flight
    /// per socket).
    #[arg(long, default_value_t = 0)]
    sockets: usize,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Measured time, e.g. 10s, 500ms, 1m (at most 1h).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Load sent before measuring starts (not counted).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Stop after this many measured requests (or --duration, whichever first).
    #[arg(long)]
    requests: Option<u64>,
    /// A request without an answer after this long counts as a timeout (no retries).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    timeout: Duration,
    /// Send Access-Requests without Message-Authenticator.
    #[arg(long)]
    no_message_authenticator: bool,
    /// Put Message-Authenticator on Accounting-Requests too.
    #[arg(long)]
    acct_message_authenticator: bool,
    /// Interim-Updates per accounting session (between Start and Stop).
    #[arg(long, default_value_t = 1)]
    interims: u32,
    /// NAS-IP-Address sent in requests.
    #[arg(long, default_value = "127.0.0.1")]
    nas_ip: Ipv4Addr,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Exit with status 1 unless every measured request got a verified
    /// Access-Accept (or Accounting-Response) and nothing timed out.
    #[arg(long)]
    strict: bool,
    /// Receive/send buffer to ask for on each socket, in bytes (the kernel
    /// caps it at net.core.rmem_max).
    #[arg(long, default_value_t = 4 << 20)]
    socket_buffer: usize,
    /// Allow a server that is not on a loopback address.
    #[arg(long)]
    allow_non_loopback: bool,
}

#[derive(Args)]
struct FloorArgs {
    /// Directory for the journal file: put it on the filesystem of the
    /// database being compared (the file is removed afterwards).
    #[arg(long)]
    dir: std::path::PathBuf,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Measured time (at most 1h).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Requests before measuring starts (not counted).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Stop after this many measured requests (or --duration, whichever first).
    #[arg(long)]
    requests: Option<u64>,
    /// Bytes per record (about what an accounting packet's facts take).
    #[arg(long, default_value_t = 100)]
    record_bytes: usize,
    /// Size of the preallocated journal in MiB; writes wrap around at its end.
    #[arg(long, default_value_t = 64)]
    file_mib: u64,
    /// Append to a growing file instead of overwriting a preallocated one
    /// (each fdatasync then also commits the file's new size).
    #[arg(long)]
    no_preallocate: bool,
    /// Keep the journal file.
    #[arg(long)]
    keep_file: bool,
    /// Runtime worker threads (the requests' side; the journal has its own).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ResponderArgs {
    #[arg(long, default_value = "127.0.0.1:18120")]
    auth_listen: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:18130")]
    acct_listen: SocketAddr,
    #[arg(long, default_value = "testing123", env = "RADGATE_BENCH_SECRET")]
    secret: String,
    /// Receive tasks per socket.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Stop by itself after this long.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    max_duration: Duration,
    /// Receive/send buffer to ask for on each socket, in bytes.
    #[arg(long, default_value_t = 4 << 20)]
    socket_buffer: usize,
    /// Allow listening on an address that is not loopback.
    #[arg(long)]
    allow_non_loopback: bool,
}

/// `10s`, `1.5s`, `500ms`, `2m`, `1h`, or plain seconds; at most one hour.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration such as 10s, 500ms or 2m"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s, m or h)")),
    };
    if !(0.0..=3600.0).contains(&secs) {
        return Err(format!("{s:?}: must be between 0 and 1h"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Load(a) => run_load(a),
        Cmd::Responder(a) => run_responder(a),
        Cmd::FsyncFloor(a) => run_floor(a),
        Cmd::FreePorts { count } => free_ports(count),
    }
}

fn free_ports(count: usize) -> ExitCode {
    // Hold every socket until all are bound, so the ports are distinct.
    let mut held = Vec::new();
    for _ in 0..count.min(1000) {
        match std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| Ok((s.local_addr()?, s))) {
            Ok((addr, s)) => {
                println!("{}", addr.port());
                held.push(s);
            }
            Err(e) => return fail(e),
        }
    }
    ExitCode::SUCCESS
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("radgate-bench: {msg}");
    ExitCode::from(2)
}

fn run_load(a: LoadArgs) -> ExitCode {
    if let Some(s) = a
        .server
        .iter()
        .find(|s| !a.allow_non_loopback && !s.ip().is_loopback())
    {
        return fail(format!(
            "--server {s} is not a loopback address; pass --allow-non-loopback to load another machine"
        ));
    }
    if a.codes == 0 || a.devices == 0 || a.concurrency == 0 {
        return fail("--codes, --devices and --concurrency must be at least 1");
    }
    if a.server.len() > a.concurrency {
        return fail(format!(
            "{} servers need --concurrency {} at least (one request in flight per server)",
            a.server.len(),
            a.server.len()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(s) = a.server.iter().find(|s| !seen.insert(**s)) {
        return fail(format!("--server {s} given twice"));
    }
    if a.duration.is_zero() && a.requests.is_none() {
        return fail("--duration must be above 0");
    }
    let last = a.code_start.saturating_add(a.codes - 1);
    if a.code_width < 20 && last >= 10u64.pow(a.code_width as u32) {
        return fail(format!(
            "--codes {} from {} does not fit in --code-width {} digits",
            a.codes, a.code_start, a.code_width
        ));
    }
    if a.secret.is_empty() {
        return fail("--secret must not be empty");
    }
    let cfg = LoadConfig {
        servers: a.server,
        secret: wire::Secret::new(a.secret.as_bytes()),
        mode: a.mode,
        codes: a.codes,
        code_start: a.code_start,
        code_prefix: a.code_prefix,
        code_width: a.code_width,
        devices: a.devices.min(1 << 40),
        device_per_code: a.device_per_code,
        concurrency: a.concurrency,
        sockets: a.sockets,
        duration: a.duration,
        warmup: a.warmup,
        requests: a.requests,
        timeout: a.timeout.max(Duration::from_millis(1)),
        message_authenticator: !a.no_message_authenticator,
        acct_message_authenticator: a.acct_message_authenticator,
        nas_ip: a.nas_ip,
        interims: a.interims,
        socket_buffer: a.socket_buffer,
    };
    let rt = match runtime(a.threads) {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let report = rt.block_on(async {
        let s = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("radgate-bench: interrupted; finishing requests in flight");
                s.store(true, Ordering::Relaxed);
            }
        });
        load::run(cfg.clone(), stop.clone()).await
    });
    rt.shutdown_timeout(Duration::from_millis(100));
    let report = match report {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if a.json {
        println!("{}", report.to_json(&cfg));
    } else {
        print!("{}", report.to_text(&cfg));
    }
    if a.strict && !report.all_accepted() {
        eprintln!("radgate-bench: --strict: not every request got a verified accept");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn run_floor(a: FloorArgs) -> ExitCode {
    if a.concurrency == 0 || a.concurrency > 65_536 {
        return fail("--concurrency must be between 1 and 65536");
    }
    if a.record_bytes == 0 || a.record_bytes > 65_536 {
        return fail("--record-bytes must be between 1 and 65536");
    }
    if a.duration.is_zero() && a.requests.is_none() {
        return fail("--duration must be above 0");
    }
    let file_bytes = a.file_mib.saturating_mul(1 << 20);
    if !a.no_preallocate && file_bytes < (a.concurrency * a.record_bytes) as u64 {
        return fail("--file-mib must hold at least one record per request in flight");
    }
    if !a.dir.is_dir() {
        return fail(format!("--dir {} is not a directory", a.dir.display()));
    }
    let cfg = floor::FloorConfig {
        dir: a.dir,
        concurrency: a.concurrency,
        duration: a.duration,
        warmup: a.warmup,
        requests: a.requests,
        record_bytes: a.record_bytes,
        file_bytes,
        preallocate: !a.no_preallocate,
        keep_file: a.keep_file,
    };
    let rt = match runtime(a.threads) {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let report = rt.block_on(async {
        let s = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("radgate-bench: interrupted; finishing requests in flight");
                s.store(true, Ordering::Relaxed);
            }
        });
        floor::run(cfg.clone(), stop.clone()).await
    });
    rt.shutdown_timeout(Duration::from_millis(100));
    match report {
        Ok(r) if a.json => println!("{}", r.to_json(&cfg)),
        Ok(r) => print!("{}", r.to_text(&cfg)),
        Err(e) => return fail(e),
    }
    ExitCode::SUCCESS
}

fn run_responder(a: ResponderArgs) -> ExitCode {
    let loopback = a.auth_listen.ip().is_loopback() && a.acct_listen.ip().is_loopback();
    if !a.allow_non_loopback && !loopback {
        return fail(
            "the responder listens on loopback addresses only unless --allow-non-loopback is given",
        );
    }
    if a.secret.is_empty() {
        return fail("--secret must not be empty");
    }
    let rt = match runtime(a.threads) {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    let cfg = responder::ResponderConfig {
        auth_listen: a.auth_listen,
        acct_listen: a.acct_listen,
        secret: wire::Secret::new(a.secret.as_bytes()),
        workers: a.workers,
        max_duration: a.max_duration,
        socket_buffer: a.socket_buffer,
    };
    let r = rt.block_on(responder::run(cfg));
    rt.shutdown_timeout(Duration::from_millis(100));
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
