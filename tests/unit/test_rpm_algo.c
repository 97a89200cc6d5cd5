/* Tests for rpm/algo on a simulated clock with synthetic samples: trimmed
 * mean, moving averages, stability, the flow ramp, the RPM formula, the
 * confidence, probe pacing; a goodput that never stabilises and a latency
 * that drifts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/error.h"
#include "rpm/algo.h"

#define S NP_NS_PER_S
#define MS NP_NS_PER_MS
#define T0 (1000 * S) /* the simulated clock starts anywhere */

static np_rpm_algo *new_algo(const np_rpm_params *p) {
  np_rpm_algo *a = malloc(sizeof *a);
  assert_non_null(a);
  assert_int_equal(np_rpm_algo_init(a, p, T0), 0);
  return a;
}

static void free_algo(np_rpm_algo *a) {
  np_rpm_algo_free(a);
  free(a);
}

static void test_trimmed_mean(void **state) {
  (void)state;
  double v[20];
  /* 20 values in reverse: 5 % of 20 is one, the slowest (20) goes. */
  for (int i = 0; i < 20; i++) v[i] = 20 - i;
  assert_float_equal(np_rpm_trimmed_mean(v, 20, 0.95), 10.0, 1e-9);
  assert_float_equal(v[0], 1.0, 0); /* sorted in place */
  /* Fewer than 20: nothing is trimmed. */
  double w[] = {3, 1, 2, 100};
  assert_float_equal(np_rpm_trimmed_mean(w, 4, 0.95), 26.5, 1e-9);
  /* Keeping half drops the slow half, never the fast one. */
  double x[] = {9, 1, 8, 2};
  assert_float_equal(np_rpm_trimmed_mean(x, 4, 0.5), 1.5, 1e-9);
  assert_float_equal(np_rpm_trimmed_mean(NULL, 0, 0.95), 0, 0);
  double one[] = {7};
  assert_float_equal(np_rpm_trimmed_mean(one, 1, 0.5), 7, 0);
}

static void test_mean_stddev(void **state) {
  (void)state;
  double v[] = {2, 4, 4, 4, 5, 5, 7, 9}, m, sd;
  np_rpm_mean_stddev(v, 8, &m, &sd);
  assert_float_equal(m, 5, 1e-12);
  assert_float_equal(sd, 2, 1e-12);
}

static void test_bands_and_names(void **state) {
  (void)state;
  assert_string_equal(np_rpm_band(0), "");
  assert_string_equal(np_rpm_band(299.9), "Poor");
  assert_string_equal(np_rpm_band(300), "Fair");
  assert_string_equal(np_rpm_band(999), "Fair");
  assert_string_equal(np_rpm_band(1000), "Good");
  assert_string_equal(np_rpm_band(5999), "Good");
  assert_string_equal(np_rpm_band(6000), "Excellent");
  assert_string_equal(np_rpm_confidence_name(NP_RPM_CONF_LOW), "Low");
  assert_string_equal(np_rpm_confidence_name(NP_RPM_CONF_MEDIUM), "Medium");
  assert_string_equal(np_rpm_confidence_name(NP_RPM_CONF_HIGH), "High");
}

static void test_params(void **state) {
  (void)state;
  np_rpm_params p;
  np_rpm_params_default(&p);
  assert_int_equal(np_rpm_params_check(&p), 0);
  assert_int_equal(p.interval_ns, S);
  assert_int_equal(p.mad, 4);
  assert_int_equal(p.max_flows, 16);
  np_rpm_params q = p;
  q.mad = 0;
  assert_int_equal(np_rpm_params_check(&q), NP_E_BADARG);
  q = p;
  q.tmp = 1.5;
  assert_int_equal(np_rpm_params_check(&q), NP_E_BADARG);
  q = p;
  q.max_duration_ns = p.interval_ns * NP_RPM_MAX_INTERVALS;
  assert_int_equal(np_rpm_params_check(&q), NP_E_BADARG);
  np_rpm_algo a;
  assert_int_equal(np_rpm_algo_init(&a, &q, T0), NP_E_BADARG);
}

/* The formula: foreign = 60000 / mean(TM tcp, TM tls, TM http), loaded =
 * 60000 / TM self, RPM their average; cleartext leaves TLS out. */
