"""The RPM cases of the accuracy lab (rpm_lab.py): `netpulse rpm` over h2
(TLS) through a lab with a 1 MB and then a 30 KB bfifo, with the loss each
case saw and where it shows in the probe times."""

import bisect
import datetime
import json
import os
import statistics
import subprocess
import threading
import time

import datafiles

RTO_MIN_MS = 200.0  # Linux's minimum retransmission timeout
SYN_RTO_MS = 1000.0  # the first SYN retransmission waits 1 s


class Backlog:
    """The router's bfifo backlogs sampled every 100 ms while it runs, each
    with its wall-clock time (the namespaces share the host's clock, so it
    compares with the records' times)."""

    def __init__(self, lab, after=0.0):
        self.lab = lab
        self.after = after  # seconds before the first sample
        self.samples = []  # (unix time, {dev: bfifo json})
        self.stop = threading.Event()
        self.th = threading.Thread(target=self._run)

    def _run(self):
        if self.stop.wait(self.after):
            return
        while not self.stop.wait(0.1):
            try:
                q = self.lab.qdiscs()
                self.samples.append((time.time(), q))
            except (subprocess.SubprocessError, ValueError, KeyError, IndexError):
                pass

    def __enter__(self):
        self.th.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.th.join()
        return False

    def peak(self, dev):
        return max((q[dev]["backlog"] for _, q in self.samples if dev in q), default=0)

    def queue_ms(self, dev, at, rate_mbit, overhead):
        """How long the bottleneck's queue at time `at` takes to drain: its
        bytes (plus the link header htb charges a TUN device's bare IP
        packets) at the link rate; None without a sample within 150 ms."""
        times = [t for t, _ in self.samples]
        i = bisect.bisect_left(times, at)
        near = [j for j in (i - 1, i) if 0 <= j < len(times) and abs(times[j] - at) <= 0.15]
        if not near:
            return None
        q = self.samples[min(near, key=lambda j: abs(times[j] - at))][1].get(dev)
        if q is None:
            return None
        return (q["backlog"] + q.get("qlen", 0) * overhead) * 8.0 / (rate_mbit * 1e3)


def unix_time(rfc3339):
    """An RFC 3339 UTC time with up to nine fractional digits, as seconds."""
    head, _, frac = rfc3339.rstrip("Z").partition(".")
    t = datetime.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    return t + (float("0." + frac) if frac else 0.0)


def server_rtt_vs_queue(lab, rep, label, rec, res, backlog):
    """The server's download RTT under load (ServerSummary.Download,
    tcpi_rtt) against what the bottleneck held while it was measured: for
    each of the phase's loaded TCP_INFO samples, the base RTT plus the
    bfifo's drain time at that moment; the median of those against the
    server's median, within 25 % or 5 ms. The same weighting on both sides
    (a phase with more flows late has more samples late); the queue's own
    median over the phase's time is printed beside it. The upload's
    tcpi_rcv_rtt is set against its own bottleneck, for information."""
    ss = (rec or {}).get("ServerSummary") or {}
    base = 2 * lab.delay + 1514 * 8.0 / (lab.rate_mbit * 1e3)  # and one frame's time
    out = {}
    idle = ss.get("Idle") or {}
    rep.note("RPM %s idle: server min / median RTT ms (probe connections) / probes; client "
             "idle latency ms" % label,
             "%.1f / %.1f (%d) / %d; %.1f" % (idle.get("MinRTTMs", -1),
                                            idle.get("LoadedRTTMedianMs", -1),
                                            idle.get("RTTSamples", 0), idle.get("Probes", 0),
                                            res.get("IdleLatencyMs", -1)))
    for phase, dev, role, key, ovh in (("Download", lab.down_dev, "load-download", "RTT", 14),
                                       ("Upload", lab.up_dev, "load-upload", "RcvRTT", 0)):
        s = ss.get(phase)
        if not s or "LoadedRTTMedianMs" not in s:
            if phase == "Download":
                rep.check("RPM %s: ServerSummary.Download with RTT figures" % label, None, 0, 0)
            continue
        t0 = unix_time(rec["StartTime"])
        times = [smp["ElapsedTime"] for c in rec.get("Connections", []) if c.get("Role") == role
                 for smp in c.get("TCPInfoSamples", [])
                 if s["StartTime"] <= smp["ElapsedTime"] <= s["EndTime"] and smp.get(key, 0) > 0]
        q = [backlog.queue_ms(dev, t0 + et / 1e6, lab.rate_mbit, ovh) for et in times]
        q = [v for v in q if v is not None]
        span = [backlog.queue_ms(dev, t, lab.rate_mbit, ovh)
                for t, _ in backlog.samples if t0 + s["StartTime"] / 1e6 <= t <=
                t0 + s["EndTime"] / 1e6]
        span = [v for v in span if v is not None]
        if not q:
            rep.check("RPM %s %s: bfifo samples during the phase" % (label, phase.lower()),
                      None, 0, 0)
            continue
        want = base + statistics.median(q)
        got = s["LoadedRTTMedianMs"]
        tol = max(0.25 * want, 5.0)
        what = ("RPM %s %s: server loaded RTT, median %s (bottleneck: base %.1f + queue %.1f ms)"
                % (label, phase.lower(), s["RTTSource"], base, want - base))
        if phase == "Download":
            rep.check(what, got, max(0.0, want - tol), want + tol, "ms")
        else:
            rep.note(what + ", not asserted", "%.1f ms (%+.0f %%)" % (got, 100 * (got / want - 1)))
        ph = res.get(phase) or {}
        rep.note("RPM %s %s: server min / median / p90 RTT ms (%d samples); bfifo median over "
                 "the phase ms; client loaded latency ms (its excess over the server's)" %
                 (label, phase.lower(), s["RTTSamples"]),
                 "%.1f / %.1f / %.1f; %.1f; %.1f (%+.1f)" %
                 (s.get("MinRTTMs", 0), got, s["LoadedRTTP90Ms"],
                  statistics.median(span) if span else -1, ph.get("LoadedLatencyMs", 0),
                  ph.get("LoadedLatencyMs", 0) - got))
        rep.note("RPM %s %s: server GoodputMbps over the phase / client ThroughputMbps" %
                 (label, phase.lower()), "%.2f / %.2f" % (s.get("GoodputMbps", 0),
                                                         ph.get("ThroughputMbps", 0)))
        out[phase] = {"server": got, "want": want, "client": ph.get("LoadedLatencyMs")}
    return out


