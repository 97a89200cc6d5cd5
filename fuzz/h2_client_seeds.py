#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/fuzz_h2_client.c: server byte streams
built frame by frame (RFC 9113), each behind the target's three header
bytes (mode, split, knobs; see the target). Stream ids follow from the
mode: the requests the mode names get 1, 3, 5, 7 in order; with split > 0
every chunk adds a probe, so chunk k answers stream 2k + 1 in `probes`.

Usage: fuzz/h2_client_seeds.py [OUTDIR]   (default fuzz/corpus/h2_client)"""

import os
import struct
import sys

CONFIG, LARGE, UPLOAD, RESULT, PROBES, OWN_PREFACE, CANCEL, WFAIL = 1, 2, 4, 8, 16, 32, 64, 128


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def settings(*pairs, ack=False):
    return frame(4, 1 if ack else 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def lit(name, value):
    """HPACK literal without indexing, new name, no Huffman."""
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


S200, S204, S404 = b"\x88", b"\x89", b"\x8d"
STATUS = lambda code: b"\x08\x03" + code  # literal, indexed name :status
CT_JSON = b"\x0f\x10\x10application/json"  # content-type (static 31)
RETRY_AFTER = lambda v: b"\x0f\x26" + bytes([len(v)]) + v  # retry-after (static 53)
EH, ES, PADDED, PRIO = 4, 1, 8, 0x20


def headers(sid, block, end_stream=False):
    return frame(1, EH | (ES if end_stream else 0), sid, block)


def data(sid, body, end_stream=False):
    return frame(0, ES if end_stream else 0, sid, body)


def wu(sid, inc):
    return frame(8, 0, sid, struct.pack(">I", inc))


def rst(sid, code):
    return frame(3, 0, sid, struct.pack(">I", code))


def goaway(last, code, text=b""):
    return frame(7, 0, 0, struct.pack(">II", last, code) + text)


def ping(opaque=b"12345678", ack=False):
    return frame(6, 1 if ack else 0, 0, opaque)


CONFIG_BODY = (b'{"version":1,"urls":{"small_download_url":"http://127.0.0.1:4443/small",'
               b'"large_download_url":"http://127.0.0.1:4443/large",'
               b'"upload_url":"http://127.0.0.1:4443/upload"}}')
HELLO = settings((3, 100), (4, 1 << 30), (5, 1 << 20)) + wu(0, (1 << 30) - 65535)


def seed(mode, split=0, knobs=0):
    return bytes([mode, split, knobs])


def seeds():
    out = {}
    config = headers(1, S200 + CT_JSON) + data(1, CONFIG_BODY, True)
    out["config_ok"] = seed(CONFIG) + HELLO + config
    # The whole measurement's streams: config 1, download 3, upload 5,
    # summary 7; padded and plain DATA, windows, resets, a graceful GOAWAY.
    body = bytes(range(256)) * 40
    out["rpm_all"] = seed(CONFIG | LARGE | UPLOAD | RESULT) + HELLO + config + b"".join([
        headers(3, S200), data(3, body), frame(0, PADDED, 3, bytes([200]) + body[:100] + b"\0" * 200),
        wu(5, 1 << 20), headers(5, S200), ping(), headers(7, STATUS(b"201")),
        data(7, b"stored", True), rst(3, 8), rst(5, 0), goaway(7, 0, b"bye")])
    out["probes"] = seed(CONFIG | PROBES, 20) + b"".join(
        headers(2 * k + 1, S200) + data(2 * k + 1, b"x", True) for k in range(12))
    out["continuation"] = seed(CONFIG) + frame(1, 0, 1, S200) + frame(9, 0, 1, CT_JSON) + \
        frame(9, EH, 1, lit(b"x-a", b"b")) + data(1, CONFIG_BODY, True)
    out["informational_trailers"] = seed(LARGE) + headers(1, STATUS(b"100")) + headers(1, S200) + \
        data(1, b"abc") + headers(1, lit(b"x-t", b"1"), True)
    out["retry_after_503"] = seed(CONFIG) + headers(1, STATUS(b"503") + RETRY_AFTER(b"5"), True)
    out["not_found_priority"] = seed(CONFIG) + frame(1, EH | ES | PRIO, 1, b"\0\0\0\0\x10" + S404)
    # 4 KB into the dynamic table, then referenced again and again: over
    # the 16 KiB header list we advertise after 4 references.
    bomb = S200 + b"\x40\x01x\x7f\xe0\x1e" + b"a" * 4063 + b"\xbe" * 64
    out["header_bomb"] = seed(CONFIG) + headers(1, bomb)
    out["table_size_zero"] = seed(CONFIG) + settings((1, 0)) + headers(1, b"\x20" + S200, True)
    out["push_promise"] = seed(CONFIG) + frame(5, EH, 1, struct.pack(">I", 2) + b"\x82\x86\x84")
    out["max_frame_16383"] = seed(CONFIG) + settings((5, 16383))
    out["initial_window_2_31"] = seed(LARGE | UPLOAD) + settings((4, 1 << 31))
    out["window_overflow"] = seed(UPLOAD) + wu(0, 0x7FFFFFFF) * 2
    out["http11_400"] = seed(CONFIG | OWN_PREFACE) + \
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    out["own_preface"] = seed(CONFIG | OWN_PREFACE) + settings((3, 1)) + settings(ack=True) + config
    out["ping_flood"] = seed(CONFIG) + ping() * 120
    out["goaway_error"] = seed(CONFIG | LARGE | UPLOAD) + config + goaway(1, 1, b"bad \x1b[31m")
    out["goaway_then_broken"] = seed(CONFIG | LARGE, 30) + goaway(3, 0) + headers(3, S200) + \
        settings((5, 16383))
    out["upload_big_frames"] = seed(UPLOAD, 0, 0x02) + settings((5, 65536)) + wu(0, 1 << 20) + \
        wu(1, 1 << 20) + headers(1, S200) + rst(1, 0)
    out["write_fails"] = seed(UPLOAD | WFAIL, 0, 0x10) + wu(0, 1 << 20) + wu(1, 1 << 20)
    out["cancel_goaway"] = seed(CONFIG | LARGE | CANCEL, 30) + config + headers(3, S200) + \
        data(3, b"y" * 1000)
    out["data_before_headers"] = seed(LARGE) + data(1, b"zzz")
    out["unknown_frames"] = seed(CONFIG) + frame(0xFA, 0, 0, b"\0" * 64) + headers(1, S200) + \
        frame(0xFA, 0, 1, b"\1" * 8) + frame(0, PADDED, 1, b"\x05" + b"\0" * 5) + data(1, b"{}", True)
    out["small_window"] = seed(LARGE | UPLOAD, 0, 0x81) + headers(1, S200) + data(1, b"w" * 16000) + \
        data(1, b"w" * 2000)
    return out


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "h2_client")
    os.makedirs(outdir, exist_ok=True)
    for name, b in seeds().items():
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
