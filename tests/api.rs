//! The admin HTTP API (SPEC §7) over real TCP on an ephemeral loopback
//! port, against a real SQLite file: keys and roles, the Nexudus-compatible
//! access token endpoints, and the IronWifi connector.

mod common;

use common::http::request;
use common::*;
use serde_json::{json, Value};

const TOKENS: &str = "/api/spaces/accesstokens";

async fn api_server(b: Backend) -> TestServer {
    TestServer::start_on_with(b, |c| c.api.listen = Some("127.0.0.1:0".parse().unwrap())).await
}

async fn key(s: &TestServer, name: &str, roles: &[&str]) -> String {
    s.store
        .create_api_key(
            name,
            roles,
            "test",
            chrono::Utc::now().timestamp(),
            &common::test_actor(),
        )
        .await
        .unwrap()
        .0
}

both_backends! {
#[tokio::test]
async fn keys_and_roles(b: Backend) {
    let s = api_server(b).await;
    let addr = s.api_addr.unwrap();
    assert!(addr.ip().is_loopback());
    let lister = key(&s, "lister", &["AccessToken-List"]).await;

    let r = request(addr, "GET", TOKENS, None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(r.body["WasSuccessful"], false);
    let r = request(addr, "GET", TOKENS, Some("rgk_wrong"), None).await;
    assert_eq!(r.status, 401);

    let r = request(addr, "GET", TOKENS, Some(&lister), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = request(addr, "POST", TOKENS, Some(&lister), Some("{}")).await;
    assert_eq!(r.status, 403);
    assert!(r.body["Message"]
        .as_str()
        .unwrap()
        .contains("AccessToken-Create"));

    // A revoked key stops working at once; LastUsed was stamped.
    let (k, _) = s.store.revoke_api_key("lister", 0, &common::test_actor()).await.unwrap();
    assert!(k.last_used.is_some());
    let r = request(addr, "GET", TOKENS, Some(&lister), None).await;
    assert_eq!(r.status, 401);
    let r = request(addr, "GET", "/api/nothing", Some(&lister), None).await;
    assert_eq!(r.status, 404);
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn create_read_replace_delete_like_nexudus(b: Backend) {
    let s = api_server(b).await;
    let addr = s.api_addr.unwrap();
    let k = key(&s, "booking", &["*"]).await;

    // Create: the Nexudus envelope.
    let body = json!({
        "BusinessId": 3, "AccessCode": "Lobby42", "MinutesIncluded": 120,
        "ValidTo": "2099-07-21T12:45", "UserLimit": 2, "MacAddress": "aa-bb-cc-dd-ee-ff",
        "IsNew": true, "CustomFields": null
    });
    let r = request(addr, "POST", TOKENS, Some(&k), Some(&body.to_string())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["Status"], 200);
    assert_eq!(r.body["Message"], "AccessToken was successfully created.");
    assert_eq!(r.body["WasSuccessful"], true);
    assert_eq!(r.body["UpdatedBy"], "booking", "the key's name (SPEC §7)");
    assert_eq!(r.body["Errors"], Value::Null);
    for f in ["OpenInDialog", "OpenInWindow"] {
        assert_eq!(r.body[f], false);
    }
    let id = r.body["Value"]["Id"].as_i64().unwrap();

    // Read: the full record.
    let r = request(addr, "GET", &format!("{TOKENS}/{id}"), Some(&k), None).await;
    assert_eq!(r.status, 200);
    let t = &r.body;
    assert_eq!(t["AccessCode"], "Lobby42");
    assert_eq!(t["BusinessId"], 3);
    assert_eq!(t["MinutesIncluded"], 120);
    assert_eq!(t["MinutesLeft"], 120);
    assert_eq!(t["UserLimit"], 2);
    assert_eq!(t["MacAddress"], "AA:BB:CC:DD:EE:FF");
    assert_eq!(
        t["ValidTo"], "2099-07-21T12:45:00Z",
        "server.timezone is UTC here"
    );
    assert_eq!(t["IsNew"], false);
    assert_eq!(t["GuestName"], Value::Null);
    assert_eq!(t["ToStringText"], "Lobby42");
    assert!(t.get("UniqueId").is_some() && t.get("CreatedOn").is_some());

    // The same code again: 400 naming AccessCode.
    let r = request(addr, "POST", TOKENS, Some(&k), Some(&body.to_string())).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["Errors"][0]["PropertyName"], "AccessCode");
    assert_eq!(r.body["WasSuccessful"], false);

    // Replace (PUT): the full record with its Id.
    let put = json!({"Id": id, "BusinessId": 3, "AccessCode": "Lobby42", "MinutesIncluded": 60});
    let r = request(addr, "PUT", TOKENS, Some(&k), Some(&put.to_string())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["Message"], "AccessToken was successfully updated.");
    let t = s.store.token_by_id(id).await.unwrap().unwrap();
    assert_eq!(t.minutes_included, 60);
    // GuestName: set by PUT, filtered on, too long refused naming it.
    let named = json!({"Id": id, "BusinessId": 3, "AccessCode": "Lobby42", "MinutesIncluded": 60,
                       "GuestName": "Room 12: Ada"});
    let r = request(addr, "PUT", TOKENS, Some(&k), Some(&named.to_string())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = request(addr, "GET", &format!("{TOKENS}/{id}"), Some(&k), None).await;
    assert_eq!(r.body["GuestName"], "Room 12: Ada");
    let r = request(addr, "GET", &format!("{TOKENS}?AccessToken_GuestName=Room%2012%3A%20Ada"), Some(&k), None).await;
    assert_eq!(r.body["TotalItems"], 1, "{}", r.text);
    let long = json!({"BusinessId": 3, "AccessCode": "Lobby43", "MinutesIncluded": 60,
                      "GuestName": "x".repeat(201)});
    let r = request(addr, "POST", TOKENS, Some(&k), Some(&long.to_string())).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["Errors"][0]["PropertyName"], "GuestName");
    let r = request(addr, "PUT", TOKENS, Some(&k), Some(&put.to_string())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let t = s.store.token_by_id(id).await.unwrap().unwrap();
    assert_eq!(t.guest_name, None, "PUT replaces the whole record");
    assert_eq!(
        (t.user_limit, t.mac_address, t.valid_to),
        (None, None, None),
        "replaced"
    );
    // A code that cannot log in as stored is accepted (an admin may mean
    // it) with a warning in Message, as the CLI warns on stderr.
    let past = json!({"Id": id, "BusinessId": 3, "AccessCode": "Lobby42", "MinutesIncluded": 0,
                      "ValidTo": "2020-01-01T00:00"});
    let r = request(addr, "PUT", TOKENS, Some(&k), Some(&past.to_string())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["Message"],
        "AccessToken was successfully updated. \
         Warning: ValidTo 2020-01-01 00:00 (UTC) is already past: the code cannot be used. \
         Warning: MinutesIncluded is 0: the code cannot log in until minutes are added."
    );
    let r = request(
        addr,
        "POST",
        TOKENS,
        Some(&k),
        Some(&json!({"BusinessId": 0, "AccessCode": "OLD2", "MinutesIncluded": 5, "ValidTo": "2021-03-04T05:06"}).to_string()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.body["Message"].as_str().unwrap().ends_with(
            "Warning: ValidTo 2021-03-04 05:06 (UTC) is already past: the code cannot be used."
        ),
        "{}",
        r.text
    );
    let r = request(
        addr,
        "PUT",
        TOKENS,
        Some(&k),
        Some(
            &json!({"Id": 999999, "BusinessId": 0, "AccessCode": "X1", "MinutesIncluded": 1})
                .to_string(),
        ),
    )
    .await;
    assert_eq!(r.status, 404);

    // Delete.
    let r = request(addr, "DELETE", &format!("{TOKENS}/{id}"), Some(&k), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["Message"], "AccessToken was successfully deleted.");
    let r = request(addr, "GET", &format!("{TOKENS}/{id}"), Some(&k), None).await;
    assert_eq!(r.status, 404);
    let r = request(addr, "DELETE", &format!("{TOKENS}/{id}"), Some(&k), None).await;
    assert_eq!(r.status, 404);
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn bad_input_names_every_field(b: Backend) {
    let s = api_server(b).await;
    let addr = s.api_addr.unwrap();
    let k = key(
        &s,
        "c",
        &["AccessToken-Create", "AccessToken-Edit", "AccessToken-Read"],
    )
    .await;
    let r = request(addr, "POST", TOKENS, Some(&k), Some("{}")).await;
    assert_eq!(r.status, 400);
    let props: Vec<&str> = r.body["Errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["PropertyName"].as_str().unwrap())
        .collect();
    assert_eq!(props, ["BusinessId", "AccessCode", "MinutesIncluded"]);
    assert_eq!(r.body["Message"], "BusinessId: is a required field");
    assert_eq!(r.body["Errors"][1]["Message"], "is a required field");
    assert_eq!(r.body["Value"], Value::Null);

    // Only AccessCode missing: the SPEC's example, word for word.
    let r = request(
        addr,
        "POST",
        TOKENS,
        Some(&k),
        Some(r#"{"BusinessId":1,"MinutesIncluded":5}"#),
    )
    .await;
    assert_eq!(
        r.body,
        json!({"Message":"AccessCode: is a required field","Value":null,"Errors":[
            {"AttemptedValue":null,"Message":"is a required field","PropertyName":"AccessCode"}],
            "WasSuccessful":false})
    );

    let body = json!({"BusinessId": 1, "AccessCode": "OK1", "MinutesIncluded": -5,
                      "UserLimit": "many", "MacAddress": "zz", "ValidTo": "soon"});
    let r = request(addr, "POST", TOKENS, Some(&k), Some(&body.to_string())).await;
    assert_eq!(r.status, 400);
    let errs = r.body["Errors"].as_array().unwrap();
    let by = |p: &str| errs.iter().find(|e| e["PropertyName"] == p).cloned();
    assert_eq!(by("UserLimit").unwrap()["AttemptedValue"], "many");
    assert_eq!(by("MinutesIncluded").unwrap()["AttemptedValue"], -5);
    assert!(by("MacAddress").is_some() && by("ValidTo").is_some());

    for bad in ["not json", "[1,2]"] {
        let r = request(addr, "POST", TOKENS, Some(&k), Some(bad)).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.body["WasSuccessful"], false);
    }
    // Numbers: too large is said as such, not as "not whole"; 1e3 is whole.
    for (minutes, want) in [
        ("99999999999999999999999", "is too large"),
        ("18446744073709551615", "is too large"),
        ("\"99999999999999999999\"", "is too large"),
        ("1.5", "must be a whole number"),
        ("\"ten\"", "must be a whole number"),
    ] {
        let body = format!(r#"{{"BusinessId":1,"AccessCode":"BIG1","MinutesIncluded":{minutes}}}"#);
        let r = request(addr, "POST", TOKENS, Some(&k), Some(&body)).await;
        assert_eq!(r.status, 400, "{minutes}");
        assert_eq!(r.body["Errors"][0]["PropertyName"], "MinutesIncluded");
        assert_eq!(r.body["Errors"][0]["Message"], want, "{minutes}");
    }
    let r = request(
        addr,
        "POST",
        TOKENS,
        Some(&k),
        Some(r#"{"BusinessId":1,"AccessCode":"E3","MinutesIncluded":1e3}"#),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let id = r.body["Value"]["Id"].as_i64().unwrap();
    let r = request(addr, "GET", &format!("{TOKENS}/{id}"), Some(&k), None).await;
    assert_eq!(r.body["MinutesIncluded"], 1000, "{:?}", r.body);
    // A method the endpoint does not take, and a body over the limit, get
    // the same envelope as every other error.
    let r = request(addr, "DELETE", TOKENS, Some(&k), None).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.body["WasSuccessful"], false);
    let huge = format!(
        r#"{{"BusinessId":1,"AccessCode":"H1","MinutesIncluded":5,"Description":"{}"}}"#,
        "x".repeat(3 << 20)
    );
    let r = request(addr, "POST", TOKENS, Some(&k), Some(&huge)).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.body["WasSuccessful"], false);
    assert!(r.body["Message"].as_str().unwrap().contains("too large"));
    let r = request(
        addr,
        "PUT",
        TOKENS,
        Some(&k),
        Some(r#"{"BusinessId":1,"AccessCode":"A1","MinutesIncluded":5}"#),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["Errors"][0]["PropertyName"], "Id");
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn list_filters_ranges_order_and_pages(b: Backend) {
    let s = api_server(b).await;
    let addr = s.api_addr.unwrap();
    let k = key(&s, "l", &["AccessToken-List"]).await;
    for (code, minutes, biz) in [
        ("AAA1", 30, 1),
        ("BBB2", 60, 1),
        ("CCC3", 90, 2),
        ("DDD4", 120, 1),
    ] {
        s.token(code, minutes, |t| {
            t.business_id = Some(biz);
            t.valid_to = Some("2030-06-15T10:00".into());
        })
        .await;
    }
    let get = |q: &str| {
        let path = format!("{TOKENS}?{q}");
        let k = k.clone();
        async move { request(addr, "GET", &path, Some(&k), None).await }
    };
    let codes = |v: &Value| -> Vec<String> {
        v["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["AccessCode"].as_str().unwrap().to_string())
            .collect()
    };
    let r = get(
        "AccessToken_Business=1&from_AccessToken_MinutesIncluded=60&orderBy=MinutesIncluded&dir=-1",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(codes(&r.body), ["DDD4", "BBB2"]);
    assert_eq!(r.body["CurrentOrderField"], "MinutesIncluded");
    assert_eq!(r.body["CurrentSortDirection"], -1);
    // Summary records: without MinutesIncluded, ValidTo, UserLimit.
    let rec = &r.body["Records"][0];
    for gone in ["MinutesIncluded", "ValidTo", "UserLimit"] {
        assert!(rec.get(gone).is_none(), "{gone} in {rec}");
    }
    assert!(rec.get("MinutesLeft").is_some());

    let r = get("page=2&size=3").await;
    assert_eq!(codes(&r.body), ["DDD4"]);
    for (f, v) in [
        ("CurrentPage", json!(2)),
        ("CurrentPageSize", json!(3)),
        ("FirstItem", json!(4)),
        ("LastItem", json!(4)),
        ("TotalItems", json!(4)),
        ("TotalPages", json!(2)),
        ("HasNextPage", json!(false)),
        ("HasPreviousPage", json!(true)),
        ("PageNumber", json!(2)),
        ("PageSize", json!(3)),
    ] {
        assert_eq!(r.body[f], v, "{f}");
    }
    let r = get("AccessToken_AccessCode=ccc3").await;
    assert_eq!(codes(&r.body), ["CCC3"]);
    let r = get("to_AccessToken_ValidTo=2030-06-15T09:59").await;
    assert!(codes(&r.body).is_empty());
    let r =
        get("from_AccessToken_ValidTo=2030-06-15T10:00&to_AccessToken_ValidTo=2030-06-15T10:00")
            .await;
    assert_eq!(codes(&r.body).len(), 4);
    let r = get("AccessToken_Nonsense=1&size=0&dir=2").await;
    assert_eq!(r.status, 400);
    let props: Vec<&str> = r.body["Errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["PropertyName"].as_str().unwrap())
        .collect();
    assert_eq!(props, ["AccessToken_Nonsense", "size", "dir"]);
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn ironwifi_connector_decides_like_radius(b: Backend) {
    let s = TestServer::start_on_with(b, |c| {
        c.api.listen = Some("127.0.0.1:0".parse().unwrap());
        c.reply.defaults.rate_limit = Some("2M/5M".into());
    })
    .await;
    let addr = s.api_addr.unwrap();
    let k = key(&s, "ironwifi", &["Radius-Authorize"]).await;
    s.token("IRON1", 60, |t| {
        t.valid_to = Some("2099-01-01T00:00:00Z".into())
    })
    .await;
    let path = "/api/ironwifi/authorize";
    let r = request(
        addr,
        "POST",
        path,
        Some(&k),
        Some(r#"{"login":"iron1","password":"IRON1"}"#),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["valid_until"], "2099/01/01 00:00:00 +0000");
    let vf = r.body["valid_from"].as_str().unwrap();
    assert!(vf.ends_with(" +0000") && vf.len() == 25, "{vf}");
    let attrs = r.body["attributes"].as_array().unwrap();
    let get = |n: &str| {
        attrs
            .iter()
            .find(|a| a["name"] == n)
            .map(|a| (a["value"].as_str().unwrap().to_string(), a["op"].clone()))
    };
    assert_eq!(get("Session-Timeout"), Some(("3600".into(), json!(":="))));
    assert_eq!(get("Acct-Interim-Interval").unwrap().0, "300");
    assert_eq!(get("Mikrotik-Rate-Limit").unwrap().0, "2M/5M");
    assert_eq!(get("WISPr-Bandwidth-Max-Down").unwrap().0, "5000000");

    let r = request(
        addr,
        "POST",
        path,
        Some(&k),
        Some(r#"{"login":"NOPE","password":"NOPE"}"#),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body, json!({"errors": ["Unknown access code"]}));
    // What IronWifi sends for a CHAP login: no password. Said plainly.
    let r = request(
        addr,
        "POST",
        path,
        Some(&k),
        Some(r#"{"login":"IRON1","auth_port":"11111","mschap_challenge":"00"}"#),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["errors"][0]
            .as_str()
            .unwrap()
            .contains("PAP logins only"),
        "{}",
        r.text
    );
    // Input a NAS cannot have meant: refused with the field named, and no
    // decision made.
    for (body, says) in [
        (
            r#"{"login":"IRON1","password":"IRON1","mac":"garbage"}"#,
            "mac: ",
        ),
        (
            r#"{"login":123456,"password":"123456"}"#,
            "login: must be a string",
        ),
        (
            r#"{"login":"IRON1","password":123}"#,
            "password: must be a string",
        ),
    ] {
        let r = request(addr, "POST", path, Some(&k), Some(body)).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        let first = r.body["errors"][0].as_str().unwrap();
        assert!(first.starts_with(says), "{body}: {}", r.text);
    }
    // A MAC in another notation, or an empty one, is fine.
    for mac in ["aa-bb-cc-dd-ee-02", ""] {
        let body = json!({"login": "IRON1", "password": "IRON1", "mac": mac}).to_string();
        let r = request(addr, "POST", path, Some(&k), Some(&body)).await;
        assert_eq!(r.status, 200, "{mac}: {}", r.text);
    }
    // The connector is recorded like a login: LastAccess and FirstUsedOn.
    s.flush().await;
    assert!(s
        .store
        .find_token("IRON1")
        .await
        .unwrap()
        .first_used_on
        .is_some());
    // A key without the role gets 403 without a decision.
    let other = key(&s, "lister", &["AccessToken-List"]).await;
    let r = request(
        addr,
        "POST",
        path,
        Some(&other),
        Some(r#"{"login":"IRON1","password":"IRON1"}"#),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.body,
        json!({"errors": ["this API key lacks the role Radius-Authorize"]})
    );
    let r = request(addr, "POST", path, None, Some("{}")).await;
    assert_eq!(r.status, 401);
    assert!(r.body["errors"][0].as_str().unwrap().contains("API key"));
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn keys_created_through_the_api_carry_no_more_than_their_creator(b: Backend) {
    let s = api_server(b).await;
    let addr = s.api_addr.unwrap();
    let lister = key(&s, "lister", &["AccessToken-List", "AccessToken-Read"]).await;
    let admin = key(&s, "admin", &["*"]).await;
    let path = "/api/apikeys";

    let r = request(
        addr,
        "POST",
        path,
        Some(&lister),
        Some(r#"{"Name":"sub","Roles":["accesstoken-list"]}"#),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let sub = r.body["Value"]["Key"].as_str().unwrap().to_string();
    assert_eq!(r.body["Value"]["Roles"], json!(["AccessToken-List"]));
    // The new key works, with its role only.
    assert_eq!(
        request(addr, "GET", TOKENS, Some(&sub), None).await.status,
        200
    );
    assert_eq!(
        request(addr, "GET", &format!("{TOKENS}/1"), Some(&sub), None)
            .await
            .status,
        403
    );

    for roles in [r#"["AccessToken-Delete"]"#, r#"["*"]"#] {
        let body = format!(r#"{{"Name":"more","Roles":{roles}}}"#);
        let r = request(addr, "POST", path, Some(&lister), Some(&body)).await;
        assert_eq!(r.status, 403, "{roles}: {}", r.text);
    }
    let r = request(
        addr,
        "POST",
        path,
        Some(&admin),
        Some(r#"{"Name":"root2","Roles":["*"]}"#),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = request(
        addr,
        "POST",
        path,
        Some(&admin),
        Some(r#"{"Name":"root2","Roles":["*"]}"#),
    )
    .await;
    assert_eq!(r.status, 400, "name taken");
    assert_eq!(r.body["Errors"][0]["PropertyName"], "Name");
    let r = request(
        addr,
        "POST",
        path,
        Some(&admin),
        Some(r#"{"Roles":["boss"]}"#),
    )
    .await;
    assert_eq!(r.status, 400);
    let props: Vec<&str> = r.body["Errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["PropertyName"].as_str().unwrap())
        .collect();
    assert_eq!(props, ["Name", "Roles"]);
    assert_eq!(
        request(addr, "POST", path, None, Some("{}")).await.status,
        401
    );
    // A leaked key leaves no copies behind: revoking it revokes the keys it
    // created (and theirs), not the others.
    let r = request(
        addr,
        "POST",
        path,
        Some(&sub),
        Some(r#"{"Name":"subsub","Roles":["AccessToken-List"]}"#),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let subsub = r.body["Value"]["Key"].as_str().unwrap().to_string();
    let (_, with_it) = s.store.revoke_api_key("lister", 0, &common::test_actor()).await.unwrap();
    let names: Vec<&str> = with_it.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["sub", "subsub"]);
    for k in [&sub, &subsub] {
        assert_eq!(
            request(addr, "GET", TOKENS, Some(k), None).await.status,
            401
        );
    }
    assert_eq!(
        request(addr, "GET", TOKENS, Some(&admin), None)
            .await
            .status,
        200
    );
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn slow_clients_are_cut_off_and_do_not_hold_the_shutdown(b: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = api_server(b).await;
    let addr = s.api_addr.unwrap();
    // A body announced but not sent: without a key the answer (401) comes
    // at once, before any body is read.
    let mut nokey = tokio::net::TcpStream::connect(addr).await.unwrap();
    nokey
        .write_all(
            b"POST /api/spaces/accesstokens HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{",
        )
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), nokey.read(&mut buf))
        .await
        .expect("a request without a key waited for its body")
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 401 "),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    // With a key, a body that stalls is cut off (408) after 10 s.
    let k = key(&s, "slow", &["AccessToken-Create"]).await;
    let mut keyed = tokio::net::TcpStream::connect(addr).await.unwrap();
    keyed
        .write_all(
            format!(
                "POST /api/spaces/accesstokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {k}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let keyed_answer = tokio::spawn(async move {
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(std::time::Duration::from_secs(20), keyed.read(&mut buf))
            .await
            .expect("a stalled body held its connection for 20 s")
            .unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    // Half a request, never finished.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /api/spaces/accesstokens HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The server closes it after its header read timeout (10 s).
    let mut buf = [0u8; 512];
    let closed = tokio::time::timeout(std::time::Duration::from_secs(20), slow.read(&mut buf))
        .await
        .expect("the server kept a stalled connection open for 20 s");
    // Closed (EOF or reset), or told 408 before the close.
    let n = closed.unwrap_or(0);
    assert!(
        n == 0 || String::from_utf8_lossy(&buf[..n]).contains(" 408 "),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    let answer = keyed_answer.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
    // Another stalled connection does not hold the shutdown.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.shutdown())
        .await
        .expect("shutdown waited for an idle HTTP connection");
}
}

both_backends! {
#[tokio::test]
async fn replace_and_delete_disconnect_running_sessions(b: Backend) {
    use md5::{Digest, Md5};
    let nas = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = nas.local_addr().unwrap().port();
    let s = TestServer::start_on_with(b, |c| {
        c.api.listen = Some("127.0.0.1:0".parse().unwrap());
        c.clients[0].coa_port = Some(port);
    })
    .await;
    let addr = s.api_addr.unwrap();
    let k = key(&s, "edit", &["*"]).await;
    let t = s.token("RUNNING", 600, |_| {}).await;
    let acct = Client::new(s.acct_addr).await;
    for (i, sid) in [(1u8, "r-1"), (2, "r-2")] {
        acct.acct(
            i,
            &Acct {
                status: START,
                user: "running",
                session_id: sid,
                session_time: Some(0),
                ..Default::default()
            },
        )
        .await;
    }
    // Answers one Disconnect-Request with an ACK; returns its Acct-Session-Id.
    let answer = || async {
        let mut buf = [0u8; 4096];
        let (n, from) =
            tokio::time::timeout(std::time::Duration::from_secs(10), nas.recv_from(&mut buf))
                .await
                .expect("no Disconnect-Request")
                .unwrap();
        let req = &buf[..n];
        assert_eq!(req[0], 40);
        let sid = radgate::radius::codec::raw_attributes(&req[20..])
            .find(|(_, t, _)| *t == 44)
            .map(|(_, _, v)| String::from_utf8_lossy(v).into_owned())
            .unwrap();
        let mut b = vec![41, req[1], 0, 20];
        b.extend_from_slice(&req[4..20]);
        let mut h = Md5::new();
        h.update(&b);
        h.update(SECRET.as_bytes());
        let auth = h.finalize();
        b[4..20].copy_from_slice(&auth);
        nas.send_to(&b, from).await.unwrap();
        sid
    };
    // (That more minutes disconnect nobody is shown by the CLI test and the
    // unit test of AccessToken::shortened_by: the API uses the same rule.)
    let put = |m: i64| {
        json!({"Id": t.id, "BusinessId": 0, "AccessCode": "RUNNING", "MinutesIncluded": m})
            .to_string()
    };
    // Fewer minutes: both sessions are asked to end.
    let r = request(addr, "PUT", TOKENS, Some(&k), Some(&put(30))).await;
    assert_eq!(r.status, 200);
    let mut got = vec![answer().await, answer().await];
    got.sort();
    assert_eq!(got, ["r-1", "r-2"]);
    // Delete: again both.
    let r = request(
        addr,
        "DELETE",
        &format!("{TOKENS}/{}", t.id),
        Some(&k),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let mut got = vec![answer().await, answer().await];
    got.sort();
    assert_eq!(got, ["r-1", "r-2"]);
    s.shutdown().await;
}
}

// ------------------------------------------- keys limited to businesses

/// A key limited to `businesses` (SPEC §7, "Tenants").
async fn scoped_key(s: &TestServer, name: &str, roles: &[&str], businesses: &[i64]) -> String {
    s.store
        .create_scoped_api_key(
            name,
            roles,
            businesses,
            "test",
            chrono::Utc::now().timestamp(),
            &common::test_actor(),
        )
        .await
        .unwrap()
        .0
}

/// The 404 of a token Id, whether it never existed, is gone, or is another
/// business's (the very same body).
fn no_token(id: i64) -> Value {
    json!({
        "Message": format!("no access token with Id {id}"),
        "Value": null,
        "Errors": null,
        "WasSuccessful": false,
    })
}

both_backends! {
/// Every token route × role × scope: a key limited to businesses works on
/// its businesses' codes; another business's code is 404 (read, edit,
/// delete) exactly as a missing one, left out of lists (even when the
/// filter asks for that business), and refused on create and edit (403
/// naming BusinessId); a key of every business reaches them all.
#[tokio::test]
async fn keys_limited_to_businesses_reach_only_their_codes(b: Backend) {
    let s = api_server(b).await;
    let addr = s.api_addr.unwrap();
    let admin = key(&s, "admin", &["*"]).await;
    let new = |biz: i64, code: &str| {
        json!({"BusinessId": biz, "AccessCode": code, "MinutesIncluded": 60}).to_string()
    };
    let mut ids = std::collections::HashMap::new();
    for (biz, code) in [(3, "A3"), (3, "B3"), (4, "C4"), (5, "D5"), (5, "GONE5")] {
        let r = request(addr, "POST", TOKENS, Some(&admin), Some(&new(biz, code))).await;
        assert_eq!(r.status, 200, "{}", r.text);
        ids.insert(code, r.body["Value"]["Id"].as_i64().unwrap());
    }
    let id = |code: &str| ids[code];
    let gone = id("GONE5");
    let r = request(addr, "DELETE", &format!("{TOKENS}/{gone}"), Some(&admin), None).await;
    assert_eq!(r.status, 200);
    // The 404 of a code that does not exist, as a key of every business
    // sees it: the one every other business's code gets below.
    let r = request(addr, "GET", &format!("{TOKENS}/{gone}"), Some(&admin), None).await;
    assert_eq!((r.status, &r.body), (404, &no_token(gone)));

    // ---- List (AccessToken-List)
    let l3 = scoped_key(&s, "l3", &["AccessToken-List"], &[3]).await;
    let l34 = scoped_key(&s, "l34", &["AccessToken-List"], &[3, 4]).await;
    let lall = key(&s, "lall", &["AccessToken-List"]).await;
    let codes = |k: String, q: &'static str| async move {
        let r = request(addr, "GET", &format!("{TOKENS}{q}"), Some(&k), None).await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        let mut c: Vec<String> = r.body["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["AccessCode"].as_str().unwrap().to_string())
            .collect();
        c.sort();
        assert_eq!(r.body["TotalItems"], c.len(), "{q}");
        c
    };
    assert_eq!(codes(l3.clone(), "").await, ["A3", "B3"]);
    assert_eq!(codes(l34.clone(), "").await, ["A3", "B3", "C4"]);
    assert_eq!(codes(lall.clone(), "").await, ["A3", "B3", "C4", "D5"]);
    assert!(codes(l3.clone(), "?AccessToken_Business=5").await.is_empty());
    assert!(codes(l3.clone(), "?AccessToken_Business=4").await.is_empty());
    assert!(codes(l3.clone(), "?AccessToken_AccessCode=D5").await.is_empty());
    assert_eq!(codes(l3.clone(), "?AccessToken_Business=3").await, ["A3", "B3"]);
    assert_eq!(codes(l34.clone(), "?AccessToken_Business=4").await, ["C4"]);
    assert_eq!(codes(lall.clone(), "?AccessToken_Business=5").await, ["D5"]);

    // ---- Read (AccessToken-Read)
    let r3 = scoped_key(&s, "r3", &["AccessToken-Read"], &[3]).await;
    let rall = key(&s, "rall", &["AccessToken-Read"]).await;
    let read = |k: &str, code: &str| {
        let (k, path) = (k.to_string(), format!("{TOKENS}/{}", id(code)));
        async move { request(addr, "GET", &path, Some(&k), None).await }
    };
    let r = read(&r3, "A3").await;
    assert_eq!((r.status, &r.body["AccessCode"]), (200, &json!("A3")));
    for other in ["C4", "D5"] {
        let r = read(&r3, other).await;
        assert_eq!((r.status, &r.body), (404, &no_token(id(other))), "{other}");
    }
    let r = read(&r3, "GONE5").await;
    assert_eq!((r.status, &r.body), (404, &no_token(gone)));
    assert_eq!(read(&rall, "D5").await.status, 200);
    // The role is still checked first: a key without it, 403 on its own codes.
    assert_eq!(read(&l3, "A3").await.status, 403);

    // ---- Create (AccessToken-Create)
    let c3 = scoped_key(&s, "c3", &["AccessToken-Create"], &[3]).await;
    let c34 = scoped_key(&s, "c34", &["AccessToken-Create"], &[3, 4]).await;
    let call = key(&s, "call", &["AccessToken-Create"]).await;
    let r = request(addr, "POST", TOKENS, Some(&c3), Some(&new(3, "NEW3"))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = request(addr, "POST", TOKENS, Some(&c34), Some(&new(4, "NEW4"))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    for (k, biz) in [(&c3, 4), (&c3, 5), (&c34, 5)] {
        let r = request(addr, "POST", TOKENS, Some(k), Some(&new(biz, "OUT"))).await;
        assert_eq!(r.status, 403, "{biz}: {}", r.text);
        assert_eq!(r.body["WasSuccessful"], false);
        assert_eq!(r.body["Errors"][0]["PropertyName"], "BusinessId");
        assert_eq!(r.body["Errors"][0]["AttemptedValue"], biz);
        let m = r.body["Message"].as_str().unwrap();
        assert!(m.starts_with("BusinessId: this API key is limited to BusinessIds 3"), "{m}");
    }
    assert_eq!(count_codes(&s, "OUT").await, 0, "nothing created outside the key's businesses");
    // Bad input is still 400 first, naming every field.
    let r = request(addr, "POST", TOKENS, Some(&c3), Some(r#"{"AccessCode":"X"}"#)).await;
    assert_eq!(r.status, 400);
    let r = request(addr, "POST", TOKENS, Some(&call), Some(&new(5, "NEW5"))).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // ---- Edit (AccessToken-Edit): PUT never moves a code into or out of
    // the key's businesses.
    let e3 = scoped_key(&s, "e3", &["AccessToken-Edit"], &[3]).await;
    let eall = key(&s, "eall", &["AccessToken-Edit"]).await;
    let put = |biz: i64, code: &str, minutes: i64| {
        json!({"Id": id(code), "BusinessId": biz, "AccessCode": code, "MinutesIncluded": minutes})
            .to_string()
    };
    let r = request(addr, "PUT", TOKENS, Some(&e3), Some(&put(3, "A3", 90))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Out of its businesses: 403 naming BusinessId; the code stays.
    let r = request(addr, "PUT", TOKENS, Some(&e3), Some(&put(5, "A3", 91))).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["Errors"][0]["PropertyName"], "BusinessId");
    // Another business's code, named with the key's own business (into
    // it): 404 as if it did not exist; with its own business: 403.
    let r = request(addr, "PUT", TOKENS, Some(&e3), Some(&put(3, "D5", 92))).await;
    assert_eq!((r.status, &r.body), (404, &no_token(id("D5"))));
    let r = request(addr, "PUT", TOKENS, Some(&e3), Some(&put(5, "D5", 93))).await;
    assert_eq!(r.status, 403);
    let gone_put = json!({"Id": gone, "BusinessId": 3, "AccessCode": "GONE5", "MinutesIncluded": 1});
    let r = request(addr, "PUT", TOKENS, Some(&e3), Some(&gone_put.to_string())).await;
    assert_eq!((r.status, &r.body), (404, &no_token(gone)));
    let a3 = s.store.token_by_id(id("A3")).await.unwrap().unwrap();
    assert_eq!((a3.business_id, a3.minutes_included), (3, 90));
    let d5 = s.store.token_by_id(id("D5")).await.unwrap().unwrap();
    assert_eq!((d5.business_id, d5.minutes_included), (5, 60));
    let r = request(addr, "PUT", TOKENS, Some(&eall), Some(&put(5, "D5", 94))).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // ---- Delete (AccessToken-Delete)
    let d3 = scoped_key(&s, "d3", &["AccessToken-Delete"], &[3]).await;
    let dall = key(&s, "dall", &["AccessToken-Delete"]).await;
    let del = |k: &str, code: &str| {
        let (k, path) = (k.to_string(), format!("{TOKENS}/{}", id(code)));
        async move { request(addr, "DELETE", &path, Some(&k), None).await }
    };
    let r = del(&d3, "D5").await;
    assert_eq!((r.status, &r.body), (404, &no_token(id("D5"))));
    assert!(s.store.token_by_id(id("D5")).await.unwrap().is_some());
    assert_eq!(del(&d3, "B3").await.status, 200);
    assert!(s.store.token_by_id(id("B3")).await.unwrap().is_none());
    assert_eq!(del(&dall, "D5").await.status, 200);

    // ---- `*` limited to a business: everything, on its business only.
    let star3 = scoped_key(&s, "star3", &["*"], &[3]).await;
    assert_eq!(codes(star3.clone(), "").await, ["A3", "NEW3"]);
    assert_eq!(read(&star3, "C4").await.status, 404);
    assert_eq!(del(&star3, "C4").await.status, 404);
    s.shutdown().await;
}
}

/// How many codes named `code` exist, in any business.
async fn count_codes(s: &TestServer, code: &str) -> usize {
    let f = radgate::token::TokenFilter {
        code: Some(code.into()),
        page: 1,
        size: 100,
        ..Default::default()
    };
    s.store.list_tokens(&f, 0).await.unwrap().0.len()
}

both_backends! {
/// The IronWifi connector with a key limited to businesses: only those
/// businesses' codes log in; another business's code is refused exactly
/// as an unknown code. Codes are unique per BusinessId: a code in several
/// businesses is looked up only among the key's.
#[tokio::test]
async fn ironwifi_with_a_key_limited_to_businesses(b: Backend) {
    let s = api_server(b).await;
    let addr = s.api_addr.unwrap();
    for (biz, code) in [(3, "ONLY3"), (4, "ONLY4"), (5, "ONLY5"), (3, "BOTH"), (5, "BOTH"), (3, "TWICE"), (4, "TWICE")] {
        s.token(code, 60, |t| {
            t.business_id = Some(biz);
            t.valid_to = Some("2099-01-01T00:00:00Z".into());
        })
        .await;
    }
    let w3 = scoped_key(&s, "w3", &["Radius-Authorize"], &[3]).await;
    let w34 = scoped_key(&s, "w34", &["Radius-Authorize"], &[3, 4]).await;
    let wall = key(&s, "wall", &["Radius-Authorize"]).await;
    let auth = |k: &str, code: &str| {
        let k = k.to_string();
        let body = json!({"login": code, "password": code}).to_string();
        async move { request(addr, "POST", "/api/ironwifi/authorize", Some(&k), Some(&body)).await }
    };
    let unknown = auth(&w3, "NOSUCH").await;
    assert_eq!((unknown.status, &unknown.body), (403, &json!({"errors": ["Unknown access code"]})));

    // One business.
    assert_eq!(auth(&w3, "ONLY3").await.status, 200);
    assert_eq!(auth(&w3, "BOTH").await.status, 200, "business 3's BOTH");
    for other in ["ONLY4", "ONLY5"] {
        let r = auth(&w3, other).await;
        assert_eq!((r.status, &r.body), (unknown.status, &unknown.body), "{other}");
    }
    // Several businesses.
    assert_eq!(auth(&w34, "ONLY3").await.status, 200);
    assert_eq!(auth(&w34, "ONLY4").await.status, 200);
    assert_eq!(auth(&w34, "BOTH").await.status, 200, "only business 3's is the key's");
    let r = auth(&w34, "ONLY5").await;
    assert_eq!((r.status, &r.body), (unknown.status, &unknown.body));
    // In two of its businesses: as ambiguous as for a key of every business.
    let r = auth(&w34, "TWICE").await;
    assert_eq!((r.status, &r.body), (unknown.status, &unknown.body));
    let r = auth(&wall, "TWICE").await;
    assert_eq!((r.status, &r.body), (unknown.status, &unknown.body));
    // Every business.
    assert_eq!(auth(&wall, "ONLY5").await.status, 200);
    assert_eq!(auth(&wall, "ONLY4").await.status, 200);
    s.shutdown().await;
}
}

both_backends! {
/// Keys created through the API reach no further than their creator:
/// BusinessIds left out are the creator's; a subset is fine; a wider list
/// (or every business, `[]`, from a limited creator) is 403 naming
/// BusinessIds.
#[tokio::test]
async fn keys_created_through_the_api_reach_no_further_than_their_creator(b: Backend) {
    let s = api_server(b).await;
    let addr = s.api_addr.unwrap();
    let admin = key(&s, "admin", &["*"]).await;
    let k34 = scoped_key(&s, "k34", &["*"], &[3, 4]).await;
    let path = "/api/apikeys";
    let make = |k: &str, body: Value| {
        let (k, body) = (k.to_string(), body.to_string());
        async move { request(addr, "POST", path, Some(&k), Some(&body)).await }
    };
    let stored = |name: &'static str| {
        let store = s.store.clone();
        async move {
            store.api_keys(false).await.unwrap().into_iter().find(|k| k.name == name).map(|k| k.businesses)
        }
    };

    // Left out (or null): the creator's.
    let r = make(&k34, json!({"Name": "same", "Roles": ["AccessToken-List"]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["Value"]["BusinessIds"], json!([3, 4]));
    assert_eq!(stored("same").await, Some(vec![3, 4]));
    let r = make(&k34, json!({"Name": "null", "Roles": ["AccessToken-List"], "BusinessIds": null})).await;
    assert_eq!(r.body["Value"]["BusinessIds"], json!([3, 4]));
    // A subset (numbers as strings too, repeats dropped).
    let r = make(&k34, json!({"Name": "four", "Roles": ["*"], "BusinessIds": ["4", 4]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(stored("four").await, Some(vec![4]));
    let four = r.body["Value"]["Key"].as_str().unwrap().to_string();
    // Wider: 403, naming BusinessIds; nothing created.
    for (name, ids) in [("wide", json!([3, 5])), ("every", json!([]))] {
        let r = make(&k34, json!({"Name": name, "Roles": ["AccessToken-List"], "BusinessIds": ids})).await;
        assert_eq!(r.status, 403, "{name}: {}", r.text);
        assert_eq!(r.body["Errors"][0]["PropertyName"], "BusinessIds");
        assert_eq!(r.body["Errors"][0]["AttemptedValue"], ids);
        assert!(r.body["Message"].as_str().unwrap().contains("reaches only BusinessIds 3, 4"), "{}", r.text);
        assert_eq!(stored(name).await, None);
    }
    // And the key it made cannot widen itself back either.
    let r = make(&four, json!({"Name": "back", "Roles": ["*"], "BusinessIds": [3]})).await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Not a list of BusinessIds: 400 naming the field.
    for bad in [json!("3"), json!([-1]), json!([1.5]), json!([true]), json!({"a": 1})] {
        let r = make(&admin, json!({"Name": "bad", "Roles": ["*"], "BusinessIds": bad})).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert_eq!(r.body["Errors"][0]["PropertyName"], "BusinessIds", "{bad}");
    }
    // A key of every business gives any list, or every business.
    let r = make(&admin, json!({"Name": "seven", "Roles": ["*"], "BusinessIds": [7]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(stored("seven").await, Some(vec![7]));
    let r = make(&admin, json!({"Name": "all", "Roles": ["*"]})).await;
    assert_eq!(r.body["Value"]["BusinessIds"], json!([]));
    assert_eq!(stored("all").await, Some(vec![]));
    // The made keys are limited like their records say.
    let all = r.body["Value"]["Key"].as_str().unwrap().to_string();
    let new3 = json!({"BusinessId": 3, "AccessCode": "A3", "MinutesIncluded": 1}).to_string();
    assert_eq!(request(addr, "POST", TOKENS, Some(&all), Some(&new3)).await.status, 200);
    let new = json!({"BusinessId": 3, "AccessCode": "X3", "MinutesIncluded": 1}).to_string();
    assert_eq!(request(addr, "POST", TOKENS, Some(&four), Some(&new)).await.status, 403);
    s.shutdown().await;
}
}

both_backends! {
#[tokio::test]
async fn data_allowance_fields_filters_order_and_ironwifi(b: Backend) {
    let s = api_server(b).await;
    let addr = s.api_addr.unwrap();
    let k = key(&s, "booking", &["*"]).await;
    let post = |code: &str, mb: Value| {
        json!({"BusinessId": 0, "AccessCode": code, "MinutesIncluded": 60, "MegabytesIncluded": mb})
            .to_string()
    };
    let r = request(addr, "POST", TOKENS, Some(&k), Some(&post("D500", json!(500)))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.body["Value"]["Id"].as_i64().unwrap();
    let r = request(addr, "GET", &format!("{TOKENS}/{id}"), Some(&k), None).await;
    assert_eq!(r.body["MegabytesIncluded"], 500);
    assert_eq!(r.body["MegabytesLeft"], 500);
    for (code, mb) in [("D2000", json!(2000)), ("DNONE", Value::Null)] {
        let r = request(addr, "POST", TOKENS, Some(&k), Some(&post(code, mb))).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    // 0 is refused, naming the field.
    let r = request(addr, "POST", TOKENS, Some(&k), Some(&post("DZERO", json!(0)))).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["Errors"][0]["PropertyName"], "MegabytesIncluded");
    // Usage, then GET: MegabytesLeft rounded up; null without an allowance.
    s.exec("UPDATE access_tokens SET bytes_used = 100000001 WHERE code_key = 'D500'").await;
    let r = request(addr, "GET", &format!("{TOKENS}/{id}"), Some(&k), None).await;
    assert_eq!((r.body["MegabytesIncluded"].as_i64(), r.body["MegabytesLeft"].as_i64()), (Some(500), Some(400)));
    let codes = |q: &str| {
        let q = q.to_string();
        let k = k.clone();
        async move {
            let r = request(addr, "GET", &format!("{TOKENS}?{q}"), Some(&k), None).await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.body["Records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["AccessCode"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(codes("AccessToken_MegabytesIncluded=2000").await, ["D2000"]);
    assert_eq!(codes("AccessToken_MegabytesLeft=400").await, ["D500"]);
    assert_eq!(codes("from_AccessToken_MegabytesLeft=401").await, ["D2000"]);
    assert_eq!(codes("to_AccessToken_MegabytesIncluded=1000").await, ["D500"]);
    assert_eq!(
        codes("orderBy=MegabytesLeft&dir=-1&from_AccessToken_MegabytesIncluded=1").await,
        ["D2000", "D500"]
    );
    // PUT replaces the record: without MegabytesIncluded, unlimited.
    let put = json!({"Id": id, "BusinessId": 0, "AccessCode": "D500", "MinutesIncluded": 60});
    let r = request(addr, "PUT", TOKENS, Some(&k), Some(&put.to_string())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(s.store.token_by_id(id).await.unwrap().unwrap().megabytes_included, None);
    // The IronWifi connector returns the limit as attributes.
    let iron = key(&s, "ironwifi", &["Radius-Authorize"]).await;
    let r = request(
        addr,
        "POST",
        "/api/ironwifi/authorize",
        Some(&iron),
        Some(r#"{"login":"D2000","password":"D2000"}"#),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let attrs = r.body["attributes"].as_array().unwrap();
    let get = |n: &str| {
        attrs
            .iter()
            .find(|a| a["name"] == n)
            .map(|a| a["value"].as_str().unwrap().to_string())
    };
    // 2 GB: below 2^32, no Gigawords.
    assert_eq!(get("Mikrotik-Total-Limit").as_deref(), Some("2000000000"));
    assert_eq!(get("ChilliSpot-Max-Total-Octets").as_deref(), Some("2000000000"));
    assert_eq!(get("Mikrotik-Total-Limit-Gigawords"), None);
    s.shutdown().await;
}
}
