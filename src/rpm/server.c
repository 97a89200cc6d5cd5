/* One RPM connection: bytes between the conn and the HTTP/2 session, the
 * endpoints, and what the measurement's record learns from them. */
#include "rpm/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "http/query.h"
#include "net/tcpinfo.h"
#include "rpm/config.h"
#include "rpm/summary.h"

#define OUT_HIGH (256u << 10) /* bytes queued in the conn before we stop pulling */
#define OUT_LOWAT (64u << 10)
#define SAMPLE_MS 250

static uint64_t live_sessions;

uint64_t np_rpm_sessions(void) { return live_sessions; }

/* Per-stream state the record needs. */
typedef struct rstream {
  struct rstream *next;
  int32_t id;
  int req; /* record index, -1 if not recorded */
  np_rpm_endpoint ep;
  np_buf body; /* result endpoint only, capped */
  int too_big;
} rstream;

typedef struct {
  np_conn *c;
  np_h2_conn *h2;
  const np_rpm_server_cfg *cfg;
  char uuid[NP_UUID_BUFSZ];
  char ip[64];
  int port;
  uint8_t addr[16];
  size_t addr_len;
  uint64_t mid; /* measurement joined (valid when joined) */
  int joined;
  int conn_idx;
  rstream *streams;
  uint64_t reported; /* wire bytes sent already reported to the host */
  uv_timer_t timer;
  int closing;
} session;

static const np_h2_header h_bytes[] = {{"content-type", "application/octet-stream"},
                                       {"cache-control", "no-store"}};
static const np_h2_header h_json[] = {{"content-type", "application/json"},
                                      {"cache-control", "no-store"}};

static np_rpm_measurement *joined_m(session *s) {
  return s->joined ? np_rpm_service_get(s->cfg->svc, s->mid) : NULL;
}

static rstream *find_stream(session *s, int32_t id) {
  for (rstream *r = s->streams; r; r = r->next)
    if (r->id == id) return r;
  return NULL;
}

static void drop_stream(session *s, int32_t id) {
  for (rstream **p = &s->streams; *p; p = &(*p)->next) {
    if ((*p)->id == id) {
      rstream *r = *p;
      *p = r->next;
      np_buf_free(&r->body);
      free(r);
      return;
    }
  }
}

/* ---- bytes out ----------------------------------------------------------- */

static int is_payload(const session *s, const void *p) {
  const uint8_t *b = p;
  return b >= s->cfg->payload.ptr && b < s->cfg->payload.ptr + s->cfg->payload.len;
}

static void flush(session *s) {
  if (s->closing) return;
  uint64_t now = np_mono_ns();
  while (np_conn_pending(s->c) < OUT_HIGH) {
    struct iovec iov[NP_CONN_MAX_BUFS];
    int k = np_h2_conn_pull(s->h2, iov, NP_CONN_MAX_BUFS, OUT_HIGH, now);
    if (k <= 0) break;
    np_conn_buf bufs[NP_CONN_MAX_BUFS];
    size_t total = 0;
    for (int i = 0; i < k; i++) {
      /* Payload slices are referenced; frame bytes are copied into the
       * conn's queue, so the session's own buffer is free at once. */
      bufs[i] = (np_conn_buf){iov[i].iov_base, iov[i].iov_len, is_payload(s, iov[i].iov_base)};
      total += iov[i].iov_len;
    }
    if (np_conn_writev(s->c, bufs, k, NULL, NULL) < 0) {
      s->closing = 1;
      np_conn_abort(s->c, NP_E_CLOSED);
      return;
    }
    np_h2_conn_sent(s->h2, total);
  }
  if (np_h2_conn_done(s->h2)) {
    s->closing = 1;
    np_conn_close(s->c);
    return;
  }
  np_conn_want_writable(s->c, np_h2_conn_want_write(s->h2), OUT_LOWAT);
}

/* ---- answers --------------------------------------------------------------- */

/* The answer's status goes into the request's record. */
static void note_status(session *s, int32_t id, int status) {
  rstream *r = find_stream(s, id);
  np_rpm_measurement *m = joined_m(s);
  if (r && m && r->req >= 0) m->rec.reqs[r->req].status = (uint16_t)status;
}

static void reply_json(session *s, int32_t id, int status, const char *body) {
  (void)np_h2_respond(s->h2, id, status, h_json, 2, np_slice_cstr(body));
  note_status(s, id, status);
}

