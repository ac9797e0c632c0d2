//! RadSec (RFC 6614): RADIUS over TLS on one connection, in process with a
//! rustls client, and end to end with radsecproxy (radclient → radsecproxy
//! → radgate; skipped loudly without it, required under
//! RADGATE_REQUIRE_INTEROP=1).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use radgate::config::{Config, RadsecTls};
use radgate::radius::codec::{self, PacketCode as Code};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

const RADSEC: &str = "radsec";

/// A CA, a server certificate (127.0.0.1, localhost) and a client
/// certificate, as PEM files in a directory.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let (ca_pem, issuer) = ca("radgate test CA");
        std::fs::write(dir.path().join("ca.pem"), &ca_pem).unwrap();
        let (cert, key) = leaf(&issuer, "radgate", true);
        std::fs::write(dir.path().join("server.pem"), cert).unwrap();
        std::fs::write(dir.path().join("server.key"), key).unwrap();
        let (cert, key) = leaf(&issuer, "nas1", false);
        std::fs::write(dir.path().join("client.pem"), cert).unwrap();
        std::fs::write(dir.path().join("client.key"), key).unwrap();
        // A client certificate from a CA radgate does not trust.
        let (_, other) = ca("some other CA");
        let (cert, key) = leaf(&other, "stranger", false);
        std::fs::write(dir.path().join("other.pem"), cert).unwrap();
        std::fs::write(dir.path().join("other.key"), key).unwrap();
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The `[radsec]` certificate settings, loaded.
    fn server_tls(&self) -> RadsecTls {
        let (certificate, private_key, client_ca) = (
            self.path("server.pem"),
            self.path("server.key"),
            self.path("ca.pem"),
        );
        let config =
            radgate::tls::radsec_server_config(&certificate, &private_key, &client_ca).unwrap();
        RadsecTls {
            certificate,
            private_key,
            client_ca,
            config,
        }
    }
}

fn ca(name: &str) -> (String, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, name.to_string());
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let cert = p.self_signed(&key).unwrap();
    (cert.pem(), rcgen::Issuer::new(p, key))
}

/// A certificate (PEM) and its key (PEM), for a server or a client.
fn leaf(issuer: &rcgen::Issuer<'_, rcgen::KeyPair>, cn: &str, server: bool) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let names = if server {
        vec!["localhost".to_string(), "127.0.0.1".to_string()]
    } else {
        vec![format!("{cn}.example")]
    };
    let mut p = rcgen::CertificateParams::new(names).unwrap();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, cn.to_string());
    p.extended_key_usages = vec![if server {
        rcgen::ExtendedKeyUsagePurpose::ServerAuth
    } else {
        rcgen::ExtendedKeyUsagePurpose::ClientAuth
    }];
    let cert = p.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// RadSec on 127.0.0.1:0 for a `radsec = true` client on 127.0.0.1.
fn with_radsec(pki: &Pki) -> impl FnOnce(&mut Config) + '_ {
    move |c: &mut Config| {
        c.radsec.listen = Some("127.0.0.1:0".parse().unwrap());
        c.radsec.tls = Some(pki.server_tls());
        c.radsec.handshake_timeout = Duration::from_secs(1);
        let mut nas = c.clients[0].clone();
        nas.name = "radsec-nas".into();
        nas.secret = RADSEC.into();
        nas.radsec = true;
        c.clients.push(nas);
    }
}

/// A rustls client trusting the test CA, presenting `identity` (a
/// certificate and key file pair) if any.
fn connector(pki: &Pki, identity: Option<(&str, &str)>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pem_certs(&pki.path("ca.pem")).remove(0)).unwrap();
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match identity {
        None => b.with_no_client_auth(),
        Some((cert, key)) => {
            use rustls::pki_types::pem::PemObject;
            let key = PrivateKeyDer::from_pem_file(pki.path(key)).unwrap();
            b.with_client_auth_cert(pem_certs(&pki.path(cert)), key)
                .unwrap()
        }
    };
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

