/* What the front door's listeners serve over HTTP/1.1: ndt7's upgrades,
 * responsiveness, the test page, /health and /metrics, each registered in
 * its listener's route table. (HTTP/2 goes to the RPM server before any
 * route; it asks routes.c for the page.) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/error.h"
#include "http/response.h"
#include "ndt7/ndt7.h"
#include "rpm/config.h"
#include "rpm/http1.h"
#include "server/log.h"
#include "server/server.h"
#include "server/web_assets.h"

/* Closes the connection after the answer in out. */
static np_route_result send_and_close(const np_route_req *r, np_buf *out) {
  (void)np_conn_write(r->conn, out->data, out->len);
  np_buf_free(out);
  np_conn_close(r->conn);
  return NP_ROUTE_CLOSING;
}

static np_route_result route_health(np_route_req *r) {
  np_buf out;
  np_buf_init(&out, 1024);
  np_server *s = r->srv;
  /* 500 while draining (Locate stops sending clients); 503 while the spool
   * cannot be written: tests are refused until it can, but the process is
   * alive and recovers by itself (`healthcheck` treats 503 as alive, so a
   * liveness probe does not restart it and lose the files it holds). */
  char body[160];
  int status = 200;
  if (s->draining) {
    status = 500;
    (void)snprintf(body, sizeof body, "draining\n");
  } else if (s->spool_fault) {
    status = 503;
    (void)snprintf(body, sizeof body, "spool unwritable: %s (%llu files held)\n",
                   np_strerror(s->spool_fault), (unsigned long long)s->held_files);
  } else {
    (void)snprintf(body, sizeof body, "ok\n");
  }
  (void)np_http_write_simple(&out, status, "text/plain; charset=utf-8", body, NULL);
  return send_and_close(r, &out);
}

static np_route_result route_metrics(np_route_req *r) {
  np_buf out;
  np_buf_init(&out, 16u * 1024 * 1024);
  np_metrics_respond(r->srv, &out);
  return send_and_close(r, &out);
}

static np_route_result route_ndt7(np_route_req *r) {
  np_server *s = r->srv;
  const np_http_request *req = r->req;
  int download = np_slice_eq(req->path, np_slice_cstr(NP_NDT7_PATH_DOWNLOAD));
  np_server_ask ask = {.type = "ndt7",
                       .proto = r->tls ? "ndt7+wss" : "ndt7+ws",
                       .test = download ? "download" : "upload",
                       .transmits = download,
                       .req = req,
                       .conn = r->conn,
                       .uuid = r->uuid};
  np_server_test *t = NULL;
  if (np_server_admit(s, &ask, &t) < 0) return NP_ROUTE_CLOSING; /* answered and counted */
  np_ndt7_server_cfg cfg = s->ndt7;
  cfg.max_sent_bytes = np_server_payload_cap(t);
  int status = 0;
  int rc = np_ndt7_serve(r->conn, req, &cfg, r->uuid, np_server_ndt7_done, t, &status);
  if (rc < 0) {
    np_log(NP_LOG_INFO, "upgrade refused", "uuid=%s status=%d reason=\"%s\"", r->uuid, status,
           np_strerror(rc));
    np_metrics_rejected(s, ask.proto, "bad_request");
    np_server_test_abandon(t);
    return NP_ROUTE_CLOSING;
  }
  s->active_tests++;
  np_metrics_active(s, ask.proto, 1);
  np_log(NP_LOG_DEBUG, "test started", "uuid=%s proto=%s test=%s allowance=%llu", r->uuid,
         ask.proto, ask.test, (unsigned long long)t->allowance);
  return NP_ROUTE_TAKEN; /* the session reads what follows the head */
}

/* Responsiveness over HTTP/1.1: the session takes the connection with
 * everything read so far (its first request included). */
static np_route_result route_rpm(np_route_req *r) {
  int rc = np_rpm_http1_serve(r->conn, &r->srv->rpm, r->uuid, r->data, r->len);
  if (rc < 0) return NP_ROUTE_CLOSING; /* aborted: the front door sees the close */
  r->consumed = (size_t)rc;
  return NP_ROUTE_TAKEN;
}

/* Whether the connection may carry another request after this one: an
 * HTTP/1.1 request without a body that did not ask to close. */
static int keep_alive(const np_http_request *req) {
  np_slice conn = np_http_header_get(req->headers, req->nheaders, "Connection");
  uint64_t cl = 0;
  int has_cl = np_http_content_length(req->headers, req->nheaders, &cl);
  return req->minor_version == 1 && !np_slice_list_has(conn, np_slice_cstr("close")) &&
         np_http_header_count(req->headers, req->nheaders, "Transfer-Encoding") == 0 &&
         (has_cl == 0 || cl == 0);
}

static np_route_result route_web(np_route_req *r) {
  np_http_reply rep;
  int rc = np_server_web_reply(r->srv, r->req->method, r->req->path, &rep);
  np_buf out;
  np_buf_init(&out, rep.body.len + 4096);
  int keep = rc == 0 && rep.status != 405 && keep_alive(r->req);
  if (rc < 0 || np_http_reply_write(&out, &rep, keep) < 0) {
    out.len = 0;
    keep = 0;
    (void)np_http_write_error(&out, 500, -1, NULL);
  }
  np_http_reply_free(&rep);
  if (!keep) return send_and_close(r, &out);
  (void)np_conn_write(r->conn, out.data, out.len);
  np_buf_free(&out);
  return NP_ROUTE_KEEP;
}

int np_server_web_reply(np_server *s, np_slice method, np_slice path, np_http_reply *ret) {
  if (!s->web_on) {
    memset(ret, 0, sizeof *ret);
    return NP_E_BADARG;
  }
  return np_static_lookup(&s->web, method, path, ret);
}

/* The page: embedded, or read from --web-dir at request time. */
static int web_setup(np_server *s) {
  s->web.dirfd = -1;
  if (s->cfg.no_web) return 0;
  if (s->cfg.web_dir && *s->cfg.web_dir) {
    int rc = np_static_dir_open(s->cfg.web_dir, &s->web.dirfd);
    if (rc < 0) {
      fprintf(stderr, "netpulse-server: cannot use --web-dir %s: %s\n", s->cfg.web_dir,
              np_strerror(rc));
      return rc;
    }
  } else {
    s->web.files = np_web_assets;
    s->web.nfiles = np_web_nassets;
  }
  s->web.privacy = &np_web_privacy;
  s->web_on = 1;
  return 0;
}

int np_server_routes_setup(np_server *s) {
  int rc = web_setup(s);
  if (rc < 0) return rc;
  np_routes *f = &s->routes_front;
  if (np_routes_add(f, "GET", NP_NDT7_PATH_DOWNLOAD, 0, route_ndt7) < 0 ||
      np_routes_add(f, "GET", NP_NDT7_PATH_UPLOAD, 0, route_ndt7) < 0 ||
      (s->web_on && np_routes_add(f, NULL, "/", 1, route_web) < 0) ||
      (s->rpm_svc && (np_routes_add(f, NULL, NP_RPM_PATH_CONFIG, 0, route_rpm) < 0 ||
                      np_routes_add(f, NULL, NP_RPM_PATH_CONFIG_ALT, 0, route_rpm) < 0 ||
                      np_routes_add(f, NULL, "/rpm/", 1, route_rpm) < 0)) ||
      np_routes_add(&s->routes_health, NULL, "/health", 0, route_health) < 0 ||
      np_routes_add(&s->routes_metrics, NULL, "/metrics", 0, route_metrics) < 0)
    return NP_E_TOOBIG;
  return 0;
}
