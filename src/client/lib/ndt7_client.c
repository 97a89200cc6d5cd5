/* The ndt7 client engine behind include/netpulse/ndt7.h: resolve, connect
 * (ws or wss), upgrade, then one download (payload discarded in the kernel
 * where possible) or upload (a shared random buffer as wire bytes), with
 * progress ticks and the server's measurements. */
#include "netpulse/ndt7.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/rand.h"
#include "core/version.h"
#include "http/query.h"
#include "http/request.h"
#include "client/lib/locate.h"
#include "client/lib/setup.h"
#include "ndt7/ndt7.h"
#include "net/conn.h"
#include "net/tcpinfo.h"
#include "net/tls.h"
#include "ws/frame.h"
#include "ws/handshake.h"
#include "ws/stream.h"

#define TICK_MS 250
#define DEFAULT_TIMEOUT_MS 20000
#define MAX_TARGET 6144

enum { PH_RESOLVE, PH_CONNECT, PH_UPGRADE, PH_TEST, PH_CLOSING, PH_DONE };

struct np_ndt7_client {
  uv_loop_t *loop;
  np_ndt7_callbacks cbs;
  void *ud;
  np_ndt7_direction dir;
  int tls;
  int verify;
  int family;
  char host[256];
  char port[8];
  char host_header[300];
  char target[MAX_TARGET];
  char key[NP_WS_KEY_LEN + 1];
  char *ca_file;
  uint64_t timeout_ms;
  int phase;
  int handles;     /* open uv handles + conn */
  int start_error; /* failure found while starting, reported from the loop */
  int done;
  uv_getaddrinfo_t gai;
  uv_timer_t tick;
  uv_timer_t deadline;
  np_tls_ctx *tls_ctx;
  np_conn *c;
  np_ws_stream ws;
  uint8_t *payload;
  uint32_t msg_size;
  uint64_t t0;
  uint64_t app_bytes;
  uint64_t uploaded;
  uint64_t written; /* bytes the conn handed to the kernel, kept at close */
  int close_sent;
  int close_received;
  uint16_t close_code;
  double rtt_sum_ms;
  uint64_t rtt_n;
  np_ndt7_result res;
};

const char *np_ndt7_strerror(int err) { return np_strerror(err); }

static void release(np_ndt7_client *k);

/* Physical bounds on what the server reports: its figures are printed to
 * the user and kept by M-Lab, so one that cannot be true is flagged rather
 * than shown as a measurement. */
#define MAX_RTT_US (60ull * 1000 * 1000)
#define HEADROOM_BYTES (1ull << 20) /* upgrade request, frame headers, pings */

static unsigned implausible_figures(const np_ndt7_client *k, const np_ndt7_measurement *m,
                                    uint64_t elapsed_us) {
  if (!m->has_server) return 0;
  unsigned bad = 0;
  /* The connection existed for the test plus its handshakes, so no round
   * trip on it can have taken longer; a second covers the handshakes. */
  uint64_t lived_us = elapsed_us + 1000000;
  if (m->server_min_rtt_us > MAX_RTT_US || m->server_min_rtt_us > lived_us)
    bad |= NP_NDT7_IMPLAUSIBLE_MIN_RTT;
  if (m->server_bytes_retrans > m->server_bytes_sent) bad |= NP_NDT7_IMPLAUSIBLE_RETRANS;
  if (k->dir == NP_NDT7_UPLOAD) {
    uint64_t sent = k->written;
    if (m->server_bytes_received > sent + sent / 64 + HEADROOM_BYTES)
      bad |= NP_NDT7_IMPLAUSIBLE_THROUGHPUT;
  }
  return bad;
}

