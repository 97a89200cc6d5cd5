/* DATA payload a server connection may drop unread: the frame scanner and
 * the connection calls built on it (see server_scan.h for why nghttp2
 * keeps deciding everything). */
#include "h2/server_scan.h"

#include <string.h>

#include "core/error.h"
#include "h2/server_internal.h"

#define FRAME_DATA 0x0
#define FLAG_PADDED 0x8

void np_h2_scan_init(np_h2_scan *s) {
  memset(s, 0, sizeof *s);
  s->preface = NP_H2_PREFACE_LEN;
}

static void begin_frame(np_h2_scan *s) {
  const uint8_t *h = s->hdr;
  s->left = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
  s->data = h[3] == FRAME_DATA;
  s->stream_id =
      (int32_t)((uint32_t)(h[5] & 0x7f) << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8]);
  s->pad_byte = s->data && (h[4] & FLAG_PADDED) && s->left > 0;
  s->have = s->left ? 9 : 0; /* an empty frame ends with its header */
}

void np_h2_scan_feed(np_h2_scan *s, const uint8_t *p, size_t n) {
  while (n > 0) {
    size_t k;
    if (s->preface) {
      k = n < s->preface ? n : s->preface;
      s->preface -= (uint32_t)k;
    } else if (s->have < 9) {
      k = n < (size_t)(9 - s->have) ? n : (size_t)(9 - s->have);
      memcpy(s->hdr + s->have, p, k);
      s->have = (uint8_t)(s->have + k);
      if (s->have == 9) begin_frame(s);
    } else {
      k = n < s->left ? n : s->left;
      s->pad_byte = 0; /* k >= 1: the first payload byte went by */
      s->left -= (uint32_t)k;
      if (s->left == 0) s->have = 0;
    }
    if (p) p += k;
    n -= k;
  }
}

uint32_t np_h2_scan_skippable(const np_h2_scan *s, int32_t *ret_stream_id) {
  if (s->preface || s->have < 9 || !s->data || s->pad_byte) return 0;
  *ret_stream_id = s->stream_id;
  return s->left;
}

/* ---- the connection's side ------------------------------------------------ */

int np_h2_discard_body(np_h2_conn *c, int32_t stream_id) {
  stream *st = stream_id > 0 ? np_h2_stream_of(c, stream_id) : NULL;
  if (!st) return NP_E_BADARG;
  st->discard = 1;
  return 0;
}

uint64_t np_h2_conn_skippable(np_h2_conn *c) {
  int32_t id = 0;
  uint32_t n = c->failed ? 0 : np_h2_scan_skippable(&c->scan, &id);
  if (n == 0) return 0;
  /* Streams without state here (refused, reset) read nothing either. */
  stream *st = np_h2_stream_of(c, id);
  return !st || st->discard ? n : 0;
}

int np_h2_conn_skip(np_h2_conn *c, uint64_t n, uint64_t now_ns) {
  /* Up to 1 MiB per nghttp2 call: a call costs far more than the bytes
   * (perf of an h2c upload fed in 16 KiB pieces: nghttp2 took 15% of the
   * server's samples, 4.6% with 1 MiB pieces).
   * Never written, so it stays in .bss: reading it maps the zero page,
   * not memory of our own. */
  static uint8_t zeros[1u << 20];
  if (n > np_h2_conn_skippable(c)) return c->failed ? NP_E_PROTO : NP_E_BADARG;
  while (n > 0) {
    size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
    int rc = np_h2_conn_recv(c, zeros, k, now_ns);
    if (rc < 0) return rc;
    n -= k;
  }
  return 0;
}
