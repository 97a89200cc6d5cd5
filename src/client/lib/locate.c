/* M-Lab Locate v2: URL parsing, the answer's JSON reader and a capped fetch. */
#include "client/lib/locate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client/lib/setup.h"
#include "core/buf.h"
#include "core/error.h"
#include "http/request.h"
#include "http/response.h"
#include "net/conn.h"
#include "net/tls.h"

/* ---- the answer's JSON ---- */

static const char *const kPaths[2] = {"/ndt/v7/download", "/ndt/v7/upload"};

/* Which direction a "scheme://[:port]/path" key names: 0, 1, or -1. */
static int match_key(const char *key, const char *scheme) {
  size_t sl = strlen(scheme);
  if (strncmp(key, scheme, sl) != 0 || strncmp(key + sl, "://", 3) != 0) return -1;
  const char *p = key + sl + 3;
  if (*p == ':') {
    size_t d = strspn(p + 1, "0123456789");
    if (d == 0 || d > 5) return -1;
    p += 1 + d;
  }
  for (int i = 0; i < 2; i++)
    if (strcmp(p, kPaths[i]) == 0) return i;
  return -1;
}

/* Copies a URL value when it is a string URL of scheme for direction dir. */
static int take_url(json_t *val, const char *scheme, int dir, char *out, size_t cap) {
  if (!json_is_string(val)) return -1;
  const char *s = json_string_value(val);
  size_t len = json_string_length(val);
  if (len != strlen(s) || len + 1 > cap) return -1; /* embedded NUL or too long */
  np_url u;
  if (np_url_parse(s, &u) < 0 || strcmp(u.scheme, scheme) != 0) return -1;
  size_t plen = strcspn(u.target, "?");
  if (plen != strlen(kPaths[dir]) || memcmp(u.target, kPaths[dir], plen) != 0) return -1;
  memcpy(out, s, len + 1);
  return 0;
}

int np_locate_parse(const char *body, size_t len, const char *scheme, np_locate_list *ret) {
  if (!body || !scheme || !ret) return NP_E_BADARG;
  if (strcmp(scheme, "ws") != 0 && strcmp(scheme, "wss") != 0) return NP_E_BADARG;
  json_error_t jerr;
  json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) return NP_E_JSON;
  int rc = NP_E_JSON;
  np_locate_list *l = NULL;
  json_t *results = json_object_get(root, "results");
  if (!json_is_object(root) || !json_is_array(results)) goto out;
  l = calloc(1, sizeof *l);
  if (!l) {
    rc = -ENOMEM;
    goto out;
  }
  size_t i;
  json_t *res;
  json_array_foreach(results, i, res) {
    if (l->n >= NP_LOCATE_MAX_RESULTS) break;
    json_t *urls = json_object_get(res, "urls");
    if (!json_is_object(res) || !json_is_object(urls)) continue;
    np_locate_server *s = &l->servers[l->n];
    memset(s, 0, sizeof *s);
    const char *key;
    json_t *val;
    json_object_foreach(urls, key, val) {
      int dir = match_key(key, scheme);
      if (dir < 0) continue;
      char *dst = dir == 0 ? s->download_url : s->upload_url;
      if (dst[0]) continue; /* first usable one wins */
      (void)take_url(val, scheme, dir, dst, NP_LOCATE_MAX_URL);
    }
    if (!s->download_url[0] && !s->upload_url[0]) continue;
    json_t *m = json_object_get(res, "machine");
    if (json_is_string(m) && np_url_is_host_name(json_string_value(m), json_string_length(m)) &&
        json_string_length(m) < sizeof s->machine)
      memcpy(s->machine, json_string_value(m), json_string_length(m) + 1);
    l->n++;
  }
  if (l->n == 0) {
    rc = -ENOENT;
    goto out;
  }
  memcpy(ret, l, sizeof *l);
  rc = 0;
out:
  free(l);
  json_decref(root);
  return rc;
}

