//! UDP listeners, client lookup by source address, the retransmit cache and
//! dispatch to the handlers. No business rules here: decisions come from the
//! policy layer through the store's writer.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use radius::core::code::Code;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::cache::Key;
use super::cache::{Lookup, RetransmitCache};
use super::codec::{self, Attrs, DropReason, Request};
use super::disconnect;
use crate::config::{ClientConfig, Config, MaPolicy};
use crate::policy::accounting::{counter64, AcctStatus};
use crate::policy::auth::{Decision, RejectReason};
use crate::policy::reply;
use crate::store::{
    AcctJob, AcctOutcome, AuthJob, AuthOutcome, LiveSession, Store, Writer, WriterSettings,
};
use crate::token_parse::{device_id, normalize_mac};

/// How long `ServerHandle::shutdown` waits for tasks before aborting them.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
/// How long shutdown waits for the deferred LastAccess stamps to be written.
const STAMPS_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

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
}

impl Stats {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
    fn dropped(&self, r: DropReason) {
        Stats::bump(match r {
            DropReason::Malformed => &self.malformed,
            DropReason::UnexpectedCode => &self.unexpected_code,
            DropReason::BadAuthenticator => &self.bad_authenticator,
            DropReason::BadMessageAuthenticator => &self.bad_message_authenticator,
            DropReason::MissingMessageAuthenticator => &self.missing_message_authenticator,
        })
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

struct ClientState {
    cfg: ClientConfig,
    /// `auto`: set once the client has sent a Message-Authenticator.
    ma_learned: AtomicBool,
}

impl ClientState {
    fn requires_ma(&self) -> bool {
        match self.cfg.require_message_authenticator {
            MaPolicy::Yes => true,
            MaPolicy::No => false,
            MaPolicy::Auto => self.ma_learned.load(Ordering::Relaxed),
        }
    }
}

struct Shared {
    config: Arc<Config>,
    clients: Vec<ClientState>,
    writer: Writer,
    cache: RetransmitCache,
    stats: Arc<Stats>,
    /// Replies leave from the store's writer thread through this clone of
    /// the listening sockets (non-blocking).
    reply_sock: ReplySockets,
    replies: Replies,
    /// Dropped packets are logged at most a few times per second, so a
    /// flood cannot flood the log; the counters see every one.
    drop_log: LogLimiter,
    /// Runs Disconnect-Requests (spawned from the reply thread).
    runtime: tokio::runtime::Handle,
    /// Sessions with a Disconnect-Request under way: not asked twice at once.
    disconnecting: Arc<std::sync::Mutex<HashSet<(String, String)>>>,
}

/// Allows at most `LogLimiter::PER_SECOND` log lines per second.
#[derive(Debug, Default)]
pub(crate) struct LogLimiter {
    /// (second << 16) | count within that second.
    state: AtomicU64,
}

impl LogLimiter {
    const PER_SECOND: u64 = 10;

    pub(crate) fn allow(&self) -> bool {
        let sec = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
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

impl Shared {
    /// An access code as it may appear in the log.
    fn log_code(&self, code: &str) -> String {
        if self.config.server.mask_codes {
            mask_code(code)
        } else {
            code.to_string()
        }
    }

    fn client_index(&self, src: SocketAddr) -> Option<usize> {
        let ip = src.ip().to_canonical();
        self.clients
            .iter()
            .position(|c| c.cfg.network.contains(&ip))
    }
}

/// A running server. Dropping it does not stop it; call [`shutdown`](Self::shutdown).
pub struct ServerHandle {
    pub auth_addr: SocketAddr,
    pub acct_addr: SocketAddr,
    /// The HTTP API's bound address, when `[api] listen` is set.
    pub api_addr: Option<SocketAddr>,
    pub stats: Arc<Stats>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Entries held in the in-memory tables (all bounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUse {
    pub retransmit_cache: usize,
    pub throttled_devices: usize,
    pub throttled_nases: usize,
    pub good_devices: usize,
    /// LastAccess stamps waiting for their sweep (at most one per token).
    pub deferred_stamps: usize,
}

impl ServerHandle {
    /// Wait until every request answered so far is committed to the store
    /// (Access-Accepts are sent before their commit's fsync).
    pub async fn flush(&self) -> Result<(), crate::store::StoreError> {
        self.shared.writer.flush().await
    }

    pub fn memory_use(&self) -> MemoryUse {
        let g = self.shared.writer.gauges();
        MemoryUse {
            retransmit_cache: self.shared.cache.len(),
            throttled_devices: g.throttled_devices.load(Ordering::Relaxed),
            throttled_nases: g.throttled_nases.load(Ordering::Relaxed),
            good_devices: g.good_devices.load(Ordering::Relaxed),
            deferred_stamps: g.deferred_stamps.load(Ordering::Relaxed),
        }
    }

    /// Stop serving. Tasks get `SHUTDOWN_GRACE` to finish (the HTTP API
    /// lets requests in progress complete); whatever is left is aborted, so
    /// an idle or stalled HTTP connection cannot hold the process.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        for mut t in self.tasks {
            if tokio::time::timeout_at(deadline, &mut t).await.is_err() {
                t.abort();
                tracing::warn!("a task did not stop within {SHUTDOWN_GRACE:?}; aborted");
            }
        }
        // Deferred LastAccess stamps go to the database: bounded work
        // (measured: 629k stamps in 2.9 s), so a longer limit than the
        // tasks get.
        match tokio::time::timeout(STAMPS_GRACE, self.shared.writer.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot write LastAccess stamps at shutdown"),
            Err(_) => tracing::warn!("LastAccess stamps not written within {STAMPS_GRACE:?}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr} ({key}): {source}")]
    Bind {
        addr: SocketAddr,
        key: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Bind the listeners and start serving. Returns once the sockets are bound:
/// that is the readiness signal.
/// Socket buffers asked for (the kernel caps them at net.core.rmem_max /
/// wmem_max): bursts of logins queue here instead of being dropped.
const SOCKET_BUFFER: usize = 4 << 20;

/// Bind a listener. Returns the tokio socket for receiving, a non-blocking
/// clone for replies sent from the writer thread, and the bound address.
fn bind(
    addr: SocketAddr,
    key: &'static str,
) -> Result<(UdpSocket, std::net::UdpSocket, SocketAddr), ServeError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let err = |source| ServeError::Bind { addr, key, source };
    let sock =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    // Best effort: a smaller buffer still works.
    let _ = sock.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = sock.set_send_buffer_size(SOCKET_BUFFER);
    sock.bind(&addr.into()).map_err(err)?;
    sock.set_nonblocking(true).map_err(err)?;
    let std_sock: std::net::UdpSocket = sock.into();
    let reply = std_sock.try_clone().map_err(err)?;
    let local = std_sock.local_addr().map_err(err)?;
    let sock = UdpSocket::from_std(std_sock).map_err(err)?;
    Ok((sock, reply, local))
}

/// The non-blocking sockets replies leave from (the same ports requests
/// came to, as NASes require).
struct ReplySockets {
    auth: std::net::UdpSocket,
    acct: std::net::UdpSocket,
}

pub async fn start(config: Arc<Config>, store: &Store) -> Result<ServerHandle, ServeError> {
    let (auth_sock, auth_reply, auth_addr) = bind(config.server.auth_listen, "server.auth_listen")?;
    let (acct_sock, acct_reply, acct_addr) = bind(config.server.acct_listen, "server.acct_listen")?;
    let writer = store
        .spawn_writer(WriterSettings {
            case_sensitive_codes: config.auth.case_sensitive_codes,
            bind_mac_on_first_use: config.auth.bind_mac_on_first_use,
            pending_place_ttl: config.auth.pending_place_ttl.as_secs() as i64,
            throttle: config.throttle.clone(),
            synchronous: config.database.synchronous,
            stamp_sweep_every: crate::store::writer::LAST_ACCESS_SWEEP_EVERY,
        })
        .await?;
    let stats = Arc::new(Stats::default());
    let shared = Arc::new(Shared {
        clients: config
            .clients
            .iter()
            .map(|c| ClientState {
                cfg: c.clone(),
                ma_learned: AtomicBool::new(false),
            })
            .collect(),
        cache: RetransmitCache::new(config.server.duplicate_window, CACHE_CAPACITY),
        drop_log: LogLimiter::default(),
        reply_sock: ReplySockets {
            auth: auth_reply,
            acct: acct_reply,
        },
        replies: Replies::start().map_err(|source| ServeError::Bind {
            addr: auth_addr,
            key: "server.auth_listen",
            source,
        })?,
        config,
        writer,
        stats: stats.clone(),
        runtime: tokio::runtime::Handle::current(),
        disconnecting: Default::default(),
    });
    let (stop, stop_rx) = watch::channel(false);
    let tasks = vec![
        tokio::spawn(serve_loop(
            shared.clone(),
            Arc::new(auth_sock),
            Port::Auth,
            stop_rx.clone(),
        )),
        tokio::spawn(serve_loop(
            shared.clone(),
            Arc::new(acct_sock),
            Port::Acct,
            stop_rx.clone(),
        )),
        tokio::spawn(stamp_loop(shared.clone(), stop_rx.clone())),
        tokio::spawn(sweep_loop(shared.clone(), stop_rx)),
    ];
    let mut tasks = tasks;
    let api_addr = match shared.config.api.listen {
        None => None,
        Some(addr) => {
            let state = Arc::new(crate::api::ApiState {
                store: store.clone(),
                config: shared.config.clone(),
                writer: shared.writer.clone(),
            });
            let (bound, task) = crate::api::start(addr, state, stop.subscribe())
                .await
                .map_err(|source| ServeError::Bind {
                    addr,
                    key: "api.listen",
                    source,
                })?;
            tasks.push(task);
            Some(bound)
        }
    };
    tracing::info!("auth listening on {auth_addr}");
    tracing::info!("acct listening on {acct_addr}");
    Ok(ServerHandle {
        auth_addr,
        acct_addr,
        api_addr,
        stats,
        shared,
        stop,
        tasks,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Port {
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

/// Keep deferred LastAccess stamps going to the database while no requests
/// come (requests carry them otherwise; see store/stamps.rs).
async fn stamp_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        if shared
            .writer
            .gauges()
            .deferred_stamps
            .load(Ordering::Relaxed)
            > 0
        {
            if let Err(e) = shared.writer.write_stamps().await {
                tracing::warn!(error = %e, "cannot write LastAccess stamps");
            }
        }
    }
}

/// Close stale sessions and purge expired pending places, periodically.
async fn sweep_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let acct = &shared.config.accounting;
    let mut tick = tokio::time::interval(acct.sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        let now = chrono::Utc::now().timestamp();
        match shared
            .writer
            .sweep(now, acct.stale_after.as_secs() as i64)
            .await
        {
            Ok(o) => {
                if o.stale_closed > 0 {
                    shared
                        .stats
                        .stale_closed
                        .fetch_add(o.stale_closed, Ordering::Relaxed);
                    tracing::info!(
                        sessions = o.stale_closed,
                        "closed stale sessions (no accounting for {} s)",
                        acct.stale_after.as_secs()
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "stale-session sweep failed"),
        }
    }
}

async fn serve_loop(
    shared: Arc<Shared>,
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
        let stats = &shared.stats;
        Stats::bump(&stats.received);
        let Some(ci) = shared.client_index(src) else {
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
        let dg = &buf[..n];
        let Some((_, ident, auth)) = codec::peek_header(dg) else {
            stats.dropped(DropReason::Malformed);
            continue;
        };
        let client = &shared.clients[ci];
        let secret = client.cfg.secret.as_bytes();
        let req = match codec::decode_request(dg, secret, port.codes()) {
            Ok(r) => r,
            Err(r) => {
                stats.dropped(r);
                if shared.drop_log.allow() {
                    tracing::warn!(%src, client = %client.cfg.name, "dropped: {}", r.as_str());
                }
                continue;
            }
        };
        if req.has_message_authenticator {
            // `auto` learns from Access-Requests only: a NAS that signs its
            // accounting need not sign its logins.
            if port == Port::Auth
                && client.cfg.require_message_authenticator == MaPolicy::Auto
                && !client.ma_learned.swap(true, Ordering::Relaxed)
            {
                tracing::info!(client = %client.cfg.name, "client sends Message-Authenticator; requiring it from now on");
            }
        } else if (port == Port::Auth && client.requires_ma()) || req.code == Code::StatusServer {
            stats.dropped(DropReason::MissingMessageAuthenticator);
            if shared.drop_log.allow() {
                tracing::warn!(%src, client = %client.cfg.name, "dropped: {}", DropReason::MissingMessageAuthenticator.as_str());
            }
            continue;
        }
        if port == Port::Auth
            && client.cfg.limit_proxy_state
            && !req.has_message_authenticator
            && req.has_attr(codec::ATTR_PROXY_STATE)
        {
            Stats::bump(&stats.proxy_state_without_ma);
            if shared.drop_log.allow() {
                tracing::warn!(%src, client = %client.cfg.name, "dropped: Proxy-State without Message-Authenticator (limit_proxy_state)");
            }
            continue;
        }
        if req.code == Code::StatusServer {
            Stats::bump(&stats.status_server);
            let mut a = Attrs::default();
            a.push_string(codec::ATTR_REPLY_MESSAGE, "radgate ok");
            let code = match port {
                Port::Auth => Code::AccessAccept,
                Port::Acct => Code::AccountingResponse,
            };
            if let Some(bytes) = codec::encode_response(&req, code, &a, secret) {
                let _ = sock.send_to(&bytes, src).await;
            }
            continue;
        }
        let key = (src, ident, auth);
        match shared.cache.check(key, Instant::now()) {
            Lookup::New => {}
            Lookup::InProgress => {
                Stats::bump(&stats.duplicates);
                continue;
            }
            Lookup::Done(resp) => {
                Stats::bump(&stats.duplicates);
                let _ = sock.send_to(&resp, src).await;
                continue;
            }
        }
        let nas_ip = src.ip().to_canonical();
        let submitted = match port {
            Port::Auth => submit_access(&shared, ci, nas_ip, src, key, req),
            Port::Acct => submit_accounting(&shared, ci, nas_ip, src, key, req),
        };
        if let Err(e) = submitted {
            shared.cache.abandon(&key);
            Stats::bump(&stats.store_errors);
            if shared.drop_log.allow() {
                tracing::warn!(%src, error = %e, "request not answered (the NAS will retry)");
            }
        }
    }
}

/// Mask an access code for logs: the first two characters, then stars.
pub fn mask_code(code: &str) -> String {
    let mut out: String = code.chars().take(2).collect();
    out.extend(std::iter::repeat_n(
        '*',
        code.chars().count().saturating_sub(2).min(8),
    ));
    out
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

/// Send a reply (non-blocking; a full socket buffer drops it and the NAS
/// retries) and remember it for retransmissions.
fn deliver(shared: &Shared, port: Port, key: &Key, src: SocketAddr, reply: Option<Vec<u8>>) {
    match reply {
        Some(bytes) => {
            let bytes: Arc<[u8]> = Arc::from(bytes);
            shared.cache.complete(key, bytes.clone());
            let sock = match port {
                Port::Auth => &shared.reply_sock.auth,
                Port::Acct => &shared.reply_sock.acct,
            };
            if sock.send_to(&bytes, src).is_err() {
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
    src: SocketAddr,
    key: Key,
    req: Request,
) -> Result<(), crate::store::StoreError> {
    let client = &shared.clients[ci];
    let user_name = req.user_name().unwrap_or_default();
    let csid = req.calling_station_id();
    let device = csid.as_deref().and_then(device_id);
    let device_mac = csid.as_deref().and_then(|c| normalize_mac(c).ok());
    let job = AuthJob {
        user_name: user_name.clone(),
        credential: req.credential(),
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
        src,
        move |sh, outcome: AuthOutcome| {
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
    src: SocketAddr,
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
                    tracing::error!(error = %e, "store error; request not answered (the NAS will retry)");
                    None
                }
            };
            deliver(&sh, port, &key, src, reply);
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
            tracing::info!(
                code = %shared.log_code(user_name),
                nas = %client.cfg.name,
                device = device.unwrap_or("-"),
                session_timeout = g.session_timeout,
                "Access-Accept"
            );
            Code::AccessAccept
        }
        Decision::Reject(r) => {
            Stats::bump(&shared.stats.access_rejects);
            if *r == RejectReason::Throttled {
                Stats::bump(&shared.stats.throttled);
            }
            attrs.push_string(codec::ATTR_REPLY_MESSAGE, reject_message(cfg, *r));
            tracing::info!(
                code = %shared.log_code(user_name),
                nas = %client.cfg.name,
                device = device.unwrap_or("-"),
                reason = r.as_str(),
                "Access-Reject"
            );
            Code::AccessReject
        }
    };
    codec::encode_response(req, code, &attrs, secret)
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
    src: SocketAddr,
    key: Key,
    req: Request,
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
        src,
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
    let code = shared.log_code(user_name.unwrap_or(""));
    let session = session_id.unwrap_or("-");
    match outcome.ignored {
        Some(why) => {
            Stats::bump(&shared.stats.acct_ignored);
            tracing::info!(status = status.as_str(), %code, nas = %client.cfg.name, session, "Accounting-Response (nothing recorded: {why})");
        }
        None => tracing::info!(
            status = status.as_str(),
            %code,
            nas = %client.cfg.name,
            session,
            charged = outcome.charged,
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

/// The token ran out of time while these sessions run: ask their NASes to
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
                    tracing::info!(%code, nas = %t.client, session, "no time left: session disconnected (Disconnect-ACK)");
                }
                o => {
                    Stats::bump(&stats.disconnect_failed);
                    tracing::warn!(%code, nas = %t.client, session, to = %t.addr, "no time left: disconnect failed: {}", o.describe());
                }
            }
        });
    }
}

/// The configured Reply-Message for a reject reason.
pub fn reject_message(cfg: &Config, r: RejectReason) -> &str {
    let m = &cfg.messages;
    match r {
        RejectReason::UnknownCode => &m.unknown_code,
        RejectReason::WrongPassword => &m.wrong_password,
        RejectReason::NotYetValid => &m.not_yet_valid,
        RejectReason::Expired => &m.expired,
        RejectReason::AlreadyUsed => &m.already_used,
        RejectReason::NoMinutesLeft => &m.no_minutes_left,
        RejectReason::MacMismatch => &m.mac_mismatch,
        RejectReason::UserLimitReached => &m.user_limit_reached,
        RejectReason::Throttled => &m.throttled,
    }
}
