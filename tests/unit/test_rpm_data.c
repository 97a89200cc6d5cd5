/* Tests for data/rpm_record: one line, a server-made name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/buf.h"
#include "core/error.h"
#include "data/rpm_record.h"
#include "data/spool.h"

static void test_line_and_name(void **state) {
  (void)state;
  np_rpm_record *r = calloc(1, sizeof *r);
  np_rpm_record_init(r, 0xfeedULL, 0, 1764400000LL * 1000000000LL + 5);
  strcpy(r->client_ip, "192.0.2.1\nevil"); /* never reaches the file name */
  (void)np_rpm_record_add_conn(r, "h_1_0000000000000001", 1234, 0);
  r->client_summary = json_pack("{s:s}", "Confidence", "High");
  np_buf b;
  np_buf_init(&b, 1u << 20);
  assert_int_equal(np_rpm_record_line(r, &b), 0);
  assert_true(b.len > 10);
  assert_int_equal(b.data[b.len - 1], '\n');
  assert_null(memchr(b.data, '\n', b.len - 1));
  json_error_t err;
  json_t *j = json_loadb((const char *)b.data, b.len, 0, &err);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "MeasurementID")), "000000000000feed");
  json_decref(j);
  char name[128];
  assert_true(np_rpm_record_name(r, name, sizeof name) > 0);
  assert_string_equal(name, "responsiveness1-20251129T070640.000000005Z.000000000000feed.json");
  assert_true(np_spool_name_ok(name));
  assert_int_equal(np_rpm_record_name(r, name, 20), -ENOSPC);
  np_buf_free(&b);
  np_rpm_record_free(r);
  free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_line_and_name),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