static void test_formula(void **state) {
  (void)state;
  np_rpm_params p;
  np_rpm_params_default(&p);
  np_rpm_algo *a = new_algo(&p);
  for (int i = 0; i < 10; i++) {
    assert_int_equal(np_rpm_algo_foreign(a, T0 + (uint64_t)i * MS, 10, 20, 30), 0);
    assert_int_equal(np_rpm_algo_self(a, T0 + (uint64_t)i * MS, 40), 0);
  }
  np_rpm_outcome o;
  np_rpm_algo_outcome(a, &o);
  assert_float_equal(o.tm_tcp_ms, 10, 1e-9);
  assert_float_equal(o.tm_tls_ms, 20, 1e-9);
  assert_float_equal(o.tm_http_foreign_ms, 30, 1e-9);
  assert_float_equal(o.tm_http_self_ms, 40, 1e-9);
  assert_float_equal(o.rpm_foreign, 3000, 1e-6);
  assert_float_equal(o.rpm_loaded, 1500, 1e-6);
  assert_float_equal(o.rpm, 2250, 1e-6);
  assert_float_equal(o.latency_ms, 60000.0 / 2250, 1e-9);
  assert_int_equal(o.probes_foreign, 10);
  assert_int_equal(o.probes_self, 10);
  assert_int_equal(o.confidence, NP_RPM_CONF_LOW); /* no interval yet */
  free_algo(a);

  a = new_algo(&p); /* cleartext: (tcp + http) / 2, and no self probes */
  assert_int_equal(np_rpm_algo_foreign(a, T0, 10, -1, 30), 0);
  np_rpm_algo_outcome(a, &o);
  assert_float_equal(o.rpm_foreign, 3000, 1e-6);
  assert_float_equal(o.rpm, 3000, 1e-6);
  assert_float_equal(o.rpm_loaded, 0, 0);
  assert_int_equal(np_rpm_algo_self(a, T0, -1), NP_E_BADARG);
  free_algo(a);
}

/* Drives one simulated phase: interval k moves goodput(k) bytes, and
 * probes take foreign/self ms from latency(k). Returns the interval count
 * at which the algorithm said DONE; *flows gets the flows it asked for. */
typedef double (*curve)(uint32_t k);

static uint32_t run(np_rpm_algo *a, curve goodput_mbps, curve latency_ms, uint32_t *ret_flows) {
  uint32_t flows = 1;
  uint64_t now = T0;
  for (uint32_t k = 0; k < NP_RPM_MAX_INTERVALS; k++) {
    /* Ten probe rounds per interval, with a little spread. */
    for (int j = 0; j < 10; j++) {
      uint64_t t = now + (uint64_t)(j + 1) * (a->p.interval_ns / 11);
      double l = latency_ms(k) * (1 + 0.01 * (j % 3));
      assert_int_equal(np_rpm_algo_foreign(a, t, l, l, l), 0);
      assert_int_equal(np_rpm_algo_self(a, t, l), 0);
    }
    now += a->p.interval_ns;
    uint64_t bytes = (uint64_t)(goodput_mbps(k) * 1e6 / 8 * ((double)a->p.interval_ns / 1e9));
    np_rpm_step st = np_rpm_algo_interval(a, now, bytes, flows);
    if (st == NP_RPM_STEP_DONE) {
      *ret_flows = flows;
      return k + 1;
    }
    if (st == NP_RPM_STEP_ADD_FLOW) {
      assert_true(flows < a->p.max_flows);
      flows++;
    }
  }
  fail_msg("never done");
  return 0;
}

static double flat_100(uint32_t k) {
  (void)k;
  return 100;
}
static double flat_20ms(uint32_t k) {
  (void)k;
  return 20;
}
/* Ramps up over three intervals, then holds. */
static double ramp_then_flat(uint32_t k) { return k < 3 ? 30.0 * (k + 1) : 100; }
/* Grows 10 % every interval, as on a path whose bottleneck keeps moving:
 * four moving averages spread about 13 % of their mean, never under SDT. */
static double never_stable(uint32_t k) {
  double v = 10;
  for (uint32_t i = 0; i < k; i++) v *= 1.1;
  return v;
}
/* Latency drifts up 8 % an interval: responsiveness never settles. */
static double drifting(uint32_t k) {
  double v = 20;
  for (uint32_t i = 0; i < k; i++) v *= 1.08;
  return v;
}

