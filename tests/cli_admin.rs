//! Admin CLI for real venues (issue 6): bulk vouchers, Nexudus-style listing,
//! update / delete / import / export, printable voucher sheets, help,
//! completions and man page. The real `radgate` binary against a real
//! database file in a temp dir.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::cli_env::{records, Env};
use common::Backend;

fn codes_of(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["AccessCode"].as_str().unwrap().to_string())
        .collect()
}

const ALPHABET: &str = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";

// ---------------------------------------------------------------- generate

cli_both_backends! {
fn generate_ten_thousand_unique_codes_in_seconds(b: Backend) {
    let e = Env::on(b);
    e.create("EXISTING", 5, &[]);
    let start = Instant::now();
    let o = e.run(&[
        "token",
        "generate",
        "--count",
        "10000",
        "--minutes",
        "120",
        "--length",
        "6",
        "--prefix",
        "CAFE-",
        "--valid-to",
        "2030-12-31T23:59",
        "--user-limit",
        "2",
        "--description",
        "summer batch",
        "--format",
        "csv",
    ]);
    let took = start.elapsed();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Debug build on a small machine; a release build takes well under 1 s.
    assert!(took < Duration::from_secs(60), "took {took:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("created 10000 token(s)"), "{err}");
    // Not a terminal: no progress bar.
    assert!(!err.contains('\r') && !err.contains("[#"), "{err}");
    let csv = String::from_utf8(o.stdout).unwrap();
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("Id,UniqueId,BusinessId,AccessCode"));
    let mut seen = HashSet::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let code = f[3];
        let random = code.strip_prefix("CAFE-").expect(code);
        assert_eq!(random.len(), 6, "{code}");
        assert!(random.chars().all(|c| ALPHABET.contains(c)), "{code}");
        assert_eq!(f[4], "summer batch");
        assert_eq!(f[5], "120");
        assert_eq!(f[8], "2030-12-31T23:59:00Z");
        assert_eq!(f[9], "2");
        assert!(seen.insert(code.to_string()), "duplicate {code}");
    }
    assert_eq!(seen.len(), 10000);
    let v = e.json(&["token", "list", "--size", "1", "--format", "json"]);
    assert_eq!(v["TotalItems"], 10001);
}
}