/* An error answer; admission's own refusals are counted where decided. */
static void answer_error(session *s, int32_t id, int status, const char *reason, int retry_after) {
  char body[128];
  (void)snprintf(body, sizeof body, "{\"status\":%d,\"error\":\"%s\"}\n", status, reason);
  char ra[24];
  np_h2_header h[3] = {h_json[0], h_json[1], {"retry-after", ra}};
  size_t nh = 2;
  if (retry_after >= 0) {
    (void)snprintf(ra, sizeof ra, "%d", retry_after);
    nh = 3;
  }
  (void)np_h2_respond(s->h2, id, status, h, nh, np_slice_cstr(body));
  note_status(s, id, status);
}

/* An error answer counted as a refused request (not for 404/405). */
static void reply_error(session *s, int32_t id, int status, const char *reason, int retry_after) {
  answer_error(s, id, status, reason, retry_after);
  if (s->cfg->host->rejected && status != 404 && status != 405)
    s->cfg->host->rejected(s->cfg->host_ud, np_conn_is_tls(s->c), reason);
}

static void set_cc(session *s) {
  int fd = np_conn_fd(s->c);
  if (s->cfg->congestion && *s->cfg->congestion)
    (void)setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, s->cfg->congestion,
                     (socklen_t)strlen(s->cfg->congestion));
}

/* Joins measurement m (once per connection): the record gets this
 * connection's identity. */
static int join(session *s, np_rpm_measurement *m) {
  if (s->joined) return s->mid == m->rec.id ? 0 : NP_E_BADARG;
  const np_conn_stats *st = np_conn_get_stats(s->c);
  int idx = np_rpm_measurement_join(s->cfg->svc, m, s->uuid, s->port, st->start_ns);
  if (idx < 0) return idx;
  s->joined = 1;
  s->mid = m->rec.id;
  s->conn_idx = idx;
  np_rpm_conn_rec *cr = &m->rec.conns[idx];
  cr->tls = np_conn_is_tls(s->c);
  (void)snprintf(cr->alpn, sizeof cr->alpn, "%s", cr->tls ? "h2" : "h2c");
  if (cr->tls) {
    np_conn_tls_info(s->c, cr->tls_version, sizeof cr->tls_version, cr->cipher, sizeof cr->cipher);
    if (st->handshake_ns > st->start_ns) cr->handshake_ns = st->handshake_ns - st->start_ns;
  }
  (void)np_tcp_congestion(np_conn_fd(s->c), cr->congestion, sizeof cr->congestion);
  return 0;
}

static np_rpm_measurement *begin(session *s, const np_h2_request *rq, np_slice query,
                                 uint64_t now) {
  np_rpm_refusal no = {503, 10, "busy"};
  void *host = NULL;
  if (s->cfg->host->admit(s->cfg->host_ud, query, s->ip, np_conn_is_tls(s->c), &host, &no) < 0) {
    answer_error(s, rq->stream_id, no.status, no.reason, no.retry_after);
    return NULL;
  }
  np_rpm_measurement *m = NULL;
  int rc =
      np_rpm_service_begin(s->cfg->svc, np_slice_make(s->addr, s->addr_len), now, np_wall_ns(), &m);
  if (rc < 0) {
    reply_error(s, rq->stream_id, 503, "busy", 10);
    return NULL;
  }
  m->host = host;
  (void)snprintf(m->rec.protocol, sizeof m->rec.protocol, "%s",
                 np_conn_is_tls(s->c) ? "h2" : "h2c");
  (void)snprintf(m->rec.client_ip, sizeof m->rec.client_ip, "%s", s->ip);
  (void)np_conn_local_addr(s->c, m->rec.server_ip, sizeof m->rec.server_ip, &m->rec.server_port);
  return m;
}

static void answer_config(session *s, const np_h2_request *rq, np_slice query, uint64_t now) {
  np_slice auth = s->cfg->public_host ? np_slice_cstr(s->cfg->public_host) : rq->authority;
  if (!np_rpm_authority_ok(auth)) {
    reply_error(s, rq->stream_id, 400, "bad_authority", -1);
    return;
  }
  if (s->joined) { /* one measurement per connection */
    reply_error(s, rq->stream_id, 409, "conn_has_measurement", -1);
    return;
  }
  np_rpm_measurement *m = begin(s, rq, query, now);
  if (!m) return;
  np_buf js;
  np_buf_init(&js, 8192);
  int rc = np_rpm_config_json(&js, np_conn_is_tls(s->c) ? "https" : "http", auth, m->mid);
  if (rc == 0) rc = join(s, m);
  if (rc < 0) {
    reply_error(s, rq->stream_id, 500, "internal", -1);
  } else {
    (void)np_h2_respond(s->h2, rq->stream_id, 200, h_json, 2, np_buf_slice(&js));
  }
  np_buf_free(&js);
}