fn pem_certs(path: &Path) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn connect(addr: SocketAddr, c: &tokio_rustls::TlsConnector) -> std::io::Result<Tls> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    c.connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// Read one framed RADIUS packet (Length from its header), within 5 s;
/// `None` at the end of the stream.
async fn read_packet(s: &mut Tls) -> Option<Vec<u8>> {
    tokio::time::timeout(Duration::from_secs(5), async {
        let mut head = [0u8; 4];
        s.read_exact(&mut head).await.ok()?;
        let len = u16::from_be_bytes([head[2], head[3]]) as usize;
        let mut p = vec![0u8; len];
        p[..4].copy_from_slice(&head);
        s.read_exact(&mut p[4..]).await.ok()?;
        Some(p)
    })
    .await
    .expect("no packet (or end) within 5 s")
}

fn status_server(ident: u8) -> Vec<u8> {
    codec::encode_request(
        Code::StatusServer,
        ident,
        &codec::Attrs::default(),
        RADSEC.as_bytes(),
        true,
    )
    .unwrap()
}

fn acct(status: u32, time: Option<u32>) -> Acct<'static> {
    Acct {
        status,
        user: "RADSEC01",
        session_id: "rs-1",
        session_time: time,
        mac: Some("AA-BB-CC-00-00-01"),
        ..Default::default()
    }
}

/// Access-Request, Accounting Start and Interim, and Status-Server written
/// back to back on one connection: all answered, matched by Identifier,
/// and verified with the secret "radsec"; the Interim is charged by the
/// time its Accounting-Response arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_on_one_connection() {
    let pki = Pki::new();
    let s = TestServer::start_with(with_radsec(&pki)).await;
    s.token("RADSEC01", 60, |_| {}).await;
    let addr = s.radsec_addr.expect("radsec listening");
    let mut tls = connect(addr, &connector(&pki, Some(("client.pem", "client.key"))))
        .await
        .unwrap();

    let requests: Vec<(u8, Vec<u8>)> = vec![
        (
            1,
            access_request(
                1,
                "RADSEC01",
                Pw::Pap("RADSEC01"),
                Some("AA-BB-CC-00-00-01"),
                true,
                RADSEC,
            ),
        ),
        (2, acct_request(2, &acct(START, Some(0)), RADSEC)),
        (3, acct_request(3, &acct(INTERIM, Some(600)), RADSEC)),
        (4, status_server(4)),
    ];
    let all: Vec<u8> = requests.iter().flat_map(|(_, r)| r.clone()).collect();
    tls.write_all(&all).await.unwrap();
    tls.flush().await.unwrap();

    let by_id: HashMap<u8, &Vec<u8>> = requests.iter().map(|(i, r)| (*i, r)).collect();
    let mut answers = HashMap::new();
    for _ in 0..requests.len() {
        let raw = read_packet(&mut tls).await.expect("an answer");
        let id = raw[1];
        let req = by_id.get(&id).expect("answer to a request sent");
        let p = codec::verify_response(&raw, req, RADSEC.as_bytes()).expect("answer verifies");
        assert!(
            answers.insert(id, p.get_code()).is_none(),
            "one answer per id"
        );
        if id == 3 {
            // Acknowledged: committed.
            assert_eq!(s.seconds_used("RADSEC01").await, 600);
        }
    }
    assert_eq!(answers[&1], Code::AccessAccept);
    assert_eq!(answers[&2], Code::AccountingResponse);
    assert_eq!(answers[&3], Code::AccountingResponse);
    assert_eq!(answers[&4], Code::AccessAccept);

    // The same Interim again on this connection: a duplicate, answered
    // from the cache and not charged twice; a later one is charged.
    tls.write_all(by_id[&3]).await.unwrap();
    let again = read_packet(&mut tls).await.unwrap();
    assert_eq!(again[0], 5);
    assert_eq!(stat(&s.stats().duplicates), 1);
    let later = acct_request(5, &acct(INTERIM, Some(900)), RADSEC);
    tls.write_all(&later).await.unwrap();
    let r = read_packet(&mut tls).await.unwrap();
    assert!(codec::verify_response(&r, &later, RADSEC.as_bytes()).is_some());
    assert_eq!(s.seconds_used("RADSEC01").await, 900);

    // RadSec clients are not UDP clients: the secret "radsec" is public.
    let udp = Client::bind("127.0.0.1:0", s.addr).await;
    let before = stat(&s.stats().bad_authenticator) + stat(&s.stats().bad_message_authenticator);
    udp.send(&access_request(
        9,
        "RADSEC01",
        Pw::Pap("RADSEC01"),
        None,
        true,
        RADSEC,
    ))
    .await;
    s.flush().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(udp.nothing_pending());
    assert!(
        stat(&s.stats().bad_authenticator) + stat(&s.stats().bad_message_authenticator) > before
    );

    // Garbage (a Length below 20) closes the connection.
    tls.write_all(&[1, 7, 0, 3]).await.unwrap();
    assert!(read_packet(&mut tls).await.is_none());
    s.shutdown().await;
}

