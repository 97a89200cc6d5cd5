/* A WebSocket endpoint over an np_conn, for both roles: the read loop
 * (frames parsed in place, binary payload optionally dropped unread, in the
 * kernel where the transport can), each frame sent as one gathered write,
 * and pings answered with at most one pong in flight (RFC 6455 5.5.3: only
 * the most recent unanswered ping needs an answer), so a peer that floods
 * pings and never reads costs a bounded amount of memory. */
#ifndef NP_WS_STREAM_H
#define NP_WS_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "net/conn.h"
#include "ws/frame.h"

/* Largest payload a masking (client-role) endpoint sends by copy. */
#define NP_WS_STREAM_MAX_MASKED 4096

/* Called for each event, including binary chunks dropped unread
 * (data.ptr NULL, data.len bytes). Return nonzero to stop reading: the
 * rest of the current input is then ignored. */
typedef int (*np_ws_stream_event_cb)(void *ud, const np_ws_event *ev);

typedef struct {
  np_conn *c;
  np_ws_reader rd;
  int mask;        /* client role: outgoing frames are masked */
  int skip_binary; /* drop binary payload unread */
  np_ws_stream_event_cb on_event;
  void *ud;
  int close_sent;   /* no frame may follow our close */
  int pong_queued;  /* one of our pongs is in the conn's queue */
  int pong_waiting; /* a later ping waits for that pong to leave */
  size_t pong_len;
  uint8_t pong[NP_WS_MAX_CONTROL];
} np_ws_stream;

/* role: ours (a server reads masked frames and sends unmasked ones). The
 * caps are those of np_ws_reader_init. Free with np_ws_stream_free. */
void np_ws_stream_init(np_ws_stream *w, np_conn *c, np_ws_role role, uint64_t max_message,
                       size_t max_text, int skip_binary, np_ws_stream_event_cb on_event, void *ud);
void np_ws_stream_free(np_ws_stream *w);

/* Feeds what the conn's on_data got (data NULL: len bytes the conn
 * dropped as asked). Consumes all of it. Returns 0, or a reader error
 * after which the connection must be closed with np_ws_close_code_for. */
int np_ws_stream_feed(np_ws_stream *w, uint8_t *data, size_t len);

/* Sends one frame whose payload is copied (masked in the copy for a
 * client: at most NP_WS_STREAM_MAX_MASKED bytes). After a close frame,
 * further sends return NP_E_CLOSED. Errors are np_conn_writev's. */
int np_ws_stream_send(np_ws_stream *w, int opcode, const void *p, size_t n);

/* Sends one frame whose payload is referenced, not copied (it must stay
 * valid until the conn closes). A client masks with a fresh key but sends
 * the bytes as they are: only for random payload, which the peer then
 * unmasks into other random bytes. */
int np_ws_stream_send_ref(np_ws_stream *w, int opcode, const void *p, size_t n);

/* Answers a ping: sent now, or kept (replacing any older one) until our
 * previous pong has left the queue. */
int np_ws_stream_pong(np_ws_stream *w, np_slice ping);

#endif
