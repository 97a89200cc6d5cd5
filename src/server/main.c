/* netpulse-server: flags, start-up, signals and the event loop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/flags.h"
#include "core/rand.h"
#include "core/version.h"
#include "rpm/record.h"
#include "ndt7/ndt7.h"
#include "net/sockuuid.h"
#include "server/log.h"
#include "server/server.h"

#define ENV_PREFIX "NETPULSE_"

static np_server g_srv;

static const np_flag kFlags[] = {
    {"http-addr", 0, NP_FLAG_STRING, &g_srv.cfg.http_addr, "ADDR",
     "cleartext front door: ndt7 over ws://, responsiveness over h2c and HTTP/1.1, the test page "
     "(empty disables)",
     ":80", 0, 0, 0},
    {"https-addr", 0, NP_FLAG_STRING, &g_srv.cfg.https_addr, "ADDR",
     "TLS front door: ndt7 over wss://, responsiveness over h2 and HTTP/1.1, the test page (empty "
     "disables)",
     ":443", 0, 0, 0},
    {"ndt7-addr-cleartext", 0, NP_FLAG_STRING, &g_srv.cfg.ndt7_addr_cleartext, "ADDR",
     "older name of --http-addr (when given, it wins)", NULL, 0, 0, 0},
    {"ndt7-addr", 0, NP_FLAG_STRING, &g_srv.cfg.ndt7_addr, "ADDR",
     "older name of --https-addr (when given, it wins)", NULL, 0, 0, 0},
    {"no-rpm", 0, NP_FLAG_BOOL, &g_srv.cfg.no_rpm, NULL,
     "do not serve the responsiveness (RPM) endpoints; TLS offers only http/1.1", "false", 0, 0, 0},
    {"rpm-public-host", 0, NP_FLAG_STRING, &g_srv.cfg.rpm_public_host, "HOST[:PORT]",
     "authority put in RPM config URLs (empty: the request's :authority)", "", 0, 0, 0},
    {"rpm-notsent-lowat", 0, NP_FLAG_INT, &g_srv.cfg.rpm_notsent_lowat, "BYTES",
     "TCP_NOTSENT_LOWAT on RPM connections, so probes do not queue behind bulk data (0 = off)",
     "131072", 0, 64LL << 20, 0},
    {"rpm-congestion", 0, NP_FLAG_STRING, &g_srv.cfg.rpm_congestion, "ALGO",
     "congestion control of RPM connections (empty: kernel default)", "cubic", 0, 0, 0},
    {"rpm-max-runtime", 0, NP_FLAG_INT, &g_srv.cfg.rpm_max_runtime_s, "SECONDS",
     "a responsiveness measurement ends this long after its config request", "120", 5, 3600, 0},
    {"rpm-max-conns", 0, NP_FLAG_INT, &g_srv.cfg.rpm_max_conns, "N",
     "connections one measurement may have open at once (16 load each way plus foreign probes "
     "in flight; any number over its life)",
     "600", 2, NP_RPM_MAX_CONNS, 0},
    {"web-dir", 0, NP_FLAG_STRING, &g_srv.cfg.web_dir, "DIR",
     "serve the test page from this directory (read at request time) instead of the copy built "
     "into the binary",
     "", 0, 0, 0},
    {"no-web", 0, NP_FLAG_BOOL, &g_srv.cfg.no_web, NULL,
     "do not serve the test page (/ and its files) nor /privacy", "false", 0, 0, 0},
    {"cert", 0, NP_FLAG_STRING, &g_srv.cfg.cert, "FILE", "TLS certificate chain (PEM)", NULL, 0, 0,
     0},
    {"key", 0, NP_FLAG_STRING, &g_srv.cfg.key, "FILE", "TLS private key (PEM)", NULL, 0, 0, 0},
    {"tls-self-signed", 0, NP_FLAG_BOOL, &g_srv.cfg.tls_self_signed, NULL,
     "generate an in-memory self-signed certificate (local use only)", "false", 0, 0, 0},
    {"datadir", 0, NP_FLAG_STRING, &g_srv.cfg.datadir, "DIR", "spool directory for result files",
     "/var/spool/netpulse", 0, 0, 0},
    {"uuid-prefix-file", 0, NP_FLAG_STRING, &g_srv.cfg.uuid_prefix_file, "FILE",
     "file holding M-Lab's socket UUID prefix", NP_UUID_PREFIX_FILE_DEFAULT, 0, 0, 0},
    {"label", 0, NP_FLAG_LIST, &g_srv.cfg.labels, "K=V",
     "server metadata added to every result (repeatable)", NULL, 0, 0, 0},
    {"health-addr", 0, NP_FLAG_STRING, &g_srv.cfg.health_addr, "ADDR",
     "listen address for GET /health (empty disables)", "127.0.0.1:8000", 0, 0, 0},
    {"header-timeout-ms", 0, NP_FLAG_INT, &g_srv.cfg.header_timeout_ms, "MS",
     "time a client gets for the TLS handshake and request head", "10000", 100, 600000, 0},
    {"max-conns", 0, NP_FLAG_INT, &g_srv.cfg.max_conns, "N",
     "ndt7 connections open at once, tests included, before the listeners pause (0 = what "
     "the fd limit leaves after a reserve, at most 4096)",
     "0", 0, 1000000, 0},
    {"prometheus-addr", 0, NP_FLAG_STRING, &g_srv.cfg.prometheus_addr, "ADDR",
     "listen address for Prometheus GET /metrics (empty disables)", ":9990", 0, 0, 0},
    {"max-concurrent-tests", 0, NP_FLAG_INT, &g_srv.cfg.max_concurrent_tests, "N",
     "tests running at once before new ones get 503 (0 = 65536)", "1000", 0,
     NP_ADMIT_MAX_CONCURRENT, 0},
    {"max-tests-per-client", 0, NP_FLAG_INT, &g_srv.cfg.max_tests_per_client, "N",
     "tests one client IP may run at once (0 = no limit)", "0", 0, NP_ADMIT_MAX_CONCURRENT, 0},
    {"tx-max-rate", 0, NP_FLAG_INT, &g_srv.cfg.tx_max_rate, "BITS/S",
     "refuse downloads while the smoothed transmit rate is above this (0 = off; k/M/G)", "0", 0,
     1000000000000000LL, 0},
    {"tx-device", 0, NP_FLAG_STRING, &g_srv.cfg.tx_device, "DEV",
     "network device whose /proc/net/dev TX bytes feed the rate and budget (empty: "
     "netpulse's own socket byte counters)",
     "", 0, 0, 0},
    {"bandwidth-budget", 0, NP_FLAG_INT, &g_srv.cfg.bandwidth_budget, "BITS/S",
     "average transmit rate over --budget-window that admission keeps to (0 = off; k/M/G)", "0", 0,
     1000000000000000LL, 0},
    {"budget-window", 0, NP_FLAG_INT, &g_srv.cfg.budget_window_s, "SECONDS",
     "window the bandwidth budget is averaged over", "300", 1, NP_ADMIT_MAX_WINDOW_S, 0},
    {"budget-test-bytes", 0, NP_FLAG_INT, &g_srv.cfg.budget_test_bytes, "BYTES",
     "transmit bytes reserved for (and allowed to) each download under a budget", "125M", 1,
     1000000000000000LL, 0},
    {"spool-max-bytes", 0, NP_FLAG_INT, &g_srv.cfg.spool_max_bytes, "BYTES",
     "refuse tests while the spool directory holds more than this (0 = no quota; k/M/G)", "18G", 0,
     1000000000000000000LL, 0},
    {"spool-scan-interval", 0, NP_FLAG_INT, &g_srv.cfg.spool_scan_interval_s, "SECONDS",
     "how often the spool's size is measured again (files the uploader removed)", "30", 1, 86400,
     0},
    {"token-verify-key", 0, NP_FLAG_LIST, &g_srv.cfg.token_verify_keys, "FILE",
     "JWK or JWK Set file of Locate's token keys (repeatable; none: tokens ignored)", NULL, 0, 0,
     0},
    {"token-machine", 0, NP_FLAG_STRING, &g_srv.cfg.token_machine, "NAME",
     "this machine's name, required in a token's aud", NULL, 0, 0, 0},
    {"token-required", 0, NP_FLAG_STRING, &g_srv.cfg.token_required, "TYPES",
     "comma list of test types that need a valid access_token (ndt7)", "", 0, 0, 0},
    {"drain-timeout", 0, NP_FLAG_INT, &g_srv.cfg.drain_timeout_s, "SECONDS",
     "after SIGTERM, exit at the latest after this long", "30", 0, 3600, 0},
    {"lame-duck-min", 0, NP_FLAG_INT, &g_srv.cfg.lame_duck_min_s, "SECONDS",
     "after SIGTERM, stay in lame duck (health 500, new tests 503) at least this long, also "
     "when idle, so that Locate sees it (at most --drain-timeout)",
     "0", 0, 3600, 0},
    {"log-level", 0, NP_FLAG_STRING, &g_srv.cfg.log_level, "LEVEL", "debug, info, warn or error",
     "info", 0, 0, 0},
};
#define NFLAGS (sizeof kFlags / sizeof kFlags[0])

static void usage(FILE *f) {
  fprintf(f, "Usage: netpulse-server [flags]\n"
             "\n"
             "Serves ndt7 throughput tests (ws:// and wss:// on /ndt/v7/download and\n"
             "/ndt/v7/upload) and responsiveness measurements (HTTP/2 and HTTP/1.1, config\n"
             "at /.well-known/nq) on the same front doors, with a browser test page at /,\n"
             "and writes one result file per test into the spool directory, the way\n"
             "M-Lab's uploaders expect.\n"
             "Every flag can also be set with the environment variable shown in brackets.\n"
             "\n"
             "       netpulse-server healthcheck [--url URL]\n"
             "\n"
             "Probes the health endpoint (default http://<--health-addr>/health) and\n"
             "exits 0 when it answers 200, or 503 (alive, refusing tests while its\n"
             "spool cannot be written), 1 otherwise (for liveness probes).\n"
             "\nFlags:\n");
  np_flags_usage(f, kFlags, NFLAGS, ENV_PREFIX);
  fprintf(f, "  %-34s %s\n", "-h, --help", "show this help");
}

void np_server_maybe_exit(np_server *s) {
  if (!s->draining || s->lame_duck_held) return;
  if (s->active_tests == 0 && s->pending_writes == 0) {
    np_log(NP_LOG_INFO, "drained, exiting", NULL);
    uv_stop(s->loop);
  }
}

static void on_drain_timeout(uv_timer_t *t) {
  np_server *s = t->data;
  np_log(NP_LOG_WARN, "drain timeout, exiting", "active_tests=%llu pending_writes=%llu",
         (unsigned long long)s->active_tests, (unsigned long long)s->pending_writes);
  uv_stop(s->loop);
}

/* Locate keeps sending clients until its heartbeat has seen the 500: an
 * idle server that left at once would turn them away with connection
 * errors instead of a 503 they can retry elsewhere. */
