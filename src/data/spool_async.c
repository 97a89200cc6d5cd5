/* Spool writes moved off the event loop onto libuv's thread pool. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/buf.h"
#include "data/gzip.h"
#include "data/spool.h"

/* One queued write. The strings are copied so the caller's may go away;
 * the path is filled by the worker and read back on the loop thread. */
typedef struct {
  uv_work_t req;
  np_spool *spool;
  int64_t wall_ns;
  uint8_t *data;
  size_t len;
  np_spool_done_cb cb;
  void *ud;
  int gzip;
  int status;
  char datatype[NAME_MAX + 1];
  char name[NAME_MAX + 1];
  char path[PATH_MAX];
} spool_job;

/* Largest compressed file accepted (pusher wants files well under 100 MB). */
#define GZIP_MAX (64u * 1024 * 1024)

static void work_cb(uv_work_t *req) {
  spool_job *j = req->data;
  if (j->gzip) {
    /* Compression is CPU work the loop should not wait for either. */
    np_buf gz;
    np_buf_init(&gz, GZIP_MAX);
    j->status = np_gzip(j->data, j->len, &gz);
    free(j->data);
    j->data = gz.data;
    j->len = gz.len;
    if (j->status < 0) {
      free(j->data);
      j->data = NULL;
      return;
    }
  }
  j->status = np_spool_write(j->spool, j->datatype, j->wall_ns, j->name, j->data, j->len, j->path,
                             sizeof j->path);
  /* Freed here, on the worker: a large file's memory goes back as soon as
   * it is on disk, not when the loop gets round to the callback. A file
   * that could not be written goes back to the caller, who may keep it. */
  if (j->status >= 0) {
    free(j->data);
    j->data = NULL;
  }
}

static void after_work_cb(uv_work_t *req, int status) {
  spool_job *j = req->data;
  /* status is UV_ECANCELED if uv_cancel() took the job before it ran. */
  int rc = status < 0 ? status : j->status;
  /* A cancelled job still holds the raw bytes of a gzip job: never hand
   * back something that is not what would have been written. */
  if (status < 0 && j->gzip) {
    free(j->data);
    j->data = NULL;
  }
  np_spool_result res = {.status = rc,
                         .path = rc >= 0 ? j->path : NULL,
                         .data = rc >= 0 ? NULL : j->data,
                         .len = rc >= 0 || !j->data ? 0 : j->len};
  j->cb(j->ud, &res);
  free(j);
}

static int queue_job(uv_loop_t *loop, np_spool *s, const char *datatype, int64_t wall_ns,
                     const char *name, uint8_t *data, size_t len, int gzip, np_spool_done_cb cb,
                     void *ud) {
  if (!loop || !s || !cb || !np_spool_datatype_ok(datatype) || !np_spool_name_ok(name) ||
      (!data && len)) {
    free(data);
    return NP_E_BADARG;
  }
  spool_job *j = calloc(1, sizeof *j);
  if (!j) {
    free(data);
    return -ENOMEM;
  }
  /* Both names were validated, so they fit (NAME_MAX bounds them). */
  memcpy(j->datatype, datatype, strlen(datatype) + 1);
  memcpy(j->name, name, strlen(name) + 1);
  j->req.data = j;
  j->spool = s;
  j->wall_ns = wall_ns;
  j->data = data;
  j->len = len;
  j->cb = cb;
  j->ud = ud;
  j->gzip = gzip;
  int rc = uv_queue_work(loop, &j->req, work_cb, after_work_cb);
  if (rc < 0) {
    free(data);
    free(j);
    return rc;
  }
  return 0;
}

int np_spool_write_async(uv_loop_t *loop, np_spool *s, const char *datatype, int64_t wall_ns,
                         const char *name, uint8_t *data, size_t len, np_spool_done_cb cb,
                         void *ud) {
  return queue_job(loop, s, datatype, wall_ns, name, data, len, 0, cb, ud);
}

int np_spool_write_async_gzip(uv_loop_t *loop, np_spool *s, const char *datatype, int64_t wall_ns,
                              const char *name, uint8_t *data, size_t len, np_spool_done_cb cb,
                              void *ud) {
  return queue_job(loop, s, datatype, wall_ns, name, data, len, 1, cb, ud);
}
