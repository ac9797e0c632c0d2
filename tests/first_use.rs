//! Validity measured from the first login (`ValidForMinutes`, CLI
//! `--valid-for`) and single-use codes (`SingleUse`), enforced by the
//! server: real UDP, real SQLite files.

mod common;

use std::time::Duration;

use common::*;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

const MAC1: &str = "02:00:00:00:00:01";
const MAC2: &str = "02:00:00:00:00:02";

fn pkt<'a>(status: u32, user: &'a str, sid: &'a str, t: Option<u32>) -> Acct<'a> {
    Acct {
        status,
        user,
        session_id: sid,
        session_time: t,
        mac: Some(MAC1),
        ..Default::default()
    }
}

async fn token_row(s: &TestServer, code: &str) -> radgate::token::AccessToken {
    s.flush().await;
    s.store.find_token(code).await.unwrap()
}

both_backends! {
#[tokio::test]
async fn window_starts_at_the_first_login_and_ends_valid_for_later(b: Backend) {
    let s = TestServer::start_on(b).await;
    // 10 hours of minutes, but valid for 1 hour from the first login.
    s.token("DAYPASS", 600, |t| t.valid_for = Some("1h".into()))
        .await;
    let before = token_row(&s, "DAYPASS").await;
    assert_eq!(before.valid_for_minutes, Some(60));
    assert_eq!(before.first_used_on, None);
    assert_eq!(before.expires_on(), None, "the window has not started");

    let auth = Client::new(s.addr).await;
    let t0 = now();
    let r = auth
        .auth(1, "DAYPASS", Pw::Pap("DAYPASS"), Some(MAC1))
        .await;
    assert!(r.is_accept(), "{r:?}");
    // Session-Timeout is capped by the window, not by the 10 hours.
    let st = r.session_timeout().unwrap();
    assert!((3599..=3600).contains(&st), "Session-Timeout {st}");

    let after = token_row(&s, "DAYPASS").await;
    let first = after.first_used_on.expect("FirstUsedOn set by the Accept");
    assert!((t0..=now()).contains(&first));
    assert_eq!(after.expires_on(), Some(first + 3600));
    assert_eq!(after.valid_to, None, "ValidTo as the admin set it");

    // Half an hour later (moved in the database): half an hour left.
    s.exec(
        "UPDATE access_tokens SET first_used_on = first_used_on - 1800 WHERE code_key = 'DAYPASS'",
    )
    .await;
    let r = auth
        .auth(2, "DAYPASS", Pw::Pap("DAYPASS"), Some(MAC1))
        .await;
    assert!(r.is_accept());
    let st = r.session_timeout().unwrap();
    assert!((1795..=1800).contains(&st), "Session-Timeout {st}");

    // An hour after the first login: expired, with the expired message.
    s.exec(
        "UPDATE access_tokens SET first_used_on = first_used_on - 1800 WHERE code_key = 'DAYPASS'",
    )
    .await;
    let r = auth
        .auth(3, "DAYPASS", Pw::Pap("DAYPASS"), Some(MAC1))
        .await;
    assert!(!r.is_accept());
    assert_eq!(
        r.reply_message().as_deref(),
        Some("This access code has expired")
    );
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn valid_to_still_ends_the_window_when_it_comes_first(b: Backend) {
    let s = TestServer::start_on(b).await;
    let in_10_min = chrono::Utc::now() + chrono::Duration::minutes(10);
    s.token("SHORT", 600, |t| {
        t.valid_for = Some("24h".into());
        t.valid_to = Some(in_10_min.to_rfc3339());
    })
    .await;
    let auth = Client::new(s.addr).await;
    let r = auth.auth(1, "SHORT", Pw::Pap("SHORT"), Some(MAC1)).await;
    assert!(r.is_accept());
    let st = r.session_timeout().unwrap();
    assert!((590..=600).contains(&st), "Session-Timeout {st}");
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn first_use_is_recorded_for_every_code_and_later_logins_keep_it(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("PLAIN", 60, |_| {}).await;
    let auth = Client::new(s.addr).await;
    // A refused login is not a use.
    assert!(!auth
        .auth(1, "PLAIN", Pw::Pap("WRONG"), Some(MAC1))
        .await
        .is_accept());
    assert_eq!(token_row(&s, "PLAIN").await.first_used_on, None);
    assert!(auth
        .auth(2, "PLAIN", Pw::Pap("PLAIN"), Some(MAC1))
        .await
        .is_accept());
    let first = token_row(&s, "PLAIN").await.first_used_on.unwrap();
    s.exec("UPDATE access_tokens SET first_used_on = first_used_on - 100, last_access = NULL")
        .await;
    assert!(auth
        .auth(3, "PLAIN", Pw::Pap("PLAIN"), Some(MAC1))
        .await
        .is_accept());
    assert_eq!(
        token_row(&s, "PLAIN").await.first_used_on,
        Some(first - 100),
        "later logins do not move FirstUsedOn"
    );
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn single_use_code_is_dead_after_its_first_session_ends(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("ONCE", 600, |t| t.single_use = Some(true)).await;
    let auth = Client::new(s.addr).await;
    let acct = Client::new(s.acct_addr).await;
    assert!(auth
        .auth(1, "ONCE", Pw::Pap("ONCE"), Some(MAC1))
        .await
        .is_accept());
    acct.acct(1, &pkt(START, "ONCE", "once-1", Some(0))).await;
    acct.acct(2, &pkt(INTERIM, "ONCE", "once-1", Some(300)))
        .await;
    // During the session the guest may log in again (the NAS re-authenticates).
    assert!(auth
        .auth(2, "ONCE", Pw::Pap("ONCE"), Some(MAC1))
        .await
        .is_accept());
    assert_eq!(token_row(&s, "ONCE").await.spent_on, None);

    let t0 = now();
    acct.acct(3, &pkt(STOP, "ONCE", "once-1", Some(600))).await;
    let t = token_row(&s, "ONCE").await;
    let spent = t.spent_on.expect("SpentOn set by the Stop");
    assert!(spent >= t0);
    assert_eq!(t.seconds_used, 600);
    assert_eq!(
        t.minutes_left(),
        590,
        "minutes remain, but the code is spent"
    );

    for (i, mac) in [(4, MAC1), (5, MAC2)] {
        let r = auth.auth(i, "ONCE", Pw::Pap("ONCE"), Some(mac)).await;
        assert!(!r.is_accept());
        assert_eq!(
            r.reply_message().as_deref(),
            Some("This access code has already been used")
        );
    }
    // A retransmitted Stop does not move SpentOn.
    s.exec("UPDATE access_tokens SET spent_on = spent_on - 50 WHERE code_key = 'ONCE'")
        .await;
    acct.acct(6, &pkt(STOP, "ONCE", "once-1", Some(600))).await;
    assert_eq!(token_row(&s, "ONCE").await.spent_on, Some(spent - 50));
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn a_stop_does_not_spend_a_code_that_is_not_single_use(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("MANY", 600, |_| {}).await;
    let auth = Client::new(s.addr).await;
    let acct = Client::new(s.acct_addr).await;
    acct.acct(1, &pkt(START, "MANY", "m-1", Some(0))).await;
    acct.acct(2, &pkt(STOP, "MANY", "m-1", Some(60))).await;
    assert_eq!(token_row(&s, "MANY").await.spent_on, None);
    assert!(auth
        .auth(1, "MANY", Pw::Pap("MANY"), Some(MAC1))
        .await
        .is_accept());
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn nas_restart_does_not_spend_but_a_stale_session_does(b: Backend) {
    let s = TestServer::start_on_with(b, |c| {
        c.accounting.stale_after = Duration::from_secs(60);
        c.accounting.sweep_interval = Duration::from_millis(50);
    })
    .await;
    s.token("REBOOT1", 600, |t| t.single_use = Some(true)).await;
    s.token("SILENT1", 600, |t| t.single_use = Some(true)).await;
    let auth = Client::new(s.addr).await;
    let acct = Client::new(s.acct_addr).await;

    // The router reboots (Accounting-On): the guest did not end the session
    // and may log in again.
    acct.acct(1, &pkt(START, "REBOOT1", "rb-1", Some(0))).await;
    acct.acct(
        2,
        &Acct {
            status: ACCOUNTING_ON,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(token_row(&s, "REBOOT1").await.spent_on, None);
    assert!(auth
        .auth(1, "REBOOT1", Pw::Pap("REBOOT1"), Some(MAC1))
        .await
        .is_accept());

    // A session that went silent is closed by the sweep and spends the code.
    acct.acct(3, &pkt(START, "SILENT1", "sl-1", Some(0))).await;
    s.exec("UPDATE sessions SET updated_at = updated_at - 120 WHERE acct_session_id = 'sl-1'")
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if token_row(&s, "SILENT1").await.spent_on.is_some() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sweep did not spend the single-use code"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = auth
        .auth(2, "SILENT1", Pw::Pap("SILENT1"), Some(MAC1))
        .await;
    assert_eq!(
        r.reply_message().as_deref(),
        Some("This access code has already been used")
    );
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn reset_usage_gives_a_spent_single_use_code_a_new_life(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("AGAIN", 600, |t| {
        t.single_use = Some(true);
        t.valid_for = Some("30m".into());
    })
    .await;
    let auth = Client::new(s.addr).await;
    let acct = Client::new(s.acct_addr).await;
    assert!(auth
        .auth(1, "AGAIN", Pw::Pap("AGAIN"), Some(MAC1))
        .await
        .is_accept());
    acct.acct(1, &pkt(START, "AGAIN", "a-1", Some(0))).await;
    acct.acct(2, &pkt(STOP, "AGAIN", "a-1", Some(60))).await;
    assert!(!auth
        .auth(2, "AGAIN", Pw::Pap("AGAIN"), Some(MAC1))
        .await
        .is_accept());
    s.flush().await;
    let t = s
        .store
        .update_token("AGAIN", now(), &common::test_actor(), |cur| {
            Ok::<_, radgate::store::StoreError>(radgate::store::TokenUpdate {
                token: radgate::token::TokenInput {
                    access_code: Some(cur.access_code.clone()),
                    minutes_included: Some(cur.minutes_included),
                    valid_for: cur.valid_for_minutes.map(|m| m.to_string()),
                    single_use: Some(cur.single_use),
                    ..Default::default()
                }
                .validate(chrono_tz::UTC, 0)
                .unwrap(),
                reset_usage: true,
                audit_action: "token.update",
                reason: None,
            })
        })
        .await
        .unwrap();
    assert_eq!(
        (t.seconds_used, t.first_used_on, t.spent_on),
        (0, None, None)
    );
    let r = auth.auth(3, "AGAIN", Pw::Pap("AGAIN"), Some(MAC1)).await;
    assert!(r.is_accept());
    assert!(r.session_timeout().unwrap() <= 1800);
    s.shutdown().await;
}
}

#[tokio::test]
async fn a_version_1_database_is_migrated_and_keeps_its_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("radgate.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../migrations/sqlite/0001_init.sql"))
            .unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO access_tokens (unique_id, access_code, code_key, minutes_included,
                 seconds_used, created_on, updated_on)
             VALUES ('67e55044-10b1-426f-9247-bb680e5fe0c8', 'OldCode', 'OLDCODE', 60, 120, 1, 1);
             INSERT INTO sessions (token_id, nas, state, acct_session_id, created_at, updated_at)
             VALUES (1, '192.0.2.1', 'active', 's-old', 1, 1);",
        )
        .unwrap();
    }
    let mut cfg = radgate::config::Config::builtin_default();
    cfg.database.url = format!("sqlite://{}", path.display());
    let store = radgate::store::Store::open(&cfg.database, radgate::store::OpenMode::Serve)
        .await
        .unwrap();
    let t = store.find_token("oldcode").await.unwrap();
    assert_eq!(t.minutes_left(), 58);
    assert_eq!(
        (
            t.valid_for_minutes,
            t.single_use,
            t.first_used_on,
            t.spent_on
        ),
        (None, false, None, None)
    );
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(store.as_sqlite().expect("a SQLite store").pool())
        .await
        .unwrap();
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count() as i64;
    assert_eq!(version, migrations, "every migration ran");
    // The rebuilt token table kept its sessions (no cascade while migrating).
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE token_id = 1")
        .fetch_one(store.as_sqlite().expect("a SQLite store").pool())
        .await
        .unwrap();
    assert_eq!(sessions, 1);
    // The rebuilt sessions table (0007) kept the row and still checks its state.
    let (state, sid): (String, String) =
        sqlx::query_as("SELECT state, acct_session_id FROM sessions WHERE token_id = 1")
            .fetch_one(store.as_sqlite().expect("a SQLite store").pool())
            .await
            .unwrap();
    assert_eq!((state.as_str(), sid.as_str()), ("active", "s-old"));
    let bad = sqlx::query(
        "INSERT INTO sessions (token_id, nas, state, created_at, updated_at) \
         VALUES (1, '192.0.2.1', 'bogus', 1, 1)",
    )
    .execute(store.as_sqlite().expect("a SQLite store").pool())
    .await;
    assert!(bad.is_err(), "state 'bogus' was accepted");
    // Ids are never reused after a delete (the API hands them out).
    let input = radgate::token::TokenInput {
        access_code: Some("NEWER".into()),
        minutes_included: Some(5),
        ..Default::default()
    };
    let a = store
        .create_token(
            &input.validate(chrono_tz::UTC, 0).unwrap(),
            1,
            &common::test_actor(),
        )
        .await
        .unwrap();
    assert!(store
        .delete_token(a.id, &common::test_actor())
        .await
        .unwrap());
    let b = store
        .create_token(
            &input.validate(chrono_tz::UTC, 0).unwrap(),
            1,
            &common::test_actor(),
        )
        .await
        .unwrap();
    assert!(b.id > a.id, "Id {} reused", a.id);
}

both_backends! {
#[tokio::test]
async fn a_session_the_nas_or_an_admin_ended_does_not_spend_the_code(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("KICKED", 600, |t| t.single_use = Some(true)).await;
    let auth = Client::new(s.addr).await;
    let acct = Client::new(s.acct_addr).await;
    // Admin-Reset (6: also what a Disconnect-Request causes), NAS-Reboot (11).
    for (i, cause) in [(1u8, 6u32), (2, 11)] {
        let sid = format!("k-{cause}");
        acct.acct(i * 2, &pkt(START, "KICKED", &sid, Some(0))).await;
        acct.acct(
            i * 2 + 1,
            &Acct {
                terminate_cause: Some(cause),
                ..pkt(STOP, "KICKED", &sid, Some(60))
            },
        )
        .await;
        assert_eq!(
            token_row(&s, "KICKED").await.spent_on,
            None,
            "cause {cause}"
        );
        assert!(auth
            .auth(i, "KICKED", Pw::Pap("KICKED"), Some(MAC1))
            .await
            .is_accept());
    }
    // The guest's own end (Idle-Timeout, 4) spends it.
    acct.acct(10, &pkt(START, "KICKED", "k-4", Some(0))).await;
    acct.acct(
        11,
        &Acct {
            terminate_cause: Some(4),
            ..pkt(STOP, "KICKED", "k-4", Some(60))
        },
    )
    .await;
    assert!(token_row(&s, "KICKED").await.spent_on.is_some());
    assert!(!auth
        .auth(9, "KICKED", Pw::Pap("KICKED"), Some(MAC1))
        .await
        .is_accept());
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn a_code_that_is_no_longer_single_use_is_not_spent(b: Backend) {
    let s = TestServer::start_on(b).await;
    s.token("WASONCE", 600, |t| t.single_use = Some(true)).await;
    let auth = Client::new(s.addr).await;
    let acct = Client::new(s.acct_addr).await;
    acct.acct(1, &pkt(START, "WASONCE", "w-1", Some(0))).await;
    acct.acct(2, &pkt(STOP, "WASONCE", "w-1", Some(60))).await;
    assert!(!auth
        .auth(1, "WASONCE", Pw::Pap("WASONCE"), Some(MAC1))
        .await
        .is_accept());
    // SpentOn left in place by hand (as an import or an older version could):
    // without SingleUse it does not count.
    s.exec("UPDATE access_tokens SET single_use = FALSE WHERE code_key = 'WASONCE'")
        .await;
    assert!(auth
        .auth(2, "WASONCE", Pw::Pap("WASONCE"), Some(MAC1))
        .await
        .is_accept());
    let f = radgate::token::TokenFilter {
        spent: true,
        page: 1,
        size: 10,
        ..Default::default()
    };
    assert_eq!(s.store.list_tokens(&f, now()).await.unwrap().1, 0);
    // And switching SingleUse off through an update clears SpentOn.
    s.exec("UPDATE access_tokens SET single_use = TRUE WHERE code_key = 'WASONCE'")
        .await;
    let t = s
        .store
        .update_token("WASONCE", now(), &common::test_actor(), |cur| {
            Ok::<_, radgate::store::StoreError>(radgate::store::TokenUpdate {
                token: radgate::token::TokenInput {
                    access_code: Some(cur.access_code.clone()),
                    minutes_included: Some(cur.minutes_included),
                    single_use: Some(false),
                    ..Default::default()
                }
                .validate(chrono_tz::UTC, 0)
                .unwrap(),
                reset_usage: false,
                audit_action: "token.update",
                reason: None,
            })
        })
        .await
        .unwrap();
    assert_eq!((t.single_use, t.spent_on), (false, None));
    s.shutdown().await;
}
}
