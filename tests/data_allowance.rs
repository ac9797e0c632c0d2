//! Data allowances (SPEC §12) end to end: real UDP, real SQLite files and
//! PostgreSQL databases. Octets are charged like seconds (the increase per
//! session, never twice); a code with no data left is refused with its own
//! message; an Access-Accept carries what is left as Mikrotik-Total-Limit
//! and ChilliSpot-Max-Total-Octets (+ Gigawords).

mod common;

use common::*;
use radgate::radius::codec::{self, PacketCode as Code};

/// An Accounting-Request with octet counters and their Gigawords.
#[allow(clippy::too_many_arguments)]
fn acct_octets(
    ident: u8,
    status: u32,
    user: &str,
    sid: &str,
    time: u32,
    input: (u32, u32),
    output: (u32, u32),
) -> Vec<u8> {
    let mut a = codec::Attrs::default();
    a.push_u32(codec::ATTR_ACCT_STATUS_TYPE, status);
    a.push_string(codec::ATTR_USER_NAME, user);
    a.push_string(codec::ATTR_ACCT_SESSION_ID, sid);
    a.push_u32(codec::ATTR_ACCT_SESSION_TIME, time);
    a.push_string(codec::ATTR_CALLING_STATION_ID, "02:00:00:00:00:01");
    a.push_u32(codec::ATTR_ACCT_INPUT_OCTETS, input.0);
    a.push_u32(codec::ATTR_ACCT_OUTPUT_OCTETS, output.0);
    if input.1 > 0 {
        a.push_u32(codec::ATTR_ACCT_INPUT_GIGAWORDS, input.1);
    }
    if output.1 > 0 {
        a.push_u32(codec::ATTR_ACCT_OUTPUT_GIGAWORDS, output.1);
    }
    codec::encode_request(Code::AccountingRequest, ident, &a, SECRET.as_bytes(), false).unwrap()
}

async fn send(c: &Client, req: &[u8]) {
    let r = c.roundtrip(req).await;
    assert_eq!(r.code, Code::AccountingResponse);
}

async fn bytes_used(s: &TestServer, code: &str) -> i64 {
    s.flush().await;
    s.store.find_token(code).await.unwrap().bytes_used
}

/// (vendor, vendor type, value) of a reply's vendor attributes.
fn vsas(r: &Reply) -> Vec<(u32, u8, Vec<u8>)> {
    codec::raw_attributes(&r.raw[20..])
        .filter(|(_, t, v)| *t == codec::ATTR_VENDOR_SPECIFIC && v.len() >= 6)
        .map(|(_, _, v)| {
            (
                u32::from_be_bytes([v[0], v[1], v[2], v[3]]),
                v[4],
                v[6..].to_vec(),
            )
        })
        .collect()
}

fn vsa_u32(r: &Reply, vendor: u32, vt: u8) -> Option<u32> {
    vsas(r)
        .into_iter()
        .find(|(v, t, _)| *v == vendor && *t == vt)
        .map(|(_, _, x)| u32::from_be_bytes(x.try_into().unwrap()))
}

