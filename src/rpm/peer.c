/* The protocol-neutral half of an RPM connection: measurement IDs,
 * admission through the host, the record of the connection and its
 * requests. */
#include "rpm/peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "core/error.h"
#include "http/query.h"
#include "net/tcpinfo.h"
#include "rpm/config.h"
#include "rpm/summary.h"

static uint64_t live_sessions;

uint64_t np_rpm_sessions(void) { return live_sessions; }

static int peer_bytes(np_rpm_peer *p) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getpeername(np_conn_fd(p->c), (struct sockaddr *)&ss, &len) != 0) return -errno;
  if (ss.ss_family == AF_INET) {
    memcpy(p->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    p->addr_len = 4;
  } else if (ss.ss_family == AF_INET6) {
    memcpy(p->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
    p->addr_len = 16;
  } else {
    return NP_E_BADARG;
  }
  return np_conn_peer_addr(p->c, p->ip, sizeof p->ip, &p->port);
}

int np_rpm_peer_init(np_rpm_peer *p, np_conn *c, const np_rpm_server_cfg *cfg, const char *uuid,
                     const char *proto, const char *alpn) {
  memset(p, 0, sizeof *p);
  p->c = c;
  p->cfg = cfg;
  p->proto = proto;
  p->alpn = alpn;
  p->probe_idle_ns = strncmp(proto, "rpm+h2", 6) == 0 ? NP_RPM_PROBE_IDLE_NS : 0;
  /* Until the first rate sample, the smallest queue: whatever is queued
   * before the rate is known is still ahead of the first self probes
   * (starting at the largest held them 1.5 s at 2 Mbit/s). A fast
   * connection reaches its bound at the first sample, 250 ms on. */
  p->out_cap = NP_RPM_OUT_MIN;
  p->acked_prev_ns = np_mono_ns();
  (void)snprintf(p->uuid, sizeof p->uuid, "%s", uuid);
  int rc = peer_bytes(p);
  if (rc < 0) return rc;
  int fd = np_conn_fd(c);
  if (cfg->congestion && *cfg->congestion)
    (void)setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cfg->congestion,
                     (socklen_t)strlen(cfg->congestion));
  if (cfg->notsent_lowat)
    (void)np_tcp_notsent_lowat(fd, cfg->notsent_lowat < p->out_cap ? cfg->notsent_lowat
                                                                   : (uint32_t)p->out_cap);
  live_sessions++;
  return 0;
}

np_rpm_measurement *np_rpm_peer_measurement(np_rpm_peer *p) {
  return p->joined ? np_rpm_service_get(p->cfg->svc, p->mid) : NULL;
}

const char *np_rpm_allow(np_rpm_endpoint ep) {
  return ep == NP_RPM_EP_UPLOAD || ep == NP_RPM_EP_RESULT ? "POST, OPTIONS" : "GET, HEAD, OPTIONS";
}

int np_rpm_route(np_slice method, np_slice target, np_rpm_endpoint *ep, np_slice *query,
                 size_t *path_len) {
  const uint8_t *qm = memchr(target.ptr, '?', target.len);
  size_t plen = qm ? (size_t)(qm - target.ptr) : target.len;
  *path_len = plen;
  *query = qm ? np_slice_make(qm + 1, target.len - plen - 1) : np_slice_make("", 0);
  *ep = np_rpm_endpoint_of((const char *)target.ptr, plen);
  if (*ep == NP_RPM_EP_OTHER) return 404;
  if (np_slice_eq(method, np_slice_cstr("OPTIONS"))) return 204;
  int post = np_slice_eq(method, np_slice_cstr("POST"));
  /* RFC 9110 9.3.2: a resource that serves GET serves HEAD. */
  int get = np_slice_eq(method, np_slice_cstr("GET")) || np_slice_eq(method, np_slice_cstr("HEAD"));
  int wants_post = *ep == NP_RPM_EP_UPLOAD || *ep == NP_RPM_EP_RESULT;
  return (wants_post ? post : get) ? 0 : 405;
}

