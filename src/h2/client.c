/* HTTP/2 client connections: nghttp2's client session driven by bytes in
 * and a write callback out; upload bodies leave as references into the
 * shared payload, never copied. */
#include "h2/client.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define FRAME_DEFAULT 16384         /* RFC 9113 §6.5.2 initial/minimum frame size */
#define FRAME_RECV_MAX (1u << 20)   /* SETTINGS_MAX_FRAME_SIZE we advertise */
#define FRAME_SEND_MAX (1u << 20)   /* nghttp2 keeps a frame buffer this large */
#define HEADER_LIST_MAX (16u << 10) /* SETTINGS_MAX_HEADER_LIST_SIZE we advertise */

typedef struct cstream {
  struct cstream *prev, *next;
  int32_t id;
  void *ud;
  uint8_t *body; /* copied request body, or NULL */
  size_t body_len, body_off;
  int upload; /* endless body from the payload */
  int status;
  int retry_after; /* -1: none */
  int responded;   /* the final (non-1xx) response went to on_response */
} cstream;

struct np_h2c {
  nghttp2_session *s;
  const np_h2c_callbacks *cb;
  void *ud;
  np_slice payload;
  size_t payload_off;
  cstream *live;
  int failed;
  int write_failed;
  long long flushed; /* bytes handed to write in the current flush */
  size_t flush_max;  /* what the current flush may hand to write */
  int held;          /* a flush held an upload frame back (nghttp2's current item) */
  uint64_t received, sent;
  int goaway; /* the peer sent GOAWAY with goaway_code */
  uint32_t goaway_code;
  char goaway_why[64]; /* its debug data, printable ASCII only, cut */
  int local_goaway;    /* np_h2c_goaway was called: our own ending */
  size_t preface_seen; /* bytes of the server's first frame header checked */
  size_t block_bytes;  /* the header block being decoded, as RFC 9113 counts */
  int invalid_type;    /* 1 + the type of the first invalid frame nghttp2 saw, or 0 */
  char error[112];     /* why the session failed, for a user; "" */
};

static void set_error(np_h2c *h, const char *why, const char *detail) {
  if (h->error[0]) return; /* the first cause is the one to tell */
  (void)snprintf(h->error, sizeof h->error, "%s%s%s", why, detail && *detail ? ": " : "",
                 detail ? detail : "");
}

static void unlink_stream(np_h2c *h, cstream *st) {
  if (st->prev)
    st->prev->next = st->next;
  else
    h->live = st->next;
  if (st->next) st->next->prev = st->prev;
  free(st->body);
  free(st);
}

static int emit(np_h2c *h, const uint8_t *copy, size_t ncopy, const uint8_t *ref, size_t nref) {
  if (h->cb->write(h->ud, copy, ncopy, ref, nref) < 0) {
    h->write_failed = 1;
    return -1;
  }
  h->flushed += (long long)(ncopy + nref);
  return 0;
}

/* ---- nghttp2 callbacks ---------------------------------------------------- */

