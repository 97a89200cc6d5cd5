#!/usr/bin/env python3
"""The test page served by netpulse-server, checked with curl: / and its
files from the copy built into the binary (web/) with the right type and
headers (CSP, nosniff, no-cache), HEAD, keep-alive, 404 and 405,
traversal attempts that never leave the page, /privacy; the same over h2
and h2c; HEAD answered with the very headers of the GET (Content-Length of
the GET's body, RFC 9110 §9.3.2) and no body, over HTTP/1.1, h2 and h2c
(curl for the headers, nghttp for the frames: no DATA on a HEAD stream), also
for 404, 405 and the RPM endpoints' refusals; --no-web (404 at /) and
--web-dir (a temp directory read at request time, without dotfiles or
symlinks out of it).

Usage: web_serving.py SERVER_BINARY {embedded,no_web,web_dir}"""

import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_lib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CSP = ("default-src 'self'; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
TRAVERSALS = ["/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc/passwd",
              "//etc/passwd", "/.git/config", "/./index.html", "/index.html/..",
              "/%2fetc%2fpasswd", "/web/index.html", "/\\..\\..\\etc\\passwd"]


def parse_head(head):
    """(status, headers dict, http version) of a response head (bytes)."""
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers, lines[0].split()[0]


def curl(*args):
    """(status, headers dict, body bytes, http version) of one curl fetch."""
    p = subprocess.run(["curl", "-sS", "-k", "--path-as-is", "-D", "-", "-o", "-"] + list(args),
                       capture_output=True, timeout=30)
    assert p.returncode == 0, "curl %s: %s" % (args, p.stderr.decode())
    head, _, body = p.stdout.partition(b"\r\n\r\n")
    status, headers, version = parse_head(head)
    return status, headers, body, version


def head_only(*args):
    """(status, headers dict) of a HEAD by curl -I (the headers alone)."""
    p = subprocess.run(["curl", "-sS", "-k", "--path-as-is", "-I", "-o", "/dev/null", "-D", "-"] +
                       list(args), capture_output=True, timeout=30)
    assert p.returncode == 0, "curl -I %s: %s" % (args, p.stderr.decode())
    return parse_head(p.stdout.partition(b"\r\n\r\n")[0])[:2]


def head_like_get(extra, url, what):
    """HEAD gets GET's status and headers, Content-Length included; over
    HTTP/2 (nghttp) no DATA frame follows the HEADERS. Returns the status."""
    st, h, body, _ = curl(*extra, url)
    hst, hh = head_only(*extra, url)
    assert int(h.get("content-length", -1)) == len(body), "%s: GET %s" % (what, h)
    drop = ("date",)
    assert (hst, {k: v for k, v in hh.items() if k not in drop}) == \
        (st, {k: v for k, v in h.items() if k not in drop}), \
        "%s: HEAD %d %s, GET %d %s" % (what, hst, hh, st, h)
    if "2" in extra[0]:
        p = subprocess.run(["nghttp", "-v", "-H", ":method: HEAD", url], capture_output=True,
                           text=True, timeout=30)
        out = p.stdout + p.stderr
        assert p.returncode == 0 and "recv HEADERS frame" in out, "%s: nghttp: %s" % (what, out[-800:])
        assert "recv DATA frame" not in out, "%s: DATA after a HEAD: %s" % (what, out[-800:])
        assert "content-length: %d" % len(body) in out, "%s: nghttp HEAD %s" % (what, out[-800:])
    return st


def head_keepalive(port, paths):
    """HEADs pipelined on one HTTP/1.1 connection: one head each, and not a
    byte of body between or after them."""
    req = b"".join(b"HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode() for p in paths[:-1])
    req += b"HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % paths[-1].encode()
    got = read_all(port, req)
    heads = got.split(b"\r\n\r\n")
    assert len(heads) == len(paths) + 1 and heads[-1] == b"" and \
        all(h.startswith(b"HTTP/1.1 ") for h in heads[:-1]), "HEAD keep-alive %s: %r" % (paths, got)
    return [int(h.split()[1]) for h in heads[:-1]]


def read_all(port, request):
    """Everything the server sends for request until it closes."""
    got = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return got
            got += chunk


def page_headers(h, ctype, what):
    assert h.get("content-type") == ctype, "%s: type %r" % (what, h.get("content-type"))
    assert h.get("content-security-policy") == CSP, "%s: CSP %r" % (what, h)
    assert h.get("x-content-type-options") == "nosniff", what
    assert h.get("cache-control") == "no-cache", what


def raw(port, request):
    """The status line a raw request gets (for targets curl will not send)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        return s.recv(4096).split(b"\r\n", 1)[0].decode()


def embedded(binary, tmp):
    srv = ops_lib.Server(binary, os.path.join(tmp, "spool"), tls=True)
    try:
        with open(os.path.join(ROOT, "web", "index.html"), "rb") as f:
            index = f.read()
        with open(os.path.join(ROOT, "docs", "privacy.md"), "rb") as f:
            privacy = f.read()
        http = "http://127.0.0.1:%d" % srv.ws
        https = "https://127.0.0.1:%d" % srv.wss
        for base, extra in ((http, ["--http1.1"]), (https, ["--http1.1"]), (https, ["--http2"]),
                            (http, ["--http2-prior-knowledge"])):
            what = base + " " + extra[0]
            st, h, body, ver = curl(*extra, base + "/")
            assert st == 200 and body == index, "%s: / gave %d (%d bytes)" % (what, st, len(body))
            assert ver == ("HTTP/2" if "2" in extra[0] else "HTTP/1.1"), what + ": " + ver
            page_headers(h, "text/html; charset=utf-8", what + " /")
            st, h, body, _ = curl(*extra, base + "/index.html?cache=1")
            assert st == 200 and body == index, what + ": /index.html"
            st, h, body, _ = curl(*extra, base + "/privacy")
            assert st == 200 and body == privacy, what + ": /privacy %d" % st
            page_headers(h, "text/plain; charset=utf-8", what + " /privacy")
            st, h, body, _ = curl(*extra, base + "/no-such-file.js")
            assert st == 404 and h.get("x-content-type-options") == "nosniff", what + ": 404"
            for path in TRAVERSALS:
                st, _, body, _ = curl(*extra, base + path)
                assert st in (400, 404) and b"root:" not in body, \
                    "%s: %s gave %d" % (what, path, st)
            for path, want in (("/", 200), ("/app.js", 200), ("/style.css", 200),
                               ("/privacy", 200), ("/no-such-file.js", 404)):
                st = head_like_get(extra, base + path, what + " " + path)
                assert st == want, "%s: HEAD %s gave %d" % (what, path, st)
            # The RPM endpoints serve HEAD as GET (RFC 9110 9.3.2): small
            # without an ID is the 403's head; the config's head has the
            # config's length (its ID has a fixed length).
            for path, want in (("/rpm/v1/small", 403), ("/.well-known/nq", 200)):
                st = head_like_get(extra, base + path, what + " " + path)
                assert st == want, "%s: HEAD %s gave %d" % (what, path, st)
        # HTTP/1.1 only: HEAD, 405, keep-alive
        st, h, _, _ = curl("--http1.1", "-I", http + "/")
        assert st == 200 and int(h["content-length"]) == len(index), "HEAD /"
        page_headers(h, "text/html; charset=utf-8", "HEAD /")
        got = read_all(srv.ws, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 200") and got.endswith(b"\r\n\r\n") and \
            b"Connection: close" in got, "HEAD sends no body: %r" % got[-80:]
        assert head_keepalive(srv.ws, ["/rpm/v1/small", "/", "/no-such-file.js",
                                       "/.well-known/nq", "/privacy"]) == \
            [403, 200, 404, 200, 200], "HEAD keep-alive statuses"
        for method in ("POST", "PUT", "DELETE", "OPTIONS"):
            st, h, _, _ = curl("--http1.1", "-X", method, http + "/")
            assert st == 405 and h.get("allow") == "GET, HEAD", "%s / gave %d" % (method, st)
        p = subprocess.run(["curl", "-sS", "-v", "--http1.1", "-o", "/dev/null", "-o", "/dev/null",
                            "-o", "/dev/null", http + "/", http + "/privacy", http + "/nope"],
                           capture_output=True, text=True, timeout=30)
        assert p.stderr.count("Re-using existing connection") == 2, \
            "keep-alive: " + p.stderr[-2000:]
        assert raw(srv.ws, b"GET ../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n").startswith(
            "HTTP/1.1 400"), "relative target"
        assert raw(srv.ws, b"GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n").startswith(
            "HTTP/1.1 404"), "NUL escape"
        # ndt7 still owns its paths on the same port
        st, _, _, _ = curl("--http1.1", http + "/ndt/v7/download")
        assert st == 400, "ndt7 download without upgrade gave %d" % st
        assert srv.health() == 200
    finally:
        assert srv.stop() == 0


def no_web(binary, tmp):
    srv = ops_lib.Server(binary, os.path.join(tmp, "spool"), "--no-web", tls=True)
    try:
        for url in ("http://127.0.0.1:%d/" % srv.ws, "http://127.0.0.1:%d/privacy" % srv.ws):
            st, _, _, _ = curl("--http1.1", url)
            assert st == 404, "--no-web: %s gave %d" % (url, st)
        st, _, _, _ = curl("--http2", "https://127.0.0.1:%d/" % srv.wss)
        assert st == 404, "--no-web over h2 gave %d" % st
        # The RPM sessions' own 404 (no page to ask): HEAD like GET, no body.
        for base, extra in (("http://127.0.0.1:%d" % srv.ws, ["--http1.1"]),
                            ("https://127.0.0.1:%d" % srv.wss, ["--http1.1"]),
                            ("https://127.0.0.1:%d" % srv.wss, ["--http2"]),
                            ("http://127.0.0.1:%d" % srv.ws, ["--http2-prior-knowledge"])):
            st = head_like_get(extra, base + "/", "--no-web %s %s" % (base, extra[0]))
            assert st == 404, "--no-web HEAD / gave %d" % st
        # The front door closes after its own 404; an RPM connection keeps
        # going, and answers other paths with its 404.
        assert head_keepalive(srv.ws, ["/"]) == [404], "--no-web HEAD / (front door)"
        assert head_keepalive(srv.ws, ["/rpm/v1/small", "/", "/privacy"]) == [403, 404, 404], \
            "--no-web HEAD keep-alive on an RPM connection"
    finally:
        assert srv.stop() == 0


def web_dir(binary, tmp):
    site = os.path.join(tmp, "site")
    os.makedirs(os.path.join(site, "js"))
    with open(os.path.join(site, "index.html"), "w") as f:
        f.write("<p>restyled</p>")
    with open(os.path.join(site, "js", "app.mjs"), "w") as f:
        f.write("export const x = 1;")
    with open(os.path.join(site, ".htpasswd"), "w") as f:
        f.write("secret")
    with open(os.path.join(tmp, "outside.txt"), "w") as f:
        f.write("outside")
    os.symlink(os.path.join(tmp, "outside.txt"), os.path.join(site, "link.txt"))
    os.symlink(tmp, os.path.join(site, "up"))
    srv = ops_lib.Server(binary, os.path.join(tmp, "spool"), "--web-dir", site)
    try:
        base = "http://127.0.0.1:%d" % srv.ws
        st, h, body, _ = curl("--http1.1", base + "/")
        assert st == 200 and body == b"<p>restyled</p>", "web-dir /: %d %r" % (st, body)
        page_headers(h, "text/html; charset=utf-8", "web-dir /")
        st, h, body, _ = curl("--http1.1", base + "/js/app.mjs")
        assert st == 200 and body == b"export const x = 1;", "web-dir /js/app.mjs"
        page_headers(h, "text/javascript; charset=utf-8", "web-dir mjs")
        with open(os.path.join(site, "index.html"), "w") as f:
            f.write("<p>changed</p>")
        st, _, body, _ = curl("--http1.1", base + "/")
        assert body == b"<p>changed</p>", "web-dir read at request time"
        for path in ["/.htpasswd", "/link.txt", "/up/outside.txt", "/js"] + TRAVERSALS:
            st, _, body, _ = curl("--http1.1", base + path)
            assert st in (400, 404) and b"outside" not in body and b"secret" not in body, \
                "web-dir: %s gave %d %r" % (path, st, body[:40])
        st, _, body, _ = curl("--http1.1", base + "/privacy")
        assert st == 200 and body.startswith(b"#"), "web-dir: /privacy is still the policy"
    finally:
        assert srv.stop() == 0


if __name__ == "__main__":
    sys.exit(ops_lib.run_subject({"embedded": embedded, "no_web": no_web, "web_dir": web_dir},
                                 __doc__, "np-web-"))
