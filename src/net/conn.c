/* The stream transport: a non-blocking socket watched by uv_poll, with a
 * segment write queue (copies and references), kernel-side discard of
 * unread bulk data, and TLS over memory BIOs. */
#include "net/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/error.h"

#define RBUF_CAP (64 * 1024)
#define COPY_CAP (4 * 1024 * 1024) /* bytes of queued copies */
#define TLS_CHUNK (64 * 1024)      /* plaintext per SSL_write */
#define MAX_IOV 64
#define READ_ROUNDS 16 /* reads per poll event, for fairness */
#define LINGER_MS 2000
#define LOWAT_MAX (1 << 20)   /* wake for at most this much skipped data */
#define LOWAT_MIN (64 * 1024) /* below this, waking per segment is fine */
#define HEADER_READ 256       /* first read after a skip: the next header */

typedef struct seg {
  struct seg *next;
  const uint8_t *ptr;
  size_t len;
  size_t off;
  int owned; /* data follows the struct */
} seg;

enum { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSING, ST_CLOSED };

struct np_conn {
  uv_loop_t *loop;
  uv_poll_t poll;
  uv_timer_t linger;
  int fd;
  int state;
  int poll_events;
  int read_enabled;
  int is_client;
  int in_callback;
  int close_status;
  int handles_open;
  np_conn_callbacks cbs;
  void *ud;
  /* read side */
  uint8_t *rbuf;
  size_t rlen;
  uint64_t skip;
  int rcvlowat;   /* SO_RCVLOWAT currently set (cleartext skipping) */
  int after_skip; /* the next read starts a new frame header */
  int peer_eof;
  /* write side */
  seg *head;
  seg *tail;
  size_t pending;
  size_t copied;
  size_t lowat;
  int want_writable_cb;
  int fin_sent;
  /* TLS */
  SSL *ssl;
  BIO *rbio;
  BIO *wbio;
  size_t wbio_off; /* bytes of wbio's data already sent */
  uint8_t first_bytes[8];
  size_t nfirst;
  char alpn[32];
  np_conn_stats stats;
};

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
    int tls_out = c->wbio && (size_t)BIO_pending(c->wbio) > 0;
    int notify = c->want_writable_cb && c->state == ST_OPEN && c->cbs.on_writable;
    if (c->head || tls_out || notify) ev |= UV_WRITABLE;
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
  c->rbuf = malloc(RBUF_CAP);
  if (!c->rbuf || uv_poll_init_socket(loop, &c->poll, fd) != 0) {
    free(c->rbuf);
    free(c);
    return NULL;
  }
  c->loop = loop;
  c->fd = fd;
  c->poll.data = c;
  (void)uv_timer_init(loop, &c->linger);
  c->linger.data = c;
  c->handles_open = 2;
  c->read_enabled = 1;
  c->rcvlowat = 1;
  return c;
}

static int tls_setup(np_conn *c, np_tls_ctx *tls, const char *server_name) {
  c->ssl = SSL_new(np_tls_ctx_ssl_ctx(tls));
  c->rbio = BIO_new(BIO_s_mem());
  c->wbio = BIO_new(BIO_s_mem());
  if (!c->ssl || !c->rbio || !c->wbio) {
    BIO_free(c->rbio);
    BIO_free(c->wbio);
    c->rbio = c->wbio = NULL;
    return -ENOMEM;
  }
  BIO_set_mem_eof_return(c->rbio, -1);
  SSL_set_bio(c->ssl, c->rbio, c->wbio);
  if (np_tls_ctx_is_server(tls)) {
    SSL_set_accept_state(c->ssl);
  } else {
    SSL_set_connect_state(c->ssl);
    if (server_name && server_name[0]) {
      struct in6_addr a6;
      struct in_addr a4;
      int is_ip =
          inet_pton(AF_INET, server_name, &a4) == 1 || inet_pton(AF_INET6, server_name, &a6) == 1;
      if (!is_ip) (void)SSL_set_tlsext_host_name(c->ssl, server_name);
      X509_VERIFY_PARAM *p = SSL_get0_param(c->ssl);
      if (is_ip)
        (void)X509_VERIFY_PARAM_set1_ip_asc(p, server_name);
      else
        (void)SSL_set1_host(c->ssl, server_name);
    }
  }
  c->state = ST_HANDSHAKE;
  return 0;
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
    int rc = tls_setup(c, tls, NULL);
    if (rc < 0) {
      finish_close(c, rc); /* closes fd; on_close is not set yet */
      return rc;
    }
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
    close(fd);
    return e;
  }
  np_conn *c = conn_new(loop, fd);
  if (!c) {
    close(fd);
    return -ENOMEM;
  }
  c->is_client = 1;
  c->state = ST_CONNECTING;
  c->cbs = *cbs;
  c->ud = ud;
  if (tls) {
    int rc = tls_setup(c, tls, server_name);
    if (rc < 0) {
      finish_close(c, rc);
      return rc;
    }
    c->state = ST_CONNECTING;
  }
  update_poll(c);
  *ret_conn = c;
  return 0;
}

