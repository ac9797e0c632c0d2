//! Lean RADIUS encoding for the load generator and the responder.
//!
//! The load generator must not be the bottleneck, so requests are built into
//! a reused buffer and responses verified in place, without the allocations
//! of the `radius` crate's `Packet`. The unit tests below check every
//! function here against radgate's own codec (`radgate::radius::codec`).

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

pub const HEADER_LEN: usize = 20;
pub const MAX_PACKET_LEN: usize = 4096;

pub const ACCESS_REQUEST: u8 = 1;
pub const ACCESS_ACCEPT: u8 = 2;
pub const ACCESS_REJECT: u8 = 3;
pub const ACCOUNTING_REQUEST: u8 = 4;
pub const ACCOUNTING_RESPONSE: u8 = 5;

pub const ATTR_USER_NAME: u8 = 1;
pub const ATTR_USER_PASSWORD: u8 = 2;
pub const ATTR_CHAP_PASSWORD: u8 = 3;
pub const ATTR_NAS_IP_ADDRESS: u8 = 4;
pub const ATTR_NAS_PORT: u8 = 5;
pub const ATTR_FRAMED_IP_ADDRESS: u8 = 8;
pub const ATTR_CALLING_STATION_ID: u8 = 31;
pub const ATTR_NAS_IDENTIFIER: u8 = 32;
pub const ATTR_ACCT_STATUS_TYPE: u8 = 40;
pub const ATTR_ACCT_DELAY_TIME: u8 = 41;
pub const ATTR_ACCT_INPUT_OCTETS: u8 = 42;
pub const ATTR_ACCT_OUTPUT_OCTETS: u8 = 43;
pub const ATTR_ACCT_SESSION_ID: u8 = 44;
pub const ATTR_ACCT_SESSION_TIME: u8 = 46;
pub const ATTR_ACCT_TERMINATE_CAUSE: u8 = 49;
pub const ATTR_CHAP_CHALLENGE: u8 = 60;
pub const ATTR_MESSAGE_AUTHENTICATOR: u8 = 80;

pub const ACCT_START: u32 = 1;
pub const ACCT_STOP: u32 = 2;
pub const ACCT_INTERIM_UPDATE: u32 = 3;

type HmacMd5 = Hmac<Md5>;

/// A shared secret with its HMAC key schedule computed once.
#[derive(Clone)]
pub struct Secret {
    bytes: Vec<u8>,
    hmac: HmacMd5,
    /// MD5 state after absorbing the secret (PAP hides the password with
    /// MD5(secret + previous block)).
    md5_prefix: Md5,
}

impl Secret {
    pub fn new(secret: &[u8]) -> Secret {
        // HMAC accepts keys of any length, so this cannot fail.
        let hmac = <HmacMd5 as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
        let mut md5_prefix = Md5::new();
        md5_prefix.update(secret);
        Secret {
            bytes: secret.to_vec(),
            hmac,
            md5_prefix,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn hmac(&self, parts: &[&[u8]]) -> [u8; 16] {
        let mut m = self.hmac.clone();
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }
}

/// Builds one request into a reused buffer.
pub struct Builder<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> Builder<'a> {
    /// Start a packet: header with `authenticator` (zeros for accounting,
    /// filled in by [`Builder::seal_accounting`]) and, if asked, a zeroed
    /// Message-Authenticator as the first attribute.
    pub fn new(
        buf: &'a mut Vec<u8>,
        code: u8,
        identifier: u8,
        authenticator: &[u8; 16],
        with_message_authenticator: bool,
    ) -> Builder<'a> {
        buf.clear();
        buf.extend_from_slice(&[code, identifier, 0, 0]);
        buf.extend_from_slice(authenticator);
        if with_message_authenticator {
            buf.extend_from_slice(&[ATTR_MESSAGE_AUTHENTICATOR, 18]);
            buf.extend_from_slice(&[0u8; 16]);
        }
        Builder { buf }
    }

