#!/usr/bin/python3
"""Operations of the responsiveness server, as ops_test.py checks them for
ndt7: exact metric deltas and log lines for each of its protocols (rpm+h2,
rpm+h2c, rpm+h1, rpm+h1c); admission refusals of a measurement for
concurrency, transmit budget and spool quota (503 + Retry-After on the
config request, the rejection counted exactly once); drain (lame duck:
new measurements 503, running ones finish and are written); SIGHUP reload
(h2 still negotiated by ALPN, the new certificate served, a running
measurement survives). Clients: curl over HTTP/2 and HTTP/1.1.

Usage: rpm_ops.py SERVER_BINARY SUBJECT   (SUBJECT: metrics, admission,
drain, reload). Needs Debian's python3-prometheus-client."""

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_lib as L  # noqa: E402

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("SKIP: python3-prometheus-client missing")
    sys.exit(77)

KINDS = ("h2", "h2c", "h1", "h1c")


def check(cond, what, *detail):
    if not cond:
        raise AssertionError(what + (": " + " ".join(str(d) for d in detail) if detail else ""))
    print("ok:", what, *detail)


def scrape(srv):
    out = {}
    for fam in text_string_to_metric_families(srv.metrics_text()):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def val(m, name, **labels):
    return m.get((name, frozenset(labels.items())), 0.0)


def changed(a, b, prefix):
    """{(name, labels): delta} of every series named prefix* that moved."""
    keys = {k for k in list(a) + list(b) if k[0].startswith(prefix)}
    return {k: b.get(k, 0.0) - a.get(k, 0.0) for k in keys if b.get(k, 0.0) != a.get(k, 0.0)}


def base(srv, kind):
    tls = not kind.endswith("c")
    return "%s://127.0.0.1:%d" % ("https" if tls else "http", srv.wss if tls else srv.ws)


def curl_flags(kind):
    return {"h2": ["--http2", "-k"], "h2c": ["--http2-prior-knowledge"],
            "h1": ["--http1.1", "-k"], "h1c": ["--http1.1"]}[kind]


def curl(kind, url, *extra, timeout=30):
    """(status, headers, body, http version, curl exit code)."""
    with tempfile.NamedTemporaryFile() as out:
        p = subprocess.run(["curl", "-sS", "-D", "-", "-o", out.name, "-w", "\n%{http_version}"] +
                           curl_flags(kind) + list(extra) + [url],
                           capture_output=True, text=True, timeout=timeout)
        body = open(out.name, "rb").read()
    lines = p.stdout.strip().splitlines()
    status, headers = 0, {}
    for line in lines[:-1]:
        m = re.match(r"HTTP/\S+ (\d+)", line)
        if m:
            status, headers = int(m.group(1)), {}
        elif ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, headers, body, lines[-1] if lines else "", p.returncode


def config(srv, kind):
    st, h, body, ver, _ = curl(kind, base(srv, kind) + "/.well-known/nq")
    return st, h, (json.loads(body) if body else {}), ver


def measure(srv, kind, large_s=0.5):
    """One whole measurement: config, probes, an upload, the large object
    for large_s, the result. Returns the measurement's URLs."""
    st, _, doc, ver = config(srv, kind)
    check(st == 200 and ver == ("2" if kind.startswith("h2") else "1.1"),
          "%s: config over HTTP/%s" % (kind, ver))
    urls = doc["urls"]
    for _ in range(3):
        check(curl(kind, urls["small_download_url"])[0] == 200, kind + ": small")
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"\0" * (1 << 20))
        f.flush()
        check(curl(kind, urls["upload_url"], "--data-binary", "@" + f.name)[0] == 200,
              kind + ": upload")
    st, _, _, _, rc = curl(kind, urls["large_download_url"], "-m", str(large_s))
    check(rc == 28, kind + ": large streamed until the client stopped", rc)
    st, _, body, _, _ = curl(kind, urls["result_url"], "-d", json.dumps({"RPM": 1000}))
    check(st == 200, kind + ": result", body)
    return urls


def records(datadir):
    out = []
    for f in L.data_files(datadir, "responsiveness1"):
        with open(f) as fh:
            out.append(json.load(fh))
    return out


