/* Unit tests for the netpulse CLI's pure parts: summary and event JSON shape
 * (ndt7-client-go compatible, no NaN/Inf), failure wording and hints, the
 * consent decision, the progress line and the human summary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The CLI's helpers are not in the library: compile them in. */
#include "client/cli_consent.c"
#include "netpulse/policy.h"
#include "client/cli_output.c"
#include "client/lib/setup.h"
#include "client/cli_progress.c"

static np_cli_summary *good_summary(void) {
  static np_cli_summary s;
  memset(&s, 0, sizeof s);
  (void)snprintf(s.server_fqdn, sizeof s.server_fqdn, "ndt.example.org");
  (void)snprintf(s.scheme, sizeof s.scheme, "wss");
  for (int d = 0; d < 2; d++) {
    np_cli_test *t = &s.test[d];
    t->selected = t->ran = 1;
    t->r.direction = (np_ndt7_direction)d;
    (void)snprintf(t->r.uuid, sizeof t->r.uuid, "host_1700000000_000000000000000%d", d + 1);
    (void)snprintf(t->r.server_ip, sizeof t->r.server_ip, "2001:db8::1");
    t->r.server_port = 443;
    (void)snprintf(t->r.client_ip, sizeof t->r.client_ip, "2001:db8::2");
    t->r.client_port = 50000 + d;
    t->r.throughput_mbps = d ? 40.5 : 93.25;
    t->r.min_rtt_ms = 12.5;
    t->r.retrans_pct = 0.25;
    t->r.loaded_rtt_ms = 48.0;
    t->r.app_bytes = 1000000;
    t->r.elapsed_us = 10000000;
  }
  return &s;
}

static void assert_value_unit(json_t *o, const char *key, double v, const char *unit) {
  json_t *vu = json_object_get(o, key);
  if (!json_is_object(vu)) fail_msg("%s is not an object", key);
  assert_int_equal(json_object_size(vu), 2);
  assert_true(json_is_number(json_object_get(vu, "Value")));
  assert_float_equal(json_number_value(json_object_get(vu, "Value")), v, 1e-9);
  assert_string_equal(json_string_value(json_object_get(vu, "Unit")), unit);
}

static void summary_shape(void **state) {
  (void)state;
  json_t *j = np_cli_summary_json(good_summary());
  assert_non_null(j);
  /* ndt7-client-go's fields, with its types. */
  assert_string_equal(json_string_value(json_object_get(j, "ServerFQDN")), "ndt.example.org");
  assert_string_equal(json_string_value(json_object_get(j, "ServerIP")), "2001:db8::1");
  assert_string_equal(json_string_value(json_object_get(j, "ServerPort")), "443");
  assert_string_equal(json_string_value(json_object_get(j, "ClientIP")), "2001:db8::2");
  assert_string_equal(json_string_value(json_object_get(j, "ClientPort")), "50000");
  json_t *dl = json_object_get(j, "Download");
  json_t *ul = json_object_get(j, "Upload");
  assert_string_equal(json_string_value(json_object_get(dl, "UUID")),
                      "host_1700000000_0000000000000001");
  assert_value_unit(dl, "Throughput", 93.25, "Mbit/s");
  assert_value_unit(dl, "Latency", 12.5, "ms");
  assert_value_unit(dl, "Retransmission", 0.25, "%");
  assert_value_unit(ul, "Throughput", 40.5, "Mbit/s");
  /* netpulse additions. */
  assert_value_unit(dl, "LoadedLatency", 48.0, "ms");
  assert_value_unit(dl, "ElapsedTime", 10.0, "s");
  assert_null(json_object_get(dl, "Error"));
  assert_int_equal(json_integer_value(json_object_get(j, "SchemaVersion")), 1);
  assert_string_equal(json_string_value(json_object_get(j, "Scheme")), "wss");
  assert_true(json_is_array(json_object_get(j, "Errors")));
  assert_int_equal(json_array_size(json_object_get(j, "Errors")), 0);
  assert_int_equal(np_cli_failed_count(good_summary()), 0);

  /* One compact line, ndt7-client-go's keys first, in order. */
  char *line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  assert_non_null(line);
  assert_null(strchr(line, '\n'));
  assert_true(strncmp(line, "{\"ServerFQDN\":\"ndt.example.org\",\"ServerIP\":", 43) == 0);
  assert_true(strstr(line, "\"Download\":{\"UUID\":") < strstr(line, "\"Upload\":{"));
  assert_true(strstr(line, "\"Upload\":{") < strstr(line, "\"SchemaVersion\":1"));
  free(line);
  json_decref(j);
}

