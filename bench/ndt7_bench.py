#!/usr/bin/env python3
"""netpulse loopback benchmark: server CPU seconds per GB and throughput for
ndt7 download/upload over ws and wss, with iperf3 (single stream, -l 1M,
normal and -R) and bench/tcp_floor (plain and TLS, 1 MiB writes) measured in
the same run as the baselines. Prints a table and the acceptance ratios of
issues 2 and 11. A report, not a test: exits 0 on FAIL.

Usage: bench/ndt7_bench.py [BUILD_DIR] [--reps N] [--duration S] [--json FILE]

BUILD_DIR (default build-bench, relative to the source tree) must already
hold netpulse-server, bench/tcp_floor and libnetpulse.a; only the load driver bench/ndt7_load.c
is compiled here, into BUILD_DIR/bench/ndt7_load.

CPU is the server process's own utime+stime from /proc/<pid>/stat (all its
threads), read just before and just after each test, so other load on the
machine changes the wall-clock rates more than the CPU-per-byte figures.
"""

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
GB = 1e9
SETTLE_S = 0.3  # lets the server finish its per-test work (record, close)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# Where the server listens and how a client command starts: rpm_go_bench.py
# --netns puts them in two network namespaces (see there).
HOST = "127.0.0.1"
CLIENT_WRAP = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def wait_listening_passive(port, proc, timeout=10.0):
    """Like wait_listening, without connecting: iperf3 -s takes any
    connection for a client and then fails the next real one."""
    want = f":{port:04X} "
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    for line in f:
                        cols = line.split()
                        if len(cols) > 3 and (cols[1] + " ").endswith(want) and cols[3] == "0A":
                            return
            except OSError:
                pass
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def proc_cpu_s(pid):
    """utime+stime of the whole process (live and exited threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/sys/net/ipv4/tcp_congestion_control") as f:
            cc = f.read().strip()
    except OSError:
        cc = "?"
    iperf = subprocess.run(["iperf3", "--version"], capture_output=True, text=True).stdout
    return {
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "cpu": model,
        "tcp_cc_default": cc,
        "iperf3": iperf.splitlines()[0] if iperf else "?",
    }


def build_driver(build):
    out_dir = os.path.join(build, "bench")
    os.makedirs(out_dir, exist_ok=True)
    exe = os.path.join(out_dir, "ndt7_load")
    lib = os.path.join(build, "libnetpulse.a")
    src = os.path.join(SRC, "bench", "ndt7_load.c")
    libs = subprocess.run(
        ["pkg-config", "--libs", "libuv", "jansson", "libnghttp2", "openssl", "zlib"],
        check=True, capture_output=True, text=True).stdout.split()
    cc = os.environ.get("CC", "cc")
    cmd = [cc, "-std=c17", "-O2", "-Wall", "-Wextra", "-D_GNU_SOURCE",
           "-I", os.path.join(SRC, "include"), "-o", exe, src, lib] + libs + ["-lpthread", "-lm"]
    subprocess.run(cmd, check=True)
    return exe


class Measure:
    """Runs one client command while watching a server pid's CPU."""

    def __init__(self, server_pid):
        self.pid = server_pid

    def run(self, cmd, timeout):
        c0 = proc_cpu_s(self.pid)
        t0 = time.monotonic()
        p = subprocess.run(CLIENT_WRAP + cmd, capture_output=True, text=True, timeout=timeout)
        wall = time.monotonic() - t0
        time.sleep(SETTLE_S)
        c1 = proc_cpu_s(self.pid)
        return p, c1 - c0, wall


