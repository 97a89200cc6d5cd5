/* Static answers for the test page: name rules, content types, and the
 * embedded or directory-backed files. */
#include "http/static.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

#define MAX_DEPTH 8

int np_static_dir_open(const char *dir, int *ret_fd) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  *ret_fd = fd;
  return 0;
}

static int name_char(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

np_slice np_static_name(np_slice path) {
  static const np_slice none = {NULL, 0};
  if (path.len == 0 || path.ptr[0] != '/') return none;
  if (path.len == 1) return np_slice_cstr("index.html");
  np_slice name = np_slice_make(path.ptr + 1, path.len - 1);
  if (name.len > NP_STATIC_MAX_NAME) return none;
  int depth = 0;
  size_t seg = 0; /* bytes of the current segment */
  for (size_t i = 0; i < name.len; i++) {
    uint8_t c = name.ptr[i];
    if (c == '/') {
      if (seg == 0 || ++depth >= MAX_DEPTH) return none;
      seg = 0;
    } else if (!name_char(c) || (seg == 0 && c == '.')) {
      return none;
    } else {
      seg++;
    }
  }
  return seg ? name : none;
}

static int ends_with(np_slice s, const char *suffix) {
  size_t n = strlen(suffix);
  return s.len > n && np_slice_ieq(np_slice_make(s.ptr + s.len - n, n), np_slice_cstr(suffix));
}

const char *np_static_content_type(np_slice name) {
  static const struct {
    const char *ext, *type;
  } types[] = {{".html", "text/html; charset=utf-8"},
               {".js", "text/javascript; charset=utf-8"},
               {".mjs", "text/javascript; charset=utf-8"},
               {".css", "text/css; charset=utf-8"},
               {".svg", "image/svg+xml"},
               {".png", "image/png"},
               {".json", "application/json"},
               {".txt", "text/plain; charset=utf-8"},
               {".ico", "image/x-icon"}};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (ends_with(name, types[i].ext)) return types[i].type;
  return "application/octet-stream";
}

/* Fields every answer carries. */
static void common_fields(np_http_reply *r, const char *type, const char *cache) {
  (void)np_http_reply_add(r, "content-type", type);
  (void)np_http_reply_add(r, "cache-control", cache);
  (void)np_http_reply_add(r, "content-security-policy", NP_STATIC_CSP);
  (void)np_http_reply_add(r, "x-content-type-options", "nosniff");
  (void)np_http_reply_add(r, "referrer-policy", "no-referrer");
}

static void error_reply(np_http_reply *r, int status, int head) {
  static const char *const bodies[] = {"not found\n", "method not allowed\n", "cannot read\n"};
  const char *body = status == 404 ? bodies[0] : status == 405 ? bodies[1] : bodies[2];
  r->status = status;
  common_fields(r, "text/plain; charset=utf-8", "no-store");
  if (status == 405) (void)np_http_reply_add(r, "allow", "GET, HEAD");
  r->body = np_slice_cstr(body);
  r->head_only = head;
}

/* Reads name (checked by np_static_name) under dirfd without following
 * any symlink: each directory is opened with O_NOFOLLOW, and so is the
 * file. 0, or a negative errno (-ENOENT for anything not servable). */
static int read_under(int dirfd, np_slice name, np_http_reply *r) {
  char buf[NP_STATIC_MAX_NAME + 1];
  memcpy(buf, name.ptr, name.len);
  buf[name.len] = 0;
  int dfd = dirfd, rc = 0, fd = -1;
  char *seg = buf;
  for (char *slash; (slash = strchr(seg, '/')) != NULL; seg = slash + 1) {
    *slash = 0;
    int next = openat(dfd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd != dirfd) (void)close(dfd);
    if (next < 0) return -ENOENT;
    dfd = next;
  }
  /* O_NONBLOCK: a FIFO put there must not hang the loop in open(). */
  fd = openat(dfd, seg, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (dfd != dirfd) (void)close(dfd);
  if (fd < 0) return errno == EACCES ? -EACCES : -ENOENT;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    rc = -ENOENT;
    goto out;
  }
  if ((uint64_t)st.st_size > NP_STATIC_MAX_FILE) {
    rc = -EFBIG;
    goto out;
  }
  size_t cap = (size_t)st.st_size, n = 0;
  uint8_t *data = malloc(cap ? cap : 1);
  if (!data) {
    rc = -ENOMEM;
    goto out;
  }
  /* The file may change while read: what fits in the size seen is served. */
  while (n < cap) {
    ssize_t k = read(fd, data + n, cap - n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    n += (size_t)k;
  }
  r->owned = data;
  r->body = np_slice_make(data, n);
out:
  (void)close(fd);
  return rc;
}

static const np_static_file *find_embedded(const np_static_site *site, np_slice name) {
  for (size_t i = 0; i < site->nfiles; i++)
    if (np_slice_eq(name, np_slice_cstr(site->files[i].name))) return &site->files[i];
  return NULL;
}

int np_static_lookup(const np_static_site *site, np_slice method, np_slice path,
                     np_http_reply *ret) {
  memset(ret, 0, sizeof *ret);
  int get = np_slice_eq(method, np_slice_cstr("GET"));
  int head = np_slice_eq(method, np_slice_cstr("HEAD"));
  int privacy = site->privacy && np_slice_eq(path, np_slice_cstr("/privacy"));
  np_slice name = np_static_name(path);
  const np_static_file *f = NULL;
  if (privacy) {
    f = site->privacy;
  } else if (!name.len) {
    error_reply(ret, 404, head);
    return 0;
  } else if (site->dirfd < 0) {
    f = find_embedded(site, name);
    if (!f) {
      error_reply(ret, 404, head);
      return 0;
    }
  }
  if (!get && !head) {
    error_reply(ret, 405, head);
    return 0;
  }
  if (f) {
    ret->body = np_slice_make(f->data, f->len);
  } else {
    int rc = read_under(site->dirfd, name, ret);
    if (rc == -ENOMEM) return rc;
    if (rc < 0) {
      error_reply(ret, rc == -ENOENT ? 404 : 500, head);
      return 0;
    }
  }
  ret->status = 200;
  ret->head_only = head;
  common_fields(ret, privacy ? "text/plain; charset=utf-8" : np_static_content_type(name),
                "no-cache");
  return 0;
}
