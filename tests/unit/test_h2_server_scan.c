/* Tests for h2/server_scan: the frame scanner on hand-made bytes split at
 * every boundary, and DATA payload dropped unread against a real client
 * (nghttp2's client session): counts, padding, END_STREAM, interleaved
 * streams, content-length, and the errors nghttp2 must still raise. */
#include "h2/server_scan.h"

#include "h2_test_pair.h"

/* ---- the scanner alone ------------------------------------------------------ */

/* Appends a frame header and len payload bytes (pad: PADDED with that
 * many padding bytes; the pad-length byte is the payload's first). */
static size_t frame(uint8_t *out, uint32_t len, uint8_t type, uint8_t flags, int32_t id) {
  out[0] = (uint8_t)(len >> 16);
  out[1] = (uint8_t)(len >> 8);
  out[2] = (uint8_t)len;
  out[3] = type;
  out[4] = flags;
  out[5] = (uint8_t)((uint32_t)id >> 24);
  out[6] = (uint8_t)(id >> 16);
  out[7] = (uint8_t)(id >> 8);
  out[8] = (uint8_t)id;
  memset(out + 9, 0xa5, len);
  return 9 + len;
}

typedef struct {
  uint8_t bytes[4096];
  size_t len;
  uint32_t expect[4096]; /* skippable after each prefix length */
  int32_t expect_id[4096];
} stream_bytes;

/* Records a frame and, for DATA, what the scanner must say inside it. */
static void add(stream_bytes *s, uint32_t len, uint8_t type, uint8_t flags, int32_t id) {
  size_t start = s->len;
  s->len += frame(s->bytes + s->len, len, type, flags, id);
  if (type == 0 && (flags & 0x8) && len > 0) s->bytes[start + 9] = (uint8_t)(len / 3);
  size_t first = start + 9 + (type == 0 && (flags & 0x8) ? 1 : 0);
  for (size_t o = first; type == 0 && o < s->len; o++) {
    s->expect[o] = (uint32_t)(s->len - o);
    s->expect_id[o] = id;
  }
}

static void build(stream_bytes *s) {
  memset(s, 0, sizeof *s);
  memcpy(s->bytes, NP_H2_PREFACE, NP_H2_PREFACE_LEN);
  s->len = NP_H2_PREFACE_LEN;
  add(s, 6, 0x4, 0, 0);        /* SETTINGS */
  add(s, 5, 0x1, 0x4, 1);      /* HEADERS */
  add(s, 100, 0x0, 0, 1);      /* DATA */
  add(s, 50, 0x0, 0x8, 3);     /* DATA, PADDED */
  add(s, 0, 0x0, 0x1, 1);      /* DATA, empty, END_STREAM */
  add(s, 4, 0x8, 0, 0);        /* WINDOW_UPDATE */
  add(s, 1, 0x0, 0x8, 5);      /* DATA, PADDED, only its pad-length byte */
  add(s, 300, 0x0, 0x1, 7);    /* DATA, END_STREAM */
  add(s, 8, 0x6, 0, 0);        /* PING */
  add(s, 2000, 0x0, 0x9, 9);   /* DATA, PADDED, END_STREAM */
  add(s, 3, 0x0, 0, 0x7fffff); /* DATA on a high stream */
}

static void check_at(const stream_bytes *s, const np_h2_scan *sc, size_t off) {
  int32_t id = -1;
  uint32_t k = np_h2_scan_skippable(sc, &id);
  if (k != s->expect[off]) fail_msg("at %zu: skippable %u, want %u", off, k, s->expect[off]);
  if (k) assert_int_equal(id, s->expect_id[off]);
}

static void test_scan_every_split(void **state) {
  (void)state;
  static stream_bytes s;
  build(&s);
  for (size_t cut = 0; cut <= s.len; cut++) {
    np_h2_scan sc;
    np_h2_scan_init(&sc);
    np_h2_scan_feed(&sc, s.bytes, cut);
    check_at(&s, &sc, cut);
    np_h2_scan_feed(&sc, s.bytes + cut, s.len - cut);
    check_at(&s, &sc, s.len);
  }
}