/* Checks the request's measurement ID and joins its measurement; answers
 * the refusal itself. */
static np_rpm_measurement *authorise(session *s, const np_h2_request *rq, np_slice query,
                                     uint64_t now) {
  np_query q;
  const char *mid = NULL;
  if (np_query_parse(query, &q) == 0) mid = np_query_get(&q, "mid");
  np_rpm_measurement *m = NULL;
  np_rpm_mid_status st = np_rpm_service_find(s->cfg->svc, np_slice_cstr(mid ? mid : ""),
                                             np_slice_make(s->addr, s->addr_len), now, &m);
  if (st != NP_RPM_MID_OK) {
    static const char *const names[] = {"mid_ok", "mid_missing", "mid_malformed", "mid_forged",
                                        "mid_expired"};
    reply_error(s, rq->stream_id, 403, names[st], -1);
    return NULL;
  }
  int rc = join(s, m);
  if (rc == NP_E_TOOBIG) {
    reply_error(s, rq->stream_id, 503, "conn_cap", 10);
    return NULL;
  }
  if (rc < 0) {
    reply_error(s, rq->stream_id, 403, "mid_other_measurement", -1);
    return NULL;
  }
  return m;
}

static int on_request(void *ud, const np_h2_request *rq, uint64_t now) {
  session *s = ud;
  const uint8_t *qm = memchr(rq->path.ptr, '?', rq->path.len);
  size_t plen = qm ? (size_t)(qm - rq->path.ptr) : rq->path.len;
  np_slice query = qm ? np_slice_make(qm + 1, rq->path.len - plen - 1) : np_slice_make("", 0);
  np_rpm_endpoint ep = np_rpm_endpoint_of((const char *)rq->path.ptr, plen);
  int get = np_slice_eq(rq->method, np_slice_cstr("GET"));
  int post = np_slice_eq(rq->method, np_slice_cstr("POST"));
  if (ep == NP_RPM_EP_OTHER) {
    reply_error(s, rq->stream_id, 404, "not_found", -1);
    return 0;
  }
  if (((ep == NP_RPM_EP_UPLOAD || ep == NP_RPM_EP_RESULT) && !post) ||
      (ep != NP_RPM_EP_UPLOAD && ep != NP_RPM_EP_RESULT && !get)) {
    reply_error(s, rq->stream_id, 405, "method", -1);
    return 0;
  }
  np_rpm_measurement *m = NULL;
  if (ep == NP_RPM_EP_CONFIG) {
    answer_config(s, rq, query, now);
    m = joined_m(s);
  } else {
    m = authorise(s, rq, query, now);
  }
  if (!m) return 0;
  rstream *r = calloc(1, sizeof *r);
  if (!r) return -1;
  r->id = rq->stream_id;
  r->ep = ep;
  r->req = np_rpm_record_add_request(&m->rec, s->conn_idx, ep, rq->stream_id, now);
  np_buf_init(&r->body, ep == NP_RPM_EP_RESULT ? NP_RPM_SUMMARY_MAX_BYTES : 0);
  r->next = s->streams;
  s->streams = r;
  if (r->req >= 0 && ep == NP_RPM_EP_CONFIG) m->rec.reqs[r->req].status = 200;
  if (ep == NP_RPM_EP_SMALL) {
    (void)np_h2_respond(s->h2, rq->stream_id, 200, h_bytes, 2,
                        np_slice_make(s->cfg->payload.ptr, 1));
  } else if (ep == NP_RPM_EP_LARGE) {
    (void)np_h2_respond_stream(s->h2, rq->stream_id, 200, h_bytes, 2, s->cfg->large_length);
  }
  if (r->req >= 0 && (ep == NP_RPM_EP_SMALL || ep == NP_RPM_EP_LARGE))
    m->rec.reqs[r->req].status = 200;
  return 0;
}

static void on_body(void *ud, int32_t id, const uint8_t *data, size_t n, uint64_t now) {
  session *s = ud;
  rstream *r = find_stream(s, id);
  if (!r) return;
  if (r->ep == NP_RPM_EP_RESULT && !r->too_big && np_buf_append(&r->body, data, n) < 0)
    r->too_big = 1;
}

