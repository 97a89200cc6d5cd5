#!/usr/bin/env python3
"""Self probes on a slow load connection (issue 10): a client streams the
endless large object over HTTP/2 (h2c, or h2 over TLS) and reads it at a
bounded rate through a small receive buffer, as a load connection that a
bottleneck holds to ~2 Mbit/s does; then it asks for the small object on
the same connection, several times. Each answer must arrive within a
bound of a few hundred ms: what the server queues ahead of it on that
connection (its HTTP/2 staging, its write queue, the socket's unsent
bytes, the frame in progress) must be bounded in time, not in bytes. At
2 Mbit/s, 1.5 MB queued is 6 s.

The client is raw frames from Python (prior knowledge or ALPN h2), with
its own reading pace: a real peer, not netpulse's client.

Usage: rpm_self_probe.py --server-bin PATH --case h2c|h2 [--rate BYTES/S]
       [--bound-ms MS] [--probes N]"""

import argparse
import json
import os
import socket
import ssl
import statistics
import struct
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datafiles  # noqa: E402
import ops_lib  # noqa: E402
from rpm_hostile import (DATA, FAILS, GOAWAY, HEADERS, PING, PREFACE, RST,  # noqa: E402
                         SETTINGS, WINDOW_UPDATE, check, frame, literal)

END_STREAM, ACK = 0x1, 0x1
WINDOW = 8 << 20  # what netpulse's client grants, per stream and connection


def get_block(path, scheme):
    return literal(":method", "GET") + literal(":scheme", scheme) + \
        literal(":authority", "127.0.0.1") + literal(":path", path)


class SlowClient:
    """One HTTP/2 connection read at `rate` bytes/s through a small
    receive buffer; frames are parsed as they are read."""

    def __init__(self, port, tls, rate):
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Set before connect, so the window the handshake advertises is
        # already small: the bytes in flight stay a few ms at this rate.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        raw.connect(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            raw = ctx.wrap_socket(raw, server_hostname="localhost")
            check(raw.selected_alpn_protocol() == "h2", "ALPN h2")
        self.s = raw
        self.scheme = "https" if tls else "http"
        self.rate = rate
        self.buf = b""
        self.credit = 0  # DATA bytes read and not yet returned by WINDOW_UPDATE
        self.bulk = 0
        self.done = {}  # stream id -> monotonic time its END_STREAM arrived
        self.goaway = False
        self.t_last = time.monotonic()
        self.tokens = 0.0
        # SETTINGS as netpulse's client sends them: 8 MiB windows, 1 MiB
        # frames allowed.
        settings = struct.pack(">HI", 4, WINDOW) + struct.pack(">HI", 5, 1 << 20) + \
            struct.pack(">HI", 2, 0)
        self.s.sendall(PREFACE + frame(SETTINGS, 0, 0, settings) +
                       frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", WINDOW - 65535)))

    def get(self, sid, path):
        self.s.sendall(frame(HEADERS, 0x4 | END_STREAM, sid, get_block(path, self.scheme)))

    def pump(self, until):
        """Reads at the pace until `until` (monotonic) or EOF."""
        while time.monotonic() < until and not self.goaway:
            now = time.monotonic()
            self.tokens = min(self.tokens + (now - self.t_last) * self.rate, 16384)
            self.t_last = now
            if self.tokens < 1024:
                time.sleep(min(0.005, until - now) if until > now else 0)
                continue
            self.s.settimeout(max(0.001, until - now))
            try:
                d = self.s.recv(int(self.tokens))
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            if not d:
                self.goaway = True
                break
            self.tokens -= len(d)
            self.buf += d
            self.parse()

    def parse(self):
        out = b""
        while len(self.buf) >= 9:
            ln = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + ln:
                break
            ftype, flags = self.buf[3], self.buf[4]
            sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            payload = self.buf[9:9 + ln]
            self.buf = self.buf[9 + ln:]
            now = time.monotonic()
            if ftype == SETTINGS and not flags & ACK:
                out += frame(SETTINGS, ACK, 0)
            elif ftype == PING and not flags & ACK:
                out += frame(PING, ACK, 0, payload)
            elif ftype == GOAWAY:
                self.goaway = True
            elif ftype == DATA:
                self.credit += ln
                if sid == 1:
                    self.bulk += ln
            if ftype in (DATA, HEADERS, RST) and (flags & END_STREAM or ftype == RST):
                self.done.setdefault(sid, now)
        # Give the window back as a real client does, in large steps.
        if self.credit >= 1 << 20:
            out += frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", self.credit))
            out += frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", self.credit))
            self.credit = 0
        if out:
            self.s.sendall(out)


def urls(srv, tls):
    port = srv.wss if tls else srv.ws
    ctx = ssl._create_unverified_context() if tls else None
    base = "%s://127.0.0.1:%d" % ("https" if tls else "http", port)
    with urllib.request.urlopen(base + "/.well-known/nq", timeout=10, context=ctx) as r:
        doc = json.load(r)
    out = {}
    for key in ("large", "small"):
        u = urllib.parse.urlparse(doc["urls"][key + "_download_url"])
        out[key] = u.path + "?" + u.query
    return port, out


def run(server_bin, case, rate, bound_ms, probes):
    tls = case == "h2"
    with tempfile.TemporaryDirectory() as tmp:
        srv = ops_lib.Server(server_bin, os.path.join(tmp, "spool"), tls=tls)
        try:
            port, u = urls(srv, tls)
            c = SlowClient(port, tls, rate)
            c.get(1, u["large"])
            t0 = time.monotonic()
            # Long enough for every queue on the server's side to fill:
            # it fills at loopback speed, we drain at the pace.
            c.pump(t0 + 1.5)
            waits = []
            sid = 3
            for _ in range(probes):
                start = time.monotonic()
                c.get(sid, u["small"])
                while sid not in c.done and not c.goaway and time.monotonic() < start + 10:
                    c.pump(time.monotonic() + 0.01)
                got = c.done.get(sid)
                waits.append((got - start) * 1000 if got else float("inf"))
                sid += 2
                c.pump(time.monotonic() + 0.3)
            secs = time.monotonic() - t0
            kbit = c.bulk * 8 / secs / 1000
            print("%s: large read at %.0f kbit/s; small answered after %s ms (median %.0f)" %
                  (case, kbit, " ".join("%.0f" % w for w in waits), statistics.median(waits)),
                  flush=True)
            check(not c.goaway, case + ": connection ended early")
            check(kbit > rate * 8 / 1000 * 0.5, case + ": the large stream kept flowing")
            check(statistics.median(waits) <= bound_ms,
                  "%s: median self probe %.0f ms > %d ms" % (case, statistics.median(waits),
                                                              bound_ms))
            check(max(waits) <= 2 * bound_ms,
                  "%s: slowest self probe %.0f ms > %d ms" % (case, max(waits), 2 * bound_ms))
            c.s.close()
        finally:
            rc = srv.stop()
            check(rc == 0, "server exit status %s" % rc)
            check(not datafiles.check_tree(os.path.join(tmp, "spool"))[1],
                  "data files fit the schemas")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--case", choices=("h2c", "h2"), required=True)
    ap.add_argument("--rate", type=int, default=250000, help="reading pace, bytes/s")
    ap.add_argument("--bound-ms", type=int, default=300)
    ap.add_argument("--probes", type=int, default=7)
    a = ap.parse_args()
    run(a.server_bin, a.case, a.rate, a.bound_ms, a.probes)
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
