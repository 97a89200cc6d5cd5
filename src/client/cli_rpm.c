/* netpulse rpm: the responsiveness test from the command line (flags for
 * every parameter of the draft, consent, progress, human or JSON output),
 * and the RPM part of the plain `netpulse` run. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "client/cli.h"
#include "client/lib/rpm_client.h"
#include "core/error.h"
#include "core/flags.h"
#include "core/version.h"

#define PROG "netpulse rpm"
#define usage_error(...) np_cli_usage_error(PROG, __VA_ARGS__)

typedef struct {
  const char *server, *config_url, *scheme, *ca_file, *format;
  const char *interval, *max_duration, *idle, *tmp, *sdt, *mps, *ptc;
  long long mad, max_flows, max_conns, timeout_s;
  int no_verify, ipv4, ipv6, parallel, download, upload, json, verbose, quiet, accept, no_send;
} rpm_flags;

static rpm_flags g_r;

static const np_flag kRpmFlags[] = {
    {"server", 0, NP_FLAG_STRING, &g_r.server, "HOST[:PORT]",
     "netpulse (or any draft-09) server: its config is https://HOST:PORT/.well-known/nq "
     "(http:// with --scheme http)",
     NULL, 0, 0, 0},
    {"config-url", 0, NP_FLAG_STRING, &g_r.config_url, "URL",
     "the server's config URL instead of --server (http:// means h2c)", NULL, 0, 0, 0},
    {"scheme", 0, NP_FLAG_STRING, &g_r.scheme, "https|http",
     "with --server: HTTP/2 over TLS (https) or cleartext h2c (http; ws/wss also accepted)",
     "https", 0, 0, 0},
    {"no-verify", 0, NP_FLAG_BOOL, &g_r.no_verify, NULL,
     "do not verify TLS certificates (test servers only)", "false", 0, 0, 0},
    {"ca-file", 0, NP_FLAG_STRING, &g_r.ca_file, "FILE",
     "also trust the CA certificates in this PEM file", NULL, 0, 0, 0},
    {"ipv4", '4', NP_FLAG_BOOL, &g_r.ipv4, NULL, "use IPv4 only", "false", 0, 0, 0},
    {"ipv6", '6', NP_FLAG_BOOL, &g_r.ipv6, NULL, "use IPv6 only", "false", 0, 0, 0},
    {"parallel", 0, NP_FLAG_BOOL, &g_r.parallel, NULL,
     "load both directions at once instead of download, then upload", "false", 0, 0, 0},
    {"download", 0, NP_FLAG_BOOL, &g_r.download, NULL,
     "the download phase alone (after idle latency)", "false", 0, 0, 0},
    {"upload", 0, NP_FLAG_BOOL, &g_r.upload, NULL, "the upload phase alone (after idle latency)",
     "false", 0, 0, 0},
    {"rpm-interval", 0, NP_FLAG_STRING, &g_r.interval, "DURATION",
     "ID: interval between flow additions and stability checks", "1s", 0, 0, 0},
    {"rpm-mad", 0, NP_FLAG_INT, &g_r.mad, "N", "MAD: intervals in a moving average", "4", 1, 64, 0},
    {"rpm-tmp", 0, NP_FLAG_STRING, &g_r.tmp, "FRACTION",
     "TMP: share of probes the trimmed mean keeps (the slowest are dropped)", "0.95", 0, 0, 0},
    {"rpm-sdt", 0, NP_FLAG_STRING, &g_r.sdt, "FRACTION",
     "SDT: stable when the moving averages' std-dev is under this share of the mean", "0.05", 0, 0,
     0},
    {"rpm-mps", 0, NP_FLAG_STRING, &g_r.mps, "N", "MPS: probes per second at most", "100", 0, 0, 0},
    {"rpm-ptc", 0, NP_FLAG_STRING, &g_r.ptc, "FRACTION",
     "PTC: probe traffic at most this share of the load traffic", "0.05", 0, 0, 0},
    {"rpm-max-flows", 0, NP_FLAG_INT, &g_r.max_flows, "N", "load connections per direction at most",
     "16", 1, 64, 0},
    {"rpm-max-duration", 0, NP_FLAG_STRING, &g_r.max_duration, "DURATION",
     "a loaded phase (download, upload or both) ends after this long", "20s", 0, 0, 0},
    {"rpm-idle-duration", 0, NP_FLAG_STRING, &g_r.idle, "DURATION",
     "idle latency probes before any load", "2s", 0, 0, 0},
    {"rpm-max-conns", 0, NP_FLAG_INT, &g_r.max_conns, "N",
     "connections the measurement may open (load flows, probes, config, result)", "200", 3, 10000,
     0},
    {"format", 0, NP_FLAG_STRING, &g_r.format, "human|json", "output on stdout", "human", 0, 0, 0},
    {"json", 0, NP_FLAG_BOOL, &g_r.json, NULL, "same as --format json: one JSON object on stdout",
     "false", 0, 0, 0},
    {"verbose", 'v', NP_FLAG_BOOL, &g_r.verbose, NULL,
     "include every probe's times in the JSON (\"Samples\")", "false", 0, 0, 0},
    {"quiet", 'q', NP_FLAG_BOOL, &g_r.quiet, NULL, "no live progress line", "false", 0, 0, 0},
    {"no-send-results", 0, NP_FLAG_BOOL, &g_r.no_send, NULL,
     "do not send the summary to the server (a POST to the config's result_url, only when it "
     "names the same host and port)",
     "false", 0, 0, 0},
    {"accept-data-policy", 0, NP_FLAG_BOOL, &g_r.accept, NULL,
     "accept netpulse's data policy without asking", "false", 0, 0, 0},
    {"rpm-timeout", 0, NP_FLAG_INT, &g_r.timeout_s, "SECONDS",
     "give up after this long (0: the phases' maximum plus 30 s)", "0", 0, 3600, 0},
};
#define NRPMFLAGS (sizeof kRpmFlags / sizeof kRpmFlags[0])

static void usage(FILE *f) {
  fprintf(f, "Usage: " PROG " --server HOST[:PORT] [flags]\n"
             "\n"
             "Measures responsiveness under working conditions (RPM, IETF\n"
             "draft-ietf-ippm-responsiveness-09) over HTTP/2: first idle latency, then\n"
             "load flows are added each interval (download, then upload; --parallel for\n"
             "both) while foreign probes (new connections) and self probes (on the load\n"
             "connections) time round trips, until goodput and responsiveness are stable.\n"
             "RPM is round trips per minute: 60000 / milliseconds. Bands: Poor < 300,\n"
             "Fair < 1000, Good < 6000, Excellent >= 6000.\n"
             "\n");
  np_cli_print_policy(f);
  fprintf(f, "\nOutput: the result on stdout (human, or one JSON object with --json);\n"
             "live progress on stderr when it is a terminal.\n"
             "Exit status: 0 when the test produced a result, 1 when it failed, 2 for usage\n"
             "errors or when the data policy was not accepted, 130 when interrupted. A\n"
             "server that ends a phase's load at its transmit allowance (HTTP/2 GOAWAY)\n"
             "leaves that phase with what it measured, Low confidence and a note: 0 when\n"
             "probes completed, else 1 with that cause.\n"
             "\nFlags (each can also be set with the environment variable in brackets):\n");
  np_flags_usage(f, kRpmFlags, NRPMFLAGS, NP_CLI_ENV_PREFIX);
  fprintf(f, "  %-34s %s\n", "-h, --help", "show this help");
  fprintf(f, "\nExamples:\n"
             "  " PROG " --server rpm.example.net --accept-data-policy\n"
             "  " PROG " --server 127.0.0.1:8080 --scheme http --json --rpm-max-duration 8s\n");
}

/* "1s", "250ms", "1.5s", "2m", or plain seconds; into ms, > 0. */
int np_cli_parse_duration_ms(const char *s, uint64_t *ret) {
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || !isfinite(v) || v <= 0) return NP_E_BADARG;
  double mult = 1000;
  if (strcmp(end, "ms") == 0)
    mult = 1;
  else if (strcmp(end, "m") == 0)
    mult = 60000;
  else if (strcmp(end, "s") != 0 && *end)
    return NP_E_BADARG;
  double ms = v * mult;
  if (ms < 1 || ms > 3600e3) return NP_E_BADARG;
  *ret = (uint64_t)ms;
  return 0;
}

