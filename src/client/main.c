/* netpulse: the ndt7 command-line client (flags, consent, Locate, tests, output). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "client/cli.h"
#include "client/lib/locate.h"
#include "core/error.h"
#include "core/flags.h"
#include "core/version.h"
#include "netpulse/ndt7.h"

#define PROG "netpulse"
#define usage_error(...) np_cli_usage_error(PROG, __VA_ARGS__)

/* Measurement events: an honest server sends one about every 250 ms and
 * our own ticks come as often, so a test of at most --timeout (600 s)
 * writes a few thousand at most. A server that sends them as fast as it
 * can would otherwise fill stdout (hundreds of MB in seconds): each origin
 * gets one event per MIN_EVENT_GAP_MS and a test MAX_EVENTS in all; the
 * summary counts what was dropped. */
#define MIN_EVENT_GAP_MS 200
#define MAX_EVENTS 1000
/* A Locate candidate is replaced by the next only with this much left. */
#define MIN_ATTEMPT_MS 1000

typedef struct {
  const char *server;
  const char *scheme;
  const char *ca_file;
  const char *format;
  const char *locate_url;
  const char *client_name;
  int no_verify, download, upload, ipv4, ipv6, accept, quiet, version, no_rpm;
  long long timeout_s;
} cli_flags;

static cli_flags g_f;

static const np_flag kFlags[] = {
    {"server", 0, NP_FLAG_STRING, &g_f.server, "HOST[:PORT]",
     "test against this ndt7 server instead of asking Locate; IPv6 as [addr]:port; "
     "port defaults to 443 (wss) or 80 (ws)",
     NULL, 0, 0, 0},
    {"scheme", 0, NP_FLAG_STRING, &g_f.scheme, "ws|wss",
     "WebSocket scheme: wss (TLS) or ws (cleartext)", "wss", 0, 0, 0},
    {"no-verify", 0, NP_FLAG_BOOL, &g_f.no_verify, NULL,
     "do not verify TLS certificates (test servers only)", "false", 0, 0, 0},
    {"ca-file", 0, NP_FLAG_STRING, &g_f.ca_file, "FILE",
     "also trust the CA certificates in this PEM file", NULL, 0, 0, 0},
    {"download", 0, NP_FLAG_BOOL, &g_f.download, NULL,
     "run the download test (without --download/--upload: both)", "false", 0, 0, 0},
    {"upload", 0, NP_FLAG_BOOL, &g_f.upload, NULL,
     "run the upload test (without --download/--upload: both)", "false", 0, 0, 0},
    {"ipv4", '4', NP_FLAG_BOOL, &g_f.ipv4, NULL, "use IPv4 only", "false", 0, 0, 0},
    {"ipv6", '6', NP_FLAG_BOOL, &g_f.ipv6, NULL, "use IPv6 only", "false", 0, 0, 0},
    {"format", 0, NP_FLAG_STRING, &g_f.format, "human|json",
     "output on stdout: a readable summary, or one JSON object per line", "human", 0, 0, 0},
    {"quiet", 'q', NP_FLAG_BOOL, &g_f.quiet, NULL,
     "no live progress; with json, only errors and the summary", "false", 0, 0, 0},
    {"accept-data-policy", 0, NP_FLAG_BOOL, &g_f.accept, NULL,
     "accept netpulse's data policy (summary above) without asking", "false", 0, 0, 0},
    {"locate-url", 0, NP_FLAG_STRING, &g_f.locate_url, "URL",
     "M-Lab Locate v2 URL used without --server (http:// only to a loopback address: "
     "Locate's answer picks the server and carries its access tokens)",
     NP_LOCATE_DEFAULT_URL, 0, 0, 0},
    {"client-name", 0, NP_FLAG_STRING, &g_f.client_name, "NAME",
     "client_name sent with the test (metadata)", "netpulse", 0, 0, 0},
    {"timeout", 0, NP_FLAG_INT, &g_f.timeout_s, "SECONDS",
     "give up on one test (download or upload) after this long, all the servers Locate "
     "offered included: the next one is tried only while time is left",
     "30", 5, 600, 0},
    {"no-rpm", 0, NP_FLAG_BOOL, &g_f.no_rpm, NULL,
     "skip the responsiveness (RPM) test that follows ndt7 (see netpulse rpm --help)", "false", 0,
     0, 0},
    {"version", 0, NP_FLAG_BOOL, &g_f.version, NULL, "print the version and exit", NULL, 0, 0, 1},
};
#define NFLAGS (sizeof kFlags / sizeof kFlags[0])

