//! Smoke test of the load generator (`radgate-bench`): a few hundred requests
//! against radgate in-process (PAP and CHAP) and against the generator's own
//! trivial responder (accounting), checking correctness only: every request
//! answered, every response verified, all accepted. No timing assertions.

#[path = "common/mod.rs"]
mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BENCH: &str = env!("CARGO_BIN_EXE_radgate-bench");
const CODES: u64 = 20;
const REQUESTS: u64 = 300;

/// Run `radgate-bench load` with `args` for REQUESTS requests; the JSON report.
async fn load(server: &str, mode: &str, extra: &[&str]) -> serde_json::Value {
    let requests = REQUESTS.to_string();
    let codes = CODES.to_string();
    let mut args = vec![
        "load",
        "--server",
        server,
        "--secret",
        SECRET,
        "--mode",
        mode,
        "--codes",
        &codes,
        "--requests",
        &requests,
        "--concurrency",
        "8",
        "--warmup",
        "0s",
        "--duration",
        "60s",
        "--timeout",
        "5s",
        "--json",
        "--strict",
    ];
    args.extend_from_slice(extra);
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        Command::new(BENCH).args(&args).kill_on_drop(true).output(),
    )
    .await
    .expect("radgate-bench finished within 120 s")
    .expect("radgate-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "radgate-bench {mode} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("one JSON document")
}

