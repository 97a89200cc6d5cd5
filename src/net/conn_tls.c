/* The TLS transport: OpenSSL over memory BIOs. Ciphertext is read from the
 * socket into the read BIO and the records OpenSSL produces are sent from
 * the write BIO, so the conn's poll loop stays the only place that waits. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "core/clock.h"
#include "core/error.h"
#include "net/conn_transport.h"

#define TLS_CHUNK (64 * 1024) /* plaintext per SSL_write */
#define TLS_RECORD 16384      /* plaintext of one full record */
#define CIPHER_READ (64 * 1024)

int np_conn_tls_setup(np_conn *c, np_tls_ctx *tls, const char *server_name) {
  c->ssl = SSL_new(np_tls_ctx_ssl_ctx(tls));
  c->rbio = BIO_new(BIO_s_mem());
  c->wbio = BIO_new(BIO_s_mem());
  if (!c->ssl || !c->rbio || !c->wbio) {
    BIO_free(c->rbio);
    BIO_free(c->wbio);
    SSL_free(c->ssl);
    c->ssl = NULL;
    c->rbio = c->wbio = NULL;
    return -ENOMEM;
  }
  BIO_set_mem_eof_return(c->rbio, -1);
  SSL_set_bio(c->ssl, c->rbio, c->wbio);
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
  if (c->ssl) SSL_free(c->ssl); /* frees both BIOs */
  c->ssl = NULL;
}

/* Sends what the TLS engine has produced: DONE when all is out. */
static int tls_flush(np_conn *c) {
  for (;;) {
    char *p = NULL;
    long n = BIO_get_mem_data(c->wbio, &p);
    if (n <= 0 || (size_t)n <= c->wbio_off) {
      if (n > 0) (void)BIO_reset(c->wbio);
      c->wbio_off = 0;
      return NP_IO_DONE;
    }
    struct iovec v = {p + c->wbio_off, (size_t)n - c->wbio_off};
    size_t w = 0;
    int rc = np_sock_send(c, &v, 1, &w);
    if (rc != NP_IO_DONE) return rc;
    c->wbio_off += w;
  }
}

static int tls_want_write(const np_conn *c) { return c->wbio && BIO_pending(c->wbio) > 0; }

/* Reads ciphertext from the socket into the engine. DONE with *eof set
 * when the peer closed its side. */
static int pull(np_conn *c, int *eof) {
  uint8_t cipher[CIPHER_READ];
  size_t n = 0;
  int rc = np_sock_recv(c, cipher, sizeof cipher, &n);
  if (rc != NP_IO_DONE) return rc;
  *eof = n == 0;
  if (n == 0) return NP_IO_DONE;
  return np_conn_tls_feed(c, cipher, n);
}

int np_conn_tls_feed(np_conn *c, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n && c->nfirst < sizeof c->first_bytes; i++)
    c->first_bytes[c->nfirst++] = p[i];
  return BIO_write(c->rbio, p, (int)n) == (int)n ? NP_IO_DONE : -ENOMEM;
}

/* A client whose TLS peer answered in cleartext HTTP gets its own code. */
static int fail_code(const np_conn *c) {
  if (c->is_client && c->nfirst >= 5 && memcmp(c->first_bytes, "HTTP/", 5) == 0)
    return NP_E_TLS_PLAINTEXT;
  return NP_E_TLS;
}

int np_conn_tls_handshake(np_conn *c) {
  for (;;) {
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
      if (tls_flush(c) < 0) return NP_E_TLS;
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
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      (void)tls_flush(c); /* try to deliver the alert */
      return fail_code(c);
    }
    if (tls_flush(c) < 0) return NP_E_TLS;
    int eof = 0;
    int rc = pull(c, &eof);
    if (rc < 0) return rc;
    if (rc == NP_IO_AGAIN) return NP_IO_AGAIN;
    if (eof) {
      c->peer_eof = 1;
      return NP_IO_AGAIN;
    }
  }
}

static int tls_read(np_conn *c, uint8_t *buf, size_t cap, size_t *ret_n) {
  *ret_n = 0;
  for (;;) {
    int r = SSL_read(c->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
    if (r > 0) {
      *ret_n = (size_t)r;
      return NP_IO_DONE;
    }
    int e = SSL_get_error(c->ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_ZERO_RETURN) return NP_IO_DONE; /* close_notify: EOF */
    if (e != SSL_ERROR_WANT_READ) return NP_E_TLS;
    /* Key updates and session tickets may want to answer. */
    if (tls_flush(c) < 0) return NP_E_TLS;
    if (c->no_pull) return NP_IO_AGAIN;
    int eof = 0;
    int rc = pull(c, &eof);
    if (rc != NP_IO_DONE || eof) return rc;
  }
}

/* Encrypts one record's worth (or up to TLS_CHUNK of one piece). Small
 * leading pieces (a frame header) share a record with what follows, so a
 * message costs no extra record. */
static int tls_write(np_conn *c, const struct iovec *iov, int n, size_t *ret_n) {
  *ret_n = 0;
  int rc = tls_flush(c);
  if (rc != NP_IO_DONE) return rc;
  for (int rounds = 0; rounds < 4; rounds++) {
    uint8_t rec[TLS_RECORD];
    size_t skip = *ret_n;
    int i = 0;
    while (i < n && skip >= iov[i].iov_len) skip -= iov[i++].iov_len;
    if (i == n) return NP_IO_DONE;
    const void *p = (const uint8_t *)iov[i].iov_base + skip;
    size_t k = iov[i].iov_len - skip;
    if (k < TLS_RECORD && i + 1 < n) {
      size_t used = 0;
      for (int j = i; j < n && used < sizeof rec; j++) {
        const uint8_t *src = (const uint8_t *)iov[j].iov_base + (j == i ? skip : 0);
        size_t len = iov[j].iov_len - (j == i ? skip : 0);
        if (len > sizeof rec - used) len = sizeof rec - used;
        memcpy(rec + used, src, len);
        used += len;
      }
      p = rec;
      k = used;
    }
    if (k > TLS_CHUNK) k = TLS_CHUNK;
    int w = SSL_write(c->ssl, p, (int)k);
    if (w <= 0) {
      ERR_clear_error();
      return NP_E_TLS;
    }
    *ret_n += (size_t)w;
    rc = tls_flush(c);
    if (rc != NP_IO_DONE) return rc;
  }
  return NP_IO_DONE;
}

static int tls_shutdown(np_conn *c) {
  if (SSL_is_init_finished(c->ssl)) {
    (void)SSL_shutdown(c->ssl);
    ERR_clear_error();
  }
  return tls_flush(c);
}

int np_conn_tls_buffered(const np_conn *c) {
  return c->ssl && (SSL_pending(c->ssl) > 0 || BIO_ctrl_pending(c->rbio) > 0);
}

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
