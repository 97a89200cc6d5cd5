#!/usr/bin/env python3
"""The responsiveness server against real HTTP/2 peers from Debian (curl,
nghttp, h2load), over h2 (TLS) and h2c, on the same front door as ndt7:
config with both key sets, small, large, upload, result, 403 for bad IDs;
exactly one responsiveness1 record per measurement, whose connections are
the sockets `ss -e` saw and which fits schemas/responsiveness1.json;
admission refusals with Retry-After counted once; SIGKILL leaves no
partial file.

Usage: rpm_server.py --server-bin PATH [--case NAME]"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datafiles  # noqa: E402
import ops_lib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = os.path.join(ROOT, "schemas", "responsiveness1.json")
JSON_SCHEMA = os.path.join(ROOT, "schemas", "responsiveness1.schema.json")
GRACE = 5  # the service's idle grace after a measurement's last connection
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL: " + what, file=sys.stderr, flush=True)
    return cond


def run(argv, timeout=60):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def record_files(datadir):
    return ops_lib.data_files(datadir, "responsiveness1")


def load_record(path):
    with open(path, "rb") as f:
        raw = f.read()
    check(raw.endswith(b"\n") and raw.count(b"\n") == 1, path + ": not exactly one line")
    return json.loads(raw)


class Peer:
    """curl and nghttp arguments for one scheme."""

    def __init__(self, srv, tls):
        self.tls = tls
        port = srv.wss if tls else srv.ws
        self.base = "%s://127.0.0.1:%d" % ("https" if tls else "http", port)
        self.curl = ["curl", "-sS", "--http2", "-k"] if tls else [
            "curl", "-sS", "--http2-prior-knowledge"]

    def get(self, url, *extra, timeout=30):
        p = run(self.curl + list(extra) + ["-o", "/dev/null", "-D", "-", "-w",
                                           "\n%{http_code} %{size_download} %{size_upload} "
                                           "%{http_version}\n", url], timeout=timeout)
        lines = p.stdout.strip().splitlines()
        code, down, up, ver = (lines[-1].split() + ["0"] * 4)[:4] if lines else ("0",) * 4
        headers = {}
        for l in lines[:-1]:
            if ":" in l:
                k, v = l.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        return int(code), int(down), int(up), ver, headers, p


def config(peer):
    p = run(peer.curl + [peer.base + "/.well-known/nq"])
    check(p.returncode == 0, "config fetch: %s" % p.stderr)
    doc = json.loads(p.stdout)
    return doc


def mid_of(doc):
    url = doc["urls"]["small_download_url"]
    return urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["mid"][0]


def interop(server_bin, tls):
    name = "h2" if tls else "h2c"
    with tempfile.TemporaryDirectory() as tmp:
        datadir = os.path.join(tmp, "spool")
        srv = ops_lib.Server(server_bin, datadir, tls=tls)
        port = srv.wss if tls else srv.ws
        watcher = ops_lib.CookieWatcher([port], interval=0.05)
        watcher.start()
        try:
            peer = Peer(srv, tls)
            doc = config(peer)
            check(doc.get("version") == 1, name + ": config version")
            keys = ["small_download_url", "large_download_url", "upload_url",
                    "small_https_download_url", "large_https_download_url", "https_upload_url"]
            mid = mid_of(doc)
            for k in keys:
                u = doc["urls"].get(k, "")
                check(u.startswith(peer.base + "/rpm/v1/") and u.endswith("?mid=" + mid),
                      "%s: config %s = %r" % (name, k, u))
            check(doc.get("test_endpoint") == "127.0.0.1", name + ": test_endpoint")
            urls = doc["urls"]
            # small: one byte, the draft's headers, over HTTP/2
            code, down, _, ver, hdr, _ = peer.get(urls["small_download_url"])
            check(code == 200 and down == 1 and ver == "2", "%s: small %d %d v%s" %
                  (name, code, down, ver))
            check(hdr.get("content-type") == "application/octet-stream", name + ": small type")
            check(hdr.get("cache-control") == "no-store", name + ": small cache-control")
            check("content-encoding" not in hdr, name + ": small has no content-encoding")
            # upload: 20 MB counted and discarded
            with tempfile.NamedTemporaryFile() as body:
                body.write(b"\0" * (20 << 20))
                body.flush()
                code, _, up, _, _, _ = peer.get(urls["upload_url"], "--data-binary",
                                                "@" + body.name)
                check(code == 200 and up == 20 << 20, "%s: upload %d %d" % (name, code, up))
                # nghttp posts it too
                p = run(["nghttp", "-nv", "-d", body.name, urls["upload_url"]])
                check(p.returncode == 0 and ":status: 200" in p.stdout,
                      name + ": nghttp upload: " + p.stderr[-300:])
            # large: streamed until the client stops (a 1 s curl)
            code, down, _, _, hdr, p = peer.get(urls["large_download_url"], "-m", "1")
            check(code == 200 and down > (1 << 20), "%s: large %d %d" % (name, code, down))
            check(int(hdr.get("content-length", "0")) >= 8 * 10 ** 9, name + ": large declares >= 8 GB")
            # nghttp: small, and large for a second
            p = run(["nghttp", "-nv", urls["small_download_url"]])
            check(p.returncode == 0 and ":status: 200" in p.stdout, name + ": nghttp small")
            p = subprocess.Popen(["nghttp", "-n", urls["large_download_url"]],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
            p.terminate()
            p.wait()
            # h2load: 16 streams of small on 4 connections
            p = run(["h2load", "-n", "16", "-c", "4", "-m", "4", urls["small_download_url"]])
            check(re.search(r"requests: 16 total, 16 started, 16 done, 16 succeeded", p.stdout)
                  is not None, name + ": h2load: " + p.stdout[-600:])
            # bad and missing IDs
            bad = mid[:-2] + ("AA" if not mid.endswith("AA") else "BA")
            for u, why in ((peer.base + "/rpm/v1/small?mid=" + bad, "forged"),
                           (peer.base + "/rpm/v1/large", "missing"),
                           (peer.base + "/rpm/v1/upload?mid=x", "malformed")):
                code, *_ = peer.get(u, "-X", "POST" if "upload" in u else "GET")
                check(code == 403, "%s: %s ID gave %d, want 403" % (name, why, code))
            code, *_ = peer.get(peer.base + "/rpm/v1/nothing?mid=" + mid)
            check(code == 404, "%s: unknown path gave %d" % (name, code))
            # the client's summary, with members the server must drop
            p = run(peer.curl + ["-d", json.dumps({"SchemaVersion": 1, "RPM": 812.5,
                                                   "Confidence": "High",
                                                   "Name": "Jane Doe jane@example.com"}),
                                 urls["result_url"]])
            check('"dropped":1' in p.stdout, name + ": result answer " + p.stdout)
            # the record: written once the last connection has been gone GRACE s
            deadline = time.monotonic() + GRACE + 10
            while time.monotonic() < deadline and not record_files(datadir):
                time.sleep(0.2)
            time.sleep(1)
            files = record_files(datadir)
            mine = []
            for f in files:
                r = load_record(f)
                if r.get("ClientSummary"):
                    mine.append((f, r))
            check(len(mine) == 1, "%s: %d records with a summary, want 1: %s" %
                  (name, len(mine), files))
            if mine:
                f, r = mine[0]
                check(os.path.basename(f).startswith("responsiveness1-") and
                      r["MeasurementID"] in os.path.basename(f), name + ": file name " + f)
                check(r["Protocol"] == name, name + ": protocol " + r["Protocol"])
                check(r["ClientIP"] == "127.0.0.1", name + ": ClientIP")
                check(r["ClientSummary"] == {"SchemaVersion": 1, "RPM": 812.5,
                                             "Confidence": "High"},
                      name + ": summary kept %r" % r["ClientSummary"])
                roles = {c["Role"] for c in r["Connections"]}
                for want in ("load-download", "load-upload", "probe", "control"):
                    check(want in roles, "%s: no %s connection in %s" % (name, want, roles))
                check(len(r["Connections"]) >= 10, name + ": %d connections" %
                      len(r["Connections"]))
                uuids = [c["UUID"] for c in r["Connections"]]
                check(len(set(uuids)) == len(uuids), name + ": UUIDs repeat")
                for c in r["Connections"]:
                    check(c["ALPN"] == name, name + ": ALPN " + c["ALPN"])
                    cookie = int(c["UUID"].rsplit("_", 1)[1], 16)
                    # ss samples every 50 ms: connections that lived longer
                    # than a few samples must have been seen.
                    if c.get("EndTime", 0) - c["AcceptTime"] > 300000:
                        check(cookie in watcher.cookies, "%s: UUID %s not among ss cookies" %
                              (name, c["UUID"]))
                    if tls:
                        check(c.get("TLSVersion", "").startswith("TLSv1."), name + ": TLS version")
                check(sum(c["RequestCounts"]["small"] for c in r["Connections"]) >= 18,
                      name + ": small requests counted")
                statuses = [q["Status"] for q in r["Requests"]]
                check(statuses.count(200) >= 20, name + ": statuses %s" % statuses)
                large = [c for c in r["Connections"] if c["Role"] == "load-download"]
                check(any(len(c["TCPInfoSamples"]) >= 2 for c in large),
                      name + ": TCP_INFO samples on the load connection")
                errors = datafiles.validate(r, datafiles.load_schema(SCHEMA))
                check(not errors, name + ": schema: " + "; ".join(errors[:5]))
                # ... and the JSON Schema (Debian's python3-jsonschema)
                import jsonschema
                with open(JSON_SCHEMA) as sf:
                    v = jsonschema.Draft202012Validator(json.load(sf))
                errs = [e.message for e in v.iter_errors(r)]
                check(not errs, name + ": JSON Schema: " + "; ".join(errs[:5]))
            m = srv.metrics_text()
            proto = "rpm+" + name
            if "--verbose" in sys.argv:
                print("\n".join(l for l in m.splitlines() if "rpm" in l))
            check(re.search(r'netpulse_tests_total\{protocol="%s",test="responsiveness",'
                            r'result="success",stage="none"\} 1\b' % re.escape(proto), m)
                  is not None, name + ": tests_total")
            check(re.search(r'netpulse_rejections_total\{protocol="%s",reason="mid_forged"\} 1\b'
                            % re.escape(proto), m) is not None, name + ": forged counted once")
            # every file the run left, against the shipped schemas
            n, errs = datafiles.check_tree(datadir)
            check(n >= 1 and not errs, name + ": datafiles: %s" % errs[:3])
        finally:
            watcher.stopping.set()
            srv.stop()


def admission(server_bin):
    with tempfile.TemporaryDirectory() as tmp:
        datadir = os.path.join(tmp, "spool")
        srv = ops_lib.Server(server_bin, datadir, "--max-concurrent-tests", "1")
        try:
            peer = Peer(srv, False)
            first = config(peer)  # holds the only slot while it lives
            code, _, _, _, hdr, p = peer.get(peer.base + "/.well-known/nq")
            check(code == 503, "admission: second config gave %d" % code)
            check(hdr.get("retry-after", "").isdigit(), "admission: Retry-After %r" %
                  hdr.get("retry-after"))
            m = srv.metrics_text()
            check(re.search(r'netpulse_rejections_total\{protocol="rpm\+h2c",reason="at_capacity"\} 1\b',
                            m) is not None, "admission: rejection counted once:\n" +
                  "\n".join(l for l in m.splitlines() if "rejections" in l))
            check(mid_of(first), "admission: first config has an ID")
        finally:
            srv.stop()
        check(not datafiles.check_tree(datadir)[1], "admission: data files fit the schemas")


def sigkill(server_bin):
    with tempfile.TemporaryDirectory() as tmp:
        datadir = os.path.join(tmp, "spool")
        srv = ops_lib.Server(server_bin, datadir)
        peer = Peer(srv, False)
        doc = config(peer)
        load = subprocess.Popen(peer.curl + ["-o", "/dev/null", "-m", "5",
                                             doc["urls"]["large_download_url"]],
                                stderr=subprocess.DEVNULL)
        time.sleep(1)
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        load.wait()
        leftovers = []
        for root, _, files in os.walk(datadir):
            leftovers += [f for f in files if "responsiveness1" in root]
        check(not leftovers, "sigkill: files left in the spool: %s" % leftovers)
        srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--case", choices=["h2", "h2c", "admission", "sigkill"], action="append")
    a = ap.parse_args()
    cases = a.case or ["h2", "h2c", "admission", "sigkill"]
    for c in cases:
        print("== " + c, flush=True)
        if c in ("h2", "h2c"):
            interop(a.server_bin, c == "h2")
        elif c == "admission":
            admission(a.server_bin)
        else:
            sigkill(a.server_bin)
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
