//! Disconnect-Request (RFC 5176) when a code runs out of time while sessions
//! run: a fake NAS on a loopback port receives them, checks them and answers.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use radgate::radius::codec;
use tokio::net::UdpSocket;

/// A NAS's Dynamic Authorization listener on an ephemeral loopback port.
struct FakeNas {
    sock: UdpSocket,
}

/// One received Disconnect-Request.
#[derive(Debug)]
struct Received {
    bytes: Vec<u8>,
    from: SocketAddr,
    attrs: Vec<(u8, Vec<u8>)>,
}

impl Received {
    fn attr(&self, t: u8) -> Option<&[u8]> {
        self.attrs
            .iter()
            .find(|(at, _)| *at == t)
            .map(|(_, v)| v.as_slice())
    }
    fn text(&self, t: u8) -> Option<String> {
        self.attr(t)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

impl FakeNas {
    async fn start() -> FakeNas {
        FakeNas {
            sock: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        }
    }
    fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    /// Wait (at most 10 s) for a Disconnect-Request and check its
    /// authenticators.
    async fn recv(&self) -> Received {
        let mut buf = vec![0u8; 4096];
        let (n, from) =
            tokio::time::timeout(Duration::from_secs(10), self.sock.recv_from(&mut buf))
                .await
                .expect("no Disconnect-Request within 10 s")
                .unwrap();
        let bytes = buf[..n].to_vec();
        assert_eq!(bytes[0], 40, "Disconnect-Request");
        // Request Authenticator: MD5 over the packet with a zero authenticator.
        let mut zeroed = bytes.clone();
        zeroed[4..20].fill(0);
        let mut h = Md5::new();
        h.update(&zeroed);
        h.update(SECRET.as_bytes());
        assert_eq!(
            &bytes[4..20],
            h.finalize().as_slice(),
            "Request Authenticator"
        );
        let attrs: Vec<(u8, Vec<u8>)> = codec::raw_attributes(&bytes[20..])
            .map(|(_, t, v)| (t, v.to_vec()))
            .collect();
        assert_eq!(attrs[0].0, codec::ATTR_MESSAGE_AUTHENTICATOR);
        zeroed[22..38].fill(0);
        let mut m = Hmac::<Md5>::new_from_slice(SECRET.as_bytes()).unwrap();
        m.update(&zeroed);
        assert_eq!(
            &bytes[22..38],
            m.finalize().into_bytes().as_slice(),
            "Message-Authenticator"
        );
        Received { bytes, from, attrs }
    }

    /// Answer `req` with `code` (41 ACK, 42 NAK) and an optional Error-Cause.
    async fn answer(&self, req: &Received, code: u8, error_cause: Option<u32>) {
        let mut b = vec![code, req.bytes[1], 0, 0];
        b.extend_from_slice(&req.bytes[4..20]);
        if let Some(c) = error_cause {
            b.extend_from_slice(&[101, 6]);
            b.extend_from_slice(&c.to_be_bytes());
        }
        let len = b.len() as u16;
        b[2..4].copy_from_slice(&len.to_be_bytes());
        let mut h = Md5::new();
        h.update(&b);
        h.update(SECRET.as_bytes());
        let auth = h.finalize();
        b[4..20].copy_from_slice(&auth);
        self.sock.send_to(&b, req.from).await.unwrap();
    }

    fn nothing_pending(&self) -> bool {
        let mut buf = [0u8; 16];
        self.sock.try_recv_from(&mut buf).is_err()
    }
}

fn pkt<'a>(
    status: u32,
    user: &'a str,
    sid: &'a str,
    t: Option<u32>,
    mac: &'a str,
    ip: [u8; 4],
) -> Acct<'a> {
    Acct {
        status,
        user,
        session_id: sid,
        session_time: t,
        mac: Some(mac),
        framed_ip: Some(ip.into()),
        ..Default::default()
    }
}

/// Wait (bounded) until `f` holds.
async fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