/// Refused: no client certificate, a certificate of another CA, an address
/// no RadSec client covers; a connection that never starts its handshake is
/// closed after `handshake_timeout` (1 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_handshake_timeout() {
    let pki = Pki::new();
    let s = TestServer::start_with(with_radsec(&pki)).await;
    s.token("RADSEC01", 60, |_| {}).await;
    let addr = s.radsec_addr.unwrap();
    let login = access_request(1, "RADSEC01", Pw::Pap("RADSEC01"), None, true, RADSEC);

    for identity in [None, Some(("other.pem", "other.key"))] {
        // TLS 1.3: the client may finish before the server refuses; then
        // the refusal shows on the first read.
        if let Ok(mut tls) = connect(addr, &connector(&pki, identity)).await {
            let _ = tls.write_all(&login).await;
            let mut buf = [0u8; 64];
            let r = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf))
                .await
                .expect("closed");
            assert!(!matches!(r, Ok(n) if n > 0), "{identity:?} refused");
        }
    }
    let refused = stat(&s.stats().radsec_refused);
    assert_eq!(refused, 2);

    // From 127.0.0.2: closed before the handshake.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut tcp = sock.connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("closed at once");
    assert!(matches!(n, Ok(0) | Err(_)));

    // Silent: closed within the handshake timeout.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let t0 = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("closed by the handshake timeout");
    assert!(matches!(n, Ok(0) | Err(_)));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(stat(&s.stats().radsec_refused), refused + 2);

    // A good client still gets in.
    let mut tls = connect(addr, &connector(&pki, Some(("client.pem", "client.key"))))
        .await
        .unwrap();
    tls.write_all(&login).await.unwrap();
    let r = read_packet(&mut tls).await.unwrap();
    assert_eq!(r[0], 2, "Access-Accept");
    assert_eq!(stat(&s.stats().radsec_connections), 1);
    s.shutdown().await;
}

