#!/usr/bin/python3
"""Hostile-client acceptance tests (issue 11) against a real netpulse-server:

  fdlimit  under prlimit --nofile=128: a paced download runs while 400 idle
           connections are opened and held; the server stays under half a
           core, the download's data file is written, /health answers, and
           once the flood is gone the next test is served and archived.
  emfile   the same flood with --max-conns above what the limit allows:
           accept fails with EMFILE, the listeners pause instead of spinning.
  close    after the server's Close(1000), an invalid frame gets no second
           Close, and the test counts as a success in /metrics and in the
           data file.
  slow     a download read at 200 kB/s gets the Close, not a reset.

Usage: hostile_test.py SERVER_BINARY SUBJECT. Exit 0 pass, 1 fail. Python 3
stdlib only; every wait is bounded."""

import base64
import gzip
import json
import os
import re
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_lib as L  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def check(cond, what, *detail):
    if not cond:
        raise AssertionError(what + (": " + " ".join(str(d) for d in detail) if detail else ""))
    print("ok:", what, *detail)


def metric(srv, name, **labels):
    """The value of one series (0 when absent), from the text exposition."""
    total = 0.0
    for line in srv.metrics_text().splitlines():
        m = re.match(r'^([a-z_]+)(\{[^}]*\})? (\S+)$', line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


wait_for = L.wait_for


def files_written(srv):
    return len(L.data_files(srv.datadir))


def read_record(path):
    with open(path, "rb") as f:
        return json.loads(gzip.decompress(f.read()))


# ---- fd limit --------------------------------------------------------------

def flood(port, n=400):
    """n connections that never send a byte (the caller closes them)."""
    out = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        out.append(s)
    return out


def t_fdlimit(binary, tmp):
    # The soft limit is raised to the hard one at start, and both are logged.
    srv = L.Server(binary, os.path.join(tmp, "raise"), prefix=("prlimit", "--nofile=100:300"))
    srv.stop()
    log = srv.log_text()
    check(re.search(r'fd_soft_limit_at_start=100 fd_soft_limit=300 fd_hard_limit=300', log),
          "soft fd limit raised to the hard one and logged",
          re.search(r'msg="connection budget".*', log).group(0))

    srv = L.Server(binary, os.path.join(tmp, "spool"), prefix=("prlimit", "--nofile=128:128"))
    held = []
    try:
        cap = metric(srv, "netpulse_max_connections")
        check(0 < cap < 128, "connection cap derived from the fd limit", cap)
        # A download paced at 1 MB/s (so it costs the server little CPU).
        first = {}
        th = threading.Thread(target=lambda: first.update(r=L.ndt7(srv.ws, read_rate=1000000)))
        th.start()
        check(wait_for(lambda: metric(srv, "netpulse_active_tests") == 1, 5),
              "the download runs")
        # 400 idle connections that never send a byte, held open.
        held = flood(srv.ws)
        time.sleep(1.0)
        pid = srv.proc.pid
        c0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(5.0)
        cores = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
        check(cores < 0.5, "server CPU while 400 idle connections are held < 0.5 core",
              round(cores, 3))
        check(srv.health() == 200, "/health answers during the flood")
        check(metric(srv, "netpulse_accept_pauses_total", reason="max_conns") >= 1,
              "the listeners paused at the cap")
        check(metric(srv, "netpulse_open_connections") <= cap + 8,
              "open connections stay within the cap",
              metric(srv, "netpulse_open_connections"))
        th.join(30)
        r = first["r"]
        check(r.close_code == 1000 and r.app_bytes > 0, "the download ended normally", r)
        check(wait_for(lambda: files_written(srv) == 1, 5), "its data file was written")
        check(metric(srv, "netpulse_data_files_total", result="failed") == 0,
              "no data file failed")
        check(metric(srv, "netpulse_early_closes_total", reason="header_timeout_pressure") > 0,
              "idle connections closed early under pressure",
              metric(srv, "netpulse_early_closes_total", reason="header_timeout_pressure"))
    finally:
        for s in held:
            s.close()
    # Once the flood is gone the next test is served and archived.
    check(wait_for(lambda: metric(srv, "netpulse_open_connections") <= 1, 15),
          "the flood's connections are gone", metric(srv, "netpulse_open_connections"))
    r = L.ndt7(srv.ws, read_rate=1000000)
    check(r.status == 101 and r.close_code == 1000, "the next test is served", r)
    check(wait_for(lambda: files_written(srv) == 2, 5), "and archived")
    check(metric(srv, "netpulse_tests_total", result="success") == 2, "both tests succeeded")
    check("Too many open files" not in srv.log_text(), "no descriptor error in the log")
    check(srv.stop() == 0, "the server drained and exited 0")


def t_emfile(binary, tmp):
    """--max-conns above what the fd limit allows: accept itself fails with
    EMFILE; the listeners pause and retry instead of spinning."""
    srv = L.Server(binary, os.path.join(tmp, "spool"), "--max-conns", "1000",
                   prefix=("prlimit", "--nofile=128:128"))
    held = flood(srv.ws)
    try:
        time.sleep(1.0)
        pid = srv.proc.pid
        c0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(4.0)
        cores = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
        check(cores < 0.5, "server CPU while accept fails with EMFILE < 0.5 core", round(cores, 3))
        check(metric(srv, "netpulse_accept_pauses_total", reason="fd_exhausted") >= 1,
              "accept pauses for fd exhaustion are counted",
              metric(srv, "netpulse_accept_pauses_total", reason="fd_exhausted"))
        fails = srv.log_text().count('msg="accept failed')
        check(1 <= fails <= 2, "the failure is logged, not once per retry", fails)
    finally:
        for s in held:
            s.close()
    check(wait_for(lambda: metric(srv, "netpulse_open_connections") <= 1, 15),
          "the flood's connections are gone")
    r = L.ndt7(srv.ws, read_rate=1000000)
    check(r.status == 101 and r.close_code == 1000, "the next test is served", r)
    check(wait_for(lambda: files_written(srv) == 1, 5), "and archived")
    check(srv.stop() == 0, "the server drained and exited 0")


# ---- close semantics ---------------------------------------------------------

def t_close(binary, tmp):
    srv = L.Server(binary, os.path.join(tmp, "spool"))
    try:
        s = socket.create_connection(("127.0.0.1", srv.ws), timeout=20)
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(("GET /ndt/v7/download HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n" %
                   (key, L.SUBPROTO)).encode())
        res = L.Result()
        c = L._Conn(s, res, None)
        while b"\r\n\r\n" not in c.buf:
            c._fill()
        head, _, rest = bytes(c.buf).partition(b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 101"), "upgraded")
        c.buf = bytearray(rest)
        closes = []
        while not closes:
            op, n = L._read_frame_head(c)
            if op == 9:
                c.send_frame(10, c.read_exact(n))
            elif op == 8:
                closes.append(struct.unpack("!H", c.read_exact(n)[:2])[0])
            else:
                c.skip(n)
        check(closes == [1000], "the server closed the finished test with 1000")
        # An invalid frame: unmasked, with RSV1 set, from a client.
        c.send(b"\xc1\x05hello")
        try:
            while True:
                op, n = L._read_frame_head(c)
                p = c.read_exact(n)
                if op == 8:
                    closes.append(struct.unpack("!H", p[:2])[0])
        except (OSError, EOFError):
            pass
        s.close()
        check(closes == [1000], "no second Close after the invalid frame", closes)
        check(wait_for(lambda: files_written(srv) == 1, 5), "the data file is written")
        rec = read_record(L.data_files(srv.datadir)[0])["Download"]
        check(len(rec["ServerMeasurements"]) > 0, "the record holds the measurements")
        check(metric(srv, "netpulse_tests_total", test="download", result="success") == 1 and
              metric(srv, "netpulse_tests_total", result="failure") == 0,
              "the test counts as a success in /metrics")
        log = srv.log_text()
        check('result=success' in log and 'result=failure' not in log,
              "and in the log")
        check(srv.stop() == 0, "the server drained and exited 0")
    finally:
        srv.stop()


# ---- a slow reader still gets the Close ------------------------------------

def t_slow(binary, tmp):
    """A download read at 200 kB/s (1.6 Mbit/s) reads the server's Close
    before the 15 s hard stop, instead of a reset: the server keeps only a
    fraction of a second of data unsent in the kernel."""
    srv = L.Server(binary, os.path.join(tmp, "spool"))
    try:
        r = L.ndt7(srv.ws, read_rate=200000)
        secs = r.end - r.start
        check(r.close_code == 1000 and r.error is None, "the slow client read the Close", r)
        check(secs < 15.0, "before the 15 s hard stop", round(secs, 2))
        check(wait_for(lambda: metric(srv, "netpulse_tests_total", result="success") == 1, 5),
              "the server counts a success")
        check(srv.stop() == 0, "the server drained and exited 0")
    finally:
        srv.stop()


SUBJECTS = {"fdlimit": t_fdlimit, "emfile": t_emfile, "close": t_close, "slow": t_slow}


def main():
    return L.run_subject(SUBJECTS, __doc__, "np-hostile-")


if __name__ == "__main__":
    sys.exit(main())
