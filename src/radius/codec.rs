//! Everything that knows RADIUS bytes, on top of the `radius` crate.
//!
//! The `radius` crate decodes packets and attributes; this module adds what it
//! lacks: request authenticator and Message-Authenticator (RFC 3579/BlastRADIUS)
//! verification and signing, responses with Message-Authenticator as the first
//! attribute, CHAP, and vendor-specific attributes. Nothing here panics on
//! network input: every offset is checked.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

use crate::token::credential::constant_time_eq;
pub use crate::token::Credential;
use radius::core::avp::AVP;
use radius::core::code::Code;
use radius::core::packet::Packet;
use radius::core::{rfc2865, rfc2866};

pub const MAX_PACKET_LEN: usize = 4096;
pub const HEADER_LEN: usize = 20;

pub const ATTR_USER_NAME: u8 = 1;
pub const ATTR_USER_PASSWORD: u8 = 2;
pub const ATTR_CHAP_PASSWORD: u8 = 3;
pub const ATTR_REPLY_MESSAGE: u8 = 18;
pub const ATTR_VENDOR_SPECIFIC: u8 = 26;
pub const ATTR_CLASS: u8 = 25;
pub const ATTR_SESSION_TIMEOUT: u8 = 27;
pub const ATTR_IDLE_TIMEOUT: u8 = 28;
pub const ATTR_CALLING_STATION_ID: u8 = 31;
pub const ATTR_PROXY_STATE: u8 = 33;
pub const ATTR_FRAMED_IP_ADDRESS: u8 = 8;
pub const ATTR_ACCT_STATUS_TYPE: u8 = 40;
pub const ATTR_ACCT_DELAY_TIME: u8 = 41;
pub const ATTR_ACCT_INPUT_OCTETS: u8 = 42;
pub const ATTR_ACCT_OUTPUT_OCTETS: u8 = 43;
pub const ATTR_ACCT_SESSION_ID: u8 = 44;
pub const ATTR_ACCT_SESSION_TIME: u8 = 46;
pub const ATTR_ACCT_INPUT_PACKETS: u8 = 47;
pub const ATTR_ACCT_OUTPUT_PACKETS: u8 = 48;
pub const ATTR_ACCT_TERMINATE_CAUSE: u8 = 49;
pub const ATTR_ACCT_INPUT_GIGAWORDS: u8 = 52;
pub const ATTR_ACCT_OUTPUT_GIGAWORDS: u8 = 53;
pub const ATTR_CHAP_CHALLENGE: u8 = 60;
pub const ATTR_MESSAGE_AUTHENTICATOR: u8 = 80;
pub const ATTR_ACCT_INTERIM_INTERVAL: u8 = 85;

pub const VENDOR_MIKROTIK: u32 = 14988;
pub const VENDOR_WISPR: u32 = 14122;
/// Mikrotik-Rate-Limit (vendor 14988).
pub const MIKROTIK_RATE_LIMIT: u8 = 8;
/// Mikrotik-Total-Limit (bytes, low 32 bits) and
/// Mikrotik-Total-Limit-Gigawords (the bits above), FreeRADIUS
/// dictionary.mikrotik.
pub const MIKROTIK_TOTAL_LIMIT: u8 = 17;
pub const MIKROTIK_TOTAL_LIMIT_GIGAWORDS: u8 = 18;
/// ChilliSpot / CoovaChilli (FreeRADIUS dictionary.chillispot; the
/// Gigawords attribute from CoovaChilli's radius_chillispot.h).
pub const VENDOR_CHILLISPOT: u32 = 14559;
pub const CHILLISPOT_MAX_TOTAL_OCTETS: u8 = 3;
pub const CHILLISPOT_MAX_TOTAL_GIGAWORDS: u8 = 23;
/// WISPr-Bandwidth-Max-Up / -Down (bits/s) and WISPr-Session-Terminate-Time
/// (vendor 14122).
pub const WISPR_BANDWIDTH_MAX_UP: u8 = 7;
pub const WISPR_BANDWIDTH_MAX_DOWN: u8 = 8;
pub const WISPR_SESSION_TERMINATE_TIME: u8 = 9;

