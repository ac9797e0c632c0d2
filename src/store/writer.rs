//! The writer's interface: what the daemon hands the store for every
//! RADIUS request (an Access-Request to decide and record, an
//! Accounting-Request to apply) and what comes back. Each backend runs
//! these in batches, one transaction per batch (group commit): see
//! `sqlite/writer.rs` and `postgres/writer.rs`.

use std::sync::atomic::AtomicUsize;

use crate::config::{Synchronous, ThrottleConfig};
use crate::policy::accounting::{self, AcctStatus};
use crate::policy::auth::Decision;
use crate::token::Credential;

#[derive(Debug, Clone)]
pub struct WriterSettings {
    pub case_sensitive_codes: bool,
    pub bind_mac_on_first_use: bool,
    /// Seconds an Access-Accept holds a place before accounting confirms it.
    pub pending_place_ttl: i64,
    /// Brute-force throttling, applied in decision order.
    pub throttle: ThrottleConfig,
    /// The configured durability of commits that acknowledge accounting.
    pub synchronous: Synchronous,
    /// How often a sweep of deferred LastAccess stamps starts
    /// (SQLite: `LAST_ACCESS_SWEEP_EVERY`; tests shorten it).
    pub stamp_sweep_every: std::time::Duration,
}

/// Sizes of the writer's in-memory tables and how its batches go, for
/// monitoring (`/metrics`) and tests.
#[derive(Debug)]
pub struct WriterGauges {
    pub throttled_devices: AtomicUsize,
    pub throttled_nases: AtomicUsize,
    pub good_devices: AtomicUsize,
    /// LastAccess stamps waiting for their sweep.
    pub deferred_stamps: AtomicUsize,
    /// Requests per committed batch.
    pub batch_size: prometheus_client::metrics::histogram::Histogram,
    /// Seconds from a batch's BEGIN to its COMMIT's return (SQLite's WAL
    /// fsync with `synchronous = full` follows on its own thread).
    pub batch_seconds: prometheus_client::metrics::histogram::Histogram,
    /// The last commit failed for want of space on the database's disk
    /// (SQLite's SQLITE_FULL, see `sqlite/writer.rs`; PostgreSQL's
    /// SQLSTATE 53100 disk_full), and none has succeeded since: requests
    /// that must be stored are not answered.
    pub disk_full: std::sync::atomic::AtomicBool,
}

