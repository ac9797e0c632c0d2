//! `fsync-floor`: the physical floor of durable accounting on this machine.
//!
//! No RADIUS, no SQL: `concurrency` "requests" in flight, each of which puts a
//! record of `record_bytes` (about what an accounting packet's facts take) in
//! a journal and waits until an `fdatasync` covers it. The syncs are grouped
//! the way the best possible durable store would group them (ideal group
//! commit): one journal thread takes every record waiting, writes them with
//! one `pwrite`, calls `fdatasync`, then releases all of their requests at
//! once; the requests that arrived meanwhile go into the next group. A
//! released request immediately sends the next one (a closed loop, like the
//! load generator).
//!
//! The journal is preallocated by default (written with zeros and synced
//! before the run, then overwritten in place and wrapped around), so that an
//! `fdatasync` flushes data blocks only and never a file size or extent
//! change: the best case for any log-structured store. `--no-preallocate`
//! appends to a growing file instead.
//!
//! Latency is the time from a request handing over its record to it being
//! woken after the sync; throughput counts requests started after the
//! warm-up, divided by the time from the end of the warm-up to the last
//! release (as in `load`).

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::hist::Histogram;
use super::load::process_cpu_time;

#[derive(Clone, Debug)]
pub struct FloorConfig {
    /// Directory for the journal file (the filesystem being measured).
    pub dir: PathBuf,
    pub concurrency: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Stop after this many measured requests (or `duration`).
    pub requests: Option<u64>,
    pub record_bytes: usize,
    /// Size of the preallocated journal (it wraps around when full).
    pub file_bytes: u64,
    pub preallocate: bool,
    /// Keep the journal file afterwards (it is deleted by default).
    pub keep_file: bool,
}

/// Records waiting for the next sync, and the requests to wake after it.
#[derive(Default)]
struct Group {
    buf: Vec<u8>,
    waiters: Vec<oneshot::Sender<()>>,
    done: bool,
}

struct Journal {
    group: Mutex<Group>,
    wake: Condvar,
}

/// What the journal thread saw.
#[derive(Default)]
struct SyncStats {
    syncs: u64,
    records: u64,
    /// Time of each `pwrite` + `fdatasync`.
    hist: Histogram,
}

pub struct FloorReport {
    pub sent: u64,
    pub done: u64,
    pub warmup_sent: u64,
    pub hist: Histogram,
    pub elapsed: Duration,
    pub syncs: u64,
    pub synced_records: u64,
    pub sync_hist: Histogram,
    pub cpu: Option<Duration>,
    pub path: PathBuf,
}

impl FloorReport {
    pub fn rps(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.done as f64 / s
        } else {
            0.0
        }
    }

    fn records_per_sync(&self) -> f64 {
        if self.syncs == 0 {
            0.0
        } else {
            self.synced_records as f64 / self.syncs as f64
        }
    }

    fn cpu_us_per_request(&self) -> Option<f64> {
        let n = self.sent + self.warmup_sent;
        let cpu = self.cpu?;
        (n > 0).then(|| cpu.as_secs_f64() * 1e6 / n as f64)
    }

    /// The same flat keys as `load --json` where they mean the same thing
    /// (scripts read `rps`, `p50`, `p99`, `accepts`), plus the sync's own.
    pub fn to_json(&self, cfg: &FloorConfig) -> serde_json::Value {
        let ms = |ns: u64| ns as f64 / 1e6;
        serde_json::json!({
            "mode": "fsync-floor",
            "journal": self.path.display().to_string(),
            "journal_kept": cfg.keep_file,
            "concurrency": cfg.concurrency,
            "record_bytes": cfg.record_bytes,
            "file_bytes": cfg.file_bytes,
            "preallocated": cfg.preallocate,
            "duration_s": cfg.duration.as_secs_f64(),
            "warmup_s": cfg.warmup.as_secs_f64(),
            "elapsed_s": self.elapsed.as_secs_f64(),
            "sent": self.sent,
            "responses": self.done,
            "accepts": self.done,
            "rejects": 0,
            "other": 0,
            "timeouts": 0,
            "bad": 0,
            "send_errors": 0,
            "warmup_sent": self.warmup_sent,
            "rps": self.rps(),
            "latency_samples": self.hist.count(),
            "generator_cpu_s": self.cpu.map(|d| d.as_secs_f64()),
            "generator_cpu_us_per_request": self.cpu_us_per_request(),
            "syncs": self.syncs,
            "records_per_sync": self.records_per_sync(),
            "sync_ms_p50": ms(self.sync_hist.quantile(0.50)),
            "sync_ms_p99": ms(self.sync_hist.quantile(0.99)),
            "sync_ms_max": ms(self.sync_hist.max()),
            "latency_ms": {
                "p50": ms(self.hist.quantile(0.50)),
                "p90": ms(self.hist.quantile(0.90)),
                "p99": ms(self.hist.quantile(0.99)),
                "max": ms(self.hist.max()),
                "mean": ms(self.hist.mean()),
            },
        })
    }

    pub fn to_text(&self, cfg: &FloorConfig) -> String {
        let ms = |ns: u64| ns as f64 / 1e6;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "radgate-bench fsync-floor in {}: {} in flight, {}-byte records, {} journal, {:.1} s (+{:.1} s warm-up)",
            cfg.dir.display(),
            cfg.concurrency,
            cfg.record_bytes,
            if cfg.preallocate {
                format!("preallocated {} MiB", cfg.file_bytes >> 20)
            } else {
                "growing".to_string()
            },
            cfg.duration.as_secs_f64(),
            cfg.warmup.as_secs_f64(),
        );
        let _ = writeln!(s, "  requests     {} durable", self.done);
        let _ = writeln!(
            s,
            "  throughput   {:.0} ops/s over {:.2} s",
            self.rps(),
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(
            s,
            "  syncs        {} ({:.1} records each; pwrite+fdatasync p50 {:.3} p99 {:.3} max {:.3} ms)",
            self.syncs,
            self.records_per_sync(),
            ms(self.sync_hist.quantile(0.50)),
            ms(self.sync_hist.quantile(0.99)),
            ms(self.sync_hist.max()),
        );
        if let Some(per) = self.cpu_us_per_request() {
            let _ = writeln!(s, "  cpu          {per:.1} µs per request");
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
        s
    }
}