static void finish(np_ndt7_client *k, int err, const char *text) {
  if (k->done) return;
  k->done = 1;
  uint64_t now = np_mono_ns();
  np_ndt7_result *r = &k->res;
  r->direction = k->dir;
  r->error = err;
  if (err && !r->error_text[0])
    (void)snprintf(r->error_text, sizeof r->error_text, "%s", text ? text : np_strerror(err));
  if (k->dir == NP_NDT7_UPLOAD) {
    if (k->c) k->written = np_conn_get_stats(k->c)->app_written;
    r->app_bytes = k->written;
  } else {
    r->app_bytes = k->app_bytes;
  }
  r->elapsed_us = k->t0 ? (now - k->t0) / NP_NS_PER_US : 0;
  const np_ndt7_measurement *m = &r->last;
  r->implausible |= implausible_figures(k, m, r->elapsed_us);
  if (k->dir == NP_NDT7_DOWNLOAD) {
    r->throughput_mbps = r->elapsed_us ? 8.0 * (double)k->app_bytes / (double)r->elapsed_us : 0;
  } else if (m->has_server && m->server_elapsed_us &&
             !(r->implausible & NP_NDT7_IMPLAUSIBLE_THROUGHPUT)) {
    /* As ndt7-client-go: the server's count of what really arrived. */
    r->throughput_mbps = 8.0 * (double)m->server_bytes_received / (double)m->server_elapsed_us;
  } else {
    r->throughput_mbps = r->elapsed_us ? 8.0 * (double)r->app_bytes / (double)r->elapsed_us : 0;
  }
  if (m->has_server) {
    r->min_rtt_ms = (double)m->server_min_rtt_us / 1000.0;
    r->retrans_pct = m->server_bytes_sent
                         ? 100.0 * (double)m->server_bytes_retrans / (double)m->server_bytes_sent
                         : 0;
  }
  r->loaded_rtt_ms = k->rtt_n ? k->rtt_sum_ms / (double)k->rtt_n : 0;
  if (k->cbs.on_done) k->cbs.on_done(k->ud, r);
  release(k);
}

static void on_handle_closed(uv_handle_t *h) {
  np_ndt7_client *k = h->data;
  if (--k->handles > 0) return;
  np_ws_stream_free(&k->ws);
  np_tls_ctx_free(k->tls_ctx);
  free(k->payload);
  free(k->ca_file);
  free(k);
}

static void release(np_ndt7_client *k) {
  if (k->c) {
    np_conn_abort(k->c, NP_E_CLOSED); /* on_close drops the last count */
  }
  uv_close((uv_handle_t *)&k->tick, on_handle_closed);
  uv_close((uv_handle_t *)&k->deadline, on_handle_closed);
}

/* ---- frames (client role: always masked) ---- */

/* A server that lets our queue fill to its memory cap (it does not read)
 * ends the test. */
static int send_masked(np_ndt7_client *k, int opcode, const void *p, size_t n) {
  int rc = np_ws_stream_send(&k->ws, opcode, p, n);
  if (rc == -ENOBUFS) finish(k, rc, "the server does not read what we send");
  return rc;
}

static void send_close(np_ndt7_client *k, uint16_t code) {
  if (k->close_sent || !k->c) return;
  uint8_t pl[NP_WS_MAX_CONTROL];
  size_t n = np_ws_close_payload(pl, code, "");
  (void)send_masked(k, NP_WS_OP_CLOSE, pl, n);
  k->close_sent = 1;
  np_conn_want_writable(k->c, 0, 0);
}

/* Upload: the wire bytes of every message are the shared random buffer; a
 * fresh mask key per frame makes the payload the server unmasks random too,
 * without masking a megabyte per message. */
static void on_writable(np_conn *c, void *ud) {
  np_ndt7_client *k = ud;
  for (int i = 0; i < 8 && !k->close_sent && np_conn_pending(c) == 0; i++) {
    if (np_ws_stream_send_ref(&k->ws, NP_WS_OP_BINARY, k->payload, k->msg_size) < 0) {
      finish(k, -EIO, "cannot queue upload data");
      return;
    }
    k->uploaded += k->msg_size;
    k->msg_size = np_ndt7_next_size(k->msg_size, k->uploaded);
  }
}

/* ---- measurements ---- */

static void fill_client(np_ndt7_client *k, np_ndt7_measurement *m, uint64_t now) {
  m->direction = k->dir;
  m->elapsed_us = (now - k->t0) / NP_NS_PER_US;
  m->app_bytes = k->dir == NP_NDT7_UPLOAD ? np_conn_get_stats(k->c)->app_written : k->app_bytes;
  m->client_mbps = m->elapsed_us ? 8.0 * (double)m->app_bytes / (double)m->elapsed_us : 0;
}