static void usage(FILE *f) {
  fprintf(f, "Usage: " PROG " [flags]\n"
             "       " PROG " rpm [flags]   (responsiveness alone: " PROG " rpm --help)\n"
             "\n"
             "Measures your Internet connection with M-Lab's ndt7 protocol: a 10-second\n"
             "download and a 10-second upload over one WebSocket connection each, then\n"
             "prints throughput (Mbit/s), minimum round-trip time, round-trip time under\n"
             "load, and TCP retransmissions. Without --server it asks M-Lab's Locate\n"
             "service for the nearest server.\n"
             "\n"
             "Then, against the same server, it measures responsiveness under working\n"
             "conditions (RPM, HTTP/2 over TLS for wss, h2c for ws) with the defaults of\n"
             "" PROG " rpm. RPM needs --server: M-Lab's Locate does not list netpulse\n"
             "servers yet, so without --server the RPM part is skipped (said on stderr).\n"
             "\n");
  np_cli_print_policy(f);
  fprintf(f, "The client sends its name, version, OS and architecture as client_name,\n"
             "client_version, client_library_name, client_library_version, client_os and\n"
             "client_arch. Nothing is sent before you accept: answer yes when asked on a\n"
             "terminal, or pass --accept-data-policy to accept in advance (no prompt).\n"
             "\n"
             "Output: results on stdout (--format human or json); live progress on stderr\n"
             "when it is a terminal. JSON: one event per line ({\"Key\":..,\"Value\":..}),\n"
             "then a summary object in ndt7-client-go's shape plus \"SchemaVersion\".\n"
             "\n"
             "Exit status: the number of failed parts (ndt7 download, upload, RPM; 0 when\n"
             "all passed); 2 for usage errors or when the data policy was not accepted; 130 when "
             "interrupted.\n"
             "\n"
             "Flags (each can also be set with the environment variable in brackets):\n");
  np_flags_usage(f, kFlags, NFLAGS, NP_CLI_ENV_PREFIX);
  fprintf(f, "  %-34s %s\n", "-h, --help", "show this help");
  fprintf(f, "\nExamples:\n"
             "  " PROG " --accept-data-policy\n"
             "  " PROG " --server ndt.example.net --download --format json\n"
             "  " PROG " --server [2001:db8::1]:8080 --scheme ws\n");
}

typedef struct {
  uv_loop_t *loop;
  int json, quiet, progress, verify, family;
  const char *scheme;
  char server_arg[NP_LOCATE_MAX_HOST + 16];
  char server_host[NP_LOCATE_MAX_HOST];
  uint64_t timeout_ms;
  np_cli_meta meta;
  np_cli_summary sum;
  np_locate_list *list;
  size_t srv;
  np_locate_req *locate;
  np_ndt7_client *client;
  int starting, done_in_start;
  int cur;
  unsigned done_mask, started_mask, connected_mask;
  uint64_t last_client_us, last_server_us;
  double last_server_mbps;
  uint64_t test_t0_ms[2];         /* uv_now when a test's first attempt began */
  uint64_t last_event_ms[2];      /* per origin (client, server): JSON rate limit */
  unsigned events[2], dropped[2]; /* per test: measurement events written, dropped */
  uv_timer_t next;
  uv_signal_t sigint, sigterm;
  int interrupted, closing;
} app;

