/* Finished tests' files on their way to the spool, and what happens when the
 * spool cannot take them.
 *
 * A write that fails because of the spool (full, read-only, removed
 * directory, I/O error, out of descriptors) marks the spool unwritable: new
 * tests are refused (503 spool_unwritable), /health answers 503, and the
 * file is held in memory instead of lost. Every PROBE_MS the oldest held
 * file is written again (or, with none held, np_spool_probe asks the disk);
 * the first success clears the fault and writes the rest. The decision to
 * hold (docs/operations.md, "When the spool cannot be written"): a spool
 * fault on M-Lab is usually short (a full disk the uploader is draining, a
 * remount), and a record is the only product of a test, so keeping it a
 * little longer costs less than losing it. Held files are bounded
 * (HOLD_MAX_BYTES, HOLD_MAX_FILES: 64 MiB is 6 % of M-Lab's 1 GB, and at most
 * the tests that were running when the fault began can be added to it, as
 * new ones are refused); beyond the bound, and at exit, they are counted in
 * netpulse_data_files_total{result="failed"} and logged with the reason.
 * Only SIGKILL loses held files without a word. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/error.h"
#include "server/log.h"
#include "server/server.h"

#define HOLD_MAX_BYTES (64u << 20)
#define HOLD_MAX_FILES 4096u
#define PROBE_MS 2000

struct np_spool_item {
  struct np_spool_item *next;
  np_server *srv;
  int64_t wall_ns;
  uint8_t *data; /* held bytes, as they will be written */
  size_t len;
  size_t raw_queued; /* counted in srv->gzip_queued while the gzip job runs */
  char datatype[32];
  char name[256];
  char label[96];
};

/* Errors of the spool rather than of the file: worth holding it for. */
static int spool_fault_errno(int rc) {
  switch (-rc) {
  case ENOSPC:
  case EDQUOT:
  case EROFS:
  case EIO:
  case EACCES:
  case EPERM:
  case ENOENT:
  case ENOTDIR:
  case EMFILE:
  case ENFILE:
  case ENOMEM:
  case EAGAIN:
    return 1;
  default:
    return 0;
  }
}

