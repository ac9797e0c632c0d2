//! The checks behind radgate's fuzz targets, shared with the regression tests.
//!
//! Each public function takes raw bytes (a libFuzzer input), drives the code
//! under test and asserts its invariants; a panic is a bug. The fuzz targets
//! in `fuzz_targets/` are one-line wrappers around these functions, and
//! `tests/fuzz_regressions.rs` includes this file with `#[path]`, so a crash
//! found by the fuzzer replays under `cargo test` exactly as it was found.
//!
//! No `arbitrary` dependency: [`Input`] reads structured values from the
//! bytes (zeros once they run out), so the regression tests need nothing the
//! main crate does not already have.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use radgate::config::ThrottleConfig;
use radgate::policy::accounting::{
    counter64, match_session, transition, AcctStatus, Candidate, Ended, Octets, Seen,
};
use radgate::policy::auth::{
    bytes_left, decide, megabytes_left, minutes_left, window_end, AuthOptions, Decision,
    LivePlaces, RejectReason, RequestFacts, TokenFacts,
};
use radgate::policy::throttle::{Throttle, Verdict};
use radgate::radius::codec::{self, Attrs, Credential, DropReason, PacketCode as Code, Request};
use radgate::token::parse::{code_key, device_id, normalize_mac};

/// The secret the byte-level targets use (the RFC 2865 §7 examples' secret).
pub const SECRET: &[u8] = b"xyzzy5461";

/// Code lists of the two ports (server.rs `Port::codes`), and more.
const AUTH_PORT: &[Code] = &[Code::AccessRequest, Code::StatusServer];
const ACCT_PORT: &[Code] = &[Code::AccountingRequest, Code::StatusServer];
const CODE_LISTS: &[&[Code]] = &[
    AUTH_PORT,
    ACCT_PORT,
    &[Code::AccessRequest],
    &[Code::AccountingRequest],
    &[Code::StatusServer],
    &[
        Code::AccessRequest,
        Code::AccountingRequest,
        Code::StatusServer,
        Code::DisconnectRequest,
        Code::CoARequest,
    ],
];

/// Attribute types read with `u32_attr` / `ipv4_attr` by the handlers, and
/// some that are neither.
const NUMERIC_TYPES: &[u8] = &[
    codec::ATTR_USER_NAME,
    5, // NAS-Port
    6, // Service-Type
    codec::ATTR_FRAMED_IP_ADDRESS,
    codec::ATTR_SESSION_TIMEOUT,
    codec::ATTR_ACCT_STATUS_TYPE,
    codec::ATTR_ACCT_INPUT_OCTETS,
    codec::ATTR_ACCT_OUTPUT_OCTETS,
    codec::ATTR_ACCT_SESSION_TIME,
    codec::ATTR_ACCT_INPUT_PACKETS,
    codec::ATTR_ACCT_OUTPUT_PACKETS,
    codec::ATTR_ACCT_TERMINATE_CAUSE,
    codec::ATTR_ACCT_INPUT_GIGAWORDS,
    codec::ATTR_ACCT_OUTPUT_GIGAWORDS,
    codec::ATTR_MESSAGE_AUTHENTICATOR,
    codec::ATTR_ACCT_INTERIM_INTERVAL,
    255,
];

fn is_zero_auth(code: u8) -> bool {
    matches!(code, 4 | 40 | 43)
}

