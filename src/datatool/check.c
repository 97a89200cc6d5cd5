/* netpulse-data check: every record against its schema and the rules. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/record_schema.h"
#include "datatool/datatool.h"

typedef struct {
  np_schema *ndt7;
  np_schema *rpm;
  unsigned long long bad;
  unsigned long long good;
  int quiet;
  char last_bad[4096]; /* the file already reported (one line per file) */
} check_ctx;

static void report_bad(check_ctx *c, const char *label, const char *why) {
  c->bad++;
  printf("%s: %s\n", label, why);
}

static void on_bad(void *arg, const char *path, const char *why) {
  check_ctx *c = arg;
  report_bad(c, path, why);
}

/* The datatype a path's spool layout names (<datatype>/YYYY/MM/DD/file). */
static const char *path_datatype(const char *path) {
  const char *found = NULL;
  for (const char *p = path; (p = strstr(p, "ndt7/"));) {
    if (p == path || p[-1] == '/') found = "ndt7";
    p++;
  }
  for (const char *p = path; (p = strstr(p, "responsiveness1/"));) {
    if (p == path || p[-1] == '/') found = "responsiveness1";
    p++;
  }
  return found;
}

static int on_doc(void *arg, const np_dt_doc *d) {
  check_ctx *c = arg;
  char label[4200], why[600];
  /* A bundle with a bad line is reported once, at its first bad line. */
  if (c->last_bad[0] && strcmp(c->last_bad, d->path) == 0) return 0;
  unsigned long long bad_before = c->bad;
  np_dt_file_label(d, label, sizeof label);
  json_error_t err;
  size_t n = d->span.end - d->span.start;
  json_t *doc = json_loadb(d->text + d->span.start, n, JSON_REJECT_DUPLICATES, &err);
  if (!doc) {
    snprintf(why, sizeof why, "not valid JSON: %s (byte %zu)", err.text,
             d->span.start + (size_t)(err.position > 0 ? err.position : 0));
    report_bad(c, label, why);
    snprintf(c->last_bad, sizeof c->last_bad, "%s", d->path);
    return 0;
  }
  np_skim_span rec_span;
  const char *dt = np_record_datatype(d->text, d->len, d->span, &rec_span);
  json_t *rec = doc;
  json_t *raw = json_object_get(doc, "raw");
  if (json_is_object(raw) && rec_span.start != d->span.start) rec = raw;
  const char *want = path_datatype(d->path);
  if (!dt) {
    report_bad(c, label, "not a netpulse record (no MeasurementID, Download or Upload)");
  } else if (want && strcmp(want, dt) != 0) {
    snprintf(why, sizeof why, "a %s record under a %s directory", dt, want);
    report_bad(c, label, why);
  } else if (!d->bundle && d->index > 1) {
    report_bad(c, label, "more than one JSON document in a .json file (bundles are .jsonl)");
  } else if (np_schema_check(strcmp(dt, "ndt7") == 0 ? c->ndt7 : c->rpm, rec, why, sizeof why) <
             0) {
    report_bad(c, label, why);
  } else if (strcmp(dt, "responsiveness1") == 0 && !d->bundle && rec == doc &&
             (d->span.end + 1 != d->len || d->text[d->span.end] != '\n' ||
              memchr(d->text + d->span.start, '\n', n))) {
    /* jostler's input: one object on one line, the file ending there. */
    report_bad(c, label, "not exactly one line of JSON ending in a newline");
  } else {
    c->good++;
  }
  json_decref(doc);
  if (c->bad != bad_before) snprintf(c->last_bad, sizeof c->last_bad, "%s", d->path);
  return ferror(stdout) ? -1 : 0;
}

static int check_opt(void *arg, int argc, char **argv) {
  (void)argc;
  if (strcmp(argv[0], "--quiet") != 0) return 0;
  ((check_ctx *)arg)->quiet = 1;
  return 1;
}

int np_dt_check(int argc, char **argv) {
  check_ctx c = {0};
  np_dt_walk_opts o = {NP_DT_DEFAULT_MAX_BYTES, on_doc, on_bad, &c, isatty(STDERR_FILENO)};
  int i = np_dt_parse_args("check", argc, argv, &o, check_opt, &c);
  if (i < 0) return NP_DT_USAGE;
  if (np_schema_embedded("ndt7", &c.ndt7) < 0 ||
      np_schema_embedded("responsiveness1", &c.rpm) < 0) {
    fprintf(stderr, "netpulse-data check: the embedded schemas do not compile (a build error)\n");
    np_schema_free(c.ndt7);
    return NP_DT_IO;
  }
  np_dt_stats st = {0};
  int rc = np_dt_walk_run(&o, argv + i, argc - i, &st);
  np_schema_free(c.ndt7);
  np_schema_free(c.rpm);
  if (fflush(stdout) != 0) return NP_DT_IO;
  if (!c.quiet)
    fprintf(stderr, "netpulse-data check: %llu files, %llu records valid, %llu bad\n",
            (unsigned long long)st.files, c.good, c.bad);
  if (rc < 0) return NP_DT_IO;
  if (rc) return rc;
  return c.bad ? NP_DT_BAD_FILES : NP_DT_OK;
}
