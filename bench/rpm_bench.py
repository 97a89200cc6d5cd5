#!/usr/bin/env python3
"""Responsiveness server cost on loopback: server CPU seconds per GB and
throughput of the large download and the upload over HTTP/2 with TLS (h2)
and cleartext (h2c), measured in the same run as ndt7 wss/ws download and
upload against the same server process. Prints a table and the issue's
ratios (h2 <= 1.2x ndt7 wss, h2c <= 1.2x ndt7 ws). A report, not a test.

Usage: bench/rpm_bench.py [BUILD_DIR] [--reps N] [--duration S] [--floor]
                         [--server-flag=FLAG]... [--only NAME[,NAME...]]
                         [--client both|curl|np|npcopy]
                         [--compare OTHER_BUILD_DIR]

BUILD_DIR (default build-bench) must hold a Release netpulse-server and
libnetpulse.a (ndt7_bench.py's load driver and bench/h2_load are compiled
from it). Each HTTP/2 case runs with two clients, one connection and one
stream each, like one load flow: "np" is bench/h2_load, netpulse's own
HTTP/2 client code (src/h2/client.c, as `netpulse rpm` uses it; frames as
large as the server allows, like ndt7's 1 MiB messages; a cleartext
download drops DATA payload in the kernel, as ndt7's driver drops its
messages), "curl" is curl (16 KiB upload frames, kept for reference);
--client picks one; "npcopy" is h2_load reading every byte, for reference. The ndt7
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
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndt7_bench as nb  # noqa: E402


def config_urls(base, tls):
    curl = ["curl", "-sS", "--http2", "-k"] if tls else ["curl", "-sS", "--http2-prior-knowledge"]
    cfg = subprocess.run(curl + [base + "/.well-known/nq"], capture_output=True, text=True)
    return curl, json.loads(cfg.stdout)["urls"]


def run_h2(m, base, tls, what, duration):
    curl, urls = config_urls(base, tls)
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


def build_h2_load(build):
    """bench/h2_load: one load flow through src/h2/client.c (libnetpulse.a)."""
    exe = os.path.join(build, "bench", "h2_load")
    os.makedirs(os.path.dirname(exe), exist_ok=True)
    libs = subprocess.run(["pkg-config", "--libs", "libuv", "jansson", "libnghttp2", "openssl",
                           "zlib"], check=True, capture_output=True, text=True).stdout.split()
    subprocess.run([os.environ.get("CC", "cc"), "-std=c17", "-O2", "-Wall", "-Wextra", "-Werror",
                    "-D_GNU_SOURCE", "-I", os.path.join(nb.SRC, "src"), "-I",
                    os.path.join(nb.SRC, "include"), "-o", exe,
                    os.path.join(nb.SRC, "bench", "h2_load.c"), os.path.join(build, "libnetpulse.a")]
                   + libs + ["-lpthread", "-lm"], check=True)
    return exe


def run_own(m, exe, base, tls, what, duration, copy=False):
    """The large download or the upload driven by netpulse's own HTTP/2 client
    (copy: reading every byte instead of dropping download payload)."""
    _, urls = config_urls(base, tls)
    u = urllib.parse.urlsplit(urls["large_download_url" if what == "download" else "upload_url"])
    path = u.path + ("?" + u.query if u.query else "")
    cmd = [exe, "%s:%d" % (u.hostname, u.port), "tls" if tls else "plain", what, u.netloc, path,
           str(duration)] + (["copy"] if copy else [])
    p, cpu, wall = m.run(cmd, duration + 20)
    j = nb.last_json_line(p.stdout)
    if p.returncode != 0 or not j or not j.get("ok"):
        return {"ok": False, "error": (p.stdout + p.stderr)[-300:], "server_cpu_s": cpu}
    return {"ok": True, "bytes": j["bytes"], "seconds": j["seconds"],
            "gbps": 8 * j["bytes"] / j["seconds"] / 1e9, "server_cpu_s": cpu}


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def rss_cost(pid, own, base, tls, what, kind, n, duration):
    """Server RSS growth with n concurrent load flows of one kind (KiB), sampled
    at mid-run: what each connection's buffers (nghttp2's frame buffer grows to
    the largest DATA frame it sends) cost in memory."""
    before = vm_rss_kib(pid)
    procs = []
    for _ in range(n):
        curl, urls = config_urls(base, tls)
        u = urls["large_download_url" if what == "download" else "upload_url"]
        if kind == "curl":
            cmd = curl + ["-m", str(duration), "-o", "/dev/null"] + (
                [u] if what == "download" else ["-X", "POST", "-T", "/dev/zero", u])
        else:
            s = urllib.parse.urlsplit(u)
            cmd = [own, "%s:%d" % (s.hostname, s.port), "tls" if tls else "plain", what, s.netloc,
                   s.path + ("?" + s.query if s.query else ""), str(duration)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(duration / 2)
    during = vm_rss_kib(pid)
    for p in procs:
        p.wait()
    return during - before


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
    ap.add_argument("--client", choices=("both", "curl", "np", "npcopy"), default="both",
                    help="HTTP/2 client: curl, netpulse's own (bench/h2_load over "
                    "src/h2/client.c), or both (default); npcopy: h2_load reading every "
                    "byte of a download")
    ap.add_argument("--rss", type=int, metavar="N",
                    help="instead of the CPU cases: server RSS growth with N concurrent large "
                    "downloads and N uploads, per client kind and transport")
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

    own = build_h2_load(build) if a.client != "curl" else None

    def h2_cases(label, p, ws, wss):
        m = nb.Measure(p.pid)
        sfx = " " + label if label else ""
        kinds = [k for k in ("curl", "np", "npcopy") if a.client == k or
                 (a.client == "both" and k != "npcopy")]
        per_ndt7 = []  # one list per ndt7 case, in ndt7's order
        for name, base, tls, what in (
                ("h2c download", "http://127.0.0.1:%d" % ws, False, "download"),
                ("h2c upload", "http://127.0.0.1:%d" % ws, False, "upload"),
                ("h2 download", "https://127.0.0.1:%d" % wss, True, "download"),
                ("h2 upload", "https://127.0.0.1:%d" % wss, True, "upload")):
            per_ndt7.append([
                ("%s %s%s" % (name, k, sfx),
                 (lambda base=base, tls=tls, what=what: run_h2(m, base, tls, what, a.duration))
                 if k == "curl" else
                 (lambda base=base, tls=tls, what=what, k=k: run_own(
                     m, own, base, tls, what, a.duration, k == "npcopy")))
                for k in kinds])
        return per_ndt7

    try:
        start("", server_bin)
        if a.compare:
            other = a.compare if os.path.isabs(a.compare) else os.path.join(nb.SRC, a.compare)
            start("(compare)", os.path.join(other, "netpulse-server"))
        _, srv, ws, wss = servers[0]
        if a.rss:
            own = own or build_h2_load(build)
            for tls in (False, True):
                for what in ("download", "upload"):
                    for kind in ("curl", "np"):
                        start("(rss)", server_bin)  # a fresh heap for each figure
                        _, sp, sws, swss = servers[-1]
                        base = ("https://127.0.0.1:%d" % swss if tls else
                                "http://127.0.0.1:%d" % sws)
                        config_urls(base, tls)  # warm: TLS and first-request allocations
                        d = rss_cost(sp.pid, own, base, tls, what, kind, a.rss, a.duration)
                        print("%-4s %-8s %-4s x%d: server RSS +%d KiB (%.0f KiB per connection)" %
                              ("h2" if tls else "h2c", what, kind, a.rss, d, d / a.rss),
                              flush=True)
                        sp.terminate()
                        sp.wait()
            return 0
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
            for cs in h2:
                cases += cs[i]
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
                nb.log("rep %d %-28s %s" % (rep + 1, name, "%.2f Gbit/s %.3f s/GB" %
                                              (r["gbps"], nb.per_gb(r)) if r.get("ok") else
                                              "FAILED " + str(r.get("error"))))
    finally:
        for _, p, _, _ in servers:
            p.terminate()
            p.wait()
    print("%-28s %12s %14s" % ("case", "Gbit/s", "server s/GB"))
    med = {}
    for name, rs in res.items():
        ok = [r for r in rs if r.get("ok")]
        g = nb.median([r["gbps"] for r in ok]) if ok else None
        c = nb.median([nb.per_gb(r) for r in ok]) if ok else None
        med[name] = c
        print("%-28s %12s %14s" % (name, nb.fmt(g, ".2f"), nb.fmt(c, ".3f")))
    print()
    for h2, nd in (("h2c download", "ndt7 ws download"), ("h2c upload", "ndt7 ws upload"),
                   ("h2 download", "ndt7 wss download"), ("h2 upload", "ndt7 wss upload")):
        for kind in ("np", "npcopy", "curl"):
            name = h2 + " " + kind
            if name not in med:
                continue
            if med.get(name) and med.get(nd):
                r = med[name] / med[nd]
                print("%-18s CPU/GB vs %-18s %.2fx (target <= 1.2): %s" %
                      (name, nd, r, "PASS" if r <= 1.2 else "FAIL"))
            else:
                print("%-18s vs %-18s: no figure" % (name, nd))
            if med.get(name + " (compare)") and med.get(nd):
                print("%-18s CPU/GB vs %-18s %.2fx (the --compare server)" %
                      (name, nd, med[name + " (compare)"] / med[nd]))
    base = med.get("floor upload trunc1m")
    for mode in ("frames", "copy64k"):
        if base and med.get("floor upload " + mode):
            print("floor upload %-8s vs floor upload trunc1m  %.2fx (16 KiB frames at best)" %
                  (mode, med["floor upload " + mode] / base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
