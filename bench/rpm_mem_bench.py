#!/usr/bin/env python3
"""Server memory under RPM probe churn: runs an RPM client against one
netpulse-server process N times back to back (default 5) and reports the
server's resident memory: the peak during each run and what is left once
the run's record is written. Issue 16's target: peak <= 64 MB over five
goresponsiveness runs, and flat after the third (within 4 MB of run 3).
A report, not a test: it exits 0 whatever the figures.

Usage: bench/rpm_mem_bench.py BUILD_DIR --client PATH [--runs N]
                              [--client-arg=ARG]... [--server-flag=FLAG]...
                              [--json FILE]

--client is goresponsiveness's networkQuality binary, built by hand
outside the tree (bench/README.md says how; nothing here builds it); it
runs as `PATH -url https://127.0.0.1:PORT/.well-known/nq` plus the
--client-arg values (e.g. --client-arg=-rpm.parallel). The server gets
--tls-self-signed, a temporary datadir and free loopback ports.
RSS is VmRSS of /proc/PID/status, sampled every 200 ms.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndt7_bench as nb  # noqa: E402

MB = 1 << 20


def rss_bytes(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """Keeps the highest RSS seen since the last reset."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, False

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(0.2)

    def take_peak(self):
        p, self.peak = self.peak, rss_bytes(self.pid)
        return p


def client_summary(text):
    rates = re.findall(r"Throughput: ([0-9.]+) Mbps", text)
    rpm = re.findall(r"Final RPM: (\S+) \(P90\)", text)
    return {"throughput_mbps": [float(r) for r in rates], "rpm_p90": rpm[0] if rpm else None}


def records(datadir):
    return len(glob.glob(os.path.join(datadir, "responsiveness1", "*", "*", "*", "*.json")))


def metric(port, name):
    out = subprocess.run(["curl", "-s", "http://127.0.0.1:%d/metrics" % port],
                         capture_output=True, text=True).stdout
    return sum(float(line.split()[-1]) for line in out.splitlines() if line.startswith(name))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--client", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--client-arg", action="append", default=[])
    ap.add_argument("--server-flag", action="append", default=[])
    ap.add_argument("--json")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="netpulse-rpm-mem-")
    datadir = os.path.join(tmp, "data")
    tls, plain, prom = nb.free_port(), nb.free_port(), nb.free_port()
    srv = subprocess.Popen(
        [os.path.join(a.build, "netpulse-server"), "--https-addr", "127.0.0.1:%d" % tls,
         "--http-addr", "127.0.0.1:%d" % plain, "--tls-self-signed", "--datadir", datadir,
         "--uuid-prefix-file", os.path.join(tmp, "none"), "--health-addr", "",
         "--prometheus-addr", "127.0.0.1:%d" % prom, "--log-level", "warn"] + a.server_flag,
        stderr=open(os.path.join(tmp, "server.log"), "w"))
    nb.wait_listening(tls, srv)
    sampler = Sampler(srv.pid)
    sampler.start()
    start_rss = rss_bytes(srv.pid)
    rows = []
    try:
        for i in range(1, a.runs + 1):
            sampler.take_peak()
            t0 = time.monotonic()
            out = subprocess.run([a.client, "-url", "https://127.0.0.1:%d/.well-known/nq" % tls]
                                 + a.client_arg, capture_output=True, text=True, timeout=300)
            deadline = time.monotonic() + 30
            while records(datadir) < i and time.monotonic() < deadline:
                time.sleep(0.2)  # the measurement ends 5 s after its last connection
            time.sleep(1.0)
            row = {"run": i, "seconds": round(time.monotonic() - t0, 1),
                   "peak_rss": sampler.take_peak(), "after_rss": rss_bytes(srv.pid)}
            row.update(client_summary(out.stdout))
            rows.append(row)
            nb.log("run %d: peak %.1f MB, after %.1f MB" % (i, row["peak_rss"] / MB,
                                                          row["after_rss"] / MB))
        refused = metric(prom, 'netpulse_rejections_total{protocol="rpm')
    finally:
        sampler.stop = True
        srv.terminate()
        srv.wait(timeout=30)
    print("netpulse-server RSS over %d back-to-back runs of %s %s" %
          (a.runs, os.path.basename(a.client), " ".join(a.client_arg)))
    print("RSS at start %.1f MB; RPM refusals (all reasons) %d" % (start_rss / MB, refused))
    print("%-4s %8s %10s %10s  %-22s %s" % ("run", "seconds", "peak MB", "after MB",
                                           "Mbit/s (down, up)", "RPM P90"))
    for r in rows:
        rates = ", ".join("%.0f" % x for x in r["throughput_mbps"])
        print("%-4d %8.1f %10.1f %10.1f  %-22s %s" % (r["run"], r["seconds"], r["peak_rss"] / MB,
                                                    r["after_rss"] / MB, rates, r["rpm_p90"]))
    peak = max(r["peak_rss"] for r in rows)
    print("peak RSS %.1f MB  target <= 64 MB  %s" % (peak / MB, "PASS" if peak <= 64 * MB else "FAIL"))
    if len(rows) >= 4:
        for what in ("peak_rss", "after_rss"):
            drift = max(abs(r[what] - rows[2][what]) for r in rows[3:])
            print("%s drift from run 3 %.1f MB  target <= 4 MB  %s" %
                  (what.split("_")[0], drift / MB, "PASS" if drift <= 4 * MB else "FAIL"))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"start_rss": start_rss, "refused": refused, "runs": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
