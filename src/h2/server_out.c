/* The server connection's output queue: frames nghttp2 made (copied) and
 * payload slices (referenced) in order, handed out as iovecs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "h2/server_internal.h"

int np_h2_out_copy(np_h2_conn *c, const uint8_t *p, size_t n) {
  if (n == 0) return 0;
  if (c->seg_count == SEG_MAX) return -ENOBUFS;
  size_t off = c->ctl.len;
  int rc = np_buf_append(&c->ctl, p, n);
  if (rc < 0) return rc;
  seg *last = c->seg_count ? &c->segs[(c->seg_head + c->seg_count - 1) % SEG_MAX] : NULL;
  if (last && !last->ref && last->off + last->len == off) {
    last->len += n; /* adjacent copies merge into one segment */
  } else {
    seg *sg = &c->segs[(c->seg_head + c->seg_count) % SEG_MAX];
    *sg = (seg){NULL, off, n};
    c->seg_count++;
  }
  c->queued += n;
  return 0;
}

int np_h2_out_ref(np_h2_conn *c, const uint8_t *p, size_t n) {
  if (n == 0) return 0;
  seg *last = c->seg_count ? &c->segs[(c->seg_head + c->seg_count - 1) % SEG_MAX] : NULL;
  if (last && last->ref && last->ref + last->len == p) {
    last->len += n; /* consecutive pre-framed frames: one piece to write */
    c->queued += n;
    return 0;
  }
  if (c->seg_count == SEG_MAX) return -ENOBUFS;
  seg *sg = &c->segs[(c->seg_head + c->seg_count) % SEG_MAX];
  *sg = (seg){p, 0, n};
  c->seg_count++;
  c->queued += n;
  return 0;
}

/* A client that never raises SETTINGS_MAX_FRAME_SIZE (Go's x/net, hence
 * goresponsiveness) gets 16 KiB DATA frames, each a 9-byte header copied
 * here and a payload slice referenced. The TLS transport then finds no
 * full record in place (a 9-byte piece, then 16384 bytes misaligned by
 * 9) and copies every record to gather it: a memcpy of every byte sent,
 * which ndt7's 1 MiB messages never pay. Every full frame of one stream
 * has the same header, so FRAMED_SLOTS frames, headers and payload, are
 * written once; consecutive frames are consecutive memory (np_h2_out_ref
 * merges them), and SSL_write takes 64 KiB of them in place: one record
 * in FRAMED_SLOTS + 1 is still gathered, where the ring wraps. The buffer
 * never changes once built (the conn's queue references it until it
 * closes), so one stream per connection uses it: goresponsiveness's load
 * connections carry one large download each. Cost: FRAMED_SLOTS *
 * FRAMED_SLOT bytes (128 KiB) per connection that has such a stream. */
int np_h2_out_framed(np_h2_conn *c, const uint8_t *framehd, size_t length) {
  if (length != FRAMED_LEN || c->cfg.payload.len < FRAMED_LEN) return 0;
  if (!c->framed) {
    if (framehd[4] != 0) return 0; /* END_STREAM: the last frame */
    c->framed = malloc((size_t)FRAMED_SLOTS * FRAMED_SLOT);
    if (!c->framed) return 0; /* the copying path still works */
    size_t span = c->cfg.payload.len - FRAMED_LEN;
    for (size_t i = 0; i < FRAMED_SLOTS; i++) {
      uint8_t *slot = c->framed + i * FRAMED_SLOT;
      memcpy(slot, framehd, 9);
      /* Slices of the payload as random as it is; they repeat every
       * FRAMED_SLOTS frames, which a TLS stream cannot exploit. */
      memcpy(slot + 9, c->cfg.payload.ptr + (span ? (i * FRAMED_LEN) % span : 0), FRAMED_LEN);
    }
  }
  if (memcmp(c->framed, framehd, 9) != 0) return 0; /* another stream, or its last frame */
  if (c->seg_count + 1 > SEG_MAX) return -ENOBUFS;
  int rc = np_h2_out_ref(c, c->framed + c->framed_next * FRAMED_SLOT, FRAMED_SLOT);
  if (rc < 0) return rc;
  c->framed_next = (c->framed_next + 1) % FRAMED_SLOTS;
  return 1;
}

/* Drops copied bytes no segment points at any more. */
static void compact_ctl(np_h2_conn *c) {
  size_t first = c->ctl.len;
  for (size_t i = 0; i < c->seg_count; i++) {
    const seg *sg = &c->segs[(c->seg_head + i) % SEG_MAX];
    if (!sg->ref) {
      first = sg->off;
      break;
    }
  }
  if (first == c->ctl.len) {
    c->ctl.len = 0;
    return;
  }
  if (first < CTL_COMPACT) return;
  np_buf_consume(&c->ctl, first);
  for (size_t i = 0; i < c->seg_count; i++) {
    seg *sg = &c->segs[(c->seg_head + i) % SEG_MAX];
    if (!sg->ref) sg->off -= first;
  }
}

/* Moves frames from nghttp2 into the queue until it holds stage_limit
 * (send_data stops a run of DATA frames there too). */
static int fill(np_h2_conn *c) {
  while (c->queued < c->stage_limit && c->seg_count + 3 <= SEG_MAX) {
    const uint8_t *p = NULL;
    ssize_t n = nghttp2_session_mem_send(c->s, &p);
    if (n < 0) return n == NGHTTP2_ERR_NOMEM ? -ENOMEM : NP_E_PROTO;
    if (n == 0) break;
    int rc = np_h2_out_copy(c, p, (size_t)n);
    if (rc < 0) return rc;
  }
  return 0;
}

int np_h2_conn_pull(np_h2_conn *c, struct iovec *iov, int max_iov, size_t max_bytes,
                    uint64_t now_ns) {
  c->now = now_ns;
  /* Stage no more than the caller takes: what stays staged is ahead of
   * any answer made later, and the caller bounds its own queue in time. */
  c->stage_limit = max_bytes < c->cfg.out_high ? max_bytes : c->cfg.out_high;
  int rc = fill(c);
  if (rc < 0) {
    c->failed = 1;
    if (c->seg_count == 0) return rc;
  }
  int k = 0;
  size_t total = 0;
  for (size_t i = 0; i < c->seg_count && k < max_iov && total < max_bytes; i++) {
    const seg *sg = &c->segs[(c->seg_head + i) % SEG_MAX];
    size_t n = sg->len;
    if (n > max_bytes - total) n = max_bytes - total;
    iov[k].iov_base = (void *)(sg->ref ? sg->ref : c->ctl.data + sg->off);
    iov[k].iov_len = n;
    total += n;
    k++;
  }
  return k;
}

void np_h2_conn_sent(np_h2_conn *c, size_t n) {
  if (n > c->queued) n = c->queued;
  c->queued -= n;
  while (n > 0 && c->seg_count > 0) {
    seg *sg = &c->segs[c->seg_head];
    size_t k = n < sg->len ? n : sg->len;
    sg->len -= k;
    n -= k;
    if (sg->ref)
      sg->ref += k;
    else
      sg->off += k;
    if (sg->len == 0) {
      c->seg_head = (c->seg_head + 1) % SEG_MAX;
      c->seg_count--;
    }
  }
  compact_ctl(c);
}

size_t np_h2_conn_queued(const np_h2_conn *c) { return c->queued; }

int np_h2_conn_holds(const np_h2_conn *c, const void *p) {
  const uint8_t *b = p;
  return c->framed && b >= c->framed && b < c->framed + (size_t)FRAMED_SLOTS * FRAMED_SLOT;
}
