/* Admission for every test type: access tokens, capacity and transmit
 * budget (ops/admission), the 100 ms tick that feeds the budget, and the
 * spool-size scan behind the quota. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/error.h"
#include "http/query.h"
#include "http/response.h"
#include "server/log.h"
#include "server/server.h"
#include "server/spoolscan.h"

#define TICK_MS 100
/* Socket bytes a test sends beyond its payload allowance: WebSocket and TLS
 * framing (< 0.5%), measurement messages and the upgrade answer. The
 * session's payload cap is lowered by this so the wire total stays within
 * the reservation. */
#define ALLOWANCE_SLACK_FRACTION 0.01
#define ALLOWANCE_SLACK_BYTES (256u * 1024)

void np_server_refuse(np_conn *c, int status, int retry_after, const char *reason) {
  char body[160], ra[48];
  (void)snprintf(body, sizeof body, "{\"status\":%d,\"error\":\"%s\"}\n", status, reason);
  const char *hdrs[3] = {"Cache-Control: no-store", NULL, NULL};
  if (retry_after >= 0) {
    (void)snprintf(ra, sizeof ra, "Retry-After: %d", retry_after);
    hdrs[1] = ra;
  }
  np_buf out;
  np_buf_init(&out, 4096);
  if (np_http_write_simple(&out, status, "application/json", body, hdrs) == 0)
    (void)np_conn_write(c, out.data, out.len);
  np_buf_free(&out);
  np_conn_close(c);
}

/* 0 when the request may go on; otherwise the 401 reason. *monitoring is
 * set for a valid token with sub "monitoring". */
static const char *check_token(np_server *s, const np_server_ask *ask, int *monitoring) {
  *monitoring = 0;
  int required = (strcmp(ask->type, "ndt7") == 0 && s->token_required_ndt7) ||
                 (strcmp(ask->type, "rpm") == 0 && s->token_required_rpm);
  if (!s->keys) return NULL;
  np_query q;
  const char *tok = NULL;
  if (np_query_parse(ask->req ? ask->req->query : ask->query, &q) == 0)
    tok = np_query_get(&q, "access_token");
  if (!tok || !*tok) return required ? "token_missing" : NULL;
  np_jwt_expect exp = {
      .issuer = "locate", .audience = s->cfg.token_machine, .now = (int64_t)time(NULL)};
  np_jwt_claims cl;
  np_jwt_reason why = NP_JWT_OK;
  if (np_jwt_verify(s->keys, tok, strlen(tok), &exp, &cl, &why) < 0) {
    static char reason[48];
    (void)snprintf(reason, sizeof reason, "token_%s", np_jwt_reason_str(why));
    return reason;
  }
  *monitoring = strcmp(cl.sub, "monitoring") == 0;
  return NULL;
}

int np_server_decide(np_server *s, const np_server_ask *ask, np_server_test **ret,
                     np_server_refusal *no) {
  int monitoring = 0;
  const char *bad = check_token(s, ask, &monitoring);
  if (bad) {
    np_log(NP_LOG_INFO, "test refused", "uuid=%s proto=%s test=%s status=401 reason=%s", ask->uuid,
           ask->proto, ask->test, bad);
    np_metrics_rejected(s, ask->proto, bad);
    *no = (np_server_refusal){401, -1, bad};
    return NP_E_TOKEN;
  }
  char ip[64] = "";
  int port = 0;
  if (ask->client_ip)
    (void)snprintf(ip, sizeof ip, "%s", ask->client_ip);
  else
    (void)np_conn_peer_addr(ask->conn, ip, sizeof ip, &port);
  np_admit_request rq = {.test = ask->type,
                         .transmits = ask->transmits != 0,
                         .monitoring = monitoring != 0,
                         .client_ip = ip,
                         .now_ns = np_mono_ns(),
                         .spool_bytes = s->spool_bytes,
                         .spool_unwritable = s->spool_fault != 0};
  np_admit_decision d;
  int rc = np_admit(s->adm, &rq, &d);
  if (rc < 0) {
    const char *reason = np_admit_reason_str(d.reason);
    np_log(NP_LOG_INFO, "test refused",
           "uuid=%s proto=%s test=%s status=503 reason=%s retry_after=%u", ask->uuid, ask->proto,
           ask->test, reason, d.retry_after_s);
    np_metrics_rejected(s, ask->proto, reason);
    *no = (np_server_refusal){503, (int)d.retry_after_s, reason};
    return NP_E_REFUSED;
  }
  np_server_test *t = calloc(1, sizeof *t);
  if (!t) {
    (void)np_admit_release(s->adm, d.ticket);
    *no = (np_server_refusal){500, -1, "internal"};
    return -ENOMEM;
  }
  t->srv = s;
  t->type = ask->type;
  t->proto = ask->proto;
  t->test = ask->test;
  t->conn = ask->conn;
  t->ticket = d.ticket;
  t->allowance = d.byte_allowance;
  (void)snprintf(t->uuid, sizeof t->uuid, "%s", ask->uuid);
  t->next = s->tests;
  if (s->tests) s->tests->prev = t;
  s->tests = t;
  if (monitoring) np_log(NP_LOG_INFO, "monitoring test", "uuid=%s", t->uuid);
  *ret = t;
  return 0;
}

