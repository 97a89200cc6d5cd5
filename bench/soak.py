#!/usr/bin/python3
"""A day on M-Lab in half an hour: netpulse-server under mixed load, with
faults on a schedule, and every accepted test accounted for (issue 18).

Usage: bench/soak.py BUILD [--minutes 30] [--max-tests 6] [--out FILE.json]
       bench/soak.py BUILD --ci            (3 minutes, what CI runs)

Needs root (the spool is a tmpfs it remounts read-only and fills), and from
BUILD: netpulse-server, netpulse, tests/np_goh2 (Go x/net HTTP/2 load
client); node with tests/peers (npm ci) for the Node ndt7 client.

Load, concurrency swinging between 1 and --max-tests: the netpulse client
(ndt7 ws/wss download/upload; RPM h2/h2c, sequential and --parallel), M-Lab's
official ndt7 JavaScript client (@m-lab/ndt7) under Node, a Node `ws` ndt7
client, Go's x/net HTTP/2 RPM load, clients SIGKILLed
mid-test, a slow reader, and hostile requests (garbage, a stalled header).
A simulated uploader moves every published file out of the spool into an
archive, as M-Lab's pusher and jostler do.

Faults, at fixed fractions of the run: SIGHUP with a new certificate; the
spool read-only; the spool full; the day directory removed; the fd limit
lowered (prlimit --pid); SIGTERM (drain) and a restart; SIGKILL and a
restart on the same spool. The wall clock is not stepped: the server times
tests with the monotonic clock (docs/operations.md).

Invariants, checked at the end (exit 1 if any fails):
  accounting   every test a server finished (its log) is archived exactly
               once, or logged as lost with a reason; only a SIGKILL may lose
               one silently, and only one that was in flight at the kill;
               every ndt7 UUID a client saw was finished by a server
  clients      every client run that failed outside a fault's window (its
               duration plus 2 s; a restart's drain) was refused with a 503
               (said by the client, or logged by the server during the run)
  refusals     while the spool was read-only or full, a test got 503
               spool_unwritable and /health said 503; both recovered
  files        no staging or temporary file left after a restart or at the
               end; every archived file validates against schemas/
  metrics      netpulse_data_files_total{result="written"} equals the files
               the log says were written (each incarnation stopped by SIGTERM)
  resources    RSS at the end within 8 MB of its value RSS_AT into the last
               incarnation; open fds back to their idle baseline; no CPU
               when idle (<= 20 ms over 5 s, once no test and no test
               connection is left)
Prints a table of figures; --out writes them as JSON."""

import argparse
import gzip
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import datafiles  # noqa: E402
import ops_lib as L  # noqa: E402

ID_RE = re.compile(r'(?:uuid|measurement)=(\S+)')
GONE = ".gone-"  # f_rmday's renamed trees, under the spool


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(d, n):
    cert, key = os.path.join(d, "cert%d.pem" % n), os.path.join(d, "key%d.pem" % n)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                    "/CN=soak%d" % n, "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


