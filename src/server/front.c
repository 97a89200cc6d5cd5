/* The front door: accepts connections, reads one HTTP/1.1 request head under
 * a deadline, and routes it (ndt7 upgrade, health) or answers an error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/error.h"
#include "http/request.h"
#include "h2/server.h"
#include "http/response.h"
#include "ndt7/ndt7.h"
#include "net/conn.h"
#include "net/sockuuid.h"
#include "net/tcpinfo.h"
#include "server/log.h"
#include "server/server.h"

enum { KIND_NDT7, KIND_HEALTH, KIND_METRICS };

/* Under pressure (the connection cap reached), a request head gets this
 * long from the accept: enough for a TLS handshake and a request across
 * the world, far less than the normal --header-timeout-ms. */
#define PRESSURE_HEADER_MS 2000

typedef struct np_front {
  np_server *srv;
  np_conn *c;
  uv_timer_t timer;
  struct np_front *older, *newer; /* the pre-head list (ndt7 only) */
  uint64_t accepted_ms;           /* uv_now at the accept */
  int kind;
  int tls;
  int listed;
  int head_done; /* answered or handed over: not an early close */
  int short_deadline;
  int timed_out;
  char uuid[NP_UUID_BUFSZ];
} front;

static void front_free(uv_handle_t *h) { free(h->data); }

static void unlist(front *f) {
  if (!f->listed) return;
  np_server *s = f->srv;
  if (f->older)
    f->older->newer = f->newer;
  else
    s->fronts_oldest = f->newer;
  if (f->newer)
    f->newer->older = f->older;
  else
    s->fronts_newest = f->older;
  f->older = f->newer = NULL;
  f->listed = 0;
}

static void release(front *f) {
  unlist(f);
  (void)uv_timer_stop(&f->timer);
  uv_close((uv_handle_t *)&f->timer, front_free);
}

static void on_timeout(uv_timer_t *t);

/* Arms the head deadline: the normal one, or under pressure the short one
 * counted from the accept (0 when already past: it fires next turn). */
static void arm_deadline(front *f) {
  uint64_t ms = (uint64_t)f->srv->cfg.header_timeout_ms;
  if (f->srv->conn_pressure && ms > PRESSURE_HEADER_MS) {
    uint64_t age = uv_now(f->srv->loop) - f->accepted_ms;
    ms = age >= PRESSURE_HEADER_MS ? 0 : PRESSURE_HEADER_MS - age;
    f->short_deadline = 1;
  }
  (void)uv_timer_start(&f->timer, on_timeout, ms, 0);
}

void np_front_pressure(np_server *s) {
  for (front *f = s->fronts_oldest; f; f = f->newer) arm_deadline(f);
}

static void answer(front *f, int status, int retry_after, const char *const *extra) {
  np_buf out;
  np_buf_init(&out, 4096);
  if (np_http_write_error(&out, status, retry_after, extra) == 0)
    (void)np_conn_write(f->c, out.data, out.len);
  np_buf_free(&out);
  np_conn_close(f->c);
}

static void answer_health(front *f, const np_http_request *req) {
  if (!np_slice_eq(req->path, np_slice_cstr("/health"))) {
    answer(f, 404, -1, NULL);
    return;
  }
  np_buf out;
  np_buf_init(&out, 1024);
  int draining = f->srv->draining;
  (void)np_http_write_simple(&out, draining ? 500 : 200, "text/plain; charset=utf-8",
                             draining ? "draining\n" : "ok\n", NULL);
  (void)np_conn_write(f->c, out.data, out.len);
  np_buf_free(&out);
  np_conn_close(f->c);
}

static void answer_metrics(front *f, const np_http_request *req) {
  if (!np_slice_eq(req->path, np_slice_cstr("/metrics"))) {
    answer(f, 404, -1, NULL);
    return;
  }
  np_buf out;
  np_buf_init(&out, 16u * 1024 * 1024);
  np_metrics_respond(f->srv, &out);
  (void)np_conn_write(f->c, out.data, out.len);
  np_buf_free(&out);
  np_conn_close(f->c);
}

