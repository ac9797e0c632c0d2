//! The load generator: a closed loop that keeps `concurrency` requests in
//! flight against a RADIUS server, spread over a few UDP sockets (the
//! Identifier gives each socket 256 requests in flight at most). Given
//! several servers (nodes of one service on one database), the requests in
//! flight are split evenly over them, each socket sending to one server
//! only (so an accounting session's packets all go to the same node, as a
//! NAS sends them), and the report covers them all.
//!
//! Each socket is driven by one task that owns everything it needs (no locks
//! on the hot path): it sends a request whenever one of its streams is idle,
//! matches responses by Identifier, verifies them against the Request
//! Authenticator it sent, and times out requests that got no answer (counted
//! as timeouts, never retried).
//!
//! Streams: in the auth modes every request is independent (a random code
//! and the next device of the pool). In the accounting mode each stream plays
//! sessions one after another: Start, `interims` Interim-Updates, Stop, each
//! sent after the previous one was answered (or timed out), as a NAS does.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tokio::time::MissedTickBehavior;

use super::hist::Histogram;
use super::net;
use super::wire::{self, Builder, Secret};

/// Timed-out requests remembered per identifier, to recognise late answers.
const EXPIRED_KEPT: usize = 4;
/// How often each socket's task looks for timed-out requests.
const TICK: Duration = Duration::from_millis(10);
/// Requests in flight on one socket at most (the Identifier is one octet).
pub const MAX_PER_SOCKET: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Access-Request with User-Password.
    AuthPap,
    /// Access-Request with CHAP-Challenge and CHAP-Password.
    AuthChap,
    /// Accounting-Request sessions: Start, Interim-Update(s), Stop.
    Acct,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::AuthPap => "auth-pap",
            Mode::AuthChap => "auth-chap",
            Mode::Acct => "acct",
        }
    }
}

#[derive(Clone)]
pub struct LoadConfig {
    /// One server, or several that share the load (see the module docs).
    pub servers: Vec<SocketAddr>,
    pub secret: Secret,
    pub mode: Mode,
    /// Codes `prefix` + number zero-padded to `code_width`, numbers
    /// `code_start .. code_start + codes`.
    pub codes: u64,
    pub code_start: u64,
    pub code_prefix: String,
    pub code_width: usize,
    /// Size of the device (Calling-Station-Id) pool.
    pub devices: u64,
    /// Logins: device = code number (see radgate-bench --device-per-code).
    pub device_per_code: bool,
    pub concurrency: usize,
    pub sockets: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Stop after this many measured requests (optional).
    pub requests: Option<u64>,
    pub timeout: Duration,
    /// Message-Authenticator on Access-Requests.
    pub message_authenticator: bool,
    /// Message-Authenticator on Accounting-Requests.
    pub acct_message_authenticator: bool,
    pub nas_ip: Ipv4Addr,
    pub interims: u32,
    /// Receive/send buffer asked for on each socket (bytes).
    pub socket_buffer: usize,
}

impl LoadConfig {
    /// The servers, comma-separated.
    pub fn servers_text(&self) -> String {
        self.servers
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The access code with number `n` (0-based within the range).
    pub fn code(&self, n: u64, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(self.code_prefix.as_bytes());
        let num = self.code_start + n;
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = num;
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        let len = digits.len() - i;
        out.extend(std::iter::repeat_n(
            b'0',
            self.code_width.saturating_sub(len),
        ));
        out.extend_from_slice(&digits[i..]);
    }
}

/// The Calling-Station-Id of device `d`: a locally administered unicast MAC
/// (02:xx:...) in the form Mikrotik sends, `AA:BB:CC:DD:EE:FF`.
pub fn device_mac(d: u64, out: &mut [u8; 17]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = [
        0x02,
        (d >> 32) as u8,
        (d >> 24) as u8,
        (d >> 16) as u8,
        (d >> 8) as u8,
        d as u8,
    ];
    for (i, b) in bytes.iter().enumerate() {
        out[i * 3] = HEX[(b >> 4) as usize];
        out[i * 3 + 1] = HEX[(b & 15) as usize];
        if i < 5 {
            out[i * 3 + 2] = b':';
        }
    }
}

struct Control {
    measure_start: Instant,
    send_until: Instant,
    /// Measured requests still to send, when `--requests` is given.
    budget: Option<AtomicU64>,
    stop: AtomicBool,
}

impl Control {
    fn claim(&self) -> bool {
        match &self.budget {
            None => true,
            Some(b) => b
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1))
                .is_ok(),
        }
    }
}

