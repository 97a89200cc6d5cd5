/* Tests for data/record_schema: the embedded schemas are the files in
 * schemas/ and compile; every rule names fields those schemas have (what
 * keeps the hand-written rules in step); type, shape, required and range
 * verdicts. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "data/record_schema.h"

static np_schema *load(const char *dt) {
  np_schema *s = NULL;
  assert_int_equal(np_schema_embedded(dt, &s), 0);
  return s;
}

/* The embedded bytes are the source tree's schemas/ files, byte for byte. */
static void test_embedded_is_source(void **state) {
  (void)state;
  const char *src = getenv("NP_SOURCE_DIR");
  assert_non_null(src);
  assert_int_equal(np_schema_files_count, 2);
  for (size_t i = 0; i < np_schema_files_count; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/schemas/%s", src, np_schema_files[i].name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_int_equal(n, np_schema_files[i].len);
    assert_memory_equal(buf, np_schema_files[i].data, n);
  }
}

/* Every exact-name rule and every required path names a field. */
static void test_rules_in_step(void **state) {
  (void)state;
  np_schema *nd = load("ndt7"), *rp = load("responsiveness1");
  for (size_t i = 0; np_schema_rule_name(i); i++) {
    const char *name = np_schema_rule_name(i);
    int found = 0;
    const char *paths[] = {"",
                           "Download.ServerMeasurements.AppInfo.",
                           "Download.ServerMeasurements.TCPInfo.",
                           "Download.PingSamples.",
                           "ClientSummary.",
                           "ClientSummary.Download."};
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
      char path[256];
      snprintf(path, sizeof path, "%s%s", paths[p], name);
      found |= np_schema_has(nd, path) || np_schema_has(rp, path);
    }
    if (!found) fail_msg("range rule for %s names no field of the schemas", name);
  }
  const char *const *req = np_schema_required("responsiveness1");
  for (; *req; req++) assert_true(np_schema_has(rp, *req));
  for (req = np_schema_required("ndt7"); *req; req++) {
    char path[128];
    snprintf(path, sizeof path, "%s", strncmp(*req, "<Test>", 6) == 0 ? "Download" : "");
    strncat(path, strncmp(*req, "<Test>", 6) == 0 ? *req + 6 : *req,
            sizeof path - strlen(path) - 1);
    assert_true(np_schema_has(nd, path));
  }
  np_schema_free(nd);
  np_schema_free(rp);
}

static int verdict(np_schema *s, const char *text, char *why, size_t cap) {
  json_t *j = json_loads(text, 0, NULL);
  assert_non_null(j);
  int rc = np_schema_check(s, j, why, cap);
  json_decref(j);
  return rc;
}

static void test_verdicts(void **state) {
  (void)state;
  np_schema *nd = load("ndt7");
  char why[256];
  const char *ok = "{\"StartTime\":\"2026-01-01T00:00:00.5Z\",\"EndTime\":\"2026-01-01T00:00:10Z\","
                   "\"ServerPort\":443,\"Download\":{\"UUID\":\"u\",\"StartTime\":"
                   "\"2026-01-01T00:00:00+01:00\",\"ServerMeasurements\":[{\"AppInfo\":"
                   "{\"NumBytes\":5,\"ElapsedTime\":1}}],\"ClientMetadata\":null}}";
  assert_int_equal(verdict(nd, ok, why, sizeof why), 0);
  static const struct {
    const char *from, *to, *why;
  } cases[] = {
      {"\"ServerPort\":443", "\"ServerPort\":65536", "$.ServerPort: 65536 is out of range"},
      {"\"NumBytes\":5", "\"NumBytes\":5.5", "AppInfo.NumBytes: not an integer"},
      {"\"NumBytes\":5", "\"NumBytes\":-5", "AppInfo.NumBytes: -5 is out of range"},
      {"\"UUID\":\"u\",", "", "$.Download.UUID: required, missing"},
      {"00:00:00.5Z", "00:00:00.5", "$.StartTime: not an RFC 3339 time"},
      {"[{\"AppInfo\"", "{\"x\":[{\"AppInfo\"", "$.Download.ServerMeasurements: REPEATED"},
      {"\"ServerPort\"", "\"Secret\"", "$.Secret: not in the schema"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char text[1024];
    const char *at = strstr(ok, cases[i].from);
    assert_non_null(at);
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - ok), ok, cases[i].to,
             at + strlen(cases[i].from));
    if (cases[i].from[0] == '[') strcat(text, "}"); /* close the extra object */
    why[0] = '\0';
    (void)verdict(nd, text, why, sizeof why);
    if (!strstr(why, cases[i].why))
      fail_msg("case %zu: want \"%s\", got \"%s\"", i, cases[i].why, why);
  }
  np_schema_free(nd);
}

static void test_bad_schema_text(void **state) {
  (void)state;
  np_schema *s = NULL;
  assert_int_equal(np_schema_compile("x", "[{\"name\":\"a\",\"type\":\"BLOB\"}]", 30, &s),
                   NP_E_JSON);
  assert_null(s);
  assert_int_equal(np_schema_compile("x", "nope", 4, &s), NP_E_JSON);
  assert_int_equal(np_schema_embedded("nosuch", &s), NP_E_BADARG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_embedded_is_source),
      cmocka_unit_test(test_rules_in_step),
      cmocka_unit_test(test_verdicts),
      cmocka_unit_test(test_bad_schema_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
