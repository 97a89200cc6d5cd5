/* np_data_policy_text: the consent summary says what netpulse's policy
 * promises, links to it, and prints cleanly on any terminal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netpulse/policy.h"

static void names_what_policy_promises(void **state) {
  (void)state;
  const char *t = np_data_policy_text();
  assert_non_null(t);
  /* What is collected, publication, licence, permanence, who is
   * responsible, and both policies' addresses. */
  static const char *const must[] = {
      "IP address", "measurement", "publicly",
      "forever",    "CC0",         "joint controllers",
      "netpulse",   "M-Lab",       "https://www.measurementlab.net/privacy/"};
  for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
    if (!strstr(t, must[i])) fail_msg("summary lacks \"%s\":\n%s", must[i], t);
  const char *url = np_data_policy_url();
  assert_non_null(url);
  assert_true(strlen(url) > 0);
  assert_non_null(strstr(t, url));
  assert_ptr_equal(np_data_policy_text(), t); /* static, stable */
}

static void prints_cleanly(void **state) {
  (void)state;
  const char *t = np_data_policy_text();
  size_t n = strlen(t), col = 0;
  assert_true(n > 0 && t[n - 1] == '\n');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)t[i];
    if (c == '\n') {
      col = 0;
      continue;
    }
    if (c < 0x20 || c >= 0x7f) fail_msg("byte 0x%02x at %zu is not printable ASCII", c, i);
    if (++col > 76) fail_msg("line longer than 76 columns at byte %zu", i);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(names_what_policy_promises),
      cmocka_unit_test(prints_cleanly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