/// Counters of one run (or one socket of it). Only requests sent after the
/// warm-up count, except `warmup_*`.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    pub sent: u64,
    /// Access-Accept (auth modes) or Accounting-Response (accounting).
    pub accepts: u64,
    pub rejects: u64,
    /// A verified response with a code that does not answer this request.
    pub other: u64,
    pub timeouts: u64,
    /// Responses that failed verification (Response Authenticator or
    /// Message-Authenticator) or were malformed.
    pub bad: u64,
    /// Verified responses without a Message-Authenticator.
    pub without_message_authenticator: u64,
    /// Verified answers to a request that had already timed out.
    pub late: u64,
    /// Responses that match no request sent on that socket (e.g. a duplicate
    /// answer).
    pub unmatched: u64,
    pub send_errors: u64,
    pub recv_errors: u64,
    pub warmup_sent: u64,
    pub warmup_answered: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.sent += o.sent;
        self.accepts += o.accepts;
        self.rejects += o.rejects;
        self.other += o.other;
        self.timeouts += o.timeouts;
        self.bad += o.bad;
        self.without_message_authenticator += o.without_message_authenticator;
        self.late += o.late;
        self.unmatched += o.unmatched;
        self.send_errors += o.send_errors;
        self.recv_errors += o.recv_errors;
        self.warmup_sent += o.warmup_sent;
        self.warmup_answered += o.warmup_answered;
    }

    pub fn responses(&self) -> u64 {
        self.accepts + self.rejects + self.other
    }
}

struct ShardResult {
    /// Index of its server in `LoadConfig::servers`.
    server: usize,
    counts: Counts,
    hist: Histogram,
    last_response: Option<Instant>,
}

/// The outcome of a run.
pub struct Report {
    pub counts: Counts,
    pub hist: Histogram,
    /// From the end of the warm-up to the last measured response.
    pub elapsed: Duration,
    pub sockets: usize,
    /// Per server (in the order given): requests in flight, and counts.
    pub per_server: Vec<(usize, Counts)>,
    /// CPU time (user + system) this process used for the whole run, warm-up
    /// included, where the OS tells it (Linux).
    pub cpu: Option<Duration>,
}

/// User + system CPU time of this process so far, from /proc/self/stat
/// (Linux; clock ticks of 1/100 s, the USER_HZ of the Linux ABI).
pub fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split_whitespace();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
    let utime: u64 = f.nth(11)?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

