#!/usr/bin/env python3
"""Checks that a configured build tree registers every test the source tree
defines, with the right labels, before scripts/test.sh runs them.

Usage: scripts/check-tests.py BUILD_DIR

Expected tests: unit.test_<m> for every tests/unit/test_<m>.c (label unit),
fuzz_replay.<t> for every fuzz/fuzz_<t>.c with a non-empty fuzz/corpus/<t>/
(label fuzz), and the names and labels listed in tests/expected_tests.txt.
Prints the registered count per label; exits 1, naming each test, when a
test is missing, unexpected or labelled differently (a tree configured with
-DNP_TESTS=OFF, a tool that was missing at configure time, a test file
nobody registered), 2 on bad usage.
"""
import json
import os
import subprocess
import sys

LABELS = ("unit", "fuzz", "integration", "browser", "lab", "soak", "lint")


def expected(src):
    want = {}
    for f in sorted(os.listdir(os.path.join(src, "tests", "unit"))):
        if f.startswith("test_") and f.endswith(".c"):
            want["unit." + f[:-2]] = {"unit"}
    problems = []
    for f in sorted(os.listdir(os.path.join(src, "fuzz"))):
        if f.startswith("fuzz_") and f.endswith(".c"):
            target = f[len("fuzz_"):-2]
            corpus = os.path.join(src, "fuzz", "corpus", target)
            if not os.path.isdir(corpus) or not [
                    e for e in os.listdir(corpus) if not e.startswith(".")]:
                problems.append(f"fuzz/{f} has no corpus in fuzz/corpus/{target}/")
            want["fuzz_replay." + target] = {"fuzz"}
    with open(os.path.join(src, "tests", "expected_tests.txt"), encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if len(words) < 2 or words[0] in want:
                problems.append(f"tests/expected_tests.txt:{n}: bad or repeated line")
                continue
            want[words[0]] = set(words[1:])
    return want, problems


def registered(build):
    out = subprocess.run(["ctest", "--test-dir", build, "--show-only=json-v1"],
                         check=True, capture_output=True, text=True).stdout
    got = {}
    for t in json.loads(out).get("tests", []):
        labels = set()
        for p in t.get("properties", []):
            if p.get("name") == "LABELS":
                labels = set(p.get("value") or [])
        got[t["name"]] = labels
    return got


def main():
    if len(sys.argv) != 2 or not os.path.isfile(os.path.join(sys.argv[1], "CMakeCache.txt")):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    build = sys.argv[1]
    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    want, problems = expected(src)
    got = registered(build)

    for name in sorted(set(want) - set(got)):
        problems.append(f"not registered: {name} ({' '.join(sorted(want[name]))})")
    for name in sorted(set(got) - set(want)):
        problems.append(f"registered but not expected: {name} "
                        "(add it to tests/expected_tests.txt)")
    for name in sorted(set(want) & set(got)):
        if want[name] != got[name]:
            problems.append(f"{name}: labels {sorted(got[name])}, expected {sorted(want[name])}")

    def count(tests, label):
        return sum(1 for labels in tests.values() if label in labels)
    print(f"registered tests in {build}: " + ", ".join(
        f"{label} {count(got, label)}/{count(want, label)}" for label in LABELS)
        + f"; total {len(got)}/{len(want)}")
    if problems:
        print(f"check-tests: {len(problems)} problem(s); the suite would not run what "
              "the tree defines:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
