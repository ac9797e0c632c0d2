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
