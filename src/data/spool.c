/* Spool writer: O_TMPFILE, fsync, hidden link, rename; plus crash recovery. */
#include "data/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"

#define NS_PER_S INT64_C(1000000000)
#define DAY_S INT64_C(86400)

/* Datatype names are short words (ndt7, responsiveness1); the cap only
 * keeps paths bounded. */
#define DATATYPE_MAX 64

/* Staging affixes: ".<name>.part" (O_TMPFILE path, complete by
 * construction) and ".<name>.<random>.tmp" (fallback path, may be
 * partial). */
#define STAGE_PREFIX "."
#define STAGE_SUFFIX ".part"
#define FALLBACK_SUFFIX ".tmp"
#define NAME_LEN_MAX (NAME_MAX - (sizeof STAGE_PREFIX - 1) - (sizeof STAGE_SUFFIX - 1))

/* Recovery descends datatype/YYYY/MM/DD; anything far deeper is not ours. */
#define RECOVER_DEPTH_MAX 8

struct np_spool {
  char *datadir;
};

int np_spool_datatype_ok(const char *datatype) {
  if (!datatype || !(datatype[0] >= 'a' && datatype[0] <= 'z')) return 0;
  size_t i = 1;
  for (; datatype[i]; i++) {
    char c = datatype[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return 0;
    if (i >= DATATYPE_MAX) return 0;
  }
  return 1;
}

int np_spool_name_ok(const char *name) {
  /* pusher accepts [a-zA-Z0-9/:._-]; '/' would escape the day directory and
   * a leading '.' is how our own staging files look. */
  if (!name || name[0] == '\0' || name[0] == '.') return 0;
  size_t i = 0;
  for (; name[i]; i++) {
    char c = name[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == ':' || c == '.' || c == '_' || c == '-';
    if (!ok || i >= NAME_LEN_MAX) return 0;
  }
  return 1;
}

/* Formats the path or fails: a truncated path would name another file. */
static int path_fmt(char *out, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int path_fmt(char *out, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(out, n, fmt, ap);
  va_end(ap);
  if (k < 0) return -EINVAL;
  if ((size_t)k >= n) return -ENAMETOOLONG;
  return k;
}

/* "YYYY/MM/DD" of wall_ns in UTC (floor division: 1969 stays 1969). */
static int day_dir(int64_t wall_ns, int64_t plus_days, char *out, size_t n) {
  int64_t sec = wall_ns / NS_PER_S;
  if (wall_ns % NS_PER_S < 0) sec--;
  sec += plus_days * DAY_S;
  time_t t = (time_t)sec;
  struct tm tm;
  if (!gmtime_r(&t, &tm)) return NP_E_BADARG;
  int year = tm.tm_year + 1900;
  if (year < 0 || year > 9999) return NP_E_BADARG;
  return path_fmt(out, n, "%04d/%02d/%02d", year, tm.tm_mon + 1, tm.tm_mday);
}

/* fsync of the directory holding path, so a new entry in it survives a
 * crash. */
static int fsync_parent(const char *path) {
  char parent[PATH_MAX];
  if (path_fmt(parent, sizeof parent, "%s", path) < 0) return -ENAMETOOLONG;
  char *slash = strrchr(parent, '/');
  if (!slash) {
    parent[0] = '.';
    parent[1] = '\0';
  } else if (slash == parent) {
    slash[1] = '\0';
  } else {
    *slash = '\0';
  }
  int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int rc = fsync(fd) < 0 ? -errno : 0;
  (void)close(fd);
  return rc;
}

/* mkdir -p with mode 0755. The common case, everything exists, costs one
 * mkdir call. */
static int mkdir_p(const char *path) {
  if (mkdir(path, 0755) == 0) return fsync_parent(path);
  if (errno == EEXIST) {
    struct stat st;
    if (stat(path, &st) < 0) return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
  }
  if (errno != ENOENT) return -errno;

  char buf[PATH_MAX];
  int rc = path_fmt(buf, sizeof buf, "%s", path);
  if (rc < 0) return rc;
  /* Create each missing ancestor in turn; skip the root's slash. */
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) == 0) {
      rc = fsync_parent(buf);
    } else if (errno != EEXIST) {
      rc = -errno;
    }
    *p = '/';
    if (rc < 0) return rc;
  }
  if (mkdir(buf, 0755) < 0 && errno != EEXIST) return -errno;
  rc = fsync_parent(buf);
  if (rc < 0) return rc;
  struct stat st;
  if (stat(buf, &st) < 0) return -errno;
  return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int np_spool_open(const char *datadir, np_spool **ret) {
  if (!datadir || !datadir[0] || !ret) return NP_E_BADARG;
  size_t n = strlen(datadir);
  /* Trailing slashes would double up in every path we build. */
  while (n > 1 && datadir[n - 1] == '/') n--;
  if (n >= PATH_MAX) return -ENAMETOOLONG;
  np_spool *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  s->datadir = strndup(datadir, n);
  if (!s->datadir) {
    free(s);
    return -ENOMEM;
  }
  int rc = mkdir_p(s->datadir);
  if (rc < 0) {
    np_spool_close(s);
    return rc;
  }
  *ret = s;
  return 0;
}

void np_spool_close(np_spool *s) {
  if (!s) return;
  free(s->datadir);
  free(s);
}

const char *np_spool_datadir(const np_spool *s) { return s->datadir; }

int np_spool_prepare(np_spool *s, const char *datatype, int64_t wall_ns) {
  if (!s || !np_spool_datatype_ok(datatype)) return NP_E_BADARG;
  for (int64_t d = 0; d <= 1; d++) {
    char day[16], dir[PATH_MAX];
    int rc = day_dir(wall_ns, d, day, sizeof day);
    if (rc < 0) return rc;
    rc = path_fmt(dir, sizeof dir, "%s/%s/%s", s->datadir, datatype, day);
    if (rc < 0) return rc;
    rc = mkdir_p(dir);
    if (rc < 0) return rc;
  }
  return 0;
}

/* The final name appears by a single IN_MOVED_TO and never replaces a file.
 * Filesystems without RENAME_NOREPLACE (EINVAL) get a check-then-rename,
 * which can only lose a race against another writer of the same name;
 * linking instead would be atomic but raises IN_CREATE, which the
 * uploaders do not watch. */
static int publish(int dirfd, const char *from, const char *to) {
  if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -errno;
  struct stat st;
  if (fstatat(dirfd, to, &st, AT_SYMLINK_NOFOLLOW) == 0) return -EEXIST;
  if (errno != ENOENT) return -errno;
  return renameat(dirfd, from, dirfd, to) == 0 ? 0 : -errno;
}

static int write_all(int fd, const uint8_t *p, size_t len) {
  while (len > 0) {
    size_t chunk = len < (size_t)SSIZE_MAX ? len : (size_t)SSIZE_MAX;
    ssize_t n = write(fd, p, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return -EIO;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Gives the anonymous O_TMPFILE inode a name. The /proc magic link works
 * unprivileged; AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH but also works
 * where /proc is not mounted. */
static int link_tmpfile(int fd, int dirfd, const char *stage) {
  char proc[64];
  int rc = path_fmt(proc, sizeof proc, "/proc/self/fd/%d", fd);
  if (rc < 0) return rc;
  if (linkat(AT_FDCWD, proc, dirfd, stage, AT_SYMLINK_FOLLOW) == 0) return 0;
  if (errno != ENOENT) return -errno;
  if (linkat(fd, "", dirfd, stage, AT_EMPTY_PATH) == 0) return 0;
  return -errno;
}

/* The DESIGN.md recipe. Until the link the file has no name, so every
 * early failure leaves nothing behind; the only close event names
 * "#<inode>", which no uploader can open. */
static int write_tmpfile(int fd, int dirfd, const char *name, const uint8_t *data, size_t len) {
  char stage[NAME_MAX + 1];
  int rc = path_fmt(stage, sizeof stage, STAGE_PREFIX "%s" STAGE_SUFFIX, name);
  if (rc < 0) goto fail_open;
  rc = write_all(fd, data, len);
  if (rc < 0) goto fail_open;
  /* Before the link: a staging name must only ever hold complete data,
   * because recovery publishes every staging file it finds. */
  if (fsync(fd) < 0) {
    rc = -errno;
    goto fail_open;
  }
  rc = link_tmpfile(fd, dirfd, stage);
  if (rc < 0) goto fail_open;
  /* Linux closes the descriptor even when close reports EINTR. */
  if (close(fd) < 0 && errno != EINTR) {
    rc = -errno;
    goto fail_linked;
  }
  rc = publish(dirfd, stage, name);
  if (rc < 0) goto fail_linked;
  return 0;

fail_open:
  (void)close(fd);
  return rc;
fail_linked:
  /* Our own staging link, never announced to any uploader: remove it so
   * recovery does not publish a file we reported as failed. */
  (void)unlinkat(dirfd, stage, 0);
  return rc;
}

/* For filesystems without O_TMPFILE. The trade-off: closing the named temp
 * file raises IN_CLOSE_WRITE on a hidden ".<name>.<8 hex>.tmp", which the
 * uploader may try to open or even upload before the rename. It is not
 * called ".part" because a crash mid-write leaves it partial, and recovery
 * must only ever publish complete staging files. The random part makes
 * every attempt's name new: a leftover of a crashed attempt (never
 * deleted, like every spool file) cannot block a later write of the same
 * name, and two writers never share an inode. The name part is cut to fit
 * NAME_MAX; it only helps a human reading the directory. */
static int write_fallback(int dirfd, const char *name, const uint8_t *data, size_t len) {
  char tmp[NAME_MAX + 1];
  int fd = -1, rc = -EEXIST;
  int keep = (int)(NAME_MAX - (sizeof STAGE_PREFIX - 1) - 9 - (sizeof FALLBACK_SUFFIX - 1));
  for (int attempt = 0; attempt < 8 && fd < 0 && rc == -EEXIST; attempt++) {
    uint32_t r;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) return -errno;
    rc = path_fmt(tmp, sizeof tmp, STAGE_PREFIX "%.*s.%08x" FALLBACK_SUFFIX, keep, name,
                  (unsigned)r);
    if (rc < 0) return rc;
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    rc = fd < 0 ? -errno : 0;
  }
  if (fd < 0) return rc;
  rc = write_all(fd, data, len);
  if (rc == 0 && fsync(fd) < 0) rc = -errno;
  if (close(fd) < 0 && errno != EINTR && rc == 0) rc = -errno;
  if (rc == 0) rc = publish(dirfd, tmp, name);
  if (rc < 0) (void)unlinkat(dirfd, tmp, 0);
  return rc;
}

/* Opens the day directory, creating it on first use. */
static int open_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0 || errno != ENOENT) return fd >= 0 ? fd : -errno;
  int rc = mkdir_p(dir);
  if (rc < 0) return rc;
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return fd >= 0 ? fd : -errno;
}

int np_spool_write(np_spool *s, const char *datatype, int64_t wall_ns, const char *name,
                   const void *data, size_t len, char *ret_path, size_t pathcap) {
  if (!s || !np_spool_datatype_ok(datatype) || !np_spool_name_ok(name) || (!data && len))
    return NP_E_BADARG;
  char day[16], dir[PATH_MAX], path[PATH_MAX];
  int rc = day_dir(wall_ns, 0, day, sizeof day);
  if (rc < 0) return rc;
  rc = path_fmt(dir, sizeof dir, "%s/%s/%s", s->datadir, datatype, day);
  if (rc < 0) return rc;
  rc = path_fmt(path, sizeof path, "%s/%s", dir, name);
  if (rc < 0) return rc;
  /* Checked before writing: a file we cannot report is a file the caller
   * would try to write again. */
  if (ret_path && (size_t)rc >= pathcap) return NP_E_TOOBIG;

  int dirfd = open_dir(dir);
  if (dirfd < 0) return dirfd;
  /* Tomorrow's directory, made now, is watched long before midnight: the
   * first file of a day would otherwise race the uploader's new watch. */
  (void)np_spool_prepare(s, datatype, wall_ns);

  int fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
  if (fd >= 0) {
    rc = write_tmpfile(fd, dirfd, name, data, len);
  } else if (errno == EOPNOTSUPP || errno == EISDIR) {
    rc = write_fallback(dirfd, name, data, len);
  } else {
    rc = -errno;
  }
  /* Makes the new name durable; on failure the file stays delivered. */
  if (rc == 0 && fsync(dirfd) < 0) rc = -errno;
  (void)close(dirfd);
  if (rc < 0) return rc;
  if (ret_path) memcpy(ret_path, path, strlen(path) + 1);
  return 0;
}

int np_spool_probe(np_spool *s, const char *datatype, int64_t wall_ns) {
  if (!s || !np_spool_datatype_ok(datatype)) return NP_E_BADARG;
  char day[16], dir[PATH_MAX];
  int rc = day_dir(wall_ns, 0, day, sizeof day);
  if (rc < 0) return rc;
  rc = path_fmt(dir, sizeof dir, "%s/%s/%s", s->datadir, datatype, day);
  if (rc < 0) return rc;
  int dirfd = open_dir(dir);
  if (dirfd < 0) return dirfd;
  int fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    /* Without O_TMPFILE, write access is all that can be asked without
     * making a name an uploader would see. */
    rc = errno == EOPNOTSUPP || errno == EISDIR ? (faccessat(dirfd, ".", W_OK, 0) < 0 ? -errno : 0)
                                                : -errno;
    (void)close(dirfd);
    return rc;
  }
  (void)close(dirfd);
  static const uint8_t zeros[NP_SPOOL_PROBE_BYTES];
  rc = write_all(fd, zeros, sizeof zeros);
  if (rc == 0 && fsync(fd) < 0) rc = -errno;
  (void)close(fd);
  return rc;
}