static void on_lame_duck_min(uv_timer_t *t) {
  np_server *s = t->data;
  s->lame_duck_held = 0;
  np_log(NP_LOG_INFO, "minimum lame-duck time over", "active_tests=%llu",
         (unsigned long long)s->active_tests);
  np_server_maybe_exit(s);
}

static void on_term(uv_signal_t *h, int signum) {
  np_server *s = h->data;
  if (++s->terms > 1 || signum == SIGINT) {
    /* Files in flight are safe: a staging name is renamed into place only
     * when complete, and leftovers are recovered at the next start. */
    np_log(NP_LOG_WARN, "second signal, exiting now", NULL);
    uv_stop(s->loop);
    return;
  }
  s->draining = 1;
  np_server_set_lame_duck(s);
  np_log(NP_LOG_INFO, "lame duck: refusing new tests, finishing running ones", "active_tests=%llu",
         (unsigned long long)s->active_tests);
  (void)uv_timer_start(&s->drain_timer, on_drain_timeout, (uint64_t)s->cfg.drain_timeout_s * 1000,
                       0);
  if (s->cfg.lame_duck_min_s > 0) {
    s->lame_duck_held = 1;
    (void)uv_timer_start(&s->lame_duck_timer, on_lame_duck_min,
                         (uint64_t)s->cfg.lame_duck_min_s * 1000, 0);
  }
  np_server_maybe_exit(s);
}

