#!/usr/bin/env python3
"""End-to-end ndt7 over loopback: the netpulse client against netpulse-server,
ws and wss, download and upload; then every data file is checked field by
field against ndt-server's shape, and every UUID against the kernel's socket
cookie as `ss` reports it while the test runs.

Usage: ndt7_e2e.py --server-bin PATH --client-bin PATH [--node PATH --peers DIR]
Exit 0 = pass. Needs Python 3, iproute2's ss; node + the ws package for the
access-token check (optional peer, required when --node is given).
"""

import argparse
import glob
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops_lib import CookieWatcher, Server  # noqa: E402  (shared with the RPM tests)
import datafiles  # noqa: E402

UUID_PREFIX = "netpulse-e2e_1700000000"
UUID_RE = re.compile(r"^" + re.escape(UUID_PREFIX) + r"_([0-9A-F]{16})$")
NAME_RE = re.compile(
    r"^ndt7-(download|upload)-(\d{8}T\d{6}\.\d{9}Z)\.(" + re.escape(UUID_PREFIX) +
    r"_[0-9A-F]{16})\.json\.gz$")
TOP_KEYS = ["GitShortCommit", "Version", "ServerIP", "ServerPort", "ClientIP",
            "ClientPort", "StartTime", "EndTime"]
RESULT_KEYS = ["UUID", "StartTime", "EndTime", "ServerMeasurements",
               "ClientMeasurements", "ClientMetadata", "ServerMetadata"]
TCPINFO_MIN = ["BytesAcked", "BytesReceived", "BytesSent", "BytesRetrans", "MinRTT",
               "RTT", "RTTVar", "BusyTime", "RWndLimited", "SndBufLimited",
               "ElapsedTime"]
BBR_KEYS = ["BW", "MinRTT", "PacingGain", "CwndGain", "ElapsedTime"]
SECRET = "SECRETTOKEN0123456789"

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr, flush=True)
    return cond


def run_client(client_bin, port, scheme):
    argv = [client_bin, "--server", "127.0.0.1:%d" % port, "--scheme", scheme,
            "--accept-data-policy", "--format", "json", "--client-name", "e2e-test",
            "--no-rpm"]  # ndt7 alone here; RPM after ndt7: integration.rpm_client_all
    if scheme == "wss":
        argv.append("--no-verify")
    p = subprocess.run(argv, capture_output=True, text=True, timeout=90)
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    check(p.returncode == 0, "%s client exit status %d, stderr: %s" %
          (scheme, p.returncode, p.stderr[-2000:]))
    objs = []
    for l in lines:
        try:
            objs.append(json.loads(l))
        except ValueError:
            check(False, "%s client printed a non-JSON line on stdout: %r" % (scheme, l))
    check(len(objs) > 0, "%s client printed no JSON" % scheme)
    return objs[-1] if objs else {}


def check_summary(s, scheme):
    for k in ["ServerFQDN", "ServerIP", "ClientIP", "Download", "Upload"]:
        check(k in s, "%s summary lacks %s: %s" % (scheme, k, s))
    for test in ["Download", "Upload"]:
        t = s.get(test) or {}
        check(UUID_RE.match(t.get("UUID", "")) is not None,
              "%s %s UUID %r not in M-Lab form" % (scheme, test, t.get("UUID")))
        tp = t.get("Throughput") or {}
        check(tp.get("Unit") == "Mbit/s" and isinstance(tp.get("Value"), (int, float))
              and tp["Value"] > 0, "%s %s throughput %r" % (scheme, test, tp))
        for k, unit in [("Latency", "ms"), ("Retransmission", "%")]:
            v = t.get(k) or {}
            check(v.get("Unit") == unit and isinstance(v.get("Value"), (int, float)),
                  "%s %s %s %r" % (scheme, test, k, v))


