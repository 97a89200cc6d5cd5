/* Internal to src/h2/: the server connection's state, shared by server.c
 * (nghttp2 callbacks, lifecycle, responses), server_out.c (the output
 * queue) and server_scan.c (DATA payload that may be dropped unread). */
#ifndef NP_H2_SERVER_INTERNAL_H
#define NP_H2_SERVER_INTERNAL_H

#include <nghttp2/nghttp2.h>

#include "core/buf.h"
#include "h2/server.h"
#include "h2/server_scan.h"

#define SEG_MAX 256            /* queued output segments */
#define CTL_COMPACT (64 << 10) /* copied bytes written before compacting */

typedef struct {
  const uint8_t *ref; /* NULL: bytes at off in ctl */
  size_t off;
  size_t len;
} seg;

typedef struct stream {
  struct stream *prev, *next; /* the connection's live streams */
  int32_t id;
  int answered;
  int reported; /* on_request ran: on_stream_close will too */
  int first_byte_sent;
  uint32_t header_bytes;
  uint64_t remaining; /* body bytes still to send; UINT64_MAX = no end */
  uint8_t *body;      /* copied small body */
  size_t body_len;
  size_t body_off;
  uint64_t sent;
  uint64_t received;
  /* pseudo-headers of the request being read */
  np_buf hdr;
  size_t method_off, method_len, path_off, path_len, auth_off, auth_len, scheme_off, scheme_len;
  int has_authority;
  int discard; /* the application does not read the body */
} stream;

struct np_h2_conn {
  nghttp2_session *s;
  np_h2_config cfg;
  const np_h2_callbacks *cb;
  void *ud;
  uint64_t now;
  int failed;          /* a fatal error: only what is queued is written */
  int goaway;          /* this side has queued a GOAWAY for an error */
  struct stream *live; /* streams with state, for free */
  uint32_t streams;    /* opened in the connection's life */
  uint64_t ctl_window; /* start of the current control-frame second */
  uint32_t ctl_count;
  uint32_t rst_count;  /* RST_STREAM frames this second */
  uint32_t ctl_earned; /* DATA frames sent this second: each may draw a
                          WINDOW_UPDATE or two from an honest peer */
  size_t payload_off;  /* where the next streamed slice starts */
  size_t frame_max;    /* largest streamed DATA frame now (np_h2_conn_set_frame_max) */
  size_t stage_limit;  /* bytes staged before frames wait: out_high or what the
                          current np_h2_conn_pull asks for, the smaller */
  /* output queue: segments in order, head..tail */
  seg segs[SEG_MAX];
  size_t seg_head, seg_count;
  size_t queued;
  np_buf ctl;      /* copied bytes the segments point into */
  np_h2_scan scan; /* where the client's bytes are, frame-wise */
};

static inline stream *np_h2_stream_of(np_h2_conn *c, int32_t id) {
  return nghttp2_session_get_stream_user_data(c->s, id);
}

/* server_out.c: queues n bytes copied, or referenced (p stays valid). 0 or
 * -ENOBUFS (SEG_MAX segments queued) or -ENOMEM. */
int np_h2_out_copy(np_h2_conn *c, const uint8_t *p, size_t n);
int np_h2_out_ref(np_h2_conn *c, const uint8_t *p, size_t n);

#endif