/* ALPN the TLS front door offers: h2 for responsiveness, http/1.1 for
 * ndt7's WebSockets (browsers open those with http/1.1 only). */
static const char *const *alpn_list(const np_server *s) {
  static const char *const both[] = {"h2", "http/1.1", NULL};
  static const char *const h1[] = {"http/1.1", NULL};
  return s->cfg.no_rpm ? h1 : both;
}

static void on_hup(uv_signal_t *h, int signum) {
  np_server *s = h->data;
  (void)signum;
  char err[256] = "";
  if (np_server_reload_keys(s, err, sizeof err) < 0)
    np_log(NP_LOG_ERROR, "token key reload failed, keeping the old keys", "err=\"%s\"", err);
  else if (s->keys)
    np_log(NP_LOG_INFO, "token keys reloaded", "keys=%zu", np_jwt_keyset_count(s->keys));
  if (!s->tls || s->cfg.tls_self_signed) return;
  np_tls_server_opts o = {.cert_file = s->cfg.cert, .key_file = s->cfg.key, .alpn = alpn_list(s)};
  if (np_tls_server_reload(s->tls, &o, err, sizeof err) < 0)
    np_log(NP_LOG_ERROR, "TLS reload failed, keeping the old certificate", "err=\"%s\"", err);
  else
    np_log(NP_LOG_INFO, "TLS certificate reloaded", NULL);
}