fn hmac_md5(key: &[u8], data: &[u8]) -> [u8; 16] {
    let mut m = <Hmac<Md5> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// Make a request datagram verify with `secret` whatever its attributes:
/// fill the first 16-octet Message-Authenticator and, for Accounting-,
/// Disconnect- and CoA-Request, the keyed Request Authenticator. Works on the
/// octets the Length field covers (or the whole buffer if it is shorter).
pub fn resign(buf: &mut [u8], secret: &[u8]) {
    if buf.len() < codec::HEADER_LEN {
        return;
    }
    let len = (u16::from_be_bytes([buf[2], buf[3]]) as usize).clamp(codec::HEADER_LEN, buf.len());
    let pkt = &mut buf[..len];
    let zero_auth = is_zero_auth(pkt[0]);
    if zero_auth {
        pkt[4..20].fill(0);
    }
    let ma = codec::raw_attributes(&pkt[20..])
        .find(|&(_, t, v)| t == codec::ATTR_MESSAGE_AUTHENTICATOR && v.len() == 16)
        .map(|(at, _, _)| 20 + at + 2);
    if let Some(at) = ma {
        pkt[at..at + 16].fill(0);
        let mac = hmac_md5(secret, pkt);
        pkt[at..at + 16].copy_from_slice(&mac);
    }
    if zero_auth {
        let mut h = Md5::new();
        h.update(&pkt[..4]);
        h.update([0u8; 16]);
        h.update(&pkt[20..]);
        h.update(secret);
        let a: [u8; 16] = h.finalize().into();
        pkt[4..20].copy_from_slice(&a);
    }
}

// ---------------------------------------------------------------------------
// Target `decode`: arbitrary datagrams.
// ---------------------------------------------------------------------------

/// Arbitrary bytes as a datagram: `peek_header`, `framed` and
/// `decode_request` for every code list, with the fixed secret, an empty one
/// and a one-byte one; then the same datagram re-signed, which must decode
/// whenever it is well framed.
pub fn decode(data: &[u8]) {
    let peek = codec::peek_header(data);
    assert_eq!(peek.is_some(), data.len() >= codec::HEADER_LEN);
    if let Some((code, ident, auth)) = peek {
        assert_eq!((code, ident), (data[0], data[1]));
        assert_eq!(&auth[..], &data[4..20]);
    }
    let framed = codec::framed(data);
    if let Ok(pkt) = framed {
        let len = u16::from_be_bytes([data[2], data[3]]) as usize;
        assert_eq!(pkt.len(), len);
        assert!((codec::HEADER_LEN..=codec::MAX_PACKET_LEN).contains(&len));
        assert!(codec::check_attributes(&pkt[codec::HEADER_LEN..]));
    }
    for secret in [SECRET, b"", b"s"] {
        for allowed in CODE_LISTS {
            match codec::decode_request(data, secret, allowed) {
                Ok(req) => {
                    let pkt = framed.expect("decoded but not framed");
                    check_decoded(&req, pkt, allowed);
                    exercise(&req, secret);
                }
                Err(DropReason::Malformed) => {}
                Err(_) => assert!(framed.is_ok(), "non-Malformed drop of an unframed datagram"),
            }
        }
    }
    // The same bytes, signed: framing is now the only obstacle.
    if framed.is_ok() {
        let mut signed = data.to_vec();
        resign(&mut signed, SECRET);
        let pkt = codec::framed(&signed).expect("re-signing keeps framing");
        let mas = count_ma(pkt);
        for allowed in CODE_LISTS {
            let r = codec::decode_request(&signed, SECRET, allowed);
            if !allowed.contains(&Code::from(signed[0])) {
                assert_eq!(r.unwrap_err(), DropReason::UnexpectedCode);
                continue;
            }
            let dup = codec::has_duplicate_singletons(&pkt[codec::HEADER_LEN..]);
            match (mas, r) {
                ((0, 0) | (1, 0), Err(DropReason::Malformed)) if dup => {}
                ((0, 0) | (1, 0), Ok(_)) if dup => {
                    panic!("duplicate singleton attributes accepted")
                }
                ((0, 0) | (1, 0), Ok(req)) => {
                    check_decoded(&req, pkt, allowed);
                    exercise(&req, SECRET);
                }
                ((0, 0) | (1, 0), Err(e)) => panic!("signed, well-framed request dropped: {e:?}"),
                (_, Err(DropReason::BadMessageAuthenticator)) => {}
                (_, r) => panic!("bad Message-Authenticator not rejected: {r:?}"),
            }
        }
    }
}

/// (16-octet, other) Message-Authenticator attributes in a framed packet.
fn count_ma(pkt: &[u8]) -> (usize, usize) {
    let mut n = (0, 0);
    for (_, t, v) in codec::raw_attributes(&pkt[codec::HEADER_LEN..]) {
        if t == codec::ATTR_MESSAGE_AUTHENTICATOR {
            if v.len() == 16 {
                n.0 += 1;
            } else {
                n.1 += 1;
            }
        }
    }
    n
}

/// What a decoded request must agree with: the framed bytes it came from.
fn check_decoded(req: &Request, pkt: &[u8], allowed: &[Code]) {
    assert!(allowed.contains(&req.code));
    assert_eq!(req.code, Code::from(pkt[0]));
    assert_eq!(req.identifier, pkt[1]);
    assert_eq!(&req.authenticator[..], &pkt[4..20]);
    let attrs = &pkt[codec::HEADER_LEN..];
    assert_eq!(
        req.has_message_authenticator,
        codec::raw_attributes(attrs).any(|(_, t, _)| t == codec::ATTR_MESSAGE_AUTHENTICATOR)
    );
    // Our attribute walk and the radius crate's decoder agree.
    for t in 0..=255u8 {
        let ours: Vec<&[u8]> = codec::raw_attributes(attrs)
            .filter(|&(_, typ, _)| typ == t)
            .map(|(_, _, v)| v)
            .collect();
        let theirs: Vec<Vec<u8>> = req
            .packet
            .lookup_all(t)
            .iter()
            .map(|a| a.encode_bytes())
            .collect();
        assert_eq!(ours.len(), theirs.len(), "type {t}");
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(*a, &b[..], "type {t}");
        }
    }
}

/// Every accessor the handlers use on a decoded request, with invariants.
fn exercise(req: &Request, secret: &[u8]) {
    let user = req.user_name();
    let csid = req.calling_station_id();
    for t in NUMERIC_TYPES {
        let raw = req.packet.lookup(*t).map(|a| a.encode_bytes());
        let u = req.u32_attr(*t);
        let ip = req.ipv4_attr(*t);
        match raw.as_deref() {
            Some(v) if v.len() == 4 => {
                assert_eq!(u, Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]])));
                assert_eq!(ip, Some(Ipv4Addr::new(v[0], v[1], v[2], v[3])));
            }
            _ => assert!(u.is_none() && ip.is_none()),
        }
        assert_eq!(req.has_attr(*t), raw.is_some());
        let _ = req.string_attr(*t);
    }
    let _ = codec::acct_status_type(req);
    for (_vendor, _typ, value) in req.vendor_attributes() {
        assert!(value.len() <= 255 - 2 - 4 - 2);
    }
    let cred = req.credential();
    check_credential(req, &cred, secret);
    if let Some(u) = &user {
        let _ = cred.matches(u.as_bytes());
        let _ = cred.matches(code_key(u).as_bytes());
    }
    let _ = cred.matches(b"");
    let _ = cred.matches(&[0u8; 200]);
    if let Some(c) = &csid {
        check_device(c);
    }
}

