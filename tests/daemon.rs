//! The real daemon: `radgate serve` as a process, codes created with the CLI
//! while it runs, then authenticated over UDP (our client and radclient).

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use common::*;

struct Daemon {
    child: Child,
    auth: SocketAddr,
    acct: SocketAddr,
    /// The HTTP API's address, when `[api] listen` is set.
    api: Option<SocketAddr>,
    /// The log lines up to and with the "listening" lines.
    startup: Vec<String>,
    /// The daemon's log lines after start-up, as they come.
    log: std::sync::mpsc::Receiver<String>,
}

impl Daemon {
    /// Wait (at most 10 s) for a log line containing every needle; returns it.
    fn wait_log(&self, needles: &[&str]) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if needles.iter().all(|n| line.contains(n)) => return line,
                Ok(line) => seen.push(line),
                Err(_) => panic!("no log line with {needles:?}; saw:\n{}", seen.join("\n")),
            }
        }
    }
}

impl Daemon {
    /// Stop with SIGTERM, as systemd does (at most 30 s); the whole log.
    fn stop(mut self) -> (std::process::ExitStatus, Vec<String>) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "serve did not stop on SIGTERM within 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut all = std::mem::take(&mut self.startup);
        // The reader thread ends (and the channel with it) at end of file.
        all.extend(self.log.iter());
        (status, all)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &std::path::Path) -> std::path::PathBuf {
    let cfg = format!(
        "[server]\nauth_listen = \"127.0.0.1:0\"\nacct_listen = \"127.0.0.1:0\"\n\n\
         [database]\nurl = \"sqlite://{}\"\n\n[[client]]\nname = \"local\"\naddress = \"127.0.0.1\"\nsecret = \"testing123\"\n",
        dir.join("radgate.db").display()
    );
    let path = dir.join("radgate.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

/// Start `radgate serve` and wait for its "auth/acct listening on ADDR" lines.
fn start_daemon(config: &std::path::Path) -> Daemon {
    start_daemon_with(config, &[])
}

/// A log line's text: the line, or with `log_format = "json"` its message.
fn message_of(line: &str) -> String {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| line.to_string())
}

/// [`start_daemon`] with environment variables (e.g. `RADGATE_LOG`).
fn start_daemon_with(config: &std::path::Path, env: &[(&str, &str)]) -> Daemon {
    let mut child = Command::new(env!("CARGO_BIN_EXE_radgate"))
        .args(["--config", config.to_str().unwrap(), "serve"])
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let (mut auth, mut acct, mut api) = (None, None, None);
    while auth.is_none() || acct.is_none() {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            panic!("daemon exited before listening:\n{}", seen.join("\n"));
        };
        let text = message_of(&line);
        let addr = |prefix: &str| -> Option<SocketAddr> {
            let rest = text.split(prefix).nth(1)?;
            Some(rest.trim().parse().unwrap())
        };
        auth = auth.or_else(|| addr("auth listening on "));
        acct = acct.or_else(|| addr("acct listening on "));
        api = api.or_else(|| addr("HTTP API listening on "));
        seen.push(line);
    }
    // Keep draining stderr so the daemon never blocks on a full pipe; once
    // the receiver is gone, close it.
    let (tx, log) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Daemon {
        child,
        auth: auth.unwrap(),
        acct: acct.unwrap(),
        api,
        startup: seen,
        log,
    }
}

