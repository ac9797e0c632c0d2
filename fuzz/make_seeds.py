#!/usr/bin/env python3
"""Write the hand-made seed inputs the fuzz corpora started from.

    python3 fuzz/make_seeds.py fuzz/corpus-raw

Seeds: the RFC 2865 §7.1 example, signed Access-Requests (PAP, CHAP, with
Message-Authenticator, VSAs, Proxy-State), Accounting Start/Interim/Stop,
Status-Server, and a few edge cases. `decode` gets whole datagrams,
`attributes` their attribute areas, `handler` a few structured inputs.
"""
import hashlib
import hmac
import os
import struct
import sys

SECRET = b"xyzzy5461"


def attr(t, v):
    assert len(v) <= 253
    return bytes([t, len(v) + 2]) + v


def u32(t, n):
    return attr(t, struct.pack(">I", n))


def pap(pw, auth, secret=SECRET):
    pw = pw.ljust(max(16, -(-len(pw) // 16) * 16), b"\0")
    out, prev = b"", auth
    for i in range(0, len(pw), 16):
        b = hashlib.md5(secret + prev).digest()
        c = bytes(x ^ y for x, y in zip(pw[i:i + 16], b))
        out += c
        prev = c
    return attr(2, out)


def packet(code, ident, auth, attrs, ma=False, secret=SECRET):
    zero = code in (4, 40, 43)
    body = (attr(80, bytes(16)) if ma else b"") + b"".join(attrs)
    hdr_auth = bytes(16) if zero else auth
    pkt = bytearray(bytes([code, ident]) + struct.pack(">H", 20 + len(body)) + hdr_auth + body)
    if ma:
        pkt[22:38] = hmac.new(secret, bytes(pkt), hashlib.md5).digest()
    if zero:
        pkt[4:20] = hashlib.md5(bytes(pkt[:4]) + bytes(16) + bytes(pkt[20:]) + secret).digest()
    return bytes(pkt)


def main(out):
    auth = bytes(range(16))
    rfc = bytes.fromhex(
        "010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d"
        "93d413ce3196e43f782a0aee0406c0a8011005060000000003")
    chap_resp = hashlib.md5(b"\x2a" + b"Welcome1" + auth).digest()
    vsa = attr(26, struct.pack(">I", 14988) + bytes([8, 7]) + b"2M/5M")
    datagrams = {
        "rfc2865-pap": rfc,
        "pap-ma": packet(1, 1, auth, [attr(1, b"Welcome1"), pap(b"Welcome1", auth),
                                       attr(31, b"AA-BB-CC-DD-EE-01")], ma=True),
        "pap-long": packet(1, 2, auth, [attr(1, b"x" * 100), pap(b"y" * 128, auth)], ma=True),
        "chap": packet(1, 3, auth, [attr(1, b"Welcome1"), attr(3, b"\x2a" + chap_resp),
                                     attr(31, b"aabb.ccdd.ee02")]),
        "chap-challenge": packet(1, 4, auth, [attr(1, b"Welcome1"), attr(60, b"0123456789abcdef"),
                                               attr(3, b"\x2a" + bytes(16))], ma=True),
        "vsa-proxy": packet(1, 5, auth, [attr(1, b"CODE"), vsa, attr(33, b"state-1"),
                                          attr(33, b"state-2")], ma=True),
        "acct-start": packet(4, 6, auth, [u32(40, 1), attr(1, b"Welcome1"), attr(44, b"81000001"),
                                           attr(31, b"AA:BB:CC:DD:EE:01"), u32(8, 0x0a000002)]),
        "acct-interim": packet(4, 7, auth, [u32(40, 3), attr(44, b"81000001"), u32(46, 600),
                                             u32(42, 12345), u32(52, 1)], ma=True),
        "acct-stop": packet(4, 8, auth, [u32(40, 2), attr(44, b"81000001"), u32(46, 900),
                                          u32(49, 1)]),
        "acct-on": packet(4, 9, auth, [u32(40, 7)]),
        "status": packet(12, 10, auth, [], ma=True),
        "two-ma": packet(1, 11, auth, [attr(80, bytes(16))], ma=True),
        "ma-short": packet(1, 12, auth, [attr(80, bytes(15))]),
        "padded": packet(1, 13, auth, [attr(1, b"CODE")]) + bytes(8),
        "header-only": packet(1, 14, auth, []),
    }
    os.makedirs(f"{out}/decode", exist_ok=True)
    os.makedirs(f"{out}/attributes", exist_ok=True)
    os.makedirs(f"{out}/handler", exist_ok=True)
    for name, d in datagrams.items():
        open(f"{out}/decode/{name}", "wb").write(d)
        open(f"{out}/attributes/{name}", "wb").write(d[20:])
    open(f"{out}/attributes/zero-len", "wb").write(b"\x01\x00")
    open(f"{out}/attributes/overrun", "wb").write(b"\x01\xff" + b"a" * 10)
    # handler: kind, identifier, with_ma, secret(len-prefixed), authenticator, ...
    for kind in range(3):
        for cred in range(6):
            seed = bytes([kind, 7, 1, 0]) + auth + bytes([1, cred, 0, 2])
            seed += bytes([1, 3, 0, 2, 3]) + bytes(64)
            open(f"{out}/handler/k{kind}-c{cred}", "wb").write(seed)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "corpus-raw")
