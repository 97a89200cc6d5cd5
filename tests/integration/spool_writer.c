/* Test writer for spool_watch.py: K spool files via the async API, or recovery. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/rand.h"
#include "data/gzip.h"
#include "data/spool.h"

static const char usage[] =
    "usage: spool_writer --datadir DIR [--datatype T] [--count K]\n"
    "                    [--delay-ms MS] [--size BYTES] [--json]\n"
    "                    [--crash-after N]\n"
    "       spool_writer --datadir DIR [--datatype T] --recover\n"
    "Writes K files of one JSON object each (.json.gz, or single-line .json\n"
    "with --json) through np_spool_write_async, one every MS milliseconds.\n"
    "--crash-after N: after N files (--count is then ignored), stage one\n"
    "more by hand exactly as the spool does (O_TMPFILE, fsync, link to\n"
    ".<name>.part) and SIGKILL itself before the rename: the worst moment\n"
    "for a crash.\n"
    "--recover: run np_spool_recover and print the count on stdout.\n";

typedef struct {
  const char *datadir;
  const char *datatype;
  long count;
  long delay_ms;
  long size;
  long crash_after;
  int json;
  int recover;
} options;

typedef struct {
  options opt;
  np_spool *spool;
  uv_loop_t *loop;
  uv_timer_t timer;
  long queued;
  long done;
  long failed;
} writer;

/* Strict decimal parse: no atoi, no silent garbage. */
static int parse_long(const char *s, long min, long max, long *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || !end || *end || end == s || v < min || v > max) return -1;
  *out = v;
  return 0;
}

static int parse_args(int argc, char **argv, options *o) {
  *o = (options){
      .datatype = "spooltest", .count = 10, .delay_ms = 20, .size = 4096, .crash_after = -1};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--json")) {
      o->json = 1;
    } else if (!strcmp(a, "--recover")) {
      o->recover = 1;
    } else if (!v) {
      return -1;
    } else if (!strcmp(a, "--datadir")) {
      o->datadir = argv[++i];
    } else if (!strcmp(a, "--datatype")) {
      o->datatype = argv[++i];
    } else if (!strcmp(a, "--count")) {
      if (parse_long(argv[++i], 0, 1000000, &o->count)) return -1;
    } else if (!strcmp(a, "--delay-ms")) {
      if (parse_long(argv[++i], 0, 3600000, &o->delay_ms)) return -1;
    } else if (!strcmp(a, "--size")) {
      if (parse_long(argv[++i], 0, 64L << 20, &o->size)) return -1;
    } else if (!strcmp(a, "--crash-after")) {
      if (parse_long(argv[++i], 0, 1000000, &o->crash_after)) return -1;
    } else {
      return -1;
    }
  }
  return o->datadir ? 0 : -1;
}

/* One JSON object, padded with random hex to about size bytes so that the
 * gzip output is large enough for a kill to land mid-write. */
static int make_body(const writer *w, long idx, np_buf *out) {
  static const char hex[] = "0123456789abcdef";
  np_buf json;
  np_buf_init(&json, (size_t)w->opt.size + 256);
  int rc = np_buf_printf(&json, "{\"Index\":%ld,\"Pad\":\"", idx);
  /* xorshift64 from one OS-random seed: test padding, not secrets. */
  uint64_t x = np_random_u64() | 1;
  for (long i = 0; rc == 0 && i < w->opt.size; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    char c = hex[x & 15];
    rc = np_buf_append(&json, &c, 1);
  }
  if (rc == 0) rc = np_buf_append(&json, "\"}\n", 3);
  if (rc == 0 && w->opt.json) {
    *out = json;
    return 0;
  }
  if (rc == 0) rc = np_gzip(json.data, json.len, out);
  np_buf_free(&json);
  return rc;
}

static int make_name(const writer *w, long idx, int64_t wall, char *out, size_t n) {
  char stamp[40];
  int rc = np_format_filestamp(wall, stamp, sizeof stamp);
  if (rc < 0) return rc;
  rc = snprintf(out, n, "%s-download-%s.writer_%ld_%06ld.json%s", w->opt.datatype, stamp,
                (long)getpid(), idx, w->opt.json ? "" : ".gz");
  return rc < 0 || (size_t)rc >= n ? -ENAMETOOLONG : 0;
}

