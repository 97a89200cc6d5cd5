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
    """curl arguments for one scheme and HTTP version (h1: HTTP/1.1)."""

    def __init__(self, srv, tls, h1=False):
        self.tls = tls
        port = srv.wss if tls else srv.ws
        self.base = "%s://127.0.0.1:%d" % ("https" if tls else "http", port)
        if h1:
            self.curl = ["curl", "-sS", "--http1.1"] + (["-k"] if tls else [])
        else:
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


def interop(server_bin, tls, h1=False):
    name = ("h1" if h1 else "h2") + ("" if tls else "c")
    with tempfile.TemporaryDirectory() as tmp:
        datadir = os.path.join(tmp, "spool")
        srv = ops_lib.Server(server_bin, datadir, "--label", "site=lab1", "--label",
                             "machine=mlab2", tls=tls)
        port = srv.wss if tls else srv.ws
        watcher = ops_lib.CookieWatcher([port], interval=0.05)
        watcher.start()
        try:
            peer = Peer(srv, tls, h1)
            doc = config(peer)
            check(doc.get("version") == 1, name + ": config version")
            keys = ["small_download_url", "large_download_url", "upload_url"]
            # the names that promise https only where there is https
            https_keys = ["small_https_download_url", "large_https_download_url",
                          "https_upload_url"]
            mid = mid_of(doc)
            for k in keys + (https_keys if tls else []):
                u = doc["urls"].get(k, "")
                check(u.startswith(peer.base + "/rpm/v1/") and u.endswith("?mid=" + mid),
                      "%s: config %s = %r" % (name, k, u))
            if not tls:
                check(not any(k in doc["urls"] for k in https_keys),
                      "%s: cleartext config names https keys: %s" % (name, list(doc["urls"])))
            check(doc.get("test_endpoint") == "127.0.0.1", name + ": test_endpoint")
            urls = doc["urls"]
            # small: one byte, the draft's headers, over HTTP/2
            code, down, _, ver, hdr, _ = peer.get(urls["small_download_url"])
            check(code == 200 and down == 1 and ver == ("1.1" if h1 else "2"),
                  "%s: small %d %d v%s" % (name, code, down, ver))
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
                if h1:
                    # chunked as well, and a keep-alive connection that
                    # carries two uploads
                    code, _, up, _, _, _ = peer.get(urls["upload_url"], "-H",
                                                    "Transfer-Encoding: chunked",
                                                    "--data-binary", "@" + body.name)
                    check(code == 200 and up >= 20 << 20, "%s: chunked upload %d %d" %
                          (name, code, up))
                    p = run(peer.curl + ["-v", "--data-binary", "@" + body.name,
                                         "-o", "/dev/null", urls["upload_url"],
                                         "--data-binary", "@" + body.name,
                                         "-o", "/dev/null", urls["upload_url"]])
                    check(p.stderr.count("Re-using existing connection") == 1 and
                          p.stderr.count("HTTP/1.1 200") == 2,
                          name + ": two uploads on one connection: " + p.stderr[-500:])
                else:
                    # nghttp posts it too
                    p = run(["nghttp", "-nv", "-d", body.name, urls["upload_url"]])
                    check(p.returncode == 0 and ":status: 200" in p.stdout,
                          name + ": nghttp upload: " + p.stderr[-300:])
            # large: streamed until the client stops (a 1 s curl)
            code, down, _, _, hdr, p = peer.get(urls["large_download_url"], "-m", "1")
            check(code == 200 and down > (1 << 20), "%s: large %d %d" % (name, code, down))
            check(int(hdr.get("content-length", "0")) >= 8 * 10 ** 9, name + ": large declares >= 8 GB")
            if h1:
                # 16 probes on one keep-alive connection, then on 4 more
                p = run(peer.curl + ["-v"] + sum((["-o", "/dev/null", urls["small_download_url"]]
                                                  for _ in range(16)), []))
                check(p.stderr.count("Re-using existing connection") == 15,
                      name + ": 16 probes on one connection: " + p.stderr[-500:])
                for _ in range(4):
                    code, *_ = peer.get(urls["small_download_url"])
                    check(code == 200, name + ": probe %d" % code)
            else:
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
            # a wrong method names the right ones (RFC 9110 15.5.6)
            code, _, _, _, hdr, _ = peer.get(urls["small_download_url"], "-X", "POST")
            check(code == 405 and hdr.get("allow") == "GET, HEAD, OPTIONS",
                  "%s: POST small gave %d, Allow %r" % (name, code, hdr.get("allow")))
            code, _, _, _, hdr, _ = peer.get(peer.base + "/rpm/v1/upload?mid=" + mid)
            check(code == 405 and hdr.get("allow") == "POST, OPTIONS",
                  "%s: GET upload gave %d, Allow %r" % (name, code, hdr.get("allow")))
            # ... and so does the front door's (an ndt7 path over HTTP/1.1)
            h1peer = Peer(srv, tls, True)
            code, _, _, _, hdr, _ = h1peer.get(peer.base + "/ndt/v7/download", "-X", "POST")
            check(code == 405 and hdr.get("allow") == "GET",
                  "%s: POST ndt7 gave %d, Allow %r" % (name, code, hdr.get("allow")))
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
                check(r.get("ServerMetadata") == [{"Name": "site", "Value": "lab1"},
                                                  {"Name": "machine", "Value": "mlab2"}],
                      name + ": ServerMetadata %r" % r.get("ServerMetadata"))
                check(r["ClientSummary"] == {"SchemaVersion": 1, "RPM": 812.5,
                                             "Confidence": "High"},
                      name + ": summary kept %r" % r["ClientSummary"])
                roles = {c["Role"] for c in r["Connections"]}
                for want in ("load-download", "load-upload", "probe", "control"):
                    check(want in roles, "%s: no %s connection in %s" % (name, want, roles))
                check(len(r["Connections"]) >= (9 if h1 else 10), name + ": %d connections" %
                      len(r["Connections"]))
                uuids = [c["UUID"] for c in r["Connections"]]
                check(len(set(uuids)) == len(uuids), name + ": UUIDs repeat")
                alpn = {"h1": "http/1.1", "h1c": ""}.get(name, name)
                for c in r["Connections"]:
                    check(c["ALPN"] == alpn, name + ": ALPN " + c["ALPN"])
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


