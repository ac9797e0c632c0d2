//! CHAP as hotspots hand it to a login page: Mikrotik gives `chap-id` and
//! `chap-challenge` as octal-escaped JavaScript string literals ("\371",
//! "\357\015…"); the answer is hex(MD5(id ‖ code ‖ challenge)).

use md5::{Digest, Md5};

/// The bytes of a Mikrotik `$(chap-id)` / `$(chap-challenge)`: `\NNN`
/// octal escapes (1 to 3 digits), `\\`, `\'`, `\"`, and plain ASCII
/// characters. `None` for anything else (then the page cannot log in with
/// CHAP; the caller says so).
pub fn unescape_octal(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = *b.get(i)?;
        if c != b'\\' {
            if !c.is_ascii() || c.is_ascii_control() {
                return None;
            }
            out.push(c);
            i += 1;
            continue;
        }
        let n = *b.get(i + 1)?;
        match n {
            b'0'..=b'7' => {
                let mut v: u32 = 0;
                let mut j = i + 1;
                while j < b.len() && j < i + 4 && (b'0'..=b'7').contains(&b[j]) {
                    v = v * 8 + u32::from(b[j] - b'0');
                    j += 1;
                }
                out.push(u8::try_from(v).ok()?);
                i = j;
            }
            b'\\' | b'\'' | b'"' => {
                out.push(n);
                i += 2;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// The CHAP answer a hotspot's login expects as `password`, lower-case hex.
pub fn answer(id: &[u8], code: &str, challenge: &[u8]) -> String {
    let mut h = Md5::new();
    h.update(id);
    h.update(code.as_bytes());
    h.update(challenge);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// CoovaChilli UAM (also OpenWrt's uspot): the `response` for
/// `http://uamip:uamport/logon?username=…&response=…`:
/// hex(MD5(0x00 ‖ code ‖ newchal)), newchal = MD5(challenge ‖ uam_secret)
/// with a secret, else the challenge (given as hex, 16 bytes). `None` when
/// the challenge is not hex.
pub fn uam_response(challenge_hex: &str, secret: Option<&str>, code: &str) -> Option<String> {
    let raw = hex_decode(challenge_hex)?;
    if raw.is_empty() || raw.len() > 64 {
        return None;
    }
    let newchal = match secret {
        Some(s) => {
            let mut h = Md5::new();
            h.update(&raw);
            h.update(s.as_bytes());
            h.finalize().to_vec()
        }
        None => raw,
    };
    Some(answer(&[0], code, &newchal))
}

/// Does `md` (upper- or lower-case hex) sign `url` (the redirect URL as
/// CoovaChilli built it, up to `&md=`) with `secret`: MD5(url ‖ secret)?
pub fn uam_signed(url: &str, secret: &str, md: &str) -> bool {
    let mut h = Md5::new();
    h.update(url.as_bytes());
    h.update(secret.as_bytes());
    let want: Vec<u8> = h.finalize().to_vec();
    match hex_decode(md) {
        // Constant time: a guessed signature learns nothing from timing.
        Some(got) if got.len() == want.len() => {
            got.iter().zip(&want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
        }
        _ => false,
    }
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mikrotik_octal_strings() {
        assert_eq!(unescape_octal("\\371"), Some(vec![0o371]));
        assert_eq!(
            unescape_octal("\\357\\015\\330a\\\\\\'"),
            Some(vec![0o357, 0o15, 0o330, b'a', b'\\', b'\''])
        );
        assert_eq!(unescape_octal("\\0"), Some(vec![0]));
        assert_eq!(unescape_octal("\\1234"), Some(vec![0o123, b'4']));
        assert_eq!(unescape_octal(""), Some(vec![]));
        assert_eq!(unescape_octal("\\400"), None);
        assert_eq!(unescape_octal("\\x41"), None);
        assert_eq!(unescape_octal("\\"), None);
        assert_eq!(unescape_octal("é"), None);
    }

    #[test]
    fn the_answer_is_md5_of_id_code_challenge() {
        // python3: hashlib.md5(b'\x01welcome1\x02\xff').hexdigest()
        assert_eq!(
            answer(&[1], "welcome1", &[2, 0xff]),
            "5774961f94e4d2f665510d815338fe5a"
        );
        assert_eq!(answer(b"", "", b""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn coovachilli_uam_response_and_signature() {
        // python3: md5(b'\x00' + b'WELCOME1' + newchal), newchal = md5(raw + b'uamsecret1')
        let ch = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            uam_response(ch, Some("uamsecret1"), "WELCOME1").as_deref(),
            Some("0bdd60c7a5b8e5e6a95007da3e468925")
        );
        assert_eq!(
            uam_response(&ch.to_uppercase(), None, "WELCOME1").as_deref(),
            Some("c674d70f06be3187137054cf56d073d8")
        );
        assert_eq!(uam_response("xyz", None, "A"), None);
        assert_eq!(uam_response("", None, "A"), None);
        let url = "http://wifi.example.net:8081/chilli?res=notyet&uamip=10.1.0.1&uamport=3990\
                   &challenge=0123456789abcdef0123456789abcdef&mac=02-00-00-00-00-01&ip=10.1.0.5\
                   &userurl=http%3A%2F%2Fexample.com%2F";
        assert!(uam_signed(
            url,
            "uamsecret1",
            "7048EA4EFAE97FC1E282748594ED99BC"
        ));
        assert!(uam_signed(
            url,
            "uamsecret1",
            "7048ea4efae97fc1e282748594ed99bc"
        ));
        assert!(!uam_signed(
            url,
            "other",
            "7048EA4EFAE97FC1E282748594ED99BC"
        ));
        assert!(!uam_signed(
            &url.replace("10.1.0.5", "10.1.0.6"),
            "uamsecret1",
            "7048EA4EFAE97FC1E282748594ED99BC"
        ));
        assert!(!uam_signed(url, "uamsecret1", "7048"));
        assert!(!uam_signed(url, "uamsecret1", "zz"));
    }
}
