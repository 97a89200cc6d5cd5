/* Tests for h2/client: np_h2c against netpulse's own HTTP/2 server
 * (np_h2_conn) in memory: GETs, a copied POST body, a streamed upload cut
 * from the payload and cancelled, a counted download, and garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/error.h"
#include "h2/client.h"
#include "h2/server.h"

#define PAYLOAD (1u << 20)
static uint8_t payload[PAYLOAD];

typedef struct {
  np_h2_conn *srv;
  np_h2c *cli;
  np_buf wire; /* client to server, not yet delivered */
  /* server side */
  uint64_t srv_body;
  int srv_closes;
  char body_seen[64];
  /* client side */
  int status;
  uint64_t cli_body;
  int cli_closes;
  uint32_t close_code;
  int refs;                        /* write calls that referenced the payload */
  size_t max_cli_ref, max_srv_ref; /* the largest DATA payload each side sent */
  int retry_after;
  size_t flush_budget; /* what pump lets the client write per flush */
} pair;

static int srv_request(void *ud, const np_h2_request *rq, uint64_t now) {
  pair *p = ud;
  (void)now;
  char path[64];
  snprintf(path, sizeof path, "%.*s", (int)rq->path.len, (const char *)rq->path.ptr);
  if (strcmp(path, "/small?mid=x") == 0)
    return np_h2_respond(p->srv, rq->stream_id, 200, NULL, 0, np_slice_cstr("x"));
  if (strcmp(path, "/large") == 0)
    return np_h2_respond_stream(p->srv, rq->stream_id, 200, NULL, 0, 3000000);
  if (strcmp(path, "/upload") == 0 || strcmp(path, "/result") == 0) return 0;
  if (strcmp(path, "/busy") == 0) {
    static const np_h2_header h[] = {{"retry-after", "42"}};
    return np_h2_respond(p->srv, rq->stream_id, 503, h, 1, np_slice_cstr("{}"));
  }
  return np_h2_respond(p->srv, rq->stream_id, 404, NULL, 0, np_slice_make("", 0));
}

static void srv_body(void *ud, int32_t id, const uint8_t *d, size_t n, uint64_t now) {
  pair *p = ud;
  (void)id;
  (void)now;
  size_t have = strlen(p->body_seen);
  if (have + n < sizeof p->body_seen) memcpy(p->body_seen + have, d, n);
  p->srv_body += n;
}

static void srv_end(void *ud, int32_t id, uint64_t now) {
  pair *p = ud;
  (void)now;
  (void)np_h2_respond(p->srv, id, 200, NULL, 0, np_slice_cstr("{}"));
}

static void srv_close(void *ud, int32_t id, uint32_t code, uint64_t sent, uint64_t recv,
                      uint64_t now) {
  (void)id, (void)code, (void)sent, (void)recv, (void)now;
  ((pair *)ud)->srv_closes++;
}

static const np_h2_callbacks kSrv = {.on_request = srv_request,
                                     .on_body = srv_body,
                                     .on_request_end = srv_end,
                                     .on_stream_close = srv_close};

static int cli_write(void *ud, const uint8_t *copy, size_t ncopy, const uint8_t *ref, size_t nref) {
  pair *p = ud;
  if (nref) {
    /* Upload data must come from the payload, not a copy. */
    assert_true(ref >= payload && ref + nref <= payload + PAYLOAD);
    p->refs++;
    if (nref > p->max_cli_ref) p->max_cli_ref = nref;
  }
  if (np_buf_append(&p->wire, copy, ncopy) < 0) return -1;
  return nref ? np_buf_append(&p->wire, ref, nref) : 0;
}

static void cli_response(void *ud, int32_t id, int status, int retry_after, void *sud) {
  (void)id;
  (void)sud;
  ((pair *)ud)->status = status;
  ((pair *)ud)->retry_after = retry_after;
}

static void cli_body(void *ud, int32_t id, const uint8_t *d, size_t n, void *sud) {
  (void)id, (void)d, (void)sud;
  ((pair *)ud)->cli_body += n;
}

static void cli_close(void *ud, int32_t id, uint32_t code, void *sud) {
  pair *p = ud;
  (void)id;
  assert_ptr_equal(sud, p); /* the stream_ud given to np_h2c_request */
  p->cli_closes++;
  p->close_code = code;
}

static const np_h2c_callbacks kCli = {
    .write = cli_write, .on_response = cli_response, .on_body = cli_body, .on_close = cli_close};

