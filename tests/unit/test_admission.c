/* Unit tests for ops/admission: limits, transmit controller, budget sim. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/error.h"
#include "ops/admission.h"

#define T0 (1000 * NP_NS_PER_S) /* monotonic clocks do not start at 0 */
#define MS (NP_NS_PER_MS)

static np_admit_request req(const char *ip, uint64_t now) {
  np_admit_request r = {
      .test = "ndt7", .transmits = true, .monitoring = false, .client_ip = ip, .now_ns = now};
  return r;
}

static void concurrency_and_clients(void **state) {
  (void)state;
  np_admission_config cfg = {.max_concurrent = 3, .max_per_client = 2, .test_duration_s = 10};
  np_admission *a;
  assert_int_equal(np_admission_new(&cfg, &a), 0);
  np_admit_decision d, d1, d2, d3;
  np_admit_request r = req("192.0.2.1", T0);
  assert_int_equal(np_admit(a, &r, &d1), 0);
  r.now_ns = T0 + 2 * NP_NS_PER_S;
  assert_int_equal(np_admit(a, &r, &d2), 0);
  r.now_ns = T0 + 3 * NP_NS_PER_S;
  assert_int_equal(np_admit(a, &r, &d), NP_E_REFUSED);
  assert_int_equal(d.reason, NP_ADMIT_CLIENT_LIMIT);
  assert_int_equal(d.retry_after_s, 7); /* the first of its tests ends at 10 s */
  r.client_ip = "2001:db8::1";
  assert_int_equal(np_admit(a, &r, &d3), 0);
  r.client_ip = "198.51.100.7";
  assert_int_equal(np_admit(a, &r, &d), NP_E_REFUSED);
  assert_int_equal(d.reason, NP_ADMIT_AT_CAPACITY);
  assert_int_equal(d.retry_after_s, 7);
  assert_string_equal(np_admit_reason_str(d.reason), "at_capacity");
  /* Release frees both the global and the per-client count, once. */
  assert_int_equal(np_admit_release(a, d1.ticket), 0);
  assert_int_equal(np_admit_release(a, d1.ticket), -ENOENT);
  assert_int_equal(np_admit_release(a, 12345), -ENOENT);
  r.client_ip = "192.0.2.1";
  assert_int_equal(np_admit(a, &r, &d1), 0);
  np_admission_stats st;
  np_admission_stats_get(a, r.now_ns, 0, &st);
  assert_int_equal(st.active, 3);
  assert_true(st.concurrency == 1.0);
  assert_int_equal(np_admit_release(a, d1.ticket), 0);
  assert_int_equal(np_admit_release(a, d2.ticket), 0);
  assert_int_equal(np_admit_release(a, d3.ticket), 0);
  /* Churn many distinct clients through the hash: it must never fill. */
  for (int i = 0; i < 10000; i++) {
    char ip[32];
    snprintf(ip, sizeof ip, "10.0.%d.%d", i / 256, i % 256);
    r.client_ip = ip;
    assert_int_equal(np_admit(a, &r, &d), 0);
    if (i % 3 == 2) {
      /* Keep two others alive so deletions happen amid probe chains. */
      assert_int_equal(np_admit_release(a, d.ticket), 0);
      assert_int_equal(np_admit_release(a, d1.ticket), 0);
      assert_int_equal(np_admit_release(a, d2.ticket), 0);
    } else if (i % 3 == 0) {
      d1 = d;
    } else {
      d2 = d;
    }
  }
  char longip[80];
  memset(longip, '1', sizeof longip - 1);
  longip[sizeof longip - 1] = '\0';
  r.client_ip = longip;
  assert_int_equal(np_admit(a, &r, &d), NP_E_BADARG);
  np_admission_free(a);
  np_admission_free(NULL);
}

static void lame_duck_and_spool(void **state) {
  (void)state;
  np_admission_config cfg = {.max_concurrent = 10, .spool_max_bytes = 1000};
  np_admission *a;
  assert_int_equal(np_admission_new(&cfg, &a), 0);
  np_admit_decision d;
  np_admit_request r = req("192.0.2.1", T0);
  r.spool_bytes = 1000;
  assert_int_equal(np_admit(a, &r, &d), NP_E_REFUSED);
  assert_int_equal(d.reason, NP_ADMIT_SPOOL_FULL);
  assert_string_equal(np_admit_reason_str(d.reason), "spool_full");
  assert_int_equal(d.retry_after_s, 60);
  np_admission_stats st;
  np_admission_stats_get(a, T0, 500, &st);
  assert_true(st.spool == 0.5);
  r.spool_bytes = 999; /* the uploader caught up */
  assert_int_equal(np_admit(a, &r, &d), 0);
  assert_int_equal(d.reason, NP_ADMIT_OK);
  assert_int_equal(d.retry_after_s, 0);
  /* An unwritable spool refuses too, with its own reason and a short wait. */
  r.spool_unwritable = true;
  assert_int_equal(np_admit(a, &r, &d), NP_E_REFUSED);
  assert_string_equal(np_admit_reason_str(d.reason), "spool_unwritable");
  assert_int_equal(d.retry_after_s, 10);
  r.spool_unwritable = false;
  np_admission_set_lame_duck(a, true);
  r.monitoring = true; /* not even monitoring once draining */
  assert_int_equal(np_admit(a, &r, &d), NP_E_REFUSED);
  assert_int_equal(d.reason, NP_ADMIT_LAME_DUCK);
  assert_int_equal(d.retry_after_s, 30);
  np_admission_free(a);
}

