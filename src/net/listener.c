/* Listening sockets watched by uv_poll; accept4 in a bounded loop. */
#include "net/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

#define ACCEPTS_PER_EVENT 64

struct np_listener {
  uv_poll_t poll;
  int fd;
  int port;
  int paused;
  np_accept_cb cb;
  void *ud;
};

static int parse_port(const char *s, int *ret) {
  if (!*s) return NP_E_BADARG;
  long v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return NP_E_BADARG;
    v = v * 10 + (*p - '0');
    if (v > 65535) return NP_E_BADARG;
  }
  *ret = (int)v;
  return 0;
}

int np_addr_parse(const char *s, struct sockaddr_storage *ret_addr, socklen_t *ret_len) {
  char host[128];
  const char *colon;
  if (!s) return NP_E_BADARG;
  if (s[0] == '[') {
    const char *end = strchr(s, ']');
    if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof host) return NP_E_BADARG;
    memcpy(host, s + 1, (size_t)(end - s - 1));
    host[end - s - 1] = 0;
    colon = end + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host) return NP_E_BADARG;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    if (strchr(host, ':')) return NP_E_BADARG; /* bare IPv6 needs brackets */
  }
  int port;
  if (parse_port(colon + 1, &port) < 0) return NP_E_BADARG;
  memset(ret_addr, 0, sizeof *ret_addr);
  if (host[0] == 0 || strcmp(host, "::") == 0) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ret_addr;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_any;
    a->sin6_port = htons((uint16_t)port);
    *ret_len = sizeof *a;
    return 0;
  }
  if (strcmp(host, "localhost") == 0) {
    memcpy(host, "127.0.0.1", 10);
  }
  struct sockaddr_in *a4 = (struct sockaddr_in *)ret_addr;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ret_addr;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *ret_len = sizeof *a4;
    return 0;
  }
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    *ret_len = sizeof *a6;
    return 0;
  }
  return NP_E_BADARG;
}

int np_addr_format(const struct sockaddr *addr, char *out, size_t cap) {
  char ip[INET6_ADDRSTRLEN];
  int w;
  if (addr->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
    if (!inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip)) return -errno;
    w = snprintf(out, cap, "[%s]:%d", ip, ntohs(a->sin6_port));
  } else if (addr->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
    if (!inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip)) return -errno;
    w = snprintf(out, cap, "%s:%d", ip, ntohs(a->sin_port));
  } else {
    return -EAFNOSUPPORT;
  }
  return (w < 0 || (size_t)w >= cap) ? -ENOSPC : w;
}

static void on_listen_poll(uv_poll_t *h, int status, int events) {
  np_listener *l = h->data;
  if (status < 0 || !(events & UV_READABLE)) return;
  for (int i = 0; i < ACCEPTS_PER_EVENT && !l->paused; i++) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      l->cb(l, l->ud, fd);
      continue;
    }
    int e = errno;
    if (e == EINTR || e == ECONNABORTED || e == EPROTO || e == EPERM) continue;
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
      /* The connection stays in the backlog and the poll is level
       * triggered: without a pause it would fire again at once, forever.
       * The owner resumes us when it has room again. */
      np_listener_pause(l);
      l->cb(l, l->ud, -e);
    }
    return; /* EAGAIN: the backlog is empty */
  }
}

void np_listener_pause(np_listener *l) {
  if (!l || l->paused) return;
  l->paused = 1;
  (void)uv_poll_stop(&l->poll);
}

int np_listener_resume(np_listener *l) {
  if (!l || !l->paused) return 0;
  int rc = uv_poll_start(&l->poll, UV_READABLE, on_listen_poll);
  if (rc == 0) l->paused = 0;
  return rc;
}

int np_listener_paused(const np_listener *l) { return l && l->paused; }

int np_listener_open(uv_loop_t *loop, const char *addr, np_accept_cb cb, void *ud,
                     np_listener **ret_l) {
  struct sockaddr_storage ss;
  socklen_t len;
  int rc = np_addr_parse(addr, &ss, &len);
  if (rc < 0) return rc;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1, zero = 0;
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ss.ss_family == AF_INET6) (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 512) < 0) {
    rc = -errno;
    close(fd);
    return rc;
  }
  np_listener *l = calloc(1, sizeof *l);
  if (!l) {
    close(fd);
    return -ENOMEM;
  }
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0)
    l->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
  l->fd = fd;
  l->cb = cb;
  l->ud = ud;
  rc = uv_poll_init_socket(loop, &l->poll, fd);
  if (rc == 0) {
    l->poll.data = l;
    rc = uv_poll_start(&l->poll, UV_READABLE, on_listen_poll);
    if (rc < 0) uv_close((uv_handle_t *)&l->poll, (uv_close_cb)free);
  } else {
    free(l);
  }
  if (rc < 0) {
    close(fd);
    return rc;
  }
  *ret_l = l;
  return 0;
}

int np_listener_port(const np_listener *l) { return l->port; }

void np_listener_close(np_listener *l) {
  if (!l) return;
  (void)uv_poll_stop(&l->poll);
  (void)close(l->fd);
  uv_close((uv_handle_t *)&l->poll, (uv_close_cb)free);
}
