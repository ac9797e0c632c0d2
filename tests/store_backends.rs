//! The store's interface (src/store/mod.rs) behaves the same on both
//! backends: every test here runs on a SQLite file in a temporary
//! directory and on a database of the throwaway PostgreSQL
//! (tests/common/pg.rs; skipped loudly without PostgreSQL, required in CI).

mod common;

use radgate::config::DatabaseConfig;
use radgate::store::operators::{hash_password, session_hash, verify_password, NewOperator, Role};
use radgate::store::presets::NewPreset;
use radgate::store::{ImportConflict, ImportToken, OpenMode, Store, StoreError, TokenUpdate};
use radgate::token::{
    CmpOp, FilterValue, NewToken, TokenCond, TokenField, TokenFilter, TokenInput,
};

/// Each backend's store, freshly created: (name, store, keep-alive).
async fn backends() -> Vec<(&'static str, Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = DatabaseConfig {
        url: format!("sqlite://{}", dir.path().join("radgate.db").display()),
        ..DatabaseConfig::default()
    };
    let mut out = vec![(
        "sqlite",
        Store::open(&sqlite, OpenMode::Serve).await.unwrap(),
        Some(dir),
    )];
    if let Some(pg) = common::pg::server() {
        let url = pg.fresh_database().await;
        let cfg = DatabaseConfig {
            url,
            ..DatabaseConfig::default()
        };
        out.push((
            "postgres",
            Store::open(&cfg, OpenMode::Serve).await.unwrap(),
            None,
        ));
    }
    out
}

fn token(code: &str, minutes: i64, f: impl FnOnce(&mut TokenInput)) -> NewToken {
    let mut i = TokenInput {
        access_code: Some(code.into()),
        minutes_included: Some(minutes),
        ..Default::default()
    };
    f(&mut i);
    i.validate(chrono_tz::UTC, 0).unwrap()
}

fn filter(f: impl FnOnce(&mut TokenFilter)) -> TokenFilter {
    let mut t = TokenFilter {
        page: 1,
        size: 100,
        ..Default::default()
    };
    f(&mut t);
    t
}

fn codes(ts: &[radgate::token::AccessToken]) -> Vec<&str> {
    ts.iter().map(|t| t.access_code.as_str()).collect()
}