/// Create the journal: preallocated (zeros written and synced, as a log
/// store would before use) or empty.
fn create_journal(cfg: &FloorConfig) -> io::Result<(File, PathBuf)> {
    let path = cfg.dir.join(format!(
        "radgate-bench-fsync-floor.{}.journal",
        std::process::id()
    ));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let fill = || -> io::Result<()> {
        if cfg.preallocate {
            let chunk = vec![0u8; 1 << 20];
            let mut off = 0u64;
            while off < cfg.file_bytes {
                let n = (cfg.file_bytes - off).min(chunk.len() as u64) as usize;
                file.write_all_at(&chunk[..n], off)?;
                off += n as u64;
            }
        }
        file.sync_all()?;
        // The file's directory entry durable too, as a store would have it.
        File::open(&cfg.dir)?.sync_all()
    };
    if let Err(e) = fill() {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok((file, path))
}

/// The journal thread: take every waiting record, write, sync, release.
fn journal_thread(j: Arc<Journal>, file: File, cfg: FloorConfig) -> io::Result<SyncStats> {
    let mut stats = SyncStats::default();
    let mut buf = Vec::with_capacity(cfg.concurrency * cfg.record_bytes);
    let mut waiters = Vec::with_capacity(cfg.concurrency);
    let mut off = 0u64;
    loop {
        {
            let mut g = j.group.lock().unwrap();
            while g.waiters.is_empty() && !g.done {
                g = j.wake.wait(g).unwrap();
            }
            if g.waiters.is_empty() {
                return Ok(stats);
            }
            std::mem::swap(&mut g.buf, &mut buf);
            std::mem::swap(&mut g.waiters, &mut waiters);
        }
        let t0 = Instant::now();
        if cfg.preallocate && off + buf.len() as u64 > cfg.file_bytes {
            off = 0;
        }
        file.write_all_at(&buf, off)?;
        off += buf.len() as u64;
        file.sync_data()?;
        stats.hist.record(t0.elapsed().as_nanos() as u64);
        stats.syncs += 1;
        stats.records += waiters.len() as u64;
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
        buf.clear();
    }
}

struct Control {
    measure_start: Instant,
    send_until: Instant,
    budget: Option<std::sync::atomic::AtomicU64>,
    stop: Arc<AtomicBool>,
}

#[derive(Default)]
struct ClientResult {
    sent: u64,
    done: u64,
    warmup_sent: u64,
    hist: Histogram,
    last: Option<Instant>,
}

/// One request stream: hand over a record, wait for its sync, again.
async fn client(i: usize, j: Arc<Journal>, ctl: Arc<Control>, record_bytes: usize) -> ClientResult {
    let mut r = ClientResult::default();
    let mut seq = 0u64;
    loop {
        let t0 = Instant::now();
        if t0 >= ctl.send_until || ctl.stop.load(Ordering::Relaxed) {
            break;
        }
        let measured = t0 >= ctl.measure_start;
        if measured {
            if let Some(b) = &ctl.budget {
                if b.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1))
                    .is_err()
                {
                    break;
                }
            }
            r.sent += 1;
        } else {
            r.warmup_sent += 1;
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut g = j.group.lock().unwrap();
            // A record: who, which, when, and filler up to record_bytes.
            let start = g.buf.len();
            g.buf.extend_from_slice(&(i as u64).to_le_bytes());
            g.buf.extend_from_slice(&seq.to_le_bytes());
            let nanos = t0.saturating_duration_since(ctl.measure_start).as_nanos() as u64;
            g.buf.extend_from_slice(&nanos.to_le_bytes());
            g.buf.resize(start + record_bytes.max(24), b'.');
            g.buf.truncate(start + record_bytes);
            g.waiters.push(tx);
            if g.waiters.len() == 1 {
                j.wake.notify_one();
            }
        }
        seq += 1;
        if rx.await.is_err() {
            break; // the journal thread failed; its error is reported
        }
        let t1 = Instant::now();
        if measured {
            r.done += 1;
            r.hist.record(t1.duration_since(t0).as_nanos() as u64);
            r.last = Some(t1);
        }
    }
    r
}

