/* Tests for h2/server: a real HTTP/2 client (nghttp2's client session, in
 * memory) against np_h2_conn; bodies, flow control and hostile peers. */
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
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