/* A small decimal header value, or -1. */
static int small_number(const uint8_t *v, size_t n) {
  if (n == 0 || n > 6) return -1;
  int x = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return -1;
    x = x * 10 + (v[i] - '0');
  }
  return x;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud) {
  np_h2c *h = ud;
  (void)flags;
  /* nghttp2 1.52 does not enforce the MAX_HEADER_LIST_SIZE we advertise:
   * a block of indexed references to one 4 KB table entry decodes to
   * gigabytes of fields. Counted as RFC 9113 §6.5.2 does; past it the
   * server is hostile and the whole session goes. */
  h->block_bytes += nlen + vlen + 32;
  if (h->block_bytes > HEADER_LIST_MAX) {
    set_error(h, "the server sent a response header block over 16 KiB", NULL);
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  cstream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (st && nlen == 11 && memcmp(name, "retry-after", 11) == 0)
    st->retry_after = small_number(value, vlen);
  if (nlen != 7 || memcmp(name, ":status", 7) != 0) return 0;
  if (!st || vlen != 3) return 0;
  int v = 0;
  for (size_t i = 0; i < 3; i++) {
    if (value[i] < '0' || value[i] > '9') return 0;
    v = v * 10 + (value[i] - '0');
  }
  /* nghttp2 takes any three digits; a status under 100 is no response
   * (RFC 9110 §15) and its body would belong to none (fuzz_h2_client):
   * the stream is reset, as a malformed response (RFC 9113 §8.1.1). */
  if (v < 100) {
    (void)nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_PROTOCOL_ERROR);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  st->status = v;
  return 0;
}

static const char *frame_name(uint8_t type) {
  static const char *const names[] = {"DATA",          "HEADERS",      "PRIORITY", "RST_STREAM",
                                      "SETTINGS",      "PUSH_PROMISE", "PING",     "GOAWAY",
                                      "WINDOW_UPDATE", "CONTINUATION"};
  return type < sizeof names / sizeof names[0] ? names[type] : "unknown";
}

/* A GOAWAY's debug data as text for a user: printable ASCII, cut to cap. */
static size_t printable(char *out, size_t cap, const nghttp2_goaway *g) {
  size_t n = 0;
  for (size_t i = 0; i < g->opaque_data_len && n + 1 < cap; i++) {
    uint8_t ch = g->opaque_data[i];
    out[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
  }
  out[n] = '\0';
  return n;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  ((np_h2c *)ud)->block_bytes = 0;
  /* A final response after a 1xx one must not inherit its Retry-After. */
  cstream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (st && !st->responded) st->retry_after = -1;
  return 0;
}

/* nghttp2 answers a server's protocol error by queuing a GOAWAY that
 * names it (its debug data): that text is the cause a user sees. */
static int before_send(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  np_h2c *h = ud;
  (void)s;
  if (f->hd.type != NGHTTP2_GOAWAY || f->goaway.error_code == NGHTTP2_NO_ERROR) return 0;
  char why[64];
  size_t n = printable(why, sizeof why, &f->goaway);
  /* "SETTINGS: invalid X" reads as "invalid X" (the setting names its
   * frame); without text (a WINDOW_UPDATE overflow), the frame and code. */
  const char *text = n > 10 && memcmp(why, "SETTINGS: ", 10) == 0 ? why + 10 : why;
  if (!n && h->invalid_type)
    (void)snprintf(why, sizeof why, "%s frame (%s)", frame_name(h->invalid_type - 1),
                   nghttp2_http2_strerror(f->goaway.error_code));
  set_error(h, "the server broke HTTP/2",
            why[0] ? text : nghttp2_http2_strerror(f->goaway.error_code));
  return 0;
}

static int on_invalid_frame(nghttp2_session *s, const nghttp2_frame *f, int lib_error, void *ud) {
  (void)s;
  (void)lib_error;
  np_h2c *h = ud;
  if (!h->invalid_type) h->invalid_type = f->hd.type + 1;
  return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  np_h2c *h = ud;
  if (f->hd.type == NGHTTP2_GOAWAY) {
    /* Untrusted text: kept short and printable, to be shown to a user. */
    h->goaway = 1;
    h->goaway_code = f->goaway.error_code;
    (void)printable(h->goaway_why, sizeof h->goaway_why, &f->goaway);
    return 0;
  }
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  /* Informational (1xx: 100, 103 Early Hints) blocks come first, then the
   * final response, which nghttp2 files under HCAT_HEADERS: reported is
   * the final one only, once (later blocks are trailers). */
  cstream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (!st || st->responded || st->status < 200) return 0;
  st->responded = 1;
  if (h->cb->on_response) h->cb->on_response(h->ud, st->id, st->status, st->retry_after, st->ud);
  return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud) {
  np_h2c *h = ud;
  (void)flags;
  h->received += len;
  cstream *st = nghttp2_session_get_stream_user_data(s, id);
  if (st && h->cb->on_body) h->cb->on_body(h->ud, id, data, len, st->ud);
  return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud) {
  np_h2c *h = ud;
  cstream *st = nghttp2_session_get_stream_user_data(s, id);
  if (!st) return 0;
  (void)nghttp2_session_set_stream_user_data(s, id, NULL);
  void *sud = st->ud;
  unlink_stream(h, st);
  if (h->cb->on_close) h->cb->on_close(h->ud, id, error_code, sud);
  return 0;
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *ud) {
  np_h2c *h = ud;
  (void)s;
  (void)id;
  cstream *st = src->ptr;
  if (!st->upload) {
    size_t n = st->body_len - st->body_off;
    if (n > length) n = length;
    if (n) memcpy(buf, st->body + st->body_off, n);
    st->body_off += n;
    h->sent += n;
    if (st->body_off == st->body_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
  }
  /* Endless upload: the frame is cut from the payload in send_data. */
  if (length > h->payload.len) length = h->payload.len;
  *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  return (ssize_t)length;
}

/* Endless uploads leave in frames as large as the server allows (up to
 * the payload) and the current flush may write: a server pays per frame,
 * and 16 KiB frames cost it several times what 1 MiB WebSocket messages
 * do, but a frame is ahead of every request made after it, and the
 * caller sizes its flushes to a few ms of the link's rate. Copied bodies
 * keep 16 KiB frames, so nghttp2 never grows its frame buffer for them. */
static ssize_t frame_length(nghttp2_session *s, uint8_t type, int32_t id, int32_t conn_window,
                            int32_t stream_window, uint32_t peer_max, void *ud) {
  np_h2c *h = ud;
  (void)type;
  (void)conn_window; /* nghttp2 applies the windows to what this returns */
  (void)stream_window;
  cstream *st = nghttp2_session_get_stream_user_data(s, id);
  size_t n = FRAME_DEFAULT;
  if (st && st->upload) {
    size_t cap = h->flush_max > FRAME_DEFAULT ? h->flush_max : FRAME_DEFAULT;
    n = peer_max < h->payload.len ? peer_max : h->payload.len;
    if (n > cap) n = cap;
  }
  if (n > FRAME_SEND_MAX) n = FRAME_SEND_MAX;
  return (ssize_t)n;
}

static int send_data(nghttp2_session *s, nghttp2_frame *f, const uint8_t *framehd, size_t length,
                     nghttp2_data_source *src, void *ud) {
  np_h2c *h = ud;
  (void)s;
  (void)src;
  /* One nghttp2_session_mem_send goes on making DATA frames for as long
   * as this takes them: without this bound a flush wrote the server's
   * whole window (16 MiB), and a probe's request queued behind it. */
  if ((size_t)h->flushed >= h->flush_max) {
    h->held = 1;
    return NGHTTP2_ERR_WOULDBLOCK;
  }
  if (f->data.padlen > 0 || length > h->payload.len) return NGHTTP2_ERR_CALLBACK_FAILURE;
  if (h->payload_off + length > h->payload.len) h->payload_off = 0;
  const uint8_t *ref = h->payload.ptr + h->payload_off;
  h->payload_off += length;
  h->sent += length;
  return emit(h, framehd, 9, ref, length) < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

/* ---- lifecycle ------------------------------------------------------------ */

int np_h2c_new(np_h2c **ret, const np_h2c_callbacks *cb, void *ud, np_slice payload,
               uint32_t window) {
  if (!cb || !cb->write || payload.len < (16u << 10) || window < 65535 || window > INT32_MAX)
    return NP_E_BADARG;
  np_h2c *h = calloc(1, sizeof *h);
  if (!h) return -ENOMEM;
  h->cb = cb;
  h->ud = ud;
  h->payload = payload;
  nghttp2_session_callbacks *cbs = NULL;
  nghttp2_option *opt = NULL;
  int rc = -ENOMEM;
  if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0) goto out;
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
  nghttp2_session_callbacks_set_before_frame_send_callback(cbs, before_send);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, on_invalid_frame);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
  nghttp2_session_callbacks_set_send_data_callback(cbs, send_data);
  nghttp2_session_callbacks_set_data_source_read_length_callback(cbs, frame_length);
  nghttp2_option_set_no_closed_streams(opt, 1);
  /* A server's header block is bounded like ours; pushes are refused. */
  nghttp2_option_set_max_settings(opt, 16);
  nghttp2_option_set_max_outbound_ack(opt, 100);
  nghttp2_option_set_max_continuations(opt, 4);
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
  if (nghttp2_session_client_new2(&h->s, cbs, h, opt) != 0) goto out;
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 16u << 10},
      /* Large download frames: DATA payload goes to on_data_chunk as it
       * arrives, nghttp2 buffers none of it (only a GOAWAY's debug data,
       * up to this size, once). */
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, FRAME_RECV_MAX},
  };
  rc = NP_E_BADARG;
  if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0) goto out;
  /* SETTINGS cannot raise the connection window: a WINDOW_UPDATE does. */
  if (nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0, (int32_t)window) != 0)
    goto out;
  rc = 0;