impl Report {
    pub fn rps(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.counts.responses() as f64 / s
        } else {
            0.0
        }
    }

    /// Every measured request got a verified accept, and nothing else happened.
    pub fn all_accepted(&self) -> bool {
        let c = &self.counts;
        c.sent > 0
            && c.accepts == c.sent
            && c.rejects + c.other + c.timeouts + c.bad + c.send_errors == 0
    }

    /// Generator CPU time per request sent (warm-up included), in µs.
    pub fn cpu_us_per_request(&self) -> Option<f64> {
        let sent = self.counts.sent + self.counts.warmup_sent;
        let cpu = self.cpu?;
        (sent > 0).then(|| cpu.as_secs_f64() * 1e6 / sent as f64)
    }

    pub fn to_json(&self, cfg: &LoadConfig) -> serde_json::Value {
        let c = &self.counts;
        let ms = |ns: u64| ns as f64 / 1e6;
        serde_json::json!({
            "mode": cfg.mode.name(),
            "server": cfg.servers_text(),
            "codes": cfg.codes,
            "devices": cfg.devices,
            "device_per_code": cfg.device_per_code,
            "concurrency": cfg.concurrency,
            "sockets": self.sockets,
            "duration_s": cfg.duration.as_secs_f64(),
            "warmup_s": cfg.warmup.as_secs_f64(),
            "timeout_s": cfg.timeout.as_secs_f64(),
            "elapsed_s": self.elapsed.as_secs_f64(),
            "sent": c.sent,
            "responses": c.responses(),
            "accepts": c.accepts,
            "rejects": c.rejects,
            "other": c.other,
            "timeouts": c.timeouts,
            "bad": c.bad,
            "without_message_authenticator": c.without_message_authenticator,
            "late": c.late,
            "unmatched": c.unmatched,
            "send_errors": c.send_errors,
            "recv_errors": c.recv_errors,
            "warmup_sent": c.warmup_sent,
            "warmup_answered": c.warmup_answered,
            "rps": self.rps(),
            "latency_samples": self.hist.count(),
            "generator_cpu_s": self.cpu.map(|d| d.as_secs_f64()),
            "generator_cpu_us_per_request": self.cpu_us_per_request(),
            "latency_ms": {
                "p50": ms(self.hist.quantile(0.50)),
                "p90": ms(self.hist.quantile(0.90)),
                "p99": ms(self.hist.quantile(0.99)),
                "max": ms(self.hist.max()),
                "mean": ms(self.hist.mean()),
            },
            // Key names unlike the top-level ones: scripts read those with
            // a plain text match.
            "per_server": cfg.servers.iter().zip(&self.per_server).map(|(addr, (n, c))| {
                serde_json::json!({
                    "address": addr.to_string(),
                    "in_flight": n,
                    "requests": c.sent,
                    "answered": c.responses(),
                    "timed_out": c.timeouts,
                })
            }).collect::<Vec<_>>(),
        })
    }

    pub fn to_text(&self, cfg: &LoadConfig) -> String {
        let c = &self.counts;
        let ms = |ns: u64| ns as f64 / 1e6;
        let accept_word = if cfg.mode == Mode::Acct {
            "acct-responses"
        } else {
            "accepts"
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "radgate-bench {} -> {}: {} codes, {} devices, concurrency {} over {} socket(s), {:.1} s (+{:.1} s warm-up)",
            cfg.mode.name(),
            cfg.servers_text(),
            cfg.codes,
            cfg.devices,
            cfg.concurrency,
            self.sockets,
            cfg.duration.as_secs_f64(),
            cfg.warmup.as_secs_f64(),
        );
        let _ = writeln!(s, "  sent         {}", c.sent);
        let _ = writeln!(
            s,
            "  responses    {}  ({accept_word} {}, rejects {}, other {})",
            c.responses(),
            c.accepts,
            c.rejects,
            c.other
        );
        let _ = writeln!(s, "  timeouts     {}", c.timeouts);
        let _ = writeln!(
            s,
            "  bad          {}  (did not verify; late answers {}, unmatched {}, send errors {}, recv errors {})",
            c.bad, c.late, c.unmatched, c.send_errors, c.recv_errors
        );
        if c.without_message_authenticator > 0 {
            let _ = writeln!(
                s,
                "  note         {} verified responses had no Message-Authenticator",
                c.without_message_authenticator
            );
        }
        let _ = writeln!(
            s,
            "  throughput   {:.0} req/s over {:.2} s",
            self.rps(),
            self.elapsed.as_secs_f64()
        );
        if let (Some(cpu), Some(per)) = (self.cpu, self.cpu_us_per_request()) {
            let _ = writeln!(
                s,
                "  generator    {:.2} s CPU, {:.1} µs per request (its own cost, to compare with the server's)",
                cpu.as_secs_f64(),
                per
            );
        }
        let _ = writeln!(
            s,
            "  latency ms   p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  (mean {:.3})",
            ms(self.hist.quantile(0.50)),
            ms(self.hist.quantile(0.90)),
            ms(self.hist.quantile(0.99)),
            ms(self.hist.max()),
            ms(self.hist.mean()),
        );
        if cfg.servers.len() > 1 {
            for (addr, (n, c)) in cfg.servers.iter().zip(&self.per_server) {
                let _ = writeln!(
                    s,
                    "  {addr:<21} {n} in flight: sent {}, responses {}, timeouts {}",
                    c.sent,
                    c.responses(),
                    c.timeouts
                );
            }
        }
        s
    }
}

/// Split `concurrency` over sockets: `sockets` if given, else one socket per
/// 128 requests in flight and at least min(concurrency, 4).
pub fn plan_sockets(concurrency: usize, sockets: usize) -> Vec<usize> {
    let n = if sockets > 0 {
        sockets
    } else {
        concurrency.div_ceil(128).max(concurrency.min(4))
    };
    let n = n
        .max(concurrency.div_ceil(MAX_PER_SOCKET))
        .min(concurrency)
        .max(1);
    (0..n)
        .map(|i| concurrency / n + usize::from(i < concurrency % n))
        .collect()
}

/// Split `concurrency` evenly over `servers`, and the sockets
/// [`plan_sockets`] would use for one server over them too (at least one
/// each): (server index, requests in flight) per socket. Sockets carry the
/// same number of requests in flight as against one server.
pub fn plan_servers(concurrency: usize, sockets: usize, servers: usize) -> Vec<(usize, usize)> {
    let k = servers.clamp(1, concurrency.max(1));
    let total = plan_sockets(concurrency, sockets).len();
    let mut plan = Vec::new();
    for i in 0..k {
        let share = concurrency / k + usize::from(i < concurrency % k);
        let socks = (total / k + usize::from(i < total % k)).max(1);
        plan.extend(plan_sockets(share, socks).into_iter().map(|n| (i, n)));
    }
    plan
}