void np_rpm_peer_rejected(np_rpm_peer *p, int status, const char *reason) {
  if (p->cfg->host->rejected && status != 404 && status != 405)
    p->cfg->host->rejected(p->cfg->host_ud, p->proto, reason);
}

static void refuse(np_rpm_peer *p, np_rpm_verdict *v, int status, const char *reason,
                   int retry_after) {
  *v = (np_rpm_verdict){status, reason, retry_after, NULL};
  np_rpm_peer_rejected(p, status, reason);
}

/* Joins measurement m (once per connection): the record gets this
 * connection's identity. */
static int join(np_rpm_peer *p, np_rpm_measurement *m) {
  if (p->joined) return p->mid == m->rec.id ? 0 : NP_E_BADARG;
  const np_conn_stats *st = np_conn_get_stats(p->c);
  int idx = np_rpm_measurement_join(p->cfg->svc, m, p->uuid, p->port, st->start_ns);
  if (idx < 0) return idx;
  p->joined = 1;
  p->mid = m->rec.id;
  p->conn_idx = idx;
  np_rpm_conn_rec *cr = &m->rec.conns[idx];
  cr->tls = np_conn_is_tls(p->c);
  (void)snprintf(cr->alpn, sizeof cr->alpn, "%s", p->alpn);
  if (cr->tls) {
    np_conn_tls_info(p->c, cr->tls_version, sizeof cr->tls_version, cr->cipher, sizeof cr->cipher);
    if (st->handshake_ns > st->start_ns) cr->handshake_ns = st->handshake_ns - st->start_ns;
  }
  (void)np_tcp_congestion(np_conn_fd(p->c), cr->congestion, sizeof cr->congestion);
  return 0;
}

static np_rpm_measurement *begin(np_rpm_peer *p, np_slice query, uint64_t now, np_rpm_verdict *v) {
  np_rpm_refusal no = {503, 10, "busy"};
  void *host = NULL;
  if (p->cfg->host->admit(p->cfg->host_ud, query, p->ip, p->proto, &host, &no) < 0) {
    *v = (np_rpm_verdict){no.status, no.reason, no.retry_after, NULL}; /* counted by the host */
    return NULL;
  }
  np_rpm_measurement *m = NULL;
  int rc =
      np_rpm_service_begin(p->cfg->svc, np_slice_make(p->addr, p->addr_len), now, np_wall_ns(), &m);
  if (rc < 0) {
    refuse(p, v, 503, "busy", 10);
    return NULL;
  }
  m->host = host;
  (void)snprintf(m->rec.protocol, sizeof m->rec.protocol, "%s", p->proto + strlen("rpm+"));
  (void)snprintf(m->rec.client_ip, sizeof m->rec.client_ip, "%s", p->ip);
  (void)np_conn_local_addr(p->c, m->rec.server_ip, sizeof m->rec.server_ip, &m->rec.server_port);
  return m;
}

static int report_sent(np_rpm_peer *p, np_rpm_measurement *m);

/* p leaves the measurement it joined, which is over for it, so that it
 * can join the next one. */
static void move_on(np_rpm_peer *p, uint64_t now) {
  np_rpm_measurement *m = np_rpm_peer_measurement(p);
  if (m) {
    (void)report_sent(p, m);
    np_rpm_measurement_leave(m, p->conn_idx, now, "next-measurement");
  }
  const np_conn_stats *st = np_conn_get_stats(p->c);
  p->base_sent = st->wire_written;
  p->base_read = st->wire_read;
  p->joined = 0;
}

/* An IPv6 literal without brackets, with or without a port: what Node's
 * http2 client (v20) sends as :authority for http://[::1]:PORT/. */