static app g_app;

static void emit(app *a, json_t *j) {
  if (a->json) (void)np_cli_print_json_line(stdout, j);
  json_decref(j);
}

static void close_all(app *a) {
  if (a->closing) return;
  a->closing = 1;
  uv_close((uv_handle_t *)&a->next, NULL);
  uv_close((uv_handle_t *)&a->sigint, NULL);
  uv_close((uv_handle_t *)&a->sigterm, NULL);
}

static void step(uv_timer_t *t);

static void schedule(app *a) {
  if (!a->closing) (void)uv_timer_start(&a->next, step, 0, 0);
}

/* Records a test that ends without the engine's result. */
static void fail_unrun(app *a, int d, const char *error, const char *hint) {
  np_cli_test *t = &a->sum.test[d];
  t->ran = 0;
  (void)snprintf(t->error, sizeof t->error, "%s", error);
  (void)snprintf(t->hint, sizeof t->hint, "%s", hint ? hint : "");
  if (!(a->started_mask & (1u << d)) && !a->quiet)
    emit(a, np_cli_event_json("starting", (np_ndt7_direction)d, NULL, NULL));
  emit(a, np_cli_event_json("error", (np_ndt7_direction)d, NULL, t->error));
  if (!a->quiet) emit(a, np_cli_event_json("complete", (np_ndt7_direction)d, NULL, NULL));
  a->done_mask |= 1u << d;
}

/* Index of the next Locate result at or after from that offers dir. */
static size_t next_server(const app *a, size_t from, int d) {
  for (size_t i = from; a->list && i < a->list->n; i++) {
    const np_locate_server *s = &a->list->servers[i];
    if ((d == NP_NDT7_DOWNLOAD ? s->download_url : s->upload_url)[0]) return i;
  }
  return (size_t)-1;
}

static void on_measurement(void *ud, const np_ndt7_measurement *m) {
  app *a = ud;
  int d = a->cur;
  if (!(a->connected_mask & (1u << d))) {
    a->connected_mask |= 1u << d;
    if (!a->quiet)
      emit(a, np_cli_event_json("connected", (np_ndt7_direction)d, a->sum.server_fqdn, NULL));
  }
  int fresh = 0;
  if (m->has_server) {
    a->last_server_mbps = m->server_mbps;
    if (m->server_elapsed_us != a->last_server_us) {
      a->last_server_us = m->server_elapsed_us;
      fresh = 1;
    }
  } else if (m->elapsed_us != a->last_client_us) {
    a->last_client_us = m->elapsed_us;
    fresh = 1;
  }
  if (!fresh || a->quiet) return;
  uint64_t now = uv_now(a->loop), *last = &a->last_event_ms[m->has_server ? 1 : 0];
  if ((*last && now - *last < MIN_EVENT_GAP_MS) || a->events[d] >= MAX_EVENTS) {
    a->dropped[d]++;
    return;
  }
  *last = now;
  a->events[d]++;
  emit(a, np_cli_measurement_json(m));
  if (a->progress) {
    /* Upload: the server's count of what arrived, once it has sent one. */
    double mbps = m->client_mbps;
    if (d == NP_NDT7_UPLOAD && a->last_server_mbps > 0) mbps = a->last_server_mbps;
    char line[160];
    if (np_cli_progress_format(line, sizeof line, (np_ndt7_direction)d, (double)m->elapsed_us / 1e6,
                               mbps, a->sum.server_fqdn) > 0)
      np_cli_progress_draw(stderr, line);
  }
}

static uint64_t time_left(app *a, int d) {
  uint64_t used = uv_now(a->loop) - a->test_t0_ms[d];
  return used >= a->timeout_ms ? 0 : a->timeout_ms - used;
}

