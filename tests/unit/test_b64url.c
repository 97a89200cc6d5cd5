/* Tests for core/b64url: strict decoding, round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/b64url.h"
#include "core/error.h"

static void base64url_strict(void **state) {
  (void)state;
  uint8_t out[16];
  char enc[32];
  assert_int_equal(np_b64url_decode("", 0, out, sizeof out), 0);
  assert_int_equal(np_b64url_decode("Zm9v", 4, out, sizeof out), 3);
  assert_memory_equal(out, "foo", 3);
  assert_int_equal(np_b64url_decode("Zm8", 3, out, sizeof out), 2);
  assert_int_equal(np_b64url_decode("Zm9", 3, out, sizeof out), NP_E_PROTO); /* bits */
  assert_int_equal(np_b64url_decode("Zm8=", 4, out, sizeof out), NP_E_PROTO);
  assert_int_equal(np_b64url_decode("Z", 1, out, sizeof out), NP_E_PROTO);
  assert_int_equal(np_b64url_decode("+/8", 3, out, sizeof out), NP_E_PROTO);
  assert_int_equal(np_b64url_decode("-_8", 3, out, sizeof out), 2);
  assert_int_equal(np_b64url_decode("Zm9vZm9v", 8, out, 5), NP_E_TOOBIG);
  for (size_t len = 0; len <= 16; len++) {
    uint8_t in[16];
    for (size_t i = 0; i < len; i++) in[i] = (uint8_t)(i * 37 + 200);
    int e = np_b64url_encode(in, len, enc, sizeof enc);
    assert_true(e >= 0);
    assert_int_equal(np_b64url_decode(enc, (size_t)e, out, sizeof out), (int)len);
    assert_memory_equal(out, in, len);
  }
  assert_int_equal(np_b64url_encode((const uint8_t *)"abc", 3, enc, 4), NP_E_TOOBIG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(base64url_strict),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
