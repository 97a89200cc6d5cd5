/* HTTP/2 server connection: nghttp2 in memory-buffer mode, bodies cut from
 * one shared payload without copies, every peer-driven cost capped. */
#include "h2/server.h"

#include <errno.h>
#include <inttypes.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "h2/server_internal.h"

#define HEADER_OVERHEAD 32 /* RFC 9113 §6.5.2 per-field accounting */
#define MAX_RESPONSE_HEADERS 8
#define FRAME_DEFAULT 16384          /* RFC 9113 §6.5.2 initial/minimum frame size */
#define FRAME_LIMIT ((1u << 24) - 1) /* the largest SETTINGS_MAX_FRAME_SIZE */

void np_h2_config_default(np_h2_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->max_concurrent_streams = 100;
  cfg->max_streams_total = 10000;
  cfg->window = 16u << 20;
  cfg->max_header_list = 16u << 10;
  cfg->max_control_per_s = 1000;
  cfg->max_resets_per_s = 100;
  cfg->window_update_slack = 1000;
  cfg->out_high = 256u << 10;
  cfg->max_frame = 1u << 20;
}

/* ---- nghttp2 callbacks -------------------------------------------------- */

static void stream_free(np_h2_conn *c, stream *st) {
  if (!st) return;
  if (st->prev)
    st->prev->next = st->next;
  else
    c->live = st->next;
  if (st->next) st->next->prev = st->prev;
  np_buf_free(&st->hdr);
  free(st->body);
  free(st);
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  np_h2_conn *c = ud;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  if (++c->streams > c->cfg.max_streams_total) {
    /* Enough streams for one connection's life: finish gracefully. */
    np_h2_note_goaway(c, "stream_limit", NGHTTP2_NO_ERROR);
    (void)nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(s),
                                NGHTTP2_NO_ERROR, NULL, 0);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  stream *st = calloc(1, sizeof *st);
  if (!st) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  st->id = f->hd.stream_id;
  np_buf_init(&st->hdr, c->cfg.max_header_list);
  st->next = c->live;
  if (c->live) c->live->prev = st;
  c->live = st;
  if (nghttp2_session_set_stream_user_data(s, st->id, st) != 0) {
    stream_free(c, st);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return 0;
}

static int keep_pseudo(stream *st, const uint8_t *v, size_t n, size_t *off, size_t *len) {
  *off = st->hdr.len;
  *len = n;
  return np_buf_append(&st->hdr, v, n);
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud) {
  np_h2_conn *c = ud;
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  stream *st = np_h2_stream_of(c, f->hd.stream_id);
  if (!st) return 0; /* trailers of a stream we no longer track */
  uint64_t add = (uint64_t)namelen + valuelen + HEADER_OVERHEAD;
  if (st->header_bytes + add > c->cfg.max_header_list) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  st->header_bytes += (uint32_t)add;
  if (f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0; /* trailers: counted only */
  np_slice n = np_slice_make(name, namelen);
  int rc = 0;
  if (np_slice_eq(n, np_slice_cstr(":method"))) {
    rc = keep_pseudo(st, value, valuelen, &st->method_off, &st->method_len);
  } else if (np_slice_eq(n, np_slice_cstr(":path"))) {
    rc = keep_pseudo(st, value, valuelen, &st->path_off, &st->path_len);
  } else if (np_slice_eq(n, np_slice_cstr(":scheme"))) {
    rc = keep_pseudo(st, value, valuelen, &st->scheme_off, &st->scheme_len);
  } else if (np_slice_eq(n, np_slice_cstr(":authority"))) {
    rc = keep_pseudo(st, value, valuelen, &st->auth_off, &st->auth_len);
    st->has_authority = 1;
  } else if (!st->has_authority && np_slice_eq(n, np_slice_cstr("host"))) {
    rc = keep_pseudo(st, value, valuelen, &st->auth_off, &st->auth_len);
  }
  return rc < 0 ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

static np_slice part(const stream *st, size_t off, size_t len) {
  return len ? np_slice_make(st->hdr.data + off, len) : np_slice_make("", 0);
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  np_h2_conn *c = ud;
  stream *st = f->hd.stream_id ? np_h2_stream_of(c, f->hd.stream_id) : NULL;
  if (!st) return 0;
  int end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
    np_h2_request rq = {
        .stream_id = st->id,
        .method = part(st, st->method_off, st->method_len),
        .path = part(st, st->path_off, st->path_len),
        .authority = part(st, st->auth_off, st->auth_len),
        .scheme = part(st, st->scheme_off, st->scheme_len),
        .end_stream = end,
    };
    st->reported = 1;
    int rc = c->cb->on_request ? c->cb->on_request(c->ud, &rq, c->now) : -1;
    np_buf_free(&st->hdr); /* the pseudo-headers are no longer needed */
    if (rc < 0) {
      (void)nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_REFUSED_STREAM);
      return 0;
    }
  }
  if (end && (f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) && c->cb->on_request_end)
    c->cb->on_request_end(c->ud, st->id, c->now);
  return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud) {
  np_h2_conn *c = ud;
  stream *st = np_h2_stream_of(c, id);
  if (!st) return 0;
  st->received += len;
  if (c->cb->on_body && !st->discard) c->cb->on_body(c->ud, id, data, len, c->now);
  return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud) {
  np_h2_conn *c = ud;
  stream *st = np_h2_stream_of(c, id);
  if (!st) return 0;
  if (st->reported && c->cb->on_stream_close)
    c->cb->on_stream_close(c->ud, id, error_code, st->sent, st->received, c->now);
  (void)nghttp2_session_set_stream_user_data(s, id, NULL);
  stream_free(c, st);
  return 0;
}

static void first_byte(np_h2_conn *c, stream *st) {
  if (st->first_byte_sent) return;
  st->first_byte_sent = 1;
  if (c->cb->on_first_byte) c->cb->on_first_byte(c->ud, st->id, c->now);
}

/* Small bodies are copied into nghttp2's frame; streamed ones are cut from
 * the payload by send_data below. */
static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *ud) {
  np_h2_conn *c = ud;
  stream *st = src->ptr;
  if (st->body) {
    size_t n = st->body_len - st->body_off;
    if (n > length) n = length;
    memcpy(buf, st->body + st->body_off, n);
    st->body_off += n;
    st->sent += n;
    np_h2_guard_earn(c, st, n);
    if (n) first_byte(c, st);
    if (st->body_off == st->body_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
  }
  uint64_t n = st->remaining < length ? st->remaining : length;
  if (st->remaining != UINT64_MAX) st->remaining -= n;
  if (st->remaining == 0) *flags |= NGHTTP2_DATA_FLAG_EOF;
  *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  return (ssize_t)n;
}

/* Streamed bodies leave in frames as large as the peer, flow control,
 * frame_max and the payload allow: per frame the server pays a header, a
 * segment and a trip through nghttp2, so 16 KiB frames cost it (and the
 * peer) several times what 1 MiB WebSocket messages do. But a frame, once
 * made, is ahead of every answer made after it: the owner bounds
 * frame_max by the connection's rate (np_h2_conn_set_frame_max). Copied
 * bodies keep 16 KiB frames (nghttp2 would grow its buffer for nothing). */
static ssize_t frame_length(nghttp2_session *s, uint8_t type, int32_t id, int32_t conn_window,
                            int32_t stream_window, uint32_t peer_max, void *ud) {
  np_h2_conn *c = ud;
  (void)s;
  (void)type;
  /* nghttp2 applies the windows to what this returns; the guard wants
   * them too (server_guard.c). */
  stream *st = np_h2_stream_of(c, id);
  if (st) {
    st->win_stream = stream_window;
    st->win_conn = conn_window;
  }
  size_t n = FRAME_DEFAULT;
  if (st && !st->body) {
    n = peer_max < c->frame_max ? peer_max : c->frame_max;
    if (n > c->cfg.payload.len) n = c->cfg.payload.len;
  }
  return (ssize_t)n;
}

static int send_data(nghttp2_session *s, nghttp2_frame *f, const uint8_t *framehd, size_t length,
                     nghttp2_data_source *src, void *ud) {
  np_h2_conn *c = ud;
  stream *st = src->ptr;
  /* One nghttp2_session_mem_send goes on making DATA frames for as long
   * as this accepts them: without the byte bound it staged the whole
   * flow-control window (8 MiB from netpulse's client), and a small answer
   * submitted meanwhile waited for all of it (33 s at 2 Mbit/s). */
  if (f->data.padlen > 0 || c->seg_count + 2 > SEG_MAX || c->queued >= c->stage_limit)
    return NGHTTP2_ERR_WOULDBLOCK;
  int framed = np_h2_out_framed(c, framehd, length);
  if (framed < 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
  if (!framed) {
    if (np_h2_out_copy(c, framehd, 9) < 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
    size_t plen = c->cfg.payload.len;
    if (length > plen) return NGHTTP2_ERR_CALLBACK_FAILURE; /* frame_length caps it */
    if (c->payload_off + length > plen) c->payload_off = 0;
    (void)np_h2_out_ref(c, c->cfg.payload.ptr + c->payload_off, length);
    c->payload_off += length;
  }
  st->sent += length;
  if (length) first_byte(c, st);
  np_h2_guard_earn(c, st, length);
  return 0;
}

/* ---- lifecycle ------------------------------------------------------------ */

int np_h2_conn_new(np_h2_conn **ret, const np_h2_config *cfg, const np_h2_callbacks *cb, void *ud) {
  np_h2_config d;
  np_h2_config_default(&d);
  if (!cfg || !cb || cfg->payload.len < (16u << 10)) return NP_E_BADARG;
  np_h2_conn *c = calloc(1, sizeof *c);
  if (!c) return -ENOMEM;
  c->cfg = *cfg;
#define DEF(f)                                                                                     \
  if (!c->cfg.f) c->cfg.f = d.f
  DEF(max_concurrent_streams);
  DEF(max_streams_total);
  DEF(window);
  DEF(max_header_list);
  DEF(max_control_per_s);
  DEF(max_resets_per_s);
  DEF(window_update_slack);
  DEF(out_high);
  DEF(max_frame);
#undef DEF
  if (c->cfg.max_frame < FRAME_DEFAULT) c->cfg.max_frame = FRAME_DEFAULT;
  if (c->cfg.max_frame > FRAME_LIMIT) c->cfg.max_frame = FRAME_LIMIT;
  if (c->cfg.window > INT32_MAX) c->cfg.window = INT32_MAX;
  c->frame_max = c->cfg.max_frame;
  c->stage_limit = c->cfg.out_high;
  c->cb = cb;
  c->ud = ud;
  np_h2_scan_init(&c->scan);
  np_buf_init(&c->ctl, c->cfg.out_high + (1u << 20));

  nghttp2_session_callbacks *cbs = NULL;
  nghttp2_option *opt = NULL;
  int rc = -ENOMEM;
  if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0) goto out;
  nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, np_h2_guard_begin_frame);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, np_h2_guard_frame_sent);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
  nghttp2_session_callbacks_set_send_data_callback(cbs, send_data);
  nghttp2_session_callbacks_set_data_source_read_length_callback(cbs, frame_length);
  nghttp2_option_set_no_closed_streams(opt, 1);
  nghttp2_option_set_max_settings(opt, 16);
  nghttp2_option_set_max_outbound_ack(opt, 100);
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
  nghttp2_option_set_stream_reset_rate_limit(opt, 200, 50);
  nghttp2_option_set_max_continuations(opt, 4);
  nghttp2_option_set_max_send_header_block_length(opt, 16u << 10);
  if (nghttp2_session_server_new2(&c->s, cbs, c, opt) != 0) goto out;

  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->cfg.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, c->cfg.window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, c->cfg.max_header_list},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      /* Large upload frames: nghttp2 hands DATA payload to on_data_chunk
       * as it arrives and buffers none of it. The one frame it does buffer
       * whole is GOAWAY's debug data (up to max_frame - 8 bytes, once: the
       * connection ends with it), hence a bounded max_frame. */
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, c->cfg.max_frame},
  };
  rc = NP_E_BADARG;
  if (nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0) goto out;
  /* SETTINGS cannot raise the connection window: a WINDOW_UPDATE does. */
  if (nghttp2_session_set_local_window_size(c->s, NGHTTP2_FLAG_NONE, 0, (int32_t)c->cfg.window) !=
      0)
    goto out;
  rc = 0;
