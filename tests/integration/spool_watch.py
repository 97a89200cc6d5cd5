#!/usr/bin/env python3
"""Uploader's-eye check of a spool writer: watches a datadir the way M-Lab's
pusher and jostler do, runs any writer command, and fails on any file that
would be uploaded incomplete, twice, never, or under a non-final name.

Usage:
  spool_watch.py [--datadir DIR] [--expect N | --expect-min N]
                 [--kill-after S] [--restart CMD] [--timeout S] [--keep]
                 -- WRITER [ARGS...]

"{datadir}" in WRITER's arguments and in CMD is replaced by the datadir
(a fresh temporary directory unless --datadir is given), so the writer can
be the test program spool_writer or the real server.

The watch is `inotifywait -m -r -e close_write,moved_to`, started and
established before the writer runs: exactly the two events the uploaders
act on. Rules, checked at the moment of each event (as the uploader would
open the file then) and again at the end:
  * An event must name a final file: not hidden, not "#<inode>" (the
    anonymous O_TMPFILE close, allowed only if that name cannot be opened).
  * A final file must be complete when named: *.json.gz gunzips (one gzip
    member) to exactly one JSON object; *.json is one JSON object on one
    line (one trailing newline allowed); anything else must be non-empty.
  * Every final file is named by exactly one event; every file on disk at
    the end was named; no hidden (staging or temp) file is left.
With --kill-after the writer gets SIGKILL after S seconds (it must still be
running then), then --restart runs (e.g. recovery) and the same rules hold.
Needs only Python 3 and inotifywait (Debian: inotify-tools). Exit 0 = pass.
"""

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datafiles  # noqa: E402
import threading
import time
import zlib

# Time for the last events to reach us after the writer is done.
SETTLE_S = 0.5
ESTABLISH_TIMEOUT_S = 30


def log(msg):
    print("spool_watch: " + msg, file=sys.stderr, flush=True)


