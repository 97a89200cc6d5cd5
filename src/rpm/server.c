/* One RPM connection over HTTP/2: bytes between the conn and the nghttp2
 * session, and the endpoints mapped onto the measurement (peer.c). */
#include "rpm/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "rpm/config.h"
#include "rpm/peer.h"
#include "rpm/summary.h"

#define SAMPLE_MS 250
/* Payload worth a recv(MSG_TRUNC) of its own: bench/frame_floor measured
 * header-read-and-drop even with 64 KiB copy reads at 8 KiB frames, ahead
 * at 16 KiB, behind at 4 KiB. */
#define SKIP_MIN 8192
#define FRAME_HEADER 9

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
  np_rpm_peer p;
  np_conn *c;
  np_h2_conn *h2;
  const np_rpm_server_cfg *cfg;
  rstream *streams;
  uv_timer_t timer;
  int closing;
  int budget_out; /* the allowance's GOAWAY is queued */
} session;

#define FIELD(n, v) {n, v},
#define NH (2 + NP_RPM_CORS_NFIELDS)
static const np_h2_header h_bytes[NH] = {{"content-type", "application/octet-stream"},
                                         {"cache-control", "no-store"},
                                         NP_RPM_CORS_FIELDS(FIELD)};
static const np_h2_header h_json[NH] = {
    {"content-type", "application/json"}, {"cache-control", "no-store"}, NP_RPM_CORS_FIELDS(FIELD)};

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
  if (b >= s->cfg->payload.ptr && b < s->cfg->payload.ptr + s->cfg->payload.len) return 1;
  return np_h2_conn_holds(s->h2, p); /* freed after the conn closes (timer_closed) */
}

/* The measurement sent its transmit allowance: the client learns why
 * (GOAWAY, NO_ERROR, with a reason) rather than from a bare close, and
 * the large downloads stop (RST_STREAM CANCEL). The connection stays up
 * for what is in flight: closing a socket with unread bytes resets it,
 * and a reset loses the client's unread data, the GOAWAY with it. */
static void allowance_reached(session *s) {
  if (s->budget_out) return;
  s->budget_out = 1;
  (void)np_h2_conn_goaway(s->h2, NP_RPM_GOAWAY_BUDGET, "transmit allowance reached");
  for (rstream *r = s->streams; r; r = r->next)
    if (r->ep == NP_RPM_EP_LARGE) (void)np_h2_reset(s->h2, r->id, 0x8 /* CANCEL */);
}

static void flush_at(session *s, uint64_t now) {
  if (s->closing) return;
  /* The queue's bound follows the connection's rate (peer.c); the h2
   * layer stages only what fills it, in frames no larger than it. */
  np_rpm_peer_pace_early(&s->p, now);
  size_t cap = s->p.out_cap;
  np_h2_conn_set_frame_max(s->h2, cap);
  while (np_conn_pending(s->c) < cap) {
    struct iovec iov[NP_CONN_MAX_BUFS];
    int k = np_h2_conn_pull(s->h2, iov, NP_CONN_MAX_BUFS, cap, now);
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
    /* A fast socket takes a whole flow-control window in one loop: the
     * allowance is checked at every write. */
    if (np_rpm_peer_report(&s->p)) allowance_reached(s);
  }
  if (np_h2_conn_done(s->h2)) {
    s->closing = 1;
    np_conn_close(s->c);
    return;
  }
  np_conn_want_writable(s->c, np_h2_conn_want_write(s->h2), s->p.out_cap / 4);
}

static void flush(session *s) { flush_at(s, np_mono_ns()); }

/* ---- answers --------------------------------------------------------------- */

/* The answer's status goes into the request's record. */
static void note_status(session *s, int32_t id, int status) {
  rstream *r = find_stream(s, id);
  if (r) np_rpm_peer_status(&s->p, r->req, status);
}

static void reply_json(session *s, int32_t id, int status, const char *body) {
  (void)np_h2_respond(s->h2, id, status, h_json, NH, np_slice_cstr(body));
  note_status(s, id, status);
}

/* Answers rq with a complete body, or, to a HEAD, with the same headers
 * (content-length of that body) and no body. */
