/* The record checker: a compiled BigQuery schema walked beside the record. */
#include "data/record_schema.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

enum { T_INTEGER, T_FLOAT, T_BOOLEAN, T_STRING, T_TIMESTAMP, T_RECORD };
enum { M_NULLABLE, M_REQUIRED, M_REPEATED };

typedef struct node {
  char *name;
  int type;
  int mode;
  struct node *kids;
  size_t nkids;
} node;

struct np_schema {
  char datatype[32];
  node root; /* a RECORD holding the top-level fields */
};

/* Units in range, by the suffix of a field's name (the schemas name units
 * that way: LatencyMs, ThroughputMbps, RetransPct). Wide bounds: they catch
 * a wrong unit or sign, not an unusual network. */
static const struct {
  const char *suffix;
  double min, max;
} suffix_rules[] = {
    {"Port", 0, 65535}, /* a TCP port */
    {"Ms", 0, 864e5},   /* milliseconds: at most a day */
    {"Mbps", 0, 1e7},   /* Mbit/s: at most 10 Tbit/s */
    {"Pct", 0, 100},    /* a percentage */
};

/* The same by exact name, wherever the field sits. */
static const struct {
  const char *name;
  double min, max;
} name_rules[] = {
    {"SchemaVersion", 1, 1e6},  {"NumBytes", 0, 9.3e18},
    {"ElapsedTime", 0, 9.3e18}, {"RTT", 0, 864e8},
    {"MinRTT", 0, 864e8},       {"RPM", 0, 1e9},
    {"RPMForeign", 0, 1e9},     {"RPMLoaded", 0, 1e9},
    {"BytesAcked", 0, 9.3e18},  {"BytesReceived", 0, 9.3e18},
    {"BytesSent", 0, 9.3e18},   {"BytesRetrans", 0, 9.3e18},
};

const char *np_schema_rule_name(size_t i) {
  return i < sizeof name_rules / sizeof name_rules[0] ? name_rules[i].name : NULL;
}

/* Required beyond the schema (whose fields are all NULLABLE or REPEATED).
 * ndt7 also needs exactly one of Download and Upload, with its UUID and
 * StartTime ("<Test>" below). */
static const char *const ndt7_required[] = {"StartTime", "EndTime", "<Test>.UUID",
                                            "<Test>.StartTime", NULL};
static const char *const rpm_required[] = {"SchemaVersion", "MeasurementID", "StartTime", "EndTime",
                                           NULL};

const char *const *np_schema_required(const char *datatype) {
  if (strcmp(datatype, "ndt7") == 0) return ndt7_required;
  if (strcmp(datatype, "responsiveness1") == 0) return rpm_required;
  return NULL;
}

static void node_free(node *n) {
  for (size_t i = 0; i < n->nkids; i++) node_free(&n->kids[i]);
  free(n->kids);
  free(n->name);
}

void np_schema_free(np_schema *s) {
  if (!s) return;
  node_free(&s->root);
  free(s);
}

static int type_of(const char *t) {
  static const char *const names[] = {"INTEGER", "FLOAT",     "BOOLEAN",
                                      "STRING",  "TIMESTAMP", "RECORD"};
  for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
    if (strcmp(t, names[i]) == 0) return i;
  if (strcmp(t, "STRUCT") == 0) return T_RECORD;
  if (strcmp(t, "INT64") == 0) return T_INTEGER;
  if (strcmp(t, "FLOAT64") == 0) return T_FLOAT;
  return -1;
}

static int compile_fields(const json_t *fields, node *parent, int depth) {
  if (!json_is_array(fields) || depth > 16) return NP_E_JSON;
  size_t n = json_array_size(fields);
  parent->kids = calloc(n ? n : 1, sizeof(node));
  if (!parent->kids) return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    const json_t *f = json_array_get(fields, i);
    const char *name = json_string_value(json_object_get(f, "name"));
    const char *type = json_string_value(json_object_get(f, "type"));
    const char *mode = json_string_value(json_object_get(f, "mode"));
    node *k = &parent->kids[parent->nkids];
    if (!name || !type || (k->type = type_of(type)) < 0) return NP_E_JSON;
    k->mode = !mode || strcmp(mode, "NULLABLE") == 0 ? M_NULLABLE
              : strcmp(mode, "REQUIRED") == 0        ? M_REQUIRED
              : strcmp(mode, "REPEATED") == 0        ? M_REPEATED
                                                     : -1;
    if (k->mode < 0 || !(k->name = strdup(name))) return k->mode < 0 ? NP_E_JSON : -ENOMEM;
    parent->nkids++;
    if (k->type == T_RECORD) {
      int rc = compile_fields(json_object_get(f, "fields"), k, depth + 1);
      if (rc < 0) return rc;
    }
  }
  return 0;
}