int np_server_admit(np_server *s, const np_server_ask *ask, np_server_test **ret) {
  np_server_refusal no;
  int rc = np_server_decide(s, ask, ret, &no);
  if (rc < 0) np_server_refuse(ask->conn, no.status, no.retry_after, no.reason);
  return rc;
}

/* Payload bytes a session may queue so that its socket total stays within
 * the allowance. */
uint64_t np_server_payload_cap(const np_server_test *t) {
  if (!t->allowance) return 0;
  uint64_t slack =
      (uint64_t)((double)t->allowance * ALLOWANCE_SLACK_FRACTION) + ALLOWANCE_SLACK_BYTES;
  return t->allowance > slack ? t->allowance - slack : 1;
}

static void unlink_test(np_server *s, np_server_test *t) {
  if (t->prev)
    t->prev->next = t->next;
  else
    s->tests = t->next;
  if (t->next) t->next->prev = t->prev;
  free(t);
}

void np_server_test_abandon(np_server_test *t) {
  (void)np_admit_release(t->srv->adm, t->ticket);
  unlink_test(t->srv, t);
}

void np_server_test_end(np_server_test *t, uint64_t tx_bytes) {
  np_server *s = t->srv;
  if (!t->allowance) {
    /* Nothing reserved in the budget: free the slot now, so a client's next
     * test (ndt7's upload right after its download) is not refused. */
    s->tx_done += tx_bytes;
    (void)np_admit_release(s->adm, t->ticket);
    unlink_test(s, t);
    return;
  }
  /* A budgeted test keeps its reservation until the tick has sampled its
   * last bytes: released now, bytes sent since the last tick would be in
   * neither the history nor a reservation, and a burst that short can be a
   * whole test on a fast path. */
  t->ended = 1;
  t->conn = NULL;
  t->tx_bytes = tx_bytes;
}

/* TX bytes of dev from /proc/net/dev; 0 if unreadable. */
/* The device's transmitted bytes from /proc/net/dev: 0, or -ENODEV when
 * the device is not listed there. */
static int device_tx_read(const char *dev, uint64_t *ret) {
  FILE *f = fopen("/proc/net/dev", "re");
  if (!f) return -errno;
  char line[512];
  int rc = -ENODEV;
  size_t dl = strlen(dev);
  while (fgets(line, sizeof line, f)) {
    char *p = line;
    while (*p == ' ') p++;
    if (strncmp(p, dev, dl) != 0 || p[dl] != ':') continue;
    unsigned long long v[9];
    if (sscanf(p + dl + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
               &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]) == 9) {
      *ret = v[8];
      rc = 0;
    }
    break;
  }
  (void)fclose(f);
  return rc;
}

static uint64_t device_tx_bytes(const char *dev) {
  uint64_t tx = 0;
  (void)device_tx_read(dev, &tx);
  return tx;
}

static uint64_t tx_total(np_server *s, uint64_t own);

