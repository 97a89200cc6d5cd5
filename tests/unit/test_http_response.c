/* Unit tests for the HTTP response/request writers: exact bytes, refusal of
 * injected lines, and that the output parses back with our own parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/error.h"
#include "http/request.h"
#include "http/response.h"

static void out_is(const np_buf *b, const char *want) {
  if (b->len != strlen(want) || memcmp(b->data, want, b->len) != 0)
    fail_msg("got\n%.*s\nwant\n%s", (int)b->len, (const char *)b->data, want);
}

static void head(void **state) {
  (void)state;
  np_buf b;
  np_buf_init(&b, 4096);
  static const char *const h[] = {"Content-Type: text/plain", "X-Empty:", NULL};
  assert_int_equal(np_http_write_head(&b, 200, h, 12), 0);
  out_is(&b, "HTTP/1.1 200 OK\r\nServer: netpulse\r\nContent-Type: text/plain\r\n"
             "X-Empty:\r\nContent-Length: 12\r\n\r\n");
  b.len = 0;
  assert_int_equal(np_http_write_head(&b, 101, NULL, -1), 0);
  out_is(&b, "HTTP/1.1 101 Switching Protocols\r\nServer: netpulse\r\n\r\n");
  b.len = 0;
  assert_int_equal(np_http_write_head(&b, 299, NULL, 0), 0);
  out_is(&b, "HTTP/1.1 299 \r\nServer: netpulse\r\nContent-Length: 0\r\n\r\n");

  /* refusals leave the buffer as it was */
  b.len = 0;
  assert_int_equal(np_buf_append(&b, "keep", 4), 0);
  static const char *const crlf[] = {"X-A: ok", "X-B: a\r\nSet-Cookie: x", NULL};
  static const char *const lf[] = {"X-B: a\nb", NULL};
  static const char *const noname[] = {": v", NULL};
  static const char *const nocolon[] = {"X-A v", NULL};
  static const char *const space[] = {"X A: v", NULL};
  static const char *const dup[] = {"content-length: 3", NULL};
  assert_int_equal(np_http_write_head(&b, 200, crlf, -1), NP_E_BADARG);
  assert_int_equal(np_http_write_head(&b, 200, lf, -1), NP_E_BADARG);
  assert_int_equal(np_http_write_head(&b, 200, noname, -1), NP_E_BADARG);
  assert_int_equal(np_http_write_head(&b, 200, nocolon, -1), NP_E_BADARG);
  assert_int_equal(np_http_write_head(&b, 200, space, -1), NP_E_BADARG);
  assert_int_equal(np_http_write_head(&b, 200, dup, 3), NP_E_BADARG);
  assert_int_equal(np_http_write_head(&b, 200, dup, -1), 0); /* caller's own framing */
  b.len = 4;
  assert_int_equal(np_http_write_head(&b, 99, NULL, -1), NP_E_BADARG);
  assert_int_equal(np_http_write_head(&b, 600, NULL, -1), NP_E_BADARG);
  assert_int_equal(np_http_write_head(&b, 204, NULL, 0), NP_E_BADARG);
  assert_int_equal(np_http_write_head(&b, 200, NULL, -2), NP_E_BADARG);
  out_is(&b, "keep");
  np_buf_free(&b);

  /* a full buffer: NP_E_TOOBIG, nothing half-written */
  np_buf_init(&b, 40);
  assert_int_equal(np_http_write_head(&b, 200, h, 12), NP_E_TOOBIG);
  assert_int_equal(b.len, 0);
  np_buf_free(&b);
}

