/* Unit tests for ws/handshake: accept key, upgrade checks, request/response writers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/error.h"
#include "ws/handshake.h"

#define SUB "net.measurementlab.ndt.v7"
#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* A deliberately simple head splitter, so that these tests build the
 * structs from readable text without depending on the real HTTP parser:
 * "first line\r\nName: value\r\n...\r\n". Slices point into text. */
static void split_head(const char *text, np_slice *first, np_http_header *h, size_t *nh) {
  const char *p = text;
  const char *eol = strstr(p, "\r\n");
  assert_non_null(eol);
  *first = np_slice_make(p, (size_t)(eol - p));
  p = eol + 2;
  *nh = 0;
  while (strncmp(p, "\r\n", 2) != 0) {
    eol = strstr(p, "\r\n");
    assert_non_null(eol);
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    assert_non_null(colon);
    const char *v = colon + 1;
    while (*v == ' ') v++;
    const char *e = eol;
    while (e > v && e[-1] == ' ') e--;
    assert_true(*nh < NP_HTTP_MAX_HEADERS);
    h[*nh].name = np_slice_make(p, (size_t)(colon - p));
    h[*nh].value = np_slice_make(v, (size_t)(e - v));
    (*nh)++;
    p = eol + 2;
  }
}

static void make_request(const char *text, np_http_request *req) {
  memset(req, 0, sizeof *req);
  np_slice line;
  split_head(text, &line, req->headers, &req->nheaders);
  const char *sp = memchr(line.ptr, ' ', line.len);
  assert_non_null(sp);
  req->method = np_slice_make(line.ptr, (size_t)((const uint8_t *)sp - line.ptr));
  const char *sp2 = memchr(sp + 1, ' ', line.len - req->method.len - 1);
  assert_non_null(sp2);
  req->target = np_slice_make(sp + 1, (size_t)(sp2 - sp - 1));
  req->path = req->target;
  req->minor_version = sp2[8] - '0'; /* " HTTP/1.x" */
}

static void make_response(const char *text, np_http_response *resp) {
  memset(resp, 0, sizeof *resp);
  np_slice line;
  split_head(text, &line, resp->headers, &resp->nheaders);
  assert_true(line.len >= 12);
  resp->minor_version = line.ptr[7] - '0';
  resp->status = (line.ptr[9] - '0') * 100 + (line.ptr[10] - '0') * 10 + (line.ptr[11] - '0');
}

static int check_req(const char *text, const char *sub, int *status) {
  np_http_request req;
  make_request(text, &req);
  *status = 0;
  return np_ws_check_upgrade(&req, sub, status);
}

static void accept_key(void **state) {
  (void)state;
  char out[NP_WS_ACCEPT_LEN + 1];
  assert_int_equal(np_ws_accept_for_key(np_slice_cstr(RFC_KEY), out, sizeof out), 0);
  assert_string_equal(out, RFC_ACCEPT);
  assert_int_equal(np_ws_accept_for_key(np_slice_cstr(RFC_KEY), out, NP_WS_ACCEPT_LEN), -ENOSPC);
}

#define HEAD(extra)                                                                                \
  "GET /ndt/v7/download HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"                   \
  "Connection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY "\r\n" extra "\r\n"

