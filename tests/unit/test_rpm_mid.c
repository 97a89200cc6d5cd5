/* Tests for rpm/mid: minted IDs verify for their client until they expire;
 * anything else is told apart (forged, expired, malformed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/error.h"
#include "rpm/mid.h"

static const uint8_t v4[4] = {192, 0, 2, 7};
static const uint8_t v4b[4] = {192, 0, 2, 8};
static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

static void key(uint8_t *k, uint8_t seed) {
  for (int i = 0; i < NP_RPM_KEY_LEN; i++) k[i] = (uint8_t)(seed + i * 13);
}

static void test_roundtrip(void **state) {
  (void)state;
  uint8_t fresh[NP_RPM_KEY_LEN];
  key(fresh, 1);
  np_rpm_keys k;
  uint64_t t0 = 5 * NP_NS_PER_S;
  np_rpm_keys_init(&k, fresh, t0);
  char mid[NP_RPM_MID_LEN + 1];
  assert_int_equal(np_rpm_mid_mint(&k, 0x1122334455667788ULL, np_slice_make(v4, 4), t0,
                                   60 * NP_NS_PER_S, mid, sizeof mid),
                   0);
  assert_int_equal(strlen(mid), NP_RPM_MID_LEN);
  for (size_t i = 0; i < NP_RPM_MID_LEN; i++)
    assert_non_null(
        strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", mid[i]));
  uint64_t id = 0;
  assert_int_equal(
      np_rpm_mid_check(&k, np_slice_cstr(mid), np_slice_make(v4, 4), t0 + 59 * NP_NS_PER_S, &id),
      NP_RPM_MID_OK);
  assert_int_equal(id, 0x1122334455667788ULL);
  /* IPv6 clients too. */
  assert_int_equal(np_rpm_mid_mint(&k, 9, np_slice_make(v6, 16), t0, NP_NS_PER_S, mid, sizeof mid),
                   0);
  assert_int_equal(np_rpm_mid_check(&k, np_slice_cstr(mid), np_slice_make(v6, 16), t0, &id),
                   NP_RPM_MID_OK);
  assert_int_equal(id, 9);
}

static void test_wrong_client_expired_tampered(void **state) {
  (void)state;
  uint8_t fresh[NP_RPM_KEY_LEN];
  key(fresh, 2);
  np_rpm_keys k;
  np_rpm_keys_init(&k, fresh, 0);
  char mid[NP_RPM_MID_LEN + 1];
  assert_int_equal(
      np_rpm_mid_mint(&k, 42, np_slice_make(v4, 4), 0, 30 * NP_NS_PER_S, mid, sizeof mid), 0);
  uint64_t id = 7;
  assert_int_equal(np_rpm_mid_check(&k, np_slice_cstr(mid), np_slice_make(v4b, 4), 0, &id),
                   NP_RPM_MID_FORGED);
  assert_int_equal(id, 7); /* untouched */
  assert_int_equal(
      np_rpm_mid_check(&k, np_slice_cstr(mid), np_slice_make(v4, 4), 32 * NP_NS_PER_S, &id),
      NP_RPM_MID_EXPIRED);
  /* Every single-character change is caught. */
  for (size_t i = 0; i < NP_RPM_MID_LEN; i++) {
    char bad[NP_RPM_MID_LEN + 1];
    memcpy(bad, mid, sizeof bad);
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    np_rpm_mid_status st = np_rpm_mid_check(&k, np_slice_cstr(bad), np_slice_make(v4, 4), 0, &id);
    assert_true(st == NP_RPM_MID_FORGED || st == NP_RPM_MID_MALFORMED);
  }
  assert_int_equal(np_rpm_mid_check(&k, np_slice_make("", 0), np_slice_make(v4, 4), 0, &id),
                   NP_RPM_MID_MISSING);
  assert_int_equal(np_rpm_mid_check(&k, np_slice_cstr("short"), np_slice_make(v4, 4), 0, &id),
                   NP_RPM_MID_MALFORMED);
  char plus[NP_RPM_MID_LEN + 1];
  memcpy(plus, mid, sizeof plus);
  plus[3] = '+';
  assert_int_equal(np_rpm_mid_check(&k, np_slice_cstr(plus), np_slice_make(v4, 4), 0, &id),
                   NP_RPM_MID_MALFORMED);
  assert_string_equal(np_rpm_mid_status_name(NP_RPM_MID_FORGED), "forged");
}

static void test_rotation(void **state) {
  (void)state;
  uint8_t a[NP_RPM_KEY_LEN], b[NP_RPM_KEY_LEN], c[NP_RPM_KEY_LEN];
  key(a, 3);
  key(b, 4);
  key(c, 5);
  np_rpm_keys k;
  np_rpm_keys_init(&k, a, 0);
  char mid[NP_RPM_MID_LEN + 1];
  uint64_t ttl = 3600 * NP_NS_PER_S;
  assert_int_equal(np_rpm_mid_mint(&k, 1, np_slice_make(v4, 4), 0, ttl, mid, sizeof mid), 0);
  np_rpm_keys_rotate(&k, b, 10);
  assert_int_equal(np_rpm_mid_check(&k, np_slice_cstr(mid), np_slice_make(v4, 4), 20, NULL),
                   NP_RPM_MID_OK);
  np_rpm_keys_rotate(&k, c, 30);
  assert_int_equal(np_rpm_mid_check(&k, np_slice_cstr(mid), np_slice_make(v4, 4), 40, NULL),
                   NP_RPM_MID_FORGED);
}

static void test_bad_args(void **state) {
  (void)state;
  uint8_t a[NP_RPM_KEY_LEN];
  key(a, 6);
  np_rpm_keys k;
  np_rpm_keys_init(&k, a, 100);
  char mid[NP_RPM_MID_LEN + 1];
  assert_int_equal(np_rpm_mid_mint(&k, 1, np_slice_make(v4, 3), 100, 1, mid, sizeof mid),
                   NP_E_BADARG);
  assert_int_equal(np_rpm_mid_mint(&k, 1, np_slice_make(v4, 4), 100, 1, mid, NP_RPM_MID_LEN),
                   NP_E_BADARG);
  assert_int_equal(np_rpm_mid_mint(&k, 1, np_slice_make(v4, 4), 50, 1, mid, sizeof mid),
                   NP_E_BADARG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_wrong_client_expired_tampered),
      cmocka_unit_test(test_rotation),
      cmocka_unit_test(test_bad_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
