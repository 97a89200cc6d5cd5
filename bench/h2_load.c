/* bench/h2_load: one HTTP/2 load flow through netpulse's own HTTP/2 client
 * code (src/h2/client.c, what `netpulse rpm` drives), so the server's cost
 * per GB is measured against a peer that, like ndt7's driver, sends and
 * accepts large pieces (frames up to what the server allows), not curl's
 * 16 KiB frames. One connection, one stream, a fixed duration:
 *
 *   h2_load HOST:PORT tls|plain download|upload AUTHORITY PATH SECONDS [copy]
 *
 * download GETs PATH and counts the body; upload POSTs an endless body cut
 * from a 1 MiB payload. Blocking sockets and OpenSSL, no event loop: only
 * the server's CPU is measured. One JSON line on stdout. Not installed;
 * bench/rpm_bench.py builds it against libnetpulse.a.
 *
 * A cleartext download receives the way ndt7's driver (netpulse's ndt7
 * client) does, so the two servers meet the same kind of receiver: DATA
 * payload is dropped in the kernel (recv(MSG_TRUNC)), woken per up to
 * 1 MiB (SO_RCVLOWAT), and nghttp2 gets as many zero bytes in its place.
 * On loopback part of the receiver's work runs in the sender's context, so
 * a receiver copying every byte makes the server's CPU per GB dearer
 * (bench/README.md); "copy" keeps that receiver for comparison. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "h2/client.h"
#include "h2/server_scan.h"

#define PAYLOAD (1u << 20)
#define WINDOW (16u << 20) /* like the server's receive window */

typedef struct {
  int fd;
  SSL *ssl;
  int status;
  int closed;
  uint32_t close_error;
} load;

static double mono_s(void) {
  struct timespec t;
  (void)clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct rusage u;
  (void)getrusage(RUSAGE_SELF, &u);
  return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static int write_all(load *l, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t k;
    if (l->ssl) {
      int r = SSL_write(l->ssl, p, n > (1u << 30) ? 1 << 30 : (int)n);
      k = r > 0 ? r : -1;
    } else {
      k = send(l->fd, p, n, MSG_NOSIGNAL);
      if (k < 0 && errno == EINTR) continue;
    }
    if (k <= 0) return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

static int on_write(void *ud, const uint8_t *copy, size_t ncopy, const uint8_t *ref, size_t nref) {
  load *l = ud;
  if (!l->ssl && ncopy && nref) {
    /* Frame header and payload in one call, as the server's writev does. */
    struct iovec iov[2] = {{(void *)copy, ncopy}, {(void *)ref, nref}};
    ssize_t k = writev(l->fd, iov, 2);
    if (k < 0) return -1;
    if ((size_t)k < ncopy)
      return write_all(l, copy + k, ncopy - (size_t)k) < 0 ? -1 : write_all(l, ref, nref);
    return write_all(l, ref + ((size_t)k - ncopy), nref - ((size_t)k - ncopy));
  }
  if (write_all(l, copy, ncopy) < 0) return -1;
  return write_all(l, ref, nref);
}

static void on_response(void *ud, int32_t id, int status, int retry_after, void *sud) {
  load *l = ud;
  (void)id;
  (void)retry_after;
  (void)sud;
  l->status = status;
}

static void on_close(void *ud, int32_t id, uint32_t error_code, void *sud) {
  load *l = ud;
  (void)id;
  (void)sud;
  l->closed = 1;
  l->close_error = error_code;
}

static int dial(const char *hostport) {
  char host[64];
  const char *colon = strrchr(hostport, ':');
  if (!colon || (size_t)(colon - hostport) >= sizeof host) return -1;
  memcpy(host, hostport, (size_t)(colon - hostport));
  host[colon - hostport] = 0;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) return -1;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) return -1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static SSL *tls_open(int fd) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return NULL;
  static const unsigned char alpn[] = "\x02h2";
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* a self-signed loopback server */
  (void)SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
  SSL *ssl = SSL_new(ctx);
  SSL_CTX_free(ctx); /* the SSL holds its own reference */
  if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1) return NULL;
  const unsigned char *got = NULL;
  unsigned int glen = 0;
  SSL_get0_alpn_selected(ssl, &got, &glen);
  return glen == 2 && memcmp(got, "h2", 2) == 0 ? ssl : NULL;
}

/* The discarding receiver (see the top of the file). */
#define SKIP_MIN 8192         /* smaller payloads are read with the next header */
#define LOWAT_MAX (1 << 20)   /* wake per up to this much payload */
#define LOWAT_MIN (64 * 1024) /* below it, per segment */

typedef struct {
  int discard;
  np_h2_scan scan; /* where the server's bytes are, frame-wise */
  int lowat;       /* SO_RCVLOWAT now */
  size_t hint;     /* read at most this much next (0: a full buffer) */
} rx;

