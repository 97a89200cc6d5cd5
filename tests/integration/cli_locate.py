#!/usr/bin/env python3
"""netpulse CLI end to end: server discovery through a local Locate v2.

Starts a real netpulse-server (ws + self-signed wss on free loopback ports)
and tests/integration/fake_locate.py pointing at it, then runs the `netpulse`
client the way a user would, without --server:

  netpulse --locate-url http://127.0.0.1:<port>/v2/nearest/ndt/ndt7
           --accept-data-policy --format json [...]

Exit 0 pass, 1 fail, 77 when a part could not run (no openssl).

It checks: the server Locate named was used (address, port, the access
token reached it, data files match the summary's UUIDs), every stdout line is
one JSON object, events and summary keep ndt7-client-go's shape plus
SchemaVersion, figures are sane, exit status = failed tests. Also: fallback
to the next Locate result when the first cannot be reached; Locate 204 and
429 in plain words; no consent -> exit 2 and no request at all; wss against
the cleartext port and an untrusted certificate give the right hints.

Usage: cli_locate.py --client PATH --server PATH [--fake-locate PATH] [--quick]
(--quick skips the second full ws download+upload run over wss.)
"""

import argparse
import glob
import gzip
import http.server
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_lib  # noqa: E402  (the shared server launcher)
import datafiles  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "cli-locate-test-token"
failures = []
skipped = []  # parts that could not run: exit 77


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr, flush=True)
    return cond


class Server(ops_lib.Server):
    """netpulse-server on free loopback ports (the shared launcher)."""

    def __init__(self, binary, tmp):
        datadir = os.path.join(tmp, "spool")
        os.makedirs(datadir)
        prefix = os.path.join(tmp, "prefix")
        with open(prefix, "w") as f:
            f.write("clitest_1700000000")
        super().__init__(binary, datadir, "--uuid-prefix-file", prefix, tls=True)


