#!/usr/bin/env python3
"""Hostile HTTP/2 clients against the responsiveness server (h2c, raw
frames from Python): SETTINGS, PING and RST_STREAM floods (rapid reset,
CVE-2023-44487), CONTINUATION floods (CVE-2024-28182), a WINDOW_UPDATE
flood from a connection of a measurement, header-size bombs,
a client whose window stays at zero, one that never reads the large
object, and connections that never ask for anything. Each must be cut off
in bounded time and memory, and the server must serve a normal request
afterwards. Every GOAWAY must say why: a log line, the
netpulse_h2_goaway_total counter, and (for a connection of a measurement)
its EndReason in the record.

Usage: rpm_hostile.py --server-bin PATH [--case NAME]"""

import argparse
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import json
import re
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datafiles  # noqa: E402
import ops_lib  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL: " + what, file=sys.stderr, flush=True)
    return cond


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def hpack_int(v, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if v < limit:
        return bytes([first | v])
    out = [first | limit]
    v -= limit
    while v >= 128:
        out.append((v & 127) | 128)
        v >>= 7
    out.append(v)
    return bytes(out)


def literal(name, value):
    n, v = name.encode(), value.encode()
    return b"\x00" + hpack_int(len(n), 7) + n + hpack_int(len(v), 7) + v


def request_block(path, method="GET", extra=()):
    b = literal(":method", method) + literal(":scheme", "http") + \
        literal(":authority", "127.0.0.1") + literal(":path", path)
    for k, v in extra:
        b += literal(k, v)
    return b


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Conn:
    def __init__(self, port, settings=b""):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.s.sendall(PREFACE + frame(SETTINGS, 0, 0, settings))

    def send(self, b):
        try:
            self.s.sendall(b)
            return True
        except OSError:
            return False

    def read_until_closed(self, limit_s):
        """Reads and parses frames until EOF or limit_s; returns (closed,
        goaway error code or None, bytes read)."""
        self.s.settimeout(0.5)
        buf = b""
        total = 0
        goaway = None
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            try:
                d = self.s.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError:
                return True, goaway, total
            if not d:
                return True, goaway, total
            total += len(d)
            buf += d
            while len(buf) >= 9:
                ln = int.from_bytes(buf[:3], "big")
                if len(buf) < 9 + ln:
                    break
                if buf[3] == GOAWAY and ln >= 8:
                    goaway = int.from_bytes(buf[13:17], "big")
                buf = buf[9 + ln:]
        return False, goaway, total

    def close(self):
        self.s.close()


def normal_small(srv):
    """A normal client still gets its config and a small object."""
    base = "http://127.0.0.1:%d" % srv.ws
    p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-m", "5",
                        base + "/.well-known/nq"], capture_output=True, text=True)
    if not check(p.returncode == 0, "normal client after attack: " + p.stderr):
        return
    url = json.loads(p.stdout)["urls"]["small_download_url"]
    p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-m", "5", "-o", "/dev/null",
                        "-w", "%{http_code}", url], capture_output=True, text=True)
    check(p.stdout == "200", "normal small after attack: %r %s" % (p.stdout, p.stderr))


def valid_mid(srv):
    base = "http://127.0.0.1:%d" % srv.ws
    p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", base + "/.well-known/nq"],
                       capture_output=True, text=True)
    url = json.loads(p.stdout)["urls"]["large_download_url"]
    return urllib.parse.urlparse(url).query  # "mid=..."


def goaway_count(srv, reason):
    m = re.search(r'^netpulse_h2_goaway_total\{reason="%s"\} (\S+)$' % reason,
                  srv.metrics_text(), re.M)
    return float(m.group(1)) if m else None


def goaway_logged(srv, reason):
    return len(re.findall(r'msg="http/2 goaway sent" .*reason=%s ' % reason, srv.log_text()))


def check_reason(name, srv, reason, count0, logged0):
    """The GOAWAY's reason reaches the metric and the log (both at the
    connection's close, which may follow the client's EOF by a moment)."""
    end = time.monotonic() + 3
    while time.monotonic() < end and goaway_count(srv, reason) == count0:
        time.sleep(0.05)
    n = goaway_count(srv, reason)
    check(n is not None and n >= count0 + 1,
          "%s: netpulse_h2_goaway_total{reason=%s} %r -> %r" % (name, reason, count0, n))
    check(goaway_logged(srv, reason) >= logged0 + 1, "%s: no log line for %s" % (name, reason))