fn cli(config: &std::path::Path, args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_radgate"))
        .args([&["--config", config.to_str().unwrap()], args].concat())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[tokio::test]
async fn serve_then_create_code_with_cli_then_authenticate() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let d = start_daemon(&cfg);
    cli(
        &cfg,
        &[
            "token",
            "create",
            "--code",
            "WELCOME1",
            "--minutes",
            "60",
            "--user-limit",
            "2",
        ],
    );
    let c = Client::new(d.auth).await;
    let r = c.auth(1, "WELCOME1", Pw::Pap("WELCOME1"), None).await;
    assert!(r.is_accept());
    assert_eq!(r.session_timeout(), Some(3600));
    // The CLI sees the place the daemon reserved, while the daemon runs.
    // (An Access-Accept leaves before its commit's fsync: allow the commit a
    // moment, bounded.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let show = cli(&cfg, &["token", "show", "WELCOME1", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&show).unwrap();
        if v["LiveSessions"].as_array().unwrap().len() == 1 && v["LastAccess"].is_string() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "place not visible: {v}"
        );
    }
    // Deleted with the CLI: refused at once by the running daemon.
    cli(&cfg, &["token", "delete", "WELCOME1"]);
    let r = c.auth(2, "WELCOME1", Pw::Pap("WELCOME1"), None).await;
    assert!(!r.is_accept());

    // And the real radtest-style client, when installed.
    cli(
        &cfg,
        &["token", "create", "--code", "RADTEST1", "--minutes", "60"],
    );
    if let Some(radtest) = tool("radtest", "freeradius-utils") {
        let port = d.auth.port().to_string();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(radtest)
                .args([
                    "-t",
                    "pap",
                    "RADTEST1",
                    "RADTEST1",
                    &format!("127.0.0.1:{port}"),
                    "0",
                    "testing123",
                ])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Received Access-Accept"), "{text}");
        assert!(text.contains("Session-Timeout = 3600"), "{text}");
    }
}

