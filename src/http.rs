//! Serving HTTP (the admin API, the guest portal): HTTP/1.1 over TCP or
//! TLS, a bounded number of connections, each with a handshake timeout, a
//! header read timeout and a lifetime, so that slow or idle clients cannot
//! pin resources (or the shutdown). Handlers find the client's address as
//! `ConnectInfo<SocketAddr>`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use tokio::sync::watch;
use tower::ServiceExt as _;

/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 256;
/// A client must send a request's headers within this long.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection (with all its keep-alive requests) lives at most this long.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);

/// What a listener serves: its routes and, for HTTPS, its certificate. A
/// reload (SIGHUP) swaps in a new one: each new request and TLS handshake
/// takes the one current when it starts.
#[derive(Clone)]
pub struct Served {
    pub app: Router,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// The [`Served`] of a listener, swapped on reload.
pub type LiveServed = Arc<arc_swap::ArcSwap<Served>>;

/// Serve what `served` holds on `listener` until `stop`: HTTPS when it has
/// a certificate, else plain HTTP; at most [`MAX_CONNECTIONS`]
/// connections. `what` names the server in the log (the API, the portal);
/// with `log_peers` false no client address is logged (the portal's
/// guests).
pub fn serve(
    listener: tokio::net::TcpListener,
    served: LiveServed,
    mut stop: watch::Receiver<bool>,
    what: &'static str,
    log_peers: bool,
) -> tokio::task::JoinHandle<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    // A client opening connections in a loop must not flood the log.
    let full_log = crate::logging::LogLimiter::default();
    tokio::spawn(async move {
        loop {
            let (stream, addr) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::debug!(error = %e, "{what}: accept failed");
                        continue;
                    }
                },
                _ = stop.changed() => break,
            };
            let peer: &dyn std::fmt::Display = if log_peers { &addr } else { &"-" };
            let peer = peer.to_string();
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                if full_log.allow() {
                    tracing::warn!(%peer, "{what}: {MAX_CONNECTIONS} connections open; closing a new one");
                }
                continue;
            };
            let tls = served.load().tls.clone();
            let served = served.clone();
            tokio::spawn(async move {
                let served = async {
                    match tls {
                        None => connection(stream, served, addr).await,
                        Some(acceptor) => {
                            match tokio::time::timeout(
                                crate::tls::HANDSHAKE_TIMEOUT,
                                acceptor.accept(stream),
                            )
                            .await
                            {
                                Ok(Ok(s)) => connection(s, served, addr).await,
                                Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
                                Err(_) => Err("no TLS handshake in time".to_string()),
                            }
                        }
                    }
                };
                match tokio::time::timeout(CONNECTION_LIFETIME, served).await {
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "{what}: connection ended"),
                    Err(_) => {
                        tracing::debug!(%peer, "{what}: connection closed after {CONNECTION_LIFETIME:?}")
                    }
                    Ok(Ok(())) => {}
                }
                drop(slot);
            });
        }
    })
}

/// One connection, its requests carrying the client's address; each
/// request is served by the routes current when it arrives.
async fn connection<I>(io: I, served: LiveServed, addr: SocketAddr) -> Result<(), String>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = tower::service_fn(
        move |mut r: axum::extract::Request<hyper::body::Incoming>| {
            r.extensions_mut().insert(ConnectInfo(addr));
            let app: Router = served.load().app.clone();
            app.oneshot(r)
        },
    );
    let service = hyper_util::service::TowerToHyperService::new(service);
    hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(hyper_util::rt::TokioIo::new(io), service)
        .await
        .map_err(|e| e.to_string())
}