out:
  nghttp2_session_callbacks_del(cbs);
  nghttp2_option_del(opt);
  if (rc < 0) {
    np_h2_conn_free(c);
    return rc;
  }
  *ret = c;
  return 0;
}

void np_h2_conn_free(np_h2_conn *c) {
  if (!c) return;
  /* Per-stream state nghttp2 still points at; no callbacks run. */
  while (c->live) stream_free(c, c->live);
  if (c->s) nghttp2_session_del(c->s);
  np_buf_free(&c->ctl);
  free(c->framed);
  free(c);
}

/* ---- bytes in and out --------------------------------------------------- */

void np_h2_conn_set_frame_max(np_h2_conn *c, size_t n) {
  if (n < FRAME_DEFAULT) n = FRAME_DEFAULT;
  if (n > c->cfg.max_frame) n = c->cfg.max_frame;
  c->frame_max = n;
}

int np_h2_conn_recv(np_h2_conn *c, const uint8_t *data, size_t len, uint64_t now_ns) {
  c->now = now_ns;
  if (c->failed) return NP_E_PROTO;
  ssize_t n = nghttp2_session_mem_recv(c->s, data, len);
  if (n > 0) np_h2_scan_feed(&c->scan, data, (size_t)n);
  if (n < 0) {
    c->failed = 1;
    if (n == NGHTTP2_ERR_NOMEM) return -ENOMEM;
    /* nghttp2 queues a GOAWAY for protocol errors; make sure of one. */
    if (!c->goaway) {
      uint32_t code = n == NGHTTP2_ERR_FLOODED ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR;
      np_h2_note_goaway(c, np_h2_recv_error_reason(c, n), code);
      (void)nghttp2_session_terminate_session(c->s, code);
    }
    c->goaway = 1;
    return NP_E_PROTO;
  }
  return 0;
}

