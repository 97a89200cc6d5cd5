/* Unit tests for net/sockuuid: prefix file, "_unsafe" fallback, formatting. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "net/sockuuid.h"
#include "net/tcpinfo.h"

static char tmpdir[64];

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof(tmpdir), "/tmp/np_sockuuid_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  DIR *d = opendir(tmpdir);
  if (!d) return 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') (void)unlinkat(dirfd(d), e->d_name, 0);
  closedir(d);
  return rmdir(tmpdir) == 0 ? 0 : -1;
}

static void path_of(const char *name, char *out, size_t cap) {
  int n = snprintf(out, cap, "%s/%s", tmpdir, name);
  assert_true(n > 0 && (size_t)n < cap);
}

static void write_file(const char *name, const void *data, size_t len) {
  char p[128];
  path_of(name, p, sizeof(p));
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  close(fd);
}

static int load(const char *name, char *out, size_t cap) {
  char p[128];
  path_of(name, p, sizeof(p));
  return np_uuid_prefix_load(p, out, cap);
}

static void assert_matches(const char *s, const char *re) {
  regex_t r;
  assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
  int m = regexec(&r, s, 0, NULL, 0);
  regfree(&r);
  if (m != 0) fail_msg("\"%s\" does not match %s", s, re);
}

static void prefix_from_file(void **state) {
  (void)state;
  char out[NP_UUID_PREFIX_BUFSZ];
  write_file("plain", "ndt-knwp4_1583603744", 20);
  assert_int_equal(load("plain", out, sizeof(out)), 0);
  assert_string_equal(out, "ndt-knwp4_1583603744");

  write_file("nl", "ndt-knwp4_1583603744\n", 21);
  assert_int_equal(load("nl", out, sizeof(out)), 0);
  assert_string_equal(out, "ndt-knwp4_1583603744");

  /* Exactly fits, and one byte short of room. */
  assert_int_equal(load("plain", out, 21), 0);
  memcpy(out, "keep", 5);
  assert_int_equal(load("plain", out, 20), -ENOSPC);
  assert_string_equal(out, "keep");
}

static void prefix_file_rejects(void **state) {
  (void)state;
  char out[NP_UUID_PREFIX_BUFSZ];
  write_file("empty", "", 0);
  assert_int_equal(load("empty", out, sizeof(out)), NP_E_BADARG);
  write_file("only_nl", "\n", 1);
  assert_int_equal(load("only_nl", out, sizeof(out)), NP_E_BADARG);
  write_file("two_nl", "abc\n\n", 5);
  assert_int_equal(load("two_nl", out, sizeof(out)), NP_E_BADARG);
  write_file("ctrl",
             "ab\x01"
             "c",
             4);
  assert_int_equal(load("ctrl", out, sizeof(out)), NP_E_BADARG);
  write_file("crlf", "abc\r\n", 5);
  assert_int_equal(load("crlf", out, sizeof(out)), NP_E_BADARG);
  write_file("space", "a b", 3);
  assert_int_equal(load("space", out, sizeof(out)), NP_E_BADARG);
  write_file("slash", "a/b", 3);
  assert_int_equal(load("slash", out, sizeof(out)), NP_E_BADARG);
  write_file("nul", "ab\0c", 4);
  assert_int_equal(load("nul", out, sizeof(out)), NP_E_BADARG);

  char big[NP_UUID_PREFIX_MAX + 2];
  memset(big, 'a', sizeof(big));
  write_file("max", big, NP_UUID_PREFIX_MAX);
  assert_int_equal(load("max", out, sizeof(out)), 0);
  assert_int_equal(strlen(out), NP_UUID_PREFIX_MAX);
  big[NP_UUID_PREFIX_MAX] = '\n';
  write_file("max_nl", big, NP_UUID_PREFIX_MAX + 1);
  assert_int_equal(load("max_nl", out, sizeof(out)), 0);
  write_file("long", big, NP_UUID_PREFIX_MAX + 1);
  memset(big, 'a', sizeof(big));
  write_file("long", big, NP_UUID_PREFIX_MAX + 1);
  assert_int_equal(load("long", out, sizeof(out)), NP_E_TOOBIG);
  write_file("longer", big, sizeof(big));
  assert_int_equal(load("longer", out, sizeof(out)), NP_E_TOOBIG);

  /* A directory is not a prefix file: an errno, not the fallback. */
  assert_true(np_uuid_prefix_load(tmpdir, out, sizeof(out)) < 0);
}

static void prefix_missing_file_falls_back(void **state) {
  (void)state;
  char out[NP_UUID_PREFIX_BUFSZ];
  (void)unsetenv("POD_NAME");
  assert_int_equal(load("does-not-exist", out, sizeof(out)), 1);
  assert_matches(out, "^[^_]+_[0-9]+_unsafe$");
  assert_int_equal(np_uuid_prefix_load(NULL, out, sizeof(out)), 1);
  assert_matches(out, "^[^_]+_[0-9]+_unsafe$");

  assert_int_equal(setenv("POD_NAME", "ndt-xyz12", 1), 0);
  assert_int_equal(load("does-not-exist", out, sizeof(out)), 1);
  assert_matches(out, "^ndt-xyz12_[0-9]+_unsafe$");
  (void)unsetenv("POD_NAME");

  /* Boot time is per boot: two loads agree (within a second of rounding). */
  char again[NP_UUID_PREFIX_BUFSZ];
  assert_int_equal(load("does-not-exist", out, sizeof(out)), 1);
  assert_int_equal(load("does-not-exist", again, sizeof(again)), 1);
  long long b1 = strtoll(strchr(out, '_') + 1, NULL, 10);
  long long b2 = strtoll(strchr(again, '_') + 1, NULL, 10);
  assert_true(b1 > 1500000000LL);
  assert_true(b2 - b1 <= 1 && b1 - b2 <= 1);
}