static double clamp01(double v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

static void on_tick(uv_timer_t *h) {
  np_server *s = h->data;
  uint64_t now = np_mono_ns();
  uint64_t own = s->tx_done;
  /* Report every test's bytes, then sample the same total: the budget never
   * counts a byte both as history and as reservation. */
  for (np_server_test *t = s->tests; t; t = t->next) {
    if (!t->ended && t->conn) t->tx_bytes = np_conn_get_stats(t->conn)->wire_written;
    own += t->tx_bytes;
    (void)np_admit_progress(s->adm, t->ticket, t->tx_bytes);
  }
  (void)np_admission_sample(s->adm, now, tx_total(s, own));
  for (np_server_test *t = s->tests, *next; t; t = next) {
    next = t->next;
    if (!t->ended) continue;
    s->tx_done += t->tx_bytes;
    (void)np_admit_release(s->adm, t->ticket);
    unlink_test(s, t);
  }
  np_prom_set(s->m.tx_total, (double)own);
  np_admission_stats st;
  np_admission_stats_get(s->adm, now, s->spool_bytes, &st);
  np_prom_set(s->m.sat_concurrency, clamp01(st.concurrency));
  np_prom_set(s->m.sat_budget, clamp01(st.budget));
  np_prom_set(s->m.sat_spool, clamp01(st.spool));
  np_prom_set(s->m.sat_tx,
              s->cfg.tx_max_rate > 0 ? clamp01(st.tx_rate_bps / (double)s->cfg.tx_max_rate) : 0);
  np_prom_set(s->m.tx_rate, st.tx_rate_bps / 8);
  np_prom_set(s->m.window_bytes, (double)st.window_bytes);
  np_prom_set(s->m.spool_bytes, (double)s->spool_bytes);
  np_server_trim_tick(s);
}

/* ---- spool scan --------------------------------------------------------- */

/* Every --spool-scan-interval: the spool's size (for the quota) and a probe
 * of whether a file could be written now (for the fault state, spoolq.c),
 * both on a worker thread. */
static void scan_work(uv_work_t *w) {
  np_server *s = w->data;
  uint64_t bytes = 0;
  s->spool_probe_rc = np_spool_probe(s->spool, "ndt7", np_wall_ns());
  if (!s->cfg.spool_max_bytes) return;
  s->spool_scan_result = np_spool_scan_bytes(s->cfg.datadir, NP_SPOOL_SCAN_MAX_ENTRIES, &bytes) < 0
                             ? UINT64_MAX
                             : bytes;
}

static void scan_done(uv_work_t *w, int status) {
  np_server *s = w->data;
  s->spool_scanning = 0;
  if (status < 0) return;
  np_server_spool_health(s, s->spool_probe_rc);
  if (!s->cfg.spool_max_bytes) return;
  if (s->spool_scan_result == UINT64_MAX) {
    np_log(NP_LOG_WARN, "spool scan failed, keeping the last size", NULL);
    return;
  }
  /* Files written while the walk ran may or may not have been seen: count
   * them again (the quota errs towards full). */
  s->spool_bytes = s->spool_scan_result + s->spool_written_during_scan;
  np_prom_set(s->m.spool_bytes, (double)s->spool_bytes);
}

static void on_spool_timer(uv_timer_t *h) {
  np_server *s = h->data;
  if (s->spool_scanning) return;
  s->spool_scanning = 1;
  s->spool_written_during_scan = 0;
  s->spool_work.data = s;
  if (uv_queue_work(s->loop, &s->spool_work, scan_work, scan_done) < 0) s->spool_scanning = 0;
}

void np_server_spool_added(np_server *s, uint64_t bytes) {
  s->spool_bytes += bytes;
  if (s->spool_scanning) s->spool_written_during_scan += bytes;
  np_prom_set(s->m.spool_bytes, (double)s->spool_bytes);
}

/* ---- setup ---------------------------------------------------------------- */

static int parse_required(np_server *s, char *err, size_t errcap) {
  const char *p = s->cfg.token_required ? s->cfg.token_required : "";
  while (*p) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 4 && strncmp(p, "ndt7", 4) == 0) {
      s->token_required_ndt7 = 1;
    } else if (n == 3 && strncmp(p, "rpm", 3) == 0) {
      s->token_required_rpm = 1;
    } else if (n > 0) {
      (void)snprintf(err, errcap, "invalid --token-required \"%s\": want ndt7 and/or rpm",
                     s->cfg.token_required);
      return NP_E_BADARG;
    }
    p += n + (e != NULL);
  }
  return 0;
}

