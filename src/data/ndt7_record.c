/* ndt7 result files in ndt-server's shape, so M-Lab's parser reads them. */
#include "data/ndt7_record.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/version.h"
#include "data/server_summary.h"

int np_ndt7_record_json(const np_ndt7_outcome *o, np_buf *out) {
  char start[48], end[48];
  (void)np_format_rfc3339nano(o->start_wall_ns, start, sizeof start);
  (void)np_format_rfc3339nano(o->end_wall_ns, end, sizeof end);
  json_t *top = json_object();
  if (!top) return -ENOMEM;
  (void)json_object_set_new(top, "GitShortCommit", json_string(NP_GIT_COMMIT));
  (void)json_object_set_new(top, "Version", json_string("netpulse-" NP_VERSION));
  (void)json_object_set_new(top, "ServerIP", json_string(o->server_ip));
  (void)json_object_set_new(top, "ServerPort", json_integer(o->server_port));
  (void)json_object_set_new(top, "ClientIP", json_string(o->client_ip));
  (void)json_object_set_new(top, "ClientPort", json_integer(o->client_port));
  (void)json_object_set_new(top, "StartTime", json_string(start));
  (void)json_object_set_new(top, "EndTime", json_string(end));
  if (o->record) {
    (void)json_object_set(top, o->dir == NP_NDT7_DIR_DOWNLOAD ? "Download" : "Upload", o->record);
    /* Not in ndt-server's files: a key of our own beside theirs. M-Lab's
     * ndt7 parser decodes into ndt-server's Go struct, which skips keys it
     * does not know: the archived file has it, their ndt7 table does not. */
    json_t *ss = np_srv_summary_ndt7_json(o->record, o->dir == NP_NDT7_DIR_UPLOAD);
    if (ss) (void)json_object_set_new(top, "ServerSummary", ss);
  }
  size_t n = json_dumpb(top, NULL, 0, JSON_COMPACT);
  int rc = n ? np_buf_reserve(out, n) : NP_E_JSON;
  if (rc == 0) {
    out->len += json_dumpb(top, (char *)out->data + out->len, n, JSON_COMPACT);
  }
  json_decref(top);
  return rc;
}

int np_ndt7_record_name(const np_ndt7_outcome *o, char *out, size_t cap) {
  char stamp[40];
  int rc = np_format_filestamp(o->start_wall_ns, stamp, sizeof stamp);
  if (rc < 0) return rc;
  char uuid[sizeof o->uuid];
  size_t i;
  for (i = 0; o->uuid[i] && i + 1 < sizeof uuid; i++) {
    char c = o->uuid[i];
    int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-' || c == '.' || c == ':';
    uuid[i] = ok ? c : '-';
  }
  uuid[i] = 0;
  int w = snprintf(out, cap, "ndt7-%s-%s.%s.json.gz",
                   o->dir == NP_NDT7_DIR_DOWNLOAD ? "download" : "upload", stamp, uuid);
  return (w < 0 || (size_t)w >= cap) ? -ENOSPC : w;
}
