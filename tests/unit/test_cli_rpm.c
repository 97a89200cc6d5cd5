/* Tests for the RPM parts of the CLI and the client's summary: durations,
 * the JSON (versioned, finite, errors inside), the human summary, the
 * progress line, and a summary the server's allow-list keeps whole. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/cli_args.c"
#include "client/cli_consent.c"
#include "client/cli_output.c"
#include "client/cli_progress.c"
#include "client/cli_rpm.c"
#include "client/cli_rpm_output.c"
#include "rpm/summary.h"

static void fill(np_rpm_result *r) {
  memset(r, 0, sizeof *r);
  (void)snprintf(r->protocol, sizeof r->protocol, "h2");
  (void)snprintf(r->server_host, sizeof r->server_host, "rpm.example.net");
  r->phase[NP_RPM_PHASE_IDLE] = (np_rpm_phase_result){
      .ran = 1, .rpm = 1500, .rpm_foreign = 1500, .latency_ms = 40, .probes_foreign = 20};
  for (int p = NP_RPM_PHASE_DOWNLOAD; p <= NP_RPM_PHASE_UPLOAD; p++)
    r->phase[p] = (np_rpm_phase_result){.ran = 1,
                                        .rpm = p == NP_RPM_PHASE_DOWNLOAD ? 400 : 300,
                                        .rpm_foreign = 350,
                                        .rpm_loaded = 450,
                                        .latency_ms = 150,
                                        .tm_tcp_ms = 120,
                                        .tm_tls_ms = 130,
                                        .tm_http_foreign_ms = 200,
                                        .tm_http_self_ms = 133,
                                        .throughput_mbps = 47.1,
                                        .flows = 16,
                                        .intervals = 9,
                                        .probes_foreign = 30,
                                        .probes_self = 300,
                                        .goodput_stable = 1,
                                        .rpm_stable = p == NP_RPM_PHASE_DOWNLOAD,
                                        .confidence = p == NP_RPM_PHASE_DOWNLOAD ? 2 : 1,
                                        .duration_ms = 9000};
  r->rpm = 300;
  r->confidence = 1;
  r->idle_latency_ms = 40;
  r->loaded_latency_ms = 200;
  r->interval_ms = 1000;
  r->max_duration_ms = 20000;
  r->idle_ms = 2000;
  r->mad = 4;
  r->max_flows = 16;
  r->max_conns = 200;
  r->tmp = 0.95;
  r->sdt = 0.05;
  r->mps = 100;
  r->ptc = 0.05;
}

static void test_durations(void **state) {
  (void)state;
  uint64_t v = 0;
  assert_int_equal(np_cli_parse_duration_ms("1s", &v), 0);
  assert_int_equal(v, 1000);
  assert_int_equal(np_cli_parse_duration_ms("250ms", &v), 0);
  assert_int_equal(v, 250);
  assert_int_equal(np_cli_parse_duration_ms("1.5s", &v), 0);
  assert_int_equal(v, 1500);
  assert_int_equal(np_cli_parse_duration_ms("2m", &v), 0);
  assert_int_equal(v, 120000);
  assert_int_equal(np_cli_parse_duration_ms("3", &v), 0);
  assert_int_equal(v, 3000);
  const char *bad[] = {"", "0", "-1s", "1h", "abc", "1 s", "nan", "inf", "0.1ms", "2h", "61m"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(np_cli_parse_duration_ms(bad[i], &v), NP_E_BADARG);
}

/* What the client POSTs fits the server's allow-list exactly: nothing is
 * dropped, and what the server keeps is what was sent. */
static void test_summary_fits_allow_list(void **state) {
  (void)state;
  np_rpm_result r;
  fill(&r);
  for (int parallel = 0; parallel < 2; parallel++) {
    r.parallel = parallel;
    r.phase[NP_RPM_PHASE_PARALLEL] = r.phase[NP_RPM_PHASE_DOWNLOAD];
    r.phase[NP_RPM_PHASE_PARALLEL].ran = parallel;
    char *s = np_rpm_result_json(&r);
    assert_non_null(s);
    json_t *kept = NULL;
    uint32_t dropped = 99;
    assert_int_equal(np_rpm_summary_clean((const uint8_t *)s, strlen(s), &kept, &dropped), 0);
    assert_int_equal(dropped, 0);
    json_t *sent = json_loads(s, 0, NULL);
    assert_true(json_equal(sent, kept));
    assert_string_equal(json_string_value(json_object_get(kept, "Confidence")), "Medium");
    assert_string_equal(json_string_value(json_object_get(kept, "Direction")),
                        parallel ? "parallel" : "sequential");
    json_decref(sent);
    json_decref(kept);
    free(s);
  }
}

