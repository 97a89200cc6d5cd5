#!/usr/bin/env python3
"""netpulse-data on records the suite makes itself: a real netpulse-server,
the netpulse client's ndt7 download and upload and a short sequential RPM
run over loopback, then `netpulse-data table` (CSV and JSON lines, with and
without --with-ip) checked column by column against the records, recomputed
here from docs/data.md's definitions; the same records as a jostler bundle
(.jsonl.gz, bare and "raw"-wrapped lines) give the same rows; `check` passes
them; usage and I/O errors have their documented exit statuses.

Usage: data_tool.py --server-bin PATH --client-bin PATH --data-bin PATH
Exit 0 = pass."""

import argparse
import csv
import glob
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ops_lib import Server  # noqa: E402
import datafiles  # noqa: E402

COLUMNS = ["datatype", "test", "start_time", "id", "throughput_mbps", "min_rtt_ms",
           "server_loaded_rtt_ms", "client_rpm", "client_loaded_latency_ms", "retrans_pct",
           "file"]
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def close(a, b):
    """The tool prints at most 10 significant digits."""
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def expected_rows(path, rec):
    """The rows docs/data.md defines, computed from the record in Python."""
    if "MeasurementID" in rec:
        out = []
        cs = rec.get("ClientSummary") or {}
        ss = rec.get("ServerSummary") or {}
        for key in ("Download", "Upload", "Parallel"):
            c, s = cs.get(key), ss.get(key)
            if not isinstance(c, dict) and not isinstance(s, dict):
                continue
            c, s = c or {}, s or {}
            out.append({"datatype": "responsiveness1", "test": key.lower(),
                        "start_time": rec["StartTime"], "id": rec["MeasurementID"],
                        "throughput_mbps": s.get("GoodputMbps"), "min_rtt_ms": s.get("MinRTTMs"),
                        "server_loaded_rtt_ms": s.get("LoadedRTTMedianMs"),
                        "client_rpm": c.get("RPM"),
                        "client_loaded_latency_ms": c.get("LoadedLatencyMs"),
                        "retrans_pct": s.get("RetransPct"), "file": path,
                        "client_ip": rec.get("ClientIP", "")})
        return out
    test = "Download" if "Download" in rec else "Upload"
    t = rec[test]
    row = {"datatype": "ndt7", "test": test.lower(), "start_time": t["StartTime"],
           "id": t["UUID"], "server_loaded_rtt_ms": None, "client_rpm": None,
           "client_loaded_latency_ms": None, "file": path, "client_ip": rec.get("ClientIP", "")}
    ss = rec.get("ServerSummary")
    if ss:
        row.update(throughput_mbps=ss.get("GoodputMbps"), min_rtt_ms=ss.get("MinRTTMs"),
                   server_loaded_rtt_ms=ss.get("LoadedRTTMedianMs"),
                   retrans_pct=ss.get("RetransPct"))
    else:
        ti = t["ServerMeasurements"][-1]["TCPInfo"]
        got = ti["BytesAcked"] if test == "Download" else ti["BytesReceived"]
        row["throughput_mbps"] = got * 8 / ti["ElapsedTime"]
        row["min_rtt_ms"] = ti["MinRTT"] / 1000
        row["retrans_pct"] = (ti["BytesRetrans"] * 100 / ti["BytesSent"]
                              if test == "Download" and ti["BytesSent"] > 0 else None)
    return [row]


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)


def parse_csv(text):
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    out = []
    for r in body:
        d = dict(zip(header, r))
        for c in COLUMNS[4:10]:
            d[c] = float(d[c]) if d[c] != "" else None
        out.append(d)
    return header, out


