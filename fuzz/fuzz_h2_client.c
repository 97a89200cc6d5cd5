/* Fuzz target for the HTTP/2 client session (np_h2c): a "server"'s bytes,
 * in arbitrary chunks, into a session that has sent its preface and the
 * responsiveness client's requests (config GET, endless download, endless
 * upload, a summary POST, probes); flushed between chunks as rpm_link
 * does. Checks the callback contract, flush bounds, error texts, and that
 * a session np_h2c_recv calls alive can still make requests (a dead one
 * must fail, not be waited on). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "h2/client.h"

#define CHECK(c)                                                                                   \
  do {                                                                                             \
    if (!(c)) abort();                                                                             \
  } while (0)

#define PAYLOAD (64u << 10)
#define MAX_REQ 16
static uint8_t payload[PAYLOAD];

typedef struct {
  int32_t id;
  int status; /* last :status delivered, 0 before any */
  int closed;
  uint64_t body;
} req;

typedef struct {
  np_h2c *h;
  req reqs[MAX_REQ];
  int nreq;
  uint64_t body; /* sum of on_body */
  int in_flush;
  size_t flush_max, flushed;
  int overshot;        /* a frame was written past flush_max in this flush */
  size_t write_budget; /* the write callback fails past this (a socket error) */
  size_t written;
} app;

static req *find(app *a, int32_t id, void *sud) {
  req *r = sud;
  CHECK(r >= a->reqs && r < a->reqs + a->nreq);
  CHECK(r->id == id && !r->closed);
  return r;
}

static int on_write(void *ud, const uint8_t *copy, size_t ncopy, const uint8_t *ref, size_t nref) {
  app *a = ud;
  CHECK(ncopy == 0 || copy);
  if (nref) {
    /* Upload bodies are references into the payload, never past it, and
     * no larger than the flush allows (16 KiB at least). */
    CHECK(ref >= payload && ref + nref <= payload + PAYLOAD);
    CHECK(ncopy == 9);
    size_t cap = a->flush_max > 16384 ? a->flush_max : 16384;
    CHECK(!a->in_flush || nref <= cap);
  }
  /* A flush stops once it wrote max_bytes: every write starts below it,
   * but for one frame that nghttp2 makes in the same step as the upload
   * DATA frame that crossed it (a copied body's or a control frame). */
  if (a->in_flush && a->flushed >= a->flush_max) {
    CHECK(nref == 0 && ncopy <= 16384 + 9 && !a->overshot);
    a->overshot = 1;
  }
  if (a->written + ncopy + nref > a->write_budget) return -1;
  a->written += ncopy + nref;
  a->flushed += ncopy + nref;
  return 0;
}

static void on_response(void *ud, int32_t id, int status, int retry_after, void *sud) {
  app *a = ud;
  req *r = find(a, id, sud);
  /* The final response, once: 1xx ones are not reported (nghttp2 checks
   * that :status has three digits). */
  CHECK(status >= 200 && status <= 999);
  CHECK(r->status == 0);
  CHECK(retry_after >= -1 && retry_after <= 999999);
  r->status = status;
}

static void on_body(void *ud, int32_t id, const uint8_t *data, size_t n, void *sud) {
  app *a = ud;
  req *r = find(a, id, sud);
  CHECK(n > 0 && data);
  CHECK(r->status >= 200); /* body only after a final response */
  r->body += n;
  a->body += n;
}

static void on_close(void *ud, int32_t id, uint32_t code, void *sud) {
  app *a = ud;
  (void)code;
  req *r = find(a, id, sud);
  r->closed = 1;
}

static const np_h2c_callbacks cb = {
    .write = on_write, .on_response = on_response, .on_body = on_body, .on_close = on_close};

/* Text that reaches a user's terminal: printable ASCII, bounded. */
static void check_text(const char *s, size_t cap) {
  if (!s) return;
  size_t n = strlen(s);
  CHECK(n < cap);
  for (size_t i = 0; i < n; i++) CHECK(s[i] >= 0x20 && s[i] < 0x7f);
}

static void check_texts(app *a) {
  uint32_t code = 0;
  check_text(np_h2c_error(a->h), 112);
  check_text(np_h2c_goaway_reason(a->h, &code), 64);
}

/* rpm_link's pump: a dead session is dropped, else flushed (a few rounds,
 * as the socket would take them). Returns < 0 when the link would end. */
static int pump(app *a, size_t max) {
  for (int round = 0; round < 4; round++) {
    if (np_h2c_dead(a->h)) return NP_E_CLOSED;
    a->in_flush = 1;
    a->flush_max = max;
    a->flushed = 0;
    a->overshot = 0;
    long long n = np_h2c_flush(a->h, max);
    a->in_flush = 0;
    if (n < 0) {
      CHECK(n == NP_E_CLOSED || n == NP_E_PROTO || n == -ENOMEM);
      return (int)n;
    }
    CHECK((size_t)n == a->flushed);
    if (!np_h2c_want_write(a->h)) break;
  }
  return 0;
}

