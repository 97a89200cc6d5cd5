/* Unit tests for ndt7/measure: message-size scaling and the measurement
 * schedule, against the numbers of the ndt7 spec (ndt-server
 * spec/ndt7-protocol.md v0.11.0). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ndt7/ndt7.h"

#define MS INT64_C(1000000)

/* The spec's constants, restated here so that a change in ndt7.h shows. */
static void spec_constants(void **state) {
  (void)state;
  assert_int_equal(NP_NDT7_MIN_MESSAGE, 8192);
  assert_int_equal(NP_NDT7_MAX_SENT_MESSAGE, 1048576);
  assert_int_equal(NP_NDT7_MAX_MESSAGE, 16777216);
  assert_int_equal(NP_NDT7_SCALING_FRACTION, 16);
  assert_int_equal(NP_NDT7_MEAN_INTERVAL_NS, 250 * MS);
  assert_int_equal(NP_NDT7_MIN_INTERVAL_NS, 25 * MS);
  assert_int_equal(NP_NDT7_MAX_INTERVAL_NS, 625 * MS);
}

/* "the sender doubles the size while size < 1<<20 and size <= total/16". */
static void size_boundaries(void **state) {
  (void)state;
  assert_int_equal(np_ndt7_next_size(8192, 0), 8192);
  assert_int_equal(np_ndt7_next_size(8192, 8192), 8192);
  assert_int_equal(np_ndt7_next_size(8192, 16 * 8192 - 1), 8192);
  assert_int_equal(np_ndt7_next_size(8192, 16 * 8192), 16384);
  assert_int_equal(np_ndt7_next_size(1u << 19, (UINT64_C(1) << 23) - 1), 1u << 19);
  assert_int_equal(np_ndt7_next_size(1u << 19, UINT64_C(1) << 23), 1u << 20);
  /* At the cap: never more, whatever was sent; and never less. */
  assert_int_equal(np_ndt7_next_size(1u << 20, UINT64_MAX), 1u << 20);
  assert_int_equal(np_ndt7_next_size(1u << 20, 0), 1u << 20);
  assert_int_equal(np_ndt7_next_size(1u << 24, UINT64_MAX), 1u << 20);
  /* A huge total does not overflow into a small one. */
  assert_int_equal(np_ndt7_next_size(8192, UINT64_MAX), 16384);
}

/* A sender that starts at 1<<13 and sends one message after another: 16
 * messages of 8 KiB, then 8 of each size up to 512 KiB, and 1 MiB from the
 * moment 8 MiB are out, never more. */
static void size_schedule(void **state) {
  (void)state;
  uint32_t size = NP_NDT7_MIN_MESSAGE;
  uint64_t total = 0;
  unsigned count[21] = {0};
  for (int i = 0; i < 200; i++) {
    assert_true(size >= NP_NDT7_MIN_MESSAGE && size <= NP_NDT7_MAX_SENT_MESSAGE);
    assert_true((size & (size - 1)) == 0);
    if (size == NP_NDT7_MAX_SENT_MESSAGE && count[20] == 0)
      assert_int_equal(total, UINT64_C(8) << 20);
    count[__builtin_ctz(size)]++;
    total += size;
    uint32_t next = np_ndt7_next_size(size, total);
    assert_true(next == size || next == 2 * size);
    size = next;
  }
  assert_int_equal(count[13], 16);
  for (int b = 14; b <= 19; b++) {
    if (count[b] != 8) fail_msg("%u messages of 1<<%d, want 8", count[b], b);
  }
  assert_int_equal(count[20], 200 - 16 - 6 * 8);
}

/* The delay is exponential with mean 250 ms, clamped to [25, 625] ms:
 * -ln(u) * 250 ms for u in (0, 1]. */
static void interval_inverse_cdf(void **state) {
  (void)state;
  assert_in_range(np_ndt7_next_interval_ns(exp(-1.0)), 250 * MS - 1000, 250 * MS + 1000);
  assert_in_range(np_ndt7_next_interval_ns(exp(-2.0)), 500 * MS - 1000, 500 * MS + 1000);
  assert_in_range(np_ndt7_next_interval_ns(exp(-0.5)), 125 * MS - 1000, 125 * MS + 1000);
  /* The clamps, on both sides of each bound. */
  assert_int_equal(np_ndt7_next_interval_ns(1.0), 25 * MS);
  assert_int_equal(np_ndt7_next_interval_ns(exp(-0.09)), 25 * MS);
  assert_in_range(np_ndt7_next_interval_ns(exp(-0.12)), 30 * MS - 1000, 30 * MS + 1000);
  assert_in_range(np_ndt7_next_interval_ns(exp(-2.4)), 600 * MS - 1000, 600 * MS + 1000);
  assert_int_equal(np_ndt7_next_interval_ns(exp(-2.6)), 625 * MS);
  assert_int_equal(np_ndt7_next_interval_ns(1e-300), 625 * MS);
  /* Out of (0, 1]: the shortest wait, never a negative or huge one. */
  assert_int_equal(np_ndt7_next_interval_ns(0.0), 25 * MS);
  assert_int_equal(np_ndt7_next_interval_ns(-1.0), 25 * MS);
  assert_int_equal(np_ndt7_next_interval_ns(2.0), 25 * MS);
  assert_int_equal(np_ndt7_next_interval_ns(NAN), 25 * MS);
  assert_int_equal(np_ndt7_next_interval_ns(INFINITY), 25 * MS);
}

/* Over evenly spread u, the schedule has the clamped exponential's
 * moments: mean 25 + 250 (e^-0.1 - e^-2.5) = 230.69 ms (so about 4.3
 * measurements a second, within the spec's 10/s), 9.5 % of the waits at
 * 25 ms and 8.2 % at 625 ms. */
static void interval_distribution(void **state) {
  (void)state;
  const int n = 200000;
  double sum = 0;
  int at_min = 0, at_max = 0;
  for (int i = 0; i < n; i++) {
    uint64_t ns = np_ndt7_next_interval_ns((i + 0.5) / n);
    assert_true(ns >= (uint64_t)NP_NDT7_MIN_INTERVAL_NS && ns <= (uint64_t)NP_NDT7_MAX_INTERVAL_NS);
    sum += (double)ns;
    at_min += ns == (uint64_t)NP_NDT7_MIN_INTERVAL_NS;
    at_max += ns == (uint64_t)NP_NDT7_MAX_INTERVAL_NS;
  }
  double mean_ms = sum / n / 1e6;
  double want_ms = 25.0 + 250.0 * (exp(-0.1) - exp(-2.5));
  if (fabs(mean_ms - want_ms) > 0.1) fail_msg("mean %.3f ms, want %.3f ms", mean_ms, want_ms);
  assert_true(1000.0 / mean_ms <= 10.0);
  double f_min = (double)at_min / n, f_max = (double)at_max / n;
  if (fabs(f_min - (1 - exp(-0.1))) > 0.001) fail_msg("%.4f at the minimum", f_min);
  if (fabs(f_max - exp(-2.5)) > 0.001) fail_msg("%.4f at the maximum", f_max);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(spec_constants),        cmocka_unit_test(size_boundaries),
      cmocka_unit_test(size_schedule),         cmocka_unit_test(interval_inverse_cdf),
      cmocka_unit_test(interval_distribution),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