static json_t *labels_json(const np_flag_list *l, char *err, size_t errcap) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < l->n; i++) {
    const char *eq = strchr(l->items[i], '=');
    if (!eq || eq == l->items[i]) {
      (void)snprintf(err, errcap, "invalid --label \"%s\": want KEY=VALUE", l->items[i]);
      json_decref(a);
      return NULL;
    }
    json_t *name = json_stringn(l->items[i], (size_t)(eq - l->items[i]));
    json_t *val = json_string(eq + 1);
    if (!name || !val) {
      json_decref(name);
      json_decref(val);
      (void)snprintf(err, errcap, "invalid --label \"%s\": not UTF-8", l->items[i]);
      json_decref(a);
      return NULL;
    }
    (void)json_array_append_new(a, json_pack("{s:o,s:o}", "Name", name, "Value", val));
  }
  return a;
}

static int open_listener(np_server *s, const char *addr, np_accept_cb cb, const char *what,
                         np_listener **ret) {
  if (!addr || !*addr) return 0;
  int rc = np_listener_open(s->loop, addr, cb, s, ret);
  if (rc < 0) {
    fprintf(stderr, "netpulse-server: cannot listen on %s for %s: %s\n", addr, what,
            np_strerror(rc));
    return rc;
  }
  np_log(NP_LOG_INFO, "listening", "proto=%s addr=%s port=%d", what, addr, np_listener_port(*ret));
  return 0;
}