def attack(name, srv, fn, limit_s=10, rss_mb=16, cpu_max=None, want_goaway=None,
           want_reason=None):
    pid = srv.proc.pid
    count0 = goaway_count(srv, want_reason) if want_reason else None
    logged0 = goaway_logged(srv, want_reason) if want_reason else 0
    if want_reason:
        check(count0 is not None, "%s: %s not pre-registered" % (name, want_reason))
    rss0, cpu0, t0 = rss_kb(pid), cpu_s(pid), time.monotonic()
    closed, goaway, peak = fn(srv, limit_s, lambda: rss_kb(pid))
    secs = time.monotonic() - t0
    grew = (peak - rss0) / 1024
    used = cpu_s(pid) - cpu0
    print("%s: closed=%s goaway=%s %.2f s, RSS +%.1f MiB, CPU %.2f s" %
          (name, closed, goaway, secs, grew, used), flush=True)
    check(closed, "%s: connection not closed within %d s" % (name, limit_s))
    if want_goaway is not None:
        check(goaway == want_goaway, "%s: GOAWAY %r, want %r" % (name, goaway, want_goaway))
    if want_reason:
        check_reason(name, srv, want_reason, count0, logged0)
    check(grew <= rss_mb, "%s: RSS grew %.1f MiB (> %d)" % (name, grew, rss_mb))
    if cpu_max is not None:
        check(used <= cpu_max, "%s: %.2f CPU s (> %.1f)" % (name, used, cpu_max))
    check(srv.health() == 200, name + ": /health after the attack")
    normal_small(srv)


def flood(frames_fn, count):
    def run(srv, limit_s, rss):
        c = Conn(srv.ws)
        peak = rss()
        chunk = b"".join(frames_fn(i) for i in range(100))
        for _ in range(count // 100):
            if not c.send(chunk):
                break
            peak = max(peak, rss())
        closed, goaway, _ = c.read_until_closed(limit_s)
        c.close()
        return closed, goaway, max(peak, rss())
    return run


def rapid_reset(srv, limit_s, rss):
    c = Conn(srv.ws)
    peak = rss()
    q = valid_mid(srv)
    sid = 1
    for _ in range(50):
        b = b""
        for _ in range(100):
            b += frame(HEADERS, 0x5, sid, request_block("/rpm/v1/large?" + q))
            b += frame(RST, 0, sid, struct.pack(">I", 8))
            sid += 2
        if not c.send(b):
            break
        peak = max(peak, rss())
    closed, goaway, _ = c.read_until_closed(limit_s)
    c.close()
    return closed, goaway, max(peak, rss())


def continuation_flood(srv, limit_s, rss):
    c = Conn(srv.ws)
    peak = rss()
    c.send(frame(HEADERS, 0x1, 1, request_block("/rpm/v1/small")))
    junk = literal("x-junk", "a" * 100)
    for _ in range(2000):
        if not c.send(frame(CONTINUATION, 0, 1, junk * 10)):
            break
    peak = max(peak, rss())
    closed, goaway, _ = c.read_until_closed(limit_s)
    c.close()
    return closed, goaway, max(peak, rss())


def window_update_flood(srv, limit_s, rss):
    """A connection asks for a config (it joins the new measurement), then
    returns credit it was never given: cut off after the 1000 free
    updates and the few its config answer earned. Its record says so."""
    c = Conn(srv.ws)
    peak = rss()
    c.send(frame(HEADERS, 0x5, 1, request_block("/.well-known/nq")))
    wu = frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1)) * 100
    for _ in range(50):
        if not c.send(wu):
            break
        peak = max(peak, rss())
    closed, goaway, _ = c.read_until_closed(limit_s)
    c.close()
    # Its measurement ends 5 s after its last connection closed.
    want = "goaway:window_update_flood"
    found = []
    end = time.monotonic() + 15
    while time.monotonic() < end and not found:
        time.sleep(0.5)
        for path in ops_lib.data_files(srv.datadir, "responsiveness1"):
            with open(path) as f:
                rec = json.load(f)
            found += [k for k in rec.get("Connections") or [] if k.get("EndReason") == want]
    check(len(found) == 1, "window_update_flood: %d record connection(s) ended %s" %
          (len(found), want))
    return closed, goaway, max(peak, rss())


