/* Tests for h2/server: a real HTTP/2 client (nghttp2's client session, in
 * memory) against np_h2_conn; bodies, flow control and hostile peers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "h2/server.h"

#define PAYLOAD (1u << 20)
static uint8_t payload[PAYLOAD];

/* ---- the server side's application ------------------------------------ */

typedef struct {
  np_h2_conn *h2;
  int requests;
  int ends;
  int closes;
  uint64_t body;
  uint32_t last_close_code;
  char last_path[256];
  char last_authority[256];
  uint64_t large_len;
} app;

static int app_request(void *ud, const np_h2_request *rq, uint64_t now) {
  app *a = ud;
  a->requests++;
  snprintf(a->last_path, sizeof a->last_path, "%.*s", (int)rq->path.len, rq->path.ptr);
  snprintf(a->last_authority, sizeof a->last_authority, "%.*s", (int)rq->authority.len,
           rq->authority.ptr);
  static const np_h2_header h[] = {{"content-type", "application/octet-stream"},
                                   {"cache-control", "no-store"}};
  if (strcmp(a->last_path, "/small") == 0)
    return np_h2_respond(a->h2, rq->stream_id, 200, h, 2, np_slice_cstr("x"));
  if (strcmp(a->last_path, "/large") == 0)
    return np_h2_respond_stream(a->h2, rq->stream_id, 200, h, 2, a->large_len);
  if (strcmp(a->last_path, "/refuse") == 0) return -1;
  if (strcmp(a->last_path, "/upload") == 0) return 0; /* answered at its end */
  return np_h2_respond(a->h2, rq->stream_id, 404, NULL, 0, np_slice_make("", 0));
}

static void app_body(void *ud, int32_t id, const uint8_t *d, size_t n, uint64_t now) {
  ((app *)ud)->body += n;
}

static void app_end(void *ud, int32_t id, uint64_t now) {
  app *a = ud;
  a->ends++;
  if (strcmp(a->last_path, "/upload") == 0)
    (void)np_h2_respond(a->h2, id, 200, NULL, 0, np_slice_make("", 0));
}

static void app_close(void *ud, int32_t id, uint32_t code, uint64_t sent, uint64_t recv,
                      uint64_t now) {
  app *a = ud;
  a->closes++;
  a->last_close_code = code;
}

static const np_h2_callbacks app_cb = {.on_request = app_request,
                                       .on_body = app_body,
                                       .on_request_end = app_end,
                                       .on_stream_close = app_close};

/* ---- the client side: nghttp2's own client session -------------------- */

typedef struct {
  nghttp2_session *s;
  int status;
  uint64_t body;
  int closed;
  uint32_t close_code;
  int goaway;
  uint32_t goaway_code;
  int rst_frames;
  int body_matches; /* every body byte is a byte of payload */
} client;

static int cl_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n, size_t nl,
                     const uint8_t *v, size_t vl, uint8_t fl, void *ud) {
  client *c = ud;
  if (nl == 7 && memcmp(n, ":status", 7) == 0) c->status = atoi((const char *)v);
  return 0;
}

static int cl_data(nghttp2_session *s, uint8_t fl, int32_t id, const uint8_t *d, size_t len,
                   void *ud) {
  client *c = ud;
  c->body += len;
  return 0;
}

static int cl_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud) {
  client *c = ud;
  c->closed++;
  c->close_code = code;
  return 0;
}

static int cl_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  client *c = ud;
  if (f->hd.type == NGHTTP2_GOAWAY) {
    c->goaway = 1;
    c->goaway_code = f->goaway.error_code;
  }
  if (f->hd.type == NGHTTP2_RST_STREAM) c->rst_frames++;
  return 0;
}