fn assert_all_accepted(r: &serde_json::Value) {
    assert_eq!(r["sent"], REQUESTS, "{r}");
    assert_eq!(r["accepts"], REQUESTS, "{r}");
    assert_eq!(r["responses"], REQUESTS, "{r}");
    for k in ["rejects", "other", "timeouts", "bad", "send_errors"] {
        assert_eq!(r[k], 0, "{k} in {r}");
    }
    assert_eq!(r["without_message_authenticator"], 0, "{r}");
    assert_eq!(r["latency_samples"], REQUESTS, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_generator_against_radgate_pap_and_chap() {
    let srv = TestServer::start().await;
    for i in 0..CODES {
        srv.token(&format!("BENCH{i:06}"), 600, |_| {}).await;
    }
    let server = srv.addr.to_string();
    for mode in ["auth-pap", "auth-chap"] {
        let r = load(&server, mode, &[]).await;
        assert_all_accepted(&r);
        assert_eq!(r["mode"], mode);
    }
    // Without Message-Authenticator on the requests, too (radgate's `auto`
    // policy has learned that this client sends one, so use a fresh server).
    srv.shutdown().await;
    let srv = TestServer::start().await;
    for i in 0..CODES {
        srv.token(&format!("BENCH{i:06}"), 600, |_| {}).await;
    }
    let r = load(
        &srv.addr.to_string(),
        "auth-pap",
        &["--no-message-authenticator"],
    )
    .await;
    assert_all_accepted(&r);
    assert!(stat(&srv.stats().access_accepts) >= REQUESTS);
    assert_eq!(srv.stats().dropped_total(), 0);
    srv.shutdown().await;
}

/// The generator's trivial responder on free loopback ports: the process
/// and its auth and acct addresses.
async fn start_responder() -> (tokio::process::Child, String, String) {
    let mut child = Command::new(BENCH)
        .args([
            "responder",
            "--auth-listen",
            "127.0.0.1:0",
            "--acct-listen",
            "127.0.0.1:0",
            "--secret",
            SECRET,
            "--max-duration",
            "120s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("responder starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut auth, mut acct) = (None, None);
    while auth.is_none() || acct.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("responder prints its addresses")
            .unwrap()
            .expect("responder is running");
        if let Some(a) = line.strip_prefix("auth listening on ") {
            auth = Some(a.trim().to_string());
        }
        if let Some(a) = line.strip_prefix("acct listening on ") {
            acct = Some(a.trim().to_string());
        }
    }
    // Keep reading what it prints: a closed pipe would fail its next write
    // (the line after these two) and end it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, auth.unwrap(), acct.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_generator_against_responder_all_modes() {
    let (mut child, auth, acct) = start_responder().await;
    for mode in ["auth-pap", "auth-chap"] {
        assert_all_accepted(&load(&auth, mode, &[]).await);
    }
    assert_all_accepted(&load(&acct, "acct", &[]).await);
    assert_all_accepted(
        &load(
            &acct,
            "acct",
            &["--acct-message-authenticator", "--interims", "3"],
        )
        .await,
    );

    // A wrong secret: the responder drops what does not verify, so every
    // request times out, and --strict fails.
    let out = Command::new(BENCH)
        .args([
            "load",
            "--server",
            &auth,
            "--secret",
            "not-the-secret",
            "--requests",
            "4",
            "--concurrency",
            "2",
            "--warmup",
            "0s",
            "--timeout",
            "200ms",
            "--json",
            "--strict",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["timeouts"], 4, "{r}");
    assert_eq!(r["accepts"], 0, "{r}");

    // Stop the responder we started (by its handle) and let it report.
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

/// Two servers (two nodes of one service): the requests in flight split
/// evenly, every request answered, each server's share in per_server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_generator_splits_over_two_servers() {
    let (mut a, a_auth, a_acct) = start_responder().await;
    let (mut b, b_auth, b_acct) = start_responder().await;
    for (mode, servers) in [
        ("auth-pap", format!("{a_auth},{b_auth}")),
        ("acct", format!("{a_acct},{b_acct}")),
    ] {
        let r = load(&servers, mode, &[]).await;
        assert_all_accepted(&r);
        assert_eq!(r["server"], servers.as_str());
        let per = r["per_server"].as_array().expect("per_server");
        assert_eq!(per.len(), 2, "{r}");
        let mut answered = 0;
        for (p, addr) in per.iter().zip(servers.split(',')) {
            assert_eq!(p["address"], addr, "{r}");
            assert_eq!(p["in_flight"], 4, "{r}");
            assert!(p["answered"].as_u64().unwrap() > 0, "{r}");
            assert_eq!(p["timed_out"], 0, "{r}");
            answered += p["answered"].as_u64().unwrap();
        }
        assert_eq!(answered, REQUESTS, "{r}");
    }
    // The same server twice is refused.
    let out = Command::new(BENCH)
        .args(["load", "--server", &a_auth, "--server", &a_auth])
        .args(["--requests", "1", "--concurrency", "2"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("given twice"));
    for c in [&mut a, &mut b] {
        c.start_kill().unwrap();
        let _ = c.wait().await;
    }
}

#[tokio::test]
async fn load_generator_refuses_non_loopback_targets() {
    let out = Command::new(BENCH)
        .args(["load", "--server", "192.0.2.1:1812", "--requests", "1"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
}

#[tokio::test]
async fn fsync_floor_syncs_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(BENCH)
            .args([
                "fsync-floor",
                "--dir",
                dir.path().to_str().unwrap(),
                "--concurrency",
                "8",
                "--requests",
                "200",
                "--duration",
                "30s",
                "--warmup",
                "0s",
                "--file-mib",
                "1",
                "--json",
            ])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("fsync-floor finished within 60 s")
    .expect("radgate-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fsync-floor failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON document");
    assert_eq!(r["mode"], "fsync-floor", "{r}");
    assert_eq!(r["sent"], 200, "{r}");
    assert_eq!(r["accepts"], 200, "{r}");
    assert_eq!(r["latency_samples"], 200, "{r}");
    assert_eq!(r["timeouts"], 0, "{r}");
    let syncs = r["syncs"].as_u64().unwrap();
    assert!((25..=200).contains(&syncs), "{r}");
    assert!(r["rps"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["latency_ms"]["p99"].as_f64().unwrap() > 0.0, "{r}");
    // The journal is removed afterwards.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