def refused(srv, kind, reason):
    """A config request refused with 503 + Retry-After for reason, counted
    exactly once in rejections{protocol="rpm+<kind>"} and nowhere else."""
    m0 = scrape(srv)
    st, h, doc, _ = config(srv, kind)
    check(st == 503 and h.get("retry-after", "").isdigit() and doc.get("error") == reason,
          "%s: config refused 503 %s with Retry-After" % (kind, reason), st, h.get("retry-after"),
          doc)
    m1 = scrape(srv)
    moved = changed(m0, m1, "netpulse_rejections_total")
    want = {("netpulse_rejections_total",
             frozenset({("protocol", "rpm+" + kind), ("reason", reason)})): 1.0}
    check(moved == want, "%s: rejections{%s} +1 exactly, nothing else" % (kind, reason), moved)
    check(changed(m0, m1, "netpulse_active_tests") == {}, kind + ": no test became active")


# ---- metrics and logs ---------------------------------------------------------

def t_metrics(binary, tmp):
    srv = L.Server(binary, os.path.join(tmp, "spool"), tls=True)
    try:
        m0 = scrape(srv)
        for kind in KINDS:
            check(("netpulse_tests_total", frozenset({("protocol", "rpm+" + kind),
                                                      ("test", "responsiveness"),
                                                      ("result", "success"),
                                                      ("stage", "none")})) in m0,
                  kind + ": series exists from the start")
            measure(srv, kind)
        check(L.wait_for(lambda: len(records(srv.datadir)) == 4, 20), "four records written")
        check(L.wait_for(lambda: sum(val(scrape(srv), "netpulse_active_tests",
                                         protocol="rpm+" + k) for k in KINDS) == 0, 5),
              "no measurement active")
        m1 = scrape(srv)
        by_proto = {r["Protocol"]: r for r in records(srv.datadir)}
        check(sorted(by_proto) == sorted(KINDS), "one record per protocol", sorted(by_proto))
        for kind in KINDS:
            p = "rpm+" + kind
            d = lambda name, **kw: val(m1, name, **kw) - val(m0, name, **kw)  # noqa: E731
            check(d("netpulse_tests_total", protocol=p, test="responsiveness", result="success",
                    stage="none") == 1, p + ": tests_total{success} +1 exactly")
            check(sum(v for k, v in changed(m0, m1, "netpulse_tests_total").items()
                      if ("protocol", p) in k[1]) == 1, p + ": no other tests_total moved")
            r = by_proto[kind]
            sent = sum(c["WireBytesSent"] for c in r["Connections"])
            recv = sum(c["WireBytesReceived"] for c in r["Connections"])
            check(d("netpulse_test_sent_bytes_total", protocol=p, test="responsiveness") == sent,
                  p + ": sent bytes = the record's wire bytes", sent)
            check(d("netpulse_test_received_bytes_total", protocol=p,
                    test="responsiveness") == recv, p + ": received bytes = the record's", recv)
            check(d("netpulse_test_duration_seconds_count", protocol=p,
                    test="responsiveness") == 1, p + ": duration histogram +1")
            check(val(m1, "netpulse_active_tests", protocol=p) == 0, p + ": active back to 0")
        check(val(m1, "netpulse_data_files_total", datatype="responsiveness1", result="written") -
              val(m0, "netpulse_data_files_total", datatype="responsiveness1",
                  result="written") == 4, "data_files_total{responsiveness1,written} +4")
        check(changed(m0, m1, "netpulse_rejections_total") == {}, "no rejections")
        log = srv.log_text()
        for kind in KINDS:
            mid = by_proto[kind]["MeasurementID"]
            check(re.search(r'msg="test finished" measurement=%s proto=rpm\+%s '
                            r'test=responsiveness result=success' % (mid, kind), log),
                  kind + ": log line for the finished measurement")
        for line in log.splitlines():
            if "level=info" in line and "listening" not in line:
                check("127.0.0.1" not in line, "no client IP at info level", line)
        for kind in KINDS:
            check(re.search(r'msg="listening" proto=rpm\+%s ' % kind, log), kind + ": listening")
    finally:
        rc = srv.stop()
    check(rc == 0, "exit 0", rc)


