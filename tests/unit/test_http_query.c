/* Unit tests for query parsing, percent coding and the metadata allow-list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "http/query.h"

static int parse(const char *raw, np_query *q) { return np_query_parse(np_slice_cstr(raw), q); }

static void pairs(void **state) {
  (void)state;
  np_query q;
  assert_int_equal(parse("client_name=ndt7-js&client_version=0.1.4&flag&&x=&=v&a+b=c%20d%2B&", &q),
                   0);
  assert_int_equal(q.npairs, 6);
  assert_string_equal(q.pairs[0].key, "client_name");
  assert_string_equal(q.pairs[0].value, "ndt7-js");
  assert_string_equal(np_query_get(&q, "client_version"), "0.1.4");
  assert_string_equal(np_query_get(&q, "flag"), "");
  assert_string_equal(np_query_get(&q, "x"), "");
  assert_string_equal(np_query_get(&q, ""), "v");
  assert_string_equal(np_query_get(&q, "a b"), "c d+");
  assert_null(np_query_get(&q, "missing"));
  /* '=' inside a value is kept; first duplicate wins in get */
  assert_int_equal(parse("k=a=b&k=2", &q), 0);
  assert_string_equal(np_query_get(&q, "k"), "a=b");
  assert_int_equal(parse("", &q), 0);
  assert_int_equal(q.npairs, 0);
  /* UTF-8 percent-encoded */
  assert_int_equal(parse("n=caf%C3%A9", &q), 0);
  assert_string_equal(np_query_get(&q, "n"), "caf\xc3\xa9");
}

static void parse_errors(void **state) {
  (void)state;
  np_query q;
  q.npairs = 99;
  assert_int_equal(parse("a=%", &q), NP_E_PROTO);
  assert_int_equal(parse("a=%4", &q), NP_E_PROTO);
  assert_int_equal(parse("a=%zz", &q), NP_E_PROTO);
  assert_int_equal(parse("a=%00", &q), NP_E_PROTO);
  assert_int_equal(parse("%00=a", &q), NP_E_PROTO);
  assert_int_equal(q.npairs, 99); /* untouched on failure */

  /* caps: 4096 raw bytes and 32 pairs */
  char *big = malloc(NP_QUERY_MAX_BYTES + 2);
  memset(big, '%', NP_QUERY_MAX_BYTES + 1);
  big[0] = 'k';
  big[1] = '=';
  for (size_t i = 2; i + 2 < NP_QUERY_MAX_BYTES; i += 3) memcpy(big + i, "%41", 3);
  memset(big + NP_QUERY_MAX_BYTES - 2, 'B', 2);
  big[NP_QUERY_MAX_BYTES] = '\0';
  assert_int_equal(parse(big, &q), 0);
  assert_int_equal(q.npairs, 1);
  big[NP_QUERY_MAX_BYTES] = 'x';
  big[NP_QUERY_MAX_BYTES + 1] = '\0';
  assert_int_equal(parse(big, &q), NP_E_TOOBIG);
  /* 2048 valueless pairs exceed the pair cap */
  for (size_t i = 0; i < NP_QUERY_MAX_BYTES; i += 2) memcpy(big + i, "a&", 2);
  big[NP_QUERY_MAX_BYTES] = '\0';
  assert_int_equal(parse(big, &q), NP_E_TOOBIG);
  free(big);

  char buf[512];
  size_t n = 0;
  for (int i = 0; i < NP_QUERY_MAX_PAIRS; i++)
    n += (size_t)snprintf(buf + n, sizeof buf - n, "k%d=%d&", i, i);
  assert_int_equal(parse(buf, &q), 0);
  assert_int_equal(q.npairs, NP_QUERY_MAX_PAIRS);
  assert_string_equal(np_query_get(&q, "k31"), "31");
  (void)snprintf(buf + n, sizeof buf - n, "z");
  assert_int_equal(parse(buf, &q), NP_E_TOOBIG);
}

static void percent(void **state) {
  (void)state;
  char out[32];
  assert_int_equal(np_percent_decode(np_slice_cstr("a+b%2f%2F"), out, sizeof out, 1), 5);
  assert_string_equal(out, "a b//");
  assert_int_equal(np_percent_decode(np_slice_cstr("a+b"), out, sizeof out, 0), 3);
  assert_string_equal(out, "a+b");
  assert_int_equal(np_percent_decode(np_slice_cstr("abcd"), out, 5, 0), 4);
  assert_int_equal(np_percent_decode(np_slice_cstr("abcd"), out, 4, 0), NP_E_TOOBIG);
  assert_int_equal(np_percent_decode(np_slice_cstr(""), out, 0, 0), NP_E_TOOBIG);
  assert_int_equal(np_percent_decode(np_slice_cstr("%g0"), out, sizeof out, 0), NP_E_PROTO);

  assert_int_equal(np_percent_encode("a b/é~-._", out, sizeof out), 18);
  assert_string_equal(out, "a%20b%2F%C3%A9~-._");
  assert_int_equal(np_percent_encode("ab", out, 3), 2);
  assert_int_equal(np_percent_encode("ab", out, 2), NP_E_TOOBIG);
  assert_int_equal(np_percent_encode(" ", out, 3), NP_E_TOOBIG);

  /* every byte 1..255 round-trips */
  char all[256], enc[800], dec[256];
  for (int i = 1; i < 256; i++) all[i - 1] = (char)i;
  all[255] = '\0';
  int en = np_percent_encode(all, enc, sizeof enc);
  assert_true(en > 0);
  assert_int_equal(np_percent_decode(np_slice_make(enc, (size_t)en), dec, sizeof dec, 1), 255);
  assert_memory_equal(dec, all, 256);
}