static void finish_result(session *s, np_rpm_measurement *m, rstream *r) {
  if (r->too_big) {
    reply_error(s, r->id, 413, "summary_too_big", -1);
    return;
  }
  json_t *sum = NULL;
  uint32_t dropped = 0;
  int rc = np_rpm_summary_clean(r->body.data, r->body.len, &sum, &dropped);
  if (rc < 0) {
    reply_error(s, r->id, 400, "summary_invalid", -1);
    return;
  }
  json_decref(m->rec.client_summary); /* the last one sent counts */
  m->rec.client_summary = sum;
  char body[64];
  (void)snprintf(body, sizeof body, "{\"status\":200,\"dropped\":%u}\n", dropped);
  reply_json(s, r->id, 200, body);
}

static void on_request_end(void *ud, int32_t id, uint64_t now) {
  session *s = ud;
  rstream *r = find_stream(s, id);
  np_rpm_measurement *m = joined_m(s);
  if (!r || !m) return;
  if (r->ep == NP_RPM_EP_UPLOAD) {
    reply_json(s, id, 200, "{\"status\":200}\n");
  } else if (r->ep == NP_RPM_EP_RESULT) {
    finish_result(s, m, r);
  }
}

static void on_first_byte(void *ud, int32_t id, uint64_t now) {
  session *s = ud;
  rstream *r = find_stream(s, id);
  np_rpm_measurement *m = joined_m(s);
  if (r && m && r->req >= 0 && now > m->rec.start_mono_ns)
    m->rec.reqs[r->req].first_byte_ns = now - m->rec.start_mono_ns;
}

static void on_stream_close(void *ud, int32_t id, uint32_t code, uint64_t sent, uint64_t recv,
                            uint64_t now) {
  session *s = ud;
  rstream *r = find_stream(s, id);
  np_rpm_measurement *m = joined_m(s);
  if (r && m) {
    if (r->req >= 0) {
      np_rpm_req_rec *q = &m->rec.reqs[r->req];
      q->done_ns = now > m->rec.start_mono_ns ? now - m->rec.start_mono_ns : 1;
      q->sent = sent;
      q->received = recv;
      q->h2_error = code;
    }
    np_rpm_conn_rec *cr = &m->rec.conns[s->conn_idx];
    cr->body_sent += sent;
    cr->body_received += recv;
    if (r->ep == NP_RPM_EP_LARGE) cr->large_bytes += sent;
    if (r->ep == NP_RPM_EP_UPLOAD) cr->upload_bytes += recv;
  }
  drop_stream(s, id);
}

static const np_h2_callbacks h2cb = {.on_request = on_request,
                                     .on_body = on_body,
                                     .on_request_end = on_request_end,
                                     .on_first_byte = on_first_byte,
                                     .on_stream_close = on_stream_close};

/* ---- the connection ------------------------------------------------------- */

static size_t on_data(np_conn *c, void *ud, uint8_t *data, size_t len) {
  session *s = ud;
  if (!data || s->closing) return len;
  if (np_h2_conn_recv(s->h2, data, len, np_mono_ns()) == -ENOMEM) {
    s->closing = 1;
    np_conn_abort(c, -ENOMEM);
    return len;
  }
  flush(s); /* a protocol error leaves a GOAWAY to write, then done */
  return len;
}

static void on_writable(np_conn *c, void *ud) { flush(ud); }

/* Tells the host the socket bytes sent since the last report. */
static void report_sent(session *s, np_rpm_measurement *m) {
  uint64_t w = np_conn_get_stats(s->c)->wire_written;
  if (m && s->cfg->host->sent && w > s->reported)
    s->cfg->host->sent(s->cfg->host_ud, m->host, w - s->reported);
  s->reported = w;
}

static void timer_closed(uv_handle_t *h) {
  session *s = h->data;
  np_h2_conn_free(s->h2);
  while (s->streams) drop_stream(s, s->streams->id);
  free(s);
}

