/* bench/frame_floor: what receiving and discarding an upload costs at
 * best, by the size of the pieces it comes in. A child process sends a
 * stream of 16 KiB HTTP/2 DATA frames (9-byte header + 16,384 bytes) over
 * loopback as fast as it can; the parent receives for SECONDS with plain
 * blocking calls (no event loop, no HTTP/2 library) and prints its own CPU
 * seconds per GB:
 *
 *   frame_floor SECONDS trunc1m   recv(MSG_TRUNC) of 1 MiB per call, framing
 *                                 ignored: ndt7's upload path (1 MiB messages)
 *   frame_floor SECONDS frames    per frame: recv of its header, then
 *                                 recv(MSG_TRUNC) of its payload
 *   frame_floor SECONDS copy64k   recv of 64 KiB into a buffer, headers
 *                                 found in user space
 *
 * One JSON line on stdout. bench/rpm_bench.py builds and runs it (--floor). */
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FRAME 16384
#define HDR 9
#define BURST 64 /* frames per send */

static double cpu_s(void) {
  struct rusage u;
  (void)getrusage(RUSAGE_SELF, &u);
  return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static double mono_s(void) {
  struct timespec t;
  (void)clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sender(const struct sockaddr_in *a) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0 || connect(s, (const struct sockaddr *)a, sizeof *a) < 0) _exit(1);
  size_t n = BURST * (size_t)(FRAME + HDR);
  uint8_t *b = calloc(1, n);
  if (!b) _exit(1);
  for (int i = 0; i < BURST; i++) {
    uint8_t *h = b + (size_t)i * (FRAME + HDR);
    h[0] = FRAME >> 16;
    h[1] = (FRAME >> 8) & 0xff;
    h[2] = FRAME & 0xff;
    h[8] = 1; /* DATA on stream 1 */
  }
  for (;;)
    if (send(s, b, n, MSG_NOSIGNAL) < 0) _exit(0);
}

/* One step of the receiver; returns the bytes taken, 0 at the end. */
static size_t step(int s, const char *mode, uint8_t *buf, size_t *have, size_t *left) {
  if (strcmp(mode, "trunc1m") == 0) {
    ssize_t r = recv(s, NULL, 1u << 20, MSG_TRUNC);
    return r > 0 ? (size_t)r : 0;
  }
  if (strcmp(mode, "frames") == 0) {
    uint8_t h[HDR];
    if (recv(s, h, HDR, MSG_WAITALL) != HDR) return 0;
    size_t len = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
    for (size_t k = 0; k < len;) {
      ssize_t r = recv(s, NULL, len - k, MSG_TRUNC);
      if (r <= 0) return 0;
      k += (size_t)r;
    }
    return HDR + len;
  }
  ssize_t r = recv(s, buf, 65536, 0);
  if (r <= 0) return 0;
  for (size_t off = 0; off < (size_t)r;) {
    size_t rest = (size_t)r - off;
    if (*left) {
      size_t k = *left < rest ? *left : rest;
      *left -= k;
      off += k;
      continue;
    }
    size_t k = HDR - *have < rest ? HDR - *have : rest;
    *have += k;
    off += k;
    if (*have == HDR) {
      *have = 0;
      *left = FRAME;
    }
  }
  return (size_t)r;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: frame_floor SECONDS trunc1m|frames|copy64k\n");
    return 2;
  }
  double secs = strtod(argv[1], NULL);
  const char *mode = argv[2];
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 1) < 0 ||
      getsockname(ls, (struct sockaddr *)&a, &al) < 0)
    return 1;
  pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) sender(&a);
  int s = accept(ls, NULL, NULL);
  uint8_t *buf = malloc(65536);
  if (s < 0 || !buf) return 1;
  uint64_t got = 0;
  size_t have = 0, left = 0;
  double t0 = mono_s(), c0 = cpu_s();
  while (mono_s() - t0 < secs) {
    size_t n = step(s, mode, buf, &have, &left);
    if (n == 0) break;
    got += n;
  }
  double c = cpu_s() - c0, w = mono_s() - t0;
  (void)kill(pid, SIGKILL);
  (void)waitpid(pid, NULL, 0);
  printf("{\"mode\":\"%s\",\"bytes\":%llu,\"seconds\":%.3f,\"cpu_s\":%.3f}\n", mode,
         (unsigned long long)got, w, c);
  return got > 0 ? 0 : 1;
}
