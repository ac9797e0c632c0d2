//! `radgate serve` assembled: the listeners, the store's writer, the RADIUS
//! receive loops, the HTTP API and the background loops (LastAccess stamps,
//! stale sessions, the traffic summary), and their orderly shutdown. The
//! only place that knows all the parts.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::radius::server::{self as radius_server, RadiusServer, Stats, UdpListener};
use crate::store::{Store, Writer, WriterSettings};

/// How long `ServerHandle::shutdown` waits for tasks before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long shutdown waits for the deferred LastAccess stamps to be written.
const STAMPS_GRACE: Duration = Duration::from_secs(30);
/// How often the traffic summary is logged (when there was traffic).
const SUMMARY_EVERY: Duration = Duration::from_secs(60);

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

/// Every port `serve` listens on, bound. Bound before the database is
/// opened, so that a port in use stops `serve` before it creates or
/// migrates a database file.
pub struct Listeners {
    auth: UdpListener,
    acct: UdpListener,
    api: Option<tokio::net::TcpListener>,
    portal: Option<tokio::net::TcpListener>,
    radsec: Option<tokio::net::TcpListener>,
}

impl Listeners {
    pub async fn bind(config: &Config) -> Result<Listeners, ServeError> {
        let udp = |addr, key| {
            UdpListener::bind(addr).map_err(|source| ServeError::Bind { addr, key, source })
        };
        let auth = udp(config.server.auth_listen, "server.auth_listen")?;
        let acct = udp(config.server.acct_listen, "server.acct_listen")?;
        let api =
            match config.api.listen {
                None => None,
                Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(
                    |source| ServeError::Bind {
                        addr,
                        key: "api.listen",
                        source,
                    },
                )?),
            };
        let portal =
            match config.portal.listen {
                None => None,
                Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(
                    |source| ServeError::Bind {
                        addr,
                        key: "portal.listen",
                        source,
                    },
                )?),
            };
        let radsec =
            match config.radsec.listen {
                None => None,
                Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(
                    |source| ServeError::Bind {
                        addr,
                        key: "radsec.listen",
                        source,
                    },
                )?),
            };
        Ok(Listeners {
            auth,
            acct,
            api,
            portal,
            radsec,
        })
    }
}

/// Bind the listeners and start serving. Returns once the sockets are bound:
/// that is the readiness signal.
pub async fn start(config: Arc<Config>, store: &Store) -> Result<ServerHandle, ServeError> {
    let listeners = Listeners::bind(&config).await?;
    start_on(config, store, listeners).await
}

