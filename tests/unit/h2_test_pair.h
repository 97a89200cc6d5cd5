/* Shared by the h2/server unit tests: an np_h2_conn with a small test
 * application, against a real HTTP/2 client (nghttp2's client session, in
 * memory). Included by one test file each (static functions). */
#ifndef NP_TEST_H2_PAIR_H
#define NP_TEST_H2_PAIR_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "core/clock.h"
#include "core/error.h"
#include "h2/server.h"

#define PAYLOAD (1u << 20)
static uint8_t payload[PAYLOAD];

/* ---- the server side's application ------------------------------------ */

typedef struct {
  np_h2_conn *h2;
  int requests;
  int ends;
  int closes;
  uint64_t body;
  uint32_t last_close_code;
  char last_path[256];
  char last_authority[256];
  uint64_t large_len;
  int skip_mode;        /* drop skippable bytes unread, as a cleartext conn does */
  uint64_t skipped;     /* bytes dropped that way */
  uint64_t received[8]; /* on_stream_close's count, by (stream id / 2) */
  uint64_t body_by[8];  /* on_body bytes, by (stream id / 2) */
  int body_not_u;       /* an on_body byte was not the client's 'u' */
} app;

static int app_request(void *ud, const np_h2_request *rq, uint64_t now) {
  app *a = ud;
  a->requests++;
  snprintf(a->last_path, sizeof a->last_path, "%.*s", (int)rq->path.len, rq->path.ptr);
  snprintf(a->last_authority, sizeof a->last_authority, "%.*s", (int)rq->authority.len,
           rq->authority.ptr);
  static const np_h2_header h[] = {{"content-type", "application/octet-stream"},
                                   {"cache-control", "no-store"}};
  if (strcmp(a->last_path, "/small") == 0)
    return np_h2_respond(a->h2, rq->stream_id, 200, h, 2, np_slice_cstr("x"));
  if (strcmp(a->last_path, "/large") == 0)
    return np_h2_respond_stream(a->h2, rq->stream_id, 200, h, 2, a->large_len);
  if (strcmp(a->last_path, "/refuse") == 0) return -1;
  if (strcmp(a->last_path, "/upload") == 0) return 0; /* answered at its end */
  if (strcmp(a->last_path, "/discard") == 0) return np_h2_discard_body(a->h2, rq->stream_id);
  return np_h2_respond(a->h2, rq->stream_id, 404, NULL, 0, np_slice_make("", 0));
}

static void app_body(void *ud, int32_t id, const uint8_t *d, size_t n, uint64_t now) {
  app *a = ud;
  a->body += n;
  a->body_by[(id / 2) % 8] += n;
  for (size_t i = 0; i < n; i++)
    if (d[i] != 'u') a->body_not_u = 1;
}

static void app_end(void *ud, int32_t id, uint64_t now) {
  app *a = ud;
  a->ends++;
  /* Uploads are answered at their end (a refused stream's answer fails). */
  (void)np_h2_respond(a->h2, id, 200, NULL, 0, np_slice_make("", 0));
}

static void app_close(void *ud, int32_t id, uint32_t code, uint64_t sent, uint64_t recv,
                      uint64_t now) {
  app *a = ud;
  a->closes++;
  a->last_close_code = code;
  a->received[(id / 2) % 8] = recv;
}

static const np_h2_callbacks app_cb = {.on_request = app_request,
                                       .on_body = app_body,
                                       .on_request_end = app_end,
                                       .on_stream_close = app_close};

/* ---- the client side: nghttp2's own client session -------------------- */

/* Go x/net's receive window (http2/flow.go, inflow): credit read is
 * returned once 4 KiB of it are unsent, or when it would at least double
 * the window the sender has left. */
typedef struct {
  int64_t avail, unsent;
} go_inflow;

static int64_t go_inflow_add(go_inflow *f, int64_t n) {
  f->unsent += n;
  if (f->unsent < 4096 && f->unsent < f->avail) return 0;
  int64_t r = f->unsent;
  f->avail += r;
  f->unsent = 0;
  return r;
}