#[tokio::test]
async fn tokens_are_created_found_listed_changed_and_deleted() {
    for (name, s, _keep) in backends().await {
        let now = 1_800_000_000;
        let a = s
            .create_token(
                &token("Alpha1", 60, |t| t.user_limit = Some(2)),
                now,
                &common::test_actor(),
            )
            .await
            .unwrap();
        assert_eq!(
            (a.access_code.as_str(), a.minutes_included, a.user_limit),
            ("Alpha1", 60, Some(2)),
            "{name}"
        );
        assert_eq!(a.created_on, now, "{name}");
        s.create_token(
            &token("beta2", 30, |t| t.description = Some("lobby".into())),
            now + 1,
            &common::test_actor(),
        )
        .await
        .unwrap();
        s.create_token(
            &token("GAMMA3", 90, |t| t.business_id = Some(3)),
            now + 2,
            &common::test_actor(),
        )
        .await
        .unwrap();
        // Codes are unique per business, whatever their case.
        let e = s
            .create_token(&token("ALPHA1", 5, |_| {}), now, &common::test_actor())
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::DuplicateCode { .. }), "{name}: {e}");
        // Found by code (any case) or Id.
        assert_eq!(s.find_token("alpha1").await.unwrap().id, a.id, "{name}");
        assert_eq!(
            s.find_token(&a.id.to_string()).await.unwrap().id,
            a.id,
            "{name}"
        );
        assert!(
            matches!(s.find_token("nope").await, Err(StoreError::NotFound(_))),
            "{name}"
        );

        // Filters, order, pages.
        let (all, total) = s.list_tokens(&filter(|_| {}), now).await.unwrap();
        assert_eq!(
            (codes(&all), total),
            (vec!["Alpha1", "beta2", "GAMMA3"], 3),
            "{name}"
        );
        let (by_code, _) = s
            .list_tokens(
                &filter(|f| {
                    f.order_by = Some(TokenField::AccessCode);
                    f.descending = true;
                }),
                now,
            )
            .await
            .unwrap();
        assert_eq!(codes(&by_code), ["GAMMA3", "beta2", "Alpha1"], "{name}");
        let (page2, total) = s
            .list_tokens(
                &filter(|f| {
                    f.size = 2;
                    f.page = 2;
                }),
                now,
            )
            .await
            .unwrap();
        assert_eq!((codes(&page2), total), (vec!["GAMMA3"], 3), "{name}");
        let biz3 = s
            .all_tokens(&filter(|f| f.business_id = Some(3)), now)
            .await
            .unwrap();
        assert_eq!(codes(&biz3), ["GAMMA3"], "{name}");
        let long = s
            .all_tokens(
                &filter(|f| {
                    f.conds.push(TokenCond {
                        field: TokenField::MinutesLeft,
                        op: CmpOp::Ge,
                        value: FilterValue::Int(60),
                    })
                }),
                now,
            )
            .await
            .unwrap();
        assert_eq!(codes(&long), ["Alpha1", "GAMMA3"], "{name}");
        let described = s
            .all_tokens(
                &filter(|f| {
                    f.order_by = Some(TokenField::Description);
                }),
                now,
            )
            .await
            .unwrap();
        assert_eq!(
            codes(&described),
            ["Alpha1", "GAMMA3", "beta2"],
            "{name}: empty values first"
        );
        let unused = s
            .all_tokens(&filter(|f| f.unused = true), now)
            .await
            .unwrap();
        assert_eq!(unused.len(), 3, "{name}");

        // Update in one transaction: f sees the stored token.
        let u = s
            .update_token("ALPHA1", now + 10, &common::test_actor(), |cur| {
                let mut t = token(&cur.access_code, cur.minutes_included + 15, |_| {});
                t.updated_by = Some("test".into());
                Ok::<_, StoreError>(TokenUpdate {
                    token: t,
                    reset_usage: false,
                    audit_action: "token.update",
                    reason: None,
                })
            })
            .await
            .unwrap();
        assert_eq!(
            (u.minutes_included, u.updated_on, u.user_limit),
            (75, now + 10, None),
            "{name}"
        );
        let e = s
            .update_token_by_id(a.id, now, &common::test_actor(), |_| {
                Ok::<_, StoreError>(TokenUpdate {
                    token: token("beta2", 1, |_| {}),
                    reset_usage: false,
                    audit_action: "token.update",
                    reason: None,
                })
            })
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::DuplicateCode { .. }), "{name}: {e}");

        // Delete: all named, or none.
        let r = s
            .delete_tokens(&["beta2".into(), "nope".into()], &common::test_actor())
            .await
            .unwrap();
        assert_eq!(r.unwrap_err(), ["nope"], "{name}");
        assert_eq!(
            s.all_tokens(&filter(|_| {}), now).await.unwrap().len(),
            3,
            "{name}"
        );
        let gone = s
            .delete_tokens(&["beta2".into()], &common::test_actor())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(codes(&gone), ["beta2"], "{name}");
        let ids: Vec<i64> = s
            .all_tokens(&filter(|_| {}), now)
            .await
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect();
        let n = s
            .delete_matching(
                &filter(|f| f.business_id = Some(3)),
                &ids,
                now,
                &common::test_actor(),
            )
            .await
            .unwrap();
        assert_eq!(n, 1, "{name}");
        assert_eq!(
            codes(&s.all_tokens(&filter(|_| {}), now).await.unwrap()),
            ["Alpha1"],
            "{name}"
        );
        // Ids are never reused.
        let next = s
            .create_token(&token("DELTA4", 5, |_| {}), now, &common::test_actor())
            .await
            .unwrap();
        assert!(next.id > gone[0].id && next.id > a.id, "{name}");
        s.close().await;
    }
}