int np_locate_retry_after(const char *value, size_t len) {
  if (!value) return -1;
  while (len > 0 && (*value == ' ' || *value == '\t')) value++, len--;
  while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t')) len--;
  if (len == 0) return -1;
  long v = 0;
  for (size_t i = 0; i < len; i++) {
    if (value[i] < '0' || value[i] > '9') return -1;
    if (v < 86400) v = v * 10 + (value[i] - '0');
  }
  return v > 86400 ? 86400 : (int)v;
}

/* ---- fetching ---- */

struct np_locate_req {
  uv_loop_t *loop;
  np_locate_cb cb;
  void *ud;
  np_url url;
  char scheme[4];
  char user_agent[160];
  int family;
  np_tls_ctx *tls;
  uv_getaddrinfo_t gai;
  int gai_active;
  struct addrinfo *ai;
  struct addrinfo *ai_next;
  np_conn *c;
  int connected;
  int last_err;
  uv_timer_t timer;
  int timer_open;
  uint64_t timeout_ms;
  np_buf in;
  np_buf body;
  int head_done;
  np_http_body framing;
  int done;
  np_locate_reply reply;
};

static void maybe_free(np_locate_req *r) {
  if (!r->done || r->c || r->gai_active || r->timer_open) return;
  if (r->ai) uv_freeaddrinfo(r->ai);
  np_tls_ctx_free(r->tls);
  np_buf_free(&r->in);
  np_buf_free(&r->body);
  free(r);
}

static void on_timer_closed(uv_handle_t *h) {
  np_locate_req *r = h->data;
  r->timer_open = 0;
  maybe_free(r);
}

