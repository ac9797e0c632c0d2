//! The real `radgate` binary against a config and database in a temp dir,
//! for the CLI tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub struct Env {
    pub dir: tempfile::TempDir,
    /// The database URL the config names.
    pub url: String,
}

impl Env {
    pub fn new() -> Env {
        Self::with_config("")
    }

    /// A config file with the given extra [server] lines and a temp database.
    pub fn with_config(server_extra: &str) -> Env {
        Self::with_config_on(super::Backend::Sqlite, server_extra)
    }

    /// [`Env::new`] on backend `b`.
    pub fn on(b: super::Backend) -> Env {
        Self::with_config_on(b, "")
    }

    /// [`Env::with_config`] on backend `b` (PostgreSQL: a fresh database).
    pub fn with_config_on(b: super::Backend, server_extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let url = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(b.url(&dir));
        std::fs::write(
            dir.path().join("radgate.toml"),
            config_text(server_extra, &url),
        )
        .unwrap();
        Env { dir, url }
    }

    /// Run SQL (that both backends read alike) on the database.
    pub fn exec(&self, sql: &str) {
        if self.url.starts_with("sqlite:") {
            rusqlite::Connection::open(self.path("radgate.db"))
                .unwrap()
                .execute_batch(sql)
                .unwrap();
            return;
        }
        let url = self.url.clone();
        let sql = sql.to_string();
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                let task = tokio::spawn(conn);
                client.batch_execute(&sql).await.unwrap();
                drop(client);
                let _ = task.await;
            });
    }

    /// Rewrite the config file with another `[database] url`.
    pub fn set_database_url(&mut self, url: &str) {
        self.url = url.to_string();
        std::fs::write(self.config(), config_text("", url)).unwrap();
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn run_with(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_radgate"))
            .arg("--config")
            .arg(self.path("radgate.toml"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("RADGATE_CONFIG")
            .env("USER", "tester")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin).unwrap();
        drop(input);
        child.wait_with_output().unwrap()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, b"")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = String::from_utf8(o.stdout).unwrap();
        assert!(!out.contains('\x1b'), "colour outside a terminal: {out}");
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains('\x1b'),
            "colour outside a terminal"
        );
        out
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// Runs, expects failure with `code`; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let o = self.run(args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        err
    }

    pub fn create(&self, code: &str, minutes: u32, extra: &[&str]) -> Value {
        let m = minutes.to_string();
        self.json(
            &[
                &[
                    "token",
                    "create",
                    "--code",
                    code,
                    "--minutes",
                    &m,
                    "--format",
                    "json",
                ],
                extra,
            ]
            .concat(),
        )
    }

    /// List with `args` (all pages of up to 10000): the codes in order.
    pub fn codes(&self, args: &[&str]) -> Vec<String> {
        let v = self.json(
            &[
                &["token", "list", "--size", "10000", "--format", "json"],
                args,
            ]
            .concat(),
        );
        records(&v)
    }

    pub fn write(&self, name: &str, text: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

impl Env {
    pub fn config(&self) -> PathBuf {
        self.path("radgate.toml")
    }
}

fn config_text(server_extra: &str, url: &str) -> String {
    format!(
        "[server]\nauth_listen = \"127.0.0.1:0\"\nacct_listen = \"127.0.0.1:0\"\n{server_extra}\n\
         [database]\nurl = \"{url}\"\n\n[[client]]\nname = \"local\"\naddress = \"127.0.0.1\"\nsecret = \"testing123\"\n"
    )
}

/// Run the binary in `cwd` with exactly `args` (no config added).
pub fn radgate(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_radgate"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RADGATE_CONFIG")
        .output()
        .unwrap()
}

/// The AccessCodes of a list envelope, in order.
pub fn records(v: &Value) -> Vec<String> {
    v["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["AccessCode"].as_str().unwrap().to_string())
        .collect()
}
