#!/usr/bin/env python3
"""WebSocket interop with Node `ws` in both roles, over ws:// or wss://.

  ws_interop.py server-side --server NETPULSE_SERVER --node NODE [--tls]
      netpulse-server against tests/peers/ndt7_ws_client.mjs (a real ndt7
      download and upload with `ws`); then both data files are checked: the
      test's UUID, server and client measurements, ping RTT samples (pongs
      sent by `ws` itself), and the client metadata from the query.

  ws_interop.py client-side --client WS_INTEROP_CLIENT --node NODE [--tls]
      netpulse's client role (ws_interop_client, built on src/net + src/ws)
      against tests/peers/ws_echo_server.mjs; the echo server's own log must
      show the three close codes our client sent.

Each run starts its own peers on free loopback ports and stops them.
Exit 0 on success, 1 on failure, 77 when the TLS variant cannot run (no
openssl to make a certificate for the echo server).
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
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import datafiles  # noqa: E402
PEERS = os.path.join(os.path.dirname(HERE), "peers")


class Proc:
    """A background process whose stderr is collected; stdout lines scanned."""

    def __init__(self, cmd, cwd=None, env=None):
        self.p = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out, self.err = [], []
        self.lock = threading.Lock()
        self.t = [threading.Thread(target=self._pump, args=(self.p.stdout, self.out), daemon=True),
                  threading.Thread(target=self._pump, args=(self.p.stderr, self.err), daemon=True)]
        for t in self.t:
            t.start()

    def _pump(self, stream, sink):
        for raw in stream:
            with self.lock:
                sink.append(raw.decode("utf-8", "replace"))

    def wait_line(self, regex, where, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for line in (self.out if where == "out" else self.err):
                    m = re.search(regex, line)
                    if m:
                        return m
            if self.p.poll() is not None:
                break
            time.sleep(0.02)
        raise SystemExit(f"FAIL: no line matching {regex!r} from {self.p.args[0]}:\n" + self.text())

    def text(self):
        with self.lock:
            return "".join(self.out[-40:]) + "".join(self.err[-40:])

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        for t in self.t:
            t.join(timeout=2)
        return self.p.returncode


def fail(msg, *procs):
    print(f"FAIL: {msg}")
    for p in procs:
        print(f"--- {p.p.args[0]} output ---\n{p.text()}")
    sys.exit(1)


def server_side(a):
    tmp = tempfile.mkdtemp(prefix="np-wsinterop-")
    datadir = os.path.join(tmp, "spool")
    os.mkdir(datadir)
    srv = Proc([a.server, "--ndt7-addr-cleartext", "127.0.0.1:0", "--ndt7-addr", "127.0.0.1:0",
                "--tls-self-signed", "--datadir", datadir, "--health-addr", "",
                "--uuid-prefix-file", os.path.join(tmp, "no-prefix"), "--drain-timeout", "1"],
               env=dict(os.environ, NETPULSE_PROMETHEUS_ADDR="127.0.0.1:0"))
    ok = False
    try:
        proto = "ndt7+wss" if a.tls else "ndt7+ws"
        port = int(srv.wait_line(rf'msg="listening" proto={re.escape(proto)} .*port=(\d+)',
                                 "err", 10).group(1))
        url = f"{'wss' if a.tls else 'ws'}://127.0.0.1:{port}"
        query = "client_name=ws-interop&client_version=8.23.0&client_os=node"
        cmd = [a.node, os.path.join(PEERS, "ndt7_ws_client.mjs"), "--url", url, "--query", query,
               "--timeout", "25"]
        # No --alpn: `ws` offers none by default, like Go clients; the
        # server must cope (see robustness.py tls_without_alpn).
        t0 = time.monotonic()
        cli = subprocess.run(cmd, cwd=PEERS, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=70)
        sys.stderr.write(cli.stderr.decode("utf-8", "replace"))
        try:
            res = json.loads(cli.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            fail(f"ndt7_ws_client printed no result (exit {cli.returncode}): {cli.stdout!r}", srv)
        print(json.dumps(res))
        if cli.returncode != 0 or not res.get("ok"):
            fail(f"ndt7_ws_client: {res.get('error')}", srv)
        tests = {t["test"]: t for t in res["tests"]}
        for test in ("download", "upload"):
            t = tests[test]
            key = test.capitalize()
            path = wait_file(datadir, t["uuid"], test, 5)
            if not path:
                fail(f"no {test} data file for UUID {t['uuid']}", srv)
            with gzip.open(path, "rb") as f:
                rec = json.loads(f.read())
            check_record(rec, key, t, srv)
            print(f"{test}: close {t['closeCode']}, {t['measurements']} measurements, "
                  f"{t['pings']} pings answered by ws, data file {os.path.basename(path)}")
        n = len(glob.glob(os.path.join(datadir, "ndt7", "*", "*", "*", "*.json.gz")))
        if n != 2:
            fail(f"{n} data files, expected 2", srv)
        ok = True
    finally:
        rc = srv.stop()
        if ok and rc not in (0, None):
            fail(f"netpulse-server exited with {rc}", srv)
        if re.search(r"AddressSanitizer|runtime error:", srv.text()):
            fail("sanitizer report", srv)
        if datafiles.check_tree(datadir)[1]:
            fail("data files do not fit schemas/ndt7.json", srv)
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS server-side interop (" + ("wss" if a.tls else "ws") + f", {time.monotonic() - t0:.1f} s)")


def wait_file(datadir, uuid, test, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = glob.glob(os.path.join(datadir, "ndt7", "*", "*", "*",
                                       f"ndt7-{test}-*.{uuid}.json.gz"))
        if files:
            return files[0]
        time.sleep(0.1)
    return None


def check_record(rec, key, t, srv):
    def need(cond, what):
        if not cond:
            fail(f"{key} record: {what}", srv)
    need(key in rec, f"no {key} object")
    d = rec[key]
    need(d.get("UUID") == t["uuid"], f"UUID {d.get('UUID')} != {t['uuid']}")
    need(rec.get("ClientPort") == t["localPort"],
         f"ClientPort {rec.get('ClientPort')} != the client's port {t['localPort']}")
    need(rec.get("ClientIP") == "127.0.0.1", f"ClientIP {rec.get('ClientIP')}")
    sm = d.get("ServerMeasurements") or []
    need(len(sm) >= t["measurements"], f"{len(sm)} server measurements < {t['measurements']} sent")
    cm = d.get("ClientMeasurements") or []
    need(len(cm) >= 1, "no ClientMeasurements recorded from ws's text messages")
    need(all("AppInfo" in m for m in cm), "client measurement without AppInfo")
    pings = d.get("PingSamples", rec.get("PingSamples")) or []
    need(len(pings) >= 1, "no PingSamples: the pongs sent by ws were not matched")
    need(all(p.get("RTT", -1) >= 0 for p in pings), "negative ping RTT")
    meta = {m["Name"]: m["Value"] for m in d.get("ClientMetadata") or []}
    need(meta.get("client_name") == "ws-interop", f"ClientMetadata {meta}")
    last = sm[-1]
    if key == "Download":
        need(last["TCPInfo"]["BytesAcked"] > 0, "download BytesAcked 0")
    else:
        need(last["TCPInfo"]["BytesReceived"] > 0, "upload BytesReceived 0")
    blob = json.dumps(rec)
    need("access_token" not in blob, "access_token stored")


def make_cert(tmp):
    openssl = shutil.which("openssl")
    if not openssl:
        return None
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    r = subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=localhost"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
    return (cert, key) if r.returncode == 0 else None


def client_side(a):
    tmp = tempfile.mkdtemp(prefix="np-wsinterop-")
    try:
        cmd = [a.node, os.path.join(PEERS, "ws_echo_server.mjs")]
        if a.tls:
            ck = make_cert(tmp)
            if not ck:
                print("SKIP: no openssl to make a certificate for the wss echo server")
                sys.exit(77)
            cmd += ["--tls-cert", ck[0], "--tls-key", ck[1]]
        echo = Proc(cmd, cwd=PEERS)
        ok = False
        try:
            port = echo.wait_line(r"LISTENING (\d+)", "out", 15).group(1)
            t0 = time.monotonic()
            cargs = [a.client, "--port", port]
            if a.tls:
                cargs.append("--tls")
            try:
                cli = subprocess.run(cargs, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     timeout=60)
            except subprocess.TimeoutExpired:
                fail("ws_interop_client did not finish within 60 s", echo)
            sys.stderr.write(cli.stderr.decode("utf-8", "replace"))
            print(cli.stdout.decode().strip())
            if cli.returncode != 0:
                fail(f"ws_interop_client exit {cli.returncode}", echo)
            # What the real peer saw: our masked frames and close codes as ws parsed them.
            for n, code, reason in ((1, 1000, "bye"), (2, 4001, ""), (3, 1005, "")):
                echo.wait_line(rf'#{n} closed code={code} reason={re.escape(json.dumps(reason))}',
                               "err", 5)
            echo.wait_line(r"#1 open from 127\.0\.0\.1:\d+ path=/ndt/v7/echo "
                           r"protocol=net\.measurementlab\.ndt\.v7", "err", 1)
            errs = [l for l in echo.err if " error: " in l]
            if errs:
                fail("the echo server reported errors: " + "".join(errs), echo)
            ok = True
        finally:
            echo.stop()
        print("PASS client-side interop (" + ("wss" if a.tls else "ws") +
              f", {time.monotonic() - t0:.1f} s)" if ok else "")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("role", choices=["server-side", "client-side"])
    ap.add_argument("--server")
    ap.add_argument("--client")
    ap.add_argument("--node", default=shutil.which("node") or "node")
    ap.add_argument("--tls", action="store_true")
    a = ap.parse_args()
    if not os.path.isdir(os.path.join(PEERS, "node_modules", "ws")):
        print(f"FAIL: {PEERS}/node_modules/ws missing (npm ci in tests/peers)")
        return 1
    if a.role == "server-side":
        if not a.server:
            ap.error("--server is required")
        server_side(a)
    else:
        if not a.client:
            ap.error("--client is required")
        client_side(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
