/* Turns finished tests into spool files: serialise on the loop (the JSON
 * objects live there), then gzip and write on the spool's worker threads so
 * the loop never waits on compression or disk. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/error.h"
#include "data/gzip.h"
#include "data/ndt7_record.h"
#include "server/log.h"
#include "server/server.h"

#define MAX_RECORD (64u * 1024 * 1024)
#define GZIP_MAX (64u * 1024 * 1024)
/* Raw documents waiting for the worker threads' gzip, in bytes, at most.
 * When many tests end together (500 at once under load) the workers fall
 * behind; beyond this the loop compresses a document itself, so what waits
 * is already compressed (~15x smaller) and the server's memory stays
 * bounded however many tests end at once. */
#define GZIP_QUEUE_CAP (8u * 1024 * 1024)

typedef struct {
  np_server *srv;
  size_t raw_queued; /* counted in srv->gzip_queued until written */
  char uuid[NP_UUID_BUFSZ];
} write_ctx;

/* Disk usage of a file just written, as the spool scan counts it (one
 * metadata lookup, cached: the file was written a moment ago). */
static uint64_t disk_bytes(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

static void on_written(void *ud, int status, const char *path) {
  write_ctx *w = ud;
  np_server *s = w->srv;
  s->pending_writes--;
  s->gzip_queued -= w->raw_queued;
  np_metrics_file(s, "ndt7", status >= 0);
  if (status < 0) {
    np_log(NP_LOG_ERROR, "data file not written", "uuid=%s err=\"%s\"", w->uuid,
           np_strerror(status));
  } else {
    np_server_spool_added(s, disk_bytes(path));
    np_log(NP_LOG_INFO, "data file written", "uuid=%s path=%s", w->uuid, path);
  }
  free(w);
  np_server_maybe_exit(s);
}

void np_server_ndt7_done(void *ud, np_ndt7_outcome *o) {
  np_server_test *t = ud;
  np_server *s = t->srv;
  s->active_tests--;
  np_metrics_active(s, t->proto, -1);
  np_server_conns_changed(s, 1);
  const char *test = o->dir == NP_NDT7_DIR_DOWNLOAD ? "download" : "upload";
  double secs = (double)o->elapsed_ns / 1e9;
  double mbps = secs > 0 ? 8.0 * (double)o->app_bytes / secs / 1e6 : 0;
  np_log(NP_LOG_INFO, "test finished",
         "uuid=%s proto=%s test=%s result=%s%s%s bytes=%llu seconds=%.3f mbps=%.2f", o->uuid,
         t->proto, test, o->success ? "success" : "failure", o->failure ? " stage=" : "",
         o->failure ? o->failure : "", (unsigned long long)o->app_bytes, secs, mbps);
  np_metrics_test_done(s, t, o->success, o->failure, o->wire_written, o->wire_read, secs, mbps);
  np_metrics_client_drops(s, o);
  np_server_test_end(t, o->wire_written);
  np_buf js;
  np_buf_init(&js, MAX_RECORD);
  char name[256];
  int rc = np_ndt7_record_json(o, &js);
  if (rc == 0 && np_ndt7_record_name(o, name, sizeof name) < 0) rc = -ENAMETOOLONG;
  json_decref(o->record);
  o->record = NULL;
  write_ctx *w = rc == 0 ? calloc(1, sizeof *w) : NULL;
  if (!w) {
    np_log(NP_LOG_ERROR, "data file not written", "uuid=%s err=\"%s\"", o->uuid,
           np_strerror(rc < 0 ? rc : -ENOMEM));
    np_metrics_file(s, "ndt7", 0);
    np_buf_free(&js);
    np_server_maybe_exit(s);
    return;
  }
  w->srv = s;
  memcpy(w->uuid, o->uuid, sizeof w->uuid);
  if (s->gzip_queued + js.len <= GZIP_QUEUE_CAP) {
    /* Ownership of js.data passes to the spool, which gzips it. */
    w->raw_queued = js.len;
    s->gzip_queued += js.len;
    rc = np_spool_write_async_gzip(s->loop, s->spool, "ndt7", o->start_wall_ns, name, js.data,
                                   js.len, on_written, w);
    if (rc < 0) s->gzip_queued -= js.len;
  } else {
    np_buf gz;
    np_buf_init(&gz, GZIP_MAX);
    rc = np_gzip(js.data, js.len, &gz);
    np_buf_free(&js);
    if (rc == 0)
      rc = np_spool_write_async(s->loop, s->spool, "ndt7", o->start_wall_ns, name, gz.data, gz.len,
                                on_written, w);
    else
      np_buf_free(&gz);
  }
  if (rc < 0) {
    np_log(NP_LOG_ERROR, "data file not written", "uuid=%s err=\"%s\"", o->uuid, np_strerror(rc));
    np_metrics_file(s, "ndt7", 0);
    free(w);
    np_server_maybe_exit(s);
    return;
  }
  s->pending_writes++;
}