out:
  nghttp2_session_callbacks_del(cbs);
  nghttp2_option_del(opt);
  if (rc < 0) {
    np_h2c_free(h);
    return rc;
  }
  *ret = h;
  return 0;
}

void np_h2c_free(np_h2c *h) {
  if (!h) return;
  while (h->live) unlink_stream(h, h->live);
  if (h->s) nghttp2_session_del(h->s);
  free(h);
}

/* RFC 9113 §3.4: the server's preface is a SETTINGS frame, first. An
 * HTTP/1.1 answer ("HTTP/1.1 400") fails here, named for what it is. */
static int check_preface(np_h2c *h, const uint8_t *data, size_t len) {
  for (size_t i = 0; h->preface_seen < 9 && i < len; i++, h->preface_seen++) {
    if (h->preface_seen == 3 && data[i] != NGHTTP2_SETTINGS) {
      set_error(h, "the server does not speak HTTP/2", NULL);
      return -1;
    }
  }
  return 0;
}

/* Makes the frames queued ahead of any DATA (the GOAWAY nghttp2 queued)
 * so that their cause is known now, not when the send queue has room.
 * An upload frame the last flush held back is nghttp2's current item, in
 * front of all the rest: it may go (one frame), no other upload data.
 * The queue is bounded by nghttp2's own limits (100 pending ACKs, the
 * streams we opened); the loop bound is a backstop. */