static void summary_failures(void **state) {
  (void)state;
  np_cli_summary *s = good_summary();
  /* Download never reached the server; upload not selected. */
  np_cli_test *dl = &s->test[NP_NDT7_DOWNLOAD];
  memset(&dl->r, 0, sizeof dl->r);
  dl->r.error = NP_E_TLS_PLAINTEXT;
  (void)snprintf(dl->r.error_text, sizeof dl->r.error_text, "TLS handshake got cleartext");
  np_cli_describe_failure(dl, "wss", 1);
  s->test[NP_NDT7_UPLOAD].selected = 0;
  json_t *j = np_cli_summary_json(s);
  assert_true(json_is_null(json_object_get(j, "Download")));
  assert_true(json_is_null(json_object_get(j, "Upload")));
  assert_string_equal(json_string_value(json_object_get(j, "ServerIP")), "");
  assert_string_equal(json_string_value(json_object_get(j, "ServerPort")), "");
  json_t *errs = json_object_get(j, "Errors");
  assert_int_equal(json_array_size(errs), 1);
  json_t *e = json_array_get(errs, 0);
  assert_string_equal(json_string_value(json_object_get(e, "Test")), "download");
  assert_string_equal(json_string_value(json_object_get(e, "Failure")),
                      "TLS handshake got cleartext");
  assert_non_null(strstr(json_string_value(json_object_get(e, "Hint")), "--scheme ws"));
  assert_int_equal(np_cli_failed_count(s), 1);
  json_decref(j);

  /* A test cut short after data keeps its figures plus an Error. */
  s = good_summary();
  np_cli_test *ul = &s->test[NP_NDT7_UPLOAD];
  ul->r.error = NP_E_CLOSED;
  (void)snprintf(ul->r.error_text, sizeof ul->r.error_text, "connection closed early");
  np_cli_describe_failure(ul, "wss", 1);
  /* And a selected test that never ran at all. */
  s->test[NP_NDT7_DOWNLOAD].ran = 0;
  (void)snprintf(s->test[NP_NDT7_DOWNLOAD].error, sizeof s->test[0].error, "not run");
  j = np_cli_summary_json(s);
  assert_true(json_is_null(json_object_get(j, "Download")));
  assert_string_equal(json_string_value(json_object_get(json_object_get(j, "Upload"), "Error")),
                      "connection closed early");
  assert_int_equal(json_array_size(json_object_get(j, "Errors")), 2);
  assert_int_equal(np_cli_failed_count(s), 2);
  json_decref(j);
}

static void no_nan_in_json(void **state) {
  (void)state;
  np_cli_summary *s = good_summary();
  s->test[0].r.throughput_mbps = 0.0 / 0.0;
  s->test[0].r.min_rtt_ms = 1.0 / 0.0;
  s->test[1].r.retrans_pct = -1.0 / 0.0;
  json_t *j = np_cli_summary_json(s);
  char *line = json_dumps(j, JSON_COMPACT);
  assert_non_null(line);
  assert_null(strstr(line, "nan"));
  assert_null(strstr(line, "inf"));
  json_t *back = json_loads(line, 0, NULL);
  assert_non_null(back); /* strict JSON parses back */
  assert_value_unit(json_object_get(back, "Download"), "Throughput", 0.0, "Mbit/s");
  json_decref(back);
  free(line);
  json_decref(j);
}

