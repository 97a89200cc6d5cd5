/* The connection budget: the descriptor limit raised to its hard maximum, a
 * cap on open connections derived from it with a reserve kept for data
 * files, the spool scan, health and metrics, and the listeners paused at the
 * cap (or after accept ran out of descriptors) and resumed below it, so the
 * loop never spins on a backlog it cannot take. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>

#include "core/error.h"
#include "server/log.h"
#include "server/server.h"

/* Descriptors kept free beyond the connections: a data file takes two at a
 * time (O_TMPFILE and its directory) on each of libuv's 4 worker threads,
 * the day-directory preparation and the spool scan walk a few levels deep,
 * and the health and metrics answers have their own allowance (AUX). */
#define RESERVE_FDS 32
/* Health and metrics connections at once (their listeners pause beyond). */
#define AUX_CONNS 8
/* The default cap, whatever the fd limit: every connection costs memory
 * (its read buffer) and M-Lab gives a pod 1 GB. --max-conns overrides it. */
#define DEFAULT_CAP_MAX 4096
/* After accept failed for lack of descriptors, try again this much later
 * (or at the next close, whichever comes first). */
#define RETRY_MS 100
#define LOG_EVERY_MS 10000

static long count_open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  long n = 0;
  while (readdir(d)) n++;
  (void)closedir(d);
  return n - 3; /* ".", ".." and the directory's own descriptor */
}

int np_server_conn_budget_setup(np_server *s) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -errno;
  rlim_t soft0 = rl.rlim_cur;
  if (rl.rlim_cur != rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) (void)getrlimit(RLIMIT_NOFILE, &rl);
  }
  long in_use = count_open_fds();
  if (in_use < 0) in_use = 64; /* no /proc: assume generously */
  unsigned long long limit =
      rl.rlim_cur == RLIM_INFINITY ? 1ull << 20 : (unsigned long long)rl.rlim_cur;
  long long room = (long long)limit - in_use - RESERVE_FDS - AUX_CONNS;
  long long cap = s->cfg.max_conns;
  if (cap == 0) cap = room < DEFAULT_CAP_MAX ? room : DEFAULT_CAP_MAX;
  if (cap < 1) {
    fprintf(stderr,
            "netpulse-server: the fd limit (%llu) leaves no room for connections after %ld "
            "open descriptors and a reserve of %d; raise it (ulimit -n)\n",
            limit, in_use, RESERVE_FDS + AUX_CONNS);
    return NP_E_BADARG;
  }
  s->conn_cap = (uint64_t)cap;
  np_log(NP_LOG_INFO, "connection budget",
         "fd_soft_limit_at_start=%llu fd_soft_limit=%llu fd_hard_limit=%llu fds_in_use=%ld "
         "reserve=%d max_conns=%lld",
         soft0 == RLIM_INFINITY ? 0ull : (unsigned long long)soft0, limit,
         rl.rlim_max == RLIM_INFINITY ? 0ull : (unsigned long long)rl.rlim_max, in_use,
         RESERVE_FDS + AUX_CONNS, cap);
  if (cap > room)
    np_log(NP_LOG_WARN, "--max-conns is above what the fd limit leaves room for",
           "max_conns=%lld room=%lld", cap, room);
  np_prom_set(s->m.conn_cap, (double)cap);
  (void)uv_timer_init(s->loop, &s->accept_retry);
  s->accept_retry.data = s;
  uv_unref((uv_handle_t *)&s->accept_retry);
  return 0;
}

uint64_t np_server_conns(const np_server *s) {
  return s->open_conns + s->active_tests + np_rpm_sessions() + s->aux_conns;
}

static void set_paused(np_server *s, np_listener *l, int pause, const char *reason) {
  if (!l || np_listener_paused(l) == pause) return;
  if (!pause) {
    (void)np_listener_resume(l);
    return;
  }
  np_listener_pause(l);
  np_metrics_accept_paused(s, reason);
}

static void resume_all(np_server *s) {
  np_listener *ls[] = {s->ndt7_plain, s->ndt7_tls, s->health, s->prometheus};
  for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++)
    if (ls[i]) (void)np_listener_resume(ls[i]);
}

void np_server_conns_changed(np_server *s, int closed) {
  /* Front-door connections: before their head, ndt7 tests, RPM sessions. */
  uint64_t ndt7 = s->open_conns + s->active_tests + np_rpm_sessions();
  np_prom_set(s->m.open_conns, (double)np_server_conns(s));
  if (uv_is_active((uv_handle_t *)&s->accept_retry)) {
    /* Out of descriptors: wait for a close or the retry timer. A listener
     * still short of them pauses itself at its first accept again. */
    if (!closed) return;
    (void)uv_timer_stop(&s->accept_retry);
    resume_all(s);
  }
  int full = ndt7 >= s->conn_cap;
  set_paused(s, s->ndt7_plain, full, "max_conns");
  set_paused(s, s->ndt7_tls, full, "max_conns");
  int aux_full = s->aux_conns >= AUX_CONNS;
  set_paused(s, s->health, aux_full, "max_conns");
  set_paused(s, s->prometheus, aux_full, "max_conns");
  /* Pressure starts at the cap and lasts until a few connections are free
   * again, so it does not flap with every accept. */
  if (full && !s->conn_pressure) {
    s->conn_pressure = 1;
    np_front_pressure(s);
  } else if (s->conn_pressure && ndt7 + s->conn_cap / 8 < s->conn_cap) {
    s->conn_pressure = 0;
  }
}

static void on_retry(uv_timer_t *t) {
  np_server *s = t->data;
  resume_all(s);
  np_server_conns_changed(s, 0);
}

void np_server_accept_failed(np_server *s, np_listener *l, int err) {
  (void)l; /* it paused itself */
  np_metrics_accept_paused(s, "fd_exhausted");
  if (!s->conn_pressure) {
    s->conn_pressure = 1;
    np_front_pressure(s);
  }
  if (uv_is_active((uv_handle_t *)&s->accept_retry)) return;
  /* Once per LOG_EVERY_MS at most: a flood would otherwise log ten lines a
   * second; the metric counts every pause. */
  uint64_t now = uv_now(s->loop);
  if (!s->accept_fail_logged_ms || now - s->accept_fail_logged_ms >= LOG_EVERY_MS) {
    s->accept_fail_logged_ms = now;
    np_log(NP_LOG_WARN, "accept failed, pausing the listeners", "err=\"%s\" open_conns=%llu",
           np_strerror(err), (unsigned long long)np_server_conns(s));
  }
  (void)uv_timer_start(&s->accept_retry, on_retry, RETRY_MS, 0);
}
