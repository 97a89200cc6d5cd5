#!/usr/bin/python3
"""Operations acceptance tests (issue 3) against a real netpulse-server:
metrics deltas, drain, SIGHUP reload, bandwidth budget, spool quota, access
tokens, healthcheck and configuration errors.

Usage: ops_test.py SERVER_BINARY SUBJECT   (SUBJECT: metrics, drain,
lameduck, reload, budget, spool, tokens, config). Exit 0 pass, 1 fail, 77 skip. Needs
Debian's python3-prometheus-client (and python3-jwt for tokens)."""

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_lib as L  # noqa: E402
import datafiles  # noqa: E402

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("SKIP: python3-prometheus-client missing")
    sys.exit(77)

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# Checks that could not run for want of a tool: the subject then exits 77
# (skipped), which CI (NP_REQUIRE_ALL_TESTS) counts as a failure.
SKIPPED = []


def check(cond, what, *detail):
    if not cond:
        raise AssertionError(what + (": " + " ".join(str(d) for d in detail) if detail else ""))
    print("ok:", what, *detail)


def scrape(srv):
    """{(sample name, frozenset(labels)): value}, parsed by prometheus_client."""
    text = srv.metrics_text()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def val(m, name, **labels):
    return m.get((name, frozenset(labels.items())), 0.0)


def delta(a, b, name, **labels):
    return val(b, name, **labels) - val(a, name, **labels)


wait_for = L.wait_for


def active(srv, proto="ndt7+ws"):
    return val(scrape(srv), "netpulse_active_tests", protocol=proto)


def check_logs(srv):
    """Every line about a test names its UUID; no client IP at info level."""
    for line in srv.log_text().splitlines():
        if re.search(r'msg="(test |data file|upgrade refused|monitoring)', line):
            if "uuid=" not in line:
                raise AssertionError("log line without uuid: " + line)
        if "listening" not in line and "127.0.0.1" in line:
            raise AssertionError("client IP in a default-level log line: " + line)
    print("ok: log lines about tests carry uuid=, no client IPs")


# ---- metrics -------------------------------------------------------------

