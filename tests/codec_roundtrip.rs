//! Property tests for the RADIUS codec (issue 5): encode/decode round trips,
//! response signing and tamper detection, PAP passwords.

use hmac::{Hmac, Mac};
use md5::Md5;
use proptest::prelude::*;
use radgate::radius::codec::{self, Attrs, Avp, Credential, DropReason, PacketCode as Code};

const CASES: u32 = 256;

/// Octets of attributes a request can carry next to its own
/// Message-Authenticator (4096 − header − 18).
const ROOM: usize = codec::MAX_PACKET_LEN - codec::HEADER_LEN - 18;

/// Attributes a request may carry once only (a second copy is malformed).
const SINGLETONS: &[u8] = &[1, 2, 3, 31, 40, 44, 46, 60];

/// Attribute lists: any type but Message-Authenticator (the encoder adds
/// that one), values of 0..=253 octets, cut to fit one packet, with at most
/// one of each singleton attribute.
fn attr_list() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    let attr = (
        any::<u8>().prop_filter("Message-Authenticator is the encoder's", |t| {
            *t != codec::ATTR_MESSAGE_AUTHENTICATOR
        }),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..=16),
            prop::collection::vec(any::<u8>(), 0..=253),
        ],
    );
    prop::collection::vec(attr, 0..=40).prop_map(|list| {
        let mut total = 0;
        let mut seen = [false; 256];
        list.into_iter()
            .filter(|(t, _)| {
                let dup = SINGLETONS.contains(t) && seen[*t as usize];
                seen[*t as usize] = true;
                !dup
            })
            .take_while(|(_, v)| {
                total += 2 + v.len();
                total <= ROOM
            })
            .collect()
    })
}

fn request_code() -> impl Strategy<Value = Code> {
    prop_oneof![
        Just(Code::AccessRequest),
        Just(Code::AccountingRequest),
        Just(Code::StatusServer),
    ]
}

fn secret() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..=64)
}

fn to_attrs(list: &[(u8, Vec<u8>)]) -> Attrs {
    let mut a = Attrs::default();
    for (t, v) in list {
        a.push_bytes(*t, v);
    }
    a
}

/// The attributes of an encoded packet, without the Message-Authenticator.
fn wire_attrs(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    codec::raw_attributes(&bytes[codec::HEADER_LEN..])
        .filter(|(_, t, _)| *t != codec::ATTR_MESSAGE_AUTHENTICATOR)
        .map(|(_, t, v)| (t, v.to_vec()))
        .collect()
}

