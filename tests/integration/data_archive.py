#!/usr/bin/env python3
"""Writes a synthetic netpulse archive in the spool's layout
(<datatype>/YYYY/MM/DD/<file>): ndt7 .json.gz records shaped like the
server's (a full 10 s test: 40 server measurements with TCPInfo and BBRInfo,
client measurements, ping samples; ~70 KB of JSON, ~7 KB gzipped) and
responsiveness1 .json records, with ServerSummary as issue 19 defines it,
values spread the way a real archive's are, spread over days and hours.
Used by the report's browser test and by bench/data_bench.py.

  data_archive.py DIR --ndt7 N --rpm M [--variants K] [--seed S] [--days D]

--variants: distinct ndt7 records made (each then written under many names,
with its own UUID in the file name); generating and gzipping 100,000
different 70 KB records would take longer than the benchmark itself.
Python 3 stdlib only."""

import argparse
import gzip
import json
import os
import random

TCPINFO_KEYS = ["State", "CAState", "Retransmits", "Probes", "Backoff", "Options", "WScale",
                "AppLimited", "RTO", "ATO", "SndMSS", "RcvMSS", "Unacked", "Sacked", "Lost",
                "Retrans", "Fackets", "LastDataSent", "LastAckSent", "LastDataRecv",
                "LastAckRecv", "PMTU", "RcvSsThresh", "RTT", "RTTVar", "SndSsThresh", "SndCwnd",
                "AdvMSS", "Reordering", "RcvRTT", "RcvSpace", "TotalRetrans", "PacingRate",
                "MaxPacingRate", "BytesAcked", "BytesReceived", "SegsOut", "SegsIn",
                "NotsentBytes", "MinRTT", "DataSegsIn", "DataSegsOut", "DeliveryRate",
                "BusyTime", "RWndLimited", "SndBufLimited", "Delivered", "DeliveredCE",
                "BytesSent", "BytesRetrans", "DSackDups", "ReordSeen", "RcvOooPack", "SndWnd",
                "ElapsedTime"]


def ts(t):
    import datetime
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%09dZ" % int((t % 1) * 1e9)


def ndt7_record(rng, t0, uuid, download, with_summary):
    mbps = rng.lognormvariate(4.0, 1.2)  # median ~55 Mbit/s
    min_rtt_us = int(rng.lognormvariate(3.0, 0.7) * 1000)  # median ~20 ms
    loaded_ms = min_rtt_us / 1000 * (1 + rng.lognormvariate(0.3, 0.8))
    sm = []
    for i in range(40):
        el = (i + 1) * 250000
        nb = int(mbps * el / 8)
        ti = {k: rng.randrange(0, 1000) for k in TCPINFO_KEYS}
        ti.update(BytesAcked=nb if download else 5000, BytesReceived=5000 if download else nb,
                  BytesSent=int(nb * 1.002) if download else 5000,
                  BytesRetrans=int(nb * 0.002) if download else 0, MinRTT=min_rtt_us,
                  RTT=int(loaded_ms * 1000), ElapsedTime=el)
        sm.append({"AppInfo": {"NumBytes": nb, "ElapsedTime": el},
                   "ConnectionInfo": {"Client": "192.0.2.7:40000", "Server": "198.51.100.1:443",
                                      "UUID": uuid, "StartTime": ts(t0)},
                   "BBRInfo": {"BW": int(mbps * 125000), "MinRTT": min_rtt_us,
                               "PacingGain": 256, "CwndGain": 512, "ElapsedTime": el},
                   "TCPInfo": ti})
    cm = [{"AppInfo": {"NumBytes": int(mbps * (i + 1) * 250000 / 8),
                       "ElapsedTime": (i + 1) * 250000}, "Origin": "client",
           "Test": "download" if download else "upload"} for i in range(39)]
    test = {"UUID": uuid, "StartTime": ts(t0), "EndTime": ts(t0 + 10),
            "ServerMeasurements": sm, "ClientMeasurements": cm,
            "ClientMetadata": [{"Name": "client_name", "Value": "netpulse"}],
            "ServerMetadata": [],
            "PingSamples": [{"ElapsedTime": (i + 1) * 250000, "RTT": int(loaded_ms * 1000)}
                            for i in range(40)]}
    rec = {"GitShortCommit": "0000000", "Version": "netpulse-0.1.0", "ServerIP": "198.51.100.1",
           "ServerPort": 443, "ClientIP": "192.0.2.7", "ClientPort": 40000,
           "StartTime": ts(t0), "EndTime": ts(t0 + 10),
           ("Download" if download else "Upload"): test}
    if with_summary:
        rec["ServerSummary"] = {
            "SchemaVersion": 1, "Direction": "download" if download else "upload",
            "GoodputMbps": round(mbps, 3), "RTTSource": "tcpi_rtt" if download else "tcpi_rcv_rtt",
            "RTTSamples": 40, "MinRTTMs": min_rtt_us / 1000,
            "LoadedRTTMedianMs": round(loaded_ms, 3), "LoadedRTTP90Ms": round(loaded_ms * 1.3, 3),
            "Retransmits": 10, "RetransPct": 0.2 if download else 0.0}
    return rec