def t_metrics(binary, tmp):
    srv = L.Server(binary, os.path.join(tmp, "spool"), "--max-tests-per-client", "1", tls=True)
    try:
        m0 = scrape(srv)
        # A held test, a refused one (client_limit), then the held one dropped.
        stop = threading.Event()
        held = []
        th = threading.Thread(target=lambda: held.append(
            L.ndt7(srv.ws, read_rate=1 << 20, abort=stop)))
        th.start()
        check(wait_for(lambda: active(srv) == 1, 5), "held test is active")
        r = L.ndt7(srv.ws)
        check(r.status == 503, "second test from the same IP refused", r)
        check(r.headers.get("retry-after", "").isdigit(), "refusal has Retry-After",
              r.headers.get("retry-after"))
        check(json.loads(r.body)["error"] == "client_limit", "refusal body names the reason",
              r.body)
        stop.set()
        th.join()
        check(wait_for(lambda: active(srv) == 0, 5), "held test ended")
        time.sleep(0.3)  # the admission ticket is released at the next tick
        m1 = scrape(srv)
        check(delta(m0, m1, "netpulse_rejections_total", protocol="ndt7+ws",
                    reason="client_limit") == 1, "rejections{client_limit} +1")
        check(delta(m0, m1, "netpulse_tests_total", protocol="ndt7+ws", test="download",
                    result="failure", stage="client_closed_early") == 1,
              "tests_total{failure,client_closed_early} +1")
        check(delta(m0, m1, "netpulse_tests_total", protocol="ndt7+ws", test="download",
                    result="success", stage="none") == 0, "no success from the dropped test")

        # Three successful downloads over ws and one over wss.
        res = [L.ndt7(srv.ws, query="early_exit=250") for _ in range(3)]
        for r in res:
            check(r.status == 101 and r.close_code == 1000 and r.error is None,
                  "download completed", r)
        rs = L.ndt7(srv.wss, tls=True, query="early_exit=250")
        check(rs.status == 101 and rs.close_code == 1000, "wss download completed", rs)
        check(wait_for(lambda: val(scrape(srv), "netpulse_data_files_total", datatype="ndt7",
                                   result="written") >= 5, 10), "data files written")
        m2 = scrape(srv)
        d = lambda name, **kw: delta(m1, m2, name, **kw)  # noqa: E731
        check(d("netpulse_tests_total", protocol="ndt7+ws", test="download", result="success",
                stage="none") == 3, "tests_total{ndt7+ws,download,success} +3 exactly")
        check(d("netpulse_tests_total", protocol="ndt7+wss", test="download", result="success",
                stage="none") == 1, "tests_total{ndt7+wss,download,success} +1")
        sent = d("netpulse_test_sent_bytes_total", protocol="ndt7+ws", test="download")
        recv = d("netpulse_test_received_bytes_total", protocol="ndt7+ws", test="download")
        c_read = sum(r.wire_read for r in res)
        c_written = sum(r.wire_written for r in res)
        check(abs(sent - c_read) <= 0.001 * c_read + 1024,
              "sent bytes match the clients' received bytes", sent, c_read)
        check(abs(recv - c_written) <= 1024, "received bytes match the clients' sent bytes",
              recv, c_written)
        app = sum(r.app_bytes for r in res)
        check(app <= sent <= app * 1.01 + 65536, "sent bytes = payload + framing", app, sent)
        check(d("netpulse_test_duration_seconds_count", protocol="ndt7+ws",
                test="download") == 3, "duration histogram +3")
        check(d("netpulse_test_rate_mbps_count", protocol="ndt7+ws", test="download") == 3,
              "rate histogram +3")
        check(d("netpulse_data_files_total", datatype="ndt7", result="written") == 4,
              "data files written +4")
        check(len(L.data_files(srv.datadir)) == 5, "5 files in the spool",
              len(L.data_files(srv.datadir)))
        check(val(m2, "netpulse_lame_duck") == 0, "not lame duck")
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_open_fds", "process_start_time_seconds"):
            check(val(m2, name) > 0, name + " > 0")
        check(any(k[0] == "netpulse_build_info" and v == 1 for k, v in m2.items()),
              "build_info present")
        check(wait_for(lambda: val(scrape(srv), "netpulse_saturation",
                                   limit="concurrency") == 0, 2), "saturation gauge back to 0")
        promtool = shutil.which("promtool")
        if promtool:
            p = subprocess.run([promtool, "check", "metrics"], input=srv.metrics_text(),
                               capture_output=True, text=True)
            check(p.returncode == 0, "promtool check metrics is clean", p.stdout, p.stderr)
        else:
            SKIPPED.append("promtool check metrics (Debian package prometheus)")
        # Every exported family is documented.
        doc = open(os.path.join(SRC, "docs", "metrics.md")).read()
        fams = {f.name for f in text_string_to_metric_families(srv.metrics_text())}
        missing = [f for f in fams if f not in doc]
        check(not missing, "every family is in docs/metrics.md", missing)
        check_logs(srv)
    finally:
        rc = srv.stop()
    check(rc == 0, "exit status 0 after SIGTERM", rc)


# ---- drain ---------------------------------------------------------------

