/* Unit tests for the HTTP/1.1 head parsers and body framing, with every
 * input fed in every split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "http/request.h"

/* Captured from HeadlessChrome 156 running `new WebSocket(url, proto)`. */
static const char chromium_ws[] =
    "GET /ndt/v7/download?client_name=ndt7-js&client_version=0.1.4 HTTP/1.1\r\n"
    "Host: 127.0.0.1:18741\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/156.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: http://127.0.0.1:18741\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Sec-WebSocket-Key: g2Q7KPBUGRY74JL/Z2ShKQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "Sec-WebSocket-Protocol: net.measurementlab.ndt.v7\r\n"
    "\r\n";

/* Captured from Node 20 with the npm `ws` 8 package. */
static const char node_ws[] =
    "GET /ndt/v7/upload?client_name=ndt7-client-node HTTP/1.1\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: QOUTXqnEWbQGKs1kqaF5jQ==\r\n"
    "Connection: Upgrade\r\n"
    "Upgrade: websocket\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "Sec-WebSocket-Protocol: net.measurementlab.ndt.v7\r\n"
    "Host: 127.0.0.1:18742\r\n"
    "\r\n";

/* Captured from a Node 20 http server writing two chunks and a trailer. */
static const char node_chunked[] = "HTTP/1.1 200 OK\r\n"
                                   "Content-Type: text/plain\r\n"
                                   "Trailer: X-Sum\r\n"
                                   "Date: Fri, 27 Nov 2026 08:01:29 GMT\r\n"
                                   "Connection: close\r\n"
                                   "Transfer-Encoding: chunked\r\n"
                                   "\r\n"
                                   "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n";

static int slice_is(np_slice s, const char *want) { return np_slice_eq(s, np_slice_cstr(want)); }

#define assert_slice(s, want)                                                                      \
  do {                                                                                             \
    if (!slice_is((s), (want)))                                                                    \
      fail_msg("got \"%.*s\", want \"%s\"", (int)(s).len, (const char *)(s).ptr, (want));          \
  } while (0)

typedef int (*parse_fn)(const uint8_t *in, size_t len, void *ret);

static int parse_req(const uint8_t *in, size_t len, void *ret) {
  return np_http_parse_request(in, len, ret);
}
static int parse_resp(const uint8_t *in, size_t len, void *ret) {
  return np_http_parse_response(in, len, ret);
}

/* Feeds every prefix of in (each in its own exact-size heap block, so ASan
 * catches any read past it) and checks: a complete head of length `want`
 * gives 0 before byte `want` and `want` from there on; an error gives 0 and
 * then the same error for good. Returns the result for the whole input. */
static int check_splits(parse_fn fn, const void *in, size_t len, int want, void *ret) {
  int seen_final = 0;
  int rc = 0;
  for (size_t p = 0; p <= len; p++) {
    uint8_t *copy = malloc(p ? p : 1);
    assert_non_null(copy);
    memcpy(copy, in, p);
    rc = fn(copy, p, ret);
    free(copy);
    if (rc != 0 && rc != want)
      fail_msg("prefix %zu of %zu: got %d, want 0 or %d", p, len, rc, want);
    if (seen_final && rc == 0) fail_msg("prefix %zu: went back to 0 after %d", p, want);
    if (rc != 0) seen_final = 1;
    if (want > 0 && (size_t)want <= p && rc != want)
      fail_msg("prefix %zu: got %d after the head was complete (%d)", p, rc, want);
  }
  assert_int_equal(rc, want);
  /* The final call wrote ret from the caller's buffer-less copy; re-parse in
   * place so the slices point into in. */
  return fn(in, len, ret);
}

static int req_ok(const char *s, np_http_request *r) {
  size_t len = strlen(s);
  return check_splits(parse_req, s, len, (int)len, r);
}

static void req_err(const char *s, int err) {
  np_http_request r;
  check_splits(parse_req, s, strlen(s), err, &r);
}