cli_both_backends! {
fn generated_codes_are_unique_against_existing_ones(b: Backend) {
    let e = Env::on(b);
    // The same seed draws the same codes: the second batch starts with the
    // five codes of the first, which must be skipped.
    let args = |n: &str| {
        vec![
            "token",
            "generate",
            "--count",
            n,
            "--minutes",
            "10",
            "--length",
            "4",
            "--seed",
            "7",
            "--format",
            "json",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    };
    let a5 = args("5");
    let first = codes_of(&e.json(&a5.iter().map(String::as_str).collect::<Vec<_>>()));
    let a8 = args("8");
    let second = codes_of(&e.json(&a8.iter().map(String::as_str).collect::<Vec<_>>()));
    assert_eq!(first.len(), 5);
    assert_eq!(second.len(), 8);
    for c in &second {
        assert!(!first.contains(c), "{c} generated twice");
    }
    assert_eq!(e.codes(&[]).len(), 13);
    // Lower-case existing code blocks its upper-case twin too.
    let lower: Vec<String> = first.iter().map(|c| c.to_lowercase()).collect();
    let e2 = Env::on(b);
    for c in &lower {
        e2.create(c, 1, &[]);
    }
    let again = codes_of(&e2.json(&a5.iter().map(String::as_str).collect::<Vec<_>>()));
    for c in &again {
        assert!(!first.contains(c), "{c} collides case-insensitively");
    }
}
}

cli_both_backends! {
fn generate_refuses_bad_options_and_creates_nothing(b: Backend) {
    let e = Env::on(b);
    let cases: &[(&[&str], &str)] = &[
        (&["--count", "0", "--minutes", "5"], "--count"),
        (&["--count", "100001", "--minutes", "5"], "--count"),
        (
            &["--count", "5", "--minutes", "5", "--length", "3"],
            "--length",
        ),
        (&["--count", "5", "--minutes", "-5"], "MinutesIncluded"),
        (
            &["--count", "5", "--minutes", "5", "--user-limit", "0"],
            "UserLimit",
        ),
        (
            &["--count", "5", "--minutes", "5", "--mac", "nope"],
            "MacAddress",
        ),
        (
            &[
                "--count",
                "5",
                "--minutes",
                "5",
                "--valid-from",
                "2030-01-02",
                "--valid-to",
                "2030-01-01",
            ],
            "ValidTo",
        ),
        (
            &["--count", "5", "--minutes", "5", "--prefix", " X"],
            "--prefix:",
        ),
        (
            &["--count", "5", "--minutes", "5", "--length", "65"],
            "--length",
        ),
    ];
    for (args, field) in cases {
        let err = e.fails(&[&["token", "generate"], *args].concat(), 2);
        assert!(err.contains(field), "{args:?}: {err}");
    }
    assert!(e.codes(&[]).is_empty());
}
}

// SQLite's one write lock.
#[test]
fn generate_waits_for_a_concurrent_writer_instead_of_failing() {
    // The daemon holds the write lock for a moment; a CLI batch must wait
    // (BEGIN IMMEDIATE + busy timeout), not fail with "database is locked".
    let e = Env::new();
    e.create("FIRST", 1, &[]);
    let db = e.path("radgate.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut conn = rt.block_on(async {
        use sqlx::ConnectOptions;
        let mut c = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&db)
            .connect()
            .await
            .unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query("UPDATE access_tokens SET seconds_used = 1")
            .execute(&mut c)
            .await
            .unwrap();
        c
    });
    let child = Command::new(env!("CARGO_BIN_EXE_radgate"))
        .arg("--config")
        .arg(e.path("radgate.toml"))
        .args(["token", "generate", "--count", "50", "--minutes", "5"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    rt.block_on(async {
        sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
    });
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(e.codes(&[]).len(), 51);
}

// ---------------------------------------------------------------- list

/// Tokens with known fields and usage, set up through import.
fn fixture(b: Backend) -> Env {
    let e = Env::on(b);
    let csv = "AccessCode,MinutesIncluded,MinutesLeft,BusinessId,Description,ValidFrom,ValidTo,UserLimit,MacAddress,BookingGuid,VisitorGuid,LastAccess,CreatedOn\n\
        ALPHA,60,60,0,lobby,,,,,,,,2025-01-10T09:00Z\n\
        BRAVO,120,30,0,lobby,2025-01-01T00:00Z,2025-02-01T00:00Z,2,AA:BB:CC:DD:EE:01,67e55044-10b1-426f-9247-bb680e5fe0c8,,2025-01-15T12:45:30Z,2025-01-11T09:00Z\n\
        CHARLIE,30,0,0,bar,,2099-01-01T00:00Z,1,,,1b4e28ba-2fa1-11d2-883f-0016d3cca427,2025-01-20T08:00Z,2025-01-12T09:00Z\n\
        DELTA,90,90,3,,2099-01-01T00:00Z,,5,,,,,2025-01-13T09:00Z\n\
        ECHO,45,44,3,bar,,2020-06-01T00:00Z,,,,,2020-05-31T10:00Z,2025-01-14T09:00Z\n";
    let f = e.write("fixture.csv", csv);
    let out = e.ok(&["token", "import", &f]);
    assert!(out.contains("imported 5 token(s)"), "{out}");
    e
}

cli_both_backends! {
fn list_exact_filters_on_every_field(b: Backend) {
    let e = fixture(b);
    let all = e.json(&["token", "list", "--format", "json"]);
    let id_of = |code: &str| {
        all["Records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["AccessCode"] == code)
            .unwrap()
            .clone()
    };
    let bravo = id_of("BRAVO");
    let cases: Vec<(Vec<String>, &[&str])> = vec![
        (vec!["--id".into(), bravo["Id"].to_string()], &["BRAVO"]),
        (
            vec![
                "--unique-id".into(),
                bravo["UniqueId"].as_str().unwrap().to_uppercase(),
            ],
            &["BRAVO"],
        ),
        (vec!["--code".into(), "charlie".into()], &["CHARLIE"]),
        (vec!["--access-code".into(), "Delta".into()], &["DELTA"]),
        (vec!["--business-id".into(), "3".into()], &["DELTA", "ECHO"]),
        (
            vec!["--description".into(), "bar".into()],
            &["CHARLIE", "ECHO"],
        ),
        (vec!["--minutes-included".into(), "120".into()], &["BRAVO"]),
        (vec!["--minutes".into(), "45".into()], &["ECHO"]),
        (vec!["--minutes-left".into(), "0".into()], &["CHARLIE"]),
        (vec!["--minutes-left".into(), "44".into()], &["ECHO"]),
        (
            vec!["--valid-from".into(), "2025-01-01T00:00".into()],
            &["BRAVO"],
        ),
        (vec!["--valid-from".into(), "2099-01-01".into()], &["DELTA"]),
        (vec!["--valid-to".into(), "2020-06-01".into()], &["ECHO"]),
        (vec!["--user-limit".into(), "2".into()], &["BRAVO"]),
        (vec!["--mac".into(), "aa-bb-cc-dd-ee-01".into()], &["BRAVO"]),
        (
            vec!["--mac-address".into(), "aabb.ccdd.ee01".into()],
            &["BRAVO"],
        ),
        (
            vec![
                "--booking-guid".into(),
                "67E55044-10B1-426F-9247-BB680E5FE0C8".into(),
            ],
            &["BRAVO"],
        ),
        (
            vec![
                "--visitor-guid".into(),
                "1b4e28ba2fa111d2883f0016d3cca427".into(),
            ],
            &["CHARLIE"],
        ),
        // Minute precision: 12:45:30 is within 12:45.
        (
            vec!["--last-access".into(), "2025-01-15T12:45".into()],
            &["BRAVO"],
        ),
        (
            vec!["--created-on".into(), "2025-01-12".into()],
            &["CHARLIE"],
        ),
        (
            vec!["--updated-by".into(), "cli:tester".into()],
            &["ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO"],
        ),
        (vec!["--code".into(), "nothing".into()], &[]),
    ];
    for (args, want) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(e.codes(&args), *want, "{args:?}");
    }
    // UpdatedOn is the time of the import.
    let today = chrono::Utc::now().format("%Y-%m-%dT%H:%MZ").to_string();
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    assert!(e.codes(&["--updated-on", &yesterday]).is_empty());
    let _ = today;
}
}

cli_both_backends! {
fn list_ranges_are_inclusive(b: Backend) {
    let e = fixture(b);
    let cases: &[(&[&str], &[&str])] = &[
        (
            &[
                "--from-minutes-included",
                "60",
                "--to-minutes-included",
                "90",
            ],
            &["ALPHA", "DELTA"],
        ),
        (&["--from-minutes-left", "45"], &["ALPHA", "DELTA"]),
        (&["--to-minutes-left", "30"], &["BRAVO", "CHARLIE"]),
        (
            &["--from-valid-from", "2025-01-01T00:00"],
            &["BRAVO", "DELTA"],
        ),
        (&["--to-valid-from", "2025-01-01"], &["BRAVO"]),
        (
            &["--from-valid-to", "2025-02-01T00:00"],
            &["BRAVO", "CHARLIE"],
        ),
        (&["--to-valid-to", "2025-02-01T00:00"], &["BRAVO", "ECHO"]),
        (&["--from-user-limit", "2"], &["BRAVO", "DELTA"]),
        (&["--to-user-limit", "2"], &["BRAVO", "CHARLIE"]),
        (
            &[
                "--from-last-access",
                "2025-01-15T12:45",
                "--to-last-access",
                "2025-01-20",
            ],
            &["BRAVO", "CHARLIE"],
        ),
        (&["--to-last-access", "2025-01-15T12:44"], &["ECHO"]),
        (
            &[
                "--from-created-on",
                "2025-01-11",
                "--to-created-on",
                "2025-01-13",
            ],
            &["BRAVO", "CHARLIE", "DELTA"],
        ),
        (&["--to-created-on", "2025-01-10T09:00"], &["ALPHA"]),
        (
            &["--from-updated-on", "2025-01-01"],
            &["ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO"],
        ),
        (&["--to-updated-on", "2025-01-01"], &[]),
    ];
    for (args, want) in cases {
        assert_eq!(e.codes(args), *want, "{args:?}");
    }
    let err = e.fails(&["token", "list", "--from-valid-to", "soonish"], 2);
    assert!(err.contains("ValidTo: "), "{err}");
    let err = e.fails(&["token", "list", "--mac", "zz", "--unique-id", "x"], 2);
    assert!(
        err.contains("MacAddress: ") && err.contains("UniqueId: "),
        "{err}"
    );
}
}

cli_both_backends! {
fn list_shortcuts(b: Backend) {
    let e = fixture(b);
    // ALPHA: fresh. BRAVO: expired window. CHARLIE: no minutes left.
    // DELTA: not yet valid. ECHO: expired.
    assert_eq!(e.codes(&["--active"]), ["ALPHA"]);
    assert_eq!(e.codes(&["--expired"]), ["BRAVO", "ECHO"]);
    assert_eq!(e.codes(&["--unused"]), ["ALPHA", "DELTA"]);
    assert_eq!(e.codes(&["--exhausted"]), ["CHARLIE"]);
    assert_eq!(e.codes(&["--expired", "--business-id", "3"]), ["ECHO"]);
}
}

cli_both_backends! {
fn list_order_pages_and_envelope(b: Backend) {
    let e = fixture(b);
    assert_eq!(
        e.codes(&["--order-by", "MinutesLeft"]),
        ["CHARLIE", "BRAVO", "ECHO", "ALPHA", "DELTA"]
    );
    assert_eq!(
        e.codes(&["--order-by", "minutes-included", "--dir", "-1"]),
        ["BRAVO", "DELTA", "ALPHA", "ECHO", "CHARLIE"]
    );
    assert_eq!(
        e.codes(&["--order-by", "AccessCode", "--dir", "-1"]),
        ["ECHO", "DELTA", "CHARLIE", "BRAVO", "ALPHA"]
    );
    // NULLs first ascending; ties broken by Id.
    assert_eq!(
        e.codes(&["--order-by", "ValidTo"]),
        ["ALPHA", "DELTA", "ECHO", "BRAVO", "CHARLIE"]
    );
    let v = e.json(&[
        "token",
        "list",
        "--order-by",
        "LastAccess",
        "--dir",
        "-1",
        "--page",
        "2",
        "--size",
        "2",
        "--format",
        "json",
    ]);
    for k in [
        "Records",
        "CurrentPage",
        "CurrentPageSize",
        "CurrentOrderField",
        "CurrentSortDirection",
        "FirstItem",
        "LastItem",
        "TotalItems",
        "TotalPages",
        "HasNextPage",
        "HasPreviousPage",
    ] {
        assert!(v.get(k).is_some(), "{k} missing: {v}");
    }
    assert_eq!(v["CurrentPage"], 2);
    assert_eq!(v["CurrentPageSize"], 2);
    assert_eq!(v["CurrentOrderField"], "LastAccess");
    assert_eq!(v["CurrentSortDirection"], -1);
    assert_eq!(v["FirstItem"], 3);
    assert_eq!(v["LastItem"], 4);
    assert_eq!(v["TotalItems"], 5);
    assert_eq!(v["TotalPages"], 3);
    assert_eq!(v["HasNextPage"], true);
    assert_eq!(v["HasPreviousPage"], true);
    // LastAccess desc: CHARLIE, BRAVO, ECHO, then the two without (by Id desc).
    assert_eq!(records(&v), ["ECHO", "DELTA"]);
    let last = e.json(&["token", "list", "--page", "9", "--format", "json"]);
    assert_eq!(last["Records"], serde_json::json!([]));
    assert_eq!(last["FirstItem"], 0);
    assert_eq!(last["HasNextPage"], false);
    let err = e.fails(&["token", "list", "--order-by", "code; DROP TABLE x"], 2);
    assert!(err.contains("AccessCode"), "{err}");
    e.fails(&["token", "list", "--dir", "2"], 2);
    e.fails(&["token", "list", "--size", "0"], 2);
    // CSV has a header row and one line per token.
    let csv = e.ok(&["token", "list", "--expired", "--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("Id,UniqueId,BusinessId,AccessCode,Description,MinutesIncluded,MinutesLeft,ValidFrom,ValidTo"));
}
}

// ---------------------------------------------------------------- update

cli_both_backends! {
fn update_every_field_and_bump_audit(b: Backend) {
    let e = Env::on(b);
    let t = e.create("ROOM12", 60, &["--valid-from", "2030-01-01T00:00Z"]);
    let v = e.json(&[
        "token",
        "update",
        "room12",
        "--code",
        "ROOM-12",
        "--minutes",
        "90",
        "--valid-to",
        "2030-02-01T00:00Z",
        "--user-limit",
        "3",
        "--mac",
        "aabbccddeeff",
        "--description",
        "room twelve",
        "--business-id",
        "4",
        "--booking-guid",
        "67e55044-10b1-426f-9247-bb680e5fe0c8",
        "--visitor-guid",
        "{1B4E28BA-2FA1-11D2-883F-0016D3CCA427}",
        "--format",
        "json",
    ]);
    assert_eq!(v["Id"], t["Id"]);
    assert_eq!(v["UniqueId"], t["UniqueId"]);
    assert_eq!(v["AccessCode"], "ROOM-12");
    assert_eq!(v["MinutesIncluded"], 90);
    assert_eq!(v["ValidFrom"], "2030-01-01T00:00:00Z");
    assert_eq!(v["ValidTo"], "2030-02-01T00:00:00Z");
    assert_eq!(v["UserLimit"], 3);
    assert_eq!(v["MacAddress"], "AA:BB:CC:DD:EE:FF");
    assert_eq!(v["Description"], "room twelve");
    assert_eq!(v["BusinessId"], 4);
    assert_eq!(v["BookingGuid"], "67e55044-10b1-426f-9247-bb680e5fe0c8");
    assert_eq!(v["VisitorGuid"], "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
    assert_eq!(v["UpdatedBy"], "cli:tester");
    assert_eq!(v["CreatedOn"], t["CreatedOn"]);
    assert!(v["UpdatedOn"].as_str() >= t["UpdatedOn"].as_str());
    // Clear the optional fields.
    let v = e.json(&[
        "token",
        "update",
        &t["Id"].to_string(),
        "--valid-from",
        "",
        "--valid-to",
        "none",
        "--user-limit",
        "unlimited",
        "--mac",
        "",
        "--description",
        "",
        "--booking-guid",
        "",
        "--visitor-guid",
        "",
        "--format",
        "json",
    ]);
    for k in [
        "ValidFrom",
        "ValidTo",
        "UserLimit",
        "MacAddress",
        "Description",
        "BookingGuid",
        "VisitorGuid",
    ] {
        assert_eq!(v[k], Value::Null, "{k}");
    }
    assert_eq!(v["AccessCode"], "ROOM-12");
    assert_eq!(v["MinutesIncluded"], 90);
}
}

cli_both_backends! {
fn update_minutes_and_usage(b: Backend) {
    let e = Env::on(b);
    let f = e.write(
        "used.csv",
        "AccessCode,MinutesIncluded,MinutesLeft,LastAccess\nUSED,60,10,2025-01-01T10:00Z\n",
    );
    e.ok(&["token", "import", &f]);
    let v = e.json(&[
        "token",
        "update",
        "USED",
        "--add-minutes",
        "30",
        "--format",
        "json",
    ]);
    assert_eq!(v["MinutesIncluded"], 90);
    assert_eq!(v["MinutesLeft"], 40);
    let v = e.json(&[
        "token",
        "update",
        "USED",
        "--add-minutes",
        "-20",
        "--format",
        "json",
    ]);
    assert_eq!(v["MinutesIncluded"], 70);
    assert_eq!(v["MinutesLeft"], 20);
    let v = e.json(&[
        "token",
        "update",
        "USED",
        "--reset-usage",
        "--format",
        "json",
    ]);
    assert_eq!(v["MinutesIncluded"], 70);
    assert_eq!(v["MinutesLeft"], 70);
    let err = e.fails(&["token", "update", "USED", "--add-minutes", "-71"], 2);
    assert!(err.contains("MinutesIncluded: must be 0 or more"), "{err}");
    e.fails(
        &[
            "token",
            "update",
            "USED",
            "--minutes",
            "5",
            "--add-minutes",
            "1",
        ],
        2,
    );
}
}

cli_both_backends! {
fn update_validates_like_create_against_stored_values(b: Backend) {
    let e = Env::on(b);
    e.create(
        "WIN",
        60,
        &[
            "--valid-from",
            "2030-07-21T12:00",
            "--valid-to",
            "2030-07-22T12:00",
        ],
    );
    e.create("OTHER", 60, &[]);
    let cases: &[(&[&str], &str, i32)] = &[
        // Before the stored ValidFrom.
        (
            &["--valid-to", "2030-07-21T11:00"],
            "ValidTo: must be after ValidFrom",
            2,
        ),
        // After the stored ValidTo.
        (
            &["--valid-from", "2030-07-23"],
            "ValidTo: must be after ValidFrom",
            2,
        ),
        (&["--user-limit", "0"], "UserLimit: must be 1 or more", 2),
        (&["--user-limit", "lots"], "UserLimit: ", 2),
        (&["--mac", "aa:bb"], "MacAddress: ", 2),
        (&["--booking-guid", "x"], "BookingGuid: ", 2),
        (&["--valid-to", "someday"], "ValidTo: ", 2),
        (
            &["--code", "other"],
            "AccessCode: \"other\" already exists",
            2,
        ),
        (&["--code", " padded"], "AccessCode: ", 2),
        (&["--business-id", "-1"], "BusinessId: ", 2),
        (&[], "nothing to change", 2),
    ];
    for (args, msg, code) in cases {
        let err = e.fails(&[&["token", "update", "WIN"], *args].concat(), *code);
        assert!(err.contains(msg), "{args:?}: {err}");
    }
    // Nothing changed.
    let v = e.json(&["token", "show", "WIN", "--format", "json"]);
    assert_eq!(v["ValidTo"], "2030-07-22T12:00:00Z");
    assert_eq!(v["UpdatedOn"], v["CreatedOn"]);
    let err = e.fails(&["token", "update", "NOPE", "--minutes", "5"], 1);
    assert!(err.contains("NOPE"), "{err}");
}
}

// ---------------------------------------------------------------- delete

cli_both_backends! {
fn delete_several_codes_all_or_none(b: Backend) {
    let e = Env::on(b);
    for c in ["A1", "A2", "A3"] {
        e.create(c, 5, &[]);
    }
    let err = e.fails(&["token", "delete", "a1", "MISSING", "a2"], 1);
    assert!(
        err.contains("MISSING") && err.contains("nothing was deleted"),
        "{err}"
    );
    assert_eq!(e.codes(&[]).len(), 3);
    let out = e.ok(&["token", "delete", "a1", "A2"]);
    assert!(out.contains("(A1)") && out.contains("(A2)"), "{out}");
    assert_eq!(e.codes(&[]), ["A3"]);
    e.fails(&["token", "delete"], 2);
    e.fails(&["token", "delete", "A3", "--expired"], 2);
}
}

cli_both_backends! {
fn delete_by_filter_asks_first(b: Backend) {
    let e = fixture(b);
    // Answer no, or no answer at all: nothing happens.
    for answer in [&b"n\n"[..], b""] {
        let o = e.run_with(&["token", "delete", "--expired"], answer);
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("delete 2 token(s) (BRAVO, ECHO)?"), "{err}");
        assert!(err.contains("nothing deleted"), "{err}");
    }
    assert_eq!(e.codes(&[]).len(), 5);
    let o = e.run_with(&["token", "delete", "--expired"], b"y\n");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("deleted 2 token(s)"));
    assert_eq!(e.codes(&[]), ["ALPHA", "CHARLIE", "DELTA"]);
    // --yes skips the question.
    let out = e.ok(&["token", "delete", "--exhausted", "--yes"]);
    assert!(out.contains("deleted 1 token(s)"), "{out}");
    let out = e.ok(&["token", "delete", "--exhausted", "--yes"]);
    assert!(out.contains("nothing deleted"), "{out}");
    let out = e.ok(&["token", "delete", "--all", "--yes"]);
    assert!(out.contains("deleted 2 token(s)"), "{out}");
    assert!(e.codes(&[]).is_empty());
}
}

// ---------------------------------------------------------------- import / export

cli_both_backends! {
fn export_import_round_trip(b: Backend) {
    let e = fixture(b);
    let out = e.path("all.csv");
    let o = e.run(&["token", "export", "--output", out.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("exported 5 token(s)"));
    let csv = std::fs::read_to_string(&out).unwrap();
    assert_eq!(csv, e.ok(&["token", "export"]));
    assert_eq!(csv.lines().count(), 6);
    // Filters and order apply.
    let bar = e.ok(&[
        "token",
        "export",
        "--description",
        "bar",
        "--order-by",
        "AccessCode",
        "--dir",
        "-1",
    ]);
    let codes: Vec<&str> = bar
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap())
        .collect();
    assert_eq!(codes, ["ECHO", "CHARLIE"]);

    // Into another database: the same tokens, with their usage and history.
    let other = Env::on(b);
    let msg = other.ok(&["token", "import", out.to_str().unwrap()]);
    assert!(msg.contains("imported 5 token(s)"), "{msg}");
    let a = e.json(&["token", "list", "--format", "json"]);
    let bb = other.json(&["token", "list", "--format", "json"]);
    let strip = |v: &Value| {
        let mut rs = v["Records"].as_array().unwrap().clone();
        for r in &mut rs {
            let o = r.as_object_mut().unwrap();
            o.remove("UpdatedOn");
        }
        rs
    };
    assert_eq!(strip(&a), strip(&bb));
    // Importing again: every code (and UniqueId) exists; nothing imported.
    let err = other.fails(&["token", "import", out.to_str().unwrap()], 2);
    assert!(err.contains("5 bad row(s); nothing imported"), "{err}");
    assert!(
        err.contains("line 2: AccessCode: \"ALPHA\" already exists"),
        "{err}"
    );
    assert!(
        err.contains("--skip-existing imports the rows whose code is new"),
        "{err}"
    );
    // The same file with a new row, again with --skip-existing: the new row
    // only; the stored codes stay as they are.
    other.ok(&["token", "update", "ALPHA", "--add-minutes", "7"]);
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let mut row = vec![""; header.len()];
    row[header.iter().position(|h| *h == "AccessCode").unwrap()] = "NEWROW";
    row[header.iter().position(|h| *h == "MinutesIncluded").unwrap()] = "15";
    let more = other.write("more.csv", &format!("{csv}{}\n", row.join(",")));
    let msg = other.ok(&["token", "import", &more, "--skip-existing", "--dry-run"]);
    assert!(msg.contains("1 row(s) can be imported, 5 skipped"), "{msg}");
    let msg = other.ok(&["token", "import", &more, "--skip-existing"]);
    assert!(
        msg.contains("imported 1 token(s) from")
            && msg.contains(", 5 skipped (their code or UniqueId already exists)"),
        "{msg}"
    );
    assert_eq!(other.codes(&[]).len(), 6);
    let alpha = other.json(&["token", "show", "ALPHA", "--format", "json"]);
    let before = a["Records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["AccessCode"] == "ALPHA")
        .unwrap();
    assert_eq!(
        alpha["MinutesIncluded"].as_i64().unwrap(),
        before["MinutesIncluded"].as_i64().unwrap() + 7,
        "a skipped code is left as it is"
    );
    // A spreadsheet's semicolon-separated file reads the same.
    let fourth = Env::on(b);
    let semi = fourth.write(
        "semi.csv",
        "AccessCode;MinutesIncluded;Description\nSEMI1;60;\"lobby, desk\"\n",
    );
    fourth.ok(&["token", "import", &semi]);
    let v = fourth.json(&["token", "show", "SEMI1", "--format", "json"]);
    assert_eq!(
        (v["MinutesIncluded"].as_i64(), v["Description"].as_str()),
        (Some(60), Some("lobby, desk"))
    );
    // From stdin.
    let third = Env::on(b);
    let o = third.run_with(&["token", "import", "-"], csv.as_bytes());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(third.codes(&[]).len(), 5);
}
}

cli_both_backends! {
fn import_reports_every_bad_row_and_imports_nothing(b: Backend) {
    let e = Env::with_config_on(b, "timezone = \"Europe/Berlin\"");
    e.create("TAKEN", 5, &[]);
    let f = e.write(
        "bad.csv",
        "AccessCode,MinutesIncluded,ValidFrom,ValidTo,UserLimit,MacAddress\n\
         GOOD1,60,2025-07-21T12:45,,,\n\
         BAD-MIN,-5,,,,\n\
         BAD-NUM,ten,,,,\n\
         ,10,,,,\n\
         BAD-WINDOW,10,2025-07-21,2025-07-20,,\n\
         BAD-LIMIT,10,,,0,\n\
         BAD-MAC,10,,,,xx\n\
         GOOD1,10,,,,\n\
         taken,10,,,,\n\
         SHORT,10\n",
    );
    let err = e.fails(&["token", "import", &f], 2);
    for want in [
        "9 bad row(s); nothing imported",
        "line 3: MinutesIncluded: must be 0 or more",
        "line 4: MinutesIncluded: \"ten\" is not a whole number",
        "line 5: AccessCode: is a required field",
        "line 6: ValidTo: must be after ValidFrom",
        "line 7: UserLimit: must be 1 or more",
        "line 8: MacAddress: ",
        "line 9: AccessCode: \"GOOD1\" appears twice for BusinessId 0 (also on line 2)",
        // A stored code is named in the same report as the rows' own faults.
        "line 10: AccessCode: \"taken\" already exists",
        "line 11: has 2 fields, the header has 6",
    ] {
        assert!(err.contains(want), "missing {want:?} in: {err}");
    }
    assert_eq!(e.codes(&[]), ["TAKEN"]);
    // Conflicts with stored codes alone.
    let f = e.write(
        "dup.csv",
        "AccessCode,MinutesIncluded\nNEW1,5\ntaken,10\nNEW2,5\n",
    );
    let err = e.fails(&["token", "import", &f], 2);
    assert!(
        err.contains("line 3: AccessCode: \"taken\" already exists"),
        "{err}"
    );
    assert_eq!(e.codes(&[]), ["TAKEN"]);
    // Header problems.
    let f = e.write("hdr.csv", "Code,Minutes\nX,1\n");
    let err = e.fails(&["token", "import", &f], 2);
    assert!(err.contains("unknown column \"Code\""), "{err}");
    let f = e.write("hdr2.csv", "AccessCode\nX\n");
    let err = e.fails(&["token", "import", &f], 2);
    assert!(err.contains("MinutesIncluded is missing"), "{err}");
    e.fails(&["token", "import", "/nonexistent.csv"], 1);
    // Dry run checks everything and imports nothing; zone-less = local time.
    let f = e.write(
        "ok.csv",
        "accesscode,minutesincluded,validfrom\nNEW1,5,2025-07-21T12:45\n",
    );
    let out = e.ok(&["token", "import", &f, "--dry-run"]);
    assert!(out.contains("1 row(s) can be imported"), "{out}");
    assert_eq!(e.codes(&[]), ["TAKEN"]);
    e.ok(&["token", "import", &f]);
    let v = e.json(&["token", "show", "NEW1", "--format", "json"]);
    assert_eq!(v["ValidFrom"], "2025-07-21T10:45:00Z");
    assert_eq!(v["UpdatedBy"], "cli:tester");
}
}

// ---------------------------------------------------------------- print

cli_both_backends! {
fn print_fifty_vouchers_as_html(b: Backend) {
    let e = Env::on(b);
    e.ok(&[
        "token",
        "generate",
        "--count",
        "49",
        "--minutes",
        "120",
        "--valid-to",
        "2030-12-31T23:59",
    ]);
    e.create("café&<b>", 45, &[]);
    let out = e.path("vouchers.html");
    let o = e.run(&[
        "token",
        "print",
        "--network",
        "Café \"Central\"",
        "--login-url",
        "http://hotspot.lan/login?username={code}&password={code}",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("wrote 50 voucher(s) on 3 page(s)"));
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<article class=\"card").count(), 50);
    assert_eq!(html.matches("<section class=\"page\"").count(), 3);
    assert_eq!(html.matches("<svg").count(), 50);
    assert_eq!(html.matches("Café &quot;Central&quot;").count(), 50);
    assert!(html.contains("2 hours of access"));
    assert!(html.contains("Valid until <span class=\"when\">2030-12-31 23:59</span>"));
    assert!(html.contains("45 minutes of access"));
    // Escaped in text, URL-encoded in the QR code's URL.
    assert!(html.contains("café&amp;&lt;b&gt;"));
    assert!(!html.contains("<b>"));
    assert!(html.contains("username=caf%C3%A9%26%3Cb%3E&amp;password="));
    for code in e.codes(&[]) {
        if code.is_ascii() && code.chars().all(|c| c.is_ascii_alphanumeric()) {
            assert!(html.contains(&format!(">{code}</div>")), "{code} missing");
        }
    }
    // Without a login URL: no QR codes; to stdout; filters apply.
    let html = e.ok(&["token", "print", "--code", "café&<b>"]);
    assert_eq!(html.matches("<article").count(), 1);
    assert!(!html.contains("<svg"));
    let err = e.fails(&["token", "print", "--login-url", "http://x/"], 2);
    assert!(err.contains("{code}"), "{err}");
    let err = e.fails(&["token", "print", "--expired"], 1);
    assert!(err.contains("nothing to print"), "{err}");
}
}

cli_both_backends! {
/// A sheet is handed to guests: codes that cannot log in any more are left
/// out unless asked for (and counted); codes not valid yet are printed and
/// pointed out.
fn print_leaves_out_codes_that_can_no_longer_be_used(b: Backend) {
    let e = Env::on(b);
    e.create("GOOD1", 60, &[]);
    e.create("LATER1", 60, &["--valid-from", "2099-01-01T00:00"]);
    e.create("OLD1", 60, &["--valid-to", "2020-01-01T00:00"]);
    e.create("EMPTY1", 0, &[]);
    let csv = e.write(
        "spent.csv",
        "AccessCode,MinutesIncluded,SingleUse,SpentOn\nSPENT1,60,true,2024-01-01T00:00:00Z\n",
    );
    e.ok(&["token", "import", &csv]);
    let o = e.run(&["token", "print", "--unused"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let html = String::from_utf8_lossy(&o.stdout);
    assert_eq!(html.matches("<article").count(), 2, "{err}");
    for code in ["GOOD1", "LATER1"] {
        assert!(html.contains(&format!(">{code}</div>")), "{code} missing");
    }
    assert!(
        err.contains(
            "left out 3 code(s) that can no longer be used (1 expired, 1 spent, 1 used up); \
             --include-unusable prints them"
        ),
        "{err}"
    );
    assert!(err.contains("1 printed code(s) are not valid yet"), "{err}");

    let o = e.run(&["token", "print", "--include-unusable"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout)
            .matches("<article")
            .count(),
        5
    );
    assert!(
        err.contains(
            "warning: 3 printed code(s) can no longer be used (1 expired, 1 spent, 1 used up)"
        ),
        "{err}"
    );
    let err = e.fails(&["token", "print", "--code", "OLD1"], 1);
    assert!(err.contains("no usable token matches the filters"), "{err}");
}
}

#[test]
fn render_script_skips_without_chromium() {
    // Chromium is optional: without it the script says so and exits 0.
    let e = Env::new();
    e.create("RENDER1", 30, &[]);
    let html = e.path("v.html");
    e.ok(&["token", "print", "--output", html.to_str().unwrap()]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/render-vouchers.sh");
    let empty = e.path("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let o = Command::new("/bin/bash")
        .arg(&script)
        .arg(&html)
        .env("PATH", &empty)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("chromium not found; skipping"), "{err}");
}

// ---------------------------------------------------------------- usability

#[test]
fn every_command_has_help_with_examples() {
    let e = Env::new();
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["check-config"],
        &["completions"],
        &["man"],
        &["token"],
        &["token", "create"],
        &["token", "generate"],
        &["token", "show"],
        &["token", "list"],
        &["token", "update"],
        &["token", "delete"],
        &["token", "import"],
        &["token", "export"],
        &["token", "print"],
        &["session"],
        &["session", "list"],
        &["apikey"],
        &["apikey", "create"],
        &["apikey", "list"],
        &["apikey", "revoke"],
    ];
    for c in commands {
        let out = e.ok(&[*c, &["--help"]].concat());
        assert!(
            out.contains("Examples:"),
            "{c:?} --help has no examples:\n{out}"
        );
        assert!(out.contains("radgate"), "{c:?}: {out}");
    }
    let top = e.ok(&["--help"]);
    assert!(
        top.contains("Exit codes: 0 success; 1 operational failure"),
        "{top}"
    );
    let list = e.ok(&["token", "list", "--help"]);
    for flag in [
        "--from-minutes-left",
        "--to-valid-to",
        "--from-created-on",
        "--to-updated-on",
        "--order-by",
        "--dir",
        "--unused",
        "--exhausted",
        "--mac-address",
        "--visitor-guid",
    ] {
        assert!(list.contains(flag), "{flag} missing from token list --help");
    }
}

#[test]
fn completions_and_man_page() {
    let e = Env::new();
    let bash = e.ok(&["completions", "bash"]);
    assert!(
        bash.contains("_radgate()") && bash.contains("generate"),
        "{bash}"
    );
    let zsh = e.ok(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef radgate"), "{zsh}");
    let fish = e.ok(&["completions", "fish"]);
    assert!(fish.contains("complete -c radgate"), "{fish}");
    assert!(fish.contains("from-minutes-left"), "{fish}");
    e.fails(&["completions", "tcsh"], 2);
    let man = e.ok(&["man"]);
    assert!(
        man.starts_with(".ie \\n(.g") || man.contains(".TH radgate 1"),
        "{man}"
    );
    assert!(man.contains(".TH radgate 1"), "{man}");
    assert!(man.contains("token"), "{man}");
    // No page for clap's help subcommand is listed (none is written), and
    // the examples stay one per line (no-fill), as typed.
    assert!(!man.contains("radgate\\-help"), "{man}");
    assert!(man.contains("radgate\\-token(1)"), "{man}");
    assert!(
        man.contains(".SH EXAMPLES\n.nf\n  radgate serve\n  radgate token create \\-\\-code WELCOME1 \\-\\-minutes 60\n"),
        "{man}"
    );
    let dir = e.path("man1");
    std::fs::create_dir(&dir).unwrap();
    let o = e.run(&["man", "--dir", dir.to_str().unwrap()]);
    assert!(o.status.success());
    for page in [
        "radgate.1",
        "radgate-token.1",
        "radgate-token-list.1",
        "radgate-token-print.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
    let written: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!written.iter().any(|p| p.contains("help")), "{written:?}");
    // Every page another page refers to is written.
    for page in &written {
        let text = std::fs::read_to_string(dir.join(page)).unwrap();
        for r in text.lines().filter_map(|l| l.strip_suffix("(1)")) {
            let file = format!("{}.1", r.replace("\\-", "-"));
            if r.starts_with("radgate") {
                assert!(
                    written.contains(&file),
                    "{page} refers to {file}, not written"
                );
            }
        }
    }
    // Completions and man pages need no configuration, even a broken one.
    std::fs::write(e.path("radgate.toml"), "[server]\nbogus = 1\n").unwrap();
    e.ok(&["completions", "bash"]);
    e.ok(&["man"]);
    e.fails(&["token", "list"], 3);
}

#[test]
fn progress_bar_and_colour_on_a_terminal() {
    // `script` runs the command on a pseudo-terminal.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!(
            "SKIP progress_bar_and_colour_on_a_terminal: `script` (util-linux) not installed"
        );
        return;
    }
    let e = Env::new();
    let bin = env!("CARGO_BIN_EXE_radgate");
    let cfg = e.path("radgate.toml");
    let cmd = format!(
        "{bin} --config {c} token generate --count 600 --minutes 5 --format json >/dev/null; \
         {bin} --config {c} token show NOPE",
        c = cfg.display()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("generating codes ["), "{out}");
    assert!(out.contains("600/600 100%"), "{out}");
    assert!(out.contains("\x1b[1;31mradgate: error:\x1b[0m"), "{out}");
    assert_eq!(e.codes(&[]).len(), 600);
}

cli_both_backends! {
fn exit_codes_and_no_colour_in_pipes(b: Backend) {
    let e = Env::on(b);
    // 2: invalid input (clap and field validation alike).
    e.fails(&["token", "list", "--bogus"], 2);
    e.fails(&["token", "generate", "--count", "x", "--minutes", "1"], 2);
    // 1: operational failure.
    e.fails(&["token", "show", "NOPE"], 1);
    // No escape sequences when stdout/stderr are pipes, even with an error.
    let o = e.run(&["token", "show", "NOPE"]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains('\x1b'));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("radgate: error: "));
    e.create("C1", 5, &[]);
    let table = e.ok(&["token", "list"]);
    assert!(table.starts_with("Id"), "{table}");
}
}

// ------------------------------------------------ validity from first use

cli_both_backends! {
fn valid_for_and_single_use_through_the_cli(b: Backend) {
    let e = Env::on(b);
    let t = e.create("DAY1", 600, &["--valid-for", "24h", "--single-use"]);
    assert_eq!(t["ValidForMinutes"], 1440);
    assert_eq!(t["SingleUse"], true);
    assert_eq!(t["FirstUsedOn"], Value::Null);
    assert_eq!(t["SpentOn"], Value::Null);
    assert_eq!(t["ExpiresOn"], Value::Null, "the window has not started");
    let plain = e.create("PLAIN1", 60, &[]);
    assert_eq!(plain["ValidForMinutes"], Value::Null);
    assert_eq!(plain["SingleUse"], false);

    // Every spelling of a span; a bad one names the field.
    for (span, minutes) in [
        ("90", 90),
        ("90m", 90),
        ("1h30m", 90),
        ("7d", 10080),
        ("2w", 20160),
    ] {
        let code = format!("SPAN{minutes}X{}", span.len());
        let t = e.create(&code, 60, &["--valid-for", span]);
        assert_eq!(t["ValidForMinutes"], minutes, "{span}");
    }
    for bad in ["0", "soon", "-3h", "1.5h"] {
        let err = e.fails(
            &[
                "token",
                "create",
                "--code",
                "BAD1",
                "--minutes",
                "60",
                "--valid-for",
                bad,
            ],
            2,
        );
        assert!(err.contains("ValidForMinutes: "), "{bad}: {err}");
    }

    // Table view explains it.
    let show = e.ok(&["token", "show", "DAY1"]);
    assert!(show.contains("1440 (1d from the first login)"), "{show}");
    assert!(show.contains("SingleUse"), "{show}");

    // Update: change, clear, switch off; exact filters.
    let t = e.json(&[
        "token",
        "update",
        "DAY1",
        "--valid-for",
        "2h",
        "--format",
        "json",
    ]);
    assert_eq!(t["ValidForMinutes"], 120);
    assert_eq!(t["SingleUse"], true, "kept");
    assert_eq!(e.codes(&["--single-use", "true"]), ["DAY1"]);
    assert_eq!(e.codes(&["--valid-for-minutes", "120"]), ["DAY1"]);
    let t = e.json(&[
        "token",
        "update",
        "DAY1",
        "--valid-for",
        "",
        "--single-use",
        "no",
        "--format",
        "json",
    ]);
    assert_eq!(t["ValidForMinutes"], Value::Null);
    assert_eq!(t["SingleUse"], false);
    assert!(e.codes(&["--single-use", "yes"]).is_empty());
    // Bare, as on create.
    let t = e.json(&[
        "token",
        "update",
        "DAY1",
        "--single-use",
        "--format",
        "json",
    ]);
    assert_eq!(t["SingleUse"], true);
    e.ok(&["token", "update", "DAY1", "--single-use", "false"]);
    let err = e.fails(&["token", "update", "DAY1", "--single-use", "maybe"], 2);
    assert!(err.contains("must be true or false"), "{err}");

    // Generate takes them too.
    let v = e.json(&[
        "token",
        "generate",
        "--count",
        "3",
        "--minutes",
        "60",
        "--valid-for",
        "1d",
        "--single-use",
        "--format",
        "json",
    ]);
    for r in v.as_array().unwrap() {
        assert_eq!(r["ValidForMinutes"], 1440);
        assert_eq!(r["SingleUse"], true);
    }
}
}

cli_both_backends! {
fn first_use_state_in_shortcuts_export_and_import(b: Backend) {
    let e = Env::on(b);
    e.create("USED", 600, &["--valid-for", "1h", "--single-use"]);
    e.create("FRESH", 600, &["--valid-for", "1h"]);
    e.create("GONE", 600, &["--single-use"]);
    // What the server records: USED was first used 2 hours ago (its hour is
    // over); GONE's session ended.
    let now = chrono::Utc::now().timestamp();
    let sql = format!(
        "UPDATE access_tokens SET first_used_on = {} WHERE code_key = 'USED'; \
         UPDATE access_tokens SET first_used_on = {}, spent_on = {} WHERE code_key = 'GONE';",
        now - 7200,
        now - 600,
        now - 60
    );
    e.exec(&sql);

    assert_eq!(e.codes(&["--expired"]), ["USED"]);
    assert_eq!(e.codes(&["--spent"]), ["GONE"]);
    assert_eq!(e.codes(&["--active"]), ["FRESH"]);
    let used = &e.json(&["token", "show", "USED", "--format", "json"]);
    assert_eq!(
        used["ExpiresOn"].as_str().unwrap(),
        radgate::token::parse::format_utc(radgate::token::ts(now - 3600))
    );
    let day = chrono::DateTime::from_timestamp(now - 7200, 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    assert!(e
        .codes(&["--first-used-on", &day])
        .contains(&"USED".to_string()));

    // Export carries the new columns; import restores them.
    let csv = e.ok(&["token", "export", "--order-by", "AccessCode"]);
    let header = csv.lines().next().unwrap();
    assert!(
        header.ends_with(
            "ValidForMinutes,SingleUse,FirstUsedOn,SpentOn,RateLimit,ExpiresOn,\
             GuestName,MegabytesIncluded,MegabytesLeft"
        ),
        "{header}"
    );
    let other = Env::on(b);
    let f = other.write("in.csv", &csv);
    other.ok(&["token", "import", &f]);
    for code in ["USED", "FRESH", "GONE"] {
        let a = e.json(&["token", "show", code, "--format", "json"]);
        let b = other.json(&["token", "show", code, "--format", "json"]);
        for k in [
            "ValidForMinutes",
            "SingleUse",
            "FirstUsedOn",
            "SpentOn",
            "ExpiresOn",
        ] {
            assert_eq!(a[k], b[k], "{code} {k}");
        }
    }
    assert_eq!(other.codes(&["--spent"]), ["GONE"]);
    // A bad SingleUse cell names its line and column.
    let bad = other.write(
        "bad.csv",
        "AccessCode,MinutesIncluded,SingleUse,ValidForMinutes\nNEW1,60,perhaps,1h\nNEW2,60,true,never\n",
    );
    let err = other.fails(&["token", "import", &bad], 2);
    assert!(err.contains("line 2: SingleUse: "), "{err}");
    assert!(err.contains("line 3: ValidForMinutes: "), "{err}");
    let spent_plain = other.write(
        "spent.csv",
        "AccessCode,MinutesIncluded,SingleUse,SpentOn\nIMPSP,60,false,2026-11-01T10:00\n",
    );
    let err = other.fails(&["token", "import", &spent_plain], 2);
    assert!(
        err.contains("line 2: SpentOn: only a single-use code can be spent"),
        "{err}"
    );

    // --reset-usage starts the life of the code again.
    let t = e.json(&[
        "token",
        "update",
        "GONE",
        "--reset-usage",
        "--format",
        "json",
    ]);
    assert_eq!(t["SpentOn"], Value::Null);
    assert_eq!(t["FirstUsedOn"], Value::Null);
}
}

// ------------------------------------------------ Disconnect-Request (RFC 5176)

/// A NAS's Dynamic Authorization port on loopback that answers every
/// Disconnect-Request with a Disconnect-ACK; returns its port and what it got
/// (Acct-Session-Id, User-Name of each request).
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

fn ack_nas() -> (u16, Seen) {
    use md5::{Digest, Md5};
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let port = sock.local_addr().unwrap().port();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = got.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let req = &buf[..n];
            let attr = |t: u8| {
                radgate::radius::codec::raw_attributes(&req[20..])
                    .find(|(_, at, _)| *at == t)
                    .map(|(_, _, v)| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default()
            };
            seen.lock().unwrap().push((attr(44), attr(1)));
            let mut b = vec![41, req[1], 0, 20];
            b.extend_from_slice(&req[4..20]);
            let mut h = Md5::new();
            h.update(&b);
            h.update(b"testing123");
            let auth = h.finalize();
            b[4..20].copy_from_slice(&auth);
            let _ = sock.send_to(&b, from);
        }
    });
    (port, got)
}

/// A running session of `code` in the database, as accounting records it.
fn running_session(e: &Env, code: &str, sid: &str) {
    e.exec(&format!(
        "INSERT INTO sessions (token_id, nas, device, state, acct_session_id, framed_ip, created_at, \
         updated_at, user_name) SELECT id, '127.0.0.1', '02:00:00:00:00:01', 'active', '{sid}', '10.5.50.9', \
         0, 0, lower(access_code) FROM access_tokens WHERE code_key = upper('{code}')"
    ));
}

cli_both_backends! {
fn delete_and_shorten_disconnect_running_sessions(b: Backend) {
    let (port, got) = ack_nas();
    let e = Env::on(b);
    let cfg = std::fs::read_to_string(e.config()).unwrap();
    std::fs::write(e.config(), format!("{cfg}coa_port = {port}\n")).unwrap();
    e.create("LONGER", 60, &[]);
    e.create("SHORTER", 60, &[]);
    e.create("GOING", 60, &[]);
    running_session(&e, "LONGER", "s-longer");
    running_session(&e, "SHORTER", "s-shorter");
    running_session(&e, "GOING", "s-going");

    // More time: nobody is disconnected.
    let o = e.run(&["token", "update", "LONGER", "--add-minutes", "30"]);
    assert!(o.status.success());
    assert!(!String::from_utf8_lossy(&o.stderr).contains("disconnect"));

    // Less time: the session is asked to end (and may log in again).
    let o = e.run(&["token", "update", "SHORTER", "--minutes", "10"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("disconnect shorter session s-shorter on local (127.0.0.1:")
            && err.contains("Disconnect-ACK"),
        "{err}"
    );

    // Deleted: its session is asked to end after the delete.
    let o = e.run(&["token", "delete", "GOING"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("session s-going") && err.contains("Disconnect-ACK"),
        "{err}"
    );
    assert_eq!(
        *got.lock().unwrap(),
        [
            ("s-shorter".to_string(), "shorter".to_string()),
            ("s-going".to_string(), "going".to_string())
        ]
    );
}
}

cli_both_backends! {
fn without_coa_port_the_cli_says_sessions_run_on(b: Backend) {
    let e = Env::on(b);
    e.create("STAYS", 60, &[]);
    running_session(&e, "STAYS", "s-stays");
    let o = e.run(&["token", "update", "STAYS", "--valid-to", "2020-01-01T00:00"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("1 live session(s) (STAYS shortened) run on until their Session-Timeout"),
        "{err}"
    );
}
}

cli_both_backends! {
fn rate_limit_per_token(b: Backend) {
    let e = Env::on(b);
    let t = e.create("FAST1", 60, &["--rate-limit", "10M/20M"]);
    assert_eq!(t["RateLimit"], "10M/20M");
    let err = e.fails(
        &[
            "token",
            "create",
            "--code",
            "BAD1",
            "--minutes",
            "60",
            "--rate-limit",
            "fast",
        ],
        2,
    );
    assert!(err.contains("RateLimit: "), "{err}");
    assert_eq!(e.codes(&["--rate-limit", "10M/20M"]), ["FAST1"]);
    let t = e.json(&[
        "token",
        "update",
        "FAST1",
        "--rate-limit",
        "",
        "--format",
        "json",
    ]);
    assert_eq!(t["RateLimit"], Value::Null);
    let csv = e.ok(&["token", "export"]);
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",RateLimit,ExpiresOn,GuestName,MegabytesIncluded,MegabytesLeft"),
        "{csv}"
    );
}
}

cli_both_backends! {
fn guest_name_is_stored_searched_printed_and_moved(b: Backend) {
    let e = Env::on(b);
    let t = e.create("ROOM12", 60, &["--guest-name", "  Ada Lovelace "]);
    assert_eq!(t["GuestName"], "Ada Lovelace", "trimmed");
    e.create("ROOM14", 60, &["--description", "late check-in"]);
    let show = e.ok(&["token", "show", "ROOM12"]);
    assert!(show.contains("GuestName          Ada Lovelace"), "{show}");
    // Exact filter, and the desk's search (any part, any case).
    assert_eq!(e.codes(&["--guest-name", "Ada Lovelace"]), ["ROOM12"]);
    assert_eq!(e.codes(&["--search", "lovel"]), ["ROOM12"]);
    assert_eq!(e.codes(&["--search", "LATE"]), ["ROOM14"]);
    assert!(e.codes(&["--search", "nobody"]).is_empty());
    // Printed on the voucher card, escaped.
    e.ok(&["token", "update", "ROOM14", "--guest-name", "<Bob & Co>"]);
    let html = e.ok(&["token", "print", "--code", "ROOM14"]);
    assert!(html.contains("For &lt;Bob &amp; Co&gt;"), "{html}");
    // Too long, or on two lines: refused, naming the field.
    let long = "x".repeat(201);
    let err = e.fails(&["token", "update", "ROOM14", "--guest-name", &long], 2);
    assert!(err.contains("GuestName: at most 200 characters"), "{err}");
    let err = e.fails(&["token", "update", "ROOM14", "--guest-name", "a\nb"], 2);
    assert!(err.contains("GuestName: "), "{err}");
    // CSV out and back in.
    let csv = e.ok(&["token", "export", "--code", "ROOM12"]);
    assert!(csv.lines().nth(1).unwrap().contains(",Ada Lovelace,"), "{csv}");
    let f = e.path("guests.csv");
    std::fs::write(&f, "AccessCode,MinutesIncluded,GuestName\nROOM20,30,Grace Hopper\n").unwrap();
    e.ok(&["token", "import", f.to_str().unwrap()]);
    assert_eq!(e.codes(&["--guest-name", "Grace Hopper"]), ["ROOM20"]);
    // '' clears it.
    let t = e.json(&["token", "update", "ROOM12", "--guest-name", "", "--format", "json"]);
    assert_eq!(t["GuestName"], Value::Null);
}
}

cli_both_backends! {
fn data_allowance_round_trips_through_the_cli(b: Backend) {
    let e = Env::on(b);
    let t = e.create("DATA1", 60, &["--megabytes", "500"]);
    assert_eq!((t["MegabytesIncluded"].as_i64(), t["MegabytesLeft"].as_i64()), (Some(500), Some(500)));
    let t = e.create("NODATA", 60, &[]);
    assert_eq!((&t["MegabytesIncluded"], &t["MegabytesLeft"]), (&Value::Null, &Value::Null));
    e.create("BIG", 60, &["--megabytes", "5000"]);
    // 0 and nonsense are refused, naming the field.
    for bad in [&["--megabytes", "0"][..], &["--megabytes", "-5"][..]] {
        let err = e.fails(&[&["token", "create", "--code", "BAD", "--minutes", "5"][..], bad].concat(), 2);
        assert!(err.contains("MegabytesIncluded: must be 1 or more"), "{err}");
    }
    // Usage: 120.5 MB of DATA1 used, 379.5 MB left: 380 shown (rounded up).
    e.exec("UPDATE access_tokens SET bytes_used = 120500000 WHERE code_key = 'DATA1'");
    let t = e.json(&["token", "show", "DATA1", "--format", "json"]);
    assert_eq!(t["MegabytesLeft"], 380);
    let shown = e.ok(&["token", "show", "DATA1"]);
    assert!(shown.contains("500 (500 MB)") && shown.contains("380"), "{shown}");
    assert!(e.ok(&["token", "list"]).contains("MegabytesLeft"));
    // Filters and ranges, as for minutes; codes without one never match.
    assert_eq!(e.codes(&["--megabytes-included", "500"]), ["DATA1"]);
    assert_eq!(e.codes(&["--megabytes-left", "380"]), ["DATA1"]);
    assert_eq!(e.codes(&["--from-megabytes-left", "1", "--to-megabytes-left", "400"]), ["DATA1"]);
    assert_eq!(e.codes(&["--from-megabytes-included", "1000"]), ["BIG"]);
    assert_eq!(e.codes(&["--to-megabytes-included", "5000", "--order-by", "MegabytesLeft"]), ["DATA1", "BIG"]);
    // Update: more data, then none (both spellings), then back.
    let t = e.json(&["token", "update", "DATA1", "--megabytes", "1000", "--format", "json"]);
    assert_eq!((t["MegabytesIncluded"].as_i64(), t["MegabytesLeft"].as_i64()), (Some(1000), Some(880)));
    let t = e.json(&["token", "update", "DATA1", "--megabytes", "unlimited", "--format", "json"]);
    assert_eq!(t["MegabytesIncluded"], Value::Null);
    e.ok(&["token", "update", "DATA1", "--megabytes", "200"]);
    let t = e.json(&["token", "update", "DATA1", "--megabytes", "", "--format", "json"]);
    assert_eq!(t["MegabytesLeft"], Value::Null);
    let err = e.fails(&["token", "update", "DATA1", "--megabytes", "lots"], 2);
    assert!(err.contains("MegabytesIncluded"), "{err}");
    // A data cap used up: refused at login, listed as exhausted, not active;
    // --reset-usage forgets the data used too.
    e.ok(&["token", "update", "DATA1", "--megabytes", "100"]);
    e.exec("UPDATE access_tokens SET bytes_used = 100000000 WHERE code_key = 'DATA1'");
    assert!(e.codes(&["--exhausted"]).contains(&"DATA1".to_string()));
    assert!(!e.codes(&["--active"]).contains(&"DATA1".to_string()));
    let t = e.json(&["token", "update", "DATA1", "--reset-usage", "--format", "json"]);
    assert_eq!(t["MegabytesLeft"], 100);
    // Export and import keep the allowance and the usage (MegabytesLeft).
    e.exec("UPDATE access_tokens SET bytes_used = 40000000 WHERE code_key = 'DATA1'");
    let csv = e.ok(&["token", "export", "--order-by", "AccessCode"]);
    let other = Env::on(b);
    let f = other.write("in.csv", &csv);
    other.ok(&["token", "import", &f]);
    for code in ["DATA1", "NODATA", "BIG"] {
        let a = e.json(&["token", "show", code, "--format", "json"]);
        let c = other.json(&["token", "show", code, "--format", "json"]);
        for k in ["MegabytesIncluded", "MegabytesLeft"] {
            assert_eq!(a[k], c[k], "{code} {k}");
        }
    }
    // generate takes it too.
    let out = e.json(&["token", "generate", "--count", "2", "--minutes", "60", "--megabytes", "250", "--format", "json"]);
    let recs = out.as_array().cloned().unwrap_or_else(|| out["Records"].as_array().cloned().unwrap_or_default());
    assert_eq!(recs.len(), 2, "{out}");
    assert!(recs.iter().all(|r| r["MegabytesIncluded"] == 250), "{out}");
}
}

// ------------------------------------------------------------- API keys

cli_both_backends! {
fn apikey_create_list_revoke(b: Backend) {
    let e = Env::on(b);
    let o = e.run(&[
        "apikey",
        "create",
        "--name",
        "booking",
        "--role",
        "accesstoken-create",
        "--role",
        "AccessToken-List",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let key = String::from_utf8(o.stdout).unwrap();
    let key = key.trim();
    assert!(key.starts_with("rgk_") && key.len() == 36, "{key}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not shown again"), "{err}");

    let list = e.json(&["apikey", "list", "--format", "json"]);
    let k = &list[0];
    assert_eq!(k["Name"], "booking");
    assert_eq!(
        k["Roles"],
        serde_json::json!(["AccessToken-Create", "AccessToken-List"])
    );
    let display = k["Display"].as_str().unwrap();
    assert!(
        display.starts_with(&key[..7]) && display.ends_with(&key[32..]),
        "{display}"
    );
    assert!(k.get("Key").is_none());
    let table = e.ok(&["apikey", "list"]);
    assert!(!table.contains(key) && table.contains(display), "{table}");
    // The database holds only the hash (read as bytes: SQLite's file).
    if b == Backend::Sqlite {
        let db = std::fs::read(e.path("radgate.db")).unwrap();
        assert!(!db.windows(key.len()).any(|w| w == key.as_bytes()));
    }

    let err = e.fails(&["apikey", "create", "--name", "booking", "--role", "*"], 2);
    assert!(err.contains("exists"), "{err}");
    let err = e.fails(&["apikey", "create", "--name", "x", "--role", "admin"], 2);
    assert!(err.contains("--role: unknown role \"admin\""), "{err}");
    e.fails(&["apikey", "create", "--name", "x"], 2);

    assert!(e.ok(&["apikey", "revoke", "booking"]).contains("revoked"));
    assert_eq!(
        e.json(&["apikey", "list", "--format", "json"]),
        serde_json::json!([])
    );
    assert_eq!(
        e.json(&["apikey", "list", "--all", "--format", "json"])[0]["Name"],
        "booking"
    );
    let err = e.fails(&["apikey", "revoke", "booking"], 1);
    assert!(err.contains("booking"), "{err}");
    // The name is free again.
    e.ok(&["apikey", "create", "--name", "booking", "--role", "*"]);
}
}

cli_both_backends! {
/// `apikey create --business` (repeatable) limits a key to those
/// businesses; `apikey list` shows them ("all" when unlimited; BusinessIds
/// in JSON and CSV).
fn apikey_create_and_list_with_businesses(b: Backend) {
    let e = Env::on(b);
    let o = e.run(&[
        "apikey", "create", "--name", "hotel", "--role", "*", "--business", "4", "--business", "3",
        "--business", "4",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("for BusinessId(s) 3, 4"), "{err}");
    let o = e.run(&["apikey", "create", "--name", "all", "--role", "*"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("for every business"));
    let made = e.json(&[
        "apikey", "create", "--name", "five", "--role", "AccessToken-List", "--business", "5",
        "--format", "json",
    ]);
    assert_eq!(made["BusinessIds"], serde_json::json!([5]));
    assert!(made["Key"].as_str().unwrap().starts_with("rgk_"));

    let list = e.json(&["apikey", "list", "--format", "json"]);
    let by = |name: &str| list.as_array().unwrap().iter().find(|k| k["Name"] == name).unwrap()["BusinessIds"].clone();
    assert_eq!(by("hotel"), serde_json::json!([3, 4]));
    assert_eq!(by("all"), serde_json::json!([]));
    assert_eq!(by("five"), serde_json::json!([5]));
    let table = e.ok(&["apikey", "list"]);
    assert!(table.contains("Businesses"), "{table}");
    let line = |name: &str| table.lines().find(|l| l.contains(&format!(" {name} "))).unwrap_or_default().to_string();
    assert!(line("hotel").contains("3, 4"), "{table}");
    assert!(line("all").contains(" all "), "{table}");
    let csv = e.ok(&["apikey", "list", "--format", "csv"]);
    assert!(csv.starts_with("Id,Name,Display,Roles,BusinessIds,CreatedOn"), "{csv}");
    assert!(csv.contains(",* ,3 4,") || csv.contains(",*,3 4,"), "{csv}");

    let err = e.fails(&["apikey", "create", "--name", "neg", "--role", "*", "--business", "-1"], 2);
    assert!(err.contains("--business: -1 is not a BusinessId"), "{err}");
    let err = e.fails(&["apikey", "create", "--name", "word", "--role", "*", "--business", "x"], 2);
    assert!(err.contains("--business"), "{err}");
}
}
