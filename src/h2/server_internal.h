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
#define NP_H2_CTL_KINDS 5      /* frame kinds sharing the per-second budget */
#define CTL_COMPACT (64 << 10) /* copied bytes written before compacting */
#define FRAMED_LEN 16384       /* payload of a pre-framed DATA frame (RFC 9113 minimum) */
#define FRAMED_SLOTS 8         /* frames in the pre-framed buffer (server_out.c) */
#define FRAMED_SLOT (9 + FRAMED_LEN)

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
  int discard;                  /* the application does not read the body */
  int32_t win_stream, win_conn; /* the peer's windows before the DATA frame being made */
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
  /* the control-frame guard (server_guard.c) */
  uint64_t ctl_window;                 /* start of the current control-frame second */
  uint32_t ctl_count[NP_H2_CTL_KINDS]; /* frames of each kind this second */
  uint32_t rst_count;                  /* RST_STREAM frames this second */
  uint64_t wu_count;                   /* WINDOW_UPDATE frames in the connection's life */
  uint64_t wu_earned;                  /* those an honest receiver may send for the
                                          DATA sent so far */
  const char *goaway_reason;           /* np_h2_conn_goaway_reason */
  int goaway_for_error;                /* it is an error's, not a graceful one's */
  size_t payload_off;                  /* where the next streamed slice starts */
  size_t frame_max;   /* largest streamed DATA frame now (np_h2_conn_set_frame_max) */
  size_t stage_limit; /* bytes staged before frames wait: out_high or what the
                         current np_h2_conn_pull asks for, the smaller */
  /* output queue: segments in order, head..tail */
  seg segs[SEG_MAX];
  size_t seg_head, seg_count;
  size_t queued;
  np_buf ctl;      /* copied bytes the segments point into */
  np_h2_scan scan; /* where the client's bytes are, frame-wise */
  /* FRAMED_SLOTS full DATA frames of one stream, header and payload,
   * written once (np_h2_out_framed); NULL until a peer that keeps 16 KiB
   * frames gets one. */
  uint8_t *framed;
  size_t framed_next; /* the slot the next such frame uses */
};

static inline stream *np_h2_stream_of(np_h2_conn *c, int32_t id) {
  return nghttp2_session_get_stream_user_data(c->s, id);
}

/* server_out.c: queues n bytes copied, or referenced (p stays valid). 0 or
 * -ENOBUFS (SEG_MAX segments queued) or -ENOMEM. */
int np_h2_out_copy(np_h2_conn *c, const uint8_t *p, size_t n);
int np_h2_out_ref(np_h2_conn *c, const uint8_t *p, size_t n);

/* Queues a DATA frame (framehd and length bytes of payload) by reference
 * to the pre-framed buffer when it is a full FRAMED_LEN frame without
 * flags of the buffer's stream (the first such frame builds it). 1 when
 * queued, 0 when the frame is not one (the caller queues it itself), or
 * a negative error. */
int np_h2_out_framed(np_h2_conn *c, const uint8_t *framehd, size_t length);

/* server_guard.c: nghttp2's on_begin_frame and on_frame_send callbacks
 * (frames a peer sends without cost are capped; every GOAWAY gets a
 * reason). */
int np_h2_guard_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *ud);
int np_h2_guard_frame_sent(nghttp2_session *s, const nghttp2_frame *f, void *ud);

/* A DATA frame of st with n bytes of payload was made (within the
 * windows st->win_*): the WINDOW_UPDATEs an honest receiver may send for
 * it are earned. */
void np_h2_guard_earn(np_h2_conn *c, const stream *st, size_t n);

/* The reason for a GOAWAY after nghttp2_session_mem_recv failed with n. */
const char *np_h2_recv_error_reason(const np_h2_conn *c, ssize_t n);

/* This side decided on a GOAWAY with error_code for reason (static):
 * recorded unless a reason is already there (an error's beats a graceful
 * one's). */
void np_h2_note_goaway(np_h2_conn *c, const char *reason, uint32_t error_code);

#endif