static void respond(session *s, const np_h2_request *rq, int status, const np_h2_header *h,
                    size_t nh, np_slice body) {
  if (np_slice_eq(rq->method, np_slice_cstr("HEAD")))
    (void)np_h2_respond_head(s->h2, rq->stream_id, status, h, nh, body.len);
  else
    (void)np_h2_respond(s->h2, rq->stream_id, status, h, nh, body);
}

/* An error answer (counting is the decider's business). */
static void answer_error(session *s, const np_h2_request *rq, const np_rpm_verdict *v) {
  char body[128];
  (void)snprintf(body, sizeof body, "{\"status\":%d,\"error\":\"%s\"}\n", v->status, v->reason);
  char ra[24];
  np_h2_header h[NH + 2];
  memcpy(h, h_json, sizeof h_json);
  size_t nh = NH;
  if (v->retry_after >= 0) {
    (void)snprintf(ra, sizeof ra, "%d", v->retry_after);
    h[nh++] = (np_h2_header){"retry-after", ra};
  }
  if (v->allow) h[nh++] = (np_h2_header){"allow", v->allow}; /* RFC 9110 15.5.6 */
  respond(s, rq, v->status, h, nh, np_slice_cstr(body));
  note_status(s, rq->stream_id, v->status);
}

/* A request outside the RPM endpoints goes to the host (the test page). */
static void answer_other(session *s, const np_h2_request *rq, size_t plen) {
  np_http_reply rep;
  const np_rpm_host *h = s->cfg->host;
  if (!h->other ||
      h->other(s->cfg->host_ud, rq->method, np_slice_make(rq->path.ptr, plen), &rep) < 0) {
    answer_error(s, rq, &(np_rpm_verdict){404, "not_found", -1, NULL});
    return;
  }
  np_h2_header hdrs[NP_HTTP_REPLY_MAX_FIELDS];
  for (size_t i = 0; i < rep.nfields; i++)
    hdrs[i] = (np_h2_header){rep.fields[i].name, rep.fields[i].value};
  respond(s, rq, rep.status, hdrs, rep.nfields, rep.body);
  np_http_reply_free(&rep);
}

/* OPTIONS on an RPM endpoint: a CORS preflight (or a plain question),
 * answered without a measurement. */
static void answer_options(session *s, const np_h2_request *rq, np_rpm_endpoint ep) {
  const char *allow = np_rpm_allow(ep);
  const np_h2_header h[] = {NP_RPM_CORS_FIELDS(FIELD){"access-control-allow-methods", allow},
                            {"access-control-allow-headers", NP_RPM_CORS_ALLOW_HEADERS},
                            {"access-control-max-age", NP_RPM_CORS_MAX_AGE},
                            {"allow", allow}};
  (void)np_h2_respond(s->h2, rq->stream_id, 204, h, sizeof h / sizeof h[0], np_slice_make("", 0));
}