int np_schema_compile(const char *datatype, const char *text, size_t len, np_schema **ret) {
  np_schema *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  snprintf(s->datatype, sizeof s->datatype, "%s", datatype);
  s->root.type = T_RECORD;
  json_t *j = json_loadb(text, len, 0, NULL);
  int rc = j ? compile_fields(j, &s->root, 0) : NP_E_JSON;
  json_decref(j);
  if (rc < 0) {
    np_schema_free(s);
    return rc;
  }
  *ret = s;
  return 0;
}

int np_schema_embedded(const char *datatype, np_schema **ret) {
  char want[48];
  snprintf(want, sizeof want, "%s.json", datatype);
  for (size_t i = 0; i < np_schema_files_count; i++)
    if (strcmp(np_schema_files[i].name, want) == 0)
      return np_schema_compile(datatype, (const char *)np_schema_files[i].data,
                               np_schema_files[i].len, ret);
  return NP_E_BADARG;
}

static const node *kid(const node *n, const char *name) {
  for (size_t i = 0; i < n->nkids; i++)
    if (strcmp(n->kids[i].name, name) == 0) return &n->kids[i];
  return NULL;
}

int np_schema_has(const np_schema *s, const char *path) {
  const node *n = &s->root;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *save = NULL, *p = strtok_r(buf, ".", &save); p; p = strtok_r(NULL, ".", &save))
    if (!(n = kid(n, p))) return 0;
  return 1;
}

/* ---- checking --------------------------------------------------------- */

typedef struct {
  char *why;
  size_t cap;
  char path[512];
} ctx;

static int fail(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(ctx *c, const char *fmt, ...) {
  int n = snprintf(c->why, c->cap, "$%s: ", c->path);
  va_list ap;
  va_start(ap, fmt);
  if (n >= 0 && (size_t)n < c->cap) vsnprintf(c->why + n, c->cap - (size_t)n, fmt, ap);
  va_end(ap);
  return NP_E_JSON;
}

/* RFC 3339 as the schemas' TIMESTAMP pattern has it. */
static int timestamp_ok(const char *s) {
  static const char shape[] = "dddd-dd-ddTdd:dd:dd";
  size_t i = 0;
  for (; shape[i]; i++)
    if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i]) return 0;
  if (s[i] == '.') {
    size_t d = 0;
    while (s[i + 1 + d] >= '0' && s[i + 1 + d] <= '9') d++;
    if (d < 1 || d > 9) return 0;
    i += 1 + d;
  }
  if (s[i] == 'Z') return s[i + 1] == '\0';
  if (s[i] != '+' && s[i] != '-') return 0;
  const char *z = s + i + 1;
  return z[0] >= '0' && z[0] <= '9' && z[1] >= '0' && z[1] <= '9' && z[2] == ':' && z[3] >= '0' &&
         z[3] <= '9' && z[4] >= '0' && z[4] <= '9' && z[5] == '\0';
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n > k && strcmp(s + n - k, suffix) == 0;
}

static int range_ok(ctx *c, const char *name, double v) {
  for (size_t i = 0; i < sizeof name_rules / sizeof name_rules[0]; i++)
    if (strcmp(name, name_rules[i].name) == 0 &&
        !(v >= name_rules[i].min && v <= name_rules[i].max))
      return fail(c, "%.17g is out of range [%g, %g]", v, name_rules[i].min, name_rules[i].max);
  for (size_t i = 0; i < sizeof suffix_rules / sizeof suffix_rules[0]; i++)
    if (ends_with(name, suffix_rules[i].suffix) &&
        !(v >= suffix_rules[i].min && v <= suffix_rules[i].max))
      return fail(c, "%.17g is out of range [%g, %g] for a *%s field", v, suffix_rules[i].min,
                  suffix_rules[i].max, suffix_rules[i].suffix);
  return 0;
}