static void fallback_pure(void **state) {
  (void)state;
  char out[64];
  assert_int_equal(
      np_uuid_prefix_fallback("ndt-knwp4", 1583610000, "6256.17 12000.5\n", out, sizeof(out)),
      (int)strlen("ndt-knwp4_1583603744_unsafe"));
  assert_string_equal(out, "ndt-knwp4_1583603744_unsafe");
  assert_int_equal(np_uuid_prefix_fallback("a_b c", 100, "10", out, sizeof(out)), 15);
  assert_string_equal(out, "a-b-c_90_unsafe");
  assert_true(np_uuid_prefix_fallback("", 100, "10.0 1.0", out, sizeof(out)) > 0);
  assert_string_equal(out, "localhost_90_unsafe");
  assert_true(np_uuid_prefix_fallback(NULL, 100, "10.0 1.0", out, sizeof(out)) > 0);
  assert_string_equal(out, "localhost_90_unsafe");
  assert_int_equal(np_uuid_prefix_fallback("h", 100, "x", out, sizeof(out)), NP_E_BADARG);
  assert_int_equal(np_uuid_prefix_fallback("h", 100, "", out, sizeof(out)), NP_E_BADARG);
  assert_int_equal(np_uuid_prefix_fallback("h", 100, "12x", out, sizeof(out)), NP_E_BADARG);
  assert_int_equal(np_uuid_prefix_fallback("h", 100, NULL, out, sizeof(out)), NP_E_BADARG);
  assert_int_equal(np_uuid_prefix_fallback("h", 100, "99999999999999999999999 1", out, sizeof(out)),
                   NP_E_BADARG);
  memcpy(out, "keep", 5);
  assert_int_equal(np_uuid_prefix_fallback("host", 100, "1", out, 10), -ENOSPC);
  assert_string_equal(out, "keep");
  /* A very long host name is cut, and the result still fits the cap. */
  char host[300];
  memset(host, 'h', sizeof(host) - 1);
  host[sizeof(host) - 1] = '\0';
  char big[NP_UUID_PREFIX_BUFSZ];
  int n = np_uuid_prefix_fallback(host, 100, "1", big, sizeof(big));
  assert_true(n > 0 && n <= NP_UUID_PREFIX_MAX);
  assert_matches(big, "^h+_99_unsafe$");
}

static void format_matches_mlab(void **state) {
  (void)state;
  char out[NP_UUID_BUFSZ];
  int n = np_uuid_format("ndt-knwp4_1583603744", 0x590E, out, sizeof(out));
  assert_string_equal(out, "ndt-knwp4_1583603744_000000000000590E");
  assert_int_equal(n, (int)strlen(out));
  assert_true(np_uuid_format("p", UINT64_MAX, out, sizeof(out)) > 0);
  assert_string_equal(out, "p_FFFFFFFFFFFFFFFF");
  assert_int_equal(np_uuid_format("p", 0xabcdef, out, 19), 18);
  assert_string_equal(out, "p_0000000000ABCDEF");
  memcpy(out, "keep", 5);
  assert_int_equal(np_uuid_format("p", 1, out, 18), -ENOSPC);
  assert_string_equal(out, "keep");
}

/* The cookie, straight from the kernel: the expected value is built
 * without the module under test. */
static uint64_t kernel_cookie(int fd) {
  uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len), 0);
  assert_int_equal(len, sizeof cookie);
  return cookie;
}

static void uuid_for_socket(void **state) {
  (void)state;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int other = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0 && other >= 0);
  uint64_t kc = kernel_cookie(fd);
  assert_true(kc != 0);
  assert_true(kernel_cookie(other) != kc);
  char out[NP_UUID_BUFSZ], want[NP_UUID_BUFSZ];
  (void)snprintf(want, sizeof want, "host_1_%016llX", (unsigned long long)kc);
  uint64_t cookie = 0;
  assert_int_equal(np_socket_cookie(fd, &cookie), 0);
  assert_true(cookie == kc);
  assert_int_equal(np_uuid_for_fd("host_1", fd, out, sizeof(out)), 23);
  assert_string_equal(out, want);
  assert_matches(out, "^host_1_[0-9A-F]{16}$");
  close(fd);
  close(other);
  assert_int_equal(np_uuid_for_fd("host_1", -1, out, sizeof(out)), -EBADF);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(prefix_from_file),
      cmocka_unit_test(prefix_file_rejects),
      cmocka_unit_test(prefix_missing_file_falls_back),
      cmocka_unit_test(fallback_pure),
      cmocka_unit_test(format_matches_mlab),
      cmocka_unit_test(uuid_for_socket),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