/// Run the load and return the report. `stop` ends sending early (Ctrl-C).
pub async fn run(cfg: LoadConfig, stop: Arc<AtomicBool>) -> io::Result<Report> {
    if cfg.servers.is_empty() || cfg.servers.len() > cfg.concurrency {
        return Err(io::Error::other(format!(
            "{} server(s) for {} request(s) in flight: give at least one server, and at most one per request in flight",
            cfg.servers.len(),
            cfg.concurrency
        )));
    }
    let cfg = Arc::new(cfg);
    let plan = plan_servers(cfg.concurrency, cfg.sockets, cfg.servers.len());
    let cpu_start = process_cpu_time();
    let start = Instant::now();
    let ctl = Arc::new(Control {
        measure_start: start + cfg.warmup,
        send_until: start + cfg.warmup + cfg.duration,
        budget: cfg.requests.map(AtomicU64::new),
        stop: AtomicBool::new(false),
    });
    {
        let ctl = ctl.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            ctl.stop.store(true, Ordering::Relaxed);
        });
    }
    let mut tasks = Vec::new();
    for (i, &(server, limit)) in plan.iter().enumerate() {
        tasks.push(tokio::spawn(shard(
            i,
            plan.len(),
            server,
            limit,
            cfg.clone(),
            ctl.clone(),
        )));
    }
    let mut per_server = vec![(0usize, Counts::default()); cfg.servers.len()];
    for &(server, limit) in &plan {
        per_server[server].0 += limit;
    }
    let mut counts = Counts::default();
    let mut hist = Histogram::default();
    let mut last: Option<Instant> = None;
    for t in tasks {
        let r = t
            .await
            .map_err(|e| io::Error::other(format!("load task failed: {e}")))??;
        counts.add(&r.counts);
        per_server[r.server].1.add(&r.counts);
        hist.merge(&r.hist);
        last = match (last, r.last_response) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    let end = last.unwrap_or_else(|| Instant::now().min(ctl.send_until));
    Ok(Report {
        counts,
        hist,
        elapsed: end.saturating_duration_since(ctl.measure_start),
        sockets: plan.len(),
        per_server,
        cpu: cpu_start
            .zip(process_cpu_time())
            .map(|(a, b)| b.saturating_sub(a)),
    })
}

#[derive(Clone, Copy, Default)]
struct Stream {
    code: u64,
    device: u64,
    /// Accounting: session number within this socket, and the next packet
    /// (0 = Start, 1..=interims = Interim-Update, interims+1 = Stop).
    session: u64,
    step: u32,
}

struct Pending {
    auth: [u8; 16],
    sent: Instant,
    stream: u32,
    seq: u64,
    measured: bool,
}

struct Shard {
    idx: usize,
    nshards: u64,
    cfg: Arc<LoadConfig>,
    rng: StdRng,
    run_id: u32,
    slots: Vec<Option<Pending>>,
    /// Request Authenticators of the last requests that timed out with each
    /// identifier (a small ring per identifier), to recognise late answers
    /// even after the identifier was used again.
    expired: Vec<[Option<[u8; 16]>; EXPIRED_KEPT]>,
    free_ids: VecDeque<u8>,
    /// (identifier, seq) in send order, for timeouts; stale entries are skipped.
    order: VecDeque<(u8, u64)>,
    streams: Vec<Stream>,
    idle: Vec<u32>,
    inflight: usize,
    seq: u64,
    next_device: u64,
    next_session: u64,
    counts: Counts,
    hist: Histogram,
    last_response: Option<Instant>,
    code_buf: Vec<u8>,
    text_buf: String,
}

fn local_addr_for(server: SocketAddr) -> SocketAddr {
    let ip: IpAddr = match (server.ip().is_loopback(), server.is_ipv6()) {
        (true, false) => Ipv4Addr::LOCALHOST.into(),
        (true, true) => Ipv6Addr::LOCALHOST.into(),
        (false, false) => Ipv4Addr::UNSPECIFIED.into(),
        (false, true) => Ipv6Addr::UNSPECIFIED.into(),
    };
    SocketAddr::new(ip, 0)
}

