/* Walking an archive: directories in name order, files read whole into two
 * reused, capped buffers, split into JSON documents. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "data/gzip.h"
#include "datatool/datatool.h"

/* Directories nest YYYY/MM/DD under a datatype under an experiment: 32 is
 * far past any archive and keeps a symlink loop or a hostile tree finite. */
#define WALK_MAX_DEPTH 32
/* Entries of one directory are sorted; an archive day holds thousands. */
#define WALK_MAX_ENTRIES ((size_t)10 * 1000 * 1000)

struct np_dt_walk {
  const np_dt_walk_opts *o;
  np_dt_stats *st;
  np_buf raw;   /* the file as read */
  np_buf plain; /* gunzipped, when it was gzip */
  uint64_t next_progress_ns;
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void progress(struct np_dt_walk *w, int last) {
  if (!w->o->progress) return;
  uint64_t t = now_ns();
  if (!last && t < w->next_progress_ns) return;
  w->next_progress_ns = t + 250000000u;
  fprintf(stderr, "\r%llu files, %llu records, %llu bad%s", (unsigned long long)w->st->files,
          (unsigned long long)w->st->docs, (unsigned long long)w->st->bad_files, last ? "\n" : "");
}

static int has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* 1: a data file, by name; 2: a bundle (.jsonl[.gz]). */
static int data_name(const char *name) {
  if (name[0] == '.') return 0; /* the spool's staging files, editor leftovers */
  if (has_suffix(name, ".jsonl") || has_suffix(name, ".jsonl.gz")) return 2;
  return has_suffix(name, ".json") || has_suffix(name, ".json.gz");
}

static void bad(struct np_dt_walk *w, const char *path, const char *why) {
  w->st->bad_files++;
  /* The message takes the progress line's place (it is redrawn after). */
  if (w->o->progress) fputs("\r\033[K", stderr);
  if (w->o->on_bad) w->o->on_bad(w->o->arg, path, why);
}

/* Reads the file whole into w->raw; a file over the cap is not read. */
static int read_whole(struct np_dt_walk *w, const char *path, char *why, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(why, cap, "cannot open: %s", strerror(errno));
    return -1;
  }
  struct stat sb;
  int rc = -1;
  if (fstat(fd, &sb) != 0) {
    snprintf(why, cap, "cannot stat: %s", strerror(errno));
  } else if ((uint64_t)sb.st_size > w->o->max_bytes) {
    snprintf(why, cap, "%lld bytes, over the %zu-byte cap (--max-bytes): not read",
             (long long)sb.st_size, w->o->max_bytes);
  } else if (np_buf_reserve(&w->raw, (size_t)sb.st_size + 1) < 0) {
    snprintf(why, cap, "out of memory");
  } else {
    rc = 0;
    for (;;) {
      size_t room = w->raw.max - w->raw.len;
      if (w->raw.cap - w->raw.len < room) room = w->raw.cap - w->raw.len;
      if (room == 0) {
        /* The file grew past its stat'd size up to the cap. */
        snprintf(why, cap, "grew past the %zu-byte cap while read", w->o->max_bytes);
        rc = -1;
        break;
      }
      ssize_t n = read(fd, w->raw.data + w->raw.len, room);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        snprintf(why, cap, "read error: %s", strerror(errno));
        rc = -1;
        break;
      }
      if (n == 0) break;
      w->raw.len += (size_t)n;
    }
  }
  close(fd);
  return rc;
}

