/* netpulse CLI: JSON events and summary (ndt7-client-go's shape, versioned,
 * only ever growing), the human summary, and failures in plain words. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli.h"
#include "core/error.h"

static const char *dir_name(np_ndt7_direction d) {
  return d == NP_NDT7_UPLOAD ? "upload" : "download";
}

/* JSON never carries NaN or Inf: such values become 0. */
static json_t *num(double v) { return json_real(isfinite(v) ? v : 0.0); }

static json_t *u64(uint64_t v) {
  return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static json_t *value_unit(double v, const char *unit) {
  return json_pack("{s:o,s:s}", "Value", num(v), "Unit", unit);
}

/* A figure the server made up: no Value a reader could take as measured,
 * the server's number under "Reported", and "Credible": false. */
static json_t *figure(double v, const char *unit, int credible) {
  if (credible) return value_unit(v, unit);
  return json_pack("{s:n,s:s,s:o,s:b}", "Value", "Unit", unit, "Reported", num(v), "Credible", 0);
}

void np_cli_describe_failure(np_cli_test *t, const char *scheme, int verify_tls) {
  const np_ndt7_result *r = &t->r;
  int e = r->error;
  t->hint[0] = 0;
  if (e == -EBADF && !r->server_ip[0]) {
    /* libuv reports a failed non-blocking connect as POLLERR (EBADF). */
    e = -ECONNREFUSED;
    (void)snprintf(t->error, sizeof t->error, "%s",
                   "cannot connect to the server (connection refused or unreachable)");
  }
  if (!t->error[0]) {
    const char *text = r->error_text[0] ? r->error_text : np_ndt7_strerror(e);
    (void)snprintf(t->error, sizeof t->error, "%s", text);
  }
  const char *hint = NULL;
  char buf[sizeof t->hint];
  if (e == NP_E_TLS_PLAINTEXT) {
    hint = "the server answered in cleartext: this port serves ws://, not wss://; "
           "run again with --scheme ws";
  } else if (e == NP_E_TLS && verify_tls && strcmp(scheme, "wss") == 0) {
    hint = "the TLS handshake failed; if the server uses a self-signed or private "
           "certificate, pass its CA with --ca-file FILE (or, for a test server only, "
           "--no-verify)";
  } else if (e == NP_E_REFUSED) {
    hint = np_cli_refused_hint(t->error, r->retry_after_s,
                               r->retry_after_s > 0
                                   ? "the server is busy"
                                   : "the server refused the test (busy, or the access token "
                                     "was rejected)",
                               buf, sizeof buf);
  } else if (e == NP_E_TOKEN) {
    hint = "the access token was rejected; ask the Locate service for a fresh server";
  } else if (e == -ECONNREFUSED) {
    (void)snprintf(buf, sizeof buf,
                   "nothing accepts connections there; check the port (default %s for %s)",
                   strcmp(scheme, "ws") == 0 ? "80" : "443", scheme);
    hint = buf;
  } else if (e == NP_E_TIMEOUT) {
    hint = "the test did not finish in time; the path may be very slow or blocked";
  } else if (e == NP_E_SUBPROTOCOL) {
    hint = "the server does not speak ndt7 on this URL";
  }
  if (hint) (void)snprintf(t->hint, sizeof t->hint, "%s", hint);
}

const char *np_cli_refused_hint(const char *error_text, int retry_after_s,
                                const char *otherwise_what, char *buf, size_t cap) {
  /* The reasons of np_admit_reason_str, the RPM lame duck and the 401
   * token_* ones, as the server names them in its refusal's body. */
  static const struct {
    const char *reason, *what;
  } known[] = {
      {"(lame_duck)", "the server is shutting down (test against another one: without "
                      "--server, Locate finds one)"},
      {"(spool_unwritable)", "the server cannot store results at the moment, so it takes no "
                             "tests"},
      {"(spool_full)", "the server's disk for results is full, so it takes no tests"},
      {"(client_limit)", "the server is already running as many tests from your address as it "
                         "allows"},
      {"(at_capacity)", "the server is busy"},
      {"(tx_rate)", "the server is busy"},
      {"(budget)", "the server has used its bandwidth budget for now"},
      {"(token_", "the server rejected the access token (without --server, Locate gives a "
                  "fresh one)"},
  };
  const char *what = otherwise_what;
  for (size_t i = 0; error_text && i < sizeof known / sizeof known[0]; i++)
    if (strstr(error_text, known[i].reason)) what = known[i].what;
  if (retry_after_s > 0)
    (void)snprintf(buf, cap, "%s; try again in %d s", what, retry_after_s);
  else
    (void)snprintf(buf, cap, "%s; try again later", what);
  return buf;
}

void np_cli_implausible_text(unsigned bits, char *out, size_t cap) {
  static const struct {
    unsigned bit;
    const char *what;
  } kWhat[] = {
      {NP_NDT7_IMPLAUSIBLE_MIN_RTT, "a minimum RTT longer than the test ran"},
      {NP_NDT7_IMPLAUSIBLE_RETRANS, "more bytes retransmitted than sent"},
      {NP_NDT7_IMPLAUSIBLE_THROUGHPUT, "more bytes received than we sent"},
      {NP_NDT7_IMPLAUSIBLE_RTT, "an RTT over 60 s"},
  };
  size_t len = 0;
  int n = snprintf(out, cap, "the server reported figures that cannot be true (");
  if (n < 0 || (size_t)n >= cap) return;
  len = (size_t)n;
  const char *sep = "";
  for (size_t i = 0; i < sizeof kWhat / sizeof kWhat[0]; i++) {
    if (!(bits & kWhat[i].bit)) continue;
    n = snprintf(out + len, cap - len, "%s%s", sep, kWhat[i].what);
    if (n < 0 || (size_t)n >= cap - len) return;
    len += (size_t)n;
    sep = "; ";
  }
  (void)snprintf(out + len, cap - len, "): its figures are not credible");
}

int np_cli_failed_count(const np_cli_summary *s) {
  int n = 0;
  for (int d = 0; d < 2; d++) {
    const np_cli_test *t = &s->test[d];
    if (t->selected && (!t->ran || t->r.error != 0)) n++;
  }
  return n;
}

json_t *np_cli_event_json(const char *key, np_ndt7_direction dir, const char *server,
                          const char *failure) {
  json_t *v = json_object();
  (void)json_object_set_new(v, "Test", json_string(dir_name(dir)));
  if (failure) (void)json_object_set_new(v, "Failure", json_string(failure));
  if (server) (void)json_object_set_new(v, "Server", json_string(server));
  return json_pack("{s:s,s:o}", "Key", key, "Value", v);
}

json_t *np_cli_measurement_json(const np_ndt7_measurement *m) {
  json_t *v = json_object();
  if (m->has_server) {
    if (m->bbr_bw_bps)
      (void)json_object_set_new(v, "BBRInfo",
                                json_pack("{s:o,s:o}", "BW", u64(m->bbr_bw_bps / 8), "ElapsedTime",
                                          u64(m->server_elapsed_us)));
    (void)json_object_set_new(v, "Origin", json_string("server"));
    (void)json_object_set_new(v, "Test", json_string(dir_name(m->direction)));
    json_t *ti = json_object();
    (void)json_object_set_new(ti, "BytesAcked", u64(m->server_bytes_acked));
    (void)json_object_set_new(ti, "BytesReceived", u64(m->server_bytes_received));
    (void)json_object_set_new(ti, "BytesSent", u64(m->server_bytes_sent));
    (void)json_object_set_new(ti, "BytesRetrans", u64(m->server_bytes_retrans));
    (void)json_object_set_new(ti, "MinRTT", u64(m->server_min_rtt_us));
    (void)json_object_set_new(ti, "RTT", u64(m->server_rtt_us));
    (void)json_object_set_new(ti, "RTTVar", u64(m->server_rttvar_us));
    (void)json_object_set_new(ti, "ElapsedTime", u64(m->server_elapsed_us));
    (void)json_object_set_new(v, "TCPInfo", ti);
  } else {
    (void)json_object_set_new(
        v, "AppInfo",
        json_pack("{s:o,s:o}", "NumBytes", u64(m->app_bytes), "ElapsedTime", u64(m->elapsed_us)));
    (void)json_object_set_new(v, "Origin", json_string("client"));
    (void)json_object_set_new(v, "Test", json_string(dir_name(m->direction)));
  }
  return json_pack("{s:s,s:o}", "Key", "measurement", "Value", v);
}

/* A test's block, or null when it was not run or produced no data. */
static json_t *subtest_json(const np_cli_test *t) {
  if (!t->selected || !t->ran || (t->r.error != 0 && !t->r.uuid[0] && t->r.app_bytes == 0))
    return json_null();
  const np_ndt7_result *r = &t->r;
  json_t *o = json_object();
  (void)json_object_set_new(o, "UUID", json_string(r->uuid));
  unsigned bad = r->implausible;
  (void)json_object_set_new(o, "Throughput", figure(r->throughput_mbps, "Mbit/s", 1));
  (void)json_object_set_new(o, "Latency",
                            figure(r->min_rtt_ms, "ms", !(bad & NP_NDT7_IMPLAUSIBLE_MIN_RTT)));
  (void)json_object_set_new(o, "Retransmission",
                            figure(r->retrans_pct, "%", !(bad & NP_NDT7_IMPLAUSIBLE_RETRANS)));
  /* netpulse additions (never renamed or removed, only added to). */
  (void)json_object_set_new(o, "LoadedLatency", value_unit(r->loaded_rtt_ms, "ms"));
  if (t->dropped_events)
    (void)json_object_set_new(o, "DroppedMeasurements", json_integer(t->dropped_events));
  (void)json_object_set_new(o, "ElapsedTime", value_unit((double)r->elapsed_us / 1e6, "s"));
  if (r->error != 0) (void)json_object_set_new(o, "Error", json_string(t->error));
  return o;
}

/* The first test that reached the server names the endpoints. */
static const np_ndt7_result *endpoints(const np_cli_summary *s) {
  for (int d = 0; d < 2; d++)
    if (s->test[d].selected && s->test[d].ran && s->test[d].r.server_ip[0]) return &s->test[d].r;
  return NULL;
}

static json_t *port_string(int port) {
  char b[8] = "";
  if (port > 0 && port <= 65535) (void)snprintf(b, sizeof b, "%d", port);
  return json_string(b);
}

json_t *np_cli_summary_json(const np_cli_summary *s) {
  const np_ndt7_result *ep = endpoints(s);
  json_t *o = json_object();
  /* ndt7-client-go's fields first, with its types (ports are strings). */
  (void)json_object_set_new(o, "ServerFQDN", json_string(s->server_fqdn));
  (void)json_object_set_new(o, "ServerIP", json_string(ep ? ep->server_ip : ""));
  (void)json_object_set_new(o, "ServerPort", port_string(ep ? ep->server_port : 0));
  (void)json_object_set_new(o, "ClientIP", json_string(ep ? ep->client_ip : ""));
  (void)json_object_set_new(o, "ClientPort", port_string(ep ? ep->client_port : 0));
  (void)json_object_set_new(o, "Download", subtest_json(&s->test[NP_NDT7_DOWNLOAD]));
  (void)json_object_set_new(o, "Upload", subtest_json(&s->test[NP_NDT7_UPLOAD]));
  /* netpulse additions. */
  (void)json_object_set_new(o, "SchemaVersion", json_integer(NP_CLI_SCHEMA_VERSION));
  (void)json_object_set_new(o, "Scheme", json_string(s->scheme));
  json_t *errs = json_array();
  for (int d = 0; d < 2; d++) {
    const np_cli_test *t = &s->test[d];
    if (!t->selected || (t->ran && t->r.error == 0)) continue;
    json_t *e = json_object();
    (void)json_object_set_new(e, "Test", json_string(dir_name((np_ndt7_direction)d)));
    (void)json_object_set_new(e, "Failure", json_string(t->error[0] ? t->error : "not run"));
    if (t->hint[0]) (void)json_object_set_new(e, "Hint", json_string(t->hint));
    if (t->ran && t->r.retry_after_s > 0)
      (void)json_object_set_new(e, "RetryAfter", json_integer(t->r.retry_after_s));
    (void)json_array_append_new(errs, e);
  }
  (void)json_object_set_new(o, "Errors", errs);
  return o;
}

int np_cli_print_json_line(FILE *f, const json_t *j) {
  if (!j) return -1;
  char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
  if (!s) return -1;
  int rc = fprintf(f, "%s\n", s) < 0 ? -1 : 0;
  free(s);
  (void)fflush(f);
  return rc;
}

static double fin(double v) { return isfinite(v) ? v : 0.0; }

static void print_test(FILE *f, const np_cli_test *t, const char *title) {
  const np_ndt7_result *r = &t->r;
  fprintf(f, "\n  %s\n", title);
  if (!t->ran || r->error != 0) {
    fprintf(f, "  %16s: %s\n", "failed", t->error[0] ? t->error : "not run");
    if (t->hint[0]) fprintf(f, "  %16s: %s\n", "hint", t->hint);
    if (!t->ran || (!r->uuid[0] && r->app_bytes == 0)) return;
    fprintf(f, "  %16s\n", "(partial figures follow)");
  }
  fprintf(f, "  %16s: %8.1f Mbit/s\n", "Throughput", fin(r->throughput_mbps));
  /* Sub-millisecond RTTs (LAN, loopback) keep three decimals. */
  double rtt = fin(r->min_rtt_ms), loaded = fin(r->loaded_rtt_ms);
  if (r->implausible & NP_NDT7_IMPLAUSIBLE_MIN_RTT)
    fprintf(f, "  %16s: %8s (not credible)\n", "Min RTT", "n/a");
  else
    fprintf(f, "  %16s: %8.*f ms\n", "Min RTT", rtt < 1 ? 3 : 1, rtt);
  if (loaded > 0)
    fprintf(f, "  %16s: %8.*f ms\n", "Loaded RTT", loaded < 1 ? 3 : 1, loaded);
  else
    fprintf(f, "  %16s: %8s\n", "Loaded RTT", "n/a");
  if (r->implausible & NP_NDT7_IMPLAUSIBLE_RETRANS)
    fprintf(f, "  %16s: %8s (not credible)\n", "Retransmission", "n/a");
  else
    fprintf(f, "  %16s: %8.2f %%\n", "Retransmission", fin(r->retrans_pct));
  fprintf(f, "  %16s: %s\n", "UUID", r->uuid[0] ? r->uuid : "(not reported)");
}

void np_cli_print_human(FILE *f, const np_cli_summary *s) {
  const np_ndt7_result *ep = endpoints(s);
  fprintf(f, "netpulse ndt7 results\n\n");
  if (ep)
    fprintf(f, "  %16s: %s (%s port %d, %s)\n", "Server", s->server_fqdn, ep->server_ip,
            ep->server_port, s->scheme);
  else
    fprintf(f, "  %16s: %s (%s)\n", "Server", s->server_fqdn[0] ? s->server_fqdn : "(none)",
            s->scheme);
  if (ep) fprintf(f, "  %16s: %s\n", "Client", ep->client_ip);
  if (s->test[NP_NDT7_DOWNLOAD].selected) print_test(f, &s->test[NP_NDT7_DOWNLOAD], "Download");
  if (s->test[NP_NDT7_UPLOAD].selected) print_test(f, &s->test[NP_NDT7_UPLOAD], "Upload");
  (void)fflush(f);
}
