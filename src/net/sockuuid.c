/* M-Lab socket UUID prefix loading (file or "_unsafe" fallback) and format. */
#include "net/sockuuid.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/error.h"
#include "net/tcpinfo.h"

/* The UUID goes into spool file names, whose allowed set (pusher) is
 * [a-zA-Z0-9/:._-]; '/' is left out since a prefix is one path element. */
static int prefix_byte_ok(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

static int host_byte_ok(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-';
}

int np_uuid_prefix_fallback(const char *host, int64_t wall_sec, const char *uptime, char *out,
                            size_t cap) {
  if (!uptime) return NP_E_BADARG;
  const char *p = uptime;
  while (*p == ' ' || *p == '\t') p++;
  if (*p < '0' || *p > '9') return NP_E_BADARG;
  int64_t up = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (up > (INT64_MAX - 9) / 10) return NP_E_BADARG;
    up = up * 10 + (*p - '0');
  }
  /* The fraction is dropped: M-Lab only needs the value stable per boot. */
  if (*p != '.' && *p != ' ' && *p != '\n' && *p != '\0') return NP_E_BADARG;
  int64_t boot = wall_sec - up;

  char h[NP_UUID_PREFIX_MAX / 2 + 1];
  size_t hn = 0;
  if (host) {
    for (; host[hn] && hn < sizeof(h) - 1; hn++) {
      unsigned char c = (unsigned char)host[hn];
      h[hn] = host_byte_ok(c) ? (char)c : '-';
    }
  }
  h[hn] = '\0';
  const char *name = hn ? h : "localhost";
  /* Measure first so out stays untouched when it is too small. */
  int n = snprintf(NULL, 0, "%s_%" PRId64 "_unsafe", name, boot);
  if (n < 0 || (size_t)n >= cap) return -ENOSPC;
  (void)snprintf(out, cap, "%s_%" PRId64 "_unsafe", name, boot);
  return n;
}

/* What m-lab/uuid's fallback would call this machine: the pod name when
 * Kubernetes gives one, else the host name. */
static void local_name(char *out, size_t cap) {
  const char *pod = getenv("POD_NAME");
  out[0] = '\0';
  if (pod && pod[0]) {
    size_t n = strnlen(pod, cap - 1);
    memcpy(out, pod, n);
    out[n] = '\0';
    return;
  }
  if (gethostname(out, cap) != 0) out[0] = '\0';
  out[cap - 1] = '\0';
}

static int prefix_fallback(char *out, size_t cap) {
  char up[128];
  int fd = open("/proc/uptime", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n;
  do {
    n = read(fd, up, sizeof(up) - 1);
  } while (n < 0 && errno == EINTR);
  int err = errno;
  (void)close(fd);
  if (n < 0) return -err;
  up[n] = '\0';

  char host[256];
  local_name(host, sizeof(host));
  int64_t wall_sec = np_wall_ns() / (int64_t)NP_NS_PER_S;
  int rc = np_uuid_prefix_fallback(host, wall_sec, up, out, cap);
  return rc < 0 ? rc : 1;
}

int np_uuid_prefix_load(const char *prefix_file, char *out, size_t cap) {
  if (!out || cap == 0) return -ENOSPC;
  if (!prefix_file || !prefix_file[0]) return prefix_fallback(out, cap);

  /* O_NONBLOCK: a FIFO planted at the path must not hang startup. */
  int fd = open(prefix_file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return prefix_fallback(out, cap);
    return -errno;
  }
  /* One byte for a trailing newline and one more to detect "too long". */
  char buf[NP_UUID_PREFIX_MAX + 2];
  size_t len = 0;
  int rc = 0;
  while (len < sizeof(buf)) {
    ssize_t n = read(fd, buf + len, sizeof(buf) - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = -errno;
      break;
    }
    if (n == 0) break;
    len += (size_t)n;
  }
  (void)close(fd);
  if (rc < 0) return rc;

  if (len > 0 && buf[len - 1] == '\n') len--;
  if (len > NP_UUID_PREFIX_MAX) return NP_E_TOOBIG;
  if (len == 0) return NP_E_BADARG;
  for (size_t i = 0; i < len; i++)
    if (!prefix_byte_ok((unsigned char)buf[i])) return NP_E_BADARG;
  if (len >= cap) return -ENOSPC;
  memcpy(out, buf, len);
  out[len] = '\0';
  return 0;
}

int np_uuid_format(const char *prefix, uint64_t cookie, char *out, size_t cap) {
  int n = snprintf(NULL, 0, "%s_%016" PRIX64, prefix, cookie);
  if (n < 0 || (size_t)n >= cap) return -ENOSPC;
  (void)snprintf(out, cap, "%s_%016" PRIX64, prefix, cookie);
  return n;
}

int np_uuid_for_fd(const char *prefix, int fd, char *out, size_t cap) {
  uint64_t cookie;
  int rc = np_socket_cookie(fd, &cookie);
  if (rc < 0) return rc;
  return np_uuid_format(prefix, cookie, out, cap);
}
