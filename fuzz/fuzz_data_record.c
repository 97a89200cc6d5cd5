/* Fuzzes netpulse-data's record readers: a file's content (gzip or not) is
 * split into documents by the skimmer, each turned into table rows and
 * checked against the embedded schemas; the skimmer's extents are held to
 * jansson's verdict on the same bytes. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "data/gzip.h"
#include "data/json_skim.h"
#include "data/record_row.h"
#include "data/record_schema.h"

#define CHECK(x)                                                                                   \
  do {                                                                                             \
    if (!(x)) abort();                                                                             \
  } while (0)

static np_schema *schemas[2];

static void check_rows(const char *s, size_t len, np_skim_span doc) {
  np_record_rows rows;
  int rc = np_record_rows_of(s, len, doc, &rows);
  CHECK(rc == 0 || rows.n == 0);
  CHECK(rows.n <= NP_RECORD_MAX_ROWS);
  for (size_t i = 0; i < rows.n; i++) {
    const np_row *r = &rows.rows[i];
    CHECK(r->test != NULL);
    CHECK(memchr(r->start_time, '\0', sizeof r->start_time) != NULL);
    CHECK(memchr(r->id, '\0', sizeof r->id) != NULL);
    CHECK(memchr(r->client_ip, '\0', sizeof r->client_ip) != NULL);
    for (int c = 0; c < NP_NCOLS; c++)
      if (r->has & (1u << c)) CHECK(r->v[c] >= 0 && r->v[c] <= 1e9);
  }
}

static void check_doc(const char *s, size_t len, np_skim_span doc) {
  CHECK(doc.start < doc.end && doc.end <= len);
  check_rows(s, len, doc);
  json_t *j = json_loadb(s + doc.start, doc.end - doc.start, JSON_REJECT_DUPLICATES, NULL);
  if (!j) return;
  np_skim_span rec;
  const char *dt = np_record_datatype(s, len, doc, &rec);
  if (dt && schemas[0] && schemas[1]) {
    char why[256];
    json_t *raw = json_object_get(j, "raw");
    const json_t *r = json_is_object(raw) && rec.start != doc.start ? raw : j;
    int rc = np_schema_check(schemas[strcmp(dt, "ndt7") == 0 ? 0 : 1], r, why, sizeof why);
    CHECK(rc == 0 || why[0] == '$');
  }
  json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!schemas[0]) {
    (void)np_schema_embedded("ndt7", &schemas[0]);
    (void)np_schema_embedded("responsiveness1", &schemas[1]);
  }
  np_buf plain;
  np_buf_init(&plain, (size_t)1 << 20);
  const char *s = (const char *)data;
  size_t len = size;
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
    if (np_gunzip(data, size, &plain) < 0) goto out;
    s = plain.data ? (const char *)plain.data : "";
    len = plain.len;
  }
  /* jansson's verdict on the whole input as one object: the skimmer must
   * find that object, ending at the same byte. */
  json_error_t err;
  json_t *whole = json_loadb(s, len, 0, &err);
  size_t pos = 0, docs = 0;
  np_skim_span first = {0, 0};
  for (;;) {
    pos = np_skim_ws(s, len, pos);
    if (pos >= len) break;
    np_skim_span sp;
    if (np_skim_value(s, len, pos, &sp) < 0 || s[pos] != '{') break;
    if (docs++ == 0) first = sp;
    check_doc(s, len, sp);
    pos = sp.end;
  }
  if (json_is_object(whole)) {
    CHECK(docs == 1);
    CHECK(np_skim_ws(s, len, first.end) == len);
  }
  json_decref(whole);
out:
  np_buf_free(&plain);
  return 0;
}