static void on_server_measurement(np_ndt7_client *k, np_slice text) {
  np_ndt7_reading r;
  if (np_ndt7_measurement_read((const char *)text.ptr, text.len, &r, NULL) < 0) return;
  np_ndt7_measurement *m = &k->res.last;
  uint64_t now = np_mono_ns();
  fill_client(k, m, now);
  if (r.uuid[0] && !k->res.uuid[0]) (void)snprintf(k->res.uuid, sizeof k->res.uuid, "%s", r.uuid);
  if (r.has_tcp) {
    m->has_server = 1;
    m->server_elapsed_us = (uint64_t)r.tcp_elapsed_us;
    m->server_bytes_acked = r.bytes_acked;
    m->server_bytes_received = r.bytes_received;
    m->server_bytes_sent = r.bytes_sent;
    m->server_bytes_retrans = r.bytes_retrans;
    m->server_min_rtt_us = r.min_rtt_us;
    m->server_rtt_us = r.rtt_us;
    m->server_rttvar_us = r.rttvar_us;
    uint64_t b = k->dir == NP_NDT7_DOWNLOAD ? r.bytes_acked : r.bytes_received;
    m->server_mbps = r.tcp_elapsed_us > 0 ? 8.0 * (double)b / (double)r.tcp_elapsed_us : 0;
    if (r.rtt_us > MAX_RTT_US) {
      k->res.implausible |= NP_NDT7_IMPLAUSIBLE_RTT;
    } else if (r.rtt_us) {
      k->rtt_sum_ms += (double)r.rtt_us / 1000.0;
      k->rtt_n++;
    }
  }
  if (r.has_bbr) m->bbr_bw_bps = r.bbr_bw * 8;
  if (k->cbs.on_measurement) k->cbs.on_measurement(k->ud, m);
}

static void on_tick(uv_timer_t *t) {
  np_ndt7_client *k = t->data;
  if (k->phase != PH_TEST || !k->c) return;
  uint64_t now = np_mono_ns();
  np_ndt7_measurement m;
  memset(&m, 0, sizeof m);
  fill_client(k, &m, now);
  /* Tell the server our view too; it records ClientMeasurements. */
  char text[256];
  int n = snprintf(text, sizeof text,
                   "{\"AppInfo\":{\"NumBytes\":%llu,\"ElapsedTime\":%llu},\"Origin\":\"client\","
                   "\"Test\":\"%s\"}",
                   (unsigned long long)m.app_bytes, (unsigned long long)m.elapsed_us,
                   k->dir == NP_NDT7_DOWNLOAD ? "download" : "upload");
  if (n > 0 && (size_t)n < sizeof text && !k->close_sent)
    (void)send_masked(k, NP_WS_OP_TEXT, text, (size_t)n);
  if (k->cbs.on_measurement) k->cbs.on_measurement(k->ud, &m);
  if (k->dir == NP_NDT7_UPLOAD && !k->close_sent && now - k->t0 >= NP_NDT7_DURATION_NS)
    send_close(k, NP_WS_CLOSE_NORMAL);
}

/* ---- reading ---- */

static int handle_event(void *ud, const np_ws_event *ev);

static void start_test(np_ndt7_client *k) {
  k->phase = PH_TEST;
  k->t0 = np_mono_ns();
  /* Download payload is only counted: drop it unread. */
  np_ws_stream_init(&k->ws, k->c, NP_WS_ROLE_CLIENT, NP_NDT7_MAX_MESSAGE, NP_NDT7_MAX_TEXT, 1,
                    handle_event, k);
  (void)uv_timer_start(&k->tick, on_tick, TICK_MS, TICK_MS);
  if (k->dir == NP_NDT7_UPLOAD) {
    k->msg_size = NP_NDT7_MIN_MESSAGE;
    np_conn_want_writable(k->c, 1, 0);
  }
}

