/* One RPM connection over HTTP/1.1: request heads and bodies in, answers
 * out, the large object streamed from the shared payload; the
 * measurement's side is in peer.c. */
#include "rpm/http1.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "http/reply.h"
#include "http/request.h"
#include "http/response.h"
#include "rpm/config.h"
#include "rpm/peer.h"
#include "rpm/summary.h"

#define TICK_MS 250

enum { ST_HEAD, ST_BODY, ST_LARGE, ST_CLOSING };

typedef struct {
  np_rpm_peer p;
  np_conn *c;
  const np_rpm_server_cfg *cfg;
  uv_timer_t timer;
  int state;
  uint64_t idle_since; /* when the last answer was queued (or the accept) */
  uint32_t nreq;       /* requests on this connection */
  /* The request in progress. */
  np_rpm_endpoint ep;
  int req; /* record index, -1 if none */
  int keep;
  int head; /* a HEAD: answers carry their content-length but no body */
  np_http_body body;
  uint64_t received; /* body bytes */
  np_buf summary;    /* result body, capped */
  int too_big;
  np_buf answer;      /* config/small answer, sent once the body is read */
  uint64_t sent;      /* large body bytes */
  uint64_t remaining; /* large body bytes still to send */
} session;

#define LINE(n, v) n ": " v,
#define NH (2 + NP_RPM_CORS_NFIELDS)
static const char *const h_bytes[NH] = {"Content-Type: application/octet-stream",
                                        "Cache-Control: no-store", NP_RPM_CORS_FIELDS(LINE)};
static const char *const h_json[NH] = {"Content-Type: application/json", "Cache-Control: no-store",
                                       NP_RPM_CORS_FIELDS(LINE)};

/* h's NH lines, then "Connection: close" unless keep, in tmp (NH + 2). */
static const char *const *with_conn(const char *const *h, int keep, const char **tmp) {
  memcpy(tmp, h, NH * sizeof *h);
  tmp[NH] = keep ? NULL : "Connection: close";
  tmp[NH + 1] = NULL;
  return tmp;
}

static void closing(session *s) {
  if (s->state == ST_CLOSING) return;
  s->state = ST_CLOSING;
  np_conn_want_writable(s->c, 0, 0);
  np_conn_close(s->c);
}

/* The request in progress is answered: back to waiting for a head. */
static void answered(session *s) {
  s->idle_since = np_mono_ns();
  s->req = -1;
  np_buf_free(&s->summary);
  np_buf_free(&s->answer);
  if (!s->keep || s->nreq >= NP_RPM_H1_MAX_REQUESTS)
    closing(s);
  else
    s->state = ST_HEAD;
}

/* Queues a complete answer: head (with Content-Length of body) and body. */
static void send_answer(session *s, int status, const char *const *hdrs, np_slice body) {
  const char *tmp[NH + 2];
  np_buf out;
  np_buf_init(&out, body.len + 1024);
  if (np_http_write_head(&out, status, with_conn(hdrs, s->keep, tmp), (int64_t)body.len) == 0 &&
      np_buf_append(&out, body.ptr, body.len) == 0)
    (void)np_conn_write(s->c, out.data, out.len);
  np_buf_free(&out);
}

/* An error answer with the JSON body both protocols use. */
static void send_error(session *s, const np_rpm_verdict *v) {
  char body[128], ra[40], allow[48];
  (void)snprintf(body, sizeof body, "{\"status\":%d,\"error\":\"%s\"}\n", v->status, v->reason);
  const char *h[NH + 4] = {NULL};
  memcpy(h, h_json, sizeof h_json);
  size_t n = NH;
  if (v->retry_after >= 0) {
    (void)snprintf(ra, sizeof ra, "Retry-After: %d", v->retry_after);
    h[n++] = ra;
  }
  if (v->allow) { /* RFC 9110 15.5.6 */
    (void)snprintf(allow, sizeof allow, "Allow: %s", v->allow);
    h[n++] = allow;
  }
  if (!s->keep) h[n] = "Connection: close";
  np_buf out;
  np_buf_init(&out, 1024);
  if (np_http_write_head(&out, v->status, h, (int64_t)strlen(body)) == 0 &&
      (s->head || np_buf_append(&out, body, strlen(body)) == 0))
    (void)np_conn_write(s->c, out.data, out.len);
  np_buf_free(&out);
  np_rpm_peer_status(&s->p, s->req, v->status);
}

/* A refusal or framing error before the body was read: the body is not
 * read, so the connection ends with the answer. */
static void refuse_and_close(session *s, const np_rpm_verdict *v) {
  s->keep = 0;
  send_error(s, v);
  closing(s);
}

/* ---- the large object ------------------------------------------------------ */