static void route_ndt7(front *f, const np_http_request *req) {
  np_server *s = f->srv;
  int download = np_slice_eq(req->path, np_slice_cstr(NP_NDT7_PATH_DOWNLOAD));
  if (!download && !np_slice_eq(req->path, np_slice_cstr(NP_NDT7_PATH_UPLOAD))) {
    answer(f, 404, -1, NULL);
    return;
  }
  np_server_ask ask = {.type = "ndt7",
                       .proto = f->tls ? "ndt7+wss" : "ndt7+ws",
                       .test = download ? "download" : "upload",
                       .transmits = download,
                       .req = req,
                       .conn = f->c,
                       .uuid = f->uuid};
  np_server_test *t = NULL;
  if (np_server_admit(s, &ask, &t) < 0) return; /* answered and counted */
  np_ndt7_server_cfg cfg = s->ndt7;
  cfg.max_sent_bytes = np_server_payload_cap(t);
  int status = 0;
  int rc = np_ndt7_serve(f->c, req, &cfg, f->uuid, np_server_ndt7_done, t, &status);
  if (rc < 0) {
    np_log(NP_LOG_INFO, "upgrade refused", "uuid=%s status=%d reason=\"%s\"", f->uuid, status,
           np_strerror(rc));
    np_metrics_rejected(s, ask.proto, "bad_request");
    np_server_test_abandon(t);
    return;
  }
  s->active_tests++;
  s->open_conns--;
  np_metrics_active(s, ask.proto, 1);
  np_log(NP_LOG_DEBUG, "test started", "uuid=%s proto=%s test=%s allowance=%llu", f->uuid,
         ask.proto, ask.test, (unsigned long long)t->allowance);
  /* The session owns the conn now. */
  release(f);
}

/* HTTP/2 on the front door: ALPN h2 on TLS, or the connection preface on
 * cleartext (h2c with prior knowledge). 1: HTTP/2, 0: not, -1: too few
 * bytes yet to tell. */
static int is_h2(const front *f, const uint8_t *data, size_t len) {
  if (f->kind != KIND_NDT7 || !f->srv->rpm_svc) return 0;
  if (f->tls) return strcmp(np_conn_alpn(f->c), "h2") == 0;
  size_t k = len < NP_H2_PREFACE_LEN ? len : NP_H2_PREFACE_LEN;
  if (memcmp(data, NP_H2_PREFACE, k) != 0) return 0;
  return len >= NP_H2_PREFACE_LEN ? 1 : -1;
}

/* Hands the connection to the responsiveness server with the bytes read
 * so far. */
static void route_h2(front *f, uint8_t *data, size_t len) {
  np_server *s = f->srv;
  (void)uv_timer_stop(&f->timer);
  f->head_done = 1;
  unlist(f);
  /* From here the connection counts as an RPM session (np_rpm_sessions). */
  s->open_conns--;
  np_log(NP_LOG_DEBUG, "http/2 connection", "uuid=%s tls=%d", f->uuid, f->tls);
  (void)np_rpm_serve(f->c, &s->rpm, f->uuid, data, len); /* owns or closed c */
  release(f);
}