static void test_stable_is_high(void **state) {
  (void)state;
  np_rpm_params p;
  np_rpm_params_default(&p);
  np_rpm_algo *a = new_algo(&p);
  uint32_t flows = 0;
  uint32_t n = run(a, flat_100, flat_20ms, &flows);
  /* MAD moving averages need MAD intervals each; MAD of them: 2 MAD - 1. */
  assert_int_equal(n, 2 * p.mad - 1);
  /* One flow more every interval until goodput was stable. */
  assert_int_equal(flows, 2 * p.mad - 1);
  np_rpm_outcome o;
  np_rpm_algo_outcome(a, &o);
  assert_int_equal(o.confidence, NP_RPM_CONF_HIGH);
  assert_true(o.goodput_stable && o.rpm_stable);
  assert_float_equal(o.goodput_mbps, 100, 1e-6);
  /* 20 ms with a 1-2 % spread: ~2950 RPM both ways. */
  assert_true(o.rpm > 2900 && o.rpm < 3000);
  assert_int_equal(o.flows, flows);
  /* Only the last MAD intervals' probes count (probes that complete after
   * the last close belong to it too). */
  assert_int_equal(o.probes_self, 10 * p.mad);
  free_algo(a);
}

static void test_ramp_waits_for_goodput(void **state) {
  (void)state;
  np_rpm_params p;
  np_rpm_params_default(&p);
  np_rpm_algo *a = new_algo(&p);
  uint32_t flows = 0;
  uint32_t n = run(a, ramp_then_flat, flat_20ms, &flows);
  /* Moving averages 70, 87.5, 97.5, 100, 100 ...: the spread of the last
   * four falls under 5 % at interval 9 (97.5, 100, 100, 100), two later
   * than on a flat path. */
  assert_int_equal(n, 9);
  assert_int_equal(a->goodput_stable_at, n);
  free_algo(a);
}

static void test_never_stable_goodput(void **state) {
  (void)state;
  np_rpm_params p;
  np_rpm_params_default(&p);
  p.max_duration_ns = 20 * S;
  np_rpm_algo *a = new_algo(&p);
  uint32_t flows = 0;
  uint32_t n = run(a, never_stable, flat_20ms, &flows);
  assert_int_equal(n, 20);              /* ran to max duration */
  assert_int_equal(flows, p.max_flows); /* and ramped to the cap */
  np_rpm_outcome o;
  np_rpm_algo_outcome(a, &o);
  assert_false(o.goodput_stable);
  assert_false(o.rpm_stable); /* not judged before goodput is stable */
  assert_int_equal(o.confidence, NP_RPM_CONF_MEDIUM);
  assert_true(o.rpm > 2900 && o.rpm < 3000);
  free_algo(a);
}

static void test_drifting_latency(void **state) {
  (void)state;
  np_rpm_params p;
  np_rpm_params_default(&p);
  p.max_duration_ns = 15 * S;
  np_rpm_algo *a = new_algo(&p);
  uint32_t flows = 0;
  uint32_t n = run(a, flat_100, drifting, &flows);
  assert_int_equal(n, 15);
  np_rpm_outcome o;
  np_rpm_algo_outcome(a, &o);
  assert_true(o.goodput_stable);
  assert_false(o.rpm_stable);
  assert_int_equal(o.confidence, NP_RPM_CONF_MEDIUM);
  /* The result describes the end of the run: latency of the last MAD
   * intervals (20 * 1.08^11 .. 1.08^14 ms), not the start. */
  assert_true(o.tm_http_self_ms > 20 * 2.3 && o.tm_http_self_ms < 20 * 3.0);
  /* No flows are added once goodput was stable. */
  assert_int_equal(flows, 2 * p.mad - 1);
  free_algo(a);
}

static void test_short_run_is_low(void **state) {
  (void)state;
  np_rpm_params p;
  np_rpm_params_default(&p);
  p.max_duration_ns = 3 * S; /* fewer than MAD intervals */
  np_rpm_algo *a = new_algo(&p);
  uint32_t flows = 0;
  assert_int_equal(run(a, flat_100, flat_20ms, &flows), 3);
  np_rpm_outcome o;
  np_rpm_algo_outcome(a, &o);
  assert_int_equal(o.confidence, NP_RPM_CONF_LOW);
  free_algo(a);
}

static void test_interval_uses_real_length(void **state) {
  (void)state;
  np_rpm_params p;
  np_rpm_params_default(&p);
  np_rpm_algo *a = new_algo(&p);
  /* A timer that fired at 2 s: 25 MB in 2 s is 100 Mbit/s, not 200. */
  (void)np_rpm_algo_interval(a, T0 + 2 * S, 25000000, 1);
  assert_float_equal(a->goodput[0], 100e6, 1);
  free_algo(a);
}