class FakeLocate:
    """tests/integration/fake_locate.py as a child process."""

    def __init__(self, script, *args):
        self.errf = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([sys.executable, script] + list(args),
                                     stdout=subprocess.PIPE, stderr=self.errf, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"LISTENING (\d+)", line)
        if not m:
            self.stop()
            raise SystemExit("fake_locate did not start: %r %s" % (line, self.requests()))
        self.url = "http://127.0.0.1:%s/v2/nearest/ndt/ndt7" % m.group(1)

    def requests(self):
        self.errf.seek(0)
        return [l for l in self.errf.read().splitlines() if "GET " in l]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class TwoResultLocate:
    """An in-process Locate whose first result cannot be reached (fallback)."""

    def __init__(self, dead_port, live_port, tls_dir=None):
        body = json.dumps({"results": [
            {"machine": "mlab1-dead0.netpulse.test",
             "urls": {"ws:///ndt/v7/download":
                      "ws://127.0.0.1:%d/ndt/v7/download?access_token=dead" % dead_port}},
            {"machine": "mlab2-live0.netpulse.test",
             "urls": {"ws:///ndt/v7/download":
                      "ws://127.0.0.1:%d/ndt/v7/download?access_token=%s" % (live_port, TOKEN)}},
        ]}).encode()

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        scheme = "http"
        self.ca = None
        if tls_dir and shutil.which("openssl"):
            # A certificate for 127.0.0.1, trusted only through --ca-file.
            key, cert = os.path.join(tls_dir, "key.pem"), os.path.join(tls_dir, "cert.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
                            "-keyout", key, "-out", cert], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            scheme, self.ca = "https", cert
        self.url = "%s://127.0.0.1:%d/v2/nearest/ndt/ndt7" % (scheme, self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def dead_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


def run_client(client, args, timeout=90, stdin=subprocess.DEVNULL):
    argv = [client] + args
    p = subprocess.run(argv, stdin=stdin, capture_output=True, text=True, timeout=timeout)
    print("$ %s\n  exit %d, stderr: %s" % (" ".join(argv), p.returncode,
                                          p.stderr.strip().replace("\n", "\n  ")), flush=True)
    return p


def json_lines(out, what):
    objs = []
    for i, line in enumerate(out.splitlines()):
        try:
            objs.append(json.loads(line))
        except ValueError:
            check(False, "%s: stdout line %d is not JSON: %r" % (what, i, line[:200]))
    check(len(objs) > 0, what + ": no JSON on stdout")
    for o in objs:
        check(isinstance(o, dict), what + ": a line is not an object")
    text = out.lower()
    check("nan" not in text and "infinity" not in text, what + ": NaN/Inf in JSON")
    return objs


def check_value_unit(obj, key, unit, what, lo=None, hi=None):
    vu = obj.get(key)
    if not check(isinstance(vu, dict) and set(vu) == {"Value", "Unit"},
                 "%s: %s is not {Value, Unit}: %r" % (what, key, vu)):
        return None
    check(vu["Unit"] == unit, "%s: %s unit %r != %r" % (what, key, vu["Unit"], unit))
    v = vu["Value"]
    check(isinstance(v, (int, float)), "%s: %s value not a number" % (what, key))
    if lo is not None:
        check(v >= lo, "%s: %s = %r < %r" % (what, key, v, lo))
    if hi is not None:
        check(v <= hi, "%s: %s = %r > %r" % (what, key, v, hi))
    return v


def check_summary(s, what, tests, port):
    for k in ("ServerFQDN", "ServerIP", "ServerPort", "ClientIP", "ClientPort", "Download",
              "Upload", "SchemaVersion", "Scheme", "Errors"):
        check(k in s, "%s: summary lacks %s" % (what, k))
    check(s.get("SchemaVersion") == 1, what + ": SchemaVersion != 1")
    check(s.get("ServerFQDN") == "127.0.0.1", what + ": ServerFQDN %r" % s.get("ServerFQDN"))
    check(s.get("ServerIP") == "127.0.0.1", what + ": ServerIP %r" % s.get("ServerIP"))
    check(s.get("ServerPort") == str(port),
          "%s: ServerPort %r, want %r (the server Locate named)" % (what, s.get("ServerPort"), port))
    check(s.get("ClientIP") == "127.0.0.1", what + ": ClientIP %r" % s.get("ClientIP"))
    check(s.get("Errors") == [], what + ": Errors %r" % s.get("Errors"))
    uuids = []
    for name in ("Download", "Upload"):
        sub = s.get(name)
        if name.lower() not in tests:
            check(sub is None, "%s: %s should be null" % (what, name))
            continue
        if not check(isinstance(sub, dict), "%s: %s missing" % (what, name)):
            continue
        check(isinstance(sub.get("UUID"), str) and sub["UUID"].startswith("clitest_1700000000_"),
              "%s: %s UUID %r" % (what, name, sub.get("UUID")))
        uuids.append(sub.get("UUID"))
        check_value_unit(sub, "Throughput", "Mbit/s", what + " " + name, lo=0.1)
        check_value_unit(sub, "Latency", "ms", what + " " + name, lo=0, hi=1000)
        check_value_unit(sub, "Retransmission", "%", what + " " + name, lo=0, hi=100)
        check_value_unit(sub, "LoadedLatency", "ms", what + " " + name, lo=0, hi=10000)
    return uuids


def check_events(objs, what, tests, quiet=False):
    events = [o for o in objs[:-1]]
    for e in events:
        check(set(e) == {"Key", "Value"}, what + ": event shape %r" % e)
    keys = [(e.get("Key"), (e.get("Value") or {}).get("Test")) for e in events]
    for t in tests:
        if quiet:
            check(("starting", t) not in keys, what + ": quiet still emits starting")
            continue
        for k in ("starting", "connected", "complete"):
            check((k, t) in keys, "%s: no %s event for %s" % (what, k, t))
        ms = [e["Value"] for e in events if e.get("Key") == "measurement"
              and e["Value"].get("Test") == t]
        check(any(m.get("Origin") == "client" and "AppInfo" in m for m in ms),
              "%s: no client measurement for %s" % (what, t))
        check(any(m.get("Origin") == "server" and "TCPInfo" in m for m in ms),
              "%s: no server measurement for %s" % (what, t))
    check(not any(k == "error" for k, _ in keys), what + ": unexpected error event")


def data_uuids(datadir):
    found = {}
    for path in glob.glob(os.path.join(datadir, "ndt7", "*", "*", "*", "*.json.gz")):
        with gzip.open(path) as f:
            rec = json.load(f)
        for d in ("Download", "Upload"):
            if d in rec:
                found[rec[d]["UUID"]] = (d, rec)
    return found


def case_full(a, srv, tests, scheme, extra, what):
    """A complete run through the fake Locate; checks output and data files."""
    key = "ndt7+" + scheme
    loc = FakeLocate(a.fake_locate, "--ndt7-%s" % scheme, "127.0.0.1:%d" % srv.ports[key],
                     "--token", TOKEN)
    try:
        before = set(data_uuids(srv.datadir))
        args = ["--locate-url", loc.url, "--accept-data-policy", "--format", "json",
                "--scheme", scheme] + extra
        p = run_client(a.client, args)
        reqs = loc.requests()
    finally:
        loc.stop()
    check(p.returncode == 0, "%s: exit %d, want 0" % (what, p.returncode))
    check(len(reqs) == 1, "%s: Locate saw %d requests, want 1" % (what, len(reqs)))
    check(reqs and "client_name=netpulse" in reqs[0],
          "%s: Locate request lacks client metadata: %r" % (what, reqs))
    objs = json_lines(p.stdout, what)
    if not objs:
        return
    summary = objs[-1]
    check("Key" not in summary, what + ": last line is not the summary")
    check_events(objs, what, tests)
    uuids = check_summary(summary, what, tests, srv.ports[key])
    time.sleep(1.0)  # result files are written off the event loop
    files = data_uuids(srv.datadir)
    for u in uuids:
        if check(u in files and u not in before, "%s: no data file for UUID %s" % (what, u)):
            _, rec = files[u]
            body = rec.get("Download") or rec.get("Upload")
            meta = {m["Name"]: m["Value"] for m in body.get("ClientMetadata", [])}
            check(meta.get("client_name") == "netpulse",
                  "%s: client_name metadata %r" % (what, meta.get("client_name")))
            for k in ("client_version", "client_library_name", "client_library_version",
                      "client_os", "client_arch"):
                check(k in meta, "%s: %s missing from the data's ClientMetadata" % (what, k))
            check(TOKEN not in json.dumps(rec), what + ": access token stored in the data")
    # The token Locate handed out reached the server (so its URL was used).
    check(TOKEN not in p.stdout, what + ": access token echoed on stdout")


def case_fallback(a, srv, tmp):
    """Locate over https (CA via --ca-file); its first result is unreachable."""
    what = "fallback"
    loc = TwoResultLocate(dead_port(), srv.ports["ndt7+ws"], tls_dir=tmp)
    try:
        base = ["--locate-url", loc.url, "--accept-data-policy", "--format", "json",
                "--scheme", "ws", "--download", "--quiet"]
        if loc.ca:
            # Verification is on by default: without the CA, Locate is refused.
            p = run_client(a.client, base, timeout=30)
            check(p.returncode == 1, "https locate untrusted: exit %d, want 1" % p.returncode)
            objs = json_lines(p.stdout, "https locate untrusted")
            errs = objs[-1].get("Errors", [{}]) if objs else [{}]
            check("--ca-file" in errs[0].get("Hint", ""),
                  "https locate untrusted: hint %r" % errs)
            base += ["--ca-file", loc.ca]
        else:
            print("SKIP: openssl missing: Locate over http only", flush=True)
            skipped.append("https locate (openssl missing)")
        p = run_client(a.client, base)
    finally:
        loc.stop()
    check(p.returncode == 0, "%s: exit %d, want 0" % (what, p.returncode))
    check("trying the next server" in p.stderr, what + ": no note about the next server")
    objs = json_lines(p.stdout, what)
    if objs:
        check(len(objs) == 1, what + ": --quiet printed %d lines, want only the summary" % len(objs))
        check_summary(objs[-1], what, ["download"], srv.ports["ndt7+ws"])


def case_refusals(a):
    for status, want, hint in ((204, "no server is available", "try again"),
                               (429, "retry after 5 s", "wait 5 s")):
        what = "locate %d" % status
        loc = FakeLocate(a.fake_locate, "--status", str(status))
        try:
            p = run_client(a.client, ["--locate-url", loc.url, "--accept-data-policy",
                                      "--format", "json"])
        finally:
            loc.stop()
        check(p.returncode == 2, "%s: exit %d, want 2 (both tests failed)" % (what, p.returncode))
        check(want in p.stderr, "%s: stderr lacks %r" % (what, want))
        objs = json_lines(p.stdout, what)
        if not objs:
            continue
        s = objs[-1]
        check(s.get("Download") is None and s.get("Upload") is None, what + ": results not null")
        errs = s.get("Errors") or []
        check(len(errs) == 2, what + ": %d Errors, want 2" % len(errs))
        for e in errs:
            check(want in e.get("Failure", ""), "%s: Failure %r" % (what, e.get("Failure")))
            check(hint in e.get("Hint", ""), "%s: Hint %r" % (what, e.get("Hint")))
        ev = [o for o in objs[:-1] if o.get("Key") == "error"]
        check(len(ev) == 2, what + ": %d error events, want 2" % len(ev))
        # Human format: the same in plain words, on stdout.
    loc = FakeLocate(a.fake_locate, "--status", "204")
    try:
        p = run_client(a.client, ["--locate-url", loc.url, "--accept-data-policy"])
    finally:
        loc.stop()
    check(p.returncode == 2 and "no server is available" in p.stdout,
          "locate 204 human: exit %d, stdout %r" % (p.returncode, p.stdout))


def case_no_consent(a, srv):
    what = "no consent"
    loc = FakeLocate(a.fake_locate, "--ndt7-ws", "127.0.0.1:%d" % srv.ports["ndt7+ws"])
    try:
        env = dict(os.environ)
        env.pop("NETPULSE_ACCEPT_DATA_POLICY", None)
        p = subprocess.run([a.client, "--locate-url", loc.url, "--scheme", "ws"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
                           env=env)
        time.sleep(0.3)
        reqs = loc.requests()
    finally:
        loc.stop()
    check(p.returncode == 2, "%s: exit %d, want 2" % (what, p.returncode))
    check(p.stdout == "", what + ": something on stdout")
    for word in ("IP address", "CC0", "https://www.measurementlab.net/privacy/",
                 "--accept-data-policy"):
        check(word in p.stderr, "%s: explanation lacks %r" % (what, word))
    check(reqs == [], what + ": the Locate service was contacted before consent: %r" % reqs)
    # The environment variable is an explicit opt-in too.
    env["NETPULSE_ACCEPT_DATA_POLICY"] = "1"
    p = subprocess.run([a.client, "--server", "127.0.0.1:%d" % dead_port(), "--scheme", "ws",
                        "--download", "--format", "json"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30, env=env)
    check(p.returncode == 1, "env consent: exit %d, want 1 (one failed test)" % p.returncode)


def case_hints(a, srv):
    # wss against the cleartext port: say so and suggest --scheme ws.
    p = run_client(a.client, ["--server", "127.0.0.1:%d" % srv.ports["ndt7+ws"], "--scheme",
                              "wss", "--no-verify", "--download", "--accept-data-policy",
                              "--format", "json"], timeout=60)
    check(p.returncode == 1, "plaintext: exit %d, want 1" % p.returncode)
    objs = json_lines(p.stdout, "plaintext")
    if objs:
        errs = objs[-1].get("Errors") or [{}]
        check("--scheme ws" in errs[0].get("Hint", ""), "plaintext: hint %r" % errs)
    # An untrusted (self-signed) certificate with verification on.
    p = run_client(a.client, ["--server", "127.0.0.1:%d" % srv.ports["ndt7+wss"], "--download",
                              "--accept-data-policy"], timeout=60)
    check(p.returncode == 1, "untrusted: exit %d, want 1" % p.returncode)
    check("--ca-file" in p.stdout, "untrusted: no --ca-file hint in %r" % p.stdout)
    # Usage errors: one line, exit 2.
    for bad in (["--format", "xml"], ["--scheme", "http"], ["--server", "[::1"], ["-4", "-6"],
                ["--locate-url", "ftp://x/"], ["--nope"], ["extra"]):
        p = run_client(a.client, bad + ["--accept-data-policy"], timeout=10)
        check(p.returncode == 2 and p.stderr.count("\n") == 1 and p.stdout == "",
              "usage %r: exit %d stderr %r" % (bad, p.returncode, p.stderr))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--client", required=True)
    ap.add_argument("--server", required=True)
    ap.add_argument("--fake-locate", default=os.path.join(HERE, "fake_locate.py"))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="np-cli-locate-")
    srv = Server(a.server, tmp)
    try:
        case_no_consent(a, srv)
        case_refusals(a)
        case_hints(a, srv)
        case_full(a, srv, ["download", "upload"], "ws", [], "ws download+upload")
        case_fallback(a, srv, tmp)
        if not a.quick:
            case_full(a, srv, ["download"], "wss", ["--no-verify", "--download"],
                      "wss download")
    finally:
        srv.stop()
        _, schema_errs = datafiles.check_tree(tmp)
        if schema_errs:
            failures.append("data files do not fit schemas/ndt7.json")
        if failures:
            print("--- server log ---\n" + srv.log_text(), file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    if skipped:
        # Part of the test did not run: a skip (77), a failure in CI.
        print("cli_locate: passed, but skipped: " + ", ".join(skipped))
        return 77
    print("cli_locate: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