both_backends! {
#[tokio::test]
async fn octets_are_charged_once_whatever_the_nas_repeats_or_reorders(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("DATA5", 600, |t| t.megabytes_included = Some(5)).await;
    let c = Client::new(s.acct_addr).await;
    // A Start's counters are not charged (some NASes send garbage there).
    send(&c, &acct_octets(1, START, "DATA5", "d1", 0, (999, 0), (999, 0))).await;
    assert_eq!(bytes_used(&s, "DATA5").await, 0);
    // 1 MB in, 0.5 MB out.
    let interim = acct_octets(2, INTERIM, "data5", "d1", 60, (1_000_000, 0), (500_000, 0));
    send(&c, &interim).await;
    assert_eq!(bytes_used(&s, "DATA5").await, 1_500_000);
    // The same datagram again (answered from the cache), and the same
    // counters in a new datagram (a NAS that re-sends with a new id).
    send(&c, &interim).await;
    send(&c, &acct_octets(3, INTERIM, "DATA5", "d1", 60, (1_000_000, 0), (500_000, 0))).await;
    assert_eq!(bytes_used(&s, "DATA5").await, 1_500_000);
    // An older Interim arriving after the newer one: nothing, not less.
    send(&c, &acct_octets(4, INTERIM, "DATA5", "d1", 30, (400_000, 0), (100_000, 0))).await;
    assert_eq!(bytes_used(&s, "DATA5").await, 1_500_000);
    // The Stop: the increase only.
    send(&c, &acct_octets(5, STOP, "DATA5", "d1", 120, (2_000_000, 0), (1_000_000, 0))).await;
    let t = s.store.find_token("DATA5").await.unwrap();
    assert_eq!((t.bytes_used, t.seconds_used), (3_000_000, 120));
    assert_eq!(t.megabytes_left(), Some(2));
    // A session whose Start was lost: its first Interim charges it all.
    send(&c, &acct_octets(6, INTERIM, "DATA5", "d2", 10, (100, 0), (0, 0))).await;
    assert_eq!(bytes_used(&s, "DATA5").await, 3_000_100);
    assert_eq!(
        s.store.find_token("DATA5").await.unwrap().megabytes_left(),
        Some(2),
        "1,999,900 bytes left show as 2 MB (rounded up)"
    );
    // The NAS reuses d1 an hour after its Stop, and that Start is lost:
    // a new session, charged in full, not against the old counters.
    s.exec("UPDATE sessions SET stopped_at = stopped_at - 3600 WHERE acct_session_id = 'd1'")
        .await;
    send(&c, &acct_octets(7, INTERIM, "DATA5", "d1", 5, (50, 0), (50, 0))).await;
    assert_eq!(bytes_used(&s, "DATA5").await, 3_000_200);
    assert_eq!(s.sessions("d1").await.len(), 2);
    // The API's and CLI's JSON name the fields as the SPEC does.
    let j = s.store.find_token("DATA5").await.unwrap().to_json();
    let v = serde_json::to_value(&j).unwrap();
    assert_eq!((v["MegabytesIncluded"].as_i64(), v["MegabytesLeft"].as_i64()), (Some(5), Some(2)));
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn gigawords_count_and_codes_without_an_allowance_still_track_usage(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("GIGA", 600, |t| t.megabytes_included = Some(20_000)).await;
    s.token("FREE", 600, |_| {}).await;
    let c = Client::new(s.acct_addr).await;
    // 1 Gigaword + 5 octets in, 2 Gigawords out: 3 × 2^32 + 5.
    send(&c, &acct_octets(1, INTERIM, "GIGA", "g1", 60, (5, 1), (0, 2))).await;
    assert_eq!(bytes_used(&s, "GIGA").await, 3 * (1 << 32) + 5);
    // The low word wrapped: Gigawords went up, the octets down.
    send(&c, &acct_octets(2, INTERIM, "GIGA", "g1", 120, (10, 2), (0, 2))).await;
    assert_eq!(bytes_used(&s, "GIGA").await, 4 * (1 << 32) + 10);
    let t = s.store.find_token("GIGA").await.unwrap();
    // 17,179,869,194 bytes used of 20 GB: 2,820,130,806 left, 2,821 MB rounded up.
    assert_eq!(t.megabytes_left(), Some(2_821));
    // No allowance: usage is counted, nothing is left or refused.
    send(&c, &acct_octets(3, INTERIM, "FREE", "f1", 60, (7, 0), (8, 0))).await;
    let t = s.store.find_token("FREE").await.unwrap();
    assert_eq!((t.bytes_used, t.megabytes_left()), (15, None));
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn no_data_left_is_refused_with_its_own_message_and_the_accept_carries_the_rest(b: Backend) {
    let s = TestServer::start_on_with(b, |c| {
        c.messages.data_used_up = "Data gone".into();
    })
    .await;
    s.token("SMALL", 600, |t| t.megabytes_included = Some(500)).await;
    s.token("BIG", 600, |t| t.megabytes_included = Some(5_000)).await;
    s.token("PLAIN", 600, |_| {}).await;
    let c = Client::new(s.addr).await;
    let r = c.auth(1, "SMALL", Pw::Pap("SMALL"), None).await;
    assert!(r.is_accept());
    assert_eq!(
        vsa_u32(&r, codec::VENDOR_MIKROTIK, codec::MIKROTIK_TOTAL_LIMIT),
        Some(500_000_000)
    );
    assert_eq!(
        vsa_u32(&r, codec::VENDOR_CHILLISPOT, codec::CHILLISPOT_MAX_TOTAL_OCTETS),
        Some(500_000_000)
    );
    assert_eq!(
        vsa_u32(&r, codec::VENDOR_MIKROTIK, codec::MIKROTIK_TOTAL_LIMIT_GIGAWORDS),
        None,
        "below 4 GiB: no Gigawords"
    );
    // 5 GB = 1 × 2^32 + 705,032,704.
    let r = c.auth(2, "BIG", Pw::Pap("BIG"), None).await;
    assert!(r.is_accept());
    for (v, lo, hi) in [
        (
            codec::VENDOR_MIKROTIK,
            codec::MIKROTIK_TOTAL_LIMIT,
            codec::MIKROTIK_TOTAL_LIMIT_GIGAWORDS,
        ),
        (
            codec::VENDOR_CHILLISPOT,
            codec::CHILLISPOT_MAX_TOTAL_OCTETS,
            codec::CHILLISPOT_MAX_TOTAL_GIGAWORDS,
        ),
    ] {
        assert_eq!(vsa_u32(&r, v, lo), Some(705_032_704));
        assert_eq!(vsa_u32(&r, v, hi), Some(1));
    }
    // Without an allowance nothing of the kind is sent.
    let r = c.auth(3, "PLAIN", Pw::Pap("PLAIN"), None).await;
    assert!(r.is_accept());
    assert!(vsas(&r).is_empty(), "{:?}", vsas(&r));
    // Use 499.9 MB of SMALL: the next login is told the rest.
    let a = Client::new(s.acct_addr).await;
    send(&a, &acct_octets(1, INTERIM, "SMALL", "x1", 60, (400_000_000, 0), (99_900_000, 0))).await;
    let r = c.auth(4, "SMALL", Pw::Pap("SMALL"), None).await;
    assert!(r.is_accept());
    assert_eq!(
        vsa_u32(&r, codec::VENDOR_MIKROTIK, codec::MIKROTIK_TOTAL_LIMIT),
        Some(100_000)
    );
    // The rest used: refused, with its own message; MegabytesLeft is 0.
    send(&a, &acct_octets(2, STOP, "SMALL", "x1", 90, (400_000_000, 0), (100_000_000, 0))).await;
    let r = c.auth(5, "SMALL", Pw::Pap("SMALL"), None).await;
    assert_eq!(r.code, Code::AccessReject);
    assert_eq!(r.reply_message().as_deref(), Some("Data gone"));
    assert_eq!(s.store.find_token("SMALL").await.unwrap().megabytes_left(), Some(0));
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_in_one_batch_charge_each_session_once(b: Backend) {
    // Packets sent together are decided in one batch (PostgreSQL: the
    // set-based path), each as if alone after the ones before it.
    let s = TestServer::start_on(b).await;
    s.token("BURST", 600, |t| t.megabytes_included = Some(100)).await;
    let c = Client::new(s.acct_addr).await;
    let sids: Vec<String> = (0..20).map(|i| format!("burst-{i}")).collect();
    let mut ident = 0u8;
    for round in 1..=3u32 {
        // Round 3 repeats round 2's counters in new datagrams.
        let octets = 1_000_000 * round.min(2);
        for sid in &sids {
            ident = ident.wrapping_add(1);
            c.send(&acct_octets(ident, INTERIM, "BURST", sid, 60 * round.min(2), (octets, 0), (0, 0)))
                .await;
        }
        for _ in &sids {
            assert_eq!(c.recv_any().await.code, Code::AccountingResponse);
        }
    }
    let t = s.store.find_token("BURST").await.unwrap();
    assert_eq!(t.bytes_used, 40_000_000);
    assert_eq!(t.seconds_used, 20 * 120);
    assert_eq!(t.megabytes_left(), Some(60));
    // Each session's newer packet and an older one right behind it, all
    // in flight at once: the older one charges nothing and lowers nothing.
    for sid in &sids {
        for (time, octets) in [(180, 3_000_000), (150, 2_500_000)] {
            ident = ident.wrapping_add(1);
            c.send(&acct_octets(ident, INTERIM, "BURST", sid, time, (octets, 0), (0, 0)))
                .await;
        }
    }
    for _ in 0..2 * sids.len() {
        assert_eq!(c.recv_any().await.code, Code::AccountingResponse);
    }
    let t = s.store.find_token("BURST").await.unwrap();
    assert_eq!((t.bytes_used, t.seconds_used), (60_000_000, 20 * 180));
    assert!(s.sessions("burst-3").await[0].input_octets == 3_000_000);
    s.shutdown().await;
}
}

/// An older database gains the columns (no allowance, nothing used), and
/// the octets its live sessions had already reported are not charged when
/// they go on: only what comes after.
#[tokio::test]
async fn an_older_database_migrates_and_charges_only_new_octets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../migrations/sqlite/0001_init.sql"))
            .unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO access_tokens (unique_id, access_code, code_key, minutes_included,
                 seconds_used, created_on, updated_on)
             VALUES ('67e55044-10b1-426f-9247-bb680e5fe0c8', 'OldCode', 'OLDCODE', 60, 120, 1, 1);
             INSERT INTO sessions (token_id, nas, state, acct_session_id, created_at, updated_at,
                 session_time, input_octets, output_octets)
             VALUES (1, '127.0.0.1', 'active', 's-old', 1, 1, 120, 5000, 7000);",
        )
        .unwrap();
    }
    let url = format!("sqlite://{}", path.display());
    let s = TestServer::start_on_with(Backend::Sqlite, {
        let url = url.clone();
        move |c| c.database.url = url
    })
    .await;
    let t = s.store.find_token("oldcode").await.unwrap();
    assert_eq!(
        (t.megabytes_included, t.bytes_used, t.megabytes_left()),
        (None, 0, None)
    );
    let c = Client::new(s.acct_addr).await;
    send(
        &c,
        &acct_octets(1, INTERIM, "OldCode", "s-old", 180, (6_000, 0), (7_500, 0)),
    )
    .await;
    let t = s.store.find_token("oldcode").await.unwrap();
    assert_eq!((t.seconds_used, t.bytes_used), (180, 1_500));
    s.shutdown().await;
}

both_backends! {
#[tokio::test]
async fn a_batch_counts_a_code_with_no_data_left_as_used_up(b: Backend) {
    let s = TestServer::start_on(b).await;
    let codes = s.batch("Conference", 0, 3, None).await;
    s.exec(&format!(
        "UPDATE access_tokens SET megabytes_included = 1, bytes_used = 1000000, \
         last_access = 1 WHERE id = {}",
        codes[0].id
    ))
    .await;
    s.exec(&format!(
        "UPDATE access_tokens SET megabytes_included = 1, bytes_used = 999999, \
         last_access = 1 WHERE id = {}",
        codes[1].id
    ))
    .await;
    let b = s
        .store
        .batches(None, chrono::Utc::now().timestamp(), 10)
        .await
        .unwrap();
    assert_eq!(
        (b[0].total, b[0].used_up, b[0].in_use, b[0].unused),
        (3, 1, 1, 1)
    );
    s.shutdown().await;
}
}