static void test_cli_json(void **state) {
  (void)state;
  np_rpm_result r;
  fill(&r);
  r.phase[NP_RPM_PHASE_DOWNLOAD].tm_tcp_ms = NAN; /* never reaches JSON */
  json_t *samples = json_array();
  np_rpm_probe_sample ps = {.phase = NP_RPM_PHASE_UPLOAD,
                            .self = 0,
                            .t_s = 3.5,
                            .tcp_ms = 41,
                            .tls_ms = -1,
                            .http_ms = 42};
  (void)json_array_append_new(samples, np_cli_rpm_sample_json(&ps));
  json_t *j = np_cli_rpm_json(&r, samples, NULL, NULL);
  json_decref(samples);
  assert_int_equal(json_integer_value(json_object_get(j, "SchemaVersion")), 1);
  assert_string_equal(json_string_value(json_object_get(j, "Test")), "responsiveness");
  assert_string_equal(json_string_value(json_object_get(j, "Band")), "Fair");
  assert_float_equal(json_number_value(json_object_get(j, "LatencyIncreaseMs")), 160, 1e-9);
  assert_int_equal(json_array_size(json_object_get(j, "Errors")), 0);
  json_t *s0 = json_array_get(json_object_get(j, "Samples"), 0);
  assert_string_equal(json_string_value(json_object_get(s0, "Kind")), "foreign");
  assert_null(json_object_get(s0, "TLSMs")); /* cleartext: no TLS time */
  json_t *down = json_object_get(j, "Download");
  assert_float_equal(json_number_value(json_object_get(down, "TrimmedTCPMs")), 0, 0);
  char *text = json_dumps(j, JSON_COMPACT);
  assert_null(strstr(text, "nan"));
  free(text);
  json_decref(j);
  /* A failure is inside the JSON, with its hint. */
  r.error = NP_E_REFUSED;
  r.retry_after_s = 30;
  j = np_cli_rpm_json(&r, NULL, "server refused the test: HTTP 503", "try again in 30 s");
  json_t *e = json_array_get(json_object_get(j, "Errors"), 0);
  assert_string_equal(json_string_value(json_object_get(e, "Hint")), "try again in 30 s");
  assert_int_equal(json_integer_value(json_object_get(e, "RetryAfter")), 30);
  assert_null(json_object_get(j, "Samples"));
  json_decref(j);
  assert_true(np_cli_rpm_failed(&r));
  r.error = 0;
  assert_false(np_cli_rpm_failed(&r));
  r.rpm = 0;
  assert_true(np_cli_rpm_failed(&r));
}

static void test_human_and_progress(void **state) {
  (void)state;
  np_rpm_result r;
  fill(&r);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  np_cli_rpm_print_human(f, &r, NULL, NULL);
  (void)fclose(f);
  assert_non_null(strstr(buf, "300 RPM  Fair (200.0 ms per round trip)"));
  assert_non_null(strstr(buf, "Confidence: Medium"));
  assert_non_null(strstr(buf, "(+160.0 ms under load)"));
  assert_non_null(strstr(buf, "47.1 Mbit/s  16 flows"));
  free(buf);
  f = open_memstream(&buf, &len);
  np_cli_rpm_print_human(f, &(np_rpm_result){.server_host = "x"}, "cannot resolve x", NULL);
  (void)fclose(f);
  assert_non_null(strstr(buf, "failed: cannot resolve x"));
  assert_null(strstr(buf, "RPM  "));
  free(buf);
  char line[200];
  np_rpm_progress p = {
      .phase = NP_RPM_PHASE_DOWNLOAD, .elapsed_s = 3.25, .flows = 4, .down_mbps = 47.5, .rpm = 812};
  assert_true(np_cli_rpm_progress_format(line, sizeof line, &p) > 0);
  assert_non_null(strstr(line, "download"));
  assert_non_null(strstr(line, " 4 flows"));
  assert_non_null(strstr(line, "RPM    812"));
  p = (np_rpm_progress){.phase = NP_RPM_PHASE_IDLE, .elapsed_s = NAN, .probes = 7};
  assert_true(np_cli_rpm_progress_format(line, sizeof line, &p) > 0);
  assert_non_null(strstr(line, "idle latency probes: 7"));
}

/* --locate-url http:// is for loopback test services only. */
static void test_loopback(void **state) {
  (void)state;
  assert_true(np_cli_is_loopback("127.0.0.1"));
  assert_true(np_cli_is_loopback("127.255.0.9"));
  assert_true(np_cli_is_loopback("::1"));
  assert_true(np_cli_is_loopback("LocalHost"));
  assert_false(np_cli_is_loopback("128.0.0.1"));
  assert_false(np_cli_is_loopback("::ffff:127.0.0.1"));
  assert_false(np_cli_is_loopback("locate.measurementlab.net"));
  assert_false(np_cli_is_loopback("localhost.example"));
  assert_false(np_cli_is_loopback(""));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_durations), cmocka_unit_test(test_summary_fits_allow_list),
      cmocka_unit_test(test_cli_json),  cmocka_unit_test(test_human_and_progress),
      cmocka_unit_test(test_loopback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