def compare(got, want, label):
    g = {(r["id"], r["test"]): r for r in got}
    check(len(got) == len(want), "%s: %d rows, the records make %d" % (label, len(got),
                                                                        len(want)))
    for w in want:
        r = g.get((w["id"], w["test"]))
        if not check(r is not None, "%s: a row for %s %s" % (label, w["id"], w["test"])):
            continue
        bad = [c for c in COLUMNS[:4] + ["file"] if r[c] != w[c]]
        bad += [c for c in COLUMNS[4:10] if not close(r[c], w[c])]
        check(not bad, "%s: %s %s: every column as the record says%s" % (
            label, w["datatype"], w["test"],
            "" if not bad else " (differ: %s)" % {c: (r[c], w[c]) for c in bad}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server-bin", required=True)
    ap.add_argument("--client-bin", required=True)
    ap.add_argument("--data-bin", required=True)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="np-data-tool-")
    datadir = os.path.join(work, "spool")
    try:
        srv = Server(a.server_bin, datadir)
        try:
            base = [a.client_bin, "--server", "127.0.0.1:%d" % srv.ws, "--accept-data-policy"]
            p = run(base + ["--scheme", "ws", "--no-rpm", "--quiet"])
            check(p.returncode == 0, "ndt7 download and upload ran (rc %d %s)" % (
                p.returncode, p.stderr[-300:]))
            p = run([a.client_bin, "rpm", "--server", "127.0.0.1:%d" % srv.ws, "--scheme", "http",
                     "--accept-data-policy", "--quiet", "--rpm-idle-duration", "500ms",
                     "--rpm-max-duration", "3s"])
            check(p.returncode == 0, "a sequential RPM run ran (rc %d %s)" % (
                p.returncode, p.stderr[-300:]))
        finally:
            srv.stop()
        datafiles.assert_tree(datadir)

        files = sorted(glob.glob(os.path.join(datadir, "*", "*", "*", "*", "*")))
        want = []
        records = []
        for f in files:
            opener = gzip.open if f.endswith(".gz") else open
            with opener(f, "rb") as fh:
                rec = json.loads(fh.read())
            records.append(rec)
            want += expected_rows(f, rec)
        kinds = sorted({(w["datatype"], w["test"]) for w in want})
        check(kinds == [("ndt7", "download"), ("ndt7", "upload"),
                        ("responsiveness1", "download"), ("responsiveness1", "upload")],
              "rows of every kind made: %s" % kinds)
        # The suite's own records must carry the figures: a column that is
        # empty on all of them would be a column never tested.
        # server_loaded_rtt_ms comes only from ServerSummary (issue 19 part
        # 1): once the schema has it, every record must carry it, and the
        # server columns come from it (test_record_row covers the reading
        # of that shape in any case).
        rpm_schema = datafiles.load_schema(datafiles.RPM_SCHEMA)
        has_ss = any(f["name"] == "ServerSummary" for f in rpm_schema)
        for c in COLUMNS[4:10]:
            if c == "server_loaded_rtt_ms" and not has_ss:
                print("note: schemas/responsiveness1.json has no ServerSummary yet: "
                      "server_loaded_rtt_ms is empty on this tree's records", flush=True)
                continue
            check(any(w[c] is not None for w in want), "the records give %s somewhere" % c)
        if has_ss:
            check(all("ServerSummary" in r for r in records),
                  "every record carries the ServerSummary its schema has")
            for w in want:
                check(w["server_loaded_rtt_ms"] is not None,
                      "%s %s: server_loaded_rtt_ms present" % (w["datatype"], w["test"]))

        p = run([a.data_bin, "table", datadir])
        check(p.returncode == 0, "table exits 0 (%s)" % p.stderr[-300:])
        header, got_csv = parse_csv(p.stdout)
        check(header == COLUMNS, "CSV header is the documented columns in order: %s" % header)
        compare(got_csv, want, "csv")
        check("127.0.0.1" not in p.stdout.replace(datadir, ""), "no client IP without --with-ip")

        p = run([a.data_bin, "table", "--format", "jsonl", "--with-ip", datadir])
        check(p.returncode == 0, "table --format jsonl exits 0")
        got_j = [json.loads(line) for line in p.stdout.splitlines()]
        check(all(list(r.keys()) == COLUMNS + ["client_ip"] for r in got_j),
              "JSON lines carry the columns in order, client_ip last with --with-ip")
        compare(got_j, want, "jsonl")
        ips = {(r["id"], r["test"]): r["client_ip"] for r in got_j}
        check(all(ips.get((w["id"], w["test"])) == w["client_ip"] for w in want),
              "client_ip as the records say")
        p = run([a.data_bin, "table", "--with-ip", datadir])
        check(p.stdout.splitlines()[0] == ",".join(COLUMNS) + ",client_ip",
              "CSV --with-ip adds client_ip last")

        # The same records as M-Lab hands them out: a jostler bundle.
        bdir = os.path.join(work, "archive", "ndt", "bundles")
        os.makedirs(bdir)
        bundle = os.path.join(bdir, "20261207T000000.000000Z-bundle.jsonl.gz")
        with gzip.open(bundle, "wt") as out:
            for i, rec in enumerate(records):
                line = rec if i % 2 else {"date": "2026-12-07",
                                          "archiver": {"Filename": "x"}, "raw": rec}
                out.write(json.dumps(line, separators=(",", ":")) + "\n")
        p = run([a.data_bin, "table", os.path.join(work, "archive")])
        check(p.returncode == 0, "table reads a bundle (%s)" % p.stderr[-300:])
        _, got_b = parse_csv(p.stdout)
        want_b = []
        for i, rec in enumerate(records):
            want_b += expected_rows("%s#%d" % (bundle, i + 1), rec)
        compare(got_b, want_b, "bundle")
        check(all(r["file"].startswith(bundle + "#") for r in got_b),
              "bundle rows name the file and line")
        p = run([a.data_bin, "check", datadir, os.path.join(work, "archive")])
        check(p.returncode == 0 and p.stdout == "",
              "check passes the suite's records and their bundle (%r)" % p.stdout[-300:])

        # Exit statuses as documented.
        check(run([a.data_bin, "--help"]).returncode == 0, "--help exits 0")
        check(run([a.data_bin, "table", "--format", "xml", datadir]).returncode == 2,
              "a bad option value exits 2")
        check(run([a.data_bin, "table"]).returncode == 2, "no DIR exits 2")
        check(run([a.data_bin, "frobnicate", datadir]).returncode == 2, "unknown command exits 2")
        p = run([a.data_bin, "table", os.path.join(work, "no-such-dir")])
        check(p.returncode == 3 and "no-such-dir" in p.stderr, "a missing DIR exits 3, named")
        check(p.stderr.count("\r") == 0, "no progress line when stderr is not a terminal")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