/// Start serving on listeners already bound.
pub async fn start_on(
    config: Arc<Config>,
    store: &Store,
    listeners: Listeners,
) -> Result<ServerHandle, ServeError> {
    let writer = store
        .spawn_writer(WriterSettings {
            case_sensitive_codes: config.auth.case_sensitive_codes,
            bind_mac_on_first_use: config.auth.bind_mac_on_first_use,
            pending_place_ttl: config.auth.pending_place_ttl.as_secs() as i64,
            throttle: config.throttle.clone(),
            synchronous: config.database.synchronous,
            stamp_sweep_every: crate::store::LAST_ACCESS_SWEEP_EVERY,
        })
        .await?;
    let (stop, stop_rx) = watch::channel(false);
    let (auth_addr, acct_addr) = (listeners.auth.addr, listeners.acct.addr);
    let radsec_addr = listeners.radsec.as_ref().and_then(|l| l.local_addr().ok());
    let radius = radius_server::start(
        config.clone(),
        writer.clone(),
        listeners.auth,
        listeners.acct,
        listeners.radsec,
        stop_rx.clone(),
    )
    .map_err(|source| ServeError::Bind {
        addr: auth_addr,
        key: "server.auth_listen",
        source,
    })?;
    let stats = radius.stats.clone();
    let mut tasks = vec![
        tokio::spawn(stamp_loop(writer.clone(), stop_rx.clone())),
        tokio::spawn(sweep_loop(
            writer.clone(),
            config.clone(),
            stats.clone(),
            stop_rx.clone(),
        )),
        tokio::spawn(summary_loop(stats.clone(), stop_rx.clone())),
    ];
    let metrics = Arc::new(crate::metrics::Metrics::new(stats.clone(), writer.clone()));
    let sign_ins = Arc::new(crate::ui::SignInThrottle::default());
    let mut api = None;
    let api_addr = match listeners.api {
        None => None,
        Some(listener) => {
            let bound = listener.local_addr().ok();
            let served = Arc::new(ArcSwap::from_pointee(api_served(
                &config, store, &writer, &metrics, &sign_ins,
            )));
            tasks.push(crate::api::start(listener, served.clone(), stop_rx.clone()));
            api = Some(served);
            if let Some(a) = bound {
                tracing::info!("HTTP API listening on {a}");
            }
            bound
        }
    };
    let mut portal = None;
    let portal_addr = match listeners.portal {
        None => None,
        Some(listener) => {
            let bound = listener.local_addr().ok();
            let served = Arc::new(ArcSwap::from_pointee(crate::portal::server::served(
                config.clone(),
                store.clone(),
            )));
            tasks.push(crate::portal::server::start(
                listener,
                served.clone(),
                stop_rx,
            ));
            portal = Some(served);
            if let Some(a) = bound {
                let scheme = if config.portal.tls.is_some() {
                    "https"
                } else {
                    "http"
                };
                tracing::info!("guest portal listening on {a} ({scheme})");
            }
            bound
        }
    };
    tracing::info!("auth listening on {auth_addr}");
    tracing::info!("acct listening on {acct_addr}");
    if let Some(a) = radsec_addr {
        tracing::info!("radsec listening on {a} (RADIUS over TLS)");
    }
    Ok(ServerHandle {
        auth_addr,
        acct_addr,
        radsec_addr,
        api_addr,
        portal_addr,
        stats,
        writer,
        radius,
        stop,
        tasks,
        reload: Reloadable {
            config: ArcSwap::new(config),
            store: store.clone(),
            metrics,
            sign_ins,
            api,
            portal,
        },
    })
}

/// The API's and web UI's routes for `config`.
fn api_served(
    config: &Arc<Config>,
    store: &Store,
    writer: &Writer,
    metrics: &Arc<crate::metrics::Metrics>,
    sign_ins: &Arc<crate::ui::SignInThrottle>,
) -> crate::http::Served {
    let state = Arc::new(crate::api::ApiState {
        store: store.clone(),
        config: config.clone(),
        writer: writer.clone(),
        metrics: metrics.clone(),
    });
    crate::api::served(state, sign_ins.clone())
}

/// What a reload swaps, and what it keeps.
struct Reloadable {
    /// The configuration serving now.
    config: ArcSwap<Config>,
    store: Store,
    metrics: Arc<crate::metrics::Metrics>,
    sign_ins: Arc<crate::ui::SignInThrottle>,
    api: Option<crate::http::LiveServed>,
    portal: Option<crate::http::LiveServed>,
}

/// What a reload did.
#[derive(Debug, Default)]
pub struct Reloaded {
    /// Settings that changed but take a restart: `(key, why)`.
    pub need_restart: Vec<String>,
}

