/* responsiveness1 files: the record's JSON on one line, named from server
 * values only. */
#include "data/rpm_record.h"

#include <errno.h>
#include <stdio.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/version.h"
#include "data/server_summary.h"

int np_rpm_record_line(const np_rpm_record *r, np_buf *out) {
  json_t *j = np_rpm_record_json(r, NP_GIT_COMMIT, "netpulse-" NP_VERSION);
  if (!j) return -ENOMEM;
  /* The server's own figures; a record without them (out of memory) is
   * still the record. */
  np_srv_summary ss;
  json_t *sj = np_srv_summary_rpm(r, &ss) == 0 ? np_srv_summary_rpm_json(&ss) : NULL;
  if (sj) (void)json_object_set_new(j, "ServerSummary", sj);
  /* Compact output escapes control characters, so the line has no other
   * newline than the last. */
  size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT);
  int rc = n ? np_buf_reserve(out, n + 1) : NP_E_JSON;
  if (rc == 0) {
    out->len += json_dumpb(j, (char *)out->data + out->len, n, JSON_COMPACT);
    out->data[out->len++] = '\n';
  }
  json_decref(j);
  return rc;
}

int np_rpm_record_name(const np_rpm_record *r, char *out, size_t cap) {
  char stamp[40];
  int rc = np_format_filestamp(r->start_wall_ns, stamp, sizeof stamp);
  if (rc < 0) return rc;
  int w = snprintf(out, cap, NP_RPM_DATATYPE "-%s.%016llx.json", stamp, (unsigned long long)r->id);
  return (w < 0 || (size_t)w >= cap) ? -ENOSPC : w;
}
