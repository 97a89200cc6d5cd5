/* Unit tests for core: buffers, slices, clocks, errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/slice.h"

static void buf_caps_at_max(void **state) {
  (void)state;
  np_buf b;
  np_buf_init(&b, 10);
  assert_int_equal(np_buf_append(&b, "0123456789", 10), 0);
  assert_int_equal(np_buf_append(&b, "x", 1), NP_E_TOOBIG);
  assert_int_equal(b.len, 10);
  np_buf_consume(&b, 4);
  assert_int_equal(b.len, 6);
  assert_memory_equal(b.data, "456789", 6);
  assert_int_equal(np_buf_printf(&b, "%d", 1234), 0);
  assert_int_equal(b.len, 10);
  assert_int_equal(np_buf_printf(&b, "%d", 5), NP_E_TOOBIG);
  np_buf_free(&b);
  np_buf_free(NULL);
}

static void slice_list(void **state) {
  (void)state;
  np_slice s = np_slice_cstr("keep-alive, Upgrade");
  assert_true(np_slice_list_has(s, np_slice_cstr("upgrade")));
  assert_true(np_slice_list_has(s, np_slice_cstr("KEEP-ALIVE")));
  assert_false(np_slice_list_has(s, np_slice_cstr("close")));
  assert_false(np_slice_list_has(np_slice_cstr(""), np_slice_cstr("x")));
}

static void timestamps(void **state) {
  (void)state;
  char out[64];
  int64_t t = 1583603744LL * 1000000000LL + 120000000LL;
  assert_true(np_format_rfc3339nano(t, out, sizeof out) > 0);
  assert_string_equal(out, "2020-03-07T17:55:44.12Z");
  assert_true(np_format_filestamp(t, out, sizeof out) > 0);
  assert_string_equal(out, "20200307T175544.120000000Z");
  assert_true(np_format_rfc3339nano(1583603744LL * 1000000000LL, out, sizeof out) > 0);
  assert_string_equal(out, "2020-03-07T17:55:44Z");
  assert_int_equal(np_format_filestamp(t, out, 8), -ENOSPC);
}

static void errors_named(void **state) {
  (void)state;
  assert_string_equal(np_strerror(NP_E_TOOBIG), "size limit exceeded");
  assert_string_equal(np_strerror(-ENOMEM), strerror(ENOMEM));
  for (int e = NP_E_BASE + 1; e < NP_E_LAST; e++)
    assert_string_not_equal(np_strerror(e), "unknown error");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(buf_caps_at_max),
      cmocka_unit_test(slice_list),
      cmocka_unit_test(timestamps),
      cmocka_unit_test(errors_named),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
