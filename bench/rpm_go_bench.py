#!/usr/bin/env python3
"""netpulse-server under a goresponsiveness-like load (issue 16): the Go
x/net HTTP/2 load client of the interop tests (tests/peers/h2load_go: 4
load connections, a foreign probe on a new TLS connection and a self probe
every 10 ms) against one server. A report, not a test.

cpu (default): server CPU seconds per GB of the Go client's download and
upload over TLS (h2), with and without its probes, interleaved in the same
run with ndt7 wss download and upload (ndt7_bench.py's driver) against the
same server process; prints the ratios (target <= 1.2x ndt7 wss). Bytes
are counted alike on both sides: what the client read (download) or what
its transport accepted (upload).

memory (--memory): N back-to-back Go client runs (sequential download and
upload, probes on) against one server; after each run's record is written,
the server's VmRSS and VmHWM. Target: peak <= 64 MB, and after the third
run flat within +-4 MB.

--netns (CPU mode, root): server and clients in two network namespaces on
separate CPUs, so the server is not charged for the client's TCP work as
it is on loopback (netns_up).

Usage: bench/rpm_go_bench.py [BUILD_DIR] [--reps N] [--duration S]
                             [--netns [--mtu N]] [--memory] [--runs N]
                             [--server-flag=FLAG]...
BUILD_DIR (default build-bench): a Release build (netpulse-server,
libnetpulse.a for the ndt7 driver). The Go client is built into
BUILD_DIR/bench/np_goh2 with Debian's go and x/net, offline.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndt7_bench as nb  # noqa: E402

MB = 1 << 20


def build_go(build):
    """go build in GOPATH mode against /usr/share/gocode: nothing fetched."""
    exe = os.path.join(build, "bench", "np_goh2")
    os.makedirs(os.path.dirname(exe), exist_ok=True)
    subprocess.run(["env", "-i", "PATH=/usr/bin:/bin", "GO111MODULE=off",
                    "GOPATH=/usr/share/gocode", "GOCACHE=" + os.path.join(build, "gocache"),
                    "GOPROXY=off", "GOFLAGS=", "GOENV=off", "CGO_ENABLED=0",
                    "go", "build", "-o", exe, "."],
                   cwd=os.path.join(nb.SRC, "tests", "peers", "h2load_go"), check=True)
    return exe


def run_go(m, exe, wss, mode, duration, probes=True):
    """One Go client run (-mode download or upload); bytes from its summary."""
    cmd = [exe, "-config", "https://%s:%d/.well-known/nq" % (nb.HOST, wss), "-insecure",
           "-mode", mode, "-seconds", str(duration), "-no-result"]
    if not probes:
        cmd += ["-probe-ms", str(3600 * 1000)]
    p, cpu, wall = m.run(cmd, duration + 60)
    j = nb.last_json_line(p.stdout)
    ph = (j or {}).get(mode)
    if j and j.get("goaways"):  # idle probe connections closed by the server: fine
        idle = ("probe NO_ERROR", "probe NO_ERROR idle probe connection")
        j["goaways"] = {k: v for k, v in j["goaways"].items() if k not in idle}
    bad = [k for k in ("goaways", "statuses", "errors") if (j or {}).get(k)]
    if p.returncode != 0 or not ph or bad or ph["flows_ok"] != ph["flows"]:
        return {"ok": False, "server_cpu_s": cpu,
                "error": ({k: j[k] for k in bad} if j else (p.stdout + p.stderr)[-300:])}
    return {"ok": True, "bytes": ph["bytes"], "seconds": ph["seconds"],
            "gbps": 8 * ph["bytes"] / ph["seconds"] / 1e9, "server_cpu_s": cpu,
            "probes": ph["foreign_probes"]["ok"] + ph["self_probes"]["ok"]}


NS_SERVER, NS_CLIENT = "np-bench-s", "np-bench-c"
NS_ADDR = "10.77.0.1"


def netns_up(mtu):
    """--netns: the server in one network namespace on CPU 0, every client
    in another on CPU 1, joined by a veth pair, with RPS steering each
    side's received packets to its own CPU. On loopback the softirq that
    delivers the server's ACK runs in the server's context and goes on to
    transmit for the client (tcp_write_xmit of the client's socket), so
    part of the client's TCP send work is charged to the server, by
    scheduling: bench/README.md measured 0 to 180 ms/GB of it. Here the
    server pays for what it receives and sends, as it would with the
    client on another machine. veth MTU 1500 with its offloads, as a
    fleet server's NIC."""
    netns_down()
    for cmd in (["ip", "netns", "add", NS_SERVER], ["ip", "netns", "add", NS_CLIENT],
                ["ip", "link", "add", "np-bench-vs", "type", "veth", "peer", "name", "np-bench-vc"],
                ["ip", "link", "set", "np-bench-vs", "netns", NS_SERVER],
                ["ip", "link", "set", "np-bench-vc", "netns", NS_CLIENT],
                ["ip", "-n", NS_SERVER, "addr", "add", NS_ADDR + "/24", "dev", "np-bench-vs"],
                ["ip", "-n", NS_CLIENT, "addr", "add", "10.77.0.2/24", "dev", "np-bench-vc"],
                ["ip", "-n", NS_SERVER, "link", "set", "np-bench-vs", "mtu", str(mtu), "up"],
                ["ip", "-n", NS_CLIENT, "link", "set", "np-bench-vc", "mtu", str(mtu), "up"],
                ["ip", "-n", NS_SERVER, "link", "set", "lo", "up"],
                ["ip", "-n", NS_CLIENT, "link", "set", "lo", "up"],
                ["ip", "netns", "exec", NS_SERVER, "sh", "-c",
                 "echo 1 > /sys/class/net/np-bench-vs/queues/rx-0/rps_cpus"],
                ["ip", "netns", "exec", NS_CLIENT, "sh", "-c",
                 "echo 2 > /sys/class/net/np-bench-vc/queues/rx-0/rps_cpus"]):
        subprocess.run(cmd, check=True)
    nb.HOST = NS_ADDR
    nb.CLIENT_WRAP = ["ip", "netns", "exec", NS_CLIENT, "taskset", "-c", "1"]
    return ["ip", "netns", "exec", NS_SERVER, "taskset", "-c", "0"]


def netns_down():
    for ns in (NS_SERVER, NS_CLIENT):
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


def wait_listening(port, proc):
    if not nb.CLIENT_WRAP:
        return nb.wait_listening(port, proc)
    probe = "import socket; socket.create_connection(('%s', %d), 0.5)" % (nb.HOST, port)
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        if subprocess.run(nb.CLIENT_WRAP + ["python3", "-c", probe],
                          stderr=subprocess.DEVNULL).returncode == 0:
            return
        time.sleep(0.05)
    raise RuntimeError("nothing listens on %s:%d" % (nb.HOST, port))


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def records(datadir):
    n = 0
    for _, _, files in os.walk(os.path.join(datadir, "responsiveness1")):
        n += len([f for f in files if not f.startswith(".")])
    return n


def memory(exe, srv, datadir, wss, runs, duration):
    print("after a run and its record:")
    print("run  records  VmRSS MB  VmHWM MB  Mbit/s down/up  probes ok/attempted  refusals")
    rss = []
    start = sampled = status_kib(srv.pid, "VmRSS") / 1024
    print("%3s  %7d  %8.1f  %8.1f" % ("0", 0, start, status_kib(srv.pid, "VmHWM") / 1024))
    for i in range(1, runs + 1):
        p = subprocess.Popen([exe, "-config", "https://127.0.0.1:%d/.well-known/nq" % wss,
                              "-insecure", "-seconds", str(duration)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
        # VmHWM is updated lazily by the kernel (it can read lower than an
        # earlier VmRSS), so the peak is also sampled every 100 ms.
        deadline = time.monotonic() + 30 + 2 * duration
        while p.poll() is None and time.monotonic() < deadline:
            sampled = max(sampled, status_kib(srv.pid, "VmRSS") / 1024)
            time.sleep(0.1)
        out = p.communicate(timeout=30)[0]
        j = nb.last_json_line(out) or {}
        deadline = time.monotonic() + 30  # the record: 5 s after the last connection
        while records(datadir) < i and time.monotonic() < deadline:
            sampled = max(sampled, status_kib(srv.pid, "VmRSS") / 1024)
            time.sleep(0.1)
        time.sleep(1)
        r, h = status_kib(srv.pid, "VmRSS") / 1024, status_kib(srv.pid, "VmHWM") / 1024
        sampled = max(sampled, r)
        rss.append(r)
        d, u = j.get("download") or {}, j.get("upload") or {}
        ok = sum(ph.get(k, {}).get("ok", 0) for ph in (d, u)
                 for k in ("foreign_probes", "self_probes"))
        att = sum(ph.get(k, {}).get("attempted", 0) for ph in (d, u)
                  for k in ("foreign_probes", "self_probes"))
        print("%3d  %7d  %8.1f  %8.1f  %6.0f/%-6.0f  %8d/%-8d  %s" % (
            i, records(datadir), r, h, d.get("mbps", 0), u.get("mbps", 0), ok, att,
            j.get("statuses") or "-"), flush=True)
    hwm = status_kib(srv.pid, "VmHWM") / 1024
    peak = max(hwm, sampled)
    print()
    print("peak %.1f MB (VmHWM %.1f, highest VmRSS sampled %.1f): %s (target <= 64 MB)" % (
        peak, hwm, sampled, "PASS" if peak <= 64 else "FAIL"))
    if len(rss) >= 4:
        drift = max(abs(x - rss[2]) for x in rss[3:])
        print("VmRSS after runs 4..%d vs after run 3: max drift %.1f MB: %s (target +-4 MB)" %
              (len(rss), drift, "PASS" if drift <= 4 else "FAIL"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", nargs="?", default="build-bench")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--memory", action="store_true", help="the probe-churn memory mode")
    ap.add_argument("--runs", type=int, default=5, help="memory mode: back-to-back runs")
    ap.add_argument("--server-flag", action="append", default=[])
    ap.add_argument("--netns", action="store_true",
                    help="CPU mode: server and clients in two network namespaces on separate "
                    "CPUs (root; see netns_up)")
    ap.add_argument("--mtu", type=int, default=1500, help="--netns: the veth pair's MTU")
    ap.add_argument("--compare", metavar="BUILD_DIR",
                    help="CPU mode: the same cases against this build's server too (before/after)")
    a = ap.parse_args()
    build = a.build if os.path.isabs(a.build) else os.path.join(nb.SRC, a.build)
    server_bin = os.path.join(build, "netpulse-server")
    if not os.path.exists(server_bin):
        sys.exit("rpm_go_bench: %s missing; build first (see bench/README.md)" % server_bin)
    exe = build_go(build)
    tmp = tempfile.mkdtemp(prefix="netpulse-rpm-go-bench-")
    datadir = os.path.join(tmp, "data")
    ws, wss = nb.free_port(), nb.free_port()
    log = open(os.path.join(tmp, "server.log"), "w")
    if a.netns and a.memory:
        sys.exit("rpm_go_bench: --netns is for the CPU mode")
    wrap = netns_up(a.mtu) if a.netns else []

    def start(binary, ws, wss, datadir):
        return subprocess.Popen(wrap + [binary, "--http-addr", "%s:%d" % (nb.HOST, ws),
                                 "--https-addr", "%s:%d" % (nb.HOST, wss), "--tls-self-signed",
                                 "--datadir", datadir, "--health-addr", "", "--prometheus-addr",
                                 "", "--log-level", "warn"] + a.server_flag, stdout=log, stderr=log)
    srv = start(server_bin, ws, wss, datadir)
    srv2 = None
    try:
        wait_listening(ws, srv)
        wait_listening(wss, srv)
        if a.compare and not a.memory:
            other = a.compare if os.path.isabs(a.compare) else os.path.join(nb.SRC, a.compare)
            ws2, wss2 = nb.free_port(), nb.free_port()
            srv2 = start(os.path.join(other, "netpulse-server"), ws2, wss2, datadir + "2")
            wait_listening(wss2, srv2)
        mach = nb.machine()
        print("netpulse rpm_go_bench  %s  %s" % (
            time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            " ".join("%s=%s" % (k, mach[k]) for k in ("nproc", "kernel", "cpu") if k in mach)))
        if a.netns:
            print("netns: server in %s on CPU 0, clients in %s on CPU 1, veth MTU %d, RPS"
                  % (NS_SERVER, NS_CLIENT, a.mtu))
        if a.memory:
            memory(exe, srv, datadir, wss, a.runs, a.duration)
            return 0
        driver = nb.build_driver(build)

        def server_cases(m, wss, sfx):
            return [
                ("ndt7 wss download" + sfx,
                 lambda: nb.run_ndt7(m, driver, wss, "wss", "download")),
                ("go h2 download" + sfx, lambda: run_go(m, exe, wss, "download", a.duration)),
                ("go h2 download noprobe" + sfx,
                 lambda: run_go(m, exe, wss, "download", a.duration, False)),
                ("ndt7 wss upload" + sfx,
                 lambda: nb.run_ndt7(m, driver, wss, "wss", "upload", upload_basis="client")),
                ("go h2 upload" + sfx, lambda: run_go(m, exe, wss, "upload", a.duration)),
                ("go h2 upload noprobe" + sfx,
                 lambda: run_go(m, exe, wss, "upload", a.duration, False)),
            ]
        cases = server_cases(nb.Measure(srv.pid), wss, "")
        if srv2:  # interleaved with this server's, case by case
            other = server_cases(nb.Measure(srv2.pid), wss2, " (compare)")
            cases = [c for pair in zip(cases, other) for c in pair]
        res = {name: [] for name, _ in cases}
        for rep in range(a.reps):
            for name, fn in cases:  # interleaved: drift hits every case alike
                r = fn()
                res[name].append(r)
                nb.log("rep %d %-24s %s" % (rep + 1, name, "%.2f Gbit/s %.3f s/GB" % (
                    r["gbps"], nb.per_gb(r)) if r.get("ok") else "FAILED " + str(r.get("error"))))
    finally:
        for p in (srv, srv2):
            if p:
                p.terminate()
                p.wait()
        if a.netns:
            netns_down()
    print("reps=%d, go client: 4 connections, %d s per case, probes every 10 ms "
          "(noprobe: load only)" % (a.reps, a.duration))
    print("%-24s %8s %8s %12s" % ("case", "Gbit/s", "GB", "server s/GB"))
    med = {}
    for name, rs in res.items():
        ok = [r for r in rs if r.get("ok")]
        med[name] = nb.median([nb.per_gb(r) for r in ok]) if ok else None
        print("%-24s %8s %8s %12s" % (
            name, nb.fmt(nb.median([r["gbps"] for r in ok]) if ok else None, ".2f"),
            nb.fmt(nb.median([r["bytes"] / 1e9 for r in ok]) if ok else None, ".2f"),
            nb.fmt(med[name], ".3f")))
    ok = [r for r in res.get("ndt7 wss upload", []) if r.get("ok") and r.get("server_bytes")]
    if ok and med.get("go h2 upload noprobe"):  # the basis of the figures before 2026-12-07 13:30
        old = nb.median([r["server_cpu_s"] / (r["server_bytes"] / 1e9) for r in ok])
        print("(ndt7 wss upload per byte of the server's last TCPInfo: %.3f s/GB; go h2 upload "
              "noprobe against it: %.2fx)" % (old, med["go h2 upload noprobe"] / old))
    print()
    for d, cmp in [(d, cmp) for cmp in ("", " (compare)") if cmp == "" or srv2
                   for d in ("download", "upload")]:
        base = med.get("ndt7 wss " + d + cmp)
        for sfx, target in (("", not cmp), (" noprobe", False)):
            name = "go h2 " + d + sfx + cmp
            if base and med.get(name):
                r = med[name] / base
                print("%-24s CPU/GB vs ndt7 wss %-8s %.2fx%s" % (
                    name, d, r, (" (target <= 1.2): " + ("PASS" if r <= 1.2 else "FAIL"))
                    if target else ""))
            else:
                print("%-24s vs ndt7 wss %s: no figure" % (name, d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