static int bare_v6(np_slice a) {
  int colons = 0;
  for (size_t i = 0; i < a.len; i++) {
    uint8_t c = a.ptr[i];
    colons += c == ':';
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
          c == '.'))
      return 0;
  }
  return a.len <= 64 && colons >= 2;
}

/* The authority the config's URLs name (in tmp if made here), or an empty
 * slice (refused). A bare IPv6 literal cannot be split into address and
 * port ("::1:8080" is an address too), so its URLs name the address and
 * port the client connected to instead. */
static np_slice config_authority(np_rpm_peer *p, np_slice authority, char *tmp, size_t cap,
                                 np_rpm_verdict *v) {
  np_slice auth = p->cfg->public_host ? np_slice_cstr(p->cfg->public_host) : authority;
  if (np_rpm_authority_ok(auth)) return auth;
  char ip[64];
  int port = 0;
  if (!p->cfg->public_host && bare_v6(auth) &&
      np_conn_local_addr(p->c, ip, sizeof ip, &port) == 0 && strchr(ip, ':')) {
    int n = snprintf(tmp, cap, "[%s]:%d", ip, port);
    auth = np_slice_make(tmp, n > 0 && (size_t)n < cap ? (size_t)n : 0);
    if (np_rpm_authority_ok(auth)) return auth;
  }
  refuse(p, v, 400, "bad_authority", -1);
  return np_slice_make("", 0);
}

int np_rpm_peer_config_length(np_rpm_peer *p, const char *scheme, np_slice authority,
                              np_rpm_verdict *v) {
  char tmp[NP_RPM_MAX_AUTHORITY + 1];
  np_slice auth = config_authority(p, authority, tmp, sizeof tmp, v);
  if (!auth.len) return NP_E_BADARG;
  char mid[NP_RPM_MID_LEN + 1];
  memset(mid, 'A', NP_RPM_MID_LEN);
  mid[NP_RPM_MID_LEN] = 0;
  np_buf js;
  np_buf_init(&js, 8192);
  int rc = np_rpm_config_json(&js, scheme, auth, mid);
  if (rc == 0) rc = (int)js.len;
  np_buf_free(&js);
  if (rc < 0)
    refuse(p, v, 500, "internal", -1);
  else
    *v = (np_rpm_verdict){200, NULL, -1, NULL};
  return rc;
}

np_rpm_measurement *np_rpm_peer_config(np_rpm_peer *p, const char *scheme, np_slice authority,
                                       np_slice query, int idle, uint64_t now, np_buf *json,
                                       np_rpm_verdict *v) {
  char tmp[NP_RPM_MAX_AUTHORITY + 1];
  np_slice auth = config_authority(p, authority, tmp, sizeof tmp, v);
  if (!auth.len) return NULL;
  np_rpm_measurement *m = NULL;
  if (p->joined) {
    np_rpm_measurement *old = np_rpm_peer_measurement(p);
    if (old && !old->result_ns) {
      m = old; /* asked again while it runs: the same measurement */
    } else if (!idle) {
      refuse(p, v, 409, "conn_busy", -1);
      return NULL;
    } else {
      move_on(p, now);
    }
  }
  if (!m) m = begin(p, query, now, v);
  if (!m) return NULL;
  int rc = np_rpm_config_json(json, scheme, auth, m->mid);
  if (rc == 0) rc = join(p, m); /* 0 at once when p joined m already */
  if (rc < 0) {
    refuse(p, v, 500, "internal", -1);
    return NULL;
  }
  *v = (np_rpm_verdict){200, NULL, -1, NULL};
  return m;
}