static pair *pair_new(void) {
  pair *p = calloc(1, sizeof *p);
  np_buf_init(&p->wire, 64u << 20);
  np_h2_config cfg;
  np_h2_config_default(&cfg);
  cfg.payload = np_slice_make(payload, PAYLOAD);
  assert_int_equal(np_h2_conn_new(&p->srv, &cfg, &kSrv, p), 0);
  assert_int_equal(np_h2c_new(&p->cli, &kCli, p, np_slice_make(payload, PAYLOAD), 1u << 20), 0);
  p->flush_budget = 256u << 10;
  return p;
}

static void pair_free(pair *p) {
  np_h2c_free(p->cli);
  np_h2_conn_free(p->srv);
  np_buf_free(&p->wire);
  free(p);
}

/* Moves bytes both ways until nothing moves or budget bytes went up. */
static void pump(pair *p, uint64_t budget) {
  uint64_t moved = 0;
  for (int round = 0; round < 10000; round++) {
    long long n = np_h2c_flush(p->cli, p->flush_budget);
    assert_true(n >= 0);
    int any = n > 0 || p->wire.len > 0;
    if (p->wire.len) {
      assert_int_equal(np_h2_conn_recv(p->srv, p->wire.data, p->wire.len, 1), 0);
      moved += p->wire.len;
      p->wire.len = 0;
    }
    struct iovec iov[16];
    int k;
    while ((k = np_h2_conn_pull(p->srv, iov, 16, 4u << 20, 1)) > 0) {
      size_t total = 0;
      for (int i = 0; i < k; i++) {
        assert_int_equal(np_h2c_recv(p->cli, iov[i].iov_base, iov[i].iov_len), 0);
        const uint8_t *b = iov[i].iov_base;
        if (b >= payload && b < payload + PAYLOAD && iov[i].iov_len > p->max_srv_ref)
          p->max_srv_ref = iov[i].iov_len;
        total += iov[i].iov_len;
      }
      np_h2_conn_sent(p->srv, total);
      any = 1;
    }
    if (!any || moved >= budget) return;
  }
}

static void test_get_small(void **state) {
  (void)state;
  pair *p = pair_new();
  int32_t id =
      np_h2c_request(p->cli, "GET", "http", "example.net:80", "/small?mid=x", NULL, 0, 0, p);
  assert_true(id > 0);
  pump(p, UINT64_MAX);
  assert_int_equal(p->status, 200);
  assert_int_equal(p->cli_body, 1);
  assert_int_equal(p->cli_closes, 1);
  assert_int_equal(p->close_code, 0);
  assert_int_equal(np_h2c_body_received(p->cli), 1);
  /* Another on the same connection, and a 404. */
  assert_true(np_h2c_request(p->cli, "GET", "http", "e", "/nope", NULL, 0, 0, p) > id);
  pump(p, UINT64_MAX);
  assert_int_equal(p->status, 404);
  assert_int_equal(p->retry_after, -1);
  assert_int_equal(p->cli_closes, 2);
  /* A refusal's Retry-After reaches the caller. */
  assert_true(np_h2c_request(p->cli, "GET", "http", "e", "/busy", NULL, 0, 0, p) > 0);
  pump(p, UINT64_MAX);
  assert_int_equal(p->status, 503);
  assert_int_equal(p->retry_after, 42);
  assert_false(np_h2c_dead(p->cli));
  pair_free(p);
}

static void test_large_download_counted(void **state) {
  (void)state;
  pair *p = pair_new();
  assert_true(np_h2c_request(p->cli, "GET", "https", "e", "/large", NULL, 0, 0, p) > 0);
  pump(p, UINT64_MAX);
  assert_int_equal(p->status, 200);
  assert_int_equal(p->cli_body, 3000000); /* beyond the 1 MiB window */
  assert_int_equal(p->close_code, 0);
  /* The client allows 1 MiB frames: the server sends its max_frame. */
  np_h2_config d;
  np_h2_config_default(&d);
  assert_int_equal(p->max_srv_ref, d.max_frame);
  pair_free(p);
}

static void test_post_copied_body(void **state) {
  (void)state;
  pair *p = pair_new();
  const char *js = "{\"RPM\":1234}";
  assert_true(np_h2c_request(p->cli, "POST", "http", "e", "/result", (const uint8_t *)js,
                             strlen(js), 0, p) > 0);
  pump(p, UINT64_MAX);
  assert_string_equal(p->body_seen, js);
  assert_int_equal(p->status, 200);
  assert_int_equal(p->refs, 0);
  assert_int_equal(np_h2c_body_sent(p->cli), strlen(js));
  pair_free(p);
}

