//! End-to-end accounting tests (SPEC §3): real UDP, real SQLite files.

mod common;

use std::time::Duration;

use common::*;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn pkt<'a>(status: u32, user: &'a str, sid: &'a str, t: Option<u32>) -> Acct<'a> {
    Acct {
        status,
        user,
        session_id: sid,
        session_time: t,
        mac: Some("02:00:00:00:00:01"),
        ..Default::default()
    }
}

both_backends! {
#[tokio::test]
async fn start_interim_stop_charges_the_increase(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("SIXTY", 60, |_| {}).await;
    let acct = Client::new(s.acct_addr).await;
    acct.acct(
        1,
        &Acct {
            framed_ip: Some("10.5.50.7".parse().unwrap()),
            ..pkt(START, "sixty", "s1", Some(0))
        },
    )
    .await;
    assert_eq!(s.seconds_used("SIXTY").await, 0);
    acct.acct(2, &pkt(INTERIM, "SIXTY", "s1", Some(600))).await;
    assert_eq!(s.seconds_used("SIXTY").await, 600);
    acct.acct(
        3,
        &Acct {
            terminate_cause: Some(1),
            input_octets: Some(1000),
            output_octets: Some(5000),
            ..pkt(STOP, "SIXTY", "s1", Some(900))
        },
    )
    .await;
    let t = s.store.find_token("SIXTY").await.unwrap();
    assert_eq!(t.seconds_used, 900);
    assert_eq!(t.minutes_left(), 45);
    assert!(t.last_access.is_some());
    assert!(s.store.live_sessions(t.id, now()).await.unwrap().is_empty());
    let r = &s.sessions("s1").await[0];
    assert_eq!(
        (
            r.state.as_str(),
            r.terminate_cause,
            r.framed_ip.as_deref(),
            r.output_octets
        ),
        ("closed", Some(1), Some("10.5.50.7"), 5000)
    );
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn retransmits_duplicates_and_reordering_never_charge_twice(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("DUPS", 60, |_| {}).await;
    let c = Client::new(s.acct_addr).await;
    c.acct(1, &pkt(START, "DUPS", "d1", Some(0))).await;
    // The same datagram twice: the second is answered from the cache.
    let interim = acct_request(2, &pkt(INTERIM, "DUPS", "d1", Some(600)), SECRET);
    let a = c.roundtrip(&interim).await;
    let b = c.roundtrip(&interim).await;
    assert_eq!(a.raw, b.raw);
    assert_eq!(stat(&s.stats().duplicates), 1);
    // The same content with a new identifier (a new packet to the cache).
    c.acct(3, &pkt(INTERIM, "DUPS", "d1", Some(600))).await;
    assert_eq!(s.seconds_used("DUPS").await, 600);
    // A later interim, then an older one arriving late.
    c.acct(4, &pkt(INTERIM, "DUPS", "d1", Some(1200))).await;
    c.acct(5, &pkt(INTERIM, "DUPS", "d1", Some(900))).await;
    assert_eq!(s.seconds_used("DUPS").await, 1200);
    c.acct(6, &pkt(STOP, "DUPS", "d1", Some(1500))).await;
    // A retransmitted Stop with a new identifier, and an Interim after Stop.
    c.acct(7, &pkt(STOP, "DUPS", "d1", Some(1500))).await;
    c.acct(8, &pkt(INTERIM, "DUPS", "d1", Some(1800))).await;
    assert_eq!(s.seconds_used("DUPS").await, 1500);
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn lost_start_first_interim_opens_the_session(b: Backend) {
    let s = TestServer::start_on(b).await;
    let t = s.token("NOSTART", 60, |_| {}).await;
    let c = Client::new(s.acct_addr).await;
    c.acct(1, &pkt(INTERIM, "NOSTART", "x1", Some(300))).await;
    assert_eq!(s.seconds_used("NOSTART").await, 300);
    let live = s.store.live_sessions(t.id, now()).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].state, "active");
    // A Stop alone (Start and Interims lost) opens and closes a session.
    c.acct(
        2,
        &Acct {
            terminate_cause: Some(4),
            ..pkt(STOP, "NOSTART", "x2", Some(120))
        },
    )
    .await;
    assert_eq!(s.seconds_used("NOSTART").await, 420);
    let r = &s.sessions("x2").await[0];
    assert_eq!(
        (
            r.state.clone(),
            r.terminate_cause,
            r.close_reason.clone(),
            r.stopped_at.is_some(),
            r.session_time
        ),
        ("closed".into(), Some(4), Some("stop".into()), true, 120)
    );
    assert_eq!(s.store.live_sessions(t.id, now()).await.unwrap().len(), 1);
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn exhausted_code_is_rejected_at_next_login(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("TEN", 10, |_| {}).await;
    let auth = Client::new(s.addr).await;
    let acct = Client::new(s.acct_addr).await;
    let r = auth
        .auth(1, "TEN", Pw::Pap("TEN"), Some("02:00:00:00:00:01"))
        .await;
    assert_eq!(r.session_timeout(), Some(600));
    acct.acct(1, &pkt(START, "TEN", "t1", Some(0))).await;
    acct.acct(2, &pkt(INTERIM, "TEN", "t1", Some(570))).await;
    // 30 s left: still admitted, and shown as 1 minute.
    let r = auth
        .auth(2, "TEN", Pw::Pap("TEN"), Some("02:00:00:00:00:01"))
        .await;
    assert!(r.is_accept());
    assert_eq!(r.session_timeout(), Some(30));
    assert_eq!(s.store.find_token("TEN").await.unwrap().minutes_left(), 1);
    acct.acct(3, &pkt(STOP, "TEN", "t1", Some(640))).await;
    let t = s.store.find_token("TEN").await.unwrap();
    assert_eq!(t.minutes_left(), 0, "never below 0");
    let r = auth
        .auth(3, "TEN", Pw::Pap("TEN"), Some("02:00:00:00:00:01"))
        .await;
    assert!(!r.is_accept());
    assert_eq!(
        r.reply_message().as_deref(),
        Some("No time left on this access code")
    );
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn start_confirms_the_pending_place_and_user_limit_counts_live_sessions(b: Backend) {
    let s = TestServer::start_on(b).await;
    let t = s.token("ONE", 60, |t| t.user_limit = Some(1)).await;
    let auth = Client::new(s.addr).await;
    let acct = Client::new(s.acct_addr).await;
    assert!(auth
        .auth(1, "ONE", Pw::Pap("ONE"), Some("02:00:00:00:00:01"))
        .await
        .is_accept());
    acct.acct(1, &pkt(START, "ONE", "p1", Some(0))).await;
    let live = s.store.live_sessions(t.id, now()).await.unwrap();
    assert_eq!(
        live.len(),
        1,
        "the pending place became the session: {live:?}"
    );
    assert_eq!(live[0].state, "active");
    assert_eq!(live[0].acct_session_id.as_deref(), Some("p1"));
    // Even when the pending place would have expired, the live session holds the place.
    s.exec("UPDATE sessions SET expires_at = 0").await;
    let r = auth
        .auth(2, "ONE", Pw::Pap("ONE"), Some("02:00:00:00:00:02"))
        .await;
    assert_eq!(
        r.reply_message().as_deref(),
        Some("Too many devices are using this access code")
    );
    // The holder itself re-authenticates (roaming).
    assert!(auth
        .auth(3, "ONE", Pw::Pap("ONE"), Some("02:00:00:00:00:01"))
        .await
        .is_accept());
    // Stop frees the place.
    acct.acct(2, &pkt(STOP, "ONE", "p1", Some(60))).await;
    assert!(auth
        .auth(4, "ONE", Pw::Pap("ONE"), Some("02:00:00:00:00:02"))
        .await
        .is_accept());
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn accounting_on_from_a_nas_frees_its_places(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("REBOOT", 60, |t| t.user_limit = Some(1)).await;
    let auth = Client::new(s.addr).await;
    let acct = Client::new(s.acct_addr).await;
    assert!(auth
        .auth(1, "REBOOT", Pw::Pap("REBOOT"), Some("02:00:00:00:00:01"))
        .await
        .is_accept());
    acct.acct(1, &pkt(START, "REBOOT", "r1", Some(0))).await;
    assert!(!auth
        .auth(2, "REBOOT", Pw::Pap("REBOOT"), Some("02:00:00:00:00:02"))
        .await
        .is_accept());
    // The NAS reboots: Accounting-On closes all its sessions.
    acct.acct(
        2,
        &Acct {
            status: ACCOUNTING_ON,
            ..Default::default()
        },
    )
    .await;
    assert!(auth
        .auth(3, "REBOOT", Pw::Pap("REBOOT"), Some("02:00:00:00:00:02"))
        .await
        .is_accept());
    // A packet of the closed session that reports no more time changes
    // nothing; one that reports more shows the NAS kept the session (no
    // reboot after all): charged, and live again.
    acct.acct(3, &pkt(INTERIM, "REBOOT", "r1", Some(0))).await;
    assert_eq!(s.seconds_used("REBOOT").await, 0);
    assert_eq!(
        session_rows(&s, "r1").await,
        [("closed".into(), Some("nas-restart".into()), 0)]
    );
    acct.acct(4, &pkt(INTERIM, "REBOOT", "r1", Some(600))).await;
    assert_eq!(s.seconds_used("REBOOT").await, 600);
    assert_eq!(session_rows(&s, "r1").await, [("active".into(), None, 600)]);
    s.shutdown().await;
}
}

/// (state, close_reason, session_time) of the sessions with this
/// Acct-Session-Id, oldest first.
async fn session_rows(s: &TestServer, sid: &str) -> Vec<(String, Option<String>, i64)> {
    s.sessions(sid)
        .await
        .into_iter()
        .map(|r| (r.state, r.close_reason, r.session_time))
        .collect()
}

both_backends! {
#[tokio::test]
async fn a_nas_that_reuses_session_ids_gets_a_new_session(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("REUSEA", 60, |_| {}).await;
    s.token("REUSEB", 60, |_| {}).await;
    let c = Client::new(s.acct_addr).await;
    let acct_on = Acct {
        status: ACCOUNTING_ON,
        ..Default::default()
    };
    // A's session ends; the NAS reboots and hands the same id to B.
    c.acct(1, &pkt(START, "REUSEA", "re1", Some(0))).await;
    c.acct(2, &pkt(INTERIM, "REUSEA", "re1", Some(600))).await;
    c.acct(3, &acct_on).await;
    c.acct(4, &pkt(START, "REUSEB", "re1", Some(0))).await;
    c.acct(5, &pkt(INTERIM, "REUSEB", "re1", Some(300))).await;
    assert_eq!(s.seconds_used("REUSEA").await, 600);
    assert_eq!(s.seconds_used("REUSEB").await, 300);
    // A late Stop of A's session (sent before the reboot) finds A's session,
    // not B's: A is charged its last minute, B is left alone.
    c.acct(6, &pkt(STOP, "REUSEA", "re1", Some(660))).await;
    c.acct(7, &pkt(INTERIM, "REUSEB", "re1", Some(600))).await;
    assert_eq!(s.seconds_used("REUSEA").await, 660);
    assert_eq!(s.seconds_used("REUSEB").await, 600);
    assert_eq!(
        session_rows(&s, "re1").await,
        [
            ("closed".into(), Some("stop".into()), 660),
            ("active".into(), None, 600)
        ]
    );

    // A Start retransmitted (new Identifier) after Accounting-On closed its
    // session is a duplicate: nothing is charged twice.
    c.acct(8, &pkt(START, "REUSEA", "re2", Some(0))).await;
    c.acct(9, &pkt(INTERIM, "REUSEA", "re2", Some(600))).await;
    c.acct(10, &acct_on).await;
    c.acct(11, &pkt(START, "REUSEA", "re2", Some(0))).await;
    c.acct(12, &pkt(INTERIM, "REUSEA", "re2", Some(900))).await;
    assert_eq!(s.seconds_used("REUSEA").await, 660 + 900);
    assert_eq!(
        session_rows(&s, "re2").await,
        [("active".into(), None, 900)]
    );

    // A Start for a live session is a late duplicate, however late: no new
    // session, nothing charged twice.
    c.acct(13, &pkt(STOP, "REUSEA", "re2", Some(900))).await;
    c.acct(14, &pkt(START, "REUSEA", "re3", Some(0))).await;
    c.acct(15, &pkt(INTERIM, "REUSEA", "re3", Some(600))).await;
    s.exec("UPDATE sessions SET created_at = created_at - 3600 WHERE acct_session_id = 're3'")
        .await;
    c.acct(16, &pkt(START, "REUSEA", "re3", Some(0))).await;
    c.acct(17, &pkt(INTERIM, "REUSEA", "re3", Some(900))).await;
    assert_eq!(s.seconds_used("REUSEA").await, 1560 + 900);
    assert_eq!(
        session_rows(&s, "re3").await,
        [("active".into(), None, 900)]
    );
    // The same code on an id after its session's Stop (a NAS that counts its
    // ids from the start again without Accounting-On): a Start the NAS sent
    // after that Stop is a new session, charged from its own zero; one it
    // sent before the Stop (Acct-Delay-Time says so) is a late duplicate.
    c.acct(18, &pkt(STOP, "REUSEA", "re3", Some(960))).await;
    s.exec("UPDATE sessions SET stopped_at = stopped_at - 30 WHERE acct_session_id = 're3'")
        .await;
    c.acct(
        19,
        &Acct {
            delay: Some(40),
            ..pkt(START, "REUSEA", "re3", Some(0))
        },
    )
    .await;
    assert_eq!(session_rows(&s, "re3").await.len(), 1);
    c.acct(20, &pkt(START, "REUSEA", "re3", Some(0))).await;
    c.acct(21, &pkt(INTERIM, "REUSEA", "re3", Some(50))).await;
    assert_eq!(s.seconds_used("REUSEA").await, 1560 + 960 + 50);
    assert_eq!(
        session_rows(&s, "re3").await,
        [
            ("closed".into(), Some("stop".into()), 960),
            ("active".into(), None, 50)
        ]
    );
    // The same after a lost Start: an Interim sent more than a minute after
    // the old session's Stop opens the new session and charges what it
    // reports; one sent just after is a late packet of the old session.
    c.acct(22, &pkt(START, "REUSEB", "re5", Some(0))).await;
    c.acct(23, &pkt(STOP, "REUSEB", "re5", Some(100))).await;
    c.acct(24, &pkt(INTERIM, "REUSEB", "re5", Some(150))).await;
    assert_eq!(s.seconds_used("REUSEB").await, 600 + 100);
    s.exec("UPDATE sessions SET stopped_at = stopped_at - 120 WHERE acct_session_id = 're5'")
        .await;
    c.acct(25, &pkt(INTERIM, "REUSEB", "re5", Some(40))).await;
    assert_eq!(s.seconds_used("REUSEB").await, 700 + 40);
    assert_eq!(
        session_rows(&s, "re5").await,
        [
            ("closed".into(), Some("stop".into()), 100),
            ("active".into(), None, 40)
        ]
    );

    // A live session whose id another code takes (its Stop was lost): it is
    // replaced, and the new code is charged, not the old one.
    c.acct(26, &pkt(START, "REUSEA", "re4", Some(0))).await;
    c.acct(27, &pkt(INTERIM, "REUSEB", "re4", Some(300))).await;
    assert_eq!(s.seconds_used("REUSEA").await, 2570);
    assert_eq!(s.seconds_used("REUSEB").await, 1040);
    assert_eq!(
        session_rows(&s, "re4").await,
        [
            ("closed".into(), Some("replaced".into()), 0),
            ("active".into(), None, 300)
        ]
    );
    // B's Stop closes B's session; a late Interim of B after it charges
    // nothing.
    c.acct(28, &pkt(STOP, "REUSEB", "re4", Some(300))).await;
    c.acct(29, &pkt(INTERIM, "REUSEB", "re4", Some(200))).await;
    assert_eq!(s.seconds_used("REUSEB").await, 1040);
    // Without User-Name a packet cannot tell A's and B's sessions on re1
    // apart: ignored (B's session, closed by the second Accounting-On, is not
    // resumed and charged).
    c.acct(30, &pkt(INTERIM, "", "re1", Some(700))).await;
    assert_eq!(s.seconds_used("REUSEB").await, 1040);
    assert_eq!(
        session_rows(&s, "re1").await[1],
        ("closed".into(), Some("nas-restart".into()), 600)
    );
    s.shutdown().await;
}
}

both_backends! {
/// A NAS that gives one Acct-Session-Id to more sessions than accounting's
/// lookup takes at once (16): a late packet of the oldest still finds it.
#[tokio::test]
async fn more_sessions_on_one_id_than_the_lookup_takes(b: Backend) {
    let s = TestServer::start_on(b).await;
    let c = Client::new(s.acct_addr).await;
    let codes: Vec<String> = (0..18).map(|i| format!("LIM{i:02}")).collect();
    let mut id = 0u8;
    for code in &codes {
        s.token(code, 60, |_| {}).await;
        for (status, t) in [(START, 0), (INTERIM, 100)] {
            id = id.wrapping_add(1);
            c.acct(id, &pkt(status, code, "same", Some(t))).await;
        }
    }
    c.acct(200, &pkt(INTERIM, "LIM00", "same", Some(200))).await;
    assert_eq!(s.seconds_used("LIM00").await, 200);
    assert_eq!(session_rows(&s, "same").await.len(), 18);
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn a_code_renamed_during_a_session_is_still_charged(b: Backend) {
    let s = TestServer::start_on(b).await;
    let t = s.token("OLDNAME", 60, |_| {}).await;
    let c = Client::new(s.acct_addr).await;
    c.acct(1, &pkt(START, "OLDNAME", "rn1", Some(0))).await;
    c.acct(2, &pkt(INTERIM, "OLDNAME", "rn1", Some(300))).await;
    // An admin renames the code; the NAS goes on sending the old name.
    s.exec(&format!(
        "UPDATE access_tokens SET access_code = 'NEWNAME', code_key = 'NEWNAME' WHERE id = {}",
        t.id
    ))
    .await;
    c.acct(3, &pkt(INTERIM, "OLDNAME", "rn1", Some(600))).await;
    c.acct(4, &pkt(STOP, "OLDNAME", "rn1", Some(900))).await;
    assert_eq!(s.seconds_used("NEWNAME").await, 900);
    assert_eq!(
        session_rows(&s, "rn1").await,
        [("closed".into(), Some("stop".into()), 900)]
    );
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn stale_sessions_are_closed_by_the_sweep(b: Backend) {
    let s = TestServer::start_on_with(b, |c| {
        c.accounting.stale_after = Duration::from_secs(60);
        c.accounting.sweep_interval = Duration::from_millis(50);
    })
    .await;
    let t = s.token("STALE", 60, |t| t.user_limit = Some(1)).await;
    let auth = Client::new(s.addr).await;
    let acct = Client::new(s.acct_addr).await;
    assert!(auth
        .auth(1, "STALE", Pw::Pap("STALE"), Some("02:00:00:00:00:01"))
        .await
        .is_accept());
    acct.acct(1, &pkt(START, "STALE", "st1", Some(0))).await;
    acct.acct(2, &pkt(START, "STALE", "st2", Some(0))).await;
    // st1 last heard of 2 minutes ago (lost Stop); st2 is fresh.
    s.exec("UPDATE sessions SET updated_at = updated_at - 120 WHERE acct_session_id = 'st1'")
        .await;
    // Wait (bounded) for the sweep to close it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let live = s.store.live_sessions(t.id, now()).await.unwrap();
        // The counter is bumped just after the sweep's commit: wait for both.
        if live.len() == 1 && stat(&s.stats().stale_closed) >= 1 {
            assert_eq!(live[0].acct_session_id.as_deref(), Some("st2"));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "sweep did not close the stale session: {live:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reason = s.sessions("st1").await[0].close_reason.clone();
    assert_eq!(reason.as_deref(), Some("stale"));
    assert!(stat(&s.stats().stale_closed) >= 1);
    // The NAS was only silent: its next Interim-Update resumes the session
    // and charges the time since the last one seen; its Stop closes it.
    acct.acct(3, &pkt(INTERIM, "STALE", "st1", Some(600))).await;
    assert_eq!(s.seconds_used("STALE").await, 600);
    assert_eq!(
        session_rows(&s, "st1").await,
        [("active".into(), None, 600)]
    );
    acct.acct(
        4,
        &Acct {
            terminate_cause: Some(1),
            ..pkt(STOP, "STALE", "st1", Some(700))
        },
    )
    .await;
    assert_eq!(s.seconds_used("STALE").await, 700);
    assert_eq!(
        session_rows(&s, "st1").await,
        [("closed".into(), Some("stop".into()), 700)]
    );
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn bad_authenticator_and_unknown_codes(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("OK", 60, |_| {}).await;
    let c = Client::new(s.acct_addr).await;
    // Wrong secret: dropped silently.
    c.send(&acct_request(
        1,
        &pkt(INTERIM, "OK", "b1", Some(600)),
        "wrong-secret-1",
    ))
    .await;
    // Unknown code: acknowledged (nothing to charge), so the NAS stops retrying.
    c.acct(2, &pkt(INTERIM, "NOSUCH", "b2", Some(600))).await;
    assert!(c.nothing_pending());
    assert_eq!(stat(&s.stats().bad_authenticator), 1);
    assert_eq!(stat(&s.stats().acct_ignored), 1);
    // An Access-Request on the accounting port is dropped.
    c.send(&access_request(3, "OK", Pw::Pap("OK"), None, true, SECRET))
        .await;
    c.acct(4, &pkt(INTERIM, "OK", "b3", Some(60))).await;
    assert!(c.nothing_pending());
    assert_eq!(stat(&s.stats().unexpected_code), 1);
    assert_eq!(s.seconds_used("OK").await, 60);
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn concurrent_interims_for_one_session_charge_exactly_once(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("BURST", 600, |_| {}).await;
    let c = std::sync::Arc::new(Client::new(s.acct_addr).await);
    c.acct(0, &pkt(START, "BURST", "c1", Some(0))).await;
    // 30 copies of the same Interim with different identifiers, all at once.
    let reqs: Vec<Vec<u8>> = (1..=30)
        .map(|i| acct_request(i, &pkt(INTERIM, "BURST", "c1", Some(600)), SECRET))
        .collect();
    for r in &reqs {
        c.send(r).await;
    }
    let mut buf = vec![0u8; 4096];
    for _ in 0..30 {
        tokio::time::timeout(Duration::from_secs(5), c.sock.recv(&mut buf))
            .await
            .expect("reply")
            .unwrap();
    }
    assert_eq!(s.seconds_used("BURST").await, 600);
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn signed_accounting_does_not_make_auto_require_signed_logins(b: Backend) {
    let s = TestServer::start_on(b).await; // the built-in client is `auto`
    s.token("AUTO", 60, |_| {}).await;
    let acct = Client::new(s.acct_addr).await;
    let signed = radgate::radius::codec::encode_request(
        radgate::radius::codec::PacketCode::AccountingRequest,
        1,
        &{
            let mut a = radgate::radius::codec::Attrs::default();
            a.push_u32(radgate::radius::codec::ATTR_ACCT_STATUS_TYPE, START);
            a.push_string(radgate::radius::codec::ATTR_USER_NAME, "AUTO");
            a.push_string(radgate::radius::codec::ATTR_ACCT_SESSION_ID, "m1");
            a
        },
        SECRET.as_bytes(),
        true,
    )
    .unwrap();
    acct.roundtrip(&signed).await;
    // An unsigned login from the same address is still answered.
    let auth = Client::new(s.addr).await;
    let unsigned = access_request(2, "AUTO", Pw::Pap("AUTO"), None, false, SECRET);
    assert!(auth.roundtrip(&unsigned).await.is_accept());
    s.shutdown().await;
}
}

both_backends! {
/// Accounting finds codes through the same hints as logins (see
/// src/store/codes.rs): a code renamed by another connection is found by
/// its new name only.
#[tokio::test]
async fn accounting_finds_a_renamed_code_by_its_new_name(b: Backend) {
    let s = TestServer::start_on(b).await;
    let t = s.token("BEFORE", 60, |_| {}).await;
    let c = Client::new(s.acct_addr).await;
    c.acct(1, &pkt(START, "BEFORE", "r1", Some(0))).await;
    c.acct(2, &pkt(STOP, "BEFORE", "r1", Some(60))).await;
    s.exec(&format!(
        "UPDATE access_tokens SET access_code = 'AFTER', code_key = 'AFTER' WHERE id = {}",
        t.id
    ))
    .await;
    c.acct(3, &pkt(INTERIM, "BEFORE", "r2", Some(120))).await;
    assert_eq!(
        s.seconds_used("AFTER").await,
        60,
        "charged under the old name"
    );
    c.acct(4, &pkt(INTERIM, "after", "r3", Some(120))).await;
    assert_eq!(s.seconds_used("AFTER").await, 180);
    s.shutdown().await;
}
}

/// A Start on a code last used minutes ago defers its LastAccess stamp (it
/// charges nothing); an Interim that charges stamps the row at once.
// SQLite only: the PostgreSQL writer defers no stamp.
#[tokio::test]
async fn a_start_defers_its_last_access_stamp_and_a_charge_writes_it() {
    let s = TestServer::start().await;
    s.token("STAMP", 60, |_| {}).await;
    s.exec("UPDATE access_tokens SET first_used_on = strftime('%s', 'now') - 300, last_access = strftime('%s', 'now') - 300")
        .await;
    let since = now();
    let acct = Client::new(s.acct_addr).await;
    acct.acct(1, &pkt(START, "STAMP", "d1", Some(0))).await;
    let t = s.store.find_token("STAMP").await.unwrap();
    assert!(t.last_access.unwrap() < since - 60, "{:?}", t.last_access);
    s.flush().await;
    let t = s.store.find_token("STAMP").await.unwrap();
    assert!(t.last_access.unwrap() >= since, "{:?}", t.last_access);
    s.exec("UPDATE access_tokens SET last_access = last_access - 300")
        .await;
    let since = now();
    acct.acct(2, &pkt(INTERIM, "STAMP", "d1", Some(60))).await;
    let t = s.store.find_token("STAMP").await.unwrap();
    assert_eq!(t.seconds_used, 60);
    assert!(t.last_access.unwrap() >= since, "{:?}", t.last_access);
    s.shutdown().await;
}

both_backends! {
/// Whole sessions arriving in one burst, so that the writer takes many
/// packets of one session, and of two sessions of one code, into one batch
/// (PostgreSQL decides such a batch in memory and writes it back at once):
/// each code is charged exactly the sum of its sessions, every session is
/// recorded once and closed with its last time, counters kept, and a late
/// duplicate after the Stop changes nothing. A UserLimit code's pending
/// place (from its login) is confirmed by its Start, not doubled.
#[tokio::test]
async fn whole_sessions_in_one_burst_are_charged_exactly(b: Backend) {
    let s = TestServer::start_on(b).await;
    let codes: Vec<String> = (0..20).map(|i| format!("BATCH{i:02}")).collect();
    for (i, code) in codes.iter().enumerate() {
        s.token(code, 600, |t| {
            if i % 2 == 0 {
                t.user_limit = Some(2)
            }
        })
        .await;
    }
    // Logins first for the UserLimit codes: a pending place per device.
    let auth = Client::new(s.addr).await;
    let mac = |i: usize, k: usize| format!("02:00:00:00:{i:02x}:{k:02x}");
    for (i, code) in codes.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        for k in 0..2 {
            let r = auth
                .auth((i * 2 + k) as u8, code, Pw::Pap(code), Some(&mac(i, k)))
                .await;
            assert!(r.is_accept(), "{code}: {r:?}");
        }
    }
    let c = Client::new(s.acct_addr).await;
    let mut reqs = Vec::new();
    let sids: Vec<Vec<String>> = (0..codes.len())
        .map(|i| (0..2).map(|k| format!("burst-{i}-{k}")).collect())
        .collect();
    let macs: Vec<Vec<String>> = (0..codes.len())
        .map(|i| (0..2).map(|k| mac(i, k)).collect())
        .collect();
    let mut ident = 0u8;
    for (i, code) in codes.iter().enumerate() {
        for k in 0..2 {
            for (status, t) in [(START, 0), (INTERIM, 60), (INTERIM, 120), (STOP, 180), (INTERIM, 120)] {
                let p = Acct {
                    status,
                    user: code,
                    session_id: &sids[i][k],
                    session_time: Some(t),
                    mac: Some(&macs[i][k]),
                    input_octets: Some(t * 1000),
                    ..Default::default()
                };
                reqs.push(acct_request(ident, &p, SECRET));
                ident = ident.wrapping_add(1);
            }
        }
    }
    for r in &reqs {
        c.send(r).await;
    }
    let mut buf = vec![0u8; 4096];
    for _ in 0..reqs.len() {
        tokio::time::timeout(Duration::from_secs(5), c.sock.recv(&mut buf))
            .await
            .expect("an answer to every packet")
            .unwrap();
    }
    for (i, code) in codes.iter().enumerate() {
        assert_eq!(s.seconds_used(code).await, 360, "{code}");
        for sid in &sids[i] {
            let v = s.sessions(sid).await;
            assert_eq!(v.len(), 1, "{code} {sid}: {v:?}");
            let x = &v[0];
            assert_eq!(x.state, "closed", "{x:?}");
            assert_eq!(x.session_time, 180, "{x:?}");
            assert_eq!(x.close_reason.as_deref(), Some("stop"), "{x:?}");
            assert_eq!(x.input_octets, 180_000, "{x:?}");
        }
    }
    // One row per session: the UserLimit codes' pending places became them.
    assert_eq!(s.session_count().await, codes.len() * 2);
    s.shutdown().await;
}
}