fn check_credential(req: &Request, cred: &Credential, secret: &[u8]) {
    match cred {
        Credential::Pap(pw) => {
            assert!(req.has_attr(codec::ATTR_USER_PASSWORD));
            assert!(pw.len() <= 128);
            assert!(!pw.contains(&0));
            assert!(cred.matches(pw));
            // Encrypting the recovered password again gives the same
            // password back.
            if let Some(avp) = codec::pap_attribute(pw, secret, &req.authenticator) {
                let mut p = req.packet.clone();
                p.delete(codec::ATTR_USER_PASSWORD);
                p.add(avp);
                let again = Request {
                    packet: p,
                    ..req.clone()
                };
                assert_eq!(again.credential(), Credential::Pap(pw.clone()));
            }
        }
        Credential::Chap {
            ident,
            response,
            challenge,
        } => {
            assert!(!req.has_attr(codec::ATTR_USER_PASSWORD));
            let raw = req
                .packet
                .lookup(codec::ATTR_CHAP_PASSWORD)
                .expect("CHAP credential without CHAP-Password")
                .encode_bytes();
            assert_eq!(raw.len(), 17);
            assert_eq!(raw[0], *ident);
            assert_eq!(&raw[1..], &response[..]);
            match req.packet.lookup(codec::ATTR_CHAP_CHALLENGE) {
                Some(c) => assert_eq!(&c.encode_bytes(), challenge),
                None => assert_eq!(&challenge[..], &req.authenticator[..]),
            }
        }
        Credential::Invalid => assert!(
            req.has_attr(codec::ATTR_USER_PASSWORD) || req.has_attr(codec::ATTR_CHAP_PASSWORD)
        ),
        Credential::None => assert!(
            !req.has_attr(codec::ATTR_USER_PASSWORD) && !req.has_attr(codec::ATTR_CHAP_PASSWORD)
        ),
    }
    if matches!(cred, Credential::Invalid | Credential::None) {
        assert!(!cred.matches(b""));
        assert!(!cred.matches(b"anything"));
    }
}