def header_bomb(srv, limit_s, rss):
    """One 60 KiB header field (over the 16 KiB list cap), then idle: the
    stream is refused and, since the connection joins nothing, it is closed
    after the join timeout."""
    c = Conn(srv.ws)
    block = request_block("/rpm/v1/small", extra=[("x-bomb", "b" * 60000)])
    parts = [block[i:i + 16000] for i in range(0, len(block), 16000)]
    b = frame(HEADERS, 0x4 | 0x1 if len(parts) == 1 else 0x1, 1, parts[0])
    for i, p in enumerate(parts[1:]):
        b += frame(CONTINUATION, 0x4 if i == len(parts) - 2 else 0, 1, p)
    c.send(b)
    closed, goaway, _ = c.read_until_closed(limit_s)
    c.close()
    return closed, goaway, rss()


def zero_window(srv, limit_s, rss):
    """Asks for large with a zero stream window and never opens it: the
    server sends nothing and holds no queue; the measurement's runtime cap
    ends the connection."""
    c = Conn(srv.ws, struct.pack(">HI", 4, 0))  # SETTINGS_INITIAL_WINDOW_SIZE = 0
    q = valid_mid(srv)
    c.send(frame(HEADERS, 0x5, 1, request_block("/rpm/v1/large?" + q)))
    closed, goaway, total = c.read_until_closed(limit_s)
    c.close()
    check(total < 4096, "zero_window: %d bytes sent into a zero window" % total)
    return closed, goaway, rss()


def never_reads(srv, limit_s, rss):
    """Opens large and never reads a byte: the kernel buffers fill, the
    server stops, and the runtime cap ends it."""
    c = Conn(srv.ws)
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    q = valid_mid(srv)
    c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 30)) +
           frame(HEADERS, 0x5, 1, request_block("/rpm/v1/large?" + q)) +
           frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 1 << 30)))
    end = time.monotonic() + limit_s
    peak = rss()
    closed = False
    while time.monotonic() < end:
        time.sleep(0.5)
        peak = max(peak, rss())
        # Closed by the server? Its side leaves ESTABLISHED (FIN-WAIT-1
        # while our unread bytes still hold its FIN back).
        out = subprocess.run(["ss", "-tnH", "state", "established",
                              "( sport = :%d and dport = :%d )" % (srv.ws, c.s.getsockname()[1])],
                             capture_output=True, text=True).stdout
        if not out.strip():
            closed = True
            break
    c.close()
    return closed, None, peak


def idle(srv, limit_s, rss):
    """200 connections that send the preface and nothing else."""
    conns = [Conn(srv.ws) for _ in range(200)]
    peak = rss()
    end = time.monotonic() + limit_s
    closed = 0
    for c in conns:
        ok, _, _ = c.read_until_closed(max(0.1, end - time.monotonic()))
        closed += ok
        c.close()
    return closed == len(conns), None, peak


CASES = {
    "settings_flood": (flood(lambda i: frame(SETTINGS, 0, 0, struct.pack(">HI", 3, 100)), 20000),
                       {"want_goaway": 11, "want_reason": "settings_flood"}),
    "ping_flood": (flood(lambda i: frame(PING, 0, 0, struct.pack(">Q", i)), 50000),
                   {"want_goaway": 11, "want_reason": "ping_flood"}),
    "rapid_reset": (rapid_reset, {"want_goaway": 11, "want_reason": "rst_flood"}),
    "continuation_flood": (continuation_flood, {"want_reason": "header_list"}),
    "window_update_flood": (window_update_flood, {"want_goaway": 11, "limit_s": 20,
                                                  "want_reason": "window_update_flood"}),
    "header_bomb": (header_bomb, {}),
    "zero_window": (zero_window, {"limit_s": 12}),
    "never_reads": (never_reads, {"limit_s": 12}),
    "idle": (idle, {"limit_s": 8, "cpu_max": 1.0}),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--case", choices=sorted(CASES), action="append")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        srv = ops_lib.Server(a.server_bin, os.path.join(tmp, "spool"), "--rpm-max-runtime", "5",
                             "--header-timeout-ms", "2000")
        try:
            for name in a.case or sorted(CASES):
                fn, kw = CASES[name]
                attack(name, srv, fn, **kw)
        finally:
            rc = srv.stop()
            check(rc == 0, "server exit status %s" % rc)
            check(not datafiles.check_tree(os.path.join(tmp, "spool"))[1],
                  "data files fit the schemas")
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