def h1_browser(server_bin):
    """What a browser's connection pool does to a measurement over HTTP/1.1:
    idle keep-alive connections are closed about 5 s after their last
    answer, and all of them right after the client's result, so the record
    comes a grace period later instead of at the runtime cap."""
    import http.client
    with tempfile.TemporaryDirectory() as tmp:
        datadir = os.path.join(tmp, "spool")
        srv = ops_lib.Server(server_bin, datadir)

        def conn():
            return http.client.HTTPConnection("127.0.0.1", srv.ws, timeout=10)

        def fetch(c, method, url, body=None):
            u = urllib.parse.urlparse(url)
            c.request(method, u.path + ("?" + u.query if u.query else ""), body=body)
            r = c.getresponse()
            return r.status, r.read()

        def closed_within(c, limit):
            """Whether the server closed c within limit s (then c closes
            too, as a browser's pool does on EOF)."""
            c.sock.settimeout(limit)
            try:
                eof = c.sock.recv(1) == b""
            except (socket.timeout, ConnectionResetError):
                return False
            c.close()
            return eof

        import socket
        try:
            c1 = conn()
            st, body = fetch(c1, "GET", "http://x/.well-known/nq")
            check(st == 200, "h1_browser: config %d" % st)
            urls = json.loads(body)["urls"]
            c2 = conn()
            check(fetch(c2, "GET", urls["small_download_url"])[0] == 200, "h1_browser: probe")
            t0 = time.monotonic()
            time.sleep(3)
            c3 = conn()  # keeps the measurement open while c1 and c2 idle out
            check(fetch(c3, "GET", urls["small_download_url"])[0] == 200, "h1_browser: probe 2")
            check(closed_within(c2, 5), "h1_browser: idle connection not closed")
            idle = time.monotonic() - t0
            check(4.5 <= idle <= 6.5, "h1_browser: idle connection closed after %.1f s" % idle)
            check(closed_within(c1, 1), "h1_browser: idle config connection not closed")
            c4 = conn()
            t1 = time.monotonic()
            st, body = fetch(c4, "POST", urls["result_url"], json.dumps({"RPM": 900}))
            check(st == 200, "h1_browser: result %d %r" % (st, body))
            # c3 idle for ~2.5 s and c4 just answered: both go at once
            check(closed_within(c3, 2) and closed_within(c4, 2),
                  "h1_browser: connections left open after the result")
            shut = time.monotonic() - t1
            check(shut < 1.5, "h1_browser: closed %.1f s after the result" % shut)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not record_files(datadir):
                time.sleep(0.1)
            waited = time.monotonic() - t1
            check(waited < GRACE + 2, "h1_browser: record %.1f s after the result" % waited)
            files = record_files(datadir)
            check(len(files) == 1, "h1_browser: %d records" % len(files))
            if files:
                r = load_record(files[0])
                check(r["Protocol"] == "h1c" and r["ClientSummary"] == {"RPM": 900},
                      "h1_browser: record %s %r" % (r["Protocol"], r.get("ClientSummary")))
                check(len(r["Connections"]) == 4, "h1_browser: %d connections" %
                      len(r["Connections"]))
                check(r["EndReason"] == "idle", "h1_browser: ended by " + r["EndReason"])
        finally:
            srv.stop()
        n, errs = datafiles.check_tree(datadir)
        check(n == 1 and not errs, "h1_browser: datafiles %d %s" % (n, errs[:3]))


