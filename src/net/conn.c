/* The stream transport's state machine: a non-blocking socket watched by
 * uv_poll, the flushing of its write queue, the read loop with
 * kernel-side discard of unread bulk data, and the close sequence. The
 * write queue's bookkeeping is conn_queue.c; the bytes themselves move
 * through c->tp (conn_plain.c, conn_tls.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/error.h"
#include "net/conn_transport.h"

#define MAX_IOV 64
#define READ_ROUNDS 16 /* reads per poll event, for fairness */
#define LINGER_MS 2000
#define LOWAT_MAX (1 << 20)   /* wake for at most this much skipped data */
#define LOWAT_MIN (64 * 1024) /* below this, waking per segment is fine */

static void on_poll(uv_poll_t *h, int status, int events);
static void finish_close(np_conn *c, int status);
static int flush(np_conn *c);
static void handle_eof(np_conn *c);

static void update_poll(np_conn *c) {
  if (c->state == ST_CLOSED) return;
  int ev = 0;
  if (c->state == ST_CONNECTING) {
    ev = UV_WRITABLE;
  } else {
    if ((c->read_enabled || c->state == ST_HANDSHAKE || c->state == ST_CLOSING) && !c->peer_eof)
      ev |= UV_READABLE;
    int queued = c->head && c->state != ST_HANDSHAKE;
    int notify = c->want_writable_cb && c->state == ST_OPEN && c->cbs.on_writable;
    /* Completions wait for the next poll event: a writable socket gives
     * one at once. */
    if (queued || c->tp->want_write(c) || notify || c->done) ev |= UV_WRITABLE;
  }
  if (ev == c->poll_events) return;
  c->poll_events = ev;
  if (ev)
    (void)uv_poll_start(&c->poll, ev, on_poll);
  else
    (void)uv_poll_stop(&c->poll);
}

static np_conn *conn_new(uv_loop_t *loop, int fd) {
  np_conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->rbuf = malloc(NP_CONN_RBUF_MIN);
  c->rcap = NP_CONN_RBUF_MIN;
  if (!c->rbuf || uv_poll_init_socket(loop, &c->poll, fd) != 0) {
    free(c->rbuf);
    free(c);
    return NULL;
  }
  c->loop = loop;
  c->fd = fd;
  c->stats.start_ns = np_mono_ns();
  c->tp = &np_transport_plain;
  c->poll.data = c;
  (void)uv_timer_init(loop, &c->linger);
  c->linger.data = c;
  c->handles_open = 2;
  c->read_enabled = 1;
  c->rcvlowat = 1;
  c->mem_cap = NP_CONN_QUEUE_CAP;
  return c;
}

int np_conn_accept(uv_loop_t *loop, int fd, np_tls_ctx *tls, np_conn **ret_conn) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    int e = -errno;
    (void)close(fd);
    return e;
  }
  np_conn *c = conn_new(loop, fd);
  if (!c) {
    (void)close(fd);
    return -ENOMEM;
  }
  c->state = ST_OPEN;
  if (tls) {
    int rc = np_conn_tls_setup(c, tls, NULL);
    if (rc < 0) {
      finish_close(c, rc); /* closes fd; on_close is not set yet */
      return rc;
    }
    c->state = ST_HANDSHAKE;
  }
  *ret_conn = c;
  return 0;
}

void np_conn_set_callbacks(np_conn *c, const np_conn_callbacks *cbs, void *ud) {
  c->cbs = *cbs;
  c->ud = ud;
  update_poll(c);
}

int np_conn_connect(uv_loop_t *loop, const struct sockaddr *addr, np_tls_ctx *tls,
                    const char *server_name, const np_conn_callbacks *cbs, void *ud,
                    np_conn **ret_conn) {
  socklen_t alen =
      addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (connect(fd, addr, alen) < 0 && errno != EINPROGRESS) {
    int e = -errno;
    (void)close(fd);
    return e;
  }
  np_conn *c = conn_new(loop, fd);
  if (!c) {
    (void)close(fd);
    return -ENOMEM;
  }
  c->is_client = 1;
  c->state = ST_CONNECTING;
  c->cbs = *cbs;
  c->ud = ud;
  if (tls) {
    int rc = np_conn_tls_setup(c, tls, server_name);
    if (rc < 0) {
      finish_close(c, rc);
      return rc;
    }
  }
  update_poll(c);
  *ret_conn = c;
  return 0;
}

/* ---- completions and closing ---- */

/* Runs the callbacks of finished writes, oldest first. */
static void dispatch_done(np_conn *c) {
  while (c->done) {
    np_wreq *r = c->done;
    c->done = r->next;
    if (!c->done) c->done_tail = NULL;
    np_conn_write_cb cb = r->cb;
    void *arg = r->arg;
    np_conn_req_free(c, r);
    c->in_callback++;
    cb(c, arg, 0);
    c->in_callback--;
  }
}

