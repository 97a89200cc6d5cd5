#!/usr/bin/env python3
"""Is the netpulse RPM client ever the bottleneck? On loopback over h2c, in
one run against one netpulse-server: the server's limit with h2load (16
connections, one endless large download or repeated 64 MiB upload each),
then `netpulse rpm` forced to 16 flows per direction; the client's goodput
must be >= h2load's, and its CPU seconds per GB are reported. A report,
not a test.

Usage: bench/rpm_client_bench.py [BUILD_DIR] [--reps N] [--duration S]

BUILD_DIR (default build-bench) holds a Release netpulse-server and netpulse.
The client runs with --rpm-interval 250ms --rpm-sdt 0.001 (goodput never
"stable", so it ramps to 16 flows in 4 s) --rpm-mad 8 (its throughput is
the median of its last 8 two-second moving averages, all at 16 flows) and --rpm-max-duration
(duration + 4) s per direction. Client CPU = its utime+stime (getrusage of
the child); bytes = the wire bytes of every connection in the server's
responsiveness1 record of that measurement.
"""

import argparse
import glob
import json
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def config(port):
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge",
                          "http://127.0.0.1:%d/.well-known/nq" % port],
                         capture_output=True, text=True, timeout=10).stdout
    return json.loads(out)["urls"]


def h2load(url, duration, body=None):
    argv = ["h2load", "-c", "16", "-m", "1", "-D", str(duration), "--warm-up-time", "1"]
    if body:
        argv += ["-d", body]
    p = subprocess.run(argv + [url], capture_output=True, text=True, timeout=duration + 60)
    if body:
        m = re.search(r"requests: \d+ total, \d+ started, (\d+) done", p.stdout)
        nbytes = int(m.group(1)) * os.path.getsize(body) if m else 0
    else:
        m = re.search(r"traffic: \S+ \((\d+)\) total", p.stdout)
        nbytes = int(m.group(1)) if m else 0
    return 8 * nbytes / duration / 1e6  # Mbit/s over the main duration


def records(datadir):
    return sorted(glob.glob(os.path.join(datadir, "responsiveness1", "*", "*", "*", "*.json")))


def client_record(datadir, seen):
    """The newest record with a client summary that was not seen before."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for path in reversed(records(datadir)):
            if path in seen:
                continue
            with open(path) as f:
                rec = json.load(f)
            if rec.get("ClientSummary"):
                seen.add(path)
                return rec
        time.sleep(0.25)
    return {}


def run_client(client, port, duration, datadir, direction, seen):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run([client, "rpm", "--server", "127.0.0.1:%d" % port, "--scheme", "http",
                        "--" + direction, "--json", "-q", "--accept-data-policy",
                        "--rpm-interval", "250ms", "--rpm-sdt", "0.001", "--rpm-mad", "8",
                        "--rpm-idle-duration", "500ms", "--rpm-max-duration",
                        "%ds" % (duration + 4)],
                       capture_output=True, text=True, timeout=4 * duration + 120)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    res = json.loads(p.stdout)
    # The server writes the record once the measurement's connections are
    # gone for its grace period.
    rec = client_record(datadir, seen)
    wire = sum(c.get("WireBytesSent", 0) + c.get("WireBytesReceived", 0)
               for c in rec.get("Connections", []))
    ph = res["Download" if direction == "download" else "Upload"]
    return {"mbps": ph["ThroughputMbps"], "flows": ph["Flows"], "cpu_s": cpu, "wall_s": wall,
            "gb": wire / 1e9}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", nargs="?", default="build-bench")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--duration", type=int, default=6)
    a = ap.parse_args()
    build = a.build if os.path.isabs(a.build) else os.path.join(SRC, a.build)
    server_bin, client_bin = (os.path.join(build, n) for n in ("netpulse-server", "netpulse"))
    for b in (server_bin, client_bin):
        if not os.path.exists(b):
            sys.exit("rpm_client_bench: %s missing; build first (see bench/README.md)" % b)
    tmp = tempfile.mkdtemp(prefix="netpulse-rpm-client-bench-")
    body = os.path.join("/dev/shm" if os.path.isdir("/dev/shm") else tmp, "np-bench-upload.bin")
    with open(body, "wb") as f:
        f.write(b"\0" * (64 << 20))
    port, datadir = free_port(), os.path.join(tmp, "data")
    log = open(os.path.join(tmp, "server.log"), "w")
    srv = subprocess.Popen([server_bin, "--http-addr", "127.0.0.1:%d" % port, "--https-addr", "",
                            "--datadir", datadir, "--health-addr", "", "--prometheus-addr", "",
                            "--log-level", "warn"], stdout=log, stderr=log)
    rows, seen = [], set()
    try:
        time.sleep(0.5)
        for rep in range(a.reps):
            for direction in ("download", "upload"):
                # Alternate who goes first: the machine's load drifts.
                def limit():
                    urls = config(port)
                    if direction == "download":
                        return h2load(urls["large_download_url"], a.duration)
                    return h2load(urls["upload_url"], a.duration, body)
                if rep % 2 == 0:
                    lim = limit()
                    c = run_client(client_bin, port, a.duration, datadir, direction, seen)
                else:
                    c = run_client(client_bin, port, a.duration, datadir, direction, seen)
                    lim = limit()
                rows.append((rep + 1, direction, lim, c))
                print("rep %d %s: h2load %.0f Mbit/s | netpulse rpm %.0f Mbit/s (%d flows), "
                      "CPU %.2f s in %.1f s for %.2f GB" %
                      (rep + 1, direction, lim, c["mbps"], c["flows"], c["cpu_s"], c["wall_s"],
                       c["gb"]), flush=True)
    finally:
        srv.terminate()
        srv.wait(timeout=30)
        os.unlink(body)
    print("\nnetpulse RPM client vs the server's limit (h2load, 16 connections), loopback h2c")
    print("machine: nproc=%d kernel=%s" % (os.cpu_count(), os.uname().release))
    print("%-4s %-9s %12s %12s %7s %6s %11s %9s" % ("rep", "direction", "h2load Mb/s",
                                                   "client Mb/s", "ratio", "flows",
                                                   "client s/GB", "client %"))
    ok = True
    for rep, d, lim, c in rows:
        r = c["mbps"] / lim if lim else 0
        ok = ok and r >= 1 and c["flows"] == 16
        print("%-4d %-9s %12.0f %12.0f %7.2f %6d %11.3f %8.0f%%" %
              (rep, d, lim, c["mbps"], r, c["flows"], c["cpu_s"] / c["gb"] if c["gb"] else 0,
               100 * c["cpu_s"] / c["wall_s"]))
    for d in ("download", "upload"):
        rs = sorted(c["mbps"] / lim for _, dd, lim, c in rows if dd == d and lim)
        med = rs[len(rs) // 2] if len(rs) % 2 else sum(rs[len(rs) // 2 - 1:len(rs) // 2 + 1]) / 2
        cpu = sorted(c["cpu_s"] / c["gb"] for _, dd, _, c in rows if dd == d and c["gb"])
        print("%-8s median client/h2load %.2f (target >= 1): %s; client CPU %.3f s/GB (median)" %
              (d, med, "PASS" if med >= 1 else "FAIL", cpu[len(cpu) // 2] if cpu else 0))
    print("every run >= 1 with 16 flows: %s" % ("yes" if ok else "no"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