int np_server_reload_keys(np_server *s, char *err, size_t errcap) {
  if (s->cfg.token_verify_keys.n == 0) return 0;
  np_jwt_keyset *ks = np_jwt_keyset_new();
  if (!ks) return -ENOMEM;
  for (size_t i = 0; i < s->cfg.token_verify_keys.n; i++) {
    int rc = np_jwt_keyset_load_file(ks, s->cfg.token_verify_keys.items[i]);
    if (rc < 0) {
      (void)snprintf(err, errcap, "cannot load --token-verify-key %s: %s",
                     s->cfg.token_verify_keys.items[i], np_strerror(rc));
      np_jwt_keyset_free(ks);
      return rc;
    }
  }
  np_jwt_keyset_free(s->keys);
  s->keys = ks;
  return 0;
}

/* Validates the flags and builds the admission state and token keys.
 * Returns 0, or 2 (bad configuration, message printed) or 1. */
int np_server_admission_setup(np_server *s) {
  char err[512] = "";
  const np_server_config *c = &s->cfg;
  if (parse_required(s, err, sizeof err) < 0 || np_server_reload_keys(s, err, sizeof err) < 0) {
    fprintf(stderr, "netpulse-server: %s\n", err);
    return 2;
  }
  if ((s->token_required_ndt7 || s->token_required_rpm) && !s->keys) {
    fprintf(stderr, "netpulse-server: --token-required needs --token-verify-key\n");
    return 2;
  }
  if (s->keys && (!c->token_machine || !*c->token_machine)) {
    fprintf(stderr, "netpulse-server: --token-verify-key needs --token-machine\n");
    return 2;
  }
  uint64_t probe;
  if (c->tx_device && *c->tx_device && device_tx_read(c->tx_device, &probe) < 0) {
    /* A wrong name would read 0 forever and silently disable the limits. */
    fprintf(stderr, "netpulse-server: --tx-device %s: no such device in /proc/net/dev\n",
            c->tx_device);
    return 2;
  }
  np_admission_config ac = {
      .max_concurrent =
          c->max_concurrent_tests > 0 ? (uint32_t)c->max_concurrent_tests : NP_ADMIT_MAX_CONCURRENT,
      .max_per_client = (uint32_t)c->max_tests_per_client,
      .tx_max_rate_bps = (double)c->tx_max_rate,
      .budget_bps = (double)c->bandwidth_budget,
      .budget_window_s = (uint32_t)c->budget_window_s,
      .test_bytes = (uint64_t)c->budget_test_bytes,
      .test_duration_s = 10,
      .spool_max_bytes = (uint64_t)c->spool_max_bytes,
  };
  int rc = np_admission_new(&ac, &s->adm);
  if (rc == NP_E_BADARG) {
    fprintf(stderr,
            "netpulse-server: --budget-test-bytes (%lld) is more than --bandwidth-budget "
            "allows in one --budget-window\n",
            c->budget_test_bytes);
    return 2;
  }
  return rc < 0 ? 1 : 0;
}

static uint64_t tx_total(np_server *s, uint64_t own) {
  return s->cfg.tx_device && *s->cfg.tx_device ? device_tx_bytes(s->cfg.tx_device) : own;
}

void np_server_admission_start(np_server *s) {
  const np_server_config *c = &s->cfg;
  /* Prime the history before the first test: the first sample only sets
   * the base, so bytes sent before it would never count. */
  (void)np_admission_sample(s->adm, np_mono_ns(), tx_total(s, 0));
  (void)uv_timer_init(s->loop, &s->tick);
  s->tick.data = s;
  (void)uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
  uv_unref((uv_handle_t *)&s->tick);
  (void)uv_timer_init(s->loop, &s->spool_timer);
  s->spool_timer.data = s;
  uv_unref((uv_handle_t *)&s->spool_timer);
  on_spool_timer(&s->spool_timer);
  (void)uv_timer_start(&s->spool_timer, on_spool_timer, (uint64_t)c->spool_scan_interval_s * 1000,
                       (uint64_t)c->spool_scan_interval_s * 1000);
}

void np_server_set_lame_duck(np_server *s) {
  np_admission_set_lame_duck(s->adm, true);
  np_prom_set(s->m.lame_duck, 1);
}