static int parse_retry_after(const np_http_response *resp) {
  np_slice v = np_http_header_get(resp->headers, resp->nheaders, "Retry-After");
  int s = 0;
  for (size_t i = 0; i < v.len && i < 6; i++) {
    if (v.ptr[i] < '0' || v.ptr[i] > '9') return 0;
    s = s * 10 + (v.ptr[i] - '0');
  }
  return s;
}

static size_t on_upgrade_data(np_ndt7_client *k, uint8_t *data, size_t len) {
  np_http_response resp;
  int rc = np_http_parse_response(data, len, &resp);
  if (rc == 0) return 0;
  if (rc < 0) {
    finish(k, NP_E_PROTO, "the server's answer is not HTTP");
    return len;
  }
  int chk = np_ws_check_accept(&resp, k->key, NP_NDT7_SUBPROTOCOL);
  if (chk < 0) {
    char text[200];
    if (chk == NP_E_REFUSED) {
      k->res.retry_after_s = parse_retry_after(&resp);
      /* The body's reason, if it came with the head (the server writes both at once). */
      np_client_refusal_text(text, sizeof text, resp.status, k->res.retry_after_s, data + rc,
                             len - (size_t)rc);
    } else {
      (void)snprintf(text, sizeof text, "WebSocket upgrade failed: %s", np_strerror(chk));
    }
    finish(k, chk, text);
    return len;
  }
  start_test(k);
  return (size_t)rc;
}

static int handle_event(void *ud, const np_ws_event *ev) {
  np_ndt7_client *k = ud;
  if (k->done || k->phase != PH_TEST) return 1;
  switch (ev->type) {
  case NP_WS_EV_BINARY:
  case NP_WS_EV_BINARY_END:
    k->app_bytes += ev->data.len;
    break;
  case NP_WS_EV_TEXT:
    k->app_bytes += ev->data.len;
    on_server_measurement(k, ev->data);
    break;
  case NP_WS_EV_PING:
    if (!k->close_sent && np_ws_stream_pong(&k->ws, ev->data) == -ENOBUFS) {
      finish(k, -ENOBUFS, "the server does not read what we send");
      return 1;
    }
    break;
  case NP_WS_EV_CLOSE:
    k->close_received = 1;
    k->close_code = ev->close_code;
    send_close(k, NP_WS_CLOSE_NORMAL);
    k->phase = PH_CLOSING;
    np_conn_close(k->c);
    return 1;
  default:
    break;
  }
  return 0;
}

static size_t on_data(np_conn *c, void *ud, uint8_t *data, size_t len) {
  np_ndt7_client *k = ud;
  if (k->done) return len;
  if (k->phase == PH_UPGRADE) {
    if (!data) return len;
    return on_upgrade_data(k, data, len);
  }
  if (k->phase != PH_TEST) return len;
  int rc = np_ws_stream_feed(&k->ws, data, len);
  if (rc < 0) {
    char text[160];
    (void)snprintf(text, sizeof text, "bad WebSocket data from server: %s", np_strerror(rc));
    finish(k, rc, text);
  }
  return len;
}

static void on_close(np_conn *c, void *ud, int status) {
  np_ndt7_client *k = ud;
  k->written = np_conn_get_stats(c)->app_written;
  k->c = NULL;
  if (!k->done) {
    uint64_t ran = k->t0 ? np_mono_ns() - k->t0 : 0;
    if (k->phase == PH_TEST || k->phase == PH_CLOSING) {
      /* The test's end: the server's close, or EOF once the time is up. */
      int ok = k->close_received || ran >= NP_NDT7_DURATION_NS - NP_NS_PER_S;
      if (ok)
        finish(k, 0, NULL);
      else
        finish(k, status < 0 ? status : NP_E_CLOSED, "connection closed before the test ended");
    } else {
      char text[200];
      (void)snprintf(text, sizeof text, "%s",
                     status == NP_E_TLS_PLAINTEXT
                         ? "TLS handshake got a cleartext HTTP answer: this port speaks ws:// "
                           "(cleartext), not wss://"
                         : np_strerror(status < 0 ? status : NP_E_CLOSED));
      finish(k, status < 0 ? status : NP_E_CLOSED, text);
    }
  }
  if (--k->handles == 0) on_handle_closed((uv_handle_t *)&k->tick);
}