    /// An attribute; values longer than 253 octets are cut.
    pub fn attr(&mut self, typ: u8, value: &[u8]) -> &mut Self {
        let v = &value[..value.len().min(253)];
        self.buf.push(typ);
        self.buf.push((v.len() + 2) as u8);
        self.buf.extend_from_slice(v);
        self
    }

    pub fn attr_u32(&mut self, typ: u8, value: u32) -> &mut Self {
        self.attr(typ, &value.to_be_bytes())
    }

    /// User-Password hidden as RFC 2865 §5.2 says (password at most 128 octets).
    pub fn pap_password(&mut self, password: &[u8], secret: &Secret) -> &mut Self {
        let password = &password[..password.len().min(128)];
        let mut auth = [0u8; 16];
        auth.copy_from_slice(&self.buf[4..HEADER_LEN]);
        let blocks = password.len().div_ceil(16).max(1);
        self.buf.push(ATTR_USER_PASSWORD);
        self.buf.push((blocks * 16 + 2) as u8);
        let mut prev = auth;
        for b in 0..blocks {
            let mut h = secret.md5_prefix.clone();
            h.update(prev);
            let key: [u8; 16] = h.finalize().into();
            let mut c = [0u8; 16];
            for i in 0..16 {
                let p = password.get(b * 16 + i).copied().unwrap_or(0);
                c[i] = p ^ key[i];
            }
            self.buf.extend_from_slice(&c);
            prev = c;
        }
        self
    }

    /// CHAP-Challenge and CHAP-Password (RFC 1994: MD5(ident + password + challenge)).
    pub fn chap_password(
        &mut self,
        chap_ident: u8,
        password: &[u8],
        challenge: &[u8; 16],
    ) -> &mut Self {
        let mut h = Md5::new();
        h.update([chap_ident]);
        h.update(password);
        h.update(challenge);
        let digest: [u8; 16] = h.finalize().into();
        self.attr(ATTR_CHAP_CHALLENGE, challenge);
        self.buf
            .extend_from_slice(&[ATTR_CHAP_PASSWORD, 19, chap_ident]);
        self.buf.extend_from_slice(&digest);
        self
    }

    fn set_length(&mut self) {
        let len = self.buf.len() as u16;
        self.buf[2..4].copy_from_slice(&len.to_be_bytes());
    }

    fn has_message_authenticator(&self) -> bool {
        self.buf.len() >= HEADER_LEN + 18
            && self.buf[HEADER_LEN] == ATTR_MESSAGE_AUTHENTICATOR
            && self.buf[HEADER_LEN + 1] == 18
    }

    /// Finish an Access-Request: length, then Message-Authenticator (if
    /// present) over the packet with the Request Authenticator in place.
    pub fn seal_access(mut self, secret: &Secret) {
        self.set_length();
        if self.has_message_authenticator() {
            let mac = secret.hmac(&[self.buf]);
            self.buf[HEADER_LEN + 2..HEADER_LEN + 18].copy_from_slice(&mac);
        }
    }

    /// Finish an Accounting-Request: length, Message-Authenticator (if
    /// present, computed with a zero authenticator), then the Request
    /// Authenticator MD5(packet with zero authenticator + secret).
    pub fn seal_accounting(mut self, secret: &Secret) {
        self.set_length();
        self.buf[4..HEADER_LEN].fill(0);
        if self.has_message_authenticator() {
            let mac = secret.hmac(&[self.buf]);
            self.buf[HEADER_LEN + 2..HEADER_LEN + 18].copy_from_slice(&mac);
        }
        let mut h = Md5::new();
        h.update(&self.buf[..]);
        h.update(secret.as_bytes());
        let auth: [u8; 16] = h.finalize().into();
        self.buf[4..HEADER_LEN].copy_from_slice(&auth);
    }
}

/// Why a response was not accepted as the answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadResponse {
    /// Too short, Length out of range, or attributes that do not tile.
    Malformed,
    /// Response Authenticator does not match the request's.
    Authenticator,
    /// Message-Authenticator present and wrong (or of the wrong length).
    MessageAuthenticator,
}

