/* The TLS transport: OpenSSL reading and writing the socket itself through
 * a small BIO of ours (non-blocking recv/sendmsg with MSG_NOSIGNAL, so a
 * library user never gets SIGPIPE; it counts wire bytes and keeps the
 * first bytes received). No memory BIOs: ciphertext is not copied between
 * buffers on its way to or from the kernel. OpenSSL's "want read/write"
 * is the transport's NP_IO_AGAIN. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "core/clock.h"
#include "core/error.h"
#include "net/conn_transport.h"

#define TLS_CHUNK (64 * 1024) /* plaintext per SSL_write */
#define TLS_RECORD 16384      /* plaintext of one full record */
#define READ_AHEAD (64 * 1024)
#define TLS_ROUNDS 16 /* SSL_writes per write call */

static BIO_METHOD *g_method;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static int bio_write(BIO *b, const char *buf, int len) {
  np_conn *c = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  struct iovec v = {(void *)buf, (size_t)len};
  size_t n = 0;
  int rc = np_sock_send(c, &v, 1, &n);
  c->tls_wblocked = rc == NP_IO_AGAIN;
  if (rc == NP_IO_DONE) return (int)n;
  if (rc == NP_IO_AGAIN)
    BIO_set_retry_write(b);
  else
    c->tls_sock_err = rc;
  return -1;
}

static int bio_read(BIO *b, char *buf, int len) {
  np_conn *c = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (c->no_pull) {
    BIO_set_retry_read(b);
    return -1;
  }
  size_t n = 0;
  int rc = np_sock_recv(c, (uint8_t *)buf, (size_t)len, &n);
  if (rc == NP_IO_AGAIN) {
    BIO_set_retry_read(b);
    return -1;
  }
  if (rc < 0) {
    c->tls_sock_err = rc;
    return -1;
  }
  if (n == 0) c->tls_eof = 1;
  for (size_t i = 0; i < n && c->nfirst < sizeof c->first_bytes; i++)
    c->first_bytes[c->nfirst++] = (uint8_t)buf[i];
  return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b;
  (void)num;
  (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static void make_method(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "np_conn");
  if (!m || !BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
      !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create)) {
    BIO_meth_free(m);
    return;
  }
  g_method = m;
}

int np_conn_tls_setup(np_conn *c, np_tls_ctx *tls, const char *server_name) {
  (void)pthread_once(&g_once, make_method);
  BIO *b = g_method ? BIO_new(g_method) : NULL;
  c->ssl = b ? SSL_new(np_tls_ctx_ssl_ctx(tls)) : NULL;
  if (!c->ssl) {
    BIO_free(b);
    return -ENOMEM;
  }
  BIO_set_data(b, c);
  SSL_set_bio(c->ssl, b, b); /* one reference for both directions */
  /* Records leave as the socket takes them; a retried write may come from
   * a re-gathered copy of the same bytes. */
  SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_read_ahead(c->ssl, 1);
  SSL_set_default_read_buffer_len(c->ssl, READ_AHEAD);
  c->tp = &np_transport_tls;
  if (np_tls_ctx_is_server(tls)) {
    SSL_set_accept_state(c->ssl);
    return 0;
  }
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
  return 0;
}

void np_conn_tls_free(np_conn *c) {
  if (c->ssl) SSL_free(c->ssl); /* frees the BIO */
  c->ssl = NULL;
}

/* Maps an OpenSSL result: AGAIN for want read/write, EOF (DONE, 0 bytes)
 * for the peer's end of stream, else an error. */
static int tls_result(np_conn *c, int r, size_t *ret_n) {
  int e = SSL_get_error(c->ssl, r);
  ERR_clear_error();
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return NP_IO_AGAIN;
  if (e == SSL_ERROR_ZERO_RETURN || c->tls_eof) {
    *ret_n = 0;
    return NP_IO_DONE;
  }
  return c->tls_sock_err ? c->tls_sock_err : NP_E_TLS;
}

/* A record OpenSSL holds goes out when its SSL_write is retried (the
 * conn's flush calls write next); with nothing queued, stop asking for
 * writability. */
static int tls_flush(np_conn *c) {
  if (!c->head) c->tls_wblocked = 0;
  return NP_IO_DONE;
}

static int tls_want_write(const np_conn *c) { return c->tls_wblocked; }

/* A client whose TLS peer answered in cleartext HTTP gets its own code. */
static int fail_code(const np_conn *c) {
  if (c->is_client && c->nfirst >= 5 && memcmp(c->first_bytes, "HTTP/", 5) == 0)
    return NP_E_TLS_PLAINTEXT;
  return NP_E_TLS;
}

int np_conn_tls_handshake(np_conn *c) {
  int r = SSL_do_handshake(c->ssl);
  if (r == 1) {
    const unsigned char *p = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(c->ssl, &p, &len);
    if (!p || len >= sizeof c->alpn) len = 0;
    if (len) memcpy(c->alpn, p, len);
    c->alpn[len] = 0;
    c->stats.handshake_ns = np_mono_ns();
    return NP_IO_DONE;
  }
  int e = SSL_get_error(c->ssl, r);
  ERR_clear_error();
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return NP_IO_AGAIN;
  if (c->tls_eof && c->nfirst == 0) c->peer_eof = 1; /* closed before a byte */
  return c->peer_eof ? NP_IO_AGAIN : fail_code(c);
}