static void on_connected(np_conn *c, void *ud, int status) {
  np_ndt7_client *k = ud;
  if (status < 0) return; /* on_close follows with the reason */
  (void)np_conn_peer_addr(c, k->res.server_ip, sizeof k->res.server_ip, &k->res.server_port);
  (void)np_conn_local_addr(c, k->res.client_ip, sizeof k->res.client_ip, &k->res.client_port);
  np_buf req;
  np_buf_init(&req, 16384);
  int rc = np_ws_make_key(k->key, sizeof k->key);
  if (rc == 0)
    rc = np_ws_write_request(&req, k->host_header, k->target, k->key, NP_NDT7_SUBPROTOCOL,
                             "netpulse/" NP_VERSION);
  if (rc == 0) rc = np_conn_write(c, req.data, req.len);
  np_buf_free(&req);
  if (rc < 0) {
    finish(k, rc, "cannot send the upgrade request");
    return;
  }
  k->phase = PH_UPGRADE;
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *ai) {
  np_ndt7_client *k = g->data;
  k->handles--;
  if (k->done) {
    uv_freeaddrinfo(ai);
    if (k->handles == 0) on_handle_closed((uv_handle_t *)&k->tick);
    return;
  }
  if (status < 0 || !ai) {
    char text[300];
    finish(k, np_client_resolve_failed(text, sizeof text, k->host, status), text);
    return;
  }
  static const np_conn_callbacks cbs = {.on_data = on_data,
                                        .on_writable = on_writable,
                                        .on_connected = on_connected,
                                        .on_close = on_close};
  int rc = np_conn_connect(k->loop, ai->ai_addr, k->tls_ctx, k->host, &cbs, k, &k->c);
  uv_freeaddrinfo(ai);
  if (rc < 0) {
    k->c = NULL;
    finish(k, rc, NULL);
    return;
  }
  /* Measurement messages and pongs must not wait behind Nagle. */
  (void)np_tcp_nodelay(np_conn_fd(k->c));
  k->handles++;
  k->phase = PH_CONNECT;
}

static void on_deadline(uv_timer_t *t) {
  np_ndt7_client *k = t->data;
  if (k->start_error)
    finish(k, k->start_error, NULL);
  else
    finish(k, NP_E_TIMEOUT, "the test did not finish in time");
}

/* Takes a ws:// or wss:// URL as Locate hands them out. */
static int parse_url(np_ndt7_client *k, const char *url) {
  np_url u;
  if (np_url_parse(url, &u) < 0) return NP_E_BADARG;
  if (strcmp(u.scheme, "wss") == 0)
    k->tls = 1;
  else if (strcmp(u.scheme, "ws") == 0)
    k->tls = 0;
  else
    return NP_E_BADARG;
  int w1 = snprintf(k->host, sizeof k->host, "%s", u.host);
  int w2 = snprintf(k->port, sizeof k->port, "%d", u.port);
  int w3 = snprintf(k->host_header, sizeof k->host_header, "%s", u.host_header);
  int w4 = snprintf(k->target, sizeof k->target, "%s", u.target);
  if (w1 < 0 || (size_t)w1 >= sizeof k->host || w2 < 0 || (size_t)w2 >= sizeof k->port || w3 < 0 ||
      (size_t)w3 >= sizeof k->host_header || w4 < 0 || (size_t)w4 >= sizeof k->target)
    return NP_E_TOOBIG;
  return 0;
}

int np_ndt7_split_server(const char *server, const char *default_port, char *host, size_t hostcap,
                         char *port, size_t portcap, char *host_header, size_t hhcap) {
  int def = 0;
  for (const char *p = default_port; p && *p; p++) {
    if (*p < '0' || *p > '9' || def > 65535) return NP_E_BADARG;
    def = def * 10 + (*p - '0');
  }
  if (def < 1 || def > 65535) return NP_E_BADARG;
  char h[NP_LOCATE_MAX_HOST];
  int pt;
  if (np_hostport_parse(server, def, h, sizeof h, &pt) < 0) return NP_E_BADARG;
  int v6 = strchr(h, ':') != NULL;
  int w1 = snprintf(host, hostcap, "%s", h);
  int w2 = snprintf(port, portcap, "%d", pt);
  int w3 = snprintf(host_header, hhcap, "%s%s%s:%d", v6 ? "[" : "", h, v6 ? "]" : "", pt);
  if (w1 < 0 || (size_t)w1 >= hostcap || w2 < 0 || (size_t)w2 >= portcap || w3 < 0 ||
      (size_t)w3 >= hhcap)
    return NP_E_BADARG;
  return 0;
}