# ---- admission ----------------------------------------------------------------

def t_admission(binary, tmp):
    # concurrency: one measurement holds the only slot while it lives
    srv = L.Server(binary, os.path.join(tmp, "spool-c"), "--max-concurrent-tests", "1", tls=True)
    try:
        check(config(srv, "h1c")[0] == 200, "first measurement admitted")
        for kind in KINDS:
            refused(srv, kind, "at_capacity")
    finally:
        check(srv.stop() == 0, "exit 0")
    # budget: 8 Mbit/s over 100 s is 100 MB; each measurement reserves 60 MB
    srv = L.Server(binary, os.path.join(tmp, "spool-b"), "--bandwidth-budget", "8M",
                   "--budget-window", "100", "--budget-test-bytes", "60M", tls=True)
    try:
        check(config(srv, "h2c")[0] == 200, "first measurement admitted under the budget")
        for kind in KINDS:
            refused(srv, kind, "budget")
    finally:
        check(srv.stop() == 0, "exit 0")
    # the allowance: a measurement stops sending at the bytes it reserved
    srv = L.Server(binary, os.path.join(tmp, "spool-a"), "--bandwidth-budget", "800M",
                   "--budget-window", "100", "--budget-test-bytes", "20M", tls=True)
    try:
        for kind in ("h2c", "h1c", "h2"):
            m0 = scrape(srv)
            st, _, doc, _ = config(srv, kind)
            check(st == 200, kind + ": admitted with a 20 MB allowance")
            t0 = time.monotonic()
            p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-m", "10", "-w",
                                "%{size_download}"] + curl_flags(kind) +
                               [doc["urls"]["large_download_url"]],
                               capture_output=True, text=True, timeout=30)
            got = int(p.stdout or 0)
            check(5e6 < got <= 20e6 + (2 << 20) and time.monotonic() - t0 < 5,
                  kind + ": the large download stopped at the allowance", got, p.returncode)
            # The rest of it may go on (upload, probes): it ends at the idle
            # grace (5 s) after its last connection closed.
            check(L.wait_for(lambda: val(scrape(srv), "netpulse_active_tests",
                                         protocol="rpm+" + kind) == 0, 10),
                  kind + ": the measurement ended")
            m1 = scrape(srv)
            sent = val(m1, "netpulse_test_sent_bytes_total", protocol="rpm+" + kind,
                       test="responsiveness") - val(m0, "netpulse_test_sent_bytes_total",
                                                    protocol="rpm+" + kind,
                                                    test="responsiveness")
            check(5e6 < sent <= 20e6 + (2 << 20),
                  kind + ": socket bytes sent (metrics) within the allowance", sent)
        check(L.wait_for(lambda: len(records(srv.datadir)) == 3, 5), "three records")
        check(all(r["EndReason"] == "budget" for r in records(srv.datadir)),
              "EndReason budget", [r["EndReason"] for r in records(srv.datadir)])
    finally:
        check(srv.stop() == 0, "exit 0")
    # spool: the first record fills a 1-byte quota
    srv = L.Server(binary, os.path.join(tmp, "spool-s"), "--spool-max-bytes", "1",
                   "--spool-scan-interval", "1", tls=True)
    try:
        measure(srv, "h1c", large_s=0.2)
        check(L.wait_for(lambda: len(records(srv.datadir)) == 1, 15), "first record written")
        time.sleep(0.2)
        for kind in KINDS:
            refused(srv, kind, "spool_full")
    finally:
        check(srv.stop() == 0, "exit 0")


# ---- drain --------------------------------------------------------------------