static void on_done(void *ud, const np_ndt7_result *r) {
  app *a = ud;
  int d = a->cur;
  a->client = NULL;
  if (a->starting) a->done_in_start = 1;
  if (a->progress) np_cli_progress_draw(stderr, NULL);
  /* With Locate, a server we could not even reach is replaced by the next. */
  /* The next one gets what is left of --timeout, so a list of servers
   * that accept and never answer costs one timeout, not one each. */
  int unreached = r->error != 0 && r->error != NP_E_BADARG && r->error != -ECANCELED &&
                  r->error != NP_E_TIMEOUT && r->app_bytes == 0 && !r->uuid[0] &&
                  time_left(a, d) >= MIN_ATTEMPT_MS;
  size_t alt = a->list ? next_server(a, a->srv + 1, d) : (size_t)-1;
  if (unreached && !a->interrupted && alt != (size_t)-1) {
    static np_cli_test scratch;
    memset(&scratch, 0, sizeof scratch);
    scratch.r = *r;
    np_cli_describe_failure(&scratch, a->scheme, a->verify);
    fprintf(stderr, PROG ": %s: %s; trying the next server\n", a->sum.server_fqdn, scratch.error);
    a->srv = alt;
    schedule(a);
    return;
  }
  np_cli_test *t = &a->sum.test[d];
  t->ran = 1;
  t->r = *r;
  t->dropped_events = a->dropped[d];
  if (a->dropped[d] && a->json)
    fprintf(stderr,
            PROG ": %u measurement events from the %s test not written (at most one per %d ms "
                 "per origin, %d per test)\n",
            a->dropped[d], d == NP_NDT7_UPLOAD ? "upload" : "download", MIN_EVENT_GAP_MS,
            MAX_EVENTS);
  if (r->error == 0 && r->implausible) {
    /* The server's own figures cannot be true: its data is not credible. */
    t->r.error = NP_E_PROTO;
    np_cli_implausible_text(r->implausible, t->error, sizeof t->error);
    (void)snprintf(t->hint, sizeof t->hint, "%s",
                   "the server's measurements are broken or forged; test against another server");
    emit(a, np_cli_event_json("error", (np_ndt7_direction)d, NULL, t->error));
  } else if (r->error != 0) {
    if (r->error == -ECANCELED) (void)snprintf(t->error, sizeof t->error, "interrupted");
    np_cli_describe_failure(t, a->scheme, a->verify);
    emit(a, np_cli_event_json("error", (np_ndt7_direction)d, NULL, t->error));
  }
  if (!a->quiet) emit(a, np_cli_event_json("complete", (np_ndt7_direction)d, NULL, NULL));
  a->done_mask |= 1u << d;
  schedule(a);
}