int np_h2_conn_want_write(const np_h2_conn *c) {
  return c->queued > 0 || (!c->failed && nghttp2_session_want_write(c->s));
}

int np_h2_conn_done(const np_h2_conn *c) {
  if (c->queued > 0) return 0;
  if (c->failed) return !nghttp2_session_want_write(c->s);
  return !nghttp2_session_want_read(c->s) && !nghttp2_session_want_write(c->s);
}

int np_h2_conn_shutdown(np_h2_conn *c) {
  np_h2_note_goaway(c, "shutdown", NGHTTP2_NO_ERROR);
  return nghttp2_submit_shutdown_notice(c->s) == 0 &&
                 nghttp2_session_terminate_session2(
                     c->s, nghttp2_session_get_last_proc_stream_id(c->s), NGHTTP2_NO_ERROR) == 0
             ? 0
             : NP_E_PROTO;
}

int np_h2_conn_goaway(np_h2_conn *c, const char *reason, const char *why) {
  np_h2_note_goaway(c, reason, NGHTTP2_NO_ERROR);
  return nghttp2_submit_goaway(c->s, NGHTTP2_FLAG_NONE,
                               nghttp2_session_get_last_proc_stream_id(c->s), NGHTTP2_NO_ERROR,
                               (const uint8_t *)why, strlen(why)) == 0
             ? 0
             : NP_E_PROTO;
}