both_backends! {
#[tokio::test]
async fn running_out_of_time_disconnects_every_live_session_of_the_code(b: Backend) {
    let nas = FakeNas::start().await;
    let port = nas.port();
    let s = TestServer::start_on_with(b, |c| c.clients[0].coa_port = Some(port)).await;
    s.token("SHARED10", 10, |_| {}).await;
    let acct = Client::new(s.acct_addr).await;
    let a = pkt(
        START,
        "shared10",
        "a-1",
        Some(0),
        "02:00:00:00:00:0a",
        [10, 5, 50, 10],
    );
    let b = pkt(
        START,
        "SHARED10",
        "b-1",
        Some(0),
        "02:00:00:00:00:0b",
        [10, 5, 50, 11],
    );
    acct.acct(1, &a).await;
    acct.acct(2, &b).await;
    // Device A uses 6 minutes: time is left, nothing is sent.
    acct.acct(
        3,
        &Acct {
            status: INTERIM,
            session_time: Some(360),
            ..a.clone()
        },
    )
    .await;
    s.flush().await;
    assert!(nas.nothing_pending());
    // Device B uses 5 minutes: 11 of 10 minutes used; both sessions go.
    acct.acct(
        4,
        &Acct {
            status: INTERIM,
            session_time: Some(300),
            ..b.clone()
        },
    )
    .await;
    let mut got = [nas.recv().await, nas.recv().await];
    got.sort_by_key(|r| r.text(codec::ATTR_ACCT_SESSION_ID));
    let (ra, rb) = (&got[0], &got[1]);
    assert_eq!(ra.text(codec::ATTR_ACCT_SESSION_ID).as_deref(), Some("a-1"));
    assert_eq!(
        ra.text(codec::ATTR_USER_NAME).as_deref(),
        Some("shared10"),
        "as the NAS knows it"
    );
    assert_eq!(
        ra.attr(codec::ATTR_FRAMED_IP_ADDRESS),
        Some(&[10, 5, 50, 10][..])
    );
    assert_eq!(rb.text(codec::ATTR_ACCT_SESSION_ID).as_deref(), Some("b-1"));
    assert_eq!(rb.text(codec::ATTR_USER_NAME).as_deref(), Some("SHARED10"));
    assert_eq!(
        rb.attr(codec::ATTR_FRAMED_IP_ADDRESS),
        Some(&[10, 5, 50, 11][..])
    );
    assert!(ra.from.ip().is_loopback());
    nas.answer(ra, 41, None).await;
    nas.answer(rb, 42, Some(503)).await;
    let st = s.stats();
    eventually("both outcomes counted", || {
        stat(&st.disconnect_acked) == 1 && stat(&st.disconnect_failed) == 1
    })
    .await;
    assert_eq!(stat(&st.disconnect_sent), 2);
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn an_unanswered_disconnect_is_retransmitted_unchanged(b: Backend) {
    let nas = FakeNas::start().await;
    let port = nas.port();
    let s = TestServer::start_on_with(b, |c| c.clients[0].coa_port = Some(port)).await;
    s.token("ONE", 1, |_| {}).await;
    let acct = Client::new(s.acct_addr).await;
    let a = pkt(
        START,
        "ONE",
        "one-1",
        Some(0),
        "02:00:00:00:00:01",
        [10, 0, 0, 1],
    );
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
    let first = nas.recv().await;
    let second = nas.recv().await;
    assert_eq!(
        first.bytes, second.bytes,
        "same Identifier and authenticator"
    );
    nas.answer(&second, 41, None).await;
    let st = s.stats();
    eventually("ACK counted", || stat(&st.disconnect_acked) == 1).await;
    assert_eq!(stat(&st.disconnect_sent), 1);
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn nothing_is_sent_without_coa_port_or_while_time_is_left(b: Backend) {
    let nas = FakeNas::start().await;
    let s = TestServer::start_on(b).await; // the client has no coa_port
    s.token("NOCOA", 1, |_| {}).await;
    let acct = Client::new(s.acct_addr).await;
    let a = pkt(
        START,
        "NOCOA",
        "n-1",
        Some(0),
        "02:00:00:00:00:01",
        [10, 0, 0, 1],
    );
    acct.acct(1, &a).await;
    acct.acct(
        2,
        &Acct {
            status: INTERIM,
            session_time: Some(120),
            ..a.clone()
        },
    )
    .await;
    s.flush().await;
    assert_eq!(stat(&s.stats().disconnect_sent), 0);
    assert!(nas.nothing_pending());
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn a_stop_that_uses_the_last_minute_disconnects_the_others_only(b: Backend) {
    let nas = FakeNas::start().await;
    let port = nas.port();
    let s = TestServer::start_on_with(b, |c| c.clients[0].coa_port = Some(port)).await;
    s.token("LASTMIN", 2, |_| {}).await;
    let acct = Client::new(s.acct_addr).await;
    let a = pkt(
        START,
        "LASTMIN",
        "l-a",
        Some(0),
        "02:00:00:00:00:0a",
        [10, 0, 0, 10],
    );
    let b = pkt(
        START,
        "LASTMIN",
        "l-b",
        Some(0),
        "02:00:00:00:00:0b",
        [10, 0, 0, 11],
    );
    acct.acct(1, &a).await;
    acct.acct(2, &b).await;
    acct.acct(
        3,
        &Acct {
            status: STOP,
            session_time: Some(120),
            ..a.clone()
        },
    )
    .await;
    let r = nas.recv().await;
    assert_eq!(r.text(codec::ATTR_ACCT_SESSION_ID).as_deref(), Some("l-b"));
    nas.answer(&r, 41, None).await;
    let st = s.stats();
    eventually("ACK counted", || stat(&st.disconnect_acked) == 1).await;
    s.flush().await;
    assert_eq!(
        stat(&st.disconnect_sent),
        1,
        "the stopped session is not asked"
    );
    assert!(nas.nothing_pending());
    s.shutdown().await;
}
}

/// The front desk (web UI) disconnects a guest from "Online now", and
/// revoking a code disconnects its running sessions, as a change through
/// the API does; both in the audit log.
#[tokio::test]
async fn revoking_a_code_at_the_front_desk_disconnects_its_guests() {
    use common::http::{page, session_cookie};
    use radgate::store::operators::Role;
    let nas = FakeNas::start().await;
    let port = nas.port();
    let s = TestServer::start_with(|c| {
        c.clients[0].coa_port = Some(port);
        c.api.listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let t = s.token("ROOM12", 600, |_| {}).await;
    s.operator("desk", Role::Desk, vec![]).await;
    let acct = Client::new(s.acct_addr).await;
    acct.acct(
        1,
        &pkt(
            START,
            "ROOM12",
            "r-1",
            Some(0),
            "02:00:00:00:00:0c",
            [10, 5, 50, 12],
        ),
    )
    .await;
    s.flush().await;
    let addr = s.api_addr.unwrap();
    let r = page(
        addr,
        "POST",
        "/login",
        None,
        &[],
        Some(&[("username", "desk"), ("password", "correct horse battery")]),
    )
    .await;
    let cookie = session_cookie(&r).unwrap();
    // Online now: the guest, with a Disconnect button.
    let r = page(addr, "GET", "/sessions", Some(&cookie), &[], None).await;
    assert!(
        r.text.contains("name=\"session\" value=\"r-1\""),
        "{}",
        r.text
    );
    let token_id = t.id.to_string();
    let r = page(
        addr,
        "POST",
        "/sessions/disconnect",
        Some(&cookie),
        &[("Sec-Fetch-Site", "same-origin")],
        Some(&[("token", token_id.as_str()), ("session", "r-1")]),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let got = nas.recv().await;
    assert_eq!(
        got.text(codec::ATTR_ACCT_SESSION_ID).as_deref(),
        Some("r-1")
    );
    nas.answer(&got, 41, None).await;
    let log = s
        .store
        .audit_log(&radgate::store::audit::Filter {
            action: Some("session.disconnect".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].actor, "ui:desk");
    // A session that is not running: said so.
    let r = page(
        addr,
        "POST",
        "/sessions/disconnect",
        Some(&cookie),
        &[("Sec-Fetch-Site", "same-origin")],
        Some(&[("token", token_id.as_str()), ("session", "nope")]),
    )
    .await;
    assert_eq!(r.status, 404);
    // Revoke: the code ends, and its guest is disconnected again.
    let r = page(
        addr,
        "POST",
        &format!("/tokens/{}/revoke", t.id),
        Some(&cookie),
        &[("Sec-Fetch-Site", "same-origin")],
        Some(&[("reason", "guest checked out")]),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let got = nas.recv().await;
    assert_eq!(
        got.text(codec::ATTR_ACCT_SESSION_ID).as_deref(),
        Some("r-1")
    );
    nas.answer(&got, 41, None).await;
}

both_backends! {
#[tokio::test]
async fn running_out_of_data_disconnects_every_live_session_of_the_code(b: Backend) {
    let nas = FakeNas::start().await;
    let port = nas.port();
    let s = TestServer::start_on_with(b, |c| c.clients[0].coa_port = Some(port)).await;
    // 10 MB shared by two devices, plenty of time.
    s.token("DATA10", 600, |t| t.megabytes_included = Some(10)).await;
    let acct = Client::new(s.acct_addr).await;
    let a = pkt(START, "DATA10", "da-1", Some(0), "02:00:00:00:00:0a", [10, 5, 50, 10]);
    let b = pkt(START, "data10", "db-1", Some(0), "02:00:00:00:00:0b", [10, 5, 50, 11]);
    acct.acct(1, &a).await;
    acct.acct(2, &b).await;
    // Device A uses 6 MB: data is left, nothing is sent.
    acct.acct(
        3,
        &Acct {
            status: INTERIM,
            session_time: Some(60),
            input_octets: Some(1_000_000),
            output_octets: Some(5_000_000),
            ..a.clone()
        },
    )
    .await;
    s.flush().await;
    assert!(nas.nothing_pending());
    // Device B uses 4 MB more: all 10 MB used; both sessions go.
    acct.acct(
        4,
        &Acct {
            status: INTERIM,
            session_time: Some(60),
            output_octets: Some(4_000_000),
            ..b.clone()
        },
    )
    .await;
    let mut got = [nas.recv().await, nas.recv().await];
    got.sort_by_key(|r| r.text(codec::ATTR_ACCT_SESSION_ID));
    assert_eq!(got[0].text(codec::ATTR_ACCT_SESSION_ID).as_deref(), Some("da-1"));
    assert_eq!(got[1].text(codec::ATTR_ACCT_SESSION_ID).as_deref(), Some("db-1"));
    assert_eq!(got[1].text(codec::ATTR_USER_NAME).as_deref(), Some("data10"));
    nas.answer(&got[0], 41, None).await;
    nas.answer(&got[1], 41, None).await;
    let st = s.stats();
    eventually("both acknowledged", || stat(&st.disconnect_acked) == 2).await;
    let t = s.store.find_token("DATA10").await.unwrap();
    assert_eq!((t.bytes_used, t.megabytes_left()), (10_000_000, Some(0)));
    assert_eq!(t.seconds_used, 120, "time is charged as before");
    s.shutdown().await;
}
}
