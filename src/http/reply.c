/* HTTP/1.1 encoding of a protocol-neutral reply. */
#include "http/reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "http/response.h"

void np_http_reply_free(np_http_reply *r) {
  if (!r) return;
  free(r->owned);
  memset(r, 0, sizeof *r);
}

int np_http_reply_add(np_http_reply *r, const char *name, const char *value) {
  if (r->nfields >= NP_HTTP_REPLY_MAX_FIELDS) return NP_E_TOOBIG;
  r->fields[r->nfields++] = (np_http_field){name, value};
  return 0;
}

/* One "name: value" line per field, built in lines[] (the writer checks
 * names and values). */
#define LINE_MAX_BYTES 512

int np_http_reply_write(np_buf *out, const np_http_reply *r, int keep_alive) {
  char lines[NP_HTTP_REPLY_MAX_FIELDS + 1][LINE_MAX_BYTES];
  const char *hdrs[NP_HTTP_REPLY_MAX_FIELDS + 2];
  size_t n = 0;
  for (size_t i = 0; i < r->nfields; i++) {
    int k = snprintf(lines[i], sizeof lines[i], "%s: %s", r->fields[i].name, r->fields[i].value);
    if (k < 0 || (size_t)k >= sizeof lines[i]) return NP_E_BADARG;
    hdrs[n++] = lines[i];
  }
  if (!keep_alive) hdrs[n++] = "Connection: close";
  hdrs[n] = NULL;
  size_t mark = out->len;
  int rc = np_http_write_head(out, r->status, hdrs, (int64_t)r->body.len);
  if (rc == 0 && !r->head_only && r->body.len) rc = np_buf_append(out, r->body.ptr, r->body.len);
  if (rc < 0) out->len = mark;
  return rc;
}
