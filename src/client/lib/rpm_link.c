/* The responsiveness client's HTTP/2 connections: np_conn below, an
 * np_h2c session above, a shallow send queue so that a probe's request
 * never waits behind megabytes of our own upload data. */
#include "client/lib/rpm_link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "net/tcpinfo.h"

#define QUEUE_START                                                                                \
  (16u << 10) /* send queue of a new link, in user space and unsent in the kernel */
#define QUEUE_MIN (8u << 10)
#define QUEUE_MAX (1u << 20)
#define QUEUE_MS 4        /* a link queues about this long of its own rate */
#define WINDOW (8u << 20) /* receive window per stream and connection */

/* Drops a link whose session failed, keeping the cause for the owner. */
static void fail(rpm_link *l, int status) {
  if (l->closing || !l->c) return;
  const char *why = l->h ? np_h2c_error(l->h) : NULL;
  if (why && !l->error[0]) (void)snprintf(l->error, sizeof l->error, "%s", why);
  l->closing = 1;
  np_conn_abort(l->c, status);
}

static void pump(rpm_link *l) {
  if (!l->c || !l->h || l->closing) return;
  /* A session nghttp2 ended (ours, or the server's GOAWAY with every
   * stream done) reads nothing more: waiting on its socket is waiting on
   * the deadline. */
  if (np_h2c_dead(l->h)) {
    fail(l, np_h2c_error(l->h) ? NP_E_PROTO : NP_E_CLOSED);
    return;
  }
  size_t pending = np_conn_pending(l->c);
  if (pending < l->queue) {
    long long n = np_h2c_flush(l->h, l->queue - pending);
    if (n < 0) {
      fail(l, (int)n == NP_E_PROTO ? NP_E_PROTO : NP_E_CLOSED);
      return;
    }
  }
  np_conn_want_writable(l->c, np_h2c_want_write(l->h), l->queue / 4);
}

void rpm_link_pace_queue(rpm_link *l, double bytes_per_s) {
  /* A self probe's request waits behind what this link queued itself, in
   * user space and unsent in the kernel: keep that to a few ms of the
   * link's own rate (loopback needs megabytes, a slow uplink kilobytes). */
  double q = bytes_per_s * QUEUE_MS / 1000.0;
  size_t want = q < QUEUE_MIN ? QUEUE_MIN : q > QUEUE_MAX ? QUEUE_MAX : (size_t)q;
  if (!l->c || l->closing || want == l->queue) return;
  l->queue = want;
  (void)np_tcp_notsent_lowat(np_conn_fd(l->c), (uint32_t)want);
}

static int h2_write(void *ud, const uint8_t *copy, size_t ncopy, const uint8_t *ref, size_t nref) {
  rpm_link *l = ud;
  np_conn_buf b[2] = {{copy, ncopy, 0}, {ref, nref, 1}};
  return np_conn_writev(l->c, b, nref ? 2 : 1, NULL, NULL);
}

static void h2_response(void *ud, int32_t id, int status, int retry_after, void *sud) {
  rpm_link *l = ud;
  if (l->ev->on_response) l->ev->on_response(l, l->ud, id, status, retry_after, sud);
}

static void h2_body(void *ud, int32_t id, const uint8_t *data, size_t n, void *sud) {
  rpm_link *l = ud;
  if (id == l->load_stream) l->load_body_in += n;
  if (l->ev->on_body) l->ev->on_body(l, l->ud, data, n, sud);
}

static void h2_close(void *ud, int32_t id, uint32_t error_code, void *sud) {
  rpm_link *l = ud;
  if (l->ev->on_end) l->ev->on_end(l, l->ud, id, error_code, sud);
}

static const np_h2c_callbacks kH2 = {
    .write = h2_write, .on_response = h2_response, .on_body = h2_body, .on_close = h2_close};

static size_t on_data(np_conn *c, void *ud, uint8_t *data, size_t len) {
  rpm_link *l = ud;
  (void)c;
  if (!data || !l->h || l->closing) return len;
  if (!l->got_data) {
    /* An HTTP/1.x server answers our preface with a status line: that is
     * "no HTTP/2 here", not a server that broke HTTP/2. */
    l->got_data = 1;
    l->http1 = len >= 5 && memcmp(data, "HTTP/", 5) == 0;
  }
  int rc = np_h2c_recv(l->h, data, len);
  if (rc < 0) {
    l->rejected = 1;
    fail(l, rc == NP_E_PROTO ? NP_E_PROTO : rc);
    return len;
  }
  pump(l);
  return len;
}

static void on_writable(np_conn *c, void *ud) {
  (void)c;
  pump(ud);
}