def check_measurement(m, uuid, where):
    check(set(["AppInfo", "ConnectionInfo", "BBRInfo"]) <= set(m), where + " keys %s" % list(m))
    ci = m.get("ConnectionInfo", {})
    check(ci.get("UUID") == uuid, where + " ConnectionInfo.UUID %r" % ci.get("UUID"))
    check(re.match(r"^127\.0\.0\.1:\d+$", ci.get("Client", "")) is not None,
          where + " ConnectionInfo.Client %r" % ci.get("Client"))
    for k in BBR_KEYS:
        check(isinstance(m.get("BBRInfo", {}).get(k), int), where + " BBRInfo.%s" % k)
    tcp = m.get("TCPInfo", {})
    for k in TCPINFO_MIN:
        check(isinstance(tcp.get(k), int), where + " TCPInfo.%s" % k)
    app = m.get("AppInfo", {})
    check(isinstance(app.get("NumBytes"), int) and isinstance(app.get("ElapsedTime"), int),
          where + " AppInfo %r" % app)


def check_file(path, cookies):
    name = os.path.basename(path)
    m = NAME_RE.match(name)
    if not check(m is not None, "file name %s" % name):
        return None
    direction, _, uuid = m.groups()
    with open(path, "rb") as f:
        raw = gzip.decompress(f.read())
    doc = json.loads(raw)
    check(isinstance(doc, dict), name + " is not one JSON object")
    for k in TOP_KEYS:
        check(k in doc, name + " lacks " + k)
    check(doc.get("ClientIP") == "127.0.0.1", name + " ClientIP %r" % doc.get("ClientIP"))
    check(isinstance(doc.get("ClientPort"), int) and doc["ClientPort"] > 0, name + " ClientPort")
    key = "Download" if direction == "download" else "Upload"
    other = "Upload" if key == "Download" else "Download"
    check(other not in doc, name + " has both Download and Upload")
    r = doc.get(key, {})
    for k in RESULT_KEYS:
        check(k in r, "%s %s lacks %s" % (name, key, k))
    check(r.get("UUID") == uuid, name + " UUID in file %r != name" % r.get("UUID"))
    cookie = int(UUID_RE.match(uuid).group(1), 16)
    check(cookie in cookies, name + " UUID cookie %X not among the server's sockets %s" %
          (cookie, sorted("%X" % c for c in cookies)))
    sms = r.get("ServerMeasurements", [])
    check(len(sms) >= 10, name + " has only %d server measurements" % len(sms))
    for i, sm in enumerate(sms):
        check_measurement(sm, uuid, "%s ServerMeasurements[%d]" % (name, i))
    last = sms[-1] if sms else {}
    if key == "Download":
        check(last.get("TCPInfo", {}).get("BytesAcked", 0) > 0, name + " BytesAcked 0")
    else:
        check(last.get("TCPInfo", {}).get("BytesReceived", 0) > 0, name + " BytesReceived 0")
    check(last.get("AppInfo", {}).get("ElapsedTime", 0) >= 9_000_000,
          name + " last measurement before 9 s")
    meta = {d.get("Name"): d.get("Value") for d in r.get("ClientMetadata", [])}
    check(isinstance(r.get("ClientMeasurements"), list), name + " ClientMeasurements")
    check({"Name": "site", "Value": "e2e"} in r.get("ServerMetadata", []),
          name + " ServerMetadata %r" % r.get("ServerMetadata"))
    check(SECRET.encode() not in raw and b"access_token" not in raw,
          name + " contains the access token")
    return key, uuid, meta, doc