static void pump(session *s) {
  if (s->state != ST_LARGE) return;
  np_slice pl = s->cfg->payload;
  while (s->remaining && np_conn_pending(s->c) < s->p.out_cap) {
    size_t n = pl.len < s->remaining ? pl.len : (size_t)s->remaining;
    np_conn_buf b = {pl.ptr, n, 1};
    if (np_conn_writev(s->c, &b, 1, NULL, NULL) < 0) {
      s->state = ST_CLOSING;
      np_conn_abort(s->c, NP_E_CLOSED);
      return;
    }
    if (!s->sent) np_rpm_peer_first_byte(&s->p, s->req, np_mono_ns());
    s->sent += n;
    s->remaining -= n;
    if (np_rpm_peer_report(&s->p)) { /* the allowance is used up */
      closing(s);
      return;
    }
  }
  if (s->remaining) {
    np_conn_want_writable(s->c, 1, s->p.out_cap / 4);
    return;
  }
  np_conn_want_writable(s->c, 0, 0);
  np_rpm_peer_request_done(&s->p, s->req, s->ep, s->sent, s->received, 0, np_mono_ns());
  answered(s);
}

static void on_writable(np_conn *c, void *ud) {
  (void)c;
  pump(ud);
}

/* ---- requests -------------------------------------------------------------- */

/* The body has been read: the answer goes out. */
static void body_done(session *s) {
  uint64_t now = np_mono_ns();
  np_rpm_measurement *m = np_rpm_peer_measurement(&s->p);
  if (s->ep == NP_RPM_EP_LARGE) {
    s->state = ST_LARGE;
    const char *tmp[NH + 2];
    np_buf out;
    np_buf_init(&out, 1024);
    s->remaining = s->head ? 0 : s->cfg->large_length; /* a HEAD: the head alone */
    if (np_http_write_head(&out, 200, with_conn(h_bytes, s->keep, tmp),
                           (int64_t)s->cfg->large_length) == 0)
      (void)np_conn_write(s->c, out.data, out.len);
    np_buf_free(&out);
    np_rpm_peer_status(&s->p, s->req, 200);
    pump(s);
    return;
  }
  if (s->ep == NP_RPM_EP_UPLOAD || s->ep == NP_RPM_EP_RESULT) {
    np_rpm_verdict v = {200, NULL, -1, NULL};
    char answer[128] = "{\"status\":200}\n";
    if (s->ep == NP_RPM_EP_RESULT && m)
      np_rpm_peer_result(&s->p, m, &s->summary, s->too_big, &v, answer, sizeof answer);
    send_answer(s, v.status, h_json, np_slice_cstr(answer));
    np_rpm_peer_status(&s->p, s->req, v.status);
    s->sent = strlen(answer);
  } else {
    /* config, small, or a page: prepared at the head */
    (void)np_conn_write(s->c, s->answer.data, s->answer.len);
  }
  np_rpm_peer_first_byte(&s->p, s->req, now);
  np_rpm_peer_request_done(&s->p, s->req, s->ep, s->sent, s->received, 0, now);
  answered(s);
}

/* A request for something that is not an RPM endpoint: the host's page,
 * or 404. Prepared now, sent when its (small) body has been read. */
static void prepare_other(session *s, const np_http_request *req) {
  np_http_reply rep;
  const np_rpm_host *h = s->cfg->host;
  if (!h->other || h->other(s->cfg->host_ud, req->method, req->path, &rep) < 0) {
    memset(&rep, 0, sizeof rep);
    rep.status = 404;
    (void)np_http_reply_add(&rep, "content-type", "application/json");
    rep.body = np_slice_cstr("{\"status\":404,\"error\":\"not_found\"}\n");
    rep.head_only = s->head;
  }
  if (rep.status == 405) s->keep = 0;
  np_buf_init(&s->answer, rep.body.len + 4096);
  if (np_http_reply_write(&s->answer, &rep, s->keep) < 0) {
    s->keep = 0;
    (void)np_http_write_error(&s->answer, 500, -1, NULL);
  }
  np_http_reply_free(&rep);
}

/* OPTIONS on an RPM endpoint (a CORS preflight): 204, sent when its body
 * (if any) has been read. */
static void prepare_options(session *s, np_rpm_endpoint ep) {
  char methods[64], allow[48];
  (void)snprintf(methods, sizeof methods, "Access-Control-Allow-Methods: %s", np_rpm_allow(ep));
  (void)snprintf(allow, sizeof allow, "Allow: %s", np_rpm_allow(ep));
  const char *h[] = {NP_RPM_CORS_FIELDS(LINE) methods,
                     "Access-Control-Allow-Headers: " NP_RPM_CORS_ALLOW_HEADERS,
                     "Access-Control-Max-Age: " NP_RPM_CORS_MAX_AGE,
                     allow,
                     s->keep ? NULL : "Connection: close",
                     NULL};
  np_buf_init(&s->answer, 1024);
  (void)np_http_write_head(&s->answer, 204, h, -1);
}

