//! Prometheus metrics (SPEC §11) at `GET /metrics` on `[api] listen`, in
//! the OpenMetrics text format of the `prometheus-client` crate. The
//! RADIUS hot path keeps counting in the plain atomics of
//! [`Stats`](crate::radius::server::Stats) and the writer's
//! [`WriterGauges`]; a [`Collector`] reads them at scrape time, so a
//! scrape costs the hot path nothing. Only the latency and batch
//! histograms are observed as requests go (on the reply thread and the
//! writer, one uncontended lock each). No label carries a code, a MAC or
//! an address. Every series exists from the start (at 0), except HTTP
//! requests, which appear per route and status as they are served.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::radius::server::Stats;
use crate::store::writer::Writer;

/// Labels of an HTTP request: its method, its route (the pattern, such as
/// `/tokens/{id}`, never the path as sent) and its status code.
pub type HttpLabels = [(&'static str, String); 3];

/// What `/metrics` shows, shared by the API's handlers.
pub struct Metrics {
    registry: Registry,
    /// Set from the store just before each scrape.
    sessions_active: Arc<AtomicI64>,
    /// HTTP requests served, by method, route and status.
    pub http: Family<HttpLabels, Counter>,
}

impl Metrics {
    pub fn new(stats: Arc<Stats>, writer: Writer) -> Metrics {
        let mut registry = Registry::default();
        let sessions_active = Arc::new(AtomicI64::new(0));
        registry.register(
            "radgate_build",
            "The running radgate's version",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        let http = Family::<HttpLabels, Counter>::default();
        registry.register(
            "radgate_http_requests",
            "HTTP requests (API, web UI, metrics) by method, route and status",
            http.clone(),
        );
        registry.register_collector(Box::new(RadiusCollector {
            stats,
            writer,
            sessions_active: sessions_active.clone(),
        }));
        Metrics {
            registry,
            sessions_active,
            http,
        }
    }

    /// The exposition, with `sessions_active` as the store counts now.
    pub fn render(&self, sessions_active: i64) -> String {
        self.sessions_active
            .store(sessions_active, Ordering::Relaxed);
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics: cannot encode");
        }
        out
    }
}

#[derive(Debug)]
struct RadiusCollector {
    stats: Arc<Stats>,
    writer: Writer,
    sessions_active: Arc<AtomicI64>,
}

/// A counter family of `(labels, value)` rows.
fn counters(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[(&[(&str, &str)], u64)],
) -> Result<(), std::fmt::Error> {
    let mut d = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        ConstCounter::new(*v).encode(d.encode_family(labels)?)?;
    }
    Ok(())
}

fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: u64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for RadiusCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.stats;
        let g = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let rejects = g(&s.access_rejects);
        let throttled = g(&s.throttled);
        counters(
            &mut e,
            "radgate_requests",
            "RADIUS requests answered, by type and result (duplicates and drops aside)",
            &[
                (
                    &[("type", "access"), ("result", "accept")],
                    g(&s.access_accepts),
                ),
                (
                    &[("type", "access"), ("result", "reject")],
                    rejects.saturating_sub(throttled),
                ),
                (&[("type", "access"), ("result", "throttled")], throttled),
                (
                    &[("type", "accounting"), ("result", "ok")],
                    g(&s.acct_responses),
                ),
                (
                    &[("type", "accounting"), ("result", "ignored")],
                    g(&s.acct_ignored),
                ),
                (
                    &[("type", "status_server"), ("result", "received")],
                    g(&s.status_server),
                ),
            ],
        )?;
        counters(
            &mut e,
            "radgate_packets_dropped",
            "RADIUS datagrams dropped without an answer, by reason",
            &[
                (&[("reason", "unknown_client")], g(&s.unknown_client)),
                (&[("reason", "malformed")], g(&s.malformed)),
                (&[("reason", "unexpected_code")], g(&s.unexpected_code)),
                (&[("reason", "bad_authenticator")], g(&s.bad_authenticator)),
                (
                    &[("reason", "bad_message_authenticator")],
                    g(&s.bad_message_authenticator),
                ),
                (
                    &[("reason", "missing_message_authenticator")],
                    g(&s.missing_message_authenticator),
                ),
                (
                    &[("reason", "proxy_state_without_message_authenticator")],
                    g(&s.proxy_state_without_ma),
                ),
            ],
        )?;
        counters(
            &mut e,
            "radgate_radsec_connections",
            "RadSec (TLS) connections, by result: accepted (handshake done) or refused (unknown address, \
             too many, handshake failed or too slow)",
            &[
                (&[("result", "accepted")], g(&s.radsec_connections)),
                (&[("result", "refused")], g(&s.radsec_refused)),
            ],
        )?;
        counter(
            &mut e,
            "radgate_duplicates",
            "Retransmitted requests answered from the reply cache (or while in progress)",
            g(&s.duplicates),
        )?;
        counter(
            &mut e,
            "radgate_store_errors",
            "Requests left unanswered because the store failed (the NAS retries)",
            g(&s.store_errors),
        )?;
        counter(
            &mut e,
            "radgate_send_errors",
            "Replies the socket refused to send",
            g(&s.send_errors),
        )?;
        counter(
            &mut e,
            "radgate_sessions_closed_stale",
            "Sessions closed because their accounting stopped",
            g(&s.stale_closed),
        )?;
        counters(
            &mut e,
            "radgate_disconnect_requests",
            "Disconnect-Requests (RFC 5176) to NASes: sent, and how they ended",
            &[
                (&[("outcome", "sent")], g(&s.disconnect_sent)),
                (&[("outcome", "acked")], g(&s.disconnect_acked)),
                (&[("outcome", "failed")], g(&s.disconnect_failed)),
            ],
        )?;
        {
            let mut d = e.encode_descriptor(
                "radgate_request_duration",
                "From a RADIUS request's arrival to its answer's send",
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            s.latency
                .access
                .encode(d.encode_family(&[("type", "access")])?)?;
            s.latency
                .accounting
                .encode(d.encode_family(&[("type", "accounting")])?)?;
        }
        let w = self.writer.gauges();
        w.batch_size.encode(e.encode_descriptor(
            "radgate_store_batch_size",
            "Requests per committed store batch (group commit)",
            None,
            MetricType::Histogram,
        )?)?;
        w.batch_seconds.encode(e.encode_descriptor(
            "radgate_store_batch_duration",
            "A store batch from BEGIN to the COMMIT's return",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?)?;
        gauge(
            &mut e,
            "radgate_store_queue_depth",
            "Requests waiting for the store's writer",
            self.writer.queue_depth() as i64,
        )?;
        gauge(
            &mut e,
            "radgate_store_disk_full",
            "1 while the database's disk is full: requests that must be stored are not answered",
            i64::from(w.disk_full.load(Ordering::Relaxed)),
        )?;
        {
            let mut d = e.encode_descriptor(
                "radgate_throttle_tracked",
                "Devices and NASes the brute-force throttle tracks",
                None,
                MetricType::Gauge,
            )?;
            for (kind, v) in [
                ("device", &w.throttled_devices),
                ("nas", &w.throttled_nases),
            ] {
                ConstGauge::new(v.load(Ordering::Relaxed) as i64)
                    .encode(d.encode_family(&[("kind", kind)])?)?;
            }
        }
        counters(
            &mut e,
            "radgate_config_reloads",
            "Reloads of the configuration file (SIGHUP): taken, or refused (the running one stayed)",
            &[
                (&[("result", "success")], g(&s.config_reloads)),
                (&[("result", "failure")], g(&s.config_reload_failures)),
            ],
        )?;
        gauge(
            &mut e,
            "radgate_config_last_reload_success_timestamp_seconds",
            "When the configuration serving now was loaded (Unix time)",
            s.config_loaded_at.load(Ordering::Relaxed),
        )?;
        gauge(
            &mut e,
            "radgate_sessions_active",
            "Sessions the hotspots report running",
            self.sessions_active.load(Ordering::Relaxed),
        )?;
        Ok(())
    }
}
