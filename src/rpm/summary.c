/* Client summaries: a fixed table of members and their types; the table is
 * what docs/data.md and the schema describe. */
#include "rpm/summary.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "core/error.h"

typedef enum { NUM, INT, WORD } kind;

typedef struct {
  const char *name;
  kind k;
  const char *const *words; /* WORD: NULL-terminated allowed values */
} member;

static const char *const confidence[] = {"Low", "Medium", "High", NULL};
static const char *const direction[] = {"download", "upload", "parallel", "sequential", NULL};
static const char *const variant[] = {"draft-09", "browser", NULL};
static const char *const protocol[] = {"h2", "h2c", "h1", NULL};
static const char *const ended_by[] = {"budget", "server", NULL};
static const char *const basis[] = {"http-body", NULL};

/* Members of one direction's result (and of the overall one). */
static const member result_members[] = {
    {"RPM", NUM, NULL},
    {"RPMForeign", NUM, NULL},
    {"RPMLoaded", NUM, NULL},
    {"Confidence", WORD, confidence},
    {"LoadedLatencyMs", NUM, NULL},
    {"ThroughputMbps", NUM, NULL},
    {"ThroughputBasis", WORD, basis},
    {"Flows", INT, NULL},
    {"DurationMs", NUM, NULL},
    {"ProbesForeign", INT, NULL},
    {"ProbesSelf", INT, NULL},
    {"TrimmedTCPMs", NUM, NULL},
    {"TrimmedTLSMs", NUM, NULL},
    {"TrimmedHTTPForeignMs", NUM, NULL},
    {"TrimmedHTTPSelfMs", NUM, NULL},
    {"GoodputStable", INT, NULL},
    {"ResponsivenessStable", INT, NULL},
    {"LoadEndedBy", WORD, ended_by},
    {"LoadEndedAfterMs", NUM, NULL},
    {"LoadEndedMB", NUM, NULL},
    {NULL, NUM, NULL},
};

static const member idle_members[] = {
    {"LatencyMs", NUM, NULL}, {"Probes", INT, NULL}, {"DurationMs", NUM, NULL}, {NULL, NUM, NULL}};

static const member param_members[] = {
    {"IntervalMs", NUM, NULL}, {"MAD", INT, NULL},           {"TMP", NUM, NULL},
    {"SDT", NUM, NULL},        {"MPS", NUM, NULL},           {"PTC", NUM, NULL},
    {"MaxFlows", INT, NULL},   {"MaxDurationMs", NUM, NULL}, {NULL, NUM, NULL}};

static const member top_members[] = {{"SchemaVersion", INT, NULL},
                                     {"Variant", WORD, variant},
                                     {"Direction", WORD, direction},
                                     {"Protocol", WORD, protocol},
                                     {"RPM", NUM, NULL},
                                     {"Confidence", WORD, confidence},
                                     {NULL, NUM, NULL}};

static const struct {
  const char *name;
  const member *members;
} groups[] = {{"Download", result_members},
              {"Upload", result_members},
              {"Parallel", result_members},
              {"Idle", idle_members},
              {"Parameters", param_members}};

static const member *find(const member *t, const char *name) {
  for (; t->name; t++)
    if (strcmp(t->name, name) == 0) return t;
  return NULL;
}

/* A copy of v if it fits m's type, else NULL. */
static json_t *typed(const member *m, json_t *v) {
  if (m->k == WORD) {
    if (!json_is_string(v)) return NULL;
    for (const char *const *w = m->words; *w; w++)
      if (strcmp(*w, json_string_value(v)) == 0) return json_string(*w);
    return NULL;
  }
  if (!json_is_number(v)) return NULL;
  double d = json_number_value(v);
  if (!isfinite(d) || d < 0 || d > 1e12) return NULL;
  if (m->k == INT) return json_is_integer(v) ? json_integer(json_integer_value(v)) : NULL;
  return json_is_integer(v) ? json_integer(json_integer_value(v)) : json_real(d);
}

/* Copies the allowed members of in into out; counts the rest. */
static int copy_members(const member *t, json_t *in, json_t *out, uint32_t *dropped) {
  const char *k;
  json_t *v;
  json_object_foreach(in, k, v) {
    const member *m = find(t, k);
    json_t *c = m ? typed(m, v) : NULL;
    if (!c) {
      (*dropped)++;
      continue;
    }
    if (json_object_set_new(out, m->name, c) != 0) return -ENOMEM;
  }
  return 0;
}

int np_rpm_summary_clean(const uint8_t *body, size_t len, json_t **ret, uint32_t *ret_dropped) {
  if (len > NP_RPM_SUMMARY_MAX_BYTES) return NP_E_TOOBIG;
  json_error_t err;
  json_t *in = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &err);
  if (!in || !json_is_object(in)) {
    json_decref(in);
    return NP_E_JSON;
  }
  json_t *out = json_object();
  uint32_t dropped = 0;
  int rc = out ? 0 : -ENOMEM;
  const char *k;
  json_t *v;
  json_object_foreach(in, k, v) {
    if (rc < 0) break;
    const member *m = find(top_members, k);
    if (m) {
      json_t *c = typed(m, v);
      if (c)
        rc = json_object_set_new(out, m->name, c) == 0 ? 0 : -ENOMEM;
      else
        dropped++;
      continue;
    }
    size_t g = 0;
    while (g < sizeof groups / sizeof groups[0] && strcmp(groups[g].name, k) != 0) g++;
    if (g == sizeof groups / sizeof groups[0] || !json_is_object(v)) {
      dropped++;
      continue;
    }
    json_t *sub = json_object();
    rc = sub ? copy_members(groups[g].members, v, sub, &dropped) : -ENOMEM;
    if (rc < 0) {
      json_decref(sub);
      break;
    }
    /* set_new takes the reference even when it fails. */
    if (json_object_set_new(out, groups[g].name, sub) != 0) rc = -ENOMEM;
  }
  json_decref(in);
  if (rc < 0) {
    json_decref(out);
    return rc;
  }
  *ret = out;
  *ret_dropped = dropped;
  return 0;
}