static void on_handle_closed(uv_handle_t *h) {
  np_conn *c = h->data;
  if (--c->handles_open > 0) return;
  /* Finished writes report success, the rest are cancelled; all before
   * on_close, so owners can release what the writes referenced. */
  dispatch_done(c);
  while (c->head) {
    np_wreq *r = c->head;
    c->head = r->next;
    np_conn_write_cb cb = r->cb;
    void *arg = r->arg;
    np_conn_req_free(c, r);
    if (cb) cb(c, arg, NP_E_CLOSED);
  }
  if (c->cbs.on_close) c->cbs.on_close(c, c->ud, c->close_status);
  np_conn_tls_free(c);
  free(c->rbuf);
  free(c);
}

static void finish_close(np_conn *c, int status) {
  if (c->state == ST_CLOSED) return;
  c->state = ST_CLOSED;
  c->close_status = status;
  if (c->fd >= 0) {
    (void)uv_poll_stop(&c->poll);
    (void)close(c->fd);
    c->fd = -1;
  }
  /* on_close runs from the close callbacks, after the current callback
   * chain has returned, so callers may touch c until then. */
  uv_close((uv_handle_t *)&c->poll, on_handle_closed);
  uv_close((uv_handle_t *)&c->linger, on_handle_closed);
}

void np_conn_abort(np_conn *c, int status) { finish_close(c, status); }

static void on_linger(uv_timer_t *t) {
  np_conn *c = t->data;
  finish_close(c, c->close_status);
}

void np_conn_close(np_conn *c) {
  if (c->state == ST_CLOSED || c->state == ST_CLOSING) return;
  if (c->state == ST_CONNECTING || c->state == ST_HANDSHAKE) {
    finish_close(c, NP_E_CLOSED);
    return;
  }
  /* Queued data goes out first, then TLS close_notify and our FIN; we keep
   * reading (and discarding) until the peer's FIN or the linger timer,
   * because closing with unread data would send a RST that can destroy our
   * last bytes in flight. */
  c->state = ST_CLOSING;
  c->read_enabled = 1;
  c->want_writable_cb = 0;
  (void)uv_timer_start(&c->linger, on_linger, LINGER_MS, 0);
  int rc = flush(c);
  if (rc < 0) {
    finish_close(c, 0);
    return;
  }
  update_poll(c);
}

/* ---- writing ---- */

/* Pushes queued data out. Returns < 0 on a fatal error. */
static int flush(np_conn *c) {
  if (c->state == ST_CONNECTING || c->state == ST_HANDSHAKE || c->fd < 0) return 0;
  int rc = c->tp->flush(c);
  if (rc < 0) return rc;
  if (rc == NP_IO_AGAIN) return 0;
  while (c->head) {
    struct iovec iov[MAX_IOV];
    int n = 0;
    for (np_wreq *r = c->head; r && n < MAX_IOV; r = r->next)
      for (int i = r->idx; i < r->n && n < MAX_IOV; i++) iov[n++] = r->iov[i];
    size_t w = 0;
    rc = n ? c->tp->write(c, iov, n, &w) : NP_IO_DONE;
    if (rc < 0) return rc;
    np_conn_queue_advance(c, w);
    if (rc == NP_IO_AGAIN) return 0;
  }
  if (c->state == ST_CLOSING && !c->fin_sent) {
    rc = c->tp->shutdown(c);
    if (rc < 0) return rc;
    if (rc == NP_IO_AGAIN) return 0;
    c->fin_sent = 1;
    (void)shutdown(c->fd, SHUT_WR);
  }
  return 0;
}

int np_conn_writev(np_conn *c, const np_conn_buf *bufs, int n, np_conn_write_cb cb, void *arg) {
  int rc = np_conn_queue_add(c, bufs, n, cb, arg);
  if (rc < 0) return rc;
  if (c->state == ST_OPEN) {
    rc = flush(c);
    if (rc < 0) {
      finish_close(c, rc);
      return rc;
    }
  }
  update_poll(c);
  return 0;
}

int np_conn_write(np_conn *c, const void *data, size_t len) {
  if (len == 0) return 0;
  np_conn_buf b = {data, len, 0};
  return np_conn_writev(c, &b, 1, NULL, NULL);
}

void np_conn_want_writable(np_conn *c, int on, size_t lowat) {
  c->lowat = lowat;
  c->want_writable_cb = on;
  update_poll(c);
}

/* ---- reading ---- */

