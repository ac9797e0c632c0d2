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
}
