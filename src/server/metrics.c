/* The server's Prometheus metrics: families, updates from the test and data
 * paths, and the /metrics answer. Every name is documented in
 * docs/metrics.md. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/version.h"
#include "http/response.h"
#include "server/server.h"

#define MAX_EXPOSITION (8u * 1024 * 1024)

static const double kDurationBounds[] = {0.1, 0.25, 0.5,  1,  2,  4,    6,  8,
                                         9,   10,   10.5, 11, 12, 13.5, 15, 20};
static const double kRateBounds[] = {0.5, 1,   2,    5,    10,   20,    50,    100,
                                     200, 500, 1000, 2000, 5000, 10000, 20000, 50000};

#define NB(a) (sizeof(a) / sizeof((a)[0]))

static np_prom_series *gauge(np_prom_registry *reg, const char *name, const char *help) {
  np_prom_family *f = np_prom_gauge(reg, name, help, 0, NULL);
  return f ? np_prom_with(f, NULL) : NULL;
}

static np_prom_series *counter(np_prom_registry *reg, const char *name, const char *help) {
  np_prom_family *f = np_prom_counter(reg, name, help, 0, NULL);
  return f ? np_prom_with(f, NULL) : NULL;
}

int np_metrics_setup(np_server *s) {
  np_server_metrics *m = &s->m;
  np_prom_registry *reg = m->reg = np_prom_new();
  if (!reg) return -1;
  static const char *const l_tests[] = {"protocol", "test", "result", "stage"};
  static const char *const l_pt[] = {"protocol", "test"};
  static const char *const l_p[] = {"protocol"};
  static const char *const l_rej[] = {"protocol", "reason"};
  static const char *const l_files[] = {"datatype", "result"};
  static const char *const l_build[] = {"version", "commit"};
  static const char *const l_limit[] = {"limit"};
  m->tests = np_prom_counter(reg, "netpulse_tests_total",
                             "Tests that ran to an end, by protocol, test, result "
                             "(success/failure) and failure stage (none on success).",
                             4, l_tests);
  m->bytes_sent = np_prom_counter(reg, "netpulse_test_sent_bytes_total",
                                  "Socket bytes sent by finished tests.", 2, l_pt);
  m->bytes_received = np_prom_counter(reg, "netpulse_test_received_bytes_total",
                                      "Socket bytes received by finished tests.", 2, l_pt);
  m->duration =
      np_prom_histogram(reg, "netpulse_test_duration_seconds", "Duration of finished tests.", 2,
                        l_pt, kDurationBounds, NB(kDurationBounds));
  m->rate = np_prom_histogram(reg, "netpulse_test_rate_mbps",
                              "Application-level rate of finished tests, in Mbit/s.", 2, l_pt,
                              kRateBounds, NB(kRateBounds));
  m->active = np_prom_gauge(reg, "netpulse_active_tests", "Tests running now.", 1, l_p);
  m->rejections = np_prom_counter(reg, "netpulse_rejections_total",
                                  "Test requests refused, by reason (503 capacity reasons, "
                                  "401 token_* reasons, bad_request).",
                                  2, l_rej);
  m->files = np_prom_counter(reg, "netpulse_data_files_total",
                             "Data files handed to the spool (result=written) or lost "
                             "(result=failed).",
                             2, l_files);
  static const char *const l_reason[] = {"reason"};
  m->meta_dropped = np_prom_counter(reg, "netpulse_metadata_dropped_total",
                                    "Query parameters of finished tests not kept as client "
                                    "metadata, by reason.",
                                    1, l_reason);
  m->cm_dropped = np_prom_counter(reg, "netpulse_client_measurements_dropped_total",
                                  "Client measurement messages not kept, by reason.", 1, l_reason);
  m->cm_members_dropped =
      np_prom_counter(reg, "netpulse_client_measurement_members_dropped_total",
                      "Members left out of kept client measurements, by reason.", 1, l_reason);
  np_prom_family *sat = np_prom_gauge(
      reg, "netpulse_saturation",
      "Use of each admission limit, 0..1 (1 = new tests are refused for it).", 1, l_limit);
  m->tx_rate = gauge(reg, "netpulse_tx_rate_bytes_per_second",
                     "Transmit rate as smoothed by the M-Lab-style controller (bytes/s; "
                     "--tx-max-rate is in bits/s).");
  m->tx_total = counter(reg, "netpulse_tx_bytes_total",
                        "Socket bytes sent by tests, running ones included (the "
                        "controller's input without --tx-device).");
  m->window_bytes =
      gauge(reg, "netpulse_budget_window_bytes", "Bytes sent within the current --budget-window.");
  m->spool_bytes = gauge(reg, "netpulse_spool_bytes", "Disk space used by the spool directory.");
  m->spool_max = gauge(reg, "netpulse_spool_max_bytes", "The spool quota (0 = none).");
  m->spool_held = gauge(reg, "netpulse_spool_held_files",
                        "Data files held in memory because the spool cannot be written; they "
                        "are written when it can again.");
  m->spool_writable = gauge(reg, "netpulse_spool_writable",
                            "1 while the spool can be written; 0 while it cannot (new tests "
                            "are refused with spool_unwritable).");
  m->lame_duck =
      gauge(reg, "netpulse_lame_duck", "1 once the server got SIGTERM and refuses new tests.");
  np_prom_family *build =
      np_prom_gauge(reg, "netpulse_build_info", "Always 1; labels name the build.", 2, l_build);
  m->open_conns = gauge(reg, "netpulse_open_connections",
                        "Connections open now: before their request head, running tests, "
                        "health and metrics.");
  m->conn_cap = gauge(reg, "netpulse_max_connections",
                      "The ndt7 connection cap (--max-conns, or derived from the fd limit); "
                      "the listeners pause at it.");
  m->accept_pauses = np_prom_counter(reg, "netpulse_accept_pauses_total",
                                     "Times a listener stopped accepting: max_conns (the cap "
                                     "was reached) or fd_exhausted (accept found no free "
                                     "descriptor).",
                                     1, l_reason);
  m->early_closes = np_prom_counter(reg, "netpulse_early_closes_total",
                                    "Connections closed before their request head was "
                                    "complete, by reason.",
                                    1, l_reason);
  m->h2_goaways = np_prom_counter(reg, "netpulse_h2_goaway_total",
                                  "HTTP/2 connections the server sent a GOAWAY, by reason "
                                  "(floods, protocol errors, limits, shutdown).",
                                  1, l_reason);
  if (!m->tests || !m->bytes_sent || !m->bytes_received || !m->duration || !m->rate || !m->active ||
      !m->rejections || !m->files || !m->meta_dropped || !m->cm_dropped || !m->cm_members_dropped ||
      !sat || !build || !m->open_conns || !m->conn_cap || !m->accept_pauses || !m->early_closes ||
      !m->h2_goaways || !m->spool_held || !m->spool_writable)
    return -1;
  static const char *const v_con[] = {"concurrency"}, *const v_tx[] = {"tx_rate"},
                           *const v_bud[] = {"budget"}, *const v_sp[] = {"spool"};
  m->sat_concurrency = np_prom_with(sat, v_con);
  m->sat_tx = np_prom_with(sat, v_tx);
  m->sat_budget = np_prom_with(sat, v_bud);
  m->sat_spool = np_prom_with(sat, v_sp);
  const char *bv[] = {NP_VERSION, NP_GIT_COMMIT};
  np_prom_set(np_prom_with(build, bv), 1);
  np_prom_set(m->spool_max, (double)s->cfg.spool_max_bytes);
  /* Series that exist from the start, so rates and alerts see zeros. */
  static const struct {
    const char *proto, *test;
  } series[] = {{"ndt7+ws", "download"},      {"ndt7+ws", "upload"},
                {"ndt7+wss", "download"},     {"ndt7+wss", "upload"},
                {"rpm+h2", "responsiveness"}, {"rpm+h2c", "responsiveness"},
                {"rpm+h1", "responsiveness"}, {"rpm+h1c", "responsiveness"}};
  for (size_t i = 0; i < NB(series); i++) {
    const char *pv[] = {series[i].proto};
    (void)np_prom_with(m->active, pv);
    const char *a[] = {series[i].proto, series[i].test, "success", "none"};
    (void)np_prom_with(m->tests, a);
  }
  static const char *const datatypes[] = {"ndt7", "responsiveness1"};
  for (size_t i = 0; i < NB(datatypes); i++) {
    const char *fw[] = {datatypes[i], "written"}, *ff[] = {datatypes[i], "failed"};
    (void)np_prom_with(m->files, fw);
    (void)np_prom_with(m->files, ff);
  }
  for (int r = 0; r < NP_META_DROP_N; r++) {
    const char *l[] = {np_meta_drop_name((np_meta_drop)r)};
    (void)np_prom_with(m->meta_dropped, l);
  }
  for (int r = 0; r < NP_NDT7_CM_N; r++) {
    const char *l[] = {np_ndt7_cm_drop_name((np_ndt7_cm_drop)r)};
    (void)np_prom_with(m->cm_dropped, l);
  }
  for (int r = 0; r < NP_NDT7_MEMBER_N; r++) {
    const char *l[] = {np_ndt7_member_drop_name((np_ndt7_member_drop)r)};
    (void)np_prom_with(m->cm_members_dropped, l);
  }
  static const char *const pauses[] = {"max_conns", "fd_exhausted"};
  for (size_t i = 0; i < NB(pauses); i++) (void)np_prom_with(m->accept_pauses, &pauses[i]);
  static const char *const closes[] = {"header_timeout", "header_timeout_pressure", "peer_closed",
                                       "bad_request"};
  for (size_t i = 0; i < NB(closes); i++) (void)np_prom_with(m->early_closes, &closes[i]);
  for (const char *const *r = np_h2_goaway_reasons; *r; r++) (void)np_prom_with(m->h2_goaways, r);
  static const char *const budget = NP_RPM_GOAWAY_BUDGET;
  (void)np_prom_with(m->h2_goaways, &budget);
  return np_procstat_register(reg) < 0 ? -1 : 0;
}