impl Default for WriterGauges {
    fn default() -> Self {
        use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
        WriterGauges {
            throttled_devices: AtomicUsize::new(0),
            throttled_nases: AtomicUsize::new(0),
            good_devices: AtomicUsize::new(0),
            deferred_stamps: AtomicUsize::new(0),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            batch_seconds: Histogram::new(exponential_buckets(0.0001, 2.5, 12)),
            disk_full: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// One Access-Request to decide and record.
#[derive(Debug, Clone)]
pub struct AuthJob {
    pub user_name: String,
    pub credential: Credential,
    /// Device identity (normalized MAC, or the raw Calling-Station-Id).
    pub device: Option<String>,
    /// Calling-Station-Id when it is a MAC.
    pub device_mac: Option<String>,
    /// The NAS: its source IP address.
    pub nas: String,
    /// Only codes of this business, when the client is tied to one.
    pub business_id: Option<i64>,
    pub accept_any_password: bool,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthOutcome {
    pub decision: Decision,
    pub token_id: Option<i64>,
    /// For an Accept: what its optional reply attributes depend on.
    pub accepted: Option<AcceptFacts>,
}

/// What an Access-Accept's optional attributes (policy::reply) need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptFacts {
    pub business_id: i64,
    /// The token's own RateLimit.
    pub rate_limit: Option<String>,
    /// The end of the validity window (ValidTo or from first use).
    pub window_end: Option<i64>,
}

/// One Accounting-Request to apply.
#[derive(Debug, Clone)]
pub struct AcctJob {
    pub status: AcctStatus,
    /// NAS source IP address: Acct-Session-Id is unique per NAS.
    pub nas: String,
    pub acct_session_id: Option<String>,
    pub user_name: Option<String>,
    pub device: Option<String>,
    pub framed_ip: Option<String>,
    pub session_time: Option<i64>,
    pub terminate_cause: Option<u32>,
    pub input_octets: i64,
    pub output_octets: i64,
    pub input_packets: i64,
    pub output_packets: i64,
    /// Only codes of this business, when the client is tied to one.
    pub business_id: Option<i64>,
    /// Acct-Delay-Time: how many seconds ago the NAS sent it first (0 when
    /// absent); the event happened at `now - delay`.
    pub delay: i64,
    pub now: i64,
}

impl AcctJob {
    /// What the accounting rules need of the packet; `code_key`: the key of
    /// its User-Name, if any.
    pub(crate) fn packet<'a>(&self, code_key: Option<&'a str>) -> accounting::Packet<'a> {
        accounting::Packet {
            status: self.status,
            code_key,
            session_time: self.session_time,
            octets: accounting::Octets {
                input: self.input_octets,
                output: self.output_octets,
            },
            delay: self.delay,
            now: self.now,
        }
    }

    /// The octet and packet counters (in, out, in, out) a session created
    /// by this packet starts with (see [`accounting::Opening::counters`]).
    pub(crate) fn opening_counters(&self, o: &accounting::Opening) -> (i64, i64, i64, i64) {
        if o.counters {
            (
                self.input_octets,
                self.output_octets,
                self.input_packets,
                self.output_packets,
            )
        } else {
            (0, 0, 0, 0)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcctOutcome {
    pub token_id: Option<i64>,
    /// Seconds charged to the token by this packet.
    pub charged: i64,
    /// Octets charged to the token's data usage by this packet.
    pub bytes: i64,
    /// Sessions closed (Stop, Accounting-On/Off).
    pub closed: u64,
    /// Why nothing was recorded, when nothing was.
    pub ignored: Option<&'static str>,
    /// Live sessions to disconnect: this packet used up the token's last
    /// minutes while they run (RFC 5176, sent when the client has a coa_port).
    pub disconnect: Vec<super::LiveSession>,
}

impl AcctOutcome {
    pub(crate) fn ignored(why: &'static str) -> Self {
        AcctOutcome {
            token_id: None,
            charged: 0,
            bytes: 0,
            closed: 0,
            ignored: Some(why),
            disconnect: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepOutcome {
    pub stale_closed: u64,
    pub pending_purged: u64,
}

/// The daemon's writer on whichever backend: every RADIUS decision and
/// charge goes through it, in batches, one transaction each.
#[derive(Clone)]
pub enum Writer {
    Sqlite(super::sqlite::writer::Writer),
    Postgres(super::postgres::writer::Writer),
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Writer::Sqlite(_) => "Writer(SQLite)",
            Writer::Postgres(_) => "Writer(PostgreSQL)",
        })
    }
}

impl Writer {
    /// Decide an Access-Request and record its outcome; `then` gets the
    /// answer (SQLite: once applied, before the commit's fsync; PostgreSQL:
    /// once committed). Fails at once when the queue is full.
    pub fn authorize_then(
        &self,
        job: AuthJob,
        then: impl FnOnce(Result<AuthOutcome, super::StoreError>) + Send + 'static,
    ) -> Result<(), super::StoreError> {
        match self {
            Writer::Sqlite(w) => w.authorize_then(job, then),
            Writer::Postgres(w) => w.authorize_then(job, then),
        }
    }

    /// Apply an Accounting-Request; `then` gets the answer once committed.
    pub fn account_then(
        &self,
        job: AcctJob,
        then: impl FnOnce(Result<AcctOutcome, super::StoreError>) + Send + 'static,
    ) -> Result<(), super::StoreError> {
        match self {
            Writer::Sqlite(w) => w.account_then(job, then),
            Writer::Postgres(w) => w.account_then(job, then),
        }
    }

    /// Wait until everything submitted before is committed (with SQLite's
    /// deferred LastAccess stamps).
    pub async fn flush(&self) -> Result<(), super::StoreError> {
        match self {
            Writer::Sqlite(w) => w.flush().await,
            Writer::Postgres(w) => w.flush().await,
        }
    }

    /// Keep deferred LastAccess stamps going to the database (SQLite; the
    /// PostgreSQL writer defers none).
    pub async fn write_stamps(&self) -> Result<(), super::StoreError> {
        match self {
            Writer::Sqlite(w) => w.write_stamps().await,
            Writer::Postgres(_) => Ok(()),
        }
    }

    pub fn gauges(&self) -> &WriterGauges {
        match self {
            Writer::Sqlite(w) => w.gauges(),
            Writer::Postgres(w) => w.gauges(),
        }
    }

    /// New brute-force limits (a reload).
    pub async fn set_throttle(
        &self,
        cfg: crate::config::ThrottleConfig,
    ) -> Result<(), super::StoreError> {
        match self {
            Writer::Sqlite(w) => w.set_throttle(cfg).await,
            Writer::Postgres(w) => w.set_throttle(cfg).await,
        }
    }

    /// Requests waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        match self {
            Writer::Sqlite(w) => w.queue_depth(),
            Writer::Postgres(w) => w.queue_depth(),
        }
    }

    /// Close stale sessions and purge expired pending places.
    pub async fn sweep(
        &self,
        now: i64,
        stale_after: i64,
    ) -> Result<SweepOutcome, super::StoreError> {
        match self {
            Writer::Sqlite(w) => w.sweep(now, stale_after).await,
            Writer::Postgres(w) => w.sweep(now, stale_after).await,
        }
    }
}