async fn shard(
    idx: usize,
    nshards: usize,
    server: usize,
    limit: usize,
    cfg: Arc<LoadConfig>,
    ctl: Arc<Control>,
) -> io::Result<ShardResult> {
    let addr = cfg.servers[server];
    let sock = net::udp_socket(local_addr_for(addr), cfg.socket_buffer)?;
    sock.connect(addr).await?;
    let mut rng = StdRng::from_entropy();
    let mut st = Shard {
        idx,
        nshards: nshards as u64,
        run_id: rng.gen(),
        rng,
        slots: (0..256).map(|_| None).collect(),
        expired: vec![[None; EXPIRED_KEPT]; 256],
        free_ids: (0..=255u8).collect(),
        order: VecDeque::with_capacity(1024),
        streams: vec![Stream::default(); limit],
        idle: (0..limit as u32).rev().collect(),
        inflight: 0,
        seq: 0,
        next_device: idx as u64,
        next_session: 0,
        counts: Counts::default(),
        hist: Histogram::default(),
        last_response: None,
        code_buf: Vec::with_capacity(64),
        text_buf: String::with_capacity(64),
        cfg,
    };
    let mut req = Vec::with_capacity(512);
    let mut rbuf = vec![0u8; wire::MAX_PACKET_LEN + 1];
    let mut scratch = Vec::with_capacity(512);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sending = true;
    // After a send error, pause sending until the next tick (no busy loop).
    let mut paused = false;
    loop {
        if sending && !paused {
            while let Some(&s) = st.idle.last() {
                let now = Instant::now();
                if now >= ctl.send_until || ctl.stop.load(Ordering::Relaxed) {
                    sending = false;
                    break;
                }
                let measured = now >= ctl.measure_start;
                if measured && !ctl.claim() {
                    sending = false;
                    break;
                }
                let Some(id) = st.free_ids.pop_front() else {
                    break;
                };
                st.idle.pop();
                let auth = st.build(s, id, &mut req);
                let sent_at = Instant::now();
                if let Err(e) = sock.send(&req).await {
                    tracing_send_error(&e);
                    st.counts.send_errors += 1;
                    st.free_ids.push_back(id);
                    st.idle.push(s);
                    paused = true;
                    break;
                }
                if measured {
                    st.counts.sent += 1;
                } else {
                    st.counts.warmup_sent += 1;
                }
                st.seq += 1;
                st.slots[id as usize] = Some(Pending {
                    auth,
                    sent: sent_at,
                    stream: s,
                    seq: st.seq,
                    measured,
                });
                st.order.push_back((id, st.seq));
                st.inflight += 1;
            }
        }
        if !sending && st.inflight == 0 {
            break;
        }
        tokio::select! {
            biased;
            r = sock.recv(&mut rbuf) => {
                match r {
                    Ok(n) => st.on_datagram(&rbuf[..n], &mut scratch),
                    Err(_) => st.counts.recv_errors += 1,
                }
                // Take whatever else is already waiting before sending more.
                for _ in 0..256 {
                    match sock.try_recv(&mut rbuf) {
                        Ok(n) => st.on_datagram(&rbuf[..n], &mut scratch),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => st.counts.recv_errors += 1,
                    }
                }
            }
            _ = tick.tick() => {
                paused = false;
                st.expire(Instant::now());
                if sending && (Instant::now() >= ctl.send_until || ctl.stop.load(Ordering::Relaxed)) {
                    sending = false;
                }
            }
        }
    }
    Ok(ShardResult {
        server,
        counts: st.counts,
        hist: st.hist,
        last_response: st.last_response,
    })
}

fn tracing_send_error(e: &io::Error) {
    // Loud only once per process: a refused port repeats every tick.
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        eprintln!("radgate-bench: send failed: {e}");
    }
}