static void events(void **state) {
  (void)state;
  static const struct {
    const char *key, *server, *failure, *want;
  } cases[] = {
      {"starting", NULL, NULL, "{\"Key\":\"starting\",\"Value\":{\"Test\":\"upload\"}}"},
      {"connected", "ndt.example.org", NULL,
       "{\"Key\":\"connected\",\"Value\":{\"Test\":\"upload\",\"Server\":\"ndt.example.org\"}}"},
      {"error", NULL, "boom \"x\"",
       "{\"Key\":\"error\",\"Value\":{\"Test\":\"upload\",\"Failure\":\"boom \\\"x\\\"\"}}"},
      {"complete", NULL, NULL, "{\"Key\":\"complete\",\"Value\":{\"Test\":\"upload\"}}"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *j = np_cli_event_json(cases[i].key, NP_NDT7_UPLOAD, cases[i].server, cases[i].failure);
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(s, cases[i].want);
    free(s);
    json_decref(j);
  }
}

static void measurements(void **state) {
  (void)state;
  np_ndt7_measurement m;
  memset(&m, 0, sizeof m);
  m.direction = NP_NDT7_DOWNLOAD;
  m.elapsed_us = 250000;
  m.app_bytes = 1234567;
  json_t *j = np_cli_measurement_json(&m);
  char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  assert_string_equal(s, "{\"Key\":\"measurement\",\"Value\":{\"AppInfo\":{\"NumBytes\":1234567,"
                         "\"ElapsedTime\":250000},\"Origin\":\"client\",\"Test\":\"download\"}}");
  free(s);
  json_decref(j);

  m.direction = NP_NDT7_UPLOAD;
  m.has_server = 1;
  m.server_elapsed_us = 500000;
  m.server_bytes_received = 999;
  m.server_min_rtt_us = 4000;
  m.bbr_bw_bps = 8000;
  m.server_bytes_acked = UINT64_MAX; /* clamped, never negative */
  j = np_cli_measurement_json(&m);
  json_t *v = json_object_get(j, "Value");
  assert_string_equal(json_string_value(json_object_get(v, "Origin")), "server");
  assert_string_equal(json_string_value(json_object_get(v, "Test")), "upload");
  json_t *ti = json_object_get(v, "TCPInfo");
  assert_int_equal(json_integer_value(json_object_get(ti, "BytesReceived")), 999);
  assert_int_equal(json_integer_value(json_object_get(ti, "MinRTT")), 4000);
  assert_int_equal(json_integer_value(json_object_get(ti, "ElapsedTime")), 500000);
  assert_true(json_integer_value(json_object_get(ti, "BytesAcked")) > 0);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "BBRInfo"), "BW")), 1000);
  assert_null(json_object_get(v, "AppInfo"));
  json_decref(j);
}

