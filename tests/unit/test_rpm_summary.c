/* Tests for rpm/summary: only allow-listed members of the right type
 * survive; hostile bodies are refused or reduced, never stored whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/error.h"
#include "rpm/summary.h"

static json_t *clean(const char *body, uint32_t *dropped, int want_rc) {
  json_t *out = NULL;
  int rc = np_rpm_summary_clean((const uint8_t *)body, strlen(body), &out, dropped);
  assert_int_equal(rc, want_rc);
  return out;
}

static void test_keeps_allowed(void **state) {
  (void)state;
  uint32_t dropped = 99;
  json_t *o = clean("{\"SchemaVersion\":1,\"Variant\":\"draft-09\",\"RPM\":812.5,"
                    "\"Confidence\":\"High\",\"Download\":{\"RPM\":700,\"Flows\":12,"
                    "\"ThroughputMbps\":48.2},\"Idle\":{\"LatencyMs\":40.1,\"Probes\":20},"
                    "\"Parameters\":{\"IntervalMs\":1000,\"MAD\":4,\"TMP\":0.95}}",
                    &dropped, 0);
  assert_int_equal(dropped, 0);
  assert_true(json_real_value(json_object_get(o, "RPM")) == 812.5);
  assert_string_equal(json_string_value(json_object_get(o, "Confidence")), "High");
  json_t *d = json_object_get(o, "Download");
  assert_int_equal(json_integer_value(json_object_get(d, "Flows")), 12);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "Parameters"), "MAD")), 4);
  json_decref(o);
}

static void test_drops_everything_else(void **state) {
  (void)state;
  uint32_t dropped = 0;
  json_t *o = clean("{\"Name\":\"Jane Doe jane@example.com\",\"Confidence\":\"very\","
                    "\"RPM\":-1,\"Download\":{\"RPM\":\"fast\",\"Note\":\"hi\",\"Flows\":1.5},"
                    "\"Upload\":[1,2],\"Variant\":\"draft-09 \",\"SchemaVersion\":1e300,"
                    "\"Idle\":{\"LatencyMs\":1e13}}",
                    &dropped, 0);
  assert_int_equal(dropped, 10);
  char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
  assert_string_equal(text, "{\"Download\":{},\"Idle\":{}}");
  free(text);
  json_decref(o);
}

/* A phase the server's transmit allowance cut short: the client's words
 * for it are allow-listed, a free text (the CLI's Note) is not. */
static void test_load_ended(void **state) {
  (void)state;
  uint32_t dropped = 0;
  json_t *o = clean("{\"Download\":{\"LoadEndedBy\":\"budget\",\"LoadEndedAfterMs\":812.5,"
                    "\"LoadEndedMB\":49.25,\"Note\":\"the server ended the load\"},"
                    "\"Upload\":{\"LoadEndedBy\":\"tired\"}}",
                    &dropped, 0);
  assert_int_equal(dropped, 2);
  char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
  assert_string_equal(text, "{\"Download\":{\"LoadEndedAfterMs\":812.5,\"LoadEndedBy\":\"budget\","
                            "\"LoadEndedMB\":49.25},\"Upload\":{}}");
  free(text);
  json_decref(o);
}

static void test_refusals(void **state) {
  (void)state;
  uint32_t dropped = 0;
  assert_null(clean("[1,2,3]", &dropped, NP_E_JSON));
  assert_null(clean("not json", &dropped, NP_E_JSON));
  assert_null(clean("{\"RPM\":1,\"RPM\":2}", &dropped, NP_E_JSON));
  char *big = malloc(NP_RPM_SUMMARY_MAX_BYTES + 2);
  memset(big, ' ', NP_RPM_SUMMARY_MAX_BYTES + 1);
  big[0] = '{';
  big[NP_RPM_SUMMARY_MAX_BYTES] = '}';
  big[NP_RPM_SUMMARY_MAX_BYTES + 1] = 0;
  assert_null(clean(big, &dropped, NP_E_TOOBIG));
  /* Deep nesting within the size cap is refused by the parser or dropped. */
  size_t depth = 4000;
  char *deep = malloc(depth * 2 + 16);
  size_t n = 0;
  n += (size_t)sprintf(deep, "{\"Download\":");
  for (size_t i = 0; i < depth; i++) deep[n++] = '[';
  for (size_t i = 0; i < depth; i++) deep[n++] = ']';
  deep[n++] = '}';
  deep[n] = 0;
  json_t *out = NULL;
  int rc = np_rpm_summary_clean((const uint8_t *)deep, n, &out, &dropped);
  assert_true(rc == NP_E_JSON || (rc == 0 && json_object_size(out) == 0));
  json_decref(out);
  free(deep);
  free(big);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keeps_allowed),
      cmocka_unit_test(test_drops_everything_else),
      cmocka_unit_test(test_load_ended),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
