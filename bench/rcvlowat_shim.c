/* Experiment only, not built by default: an LD_PRELOAD shim for
 * netpulse-server that tests two upload data-path changes without editing
 * src/ (see bench/README.md, "Why ws upload misses 0.5x").
 *   NB_LOWAT=N  once a socket is drained with recv(MSG_TRUNC), set
 *               SO_RCVLOWAT=N so epoll wakes only when N bytes are queued.
 *   NB_HDRCAP=1 after a MSG_TRUNC recv, cap the next ordinary recv to 14
 *               bytes (one WebSocket frame header), so no payload is copied
 *               to user space and unmasked.
 * cc -O2 -shared -fPIC -o rcvlowat.so bench/rcvlowat_shim.c -ldl
 * LD_PRELOAD=./rcvlowat.so NB_LOWAT=1048576 NB_HDRCAP=1 netpulse-server ... */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>

static char state[65536]; /* bit0: lowat set, bit1: last recv was TRUNC */

ssize_t recv(int fd, void *buf, size_t len, int flags) {
  static ssize_t (*real)(int, void *, size_t, int);
  static int lowat = -1, hdrcap = 0;
  if (!real) {
    real = (ssize_t(*)(int, void *, size_t, int))dlsym(RTLD_NEXT, "recv");
    const char *e = getenv("NB_LOWAT");
    lowat = e ? atoi(e) : 0;
    e = getenv("NB_HDRCAP");
    hdrcap = e && *e == '1';
  }
  if (fd < 0 || fd >= (int)sizeof state) return real(fd, buf, len, flags);
  if (flags & MSG_TRUNC) {
    if (lowat > 0 && !(state[fd] & 1)) {
      (void)setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat);
      state[fd] |= 1;
    }
    ssize_t n = real(fd, buf, len, flags);
    if (n > 0 && (size_t)n == len) state[fd] |= 2;
    return n;
  }
  if (hdrcap && (state[fd] & 2) && len > 14) len = 14;
  state[fd] &= ~2;
  ssize_t n = real(fd, buf, len, flags);
  if (n == 0) state[fd] = 0;
  return n;
}

int accept4(int fd, struct sockaddr *a, socklen_t *l, int fl) {
  static int (*real)(int, struct sockaddr *, socklen_t *, int);
  if (!real) real = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
  int s = real(fd, a, l, fl);
  if (s >= 0 && s < (int)sizeof state) state[s] = 0;
  return s;
}
