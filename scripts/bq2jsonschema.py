#!/usr/bin/env python3
"""Writes the JSON Schema (draft 2020-12) equivalent of a BigQuery schema in
jostler's format: objects with exactly the listed members (none required:
BigQuery columns are NULLABLE or REPEATED), REPEATED as arrays, INTEGER as
64-bit integers, TIMESTAMP as RFC 3339 strings. The committed
schemas/*.schema.json files are this script's output; lint.schemas checks
they are current.

Usage: scripts/bq2jsonschema.py SCHEMA.json [OUT.json]   (stdout without OUT)
       scripts/bq2jsonschema.py --check SCHEMA.json OUT.json"""

import json
import sys

SCALARS = {
    "INTEGER": {"type": "integer", "minimum": -(1 << 63), "maximum": (1 << 63) - 1},
    "FLOAT": {"type": "number"},
    "BOOLEAN": {"type": "boolean"},
    "STRING": {"type": "string"},
    "TIMESTAMP": {"type": "string",
                  "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$"},
}


def field(f):
    if f["type"] == "RECORD":
        s = record(f["fields"])
    else:
        s = dict(SCALARS[f["type"]])
    if f.get("description"):
        s["description"] = f["description"]
    if f.get("mode") == "REPEATED":
        s = {"type": "array", "items": s}
    return s


def record(fields):
    return {"type": "object", "additionalProperties": False,
            "properties": {f["name"]: field(f) for f in fields}}


def convert(bq, title):
    s = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title}
    s.update(record(bq))
    return json.dumps(s, indent=2, sort_keys=False) + "\n"


def main(argv):
    check = argv[1:2] == ["--check"]
    args = argv[2:] if check else argv[1:]
    if not args or len(args) > 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(args[0]) as f:
        out = convert(json.load(f), args[0].rsplit("/", 1)[-1].replace(".json", ""))
    if check:
        with open(args[1]) as f:
            if f.read() != out:
                print("%s is stale: run scripts/bq2jsonschema.py %s %s" % (args[1], args[0],
                                                                          args[1]),
                      file=sys.stderr)
                return 1
        return 0
    if len(args) == 2:
        with open(args[1], "w") as f:
            f.write(out)
    else:
        sys.stdout.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
