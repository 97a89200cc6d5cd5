#!/usr/bin/env python3
"""A stand-in for M-Lab's Locate v2 service, pointing clients at a local netpulse server.

Usage: fake_locate.py [--port 0] [--ndt7-ws HOST:PORT] [--ndt7-wss HOST:PORT]
                      [--status 200|204|429] [--machine NAME] [--token TOKEN]

Listens on 127.0.0.1:<port> (0 = any free port) and prints `LISTENING <port>`
on stdout once ready. Every request path is logged to stderr.

GET /v2/nearest/ndt/ndt7 (any query string) answers, by --status:
  200 (default)  {"results":[{"machine":..,"location":{..},"urls":{..}}]} with
                 one entry per URL key, e.g.
                 "ws:///ndt/v7/download": "ws://HOST:PORT/ndt/v7/download?access_token=TOKEN&client_name=.."
                 for the schemes given by --ndt7-ws / --ndt7-wss (at least one);
                 the request's client_* query keys (client metadata) are
                 copied into every URL after the token.
  204            no content (no capacity)
  429            {"error":{...}} with Retry-After (rate limited)
Responses allow any origin (CORS), as Locate's do, so a browser page on
another loopback port can use it. Any other path gets 404. Exits on SIGTERM/SIGINT.
"""

import argparse
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode

NEAREST_PATH = "/v2/nearest/ndt/ndt7"
DEFAULT_TOKEN = "netpulse-test-dummy-token"


def build_results(args, query):
    # The token first, then the request's client_* keys (client metadata),
    # forwarded into each URL so that it reaches the server.
    params = [("access_token", args.token)]
    params += [(k, v) for k, v in parse_qsl(query) if k.startswith("client_")]
    qs = urlencode(params)
    urls = {}
    for scheme, hostport in (("ws", args.ndt7_ws), ("wss", args.ndt7_wss)):
        if not hostport:
            continue
        for test in ("download", "upload"):
            path = "/ndt/v7/" + test
            # Locate's keys drop the host: "scheme://:port/path" where the
            # port is only present when it is not the default; clients built
            # on Locate (ndt7-js, ndt7-client-go) look up "ws:///ndt/v7/..".
            urls["%s://%s" % (scheme, path)] = "%s://%s%s?%s" % (
                scheme, hostport, path, qs)
    return {
        "results": [{
            "machine": args.machine,
            "location": {"city": "Loopback", "country": "ZZ"},
            "urls": urls,
        }]
    }


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-locate/1"

    def log_message(self, fmt, *fargs):
        pass  # one line per request, written by do_GET instead

    def send_json(self, status, obj, extra_headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        args = self.server.args
        sys.stderr.write("fake_locate: GET %s\n" % self.path)
        sys.stderr.flush()
        if self.path.split("?", 1)[0] != NEAREST_PATH:
            self.send_json(404, {"error": {"title": "not found"}})
            return
        if args.status == 204:
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
        elif args.status == 429:
            self.send_json(429, {"error": {
                "type": "rate_limited", "title": "client rate limited",
                "status": 429}}, [("Retry-After", "5")])
        else:
            query = self.path.split("?", 1)[1] if "?" in self.path else ""
            self.send_json(200, build_results(args, query))


def main():
    p = argparse.ArgumentParser(description="fake M-Lab Locate v2 for tests")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ndt7-ws", metavar="HOST:PORT")
    p.add_argument("--ndt7-wss", metavar="HOST:PORT")
    p.add_argument("--status", type=int, choices=(200, 204, 429), default=200)
    p.add_argument("--machine", default="mlab1-lcl0t.netpulse.test")
    p.add_argument("--token", default=DEFAULT_TOKEN)
    args = p.parse_args()
    if args.status == 200 and not (args.ndt7_ws or args.ndt7_wss):
        p.error("--status 200 needs --ndt7-ws and/or --ndt7-wss")

    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    httpd.daemon_threads = True
    httpd.args = args

    def stop(signum, frame):
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("LISTENING %d" % httpd.server_address[1], flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