def t_drain(binary, tmp):
    srv = L.Server(binary, os.path.join(tmp, "spool"), "--drain-timeout", "30")
    res = []
    ths = [threading.Thread(target=lambda: res.append(L.ndt7(srv.ws, read_rate=3 << 20)))
           for _ in range(3)]
    for t in ths:
        t.start()
    check(wait_for(lambda: active(srv) == 3, 5), "three tests running")
    check(srv.health() == 200, "health 200 while serving")
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    ok = wait_for(lambda: srv.health(timeout=0.1) == 500, 0.5, step=0.005)
    dt = time.monotonic() - t0
    check(ok and dt <= 0.1, "health 500 within 100 ms of SIGTERM", "%.1f ms" % (dt * 1e3))
    r = L.ndt7(srv.ws)
    check(r.status == 503 and r.headers.get("retry-after", "").isdigit(),
          "new test gets 503 + Retry-After", r, r.headers.get("retry-after"))
    check(json.loads(r.body)["error"] == "lame_duck", "reason lame_duck", r.body)
    hc = subprocess.run([binary, "healthcheck", "--url",
                         "http://127.0.0.1:%d/health" % srv.ports["health"]],
                        capture_output=True, text=True)
    check(hc.returncode == 1 and hc.stdout.startswith("unhealthy"),
          "healthcheck exits 1 while draining", hc.returncode, hc.stdout.strip())
    check(srv.proc.poll() is None, "still running while tests run")
    for t in ths:
        t.join()
    for r in res:
        check(r.status == 101 and r.close_code == 1000 and r.error is None,
              "running test completed", r)
    try:
        rc = srv.proc.wait(15)
    except subprocess.TimeoutExpired:
        rc = None
    srv.stop()
    check(rc == 0, "exit status 0 once idle", rc)
    files = L.data_files(srv.datadir)
    check(len(files) == 3, "three data files", files)
    check('msg="drained, exiting"' in srv.log_text(), "log says drained")

    # Second SIGTERM: out at once, no partial files.
    srv = L.Server(binary, os.path.join(tmp, "spool2"), "--drain-timeout", "30")
    th = threading.Thread(target=lambda: L.ndt7(srv.ws, read_rate=1 << 20))
    th.start()
    check(wait_for(lambda: active(srv) == 1, 5), "one test running")
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    try:
        rc = srv.proc.wait(2)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == 0 and time.monotonic() - t0 < 1, "second SIGTERM exits at once", rc)
    srv.stop()
    th.join()
    for root, _, fs in os.walk(srv.datadir):
        for f in fs:
            check(not f.endswith(".part") and not f.endswith(".tmp"), "no partial file", f)


def exit_after(srv, t0, timeout=5):
    """Waits for the server to exit by itself: (status or None, seconds since t0)."""
    try:
        rc = srv.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        rc = None
    dt = time.monotonic() - t0
    srv.stop()
    return rc, dt


def t_lameduck(binary, tmp):
    """--lame-duck-min: an idle server stays in lame duck that long after
    SIGTERM (health 500, new tests 503 + Retry-After), so that Locate's
    heartbeat sees it, then exits 0 by itself."""
    p = subprocess.run([binary, "--datadir", os.path.join(tmp, "d"),
                        "--ndt7-addr-cleartext", "127.0.0.1:0", "--ndt7-addr", "",
                        "--health-addr", "", "--prometheus-addr", "",
                        "--lame-duck-min", "40", "--drain-timeout", "30"],
                       capture_output=True, text=True, timeout=10)
    check(p.returncode == 2 and "--lame-duck-min" in p.stderr,
          "--lame-duck-min above --drain-timeout -> exit 2", p.returncode, p.stderr.strip())

    minimum = 5.0
    srv = L.Server(binary, os.path.join(tmp, "spool"), "--lame-duck-min", "5",
                   "--drain-timeout", "30")
    check(srv.health() == 200, "health 200 while serving")
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    check(wait_for(lambda: srv.health(timeout=0.1) == 500, 0.5, step=0.005),
          "health 500 right after SIGTERM")
    probes, last = 0, 0.0
    # Probe the whole minimum, leaving 0.3 s so that no probe races the exit.
    while time.monotonic() - t0 < minimum - 0.3:
        at = time.monotonic() - t0
        h = srv.health(timeout=1)
        r = L.ndt7(srv.ws, timeout=2)
        check(h == 500 and r.status == 503 and r.headers.get("retry-after", "").isdigit() and
              json.loads(r.body or b"{}").get("error") == "lame_duck",
              "at %.1f s: health 500, new test 503 lame_duck + Retry-After" % at,
              h, r, r.headers.get("retry-after"))
        check(srv.proc.poll() is None, "still running at %.1f s" % at)
        probes, last = probes + 1, at
        time.sleep(0.4)
    check(probes >= 8 and last >= minimum - 1, "probed through the minimum", probes,
          "%.1f s" % last)
    m = scrape(srv)
    check(val(m, "netpulse_lame_duck") == 1, "netpulse_lame_duck 1")
    rc, dt = exit_after(srv, t0)
    check(rc == 0, "exit 0 after the minimum", rc)
    check(minimum <= dt <= minimum + 1.5, "exited %.1f s after SIGTERM (minimum 5 s)" % dt)
    log = srv.log_text()
    check('msg="minimum lame-duck time over"' in log and 'msg="drained, exiting"' in log,
          "log: minimum over, then drained")

    # From the environment, like every flag; and 0 (the default) leaves at once.
    for value, low, high in (("1", 1.0, 2.5), ("0", 0.0, 1.0)):
        env = dict(os.environ, NETPULSE_LAME_DUCK_MIN=value)
        srv = L.Server(binary, os.path.join(tmp, "spool-env" + value), env=env)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        rc, dt = exit_after(srv, t0)
        check(rc == 0 and low <= dt <= high,
              "NETPULSE_LAME_DUCK_MIN=%s: idle exit 0 after %.2f s" % (value, dt), rc)


