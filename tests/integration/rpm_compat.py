#!/usr/bin/env python3
"""What RPM clients other than netpulse's expect of the server (issue 16),
with curl and nghttp on loopback:

ipv6          the server on [::1] only: URLs carry the bracketed address,
              test_endpoint the bare one ("::1": clients join it with the
              port themselves); a measurement over those URLs (small,
              upload, large, result) gives a record with ClientIP ::1;
              a cleartext config names no *_https_* keys; Node's http2
              client, whose :authority lacks the brackets, gets a config
head_cors     on h2, h2c, HTTP/1.1 over TLS and cleartext: HEAD on the
              config (the GET's content-length, no body, no measurement),
              small and large (headers only, at once); OPTIONS preflights
              (204, the endpoint's methods, allowed headers, max age, no
              body); Access-Control-Allow-Origin on every RPM answer,
              errors included
config_twice  the config asked again on one HTTP/2 connection while its
              measurement runs: the same measurement (h2 with curl, h2c
              with nghttp); after the measurement's result, on the same
              connection: a new one; with Node's http2 (rpm_h2_config.mjs)
              409 conn_busy while a download of the finished one runs

Usage: rpm_compat.py --server-bin PATH [--case NAME]"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datafiles  # noqa: E402
import ops_lib  # noqa: E402
import rpm_server  # noqa: E402
from rpm_server import Peer, check, mid_of, run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
V6 = ["--ndt7-addr-cleartext", "[::1]:0", "--ndt7-addr", "[::1]:0"]


def valid(datadir, name):
    """Every record the server wrote (at the latest at its exit) fits the
    shipped schemas."""
    n, errs = datafiles.check_tree(datadir)
    check(n >= 1 and not errs, "%s: data files %d %s" % (name, n, errs[:3]))


def curl_doc(argv):
    p = run(argv)
    check(p.returncode == 0, "curl %s: %s" % (argv[-1], p.stderr[-300:]))
    try:
        return json.loads(p.stdout)
    except ValueError:
        check(False, "not JSON from %s: %r" % (argv[-1], p.stdout[:200]))
        return {"urls": {}}


def ipv6(server_bin):
    with tempfile.TemporaryDirectory() as tmp:
        datadir = os.path.join(tmp, "spool")
        srv = ops_lib.Server(server_bin, datadir, *V6, tls=True)
        try:
            base = "https://[::1]:%d" % srv.wss
            curl = ["curl", "-sS", "--http2", "-k"]
            doc = curl_doc(curl + [base + "/.well-known/nq"])
            check(doc.get("test_endpoint") == "::1", "ipv6: test_endpoint %r" %
                  doc.get("test_endpoint"))
            urls = doc["urls"]
            for k in ("small_download_url", "large_download_url", "upload_url",
                      "small_https_download_url", "large_https_download_url",
                      "https_upload_url", "result_url"):
                check(urls.get(k, "").startswith(base + "/rpm/v1/"), "ipv6: %s = %r" %
                      (k, urls.get(k)))
            p = run(curl + ["-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                            urls["small_https_download_url"]])
            check(p.stdout == "200 1", "ipv6: small " + p.stdout)
            with tempfile.NamedTemporaryFile() as body:
                body.write(b"\0" * (4 << 20))
                body.flush()
                p = run(curl + ["-o", "/dev/null", "-w", "%{http_code} %{size_upload}",
                                "--data-binary", "@" + body.name, urls["https_upload_url"]])
                check(p.stdout == "200 %d" % (4 << 20), "ipv6: upload " + p.stdout)
            p = run(curl + ["-o", "/dev/null", "-m", "1", "-w", "%{size_download}",
                            urls["large_https_download_url"]])
            check(int(p.stdout or 0) > 1 << 20, "ipv6: large " + p.stdout)
            p = run(curl + ["-d", '{"RPM": 321}', urls["result_url"]])
            check('"status":200' in p.stdout, "ipv6: result " + p.stdout)
            # cleartext: the draft's keys only
            cdoc = curl_doc(["curl", "-sS", "--http2-prior-knowledge",
                             "http://[::1]:%d/.well-known/nq" % srv.ws])
            check(cdoc.get("test_endpoint") == "::1" and
                  cdoc["urls"].get("small_download_url", "").startswith(
                      "http://[::1]:%d/" % srv.ws) and
                  not any("https" in k for k in cdoc["urls"]),
                  "ipv6: cleartext config %r" % cdoc)
            # Node's http2 client sends ":authority: ::1:PORT" (no brackets):
            # the config names the address it connected to
            node = shutil.which("node")
            if check(node is not None, "ipv6: node missing"):
                for b in ("http://[::1]:%d" % srv.ws, base):
                    p = run([node, os.path.join(HERE, "rpm_h2_config.mjs"), b], timeout=30)
                    print("  node http2 %s: %s" % (b, p.stdout.strip()))
                    check(p.returncode == 0, "ipv6: node http2 %s: %s %s" %
                          (b, p.stdout.strip(), p.stderr[-300:]))
            deadline = time.monotonic() + rpm_server.GRACE + 15
            mine = []
            while time.monotonic() < deadline and not mine:
                time.sleep(0.3)
                mine = [r for r in map(rpm_server.load_record, rpm_server.record_files(datadir))
                        if r.get("ClientSummary") == {"RPM": 321}]
            check(len(mine) == 1, "ipv6: %d records with curl's summary" % len(mine))
            if mine:
                r = mine[0]
                check(r["ClientIP"] == "::1" and r["ServerIP"] == "::1",
                      "ipv6: record addresses %s %s" % (r["ClientIP"], r["ServerIP"]))
        finally:
            check(srv.stop() == 0, "server exit status (sanitizers report there)")
        valid(datadir, "ipv6")


def curl_head(peer, url, *extra):
    """(status, headers, body bytes, seconds) of a HEAD (or, with -X, any
    method whose body is discarded)."""
    t0 = time.monotonic()
    code, down, _, _, hdr, _ = peer.get(url, *extra, timeout=10)
    return code, hdr, down, time.monotonic() - t0


def head_cors(server_bin):
    for tls in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            datadir = os.path.join(tmp, "spool")
            srv = ops_lib.Server(server_bin, datadir, tls=tls)
            try:
                for h1 in (False, True):
                    head_cors_one(srv, Peer(srv, tls, h1), ("h1" if h1 else "h2") +
                                  ("" if tls else "c"))
            finally:
                check(srv.stop() == 0, "server exit status (sanitizers report there)")
            valid(datadir, "head_cors")


def head_cors_one(srv, peer, name):
    cfg_url = peer.base + "/.well-known/nq"
    p = run(peer.curl + ["-D", "-", cfg_url])
    head, _, body = p.stdout.partition("\n\n")  # text mode: CRLF read as LF
    check("access-control-allow-origin: *" in head.lower(), name + ": config without CORS")
    doc = json.loads(body)
    urls = doc["urls"]
    mid = mid_of(doc)
    # HEAD config: the GET's length (the ID's length is fixed), nothing begun
    code, hdr, down, _ = curl_head(peer, cfg_url, "-I")
    check(code == 200 and hdr.get("content-length") == str(len(body)) and down == 0,
          "%s: HEAD config %d %r (GET: %d bytes)" % (name, code, hdr.get("content-length"),
                                                     len(body)))
    check(hdr.get("content-type") == "application/json" and
          hdr.get("access-control-allow-origin") == "*", name + ": HEAD config headers %r" % hdr)
    code, hdr, down, _ = curl_head(peer, urls["small_download_url"], "-I")
    check(code == 200 and hdr.get("content-length") == "1" and down == 0,
          "%s: HEAD small %d %r" % (name, code, hdr))
    code, hdr, down, secs = curl_head(peer, urls["large_download_url"], "-I")
    check(code == 200 and int(hdr.get("content-length", "0")) >= 8 * 10 ** 9 and down == 0 and
          secs < 3, "%s: HEAD large %d %r %d bytes %.1f s" % (name, code, hdr, down, secs))
    code, hdr, _, _ = curl_head(peer, peer.base + "/rpm/v1/small?mid=forged", "-I")
    check(code == 403 and hdr.get("access-control-allow-origin") == "*",
          "%s: HEAD with a bad ID %d %r" % (name, code, hdr))
    code, hdr, _, _ = curl_head(peer, urls["upload_url"], "-I")
    check(code == 405 and hdr.get("allow") == "POST, OPTIONS",
          "%s: HEAD upload %d %r" % (name, code, hdr))
    # preflights
    for url, methods in ((urls["upload_url"], "POST, OPTIONS"),
                         (urls["result_url"], "POST, OPTIONS"),
                         (cfg_url, "GET, HEAD, OPTIONS"),
                         (peer.base + "/rpm/v1/large", "GET, HEAD, OPTIONS")):
        code, hdr, down, _ = curl_head(
            peer, url, "-X", "OPTIONS", "-H", "Origin: https://speed.example.org",
            "-H", "Access-Control-Request-Method: POST",
            "-H", "Access-Control-Request-Headers: content-type, x-client")
        check(code == 204 and down == 0 and "content-length" not in hdr and
              hdr.get("access-control-allow-origin") == "*" and
              hdr.get("access-control-allow-methods") == methods and
              "content-type" in hdr.get("access-control-allow-headers", "") and
              "*" in hdr.get("access-control-allow-headers", "") and
              hdr.get("access-control-max-age") == "7200" and hdr.get("allow") == methods,
              "%s: preflight %s: %d %r" % (name, url, code, hdr))
    # the actual requests answer with CORS, errors included
    origin = ["-H", "Origin: https://speed.example.org"]
    for what, url, extra, want in (
            ("small", urls["small_download_url"], [], 200),
            ("upload", urls["upload_url"], ["--data-binary", "x" * 1000], 200),
            ("forged", peer.base + "/rpm/v1/small?mid=" + mid[:-2] + "AB", [], 403),
            ("method", urls["small_download_url"], ["-X", "DELETE"], 405),
            ("result", urls["result_url"], ["-d", '{"RPM": 5}'], 200)):
        code, hdr, _, _ = curl_head(peer, url, *(origin + extra))
        check(code == want and hdr.get("access-control-allow-origin") == "*" and
              hdr.get("timing-allow-origin") == "*" and
              hdr.get("access-control-expose-headers") == "retry-after",
              "%s: %s: %d %r" % (name, what, code, hdr))
    check(srv.health() == 200, name + ": healthy afterwards")


def config_twice(server_bin):
    with tempfile.TemporaryDirectory() as tmp:
        datadir = os.path.join(tmp, "spool")
        srv = ops_lib.Server(server_bin, datadir, tls=True)
        try:
            peer = Peer(srv, True)
            cfg = peer.base + "/.well-known/nq"
            # h2: two configs on one connection while the measurement runs
            p = run(peer.curl + ["-v", cfg, cfg])
            mids = set(re.findall(r"mid=([A-Za-z0-9_-]+)", p.stdout))
            check(p.stderr.count("Re-using existing connection") == 1 and len(mids) == 1 and
                  p.stdout.count('"version":1') == 2,
                  "config_twice h2: %d ID(s) over %d connection(s): %s" %
                  (len(mids), 2 - p.stderr.count("Re-using"), p.stdout[-300:]))
            # h2c (curl 7.88 cannot reuse a prior-knowledge connection)
            p = run(["nghttp", "http://127.0.0.1:%d/.well-known/nq" % srv.ws,
                     "http://127.0.0.1:%d/.well-known/nq?again" % srv.ws])
            mids = set(re.findall(r"mid=([A-Za-z0-9_-]+)", p.stdout))
            check(p.returncode == 0 and len(mids) == 1 and p.stdout.count('"version":1') == 2,
                  "config_twice h2c: %d ID(s): %s" % (len(mids), p.stdout[-300:]))
            # after the result, on the connection of that measurement: a new one
            doc = json.loads(run(peer.curl + [cfg]).stdout)
            mid1 = mid_of(doc)
            # (--next resets every option but keeps the connection)
            p = run(peer.curl + ["-v", "-o", "/dev/null", doc["urls"]["small_download_url"],
                                 "--next"] + peer.curl[1:] + ["-d", '{"RPM": 7}',
                                                              doc["urls"]["result_url"],
                                                              "--next"] + peer.curl[1:] + [cfg])
            mids = re.findall(r"mid=([A-Za-z0-9_-]+)", p.stdout)
            check(p.stderr.count("Re-using existing connection") == 2 and mids and
                  mid1 not in mids and len(set(mids)) == 1,
                  "config_twice: after the result %r (first %s): %s" %
                  (set(mids), mid1, p.stdout[-300:]))
            check('"status":200' in p.stdout, "config_twice: result " + p.stdout[:200])
            # Node's http2 client: config again while a download runs, and
            # 409 conn_busy after the summary while it still runs
            node = shutil.which("node")
            if check(node is not None, "config_twice: node missing"):
                for base in ("http://127.0.0.1:%d" % srv.ws, "https://127.0.0.1:%d" % srv.wss):
                    p = run([node, os.path.join(HERE, "rpm_h2_config.mjs"), base], timeout=30)
                    print("  node http2 %s: %s" % (base, p.stdout.strip()))
                    check(p.returncode == 0, "config_twice: node http2 %s: %s %s" %
                          (base, p.stdout.strip(), p.stderr[-300:]))
        finally:
            check(srv.stop() == 0, "server exit status (sanitizers report there)")
        valid(datadir, "config_twice")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server-bin", required=True)
    cases = {"ipv6": ipv6, "head_cors": head_cors, "config_twice": config_twice}
    ap.add_argument("--case", choices=sorted(cases), action="append")
    a = ap.parse_args()
    for c in a.case or sorted(cases):
        print("== " + c, flush=True)
        cases[c](a.server_bin)
    if rpm_server.FAILS:
        print("%d check(s) failed" % len(rpm_server.FAILS))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