class Soak:
    def __init__(self, a):
        self.a = a
        self.b = os.path.abspath(a.build)
        self.t0 = time.monotonic()
        self.wall0 = time.time()  # to place the servers' log lines on t0's scale
        self.dur = a.minutes * 60.0
        self.tmp = tempfile.mkdtemp(prefix="np-soak-")
        self.mnt = os.path.join(self.tmp, "spool")
        self.archive = os.path.join(self.tmp, "archive")
        os.makedirs(self.mnt)
        os.makedirs(self.archive)
        self.cert_dir = os.path.join(self.tmp, "tls")
        os.makedirs(self.cert_dir)
        self.ncert = 0
        cert, key = make_cert(self.cert_dir, 0)
        # The server reads these paths again at SIGHUP: a new cert replaces them.
        self.cert, self.key = os.path.join(self.cert_dir, "cert.pem"), os.path.join(
            self.cert_dir, "key.pem")
        shutil.copy(cert, self.cert)
        shutil.copy(key, self.key)
        self.ports = {k: free_port() for k in ("http", "https", "health", "prom")}
        self.lock = threading.Lock()
        self.up_lock = threading.Lock()  # the uploader against f_rmday
        self.stop_load = threading.Event()
        self.done = threading.Event()
        self.srv = None
        self.incarnations = []   # {"log", "start", "end", "how", "written_metric"}
        self.client = []         # (kind, ok, id or None, t_start, t_end, detail)
        self.faults = []         # (t, name, detail)
        self.samples = []        # (t, incarnation, rss_kb, fds)
        self.refusals = []       # (t, fault, status, reason, health)
        self.failures = []
        self.kills = []          # monotonic times of SIGKILLs
        self.gone = 0            # f_rmday's count
        self.windows = []        # (from, to): faults that may fail a client run

    def now(self):
        return time.monotonic() - self.t0

    # ---- the server ---------------------------------------------------------

    def start_server(self):
        n = len(self.incarnations)
        log = os.path.join(self.tmp, "server%d.log" % n)
        p = self.ports
        args = [os.path.join(self.b, "netpulse-server"), "--datadir", self.mnt,
                "--uuid-prefix-file", os.path.join(self.tmp, "no-prefix"),
                "--http-addr", "127.0.0.1:%d" % p["http"],
                "--https-addr", "127.0.0.1:%d" % p["https"],
                "--cert", self.cert, "--key", self.key,
                "--health-addr", "127.0.0.1:%d" % p["health"],
                "--prometheus-addr", "127.0.0.1:%d" % p["prom"],
                "--max-concurrent-tests", str(self.a.max_tests),
                "--spool-scan-interval", "2", "--drain-timeout", "20"]
        f = open(log, "wb")
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=f)
        f.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if 'msg="netpulse-server started"' in open(log, errors="replace").read():
                break
            if proc.poll() is not None:
                raise RuntimeError("server did not start: " + open(log).read()[-2000:])
            time.sleep(0.05)
        self.srv = proc
        self.incarnations.append({"log": log, "start": self.now(), "end": None, "how": None,
                                  "pid": proc.pid, "written_metric": None,
                                  "idle_fds": self.fds(proc.pid)})
        self.check_no_partials("start of server %d" % n)

    def fds(self, pid):
        try:
            return len(os.listdir("/proc/%d/fd" % pid))
        except OSError:
            return None

    def rss_kb(self, pid):
        try:
            for line in open("/proc/%d/status" % pid):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return None

    def cpu_s(self, pid):
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    def metric(self, name, **labels):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.ports["prom"],
                                        timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return None
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name):
                continue
            m = re.match(r'(\w+)(\{[^}]*\})? (\S+)', line)
            if not m or m.group(1) != name:
                continue
            lab = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            if all(lab.get(k) == v for k, v in labels.items()):
                total += float(m.group(3))
        return total

    def health(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % self.ports["health"],
                                        timeout=3) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None

    def stop_server(self, sig):
        inc = self.incarnations[-1]
        if sig == signal.SIGTERM:
            # Bracketed by the log's count before and after the scrape: files
            # keep being written while the server drains.
            inc["written_log_before"] = self.log_written(inc["log"])
            inc["written_metric"] = self.metric("netpulse_data_files_total", result="written")
            inc["written_log_after"] = self.log_written(inc["log"])
            inc["failed_metric"] = self.metric("netpulse_data_files_total", result="failed")
            inc["failed_log"] = open(inc["log"], errors="replace").read().count(
                'msg="data file not written"')
        if sig == signal.SIGKILL:
            self.kills.append(self.now())
        self.srv.send_signal(sig)
        try:
            self.srv.wait(60)
        except subprocess.TimeoutExpired:
            self.fail("server did not exit within 60 s of %s" % sig.name)
            self.srv.kill()
            self.srv.wait()
        inc["end"], inc["how"] = self.now(), sig.name
        inc["rc"] = self.srv.returncode
        if sig == signal.SIGTERM and self.srv.returncode != 0:
            self.fail("exit status %s after SIGTERM" % self.srv.returncode)

    def wall_to_t(self, ts):
        """A log line's RFC 3339 UTC time on the soak's clock (seconds)."""
        import datetime
        base, _, frac = ts.rstrip("Z").partition(".")
        t = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=datetime.timezone.utc).timestamp() + float("0." + (frac or "0"))
        return t - self.wall0

    def log_written(self, log):
        return open(log, errors="replace").read().count('msg="data file written"')

    def fail(self, what):
        with self.lock:
            self.failures.append("%.0fs: %s" % (self.now(), what))
        print("FAIL:", what, flush=True)

    def check_no_partials(self, when):
        left = []
        for root, _, names in os.walk(self.mnt):
            left += [os.path.join(root, n) for n in names if n.startswith(".")]
        if left:
            self.fail("partial/staging files at %s: %s" % (when, left[:3]))

    # ---- the uploader -------------------------------------------------------

    def uploader(self):
        while not self.done.is_set():
            self.move_published()
            time.sleep(1)

    def move_published(self):
        with self.up_lock:
            self._move_published()

    def _move_published(self):
        for root, _, names in os.walk(self.mnt):
            for n in names:
                if n.startswith(".") or n == "filler":
                    continue
                src = os.path.join(root, n)
                rel = os.path.relpath(src, self.mnt)
                if rel.startswith(GONE):  # ".gone-N/<datatype>/..." -> "<datatype>/..."
                    rel = rel.split(os.sep, 1)[1]
                dst = os.path.join(self.archive, rel)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                try:
                    shutil.copy2(src, dst + ".tmp")
                    os.rename(dst + ".tmp", dst)
                    os.unlink(src)
                except OSError:
                    pass  # read-only spool: the pusher would retry as well
        # Directories of f_rmday, once emptied. The server may still hold one
        # open; a file it then links there fails (ENOENT) and is held.
        for name in os.listdir(self.mnt):
            if name.startswith(GONE):
                for root, _, _ in os.walk(os.path.join(self.mnt, name), topdown=False):
                    try:
                        os.rmdir(root)
                    except OSError:
                        pass

    # ---- load ---------------------------------------------------------------

    def target(self):
        """Concurrency now: a slow swing between 1 and --max-tests."""
        period = min(240.0, self.dur / 3)
        x = 0.5 - 0.5 * math.cos(2 * math.pi * self.now() / period)
        return 1 + int(round(x * (self.a.max_tests - 1)))

    def run(self, cmd, timeout, kill_after=None):
        t = self.now()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = p.communicate(timeout=kill_after if kill_after else timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            if not kill_after:
                return t, None, out, "timeout"
        return t, p.returncode, out, err

    REASONS = ("spool_unwritable", "spool_full", "at_capacity", "lame_duck", "client_limit",
               "conn_cap")

    def record(self, kind, ok, ident, t, detail=""):
        why = ""
        if not ok:
            why = next((r for r in self.REASONS if r in detail), None)
            if not why and re.search(r'\b503\b|server is busy', detail):
                why = "503"
            why = "refused: " + why if why else "error: " + (
                detail.strip().splitlines() or ["?"])[-1][:120]
            # Times and byte counts make every line unique: keep the cause.
            why = re.sub(r'after [\d.]+ s, \d+ measurements, \d+ pings, \d+ bytes in, \d+ '
                         r'bytes out', 'after ...', why)
        with self.lock:
            self.client.append((kind, ok, ident, t, self.now(), why))

    @staticmethod
    def json_errors(out):
        """The Failure texts of a netpulse JSON summary (its last line)."""
        for line in reversed((out or "").splitlines()):
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if isinstance(o, dict) and "Errors" in o:
                return "; ".join(str(e.get("Failure", e)) if isinstance(e, dict) else str(e)
                                 for e in o["Errors"] or [])
        return ""

    def c_netpulse_ndt7(self):
        scheme = random.choice(["ws", "wss"])
        port = self.ports["http" if scheme == "ws" else "https"]
        test = random.choice(["--download", "--upload"])
        t, rc, out, err = self.run(
            [os.path.join(self.b, "netpulse"), "--server", "127.0.0.1:%d" % port,
             "--scheme", scheme, "--no-verify", test, "--no-rpm", "--accept-data-policy",
             "--format", "json", "-q", "--timeout", "20"], 60)
        ident = None
        for line in (out or "").splitlines():
            try:
                o = json.loads(line)
            except ValueError:
                continue
            for d in ("Download", "Upload"):
                if isinstance(o.get(d), dict) and o[d].get("UUID"):
                    ident = o[d]["UUID"]
        self.record("netpulse-ndt7-" + scheme, rc == 0, ident, t,
                    (err or "")[-300:] + "\n" + self.json_errors(out))

    def c_netpulse_rpm(self):
        scheme = random.choice(["http", "https"])
        port = self.ports["http" if scheme == "http" else "https"]
        extra = random.choice([[], ["--parallel"]])
        t, rc, out, err = self.run(
            [os.path.join(self.b, "netpulse"), "rpm", "--server", "127.0.0.1:%d" % port,
             "--scheme", scheme, "--no-verify", "--accept-data-policy", "--json", "-q",
             "--rpm-max-duration", "4s", "--rpm-idle-duration", "1s"] + extra, 90)
        self.record("netpulse-rpm-" + scheme + ("-parallel" if extra else ""), rc == 0, None, t,
                    (err or "")[-300:] + "\n" + self.json_errors(out))

    def c_node_ndt7(self):
        node = shutil.which("node")
        t, rc, out, err = self.run(
            [node, os.path.join(SRC, "tests", "peers", "ndt7_ws_client.mjs"), "--url",
             "ws://127.0.0.1:%d" % self.ports["http"], "--test",
             random.choice(["download", "upload"]), "--timeout", "30"], 60)
        ident = None
        try:
            o = json.loads((out or "").strip().splitlines()[-1])
            ident = o["tests"][0]["uuid"]
        except (ValueError, IndexError, KeyError, TypeError):
            pass
        self.record("node-ndt7", rc == 0, ident, t, (out or "")[-300:] + (err or "")[-300:])

    def c_official_js(self):
        """@m-lab/ndt7 itself, under Node (tests/peers/ndt7_official_node.mjs)."""
        proto = random.choice(["ws", "wss"])
        port = self.ports["http" if proto == "ws" else "https"]
        test = random.choice(["download", "upload"])
        t, rc, out, err = self.run(
            [shutil.which("node"), os.path.join(SRC, "tests", "peers", "ndt7_official_node.mjs"),
             "--server", "127.0.0.1:%d" % port, "--protocol", proto, "--test", test], 60)
        ident = None
        try:
            o = json.loads((out or "").strip().splitlines()[-1])
            ident = (o.get(test) or {}).get("uuid")
        except (ValueError, IndexError, AttributeError):
            pass
        self.record("official-ndt7-js-" + proto, rc == 0, ident, t,
                    (out or "")[-300:] + (err or "")[-300:])

    def c_go_h2(self):
        mode = random.choice(["sequential", "parallel"])
        t, rc, out, err = self.run(
            [os.path.join(self.b, "tests", "np_goh2"), "-config",
             "https://127.0.0.1:%d/.well-known/nq" % self.ports["https"], "-insecure",
             "-seconds", "3", "-conns", "4", "-mode", mode], 60)
        self.record("go-h2-" + mode, rc == 0, None, t, (out or "")[-300:] + (err or "")[-300:])

    def c_killed(self):
        t, rc, out, err = self.run(
            [os.path.join(self.b, "netpulse"), "--server", "127.0.0.1:%d" % self.ports["http"],
             "--scheme", "ws", random.choice(["--download", "--upload"]), "--no-rpm",
             "--accept-data-policy", "--format", "json", "-q"], 60,
            kill_after=random.uniform(0.3, 4))
        self.record("killed-mid-test", True, None, t)

    def c_slow(self):
        t = self.now()
        r = L.ndt7(self.ports["http"], read_rate=300_000, timeout=30)
        self.record("slow-reader", r.status in (101, 503), None, t, repr(r))

    def c_hostile(self):
        """Garbage, a stalled request head, or an HTTP/2 flood from the
        hostile suite (tests/integration/rpm_hostile.py): each must be cut
        off, and a flood with a GOAWAY."""
        import rpm_hostile as H  # same folder as ops_lib
        t = self.now()
        case = random.choice(["garbage", "stalled", "settings_flood", "ping_flood",
                              "rapid_reset"])
        ok, detail = True, case
        try:
            if case in ("garbage", "stalled"):
                with socket.create_connection(("127.0.0.1", self.ports["http"]),
                                              timeout=10) as s:
                    s.sendall(os.urandom(4096) if case == "garbage" else
                              b"GET /ndt/v7/download HTTP/1.1\r\nHost: x\r\n")
                    s.settimeout(30)
                    while s.recv(4096):
                        pass
            else:
                target = type("Srv", (), {"ws": self.ports["http"]})()
                fn = H.CASES[case][0]
                closed, goaway, _ = fn(target, 15, lambda: 0)
                ok = closed and goaway == 11
                detail = "%s closed=%s goaway=%s" % (case, closed, goaway)
        except socket.timeout:
            ok, detail = False, case + ": not cut off within 30 s"
        except OSError as e:
            detail = "%s: %s" % (case, e)  # reset by the server: cut off
        except (ValueError, KeyError) as e:
            # No config to attack (a restart, a 503 while the spool is
            # broken): a failed run, judged against the fault windows.
            ok, detail = False, "%s: no config: %r" % (case, e)
        self.record("hostile-" + case, ok, None, t, detail)

    KINDS = [("c_netpulse_ndt7", 4), ("c_netpulse_rpm", 3), ("c_node_ndt7", 1),
             ("c_official_js", 2), ("c_go_h2", 2),
             ("c_killed", 1), ("c_slow", 1), ("c_hostile", 1)]

    def worker(self, i):
        names = [k for k, w in self.KINDS for _ in range(w)]
        rnd = random.Random(i)
        while not self.stop_load.is_set():
            if i >= self.target():
                time.sleep(1)
                continue
            try:
                getattr(self, rnd.choice(names))()
            except Exception as e:  # noqa: BLE001 - a harness error is a failure
                self.fail("worker %d: %r" % (i, e))
            time.sleep(rnd.uniform(0, 0.5))

    def sampler(self):
        while not self.done.is_set():
            p = self.srv
            if p and p.poll() is None:
                self.samples.append((self.now(), len(self.incarnations) - 1,
                                     self.rss_kb(p.pid), self.fds(p.pid)))
            time.sleep(5)

    # ---- faults -------------------------------------------------------------

    def fault(self, name, detail="", secs=0):
        """Logs a fault; secs: how long it lasts (a run overlapping it, or
        starting within 2 s after, may fail for it)."""
        self.faults.append((round(self.now(), 1), name, detail))
        self.windows.append((self.now() - 1, self.now() + secs + 2))
        print("%6.0fs fault: %s %s" % (self.now(), name, detail), flush=True)

    def f_sighup(self):
        self.ncert += 1
        cert, key = make_cert(self.cert_dir, self.ncert)
        shutil.copy(cert, self.cert)
        shutil.copy(key, self.key)
        self.srv.send_signal(signal.SIGHUP)
        self.fault("sighup", "new certificate %d" % self.ncert)

    def expect_refusal(self, name):
        """A test asked while the spool is broken is refused for it, and
        /health says so (the probe runs every 2 s: allow 8)."""
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            h = self.health()
            if h == 503:
                break
            time.sleep(0.25)
        r = L.ndt7(self.ports["http"], query="early_exit=250", timeout=15)
        reason = None
        try:
            reason = json.loads(r.body).get("error")
        except ValueError:
            pass
        self.refusals.append((round(self.now(), 1), name, r.status, reason, h))
        if h != 503 or r.status != 503 or reason != "spool_unwritable":
            self.fail("%s: health %s, test %s %s (want 503, 503 spool_unwritable)" %
                      (name, h, r.status, reason))

    def expect_recovery(self, name):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.health() != 200:
            time.sleep(0.25)
        if self.health() != 200:
            self.fail("%s: health not 200 within 15 s of the fault clearing" % name)

    def f_readonly(self, secs):
        subprocess.run(["mount", "-o", "remount,ro", self.mnt], check=True)
        self.fault("spool read-only", "%d s" % secs, secs)
        self.expect_refusal("read-only")
        time.sleep(max(0, secs - 8))
        subprocess.run(["mount", "-o", "remount,rw", self.mnt], check=True)
        self.expect_recovery("read-only")

    def fill(self, stop):
        """Keeps the spool full: the uploader frees space as it moves files
        out (as M-Lab's pusher does), so the filler takes it back."""
        path = os.path.join(self.mnt, "filler")
        zeros = bytes(1 << 20)
        while not stop.is_set():
            try:
                with open(path, "ab") as f:
                    while True:
                        f.write(zeros)
                        f.flush()
            except OSError:
                pass
            stop.wait(0.1)

    def f_full(self, secs):
        stop = threading.Event()
        th = threading.Thread(target=self.fill, args=(stop,), daemon=True)
        th.start()
        time.sleep(0.5)
        self.fault("spool full", "%d s" % secs, secs)
        self.expect_refusal("full")
        time.sleep(max(0, secs - 8))
        stop.set()
        th.join(10)
        os.unlink(os.path.join(self.mnt, "filler"))
        self.expect_recovery("full")

    def f_rmday(self):
        """The datatype directories vanish from under the server. They are
        renamed aside, not deleted: a file the server published a moment
        before, which the uploader has not moved yet, is still uploaded
        (deleting it would be a loss the soak caused, not the server). The
        uploader sweeps the renamed trees and removes them once empty."""
        with self.up_lock:
            self.gone += 1
            aside = os.path.join(self.mnt, "%s%d" % (GONE, self.gone))
            os.mkdir(aside)
            for dt in ("ndt7", "responsiveness1"):
                try:
                    os.rename(os.path.join(self.mnt, dt), os.path.join(aside, dt))
                except FileNotFoundError:
                    pass
        self.fault("day directories removed")

    def f_fdlimit(self, secs):
        """Only the soft limit: raising a hard limit back needs
        CAP_SYS_RESOURCE, which containers often lack."""
        pid = self.srv.pid
        lim = [line.split() for line in open("/proc/%d/limits" % pid)
               if line.startswith("Max open files")][0]
        soft, hard = lim[3], lim[4]
        subprocess.run(["prlimit", "--pid", str(pid), "--nofile=128:" + hard], check=True)
        self.fault("fd limit 128", "%d s (was %s)" % (secs, soft), secs)
        time.sleep(secs)
        if self.srv.pid == pid and self.srv.poll() is None:
            subprocess.run(["prlimit", "--pid", str(pid), "--nofile=%s:%s" % (soft, hard)],
                           check=True)

    def f_restart(self, sig):
        self.windows.append((self.now() - 1, self.now() + 60))  # refined below
        t0 = self.now()
        self.stop_server(sig)
        self.windows[-1] = (t0 - 1, self.now() + 2)
        self.fault("restart after " + sig.name, "exit %s" % self.incarnations[-1]["rc"])
        self.start_server()

    def schedule(self):
        ro = 30 if self.dur >= 1200 else 10
        full = 20 if self.dur >= 1200 else 10
        plan = [(0.08, self.f_sighup), (0.12, lambda: self.f_readonly(ro)),
                (0.22, lambda: self.f_full(full)), (0.28, self.f_rmday),
                (0.32, lambda: self.f_fdlimit(10)), (0.38, self.f_sighup),
                (0.42, lambda: self.f_restart(signal.SIGTERM)),
                (0.50, lambda: self.f_restart(signal.SIGKILL)), (0.56, self.f_sighup),
                (0.64, lambda: self.f_readonly(ro)), (0.74, lambda: self.f_full(full)),
                (0.80, self.f_rmday), (0.86, self.f_sighup)]
        return plan

    # ---- the run --------------------------------------------------------------

    def main(self):
        if os.geteuid() != 0:
            print("SKIP: the soak needs root (it mounts a tmpfs for the spool)")
            return 77
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", self.mnt],
                       check=True)
        try:
            return self.run_all()
        finally:
            self.done.set()
            if self.srv and self.srv.poll() is None:
                self.srv.kill()
            subprocess.run(["umount", "-l", self.mnt])

    def run_all(self):
        print("soak: %.1f min, up to %d tests at once, work dir %s" %
              (self.dur / 60, self.a.max_tests, self.tmp), flush=True)
        self.start_server()
        threads = [threading.Thread(target=self.uploader, daemon=True),
                   threading.Thread(target=self.sampler, daemon=True)]
        threads += [threading.Thread(target=self.worker, args=(i,), daemon=True)
                    for i in range(self.a.max_tests)]
        for t in threads:
            t.start()
        for frac, f in self.schedule():
            while self.now() < frac * self.dur:
                time.sleep(0.2)
            try:
                f()
            except Exception as e:  # noqa: BLE001
                self.fail("fault %r: %r" % (f, e))
        while self.now() < self.dur:
            time.sleep(0.5)
        self.stop_load.set()
        for t in threads[2:]:
            t.join(120)
        self.idle_checks()
        self.stop_server(signal.SIGTERM)
        self.done.set()
        for t in threads[:2]:
            t.join(10)
        self.move_published()
        self.check_no_partials("the end")
        return self.verify()

    def quiescent(self, timeout):
        """Waits until the server runs no test and holds no test connection
        (a measurement whose client left ends on its own idle timer, then
        writes its record: the CI run of 27b3b1d measured that write as
        idle CPU): True, or False after timeout seconds."""
        end = self.now() + timeout
        while self.now() < end:
            # The scrape's own connection is one of the open ones.
            if self.metric("netpulse_active_tests") == 0 and \
                    (self.metric("netpulse_open_connections") or 0) <= 1:
                return True
            time.sleep(0.5)
        return False

    def exec_s(self, pid):
        """CPU seconds of all the process's threads, to the nanosecond
        (/proc/PID/task/*/sched); the clock ticks of /proc/PID/stat where
        that is missing. Ticks are 10 ms: two of them over 5 s is already
        the bound below, so they cannot tell 11 ms from 29."""
        total, found = 0.0, False
        try:
            for tid in os.listdir("/proc/%d/task" % pid):
                for line in open("/proc/%d/task/%s/sched" % (pid, tid)):
                    if line.startswith("se.sum_exec_runtime"):
                        total += float(line.split(":")[1]) / 1000.0  # ms
                        found = True
        except OSError:
            found = False
        return total if found else self.cpu_s(pid)

    def idle_checks(self):
        pid = self.srv.pid
        if not self.quiescent(60):
            self.fail("tests or connections still open 60 s after the load stopped: "
                      "active %s, open connections %s" % (
                          self.metric("netpulse_active_tests"),
                          self.metric("netpulse_open_connections")))
        time.sleep(5)  # the tick trims the heap once idle
        c0 = self.exec_s(pid)
        time.sleep(5)
        used = self.exec_s(pid) - c0
        self.idle_cpu = used
        if used > 0.02:
            self.fail("CPU while idle: %.3f s over 5 s" % used)
        inc = self.incarnations[-1]
        self.end_rss, self.end_fds = self.rss_kb(pid), self.fds(pid)
        at = inc["start"] + min(300.0, 0.2 * self.dur)
        ref = [s for s in self.samples if s[1] == len(self.incarnations) - 1 and s[0] >= at]
        self.ref_rss = ref[0][2] if ref else None
        if self.ref_rss is None:
            self.fail("no RSS sample %.0f s into the last incarnation" % (at - inc["start"]))
        elif self.end_rss - self.ref_rss > 8 * 1024:
            self.fail("RSS grew %d kB since %.0f s into the last incarnation" %
                      (self.end_rss - self.ref_rss, at - inc["start"]))
        if self.end_fds is None or inc["idle_fds"] is None or \
                self.end_fds > inc["idle_fds"] + 2:
            self.fail("open fds %s at the end, %s at its start" % (self.end_fds, inc["idle_fds"]))

    def verify(self):
        finished, written, lost, held = {}, {}, {}, 0
        for n, inc in enumerate(self.incarnations):
            text = open(inc["log"], errors="replace").read()
            nwritten = 0
            for line in text.splitlines():
                m = ID_RE.search(line)
                if 'msg="test finished"' in line and m:
                    finished[m.group(1)] = n
                elif 'msg="data file written"' in line and m:
                    written[m.group(1)] = written.get(m.group(1), 0) + 1
                    nwritten += 1
                elif 'msg="data file not written"' in line and m:
                    lost[m.group(1)] = re.search(r'reason=(\S+)', line).group(1) \
                        if 'reason=' in line else "error"
                elif 'msg="data file held' in line:
                    held += 1
            inc["written_log"] = nwritten
            inc["refused"] = {}
            for r in re.findall(r'msg="test refused" .*?reason=(\S+)', text):
                inc["refused"][r] = inc["refused"].get(r, 0) + 1
            m = inc["written_metric"]
            if m is not None and not inc["written_log_before"] <= m <= inc["written_log_after"]:
                self.fail("server %d: files_total{written} %s, log says %d..%d" %
                          (n, m, inc["written_log_before"], inc["written_log_after"]))
            if inc.get("failed_metric") is not None and inc["failed_metric"] != inc["failed_log"]:
                self.fail("server %d: files_total{failed} %s, log says %d" %
                          (n, inc["failed_metric"], inc["failed_log"]))
        archived = {}
        for root, _, names in os.walk(self.archive):
            for name in names:
                ident = name.split(".json")[0].rsplit(".", 1)[-1]
                archived[ident] = archived.get(ident, 0) + 1
        try:
            nfiles = datafiles.assert_tree(self.archive)
        except AssertionError as e:
            self.fail(str(e))
            nfiles = None
        silent, killed_inflight = [], []
        for ident, n in finished.items():
            c = archived.get(ident, 0)
            if c > 1:
                self.fail("%s archived %d times" % (ident, c))
            if c == 0 and ident not in lost:
                if self.incarnations[n]["how"] == "SIGKILL":
                    killed_inflight.append(ident)
                else:
                    silent.append(ident)
        if silent:
            self.fail("%d finished tests neither archived nor logged lost: %s" %
                      (len(silent), silent[:5]))
        seen = [c for c in self.client if c[2]]
        unknown = [c[2] for c in seen if c[2] not in finished and
                   not any(c[3] <= k <= c[4] + 1 for k in self.kills)]
        if unknown:
            self.fail("%d client-seen UUIDs no server finished: %s" % (len(unknown), unknown[:5]))
        extra = [i for i in archived if i not in finished]
        # Some clients cannot tell a refusal from an error (the official JS
        # client reports a refused WebSocket handshake as "error"; a refused
        # config has no URLs to attack): a run the server logged a refusal
        # during counts as refused.
        refused_at = []
        for inc in self.incarnations:
            for m in re.finditer(r'^ts=(\S+) .*msg="test refused"',
                                 open(inc["log"], errors="replace").read(), re.M):
                refused_at.append(self.wall_to_t(m.group(1)))
        kinds, whys, calm = {}, {}, []
        for c in self.client:
            k = kinds.setdefault(c[0], [0, 0])
            k[0 if c[1] else 1] += 1
            if not c[1]:
                key = "%s | %s" % (c[0], c[5])
                whys[key] = whys.get(key, 0) + 1
                if not c[5].startswith("refused") and not any(
                        c[3] <= w[1] and w[0] <= c[4] for w in self.windows) and not any(
                        c[3] - 0.5 <= r <= c[4] + 0.5 for r in refused_at):
                    calm.append(c)
        if calm:
            self.fail("%d client runs failed (not refused) outside every fault window: %s" %
                      (len(calm), [(c[0], round(c[3]), c[5]) for c in calm[:5]]))
        fig = {"minutes": self.dur / 60, "max_tests": self.a.max_tests,
               "client_runs": {k: {"ok": v[0], "failed": v[1]} for k, v in sorted(kinds.items())},
               "client_failures": whys,
               "client_errors_outside_faults": [(c[0], round(c[3]), round(c[4]), c[5])
                                                for c in calm],
               "faults": self.faults, "refusal_checks": self.refusals,
               "servers": [{k: v for k, v in i.items() if k != "log"} for i in self.incarnations],
               "tests_finished": len(finished), "files_archived": sum(archived.values()),
               "files_validated": nfiles, "files_lost_logged": lost,
               "held_events": held, "lost_in_flight_at_sigkill": len(killed_inflight),
               "archived_without_finish_line": len(extra),
               "idle_cpu_s": round(self.idle_cpu, 3), "rss_ref_kb": self.ref_rss,
               "rss_end_kb": self.end_rss, "fds_end": self.end_fds,
               "samples": self.samples, "failures": self.failures}
        self.report(fig)
        if self.a.out:
            with open(self.a.out, "w") as f:
                json.dump(fig, f, indent=1)
        shutil.rmtree(self.tmp, ignore_errors=True) if not self.failures else None
        return 1 if self.failures else 0

    def report(self, fig):
        print("\n== soak: %.1f min, up to %d tests at once" % (fig["minutes"], fig["max_tests"]))
        print("%-28s %6s %6s" % ("client runs", "ok", "failed"))
        for k, v in fig["client_runs"].items():
            print("%-28s %6d %6d" % (k, v["ok"], v["failed"]))
        print("client failures by kind and cause (refusals during faults and restarts are "
              "expected):")
        for k, v in sorted(fig["client_failures"].items()):
            print("  %4d  %s" % (v, k))
        print("client errors (not refusals) outside every fault window: %d %s" %
              (len(fig["client_errors_outside_faults"]), fig["client_errors_outside_faults"][:5]))
        print("server refusals (logs):", [i.get("refused") for i in fig["servers"]])
        print("faults:")
        for t, name, d in fig["faults"]:
            print("  %6.0f s  %s %s" % (t, name, d))
        print("refusal checks (t, fault, status, reason, health):", fig["refusal_checks"])
        print("tests finished (server logs): %d; files archived: %d (validated: %s); "
              "lost, logged: %d %s; held then written or lost: %d; lost in flight at SIGKILL: %d"
              % (fig["tests_finished"], fig["files_archived"], fig["files_validated"],
                 len(fig["files_lost_logged"]), sorted(set(fig["files_lost_logged"].values())),
                 fig["held_events"], fig["lost_in_flight_at_sigkill"]))
        print("idle CPU over 5 s: %.3f s; RSS %s kB -> %s kB at the end; fds at end %s" %
              (fig["idle_cpu_s"], fig["rss_ref_kb"], fig["rss_end_kb"], fig["fds_end"]))
        print("RSS / fds every ~%d s (t, server, rss kB, fds):" % 30)
        for s in fig["samples"][::6]:
            print("  %6.0f  %d  %6s  %4s" % s)
        print("RESULT:", "PASS" if not fig["failures"] else
              "FAIL (%d)\n  " % len(fig["failures"]) + "\n  ".join(fig["failures"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--max-tests", type=int, default=6)
    ap.add_argument("--ci", action="store_true", help="3 minutes (what CI runs)")
    ap.add_argument("--out")
    a = ap.parse_args()
    # SIGTERM (a CI timeout, an operator) still unmounts and stops the server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if a.ci:
        a.minutes = 3
    return Soak(a).main()


if __name__ == "__main__":
    sys.exit(main())
