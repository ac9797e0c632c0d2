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
    let Some(bin) = bin_dir() else {
        if require_interop() {
            panic!("PostgreSQL (initdb, postgres) not found and RADGATE_REQUIRE_INTEROP=1: install the Debian package postgresql");
        }
        eprintln!("\n*** SKIPPED: PostgreSQL (initdb, postgres) not found; install the Debian package postgresql to run the PostgreSQL tests ***\n");
        return None;
    };
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
    // The watchdog: PostgreSQL in the background, its log on stderr; when
    // stdin closes (the test process is gone), stop it fast and clean up.
    let script = format!(
        "\"{postgres}\" -D \"{data}\" -k \"{dir}\" -c listen_addresses= -c fsync=off \
         -c max_connections=200 -c shared_buffers=32MB 2>&1 & pid=$!; \
         cat >/dev/null; kill -INT $pid; wait $pid; rm -rf \"{dir}\"",
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
    // Ready when the log says so.
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(line)) => {
                let ready = line.contains("ready to accept connections");
                seen.push(line);
                if ready {
                    break;
                }
            }
            _ => panic!("PostgreSQL did not start:\n{}", seen.join("\n")),
        }
    }
    // Keep reading its log so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Some(PgServer {
        socket_dir: dir,
        _watchdog: Mutex::new(child),
    })
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
        let (client, conn) = tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
            .await
            .expect("connect to the test PostgreSQL");
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("CREATE DATABASE");
        drop(client);
        let _ = task.await;
        self.url(&name)
    }
}