static void chromium_upgrade(void **state) {
  (void)state;
  np_http_request r;
  assert_int_equal(req_ok(chromium_ws, &r), (int)strlen(chromium_ws));
  assert_slice(r.method, "GET");
  assert_slice(r.path, "/ndt/v7/download");
  assert_slice(r.query, "client_name=ndt7-js&client_version=0.1.4");
  assert_slice(r.target, "/ndt/v7/download?client_name=ndt7-js&client_version=0.1.4");
  assert_int_equal(r.minor_version, 1);
  assert_int_equal(r.nheaders, 13);
  assert_slice(np_http_header_get(r.headers, r.nheaders, "upgrade"), "websocket");
  assert_slice(np_http_header_get(r.headers, r.nheaders, "SEC-WEBSOCKET-PROTOCOL"),
               "net.measurementlab.ndt.v7");
  assert_slice(np_http_header_get(r.headers, r.nheaders, "Sec-WebSocket-Key"),
               "g2Q7KPBUGRY74JL/Z2ShKQ==");
  assert_slice(r.headers[0].name, "Host");
  assert_null(np_http_header_get(r.headers, r.nheaders, "Cookie").ptr);
  assert_int_equal(np_http_header_count(r.headers, r.nheaders, "host"), 1);
}

static void node_ws_upgrade(void **state) {
  (void)state;
  np_http_request r;
  assert_int_equal(req_ok(node_ws, &r), (int)strlen(node_ws));
  assert_slice(r.path, "/ndt/v7/upload");
  assert_slice(r.query, "client_name=ndt7-client-node");
  assert_int_equal(r.nheaders, 7);
  assert_slice(np_http_header_get(r.headers, r.nheaders, "Connection"), "Upgrade");
  assert_slice(np_http_header_get(r.headers, r.nheaders, "host"), "127.0.0.1:18742");
}

static void request_details(void **state) {
  (void)state;
  np_http_request r;
  /* OWS trimmed, empty values, HTAB and obs-text kept inside values. */
  const char *s = "POST /up HTTP/1.1\r\nHost:h\r\nX-A: \t a\tb \t\r\nX-Empty:\r\n"
                  "X-Obs: caf\xc3\xa9\r\nContent-Length: 5, 5\r\ncontent-length: 5\r\n\r\nhello";
  assert_int_equal(check_splits(parse_req, s, strlen(s), (int)strlen(s) - 5, &r),
                   (int)strlen(s) - 5);
  assert_slice(r.method, "POST");
  assert_slice(r.query, "");
  assert_slice(r.path, "/up");
  assert_slice(np_http_header_get(r.headers, r.nheaders, "host"), "h");
  assert_slice(np_http_header_get(r.headers, r.nheaders, "x-a"), "a\tb");
  assert_slice(np_http_header_get(r.headers, r.nheaders, "x-empty"), "");
  assert_slice(np_http_header_get(r.headers, r.nheaders, "x-obs"), "caf\xc3\xa9");
  uint64_t clen = 0;
  assert_int_equal(np_http_content_length(r.headers, r.nheaders, &clen), 1);
  assert_int_equal(clen, 5);
  /* HTTP/1.0 without Host; '?' with an empty query; unusual token method. */
  assert_true(req_ok("M-SEARCH /a?b?c HTTP/1.0\r\n\r\n", &r) > 0);
  assert_int_equal(r.minor_version, 0);
  assert_slice(r.query, "b?c");
  assert_true(req_ok("GET /? HTTP/1.1\r\nHost: x\r\n\r\n", &r) > 0);
  assert_slice(r.query, "");
  assert_slice(r.path, "/");
  /* Transfer-Encoding alone is the caller's business. */
  assert_true(req_ok("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", &r) > 0);
}

