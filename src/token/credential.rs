//! What a login proves: the password of a PAP login, or the answer of a
//! CHAP login to its challenge. The wire (radius/codec.rs, the IronWifi
//! connector, the portal) produces it; the policy checks it.

use md5::{Digest, Md5};

/// What the NAS sent as proof of the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Pap(Vec<u8>),
    Chap {
        ident: u8,
        response: [u8; 16],
        challenge: Vec<u8>,
    },
    /// A password attribute that could not be decoded.
    Invalid,
    None,
}

impl Credential {
    /// A PAP password that is not printable text: what a User-Password
    /// hidden with another shared secret decodes to (codes are text).
    pub fn is_garbled(&self) -> bool {
        match self {
            Credential::Pap(pw) => {
                std::str::from_utf8(pw).map_or(true, |s| s.chars().any(char::is_control))
            }
            _ => false,
        }
    }

    /// Does this credential prove knowledge of `password`?
    pub fn matches(&self, password: &[u8]) -> bool {
        match self {
            Credential::Pap(pw) => constant_time_eq(pw, password),
            Credential::Chap {
                ident,
                response,
                challenge,
            } => {
                let mut h = Md5::new();
                h.update([*ident]);
                h.update(password);
                h.update(challenge);
                constant_time_eq(&h.finalize(), response)
            }
            Credential::Invalid | Credential::None => false,
        }
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_decoded_with_the_wrong_secret_is_garbled() {
        assert!(!Credential::Pap(b"WELCOME1".to_vec()).is_garbled());
        assert!(!Credential::Pap("Café-2".as_bytes().to_vec()).is_garbled());
        assert!(Credential::Pap(vec![0x8f, 0x12, 0x41]).is_garbled());
        assert!(Credential::Pap(b"AB\x07C".to_vec()).is_garbled());
        assert!(!Credential::None.is_garbled());
    }
}