/// `device_id` / `normalize_mac` on a Calling-Station-Id.
fn check_device(csid: &str) {
    let dev = device_id(csid);
    assert_eq!(dev.is_none(), csid.trim().is_empty());
    match normalize_mac(csid) {
        Ok(mac) => {
            assert_eq!(mac.len(), 17);
            assert!(mac.bytes().enumerate().all(|(i, b)| if i % 3 == 2 {
                b == b':'
            } else {
                b.is_ascii_digit() || (b'A'..=b'F').contains(&b)
            }));
            assert_eq!(normalize_mac(&mac).as_deref(), Ok(mac.as_str()));
            assert_eq!(dev.as_deref(), Some(mac.as_str()));
        }
        Err(e) => {
            assert!(!e.is_empty());
            if let Some(d) = &dev {
                assert_eq!(d, csid.trim());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Target `attributes`: arbitrary bytes as the attribute area.
// ---------------------------------------------------------------------------

/// Arbitrary bytes as the attributes of a request: `raw_attributes` and
/// `check_attributes` directly, then wrapped in a correctly signed
/// Access-Request, Accounting-Request and Status-Server, which must decode
/// whenever the attributes tile and carry at most one 16-octet
/// Message-Authenticator; then every accessor.
pub fn attributes(data: &[u8]) {
    let mut end = 0usize;
    let mut last_at = None;
    for (at, _t, v) in codec::raw_attributes(data) {
        assert_eq!(at, end, "attributes are contiguous");
        assert!(last_at.is_none_or(|l| at > l));
        assert!(v.len() <= 253);
        assert_eq!(data[at + 1] as usize, v.len() + 2);
        last_at = Some(at);
        end = at + 2 + v.len();
    }
    let tiles = codec::check_attributes(data);
    assert_eq!(tiles, end == data.len());
    if data.len() > codec::MAX_PACKET_LEN - codec::HEADER_LEN {
        return;
    }
    for (code, allowed) in [
        (Code::AccessRequest, AUTH_PORT),
        (Code::AccountingRequest, ACCT_PORT),
        (Code::StatusServer, AUTH_PORT),
    ] {
        let mut pkt = Vec::with_capacity(codec::HEADER_LEN + data.len());
        pkt.push(code as u8);
        pkt.push(data.len() as u8);
        pkt.extend_from_slice(&((codec::HEADER_LEN + data.len()) as u16).to_be_bytes());
        pkt.extend_from_slice(b"0123456789abcdef");
        pkt.extend_from_slice(data);
        resign(&mut pkt, SECRET);
        let r = codec::decode_request(&pkt, SECRET, allowed);
        if !tiles {
            assert_eq!(r.unwrap_err(), DropReason::Malformed);
            continue;
        }
        match count_ma(&pkt) {
            (0, 0) | (1, 0) if codec::has_duplicate_singletons(&pkt[codec::HEADER_LEN..]) => {
                assert_eq!(r.unwrap_err(), DropReason::Malformed);
            }
            (0, 0) | (1, 0) => {
                let req = r.unwrap_or_else(|e| panic!("{code:?} dropped: {e:?}"));
                check_decoded(&req, &pkt, allowed);
                exercise(&req, SECRET);
                // A response to it must verify (Proxy-State copied back may
                // make it too large: then there is none).
                respond_and_verify(&req, &pkt, response_code(&req), &Attrs::default(), SECRET);
            }
            _ => assert_eq!(r.unwrap_err(), DropReason::BadMessageAuthenticator),
        }
    }
}

fn response_code(req: &Request) -> Code {
    match req.code {
        Code::AccountingRequest => Code::AccountingResponse,
        _ => Code::AccessAccept,
    }
}

/// Encode a response to `req` and check it against the request datagram:
/// it must verify, carry code and identifier, Message-Authenticator first
/// (except Accounting-Response), and the request's Proxy-States last, in
/// order. `None` from `encode_response` is allowed only when the response
/// would exceed 4096 octets.
fn respond_and_verify(req: &Request, datagram: &[u8], code: Code, attrs: &Attrs, secret: &[u8]) {
    let with_ma = !(code == Code::AccountingResponse && req.code == Code::AccountingRequest);
    let proxy: Vec<Vec<u8>> = req
        .packet
        .lookup_all(codec::ATTR_PROXY_STATE)
        .iter()
        .map(|a| a.encode_bytes())
        .collect();
    let attrs_len: usize = attrs.0.iter().map(|a| 2 + a.encode_bytes().len()).sum();
    let expect_len = codec::HEADER_LEN
        + if with_ma { 18 } else { 0 }
        + attrs_len
        + proxy.iter().map(|p| 2 + p.len()).sum::<usize>();
    let Some(resp) = codec::encode_response(req, code, attrs, secret) else {
        assert!(
            expect_len > codec::MAX_PACKET_LEN,
            "no response of {expect_len} octets"
        );
        return;
    };
    assert!(expect_len <= codec::MAX_PACKET_LEN);
    assert_eq!(resp.len(), expect_len);
    assert_eq!(resp[0], code as u8);
    assert_eq!(resp[1], req.identifier);
    let p = codec::verify_response(&resp, datagram, secret).expect("response does not verify");
    assert_eq!(p.get_code(), code);
    assert_eq!(p.get_identifier(), req.identifier);
    let got: Vec<(u8, &[u8])> = codec::raw_attributes(&resp[codec::HEADER_LEN..])
        .map(|(_, t, v)| (t, v))
        .collect();
    if with_ma {
        assert_eq!(got[0].0, codec::ATTR_MESSAGE_AUTHENTICATOR);
        assert_eq!(got[0].1.len(), 16);
    }
    let tail = &got[got.len() - proxy.len()..];
    for ((t, v), want) in tail.iter().zip(&proxy) {
        assert_eq!(*t, codec::ATTR_PROXY_STATE);
        assert_eq!(v, want);
    }
    // One flipped bit anywhere makes it fail.
    let i = (resp[resp.len() - 1] as usize * 31 + resp.len()) % resp.len();
    let mut t = resp.clone();
    t[i] ^= 0x01;
    assert!(
        codec::verify_response(&t, datagram, secret).is_none(),
        "tampered response at {i} verifies"
    );
}

// ---------------------------------------------------------------------------
// Target `handler`: a structured request through the whole path.
// ---------------------------------------------------------------------------

/// Reads structured values from fuzz bytes; zeros once they run out.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    pub fn i64(&mut self) -> i64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        i64::from_be_bytes(b)
    }
    /// Up to `max` bytes, length-prefixed by one byte (two when `max` > 255).
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let want = if max > 255 {
            self.u16() as usize
        } else {
            self.u8() as usize
        } % (max + 1);
        let n = want.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }
    pub fn array16(&mut self) -> [u8; 16] {
        let mut a = [0u8; 16];
        for x in &mut a {
            *x = self.u8();
        }
        a
    }
    /// An i64 that is often a "nice" value near `base`.
    pub fn time(&mut self, base: i64) -> i64 {
        match self.u8() % 4 {
            0 => base.saturating_add(self.u16() as i64),
            1 => base.saturating_sub(self.u16() as i64),
            2 => base,
            _ => self.i64(),
        }
    }
}

/// A MAC address in one of the notations NASes send.
fn mac_text(b: &[u8; 6], style: u8) -> String {
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    match style % 5 {
        0 => h.join(":").to_uppercase(),
        1 => h.join("-"),
        2 => format!("{}{}.{}{}.{}{}", h[0], h[1], h[2], h[3], h[4], h[5]),
        3 => h.concat().to_uppercase(),
        _ => format!("  {}\t", h.join(":")),
    }
}

/// A realistic "now" (2025-06-15), so that times near it are common.
const NOW: i64 = 1_750_000_000;

/// The whole request path without the database: build a valid, signed
/// request from fuzzed parts (so verification is passed), optionally mutate
/// its bytes (and optionally re-sign), decode it as the server does, run the
/// throttle, `decide` or `transition`, encode the reply, and check that the
/// reply verifies against the request.
pub fn handler(data: &[u8]) {
    let mut inp = Input::new(data);
    let kind = inp.u8() % 3;
    let identifier = inp.u8();
    let with_ma = kind == 2 || inp.bool();
    let secret: Vec<u8> = match inp.bytes(40) {
        [] => SECRET.to_vec(),
        s => s.to_vec(),
    };
    let authenticator = inp.array16();
    let code = match kind {
        0 => Code::AccessRequest,
        1 => Code::AccountingRequest,
        _ => Code::StatusServer,
    };
    let allowed = match kind {
        0 => AUTH_PORT,
        1 => ACCT_PORT,
        _ if inp.bool() => ACCT_PORT,
        _ => AUTH_PORT,
    };

    // --- attributes of the request ---
    let mut a = Attrs::default();
    let user: Vec<u8> = match inp.u8() % 4 {
        0 => Vec::new(),
        1 => b"Welcome1".to_vec(),
        2 => b"welcome1".to_vec(),
        _ => inp.bytes(253).to_vec(),
    };
    let has_user = !user.is_empty() || inp.bool();
    if has_user {
        a.push_bytes(codec::ATTR_USER_NAME, &user);
    }
    let cred_kind = inp.u8() % 6;
    let password: Vec<u8> = match inp.u8() % 3 {
        0 => user.clone(),
        1 => b"WELCOME1".to_vec(),
        _ => inp.bytes(130).to_vec(),
    };
    match cred_kind {
        1 => {
            if let Some(avp) = codec::pap_attribute(&password, &secret, &authenticator) {
                a.0.push(avp);
            }
        }
        2 => {
            let ident = inp.u8();
            let challenge: Option<Vec<u8>> = inp.bool().then(|| inp.bytes(253).to_vec());
            if let Some(c) = &challenge {
                a.push_bytes(codec::ATTR_CHAP_CHALLENGE, c);
            }
            let mut h = Md5::new();
            h.update([ident]);
            h.update(&password);
            h.update(challenge.as_deref().unwrap_or(&authenticator));
            let mut v = vec![ident];
            v.extend_from_slice(&h.finalize());
            a.push_bytes(codec::ATTR_CHAP_PASSWORD, &v);
        }
        3 => a.push_bytes(codec::ATTR_USER_PASSWORD, inp.bytes(253)),
        4 => a.push_bytes(codec::ATTR_CHAP_PASSWORD, inp.bytes(253)),
        _ => {}
    }
    match inp.u8() % 4 {
        0 => {}
        1 => a.push_bytes(codec::ATTR_CALLING_STATION_ID, inp.bytes(253)),
        _ => {
            let mut m = [0u8; 6];
            for x in &mut m {
                *x = inp.u8() % 4; // few distinct devices
            }
            let style = inp.u8();
            a.push_string(codec::ATTR_CALLING_STATION_ID, &mac_text(&m, style));
        }
    }
    if kind == 1 {
        if inp.u8() & 7 != 0 {
            a.push_u32(
                codec::ATTR_ACCT_STATUS_TYPE,
                match inp.u8() % 6 {
                    0 => 1,
                    1 => 2,
                    2 => 3,
                    3 => 7,
                    4 => 8,
                    _ => inp.u32(),
                },
            );
        }
        if inp.bool() {
            a.push_u32(codec::ATTR_ACCT_SESSION_TIME, inp.u32());
        }
        if inp.bool() {
            a.push_bytes(codec::ATTR_ACCT_SESSION_ID, inp.bytes(64));
        }
        for t in [
            codec::ATTR_FRAMED_IP_ADDRESS,
            codec::ATTR_ACCT_INPUT_OCTETS,
            codec::ATTR_ACCT_INPUT_GIGAWORDS,
            codec::ATTR_ACCT_TERMINATE_CAUSE,
        ] {
            if inp.bool() {
                a.push_u32(t, inp.u32());
            }
        }
    }
    // Extra attributes; password, challenge or Message-Authenticator types
    // among them make the credential (or the verification) unpredictable.
    let mut conflict = false;
    for _ in 0..inp.u8() % 6 {
        let t = inp.u8();
        conflict |= matches!(t, 2 | 3 | 60 | 80);
        let v = inp.bytes(253);
        if t == codec::ATTR_VENDOR_SPECIFIC && v.len() >= 4 && inp.bool() {
            let vendor = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
            a.push_vendor(vendor, inp.u8(), &v[4..]);
        } else {
            a.push_bytes(t, v);
        }
    }
    for _ in 0..inp.u8() % 4 {
        let n = inp.u8();
        let v = vec![n; n as usize % 254];
        a.push_bytes(codec::ATTR_PROXY_STATE, &v);
    }

    // --- encode, pin the authenticator, sign ---
    let Some(mut dg) = codec::encode_request(code, identifier, &a, &secret, with_ma) else {
        let total: usize =
            a.0.iter()
                .map(|x| 2 + x.encode_bytes().len())
                .sum::<usize>()
                + if with_ma { 18 } else { 0 };
        assert!(
            total + codec::HEADER_LEN > codec::MAX_PACKET_LEN,
            "encode_request failed on {total} octets of attributes"
        );
        return;
    };
    if !is_zero_auth(code as u8) {
        dg[4..20].copy_from_slice(&authenticator);
    }
    // Also signs a Message-Authenticator that came in as an extra attribute.
    resign(&mut dg, &secret);
    let pristine = dg.clone();
    let mutations = inp.u8() % 4;
    for _ in 0..mutations {
        let at = inp.u16() as usize % dg.len();
        let x = inp.u8().max(1);
        dg[at] ^= x;
    }
    if mutations > 0 && inp.bool() {
        resign(&mut dg, &secret);
    }
    if inp.bool() {
        dg.extend_from_slice(inp.bytes(16)); // padding after Length
    }

    // --- decode as the server does ---
    let untouched = dg[..pristine.len()] == pristine[..];
    let ma = count_ma(&pristine);
    let ma_ok = matches!(ma, (0, 0) | (1, 0));
    let req = match codec::decode_request(&dg, &secret, allowed) {
        Ok(r) => r,
        Err(e) => {
            if untouched && ma_ok && codec::has_duplicate_singletons(&pristine[codec::HEADER_LEN..])
            {
                assert_eq!(e, DropReason::Malformed);
                return;
            }
            if untouched {
                assert!(
                    !ma_ok,
                    "a request built with encode_request was dropped: {e:?}"
                );
                assert_eq!(e, DropReason::BadMessageAuthenticator);
            }
            return;
        }
    };
    if untouched {
        assert!(ma_ok, "two Message-Authenticators accepted");
        assert_eq!(req.code, code);
        assert_eq!(req.identifier, identifier);
        assert_eq!(req.has_message_authenticator, ma == (1, 0));
        if !is_zero_auth(code as u8) {
            assert_eq!(req.authenticator, authenticator);
        }
        let cred = req.credential();
        match cred_kind {
            _ if conflict || kind == 1 => {}
            1 if password.len() > 128 => assert_eq!(cred, Credential::None),
            1 => {
                // PAP padding is NULs: a password ends at its first NUL.
                let upto = password.split(|b| *b == 0).next().unwrap_or_default();
                assert_eq!(cred, Credential::Pap(upto.to_vec()));
            }
            2 => assert!(cred.matches(&password), "CHAP does not match"),
            3 => assert!(matches!(cred, Credential::Pap(_) | Credential::Invalid)),
            4 => assert!(matches!(
                cred,
                Credential::Chap { .. } | Credential::Invalid
            )),
            _ => assert_eq!(cred, Credential::None),
        }
    }
    let framed = codec::framed(&dg).expect("decoded but not framed");
    check_decoded(&req, framed, allowed);

    // --- throttle, decision, reply ---
    let mut reply = Attrs::default();
    let reply_code = match req.code {
        Code::StatusServer => {
            reply.push_string(codec::ATTR_REPLY_MESSAGE, "radgate ok");
            if allowed == ACCT_PORT {
                Code::AccountingResponse
            } else {
                Code::AccessAccept
            }
        }
        Code::AccessRequest => access(&req, &mut inp, &mut reply),
        Code::AccountingRequest => {
            accounting(&req, &mut inp);
            Code::AccountingResponse
        }
        c => panic!("decoded a code the port does not serve: {c:?}"),
    };
    respond_and_verify(&req, &dg, reply_code, &reply, &secret);
}

/// The Access-Request half: throttle, `decide`, reply attributes.
fn access(req: &Request, inp: &mut Input, reply: &mut Attrs) -> Code {
    let user_name = req.user_name().unwrap_or_default();
    let csid = req.calling_station_id();
    let device = csid.as_deref().and_then(device_id);
    let device_mac = csid.as_deref().and_then(|c| normalize_mac(c).ok());
    if let Some(c) = &csid {
        check_device(c);
    }
    let credential = req.credential();

    // Throttle with config within the ranges config.rs accepts (the table
    // size is made tiny to exercise eviction).
    let tcfg = ThrottleConfig {
        device_failures: (inp.u16() % 1001) as u32,
        device_window: Duration::from_secs(1 + inp.u32() as u64 % 86_400),
        device_cooldown: Duration::from_secs(1 + inp.u32() as u64 % 86_400),
        nas_failures: inp.u32() % 100_001,
        nas_window: Duration::from_secs(1 + inp.u32() as u64 % 86_400),
        nas_cooldown: Duration::from_secs(1 + inp.u32() as u64 % 86_400),
        max_tracked: 1 + inp.u8() as usize % 8,
    };
    let cap = tcfg.max_tracked;
    let mut throttle = Throttle::new(tcfg);
    let t0 = Instant::now();
    let nas = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let mut t = t0;
    for _ in 0..inp.u8() % 32 {
        t += Duration::from_secs(inp.u8() as u64 * 10);
        let other_nas = IpAddr::V4(Ipv4Addr::new(192, 0, 2, inp.u8() % 4));
        let dev = match inp.u8() % 5 {
            0 => None,
            1 => device.clone(),
            n => Some(format!("dev{n}")),
        };
        if throttle.check(&other_nas.to_string(), dev.as_deref(), t) == Verdict::Allow {
            let (failed, accepted) = (inp.bool(), inp.bool());
            throttle.record(&other_nas.to_string(), dev.as_deref(), failed, accepted, t);
        }
        let (d, n, g) = throttle.tracked();
        assert!(d <= cap && n <= cap && g <= cap, "{d} {n} {g} > {cap}");
    }
    let verdict = throttle.check(&nas.to_string(), device.as_deref(), t);

    // The token: fixed shape, fuzzed fields.
    let code_text = match inp.u8() % 4 {
        0 => "Welcome1".to_string(),
        1 => user_name.clone(),
        2 => code_key(&user_name),
        _ => String::from_utf8_lossy(inp.bytes(128)).into_owned(),
    };
    let now = inp.time(NOW);
    let token = TokenFacts {
        access_code: code_text,
        minutes_included: match inp.u8() % 3 {
            0 => 60,
            1 => inp.u32() as i64 % 100_000_001,
            _ => inp.i64(),
        },
        seconds_used: match inp.u8() % 3 {
            0 => 0,
            1 => inp.u16() as i64,
            _ => inp.i64(),
        },
        valid_from: inp.bool().then(|| inp.time(now)),
        valid_to: inp.bool().then(|| inp.time(now)),
        user_limit: inp.bool().then(|| inp.i64() % 5),
        mac_address: match inp.u8() % 3 {
            0 => None,
            1 => device_mac.clone(),
            _ => Some("00:01:02:03:00:01".to_string()),
        },
        spent: false,
        megabytes_included: None,
        bytes_used: 0,
    };
    // Validity from first use and single-use codes, fuzzed after the rest so
    // that older corpus inputs keep their meaning.
    let mut token = token;
    if inp.bool() {
        let valid_for = inp.i64();
        let first_used = inp.bool().then(|| inp.time(now));
        token.valid_to = window_end(token.valid_to, Some(valid_for), first_used, now);
    }
    token.spent = inp.bool();
    // A data allowance (SPEC §12), fuzzed after the rest likewise.
    if inp.bool() {
        token.megabytes_included = Some(match inp.u8() % 3 {
            0 => 5,
            1 => i64::from(inp.u32()),
            _ => inp.i64(),
        });
        token.bytes_used = match inp.u8() % 3 {
            0 => 0,
            1 => i64::from(inp.u32()),
            _ => inp.i64(),
        };
    }
    let mut live = LivePlaces::default();
    for _ in 0..inp.u8() % 5 {
        live.devices.push(match inp.u8() % 3 {
            0 => None,
            1 => device.clone(),
            _ => Some(format!("dev{}", inp.u8() % 3)),
        });
    }
    let opts = AuthOptions {
        accept_any_password: inp.bool(),
        case_sensitive_codes: inp.bool(),
        bind_mac_on_first_use: inp.bool(),
    };
    let known = inp.u8() & 7 != 0;
    let facts = RequestFacts {
        user_name: &user_name,
        credential: &credential,
        device: device.as_deref(),
        device_mac: device_mac.as_deref(),
    };
    let decision = decide(known.then_some(&token), &facts, &live, opts, now);
    check_decision(&decision, known, &token, &facts, &live, opts, now);
    let _ = minutes_left(token.minutes_included, token.seconds_used);

    let (guess_failed, accepted) = (
        matches!(
            decision,
            Decision::Reject(RejectReason::UnknownCode | RejectReason::WrongPassword)
        ),
        matches!(decision, Decision::Accept(_)),
    );
    if verdict == Verdict::Allow {
        throttle.record(
            &nas.to_string(),
            device.as_deref(),
            guess_failed,
            accepted,
            t,
        );
    } else {
        reply.push_string(
            codec::ATTR_REPLY_MESSAGE,
            "Too many failed attempts; try again later",
        );
        return Code::AccessReject;
    }
    match decision {
        Decision::Accept(g) => {
            reply.push_u32(codec::ATTR_SESSION_TIMEOUT, g.session_timeout);
            let interim = inp.u32();
            if interim > 0 {
                reply.push_u32(codec::ATTR_ACCT_INTERIM_INTERVAL, interim);
            }
            // Optional per-token reply attributes.
            if inp.bool() {
                reply.push_vendor(codec::VENDOR_MIKROTIK, 8, inp.bytes(300));
            }
            if inp.bool() {
                reply.push_vendor(codec::VENDOR_WISPR, 7, inp.bytes(16));
            }
            if inp.bool() {
                reply.push_bytes(25, inp.bytes(253)); // Class
            }
            Code::AccessAccept
        }
        Decision::Reject(_) => {
            // A configured message: any text, cut to 253 octets on a char boundary.
            let text = String::from_utf8_lossy(inp.bytes(400)).into_owned();
            reply.push_string(codec::ATTR_REPLY_MESSAGE, &text);
            let v = reply.0[0].encode_bytes();
            assert!(v.len() <= 253 && std::str::from_utf8(&v).is_ok());
            assert!(text.as_bytes().starts_with(&v));
            Code::AccessReject
        }
    }
}

/// What any decision must respect, whatever the inputs.
fn check_decision(
    d: &Decision,
    known: bool,
    token: &TokenFacts,
    req: &RequestFacts,
    live: &LivePlaces,
    opts: AuthOptions,
    now: i64,
) {
    if !known {
        assert_eq!(*d, Decision::Reject(RejectReason::UnknownCode));
        return;
    }
    let Decision::Accept(g) = d else { return };
    assert!(g.session_timeout >= 1);
    assert!(!token.spent, "accepted a spent single-use code");
    if let Some(from) = token.valid_from {
        assert!(now >= from);
    }
    if let Some(to) = token.valid_to {
        assert!(now < to);
    }
    let left = token.seconds_left();
    assert!(left > 0);
    assert!(i64::from(g.session_timeout) <= left);
    // Data: accepted only with some left, and told exactly that much.
    let data = bytes_left(token.megabytes_included, token.bytes_used);
    assert_eq!(g.bytes_left, data);
    if let Some(b) = data {
        assert!(b > 0, "accepted with no data left");
        let mb = megabytes_left(token.megabytes_included, token.bytes_used);
        assert!(mb.is_some_and(|m| m >= 1), "MegabytesLeft 0 while admitted");
    }
    if let Some(mac) = &token.mac_address {
        assert_eq!(req.device_mac, Some(mac.as_str()));
        assert!(g.bind_mac.is_none());
    }
    if g.bind_mac.is_some() {
        assert!(opts.bind_mac_on_first_use && token.mac_address.is_none());
        assert_eq!(g.bind_mac.as_deref(), req.device_mac);
    }
    assert_eq!(
        g.already_holds_place,
        req.device.is_some_and(|d| live.holds(d))
    );
    if let Some(limit) = token.user_limit {
        assert!(g.already_holds_place || (live.distinct() as i64) < limit);
    }
    if opts.case_sensitive_codes {
        assert_eq!(token.access_code, req.user_name);
    }
    if !opts.accept_any_password {
        match req.credential {
            Credential::Pap(pw) if opts.case_sensitive_codes => {
                assert_eq!(pw, token.access_code.as_bytes())
            }
            Credential::Pap(pw) => assert_eq!(
                code_key(std::str::from_utf8(pw).expect("accepted non-UTF-8 PAP")),
                code_key(&token.access_code)
            ),
            Credential::Chap { .. } => assert!(
                req.credential.matches(token.access_code.as_bytes())
                    || req.credential.matches(req.user_name.as_bytes())
            ),
            c => panic!("accepted without a password: {c:?}"),
        }
    }
}

/// The Accounting-Request half: status, `transition`, counters.
fn accounting(req: &Request, inp: &mut Input) {
    let status = codec::acct_status_type(req).map(AcctStatus::from_u32);
    let _ = status.map(AcctStatus::as_str);
    let u = |t| req.u32_attr(t);
    let _ = req.string_attr(codec::ATTR_ACCT_SESSION_ID);
    let _ = req.calling_station_id().as_deref().and_then(device_id);
    let _ = req
        .ipv4_attr(codec::ATTR_FRAMED_IP_ADDRESS)
        .map(|ip| ip.to_string());
    for (low, giga) in [
        (
            codec::ATTR_ACCT_INPUT_OCTETS,
            codec::ATTR_ACCT_INPUT_GIGAWORDS,
        ),
        (
            codec::ATTR_ACCT_OUTPUT_OCTETS,
            codec::ATTR_ACCT_OUTPUT_GIGAWORDS,
        ),
    ] {
        let (l, g) = (u(low), u(giga));
        let octets = counter64(l, g);
        assert!(octets >= 0, "negative counter from {l:?} + {g:?} gigawords");
        let exact = u64::from(g.unwrap_or(0)) << 32 | u64::from(l.unwrap_or(0));
        assert_eq!(octets, i64::try_from(exact).unwrap_or(i64::MAX));
    }
    let Some(status) = status else { return };
    let reported = u(codec::ATTR_ACCT_SESSION_TIME).map(i64::from);
    let counters = Octets {
        input: counter64(
            u(codec::ATTR_ACCT_INPUT_OCTETS),
            u(codec::ATTR_ACCT_INPUT_GIGAWORDS),
        ),
        output: counter64(
            u(codec::ATTR_ACCT_OUTPUT_OCTETS),
            u(codec::ATTR_ACCT_OUTPUT_GIGAWORDS),
        ),
    };
    // The store only ever records Acct-Session-Time values (≥ 0).
    let seen = inp.bool().then(|| Seen {
        ended: match inp.u8() % 3 {
            0 => Ended::No,
            1 => Ended::ByStop,
            _ => Ended::Presumed,
        },
        session_time: match inp.u8() % 3 {
            0 => 0,
            1 => inp.u32() as i64,
            _ => inp.i64().max(0),
        },
        octets: Octets::default(),
    });
    // The store only ever records counters from counter64 (≥ 0).
    let mut seen = seen;
    if let Some(s) = seen.as_mut() {
        s.octets = Octets {
            input: inp.i64().max(0),
            output: i64::from(inp.u32()),
        };
    }
    let t = transition(seen, status, reported, counters);
    assert!(t.charge >= 0);
    assert!(t.session_time >= 0);
    assert!(t.bytes >= 0);
    if t.ignore {
        assert_eq!(t.charge, 0);
        assert_eq!(t.bytes, 0);
        assert!(!t.open && !t.close);
    }
    match seen {
        None => {
            assert!(t.open && !t.ignore);
            assert_eq!(t.charge, t.session_time);
            assert_eq!(t.bytes, t.octets.total());
            if status == AcctStatus::Start {
                assert_eq!(t.bytes, 0, "a Start charges no octets");
            } else {
                assert_eq!(t.octets, counters);
            }
        }
        Some(s) => {
            assert!(!t.open);
            assert!(t.session_time >= s.session_time);
            assert_eq!(t.charge, t.session_time - s.session_time);
            // Octets: high-water marks per direction, never lowered; the
            // charge is the increase of their sum.
            assert!(t.octets.input >= s.octets.input && t.octets.output >= s.octets.output);
            if !t.ignore {
                assert_eq!(t.bytes, t.octets.total() - s.octets.total());
            }
            if s.ended == Ended::ByStop {
                assert!(t.ignore);
            }
            // A session presumed over comes back only with more time or data.
            if s.ended == Ended::Presumed && !t.ignore {
                assert!(t.charge > 0 || t.bytes > 0);
            }
            assert_eq!(
                t.reopen,
                s.ended == Ended::Presumed && !t.ignore && !t.close
            );
            // Replaying the same packet charges nothing more.
            if !t.ignore {
                let ended = if t.close {
                    Ended::ByStop
                } else if t.reopen {
                    Ended::No
                } else {
                    s.ended
                };
                let again = transition(
                    Some(Seen {
                        ended,
                        session_time: t.session_time,
                        octets: t.octets,
                    }),
                    status,
                    reported,
                    counters,
                );
                assert_eq!(again.charge, 0);
                assert_eq!(again.bytes, 0);
            }
        }
    }
    assert_eq!(t.close, !t.ignore && status == AcctStatus::Stop);

    // Which stored session the packet belongs to (reused Acct-Session-Ids).
    let n = inp.u8() % 20;
    let candidates: Vec<Candidate> = (0..n)
        .map(|_| {
            let ended = match inp.u8() % 3 {
                0 => Ended::No,
                1 => Ended::ByStop,
                _ => Ended::Presumed,
            };
            Candidate {
                ended,
                same_code: inp.bool(),
                // A live session has no end; an ended one ended at some time.
                since_end: (ended != Ended::No).then(|| inp.i64() % 100_000),
            }
        })
        .collect();
    match match_session(&candidates, status) {
        Some(i) => {
            // The newest session of the packet's code, and only that one.
            assert!(candidates[i].same_code);
            assert!(candidates[..i].iter().all(|c| !c.same_code));
            // Its own Start is never taken for a new session while it runs.
            let c = candidates[i];
            if status == AcctStatus::Start && c.ended != Ended::No {
                assert!(c.since_end.is_none_or(|t| t <= 0));
            }
        }
        None => {
            // A new session: no session of this code, or it had ended.
            if let Some(c) = candidates.iter().find(|c| c.same_code) {
                assert_ne!(c.ended, Ended::No);
                assert!(c.since_end.is_some_and(|t| t > 0));
            }
        }
    }
}