static void test_moving_average_over_late_timers(void **state) {
  (void)state;
  np_rpm_params p;
  np_rpm_params_default(&p);
  np_rpm_algo *a = new_algo(&p);
  /* A steady 40 Mbit/s (5 MB/s) read by a loop that stalls now and then:
   * the interval timer fires 0.3 s late, before the stall's bytes are
   * read, and the next (on time) interval gets them. The mean of the two
   * rates, 0.77 and 1.3 times the link, reads 3.5 % above it. */
  uint64_t now = T0;
  for (uint32_t k = 0; k < 2 * p.mad; k++) {
    int late = k % 2 == 0;
    now += late ? 1300 * MS : S;
    (void)np_rpm_algo_interval(a, now, late ? 5000000 : 6500000, 1);
  }
  np_rpm_outcome o;
  np_rpm_algo_outcome(a, &o);
  assert_float_equal(o.goodput_mbps, 40.0, 0.01);
  free_algo(a);
}

static void test_goodput_over_a_filled_hole(void **state) {
  (void)state;
  np_rpm_params p;
  np_rpm_params_default(&p);
  np_rpm_algo *a = new_algo(&p);
  /* A steady 40 Mbit/s (5 MB/s) read through TCP: 800 kB that arrived in
   * the last interval before the final window wait behind a loss hole and
   * are read in the window's first interval. The last window alone reads
   * 41.6 Mbit/s; the median of the last MAD windows sees the link. */
  uint64_t now = T0;
  uint32_t n = 2 * p.mad + 2, shifted = n - p.mad;
  for (uint32_t k = 0; k < n; k++) {
    now += S;
    uint64_t bytes = 5000000;
    if (k == shifted - 1) bytes -= 800000;
    if (k == shifted) bytes += 800000;
    (void)np_rpm_algo_interval(a, now, bytes, 1);
  }
  assert_float_equal(a->gp_ma[n - 1] / 1e6, 41.6, 0.01);
  np_rpm_outcome o;
  np_rpm_algo_outcome(a, &o);
  assert_float_equal(o.goodput_mbps, 40.0, 0.01);
  free_algo(a);
}

static void test_probe_pacing(void **state) {
  (void)state;
  np_rpm_params p;
  np_rpm_params_default(&p);
  np_rpm_algo *a = new_algo(&p);
  /* Before any load: MPS alone, 100 probes/s in rounds of two. */
  assert_int_equal(np_rpm_algo_probe_gap_ns(a, 2, 1000), 20 * MS);
  /* 8 Mbit/s of load: 5 % is 50 kB/s, 2 kB a round: 25 rounds/s. */
  (void)np_rpm_algo_interval(a, T0 + S, 1000000, 1);
  assert_int_equal(np_rpm_algo_probe_gap_ns(a, 2, 1000), 40 * MS);
  /* Fast links: MPS caps again. */
  (void)np_rpm_algo_interval(a, T0 + 2 * S, 1000000000, 1);
  assert_int_equal(np_rpm_algo_probe_gap_ns(a, 2, 1000), 20 * MS);
  /* No load at all: still one round per interval. */
  (void)np_rpm_algo_interval(a, T0 + 3 * S, 0, 1);
  assert_int_equal(np_rpm_algo_probe_gap_ns(a, 2, 1000), S);
  free_algo(a);
}

static void test_probe_cap(void **state) {
  (void)state;
  np_rpm_params p;
  np_rpm_params_default(&p);
  np_rpm_algo *a = new_algo(&p);
  for (int i = 0; i < NP_RPM_MAX_PROBES + 10; i++) assert_int_equal(np_rpm_algo_self(a, T0, 1), 0);
  assert_int_equal(a->nprobes, NP_RPM_MAX_PROBES);
  assert_int_equal(a->dropped, 10);
  free_algo(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trimmed_mean),
      cmocka_unit_test(test_mean_stddev),
      cmocka_unit_test(test_bands_and_names),
      cmocka_unit_test(test_params),
      cmocka_unit_test(test_formula),
      cmocka_unit_test(test_stable_is_high),
      cmocka_unit_test(test_ramp_waits_for_goodput),
      cmocka_unit_test(test_never_stable_goodput),
      cmocka_unit_test(test_drifting_latency),
      cmocka_unit_test(test_short_run_is_low),
      cmocka_unit_test(test_interval_uses_real_length),
      cmocka_unit_test(test_moving_average_over_late_timers),
      cmocka_unit_test(test_goodput_over_a_filled_hole),
      cmocka_unit_test(test_probe_pacing),
      cmocka_unit_test(test_probe_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
