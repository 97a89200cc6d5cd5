#!/usr/bin/env python3
"""Probe churn against one responsiveness measurement, as the draft's
client makes it: a new h2c connection for every foreign probe, 100 a
second (the draft's MPS), each one small GET with the measurement ID.
Half the connections close after their answer; the other half never do
(goresponsiveness opens a new HTTP/2 transport per probe and never closes
it), so the server must close them when idle. Cases:

  churn   1,500 connections over 15 s: every probe answered 200, none
          refused (record and metrics), every never-closed connection closed
          by the server within 3 s of its answer, exactly one record, which
          counts them all (rows + SummarizedConnections), fits both schemas,
          and stays small; prints the server's RSS.
  cap     --rpm-max-conns 20 and 30 connections held open at once: 10 get
          503 conn_cap, counted in ConnectionsRefused and in
          netpulse_rejections_total{reason="conn_cap"}; once they are closed
          new ones join again.

Usage: rpm_churn.py --server-bin PATH --case churn|cap"""

import argparse
import json
import os
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datafiles  # noqa: E402
import ops_lib  # noqa: E402
from rpm_hostile import PREFACE, frame, request_block  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JSON_SCHEMA = os.path.join(ROOT, "schemas", "responsiveness1.schema.json")
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL: " + what, file=sys.stderr, flush=True)
    return cond


def probe_bytes(path):
    return PREFACE + frame(4, 0, 0) + frame(1, 0x5, 1, request_block(path))


class Probe:
    def __init__(self, keep):
        self.keep = keep  # never close (the server must)
        self.sock = None
        self.buf = bytearray()
        self.out = b""
        self.status = None  # 200 or "other"
        self.answered = None  # when stream 1 ended
        self.closed = None  # when the server closed it
        self.done = False


def run_probes(port, path, n, rate, keep_every=2, hold=False, deadline_s=60):
    """Opens n connections at rate per second; returns the probes."""
    sel = selectors.DefaultSelector()
    probes = []
    req = probe_bytes(path)
    t0 = time.monotonic()
    deadline = t0 + deadline_s
    while time.monotonic() < deadline:
        now = time.monotonic()
        while len(probes) < n and now >= t0 + len(probes) / rate:
            p = Probe(hold or len(probes) % keep_every == 0)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            p.sock, p.out = s, req
            sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, p)
            probes.append(p)
        if len(probes) == n and all(p.done for p in probes):
            break
        for key, ev in sel.select(timeout=0.005):
            p = key.data
            if ev & selectors.EVENT_WRITE and p.out:
                try:
                    k = p.sock.send(p.out)
                    p.out = p.out[k:]
                except BlockingIOError:
                    pass
                except OSError:
                    p.out = b""
                if not p.out:
                    sel.modify(p.sock, selectors.EVENT_READ, p)
            if ev & selectors.EVENT_READ:
                try:
                    data = p.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    p.closed = time.monotonic()
                    p.done = True
                    sel.unregister(p.sock)
                    p.sock.close()
                    continue
                p.buf += data
                parse(p, sel)
    for p in probes:
        if not p.done:
            sel.unregister(p.sock)
            p.sock.close()
    return probes


def parse(p, sel):
    while len(p.buf) >= 9:
        n = int.from_bytes(p.buf[:3], "big")
        if len(p.buf) < 9 + n:
            return
        ftype, flags, stream = p.buf[3], p.buf[4], int.from_bytes(p.buf[5:9], "big") & 0x7FFFFFFF
        payload = bytes(p.buf[9:9 + n])
        del p.buf[:9 + n]
        if ftype == 4 and not flags & 1:  # SETTINGS: ack
            p.sock.send(frame(4, 1, 0))
        if stream == 1 and ftype == 1 and p.status is None:
            # nghttp2 sends ":status: 200" as static entry 8 (0x88).
            p.status = 200 if payload[:1] == b"\x88" else "other"
        if stream == 1 and ftype in (0, 1) and flags & 1 or stream == 1 and ftype == 3:
            p.answered = time.monotonic()
            if not p.keep:
                p.done = True
                sel.unregister(p.sock)
                p.sock.close()
                return


def metric(text, name, **labels):
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all('%s="%s"' % (k, v) in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def config(port):
    p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge",
                        "http://127.0.0.1:%d/.well-known/nq" % port],
                       capture_output=True, text=True, timeout=30)
    doc = json.loads(p.stdout)
    url = urllib.parse.urlparse(doc["urls"]["small_download_url"])
    return url.path + "?" + url.query


