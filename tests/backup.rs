//! `radgate backup FILE` (SPEC §11): a consistent copy of the SQLite
//! database while the server serves, restored and served again; and the
//! command's refusals.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cli_env::Env;
use common::*;
use radgate::config::DatabaseConfig;
use radgate::store::{OpenMode, Store};

const CODES: [&str; 4] = ["LOADA1", "LOADB2", "LOADC3", "LOADD4"];
const MINUTES: i64 = 600;
/// Bounds of the load: packets per code, and its length.
const MAX_PACKETS: u32 = 2_000;
const MAX_LOAD: Duration = Duration::from_secs(30);
/// Seconds each Interim adds to a session.
const STEP: u32 = 5;

fn mac(i: usize) -> String {
    format!("02:00:00:00:00:{:02X}", i + 1)
}

/// A config file for the CLI naming the test server's database.
fn config_file(dir: &Path, url: &str) -> std::path::PathBuf {
    let p = dir.join("radgate.toml");
    std::fs::write(
        &p,
        format!(
            "[server]\nauth_listen = \"127.0.0.1:0\"\nacct_listen = \"127.0.0.1:0\"\n\n\
             [database]\nurl = \"{url}\"\n\n[[client]]\nname = \"local\"\naddress = \"127.0.0.1\"\n\
             secret = \"testing123\"\n"
        ),
    )
    .unwrap();
    p
}

/// Accounting for every code, one session each (Start, then Interims adding
/// [`STEP`] seconds), one request in flight per code; after each
/// Accounting-Response, the session time it acknowledged goes into
/// `acked[i]`. Ends at `stop`, after [`MAX_PACKETS`] per code or after
/// [`MAX_LOAD`], whichever comes first.
async fn load(
    acct_addr: std::net::SocketAddr,
    acked: Arc<Vec<AtomicI64>>,
    answered: tokio::sync::watch::Sender<Vec<u64>>,
    stop: Arc<AtomicBool>,
) {
    let started = Instant::now();
    let answered = Arc::new(answered);
    let mut tasks = Vec::new();
    for (i, code) in CODES.iter().enumerate() {
        let (acked, answered, stop) = (acked.clone(), answered.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let c = Client::new(acct_addr).await;
            let sid = format!("load-{i}");
            let mac = mac(i);
            for n in 0..MAX_PACKETS {
                if stop.load(Ordering::Relaxed) || started.elapsed() > MAX_LOAD {
                    break;
                }
                let t = n * STEP;
                let a = Acct {
                    status: if n == 0 { START } else { INTERIM },
                    user: code,
                    session_id: &sid,
                    session_time: Some(t),
                    mac: Some(&mac),
                    ..Default::default()
                };
                // Panics without an answer within 5 s.
                c.acct((n % 256) as u8, &a).await;
                acked[i].store(i64::from(t), Ordering::SeqCst);
                answered.send_modify(|v| v[i] += 1);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Issue 21 point 6: every charge acknowledged before the backup started is
/// in the backup, taken while accounting goes on; the backup passes an
/// integrity check, and a server started on a copy of it serves its codes
/// with their usage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_holds_every_acknowledged_charge_and_serves_when_restored() {
    let s = TestServer::start().await;
    for code in CODES {
        s.token(code, MINUTES, |t| t.user_limit = Some(5)).await;
    }
    let acked: Arc<Vec<AtomicI64>> = Arc::new(CODES.iter().map(|_| AtomicI64::new(-1)).collect());
    let (answered_tx, mut answered) = tokio::sync::watch::channel(vec![0u64; CODES.len()]);
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(load(s.acct_addr, acked.clone(), answered_tx, stop.clone()));
    // The load is under way: every code has a session and charges.
    tokio::time::timeout(
        Duration::from_secs(20),
        answered.wait_for(|v| v.iter().all(|n| *n >= 10)),
    )
    .await
    .expect("accounting answered within 20 s")
    .unwrap();

    // What was acknowledged before the backup starts.
    let before: Vec<i64> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    let acks_before: u64 = answered.borrow().iter().sum();
    assert!(
        before.iter().all(|t| *t >= 9 * i64::from(STEP)),
        "{before:?}"
    );
    let cli_dir = tempfile::tempdir().unwrap();
    let config = config_file(cli_dir.path(), &s.config.database.url);
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("radgate-backup.db");
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_radgate"))
        .arg("--config")
        .arg(&config)
        .arg("backup")
        .arg(&file)
        .env_remove("RADGATE_CONFIG")
        .output()
        .await
        .unwrap();
    let acks_during = answered.borrow().iter().sum::<u64>() - acks_before;
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "backup failed: {stderr}");
    assert!(
        !load.is_finished(),
        "the load ended before the backup did: not a backup under load"
    );
    assert!(
        stdout.contains(&format!("wrote {}", file.display()))
            && stdout.contains(&format!("{} code(s)", CODES.len()))
            && stdout.contains("schema version v")
            && stdout.contains("integrity check ok"),
        "{stdout}"
    );
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    eprintln!(
        "{acks_before} accounting requests answered before the backup, {acks_during} while it ran"
    );

    // Nothing half-written next to it; as private as the database.
    let names: Vec<String> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["radgate-backup.db"]);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "{mode:o}");
    }

    // Whole, by SQLite's own check.
    let c =
        rusqlite::Connection::open_with_flags(&file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(c);

    // Opened read-only as a store: every acknowledged charge is there.
    let ro = DatabaseConfig {
        url: format!("sqlite://{}?mode=ro", file.display()),
        ..s.config.database.clone()
    };
    let backup = Store::open(&ro, OpenMode::Existing).await.unwrap();
    let mut in_backup = Vec::new();
    for (i, code) in CODES.iter().enumerate() {
        let used = backup.find_token(code).await.unwrap().seconds_used;
        assert!(
            used >= before[i],
            "{code}: {} s acknowledged before the backup, {used} s in it",
            before[i]
        );
        // A snapshot of the server's database, not something else.
        let now = s.seconds_used(code).await;
        assert!(
            used <= now,
            "{code}: {used} s in the backup, {now} s served"
        );
        in_backup.push(used);
    }
    backup.close().await;

    // Restored (a copy of the backup as the database) and served.
    s.shutdown().await;
    let restore_dir = tempfile::tempdir().unwrap();
    let restored = restore_dir.path().join("restored.db");
    std::fs::copy(&file, &restored).unwrap();
    let url = format!("sqlite://{}", restored.display());
    let r = TestServer::start_with(|c| c.database.url = url.clone()).await;
    assert_eq!(r.config.database.url, url);
    for (i, code) in CODES.iter().enumerate() {
        assert_eq!(r.seconds_used(code).await, in_backup[i], "{code}");
    }
    let c = Client::new(r.addr).await;
    let reply = c.auth(1, CODES[0], Pw::Pap(CODES[0]), Some(&mac(0))).await;
    assert!(reply.is_accept(), "{:?}", reply.reply_message());
    assert_eq!(
        reply.session_timeout(),
        Some((MINUTES * 60 - in_backup[0]) as u32),
        "the time left counts the usage in the backup"
    );
    r.shutdown().await;
}