def last_json_line(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def run_iperf(m, port, duration, reverse):
    r = run_iperf_once(m, port, duration, reverse)
    if not r["ok"]:  # iperf3 -s occasionally refuses one client; retry once
        log(f"ndt7_bench:   iperf3 failed ({r.get('error')}), retrying")
        time.sleep(1)
        r = run_iperf_once(m, port, duration, reverse)
    return r


def run_iperf_once(m, port, duration, reverse):
    cmd = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-l", "1M", "-t", str(duration), "-J"]
    if reverse:
        cmd.append("-R")
    p, cpu, wall = m.run(cmd, duration + 30)
    r = {"ok": False, "server_cpu_s": cpu, "wall_s": wall}
    try:
        j = json.loads(p.stdout)
    except ValueError:
        r["error"] = (p.stderr or p.stdout)[-300:]
        return r
    if "error" in j:
        r["error"] = j["error"]
        return r
    end = j["end"]
    recv = end["sum_received"]
    sent = end["sum_sent"]
    # Bytes the server handled: received (normal) or sent (-R).
    nbytes = sent["bytes"] if reverse else recv["bytes"]
    secs = recv["seconds"]
    util = end.get("cpu_utilization_percent", {})
    # iperf3's own figure for the server (remote) side, as CPU seconds.
    self_cpu = util.get("remote_total", 0.0) / 100.0 * sent["seconds"]
    r.update(ok=True, gbps=recv["bits_per_second"] / 1e9, bytes=nbytes, seconds=secs,
             self_cpu_s=self_cpu, retransmits=sent.get("retransmits"))
    return r


def run_ndt7(m, driver, port, scheme, direction, upload_basis="server"):
    """upload_basis "client": upload bytes = what the client's transport
    accepted (app_bytes), counted like the Go client's in rpm_go_bench;
    "server": the server's TCPInfo at its last measurement (misses the
    bytes after it, while the CPU of the whole run is counted)."""
    cmd = [driver, "--server", f"{HOST}:{port}", "--scheme", scheme, f"--{direction}",
           "--no-verify"]
    p, cpu, wall = m.run(cmd, 40)
    r = {"ok": False, "server_cpu_s": cpu, "wall_s": wall}
    j = last_json_line(p.stdout)
    if not j or j.get("error") or not j.get("done"):
        r["error"] = (j or {}).get("error_text") or (p.stderr or p.stdout)[-300:]
        return r
    if direction == "download":
        nbytes = j["app_bytes"]  # payload the client counted
    elif upload_basis == "client":
        nbytes = j["app_bytes"]  # what the client's transport accepted
    else:
        nbytes = j["server_bytes_received"]  # server TCPInfo at its final measurement
    r.update(ok=True, gbps=j["throughput_mbps"] / 1e3, bytes=nbytes,
             server_bytes=j.get("server_bytes_received"),
             seconds=j["elapsed_us"] / 1e6, client_cpu_s=j.get("client_cpu_s"))
    return r


def run_floor(m, floor, port, use_tls, server_sends, duration):
    cmd = [floor, "run", str(port), "tls" if use_tls else "plain",
           "send" if server_sends else "recv", str(duration)]
    p, cpu, wall = m.run(cmd, duration + 30)
    r = {"ok": False, "server_cpu_s": cpu, "wall_s": wall}
    j = last_json_line(p.stdout)
    if p.returncode != 0 or not j or not j.get("ok"):
        r["error"] = (p.stderr or p.stdout)[-300:]
        return r
    r.update(ok=True, gbps=j["gbps"], bytes=j["bytes"], seconds=j["seconds"],
             client_cpu_s=j["client_cpu_s"], cipher=j.get("cipher"))
    return r


def start_floor(floor):
    p = subprocess.Popen([floor, "serve", "0", "0"], stdout=subprocess.PIPE, text=True)
    m = re.match(r"ready plain=(\d+) tls=(\d+)", p.stdout.readline())
    if not m:
        p.kill()
        raise RuntimeError("tcp_floor serve did not start")
    return p, int(m.group(1)), int(m.group(2))


def cli_usable(cli):
    if not os.access(cli, os.X_OK):
        return False
    p = subprocess.run([cli, "--help"], capture_output=True, text=True)
    text = p.stdout + p.stderr
    return "--scheme" in text and "under construction" not in text


def find_number(obj, *path):
    for k in path:
        if not isinstance(obj, dict) or k not in obj:
            return None
        obj = obj[k]
    return obj


def run_cli(m, cli, port):
    cmd = [cli, "--server", f"127.0.0.1:{port}", "--scheme", "ws", "--download",
           "--accept-data-policy", "--format", "json"]
    p, cpu, wall = m.run(cmd, 40)
    r = {"ok": False, "server_cpu_s": cpu, "wall_s": wall}
    j = last_json_line(p.stdout)
    v = find_number(j, "Download", "Throughput", "Value") if j else None
    unit = find_number(j, "Download", "Throughput", "Unit") if j else None
    if p.returncode != 0 or not isinstance(v, (int, float)):
        r["error"] = f"exit {p.returncode}: " + (p.stderr or p.stdout)[-300:]
        return r
    scale = {"Mbit/s": 1e-3, "Gbit/s": 1.0, "kbit/s": 1e-6}.get(unit, 1e-3)
    r.update(ok=True, gbps=v * scale)
    secs = find_number(j, "Download", "ElapsedTime", "Value")
    if isinstance(secs, (int, float)) and secs > 0:
        # The summary has no byte count: rate x elapsed, for CPU/GB only.
        r.update(bytes=v * scale * 1e9 / 8 * secs, seconds=secs)
    return r


def per_gb(r):
    if not r.get("ok") or not r.get("bytes"):
        return None
    return r["server_cpu_s"] / (r["bytes"] / GB)


def median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, spec):
    if v is not None:
        return format(v, spec)
    width = re.match(r"\d*", spec).group(0)
    return "-".rjust(int(width)) if width else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", nargs="?", default="build-bench")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10, help="iperf3 -t (ndt7 tests are 10 s)")
    ap.add_argument("--json", help="also write all raw results to this file")
    a = ap.parse_args()
    build = a.build if os.path.isabs(a.build) else os.path.join(SRC, a.build)
    server_bin = os.path.join(build, "netpulse-server")
    cli = os.path.join(build, "netpulse")
    floor = os.path.join(build, "bench", "tcp_floor")
    for need in (server_bin, floor, os.path.join(build, "libnetpulse.a")):
        if not os.path.exists(need):
            sys.exit(f"ndt7_bench: {need} missing; build first (see bench/README.md)")
    if not shutil.which("iperf3"):
        sys.exit("ndt7_bench: iperf3 not found (apt-get install iperf3)")

    driver = build_driver(build)
    have_cli = cli_usable(cli)
    if not have_cli:
        log("ndt7_bench: the netpulse CLI is not usable yet; client rate from the load driver only")

    tmp = tempfile.mkdtemp(prefix="netpulse-bench-")
    procs = []
    try:
        with open(os.path.join(tmp, "uuid-prefix"), "w") as f:
            f.write("bench\n")
        ws_port, wss_port, ip_port = free_port(), free_port(), free_port()
        srv_log = open(os.path.join(tmp, "server.log"), "w")
        srv = subprocess.Popen(
            [server_bin, "--ndt7-addr-cleartext", f"127.0.0.1:{ws_port}",
             "--ndt7-addr", f"127.0.0.1:{wss_port}", "--tls-self-signed",
             "--datadir", os.path.join(tmp, "data"), "--health-addr", "",
             "--uuid-prefix-file", os.path.join(tmp, "uuid-prefix"), "--log-level", "warn"],
            stdout=srv_log, stderr=srv_log)
        procs.append(srv)
        ipf = subprocess.Popen(["iperf3", "-s", "-p", str(ip_port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(ipf)
        wait_listening(ws_port, srv)
        wait_listening(wss_port, srv)
        wait_listening_passive(ip_port, ipf)
        flo, floor_plain, floor_tls = start_floor(floor)
        procs.append(flo)
        m_srv, m_ipf, m_flo = Measure(srv.pid), Measure(ipf.pid), Measure(flo.pid)
        d = a.duration

        cases = [
            ("iperf3", lambda: run_iperf(m_ipf, ip_port, a.duration, False)),
            ("iperf3 -R", lambda: run_iperf(m_ipf, ip_port, a.duration, True)),
            ("ndt7 ws download", lambda: run_ndt7(m_srv, driver, ws_port, "ws", "download")),
            ("ndt7 ws upload", lambda: run_ndt7(m_srv, driver, ws_port, "ws", "upload")),
            ("ndt7 wss download", lambda: run_ndt7(m_srv, driver, wss_port, "wss", "download")),
            ("ndt7 wss upload", lambda: run_ndt7(m_srv, driver, wss_port, "wss", "upload")),
            ("floor plain send", lambda: run_floor(m_flo, floor, floor_plain, 0, 1, d)),
            ("floor plain recv", lambda: run_floor(m_flo, floor, floor_plain, 0, 0, d)),
            ("floor tls send", lambda: run_floor(m_flo, floor, floor_tls, 1, 1, d)),
            ("floor tls recv", lambda: run_floor(m_flo, floor, floor_tls, 1, 0, d)),
        ]
        if have_cli:
            cases.append(("netpulse CLI ws download", lambda: run_cli(m_srv, cli, ws_port)))
        # Interleaved: every repetition runs every case once, so each ratio
        # compares figures taken within a minute of each other.
        results = {name: [] for name, _ in cases}
        for rep in range(a.reps):
            for name, fn in cases:
                log(f"ndt7_bench: rep {rep + 1}/{a.reps}: {name}")
                r = fn()
                if not r["ok"]:
                    log(f"ndt7_bench:   failed: {r.get('error')}")
                results[name].append(r)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    mach = machine()
    print(f"netpulse ndt7 loopback benchmark  {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"machine: nproc={mach['nproc']} kernel={mach['kernel']} cpu={mach['cpu']!r} "
          f"cc={mach['tcp_cc_default']} {mach['iperf3']}")
    print(f"reps={a.reps} (medians shown), iperf3 -l 1M -t {a.duration}, single stream")
    print()
    hdr = (f"{'test':<26}{'Gbit/s':>8}{'GB':>8}{'srv CPU s':>11}{'srv s/GB':>10}"
           f"{'iperf3-self s/GB':>18}{'client s/GB':>13}")
    print(hdr)
    print("-" * len(hdr))
    summary = {}
    for name, rs in results.items():
        ok = [r for r in rs if r["ok"]]
        gbps = median([r["gbps"] for r in ok])
        gbytes = median([r["bytes"] / GB for r in ok if r.get("bytes")])
        cpu = median([r["server_cpu_s"] for r in ok])
        spg = median([per_gb(r) for r in ok])
        selfpg = median([r["self_cpu_s"] / (r["bytes"] / GB) for r in ok if "self_cpu_s" in r])
        clipg = median([r["client_cpu_s"] / (r["bytes"] / GB) for r in ok
                        if r.get("client_cpu_s") is not None and r.get("bytes")])
        summary[name] = {"gbps": gbps, "s_per_gb": spg}
        note = "" if len(ok) == len(rs) else f"  ({len(rs) - len(ok)} of {len(rs)} failed)"
        print(f"{name:<26}{fmt(gbps, '8.2f')}{fmt(gbytes, '8.2f')}{fmt(cpu, '11.2f')}"
              f"{fmt(spg, '10.3f')}{fmt(selfpg, '18.3f')}{fmt(clipg, '13.3f')}{note}")
    print()
    ciphers = sorted({r.get("cipher") for rs in results.values() for r in rs if r.get("cipher")})
    print("srv = the server process (iperf3 -s / netpulse-server / tcp_floor serve), utime+stime")
    print("from /proc. floor send: the server sends (as ndt7 download), recv: it receives.")
    print(f"floor TLS cipher: {', '.join(ciphers) or '-'} (netpulse-server's own TLS context)")
    print("iperf3: server receives; iperf3 -R: server sends. Upload bytes = server TCPInfo")
    print("BytesReceived; download bytes = payload the client counted.")
    print()

    def per_rep_ratio(num, den, key):
        out = []
        for rn, rd in zip(results.get(num, []), results.get(den, [])):
            if rn["ok"] and rd["ok"]:
                vn = per_gb(rn) if key == "cpu" else rn["gbps"]
                vd = per_gb(rd) if key == "cpu" else rd["gbps"]
                out.append(vn / vd if vn is not None and vd else None)
            else:
                out.append(None)
        return out

    checks = [
        ("ws download srv CPU/GB / iperf3 -R (sender) CPU/GB", "ndt7 ws download", "iperf3 -R",
         "cpu", "<=", 1.1),
        ("ws upload srv CPU/GB / iperf3 (receiver) CPU/GB", "ndt7 ws upload", "iperf3",
         "cpu", "<=", 0.5),
        ("ws download rate (load driver) / iperf3 rate", "ndt7 ws download", "iperf3",
         "rate", ">=", 0.8),
    ]
    checks += [
        ("ws download srv CPU/GB / floor plain send CPU/GB", "ndt7 ws download",
         "floor plain send", "cpu", "<=", 1.0),
        ("ws download rate / floor plain send rate", "ndt7 ws download", "floor plain send",
         "rate", ">=", 1.0),
        ("wss download srv CPU/GB / floor tls send CPU/GB", "ndt7 wss download",
         "floor tls send", "cpu", "<=", 1.1),
        ("wss upload srv CPU/GB / floor tls recv CPU/GB", "ndt7 wss upload", "floor tls recv",
         "cpu", "<=", 1.1),
    ]
    if have_cli:
        checks.append(("ws download rate (netpulse CLI) / iperf3 rate",
                       "netpulse CLI ws download", "iperf3", "rate", ">=", 0.8))
    info = [
        ("wss download srv CPU/GB / iperf3 -R CPU/GB", "ndt7 wss download", "iperf3 -R", "cpu"),
        ("wss upload srv CPU/GB / iperf3 CPU/GB", "ndt7 wss upload", "iperf3", "cpu"),
        ("wss download rate / iperf3 rate", "ndt7 wss download", "iperf3", "rate"),
        ("ws download rate / iperf3 -R rate", "ndt7 ws download", "iperf3 -R", "rate"),
        ("ws upload srv CPU/GB / floor plain recv CPU/GB", "ndt7 ws upload", "floor plain recv",
         "cpu"),
        ("wss download rate / floor tls send rate", "ndt7 wss download", "floor tls send",
         "rate"),
        ("wss upload rate / floor tls recv rate", "ndt7 wss upload", "floor tls recv", "rate"),
    ]
    print("Acceptance ratios (median of per-repetition ratios; per rep in brackets):")
    verdicts = []
    for label, num, den, key, op, target in checks:
        reps = per_rep_ratio(num, den, key)
        med = median(reps)
        if med is None:
            verdict = "FAIL (no data)"
        else:
            ok = med <= target if op == "<=" else med >= target
            verdict = "PASS" if ok else "FAIL"
        verdicts.append(verdict)
        reps_s = ", ".join(fmt(v, ".2f") for v in reps)
        print(f"  {label:<52} {fmt(med, '6.2f')}  target {op} {target:<4} {verdict:<5} [{reps_s}]")
    print("For information:")
    for label, num, den, key in info:
        reps = per_rep_ratio(num, den, key)
        reps_s = ", ".join(fmt(v, ".2f") for v in reps)
        print(f"  {label:<52} {fmt(median(reps), '6.2f')}  [{reps_s}]")
    if not have_cli:
        print("  (netpulse CLI not usable yet: no CLI rate figure)")
    print()
    print("RESULT:", "ALL PASS" if all(v == "PASS" for v in verdicts) else
          f"{sum(v != 'PASS' for v in verdicts)} of {len(verdicts)} targets FAIL")

    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": mach, "results": results, "summary": summary}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