/// Run the floor measurement (on the current tokio runtime).
pub async fn run(cfg: FloorConfig, stop: Arc<AtomicBool>) -> io::Result<FloorReport> {
    let (file, path) = create_journal(&cfg)?;
    let j = Arc::new(Journal {
        group: Mutex::new(Group {
            buf: Vec::with_capacity(cfg.concurrency * cfg.record_bytes),
            waiters: Vec::with_capacity(cfg.concurrency),
            done: false,
        }),
        wake: Condvar::new(),
    });
    let syncer = {
        let (j, cfg) = (j.clone(), cfg.clone());
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || journal_thread(j, file, cfg))?
    };
    let cpu_start = process_cpu_time();
    let start = Instant::now();
    let ctl = Arc::new(Control {
        measure_start: start + cfg.warmup,
        send_until: start + cfg.warmup + cfg.duration,
        budget: cfg.requests.map(std::sync::atomic::AtomicU64::new),
        stop,
    });
    let tasks: Vec<_> = (0..cfg.concurrency)
        .map(|i| tokio::spawn(client(i, j.clone(), ctl.clone(), cfg.record_bytes)))
        .collect();
    let mut total = ClientResult::default();
    let mut failed = None;
    for t in tasks {
        match t.await {
            Ok(r) => {
                total.sent += r.sent;
                total.done += r.done;
                total.warmup_sent += r.warmup_sent;
                total.hist.merge(&r.hist);
                total.last = total.last.max(r.last);
            }
            Err(e) => failed = Some(io::Error::other(format!("request task failed: {e}"))),
        }
    }
    let cpu = cpu_start
        .zip(process_cpu_time())
        .map(|(a, b)| b.saturating_sub(a));
    {
        j.group.lock().unwrap().done = true;
        j.wake.notify_one();
    }
    let synced = syncer
        .join()
        .map_err(|_| io::Error::other("the journal thread panicked"));
    if !cfg.keep_file {
        let _ = std::fs::remove_file(&path);
    }
    let stats = synced??;
    if let Some(e) = failed {
        return Err(e);
    }
    let end = total.last.unwrap_or(ctl.measure_start);
    Ok(FloorReport {
        sent: total.sent,
        done: total.done,
        warmup_sent: total.warmup_sent,
        hist: total.hist,
        elapsed: end.saturating_duration_since(ctl.measure_start),
        syncs: stats.syncs,
        synced_records: stats.records,
        sync_hist: stats.hist,
        cpu,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn every_request_is_synced_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = FloorConfig {
            dir: dir.path().to_path_buf(),
            concurrency: 8,
            duration: Duration::from_secs(10),
            warmup: Duration::ZERO,
            requests: Some(200),
            record_bytes: 100,
            file_bytes: 4096,
            preallocate: true,
            keep_file: false,
        };
        let r = run(cfg.clone(), Arc::new(AtomicBool::new(false)))
            .await
            .unwrap();
        assert_eq!(r.sent, 200);
        assert_eq!(r.done, 200);
        assert_eq!(r.hist.count(), 200);
        // Every request was in some group; groups hold at most all in flight.
        assert_eq!(r.synced_records, 200);
        assert!(r.syncs >= 200 / 8 && r.syncs <= 200);
        assert!(!r.path.exists(), "the journal is removed");
        let j = r.to_json(&cfg);
        assert_eq!(j["accepts"], 200);
        assert_eq!(j["mode"], "fsync-floor");
    }
}