static int append_query(np_ndt7_client *k, const np_ndt7_options *o) {
  size_t len = strlen(k->target);
  int has_q = strchr(k->target, '?') != NULL;
  for (size_t i = 0; i < o->nmetadata; i++) {
    char name[128], value[1024];
    if (np_percent_encode(o->metadata[i].name, name, sizeof name) < 0 ||
        np_percent_encode(o->metadata[i].value, value, sizeof value) < 0)
      return NP_E_TOOBIG;
    int w = snprintf(k->target + len, sizeof k->target - len, "%c%s=%s", has_q ? '&' : '?', name,
                     value);
    if (w < 0 || (size_t)w >= sizeof k->target - len) return NP_E_TOOBIG;
    len += (size_t)w;
    has_q = 1;
  }
  return 0;
}

int np_ndt7_client_start(uv_loop_t *loop, const np_ndt7_options *o, const np_ndt7_callbacks *cbs,
                         void *ud, np_ndt7_client **ret_client) {
  np_ndt7_client *k = calloc(1, sizeof *k);
  if (!k) return -ENOMEM;
  k->loop = loop;
  k->cbs = *cbs;
  k->ud = ud;
  k->dir = o->direction;
  k->verify = o->verify_tls;
  k->family = o->family;
  k->timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
  int rc;
  if (o->url) {
    rc = parse_url(k, o->url);
  } else if (o->server) {
    const char *scheme = o->scheme ? o->scheme : "wss";
    if (strcmp(scheme, "ws") != 0 && strcmp(scheme, "wss") != 0) {
      rc = NP_E_BADARG;
    } else {
      k->tls = strcmp(scheme, "wss") == 0;
      rc = np_ndt7_split_server(o->server, k->tls ? "443" : "80", k->host, sizeof k->host, k->port,
                                sizeof k->port, k->host_header, sizeof k->host_header);
      if (rc == 0)
        (void)snprintf(k->target, sizeof k->target, "%s",
                       k->dir == NP_NDT7_DOWNLOAD ? NP_NDT7_PATH_DOWNLOAD : NP_NDT7_PATH_UPLOAD);
    }
  } else {
    rc = NP_E_BADARG;
  }
  if (rc == 0) rc = append_query(k, o);
  if (rc == 0 && k->tls) rc = np_client_tls(k->verify, o->ca_file, "http/1.1", &k->tls_ctx);
  if (rc == 0 && k->dir == NP_NDT7_UPLOAD)
    rc = np_client_random_payload(NP_NDT7_MAX_SENT_MESSAGE, &k->payload);
  if (rc < 0) {
    np_tls_ctx_free(k->tls_ctx);
    free(k->payload);
    free(k);
    return rc;
  }
  (void)uv_timer_init(loop, &k->tick);
  (void)uv_timer_init(loop, &k->deadline);
  k->tick.data = k->deadline.data = k->gai.data = k;
  k->handles = 3; /* tick, deadline, getaddrinfo (then the conn) */
  (void)uv_timer_start(&k->deadline, on_deadline, k->timeout_ms, 0);
  rc = np_client_resolve(loop, &k->gai, on_resolved, k->host, k->port, k->family);
  if (rc < 0) {
    /* Reported through on_done like every other failure, but from the loop,
     * never before this function has returned. */
    k->handles--;
    k->start_error =
        np_client_resolve_failed(k->res.error_text, sizeof k->res.error_text, k->host, rc);
    (void)uv_timer_start(&k->deadline, on_deadline, 0, 0);
  }
  if (ret_client) *ret_client = k;
  return 0;
}

void np_ndt7_client_cancel(np_ndt7_client *k) { finish(k, -ECANCELED, "cancelled"); }
