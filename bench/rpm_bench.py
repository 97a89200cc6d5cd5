#!/usr/bin/env python3
"""Responsiveness server cost on loopback: server CPU seconds per GB and
throughput of the large download and the upload over HTTP/2 with TLS (h2)
and cleartext (h2c), measured in the same run as ndt7 wss/ws download and
upload against the same server process. Prints a table and the issue's
ratios (h2 <= 1.2x ndt7 wss, h2c <= 1.2x ndt7 ws). A report, not a test.

Usage: bench/rpm_bench.py [BUILD_DIR] [--reps N] [--duration S] [--floor]
                         [--server-flag=FLAG]... [--only NAME[,NAME...]]
                         [--compare OTHER_BUILD_DIR]

BUILD_DIR (default build-bench) must hold a Release netpulse-server and
libnetpulse.a (ndt7_bench.py's load driver is compiled from it). The HTTP/2
client is curl (one connection, one stream, like one load flow); the ndt7
client is ndt7_bench.py's driver. Server CPU is its utime+stime around each
transfer, so the other load on the machine moves rates more than CPU/GB.
--floor adds bench/frame_floor (compiled with cc): a bare blocking receiver
discarding an upload in 1 MiB pieces (ndt7's way) and in 16 KiB HTTP/2
frames (curl's frame size), its own CPU per GB, in the same run.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndt7_bench as nb  # noqa: E402


def run_h2(m, base, tls, what, duration):
    curl = ["curl", "-sS", "--http2", "-k"] if tls else ["curl", "-sS", "--http2-prior-knowledge"]
    cfg = subprocess.run(curl + [base + "/.well-known/nq"], capture_output=True, text=True)
    urls = json.loads(cfg.stdout)["urls"]
    if what == "download":
        cmd = curl + ["-m", str(duration), "-o", "/dev/null", "-w", "%{size_download}",
                      urls["large_download_url"]]
    else:
        cmd = curl + ["-m", str(duration), "-X", "POST", "-T", "/dev/zero", "-o", "/dev/null",
                      "-w", "%{size_upload}", urls["upload_url"]]
    p, cpu, wall = m.run(cmd, duration + 20)
    try:
        nbytes = int(p.stdout.strip() or 0)
    except ValueError:
        nbytes = 0
    if nbytes <= 0:
        return {"ok": False, "error": p.stderr[-300:], "server_cpu_s": cpu}
    return {"ok": True, "bytes": nbytes, "seconds": wall, "gbps": 8 * nbytes / wall / 1e9,
            "server_cpu_s": cpu}


def build_floor(build):
    exe = os.path.join(build, "bench", "frame_floor")
    os.makedirs(os.path.dirname(exe), exist_ok=True)
    subprocess.run([os.environ.get("CC", "cc"), "-std=c17", "-O2", "-Wall", "-Wextra", "-Werror",
                    "-D_GNU_SOURCE", "-o", exe, os.path.join(nb.SRC, "bench", "frame_floor.c")],
                   check=True)
    return exe


def run_floor(exe, mode, duration):
    """bench/frame_floor: a bare blocking receiver, its own CPU per GB."""
    p = subprocess.run([exe, str(duration), mode], capture_output=True, text=True,
                       timeout=duration + 30)
    j = nb.last_json_line(p.stdout)
    if p.returncode != 0 or not j:
        return {"ok": False, "error": p.stderr[-300:]}
    return {"ok": True, "bytes": j["bytes"], "seconds": j["seconds"],
            "gbps": 8 * j["bytes"] / j["seconds"] / 1e9, "server_cpu_s": j["cpu_s"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", nargs="?", default="build-bench")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--server-flag", action="append", default=[],
                    help="extra netpulse-server flag (repeatable), e.g. --rpm-notsent-lowat=0")
    ap.add_argument("--floor", action="store_true",
                    help="also run bench/frame_floor: a bare receiver discarding 1 MiB pieces, "
                    "16 KiB frames with MSG_TRUNC, and 16 KiB frames read by copying")
    ap.add_argument("--compare", metavar="BUILD_DIR",
                    help="also run the HTTP/2 cases against a second netpulse-server (e.g. a "
                    "build of the previous commit), interleaved in the same run")
    ap.add_argument("--only", help="run only the cases whose name contains one of these "
                    "comma-separated strings, e.g. 'ws upload,h2c upload'")
    a = ap.parse_args()
    build = a.build if os.path.isabs(a.build) else os.path.join(nb.SRC, a.build)
    server_bin = os.path.join(build, "netpulse-server")
    if not os.path.exists(server_bin):
        sys.exit("rpm_bench: %s missing; build first (see bench/README.md)" % server_bin)
    driver = nb.build_driver(build)
    tmp = tempfile.mkdtemp(prefix="netpulse-rpm-bench-")
    servers = []  # (label, process, ws port, wss port)

    def start(label, binary):
        ws, wss = nb.free_port(), nb.free_port()
        log = open(os.path.join(tmp, "server%d.log" % len(servers)), "w")
        p = subprocess.Popen([binary, "--http-addr", "127.0.0.1:%d" % ws,
                              "--https-addr", "127.0.0.1:%d" % wss, "--tls-self-signed",
                              "--datadir", os.path.join(tmp, "data%d" % len(servers)),
                              "--health-addr", "", "--prometheus-addr", "",
                              "--log-level", "warn"] + a.server_flag, stdout=log, stderr=log)
        servers.append((label, p, ws, wss))
        nb.wait_listening(ws, p)
        nb.wait_listening(wss, p)

    def h2_cases(label, p, ws, wss):
        m = nb.Measure(p.pid)
        sfx = " " + label if label else ""
        return [(name + sfx, (lambda base=base, tls=tls, what=what:
                              run_h2(m, base, tls, what, a.duration)))
                for name, base, tls, what in (
                    ("h2c download", "http://127.0.0.1:%d" % ws, False, "download"),
                    ("h2c upload", "http://127.0.0.1:%d" % ws, False, "upload"),
                    ("h2 download", "https://127.0.0.1:%d" % wss, True, "download"),
                    ("h2 upload", "https://127.0.0.1:%d" % wss, True, "upload"))]

    try:
        start("", server_bin)
        if a.compare:
            other = a.compare if os.path.isabs(a.compare) else os.path.join(nb.SRC, a.compare)
            start("(compare)", os.path.join(other, "netpulse-server"))
        _, srv, ws, wss = servers[0]
        m = nb.Measure(srv.pid)
        ndt7 = [
            ("ndt7 ws download", lambda: nb.run_ndt7(m, driver, ws, "ws", "download")),
            ("ndt7 ws upload", lambda: nb.run_ndt7(m, driver, ws, "ws", "upload")),
            ("ndt7 wss download", lambda: nb.run_ndt7(m, driver, wss, "wss", "download")),
            ("ndt7 wss upload", lambda: nb.run_ndt7(m, driver, wss, "wss", "upload")),
        ]
        h2 = [h2_cases(*sv) for sv in servers]
        # ndt7 and HTTP/2 cases of one direction and transport side by side
        cases = []
        for i, c in enumerate(ndt7):
            cases.append(c)
            cases += [cs[i] for cs in h2]
        if a.floor:
            floor = build_floor(build)
            cases += [("floor upload " + mode, (lambda mode=mode: run_floor(floor, mode, a.duration)))
                      for mode in ("trunc1m", "frames", "copy64k")]
        if a.only:
            cases = [c for c in cases if any(o and o in c[0] for o in a.only.split(","))]
        res = {name: [] for name, _ in cases}
        for rep in range(a.reps):
            for name, fn in cases:  # interleaved, so drift hits every case alike
                r = fn()
                res[name].append(r)
                nb.log("rep %d %-23s %s" % (rep + 1, name, "%.2f Gbit/s %.3f s/GB" %
                                              (r["gbps"], nb.per_gb(r)) if r.get("ok") else
                                              "FAILED " + str(r.get("error"))))
    finally:
        for _, p, _, _ in servers:
            p.terminate()
            p.wait()
    print("%-23s %12s %14s" % ("case", "Gbit/s", "server s/GB"))
    med = {}
    for name, rs in res.items():
        ok = [r for r in rs if r.get("ok")]
        g = nb.median([r["gbps"] for r in ok]) if ok else None
        c = nb.median([nb.per_gb(r) for r in ok]) if ok else None
        med[name] = c
        print("%-23s %12s %14s" % (name, nb.fmt(g, ".2f"), nb.fmt(c, ".3f")))
    print()
    for h2, nd, target in (("h2c download", "ndt7 ws download", 1.2),
                           ("h2c upload", "ndt7 ws upload", 1.2),
                           ("h2 download", "ndt7 wss download", 1.2),
                           ("h2 upload", "ndt7 wss upload", 1.2)):
        if med.get(h2) and med.get(nd):
            r = med[h2] / med[nd]
            print("%-13s CPU/GB vs %-18s %.2fx (target <= %.1f): %s" %
                  (h2, nd, r, target, "PASS" if r <= target else "FAIL"))
        else:
            print("%-13s vs %-18s: no figure" % (h2, nd))
        if med.get(h2 + " (compare)") and med.get(nd):
            print("%-13s CPU/GB vs %-18s %.2fx (the --compare server)" %
                  (h2, nd, med[h2 + " (compare)"] / med[nd]))
    base = med.get("floor upload trunc1m")
    for mode in ("frames", "copy64k"):
        if base and med.get("floor upload " + mode):
            print("floor upload %-8s vs floor upload trunc1m  %.2fx (16 KiB frames at best)" %
                  (mode, med["floor upload " + mode] / base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
