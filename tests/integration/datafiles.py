#!/usr/bin/env python3
"""Checks data files against the shipped BigQuery schema (schemas/ndt7.json)
and the policy's list of stored fields against the same schema.

Every harness that runs netpulse-server calls check_tree() on its datadir
before removing it, so each ndt7 file the suite writes is validated.

  datafiles.py check DIR...   validate every ndt7 .json.gz under each DIR
                               (exit 1 on any error; prints the count)
  datafiles.py selftest       the validator refuses what it must refuse,
                               and every harness that starts a server checks
  datafiles.py docs           the field tables in docs/privacy.md and
                               docs/data.md list exactly the schema's fields

Python 3 stdlib only."""

import glob
import gzip
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
SCHEMA = os.path.join(SRC, "schemas", "ndt7.json")
RPM_SCHEMA = os.path.join(SRC, "schemas", "responsiveness1.json")

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")
INT64 = (-(1 << 63), (1 << 63) - 1)


def load_schema(path=SCHEMA):
    with open(path) as f:
        return json.load(f)


def _scalar_ok(kind, v):
    if kind == "INTEGER":
        return type(v) is int and INT64[0] <= v <= INT64[1]
    if kind == "FLOAT":
        return type(v) in (int, float)
    if kind == "BOOLEAN":
        return type(v) is bool
    if kind == "STRING":
        return type(v) is str
    if kind == "TIMESTAMP":
        return type(v) is str and RFC3339.match(v) is not None
    return False


def validate(obj, fields, where="$"):
    """Errors (strings) for obj against a BigQuery field list: no member the
    schema lacks, every value of its declared type and mode."""
    errs = []
    if not isinstance(obj, dict):
        return ["%s: not an object" % where]
    by_name = {f["name"]: f for f in fields}
    for k, v in obj.items():
        f = by_name.get(k)
        at = "%s.%s" % (where, k)
        if f is None:
            errs.append("%s: not in the schema" % at)
            continue
        if v is None:
            if f.get("mode") == "REQUIRED":
                errs.append("%s: null in a REQUIRED field" % at)
            continue
        items = v if f.get("mode") == "REPEATED" else [v]
        if f.get("mode") == "REPEATED" and not isinstance(v, list):
            errs.append("%s: REPEATED but not an array" % at)
            continue
        for i, item in enumerate(items):
            ai = "%s[%d]" % (at, i) if f.get("mode") == "REPEATED" else at
            if f["type"] in ("RECORD", "STRUCT"):
                errs += validate(item, f.get("fields", []), ai)
            elif not _scalar_ok(f["type"], item):
                errs.append("%s: %r is not %s" % (ai, item, f["type"]))
    return errs


def check_file(path, schema=None):
    schema = schema or load_schema()
    try:
        with gzip.open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError) as e:
        return ["%s: unreadable: %s" % (path, e)]
    return ["%s: %s" % (os.path.basename(path), e) for e in validate(doc, schema)]


def check_rpm_file(path, schema=None):
    """A responsiveness1 file: one line of JSON (jostler's one object per
    file), fitting schemas/responsiveness1.json."""
    schema = schema or load_schema(RPM_SCHEMA)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        doc = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError) as e:
        return ["%s: unreadable: %s" % (path, e)]
    errs = []
    if not raw.endswith(b"\n") or raw.count(b"\n") != 1:
        errs.append("%s: not exactly one line" % os.path.basename(path))
    return errs + ["%s: %s" % (os.path.basename(path), e) for e in validate(doc, schema)]


def _files(root, datatype, suffix):
    out = []
    for d, _, names in os.walk(root):
        parts = os.path.relpath(d, root).split(os.sep)
        if len(parts) >= 4 and parts[-4] == datatype:
            out += [os.path.join(d, n) for n in names
                    if n.endswith(suffix) and not n.startswith(".")]
    return sorted(out)


def ndt7_files(root):
    return _files(root, "ndt7", ".json.gz")


def rpm_files(root):
    return _files(root, "responsiveness1", ".json")


def check_tree(root, quiet=False):
    """Validates every ndt7 and responsiveness1 data file under root against
    its schema; returns (files, errors)."""
    schema = load_schema()
    files = ndt7_files(root)
    errs = []
    for p in files:
        errs += check_file(p, schema)
    rpm = rpm_files(root)
    if rpm:
        rschema = load_schema(RPM_SCHEMA)
        for p in rpm:
            errs += check_rpm_file(p, rschema)
    if not quiet:
        print("datafiles: %d ndt7 file(s) and %d responsiveness1 file(s) under %s checked "
              "against schemas/, %d error(s)" % (len(files), len(rpm), root, len(errs)),
              flush=True)
        for e in errs[:20]:
            print("datafiles: " + e, flush=True)
    return len(files) + len(rpm), errs


def assert_tree(root):
    """check_tree that raises AssertionError on any error (for harnesses)."""
    n, errs = check_tree(root)
    if errs:
        raise AssertionError("%d data file error(s) against schemas/: %s" %
                             (len(errs), errs[:5]))
    return n


# ---- the policy's list of stored fields against the schema -------------