static void start_test(app *a, int d) {
  np_cli_test *t = &a->sum.test[d];
  if (!(a->started_mask & (1u << d))) {
    a->started_mask |= 1u << d;
    uv_update_time(a->loop);
    a->test_t0_ms[d] = uv_now(a->loop);
    if (!a->quiet) emit(a, np_cli_event_json("starting", (np_ndt7_direction)d, NULL, NULL));
  }
  np_ndt7_options o = {
      .direction = (np_ndt7_direction)d,
      .verify_tls = a->verify,
      .ca_file = g_f.ca_file,
      .family = a->family,
      .metadata = a->meta.kv,
      .nmetadata = sizeof a->meta.kv / sizeof a->meta.kv[0],
      .timeout_ms = a->timeout_ms,
  };
  if (a->list) o.timeout_ms = time_left(a, d) ? time_left(a, d) : 1;
  if (a->list) {
    size_t i = next_server(a, a->srv, d);
    if (i == (size_t)-1) {
      char e[160];
      (void)snprintf(e, sizeof e, "the Locate service offered no %s:// %s URL", a->scheme,
                     d == NP_NDT7_UPLOAD ? "upload" : "download");
      fail_unrun(a, d, e, "use --server HOST to pick a server yourself");
      schedule(a);
      return;
    }
    a->srv = i;
    const np_locate_server *s = &a->list->servers[i];
    o.url = d == NP_NDT7_DOWNLOAD ? s->download_url : s->upload_url;
    np_url u;
    if (np_url_parse(o.url, &u) == 0)
      (void)snprintf(a->sum.server_fqdn, sizeof a->sum.server_fqdn, "%s", u.host);
  } else {
    o.server = a->server_arg;
    o.scheme = a->scheme;
    (void)snprintf(a->sum.server_fqdn, sizeof a->sum.server_fqdn, "%s", a->server_host);
  }
  a->cur = d;
  a->last_client_us = a->last_server_us = 0;
  a->last_server_mbps = 0;
  a->last_event_ms[0] = a->last_event_ms[1] = 0;
  a->starting = 1;
  a->done_in_start = 0;
  np_ndt7_client *k = NULL;
  int rc = np_ndt7_client_start(a->loop, &o, &(np_ndt7_callbacks){on_measurement, on_done}, a, &k);
  a->starting = 0;
  if (rc < 0) {
    char e[256];
    (void)snprintf(e, sizeof e, "cannot start the %s test: %s",
                   d == NP_NDT7_UPLOAD ? "upload" : "download", np_ndt7_strerror(rc));
    t->r.error = rc;
    fail_unrun(a, d, e, NULL);
    schedule(a);
    return;
  }
  if (!a->done_in_start) a->client = k; /* on_done may already have run */
  (void)t;
}

static void step(uv_timer_t *tm) {
  app *a = tm->data;
  for (int d = 0; d < 2; d++) {
    if (!a->sum.test[d].selected || (a->done_mask & (1u << d))) continue;
    if (a->interrupted) {
      fail_unrun(a, d, "not run: interrupted", NULL);
      continue;
    }
    start_test(a, d);
    return;
  }
  close_all(a);
}

static void on_located(void *ud, int err, const np_locate_reply *rep) {
  app *a = ud;
  a->locate = NULL;
  if (err == 0) {
    a->list = malloc(sizeof *a->list);
    if (a->list) {
      memcpy(a->list, &rep->list, sizeof *a->list);
      a->srv = 0;
      schedule(a);
      return;
    }
    err = -ENOMEM;
  }
  const char *text = rep->error_text[0] ? rep->error_text : np_strerror(err);
  char hint[256] = "";
  if (rep->status == 204)
    (void)snprintf(hint, sizeof hint,
                   "M-Lab has no free server near you right now; try again in a few minutes");
  else if (rep->status == 429 && rep->retry_after_s >= 0)
    (void)snprintf(hint, sizeof hint, "wait %d s before trying again", rep->retry_after_s);
  else if (rep->status == 429)
    (void)snprintf(hint, sizeof hint, "wait a while before trying again");
  else if (err == NP_E_TLS)
    (void)snprintf(hint, sizeof hint,
                   "could not verify the Locate service's certificate; check the system "
                   "clock and CA certificates, or pass --ca-file");
  else if (!a->interrupted)
    (void)snprintf(hint, sizeof hint, "use --server HOST to test against a server directly");
  char e[400];
  (void)snprintf(e, sizeof e, "finding a server failed: %s", text);
  if (!a->interrupted) fprintf(stderr, PROG ": %s\n", e);
  for (int d = 0; d < 2; d++) {
    if (!a->sum.test[d].selected) continue;
    a->sum.test[d].r.retry_after_s = rep->retry_after_s > 0 ? rep->retry_after_s : 0;
    fail_unrun(a, d, a->interrupted ? "not run: interrupted" : e, hint);
  }
  schedule(a);
}

