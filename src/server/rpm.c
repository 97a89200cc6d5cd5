/* The responsiveness test in netpulse-server: the live measurements, their
 * admission as one test each, and their records handed to the spool. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/rand.h"
#include "data/rpm_record.h"
#include "ndt7/ndt7.h"
#include "server/log.h"
#include "server/server.h"

#define TICK_MS 250
#define MAX_RECORD (32u << 20)

static void write_record(np_server *s, const np_rpm_record *r) {
  np_buf line;
  np_buf_init(&line, MAX_RECORD);
  char name[128], label[40];
  int rc = np_rpm_record_line(r, &line);
  if (rc == 0 && np_rpm_record_name(r, name, sizeof name) < 0) rc = -ENAMETOOLONG;
  (void)snprintf(label, sizeof label, "measurement=%016llx", (unsigned long long)r->id);
  if (rc < 0) {
    np_log(NP_LOG_ERROR, "data file not written", "%s err=\"%s\"", label, np_strerror(rc));
    np_metrics_file(s, NP_RPM_DATATYPE, 0);
    np_buf_free(&line);
    return;
  }
  /* The spool takes line.data in every case. */
  np_server_file f = {.datatype = NP_RPM_DATATYPE,
                      .wall_ns = r->start_wall_ns,
                      .name = name,
                      .label = label,
                      .data = line.data,
                      .len = line.len};
  np_server_spool_put(s, &f);
}

/* A measurement ended: metrics, the record, the admission ticket. */
static void on_done(void *ud, np_rpm_measurement *m) {
  np_server *s = ud;
  np_server_test *t = m->host;
  const np_rpm_record *r = &m->rec;
  uint64_t sent = 0, received = 0, load = 0;
  np_rpm_record_totals(r, &sent, &received, &load);
  double secs = (double)(r->end_wall_ns - r->start_wall_ns) / 1e9;
  double mbps = secs > 0 ? 8.0 * (double)(sent + received) / secs / 1e6 : 0;
  int success = load > 0; /* a measurement that never loaded the path measured nothing */
  np_log(NP_LOG_INFO, "test finished",
         "measurement=%016llx proto=%s test=responsiveness result=%s%s end=%s conns=%u "
         "conns_summarized=%u conns_refused=%u peak_open=%u requests=%u seconds=%.3f",
         (unsigned long long)r->id, t ? t->proto : "rpm", success ? "success" : "failure",
         success ? "" : " stage=no_load", r->end_reason, r->nconns, r->summary.count,
         r->conns_refused, r->peak_open, r->nreqs, secs);
  if (t) {
    np_metrics_test_done(s, t, success, success ? NULL : "no_load", sent, received, secs, mbps);
    np_metrics_active(s, t->proto, -1);
    np_server_test_end(t, t->tx_bytes);
    s->active_tests--;
  }
  m->rec.server_metadata = s->server_metadata; /* --label, as in every data file */
  write_record(s, r);
}

static int host_admit(void *ud, np_slice query, const char *client_ip, const char *proto,
                      void **ret_host, np_rpm_refusal *ret) {
  np_server *s = ud;
  if (s->draining) {
    *ret = (np_rpm_refusal){503, 30, "lame_duck"};
    np_metrics_rejected(s, proto, "lame_duck");
    return NP_E_REFUSED;
  }
  np_server_ask ask = {.type = "rpm",
                       .proto = proto,
                       .test = "responsiveness",
                       .transmits = 1,
                       .query = query,
                       .client_ip = client_ip,
                       .uuid = "-"};
  np_server_test *t = NULL;
  np_server_refusal no;
  if (np_server_decide(s, &ask, &t, &no) < 0) {
    *ret = (np_rpm_refusal){no.status, no.retry_after, no.reason};
    return NP_E_REFUSED;
  }
  s->active_tests++;
  np_metrics_active(s, ask.proto, 1);
  *ret_host = t;
  return 0;
}

/* The budget reserved the measurement's allowance at admission; like an
 * ndt7 download it stops there (the budget holds only if tests do). */
static int host_sent(void *ud, void *host, uint64_t bytes) {
  np_server_test *t = host;
  (void)ud;
  if (!t) return 0;
  t->tx_bytes += bytes;
  return t->allowance && t->tx_bytes >= np_server_payload_cap(t);
}

static void host_rejected(void *ud, const char *proto, const char *reason) {
  np_metrics_rejected(ud, proto, reason);
}

static void host_closed(void *ud) { np_server_conns_changed(ud, 1); }

/* One line per GOAWAY: a warning for floods and protocol errors, news for
 * the limits a client meets in the normal course, and the measurement's
 * own ending and idle probe connections (up to 100 a second) only when
 * debugging (the "test finished" line tells the first). */