static void request_errors(void **state) {
  (void)state;
  /* malformed: 400 */
  req_err("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", NP_E_PROTO);
  req_err(" GET / HTTP/1.1\r\nHost: x\r\n\r\n", NP_E_PROTO);
  req_err("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", NP_E_PROTO);
  req_err("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", NP_E_PROTO);
  req_err("GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n", NP_E_PROTO);
  req_err("GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n", NP_E_PROTO);
  req_err("GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", NP_E_PROTO);
  req_err("GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", NP_E_PROTO);
  req_err("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", NP_E_PROTO);
  req_err("GET /#f HTTP/1.1\r\nHost: x\r\n\r\n", NP_E_PROTO);
  req_err("GET / FOO/1.1\r\nHost: x\r\n\r\n", NP_E_PROTO);
  req_err("GET / HTTP/1.1 \r\nHost: x\r\n\r\n", NP_E_PROTO);
  req_err("GET / HTTP/1.1\nHost: x\r\n\r\n", NP_E_PROTO); /* bare LF */
  req_err("GET / HTTP/1.1\r\nHost: x\n\r\n", NP_E_PROTO);
  req_err("GET / HTTP/1.1\r\nHost: x\r\n\n", NP_E_PROTO);
  req_err("GET / HTTP/1.1\rHost: x\r\n\r\n", NP_E_PROTO); /* bare CR */
  req_err("GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n", NP_E_PROTO);
  req_err("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", NP_E_PROTO); /* obs-fold */
  req_err("GET / HTTP/1.1\r\nHost : x\r\n\r\n", NP_E_PROTO);
  req_err("GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n", NP_E_PROTO);
  req_err("GET / HTTP/1.1\r\nHost x\r\n\r\n", NP_E_PROTO);
  req_err("GET / HTTP/1.1\r\nHo\"st: x\r\n\r\n", NP_E_PROTO);
  static const char nul[] = "GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n";
  np_http_request r;
  check_splits(parse_req, nul, sizeof nul - 1, NP_E_PROTO, &r);
  req_err("GET / HTTP/1.1\r\nHost: x\r\nX: a\x01\r\n\r\n", NP_E_PROTO);
  req_err("GET / HTTP/1.1\r\nHost: x\r\nX: a\x7f\r\n\r\n", NP_E_PROTO);
  req_err("GET / HTTP/1.1\r\n\r\n", NP_E_PROTO); /* no Host */
  req_err("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", NP_E_PROTO);
  req_err("GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", NP_E_PROTO);
  req_err("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
          NP_E_PROTO);
  req_err("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n", NP_E_PROTO);
  req_err("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", NP_E_PROTO);
  req_err("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", NP_E_PROTO);
  req_err("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", NP_E_PROTO);
  req_err("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456789\r\n\r\n", NP_E_PROTO);
  req_err("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
          "Transfer-Encoding: chunked\r\n\r\n",
          NP_E_PROTO);
  /* version: 505 */
  req_err("GET / HTTP/1.2\r\nHost: x\r\n\r\n", NP_E_HTTP_VERSION);
  req_err("GET / HTTP/2.0\r\nHost: x\r\n\r\n", NP_E_HTTP_VERSION);
  req_err("GET / HTTP/0.9\r\n\r\n", NP_E_HTTP_VERSION);
  req_err("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", NP_E_HTTP_VERSION);
  /* A TLS ClientHello on a cleartext port is not a method token. */
  req_err("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", NP_E_PROTO);
}

/* Builds "GET /?<q> HTTP/1.1\r\nHost: x\r\n<pad>\r\n" with a query of qlen
 * bytes and the head padded to total bytes with one X-Pad header (if > 0). */
static char *build(size_t qlen, size_t path_len, size_t total) {
  char *s = malloc(total + qlen + path_len + 64);
  size_t n = 0;
  memcpy(s, "GET /", 5);
  n = 5;
  memset(s + n, 'p', path_len);
  n += path_len;
  if (qlen) {
    s[n++] = '?';
    memset(s + n, 'q', qlen);
    n += qlen;
  }
  const char *rest = " HTTP/1.1\r\nHost: x\r\n";
  memcpy(s + n, rest, strlen(rest));
  n += strlen(rest);
  if (total) {
    size_t pad = total - n - strlen("X-Pad: \r\n\r\n");
    memcpy(s + n, "X-Pad: ", 7);
    n += 7;
    memset(s + n, 'z', pad);
    n += pad;
    memcpy(s + n, "\r\n", 2);
    n += 2;
  }
  memcpy(s + n, "\r\n", 3);
  return s;
}