/* Decides a request at its head. Returns 0 to go on reading its body, or
 * < 0 when it was refused and the connection is closing. */
static int start_request(session *s, const np_http_request *req) {
  uint64_t now = np_mono_ns();
  np_slice conn = np_http_header_get(req->headers, req->nheaders, "Connection");
  s->keep = req->minor_version == 1 && !np_slice_list_has(conn, np_slice_cstr("close"));
  s->head = np_slice_eq(req->method, np_slice_cstr("HEAD"));
  s->received = s->sent = 0;
  s->too_big = 0;
  s->req = -1;
  np_slice query;
  size_t plen;
  int st = np_rpm_route(req->method, req->target, &s->ep, &query, &plen);
  np_rpm_endpoint asked = s->ep;
  if (st == 204) s->ep = NP_RPM_EP_OTHER; /* answered like a page, body capped as one */
  uint64_t max = s->ep == NP_RPM_EP_UPLOAD   ? UINT64_MAX
                 : s->ep == NP_RPM_EP_RESULT ? NP_RPM_SUMMARY_MAX_BYTES
                                             : NP_RPM_H1_MAX_OTHER_BODY;
  int rc = np_http_body_init_request(&s->body, req, max);
  if (rc < 0) {
    np_rpm_verdict v = {np_http_status_for_error(rc),
                        rc == NP_E_TOOBIG ? "body_too_big" : "bad_framing", -1, NULL};
    np_rpm_peer_rejected(&s->p, v.status, v.reason);
    refuse_and_close(s, &v);
    return -1;
  }
  int has_body = !np_http_body_done(&s->body);
  if (st == 404 || st == 204) {
    s->ep = NP_RPM_EP_OTHER;
    if (has_body) s->keep = 0;
    if (st == 204)
      prepare_options(s, asked);
    else
      prepare_other(s, req);
    return 0;
  }
  np_rpm_verdict v = {405, "method", -1, np_rpm_allow(s->ep)};
  np_rpm_measurement *m = NULL;
  const char *scheme = np_conn_is_tls(s->c) ? "https" : "http";
  np_slice host = np_http_header_get(req->headers, req->nheaders, "Host");
  int len = -1;
  if (st == 0 && s->ep == NP_RPM_EP_CONFIG && s->head &&
      (len = np_rpm_peer_config_length(&s->p, scheme, host, &v)) >= 0) {
    /* begins no measurement: answered like a page */
    const char *tmp[NH + 2];
    s->ep = NP_RPM_EP_OTHER;
    np_buf_init(&s->answer, 1024);
    (void)np_http_write_head(&s->answer, 200, with_conn(h_json, s->keep, tmp), len);
    return 0;
  } else if (st == 0 && s->ep == NP_RPM_EP_CONFIG && !s->head) {
    np_buf js;
    np_buf_init(&js, 8192);
    m = np_rpm_peer_config(&s->p, scheme, host, query, 1, now, &js, &v);
    if (m) {
      const char *tmp[NH + 2];
      s->sent = js.len;
      np_buf_init(&s->answer, js.len + 1024);
      (void)np_http_write_head(&s->answer, 200, with_conn(h_json, s->keep, tmp), (int64_t)js.len);
      (void)np_buf_append(&s->answer, js.data, js.len);
    }
    np_buf_free(&js);
  } else if (st == 0 && s->ep != NP_RPM_EP_CONFIG) {
    m = np_rpm_peer_authorise(&s->p, query, now, &v);
  }
  if (!m) {
    if (has_body) {
      refuse_and_close(s, &v);
      return -1;
    }
    send_error(s, &v);
    answered(s);
    return 1;
  }
  s->req = np_rpm_peer_request(&s->p, s->ep, (int32_t)s->nreq, now);
  if (s->ep == NP_RPM_EP_CONFIG || s->ep == NP_RPM_EP_SMALL) np_rpm_peer_status(&s->p, s->req, 200);
  if (s->ep == NP_RPM_EP_SMALL) {
    const char *tmp[NH + 2];
    s->sent = s->head ? 0 : 1;
    np_buf_init(&s->answer, 1024);
    (void)np_http_write_head(&s->answer, 200, with_conn(h_bytes, s->keep, tmp), 1);
    if (!s->head) (void)np_buf_append(&s->answer, s->cfg->payload.ptr, 1);
  }
  if (s->ep == NP_RPM_EP_RESULT) np_buf_init(&s->summary, NP_RPM_SUMMARY_MAX_BYTES);
  /* curl and others wait for this before a large upload. */
  np_slice expect = np_http_header_get(req->headers, req->nheaders, "Expect");
  if (has_body && np_slice_ieq(expect, np_slice_cstr("100-continue")))
    (void)np_conn_write(s->c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
  return 0;
}

/* Body bytes of the request in progress from data[0..len). Returns the
 * bytes consumed. */
static size_t read_body(session *s, uint8_t *data, size_t len) {
  size_t n = 0;
  int rc = np_http_body_read(&s->body, data, len, &n);
  if (rc < 0) {
    np_rpm_verdict v = {np_http_status_for_error(rc),
                        rc == NP_E_TOOBIG ? "body_too_big" : "bad_framing", -1, NULL};
    np_rpm_peer_rejected(&s->p, v.status, v.reason);
    refuse_and_close(s, &v);
    return len;
  }
  s->received += n;
  if (s->ep == NP_RPM_EP_RESULT && !s->too_big && np_buf_append(&s->summary, data, n) < 0)
    s->too_big = 1;
  if (np_http_body_done(&s->body)) body_done(s);
  return (size_t)rc;
}

static size_t on_data(np_conn *c, void *ud, uint8_t *data, size_t len) {
  session *s = ud;
  (void)c;
  if (!data) return len;
  size_t done = 0;
  while (done < len) {
    if (s->state == ST_LARGE || s->state == ST_CLOSING) return len; /* nothing more is read */
    if (s->state == ST_BODY) {
      done += read_body(s, data + done, len - done);
      continue;
    }
    np_http_request req;
    int rc = np_http_parse_request(data + done, len - done, &req);
    if (rc == 0) break; /* the parser caps the head at 8 KiB */
    if (rc < 0) {
      np_rpm_verdict v = {np_http_status_for_error(rc), "bad_request", -1, NULL};
      np_rpm_peer_rejected(&s->p, v.status, v.reason);
      refuse_and_close(s, &v);
      return len;
    }
    done += (size_t)rc;
    s->nreq++;
    s->state = ST_BODY;
    if (start_request(s, &req) < 0) return len;
    if (s->state == ST_BODY && np_http_body_done(&s->body)) body_done(s);
  }
  return done;
}

static void timer_closed(uv_handle_t *h) {
  session *s = h->data;
  np_buf_free(&s->summary);
  np_buf_free(&s->answer);
  free(s);
}

static void on_close(np_conn *c, void *ud, int status) {
  session *s = ud;
  (void)c;
  /* A request cut off by the close (a large download the client stopped,
   * an upload it gave up) still counts with its bytes. */
  if (s->req >= 0)
    np_rpm_peer_request_done(&s->p, s->req, s->ep, s->sent, s->received, 0, np_mono_ns());
  np_rpm_peer_closed(&s->p, status, s->state == ST_CLOSING, NULL);
  (void)uv_timer_stop(&s->timer);
  uv_close((uv_handle_t *)&s->timer, timer_closed);
}

/* Every 250 ms: the record's sample; the end of a connection whose
 * measurement ended, that joined none in time, or that idled too long. */
static void on_tick(uv_timer_t *t) {
  session *s = t->data;
  if (s->state == ST_CLOSING) return;
  uint64_t now = np_mono_ns();
  int idle = s->state == ST_HEAD;
  if (np_rpm_peer_tick(&s->p, now, idle) ||
      (idle && s->p.joined && now - s->idle_since > NP_RPM_H1_IDLE_NS))
    closing(s);
}

int np_rpm_http1_serve(np_conn *c, const np_rpm_server_cfg *cfg, const char *uuid, uint8_t *data,
                       size_t len) {
  session *s = calloc(1, sizeof *s);
  if (!s) {
    np_conn_abort(c, -ENOMEM);
    return -ENOMEM;
  }
  s->c = c;
  s->cfg = cfg;
  s->req = -1;
  int tls = np_conn_is_tls(c);
  const char *alpn = tls && strcmp(np_conn_alpn(c), "http/1.1") == 0 ? "http/1.1" : "";
  int rc = np_rpm_peer_init(&s->p, c, cfg, uuid, tls ? "rpm+h1" : "rpm+h1c", alpn);
  if (rc < 0) {
    free(s);
    np_conn_abort(c, rc);
    return rc;
  }
  s->idle_since = np_mono_ns();
  (void)uv_timer_init(np_conn_loop(c), &s->timer);
  s->timer.data = s;
  (void)uv_timer_start(&s->timer, on_tick, TICK_MS, TICK_MS);
  static const np_conn_callbacks cbs = {
      .on_data = on_data, .on_writable = on_writable, .on_close = on_close};
  np_conn_set_callbacks(c, &cbs, s);
  return (int)on_data(c, s, data, len);
}