/// Walk the attributes of a framed packet: `Some(offset of the
/// Message-Authenticator value)` / `None`, or `Err` if they do not tile.
fn find_message_authenticator(pkt: &[u8]) -> Result<Option<usize>, BadResponse> {
    let mut pos = HEADER_LEN;
    let mut found = None;
    while pos < pkt.len() {
        let (Some(&typ), Some(&len)) = (pkt.get(pos), pkt.get(pos + 1)) else {
            return Err(BadResponse::Malformed);
        };
        let len = len as usize;
        if len < 2 || pos + len > pkt.len() {
            return Err(BadResponse::Malformed);
        }
        if typ == ATTR_MESSAGE_AUTHENTICATOR {
            if len != 18 || found.is_some() {
                return Err(BadResponse::MessageAuthenticator);
            }
            found = Some(pos + 2);
        }
        pos += len;
    }
    Ok(found)
}

/// The packet that the Length field frames, if it is well formed.
pub fn framed(datagram: &[u8]) -> Option<&[u8]> {
    let len = u16::from_be_bytes([*datagram.get(2)?, *datagram.get(3)?]) as usize;
    if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&len) {
        return None;
    }
    datagram.get(..len)
}

/// Verify a response against the Request Authenticator of the request it
/// answers: Response Authenticator, and Message-Authenticator when present.
/// `scratch` is a reused buffer. Returns the response code and whether it
/// carried a Message-Authenticator.
pub fn verify_response(
    datagram: &[u8],
    request_auth: &[u8; 16],
    secret: &Secret,
    scratch: &mut Vec<u8>,
) -> Result<(u8, bool), BadResponse> {
    let pkt = framed(datagram).ok_or(BadResponse::Malformed)?;
    let ma_at = find_message_authenticator(pkt)?;
    let mut h = Md5::new();
    h.update(&pkt[..4]);
    h.update(request_auth);
    h.update(&pkt[HEADER_LEN..]);
    h.update(secret.as_bytes());
    let want: [u8; 16] = h.finalize().into();
    if want[..] != pkt[4..HEADER_LEN] {
        return Err(BadResponse::Authenticator);
    }
    if let Some(at) = ma_at {
        scratch.clear();
        scratch.extend_from_slice(pkt);
        scratch[4..HEADER_LEN].copy_from_slice(request_auth);
        scratch[at..at + 16].fill(0);
        if secret.hmac(&[scratch])[..] != pkt[at..at + 16] {
            return Err(BadResponse::MessageAuthenticator);
        }
    }
    Ok((pkt[0], ma_at.is_some()))
}

/// Check a request as a server would (for the responder): an
/// Accounting-Request's Request Authenticator, and any request's
/// Message-Authenticator when present. `scratch` is a reused buffer.
pub fn verify_request(pkt: &[u8], secret: &Secret, scratch: &mut Vec<u8>) -> bool {
    let Ok(ma_at) = find_message_authenticator(pkt) else {
        return false;
    };
    let zero_auth = pkt[0] == ACCOUNTING_REQUEST;
    scratch.clear();
    scratch.extend_from_slice(pkt);
    if zero_auth {
        scratch[4..HEADER_LEN].fill(0);
        let mut h = Md5::new();
        h.update(&scratch[..]);
        h.update(secret.as_bytes());
        let want: [u8; 16] = h.finalize().into();
        if want[..] != pkt[4..HEADER_LEN] {
            return false;
        }
    }
    if let Some(at) = ma_at {
        scratch[at..at + 16].fill(0);
        if secret.hmac(&[scratch])[..] != pkt[at..at + 16] {
            return false;
        }
    }
    true
}

