/* Turns finished tests into spool files: serialise on the loop (the JSON
 * objects live there), then gzip and write on the spool's worker threads so
 * the loop never waits on compression or disk. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

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
  if (rc < 0) {
    np_log(NP_LOG_ERROR, "data file not written", "uuid=%s err=\"%s\"", o->uuid, np_strerror(rc));
    np_metrics_file(s, "ndt7", 0);
    np_buf_free(&js);
    np_server_maybe_exit(s);
    return;
  }
  char label[NP_UUID_BUFSZ + 8];
  (void)snprintf(label, sizeof label, "uuid=%s", o->uuid);
  np_server_file f = {
      .datatype = "ndt7", .wall_ns = o->start_wall_ns, .name = name, .label = label};
  if (s->gzip_queued + js.len <= GZIP_QUEUE_CAP) {
    /* Ownership of js.data passes to the spool, which gzips it. */
    f.data = js.data;
    f.len = f.raw_queued = js.len;
    f.gzip = 1;
    s->gzip_queued += js.len;
  } else {
    np_buf gz;
    np_buf_init(&gz, GZIP_MAX);
    rc = np_gzip(js.data, js.len, &gz);
    np_buf_free(&js);
    if (rc < 0) {
      np_buf_free(&gz);
      np_log(NP_LOG_ERROR, "data file not written", "uuid=%s err=\"%s\"", o->uuid, np_strerror(rc));
      np_metrics_file(s, "ndt7", 0);
      np_server_maybe_exit(s);
      return;
    }
    f.data = gz.data;
    f.len = gz.len;
  }
  np_server_spool_put(s, &f);
}