np_rpm_measurement *np_rpm_peer_authorise(np_rpm_peer *p, np_slice query, uint64_t now,
                                          np_rpm_verdict *v) {
  np_query q;
  const char *mid = NULL;
  if (np_query_parse(query, &q) == 0) mid = np_query_get(&q, "mid");
  np_rpm_measurement *m = NULL;
  np_rpm_mid_status st = np_rpm_service_find(p->cfg->svc, np_slice_cstr(mid ? mid : ""),
                                             np_slice_make(p->addr, p->addr_len), now, &m);
  if (st != NP_RPM_MID_OK) {
    static const char *const names[] = {"mid_ok", "mid_missing", "mid_malformed", "mid_forged",
                                        "mid_expired"};
    refuse(p, v, 403, names[st], -1);
    return NULL;
  }
  int rc = join(p, m);
  if (rc == NP_E_TOOBIG) {
    refuse(p, v, 503, "conn_cap", 10);
    return NULL;
  }
  if (rc < 0) {
    refuse(p, v, 403, "mid_other_measurement", -1);
    return NULL;
  }
  *v = (np_rpm_verdict){200, NULL, -1, NULL};
  return m;
}

void np_rpm_peer_result(np_rpm_peer *p, np_rpm_measurement *m, const np_buf *body, int too_big,
                        np_rpm_verdict *v, char *answer, size_t cap) {
  json_t *sum = NULL;
  uint32_t dropped = 0;
  if (too_big) {
    refuse(p, v, 413, "summary_too_big", -1);
  } else if (np_rpm_summary_clean(body->data, body->len, &sum, &dropped) < 0) {
    refuse(p, v, 400, "summary_invalid", -1);
  } else {
    json_decref(m->rec.client_summary); /* the last one sent counts */
    m->rec.client_summary = sum;
    np_rpm_measurement_result(m, np_mono_ns());
    *v = (np_rpm_verdict){200, NULL, -1, NULL};
    (void)snprintf(answer, cap, "{\"status\":200,\"dropped\":%u}\n", dropped);
    return;
  }
  (void)snprintf(answer, cap, "{\"status\":%d,\"error\":\"%s\"}\n", v->status, v->reason);
}

int np_rpm_peer_request(np_rpm_peer *p, np_rpm_endpoint ep, int32_t id, uint64_t now) {
  np_rpm_measurement *m = np_rpm_peer_measurement(p);
  if (ep == NP_RPM_EP_LARGE) p->large_open++;
  if (!m) return -1;
  /* A foreign probe's connection often closes before its first tick: a
   * snapshot at its first request keeps its handshake RTT in the record
   * (the idle phase's minimum RTT in ServerSummary). Ticks replace it. */
  np_rpm_conn_rec *cr =
      p->conn_idx >= 0 && (uint32_t)p->conn_idx < m->rec.nslots ? &m->rec.conns[p->conn_idx] : NULL;
  if (cr && !cr->has_final && np_tcpinfo_read(np_conn_fd(p->c), &cr->final) == 0) cr->has_final = 1;
  return np_rpm_record_add_request(&m->rec, p->conn_idx, ep, id, now);
}

static np_rpm_req_rec *req_of(np_rpm_peer *p, int req, np_rpm_measurement **ret_m) {
  np_rpm_measurement *m = np_rpm_peer_measurement(p);
  if (!m || req < 0 || (uint32_t)req >= m->rec.nreqs) return NULL;
  *ret_m = m;
  return &m->rec.reqs[req];
}

void np_rpm_peer_status(np_rpm_peer *p, int req, int status) {
  np_rpm_measurement *m;
  np_rpm_req_rec *q = req_of(p, req, &m);
  if (q) q->status = (uint16_t)status;
}

void np_rpm_peer_first_byte(np_rpm_peer *p, int req, uint64_t now) {
  np_rpm_measurement *m;
  np_rpm_req_rec *q = req_of(p, req, &m);
  if (q && now > m->rec.start_mono_ns) q->first_byte_ns = now - m->rec.start_mono_ns;
}