impl Shard {
    /// Build the next request of stream `s` with identifier `id` into `out`;
    /// returns its Request Authenticator.
    fn build(&mut self, s: u32, id: u8, out: &mut Vec<u8>) -> [u8; 16] {
        let cfg = self.cfg.clone();
        let secret = &cfg.secret;
        let mut mac = [0u8; 17];
        match cfg.mode {
            Mode::AuthPap | Mode::AuthChap => {
                let code = self.rng.gen_range(0..cfg.codes);
                let device = if cfg.device_per_code {
                    code
                } else {
                    self.take_device()
                };
                cfg.code(code, &mut self.code_buf);
                device_mac(device, &mut mac);
                let mut auth = [0u8; 16];
                self.rng.fill_bytes(&mut auth);
                let mut b = Builder::new(
                    out,
                    wire::ACCESS_REQUEST,
                    id,
                    &auth,
                    cfg.message_authenticator,
                );
                b.attr(wire::ATTR_USER_NAME, &self.code_buf);
                if cfg.mode == Mode::AuthPap {
                    b.pap_password(&self.code_buf, secret);
                } else {
                    let mut challenge = [0u8; 16];
                    self.rng.fill_bytes(&mut challenge);
                    b.chap_password(id, &self.code_buf, &challenge);
                }
                b.attr(wire::ATTR_CALLING_STATION_ID, &mac)
                    .attr_u32(wire::ATTR_NAS_IP_ADDRESS, u32::from(cfg.nas_ip))
                    .attr(wire::ATTR_NAS_IDENTIFIER, b"radgate-bench")
                    .attr_u32(wire::ATTR_NAS_PORT, s);
                b.seal_access(secret);
                auth
            }
            Mode::Acct => {
                let interims = cfg.interims;
                let st = &mut self.streams[s as usize];
                if st.step == 0 {
                    st.code = self.rng.gen_range(0..cfg.codes);
                    st.device = self.next_device % cfg.devices;
                    self.next_device += self.nshards;
                    st.session = self.next_session;
                    self.next_session += 1;
                }
                let st = self.streams[s as usize];
                let (status, time) = if st.step == 0 {
                    (wire::ACCT_START, 0)
                } else if st.step <= interims {
                    (wire::ACCT_INTERIM_UPDATE, 60 * st.step)
                } else {
                    (wire::ACCT_STOP, 60 * st.step)
                };
                cfg.code(st.code, &mut self.code_buf);
                device_mac(st.device, &mut mac);
                self.text_buf.clear();
                let _ = write!(
                    self.text_buf,
                    "{:08X}{:04X}{:010X}",
                    self.run_id, self.idx, st.session
                );
                // Framed-IP-Address from 198.18.0.0/15 (RFC 2544, benchmarking).
                let framed =
                    0xC612_0000u32 | ((st.session * 64 + self.idx as u64) as u32 & 0x1_FFFF);
                let mut b = Builder::new(
                    out,
                    wire::ACCOUNTING_REQUEST,
                    id,
                    &[0u8; 16],
                    cfg.acct_message_authenticator,
                );
                b.attr_u32(wire::ATTR_ACCT_STATUS_TYPE, status)
                    .attr(wire::ATTR_ACCT_SESSION_ID, self.text_buf.as_bytes())
                    .attr(wire::ATTR_USER_NAME, &self.code_buf)
                    .attr(wire::ATTR_CALLING_STATION_ID, &mac)
                    .attr_u32(wire::ATTR_NAS_IP_ADDRESS, u32::from(cfg.nas_ip))
                    .attr(wire::ATTR_NAS_IDENTIFIER, b"radgate-bench")
                    .attr_u32(wire::ATTR_NAS_PORT, s)
                    .attr_u32(wire::ATTR_FRAMED_IP_ADDRESS, framed)
                    .attr_u32(wire::ATTR_ACCT_DELAY_TIME, 0);
                if status != wire::ACCT_START {
                    b.attr_u32(wire::ATTR_ACCT_SESSION_TIME, time)
                        .attr_u32(wire::ATTR_ACCT_INPUT_OCTETS, time * 1000)
                        .attr_u32(wire::ATTR_ACCT_OUTPUT_OCTETS, time * 5000);
                }
                if status == wire::ACCT_STOP {
                    // User-Request.
                    b.attr_u32(wire::ATTR_ACCT_TERMINATE_CAUSE, 1);
                }
                b.seal_accounting(secret);
                let mut auth = [0u8; 16];
                auth.copy_from_slice(&out[4..wire::HEADER_LEN]);
                auth
            }
        }
    }

    /// The next device of this socket's share of the pool: sockets
    /// interleave (socket i takes i, i+n, i+2n, ...), so no two requests use
    /// the same device until the pool wraps around.
    fn take_device(&mut self) -> u64 {
        let d = self.next_device % self.cfg.devices;
        self.next_device += self.nshards;
        d
    }

    /// The stream answered (or timed out): it moves to its next packet.
    fn advance(&mut self, s: u32) {
        if self.cfg.mode == Mode::Acct {
            let st = &mut self.streams[s as usize];
            st.step = if st.step > self.cfg.interims {
                0
            } else {
                st.step + 1
            };
        }
        self.idle.push(s);
    }

    fn release(&mut self, id: u8) -> Option<Pending> {
        let p = self.slots[id as usize].take()?;
        self.free_ids.push_back(id);
        self.inflight -= 1;
        // Drop stale entries at the front of the timeout queue.
        while let Some(&(i, seq)) = self.order.front() {
            match &self.slots[i as usize] {
                Some(q) if q.seq == seq => break,
                _ => {
                    self.order.pop_front();
                }
            }
        }
        Some(p)
    }

