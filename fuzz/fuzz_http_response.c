/* Fuzzes the response head parser and body framing: head invariants, and
 * that the body decoded in pieces equals the body decoded at once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "http/request.h"

#define CHECK(x)                                                                                   \
  do {                                                                                             \
    if (!(x)) abort();                                                                             \
  } while (0)

#define BODY_MAX 4096

typedef struct {
  int rc;          /* last error, or 0 */
  size_t consumed; /* framing bytes consumed */
  size_t body_len;
  uint8_t body[BODY_MAX];
  int done;
} result;

/* Feeds in[0..len) in pieces whose sizes come from sizes[] (0 = all at once),
 * keeping unconsumed bytes pending the way a socket reader would. */
static void feed(np_http_body *b, const uint8_t *in, size_t len, const uint8_t *sizes,
                 size_t nsizes, result *res) {
  uint8_t *pend = malloc(len ? len : 1);
  if (!pend) abort();
  size_t plen = 0, pos = 0, k = 0;
  memset(res, 0, sizeof *res);
  while (pos < len && !np_http_body_done(b)) {
    size_t piece = nsizes ? 1 + (size_t)(sizes[k++ % nsizes] % 16) : len;
    if (piece > len - pos) piece = len - pos;
    memcpy(pend + plen, in + pos, piece);
    plen += piece;
    pos += piece;
    size_t blen = 99;
    int rc = np_http_body_read(b, pend, plen, &blen);
    if (rc < 0) {
      CHECK(rc == NP_E_PROTO || rc == NP_E_TOOBIG);
      res->rc = rc;
      break;
    }
    CHECK((size_t)rc <= plen && blen <= (size_t)rc);
    CHECK(res->body_len + blen <= BODY_MAX);
    memcpy(res->body + res->body_len, pend, blen);
    res->body_len += blen;
    res->consumed += (size_t)rc;
    /* Until the body is done, everything offered is consumed. */
    if (!np_http_body_done(b)) CHECK((size_t)rc == plen);
    memmove(pend, pend + rc, plen - (size_t)rc);
    plen -= (size_t)rc;
  }
  CHECK(b->total == res->body_len || res->rc);
  CHECK(b->total <= BODY_MAX);
  res->done = np_http_body_done(b);
  free(pend);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4 * NP_HTTP_MAX_HEAD) return 0;
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy) abort();
  memcpy(copy, data, size);
  np_http_response r;
  int head = np_http_parse_response(copy, size, &r);
  CHECK(head >= 0 || head == NP_E_PROTO || head == NP_E_HEADERS_TOOBIG ||
        head == NP_E_HTTP_VERSION);
  if (head > 1) {
    np_http_response r2;
    CHECK(np_http_parse_response(copy, (size_t)head - 1, &r2) == 0);
  }
  if (head <= 0) {
    free(copy);
    return 0;
  }
  CHECK((size_t)head <= size && head <= NP_HTTP_MAX_HEAD);
  CHECK(r.status >= 100 && r.status <= 599);
  CHECK(r.minor_version == 0 || r.minor_version == 1);
  CHECK(r.nheaders <= NP_HTTP_MAX_HEADERS);

  np_http_body b1, b2;
  int rc = np_http_body_init(&b1, &r, BODY_MAX);
  CHECK(rc == 0 || rc == NP_E_PROTO || rc == NP_E_TOOBIG);
  if (rc == 0) {
    CHECK(np_http_body_init(&b2, &r, BODY_MAX) == 0);
    const uint8_t *body = data + head;
    size_t blen = size - (size_t)head;
    static result whole, split;
    feed(&b1, body, blen, NULL, 0, &whole);
    feed(&b2, body, blen, data, (size_t)head, &split);
    CHECK(whole.rc == split.rc);
    if (whole.rc == 0) {
      CHECK(whole.consumed == split.consumed);
      CHECK(whole.body_len == split.body_len);
      CHECK(memcmp(whole.body, split.body, whole.body_len) == 0);
      CHECK(whole.done == split.done);
      int eof = np_http_body_eof(&b1);
      CHECK(eof == 0 || eof == NP_E_PROTO);
      if (whole.done) CHECK(eof == 0);
    } else {
      size_t dummy;
      uint8_t x = 0;
      CHECK(np_http_body_read(&b1, &x, 1, &dummy) == whole.rc);
      CHECK(np_http_body_eof(&b1) == NP_E_PROTO);
    }
  }
  free(copy);
  return 0;
}
