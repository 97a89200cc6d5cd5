"""Helpers for the operations tests (ops_test.py) and the load benchmark:
start a real netpulse-server on ephemeral loopback ports, run minimal ndt7
clients over raw sockets, and scrape /metrics. Python 3 stdlib only (the
Prometheus parser is imported by the caller)."""

import base64
import os
import re
import select
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SUBPROTO = "net.measurementlab.ndt.v7"


class Server:
    """A netpulse-server process with every listener on 127.0.0.1:0. prefix:
    a command that execs the server (e.g. prlimit), so proc.pid stays its."""

    def __init__(self, binary, datadir, *flags, env=None, tls=False, prefix=()):
        self.datadir = datadir
        self.log_path = os.path.normpath(datadir) + ".log"
        self.log = open(self.log_path, "wb")
        args = [binary, "--datadir", datadir,
                "--uuid-prefix-file", os.path.join(datadir, "no-such-prefix"),
                "--ndt7-addr-cleartext", "127.0.0.1:0",
                "--health-addr", "127.0.0.1:0",
                "--prometheus-addr", "127.0.0.1:0"]
        if tls:
            args += ["--ndt7-addr", "127.0.0.1:0", "--tls-self-signed"]
        else:
            args += ["--ndt7-addr", ""]
        args = list(prefix) + args + list(flags)
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log,
                                     env=env)
        self.ports = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = self.log_text()
            for m in re.finditer(r'msg="listening" proto=(\S+) addr=\S+ port=(\d+)', text):
                self.ports[m.group(1)] = int(m.group(2))
            if 'msg="netpulse-server started"' in text:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError("server did not start:\n" + self.log_text())

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    @property
    def ws(self):
        return self.ports["ndt7+ws"]

    @property
    def wss(self):
        return self.ports["ndt7+wss"]

    def health(self, timeout=2):
        try:
            with urllib.request.urlopen(
                    "http://127.0.0.1:%d/health" % self.ports["health"], timeout=timeout) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except (urllib.error.URLError, OSError):
            # No answer within timeout (a loaded machine): not a status;
            # callers that poll (wait_for) ask again.
            return None

    def metrics_text(self):
        with urllib.request.urlopen(
                "http://127.0.0.1:%d/metrics" % self.ports["prometheus"], timeout=5) as r:
            ctype = r.headers.get("Content-Type", "")
            assert ctype.startswith("text/plain; version=0.0.4"), ctype
            return r.read().decode("utf-8")

    def stop(self, sig=15, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def data_files(datadir, datatype="ndt7"):
    out = []
    for root, _, files in os.walk(os.path.join(datadir, datatype)):
        out += [os.path.join(root, f) for f in files if not f.startswith(".")]
    return sorted(out)


class Result:
    def __init__(self):
        self.status = 0          # HTTP status of the upgrade answer
        self.headers = {}
        self.body = b""
        self.app_bytes = 0       # binary payload bytes received
        self.wire_read = 0       # socket bytes read (cleartext only)
        self.wire_written = 0
        self.close_code = None
        self.texts = 0
        self.error = None
        self.start = 0.0
        self.end = 0.0

    def __repr__(self):
        return ("Result(status=%d app=%d read=%d written=%d close=%s err=%s)" %
                (self.status, self.app_bytes, self.wire_read, self.wire_written,
                 self.close_code, self.error))


class _Conn:
    def __init__(self, sock, res, on_bytes):
        self.s = sock
        self.res = res
        self.buf = bytearray()
        self.on_bytes = on_bytes
        self.scratch = bytearray(1 << 20)

    def _fill(self, limit=1 << 16):
        n = self.s.recv_into(self.scratch, limit)
        if n == 0:
            raise EOFError
        self.res.wire_read += n
        if self.on_bytes:
            self.on_bytes(n)
        self.buf += self.scratch[:n]

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill(max(n - len(self.buf), 4096))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def skip(self, n):
        take = min(n, len(self.buf))
        del self.buf[:take]
        n -= take
        while n > 0:
            k = self.s.recv_into(self.scratch, min(n, len(self.scratch)))
            if k == 0:
                raise EOFError
            self.res.wire_read += k
            if self.on_bytes:
                self.on_bytes(k)
            n -= k

    def send(self, data):
        self.s.sendall(data)
        self.res.wire_written += len(data)

    def send_frame(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            hdr = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        # XOR as one big integer: byte-wise Python is too slow for 64 KiB.
        key = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
        self.send(hdr + mask + masked)



def ndt7(port, test="download", query="", tls=False, read_rate=0, timeout=30,
         on_bytes=None, upload_seconds=10.0, abort=None, texts=()):
    """Runs one ndt7 test; returns a Result (never raises on server
    behaviour). read_rate (bytes/s) paces a download's reading; a set abort
    (threading.Event) makes a paced download drop the connection; texts
    (str or bytes) are sent as text messages early in an upload, one after
    each binary message."""
    res = Result()
    res.start = time.monotonic()
    sock = None
    try:
        if read_rate:
            # A slow reader is a slow path: the bytes in flight sit in the
            # network, not in a multi-megabyte receive buffer the kernel
            # autotunes on loopback (which let the server's last seconds of
            # data queue here and the Close arrive after the hard stop).
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.settimeout(timeout)
            sock.connect(("127.0.0.1", port))
        else:
            sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock, server_hostname="localhost")
        c = _Conn(sock, res, on_bytes)
        key = base64.b64encode(os.urandom(16)).decode()
        target = "/ndt/v7/%s%s" % (test, ("?" + query) if query else "")
        c.send(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n" %
                (target, port, key, SUBPROTO)).encode())
        while b"\r\n\r\n" not in c.buf:
            c._fill()
        head, _, rest = bytes(c.buf).partition(b"\r\n\r\n")
        c.buf = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        res.status = int(lines[0].split()[1])
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            res.headers[k.strip().lower()] = v.strip()
        if res.status != 101:
            n = int(res.headers.get("content-length", "0"))
            res.body = c.read_exact(n) if n else b""
            return res
        if test == "upload":
            _upload(c, res, upload_seconds, texts)
        else:
            _download(c, res, read_rate, abort)
    except (OSError, EOFError, ValueError) as e:
        if res.error is None and res.close_code is None:
            res.error = repr(e)
    finally:
        res.end = time.monotonic()
        if sock is not None:
            sock.close()
    return res


