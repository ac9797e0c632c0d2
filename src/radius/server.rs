//! UDP listeners, client lookup by source address, the retransmit cache and
//! dispatch to the handlers. No business rules here: decisions come from the
//! policy layer through the store's writer.
//!
//! A request goes the same way whether it came as a UDP datagram or over a
//! RadSec connection (`radsec.rs`): [`handle`] checks it, answers
//! duplicates from the retransmit cache and hands it to the store's writer;
//! the reply thread builds the answer and [`Via::send`] delivers it (a UDP
//! datagram from the port the request came to, or a frame queued to the
//! TLS connection's writer task).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;

use radius::core::code::Code;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::cache::{Key, Lookup, RetransmitCache, Source};
use super::codec::{self, Attrs, DropReason, Request};
use super::disconnect;
use crate::config::{ClientConfig, Config, MaPolicy};
use crate::logging::{mask_code, LogLimiter};
use crate::policy::accounting::{counter64, AcctStatus};
use crate::policy::auth::{Decision, RejectReason};
use crate::policy::reply;
use crate::store::{AcctJob, AcctOutcome, AuthJob, AuthOutcome, LiveSession, Writer};
use crate::token::parse::{device_id, normalize_mac};

/// How long a Status-Server waits for the store before it goes unanswered.
const STATUS_STORE_BOUND: std::time::Duration = std::time::Duration::from_secs(2);

/// Entries the retransmit cache holds at most.
const CACHE_CAPACITY: usize = 65_536;

/// Counters, readable while the server runs.
#[derive(Debug, Default)]
pub struct Stats {
    pub received: AtomicU64,
    pub unknown_client: AtomicU64,
    pub malformed: AtomicU64,
    pub unexpected_code: AtomicU64,
    pub bad_authenticator: AtomicU64,
    pub bad_message_authenticator: AtomicU64,
    pub missing_message_authenticator: AtomicU64,
    pub duplicates: AtomicU64,
    pub access_accepts: AtomicU64,
    pub access_rejects: AtomicU64,
    pub acct_responses: AtomicU64,
    pub acct_ignored: AtomicU64,
    pub stale_closed: AtomicU64,
    pub status_server: AtomicU64,
    pub throttled: AtomicU64,
    pub proxy_state_without_ma: AtomicU64,
    pub send_errors: AtomicU64,
    pub store_errors: AtomicU64,
    /// Disconnect-Requests (RFC 5176) sent, and how they ended.
    pub disconnect_sent: AtomicU64,
    pub disconnect_acked: AtomicU64,
    pub disconnect_failed: AtomicU64,
    /// RadSec connections that completed their TLS handshake, and those
    /// refused (unknown address, too many, failed or slow handshake).
    pub radsec_connections: AtomicU64,
    pub radsec_refused: AtomicU64,
    /// Seconds from a request's arrival to its answer's send.
    pub latency: Latency,
    /// Reloads of the configuration file (SIGHUP) that took, and that were
    /// refused (the running configuration stayed).
    pub config_reloads: AtomicU64,
    pub config_reload_failures: AtomicU64,
    /// When the configuration serving now was loaded (Unix seconds).
    pub config_loaded_at: AtomicI64,
}

/// Request latency histograms, by port. Observed on the reply thread.
#[derive(Debug)]
pub struct Latency {
    pub access: prometheus_client::metrics::histogram::Histogram,
    pub accounting: prometheus_client::metrics::histogram::Histogram,
}

impl Default for Latency {
    fn default() -> Self {
        use prometheus_client::metrics::histogram::Histogram;
        // 0.25 ms to 5 s.
        let buckets = [
            0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        Latency {
            access: Histogram::new(buckets),
            accounting: Histogram::new(buckets),
        }
    }
}

impl Stats {
    pub(super) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
    pub(super) fn dropped(&self, r: DropReason) {
        Stats::bump(match r {
            DropReason::Malformed => &self.malformed,
            DropReason::UnexpectedCode => &self.unexpected_code,
            DropReason::BadAuthenticator => &self.bad_authenticator,
            DropReason::BadMessageAuthenticator => &self.bad_message_authenticator,
            DropReason::MissingMessageAuthenticator => &self.missing_message_authenticator,
        })
    }
    /// The counters a traffic summary shows.
    pub fn summary(&self) -> Summary {
        let g = Stats::get;
        Summary {
            accepts: g(&self.access_accepts),
            rejects: g(&self.access_rejects),
            throttled: g(&self.throttled),
            accounting: g(&self.acct_responses),
            dropped: self.dropped_total(),
            duplicates: g(&self.duplicates),
            store_errors: g(&self.store_errors),
        }
    }

