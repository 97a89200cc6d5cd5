/* Reads /proc/self for the process_* metrics; the only file I/O in ops. */
#include "ops/procstat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/error.h"
#include "ops/prom.h"

/* Reads a small /proc file whole; returns its length or a negative errno. */
static ssize_t read_small(const char *path, char *buf, size_t n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t len = 0;
  while (len + 1 < n) {
    ssize_t r = read(fd, buf + len, n - 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = -errno;
      close(fd);
      return e;
    }
    if (r == 0) break;
    len += (size_t)r;
  }
  close(fd);
  buf[len] = '\0';
  return (ssize_t)len;
}

/* Decimal unsigned field; advances *p past it and one separator. */
static int next_u64(const char **p, const char *end, uint64_t *ret) {
  const char *s = *p;
  while (s < end && *s == ' ') s++;
  if (s < end && *s == '-') { /* signed fields we skip may be negative */
    s++;
  }
  if (s >= end || *s < '0' || *s > '9') return NP_E_PROTO;
  uint64_t v = 0;
  while (s < end && *s >= '0' && *s <= '9') {
    if (v > (UINT64_MAX - 9) / 10) return NP_E_PROTO;
    v = v * 10 + (uint64_t)(*s - '0');
    s++;
  }
  *p = s;
  *ret = v;
  return 0;
}

int np_procstat_parse_stat(const char *text, size_t len, long clk_tck, uint64_t boot_time,
                           np_procstat *ret) {
  if (!text || clk_tck <= 0) return NP_E_BADARG;
  /* comm may contain ") " itself, so the fields start after the LAST ')'. */
  const char *end = text + len;
  const char *rp = NULL;
  for (const char *p = text; p < end; p++)
    if (*p == ')') rp = p;
  if (!rp || rp + 2 >= end) return NP_E_PROTO;
  const char *p = rp + 2;
  /* Field 3 is the one-letter state; skip it. */
  while (p < end && *p != ' ') p++;
  uint64_t f[24] = {0};
  for (int i = 4; i <= 23; i++) {
    int rc = next_u64(&p, end, &f[i]);
    if (rc < 0) return rc;
  }
  double tck = (double)clk_tck;
  ret->cpu_seconds = (double)(f[14] + f[15]) / tck;
  ret->start_time_seconds = (double)boot_time + (double)f[22] / tck;
  ret->virtual_bytes = f[23];
  return 0;
}

static uint64_t boot_time(void) {
  char buf[8192];
  if (read_small("/proc/stat", buf, sizeof buf) < 0) return 0;
  const char *p = strstr(buf, "\nbtime ");
  if (!p) return 0;
  p += 7;
  uint64_t v = 0;
  if (next_u64(&p, p + strlen(p), &v) < 0) return 0;
  return v;
}

static uint64_t count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return 0;
  uint64_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n ? n - 1 : 0; /* the directory stream's own fd */
}

int np_procstat_read(np_procstat *ret) {
  char buf[1024];
  np_procstat st = {0};
  ssize_t n = read_small("/proc/self/stat", buf, sizeof buf);
  if (n < 0) return (int)n;
  int rc = np_procstat_parse_stat(buf, (size_t)n, sysconf(_SC_CLK_TCK), boot_time(), &st);
  if (rc < 0) return rc;
  n = read_small("/proc/self/statm", buf, sizeof buf);
  if (n > 0) {
    const char *p = buf;
    uint64_t size = 0, resident = 0;
    if (next_u64(&p, buf + n, &size) == 0 && next_u64(&p, buf + n, &resident) == 0)
      st.resident_bytes = resident * (uint64_t)sysconf(_SC_PAGESIZE);
  }
  st.open_fds = count_fds();
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    st.max_fds = (uint64_t)rl.rlim_cur;
  *ret = st;
  return 0;
}

/* Scrape-time callbacks. Each reads afresh: a scrape is rare (15 s) and the
 * reads are a few microseconds. */
static double cpu_fn(void *arg) {
  (void)arg;
  np_procstat st;
  return np_procstat_read(&st) == 0 ? st.cpu_seconds : 0;
}

static double rss_fn(void *arg) {
  (void)arg;
  np_procstat st;
  return np_procstat_read(&st) == 0 ? (double)st.resident_bytes : 0;
}

static double vsz_fn(void *arg) {
  (void)arg;
  np_procstat st;
  return np_procstat_read(&st) == 0 ? (double)st.virtual_bytes : 0;
}

static double fds_fn(void *arg) {
  (void)arg;
  return (double)count_fds();
}

static double maxfds_fn(void *arg) {
  (void)arg;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 0;
  return (double)rl.rlim_cur;
}

int np_procstat_register(np_prom_registry *reg) {
  static const struct {
    const char *name;
    const char *help;
    int counter;
    np_prom_value_fn fn;
  } defs[] = {
      {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", 1, cpu_fn},
      {"process_resident_memory_bytes", "Resident memory size in bytes.", 0, rss_fn},
      {"process_virtual_memory_bytes", "Virtual memory size in bytes.", 0, vsz_fn},
      {"process_open_fds", "Number of open file descriptors.", 0, fds_fn},
      {"process_max_fds", "Maximum number of open file descriptors.", 0, maxfds_fn},
  };
  if (!reg) return NP_E_BADARG;
  for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
    np_prom_family *f = defs[i].counter ? np_prom_counter(reg, defs[i].name, defs[i].help, 0, NULL)
                                        : np_prom_gauge(reg, defs[i].name, defs[i].help, 0, NULL);
    if (!f) return NP_E_BADARG;
    np_prom_set_fn(np_prom_with(f, NULL), defs[i].fn, NULL);
  }
  /* The start time never changes: store it once. */
  np_procstat st;
  np_prom_family *f =
      np_prom_gauge(reg, "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.", 0, NULL);
  if (!f) return NP_E_BADARG;
  if (np_procstat_read(&st) == 0) np_prom_set(np_prom_with(f, NULL), st.start_time_seconds);
  return 0;
}