type HmacMd5 = Hmac<Md5>;

/// Why a datagram was dropped before reaching any decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Fewer than 20 bytes, a Length field out of range or larger than the
    /// datagram, or attributes that do not tile the packet.
    Malformed,
    /// A code this port does not serve.
    UnexpectedCode,
    /// Request Authenticator (accounting) does not verify.
    BadAuthenticator,
    /// Message-Authenticator present but wrong, or of the wrong length.
    BadMessageAuthenticator,
    /// Message-Authenticator required by policy and absent.
    MissingMessageAuthenticator,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed packet",
            DropReason::UnexpectedCode => "unexpected packet code for this port",
            DropReason::BadAuthenticator => "request authenticator does not verify",
            DropReason::BadMessageAuthenticator => "Message-Authenticator does not verify",
            DropReason::MissingMessageAuthenticator => "Message-Authenticator required but missing",
        }
    }
}

/// Iterate over the raw attributes of `attrs` (the bytes after the header).
/// Yields (offset within `attrs`, type, value). Returns `None` from
/// [`check_attributes`] if they do not tile the buffer exactly.
pub fn raw_attributes(attrs: &[u8]) -> impl Iterator<Item = (usize, u8, &[u8])> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let typ = *attrs.get(pos)?;
        let len = *attrs.get(pos + 1)? as usize;
        if len < 2 {
            return None;
        }
        let value = attrs.get(pos + 2..pos + len)?;
        let at = pos;
        pos += len;
        Some((at, typ, value))
    })
}

/// True if the attributes tile `attrs` exactly (no zero/one-byte lengths, no overrun).
pub fn check_attributes(attrs: &[u8]) -> bool {
    let mut end = 0usize;
    for (at, _, value) in raw_attributes(attrs) {
        end = at + 2 + value.len();
    }
    end == attrs.len()
}

/// The packet bytes that count: the Length field says where the packet ends;
/// octets beyond it are padding and ignored (RFC 2865 §3).
pub fn framed(datagram: &[u8]) -> Result<&[u8], DropReason> {
    let hdr = datagram.get(..HEADER_LEN).ok_or(DropReason::Malformed)?;
    let len = u16::from_be_bytes([hdr[2], hdr[3]]) as usize;
    if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&len) {
        return Err(DropReason::Malformed);
    }
    let pkt = datagram.get(..len).ok_or(DropReason::Malformed)?;
    if !check_attributes(&pkt[HEADER_LEN..]) {
        return Err(DropReason::Malformed);
    }
    Ok(pkt)
}

/// A request that decoded and verified with its client's secret.
#[derive(Debug, Clone)]
pub struct Request {
    pub code: Code,
    pub identifier: u8,
    pub authenticator: [u8; 16],
    pub has_message_authenticator: bool,
    pub packet: Packet,
}

impl Request {
    pub fn user_name(&self) -> Option<String> {
        self.string_attr(ATTR_USER_NAME)
    }

    pub fn calling_station_id(&self) -> Option<String> {
        self.string_attr(ATTR_CALLING_STATION_ID)
    }

    /// A text attribute as (lossy) UTF-8.
    pub fn string_attr(&self, typ: u8) -> Option<String> {
        self.packet
            .lookup(typ)
            .map(|avp| String::from_utf8_lossy(&avp.encode_bytes()).into_owned())
    }

    pub fn u32_attr(&self, typ: u8) -> Option<u32> {
        self.packet
            .lookup(typ)
            .and_then(|avp| avp.encode_u32().ok())
    }

    pub fn ipv4_attr(&self, typ: u8) -> Option<std::net::Ipv4Addr> {
        self.packet
            .lookup(typ)
            .and_then(|avp| avp.encode_ipv4().ok())
    }

    pub fn has_attr(&self, typ: u8) -> bool {
        self.packet.lookup(typ).is_some()
    }