def schema_paths(fields, prefix=""):
    """Dotted names of every field, records included ("Download" is folded
    into "<Test>" since Download and Upload have the same shape)."""
    out = set()
    for f in fields:
        name = f["name"]
        if not prefix and name in ("Download", "Upload"):
            name = "<Test>"
        p = prefix + name
        out.add(p)
        out |= schema_paths(f.get("fields", []), p + ".")
    return out


def doc_paths(path):
    """Dotted names listed between <!-- stored-fields:begin --> and
    <!-- stored-fields:end -->: the first cell of each table row, backticks
    removed; "A.{x, y}" expands to A.x and A.y and also names A."""
    text = open(path).read()
    m = re.search(r"<!-- stored-fields:begin -->(.*?)<!-- stored-fields:end -->", text, re.S)
    if not m:
        raise AssertionError("%s: no stored-fields table" % path)
    out = set()
    for line in m.group(1).splitlines():
        line = line.strip()
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cell = line.split("|")[1].strip().replace("`", "")
        if cell.lower() == "field":
            continue
        g = re.match(r"^(.*)\.\{(.*)\}$", cell)
        if g:
            base = g.group(1)
            out.add(base)
            out |= {base + "." + x.strip() for x in g.group(2).split(",") if x.strip()}
        else:
            out.add(cell)
    return out


def check_docs():
    want = schema_paths(load_schema())
    bad = []
    for doc in ("docs/privacy.md", "docs/data.md"):
        got = doc_paths(os.path.join(SRC, doc))
        for p in sorted(want - got):
            bad.append("%s: schema field %s is not listed" % (doc, p))
        for p in sorted(got - want):
            bad.append("%s: lists %s, which the schema does not have" % (doc, p))
    return bad


# ---- self test --------------------------------------------------------------

def selftest():
    schema = load_schema()
    fails = []

    def expect(doc, n_errs_min, what):
        errs = validate(doc, schema)
        if (len(errs) >= n_errs_min) if n_errs_min else not errs:
            print("ok:", what)
        else:
            fails.append("%s: %s" % (what, errs))
    good = {"ClientIP": "127.0.0.1", "ClientPort": 1, "StartTime": "2026-01-02T03:04:05.123456789Z",
            "Upload": {"UUID": "x_1", "ClientMetadata": [{"Name": "client_name", "Value": "x"}],
                       "ClientMeasurements": [{"AppInfo": {"NumBytes": 1, "ElapsedTime": 2},
                                               "TCPInfo": {"SndWnd": 3}, "Origin": "client"}]}}
    expect(good, 0, "a well-formed record validates")
    bad = json.loads(json.dumps(good))
    bad["Upload"]["ClientMeasurements"][0]["AppInfo"]["JaneDoeBirthday19800101"] = 1
    expect(bad, 1, "an unknown client measurement member is refused")
    bad = json.loads(json.dumps(good))
    bad["Upload"]["ClientMeasurements"][0]["TCPInfo"]["RcvWnd"] = 1
    expect(bad, 1, "a server-only TCPInfo member in a client measurement is refused")
    bad = json.loads(json.dumps(good))
    bad["Upload"]["ClientMeasurements"][0]["AppInfo"]["NumBytes"] = "1"
    expect(bad, 1, "a string where an integer belongs is refused")
    bad = json.loads(json.dumps(good))
    bad["Upload"]["ClientMeasurements"][0]["AppInfo"]["NumBytes"] = 1 << 63
    expect(bad, 1, "an integer past int64 is refused")
    bad = json.loads(json.dumps(good))
    bad["StartTime"] = "yesterday"
    expect(bad, 1, "a malformed TIMESTAMP is refused")
    bad = json.loads(json.dumps(good))
    bad["Upload"]["ClientMetadata"] = {"Name": "x"}
    expect(bad, 1, "a REPEATED field that is not an array is refused")
    expect({"Email": "jane@example.com"}, 1, "an unknown top-level member is refused")

    # Every harness that starts a server with a datadir validates it.
    for path in sorted(glob.glob(os.path.join(HERE, "*.py")) + glob.glob(os.path.join(HERE, "*.sh"))):
        name = os.path.basename(path)
        # server_writer.sh runs under spool_watch.py, which validates.
        # cli_hostile.py and rpm_client_hostile.py start hand-made hostile
        # servers (their own Server classes), never netpulse-server.
        if name in ("datafiles.py", "ops_lib.py", "fake_locate.py", "server_writer.sh",
                    "cli_hostile.py", "rpm_client_hostile.py"):
            continue
        text = open(path).read()
        starts = "--datadir" in text or "Server(" in text
        # ops_lib.run_subject validates for the scripts whose main it is.
        if starts and "datafiles" not in text and "run_subject" not in text \
                and "with_server.sh" not in text:
            fails.append("%s starts netpulse-server but does not validate its data files" % name)
        elif starts:
            print("ok: %s validates its data files" % name)
    for f in fails:
        print("FAIL:", f)
    return 1 if fails else 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "check":
        total, errs = 0, []
        for root in argv[2:]:
            n, e = check_tree(root)
            total += n
            errs += e
        return 1 if errs else 0
    if len(argv) == 2 and argv[1] == "selftest":
        return selftest()
    if len(argv) == 2 and argv[1] == "docs":
        bad = check_docs()
        for b in bad:
            print("FAIL:", b)
        if not bad:
            print("ok: docs/privacy.md and docs/data.md list exactly the schema's fields")
        return 1 if bad else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
