/* WebSocket over an np_conn: the shared read-and-skip loop, gathered frame
 * writes and pong coalescing. */
#include "ws/stream.h"

#include <string.h>

#include "core/error.h"
#include "core/rand.h"

/* After a skipped payload comes a frame header, often followed by more
 * payload to skip: read little more than a header first. */
#define HEADER_HINT 256

void np_ws_stream_init(np_ws_stream *w, np_conn *c, np_ws_role role, uint64_t max_message,
                       size_t max_text, int skip_binary, np_ws_stream_event_cb on_event, void *ud) {
  memset(w, 0, sizeof *w);
  w->c = c;
  w->mask = role == NP_WS_ROLE_CLIENT;
  w->skip_binary = skip_binary;
  w->on_event = on_event;
  w->ud = ud;
  np_ws_reader_init(&w->rd, role, max_message, max_text);
}

void np_ws_stream_free(np_ws_stream *w) { np_ws_reader_free(&w->rd); }

int np_ws_stream_feed(np_ws_stream *w, uint8_t *data, size_t len) {
  np_ws_event ev;
  if (!data) {
    int rc = np_ws_reader_skip(&w->rd, len, &ev);
    if (rc < 0) return rc;
    (void)w->on_event(w->ud, &ev);
    return 0;
  }
  size_t off = 0;
  int stop = 0;
  while (off < len && !stop) {
    uint64_t skippable = w->skip_binary ? np_ws_reader_skippable(&w->rd) : 0;
    if (skippable > 0) {
      /* No need to unmask payload we throw away. */
      size_t k = len - off < skippable ? len - off : (size_t)skippable;
      int rc = np_ws_reader_skip(&w->rd, k, &ev);
      if (rc < 0) return rc;
      off += k;
      stop = w->on_event(w->ud, &ev);
      continue;
    }
    int rc = np_ws_read(&w->rd, data + off, len - off, &ev);
    if (rc < 0) return rc;
    off += (size_t)rc;
    if (ev.type != NP_WS_EV_NONE) stop = w->on_event(w->ud, &ev);
    if (rc == 0 && ev.type == NP_WS_EV_NONE) break;
  }
  if (!stop && w->skip_binary) {
    uint64_t k = np_ws_reader_skippable(&w->rd);
    if (k > 0) {
      np_conn_skip(w->c, k);
      np_conn_read_hint(w->c, HEADER_HINT);
    }
  }
  return 0;
}

static int send_frame(np_ws_stream *w, int opcode, const void *p, size_t n, int ref,
                      np_conn_write_cb cb) {
  if (w->close_sent) return NP_E_CLOSED;
  uint8_t hdr[NP_WS_MAX_FRAME_HEADER];
  uint8_t masked[NP_WS_STREAM_MAX_MASKED];
  uint8_t key[4];
  if (w->mask) {
    uint64_t r = np_random_u64();
    memcpy(key, &r, sizeof key);
  }
  size_t h = np_ws_frame_header(hdr, 1, opcode, n, w->mask ? key : NULL);
  if (w->mask && !ref) {
    if (n > sizeof masked) return NP_E_TOOBIG;
    memcpy(masked, p, n);
    np_ws_mask(masked, n, key, 0);
    p = masked;
  }
  np_conn_buf bufs[2] = {{hdr, h, 0}, {p, n, ref}};
  int rc = np_conn_writev(w->c, bufs, n ? 2 : 1, cb, w);
  if (rc == 0 && opcode == NP_WS_OP_CLOSE) {
    w->close_sent = 1;
    w->pong_waiting = 0;
  }
  return rc;
}

int np_ws_stream_send(np_ws_stream *w, int opcode, const void *p, size_t n) {
  return send_frame(w, opcode, p, n, 0, NULL);
}

int np_ws_stream_send_ref(np_ws_stream *w, int opcode, const void *p, size_t n) {
  return send_frame(w, opcode, p, n, 1, NULL);
}

static void on_pong_sent(np_conn *c, void *arg, int status) {
  (void)c;
  np_ws_stream *w = arg;
  w->pong_queued = 0;
  if (status < 0 || !w->pong_waiting) return;
  w->pong_waiting = 0;
  if (send_frame(w, NP_WS_OP_PONG, w->pong, w->pong_len, 0, on_pong_sent) == 0) w->pong_queued = 1;
}

int np_ws_stream_pong(np_ws_stream *w, np_slice ping) {
  if (w->close_sent) return NP_E_CLOSED;
  size_t n = ping.len < sizeof w->pong ? ping.len : sizeof w->pong;
  if (w->pong_queued) {
    if (n) memcpy(w->pong, ping.ptr, n);
    w->pong_len = n;
    w->pong_waiting = 1;
    return 0;
  }
  int rc = send_frame(w, NP_WS_OP_PONG, ping.ptr, n, 0, on_pong_sent);
  if (rc == 0) w->pong_queued = 1;
  return rc;
}