/// Encode a response to `request` into `out`: `code`, the request's
/// identifier, Message-Authenticator as the only attribute when asked, and
/// the Response Authenticator.
pub fn encode_response(
    request: &[u8],
    code: u8,
    with_message_authenticator: bool,
    secret: &Secret,
    out: &mut Vec<u8>,
) {
    let mut auth = [0u8; 16];
    auth.copy_from_slice(&request[4..HEADER_LEN]);
    out.clear();
    out.extend_from_slice(&[code, request[1], 0, 0]);
    out.extend_from_slice(&auth);
    if with_message_authenticator {
        out.extend_from_slice(&[ATTR_MESSAGE_AUTHENTICATOR, 18]);
        out.extend_from_slice(&[0u8; 16]);
    }
    let len = out.len() as u16;
    out[2..4].copy_from_slice(&len.to_be_bytes());
    if with_message_authenticator {
        let mac = secret.hmac(&[out]);
        out[HEADER_LEN + 2..HEADER_LEN + 18].copy_from_slice(&mac);
    }
    let mut h = Md5::new();
    h.update(&out[..]);
    h.update(secret.as_bytes());
    let resp_auth: [u8; 16] = h.finalize().into();
    out[4..HEADER_LEN].copy_from_slice(&resp_auth);
}

#[cfg(test)]
mod tests {
    use super::*;
    use radgate::radius::codec::{self, Attrs, Credential, PacketCode as Code};

    const SECRET: &[u8] = b"testing123";

    fn auth() -> [u8; 16] {
        *b"0123456789abcdef"
    }

    #[test]
    fn pap_request_decodes_with_radgate_codec() {
        let s = Secret::new(SECRET);
        for (pw, ma) in [
            (&b"BENCH000001"[..], true),
            (b"sixteen-bytes-pw", false),
            (b"a-password-longer-than-sixteen-bytes", true),
        ] {
            let mut buf = Vec::new();
            let mut b = Builder::new(&mut buf, ACCESS_REQUEST, 42, &auth(), ma);
            b.attr(ATTR_USER_NAME, pw)
                .pap_password(pw, &s)
                .attr(ATTR_CALLING_STATION_ID, b"02:00:00:00:00:01")
                .attr_u32(ATTR_NAS_IP_ADDRESS, 0x7f00_0001);
            b.seal_access(&s);
            let req = codec::decode_request(&buf, SECRET, &[Code::AccessRequest]).unwrap();
            assert_eq!(req.identifier, 42);
            assert_eq!(req.has_message_authenticator, ma);
            assert_eq!(req.user_name().unwrap().as_bytes(), pw);
            assert_eq!(req.credential(), Credential::Pap(pw.to_vec()));
            assert_eq!(
                req.calling_station_id().as_deref(),
                Some("02:00:00:00:00:01")
            );
        }
    }

    #[test]
    fn chap_request_decodes_with_radgate_codec() {
        let s = Secret::new(SECRET);
        let mut buf = Vec::new();
        let mut b = Builder::new(&mut buf, ACCESS_REQUEST, 7, &auth(), true);
        b.attr(ATTR_USER_NAME, b"BENCH000002").chap_password(
            9,
            b"BENCH000002",
            b"fedcba9876543210",
        );
        b.seal_access(&s);
        let req = codec::decode_request(&buf, SECRET, &[Code::AccessRequest]).unwrap();
        let cred = req.credential();
        assert!(matches!(cred, Credential::Chap { ident: 9, .. }));
        assert!(cred.matches(b"BENCH000002"));
        assert!(!cred.matches(b"BENCH000003"));
        // A wrong secret breaks the Message-Authenticator.
        assert!(codec::decode_request(&buf, b"wrong-secret", &[Code::AccessRequest]).is_err());
    }

    #[test]
    fn accounting_request_decodes_with_radgate_codec() {
        let s = Secret::new(SECRET);
        for ma in [false, true] {
            let mut buf = Vec::new();
            let mut b = Builder::new(&mut buf, ACCOUNTING_REQUEST, 3, &[0u8; 16], ma);
            b.attr_u32(ATTR_ACCT_STATUS_TYPE, ACCT_INTERIM_UPDATE)
                .attr(ATTR_ACCT_SESSION_ID, b"0000002A")
                .attr(ATTR_USER_NAME, b"BENCH000003")
                .attr_u32(ATTR_ACCT_SESSION_TIME, 60);
            b.seal_accounting(&s);
            let req = codec::decode_request(&buf, SECRET, &[Code::AccountingRequest]).unwrap();
            assert_eq!(codec::acct_status_type(&req), Some(ACCT_INTERIM_UPDATE));
            assert_eq!(req.u32_attr(ATTR_ACCT_SESSION_TIME), Some(60));
            assert_eq!(req.has_message_authenticator, ma);
            assert!(verify_request(&buf, &s, &mut Vec::new()));
            assert!(
                codec::decode_request(&buf, b"wrong-secret", &[Code::AccountingRequest]).is_err()
            );
            assert!(!verify_request(
                &buf,
                &Secret::new(b"wrong-secret"),
                &mut Vec::new()
            ));
        }
    }