static void simple_and_error(void **state) {
  (void)state;
  np_buf b;
  np_buf_init(&b, 4096);
  assert_int_equal(np_http_write_simple(&b, 404, "text/plain", "not here\n", NULL), 0);
  out_is(&b, "HTTP/1.1 404 Not Found\r\nServer: netpulse\r\nContent-Type: text/plain\r\n"
             "Content-Length: 9\r\nConnection: close\r\n\r\nnot here\n");
  b.len = 0;
  static const char *const allow[] = {"Allow: GET", NULL};
  assert_int_equal(np_http_write_simple(&b, 405, NULL, NULL, allow), 0);
  out_is(&b, "HTTP/1.1 405 Method Not Allowed\r\nServer: netpulse\r\nAllow: GET\r\n"
             "Content-Length: 0\r\nConnection: close\r\n\r\n");
  b.len = 0;
  assert_int_equal(np_http_write_error(&b, 503, 30, NULL), 0);
  out_is(&b, "HTTP/1.1 503 Service Unavailable\r\nServer: netpulse\r\n"
             "Content-Type: application/json\r\nCache-Control: no-store\r\nRetry-After: 30\r\n"
             "Content-Length: 45\r\nConnection: close\r\n\r\n"
             "{\"status\":503,\"error\":\"Service Unavailable\"}\n");

  /* every error status parses back with the right status and framing */
  static const int codes[] = {400, 401, 404, 405, 414, 426, 429, 431, 500, 503, 505};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    b.len = 0;
    static const char *const v13[] = {"Sec-WebSocket-Version: 13", NULL};
    assert_int_equal(np_http_write_error(&b, codes[i], codes[i] == 503 ? 5 : -1, v13), 0);
    np_http_response r;
    int n = np_http_parse_response(b.data, b.len, &r);
    assert_true(n > 0);
    assert_int_equal(r.status, codes[i]);
    uint64_t clen = 0;
    assert_int_equal(np_http_content_length(r.headers, r.nheaders, &clen), 1);
    assert_int_equal(clen, b.len - (size_t)n);
    assert_true(np_slice_ieq(np_http_header_get(r.headers, r.nheaders, "connection"),
                             np_slice_cstr("close")));
    assert_int_equal(np_http_header_count(r.headers, r.nheaders, "Retry-After"),
                     codes[i] == 503 ? 1 : 0);
    assert_int_equal(np_http_header_count(r.headers, r.nheaders, "Sec-WebSocket-Version"), 1);
  }

  b.len = 0;
  assert_int_equal(np_http_write_simple(&b, 200, "text/html\r\nX: y", "x", NULL), NP_E_BADARG);
  static const char *const conn[] = {"Connection: keep-alive", NULL};
  assert_int_equal(np_http_write_simple(&b, 200, NULL, "x", conn), NP_E_BADARG);
  assert_int_equal(np_http_write_simple(&b, 204, NULL, NULL, NULL), NP_E_BADARG);
  assert_int_equal(np_http_write_error(&b, 101, -1, NULL), NP_E_BADARG);
  assert_int_equal(b.len, 0);
  np_buf_free(&b);
}

static void request_writer(void **state) {
  (void)state;
  np_buf b;
  np_buf_init(&b, 4096);
  static const char *const h[] = {"User-Agent: netpulse/0.1", "Accept: */*", NULL};
  assert_int_equal(np_http_write_request(&b, "GET", "[::1]:4443", "/ndt/v7/download?x=1", h), 0);
  out_is(&b, "GET /ndt/v7/download?x=1 HTTP/1.1\r\nHost: [::1]:4443\r\n"
             "User-Agent: netpulse/0.1\r\nAccept: */*\r\n\r\n");
  np_http_request r;
  assert_int_equal(np_http_parse_request(b.data, b.len, &r), (int)b.len);
  assert_true(np_slice_eq(r.query, np_slice_cstr("x=1")));

  b.len = 0;
  static const char *const host2[] = {"host: evil", NULL};
  assert_int_equal(np_http_write_request(&b, "GET", "h", "/", host2), NP_E_BADARG);
  assert_int_equal(np_http_write_request(&b, "G T", "h", "/", NULL), NP_E_BADARG);
  assert_int_equal(np_http_write_request(&b, "", "h", "/", NULL), NP_E_BADARG);
  assert_int_equal(np_http_write_request(&b, "GET", "h", "x", NULL), NP_E_BADARG);
  assert_int_equal(np_http_write_request(&b, "GET", "h", "/a b", NULL), NP_E_BADARG);
  assert_int_equal(np_http_write_request(&b, "GET", "h", "/#f", NULL), NP_E_BADARG);
  assert_int_equal(np_http_write_request(&b, "GET", "h\r\nX: y", "/", NULL), NP_E_BADARG);
  assert_int_equal(np_http_write_request(&b, "GET", "u@h", "/", NULL), NP_E_BADARG);
  assert_int_equal(np_http_write_request(&b, "GET", "", "/", NULL), NP_E_BADARG);
  assert_int_equal(np_http_write_request(&b, "GET", NULL, "/", NULL), NP_E_BADARG);
  assert_int_equal(b.len, 0);
  np_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(head),
      cmocka_unit_test(simple_and_error),
      cmocka_unit_test(request_writer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