#[tokio::test]
async fn generate_and_import_are_all_or_none() {
    for (name, s, _keep) in backends().await {
        let now = 1_800_000_000;
        s.create_token(&token("TAKEN1", 5, |_| {}), now, &common::test_actor())
            .await
            .unwrap();
        // A taken code is drawn again.
        let mut draws = vec!["NEW3", "NEW2", "taken1", "NEW1"];
        let made = s
            .generate_tokens(
                &token("X", 60, |_| {}),
                3,
                now,
                5,
                || draws.pop().unwrap().to_string(),
                |_| {},
                &common::test_actor(),
                "Conference",
            )
            .await
            .unwrap();
        assert_eq!(codes(&made), ["NEW1", "NEW2", "NEW3"], "{name}");
        // Only clashes: the batch fails and nothing stays.
        let e = s
            .generate_tokens(
                &token("X", 60, |_| {}),
                2,
                now,
                3,
                || "TAKEN1".to_string(),
                |_| {},
                &common::test_actor(),
                "Failed",
            )
            .await;
        assert!(e.is_err(), "{name}");
        assert_eq!(
            s.all_tokens(&filter(|_| {}), now).await.unwrap().len(),
            4,
            "{name}"
        );
        // The first made a batch of its three codes; the failed one none.
        let batches = s.batches(None, now, 10).await.unwrap();
        assert_eq!(batches.len(), 1, "{name}");
        assert_eq!(batches[0].batch.name, "Conference", "{name}");
        assert_eq!((batches[0].total, batches[0].unused), (3, 3), "{name}");
        let of_batch = s
            .all_tokens(&filter(|f| f.batch_id = Some(batches[0].batch.id)), now)
            .await
            .unwrap();
        assert_eq!(codes(&of_batch), ["NEW1", "NEW2", "NEW3"], "{name}");
        assert!(
            s.batches(Some(&[7]), now, 10).await.unwrap().is_empty(),
            "{name}"
        );

        let row = |code: &str| ImportToken {
            token: token(code, 60, |_| {}),
            seconds_used: 600,
            ..Default::default()
        };
        let rows = vec![row("IMP1"), row("taken1"), row("IMP2")];
        let r = s
            .import_tokens(&rows, now, false, false, &common::test_actor())
            .await
            .unwrap();
        let bad = r.unwrap_err();
        assert_eq!(bad.len(), 1, "{name}");
        assert_eq!(bad[0].0, 1, "{name}");
        assert!(matches!(bad[0].1, ImportConflict::Code { .. }), "{name}");
        assert_eq!(
            s.all_tokens(&filter(|_| {}), now).await.unwrap().len(),
            4,
            "{name}: none imported"
        );
        let done = s
            .import_tokens(&rows, now, true, true, &common::test_actor())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((done.imported, done.skipped), (2, 1), "{name}: dry run");
        assert_eq!(
            s.all_tokens(&filter(|_| {}), now).await.unwrap().len(),
            4,
            "{name}: dry"
        );
        let done = s
            .import_tokens(&rows, now, false, true, &common::test_actor())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((done.imported, done.skipped), (2, 1), "{name}");
        let imp = s.find_token("imp1").await.unwrap();
        assert_eq!(
            (imp.seconds_used, imp.minutes_left()),
            (600, 50),
            "{name}: usage restored"
        );
        s.close().await;
    }
}