def _read_frame_head(c):
    b0, b1 = c.read_exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", c.read_exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", c.read_exact(8))[0]
    return b0 & 0x0F, n


def _download(c, res, read_rate, abort):
    t0 = time.monotonic()
    got = 0
    while True:
        op, n = _read_frame_head(c)
        if op in (0, 2):
            if read_rate:
                # Read in 64 KiB steps, sleeping to hold read_rate.
                left = n
                while left:
                    take = min(left, 65536)
                    c.skip(take)
                    left -= take
                    got += take
                    if abort is not None and abort.is_set():
                        res.error = "aborted"
                        return
                    ahead = got / read_rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
            else:
                c.skip(n)
            res.app_bytes += n
        elif op == 1:
            c.read_exact(n)
            res.texts += 1
        elif op == 9:
            c.send_frame(10, c.read_exact(n))
        elif op == 10:
            c.read_exact(n)
        elif op == 8:
            p = c.read_exact(n)
            res.close_code = struct.unpack("!H", p[:2])[0] if len(p) >= 2 else 1005
            c.send_frame(8, p[:2])
            try:
                while True:
                    c._fill()
            except (OSError, EOFError):
                pass
            return
        else:
            raise ValueError("opcode %d" % op)


def _upload(c, res, seconds, texts=()):
    chunk = os.urandom(1 << 13)
    end = time.monotonic() + seconds
    texts = list(texts)
    while time.monotonic() < end:
        c.send_frame(2, chunk)
        res.app_bytes += len(chunk)
        if texts:
            t = texts.pop(0)
            c.send_frame(1, t.encode() if isinstance(t, str) else t)
            res.texts += 1
        # Drain the server's measurements so its sends never block.
        while select.select([c.s], [], [], 0)[0] or (hasattr(c.s, "pending") and
                                                      c.s.pending()):
            c._fill()
            while len(c.buf) >= 2:
                hdr = _peek_frame(c.buf)
                if hdr is None:
                    break
                op, n, hl = hdr
                payload = bytes(c.buf[hl:hl + n])
                del c.buf[:hl + n]
                if op == 8:
                    # The server's 10 s ended before ours (its clock starts
                    # at the handshake): a normal end, answered in kind.
                    res.close_code = (struct.unpack("!H", payload[:2])[0]
                                      if len(payload) >= 2 else 1005)
                    c.send_frame(8, payload[:2])
                    return
    c.send_frame(8, struct.pack("!H", 1000))
    try:
        while True:
            op, n = _read_frame_head(c)
            p = c.read_exact(n)
            if op == 8:
                res.close_code = struct.unpack("!H", p[:2])[0] if len(p) >= 2 else 1005
                break
    except (OSError, EOFError):
        pass


