/* Tests for rpm/service: measurements begin with an ID, gather
 * connections under a cap, and end once (idle, runtime, shutdown). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/error.h"
#include "rpm/service.h"

static const uint8_t addr[4] = {198, 51, 100, 9};
static const uint8_t other[4] = {198, 51, 100, 10};
static uint8_t key[NP_RPM_KEY_LEN];

typedef struct {
  int done;
  char reason[24];
  uint32_t nconns;
  uint64_t id;
} seen;

static void on_done(void *ud, np_rpm_measurement *m) {
  seen *s = ud;
  s->done++;
  strcpy(s->reason, m->rec.end_reason);
  s->nconns = m->rec.nconns;
  s->id = m->rec.id;
}

static np_rpm_service *svc(seen *s, np_rpm_service_cfg *cfg) {
  np_rpm_service_cfg d;
  np_rpm_service_cfg_default(&d);
  np_rpm_service *r = NULL;
  assert_int_equal(np_rpm_service_new(&r, cfg ? cfg : &d, key, 0, on_done, s), 0);
  return r;
}

static void test_lifecycle_idle(void **state) {
  (void)state;
  seen s = {0};
  np_rpm_service *v = svc(&s, NULL);
  np_rpm_measurement *m = NULL;
  uint64_t t = NP_NS_PER_S;
  assert_int_equal(np_rpm_service_begin(v, np_slice_make(addr, 4), t, 1000, &m), 0);
  assert_int_equal(strlen(m->mid), NP_RPM_MID_LEN);
  np_rpm_measurement *f = NULL;
  assert_int_equal(np_rpm_service_find(v, np_slice_cstr(m->mid), np_slice_make(addr, 4), t, &f),
                   NP_RPM_MID_OK);
  assert_ptr_equal(f, m);
  assert_int_equal(np_rpm_service_find(v, np_slice_cstr(m->mid), np_slice_make(other, 4), t, &f),
                   NP_RPM_MID_FORGED);
  int a = np_rpm_measurement_join(v, m, "u_1", 1000, t);
  int b = np_rpm_measurement_join(v, m, "u_2", 1001, t + NP_NS_PER_MS);
  assert_int_equal(a, 0);
  assert_int_equal(b, 1);
  np_rpm_measurement_leave(m, a, t + NP_NS_PER_S, "peer-closed");
  np_rpm_measurement_leave(m, a, t + 2 * NP_NS_PER_S, "again"); /* once only */
  assert_string_equal(m->rec.conns[0].end_reason, "peer-closed");
  assert_int_equal(np_rpm_service_tick(v, t + 10 * NP_NS_PER_S, 2000, NULL), 0); /* b open */
  np_rpm_measurement_leave(m, b, t + 11 * NP_NS_PER_S, "peer-closed");
  assert_int_equal(np_rpm_service_tick(v, t + 12 * NP_NS_PER_S, 2000, NULL), 0); /* grace */
  assert_int_equal(np_rpm_service_tick(v, t + 17 * NP_NS_PER_S, 3000, NULL), 1);
  assert_int_equal(s.done, 1);
  assert_string_equal(s.reason, "idle");
  assert_int_equal(s.nconns, 2);
  assert_int_equal(np_rpm_service_live(v), 0);
  np_rpm_service_free(v, 0);
  assert_int_equal(s.done, 1);
}

static void test_runtime_and_shutdown(void **state) {
  (void)state;
  seen s = {0};
  np_rpm_service *v = svc(&s, NULL);
  np_rpm_measurement *m = NULL, *m2 = NULL;
  assert_int_equal(np_rpm_service_begin(v, np_slice_make(addr, 4), 0, 0, &m), 0);
  char saved[NP_RPM_MID_LEN + 1];
  strcpy(saved, m->mid);
  (void)np_rpm_measurement_join(v, m, "u", 1, 0);
  assert_int_equal(np_rpm_service_tick(v, 121 * NP_NS_PER_S, 1, NULL), 1);
  assert_string_equal(s.reason, "runtime");
  np_rpm_measurement *f = NULL;
  assert_int_equal(
      np_rpm_service_find(v, np_slice_cstr(saved), np_slice_make(addr, 4), 100 * NP_NS_PER_S, &f),
      NP_RPM_MID_EXPIRED);
  assert_int_equal(np_rpm_service_begin(v, np_slice_make(addr, 4), 130 * NP_NS_PER_S, 0, &m2), 0);
  np_rpm_service_free(v, 5);
  assert_int_equal(s.done, 2);
  assert_string_equal(s.reason, "shutdown");
}

