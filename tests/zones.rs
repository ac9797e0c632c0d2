//! `[[business]] timezone` (SPEC §12): zone-less times of a business's
//! codes are read and shown in its zone, `server.timezone` for the others
//! and for filters that span businesses. Business 1 is in Europe/Berlin,
//! business 2 in America/New_York, the server (business 0) in UTC: the same
//! wall time is three different instants. Through the real binary (CLI),
//! the HTTP API, the web UI and a reload.

mod common;

use common::cli_env::Env;
use common::http::{page, request, sign_in, upload};
use common::*;
use radgate::store::operators::Role;
use serde_json::{json, Value};

/// Extra `[server]` lines of the CLI tests' config, then the businesses.
const ZONES: &str = "timezone = \"UTC\"\n\n[[business]]\nid = 1\ntimezone = \"Europe/Berlin\"\n\n\
                     [[business]]\nid = 2\ntimezone = \"America/New_York\"\nclass = \"ny\"\n";

/// The line of a table that holds `code`.
fn line_of<'a>(table: &'a str, code: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.contains(code))
        .unwrap_or_else(|| panic!("{code} not in {table}"))
}

cli_both_backends! {
fn the_cli_reads_and_shows_each_code_in_its_business_zone(b: Backend) {
    let e = Env::with_config_on(b, ZONES);
    let window = ["--valid-from", "2026-07-01T09:00", "--valid-to", "2026-10-25T02:30"];
    let mk = |code: &str, business: &str| {
        e.create(code, 60, &[&["--business-id", business][..], &window[..]].concat())
    };
    // The same wall times, three instants. 2026-10-25T02:30 happens twice
    // in Berlin (clocks go back at 03:00 CEST): the earlier, CEST.
    let berlin = mk("BERLIN", "1");
    assert_eq!(berlin["ValidFrom"], "2026-07-01T07:00:00Z");
    assert_eq!(berlin["ValidTo"], "2026-10-25T00:30:00Z");
    let ny = mk("NEWYORK", "2");
    assert_eq!(ny["ValidFrom"], "2026-07-01T13:00:00Z");
    assert_eq!(ny["ValidTo"], "2026-10-25T06:30:00Z");
    let utc = mk("SERVER", "0");
    assert_eq!(utc["ValidFrom"], "2026-07-01T09:00:00Z");
    assert_eq!(utc["ValidTo"], "2026-10-25T02:30:00Z");
    // With an offset the time is absolute, whatever the business.
    let abs = e.create("ABSOLUTE", 60, &["--business-id", "2", "--valid-from", "2026-07-01T09:00Z"]);
    assert_eq!(abs["ValidFrom"], "2026-07-01T09:00:00Z");

    // 02:30 on 2026-03-29 does not exist in Berlin (02:00 -> 03:00): refused
    // for business 1, naming the field and the zone; fine in New York.
    let gap = ["--valid-from", "2026-03-29T02:30"];
    let err = e.fails(&[&["token", "create", "--code", "GAP1", "--minutes", "5", "--business-id", "1"][..], &gap[..]].concat(), 2);
    assert!(err.contains("ValidFrom: 2026-03-29 02:30 does not exist in Europe/Berlin"), "{err}");
    let gap_ny = e.create("GAP2", 5, &[&["--business-id", "2"][..], &gap[..]].concat());
    assert_eq!(gap_ny["ValidFrom"], "2026-03-29T06:30:00Z");

    // Shown in each code's zone: the wall times typed come back.
    for (code, zone) in [("BERLIN", "Europe/Berlin"), ("NEWYORK", "America/New_York"), ("SERVER", "UTC")] {
        let t = e.ok(&["token", "show", code]);
        assert!(line_of(&t, "ValidFrom").contains("2026-07-01 09:00"), "{t}");
        assert!(line_of(&t, "ValidTo").contains("2026-10-25 02:30"), "{t}");
        assert!(line_of(&t, "TimeZone").contains(zone), "{t}");
    }
    let t = e.ok(&["token", "show", "ABSOLUTE"]);
    assert!(line_of(&t, "ValidFrom").contains("2026-07-01 05:00"), "{t}");
    let o = e.run(&["token", "list"]);
    let (list, note) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    for code in ["BERLIN", "NEWYORK", "SERVER"] {
        let l = line_of(&list, code);
        assert!(l.contains("2026-07-01 09:00") && l.contains("2026-10-25 02:30"), "{list}");
    }
    assert!(
        note.contains("BusinessId 0: UTC, BusinessId 1: Europe/Berlin, BusinessId 2: America/New_York"),
        "{note}"
    );
    // JSON and CSV stay UTC.
    let csv = e.ok(&["token", "list", "--business-id", "2", "--format", "csv"]);
    let row = line_of(&csv, "NEWYORK");
    assert!(row.contains(",2026-07-01T13:00:00Z,2026-10-25T06:30:00Z,"), "{csv}");

    // Filters: in the zone of --business-id; server.timezone across businesses.
    assert_eq!(e.codes(&["--business-id", "2", "--valid-from", "2026-07-01T09:00"]), ["NEWYORK"]);
    assert_eq!(e.codes(&["--business-id", "1", "--valid-from", "2026-07-01T09:00"]), ["BERLIN"]);
    assert_eq!(e.codes(&["--valid-from", "2026-07-01T09:00"]), ["SERVER", "ABSOLUTE"]);
    assert_eq!(
        e.codes(&["--business-id", "1", "--from-valid-to", "2026-10-25T02:30", "--to-valid-to", "2026-10-25T02:30"]),
        ["BERLIN"]
    );
    assert_eq!(e.codes(&["--business-id", "1", "--valid-to", "2026-10-25"]), ["BERLIN"]);
    assert!(e.codes(&["--business-id", "2", "--to-valid-from", "2026-07-01T08:59"]).contains(&"GAP2".to_string()));
    let err = e.fails(&["token", "list", "--business-id", "1", "--from-valid-to", "2026-03-29T02:30"], 2);
    assert!(err.contains("ValidTo: 2026-03-29 02:30 does not exist in Europe/Berlin"), "{err}");
    assert!(e.codes(&["--business-id", "2", "--from-valid-to", "2026-03-29T02:30"]).contains(&"NEWYORK".to_string()));

    // Voucher sheets: each card in its business's zone.
    let html = e.ok(&["token", "print", "--include-unusable", "--from-valid-from", "2026-07-01", "--to-valid-from", "2026-07-01"]);
    for code in ["BERLIN", "NEWYORK", "SERVER"] {
        let card = html[html.find(&format!(">{code}<")).unwrap()..].split("</article>").next().unwrap();
        assert!(card.contains("2026-07-01 09:00") && card.contains("2026-10-25 02:30"), "{card}");
    }

    // Update: zone-less times in the code's zone; moved to another
    // business, in the new one's. Times not given keep their instant.
    let u = e.json(&["token", "update", "NEWYORK", "--valid-to", "2026-12-24T18:00", "--format", "json"]);
    assert_eq!(u["ValidTo"], "2026-12-24T23:00:00Z");
    let u = e.json(&["token", "update", "NEWYORK", "--business-id", "1", "--valid-to", "2026-12-24T18:00", "--format", "json"]);
    assert_eq!(u["ValidTo"], "2026-12-24T17:00:00Z");
    assert_eq!(u["ValidFrom"], "2026-07-01T13:00:00Z");
    let t = e.ok(&["token", "show", "NEWYORK"]);
    assert!(line_of(&t, "ValidFrom").contains("2026-07-01 15:00"), "now shown in Berlin: {t}");

    // Generate: the options' times in the zone of --business-id.
    let made = e.json(&["token", "generate", "--count", "2", "--minutes", "60", "--business-id", "2", "--valid-to", "2026-12-24T18:00", "--format", "json"]);
    for t in made.as_array().unwrap() {
        assert_eq!(t["ValidTo"], "2026-12-24T23:00:00Z", "{made}");
    }
    let err = e.fails(&["token", "generate", "--count", "2", "--minutes", "60", "--business-id", "1", "--valid-to", "2026-03-29T02:00"], 2);
    assert!(err.contains("ValidTo: 2026-03-29 02:00 does not exist in Europe/Berlin"), "{err}");

    // Import: each row's zone-less times in the zone of its BusinessId.
    let f = e.write(
        "in.csv",
        "BusinessId,AccessCode,MinutesIncluded,ValidFrom,CreatedOn\n\
         1,IMP1,60,2026-07-01T09:00,2026-06-01T12:00\n2,IMP2,60,2026-07-01T09:00,2026-06-01T12:00\n,IMP0,60,2026-07-01T09:00,\n",
    );
    e.ok(&["token", "import", &f]);
    for (code, from, created) in [
        ("IMP1", "2026-07-01T07:00:00Z", "2026-06-01T10:00:00Z"),
        ("IMP2", "2026-07-01T13:00:00Z", "2026-06-01T16:00:00Z"),
        ("IMP0", "2026-07-01T09:00:00Z", ""),
    ] {
        let v = e.json(&["token", "show", code, "--format", "json"]);
        assert_eq!(v["ValidFrom"], from, "{code}");
        if !created.is_empty() {
            assert_eq!(v["CreatedOn"], created, "{code}");
        }
    }
    let f = e.write("gap.csv", "BusinessId,AccessCode,MinutesIncluded,ValidTo\n2,OK2,60,2026-03-29T02:30\n1,GAP3,60,2026-03-29T02:30\n");
    let err = e.fails(&["token", "import", &f], 2);
    assert!(err.contains("line 3: ValidTo: 2026-03-29 02:30 does not exist in Europe/Berlin"), "{err}");
    assert!(!err.contains("line 2"), "{err}");

    // check-config names the zones.
    let summary = e.ok(&["check-config"]);
    assert!(summary.contains("time zone of business 1: Europe/Berlin"), "{summary}");
}
}