static void test_scan_byte_by_byte_and_skips(void **state) {
  (void)state;
  static stream_bytes s;
  build(&s);
  np_h2_scan sc;
  np_h2_scan_init(&sc);
  for (size_t off = 0; off < s.len; off++) {
    check_at(&s, &sc, off);
    np_h2_scan_feed(&sc, s.bytes + off, 1);
  }
  /* Skipping (no bytes) wherever allowed ends in the same places. */
  np_h2_scan_init(&sc);
  size_t off = 0;
  while (off < s.len) {
    check_at(&s, &sc, off);
    int32_t id;
    uint32_t k = np_h2_scan_skippable(&sc, &id);
    if (k) {
      k = k > 7 ? k - 7 : k; /* part of it, then the rest */
      np_h2_scan_feed(&sc, NULL, k);
      off += k;
    } else {
      np_h2_scan_feed(&sc, s.bytes + off, 1);
      off++;
    }
  }
  check_at(&s, &sc, s.len);
}

/* ---- dropped payload against a real client -------------------------------- */

static ssize_t pad_some(nghttp2_session *s, const nghttp2_frame *f, size_t max, void *ud) {
  (void)s;
  (void)ud;
  /* Pads DATA up to 255 bytes more when there is room. */
  size_t want = f->hd.length + 1 + 200;
  return (ssize_t)(want < max ? want : max);
}

static void upload(size_t split, int padded) {
  client c;
  app a;
  setup_pair(&c, &a, NULL);
  a.skip_mode = 1;
  if (padded) {
    nghttp2_session_del(c.s);
    nghttp2_session_callbacks *cb;
    assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
    nghttp2_session_callbacks_set_select_padding_callback(cb, pad_some);
    nghttp2_session_callbacks_set_on_header_callback(cb, cl_header);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, cl_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, cl_frame);
    assert_int_equal(nghttp2_session_client_new(&c.s, cb, &c), 0);
    nghttp2_session_callbacks_del(cb);
    assert_int_equal(nghttp2_submit_settings(c.s, NGHTTP2_FLAG_NONE, NULL, 0), 0);
  }
  uint64_t len = 20u << 20; /* beyond the 16 MiB windows: credit must return */
  uint64_t left = len;
  nghttp2_data_provider dp = {.source.ptr = &left, .read_callback = upload_read};
  int rc = 0;
  int32_t id = client_get(&c, "POST", "/discard", &dp);
  run(&c, &a, split, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(c.status, 200);
  assert_int_equal(c.closed, 1);
  assert_int_equal(a.ends, 1);
  assert_int_equal(a.body, 0); /* on_body is not called for a discarded body */
  assert_int_equal(a.received[id / 2], len);
  assert_true(a.skipped >= len); /* every payload byte (and padding) */
  teardown_pair(&c, &a);
}

static void test_discarded_upload_counted(void **state) {
  (void)state;
  size_t splits[] = {0, 1, 9, 10, 4096, 16393, 16394};
  for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) upload(splits[i], 0);
}

static void test_discarded_upload_padded(void **state) {
  (void)state;
  upload(0, 1);
  upload(1, 1);
  upload(10, 1);
}

/* Two uploads at once: one read (on_body gets every byte, unchanged), one
 * discarded (dropped unread, still counted). */
static void test_interleaved_streams(void **state) {
  (void)state;
  size_t splits[] = {0, 1, 13, 5000};
  for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
    client c;
    app a;
    setup_pair(&c, &a, NULL);
    a.skip_mode = 1;
    uint64_t l1 = 3u << 20, l2 = (3u << 20) + 12345;
    nghttp2_data_provider d1 = {.source.ptr = &l1, .read_callback = upload_read};
    nghttp2_data_provider d2 = {.source.ptr = &l2, .read_callback = upload_read};
    int rc = 0;
    int32_t read_id = client_get(&c, "POST", "/upload", &d1);
    int32_t drop_id = client_get(&c, "POST", "/discard", &d2);
    run(&c, &a, splits[i], &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(c.closed, 2);
    assert_int_equal(a.ends, 2);
    assert_int_equal(a.body_by[read_id / 2], 3u << 20);
    assert_false(a.body_not_u);
    assert_int_equal(a.body_by[drop_id / 2], 0);
    assert_int_equal(a.received[read_id / 2], 3u << 20);
    assert_int_equal(a.received[drop_id / 2], (3u << 20) + 12345);
    assert_true(a.skipped > 0);
    teardown_pair(&c, &a);
  }
}