/// radclient → radsecproxy (UDP in, TLS out with the client certificate)
/// → radgate's RadSec listener: Access-Accept and Accounting-Response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radsecproxy_interop() {
    let Some(radsecproxy) = tool("radsecproxy", "radsecproxy") else {
        return;
    };
    let Some(radclient) = tool("radclient", "freeradius-utils") else {
        return;
    };
    let pki = Pki::new();
    let s = TestServer::start_with(with_radsec(&pki)).await;
    s.token("PROXY001", 60, |_| {}).await;
    let addr = s.radsec_addr.unwrap();
    let udp_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = pki.path("radsecproxy.conf");
    let p = |n: &str| pki.path(n).display().to_string();
    std::fs::write(
        &conf,
        format!(
            "ListenUDP 127.0.0.1:{udp_port}\n\
             LogLevel 4\n\
             tls default {{\n  CACertificateFile {ca}\n  CertificateFile {cert}\n  CertificateKeyFile {key}\n}}\n\
             client 127.0.0.1 {{\n  type udp\n  secret {SECRET}\n}}\n\
             server 127.0.0.1 {{\n  type tls\n  port {port}\n  secret {RADSEC}\n}}\n\
             realm * {{\n  server 127.0.0.1\n  accountingServer 127.0.0.1\n}}\n",
            ca = p("ca.pem"),
            cert = p("client.pem"),
            key = p("client.key"),
            port = addr.port(),
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(radsecproxy)
        .args(["-f", "-d", "4", "-c"])
        .arg(&conf)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Ready when it says it listens on UDP; its log is kept for failures.
    let log = Arc::new(std::sync::Mutex::new(String::new()));
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    let mut ready_tx = Some(ready_tx);
    let mut lines = {
        use tokio::io::AsyncBufReadExt;
        let out = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let err = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        (out, err)
    };
    let log2 = log.clone();
    tokio::spawn(async move {
        loop {
            let line = tokio::select! {
                l = lines.0.next_line() => l,
                l = lines.1.next_line() => l,
            };
            let Ok(Some(line)) = line else { break };
            if line.to_ascii_lowercase().contains("listening for udp") {
                if let Some(tx) = ready_tx.take() {
                    let _ = tx.send(());
                }
            }
            let mut g = log2.lock().unwrap();
            g.push_str(&line);
            g.push('\n');
        }
    });
    let logged = || log.lock().unwrap().clone();
    if tokio::time::timeout(Duration::from_secs(10), ready_rx)
        .await
        .is_err()
    {
        panic!("radsecproxy did not start:\n{}", logged());
    }

    let run = move |kind: &'static str, input: String| {
        let bin = radclient.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                use std::io::Write;
                let mut c = std::process::Command::new(bin)
                    .args(["-x", "-r", "2", "-t", "5"])
                    .arg(format!("127.0.0.1:{udp_port}"))
                    .args([kind, SECRET])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
                let out = c.wait_with_output().unwrap();
                (
                    out.status.success(),
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    ),
                )
            })
            .await
            .unwrap()
        }
    };
    let (ok, out) = run(
        "auth",
        "User-Name = \"PROXY001\"\nUser-Password = \"PROXY001\"\nCalling-Station-Id = \"AA-BB-CC-00-00-02\"\n"
            .into(),
    )
    .await;
    assert!(
        ok && out.contains("Access-Accept"),
        "{out}\nradsecproxy:\n{}",
        logged()
    );
    let (ok, out) = run(
        "acct",
        "User-Name = \"PROXY001\"\nAcct-Status-Type = Interim-Update\nAcct-Session-Id = \"px-1\"\n\
         Acct-Session-Time = 300\nCalling-Station-Id = \"AA-BB-CC-00-00-02\"\n"
            .into(),
    )
    .await;
    assert!(
        ok && out.contains("Accounting-Response"),
        "{out}\nradsecproxy:\n{}",
        logged()
    );
    assert_eq!(s.seconds_used("PROXY001").await, 300);
    assert!(stat(&s.stats().radsec_connections) >= 1);
    let _ = child.kill().await;
    s.shutdown().await;
}

/// A reload that removes the RadSec client: the open connection is closed
/// at its next packet, a new one is refused; the UDP client is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_to_open_and_new_connections() {
    let pki = Pki::new();
    let s = TestServer::start_with(with_radsec(&pki)).await;
    s.token("RADSEC01", 60, |_| {}).await;
    let addr = s.radsec_addr.unwrap();
    let good = connector(&pki, Some(("client.pem", "client.key")));
    let mut tls = connect(addr, &good).await.unwrap();
    tls.write_all(&status_server(1)).await.unwrap();
    assert_eq!(read_packet(&mut tls).await.unwrap()[0], 2);

    let mut without = (*s.config).clone();
    without.clients.retain(|c| !c.radsec);
    let reloaded = s.handle.as_ref().unwrap().reload(without).await;
    assert!(
        reloaded.need_restart.is_empty(),
        "{:?}",
        reloaded.need_restart
    );

    tls.write_all(&status_server(2)).await.unwrap();
    assert!(read_packet(&mut tls).await.is_none(), "closed");
    if let Ok(mut again) = connect(addr, &good).await {
        let _ = again.write_all(&status_server(3)).await;
        assert!(read_packet(&mut again).await.is_none(), "refused");
    }
    let udp = Client::new(s.addr).await;
    assert!(udp
        .auth(4, "RADSEC01", Pw::Pap("RADSEC01"), None)
        .await
        .is_accept());
    s.shutdown().await;
}
