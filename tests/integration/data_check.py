#!/usr/bin/env python3
"""`netpulse-data check` on a corpus of malformed files
(tests/data/netpulse-data/bad: truncated gzip, wrong types, missing required
fields, units out of range, not JSON, a record in the wrong datatype's
directory, a bundle with one bad line...) plus files made here (one larger
than --max-bytes, a gzip that decompresses past it): exactly one line per
bad file, with the expected reason; the good corpus passes; exit statuses as
documented; the suite's Python validator (datafiles.py) agrees on the
schema-level verdicts; `table` skips what it cannot read and says so.

Usage: data_check.py --data-bin PATH --corpus DIR     Exit 0 = pass."""

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datafiles  # noqa: E402

# file (under bad/) -> a part of the reason check must give
EXPECTED = {
    "bundles/bad-second-line.jsonl.gz#2": "$.MeasurementID: not a string",
    "ndt7/2026/12/07/array.json.gz": "not a JSON object",
    "ndt7/2026/12/07/bad-timestamp.json.gz": "$.StartTime: not an RFC 3339 time",
    "ndt7/2026/12/07/both-tests.json.gz": "exactly one of Download and Upload",
    "ndt7/2026/12/07/missing-starttime.json.gz": "$.StartTime: required, missing",
    "ndt7/2026/12/07/missing-uuid.json.gz": "$.Download.UUID: required, missing",
    "ndt7/2026/12/07/negative-elapsed.json.gz": "AppInfo.ElapsedTime: -5 is out of range",
    "ndt7/2026/12/07/not-gzip.json.gz": "named .gz but not gzip",
    "ndt7/2026/12/07/not-json.json.gz": "not a JSON object at byte 0",
    "ndt7/2026/12/07/port-out-of-range.json.gz": "$.ServerPort: 70000 is out of range",
    "ndt7/2026/12/07/trailing-garbage.json.gz": "not a JSON object at byte",
    "ndt7/2026/12/07/truncated-gzip.json.gz": "truncated or corrupt",
    "ndt7/2026/12/07/unknown-field.json.gz": "$.Email: not in the schema",
    "ndt7/2026/12/07/wrong-type.json.gz": "AppInfo.NumBytes: not an integer",
    "ndt7-in-wrong-dir/responsiveness1/2026/12/07/ndt7-download-x.json.gz":
        "a ndt7 record under a responsiveness1 directory",
    "responsiveness1/2026/12/07/duplicate-key.json": "duplicate object key",
    "responsiveness1/2026/12/07/empty.json": "empty",
    "responsiveness1/2026/12/07/latency-out-of-range.json":
        "LoadedLatencyMs: 1000000000000 is out of range",
    "responsiveness1/2026/12/07/mbps-out-of-range.json": "ThroughputMbps: 50000000 is out of range",
    "responsiveness1/2026/12/07/missing-endtime.json": "$.EndTime: required, missing",
    "responsiveness1/2026/12/07/negative-rpm.json": "$.ClientSummary.Download.RPM: -3 is out",
    "responsiveness1/2026/12/07/not-a-record.json": "not a netpulse record",
    "responsiveness1/2026/12/07/schemaversion-string.json": "$.SchemaVersion: not an integer",
    "responsiveness1/2026/12/07/two-lines.json": "not exactly one line",
    # made by this script
    "made/huge.json": "over the 1048576-byte cap",
    "made/bomb.json.gz": "decompresses past the 1048576-byte cap",
}
# Type-level faults the suite's Python validator must see too.
SCHEMA_LEVEL = ["ndt7/2026/12/07/bad-timestamp.json.gz", "ndt7/2026/12/07/unknown-field.json.gz",
                "ndt7/2026/12/07/wrong-type.json.gz",
                "responsiveness1/2026/12/07/schemaversion-string.json"]
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)


def run(argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-bin", required=True)
    ap.add_argument("--corpus", required=True)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="np-data-check-")
    try:
        bad = os.path.join(work, "bad")
        shutil.copytree(os.path.join(a.corpus, "bad"), bad)
        os.makedirs(os.path.join(bad, "made"))
        with open(os.path.join(bad, "made", "huge.json"), "wb") as f:
            f.write(b" " * (2 << 20))
        with open(os.path.join(bad, "made", "bomb.json.gz"), "wb") as f:
            f.write(gzip.compress(b" " * (8 << 20)))  # 8 KB that grow to 8 MiB

        good = os.path.join(a.corpus, "good")
        p = run([a.data_bin, "check", good])
        check(p.returncode == 0 and p.stdout == "", "the good corpus passes (%r %r)" %
              (p.stdout, p.stderr))
        p = run([a.data_bin, "check", "--max-bytes", "1048576", bad])
        check(p.returncode == 1, "check exits 1 on the bad corpus (rc %d)" % p.returncode)
        lines = p.stdout.splitlines()
        got = {}
        for line in lines:
            path, _, why = line.partition(": ")
            got.setdefault(os.path.relpath(path, bad), []).append(why)
        check(sorted(got) == sorted(EXPECTED), "one line for each bad file, no other: extra %s, "
              "missing %s" % (sorted(set(got) - set(EXPECTED)), sorted(set(EXPECTED) - set(got))))
        for name, want in sorted(EXPECTED.items()):
            whys = got.get(name, [])
            check(len(whys) == 1 and want in whys[0],
                  "%s: %r (got %r)" % (name, want, whys))

        for name in SCHEMA_LEVEL:
            path = os.path.join(bad, name)
            errs = (datafiles.check_file(path) if name.startswith("ndt7/")
                    else datafiles.check_rpm_file(path))
            check(errs, "datafiles.py also refuses %s" % name)
        n, errs = datafiles.check_tree(good, quiet=True)
        check(n == 2 and not errs, "datafiles.py passes the good corpus too")

        # table: rows for what it can read, the rest named on stderr, exit 1.
        p = run([a.data_bin, "table", "--max-bytes", "1048576", good, bad])
        check(p.returncode == 1, "table exits 1 when it skipped files (rc %d)" % p.returncode)
        check("truncated-gzip.json.gz" in p.stderr and "huge.json" in p.stderr,
              "table names the files it skipped on stderr")
        rows = p.stdout.splitlines()[1:]
        check(any("ndt7-download-good" in r for r in rows) and
              any("responsiveness1-good" in r for r in rows), "table still gives the good rows")
        # report over the same trees (its page is tested in Chromium by
        # integration.browser_data_report; here its data under ASan too).
        p = run([a.data_bin, "report", "--max-bytes", "1048576", good, bad])
        check(p.returncode == 1, "report exits 1 when it skipped files (rc %d)" % p.returncode)
        m = re.search(r'<script type="application/json" id="np-data">(.*?)</script>', p.stdout,
                      re.S)
        data = json.loads(m.group(1)) if m else {}
        rows = {g["name"]: g["rows"] for g in data.get("groups", [])}
        check(rows.get("ndt7 download", 0) >= 1 and rows.get("RPM download", 0) >= 1,
              "the report counts the good records' tests: %s" % rows)
        check(data.get("badFiles", 0) >= 5, "the report counts the unreadable files")
        check("<script type=\"module\">" in p.stdout and "drawLatency" in p.stdout,
              "the page carries the charts' code inline")
        p = run([a.data_bin, "check", "--max-bytes", "12", good])
        check(p.returncode == 2, "--max-bytes below 1024 is a usage error")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