typedef struct {
  nghttp2_session *s;
  int status;
  uint64_t body;
  int closed;
  uint32_t close_code;
  int goaway;
  uint32_t goaway_code;
  int rst_frames;
  int body_matches; /* every body byte is a byte of payload */
  /* go_read > 0: credit is returned as Go's client does (client_init_go),
   * after each body read of go_read bytes */
  size_t go_read;
  go_inflow go_conn, go_stream[8]; /* by (stream id / 2) */
  uint64_t go_buffered[8];         /* received, not read yet */
  uint64_t window_updates;         /* WINDOW_UPDATE frames sent (cl_sent) */
  uint64_t data_frames;
  uint64_t credit_quanta; /* sum over DATA frames of ceil(length / 4 KiB) */
} client;

static void go_return(client *c, int32_t id, int64_t conn_add, int64_t stream_add) {
  if (conn_add > 0) (void)nghttp2_submit_window_update(c->s, 0, 0, (int32_t)conn_add);
  /* Refused once the stream is closed, or dropped unsent (nghttp2 sends
   * none on a half-closed stream): cl_sent counts what goes out. */
  if (stream_add > 0) (void)nghttp2_submit_window_update(c->s, 0, id, (int32_t)stream_add);
}

/* The application reads n buffered body bytes of stream id. */
static void go_read(client *c, int32_t id, uint64_t n) {
  int k = (id / 2) % 8;
  c->go_buffered[k] -= n;
  int64_t ca = go_inflow_add(&c->go_conn, (int64_t)n);
  go_return(c, id, ca, go_inflow_add(&c->go_stream[k], (int64_t)n));
}

static int cl_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n, size_t nl,
                     const uint8_t *v, size_t vl, uint8_t fl, void *ud) {
  client *c = ud;
  if (nl == 7 && memcmp(n, ":status", 7) == 0) c->status = atoi((const char *)v);
  return 0;
}

static int cl_data(nghttp2_session *s, uint8_t fl, int32_t id, const uint8_t *d, size_t len,
                   void *ud) {
  client *c = ud;
  c->body += len;
  if (c->go_read) {
    int k = (id / 2) % 8;
    c->go_conn.avail -= (int64_t)len;
    c->go_stream[k].avail -= (int64_t)len;
    c->go_buffered[k] += len;
    while (c->go_buffered[k] >= c->go_read) go_read(c, id, c->go_read);
  }
  return 0;
}

static int cl_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud) {
  client *c = ud;
  c->closed++;
  c->close_code = code;
  if (c->go_read && c->go_buffered[(id / 2) % 8]) go_read(c, id, c->go_buffered[(id / 2) % 8]);
  return 0;
}

static int cl_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  client *c = ud;
  if (f->hd.type == NGHTTP2_GOAWAY) {
    c->goaway = 1;
    c->goaway_code = f->goaway.error_code;
  }
  if (f->hd.type == NGHTTP2_RST_STREAM) c->rst_frames++;
  if (f->hd.type == NGHTTP2_DATA) {
    c->data_frames++;
    c->credit_quanta += (f->hd.length + 4095) / 4096;
  }
  return 0;
}

static int cl_sent(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  client *c = ud;
  if (f->hd.type == NGHTTP2_WINDOW_UPDATE) c->window_updates++;
  return 0;
}

static void client_new(client *c, int manual_credit) {
  memset(c, 0, sizeof *c);
  nghttp2_session_callbacks *cb;
  nghttp2_option *opt;
  assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
  assert_int_equal(nghttp2_option_new(&opt), 0);
  nghttp2_option_set_no_auto_window_update(opt, manual_credit);
  nghttp2_session_callbacks_set_on_header_callback(cb, cl_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cl_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, cl_close);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, cl_frame);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, cl_sent);
  assert_int_equal(nghttp2_session_client_new2(&c->s, cb, c, opt), 0);
  nghttp2_session_callbacks_del(cb);
  nghttp2_option_del(opt);
}

