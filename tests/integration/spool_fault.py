#!/usr/bin/python3
"""The spool fails under a running netpulse-server (issue 18): a small tmpfs
as the datadir, remounted read-only, filled, its directories removed, and
read-only again at SIGTERM. Asserts what docs/operations.md promises: while
the spool cannot be written new tests get 503 spool_unwritable and /health
answers 503; a test that ends meanwhile has its file held in memory and
written when the spool recovers (nothing lost); files still held at exit
are logged and counted; no partial file is ever left.

Usage: spool_fault.py SERVER_BINARY run   (root: it mounts a tmpfs).
Exit 0 pass, 1 fail, 77 skip."""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_lib as L  # noqa: E402
import datafiles  # noqa: E402
from ops_test import check, scrape, val  # noqa: E402

SKIPPED = []


def mount(*args):
    subprocess.run(["mount"] + list(args), check=True)


def upload_in_background(srv, seconds):
    out = {}
    th = threading.Thread(target=lambda: out.update(
        r=L.ndt7(srv.ws, test="upload", upload_seconds=seconds)))
    th.start()
    return th, out


def cli(server_binary, args, port):
    """The netpulse client built beside the server, against port."""
    client = os.path.join(os.path.dirname(server_binary), "netpulse")
    sub = args[:1] if args[:1] == ["rpm"] else []
    return subprocess.run([client] + sub + ["--accept-data-policy", "--server",
                                            "127.0.0.1:%d" % port] + args[len(sub):],
                          capture_output=True, text=True, timeout=30)


def files(mnt):
    return L.data_files(mnt)


def hidden_entries(mnt):
    bad = []
    for root, _, names in os.walk(mnt):
        bad += [os.path.join(root, n) for n in names if n.startswith(".")]
    return bad


def t_run(binary, tmp):
    if os.geteuid() != 0:
        print("SKIP: needs root to mount a tmpfs")
        sys.exit(77)
    mnt = os.path.join(tmp, "spoolfs")
    os.mkdir(mnt)
    mount("-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", mnt)
    srv = None
    try:
        # The log is spoolfs.log, beside the mount: it never fails with it.
        srv = L.Server(binary, mnt, "--spool-scan-interval", "1", "--drain-timeout", "4")
        m = scrape(srv)
        check(val(m, "netpulse_spool_writable") == 1, "spool writable at start")
        r = L.ndt7(srv.ws, query="early_exit=250")
        check(r.status == 101 and L.wait_for(lambda: len(files(mnt)) == 1, 10),
              "a test before any fault is archived", r)

        # 1. Read-only while a test runs: refused, 503, the file held.
        th, out = upload_in_background(srv, 3)
        time.sleep(1)
        mount("-o", "remount,ro", mnt)
        t0 = time.monotonic()
        check(L.wait_for(lambda: srv.health() == 503, 5), "health 503 once read-only",
              "after %.1f s" % (time.monotonic() - t0))
        r = L.ndt7(srv.ws, query="early_exit=250")
        check(r.status == 503 and json.loads(r.body)["error"] == "spool_unwritable",
              "new test refused: spool_unwritable", r.status, r.body)
        check(r.headers.get("retry-after") == "10", "with Retry-After 10", r.headers)
        # What a user of the CLI is told, for ndt7 and RPM alike.
        for args, text in ((["--scheme", "ws", "--download"],
                            "server refused the test: HTTP 503 (spool_unwritable), retry after 10 s"),
                           (["rpm", "--scheme", "http"],
                            "server refused the test: HTTP 503 (spool_unwritable), retry after 10 s")):
            p = cli(binary, args, srv.ws)
            said = p.stdout + p.stderr
            check(p.returncode == 1 and text in said and
                  "the server cannot store results at the moment, so it takes no tests; "
                  "try again in 10 s" in said, "netpulse %s: the reason and its hint" % args[0],
                  p.returncode, said)
        check(val(scrape(srv), "netpulse_spool_writable") == 0, "spool_writable 0")
        th.join(30)
        check(out["r"].status == 101, "the running upload finished", out["r"])
        check(L.wait_for(lambda: val(scrape(srv), "netpulse_spool_held_files") == 1, 10),
              "its file is held, not lost")
        check('msg="data file held until the spool can be written"' in srv.log_text(),
              "held file logged")
        mount("-o", "remount,rw", mnt)
        t0 = time.monotonic()
        check(L.wait_for(lambda: len(files(mnt)) == 2 and srv.health() == 200, 10),
              "written and healthy once writable", "after %.1f s" % (time.monotonic() - t0))
        m = scrape(srv)
        check(val(m, "netpulse_spool_held_files") == 0 and
              val(m, "netpulse_spool_writable") == 1, "nothing held, writable")
        check(val(m, "netpulse_data_files_total", datatype="ndt7", result="written") == 2 and
              val(m, "netpulse_data_files_total", datatype="ndt7", result="failed") == 0,
              "files_total agrees with the spool: 2 written, 0 failed")
        check(val(m, "netpulse_rejections_total", protocol="ndt7+ws",
                  reason="spool_unwritable") == 2, "rejections{ndt7+ws,spool_unwritable} 2 "
              "(the raw request and the CLI's)")

        # 2. Full: the probe finds ENOSPC; freeing it recovers.
        filler = os.path.join(mnt, "filler")
        subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=1M", "count=16"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        check(L.wait_for(lambda: srv.health() == 503, 5), "health 503 when full")
        os.unlink(filler)
        check(L.wait_for(lambda: srv.health() == 200, 6), "health 200 once freed")
        r = L.ndt7(srv.ws, query="early_exit=250")
        check(r.status == 101 and L.wait_for(lambda: len(files(mnt)) == 3, 10),
              "admitted and archived after the disk was freed", r)

        # 3. The datatype's directories removed under it: made again.
        shutil.rmtree(os.path.join(mnt, "ndt7"))
        r = L.ndt7(srv.ws, query="early_exit=250")
        check(r.status == 101 and L.wait_for(lambda: len(files(mnt)) == 1, 10),
              "archived after its directory was removed", r)
        check(srv.health() == 200, "still healthy")

        # 4. SIGTERM with a file held: it is logged and counted, not dropped
        # unseen (the process exits at --drain-timeout).
        th, out = upload_in_background(srv, 2)
        time.sleep(0.5)
        mount("-o", "remount,ro", mnt)
        th.join(30)
        check(L.wait_for(lambda: val(scrape(srv), "netpulse_spool_held_files") == 1, 10),
              "held before SIGTERM")
        t0 = time.monotonic()
        rc = srv.stop(timeout=20)
        took = time.monotonic() - t0
        check(rc == 0 and 3 <= took <= 10, "drained at --drain-timeout", rc, "%.1f s" % took)
        log = srv.log_text()
        check(re.search(r'msg="data file not written" uuid=\S+ file=\S+ err="[^"]+" '
                        r'reason=exit_with_spool_unwritable', log),
              "the held file is logged as lost at exit")
        mount("-o", "remount,rw", mnt)
        check(hidden_entries(mnt) == [], "no partial or staging file left", hidden_entries(mnt))
        datafiles.assert_tree(mnt)
    finally:
        if srv:
            srv.stop()
        subprocess.run(["umount", "-l", mnt])


def main():
    return L.run_subject({"run": t_run}, __doc__, "np-spoolfault-", SKIPPED)


if __name__ == "__main__":
    sys.exit(main())