def check_server_summary(doc, test, client, scheme):
    """netpulse's ServerSummary beside ndt-server's shape (docs/data.md):
    the test's direction, the RTT from its own TCP_INFO (tcpi_rtt sending,
    tcpi_rcv_rtt receiving) with a non-zero minimum on loopback, and a
    goodput of the client's order."""
    ss = doc.get("ServerSummary") or {}
    where = "%s %s ServerSummary %r" % (scheme, test, ss)
    print("%s %s: ServerSummary %s" % (scheme, test, json.dumps(ss, sort_keys=True)), flush=True)
    check(ss.get("SchemaVersion") == 1 and ss.get("Direction") == test.lower(), where)
    check(ss.get("RTTSource") == ("tcpi_rtt" if test == "Download" else "tcpi_rcv_rtt"), where)
    n = len(doc.get(test, {}).get("ServerMeasurements", []))
    check(n // 2 <= ss.get("RTTSamples", 0) <= n, where + ": of %d measurements" % n)
    check(0 < ss.get("MinRTTMs", 0) < 50, where + ": MinRTTMs")
    check(0 < ss.get("LoadedRTTMedianMs", 0) <= ss.get("LoadedRTTP90Ms", 0), where)
    check(ss.get("Retransmits", -1) >= 0 and "RetransPct" in ss, where)
    mbit = (client.get("Throughput") or {}).get("Value", 0)
    check(mbit / 2 <= ss.get("GoodputMbps", 0) <= mbit * 2,
          where + ": the client measured %r Mbit/s" % mbit)


def node_download(node, peers, port):
    """A raw ndt7 download with an access token and junk query keys."""
    script = r"""
const WebSocket = require(process.argv[1] + '/node_modules/ws');
const url = process.argv[2];
const ws = new WebSocket(url, 'net.measurementlab.ndt.v7');
let n = 0;
ws.on('message', (d, bin) => { n += d.length; });
ws.on('close', (code) => { console.log(JSON.stringify({code, n})); });
ws.on('error', (e) => { console.log(JSON.stringify({error: e.message})); });
"""
    url = ("ws://127.0.0.1:%d/ndt/v7/download?client_name=tokentest&access_token=%s"
           "&email=someone%%40example.org&client_os=linux" % (port, SECRET))
    p = subprocess.run([node, "-e", script, peers, url], capture_output=True, text=True,
                       timeout=60)
    lines = p.stdout.strip().splitlines()
    if not check(len(lines) > 0, "node download printed nothing; stderr: %s" % p.stderr[-2000:]):
        return
    out = json.loads(lines[-1])
    check(out.get("code") == 1000 and out.get("n", 0) > 0, "node download %r" % out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--client-bin", required=True)
    ap.add_argument("--node")
    ap.add_argument("--peers")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="np-e2e-")
    datadir = os.path.join(tmp, "spool")
    prefix_file = os.path.join(tmp, "prefix")
    with open(prefix_file, "w") as f:
        f.write(UUID_PREFIX)
    os.makedirs(datadir)
    srv = Server(a.server_bin, datadir, "--uuid-prefix-file", prefix_file, "--label", "site=e2e",
                 tls=True)
    watcher = CookieWatcher([srv.ports["ndt7+ws"], srv.ports["ndt7+wss"]])
    watcher.start()
    try:
        summaries = {}
        for scheme in ["ws", "wss"]:
            port = srv.ports["ndt7+ws" if scheme == "ws" else "ndt7+wss"]
            summaries[scheme] = run_client(a.client_bin, port, scheme)
            check_summary(summaries[scheme], scheme)
        if a.node:
            node_download(a.node, a.peers, srv.ports["ndt7+ws"])
        time.sleep(1.0)  # the last file is written off the loop
    finally:
        watcher.stopping.set()
        watcher.join()
        rc = srv.stop()
    check(rc == 0, "server exit status %s" % rc)
    files = sorted(glob.glob(os.path.join(datadir, "ndt7", "*", "*", "*", "*")))
    want = 5 if a.node else 4
    check(len(files) == want, "expected %d data files, found %d: %s" % (want, len(files), files))
    by_uuid = {}
    for path in files:
        res = check_file(path, watcher.cookies)
        if res:
            by_uuid[res[1]] = res
    for scheme, s in summaries.items():
        for test in ["Download", "Upload"]:
            u = (s.get(test) or {}).get("UUID")
            check(u in by_uuid and by_uuid[u][0] == test,
                  "%s %s summary UUID %r has no %s data file" % (scheme, test, u, test))
            if u in by_uuid:
                check_server_summary(by_uuid[u][3], test, s.get(test) or {}, scheme)
                meta = by_uuid[u][2]
                check(meta.get("client_name") == "e2e-test",
                      "%s %s ClientMetadata %r" % (scheme, test, meta))
    if a.node:
        tok = [r for r in by_uuid.values() if r[2].get("client_name") == "tokentest"]
        check(len(tok) == 1, "node download data file not found")
        if tok:
            check(tok[0][2] == {"client_name": "tokentest", "client_os": "linux"},
                  "only allow-listed metadata kept: %r" % tok[0][2])
    _, schema_errs = datafiles.check_tree(datadir)
    check(not schema_errs, "data files fit schemas/ndt7.json: %s" % schema_errs[:5])
    if failures:
        print("server log:\n" + srv.log_text()[-4000:], file=sys.stderr)
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("ndt7_e2e: %d files checked, all fields and UUIDs as expected" % len(files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
