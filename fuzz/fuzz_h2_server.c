/* Fuzz target for the HTTP/2 server connection: arbitrary client bytes in
 * arbitrary chunks, responses of every kind, partial writes; the output
 * queue's accounting is checked after every step. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "h2/server.h"

#define CHECK(c)                                                                                   \
  do {                                                                                             \
    if (!(c)) abort();                                                                             \
  } while (0)

#define PAYLOAD (64u << 10)
static uint8_t payload[PAYLOAD];

typedef struct {
  np_h2_conn *h2;
  uint64_t large_len;
  int open;
} app;

static int on_request(void *ud, const np_h2_request *rq, uint64_t now) {
  app *a = ud;
  static const np_h2_header h[] = {{"content-type", "application/octet-stream"}};
  a->open++;
  CHECK(rq->stream_id > 0 && (rq->stream_id & 1));
  if (np_slice_eq(rq->path, np_slice_cstr("/small")))
    return np_h2_respond(a->h2, rq->stream_id, 200, h, 1, np_slice_cstr("x"));
  if (np_slice_eq(rq->path, np_slice_cstr("/large")))
    return np_h2_respond_stream(a->h2, rq->stream_id, 200, h, 1, a->large_len);
  if (np_slice_eq(rq->path, np_slice_cstr("/upload"))) return 0;
  if (np_slice_eq(rq->path, np_slice_cstr("/discard")))
    return np_h2_discard_body(a->h2, rq->stream_id);
  if (np_slice_eq(rq->path, np_slice_cstr("/refuse"))) return -1;
  return np_h2_respond(a->h2, rq->stream_id, 404, NULL, 0, np_slice_make("", 0));
}

static void on_end(void *ud, int32_t id, uint64_t now) {
  app *a = ud;
  (void)np_h2_respond(a->h2, id, 200, NULL, 0, np_slice_make("", 0)); /* may be answered */
}

static void on_close(void *ud, int32_t id, uint32_t code, uint64_t sent, uint64_t recv,
                     uint64_t now) {
  app *a = ud;
  CHECK(a->open > 0);
  a->open--;
}

static const np_h2_callbacks cb = {
    .on_request = on_request, .on_request_end = on_end, .on_stream_close = on_close};

/* Writes at most `room` bytes of what the connection offers. */
static void drain(np_h2_conn *h2, size_t room, uint64_t now) {
  for (int round = 0; round < 8; round++) {
    struct iovec iov[16];
    size_t before = np_h2_conn_queued(h2);
    int k = np_h2_conn_pull(h2, iov, 16, room, now);
    if (k <= 0) return;
    size_t total = 0;
    for (int i = 0; i < k; i++) {
      CHECK(iov[i].iov_base && iov[i].iov_len > 0);
      total += iov[i].iov_len;
    }
    CHECK(total <= room);
    CHECK(total <= np_h2_conn_queued(h2));
    CHECK(np_h2_conn_queued(h2) >= before);
    np_h2_conn_sent(h2, total);
  }
}

/* Gives the connection n bytes; in skip mode, DATA payload it calls
 * skippable is dropped and reported instead, as a cleartext conn does. */
static int give(np_h2_conn *h2, const uint8_t *p, size_t n, int skip, uint64_t now) {
  while (n > 0) {
    uint64_t k = skip ? np_h2_conn_skippable(h2) : 0;
    if (k == 0) return np_h2_conn_recv(h2, p, n, now);
    size_t m = k < n ? (size_t)k : n;
    int rc = np_h2_conn_skip(h2, m, now);
    CHECK(rc != NP_E_BADARG);
    if (rc < 0) return rc;
    CHECK(np_h2_conn_skippable(h2) == 0 || np_h2_conn_skippable(h2) == k - m);
    p += m;
    n -= m;
  }
  return 0;
}

/* A GOAWAY sent for a protocol error always has a reason, and it is one
 * the metrics know. */
static void check_reason(np_h2_conn *h2, int failed) {
  const char *r = np_h2_conn_goaway_reason(h2);
  if (!r) {
    CHECK(!failed);
    return;
  }
  int known = 0;
  for (const char *const *k = np_h2_goaway_reasons; *k; k++) known |= strcmp(*k, r) == 0;
  CHECK(known);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int init;
  if (!init) {
    for (size_t i = 0; i < PAYLOAD; i++) payload[i] = (uint8_t)(i * 7u);
    init = 1;
  }
  if (size < 2) return 0;
  uint8_t mode = data[0], split = data[1];
  data += 2;
  size -= 2;
  app a = {.large_len = (mode & 0x80) ? UINT64_MAX : (uint64_t)(mode & 0x0f) << 14};
  np_h2_config cfg;
  np_h2_config_default(&cfg);
  cfg.payload = np_slice_make(payload, sizeof payload);
  cfg.out_high = 16u << 10;
  if (mode & 0x40) cfg.max_streams_total = 4;
  CHECK(np_h2_conn_new(&a.h2, &cfg, &cb, &a) == 0);
  /* Most inputs get the preface for free, so the fuzzer spends its time on
   * frames; some must find their own way past it. */
  uint64_t now = 1;
  if (!(mode & 0x20))
    (void)np_h2_conn_recv(a.h2, (const uint8_t *)NP_H2_PREFACE, NP_H2_PREFACE_LEN, now);
  size_t chunk = split ? split : size;
  size_t room = (size_t)(mode & 0x10 ? 100 : 1u << 20);
  for (size_t off = 0; off < size; off += chunk) {
    size_t n = size - off < chunk ? size - off : chunk;
    now += 1000000;
    int rc = give(a.h2, data + off, n, split & 0x80, now);
    drain(a.h2, room, now);
    check_reason(a.h2, rc == NP_E_PROTO);
    if (rc < 0) {
      CHECK(rc == NP_E_PROTO || rc == -ENOMEM);
      break;
    }
  }
  if (mode & 0x08) (void)np_h2_conn_shutdown(a.h2);
  drain(a.h2, 1u << 20, now);
  check_reason(a.h2, 0);
  (void)np_h2_conn_done(a.h2);
  np_h2_conn_free(a.h2);
  return 0;
}