static void bad_configs(void **state) {
  (void)state;
  np_admission *a = NULL;
  np_admission_config cfg = {0};
  assert_int_equal(np_admission_new(&cfg, &a), NP_E_BADARG);
  cfg.max_concurrent = 5;
  cfg.budget_bps = 1e6;
  assert_int_equal(np_admission_new(&cfg, &a), NP_E_BADARG); /* no window */
  cfg.budget_window_s = 10;
  assert_int_equal(np_admission_new(&cfg, &a), NP_E_BADARG); /* no estimate */
  cfg.test_bytes = 1250001;                                  /* more than 1 Mbit/s * 10 s */
  assert_int_equal(np_admission_new(&cfg, &a), NP_E_BADARG);
  cfg.test_bytes = 1250000;
  assert_int_equal(np_admission_new(&cfg, &a), 0);
  np_admission_free(a);
  cfg.test_bytes = 0;
  cfg.test_rate_bps = 1e5;
  cfg.test_duration_s = 10;
  assert_int_equal(np_admission_new(&cfg, &a), 0);
  np_admit_decision d;
  np_admit_request r = req("x", T0);
  assert_int_equal(np_admit(a, &r, &d), 0);
  assert_int_equal(d.byte_allowance, 125000);
  np_admission_free(a);
}

static void tx_controller(void **state) {
  (void)state;
  np_txctl c;
  np_txctl_init(&c, 100e6);
  uint64_t total = 0, t = T0;
  assert_int_equal(np_txctl_sample(&c, t, total), 0);
  assert_false(np_txctl_limited(&c));
  /* 200 Mbit/s: the rate jumps up at once. */
  t += 100 * MS;
  total += 2500000;
  assert_int_equal(np_txctl_sample(&c, t, total), 0);
  assert_true(c.rate_bps > 199e6 && c.rate_bps < 201e6);
  assert_true(np_txctl_limited(&c));
  /* Silence: decays by 0.95 per sample, 14 samples to get under 100. */
  int n = 0;
  while (np_txctl_limited(&c)) {
    t += 100 * MS;
    assert_int_equal(np_txctl_sample(&c, t, total), 0);
    n++;
  }
  assert_int_equal(n, 14);
  assert_int_equal(np_txctl_sample(&c, t, total), NP_E_BADARG);
  /* A counter reset only rebases. */
  assert_int_equal(np_txctl_sample(&c, t + MS, 5), 0);
  assert_false(np_txctl_limited(&c));

  np_admission_config cfg = {.max_concurrent = 10, .tx_max_rate_bps = 100e6};
  np_admission *a;
  assert_int_equal(np_admission_new(&cfg, &a), 0);
  t = T0;
  total = 0;
  assert_int_equal(np_admission_sample(a, t, total), 0);
  t += 100 * MS;
  total += 2500000;
  assert_int_equal(np_admission_sample(a, t, total), 0);
  np_admit_decision d;
  np_admit_request r = req("192.0.2.1", t);
  assert_int_equal(np_admit(a, &r, &d), NP_E_REFUSED);
  assert_int_equal(d.reason, NP_ADMIT_TX_RATE);
  assert_int_equal(d.retry_after_s, 2); /* 14 samples = 1.4 s */
  r.monitoring = true;
  assert_int_equal(np_admit(a, &r, &d), 0);
  r.monitoring = false;
  r.transmits = false; /* an upload: the server barely transmits */
  assert_int_equal(np_admit(a, &r, &d), 0);
  np_admission_free(a);
}

/* Budget 500 Mbit/s over 10 s; clients arrive every 200 ms; each admitted
 * test sends at 400 Mbit/s for 2 s (100 MB, its allowance). 30 simulated
 * seconds; every full 10 s window must average <= 1.05 x budget. */
