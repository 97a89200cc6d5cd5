/* Tests for h2/server: a real HTTP/2 client (nghttp2's client session, in
 * memory) against np_h2_conn; bodies, flow control and hostile peers. */
#include <inttypes.h>

#include "h2_test_pair.h"

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
  assert_null(np_h2_conn_goaway_reason(a.h2));
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
  assert_null(np_h2_conn_goaway_reason(a.h2)); /* uploads need no credit earned */
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
  assert_string_equal(np_h2_conn_goaway_reason(a.h2), "ping_flood");
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
  assert_string_equal(np_h2_conn_goaway_reason(a.h2), "rst_flood");
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
  assert_string_equal(np_h2_conn_goaway_reason(a.h2), "stream_limit");
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
  assert_string_equal(np_h2_conn_goaway_reason(a.h2), "bad_preface");
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

/* ---- the control-frame guard and GOAWAY reasons (h2/server_guard.c) ------- */

/* A client that returns credit as Go's x/net does: stream windows of
 * stream_window, a 1 GiB connection window, body reads of read_size, and
 * DATA frames up to max_frame (Go itself never raises the 16 KiB default). */
static void setup_go(client *c, app *a, uint32_t stream_window, size_t read_size,
                     uint32_t max_frame) {
  setup_pair(c, a, NULL);
  nghttp2_session_del(c->s);
  client_new(c, 1);
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, stream_window},
                                 {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, max_frame}};
  assert_int_equal(nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, 2), 0);
  assert_int_equal(nghttp2_submit_window_update(c->s, 0, 0, 1 << 30), 0);
  c->go_read = read_size;
  c->go_conn.avail = 65535 + (1 << 30);
  for (int k = 0; k < 8; k++) c->go_stream[k].avail = stream_window;
}

