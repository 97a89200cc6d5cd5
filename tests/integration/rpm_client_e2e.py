#!/usr/bin/env python3
"""The netpulse RPM client against netpulse-server on loopback: h2 (TLS,
ALPN) and h2c, sequential and --parallel; a plain `netpulse` run (ndt7,
then RPM on the same server). Each run gives a result with High or Medium
confidence and exactly one responsiveness1 record, which fits the schema
and carries the client's summary; --no-send-results leaves it out.

Usage: rpm_client_e2e.py --server-bin PATH --client-bin PATH [--case NAME]"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datafiles  # noqa: E402
import ops_lib  # noqa: E402

FAILS = []
# Short phases keep each run bounded; the algorithm is the same.
SHORT = ["--rpm-max-duration", "6s", "--rpm-idle-duration", "1s"]


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL: " + what, file=sys.stderr, flush=True)
    return cond


def run_client(argv, timeout=120):
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    print("client: exit %d in %.1f s: %s" % (p.returncode, time.monotonic() - t0, " ".join(argv[1:])),
          flush=True)
    if p.stderr.strip():
        print(p.stderr[-2000:], file=sys.stderr)
    return p


def one_json(p, name):
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    check(len(lines) == 1, "%s: want one JSON line on stdout, got %d" % (name, len(lines)))
    try:
        return json.loads(lines[-1]) if lines else {}
    except ValueError:
        check(False, "%s: stdout is not JSON: %r" % (name, p.stdout[:300]))
        return {}


def wait_records(datadir, want, seconds=20):
    """The server writes a record once the measurement's last connection
    has been gone for its grace period (5 s)."""
    deadline = time.monotonic() + seconds
    files = []
    while time.monotonic() < deadline:
        files = datafiles.rpm_files(datadir)
        if len(files) >= want:
            time.sleep(0.5)
            return datafiles.rpm_files(datadir)
        time.sleep(0.25)
    return files


def check_result(res, name, proto, parallel):
    check(res.get("SchemaVersion") == 1, name + ": SchemaVersion")
    check(res.get("Test") == "responsiveness", name + ": Test")
    check(res.get("Protocol") == proto, "%s: Protocol %r" % (name, res.get("Protocol")))
    check(res.get("Confidence") in ("High", "Medium"),
          "%s: confidence %r, want High or Medium" % (name, res.get("Confidence")))
    rpm = res.get("RPM", 0)
    check(rpm > 0, name + ": no RPM")
    check(res.get("Band") in ("Poor", "Fair", "Good", "Excellent"), name + ": band")
    check(abs(res.get("LoadedLatencyMs", 0) - 60000.0 / max(rpm, 1e-9)) < 0.01 * res.get(
        "LoadedLatencyMs", 1), name + ": LoadedLatencyMs is not 60000 / RPM")
    idle = res.get("Idle") or {}
    check(idle.get("Probes", 0) >= 3 and idle.get("LatencyMs", 0) > 0,
          "%s: idle phase %r" % (name, idle))
    check(res.get("Errors") == [], "%s: errors %r" % (name, res.get("Errors")))
    phases = ["Parallel"] if parallel else ["Download", "Upload"]
    for ph in phases:
        r = res.get(ph) or {}
        check(r.get("ThroughputMbps", 0) > 10, "%s %s: throughput %r" % (name, ph, r))
        check(1 <= r.get("Flows", 0) <= 16, "%s %s: flows %r" % (name, ph, r.get("Flows")))
        check(r.get("ProbesSelf", 0) > 0 and r.get("ProbesForeign", 0) > 0,
              "%s %s: probes %r" % (name, ph, r))
        check(r.get("RPMForeign", 0) > 0 and r.get("RPMLoaded", 0) > 0,
              "%s %s: RPM parts %r" % (name, ph, r))
        if proto == "h2":
            check(r.get("TrimmedTLSMs", 0) > 0, "%s %s: no TLS time" % (name, ph))
        else:
            check(r.get("TrimmedTLSMs", 1) == 0, "%s %s: TLS time on h2c" % (name, ph))
    for ph in ("Download", "Upload", "Parallel"):
        if ph not in phases:
            check(ph not in res, "%s: unexpected %s block" % (name, ph))
    par = res.get("Parameters") or {}
    check(par.get("MaxDurationMs") == 6000 and par.get("MAD") == 4 and par.get("MaxFlows") == 16
          and par.get("IntervalMs") == 1000, "%s: parameters %r" % (name, par))


def check_server_summary(rec, res, name, parallel):
    """The server's own view (ServerSummary, docs/data.md) is there and
    plausible on loopback: each phase the client ran, its load body bytes
    within the socket bytes of its load connections (framing and TLS add
    a few percent), a goodput of the client's order, RTT samples with a
    non-zero minimum, probes answered."""
    ss = rec.get("ServerSummary")
    if not check(isinstance(ss, dict) and ss.get("SchemaVersion") == 1,
                 "%s: record ServerSummary %r" % (name, ss)):
        return
    phases = ["Parallel"] if parallel else ["Download", "Upload"]
    for ph in ("Download", "Upload", "Parallel"):
        check((ph in ss) == (ph in phases), "%s: ServerSummary phases %s" % (name, sorted(ss)))
    print("%s: ServerSummary Idle %s" % (name, json.dumps(ss.get("Idle"), sort_keys=True)),
          flush=True)
    check("Idle" in ss and ss["Idle"].get("Probes", 0) >= 3 and
          0 < ss["Idle"].get("MinRTTMs", 0) < 50,
          "%s: ServerSummary Idle %r" % (name, ss.get("Idle")))
    conns = rec.get("Connections") or []
    for ph in phases:
        s = ss.get(ph) or {}
        print("%s: ServerSummary %s %s" % (name, ph, json.dumps(s, sort_keys=True)), flush=True)
        roles = {"Download": ["load-download"], "Upload": ["load-upload"],
                 "Parallel": ["load-download", "load-upload"]}[ph]
        wire = sum(c.get("WireBytesSent", 0) if c.get("Role") == "load-download"
                   else c.get("WireBytesReceived", 0)
                   for c in conns if c.get("Role") in roles)
        body = s.get("LoadBodyBytes", 0)
        # Body bytes count when framed for the connection: a cancelled
        # stream leaves what its connection had queued unwritten (its
        # output queue is up to 1 MiB, its frame ring 128 KiB; 1.3 MB per
        # connection seen on loopback).
        check(0.9 * wire <= body <= wire + s.get("LoadConnections", 0) * 2 ** 21,
              "%s %s: LoadBodyBytes %d, load connections' socket bytes %d" % (name, ph, body, wire))
        client = (res.get(ph) or {}).get("ThroughputMbps", 0)
        check(client / 3 <= s.get("GoodputMbps", 0) <= client * 3,
              "%s %s: server goodput %r Mbit/s, client %r" % (name, ph, s.get("GoodputMbps"),
                                                               client))
        check(1 <= s.get("LoadConnections", 0) <= 32 and s.get("EndTime", 0) > s.get("StartTime", 0),
              "%s %s: connections / span %r" % (name, ph, s))
        check(s.get("RTTSource") == ("tcpi_rcv_rtt" if ph == "Upload" else "tcpi_rtt"),
              "%s %s: RTTSource %r" % (name, ph, s.get("RTTSource")))
        check(s.get("RTTSamples", 0) > 0 and 0 < s.get("MinRTTMs", 0) < 50 and
              0 < s.get("LoadedRTTMedianMs", 0) <= s.get("LoadedRTTP90Ms", 0),
              "%s %s: RTT figures %r" % (name, ph, s))
        check(s.get("Probes", 0) > 0 and 0 <= s.get("ProbeServiceMedianMs", -1) <=
              s.get("ProbeServiceP90Ms", -1),
              "%s %s: probe figures %r" % (name, ph, s))
        check(s.get("Retransmits", -1) >= 0, "%s %s: Retransmits %r" % (name, ph, s))


def check_record(datadir, res, name, sent=True, client_ip="127.0.0.1", parallel=False):
    files = wait_records(datadir, 1)
    check(len(files) == 1, "%s: want exactly one responsiveness1 record, got %d" %
          (name, len(files)))
    if not files:
        return
    errs = datafiles.check_rpm_file(files[0])
    check(not errs, "%s: record does not fit the schema: %s" % (name, errs[:5]))
    with open(files[0]) as f:
        rec = json.load(f)
    check(rec.get("ClientIP") == client_ip, "%s: record ClientIP %r" % (name, rec.get("ClientIP")))
    check_server_summary(rec, res, name, parallel)
    cs = rec.get("ClientSummary")
    if not sent:
        check(cs is None, "%s: ClientSummary stored although --no-send-results" % name)
        return
    check(res.get("ResultSent") is True, name + ": the client says the summary was not taken")
    if not check(isinstance(cs, dict), "%s: record has no ClientSummary" % name):
        return
    # Every member the client sent survived the server's allow-list.
    for k in ("SchemaVersion", "Variant", "Protocol", "RPM", "Confidence", "Idle",
              "Download", "Upload", "Parallel", "Direction"):
        if k not in res:
            continue
        got, want = cs.get(k), res[k]
        if isinstance(want, dict):
            # The CLI adds members of its own (e.g. DownloadMbps).
            want = {m: v for m, v in want.items() if m in (got or {})}
            check(len(want) >= 3, "%s: ClientSummary %s lost its members: %r" % (name, k, got))
        check(got == want, "%s: ClientSummary %s = %r, client said %r" % (name, k, got, want))
    # Throughput is HTTP body bytes of the load streams (issue 17): the
    # stored summary says so for every loaded direction it holds.
    for k in ("Download", "Upload", "Parallel"):
        d = cs.get(k)
        if isinstance(d, dict) and "ThroughputMbps" in d:
            check(d.get("ThroughputBasis") == "http-body",
                  "%s: ClientSummary %s ThroughputBasis %r" % (name, k, d.get("ThroughputBasis")))
    # The CLI prints more parameters than the summary carries; the draft's
    # eight are in both.
    par = cs.get("Parameters") or {}
    check(len(par) == 8 and all(res["Parameters"].get(k) == v for k, v in par.items()),
          "%s: ClientSummary Parameters %r" % (name, par))
    # Foreign probes still in their handshakes when a phase ends are
    # dropped before they reach the server (two at most per phase).
    # Probe connections past the first ones have no row, only a count.
    conns = rec.get("Connections") or []
    summed = (rec.get("SummarizedConnections") or {}).get("Count", 0)
    total = len(conns) + summed
    opened = res.get("ConnectionsOpened", 0)
    check(opened - 8 <= total <= opened,
          "%s: record has %d + %d summarised connections, the client opened %d" %
          (name, len(conns), summed, opened))
    check(rec.get("ConnectionsJoined") == total,
          "%s: ConnectionsJoined %r, rows and summary %d" % (name, rec.get("ConnectionsJoined"),
                                                            total))
    check(rec.get("ConnectionsRefused", 0) == 0, name + ": connections refused")


def case_rpm(a, name, tls, extra, parallel=False, sent=True, v6=False):
    with tempfile.TemporaryDirectory() as tmp:
        datadir = os.path.join(tmp, "spool")
        # v6: the server on [::1] only
        flags = ["--ndt7-addr-cleartext", "[::1]:0", "--ndt7-addr", "[::1]:0"] if v6 else []
        srv = ops_lib.Server(a.server_bin, datadir, *flags, tls=tls)
        try:
            port = srv.wss if tls else srv.ws
            host = "[::1]" if v6 else "127.0.0.1"
            argv = [a.client_bin, "rpm", "--server", "%s:%d" % (host, port), "--json",
                    "--verbose", "--accept-data-policy", "-q"] + SHORT + extra
            argv += ["--no-verify"] if tls else ["--scheme", "http"]
            p = run_client(argv)
            check(p.returncode == 0, "%s: exit %d" % (name, p.returncode))
            res = one_json(p, name)
            check_result(res, name, "h2" if tls else "h2c", parallel)
            samples = res.get("Samples") or []
            kinds = {(s.get("Phase"), s.get("Kind")) for s in samples}
            check(("idle", "foreign") in kinds, "%s: no idle samples" % name)
            check(any(k == "self" for _, k in kinds), "%s: no self samples" % name)
            check(all(s.get("HTTPMs", -1) >= 0 for s in samples), name + ": bad sample")
            if v6:
                check(res.get("ServerIP") == "::1", "%s: ServerIP %r" % (name, res.get("ServerIP")))
            check_record(datadir, res, name, sent, "::1" if v6 else "127.0.0.1", parallel)
        finally:
            srv.stop()


def case_all(a):
    """A plain run: ndt7 download and upload, then RPM on the same server;
    the JSON summary gains "Responsiveness"; exit 0 counts no failed part."""
    with tempfile.TemporaryDirectory() as tmp:
        datadir = os.path.join(tmp, "spool")
        srv = ops_lib.Server(a.server_bin, datadir)
        try:
            argv = [a.client_bin, "--server", "127.0.0.1:%d" % srv.ws, "--scheme", "ws",
                    "--accept-data-policy", "--format", "json", "-q"]
            env = dict(os.environ, NETPULSE_RPM_MAX_DURATION="5s")
            t0 = time.monotonic()
            p = subprocess.run(argv, capture_output=True, text=True, timeout=150, env=env)
            print("plain run: exit %d in %.1f s" % (p.returncode, time.monotonic() - t0))
            check(p.returncode == 0, "all: exit %d: %s" % (p.returncode, p.stderr[-1000:]))
            lines = [l for l in p.stdout.splitlines() if l.strip()]
            s = json.loads(lines[-1]) if lines else {}
            check(s.get("Download") and s.get("Upload"), "all: ndt7 results missing")
            r = s.get("Responsiveness") or {}
            check(r.get("RPM", 0) > 0 and r.get("Protocol") == "h2c", "all: RPM part %r" % r)
            check(len(datafiles.ndt7_files(datadir)) == 2, "all: want two ndt7 files")
            check(len(wait_records(datadir, 1)) == 1, "all: want one responsiveness1 record")
            # Without --server the RPM part is skipped and said so.
            p = subprocess.run([a.client_bin, "--locate-url", "http://127.0.0.1:1/v2/nearest/ndt/ndt7",
                                "--accept-data-policy", "--format", "json", "-q"],
                               capture_output=True, text=True, timeout=60)
            check("RPM" in p.stderr and "--server" in p.stderr,
                  "all: no word on the skipped RPM part: %r" % p.stderr[-500:])
        finally:
            srv.stop()


def case_embed(a):
    """docs/examples/rpm_embed.c, built with netpulse, measures; the copy in
    docs/integrating.md is the file."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "docs", "examples", "rpm_embed.c")) as f:
        src = f.read()
    with open(os.path.join(root, "docs", "integrating.md")) as f:
        check(("```c\n" + src + "```") in f.read(),
              "embed: docs/integrating.md does not show docs/examples/rpm_embed.c as it is")
    if not check(a.embed_bin and os.path.exists(a.embed_bin), "embed: no --embed-bin"):
        return
    with tempfile.TemporaryDirectory() as tmp:
        datadir = os.path.join(tmp, "spool")
        srv = ops_lib.Server(a.server_bin, datadir)
        try:
            p = run_client([a.embed_bin, "127.0.0.1:%d" % srv.ws, "http"], timeout=60)
            check(p.returncode == 0, "embed: exit %d" % p.returncode)
            lines = p.stdout.splitlines()
            check(len(lines) == 3 and lines[0].startswith("RPM "), "embed: output %r" % lines)
            summary = json.loads(lines[-1]) if lines else {}
            check(summary.get("RPM", 0) > 0, "embed: summary %r" % summary)
            files = wait_records(datadir, 1)
            check(len(files) == 1, "embed: want one record")
            if files:
                with open(files[0]) as f:
                    rec = json.load(f)
                check((rec.get("ClientSummary") or {}).get("RPM") == summary.get("RPM"),
                      "embed: the record lacks the summary")
        finally:
            srv.stop()