/* If entry is a staging file ".<final>.part", renames it to final.
 * Returns 1 if renamed, 0 if not ours or the final name is taken. */
static int recover_entry(int dirfd, const char *entry) {
  size_t n = strlen(entry);
  size_t pre = sizeof STAGE_PREFIX - 1, suf = sizeof STAGE_SUFFIX - 1;
  if (n <= pre + suf || strncmp(entry, STAGE_PREFIX, pre) != 0 ||
      strcmp(entry + n - suf, STAGE_SUFFIX) != 0)
    return 0;
  char final[NAME_MAX + 1];
  memcpy(final, entry + pre, n - pre - suf);
  final[n - pre - suf] = '\0';
  if (!np_spool_name_ok(final)) return 0;
  int rc = publish(dirfd, entry, final);
  if (rc == -EEXIST) return 0;
  return rc < 0 ? rc : 1;
}

/* Takes ownership of dirfd. */
static int recover_dir(int dirfd, int depth, size_t *count) {
  DIR *d = fdopendir(dirfd);
  if (!d) {
    int rc = -errno;
    (void)close(dirfd);
    return rc;
  }
  int rc = 0;
  size_t renamed = 0;
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(d);
    if (!e) {
      if (errno) rc = -errno;
      break;
    }
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    unsigned char type = e->d_type;
    if (type == DT_UNKNOWN) {
      struct stat st;
      if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        rc = -errno;
        break;
      }
      type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
    }
    if (type == DT_REG) {
      rc = recover_entry(dirfd, e->d_name);
      if (rc < 0) break;
      renamed += (size_t)rc;
      rc = 0;
    } else if (type == DT_DIR && depth < RECOVER_DEPTH_MAX) {
      int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) {
        rc = -errno;
        break;
      }
      rc = recover_dir(sub, depth + 1, count);
      if (rc < 0) break;
    }
  }
  if (renamed > 0 && fsync(dirfd) < 0 && rc == 0) rc = -errno;
  *count += renamed;
  (void)closedir(d);
  return rc;
}

int np_spool_recover(np_spool *s, const char *datatype, size_t *ret_recovered) {
  if (!s || !np_spool_datatype_ok(datatype)) return NP_E_BADARG;
  char dir[PATH_MAX];
  int rc = path_fmt(dir, sizeof dir, "%s/%s", s->datadir, datatype);
  if (rc < 0) return rc;
  size_t count = 0;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) return -errno;
  } else {
    rc = recover_dir(fd, 0, &count);
    if (rc < 0) return rc;
  }
  if (ret_recovered) *ret_recovered = count;
  return 0;
}