#[tokio::test]
async fn api_keys_are_created_checked_and_revoked_with_their_children() {
    for (name, s, _keep) in backends().await {
        let now = 1_800_000_000;
        let (key, k) = s
            .create_api_key("booking", &["*"], "cli:test", now, &common::test_actor())
            .await
            .unwrap();
        assert!(key.starts_with("rgk_"), "{name}");
        assert_eq!(
            (k.name.as_str(), k.roles.as_slice()),
            ("booking", &["*".to_string()][..]),
            "{name}"
        );
        let e = s
            .create_api_key("booking", &["*"], "cli:test", now, &common::test_actor())
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{name}: {e}");
        let (_, child) = s
            .create_api_key(
                "child",
                &["AccessToken-List"],
                "booking",
                now + 1,
                &common::test_actor(),
            )
            .await
            .unwrap();
        let found = s
            .authenticate_api_key(&key, now + 100)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, k.id, "{name}");
        assert!(
            s.authenticate_api_key("rgk_wrong", now)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        assert_eq!(
            s.api_keys(false).await.unwrap()[1].last_used,
            Some(now + 100),
            "{name}: LastUsed stamped"
        );
        let (revoked, with_it) = s
            .revoke_api_key("booking", now + 200, &common::test_actor())
            .await
            .unwrap();
        assert_eq!(revoked.revoked_on, Some(now + 200), "{name}");
        assert_eq!(
            with_it.iter().map(|c| c.id).collect::<Vec<_>>(),
            [child.id],
            "{name}"
        );
        assert!(s.api_keys(false).await.unwrap().is_empty(), "{name}");
        assert_eq!(s.api_keys(true).await.unwrap().len(), 2, "{name}");
        assert!(
            s.authenticate_api_key(&key, now + 300)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        // The name is free again.
        s.create_api_key("booking", &["*"], "cli:test", now, &common::test_actor())
            .await
            .unwrap();
        s.close().await;
    }
}

/// API keys limited to businesses: stored and read back with their
/// businesses; a scoped delete removes only a code of those businesses
/// (checked as it deletes).
#[tokio::test]
async fn keys_and_deletes_limited_to_businesses() {
    let now = chrono::Utc::now().timestamp();
    for (name, s, _dir) in backends().await {
        let (key, made) = s
            .create_scoped_api_key(
                "hotel",
                &["*"],
                &[3, 4],
                "cli:t",
                now,
                &common::test_actor(),
            )
            .await
            .unwrap();
        assert_eq!(made.businesses, [3, 4], "{name}");
        let k = s.authenticate_api_key(&key, now).await.unwrap().unwrap();
        assert_eq!(k.businesses, [3, 4], "{name}");
        assert!(k.sees(4) && !k.sees(5), "{name}");
        let (_, all) = s
            .create_api_key("all", &["*"], "cli:t", now, &common::test_actor())
            .await
            .unwrap();
        assert!(all.businesses.is_empty(), "{name}");

        let t5 = s
            .create_token(
                &token("FIVE", 60, |t| t.business_id = Some(5)),
                now,
                &common::test_actor(),
            )
            .await
            .unwrap();
        assert!(
            !s.delete_token_in(t5.id, Some(&[3, 4]), &common::test_actor())
                .await
                .unwrap(),
            "{name}: another business's code is not deleted"
        );
        assert!(s.token_by_id(t5.id).await.unwrap().is_some(), "{name}");
        assert!(s
            .delete_token_in(t5.id, Some(&[5]), &common::test_actor())
            .await
            .unwrap());
        assert!(s.token_by_id(t5.id).await.unwrap().is_none(), "{name}");
    }
}

/// The CLI never migrates: a database of this version's schema opens, an
/// empty one is set up only by commands that create.
#[tokio::test]
async fn only_serve_migrates() {
    let Some(pg) = common::pg::server() else {
        return;
    };
    let cfg = DatabaseConfig {
        url: pg.fresh_database().await,
        ..DatabaseConfig::default()
    };
    let e = Store::open(&cfg, OpenMode::Existing).await.err().unwrap();
    assert!(matches!(e, StoreError::NoSchema(_)), "{e}");
    let s = Store::open(&cfg, OpenMode::Create).await.unwrap();
    s.close().await;
    Store::open(&cfg, OpenMode::Existing)
        .await
        .unwrap()
        .close()
        .await;
    // Two nodes starting at once migrate one after the other.
    let cfg2 = DatabaseConfig {
        url: pg.fresh_database().await,
        ..DatabaseConfig::default()
    };
    let (a, b) = tokio::join!(
        Store::open(&cfg2, OpenMode::Serve),
        Store::open(&cfg2, OpenMode::Serve)
    );
    a.unwrap();
    b.unwrap();
    // An unreachable server is named.
    let cfg3 = DatabaseConfig {
        url: "postgres://radgate@/radgate?host=/nonexistent-radgate-socket-dir".into(),
        ..DatabaseConfig::default()
    };
    let e = Store::open(&cfg3, OpenMode::Existing)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("/nonexistent-radgate-socket-dir"), "{e}");
}