static void make_control_frames(np_h2c *h) {
  h->flushed = 0;
  /* send_data takes one frame, only as the first, and only once per
   * flush that held one back: a server's bytes never push more. */
  h->flush_max = h->held ? 1 : 0;
  for (int i = 0; i < 1024 && !h->error[0] && !h->write_failed; i++) {
    const uint8_t *p = NULL;
    ssize_t n = nghttp2_session_mem_send(h->s, &p);
    if (n <= 0 || emit(h, p, (size_t)n, NULL, 0) < 0) break;
  }
  h->held = 0;
}

int np_h2c_recv(np_h2c *h, const uint8_t *data, size_t len) {
  if (h->failed) return NP_E_PROTO;
  if (check_preface(h, data, len) < 0) {
    h->failed = 1;
    return NP_E_PROTO;
  }
  ssize_t n = nghttp2_session_mem_recv(h->s, data, len);
  if (n < 0) {
    h->failed = 1;
    if (n == NGHTTP2_ERR_NOMEM) return -ENOMEM;
    set_error(h, "the server broke HTTP/2", nghttp2_strerror((int)n));
    return NP_E_PROTO;
  }
  /* A protocol error nghttp2 answers with a GOAWAY of its own leaves
   * mem_recv succeeding and the session unable to make requests: the
   * server is not waited on any longer. After the server's own GOAWAY
   * requests are refused anyway: there, the GOAWAY nghttp2 makes (and
   * names, in before_send) is what tells a broken server from one
   * finishing its streams. Unflagged, such a session went dead on the
   * next flush and was waited on until the server spoke again. */
  if (h->local_goaway || nghttp2_session_check_request_allowed(h->s)) return 0;
  make_control_frames(h);
  if (h->goaway && !h->error[0]) return 0;
  set_error(h, "the server broke HTTP/2", NULL);
  h->failed = 1;
  return NP_E_PROTO;
}