    /// Whether User-Password, un-hidden with this client's secret, has
    /// padding that is not all zeros. A NAS pads with zeros (RFC 2865
    /// §5.2), so anything else there means the NAS hid it with another
    /// secret (the text before the first zero may still look like a
    /// password). False without a well-formed User-Password.
    pub fn pap_padding_garbled(&self) -> bool {
        let Some(avp) = self.packet.lookup(ATTR_USER_PASSWORD) else {
            return false;
        };
        let hidden = avp.encode_bytes();
        if hidden.is_empty() || hidden.len() % 16 != 0 {
            return false;
        }
        let secret = self.packet.get_secret();
        let mut prev: &[u8] = &self.authenticator;
        let mut plain = Vec::with_capacity(hidden.len());
        for chunk in hidden.chunks(16) {
            let mut h = Md5::new();
            h.update(secret);
            h.update(prev);
            let b = h.finalize();
            plain.extend(chunk.iter().zip(b.iter()).map(|(x, y)| x ^ y));
            prev = chunk;
        }
        match plain.iter().position(|&b| b == 0) {
            Some(i) => plain[i..].iter().any(|&b| b != 0),
            None => false,
        }
    }

    /// The credential the NAS sent: PAP, CHAP, or none.
    pub fn credential(&self) -> Credential {
        if let Some(res) = rfc2865::lookup_user_password(&self.packet) {
            return match res {
                Ok(pw) => Credential::Pap(pw),
                Err(_) => Credential::Invalid,
            };
        }
        if let Some(chap) = rfc2865::lookup_chap_password(&self.packet) {
            let (Some(&ident), Some(resp)) = (chap.first(), chap.get(1..17)) else {
                return Credential::Invalid;
            };
            if chap.len() != 17 {
                return Credential::Invalid;
            }
            let challenge = rfc2865::lookup_chap_challenge(&self.packet)
                .unwrap_or_else(|| self.authenticator.to_vec());
            let mut response = [0u8; 16];
            response.copy_from_slice(resp);
            return Credential::Chap {
                ident,
                response,
                challenge,
            };
        }
        Credential::None
    }

    /// Vendor-specific attributes (vendor id, vendor type, value), for
    /// sub-attributes in the RFC 2865 §5.26 recommended format.
    pub fn vendor_attributes(&self) -> Vec<(u32, u8, Vec<u8>)> {
        let mut out = Vec::new();
        for avp in self.packet.lookup_all(ATTR_VENDOR_SPECIFIC) {
            let v = avp.encode_bytes();
            let Some(id) = v.get(..4) else { continue };
            let vendor = u32::from_be_bytes([id[0], id[1], id[2], id[3]]);
            for (_, typ, value) in raw_attributes(&v[4..]) {
                out.push((vendor, typ, value.to_vec()));
            }
        }
        out
    }
}

/// Attributes that may appear at most once in a request (RFC 2865 §5.44,
/// RFC 2866 §5.13): a second copy makes the packet ambiguous (which
/// User-Name is the code?), so such a packet is dropped as malformed.
const SINGLETONS: &[u8] = &[
    ATTR_USER_NAME,
    ATTR_USER_PASSWORD,
    ATTR_CHAP_PASSWORD,
    ATTR_CALLING_STATION_ID,
    ATTR_ACCT_STATUS_TYPE,
    ATTR_ACCT_SESSION_ID,
    ATTR_ACCT_SESSION_TIME,
    ATTR_CHAP_CHALLENGE,
];

/// Does the attribute area carry a second copy of a singleton attribute?
pub fn has_duplicate_singletons(attrs: &[u8]) -> bool {
    let mut seen = [false; 256];
    for (_, typ, _) in raw_attributes(attrs) {
        if SINGLETONS.contains(&typ) {
            if seen[typ as usize] {
                return true;
            }
            seen[typ as usize] = true;
        }
    }
    false
}

/// Offset (in the whole packet) of the Message-Authenticator value, if present.
/// `Err` if present with a length other than 16, or more than once.
fn find_message_authenticator(pkt: &[u8]) -> Result<Option<usize>, DropReason> {
    let attrs = pkt.get(HEADER_LEN..).ok_or(DropReason::Malformed)?;
    let mut found = None;
    for (at, typ, value) in raw_attributes(attrs) {
        if typ == ATTR_MESSAGE_AUTHENTICATOR {
            if value.len() != 16 || found.is_some() {
                return Err(DropReason::BadMessageAuthenticator);
            }
            found = Some(HEADER_LEN + at + 2);
        }
    }
    Ok(found)
}

