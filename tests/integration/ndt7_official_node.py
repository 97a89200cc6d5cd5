#!/usr/bin/python3
"""M-Lab's official ndt7 JavaScript client (@m-lab/ndt7 from npm, its own
code unchanged) under Node, against netpulse-server: a download over ws and
an upload over wss (tests/peers/ndt7_official_node.mjs supplies only the
browser's Worker and WebSocket). Each test must return 0 with server
measurements, and its UUID must name exactly one archived file holding the
transfer and the library's metadata (the library sends no measurements of
its own during an upload, so the record has none).

Usage: ndt7_official_node.py SERVER_BINARY NODE   Exit 0 pass, 1 fail."""

import gzip
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_lib as L  # noqa: E402

PEERS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "peers")


def check(cond, what, *detail):
    if not cond:
        raise AssertionError(what + (": " + " ".join(str(d) for d in detail) if detail else ""))
    print("ok:", what, *detail)


NODE = None


def t_run(binary, tmp):
    node = NODE
    srv = L.Server(binary, os.path.join(tmp, "spool"), tls=True)
    try:
        for proto, test in (("ws", "download"), ("wss", "upload")):
            port = srv.ws if proto == "ws" else srv.wss
            p = subprocess.run([node, os.path.join(PEERS, "ndt7_official_node.mjs"), "--server",
                                "127.0.0.1:%d" % port, "--protocol", proto, "--test", test],
                               capture_output=True, text=True, timeout=60)
            try:
                out = json.loads(p.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                out = {}
            r = out.get(test) or {}
            check(p.returncode == 0 and out.get("ok") and r.get("code") == 0,
                  "%s over %s: the library returned 0" % (test, proto), out, p.stderr[-500:])
            check(r.get("measurements", 0) >= 5, "%s: server measurements seen" % test, r)
            uuid = r.get("uuid")
            check(L.wait_for(lambda: len([f for f in L.data_files(srv.datadir)
                                          if uuid and uuid in f]) == 1, 10),
                  "%s: one data file for UUID %s" % (test, uuid))
            files = [f for f in L.data_files(srv.datadir) if uuid in f]
            rec = json.loads(gzip.open(files[0]).read())
            part = rec.get(test.capitalize()) or {}
            meta = {m["Name"]: m["Value"] for m in part.get("ClientMetadata") or []}
            check(meta.get("client_library_name") == "ndt7-js" and
                  meta.get("client_name") == "netpulse-soak-official-js",
                  "%s: the library's metadata recorded" % test, meta)
            sm = part.get("ServerMeasurements") or []
            got = max([(m.get("TCPInfo") or {}).get("BytesReceived", 0) for m in sm] or [0])
            sent = max([(m.get("TCPInfo") or {}).get("BytesAcked", 0) for m in sm] or [0])
            moved = got if test == "upload" else sent
            check(len(sm) >= 5 and moved > (1 << 20),
                  "%s: the server's record holds the transfer" % test, len(sm), moved)
    finally:
        check(srv.stop() == 0, "server exit 0")


def main():
    global NODE
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    NODE = sys.argv[2]
    sys.argv[2] = "run"  # run_subject's SERVER_BINARY SUBJECT
    return L.run_subject({"run": t_run}, __doc__, "np-officialjs-", [])


if __name__ == "__main__":
    sys.exit(main())
