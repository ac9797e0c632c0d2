//! The web UI's manager pages over HTTP (SPEC §10, issue 20 point 3):
//! batches with their counts and whole-batch actions, CSV export and
//! import, API keys. Role checks and business scoping on each. On both
//! backends.

mod common;

use common::http::{page, sign_in};
use common::Backend;
use radgate::store::operators::Role;
use radgate::token::TokenInput;

async fn ui_server(b: Backend) -> common::TestServer {
    let s = common::TestServer::start_on_with(b, |c| {
        c.api.listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    for (name, role, businesses) in [
        ("desk", Role::Desk, vec![]),
        ("boss", Role::Manager, vec![]),
        ("boss3", Role::Manager, vec![3]),
    ] {
        s.operator(name, role, businesses).await;
    }
    s
}

/// `count` codes of `minutes` in business `business`, as one batch.
async fn batch(
    s: &common::TestServer,
    name: &str,
    business: i64,
    count: usize,
    valid_to: Option<&str>,
) -> Vec<radgate::token::AccessToken> {
    let t = TokenInput {
        access_code: Some("SAMPLE".into()),
        minutes_included: Some(60),
        business_id: Some(business),
        valid_to: valid_to.map(str::to_string),
        ..Default::default()
    }
    .validate(chrono_tz::UTC, 0)
    .unwrap();
    let mut n = 0;
    let prefix = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>();
    s.store
        .generate_tokens(
            &t,
            count,
            chrono::Utc::now().timestamp(),
            5,
            || {
                n += 1;
                format!("{prefix}{n:03}")
            },
            |_| {},
            &common::test_actor(),
            name,
        )
        .await
        .unwrap()
}

fn digits(html: &str, label: &str) -> Vec<String> {
    html.split(&format!("data-label=\"{label}\">"))
        .skip(1)
        .map(|rest| rest.split('<').next().unwrap_or("").trim().to_string())
        .collect()
}

both_backends! {
/// Every generate makes a batch; the list counts its codes by state, and
/// a batch's page prints the unused ones, exports, extends, revokes and
/// deletes them all — for managers only, within their businesses.
#[tokio::test]
async fn managers_see_and_act_on_whole_batches(b: Backend) {
    let s = ui_server(b).await;
    let addr = s.api_addr.unwrap();
    let conf = batch(&s, "Conference <b>day</b>", 0, 4, Some("2099-01-01T00:00:00Z")).await;
    let other = batch(&s, "Other venue", 3, 2, None).await;
    // One code in use, one used up, one expired.
    s.exec(&format!("UPDATE access_tokens SET last_access = 1, seconds_used = 60 WHERE id = {}", conf[0].id)).await;
    s.exec(&format!("UPDATE access_tokens SET last_access = 1, seconds_used = 3600 WHERE id = {}", conf[1].id)).await;
    s.exec(&format!("UPDATE access_tokens SET valid_to = 1000 WHERE id = {}", conf[2].id)).await;
    let boss = sign_in(addr, "boss").await;
    let boss3 = sign_in(addr, "boss3").await;
    let desk = sign_in(addr, "desk").await;
    let get = |path: String, cookie: String| async move { page(addr, "GET", &path, Some(&cookie), &[], None).await };
    let same = [("Sec-Fetch-Site", "same-origin")];
    let post = |path: String, cookie: String, form: Vec<(&'static str, &'static str)>| async move {
        page(addr, "POST", &path, Some(&cookie), &same, Some(&form)).await
    };

    let r = get("/batches".into(), boss.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("Conference &#60;b&#62;day&#60;/b&#62;") || r.text.contains("Conference &lt;b&gt;day&lt;/b&gt;"), "escaped: {}", r.text);
    assert!(!r.text.contains("<b>day</b>"));
    // Newest first: Other venue (2 unused), then the conference.
    assert_eq!(digits(&r.text, "Codes"), ["2", "4"]);
    assert_eq!(digits(&r.text, "Unused"), ["2", "1"]);
    assert_eq!(digits(&r.text, "In use"), ["0", "1"]);
    assert_eq!(digits(&r.text, "Expired"), ["0", "1"]);
    assert_eq!(digits(&r.text, "Used up"), ["0", "1"]);
    let conf_id = s.store.batches(None, 0, 10).await.unwrap()[1].batch.id;
    let other_id = conf_id + 1;
    // Business 3's manager sees only business 3's batch.
    let r = get("/batches".into(), boss3.clone()).await;
    assert!(r.text.contains("Other venue") && !r.text.contains("Conference"));
    assert_eq!(get(format!("/batches/{conf_id}"), boss3.clone()).await.status, 404);
    assert_eq!(post(format!("/batches/{conf_id}/delete"), boss3.clone(), vec![("confirm", "yes")]).await.status, 404);
    assert_eq!(get(format!("/print?batch={conf_id}"), boss3.clone()).await.status, 404);
    // The desk has no batches.
    assert_eq!(get("/batches".into(), desk.clone()).await.status, 403);
    assert_eq!(get(format!("/batches/{other_id}"), desk.clone()).await.status, 403);
    assert_eq!(post(format!("/batches/{other_id}/revoke"), desk.clone(), vec![("reason", "x")]).await.status, 403);
    assert_eq!(get(format!("/batches/{other_id}/export"), desk.clone()).await.status, 403);

    // The batch's page, its print view (the one unused code), its export.
    let r = get(format!("/batches/{conf_id}"), boss.clone()).await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("4: 1 unused, 1 in use, 1 expired, 1 used up"), "{}", r.text);
    assert!(r.text.contains(&conf[3].access_code));
    let r = get(format!("/print?batch={conf_id}"), boss.clone()).await;
    assert_eq!(r.text.matches("<div class=\"receipt\">").count(), 1, "{}", r.text);
    assert!(r.text.contains(&conf[3].access_code));
    let r = get(format!("/print?batch={conf_id}&as=card"), boss.clone()).await;
    assert_eq!(r.text.matches("<article").count(), 1);
    let r = get(format!("/batches/{conf_id}/export"), boss.clone()).await;
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(r.header("content-disposition").unwrap().contains(&format!("batch-{conf_id}.csv")));
    let lines: Vec<&str> = r.text.lines().collect();
    assert_eq!(lines.len(), 5, "{}", r.text);
    assert!(lines[0].starts_with("Id,UniqueId,BusinessId,AccessCode"));

    // Extend all by an hour and a day: every code, including the expired one.
    let r = post(format!("/batches/{conf_id}/extend"), boss.clone(), vec![("minutes", "60"), ("days", "1")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location").unwrap(), format!("/batches/{conf_id}?done=extend&n=4&skipped=0"));
    for c in &conf {
        assert_eq!(s.store.token_by_id(c.id).await.unwrap().unwrap().minutes_included, 120);
    }
    let r = post(format!("/batches/{conf_id}/extend"), boss.clone(), vec![("minutes", "61")]).await;
    assert_eq!(r.status, 422);
    // Days on codes without an end date: left as they are.
    let r = post(format!("/batches/{other_id}/extend"), boss3.clone(), vec![("days", "7")]).await;
    assert_eq!(r.header("location").unwrap(), format!("/batches/{other_id}?done=extend&n=0&skipped=2"));
    let r = get(r.header("location").unwrap().to_string(), boss3.clone()).await;
    assert!(r.text.contains("Extended 0 codes (2 codes left as they were)."), "{}", r.text);

    // Revoke all: a reason is required; the usable ones end now.
    let r = post(format!("/batches/{conf_id}/revoke"), boss.clone(), vec![("reason", " ")]).await;
    assert_eq!(r.status, 422);
    let r = post(format!("/batches/{conf_id}/revoke"), boss.clone(), vec![("reason", "Conference over")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let now = chrono::Utc::now().timestamp();
    for c in &conf {
        let t = s.store.token_by_id(c.id).await.unwrap().unwrap();
        assert!(t.valid_to.unwrap() <= now, "{} revoked", t.access_code);
    }
    let log = s
        .store
        .audit_log(&radgate::store::audit::Filter { limit: 50, ..Default::default() })
        .await
        .unwrap();
    let revokes: Vec<_> = log.iter().filter(|r| r.action == "token.revoke").collect();
    assert!(!revokes.is_empty() && revokes.iter().all(|r| r.actor == "ui:boss" && r.after.as_deref().unwrap_or("").contains("\"Reason\":\"Conference over\"")));
    assert_eq!(log.iter().filter(|r| r.action == "token.extend").count(), 4);

    // Delete: confirmed, or nothing.
    let r = post(format!("/batches/{conf_id}/delete"), boss.clone(), vec![]).await;
    assert_eq!(r.status, 422);
    let r = post(format!("/batches/{conf_id}/delete"), boss.clone(), vec![("confirm", "yes")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("4 codes of"));
    for c in &conf {
        assert!(s.store.token_by_id(c.id).await.unwrap().is_none());
    }
    let r = get("/batches".into(), boss.clone()).await;
    assert!(!r.text.contains("Conference"));
    assert_eq!(other.len(), 2);
    s.shutdown().await;
}
}