def case_budget(a):
    """A server under a transmit budget stops the downloads at the bytes it
    reserved (100 MB here: a fraction of a second on loopback) with a GOAWAY
    that says so; the client ends the download phase with what it measured
    (Low confidence, a note), the upload phase still runs, the exit status
    is 0 and the record ends "budget"."""
    with tempfile.TemporaryDirectory() as tmp:
        datadir = os.path.join(tmp, "spool")
        srv = ops_lib.Server(a.server_bin, datadir, "--bandwidth-budget", "1G",
                             "--budget-test-bytes", "100M")
        try:
            base = [a.client_bin, "rpm", "--server", "127.0.0.1:%d" % srv.ws, "--scheme", "http",
                    "--accept-data-policy", "-q"] + SHORT
            p = run_client(base + ["--json"])
            check(p.returncode == 0, "budget: json run exit %d" % p.returncode)
            res = one_json(p, "budget")
            down, up = res.get("Download") or {}, res.get("Upload") or {}
            check(down.get("LoadEndedBy") == "budget", "budget: Download %r" % down)
            check("at its transmit allowance after" in down.get("Note", ""),
                  "budget: Download note %r" % down.get("Note"))
            check(50 < down.get("LoadEndedMB", 0) < 150, "budget: LoadEndedMB %r" %
                  down.get("LoadEndedMB"))
            check(down.get("Confidence") == "Low" and res.get("Confidence") == "Low",
                  "budget: confidence %r / %r" % (down.get("Confidence"), res.get("Confidence")))
            check(down.get("ProbesForeign", 0) + down.get("ProbesSelf", 0) >= 1 and
                  down.get("RPM", 0) > 0, "budget: no download RPM from its probes")
            check(up.get("RPM", 0) > 0 and "LoadEndedBy" not in up and
                  up.get("ThroughputMbps", 0) > 0, "budget: upload did not run: %r" % up)
            check(res.get("Errors") == [], "budget: errors %r" % res.get("Errors"))
            p = run_client(base)
            check(p.returncode == 0, "budget: human run exit %d" % p.returncode)
            check("note: the server ended the load at its transmit allowance after" in p.stdout
                  and "Confidence: Low" in p.stdout, "budget: human output " + p.stdout[-800:])
            files = wait_records(datadir, 2)
            check(len(files) == 2, "budget: %d records, want 2" % len(files))
            for f in files:
                with open(f) as fh:
                    rec = json.load(fh)
                check(rec.get("EndReason") == "budget", "budget: EndReason %r" %
                      rec.get("EndReason"))
                d = (rec.get("ClientSummary") or {}).get("Download") or {}
                check(d.get("LoadEndedBy") == "budget", "budget: summary kept %r" % d)
            n, errs = datafiles.check_tree(datadir)
            check(n >= 2 and not errs, "budget: datafiles %s" % errs[:3])
        finally:
            srv.stop()


CASES = {
    "budget": case_budget,
    "embed": case_embed,
    "h2c": lambda a: case_rpm(a, "h2c", False, []),
    "h2": lambda a: case_rpm(a, "h2", True, []),
    "ipv6": lambda a: case_rpm(a, "ipv6", True, [], v6=True),
    "parallel": lambda a: case_rpm(a, "parallel", False, ["--parallel"], parallel=True),
    "parallel_h2": lambda a: case_rpm(a, "parallel_h2", True, ["--parallel"], parallel=True),
    "nosend": lambda a: case_rpm(a, "nosend", False, ["--no-send-results"], sent=False),
    "all": case_all,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--client-bin", required=True)
    ap.add_argument("--embed-bin")
    ap.add_argument("--case", action="append")
    a = ap.parse_args()
    for name in a.case or sorted(CASES):
        print("== " + name, flush=True)
        CASES[name](a)
    if FAILS:
        print("%d failure(s)" % len(FAILS), file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