static void test_streamed_upload_and_cancel(void **state) {
  (void)state;
  pair *p = pair_new();
  int32_t id = np_h2c_request(p->cli, "POST", "http", "e", "/upload", NULL, 0, 1, p);
  assert_true(id > 0);
  p->flush_budget = 4u << 20;
  pump(p, 8u << 20);
  /* Flow control from the server's 16 MiB windows lets megabytes through;
   * every DATA frame referenced the payload, in frames as large as the
   * server's SETTINGS_MAX_FRAME_SIZE when a flush may write that much. */
  np_h2_config d;
  np_h2_config_default(&d);
  assert_true(p->srv_body >= (4u << 20));
  assert_int_equal(p->max_cli_ref, d.max_frame);
  assert_true((uint64_t)p->refs * d.max_frame >= p->srv_body);
  assert_int_equal(np_h2c_body_sent(p->cli) >= p->srv_body, 1);
  assert_int_equal(np_h2c_cancel(p->cli, id), 0);
  pump(p, UINT64_MAX);
  assert_int_equal(p->cli_closes, 1);
  assert_int_equal(p->close_code, 0x8); /* CANCEL */
  assert_int_equal(p->srv_closes, 1);
  pair_free(p);
}

/* Offset of the first HEADERS frame in wire, or SIZE_MAX. */
static size_t first_headers(const np_buf *wire) {
  size_t off = 0;
  while (off + 9 <= wire->len) {
    const uint8_t *f = wire->data + off;
    if (f[3] == 0x1) return off;
    off += 9 + ((size_t)f[0] << 16 | (size_t)f[1] << 8 | f[2]);
  }
  return SIZE_MAX;
}

/* A link that lets 16 KiB out per flush (a slow uplink's few ms): a flush
 * writes about that, not the server's whole window in 1 MiB frames, and a
 * request made during the upload leaves behind at most one upload frame
 * (on a 2 Mbit/s uplink 16 MiB was a minute; 1 MiB frames, 4 s each). */
static void test_upload_leaves_room_for_requests(void **state) {
  (void)state;
  pair *p = pair_new();
  const size_t budget = 16u << 10;
  p->flush_budget = budget;
  assert_true(np_h2c_request(p->cli, "POST", "http", "e", "/upload", NULL, 0, 1, p) > 0);
  pump(p, 0); /* one round: the server's SETTINGS (1 MiB frames) and windows are known */
  for (int i = 0; i < 4; i++) {
    long long n = np_h2c_flush(p->cli, budget);
    assert_true(n > 0);
    assert_true((size_t)n <= budget + 9 + budget);
    assert_true(p->max_cli_ref <= budget);
    assert_int_equal(np_h2_conn_recv(p->srv, p->wire.data, p->wire.len, 1), 0);
    p->wire.len = 0;
  }
  assert_true(np_h2c_request(p->cli, "GET", "http", "e", "/small?mid=x", NULL, 0, 0, p) > 0);
  assert_true(np_h2c_flush(p->cli, budget) > 0);
  assert_true(first_headers(&p->wire) <= 9 + budget);
  pair_free(p);
}

static void test_garbage_and_goaway(void **state) {
  (void)state;
  pair *p = pair_new();
  static const uint8_t junk[] = "HTTP/1.1 200 OK\r\n\r\n";
  /* An HTTP/1.1 answer is a frame too large: nghttp2 ends the session
   * (GOAWAY queued) and nothing more can be asked of it. */
  int rc = np_h2c_recv(p->cli, junk, sizeof junk - 1);
  assert_true(rc == 0 || rc == NP_E_PROTO);
  assert_true(np_h2c_flush(p->cli, 1u << 20) >= 0);
  assert_true(np_h2c_dead(p->cli));
  pair_free(p);
  p = pair_new();
  assert_int_equal(np_h2c_goaway(p->cli), 0);
  /* Preface, SETTINGS, window update and the GOAWAY (17 bytes) leave. */
  assert_true(np_h2c_flush(p->cli, 1u << 20) > 24 + 17);
  assert_false(np_h2c_want_write(p->cli));
  assert_true(np_h2c_request(p->cli, "GET", "http", "e", "/small?mid=x", NULL, 0, 0, p) < 0);
  pair_free(p);
  /* Bad arguments. */
  np_h2c *h = NULL;
  assert_int_equal(np_h2c_new(&h, &kCli, NULL, np_slice_make(payload, 100), 1u << 20), NP_E_BADARG);
  assert_null(h);
}