def _peek_frame(buf):
    """(opcode, payload length, header length) if a whole frame is in buf."""
    n = buf[1] & 0x7F
    hl = 2
    if n == 126:
        if len(buf) < 4:
            return None
        n, hl = struct.unpack("!H", buf[2:4])[0], 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n, hl = struct.unpack("!Q", buf[2:10])[0], 10
    if len(buf) < hl + n:
        return None
    return buf[0] & 0x0F, n, hl


def run_parallel(fn, args_list):
    """Runs fn(*args) in threads; returns results in order."""
    out = [None] * len(args_list)

    def work(i, a):
        out[i] = fn(*a)
    ts = [threading.Thread(target=work, args=(i, a)) for i, a in enumerate(args_list)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def make_cert(cert, key, cn):
    """Writes a fresh self-signed P-256 certificate and key (PEM) with
    openssl, as a deployment's cert-manager would replace them."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj",
                    "/CN=" + cn, "-keyout", key, "-out", cert],
                   check=True, capture_output=True)


def wait_for(pred, timeout, step=0.02):
    """Polls pred until it is true (True) or timeout seconds pass (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def run_subject(subjects, doc, prefix, skipped=None):
    """The main of a test script: argv is SERVER_BINARY SUBJECT; runs
    subjects[SUBJECT](binary, tmpdir), validates every data file left in
    tmpdir against the shipped schemas (datafiles), and prints the server
    logs left there on an AssertionError. Returns the exit status: 77 when
    the subject passed but `skipped` names checks it could not run."""
    import datafiles  # same folder; stdlib only
    if len(sys.argv) != 3 or sys.argv[2] not in subjects:
        print(doc)
        return 2
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        try:
            try:
                subjects[sys.argv[2]](sys.argv[1], tmp)
            finally:
                datafiles.assert_tree(tmp)
        except AssertionError as e:
            print("FAIL:", e)
            for f in sorted(os.listdir(tmp)):
                if f.endswith(".log"):
                    print("---- server log", f)
                    print(open(os.path.join(tmp, f)).read()[-4000:])
            return 1
    if skipped:
        # Ran, but some check could not: a skip (77), never a pass.
        print("SKIP: passed, but did not run: " + "; ".join(skipped))
        return 77
    print("PASS")
    return 0


class CookieWatcher(threading.Thread):
    """Samples `ss -e` for server-side sockets: their cookies are the UUIDs."""

    def __init__(self, ports, interval=0.2):
        super().__init__(daemon=True)
        self.interval = interval
        self.filter = " or ".join("sport = :%d" % p for p in ports)
        self.cookies = set()
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            out = subprocess.run(["ss", "-tinHe", "state", "established",
                                  "( %s )" % self.filter],
                                 capture_output=True, text=True).stdout
            for m in re.finditer(r"\bsk:([0-9a-f]+)", out):
                self.cookies.add(int(m.group(1), 16))
            time.sleep(self.interval)
