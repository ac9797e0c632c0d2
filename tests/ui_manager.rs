//! The web UI's manager pages over HTTP (SPEC §10, issue 20 point 3):
//! batches with their counts and whole-batch actions, CSV export and
//! import, API keys. Role checks and business scoping on each. On both
//! backends.

mod common;

use common::http::{page, sign_in, upload};
use common::Backend;
use radgate::store::operators::Role;

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
    let conf = s.batch("Conference <b>day</b>", 0, 4, Some("2099-01-01T00:00:00Z")).await;
    let other = s.batch("Other venue", 3, 2, None).await;
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

both_backends! {
/// The Codes page's search exports as CSV; /import takes such a file, all
/// rows or none, "check only" and "skip codes that exist" as the CLI's
/// --dry-run and --skip-existing; limited operators stay in their
/// businesses; the desk has neither.
#[tokio::test]
async fn managers_export_and_import_codes_as_csv(b: Backend) {
    let s = ui_server(b).await;
    let addr = s.api_addr.unwrap();
    s.token("LOBBY1", 60, |t| t.description = Some("lobby".into())).await;
    s.token("LOBBY2", 30, |t| t.description = Some("lobby".into())).await;
    s.token("POOL1", 30, |t| t.business_id = Some(3)).await;
    let boss = sign_in(addr, "boss").await;
    let boss3 = sign_in(addr, "boss3").await;
    let desk = sign_in(addr, "desk").await;

    // Codes ticked in a list print together (the form repeats `ids`);
    // nothing ticked is said so.
    let l1 = s.store.find_token("LOBBY1").await.unwrap().id;
    let l2 = s.store.find_token("LOBBY2").await.unwrap().id;
    let r = page(addr, "GET", &format!("/print?ids={l1}&ids={l2}"), Some(&desk), &[], None).await;
    assert_eq!(r.text.matches("<div class=\"receipt\">").count(), 2, "{}", r.text);
    let r = page(addr, "GET", "/print?as=card", Some(&desk), &[], None).await;
    assert_eq!(r.status, 422);
    assert!(r.text.contains("Tick the codes to print first."));

    // Export what a search finds; the Codes page offers it to managers.
    let r = page(addr, "GET", "/tokens?q=lobby", Some(&boss), &[], None).await;
    assert!(r.text.contains("href=\"/tokens/export?q=lobby\""), "{}", r.text);
    let r = page(addr, "GET", "/tokens?q=lobby", Some(&desk), &[], None).await;
    assert!(!r.text.contains("/tokens/export"));
    assert_eq!(page(addr, "GET", "/tokens/export?q=lobby", Some(&desk), &[], None).await.status, 403);
    let r = page(addr, "GET", "/tokens/export?q=lobby", Some(&boss), &[], None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    let csv = r.text.clone();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.contains("LOBBY1") && csv.contains("LOBBY2") && !csv.contains("POOL1"));
    let r = page(addr, "GET", "/tokens/export", Some(&boss3), &[], None).await;
    assert!(r.text.contains("POOL1") && !r.text.contains("LOBBY"), "{}", r.text);

    // Re-importing the export clashes on every code: nothing imported.
    let r = upload(addr, "/import", &boss, &[("file", Some("codes.csv"), csv.as_bytes())]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("codes.csv: 2 bad row(s); nothing imported."), "{}", r.text);
    assert!(r.text.contains("line 2: AccessCode: &#34;LOBBY") || r.text.contains("line 2: AccessCode: &quot;LOBBY"), "{}", r.text);
    // Skipping the existing ones imports nothing new, and says so.
    let r = upload(addr, "/import", &boss, &[("file", Some("codes.csv"), csv.as_bytes()), ("skip_existing", None, b"yes")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("Imported 0 code(s) from codes.csv, 2 skipped"), "{}", r.text);
    // A new file: checked first, then imported.
    let new = b"AccessCode,MinutesIncluded,Description\nNEW1,45,<script>alert(1)</script>\nNEW2,45,\n";
    let r = upload(addr, "/import", &boss, &[("file", Some("new.csv"), new), ("check_only", None, b"yes")]).await;
    assert!(r.text.contains("new.csv: 2 code(s) can be imported. Nothing imported yet (check only)."), "{}", r.text);
    assert!(s.store.find_token("NEW1").await.is_err());
    let r = upload(addr, "/import", &boss, &[("file", Some("new.csv"), new)]).await;
    assert!(r.text.contains("Imported 2 code(s) from new.csv."), "{}", r.text);
    let t = s.store.find_token("NEW1").await.unwrap();
    assert_eq!((t.minutes_included, t.updated_by.as_deref()), (45, Some("ui:boss")));
    let r = page(addr, "GET", "/tokens?q=NEW1", Some(&boss), &[], None).await;
    assert!(!r.text.contains("<script>alert"), "escaped");
    let log = s.store.audit_log(&radgate::store::audit::Filter { limit: 5, ..Default::default() }).await.unwrap();
    assert_eq!((log[0].actor.as_str(), log[0].action.as_str()), ("ui:boss", "token.import"));
    // Bad files: named, nothing imported.
    for (file, want) in [
        (&b"Code,Minutes\nX,1\n"[..], "unknown column"),
        (&b"AccessCode,MinutesIncluded\nBAD1,abc\nBAD2,10\n"[..], "line 2: MinutesIncluded"),
        (&b""[..], "Choose a CSV file"),
    ] {
        let r = upload(addr, "/import", &boss, &[("file", Some("bad.csv"), file)]).await;
        assert_eq!(r.status, 422, "{want}");
        assert!(r.text.contains(want), "{want}: {}", r.text);
    }
    assert!(s.store.find_token("BAD2").await.is_err());
    // A limited operator imports only rows of their businesses.
    let r = upload(addr, "/import", &boss3, &[("file", Some("b.csv"), b"AccessCode,MinutesIncluded,BusinessId\nB3,10,3\nB0,10,0\n")]).await;
    assert_eq!(r.status, 422);
    assert!(r.text.contains("line 3: BusinessId: 0 is not one of yours (3)"), "{}", r.text);
    assert!(s.store.find_token("B3").await.is_err());
    // The desk may not import; nor may another site.
    let r = upload(addr, "/import", &desk, &[("file", Some("new.csv"), b"AccessCode,MinutesIncluded\nD1,5\n")]).await;
    assert_eq!(r.status, 403);
    assert_eq!(page(addr, "GET", "/import", Some(&desk), &[], None).await.status, 403);
    let r = page(addr, "POST", "/import", Some(&boss), &[("Sec-Fetch-Site", "cross-site")], Some(&[("file", "x")])).await;
    assert_eq!(r.status, 403);
    s.shutdown().await;
}
}

/// The raw key a create page shows (in its Copy button).
fn shown_key(html: &str) -> Option<String> {
    let rest = html.split("data-copy=\"").nth(1)?;
    rest.split('"').next().map(str::to_string)
}

both_backends! {
/// Managers create API keys (the raw key shown once, on the answer to the
/// POST), list them by their display form and revoke them; every change
/// is audited as ui:<name>. Not for the desk; `*` only from an admin. (An
/// operator limited to businesses: the test after this one.)
#[tokio::test]
async fn managers_create_list_and_revoke_api_keys(b: Backend) {
    let s = ui_server(b).await;
    s.operator("root", Role::Admin, vec![]).await;
    let addr = s.api_addr.unwrap();
    let boss = sign_in(addr, "boss").await;
    let boss3 = sign_in(addr, "boss3").await;
    let desk = sign_in(addr, "desk").await;
    let root = sign_in(addr, "root").await;
    let get = |path: &'static str, cookie: String| async move { page(addr, "GET", path, Some(&cookie), &[], None).await };
    let same = [("Sec-Fetch-Site", "same-origin")];
    let post = |path: &'static str, cookie: String, form: Vec<(&'static str, String)>| async move {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        page(addr, "POST", path, Some(&cookie), &same, Some(&form)).await
    };
    let list_role = || ("role", "AccessToken-List".to_string());
    const TOKENS: &str = "/api/spaces/accesstokens";

    // The page and its nav link: managers and admins.
    let r = get("/apikeys", boss.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("<a href=\"/apikeys\" aria-current=\"page\">API keys</a>"), "{}", r.text);
    assert!(r.text.contains("empty: every business"), "{}", r.text);
    assert!(r.text.contains("value=\"AccessToken-Create\"") && r.text.contains("value=\"Radius-Authorize\""));
    assert!(!r.text.contains("value=\"*\""), "a manager is not offered *");
    assert!(get("/apikeys", root.clone()).await.text.contains("value=\"*\""));
    assert!(!get("/tokens", desk.clone()).await.text.contains("href=\"/apikeys\""));
    assert!(get("/tokens", boss3.clone()).await.text.contains("href=\"/apikeys\""));

    // The desk: 403 everywhere.
    assert_eq!(get("/apikeys", desk.clone()).await.status, 403);
    assert_eq!(post("/apikeys/add", desk.clone(), vec![("name", "d".into()), list_role()]).await.status, 403);
    assert_eq!(post("/apikeys/revoke", desk.clone(), vec![("id", "1".into()), ("confirm", "yes".into())]).await.status, 403);
    // A form from another site changes nothing.
    let r = page(addr, "POST", "/apikeys/add", Some(&boss), &[("Sec-Fetch-Site", "cross-site")], Some(&[("name", "evil"), ("role", "AccessToken-List")])).await;
    assert_eq!(r.status, 403);

    // Refused forms, naming the field; nothing created.
    let r = post("/apikeys/add", boss.clone(), vec![("name", " ".into()), list_role()]).await;
    assert_eq!(r.status, 422);
    assert!(r.text.contains("Name: must be 1 to 100 characters"), "{}", r.text);
    let r = post("/apikeys/add", boss.clone(), vec![("name", "booking".into())]).await;
    assert_eq!(r.status, 422);
    assert!(r.text.contains("Roles: tick at least one"), "{}", r.text);
    let r = post("/apikeys/add", boss.clone(), vec![("name", "booking".into()), list_role(), ("role", "Admin".into())]).await;
    assert_eq!(r.status, 422);
    assert!(r.text.contains("Roles: unknown role"), "{}", r.text);
    let r = post("/apikeys/add", boss.clone(), vec![("name", "booking".into()), ("role", "*".into())]).await;
    assert_eq!(r.status, 403);
    assert!(r.text.contains("only an admin"), "{}", r.text);
    assert!(s.store.api_keys(true).await.unwrap().is_empty());

    // Created: the raw key on the answer itself (200, no-store), once.
    let r = post("/apikeys/add", boss.clone(), vec![("name", " booking ".into()), list_role(), ("role", "accesstoken-read".into()), list_role()]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("location"), None);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.text.contains("it will not be shown again"));
    assert!(r.text.contains("<button type=\"button\" class=\"quiet\" data-copy=\""));
    let key = shown_key(&r.text).expect("the key on the page");
    assert!(key.starts_with("rgk_") && key.len() == 36, "{key}");
    let k = s.store.api_keys(false).await.unwrap().into_iter().find(|k| k.name == "booking").unwrap();
    assert_eq!(k.roles, ["AccessToken-List", "AccessToken-Read"]);
    assert!(k.businesses.is_empty(), "left empty: every business");
    assert!(r.text.contains("for every business"), "{}", r.text);
    assert_eq!(k.created_by.as_deref(), Some("ui:boss"));
    // It works against the JSON API, with the roles ticked.
    let api = common::http::request(addr, "GET", TOKENS, Some(&key), None).await;
    assert_eq!(api.status, 200, "{}", api.text);
    let api = common::http::request(addr, "POST", TOKENS, Some(&key), Some("{}")).await;
    assert_eq!(api.status, 403);
    // The list shows its display form, never the key.
    let r = get("/apikeys", boss.clone()).await;
    assert!(r.text.contains(&k.display) && r.text.contains("booking"), "{}", r.text);
    assert!(r.text.contains("AccessToken-List AccessToken-Read") && r.text.contains("by ui:boss"));
    assert!(!r.text.contains(&key) && !r.text.contains(&key[4..]));
    // The name is taken while the key lives.
    let r = post("/apikeys/add", boss.clone(), vec![("name", "booking".into()), list_role()]).await;
    assert_eq!(r.status, 409);
    assert!(r.text.contains("Name: an API key named"), "{}", r.text);
    assert_eq!(s.store.api_keys(true).await.unwrap().len(), 1);

    // A hostile name is text.
    let r = post("/apikeys/add", boss.clone(), vec![("name", "<script>alert(1)</script>".into()), list_role()]).await;
    assert_eq!(r.status, 200);
    let r = get("/apikeys", boss.clone()).await;
    assert!(!r.text.contains("<script>alert"), "{}", r.text);
    assert!(r.text.contains("&lt;script&gt;") || r.text.contains("&#60;script&#62;"), "{}", r.text);
    // An admin may give every role.
    let r = post("/apikeys/add", root.clone(), vec![("name", "all".into()), ("role", "*".into())]).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Revoke: confirmed, or nothing; then the key stops working.
    let id = k.id.to_string();
    let r = post("/apikeys/revoke", boss.clone(), vec![("id", id.clone())]).await;
    assert_eq!(r.status, 422);
    assert_eq!(common::http::request(addr, "GET", TOKENS, Some(&key), None).await.status, 200);
    let r = post("/apikeys/revoke", boss.clone(), vec![("id", id.clone()), ("confirm", "yes".into())]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let to = r.header("location").unwrap().to_string();
    assert_eq!(to, format!("/apikeys?revoked={id}&with=0"));
    let r = page(addr, "GET", &to, Some(&boss), &[], None).await;
    assert!(r.text.contains("Revoked the key “booking”"), "{}", r.text);
    assert!(!r.text.contains(&format!("<td class=\"code\" data-label=\"Key\">{}</td>", k.display)));
    assert_eq!(common::http::request(addr, "GET", TOKENS, Some(&key), None).await.status, 401);
    let r = get("/apikeys?all=1", boss.clone()).await;
    assert!(r.text.contains(&k.display) && r.text.contains("revoked "), "{}", r.text);
    let r = post("/apikeys/revoke", boss.clone(), vec![("id", id.clone()), ("confirm", "yes".into())]).await;
    assert_eq!(r.status, 404);

    // The audit log: who did what, never the key.
    let log = s
        .store
        .audit_log(&radgate::store::audit::Filter { limit: 50, ..Default::default() })
        .await
        .unwrap();
    let by = |action: &str, target: &str| log.iter().filter(|r| r.action == action && r.target == target).map(|r| r.actor.as_str()).collect::<Vec<_>>();
    assert_eq!(by("apikey.create", "booking"), ["ui:boss"]);
    assert_eq!(by("apikey.revoke", "booking"), ["ui:boss"]);
    assert_eq!(by("apikey.create", "all"), ["ui:root"]);
    assert_eq!(log.iter().filter(|r| r.action.starts_with("apikey.")).count(), 4);
    assert!(log.iter().all(|r| !format!("{:?}{:?}", r.before, r.after).contains(&key[4..])));
    s.shutdown().await;
}
}