    /// Total of datagrams dropped without an answer.
    pub fn dropped_total(&self) -> u64 {
        [
            &self.unknown_client,
            &self.malformed,
            &self.unexpected_code,
            &self.bad_authenticator,
            &self.bad_message_authenticator,
            &self.missing_message_authenticator,
            &self.proxy_state_without_ma,
        ]
        .iter()
        .map(|c| Stats::get(c))
        .sum()
    }
}

/// `ClientState::ma_learned_at` before the client has sent a
/// Message-Authenticator.
const NOT_LEARNT: i64 = i64::MIN;

/// Counts of requests by outcome (totals, or the difference of two).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub accepts: u64,
    pub rejects: u64,
    /// Rejects that were throttled (also counted in `rejects`).
    pub throttled: u64,
    pub accounting: u64,
    pub dropped: u64,
    pub duplicates: u64,
    pub store_errors: u64,
}

impl Summary {
    /// What happened between `earlier` and this.
    pub fn since(&self, earlier: &Summary) -> Summary {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        Summary {
            accepts: d(self.accepts, earlier.accepts),
            rejects: d(self.rejects, earlier.rejects),
            throttled: d(self.throttled, earlier.throttled),
            accounting: d(self.accounting, earlier.accounting),
            dropped: d(self.dropped, earlier.dropped),
            duplicates: d(self.duplicates, earlier.duplicates),
            store_errors: d(self.store_errors, earlier.store_errors),
        }
    }

    pub fn is_quiet(&self) -> bool {
        *self == Summary::default()
    }
}

pub(super) struct ClientState {
    cfg: ClientConfig,
    /// `auto`: when (Unix seconds) the client first sent an Access-Request
    /// with a Message-Authenticator; `NOT_LEARNT` before.
    ma_learned_at: AtomicI64,
}

impl ClientState {
    fn requires_ma(&self) -> bool {
        match self.cfg.require_message_authenticator {
            MaPolicy::Yes => true,
            MaPolicy::No => false,
            MaPolicy::Auto => self.learned_at().is_some(),
        }
    }

    fn learned_at(&self) -> Option<i64> {
        Some(self.ma_learned_at.load(Ordering::Relaxed)).filter(|&t| t != NOT_LEARNT)
    }

