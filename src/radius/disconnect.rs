//! Dynamic Authorization (RFC 5176): Disconnect-Request to a NAS, so that a
//! guest whose code ran out, was deleted or was shortened is logged out.
//!
//! A request names the session as Mikrotik identifies a hotspot session:
//! User-Name (the code as the NAS knows it), Acct-Session-Id and, when known,
//! Framed-IP-Address; it carries Message-Authenticator. It is sent to the
//! NAS's address (the source of the session's accounting) on the client's
//! `coa_port`, retransmitted unchanged (same Identifier and authenticator, as
//! RFC 5176 asks) until a verified Disconnect-ACK/NAK arrives or the tries
//! run out. Used by the server (minutes or data ran out) and by the CLI (token
//! deleted or shortened).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use radius::core::code::Code;
use tokio::net::UdpSocket;

use super::codec::{self, Attrs};
use crate::config::Config;
use crate::store::LiveSession;

/// Error-Cause (RFC 5176 §3.5).
pub const ATTR_ERROR_CAUSE: u8 = 101;

/// Sends per request, and how long to wait for an answer after each.
pub const TRIES: u32 = 3;
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// One Disconnect-Request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The NAS's Dynamic Authorization listener.
    pub addr: SocketAddr,
    /// The client's name, for logs.
    pub client: String,
    pub secret: String,
    pub session: LiveSession,
}

/// What became of a Disconnect-Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Disconnect-ACK: the NAS ended the session.
    Ack,
    /// Disconnect-NAK, with its Error-Cause when it gave one.
    Nak(Option<u32>),
    /// No verified answer after every try.
    NoAnswer,
    /// Could not send at all (socket error, unencodable request).
    Failed(String),
}

impl Outcome {
    /// For logs and the CLI: `Disconnect-ACK`, `Disconnect-NAK (503 Session
    /// Context Not Found)`, `no answer after 3 tries`, …
    pub fn describe(&self) -> String {
        match self {
            Outcome::Ack => "Disconnect-ACK".into(),
            Outcome::Nak(None) => "Disconnect-NAK".into(),
            Outcome::Nak(Some(c)) => format!("Disconnect-NAK ({c} {})", error_cause_name(*c)),
            Outcome::NoAnswer => format!(
                "no answer after {TRIES} tries ({} s each)",
                TIMEOUT.as_secs()
            ),
            Outcome::Failed(e) => format!("not sent: {e}"),
        }
    }
}

/// RFC 5176 §3.5 Error-Cause values.
pub fn error_cause_name(c: u32) -> &'static str {
    match c {
        201 => "Residual Session Context Removed",
        202 => "Invalid EAP Packet (Ignored)",
        401 => "Unsupported Attribute",
        402 => "Missing Attribute",
        403 => "NAS Identification Mismatch",
        404 => "Invalid Request",
        405 => "Unsupported Service",
        406 => "Unsupported Extension",
        407 => "Invalid Attribute Value",
        501 => "Administratively Prohibited",
        502 => "Request Not Routable (Proxy)",
        503 => "Session Context Not Found",
        504 => "Session Context Not Removable",
        505 => "Other Proxy Processing Error",
        506 => "Resources Unavailable",
        507 => "Request Initiated",
        508 => "Multiple Session Selection Unsupported",
        _ => "unknown Error-Cause",
    }
}

/// The targets for these sessions: each session's NAS, when the client that
/// covers it has a `coa_port`. Sessions whose client has none (or whose NAS
/// no client covers any more) are left out.
pub fn targets(config: &Config, sessions: &[LiveSession]) -> Vec<Target> {
    sessions
        .iter()
        .filter_map(|s| {
            let ip: IpAddr = s.nas.parse().ok()?;
            let client = config.find_client(ip)?;
            let port = client.coa_port?;
            Some(Target {
                addr: SocketAddr::new(ip, port),
                client: client.name.clone(),
                secret: client.secret.clone(),
                session: s.clone(),
            })
        })
        .collect()
}

/// Encode the Disconnect-Request for `s`.
pub fn request(s: &LiveSession, identifier: u8, secret: &[u8]) -> Option<Vec<u8>> {
    let mut attrs = Attrs::default();
    attrs.push_string(codec::ATTR_USER_NAME, &s.user_name);
    attrs.push_string(codec::ATTR_ACCT_SESSION_ID, &s.acct_session_id);
    if let Some(ip) = s
        .framed_ip
        .as_deref()
        .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
    {
        attrs.push_bytes(codec::ATTR_FRAMED_IP_ADDRESS, &ip.octets());
    }
    codec::encode_request(Code::DisconnectRequest, identifier, &attrs, secret, true)
}

