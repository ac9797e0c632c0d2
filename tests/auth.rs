//! End-to-end authentication tests: real UDP packets to a running server,
//! real SQLite files in temporary directories.

mod common;

use std::sync::Arc;

use common::*;
use radgate::config::MaPolicy;
use radgate::radius::codec::PacketCode as Code;

both_backends! {
#[tokio::test]
async fn pap_accept_carries_session_timeout_and_interim_interval(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("WELCOME1", 60, |t| t.user_limit = Some(3)).await;
    let c = Client::new(s.addr).await;
    let r = c
        .auth(
            1,
            "WELCOME1",
            Pw::Pap("WELCOME1"),
            Some("aa-bb-cc-dd-ee-01"),
        )
        .await;
    assert!(r.is_accept(), "{r:?}");
    assert_eq!(r.session_timeout(), Some(3600));
    assert_eq!(r.interim_interval(), Some(300));
    // LastAccess stamped, and a pending place recorded for the device.
    s.flush().await;
    let t = s.store.find_token("WELCOME1").await.unwrap();
    assert!(t.last_access.is_some());
    let live = s
        .store
        .live_sessions(t.id, chrono::Utc::now().timestamp())
        .await
        .unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].state, "pending");
    assert_eq!(live[0].device.as_deref(), Some("AA:BB:CC:DD:EE:01"));
    // `session list` shows the place as pending while it holds, and as
    // expired once its time has passed without an accounting Start.
    let f = radgate::store::SessionFilter {
        limit: 10,
        ..Default::default()
    };
    let now = chrono::Utc::now().timestamp();
    let listed = s.store.list_sessions(&f, now).await.unwrap();
    assert_eq!(listed[0].state, "pending");
    let until = listed[0].expires_at.unwrap();
    let listed = s.store.list_sessions(&f, until).await.unwrap();
    assert_eq!(listed[0].state, "expired");
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn codes_match_case_insensitively_with_pap_and_chap(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("Welcome1", 30, |_| {}).await;
    let c = Client::new(s.addr).await;
    assert!(c
        .auth(1, "welcome1", Pw::Pap("WELCOME1"), None)
        .await
        .is_accept());
    // CHAP with a CHAP-Challenge attribute, code typed in lower case.
    let r = c.auth(2, "welcome1", Pw::Chap("welcome1"), None).await;
    assert!(r.is_accept());
    assert_eq!(r.session_timeout(), Some(1800));
    // CHAP with the Request Authenticator as challenge.
    assert!(c
        .auth(3, "WELCOME1", Pw::ChapAuth("WELCOME1"), None)
        .await
        .is_accept());
    // CHAP with a wrong password.
    let r = c.auth(4, "welcome1", Pw::Chap("welcome2"), None).await;
    assert_eq!(r.code, Code::AccessReject);
    assert_eq!(r.reply_message().as_deref(), Some("Wrong password"));
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn every_reject_reason_has_its_own_reply_message(b: Backend) {
    let s = TestServer::start_on_with(b, |c| {
        c.messages.expired = "Code expired, ask reception".into();
    })
    .await;
    let now = chrono::Utc::now();
    let fmt = |d: chrono::DateTime<chrono::Utc>| d.to_rfc3339();
    s.token("FUTURE", 60, |t| {
        t.valid_from = Some(fmt(now + chrono::Duration::hours(1)))
    })
    .await;
    s.token("OLD", 60, |t| {
        t.valid_from = Some(fmt(now - chrono::Duration::hours(2)));
        t.valid_to = Some(fmt(now - chrono::Duration::hours(1)));
    })
    .await;
    let used = s.token("USEDUP", 10, |_| {}).await;
    s.exec(&format!(
        "UPDATE access_tokens SET seconds_used = 600 WHERE id = {}",
        used.id
    ))
    .await;
    let nodata = s.token("NODATA", 60, |t| t.megabytes_included = Some(1)).await;
    s.exec(&format!(
        "UPDATE access_tokens SET bytes_used = 1000000 WHERE id = {}",
        nodata.id
    ))
    .await;
    s.token("BOUND", 60, |t| {
        t.mac_address = Some("AA:BB:CC:00:00:01".into())
    })
    .await;
    s.token("SOLO", 60, |t| t.user_limit = Some(1)).await;
    let c = Client::new(s.addr).await;
    assert!(c
        .auth(1, "SOLO", Pw::Pap("SOLO"), Some("AA:BB:CC:00:00:09"))
        .await
        .is_accept());

    let cases = [
        ("NOSUCH", "NOSUCH", None, "Unknown access code"),
        ("FUTURE", "wrong", None, "Wrong password"),
        (
            "FUTURE",
            "FUTURE",
            None,
            "This access code is not valid yet",
        ),
        ("OLD", "OLD", None, "Code expired, ask reception"),
        ("USEDUP", "USEDUP", None, "No time left on this access code"),
        ("NODATA", "NODATA", None, "Your data allowance is used up"),
        (
            "BOUND",
            "BOUND",
            Some("AA:BB:CC:00:00:02"),
            "This access code is in use by another device",
        ),
        (
            "SOLO",
            "SOLO",
            Some("AA:BB:CC:00:00:03"),
            "Too many devices are using this access code",
        ),
    ];
    for (i, (user, pw, mac, msg)) in cases.iter().enumerate() {
        let r = c.auth(10 + i as u8, user, Pw::Pap(pw), *mac).await;
        assert_eq!(r.code, Code::AccessReject, "{user}");
        assert_eq!(r.reply_message().as_deref(), Some(*msg), "{user}");
    }
    // The bound code works from its own device, in any MAC notation.
    assert!(c
        .auth(30, "BOUND", Pw::Pap("BOUND"), Some("aabb.cc00.0001"))
        .await
        .is_accept());
    assert_eq!(stat(&s.stats().access_rejects), 8);
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn session_timeout_is_capped_by_valid_to(b: Backend) {
    let s = TestServer::start_on(b).await;
    let to = chrono::Utc::now() + chrono::Duration::seconds(600);
    s.token("SHORT", 60, |t| t.valid_to = Some(to.to_rfc3339()))
        .await;
    let c = Client::new(s.addr).await;
    let r = c.auth(1, "SHORT", Pw::Pap("SHORT"), None).await;
    let st = r.session_timeout().unwrap();
    assert!((595..=600).contains(&st), "Session-Timeout {st}");
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn user_limit_race_twenty_devices_one_accept(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("RACE", 60, |t| t.user_limit = Some(1)).await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(Arc::new(Client::new(s.addr).await));
    }
    // Build all requests first, then fire them together.
    let reqs: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            access_request(
                i as u8,
                "RACE",
                Pw::Pap("RACE"),
                Some(&format!("02:00:00:00:00:{i:02X}")),
                true,
                SECRET,
            )
        })
        .collect();
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = Vec::new();
    for (c, req) in clients.into_iter().zip(reqs) {
        let b = barrier.clone();
        tasks.push(tokio::spawn(async move {
            b.wait().await;
            c.roundtrip(&req).await
        }));
    }
    let mut accepts = 0;
    for t in tasks {
        let r = t.await.unwrap();
        if r.is_accept() {
            accepts += 1;
        } else {
            assert_eq!(
                r.reply_message().as_deref(),
                Some("Too many devices are using this access code")
            );
        }
    }
    assert_eq!(
        accepts, 1,
        "exactly one of 20 devices gets the UserLimit=1 place"
    );
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn a_device_holding_a_place_re_authenticates_without_counting_twice(b: Backend) {
    let s = TestServer::start_on(b).await;
    let t = s.token("TWO", 60, |t| t.user_limit = Some(2)).await;
    let c = Client::new(s.addr).await;
    for i in 0..3 {
        assert!(c
            .auth(i, "TWO", Pw::Pap("TWO"), Some("02:00:00:00:00:01"))
            .await
            .is_accept());
    }
    assert!(c
        .auth(5, "TWO", Pw::Pap("TWO"), Some("02:00:00:00:00:02"))
        .await
        .is_accept());
    assert!(!c
        .auth(6, "TWO", Pw::Pap("TWO"), Some("02:00:00:00:00:03"))
        .await
        .is_accept());
    s.flush().await;
    let live = s
        .store
        .live_sessions(t.id, chrono::Utc::now().timestamp())
        .await
        .unwrap();
    assert_eq!(live.len(), 2, "{live:?}");
    // When device 1's pending place expires, device 3 gets in.
    s.exec("UPDATE sessions SET expires_at = 0 WHERE device = '02:00:00:00:00:01'")
        .await;
    assert!(c
        .auth(7, "TWO", Pw::Pap("TWO"), Some("02:00:00:00:00:03"))
        .await
        .is_accept());
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn bind_mac_on_first_use_binds_the_first_device(b: Backend) {
    let s = TestServer::start_on_with(b, |c| c.auth.bind_mac_on_first_use = true).await;
    s.token("BINDME", 60, |_| {}).await;
    let c = Client::new(s.addr).await;
    assert!(c
        .auth(1, "BINDME", Pw::Pap("BINDME"), Some("aa:bb:cc:dd:ee:ff"))
        .await
        .is_accept());
    s.flush().await;
    let t = s.store.find_token("BINDME").await.unwrap();
    assert_eq!(t.mac_address.as_deref(), Some("AA:BB:CC:DD:EE:FF"));
    let r = c
        .auth(2, "BINDME", Pw::Pap("BINDME"), Some("AA-BB-CC-DD-EE-00"))
        .await;
    assert_eq!(
        r.reply_message().as_deref(),
        Some("This access code is in use by another device")
    );
    assert!(c
        .auth(3, "BINDME", Pw::Pap("BINDME"), Some("AABBCCDDEEFF"))
        .await
        .is_accept());
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn retransmission_gets_the_cached_reply_without_a_second_decision(b: Backend) {
    let s = TestServer::start_on(b).await;
    let t = s.token("ONCE", 60, |t| t.user_limit = Some(5)).await;
    let c = Client::new(s.addr).await;
    let req = access_request(77, "ONCE", Pw::Pap("ONCE"), None, true, SECRET);
    let first = c.roundtrip(&req).await;
    let second = c.roundtrip(&req).await;
    assert!(first.is_accept());
    assert_eq!(first.raw, second.raw, "byte-identical cached reply");
    assert_eq!(stat(&s.stats().duplicates), 1);
    assert_eq!(stat(&s.stats().access_accepts), 1);
    // Without a Calling-Station-Id every decision would take a new place:
    // one place proves one decision.
    s.flush().await;
    let live = s
        .store
        .live_sessions(t.id, chrono::Utc::now().timestamp())
        .await
        .unwrap();
    assert_eq!(live.len(), 1);
    // Same identifier, new authenticator: a new request.
    let req2 = access_request(77, "ONCE", Pw::Pap("ONCE"), None, true, SECRET);
    assert!(c.roundtrip(&req2).await.is_accept());
    assert_eq!(stat(&s.stats().access_accepts), 2);
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn status_server_is_answered(b: Backend) {
    let s = TestServer::start_on(b).await;
    let c = Client::new(s.addr).await;
    let req = radgate::radius::codec::encode_request(
        Code::StatusServer,
        9,
        &Default::default(),
        SECRET.as_bytes(),
        true,
    )
    .unwrap();
    let r = c.roundtrip(&req).await;
    assert_eq!(r.code, Code::AccessAccept);
    assert_eq!(stat(&s.stats().status_server), 1);
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn unknown_source_and_bad_secret_are_dropped_silently_and_counted(b: Backend) {
    // Only 127.0.0.2 is a client; 127.0.0.1 is unknown.
    let s = TestServer::start_on_with(b, |c| {
        c.clients[0].network = "127.0.0.2/32".parse().unwrap();
    })
    .await;
    s.token("CODE", 60, |_| {}).await;
    let stranger = Client::bind("127.0.0.1:0", s.addr).await;
    let nas = Client::bind("127.0.0.2:0", s.addr).await;
    stranger
        .send(&access_request(
            1,
            "CODE",
            Pw::Pap("CODE"),
            None,
            true,
            SECRET,
        ))
        .await;
    // Wrong secret from a known client: Message-Authenticator fails.
    nas.send(&access_request(
        2,
        "CODE",
        Pw::Pap("CODE"),
        None,
        true,
        "wrong-secret-1",
    ))
    .await;
    // A valid request after them: its reply proves the earlier ones were processed.
    let ok = access_request(3, "CODE", Pw::Pap("CODE"), None, true, SECRET);
    let r = nas.roundtrip(&ok).await;
    assert!(r.is_accept());
    assert!(nas.nothing_pending());
    assert!(stranger.nothing_pending());
    assert_eq!(stat(&s.stats().unknown_client), 1);
    assert_eq!(stat(&s.stats().bad_message_authenticator), 1);
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn message_authenticator_policies(b: Backend) {
    let s = TestServer::start_on_with(b, |c| {
        let mut yes = c.clients[0].clone();
        yes.name = "yes".into();
        yes.network = "127.0.0.3/32".parse().unwrap();
        yes.require_message_authenticator = MaPolicy::Yes;
        let mut no = c.clients[0].clone();
        no.name = "no".into();
        no.network = "127.0.0.4/32".parse().unwrap();
        no.require_message_authenticator = MaPolicy::No;
        c.clients[0].require_message_authenticator = MaPolicy::Auto;
        c.clients.push(yes);
        c.clients.push(no);
    })
    .await;
    s.token("MA", 60, |_| {}).await;
    let without = |i| access_request(i, "MA", Pw::Pap("MA"), None, false, SECRET);
    let with = |i| access_request(i, "MA", Pw::Pap("MA"), None, true, SECRET);

    // yes: without is dropped, with is answered.
    let c = Client::bind("127.0.0.3:0", s.addr).await;
    c.send(&without(1)).await;
    assert!(c.roundtrip(&with(2)).await.is_accept());
    assert!(c.nothing_pending());
    assert_eq!(stat(&s.stats().missing_message_authenticator), 1);

    // no: both answered.
    let c = Client::bind("127.0.0.4:0", s.addr).await;
    assert!(c.roundtrip(&without(1)).await.is_accept());
    assert!(c.roundtrip(&with(2)).await.is_accept());

    // auto: without is answered until the client first sends one.
    let c = Client::bind("127.0.0.1:0", s.addr).await;
    assert!(c.roundtrip(&without(1)).await.is_accept());
    assert!(c.roundtrip(&with(2)).await.is_accept());
    c.send(&without(3)).await;
    assert!(c.roundtrip(&with(4)).await.is_accept());
    assert!(c.nothing_pending());
    assert_eq!(stat(&s.stats().missing_message_authenticator), 2);
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn malformed_datagrams_are_dropped_and_the_server_keeps_serving(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("ALIVE", 60, |_| {}).await;
    let c = Client::new(s.addr).await;
    let good = access_request(1, "ALIVE", Pw::Pap("ALIVE"), None, true, SECRET);
    let mut bad: Vec<Vec<u8>> = vec![
        vec![],
        vec![1],
        good[..19].to_vec(),
        good[..good.len() - 1].to_vec(), // length field larger than datagram
        vec![0u8; 4097],                 // larger than the RADIUS maximum
    ];
    let mut zero_len = good.clone();
    zero_len[21] = 0;
    bad.push(zero_len);
    let mut one_len = good.clone();
    one_len[21] = 1;
    bad.push(one_len);
    let mut overrun = good.clone();
    overrun[39] = 250; // User-Name (after the 18-byte Message-Authenticator) runs past the end
    bad.push(overrun);
    let mut short_len = good.clone();
    short_len[2] = 0;
    short_len[3] = 10; // below the 20-byte header
    bad.push(short_len);
    let mut acct = good.clone();
    acct[0] = 4; // Accounting-Request on the auth port
    bad.push(acct);
    // Duplicate attributes: a second User-Name appended (Length adjusted).
    let mut dup = good.clone();
    dup.extend_from_slice(&[1, 7, b'O', b'T', b'H', b'E', b'R']);
    let len = (dup.len() as u16).to_be_bytes();
    dup[2] = len[0];
    dup[3] = len[1];
    bad.push(dup);
    // Two Message-Authenticators.
    let mut two_ma = good.clone();
    two_ma.extend_from_slice(&[80, 18]);
    two_ma.extend_from_slice(&[0u8; 16]);
    let len = (two_ma.len() as u16).to_be_bytes();
    two_ma[2] = len[0];
    two_ma[3] = len[1];
    bad.push(two_ma);
    for b in &bad {
        c.send(b).await;
    }
    assert!(c.roundtrip(&good).await.is_accept());
    assert!(c.nothing_pending());
    let st = s.stats();
    let dropped =
        stat(&st.malformed) + stat(&st.unexpected_code) + stat(&st.bad_message_authenticator);
    assert_eq!(
        dropped,
        bad.len() as u64,
        "malformed={} unexpected={} bad_ma={}",
        stat(&st.malformed),
        stat(&st.unexpected_code),
        stat(&st.bad_message_authenticator)
    );
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn deleted_code_stops_working_at_once(b: Backend) {
    let s = TestServer::start_on(b).await;
    let t = s.token("GONE", 60, |_| {}).await;
    let c = Client::new(s.addr).await;
    assert!(c.auth(1, "GONE", Pw::Pap("GONE"), None).await.is_accept());
    assert!(s.store.delete_token(t.id, &common::test_actor()).await.unwrap());
    let r = c.auth(2, "GONE", Pw::Pap("GONE"), None).await;
    assert_eq!(r.reply_message().as_deref(), Some("Unknown access code"));
    s.shutdown().await;
}
}

both_backends! {
/// The writer finds codes through hints from code to token id (see
/// src/store/codes.rs). Codes changed behind its back — by the CLI or the
/// API, on other connections — must be found as they are now: renamed,
/// re-created under a new id, or added in a second business (which makes a
/// code ambiguous for a client without a business).
#[tokio::test]
async fn codes_changed_by_other_connections_are_found_as_they_are_now(b: Backend) {
    let s = TestServer::start_on_with(b, |c| {
        let mut biz = c.clients[0].clone();
        biz.name = "venue-7".into();
        biz.network = "127.0.0.2/32".parse().unwrap();
        biz.business_id = Some(7);
        c.clients.push(biz);
    })
    .await;
    let any = Client::new(s.addr).await;
    let venue = Client::bind("127.0.0.2:0", s.addr).await;
    let unknown = Some("Unknown access code");
    let t = s.token("HINTED", 60, |_| {}).await;
    assert!(any
        .auth(1, "HINTED", Pw::Pap("HINTED"), None)
        .await
        .is_accept());
    // Renamed: the old code is gone, the new one works.
    s.exec(&format!(
        "UPDATE access_tokens SET access_code = 'RENAMED', code_key = 'RENAMED' WHERE id = {}",
        t.id
    ))
    .await;
    let r = any.auth(2, "HINTED", Pw::Pap("HINTED"), None).await;
    assert_eq!(r.reply_message().as_deref(), unknown);
    assert!(any
        .auth(3, "RENAMED", Pw::Pap("RENAMED"), None)
        .await
        .is_accept());
    // Deleted and created again (a new id, and a different password).
    assert!(s.store.delete_token(t.id, &common::test_actor()).await.unwrap());
    let again = s.token("RENAMED", 30, |_| {}).await;
    assert!(again.id > t.id);
    let r = any.auth(4, "RENAMED", Pw::Pap("RENAMED"), None).await;
    assert_eq!(r.session_timeout(), Some(30 * 60));
    // The same code in business 7: ambiguous for a client without a
    // business, the business-7 token for the venue's client.
    let b7 = s.token("RENAMED", 5, |t| t.business_id = Some(7)).await;
    let r = any.auth(5, "RENAMED", Pw::Pap("RENAMED"), None).await;
    assert_eq!(r.reply_message().as_deref(), unknown);
    let r = venue.auth(6, "RENAMED", Pw::Pap("RENAMED"), None).await;
    assert_eq!(r.session_timeout(), Some(5 * 60));
    // One business again: the code is unambiguous.
    assert!(s.store.delete_token(b7.id, &common::test_actor()).await.unwrap());
    let r = any.auth(7, "RENAMED", Pw::Pap("RENAMED"), None).await;
    assert_eq!(r.session_timeout(), Some(30 * 60));
    let r = venue.auth(8, "RENAMED", Pw::Pap("RENAMED"), None).await;
    assert_eq!(r.reply_message().as_deref(), unknown);
    s.shutdown().await;
}
}

/// A later login that only has to refresh LastAccess does not write the row
/// at once: the stamp is deferred (store/stamps.rs) and reaches the
/// database with a sweep, a flush, or at shutdown. (SQLite only: the
/// PostgreSQL writer defers no stamp, it writes LastAccess at once.)
#[tokio::test]
async fn a_deferred_last_access_stamp_reaches_the_database() {
    let s = TestServer::start().await;
    s.token("LATER1", 60, |_| {}).await;
    s.token("LATER2", 60, |_| {}).await;
    let c = Client::new(s.addr).await;
    let codes = ["LATER1", "LATER2"];
    for (i, code) in codes.iter().enumerate() {
        assert!(c.auth(i as u8, code, Pw::Pap(code), None).await.is_accept());
    }
    // Both were last used two minutes ago.
    s.exec("UPDATE access_tokens SET first_used_on = first_used_on - 120, last_access = last_access - 120")
        .await;
    let stamped = |t: &radgate::token::AccessToken, since: i64| t.last_access.unwrap_or(0) >= since;
    let since = chrono::Utc::now().timestamp();
    for (i, code) in codes.iter().enumerate() {
        assert!(c
            .auth(10 + i as u8, code, Pw::Pap(code), None)
            .await
            .is_accept());
    }
    // An Accounting-Response comes after its batch has committed, and so
    // has everything the writer ran before it: the logins' work included.
    let acct = Client::new(s.acct_addr).await;
    acct.acct(
        1,
        &Acct {
            status: START,
            user: "NOSUCHCODE",
            session_id: "x1",
            ..Default::default()
        },
    )
    .await;
    // Deferred: the rows still hold the old stamps.
    for code in codes {
        let t = s.store.find_token(code).await.unwrap();
        assert!(!stamped(&t, since - 60), "{code}: {:?}", t.last_access);
    }
    // A flush writes them.
    s.flush().await;
    for code in codes {
        let t = s.store.find_token(code).await.unwrap();
        assert!(stamped(&t, since), "{code}: {:?}", t.last_access);
    }
    // So does shutdown.
    s.exec("UPDATE access_tokens SET last_access = last_access - 120")
        .await;
    let since = chrono::Utc::now().timestamp();
    assert!(c
        .auth(20, "LATER1", Pw::Pap("LATER1"), None)
        .await
        .is_accept());
    let store = s.store.clone();
    s.shutdown().await;
    let t = store.find_token("LATER1").await.unwrap();
    assert!(stamped(&t, since), "{:?}", t.last_access);
    let t = store.find_token("LATER2").await.unwrap();
    assert!(!stamped(&t, since - 60), "{:?}", t.last_access);
}