def wait_record(datadir, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = ops_lib.data_files(datadir, "responsiveness1")
        if files:
            time.sleep(0.5)
            return ops_lib.data_files(datadir, "responsiveness1")
        time.sleep(0.2)
    return []


def rss_kb(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


def validate(path):
    errs = datafiles.check_rpm_file(path)
    check(not errs, "record does not fit the BigQuery schema: %s" % errs[:5])
    import jsonschema
    with open(JSON_SCHEMA) as sf, open(path) as f:
        v = jsonschema.Draft202012Validator(json.load(sf))
        bad = [e.message for e in v.iter_errors(json.load(f))]
    check(not bad, "record does not fit the JSON Schema: %s" % bad[:3])


def case_churn(a):
    with tempfile.TemporaryDirectory() as tmp:
        datadir = os.path.join(tmp, "spool")
        srv = ops_lib.Server(a.server_bin, datadir)
        try:
            before = rss_kb(srv.proc.pid)
            path = config(srv.ws)
            t0 = time.monotonic()
            probes = run_probes(srv.ws, path, a.conns, a.rate, deadline_s=a.conns / a.rate + 20)
            took = time.monotonic() - t0
            ok = sum(1 for p in probes if p.status == 200)
            other = sum(1 for p in probes if p.status not in (200, None))
            silent = sum(1 for p in probes if p.status is None)
            kept = [p for p in probes if p.keep and p.answered]
            late = [p for p in kept if not p.closed or p.closed - p.answered > 3.0]
            lag = sorted((p.closed or 1e9) - p.answered for p in kept)
            after = rss_kb(srv.proc.pid)
            print("churn: %d connections in %.1f s: %d answered 200, %d other, %d no answer; "
                  "%d never closed by the client, closed by the server after %.2f s median, "
                  "%.2f s max" % (len(probes), took, ok, other, silent, len(kept),
                                  lag[len(lag) // 2] if lag else -1, lag[-1] if lag else -1),
                  flush=True)
            check(ok == a.conns, "churn: %d of %d probes answered 200" % (ok, a.conns))
            check(not late, "churn: %d idle probe connections not closed within 3 s" % len(late))
            files = wait_record(datadir)
            check(len(files) == 1, "churn: want one record, got %d" % len(files))
            m = srv.metrics_text()
            refused = metric(m, "netpulse_rejections_total", reason="conn_cap")
            check(refused == 0, "churn: conn_cap rejections %r" % refused)
            print("server RSS: start %d kB, after churn %d kB, peak %d kB" %
                  (before["VmRSS"], after["VmRSS"], after["VmHWM"]), flush=True)
            if files:
                validate(files[0])
                size = os.path.getsize(files[0])
                with open(files[0]) as f:
                    rec = json.load(f)
                rows = len(rec["Connections"])
                summed = rec["SummarizedConnections"]["Count"]
                print("record: %d bytes, %d rows, %d summarised, %d joined, peak open %d, "
                      "%d refused, %d requests" %
                      (size, rows, summed, rec["ConnectionsJoined"], rec["ConnectionsPeakOpen"],
                       rec["ConnectionsRefused"], len(rec["Requests"])), flush=True)
                check(rec["ConnectionsRefused"] == 0, "churn: record counts refusals")
                check(rows + summed == rec["ConnectionsJoined"] == a.conns + 1,
                      "churn: rows %d + summarised %d, joined %d, want %d" %
                      (rows, summed, rec["ConnectionsJoined"], a.conns + 1))
                check(rec["SummarizedConnections"]["RequestCounts"]["small"] == summed,
                      "churn: summarised small requests")
                check(size < 1 << 20, "churn: record is %d bytes" % size)
                idle = sum(1 for c in rec["Connections"] if c["EndReason"] == "idle")
                check(idle > 0, "churn: no row ended idle")
        finally:
            srv.stop()


def case_cap(a):
    with tempfile.TemporaryDirectory() as tmp:
        datadir = os.path.join(tmp, "spool")
        srv = ops_lib.Server(a.server_bin, datadir, "--rpm-max-conns", "20")
        try:
            path = config(srv.ws)
            # The config connection (curl) has closed: 30 probes all held
            # open at once (the server answers and then closes idle ones
            # after 1 s, so they are opened within 0.3 s). The refused ones
            # would wait for the join timeout: 3 s, then the next ones come
            # before the measurement's idle grace (5 s) ends it.
            probes = run_probes(srv.ws, path, 30, 100, hold=True, deadline_s=3)
            ok = sum(1 for p in probes if p.status == 200)
            print("cap: %d of 30 answered 200" % ok, flush=True)
            check(ok == 20, "cap: %d answered 200, want 20" % ok)
            later = run_probes(srv.ws, path, 5, 100, keep_every=1000, deadline_s=10)
            check(all(p.status == 200 for p in later), "cap: no room after the idle ones closed")
            m = srv.metrics_text()
            refused = metric(m, "netpulse_rejections_total", reason="conn_cap")
            check(refused == 10, "cap: conn_cap rejections %r, want 10" % refused)
            files = wait_record(datadir)
            check(len(files) == 1, "cap: want one record, got %d" % len(files))
            if files:
                validate(files[0])
                with open(files[0]) as f:
                    rec = json.load(f)
                check(rec["ConnectionsRefused"] == 10,
                      "cap: ConnectionsRefused %r" % rec["ConnectionsRefused"])
                check(rec["ConnectionsPeakOpen"] == 20,
                      "cap: ConnectionsPeakOpen %r" % rec["ConnectionsPeakOpen"])
        finally:
            srv.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--case", choices=["churn", "cap"], required=True)
    ap.add_argument("--conns", type=int, default=1500)
    ap.add_argument("--rate", type=float, default=100.0)
    a = ap.parse_args()
    {"churn": case_churn, "cap": case_cap}[a.case](a)
    if FAILS:
        print("%d failure(s)" % len(FAILS), file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
