//! The real `radgate` binary against a real database file.

mod common;
use common::cli_env::{radgate, Env};

cli_both_backends! {
fn create_then_show_in_json_with_nexudus_names(b: Backend) {
    let e = Env::on(b);
    let v = e.json(&[
        "token",
        "create",
        "--code",
        "WELCOME1",
        "--minutes",
        "60",
        "--user-limit",
        "2",
        "--mac",
        "aa-bb-cc-dd-ee-ff",
        "--description",
        "lobby",
        "--format",
        "json",
    ]);
    assert_eq!(v["AccessCode"], "WELCOME1");
    assert_eq!(v["MinutesIncluded"], 60);
    assert_eq!(v["MinutesLeft"], 60);
    assert_eq!(v["UserLimit"], 2);
    assert_eq!(v["MacAddress"], "AA:BB:CC:DD:EE:FF");
    assert_eq!(v["BusinessId"], 0);
    assert_eq!(v["Description"], "lobby");
    assert!(v["Id"].as_i64().unwrap() >= 1);
    assert_eq!(v["UniqueId"].as_str().unwrap().len(), 36);
    for k in [
        "ValidFrom",
        "ValidTo",
        "LastAccess",
        "BookingGuid",
        "VisitorGuid",
        "CreatedOn",
        "UpdatedOn",
        "UpdatedBy",
    ] {
        assert!(v.get(k).is_some(), "{k} missing");
    }
    let shown = e.json(&["token", "show", "welcome1", "--format", "json"]);
    assert_eq!(shown["Id"], v["Id"]);
    assert_eq!(shown["LiveSessions"], serde_json::json!([]));
    // The database holds every code in clear: created 0640, whatever the
    // umask (the test runs with the usual 022).
    if b == common::Backend::Sqlite {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(e.path("radgate.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640, "{mode:o}");
    }
    let by_id = e.json(&["token", "show", &v["Id"].to_string(), "--format", "json"]);
    assert_eq!(by_id["AccessCode"], "WELCOME1");
    let table = e.ok(&["token", "show", "WELCOME1"]);
    assert!(
        table.contains("MinutesLeft") && table.contains("AA:BB:CC:DD:EE:FF"),
        "{table}"
    );
}
}

cli_both_backends! {
fn bad_input_is_refused_naming_the_field(b: Backend) {
    let e = Env::on(b);
    e.ok(&["token", "create", "--code", "DUP", "--minutes", "5"]);
    let cases: &[(&[&str], &str)] = &[
        (&["--code", "dup", "--minutes", "5"], "AccessCode"),
        (
            &["--code", "M1", "--minutes", "5", "--mac", "not-a-mac"],
            "MacAddress",
        ),
        (
            &[
                "--code",
                "M2",
                "--minutes",
                "5",
                "--valid-from",
                "2025-07-21T12:45",
                "--valid-to",
                "2025-07-21T12:00",
            ],
            "ValidTo",
        ),
        (
            &["--code", "M3", "--minutes", "5", "--user-limit", "0"],
            "UserLimit",
        ),
        (&["--code", "M4", "--minutes", "-5"], "MinutesIncluded"),
        (
            &[
                "--code",
                "M5",
                "--minutes",
                "5",
                "--valid-to",
                "tomorrow-ish",
            ],
            "ValidTo",
        ),
        (&["--code", " M6", "--minutes", "5"], "AccessCode"),
    ];
    for (args, field) in cases {
        let err = e.fails(&[&["token", "create"], *args].concat(), 2);
        assert!(err.contains(field), "{args:?}: {err}");
    }
    // Nothing but DUP was created.
    let v = e.json(&["token", "list", "--format", "json"]);
    assert_eq!(v["TotalItems"], 1);
}
}

cli_both_backends! {
fn zoneless_dates_are_local_time_in_the_configured_zone(b: Backend) {
    let e = Env::with_config_on(b, "timezone = \"Europe/Berlin\"");
    let v = e.json(&[
        "token",
        "create",
        "--code",
        "TZ",
        "--minutes",
        "5",
        "--valid-from",
        "2025-07-21T12:45",
        "--valid-to",
        "2025-07-21T14:00Z",
        "--format",
        "json",
    ]);
    assert_eq!(v["ValidFrom"], "2025-07-21T10:45:00Z");
    assert_eq!(v["ValidTo"], "2025-07-21T14:00:00Z");
    let table = e.ok(&["token", "show", "TZ"]);
    assert!(table.contains("2025-07-21 12:45"), "{table}");
}
}

cli_both_backends! {
fn list_filters_pages_and_formats(b: Backend) {
    let e = Env::on(b);
    for i in 0..5 {
        e.ok(&[
            "token",
            "create",
            "--code",
            &format!("CODE{i}"),
            "--minutes",
            "10",
        ]);
    }
    e.ok(&[
        "token",
        "create",
        "--code",
        "OLD",
        "--minutes",
        "10",
        "--valid-from",
        "2020-01-01T00:00Z",
        "--valid-to",
        "2020-01-02T00:00Z",
    ]);
    e.ok(&[
        "token",
        "create",
        "--code",
        "OTHER",
        "--minutes",
        "10",
        "--business-id",
        "7",
    ]);
    let v = e.json(&[
        "token", "list", "--size", "3", "--page", "2", "--format", "json",
    ]);
    assert_eq!(v["TotalItems"], 7);
    assert_eq!(v["TotalPages"], 3);
    assert_eq!(v["CurrentPage"], 2);
    assert_eq!(v["FirstItem"], 4);
    assert_eq!(v["LastItem"], 6);
    assert_eq!(v["HasNextPage"], true);
    assert_eq!(v["HasPreviousPage"], true);
    assert_eq!(v["Records"].as_array().unwrap().len(), 3);
    let v = e.json(&["token", "list", "--expired", "--format", "json"]);
    assert_eq!(v["TotalItems"], 1);
    assert_eq!(v["Records"][0]["AccessCode"], "OLD");
    let v = e.json(&["token", "list", "--active", "--format", "json"]);
    assert_eq!(v["TotalItems"], 6);
    let v = e.json(&["token", "list", "--business-id", "7", "--format", "json"]);
    assert_eq!(v["Records"][0]["AccessCode"], "OTHER");
    let csv = e.ok(&["token", "list", "--code", "code3", "--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("Id,UniqueId,BusinessId,AccessCode"));
    assert!(lines[1].contains(",CODE3,"));
    let table = e.ok(&["token", "list"]);
    assert!(table.lines().next().unwrap().starts_with("Id"), "{table}");
    e.fails(&["token", "list", "--page", "0"], 2);
    // Negative numbers are values, not options: filters that match nothing
    // (or everything), and range errors that name the option.
    assert_eq!(e.codes(&["--business-id", "-3"]), Vec::<String>::new());
    assert_eq!(e.codes(&["--from-minutes-left", "-1"]).len(), 7);
    let err = e.fails(&["session", "list", "--limit", "-1"], 2);
    assert!(err.contains("--limit: must be 1..1000000, got -1"), "{err}");
}
}

cli_both_backends! {
fn delete_by_code_and_unknown_code(b: Backend) {
    let e = Env::on(b);
    e.ok(&["token", "create", "--code", "BYE", "--minutes", "10"]);
    let out = e.ok(&["token", "delete", "bye"]);
    assert!(out.contains("deleted"), "{out}");
    let err = e.fails(&["token", "show", "BYE"], 1);
    assert!(err.contains("BYE"), "{err}");
    e.fails(&["token", "delete", "BYE"], 1);
}
}

#[test]
fn bad_config_names_file_key_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[[client]]\nname = \"x\"\naddress = \"300.1.2.3\"\nsecret = \"long-enough-secret\"\n",
    )
    .unwrap();
    let o = radgate(
        dir.path(),
        &["--config", path.to_str().unwrap(), "check-config"],
    );
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("address") && err.contains("300.1.2.3"),
        "{err}"
    );
    std::fs::write(
        &path,
        "[server]\nauth_listen = \"127.0.0.1:1812\"\nbogus = 1\n",
    )
    .unwrap();
    let o = radgate(
        dir.path(),
        &["--config", path.to_str().unwrap(), "check-config"],
    );
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bogus"), "{err}");
    // A log format radgate does not write: the key and the choices.
    std::fs::write(
        &path,
        "[server]\nlog_format = \"xml\"\n[[client]]\nname = \"x\"\naddress = \"127.0.0.1\"\nsecret = \"long-enough-secret\"\n",
    )
    .unwrap();
    let o = radgate(
        dir.path(),
        &["--config", path.to_str().unwrap(), "check-config"],
    );
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.toml: server.log_format")
            && err.contains(r#"must be "text" or "json", got "xml" (line 2)"#),
        "{err}"
    );
    // A missing explicit file is an error, not a fallback.
    let o = radgate(
        dir.path(),
        &["--config", "/nonexistent/radgate.toml", "check-config"],
    );
    assert_eq!(o.status.code(), Some(3));
}

cli_both_backends! {
fn check_config_summarizes_without_secrets(b: Backend) {
    let e = Env::on(b);
    let out = e.ok(&["check-config"]);
    assert!(out.contains("local"), "{out}");
    assert!(!out.contains("testing123"), "secret printed: {out}");
    // The database line speaks of the backend in use: SQLite's settings
    // mean nothing on PostgreSQL.
    let db = out
        .lines()
        .find(|l| l.starts_with("database:"))
        .unwrap_or_else(|| panic!("{out}"));
    match b {
        common::Backend::Sqlite => assert!(db.contains("synchronous=full"), "{db}"),
        common::Backend::Postgres => {
            assert!(db.contains("PostgreSQL") && db.contains("writer connections"), "{db}");
            assert!(!db.contains("synchronous"), "{db}");
        }
    }
}
}

#[test]
fn builtin_defaults_when_no_config_file() {
    if std::path::Path::new("/etc/radgate/radgate.toml").exists() {
        eprintln!(
            "SKIPPED builtin_defaults_when_no_config_file: /etc/radgate/radgate.toml exists here"
        );
        return;
    }
    // In an empty directory with no config, commands use ./radgate.db, and
    // say so: a command run in the wrong directory must not look like it
    // worked on the server's database.
    let dir = tempfile::tempdir().unwrap();
    let db = std::path::absolute(dir.path().join("radgate.db")).unwrap();
    let o = radgate(dir.path(), &["token", "list"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("built-in defaults, database {}", db.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("the database {} does not exist", db.display())),
        "{err}"
    );
    assert!(!db.exists(), "a read-only command created the database");

    let o = radgate(
        dir.path(),
        &["token", "create", "--code", "DEFAULT1", "--minutes", "1"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!("built-in defaults, database {}", db.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("created a new database {}", db.display())),
        "{err}"
    );
    assert!(db.exists());
    let o = radgate(dir.path(), &["token", "show", "DEFAULT1"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("created"), "{err}");
}

/// A relative database path in a config file is relative to the file, not
/// to the directory a command runs in: the CLI run from anywhere (a home
/// directory, under sudo) works on the server's database.
#[test]
fn a_relative_database_path_follows_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("etc");
    let home = dir.path().join("home");
    std::fs::create_dir(&conf).unwrap();
    std::fs::create_dir(&home).unwrap();
    let file = conf.join("radgate.toml");
    std::fs::write(
        &file,
        "[database]\nurl = \"sqlite://radgate.db\"\n\n[[client]]\nname = \"x\"\n\
         address = \"127.0.0.1\"\nsecret = \"a-long-enough-secret\"\n",
    )
    .unwrap();
    let file = file.display().to_string();
    let o = radgate(
        &home,
        &[
            "--config",
            &file,
            "token",
            "create",
            "--code",
            "HERE1",
            "--minutes",
            "5",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(conf.join("radgate.db").exists());
    assert!(!home.join("radgate.db").exists());
    // From yet another directory, with a relative --config.
    let o = radgate(
        dir.path(),
        &["--config", "etc/radgate.toml", "token", "show", "HERE1"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("HERE1"), "{out}");
    let o = radgate(&home, &["--config", &file, "check-config"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&conf.join("radgate.db").display().to_string()),
        "{out}"
    );
}

/// Commands that only read never create a database file: a missing file is
/// an error naming the path.
#[test]
fn read_only_commands_never_create_a_database() {
    let e = Env::new();
    let db = e.path("radgate.db");
    for args in [
        &["token", "list"][..],
        &["token", "show", "X"],
        &["token", "export"],
        &["token", "print"],
        &["session", "list"],
        &["apikey", "list"],
    ] {
        let err = e.fails(args, 1);
        assert!(
            err.contains(&format!("the database {} does not exist", db.display())),
            "{args:?}: {err}"
        );
        assert!(!db.exists(), "{args:?} created the database");
    }
}

/// Commands that change what exists need the database: run in the wrong
/// directory they fail without leaving an empty database behind. Only
/// `serve` migrates; the CLI refuses a database of another schema version,
/// and names a file that is not a database.
#[test]
fn changing_commands_need_the_database_and_only_serve_migrates() {
    let e = Env::new();
    let db = e.path("radgate.db");
    for args in [
        &["token", "update", "NOPE", "--minutes", "5"][..],
        &["token", "delete", "NOPE"],
        &["token", "delete", "--all", "--yes"],
        &["apikey", "revoke", "x"],
    ] {
        let err = e.fails(args, 1);
        assert!(err.contains("does not exist"), "{args:?}: {err}");
        assert!(!db.exists(), "{args:?} created the database");
    }
    // An empty file: refused by readers, set up by a command that creates.
    std::fs::write(&db, b"").unwrap();
    let err = e.fails(&["token", "list"], 1);
    assert!(err.contains("(the file is empty)"), "{err}");
    assert_eq!(
        std::fs::metadata(&db).unwrap().len(),
        0,
        "a reader wrote the file"
    );
    e.create("FIRST1", 5, &[]);
    // An older schema: refused by the CLI, migrated by serve.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("PRAGMA user_version = 7")
        .unwrap();
    for args in [
        &["token", "list"][..],
        &["token", "create", "--code", "X2", "--minutes", "5"],
    ] {
        let err = e.fails(args, 1);
        assert!(
            err.contains("schema version 7, older than this radgate's")
                && err.contains("only `radgate serve` migrates"),
            "{args:?}: {err}"
        );
    }
    // Not a database at all: named.
    std::fs::write(
        &db,
        b"this is not a database, just text that is long enough to fill a header page......",
    )
    .unwrap();
    let err = e.fails(&["token", "list"], 1);
    assert!(
        err.contains(&format!("{} is not a radgate database", db.display())),
        "{err}"
    );
}

/// `serve` binds its ports before it opens the database: a port in use
/// stops it without creating a database file.
#[test]
fn serve_that_cannot_bind_creates_no_database() {
    let busy = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let e = Env::with_config(&format!("auth_listen = \"127.0.0.1:{port}\""));
    // with_config's own auth_listen comes first: write the file again.
    let text = std::fs::read_to_string(e.config())
        .unwrap()
        .replace("auth_listen = \"127.0.0.1:0\"\n", "");
    std::fs::write(e.config(), text).unwrap();
    let err = e.fails(&["serve"], 1);
    assert!(
        err.contains(&format!(
            "cannot listen on 127.0.0.1:{port} (server.auth_listen)"
        )),
        "{err}"
    );
    assert!(!e.path("radgate.db").exists(), "serve created the database");
}

/// A database this process may only read (here asked for with `?mode=ro`;
/// a file owned by another user makes SQLite fall back to the same): `serve`
/// refuses to start instead of answering no request, write commands refuse
/// naming the file, reading still works. A missing directory is named too.
#[test]
fn a_read_only_or_missing_database_is_named_and_serve_refuses_it() {
    let mut e = Env::new();
    e.create("RO1", 5, &[]);
    let db = e.path("radgate.db").display().to_string();
    e.set_database_url(&format!("sqlite://{db}?mode=ro"));
    for args in [
        &["serve"][..],
        &["token", "create", "--code", "RO2", "--minutes", "5"],
        &["token", "delete", "RO1", "--yes"],
        &[
            "apikey",
            "create",
            "--name",
            "k",
            "--role",
            "AccessToken-List",
        ],
    ] {
        let err = e.fails(args, 1);
        assert!(
            err.contains(&format!("the database {db} is read-only")),
            "{args:?}: {err}"
        );
    }
    assert_eq!(e.codes(&[]), ["RO1"]);

    // A database a newer radgate wrote (schema version beyond ours): refused,
    // not misread.
    e.set_database_url(&format!("sqlite://{db}"));
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("PRAGMA user_version = 999")
        .unwrap();
    for args in [&["serve"][..], &["token", "list"]] {
        let err = e.fails(args, 1);
        assert!(
            err.contains("schema version 999, newer than this radgate knows"),
            "{args:?}: {err}"
        );
    }

    let missing = e.path("no-such-dir").join("x.db").display().to_string();
    e.set_database_url(&format!("sqlite://{missing}"));
    for (args, says) in [
        (&["serve"][..], "cannot open the database"),
        (
            &["token", "create", "--code", "X1", "--minutes", "5"][..],
            "cannot open the database",
        ),
        (&["token", "list"][..], "does not exist"),
    ] {
        let err = e.fails(args, 1);
        assert!(
            err.contains(&format!("{says} {missing}"))
                || err.contains(&format!("the database {missing} {says}")),
            "{args:?}: {err}"
        );
    }

    // The writer and the readers need one file: no in-memory database.
    e.set_database_url("sqlite::memory:");
    let err = e.fails(&["serve"], 3);
    assert!(
        err.contains("an in-memory database cannot be served"),
        "{err}"
    );
}

cli_both_backends! {
fn a_valid_to_already_past_is_created_with_a_warning(b: Backend) {
    let e = Env::on(b);
    let o = e.run(&[
        "token",
        "create",
        "--code",
        "OLD1",
        "--minutes",
        "5",
        "--valid-to",
        "2020-01-01T00:00",
    ]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: ValidTo 2020-01-01 00:00 (UTC) is already past"),
        "{err}"
    );
    // No minutes at all: created, with a warning (SPEC allows 0).
    let o = e.run(&["token", "create", "--code", "ZERO1", "--minutes", "0"]);
    assert!(o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(
            "warning: MinutesIncluded is 0: the code cannot log in until minutes are added"
        ),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = e.run(&["token", "update", "ZERO1", "--add-minutes", "5"]);
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");
    let o = e.run(&[
        "token",
        "create",
        "--code",
        "NEW1",
        "--minutes",
        "5",
        "--valid-to",
        "2999-01-01T00:00",
    ]);
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");
    let o = e.run(&["token", "update", "NEW1", "--valid-to", "2021-06-01"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already past"));
    let err = e.fails(
        &[
            "token",
            "generate",
            "--count",
            "1",
            "--minutes",
            "5",
            "--prefix",
            " x",
        ],
        2,
    );
    assert!(err.contains("--prefix:"), "{err}");
}
}

/// `radgate db copy --to URL`: into an empty database (SQLite here, and
/// PostgreSQL when installed), refused into one that holds anything, and a
/// bad URL is named.
#[test]
fn db_copy_moves_everything_into_an_empty_database() {
    let e = Env::new();
    e.create("MOVE1", 60, &["--user-limit", "2"]);
    e.create("MOVE2", 30, &[]);
    e.ok(&[
        "apikey",
        "create",
        "--name",
        "k",
        "--role",
        "AccessToken-List",
    ]);
    let target = e.path("copy.db");
    let url = format!("sqlite://{}", target.display());
    let out = e.ok(&["db", "copy", "--to", &url]);
    assert!(
        out.contains(
            "copied 2 token(s), 0 batch(es), 0 session(s), 1 API key(s), 0 operator(s), \
             0 preset(s) and 3 audit record(s) to sqlite://"
        ),
        "{out}"
    );
    let err = e.fails(&["db", "copy", "--to", &url], 1);
    assert!(
        err.contains("nothing copied: the target database is not empty (2 token(s)"),
        "{err}"
    );
    // A relative path on the command line is relative to where the
    // command runs, and the message says the whole path.
    let out = e.ok(&["db", "copy", "--to", "sqlite://rel-copy.db"]);
    let abs = std::path::absolute(e.path("rel-copy.db")).unwrap();
    assert!(
        out.contains(&format!("to sqlite://{}", abs.display())),
        "{out}"
    );
    assert!(abs.exists());
    let err = e.fails(&["db", "copy", "--to", "mysql://u:hunter2@x/y"], 2);
    assert!(
        err.contains("--to: unsupported database URL scheme"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    // The copy serves as the original: read it through a config of its own.
    let mut other = Env::new();
    other.set_database_url(&url);
    assert_eq!(other.codes(&[]), ["MOVE1", "MOVE2"]);
    if let Some(pg) = common::pg::server() {
        let pg_url = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(pg.fresh_database());
        let out = e.ok(&["db", "copy", "--to", &pg_url]);
        assert!(out.contains("copied 2 token(s)"), "{out}");
        let mut on_pg = Env::new();
        on_pg.set_database_url(&pg_url);
        assert_eq!(on_pg.codes(&[]), ["MOVE1", "MOVE2"]);
        // And the CLI works on PostgreSQL as on SQLite.
        on_pg.create("PGNEW", 15, &[]);
        on_pg.ok(&["token", "update", "PGNEW", "--add-minutes", "5"]);
        let v = on_pg.json(&["token", "show", "PGNEW", "--format", "json"]);
        assert_eq!(v["MinutesIncluded"], 20);
        on_pg.ok(&["token", "delete", "MOVE2"]);
        assert_eq!(on_pg.codes(&[]), ["MOVE1", "PGNEW"]);
    }
}

/// One row of integers (NULL: 0) from the database an [`Env`] names.
fn ints(e: &Env, sql: &str) -> Vec<i64> {
    if let Some(path) = e.url.strip_prefix("sqlite://") {
        let c = rusqlite::Connection::open(path).unwrap();
        let mut st = c.prepare(sql).unwrap();
        let n = st.column_count();
        return st
            .query_row([], |r| {
                (0..n)
                    .map(|i| r.get::<_, Option<i64>>(i).map(Option::unwrap_or_default))
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap();
    }
    let (url, sql) = (e.url.clone(), sql.to_string());
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let task = tokio::spawn(conn);
            let row = client.query_one(&sql, &[]).await.unwrap();
            let v = (0..row.len())
                .map(|i| row.get::<_, Option<i64>>(i).unwrap_or_default())
                .collect();
            drop(client);
            let _ = task.await;
            v
        })
}

/// Rows of a SQLite database, every value in words.
fn sqlite_rows(path: &std::path::Path, sql: &str) -> Vec<String> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut st = c.prepare(sql).unwrap();
    let n = st.column_count();
    st.query_map([], |r| {
        (0..n)
            .map(|i| {
                r.get::<_, rusqlite::types::Value>(i)
                    .map(|v| format!("{v:?}"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.join(" | "))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The highest id of each copied table but sessions.
const MAX_IDS: &str =
    "SELECT (SELECT MAX(id) FROM access_tokens), (SELECT MAX(id) FROM api_keys), \
     (SELECT MAX(id) FROM operators), (SELECT MAX(id) FROM audit_log), \
     (SELECT MAX(id) FROM presets), (SELECT MAX(id) FROM batches)";

/// Add one row to each table of [`MAX_IDS`] through the CLI (a preset as
/// SQL: the web UI makes them): each gets an id above every copied one.
fn new_rows_get_new_ids(e: &Env, before: &[i64]) {
    e.ok(&["token", "create", "--code", "AFTER1", "--minutes", "5"]);
    e.ok(&["apikey", "create", "--name", "after", "--role", "*"]);
    let o = e.run_with(
        &[
            "operator",
            "add",
            "after",
            "--role",
            "desk",
            "--password-stdin",
        ],
        b"another long passphrase\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    e.ok(&[
        "token",
        "generate",
        "--count",
        "1",
        "--minutes",
        "5",
        "--batch",
        "After",
    ]);
    let preset = "INSERT INTO presets (name, business_id, minutes_included, created_on) \
                  VALUES ('After', 0, 60, 1800000000)";
    // Env::exec opens the Env's own radgate.db; this one names another file.
    match e.url.strip_prefix("sqlite://") {
        Some(path) => {
            rusqlite::Connection::open(path)
                .unwrap()
                .execute_batch(preset)
                .unwrap();
        }
        None => e.exec(preset),
    }
    let after = ints(e, MAX_IDS);
    for (i, (a, b)) in after.iter().zip(before).enumerate() {
        assert!(a > b, "{}: column {i}: {after:?} after {before:?}", e.url);
    }
}

/// `radgate db copy` moves the web UI's operators (who sign in with their
/// passwords on the copy; their sign-ins stay behind), presets, batches
/// with their codes and the audit log as it was: SQLite → PostgreSQL →
/// SQLite (when PostgreSQL is installed; SQLite → SQLite otherwise), and
/// what is made after the copy gets ids of its own.
#[test]
fn db_copy_keeps_operators_presets_batches_and_the_audit_log() {
    let e = Env::new();
    let o = e.run_with(
        &[
            "operator",
            "add",
            "anna",
            "--role",
            "manager",
            "--business",
            "3",
            "--password-stdin",
        ],
        b"correct horse battery\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    e.ok(&[
        "token",
        "generate",
        "--count",
        "3",
        "--minutes",
        "60",
        "--batch",
        "Conference",
    ]);
    e.create("SOLO", 30, &[]);
    e.ok(&["token", "update", "SOLO", "--add-minutes", "5"]);
    // Presets are made in the web UI; a sign-in of anna's, as the UI makes it.
    e.exec(
        "INSERT INTO presets (name, business_id, minutes_included, valid_for_minutes, \
         user_limit, single_use, created_on) VALUES ('Day pass', 3, 480, 1440, 1, 1, 1800000000);\n\
         INSERT INTO web_sessions (id_hash, operator_id, created_on, last_seen) \
         SELECT 'abcd', id, 1800000000, 1800000000 FROM operators",
    );
    let show = |e: &Env| {
        (
            e.json(&["operator", "list", "--format", "json"]),
            e.json(&["audit", "list", "--limit", "1000", "--format", "json"]),
            e.codes(&[]),
        )
    };
    let before = show(&e);
    assert_eq!(before.1.as_array().unwrap().len(), 4, "{}", before.1);
    let source_ids = ints(&e, MAX_IDS);
    let summary = "copied 4 token(s), 1 batch(es), 0 session(s), 0 API key(s), 1 operator(s), \
                   1 preset(s) and 4 audit record(s) to ";
    let signed_in_again =
        "web UI sign-ins are not copied: operators sign in again on the new database";
    let last = e.path("last.db");
    let last_url = format!("sqlite://{}", last.display());
    if let Some(pg) = common::pg::server() {
        let pg_url = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(pg.fresh_database());
        let out = e.ok(&["db", "copy", "--to", &pg_url]);
        assert!(out.contains(&format!("{summary}postgres://")), "{out}");
        assert!(out.contains(signed_in_again), "{out}");
        let mut on_pg = Env::new();
        on_pg.set_database_url(&pg_url);
        assert_eq!(show(&on_pg), before);
        assert_eq!(
            ints(&on_pg, "SELECT COUNT(*) FROM web_sessions"),
            [0],
            "sign-ins are not copied"
        );
        let out = on_pg.ok(&["db", "copy", "--to", &last_url]);
        assert!(out.contains(&format!("{summary}sqlite://")), "{out}");
        new_rows_get_new_ids(&on_pg, &source_ids);
    } else {
        let out = e.ok(&["db", "copy", "--to", &last_url]);
        assert!(out.contains(&format!("{summary}sqlite://")), "{out}");
    }
    let mut back = Env::new();
    back.set_database_url(&last_url);
    assert_eq!(show(&back), before);
    // Every column as it was: the batch each code belongs to, the preset,
    // the operator with the password hash, the audit records.
    let first = e.path("radgate.db");
    for sql in [
        "SELECT t.id, t.access_code, t.batch_id, b.id, b.name, b.business_id, b.created_on, \
         b.created_by FROM access_tokens t LEFT JOIN batches b ON b.id = t.batch_id ORDER BY t.id",
        "SELECT * FROM presets ORDER BY id",
        "SELECT * FROM operators ORDER BY id",
        "SELECT * FROM audit_log ORDER BY id",
    ] {
        let rows = sqlite_rows(&first, sql);
        assert!(!rows.is_empty(), "{sql}");
        assert_eq!(rows, sqlite_rows(&last, sql), "{sql}");
    }
    let in_batch = sqlite_rows(
        &last,
        "SELECT t.access_code FROM access_tokens t JOIN batches b ON b.id = t.batch_id \
         WHERE b.name = 'Conference'",
    );
    assert_eq!(in_batch.len(), 3, "{in_batch:?}");
    assert_eq!(ints(&back, "SELECT COUNT(*) FROM web_sessions"), [0]);
    let hash = rusqlite::Connection::open(&last)
        .unwrap()
        .query_row(
            "SELECT password_hash FROM operators WHERE name = 'anna'",
            [],
            |r| r.get::<_, String>(0),
        )
        .unwrap();
    assert!(radgate::store::operators::verify_password(
        "correct horse battery",
        &hash
    ));
    new_rows_get_new_ids(&back, &source_ids);
}

/// check-config warns, as serve does, when every user can read the file
/// that holds the shared secrets.
#[cfg(unix)]
#[test]
fn check_config_warns_about_a_config_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let e = Env::new();
    let file = e.path("radgate.toml");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = e.run(&["check-config"]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("readable by every user"), "{err}");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let o = e.run(&["check-config"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("readable by every user"), "{err}");
}
