/* Tests for data/spool: layout, no-overwrite, validation, recovery, async. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "core/error.h"
#include "data/gzip.h"
#include "data/spool.h"

/* 2026-11-27T07:51:59.123456789Z */
#define WALL INT64_C(1795765919123456789)

typedef struct {
  char root[PATH_MAX];    /* mkdtemp directory, removed afterwards */
  char datadir[PATH_MAX]; /* root/spool/data: open must create it */
  np_spool *s;
} fixture;

/* snprintf that fails the test instead of truncating (and that keeps
 * -Wformat-truncation quiet about PATH_MAX buffers). */
static void pathf(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pathf(char *out, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(out, n, fmt, ap);
  va_end(ap);
  assert_true(k >= 0 && (size_t)k < n);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f) return -1;
  pathf(f->root, sizeof f->root, "/tmp/np_test_spool.XXXXXX");
  if (!mkdtemp(f->root)) return -1;
  pathf(f->datadir, sizeof f->datadir, "%s/spool/data/", f->root);
  if (np_spool_open(f->datadir, &f->s) != 0) return -1;
  /* The spool strips the trailing slash. */
  f->datadir[strlen(f->datadir) - 1] = '\0';
  *state = f;
  return 0;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static int teardown(void **state) {
  fixture *f = *state;
  np_spool_close(f->s);
  (void)nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(f);
  return 0;
}

static char *slurp(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return NULL;
  char *buf = malloc(1 << 16);
  size_t n = fread(buf, 1, 1 << 16, fp);
  fclose(fp);
  buf[n < (1 << 16) ? n : (1 << 16) - 1] = '\0';
  *len = n;
  return buf;
}

static void put_file(const char *path, const char *content) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(content, 1, strlen(content), fp), strlen(content));
  assert_int_equal(fclose(fp), 0);
}

/* Number of entries in dir other than . and .., and how many are hidden. */
static int count_entries(const char *dir, int *hidden) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  *hidden = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    n++;
    if (e->d_name[0] == '.') (*hidden)++;
  }
  closedir(d);
  return n;
}