def client_has_rpm(client_bin):
    """True when the netpulse CLI has the rpm subcommand."""
    try:
        p = subprocess.run([client_bin, "rpm", "--help"], capture_output=True, text=True,
                           timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return p.returncode == 0 and "rpm" in p.stdout.lower()


def _record(lab, timeout=30.0):
    """The responsiveness1 record the server wrote for the measurement."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        files = datafiles.rpm_files(lab.env["LAB_DATADIR"])
        if files:
            return json.load(open(max(files, key=os.path.getmtime)))
        time.sleep(0.2)
    return None


def _pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else 0.0


def _probe_times(samples, phase, idle_ms):
    """Where the loaded probes' time went: the median against the mean, and
    the probes whose step took a retransmission timeout (a SYN resent after
    1 s, or a step longer than the queue can explain plus 200 ms)."""
    total = [s.get("TCPMs", 0) + s.get("TLSMs", 0) + s.get("HTTPMs", 0)
             for s in samples if s.get("Phase") == phase and s.get("Kind") == "foreign"]
    # The split between queueing and retransmission is read off the foreign
    # probes (new connections: the path's delay). Self probes also wait
    # behind their load connection's own send queue (up to 20 ms of its
    # rate at the server, more in the socket), so they are counted apart.
    steps = [v for s in samples if s.get("Phase") == phase and s.get("Kind") == "foreign"
             for v in (s.get("TCPMs", 0), s.get("TLSMs", 0), s.get("HTTPMs", 0)) if v > 0]
    own = [s.get("HTTPMs", 0) for s in samples
           if s.get("Phase") == phase and s.get("Kind") == "self"]
    syn = sum(1 for s in samples if s.get("Phase") == phase and s.get("TCPMs", 0) >= SYN_RTO_MS)
    if not steps:
        return None
    med = statistics.median(steps)
    mean = statistics.mean(steps)
    slow = sum(1 for v in steps if v >= med + RTO_MIN_MS)
    # Of the delay the probes saw beyond idle, the share the mean has above
    # the median: retransmission timeouts make the mean; queueing, the median.
    excess = mean - idle_ms
    rto_share = (mean - med) / excess if excess > 1 else 0.0
    return {"steps": len(steps), "median": med, "mean": mean, "p95": _pct(steps, 0.95),
            "max": max(steps), "rto_steps": slow, "syn_resent": syn, "rto_share": rto_share,
            "foreign": len(total), "self_median": statistics.median(own) if own else 0.0,
            "self": len(own)}


def _rpm(lab, extra=(), idle_s=2.0):
    """`netpulse rpm` through the lab while the bottlenecks are sampled:
    (the client's JSON, its process, the record, the samples)."""
    if lab.args.rpm_scheme == "h2":
        where = [lab.env["LAB_SERVER_ADDR"] + ":443", "--no-verify"]
    else:
        where = [lab.env["LAB_SERVER_ADDR"] + ":80", "--scheme", "http"]
    cmd = [lab.args.client_bin, "rpm", "--server"] + where + [
        "--accept-data-policy", "--json", "-q", "--verbose", "--rpm-timeout", "150"] + list(extra)
    # Not during the idle phase (its latency is checked, and tc is work on
    # a busy host); the load starts after it.
    with Backlog(lab, after=idle_s + 0.2) as backlog:
        p = lab.run("client", cmd, 200, capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stdout[-2000:] + p.stderr[-2000:], flush=True)
    res = json.loads(p.stdout)
    return res, p, _record(lab), backlog


def run_download(lab, rep, label):
    """A download-only run (short phases): the server's RTT under load
    against the bottleneck. For the zero-delay labs."""
    res, _, rec, backlog = _rpm(lab, ["--download", "--rpm-idle-duration", "1s",
                                      "--rpm-max-duration", "8s"], idle_s=1.0)
    label = "%s %s" % (label, lab.args.rpm_scheme)
    rep.note("RPM %s: RPM / download throughput Mbit/s" % label,
             "%.1f / %.2f" % (res.get("RPM", 0), (res.get("Download") or {}).get("ThroughputMbps", 0)))
    return server_rtt_vs_queue(lab, rep, label, rec, res, backlog)


def run(lab, rep, label):
    """One `netpulse rpm` through the lab; returns its JSON, the drops at
    the bottlenecks and the server's TCP_INFO retransmissions."""
    before = lab.qdiscs()
    res, p, rec, backlog = _rpm(lab)
    after = lab.qdiscs()
    # Kept with the lab's files (when a figure fails) for a closer look.
    with open(os.path.join(lab.dir, "rpm-client.json"), "w") as fh:
        fh.write(p.stdout)
    drops = {d: after[d]["drops"] - before[d]["drops"] for d in after}
    sent = {d: after[d]["packets"] - before[d]["packets"] for d in after}
    label = "%s %s" % (label, lab.args.rpm_scheme)
    rep.note("RPM %s: RPM / band / confidence" % label,
             "%.1f / %s / %s" % (res["RPM"], res.get("Band"), res.get("Confidence")))
    rep.check("RPM %s: idle latency (client's idle probes)" % label, res["IdleLatencyMs"],
              37.0, 43.0, "ms")
    idle = [x for x in res.get("Samples", []) if x.get("Phase") == "idle"]
    if idle:
        rep.note("RPM %s: idle probes' median TCP / TLS / HTTP ms (max of their sums)" % label,
                 "%.1f / %.1f / %.1f (%.1f)" % tuple(
                     [statistics.median(x.get(k, 0) for x in idle)
                      for k in ("TCPMs", "TLSMs", "HTTPMs")] +
                     [max(x.get("TCPMs", 0) + x.get("TLSMs", 0) + x.get("HTTPMs", 0)
                          for x in idle)]))
    out = {"res": res, "drops": drops, "record": rec,
           "server_rtt": server_rtt_vs_queue(lab, rep, label, rec, res, backlog)}
    for phase, dev in (("Download", "nplr" + lab.id), ("Upload", "nplv%sr" % lab.id)):
        ph = res.get(phase)
        if not ph:
            rep.check("RPM %s: %s phase present" % (label, phase), None, 0, 0)
            continue
        rep.note("RPM %s %s: RPM (foreign / self) / flows / probes foreign, self / confidence" %
                 (label, phase.lower()),
                 "%.1f (%.1f / %.1f) / %d / %d, %d / %s" %
                 (ph["RPM"], ph["RPMForeign"], ph["RPMLoaded"], ph["Flows"], ph["ProbesForeign"],
                  ph["ProbesSelf"], ph["Confidence"]))
        rep.note("RPM %s %s: trimmed TCP / TLS / HTTP foreign / HTTP self ms" %
                 (label, phase.lower()),
                 "%.1f / %.1f / %.1f / %.1f" % (ph["TrimmedTCPMs"], ph["TrimmedTLSMs"],
                                                ph["TrimmedHTTPForeignMs"],
                                                ph["TrimmedHTTPSelfMs"]))
        target = lab.target_mbit
        rep.check("RPM %s %s: throughput (target %.2f)" % (label, phase.lower(), target),
                  ph["ThroughputMbps"], target * 0.92, target * 1.03, "Mbit/s")
        # A phase whose self probes all stuck (MAX_SELF_INFLIGHT of them
        # waiting) has none in its result, and its loaded latency is then
        # the foreign probes' alone: the figure below would pass unseen.
        rep.check("RPM %s %s: self probes in the result" % (label, phase.lower()),
                  float(ph["ProbesSelf"]), 1, 1e9)
        if label.startswith("1 MB"):
            # The foreign probes see the path; the client's figure also
            # averages in the self probes.
            rep.check("RPM %s %s: loaded latency of the foreign probes" % (label, phase.lower()),
                      60000.0 / ph["RPMForeign"] if ph["RPMForeign"] > 0 else None,
                      40 + 96, 40 + 260, "ms")
            rep.check("RPM %s %s: loaded latency" % (label, phase.lower()), ph["LoadedLatencyMs"],
                      40 + 96, 40 + 260, "ms")
        else:
            rep.note("RPM %s %s: loaded latency" % (label, phase.lower()),
                     "%.1f ms" % ph["LoadedLatencyMs"])
        rep.note("RPM %s %s: bottleneck drops / packets" % (label, phase.lower()),
                 "%d / %d (%.2f %%)" % (drops[dev], sent[dev],
                                        100.0 * drops[dev] / max(1, sent[dev])))
        pt = _probe_times(res.get("Samples", []), phase.lower(), res["IdleLatencyMs"])
        if pt:
            rep.note("RPM %s %s: self probes (all of the phase) / their median ms" %
                     (label, phase.lower()), "%d / %.1f" % (pt["self"], pt["self_median"]))
            rep.note("RPM %s %s: foreign probe steps median / mean / p95 / max ms" %
                     (label, phase.lower()),
                     "%.1f / %.1f / %.1f / %.1f (%d steps)" % (pt["median"], pt["mean"],
                                                               pt["p95"], pt["max"], pt["steps"]))
            rep.note("RPM %s %s: foreign steps >= median+200 ms / SYNs resent / RTO share of "
                     "the delay" % (label, phase.lower()),
                     "%d / %d / %.0f %%" % (pt["rto_steps"], pt["syn_resent"],
                                            100 * pt["rto_share"]))
        out[phase] = pt
    if rec:
        for role in ("load-download", "load-upload"):
            conns = [c for c in rec.get("Connections", []) if c.get("Role") == role]
            ti = [c["TCPInfo"] for c in conns if c.get("TCPInfo")]
            rtx = sum(t.get("TotalRetrans", 0) for t in ti)
            bsent = sum(t.get("BytesSent", 0) for t in ti)
            brtx = sum(t.get("BytesRetrans", 0) for t in ti)
            cc = sorted({c.get("CongestionControl") for c in conns})
            rep.note("RPM %s %s: server TCP_INFO retransmitted segments / bytes %% / cc" %
                     (label, role), "%d / %.2f %% / %s" % (rtx, 100.0 * brtx / max(1, bsent),
                                                          ",".join(c or "?" for c in cc)))
    else:
        rep.check("RPM %s: responsiveness1 record written" % label, None, 0, 0)
    return out


def compare(rep, big, small):
    """The small buffer must be the more responsive one, by 1.5x at least."""
    rpm_big, rpm_small = big["res"]["RPM"], small["res"]["RPM"]
    rep.check("RPM 30 KB / RPM 1 MB (%.1f / %.1f)" % (rpm_small, rpm_big),
              rpm_small / rpm_big if rpm_big else None, 1.5, 1000.0)
    for phase in ("Download", "Upload"):
        b, s = big.get(phase), small.get(phase)
        if not (b and s):
            continue
        what = "retransmission timeouts" if s["rto_share"] > 0.5 else "queueing"
        rep.note("30 KB vs 1 MB %s: the probes' extra delay is mostly %s" % (phase.lower(), what),
                 "median step %.1f vs %.1f ms; RTO share %.0f %% vs %.0f %%; "
                 "steps >= median+200 ms %d vs %d" %
                 (s["median"], b["median"], 100 * s["rto_share"], 100 * b["rto_share"],
                  s["rto_steps"], b["rto_steps"]))