def rpm_record(rng, t0, mid):
    idle = rng.lognormvariate(3.0, 0.7)
    cs = {"SchemaVersion": 1, "Variant": "draft-09", "Direction": "both", "Protocol": "h2",
          "Idle": {"LatencyMs": round(idle, 3), "Probes": 20, "DurationMs": 2000.0}}
    ss = {"SchemaVersion": 1}
    for key in ("Download", "Upload"):
        loaded = idle * (1 + rng.lognormvariate(1.0, 1.0))
        client_lat = loaded * 1.4
        mbps = rng.lognormvariate(4.0, 1.2)
        cs[key] = {"RPM": round(60000 / client_lat, 3), "LoadedLatencyMs": round(client_lat, 3),
                   "ThroughputMbps": round(mbps, 3), "Confidence": "High"}
        ss[key] = {"StartTime": 2000000000, "EndTime": 12000000000, "LoadConnections": 8,
                   "LoadBodyBytes": int(mbps * 1.25e6), "GoodputMbps": round(mbps * 0.98, 3),
                   "RTTSource": "tcpi_rtt" if key == "Download" else "tcpi_rcv_rtt",
                   "RTTSamples": 320, "MinRTTMs": round(idle * 0.9, 3),
                   "LoadedRTTMedianMs": round(loaded, 3), "LoadedRTTP90Ms": round(loaded * 1.5, 3),
                   "Retransmits": 40, "RetransPct": 0.3, "Probes": 200,
                   "ProbeServiceMedianMs": 0.2, "ProbeServiceP90Ms": 0.5}
    return {"SchemaVersion": 1, "MeasurementID": mid, "GitShortCommit": "0000000",
            "Version": "netpulse-0.1.0", "Protocol": "h2", "ServerIP": "198.51.100.1",
            "ServerPort": 443, "ClientIP": "192.0.2.7", "StartTime": ts(t0),
            "EndTime": ts(t0 + 25), "EndReason": "idle", "Connections": [], "Requests": [],
            "ServerMetadata": [], "ClientSummary": cs, "ServerSummary": ss}


def day_dir(root, datatype, t):
    import time
    d = os.path.join(root, datatype, time.strftime("%Y/%m/%d", time.gmtime(t)))
    os.makedirs(d, exist_ok=True)
    return d


def write(root, n_ndt7, n_rpm, variants=50, seed=1, days=3, summary=True,
          start=1796601600):
    rng = random.Random(seed)
    span = days * 86400
    made = []
    when = lambda i: start + (i * 7919) % span  # noqa: E731
    for i in range(min(variants, n_ndt7)):
        rec = ndt7_record(rng, when(i), "host_1_%016X" % i, i % 2 == 0, summary)
        made.append((i % 2 == 0, gzip.compress(json.dumps(rec, separators=(",", ":")).encode(),
                                               compresslevel=6, mtime=0)))
    for i in range(n_ndt7):
        download, blob = made[i % len(made)]
        t = when(i)
        name = "ndt7-%s-%s.host_1_%016X.json.gz" % ("download" if download else "upload",
                                                     ts(t)[:19].replace("-", "").replace(":", ""),
                                                     i)
        with open(os.path.join(day_dir(root, "ndt7", t), name), "wb") as f:
            f.write(blob)
    for i in range(n_rpm):
        t = start + rng.randrange(span)
        rec = rpm_record(rng, t, "%016x" % i)
        name = "responsiveness1-%s.%016x.json" % (ts(t)[:19].replace("-", "").replace(":", ""), i)
        with open(os.path.join(day_dir(root, "responsiveness1", t), name), "w") as f:
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--ndt7", type=int, default=200)
    ap.add_argument("--rpm", type=int, default=60)
    ap.add_argument("--variants", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--no-summary", action="store_true")
    a = ap.parse_args()
    write(a.dir, a.ndt7, a.rpm, a.variants, a.seed, a.days, not a.no_summary)


if __name__ == "__main__":
    main()
