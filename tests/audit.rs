//! The audit log (SPEC §10): every change through the CLI, the API or the
//! web UI is recorded with who, when, what, before and after — in the same
//! transaction as the change (a refused change leaves no record) — and
//! shown by `radgate audit list` and the UI's `/audit`. On both backends.

mod common;

use serde_json::Value;

fn records(e: &common::cli_env::Env, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["audit", "list", "--format", "json"];
    all.extend_from_slice(args);
    let out = e.ok(&all);
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

cli_both_backends! {
fn cli_changes_are_recorded_with_before_and_after(b: Backend) {
    let e = common::cli_env::Env::on(b);
    e.ok(&["token", "create", "--code", "WELCOME1", "--minutes", "60"]);
    e.ok(&["token", "create", "--code", "OTHER2", "--minutes", "30", "--business-id", "3"]);
    e.ok(&["token", "update", "WELCOME1", "--minutes", "90"]);
    // Refused (the code exists): no record.
    let o = e.run(&["token", "update", "WELCOME1", "--code", "OTHER2", "--business-id", "3"]);
    assert!(!o.status.success());
    e.ok(&["token", "generate", "--count", "3", "--minutes", "10"]);
    e.ok(&["token", "delete", "WELCOME1", "--yes"]);
    let o = e.run_with(
        &["operator", "add", "anna", "--role", "manager", "--password-stdin"],
        b"correct horse battery\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    e.ok(&["apikey", "create", "--name", "booking", "--role", "*"]);
    e.ok(&["apikey", "revoke", "booking"]);
    let all = records(&e, &[]);
    let actions: Vec<&str> = all.iter().map(|r| r["Action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "apikey.revoke",
            "apikey.create",
            "operator.add",
            "token.delete",
            "token.generate",
            "token.update",
            "token.create",
            "token.create"
        ],
        "newest first, the refused update absent"
    );
    for r in &all {
        assert!(r["Actor"].as_str().unwrap().starts_with("cli"), "{r}");
        assert!(r["At"].as_str().unwrap().ends_with('Z'));
    }
    let update = &all[5];
    assert_eq!(update["Target"].as_str().unwrap().split(' ').next(), Some("WELCOME1"));
    assert_eq!(update["Before"]["MinutesIncluded"], 60);
    assert_eq!(update["After"]["MinutesIncluded"], 90);
    let deleted = &all[3];
    assert_eq!(deleted["Before"]["AccessCode"], "WELCOME1");
    assert!(deleted["After"].is_null());
    assert_eq!(all[4]["After"].as_array().unwrap().len(), 3, "the generated codes");
    assert!(!all[2].to_string().contains("argon2"), "no password hash");
    assert!(!all[1].to_string().contains("rgk_") || all[1]["After"]["Display"].as_str().unwrap().contains('…'),
        "only the key's display form");
    // Filters: target, action family, actor kind, business.
    let w = records(&e, &["--target", "welcome1"]);
    assert_eq!(w.len(), 3, "create, update, delete of WELCOME1");
    assert_eq!(records(&e, &["--action", "token."]).len(), 5);
    assert_eq!(records(&e, &["--action", "token.delete"]).len(), 1);
    assert_eq!(records(&e, &["--actor", "api:"]).len(), 0);
    let biz = records(&e, &["--business", "3"]);
    assert_eq!(biz.len(), 1);
    assert_eq!(biz[0]["Target"].as_str().unwrap().split(' ').next(), Some("OTHER2"));
    assert_eq!(records(&e, &["--since", "2099-01-01"]).len(), 0);
    let table = e.ok(&["audit", "list", "--target", "WELCOME1"]);
    assert!(table.contains("MinutesIncluded 60 → 90"), "{table}");
    let csv = e.ok(&["audit", "list", "--format", "csv", "--limit", "1"]);
    assert!(csv.starts_with("Id,At,Actor,Action,Target,BusinessId,Before,After"));
    let o = e.run(&["audit", "list", "--since", "yesterday-ish"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--since: "));
}
}

both_backends! {
/// Changes through the API are recorded as `api:<key>`; the UI's audit
/// page is for managers and admins, limited to their businesses.
#[tokio::test]
async fn api_changes_are_recorded_and_the_ui_shows_them_by_role(b: Backend) {
    use common::http::{page, request};
    use radgate::store::operators::Role;
    let s = common::TestServer::start_on_with(b, |c| {
        c.api.listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let addr = s.api_addr.unwrap();
    let (key, _) = s
        .store
        .create_api_key("booking", &["*"], "test", chrono::Utc::now().timestamp(), &common::test_actor())
        .await
        .unwrap();
    let r = request(
        addr,
        "POST",
        "/api/spaces/accesstokens",
        Some(&key),
        Some(r#"{"BusinessId": 3, "AccessCode": "API1", "MinutesIncluded": 45}"#),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    s.token("OTHER9", 10, |_| {}).await;
    for (name, role, businesses) in [
        ("desk", Role::Desk, vec![]),
        ("boss", Role::Manager, vec![]),
        ("boss3", Role::Manager, vec![3]),
    ] {
        s.operator(name, role, businesses).await;
    }
    let all = s
        .store
        .audit_log(&radgate::store::audit::Filter { limit: 100, ..Default::default() })
        .await
        .unwrap();
    let api = all.iter().find(|r| r.target.starts_with("API1")).unwrap();
    assert_eq!(api.actor, "api:booking");
    assert_eq!(api.action, "token.create");
    assert_eq!(api.business_id, Some(3));
    let sign_in = |name: &'static str| async move {
        let r = page(
            addr,
            "POST",
            "/login",
            None,
            &[],
            Some(&[("username", name), ("password", "correct horse battery")]),
        )
        .await;
        common::http::session_cookie(&r).unwrap()
    };
    let desk = sign_in("desk").await;
    let r = page(addr, "GET", "/audit", Some(&desk), &[], None).await;
    assert_eq!(r.status, 403);
    let boss = sign_in("boss").await;
    let r = page(addr, "GET", "/audit", Some(&boss), &[], None).await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("api:booking") && r.text.contains("OTHER9"), "{}", r.text);
    let boss3 = sign_in("boss3").await;
    let r = page(addr, "GET", "/audit", Some(&boss3), &[], None).await;
    assert!(r.text.contains("API1") && !r.text.contains("OTHER9"), "{}", r.text);
    let r = page(addr, "GET", "/audit?q=api1", Some(&boss), &[], None).await;
    assert!(r.text.contains("API1") && !r.text.contains("OTHER9"));
    let r = page(addr, "GET", "/audit?q=api%3A", Some(&boss), &[], None).await;
    assert!(r.text.contains("API1") && !r.text.contains("OTHER9"), "by who");
    s.shutdown().await;
}
}