# ---- SIGHUP --------------------------------------------------------------

def t_reload(binary, tmp):
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")

    def mkcert(cn):
        L.make_cert(cert, key, cn)
    mkcert("first")
    sp = os.path.join(tmp, "spool")
    srv = L.Server(binary, sp, "--cert", cert, "--key", key, "--ndt7-addr", "127.0.0.1:0")
    res = []
    th = threading.Thread(target=lambda: res.append(
        L.ndt7(srv.wss, tls=True, read_rate=3 << 20)))
    th.start()
    check(wait_for(lambda: active(srv, "ndt7+wss") == 1, 5), "wss test running")
    mkcert("second")
    srv.proc.send_signal(signal.SIGHUP)
    check(wait_for(lambda: "TLS certificate reloaded" in srv.log_text(), 3), "reload logged")
    import ssl
    import socket
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.wss)),
                         server_hostname="x") as s:
        der = s.getpeercert(binary_form=True)
    with open(cert) as f:
        pem = f.read()
    check(ssl.PEM_cert_to_DER_cert(pem) == der, "new connections get the new certificate")
    th.join()
    check(res[0].status == 101 and res[0].close_code == 1000 and res[0].error is None,
          "the running test survived the reload", res[0])
    check(srv.stop() == 0, "exit 0")


# ---- budget --------------------------------------------------------------

