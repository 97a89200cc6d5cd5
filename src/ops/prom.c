/* Prometheus registry: families, bounded label series, text exposition 0.0.4. */
#include "ops/prom.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } kind;

struct np_prom_series {
  np_prom_family *fam;
  char **values; /* nlabels strings, stored after the struct */
  double value;
  np_prom_value_fn fn;
  void *fn_arg;
  uint64_t *buckets; /* nbounds + 1 non-cumulative counts; last is +Inf */
  double sum;
  uint64_t count;
};

struct np_prom_family {
  np_prom_registry *reg;
  kind kind;
  char *name;
  char *help;
  size_t nlabels;
  char *labels[NP_PROM_MAX_LABELS];
  double *bounds;
  size_t nbounds;
  np_prom_series *series[NP_PROM_MAX_SERIES];
  size_t nseries;
};

struct np_prom_registry {
  np_prom_family *fams[NP_PROM_MAX_FAMILIES];
  size_t nfams;
  np_prom_series *dropped; /* the registry's own counter */
};

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

static int is_alpha_(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int valid_metric_name(const char *s) {
  if (!s || !*s || !(is_alpha_(*s) || *s == ':')) return 0;
  for (const char *p = s + 1; *p; p++)
    if (!(is_alpha_(*p) || is_digit(*p) || *p == ':')) return 0;
  return strlen(s) <= 200;
}

static int valid_label_name(const char *s) {
  if (!s || !*s || !is_alpha_(*s)) return 0;
  if (s[0] == '_' && s[1] == '_') return 0; /* reserved for Prometheus */
  for (const char *p = s + 1; *p; p++)
    if (!(is_alpha_(*p) || is_digit(*p))) return 0;
  return strlen(s) <= 100;
}

static void series_free(np_prom_series *s) { free(s); }

static void family_free(np_prom_family *f) {
  if (!f) return;
  for (size_t i = 0; i < f->nseries; i++) series_free(f->series[i]);
  for (size_t i = 0; i < f->nlabels; i++) free(f->labels[i]);
  free(f->bounds);
  free(f->name);
  free(f->help);
  free(f);
}

void np_prom_free(np_prom_registry *reg) {
  if (!reg) return;
  for (size_t i = 0; i < reg->nfams; i++) family_free(reg->fams[i]);
  free(reg);
}

/* One allocation per series: struct, value pointers, buckets, value bytes. */
static np_prom_series *series_new(np_prom_family *f, const char *const *values) {
  size_t nb = f->kind == KIND_HISTOGRAM ? f->nbounds + 1 : 0;
  size_t text = 0;
  for (size_t i = 0; i < f->nlabels; i++) text += strlen(values[i]) + 1;
  size_t sz = sizeof(np_prom_series) + f->nlabels * sizeof(char *) + nb * sizeof(uint64_t) + text;
  np_prom_series *s = calloc(1, sz);
  if (!s) return NULL;
  uint8_t *p = (uint8_t *)(s + 1);
  s->fam = f;
  s->values = (char **)p;
  p += f->nlabels * sizeof(char *);
  s->buckets = nb ? (uint64_t *)p : NULL;
  p += nb * sizeof(uint64_t);
  for (size_t i = 0; i < f->nlabels; i++) {
    size_t n = strlen(values[i]) + 1;
    memcpy(p, values[i], n);
    s->values[i] = (char *)p;
    p += n;
  }
  return s;
}

static np_prom_family *family_new(np_prom_registry *reg, kind k, const char *name, const char *help,
                                  size_t nlabels, const char *const *label_names,
                                  const double *bounds, size_t nbounds) {
  if (!reg || !valid_metric_name(name) || !help) return NULL;
  if (nlabels > NP_PROM_MAX_LABELS || (nlabels && !label_names)) return NULL;
  if (reg->nfams >= NP_PROM_MAX_FAMILIES) return NULL;
  for (size_t i = 0; i < reg->nfams; i++)
    if (strcmp(reg->fams[i]->name, name) == 0) return NULL;
  for (size_t i = 0; i < nlabels; i++) {
    if (!valid_label_name(label_names[i])) return NULL;
    if (k == KIND_HISTOGRAM && strcmp(label_names[i], "le") == 0) return NULL;
    for (size_t j = 0; j < i; j++)
      if (strcmp(label_names[i], label_names[j]) == 0) return NULL;
  }
  if (k == KIND_HISTOGRAM) {
    if (nbounds && !bounds) return NULL;
    if (nbounds && isinf(bounds[nbounds - 1]) && bounds[nbounds - 1] > 0)
      nbounds--; /* the +Inf bucket is implicit */
    if (nbounds > NP_PROM_MAX_BUCKETS) return NULL;
    for (size_t i = 0; i < nbounds; i++) {
      if (!isfinite(bounds[i])) return NULL;
      if (i && !(bounds[i] > bounds[i - 1])) return NULL;
    }
  }
  np_prom_family *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  f->reg = reg;
  f->kind = k;
  f->name = dup_str(name);
  f->help = dup_str(help);
  if (!f->name || !f->help) goto fail;
  for (size_t i = 0; i < nlabels; i++) {
    f->labels[i] = dup_str(label_names[i]);
    if (!f->labels[i]) goto fail;
    f->nlabels = i + 1;
  }
  if (k == KIND_HISTOGRAM && nbounds) {
    f->bounds = malloc(nbounds * sizeof(double));
    if (!f->bounds) goto fail;
    memcpy(f->bounds, bounds, nbounds * sizeof(double));
  }
  f->nbounds = k == KIND_HISTOGRAM ? nbounds : 0;
  if (nlabels == 0) {
    f->series[0] = series_new(f, NULL);
    if (!f->series[0]) goto fail;
    f->nseries = 1;
  }
  reg->fams[reg->nfams++] = f;
  return f;
fail:
  family_free(f);
  return NULL;
}

np_prom_registry *np_prom_new(void) {
  np_prom_registry *reg = calloc(1, sizeof *reg);
  if (!reg) return NULL;
  np_prom_family *f = family_new(reg, KIND_COUNTER, NP_PROM_DROPPED_NAME,
                                 "Metric label combinations dropped because a family reached its "
                                 "series cap or a label value was invalid.",
                                 0, NULL, NULL, 0);
  if (!f) {
    np_prom_free(reg);
    return NULL;
  }
  reg->dropped = f->series[0];
  return reg;
}

np_prom_family *np_prom_counter(np_prom_registry *reg, const char *name, const char *help,
                                size_t nlabels, const char *const *label_names) {
  return family_new(reg, KIND_COUNTER, name, help, nlabels, label_names, NULL, 0);
}

np_prom_family *np_prom_gauge(np_prom_registry *reg, const char *name, const char *help,
                              size_t nlabels, const char *const *label_names) {
  return family_new(reg, KIND_GAUGE, name, help, nlabels, label_names, NULL, 0);
}

np_prom_family *np_prom_histogram(np_prom_registry *reg, const char *name, const char *help,
                                  size_t nlabels, const char *const *label_names,
                                  const double *bounds, size_t nbounds) {
  return family_new(reg, KIND_HISTOGRAM, name, help, nlabels, label_names, bounds, nbounds);
}

/* Label values end up in a UTF-8 text format; refuse anything that is not
 * well-formed UTF-8 rather than emit an exposition scrapers reject. */
static int valid_utf8(const unsigned char *p) {
  while (*p) {
    unsigned c = *p;
    size_t n;
    unsigned min;
    if (c < 0x80) {
      p++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, min = 0x80, c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, min = 0x800, c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, min = 0x10000, c &= 0x07;
    } else {
      return 0;
    }
    for (size_t i = 1; i <= n; i++) {
      if ((p[i] & 0xC0) != 0x80) return 0;
      c = (c << 6) | (p[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    p += n + 1;
  }
  return 1;
}

static np_prom_series *drop(np_prom_family *f) {
  f->reg->dropped->value += 1;
  return NULL;
}

np_prom_series *np_prom_with(np_prom_family *f, const char *const *label_values) {
  if (!f) return NULL;
  if (f->nlabels == 0) return f->series[0];
  if (!label_values) return drop(f);
  for (size_t i = 0; i < f->nlabels; i++) {
    if (!label_values[i]) return drop(f);
    if (strnlen(label_values[i], NP_PROM_MAX_VALUE_LEN + 1) > NP_PROM_MAX_VALUE_LEN) return drop(f);
    if (!valid_utf8((const unsigned char *)label_values[i])) return drop(f);
  }
  for (size_t i = 0; i < f->nseries; i++) {
    np_prom_series *s = f->series[i];
    size_t j = 0;
    while (j < f->nlabels && strcmp(s->values[j], label_values[j]) == 0) j++;
    if (j == f->nlabels) return s;
  }
  if (f->nseries >= NP_PROM_MAX_SERIES) return drop(f);
  np_prom_series *s = series_new(f, label_values);
  if (!s) return drop(f);
  f->series[f->nseries++] = s;
  return s;
}

void np_prom_inc(np_prom_series *s, double v) {
  if (!s || isnan(v)) return;
  switch (s->fam->kind) {
  case KIND_COUNTER:
    if (v >= 0) s->value += v;
    break;
  case KIND_GAUGE:
    s->value += v;
    break;
  case KIND_HISTOGRAM:
    break;
  }
}

void np_prom_set(np_prom_series *s, double v) {
  if (!s || s->fam->kind == KIND_HISTOGRAM) return;
  if (s->fam->kind == KIND_COUNTER && (isnan(v) || v < 0)) return;
  s->value = v;
}

void np_prom_observe(np_prom_series *s, double v) {
  if (!s || s->fam->kind != KIND_HISTOGRAM || isnan(v)) return;
  const np_prom_family *f = s->fam;
  size_t i = 0;
  while (i < f->nbounds && v > f->bounds[i]) i++;
  s->buckets[i]++;
  s->sum += v;
  s->count++;
}

void np_prom_set_fn(np_prom_series *s, np_prom_value_fn fn, void *arg) {
  if (!s || s->fam->kind == KIND_HISTOGRAM) return;
  s->fn = fn;
  s->fn_arg = arg;
}

double np_prom_value(const np_prom_series *s) { return s ? s->value : 0; }

uint64_t np_prom_dropped(const np_prom_registry *reg) {
  return reg ? (uint64_t)reg->dropped->value : 0;
}

int np_prom_format_value(double v, char *out, size_t n) {
  int w;
  if (isnan(v)) {
    w = snprintf(out, n, "NaN");
  } else if (isinf(v)) {
    w = snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
  } else if (v == floor(v) && fabs(v) < 9007199254740992.0) {
    /* Exactly representable integer: print it whole, never 1e+06. */
    w = snprintf(out, n, "%.0f", v == 0 ? 0.0 : v);
  } else {
    /* Shortest of %.15g..%.17g that reads back as the same double. */
    w = -1;
    for (int prec = 15; prec <= 17; prec++) {
      w = snprintf(out, n, "%.*g", prec, v);
      if (w < 0 || (size_t)w >= n) break;
      if (strtod(out, NULL) == v) break;
    }
  }
  if (w < 0 || (size_t)w >= n) return NP_E_TOOBIG;
  return w;
}

static int put(np_buf *out, const char *s, size_t n) { return np_buf_append(out, s, n); }

static int puts_(np_buf *out, const char *s) { return put(out, s, strlen(s)); }

static int put_value(np_buf *out, double v) {
  char tmp[40];
  int w = np_prom_format_value(v, tmp, sizeof tmp);
  if (w < 0) return w;
  return put(out, tmp, (size_t)w);
}

/* HELP text escapes backslash and newline; label values also escape '"'. */
static int put_escaped(np_buf *out, const char *s, int quote) {
  const char *run = s;
  int rc = 0;
  for (const char *p = s; *p && rc == 0; p++) {
    const char *rep = NULL;
    if (*p == '\\')
      rep = "\\\\";
    else if (*p == '\n')
      rep = "\\n";
    else if (quote && *p == '"')
      rep = "\\\"";
    if (!rep) continue;
    rc = put(out, run, (size_t)(p - run));
    if (rc == 0) rc = puts_(out, rep);
    run = p + 1;
  }
  if (rc == 0) rc = puts_(out, run);
  return rc;
}

/* name{labels[,le="x"]} value\n */
static int put_sample(np_buf *out, const np_prom_series *s, const char *suffix, const char *le,
                      double v) {
  const np_prom_family *f = s->fam;
  int rc = puts_(out, f->name);
  if (rc == 0 && suffix) rc = puts_(out, suffix);
  if (rc == 0 && (f->nlabels || le)) rc = puts_(out, "{");
  for (size_t i = 0; rc == 0 && i < f->nlabels; i++) {
    if (i) rc = puts_(out, ",");
    if (rc == 0) rc = puts_(out, f->labels[i]);
    if (rc == 0) rc = puts_(out, "=\"");
    if (rc == 0) rc = put_escaped(out, s->values[i], 1);
    if (rc == 0) rc = puts_(out, "\"");
  }
  if (rc == 0 && le) {
    rc = puts_(out, f->nlabels ? ",le=\"" : "le=\"");
    if (rc == 0) rc = puts_(out, le);
    if (rc == 0) rc = puts_(out, "\"");
  }
  if (rc == 0 && (f->nlabels || le)) rc = puts_(out, "}");
  if (rc == 0) rc = puts_(out, " ");
  if (rc == 0) rc = put_value(out, v);
  if (rc == 0) rc = puts_(out, "\n");
  return rc;
}

static int put_histogram(np_buf *out, const np_prom_series *s) {
  const np_prom_family *f = s->fam;
  uint64_t cum = 0;
  int rc = 0;
  char le[40];
  for (size_t i = 0; rc == 0 && i <= f->nbounds; i++) {
    cum += s->buckets[i];
    if (i < f->nbounds) {
      int w = np_prom_format_value(f->bounds[i], le, sizeof le);
      if (w < 0) return w;
    } else {
      memcpy(le, "+Inf", 5);
    }
    rc = put_sample(out, s, "_bucket", le, (double)cum);
  }
  if (rc == 0) rc = put_sample(out, s, "_sum", NULL, s->sum);
  if (rc == 0) rc = put_sample(out, s, "_count", NULL, (double)s->count);
  return rc;
}

static const char *kind_name(kind k) {
  switch (k) {
  case KIND_COUNTER:
    return "counter";
  case KIND_GAUGE:
    return "gauge";
  case KIND_HISTOGRAM:
    return "histogram";
  }
  return "untyped";
}

int np_prom_write(const np_prom_registry *reg, np_buf *out) {
  if (!reg || !out) return NP_E_BADARG;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < reg->nfams; i++) {
    const np_prom_family *f = reg->fams[i];
    rc = puts_(out, "# HELP ");
    if (rc == 0) rc = puts_(out, f->name);
    if (rc == 0) rc = puts_(out, " ");
    if (rc == 0) rc = put_escaped(out, f->help, 0);
    if (rc == 0) rc = puts_(out, "\n# TYPE ");
    if (rc == 0) rc = puts_(out, f->name);
    if (rc == 0) rc = puts_(out, " ");
    if (rc == 0) rc = puts_(out, kind_name(f->kind));
    if (rc == 0) rc = puts_(out, "\n");
    for (size_t j = 0; rc == 0 && j < f->nseries; j++) {
      const np_prom_series *s = f->series[j];
      if (f->kind == KIND_HISTOGRAM) {
        rc = put_histogram(out, s);
      } else {
        double v = s->fn ? s->fn(s->fn_arg) : s->value;
        rc = put_sample(out, s, NULL, NULL, v);
      }
    }
  }
  return rc;
}