static void client_init(client *c) {
  client_new(c, 0);
  assert_int_equal(nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

static int32_t client_get(client *c, const char *method, const char *path,
                          nghttp2_data_provider *body) {
  nghttp2_nv nv[] = {
      {(uint8_t *)":method", (uint8_t *)method, 7, strlen(method), 0},
      {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
      {(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0},
      {(uint8_t *)":authority", (uint8_t *)"example.net:4443", 10, 16, 0},
  };
  int32_t id = nghttp2_submit_request(c->s, NULL, nv, 4, body, NULL);
  assert_true(id > 0);
  return id;
}

/* Feeds the server k bytes; in skip mode, bytes the server calls
 * skippable are dropped and reported instead of given. */
static int feed(app *a, const uint8_t *p, size_t k) {
  while (k > 0) {
    /* A cleartext conn reads a header's worth, then drops what it may. */
    uint64_t s = a->skip_mode ? np_h2_conn_skippable(a->h2) : 0;
    size_t n = s ? (s < k ? (size_t)s : k) : a->skip_mode && k > 9 ? 9 : k;
    int rc =
        s ? np_h2_conn_skip(a->h2, n, np_mono_ns()) : np_h2_conn_recv(a->h2, p, n, np_mono_ns());
    if (rc < 0) return rc;
    if (s) a->skipped += n;
    p += n;
    k -= n;
    if (!a->skip_mode) break;
  }
  return 0;
}

/* One round of both directions; split > 0 feeds the server that many bytes
 * at a time. Returns whether anything moved. */
static int pump(client *c, app *a, size_t split, int *server_rc) {
  int moved = 0;
  for (;;) {
    const uint8_t *p;
    ssize_t n = nghttp2_session_mem_send(c->s, &p);
    assert_true(n >= 0);
    if (n == 0) break;
    moved = 1;
    for (ssize_t off = 0; off < n;) {
      size_t k = split && (size_t)(n - off) > split ? split : (size_t)(n - off);
      int rc = feed(a, p + off, k);
      if (rc < 0) {
        *server_rc = rc;
        break;
      }
      off += (ssize_t)k;
    }
    if (*server_rc < 0) break;
  }
  struct iovec iov[64];
  int k;
  while ((k = np_h2_conn_pull(a->h2, iov, 64, 1u << 20, np_mono_ns())) > 0) {
    size_t total = 0;
    for (int i = 0; i < k; i++) {
      ssize_t r = nghttp2_session_mem_recv(c->s, iov[i].iov_base, iov[i].iov_len);
      assert_int_equal((size_t)r, iov[i].iov_len);
      total += iov[i].iov_len;
    }
    np_h2_conn_sent(a->h2, total);
    moved = 1;
  }
  return moved;
}

static void run(client *c, app *a, size_t split, int *server_rc) {
  for (int i = 0; i < 100000 && pump(c, a, split, server_rc); i++) {
  }
}

static void setup_pair(client *c, app *a, const np_h2_config *cfg_in) {
  memset(a, 0, sizeof *a);
  np_h2_config cfg;
  if (cfg_in)
    cfg = *cfg_in;
  else
    np_h2_config_default(&cfg);
  cfg.payload = np_slice_make(payload, sizeof payload);
  assert_int_equal(np_h2_conn_new(&a->h2, &cfg, &app_cb, a), 0);
  client_init(c);
}

static void teardown_pair(client *c, app *a) {
  nghttp2_session_del(c->s);
  np_h2_conn_free(a->h2);
}

static ssize_t upload_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                           uint32_t *flags, nghttp2_data_source *src, void *ud) {
  uint64_t *left = src->ptr;
  size_t n = *left < len ? (size_t)*left : len;
  memset(buf, 'u', n);
  *left -= n;
  if (*left == 0) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

static void payload_init(void) {
  for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(i * 131u + 7u);
}

#endif
