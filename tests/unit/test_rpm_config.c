/* Tests for rpm/config: authority checks and the config document. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/buf.h"
#include "core/error.h"
#include "rpm/config.h"

static void test_authority(void **state) {
  (void)state;
  const char *good[] = {"example.net",
                        "example.net:443",
                        "127.0.0.1:8080",
                        "[::1]:4443",
                        "[2001:db8::1]",
                        "a",
                        "mlab1-lga03.mlab-oti.measurement-lab.org:443"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    assert_true(np_rpm_authority_ok(np_slice_cstr(good[i])));
  const char *bad[] = {
      "",    "a b",     "evil.com/x", "host:0", "host:65536", "host:",   "[::1", "-x",
      "a@b", "[zz::1]", ".x",         "h:1x",   "h:123456",   "[1.2.3]", "h\"x", "h\r\nx-a"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_false(np_rpm_authority_ok(np_slice_cstr(bad[i])));
  char big[300];
  memset(big, 'a', 254);
  big[254] = 0;
  assert_false(np_rpm_authority_ok(np_slice_cstr(big)));
  big[253] = 0;
  assert_true(np_rpm_authority_ok(np_slice_cstr(big)));
  np_slice h = np_rpm_authority_host(np_slice_cstr("[::1]:80"));
  assert_int_equal(h.len, 5);
  h = np_rpm_authority_host(np_slice_cstr("x.org:80"));
  assert_int_equal(h.len, 5);
}

static void test_document(void **state) {
  (void)state;
  np_buf b;
  np_buf_init(&b, 8192);
  const char *mid = "AQAAAAAAAAAAKgAAAB5ghBxbtjGi3bQ7E2H3KQ-_";
  assert_int_equal(np_rpm_config_json(&b, "https", np_slice_cstr("example.net:4443"), mid), 0);
  json_error_t err;
  json_t *doc = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, &err);
  assert_non_null(doc);
  assert_int_equal(json_integer_value(json_object_get(doc, "version")), 1);
  assert_string_equal(json_string_value(json_object_get(doc, "test_endpoint")), "example.net");
  json_t *urls = json_object_get(doc, "urls");
  struct {
    const char *key, *path;
  } want[] = {{"small_download_url", "/rpm/v1/small"},
              {"large_download_url", "/rpm/v1/large"},
              {"upload_url", "/rpm/v1/upload"},
              {"small_https_download_url", "/rpm/v1/small"},
              {"large_https_download_url", "/rpm/v1/large"},
              {"https_upload_url", "/rpm/v1/upload"},
              {"result_url", "/rpm/v1/result"}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    char exp[256];
    snprintf(exp, sizeof exp, "https://example.net:4443%s?mid=%s", want[i].path, mid);
    assert_string_equal(json_string_value(json_object_get(urls, want[i].key)), exp);
  }
  json_decref(doc);
  /* IPv6: brackets in URLs, a bare address as test_endpoint; cleartext
   * claims no https. */
  b.len = 0;
  assert_int_equal(np_rpm_config_json(&b, "http", np_slice_cstr("[::1]:8080"), mid), 0);
  doc = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, &err);
  assert_non_null(doc);
  assert_string_equal(json_string_value(json_object_get(doc, "test_endpoint")), "::1");
  urls = json_object_get(doc, "urls");
  char exp[256];
  snprintf(exp, sizeof exp, "http://[::1]:8080/rpm/v1/small?mid=%s", mid);
  assert_string_equal(json_string_value(json_object_get(urls, "small_download_url")), exp);
  assert_null(json_object_get(urls, "small_https_download_url"));
  assert_null(json_object_get(urls, "large_https_download_url"));
  assert_null(json_object_get(urls, "https_upload_url"));
  assert_non_null(json_object_get(urls, "result_url"));
  json_decref(doc);
  np_buf_free(&b);
}

static void test_refusals(void **state) {
  (void)state;
  np_buf b;
  np_buf_init(&b, 8192);
  assert_int_equal(np_rpm_config_json(&b, "ftp", np_slice_cstr("x"), "abc"), NP_E_BADARG);
  assert_int_equal(np_rpm_config_json(&b, "http", np_slice_cstr("x y"), "abc"), NP_E_BADARG);
  assert_int_equal(np_rpm_config_json(&b, "http", np_slice_cstr("x"), "a&b"), NP_E_BADARG);
  assert_int_equal(b.len, 0);
  np_buf small;
  np_buf_init(&small, 16);
  assert_int_equal(np_rpm_config_json(&small, "http", np_slice_cstr("x"), "abc"), NP_E_TOOBIG);
  np_buf_free(&b);
  np_buf_free(&small);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_authority),
      cmocka_unit_test(test_document),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