static void test_open_creates_datadir(void **state) {
  fixture *f = *state;
  struct stat st;
  assert_int_equal(stat(f->datadir, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_string_equal(np_spool_datadir(f->s), f->datadir);
  /* Opening an existing directory again is fine; a file is not. */
  np_spool *again = NULL;
  assert_int_equal(np_spool_open(f->datadir, &again), 0);
  np_spool_close(again);
  char file[PATH_MAX];
  pathf(file, sizeof file, "%s/plain", f->root);
  put_file(file, "x");
  again = NULL;
  assert_int_equal(np_spool_open(file, &again), -ENOTDIR);
  assert_null(again);
  assert_int_equal(np_spool_open("", &again), NP_E_BADARG);
  np_spool_close(NULL);
}

static void test_write_layout_and_content(void **state) {
  fixture *f = *state;
  const char *body = "{\"a\":1}\n";
  char path[PATH_MAX], want[PATH_MAX];
  int rc = np_spool_write(f->s, "ndt7", WALL, "ndt7-download-x.json", body, strlen(body), path,
                          sizeof path);
  assert_int_equal(rc, 0);
  pathf(want, sizeof want, "%s/ndt7/2026/11/27/ndt7-download-x.json", f->datadir);
  assert_string_equal(path, want);
  size_t len = 0;
  char *got = slurp(path, &len);
  assert_non_null(got);
  assert_int_equal(len, strlen(body));
  assert_string_equal(got, body);
  free(got);

  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(st.st_nlink, 1); /* the staging link is gone */
  mode_t mask = umask(0);
  umask(mask);
  assert_int_equal(st.st_mode & 0777, 0644 & ~mask);

  /* Exactly one entry, not hidden: no staging junk. */
  char dir[PATH_MAX];
  pathf(dir, sizeof dir, "%s/ndt7/2026/11/27", f->datadir);
  int hidden = -1;
  assert_int_equal(count_entries(dir, &hidden), 1);
  assert_int_equal(hidden, 0);
  /* Tomorrow's directory exists before it is needed. */
  pathf(dir, sizeof dir, "%s/ndt7/2026/11/28", f->datadir);
  assert_int_equal(stat(dir, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
}

static void test_write_dates_utc(void **state) {
  fixture *f = *state;
  char path[PATH_MAX], want[PATH_MAX];
  /* The last nanosecond of 1969 is still 1969 (floor, not truncation). */
  assert_int_equal(np_spool_write(f->s, "x1", -1, "a", "", 0, path, sizeof path), 0);
  pathf(want, sizeof want, "%s/x1/1969/12/31/a", f->datadir);
  assert_string_equal(path, want);
  /* Month and year boundaries; NULL ret_path is allowed. */
  assert_int_equal(
      np_spool_write(f->s, "x1", INT64_C(1767225599) * 1000000000, "b", "b", 1, NULL, 0), 0);
  pathf(want, sizeof want, "%s/x1/2025/12/31/b", f->datadir);
  assert_int_equal(access(want, F_OK), 0);
  assert_int_equal(
      np_spool_write(f->s, "x1", INT64_C(1767225600) * 1000000000, "c", "c", 1, path, sizeof path),
      0);
  pathf(want, sizeof want, "%s/x1/2026/01/01/c", f->datadir);
  assert_string_equal(path, want);
}

static void test_no_overwrite(void **state) {
  fixture *f = *state;
  char path[PATH_MAX];
  assert_int_equal(np_spool_write(f->s, "ndt7", WALL, "dup", "first", 5, path, sizeof path), 0);
  char second[PATH_MAX] = "untouched";
  assert_int_equal(np_spool_write(f->s, "ndt7", WALL, "dup", "second!", 7, second, sizeof second),
                   -EEXIST);
  assert_string_equal(second, "untouched");
  size_t len = 0;
  char *got = slurp(path, &len);
  assert_non_null(got);
  assert_string_equal(got, "first");
  free(got);
  /* The failed attempt left no staging file behind. */
  char dir[PATH_MAX];
  pathf(dir, sizeof dir, "%s/ndt7/2026/11/27", f->datadir);
  int hidden = -1;
  assert_int_equal(count_entries(dir, &hidden), 1);
  assert_int_equal(hidden, 0);
}

static void test_existing_stage_is_kept(void **state) {
  fixture *f = *state;
  /* A staging file left by a crash holds complete data that recovery will
   * publish; a new write of the same name must not clobber or delete it. */
  char dir[PATH_MAX], stage[PATH_MAX];
  assert_int_equal(np_spool_prepare(f->s, "ndt7", WALL), 0);
  pathf(dir, sizeof dir, "%s/ndt7/2026/11/27", f->datadir);
  pathf(stage, sizeof stage, "%s/.s.part", dir);
  put_file(stage, "old");
  assert_int_equal(np_spool_write(f->s, "ndt7", WALL, "s", "new", 3, NULL, 0), -EEXIST);
  size_t len = 0;
  char *got = slurp(stage, &len);
  assert_non_null(got);
  assert_string_equal(got, "old");
  free(got);
  char final[PATH_MAX];
  pathf(final, sizeof final, "%s/s", dir);
  assert_int_equal(access(final, F_OK), -1);
}

static void test_bad_names(void **state) {
  fixture *f = *state;
  const char *types[] = {"", "Ndt7", "7ndt", "nd-t", "nd_t", "a/b", "..", "ndt7 ", "ndt\xc3\xa9"};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    assert_int_equal(np_spool_write(f->s, types[i], WALL, "ok", "x", 1, NULL, 0), NP_E_BADARG);
    assert_int_equal(np_spool_datatype_ok(types[i]), 0);
  }
  assert_int_equal(np_spool_write(f->s, NULL, WALL, "ok", "x", 1, NULL, 0), NP_E_BADARG);
  const char *names[] = {"",    ".hidden", ".",           "..", "a/b",
                         "a b", "a\n",     "caf\xc3\xa9", "x*", "../../etc"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    assert_int_equal(np_spool_write(f->s, "ndt7", WALL, names[i], "x", 1, NULL, 0), NP_E_BADARG);
    assert_int_equal(np_spool_name_ok(names[i]), 0);
  }
  char longname[NAME_MAX + 2];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  assert_int_equal(np_spool_name_ok(longname), 0);
  longname[NAME_MAX - 6] = '\0'; /* ".<name>.part" must still fit NAME_MAX */
  assert_int_equal(np_spool_name_ok(longname), 1);
  assert_int_equal(np_spool_write(f->s, "ndt7", WALL, longname, "x", 1, NULL, 0), 0);
  assert_int_equal(np_spool_name_ok("ndt7-download-20261127T075159.123456789Z."
                                    "host_1_000000000000590E.json.gz"),
                   1);
  assert_int_equal(np_spool_datatype_ok("responsiveness1"), 1);
  /* Nothing was created for the rejected calls. */
  struct stat st;
  char p[PATH_MAX];
  pathf(p, sizeof p, "%s/Ndt7", f->datadir);
  assert_int_equal(stat(p, &st), -1);
}

static void test_small_ret_path(void **state) {
  fixture *f = *state;
  char small[8];
  assert_int_equal(np_spool_write(f->s, "ndt7", WALL, "p", "x", 1, small, sizeof small),
                   NP_E_TOOBIG);
  char p[PATH_MAX];
  pathf(p, sizeof p, "%s/ndt7/2026/11/27/p", f->datadir);
  assert_int_equal(access(p, F_OK), -1);
}

static void test_recover(void **state) {
  fixture *f = *state;
  size_t n = 99;
  /* No datatype directory yet: nothing to do, not an error. */
  assert_int_equal(np_spool_recover(f->s, "ndt7", &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(np_spool_recover(f->s, "bad-type", &n), NP_E_BADARG);

  char d1[PATH_MAX], d2[PATH_MAX], p[PATH_MAX + 32];
  assert_int_equal(np_spool_prepare(f->s, "ndt7", WALL), 0);
  pathf(d1, sizeof d1, "%s/ndt7/2026/11/27", f->datadir);
  pathf(d2, sizeof d2, "%s/ndt7/2026/11/28", f->datadir);
  pathf(p, sizeof p, "%s/.x.json.gz.part", d1);
  put_file(p, "x-data");
  pathf(p, sizeof p, "%s/.y.part", d2);
  put_file(p, "y-data");
  /* The final name exists: both files are kept, the stage is not counted. */
  pathf(p, sizeof p, "%s/.z.part", d1);
  put_file(p, "z-stage");
  pathf(p, sizeof p, "%s/z", d1);
  put_file(p, "z-final");
  /* Not staging files of ours: left alone. */
  pathf(p, sizeof p, "%s/.w.tmp", d1);
  put_file(p, "maybe partial");
  pathf(p, sizeof p, "%s/.part", d1);
  put_file(p, "no name");
  pathf(p, sizeof p, "%s/..part", d1);
  put_file(p, "empty name");

  assert_int_equal(np_spool_recover(f->s, "ndt7", &n), 0);
  assert_int_equal(n, 2);

  size_t len;
  char *got;
  pathf(p, sizeof p, "%s/x.json.gz", d1);
  assert_non_null(got = slurp(p, &len));
  assert_string_equal(got, "x-data");
  free(got);
  pathf(p, sizeof p, "%s/y", d2);
  assert_non_null(got = slurp(p, &len));
  assert_string_equal(got, "y-data");
  free(got);
  pathf(p, sizeof p, "%s/z", d1);
  assert_non_null(got = slurp(p, &len));
  assert_string_equal(got, "z-final");
  free(got);
  const char *kept[] = {".z.part", ".w.tmp", ".part", "..part"};
  for (size_t i = 0; i < 4; i++) {
    pathf(p, sizeof p, "%s/%s", d1, kept[i]);
    assert_int_equal(access(p, F_OK), 0);
  }
  pathf(p, sizeof p, "%s/.x.json.gz.part", d1);
  assert_int_equal(access(p, F_OK), -1);

  /* Idempotent. */
  assert_int_equal(np_spool_recover(f->s, "ndt7", &n), 0);
  assert_int_equal(n, 0);
}

typedef struct {
  int calls;
  int ok;
  int eexist;
  size_t returned;
  char last[PATH_MAX];
} async_result;

static void done_cb(void *ud, np_spool_result *res) {
  async_result *r = ud;
  r->calls++;
  if (res->status == 0) {
    assert_non_null(res->path);
    assert_null(res->data);
    r->ok++;
    pathf(r->last, sizeof r->last, "%s", res->path);
  } else {
    assert_null(res->path);
    /* The bytes come back so the caller could try again. */
    assert_non_null(res->data);
    assert_true(res->len > 0);
    r->returned += res->len;
    free(res->data);
    if (res->status == -EEXIST) r->eexist++;
  }
}

static uint8_t *dup_bytes(const char *s) {
  uint8_t *p = malloc(strlen(s) + 1);
  assert_non_null(p);
  memcpy(p, s, strlen(s) + 1);
  return p;
}

static void test_async(void **state) {
  fixture *f = *state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  async_result r = {0};
  enum { N = 20 };
  for (int i = 0; i < N; i++) {
    char name[32];
    pathf(name, sizeof name, "async-%02d.json", i);
    uint8_t *data = dup_bytes("{\"i\":1}\n");
    assert_int_equal(np_spool_write_async(&loop, f->s, "responsiveness1", WALL, name, data,
                                          strlen((char *)data), done_cb, &r),
                     0);
  }
  /* Same name twice in flight: exactly one wins, the other gets -EEXIST. */
  assert_int_equal(np_spool_write_async(&loop, f->s, "responsiveness1", WALL, "async-00.json",
                                        dup_bytes("x"), 1, done_cb, &r),
                   0);
  /* Rejected at once, cb never called, data freed by the spool. */
  assert_int_equal(
      np_spool_write_async(&loop, f->s, "Bad", WALL, "n", dup_bytes("x"), 1, done_cb, &r),
      NP_E_BADARG);
  assert_int_equal(
      np_spool_write_async(&loop, f->s, "ok", WALL, ".n", dup_bytes("x"), 1, done_cb, &r),
      NP_E_BADARG);
  assert_int_equal(r.calls, 0); /* never synchronously */
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(r.calls, N + 1);
  assert_int_equal(r.ok, N);
  assert_int_equal(r.eexist, 1);
  /* Either writer of the name may lose; its bytes come back. */
  assert_true(r.returned == 1 || r.returned == strlen("{\"i\":1}\n"));
  assert_non_null(strstr(r.last, "/responsiveness1/2026/11/27/async-"));

  char dir[PATH_MAX];
  pathf(dir, sizeof dir, "%s/responsiveness1/2026/11/27", f->datadir);
  int hidden = -1;
  assert_int_equal(count_entries(dir, &hidden), N);
  assert_int_equal(hidden, 0);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_async_gzip(void **state) {
  fixture *f = *state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  async_result r = {0};
  const char *text = "{\"Download\":{\"UUID\":\"x_1_0000000000000001\"}}";
  assert_int_equal(np_spool_write_async_gzip(&loop, f->s, "ndt7", WALL, "one.json.gz",
                                             dup_bytes(text), strlen(text), done_cb, &r),
                   0);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(r.ok, 1);
  size_t n = 0;
  char *raw = slurp(r.last, &n);
  assert_non_null(raw);
  np_buf out;
  np_buf_init(&out, 1 << 20);
  assert_int_equal(np_gunzip(raw, n, &out), 0);
  assert_int_equal(out.len, strlen(text));
  assert_memory_equal(out.data, text, out.len);
  np_buf_free(&out);
  free(raw);
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* The probe leaves nothing behind and sees a directory it cannot use. */
static void test_probe(void **state) {
  fixture *f = *state;
  assert_int_equal(np_spool_probe(f->s, "ndt7", WALL), 0);
  char dir[PATH_MAX];
  pathf(dir, sizeof dir, "%s/ndt7/2026/11/27", f->datadir);
  int hidden = -1;
  assert_int_equal(count_entries(dir, &hidden), 0);
  assert_int_equal(hidden, 0);
  assert_int_equal(np_spool_probe(f->s, "Bad", WALL), NP_E_BADARG);
  /* A datatype "directory" that is a file: what a write would meet. */
  char file[PATH_MAX];
  pathf(file, sizeof file, "%s/blocked", f->datadir);
  FILE *fp = fopen(file, "w");
  assert_non_null(fp);
  fclose(fp);
  assert_int_equal(np_spool_probe(f->s, "blocked", WALL), -ENOTDIR);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_async_gzip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_probe, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_creates_datadir, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_layout_and_content, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_dates_utc, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_overwrite, setup, teardown),
      cmocka_unit_test_setup_teardown(test_existing_stage_is_kept, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
      cmocka_unit_test_setup_teardown(test_small_ret_path, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
      cmocka_unit_test_setup_teardown(test_async, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
