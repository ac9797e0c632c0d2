//! Interop: independent clients (FreeRADIUS radclient, python3-pyrad)
//! against the running server. Skipped loudly when the tool is missing;
//! required under RADGATE_REQUIRE_INTEROP=1 (CI).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

/// Run radclient with `input` (attribute lines) and return (exit ok, stdout).
fn radclient(port: u16, kind: &str, input: &str) -> Option<(bool, String)> {
    let bin = tool("radclient", "freeradius-utils")?;
    let mut child = Command::new(bin)
        .args([
            "-x",
            "-r",
            "2",
            "-t",
            "3",
            &format!("127.0.0.1:{port}"),
            kind,
            SECRET,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}

async fn run_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radclient_pap_accept_with_session_timeout(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("WELCOME1", 60, |_| {}).await;
    let port = s.addr.port();
    let Some((ok, out)) = run_blocking(move || radclient(port, "auth", "User-Name = \"WELCOME1\"\nUser-Password = \"WELCOME1\"\nCalling-Station-Id = \"AA-BB-CC-DD-EE-01\"\n")).await else {
        return;
    };
    assert!(ok, "{out}");
    assert!(out.contains("Received Access-Accept"), "{out}");
    assert!(out.contains("Session-Timeout = 3600"), "{out}");
    assert!(out.contains("Acct-Interim-Interval = 300"), "{out}");
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radclient_chap_accept(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("Welcome2", 30, |_| {}).await;
    let port = s.addr.port();
    // radclient turns a cleartext CHAP-Password into a CHAP response.
    let Some((ok, out)) = run_blocking(move || {
        radclient(
            port,
            "auth",
            "User-Name = \"welcome2\"\nCHAP-Password = \"welcome2\"\n",
        )
    })
    .await
    else {
        return;
    };
    assert!(ok, "{out}");
    assert!(out.contains("Received Access-Accept"), "{out}");
    assert!(out.contains("Session-Timeout = 1800"), "{out}");
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radclient_reject_with_reply_message(b: Backend) {
    let s = TestServer::start_on(b).await;
    let port = s.addr.port();
    let Some((ok, out)) = run_blocking(move || {
        radclient(
            port,
            "auth",
            "User-Name = \"NOPE\"\nUser-Password = \"NOPE\"\n",
        )
    })
    .await
    else {
        return;
    };
    assert!(!ok, "radclient exits non-zero on reject: {out}");
    assert!(out.contains("Received Access-Reject"), "{out}");
    assert!(
        out.contains("Reply-Message = \"Unknown access code\""),
        "{out}"
    );
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radclient_status_server(b: Backend) {
    let s = TestServer::start_on(b).await;
    let port = s.addr.port();
    let Some((ok, out)) =
        run_blocking(move || radclient(port, "status", "Message-Authenticator = 0x00\n")).await
    else {
        return;
    };
    assert!(ok, "{out}");
    assert!(out.contains("Received Access-Accept"), "{out}");
    s.shutdown().await;
}
}

fn pyrad(
    port: u16,
    method: &str,
    user: &str,
    pw: &str,
    mac: Option<&str>,
) -> Option<serde_json::Value> {
    pyrad_args(
        port,
        method,
        user,
        pw,
        mac.into_iter().map(String::from).collect(),
    )
}

/// A python3 that has pyrad; `None` (skip, loudly) when there is none,
/// unless RADGATE_REQUIRE_INTEROP=1.
fn pyrad_python() -> Option<&'static str> {
    common::python_with("pyrad", "python3-pyrad")
}

fn pyrad_args(
    port: u16,
    method: &str,
    user: &str,
    pw: &str,
    extra: Vec<String>,
) -> Option<serde_json::Value> {
    let py = pyrad_python()?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/pyrad_client.py");
    let mut args = vec![
        script.to_string(),
        port.to_string(),
        SECRET.into(),
        method.into(),
        user.into(),
        pw.into(),
    ];
    args.extend(extra);
    let out = Command::new(py).args(&args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pyrad client failed: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_str(&text).unwrap())
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyrad_pap_chap_and_reject(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("PyCode1", 45, |t| t.user_limit = Some(1)).await;
    let port = s.addr.port();
    let Some(v) =
        run_blocking(move || pyrad(port, "pap", "PYCODE1", "pycode1", Some("02:00:00:00:00:01")))
            .await
    else {
        return;
    };
    assert_eq!(v["code"], 2, "{v}");
    assert_eq!(v["attributes"]["Session-Timeout"][0], 2700, "{v}");
    let v = run_blocking(move || {
        pyrad(
            port,
            "chap",
            "pycode1",
            "pycode1",
            Some("02:00:00:00:00:01"),
        )
    })
    .await
    .unwrap();
    assert_eq!(v["code"], 2, "{v}");
    let v =
        run_blocking(move || pyrad(port, "pap", "PYCODE1", "PYCODE1", Some("02:00:00:00:00:02")))
            .await
            .unwrap();
    assert_eq!(v["code"], 3, "{v}");
    assert_eq!(
        v["attributes"]["Reply-Message"][0], "Too many devices are using this access code",
        "{v}"
    );
    s.shutdown().await;
}
}

both_backends! {
/// SPEC/issue scenario: Start / Interim(600 s) / Stop(900 s) with radclient
/// leaves a 60-minute code at 45 minutes; a repeated Interim changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radclient_accounting_start_interim_stop(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("ACCT60", 60, |_| {}).await;
    let port = s.acct_addr.port();
    let base = "User-Name = \"ACCT60\"\nAcct-Session-Id = \"80000001\"\nCalling-Station-Id = \"AA:BB:CC:DD:EE:01\"\nFramed-IP-Address = 10.5.50.2\nNAS-IP-Address = 127.0.0.1\n";
    let send = move |extra: &str| {
        let input = format!("{base}{extra}");
        radclient(port, "acct", &input)
    };
    let Some((ok, out)) =
        run_blocking(move || send("Acct-Status-Type = Start\nAcct-Session-Time = 0\n")).await
    else {
        return;
    };
    assert!(ok && out.contains("Received Accounting-Response"), "{out}");
    for _ in 0..2 {
        let (ok, out) = run_blocking(move || {
            send("Acct-Status-Type = Interim-Update\nAcct-Session-Time = 600\n")
        })
        .await
        .unwrap();
        assert!(ok && out.contains("Received Accounting-Response"), "{out}");
        assert_eq!(
            s.store.find_token("ACCT60").await.unwrap().minutes_left(),
            50
        );
    }
    let (ok, out) = run_blocking(move || {
        send("Acct-Status-Type = Stop\nAcct-Session-Time = 900\nAcct-Terminate-Cause = User-Request\nAcct-Input-Octets = 12345\n")
    })
    .await
    .unwrap();
    assert!(ok && out.contains("Received Accounting-Response"), "{out}");
    assert_eq!(
        s.store.find_token("ACCT60").await.unwrap().minutes_left(),
        45
    );
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyrad_accounting_start_interim_stop(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("PYACCT", 60, |_| {}).await;
    let port = s.acct_addr.port();
    let send = move |status: &'static str, t: u32| {
        move || {
            pyrad_args(
                port,
                "acct",
                "PYACCT",
                status,
                vec!["py-1".into(), t.to_string()],
            )
        }
    };
    let Some(v) = run_blocking(send("Start", 0)).await else {
        return;
    };
    assert_eq!(v["code"], 5, "{v}");
    let v = run_blocking(send("Interim-Update", 600)).await.unwrap();
    assert_eq!(v["code"], 5, "{v}");
    let v = run_blocking(send("Interim-Update", 600)).await.unwrap();
    assert_eq!(v["code"], 5, "{v}");
    let v = run_blocking(send("Stop", 900)).await.unwrap();
    assert_eq!(v["code"], 5, "{v}");
    assert_eq!(
        s.store.find_token("PYACCT").await.unwrap().minutes_left(),
        45
    );
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radclient_single_use_code_with_window_from_first_login(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("ONCE2H", 600, |t| {
        t.single_use = Some(true);
        t.valid_for = Some("2h".into());
    })
    .await;
    let (auth, acct) = (s.addr.port(), s.acct_addr.port());
    let login = "User-Name = \"ONCE2H\"\nUser-Password = \"ONCE2H\"\nCalling-Station-Id = \"AA-BB-CC-DD-EE-02\"\n";
    let Some((ok, out)) = run_blocking(move || radclient(auth, "auth", login)).await else {
        return;
    };
    assert!(ok, "{out}");
    // 600 minutes on the code, but 2 hours from this first login.
    assert!(out.contains("Session-Timeout = 7200"), "{out}");
    let base = "User-Name = \"ONCE2H\"\nAcct-Session-Id = \"90000001\"\nCalling-Station-Id = \"AA:BB:CC:DD:EE:02\"\nNAS-IP-Address = 127.0.0.1\n";
    for extra in [
        "Acct-Status-Type = Start\nAcct-Session-Time = 0\n",
        "Acct-Status-Type = Stop\nAcct-Session-Time = 300\nAcct-Terminate-Cause = User-Request\n",
    ] {
        let input = format!("{base}{extra}");
        let (ok, out) = run_blocking(move || radclient(acct, "acct", &input))
            .await
            .unwrap();
        assert!(ok && out.contains("Received Accounting-Response"), "{out}");
    }
    let (ok, out) = run_blocking(move || radclient(auth, "auth", login))
        .await
        .unwrap();
    assert!(!ok, "{out}");
    assert!(out.contains("Received Access-Reject"), "{out}");
    assert!(
        out.contains("Reply-Message = \"This access code has already been used\""),
        "{out}"
    );
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyrad_nas_accepts_our_disconnect_request(b: Backend) {
    use std::io::{BufRead, BufReader};
    let Some(py) = pyrad_python() else { return };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/pyrad_nas.py");
    let mut nas = Command::new(py)
        .args([script, SECRET])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(nas.stdout.take().unwrap());
    // The first line is the port it listens on: its readiness signal.
    let port: u16 = {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        line.trim().parse().expect("pyrad_nas.py printed no port")
    };
    let s = TestServer::start_on_with(b, |c| c.clients[0].coa_port = Some(port)).await;
    s.token("KICKME", 1, |_| {}).await;
    let acct = Client::new(s.acct_addr).await;
    let a = Acct {
        status: START,
        user: "kickme",
        session_id: "80000042",
        session_time: Some(0),
        mac: Some("02:00:00:00:00:42"),
        framed_ip: Some([10, 5, 50, 42].into()),
        ..Default::default()
    };
    acct.acct(1, &a).await;
    acct.acct(
        2,
        &Acct {
            status: INTERIM,
            session_time: Some(90),
            ..a.clone()
        },
    )
    .await;
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let status = nas.wait().unwrap();
    assert!(status.success(), "pyrad_nas.py: {status} {line}");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["code"], 40, "{v}");
    assert_eq!(
        v["verified"], true,
        "pyrad verifies the Request Authenticator: {v}"
    );
    let at = &v["attributes"];
    assert_eq!(at["User-Name"][0], "kickme", "{v}");
    assert_eq!(at["Acct-Session-Id"][0], "80000042", "{v}");
    assert_eq!(at["Framed-IP-Address"][0], "10.5.50.42", "{v}");
    assert!(at.get("Message-Authenticator").is_some(), "{v}");
    // pyrad's Disconnect-ACK verifies on our side.
    let st = s.stats();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while stat(&st.disconnect_acked) != 1 {
        assert!(tokio::time::Instant::now() < deadline, "ACK not counted");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radclient_decodes_rate_limit_and_wispr_attributes(b: Backend) {
    let s = TestServer::start_on_with(b, |c| {
        c.reply.defaults.idle_timeout = Some(900);
        c.reply.session_terminate_time = true;
    })
    .await;
    s.token("SPEEDY", 60, |t| {
        t.rate_limit = Some("2M/5M".into());
        t.valid_to = Some("2099-12-31T23:59:00Z".into());
    })
    .await;
    let port = s.addr.port();
    let Some((ok, out)) = run_blocking(move || {
        radclient(
            port,
            "auth",
            "User-Name = \"SPEEDY\"\nUser-Password = \"SPEEDY\"\n",
        )
    })
    .await
    else {
        return;
    };
    assert!(ok, "{out}");
    // radclient decodes the vendor attributes with FreeRADIUS's dictionaries.
    for line in [
        "Idle-Timeout = 900",
        "Mikrotik-Rate-Limit = \"2M/5M\"",
        "WISPr-Bandwidth-Max-Up = 2000000",
        "WISPr-Bandwidth-Max-Down = 5000000",
        "WISPr-Session-Terminate-Time = \"2099-12-31T23:59:00+00:00\"",
    ] {
        assert!(out.contains(line), "{line} missing: {out}");
    }
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radclient_charges_octets_and_decodes_the_total_limit_attributes(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("DATA5G", 600, |t| t.megabytes_included = Some(5_000)).await;
    let (port, acct_port) = (s.addr.port(), s.acct_addr.port());
    let Some((ok, out)) = run_blocking(move || {
        radclient(
            port,
            "auth",
            "User-Name = \"DATA5G\"\nUser-Password = \"DATA5G\"\n",
        )
    })
    .await
    else {
        return;
    };
    assert!(ok, "{out}");
    // 5 GB = 1 × 2^32 + 705,032,704, decoded by name with FreeRADIUS's
    // dictionaries (ChilliSpot-Max-Total-Gigawords, 14559/23, is CoovaChilli's
    // and not in them).
    for line in [
        "Mikrotik-Total-Limit = 705032704",
        "Mikrotik-Total-Limit-Gigawords = 1",
        "ChilliSpot-Max-Total-Octets = 705032704",
    ] {
        assert!(out.contains(line), "{line} missing: {out}");
    }
    // Accounting from radclient, with Gigawords: 1 × 2^32 + 1,000 in and
    // 704,031,704 out, 4,999,000,000 bytes in all: 1 MB left.
    let Some((ok, out)) = run_blocking(move || {
        radclient(
            acct_port,
            "acct",
            "User-Name = \"DATA5G\"\nAcct-Status-Type = Interim-Update\n\
             Acct-Session-Id = \"rc-1\"\nAcct-Session-Time = 60\n\
             Acct-Input-Octets = 1000\nAcct-Input-Gigawords = 1\n\
             Acct-Output-Octets = 704031704\n",
        )
    })
    .await
    else {
        return;
    };
    assert!(ok, "{out}");
    let t = s.store.find_token("DATA5G").await.unwrap();
    assert_eq!((t.bytes_used, t.megabytes_left()), (4_999_000_000, Some(1)));
    let Some((ok, out)) = run_blocking(move || {
        radclient(
            port,
            "auth",
            "User-Name = \"DATA5G\"\nUser-Password = \"DATA5G\"\n",
        )
    })
    .await
    else {
        return;
    };
    assert!(ok, "{out}");
    assert!(out.contains("Mikrotik-Total-Limit = 1000000"), "{out}");
    assert!(!out.contains("Mikrotik-Total-Limit-Gigawords"), "{out}");
    s.shutdown().await;
}
}
