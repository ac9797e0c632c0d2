//! Operations over HTTP (SPEC §11): `/metrics` scraped and parsed (by our
//! own reading and by the Prometheus project's Python parser), `/healthz`,
//! `/readyz`, and `[api] metrics_key`. Against the running daemon.

mod common;

use std::collections::HashMap;

use common::http::page;
use common::{Acct, Backend, Client, Pw, TestServer};

/// The samples of an exposition: `name{labels}` → value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn get(m: &HashMap<String, f64>, key: &str) -> f64 {
    *m.get(key)
        .unwrap_or_else(|| panic!("no sample {key}; have {:#?}", m.keys().collect::<Vec<_>>()))
}

async fn scrape(s: &TestServer) -> (String, HashMap<String, f64>) {
    let r = page(s.api_addr.unwrap(), "GET", "/metrics", None, &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let m = samples(&r.text);
    (r.text, m)
}

both_backends! {
/// Every series is there from the start at 0; traffic moves the right
/// ones; no label carries a code or a MAC; the Prometheus parser reads it.
#[tokio::test]
async fn metrics_count_what_the_server_does(b: Backend) {
    let s = TestServer::start_on_with(b, |c| {
        c.api.listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    s.token("METRIC1", 60, |_| {}).await;
    let (text, m) = scrape(&s).await;
    for key in [
        r#"radgate_requests_total{type="access",result="accept"}"#,
        r#"radgate_requests_total{type="access",result="reject"}"#,
        r#"radgate_requests_total{type="access",result="throttled"}"#,
        r#"radgate_requests_total{type="accounting",result="ok"}"#,
        r#"radgate_packets_dropped_total{reason="malformed"}"#,
        r#"radgate_packets_dropped_total{reason="unknown_client"}"#,
        r#"radgate_duplicates_total"#,
        r#"radgate_disconnect_requests_total{outcome="acked"}"#,
        r#"radgate_request_duration_seconds_count{type="access"}"#,
        r#"radgate_sessions_active"#,
    ] {
        assert_eq!(get(&m, key), 0.0, "{key} at start");
    }
    // There, whatever the background loops have queued just now.
    assert!(get(&m, "radgate_store_queue_depth") >= 0.0);
    assert_eq!(get(&m, &format!(r#"radgate_build_info{{version="{}"}}"#, env!("CARGO_PKG_VERSION"))), 1.0);
    assert!(text.ends_with("# EOF\n"));

    // A login, a wrong code, its retransmission, garbage, accounting.
    let c = Client::new(s.addr).await;
    assert!(c.auth(1, "METRIC1", Pw::Pap("METRIC1"), Some("02:00:00:00:00:09")).await.is_accept());
    let wrong = common::access_request(2, "NOPE", Pw::Pap("NOPE"), None, true, "testing123");
    assert!(!c.roundtrip(&wrong).await.is_accept());
    c.send(&wrong).await;
    c.recv_for(&wrong).await;
    c.send(b"\x01\x02").await;
    let acct = Client::new(s.acct_addr).await;
    acct.acct(3, &Acct {
        status: 1,
        user: "METRIC1",
        session_id: "m-1",
        mac: Some("02:00:00:00:00:09"),
        ..Default::default()
    }).await;
    s.flush().await;
    let r = page(s.api_addr.unwrap(), "GET", "/healthz", None, &[], None).await;
    assert_eq!((r.status, r.text.as_str()), (200, "ok\n"));

    let (text, m) = scrape(&s).await;
    assert_eq!(get(&m, r#"radgate_requests_total{type="access",result="accept"}"#), 1.0);
    assert_eq!(get(&m, r#"radgate_requests_total{type="access",result="reject"}"#), 1.0);
    assert_eq!(get(&m, r#"radgate_requests_total{type="accounting",result="ok"}"#), 1.0);
    assert_eq!(get(&m, r#"radgate_duplicates_total"#), 1.0);
    assert_eq!(get(&m, r#"radgate_packets_dropped_total{reason="malformed"}"#), 1.0);
    assert_eq!(get(&m, r#"radgate_request_duration_seconds_count{type="access"}"#), 2.0);
    assert_eq!(get(&m, r#"radgate_request_duration_seconds_count{type="accounting"}"#), 1.0);
    assert_eq!(get(&m, r#"radgate_request_duration_seconds_bucket{le="+Inf",type="access"}"#), 2.0);
    assert!(get(&m, "radgate_store_batch_size_count") >= 1.0);
    assert!(get(&m, "radgate_store_batch_duration_seconds_count") >= 1.0);
    assert_eq!(get(&m, "radgate_sessions_active"), 1.0);
    assert_eq!(get(&m, r#"radgate_http_requests_total{method="GET",route="/healthz",status="200"}"#), 1.0);
    assert_eq!(get(&m, r#"radgate_http_requests_total{method="GET",route="/metrics",status="200"}"#), 1.0);
    for secret in ["METRIC1", "metric1", "02:00:00:00:00:09", "02-00-00", "NOPE", "m-1", "testing123"] {
        assert!(!text.contains(secret), "{secret} in the metrics");
    }

    // The shipped dashboard and alert rules use only metrics that exist.
    for file in ["deploy/grafana-dashboard.json", "deploy/prometheus-alerts.yml"] {
        let body = std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let mut rest = body.as_str();
        while let Some(at) = rest.find("radgate_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(text.contains(&name), "{file} uses {name}, which /metrics does not have");
            rest = &rest[at + name.len()..];
        }
    }
    if b == Backend::Sqlite {
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana-dashboard.json")).unwrap(),
        )
        .expect("the dashboard is JSON");
        assert!(v["panels"].as_array().unwrap().len() >= 10);
    }

    // The Prometheus project's parser reads it, and sees the same.
    if let Some(py) = common::python_with("prometheus_client", "python3-prometheus-client") {
        let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
seen = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        if s.name == "radgate_requests_total" and s.labels == {"type": "access", "result": "accept"}:
            seen["accept"] = s.value
        seen.setdefault("families", 0)
    seen["families"] = seen.get("families", 0) + 1
print(int(seen["accept"]), seen["families"])
"#;
        let mut child = std::process::Command::new(py)
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "the parser refused it: {}", String::from_utf8_lossy(&out.stderr));
        let said = String::from_utf8_lossy(&out.stdout);
        let mut it = said.split_whitespace();
        assert_eq!(it.next(), Some("1"), "{said}");
        let families: usize = it.next().unwrap().parse().unwrap();
        assert!(families >= 15, "{said}");
    }
    s.shutdown().await;
}
}

/// `/readyz` says ready while the store answers; `[api] metrics_key`
/// guards `/metrics` (and only it).
#[tokio::test]
async fn readiness_and_the_metrics_key() {
    let s = TestServer::start_with(|c| {
        c.api.listen = Some("127.0.0.1:0".parse().unwrap());
        c.api.metrics_key = Some(radgate::config::Hidden(
            "a-metrics-key-of-some-length".into(),
        ));
    })
    .await;
    let addr = s.api_addr.unwrap();
    let r = page(addr, "GET", "/readyz", None, &[], None).await;
    assert_eq!((r.status, r.text.as_str()), (200, "ready\n"));
    let r = page(addr, "GET", "/metrics", None, &[], None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = page(
        addr,
        "GET",
        "/metrics",
        None,
        &[("Authorization", "Bearer wrong-key-wrong-key")],
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    let r = page(
        addr,
        "GET",
        "/metrics",
        None,
        &[("Authorization", "Bearer a-metrics-key-of-some-length")],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("radgate_requests_total"));
    let r = page(addr, "GET", "/healthz", None, &[], None).await;
    assert_eq!(r.status, 200, "health needs no key");
    s.shutdown().await;
}

/// A reload reaches the writer's brute-force limits and the HTTP
/// listener's settings: after lowering `device_failures` to 2, the next
/// wrong code of a device that failed twice trips the limit; after setting `metrics_key`, /metrics
/// wants it. The sign-in throttle and the counters carry over.
#[tokio::test]
async fn a_reload_changes_throttle_limits_and_http_settings() {
    let s = TestServer::start_with(|c| {
        c.api.listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let addr = s.api_addr.unwrap();
    let c = Client::new(s.addr).await;
    let mac = Some("02:00:00:00:00:77");
    for i in 0..2 {
        let r = c.auth(i, "WRONG1", Pw::Pap("WRONG1"), mac).await;
        assert_eq!(
            r.reply_message().as_deref(),
            Some("Unknown access code"),
            "try {i}"
        );
    }
    let mut new = (*s.config).clone();
    new.throttle.device_failures = 2;
    new.api.metrics_key = Some(radgate::config::Hidden(
        "a-metrics-key-of-some-length".into(),
    ));
    let done = s.handle.as_ref().unwrap().reload(new).await;
    assert!(done.need_restart.is_empty(), "{:?}", done.need_restart);
    // The new limit counts from the next failure: it trips it.
    let r = c.auth(3, "WRONG1", Pw::Pap("WRONG1"), mac).await;
    assert_eq!(r.reply_message().as_deref(), Some("Unknown access code"));
    let r = c.auth(4, "WRONG1", Pw::Pap("WRONG1"), mac).await;
    assert_eq!(
        r.reply_message().as_deref(),
        Some("Too many failed attempts, please wait a few minutes"),
        "two failures are now enough"
    );
    let r = page(addr, "GET", "/metrics", None, &[], None).await;
    assert_eq!(r.status, 401);
    let r = page(
        addr,
        "GET",
        "/metrics",
        None,
        &[("Authorization", "Bearer a-metrics-key-of-some-length")],
        None,
    )
    .await;
    let m = samples(&r.text);
    assert_eq!(
        get(
            &m,
            r#"radgate_requests_total{type="access",result="throttled"}"#
        ),
        1.0
    );
    assert_eq!(
        get(
            &m,
            r#"radgate_requests_total{type="access",result="reject"}"#
        ),
        3.0,
        "counters kept"
    );
    s.shutdown().await;
}