/* Disk usage of a file just written, as the spool scan counts it. */
static uint64_t disk_bytes(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

static void lost(np_server *s, struct np_spool_item *it, int err, const char *why) {
  np_metrics_file(s, it->datatype, 0);
  np_log(NP_LOG_ERROR, "data file not written", "%s file=%s err=\"%s\" reason=%s", it->label,
         it->name, np_strerror(err), why);
  free(it->data);
  free(it);
  s->pending_writes--;
}

static void hold_stats(np_server *s) {
  np_prom_set(s->m.spool_held, (double)s->held_files);
  np_prom_set(s->m.spool_writable, s->spool_fault ? 0 : 1);
}

static void submit(struct np_spool_item *it, int gzip);
static void on_retry(uv_timer_t *t);

/* Writes everything held, oldest first (each may come back). */
static void flush_held(np_server *s) {
  struct np_spool_item *it = s->held_head;
  s->held_head = s->held_tail = NULL;
  s->held_files = s->held_bytes = 0;
  hold_stats(s);
  while (it) {
    struct np_spool_item *next = it->next;
    it->next = NULL;
    submit(it, 0);
    it = next;
  }
}

static void set_fault(np_server *s, int err) {
  if (s->spool_fault) return;
  s->spool_fault = err;
  s->spool_fault_since_ms = np_mono_ns() / 1000000;
  np_log(NP_LOG_ERROR, "spool unwritable: refusing new tests, holding files",
         "datadir=%s err=\"%s\"", s->cfg.datadir, np_strerror(err));
  hold_stats(s);
  (void)uv_timer_start(&s->spool_retry, on_retry, PROBE_MS, PROBE_MS);
}

static void clear_fault(np_server *s) {
  if (!s->spool_fault) return;
  uint64_t ms = np_mono_ns() / 1000000 - s->spool_fault_since_ms;
  np_log(NP_LOG_INFO, "spool writable again", "after_ms=%llu held=%llu", (unsigned long long)ms,
         (unsigned long long)s->held_files);
  s->spool_fault = 0;
  (void)uv_timer_stop(&s->spool_retry);
  flush_held(s);
  hold_stats(s);
}

/* Keeps it for later: at the tail, or back at the head (front) when it was
 * the oldest, tried again and refused again. */
static void hold(np_server *s, struct np_spool_item *it, int err, int front) {
  if (s->held_files >= HOLD_MAX_FILES || s->held_bytes + it->len > HOLD_MAX_BYTES) {
    lost(s, it, err, "spool_unwritable_hold_full");
    return;
  }
  it->next = NULL;
  if (front) {
    it->next = s->held_head;
    s->held_head = it;
    if (!s->held_tail) s->held_tail = it;
  } else {
    if (s->held_tail)
      s->held_tail->next = it;
    else
      s->held_head = it;
    s->held_tail = it;
  }
  s->held_files++;
  s->held_bytes += it->len;
  hold_stats(s);
  np_log(NP_LOG_WARN, "data file held until the spool can be written", "%s file=%s err=\"%s\"",
         it->label, it->name, np_strerror(err));
}

static void on_written(void *ud, np_spool_result *res) {
  struct np_spool_item *it = ud;
  np_server *s = it->srv;
  int was_retry = s->spool_retrying == it;
  if (was_retry) s->spool_retrying = NULL;
  s->gzip_queued -= it->raw_queued;
  it->raw_queued = 0;
  if (res->status >= 0) {
    free(res->data);
    np_metrics_file(s, it->datatype, 1);
    np_server_spool_added(s, disk_bytes(res->path));
    np_log(NP_LOG_INFO, "data file written", "%s path=%s", it->label, res->path);
    free(it);
    s->pending_writes--;
    clear_fault(s);
  } else if (res->data && spool_fault_errno(res->status)) {
    it->data = res->data;
    it->len = res->len;
    set_fault(s, res->status);
    hold(s, it, res->status, was_retry);
  } else {
    free(res->data);
    lost(s, it, res->status, "write_failed");
  }
  np_server_maybe_exit(s);
}

static void submit(struct np_spool_item *it, int gzip) {
  np_server *s = it->srv;
  uint8_t *data = it->data;
  it->data = NULL; /* the spool owns it now, and gives it back on failure */
  int rc = gzip ? np_spool_write_async_gzip(s->loop, s->spool, it->datatype, it->wall_ns, it->name,
                                            data, it->len, on_written, it)
                : np_spool_write_async(s->loop, s->spool, it->datatype, it->wall_ns, it->name, data,
                                       it->len, on_written, it);
  if (rc < 0) {
    s->gzip_queued -= it->raw_queued;
    lost(s, it, rc, "queue_failed");
  }
}

/* ---- probing while unwritable -------------------------------------------- */

static void probe_work(uv_work_t *w) {
  np_server *s = w->data;
  s->probe_result = np_spool_probe(s->spool, "ndt7", np_wall_ns());
}

static void probe_done(uv_work_t *w, int status) {
  np_server *s = w->data;
  s->probing = 0;
  int rc = status < 0 ? status : s->probe_result;
  np_server_spool_health(s, rc);
}

static void on_retry(uv_timer_t *t) {
  np_server *s = t->data;
  if (!s->spool_fault || s->probing || s->spool_retrying) return;
  struct np_spool_item *it = s->held_head;
  if (it) {
    /* The oldest held file is the probe: if it goes, the rest follow. */
    s->held_head = it->next;
    if (!s->held_head) s->held_tail = NULL;
    s->held_files--;
    s->held_bytes -= it->len;
    hold_stats(s);
    s->spool_retrying = it;
    submit(it, 0);
    return;
  }
  s->probing = 1;
  s->probe_req.data = s;
  if (uv_queue_work(s->loop, &s->probe_req, probe_work, probe_done) < 0) s->probing = 0;
}

void np_server_spool_health(np_server *s, int probe_rc) {
  if (probe_rc >= 0) {
    clear_fault(s);
  } else if (spool_fault_errno(probe_rc)) {
    set_fault(s, probe_rc);
  }
}

/* ---- the hand-off -------------------------------------------------------- */

void np_server_spool_put(np_server *s, const np_server_file *f) {
  struct np_spool_item *it = calloc(1, sizeof *it);
  if (!it || strlen(f->datatype) >= sizeof it->datatype || strlen(f->name) >= sizeof it->name) {
    np_metrics_file(s, f->datatype, 0);
    np_log(NP_LOG_ERROR, "data file not written", "%s err=\"%s\"", f->label,
           np_strerror(it ? NP_E_BADARG : -ENOMEM));
    free(f->data);
    free(it);
    s->gzip_queued -= f->raw_queued;
    return;
  }
  it->srv = s;
  it->wall_ns = f->wall_ns;
  it->data = f->data;
  it->len = f->len;
  it->raw_queued = f->raw_queued;
  memcpy(it->datatype, f->datatype, strlen(f->datatype) + 1);
  memcpy(it->name, f->name, strlen(f->name) + 1);
  (void)snprintf(it->label, sizeof it->label, "%s", f->label);
  s->pending_writes++;
  if (s->spool_fault && !f->gzip) {
    /* The spool is known bad: wait with the others rather than fail. */
    hold(s, it, s->spool_fault, 0);
    return;
  }
  submit(it, f->gzip);
}

void np_server_spool_setup(np_server *s) {
  (void)uv_timer_init(s->loop, &s->spool_retry);
  s->spool_retry.data = s;
  uv_unref((uv_handle_t *)&s->spool_retry);
  hold_stats(s);
}

void np_server_spool_abandon(np_server *s) {
  struct np_spool_item *it = s->held_head;
  s->held_head = s->held_tail = NULL;
  while (it) {
    struct np_spool_item *next = it->next;
    lost(s, it, s->spool_fault ? s->spool_fault : -EIO, "exit_with_spool_unwritable");
    it = next;
  }
  s->held_files = s->held_bytes = 0;
}