/// A running server. Dropping it does not stop it; call [`shutdown`](Self::shutdown).
pub struct ServerHandle {
    pub auth_addr: SocketAddr,
    pub acct_addr: SocketAddr,
    /// The HTTP API's bound address, when `[api] listen` is set.
    pub api_addr: Option<SocketAddr>,
    /// The guest portal's bound address, when `[portal] listen` is set.
    pub portal_addr: Option<SocketAddr>,
    /// RadSec's bound address, when `[radsec] listen` is set.
    pub radsec_addr: Option<SocketAddr>,
    pub stats: Arc<Stats>,
    writer: Writer,
    radius: RadiusServer,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    reload: Reloadable,
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
        self.writer.flush().await
    }

    /// Serve new requests with `new` (already loaded and validated): the
    /// RADIUS clients, secrets, messages and reply attributes, businesses,
    /// brute-force limits, the API's, web UI's and portal's settings and
    /// certificates. Requests under way finish with the configuration they
    /// started with. What cannot change without a restart (listen
    /// addresses, the database, …) keeps its old value and is named in
    /// the answer.
    pub async fn reload(&self, new: Config) -> Reloaded {
        let r = &self.reload;
        let old = r.config.load_full();
        let need_restart = old.restart_needed(&new);
        let new = Arc::new(new);
        self.radius.reload(new.clone());
        if let Err(e) = self.writer.set_throttle(new.throttle.clone()).await {
            tracing::warn!(error = %e, "reload: the brute-force limits stay as they were");
        }
        if let Some(api) = &r.api {
            api.store(Arc::new(api_served(
                &new,
                &r.store,
                &self.writer,
                &r.metrics,
                &r.sign_ins,
            )));
        }
        if let Some(portal) = &r.portal {
            portal.store(Arc::new(crate::portal::server::served(
                new.clone(),
                r.store.clone(),
            )));
        }
        r.config.store(new);
        Reloaded { need_restart }
    }

    pub fn memory_use(&self) -> MemoryUse {
        let g = self.writer.gauges();
        MemoryUse {
            retransmit_cache: self.radius.cached_replies(),
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
        for mut t in self.tasks.into_iter().chain(self.radius.tasks) {
            if tokio::time::timeout_at(deadline, &mut t).await.is_err() {
                t.abort();
                tracing::warn!("a task did not stop within {SHUTDOWN_GRACE:?}; aborted");
            }
        }
        // Deferred LastAccess stamps go to the database: bounded work
        // (measured: 629k stamps in 2.9 s), so a longer limit than the
        // tasks get.
        match tokio::time::timeout(STAMPS_GRACE, self.writer.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot write LastAccess stamps at shutdown"),
            Err(_) => tracing::warn!("LastAccess stamps not written within {STAMPS_GRACE:?}"),
        }
    }
}

/// Keep deferred LastAccess stamps going to the database while no requests
/// come (requests carry them otherwise; see store/stamps.rs).
async fn stamp_loop(writer: Writer, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        if writer.gauges().deferred_stamps.load(Ordering::Relaxed) > 0 {
            if let Err(e) = writer.write_stamps().await {
                tracing::warn!(error = %e, "cannot write LastAccess stamps");
            }
        }
    }
}

/// Close stale sessions and purge expired pending places, periodically.
async fn sweep_loop(
    writer: Writer,
    config: Arc<Config>,
    stats: Arc<Stats>,
    mut stop: watch::Receiver<bool>,
) {
    let acct = &config.accounting;
    let mut tick = tokio::time::interval(acct.sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        let now = chrono::Utc::now().timestamp();
        match writer.sweep(now, acct.stale_after.as_secs() as i64).await {
            Ok(o) => {
                if o.stale_closed > 0 {
                    stats
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

/// One `info` line per minute with what the server did, when it did
/// anything: per-request lines for accepted logins and accounting are
/// `debug` (see [`crate::logging::init`]).
async fn summary_loop(stats: Arc<Stats>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(SUMMARY_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut last = stats.summary();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        let now = stats.summary();
        let d = now.since(&last);
        if !d.is_quiet() {
            tracing::info!(
                accepts = d.accepts,
                rejects = d.rejects,
                throttled = d.throttled,
                accounting = d.accounting,
                dropped = d.dropped,
                duplicates = d.duplicates,
                store_errors = d.store_errors,
                "last {} s",
                SUMMARY_EVERY.as_secs()
            );
        }
        last = now;
    }
}
