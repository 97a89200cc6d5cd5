/* Unit tests for ops/prom and ops/procstat: exact exposition text, caps. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/error.h"
#include "ops/procstat.h"
#include "ops/prom.h"

static const char dropped_head[] =
    "# HELP netpulse_prom_series_dropped_total Metric label combinations "
    "dropped because a family reached its series cap or a label value was "
    "invalid.\n"
    "# TYPE netpulse_prom_series_dropped_total counter\n";

static char *render(const np_prom_registry *reg) {
  np_buf b;
  np_buf_init(&b, 1 << 20);
  assert_int_equal(np_prom_write(reg, &b), 0);
  char *s = malloc(b.len + 1);
  assert_non_null(s);
  memcpy(s, b.data, b.len);
  s[b.len] = '\0';
  np_buf_free(&b);
  return s;
}

/* The sample used by the exact-text test and by the Python parser check. */
static np_prom_registry *sample(void) {
  np_prom_registry *reg = np_prom_new();
  assert_non_null(reg);
  const char *const tl[] = {"protocol", "result"};
  np_prom_family *tests =
      np_prom_counter(reg, "netpulse_tests_total", "Tests run, by protocol and result.", 2, tl);
  assert_non_null(tests);
  np_prom_inc(np_prom_with(tests, (const char *const[]){"ndt7+wss", "success"}), 1);
  np_prom_inc(np_prom_with(tests, (const char *const[]){"ndt7+wss", "success"}), 2);
  np_prom_inc(np_prom_with(tests, (const char *const[]){"ndt7+ws", "a\\b\"c\nd"}), 1);
  np_prom_family *bytes =
      np_prom_counter(reg, "netpulse_sent_bytes_total", "Bytes sent.\nMultiline \\ help", 0, NULL);
  np_prom_inc(np_prom_with(bytes, NULL), 1e6);
  np_prom_inc(np_prom_with(bytes, NULL), -5); /* ignored: counters only grow */
  np_prom_family *g =
      np_prom_gauge(reg, "netpulse_saturation", "Load 0..1.", 1, (const char *const[]){"limit"});
  np_prom_set(np_prom_with(g, (const char *const[]){"concurrency"}), 0.25);
  np_prom_set(np_prom_with(g, (const char *const[]){"budget"}), 0.1);
  np_prom_set(np_prom_with(g, (const char *const[]){"spool"}), NAN);
  static const double bounds[] = {0.5, 1, 2.5, INFINITY};
  np_prom_family *h = np_prom_histogram(reg, "netpulse_test_duration_seconds", "Durations.", 1,
                                        (const char *const[]){"test"}, bounds, 4);
  assert_non_null(h);
  np_prom_series *hs = np_prom_with(h, (const char *const[]){"ndt7"});
  np_prom_observe(hs, 0.5);
  np_prom_observe(hs, 2);
  np_prom_observe(hs, 10.25);
  np_prom_family *empty = np_prom_counter(reg, "netpulse_rejections_total", "Refusals by reason.",
                                          1, (const char *const[]){"reason"});
  assert_non_null(empty);
  np_prom_family *nl =
      np_prom_histogram(reg, "netpulse_rate_bits", "Rates.", 0, NULL, (const double[]){1e9}, 1);
  np_prom_observe(np_prom_with(nl, NULL), 1.5e9);
  return reg;
}