fn hmac_md5(secret: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for HMAC.
    let mut mac = match HmacMd5::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return [0u8; 16],
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Verify a framed request's Message-Authenticator (if any) in place.
/// `zero_authenticator`: accounting/CoA requests compute it over 16 zero octets.
fn verify_message_authenticator(
    pkt: &[u8],
    ma_at: usize,
    secret: &[u8],
    zero_authenticator: bool,
) -> bool {
    let (Some(head), Some(auth), Some(between), Some(got), Some(tail)) = (
        pkt.get(..4),
        pkt.get(4..HEADER_LEN),
        pkt.get(HEADER_LEN..ma_at),
        pkt.get(ma_at..ma_at + 16),
        pkt.get(ma_at + 16..),
    ) else {
        return false;
    };
    let zeros = [0u8; 16];
    let auth: &[u8] = if zero_authenticator { &zeros } else { auth };
    let want = hmac_md5(secret, &[head, auth, between, &zeros, tail]);
    constant_time_eq(&want, got)
}

fn accounting_authenticator(pkt: &[u8], secret: &[u8]) -> Option<[u8; 16]> {
    let mut h = Md5::new();
    h.update(pkt.get(..4)?);
    h.update([0u8; 16]);
    h.update(pkt.get(HEADER_LEN..)?);
    h.update(secret);
    Some(h.finalize().into())
}

/// Decode and verify a datagram from a known client.
///
/// `allowed` lists the codes this port serves. Access-Request and
/// Status-Server carry a random Request Authenticator, so only a
/// Message-Authenticator can prove them; Accounting-Request carries a keyed
/// hash that is checked here.
pub fn decode_request(
    datagram: &[u8],
    secret: &[u8],
    allowed: &[Code],
) -> Result<Request, DropReason> {
    let pkt = framed(datagram)?;
    let code = Code::from(pkt[0]);
    if !allowed.contains(&code) {
        return Err(DropReason::UnexpectedCode);
    }
    let ma_at = find_message_authenticator(pkt)?;
    if has_duplicate_singletons(&pkt[HEADER_LEN..]) {
        return Err(DropReason::Malformed);
    }
    let zero_auth = matches!(
        code,
        Code::AccountingRequest | Code::DisconnectRequest | Code::CoARequest
    );
    if zero_auth {
        match accounting_authenticator(pkt, secret) {
            Some(want) if constant_time_eq(&want, &pkt[4..HEADER_LEN]) => {}
            _ => return Err(DropReason::BadAuthenticator),
        }
    }
    if let Some(at) = ma_at {
        if !verify_message_authenticator(pkt, at, secret, zero_auth) {
            return Err(DropReason::BadMessageAuthenticator);
        }
    }
    let packet = Packet::decode(pkt, secret).map_err(|_| DropReason::Malformed)?;
    let mut authenticator = [0u8; 16];
    authenticator.copy_from_slice(&pkt[4..HEADER_LEN]);
    Ok(Request {
        code,
        identifier: pkt[1],
        authenticator,
        has_message_authenticator: ma_at.is_some(),
        packet,
    })
}

/// Peek at the identifying header of a datagram without verifying it.
pub fn peek_header(datagram: &[u8]) -> Option<(u8, u8, [u8; 16])> {
    let hdr = datagram.get(..HEADER_LEN)?;
    let mut auth = [0u8; 16];
    auth.copy_from_slice(&hdr[4..HEADER_LEN]);
    Some((hdr[0], hdr[1], auth))
}

/// Attributes for a response, in order; Message-Authenticator is added first
/// by [`encode_response`].
#[derive(Debug, Clone, Default)]
pub struct Attrs(pub Vec<AVP>);

impl Attrs {
    pub fn push_string(&mut self, typ: u8, s: &str) {
        // Text attributes are at most 253 octets; cut on a char boundary.
        let mut end = s.len().min(253);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.0.push(AVP::from_string(typ, &s[..end]));
    }
    pub fn push_u32(&mut self, typ: u8, v: u32) {
        self.0.push(AVP::from_u32(typ, v));
    }
    pub fn push_bytes(&mut self, typ: u8, v: &[u8]) {
        self.0.push(AVP::from_bytes(typ, v));
    }
    /// A vendor-specific attribute with one sub-attribute.
    pub fn push_vendor(&mut self, vendor: u32, vtype: u8, value: &[u8]) {
        let len = value.len().min(247);
        let mut v = Vec::with_capacity(6 + len);
        v.extend_from_slice(&vendor.to_be_bytes());
        v.push(vtype);
        v.push((len + 2) as u8);
        v.extend_from_slice(&value[..len]);
        self.0.push(AVP::from_bytes(ATTR_VENDOR_SPECIFIC, &v));
    }
}

/// Encode a response to `req` (code, identifier and request authenticator):
/// Message-Authenticator as the first attribute, then `attrs`, then any
/// Proxy-State attributes of the request in order (RFC 2865 §5.33).
///
/// An Accounting-Response to an Accounting-Request carries no
/// Message-Authenticator: no RFC defines how it is computed there and
/// implementations disagree (FreeRADIUS 3.2 verifies it over a zeroed
/// authenticator), so adding one could only make a NAS drop the answer. All
/// Access-* replies and replies to Status-Server carry it (BlastRADIUS).
pub fn encode_response(req: &Request, code: Code, attrs: &Attrs, secret: &[u8]) -> Option<Vec<u8>> {
    let with_ma = !(code == Code::AccountingResponse && req.code == Code::AccountingRequest);
    let mut resp = Packet::new_with_identifier(code, secret, req.identifier);
    if with_ma {
        resp.add(AVP::from_bytes(ATTR_MESSAGE_AUTHENTICATOR, &[0u8; 16]));
    }
    resp.extend(attrs.0.clone());
    for ps in req.packet.lookup_all(ATTR_PROXY_STATE) {
        resp.add(AVP::from_bytes(ATTR_PROXY_STATE, &ps.encode_bytes()));
    }
    // The crate computes the Response Authenticator over whatever is in the
    // header; we redo it after filling Message-Authenticator.
    let mut bytes = resp.encode().ok()?;
    sign_response(&mut bytes, &req.authenticator, secret, with_ma)?;
    Some(bytes)
}

/// Fill Message-Authenticator (first attribute, zeroed) and the Response
/// Authenticator of an encoded response.
fn sign_response(
    bytes: &mut [u8],
    request_auth: &[u8; 16],
    secret: &[u8],
    with_ma: bool,
) -> Option<()> {
    bytes.get_mut(4..HEADER_LEN)?.copy_from_slice(request_auth);
    if with_ma {
        let ma_at = HEADER_LEN + 2;
        bytes.get_mut(ma_at..ma_at + 16)?.fill(0);
        let mac = hmac_md5(secret, &[bytes]);
        bytes.get_mut(ma_at..ma_at + 16)?.copy_from_slice(&mac);
    }
    let mut h = Md5::new();
    h.update(&*bytes);
    h.update(secret);
    let auth: [u8; 16] = h.finalize().into();
    bytes.get_mut(4..HEADER_LEN)?.copy_from_slice(&auth);
    Some(())
}

/// Build and encode a request (for tests, the load generator and
/// Disconnect-Request). Access-Request/Status-Server get a random
/// authenticator and a Message-Authenticator; accounting-style requests get
/// the keyed Request Authenticator, with Message-Authenticator when asked.
pub fn encode_request(
    code: Code,
    identifier: u8,
    attrs: &Attrs,
    secret: &[u8],
    with_message_authenticator: bool,
) -> Option<Vec<u8>> {
    let mut p = Packet::new_with_identifier(code, secret, identifier);
    if with_message_authenticator {
        p.add(AVP::from_bytes(ATTR_MESSAGE_AUTHENTICATOR, &[0u8; 16]));
    }
    p.extend(attrs.0.clone());
    let mut bytes = p.encode().ok()?;
    let zero_auth = matches!(
        code,
        Code::AccountingRequest | Code::DisconnectRequest | Code::CoARequest
    );
    if zero_auth {
        bytes.get_mut(4..HEADER_LEN)?.fill(0);
    }
    if with_message_authenticator {
        let ma_at = HEADER_LEN + 2;
        let mac = hmac_md5(secret, &[&bytes]);
        bytes.get_mut(ma_at..ma_at + 16)?.copy_from_slice(&mac);
    }
    if zero_auth {
        let auth = accounting_authenticator(&bytes, secret)?;
        bytes.get_mut(4..HEADER_LEN)?.copy_from_slice(&auth);
    }
    Some(bytes)
}

/// PAP-encrypt `password` for an Access-Request with the given authenticator.
pub fn pap_attribute(password: &[u8], secret: &[u8], authenticator: &[u8]) -> Option<AVP> {
    AVP::from_user_password(ATTR_USER_PASSWORD, password, secret, authenticator).ok()
}

/// Check a response against the request it answers: Response Authenticator
/// and, when present, Message-Authenticator. Returns the decoded response.
pub fn verify_response(response: &[u8], request: &[u8], secret: &[u8]) -> Option<Packet> {
    let pkt = framed(response).ok()?;
    if !Packet::is_authentic_response(pkt, request, secret) {
        return None;
    }
    if let Ok(Some(at)) = find_message_authenticator(pkt) {
        let mut copy = pkt.to_vec();
        copy.get_mut(4..HEADER_LEN)?
            .copy_from_slice(request.get(4..HEADER_LEN)?);
        if !verify_message_authenticator(&copy, at, secret, false) {
            return None;
        }
    } else if find_message_authenticator(pkt).is_err() {
        return None;
    }
    Packet::decode(pkt, secret).ok()
}

/// Re-export for callers that build attributes by hand.
pub use radius::core::avp::AVP as Avp;
pub use radius::core::code::Code as PacketCode;

/// Lookup helpers for accounting (used by the accounting handler).
pub fn acct_status_type(req: &Request) -> Option<u32> {
    rfc2866::lookup_acct_status_type(&req.packet).and_then(|r| r.ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"xyzzy5461";

    fn access_request(attrs: &Attrs, ma: bool) -> Vec<u8> {
        encode_request(Code::AccessRequest, 7, attrs, SECRET, ma).unwrap()
    }

    #[test]
    fn rfc2865_example_decodes_pap() {
        // RFC 2865 §7.1
        let request: Vec<u8> = vec![
            0x01, 0x00, 0x00, 0x38, 0x0f, 0x40, 0x3f, 0x94, 0x73, 0x97, 0x80, 0x57, 0xbd, 0x83,
            0xd5, 0xcb, 0x98, 0xf4, 0x22, 0x7a, 0x01, 0x06, 0x6e, 0x65, 0x6d, 0x6f, 0x02, 0x12,
            0x0d, 0xbe, 0x70, 0x8d, 0x93, 0xd4, 0x13, 0xce, 0x31, 0x96, 0xe4, 0x3f, 0x78, 0x2a,
            0x0a, 0xee, 0x04, 0x06, 0xc0, 0xa8, 0x01, 0x10, 0x05, 0x06, 0x00, 0x00, 0x00, 0x03,
        ];
        let req = decode_request(&request, SECRET, &[Code::AccessRequest]).unwrap();
        assert_eq!(req.user_name().as_deref(), Some("nemo"));
        assert!(req.credential().matches(b"arctangent"));
        assert!(!req.credential().matches(b"arctangenT"));
        assert!(!req.has_message_authenticator);
    }

    /// A password hidden with another secret: the padding after the
    /// first zero is not zeros, even when the text before it looks fine.
    #[test]
    fn a_password_hidden_with_another_secret_is_seen_by_its_padding() {
        let rfc: Vec<u8> = vec![
            0x01, 0x00, 0x00, 0x38, 0x0f, 0x40, 0x3f, 0x94, 0x73, 0x97, 0x80, 0x57, 0xbd, 0x83,
            0xd5, 0xcb, 0x98, 0xf4, 0x22, 0x7a, 0x01, 0x06, 0x6e, 0x65, 0x6d, 0x6f, 0x02, 0x12,
            0x0d, 0xbe, 0x70, 0x8d, 0x93, 0xd4, 0x13, 0xce, 0x31, 0x96, 0xe4, 0x3f, 0x78, 0x2a,
            0x0a, 0xee, 0x04, 0x06, 0xc0, 0xa8, 0x01, 0x10, 0x05, 0x06, 0x00, 0x00, 0x00, 0x03,
        ];
        let right = decode_request(&rfc, SECRET, &[Code::AccessRequest]).unwrap();
        assert!(!right.pap_padding_garbled());
        assert!(!right.credential().is_garbled());
        let wrong = decode_request(&rfc, b"another-secret", &[Code::AccessRequest]).unwrap();
        assert!(wrong.credential().is_garbled() || wrong.pap_padding_garbled());
        // Un-hidden as "ab", then a zero, then more: text before the zero,
        // garbage after it.
        let mut p = Packet::new(Code::AccessRequest, SECRET);
        let auth = p.get_authenticator().clone();
        p.add(pap_attribute(b"ab\0\x01", SECRET, &auth).unwrap());
        let bytes = p.encode().unwrap();
        let req = decode_request(&bytes, SECRET, &[Code::AccessRequest]).unwrap();
        assert!(!req.credential().is_garbled(), "\"ab\" looks like text");
        assert!(req.pap_padding_garbled());
        // No User-Password: nothing to say.
        let mut a = Attrs::default();
        a.push_string(ATTR_USER_NAME, "CODE");
        let req =
            decode_request(&access_request(&a, false), SECRET, &[Code::AccessRequest]).unwrap();
        assert!(!req.pap_padding_garbled());
    }

    #[test]
    fn message_authenticator_round_trip_and_tamper() {
        let mut a = Attrs::default();
        a.push_string(ATTR_USER_NAME, "CODE");
        let bytes = access_request(&a, true);
        let req = decode_request(&bytes, SECRET, &[Code::AccessRequest]).unwrap();
        assert!(req.has_message_authenticator);
        // Wrong secret -> MA fails.
        assert_eq!(
            decode_request(&bytes, b"other-secret", &[Code::AccessRequest]).unwrap_err(),
            DropReason::BadMessageAuthenticator
        );
        // Flip a bit in the user name.
        let mut t = bytes.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert_eq!(
            decode_request(&t, SECRET, &[Code::AccessRequest]).unwrap_err(),
            DropReason::BadMessageAuthenticator
        );
    }

    #[test]
    fn response_has_message_authenticator_first_and_verifies() {
        let mut a = Attrs::default();
        a.push_string(ATTR_USER_NAME, "CODE");
        let reqb = access_request(&a, true);
        let req = decode_request(&reqb, SECRET, &[Code::AccessRequest]).unwrap();
        let mut r = Attrs::default();
        r.push_u32(ATTR_SESSION_TIMEOUT, 3600);
        r.push_vendor(VENDOR_MIKROTIK, 8, b"2M/5M");
        let resp = encode_response(&req, Code::AccessAccept, &r, SECRET).unwrap();
        assert_eq!(resp[HEADER_LEN], ATTR_MESSAGE_AUTHENTICATOR);
        assert_eq!(resp[HEADER_LEN + 1], 18);
        let p = verify_response(&resp, &reqb, SECRET).expect("verifies");
        assert_eq!(rfc2865::lookup_session_timeout(&p).unwrap().unwrap(), 3600);
        assert!(verify_response(&resp, &reqb, b"wrong-secret").is_none());
        let mut t = resp.clone();
        t[HEADER_LEN + 2] ^= 0xff;
        assert!(verify_response(&t, &reqb, SECRET).is_none());
    }

    #[test]
    fn accounting_authenticator_checked() {
        let mut a = Attrs::default();
        a.push_string(ATTR_USER_NAME, "CODE");
        a.push_u32(40, 1);
        for ma in [false, true] {
            let b = encode_request(Code::AccountingRequest, 3, &a, SECRET, ma).unwrap();
            let req = decode_request(&b, SECRET, &[Code::AccountingRequest]).unwrap();
            assert_eq!(acct_status_type(&req), Some(1));
            assert_eq!(req.has_message_authenticator, ma);
            assert_eq!(
                decode_request(&b, b"wrong-secret", &[Code::AccountingRequest]).unwrap_err(),
                DropReason::BadAuthenticator
            );
        }
    }

    #[test]
    fn chap_with_and_without_challenge() {
        let password = b"Welcome1";
        for with_challenge in [false, true] {
            let challenge = *b"0123456789abcdef";
            let mut a = Attrs::default();
            a.push_string(ATTR_USER_NAME, "Welcome1");
            if with_challenge {
                a.push_bytes(ATTR_CHAP_CHALLENGE, &challenge);
            }
            // We need the authenticator before computing CHAP without a
            // challenge attribute, so build the packet by hand.
            let mut p = Packet::new_with_identifier(Code::AccessRequest, SECRET, 9);
            let auth = p.get_authenticator().clone();
            let ch: &[u8] = if with_challenge { &challenge } else { &auth };
            let mut h = Md5::new();
            h.update([42u8]);
            h.update(password);
            h.update(ch);
            let mut chap = vec![42u8];
            chap.extend_from_slice(&h.finalize());
            p.extend(a.0.clone());
            p.add(AVP::from_bytes(ATTR_CHAP_PASSWORD, &chap));
            let bytes = p.encode().unwrap();
            let req = decode_request(&bytes, SECRET, &[Code::AccessRequest]).unwrap();
            let cred = req.credential();
            assert!(cred.matches(password), "challenge={with_challenge}");
            assert!(!cred.matches(b"WELCOME1"));
        }
    }

    #[test]
    fn malformed_inputs_are_rejected_not_panicking() {
        let mut a = Attrs::default();
        a.push_string(ATTR_USER_NAME, "CODE");
        let good = access_request(&a, false);
        let allowed = [Code::AccessRequest];
        assert!(decode_request(&[], SECRET, &allowed).is_err());
        assert!(decode_request(&good[..19], SECRET, &allowed).is_err());
        let mut longer = good.clone();
        longer[3] += 1; // length beyond datagram
        assert_eq!(
            decode_request(&longer, SECRET, &allowed).unwrap_err(),
            DropReason::Malformed
        );
        let mut zero_len_attr = good.clone();
        zero_len_attr[HEADER_LEN + 1] = 0;
        assert_eq!(
            decode_request(&zero_len_attr, SECRET, &allowed).unwrap_err(),
            DropReason::Malformed
        );
        let mut one_len_attr = good.clone();
        one_len_attr[HEADER_LEN + 1] = 1;
        assert_eq!(
            decode_request(&one_len_attr, SECRET, &allowed).unwrap_err(),
            DropReason::Malformed
        );
        // Padding after Length is ignored.
        let mut padded = good.clone();
        padded.extend_from_slice(&[0u8; 10]);
        assert!(decode_request(&padded, SECRET, &allowed).is_ok());
        // Two User-Names: which one is the code? Dropped.
        let mut two = Attrs::default();
        two.push_string(ATTR_USER_NAME, "CODE");
        two.push_string(ATTR_USER_NAME, "OTHER");
        let dup = access_request(&two, true);
        assert_eq!(
            decode_request(&dup, SECRET, &allowed).unwrap_err(),
            DropReason::Malformed
        );
        // Wrong code for the port.
        assert_eq!(
            decode_request(&good, SECRET, &[Code::AccountingRequest]).unwrap_err(),
            DropReason::UnexpectedCode
        );
        // Bounded pseudo-random garbage never panics.
        let mut x: u32 = 12345;
        for n in 0..20000usize {
            let len = n % 300;
            let mut buf = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf.push(x as u8);
            }
            if buf.len() >= 4 {
                buf[0] = 1;
                let l = (buf.len() as u16).to_be_bytes();
                buf[2] = l[0];
                buf[3] = l[1];
            }
            if let Ok(r) = decode_request(&buf, SECRET, &allowed) {
                let _ = r.credential();
                let _ = r.user_name();
                let _ = r.vendor_attributes();
            }
        }
    }
}