def t_drain(binary, tmp):
    srv = L.Server(binary, os.path.join(tmp, "spool"), "--drain-timeout", "30", tls=True)
    loads = []
    for kind in ("h2c", "h1c"):
        st, _, doc, _ = config(srv, kind)
        check(st == 200, kind + ": admitted before SIGTERM")
        # The loads only need to be running when SIGTERM comes: paced, so
        # that two full-speed loopback downloads do not take both CPUs from
        # a sanitized server whose health answer is being timed.
        loads.append(subprocess.Popen(
            ["curl", "-sS", "-o", "/dev/null", "-m", "3", "--limit-rate", "20M"] +
            curl_flags(kind) +
            [doc["urls"]["large_download_url"]], stderr=subprocess.DEVNULL))
    check(L.wait_for(lambda: sum(val(scrape(srv), "netpulse_active_tests", protocol=p)
                                 for p in ("rpm+h2c", "rpm+h1c")) == 2, 5),
          "two measurements active")
    time.sleep(0.5)
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    check(L.wait_for(lambda: srv.health(timeout=0.1) == 500, 0.5, step=0.005),
          "health 500 right after SIGTERM", "%.0f ms" % ((time.monotonic() - t0) * 1e3))
    for kind in KINDS:
        refused(srv, kind, "lame_duck")
    check(srv.proc.poll() is None, "still running while measurements run")
    for p in loads:
        check(p.wait(10) == 28, "load ran until its client stopped")
    try:
        rc = srv.proc.wait(20)  # the grace after the last close, then the records
    except subprocess.TimeoutExpired:
        rc = None
    srv.stop()
    check(rc == 0, "exit 0 once the measurements ended", rc)
    recs = records(srv.datadir)
    check(sorted(r["Protocol"] for r in recs) == ["h1c", "h2c"], "both records written",
          [r["Protocol"] for r in recs])
    for r in recs:
        check(any(c["Role"] == "load-download" for c in r["Connections"]),
              r["Protocol"] + ": the load is in the record")
    check('msg="drained, exiting"' in srv.log_text(), "log says drained")


# ---- SIGHUP reload ------------------------------------------------------------

def alpn_and_cert(port, offer):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(offer)
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                         server_hostname="x") as s:
        return s.selected_alpn_protocol(), s.getpeercert(binary_form=True)


def t_reload(binary, tmp):
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")

    def mkcert(cn):
        L.make_cert(cert, key, cn)
    mkcert("first")
    srv = L.Server(binary, os.path.join(tmp, "spool"), "--cert", cert, "--key", key,
                   "--ndt7-addr", "127.0.0.1:0")
    try:
        check(alpn_and_cert(srv.wss, ["h2", "http/1.1"])[0] == "h2", "h2 negotiated before")
        st, _, doc, ver = config(srv, "h2")
        check(st == 200 and ver == "2", "h2 measurement admitted")
        load = subprocess.Popen(["curl", "-sS", "-k", "--http2", "-o", "/dev/null", "-m", "3",
                                 "-w", "%{size_download}", doc["urls"]["large_download_url"]],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        mkcert("second")
        srv.proc.send_signal(signal.SIGHUP)
        check(L.wait_for(lambda: "TLS certificate reloaded" in srv.log_text(), 3),
              "reload logged")
        with open(cert) as f:
            new_der = ssl.PEM_cert_to_DER_cert(f.read())
        for offer, want in ((["h2", "http/1.1"], "h2"), (["http/1.1"], "http/1.1"),
                            (["h2"], "h2")):
            got, der = alpn_and_cert(srv.wss, offer)
            check(got == want, "after SIGHUP, ALPN %s -> %s" % (offer, got))
            check(der == new_der, "after SIGHUP, the new certificate")
        st, _, _, ver = config(srv, "h2")
        check(st == 200 and ver == "2", "after SIGHUP, RPM config over h2", st, ver)
        st, _, _, ver = config(srv, "h1")
        check(st == 200 and ver == "1.1", "after SIGHUP, RPM config over http/1.1", st, ver)
        out, _ = load.communicate(10)
        check(load.returncode == 28 and int(out or 0) > (1 << 20),
              "the running h2 load survived the reload", load.returncode, out)
    finally:
        check(srv.stop() == 0, "exit 0")


SUBJECTS = {"metrics": t_metrics, "admission": t_admission, "drain": t_drain,
            "reload": t_reload}

if __name__ == "__main__":
    sys.exit(L.run_subject(SUBJECTS, __doc__, "np-rpmops-"))