/* ---- closing ---- */

static void on_handle_closed(uv_handle_t *h) {
  np_conn *c = h->data;
  if (--c->handles_open > 0) return;
  if (c->cbs.on_close) c->cbs.on_close(c, c->ud, c->close_status);
  while (c->head) {
    seg *s = c->head;
    c->head = s->next;
    free(s);
  }
  if (c->ssl) SSL_free(c->ssl); /* frees both BIOs */
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

static int queue_seg(np_conn *c, const void *data, size_t len, int copy) {
  if (len == 0) return 0;
  if (c->state == ST_CLOSED || c->state == ST_CLOSING) return NP_E_CLOSED;
  seg *s;
  if (copy) {
    if (c->copied + len > COPY_CAP) return -ENOBUFS;
    s = malloc(sizeof *s + len);
    if (!s) return -ENOMEM;
    memcpy(s + 1, data, len);
    s->ptr = (const uint8_t *)(s + 1);
    c->copied += len;
  } else {
    s = malloc(sizeof *s);
    if (!s) return -ENOMEM;
    s->ptr = data;
  }
  s->owned = copy;
  s->len = len;
  s->off = 0;
  s->next = NULL;
  if (c->tail)
    c->tail->next = s;
  else
    c->head = s;
  c->tail = s;
  c->pending += len;
  return 0;
}

static void advance(np_conn *c, size_t n) {
  c->pending -= n;
  c->stats.app_written += n;
  while (n > 0 && c->head) {
    seg *s = c->head;
    size_t left = s->len - s->off;
    size_t k = n < left ? n : left;
    s->off += k;
    n -= k;
    if (s->off == s->len) {
      c->head = s->next;
      if (!c->head) c->tail = NULL;
      if (s->owned) c->copied -= s->len;
      free(s);
    }
  }
}

static ssize_t sock_send(np_conn *c, const struct iovec *iov, int n) {
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_iov = (struct iovec *)iov;
  m.msg_iovlen = (size_t)n;
  for (;;) {
    ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w >= 0) {
      c->stats.wire_written += (uint64_t)w;
      return w;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return -errno;
  }
}

/* Sends what the TLS engine has produced. 1 = all sent, 0 = blocked. */
static int tls_send_out(np_conn *c) {
  for (;;) {
    char *p = NULL;
    long n = BIO_get_mem_data(c->wbio, &p);
    if (n <= 0 || (size_t)n <= c->wbio_off) {
      if (n > 0) (void)BIO_reset(c->wbio);
      c->wbio_off = 0;
      return 1;
    }
    struct iovec v = {p + c->wbio_off, (size_t)n - c->wbio_off};
    ssize_t w = sock_send(c, &v, 1);
    if (w < 0) return (int)w;
    if (w == 0) return 0;
    c->wbio_off += (size_t)w;
  }
}

static int flush_tls(np_conn *c) {
  for (;;) {
    int rc = tls_send_out(c);
    if (rc <= 0) return rc;
    if (!c->head || !SSL_is_init_finished(c->ssl)) return 1;
    seg *s = c->head;
    size_t k = s->len - s->off;
    if (k > TLS_CHUNK) k = TLS_CHUNK;
    int w = SSL_write(c->ssl, s->ptr + s->off, (int)k);
    if (w <= 0) {
      ERR_clear_error();
      return NP_E_TLS;
    }
    advance(c, (size_t)w);
  }
}

static int flush_plain(np_conn *c) {
  while (c->head) {
    struct iovec iov[MAX_IOV];
    int n = 0;
    for (seg *s = c->head; s && n < MAX_IOV; s = s->next, n++) {
      iov[n].iov_base = (void *)(s->ptr + s->off);
      iov[n].iov_len = s->len - s->off;
    }
    ssize_t w = sock_send(c, iov, n);
    if (w < 0) return (int)w;
    if (w == 0) return 0;
    advance(c, (size_t)w);
  }
  return 1;
}

/* Pushes queued data out. Returns < 0 on a fatal error. */
static int flush(np_conn *c) {
  if (c->state == ST_CONNECTING || c->fd < 0) return 0;
  int rc = c->ssl ? flush_tls(c) : flush_plain(c);
  if (rc < 0) return rc;
  if (c->state == ST_CLOSING && rc == 1 && !c->head && !c->fin_sent) {
    if (c->ssl && SSL_is_init_finished(c->ssl)) {
      (void)SSL_shutdown(c->ssl);
      ERR_clear_error();
      rc = tls_send_out(c);
      if (rc <= 0) return rc;
    }
    c->fin_sent = 1;
    (void)shutdown(c->fd, SHUT_WR);
  }
  return 0;
}

static int write_common(np_conn *c, const void *data, size_t len, int copy) {
  int rc = queue_seg(c, data, len, copy);
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
  return write_common(c, data, len, 1);
}

int np_conn_write_ref(np_conn *c, const void *data, size_t len) {
  return write_common(c, data, len, 0);
}

size_t np_conn_pending(const np_conn *c) { return c->pending; }

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
  if (c->ssl || c->fd < 0) return;
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

void np_conn_read_enable(np_conn *c, int on) {
  c->read_enabled = on;
  update_poll(c);
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
      c->stats.app_read += k;
      tune_lowat(c);
      c->in_callback++;
      (void)c->cbs.on_data(c, c->ud, NULL, k);
      c->in_callback--;
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

static void remember_first(np_conn *c, const uint8_t *p, size_t n) {
  while (n-- > 0 && c->nfirst < sizeof c->first_bytes) c->first_bytes[c->nfirst++] = *p++;
}

static int tls_fail_code(np_conn *c) {
  if (c->state == ST_HANDSHAKE && c->is_client && c->nfirst >= 5 &&
      memcmp(c->first_bytes, "HTTP/", 5) == 0)
    return NP_E_TLS_PLAINTEXT;
  return NP_E_TLS;
}

static void handshake_done(np_conn *c) {
  const unsigned char *p = NULL;
  unsigned n = 0;
  SSL_get0_alpn_selected(c->ssl, &p, &n);
  if (!p || n >= sizeof c->alpn) n = 0;
  if (n) memcpy(c->alpn, p, n);
  c->alpn[n] = 0;
  c->state = ST_OPEN;
  if (c->is_client && c->cbs.on_connected) {
    c->in_callback++;
    c->cbs.on_connected(c, c->ud, 0);
    c->in_callback--;
  }
}

/* Runs the TLS engine over received ciphertext: handshake, then decrypt
 * into rbuf and deliver. */
static int tls_pump(np_conn *c) {
  if (c->state == ST_HANDSHAKE) {
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
      int e = SSL_get_error(c->ssl, r);
      ERR_clear_error();
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return tls_send_out(c) < 0 ? NP_E_TLS : 0;
      (void)tls_send_out(c); /* try to deliver the alert */
      return tls_fail_code(c);
    }
    if (tls_send_out(c) < 0) return NP_E_TLS;
    handshake_done(c);
    if (c->state == ST_CLOSED) return 0;
    if (flush(c) < 0) return NP_E_TLS;
  }
  for (;;) {
    if (c->state == ST_CLOSED) return 0;
    if (c->rlen == RBUF_CAP) {
      if (deliver(c) < 0) return 0;
      if (c->rlen == RBUF_CAP) return 0; /* owner is not consuming */
    }
    int r = SSL_read(c->ssl, c->rbuf + c->rlen, (int)(RBUF_CAP - c->rlen));
    if (r <= 0) {
      int e = SSL_get_error(c->ssl, r);
      ERR_clear_error();
      if (e == SSL_ERROR_WANT_READ) break;
      if (e == SSL_ERROR_ZERO_RETURN) {
        handle_eof(c);
        return 0;
      }
      return NP_E_TLS;
    }
    c->rlen += (size_t)r;
    if (deliver(c) < 0) return 0;
  }
  if (tls_send_out(c) < 0) return NP_E_TLS;
  return 0;
}

static void handle_eof(np_conn *c) {
  c->peer_eof = 1;
  if (c->state == ST_CLOSING) {
    /* Our FIN may still wait behind queued data; close once flushed. */
    if (!c->head && c->fin_sent) finish_close(c, c->close_status);
    return;
  }
  finish_close(c, NP_E_CLOSED);
}

static void do_read(np_conn *c) {
  uint8_t cipher[RBUF_CAP];
  for (int round = 0; round < READ_ROUNDS && c->state != ST_CLOSED; round++) {
    if (!c->read_enabled && c->state == ST_OPEN) return;
    ssize_t n;
    if (!c->ssl && c->skip > 0 && c->rlen == 0) {
      size_t want = c->skip > (1u << 30) ? (1u << 30) : (size_t)c->skip;
      n = recv(c->fd, NULL, want, MSG_TRUNC | MSG_DONTWAIT);
      if (n > 0) {
        c->stats.wire_read += (uint64_t)n;
        c->stats.app_read += (uint64_t)n;
        c->skip -= (uint64_t)n;
        if (c->skip == 0) c->after_skip = 1;
        c->in_callback++;
        (void)c->cbs.on_data(c, c->ud, NULL, (size_t)n);
        c->in_callback--;
        tune_lowat(c);
        continue;
      }
    } else if (c->ssl) {
      n = recv(c->fd, cipher, sizeof cipher, MSG_DONTWAIT);
    } else {
      if (c->rlen == RBUF_CAP) {
        if (deliver(c) < 0 || c->rlen == RBUF_CAP) return;
      }
      /* Right after a skip comes a frame header, usually followed by more
       * payload to skip: read just the header rather than copying 64 KiB
       * that would be thrown away. */
      size_t room = RBUF_CAP - c->rlen;
      if (c->after_skip && room > HEADER_READ) room = HEADER_READ;
      c->after_skip = 0;
      n = recv(c->fd, c->rbuf + c->rlen, room, MSG_DONTWAIT);
    }
    if (n == 0) {
      handle_eof(c);
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      finish_close(c, c->state == ST_CLOSING ? c->close_status : -errno);
      return;
    }
    c->stats.wire_read += (uint64_t)n;
    if (c->ssl) {
      remember_first(c, cipher, (size_t)n);
      if (BIO_write(c->rbio, cipher, (int)n) != n) {
        finish_close(c, -ENOMEM);
        return;
      }
      int rc = tls_pump(c);
      if (rc < 0) {
        finish_close(c, rc);
        return;
      }
    } else {
      c->rlen += (size_t)n;
      if (deliver(c) < 0) return;
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
  if (c->ssl) {
    c->state = ST_HANDSHAKE;
    int rc = tls_pump(c);
    if (rc < 0) {
      if (c->cbs.on_connected) c->cbs.on_connected(c, c->ud, rc);
      finish_close(c, rc);
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
  if (events & UV_READABLE) {
    int was_handshake = c->state == ST_HANDSHAKE;
    do_read(c);
    if (c->state == ST_CLOSED) return;
    if (was_handshake && c->state == ST_HANDSHAKE && c->peer_eof) {
      finish_close(c, NP_E_TLS);
      return;
    }
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

static int addr_of(int fd, int peer, char *ip, size_t ipcap, int *ret_port) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
               : getsockname(fd, (struct sockaddr *)&ss, &len);
  if (r < 0) return -errno;
  if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      if (!inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, (socklen_t)ipcap)) return -errno;
    } else if (!inet_ntop(AF_INET6, &a->sin6_addr, ip, (socklen_t)ipcap)) {
      return -errno;
    }
    *ret_port = ntohs(a->sin6_port);
  } else if (ss.ss_family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    if (!inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)ipcap)) return -errno;
    *ret_port = ntohs(a->sin_port);
  } else {
    return -EAFNOSUPPORT;
  }
  return 0;
}

int np_conn_local_addr(const np_conn *c, char *ip, size_t ipcap, int *ret_port) {
  return addr_of(c->fd, 0, ip, ipcap, ret_port);
}

int np_conn_peer_addr(const np_conn *c, char *ip, size_t ipcap, int *ret_port) {
  return addr_of(c->fd, 1, ip, ipcap, ret_port);
}
