#!/usr/bin/env python3
"""Independent RADIUS client for interop tests (Debian python3-pyrad).

usage: pyrad_client.py PORT SECRET pap|chap USER PASSWORD [MAC]
       pyrad_client.py PORT SECRET acct USER STATUS SESSION-ID SESSION-TIME
Prints one JSON object: {"code": N, "attributes": {name: [values]}}.
Exit 0 on any verified reply, 2 on timeout.
"""
import hashlib
import json
import os
import sys

from pyrad.client import Client, Timeout
from pyrad.dictionary import Dictionary
import pyrad.packet


def main():
    port, secret, method, user, password = sys.argv[1:6]
    mac = sys.argv[6] if len(sys.argv) > 6 and method != "acct" else None
    here = os.path.dirname(os.path.abspath(__file__))
    c = Client(server="127.0.0.1", authport=int(port), acctport=int(port),
               secret=secret.encode(), dict=Dictionary(os.path.join(here, "dictionary")))
    c.timeout = 3
    c.retries = 1
    if method == "acct":
        req = c.CreateAcctPacket(User_Name=user)
        req["Acct-Status-Type"] = password
        req["Acct-Session-Id"] = sys.argv[6]
        req["Acct-Session-Time"] = int(sys.argv[7])
        req["Calling-Station-Id"] = "02:00:00:00:00:42"
    else:
        req = c.CreateAuthPacket(code=pyrad.packet.AccessRequest, User_Name=user)
    if method == "acct":
        pass
    elif method == "pap":
        req["User-Password"] = req.PwCrypt(password)
    else:
        ident = 7
        challenge = os.urandom(16)
        digest = hashlib.md5(bytes([ident]) + password.encode() + challenge).digest()
        req["CHAP-Password"] = bytes([ident]) + digest
        req["CHAP-Challenge"] = challenge
    if mac:
        req["Calling-Station-Id"] = mac
    try:
        reply = c.SendPacket(req)
    except Timeout:
        print(json.dumps({"error": "timeout"}))
        return 2
    # pyrad's SendPacket only returns replies whose Response Authenticator
    # verifies against the request (pyrad/client.py: VerifyReply).
    attrs = {}
    for key in reply.keys():
        name = key if isinstance(key, str) else str(key)
        vals = []
        for v in reply[key]:
            vals.append(v.hex() if isinstance(v, bytes) else v)
        attrs[name] = vals
    print(json.dumps({"code": reply.code, "attributes": attrs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