static void client_init(client *c) {
  memset(c, 0, sizeof *c);
  nghttp2_session_callbacks *cb;
  assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
  nghttp2_session_callbacks_set_on_header_callback(cb, cl_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cl_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, cl_close);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, cl_frame);
  assert_int_equal(nghttp2_session_client_new(&c->s, cb, c), 0);
  nghttp2_session_callbacks_del(cb);
  assert_int_equal(nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

static int32_t client_get(client *c, const char *method, const char *path,
                          nghttp2_data_provider *body) {
  nghttp2_nv nv[] = {
      {(uint8_t *)":method", (uint8_t *)method, 7, strlen(method), 0},
      {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
      {(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0},
      {(uint8_t *)":authority", (uint8_t *)"example.net:4443", 10, 16, 0},
  };
  int32_t id = nghttp2_submit_request(c->s, NULL, nv, 4, body, NULL);
  assert_true(id > 0);
  return id;
}

/* One round of both directions; split > 0 feeds the server that many bytes
 * at a time. Returns whether anything moved. */
static int pump(client *c, app *a, size_t split, int *server_rc) {
  int moved = 0;
  for (;;) {
    const uint8_t *p;
    ssize_t n = nghttp2_session_mem_send(c->s, &p);
    assert_true(n >= 0);
    if (n == 0) break;
    moved = 1;
    for (ssize_t off = 0; off < n;) {
      size_t k = split && (size_t)(n - off) > split ? split : (size_t)(n - off);
      int rc = np_h2_conn_recv(a->h2, p + off, k, np_mono_ns());
      if (rc < 0) {
        *server_rc = rc;
        break;
      }
      off += (ssize_t)k;
    }
    if (*server_rc < 0) break;
  }
  struct iovec iov[64];
  int k;
  while ((k = np_h2_conn_pull(a->h2, iov, 64, 1u << 20, np_mono_ns())) > 0) {
    size_t total = 0;
    for (int i = 0; i < k; i++) {
      ssize_t r = nghttp2_session_mem_recv(c->s, iov[i].iov_base, iov[i].iov_len);
      assert_int_equal((size_t)r, iov[i].iov_len);
      total += iov[i].iov_len;
    }
    np_h2_conn_sent(a->h2, total);
    moved = 1;
  }
  return moved;
}

static void run(client *c, app *a, size_t split, int *server_rc) {
  for (int i = 0; i < 100000 && pump(c, a, split, server_rc); i++) {
  }
}

static void setup_pair(client *c, app *a, const np_h2_config *cfg_in) {
  memset(a, 0, sizeof *a);
  np_h2_config cfg;
  if (cfg_in)
    cfg = *cfg_in;
  else
    np_h2_config_default(&cfg);
  cfg.payload = np_slice_make(payload, sizeof payload);
  assert_int_equal(np_h2_conn_new(&a->h2, &cfg, &app_cb, a), 0);
  client_init(c);
}

static void teardown_pair(client *c, app *a) {
  nghttp2_session_del(c->s);
  np_h2_conn_free(a->h2);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_small_and_404(void **state) {
  (void)state;
  client c;
  app a;
  setup_pair(&c, &a, NULL);
  int rc = 0;
  client_get(&c, "GET", "/small", NULL);
  run(&c, &a, 0, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(c.status, 200);
  assert_int_equal(c.body, 1);
  assert_int_equal(c.closed, 1);
  assert_int_equal(c.close_code, 0);
  assert_string_equal(a.last_authority, "example.net:4443");
  client_get(&c, "GET", "/nothing", NULL);
  run(&c, &a, 0, &rc);
  assert_int_equal(c.status, 404);
  assert_int_equal(a.requests, 2);
  assert_int_equal(a.closes, 2);
  teardown_pair(&c, &a);
}

static void test_every_split(void **state) {
  (void)state;
  /* The same exchange fed 1, 2, 3, 7 and 13 bytes at a time. */
  size_t splits[] = {1, 2, 3, 7, 13};
  for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
    client c;
    app a;
    setup_pair(&c, &a, NULL);
    int rc = 0;
    client_get(&c, "GET", "/small", NULL);
    run(&c, &a, splits[i], &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(c.status, 200);
    assert_int_equal(c.body, 1);
    teardown_pair(&c, &a);
  }
}

static void test_large_stream_flow_control(void **state) {
  (void)state;
  client c;
  app a;
  setup_pair(&c, &a, NULL);
  a.large_len = 40u << 20; /* far beyond the client's 64 KiB window */
  int rc = 0;
  client_get(&c, "GET", "/large", NULL);
  run(&c, &a, 0, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(c.status, 200);
  assert_int_equal(c.body, 40u << 20);
  assert_int_equal(c.closed, 1);
  assert_int_equal(np_h2_conn_queued(a.h2), 0);
  teardown_pair(&c, &a);
}

static ssize_t upload_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                           uint32_t *flags, nghttp2_data_source *src, void *ud) {
  uint64_t *left = src->ptr;
  size_t n = *left < len ? (size_t)*left : len;
  memset(buf, 'u', n);
  *left -= n;
  if (*left == 0) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

static void test_upload_counted_and_discarded(void **state) {
  (void)state;
  client c;
  app a;
  setup_pair(&c, &a, NULL);
  uint64_t left = 50u << 20; /* beyond the 16 MiB windows: credit must return */
  nghttp2_data_provider dp = {.source.ptr = &left, .read_callback = upload_read};
  int rc = 0;
  client_get(&c, "POST", "/upload", &dp);
  run(&c, &a, 0, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(a.body, 50u << 20);
  assert_int_equal(a.ends, 1);
  assert_int_equal(c.status, 200);
  assert_int_equal(c.closed, 1);
  teardown_pair(&c, &a);
}

static void test_refused_request_is_reset(void **state) {
  (void)state;
  client c;
  app a;
  setup_pair(&c, &a, NULL);
  int rc = 0;
  client_get(&c, "GET", "/refuse", NULL);
  run(&c, &a, 0, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(c.closed, 1);
  assert_int_equal(c.close_code, NGHTTP2_REFUSED_STREAM);
  /* The connection still serves. */
  client_get(&c, "GET", "/small", NULL);
  run(&c, &a, 0, &rc);
  assert_int_equal(c.status, 200);
  teardown_pair(&c, &a);
}

static void test_header_bomb_resets_stream_only(void **state) {
  (void)state;
  client c;
  app a;
  setup_pair(&c, &a, NULL);
  static char big[20000];
  memset(big, 'a', sizeof big - 1);
  nghttp2_nv nv[] = {
      {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
      {(uint8_t *)":path", (uint8_t *)"/small", 5, 6, 0},
      {(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0},
      {(uint8_t *)":authority", (uint8_t *)"h", 10, 1, 0},
      {(uint8_t *)"x-bomb", (uint8_t *)big, 6, sizeof big - 1, 0},
  };
  assert_true(nghttp2_submit_request(c.s, NULL, nv, 5, NULL, NULL) > 0);
  int rc = 0;
  run(&c, &a, 0, &rc);
  assert_int_equal(a.requests, 0);
  assert_int_equal(c.closed, 1);
  assert_int_not_equal(c.close_code, 0);
  client_get(&c, "GET", "/small", NULL);
  run(&c, &a, 0, &rc);
  assert_int_equal(c.status, 200);
  teardown_pair(&c, &a);
}

static void test_ping_flood_goaway(void **state) {
  (void)state;
  client c;
  app a;
  setup_pair(&c, &a, NULL);
  int rc = 0;
  run(&c, &a, 0, &rc);
  for (int i = 0; i < 5000; i++) assert_int_equal(nghttp2_submit_ping(c.s, 0, NULL), 0);
  run(&c, &a, 0, &rc);
  assert_int_equal(rc, NP_E_PROTO);
  assert_true(c.goaway);
  assert_int_equal(c.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
  assert_true(np_h2_conn_done(a.h2));
  teardown_pair(&c, &a);
}

static void test_rapid_reset_goaway(void **state) {
  (void)state;
  client c;
  app a;
  setup_pair(&c, &a, NULL);
  a.large_len = UINT64_MAX;
  int rc = 0;
  for (int i = 0; i < 3000 && rc == 0; i++) {
    /* HEADERS out first: a request reset before it is sent never leaves. */
    int32_t id = client_get(&c, "GET", "/large", NULL);
    (void)pump(&c, &a, 0, &rc);
    if (rc < 0) break;
    assert_int_equal(nghttp2_submit_rst_stream(c.s, 0, id, NGHTTP2_CANCEL), 0);
    (void)pump(&c, &a, 0, &rc);
  }
  assert_int_equal(rc, NP_E_PROTO);
  assert_true(c.goaway);
  assert_true(a.requests < 3000);
  teardown_pair(&c, &a);
}

static void test_streams_total_cap(void **state) {
  (void)state;
  np_h2_config cfg;
  np_h2_config_default(&cfg);
  cfg.max_streams_total = 3;
  client c;
  app a;
  setup_pair(&c, &a, &cfg);
  int rc = 0;
  for (int i = 0; i < 4; i++) client_get(&c, "GET", "/small", NULL);
  run(&c, &a, 0, &rc);
  assert_int_equal(a.requests, 3);
  assert_true(c.goaway);
  assert_int_equal(c.goaway_code, NGHTTP2_NO_ERROR);
  teardown_pair(&c, &a);
}

static void test_bad_preface(void **state) {
  (void)state;
  app a;
  memset(&a, 0, sizeof a);
  np_h2_config cfg;
  np_h2_config_default(&cfg);
  cfg.payload = np_slice_make(payload, sizeof payload);
  assert_int_equal(np_h2_conn_new(&a.h2, &cfg, &app_cb, &a), 0);
  const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  assert_int_equal(np_h2_conn_recv(a.h2, (const uint8_t *)req, strlen(req), 1), NP_E_PROTO);
  np_h2_conn_free(a.h2);
}

static void test_free_with_open_streams(void **state) {
  (void)state;
  client c;
  app a;
  setup_pair(&c, &a, NULL);
  a.large_len = UINT64_MAX;
  int rc = 0;
  for (int i = 0; i < 5; i++) client_get(&c, "GET", "/large", NULL);
  for (int i = 0; i < 3; i++) (void)pump(&c, &a, 0, &rc);
  assert_int_equal(a.requests, 5);
  teardown_pair(&c, &a); /* ASan/LSan: no leak of stream state */
}

static void test_config_checks(void **state) {
  (void)state;
  np_h2_conn *h = NULL;
  np_h2_config cfg;
  np_h2_config_default(&cfg);
  app a;
  assert_int_equal(np_h2_conn_new(&h, &cfg, &app_cb, &a), NP_E_BADARG); /* no payload */
  assert_null(h);
  cfg.payload = np_slice_make(payload, sizeof payload);
  assert_int_equal(np_h2_conn_new(&h, &cfg, &app_cb, &a), 0);
  assert_int_equal(np_h2_respond(h, 1, 200, NULL, 0, np_slice_cstr("x")), NP_E_BADARG);
  np_h2_conn_free(h);
  np_h2_conn_free(NULL);
}

int main(void) {
  for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(i * 131u + 7u);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_small_and_404),
      cmocka_unit_test(test_every_split),
      cmocka_unit_test(test_large_stream_flow_control),
      cmocka_unit_test(test_upload_counted_and_discarded),
      cmocka_unit_test(test_refused_request_is_reset),
      cmocka_unit_test(test_header_bomb_resets_stream_only),
      cmocka_unit_test(test_ping_flood_goaway),
      cmocka_unit_test(test_rapid_reset_goaway),
      cmocka_unit_test(test_streams_total_cap),
      cmocka_unit_test(test_bad_preface),
      cmocka_unit_test(test_free_with_open_streams),
      cmocka_unit_test(test_config_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
