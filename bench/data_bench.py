#!/usr/bin/env python3
"""netpulse-data over a generated archive: files per second per core and
peak memory of `netpulse-data table`, at 10,000 and at 100,000 ndt7 files
(flat memory means the same peak), against a baseline measured in the same
run over the same files: `cat` of every file, and `zcat` (gunzip of every
file, the least any reader of .json.gz must do). CPU is user + system time
of the measured process tree (GNU time), so other load on the machine
changes the wall clock more than the figures. Target (issue 19): >= 2,000
ndt7 files/s per core, the same peak RSS at 10k and 100k.

Usage: bench/data_bench.py BUILD [--files 100000] [--small 10000] [--reps 3]
                           [--dir DIR] [--keep]
  BUILD   a build directory holding netpulse-data
  --dir   where the archive goes (default: a temporary directory; ~1 GB
          for 100,000 files of ~7.5 KB, removed afterwards unless --keep)

The archive: tests/integration/data_archive.py, 200 distinct full-size
ndt7 records (40 server measurements, ~70 KB of JSON, ~7 KB gzipped; half
download, half upload; each with a ServerSummary) written under
--files names over 30 days in the spool's layout, ~3,300 files a day
directory (M-Lab's day directories hold that order). stdout: the figures."""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import data_archive  # noqa: E402


def measure(argv, shell=False, ok=(0,)):
    """(cpu seconds of the process tree, wall seconds, peak RSS in MB of the
    largest process) for one run with stdout to /dev/null. GNU time does the
    counting: a child forked from this Python would start with Python's RSS
    already counted in its maximum."""
    if shell:
        argv = ["sh", "-c", argv]
    with tempfile.NamedTemporaryFile("r") as out, open(os.devnull, "wb") as null:
        p = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", out.name] + argv,
                           stdout=null, stderr=subprocess.PIPE)
        wall, user, system, kb = out.read().split()[-4:]
    if p.returncode not in ok:
        raise RuntimeError("%s failed: %s" % (argv, p.stderr.decode(errors="replace")[-500:]))
    return float(user) + float(system), float(wall), int(kb) / 1024.0


def median_of(reps, argv, **kw):
    runs = [measure(argv, **kw) for _ in range(reps)]
    return tuple(statistics.median(r[i] for r in runs) for i in range(3))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--files", type=int, default=100000)
    ap.add_argument("--small", type=int, default=10000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dir")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    tool = os.path.join(a.build, "netpulse-data")
    if not os.access(tool, os.X_OK):
        sys.exit("no netpulse-data in %s" % a.build)
    root = a.dir or tempfile.mkdtemp(prefix="np-data-bench-")
    days = 30
    try:
        if not os.path.isdir(os.path.join(root, "ndt7")):
            t = time.monotonic()
            data_archive.write(root, a.files, 0, variants=200, days=days)
            print("archive: %d ndt7 files in %s, made in %.0f s" % (a.files, root,
                                                                  time.monotonic() - t))
        daydirs = []
        for d, subdirs, names in sorted(os.walk(os.path.join(root, "ndt7"))):
            if names:
                daydirs.append((d, len(names)))
        total = sum(n for _, n in daydirs)
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _ in daydirs for f in os.listdir(d))
        # The small set: whole day directories, about --small files.
        small, n_small = [], 0
        for d, n in daydirs:
            if n_small >= a.small:
                break
            small.append(d)
            n_small += n
        print("files: %d (%.0f MB gzipped, %.1f KB each); small set: %d files in %d day "
              "directories" % (total, size / 1e6, size / total / 1e3, n_small, len(small)))
        # Warm the page cache: the figures are CPU, not disk.
        measure(["sh", "-c", "find '%s' -type f -exec cat {} + > /dev/null" % root])

        rows = []
        for label, dirs, n in (("10k", small, n_small), ("100k", [root], total)):
            quoted = " ".join("'%s'" % d for d in dirs)
            cat = median_of(a.reps, "find %s -type f -exec cat {} +" % quoted, shell=True)
            zcat = median_of(a.reps, "find %s -type f -exec cat {} + | zcat" % quoted, shell=True)
            tab = median_of(a.reps, [tool, "table", "--no-progress"] + dirs)
            rows.append((label, n, cat, zcat, tab))
        print()
        print("%-5s %8s | %-22s | %-22s | %-30s | %s" % ("set", "files", "cat: CPU s, files/s",
                                                         "zcat: CPU s, files/s",
                                                         "table: CPU s, files/s/core, RSS",
                                                         "table/zcat CPU"))
        for label, n, cat, zcat, tab in rows:
            print("%-5s %8d | %6.2f %14.0f | %6.2f %14.0f | %6.2f %12.0f %7.1f MB | %.2fx" % (
                label, n, cat[0], n / cat[0], zcat[0], n / zcat[0], tab[0], n / tab[0], tab[2],
                tab[0] / zcat[0]))
        (_, n10, _, _, t10), (_, n100, _, _, t100) = rows
        rate = n100 / t100[0]
        print()
        print("table, 100k: %.0f files/s per core (target >= 2000): %s" % (
            rate, "PASS" if rate >= 2000 else "FAIL"))
        print("peak RSS: %.1f MB at %dk, %.1f MB at %dk (flat: within 2 MB): %s" % (
            t10[2], n10 // 1000, t100[2], n100 // 1000,
            "PASS" if abs(t100[2] - t10[2]) <= 2 else "FAIL"))
        print("wall, 100k: table %.1f s" % t100[1])
        # Exit 1 is a verdict, not a failure: records with a ServerSummary are
        # refused by a tree whose schemas do not have it yet.
        chk = median_of(1, [tool, "check", "--quiet", "--no-progress"] + small, ok=(0, 1))
        print("check (full jansson parse + schema), small set: %.0f files/s per core, %.1f MB"
              % (n_small / chk[0], chk[2]))
    finally:
        if not a.keep and not a.dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
