//! A throwaway PostgreSQL for the tests: one server per test binary,
//! started on first use from Debian's `postgresql` binaries (`initdb`,
//! `postgres`) in a temporary directory, listening only on a unix socket
//! there, and one fresh database per test. The server runs under a small
//! shell watchdog that holds a pipe from the test process: when the test
//! process ends, however it ends, the pipe closes and the watchdog stops
//! PostgreSQL and removes its directory. As root (CI), PostgreSQL runs as
//! the `postgres` user, since it refuses to run as root.
//!
//! Skipped loudly without the binaries; required under
//! `RADGATE_REQUIRE_INTEROP=1` (CI), like the other external tools.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use super::require_interop;

pub struct PgServer {
    /// The directory holding the server's unix socket.
    pub socket_dir: PathBuf,
    /// Keeps the watchdog's stdin open while the test process lives.
    _watchdog: Mutex<Child>,
}

static SERVER: OnceLock<Option<PgServer>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The directory with `initdb` and `postgres`: `$PATH`, else the newest
/// `/usr/lib/postgresql/<version>/bin`.
fn bin_dir() -> Option<PathBuf> {
    let in_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").is_file() && p.join("postgres").is_file())
    });
    if in_path.is_some() {
        return in_path;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file()).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() == 0 }
}

/// Run `program args` as the user PostgreSQL runs as.
fn as_pg_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn start() -> Option<PgServer> {
    let bin = find_binaries()?;
    let (socket_dir, child, _log) = launch(&bin);
    Some(PgServer {
        socket_dir,
        _watchdog: Mutex::new(child),
    })
}

/// The binaries, or `None` after a loud skip (a panic under
/// RADGATE_REQUIRE_INTEROP=1).
fn find_binaries() -> Option<PathBuf> {
    let bin = bin_dir();
    if bin.is_none() {
        if require_interop() {
            panic!("PostgreSQL (initdb, postgres) not found and RADGATE_REQUIRE_INTEROP=1: install the Debian package postgresql");
        }
        eprintln!("\n*** SKIPPED: PostgreSQL (initdb, postgres) not found; install the Debian package postgresql to run the PostgreSQL tests ***\n");
    }
    bin
}

/// initdb in a new temporary directory and PostgreSQL under a watchdog
/// that reads commands on its stdin — `stop` (fast shutdown) and `start` —
/// and on end of input (the test process is gone) stops PostgreSQL and
/// removes the directory. Returns the socket directory, the watchdog, and
/// PostgreSQL's log lines as they come, after the first "ready".
fn launch(bin: &Path) -> (PathBuf, Child, std::sync::mpsc::Receiver<String>) {
    // Not a TempDir: the watchdog removes it when the test process ends.
    let dir = tempfile::Builder::new()
        .prefix("radgate-pg-")
        .tempdir()
        .expect("temporary directory")
        .keep();
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .expect("chown");
        assert!(status.success(), "chown postgres {}", dir.display());
    }
    let data = dir.join("data");
    let out = as_pg_user(&bin.join("initdb"))
        .args(["-D"])
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .output()
        .expect("initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = format!(
        "run() {{ \"{postgres}\" -D \"{data}\" -k \"{dir}\" -c listen_addresses= -c fsync=off \
         -c max_connections=200 -c shared_buffers=32MB 2>&1 & pid=$!; }}; run; \
         while read cmd; do case $cmd in \
           stop) kill -INT $pid; wait $pid; echo radgate-test: stopped;; \
           start) run;; \
         esac; done; kill -INT $pid; wait $pid; rm -rf \"{dir}\"",
        postgres = bin.join("postgres").display(),
        data = data.display(),
        dir = dir.display(),
    );
    let mut sh = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "sh", "-c", &script]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &script]);
        c
    };
    let mut child = sh
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start PostgreSQL");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, log) = std::sync::mpsc::channel();
    // Keep reading its log so that it never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    wait_for(&log, "ready to accept connections");
    (dir, child, log)
}

/// Wait (at most 30 s) for a log line containing `needle`.
fn wait_for(log: &std::sync::mpsc::Receiver<String>, needle: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match log.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return,
            Ok(line) => seen.push(line),
            Err(_) => panic!("PostgreSQL: no {needle:?} in its log:\n{}", seen.join("\n")),
        }
    }
}

/// A PostgreSQL of one test's own, which the test may stop and start (the
/// shared one must keep serving the other tests).
pub struct PgPrivate {
    pub socket_dir: PathBuf,
    watchdog: Child,
    log: std::sync::mpsc::Receiver<String>,
}

impl PgPrivate {
    /// `None` (after a loud skip) without PostgreSQL.
    pub fn start() -> Option<PgPrivate> {
        let bin = find_binaries()?;
        let (socket_dir, watchdog, log) = launch(&bin);
        Some(PgPrivate {
            socket_dir,
            watchdog,
            log,
        })
    }

    fn command(&mut self, cmd: &str) {
        use std::io::Write;
        let stdin = self.watchdog.stdin.as_mut().expect("watchdog stdin");
        writeln!(stdin, "{cmd}").expect("watchdog");
        stdin.flush().expect("watchdog");
    }

    /// Stop PostgreSQL (fast shutdown), and wait until it is down.
    pub fn stop(&mut self) {
        self.command("stop");
        wait_for(&self.log, "radgate-test: stopped");
    }

    /// Start it again, and wait until it accepts connections.
    pub fn start_again(&mut self) {
        self.command("start");
        wait_for(&self.log, "ready to accept connections");
    }

    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@/{database}?host={}",
            self.socket_dir.display()
        )
    }

    /// A new, empty database; its URL.
    pub async fn fresh_database(&self) -> String {
        create_database(&self.url("postgres"), "radgate").await;
        self.url("radgate")
    }
}

impl Drop for PgPrivate {
    fn drop(&mut self) {
        // End of input: the watchdog stops PostgreSQL and cleans up.
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }
}

async fn create_database(admin_url: &str, name: &str) {
    let (client, conn) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test PostgreSQL");
    let task = tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("CREATE DATABASE");
    drop(client);
    let _ = task.await;
}

/// The test binary's PostgreSQL, started on first use; `None` (after a
/// loud message) when PostgreSQL is not installed and not required.
pub fn server() -> Option<&'static PgServer> {
    SERVER.get_or_init(start).as_ref()
}

impl PgServer {
    /// The URL of a database on this server (unix socket).
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@/{database}?host={}",
            self.socket_dir.display()
        )
    }

    /// A new, empty database for one test; its URL.
    pub async fn fresh_database(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        );
        create_database(&self.url("postgres"), &name).await;
        self.url(&name)
    }
}
