#!/usr/bin/env python3
"""Independent NAS side of Dynamic Authorization (RFC 5176) for interop
tests (Debian python3-pyrad): receives one Disconnect-Request, checks it
with pyrad, answers Disconnect-ACK.

usage: pyrad_nas.py SECRET
Prints the UDP port it listens on (127.0.0.1) as the first line (the
readiness signal), then one JSON object: {"code": N, "verified": bool,
"attributes": {name: [values]}}. Exit 2 when nothing arrives in 20 s.
"""
import json
import os
import socket
import sys

from pyrad.dictionary import Dictionary
import pyrad.packet


def main():
    secret = sys.argv[1].encode()
    here = os.path.dirname(os.path.abspath(__file__))
    d = Dictionary(os.path.join(here, "dictionary"))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(20)
    print(s.getsockname()[1], flush=True)
    try:
        data, peer = s.recvfrom(4096)
    except socket.timeout:
        sys.exit(2)
    req = pyrad.packet.CoAPacket(secret=secret, dict=d, packet=data)
    verified = req.VerifyCoARequest()
    attrs = {}
    for key in req.keys():
        name = key if isinstance(key, str) else str(key)
        vals = req[key]
        attrs[name] = [v.hex() if isinstance(v, bytes) else str(v) for v in vals]
    reply = req.CreateReply()
    reply.code = pyrad.packet.DisconnectACK
    s.sendto(reply.ReplyPacket(), peer)
    print(json.dumps({"code": req.code, "verified": verified, "attributes": attrs}), flush=True)


if __name__ == "__main__":
    main()