static int setup(np_server *s) {
  char err[512] = "";
  if (np_metrics_setup(s) < 0) {
    fprintf(stderr, "netpulse-server: cannot set up metrics\n");
    return 1;
  }
  s->server_metadata = labels_json(&s->cfg.labels, err, sizeof err);
  if (!s->server_metadata) {
    fprintf(stderr, "netpulse-server: %s\n", err);
    return 2;
  }
  int rc = np_uuid_prefix_load(s->cfg.uuid_prefix_file, s->uuid_prefix, sizeof s->uuid_prefix);
  if (rc < 0) {
    fprintf(stderr, "netpulse-server: cannot read UUID prefix from %s: %s\n",
            s->cfg.uuid_prefix_file, np_strerror(rc));
    return 1;
  }
  if (rc == 1)
    np_log(NP_LOG_WARN, "no UUID prefix file, using an unsafe fallback", "prefix=%s",
           s->uuid_prefix);
  rc = np_spool_open(s->cfg.datadir, &s->spool);
  if (rc < 0) {
    fprintf(stderr, "netpulse-server: cannot use datadir %s: %s\n", s->cfg.datadir,
            np_strerror(rc));
    return 1;
  }
  size_t recovered = 0;
  rc = np_spool_recover(s->spool, "ndt7", &recovered);
  if (rc < 0)
    np_log(NP_LOG_ERROR, "spool recovery failed", "err=\"%s\"", np_strerror(rc));
  else if (recovered)
    np_log(NP_LOG_INFO, "recovered complete files left by a crash", "count=%zu", recovered);
  /* The day directories exist before the first rename into them, so a
   * recursive watcher has its watch in place in time. */
  (void)np_spool_prepare(s->spool, "ndt7", np_wall_ns());
  np_server_spool_setup(s);
  np_server_admission_start(s);
  if (s->cfg.https_addr && *s->cfg.https_addr) {
    np_tls_server_opts o = {.cert_file = s->cfg.cert,
                            .key_file = s->cfg.key,
                            .self_signed = s->cfg.tls_self_signed,
                            .alpn = alpn_list(s)};
    rc = np_tls_server_new(&o, &s->tls, err, sizeof err);
    if (rc < 0) {
      fprintf(stderr, "netpulse-server: %s (or disable TLS with --https-addr=\"\")\n", err);
      return 2;
    }
  }
  s->payload = malloc(NP_NDT7_MAX_SENT_MESSAGE);
  if (!s->payload || np_random_bytes(s->payload, NP_NDT7_MAX_SENT_MESSAGE) < 0) return 1;
  s->ndt7.payload = s->payload;
  s->ndt7.server_metadata = s->server_metadata;
  rc = np_server_rpm_setup(s);
  if (rc < 0) {
    fprintf(stderr, "netpulse-server: cannot set up the responsiveness test: %s\n",
            np_strerror(rc));
    return 1;
  }
  if (np_server_routes_setup(s) < 0) return 2;
  if (open_listener(s, s->cfg.http_addr, np_front_accept_ndt7, "ndt7+ws", &s->ndt7_plain) < 0 ||
      open_listener(s, s->cfg.https_addr, np_front_accept_ndt7, "ndt7+wss", &s->ndt7_tls) < 0 ||
      open_listener(s, s->cfg.health_addr, np_front_accept_health, "health", &s->health) < 0 ||
      open_listener(s, s->cfg.prometheus_addr, np_front_accept_metrics, "prometheus",
                    &s->prometheus) < 0)
    return 1;
  if (!s->ndt7_plain && !s->ndt7_tls) {
    fprintf(stderr, "netpulse-server: no front door (--http-addr and --https-addr are empty)\n");
    return 2;
  }
  /* Responsiveness shares the front doors (one line each, for tools that
   * read the ports from the log). */
  static const char *const protos[2][2] = {{"rpm+h2c", "rpm+h1c"}, {"rpm+h2", "rpm+h1"}};
  for (int tls = 0; tls < 2 && !s->cfg.no_rpm; tls++) {
    np_listener *l = tls ? s->ndt7_tls : s->ndt7_plain;
    for (int i = 0; l && i < 2; i++)
      np_log(NP_LOG_INFO, "listening", "proto=%s addr=%s port=%d", protos[tls][i],
             tls ? s->cfg.https_addr : s->cfg.http_addr, np_listener_port(l));
  }
  if (s->web_on)
    np_log(NP_LOG_INFO, "serving the test page", "from=%s",
           s->cfg.web_dir && *s->cfg.web_dir ? s->cfg.web_dir : "(built in)");
  return 0;
}