/// Recompute the Message-Authenticator (the first attribute, as
/// `encode_request` places it) of an Access-Request after editing it.
fn resign_access_request(bytes: &mut [u8], secret: &[u8]) {
    assert_eq!(bytes[codec::HEADER_LEN], codec::ATTR_MESSAGE_AUTHENTICATOR);
    let at = codec::HEADER_LEN + 2;
    bytes[at..at + 16].fill(0);
    let mut m = <Hmac<Md5> as Mac>::new_from_slice(secret).unwrap();
    m.update(bytes);
    let mac: [u8; 16] = m.finalize().into_bytes().into();
    bytes[at..at + 16].copy_from_slice(&mac);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// encode_request → decode_request gives back code, identifier and the
    /// attributes in order, for every request code, with and without
    /// Message-Authenticator.
    #[test]
    fn request_round_trip(
        code in request_code(),
        identifier in any::<u8>(),
        list in attr_list(),
        secret in secret(),
        with_ma in any::<bool>(),
    ) {
        let bytes = codec::encode_request(code, identifier, &to_attrs(&list), &secret, with_ma)
            .expect("fits in a packet");
        prop_assert!(bytes.len() <= codec::MAX_PACKET_LEN);
        prop_assert_eq!(codec::framed(&bytes), Ok(&bytes[..]));
        let req = codec::decode_request(&bytes, &secret, &[code]).expect("decodes");
        prop_assert_eq!(req.code, code);
        prop_assert_eq!(req.identifier, identifier);
        prop_assert_eq!(req.has_message_authenticator, with_ma);
        prop_assert_eq!(&req.authenticator[..], &bytes[4..20]);
        prop_assert_eq!(wire_attrs(&bytes), list.clone());
        // The radius crate's view agrees, type by type.
        for (t, _) in &list {
            let ours: Vec<&Vec<u8>> = list.iter().filter(|(x, _)| x == t).map(|(_, v)| v).collect();
            let theirs: Vec<Vec<u8>> =
                req.packet.lookup_all(*t).iter().map(|a| a.encode_bytes()).collect();
            prop_assert_eq!(ours.len(), theirs.len());
            for (a, b) in ours.iter().zip(&theirs) {
                prop_assert_eq!(*a, b);
            }
        }
        // Another port's code list turns it away.
        let other: &[Code] = if code == Code::AccessRequest {
            &[Code::AccountingRequest]
        } else {
            &[Code::AccessRequest]
        };
        prop_assert_eq!(
            codec::decode_request(&bytes, &secret, other).unwrap_err(),
            DropReason::UnexpectedCode
        );
    }

    /// A list that does not fit is refused by the encoder, not truncated.
    #[test]
    fn oversized_request_is_not_encoded(
        code in request_code(),
        n in 17usize..=40,
        with_ma in any::<bool>(),
    ) {
        let list: Vec<(u8, Vec<u8>)> = (0..n).map(|i| (1 + i as u8, vec![0xa5; 253])).collect();
        prop_assert!(codec::encode_request(code, 1, &to_attrs(&list), b"secret", with_ma).is_none());
    }

    /// encode_response → verify_response succeeds; one octet changed
    /// anywhere, or the wrong secret, or the wrong request, makes it fail.
    #[test]
    fn response_verifies_and_tampering_fails(
        code in request_code(),
        identifier in any::<u8>(),
        list in attr_list(),
        reply in prop::collection::vec(
            (1u8..=79, prop::collection::vec(any::<u8>(), 0..=64)), 0..=8),
        secret in secret(),
        with_ma in any::<bool>(),
        reject in any::<bool>(),
        tamper_at in any::<prop::sample::Index>(),
        tamper_xor in 1u8..=255,
    ) {
        // Proxy-States of the request are echoed: keep their total small
        // enough for the response to fit.
        let list: Vec<(u8, Vec<u8>)> = list
            .into_iter()
            .filter(|(t, _)| *t != codec::ATTR_PROXY_STATE)
            .collect();
        let reqb = codec::encode_request(code, identifier, &to_attrs(&list), &secret, with_ma)
            .expect("fits");
        let req = codec::decode_request(&reqb, &secret, &[code]).expect("decodes");
        let resp_code = match (code, reject) {
            (Code::AccountingRequest, _) => Code::AccountingResponse,
            (_, true) => Code::AccessReject,
            (_, false) => Code::AccessAccept,
        };
        let attrs = to_attrs(&reply);
        let resp = codec::encode_response(&req, resp_code, &attrs, &secret).expect("encodes");
        prop_assert_eq!(resp[0], resp_code as u8);
        prop_assert_eq!(resp[1], identifier);
        let with_resp_ma = resp_code != Code::AccountingResponse;
        prop_assert_eq!(
            resp.get(codec::HEADER_LEN) == Some(&codec::ATTR_MESSAGE_AUTHENTICATOR),
            with_resp_ma
        );
        let p = codec::verify_response(&resp, &reqb, &secret).expect("verifies");
        prop_assert_eq!(p.get_code(), resp_code);
        prop_assert_eq!(p.get_identifier(), identifier);
        prop_assert_eq!(wire_attrs(&resp), reply.clone());

        let i = tamper_at.index(resp.len());
        let mut t = resp.clone();
        t[i] ^= tamper_xor;
        prop_assert!(codec::verify_response(&t, &reqb, &secret).is_none(), "octet {} changed", i);

        let mut wrong = secret.clone();
        wrong[0] ^= 1;
        prop_assert!(codec::verify_response(&resp, &reqb, &wrong).is_none());
        let mut other_req = reqb.clone();
        other_req[4] ^= 1;
        prop_assert!(codec::verify_response(&resp, &other_req, &secret).is_none());
    }

    /// PAP: a password of 1..=128 octets (no NUL: NULs are the padding)
    /// encrypted with `pap_attribute` comes back from `credential()` and
    /// matches itself only.
    #[test]
    fn pap_password_round_trip(
        password in prop::collection::vec(1u8..=255, 1..=128),
        secret in secret(),
        identifier in any::<u8>(),
        with_ma in any::<bool>(),
        flip in any::<prop::sample::Index>(),
    ) {
        // Encode with a placeholder of the right size, then fill in the
        // password encrypted with the authenticator the encoder chose.
        let enc_len = password.len().div_ceil(16) * 16;
        let mut a = Attrs::default();
        a.push_string(codec::ATTR_USER_NAME, "guest");
        a.push_bytes(codec::ATTR_USER_PASSWORD, &vec![0u8; enc_len]);
        let mut bytes =
            codec::encode_request(Code::AccessRequest, identifier, &a, &secret, with_ma)
                .expect("fits");
        let auth = bytes[4..20].to_vec();
        let avp: Avp = codec::pap_attribute(&password, &secret, &auth).expect("encrypts");
        let value = avp.encode_bytes();
        prop_assert_eq!(value.len(), enc_len);
        let (at, _, _) = codec::raw_attributes(&bytes[codec::HEADER_LEN..])
            .find(|(_, t, _)| *t == codec::ATTR_USER_PASSWORD)
            .unwrap();
        let at = codec::HEADER_LEN + at + 2;
        bytes[at..at + enc_len].copy_from_slice(&value);
        if with_ma {
            resign_access_request(&mut bytes, &secret);
        }

        let req = codec::decode_request(&bytes, &secret, &[Code::AccessRequest]).expect("decodes");
        let cred = req.credential();
        prop_assert_eq!(&cred, &Credential::Pap(password.clone()));
        prop_assert!(cred.matches(&password));
        let mut other = password.clone();
        let i = flip.index(other.len());
        other[i] = if other[i] == 255 { 1 } else { other[i] + 1 };
        prop_assert!(!cred.matches(&other));
        prop_assert!(!cred.matches(&password[..password.len() - 1]));
        let mut longer = password.clone();
        longer.push(b'x');
        prop_assert!(!cred.matches(&longer));

        // Decrypted with another secret it is not the password (the
        // Message-Authenticator, if any, already refuses it).
        let mut wrong = secret.clone();
        wrong[0] ^= 0x80;
        match codec::decode_request(&bytes, &wrong, &[Code::AccessRequest]) {
            Ok(r) => {
                prop_assert!(!with_ma);
                prop_assert!(!r.credential().matches(&password));
            }
            Err(e) => {
                prop_assert!(with_ma);
                prop_assert_eq!(e, DropReason::BadMessageAuthenticator);
            }
        }
    }
}

/// Passwords over 128 octets cannot be PAP-encrypted (RFC 2865 §5.2).
#[test]
fn pap_refuses_long_passwords_and_empty_secrets() {
    let auth = [7u8; 16];
    assert!(codec::pap_attribute(&[b'a'; 128], b"s", &auth).is_some());
    assert!(codec::pap_attribute(&[b'a'; 129], b"s", &auth).is_none());
    assert!(codec::pap_attribute(b"pw", b"", &auth).is_none());
}