/* nghttp2 still checks the body against content-length: it sees as many
 * bytes, zeros in place of the dropped ones. */
static void test_content_length_checked(void **state) {
  (void)state;
  for (int lie = 0; lie < 2; lie++) {
    client c;
    app a;
    setup_pair(&c, &a, NULL);
    a.skip_mode = 1;
    uint64_t left = 100000;
    nghttp2_data_provider dp = {.source.ptr = &left, .read_callback = upload_read};
    const char *cl = lie ? "99999" : "100000";
    nghttp2_nv nv[] = {
        {(uint8_t *)":method", (uint8_t *)"POST", 7, 4, 0},
        {(uint8_t *)":path", (uint8_t *)"/discard", 5, 8, 0},
        {(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0},
        {(uint8_t *)":authority", (uint8_t *)"h", 10, 1, 0},
        {(uint8_t *)"content-length", (uint8_t *)cl, 14, strlen(cl), 0},
    };
    assert_true(nghttp2_submit_request(c.s, NULL, nv, 5, &dp, NULL) > 0);
    int rc = 0;
    run(&c, &a, 0, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(c.closed, 1);
    if (lie) {
      assert_int_equal(c.close_code, NGHTTP2_PROTOCOL_ERROR);
      assert_int_equal(a.ends, 0);
    } else {
      assert_int_equal(c.close_code, 0);
      assert_int_equal(c.status, 200);
      assert_int_equal(a.ends, 1);
    }
    assert_true(a.skipped > 0);
    teardown_pair(&c, &a);
  }
}

/* A body that is never ready: the request's HEADERS go without END_STREAM. */
static ssize_t defer_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                          nghttp2_data_source *src, void *ud) {
  return NGHTTP2_ERR_DEFERRED;
}

/* Sends the client's preface, SETTINGS and a POST /discard whose body is
 * still to come (stream 1), then returns the server in skip mode. */
static void open_discard(client *c, app *a, const np_h2_config *cfg) {
  setup_pair(c, a, cfg);
  a->skip_mode = 1;
  static uint64_t never = 1;
  nghttp2_data_provider dp = {.source.ptr = &never, .read_callback = defer_read};
  int rc = 0;
  assert_int_equal(client_get(c, "POST", "/discard", &dp), 1);
  run(c, a, 0, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(a->requests, 1);
}

/* Feeds a hand-made frame the way a cleartext conn would (dropping what
 * it may) and checks that nghttp2 still ends the connection with code. */
static void expect_goaway(const uint8_t *f, size_t n, uint32_t code) {
  client c;
  app a;
  open_discard(&c, &a, NULL);
  int rc = feed(&a, f, n);
  assert_true(rc == 0 || rc == NP_E_PROTO);
  rc = 0;
  run(&c, &a, 0, &rc);
  assert_true(c.goaway);
  assert_int_equal(c.goaway_code, code);
  assert_true(np_h2_conn_done(a.h2));
  teardown_pair(&c, &a);
}

static void test_oversize_data_frame(void **state) {
  (void)state;
  np_h2_config d;
  np_h2_config_default(&d);
  static uint8_t f[9 + (1u << 20) + 1];
  assert_int_equal(d.max_frame + 1, sizeof f - 9);
  size_t n = frame(f, d.max_frame + 1, 0x0, 0, 1); /* over SETTINGS_MAX_FRAME_SIZE */
  expect_goaway(f, n, NGHTTP2_FRAME_SIZE_ERROR);
}

/* The largest frame length a header can carry (16 MiB - 1): the scanner
 * follows it, skipped in pieces, to the next header. */
static void test_scan_largest_frame(void **state) {
  (void)state;
  uint8_t h[9 + 8];
  np_h2_scan sc;
  np_h2_scan_init(&sc);
  np_h2_scan_feed(&sc, (const uint8_t *)NP_H2_PREFACE, NP_H2_PREFACE_LEN);
  (void)frame(h, 0, 0x0, 0, 11);
  h[0] = h[1] = h[2] = 0xff;
  np_h2_scan_feed(&sc, h, 9);
  int32_t id = 0;
  assert_int_equal(np_h2_scan_skippable(&sc, &id), (1u << 24) - 1);
  assert_int_equal(id, 11);
  np_h2_scan_feed(&sc, NULL, 1u << 20);
  assert_int_equal(np_h2_scan_skippable(&sc, &id), (1u << 24) - 1 - (1u << 20));
  np_h2_scan_feed(&sc, NULL, (1u << 24) - 1 - (1u << 20));
  assert_int_equal(np_h2_scan_skippable(&sc, &id), 0);
  (void)frame(h, 8, 0x6, 0, 0); /* PING: not skippable */
  np_h2_scan_feed(&sc, h, 9);
  assert_int_equal(np_h2_scan_skippable(&sc, &id), 0);
}

/* A DATA frame as large as the server allows (SETTINGS_MAX_FRAME_SIZE,
 * 1 MiB) is accepted and dropped unread as one piece, then counted. */
static void test_large_frame_skipped(void **state) {
  (void)state;
  client c;
  app a;
  open_discard(&c, &a, NULL);
  np_h2_config d;
  np_h2_config_default(&d);
  static uint8_t f[9 + (1u << 20)];
  size_t n = frame(f, d.max_frame, 0x0, 0x1, 1); /* END_STREAM */
  assert_int_equal(n, sizeof f);
  assert_int_equal(np_h2_conn_recv(a.h2, f, 9 + 100, 1), 0);
  assert_int_equal(np_h2_conn_skippable(a.h2), d.max_frame - 100);
  assert_int_equal(np_h2_conn_skip(a.h2, d.max_frame - 100, 1), 0);
  int rc = 0;
  run(&c, &a, 0, &rc);
  assert_int_equal(rc, 0);
  assert_false(c.goaway);
  assert_int_equal(c.status, 200);
  assert_int_equal(a.received[0], d.max_frame);
  teardown_pair(&c, &a);
}

static void test_bad_pad_length(void **state) {
  (void)state;
  uint8_t f[9 + 10];
  size_t n = frame(f, 10, 0x0, 0x8, 1);
  f[9] = 10; /* padding as long as the payload */
  expect_goaway(f, n, NGHTTP2_PROTOCOL_ERROR);
}

static void test_data_on_idle_stream(void **state) {
  (void)state;
  uint8_t f[9 + 100];
  size_t n = frame(f, 100, 0x0, 0, 3); /* stream 3 was never opened */
  expect_goaway(f, n, NGHTTP2_PROTOCOL_ERROR);
}

static void test_data_on_stream_zero(void **state) {
  (void)state;
  uint8_t f[9 + 100];
  size_t n = frame(f, 100, 0x0, 0, 0);
  expect_goaway(f, n, NGHTTP2_PROTOCOL_ERROR);
}

static void test_skip_more_than_allowed(void **state) {
  (void)state;
  client c;
  app a;
  open_discard(&c, &a, NULL);
  uint8_t f[9 + 100];
  (void)frame(f, 100, 0x0, 0, 1);
  assert_int_equal(np_h2_conn_skippable(a.h2), 0);
  assert_int_equal(np_h2_conn_skip(a.h2, 1, 1), NP_E_BADARG);
  assert_int_equal(np_h2_conn_recv(a.h2, f, 9 + 40, 1), 0);
  assert_int_equal(np_h2_conn_skippable(a.h2), 60);
  assert_int_equal(np_h2_conn_skip(a.h2, 61, 1), NP_E_BADARG);
  assert_int_equal(np_h2_conn_skip(a.h2, 60, 1), 0);
  assert_int_equal(np_h2_conn_skippable(a.h2), 0);
  assert_int_equal(np_h2_discard_body(a.h2, 3), NP_E_BADARG);
  teardown_pair(&c, &a);
}

int main(void) {
  payload_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scan_every_split),
      cmocka_unit_test(test_scan_byte_by_byte_and_skips),
      cmocka_unit_test(test_discarded_upload_counted),
      cmocka_unit_test(test_discarded_upload_padded),
      cmocka_unit_test(test_interleaved_streams),
      cmocka_unit_test(test_content_length_checked),
      cmocka_unit_test(test_oversize_data_frame),
      cmocka_unit_test(test_scan_largest_frame),
      cmocka_unit_test(test_large_frame_skipped),
      cmocka_unit_test(test_bad_pad_length),
      cmocka_unit_test(test_data_on_idle_stream),
      cmocka_unit_test(test_data_on_stream_zero),
      cmocka_unit_test(test_skip_more_than_allowed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