    fn on_datagram(&mut self, d: &[u8], scratch: &mut Vec<u8>) {
        let now = Instant::now();
        let Some(&id) = d.get(1) else {
            self.counts.bad += 1;
            return;
        };
        let verified = match &self.slots[id as usize] {
            Some(p) => wire::verify_response(d, &p.auth, &self.cfg.secret, scratch),
            None => Err(wire::BadResponse::Authenticator),
        };
        let (code, has_ma) = match verified {
            Ok(v) => v,
            Err(e) => {
                // A late answer to an earlier request with this identifier
                // that timed out? Otherwise it is bad (or matches nothing).
                // Either way the request in flight, if any, stays in flight.
                let secret = &self.cfg.secret;
                let late = self.expired[id as usize].iter_mut().find(|a| {
                    a.is_some_and(|auth| wire::verify_response(d, &auth, secret, scratch).is_ok())
                });
                if let Some(slot) = late {
                    *slot = None;
                    self.counts.late += 1;
                } else if self.slots[id as usize].is_none() && e == wire::BadResponse::Authenticator
                {
                    self.counts.unmatched += 1;
                } else {
                    self.counts.bad += 1;
                }
                return;
            }
        };
        let Some(p) = self.release(id) else { return };
        if p.measured {
            let c = &mut self.counts;
            let acct = self.cfg.mode == Mode::Acct;
            match code {
                wire::ACCESS_ACCEPT if !acct => c.accepts += 1,
                wire::ACCESS_REJECT if !acct => c.rejects += 1,
                wire::ACCOUNTING_RESPONSE if acct => c.accepts += 1,
                _ => c.other += 1,
            }
            if !has_ma {
                c.without_message_authenticator += 1;
            }
            self.hist
                .record(now.duration_since(p.sent).as_nanos() as u64);
            self.last_response = Some(now);
        } else {
            self.counts.warmup_answered += 1;
        }
        self.advance(p.stream);
    }

