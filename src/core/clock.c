/* Clock reads and the timestamp formats M-Lab's data uses. */
#include "core/clock.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

uint64_t np_mono_ns(void) {
  struct timespec ts;
  (void)clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * NP_NS_PER_S + (uint64_t)ts.tv_nsec;
}

int64_t np_wall_ns(void) {
  struct timespec ts;
  (void)clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * (int64_t)NP_NS_PER_S + ts.tv_nsec;
}

static int split(int64_t wall_ns, struct tm *tm, long *frac) {
  time_t sec = (time_t)(wall_ns / (int64_t)NP_NS_PER_S);
  long ns = (long)(wall_ns % (int64_t)NP_NS_PER_S);
  if (ns < 0) {
    ns += (long)NP_NS_PER_S;
    sec -= 1;
  }
  if (!gmtime_r(&sec, tm)) return -EINVAL;
  *frac = ns;
  return 0;
}

int np_format_rfc3339nano(int64_t wall_ns, char *out, size_t n) {
  struct tm tm;
  long ns;
  if (split(wall_ns, &tm, &ns) < 0) return -EINVAL;
  char frac[16] = "";
  if (ns) {
    (void)snprintf(frac, sizeof frac, ".%09ld", ns);
    size_t k = 10;
    while (k > 1 && frac[k - 1] == '0') frac[--k] = 0;
  }
  int w = snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return (w < 0 || (size_t)w >= n) ? -ENOSPC : w;
}

int np_format_filestamp(int64_t wall_ns, char *out, size_t n) {
  struct tm tm;
  long ns;
  if (split(wall_ns, &tm, &ns) < 0) return -EINVAL;
  int w = snprintf(out, n, "%04d%02d%02dT%02d%02d%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ns);
  return (w < 0 || (size_t)w >= n) ? -ENOSPC : w;
}