static void on_connected(np_conn *c, void *ud, int status) {
  rpm_link *l = ud;
  if (status < 0) return; /* on_close follows */
  const np_conn_stats *st = np_conn_get_stats(c);
  l->t_tcp = st->connect_ns ? st->connect_ns : np_mono_ns();
  l->t_tls = st->handshake_ns ? st->handshake_ns : l->t_tcp;
  if (np_conn_is_tls(c)) {
    if (strcmp(np_conn_alpn(c), "h2") != 0) {
      /* Without h2 there is no responsiveness test on this server. */
      (void)snprintf(l->error, sizeof l->error, "the server does not speak HTTP/2 (TLS ALPN)");
      np_conn_abort(c, NP_E_PROTO);
      return;
    }
    char ver[16], cipher[8];
    np_conn_tls_info(c, ver, sizeof ver, cipher, sizeof cipher);
    l->tls_rtts = strcmp(ver, "TLSv1.3") == 0 ? 1 : 2;
  }
  l->ready = 1;
  if (l->ev->on_ready) l->ev->on_ready(l, l->ud);
  pump(l);
}

static void on_close(np_conn *c, void *ud, int status) {
  rpm_link *l = ud;
  l->bytes_in_final = l->load_body_in;
  l->c = NULL;
  np_h2c *h = l->h;
  l->h = NULL;
  const char *why = h ? np_h2c_goaway_reason(h, &l->goaway_code) : NULL;
  if (why) {
    l->goaway = 1;
    (void)snprintf(l->goaway_why, sizeof l->goaway_why, "%s", why);
  }
  np_h2c_free(h); /* open streams get no callback: the owner sees on_closed */
  if (l->ev->on_closed) l->ev->on_closed(l, l->ud, status);
  free(l);
}

int rpm_link_open(uv_loop_t *loop, const struct sockaddr *addr, np_tls_ctx *tls,
                  const char *server_name, const char *authority, np_slice payload,
                  const rpm_link_events *ev, void *ud, rpm_link **ret) {
  rpm_link *l = calloc(1, sizeof *l);
  if (!l) return -ENOMEM;
  l->ev = ev;
  l->ud = ud;
  l->load_stream = -1;
  l->queue = QUEUE_START;
  (void)snprintf(l->scheme, sizeof l->scheme, "%s", tls ? "https" : "http");
  (void)snprintf(l->authority, sizeof l->authority, "%s", authority);
  int rc = np_h2c_new(&l->h, &kH2, l, payload, WINDOW);
  if (rc < 0) {
    free(l);
    return rc;
  }
  static const np_conn_callbacks cbs = {.on_data = on_data,
                                        .on_writable = on_writable,
                                        .on_connected = on_connected,
                                        .on_close = on_close};
  l->t_start = np_mono_ns();
  rc = np_conn_connect(loop, addr, tls, server_name, &cbs, l, &l->c);
  if (rc < 0) {
    np_h2c_free(l->h);
    free(l);
    return rc;
  }
  int fd = np_conn_fd(l->c);
  /* Requests leave at once; our upload data waits in user space, not in
   * the socket, so a self probe is not queued behind it. */
  (void)np_tcp_nodelay(fd);
  (void)np_tcp_notsent_lowat(fd, QUEUE_START);
  *ret = l;
  return 0;
}

int32_t rpm_link_request(rpm_link *l, const char *method, const char *path, const uint8_t *body,
                         size_t len, int stream_upload, void *sud) {
  if (!l->ready || !l->h || l->closing) return NP_E_CLOSED;
  int32_t id =
      np_h2c_request(l->h, method, l->scheme, l->authority, path, body, len, stream_upload, sud);
  if (id > 0) pump(l);
  return id;
}

void rpm_link_abort(rpm_link *l) {
  if (l->closing || !l->c) return;
  l->closing = 1;
  np_conn_abort(l->c, NP_E_CLOSED);
}

uint64_t rpm_link_bytes_in(const rpm_link *l) { return l->c ? l->load_body_in : l->mark_bytes; }

uint64_t rpm_link_bytes_acked(const rpm_link *l) {
  if (!l->c || !l->h) return l->mark_bytes;
  /* Only upload bodies flow on an upload link (its probes are GETs). */
  uint64_t body = np_h2c_body_sent(l->h);
  np_tcpinfo ti;
  /* SACKed bytes count as delivered: bytes_acked alone leaps when a hole
   * is filled, crediting a whole window to the interval in which the
   * retransmission arrived (upload phases read 49.5 Mbit/s on a 47.8
   * link). */
  uint64_t v = np_conn_get_stats(l->c)->wire_written;
  if (np_tcpinfo_read(np_conn_fd(l->c), &ti) == 0 && ti.bytes_acked > 0)
    v = ti.bytes_acked + (uint64_t)ti.sacked * ti.snd_mss;
  return v < body ? v : body;
}
