//! The throwaway PostgreSQL the tests start themselves (tests/common/pg.rs):
//! it starts, each test gets a database of its own, and it answers.

mod common;

use common::*;

#[tokio::test]
async fn each_test_gets_its_own_database() {
    let Some(pg) = pg::server() else {
        return;
    };
    let a = pg.fresh_database().await;
    let b = pg.fresh_database().await;
    assert_ne!(a, b);
    for url in [a, b] {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let row = client
            .query_one("SELECT current_database(), 1 + 1", &[])
            .await
            .unwrap();
        let db: String = row.get(0);
        let two: i32 = row.get(1);
        assert!(url.contains(&format!("/{db}?")), "{url} vs {db}");
        assert_eq!(two, 2);
    }
}

/// A server (a node) on a PostgreSQL database, fresh unless `url` names one
/// another node uses.
async fn node(url: &str) -> common::TestServer {
    let url = url.to_string();
    common::TestServer::start_with(move |c| c.database.url = url).await
}

#[tokio::test]
async fn a_node_on_postgresql_decides_and_charges() {
    let Some(pg) = pg::server() else {
        return;
    };
    let url = pg.fresh_database().await;
    let s = node(&url).await;
    assert!(s.store.as_sqlite().is_none());
    s.token("WELCOME1", 60, |t| t.user_limit = Some(1)).await;
    let c = common::Client::new(s.addr).await;
    let r = c
        .auth(
            1,
            "welcome1",
            common::Pw::Pap("WELCOME1"),
            Some("02:00:00:00:00:01"),
        )
        .await;
    assert!(r.is_accept(), "{r:?}");
    assert_eq!(r.session_timeout(), Some(3600));
    // A second device: the one place is taken.
    let r = c
        .auth(
            2,
            "WELCOME1",
            common::Pw::Pap("WELCOME1"),
            Some("02:00:00:00:00:02"),
        )
        .await;
    assert!(!r.is_accept());
    assert!(!c
        .auth(3, "NOPE", common::Pw::Pap("NOPE"), None)
        .await
        .is_accept());
    // Accounting charges the increase, once.
    let a = common::Client::new(s.acct_addr).await;
    let pkt = |status, t| common::Acct {
        status,
        user: "WELCOME1",
        session_id: "pg-1",
        session_time: Some(t),
        mac: Some("02:00:00:00:00:01"),
        ..Default::default()
    };
    a.acct(10, &pkt(common::START, 0)).await;
    a.acct(11, &pkt(common::INTERIM, 600)).await;
    a.acct(12, &pkt(common::INTERIM, 600)).await;
    a.acct(13, &pkt(common::STOP, 900)).await;
    assert_eq!(s.seconds_used("WELCOME1").await, 900);
    let t = s.store.find_token("WELCOME1").await.unwrap();
    assert_eq!(t.minutes_left(), 45);
    assert!(t.first_used_on.is_some() && t.last_access.is_some());
    let sessions = s
        .store
        .list_sessions(
            &radgate::store::SessionFilter {
                limit: 10,
                ..Default::default()
            },
            chrono::Utc::now().timestamp(),
        )
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(
        (sessions[0].state.as_str(), sessions[0].session_time),
        ("closed", 900)
    );
    s.shutdown().await;
}

/// Two nodes on one database: twenty devices at the same instant on a
/// UserLimit=1 code, half through each node, get one Accept; an Interim
/// retransmitted to the other node is not charged twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_oversell_or_charge_twice() {
    let Some(pg) = pg::server() else {
        return;
    };
    let url = pg.fresh_database().await;
    let a = node(&url).await;
    let b = node(&url).await;
    a.token("RACE", 60, |t| t.user_limit = Some(1)).await;
    let mut tasks = Vec::new();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
    for i in 0..20u8 {
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let c = common::Client::new(addr).await;
            let req = common::access_request(
                i,
                "RACE",
                common::Pw::Pap("RACE"),
                Some(&format!("02:00:00:00:01:{i:02X}")),
                true,
                common::SECRET,
            );
            barrier.wait().await;
            c.roundtrip(&req).await
        }));
    }
    let mut accepts = 0;
    for t in tasks {
        if t.await.unwrap().is_accept() {
            accepts += 1;
        }
    }
    assert_eq!(accepts, 1, "exactly one of 20 devices on two nodes");

    a.token("SHARED", 60, |_| {}).await;
    let pkt = |status, t| common::Acct {
        status,
        user: "SHARED",
        session_id: "two-1",
        session_time: Some(t),
        mac: Some("02:00:00:00:02:01"),
        ..Default::default()
    };
    let to_a = common::Client::new(a.acct_addr).await;
    let to_b = common::Client::new(b.acct_addr).await;
    to_a.acct(1, &pkt(common::START, 0)).await;
    to_a.acct(2, &pkt(common::INTERIM, 300)).await;
    // The NAS retries the same Interim at the secondary.
    to_b.acct(2, &pkt(common::INTERIM, 300)).await;
    to_b.acct(3, &pkt(common::INTERIM, 600)).await;
    to_a.acct(3, &pkt(common::INTERIM, 600)).await;
    assert_eq!(a.seconds_used("SHARED").await, 600);
    a.shutdown().await;
    b.shutdown().await;
}

