/* The server connection's guard against frames a peer sends for free (each
 * costs the server a trip through nghttp2, and the peer 9 to 17 bytes), and
 * the reason of every GOAWAY the connection sends. */
#include <nghttp2/nghttp2.h>
#include <stddef.h>

#include "core/clock.h"
#include "h2/server_internal.h"

/* ---- WINDOW_UPDATE: bounded by the credit there is to return -------------
 *
 * A receiver returns flow-control credit for the DATA it was sent, so the
 * WINDOW_UPDATEs of an honest peer follow the DATA this side sends, not the
 * clock. A budget per second (1000 plus 2 per DATA frame, until issue 16)
 * cut a Go client off at ~65 Mbit/s on one connection, whatever the RTT,
 * and killed connections whose credit for one second arrived in the next.
 *
 * How many per byte? RFC 9113 lets a receiver return credit for the stream
 * and the connection after every octet it reads: that bounds nothing, and
 * no stack does it. Measured per 16 KiB DATA frame from this server (issue
 * 16; tests/unit/test_h2_server.c replays Go's rule: 3.97):
 *   - Go x/net >= 0.5 (Go >= 1.20; the 0.7.0 that goresponsiveness vendors
 *     and Debian 12 ships): 3.98-4.00, at 8 KiB body reads;
 *   - Go 1.19's bundled stack: 1.99; Node and nghttp (nghttp2, credit at
 *     half the window): 1.00; curl (nghttp2, a large window): almost none.
 * Go's rule (x/net http2/flow.go, inflow.add) is the finest: credit goes
 * back, for the stream and the connection apart, once 4 KiB of it are
 * unsent, or sooner when it at least doubles the window the sender has
 * left. So at most 2 updates per 4 KiB read, whatever the read size, plus
 * a ramp while a window is nearly used up: reading 1 byte at a time it
 * returns 1, 1, 2, 4 ... 2048 bytes, 13 updates until 4 KiB are open.
 * That window only gets that low after a DATA frame that left the
 * sender's view of it under 4 KiB (the receiver's view is never smaller:
 * its credit in flight is the difference).
 *
 * Hence the rule: a DATA frame of n payload bytes earns 2 x ceil(n / 4 KiB)
 * updates (a 16 KiB frame 8, a 1 MiB frame 512, a 1-byte probe body 2),
 * and 13 more for each of its stream's and the connection's windows it
 * leaves under 4 KiB. Each stream opened earns 2 (a receiver may raise a
 * new stream's window at once, and return the connection's credit for a
 * body it stops reading); window_update_slack (1000) covers the rest: the
 * connection window raised at the start, and credit for the answers to
 * uploads. Uploads need nothing earned: their DATA comes from the peer and
 * the WINDOW_UPDATEs from this side. All counted over the connection's
 * life, never reset: credit returned late is still credit, at any rate.
 * Go x/net 0.7.0's client, io.Copy(io.Discard) of the large object on 4
 * h2c connections over loopback (6.3 Gbit/s, ~1 GB each): each used
 * 42-46 % of what it had earned; the old budget cut it off after 8.5 MB.
 *
 * What a hostile peer gets: with nothing downloaded, the slack plus 2 per
 * stream (streams are capped by max_streams_total); after a download with
 * open windows, one 13-byte frame for every 2 KiB this side sent; with
 * windows it keeps nearly shut, at most 28 per DATA frame it made this
 * side build. What a flood costs the server stays in proportion to the
 * download it already served. Credit banked may be spent in a burst: the
 * bound is the same. */
#define WU_QUANTUM 4096  /* Go's inflowMinRefresh: the finest any stack batches */
#define WU_PER_QUANTUM 2 /* the stream's update and the connection's */
#define WU_RAMP 13       /* updates reopening a window from 0 to 4 KiB by doubling */
#define WU_PER_STREAM 2

void np_h2_guard_earn(np_h2_conn *c, const stream *st, size_t n) {
  if (n == 0) return;
  uint64_t e = WU_PER_QUANTUM * (((uint64_t)n + WU_QUANTUM - 1) / WU_QUANTUM);
  if ((int64_t)st->win_stream - (int64_t)n < WU_QUANTUM) e += WU_RAMP;
  if ((int64_t)st->win_conn - (int64_t)n < WU_QUANTUM) e += WU_RAMP;
  c->wu_earned += e;
}

static int window_update_ok(np_h2_conn *c) {
  uint64_t allowed =
      (uint64_t)c->cfg.window_update_slack + c->wu_earned + (uint64_t)WU_PER_STREAM * c->streams;
  return ++c->wu_count <= allowed;
}

/* ---- frames that carry nothing: a budget per second -----------------------
 * SETTINGS, PING (ACKs too: this side sends no PING), PRIORITY, empty DATA
 * without END_STREAM, and GOAWAY share max_control_per_s; honest peers
 * send a handful per connection. The kind sent most this second names the
 * flood. RST_STREAM has its own, smaller budget and earns nothing: a
 * stream opened and reset over and over (CVE-2023-44487) costs the server
 * a stream each time. */
enum { K_SETTINGS, K_PING, K_PRIORITY, K_EMPTY_DATA, K_OTHER };

static const char *const kind_flood[NP_H2_CTL_KINDS] = {
    "settings_flood", "ping_flood", "priority_flood", "empty_data_flood", "other_frame_flood"};

static void next_second(np_h2_conn *c) {
  if (c->now - c->ctl_window < NP_NS_PER_S) return;
  c->ctl_window = c->now;
  for (int k = 0; k < NP_H2_CTL_KINDS; k++) c->ctl_count[k] = 0;
  c->rst_count = 0;
}