/* SSL_read gives one record at a time; records the engine already holds
 * are gathered into the same read, so the owner sees one delivery per
 * buffer rather than per record (an HTTP/2 client may well send each frame
 * header as a record of its own). What stops the gathering (would-block,
 * end of stream, an error) shows again at the next read. */
static int tls_read(np_conn *c, uint8_t *buf, size_t cap, size_t *ret_n) {
  *ret_n = 0;
  if (cap > INT32_MAX) cap = INT32_MAX;
  for (;;) {
    int r = SSL_read(c->ssl, buf + *ret_n, (int)(cap - *ret_n));
    if (r <= 0) {
      if (*ret_n > 0) {
        ERR_clear_error();
        return NP_IO_DONE;
      }
      return tls_result(c, r, ret_n);
    }
    *ret_n += (size_t)r;
    if (*ret_n == cap || !SSL_has_pending(c->ssl)) return NP_IO_DONE;
  }
}

/* Picks the bytes of the next SSL_write: up to TLS_CHUNK of one piece, or
 * small leading pieces (a frame header) gathered with what follows into
 * one record, so a message costs no extra record. A write OpenSSL asked
 * to retry is rebuilt with exactly its length. */
static size_t next_write(np_conn *c, const struct iovec *iov, int n, size_t off, uint8_t *rec,
                         const void **ret_p) {
  int i = 0;
  while (i < n && off >= iov[i].iov_len) off -= iov[i++].iov_len;
  if (i == n) return 0;
  const uint8_t *p = (const uint8_t *)iov[i].iov_base + off;
  size_t here = iov[i].iov_len - off;
  size_t want = c->tls_retry_len;
  if (!want) want = here >= TLS_RECORD || i + 1 == n ? here : TLS_RECORD;
  if (want > TLS_CHUNK) want = TLS_CHUNK;
  if (want <= here) {
    *ret_p = p;
    return want;
  }
  size_t used = 0;
  for (int j = i; j < n && used < want; j++) {
    const uint8_t *src = j == i ? p : (const uint8_t *)iov[j].iov_base;
    size_t len = j == i ? here : iov[j].iov_len;
    if (len > want - used) len = want - used;
    memcpy(rec + used, src, len);
    used += len;
  }
  *ret_p = rec;
  return used;
}

/* OpenSSL hands the socket one record (16 KiB) per send. Loopback and
 * fast paths then carry a segment per record, and the peer's kernel
 * acknowledges, and wakes its reader, about once per segment: a client
 * that reads 8 KiB at a time (Go's) made the server's kernel handle three
 * times the segments per byte that ndt7's did. Every record but those of
 * the last SSL_write here goes with MSG_MORE, so the kernel fills full
 * segments; the last one pushes them, and so does a send that would
 * block (Linux pushes before it waits for room). */
static int tls_write(np_conn *c, const struct iovec *iov, int n, size_t *ret_n) {
  *ret_n = 0;
  size_t total = 0;
  for (int i = 0; i < n; i++) total += iov[i].iov_len;
  for (int rounds = 0; rounds < TLS_ROUNDS; rounds++) {
    uint8_t rec[TLS_RECORD];
    const void *p = NULL;
    size_t k = next_write(c, iov, n, *ret_n, rec, &p);
    if (k == 0) return NP_IO_DONE;
    c->sock_more = *ret_n + k < total && rounds + 1 < TLS_ROUNDS;
    int w = SSL_write(c->ssl, p, (int)k);
    c->sock_more = 0;
    if (w <= 0) {
      size_t ignored;
      int rc = tls_result(c, w, &ignored);
      if (rc == NP_IO_AGAIN) c->tls_retry_len = k;
      return rc == NP_IO_DONE ? NP_E_TLS : rc;
    }
    c->tls_retry_len = 0;
    *ret_n += (size_t)w;
  }
  return NP_IO_DONE;
}

static int tls_shutdown(np_conn *c) {
  if (!SSL_is_init_finished(c->ssl)) return NP_IO_DONE;
  int r = SSL_shutdown(c->ssl);
  if (r >= 0) return NP_IO_DONE;
  size_t ignored;
  return tls_result(c, r, &ignored) == NP_IO_AGAIN ? NP_IO_AGAIN : NP_IO_DONE;
}

int np_conn_tls_buffered(const np_conn *c) { return c->ssl && SSL_has_pending(c->ssl); }

const np_transport np_transport_tls = {
    .read = tls_read,
    .write = tls_write,
    .flush = tls_flush,
    .shutdown = tls_shutdown,
    .want_write = tls_want_write,
    .discard = NULL,
};

void np_conn_tls_info(const np_conn *c, char *version, size_t vcap, char *cipher, size_t ccap) {
  const char *v = c->ssl && SSL_is_init_finished(c->ssl) ? SSL_get_version(c->ssl) : "";
  const char *ci = c->ssl && SSL_is_init_finished(c->ssl) ? SSL_get_cipher_name(c->ssl) : "";
  if (vcap) (void)snprintf(version, vcap, "%s", v ? v : "");
  if (ccap) (void)snprintf(cipher, ccap, "%s", ci ? ci : "");
}