/// Send `req` and wait at most `within` for its answer.
async fn answer(c: &Client, req: &[u8], within: std::time::Duration) -> Option<Reply> {
    tokio::time::timeout(within, c.roundtrip(req)).await.ok()
}

fn status_server(ident: u8) -> Vec<u8> {
    radgate::radius::codec::encode_request(
        radgate::radius::codec::PacketCode::StatusServer,
        ident,
        &Default::default(),
        SECRET.as_bytes(),
        true,
    )
    .unwrap()
}

/// PostgreSQL restarted under a running node: while it is away the node
/// answers nothing — no Access-Reject, no Accounting-Response, no
/// Status-Server — so that the NAS retries or fails over; when it is back
/// the node reconnects by itself and answers again, and nothing it
/// acknowledged before was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_is_ridden_out_without_a_wrong_answer() {
    let Some(mut pg) = pg::PgPrivate::start() else {
        return;
    };
    let url = pg.fresh_database().await;
    let s = node(&url).await;
    s.token("RIDE", 60, |_| {}).await;
    let c = Client::new(s.addr).await;
    let a = Client::new(s.acct_addr).await;
    let login = |i: u8| {
        access_request(
            i,
            "RIDE",
            Pw::Pap("RIDE"),
            Some("02:00:00:00:03:01"),
            true,
            SECRET,
        )
    };
    let short = std::time::Duration::from_millis(1500);
    assert!(answer(&c, &login(1), short).await.unwrap().is_accept());
    let pkt = |status, t| Acct {
        status,
        user: "RIDE",
        session_id: "ride-1",
        session_time: Some(t),
        mac: Some("02:00:00:00:03:01"),
        ..Default::default()
    };
    a.acct(1, &pkt(START, 0)).await;
    a.acct(2, &pkt(INTERIM, 300)).await;

    pg.stop();
    assert!(
        answer(&c, &login(2), short).await.is_none(),
        "answered while the database is away"
    );
    assert!(
        answer(&c, &status_server(3), short).await.is_none(),
        "Status-Server while the database is away"
    );
    let interim = acct_request(4, &pkt(INTERIM, 600), SECRET);
    assert!(
        answer(&a, &interim, short).await.is_none(),
        "accounting acknowledged while the database is away"
    );

    pg.start_again();
    // The NAS retries (new identifiers here); within a few seconds the node
    // has reconnected and answers.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut ident = 10u8;
    let r = loop {
        ident = ident.wrapping_add(1);
        if let Some(r) = answer(&c, &login(ident), std::time::Duration::from_millis(500)).await {
            break r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node did not come back"
        );
    };
    assert!(r.is_accept(), "{r:?}");
    assert!(answer(&c, &status_server(99), short).await.is_some());
    a.acct(5, &pkt(INTERIM, 600)).await;
    assert_eq!(
        s.seconds_used("RIDE").await,
        600,
        "the charge before the restart kept, the next added"
    );
    s.shutdown().await;
}