#[test]
fn a_bad_business_zone_is_refused_at_load_naming_the_key() {
    let e = Env::with_config(
        "timezone = \"UTC\"\n\n[[business]]\nid = 1\ntimezone = \"Europe/Berlin\"\n\n[[business]]\nid = 2\ntimezone = \"Europe/Atlantis\"\n",
    );
    for args in [&["check-config"][..], &["token", "list"][..]] {
        let err = e.fails(args, 3);
        assert!(
            err.contains(
                "radgate.toml: business[1].timezone: unknown time zone \"Europe/Atlantis\""
            ),
            "{err}"
        );
    }
}

async fn zoned_server(b: Backend) -> TestServer {
    TestServer::start_on_with(b, |c| {
        c.api.listen = Some("127.0.0.1:0".parse().unwrap());
        c.business_timezones = [
            (1, chrono_tz::Europe::Berlin),
            (2, chrono_tz::America::New_York),
        ]
        .into();
    })
    .await
}

const TOKENS: &str = "/api/spaces/accesstokens";

async fn api_key(s: &TestServer) -> String {
    s.store
        .create_api_key(
            "zones",
            &["*"],
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
async fn the_api_reads_each_code_in_its_business_zone_and_answers_in_utc(b: Backend) {
    let s = zoned_server(b).await;
    let addr = s.api_addr.unwrap();
    let k = api_key(&s).await;
    let create = |business: i64, code: &str, from: &str| {
        json!({"BusinessId": business, "AccessCode": code, "MinutesIncluded": 60,
               "ValidFrom": from, "ValidTo": "2026-10-25T02:30"})
        .to_string()
    };
    let mut ids = Vec::new();
    // ValidFrom 11:00 and ValidTo 02:30 (twice that night in Berlin: the
    // earlier) on each business's clock.
    for (business, code, from, to) in [
        (1, "API1", "2026-07-01T09:00:00Z", "2026-10-25T00:30:00Z"),
        (2, "API2", "2026-07-01T15:00:00Z", "2026-10-25T06:30:00Z"),
        (0, "API0", "2026-07-01T11:00:00Z", "2026-10-25T02:30:00Z"),
    ] {
        let r = request(addr, "POST", TOKENS, Some(&k), Some(&create(business, code, "2026-07-01T11:00"))).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let id = r.body["Value"]["Id"].as_i64().unwrap();
        let r = request(addr, "GET", &format!("{TOKENS}/{id}"), Some(&k), None).await;
        assert_eq!(r.body["ValidFrom"], from, "{code}");
        assert_eq!(r.body["ValidTo"], to, "{code}");
        ids.push(id);
    }
    // A DST gap of the business's zone: 400 naming ValidFrom.
    let r = request(addr, "POST", TOKENS, Some(&k), Some(&create(1, "GAP1", "2026-03-29T02:30"))).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["Errors"][0]["PropertyName"], "ValidFrom");
    assert!(r.body["Errors"][0]["Message"].as_str().unwrap().contains("does not exist in Europe/Berlin"), "{}", r.text);
    let r = request(addr, "POST", TOKENS, Some(&k), Some(&create(2, "GAP2", "2026-03-29T02:30"))).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // PUT: in the zone of the BusinessId it carries (here it moves API2
    // from New York to Berlin).
    let put = json!({"Id": ids[1], "BusinessId": 1, "AccessCode": "API2", "MinutesIncluded": 60,
                     "ValidFrom": "2026-07-01T11:00", "ValidTo": "2026-12-24T18:00"});
    let r = request(addr, "PUT", TOKENS, Some(&k), Some(&put.to_string())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let t = s.store.token_by_id(ids[1]).await.unwrap().unwrap();
    assert_eq!(radgate::token::parse::format_utc(radgate::token::ts(t.valid_to.unwrap())), "2026-12-24T17:00:00Z");
    let put = json!({"Id": ids[1], "BusinessId": 2, "AccessCode": "API2", "MinutesIncluded": 60,
                     "ValidFrom": "2026-07-01T11:00", "ValidTo": "2026-12-24T18:00"});
    let r = request(addr, "PUT", TOKENS, Some(&k), Some(&put.to_string())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let t = s.store.token_by_id(ids[1]).await.unwrap().unwrap();
    assert_eq!(radgate::token::parse::format_utc(radgate::token::ts(t.valid_to.unwrap())), "2026-12-24T23:00:00Z");

    // List filters: the zone of AccessToken_Business; server.timezone
    // (UTC) without it.
    let list = |q: &str| {
        let k = k.clone();
        let q = q.to_string();
        async move {
            let r = request(addr, "GET", &format!("{TOKENS}?{q}"), Some(&k), None).await;
            assert_eq!(r.status, 200, "{q}: {}", r.text);
            let mut codes: Vec<String> = r.body["Records"].as_array().unwrap().iter()
                .map(|t| t["AccessCode"].as_str().unwrap().to_string()).collect();
            codes.sort();
            codes
        }
    };
    let one_minute = "from_AccessToken_ValidFrom=2026-07-01T11:00&to_AccessToken_ValidFrom=2026-07-01T11:00";
    assert_eq!(list(&format!("AccessToken_Business=1&{one_minute}")).await, ["API1"]);
    assert_eq!(list(&format!("AccessToken_Business=2&{one_minute}")).await, ["API2"]);
    assert_eq!(list(&format!("AccessToken_Business=0&{one_minute}")).await, ["API0"]);
    assert_eq!(list(one_minute).await, ["API0"]);
    let r = request(addr, "GET", &format!("{TOKENS}?AccessToken_Business=1&from_AccessToken_ValidTo=2026-03-29T02:30"), Some(&k), None).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["Errors"][0]["PropertyName"], "from_AccessToken_ValidTo");
    s.shutdown().await;
}
}

both_backends! {
/// The web UI shows each code in its business's zone (and names it), and
/// its CSV import reads each row in the zone of its BusinessId.
#[tokio::test]
async fn the_web_ui_shows_each_code_in_its_business_zone(b: Backend) {
    let s = zoned_server(b).await;
    let addr = s.api_addr.unwrap();
    s.operator("boss", Role::Admin, vec![]).await;
    let boss = sign_in(addr, "boss").await;
    let csv = "BusinessId,AccessCode,MinutesIncluded,ValidFrom,ValidTo\n\
               1,UIBERLIN,60,2026-07-01T09:00,2099-10-25T02:30\n\
               2,UINY,60,2026-07-01T09:00,2099-10-25T02:30\n\
               0,UIUTC,60,2026-07-01T09:00,2099-10-25T02:30\n";
    let r = upload(addr, "/import", &boss, &[("file", Some("z.csv"), csv.as_bytes())]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut ids = Vec::new();
    for (code, from, zone) in [
        ("UIBERLIN", 1_782_889_200, "Europe/Berlin"),
        ("UINY", 1_782_910_800, "America/New_York"),
        ("UIUTC", 1_782_896_400, "UTC"),
    ] {
        let t = s.store.find_token(code).await.unwrap();
        assert_eq!(t.valid_from, Some(from), "{code}");
        ids.push(t.id);
        let r = page(addr, "GET", &format!("/tokens/{}", t.id), Some(&boss), &[], None).await;
        assert_eq!(r.status, 200);
        assert!(r.text.contains("<dd>2026-07-01 09:00</dd>"), "{code}: {}", r.text);
        assert!(r.text.contains("<dd>2099-10-25 02:30</dd>"), "{code}: {}", r.text);
        assert!(r.text.contains(&format!("<dt>Time zone</dt><dd>{zone}</dd>")), "{code}: {}", r.text);
        let r = page(addr, "GET", &format!("/tokens/{}/receipt", t.id), Some(&boss), &[], None).await;
        assert!(r.text.contains("2026-07-01 09:00") && r.text.contains("2099-10-25 02:30"), "{code}: {}", r.text);
    }
    // The list: each row's "valid until" in its zone.
    let r = page(addr, "GET", "/tokens", Some(&boss), &[], None).await;
    assert_eq!(r.text.matches("2099-10-25 02:30").count(), 3, "{}", r.text);
    // The A4 sheet of all three.
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    let r = page(addr, "GET", &format!("/print?ids={}&as=card", ids.join(",")), Some(&boss), &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.text.matches("2026-07-01 09:00").count(), 3, "{}", r.text);
    // A row in a gap of its own zone: named, nothing imported.
    let bad = b"BusinessId,AccessCode,MinutesIncluded,ValidFrom\n2,UIOK,60,2026-03-29T02:30\n1,UIGAP,60,2026-03-29T02:30\n";
    let r = upload(addr, "/import", &boss, &[("file", Some("gap.csv"), bad)]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("line 3: ValidFrom: 2026-03-29 02:30 does not exist in Europe/Berlin"), "{}", r.text);
    assert!(s.store.find_token("UIOK").await.is_err());
    s.shutdown().await;
}
}

/// A reload (SIGHUP) changes a business's zone for the next request:
/// nothing keeps the old one.
#[tokio::test]
async fn a_reload_changes_the_zone_of_a_business() {
    let s = zoned_server(Backend::Sqlite).await;
    let addr = s.api_addr.unwrap();
    let k = api_key(&s).await;
    let post = |code: &str| {
        json!({"BusinessId": 1, "AccessCode": code, "MinutesIncluded": 60, "ValidFrom": "2026-07-01T09:00"})
            .to_string()
    };
    let valid_from = |r: &Value| r["ValidFrom"].as_str().unwrap().to_string();
    let r = request(addr, "POST", TOKENS, Some(&k), Some(&post("BEFORE"))).await;
    let id = r.body["Value"]["Id"].as_i64().unwrap();
    let r = request(addr, "GET", &format!("{TOKENS}/{id}"), Some(&k), None).await;
    assert_eq!(valid_from(&r.body), "2026-07-01T07:00:00Z");
    let mut new = (*s.config).clone();
    new.business_timezones.insert(1, chrono_tz::Asia::Tokyo);
    let done = s.handle.as_ref().unwrap().reload(new).await;
    assert!(done.need_restart.is_empty(), "{:?}", done.need_restart);
    let r = request(addr, "POST", TOKENS, Some(&k), Some(&post("AFTER"))).await;
    let id = r.body["Value"]["Id"].as_i64().unwrap();
    let r = request(addr, "GET", &format!("{TOKENS}/{id}"), Some(&k), None).await;
    assert_eq!(valid_from(&r.body), "2026-07-01T00:00:00Z");
    s.shutdown().await;
}