fn tmp_leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

#[test]
fn backup_refusals_name_the_problem() {
    let mut e = Env::new();
    // No database yet: nothing written.
    let err = e.fails(&["backup", "copy.db"], 1);
    assert!(err.contains("does not exist"), "{err}");
    assert!(!e.path("copy.db").exists());

    e.create("KEEP1", 60, &[]);
    let out = e.ok(&["backup", "copy.db"]);
    assert!(
        out.contains(&format!("wrote {}", e.path("copy.db").display()))
            && out.contains("1 code(s)"),
        "{out}"
    );
    let first = std::fs::read(e.path("copy.db")).unwrap();

    // FILE exists: refused without --force, and left alone.
    let err = e.fails(&["backup", "copy.db"], 2);
    assert!(
        err.contains("FILE") && err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(e.path("copy.db")).unwrap(), first);
    e.create("KEEP2", 60, &[]);
    let out = e.ok(&["backup", "--force", "copy.db"]);
    assert!(out.contains("2 code(s)"), "{out}");

    // Its directory does not exist.
    let err = e.fails(&["backup", "no/such/dir/copy.db"], 2);
    assert!(
        err.contains("FILE") && err.contains("does not exist") && err.contains("no/such/dir"),
        "{err}"
    );
    // A directory, not a file.
    let err = e.fails(&["backup", "."], 2);
    assert!(
        err.contains("FILE") && err.contains("is a directory"),
        "{err}"
    );

    // The database itself, by any name, even with --force.
    std::os::unix::fs::symlink(e.path("radgate.db"), e.path("link.db")).unwrap();
    for name in ["radgate.db", "./radgate.db", "link.db"] {
        let err = e.fails(&["backup", "--force", name], 2);
        assert!(
            err.contains("FILE") && err.contains("is the database itself"),
            "{name}: {err}"
        );
    }
    let err = e.fails(&["backup", "--force", "radgate.db-wal"], 2);
    assert!(err.contains("the database's own -wal file"), "{err}");
    // The database is untouched.
    assert_eq!(e.codes(&[]), ["KEEP1", "KEEP2"]);
    assert!(tmp_leftovers(e.dir.path()).is_empty());

    // PostgreSQL: refused before connecting, pointing to pg_dump.
    e.set_database_url("postgres://radgate:hunter2@127.0.0.1:1/radgate");
    let err = e.fails(&["backup", "pg.db"], 2);
    assert!(
        err.contains("PostgreSQL") && err.contains("pg_dump") && !err.contains("hunter2"),
        "{err}"
    );
    assert!(!e.path("pg.db").exists());
}