static int on_request(void *ud, const np_h2_request *rq, uint64_t now) {
  session *s = ud;
  np_rpm_endpoint ep;
  np_slice query;
  size_t plen;
  int st = np_rpm_route(rq->method, rq->path, &ep, &query, &plen);
  if (st == 404) {
    answer_other(s, rq, plen);
    return 0;
  }
  if (st == 405) {
    answer_error(s, rq, &(np_rpm_verdict){405, "method", -1, np_rpm_allow(ep)});
    return 0;
  }
  if (st == 204) {
    answer_options(s, rq, ep);
    return 0;
  }
  const char *scheme = np_conn_is_tls(s->c) ? "https" : "http";
  int head = np_slice_eq(rq->method, np_slice_cstr("HEAD"));
  np_rpm_verdict v;
  if (head && ep == NP_RPM_EP_CONFIG) { /* begins no measurement */
    int len = np_rpm_peer_config_length(&s->p, scheme, rq->authority, &v);
    if (len < 0)
      answer_error(s, rq, &v);
    else
      (void)np_h2_respond_head(s->h2, rq->stream_id, 200, h_json, NH, (uint64_t)len);
    return 0;
  }
  np_rpm_measurement *m;
  np_buf js;
  np_buf_init(&js, 8192);
  if (ep == NP_RPM_EP_CONFIG)
    m = np_rpm_peer_config(&s->p, scheme, rq->authority, query, s->streams == NULL, now, &js, &v);
  else
    m = np_rpm_peer_authorise(&s->p, query, now, &v);
  if (!m) {
    np_buf_free(&js);
    answer_error(s, rq, &v);
    return 0;
  }
  rstream *r = calloc(1, sizeof *r);
  if (!r) {
    np_buf_free(&js);
    return -1;
  }
  r->id = rq->stream_id;
  r->ep = ep;
  r->req = np_rpm_peer_request(&s->p, ep, rq->stream_id, now);
  np_buf_init(&r->body, ep == NP_RPM_EP_RESULT ? NP_RPM_SUMMARY_MAX_BYTES : 0);
  r->next = s->streams;
  s->streams = r;
  /* Upload bodies are counted, never read: their DATA payload may be
   * dropped unread (in the kernel, on cleartext). */
  if (ep == NP_RPM_EP_UPLOAD) (void)np_h2_discard_body(s->h2, rq->stream_id);
  if (ep == NP_RPM_EP_CONFIG) {
    (void)np_h2_respond(s->h2, rq->stream_id, 200, h_json, NH, np_buf_slice(&js));
  } else if (head) { /* the download's headers, without its body */
    (void)np_h2_respond_head(s->h2, rq->stream_id, 200, h_bytes, NH,
                             ep == NP_RPM_EP_SMALL ? 1 : s->cfg->large_length);
  } else if (ep == NP_RPM_EP_SMALL) {
    (void)np_h2_respond(s->h2, rq->stream_id, 200, h_bytes, NH,
                        np_slice_make(s->cfg->payload.ptr, 1));
  } else if (ep == NP_RPM_EP_LARGE) {
    (void)np_h2_respond_stream(s->h2, rq->stream_id, 200, h_bytes, NH, s->cfg->large_length);
  }
  np_buf_free(&js);
  if (ep == NP_RPM_EP_CONFIG || ep == NP_RPM_EP_SMALL || ep == NP_RPM_EP_LARGE)
    np_rpm_peer_status(&s->p, r->req, 200);
  return 0;
}

static void on_body(void *ud, int32_t id, const uint8_t *data, size_t n, uint64_t now) {
  session *s = ud;
  rstream *r = find_stream(s, id);
  if (!r) return;
  if (r->ep == NP_RPM_EP_RESULT && !r->too_big && np_buf_append(&r->body, data, n) < 0)
    r->too_big = 1;
}

static void on_request_end(void *ud, int32_t id, uint64_t now) {
  session *s = ud;
  rstream *r = find_stream(s, id);
  np_rpm_measurement *m = np_rpm_peer_measurement(&s->p);
  if (!r || !m) return;
  if (r->ep == NP_RPM_EP_UPLOAD) {
    reply_json(s, id, 200, "{\"status\":200}\n");
  } else if (r->ep == NP_RPM_EP_RESULT) {
    np_rpm_verdict v;
    char answer[128];
    np_rpm_peer_result(&s->p, m, &r->body, r->too_big, &v, answer, sizeof answer);
    reply_json(s, id, v.status, answer);
  }
}

static void on_first_byte(void *ud, int32_t id, uint64_t now) {
  session *s = ud;
  rstream *r = find_stream(s, id);
  if (r) np_rpm_peer_first_byte(&s->p, r->req, now);
}