static void size_limits(void **state) {
  (void)state;
  np_http_request r;
  char *s = build(NP_HTTP_MAX_QUERY, 0, 0);
  assert_true(req_ok(s, &r) > 0);
  assert_int_equal(r.query.len, NP_HTTP_MAX_QUERY);
  free(s);
  s = build(NP_HTTP_MAX_QUERY + 1, 0, 0);
  req_err(s, NP_E_URI_TOOLONG);
  free(s);
  /* a target that never ends within the head cap: 414, not 431 */
  s = build(0, NP_HTTP_MAX_HEAD, 0);
  req_err(s, NP_E_URI_TOOLONG);
  free(s);
  /* exactly 8 KiB of head is accepted; one more byte is 431 */
  s = build(10, 0, NP_HTTP_MAX_HEAD);
  assert_int_equal(strlen(s), NP_HTTP_MAX_HEAD);
  assert_int_equal(req_ok(s, &r), NP_HTTP_MAX_HEAD);
  free(s);
  s = build(10, 0, NP_HTTP_MAX_HEAD + 1);
  req_err(s, NP_E_HEADERS_TOOBIG);
  free(s);
  /* an unfinished head reaching the cap is 431 at once */
  s = build(10, 0, NP_HTTP_MAX_HEAD + 100);
  assert_int_equal(np_http_parse_request((const uint8_t *)s, NP_HTTP_MAX_HEAD, &r),
                   NP_E_HEADERS_TOOBIG);
  assert_int_equal(np_http_parse_request((const uint8_t *)s, NP_HTTP_MAX_HEAD - 1, &r), 0);
  free(s);

  /* header count: 64 fine, 65 is 431 */
  char buf[2048];
  for (int extra = 0; extra <= 1; extra++) {
    size_t n = 0;
    n += (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 1; i < NP_HTTP_MAX_HEADERS + extra; i++)
      n += (size_t)snprintf(buf + n, sizeof buf - n, "X-%d: %d\r\n", i, i);
    (void)snprintf(buf + n, sizeof buf - n, "\r\n");
    if (extra) {
      req_err(buf, NP_E_HEADERS_TOOBIG);
    } else {
      assert_true(req_ok(buf, &r) > 0);
      assert_int_equal(r.nheaders, NP_HTTP_MAX_HEADERS);
      assert_slice(r.headers[63].value, "63");
    }
  }
}