/// `radgate db copy`: SQLite to PostgreSQL and back, everything kept (ids,
/// usage, sessions, API keys that still authenticate, operators who still
/// sign in with their passwords, presets, batches with their codes, the
/// audit log as it was, the ids' high-water mark), into an empty database
/// only; web sign-ins stay behind.
#[tokio::test]
async fn a_database_is_copied_whole_between_backends() {
    let Some(pg) = common::pg::server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = |name: &str| DatabaseConfig {
        url: format!("sqlite://{}", dir.path().join(name).display()),
        ..DatabaseConfig::default()
    };
    let src = Store::open(&sqlite("a.db"), OpenMode::Serve).await.unwrap();
    let now = 1_800_000_000;
    for i in 0..12 {
        src.create_token(
            &token(&format!("COPY{i:02}"), 60, |t| {
                t.user_limit = Some(2);
                t.guest_name = Some(format!("Guest {i}"));
                t.rate_limit = Some("2M/5M".into());
                t.megabytes_included = (i % 2 == 0).then_some(100 + i);
            }),
            now,
            &common::test_actor(),
        )
        .await
        .unwrap();
    }
    // A deleted code: its id is never given again, on the copy either.
    let gone = src
        .create_token(&token("GONE", 5, |_| {}), now, &common::test_actor())
        .await
        .unwrap();
    src.delete_token(gone.id, &common::test_actor())
        .await
        .unwrap();
    let (key, _) = src
        .create_api_key("booking", &["*"], "cli:t", now, &common::test_actor())
        .await
        .unwrap();
    src.revoke_api_key("booking", now + 1, &common::test_actor())
        .await
        .unwrap();
    // The live key is limited to businesses: the copy keeps them.
    let (key2, _) = src
        .create_scoped_api_key(
            "booking",
            &["AccessToken-List"],
            &[3, 7],
            "cli:t",
            now + 2,
            &common::test_actor(),
        )
        .await
        .unwrap();
    // Operators (one disabled, one limited to businesses) and a sign-in.
    let ops = [
        ("anna", Role::Admin, vec![]),
        ("desk1", Role::Desk, vec![3, 7]),
    ];
    for (name, role, businesses) in &ops {
        src.create_operator(
            &NewOperator {
                name: name.to_string(),
                role: *role,
                businesses: businesses.clone(),
                password_hash: hash_password(&format!("{name} long passphrase")).unwrap(),
            },
            "cli:t",
            now,
            &common::test_actor(),
        )
        .await
        .unwrap();
    }
    src.update_operator(
        "desk1",
        Role::Desk,
        &[3, 7],
        true,
        now + 3,
        &common::test_actor(),
    )
    .await
    .unwrap();
    let anna = src.operator_password("anna").await.unwrap().unwrap().0;
    src.create_web_session(&session_hash("cookie"), anna.id, now)
        .await
        .unwrap();
    src.create_preset(
        &NewPreset {
            name: "Day pass".into(),
            business_id: 3,
            minutes_included: 480,
            valid_for_minutes: Some(1440),
            user_limit: Some(1),
            single_use: true,
            megabytes_included: Some(5000),
        },
        now,
        &common::test_actor(),
    )
    .await
    .unwrap();
    // Two batches: one of three codes, and one whose only code is deleted
    // (its id is never given again either).
    let mut draws = vec!["BATCH3", "BATCH2", "BATCH1"];
    let batch = src
        .generate_tokens(
            &token("X", 60, |_| {}),
            3,
            now,
            5,
            || draws.pop().unwrap().to_string(),
            |_| {},
            &common::test_actor(),
            "Conference",
        )
        .await
        .unwrap();
    let lone = src
        .generate_tokens(
            &token("X", 60, |_| {}),
            1,
            now,
            5,
            || "LONE".to_string(),
            |_| {},
            &common::test_actor(),
            "Gone",
        )
        .await
        .unwrap();
    src.delete_token(lone[0].id, &common::test_actor())
        .await
        .unwrap();
    let batches = src.batches(None, now, 100).await.unwrap();
    assert_eq!(batches.len(), 1);
    let batch_id = batches[0].batch.id;
    assert_eq!(batches[0].total, 3);
    let audit = radgate::store::audit::Filter {
        limit: 10_000,
        ..Default::default()
    };
    let audited = src.audit_log(&audit).await.unwrap();
    assert!(audited.len() >= 10, "{}", audited.len());
    // Sessions, through the real writer.
    let s = common::TestServer::start_on_with(common::Backend::Sqlite, {
        let url = sqlite("a.db").url;
        move |c| c.database.url = url
    })
    .await;
    let c = common::Client::new(s.acct_addr).await;
    for (i, code) in ["COPY01", "COPY02"].iter().enumerate() {
        let pkt = |st, t| common::Acct {
            status: st,
            user: code,
            session_id: if i == 0 { "cs-1" } else { "cs-2" },
            session_time: Some(t),
            mac: Some("02:00:00:00:00:0a"),
            input_octets: Some(t * 1_000),
            ..Default::default()
        };
        c.acct(1 + 2 * i as u8, &pkt(common::START, 0)).await;
        c.acct(2 + 2 * i as u8, &pkt(common::INTERIM, 300 * (i as u32 + 1)))
            .await;
    }
    s.shutdown().await;

    let pg_cfg = DatabaseConfig {
        url: pg.fresh_database().await,
        ..DatabaseConfig::default()
    };
    let mid = Store::open(&pg_cfg, OpenMode::Create).await.unwrap();
    let n = src.copy_to(&mid).await.unwrap();
    assert_eq!((n.tokens, n.sessions, n.api_keys), (15, 2, 2));
    assert_eq!((n.operators, n.presets, n.batches), (2, 1, 2));
    assert_eq!(
        n.audit_records,
        audited.len() as u64,
        "no record of its own"
    );
    // Into a database that holds anything: refused, nothing written.
    let e = src.copy_to(&mid).await.unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "not empty (15 token(s), 2 batch(es), 2 session(s), 2 API key(s), 2 operator(s), \
             1 preset(s) and {} audit record(s))",
            audited.len()
        )),
        "{e}"
    );

    let back = Store::open(&sqlite("b.db"), OpenMode::Create)
        .await
        .unwrap();
    mid.copy_to(&back).await.unwrap();
    let all = |f: TokenFilter| f;
    for st in [&mid, &back] {
        let a = src.all_tokens(&all(filter(|_| {})), now).await.unwrap();
        let b = st.all_tokens(&all(filter(|_| {})), now).await.unwrap();
        assert_eq!(a, b, "every field of every token");
        let t = st.find_token("copy02").await.unwrap();
        assert_eq!((t.seconds_used, t.bytes_used), (600, 600_000));
        assert_eq!(t.megabytes_included, Some(102), "the data allowance too");
        let sessions = |s: &Store| {
            let s = s.clone();
            async move {
                s.list_sessions(
                    &radgate::store::SessionFilter {
                        limit: 100,
                        ..Default::default()
                    },
                    now,
                )
                .await
                .unwrap()
            }
        };
        assert_eq!(sessions(&src).await, sessions(st).await);
        assert_eq!(
            src.api_keys(true).await.unwrap(),
            st.api_keys(true).await.unwrap(),
            "every field of every key (before one is used)"
        );
        assert!(
            st.authenticate_api_key(&key, now).await.unwrap().is_none(),
            "revoked"
        );
        let k2 = st.authenticate_api_key(&key2, now).await.unwrap();
        assert_eq!(
            k2.map(|k| k.businesses),
            Some(vec![3, 7]),
            "still works, limited to its businesses"
        );
        // Operators: every field, the password hash (they still sign in),
        // but not their sign-ins.
        assert_eq!(
            src.operators().await.unwrap(),
            st.operators().await.unwrap()
        );
        for (name, _, _) in &ops {
            let (a, hash) = src.operator_password(name).await.unwrap().unwrap();
            let (b, copied) = st.operator_password(name).await.unwrap().unwrap();
            assert_eq!((a, &hash), (b, &copied));
            assert!(verify_password(&format!("{name} long passphrase"), &copied));
        }
        assert!(st.operators().await.unwrap()[1].disabled_on.is_some());
        assert!(st
            .web_session(&session_hash("cookie"))
            .await
            .unwrap()
            .is_none());
        assert_eq!(src.presets().await.unwrap(), st.presets().await.unwrap());
        // The batch and its codes.
        assert_eq!(
            src.batches(None, now, 100).await.unwrap(),
            st.batches(None, now, 100).await.unwrap()
        );
        let in_batch = st
            .all_tokens(&filter(|f| f.batch_id = Some(batch_id)), now)
            .await
            .unwrap();
        assert_eq!(codes(&in_batch), codes(&batch));
        // The audit log as it was: ids, times, actors, before and after.
        assert_eq!(audited, st.audit_log(&audit).await.unwrap());

        // What is made after the copy gets ids above the copied ones.
        let next = st
            .create_token(&token("AFTER", 5, |_| {}), now, &common::test_actor())
            .await
            .unwrap();
        assert!(next.id > lone[0].id, "{} after {}", next.id, lone[0].id);
        let (_, next_key) = st
            .create_api_key("after", &["*"], "cli:t", now, &common::test_actor())
            .await
            .unwrap();
        assert!(next_key.id > 2, "{}", next_key.id);
        let op = st
            .create_operator(
                &NewOperator {
                    name: "after".into(),
                    role: Role::Manager,
                    businesses: vec![],
                    password_hash: hash_password("after long passphrase").unwrap(),
                },
                "cli:t",
                now + 10,
                &common::test_actor(),
            )
            .await
            .unwrap();
        assert!(op.id > 2, "{}", op.id);
        let preset = st
            .create_preset(
                &NewPreset {
                    name: "After".into(),
                    business_id: 0,
                    minutes_included: 60,
                    valid_for_minutes: None,
                    user_limit: None,
                    single_use: false,
                    megabytes_included: None,
                },
                now + 10,
                &common::test_actor(),
            )
            .await
            .unwrap();
        let first_preset = src.presets().await.unwrap()[0].id;
        assert!(preset.id > first_preset, "{}", preset.id);
        let made = st
            .generate_tokens(
                &token("X", 60, |_| {}),
                1,
                now,
                5,
                || "AFTERGEN".to_string(),
                |_| {},
                &common::test_actor(),
                "After",
            )
            .await
            .unwrap();
        let newest = st.batches(None, now, 1).await.unwrap();
        assert_eq!(newest[0].batch.name, "After");
        assert_eq!(codes(&made), ["AFTERGEN"]);
        // Above the batch "Gone" too (its codes deleted, no longer listed).
        assert!(newest[0].batch.id > batch_id + 1, "{}", newest[0].batch.id);
        let records = st.audit_log(&audit).await.unwrap();
        let max_copied = audited.iter().map(|r| r.id).max().unwrap();
        assert!(
            records[0].id > max_copied,
            "{} after {max_copied}",
            records[0].id
        );
        assert_eq!(records.len(), audited.len() + 5);
    }
}