static void test_caps(void **state) {
  (void)state;
  seen s = {0};
  np_rpm_service_cfg cfg;
  np_rpm_service_cfg_default(&cfg);
  cfg.max_measurements = 2;
  cfg.max_conns = 3;
  np_rpm_service *v = svc(&s, &cfg);
  np_rpm_measurement *m[3];
  assert_int_equal(np_rpm_service_begin(v, np_slice_make(addr, 4), 0, 0, &m[0]), 0);
  assert_int_equal(np_rpm_service_begin(v, np_slice_make(addr, 4), 0, 0, &m[1]), 0);
  assert_int_equal(np_rpm_service_begin(v, np_slice_make(addr, 4), 0, 0, &m[2]), NP_E_REFUSED);
  assert_int_not_equal(m[0]->rec.id, m[1]->rec.id);
  assert_string_not_equal(m[0]->mid, m[1]->mid);
  for (int i = 0; i < 3; i++) assert_int_equal(np_rpm_measurement_join(v, m[0], "u", i, 0), i);
  assert_int_equal(np_rpm_measurement_join(v, m[0], "u", 9, 0), NP_E_TOOBIG);
  assert_int_equal(np_rpm_measurement_join(v, m[0], "u", 10, 0), NP_E_TOOBIG);
  assert_int_equal(m[0]->rec.conns_refused, 2);
  /* The cap is on connections open at once: one leaves, one more joins. */
  np_rpm_measurement_leave(m[0], 1, NP_NS_PER_S, "peer-closed");
  assert_true(np_rpm_measurement_join(v, m[0], "u", 11, NP_NS_PER_S) >= 0);
  assert_int_equal(np_rpm_measurement_join(v, m[0], "u", 12, NP_NS_PER_S), NP_E_TOOBIG);
  assert_int_equal(m[0]->rec.conns_refused, 3);
  assert_int_equal(np_rpm_service_begin(v, np_slice_make(addr, 3), 0, 0, &m[2]), NP_E_BADARG);
  np_rpm_service_free(v, 0);
}

/* 5,000 short connections one after another (a probe each, 100 a second)
 * with the defaults: none is refused, whatever their number. */
static void test_churn(void **state) {
  (void)state;
  seen s = {0};
  np_rpm_service *v = svc(&s, NULL);
  np_rpm_measurement *m = NULL;
  assert_int_equal(np_rpm_service_begin(v, np_slice_make(addr, 4), 0, 0, &m), 0);
  int load = np_rpm_measurement_join(v, m, "u_load", 1, 0);
  assert_true(load >= 0);
  assert_true(np_rpm_record_add_request(&m->rec, load, NP_RPM_EP_LARGE, 1, 0) >= 0);
  for (int i = 0; i < 5000; i++) {
    uint64_t t = (uint64_t)i * 10 * NP_NS_PER_MS;
    int c = np_rpm_measurement_join(v, m, "u", 2 + i, t);
    assert_true(c >= 0);
    assert_true(np_rpm_record_add_request(&m->rec, c, NP_RPM_EP_SMALL, 1, t) >= 0);
    np_rpm_measurement_leave(m, c, t + 5 * NP_NS_PER_MS, "idle");
  }
  assert_int_equal(m->rec.conns_refused, 0);
  assert_int_equal(m->rec.nconns, 5001);
  assert_int_equal(m->open_conns, 1);
  /* ... and the default cap holds what a probe a second at 100/s keeps
   * open (the load, and probes answered within 2 s of loaded RTT). */
  np_rpm_service_cfg d;
  np_rpm_service_cfg_default(&d);
  for (uint32_t i = 1; i < d.max_conns; i++)
    assert_true(np_rpm_measurement_join(v, m, "u", 1, 60 * NP_NS_PER_S) >= 0);
  assert_int_equal(np_rpm_measurement_join(v, m, "u", 1, 60 * NP_NS_PER_S), NP_E_TOOBIG);
  assert_int_equal(m->rec.conns_refused, 1);
  np_rpm_service_free(v, 0);
  assert_int_equal(s.done, 1);
  assert_int_equal(s.nconns, 5000 + d.max_conns + 0);
}

static void test_rotation(void **state) {
  (void)state;
  seen s = {0};
  np_rpm_service *v = svc(&s, NULL);
  np_rpm_measurement *m = NULL;
  assert_int_equal(np_rpm_service_begin(v, np_slice_make(addr, 4), 0, 0, &m), 0);
  uint8_t fresh[NP_RPM_KEY_LEN];
  memset(fresh, 0x42, sizeof fresh);
  assert_false(np_rpm_service_rotation_due(v, 60 * NP_NS_PER_S));
  assert_true(np_rpm_service_rotation_due(v, 3600 * NP_NS_PER_S));
  (void)np_rpm_service_tick(v, 3600 * NP_NS_PER_S, 0, fresh);
  np_rpm_measurement *m2 = NULL;
  assert_int_equal(np_rpm_service_begin(v, np_slice_make(addr, 4), 3600 * NP_NS_PER_S, 0, &m2), 0);
  np_rpm_measurement *f = NULL;
  assert_int_equal(np_rpm_service_find(v, np_slice_cstr(m2->mid), np_slice_make(addr, 4),
                                       3601 * NP_NS_PER_S, &f),
                   NP_RPM_MID_OK);
  np_rpm_service_free(v, 0);
}

int main(void) {
  for (int i = 0; i < NP_RPM_KEY_LEN; i++) key[i] = (uint8_t)(i * 29 + 3);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lifecycle_idle), cmocka_unit_test(test_runtime_and_shutdown),
      cmocka_unit_test(test_caps),           cmocka_unit_test(test_churn),
      cmocka_unit_test(test_rotation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
