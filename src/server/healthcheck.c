/* `netpulse-server healthcheck`: a tiny blocking HTTP/1.1 GET for exec
 * liveness probes and Docker HEALTHCHECK, so images need no curl. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/flags.h"
#include "http/url.h"
#include "server/server.h"

#define TIMEOUT_MS 3000

static const char *g_url;

static const np_flag kHcFlags[] = {
    {"url", 0, NP_FLAG_STRING, &g_url, "URL",
     "health URL to probe (http:// only; default: http://<--health-addr>/health)", NULL, 0, 0, 1},
};

static int fail(const char *what, const char *detail) {
  printf("unhealthy: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  return 1;
}

static long long ms_left(const struct timespec *deadline) {
  struct timespec now;
  (void)clock_gettime(CLOCK_MONOTONIC, &now);
  return (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
         (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

int np_healthcheck_main(int argc, char **argv, const char *health_addr) {
  char err[256] = "", def[300];
  int first = 0;
  /* A server that resets the connection, or a probe runner that closed our
   * stdout, must give exit status 1, not death by SIGPIPE. */
  (void)signal(SIGPIPE, SIG_IGN);
  int rc = np_flags_parse(kHcFlags, 1, argc, argv, "NETPULSE_", &first, err, sizeof err);
  if (rc == 1) {
    printf("Usage: netpulse-server healthcheck [--url URL]\n\nFlags:\n");
    np_flags_usage(stdout, kHcFlags, 1, "NETPULSE_");
    return 0;
  }
  if (rc < 0 || first < argc) {
    fprintf(stderr, "netpulse-server healthcheck: %s\n",
            rc < 0 ? err : "unexpected argument (see --help)");
    return 2;
  }
  if (!g_url) {
    const char *a = health_addr && *health_addr ? health_addr : "127.0.0.1:8000";
    /* A wildcard listen address is probed on loopback. */
    if (a[0] == ':')
      (void)snprintf(def, sizeof def, "http://127.0.0.1%s/health", a);
    else if (strncmp(a, "0.0.0.0:", 8) == 0)
      (void)snprintf(def, sizeof def, "http://127.0.0.1%s/health", a + 7);
    else if (strncmp(a, "[::]:", 5) == 0)
      (void)snprintf(def, sizeof def, "http://[::1]%s/health", a + 4);
    else
      (void)snprintf(def, sizeof def, "http://%s/health", a);
    g_url = def;
  }
  np_url u;
  char port[8];
  if (np_url_parse(g_url, &u) < 0 || strcmp(u.scheme, "http") != 0) {
    fprintf(stderr, "netpulse-server healthcheck: invalid --url \"%s\"\n", g_url);
    return 2;
  }
  (void)snprintf(port, sizeof port, "%d", u.port);
  struct timespec deadline;
  (void)clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += TIMEOUT_MS / 1000;
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
  struct addrinfo *ai = NULL;
  if (getaddrinfo(u.host, port, &hints, &ai) != 0 || !ai) return fail("cannot resolve", u.host);
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    freeaddrinfo(ai);
    return fail("socket", strerror(errno));
  }
  rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
  freeaddrinfo(ai);
  if (rc < 0 && errno != EINPROGRESS) {
    (void)close(fd);
    return fail("connect", strerror(errno));
  }
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  int soerr = 0;
  socklen_t sl = sizeof soerr;
  if (poll(&p, 1, (int)ms_left(&deadline)) != 1 ||
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
    (void)close(fd);
    return fail("connect", soerr ? strerror(soerr) : "timeout");
  }
  char req[NP_URL_MAX + 512];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                   u.target, u.host_header);
  if (n < 0 || (size_t)n >= sizeof req || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
    (void)close(fd);
    return fail("cannot send the request", NULL);
  }
  char resp[1024];
  size_t got = 0;
  while (got < sizeof resp - 1) {
    long long left = ms_left(&deadline);
    p.events = POLLIN;
    if (left <= 0 || poll(&p, 1, (int)left) != 1) break;
    ssize_t r = read(fd, resp + got, sizeof resp - 1 - got);
    if (r <= 0) break;
    got += (size_t)r;
    if (memchr(resp, '\n', got)) break;
  }
  (void)close(fd);
  resp[got] = 0;
  int status = 0;
  if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
    return fail(got ? "not an HTTP answer" : "no answer", NULL);
  if (status == 503) {
    /* Alive, refusing tests until its spool can be written again: a
     * restart would not fix the disk and would drop the files it holds. */
    printf("alive, refusing tests (503: spool unwritable)\n");
    return 0;
  }
  if (status != 200) {
    char st[16];
    (void)snprintf(st, sizeof st, "%d", status);
    return fail("status", st);
  }
  printf("healthy\n");
  return 0;
}