static void upgrade_ok(void **state) {
  (void)state;
  int st;
  assert_int_equal(
      check_req(HEAD("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: " SUB "\r\n"), SUB, &st),
      0);
  /* Subprotocol lists, also spread over several header fields. */
  assert_int_equal(check_req(HEAD("Sec-WebSocket-Version: 13\r\n"
                                  "Sec-WebSocket-Protocol: chat, " SUB " , other\r\n"),
                             SUB, &st),
                   0);
  assert_int_equal(check_req(HEAD("Sec-WebSocket-Version: 13\r\n"
                                  "Sec-WebSocket-Protocol: chat\r\n"
                                  "sec-websocket-protocol: x," SUB "\r\n"),
                             SUB, &st),
                   0);
  /* Token case and Connection lists (Firefox sends "keep-alive, Upgrade"). */
  assert_int_equal(check_req("GET / HTTP/1.1\r\nHost: h\r\nupgrade: WebSocket\r\n"
                             "connection: keep-alive, UPGRADE\r\n"
                             "sec-websocket-key: " RFC_KEY "\r\n"
                             "sec-websocket-version: 13\r\n"
                             "Sec-WebSocket-Protocol: " SUB "\r\n"
                             "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
                             SUB, &st),
                   0);
  /* No subprotocol required. */
  assert_int_equal(check_req(HEAD("Sec-WebSocket-Version: 13\r\n"), NULL, &st), 0);
}

static void upgrade_rejected(void **state) {
  (void)state;
  int st;
#define VER "Sec-WebSocket-Version: 13\r\n"
#define PROTO "Sec-WebSocket-Protocol: " SUB "\r\n"
  /* Subprotocol missing, wrong, differently cased, or only a prefix. */
  assert_int_equal(check_req(HEAD(VER), SUB, &st), NP_E_SUBPROTOCOL);
  assert_int_equal(st, 400);
  assert_int_equal(check_req(HEAD(VER "Sec-WebSocket-Protocol: chat\r\n"), SUB, &st),
                   NP_E_SUBPROTOCOL);
  assert_int_equal(st, 400);
  assert_int_equal(
      check_req(HEAD(VER "Sec-WebSocket-Protocol: NET.measurementlab.ndt.v7\r\n"), SUB, &st),
      NP_E_SUBPROTOCOL);
  assert_int_equal(
      check_req(HEAD(VER "Sec-WebSocket-Protocol: net.measurementlab.ndt\r\n"), SUB, &st),
      NP_E_SUBPROTOCOL);
  /* Version: missing is a bad request, another one asks for 426. */
  assert_int_equal(check_req(HEAD(PROTO), SUB, &st), NP_E_PROTO);
  assert_int_equal(st, 400);
  assert_int_equal(check_req(HEAD("Sec-WebSocket-Version: 8\r\n" PROTO), SUB, &st), NP_E_PROTO);
  assert_int_equal(st, 426);
  assert_int_equal(check_req(HEAD("Sec-WebSocket-Version: 13, 8\r\n" PROTO), SUB, &st), NP_E_PROTO);
  assert_int_equal(st, 426);
  /* Method and HTTP version. */
  assert_int_equal(check_req("POST / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY "\r\n" VER PROTO
                             "\r\n",
                             SUB, &st),
                   NP_E_HTTP_METHOD);
  assert_int_equal(st, 405);
  assert_int_equal(check_req("GET / HTTP/1.0\r\nHost: h\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY "\r\n" VER PROTO
                             "\r\n",
                             SUB, &st),
                   NP_E_PROTO);
  assert_int_equal(st, 400);
  /* Upgrade / Connection missing or wrong. */
  static const char *const bad_heads[] = {
      "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY
      "\r\n" VER PROTO "\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: " RFC_KEY "\r\n" VER PROTO "\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nSec-WebSocket-Key: " RFC_KEY
      "\r\n" VER PROTO "\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
      "Sec-WebSocket-Key: " RFC_KEY "\r\n" VER PROTO "\r\n",
      "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: " RFC_KEY "\r\n" VER PROTO "\r\n",
      /* Keys: missing, short, not 16 bytes, bad alphabet, duplicated. */
      "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" VER PROTO "\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n" VER PROTO "\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ0x\r\n" VER PROTO "\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ*==\r\n" VER PROTO "\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==dGhl\r\n" VER PROTO "\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Key: " RFC_KEY "\r\n" VER PROTO "\r\n",
  };
  for (size_t i = 0; i < sizeof bad_heads / sizeof bad_heads[0]; i++) {
    st = 0;
    int rc = check_req(bad_heads[i], SUB, &st);
    if (rc != NP_E_PROTO || st != 400) fail_msg("head %zu: rc %d status %d", i, rc, st);
  }
#undef VER
#undef PROTO
}