static void on_stream_close(void *ud, int32_t id, uint32_t code, uint64_t sent, uint64_t recv,
                            uint64_t now) {
  session *s = ud;
  rstream *r = find_stream(s, id);
  if (r) np_rpm_peer_request_done(&s->p, r->req, r->ep, sent, recv, code, now);
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
  if (s->closing) return len;
  uint64_t now = np_mono_ns();
  /* NULL: bytes we asked the conn to drop, payload nobody reads. */
  int rc = data ? np_h2_conn_recv(s->h2, data, len, now) : np_h2_conn_skip(s->h2, len, now);
  if (rc == -ENOMEM) {
    s->closing = 1;
    np_conn_abort(c, -ENOMEM);
    return len;
  }
  /* On cleartext, the rest of such a payload is dropped in the kernel
   * (recv with MSG_TRUNC), as ndt7 drops upload messages; over TLS the
   * bytes are decrypted anyway and nghttp2 does not copy them. (While the
   * conn reports skipped bytes, the rest of its skip is still pending.) */
  uint64_t skip = data && rc == 0 && !np_conn_is_tls(c) ? np_h2_conn_skippable(s->h2) : 0;
  if (skip >= SKIP_MIN) {
    np_conn_skip(c, skip);
    np_conn_read_hint(c, FRAME_HEADER);
  } else if (skip > 0 && len >= SKIP_MIN) {
    /* Too little to drop on its own: read it with the next header, so
     * the read after that starts at a payload again. Only after a bulk
     * read: a client sending small frames must not get a read each. */
    np_conn_read_hint(c, (size_t)skip + FRAME_HEADER);
  }
  /* Most upload frames leave nothing to write: then there is nothing to
   * flush either (a pending on_writable turns itself off). An error
   * always flushes: its GOAWAY is still inside nghttp2. */
  if (rc < 0 || np_h2_conn_want_write(s->h2) || np_h2_conn_done(s->h2))
    flush_at(s, now); /* a protocol error leaves a GOAWAY to write, then done */
  return len;
}

static void on_writable(np_conn *c, void *ud) { flush(ud); }

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
  /* Guard trips and protocol errors must not pass for a clean close. */
  const char *goaway = np_h2_conn_goaway_reason(s->h2);
  const np_rpm_host *h = s->cfg->host;
  if (goaway && h->goaway)
    h->goaway(s->cfg->host_ud, s->p.proto, goaway, s->p.uuid, s->p.joined ? s->p.mid : 0);
  np_rpm_peer_closed(&s->p, status, s->closing, goaway);
  (void)uv_timer_stop(&s->timer);
  uv_close((uv_handle_t *)&s->timer, timer_closed);
}

/* Every 250 ms: the record's sample, and the end of a connection whose
 * measurement has ended (or that never joined one). */
static void on_tick(uv_timer_t *t) {
  session *s = t->data;
  if (s->closing) return;
  int end = np_rpm_peer_tick(&s->p, np_mono_ns(), s->streams == NULL);
  if (end && np_rpm_peer_over(&s->p)) {
    allowance_reached(s);
    flush(s);
    return;
  }
  /* After the allowance's GOAWAY the connection has nothing to carry. */
  if (!end && !(s->budget_out && s->streams == NULL)) return;
  /* An idle probe connection is closed on a schedule of ours, not at the
   * measurement's end: operators see the two apart in the GOAWAY metric. */
  if (s->p.idle_out)
    (void)np_h2_conn_goaway(s->h2, "idle", "idle probe connection");
  else
    (void)np_h2_conn_shutdown(s->h2);
  flush(s);
  if (!s->closing) {
    s->closing = 1;
    np_conn_close(s->c);
  }
}

/* A refused connection is aborted with the caller's callbacks still set:
 * its close reaches the caller (the front door), which still owns it. */
static int refuse(np_conn *c, int rc) {
  np_conn_abort(c, rc);
  return rc;
}

int np_rpm_serve(np_conn *c, const np_rpm_server_cfg *cfg, const char *uuid, const uint8_t *initial,
                 size_t n) {
  session *s = calloc(1, sizeof *s);
  if (!s) return refuse(c, -ENOMEM);
  s->c = c;
  s->cfg = cfg;
  int tls = np_conn_is_tls(c);
  int rc = np_h2_conn_new(&s->h2, &cfg->h2, &h2cb, s);
  if (rc >= 0) {
    rc = np_rpm_peer_init(&s->p, c, cfg, uuid, tls ? "rpm+h2" : "rpm+h2c", tls ? "h2" : "h2c");
  }
  if (rc < 0) {
    np_h2_conn_free(s->h2);
    free(s);
    return refuse(c, rc);
  }
  (void)uv_timer_init(np_conn_loop(c), &s->timer);
  s->timer.data = s;
  (void)uv_timer_start(&s->timer, on_tick, SAMPLE_MS, SAMPLE_MS);
  static const np_conn_callbacks cbs = {
      .on_data = on_data, .on_writable = on_writable, .on_close = on_close};
  np_conn_set_callbacks(c, &cbs, s);
  if (n)
    (void)on_data(c, s, (uint8_t *)initial, n);
  else
    flush(s); /* our SETTINGS go out first */
  return 0;
}