static int request(app *a, const char *method, const char *path, const uint8_t *body, size_t len,
                   int upload) {
  if (a->nreq == MAX_REQ) return 0;
  req *r = &a->reqs[a->nreq];
  memset(r, 0, sizeof *r);
  int32_t id = np_h2c_request(a->h, method, "http", "127.0.0.1:4443", path, body, len, upload, r);
  if (id > 0) {
    CHECK(id & 1);
    for (int i = 0; i < a->nreq; i++) CHECK(a->reqs[i].id != id);
    r->id = id;
    a->nreq++;
  }
  return id;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int init;
  if (!init) {
    for (size_t i = 0; i < PAYLOAD; i++) payload[i] = (uint8_t)(i * 7u);
    init = 1;
  }
  if (size < 3) return 0;
  /* mode: 0x01 config GET, 0x02 download, 0x04 upload, 0x08 summary POST
   * (in that order: stream 1, 3, ... for the bits set); 0x10 a probe
   * before each chunk; 0x20 no SETTINGS for free; 0x40 cancel the first
   * stream after the first chunk, GOAWAY at the end; 0x80 the socket
   * fails after 4 KiB + 64 KiB x knobs bits 4-6 written. knobs: bits
   * 0-3 the flush size in KiB (0: 1 MiB), 0x80 a 64 KiB receive window
   * (else 8 MiB, as rpm_link). */
  uint8_t mode = data[0], split = data[1], knobs = data[2];
  data += 3;
  size -= 3;
  size_t budget = 4096 + (size_t)((knobs >> 4) & 7) * 65536;
  app a = {.write_budget = (mode & 0x80) ? budget : SIZE_MAX};
  uint32_t window = (knobs & 0x80) ? 65535u : 8u << 20;
  size_t flush = (knobs & 0x0f) ? (size_t)(knobs & 0x0f) * 1024 : 1u << 20;
  CHECK(np_h2c_new(&a.h, &cb, &a, np_slice_make(payload, sizeof payload), window) == 0);
  static const uint8_t summary[300] = {'{'};
  if (mode & 0x01) CHECK(request(&a, "GET", "/.well-known/nq", NULL, 0, 0) > 0);
  if (mode & 0x02) CHECK(request(&a, "GET", "/large", NULL, 0, 0) > 0);
  if (mode & 0x04) CHECK(request(&a, "POST", "/upload", NULL, 0, 1) > 0);
  if (mode & 0x08) CHECK(request(&a, "POST", "/result", summary, sizeof summary, 0) > 0);
  int alive = pump(&a, flush) == 0;
  if (alive && !(mode & 0x20)) {
    /* An empty SETTINGS and the ACK of ours: most inputs start at frames. */
    static const uint8_t hello[] = {0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0};
    CHECK(np_h2c_recv(a.h, hello, sizeof hello) == 0);
    alive = pump(&a, flush) == 0;
  }
  size_t chunk = split ? split : size;
  int failed = 0;
  for (size_t off = 0, k = 0; alive && off < size; off += chunk, k++) {
    if ((mode & 0x10) && !np_h2c_dead(a.h)) (void)request(&a, "GET", "/small", NULL, 0, 0);
    if ((mode & 0x40) && k == 1 && a.nreq > 0) (void)np_h2c_cancel(a.h, a.reqs[0].id);
    size_t n = size - off < chunk ? size - off : chunk;
    int rc = np_h2c_recv(a.h, data + off, n);
    check_texts(&a);
    CHECK(np_h2c_body_received(a.h) == a.body);
    if (rc < 0) {
      CHECK(rc == NP_E_PROTO || rc == -ENOMEM);
      /* A failed session says why, stays failed, and is not waited on. */
      CHECK(rc != NP_E_PROTO || np_h2c_error(a.h));
      CHECK(np_h2c_dead(a.h));
      CHECK(np_h2c_recv(a.h, data + off, n) == NP_E_PROTO);
      failed = 1;
      break;
    }
    /* A session called alive, whose server sent no GOAWAY, can still
     * make requests: anything else is a dead session the client would
     * wait on until its deadline. */
    uint32_t code;
    if (!np_h2c_goaway_reason(a.h, &code) && a.nreq < MAX_REQ && !(mode & 0x80)) {
      CHECK(!np_h2c_dead(a.h));
      int32_t id = request(&a, "GET", "/small", NULL, 0, 0);
      CHECK(id > 0 || id == -ENOMEM);
    }
    alive = pump(&a, flush) == 0;
    check_texts(&a);
    /* A server's breakage is found by np_h2c_recv, not left for a flush
     * to discover (rpm_link would wait on such a session). */
    if (alive) CHECK(!np_h2c_error(a.h));
  }
  if ((mode & 0x40) && !failed) {
    (void)np_h2c_goaway(a.h);
    (void)pump(&a, 1u << 20);
  }
  CHECK(np_h2c_body_received(a.h) == a.body);
  uint64_t per_stream = 0;
  for (int i = 0; i < a.nreq; i++) per_stream += a.reqs[i].body;
  CHECK(per_stream == a.body);
  np_h2c_free(a.h);
  return 0;
}