/* Decides the outcome once: tells the caller, then tears down. */
static void finish(np_locate_req *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finish(np_locate_req *r, int err, const char *fmt, ...) {
  if (r->done) return;
  r->done = 1;
  if (err && fmt) {
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(r->reply.error_text, sizeof r->reply.error_text, fmt, ap);
    va_end(ap);
  }
  (void)uv_timer_stop(&r->timer);
  uv_close((uv_handle_t *)&r->timer, on_timer_closed);
  if (r->c) np_conn_abort(r->c, NP_E_CLOSED);
  if (r->gai_active) (void)uv_cancel((uv_req_t *)&r->gai);
  r->cb(r->ud, err, &r->reply);
  maybe_free(r);
}

static void on_timeout(uv_timer_t *t) {
  np_locate_req *r = t->data;
  finish(r, NP_E_TIMEOUT, "the Locate service (%s) did not answer within %llu s", r->url.host,
         (unsigned long long)(r->timeout_ms / 1000));
}

/* Copies a short printable message from Locate's {"error":{"title":..}}. */
static void error_title(const np_buf *b, char *out, size_t cap) {
  out[0] = 0;
  json_t *root = json_loadb((const char *)b->data, b->len, 0, NULL);
  json_t *t = json_object_get(json_object_get(root, "error"), "title");
  if (json_is_string(t)) {
    size_t k = 0;
    for (const char *p = json_string_value(t); *p && k + 1 < cap && k < 120; p++)
      out[k++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
    out[k] = 0;
  }
  json_decref(root);
}

static void complete(np_locate_req *r) {
  int st = r->reply.status;
  if (st == 200) {
    int rc = np_locate_parse((const char *)r->body.data, r->body.len, r->scheme, &r->reply.list);
    if (rc == -ENOENT)
      finish(r, rc, "the Locate service offered no %s:// ndt7 server", r->scheme);
    else if (rc < 0)
      finish(r, rc, "the Locate service's answer is not valid Locate v2 JSON");
    else
      finish(r, 0, NULL);
    return;
  }
  if (st == 204) {
    finish(r, NP_E_REFUSED,
           "no server is available right now (Locate: 204 No Content); "
           "try again later");
    return;
  }
  if (st == 429) {
    if (r->reply.retry_after_s >= 0)
      finish(r, NP_E_REFUSED, "the Locate service rate-limited this client; retry after %d s",
             r->reply.retry_after_s);
    else
      finish(r, NP_E_REFUSED, "the Locate service rate-limited this client; retry later");
    return;
  }
  char title[128];
  error_title(&r->body, title, sizeof title);
  finish(r, NP_E_REFUSED, "the Locate service answered HTTP %d%s%s%s", st, title[0] ? " (" : "",
         title, title[0] ? ")" : "");
}

/* Parses as much of the answer as is buffered. */
static void process(np_locate_req *r) {
  while (!r->head_done) {
    np_http_response resp;
    int rc = np_http_parse_response(r->in.data, r->in.len, &resp);
    if (rc == 0) {
      if (r->in.len >= NP_HTTP_MAX_HEAD)
        finish(r, NP_E_TOOBIG, "the Locate service's answer head is too big");
      return;
    }
    if (rc < 0) {
      finish(r, NP_E_PROTO, "the Locate service's answer is not valid HTTP/1.1");
      return;
    }
    if (resp.status >= 100 && resp.status < 200) { /* interim answer: skip */
      np_buf_consume(&r->in, (size_t)rc);
      continue;
    }
    r->reply.status = resp.status;
    np_slice ra = np_http_header_get(resp.headers, resp.nheaders, "Retry-After");
    r->reply.retry_after_s = ra.ptr ? np_locate_retry_after((const char *)ra.ptr, ra.len) : -1;
    int brc = np_http_body_init(&r->framing, &resp, NP_LOCATE_MAX_BODY);
    if (brc < 0) {
      finish(r, brc, "the Locate service's answer has bad framing or is over %d bytes",
             NP_LOCATE_MAX_BODY);
      return;
    }
    np_buf_consume(&r->in, (size_t)rc);
    r->head_done = 1;
  }
  size_t blen = 0;
  int n = np_http_body_read(&r->framing, r->in.data, r->in.len, &blen);
  if (n < 0) {
    finish(r, n, "the Locate service's answer body is malformed or over %d bytes",
           NP_LOCATE_MAX_BODY);
    return;
  }
  if (blen > 0 && np_buf_append(&r->body, r->in.data, blen) < 0) {
    finish(r, NP_E_TOOBIG, "the Locate service's answer is over %d bytes", NP_LOCATE_MAX_BODY);
    return;
  }
  np_buf_consume(&r->in, (size_t)n);
  if (np_http_body_done(&r->framing)) complete(r);
}

static size_t on_data(np_conn *c, void *ud, uint8_t *data, size_t len) {
  np_locate_req *r = ud;
  (void)c;
  if (r->done || !data) return len;
  if (np_buf_append(&r->in, data, len) < 0) {
    finish(r, NP_E_TOOBIG, "the Locate service's answer is too big");
    return len;
  }
  process(r);
  return len;
}

static void on_connected(np_conn *c, void *ud, int status) {
  np_locate_req *r = ud;
  if (status < 0 || r->done) return; /* on_close follows */
  r->connected = 1;
  char ua[200];
  (void)snprintf(ua, sizeof ua, "User-Agent: %s", r->user_agent[0] ? r->user_agent : "netpulse");
  const char *headers[] = {"Accept: application/json", ua, "Connection: close", NULL};
  np_buf req;
  np_buf_init(&req, 8192);
  int rc = np_http_write_request(&req, "GET", r->url.host_header, r->url.target, headers);
  if (rc == 0) rc = np_conn_write(c, req.data, req.len);
  np_buf_free(&req);
  if (rc < 0) finish(r, rc, "cannot send the Locate request: %s", np_strerror(rc));
}

static void try_next(np_locate_req *r);

static void on_close(np_conn *c, void *ud, int status) {
  np_locate_req *r = ud;
  (void)c;
  r->c = NULL;
  if (r->done) {
    maybe_free(r);
    return;
  }
  if (!r->connected) { /* this address failed: the next one */
    r->last_err = status < 0 ? status : NP_E_CLOSED;
    try_next(r);
    return;
  }
  if (r->head_done && np_http_body_eof(&r->framing) == 0) {
    complete(r);
    return;
  }
  int err = status < 0 ? status : NP_E_CLOSED;
  finish(r, err, "the Locate service closed the connection early (%s)", np_strerror(err));
}

static const char *conn_err_text(int err) {
  if (err == NP_E_TLS || err == NP_E_TLS_PLAINTEXT) return np_strerror(err);
  if (err > NP_E_BASE && err < 0) return uv_strerror(err);
  return np_strerror(err);
}

static void try_next(np_locate_req *r) {
  static const np_conn_callbacks cbs = {
      .on_data = on_data, .on_connected = on_connected, .on_close = on_close};
  while (r->ai_next) {
    struct addrinfo *a = r->ai_next;
    r->ai_next = a->ai_next;
    int rc =
        np_conn_connect(r->loop, a->ai_addr, r->tls, r->tls ? r->url.host : NULL, &cbs, r, &r->c);
    if (rc == 0) return;
    r->c = NULL;
    r->last_err = rc;
  }
  int e = r->last_err ? r->last_err : -ECONNREFUSED;
  finish(r, e, "cannot reach the Locate service at %s port %d: %s", r->url.host, r->url.port,
         conn_err_text(e));
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res) {
  np_locate_req *r = g->data;
  r->gai_active = 0;
  r->ai = res;
  if (r->done) {
    maybe_free(r);
    return;
  }
  if (status < 0) {
    finish(r, status, "cannot resolve the Locate host %s: %s", r->url.host, uv_strerror(status));
    return;
  }
  r->ai_next = res;
  try_next(r);
}

int np_locate_fetch(uv_loop_t *loop, const np_locate_options *o, np_locate_cb cb, void *ud,
                    np_locate_req **ret_req) {
  if (!loop || !o || !o->url || !o->scheme || !cb) return NP_E_BADARG;
  if (strcmp(o->scheme, "ws") != 0 && strcmp(o->scheme, "wss") != 0) return NP_E_BADARG;
  np_locate_req *r = calloc(1, sizeof *r);
  if (!r) return -ENOMEM;
  int rc = np_url_parse(o->url, &r->url);
  if (rc < 0 || (strcmp(r->url.scheme, "http") != 0 && strcmp(r->url.scheme, "https") != 0)) {
    free(r);
    return NP_E_BADARG;
  }
  r->loop = loop;
  r->cb = cb;
  r->ud = ud;
  r->family = o->family;
  r->timeout_ms = o->timeout_ms ? o->timeout_ms : NP_LOCATE_TIMEOUT_MS;
  r->reply.retry_after_s = -1;
  memcpy(r->scheme, o->scheme, strlen(o->scheme) + 1);
  if (o->user_agent) {
    /* A header value: printable ASCII only. */
    size_t k = 0;
    for (const char *p = o->user_agent; *p && k + 1 < sizeof r->user_agent; p++)
      if (*p >= 0x20 && *p < 0x7f) r->user_agent[k++] = *p;
    r->user_agent[k] = 0;
  }
  np_buf_init(&r->in, NP_HTTP_MAX_HEAD + 2 * NP_LOCATE_MAX_BODY);
  np_buf_init(&r->body, NP_LOCATE_MAX_BODY);
  if (strcmp(r->url.scheme, "https") == 0) {
    rc = np_client_tls(o->verify_tls, o->ca_file, "http/1.1", &r->tls);
    if (rc < 0) {
      free(r);
      return rc;
    }
  }
  char port[8];
  (void)snprintf(port, sizeof port, "%d", r->url.port);
  r->gai.data = r;
  rc = np_client_resolve(loop, &r->gai, on_resolved, r->url.host, port, o->family);
  if (rc < 0) {
    np_tls_ctx_free(r->tls);
    free(r);
    return rc;
  }
  r->gai_active = 1;
  (void)uv_timer_init(loop, &r->timer);
  r->timer.data = r;
  r->timer_open = 1;
  (void)uv_timer_start(&r->timer, on_timeout, r->timeout_ms, 0);
  if (ret_req) *ret_req = r;
  return 0;
}

void np_locate_cancel(np_locate_req *r) {
  if (r) finish(r, NP_E_CLOSED, "cancelled");
}