static const char *meta_get(const np_meta *m, const char *name) {
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->items[i].name, name) == 0) return m->items[i].value;
  return NULL;
}

static void meta_allow_list(void **state) {
  (void)state;
  np_query q;
  np_meta m;
  assert_int_equal(parse("client_name=ndt7-js&access_token=eyJhbGciOi&client_os=linux"
                         "&client_arch=amd64&client_library_name=libndt7&client_library_version=1"
                         "&client_version=0.1.4&email=me%40x&early_exit=250&client_name=dup",
                         &q),
                   0);
  np_meta_from_query(&q, NULL, &m);
  assert_int_equal(m.n, 6);
  assert_string_equal(m.items[0].name, "client_name");
  assert_string_equal(m.items[0].value, "ndt7-js");
  assert_string_equal(meta_get(&m, "client_os"), "linux");
  assert_string_equal(meta_get(&m, "client_library_version"), "1");
  assert_null(meta_get(&m, "access_token"));
  assert_null(meta_get(&m, "email"));
  assert_null(meta_get(&m, "early_exit"));
  /* email and early_exit are unknown keys; the token is never counted */
  assert_int_equal(m.dropped[NP_META_DROP_UNKNOWN_KEY], 2);
  assert_int_equal(m.dropped[NP_META_DROP_DUPLICATE], 1);

  static const char *const extra[] = {"early_exit", "access_token", NULL};
  np_meta_from_query(&q, extra, &m);
  assert_int_equal(m.n, 7);
  assert_string_equal(meta_get(&m, "early_exit"), "250");
  assert_null(meta_get(&m, "access_token"));
}

static void meta_values(void **state) {
  (void)state;
  np_query q;
  np_meta m;
  /* Values are tokens: controls, spaces, '@', non-ASCII and empty values
   * are dropped whole; a refused first occurrence is not replaced by a later
   * duplicate. */
  assert_int_equal(parse("client_name=a%0Ab&client_os=%7F&client_arch=%C2%85"
                         "&client_version=Jane+Doe&client_library_name=me%40example.org"
                         "&client_library_version=&client_name=ok&client_os=caf%C3%A9",
                         &q),
                   0);
  np_meta_from_query(&q, NULL, &m);
  assert_int_equal(m.n, 0);
  assert_int_equal(m.dropped[NP_META_DROP_BAD_VALUE], 6);
  assert_int_equal(m.dropped[NP_META_DROP_DUPLICATE], 2);
  assert_int_equal(m.dropped[NP_META_DROP_UNKNOWN_KEY], 0);

  /* Every allowed character, and exactly NP_META_MAX_VALUE bytes, pass. */
  assert_int_equal(parse("client_name=ndt7-client-go_v0.9.1%2Bgit:abc/x86&client_os=Linux.6", &q),
                   0);
  np_meta_from_query(&q, NULL, &m);
  assert_int_equal(m.n, 2);
  assert_string_equal(m.items[0].value, "ndt7-client-go_v0.9.1+git:abc/x86");
  assert_string_equal(m.items[1].value, "Linux.6");

  char raw[600];
  size_t n = (size_t)snprintf(raw, sizeof raw, "client_name=");
  memset(raw + n, 'a', NP_META_MAX_VALUE);
  n += NP_META_MAX_VALUE;
  n += (size_t)snprintf(raw + n, sizeof raw - n, "&client_os=");
  memset(raw + n, 'b', NP_META_MAX_VALUE + 1);
  n += NP_META_MAX_VALUE + 1;
  n += (size_t)snprintf(raw + n, sizeof raw - n, "&email=x&client_arch=");
  memset(raw + n, 'c', 300);
  n += 300;
  raw[n] = '\0';
  assert_int_equal(parse(raw, &q), 0);
  np_meta_from_query(&q, NULL, &m);
  assert_int_equal(m.n, 1);
  assert_int_equal(strlen(meta_get(&m, "client_name")), NP_META_MAX_VALUE);
  /* too long is dropped whole, never cut */
  assert_null(meta_get(&m, "client_os"));
  assert_null(meta_get(&m, "client_arch"));
  assert_int_equal(m.dropped[NP_META_DROP_TOO_LONG], 2);
  assert_int_equal(m.dropped[NP_META_DROP_UNKNOWN_KEY], 1);

  /* at most NP_META_MAX_ITEMS items; extra keys too long for a name are
   * unknown */
  static const char *const extra[] = {
      "k0",  "k1",  "k2",  "k3",  "k4",  "k5",
      "k6",  "k7",  "k8",  "k9",  "k10", "k11",
      "k12", "k13", "k14", "k15", "k16", "a_very_long_key_name_that_does_not_fit_32",
      NULL};
  n = (size_t)snprintf(raw, sizeof raw, "a_very_long_key_name_that_does_not_fit_32=1");
  for (int i = 0; i < 17; i++) n += (size_t)snprintf(raw + n, sizeof raw - n, "&k%d=%d", i, i);
  assert_int_equal(parse(raw, &q), 0);
  np_meta_from_query(&q, extra, &m);
  assert_int_equal(m.n, NP_META_MAX_ITEMS);
  assert_string_equal(m.items[0].name, "k0");
  assert_null(meta_get(&m, "k16"));
  assert_int_equal(m.dropped[NP_META_DROP_UNKNOWN_KEY], 1);
  assert_int_equal(m.dropped[NP_META_DROP_DUPLICATE], 1);

  assert_string_equal(np_meta_drop_name(NP_META_DROP_BAD_VALUE), "bad_value");
  assert_null(np_meta_drop_name(NP_META_DROP_N));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(pairs),           cmocka_unit_test(parse_errors), cmocka_unit_test(percent),
      cmocka_unit_test(meta_allow_list), cmocka_unit_test(meta_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