/* While bulk data is being dropped in the kernel, ask to be woken only when
 * a large part of it has arrived: per-segment wake-ups (and the window
 * updates each drain sends) otherwise cost more than the data. Never more
 * than what is left to skip, so the bytes after it are never held back. */
static void tune_lowat(np_conn *c) {
  if (!c->tp->discard || c->fd < 0) return;
  uint64_t in_kernel = c->skip > c->rlen ? c->skip - c->rlen : 0;
  int want = in_kernel >= LOWAT_MAX ? LOWAT_MAX : (int)in_kernel;
  if (want < LOWAT_MIN) want = 1;
  if (want == c->rcvlowat) return;
  if (setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof want) == 0) c->rcvlowat = want;
}

void np_conn_skip(np_conn *c, uint64_t n) {
  c->skip += n;
  tune_lowat(c);
}

void np_conn_read_hint(np_conn *c, size_t n) { c->read_hint = n; }

void np_conn_read_enable(np_conn *c, int on) {
  c->read_enabled = on;
  update_poll(c);
}

static void report_skipped(np_conn *c, size_t k) {
  c->stats.app_read += k;
  c->in_callback++;
  (void)c->cbs.on_data(c, c->ud, NULL, k);
  c->in_callback--;
}

/* Offers buffered bytes to the owner. Returns 0, or < 0 when the conn
 * closed meanwhile. */
static int deliver(np_conn *c) {
  while (c->state != ST_CLOSED && c->rlen > 0) {
    if (c->state == ST_CLOSING) {
      c->rlen = 0; /* draining after our close: discard */
      return 0;
    }
    if (c->skip > 0) {
      size_t k = c->rlen < c->skip ? c->rlen : (size_t)c->skip;
      memmove(c->rbuf, c->rbuf + k, c->rlen - k);
      c->rlen -= k;
      c->skip -= k;
      tune_lowat(c);
      report_skipped(c, k);
      continue;
    }
    if (!c->read_enabled) return 0;
    c->in_callback++;
    size_t used = c->cbs.on_data(c, c->ud, c->rbuf, c->rlen);
    c->in_callback--;
    if (c->state == ST_CLOSED) return -1;
    if (used > c->rlen) used = c->rlen;
    c->stats.app_read += used;
    if (used == 0) return 0;
    memmove(c->rbuf, c->rbuf + used, c->rlen - used);
    c->rlen -= used;
  }
  return c->state == ST_CLOSED ? -1 : 0;
}

static void handle_eof(np_conn *c) {
  c->peer_eof = 1;
  if (c->state == ST_CLOSING) {
    /* Our FIN may still wait behind queued data; close once flushed. */
    if (!c->head && c->fin_sent) finish_close(c, c->close_status);
    return;
  }
  finish_close(c, c->state == ST_HANDSHAKE ? NP_E_TLS : NP_E_CLOSED);
}

static void handshake_done(np_conn *c) {
  c->state = ST_OPEN;
  if (c->is_client && c->cbs.on_connected) {
    c->in_callback++;
    c->cbs.on_connected(c, c->ud, 0);
    c->in_callback--;
  }
  if (c->state == ST_OPEN && flush(c) < 0) finish_close(c, NP_E_TLS);
}

/* Most connections carry a request or two (an RPM foreign probe's is
 * ~500 bytes; goresponsiveness opens 100 of them a second), so they start
 * with a small buffer; bulk data or a large head fills it, and it grows
 * once, for the connection's life. A 64 KiB buffer on every connection was
 * 60 % of the server's heap under probe churn (bench/README.md). */
static void rbuf_grow(np_conn *c) {
  if (c->rcap >= NP_CONN_RBUF_CAP) return;
  uint8_t *p = realloc(c->rbuf, NP_CONN_RBUF_CAP);
  if (!p) return; /* reads stay small: slower, not wrong */
  c->rbuf = p;
  c->rcap = NP_CONN_RBUF_CAP;
}

/* One read into rbuf (or one kernel-side discard). NP_IO_DONE after
 * progress, NP_IO_AGAIN, or < 0; 1 byte count in *ret_n, 0 = EOF. */