/* ---- a hostile server, frames by hand ------------------------------------ */

static size_t frame(uint8_t *out, uint8_t type, uint8_t flags, uint32_t sid, const uint8_t *pl,
                    size_t n) {
  out[0] = (uint8_t)(n >> 16), out[1] = (uint8_t)(n >> 8), out[2] = (uint8_t)n;
  out[3] = type, out[4] = flags;
  out[5] = (uint8_t)(sid >> 24), out[6] = (uint8_t)(sid >> 16), out[7] = (uint8_t)(sid >> 8);
  out[8] = (uint8_t)sid;
  if (n) memcpy(out + 9, pl, n);
  return 9 + n;
}

static size_t setting(uint8_t *out, uint16_t id, uint32_t v) {
  uint8_t pl[6] = {(uint8_t)(id >> 8), (uint8_t)id,       (uint8_t)(v >> 24),
                   (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  return frame(out, 4, 0, 0, pl, 6);
}

/* A fresh client that asked for one GET, then got bytes; its verdict. */
static const char *feed(pair *p, const uint8_t *b, size_t n) {
  assert_true(np_h2c_request(p->cli, "GET", "http", "e", "/small?mid=x", NULL, 0, 0, p) > 0);
  assert_true(np_h2c_flush(p->cli, 1u << 20) > 0);
  p->wire.len = 0;
  int rc = np_h2c_recv(p->cli, b, n);
  if (rc == 0) return NULL;
  assert_int_equal(rc, NP_E_PROTO);
  assert_true(np_h2c_dead(p->cli));
  assert_false(np_h2c_want_write(p->cli));
  return np_h2c_error(p->cli);
}

static void test_broken_server_is_dead_at_once(void **state) {
  (void)state;
  static uint8_t b[1u << 16];
  struct {
    int kind;
    const char *want;
  } cases[] = {{0, "the server broke HTTP/2: invalid SETTINGS_MAX_FRAME_SIZE"},
               {1, "the server broke HTTP/2: too large SETTINGS_INITIAL_WINDOW_SIZE"},
               {2, "the server broke HTTP/2: WINDOW_UPDATE frame (FLOW_CONTROL_ERROR)"},
               {3, "the server broke HTTP/2: PUSH_PROMISE: push disabled"},
               {4, "the server does not speak HTTP/2"},
               {5, "the server broke HTTP/2: invalid SETTINGS_MAX_FRAME_SIZE"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pair *p = pair_new();
    size_t n = 0;
    if (cases[i].kind == 0) n = setting(b, 5, 16383);
    if (cases[i].kind == 1) n = setting(b, 4, 1u << 31);
    if (cases[i].kind == 2) {
      static const uint8_t inc[4] = {0x7f, 0xff, 0xff, 0xff};
      n = frame(b, 4, 0, 0, NULL, 0);
      n += frame(b + n, 8, 0, 0, inc, 4);
    }
    if (cases[i].kind == 3) {
      /* Before its ACK nghttp2 refuses a push by RST; after, it is fatal. */
      static const uint8_t pp[5] = {0, 0, 0, 2, 0x82}; /* promised 2, ":method: GET" */
      n = frame(b, 4, 0, 0, NULL, 0);
      n += frame(b + n, 4, 1, 0, NULL, 0);
      n += frame(b + n, 5, 4, 1, pp, 5);
    }
    if (cases[i].kind == 5) {
      /* A graceful GOAWAY (stream 1 still served), then a broken frame:
       * fuzz_h2_client's goaway_then_broken. */
      static const uint8_t ga[8] = {0, 0, 0, 1, 0, 0, 0, 0};
      n = frame(b, 4, 0, 0, NULL, 0);
      n += frame(b + n, 7, 0, 0, ga, 8);
      n += setting(b + n, 5, 16383);
    }
    if (cases[i].kind == 4) {
      memcpy(b, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
      n = 28;
    }
    const char *why = feed(p, b, n);
    if (!why || strcmp(why, cases[i].want) != 0) fail_msg("case %zu: %s", i, why ? why : "(alive)");
    assert_string_equal(why, cases[i].want);
    /* The stream ends with the session, no more requests. */
    assert_true(np_h2c_request(p->cli, "GET", "http", "e", "/x", NULL, 0, 0, p) < 0);
    pair_free(p);
  }
}

/* One HEADERS frame whose fields are a 4 KB table entry, referenced
 * again and again: the block stops at the 16 KiB we advertise. */
static void test_header_bomb_is_bounded(void **state) {
  (void)state;
  static uint8_t b[(1u << 20) + 64], hb[(1u << 20) - 64];
  pair *p = pair_new();
  size_t n = frame(b, 4, 0, 0, NULL, 0);
  n += frame(b + n, 4, 1, 0, NULL, 0); /* ACK: our 1 MiB frames apply */
  size_t k = 0;
  hb[k++] = 0x88;                 /* :status 200 */
  hb[k++] = 0x40;                 /* literal, incremental indexing, new name */
  hb[k++] = 1, hb[k++] = 'x';     /* name "x" */
  hb[k++] = 0x7f, hb[k++] = 0x81; /* value length 127 + 3969 = 4096 - ... */
  hb[k++] = 0x1e;                 /* 127 + 1 + 30*128 = 3968 */
  memset(hb + k, 'a', 3968);
  k += 3968;
  while (k < sizeof hb) hb[k++] = 0xbe;  /* index 62: the entry above */
  n += frame(b + n, 1, 4 | 1, 1, hb, k); /* END_HEADERS | END_STREAM */
  /* The frame is under our 1 MiB SETTINGS_MAX_FRAME_SIZE. */
  const char *why = feed(p, b, n);
  assert_non_null(why);
  assert_string_equal(why, "the server sent a response header block over 16 KiB");
  assert_int_equal(p->cli_closes, 0); /* the session goes, no callbacks after */
  pair_free(p);
}

/* 103 Early Hints (with a Retry-After of its own) before the final 200:
 * found by fuzz_h2_client. The owner hears of the final response only,
 * once, without the informational block's Retry-After; trailers after
 * the body are not a second response. */
static void test_informational_then_final(void **state) {
  (void)state;
  static uint8_t b[256];
  static const uint8_t early[] = {0x08, 3, '1', '0', '3', 0x0f, 0x26, 1, '7'}; /* retry-after 7 */
  static const uint8_t final[] = {0x88};                                       /* :status 200 */
  static const uint8_t trailer[] = {0x00, 3, 'x', '-', 't', 1, '1'};
  pair *p = pair_new();
  size_t n = frame(b, 4, 0, 0, NULL, 0);
  n += frame(b + n, 1, 4, 1, early, sizeof early);
  n += frame(b + n, 1, 4, 1, final, sizeof final);
  n += frame(b + n, 0, 0, 1, (const uint8_t *)"abc", 3);
  n += frame(b + n, 1, 4 | 1, 1, trailer, sizeof trailer);
  p->status = -1;
  assert_null(feed(p, b, n));
  assert_int_equal(p->status, 200);
  assert_int_equal(p->retry_after, -1);
  assert_int_equal(p->cli_body, 3);
  assert_int_equal(p->cli_closes, 1);
  assert_int_equal(p->close_code, 0);
  pair_free(p);
}

/* ":status: 050" is three digits, which nghttp2 accepts: it is no
 * response, so the stream is reset and its body goes nowhere (found by
 * fuzz_h2_client: the body was counted for a response never reported). */
static void test_status_under_100_resets(void **state) {
  (void)state;
  static uint8_t b[128];
  static const uint8_t st050[] = {0x08, 3, '0', '5', '0'};
  pair *p = pair_new();
  size_t n = frame(b, 4, 0, 0, NULL, 0);
  n += frame(b + n, 1, 4, 1, st050, sizeof st050);
  n += frame(b + n, 0, 1, 1, (const uint8_t *)"abc", 3);
  p->status = -1;
  assert_null(feed(p, b, n));
  assert_int_equal(p->status, -1);
  assert_int_equal(p->cli_body, 0);
  assert_true(np_h2c_flush(p->cli, 1u << 20) > 0); /* the RST_STREAM leaves, the stream ends */
  assert_int_equal(p->cli_closes, 1);
  assert_int_equal(p->close_code, 1); /* PROTOCOL_ERROR */
  pair_free(p);
}

int main(void) {
  for (size_t i = 0; i < PAYLOAD; i++) payload[i] = (uint8_t)(i * 131);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_get_small),
      cmocka_unit_test(test_large_download_counted),
      cmocka_unit_test(test_post_copied_body),
      cmocka_unit_test(test_streamed_upload_and_cancel),
      cmocka_unit_test(test_upload_leaves_room_for_requests),
      cmocka_unit_test(test_garbage_and_goaway),
      cmocka_unit_test(test_broken_server_is_dead_at_once),
      cmocka_unit_test(test_header_bomb_is_bounded),
      cmocka_unit_test(test_informational_then_final),
      cmocka_unit_test(test_status_under_100_resets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