void np_rpm_peer_request_done(np_rpm_peer *p, int req, np_rpm_endpoint ep, uint64_t sent,
                              uint64_t received, uint32_t h2_error, uint64_t now) {
  if (ep == NP_RPM_EP_LARGE && p->large_open) p->large_open--;
  p->last_done_ns = now;
  np_rpm_measurement *m = np_rpm_peer_measurement(p);
  if (!m) return;
  np_rpm_req_rec *q = req_of(p, req, &m);
  if (q) {
    q->done_ns = now > m->rec.start_mono_ns ? now - m->rec.start_mono_ns : 1;
    q->sent = sent;
    q->received = received;
    q->h2_error = h2_error;
  }
  np_rpm_conn_rec *cr = &m->rec.conns[p->conn_idx];
  cr->body_sent += sent;
  cr->body_received += received;
  if (ep == NP_RPM_EP_LARGE) cr->large_bytes += sent;
  if (ep == NP_RPM_EP_UPLOAD) cr->upload_bytes += received;
}

/* Tells the host the socket bytes sent since the last report: 1 when the
 * measurement went over its allowance. */
static int report_sent(np_rpm_peer *p, np_rpm_measurement *m) {
  const np_conn_stats *st = np_conn_get_stats(p->c);
  uint64_t w = st->wire_written;
  int over = 0;
  if (m) {
    /* Kept current: a measurement that ends (runtime, budget) before this
     * connection closes is recorded and counted with these. */
    m->rec.conns[p->conn_idx].wire_sent = w - p->base_sent;
    m->rec.conns[p->conn_idx].wire_received = st->wire_read - p->base_read;
  }
  if (m && p->cfg->host->sent && w > p->reported)
    over = p->cfg->host->sent(p->cfg->host_ud, m->host, w - p->reported) > 0;
  p->reported = w;
  return over;
}

int np_rpm_peer_report(np_rpm_peer *p) {
  np_rpm_measurement *m = np_rpm_peer_measurement(p);
  if (!m) return 0;
  if (report_sent(p, m) && !m->budget_ns) m->budget_ns = np_mono_ns();
  /* Every connection carrying a large download stops: this one now, the
   * others at their next write or tick, so the overshoot is what was
   * queued, not a tick's worth of a fast path. The rest of the
   * measurement (upload, which sends almost nothing, probes, the
   * summary) goes on: the client keeps what it measured. */
  return np_rpm_peer_over(p);
}

int np_rpm_peer_over(np_rpm_peer *p) {
  np_rpm_measurement *m = np_rpm_peer_measurement(p);
  return m && m->budget_ns && p->large_open;
}

/* Bounds what waits ahead of a self probe's answer on this connection in
 * time, not bytes: cubic flows share a bottleneck very unequally, and
 * 384 KB queued on a 1-2 Mbit/s flow held its probes for seconds. The
 * rate is the one the client acknowledged since the last sample (not
 * tcpi_delivery_rate: a window-limited loopback flow reports bursts of
 * tens of Gbit/s), as ndt7's server does for its unsent bytes. */
static void pace(np_rpm_peer *p, uint64_t acked, uint64_t now, uint64_t min_ms) {
  if (now - p->acked_prev_ns < min_ms * NP_NS_PER_MS) return;
  if (acked < p->acked_prev || p->acked_prev_ns == 0) {
    p->acked_prev = acked;
    p->acked_prev_ns = now;
    return;
  }
  uint64_t per_ms = (acked - p->acked_prev) / ((now - p->acked_prev_ns) / NP_NS_PER_MS);
  p->acked_prev = acked;
  p->acked_prev_ns = now;
  p->paced = 1;
  uint64_t cap = per_ms * NP_RPM_QUEUE_MS;
  cap = cap < NP_RPM_OUT_MIN ? NP_RPM_OUT_MIN : cap > NP_RPM_OUT_MAX ? NP_RPM_OUT_MAX : cap;
  if (cap == p->out_cap) return;
  p->out_cap = (size_t)cap;
  /* The configured value stays the ceiling of the socket's share. */
  uint32_t lowat = p->cfg->notsent_lowat;
  if (lowat) (void)np_tcp_notsent_lowat(np_conn_fd(p->c), cap < lowat ? (uint32_t)cap : lowat);
}