static void accept_response(void **state) {
  (void)state;
  np_buf b;
  np_buf_init(&b, 4096);
  assert_int_equal(np_ws_write_accept(&b, np_slice_cstr(RFC_KEY), SUB), 0);
  const char *want = "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
                     "Sec-WebSocket-Protocol: " SUB "\r\n\r\n";
  assert_int_equal(b.len, strlen(want));
  assert_memory_equal(b.data, want, b.len);
  /* Never an extension, and the response passes the client's check. */
  assert_null(memmem(b.data, b.len, "Extensions", 10));
  char text[512];
  assert_true(b.len < sizeof text);
  memcpy(text, b.data, b.len);
  text[b.len] = '\0';
  np_http_response resp;
  make_response(text, &resp);
  assert_int_equal(np_ws_check_accept(&resp, RFC_KEY, SUB), 0);
  /* Header injection through the subprotocol is refused, buffer untouched. */
  size_t len = b.len;
  assert_int_equal(np_ws_write_accept(&b, np_slice_cstr(RFC_KEY), "a\r\nX: y"), NP_E_BADARG);
  assert_int_equal(b.len, len);
  /* Without a subprotocol, no such header. */
  b.len = 0;
  assert_int_equal(np_ws_write_accept(&b, np_slice_cstr(RFC_KEY), NULL), 0);
  assert_null(memmem(b.data, b.len, "WebSocket-Protocol", 18));
  /* A buffer too small is reported, not overrun. */
  np_buf small;
  np_buf_init(&small, 64);
  assert_int_equal(np_ws_write_accept(&small, np_slice_cstr(RFC_KEY), SUB), NP_E_TOOBIG);
  assert_int_equal(small.len, 0);
  np_buf_free(&small);
  np_buf_free(&b);
}

static void client_request(void **state) {
  (void)state;
  char key[NP_WS_KEY_LEN + 1], key2[NP_WS_KEY_LEN + 1];
  assert_int_equal(np_ws_make_key(key, sizeof key), 0);
  assert_int_equal(strlen(key), NP_WS_KEY_LEN);
  assert_int_equal(np_ws_make_key(key2, sizeof key2), 0);
  assert_string_not_equal(key, key2);
  assert_int_equal(np_ws_make_key(key2, NP_WS_KEY_LEN), -ENOSPC);

  np_buf b;
  np_buf_init(&b, 4096);
  assert_int_equal(np_ws_write_request(&b, "localhost:8080", "/ndt/v7/upload?x=1", RFC_KEY, SUB,
                                       "netpulse/0.1 (test)"),
                   0);
  const char *want = "GET /ndt/v7/upload?x=1 HTTP/1.1\r\n"
                     "Host: localhost:8080\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: " RFC_KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: " SUB "\r\n"
                     "User-Agent: netpulse/0.1 (test)\r\n\r\n";
  assert_int_equal(b.len, strlen(want));
  assert_memory_equal(b.data, want, b.len);
  /* The request we write is one our server accepts. */
  char text[512];
  memcpy(text, b.data, b.len);
  text[b.len] = '\0';
  int st;
  assert_int_equal(check_req(text, SUB, &st), 0);
  /* With a fresh key and without User-Agent. */
  b.len = 0;
  assert_int_equal(np_ws_write_request(&b, "h", "/", key, SUB, NULL), 0);
  assert_null(memmem(b.data, b.len, "User-Agent", 10));
  memcpy(text, b.data, b.len);
  text[b.len] = '\0';
  assert_int_equal(check_req(text, SUB, &st), 0);
  /* Injection and malformed arguments. */
  size_t len = b.len;
  assert_int_equal(np_ws_write_request(&b, "h\r\nX: y", "/", key, SUB, NULL), NP_E_BADARG);
  assert_int_equal(np_ws_write_request(&b, "h", "/ x", key, SUB, NULL), NP_E_BADARG);
  assert_int_equal(np_ws_write_request(&b, "h", "x", key, SUB, NULL), NP_E_BADARG);
  assert_int_equal(np_ws_write_request(&b, "h", "/", "short", SUB, NULL), NP_E_BADARG);
  assert_int_equal(np_ws_write_request(&b, "h", "/", key, SUB, "ua\n"), NP_E_BADARG);
  assert_int_equal(b.len, len);
  np_buf_free(&b);
}