def t_budget(binary, tmp):
    budget_bps, window = 500e6, 10
    srv = L.Server(binary, os.path.join(tmp, "spool"), "--bandwidth-budget", "500M",
                   "--budget-window", str(window), "--budget-test-bytes", "100M")
    bins = {}
    lock = threading.Lock()
    T0 = time.monotonic()

    def on_bytes(n):
        k = int((time.monotonic() - T0) * 10)
        with lock:
            bins[k] = bins.get(k, 0) + n
    admitted, refused, bad = [], [], []
    run_s = 30

    def client():
        while time.monotonic() - T0 < run_s:
            r = L.ndt7(srv.ws, on_bytes=on_bytes)
            if r.status == 101:
                admitted.append(r)
            elif r.status == 503 and r.headers.get("retry-after", "").isdigit():
                refused.append(r)
                time.sleep(min(int(r.headers["retry-after"]), 1.0))
            else:
                bad.append(r)
                time.sleep(0.5)
    ths = [threading.Thread(target=client) for _ in range(4)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    end_bin = int((time.monotonic() - T0) * 10)
    check(not bad, "every answer was 101 or 503 + Retry-After", bad[:3])
    check(len(refused) > 0, "some clients were refused", len(refused))
    check(len(admitted) >= 6, "the budget was used", len(admitted))
    limit = budget_bps * window / 8
    worst, worst_at = 0, 0
    for start in range(0, end_bin - window * 10 + 1):
        s = sum(bins.get(k, 0) for k in range(start, start + window * 10))
        if s > worst:
            worst, worst_at = s, start / 10
    print("worst window starts at %.1f s; admitted tests (start, end, MB):" % worst_at)
    for r in sorted(admitted, key=lambda r: r.start):
        print("  %.2f %.2f %.1f" % (r.start - T0, r.end - T0, r.wire_read / 1e6))
    check(worst > 0 and worst <= 1.05 * limit,
          "every full %d s window's average <= 1.05 x budget" % window,
          "worst %.1f Mbit/s vs budget %.0f" % (worst * 8 / window / 1e6, budget_bps / 1e6))
    reasons = {json.loads(r.body)["error"] for r in refused}
    check(reasons == {"budget"}, "refusals name the budget", reasons)
    rc = srv.stop()
    check(rc == 0, "exit 0", rc)
    files = L.data_files(srv.datadir)
    check(len(files) == len(admitted), "every admitted test has its data file",
          len(files), len(admitted))
    print("admitted %d, refused %d, worst window %.1f Mbit/s" %
          (len(admitted), len(refused), worst * 8 / window / 1e6))


# ---- spool quota ---------------------------------------------------------

def t_spool(binary, tmp):
    srv = L.Server(binary, os.path.join(tmp, "spool"), "--spool-max-bytes", "1",
                   "--spool-scan-interval", "1")
    try:
        m0 = scrape(srv)
        r = L.ndt7(srv.ws, query="early_exit=250")
        check(r.status == 101, "first test admitted (empty spool)", r)
        check(wait_for(lambda: len(L.data_files(srv.datadir)) == 1, 10), "its file written")
        time.sleep(0.2)
        r = L.ndt7(srv.ws, query="early_exit=250")
        check(r.status == 503 and json.loads(r.body)["error"] == "spool_full",
              "next test refused: spool_full", r, r.body)
        check(r.headers.get("retry-after", "").isdigit(), "with Retry-After")
        m1 = scrape(srv)
        check(delta(m0, m1, "netpulse_rejections_total", protocol="ndt7+ws",
                    reason="spool_full") == 1, "rejections{spool_full} +1")
        check(val(m1, "netpulse_spool_bytes") > 0, "spool_bytes > 0",
              val(m1, "netpulse_spool_bytes"))
        check(val(m1, "netpulse_saturation", limit="spool") >= 1, "saturation{spool} >= 1")
        for f in L.data_files(srv.datadir):
            os.unlink(f)  # what the uploader does
        check(wait_for(lambda: val(scrape(srv), "netpulse_spool_bytes") == 0, 5, 0.1),
              "the scan sees the freed spool")
        r = L.ndt7(srv.ws, query="early_exit=250")
        check(r.status == 101 and r.close_code == 1000, "re-admitted after freeing", r)
    finally:
        check(srv.stop() == 0, "exit 0")


# ---- tokens --------------------------------------------------------------

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def t_tokens(binary, tmp):
    try:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519
        from jwt.algorithms import ECAlgorithm, OKPAlgorithm
    except ImportError:
        print("SKIP: python3-jwt / python3-cryptography missing")
        sys.exit(77)
    ed = ed25519.Ed25519PrivateKey.generate()
    ecd = ec.generate_private_key(ec.SECP256R1())
    other = ed25519.Ed25519PrivateKey.generate()
    jwk_ed = json.loads(OKPAlgorithm.to_jwk(ed.public_key()))
    jwk_ed.update(kid="ed1", alg="EdDSA")
    jwk_ec = json.loads(ECAlgorithm.to_jwk(ecd.public_key()))
    jwk_ec.update(kid="ec1")
    kf1, kf2 = os.path.join(tmp, "ed.jwk"), os.path.join(tmp, "ec.jwk")
    with open(kf1, "w") as f:
        json.dump(jwk_ed, f)
    with open(kf2, "w") as f:
        json.dump({"keys": [jwk_ec]}, f)
    machine = "mlab1-tst01.mlab-sandbox.measurement-lab.org"
    now = int(time.time())

    def claims(**kw):
        c = {"iss": "locate", "aud": [machine], "sub": "client", "exp": now + 60,
             "nbf": now - 10, "iat": now - 10}
        c.update(kw)
        return {k: v for k, v in c.items() if v is not None}

    def tok(key, alg, kid, **kw):
        return jwt.encode(claims(**kw), key, algorithm=alg, headers={"kid": kid})
    none_tok = (b64u(json.dumps({"alg": "none", "kid": "ed1"}).encode()) + "." +
                b64u(json.dumps(claims()).encode()) + ".")
    flags = ["--token-verify-key", kf1, "--token-verify-key", kf2, "--token-machine", machine]
    srv = L.Server(binary, os.path.join(tmp, "spool"), *flags, "--token-required", "ndt7")
    try:
        good = {"EdDSA": tok(ed, "EdDSA", "ed1"), "ES256": tok(ecd, "ES256", "ec1")}
        for name, t in good.items():
            r = L.ndt7(srv.ws, query="early_exit=250&access_token=" + t)
            check(r.status == 101 and r.close_code == 1000, "valid %s token accepted" % name, r)
        bad = {
            "missing": (None, "token_missing"),
            "wrong aud": (tok(ed, "EdDSA", "ed1", aud=["other-machine"]), "token_bad_audience"),
            "wrong iss": (tok(ed, "EdDSA", "ed1", iss="evil"), "token_bad_issuer"),
            "expired": (tok(ed, "EdDSA", "ed1", exp=now - 5), "token_expired"),
            "nbf future": (tok(ed, "EdDSA", "ed1", nbf=now + 300), "token_not_yet_valid"),
            "bad signature": (tok(other, "EdDSA", "ed1"), "token_bad_signature"),
            "alg none": (none_tok, "token_bad_alg"),
            "unknown kid": (tok(ed, "EdDSA", "nope"), "token_unknown_kid"),
            "garbage": ("not.a.token", "token_bad_format"),
        }
        m0 = scrape(srv)
        for name, (t, reason) in bad.items():
            q = "access_token=" + t if t else ""
            r = L.ndt7(srv.ws, query=q)
            body = json.loads(r.body) if r.body else {}
            check(r.status == 401 and body.get("error") == reason,
                  "%s -> 401 %s" % (name, reason), r.status, r.body)
        m1 = scrape(srv)
        for _, (_, reason) in bad.items():
            check(delta(m0, m1, "netpulse_rejections_total", protocol="ndt7+ws",
                        reason=reason) == 1, "rejections{%s} +1" % reason)
        check(wait_for(lambda: len(L.data_files(srv.datadir)) >= 2, 10),
              "the two admitted tests have files")
        time.sleep(0.2)
        check(len(L.data_files(srv.datadir)) == 2, "only the two admitted tests have files")
        check(not re.search(r"eyJ[A-Za-z0-9_-]{10,}", srv.log_text()), "no token in the logs")
    finally:
        check(srv.stop() == 0, "exit 0")

    # sub=monitoring bypasses the transmit limits.
    srv = L.Server(binary, os.path.join(tmp, "spool2"), *flags, "--tx-max-rate", "1k")
    try:
        r = L.ndt7(srv.ws, query="early_exit=250")
        check(r.status == 101, "first download admitted", r)
        time.sleep(0.3)
        r = L.ndt7(srv.ws, query="early_exit=250")
        check(r.status == 503 and json.loads(r.body)["error"] == "tx_rate",
              "then refused by the transmit controller", r, r.body)
        mon = tok(ed, "EdDSA", "ed1", sub="monitoring")
        r = L.ndt7(srv.ws, query="early_exit=250&access_token=" + mon)
        check(r.status == 101 and r.close_code == 1000, "monitoring token bypasses it", r)
    finally:
        check(srv.stop() == 0, "exit 0")


# ---- configuration ---------------------------------------------------------

def t_config(binary, tmp):
    h = subprocess.run([binary, "--help"], capture_output=True, text=True)
    check(h.returncode == 0, "--help exits 0")
    for flag in ("prometheus-addr", "max-concurrent-tests", "max-tests-per-client",
                 "tx-max-rate", "tx-device", "bandwidth-budget", "budget-window",
                 "spool-max-bytes", "token-verify-key", "token-machine", "token-required",
                 "drain-timeout", "lame-duck-min", "health-addr"):
        line = [ln for ln in h.stdout.splitlines() if ln.strip().startswith("--" + flag + " ")]
        env = "NETPULSE_" + flag.upper().replace("-", "_")
        check(line and env in line[0], "--help documents --%s with %s" % (flag, env))
    for args, env in ((["--spool-max-bytes", "lots"], None),
                      (["--budget-window", "0"], None),
                      ([], {"NETPULSE_MAX_CONCURRENT_TESTS": "-3"}),
                      (["--token-required", "ndt9"], None),
                      (["--token-required", "ndt7,rpm"], None),
                      (["--bandwidth-budget", "1M", "--budget-window", "1"], None)):
        e = dict(os.environ, **(env or {}))
        p = subprocess.run([binary, "--datadir", os.path.join(tmp, "d"),
                            "--ndt7-addr-cleartext", "127.0.0.1:0", "--ndt7-addr", "",
                            "--health-addr", "", "--prometheus-addr", ""] + args,
                           capture_output=True, text=True, env=e, timeout=10)
        lines = p.stderr.strip().splitlines()
        check(p.returncode == 2 and len(lines) == 1, "bad value %s %s -> exit 2, one line" %
              (args, env or ""), p.returncode, lines)
    # Environment fallback: the metrics listener from NETPULSE_PROMETHEUS_ADDR.
    env = dict(os.environ, NETPULSE_PROMETHEUS_ADDR="127.0.0.1:0",
               NETPULSE_SPOOL_MAX_BYTES="12345")
    srv = L.Server(binary, os.path.join(tmp, "spool"), env=env)
    try:
        check(val(scrape(srv), "netpulse_spool_max_bytes") == 12345,
              "NETPULSE_SPOOL_MAX_BYTES read from the environment")
        hc = subprocess.run([binary, "healthcheck", "--url",
                             "http://127.0.0.1:%d/health" % srv.ports["health"]],
                            capture_output=True, text=True)
        check(hc.returncode == 0 and hc.stdout.strip() == "healthy", "healthcheck exits 0",
              hc.stdout)
        hc = subprocess.run([binary, "--health-addr", "127.0.0.1:%d" % srv.ports["health"],
                             "healthcheck"], capture_output=True, text=True)
        check(hc.returncode == 0, "healthcheck defaults to --health-addr", hc.stdout)
    finally:
        check(srv.stop() == 0, "exit 0")
    hc = subprocess.run([binary, "healthcheck", "--url", "http://127.0.0.1:1/health"],
                        capture_output=True, text=True)
    check(hc.returncode == 1 and len(hc.stdout.strip().splitlines()) == 1,
          "healthcheck exits 1 with one line when down", hc.stdout.strip())


SUBJECTS = {"metrics": t_metrics, "drain": t_drain, "lameduck": t_lameduck, "reload": t_reload,
            "budget": t_budget, "spool": t_spool, "tokens": t_tokens, "config": t_config}

# The shared main (validates every data file a subject leaves; privacy_test
# imports it from here).
run_subject = L.run_subject


def main():
    return run_subject(SUBJECTS, __doc__, "np-ops-", SKIPPED)


if __name__ == "__main__":
    sys.exit(main())