/* The queue starts at its floor: a fast connection should not run on it
 * for a whole tick (a 6 s loopback download cost 8 % more CPU per GB). */
void np_rpm_peer_pace_early(np_rpm_peer *p, uint64_t now) {
  if (p->paced || !p->joined || now - p->acked_prev_ns < NP_RPM_EARLY_MS * NP_NS_PER_MS) return;
  np_tcpinfo ti;
  if (np_tcpinfo_read(np_conn_fd(p->c), &ti) == 0) pace(p, ti.bytes_acked, now, NP_RPM_EARLY_MS);
}

/* Only small requests so far: a foreign probe's connection. */
static int probe_only(const np_rpm_conn_rec *c) {
  uint32_t other = 0;
  for (int e = 0; e < NP_RPM_EP_COUNT; e++)
    if (e != NP_RPM_EP_SMALL) other += c->requests[e];
  return c->requests[NP_RPM_EP_SMALL] > 0 && other == 0;
}

int np_rpm_peer_tick(np_rpm_peer *p, uint64_t now, int idle) {
  if (!p->joined) {
    /* Connections that never present a measurement cost a descriptor:
     * they get as long as a request head does on the front door. */
    uint64_t age = now - np_conn_get_stats(p->c)->start_ns;
    return p->cfg->join_timeout_ns && age > p->cfg->join_timeout_ns;
  }
  if (np_rpm_peer_report(p)) return 1;
  np_rpm_measurement *m = np_rpm_peer_measurement(p);
  if (!m) return 1;
  np_rpm_conn_rec *cr = &m->rec.conns[p->conn_idx];
  if (np_tcpinfo_read(np_conn_fd(p->c), &cr->final) == 0) {
    cr->has_final = 1;
    (void)np_rpm_record_sample(&m->rec, p->conn_idx, &cr->final, now);
    pace(p, cr->final.bytes_acked, now, 100);
  }
  if (idle && p->probe_idle_ns && probe_only(cr) && p->last_done_ns &&
      now - p->last_done_ns >= p->probe_idle_ns) {
    p->idle_out = 1;
    return 1;
  }
  return idle && m->result_ns != 0;
}

void np_rpm_peer_closed(np_rpm_peer *p, int status, int server_closed, const char *goaway) {
  np_rpm_measurement *m = np_rpm_peer_measurement(p);
  if (m) {
    np_rpm_conn_rec *cr = &m->rec.conns[p->conn_idx];
    const np_conn_stats *st = np_conn_get_stats(p->c);
    cr->wire_sent = st->wire_written - p->base_sent;
    cr->wire_received = st->wire_read - p->base_read;
    /* The fd is gone by now: the last tick's snapshot stands as final. */
    const char *why = p->idle_out                                 ? "idle"
                      : status == 0                               ? "peer-closed"
                      : status == NP_E_CLOSED                     ? "closed"
                      : status == NP_E_TIMEOUT                    ? "timeout"
                      : status == -ECONNRESET || status == -EPIPE ? "reset"
                      : server_closed                             ? "server-closed"
                                                                  : "error";
    /* A GOAWAY says more than how the socket ended, unless it is the
     * measurement's own ending (server-closed says that). */
    char buf[sizeof m->rec.conns[0].end_reason];
    if (goaway && strcmp(goaway, "shutdown") != 0 && strcmp(goaway, "idle") != 0) {
      (void)snprintf(buf, sizeof buf, "goaway:%s", goaway);
      why = buf;
    }
    (void)report_sent(p, m); /* it ends anyway; the budget sees the bytes */
    /* Last: the row may be summarised, its slot given to another. */
    np_rpm_measurement_leave(m, p->conn_idx, np_mono_ns(), why);
  }
  live_sessions--;
  if (p->cfg->host->closed) p->cfg->host->closed(p->cfg->host_ud);
}