both_backends! {
/// An operator limited to some businesses manages API keys within them:
/// the keys they create reach their businesses (all of them when the field
/// is left empty, or some), never more (403, saying why); they see and
/// revoke only keys within their businesses. An admin picks the businesses
/// of a key. The keys work against the API, limited.
#[tokio::test]
async fn operators_limited_to_businesses_manage_keys_within_them(b: Backend) {
    let s = ui_server(b).await;
    s.operator("root", Role::Admin, vec![]).await;
    s.operator("boss37", Role::Manager, vec![3, 7]).await;
    let addr = s.api_addr.unwrap();
    let boss3 = sign_in(addr, "boss3").await;
    let boss37 = sign_in(addr, "boss37").await;
    let root = sign_in(addr, "root").await;
    let same = [("Sec-Fetch-Site", "same-origin")];
    let get = |path: String, cookie: String| async move { page(addr, "GET", &path, Some(&cookie), &[], None).await };
    let post = |path: &'static str, cookie: String, form: Vec<(&'static str, String)>| async move {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        page(addr, "POST", path, Some(&cookie), &same, Some(&form)).await
    };
    let add = |cookie: &String, name: &str, biz: &str| {
        let form = vec![("name", name.to_string()), ("role", "*".to_string()), ("role", "AccessToken-List".to_string()), ("businesses", biz.to_string())];
        // `*` is refused to a manager: ask for the named roles only.
        let form: Vec<_> = form.into_iter().filter(|(_, v)| v != "*").collect();
        post("/apikeys/add", cookie.clone(), form)
    };
    let businesses = |name: &'static str| {
        let store = s.store.clone();
        async move { store.api_keys(true).await.unwrap().into_iter().find(|k| k.name == name).map(|k| k.businesses) }
    };
    const TOKENS: &str = "/api/spaces/accesstokens";
    for (code, biz) in [("C3", 3), ("C5", 5), ("C7", 7)] {
        s.token(code, 60, |t| t.business_id = Some(biz)).await;
    }

    // The page: theirs now, saying what the keys reach.
    let r = get("/apikeys".into(), boss3.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("<a href=\"/apikeys\" aria-current=\"page\">API keys</a>"));
    assert!(r.text.contains("empty: yours, 3"), "{}", r.text);

    // Left empty: exactly their businesses.
    let r = add(&boss3, "b3", "").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("for BusinessId(s) 3"), "{}", r.text);
    let key3 = shown_key(&r.text).expect("the key on the page");
    assert_eq!(businesses("b3").await, Some(vec![3]));
    let r = add(&boss37, "b37", " ").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(businesses("b37").await, Some(vec![3, 7]));
    // Some of them.
    let r = add(&boss37, "b7", "7").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(businesses("b7").await, Some(vec![7]));
    // More than theirs: 403, saying why; nothing made.
    let r = add(&boss3, "wide", "3, 5").await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("Businesses: 5 beyond your businesses: you reach only BusinessIds 3."), "{}", r.text);
    let r = add(&boss37, "wide", "5").await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = add(&boss3, "wide", "three").await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("Businesses: "), "{}", r.text);
    assert_eq!(businesses("wide").await, None);

    // An admin picks a key's businesses, or leaves it for every business.
    let r = get("/apikeys".into(), root.clone()).await;
    assert!(r.text.contains("name=\"businesses\""), "{}", r.text);
    let r = add(&root, "r5", "5").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(businesses("r5").await, Some(vec![5]));
    let r = add(&root, "r37", "7,3").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(businesses("r37").await, Some(vec![3, 7]));
    let r = add(&root, "rall", "").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(businesses("rall").await, Some(vec![]));

    // Each sees the keys within their businesses only.
    let names = |html: &str| -> Vec<String> {
        let mut v: Vec<String> = html
            .split("data-label=\"Name\"><strong>")
            .skip(1)
            .map(|rest| rest.split('<').next().unwrap_or("").to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&get("/apikeys".into(), boss3.clone()).await.text), ["b3"]);
    assert_eq!(names(&get("/apikeys".into(), boss37.clone()).await.text), ["b3", "b37", "b7", "r37"]);
    assert_eq!(names(&get("/apikeys".into(), root.clone()).await.text), ["b3", "b37", "b7", "r37", "r5", "rall"]);
    let r = get("/apikeys".into(), root.clone()).await;
    assert!(r.text.contains("data-label=\"Businesses\">3, 7<"), "{}", r.text);
    assert!(r.text.contains("data-label=\"Businesses\">all<"), "{}", r.text);

    // Revoke: only keys within their businesses (another's is not there).
    let id = |name: &'static str| {
        let store = s.store.clone();
        async move { store.api_keys(false).await.unwrap().into_iter().find(|k| k.name == name).unwrap().id.to_string() }
    };
    for other in ["r5", "rall", "b37"] {
        let r = post("/apikeys/revoke", boss3.clone(), vec![("id", id(other).await), ("confirm", "yes".into())]).await;
        assert_eq!(r.status, 404, "{other}: {}", r.text);
    }
    let r = post("/apikeys/revoke", boss37.clone(), vec![("id", id("b7").await), ("confirm", "yes".into())]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let to = r.header("location").unwrap().to_string();
    assert!(get(to.clone(), boss37.clone()).await.text.contains("Revoked the key “b7”"));
    assert!(!get(to, boss3.clone()).await.text.contains("Revoked the key"), "not boss3's to hear of");
    assert_eq!(s.store.api_keys(false).await.unwrap().len(), 5);

    // The key boss3 made works on business 3's codes only.
    let r = common::http::request(addr, "GET", TOKENS, Some(&key3), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["TotalItems"], 1);
    assert_eq!(r.body["Records"][0]["AccessCode"], "C3");
    s.shutdown().await;
}
}
