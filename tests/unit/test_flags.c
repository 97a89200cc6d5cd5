/* Unit tests for core/flags: defaults from the table, argv over the
 * environment, value checks and the --help text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/flags.h"

static const char *g_addr;
static const char *g_cert;
static int g_verbose;
static long long g_count;
static np_flag_list g_labels;

static const np_flag kFlags[] = {
    {"addr", 0, NP_FLAG_STRING, &g_addr, "ADDR", "listen address", ":80", 0, 0, 0},
    {"cert", 0, NP_FLAG_STRING, &g_cert, "FILE", "certificate", NULL, 0, 0, 0},
    {"verbose", 'v', NP_FLAG_BOOL, &g_verbose, NULL, "more output", "false", 0, 0, 0},
    {"count", 'n', NP_FLAG_INT, &g_count, "N", "how many", "10k", 1, 1000000, 0},
    {"label", 0, NP_FLAG_LIST, &g_labels, "K=V", "labels", NULL, 0, 0, 0},
};
#define N (sizeof kFlags / sizeof kFlags[0])

static void reset(void) {
  g_addr = g_cert = NULL;
  g_verbose = -1;
  g_count = -1;
  np_flag_list_free(&g_labels);
  unsetenv("NPT_ADDR");
  unsetenv("NPT_COUNT");
  unsetenv("NPT_LABEL");
  unsetenv("NPT_VERBOSE");
}

static int parse(int argc, char **argv, int *first, char *err) {
  return np_flags_parse(kFlags, N, argc, argv, "NPT_", first, err, 256);
}

static void defaults_from_table(void **state) {
  (void)state;
  reset();
  char *argv[] = {"prog", NULL};
  char err[256] = "";
  int first = 0;
  assert_int_equal(parse(1, argv, &first, err), 0);
  assert_string_equal(g_addr, ":80");
  assert_null(g_cert);
  assert_int_equal(g_verbose, 0);
  assert_int_equal(g_count, 10000);
  assert_int_equal(first, 1);
}

static void argv_beats_env(void **state) {
  (void)state;
  reset();
  setenv("NPT_ADDR", "127.0.0.1:1", 1);
  setenv("NPT_COUNT", "7", 1);
  setenv("NPT_LABEL", "a=1,b=2", 1);
  char *argv[] = {"prog", "--count=42", "-v", "pos", "--addr", "x", NULL};
  char err[256] = "";
  int first = 0;
  assert_int_equal(parse(6, argv, &first, err), 0);
  assert_int_equal(g_count, 42);              /* argv */
  assert_int_equal(g_verbose, 1);             /* -v */
  assert_string_equal(g_addr, "127.0.0.1:1"); /* env: "--addr" came after the positional */
  assert_int_equal(first, 3);
  assert_int_equal(g_labels.n, 2);
  assert_string_equal(g_labels.items[0], "a=1");
  assert_string_equal(g_labels.items[1], "b=2");
}

static void bad_values(void **state) {
  (void)state;
  struct {
    char *arg;
    const char *want;
  } cases[] = {
      {"--count=0", "want an integer in [1, 1000000]"},
      {"--count=2M", "want an integer"},
      {"--count=abc", "invalid value \"abc\""},
      {"--verbose=maybe", "invalid value \"maybe\""},
      {"--nope", "unknown flag --nope"},
      {"--cert", "needs a value"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    reset();
    char *argv[] = {"prog", cases[i].arg, NULL};
    char err[256] = "";
    int first = 0;
    assert_int_equal(parse(2, argv, &first, err), NP_E_BADARG);
    if (!strstr(err, cases[i].want)) fail_msg("%s: got \"%s\"", cases[i].arg, err);
    assert_null(strchr(err, '\n'));
  }
  reset();
  setenv("NPT_VERBOSE", "sometimes", 1);
  char *argv[] = {"prog", NULL};
  char err[256] = "";
  assert_int_equal(parse(1, argv, NULL, err), NP_E_BADARG);
  assert_non_null(strstr(err, "NPT_VERBOSE"));
  unsetenv("NPT_VERBOSE");
}

static void help_and_dashdash(void **state) {
  (void)state;
  reset();
  char *argv[] = {"prog", "--help", NULL};
  char err[256] = "";
  assert_int_equal(parse(2, argv, NULL, err), 1);
  char *argv2[] = {"prog", "--", "--count=5", NULL};
  int first = 0;
  assert_int_equal(parse(3, argv2, &first, err), 0);
  assert_int_equal(first, 2);
  assert_int_equal(g_count, 10000);
}

static void usage_text(void **state) {
  (void)state;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  np_flags_usage(f, kFlags, N, "NPT_");
  fclose(f);
  assert_non_null(strstr(text, "--addr ADDR"));
  assert_non_null(strstr(text, "(default: :80) [$NPT_ADDR]"));
  assert_non_null(strstr(text, "-v, --verbose"));
  assert_null(strstr(text, "(default: )"));
  free(text);
}

static void sizes(void **state) {
  (void)state;
  long long v;
  assert_int_equal(np_parse_size("125M", &v), 0);
  assert_int_equal(v, 125000000);
  assert_int_equal(np_parse_size("18G", &v), 0);
  assert_int_equal(v, 18000000000LL);
  assert_int_equal(np_parse_size("1Ki", &v), 0);
  assert_int_equal(v, 1024);
  assert_int_equal(np_parse_size("-3", &v), 0);
  assert_int_equal(v, -3);
  assert_int_equal(np_parse_size("10MB", &v), NP_E_BADARG);
  assert_int_equal(np_parse_size("", &v), NP_E_BADARG);
  assert_int_equal(np_parse_size("99999999999T", &v), NP_E_BADARG);
  int b;
  assert_int_equal(np_parse_bool("Yes", &b), 0);
  assert_int_equal(b, 1);
  assert_int_equal(np_parse_bool("off", &b), 0);
  assert_int_equal(b, 0);
  assert_int_equal(np_parse_bool("2", &b), NP_E_BADARG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(defaults_from_table), cmocka_unit_test(argv_beats_env),
      cmocka_unit_test(bad_values),          cmocka_unit_test(help_and_dashdash),
      cmocka_unit_test(usage_text),          cmocka_unit_test(sizes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
