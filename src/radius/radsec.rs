//! RadSec: RADIUS over TLS over TCP (RFC 6614), on `[radsec] listen`
//! (port 2083).
//!
//! Decisions:
//! - A connection's source address must be covered by a `[[client]]` with
//!   `radsec = true`; otherwise it is closed *before* the TLS handshake (no
//!   handshake work for strangers), logged at most a few times per second
//!   and counted as an unknown client. The client certificate must verify
//!   against `client_ca` (TLS 1.2 or 1.3, rustls); its names are not
//!   compared with the client entry: the CA and the address together admit
//!   a NAS.
//! - Frames are RADIUS packets back to back: a 4-byte header is read, its
//!   Length (20 to 4096) says how much follows. A Length out of range is
//!   garbage: the connection is closed (there is no way to find the next
//!   packet). A packet that fails its checks (authenticator, code, …) is
//!   dropped and counted as for UDP; the connection stays.
//! - Each packet goes the UDP path's way ([`super::server::handle`]): the
//!   same decisions, the same retransmit cache (keyed by the connection,
//!   never mixing with UDP sources), Accounting-Responses only after commit.
//!   Answers are queued to the connection's writer task (bounded; a full
//!   queue drops the answer, as a full UDP buffer would), so many requests
//!   are in flight per connection, answered as they are decided (matched by
//!   Identifier, not by order). At most [`MAX_IN_FLIGHT`] per connection:
//!   beyond that the reader waits, and TCP pushes back on the client.
//! - The shared secret is the client's `secret`, "radsec" when unset (RFC
//!   6614 §2.3); it still signs Message-Authenticator and the response
//!   authenticators.
//! - Bounds: `max_connections` open at once (more are closed at once), a
//!   handshake within `handshake_timeout` (10 s), a connection without a
//!   request for `idle_timeout` (300 s; NASes keep theirs with
//!   Status-Server) is closed, a write stalled for [`WRITE_TIMEOUT`] closes
//!   the connection.
//! - Reload: each new connection takes the certificate, key, client CA,
//!   timeouts and clients of the configuration current when it arrives;
//!   each packet the clients and secrets current when it arrives (a client
//!   removed by a reload has its connections closed at their next packet).
//!   `listen` and `max_connections` take a restart.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

use super::codec::{self, DropReason};
use super::server::{handle, Shared, Stats, TlsPeer, Via};

/// Requests in flight on one connection (RADIUS Identifiers allow 256).
pub const MAX_IN_FLIGHT: usize = 256;
/// Answers queued for one connection's writer.
const QUEUE: usize = 256;
/// A write (the client does not read) that takes longer closes the
/// connection.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// After the reading side ends, how long answers in flight may still go out.
const DRAIN: Duration = Duration::from_secs(5);

/// Accept RadSec connections on `listener` until `stop` changes.
pub(super) fn serve(
    listener: TcpListener,
    current: Arc<ArcSwap<Shared>>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let max = current.load().config.radsec.max_connections;
    let slots = Arc::new(Semaphore::new(max));
    let next_conn = AtomicU64::new(1);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::debug!(error = %e, "radsec: accept failed");
                        // E.g. out of file descriptors: do not spin.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stop.changed() => break,
            };
            let shared = current.load_full();
            let stats = &shared.stats;
            let Some(tls) = shared.config.radsec.tls.as_ref() else {
                if shared.drop_log.allow() {
                    tracing::warn!(%peer, "radsec: turned off in the configuration; connection closed (a restart stops listening)");
                }
                continue;
            };
            let Some(ci) = shared.client_index(peer, true) else {
                Stats::bump(&stats.unknown_client);
                Stats::bump(&stats.radsec_refused);
                if shared.drop_log.allow() {
                    tracing::warn!(%peer, "radsec: connection from an address no [[client]] with radsec = true covers; closed");
                }
                continue;
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                Stats::bump(&stats.radsec_refused);
                if shared.drop_log.allow() {
                    tracing::warn!(%peer, "radsec: {max} connections open (radsec.max_connections); closing a new one");
                }
                continue;
            };
            let _ = stream.set_nodelay(true);
            let conn = next_conn.fetch_add(1, Ordering::Relaxed);
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
            let name = shared.client_name(ci).to_string();
            let (current, stop) = (current.clone(), stop.clone());
            tokio::spawn(async move {
                connection(stream, peer, conn, &name, acceptor, current, stop).await;
                drop(slot);
            });
        }
    })
}

