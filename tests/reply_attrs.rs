//! Optional Access-Accept attributes (SPEC §2): `[reply]`, `[[business]]`
//! and the token's RateLimit. Real UDP, real SQLite files.

mod common;

use common::*;
use radgate::config::ReplySettings;
use radgate::radius::codec;

/// (attribute, vendor, vendor type, value) of every attribute of a reply.
fn attrs(r: &Reply) -> Vec<(u8, u32, u8, Vec<u8>)> {
    let mut out = Vec::new();
    for (_, t, v) in codec::raw_attributes(&r.raw[20..]) {
        if t == codec::ATTR_VENDOR_SPECIFIC && v.len() >= 6 {
            let vendor = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
            out.push((t, vendor, v[4], v[6..].to_vec()));
        } else {
            out.push((t, 0, 0, v.to_vec()));
        }
    }
    out
}

fn find(a: &[(u8, u32, u8, Vec<u8>)], t: u8, vendor: u32, vt: u8) -> Option<Vec<u8>> {
    a.iter()
        .find(|x| x.0 == t && x.1 == vendor && x.2 == vt)
        .map(|x| x.3.clone())
}

fn vsa(a: &[(u8, u32, u8, Vec<u8>)], vendor: u32, vt: u8) -> Option<Vec<u8>> {
    find(a, codec::ATTR_VENDOR_SPECIFIC, vendor, vt)
}

fn u32_of(v: Option<Vec<u8>>) -> Option<u32> {
    v.map(|v| u32::from_be_bytes(v.try_into().unwrap()))
}

both_backends! {
#[tokio::test]
async fn defaults_business_override_and_token_rate_limit(b: Backend) {
    let s = TestServer::start_on_with(b, |c| {
        c.reply.defaults = ReplySettings {
            idle_timeout: Some(600),
            rate_limit: Some("2M/5M".into()),
            class: Some("guest".into()),
        };
        c.reply.session_terminate_time = true;
        c.reply.businesses.insert(
            3,
            ReplySettings {
                idle_timeout: Some(0),
                rate_limit: Some("10M/20M".into()),
                class: None,
            },
        );
    })
    .await;
    s.token("PLAIN", 60, |_| {}).await;
    s.token("BIZ3", 60, |t| t.business_id = Some(3)).await;
    s.token("FAST", 60, |t| {
        t.business_id = Some(3);
        t.rate_limit = Some("50M/100M".into());
        t.valid_to = Some("2099-12-31T23:59:00Z".into());
    })
    .await;
    let c = Client::new(s.addr).await;

    let r = c.auth(1, "PLAIN", Pw::Pap("PLAIN"), None).await;
    assert!(r.is_accept());
    let a = attrs(&r);
    assert_eq!(u32_of(find(&a, codec::ATTR_IDLE_TIMEOUT, 0, 0)), Some(600));
    assert_eq!(
        find(&a, codec::ATTR_CLASS, 0, 0).as_deref(),
        Some(&b"guest"[..])
    );
    assert_eq!(
        vsa(&a, codec::VENDOR_MIKROTIK, codec::MIKROTIK_RATE_LIMIT).as_deref(),
        Some(&b"2M/5M"[..])
    );
    assert_eq!(
        u32_of(vsa(&a, codec::VENDOR_WISPR, codec::WISPR_BANDWIDTH_MAX_UP)),
        Some(2_000_000)
    );
    assert_eq!(
        u32_of(vsa(
            &a,
            codec::VENDOR_WISPR,
            codec::WISPR_BANDWIDTH_MAX_DOWN
        )),
        Some(5_000_000)
    );
    assert_eq!(
        vsa(&a, codec::VENDOR_WISPR, codec::WISPR_SESSION_TERMINATE_TIME),
        None,
        "no end, nothing to send"
    );

    let r = c.auth(2, "BIZ3", Pw::Pap("BIZ3"), None).await;
    let a = attrs(&r);
    assert_eq!(
        find(&a, codec::ATTR_IDLE_TIMEOUT, 0, 0),
        None,
        "switched off for business 3"
    );
    assert_eq!(
        vsa(&a, codec::VENDOR_MIKROTIK, codec::MIKROTIK_RATE_LIMIT).as_deref(),
        Some(&b"10M/20M"[..])
    );
    assert_eq!(
        find(&a, codec::ATTR_CLASS, 0, 0).as_deref(),
        Some(&b"guest"[..])
    );

    let r = c.auth(3, "FAST", Pw::Pap("FAST"), None).await;
    let a = attrs(&r);
    assert_eq!(
        vsa(&a, codec::VENDOR_MIKROTIK, codec::MIKROTIK_RATE_LIMIT).as_deref(),
        Some(&b"50M/100M"[..])
    );
    assert_eq!(
        u32_of(vsa(
            &a,
            codec::VENDOR_WISPR,
            codec::WISPR_BANDWIDTH_MAX_DOWN
        )),
        Some(100_000_000)
    );
    assert_eq!(
        vsa(&a, codec::VENDOR_WISPR, codec::WISPR_SESSION_TERMINATE_TIME).as_deref(),
        Some(&b"2099-12-31T23:59:00+00:00"[..])
    );
    // Message-Authenticator stays first.
    assert_eq!(a[0].0, codec::ATTR_MESSAGE_AUTHENTICATOR);

    // A reject carries none of them.
    let r = c.auth(4, "PLAIN", Pw::Pap("WRONG"), None).await;
    assert!(!r.is_accept());
    let a = attrs(&r);
    assert_eq!(find(&a, codec::ATTR_CLASS, 0, 0), None);
    assert_eq!(
        vsa(&a, codec::VENDOR_MIKROTIK, codec::MIKROTIK_RATE_LIMIT),
        None
    );
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn nothing_extra_by_default(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("BARE", 60, |_| {}).await;
    let c = Client::new(s.addr).await;
    let r = c.auth(1, "BARE", Pw::Pap("BARE"), None).await;
    let kinds: Vec<u8> = attrs(&r).iter().map(|a| a.0).collect();
    assert_eq!(
        kinds,
        [
            codec::ATTR_MESSAGE_AUTHENTICATOR,
            codec::ATTR_SESSION_TIMEOUT,
            codec::ATTR_ACCT_INTERIM_INTERVAL
        ]
    );
    s.shutdown().await;
}
}