int main(int argc, char **argv) {
  np_server *s = &g_srv;
  /* Defaults come from kFlags (np_flags_parse applies them). */
  char err[512] = "";
  int first = 0;
  int rc = np_flags_parse(kFlags, NFLAGS, argc, argv, ENV_PREFIX, &first, err, sizeof err);
  if (rc == 1) {
    usage(stdout);
    return 0;
  }
  if (rc < 0) {
    fprintf(stderr, "netpulse-server: %s\n", err);
    return 2;
  }
  if (first < argc) {
    if (strcmp(argv[first], "healthcheck") == 0)
      return np_healthcheck_main(argc - first, argv + first, s->cfg.health_addr);
    if (strcmp(argv[first], "version") == 0) {
      printf("netpulse-server %s (%s)\n", NP_VERSION, NP_GIT_COMMIT);
      return 0;
    }
    fprintf(stderr, "netpulse-server: unexpected argument \"%s\" (see --help)\n", argv[first]);
    return 2;
  }
  /* The older flag names win when given. */
  if (s->cfg.ndt7_addr_cleartext) s->cfg.http_addr = s->cfg.ndt7_addr_cleartext;
  if (s->cfg.ndt7_addr) s->cfg.https_addr = s->cfg.ndt7_addr;
  if (np_log_set_level(s->cfg.log_level) < 0) {
    fprintf(stderr, "netpulse-server: invalid --log-level \"%s\"\n", s->cfg.log_level);
    return 2;
  }
  if (s->cfg.lame_duck_min_s > s->cfg.drain_timeout_s) {
    fprintf(stderr, "netpulse-server: --lame-duck-min (%lld s) exceeds --drain-timeout (%lld s)\n",
            s->cfg.lame_duck_min_s, s->cfg.drain_timeout_s);
    return 2;
  }
  (void)signal(SIGPIPE, SIG_IGN);
  s->loop = uv_default_loop();
  rc = np_server_admission_setup(s);
  if (rc != 0) return rc;
  rc = setup(s);
  if (rc != 0) return rc;
  if (np_server_conn_budget_setup(s) < 0) return 2;
  (void)uv_timer_init(s->loop, &s->drain_timer);
  s->drain_timer.data = s;
  uv_unref((uv_handle_t *)&s->drain_timer);
  (void)uv_timer_init(s->loop, &s->lame_duck_timer);
  s->lame_duck_timer.data = s;
  (void)uv_signal_init(s->loop, &s->sigterm);
  (void)uv_signal_init(s->loop, &s->sigint);
  (void)uv_signal_init(s->loop, &s->sighup);
  s->sigterm.data = s->sigint.data = s->sighup.data = s;
  (void)uv_signal_start(&s->sigterm, on_term, SIGTERM);
  (void)uv_signal_start(&s->sigint, on_term, SIGINT);
  (void)uv_signal_start(&s->sighup, on_hup, SIGHUP);
  np_log(NP_LOG_INFO, "netpulse-server started", "version=%s commit=%s datadir=%s", NP_VERSION,
         NP_GIT_COMMIT, s->cfg.datadir);
  (void)uv_run(s->loop, UV_RUN_DEFAULT);
  /* Files the spool never took are counted and logged, not dropped unseen. */
  np_server_spool_abandon(s);
  return s->exit_code;
}