def check_content(path):
    """Returns None if the file at path is complete, else why not."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return "cannot read: %s" % e
    name = os.path.basename(path)
    if name.endswith(".json.gz"):
        d = zlib.decompressobj(wbits=31)  # gzip header required
        try:
            raw = d.decompress(data) + d.flush()
        except zlib.error as e:
            return "not a complete gzip member: %s" % e
        if not d.eof:
            return "gzip member truncated"
        if d.unused_data:
            return "bytes after the gzip member"
        return check_json(raw, single_line=False)
    if name.endswith(".json"):
        return check_json(data, single_line=True)
    return None if data else "empty file"


def check_json(raw, single_line):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    body = text[:-1] if text.endswith("\n") else text
    if single_line and "\n" in body:
        return "JSON spans several lines (jostler needs one)"
    try:
        obj = json.loads(body)
    except ValueError as e:
        return "not exactly one JSON value: %s" % e
    if not isinstance(obj, dict):
        return "JSON value is not an object"
    return None


# Datatypes the suite's writers use. Their day directories (today and
# tomorrow, UTC) exist before the watch starts, as on M-Lab, where the
# uploader's watch is long established and netpulse-server makes day
# directories in advance: a whole tree made under a starting
# `inotifywait -r` can lose its deepest watch (seen under load: no event at
# all), which is the watcher's race, not the writer's.
DATATYPES = ("ndt7", "responsiveness1", "spooltest", "spooljson")


def prepare_days(datadir):
    now = time.time()
    for t in (now, now + 86400):
        day = time.strftime("%Y/%m/%d", time.gmtime(t))
        for dt in DATATYPES:
            os.makedirs(os.path.join(datadir, dt, day), exist_ok=True)


class Watcher:
    """inotifywait in monitor mode; judges every event as it arrives."""

    def __init__(self, datadir):
        self.datadir = datadir
        self.lock = threading.Lock()
        self.handed = {}  # final path -> number of events naming it
        self.errors = []
        self.anon = 0  # "#<inode>" closes seen (expected, harmless)
        self.stderr_lines = []
        self.proc = subprocess.Popen(
            ["inotifywait", "-m", "-r", "-e", "close_write,moved_to",
             "--format", "%e\t%w\t%f", datadir],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            errors="surrogateescape")
        established = threading.Event()
        self.err_thread = threading.Thread(
            target=self._read_stderr, args=(established,), daemon=True)
        self.err_thread.start()
        if not established.wait(ESTABLISH_TIMEOUT_S):
            self.proc.kill()
            raise RuntimeError("inotifywait never established its watches: "
                               + " | ".join(self.stderr_lines))
        self.out_thread = threading.Thread(target=self._read_events,
                                           daemon=True)
        self.out_thread.start()

    def _read_stderr(self, established):
        for line in self.proc.stderr:
            line = line.rstrip("\n")
            if "Watches established" in line:
                established.set()
            elif not line.startswith("Setting up watches"):
                self.stderr_lines.append(line)

    def _error(self, msg):
        with self.lock:
            self.errors.append(msg)
        log("event problem: " + msg)

    def _read_events(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            parts = line.split("\t")
            if len(parts) != 3:
                self._error("unparseable event %r" % line)
                continue
            events, where, name = parts
            self._judge(events, os.path.join(where, name), name)

    def _judge(self, events, path, name):
        if "ISDIR" in events:
            self._error("directory event %s on %s" % (events, path))
            return
        if name.startswith("#"):
            # The close of an O_TMPFILE: the uploader would fail to open it.
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                with self.lock:
                    self.anon += 1
                return
            os.close(fd)
            self._error("%s names an openable file %s" % (events, path))
            return
        if name.startswith(".") or not name:
            self._error("%s on non-final name %s" % (events, path))
            return
        why = check_content(path)
        if why:
            self._error("%s on %s, incomplete at that moment: %s"
                        % (events, path, why))
        with self.lock:
            self.handed[path] = self.handed.get(path, 0) + 1
        log("handed %s (%s)" % (os.path.relpath(path, self.datadir), events))

    def stop(self):
        time.sleep(SETTLE_S)
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out_thread.join(5)
        self.err_thread.join(5)
        for line in self.stderr_lines:
            # Lost watches mean lost events: the check would be blind.
            if line.strip():
                self._error("inotifywait: " + line)


def scan(datadir):
    """All regular files under datadir, and every non-regular oddity."""
    files, odd = [], []
    for root, dirs, names in os.walk(datadir):
        for n in names:
            p = os.path.join(root, n)
            (files if os.path.isfile(p) and not os.path.islink(p)
             else odd).append(p)
    return files, odd


def run_cmd(argv, timeout, what):
    log("%s: %s" % (what, shlex.join(argv)))
    try:
        r = subprocess.run(argv, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "%s timed out after %ss" % (what, timeout)
    except OSError as e:
        return "%s could not start: %s" % (what, e)
    if r.returncode != 0:
        return "%s exited with %d" % (what, r.returncode)
    return None


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datadir", help="watch this (default: a fresh temp dir)")
    ap.add_argument("--expect", type=int, help="exactly N final files")
    ap.add_argument("--expect-min", type=int, help="at least N final files")
    ap.add_argument("--kill-after", type=float,
                    help="SIGKILL the writer after S seconds")
    ap.add_argument("--restart", help="command run after the kill")
    ap.add_argument("--timeout", type=float, default=120,
                    help="limit for the writer and restart commands")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary datadir")
    ap.add_argument("writer", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    writer = a.writer[1:] if a.writer[:1] == ["--"] else a.writer
    if not writer:
        ap.error("no writer command given")
    if shutil.which("inotifywait") is None:
        log("inotifywait not found (Debian package inotify-tools)")
        return 2

    made = a.datadir is None
    datadir = os.path.abspath(a.datadir or tempfile.mkdtemp(
        prefix="np_spool_watch."))
    os.makedirs(datadir, exist_ok=True)
    sub = lambda argv: [x.replace("{datadir}", datadir) for x in argv]
    errors = []
    w = None
    try:
        prepare_days(datadir)
        w = Watcher(datadir)
        log("watching %s" % datadir)
        argv = sub(writer)
        if a.kill_after is None:
            e = run_cmd(argv, a.timeout, "writer")
            if e:
                errors.append(e)
        else:
            log("writer: %s" % shlex.join(argv))
            try:
                p = subprocess.Popen(argv)
            except OSError as e:
                raise RuntimeError("writer could not start: %s" % e)
            time.sleep(a.kill_after)
            if p.poll() is not None:
                # A kill that lands after the end proves nothing.
                errors.append("writer exited (%d) before the kill; give it "
                              "more work or kill sooner" % p.returncode)
            else:
                p.send_signal(signal.SIGKILL)
                p.wait()
                log("writer killed after %.2fs" % a.kill_after)
        if a.restart:
            e = run_cmd(sub(shlex.split(a.restart)), a.timeout, "restart")
            if e:
                errors.append(e)
        w.stop()
        errors.extend(w.errors)

        files, odd = scan(datadir)
        for p in odd:
            errors.append("not a regular file: %s" % p)
        finals = set()
        for p in files:
            n = os.path.basename(p)
            if n.startswith("."):
                errors.append("hidden file left behind (staging or partial):"
                              " %s" % p)
                continue
            finals.add(p)
            why = check_content(p)
            if why:
                errors.append("%s is incomplete: %s" % (p, why))
            count = w.handed.get(p, 0)
            if count == 0:
                errors.append("%s was never handed to the uploader "
                              "(no close_write/moved_to on its name)" % p)
            elif count > 1:
                errors.append("%s was handed %d times" % (p, count))
        for p in w.handed:
            if p not in finals:
                errors.append("%s was handed but is gone" % p)
        if a.expect is not None and len(finals) != a.expect:
            errors.append("expected %d files, found %d"
                          % (a.expect, len(finals)))
        if a.expect_min is not None and len(finals) < a.expect_min:
            errors.append("expected at least %d files, found %d"
                          % (a.expect_min, len(finals)))
        # Files the real server wrote must fit the shipped schema.
        _, schema_errs = datafiles.check_tree(datadir)
        errors.extend(schema_errs)
        log("%d files handed once each, %d anonymous O_TMPFILE closes"
            % (sum(1 for p in finals if w.handed.get(p) == 1), w.anon))
    except RuntimeError as e:
        errors.append(str(e))
    finally:
        # Never leave a monitor running, whatever went wrong.
        if w is not None and w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()
        if made and not a.keep and not errors:
            shutil.rmtree(datadir, ignore_errors=True)
    for e in errors:
        log("FAIL " + e)
    if errors and made:
        log("datadir kept for inspection: %s" % datadir)
    log("PASS" if not errors else "%d problem(s)" % len(errors))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