static const char sample_text[] =
    "# HELP netpulse_tests_total Tests run, by protocol and result.\n"
    "# TYPE netpulse_tests_total counter\n"
    "netpulse_tests_total{protocol=\"ndt7+wss\",result=\"success\"} 3\n"
    "netpulse_tests_total{protocol=\"ndt7+ws\",result=\"a\\\\b\\\"c\\nd\"} 1\n"
    "# HELP netpulse_sent_bytes_total Bytes sent.\\nMultiline \\\\ help\n"
    "# TYPE netpulse_sent_bytes_total counter\n"
    "netpulse_sent_bytes_total 1000000\n"
    "# HELP netpulse_saturation Load 0..1.\n"
    "# TYPE netpulse_saturation gauge\n"
    "netpulse_saturation{limit=\"concurrency\"} 0.25\n"
    "netpulse_saturation{limit=\"budget\"} 0.1\n"
    "netpulse_saturation{limit=\"spool\"} NaN\n"
    "# HELP netpulse_test_duration_seconds Durations.\n"
    "# TYPE netpulse_test_duration_seconds histogram\n"
    "netpulse_test_duration_seconds_bucket{test=\"ndt7\",le=\"0.5\"} 1\n"
    "netpulse_test_duration_seconds_bucket{test=\"ndt7\",le=\"1\"} 1\n"
    "netpulse_test_duration_seconds_bucket{test=\"ndt7\",le=\"2.5\"} 2\n"
    "netpulse_test_duration_seconds_bucket{test=\"ndt7\",le=\"+Inf\"} 3\n"
    "netpulse_test_duration_seconds_sum{test=\"ndt7\"} 12.75\n"
    "netpulse_test_duration_seconds_count{test=\"ndt7\"} 3\n"
    "# HELP netpulse_rejections_total Refusals by reason.\n"
    "# TYPE netpulse_rejections_total counter\n"
    "# HELP netpulse_rate_bits Rates.\n"
    "# TYPE netpulse_rate_bits histogram\n"
    "netpulse_rate_bits_bucket{le=\"1000000000\"} 0\n"
    "netpulse_rate_bits_bucket{le=\"+Inf\"} 1\n"
    "netpulse_rate_bits_sum 1500000000\n"
    "netpulse_rate_bits_count 1\n";

static void exact_exposition(void **state) {
  (void)state;
  np_prom_registry *reg = sample();
  char *got = render(reg);
  char want[sizeof dropped_head + sizeof sample_text + 64];
  int w = snprintf(want, sizeof want, "%snetpulse_prom_series_dropped_total 0\n%s", dropped_head,
                   sample_text);
  assert_true(w > 0 && (size_t)w < sizeof want);
  assert_string_equal(got, want);
  free(got);
  np_prom_free(reg);
}

static void number_format(void **state) {
  (void)state;
  static const struct {
    double v;
    const char *s;
  } cases[] = {
      {0, "0"},
      {-0.0, "0"},
      {1, "1"},
      {-3, "-3"},
      {1e6, "1000000"},
      {0.1, "0.1"},
      {1.0 / 3, "0.3333333333333333"},
      {1e300, "1e+300"},
      {1e-7, "1e-07"},
      {INFINITY, "+Inf"},
      {-INFINITY, "-Inf"},
      {NAN, "NaN"},
      {9007199254740992.0, "9007199254740992"},
      {18446744073709551616.0, "1.8446744073709552e+19"},
  };
  char out[40];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_true(np_prom_format_value(cases[i].v, out, sizeof out) > 0);
    assert_string_equal(out, cases[i].s);
    if (isfinite(cases[i].v)) assert_true(strtod(out, NULL) == cases[i].v);
  }
  assert_int_equal(np_prom_format_value(1.0 / 3, out, 4), NP_E_TOOBIG);
}

