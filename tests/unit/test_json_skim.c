/* Tests for data/json_skim: extents, members, last elements, strings, and
 * the same answers for every prefix of a document (never past its end). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "data/json_skim.h"

static np_skim_span whole(const char *s) {
  np_skim_span sp;
  assert_int_equal(np_skim_value(s, strlen(s), 0, &sp), 0);
  return sp;
}

static void test_value_extents(void **state) {
  (void)state;
  const char *s = "{\"a\":\"x\\\"}\",\"b\":[1,{\"c\":\"]\"}],\"d\":-1.5e3} tail";
  np_skim_span sp = whole(s);
  assert_int_equal(sp.start, 0);
  assert_int_equal(sp.end, strlen(s) - 5);
  assert_int_equal(np_skim_value("\"a\\\\\" x", 7, 0, &sp), 0);
  assert_int_equal(sp.end, 5);
  assert_int_equal(np_skim_value("123,", 4, 0, &sp), 0);
  assert_int_equal(sp.end, 3);
}

static void test_value_refuses(void **state) {
  (void)state;
  np_skim_span sp = {7, 7};
  const char *bad[] = {"[}", "{\"a\":1", "\"abc", "\"ab\\\"", "]", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(np_skim_value(bad[i], strlen(bad[i]), 0, &sp), NP_E_JSON);
    assert_int_equal(sp.start, 7); /* untouched */
  }
  char deep[NP_SKIM_MAX_DEPTH + 2];
  memset(deep, '[', sizeof deep);
  assert_int_equal(np_skim_value(deep, sizeof deep, 0, &sp), NP_E_JSON);
}

static void test_members(void **state) {
  (void)state;
  const char *s = "{ \"x\" : {\"y\":1}, \"y\":\"two\", \"y\":3 ,\"z\":[] }";
  size_t len = strlen(s);
  np_skim_span obj = whole(s), v;
  assert_int_equal(np_skim_member(s, len, obj, "y", &v), 1);
  char out[8];
  assert_int_equal(np_skim_string(s, v, out, sizeof out), 0);
  assert_string_equal(out, "two"); /* the first one wins, nested ones do not count */
  assert_int_equal(np_skim_member(s, len, obj, "w", &v), 0);
  const char *keys[] = {"z", "x", "nope"};
  np_skim_span vals[3];
  int found[3];
  assert_int_equal(np_skim_members(s, len, obj, keys, 3, vals, found), 0);
  assert_true(found[0] && found[1] && !found[2]);
  assert_int_equal(s[vals[0].start], '[');
  assert_int_equal(np_skim_member(s, len, vals[0], "x", &v), NP_E_JSON); /* not an object */
}

static void test_last(void **state) {
  (void)state;
  const char *s = "[ {\"a\":1} , [2], \"3\" ]";
  np_skim_span arr = whole(s), v;
  assert_int_equal(np_skim_last(s, strlen(s), arr, &v), 1);
  assert_int_equal(s[v.start], '"');
  const char *e = "[ ]";
  assert_int_equal(np_skim_last(e, 3, whole(e), &v), 0);
}

static void test_string(void **state) {
  (void)state;
  const char *s = "\"2026-12-07T12:00:00Z\"\"a\\nb\"";
  np_skim_span a = {0, 22}, b = {22, strlen(s)};
  char out[32];
  assert_int_equal(np_skim_string(s, a, out, sizeof out), 0);
  assert_string_equal(out, "2026-12-07T12:00:00Z");
  assert_int_equal(np_skim_string(s, a, out, 5), NP_E_TOOBIG);
  assert_int_equal(np_skim_string(s, b, out, sizeof out), NP_E_JSON); /* escapes refused */
}

/* Every prefix of a document: no extent reaches past the prefix. */
static void test_prefixes(void **state) {
  (void)state;
  const char *s = "{\"Download\":{\"UUID\":\"u\",\"ServerMeasurements\":[{\"TCPInfo\":"
                  "{\"MinRTT\":3}}]},\"StartTime\":\"t\"}";
  size_t len = strlen(s);
  for (size_t n = 0; n < len; n++) {
    np_skim_span sp;
    assert_int_equal(np_skim_value(s, n, 0, &sp), NP_E_JSON);
  }
  np_skim_span sp = whole(s);
  assert_int_equal(sp.end, len);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_value_extents), cmocka_unit_test(test_value_refuses),
      cmocka_unit_test(test_members),       cmocka_unit_test(test_last),
      cmocka_unit_test(test_string),        cmocka_unit_test(test_prefixes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