/* Replays the spool's recipe up to the staging link, then dies. */
static void crash_in_window(writer *w) {
  int64_t wall = np_wall_ns();
  char name[256], dir[4096], stage[4096], day[16];
  np_buf body;
  np_buf_init(&body, 128u << 20);
  if (make_name(w, w->queued, wall, name, sizeof name) < 0 || make_body(w, w->queued, &body) < 0)
    exit(2);
  time_t t = (time_t)(wall / 1000000000);
  struct tm tm;
  if (!gmtime_r(&t, &tm) || strftime(day, sizeof day, "%Y/%m/%d", &tm) == 0) exit(2);
  if (snprintf(dir, sizeof dir, "%s/%s/%s", np_spool_datadir(w->spool), w->opt.datatype, day) >=
          (int)sizeof dir ||
      snprintf(stage, sizeof stage, "%s/.%s.part", dir, name) >= (int)sizeof stage)
    exit(2);
  int fd = open(dir, O_TMPFILE | O_WRONLY, 0644);
  if (fd < 0 || write(fd, body.data, body.len) != (ssize_t)body.len || fsync(fd) < 0) {
    perror("spool_writer: crash-after staging");
    exit(2);
  }
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  if (linkat(AT_FDCWD, proc, AT_FDCWD, stage, AT_SYMLINK_FOLLOW) < 0) {
    perror("spool_writer: linkat");
    exit(2);
  }
  (void)close(fd);
  fprintf(stderr, "spool_writer: staged %s, dying before the rename\n", stage);
  (void)raise(SIGKILL);
}

static void done_cb(void *ud, np_spool_result *res) {
  writer *w = ud;
  w->done++;
  free(res->data); /* this tool does not try again */
  if (res->status < 0) {
    w->failed++;
    fprintf(stderr, "spool_writer: write failed: %s\n", np_strerror(res->status));
  } else {
    fprintf(stderr, "spool_writer: wrote %s\n", res->path);
  }
  if (w->opt.crash_after >= 0 && w->done == w->opt.crash_after) crash_in_window(w);
}

static void tick_cb(uv_timer_t *t) {
  writer *w = t->data;
  /* --crash-after waits for its N writes before it stages the last one. */
  long limit = w->opt.crash_after >= 0 ? w->opt.crash_after : w->opt.count;
  if (w->queued >= limit) {
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, NULL);
    if (limit == 0 && w->opt.crash_after == 0) crash_in_window(w);
    return;
  }
  int64_t wall = np_wall_ns();
  char name[256];
  np_buf body;
  np_buf_init(&body, 128u << 20);
  int rc = make_name(w, w->queued, wall, name, sizeof name);
  if (rc == 0) rc = make_body(w, w->queued, &body);
  if (rc == 0) {
    /* The buffer's storage passes to the spool, which frees it. */
    rc = np_spool_write_async(w->loop, w->spool, w->opt.datatype, wall, name, body.data, body.len,
                              done_cb, w);
    body.data = NULL;
  }
  np_buf_free(&body);
  w->queued++;
  if (rc < 0) {
    w->done++;
    w->failed++;
    fprintf(stderr, "spool_writer: queue failed: %s\n", np_strerror(rc));
  }
}

int main(int argc, char **argv) {
  writer w = {0};
  if (parse_args(argc, argv, &w.opt) < 0) {
    fputs(usage, stderr);
    return 2;
  }
  int rc = np_spool_open(w.opt.datadir, &w.spool);
  if (rc < 0) {
    fprintf(stderr, "spool_writer: %s: %s\n", w.opt.datadir, np_strerror(rc));
    return 1;
  }
  if (w.opt.recover) {
    size_t n = 0;
    rc = np_spool_recover(w.spool, w.opt.datatype, &n);
    np_spool_close(w.spool);
    if (rc < 0) {
      fprintf(stderr, "spool_writer: recover: %s\n", np_strerror(rc));
      return 1;
    }
    printf("%zu\n", n);
    return 0;
  }
  /* As the server will at start-up: day directories exist, and are being
   * watched, before the first file is renamed into them. */
  rc = np_spool_prepare(w.spool, w.opt.datatype, np_wall_ns());
  if (rc < 0) {
    fprintf(stderr, "spool_writer: prepare: %s\n", np_strerror(rc));
    np_spool_close(w.spool);
    return 1;
  }
  w.loop = uv_default_loop();
  uv_timer_init(w.loop, &w.timer);
  w.timer.data = &w;
  uint64_t every = (uint64_t)(w.opt.delay_ms > 0 ? w.opt.delay_ms : 1);
  /* The watcher adds its watch on a new directory only after it sees the
   * directory's creation; a loaded machine can take a while. The server has
   * the same gap between start-up and its first test. */
  uv_timer_start(&w.timer, tick_cb, 500, every);
  (void)uv_run(w.loop, UV_RUN_DEFAULT);
  (void)uv_loop_close(w.loop);
  np_spool_close(w.spool);
  fprintf(stderr, "spool_writer: %ld written, %ld failed\n", w.done - w.failed, w.failed);
  return w.failed ? 1 : 0;
}