static int do_file(struct np_dt_walk *w, const char *path, int bundle) {
  char why[256];
  w->raw.len = 0;
  w->plain.len = 0;
  w->st->files++;
  progress(w, 0);
  if (read_whole(w, path, why, sizeof why) < 0) {
    bad(w, path, why);
    return 0;
  }
  const np_buf *content = &w->raw;
  if (w->raw.len >= 2 && w->raw.data[0] == 0x1f && w->raw.data[1] == 0x8b) {
    int rc = np_gunzip(w->raw.data, w->raw.len, &w->plain);
    if (rc == NP_E_TOOBIG) {
      snprintf(why, sizeof why, "decompresses past the %zu-byte cap (--max-bytes): not read",
               w->o->max_bytes);
      bad(w, path, why);
      return 0;
    }
    if (rc < 0) {
      bad(w, path, "not a single intact gzip member (truncated or corrupt)");
      return 0;
    }
    content = &w->plain;
  } else if (has_suffix(path, ".gz")) {
    bad(w, path, "named .gz but not gzip");
    return 0;
  }
  const char *text = (const char *)content->data;
  size_t len = content->len, pos = 0, index = 0;
  if (!text) text = "";
  for (;;) {
    pos = np_skim_ws(text, len, pos);
    if (pos >= len) break;
    np_skim_span sp;
    if (np_skim_value(text, len, pos, &sp) < 0 || text[pos] != '{') {
      snprintf(why, sizeof why, "not a JSON object at byte %zu%s", pos,
               index ? " (after the documents before it)" : "");
      bad(w, path, why);
      return 0;
    }
    np_dt_doc d = {path, ++index, text, len, sp, bundle};
    w->st->docs++;
    int rc = w->o->on_doc(w->o->arg, &d);
    if (rc < 0) return rc;
    pos = sp.end;
  }
  if (index == 0) bad(w, path, "empty: no JSON document");
  return 0;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int do_dir(struct np_dt_walk *w, const char *dir, int depth) {
  if (depth > WALK_MAX_DEPTH) {
    bad(w, dir, "nested deeper than 32 directories: not walked");
    return 0;
  }
  DIR *dp = opendir(dir);
  if (!dp) {
    char why[160];
    snprintf(why, sizeof why, "cannot open directory: %s", strerror(errno));
    if (depth > 0) {
      bad(w, dir, why); /* a part of the tree: counted, the rest is read */
      return 0;
    }
    fprintf(stderr, "netpulse-data: %s: %s\n", dir, why);
    return NP_DT_IO;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(dp))) {
    if (e->d_name[0] == '.') continue;
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      char **nn = ncap <= WALK_MAX_ENTRIES ? realloc(names, ncap * sizeof *nn) : NULL;
      if (!nn) {
        rc = -ENOMEM;
        break;
      }
      names = nn;
      cap = ncap;
    }
    if (!(names[n] = strdup(e->d_name))) {
      rc = -ENOMEM;
      break;
    }
    n++;
  }
  closedir(dp);
  if (rc == 0 && n > 1) qsort(names, n, sizeof *names, cmp_names);
  size_t plen = strlen(dir);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    size_t need = plen + 1 + strlen(names[i]) + 1;
    char *path = malloc(need);
    if (!path) {
      rc = -ENOMEM;
      break;
    }
    snprintf(path, need, "%s%s%s", dir, plen && dir[plen - 1] == '/' ? "" : "/", names[i]);
    struct stat sb;
    /* lstat: a symlink inside the tree is not followed (no loops). */
    if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
      rc = do_dir(w, path, depth + 1);
    else if (S_ISREG(sb.st_mode) && data_name(names[i]))
      rc = do_file(w, path, data_name(names[i]) == 2);
    else
      w->st->skipped_names++;
    free(path);
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  if (rc == -ENOMEM) fprintf(stderr, "netpulse-data: %s: out of memory\n", dir);
  return rc;
}

int np_dt_walk_run(const np_dt_walk_opts *o, char **roots, int nroots, np_dt_stats *st) {
  struct np_dt_walk w = {.o = o, .st = st};
  np_buf_init(&w.raw, o->max_bytes + 1); /* +1: a file that grows is seen */
  np_buf_init(&w.plain, o->max_bytes);
  int rc = 0, io = 0;
  for (int i = 0; i < nroots && rc >= 0; i++) {
    struct stat sb;
    if (stat(roots[i], &sb) != 0) {
      fprintf(stderr, "netpulse-data: %s: %s\n", roots[i], strerror(errno));
      io = 1;
      continue;
    }
    if (S_ISDIR(sb.st_mode)) {
      rc = do_dir(&w, roots[i], 0);
    } else if (S_ISREG(sb.st_mode)) {
      rc = do_file(&w, roots[i], data_name(roots[i]) == 2);
    } else {
      fprintf(stderr, "netpulse-data: %s: neither a directory nor a regular file\n", roots[i]);
      io = 1;
    }
    if (rc == NP_DT_IO) {
      io = 1;
      rc = 0;
    }
  }
  progress(&w, 1);
  np_buf_free(&w.raw);
  np_buf_free(&w.plain);
  if (rc < 0) return rc;
  return io ? NP_DT_IO : 0;
}
