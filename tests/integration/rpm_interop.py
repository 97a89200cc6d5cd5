#!/usr/bin/env python3
"""RPM interop with HTTP/2 stacks that are not netpulse's, curl's or
nghttp2's own tools: a goresponsiveness-like load client on Go's
golang.org/x/net/http2 Transport (tests/peers/h2load_go, x/net 0.7.0: four
WINDOW_UPDATEs per 16 KiB DATA frame) or on Node's node:http2
(tests/peers/h2load_node.mjs). The peer fetches the config, loads each
direction for --seconds on 4 connections at full loopback speed, sends a
foreign probe on a new connection and a self probe on a load connection
every 10 ms, and posts a summary. Asserted: no GOAWAY, no refusal, no
failed load flow, (almost) no failed probe, a throughput floor, probe
counts, and exactly one responsiveness1 record, valid against both schemas.

Usage: rpm_interop.py --server-bin PATH --peer go|node [--go-bin PATH]
                      [--node PATH] --case h2_v4|h2c_v4|h2_v6|h2c_v6"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datafiles  # noqa: E402
import ops_lib  # noqa: E402
from rpm_server import FAILS, JSON_SCHEMA, SCHEMA, check, load_record  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODE_PEER = os.path.join(ROOT, "tests", "peers", "h2load_node.mjs")
FLOWS = 4
PROBE_MS = 10


def sanitized(binary):
    """Whether the server is the ASan build (its floors are lower)."""
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


def floors(server_bin, peer):
    """(Mbit/s per direction, fraction of the nominal probe count).
    What a floor must catch is a server that throttles or cuts off the
    peer: before issue 16 the frame guard sent GOAWAY after 10-15 MB per
    connection (40 Mbit/s over a 10 s download, 0 upload). The cut-off
    itself is caught by "every flow lasted the phase" and "no GOAWAY"; the
    floors stay clear of a starved 2-core machine (other builds and tests
    on it, load average 7-10), where these runs measured per direction:
    Go 1.7-14 Gbit/s against the plain server, 1.2-11 against the ASan
    one; Node over TLS is bound by its own JavaScript reader: 0.44-1.5
    Gbit/s plain, 0.11-0.8 ASan, and its timer fired 191 of 1000 probe
    ticks in the slowest run."""
    if peer == "node":
        return 100, 8
    return (250, 8) if sanitized(server_bin) else (500, 4)


def run_peer(a, base, seconds):
    url = base + "/.well-known/nq"
    if a.peer == "go":
        cmd = [a.go_bin, "-config", url, "-insecure", "-conns", str(FLOWS), "-seconds",
               str(seconds), "-probe-ms", str(PROBE_MS)]
    else:
        cmd = [a.node, NODE_PEER, "--config", url, "--conns", str(FLOWS), "--seconds",
               str(seconds), "--probe-ms", str(PROBE_MS)]
    print("+ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=4 * seconds + 60)
    if p.stderr:
        print(p.stderr[-2000:], file=sys.stderr)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    check(p.returncode == 0 and lines, "peer exit %d, no summary: %s" %
          (p.returncode, p.stdout[-500:]))
    return json.loads(lines[-1]) if lines else {}


def check_peer(a, s, seconds):
    floor, share = floors(a.server_bin, a.peer)
    name = "%s %s" % (a.peer, a.case)
    # Keys are "[after result: ]KIND CODE [debug]". The server closes idle
    # probe connections (the Go peer leaves them open, as goresponsiveness
    # does) and, once the summary is in, every idle connection, with GOAWAY
    # NO_ERROR (an idle probe's says so in its debug data); any other
    # GOAWAY is a cut-off.
    goaways = {k: v for k, v in (s.get("goaways") or {}).items()
               if not re.match(r"(after result: \w+ NO_ERROR|(after result: )?probe NO_ERROR( idle probe connection)?)$", k)}
    check(not goaways, name + ": GOAWAY seen: %r" % goaways)
    check(not s.get("statuses"), name + ": refused (status: count) %r" % s.get("statuses"))
    check(not s.get("errors"), name + ": errors %r" % s.get("errors"))
    check(not s.get("rst_streams"), name + ": RST_STREAM from the server %r" %
          s.get("rst_streams"))
    check(s.get("result_status") == 200, name + ": result %r" % s.get("result_status"))
    # The ticker drops ticks when the peer is starved of CPU; a share of
    # the nominal probe count proves probes ran all along.
    want_probes = seconds * 1000 / PROBE_MS / share
    for d in ("download", "upload"):
        ph = s.get(d)
        if not check(ph, name + ": no %s phase" % d):
            continue
        print("%s %s: %.0f Mbit/s, %d/%d flows, foreign %s, self %s" % (
            name, d, ph["mbps"], ph["flows_ok"], ph["flows"], ph["foreign_probes"],
            ph["self_probes"]), flush=True)
        check(ph["flows_ok"] == FLOWS, "%s %s: %d of %d load flows lasted the phase" %
              (name, d, ph["flows_ok"], FLOWS))
        check(ph["mbps"] >= floor, "%s %s: %.0f Mbit/s < floor %d" % (name, d, ph["mbps"], floor))
        for kind in ("foreign_probes", "self_probes"):
            p = ph[kind]
            check(p["attempted"] >= want_probes, "%s %s: %d %s attempted, want >= %d" %
                  (name, d, p["attempted"], kind, want_probes))
            # a tiny tolerance: a probe that lands as a phase's flows close
            check(p["failed"] <= max(2, p["attempted"] // 100),
                  "%s %s: %d of %d %s failed" % (name, d, p["failed"], p["attempted"], kind))
    if a.peer == "go":
        check(s.get("redials") == 0, name + ": a load connection was replaced (%r), so "
              "self probes left it" % s.get("redials"))
        # The peer must do what this test is about: x/net's credit per read.
        wu = s.get("download", {}).get("window_updates_per_data_frame", 0)
        check(wu >= 3, name + ": %.2f WINDOW_UPDATEs per DATA frame in the download, "
              "want x/net's ~4" % wu)


def check_record(a, datadir, srv, host):
    name = "%s %s" % (a.peer, a.case)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not ops_lib.data_files(datadir, "responsiveness1"):
        time.sleep(0.2)
    time.sleep(1)  # a second record would show up now
    files = ops_lib.data_files(datadir, "responsiveness1")
    if not check(len(files) == 1, name + ": %d responsiveness1 records, want 1: %s" %
                 (len(files), files)):
        return
    r = load_record(files[0])
    proto = a.case.split("_")[0]
    check(r["Protocol"] == proto, name + ": Protocol " + r["Protocol"])
    check(r["ClientIP"] == host, name + ": ClientIP " + r["ClientIP"])
    check(r.get("ClientSummary"), name + ": no ClientSummary")
    roles = {c["Role"] for c in r["Connections"]}
    for want in ("load-download", "load-upload", "probe"):
        check(want in roles, "%s: no %s connection in %s" % (name, want, roles))
    for c in r["Connections"]:
        check(c["ALPN"] == proto, name + ": ALPN " + c["ALPN"])
    errors = datafiles.validate(r, datafiles.load_schema(SCHEMA))
    check(not errors, name + ": schema: " + "; ".join(errors[:5]))
    import jsonschema  # Debian's python3-jsonschema
    with open(JSON_SCHEMA) as sf:
        v = jsonschema.Draft202012Validator(json.load(sf))
    errs = [e.message for e in v.iter_errors(r)]
    check(not errs, name + ": JSON Schema: " + "; ".join(errs[:5]))
    m = srv.metrics_text()
    check(re.search(r'netpulse_tests_total\{protocol="rpm\+%s",test="responsiveness",'
                    r'result="success",stage="none"\} 1\b' % proto, m) is not None,
          name + ": tests_total success 1:\n" +
          "\n".join(l for l in m.splitlines() if l.startswith("netpulse_tests_total")))
    refused = [l for l in m.splitlines() if l.startswith("netpulse_rejections_total") and
               "rpm" in l and not l.endswith(" 0")]
    check(not refused, name + ": refusals counted: %s" % refused)
    n, errs = datafiles.check_tree(datadir)
    check(n >= 1 and not errs, name + ": datafiles: %s" % errs[:3])


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--peer", choices=("go", "node"), required=True)
    ap.add_argument("--go-bin")
    ap.add_argument("--node", default="node")
    ap.add_argument("--case", required=True, choices=("h2_v4", "h2c_v4", "h2_v6", "h2c_v6"))
    ap.add_argument("--seconds", type=float, default=10)
    a = ap.parse_args()
    if a.peer == "go" and not (a.go_bin and os.access(a.go_bin, os.X_OK)):
        print("no Go peer binary (%r): build the np_goh2 target" % a.go_bin)
        return 77
    tls = a.case.startswith("h2_")
    host = "::1" if a.case.endswith("v6") else "127.0.0.1"
    listen = "[::1]:0" if host == "::1" else "127.0.0.1:0"
    with tempfile.TemporaryDirectory() as tmp:
        datadir = os.path.join(tmp, "spool")
        # The later flags win over ops_lib's 127.0.0.1 listeners.
        flags = ["--ndt7-addr-cleartext", listen] + (["--ndt7-addr", listen] if tls else [])
        srv = ops_lib.Server(a.server_bin, datadir, *flags, tls=tls)
        try:
            port = srv.wss if tls else srv.ws
            base = "%s://%s:%d" % ("https" if tls else "http",
                                   "[::1]" if host == "::1" else host, port)
            s = run_peer(a, base, a.seconds)
            print(json.dumps(s), flush=True)
            if s:
                check(s.get("test_endpoint") in (None, host),
                      "test_endpoint %r, want the bare host %r" % (s.get("test_endpoint"), host))
                check_peer(a, s, a.seconds)
            check_record(a, datadir, srv, host)
            check(srv.health() == 200, "server unhealthy afterwards")
        finally:
            srv.stop()
            log = open(srv.log_path, errors="replace").read()
            for l in log.splitlines():
                if "goaway" in l.lower() or "level=error" in l:
                    print("server log: " + l[:300])
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