#define RESP(extra)                                                                                \
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"                                     \
  "Connection: Upgrade\r\nSec-WebSocket-Accept: " RFC_ACCEPT "\r\n" extra "\r\n"

static int check_resp(const char *text, const char *sub) {
  np_http_response resp;
  make_response(text, &resp);
  return np_ws_check_accept(&resp, RFC_KEY, sub);
}

static void accept_checked(void **state) {
  (void)state;
  assert_int_equal(check_resp(RESP("Sec-WebSocket-Protocol: " SUB "\r\n"), SUB), 0);
  assert_int_equal(check_resp(RESP(""), NULL), 0);
  assert_int_equal(check_resp("HTTP/1.1 101 OK\r\nupgrade: WEBSOCKET\r\nconnection: upgrade\r\n"
                              "sec-websocket-accept: " RFC_ACCEPT "\r\n"
                              "sec-websocket-protocol: " SUB "\r\n\r\n",
                              SUB),
                   0);
  /* Subprotocol missing, wrong, or more than one. */
  assert_int_equal(check_resp(RESP(""), SUB), NP_E_SUBPROTOCOL);
  assert_int_equal(check_resp(RESP("Sec-WebSocket-Protocol: chat\r\n"), SUB), NP_E_SUBPROTOCOL);
  assert_int_equal(check_resp(RESP("Sec-WebSocket-Protocol: " SUB ", chat\r\n"), SUB),
                   NP_E_SUBPROTOCOL);
  assert_int_equal(check_resp(RESP("Sec-WebSocket-Protocol: " SUB "\r\n"), NULL), NP_E_SUBPROTOCOL);
  /* Refusals. */
  assert_int_equal(check_resp("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\n", SUB),
                   NP_E_REFUSED);
  assert_int_equal(check_resp("HTTP/1.1 401 Unauthorized\r\n\r\n", SUB), NP_E_REFUSED);
  assert_int_equal(check_resp("HTTP/1.1 200 OK\r\n\r\n", SUB), NP_E_REFUSED);
  /* Protocol errors: accept value, extensions, upgrade/connection. */
  assert_int_equal(check_resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\n"
                              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOx=\r\n"
                              "Sec-WebSocket-Protocol: " SUB "\r\n\r\n",
                              SUB),
                   NP_E_PROTO);
  assert_int_equal(check_resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Protocol: " SUB "\r\n\r\n",
                              SUB),
                   NP_E_PROTO);
  assert_int_equal(check_resp(RESP("Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
                                   "Sec-WebSocket-Protocol: " SUB "\r\n"),
                              SUB),
                   NP_E_PROTO);
  assert_int_equal(check_resp(RESP("Sec-WebSocket-Protocol: " SUB "\r\n"
                                   "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
                              SUB),
                   NP_E_PROTO);
  assert_int_equal(check_resp("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
                              "Sec-WebSocket-Protocol: " SUB "\r\n\r\n",
                              SUB),
                   NP_E_PROTO);
  assert_int_equal(check_resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
                              "Sec-WebSocket-Protocol: " SUB "\r\n\r\n",
                              SUB),
                   NP_E_PROTO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(accept_key),       cmocka_unit_test(upgrade_ok),
      cmocka_unit_test(upgrade_rejected), cmocka_unit_test(accept_response),
      cmocka_unit_test(client_request),   cmocka_unit_test(accept_checked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