static void response_heads(void **state) {
  (void)state;
  np_http_response r;
  const char *s =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
      "\x81\x05hello";
  int head = (int)strlen(s) - 7;
  assert_int_equal(check_splits(parse_resp, s, strlen(s), head, &r), head);
  assert_int_equal(r.status, 101);
  assert_int_equal(r.minor_version, 1);
  assert_slice(r.reason, "Switching Protocols");
  assert_int_equal(r.nheaders, 3);
  assert_slice(np_http_header_get(r.headers, r.nheaders, "sec-websocket-accept"),
               "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");

  s = "HTTP/1.0 200\r\n\r\n";
  assert_int_equal(check_splits(parse_resp, s, strlen(s), (int)strlen(s), &r), (int)strlen(s));
  assert_int_equal(r.status, 200);
  assert_int_equal(r.minor_version, 0);
  assert_slice(r.reason, "");
  s = "HTTP/1.1 503 \r\nRetry-After: 10\r\n\r\n";
  assert_int_equal(check_splits(parse_resp, s, strlen(s), (int)strlen(s), &r), (int)strlen(s));
  assert_int_equal(r.status, 503);

  static const struct {
    const char *in;
    int err;
  } bad[] = {
      {"HTTP/2 200 OK\r\n\r\n", NP_E_HTTP_VERSION},
      {"HTTP/1.1 99 x\r\n\r\n", NP_E_PROTO},
      {"HTTP/1.1 600 x\r\n\r\n", NP_E_PROTO},
      {"HTTP/1.1 20x x\r\n\r\n", NP_E_PROTO},
      {"HTTP/1.1 2000 x\r\n\r\n", NP_E_PROTO},
      {"HTTP/1.1 200 OK\n\r\n", NP_E_PROTO},
      {"HTTP/1.1 200 OK\r\nX : y\r\n\r\n", NP_E_PROTO},
      {"HTTP/1.1 200 O\x01K\r\n\r\n", NP_E_PROTO},
      {"SSH-2.0-OpenSSH_9.2\r\n", NP_E_PROTO},
      {"\x15\x03\x03\x00\x02\x02\x46", NP_E_PROTO},
      {"<html>", NP_E_PROTO},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    check_splits(parse_resp, bad[i].in, strlen(bad[i].in), bad[i].err, &r);
  /* Not HTTP is rejected from the first byte. */
  assert_int_equal(np_http_parse_response((const uint8_t *)"S", 1, &r), NP_E_PROTO);
  assert_int_equal(np_http_parse_response((const uint8_t *)"HTT", 3, &r), 0);
}

static void status_mapping(void **state) {
  (void)state;
  assert_int_equal(np_http_status_for_error(NP_E_PROTO), 400);
  assert_int_equal(np_http_status_for_error(NP_E_URI_TOOLONG), 414);
  assert_int_equal(np_http_status_for_error(NP_E_HEADERS_TOOBIG), 431);
  assert_int_equal(np_http_status_for_error(NP_E_HTTP_VERSION), 505);
  assert_int_equal(np_http_status_for_error(NP_E_HTTP_METHOD), 405);
  assert_int_equal(np_http_status_for_error(-12 /* ENOMEM */), 500);
  assert_string_equal(np_http_reason(400), "Bad Request");
  assert_string_equal(np_http_reason(431), "Request Header Fields Too Large");
  assert_string_equal(np_http_reason(503), "Service Unavailable");
  assert_string_equal(np_http_reason(599), "");
}

/* Body decoding: feeds body bytes (after the head) split at `split` (0 = one
 * byte at a time), carrying unconsumed bytes over like a real reader does.
 * Returns the last result (0 done/ok, or an error) and the decoded body. */
static int feed_body(np_http_body *b, const char *in, size_t len, size_t split, char *out,
                     size_t *ret_out, size_t *ret_left) {
  uint8_t pend[512];
  size_t plen = 0, pos = 0, olen = 0;
  int rc = 0;
  while (pos < len && !np_http_body_done(b)) {
    size_t piece = split ? (pos < split ? split - pos : len - pos) : 1;
    if (piece > len - pos) piece = len - pos;
    memcpy(pend + plen, in + pos, piece);
    plen += piece;
    pos += piece;
    size_t blen;
    rc = np_http_body_read(b, pend, plen, &blen);
    if (rc < 0) break;
    memcpy(out + olen, pend, blen);
    olen += blen;
    memmove(pend, pend + rc, plen - (size_t)rc);
    plen -= (size_t)rc;
  }
  *ret_out = olen;
  *ret_left = plen + (len - pos);
  return rc < 0 ? rc : 0;
}

/* Parses a whole response (head + body) in every split; checks the decoded
 * body, the bytes left after it, and the final state. */
static void body_case(const char *resp, size_t len, uint64_t max, int want_rc,
                      const char *want_body, size_t want_left) {
  np_http_response r;
  int head = np_http_parse_response((const uint8_t *)resp, len, &r);
  assert_true(head > 0);
  size_t blen = len - (size_t)head;
  for (size_t split = 0; split <= blen; split++) {
    np_http_body b;
    int rc = np_http_body_init(&b, &r, max);
    if (rc < 0) {
      assert_int_equal(rc, want_rc);
      return;
    }
    char out[512];
    size_t olen, left;
    rc = feed_body(&b, resp + head, blen, split, out, &olen, &left);
    if (rc != want_rc) fail_msg("split %zu: rc %d, want %d", split, rc, want_rc);
    if (want_rc < 0) {
      size_t dummy;
      assert_int_equal(np_http_body_read(&b, (uint8_t *)out, 1, &dummy), want_rc);
      continue;
    }
    assert_int_equal(olen, strlen(want_body));
    assert_memory_equal(out, want_body, olen);
    assert_int_equal(left, want_left);
    assert_int_equal(b.total, olen);
  }
}

static void body_framing(void **state) {
  (void)state;
  body_case(node_chunked, strlen(node_chunked), 1000, 0, "hello world", 0);
  const char *s = "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n"
                  "A;name=\"v\" ; x\r\n0123456789\r\n00000b\r\nabcdefghijk\r\n"
                  "0;last\r\nA: b\r\nC:\td\r\n\r\nNEXT";
  body_case(s, strlen(s), 1000, 0, "0123456789abcdefghijk", 4);
  s = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
  body_case(s, strlen(s), 1000, 0, "hello", 5);
  s = "HTTP/1.0 200 OK\r\n\r\nuntil close";
  body_case(s, strlen(s), 1000, 0, "until close", 0);
  s = "HTTP/1.1 204 No Content\r\n\r\nX";
  body_case(s, strlen(s), 1000, 0, "", 1);

  /* errors */
  s = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n";
  body_case(s, strlen(s), 10, NP_E_TOOBIG, "", 0);
  s = "HTTP/1.0 200 OK\r\n\r\n0123456789A";
  body_case(s, strlen(s), 10, NP_E_TOOBIG, "", 0);
  s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n";
  body_case(s, strlen(s), 10, NP_E_TOOBIG, "", 0);
  s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n";
  body_case(s, strlen(s), 100, NP_E_PROTO, "", 0);
  s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nG\r\n";
  body_case(s, strlen(s), 100, NP_E_PROTO, "", 0);
  s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n";
  body_case(s, strlen(s), 100, NP_E_PROTO, "", 0);
  s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000001\r\n";
  body_case(s, strlen(s), 100, NP_E_PROTO, "", 0);
  s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n";
  body_case(s, strlen(s), 100, NP_E_PROTO, "", 0);
  s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;a\x01\r\nx\r\n";
  body_case(s, strlen(s), 100, NP_E_PROTO, "", 0);
  s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n folded\r\n\r\n";
  body_case(s, strlen(s), 100, NP_E_PROTO, "", 0);
  s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
  body_case(s, strlen(s), 100, NP_E_PROTO, "", 0);
  s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n";
  body_case(s, strlen(s), 100, NP_E_PROTO, "", 0);
  s = "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  body_case(s, strlen(s), 100, NP_E_PROTO, "", 0);
  s = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n";
  body_case(s, strlen(s), 100, NP_E_PROTO, "", 0);
}

static void body_eof(void **state) {
  (void)state;
  np_http_response r;
  np_http_body b;
  uint8_t buf[64];
  size_t blen;
  const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n";
  assert_true(np_http_parse_response((const uint8_t *)s, strlen(s), &r) > 0);
  assert_int_equal(np_http_body_init(&b, &r, 100), 0);
  memcpy(buf, "abc", 3);
  assert_int_equal(np_http_body_read(&b, buf, 3, &blen), 3);
  assert_int_equal(np_http_body_done(&b), 0);
  assert_int_equal(np_http_body_eof(&b), NP_E_PROTO);
  memcpy(buf, "d", 1);
  assert_int_equal(np_http_body_read(&b, buf, 1, &blen), 1);
  assert_int_equal(np_http_body_done(&b), 1);
  assert_int_equal(np_http_body_eof(&b), 0);

  s = "HTTP/1.1 200 OK\r\n\r\n";
  assert_true(np_http_parse_response((const uint8_t *)s, strlen(s), &r) > 0);
  assert_int_equal(np_http_body_init(&b, &r, 100), 0);
  assert_int_equal(np_http_body_done(&b), 0);
  assert_int_equal(np_http_body_eof(&b), 0);

  s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  assert_true(np_http_parse_response((const uint8_t *)s, strlen(s), &r) > 0);
  assert_int_equal(np_http_body_init(&b, &r, 100), 0);
  memcpy(buf, "3\r\nab", 5);
  assert_int_equal(np_http_body_read(&b, buf, 5, &blen), 5);
  assert_int_equal(blen, 2);
  assert_int_equal(np_http_body_eof(&b), NP_E_PROTO);

  np_http_body_init_empty(&b);
  assert_int_equal(np_http_body_done(&b), 1);
  assert_int_equal(np_http_body_read(&b, buf, 5, &blen), 0);
  assert_int_equal(blen, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(chromium_upgrade), cmocka_unit_test(node_ws_upgrade),
      cmocka_unit_test(request_details),  cmocka_unit_test(request_errors),
      cmocka_unit_test(size_limits),      cmocka_unit_test(response_heads),
      cmocka_unit_test(status_mapping),   cmocka_unit_test(body_framing),
      cmocka_unit_test(body_eof),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