static void on_signal(uv_signal_t *h, int signum) {
  app *a = h->data;
  if (a->interrupted) {
    if (a->progress) np_cli_progress_draw(stderr, NULL);
    fprintf(stderr, PROG ": interrupted again, exiting\n");
    _exit(128 + signum);
  }
  a->interrupted = 1;
  if (a->progress) np_cli_progress_draw(stderr, NULL);
  fprintf(stderr, PROG ": interrupted, stopping (again to quit at once)\n");
  if (a->client)
    np_ndt7_client_cancel(a->client);
  else if (a->locate)
    np_locate_cancel(a->locate);
}

/* Checks the flags and fills a. Returns 0 or an exit status. */
static int configure(app *a) {
  if (strcmp(g_f.format, "human") != 0 && strcmp(g_f.format, "json") != 0)
    return usage_error("invalid --format \"%s\": want human or json", g_f.format);
  if (strcmp(g_f.scheme, "ws") != 0 && strcmp(g_f.scheme, "wss") != 0)
    return usage_error("invalid --scheme \"%s\": want ws or wss", g_f.scheme);
  int rc = np_cli_family(PROG, g_f.ipv4, g_f.ipv6, &a->family);
  if (rc != 0) return rc;
  if (!np_cli_valid_name(g_f.client_name))
    return usage_error("invalid --client-name \"%s\": want 1-64 letters, digits or ._+-/:",
                       g_f.client_name);
  rc = np_cli_check_ca_file(PROG, g_f.ca_file);
  if (rc != 0) return rc;
  a->scheme = g_f.scheme;
  if (g_f.server) {
    int port;
    if (np_hostport_parse(g_f.server, strcmp(g_f.scheme, "ws") == 0 ? 80 : 443, a->server_host,
                          sizeof a->server_host, &port) < 0)
      return usage_error("invalid --server \"%s\": want HOST, HOST:PORT or [IPv6]:PORT",
                         g_f.server);
    /* A bare IPv6 literal gets its brackets, as the engine expects. */
    if (strchr(a->server_host, ':') && g_f.server[0] != '[')
      (void)snprintf(a->server_arg, sizeof a->server_arg, "[%s]", a->server_host);
    else
      (void)snprintf(a->server_arg, sizeof a->server_arg, "%s", g_f.server);
  } else {
    np_url u;
    if (np_url_parse(g_f.locate_url, &u) < 0 ||
        (strcmp(u.scheme, "http") != 0 && strcmp(u.scheme, "https") != 0))
      return usage_error("invalid --locate-url \"%s\": want an http:// or https:// URL",
                         g_f.locate_url);
    /* Locate's answer names the server and carries its access tokens: in
     * cleartext anyone on the path could send the test elsewhere. */
    if (strcmp(u.scheme, "http") == 0 && !np_cli_is_loopback(u.host))
      return usage_error("--locate-url \"%s\": http:// only to a loopback address "
                         "(127.0.0.0/8, ::1, localhost); use https://",
                         g_f.locate_url);
  }
  a->json = strcmp(g_f.format, "json") == 0;
  a->quiet = g_f.quiet;
  a->progress = !g_f.quiet && isatty(STDERR_FILENO);
  a->verify = !g_f.no_verify;
  a->timeout_ms = (uint64_t)g_f.timeout_s * 1000;
  int both = !g_f.download && !g_f.upload;
  a->sum.test[NP_NDT7_DOWNLOAD].selected = both || g_f.download;
  a->sum.test[NP_NDT7_UPLOAD].selected = both || g_f.upload;
  (void)snprintf(a->sum.scheme, sizeof a->sum.scheme, "%s", a->scheme);
  np_cli_meta_fill(&a->meta, g_f.client_name);
  return 0;
}

/* The data-policy gate: nothing touches the network before it passes. */
static int consent(void) { return np_cli_consent(g_f.accept); }

/* The RPM part of a plain run, against the ndt7 server. Returns the
 * number of failed parts it adds (0 or 1), or 130 when interrupted. */