/// The writer prepares its statements once per connection, and PostgreSQL
/// keeps one plan for each: the plan must find rows through an index even
/// when it is made on an empty database (a new install, or one emptied), or
/// the writer gets slower with every session stored. Each statement's
/// generic plan, with the writer's session settings, on freshly migrated and
/// analysed empty tables, and again after rows came and went (vacuumed and
/// analysed empty, which plans differently): no sequential scan, and the
/// primary key walked only to look up ids (never scanned in id order under a
/// filter).
#[tokio::test]
async fn the_writers_plans_use_their_indexes_on_an_empty_database() {
    use radgate::store::postgres::writer::{prepared_statements, WRITER_SESSION};
    let Some(pg) = pg::server() else {
        return;
    };
    let url = pg.fresh_database().await;
    let s = node(&url).await;
    drop(s);
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let emptied = "INSERT INTO access_tokens (unique_id, access_code, code_key, minutes_included, \
           created_on, updated_on) SELECT 'u' || g, 'C' || g, 'C' || g, 60, 0, 0 \
           FROM generate_series(1, 2000) g; \
         INSERT INTO sessions (token_id, nas, device, state, acct_session_id, created_at, updated_at) \
           SELECT id, '192.0.2.1', 'dev' || id, 'closed', 's' || id, 0, 0 FROM access_tokens; \
         DELETE FROM sessions; DELETE FROM access_tokens; VACUUM ANALYZE";
    let mut bad = Vec::new();
    for (state, setup) in [("new", "ANALYZE"), ("emptied", emptied)] {
        // One at a time: VACUUM cannot run in the implicit transaction of
        // several statements.
        for statement in setup.split("; ") {
            client.batch_execute(statement).await.unwrap();
        }
        client
            .batch_execute(&format!(
                "DEALLOCATE ALL; SET plan_cache_mode = force_generic_plan; {WRITER_SESSION}"
            ))
            .await
            .unwrap();
        for (i, sql) in prepared_statements().iter().enumerate() {
            let params = client.prepare(sql).await.unwrap().params().len();
            client
                .batch_execute(&format!("PREPARE s{i} AS {sql}"))
                .await
                .unwrap();
            let args = if params == 0 {
                String::new()
            } else {
                format!("({})", vec!["NULL"; params].join(", "))
            };
            let plan: Vec<String> = client
                .query(&format!("EXPLAIN EXECUTE s{i}{args}"), &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect();
            let text = plan.join("\n");
            let pkey_walk = plan.iter().enumerate().any(|(n, line)| {
                line.contains("_pkey on ")
                    && !plan
                        .get(n + 1)
                        .is_some_and(|next| next.contains("Index Cond: (id = "))
            });
            if text.contains("Seq Scan") || pkey_walk {
                bad.push(format!("{state}: {sql}\n{text}"));
            }
        }
    }
    assert!(bad.is_empty(), "plans that scan:\n\n{}", bad.join("\n\n"));
}

/// A database that cannot be opened says why, in PostgreSQL's words (not
/// only "db error"), with the host.
#[tokio::test]
async fn a_missing_database_is_named_in_the_error() {
    let Some(pg) = pg::server() else {
        return;
    };
    let cfg = radgate::config::DatabaseConfig {
        url: pg.url("no_such_database"),
        ..Default::default()
    };
    let Err(e) = radgate::store::Store::open(&cfg, radgate::store::OpenMode::Existing).await else {
        panic!("opened a database that does not exist");
    };
    let msg = e.to_string();
    assert!(msg.contains("\"no_such_database\" does not exist"), "{msg}");
}

/// A TCP relay on loopback to the test PostgreSQL's unix socket that
/// counts round trips: each time a client speaks after the server did.
struct Relay {
    port: u16,
    turns: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Relay {
    async fn start(socket: std::path::PathBuf) -> Relay {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::Arc;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let turns = Arc::new(AtomicU64::new(0));
        let all = turns.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Ok(unix) = tokio::net::UnixStream::connect(&socket).await else {
                    continue;
                };
                let (turns, server_last) = (all.clone(), Arc::new(AtomicBool::new(true)));
                let (mut cr, mut cw) = tcp.into_split();
                let (mut sr, mut sw) = unix.into_split();
                let heard = server_last.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = cr.read(&mut buf).await {
                        if server_last.swap(false, Ordering::SeqCst) {
                            if std::env::var("RELAY_DEBUG").is_ok() {
                                eprintln!(
                                    "turn: {:?}",
                                    String::from_utf8_lossy(&buf[..n.min(200)])
                                );
                            }
                            turns.fetch_add(1, Ordering::SeqCst);
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = sr.read(&mut buf).await {
                        heard.store(true, Ordering::SeqCst);
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Relay { port, turns }
    }

    fn turns(&self) -> u64 {
        self.turns.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The hot path, counted on the wire between the node and PostgreSQL: a
/// batch of accounting is [BEGIN + lock + reads] [writes + COMMIT], a
/// login of a code without UserLimit [BEGIN + read] [stamp + COMMIT] —
/// two round trips each, whatever the batch holds.
#[tokio::test]
async fn a_batch_on_the_hot_path_is_two_round_trips() {
    let Some(pg) = pg::server() else {
        return;
    };
    let unix_url = pg.fresh_database().await;
    let db = unix_url
        .split('/')
        .nth(3)
        .and_then(|s| s.split('?').next())
        .unwrap()
        .to_string();
    let relay = Relay::start(pg.socket_dir.join(".s.PGSQL.5432")).await;
    let url = format!("postgres://postgres@127.0.0.1:{}/{db}", relay.port);
    let s = node(&url).await;
    for code in ["HOTPATH1", "HOTPATH2"] {
        s.token(code, 600, |_| {}).await;
    }
    let c = common::Client::new(s.addr).await;
    let a = common::Client::new(s.acct_addr).await;
    let pkt = |user, sid, status, t| common::Acct {
        status,
        user,
        session_id: sid,
        session_time: Some(t),
        ..Default::default()
    };
    // Warm: the first login stamps the code, a session opens.
    for (i, code) in ["HOTPATH1", "HOTPATH2"].into_iter().enumerate() {
        let r = c.auth(i as u8, code, common::Pw::Pap(code), None).await;
        assert!(r.is_accept(), "{r:?}");
    }
    a.acct(10, &pkt("HOTPATH1", "hp-1", common::START, 0)).await;
    a.acct(11, &pkt("HOTPATH2", "hp-2", common::START, 0)).await;
    // One interim update: one batch.
    let before = relay.turns();
    a.acct(12, &pkt("HOTPATH1", "hp-1", common::INTERIM, 60))
        .await;
    let interim = relay.turns() - before;
    // Two interim updates at once (one batch, or two).
    let before = relay.turns();
    let (p1, p2) = (
        pkt("HOTPATH1", "hp-1", common::INTERIM, 120),
        pkt("HOTPATH2", "hp-2", common::INTERIM, 120),
    );
    let a2 = common::Client::new(s.acct_addr).await;
    tokio::join!(a.acct(13, &p1), a2.acct(14, &p2));
    let both = relay.turns() - before;
    // A login of a code used a moment ago.
    let before = relay.turns();
    assert!(c
        .auth(20, "HOTPATH1", common::Pw::Pap("HOTPATH1"), None)
        .await
        .is_accept());
    let login = relay.turns() - before;
    // A wrong code.
    let before = relay.turns();
    assert!(!c
        .auth(21, "NOSUCHCODE", common::Pw::Pap("NOSUCHCODE"), None)
        .await
        .is_accept());
    let refused = relay.turns() - before;
    // A code with one place (UserLimit 1): taken, kept, refused to a
    // second device — each one batch of two round trips.
    s.token("HOTPATH3", 600, |t| t.user_limit = Some(1)).await;
    // (The store's own client closes its statements after it answered: a
    // login in between lets that go out before counting.)
    assert!(c
        .auth(29, "HOTPATH1", common::Pw::Pap("HOTPATH1"), None)
        .await
        .is_accept());
    let mut limited = Vec::new();
    for (id, mac, accept) in [
        (30, "02:00:00:00:00:31", true),
        (31, "02:00:00:00:00:31", true),
        (32, "02:00:00:00:00:32", false),
    ] {
        let before = relay.turns();
        let r = c
            .auth(id, "HOTPATH3", common::Pw::Pap("HOTPATH3"), Some(mac))
            .await;
        assert_eq!(r.is_accept(), accept, "{mac}: {r:?}");
        limited.push(relay.turns() - before);
    }
    eprintln!(
        "round trips: interim {interim}, two interims {both}, login {login}, refused {refused}, \
         UserLimit logins {limited:?}"
    );
    assert_eq!(limited, [2, 2, 2], "logins of a UserLimit code");
    assert_eq!(s.seconds_used("HOTPATH1").await, 120);
    assert_eq!(s.seconds_used("HOTPATH2").await, 120);
    assert_eq!(interim, 2, "one interim update");
    assert!((2..=4).contains(&both), "two interim updates: {both}");
    assert_eq!(login, 2, "a login");
    assert_eq!(refused, 2, "a refused login");
}