static int read_once(np_conn *c, size_t *ret_n) {
  if (c->skip > 0 && c->rlen == 0 && c->tp->discard) {
    size_t want = c->skip > (1u << 30) ? (1u << 30) : (size_t)c->skip;
    int rc = c->tp->discard(c, want, ret_n);
    if (rc == NP_IO_DONE && *ret_n > 0) {
      c->skip -= *ret_n;
      tune_lowat(c);
      report_skipped(c, *ret_n);
    }
    return rc;
  }
  if (c->rlen == c->rcap) {
    if (deliver(c) < 0) return NP_IO_AGAIN;
    if (c->rlen == c->rcap) return NP_IO_AGAIN; /* owner is not consuming */
  }
  size_t room = c->rcap - c->rlen;
  /* A cleartext read costs a copy per byte: read no more than the owner
   * said it needs before its next skip. The advice holds until a read
   * brings bytes (not past a would-block). */
  if (c->skip == 0 && c->read_hint && c->tp->discard && room > c->read_hint) room = c->read_hint;
  int rc = c->tp->read(c, c->rbuf + c->rlen, room, ret_n);
  if (rc == NP_IO_DONE && *ret_n > 0) {
    if (c->skip == 0) c->read_hint = 0;
    c->rlen += *ret_n;
    if (c->rlen == c->rcap) rbuf_grow(c); /* more is likely waiting */
    (void)deliver(c);
  }
  return rc;
}

static void do_read_rounds(np_conn *c);

static void do_read(np_conn *c) {
  do_read_rounds(c);
  c->no_pull = 0;
}

static void do_read_rounds(np_conn *c) {
  for (int round = 0; c->state != ST_CLOSED; round++) {
    /* Input the TLS engine already holds gets no poll event: past the
     * fairness bound, drain that (without reading the socket) and stop. */
    if (round >= READ_ROUNDS) {
      if (!np_conn_tls_buffered(c)) return;
      c->no_pull = 1;
    }
    if (!c->read_enabled && c->state == ST_OPEN) return;
    if (c->state == ST_HANDSHAKE) {
      int rc = np_conn_tls_handshake(c);
      if (rc < 0) {
        finish_close(c, rc);
        return;
      }
      if (c->peer_eof) {
        handle_eof(c);
        return;
      }
      if (rc == NP_IO_AGAIN) return;
      handshake_done(c);
      continue;
    }
    size_t n = 0;
    int rc = read_once(c, &n);
    if (c->state == ST_CLOSED) return;
    if (rc < 0) {
      finish_close(c, c->state == ST_CLOSING ? c->close_status : rc);
      return;
    }
    if (rc == NP_IO_AGAIN) return;
    if (n == 0) {
      handle_eof(c);
      return;
    }
  }
}

static void connect_done(np_conn *c) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err) {
    if (c->cbs.on_connected) c->cbs.on_connected(c, c->ud, -err);
    finish_close(c, -err);
    return;
  }
  c->stats.connect_ns = np_mono_ns(); /* the RPM client's TCP handshake time */
  if (c->ssl) {
    c->state = ST_HANDSHAKE;
    int rc = np_conn_tls_handshake(c);
    if (rc < 0) {
      if (c->cbs.on_connected) c->cbs.on_connected(c, c->ud, rc);
      finish_close(c, rc);
    } else if (rc == NP_IO_DONE) {
      handshake_done(c);
    }
    return;
  }
  c->state = ST_OPEN;
  if (c->cbs.on_connected) {
    c->in_callback++;
    c->cbs.on_connected(c, c->ud, 0);
    c->in_callback--;
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  np_conn *c = h->data;
  if (c->state == ST_CLOSED) return;
  if (c->state == ST_CONNECTING) {
    /* A failed connect shows up as an error event: SO_ERROR names it. */
    if (status < 0 || (events & UV_WRITABLE)) connect_done(c);
    if (c->state != ST_CLOSED) update_poll(c);
    return;
  }
  if (status < 0) {
    finish_close(c, status);
    return;
  }
  /* A handshake may wait for either direction: it is driven from here. */
  if ((events & UV_READABLE) || c->state == ST_HANDSHAKE) {
    do_read(c);
    if (c->state == ST_CLOSED) return;
  }
  if (events & UV_WRITABLE) {
    int rc = flush(c);
    if (rc < 0) {
      finish_close(c, c->state == ST_CLOSING ? c->close_status : rc);
      return;
    }
    if (c->state == ST_CLOSING && c->peer_eof && c->fin_sent) {
      finish_close(c, c->close_status);
      return;
    }
  }
  dispatch_done(c);
  if (c->state == ST_CLOSED) return;
  if (c->state == ST_OPEN && c->want_writable_cb && c->pending <= c->lowat && c->cbs.on_writable &&
      (events & UV_WRITABLE)) {
    c->in_callback++;
    c->cbs.on_writable(c, c->ud);
    c->in_callback--;
    if (c->state == ST_CLOSED) return;
  }
  update_poll(c);
}

int np_conn_fd(const np_conn *c) { return c->fd; }

uv_loop_t *np_conn_loop(const np_conn *c) { return c->loop; }

int np_conn_is_tls(const np_conn *c) { return c->ssl != NULL; }

const np_conn_stats *np_conn_get_stats(const np_conn *c) { return &c->stats; }

const char *np_conn_alpn(const np_conn *c) { return c->alpn; }