static void series_cap_and_drops(void **state) {
  (void)state;
  np_prom_registry *reg = np_prom_new();
  np_prom_family *f = np_prom_counter(reg, "c_total", "h", 1, (const char *const[]){"k"});
  char v[16];
  for (int i = 0; i < NP_PROM_MAX_SERIES; i++) {
    snprintf(v, sizeof v, "v%d", i);
    np_prom_series *s = np_prom_with(f, (const char *const[]){v});
    assert_non_null(s);
    np_prom_inc(s, 1);
    assert_ptr_equal(np_prom_with(f, (const char *const[]){v}), s);
  }
  assert_null(np_prom_with(f, (const char *const[]){"overflow"}));
  np_prom_inc(np_prom_with(f, (const char *const[]){"overflow"}), 1);
  assert_int_equal(np_prom_dropped(reg), 2);
  /* Existing series still work at the cap. */
  np_prom_series *s0 = np_prom_with(f, (const char *const[]){"v0"});
  np_prom_inc(s0, 4);
  assert_true(np_prom_value(s0) == 5);
  /* Invalid values are dropped, never truncated. */
  char longv[NP_PROM_MAX_VALUE_LEN + 2];
  memset(longv, 'x', sizeof longv - 1);
  longv[sizeof longv - 1] = '\0';
  np_prom_family *g = np_prom_gauge(reg, "g", "h", 1, (const char *const[]){"k"});
  assert_null(np_prom_with(g, (const char *const[]){longv}));
  assert_null(np_prom_with(g, (const char *const[]){"\xff\xfe"}));
  assert_null(np_prom_with(g, (const char *const[]){"\xc0\x80"}));
  assert_null(np_prom_with(g, (const char *const[]){NULL}));
  assert_null(np_prom_with(g, NULL));
  assert_non_null(np_prom_with(g, (const char *const[]){"h\xc3\xa9llo"}));
  assert_int_equal(np_prom_dropped(reg), 7);
  char *txt = render(reg);
  assert_non_null(strstr(txt, "netpulse_prom_series_dropped_total 7\n"));
  assert_non_null(strstr(txt, "c_total{k=\"v255\"} 1\n"));
  free(txt);
  np_prom_free(reg);
}

static void bad_definitions(void **state) {
  (void)state;
  np_prom_registry *reg = np_prom_new();
  assert_null(np_prom_counter(reg, "9bad", "h", 0, NULL));
  assert_null(np_prom_counter(reg, "", "h", 0, NULL));
  assert_null(np_prom_counter(reg, "a-b", "h", 0, NULL));
  assert_null(np_prom_counter(reg, "ok", NULL, 0, NULL));
  assert_null(np_prom_counter(reg, "ok", "h", 1, (const char *const[]){"__x"}));
  assert_null(np_prom_counter(reg, "ok", "h", 1, (const char *const[]){"a:b"}));
  assert_null(np_prom_counter(reg, "ok", "h", 2, (const char *const[]){"a", "a"}));
  assert_null(
      np_prom_histogram(reg, "ok", "h", 1, (const char *const[]){"le"}, (const double[]){1}, 1));
  assert_null(np_prom_histogram(reg, "ok", "h", 0, NULL, (const double[]){2, 1}, 2));
  assert_null(np_prom_histogram(reg, "ok", "h", 0, NULL, (const double[]){1, NAN}, 2));
  assert_non_null(np_prom_counter(reg, "ns:ok_total", "h", 0, NULL));
  assert_null(np_prom_gauge(reg, "ns:ok_total", "h", 0, NULL)); /* duplicate */
  assert_null(np_prom_counter(reg, NP_PROM_DROPPED_NAME, "h", 0, NULL));
  /* Updates of the wrong kind and NULL handles are harmless no-ops. */
  np_prom_inc(NULL, 1);
  np_prom_set(NULL, 1);
  np_prom_observe(NULL, 1);
  np_prom_series *c = np_prom_with(np_prom_counter(reg, "c", "h", 0, NULL), NULL);
  np_prom_observe(c, 3);
  np_prom_set(c, -1);
  np_prom_inc(c, NAN);
  assert_true(np_prom_value(c) == 0);
  np_prom_set(c, 42);
  assert_true(np_prom_value(c) == 42);
  assert_int_equal(np_prom_write(NULL, NULL), NP_E_BADARG);
  np_prom_free(reg);
  np_prom_free(NULL);
}

static void too_small_buffer(void **state) {
  (void)state;
  np_prom_registry *reg = sample();
  np_buf b;
  np_buf_init(&b, 100);
  assert_int_equal(np_prom_write(reg, &b), NP_E_TOOBIG);
  np_buf_free(&b);
  np_prom_free(reg);
}

