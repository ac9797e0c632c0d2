//! Shared helpers for the end-to-end tests: a server on an ephemeral
//! loopback port over a real SQLite file in a temporary directory, and a
//! small RADIUS client.
#![allow(dead_code)]

pub mod browser;
pub mod cli_env;
pub mod hotspot;
pub mod http;
pub mod pg;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use md5::{Digest, Md5};
use radgate::config::Config;
use radgate::daemon::{self, ServerHandle};
use radgate::radius::codec::{self, PacketCode as Code};
use radgate::radius::server;
use radgate::store::{OpenMode, Store};
use radgate::token::{AccessToken, TokenInput};
use radius::core::packet::Packet;
use tokio::net::UdpSocket;

pub const SECRET: &str = "testing123";

/// The password of operators made by [`TestServer::operator`].
pub const OPERATOR_PASSWORD: &str = "correct horse battery";

/// Who the tests' own changes are recorded as in the audit log.
pub fn test_actor() -> radgate::store::audit::Actor {
    radgate::store::audit::Actor("test".into())
}

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub handle: Option<ServerHandle>,
    pub addr: SocketAddr,
    pub acct_addr: SocketAddr,
    /// The HTTP API, when the config enables it.
    pub api_addr: Option<SocketAddr>,
    pub portal_addr: Option<SocketAddr>,
    /// RadSec's listener, when the config enables it.
    pub radsec_addr: Option<SocketAddr>,
    pub config: Arc<Config>,
}

/// The built-in default config, on an ephemeral port and a temp database.
pub fn test_config(dir: &tempfile::TempDir) -> Config {
    let mut c = Config::builtin_default();
    c.server.auth_listen = "127.0.0.1:0".parse().unwrap();
    c.server.acct_listen = "127.0.0.1:0".parse().unwrap();
    c.database.url = format!("sqlite://{}", dir.path().join("radgate.db").display());
    c
}

/// The store a test runs on: every end-to-end test that touches the store
/// runs on both (see [`both_backends!`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the throwaway PostgreSQL (tests/common/pg.rs).
    Postgres,
}

impl Backend {
    /// PostgreSQL, when its binaries are installed (a loud skip otherwise;
    /// a failure under RADGATE_REQUIRE_INTEROP=1).
    pub fn postgres() -> Option<Backend> {
        pg::server().map(|_| Backend::Postgres)
    }

    /// A database URL of this backend for one test.
    pub async fn url(self, dir: &tempfile::TempDir) -> String {
        match self {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("radgate.db").display()),
            Backend::Postgres => pg::server().expect("PostgreSQL").fresh_database().await,
        }
    }
}