const char *np_h2c_error(const np_h2c *h) { return h->error[0] ? h->error : NULL; }

long long np_h2c_flush(np_h2c *h, size_t max_bytes) {
  h->flushed = 0;
  h->flush_max = max_bytes;
  while ((size_t)h->flushed < max_bytes) {
    const uint8_t *p = NULL;
    ssize_t n = nghttp2_session_mem_send(h->s, &p);
    if (h->write_failed) return NP_E_CLOSED;
    if (n < 0) {
      h->failed = 1;
      return n == NGHTTP2_ERR_NOMEM ? -ENOMEM : NP_E_PROTO;
    }
    if (n == 0) break;
    if (emit(h, p, (size_t)n, NULL, 0) < 0) return NP_E_CLOSED;
  }
  return h->flushed;
}

int np_h2c_want_write(const np_h2c *h) { return !h->failed && nghttp2_session_want_write(h->s); }

const char *np_h2c_goaway_reason(const np_h2c *h, uint32_t *code) {
  if (!h->goaway) return NULL;
  *code = h->goaway_code;
  return h->goaway_why;
}

int np_h2c_dead(const np_h2c *h) {
  if (h->failed) return 1;
  return !nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s);
}

#define NV(n, v)                                                                                   \
  (nghttp2_nv) { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }

int32_t np_h2c_request(np_h2c *h, const char *method, const char *scheme, const char *authority,
                       const char *path, const uint8_t *body, size_t body_len, int stream_upload,
                       void *stream_ud) {
  if (np_h2c_dead(h)) return NP_E_CLOSED;
  cstream *st = calloc(1, sizeof *st);
  if (!st) return -ENOMEM;
  st->ud = stream_ud;
  st->upload = stream_upload;
  st->retry_after = -1;
  if (body && body_len) {
    st->body = malloc(body_len);
    if (!st->body) {
      free(st);
      return -ENOMEM;
    }
    memcpy(st->body, body, body_len);
    st->body_len = body_len;
  }
  char clen[24];
  (void)snprintf(clen, sizeof clen, "%zu", body_len);
  nghttp2_nv nv[6] = {NV(":method", method), NV(":scheme", scheme), NV(":authority", authority),
                      NV(":path", path), NV("user-agent", "netpulse")};
  size_t k = 5;
  if (st->body) nv[k++] = NV("content-length", clen);
  nghttp2_data_provider dp = {.source.ptr = st, .read_callback = read_body};
  int has_body = st->body || stream_upload;
  int32_t id = nghttp2_submit_request(h->s, NULL, nv, k, has_body ? &dp : NULL, st);
  if (id < 0) {
    free(st->body);
    free(st);
    return id == NGHTTP2_ERR_NOMEM ? -ENOMEM : NP_E_PROTO;
  }
  st->id = id;
  st->next = h->live;
  if (h->live) h->live->prev = st;
  h->live = st;
  return id;
}

int np_h2c_cancel(np_h2c *h, int32_t id) {
  return nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL) == 0 ? 0
                                                                                     : NP_E_BADARG;
}

int np_h2c_goaway(np_h2c *h) {
  h->local_goaway = 1;
  return nghttp2_session_terminate_session(h->s, NGHTTP2_NO_ERROR) == 0 ? 0 : NP_E_PROTO;
}

uint64_t np_h2c_body_received(const np_h2c *h) { return h->received; }
uint64_t np_h2c_body_sent(const np_h2c *h) { return h->sent; }
