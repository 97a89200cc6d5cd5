#!/usr/bin/python3
"""Load benchmark (issue 3): N concurrent ndt7 downloads on loopback against a
fresh netpulse-server, each client paced (it reads at --rate bytes/s, so TCP
flow control slows the server), and the server's peak resident memory
(VmHWM) and CPU use over the run. A report, not a test: exit 0 even on FAIL.

Usage: bench/ops_load.py [--server BUILD/netpulse-server] [--clients 500]
                         [--rate 100000] [--json FILE]

Bounded: every test lasts the ndt7 10 s (15 s hard stop); the whole run is
killed after 60 s. Clients are one asyncio process (stdlib only)."""

import argparse
import asyncio
import base64
import json
import os
import re
import resource
import socket
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import ops_lib as L  # noqa: E402


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_test(port, rate, stats):
    try:
        # A small receive buffer, as on a slow access link: TCP flow control
        # then holds the server back instead of megabytes queueing up.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.setblocking(False)
        await asyncio.get_running_loop().sock_connect(s, ("127.0.0.1", port))
        r, w = await asyncio.open_connection(sock=s)
    except OSError as e:
        stats["connect_errors"] += 1
        stats["last_error"] = repr(e)
        return
    key = base64.b64encode(os.urandom(16)).decode()
    w.write(("GET /ndt/v7/download HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Protocol: %s\r\n\r\n" % (key, L.SUBPROTO)).encode())
    got = 0
    t0 = time.monotonic()
    try:
        head = await r.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            stats["refused"] += 1
            return
        stats["upgraded"] += 1
        while True:
            b0, b1 = await r.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await r.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await r.readexactly(8))[0]
            op = b0 & 0x0F
            if op in (0, 2):
                left = n
                while left:
                    chunk = await r.read(min(left, 16384))
                    if not chunk:
                        raise EOFError
                    left -= len(chunk)
                    got += len(chunk)
                    ahead = got / rate - (time.monotonic() - t0)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
                continue
            payload = await r.readexactly(n) if n else b""
            if op == 9:
                w.write(mask_frame(10, payload))
            elif op == 8:
                w.write(mask_frame(8, payload[:2]))
                await w.drain()
                stats["completed"] += 1
                break
    except (OSError, EOFError, asyncio.IncompleteReadError) as e:
        stats["errors"] += 1
        stats["last_error"] = repr(e)
    finally:
        stats["bytes"] += got
        w.close()


def mask_frame(op, payload):
    m = os.urandom(4)
    return (bytes([0x80 | op, 0x80 | len(payload)]) + m +
            bytes(b ^ m[i % 4] for i, b in enumerate(payload)))


async def run(port, clients, rate):
    stats = dict(upgraded=0, completed=0, refused=0, errors=0, connect_errors=0, bytes=0,
                 last_error="")
    # Ramp up over ~1 s so the accept queue never overflows.
    tasks = []
    for i in range(clients):
        tasks.append(asyncio.create_task(one_test(port, rate, stats)))
        if i % 50 == 49:
            await asyncio.sleep(0.1)
    done, pending = await asyncio.wait(tasks, timeout=60)
    for p in pending:
        p.cancel()
    stats["unfinished"] = len(pending)
    return stats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default=os.path.join(os.path.dirname(__file__), "..",
                                                     "build-ops3", "netpulse-server"))
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--rate", type=int, default=200000, help="bytes/s per client")
    ap.add_argument("--json")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * a.clients + 100)), hard))
    with tempfile.TemporaryDirectory(prefix="np-load-") as tmp:
        srv = L.Server(a.server, os.path.join(tmp, "spool"), "--max-concurrent-tests",
                       str(a.clients + 100))
        pid = srv.proc.pid
        rss0 = int(proc_status(pid)["VmRSS"].split()[0]) * 1024
        cpu0, t0 = proc_cpu(pid), time.monotonic()
        peak_active = 0
        samples = []

        async def sampler():
            nonlocal peak_active
            while True:
                await asyncio.sleep(0.5)
                st = proc_status(pid)
                samples.append((time.monotonic() - t0, int(st["VmRSS"].split()[0]) * 1024,
                                proc_cpu(pid)))
                peak_active = max(peak_active, int(st.get("Threads", "0")) and
                                  len(os.listdir("/proc/%d/fd" % pid)))

        async def both():
            s = asyncio.create_task(sampler())
            try:
                return await run(srv.ws, a.clients, a.rate)
            finally:
                s.cancel()
        stats = asyncio.run(both())
        wall = time.monotonic() - t0
        cpu = proc_cpu(pid) - cpu0
        hwm = int(proc_status(pid)["VmHWM"].split()[0]) * 1024
        # Busiest 5 s of CPU while all tests ran.
        busiest = 0.0
        for i in range(len(samples)):
            for j in range(i + 1, len(samples)):
                if samples[j][0] - samples[i][0] >= 5:
                    busiest = max(busiest, (samples[j][2] - samples[i][2]) /
                                  (samples[j][0] - samples[i][0]))
                    break
        time.sleep(0.5)
        text = srv.metrics_text()
        results = {}
        for m in re.finditer(r'^netpulse_tests_total\{[^}]*result="(\w+)"[^}]*\} (\d+)', text,
                             re.M):
            results[m.group(1)] = results.get(m.group(1), 0) + int(m.group(2))
        srv.stop()
        files = len(L.data_files(srv.datadir))
    res = dict(clients=a.clients, rate_per_client_Bps=a.rate, wall_s=round(wall, 2),
               upgraded=stats["upgraded"], client_saw_close=stats["completed"],
               refused=stats["refused"], errors=stats["errors"] + stats["connect_errors"],
               unfinished=stats["unfinished"],
               server_success=results.get("success", 0),
               server_failure=results.get("failure", 0),
               last_error=stats["last_error"], data_files=files,
               client_payload_MB=round(stats["bytes"] / 1e6, 1),
               server_rss_start_MB=round(rss0 / 1e6, 1), server_peak_rss_MB=round(hwm / 1e6, 1),
               peak_rss_per_test_KB=round((hwm - rss0) / max(1, a.clients) / 1e3, 1),
               peak_fds=peak_active,
               server_rss_timeline_MB=[(round(t), round(r / 1e6, 1)) for t, r, _ in samples[1::2]],
               server_cpu_avg_cores=round(cpu / wall, 3),
               server_cpu_busiest_5s_cores=round(busiest, 3))
    ok = (hwm < 100e6 and busiest < 1.0 and cpu / wall < 1.0 and
          results.get("success", 0) == a.clients)
    res["verdict"] = "PASS" if ok else "FAIL"
    print(json.dumps(res, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