static size_t on_data(np_conn *c, void *ud, uint8_t *data, size_t len) {
  front *f = ud;
  if (!data) return len;
  int h2 = is_h2(f, data, len);
  if (h2 < 0) return 0;
  if (h2 > 0) {
    route_h2(f, data, len);
    return len;
  }
  np_http_request req;
  int rc = np_http_parse_request(data, len, &req);
  if (rc == 0) return 0; /* need more; the parser caps the head at 8 KiB */
  if (rc < 0) {
    int status = np_http_status_for_error(rc);
    np_log(NP_LOG_DEBUG, "bad request", "uuid=%s status=%d reason=\"%s\"", f->uuid, status,
           np_strerror(rc));
    f->head_done = 1;
    unlist(f);
    np_metrics_early_close(f->srv, "bad_request");
    answer(f, status, -1, NULL);
    return len;
  }
  (void)uv_timer_stop(&f->timer);
  f->head_done = 1;
  unlist(f);
  np_conn_read_enable(c, 1);
  if (f->kind == KIND_HEALTH)
    answer_health(f, &req);
  else if (f->kind == KIND_METRICS)
    answer_metrics(f, &req);
  else
    route_ndt7(f, &req);
  return (size_t)rc;
}

static void on_close(np_conn *c, void *ud, int status) {
  front *f = ud;
  np_server *s = f->srv;
  (void)c;
  (void)status;
  if (f->kind == KIND_NDT7)
    s->open_conns--;
  else
    s->aux_conns--;
  if (!f->head_done)
    np_metrics_early_close(s, !f->timed_out       ? "peer_closed"
                              : f->short_deadline ? "header_timeout_pressure"
                                                  : "header_timeout");
  release(f);
  np_server_conns_changed(s, 1);
}

static void on_timeout(uv_timer_t *t) {
  front *f = t->data;
  np_log(NP_LOG_DEBUG, "request head timeout", "uuid=%s short=%d", f->uuid, f->short_deadline);
  f->timed_out = 1;
  np_conn_abort(f->c, NP_E_TIMEOUT);
}

static void start(np_server *s, int fd, np_tls_ctx *tls, int kind) {
  front *f = calloc(1, sizeof *f);
  if (!f) {
    (void)close(fd);
    return;
  }
  f->srv = s;
  f->kind = kind;
  f->tls = tls != NULL;
  if (kind == KIND_NDT7) {
    (void)np_tcp_try_bbr(fd);
    /* Measurement messages, pongs and the Close must not wait behind Nagle
     * for the ACK of the previous segment. */
    (void)np_tcp_nodelay(fd);
    if (np_uuid_for_fd(s->uuid_prefix, fd, f->uuid, sizeof f->uuid) < 0)
      (void)snprintf(f->uuid, sizeof f->uuid, "%.200s_unknown", s->uuid_prefix);
  }
  if (np_conn_accept(s->loop, fd, tls, &f->c) < 0) {
    free(f);
    return; /* np_conn_accept closed or owns the fd */
  }
  f->accepted_ms = uv_now(s->loop);
  if (kind == KIND_NDT7) {
    s->open_conns++;
    /* Newest at the tail: pressure closes from the head. */
    f->older = s->fronts_newest;
    if (f->older)
      f->older->newer = f;
    else
      s->fronts_oldest = f;
    s->fronts_newest = f;
    f->listed = 1;
  } else {
    s->aux_conns++;
  }
  (void)uv_timer_init(s->loop, &f->timer);
  f->timer.data = f;
  arm_deadline(f);
  static const np_conn_callbacks cbs = {.on_data = on_data, .on_close = on_close};
  np_conn_set_callbacks(f->c, &cbs, f);
  np_server_conns_changed(s, 0);
}

void np_front_accept_ndt7(np_listener *l, void *ud, int fd) {
  np_server *s = ud;
  if (fd < 0) {
    np_server_accept_failed(s, l, fd);
    return;
  }
  start(s, fd, l == s->ndt7_tls ? s->tls : NULL, KIND_NDT7);
}

void np_front_accept_health(np_listener *l, void *ud, int fd) {
  if (fd < 0) {
    np_server_accept_failed(ud, l, fd);
    return;
  }
  start(ud, fd, NULL, KIND_HEALTH);
}

void np_front_accept_metrics(np_listener *l, void *ud, int fd) {
  if (fd < 0) {
    np_server_accept_failed(ud, l, fd);
    return;
  }
  start(ud, fd, NULL, KIND_METRICS);
}
