//! The admin web UI over HTTP (SPEC §10): operators from the CLI, sign-in
//! with a cookie session (throttled, idle and absolute timeouts, ended by
//! sign-out and by a new password), role checks on every page, business
//! scoping, CSRF refusals, escaping of hostile text. On both backends.

mod common;

use common::http::{page, sign_in};
use common::Backend;
use radgate::store::operators::{hash_password, Role};

const PASSWORD: &str = common::OPERATOR_PASSWORD;

async fn ui_server(b: Backend) -> common::TestServer {
    let s = common::TestServer::start_on_with(b, |c| {
        c.api.listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    for (name, role, businesses) in [
        ("desk", Role::Desk, vec![]),
        ("desk3", Role::Desk, vec![3]),
        ("boss", Role::Admin, vec![]),
    ] {
        s.operator(name, role, businesses).await;
    }
    s
}

both_backends! {
#[tokio::test]
async fn operators_sign_in_and_see_what_their_role_and_businesses_allow(b: Backend) {
    let s = ui_server(b).await;
    let addr = s.api_addr.unwrap();
    s.token("WELCOME1", 60, |t| {
        t.description = Some("<script>alert(1)</script> room 12".into());
        t.mac_address = Some("AA-BB-CC-00-11-22".into());
    })
    .await;
    let other = s.token("BIZ3CODE", 30, |t| t.business_id = Some(3)).await;
    // Not signed in: to the sign-in page; it has the form SPEC §10 names.
    let r = page(addr, "GET", "/tokens", None, &[], None).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login"));
    let r = page(addr, "GET", "/login", None, &[], None).await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("name=\"username\"") && r.text.contains("name=\"password\""));
    assert!(r
        .header("content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    // Wrong password, unknown name: the same answer.
    for name in ["desk", "nobody"] {
        let r = page(
            addr,
            "POST",
            "/login",
            None,
            &[],
            Some(&[("username", name), ("password", "not-the-password")]),
        )
        .await;
        assert_eq!(r.status, 401);
        assert!(r.text.contains("Wrong name or password."));
        assert!(r.header("set-cookie").is_none());
    }
    // Signed in: search by code, description and MAC; hostile text stays text.
    let desk = sign_in(addr, "desk").await;
    for q in ["welc", "ROOM%2012", "aa%3Abb", "aa-bb-cc"] {
        let r = page(addr, "GET", &format!("/tokens?q={q}"), Some(&desk), &[], None).await;
        assert_eq!(r.status, 200, "{q}");
        assert!(r.text.contains(">WELCOME1</a>"), "{q}: {}", r.text);
        assert!(!r.text.contains("BIZ3CODE"), "{q}");
    }
    let r = page(addr, "GET", "/tokens", Some(&desk), &[], None).await;
    assert!(r.text.contains("&#60;script&#62;alert(1)&#60;/script&#62; room 12"), "{}", r.text);
    assert!(!r.text.contains("<script>"));
    assert!(r.text.contains(">unused</span>"));
    let r = page(addr, "GET", "/tokens?q=%25", Some(&desk), &[], None).await;
    assert!(r.text.contains("No code matches"), "a % matches only itself");
    // A desk operator limited to business 3 sees only its codes.
    let desk3 = sign_in(addr, "desk3").await;
    let r = page(addr, "GET", "/tokens", Some(&desk3), &[], None).await;
    assert!(r.text.contains("BIZ3CODE") && !r.text.contains("WELCOME1"));
    let welcome = s.store.find_token("WELCOME1").await.unwrap();
    let r = page(addr, "GET", &format!("/tokens/{}", welcome.id), Some(&desk3), &[], None).await;
    assert_eq!(r.status, 404, "another business's code does not exist for them");
    let r = page(addr, "GET", &format!("/tokens/{}", other.id), Some(&desk3), &[], None).await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("30 minutes"), "{}", r.text);
    // Roles: the operators page is the admin's.
    let r = page(addr, "GET", "/operators", Some(&desk), &[], None).await;
    assert_eq!(r.status, 403);
    let boss = sign_in(addr, "boss").await;
    let r = page(addr, "GET", "/operators", Some(&boss), &[], None).await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains(">desk3<") && r.text.contains("name=\"businesses\" type=\"text\" value=\"3\""));
    // Another site's form: 403 and nothing changes (the session lives on).
    for h in [
        ("Sec-Fetch-Site", "cross-site"),
        ("Origin", "http://evil.example"),
    ] {
        let r = page(addr, "POST", "/logout", Some(&desk), &[h], None).await;
        assert_eq!(r.status, 403, "{h:?}");
        let r = page(addr, "GET", "/tokens", Some(&desk), &[], None).await;
        assert_eq!(r.status, 200, "{h:?}: still signed in");
    }
    // Signing out ends the session on the server, not only in the browser.
    let r = page(addr, "POST", "/logout", Some(&desk), &[("Sec-Fetch-Site", "same-origin")], None).await;
    assert_eq!(r.status, 303);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    let r = page(addr, "GET", "/tokens", Some(&desk), &[], None).await;
    assert_eq!(r.status, 303);
    // Idle for 30 minutes, or 12 hours after sign-in: over.
    s.exec("UPDATE web_sessions SET last_seen = last_seen - 1801").await;
    let r = page(addr, "GET", "/tokens", Some(&desk3), &[], None).await;
    assert_eq!(r.status, 303, "idle");
    let again = sign_in(addr, "desk3").await;
    s.exec("UPDATE web_sessions SET created_on = created_on - 43201").await;
    let r = page(addr, "GET", "/tokens", Some(&again), &[], None).await;
    assert_eq!(r.status, 303, "absolute");
    // A new password ends the operator's sessions.
    let boss = sign_in(addr, "boss").await;
    let boss_page = page(addr, "GET", "/sessions", Some(&boss), &[], None).await;
    assert_eq!(boss_page.status, 200);
    s.store
        .set_operator_password("boss", &hash_password("another long one").unwrap(), &common::test_actor())
        .await
        .unwrap();
    let r = page(addr, "GET", "/sessions", Some(&boss), &[], None).await;
    assert_eq!(r.status, 303);
    // An API path that does not exist answers JSON; a page path, HTML.
    let r = page(addr, "GET", "/api/nothing", None, &[], None).await;
    assert_eq!(r.status, 404);
    assert!(r.header("content-type").unwrap().contains("json"));
    let r = page(addr, "GET", "/nothing", None, &[], None).await;
    assert_eq!(r.status, 404);
    assert!(r.header("content-type").unwrap().contains("text/html"));
    s.shutdown().await;
}
}

/// Five failed sign-ins for a name: the sixth is refused even with the
/// right password (for that name, from anywhere), for a while — also when
/// the guesses come all at once. A name no operator can have (a megabyte
/// of it) is refused without being looked up.
#[tokio::test]
async fn sign_in_attempts_are_throttled() {
    let s = ui_server(Backend::Sqlite).await;
    let addr = s.api_addr.unwrap();
    let huge = "x".repeat(1 << 20);
    let r = page(
        addr,
        "POST",
        "/login",
        None,
        &[],
        Some(&[
            ("username", huge.as_str()),
            ("password", "whatever-whatever"),
        ]),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(!r.text.contains("xxxxxxxxxx"), "the name is not echoed");
    // Guesses sent together: no more than five are tried.
    let guesses: Vec<_> = (0..12)
        .map(|_| {
            tokio::spawn(async move {
                page(
                    addr,
                    "POST",
                    "/login",
                    None,
                    &[],
                    Some(&[("username", "boss"), ("password", "guess-guess")]),
                )
                .await
                .status
            })
        })
        .collect();
    let mut tried = 0;
    for g in guesses {
        if g.await.unwrap() == 401 {
            tried += 1;
        }
    }
    assert!(tried <= 5, "{tried} guesses were checked");
    let r = page(
        addr,
        "POST",
        "/login",
        None,
        &[],
        Some(&[("username", "boss"), ("password", PASSWORD)]),
    )
    .await;
    assert_eq!(r.status, 429);
    for _ in 0..5 {
        let r = page(
            addr,
            "POST",
            "/login",
            None,
            &[],
            Some(&[("username", "desk"), ("password", "guess-guess")]),
        )
        .await;
        assert_eq!(r.status, 401);
    }
    let r = page(
        addr,
        "POST",
        "/login",
        None,
        &[],
        Some(&[("username", "desk"), ("password", PASSWORD)]),
    )
    .await;
    assert_eq!(r.status, 429);
    assert!(r.text.contains("Too many failed attempts"));
    assert!(r.header("set-cookie").is_none());
    s.shutdown().await;
}

cli_both_backends! {
/// `radgate operator add|list|remove|passwd` (SPEC §10): the password on
/// standard input, stored as Argon2id; clear errors naming the argument.
fn operators_are_managed_from_the_cli(b: Backend) {
    let e = common::cli_env::Env::on(b);
    let o = e.run_with(
        &["operator", "add", "anna", "--role", "desk", "--business", "3", "--password-stdin"],
        b"correct horse battery\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("operator \"anna\" added: role desk, sees business 3"));
    for (args, stdin, want) in [
        (vec!["operator", "add", "bob", "--role", "desk", "--password-stdin"], &b"short\n"[..],
         "--password-stdin: the password must be at least 10 characters"),
        (vec!["operator", "add", "bob", "--role", "root", "--password-stdin"], &b"correct horse battery\n"[..],
         "--role: \"root\" is not a role: desk, manager or admin"),
        (vec!["operator", "add", "b ob", "--role", "desk", "--password-stdin"], &b"correct horse battery\n"[..],
         "NAME: \"b ob\" has spaces"),
        (vec!["operator", "add", "anna", "--role", "admin", "--password-stdin"], &b"correct horse battery\n"[..],
         "an operator named \"anna\" exists"),
        (vec!["operator", "remove", "nobody"], &b""[..],
         "no operator is named \"nobody\""),
        (vec!["operator", "add", "carl", "--role", "desk"], &b""[..],
         "--password-stdin"),
    ] {
        let o = e.run_with(&args, stdin);
        assert!(!o.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"));
    }
    let list = e.ok(&["operator", "list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["Name"], "anna");
    assert_eq!(v[0]["Role"], "desk");
    assert_eq!(v[0]["BusinessIds"], serde_json::json!([3]));
    assert!(!list.contains("argon2"), "no hash in the listing");
    let o = e.run_with(&["operator", "passwd", "anna", "--password-stdin"], b"another long one\n");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = e.run(&["operator", "remove", "anna"]);
    assert!(o.status.success());
    let list = e.ok(&["operator", "list", "--format", "json"]);
    assert_eq!(list.trim(), "[]");
}
}

both_backends! {
/// The front desk's actions on a code: extend, revoke (a reason required),
/// forget the bound device — each recorded as `ui:<operator>`; refused for
/// another business's code, from another site, or without what it needs.
#[tokio::test]
async fn the_front_desk_extends_revokes_and_unbinds_codes(b: Backend) {
    let s = ui_server(b).await;
    let addr = s.api_addr.unwrap();
    let t = s
        .token("ROOM12", 60, |t| {
            t.valid_to = Some("2099-01-01T00:00:00Z".into());
            t.mac_address = Some("02:00:00:00:00:01".into());
        })
        .await;
    let desk = sign_in(addr, "desk").await;
    let same = [("Sec-Fetch-Site", "same-origin")];
    let post = |path: String, cookie: String, form: Vec<(&'static str, &'static str)>| async move {
        page(addr, "POST", &path, Some(&cookie), &same, Some(&form)).await
    };
    // The code's page offers the actions.
    let r = page(addr, "GET", &format!("/tokens/{}", t.id), Some(&desk), &[], None).await;
    assert!(r.text.contains(&format!("action=\"/tokens/{}/revoke\"", t.id)));
    assert!(r.text.contains("Forget this device"));
    // Extend: an hour more, and a day more of validity.
    let r = post(format!("/tokens/{}/extend", t.id), desk.clone(), vec![("minutes", "60"), ("days", "1")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location"), Some(format!("/tokens/{}?done=extend", t.id).as_str()));
    let r = page(addr, "GET", &format!("/tokens/{}?done=extend", t.id), Some(&desk), &[], None).await;
    assert!(r.text.contains("<p class=\"notice\" role=\"status\">Extended.</p>"));
    let r = page(addr, "GET", &format!("/tokens/{}?done=%3Cscript%3E", t.id), Some(&desk), &[], None).await;
    assert!(!r.text.contains("notice") && !r.text.contains("<script>"), "only fixed texts");
    let now = s.store.token_by_id(t.id).await.unwrap().unwrap();
    assert_eq!(now.minutes_included, 120);
    assert_eq!(now.valid_to, t.valid_to.map(|v| v + 86_400));
    for bad in [vec![("minutes", "")], vec![("minutes", "525600")], vec![("days", "525600")], vec![("minutes", "-30")]] {
        let r = post(format!("/tokens/{}/extend", t.id), desk.clone(), bad.clone()).await;
        assert_eq!(r.status, 422, "{bad:?}");
    }
    // Days on a code without an end date: said so, nothing recorded.
    let open_ended = s.token("NOEND1", 60, |_| {}).await;
    let r = post(format!("/tokens/{}/extend", open_ended.id), desk.clone(), vec![("days", "7")]).await;
    assert_eq!(r.status, 422);
    assert!(r.text.contains("no end date"));
    let r = post(format!("/tokens/{}/unbind", open_ended.id), desk.clone(), vec![]).await;
    assert_eq!(r.status, 422, "not bound: nothing to forget");
    // A future booking can be revoked.
    let future = s
        .token("LATER1", 60, |t| t.valid_from = Some("2099-01-01T00:00:00Z".into()))
        .await;
    let r = post(format!("/tokens/{}/revoke", future.id), desk.clone(), vec![("reason", "booking cancelled")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let gone = s.store.token_by_id(future.id).await.unwrap().unwrap();
    assert!(gone.valid_to.unwrap() <= chrono::Utc::now().timestamp());
    let r = post(format!("/tokens/{}/revoke", t.id), desk.clone(), vec![("reason", "bad\u{1b}[2J")]).await;
    assert_eq!(r.status, 422, "control characters in a reason");
    // Another site's form changes nothing.
    let r = page(
        addr,
        "POST",
        &format!("/tokens/{}/extend", t.id),
        Some(&desk),
        &[("Sec-Fetch-Site", "cross-site")],
        Some(&[("minutes", "60")]),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(s.store.token_by_id(t.id).await.unwrap().unwrap().minutes_included, 120);
    // Another business's operator: not found, nothing changed.
    let desk3 = sign_in(addr, "desk3").await;
    let r = post(format!("/tokens/{}/revoke", t.id), desk3, vec![("reason", "test")]).await;
    assert_eq!(r.status, 404);
    // Forget the device.
    let r = post(format!("/tokens/{}/unbind", t.id), desk.clone(), vec![]).await;
    assert_eq!(r.status, 303);
    assert_eq!(s.store.token_by_id(t.id).await.unwrap().unwrap().mac_address, None);
    // Revoke: a reason first.
    let r = post(format!("/tokens/{}/revoke", t.id), desk.clone(), vec![("reason", "  ")]).await;
    assert_eq!(r.status, 422);
    assert!(r.text.contains("Give a reason"));
    let r = post(format!("/tokens/{}/revoke", t.id), desk.clone(), vec![("reason", "guest left early")]).await;
    assert_eq!(r.status, 303);
    let gone = s.store.token_by_id(t.id).await.unwrap().unwrap();
    assert!(gone.valid_to.unwrap() <= chrono::Utc::now().timestamp());
    let r = page(addr, "GET", &format!("/tokens/{}", t.id), Some(&desk), &[], None).await;
    assert!(r.text.contains(">expired</span>"), "{}", r.text);
    assert!(
        r.text.contains("<dt>Last change</dt><dd>revoke by ui:desk on ") && r.text.contains("“guest left early”"),
        "{}",
        r.text
    );
    // All in the audit log, as the operator.
    let log = s
        .store
        .audit_log(&radgate::store::audit::Filter { actor: Some("ui:desk".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    let actions: Vec<&str> = log.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["token.revoke", "token.unbind", "token.revoke", "token.extend"]);
    assert!(log[0].after.as_deref().unwrap().contains("\"Reason\":\"guest left early\""));
    assert_eq!(gone.updated_by.as_deref(), Some("ui:desk"));
    s.shutdown().await;
}
}

/// Print views: the 80 mm receipt and the A4 card, with the business's
/// name, network name and QR code; only codes the operator may see.
#[tokio::test]
async fn codes_print_as_a_receipt_and_a_card() {
    let s = common::TestServer::start_with(|c| {
        c.api.listen = Some("127.0.0.1:0".parse().unwrap());
        c.branding.insert(
            7,
            radgate::portal::Branding {
                name: "Café <Rosa>".into(),
                network: Some("Rosa-Guest".into()),
                voucher_login_url: Some(
                    "http://10.5.50.1/login?username={code}&password={code}".into(),
                ),
                ..Default::default()
            },
        );
    })
    .await;
    for (name, businesses) in [("desk", vec![]), ("desk3", vec![3])] {
        s.operator(name, Role::Desk, businesses).await;
    }
    let t = s.token("ROSA-42", 120, |t| t.business_id = Some(7)).await;
    let addr = s.api_addr.unwrap();
    let desk = sign_in(addr, "desk").await;
    let r = page(
        addr,
        "GET",
        &format!("/tokens/{}/receipt", t.id),
        Some(&desk),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("<div class=\"code\">ROSA-42</div>"));
    assert!(r.text.contains("Café &#60;Rosa&#62;"), "{}", r.text);
    assert!(r.text.contains("<strong>Rosa-Guest</strong>"));
    assert!(r.text.contains("<svg") && r.text.contains("2 hours of access"));
    assert!(r.text.contains("href=\"/receipt.css\""));
    let r = page(
        addr,
        "GET",
        &format!("/tokens/{}/card", t.id),
        Some(&desk),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("<article") && r.text.contains("Rosa-Guest"));
    assert!(r
        .header("content-security-policy")
        .unwrap()
        .contains("style-src 'unsafe-inline'"));
    let r = page(addr, "GET", "/receipt.css", None, &[], None).await;
    assert!(r.text.contains("size: 80mm auto"));
    let desk3 = sign_in(addr, "desk3").await;
    for view in ["receipt", "card"] {
        let r = page(
            addr,
            "GET",
            &format!("/tokens/{}/{view}", t.id),
            Some(&desk3),
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, 404, "{view}");
    }
    s.shutdown().await;
}

both_backends! {
/// An admin manages operators in the UI: add, change role and businesses,
/// disable (their sign-ins end), new password, remove — each audited as
/// `ui:<admin>`; not themselves, and not as a desk operator.
#[tokio::test]
async fn an_admin_manages_operators_in_the_ui(b: Backend) {
    let s = ui_server(b).await;
    let addr = s.api_addr.unwrap();
    let boss = sign_in(addr, "boss").await;
    let same = [("Sec-Fetch-Site", "same-origin")];
    let post = |path: &'static str, cookie: String, form: Vec<(&'static str, &'static str)>| async move {
        page(addr, "POST", path, Some(&cookie), &same, Some(&form)).await
    };
    // Add one who signs in.
    let r = post("/operators/add", boss.clone(), vec![("name", "nina"), ("role", "desk"), ("businesses", "3, 7"), ("password", PASSWORD)]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let nina = sign_in(addr, "nina").await;
    let r = page(addr, "GET", "/tokens", Some(&nina), &[], None).await;
    assert_eq!(r.status, 200);
    for (form, want) in [
        (vec![("name", "nina"), ("role", "desk"), ("password", PASSWORD)], 409),
        (vec![("name", "x y"), ("role", "desk"), ("password", PASSWORD)], 422),
        (vec![("name", "zed"), ("role", "root"), ("password", PASSWORD)], 422),
        (vec![("name", "zed"), ("role", "desk"), ("businesses", "three"), ("password", PASSWORD)], 422),
        (vec![("name", "zed"), ("role", "desk"), ("password", "short")], 422),
    ] {
        let r = post("/operators/add", boss.clone(), form.clone()).await;
        assert_eq!(r.status, want, "{form:?}: {}", r.text);
    }
    // A desk operator may not.
    let r = post("/operators/add", nina.clone(), vec![("name", "zed"), ("role", "admin"), ("password", PASSWORD)]).await;
    assert_eq!(r.status, 403);
    // Change role and businesses; disable: nina's session ends.
    let r = post("/operators/update", boss.clone(), vec![("name", "nina"), ("role", "manager"), ("businesses", "7")]).await;
    assert_eq!(r.status, 303);
    let (o, _) = s.store.operator_password("nina").await.unwrap().unwrap();
    assert_eq!((o.role, o.businesses.clone()), (Role::Manager, vec![7]));
    let r = post("/operators/update", boss.clone(), vec![("name", "nina"), ("role", "manager"), ("businesses", "7"), ("disabled", "on")]).await;
    assert_eq!(r.status, 303);
    let r = page(addr, "GET", "/tokens", Some(&nina), &[], None).await;
    assert_eq!(r.status, 303, "a disabled operator's session ends");
    let r = page(addr, "POST", "/login", None, &[], Some(&[("username", "nina"), ("password", PASSWORD)])).await;
    assert_eq!(r.status, 401, "and cannot sign in");
    let r = page(addr, "GET", "/operators", Some(&boss), &[], None).await;
    assert!(r.text.contains("<strong>nina</strong> <span class=\"status bad\">disabled</span>"), "{}", r.text);
    // Not themselves.
    for form in [
        vec![("name", "boss"), ("role", "desk"), ("businesses", "")],
        vec![("name", "boss"), ("role", "admin"), ("businesses", ""), ("disabled", "on")],
    ] {
        let r = post("/operators/update", boss.clone(), form).await;
        assert_eq!(r.status, 422);
    }
    let r = post("/operators/remove", boss.clone(), vec![("name", "boss")]).await;
    assert_eq!(r.status, 422);
    // New password, then remove.
    let r = post("/operators/password", boss.clone(), vec![("name", "desk"), ("password", "a brand new one")]).await;
    assert_eq!(r.status, 303);
    let r = page(addr, "POST", "/login", None, &[], Some(&[("username", "desk"), ("password", "a brand new one")])).await;
    assert_eq!(r.status, 303);
    let r = post("/operators/remove", boss.clone(), vec![("name", "nina")]).await;
    assert_eq!(r.status, 303);
    assert!(s.store.operator_password("nina").await.unwrap().is_none());
    let log = s
        .store
        .audit_log(&radgate::store::audit::Filter { actor: Some("ui:boss".into()), limit: 20, ..Default::default() })
        .await
        .unwrap();
    let actions: Vec<&str> = log.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["operator.remove", "operator.passwd", "operator.update", "operator.update", "operator.add"]);
    assert!(log.iter().all(|r| !r.after.as_deref().unwrap_or("").contains("argon2")));
    s.shutdown().await;
}
}

both_backends! {
/// Quick issue: a manager (here an admin) defines presets; the desk makes
/// 1..N codes of one with one click and lands on their print view; all in
/// the audit log; presets of other businesses are not offered.
#[tokio::test]
async fn presets_issue_codes_with_one_click(b: Backend) {
    let s = ui_server(b).await;
    let addr = s.api_addr.unwrap();
    let boss = sign_in(addr, "boss").await;
    let desk = sign_in(addr, "desk").await;
    let same = [("Sec-Fetch-Site", "same-origin")];
    let post = |path: &'static str, cookie: String, form: Vec<(&'static str, &'static str)>| async move {
        page(addr, "POST", path, Some(&cookie), &same, Some(&form)).await
    };
    let r = post("/presets/add", boss.clone(), vec![("name", "2 hours"), ("minutes", "120"), ("devices", "1")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    for (form, want) in [
        (vec![("name", "x"), ("minutes", "")], 422),
        (vec![("name", ""), ("minutes", "60")], 422),
        (vec![("name", "y"), ("minutes", "60"), ("devices", "0")], 422),
        (vec![("name", "2 hours"), ("minutes", "60")], 409),
    ] {
        let r = post("/presets/add", boss.clone(), form.clone()).await;
        assert_eq!(r.status, want, "{form:?}");
    }
    let r = page(addr, "GET", "/presets", Some(&desk), &[], None).await;
    assert_eq!(r.status, 403, "presets are the manager's");
    let r = post("/presets/add", desk.clone(), vec![("name", "z"), ("minutes", "60")]).await;
    assert_eq!(r.status, 403);
    // The desk sees the button on the Codes page.
    let preset = s.store.presets().await.unwrap().pop().unwrap();
    let r = page(addr, "GET", "/tokens", Some(&desk), &[], None).await;
    assert!(r.text.contains("<strong>2 hours</strong>") && r.text.contains("Issue and print"), "{}", r.text);
    let id = preset.id.to_string();
    let id: &'static str = Box::leak(id.into_boxed_str());
    let r = post("/issue", desk.clone(), vec![("preset", id), ("count", "3")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let to = r.header("location").unwrap().to_string();
    assert!(to.starts_with("/print?ids="), "{to}");
    let r = page(addr, "GET", &to, Some(&desk), &[], None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text.matches("<div class=\"receipt\">").count(), 3);
    let r = page(addr, "GET", &format!("{to}&as=card"), Some(&desk), &[], None).await;
    assert_eq!(r.text.matches("<article").count(), 3);
    let ids: Vec<i64> = to["/print?ids=".len()..].split(',').map(|v| v.parse().unwrap()).collect();
    for i in &ids {
        let t = s.store.token_by_id(*i).await.unwrap().unwrap();
        assert_eq!((t.minutes_included, t.user_limit), (120, Some(1)));
        assert_eq!(t.description.as_deref(), Some("2 hours"));
        assert_eq!(t.updated_by.as_deref(), Some("ui:desk"));
        assert_eq!(t.access_code.len(), 8);
    }
    let r = post("/issue", desk.clone(), vec![("preset", id), ("count", "51")]).await;
    assert_eq!(r.status, 422);
    // An operator of business 3 is not offered business 0's preset.
    let desk3 = sign_in(addr, "desk3").await;
    let r = page(addr, "GET", "/tokens", Some(&desk3), &[], None).await;
    assert!(!r.text.contains("Issue and print"));
    let r = post("/issue", desk3, vec![("preset", id)]).await;
    assert_eq!(r.status, 404);
    let r = post("/presets/remove", boss.clone(), vec![("id", id)]).await;
    assert_eq!(r.status, 303);
    let log = s
        .store
        .audit_log(&radgate::store::audit::Filter { limit: 20, ..Default::default() })
        .await
        .unwrap();
    let mine: Vec<(&str, &str)> = log
        .iter()
        .filter(|r| r.actor.starts_with("ui:"))
        .map(|r| (r.actor.as_str(), r.action.as_str()))
        .collect();
    assert_eq!(mine, [("ui:boss", "preset.remove"), ("ui:desk", "token.generate"), ("ui:boss", "preset.add")]);
    s.shutdown().await;
}
}

both_backends! {
/// GuestName at the desk: given when issuing from a preset, set and
/// cleared on the code's page, found by the search box, printed on the
/// receipt and the card, escaped everywhere.
#[tokio::test]
async fn the_desk_names_the_guest_and_finds_the_code_by_name(b: Backend) {
    let s = ui_server(b).await;
    let addr = s.api_addr.unwrap();
    let boss = sign_in(addr, "boss").await;
    let desk = sign_in(addr, "desk").await;
    let same = [("Sec-Fetch-Site", "same-origin")];
    let post = |path: String, cookie: String, form: Vec<(&'static str, &'static str)>| async move {
        page(addr, "POST", &path, Some(&cookie), &same, Some(&form)).await
    };
    // A preset with a data allowance (0 MB is refused).
    let r = post("/presets/add".into(), boss.clone(), vec![("name", "Day pass"), ("minutes", "600"), ("megabytes", "0")]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = post("/presets/add".into(), boss.clone(), vec![("name", "Day pass"), ("minutes", "600"), ("megabytes", "5000")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let preset = s.store.presets().await.unwrap().pop().unwrap();
    assert_eq!(preset.megabytes_included, Some(5000));
    let r = page(addr, "GET", "/presets", Some(&boss), &[], None).await;
    assert!(r.text.contains("10 hours · 5 GB of data"), "{}", r.text);
    let id: &'static str = Box::leak(preset.id.to_string().into_boxed_str());
    let r = page(addr, "GET", "/tokens", Some(&desk), &[], None).await;
    assert!(r.text.contains("name=\"guest_name\""), "the issue form asks for a name");
    let r = post("/issue".into(), desk.clone(), vec![("preset", id), ("guest_name", " Marie <Curie> ")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let to = r.header("location").unwrap().to_string();
    let tid: i64 = to["/print?ids=".len()..].parse().unwrap();
    let t = s.store.token_by_id(tid).await.unwrap().unwrap();
    assert_eq!(t.guest_name.as_deref(), Some("Marie <Curie>"));
    assert_eq!(t.megabytes_included, Some(5000), "the preset's data allowance");
    let r = page(addr, "GET", &to, Some(&desk), &[], None).await;
    assert!(r.text.contains("For <strong>Marie &#60;Curie&#62;</strong>"), "{}", r.text);
    let r = page(addr, "GET", &format!("/tokens/{tid}/card"), Some(&desk), &[], None).await;
    assert!(r.text.contains("For Marie &lt;Curie&gt;"), "{}", r.text);
    // Found by any part of the name, any case; shown under the code.
    s.token("OTHER1", 60, |_| {}).await;
    let r = page(addr, "GET", "/tokens?q=curie", Some(&desk), &[], None).await;
    assert!(r.text.contains(&t.access_code) && !r.text.contains("OTHER1"), "{}", r.text);
    assert!(r.text.contains("<div class=\"guest\">Marie &#60;Curie&#62;</div>"), "{}", r.text);
    // Changed on the code's page, then cleared; too long is refused.
    let r = post(format!("/tokens/{tid}/guest"), desk.clone(), vec![("guest_name", "Pierre")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location"), Some(format!("/tokens/{tid}?done=guest").as_str()));
    let r = page(addr, "GET", &format!("/tokens/{tid}?done=guest"), Some(&desk), &[], None).await;
    assert!(r.text.contains("Guest name saved.") && r.text.contains("<dd>Pierre</dd>"), "{}", r.text);
    let long: &'static str = Box::leak("x".repeat(201).into_boxed_str());
    let r = post(format!("/tokens/{tid}/guest"), desk.clone(), vec![("guest_name", long)]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = post("/issue".into(), desk.clone(), vec![("preset", id), ("guest_name", long)]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = post(format!("/tokens/{tid}/guest"), desk.clone(), vec![("guest_name", "  ")]).await;
    assert_eq!(r.status, 303);
    assert_eq!(s.store.token_by_id(tid).await.unwrap().unwrap().guest_name, None);
    // Each change is in the audit log.
    let log = s
        .store
        .audit_log(&radgate::store::audit::Filter { limit: 20, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(log.iter().filter(|r| r.action == "token.guest").count(), 2);
    s.shutdown().await;
}
}

both_backends! {
/// The dashboard (managers and admins): logins per hour, guests online,
/// minutes per day, codes issued and used — counted from sessions that
/// came through RADIUS and rows written directly, for the businesses the
/// operator may see; the desk gets 403; nothing a code carries reaches
/// the page.
#[tokio::test]
async fn the_dashboard_counts_only_what_the_operator_may_see(b: Backend) {
    let s = common::TestServer::start_on_with(b, |c| {
        c.api.listen = Some("127.0.0.1:0".parse().unwrap());
        c.server.timezone = chrono_tz::Europe::Berlin;
    })
    .await;
    let addr = s.api_addr.unwrap();
    for (name, role, businesses) in [
        ("desk", Role::Desk, vec![]),
        ("boss", Role::Admin, vec![]),
        ("mgr1", Role::Manager, vec![1]),
    ] {
        s.operator(name, role, businesses).await;
    }
    let one = s
        .token("BIZ1CODE", 600, |t| {
            t.business_id = Some(1);
            t.description = Some("<script>alert(1)</script>".into());
        })
        .await;
    let two = s
        .token("BIZ2CODE", 600, |t| {
            t.business_id = Some(2);
            t.description = Some("\"><svg onload=alert(2)>".into());
        })
        .await;
    // Business 1: a guest logs in through RADIUS and has used 20 minutes.
    let radius = common::Client::new(s.addr).await;
    assert!(radius.auth(1, "BIZ1CODE", common::Pw::Pap("BIZ1CODE"), Some("02:00:00:00:00:01")).await.is_accept());
    let acct = common::Client::new(s.acct_addr).await;
    let pkt = |status, t| common::Acct {
        status,
        user: "BIZ1CODE",
        session_id: "dash1",
        session_time: Some(t),
        mac: Some("02:00:00:00:00:01"),
        ..Default::default()
    };
    acct.acct(1, &pkt(common::START, 0)).await;
    acct.acct(2, &pkt(common::INTERIM, 1200)).await;
    // And rows written directly: two earlier sessions (an hour, half an
    // hour), a place that expired unused, and one from three weeks ago.
    // Business 2: four short sessions an hour ago and one running.
    let now = chrono::Utc::now().timestamp();
    let (a, b2) = (one.id, two.id);
    let closed = |token: i64, start: i64, end: i64, secs: i64| {
        format!(
            "INSERT INTO sessions (token_id, nas, device, state, created_at, updated_at, session_time, \
             stopped_at, close_reason) VALUES ({token}, '127.0.0.1', 'x', 'closed', {}, {}, {secs}, {}, 'stop');",
            now - start,
            now - end,
            now - end
        )
    };
    let mut sql = String::new();
    sql.push_str(&closed(a, 5 * 3600, 4 * 3600, 3600));
    sql.push_str(&closed(a, 3 * 3600, 5400, 1800));
    sql.push_str(&closed(a, 21 * 86_400, 21 * 86_400 - 600, 99_999));
    sql.push_str(&format!(
        "INSERT INTO sessions (token_id, nas, device, state, created_at, updated_at, expires_at) \
         VALUES ({a}, '127.0.0.1', 'y', 'pending', {}, {}, {});",
        now - 7200,
        now - 7200,
        now - 7140
    ));
    for _ in 0..4 {
        sql.push_str(&closed(b2, 3600, 1800, 60));
    }
    sql.push_str(&format!(
        "INSERT INTO sessions (token_id, nas, device, state, created_at, updated_at, session_time) \
         VALUES ({b2}, '127.0.0.1', 'z', 'active', {}, {now}, 300);",
        now - 600
    ));
    sql.push_str(&format!("UPDATE access_tokens SET first_used_on = {} WHERE id = {b2};", now - 3600));
    s.exec(&sql).await;

    // The desk: not for them, and not in their menu.
    let desk = sign_in(addr, "desk").await;
    let r = page(addr, "GET", "/dashboard", Some(&desk), &[], None).await;
    assert_eq!(r.status, 403);
    let r = page(addr, "GET", "/tokens", Some(&desk), &[], None).await;
    assert!(!r.text.contains("href=\"/dashboard\""));
    // Not signed in: to the sign-in page.
    let r = page(addr, "GET", "/dashboard", None, &[], None).await;
    assert_eq!(r.status, 303);

    // An admin sees every business.
    let boss = sign_in(addr, "boss").await;
    let r = page(addr, "GET", "/dashboard?x=%3Cscript%3E", Some(&boss), &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let t = &r.text;
    assert!(t.contains("<a href=\"/dashboard\" aria-current=\"page\">Dashboard</a>"));
    assert!(t.contains("Codes of all businesses; hours and days in Europe/Berlin time"), "{t}");
    assert!(t.contains("8 logins in the last 24 hours (since "), "{t}");
    assert!(t.contains("2 guests online now; at most "), "{t}");
    // 1200 + 3600 + 1800 + 4 × 60 + 300 seconds.
    assert!(t.contains("119 minutes used in the last 14 days"), "{t}");
    assert!(t.contains("2 codes issued and 2 first used in the last 14 days."), "{t}");
    assert!(t.contains("counted on the day each session started (Europe/Berlin time)"));
    assert_eq!(t.matches("role=\"img\"").count(), 4);
    assert_eq!(t.matches("<details>").count(), 4);
    assert!(t.contains("<desc id=\"logins-desc\">"));
    // Nothing a code carries reaches the page; no inline style or script
    // (only the UI's own ui.js).
    for bad in ["<script>", "onload", "alert(", "style="] {
        assert!(!t.contains(bad), "{bad}");
    }
    assert_eq!(t.matches("<script").count(), 1);
    assert!(t.contains("<script src=\"/ui.js\" defer></script>"));
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");

    // A manager of business 1 sees only business 1's numbers.
    let mgr1 = sign_in(addr, "mgr1").await;
    let r = page(addr, "GET", "/dashboard", Some(&mgr1), &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let t = &r.text;
    assert!(t.contains("Codes of business 1;"), "{t}");
    assert!(t.contains("3 logins in the last 24 hours (since "), "{t}");
    assert!(t.contains("1 guest online now; at most "), "{t}");
    assert!(t.contains("110 minutes used in the last 14 days"), "{t}");
    assert!(t.contains("1 code issued and 1 first used in the last 14 days."), "{t}");
    assert!(!t.contains("8 logins") && !t.contains("119 minutes"));
    s.shutdown().await;
}
}

/// Every page and form of the UI, with the least role that may use it.
/// `{id}` is a code's Id, `{b}` a batch's.
const ROUTES: &[(&str, &str, Role)] = &[
    ("GET", "/tokens", Role::Desk),
    ("GET", "/tokens/{id}", Role::Desk),
    ("POST", "/tokens/{id}/extend", Role::Desk),
    ("POST", "/tokens/{id}/revoke", Role::Desk),
    ("POST", "/tokens/{id}/unbind", Role::Desk),
    ("POST", "/tokens/{id}/guest", Role::Desk),
    ("GET", "/tokens/{id}/receipt", Role::Desk),
    ("GET", "/tokens/{id}/card", Role::Desk),
    ("GET", "/sessions", Role::Desk),
    ("POST", "/sessions/disconnect", Role::Desk),
    ("GET", "/print?ids={id}", Role::Desk),
    ("POST", "/issue", Role::Desk),
    ("GET", "/tokens/export", Role::Manager),
    ("GET", "/import", Role::Manager),
    ("POST", "/import", Role::Manager),
    ("GET", "/dashboard", Role::Manager),
    ("GET", "/batches", Role::Manager),
    ("GET", "/batches/{b}", Role::Manager),
    ("GET", "/batches/{b}/export", Role::Manager),
    ("POST", "/batches/{b}/extend", Role::Manager),
    ("POST", "/batches/{b}/revoke", Role::Manager),
    ("POST", "/batches/{b}/delete", Role::Manager),
    ("GET", "/print?batch={b}", Role::Manager),
    ("GET", "/presets", Role::Manager),
    ("POST", "/presets/add", Role::Manager),
    ("POST", "/presets/remove", Role::Manager),
    ("GET", "/audit", Role::Manager),
    ("GET", "/apikeys", Role::Manager),
    ("POST", "/apikeys/add", Role::Manager),
    ("POST", "/apikeys/revoke", Role::Manager),
    ("GET", "/operators", Role::Admin),
    ("POST", "/operators/add", Role::Admin),
    ("POST", "/operators/update", Role::Admin),
    ("POST", "/operators/password", Role::Admin),
    ("POST", "/operators/remove", Role::Admin),
];

/// Role checks on every route: without a session, to the sign-in page; a
/// role below the route's, 403; another site's form, 403 — and none of
/// these changes anything (the audit log stays as it was).
#[tokio::test]
async fn every_route_checks_the_session_the_role_and_the_site() {
    let s = ui_server(Backend::Sqlite).await;
    let addr = s.api_addr.unwrap();
    s.operator("mgr", Role::Manager, vec![]).await;
    let t = s
        .token("ROUTE1", 60, |t| {
            t.valid_to = Some("2099-01-01T00:00:00Z".into())
        })
        .await;
    s.batch("b", 0, 2, None).await;
    let b = s.store.batches(None, 0, 1).await.unwrap()[0].batch.id;
    let desk = sign_in(addr, "desk").await;
    let mgr = sign_in(addr, "mgr").await;
    let boss = sign_in(addr, "boss").await;
    let audit_len = || async {
        s.store
            .audit_log(&radgate::store::audit::Filter {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .len()
    };
    let before = audit_len().await;
    // A form that would change something if it were let through.
    let form: &[(&str, &str)] = &[
        ("name", "desk"),
        ("role", "admin"),
        ("password", "a long new password"),
        ("minutes", "60"),
        ("reason", "test"),
        ("confirm", "yes"),
        ("preset", "1"),
        ("count", "1"),
        ("id", "1"),
        ("token", "1"),
        ("session", "x"),
        ("guest_name", "Mallory"),
    ];
    for (method, path, least) in ROUTES {
        let path = path
            .replace("{id}", &t.id.to_string())
            .replace("{b}", &b.to_string());
        let body = (*method == "POST").then_some(form);
        let same = [("Sec-Fetch-Site", "same-origin")];
        let r = page(addr, method, &path, None, &same, body).await;
        assert_eq!(
            (r.status, r.header("location")),
            (303, Some("/login")),
            "{method} {path} without a session"
        );
        for (cookie, role) in [
            (&desk, Role::Desk),
            (&mgr, Role::Manager),
            (&boss, Role::Admin),
        ] {
            if role >= *least {
                continue;
            }
            let r = page(addr, method, &path, Some(cookie), &same, body).await;
            assert_eq!(r.status, 403, "{method} {path} as {role:?}: {}", r.text);
        }
        if *method == "POST" {
            let r = page(
                addr,
                method,
                &path,
                Some(&boss),
                &[("Sec-Fetch-Site", "cross-site")],
                body,
            )
            .await;
            assert_eq!(r.status, 403, "{method} {path} from another site");
        }
    }
    assert_eq!(audit_len().await, before, "nothing changed");
    assert_eq!(
        s.store
            .token_by_id(t.id)
            .await
            .unwrap()
            .unwrap()
            .minutes_included,
        60
    );
    s.shutdown().await;
}

/// A code with a data allowance: its page says what is left of it, the
/// list shows it beside the time, and its receipt and card say how much
/// data it gives.
#[tokio::test]
async fn a_data_allowance_shows_on_the_code_its_list_and_its_vouchers() {
    let s = ui_server(Backend::Sqlite).await;
    let t = s
        .token("DATA-5G", 120, |t| t.megabytes_included = Some(5_000))
        .await;
    s.exec("UPDATE access_tokens SET bytes_used = 1500000000 WHERE code_key = 'DATA-5G'")
        .await;
    let addr = s.api_addr.unwrap();
    let desk = sign_in(addr, "desk").await;
    let get = |path: String| {
        let desk = desk.clone();
        async move {
            let r = page(addr, "GET", &path, Some(&desk), &[], None).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            r.text
        }
    };
    let text = get(format!("/tokens/{}", t.id)).await;
    assert!(
        text.contains("<dt>Data left</dt><dd>3.5 GB of 5 GB</dd>"),
        "{text}"
    );
    let text = get("/tokens?q=DATA".into()).await;
    assert!(text.contains("2 hours · 3.5 GB"), "{text}");
    for view in ["receipt", "card"] {
        let text = get(format!("/tokens/{}/{view}", t.id)).await;
        assert!(
            text.contains("2 hours of access · 5 GB of data"),
            "{view}: {text}"
        );
    }
    s.shutdown().await;
}
