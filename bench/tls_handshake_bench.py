#!/usr/bin/env python3
"""Server CPU per TLS handshake: netpulse-server against `openssl s_server`
(the same OpenSSL, a P-256 key as --tls-self-signed makes) in the same run.

goresponsiveness opens a new TLS connection for every foreign probe (up to
100 a second), so a server's handshake cost is part of its CPU per GB under
that load (issue 16, bench/README.md). This measures whether netpulse's share
of it is above OpenSSL's own: N sequential handshakes from one Python client
(TLS 1.3, ALPN h2; for netpulse the HTTP/2 preface and the server's first
frames, as a probe's connection would start), server utime+stime from
/proc/<pid>/stat around them. A report, not a test.

Usage: bench/tls_handshake_bench.py [BUILD_DIR] [--count N] [--reps R]
BUILD_DIR (default build-bench): holds netpulse-server (Release).
"""

import argparse
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndt7_bench as nb  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def handshakes(port, count, h2):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle stall
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                if h2:
                    t.sendall(PREFACE)
                    t.recv(100)


def measure(proc, port, count, h2):
    c0 = nb.proc_cpu_s(proc.pid)
    t0 = time.monotonic()
    handshakes(port, count, h2)
    wall = time.monotonic() - t0
    time.sleep(0.3)
    return (nb.proc_cpu_s(proc.pid) - c0) / count * 1e6, count / wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", nargs="?", default="build-bench")
    ap.add_argument("--count", type=int, default=2000, help="handshakes per case and repetition")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    build = a.build if os.path.isabs(a.build) else os.path.join(nb.SRC, a.build)
    server_bin = os.path.join(build, "netpulse-server")
    if not os.path.exists(server_bin):
        sys.exit("tls_handshake_bench: %s missing; build first (bench/README.md)" % server_bin)
    tmp = tempfile.mkdtemp(prefix="netpulse-tls-hs-")
    key, cert = os.path.join(tmp, "key.pem"), os.path.join(tmp, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True)
    ws, wss, sp = nb.free_port(), nb.free_port(), nb.free_port()
    log = open(os.path.join(tmp, "server.log"), "w")
    srv = subprocess.Popen([server_bin, "--http-addr", "127.0.0.1:%d" % ws, "--https-addr",
                            "127.0.0.1:%d" % wss, "--tls-self-signed", "--datadir",
                            os.path.join(tmp, "data"), "--health-addr", "",
                            "--prometheus-addr", "", "--log-level", "warn"],
                           stdout=log, stderr=log)
    ref = subprocess.Popen(["openssl", "s_server", "-quiet", "-accept", str(sp), "-cert", cert,
                            "-key", key, "-alpn", "h2"], stdin=subprocess.PIPE,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    res = {"netpulse-server": [], "openssl s_server": []}
    try:
        nb.wait_listening(wss, srv)
        nb.wait_listening_passive(sp, ref)
        print("netpulse tls_handshake_bench  %s  nproc=%s  %s" % (
            time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), os.cpu_count(),
            ssl.OPENSSL_VERSION))
        for rep in range(a.reps):  # interleaved: drift hits both alike
            for name, proc, port, h2 in (("netpulse-server", srv, wss, True),
                                         ("openssl s_server", ref, sp, False)):
                us, rate = measure(proc, port, a.count, h2)
                res[name].append(us)
                nb.log("rep %d %-18s %.0f us/handshake (%.0f/s)" % (rep + 1, name, us, rate))
    finally:
        for p in (srv, ref):
            p.kill()
            p.wait()
    print("%-18s %s" % ("server", "CPU us per handshake (median of %d x %d)" % (a.reps, a.count)))
    med = {k: nb.median(v) for k, v in res.items()}
    for k, v in med.items():
        print("%-18s %.0f" % (k, v))
    print("netpulse-server / openssl s_server: %.2fx" % (
        med["netpulse-server"] / med["openssl s_server"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