/// Send one Disconnect-Request and wait for its verified answer. The socket
/// is bound to `local` when that is an address of the NAS's family (so that
/// a server listening on loopback also sends from loopback), else to the
/// unspecified address.
pub async fn send(target: &Target, local: Option<IpAddr>) -> Outcome {
    let bind_ip = match (local, target.addr.ip()) {
        (Some(l), t) if l.is_ipv4() == t.is_ipv4() && !l.is_unspecified() => l,
        (_, IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (_, IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let sock = match UdpSocket::bind(SocketAddr::new(bind_ip, 0)).await {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(format!("cannot open a socket on {bind_ip}: {e}")),
    };
    let identifier: u8 = rand::random();
    let Some(req) = request(&target.session, identifier, target.secret.as_bytes()) else {
        return Outcome::Failed("the request cannot be encoded (attribute too long)".into());
    };
    let mut buf = vec![0u8; codec::MAX_PACKET_LEN];
    for _ in 0..TRIES {
        if let Err(e) = sock.send_to(&req, target.addr).await {
            return Outcome::Failed(format!("cannot send to {}: {e}", target.addr));
        }
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let got = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await;
            let Ok(Ok((n, from))) = got else { break };
            if from != target.addr {
                continue;
            }
            let Some(resp) = buf.get(..n) else { continue };
            // Anything that does not verify against our request is ignored.
            let Some(pkt) = codec::verify_response(resp, &req, target.secret.as_bytes()) else {
                continue;
            };
            let cause = pkt
                .lookup(ATTR_ERROR_CAUSE)
                .and_then(|a| a.encode_u32().ok());
            match pkt.get_code() {
                Code::DisconnectACK => return Outcome::Ack,
                Code::DisconnectNAK => return Outcome::Nak(cause),
                _ => continue,
            }
        }
    }
    Outcome::NoAnswer
}

/// Send Disconnect-Requests for `sessions` in the background (the API's
/// and the web UI's changes); outcomes go to the log.
pub fn later(config: &Config, sessions: Vec<LiveSession>, why: &'static str) {
    let targets = targets(config, &sessions);
    if targets.is_empty() {
        return;
    }
    let local = Some(config.server.acct_listen.ip());
    tokio::spawn(async move {
        let outcomes = send_all(&targets, local).await;
        for (t, o) in targets.iter().zip(outcomes) {
            tracing::info!(
                nas = %t.client,
                session = %t.session.acct_session_id,
                "token {why}: {}",
                o.describe()
            );
        }
    });
}

/// Send to every target at once; the outcomes in the targets' order.
pub async fn send_all(targets: &[Target], local: Option<IpAddr>) -> Vec<Outcome> {
    let tasks: Vec<_> = targets
        .iter()
        .cloned()
        .map(|t| tokio::spawn(async move { send(&t, local).await }))
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(
            t.await
                .unwrap_or_else(|e| Outcome::Failed(format!("task failed: {e}"))),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> LiveSession {
        LiveSession {
            nas: "127.0.0.1".into(),
            acct_session_id: "81a00003".into(),
            user_name: "welcome1".into(),
            framed_ip: Some("10.5.50.7".into()),
            device: Some("AA:BB:CC:DD:EE:FF".into()),
        }
    }

    #[test]
    fn request_names_the_session_and_is_signed() {
        let secret = b"testing123";
        let bytes = request(&session(), 7, secret).unwrap();
        assert_eq!(bytes[0], 40, "Disconnect-Request");
        assert_eq!(bytes[1], 7);
        let attrs: Vec<(u8, Vec<u8>)> = codec::raw_attributes(&bytes[20..])
            .map(|(_, t, v)| (t, v.to_vec()))
            .collect();
        assert_eq!(attrs[0].0, codec::ATTR_MESSAGE_AUTHENTICATOR, "first");
        assert!(attrs.contains(&(codec::ATTR_USER_NAME, b"welcome1".to_vec())));
        assert!(attrs.contains(&(codec::ATTR_ACCT_SESSION_ID, b"81a00003".to_vec())));
        assert!(attrs.contains(&(codec::ATTR_FRAMED_IP_ADDRESS, vec![10, 5, 50, 7])));
        // Request Authenticator = MD5(header with zero authenticator, attributes, secret).
        use md5::{Digest, Md5};
        let mut zeroed = bytes.clone();
        zeroed[4..20].fill(0);
        let mut h = Md5::new();
        h.update(&zeroed);
        h.update(secret);
        assert_eq!(&bytes[4..20], h.finalize().as_slice());
        // Message-Authenticator: HMAC-MD5 over the packet with the
        // authenticator and itself zeroed.
        use hmac::{Hmac, Mac};
        zeroed[22..38].fill(0);
        let mut m = Hmac::<Md5>::new_from_slice(secret).unwrap();
        m.update(&zeroed);
        assert_eq!(&bytes[22..38], m.finalize().into_bytes().as_slice());
    }

    #[test]
    fn no_framed_ip_when_unknown_or_not_ipv4() {
        let mut s = session();
        s.framed_ip = None;
        let a = request(&s, 1, b"testing123").unwrap();
        s.framed_ip = Some("2001:db8::1".into());
        let b = request(&s, 1, b"testing123").unwrap();
        for bytes in [a, b] {
            assert!(!codec::raw_attributes(&bytes[20..])
                .any(|(_, t, _)| t == codec::ATTR_FRAMED_IP_ADDRESS));
        }
    }

    #[test]
    fn targets_only_for_clients_with_a_coa_port() {
        let mut c = Config::builtin_default();
        let mut s = session();
        assert!(targets(&c, std::slice::from_ref(&s)).is_empty());
        c.clients[0].coa_port = Some(1700);
        let t = targets(&c, std::slice::from_ref(&s));
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].addr, "127.0.0.1:1700".parse().unwrap());
        assert_eq!(t[0].secret, "testing123");
        s.nas = "192.0.2.9".into();
        assert!(targets(&c, &[s]).is_empty(), "no client covers it");
    }

    #[test]
    fn outcomes_read_well() {
        assert_eq!(
            Outcome::Nak(Some(503)).describe(),
            "Disconnect-NAK (503 Session Context Not Found)"
        );
        assert_eq!(Outcome::Ack.describe(), "Disconnect-ACK");
    }
}
