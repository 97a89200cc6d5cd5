/* Fuzz target for the RFC 6455 frame reader: both roles, random chunking and
 * skipping, checked against a one-piece reading of the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "ws/frame.h"

#define CHECK(c)                                                                                   \
  do {                                                                                             \
    if (!(c)) abort();                                                                             \
  } while (0)

/* A summary of what a reading reported, independent of chunk boundaries. */
typedef struct {
  uint64_t hash;
  uint64_t events;
  int err;
  uint64_t bin_len; /* binary message in progress */
  int closed;
} summary;

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + UINT64_C(0x9e3779b97f4a7c15) + (h << 6) + (h >> 2);
  return h * UINT64_C(0x100000001b3);
}

static uint64_t mix_bytes(uint64_t h, np_slice s) {
  for (size_t i = 0; i < s.len; i++) h = mix(h, s.ptr[i]);
  return mix(h, s.len);
}

typedef struct {
  uint64_t max_message;
  size_t max_text;
} limits;

/* Checks one event's invariants and folds it into the summary. chunk is
 * the caller's buffer the event may point into. */
static void note(summary *s, const limits *l, const np_ws_event *ev, const uint8_t *chunk,
                 size_t chunk_len) {
  CHECK(!s->closed || ev->type == NP_WS_EV_NONE);
  switch (ev->type) {
  case NP_WS_EV_NONE:
    return;
  case NP_WS_EV_BINARY:
  case NP_WS_EV_BINARY_END:
    if (ev->data.ptr)
      CHECK(ev->data.ptr >= chunk && ev->data.ptr + ev->data.len <= chunk + chunk_len);
    CHECK(ev->type == NP_WS_EV_BINARY_END || ev->data.len > 0);
    s->bin_len += ev->data.len;
    CHECK(ev->msg_len == s->bin_len);
    CHECK(s->bin_len <= l->max_message);
    if (ev->type == NP_WS_EV_BINARY) return; /* chunking differs by reading */
    s->hash = mix(mix(s->hash, 2), s->bin_len);
    s->bin_len = 0;
    break;
  case NP_WS_EV_TEXT:
    CHECK(s->bin_len == 0);
    CHECK(ev->data.len <= l->max_text && ev->msg_len == ev->data.len);
    CHECK(np_utf8_validate(0, ev->data.ptr, ev->data.len) == 0);
    s->hash = mix_bytes(mix(s->hash, 1), ev->data);
    break;
  case NP_WS_EV_PING:
  case NP_WS_EV_PONG:
    CHECK(ev->data.len <= NP_WS_MAX_CONTROL);
    s->hash = mix_bytes(mix(s->hash, (uint64_t)ev->type), ev->data);
    break;
  case NP_WS_EV_CLOSE:
    CHECK(ev->data.len <= NP_WS_MAX_CONTROL - 2);
    CHECK(ev->close_code == NP_WS_CLOSE_NO_STATUS || np_ws_close_code_valid(ev->close_code));
    CHECK(ev->close_code != NP_WS_CLOSE_NO_STATUS || ev->data.len == 0);
    CHECK(np_utf8_validate(0, ev->data.ptr, ev->data.len) == 0);
    s->hash = mix_bytes(mix(mix(s->hash, 8), ev->close_code), ev->data);
    s->closed = 1;
    break;
  default:
    CHECK(0);
  }
  s->events++;
}

static uint64_t next_rand(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

static void read_all(np_ws_role role, const limits *l, const uint8_t *in, size_t len, uint64_t seed,
                     int chunked, summary *s) {
  memset(s, 0, sizeof *s);
  np_ws_reader r;
  np_ws_reader_init(&r, role, l->max_message, l->max_text);
  size_t off = 0;
  uint64_t rng = seed | 1;
  while (off < len) {
    np_ws_event ev;
    uint64_t sk = np_ws_reader_skippable(&r);
    if (chunked && sk && (next_rand(&rng) & 1)) {
      uint64_t k = 1 + next_rand(&rng) % sk;
      if (k > len - off) k = len - off;
      CHECK(np_ws_reader_skip(&r, sk + 1, &ev) == NP_E_BADARG);
      int rc = np_ws_reader_skip(&r, k, &ev);
      CHECK(rc == 0);
      CHECK(ev.type == NP_WS_EV_BINARY || ev.type == NP_WS_EV_BINARY_END);
      CHECK(ev.data.ptr == NULL && ev.data.len == k);
      note(s, l, &ev, NULL, 0);
      off += (size_t)k;
      continue;
    }
    size_t n = len - off;
    if (chunked) {
      uint64_t v = next_rand(&rng);
      size_t want = (v & 3) == 0 ? 1 : (size_t)((v >> 8) % 64) + 1;
      if (want < n) n = want;
    }
    /* An exact-size copy so that ASan sees any read past the chunk. */
    uint8_t *chunk = malloc(n);
    CHECK(chunk != NULL);
    memcpy(chunk, in + off, n);
    size_t used = 0;
    while (used < n) {
      int rc = np_ws_read(&r, chunk + used, n - used, &ev);
      if (rc < 0) {
        CHECK(rc == NP_E_PROTO || rc == NP_E_TOOBIG || rc == NP_E_UTF8);
        CHECK(np_ws_read(&r, chunk + used, n - used, &ev) == rc); /* sticky */
        CHECK(np_ws_reader_skippable(&r) == 0);
        s->err = rc;
        free(chunk);
        goto out;
      }
      CHECK(rc > 0 && (size_t)rc <= n - used);
      note(s, l, &ev, chunk + used, (size_t)rc);
      used += (size_t)rc;
    }
    free(chunk);
    off += n;
  }
out:
  np_ws_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  np_ws_role role = (data[0] & 1) ? NP_WS_ROLE_CLIENT : NP_WS_ROLE_SERVER;
  /* Small caps reach the size checks with small inputs. */
  static const limits caps[4] = {{1 << 24, 1 << 20}, {64, 16}, {300, 300}, {1 << 16, 0}};
  const limits *l = &caps[(data[0] >> 1) & 3];
  uint64_t seed = ((uint64_t)data[1] << 8) | data[0] | ((uint64_t)size << 16);
  const uint8_t *in = data + 2;
  size_t len = size - 2;

  summary whole, pieces;
  read_all(role, l, in, len, seed, 0, &whole);
  read_all(role, l, in, len, seed, 1, &pieces);
  CHECK(whole.err == pieces.err);
  CHECK(whole.events == pieces.events);
  CHECK(whole.hash == pieces.hash);
  CHECK(whole.bin_len == pieces.bin_len);
  return 0;
}