#[tokio::test]
async fn serve_fails_clearly_when_the_port_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let cfg = format!(
        "[server]\nauth_listen = \"127.0.0.1:{port}\"\n[database]\nurl = \"sqlite://{}\"\n[[client]]\nname = \"l\"\naddress = \"127.0.0.1\"\nsecret = \"testing123\"\n",
        dir.path().join("x.db").display()
    );
    let path = dir.path().join("radgate.toml");
    std::fs::write(&path, cfg).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_radgate"))
        .args(["--config", path.to_str().unwrap(), "serve"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("server.auth_listen") && err.contains(&port.to_string()),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

fn minutes_left(config: &std::path::Path, code: &str) -> i64 {
    let v: serde_json::Value =
        serde_json::from_str(&cli(config, &["token", "show", code, "--format", "json"])).unwrap();
    v["MinutesLeft"].as_i64().unwrap()
}

/// Nothing acknowledged is lost: SIGKILL right after an acknowledged Interim,
/// restart, and the charge is there; the rest of the session continues.
#[tokio::test]
async fn acknowledged_accounting_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    cli(
        &cfg,
        &["token", "create", "--code", "DURABLE", "--minutes", "60"],
    );
    let pkt = |status, t| Acct {
        status,
        user: "DURABLE",
        session_id: "k1",
        session_time: Some(t),
        mac: Some("02:00:00:00:00:01"),
        ..Default::default()
    };
    let mut d = start_daemon(&cfg);
    let c = Client::new(d.acct).await;
    c.acct(1, &pkt(START, 0)).await;
    c.acct(2, &pkt(INTERIM, 600)).await;
    // Killed the instant after the acknowledgement arrived.
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    assert_eq!(minutes_left(&cfg, "DURABLE"), 50);

    let d = start_daemon(&cfg);
    let c = Client::new(d.acct).await;
    // The NAS repeats the Interim (new identifier): nothing changes.
    c.acct(3, &pkt(INTERIM, 600)).await;
    assert_eq!(minutes_left(&cfg, "DURABLE"), 50);
    c.acct(4, &pkt(STOP, 900)).await;
    assert_eq!(minutes_left(&cfg, "DURABLE"), 45);
    let sessions: serde_json::Value = serde_json::from_str(&cli(
        &cfg,
        &["session", "list", "--code", "durable", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(sessions[0]["State"], "closed");
    assert_eq!(sessions[0]["SessionTime"], 900);
}

/// deploy/other-nas.md's radclient check, as written, after radtest (which
/// signs its requests) has taught `require_message_authenticator = "auto"`
/// that this client signs; and a request dropped for a missing or failing
/// Message-Authenticator or authenticator is logged with its likely cause.
#[tokio::test]
async fn the_guides_radclient_check_works_and_drops_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let d = start_daemon(&cfg);
    cli(
        &cfg,
        &["token", "create", "--code", "WELCOME1", "--minutes", "60"],
    );
    let guide =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/other-nas.md"))
            .unwrap();
    // The guide's command: echo '<attributes>' | radclient -x HOST:1812 auth SECRET
    let line = guide
        .lines()
        .find(|l| l.starts_with("echo '") && guide.contains("radclient"))
        .expect("the guide's radclient check");
    let attrs = line
        .strip_prefix("echo '")
        .and_then(|l| l.split_once('\''))
        .map(|(a, _)| a.to_string())
        .unwrap();
    let next = guide
        .lines()
        .skip_while(|l| *l != line)
        .nth(1)
        .unwrap_or("");
    assert!(
        next.trim_start()
            .starts_with("| radclient -x RADGATE_HOST:1812 auth use-a-long-random-shared-secret"),
        "the guide's command changed: {next}"
    );
    if let (Some(radtest), Some(radclient)) = (
        tool("radtest", "freeradius-utils"),
        tool("radclient", "freeradius-utils"),
    ) {
        let port = d.auth.port();
        let out = tokio::task::spawn_blocking(move || {
            let radtest = Command::new(radtest)
                .args([
                    "WELCOME1",
                    "WELCOME1",
                    &format!("127.0.0.1:{port}"),
                    "0",
                    "testing123",
                ])
                .output()
                .unwrap();
            let mut child = Command::new(radclient)
                .args([
                    "-x",
                    "-r",
                    "1",
                    "-t",
                    "3",
                    &format!("127.0.0.1:{port}"),
                    "auth",
                    "testing123",
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(attrs.as_bytes())
                .unwrap();
            let radclient = child.wait_with_output().unwrap();
            (
                String::from_utf8_lossy(&radtest.stdout).into_owned(),
                String::from_utf8_lossy(&radclient.stdout).into_owned(),
            )
        })
        .await
        .unwrap();
        assert!(
            out.0.contains("Received Access-Accept"),
            "radtest: {}",
            out.0
        );
        assert!(
            out.1.contains("Received Access-Accept"),
            "the guide's radclient check: {}",
            out.1
        );
        assert!(out.1.contains("Session-Timeout = 3600"), "{}", out.1);
    }
    // Our client, which signs too, then once without: dropped, and the log
    // says why.
    let c = Client::new(d.auth).await;
    assert!(c
        .auth(1, "WELCOME1", Pw::Pap("WELCOME1"), None)
        .await
        .is_accept());
    let unsigned = access_request(2, "WELCOME1", Pw::Pap("WELCOME1"), None, false, SECRET);
    c.send(&unsigned).await;
    let line = d.wait_log(&[
        "dropped: Message-Authenticator required but missing",
        "learnt at",
    ]);
    assert!(line.contains("WARN"), "{line}");
    // Accounting signed with another secret.
    let mut other = Client::new(d.acct).await;
    other.secret = "not-the-secret".into();
    let bad = acct_request(
        3,
        &Acct {
            status: START,
            user: "WELCOME1",
            session_id: "s1",
            ..Default::default()
        },
        "not-the-secret",
    );
    other.send(&bad).await;
    d.wait_log(&[
        "dropped: request authenticator does not verify",
        "wrong shared secret?",
    ]);
}

/// A PAP login hidden with another secret (a NAS that does not sign, so
/// nothing else shows the mismatch) is refused as a wrong password, and the
/// log says what is likely wrong; so does a request on the wrong port.
#[tokio::test]
async fn a_wrong_secret_without_message_authenticator_is_named_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let d = start_daemon(&cfg);
    cli(
        &cfg,
        &["token", "create", "--code", "WELCOME1", "--minutes", "60"],
    );
    let mut c = Client::new(d.auth).await;
    c.secret = "not-the-secret".into();
    let req = access_request(
        1,
        "WELCOME1",
        Pw::Pap("WELCOME1"),
        None,
        false,
        "not-the-secret",
    );
    c.send(&req).await;
    d.wait_log(&[
        "WARN",
        "a wrong password that is not text",
        "wrong shared secret?",
    ]);
    // Accounting sent to the authentication port.
    let acct = acct_request(
        2,
        &Acct {
            status: START,
            user: "WELCOME1",
            session_id: "s1",
            ..Default::default()
        },
        SECRET,
    );
    Client::new(d.auth).await.send(&acct).await;
    d.wait_log(&["dropped: unexpected packet code", "server.acct_listen"]);
}

/// A node whose PostgreSQL cannot be reached at start says which host and
/// keeps trying (it does not exit: systemd would otherwise give up on a
/// node that booted before its database), and stops on SIGTERM.
#[tokio::test]
async fn serve_keeps_trying_an_unreachable_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("radgate.toml");
    let socket_dir = dir.path().join("no-postgres-here");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nauth_listen = \"127.0.0.1:0\"\nacct_listen = \"127.0.0.1:0\"\n\
             [database]\nurl = \"postgres://radgate@/radgate?host={}\"\n\
             [[client]]\nname = \"l\"\naddress = \"127.0.0.1\"\nsecret = \"testing123\"\n",
            socket_dir.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_radgate"))
        .args(["--config", cfg.to_str().unwrap(), "serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut tries = 0;
    let mut seen = Vec::new();
    while tries < 2 {
        let Some(Ok(line)) = lines.next() else {
            panic!("serve ended:\n{}", seen.join("\n"));
        };
        if line.contains("cannot reach the PostgreSQL database at")
            && line.contains(&socket_dir.display().to_string())
            && line.contains("trying again in")
        {
            tries += 1;
        }
        seen.push(line);
    }
    assert!(child.try_wait().unwrap().is_none(), "serve exited");
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    // (A SIGTERM that came between two tries was once lost: serve went on.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve did not stop on SIGTERM within 30 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

/// Two nodes on one PostgreSQL: one is killed with SIGKILL right after it
/// acknowledged accounting; the charge is in the database, and the other
/// node goes on serving the same code and session.
#[tokio::test]
async fn a_node_killed_loses_nothing_and_the_other_serves_on() {
    let Some(pg) = pg::server() else {
        return;
    };
    let url = pg.fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("node.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nauth_listen = \"127.0.0.1:0\"\nacct_listen = \"127.0.0.1:0\"\n\
             [database]\nurl = \"{url}\"\n\
             [[client]]\nname = \"l\"\naddress = \"127.0.0.1\"\nsecret = \"testing123\"\n"
        ),
    )
    .unwrap();
    let mut a = start_daemon(&cfg);
    let b = start_daemon(&cfg);
    cli(
        &cfg,
        &[
            "token",
            "create",
            "--code",
            "NODES",
            "--minutes",
            "60",
            "--user-limit",
            "1",
        ],
    );
    let pkt = |status, t| Acct {
        status,
        user: "NODES",
        session_id: "n-1",
        session_time: Some(t),
        mac: Some("02:00:00:00:04:01"),
        ..Default::default()
    };
    let login = Client::new(a.auth).await;
    assert!(login
        .auth(1, "NODES", Pw::Pap("NODES"), Some("02:00:00:00:04:01"))
        .await
        .is_accept());
    let to_a = Client::new(a.acct).await;
    to_a.acct(1, &pkt(START, 0)).await;
    to_a.acct(2, &pkt(INTERIM, 600)).await;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    assert_eq!(minutes_left(&cfg, "NODES"), 50);
    // The NAS fails over: the same device logs in again through the other
    // node (it holds the place), and its accounting goes on there.
    let login_b = Client::new(b.auth).await;
    assert!(login_b
        .auth(3, "NODES", Pw::Pap("NODES"), Some("02:00:00:00:04:01"))
        .await
        .is_accept());
    assert!(
        !login_b
            .auth(4, "NODES", Pw::Pap("NODES"), Some("02:00:00:00:04:02"))
            .await
            .is_accept(),
        "UserLimit 1: another device is refused on the other node too"
    );
    let to_b = Client::new(b.acct).await;
    to_b.acct(3, &pkt(INTERIM, 600)).await;
    to_b.acct(4, &pkt(STOP, 900)).await;
    assert_eq!(minutes_left(&cfg, "NODES"), 45);
}

/// A sample of `/metrics` on `api`.
async fn metric(api: SocketAddr, key: &str) -> f64 {
    let r = common::http::page(api, "GET", "/metrics", None, &[], None).await;
    r.text
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {key} in\n{}", r.text))
}

/// SIGHUP reloads the configuration file: a new shared secret and a new
/// Reply-Message serve the next requests; a changed listen address is
/// said to take a restart; a file that does not load is refused with the
/// message a start gives, and the running configuration stays. Counted in
/// /metrics.
#[tokio::test]
async fn sighup_reloads_the_configuration_and_refuses_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("radgate.toml");
    let db = dir.path().join("radgate.db");
    let text = |secret: &str, acct: &str, message: &str| {
        format!(
            "[server]\nauth_listen = \"127.0.0.1:0\"\nacct_listen = \"{acct}\"\n\n\
             [database]\nurl = \"sqlite://{}\"\n\n[api]\nlisten = \"127.0.0.1:0\"\n\n\
             [messages]\nunknown_code = \"{message}\"\n\n\
             [[client]]\nname = \"local\"\naddress = \"127.0.0.1\"\nsecret = \"{secret}\"\n",
            db.display()
        )
    };
    std::fs::write(
        &cfg,
        text("testing123", "127.0.0.1:0", "Unknown access code"),
    )
    .unwrap();
    let d = start_daemon(&cfg);
    let api = d.api.expect("the API listens");
    cli(
        &cfg,
        &["token", "create", "--code", "RELOAD1", "--minutes", "60"],
    );
    let old = Client::new(d.auth).await;
    assert!(old
        .auth(1, "RELOAD1", Pw::Pap("RELOAD1"), None)
        .await
        .is_accept());
    let r = old.auth(2, "NOPE1", Pw::Pap("NOPE1"), None).await;
    assert_eq!(r.reply_message().as_deref(), Some("Unknown access code"));
    let hup = || {
        // SAFETY: kill(2) with a child's pid and a signal number.
        assert_eq!(unsafe { libc::kill(d.child.id() as i32, libc::SIGHUP) }, 0);
    };

    // A new secret and message; the accounting port moved (not applied).
    std::fs::write(
        &cfg,
        text("a-new-secret-99", "127.0.0.1:1", "No such code here"),
    )
    .unwrap();
    hup();
    d.wait_log(&[
        "server.acct_listen (127.0.0.1:0 → 127.0.0.1:1) changed",
        "takes a restart",
    ]);
    d.wait_log(&["configuration reloaded"]);
    let mut new = Client::new(d.auth).await;
    new.secret = "a-new-secret-99".into();
    assert!(new
        .auth(3, "RELOAD1", Pw::Pap("RELOAD1"), None)
        .await
        .is_accept());
    let r = new.auth(4, "NOPE2", Pw::Pap("NOPE2"), None).await;
    assert_eq!(r.reply_message().as_deref(), Some("No such code here"));
    // The old secret is no longer the client's (which still requires the
    // Message-Authenticator it learnt before the reload): dropped, and the
    // log says why.
    old.send(&access_request(
        5,
        "RELOAD1",
        Pw::Pap("RELOAD1"),
        None,
        true,
        "testing123",
    ))
    .await;
    d.wait_log(&[
        "Message-Authenticator does not verify",
        "wrong shared secret?",
    ]);
    // Accounting still answers on the port it was bound to.
    let acct = Client::new(d.acct).await;
    let mut acct = acct;
    acct.secret = "a-new-secret-99".into();
    acct.acct(
        6,
        &Acct {
            status: START,
            user: "RELOAD1",
            session_id: "r1",
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        metric(api, "radgate_config_reloads_total{result=\"success\"}").await,
        1.0
    );

    // A file that does not load: refused, named, and nothing changes.
    std::fs::write(&cfg, "[server]\nauth_listen = 42\n").unwrap();
    hup();
    let line = d.wait_log(&["configuration not reloaded; the running one stays"]);
    assert!(
        line.contains("radgate.toml") && line.contains("server.auth_listen"),
        "{line}"
    );
    assert!(new
        .auth(7, "RELOAD1", Pw::Pap("RELOAD1"), None)
        .await
        .is_accept());
    assert_eq!(
        metric(api, "radgate_config_reloads_total{result=\"failure\"}").await,
        1.0
    );
}

/// `[server] log_format = "json"`: every line `radgate serve` writes is a
/// JSON object with timestamp, level, target and message, the event's
/// fields beside them. In either format the log never shows the client's
/// shared secret, an API key, an operator's password (right or wrong) or a
/// whole access code (used in logins, over RADIUS and made over the API):
/// codes only masked. At `debug`, so that every line that could is written.
#[tokio::test]
async fn json_log_lines_and_no_secrets_in_either_format() {
    const CLIENT_SECRET: &str = "Client-Secret-9f4e2a7c";
    const CODE: &str = "WELCOME4711";
    const API_CODE: &str = "APICODE0815";
    const WRONG_PASSWORD: &str = "not-annas-password-2718";
    for format in ["text", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("radgate.toml");
        std::fs::write(
            &cfg,
            format!(
                "[server]\nauth_listen = \"127.0.0.1:0\"\nacct_listen = \"127.0.0.1:0\"\n\
                 log_format = \"{format}\"\n\n[api]\nlisten = \"127.0.0.1:0\"\n\n\
                 [database]\nurl = \"sqlite://{}\"\n\n[[client]]\nname = \"local\"\n\
                 address = \"127.0.0.1\"\nsecret = \"{CLIENT_SECRET}\"\n",
                dir.path().join("radgate.db").display()
            ),
        )
        .unwrap();
        cli(
            &cfg,
            &["token", "create", "--code", CODE, "--minutes", "60"],
        );
        let created = cli(
            &cfg,
            &[
                "apikey", "create", "--name", "booking", "--role", "*", "--format", "json",
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&created).unwrap();
        let api_key = v["Key"].as_str().unwrap().to_string();
        let mut add = Command::new(env!("CARGO_BIN_EXE_radgate"))
            .args(["--config", cfg.to_str().unwrap()])
            .args([
                "operator",
                "add",
                "anna",
                "--role",
                "manager",
                "--password-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = add.stdin.take().unwrap();
            writeln!(stdin, "{OPERATOR_PASSWORD}").unwrap();
        }
        assert!(add.wait().unwrap().success());

        let d = start_daemon_with(&cfg, &[("RADGATE_LOG", "debug")]);
        let api = d.api.expect("the HTTP API's address");
        // A packet signed with another secret: dropped, the log says why.
        let wrong = access_request(1, CODE, Pw::Pap(CODE), None, true, "not-the-secret");
        Client::new(d.auth).await.send(&wrong).await;
        let mut c = Client::new(d.auth).await;
        c.secret = CLIENT_SECRET.into();
        // (Its reply also shows the drop above was handled: one receive loop.)
        assert!(c.auth(2, CODE, Pw::Pap(CODE), None).await.is_accept());
        assert!(!c
            .auth(3, "NOSUCHCODE9", Pw::Pap("NOSUCHCODE9"), None)
            .await
            .is_accept());
        let mut a = Client::new(d.acct).await;
        a.secret = CLIENT_SECRET.into();
        for (id, status) in [(4, START), (5, STOP)] {
            a.acct(
                id,
                &Acct {
                    status,
                    user: CODE,
                    session_id: "s1",
                    session_time: Some(60),
                    ..Default::default()
                },
            )
            .await;
        }
        // The HTTP API with the key, a code made there and used.
        let r = http::request(
            api,
            "POST",
            "/api/spaces/accesstokens",
            Some(&api_key),
            Some(&format!(
                r#"{{"BusinessId":0,"AccessCode":"{API_CODE}","MinutesIncluded":30}}"#
            )),
        )
        .await;
        assert!(r.status < 300, "{} {}", r.status, r.text);
        assert!(c
            .auth(6, API_CODE, Pw::Chap(API_CODE), None)
            .await
            .is_accept());
        // The web UI: a wrong password, then the right one.
        let r = http::page(
            api,
            "POST",
            "/login",
            None,
            &[("Sec-Fetch-Site", "same-origin")],
            Some(&[("username", "anna"), ("password", WRONG_PASSWORD)]),
        )
        .await;
        assert_eq!(r.status, 401);
        http::sign_in(api, "anna").await;

        let (status, log) = d.stop();
        assert!(status.success(), "{status:?}\n{}", log.join("\n"));
        let all = log.join("\n");
        // What the test meant to log was logged.
        for want in [
            "wrong shared secret?",
            "WE****",
            "NO****",
            "AP****",
            "web UI: sign-in failed",
            "web UI: signed in",
            "HTTP API: token created",
            "shutting down",
        ] {
            assert!(all.contains(want), "{format}: no {want:?} in\n{all}");
        }
        for secret in [
            CLIENT_SECRET,
            &api_key,
            OPERATOR_PASSWORD,
            WRONG_PASSWORD,
            CODE,
            API_CODE,
        ] {
            let lower = secret.to_lowercase();
            if let Some(l) = log.iter().find(|l| l.to_lowercase().contains(&lower)) {
                panic!("{format}: {secret:?} in the log: {l}");
            }
        }
        if format == "text" {
            assert!(log.iter().all(|l| !l.starts_with('{')), "{all}");
            continue;
        }
        for line in &log {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            let o = v
                .as_object()
                .unwrap_or_else(|| panic!("not an object: {line}"));
            let ts = o["timestamp"].as_str().unwrap();
            assert!(
                ts.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(ts).is_ok(),
                "{line}"
            );
            assert!(
                ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&o["level"].as_str().unwrap()),
                "{line}"
            );
            assert!(!o["target"].as_str().unwrap().is_empty(), "{line}");
            assert!(o["message"].is_string(), "{line}");
            let keys: Vec<&str> = o.keys().take(4).map(String::as_str).collect();
            assert_eq!(keys, ["timestamp", "level", "target", "message"], "{line}");
        }
        // The event's fields at the top level.
        let drop = log
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| {
                v["message"]
                    .as_str()
                    .unwrap()
                    .contains("wrong shared secret?")
            })
            .unwrap();
        assert_eq!(drop["level"], "WARN", "{drop}");
        assert_eq!(drop["target"], "radgate::radius::server", "{drop}");
        assert_eq!(drop["client"], "local", "{drop}");
        assert!(
            drop["src"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{drop}"
        );
        assert!(all.contains(r#""operator":"anna""#), "{all}");
    }
}

/// A `log_format` other than "text" or "json" stops `serve` as any bad
/// value does; and a config error is a plain line even when the file asks
/// for a JSON log (the log is not set up until the file has loaded).
#[test]
fn serve_refuses_a_bad_log_format_and_config_errors_stay_plain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("radgate.toml");
    for (server, key) in [
        ("log_format = \"yaml\"\n", "server.log_format"),
        (
            "log_format = \"json\"\nduplicate_window = 0\n",
            "server.duplicate_window",
        ),
    ] {
        std::fs::write(
            &path,
            format!(
                "[server]\n{server}[database]\nurl = \"sqlite://{}\"\n\
                 [[client]]\nname = \"l\"\naddress = \"127.0.0.1\"\nsecret = \"testing123\"\n",
                dir.path().join("x.db").display()
            ),
        )
        .unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_radgate"))
            .args(["--config", path.to_str().unwrap(), "serve"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(3));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(key) && !err.trim_start().starts_with('{'),
            "{err}"
        );
        if key == "server.log_format" {
            assert!(
                err.contains(r#"must be "text" or "json", got "yaml""#),
                "{err}"
            );
        }
        assert!(!dir.path().join("x.db").exists(), "no database made");
    }
}

/// A log nobody reads any more (the pipe closed, as when journald
/// restarts): lines are lost, the server goes on answering and stops on
/// SIGTERM. (tracing-subscriber reported a failed write with `eprintln!`,
/// which panics on a broken stderr: the thread that logged died.)
#[tokio::test]
async fn serve_goes_on_when_its_log_pipe_closes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    cli(
        &cfg,
        &["token", "create", "--code", "WELCOME1", "--minutes", "60"],
    );
    let mut d = start_daemon_with(&cfg, &[("RADGATE_LOG", "debug")]);
    // Without a receiver, the reader thread closes the pipe at the next line.
    drop(std::mem::replace(&mut d.log, std::sync::mpsc::channel().1));
    let c = Client::new(d.auth).await;
    for id in 1..=20u8 {
        assert!(c
            .auth(id, "WELCOME1", Pw::Pap("WELCOME1"), None)
            .await
            .is_accept());
    }
    let (status, _) = d.stop();
    assert!(status.success(), "{status:?}");
}