static int run_rpm(app *a, json_t **ret_json) {
  /* Only a full run ("run it all") adds RPM; --download/--upload pick
   * ndt7 tests alone. */
  if (g_f.no_rpm || a->interrupted || g_f.download || g_f.upload) return 0;
  if (!g_f.server) {
    fprintf(stderr, PROG ": responsiveness (RPM) test skipped: M-Lab's Locate does not list "
                         "netpulse RPM servers yet; pass --server HOST[:PORT] (or run " PROG
                         " rpm --server HOST)\n");
    return 0;
  }
  np_rpm_options o;
  memset(&o, 0, sizeof o);
  int rc = np_cli_rpm_env_params(&o);
  if (rc != 0) return 1;
  o.server = a->server_arg;
  o.tls = strcmp(a->scheme, "wss") == 0;
  o.verify_tls = a->verify;
  o.ca_file = g_f.ca_file;
  o.family = a->family;
  if (!a->json) fputc('\n', stdout);
  return np_cli_rpm_run(a->loop, &o, a->json, 0, a->quiet, 1, ret_json);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "rpm") == 0) return np_cli_rpm_main(argc - 1, argv + 1);
  app *a = &g_app;
  /* Defaults come from kFlags (np_flags_parse applies them). */
  int rc = np_cli_parse_flags(PROG, kFlags, NFLAGS, argc, argv, usage);
  if (rc >= 0) return rc;
  if (g_f.version) {
    printf(PROG " %s (%s)\n", NP_VERSION, NP_GIT_COMMIT);
    return 0;
  }
  rc = configure(a);
  if (rc != 0) return rc;
  rc = consent();
  if (rc != 0) return rc;

  (void)signal(SIGPIPE, SIG_IGN);
  a->loop = uv_default_loop();
  (void)uv_timer_init(a->loop, &a->next);
  a->next.data = a;
  (void)uv_signal_init(a->loop, &a->sigint);
  (void)uv_signal_init(a->loop, &a->sigterm);
  a->sigint.data = a->sigterm.data = a;
  (void)uv_signal_start(&a->sigint, on_signal, SIGINT);
  (void)uv_signal_start(&a->sigterm, on_signal, SIGTERM);

  if (g_f.server) {
    schedule(a);
  } else {
    char url[NP_LOCATE_MAX_URL];
    if (np_cli_locate_url(&a->meta, g_f.locate_url, url, sizeof url) < 0)
      return usage_error("--locate-url \"%s\" is too long", g_f.locate_url);
    char ua[128];
    (void)snprintf(ua, sizeof ua, "netpulse/%s libnetpulse/%s", NP_VERSION, NP_VERSION);
    np_locate_options lo = {.url = url,
                            .scheme = a->scheme,
                            .verify_tls = a->verify,
                            .ca_file = g_f.ca_file,
                            .family = a->family,
                            .user_agent = ua};
    rc = np_locate_fetch(a->loop, &lo, on_located, a, &a->locate);
    if (rc < 0) {
      np_locate_reply rep;
      memset(&rep, 0, sizeof rep);
      rep.retry_after_s = -1;
      (void)snprintf(rep.error_text, sizeof rep.error_text, "%s", np_strerror(rc));
      on_located(a, rc, &rep);
    }
  }
  (void)uv_run(a->loop, UV_RUN_DEFAULT);

  int failed = np_cli_failed_count(&a->sum), rpm = 0;
  if (a->json) {
    /* The RPM result joins the ndt7 summary (the last line, as before). */
    json_t *rj = NULL;
    rpm = run_rpm(a, &rj);
    json_t *sum = np_cli_summary_json(&a->sum);
    if (rj) (void)json_object_set_new(sum, "Responsiveness", rj);
    emit(a, sum);
  } else {
    np_cli_print_human(stdout, &a->sum);
    rpm = run_rpm(a, NULL);
  }
  free(a->list);
  (void)uv_loop_close(a->loop);
  if (a->interrupted || rpm == 130) return 130;
  return failed + rpm;
}