static void simulate(int report_progress) {
  const double budget = 500e6;
  const uint32_t window = 10;
  const uint64_t test_bytes = 100000000;
  np_admission_config cfg = {.max_concurrent = 64,
                             .budget_bps = budget,
                             .budget_window_s = window,
                             .test_bytes = test_bytes,
                             .test_duration_s = 2};
  np_admission *a;
  assert_int_equal(np_admission_new(&cfg, &a), 0);
  enum { STEPS = 300, MAXT = 64 }; /* 100 ms steps */
  struct {
    uint64_t ticket, left;
    int on;
  } tests[MAXT] = {{0}};
  uint64_t sent_per_step[STEPS] = {0};
  uint64_t total = 0;
  int admitted = 0, refused = 0;
  uint64_t next_try = 0;
  assert_int_equal(np_admission_sample(a, T0, 0), 0);
  for (int step = 1; step < STEPS; step++) {
    uint64_t now = T0 + (uint64_t)step * 100 * MS;
    /* Running tests send their 100 ms worth, then end at their allowance. */
    for (int i = 0; i < MAXT; i++) {
      if (!tests[i].on) continue;
      uint64_t chunk = 5000000; /* 400 Mbit/s * 100 ms */
      if (chunk > tests[i].left) chunk = tests[i].left;
      tests[i].left -= chunk;
      total += chunk;
      sent_per_step[step] += chunk;
      if (report_progress)
        assert_int_equal(np_admit_progress(a, tests[i].ticket, test_bytes - tests[i].left), 0);
      if (tests[i].left == 0) {
        assert_int_equal(np_admit_release(a, tests[i].ticket), 0);
        tests[i].on = 0;
      }
    }
    assert_int_equal(np_admission_sample(a, now, total), 0);
    if (step % 2 || now < next_try) continue;
    np_admit_decision d;
    np_admit_request r = req("203.0.113.9", now);
    int rc = np_admit(a, &r, &d);
    if (rc == NP_E_REFUSED) {
      assert_int_equal(d.reason, NP_ADMIT_BUDGET);
      assert_true(d.retry_after_s >= 1 && d.retry_after_s <= window);
      if (next_try && report_progress) fail_msg("refused again at %d after Retry-After", step);
      refused++;
      /* A well-behaved client honours Retry-After: the first try after it
       * must succeed, since nothing else was admitted meanwhile. */
      next_try = now + d.retry_after_s * NP_NS_PER_S;
      continue;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(d.byte_allowance, test_bytes);
    if (next_try) {
      assert_true(now >= next_try);
    }
    next_try = 0;
    admitted++;
    for (int i = 0; i < MAXT; i++) {
      if (tests[i].on) continue;
      tests[i].on = 1;
      tests[i].ticket = d.ticket;
      tests[i].left = d.byte_allowance;
      break;
    }
  }
  /* Every full 10 s window (100 steps), ending at every step. */
  double worst = 0;
  for (int end = 100; end < STEPS; end++) {
    uint64_t sum = 0;
    for (int k = end - 99; k <= end; k++) sum += sent_per_step[k];
    double avg = (double)sum * 8 / window;
    if (avg > worst) worst = avg;
  }
  print_message("admitted %d refused %d worst window %.1f Mbit/s\n", admitted, refused,
                worst / 1e6);
  assert_true(worst <= 1.05 * budget);
  /* And the budget is actually used: without progress reports running
   * tests count twice, so less of it. */
  assert_true(worst >= (report_progress ? 0.9 : 0.5) * budget);
  assert_true(admitted >= 12 && refused >= 2);
  np_admission_stats st;
  np_admission_stats_get(a, T0 + STEPS * 100 * MS, 0, &st);
  assert_true(st.budget > 0 && st.budget <= 1.0 + 1e-9);
  np_admission_free(a);
}

static void budget_simulation(void **state) {
  (void)state;
  simulate(1);
  simulate(0);
}

/* Retry-After for a budget refusal: the time until the oldest bytes leave. */
static void budget_retry_after(void **state) {
  (void)state;
  np_admission_config cfg = {
      .max_concurrent = 8, .budget_bps = 8e6, .budget_window_s = 10, .test_bytes = 4000000};
  np_admission *a; /* window budget: 10 MB, 4 MB per test */
  assert_int_equal(np_admission_new(&cfg, &a), 0);
  assert_int_equal(np_admission_sample(a, T0, 0), 0);
  /* 7 MB went out 1.05 s in (e.g. monitoring traffic). */
  assert_int_equal(np_admission_sample(a, T0 + 1050 * MS, 7000000), 0);
  np_admit_decision d;
  np_admit_request r = req("a", T0 + 3 * NP_NS_PER_S);
  assert_int_equal(np_admit(a, &r, &d), NP_E_REFUSED);
  assert_int_equal(d.reason, NP_ADMIT_BUDGET);
  /* The 7 MB sit in the slot 1.0..1.1 s, which leaves the window at
   * 11.1 s: 8.1 s from now, rounded up. */
  assert_int_equal(d.retry_after_s, 9);
  r.now_ns = T0 + 11 * NP_NS_PER_S;
  assert_int_equal(np_admit(a, &r, &d), NP_E_REFUSED);
  r.now_ns = T0 + 11100 * MS;
  assert_int_equal(np_admit(a, &r, &d), 0);
  /* Reservations count at once: two tests fill 8 of 10 MB. */
  assert_int_equal(np_admit(a, &r, &d), 0);
  assert_int_equal(np_admit(a, &r, &d), NP_E_REFUSED);
  assert_int_equal(d.retry_after_s, 10); /* only running tests in the way */
  np_admission_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(concurrency_and_clients),
      cmocka_unit_test(lame_duck_and_spool),
      cmocka_unit_test(bad_configs),
      cmocka_unit_test(tx_controller),
      cmocka_unit_test(budget_simulation),
      cmocka_unit_test(budget_retry_after),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
