/* bench/tcp_floor: the floor netpulse's write path is measured against. A
 * plain blocking TCP sender/receiver moving 1 MiB per call over loopback,
 * and the same through OpenSSL on the socket (SSL_write/SSL_read of 1 MiB,
 * with netpulse's own TLS context, so the same protocol version and cipher
 * as netpulse-server negotiates). No event loop, no framing, no queue:
 * what is left is the kernel's and the cipher's cost per byte.
 *
 *   tcp_floor serve PLAIN_PORT TLS_PORT
 *       listens on 127.0.0.1 (0 = any free port), prints one line
 *       "ready plain=P tls=Q", then serves one connection at a time.
 *   tcp_floor run PORT plain|tls send|recv SECONDS
 *       one test: "send" = the server sends (like an ndt7 download),
 *       "recv" = the server receives (upload). Prints one JSON line.
 *
 * Cleartext receivers drop the payload in the kernel (recv(MSG_TRUNC)) and
 * ask to be woken per 1 MiB (SO_RCVLOWAT), as netpulse's do during a bulk
 * message, so the floor sender meets the same kind of receiver. The client says which with one byte
 * after connecting (and after the TLS handshake). A sending server writes until the client goes
 * away; a receiving client writes for SECONDS, ends its stream and waits for the server's close, so
 * every byte it counts was read by the server. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/rand.h"
#include "net/tls.h"

#define CHUNK (1 << 20)

static uint8_t g_buf[CHUNK];

static double now_s(void) {
  struct timespec ts;
  (void)clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int listen_on(int port, int *ret_port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
    perror("tcp_floor: listen");
    exit(1);
  }
  *ret_port = ntohs(a.sin_port);
  return fd;
}

/* A cleartext receiver wakes per 1 MiB, as netpulse's does mid-message. */
static void bulk_receiver(int fd) {
  int lowat = CHUNK;
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat);
}

/* One read or write of up to n bytes through TLS or the plain socket. */
static long io(SSL *ssl, int fd, int writing, uint8_t *p, size_t n) {
  if (ssl) {
    int r = writing ? SSL_write(ssl, p, (int)n) : SSL_read(ssl, p, (int)n);
    if (r <= 0) ERR_clear_error();
    return r;
  }
  ssize_t r = writing ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, NULL, n, MSG_TRUNC);
  return r < 0 && errno == EINTR ? io(ssl, fd, writing, p, n) : (long)r;
}

static void serve_one(int fd, SSL_CTX *ctx) {
  SSL *ssl = NULL;
  if (ctx) {
    ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1) {
      ERR_clear_error();
      goto out;
    }
  }
  uint8_t cmd = 0;
  if ((ssl ? SSL_read(ssl, &cmd, 1) : recv(fd, &cmd, 1, 0)) != 1) goto out;
  if (cmd == 'S') {
    while (io(ssl, fd, 1, g_buf, CHUNK) > 0) {
    }
  } else if (cmd == 'R') {
    if (!ssl) bulk_receiver(fd);
    while (io(ssl, fd, 0, g_buf, CHUNK) > 0) {
    }
  }
out:
  if (ssl) SSL_free(ssl);
  (void)close(fd);
}

static int serve(int plain_port, int tls_port) {
  np_tls_ctx *tls = NULL;
  np_tls_server_opts so = {.self_signed = 1};
  char err[200];
  if (np_tls_server_new(&so, &tls, err, sizeof err) < 0) {
    fprintf(stderr, "tcp_floor: TLS: %s\n", err);
    return 1;
  }
  int pp, tp;
  struct pollfd pf[2] = {{.fd = listen_on(plain_port, &pp), .events = POLLIN},
                         {.fd = listen_on(tls_port, &tp), .events = POLLIN}};
  printf("ready plain=%d tls=%d\n", pp, tp);
  (void)fflush(stdout);
  for (;;) {
    if (poll(pf, 2, -1) < 0) continue;
    for (int i = 0; i < 2; i++) {
      if (!(pf[i].revents & POLLIN)) continue;
      int fd = accept(pf[i].fd, NULL, NULL);
      if (fd >= 0) serve_one(fd, i ? np_tls_ctx_ssl_ctx(tls) : NULL);
    }
  }
}

static int run(int port, int use_tls, int server_sends, double seconds) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    perror("tcp_floor: connect");
    return 1;
  }
  SSL_CTX *ctx = NULL;
  SSL *ssl = NULL;
  if (use_tls) {
    ctx = SSL_CTX_new(TLS_client_method());
    ssl = ctx ? SSL_new(ctx) : NULL;
    if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1) {
      fprintf(stderr, "tcp_floor: TLS handshake failed\n");
      return 1;
    }
  }
  uint8_t cmd = server_sends ? 'S' : 'R';
  if (io(ssl, fd, 1, &cmd, 1) != 1) return 1;
  if (!ssl && server_sends) bulk_receiver(fd);
  uint64_t bytes = 0;
  double t0 = now_s(), end = t0 + seconds;
  long r = 1;
  while (r > 0 && now_s() < end) {
    r = io(ssl, fd, !server_sends, g_buf, CHUNK);
    if (r > 0) bytes += (uint64_t)r;
  }
  if (!server_sends) {
    /* End our stream and wait for the server's close: it has read all. */
    if (ssl) (void)SSL_shutdown(ssl);
    (void)shutdown(fd, SHUT_WR);
    while (recv(fd, g_buf, CHUNK, 0) > 0) {
    }
  }
  double secs = now_s() - t0;
  struct rusage ru;
  (void)getrusage(RUSAGE_SELF, &ru);
  double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  printf("{\"ok\":true,\"bytes\":%llu,\"seconds\":%.3f,\"gbps\":%.3f,\"client_cpu_s\":%.3f,"
         "\"tls\":\"%s\",\"cipher\":\"%s\"}\n",
         (unsigned long long)bytes, secs, secs > 0 ? 8.0 * (double)bytes / secs / 1e9 : 0.0, cpu,
         ssl ? SSL_get_version(ssl) : "", ssl ? SSL_get_cipher_name(ssl) : "");
  if (ssl) SSL_free(ssl);
  SSL_CTX_free(ctx);
  (void)close(fd);
  return 0;
}

int main(int argc, char **argv) {
  (void)signal(SIGPIPE, SIG_IGN);
  (void)np_random_bytes(g_buf, sizeof g_buf);
  if (argc == 4 && strcmp(argv[1], "serve") == 0)
    return serve((int)strtol(argv[2], NULL, 10), (int)strtol(argv[3], NULL, 10));
  if (argc == 6 && strcmp(argv[1], "run") == 0)
    return run((int)strtol(argv[2], NULL, 10), strcmp(argv[3], "tls") == 0,
               strcmp(argv[4], "send") == 0, strtod(argv[5], NULL));
  fprintf(stderr, "usage: tcp_floor serve PLAIN_PORT TLS_PORT\n"
                  "       tcp_floor run PORT plain|tls send|recv SECONDS\n");
  return 2;
}
