//! A trivial RADIUS responder, to measure the load generator's own ceiling:
//! every Access-Request that verifies gets an Access-Accept, every
//! Accounting-Request that verifies gets an Accounting-Response (both with
//! Message-Authenticator first, as radgate answers). Requests that do not
//! verify are dropped and counted, so a generator bug shows up as timeouts.
//!
//! It stops on SIGINT/SIGTERM or after `max_duration`, whichever comes first.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::net;
use super::wire::{self, Secret};

pub struct ResponderConfig {
    pub auth_listen: SocketAddr,
    pub acct_listen: SocketAddr,
    pub secret: Secret,
    /// Receive tasks per socket.
    pub workers: usize,
    pub max_duration: Duration,
    /// Receive/send buffer asked for on each socket (bytes).
    pub socket_buffer: usize,
}

#[derive(Default)]
struct Stats {
    access_accepts: AtomicU64,
    acct_responses: AtomicU64,
    dropped_unverified: AtomicU64,
    dropped_other: AtomicU64,
}

pub async fn run(cfg: ResponderConfig) -> std::io::Result<()> {
    let auth = Arc::new(net::udp_socket(cfg.auth_listen, cfg.socket_buffer)?);
    let acct = Arc::new(net::udp_socket(cfg.acct_listen, cfg.socket_buffer)?);
    {
        // The lines a script or test waits for.
        let mut out = std::io::stdout().lock();
        writeln!(out, "auth listening on {}", auth.local_addr()?)?;
        writeln!(out, "acct listening on {}", acct.local_addr()?)?;
        writeln!(
            out,
            "receive buffer {} bytes (as the kernel reports it)",
            net::recv_buffer(&auth)
        )?;
        out.flush()?;
    }
    let stats = Arc::new(Stats::default());
    let secret = Arc::new(cfg.secret);
    let mut tasks = Vec::new();
    for sock in [&auth, &acct] {
        for _ in 0..cfg.workers.max(1) {
            tasks.push(tokio::spawn(serve(
                sock.clone(),
                secret.clone(),
                stats.clone(),
            )));
        }
    }
    wait_for_stop(cfg.max_duration).await;
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    if let Some(cpu) = super::load::process_cpu_time() {
        eprintln!("responder: {:.2} s CPU", cpu.as_secs_f64());
    }
    eprintln!(
        "responder: {} Access-Accept, {} Accounting-Response, {} dropped (did not verify), {} dropped (other codes or malformed)",
        stats.access_accepts.load(Ordering::Relaxed),
        stats.acct_responses.load(Ordering::Relaxed),
        stats.dropped_unverified.load(Ordering::Relaxed),
        stats.dropped_other.load(Ordering::Relaxed),
    );
    Ok(())
}

async fn wait_for_stop(max: Duration) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
                _ = tokio::time::sleep(max) => eprintln!("responder: --max-duration reached, stopping"),
            }
            return;
        }
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = tokio::time::sleep(max) => eprintln!("responder: --max-duration reached, stopping"),
    }
}

async fn serve(sock: Arc<UdpSocket>, secret: Arc<Secret>, stats: Arc<Stats>) {
    let mut buf = vec![0u8; wire::MAX_PACKET_LEN + 1];
    let mut out = Vec::with_capacity(64);
    let mut scratch = Vec::with_capacity(512);
    loop {
        let Ok((n, src)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let Some(pkt) = wire::framed(&buf[..n]) else {
            stats.dropped_other.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let (code, counter) = match pkt[0] {
            wire::ACCESS_REQUEST => (wire::ACCESS_ACCEPT, &stats.access_accepts),
            wire::ACCOUNTING_REQUEST => (wire::ACCOUNTING_RESPONSE, &stats.acct_responses),
            _ => {
                stats.dropped_other.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        if !wire::verify_request(pkt, &secret, &mut scratch) {
            stats.dropped_unverified.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        wire::encode_response(pkt, code, true, &secret, &mut out);
        if sock.send_to(&out, src).await.is_ok() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}
