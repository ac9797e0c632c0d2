//! Hostile networks: throttling, BlastRADIUS rules, bounded memory.

mod common;

use common::*;
use radgate::radius::codec::{self, PacketCode as Code};
use radius::core::packet::Packet;

const WAIT: &str = "Too many failed attempts, please wait a few minutes";

both_backends! {
#[tokio::test]
async fn a_guessing_device_is_throttled_without_touching_the_store(b: Backend) {
    let s = TestServer::start_on(b).await; // defaults: 5 failures per device in 60 s
    s.token("REAL", 60, |_| {}).await;
    let c = Client::new(s.addr).await;
    let guesser = Some("02:00:00:00:00:66");
    for i in 0..5 {
        let r = c
            .auth(
                i,
                &format!("GUESS{i}"),
                Pw::Pap(&format!("GUESS{i}")),
                guesser,
            )
            .await;
        assert_eq!(r.reply_message().as_deref(), Some("Unknown access code"));
    }
    // Even the right code is refused now, and the store is not consulted.
    let r = c.auth(10, "REAL", Pw::Pap("REAL"), guesser).await;
    assert_eq!(r.code, Code::AccessReject);
    assert_eq!(r.reply_message().as_deref(), Some(WAIT));
    s.flush().await;
    assert_eq!(s.store.find_token("REAL").await.unwrap().last_access, None);
    assert_eq!(stat(&s.stats().throttled), 1);
    // Another device behind the same NAS is not affected.
    assert!(c
        .auth(11, "REAL", Pw::Pap("REAL"), Some("02:00:00:00:00:01"))
        .await
        .is_accept());
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn mac_cycling_hits_the_nas_wide_limit(b: Backend) {
    let s = TestServer::start_on_with(b, |c| c.throttle.nas_failures = 10).await;
    s.token("REAL", 60, |_| {}).await;
    let c = Client::new(s.addr).await;
    // A guest logs in before the attack.
    assert!(c
        .auth(0, "REAL", Pw::Pap("REAL"), Some("02:00:00:00:00:01"))
        .await
        .is_accept());
    for i in 0..10u8 {
        let mac = format!("06:00:00:00:00:{i:02X}");
        let r = c.auth(i + 1, "WRONG", Pw::Pap("WRONG"), Some(&mac)).await;
        assert_eq!(r.reply_message().as_deref(), Some("Unknown access code"));
    }
    let r = c
        .auth(20, "REAL", Pw::Pap("REAL"), Some("06:00:00:00:00:FF"))
        .await;
    assert_eq!(r.reply_message().as_deref(), Some(WAIT));
    // The guest who was already online gets back in.
    assert!(c
        .auth(21, "REAL", Pw::Pap("REAL"), Some("02:00:00:00:00:01"))
        .await
        .is_accept());
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn a_burst_of_simultaneous_guesses_is_cut_at_the_threshold(b: Backend) {
    let s = TestServer::start_on_with(b, |c| c.throttle.nas_failures = 0).await;
    let c = Client::new(s.addr).await;
    let reqs: Vec<Vec<u8>> = (0..50u8)
        .map(|i| {
            access_request(
                i,
                &format!("G{i}"),
                Pw::Pap("x"),
                Some("02:00:00:00:00:77"),
                true,
                SECRET,
            )
        })
        .collect();
    for r in &reqs {
        c.send(r).await;
    }
    let mut unknown = 0;
    for _ in &reqs {
        let reply = c.recv_any().await;
        if reply.reply_message().as_deref() == Some("Unknown access code") {
            unknown += 1;
        }
    }
    assert_eq!(
        unknown, 5,
        "only the threshold's worth of guesses reach the store"
    );
    s.shutdown().await;
}
}

fn with_proxy_state(ident: u8, with_ma: bool) -> Vec<u8> {
    let mut p = Packet::new_with_identifier(Code::AccessRequest, SECRET.as_bytes(), ident);
    let auth = p.get_authenticator().clone();
    if with_ma {
        p.add(codec::Avp::from_bytes(
            codec::ATTR_MESSAGE_AUTHENTICATOR,
            &[0u8; 16],
        ));
    }
    p.add(codec::Avp::from_string(codec::ATTR_USER_NAME, "PROXY"));
    p.add(codec::pap_attribute(b"PROXY", SECRET.as_bytes(), &auth).unwrap());
    p.add(codec::Avp::from_bytes(codec::ATTR_PROXY_STATE, b"state-1"));
    let mut bytes = p.encode().unwrap();
    if with_ma {
        use hmac::{Hmac, Mac};
        let mut m = Hmac::<md5::Md5>::new_from_slice(SECRET.as_bytes()).unwrap();
        m.update(&bytes);
        let mac: [u8; 16] = m.finalize().into_bytes().into();
        bytes[22..38].copy_from_slice(&mac);
    }
    bytes
}

both_backends! {
#[tokio::test]
async fn proxy_state_without_message_authenticator_is_dropped(b: Backend) {
    let s = TestServer::start_on_with(b, |c| {
        c.clients[0].require_message_authenticator = radgate::config::MaPolicy::No
    })
    .await;
    s.token("PROXY", 60, |_| {}).await;
    let c = Client::new(s.addr).await;
    c.send(&with_proxy_state(1, false)).await;
    let signed = with_proxy_state(2, true);
    let r = c.roundtrip(&signed).await;
    assert!(r.is_accept());
    // Proxy-State is echoed back.
    assert_eq!(
        r.packet
            .lookup(codec::ATTR_PROXY_STATE)
            .unwrap()
            .encode_bytes(),
        b"state-1"
    );
    assert!(c.nothing_pending());
    assert_eq!(stat(&s.stats().proxy_state_without_ma), 1);
    s.shutdown().await;

    // With limit_proxy_state = false the unsigned one is answered.
    let s = TestServer::start_on_with(b, |c| {
        c.clients[0].require_message_authenticator = radgate::config::MaPolicy::No;
        c.clients[0].limit_proxy_state = false;
    })
    .await;
    s.token("PROXY", 60, |_| {}).await;
    let c = Client::new(s.addr).await;
    assert!(c.roundtrip(&with_proxy_state(1, false)).await.is_accept());
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_distinct_macs_keeps_memory_bounded(b: Backend) {
    let s = TestServer::start_on_with(b, |c| {
        c.throttle.max_tracked = 1000;
        c.throttle.nas_failures = 0;
    })
    .await;
    s.token("FLOOD", 60, |t| t.user_limit = Some(2)).await;
    let c = Client::new(s.addr).await;
    // 20,000 distinct MACs, in windows of 200 requests in flight.
    let total = 20_000u32;
    let mut sent = 0u32;
    while sent < total {
        let batch: Vec<Vec<u8>> = (0..200u32)
            .map(|i| {
                let n = sent + i;
                let mac = format!(
                    "0A:00:00:{:02X}:{:02X}:{:02X}",
                    (n >> 16) & 0xff,
                    (n >> 8) & 0xff,
                    n & 0xff
                );
                // Alternate wrong codes (tracked as failures) and the real code (pending places).
                let code = if n % 2 == 0 { "WRONG" } else { "FLOOD" };
                access_request(
                    (n % 256) as u8,
                    code,
                    Pw::Pap(code),
                    Some(&mac),
                    true,
                    SECRET,
                )
            })
            .collect();
        for r in &batch {
            c.send(r).await;
        }
        for _ in &batch {
            c.recv_any().await;
        }
        sent += 200;
    }
    let m = s.handle.as_ref().unwrap().memory_use();
    assert!(m.throttled_devices <= 1000, "{m:?}");
    assert!(m.good_devices <= 1000, "{m:?}");
    assert!(m.retransmit_cache <= 65_536, "{m:?}");
    // Only UserLimit's worth of pending places exist for the valid code.
    s.flush().await;
    assert_eq!(s.session_count().await, 2);
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn many_simultaneous_good_logins_from_one_nas_are_not_throttled(b: Backend) {
    let s = TestServer::start_on(b).await;
    for i in 0..50 {
        s.token(&format!("GUEST{i}"), 60, |_| {}).await;
    }
    let c = Client::new(s.addr).await;
    let reqs: Vec<Vec<u8>> = (0..200u32)
        .map(|i| {
            let code = format!("GUEST{}", i % 50);
            let mac = format!("02:00:00:00:{:02X}:{:02X}", i >> 8, i & 0xff);
            access_request(
                (i % 256) as u8,
                &code,
                Pw::Pap(&code),
                Some(&mac),
                true,
                SECRET,
            )
        })
        .collect();
    for r in &reqs {
        c.send(r).await;
    }
    for _ in &reqs {
        assert!(c.recv_any().await.is_accept());
    }
    assert_eq!(stat(&s.stats().throttled), 0);
    s.shutdown().await;
}
}
