#!/usr/bin/python3
"""Checks netpulse's Prometheus exposition with the reference Python parser.

Usage: build/test_prom --sample | /usr/bin/python3 tests/unit/test_prom_parse.py
Needs Debian's python3-prometheus-client. Exits non-zero on any parse error
or if the sample's known values are not read back exactly.
"""
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
fams = {f.name: f for f in text_string_to_metric_families(text)}

# The Python client strips _total from counter family names.
tests = fams["netpulse_tests"]
assert tests.type == "counter", tests.type
vals = {tuple(sorted(s.labels.items())): s.value for s in tests.samples
        if s.name == "netpulse_tests_total"}
assert vals[(("protocol", "ndt7+wss"), ("result", "success"))] == 3, vals
assert vals[(("protocol", "ndt7+ws"), ("result", 'a\\b"c\nd'))] == 1, vals

assert fams["netpulse_sent_bytes"].documentation == "Bytes sent.\nMultiline \\ help"
sat = {s.labels["limit"]: s.value for s in fams["netpulse_saturation"].samples}
assert sat["concurrency"] == 0.25 and sat["budget"] == 0.1, sat
assert math.isnan(sat["spool"]), sat

h = fams["netpulse_test_duration_seconds"]
assert h.type == "histogram", h.type
b = {s.labels["le"]: s.value for s in h.samples if s.name.endswith("_bucket")}
assert b == {"0.5": 1, "1": 1, "2.5": 2, "+Inf": 3}, b
assert fams["netpulse_rejections"].samples == []
for name in ("process_cpu_seconds", "process_resident_memory_bytes",
             "process_open_fds", "process_start_time_seconds"):
    assert len(fams[name].samples) == 1, name
print("prometheus_client parsed %d families" % len(fams))