    /// Records that the client signs its Access-Requests; true the first
    /// time.
    fn learn_ma(&self, now: i64) -> bool {
        self.ma_learned_at
            .compare_exchange(NOT_LEARNT, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Why a request from this client was likely dropped, for the log.
    fn drop_cause(&self, r: DropReason) -> String {
        match r {
            DropReason::BadAuthenticator | DropReason::BadMessageAuthenticator => {
                "; wrong shared secret? (the NAS and radgate's [[client]] must have the same)"
                    .into()
            }
            DropReason::MissingMessageAuthenticator => {
                match (self.cfg.require_message_authenticator, self.learned_at()) {
                    (MaPolicy::Auto, Some(t)) => format!(
                        "; this client now must send Message-Authenticator, learnt at {} from an earlier \
                         Access-Request that had one (require_message_authenticator = \"auto\"; a restart \
                         forgets it, \"no\" never requires it)",
                        crate::token::parse::format_utc(crate::token::ts(t))
                    ),
                    (MaPolicy::Yes, _) => {
                        "; this client must send Message-Authenticator (require_message_authenticator = \"yes\")".into()
                    }
                    _ => "; Status-Server must carry Message-Authenticator (RFC 5997)".into(),
                }
            }
            DropReason::UnexpectedCode => {
                "; accounting to the authentication port, or the reverse? (server.auth_listen and \
                 server.acct_listen must match the NAS's ports)"
                    .into()
            }
            DropReason::Malformed => String::new(),
        }
    }
}

/// What the RADIUS loops share. A reload (SIGHUP) makes a new `Shared`
/// with the new configuration and clients and the same everything else
/// (cache, sockets, counters, writer); a request holds the `Shared` it
/// arrived under until it is answered, so it finishes with the
/// configuration it started with.
pub(super) struct Shared {
    pub(super) config: Arc<Config>,
    clients: Vec<ClientState>,
    writer: Writer,
    cache: Arc<RetransmitCache>,
    pub(super) stats: Arc<Stats>,
    /// Replies leave from the store's writer thread through this clone of
    /// the listening sockets (non-blocking).
    reply_sock: Arc<ReplySockets>,
    replies: Replies,
    /// Dropped packets are logged at most a few times per second, so a
    /// flood cannot flood the log; the counters see every one.
    pub(super) drop_log: Arc<LogLimiter>,
    /// Access-Reject lines, likewise.
    reject_log: Arc<LogLimiter>,
    /// Runs Disconnect-Requests (spawned from the reply thread).
    runtime: tokio::runtime::Handle,
    /// Sessions with a Disconnect-Request under way: not asked twice at once.
    disconnecting: Arc<std::sync::Mutex<HashSet<(String, String)>>>,
}

impl Shared {
    /// An access code as it may appear in the log.
    fn log_code(&self, code: &str) -> String {
        if self.config.server.mask_codes {
            mask_code(code)
        } else {
            code.to_string()
        }
    }

    /// The client whose range covers `src`, among the UDP clients
    /// (`radsec` false) or the RadSec ones.
    pub(super) fn client_index(&self, src: SocketAddr, radsec: bool) -> Option<usize> {
        let ip = src.ip().to_canonical();
        self.clients
            .iter()
            .position(|c| c.cfg.radsec == radsec && c.cfg.network.contains(&ip))
    }

    pub(super) fn client_name(&self, ci: usize) -> &str {
        self.clients.get(ci).map_or("-", |c| c.cfg.name.as_str())
    }
}

/// Socket buffers asked for (the kernel caps them at net.core.rmem_max /
/// wmem_max): bursts of logins queue here instead of being dropped.
const SOCKET_BUFFER: usize = 4 << 20;

/// A bound UDP port: the socket requests arrive on (tokio) and a
/// non-blocking clone replies leave from (the same port, as NASes require).
pub struct UdpListener {
    sock: UdpSocket,
    reply: std::net::UdpSocket,
    pub addr: SocketAddr,
}

impl UdpListener {
    /// Bind `addr` with large socket buffers.
    pub fn bind(addr: SocketAddr) -> std::io::Result<UdpListener> {
        use socket2::{Domain, Protocol, Socket, Type};
        let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        // Best effort: a smaller buffer still works.
        let _ = sock.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = sock.set_send_buffer_size(SOCKET_BUFFER);
        sock.bind(&addr.into())?;
        sock.set_nonblocking(true)?;
        let std_sock: std::net::UdpSocket = sock.into();
        let reply = std_sock.try_clone()?;
        let addr = std_sock.local_addr()?;
        let sock = UdpSocket::from_std(std_sock)?;
        Ok(UdpListener { sock, reply, addr })
    }
}

/// The non-blocking sockets replies leave from (the same ports requests
/// came to, as NASes require).
struct ReplySockets {
    auth: std::net::UdpSocket,
    acct: std::net::UdpSocket,
}

/// The RADIUS side of a running daemon: the receive loops of both ports
/// and the reply thread.
pub struct RadiusServer {
    pub stats: Arc<Stats>,
    shared: Arc<ArcSwap<Shared>>,
    /// The receive loops; they end when `stop` changes.
    pub tasks: Vec<JoinHandle<()>>,
}

/// Where a request came from and how its answer leaves.
pub(super) enum Via {
    /// A datagram to `port` from `src`: answered from the same port.
    Udp { port: Port, src: SocketAddr },
    /// A RadSec connection: answered through its writer task.
    Tls(TlsPeer),
}

/// A request's RadSec connection, as the request holds it until answered.
pub(super) struct TlsPeer {
    /// The connection's number (the retransmit cache's key).
    pub conn: u64,
    pub peer: SocketAddr,
    /// Frames to the connection's writer task (bounded; a full queue drops
    /// the answer, as a full UDP buffer would).
    pub tx: tokio::sync::mpsc::Sender<Arc<[u8]>>,
    /// One of the connection's slots for requests in flight, given back
    /// when the request is answered or dropped.
    pub _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Via {
    fn src(&self) -> SocketAddr {
        match self {
            Via::Udp { src, .. } => *src,
            Via::Tls(t) => t.peer,
        }
    }

    fn source(&self) -> Source {
        match self {
            Via::Udp { src, .. } => Source::Udp(*src),
            Via::Tls(t) => Source::Tls(t.conn),
        }
    }

    /// The codes accepted this way: RadSec carries all three on one
    /// connection (RFC 6614 §2.5).
    fn codes(&self) -> &'static [Code] {
        match self {
            Via::Udp { port, .. } => port.codes(),
            Via::Tls(_) => &[
                Code::AccessRequest,
                Code::AccountingRequest,
                Code::StatusServer,
            ],
        }
    }

    /// What answers a Status-Server (RFC 5997 §3: Access-Accept, or
    /// Accounting-Response on an accounting port).
    fn status_answer(&self) -> Code {
        match self {
            Via::Udp {
                port: Port::Acct, ..
            } => Code::AccountingResponse,
            _ => Code::AccessAccept,
        }
    }

    /// Send an answer without waiting; false when it could not leave.
    fn send(&self, shared: &Shared, bytes: &Arc<[u8]>) -> bool {
        match self {
            Via::Udp { port, src } => {
                let sock = match port {
                    Port::Auth => &shared.reply_sock.auth,
                    Port::Acct => &shared.reply_sock.acct,
                };
                sock.send_to(bytes, *src).is_ok()
            }
            Via::Tls(t) => t.tx.try_send(bytes.clone()).is_ok(),
        }
    }
}

impl RadiusServer {
    /// Entries in the retransmit cache.
    pub fn cached_replies(&self) -> usize {
        self.shared.load().cache.len()
    }

    /// Serve new requests with `config`'s clients, secrets, messages and
    /// reply attributes; requests under way finish with the old ones. A
    /// client kept (same name and range) keeps what it learnt
    /// (Message-Authenticator under `auto`).
    pub fn reload(&self, config: Arc<Config>) {
        let old = self.shared.load_full();
        let clients = config
            .clients
            .iter()
            .map(|c| {
                let learnt = old
                    .clients
                    .iter()
                    .find(|o| o.cfg.name == c.name && o.cfg.network == c.network)
                    .map_or(NOT_LEARNT, |o| o.ma_learned_at.load(Ordering::Relaxed));
                ClientState {
                    cfg: c.clone(),
                    ma_learned_at: AtomicI64::new(learnt),
                }
            })
            .collect();
        self.shared.store(Arc::new(Shared {
            config,
            clients,
            writer: old.writer.clone(),
            cache: old.cache.clone(),
            stats: old.stats.clone(),
            reply_sock: old.reply_sock.clone(),
            replies: old.replies.clone(),
            drop_log: old.drop_log.clone(),
            reject_log: old.reject_log.clone(),
            runtime: old.runtime.clone(),
            disconnecting: old.disconnecting.clone(),
        }));
    }
}

/// Serve RADIUS on the bound ports, deciding through `writer`, until `stop`
/// changes.
pub fn start(
    config: Arc<Config>,
    writer: Writer,
    auth: UdpListener,
    acct: UdpListener,
    radsec: Option<tokio::net::TcpListener>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<RadiusServer> {
    let stats = Arc::new(Stats::default());
    stats
        .config_loaded_at
        .store(chrono::Utc::now().timestamp(), Ordering::Relaxed);
    let shared = Arc::new(ArcSwap::from_pointee(Shared {
        clients: config
            .clients
            .iter()
            .map(|c| ClientState {
                cfg: c.clone(),
                ma_learned_at: AtomicI64::new(NOT_LEARNT),
            })
            .collect(),
        cache: Arc::new(RetransmitCache::new(
            config.server.duplicate_window,
            CACHE_CAPACITY,
        )),
        drop_log: Default::default(),
        reject_log: Default::default(),
        reply_sock: Arc::new(ReplySockets {
            auth: auth.reply,
            acct: acct.reply,
        }),
        replies: Replies::start()?,
        config,
        writer,
        stats: stats.clone(),
        runtime: tokio::runtime::Handle::current(),
        disconnecting: Default::default(),
    }));
    let mut tasks = vec![
        tokio::spawn(serve_loop(
            shared.clone(),
            Arc::new(auth.sock),
            Port::Auth,
            stop.clone(),
        )),
        tokio::spawn(serve_loop(
            shared.clone(),
            Arc::new(acct.sock),
            Port::Acct,
            stop.clone(),
        )),
    ];
    if let Some(listener) = radsec {
        tasks.push(super::radsec::serve(listener, shared.clone(), stop));
    }
    Ok(RadiusServer {
        stats,
        shared,
        tasks,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Port {
    Auth,
    Acct,
}

impl Port {
    fn codes(self) -> &'static [Code] {
        match self {
            Port::Auth => &[Code::AccessRequest, Code::StatusServer],
            Port::Acct => &[Code::AccountingRequest, Code::StatusServer],
        }
    }
}

async fn serve_loop(
    current: Arc<ArcSwap<Shared>>,
    sock: Arc<UdpSocket>,
    port: Port,
    mut stop: watch::Receiver<bool>,
) {
    // One byte more than the RADIUS maximum, to notice oversized datagrams.
    let mut buf = vec![0u8; codec::MAX_PACKET_LEN + 1];
    loop {
        let (n, src) = tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok(v) => v,
                Err(e) => {
                    // ICMP errors surface here on some systems; keep serving.
                    tracing::debug!(error = %e, "recv_from failed");
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let arrived = Instant::now();
        // The configuration this request is served with, to its answer.
        let shared = current.load_full();
        let stats = &shared.stats;
        Stats::bump(&stats.received);
        let Some(ci) = shared.client_index(src, false) else {
            Stats::bump(&stats.unknown_client);
            if shared.drop_log.allow() {
                tracing::warn!(%src, "request from an address no client covers; dropped");
            }
            continue;
        };
        if n > codec::MAX_PACKET_LEN {
            stats.dropped(DropReason::Malformed);
            if shared.drop_log.allow() {
                tracing::warn!(%src, len = n, "datagram larger than 4096 bytes; dropped");
            }
            continue;
        }
        handle(&shared, ci, &buf[..n], Via::Udp { port, src }, arrived);
    }
}

/// A request (`packet`, at most 4096 bytes) arrived from client `ci` via
/// `via`: decode and check it, answer a duplicate from the retransmit
/// cache, answer Status-Server, hand Access- and Accounting-Requests to the
/// store's writer (the reply thread answers them). Whatever is wrong with
/// it is counted and it is dropped; never panics on its bytes.
pub(super) fn handle(shared: &Arc<Shared>, ci: usize, packet: &[u8], via: Via, arrived: Instant) {
    let stats = &shared.stats;
    let src = via.src();
    let Some((_, ident, auth)) = codec::peek_header(packet) else {
        stats.dropped(DropReason::Malformed);
        return;
    };
    let Some(client) = shared.clients.get(ci) else {
        return;
    };
    let secret = client.cfg.secret.as_bytes();
    let req = match codec::decode_request(packet, secret, via.codes()) {
        Ok(r) => r,
        Err(r) => {
            stats.dropped(r);
            if shared.drop_log.allow() {
                tracing::warn!(%src, client = %client.cfg.name, "dropped: {}{}", r.as_str(), client.drop_cause(r));
            }
            return;
        }
    };
    let is_access = req.code == Code::AccessRequest;
    if req.has_message_authenticator {
        // `auto` learns from Access-Requests only: a NAS that signs its
        // accounting need not sign its logins.
        if is_access
            && client.cfg.require_message_authenticator == MaPolicy::Auto
            && client.learn_ma(chrono::Utc::now().timestamp())
        {
            tracing::info!(client = %client.cfg.name, "client sends Message-Authenticator; requiring it from now on");
        }
    } else if (is_access && client.requires_ma()) || req.code == Code::StatusServer {
        let r = DropReason::MissingMessageAuthenticator;
        stats.dropped(r);
        if shared.drop_log.allow() {
            tracing::warn!(%src, client = %client.cfg.name, "dropped: {}{}", r.as_str(), client.drop_cause(r));
        }
        return;
    }
    if is_access
        && client.cfg.limit_proxy_state
        && !req.has_message_authenticator
        && req.has_attr(codec::ATTR_PROXY_STATE)
    {
        Stats::bump(&stats.proxy_state_without_ma);
        if shared.drop_log.allow() {
            tracing::warn!(%src, client = %client.cfg.name, "dropped: Proxy-State without Message-Authenticator (limit_proxy_state)");
        }
        return;
    }
    if req.code == Code::StatusServer {
        Stats::bump(&stats.status_server);
        // Answered only while the store answers (RFC 5997 §4: a server
        // that cannot do its work should not say it is alive): the
        // answer waits for an empty commit through the writer.
        let sh = shared.clone();
        tokio::spawn(async move {
            let ready = tokio::time::timeout(STATUS_STORE_BOUND, sh.writer.flush()).await;
            if !matches!(ready, Ok(Ok(()))) {
                if sh.drop_log.allow() {
                    tracing::warn!(%src, "Status-Server not answered: the store does not answer");
                }
                return;
            }
            let mut a = Attrs::default();
            a.push_string(codec::ATTR_REPLY_MESSAGE, "radgate ok");
            let Some(c) = sh.clients.get(ci) else { return };
            let secret = c.cfg.secret.as_bytes();
            if let Some(bytes) = codec::encode_response(&req, via.status_answer(), &a, secret) {
                if !via.send(&sh, &Arc::from(bytes)) {
                    Stats::bump(&sh.stats.send_errors);
                }
            }
        });
        return;
    }
    let key = (via.source(), ident, auth);
    match shared.cache.check(key, Instant::now()) {
        Lookup::New => {}
        Lookup::InProgress => {
            Stats::bump(&stats.duplicates);
            return;
        }
        Lookup::Done(resp) => {
            Stats::bump(&stats.duplicates);
            if !via.send(shared, &resp) {
                Stats::bump(&stats.send_errors);
            }
            return;
        }
    }
    let nas_ip = src.ip().to_canonical();
    let submitted = if is_access {
        submit_access(shared, ci, nas_ip, via, key, req, arrived)
    } else {
        submit_accounting(shared, ci, nas_ip, via, key, req, arrived)
    };
    if let Err(e) = submitted {
        shared.cache.abandon(&key);
        Stats::bump(&stats.store_errors);
        if shared.drop_log.allow() {
            tracing::warn!(%src, error = %e, "request not answered (the NAS will retry)");
        }
    }
}

/// The reply thread: encodes, logs and sends replies in the order the store
/// decided them, so that the store's writer only decides. One hop through a
/// channel instead of a task per request.
#[derive(Clone)]
struct Replies {
    tx: std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>,
}

impl Replies {
    fn start() -> std::io::Result<Replies> {
        let (tx, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        std::thread::Builder::new()
            .name("radgate-reply".into())
            .spawn(move || {
                // Ends when the last sender (held by the server) is dropped.
                for job in rx {
                    job();
                }
            })?;
        Ok(Replies { tx })
    }

    fn post(&self, job: impl FnOnce() + Send + 'static) {
        let _ = self.tx.send(Box::new(job));
    }
}

/// Send a reply (non-blocking; a full socket buffer or connection queue
/// drops it and the NAS retries) and remember it for retransmissions.
fn deliver(shared: &Shared, via: &Via, key: &Key, reply: Option<Vec<u8>>) {
    match reply {
        Some(bytes) => {
            let bytes: Arc<[u8]> = Arc::from(bytes);
            shared.cache.complete(key, bytes.clone());
            if !via.send(shared, &bytes) {
                Stats::bump(&shared.stats.send_errors);
            }
        }
        None => shared.cache.abandon(key),
    }
}

fn submit_access(
    shared: &Arc<Shared>,
    ci: usize,
    nas_ip: IpAddr,
    via: Via,
    key: Key,
    req: Request,
    arrived: Instant,
) -> Result<(), crate::store::StoreError> {
    let client = &shared.clients[ci];
    let src = via.src();
    let user_name = req.user_name().unwrap_or_default();
    let csid = req.calling_station_id();
    let device = csid.as_deref().and_then(device_id);
    let device_mac = csid.as_deref().and_then(|c| normalize_mac(c).ok());
    let credential = req.credential();
    let garbled = credential.is_garbled() || req.pap_padding_garbled();
    let job = AuthJob {
        user_name: user_name.clone(),
        credential,
        device: device.clone(),
        device_mac,
        nas: nas_ip.to_string(),
        business_id: client.cfg.business_id,
        accept_any_password: client.cfg.accept_any_password,
        now: chrono::Utc::now().timestamp(),
    };
    let then = reply_later(
        shared,
        Port::Auth,
        key,
        via,
        arrived,
        move |sh, outcome: AuthOutcome| {
            if garbled && outcome.decision == Decision::Reject(RejectReason::WrongPassword) {
                let client = &sh.clients[ci];
                if sh.drop_log.allow() {
                    tracing::warn!(%src, client = %client.cfg.name, "Access-Reject for a wrong password that is not text: \
                        wrong shared secret? (the NAS hides User-Password with it; the NAS and radgate's [[client]] \
                        must have the same)");
                }
            }
            access_reply(sh, ci, &req, &outcome, &user_name, device.as_deref())
        },
    );
    shared.writer.authorize_then(job, then)
}

/// The store's continuation for a request: hands the outcome to the reply
/// thread, which builds the reply with `build` and delivers it. A store
/// error leaves the request unanswered (the NAS retries).
fn reply_later<T: Send + 'static>(
    shared: &Arc<Shared>,
    port: Port,
    key: Key,
    via: Via,
    arrived: Instant,
    build: impl FnOnce(&Shared, T) -> Option<Vec<u8>> + Send + 'static,
) -> impl FnOnce(Result<T, crate::store::StoreError>) + Send + 'static {
    let sh = shared.clone();
    move |result| {
        let replies = sh.replies.clone();
        replies.post(move || {
            let reply = match result {
                Ok(outcome) => build(&sh, outcome),
                Err(e) => {
                    Stats::bump(&sh.stats.store_errors);
                    // A full disk is logged by the writer (once, then every
                    // minute), not once per request.
                    let disk_full = sh.writer.gauges().disk_full.load(Ordering::Relaxed);
                    if !disk_full && sh.drop_log.allow() {
                        tracing::error!(error = %e, "store error; request not answered (the NAS will retry)");
                    }
                    None
                }
            };
            let answered = reply.is_some();
            deliver(&sh, &via, &key, reply);
            if answered {
                let h = match port {
                    Port::Auth => &sh.stats.latency.access,
                    Port::Acct => &sh.stats.latency.accounting,
                };
                h.observe(arrived.elapsed().as_secs_f64());
            }
        });
    }
}

/// The Access-Accept/Reject for a decision.
fn access_reply(
    shared: &Shared,
    ci: usize,
    req: &Request,
    outcome: &AuthOutcome,
    user_name: &str,
    device: Option<&str>,
) -> Option<Vec<u8>> {
    let client = &shared.clients[ci];
    let cfg = &shared.config;
    let secret = client.cfg.secret.as_bytes();
    let mut attrs = Attrs::default();
    let code = match &outcome.decision {
        Decision::Accept(g) => {
            Stats::bump(&shared.stats.access_accepts);
            attrs.push_u32(codec::ATTR_SESSION_TIMEOUT, g.session_timeout);
            if let Some(b) = g.bytes_left {
                push_total_limit(&mut attrs, reply::total_limit(b));
            }
            if cfg.auth.acct_interim_interval > 0 {
                attrs.push_u32(
                    codec::ATTR_ACCT_INTERIM_INTERVAL,
                    cfg.auth.acct_interim_interval,
                );
            }
            if let Some(a) = &outcome.accepted {
                push_reply_plan(
                    &mut attrs,
                    &reply::plan(
                        &cfg.reply,
                        a.business_id,
                        a.rate_limit.as_deref(),
                        a.window_end,
                    ),
                );
            }
            tracing::debug!(
                code = %shared.log_code(user_name),
                nas = %client.cfg.name,
                device = device.unwrap_or("-"),
                session_timeout = g.session_timeout,
                bytes_left = g.bytes_left,
                "Access-Accept"
            );
            Code::AccessAccept
        }
        Decision::Reject(r) => {
            Stats::bump(&shared.stats.access_rejects);
            if *r == RejectReason::Throttled {
                Stats::bump(&shared.stats.throttled);
            }
            attrs.push_string(codec::ATTR_REPLY_MESSAGE, cfg.messages.for_reason(*r));
            // Why a guest was refused is what support asks: info, but
            // limited (a guessing flood is counted in the summary).
            if shared.reject_log.allow() {
                tracing::info!(
                    code = %shared.log_code(user_name),
                    nas = %client.cfg.name,
                    device = device.unwrap_or("-"),
                    reason = r.as_str(),
                    "Access-Reject"
                );
            }
            Code::AccessReject
        }
    };
    codec::encode_response(req, code, &attrs, secret)
}

/// A data allowance's remainder (SPEC §12), for RouterOS and ChilliSpot /
/// CoovaChilli NASes alike (each ignores the other's vendor).
fn push_total_limit(attrs: &mut Attrs, l: reply::TotalLimit) {
    let o = l.octets.to_be_bytes();
    attrs.push_vendor(codec::VENDOR_MIKROTIK, codec::MIKROTIK_TOTAL_LIMIT, &o);
    attrs.push_vendor(
        codec::VENDOR_CHILLISPOT,
        codec::CHILLISPOT_MAX_TOTAL_OCTETS,
        &o,
    );
    if let Some(g) = l.gigawords {
        let g = g.to_be_bytes();
        attrs.push_vendor(
            codec::VENDOR_MIKROTIK,
            codec::MIKROTIK_TOTAL_LIMIT_GIGAWORDS,
            &g,
        );
        attrs.push_vendor(
            codec::VENDOR_CHILLISPOT,
            codec::CHILLISPOT_MAX_TOTAL_GIGAWORDS,
            &g,
        );
    }
}

/// The optional Access-Accept attributes (SPEC §2), see `[reply]`.
fn push_reply_plan(attrs: &mut Attrs, p: &reply::ReplyPlan) {
    if let Some(t) = p.idle_timeout {
        attrs.push_u32(codec::ATTR_IDLE_TIMEOUT, t);
    }
    if let Some(c) = &p.class {
        attrs.push_string(codec::ATTR_CLASS, c);
    }
    if let Some(r) = &p.rate_limit {
        attrs.push_vendor(
            codec::VENDOR_MIKROTIK,
            codec::MIKROTIK_RATE_LIMIT,
            r.as_bytes(),
        );
    }
    if let Some(b) = p.bandwidth {
        // Integer attributes: rates beyond 4 Gbit/s are sent as the maximum.
        let v = |bps: u64| u32::try_from(bps).unwrap_or(u32::MAX).to_be_bytes();
        attrs.push_vendor(codec::VENDOR_WISPR, codec::WISPR_BANDWIDTH_MAX_UP, &v(b.up));
        attrs.push_vendor(
            codec::VENDOR_WISPR,
            codec::WISPR_BANDWIDTH_MAX_DOWN,
            &v(b.down),
        );
    }
    if let Some(t) = &p.terminate_time {
        attrs.push_vendor(
            codec::VENDOR_WISPR,
            codec::WISPR_SESSION_TERMINATE_TIME,
            t.as_bytes(),
        );
    }
}

fn submit_accounting(
    shared: &Arc<Shared>,
    ci: usize,
    nas_ip: IpAddr,
    via: Via,
    key: Key,
    req: Request,
    arrived: Instant,
) -> Result<(), crate::store::StoreError> {
    let client = &shared.clients[ci];
    let Some(status) = codec::acct_status_type(&req).map(AcctStatus::from_u32) else {
        Stats::bump(&shared.stats.acct_ignored);
        tracing::warn!(client = %client.cfg.name, "Accounting-Request without Acct-Status-Type; dropped");
        shared.cache.abandon(&key);
        return Ok(());
    };
    let u = |t| req.u32_attr(t);
    let user_name = req.user_name();
    let job = AcctJob {
        status,
        nas: nas_ip.to_string(),
        acct_session_id: req.string_attr(codec::ATTR_ACCT_SESSION_ID),
        user_name: user_name.clone(),
        device: req.calling_station_id().as_deref().and_then(device_id),
        framed_ip: req
            .ipv4_attr(codec::ATTR_FRAMED_IP_ADDRESS)
            .map(|ip| ip.to_string()),
        session_time: u(codec::ATTR_ACCT_SESSION_TIME).map(i64::from),
        terminate_cause: u(codec::ATTR_ACCT_TERMINATE_CAUSE),
        input_octets: counter64(
            u(codec::ATTR_ACCT_INPUT_OCTETS),
            u(codec::ATTR_ACCT_INPUT_GIGAWORDS),
        ),
        output_octets: counter64(
            u(codec::ATTR_ACCT_OUTPUT_OCTETS),
            u(codec::ATTR_ACCT_OUTPUT_GIGAWORDS),
        ),
        input_packets: u(codec::ATTR_ACCT_INPUT_PACKETS)
            .map(i64::from)
            .unwrap_or(0),
        output_packets: u(codec::ATTR_ACCT_OUTPUT_PACKETS)
            .map(i64::from)
            .unwrap_or(0),
        business_id: client.cfg.business_id,
        delay: u(codec::ATTR_ACCT_DELAY_TIME).map_or(0, i64::from),
        now: chrono::Utc::now().timestamp(),
    };
    let session_id = job.acct_session_id.clone();
    let then = reply_later(
        shared,
        Port::Acct,
        key,
        via,
        arrived,
        move |sh, outcome: AcctOutcome| {
            accounting_reply(
                sh,
                ci,
                &req,
                status,
                &outcome,
                user_name.as_deref(),
                session_id.as_deref(),
            )
        },
    );
    shared.writer.account_then(job, then)
}

/// The Accounting-Response once the update is committed.
fn accounting_reply(
    shared: &Shared,
    ci: usize,
    req: &Request,
    status: AcctStatus,
    outcome: &AcctOutcome,
    user_name: Option<&str>,
    session_id: Option<&str>,
) -> Option<Vec<u8>> {
    let client = &shared.clients[ci];
    Stats::bump(&shared.stats.acct_responses);
    let code = || shared.log_code(user_name.unwrap_or(""));
    let session = session_id.unwrap_or("-");
    match outcome.ignored {
        // Acknowledged but not recorded: what an admin looks for when a
        // code is not charged (limited: a misconfigured NAS repeats it).
        Some(why) => {
            Stats::bump(&shared.stats.acct_ignored);
            if shared.reject_log.allow() {
                tracing::info!(status = status.as_str(), code = %code(), nas = %client.cfg.name, session, "Accounting-Response (nothing recorded: {why})");
            }
        }
        None => tracing::debug!(
            status = status.as_str(),
            code = %code(),
            nas = %client.cfg.name,
            session,
            charged = outcome.charged,
            bytes = outcome.bytes,
            closed = outcome.closed,
            "Accounting-Response"
        ),
    }
    if !outcome.disconnect.is_empty() {
        disconnect_sessions(shared, &outcome.disconnect);
    }
    codec::encode_response(
        req,
        Code::AccountingResponse,
        &Attrs::default(),
        client.cfg.secret.as_bytes(),
    )
}

/// The token ran out of time or data while these sessions run: ask their NASes to
/// end them (clients with a `coa_port` only). Runs on the tokio runtime; the
/// outcome is logged and counted.
fn disconnect_sessions(shared: &Shared, sessions: &[LiveSession]) {
    let targets = disconnect::targets(&shared.config, sessions);
    if targets.len() < sessions.len() {
        tracing::debug!(
            "{} live session(s) on an exhausted code are on NASes without coa_port; not disconnected",
            sessions.len() - targets.len()
        );
    }
    let local = Some(shared.config.server.acct_listen.ip());
    for t in targets {
        let key = (t.session.nas.clone(), t.session.acct_session_id.clone());
        {
            let Ok(mut busy) = shared.disconnecting.lock() else {
                return;
            };
            if !busy.insert(key.clone()) {
                continue;
            }
        }
        Stats::bump(&shared.stats.disconnect_sent);
        let code = shared.log_code(&t.session.user_name);
        let stats = shared.stats.clone();
        let busy = shared.disconnecting.clone();
        shared.runtime.spawn(async move {
            let outcome = disconnect::send(&t, local).await;
            if let Ok(mut b) = busy.lock() {
                b.remove(&key);
            }
            let session = t.session.acct_session_id.as_str();
            match outcome {
                disconnect::Outcome::Ack => {
                    Stats::bump(&stats.disconnect_acked);
                    tracing::info!(%code, nas = %t.client, session, "no time or data left: session disconnected (Disconnect-ACK)");
                }
                o => {
                    Stats::bump(&stats.disconnect_failed);
                    tracing::warn!(%code, nas = %t.client, session, to = %t.addr, "no time or data left: disconnect failed: {}", o.describe());
                }
            }
        });
    }
}