    #[test]
    fn radgate_responses_verify_and_tampering_is_caught() {
        let s = Secret::new(SECRET);
        let mut buf = Vec::new();
        let mut b = Builder::new(&mut buf, ACCESS_REQUEST, 1, &auth(), true);
        b.attr(ATTR_USER_NAME, b"X").pap_password(b"X", &s);
        b.seal_access(&s);
        let req = codec::decode_request(&buf, SECRET, &[Code::AccessRequest]).unwrap();
        let mut attrs = Attrs::default();
        attrs.push_u32(27, 3600);
        let resp = codec::encode_response(&req, Code::AccessAccept, &attrs, SECRET).unwrap();
        let mut scratch = Vec::new();
        assert_eq!(
            verify_response(&resp, &auth(), &s, &mut scratch),
            Ok((ACCESS_ACCEPT, true))
        );
        assert_eq!(
            verify_response(&resp, b"another-authent!", &s, &mut scratch),
            Err(BadResponse::Authenticator)
        );
        assert_eq!(
            verify_response(&resp, &auth(), &Secret::new(b"wrong-secret"), &mut scratch),
            Err(BadResponse::Authenticator)
        );
        // Forge a wrong Message-Authenticator with a valid Response Authenticator.
        let mut t = resp.clone();
        t[HEADER_LEN + 2] ^= 1;
        let mut h = Md5::new();
        h.update(&t[..4]);
        h.update(auth());
        h.update(&t[HEADER_LEN..]);
        h.update(SECRET);
        let a: [u8; 16] = h.finalize().into();
        t[4..HEADER_LEN].copy_from_slice(&a);
        assert_eq!(
            verify_response(&t, &auth(), &s, &mut scratch),
            Err(BadResponse::MessageAuthenticator)
        );
        assert_eq!(
            verify_response(&resp[..19], &auth(), &s, &mut scratch),
            Err(BadResponse::Malformed)
        );
    }

    #[test]
    fn own_responses_verify_with_radgate_codec() {
        let s = Secret::new(SECRET);
        let mut req = Vec::new();
        let mut b = Builder::new(&mut req, ACCESS_REQUEST, 200, &auth(), true);
        b.attr(ATTR_USER_NAME, b"X").pap_password(b"X", &s);
        b.seal_access(&s);
        assert!(verify_request(&req, &s, &mut Vec::new()));
        let mut out = Vec::new();
        encode_response(&req, ACCESS_ACCEPT, true, &s, &mut out);
        let p = codec::verify_response(&out, &req, SECRET).expect("radgate verifies it");
        assert_eq!(p.get_code(), Code::AccessAccept);
        assert_eq!(out[1], 200);

        let mut acct = Vec::new();
        let mut b = Builder::new(&mut acct, ACCOUNTING_REQUEST, 5, &[0u8; 16], false);
        b.attr_u32(ATTR_ACCT_STATUS_TYPE, ACCT_START);
        b.seal_accounting(&s);
        encode_response(&acct, ACCOUNTING_RESPONSE, false, &s, &mut out);
        let p = codec::verify_response(&out, &acct, SECRET).expect("radgate verifies it");
        assert_eq!(p.get_code(), Code::AccountingResponse);
        let mut ra = [0u8; 16];
        ra.copy_from_slice(&acct[4..HEADER_LEN]);
        assert_eq!(
            verify_response(&out, &ra, &s, &mut Vec::new()),
            Ok((ACCOUNTING_RESPONSE, false))
        );
    }
}
