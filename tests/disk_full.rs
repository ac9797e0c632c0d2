//! Disk trouble (issue 21 point 7): the database's disk fills up under
//! accounting load. radgate stops acknowledging what it cannot store
//! (requests go unanswered, the NAS retries), says so on `/readyz` and in
//! `radgate_store_disk_full`, and resumes by itself once space is free;
//! nothing it acknowledged is lost.
//!
//! The database lives on a tmpfs of a few MB mounted for the test (root,
//! or `sudo -n`); where none can be mounted the test is skipped loudly, or
//! fails under RADGATE_REQUIRE_INTEROP=1 (CI runs as root on a VM).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::http::page;
use common::{Acct, Client, Pw, TestServer, INTERIM, START};
use radgate::radius::codec::{self, PacketCode as Code};

/// A tmpfs mounted on a temporary directory; unmounted when dropped.
struct Mount {
    dir: Option<tempfile::TempDir>,
    sudo: bool,
}

impl Mount {
    fn path(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    /// A tmpfs of `size` (mount(8) syntax) owned by this user, or `None`
    /// (skipped loudly; a failure under RADGATE_REQUIRE_INTEROP=1).
    fn tmpfs(size: &str) -> Option<Mount> {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let opts = format!("size={size},uid={uid},gid={gid},mode=0700");
        let target = dir.path().to_str().unwrap().to_string();
        let args = ["-t", "tmpfs", "-o", &opts, "tmpfs", &target];
        let (ok, sudo, why) = if uid == 0 {
            let o = Command::new("mount").args(args).output();
            match o {
                Ok(o) if o.status.success() => (true, false, String::new()),
                Ok(o) => (false, false, String::from_utf8_lossy(&o.stderr).into()),
                Err(e) => (false, false, e.to_string()),
            }
        } else {
            let o = Command::new("sudo")
                .args(["-n", "mount"])
                .args(args)
                .output();
            match o {
                Ok(o) if o.status.success() => (true, true, String::new()),
                Ok(o) => (false, true, String::from_utf8_lossy(&o.stderr).into()),
                Err(e) => (false, true, e.to_string()),
            }
        };
        if !ok {
            let msg = format!(
                "cannot mount a tmpfs for the database ({}): {}",
                if sudo {
                    "not root; sudo -n mount"
                } else {
                    "mount"
                },
                why.trim()
            );
            if common::require_interop() {
                panic!("{msg}, and RADGATE_REQUIRE_INTEROP=1: run the tests as root");
            }
            eprintln!("\n*** SKIPPED disk_full: {msg} ***\n");
            return None;
        }
        Some(Mount {
            dir: Some(dir),
            sudo,
        })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let dir = self.dir.take().unwrap();
        let target = dir.path().to_str().unwrap().to_string();
        let mut cmd = if self.sudo {
            let mut c = Command::new("sudo");
            c.args(["-n", "umount"]);
            c
        } else {
            Command::new("umount")
        };
        let ok = cmd.arg(&target).status().is_ok_and(|s| s.success());
        if !ok {
            // Something still holds a file there: detach it now, gone once
            // the last file closes.
            let mut cmd = if self.sudo {
                let mut c = Command::new("sudo");
                c.args(["-n", "umount", "-l"]);
                c
            } else {
                let mut c = Command::new("umount");
                c.arg("-l");
                c
            };
            let _ = cmd.arg(&target).status();
        }
        drop(dir);
    }
}

/// Fill the filesystem of `path` with the file `path` until a write fails
/// with ENOSPC (bounded by `max` bytes), then free `leave` bytes of it.
fn fill(path: &Path, max: u64, leave: u64) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let chunk = vec![0x5au8; 16 << 10];
    let mut written = f.metadata().unwrap().len();
    let mut full = false;
    while written < max {
        match f.write(&chunk) {
            Ok(0) => {
                full = true;
                break;
            }
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                full = true;
                break;
            }
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    assert!(full, "the filesystem took {written} bytes and is not full");
    f.set_len(written.saturating_sub(leave)).unwrap();
}

async fn readyz(s: &TestServer) -> (u16, String) {
    let r = page(s.api_addr.unwrap(), "GET", "/readyz", None, &[], None).await;
    (r.status, r.text)
}

async fn disk_full_gauge(s: &TestServer) -> f64 {
    let r = page(s.api_addr.unwrap(), "GET", "/metrics", None, &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.text
        .lines()
        .find_map(|l| l.strip_prefix("radgate_store_disk_full "))
        .unwrap_or_else(|| panic!("no radgate_store_disk_full in\n{}", r.text))
        .trim()
        .parse()
        .unwrap()
}

/// Wait for `request`'s reply on `c` until `deadline`: `None` when none
/// came (replies to earlier requests are skipped).
async fn reply_by(c: &Client, request: &[u8], deadline: Instant) -> Option<Code> {
    let mut buf = vec![0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = match tokio::time::timeout(left, c.sock.recv(&mut buf)).await {
            Ok(r) => r.unwrap(),
            Err(_) => return None,
        };
        if buf[1] != request[1] {
            continue;
        }
        let p = codec::verify_response(&buf[..n], request, c.secret.as_bytes())
            .expect("a reply that verifies");
        return Some(p.get_code());
    }
}

const CODES: usize = 12;
/// Rounds of Interim-Updates at most (the identifier is the round).
const MAX_ROUNDS: u32 = 240;
/// Seconds of session time per round.
const STEP: u32 = 30;

/// One Interim-Update per code, session time `round * STEP`: which were
/// acknowledged (within `wait`).
async fn round(clients: &[Client], round: u32, wait: Duration) -> Vec<bool> {
    let names: Vec<String> = (0..CODES).map(|i| format!("DISK{i}")).collect();
    let sids: Vec<String> = (0..CODES).map(|i| format!("df-{i}")).collect();
    let reqs: Vec<Vec<u8>> = (0..CODES)
        .map(|i| {
            common::acct_request(
                u8::try_from(round % 256).unwrap(),
                &Acct {
                    status: INTERIM,
                    user: &names[i],
                    session_id: &sids[i],
                    session_time: Some(round * STEP),
                    mac: Some("02:00:00:00:0d:01"),
                    ..Default::default()
                },
                common::SECRET,
            )
        })
        .collect();
    for (c, r) in clients.iter().zip(&reqs) {
        c.send(r).await;
    }
    let deadline = Instant::now() + wait;
    let mut acked = Vec::with_capacity(CODES);
    for (c, r) in clients.iter().zip(&reqs) {
        match reply_by(c, r, deadline).await {
            None => acked.push(false),
            Some(Code::AccountingResponse) => acked.push(true),
            Some(other) => panic!("answered {other:?} to an Accounting-Request"),
        }
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_acknowledgements_and_radgate_resumes_by_itself() {
    let Some(mnt) = Mount::tmpfs("4m") else {
        return;
    };
    let db: PathBuf = mnt.path().join("radgate.db");
    let url = format!("sqlite://{}", db.display());
    let s = TestServer::start_with(|c| {
        c.database.url = url.clone();
        c.api.listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    for i in 0..CODES {
        s.token(&format!("DISK{i}"), 1_000_000, |_| {}).await;
    }
    s.token("DISKAUTH", 60, |_| {}).await;
    let clients: Vec<Client> = {
        let mut v = Vec::new();
        for _ in 0..CODES {
            v.push(Client::new(s.acct_addr).await);
        }
        v
    };
    for (i, c) in clients.iter().enumerate() {
        c.acct(
            0,
            &Acct {
                status: START,
                user: &format!("DISK{i}"),
                session_id: &format!("df-{i}"),
                session_time: Some(0),
                mac: Some("02:00:00:00:0d:01"),
                ..Default::default()
            },
        )
        .await;
    }
    s.flush().await;
    assert_eq!(readyz(&s).await.0, 200);
    assert_eq!(disk_full_gauge(&s).await, 0.0);

    // Leave a little space, then charge until nothing is acknowledged.
    let filler = mnt.path().join("filler");
    fill(&filler, 64 << 20, 48 << 10);
    let mut acked = [0u32; CODES];
    let t0 = Instant::now();
    let mut r = 1;
    let mut full_at = None;
    while r < MAX_ROUNDS && t0.elapsed() < Duration::from_secs(60) {
        let got = round(&clients, r, Duration::from_millis(1500)).await;
        for (i, ok) in got.iter().enumerate() {
            if *ok {
                acked[i] = r * STEP;
            }
        }
        r += 1;
        if got.iter().all(|ok| !ok) {
            full_at = Some(r - 1);
            break;
        }
    }
    let full_at = full_at
        .unwrap_or_else(|| panic!("the disk never filled up: {r} rounds in {:?}", t0.elapsed()));
    assert!(
        acked.iter().all(|&a| a > 0),
        "some charges were acknowledged before the disk filled: {acked:?}"
    );
    eprintln!("disk full at round {full_at}; acknowledged: {acked:?}");

    // Whatever space a failed commit left, none now.
    fill(&filler, 64 << 20, 0);
    // Not ready, and why; the gauge says so.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, text) = readyz(&s).await;
        if status == 503 {
            assert!(text.contains("disk is full"), "{text}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still ready with a full disk: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(disk_full_gauge(&s).await, 1.0);
    // Still nothing acknowledged (not answered, not answered wrongly).
    for _ in 0..2 {
        let got = round(&clients, r, Duration::from_millis(1000)).await;
        assert!(
            got.iter().all(|ok| !ok),
            "acknowledged on a full disk: {got:?}"
        );
        r += 1;
    }
    // A first login records the device's place: not answered either.
    let auth = Client::new(s.addr).await;
    let req = common::access_request(
        7,
        "DISKAUTH",
        Pw::Pap("DISKAUTH"),
        Some("02:00:00:00:0d:02"),
        true,
        common::SECRET,
    );
    auth.send(&req).await;
    assert_eq!(
        reply_by(&auth, &req, Instant::now() + Duration::from_millis(1500)).await,
        None,
        "a first login answered on a full disk"
    );
    assert!(
        common::stat(&s.stats().store_errors) > 0,
        "unanswered requests are counted"
    );

    // Space again: ready without a restart, and acknowledging.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, text) = readyz(&s).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "not ready again: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(disk_full_gauge(&s).await, 0.0);
    // Nothing acknowledged was lost.
    for (i, &a) in acked.iter().enumerate() {
        let used = s.seconds_used(&format!("DISK{i}")).await;
        assert!(
            used >= i64::from(a),
            "DISK{i}: {used} s stored, {a} s acknowledged"
        );
    }
    let got = round(&clients, r, Duration::from_secs(5)).await;
    assert!(
        got.iter().all(|ok| *ok),
        "not acknowledged after recovery: {got:?}"
    );
    let last = r * STEP;
    assert!(auth
        .auth(
            8,
            "DISKAUTH",
            Pw::Pap("DISKAUTH"),
            Some("02:00:00:00:0d:02")
        )
        .await
        .is_accept());

    // And after a restart on the same files.
    s.shutdown().await;
    let cfg = radgate::config::DatabaseConfig {
        url: url.clone(),
        ..radgate::config::Config::builtin_default().database
    };
    let store = radgate::store::Store::open(&cfg, radgate::store::OpenMode::Serve)
        .await
        .unwrap();
    for i in 0..CODES {
        let t = store.find_token(&format!("DISK{i}")).await.unwrap();
        assert_eq!(t.seconds_used, i64::from(last), "DISK{i} after a restart");
    }
    drop(store);
    drop(mnt);
}