static void set_lowat(rx *r, int fd, uint32_t skip) {
  int want = skip >= LOWAT_MAX ? LOWAT_MAX : (int)skip;
  if (want < LOWAT_MIN) want = 1;
  if (want != r->lowat && setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof want) == 0)
    r->lowat = want;
}

/* Drops up to n payload bytes in the kernel and hands nghttp2 as many
 * zeros. 0, -1 (closed) or -2 (nghttp2 failed). */
static int drop(rx *r, np_h2c *h, int fd, uint32_t n) {
  static uint8_t zeros[1u << 20]; /* never written: the zero page */
  ssize_t k = recv(fd, NULL, n, MSG_TRUNC | MSG_DONTWAIT);
  if (k < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  if (k <= 0) return -1;
  np_h2_scan_feed(&r->scan, NULL, (size_t)k);
  for (size_t left = (size_t)k; left > 0;) {
    size_t m = left < sizeof zeros ? left : sizeof zeros;
    if (np_h2c_recv(h, zeros, m) < 0) return -2;
    left -= m;
  }
  r->hint = 9;
  return 0;
}

static int fail(const char *what) {
  printf("{\"ok\":false,\"error\":\"%s\"}\n", what);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 7 && !(argc == 8 && strcmp(argv[7], "copy") == 0)) {
    fprintf(stderr,
            "usage: h2_load HOST:PORT tls|plain download|upload AUTHORITY PATH SECONDS [copy]\n");
    return 2;
  }
  int tls = strcmp(argv[2], "tls") == 0;
  int upload = strcmp(argv[3], "upload") == 0;
  double seconds = atof(argv[6]);
  load l = {.fd = dial(argv[1])};
  if (l.fd < 0) return fail("connect");
  if (tls && !(l.ssl = tls_open(l.fd))) return fail("tls");
  uint8_t *payload = malloc(PAYLOAD);
  if (!payload) return fail("memory");
  for (size_t i = 0; i < PAYLOAD; i++) payload[i] = (uint8_t)(i * 2654435761u >> 24);
  static const np_h2c_callbacks cb = {
      .write = on_write, .on_response = on_response, .on_close = on_close};
  np_h2c *h = NULL;
  if (np_h2c_new(&h, &cb, &l, np_slice_make(payload, PAYLOAD), WINDOW) < 0) return fail("h2c");
  int32_t id = np_h2c_request(h, upload ? "POST" : "GET", tls ? "https" : "http", argv[4], argv[5],
                              NULL, 0, upload, NULL);
  if (id < 0) return fail("request");
  double c0 = cpu_s(), t0 = mono_s(), end = t0 + seconds;
  static uint8_t buf[256u << 10];
  rx r = {.discard = !tls && !upload && argc == 7, .lowat = 1};
  np_h2_scan_init(&r.scan);
  r.scan.preface = 0; /* a client receives no connection preface */
  while (mono_s() < end && !l.closed) {
    if (np_h2c_want_write(h) && np_h2c_flush(h, 4u << 20) < 0) return fail("write");
    int32_t sid = 0;
    uint32_t left = r.discard ? np_h2_scan_skippable(&r.scan, &sid) : 0;
    uint32_t skip = left >= SKIP_MIN ? left : 0;
    set_lowat(&r, l.fd, skip);
    int pending = l.ssl && SSL_pending(l.ssl) > 0;
    struct pollfd p = {.fd = l.fd, .events = POLLIN};
    if (!pending && poll(&p, 1, np_h2c_want_write(h) ? 0 : 50) <= 0) continue;
    if (skip) {
      int rc = drop(&r, h, l.fd, skip);
      if (rc == 0) continue;
      return fail(rc == -1 ? "peer closed" : "protocol");
    }
    /* After a drop only the next frame header (with what is left of a
     * payload too small to drop), as ndt7's driver reads. */
    size_t room = r.hint ? r.hint + left : sizeof buf;
    ssize_t n = l.ssl ? SSL_read(l.ssl, buf, sizeof buf) : recv(l.fd, buf, room, 0);
    if (n <= 0) return fail("peer closed");
    r.hint = 0;
    if (r.discard) np_h2_scan_feed(&r.scan, buf, (size_t)n);
    if (np_h2c_recv(h, buf, (size_t)n) < 0) return fail("protocol");
  }
  double wall = mono_s() - t0;
  /* An upload's response may only come when its body ends. */
  if (upload ? l.status != 0 && l.status != 200 : l.status != 200) return fail("status");
  if (l.closed && l.close_error) return fail("stream reset");
  unsigned long long bytes = upload ? np_h2c_body_sent(h) : np_h2c_body_received(h);
  printf("{\"ok\":true,\"bytes\":%llu,\"seconds\":%.6f,\"client_cpu_s\":%.3f}\n", bytes, wall,
         cpu_s() - c0);
  return 0; /* the exit closes the connection, as a client that stops does */
}