def h1_hostile(server_bin):
    """Malformed and oversized HTTP/1.1 requests on the RPM paths: each gets
    its 4xx and the connection closes, in bounded time; a connection that
    never joins a measurement is closed after the head timeout."""
    import socket
    with tempfile.TemporaryDirectory() as tmp:
        datadir = os.path.join(tmp, "spool")
        srv = ops_lib.Server(server_bin, datadir, "--header-timeout-ms", "1500")

        def exchange(raw, wait=5):
            """Sends raw; returns (status line, whether the server closed, seconds)."""
            t0 = time.monotonic()
            with socket.create_connection(("127.0.0.1", srv.ws), timeout=wait) as sk:
                sk.sendall(raw)
                got = b""
                try:
                    while True:
                        chunk = sk.recv(65536)
                        if not chunk:
                            return got.split(b"\r\n", 1)[0].decode(), True, time.monotonic() - t0
                        got += chunk
                except (socket.timeout, ConnectionResetError):
                    return got.split(b"\r\n", 1)[0].decode(), False, time.monotonic() - t0

        try:
            doc = config(Peer(srv, False, True))
            mid = mid_of(doc)
            up = "POST /rpm/v1/upload?mid=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % mid
            cases = [
                (up + "Transfer-Encoding: chunked\r\n\r\nzz\r\n", "400", "bad chunk size"),
                (up + "Transfer-Encoding: chunked\r\n\r\n" + "f" * 17 + "\r\n", "400",
                 "chunk size over 16 hex digits"),
                (up + "Transfer-Encoding: gzip\r\n\r\n", "400", "unknown coding"),
                (up + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "400",
                 "both framings (smuggling)"),
                ("GET /.well-known/nq HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999"
                 "\r\n\r\n", "413", "config with a large body"),
                ("POST /rpm/v1/result?mid=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Content-Length: 20000\r\n\r\n" % mid, "413", "result over 16 KiB"),
                ("POST /rpm/v1/upload?mid=forged HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Content-Length: 1000000000\r\n\r\n", "403", "bad ID: the body is not read"),
                ("GET /.well-known/nq HTTP/1.1\r\nHost: a b\r\n\r\n", "400", "bad Host"),
                ("GET /rpm/v1/small?mid=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGARBAGE\r\n\r\n"
                 % mid, "200", "a good request, then garbage"),
            ]
            for raw, want, what in cases:
                line, closed, secs = exchange(raw.encode())
                print("  %s: %r closed=%s %.2f s" % (what, line, closed, secs))
                check(line.startswith("HTTP/1.1 " + want) and closed and secs < 3,
                      "h1_hostile: %s: %r closed=%s %.1f s" % (what, line, closed, secs))
            # never joins: a page request on an RPM connection, then silence
            line, closed, secs = exchange(b"GET /rpm/v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n")
            check(line.startswith("HTTP/1.1 404") and closed and 1.2 < secs < 3,
                  "h1_hostile: unjoined connection closed after the head timeout: %r %.1f s" %
                  (line, secs))
            # The next measurement on the connection of the previous one, once
            # that one has its result (a browser reuses its connection); the
            # config is pipelined behind the result so no tick comes between.
            with socket.create_connection(("127.0.0.1", srv.ws), timeout=5) as sk:
                rd = sk.makefile("rb")

                def response():
                    status = int(rd.readline().split()[1])
                    length = 0
                    while True:
                        line = rd.readline().strip()
                        if not line:
                            break
                        k, _, v = line.decode().partition(":")
                        if k.lower() == "content-length":
                            length = int(v)
                    return status, rd.read(length)
                cfg = b"GET /.well-known/nq HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                sk.sendall(cfg)
                st, body = response()
                mid1 = mid_of(json.loads(body))
                summary = b'{"RPM": 700}'
                sk.sendall(b"POST /rpm/v1/result?mid=" + mid1.encode() + b" HTTP/1.1\r\n"
                           b"Host: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % len(summary) +
                           summary + cfg)
                st1, _ = response()
                st2, body = response()
                mid2 = mid_of(json.loads(body)) if st2 == 200 else ""
                check(st == 200 and st1 == 200 and st2 == 200 and mid2 and mid2 != mid1,
                      "h1_hostile: a new measurement on the connection after the result: "
                      "%d %d %d" % (st, st1, st2))
                sk.sendall(cfg)
                st3, body = response()
                check(st3 == 200 and mid_of(json.loads(body)) == mid2,
                      "h1_hostile: while it runs, its config again: %d %r" % (st3, body))
            check(srv.health() == 200, "h1_hostile: healthy afterwards")
            code, down, *_ = Peer(srv, False, True).get(doc["urls"]["small_download_url"])
            check(code == 200 and down == 1, "h1_hostile: a normal probe still works")
        finally:
            srv.stop()
        check(not datafiles.check_tree(datadir)[1], "h1_hostile: data files fit the schemas")


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
    cases = ["h2", "h2c", "h1", "h1c", "h1_browser", "h1_hostile", "admission", "sigkill"]
    ap.add_argument("--case", choices=cases, action="append")
    a = ap.parse_args()
    for c in a.case or cases:
        print("== " + c, flush=True)
        if c in ("h2", "h2c", "h1", "h1c"):
            interop(a.server_bin, not c.endswith("c"), c.startswith("h1"))
        elif c == "h1_browser":
            h1_browser(a.server_bin)
        elif c == "h1_hostile":
            h1_hostile(a.server_bin)
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
