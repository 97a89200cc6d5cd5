/* Tests for data/spool's fallbacks: no O_TMPFILE, no RENAME_NOREPLACE. */
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
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "data/spool.h"

/* 2026-11-27T07:51:59Z */
#define WALL INT64_C(1795765919000000000)

/* This executable's openat and renameat2 take the place of libc's for the
 * spool library linked into it, so a test can play a filesystem that
 * lacks O_TMPFILE (EOPNOTSUPP, as vfat or some FUSE mounts answer) or
 * RENAME_NOREPLACE (EINVAL). */
static int no_tmpfile;
static int no_noreplace;
static int tmpfile_calls;

int openat(int dirfd, const char *path, int flags, ...) {
  mode_t mode = 0;
  if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  if ((flags & O_TMPFILE) == O_TMPFILE) {
    tmpfile_calls++;
    if (no_tmpfile) {
      errno = EOPNOTSUPP;
      return -1;
    }
  }
  return (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
              unsigned int flags) {
  if (no_noreplace && flags) {
    errno = EINVAL;
    return -1;
  }
  return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

typedef struct {
  char root[256];
  char day[512];
  np_spool *s;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f) return -1;
  (void)snprintf(f->root, sizeof f->root, "/tmp/np_test_spoolfb.XXXXXX");
  if (!mkdtemp(f->root)) return -1;
  (void)snprintf(f->day, sizeof f->day, "%s/ndt7/2026/11/27", f->root);
  if (np_spool_open(f->root, &f->s) != 0) return -1;
  no_tmpfile = no_noreplace = 0;
  tmpfile_calls = 0;
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

/* Entries in dir; the names joined by spaces into out. */
static int list_dir(const char *dir, char *out, size_t n) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int count = 0;
  out[0] = '\0';
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    count++;
    size_t used = strlen(out);
    (void)snprintf(out + used, n - used, "%s ", e->d_name);
  }
  closedir(d);
  return count;
}

static void expect_content(const char *dir, const char *name, const char *want) {
  char p[1024], got[64] = {0};
  (void)snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *fp = fopen(p, "rb");
  assert_non_null(fp);
  size_t n = fread(got, 1, sizeof got - 1, fp);
  fclose(fp);
  assert_int_equal(n, strlen(want));
  assert_string_equal(got, want);
}

static void test_without_tmpfile(void **state) {
  fixture *f = *state;
  no_tmpfile = 1;
  char path[PATH_MAX], names[1024];
  assert_int_equal(np_spool_write(f->s, "ndt7", WALL, "a.json", "{}\n", 3, path, sizeof path), 0);
  assert_true(tmpfile_calls > 0); /* the fallback was really taken */
  assert_non_null(strstr(path, "/ndt7/2026/11/27/a.json"));
  expect_content(f->day, "a.json", "{}\n");
  /* No overwrite, and the temp file is cleaned up after the refusal. */
  assert_int_equal(np_spool_write(f->s, "ndt7", WALL, "a.json", "x", 1, NULL, 0), -EEXIST);
  expect_content(f->day, "a.json", "{}\n");
  assert_int_equal(list_dir(f->day, names, sizeof names), 1);
  assert_string_equal(names, "a.json ");
}

static void test_fallback_tmp_not_recovered(void **state) {
  fixture *f = *state;
  /* A ".tmp" from the fallback may be partial: recovery must leave it. */
  assert_int_equal(np_spool_prepare(f->s, "ndt7", WALL), 0);
  char p[1024], names[1024];
  (void)snprintf(p, sizeof p, "%s/.b.json.tmp", f->day);
  FILE *fp = fopen(p, "wb");
  assert_non_null(fp);
  fputs("{\"trunc", fp);
  fclose(fp);
  size_t n = 9;
  assert_int_equal(np_spool_recover(f->s, "ndt7", &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(list_dir(f->day, names, sizeof names), 1);
  /* A new write of that name, by the fallback, does not trip over the
   * leftover: it gets a temp name of its own, publishes the whole file,
   * and leaves the leftover as it was (never published, never deleted). */
  no_tmpfile = 1;
  assert_int_equal(np_spool_write(f->s, "ndt7", WALL, "b.json", "{}", 2, NULL, 0), 0);
  assert_true(tmpfile_calls > 0);
  expect_content(f->day, "b.json", "{}");
  expect_content(f->day, ".b.json.tmp", "{\"trunc");
  assert_int_equal(list_dir(f->day, names, sizeof names), 2);
  /* Its own temp name is gone, also after a refused second write. */
  assert_int_equal(np_spool_write(f->s, "ndt7", WALL, "b.json", "{x}", 3, NULL, 0), -EEXIST);
  expect_content(f->day, "b.json", "{}");
  assert_int_equal(list_dir(f->day, names, sizeof names), 2);
}

static void test_without_noreplace(void **state) {
  fixture *f = *state;
  no_noreplace = 1;
  char names[1024];
  assert_int_equal(np_spool_write(f->s, "ndt7", WALL, "c", "one", 3, NULL, 0), 0);
  assert_int_equal(np_spool_write(f->s, "ndt7", WALL, "c", "two", 3, NULL, 0), -EEXIST);
  expect_content(f->day, "c", "one");
  assert_int_equal(list_dir(f->day, names, sizeof names), 1);
  /* Recovery takes the same path. */
  char p[1024];
  (void)snprintf(p, sizeof p, "%s/.d.part", f->day);
  FILE *fp = fopen(p, "wb");
  assert_non_null(fp);
  fputs("dd", fp);
  fclose(fp);
  size_t n = 0;
  assert_int_equal(np_spool_recover(f->s, "ndt7", &n), 0);
  assert_int_equal(n, 1);
  expect_content(f->day, "d", "dd");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_without_tmpfile, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fallback_tmp_not_recovered, setup, teardown),
      cmocka_unit_test_setup_teardown(test_without_noreplace, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