static int parse_fraction(const char *s, double lo, double hi, double *ret) {
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) return NP_E_BADARG;
  *ret = v;
  return 0;
}

/* ---- running ------------------------------------------------------------- */

typedef struct {
  uv_loop_t *loop;
  np_rpm_client *client;
  int json, progress, verbose;
  json_t *samples;
  np_rpm_result res;
  int have_res, interrupted;
  uv_signal_t sigint, sigterm;
} rpm_app;

static void on_progress(void *ud, const np_rpm_progress *p) {
  rpm_app *a = ud;
  char line[200];
  if (a->progress && np_cli_rpm_progress_format(line, sizeof line, p) > 0)
    np_cli_progress_draw(stderr, line);
}

static void on_probe(void *ud, const np_rpm_probe_sample *s) {
  rpm_app *a = ud;
  if (a->samples && json_array_size(a->samples) < 100000)
    (void)json_array_append_new(a->samples, np_cli_rpm_sample_json(s));
}

static void on_done(void *ud, const np_rpm_result *r) {
  rpm_app *a = ud;
  a->client = NULL;
  a->res = *r;
  a->have_res = 1;
  if (a->progress) np_cli_progress_draw(stderr, NULL);
  uv_close((uv_handle_t *)&a->sigint, NULL);
  uv_close((uv_handle_t *)&a->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  rpm_app *a = h->data;
  if (a->interrupted) _exit(128 + signum);
  a->interrupted = 1;
  if (a->progress) np_cli_progress_draw(stderr, NULL);
  fprintf(stderr, "netpulse: interrupted, stopping (again to quit at once)\n");
  if (a->client) np_rpm_client_cancel(a->client);
}

static const char *hint_for(const np_rpm_result *r, int verify) {
  if (r->error == NP_E_TLS_PLAINTEXT)
    return "the server answered in cleartext: run again with --scheme http (h2c)";
  if (r->error == NP_E_TLS && verify)
    return "the TLS handshake failed; pass the server's CA with --ca-file FILE (or, for a "
           "test server only, --no-verify)";
  if (r->error == NP_E_REFUSED) {
    static char buf[200];
    return np_cli_refused_hint(r->error_text, r->retry_after_s,
                               r->retry_after_s > 0 ? "the server is busy"
                                                    : "the server is busy or refused the test",
                               buf, sizeof buf);
  }
  if (r->error == -ECONNREFUSED || (r->error == -EBADF && !r->server_ip[0]))
    return "nothing accepts connections there; check the host and port";
  if (r->not_offered)
    return "this server does not offer the responsiveness test (no HTTP/2 RPM config there)";
  /* It answered the config: it offers RPM, and then failed it. */
  if (r->error == NP_E_PROTO && r->measuring)
    return "the server answered the RPM config, then broke HTTP/2 during the measurement (the "
           "cause is above): its HTTP/2 is broken or hostile; test against another server";
  if (r->error == NP_E_PROTO &&
      (strstr(r->error_text, "broke HTTP/2") || strstr(r->error_text, "over 16 KiB")))
    return "the server's HTTP/2 is broken or hostile; test against another server";
  if (r->error == NP_E_PROTO)
    return "the server does not speak HTTP/2 responsiveness there (is it a netpulse server "
           "with RPM enabled?)";
  if (r->error == NP_E_TIMEOUT) return "the test did not finish in time";
  if (r->error == NP_E_CLOSED && strcmp(r->protocol, "h2c") == 0)
    return "the server hung up on cleartext HTTP/2: if this is its TLS port, leave out "
           "--scheme http";
  return NULL;
}

/* The start of the engine's text for a config URL that is 404. */
static const char kNotOffered[] = "the server does not offer RPM: ";

int np_cli_rpm_run(uv_loop_t *loop, const np_rpm_options *o, int json, int verbose, int quiet,
                   int optional, json_t **ret_json) {
  rpm_app a;
  memset(&a, 0, sizeof a);
  a.loop = loop;
  a.json = json;
  a.verbose = verbose;
  a.progress = !quiet && isatty(STDERR_FILENO);
  if (json && verbose) a.samples = json_array();
  (void)uv_signal_init(loop, &a.sigint);
  (void)uv_signal_init(loop, &a.sigterm);
  a.sigint.data = a.sigterm.data = &a;
  (void)uv_signal_start(&a.sigint, on_signal, SIGINT);
  (void)uv_signal_start(&a.sigterm, on_signal, SIGTERM);
  np_rpm_callbacks cbs = {on_progress, on_probe, on_done};
  int rc = np_rpm_client_start(loop, o, &cbs, &a, &a.client);
  if (rc < 0) {
    uv_close((uv_handle_t *)&a.sigint, NULL);
    uv_close((uv_handle_t *)&a.sigterm, NULL);
    memset(&a.res, 0, sizeof a.res);
    a.res.error = rc;
    (void)snprintf(a.res.error_text, sizeof a.res.error_text, "cannot start the test: %s",
                   np_strerror(rc));
  }
  (void)uv_run(loop, UV_RUN_DEFAULT);
  const np_rpm_result *r = &a.res;
  const char *failure = NULL;
  char text[300];
  if (r->error) {
    (void)snprintf(text, sizeof text, "%s", a.interrupted ? "interrupted" : r->error_text);
    failure = text;
  } else if (!(r->rpm > 0)) {
    char note[160];
    failure = "no probe completed: no RPM could be computed";
    if (np_cli_rpm_server_note(r, note, sizeof note)) {
      (void)snprintf(text, sizeof text, "%s before any probe completed: no RPM could be computed",
                     note);
      failure = text;
    }
  }
  const char *hint = r->error ? hint_for(r, o->verify_tls) : NULL;
  /* After ndt7, a server without RPM (every M-Lab ndt-server today) is not
   * a failed part: one line says so. Only a server that offers RPM and
   * then fails it counts. */
  if (optional && r->not_offered && !a.interrupted) {
    if (json && ret_json)
      *ret_json = json_pack("{s:b,s:s}", "NotOffered", 1, "Note", r->error_text);
    else if (!json)
      fprintf(stdout, "  %16s: not offered by this server (%s)\n", "Responsiveness",
              strncmp(r->error_text, kNotOffered, strlen(kNotOffered)) == 0
                  ? r->error_text + strlen(kNotOffered)
                  : r->error_text);
    json_decref(a.samples);
    return 0;
  }
  if (json) {
    json_t *j = np_cli_rpm_json(r, a.samples, failure, hint);
    if (ret_json) {
      *ret_json = j;
    } else {
      (void)np_cli_print_json_line(stdout, j);
      json_decref(j);
    }
  } else {
    np_cli_rpm_print_human(stdout, r, failure, hint);
  }
  json_decref(a.samples);
  if (a.interrupted) return 130;
  return failure ? 1 : 0;
}

/* The draft's parameters from the flags (or their environment
 * variables): 0, or the usage exit status after saying what is wrong. */
static int params_from_flags(np_rpm_options *o) {
  if (np_cli_parse_duration_ms(g_r.interval, &o->interval_ms) < 0 || o->interval_ms < 10)
    return usage_error("invalid --rpm-interval \"%s\"", g_r.interval);
  if (np_cli_parse_duration_ms(g_r.max_duration, &o->max_duration_ms) < 0 ||
      o->max_duration_ms < o->interval_ms)
    return usage_error("invalid --rpm-max-duration (at least one interval) \"%s\"",
                       g_r.max_duration);
  if (o->max_duration_ms / o->interval_ms >= NP_RPM_MAX_INTERVALS)
    return usage_error("--rpm-max-duration holds too many intervals: at most 1000 \"%s\"",
                       g_r.max_duration);
  if (np_cli_parse_duration_ms(g_r.idle, &o->idle_ms) < 0)
    return usage_error("invalid --rpm-idle-duration \"%s\"", g_r.idle);
  if (parse_fraction(g_r.tmp, 0.5, 1, &o->tmp) < 0)
    return usage_error("invalid --rpm-tmp (0.5..1) \"%s\"", g_r.tmp);
  if (parse_fraction(g_r.sdt, 0.001, 1, &o->sdt) < 0)
    return usage_error("invalid --rpm-sdt (0.001..1) \"%s\"", g_r.sdt);
  if (parse_fraction(g_r.mps, 1, 10000, &o->mps) < 0)
    return usage_error("invalid --rpm-mps (1..10000) \"%s\"", g_r.mps);
  if (parse_fraction(g_r.ptc, 0.001, 1, &o->ptc) < 0)
    return usage_error("invalid --rpm-ptc (0.001..1) \"%s\"", g_r.ptc);
  o->mad = (uint32_t)g_r.mad;
  o->max_flows = (uint32_t)g_r.max_flows;
  o->max_conns = (uint32_t)g_r.max_conns;
  o->timeout_ms = (uint64_t)g_r.timeout_s * 1000;
  return 0;
}

int np_cli_rpm_env_params(np_rpm_options *o) {
  /* The environment alone: no arguments, so no usage and no stray ones. */
  char *argv[] = {"netpulse", NULL};
  int rc = np_cli_parse_flags("netpulse", kRpmFlags, NRPMFLAGS, 1, argv, NULL);
  return rc >= 0 ? rc : params_from_flags(o);
}

int np_cli_rpm_main(int argc, char **argv) {
  int rc = np_cli_parse_flags(PROG, kRpmFlags, NRPMFLAGS, argc, argv, usage);
  if (rc >= 0) return rc;
  np_rpm_options o;
  memset(&o, 0, sizeof o);
  if (!g_r.server && !g_r.config_url)
    return usage_error("needs --server HOST[:PORT] or --config-url URL: M-Lab's Locate does not "
                       "list netpulse RPM servers yet");
  if (g_r.server && g_r.config_url)
    return usage_error("--server and --config-url exclude each other");
  const char *sc = g_r.scheme;
  if (strcmp(sc, "https") != 0 && strcmp(sc, "http") != 0 && strcmp(sc, "wss") != 0 &&
      strcmp(sc, "ws") != 0)
    return usage_error("invalid --scheme \"%s\"", sc);
  if (strcmp(g_r.format, "human") != 0 && strcmp(g_r.format, "json") != 0)
    return usage_error("invalid --format \"%s\"", g_r.format);
  rc = np_cli_family(PROG, g_r.ipv4, g_r.ipv6, &o.family);
  if (rc == 0) rc = np_cli_check_ca_file(PROG, g_r.ca_file);
  if (rc != 0) return rc;
  rc = params_from_flags(&o);
  if (rc != 0) return rc;
  o.server = g_r.server;
  o.config_url = g_r.config_url;
  o.tls = strcmp(sc, "https") == 0 || strcmp(sc, "wss") == 0;
  o.verify_tls = !g_r.no_verify;
  o.ca_file = g_r.ca_file;
  o.parallel = g_r.parallel;
  if (g_r.parallel && (g_r.download || g_r.upload))
    return usage_error("--parallel loads both directions: drop --download/--upload");
  o.download_only = g_r.download && !g_r.upload;
  o.upload_only = g_r.upload && !g_r.download;
  o.no_send_result = g_r.no_send;
  rc = np_cli_consent(g_r.accept);
  if (rc != 0) return rc;
  (void)signal(SIGPIPE, SIG_IGN);
  uv_loop_t *loop = uv_default_loop();
  int json = g_r.json || strcmp(g_r.format, "json") == 0;
  rc = np_cli_rpm_run(loop, &o, json, g_r.verbose, g_r.quiet, 0, NULL);
  (void)uv_loop_close(loop);
  return rc;
}