void np_metrics_test_done(np_server *s, const np_server_test *t, int success, const char *stage,
                          uint64_t sent, uint64_t received, double secs, double mbps) {
  np_server_metrics *m = &s->m;
  const char *tl[] = {t->proto, t->test, success ? "success" : "failure",
                      success ? "none" : (stage ? stage : "unknown")};
  np_prom_inc(np_prom_with(m->tests, tl), 1);
  const char *pt[] = {t->proto, t->test};
  np_prom_inc(np_prom_with(m->bytes_sent, pt), (double)sent);
  np_prom_inc(np_prom_with(m->bytes_received, pt), (double)received);
  np_prom_observe(np_prom_with(m->duration, pt), secs);
  np_prom_observe(np_prom_with(m->rate, pt), mbps);
}

void np_metrics_rejected(np_server *s, const char *proto, const char *reason) {
  const char *l[] = {proto, reason};
  np_prom_inc(np_prom_with(s->m.rejections, l), 1);
}

void np_metrics_file(np_server *s, const char *datatype, int ok) {
  const char *l[] = {datatype, ok ? "written" : "failed"};
  np_prom_inc(np_prom_with(s->m.files, l), 1);
}

void np_metrics_active(np_server *s, const char *proto, int delta) {
  const char *l[] = {proto};
  np_prom_inc(np_prom_with(s->m.active, l), delta);
}