static int check_record(ctx *c, const node *n, const json_t *obj, int depth);

static int check_scalar(ctx *c, const node *f, const json_t *v, int depth) {
  switch (f->type) {
  case T_INTEGER:
    if (!json_is_integer(v)) return fail(c, "not an integer");
    return range_ok(c, f->name, (double)json_integer_value(v));
  case T_FLOAT:
    if (!json_is_number(v)) return fail(c, "not a number");
    return range_ok(c, f->name, json_number_value(v));
  case T_BOOLEAN:
    return json_is_boolean(v) ? 0 : fail(c, "not a boolean");
  case T_STRING:
    return json_is_string(v) ? 0 : fail(c, "not a string");
  case T_TIMESTAMP:
    return json_is_string(v) && timestamp_ok(json_string_value(v))
               ? 0
               : fail(c, "not an RFC 3339 time");
  default:
    return check_record(c, f, v, depth + 1);
  }
}

static int check_record(ctx *c, const node *n, const json_t *obj, int depth) {
  if (!json_is_object(obj)) return fail(c, "not an object");
  if (depth > 16) return fail(c, "nested too deep");
  size_t plen = strlen(c->path);
  const char *key;
  const json_t *v;
  int rc = 0;
  json_object_foreach((json_t *)obj, key, v) {
    snprintf(c->path + plen, sizeof c->path - plen, ".%s", key);
    const node *f = kid(n, key);
    if (!f)
      rc = fail(c, "not in the schema");
    else if (json_is_null(v))
      rc = f->mode == M_REQUIRED ? fail(c, "null in a REQUIRED field") : 0;
    else if (f->mode == M_REPEATED) {
      if (!json_is_array(v)) rc = fail(c, "REPEATED but not an array");
      size_t i;
      const json_t *item;
      size_t alen = strlen(c->path);
      json_array_foreach(v, i, item) {
        if (rc < 0) break;
        snprintf(c->path + alen, sizeof c->path - alen, "[%zu]", i);
        rc = check_scalar(c, f, item, depth);
      }
    } else
      rc = check_scalar(c, f, v, depth);
    if (rc < 0) return rc;
  }
  for (size_t i = 0; i < n->nkids; i++) {
    if (n->kids[i].mode != M_REQUIRED) continue;
    snprintf(c->path + plen, sizeof c->path - plen, ".%s", n->kids[i].name);
    if (!json_object_get(obj, n->kids[i].name)) return fail(c, "REQUIRED field missing");
  }
  c->path[plen] = '\0';
  return 0;
}

static int check_required(ctx *c, const np_schema *s, const json_t *rec) {
  const char *const *req = np_schema_required(s->datatype);
  const char *test = NULL;
  if (strcmp(s->datatype, "ndt7") == 0) {
    int d = json_object_get(rec, "Download") != NULL, u = json_object_get(rec, "Upload") != NULL;
    snprintf(c->path, sizeof c->path, "%s", "");
    if (d == u)
      return fail(c, "needs exactly one of Download and Upload, has %s", d ? "both" : "neither");
    test = d ? "Download" : "Upload";
  }
  for (; req && *req; req++) {
    char path[128];
    const char *p = *req;
    if (strncmp(p, "<Test>", 6) == 0) {
      snprintf(path, sizeof path, "%s%s", test ? test : "", p + 6);
      p = path;
    }
    const json_t *v = rec;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", p);
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
      v = json_object_get(v, k);
    snprintf(c->path, sizeof c->path, ".%s", p);
    if (!v || json_is_null(v)) return fail(c, "required, missing");
  }
  return 0;
}

int np_schema_check(const np_schema *s, const json_t *rec, char *why, size_t cap) {
  ctx c = {why, cap, ""};
  if (cap) why[0] = '\0';
  int rc = check_record(&c, &s->root, rec, 0);
  if (rc == 0) rc = check_required(&c, s, rec);
  return rc;
}