/// One test, run on each backend: `mod NAME { fn sqlite(); fn postgres() }`
/// around an `async fn NAME(b: Backend)` body, with the given test
/// attributes (`#[tokio::test]`, or a multi-thread flavor).
#[macro_export]
macro_rules! both_backends {
    ($(#[$attr:meta])+ async fn $name:ident($b:ident: Backend) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($b: $crate::common::Backend) $body

            $(#[$attr])+
            async fn sqlite() {
                run($crate::common::Backend::Sqlite).await
            }

            $(#[$attr])+
            async fn postgres() {
                if let Some(b) = $crate::common::Backend::postgres() {
                    run(b).await
                }
            }
        }
    };
}

/// [`both_backends!`] for tests that are not async (the CLI's).
#[macro_export]
macro_rules! cli_both_backends {
    ($(#[$attr:meta])* fn $name:ident($b:ident: Backend) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn run($b: $crate::common::Backend) $body

            $(#[$attr])*
            #[test]
            fn sqlite() {
                run($crate::common::Backend::Sqlite)
            }

            $(#[$attr])*
            #[test]
            fn postgres() {
                if let Some(b) = $crate::common::Backend::postgres() {
                    run(b)
                }
            }
        }
    };
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(f: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_on_with(Backend::Sqlite, f).await
    }

    pub async fn start_on(b: Backend) -> TestServer {
        Self::start_on_with(b, |_| {}).await
    }

    /// A server on a fresh database of backend `b`, its config changed by `f`.
    pub async fn start_on_with(b: Backend, f: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut c = test_config(&dir);
        c.database.url = b.url(&dir).await;
        f(&mut c);
        let store = Store::open(&c.database, OpenMode::Serve).await.unwrap();
        let config = Arc::new(c);
        let handle = daemon::start(config.clone(), &store).await.unwrap();
        TestServer {
            addr: handle.auth_addr,
            acct_addr: handle.acct_addr,
            api_addr: handle.api_addr,
            portal_addr: handle.portal_addr,
            radsec_addr: handle.radsec_addr,
            handle: Some(handle),
            dir,
            store,
            config,
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("radgate.db")
    }

    pub fn stats(&self) -> &server::Stats {
        &self.handle.as_ref().unwrap().stats
    }

    pub async fn token(
        &self,
        code: &str,
        minutes: i64,
        f: impl FnOnce(&mut TokenInput),
    ) -> AccessToken {
        let mut input = TokenInput {
            access_code: Some(code.into()),
            minutes_included: Some(minutes),
            ..Default::default()
        };
        f(&mut input);
        let new = input.validate(chrono_tz::UTC, 0).unwrap();
        self.store
            .create_token(&new, chrono::Utc::now().timestamp(), &test_actor())
            .await
            .unwrap()
    }

    /// `count` codes of 60 minutes in business `business`, generated as the
    /// batch `name`, with codes `<name's letters and digits>001`, `…002`, ….
    pub async fn batch(
        &self,
        name: &str,
        business: i64,
        count: usize,
        valid_to: Option<&str>,
    ) -> Vec<AccessToken> {
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
        let prefix: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        self.store
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
                &test_actor(),
                name,
            )
            .await
            .unwrap()
    }

    /// An operator of the web UI with [`OPERATOR_PASSWORD`].
    pub async fn operator(
        &self,
        name: &str,
        role: radgate::store::operators::Role,
        businesses: Vec<i64>,
    ) {
        self.store
            .create_operator(
                &radgate::store::operators::NewOperator {
                    name: name.into(),
                    role,
                    businesses,
                    password_hash: radgate::store::operators::hash_password(OPERATOR_PASSWORD)
                        .unwrap(),
                },
                "test",
                chrono::Utc::now().timestamp(),
                &test_actor(),
            )
            .await
            .unwrap();
    }

    /// Wait until everything answered so far is committed.
    pub async fn flush(&self) {
        self.handle.as_ref().unwrap().flush().await.unwrap();
    }

    /// Seconds used by a token, read from the database.
    pub async fn seconds_used(&self, code: &str) -> i64 {
        self.store.find_token(code).await.unwrap().seconds_used
    }

    /// Run SQL (that both backends read alike) on the database, after
    /// everything answered so far is committed.
    pub async fn exec(&self, sql: &str) {
        self.flush().await;
        match self.store.as_sqlite() {
            Some(s) => {
                sqlx::query(sql).execute(s.pool()).await.unwrap();
            }
            None => {
                let (client, conn) =
                    tokio_postgres::connect(&self.config.database.url, tokio_postgres::NoTls)
                        .await
                        .unwrap();
                let task = tokio::spawn(conn);
                client.batch_execute(sql).await.unwrap();
                drop(client);
                let _ = task.await;
            }
        }
    }

    /// The sessions with this Acct-Session-Id, oldest first.
    pub async fn sessions(&self, acct_session_id: &str) -> Vec<radgate::store::SessionInfo> {
        self.flush().await;
        let f = radgate::store::SessionFilter {
            limit: 100_000,
            ..Default::default()
        };
        let mut v: Vec<_> = self
            .store
            .list_sessions(&f, chrono::Utc::now().timestamp())
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s.acct_session_id.as_deref() == Some(acct_session_id))
            .collect();
        v.reverse();
        v
    }

    /// Every session and place, however many.
    pub async fn session_count(&self) -> usize {
        self.flush().await;
        let f = radgate::store::SessionFilter {
            limit: 1_000_000,
            ..Default::default()
        };
        self.store
            .list_sessions(&f, chrono::Utc::now().timestamp())
            .await
            .unwrap()
            .len()
    }

    pub async fn shutdown(mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await;
        }
    }
}

pub fn stat(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(std::sync::atomic::Ordering::Relaxed)
}

/// What the client sends as password.
#[derive(Clone, Debug)]
pub enum Pw<'a> {
    Pap(&'a str),
    /// CHAP with a CHAP-Challenge attribute.
    Chap(&'a str),
    /// CHAP using the Request Authenticator as challenge.
    ChapAuth(&'a str),
    /// CHAP as a hotspot forwards it: CHAP-Password (identifier ‖ answer)
    /// and CHAP-Challenge, as given.
    ChapAnswer(&'a [u8], &'a [u8]),
    None,
}

/// Build an Access-Request. Returns the bytes.
pub fn access_request(
    ident: u8,
    user: &str,
    pw: Pw,
    mac: Option<&str>,
    with_ma: bool,
    secret: &str,
) -> Vec<u8> {
    let mut p = Packet::new_with_identifier(Code::AccessRequest, secret.as_bytes(), ident);
    let auth = p.get_authenticator().clone();
    if with_ma {
        p.add(codec::Avp::from_bytes(
            codec::ATTR_MESSAGE_AUTHENTICATOR,
            &[0u8; 16],
        ));
    }
    p.add(codec::Avp::from_string(codec::ATTR_USER_NAME, user));
    let chap = |pw: &str, ch: &[u8]| {
        let mut h = Md5::new();
        h.update([ident]);
        h.update(pw.as_bytes());
        h.update(ch);
        let mut v = vec![ident];
        v.extend_from_slice(&h.finalize());
        v
    };
    match pw {
        Pw::Pap(pw) => {
            p.add(codec::pap_attribute(pw.as_bytes(), secret.as_bytes(), &auth).unwrap())
        }
        Pw::Chap(pw) => {
            let ch = b"0123456789ABCDEF";
            p.add(codec::Avp::from_bytes(codec::ATTR_CHAP_CHALLENGE, ch));
            p.add(codec::Avp::from_bytes(
                codec::ATTR_CHAP_PASSWORD,
                &chap(pw, ch),
            ));
        }
        Pw::ChapAuth(pw) => p.add(codec::Avp::from_bytes(
            codec::ATTR_CHAP_PASSWORD,
            &chap(pw, &auth),
        )),
        Pw::ChapAnswer(password, challenge) => {
            p.add(codec::Avp::from_bytes(
                codec::ATTR_CHAP_CHALLENGE,
                challenge,
            ));
            p.add(codec::Avp::from_bytes(codec::ATTR_CHAP_PASSWORD, password));
        }
        Pw::None => {}
    }
    if let Some(mac) = mac {
        p.add(codec::Avp::from_string(codec::ATTR_CALLING_STATION_ID, mac));
    }
    let mut bytes = p.encode().unwrap();
    if with_ma {
        use hmac::{Hmac, Mac};
        let mut m = Hmac::<Md5>::new_from_slice(secret.as_bytes()).unwrap();
        m.update(&bytes);
        let mac: [u8; 16] = m.finalize().into_bytes().into();
        bytes[22..38].copy_from_slice(&mac);
    }
    bytes
}

/// One accounting packet to build.
#[derive(Clone, Debug, Default)]
pub struct Acct<'a> {
    pub status: u32,
    pub user: &'a str,
    pub session_id: &'a str,
    pub session_time: Option<u32>,
    pub mac: Option<&'a str>,
    pub framed_ip: Option<std::net::Ipv4Addr>,
    pub terminate_cause: Option<u32>,
    pub input_octets: Option<u32>,
    pub output_octets: Option<u32>,
    /// Acct-Delay-Time.
    pub delay: Option<u32>,
}

pub const START: u32 = 1;
pub const STOP: u32 = 2;
pub const INTERIM: u32 = 3;
pub const ACCOUNTING_ON: u32 = 7;

/// Build an Accounting-Request (RFC 2866 Request Authenticator).
pub fn acct_request(ident: u8, a: &Acct, secret: &str) -> Vec<u8> {
    let mut attrs = codec::Attrs::default();
    attrs.push_u32(codec::ATTR_ACCT_STATUS_TYPE, a.status);
    if !a.user.is_empty() {
        attrs.push_string(codec::ATTR_USER_NAME, a.user);
    }
    if !a.session_id.is_empty() {
        attrs.push_string(codec::ATTR_ACCT_SESSION_ID, a.session_id);
    }
    if let Some(t) = a.session_time {
        attrs.push_u32(codec::ATTR_ACCT_SESSION_TIME, t);
    }
    if let Some(m) = a.mac {
        attrs.push_string(codec::ATTR_CALLING_STATION_ID, m);
    }
    if let Some(ip) = a.framed_ip {
        attrs.push_bytes(codec::ATTR_FRAMED_IP_ADDRESS, &ip.octets());
    }
    if let Some(c) = a.terminate_cause {
        attrs.push_u32(codec::ATTR_ACCT_TERMINATE_CAUSE, c);
    }
    if let Some(o) = a.input_octets {
        attrs.push_u32(codec::ATTR_ACCT_INPUT_OCTETS, o);
    }
    if let Some(o) = a.output_octets {
        attrs.push_u32(codec::ATTR_ACCT_OUTPUT_OCTETS, o);
    }
    if let Some(d) = a.delay {
        attrs.push_u32(codec::ATTR_ACCT_DELAY_TIME, d);
    }
    codec::encode_request(
        Code::AccountingRequest,
        ident,
        &attrs,
        secret.as_bytes(),
        false,
    )
    .unwrap()
}

/// A decoded, verified reply.
#[derive(Debug)]
pub struct Reply {
    pub code: Code,
    pub raw: Vec<u8>,
    pub packet: Packet,
}

impl Reply {
    pub fn session_timeout(&self) -> Option<u32> {
        radius::core::rfc2865::lookup_session_timeout(&self.packet).and_then(|r| r.ok())
    }
    pub fn interim_interval(&self) -> Option<u32> {
        radius::core::rfc2869::lookup_acct_interim_interval(&self.packet).and_then(|r| r.ok())
    }
    pub fn reply_message(&self) -> Option<String> {
        radius::core::rfc2865::lookup_reply_message(&self.packet).and_then(|r| r.ok())
    }
    pub fn is_accept(&self) -> bool {
        self.code == Code::AccessAccept
    }
}

pub struct Client {
    pub sock: UdpSocket,
    pub server: SocketAddr,
    pub secret: String,
}

impl Client {
    pub async fn new(server: SocketAddr) -> Client {
        Self::bind("127.0.0.1:0", server).await
    }

    pub async fn bind(local: &str, server: SocketAddr) -> Client {
        Client {
            sock: UdpSocket::bind(local).await.unwrap(),
            server,
            secret: SECRET.into(),
        }
    }

    pub async fn send(&self, bytes: &[u8]) {
        self.sock.send_to(bytes, self.server).await.unwrap();
    }

    /// Receive one reply to `request` (verified against it), within 5 s.
    pub async fn recv_for(&self, request: &[u8]) -> Reply {
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), self.sock.recv(&mut buf))
            .await
            .expect("no reply within 5 s")
            .unwrap();
        let raw = buf[..n].to_vec();
        assert_eq!(raw[1], request[1], "reply identifier");
        // Every reply but an Accounting-Response to an Accounting-Request
        // starts with Message-Authenticator; that one has none.
        if raw[0] == 5 && request[0] == 4 {
            assert_eq!(raw.len(), codec::HEADER_LEN, "empty Accounting-Response");
        } else {
            assert_eq!(
                raw[codec::HEADER_LEN],
                codec::ATTR_MESSAGE_AUTHENTICATOR,
                "Message-Authenticator first"
            );
        }
        let packet =
            codec::verify_response(&raw, request, self.secret.as_bytes()).expect("reply verifies");
        Reply {
            code: packet.get_code(),
            raw,
            packet,
        }
    }

    /// Receive one reply of several in flight (they may come in any order):
    /// decoded, not matched to its request.
    pub async fn recv_any(&self) -> Reply {
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), self.sock.recv(&mut buf))
            .await
            .expect("no reply within 10 s")
            .unwrap();
        let raw = buf[..n].to_vec();
        let packet = Packet::decode(&raw, self.secret.as_bytes()).expect("reply decodes");
        Reply {
            code: packet.get_code(),
            raw,
            packet,
        }
    }

    pub async fn roundtrip(&self, request: &[u8]) -> Reply {
        self.send(request).await;
        self.recv_for(request).await
    }

    /// Nothing is waiting on the socket right now.
    pub fn nothing_pending(&self) -> bool {
        let mut buf = [0u8; 4096];
        matches!(self.sock.try_recv(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Send an accounting packet and expect an Accounting-Response.
    pub async fn acct(&self, ident: u8, a: &Acct<'_>) -> Reply {
        let req = acct_request(ident, a, &self.secret);
        let r = self.roundtrip(&req).await;
        assert_eq!(r.code, Code::AccountingResponse);
        r
    }

    pub async fn auth(&self, ident: u8, user: &str, pw: Pw<'_>, mac: Option<&str>) -> Reply {
        let req = access_request(ident, user, pw, mac, true, &self.secret);
        self.roundtrip(&req).await
    }
}

/// Whether interop tests must run (CI) or may be skipped.
pub fn require_interop() -> bool {
    std::env::var("RADGATE_REQUIRE_INTEROP").is_ok_and(|v| v == "1")
}

/// A python3 that can import `module` (Debian's python3-* packages live in
/// the system python, which may not be the first python3 on PATH); `None`
/// (a loud skip) when there is none, unless RADGATE_REQUIRE_INTEROP=1.
pub fn python_with(module: &str, package: &str) -> Option<&'static str> {
    let py = ["python3", "/usr/bin/python3"].into_iter().find(|py| {
        std::process::Command::new(py)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if py.is_none() {
        if require_interop() {
            panic!("python3 module {module} missing and RADGATE_REQUIRE_INTEROP=1: install the Debian package {package}");
        }
        eprintln!("\n*** SKIPPED: python3 module {module} missing; install the Debian package {package} ***\n");
    }
    py
}

/// Find an external tool; skip loudly (or fail under RADGATE_REQUIRE_INTEROP=1).
pub fn tool(name: &str, package: &str) -> Option<PathBuf> {
    // Daemons (radsecproxy) live in sbin, which a user's PATH may lack.
    let paths = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&paths)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|p| p.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        if require_interop() {
            panic!("{name} not found and RADGATE_REQUIRE_INTEROP=1: install the Debian package {package}");
        }
        eprintln!("\n*** SKIPPED: {name} not found; install the Debian package {package} to run this interop test ***\n");
    }
    found
}