    fn expire(&mut self, now: Instant) {
        let timeout = self.cfg.timeout;
        while let Some(&(id, seq)) = self.order.front() {
            match &self.slots[id as usize] {
                Some(p) if p.seq == seq => {
                    if now.duration_since(p.sent) < timeout {
                        break;
                    }
                    let Some(p) = self.release(id) else { break };
                    let ring = &mut self.expired[id as usize];
                    ring.rotate_right(1);
                    ring[0] = Some(p.auth);
                    if p.measured {
                        self.counts.timeouts += 1;
                    }
                    self.advance(p.stream);
                }
                _ => {
                    self.order.pop_front();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LoadConfig {
        LoadConfig {
            servers: vec!["127.0.0.1:1812".parse().unwrap()],
            secret: Secret::new(b"testing123"),
            mode: Mode::AuthPap,
            codes: 10,
            code_start: 0,
            code_prefix: "BENCH".into(),
            code_width: 6,
            devices: 1000,
            device_per_code: false,
            concurrency: 1,
            sockets: 0,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            requests: None,
            timeout: Duration::from_secs(1),
            message_authenticator: true,
            acct_message_authenticator: false,
            nas_ip: Ipv4Addr::LOCALHOST,
            interims: 1,
            socket_buffer: 0,
        }
    }

    #[test]
    fn codes_are_zero_padded() {
        let mut c = cfg();
        let mut out = Vec::new();
        c.code(1, &mut out);
        assert_eq!(out, b"BENCH000001");
        c.code(999_999, &mut out);
        assert_eq!(out, b"BENCH999999");
        c.code_start = 5;
        c.code_width = 2;
        c.code(1000, &mut out);
        assert_eq!(out, b"BENCH1005");
    }

    /// A server that answers every request correctly but only after `delay`.
    async fn slow_server(delay: Duration) -> SocketAddr {
        let sock = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = sock.local_addr().unwrap();
        tokio::spawn(async move {
            let secret = Secret::new(b"testing123");
            let mut buf = vec![0u8; 4096];
            while let Ok((n, src)) = sock.recv_from(&mut buf).await {
                let req = buf[..n].to_vec();
                let (sock, secret) = (sock.clone(), secret.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let mut out = Vec::new();
                    wire::encode_response(&req, wire::ACCESS_ACCEPT, true, &secret, &mut out);
                    let _ = sock.send_to(&out, src).await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn timeouts_and_late_answers() {
        // 64 in flight on one socket time out after 30 ms, so identifiers
        // come round again every ~4 rounds, while the answers come after
        // 150 ms: late answers meet identifiers in use by newer requests.
        let mut c = cfg();
        c.servers = vec![slow_server(Duration::from_millis(150)).await];
        c.requests = Some(640);
        c.concurrency = 64;
        c.sockets = 1;
        c.duration = Duration::from_secs(30);
        c.timeout = Duration::from_millis(30);
        let r = run(c, Arc::new(AtomicBool::new(false))).await.unwrap();
        let k = &r.counts;
        assert_eq!(k.sent, 640);
        assert_eq!(k.timeouts + k.accepts, 640, "{k:?}");
        assert!(k.timeouts > 0, "{k:?}");
        // Answers that come after their request timed out are late, not bad,
        // even though the identifier was used again since. (Not asserted to
        // be exact: a stalled machine can reorder things.)
        assert!(k.late > 0, "{k:?}");
        assert!(k.late > 10 * k.bad, "{k:?}");
        assert!(!r.all_accepted());
    }

    #[tokio::test]
    async fn answers_in_time_are_accepted() {
        let mut c = cfg();
        c.servers = vec![slow_server(Duration::from_millis(1)).await];
        c.requests = Some(50);
        c.concurrency = 4;
        c.duration = Duration::from_secs(30);
        c.timeout = Duration::from_secs(10);
        let r = run(c, Arc::new(AtomicBool::new(false))).await.unwrap();
        assert!(r.all_accepted(), "{:?}", r.counts);
        assert_eq!(r.counts.accepts, 50);
        assert_eq!(r.hist.count(), 50);
        assert!(r.elapsed > Duration::ZERO);
    }

    #[test]
    fn cpu_time_is_readable_on_linux() {
        if cfg!(target_os = "linux") {
            let a = process_cpu_time().expect("/proc/self/stat");
            let mut x = 0u64;
            for i in 0..20_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
            assert!(process_cpu_time().unwrap() >= a);
        }
    }

    #[test]
    fn macs() {
        let mut m = [0u8; 17];
        device_mac(0x01_0203_0405, &mut m);
        assert_eq!(&m, b"02:01:02:03:04:05");
        device_mac(0xFF_FFFF_FFFF, &mut m);
        assert_eq!(&m, b"02:FF:FF:FF:FF:FF");
    }

    #[tokio::test]
    async fn two_servers_share_the_load() {
        let mut c = cfg();
        c.servers = vec![
            slow_server(Duration::from_millis(1)).await,
            slow_server(Duration::from_millis(1)).await,
        ];
        c.requests = Some(200);
        c.concurrency = 8;
        c.duration = Duration::from_secs(30);
        c.timeout = Duration::from_secs(10);
        let r = run(c.clone(), Arc::new(AtomicBool::new(false)))
            .await
            .unwrap();
        assert!(r.all_accepted(), "{:?}", r.counts);
        assert_eq!(r.counts.accepts, 200);
        assert_eq!(r.per_server.len(), 2);
        for (n, k) in &r.per_server {
            assert_eq!(*n, 4);
            assert!(k.accepts > 0, "{k:?}");
        }
        let both: u64 = r.per_server.iter().map(|(_, k)| k.accepts).sum();
        assert_eq!(both, 200);
        let j = r.to_json(&c);
        assert_eq!(j["per_server"].as_array().unwrap().len(), 2);
        assert!(j["server"].as_str().unwrap().contains(','));
        // More servers than requests in flight is refused.
        c.concurrency = 1;
        assert!(run(c, Arc::new(AtomicBool::new(false))).await.is_err());
    }

    #[test]
    fn server_plan() {
        assert_eq!(plan_servers(64, 0, 1), vec![(0, 16); 4]);
        assert_eq!(
            plan_servers(64, 0, 2),
            vec![(0, 16), (0, 16), (1, 16), (1, 16)]
        );
        assert_eq!(plan_servers(3, 0, 2), vec![(0, 1), (0, 1), (1, 1)]);
        assert_eq!(plan_servers(64, 2, 2), vec![(0, 32), (1, 32)]);
        assert_eq!(plan_servers(64, 1, 2), vec![(0, 32), (1, 32)]);
        assert_eq!(plan_servers(2, 0, 2), vec![(0, 1), (1, 1)]);
        // Never more than 256 in flight on one socket.
        assert!(plan_servers(5000, 2, 2)
            .iter()
            .all(|&(_, n)| n <= MAX_PER_SOCKET));
    }

    #[test]
    fn socket_plan() {
        assert_eq!(plan_sockets(1, 0), vec![1]);
        assert_eq!(plan_sockets(3, 0), vec![1, 1, 1]);
        assert_eq!(plan_sockets(64, 0), vec![16; 4]);
        assert_eq!(plan_sockets(256, 0), vec![64; 4]);
        assert_eq!(plan_sockets(1000, 0), vec![125; 8]);
        assert_eq!(plan_sockets(10, 3), vec![4, 3, 3]);
        // Never more than 256 in flight on one socket.
        assert_eq!(plan_sockets(600, 1), vec![200; 3]);
        assert!(plan_sockets(5000, 2).iter().all(|&n| n <= MAX_PER_SOCKET));
    }
}