/* The kind sent most this second (-1: none), and the total in *ret_total. */
static int most_sent(const np_h2_conn *c, uint64_t *ret_total) {
  uint64_t total = 0;
  int most = -1;
  for (int k = 0; k < NP_H2_CTL_KINDS; k++) {
    total += c->ctl_count[k];
    if (c->ctl_count[k] > 0 && (most < 0 || c->ctl_count[k] > c->ctl_count[most])) most = k;
  }
  *ret_total = total;
  return most;
}

/* NULL, or the flood's token once the second's budget is spent. */
static const char *cheap_frame(np_h2_conn *c, int kind) {
  next_second(c);
  c->ctl_count[kind]++;
  uint64_t total;
  int most = most_sent(c, &total);
  return total <= c->cfg.max_control_per_s ? NULL : kind_flood[most];
}

/* NULL, or the token of the flood the frame hd belongs to. */
static const char *guard(np_h2_conn *c, const nghttp2_frame_hd *hd) {
  switch (hd->type) {
  case NGHTTP2_WINDOW_UPDATE:
    return window_update_ok(c) ? NULL : "window_update_flood";
  case NGHTTP2_RST_STREAM:
    next_second(c);
    return ++c->rst_count <= c->cfg.max_resets_per_s ? NULL : "rst_flood";
  case NGHTTP2_SETTINGS:
    return cheap_frame(c, K_SETTINGS);
  case NGHTTP2_PING:
    return cheap_frame(c, K_PING);
  case NGHTTP2_PRIORITY:
    return cheap_frame(c, K_PRIORITY);
  case NGHTTP2_DATA:
    /* DATA with payload is flow-controlled; END_STREAM ends a stream. */
    if (hd->length > 0 || (hd->flags & NGHTTP2_FLAG_END_STREAM)) return NULL;
    return cheap_frame(c, K_EMPTY_DATA);
  case NGHTTP2_GOAWAY:
    return cheap_frame(c, K_OTHER);
  default:
    return NULL; /* HEADERS and CONTINUATION have caps of their own */
  }
}

int np_h2_guard_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *ud) {
  np_h2_conn *c = ud;
  const char *flood = guard(c, hd);
  if (!flood) return 0;
  np_h2_note_goaway(c, flood, NGHTTP2_ENHANCE_YOUR_CALM);
  c->goaway = 1;
  (void)nghttp2_session_terminate_session(s, NGHTTP2_ENHANCE_YOUR_CALM);
  return NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* ---- why each GOAWAY was sent ----------------------------------------------- */

const char *const np_h2_goaway_reasons[] = {
    /* decided here */
    "window_update_flood", "settings_flood", "ping_flood", "priority_flood", "empty_data_flood",
    "other_frame_flood", "rst_flood", "stream_limit", "shutdown", "idle",
    /* nghttp2 refused the peer's bytes (np_h2_conn_recv) */
    "ack_flood", "header_list", "bad_preface",
    /* GOAWAYs nghttp2 made itself, by error code */
    "protocol_error", "internal_error", "flow_control_error", "stream_closed", "frame_size_error",
    "compression_error", "enhance_your_calm", "other_error", NULL};

void np_h2_note_goaway(np_h2_conn *c, const char *reason, uint32_t error_code) {
  if (c->goaway_reason && (c->goaway_for_error || error_code == NGHTTP2_NO_ERROR)) return;
  c->goaway_reason = reason;
  c->goaway_for_error = error_code != NGHTTP2_NO_ERROR;
}

static const char *error_token(uint32_t code) {
  switch (code) {
  case NGHTTP2_NO_ERROR:
    return "shutdown";
  case NGHTTP2_PROTOCOL_ERROR:
    return "protocol_error";
  case NGHTTP2_INTERNAL_ERROR:
    return "internal_error"; /* nghttp2's own rapid-reset limit among others */
  case NGHTTP2_FLOW_CONTROL_ERROR:
    return "flow_control_error";
  case NGHTTP2_STREAM_CLOSED:
    return "stream_closed";
  case NGHTTP2_FRAME_SIZE_ERROR:
    return "frame_size_error";
  case NGHTTP2_COMPRESSION_ERROR:
    return "compression_error";
  case NGHTTP2_ENHANCE_YOUR_CALM:
    return "enhance_your_calm";
  default:
    return "other_error";
  }
}

const char *np_h2_recv_error_reason(const np_h2_conn *c, ssize_t n) {
  uint64_t total;
  int most;
  switch (n) {
  case NGHTTP2_ERR_FLOODED:
    /* PING or SETTINGS whose ACKs the peer leaves unread (nghttp2 holds
     * max_outbound_ack): usually well inside the second's budget, so
     * named after what filled it. */
    most = most_sent(c, &total);
    return most >= 0 ? kind_flood[most] : "ack_flood";
  case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
    return "header_list"; /* a header block in more pieces than max_header_list needs */
  case NGHTTP2_ERR_BAD_CLIENT_MAGIC:
    return "bad_preface";
  case NGHTTP2_ERR_HEADER_COMP:
    return "compression_error";
  default:
    return "protocol_error";
  }
}

/* GOAWAYs nghttp2 queued on its own (a protocol error it found in the
 * peer's bytes) are known here, as they leave. */
int np_h2_guard_frame_sent(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  np_h2_conn *c = ud;
  (void)s;
  if (f->hd.type == NGHTTP2_GOAWAY)
    np_h2_note_goaway(c, error_token(f->goaway.error_code), f->goaway.error_code);
  return 0;
}

const char *np_h2_conn_goaway_reason(const np_h2_conn *c) { return c->goaway_reason; }