static void host_goaway(void *ud, const char *proto, const char *reason, const char *uuid,
                        uint64_t mid) {
  int level = strcmp(reason, "shutdown") == 0 || strcmp(reason, "idle") == 0 ? NP_LOG_DEBUG
              : strcmp(reason, NP_RPM_GOAWAY_BUDGET) == 0 || strcmp(reason, "stream_limit") == 0
                  ? NP_LOG_INFO
                  : NP_LOG_WARN;
  np_log(level, "http/2 goaway sent", "uuid=%s proto=%s reason=%s measurement=%016llx", uuid, proto,
         reason, (unsigned long long)mid);
  np_metrics_h2_goaway(ud, reason);
}

static int host_other(void *ud, np_slice method, np_slice path, np_http_reply *ret) {
  return np_server_web_reply(ud, method, path, ret);
}

static const np_rpm_host kHost = {.admit = host_admit,
                                  .sent = host_sent,
                                  .rejected = host_rejected,
                                  .closed = host_closed,
                                  .goaway = host_goaway,
                                  .other = host_other};

static void on_tick(uv_timer_t *h) {
  np_server *s = h->data;
  uint64_t now = np_mono_ns();
  uint8_t fresh[NP_RPM_KEY_LEN];
  int rotate =
      np_rpm_service_rotation_due(s->rpm_svc, now) && np_random_bytes(fresh, sizeof fresh) == 0;
  (void)np_rpm_service_tick(s->rpm_svc, now, np_wall_ns(), rotate ? fresh : NULL);
}

/* Whether name is a word of the whitespace-separated list in file. */
static int listed(const char *file, const char *name) {
  FILE *f = fopen(file, "re");
  if (!f) return -1;
  char line[512] = "";
  int found = 0;
  if (fgets(line, sizeof line, f)) {
    for (char *save = NULL, *w = strtok_r(line, " \t\n", &save); w;
         w = strtok_r(NULL, " \t\n", &save))
      if (strcmp(w, name) == 0) found = 1;
  }
  (void)fclose(f);
  return found;
}

int np_server_rpm_setup(np_server *s) {
  if (s->cfg.no_rpm) return 0;
  const char *cc = s->cfg.rpm_congestion;
  if (cc && *cc) {
    /* Unprivileged sockets may only pick an allowed algorithm; otherwise
     * RPM connections keep the kernel's default (and the record says so). */
    int avail = listed("/proc/sys/net/ipv4/tcp_available_congestion_control", cc);
    int allowed = listed("/proc/sys/net/ipv4/tcp_allowed_congestion_control", cc);
    if (avail == 0 || (allowed == 0 && geteuid() != 0))
      np_log(NP_LOG_WARN, "RPM congestion control unavailable, using the kernel default",
             "want=%s available=%d allowed=%d", cc, avail, allowed);
  }
  uint8_t key[NP_RPM_KEY_LEN];
  int rc = np_random_bytes(key, sizeof key);
  if (rc < 0) return rc;
  np_rpm_service_cfg sc;
  np_rpm_service_cfg_default(&sc);
  sc.max_runtime_ns = (uint64_t)s->cfg.rpm_max_runtime_s * NP_NS_PER_S;
  sc.max_conns = (uint32_t)s->cfg.rpm_max_conns;
  rc = np_rpm_service_new(&s->rpm_svc, &sc, key, np_mono_ns(), on_done, s);
  if (rc < 0) return rc;
  np_rpm_server_cfg *c = &s->rpm;
  c->svc = s->rpm_svc;
  c->host = &kHost;
  c->host_ud = s;
  c->payload = np_slice_make(s->payload, NP_NDT7_MAX_SENT_MESSAGE);
  c->public_host =
      s->cfg.rpm_public_host && *s->cfg.rpm_public_host ? s->cfg.rpm_public_host : NULL;
  c->large_length = 1ULL << 40; /* declared 1 TiB: streamed until stopped */
  c->notsent_lowat = (uint32_t)s->cfg.rpm_notsent_lowat;
  c->congestion = s->cfg.rpm_congestion;
  c->join_timeout_ns = (uint64_t)s->cfg.header_timeout_ms * NP_NS_PER_MS;
  np_h2_config_default(&c->h2);
  c->h2.payload = c->payload;
  size_t recovered = 0;
  if (np_spool_recover(s->spool, NP_RPM_DATATYPE, &recovered) == 0 && recovered)
    np_log(NP_LOG_INFO, "recovered complete files left by a crash", "datatype=%s count=%zu",
           NP_RPM_DATATYPE, recovered);
  (void)np_spool_prepare(s->spool, NP_RPM_DATATYPE, np_wall_ns());
  (void)uv_timer_init(s->loop, &s->rpm_tick);
  s->rpm_tick.data = s;
  uv_unref((uv_handle_t *)&s->rpm_tick);
  (void)uv_timer_start(&s->rpm_tick, on_tick, TICK_MS, TICK_MS);
  return 0;
}
