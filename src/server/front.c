/* The front door: accepts connections, hands HTTP/2 to the responsiveness
 * server, and reads HTTP/1.1 request heads under a deadline and routes them
 * through the listener's route table (route.h; the routes are in
 * routes.c). Pages are answered with keep-alive; tests take the
 * connection over. */
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

enum { KIND_FRONT, KIND_HEALTH, KIND_METRICS };

/* Under pressure (the connection cap reached), a request head gets this
 * long from the accept: enough for a TLS handshake and a request across
 * the world, far less than the normal --header-timeout-ms. */
#define PRESSURE_HEADER_MS 2000

typedef struct np_front {
  np_server *srv;
  np_conn *c;
  uv_timer_t timer;
  struct np_front *older, *newer; /* the pre-head list (front door only) */
  uint64_t accepted_ms;           /* uv_now at the accept */
  int kind;
  int tls;
  int listed;
  int head_done;   /* answered or handed over: not an early close */
  uint32_t served; /* requests answered with keep-alive */
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

/* Newest at the tail: pressure closes from the head. */
static void list(front *f) {
  np_server *s = f->srv;
  if (f->listed || f->kind != KIND_FRONT) return;
  f->older = s->fronts_newest;
  f->newer = NULL;
  if (f->older)
    f->older->newer = f;
  else
    s->fronts_oldest = f;
  s->fronts_newest = f;
  f->listed = 1;
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

/* An error answer that ends the connection. To a HEAD (head != 0) it is
 * the same head, Content-Length included, without the body (RFC 9110
 * §9.3.2). */
static const np_routes *table(const front *f) {
  const np_server *s = f->srv;
  return f->kind == KIND_FRONT    ? &s->routes_front
         : f->kind == KIND_HEALTH ? &s->routes_health
                                  : &s->routes_metrics;
}

static void answer(front *f, int status, int head, np_slice path) {
  np_buf out;
  np_buf_init(&out, 4096);
  /* A 405 names what the path takes (RFC 9110 15.5.6). */
  char allow[64] = "Allow: ";
  np_routes_allow(table(f), path, allow + 7, sizeof allow - 7);
  const char *extra[2] = {status == 405 && allow[7] ? allow : NULL, NULL};
  if (np_http_write_error(&out, status, -1, extra) == 0) {
    const uint8_t *end = head ? memmem(out.data, out.len, "\r\n\r\n", 4) : NULL;
    (void)np_conn_write(f->c, out.data, end ? (size_t)(end - out.data) + 4 : out.len);
  }
  np_buf_free(&out);
  np_conn_close(f->c);
}

/* HTTP/2 on the front door: ALPN h2 on TLS, or the connection preface on
 * cleartext (h2c with prior knowledge). 1: HTTP/2, 0: not, -1: too few
 * bytes yet to tell. */
static int is_h2(const front *f, const uint8_t *data, size_t len) {
  if (f->kind != KIND_FRONT || !f->srv->rpm_svc || f->served) return 0;
  if (f->tls) return strcmp(np_conn_alpn(f->c), "h2") == 0;
  size_t k = len < NP_H2_PREFACE_LEN ? len : NP_H2_PREFACE_LEN;
  if (memcmp(data, NP_H2_PREFACE, k) != 0) return 0;
  return len >= NP_H2_PREFACE_LEN ? 1 : -1;
}

/* The connection leaves the front door for a session that owns it now. */
static void handed_over(front *f) {
  (void)uv_timer_stop(&f->timer);
  f->head_done = 1;
  unlist(f);
  f->srv->open_conns--;
  release(f);
}

/* Hands the connection to the responsiveness server with the bytes read
 * so far. */
static void route_h2(front *f, uint8_t *data, size_t len) {
  np_server *s = f->srv;
  np_log(NP_LOG_DEBUG, "http/2 connection", "uuid=%s tls=%d", f->uuid, f->tls);
  /* On failure c is aborted with our callbacks still set: its close comes
   * back here (a client gone before its session started, getpeername
   * failing), so the front door lets go only of a session that started. */
  if (np_rpm_serve(f->c, &s->rpm, f->uuid, data, len) < 0) {
    (void)uv_timer_stop(&f->timer);
    f->head_done = 1;
    return;
  }
  handed_over(f); /* from here it counts as an RPM session (np_rpm_sessions) */
}

/* Routes one complete request head at data[0..head). Returns how the
 * handler left the connection and, in *used, the bytes it consumed. */
static np_route_result dispatch(front *f, const np_http_request *req, uint8_t *data, size_t len,
                                size_t head, size_t *used) {
  int status = 404;
  const np_route *r = np_routes_find(table(f), req->method, req->path, &status);
  *used = len;
  if (!r) {
    answer(f, status, np_slice_eq(req->method, np_slice_cstr("HEAD")), req->path);
    return NP_ROUTE_CLOSING;
  }
  np_route_req rq = {.srv = f->srv,
                     .conn = f->c,
                     .uuid = f->uuid,
                     .tls = f->tls,
                     .req = req,
                     .data = data,
                     .len = len,
                     .head_len = head,
                     .consumed = head};
  np_route_result res = r->fn(&rq);
  *used = res == NP_ROUTE_CLOSING ? len : rq.consumed;
  return res;
}

/* One request head from data[0..len): returns the bytes consumed (0: more
 * are needed) and sets *more when the connection stays with the front
 * door for another request. */
static size_t one_request(front *f, uint8_t *data, size_t len, int *more) {
  *more = 0;
  int h2 = is_h2(f, data, len);
  if (h2 < 0) return 0;
  if (h2 > 0) {
    route_h2(f, data, len);
    return len;
  }
  np_http_request req;
  int rc = np_http_parse_request(data, len, &req);
  if (rc == 0) return 0; /* need more; the parser caps the head at 8 KiB */
  (void)uv_timer_stop(&f->timer);
  f->head_done = 1;
  unlist(f);
  if (rc < 0) {
    int status = np_http_status_for_error(rc);
    np_log(NP_LOG_DEBUG, "bad request", "uuid=%s status=%d reason=\"%s\"", f->uuid, status,
           np_strerror(rc));
    np_metrics_early_close(f->srv, "bad_request");
    answer(f, status, 0, np_slice_make("", 0)); /* no request line to trust */
    return len;
  }
  np_conn_read_enable(f->c, 1);
  size_t used = len;
  np_route_result res = dispatch(f, &req, data, len, (size_t)rc, &used);
  if (res == NP_ROUTE_TAKEN) {
    handed_over(f);
  } else if (res == NP_ROUTE_KEEP) {
    /* Waiting for the next head is the same as waiting for the first:
     * same deadline, same place in the pressure list. */
    f->served++;
    f->head_done = 0;
    list(f);
    arm_deadline(f);
    *more = 1;
  }
  return used;
}

static size_t on_data(np_conn *c, void *ud, uint8_t *data, size_t len) {
  front *f = ud;
  (void)c;
  if (!data) return len;
  size_t done = 0;
  int more = 1;
  while (more && done < len) {
    size_t n = one_request(f, data + done, len - done, &more);
    if (n == 0) break;
    done += n;
  }
  return done;
}

static void on_close(np_conn *c, void *ud, int status) {
  front *f = ud;
  np_server *s = f->srv;
  (void)c;
  (void)status;
  if (f->kind == KIND_FRONT)
    s->open_conns--;
  else
    s->aux_conns--;
  /* An idle keep-alive connection that ends is not an early close. */
  if (!f->head_done && !f->served)
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
  if (kind == KIND_FRONT) {
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
  if (kind == KIND_FRONT) {
    s->open_conns++;
    list(f);
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
  start(s, fd, l == s->ndt7_tls ? s->tls : NULL, KIND_FRONT);
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