static void download(client *c, app *a, uint64_t bytes) {
  a->large_len = bytes;
  int rc = 0;
  client_get(c, "GET", "/large", NULL);
  run(c, a, 0, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(c->body, bytes);
  assert_false(c->goaway);
  assert_null(np_h2_conn_goaway_reason(a->h2));
}

static void test_go_credit_never_cut_off(void **state) {
  (void)state;
  /* goresponsiveness's download: 200 MB, 16 KiB frames, 8 KiB reads, at
   * memory speed. The per-second budget cut this off after ~10 MB. */
  client c;
  app a;
  setup_go(&c, &a, 4u << 20, 8192, 16384);
  download(&c, &a, 200u * 1000 * 1000);
  printf("go, 8 KiB reads: %.2f WINDOW_UPDATE per DATA frame\n",
         (double)c.window_updates / (double)c.data_frames);
  assert_true(c.window_updates >= 39 * c.data_frames / 10);
  teardown_pair(&c, &a);
  /* Every read size (Go batches 4 KiB of credit below that), 1 MiB
   * frames, and windows small enough that Go's doubling ramp runs after
   * every frame. */
  static const struct {
    uint32_t window;
    size_t read;
    uint32_t frame;
    uint64_t bytes;
  } cases[] = {{4u << 20, 4096, 16384, 32u << 20},    {4u << 20, 1, 16384, 8u << 20},
               {4u << 20, 8192, 1u << 20, 64u << 20}, {4u << 20, 3000, 1u << 20, 16u << 20},
               {16384, 1, 16384, 4u << 20},           {1000, 1, 16384, 1u << 20},
               {5000, 700, 16384, 4u << 20}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    setup_go(&c, &a, cases[i].window, cases[i].read, cases[i].frame);
    download(&c, &a, cases[i].bytes);
    printf("go, window %u, %zu-byte reads, %u-byte frames: %.2f per DATA frame\n", cases[i].window,
           cases[i].read, cases[i].frame, (double)c.window_updates / (double)c.data_frames);
    teardown_pair(&c, &a);
  }
}

/* Feeds one raw frame straight to the server. */
static int raw_frame(app *a, uint8_t type, uint8_t flags, int32_t sid, const void *p, size_t n) {
  uint8_t b[9 + 256];
  assert_true(n <= 256);
  b[0] = (uint8_t)(n >> 16);
  b[1] = (uint8_t)(n >> 8);
  b[2] = (uint8_t)n;
  b[3] = type;
  b[4] = flags;
  for (int i = 0; i < 4; i++) b[5 + i] = (uint8_t)((uint32_t)sid >> (24 - 8 * i));
  if (n) memcpy(b + 9, p, n);
  return np_h2_conn_recv(a->h2, b, 9 + n, np_mono_ns());
}

/* How many copies of a frame the server takes before it cuts the
 * connection off (max: it never did). */
static uint64_t taken(app *a, uint8_t type, uint8_t flags, int32_t sid, const void *p, size_t n,
                      uint64_t max) {
  for (uint64_t i = 0; i < max; i++) {
    int rc = raw_frame(a, type, flags, sid, p, n);
    if (rc < 0) {
      assert_int_equal(rc, NP_E_PROTO);
      return i;
    }
  }
  return max;
}

/* The error code of the GOAWAY in what the server writes next
 * (UINT32_MAX: none). */
static uint32_t goaway_written(app *a) {
  static uint8_t out[1u << 20];
  size_t len = 0;
  struct iovec iov[64];
  int k;
  while ((k = np_h2_conn_pull(a->h2, iov, 64, 1u << 20, np_mono_ns())) > 0) {
    size_t total = 0;
    for (int i = 0; i < k; i++) {
      assert_true(len + iov[i].iov_len <= sizeof out);
      memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
      len += iov[i].iov_len;
      total += iov[i].iov_len;
    }
    np_h2_conn_sent(a->h2, total);
  }
  uint32_t code = UINT32_MAX;
  for (size_t off = 0; off + 9 <= len;) {
    size_t n = (size_t)out[off] << 16 | (size_t)out[off + 1] << 8 | out[off + 2];
    if (out[off + 3] == NGHTTP2_GOAWAY && n >= 8 && off + 9 + n <= len) {
      const uint8_t *e = out + off + 13;
      code = (uint32_t)e[0] << 24 | (uint32_t)e[1] << 16 | (uint32_t)e[2] << 8 | e[3];
    }
    off += 9 + n;
  }
  return code;
}

static ssize_t never_ready(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                           uint32_t *flags, nghttp2_data_source *src, void *ud) {
  return NGHTTP2_ERR_DEFERRED;
}

/* A pair past the prefaces and SETTINGS. */
static void handshake(client *c, app *a) {
  setup_pair(c, a, NULL);
  int rc = 0;
  run(c, a, 0, &rc);
  assert_int_equal(rc, 0);
}

/* The server cut the connection off for reason, with a GOAWAY of code. */
static void assert_cut_off(app *a, const char *reason, uint32_t code) {
  assert_string_equal(np_h2_conn_goaway_reason(a->h2), reason);
  assert_int_equal(goaway_written(a), code);
  assert_true(np_h2_conn_done(a->h2));
}

static void test_window_update_flood_unearned(void **state) {
  (void)state;
  client c;
  app a;
  handshake(&c, &a);
  static const uint8_t one[4] = {0, 0, 0, 1};
  /* Nothing downloaded, no stream: the slack, then the cut. */
  assert_int_equal(taken(&a, NGHTTP2_WINDOW_UPDATE, 0, 0, one, 4, 100000), 1000);
  assert_cut_off(&a, "window_update_flood", NGHTTP2_ENHANCE_YOUR_CALM);
  teardown_pair(&c, &a);
}

static void test_window_update_flood_after_download(void **state) {
  (void)state;
  /* Windows that never run low (no ramp): the credit earned is 2 per
   * 4 KiB of each frame, 2 for the stream, and the slack. */
  client c;
  app a;
  setup_go(&c, &a, 1u << 30, 8192, 16384);
  download(&c, &a, 16u << 20);
  uint64_t bound = 1000 + 2 + 2 * c.credit_quanta;
  assert_int_equal(c.credit_quanta, 4096);
  assert_true(c.window_updates < bound);
  static const uint8_t one[4] = {0, 0, 0, 1};
  uint64_t n = taken(&a, NGHTTP2_WINDOW_UPDATE, 0, 0, one, 4, 1000000);
  printf("flood after 16 MiB: %" PRIu64 " taken after the client's %" PRIu64 ", bound %" PRIu64
         "\n",
         n, c.window_updates, bound);
  assert_int_equal(c.window_updates + n, bound);
  assert_cut_off(&a, "window_update_flood", NGHTTP2_ENHANCE_YOUR_CALM);
  teardown_pair(&c, &a);
}

static void test_frame_floods_named(void **state) {
  (void)state;
  static const uint8_t eight[8] = {0}, prio[5] = {0, 0, 0, 0, 15}, one[4] = {0, 0, 0, 1};
  static const struct {
    uint8_t type, flags;
    int32_t sid;
    const uint8_t *p;
    size_t n;
    const char *reason;
    uint64_t taken; /* 0: at most the per-second budget (nghttp2's cap on
                       unread ACKs comes first) */
  } cases[] = {
      {NGHTTP2_SETTINGS, 0, 0, NULL, 0, "settings_flood", 0},
      {NGHTTP2_PING, 0, 0, eight, 8, "ping_flood", 0},
      {NGHTTP2_PING, NGHTTP2_FLAG_ACK, 0, eight, 8, "ping_flood", 1000},
      {NGHTTP2_PRIORITY, 0, 1, prio, 5, "priority_flood", 1000},
      {NGHTTP2_DATA, 0, 1, NULL, 0, "empty_data_flood", 1000},
      {NGHTTP2_GOAWAY, 0, 0, eight, 8, "other_frame_flood", 1000},
      {NGHTTP2_WINDOW_UPDATE, 0, 0, one, 4, "window_update_flood", 1002},
      {NGHTTP2_WINDOW_UPDATE, 0, 1, one, 4, "window_update_flood", 1002},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    client c;
    app a;
    setup_pair(&c, &a, NULL);
    /* Stream 1: an upload whose body never comes. */
    nghttp2_data_provider dp = {.read_callback = never_ready};
    client_get(&c, "POST", "/upload", &dp);
    int rc = 0;
    run(&c, &a, 0, &rc);
    assert_int_equal(a.requests, 1);
    uint64_t n =
        taken(&a, cases[i].type, cases[i].flags, cases[i].sid, cases[i].p, cases[i].n, 100000);
    printf("%s: cut off after %" PRIu64 "\n", cases[i].reason, n);
    if (cases[i].taken == 1000) /* the handshake's SETTINGS and ACK count too,
                                   unless a second went by */
      assert_true(n >= 998 && n <= 1000);
    else if (cases[i].taken)
      assert_int_equal(n, cases[i].taken);
    else
      assert_true(n <= 1000);
    assert_cut_off(&a, cases[i].reason, NGHTTP2_ENHANCE_YOUR_CALM);
    teardown_pair(&c, &a);
  }
}

/* HPACK literal without indexing, new name (short strings only). */
static size_t literal(uint8_t *b, const char *name, const char *value) {
  size_t nl = strlen(name), vl = strlen(value);
  assert_true(nl < 127 && vl < 127);
  b[0] = 0;
  b[1] = (uint8_t)nl;
  memcpy(b + 2, name, nl);
  b[2 + nl] = (uint8_t)vl;
  memcpy(b + 3 + nl, value, vl);
  return 3 + nl + vl;
}

static void test_goaway_reasons(void **state) {
  (void)state;
  client c;
  app a;
  int rc = 0;
  /* A header block in too many pieces. */
  handshake(&c, &a);
  uint8_t blk[256];
  size_t n = literal(blk, ":method", "GET");
  n += literal(blk + n, ":scheme", "https");
  n += literal(blk + n, ":authority", "h");
  n += literal(blk + n, ":path", "/small");
  assert_int_equal(raw_frame(&a, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1, blk, n), 0);
  n = literal(blk, "x-junk", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  assert_true(taken(&a, NGHTTP2_CONTINUATION, 0, 1, blk, n, 100) < 10);
  assert_cut_off(&a, "header_list", NGHTTP2_PROTOCOL_ERROR);
  teardown_pair(&c, &a);

  /* A protocol error nghttp2 finds and answers itself: DATA on stream 0
   * (the reason is known once the GOAWAY is made). */
  handshake(&c, &a);
  (void)raw_frame(&a, NGHTTP2_DATA, 0, 0, "x", 1);
  assert_int_equal(goaway_written(&a), NGHTTP2_PROTOCOL_ERROR);
  assert_string_equal(np_h2_conn_goaway_reason(a.h2), "protocol_error");
  teardown_pair(&c, &a);

  /* Graceful ones, and an error after a graceful one. */
  handshake(&c, &a);
  assert_null(np_h2_conn_goaway_reason(a.h2));
  assert_int_equal(np_h2_conn_goaway(a.h2, "transmit_budget", "transmit allowance reached"), 0);
  assert_string_equal(np_h2_conn_goaway_reason(a.h2), "transmit_budget");
  assert_int_equal(np_h2_conn_shutdown(a.h2), 0);
  assert_string_equal(np_h2_conn_goaway_reason(a.h2), "transmit_budget");
  teardown_pair(&c, &a);
  handshake(&c, &a);
  assert_int_equal(np_h2_conn_goaway(a.h2, "transmit_budget", "transmit allowance reached"), 0);
  for (int i = 0; i < 2000; i++) assert_int_equal(nghttp2_submit_ping(c.s, 0, NULL), 0);
  run(&c, &a, 0, &rc);
  assert_string_equal(np_h2_conn_goaway_reason(a.h2), "ping_flood");
  teardown_pair(&c, &a);
  setup_pair(&c, &a, NULL);
  assert_int_equal(np_h2_conn_shutdown(a.h2), 0);
  assert_string_equal(np_h2_conn_goaway_reason(a.h2), "shutdown");
  teardown_pair(&c, &a);

  /* Every token the layer names on its own is listed for the metrics. */
  static const char *const mine[] = {"window_update_flood", "settings_flood",   "ping_flood",
                                     "priority_flood",      "empty_data_flood", "other_frame_flood",
                                     "rst_flood",           "stream_limit",     "shutdown",
                                     "header_list",         "bad_preface",      "protocol_error"};
  for (size_t i = 0; i < sizeof mine / sizeof mine[0]; i++) {
    int found = 0;
    for (const char *const *r = np_h2_goaway_reasons; *r; r++) found |= strcmp(*r, mine[i]) == 0;
    assert_true(found);
  }
}

int main(void) {
  payload_init();
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
      cmocka_unit_test(test_go_credit_never_cut_off),
      cmocka_unit_test(test_window_update_flood_unearned),
      cmocka_unit_test(test_window_update_flood_after_download),
      cmocka_unit_test(test_frame_floods_named),
      cmocka_unit_test(test_goaway_reasons),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