static void failure_hints(void **state) {
  (void)state;
  static const struct {
    int err, retry, verify;
    const char *scheme, *hint_has;
  } cases[] = {
      {NP_E_TLS_PLAINTEXT, 0, 1, "wss", "--scheme ws"},
      {NP_E_TLS, 0, 1, "wss", "--ca-file"},
      {NP_E_REFUSED, 30, 1, "wss", "busy; try again in 30 s"},
      {NP_E_REFUSED, 0, 1, "ws", "try again later"},
      {-ECONNREFUSED, 0, 1, "ws", "default 80 for ws"},
      {-EBADF, 0, 1, "wss", "default 443 for wss"},
      {NP_E_TIMEOUT, 0, 1, "wss", "did not finish in time"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    np_cli_test t;
    memset(&t, 0, sizeof t);
    t.selected = t.ran = 1;
    t.r.error = cases[i].err;
    t.r.retry_after_s = cases[i].retry;
    np_cli_describe_failure(&t, cases[i].scheme, cases[i].verify);
    assert_true(t.error[0] != 0);
    if (!strstr(t.hint, cases[i].hint_has))
      fail_msg("case %zu: hint \"%s\" lacks \"%s\"", i, t.hint, cases[i].hint_has);
  }
  /* The engine's own text is kept; no hint when none helps. */
  np_cli_test t;
  memset(&t, 0, sizeof t);
  t.r.error = NP_E_PROTO;
  (void)snprintf(t.r.error_text, sizeof t.r.error_text, "the server's answer is not HTTP");
  np_cli_describe_failure(&t, "wss", 1);
  assert_string_equal(t.error, "the server's answer is not HTTP");
  assert_string_equal(t.hint, "");
  /* No certificate hint when verification was off. */
  memset(&t, 0, sizeof t);
  t.r.error = NP_E_TLS;
  np_cli_describe_failure(&t, "wss", 0);
  assert_string_equal(t.hint, "");
}

/* A refusal's text names the server's reason only when its body gives a
 * short plain word; the hint explains the known ones. */
static void refusal_reasons(void **state) {
  (void)state;
  static const struct {
    const char *body; /* NULL: none */
    int retry;
    const char *text;
  } cases[] = {
      {"{\"status\":503,\"error\":\"lame_duck\"}\n", 30,
       "server refused the test: HTTP 503 (lame_duck), retry after 30 s"},
      {"{\"status\":503,\"error\":\"spool_unwritable\"}", 0,
       "server refused the test: HTTP 503 (spool_unwritable)"},
      {NULL, 10, "server refused the test: HTTP 503, retry after 10 s"},
      {"{\"status\":503,\"err", 10, "server refused the test: HTTP 503, retry after 10 s"},
      {"<html>busy</html>", 0, "server refused the test: HTTP 503"},
      {"{\"error\":\"Lame Duck\"}", 0, "server refused the test: HTTP 503"},
      {"{\"error\":\"a\\u0000b\"}", 0, "server refused the test: HTTP 503"},
      {"{\"error\":\"\\u001b[2J\"}", 0, "server refused the test: HTTP 503"},
      {"{\"error\":\"\"}", 0, "server refused the test: HTTP 503"},
      {"{\"error\":42}", 0, "server refused the test: HTTP 503"},
      {"{\"error\":\"a_reason_name_that_is_much_longer_than_forty\"}", 0,
       "server refused the test: HTTP 503"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char text[256];
    const char *b = cases[i].body;
    np_client_refusal_text(text, sizeof text, 503, cases[i].retry, (const uint8_t *)b,
                           b ? strlen(b) : 0);
    if (strcmp(text, cases[i].text) != 0) fail_msg("case %zu: \"%s\"", i, text);
  }
  char buf[256];
  assert_string_equal(
      np_cli_refused_hint("server refused the test: HTTP 503 (lame_duck), retry after 30 s", 30,
                          "the server is busy", buf, sizeof buf),
      "the server is shutting down (test against another one: without --server, Locate finds "
      "one); try again in 30 s");
  assert_string_equal(np_cli_refused_hint("server refused the test: HTTP 503 (at_capacity)", 0,
                                          "the server is busy", buf, sizeof buf),
                      "the server is busy; try again later");
  assert_string_equal(np_cli_refused_hint("server refused the test: HTTP 503 (whatever)", 5,
                                          "the server is busy", buf, sizeof buf),
                      "the server is busy; try again in 5 s");
  assert_string_equal(np_cli_refused_hint("server refused the test: HTTP 401 (token_expired)", 0,
                                          "the server is busy", buf, sizeof buf),
                      "the server rejected the access token (without --server, Locate gives a "
                      "fresh one); try again later");
  /* Through np_cli_describe_failure, as the ndt7 output uses it. */
  np_cli_test t;
  memset(&t, 0, sizeof t);
  t.r.error = NP_E_REFUSED;
  t.r.retry_after_s = 10;
  (void)snprintf(t.r.error_text, sizeof t.r.error_text, "%s",
                 "server refused the test: HTTP 503 (spool_full), retry after 10 s");
  np_cli_describe_failure(&t, "wss", 1);
  assert_string_equal(t.hint, "the server's disk for results is full, so it takes no tests; try "
                              "again in 10 s");
}

static void consent(void **state) {
  (void)state;
  /* accepted, stdin tty, stderr tty */
  assert_int_equal(np_cli_consent_decide(1, 0, 0), NP_CONSENT_GIVEN);
  assert_int_equal(np_cli_consent_decide(1, 1, 1), NP_CONSENT_GIVEN);
  assert_int_equal(np_cli_consent_decide(0, 1, 1), NP_CONSENT_ASK);
  assert_int_equal(np_cli_consent_decide(0, 1, 0), NP_CONSENT_REFUSE);
  assert_int_equal(np_cli_consent_decide(0, 0, 1), NP_CONSENT_REFUSE);
  assert_int_equal(np_cli_consent_decide(0, 0, 0), NP_CONSENT_REFUSE);
  static const char *const yes[] = {"y\n", "Y", "yes\n", " YES \r\n", "Yes"};
  static const char *const no[] = {"", "\n", "n\n", "no", "yess", "y e s", "ja", "1", "yy"};
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
    if (!np_cli_consent_yes(yes[i])) fail_msg("\"%s\" should mean yes", yes[i]);
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
    if (np_cli_consent_yes(no[i])) fail_msg("\"%s\" should not mean yes", no[i]);
  assert_int_equal(np_cli_consent_yes(NULL), 0);
  /* The explanation names what is published, the licence and the policy. */
  char buf[2048] = "";
  FILE *f = fmemopen(buf, sizeof buf - 1, "w");
  assert_non_null(f);
  np_cli_print_policy(f);
  fclose(f);
  /* The CLI shows exactly the library's summary (test_policy.c checks it). */
  assert_string_equal(buf, np_data_policy_text());
}

static void progress_and_human(void **state) {
  (void)state;
  char line[128];
  assert_true(np_cli_progress_format(line, sizeof line, NP_NDT7_DOWNLOAD, 3.25, 93.4, "h") > 0);
  assert_string_equal(line, "download   3.2 s      93.4 Mbit/s  h");
  assert_true(
      np_cli_progress_format(line, sizeof line, NP_NDT7_UPLOAD, 0.0 / 0.0, 1.0 / 0.0, NULL) > 0);
  assert_string_equal(line, "upload     0.0 s       0.0 Mbit/s");

  char buf[4096] = "";
  FILE *f = fmemopen(buf, sizeof buf - 1, "w");
  assert_non_null(f);
  np_cli_summary *s = good_summary();
  s->test[NP_NDT7_UPLOAD].r.error = NP_E_REFUSED;
  s->test[NP_NDT7_UPLOAD].r.retry_after_s = 7;
  s->test[NP_NDT7_UPLOAD].r.app_bytes = 0;
  s->test[NP_NDT7_UPLOAD].r.uuid[0] = 0;
  np_cli_describe_failure(&s->test[NP_NDT7_UPLOAD], "wss", 1);
  np_cli_print_human(f, s);
  fclose(f);
  assert_non_null(strstr(buf, "ndt.example.org (2001:db8::1 port 443, wss)"));
  assert_non_null(strstr(buf, "Throughput:     93.2 Mbit/s"));
  assert_non_null(strstr(buf, "Min RTT:     12.5 ms"));
  assert_non_null(strstr(buf, "Loaded RTT:     48.0 ms"));
  assert_non_null(strstr(buf, "Retransmission:     0.25 %"));
  assert_non_null(strstr(buf, "UUID: host_1700000000_0000000000000001"));
  assert_non_null(strstr(buf, "try again in 7 s"));
  assert_null(strstr(buf, "40.5")); /* a refused upload shows no figures */
}

/* Figures the server made up are never shown as measured (issue 17). */
static void implausible_figures(void **state) {
  (void)state;
  np_cli_summary *s = good_summary();
  np_cli_test *t = &s->test[NP_NDT7_DOWNLOAD];
  t->r.min_rtt_ms = 9223372036854776.0;
  t->r.retrans_pct = 922337203685477580800.0;
  t->r.implausible = NP_NDT7_IMPLAUSIBLE_MIN_RTT | NP_NDT7_IMPLAUSIBLE_RETRANS;
  t->r.error = NP_E_PROTO;
  np_cli_implausible_text(t->r.implausible, t->error, sizeof t->error);
  assert_non_null(strstr(t->error, "a minimum RTT longer than the test ran; more bytes "
                                   "retransmitted than sent): its figures are not credible"));
  t->dropped_events = 12;
  json_t *j = np_cli_summary_json(s);
  json_t *d = json_object_get(j, "Download");
  json_t *lat = json_object_get(d, "Latency");
  assert_true(json_is_null(json_object_get(lat, "Value")));
  assert_true(json_is_false(json_object_get(lat, "Credible")));
  assert_true(json_real_value(json_object_get(lat, "Reported")) > 1e15);
  assert_true(json_is_false(json_object_get(json_object_get(d, "Retransmission"), "Credible")));
  assert_null(json_object_get(json_object_get(d, "Throughput"), "Credible"));
  assert_int_equal(json_integer_value(json_object_get(d, "DroppedMeasurements")), 12);
  assert_null(json_object_get(json_object_get(j, "Upload"), "DroppedMeasurements"));
  json_decref(j);
  assert_int_equal(np_cli_failed_count(s), 1);

  char buf[4096] = "";
  FILE *f = fmemopen(buf, sizeof buf - 1, "w");
  assert_non_null(f);
  np_cli_print_human(f, s);
  fclose(f);
  assert_non_null(strstr(buf, "Min RTT:      n/a (not credible)"));
  assert_non_null(strstr(buf, "Retransmission:      n/a (not credible)"));
  assert_null(strstr(buf, "9223372036854776"));
  assert_null(strstr(buf, "922337203685477580800"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(summary_shape),      cmocka_unit_test(summary_failures),
      cmocka_unit_test(no_nan_in_json),     cmocka_unit_test(events),
      cmocka_unit_test(measurements),       cmocka_unit_test(failure_hints),
      cmocka_unit_test(refusal_reasons),    cmocka_unit_test(consent),
      cmocka_unit_test(progress_and_human), cmocka_unit_test(implausible_figures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