/* ---- responses ------------------------------------------------------------ */

static int submit(np_h2_conn *c, stream *st, int status, const np_h2_header *hdrs, size_t nhdrs,
                  const char *content_length) {
  char code[4];
  if (status < 100 || status > 999 || nhdrs > MAX_RESPONSE_HEADERS) return NP_E_BADARG;
  (void)snprintf(code, sizeof code, "%d", status);
  nghttp2_nv nv[MAX_RESPONSE_HEADERS + 2];
  size_t k = 0;
#define NV(n, v)                                                                                   \
  nv[k++] = (nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
  NV(":status", code);
  for (size_t i = 0; i < nhdrs; i++) NV(hdrs[i].name, hdrs[i].value);
  if (content_length) NV("content-length", content_length);
#undef NV
  nghttp2_data_provider dp = {.source.ptr = st, .read_callback = read_body};
  int has_body = st->body_len > 0 || st->remaining > 0;
  int rc = nghttp2_submit_response(c->s, st->id, nv, k, has_body ? &dp : NULL);
  if (rc != 0) return rc == NGHTTP2_ERR_NOMEM ? -ENOMEM : NP_E_BADARG;
  st->answered = 1;
  return 0;
}

static stream *unanswered(np_h2_conn *c, int32_t id) {
  stream *st = id > 0 ? np_h2_stream_of(c, id) : NULL;
  return st && !st->answered ? st : NULL;
}

int np_h2_respond(np_h2_conn *c, int32_t stream_id, int status, const np_h2_header *hdrs,
                  size_t nhdrs, np_slice body) {
  stream *st = unanswered(c, stream_id);
  if (!st) return NP_E_BADARG;
  if (body.len) {
    st->body = malloc(body.len);
    if (!st->body) return -ENOMEM;
    memcpy(st->body, body.ptr, body.len);
    st->body_len = body.len;
  }
  char cl[24];
  (void)snprintf(cl, sizeof cl, "%zu", body.len);
  /* RFC 9110 8.6: no Content-Length on a 204 (a CORS preflight's answer). */
  int rc = submit(c, st, status, hdrs, nhdrs, status == 204 ? NULL : cl);
  if (rc < 0) {
    free(st->body);
    st->body = NULL;
    st->body_len = 0;
  }
  return rc;
}

int np_h2_respond_head(np_h2_conn *c, int32_t stream_id, int status, const np_h2_header *hdrs,
                       size_t nhdrs, uint64_t length) {
  stream *st = unanswered(c, stream_id);
  if (!st) return NP_E_BADARG;
  char cl[24];
  (void)snprintf(cl, sizeof cl, "%" PRIu64, length);
  return submit(c, st, status, hdrs, nhdrs, cl); /* no body queued: END_STREAM on HEADERS */
}

int np_h2_respond_stream(np_h2_conn *c, int32_t stream_id, int status, const np_h2_header *hdrs,
                         size_t nhdrs, uint64_t length) {
  stream *st = unanswered(c, stream_id);
  if (!st) return NP_E_BADARG;
  char cl[24];
  if (length != UINT64_MAX) (void)snprintf(cl, sizeof cl, "%" PRIu64, length);
  st->remaining = length;
  int rc = submit(c, st, status, hdrs, nhdrs, length != UINT64_MAX ? cl : NULL);
  if (rc < 0) st->remaining = 0;
  return rc;
}

void np_h2_conn_end_streams(np_h2_conn *c, uint32_t error_code, uint64_t now_ns) {
  c->now = now_ns;
  for (stream *st = c->live; st; st = st->next) {
    if (!st->reported || !c->cb->on_stream_close) continue;
    st->reported = 0; /* once */
    c->cb->on_stream_close(c->ud, st->id, error_code, st->sent, st->received, now_ns);
  }
}

int np_h2_reset(np_h2_conn *c, int32_t stream_id, uint32_t error_code) {
  if (stream_id <= 0) return NP_E_BADARG;
  return nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, stream_id, error_code) == 0
             ? 0
             : NP_E_BADARG;
}
