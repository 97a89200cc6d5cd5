/* Tests for data/gzip: real gzip members, bounded and strict decoding. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/error.h"
#include "data/gzip.h"

#define MAX (64u << 20)

static void roundtrip(const void *in, size_t len) {
  np_buf z, out;
  np_buf_init(&z, MAX);
  np_buf_init(&out, MAX);
  assert_int_equal(np_gzip(in, len, &z), 0);
  /* RFC 1952 magic and CM=8 (deflate). */
  assert_true(z.len >= 18);
  assert_int_equal(z.data[0], 0x1f);
  assert_int_equal(z.data[1], 0x8b);
  assert_int_equal(z.data[2], 8);
  assert_int_equal(np_gunzip(z.data, z.len, &out), 0);
  assert_int_equal(out.len, len);
  if (len) assert_memory_equal(out.data, in, len);
  np_buf_free(&z);
  np_buf_free(&out);
}

static void test_roundtrip_small(void **state) {
  (void)state;
  const char *j = "{\"Download\":{\"UUID\":\"x\"}}";
  roundtrip(j, strlen(j));
}

static void test_roundtrip_empty(void **state) {
  (void)state;
  roundtrip(NULL, 0);
}

static void test_roundtrip_large_incompressible(void **state) {
  (void)state;
  /* Bigger than one output step and incompressible, so both the input and
   * the output loops turn several times. */
  size_t n = 1u << 20;
  uint8_t *p = malloc(n);
  assert_non_null(p);
  uint32_t x = 2463534242u;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (uint8_t)x;
  }
  roundtrip(p, n);
  free(p);
}

static void test_appends(void **state) {
  (void)state;
  np_buf z, out;
  np_buf_init(&z, MAX);
  np_buf_init(&out, MAX);
  assert_int_equal(np_buf_append(&out, "pre:", 4), 0);
  assert_int_equal(np_gzip("abc", 3, &z), 0);
  assert_int_equal(np_gunzip(z.data, z.len, &out), 0);
  assert_int_equal(out.len, 7);
  assert_memory_equal(out.data, "pre:abc", 7);
  np_buf_free(&z);
  np_buf_free(&out);
}

static void test_gzip_cap(void **state) {
  (void)state;
  np_buf z;
  np_buf_init(&z, 10); /* smaller than any gzip member */
  assert_int_equal(np_gzip("hello", 5, &z), NP_E_TOOBIG);
  assert_int_equal(z.len, 0);
  np_buf_free(&z);
}

static void test_gunzip_cap(void **state) {
  (void)state;
  /* A zip bomb in miniature: 1 MiB of zeros must not pass a 1000-byte cap. */
  size_t n = 1u << 20;
  uint8_t *zeros = calloc(1, n);
  assert_non_null(zeros);
  np_buf z, out;
  np_buf_init(&z, MAX);
  np_buf_init(&out, 1000);
  assert_int_equal(np_gzip(zeros, n, &z), 0);
  assert_true(z.len < 4096);
  assert_int_equal(np_gunzip(z.data, z.len, &out), NP_E_TOOBIG);
  assert_int_equal(out.len, 0);
  np_buf_free(&z);
  np_buf_free(&out);
  free(zeros);
}

static void test_gunzip_rejects_damage(void **state) {
  (void)state;
  np_buf z, out;
  np_buf_init(&z, MAX);
  np_buf_init(&out, MAX);
  const char *msg = "{\"a\":1}\n";
  assert_int_equal(np_gzip(msg, strlen(msg), &z), 0);

  /* Every truncation is an error, never a short success. */
  for (size_t cut = 0; cut < z.len; cut++) {
    assert_int_equal(np_gunzip(z.data, cut, &out), -EBADMSG);
    assert_int_equal(out.len, 0);
  }
  /* Trailing bytes after the member. */
  uint8_t *junk = malloc(z.len + 1);
  assert_non_null(junk);
  memcpy(junk, z.data, z.len);
  junk[z.len] = 0;
  assert_int_equal(np_gunzip(junk, z.len + 1, &out), -EBADMSG);
  /* A flipped CRC byte. */
  memcpy(junk, z.data, z.len);
  junk[z.len - 8] ^= 0xff;
  assert_int_equal(np_gunzip(junk, z.len, &out), -EBADMSG);
  /* Not gzip at all. */
  assert_int_equal(np_gunzip("hello world", 11, &out), -EBADMSG);
  assert_int_equal(out.len, 0);
  free(junk);
  np_buf_free(&z);
  np_buf_free(&out);
}

static void test_bad_args(void **state) {
  (void)state;
  np_buf b;
  np_buf_init(&b, MAX);
  assert_int_equal(np_gzip(NULL, 3, &b), NP_E_BADARG);
  assert_int_equal(np_gunzip(NULL, 3, &b), NP_E_BADARG);
  assert_int_equal(np_gzip("x", 1, NULL), NP_E_BADARG);
  np_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_small),
      cmocka_unit_test(test_roundtrip_empty),
      cmocka_unit_test(test_roundtrip_large_incompressible),
      cmocka_unit_test(test_appends),
      cmocka_unit_test(test_gzip_cap),
      cmocka_unit_test(test_gunzip_cap),
      cmocka_unit_test(test_gunzip_rejects_damage),
      cmocka_unit_test(test_bad_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