/// One connection: the handshake, then its reader and writer.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    conn: u64,
    name: &str,
    acceptor: tokio_rustls::TlsAcceptor,
    current: Arc<ArcSwap<Shared>>,
    stop: watch::Receiver<bool>,
) {
    let (handshake_timeout, idle) = {
        let sh = current.load();
        (
            sh.config.radsec.handshake_timeout,
            sh.config.radsec.idle_timeout,
        )
    };
    let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        failed => {
            let sh = current.load();
            Stats::bump(&sh.stats.radsec_refused);
            if sh.drop_log.allow() {
                match failed {
                    Ok(Err(e)) => {
                        tracing::warn!(%peer, client = name, "radsec: TLS handshake failed: {e}")
                    }
                    _ => tracing::warn!(%peer, client = name,
                        "radsec: no TLS handshake within {handshake_timeout:?}; closed"),
                }
            }
            return;
        }
    };
    Stats::bump(&current.load().stats.radsec_connections);
    tracing::debug!(%peer, client = name, conn, "radsec: connection established");
    let (rd, wr) = tokio::io::split(tls);
    let (tx, rx) = mpsc::channel(QUEUE);
    let reader = read_loop(rd, peer, conn, tx, idle, current, stop);
    let writer = write_loop(wr, rx);
    tokio::pin!(writer);
    let why = tokio::select! {
        why = reader => {
            // Answers in flight still go out, for a while.
            let _ = tokio::time::timeout(DRAIN, &mut writer).await;
            why
        }
        w = &mut writer => match w {
            Ok(()) => "closed".to_string(),
            Err(e) => e,
        },
    };
    tracing::debug!(%peer, client = name, conn, "radsec: connection ended: {why}");
}

/// Read frames and hand each packet to the shared request path, until the
/// peer closes, sends garbage, goes idle, is no longer a client, or `stop`.
/// Returns why it ended.
async fn read_loop<R: AsyncRead + Unpin>(
    mut rd: R,
    peer: SocketAddr,
    conn: u64,
    tx: mpsc::Sender<Arc<[u8]>>,
    idle: Duration,
    current: Arc<ArcSwap<Shared>>,
    mut stop: watch::Receiver<bool>,
) -> String {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    loop {
        let mut head = [0u8; 4];
        let read = tokio::select! {
            r = tokio::time::timeout(idle, rd.read_exact(&mut head)) => r,
            _ = stop.changed() => return "server stopping".into(),
        };
        match read {
            Err(_) => return format!("idle for {idle:?}"),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return "closed by the client".into()
            }
            Ok(Err(e)) => return format!("read error: {e}"),
            Ok(Ok(_)) => {}
        }
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        if !(codec::HEADER_LEN..=codec::MAX_PACKET_LEN).contains(&len) {
            let sh = current.load();
            sh.stats.dropped(DropReason::Malformed);
            if sh.drop_log.allow() {
                tracing::warn!(%peer, len, "radsec: not a RADIUS packet (length out of range); connection closed");
            }
            return format!("garbage (length {len})");
        }
        let mut packet = vec![0u8; len];
        packet[..4].copy_from_slice(&head);
        match tokio::time::timeout(idle, rd.read_exact(&mut packet[4..])).await {
            Err(_) => return format!("a packet unfinished for {idle:?}"),
            Ok(Err(e)) => return format!("read error in a packet: {e}"),
            Ok(Ok(_)) => {}
        }
        let arrived = Instant::now();
        let slot = tokio::select! {
            s = in_flight.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => return "closed".into(),
            },
            _ = stop.changed() => return "server stopping".into(),
        };
        // The configuration this request is served with, to its answer.
        let shared = current.load_full();
        Stats::bump(&shared.stats.received);
        let Some(ci) = shared.client_index(peer, true) else {
            Stats::bump(&shared.stats.unknown_client);
            if shared.drop_log.allow() {
                tracing::warn!(%peer, "radsec: no [[client]] with radsec = true covers this address any more; connection closed");
            }
            return "no longer a client".into();
        };
        let via = Via::Tls(TlsPeer {
            conn,
            peer,
            tx: tx.clone(),
            _slot: slot,
        });
        handle(&shared, ci, &packet, via, arrived);
    }
}

/// Write the answers queued for the connection, until every sender is gone
/// (the reader ended and no request is in flight) or a write fails or
/// stalls.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::Receiver<Arc<[u8]>>,
) -> Result<(), String> {
    while let Some(frame) = rx.recv().await {
        let write = async {
            wr.write_all(&frame).await?;
            // Flush when nothing else is waiting: answers decided together
            // leave together.
            if rx.is_empty() {
                wr.flush().await?;
            }
            Ok::<(), std::io::Error>(())
        };
        match tokio::time::timeout(WRITE_TIMEOUT, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("write error: {e}")),
            Err(_) => return Err(format!("a write stalled for {WRITE_TIMEOUT:?}")),
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), wr.shutdown()).await;
    Ok(())
}