void np_metrics_client_drops(np_server *s, const np_ndt7_outcome *o) {
  np_server_metrics *m = &s->m;
  for (int r = 0; r < NP_META_DROP_N; r++) {
    const char *l[] = {np_meta_drop_name((np_meta_drop)r)};
    if (o->meta_dropped[r]) np_prom_inc(np_prom_with(m->meta_dropped, l), o->meta_dropped[r]);
  }
  for (int r = 0; r < NP_NDT7_CM_N; r++) {
    const char *l[] = {np_ndt7_cm_drop_name((np_ndt7_cm_drop)r)};
    if (o->cm_drops.messages[r])
      np_prom_inc(np_prom_with(m->cm_dropped, l), (double)o->cm_drops.messages[r]);
  }
  for (int r = 0; r < NP_NDT7_MEMBER_N; r++) {
    const char *l[] = {np_ndt7_member_drop_name((np_ndt7_member_drop)r)};
    if (o->cm_drops.members[r])
      np_prom_inc(np_prom_with(m->cm_members_dropped, l), (double)o->cm_drops.members[r]);
  }
}

void np_metrics_accept_paused(np_server *s, const char *reason) {
  np_prom_inc(np_prom_with(s->m.accept_pauses, &reason), 1);
}

void np_metrics_early_close(np_server *s, const char *reason) {
  np_prom_inc(np_prom_with(s->m.early_closes, &reason), 1);
}

void np_metrics_h2_goaway(np_server *s, const char *reason) {
  np_prom_inc(np_prom_with(s->m.h2_goaways, &reason), 1);
}

void np_metrics_respond(np_server *s, np_buf *out) {
  np_buf body;
  np_buf_init(&body, MAX_EXPOSITION);
  int rc = np_prom_write(s->m.reg, &body);
  if (rc == 0) rc = np_buf_append(&body, "", 1); /* NUL for np_http_write_simple */
  if (rc == 0)
    rc = np_http_write_simple(out, 200, NP_PROM_CONTENT_TYPE, (const char *)body.data, NULL);
  if (rc < 0) (void)np_http_write_error(out, 500, -1, NULL);
  np_buf_free(&body);
}