static double forty_two(void *arg) { return *(double *)arg; }

static void callbacks_and_procstat(void **state) {
  (void)state;
  np_prom_registry *reg = np_prom_new();
  double v = 42.5;
  np_prom_series *s = np_prom_with(np_prom_gauge(reg, "cb", "h", 0, NULL), NULL);
  np_prom_set_fn(s, forty_two, &v);
  assert_int_equal(np_procstat_register(reg), 0);
  assert_int_equal(np_procstat_register(reg), NP_E_BADARG); /* duplicates */
  char *txt = render(reg);
  assert_non_null(strstr(txt, "\ncb 42.5\n"));
  assert_non_null(strstr(txt, "# TYPE process_cpu_seconds_total counter\n"));
  assert_non_null(strstr(txt, "\nprocess_resident_memory_bytes "));
  assert_null(strstr(txt, "\nprocess_resident_memory_bytes 0\n"));
  assert_null(strstr(txt, "\nprocess_open_fds 0\n"));
  assert_non_null(strstr(txt, "\nprocess_start_time_seconds "));
  free(txt);
  np_procstat st;
  assert_int_equal(np_procstat_read(&st), 0);
  assert_true(st.resident_bytes > 0);
  assert_true(st.open_fds >= 3);
  assert_true(st.start_time_seconds > 1.5e9);
  np_prom_free(reg);
}

static void procstat_parse(void **state) {
  (void)state;
  /* comm with ") (" inside: the fields start after the last ')'. */
  static const char stat[] =
      "1234 (we) (ird) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 "
      "1 0 1000 123456789 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 "
      "0 0 0 0 0 0\n";
  np_procstat st = {0};
  assert_int_equal(np_procstat_parse_stat(stat, sizeof stat - 1, 100, 1700000000, &st), 0);
  assert_true(st.cpu_seconds == 3.0);
  assert_true(st.start_time_seconds == 1700000010.0);
  assert_int_equal(st.virtual_bytes, 123456789);
  assert_int_equal(np_procstat_parse_stat("1 (x) S 1 2", 11, 100, 0, &st), NP_E_PROTO);
  assert_int_equal(np_procstat_parse_stat("garbage", 7, 100, 0, &st), NP_E_PROTO);
  assert_int_equal(np_procstat_parse_stat(stat, sizeof stat - 1, 0, 0, &st), NP_E_BADARG);
}

/* Feeds the sample to the real Prometheus text parser when it is installed
 * (Debian python3-prometheus-client); skipped otherwise. */
static void python_parser_accepts(void **state) {
  (void)state;
  const char *src = getenv("NP_SOURCE_DIR");
  if (!src || system("/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null") != 0) {
    skip();
    return;
  }
  char cmd[4096];
  int w = snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/unit/test_prom_parse.py'", src);
  assert_true(w > 0 && (size_t)w < sizeof cmd);
  FILE *p = popen(cmd, "w");
  assert_non_null(p);
  np_prom_registry *reg = sample();
  assert_int_equal(np_procstat_register(reg), 0);
  char *txt = render(reg);
  fputs(txt, p);
  free(txt);
  np_prom_free(reg);
  assert_int_equal(pclose(p), 0);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--sample") == 0) {
    /* For tests/unit/test_prom_parse.py: print the sample and exit. */
    np_prom_registry *reg = sample();
    (void)np_procstat_register(reg);
    char *txt = render(reg);
    fputs(txt, stdout);
    free(txt);
    np_prom_free(reg);
    return 0;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(exact_exposition),     cmocka_unit_test(number_format),
      cmocka_unit_test(series_cap_and_drops), cmocka_unit_test(bad_definitions),
      cmocka_unit_test(too_small_buffer),     cmocka_unit_test(callbacks_and_procstat),
      cmocka_unit_test(procstat_parse),       cmocka_unit_test(python_parser_accepts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