static void on_close(np_conn *c, void *ud, int status) {
  session *s = ud;
  /* Streams still open end with the connection: their bytes count. */
  np_h2_conn_end_streams(s->h2, NP_H2_CANCEL, np_mono_ns());
  np_rpm_measurement *m = joined_m(s);
  if (m) {
    np_rpm_conn_rec *cr = &m->rec.conns[s->conn_idx];
    const np_conn_stats *st = np_conn_get_stats(c);
    cr->wire_sent = st->wire_written;
    cr->wire_received = st->wire_read;
    /* The fd is gone by now: the last tick's snapshot stands as final. */
    const char *why = status == 0              ? "peer-closed"
                      : status == NP_E_CLOSED  ? "closed"
                      : status == NP_E_TIMEOUT ? "timeout"
                      : status == -ECONNRESET  ? "reset"
                      : s->closing             ? "server-closed"
                                               : "error";
    np_rpm_measurement_leave(m, s->conn_idx, np_mono_ns(), why);
    report_sent(s, m);
  }
  live_sessions--;
  if (s->cfg->host->closed) s->cfg->host->closed(s->cfg->host_ud);
  (void)uv_timer_stop(&s->timer);
  uv_close((uv_handle_t *)&s->timer, timer_closed);
}

/* Every 250 ms: a TCP_INFO sample for the record, and the end of a
 * connection whose measurement has ended. */
static void on_tick(uv_timer_t *t) {
  session *s = t->data;
  if (s->closing) return;
  if (!s->joined) {
    /* Connections that never present a measurement cost a descriptor:
     * they get as long as a request head does on HTTP/1.1. */
    uint64_t age = np_mono_ns() - np_conn_get_stats(s->c)->start_ns;
    if (s->cfg->join_timeout_ns && age > s->cfg->join_timeout_ns) {
      (void)np_h2_conn_shutdown(s->h2);
      flush(s);
      if (!s->closing) {
        s->closing = 1;
        np_conn_close(s->c);
      }
    }
    return;
  }
  np_rpm_measurement *m = joined_m(s);
  if (!m) {
    (void)np_h2_conn_shutdown(s->h2);
    s->closing = 1;
    np_conn_close(s->c);
    return;
  }
  report_sent(s, m);
  np_rpm_conn_rec *cr = &m->rec.conns[s->conn_idx];
  if (np_tcpinfo_read(np_conn_fd(s->c), &cr->final) == 0) {
    cr->has_final = 1;
    (void)np_rpm_record_sample(&m->rec, s->conn_idx, &cr->final, np_mono_ns());
  }
}

static int peer_bytes(session *s) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getpeername(np_conn_fd(s->c), (struct sockaddr *)&ss, &len) != 0) return -errno;
  if (ss.ss_family == AF_INET) {
    memcpy(s->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    s->addr_len = 4;
  } else if (ss.ss_family == AF_INET6) {
    memcpy(s->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
    s->addr_len = 16;
  } else {
    return NP_E_BADARG;
  }
  return np_conn_peer_addr(s->c, s->ip, sizeof s->ip, &s->port);
}

static void orphan_close(np_conn *c, void *ud, int status) {
  (void)c;
  (void)ud;
  (void)status;
}

/* A connection this function refuses is closed with callbacks of its own:
 * the caller's on_close must not run after the caller let go of it (a
 * probe connection reset right after its first bytes has no peer address
 * any more, and its front-door state was freed twice). */
static int refuse(np_conn *c, int rc) {
  static const np_conn_callbacks orphan = {.on_close = orphan_close};
  np_conn_set_callbacks(c, &orphan, NULL);
  np_conn_abort(c, rc);
  return rc;
}

int np_rpm_serve(np_conn *c, const np_rpm_server_cfg *cfg, const char *uuid, const uint8_t *initial,
                 size_t n) {
  session *s = calloc(1, sizeof *s);
  if (!s) return refuse(c, -ENOMEM);
  s->c = c;
  s->cfg = cfg;
  (void)snprintf(s->uuid, sizeof s->uuid, "%s", uuid);
  int rc = peer_bytes(s);
  if (rc >= 0) rc = np_h2_conn_new(&s->h2, &cfg->h2, &h2cb, s);
  if (rc < 0) {
    np_h2_conn_free(s->h2);
    free(s);
    return refuse(c, rc);
  }
  set_cc(s);
  if (cfg->notsent_lowat) {
    int v = (int)cfg->notsent_lowat;
    (void)setsockopt(np_conn_fd(c), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, sizeof v);
  }
  (void)uv_timer_init(np_conn_loop(c), &s->timer);
  s->timer.data = s;
  (void)uv_timer_start(&s->timer, on_tick, SAMPLE_MS, SAMPLE_MS);
  live_sessions++;
  static const np_conn_callbacks cbs = {
      .on_data = on_data, .on_writable = on_writable, .on_close = on_close};
  np_conn_set_callbacks(c, &cbs, s);
  if (n)
    (void)on_data(c, s, (uint8_t *)initial, n);
  else
    flush(s); /* our SETTINGS go out first */
  return 0;
}
