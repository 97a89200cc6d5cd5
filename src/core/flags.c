/* Flag parsing for both programs: argv first, then NETPULSE_<FLAG>. */
#include "core/flags.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int np_parse_bool(const char *s, int *ret) {
  static const char *const yes[] = {"1", "true", "yes", "on"};
  static const char *const no[] = {"0", "false", "no", "off"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(s, yes[i]) == 0) return (*ret = 1), 0;
    if (strcasecmp(s, no[i]) == 0) return (*ret = 0), 0;
  }
  return NP_E_BADARG;
}

int np_parse_size(const char *s, long long *ret) {
  if (!s || !*s) return NP_E_BADARG;
  errno = 0;
  char *end = NULL;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s) return NP_E_BADARG;
  long long mul = 1;
  if (*end) {
    static const char *const suf[] = {"k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti"};
    static const long long m[] = {1000LL, 1000000LL, 1000000000LL, 1000000000000LL,
                                  1024LL, 1048576LL, 1073741824LL, 1099511627776LL};
    size_t i;
    for (i = 0; i < 8; i++)
      if (strcmp(end, suf[i]) == 0) break;
    if (i == 8) return NP_E_BADARG;
    mul = m[i];
  }
  if (v != 0 && (v > LLONG_MAX / mul || v < LLONG_MIN / mul)) return NP_E_BADARG;
  *ret = v * mul;
  return 0;
}

static void env_name(const char *prefix, const char *flag, char *out, size_t cap) {
  size_t k = 0;
  for (const char *p = prefix; *p && k + 1 < cap; p++) out[k++] = *p;
  for (const char *p = flag; *p && k + 1 < cap; p++)
    out[k++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
  out[k] = 0;
}

static int set_value(const np_flag *f, const char *v, const char *src, char *err, size_t errcap) {
  switch (f->type) {
  case NP_FLAG_STRING:
    *(const char **)f->target = v;
    return 0;
  case NP_FLAG_BOOL: {
    int b;
    if (np_parse_bool(v, &b) < 0) break;
    *(int *)f->target = b;
    return 0;
  }
  case NP_FLAG_INT: {
    long long x;
    if (np_parse_size(v, &x) < 0 || x < f->min || x > f->max) {
      (void)snprintf(err, errcap, "invalid value \"%s\" for %s: want an integer in [%lld, %lld]", v,
                     src, f->min, f->max);
      return NP_E_BADARG;
    }
    *(long long *)f->target = x;
    return 0;
  }
  case NP_FLAG_LIST: {
    np_flag_list *l = f->target;
    if (l->n >= NP_FLAG_LIST_MAX) {
      (void)snprintf(err, errcap, "too many values for %s (at most %d)", src, NP_FLAG_LIST_MAX);
      return NP_E_BADARG;
    }
    l->items[l->n++] = v;
    return 0;
  }
  }
  (void)snprintf(err, errcap, "invalid value \"%s\" for %s", v, src);
  return NP_E_BADARG;
}

static const np_flag *find_long(const np_flag *flags, size_t n, const char *name, size_t len) {
  for (size_t i = 0; i < n; i++)
    if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0) return &flags[i];
  return NULL;
}

int np_flags_parse(const np_flag *flags, size_t n, int argc, char **argv, const char *env_prefix,
                   int *ret_first_arg, char *err, size_t errcap) {
  unsigned char seen[256] = {0};
  if (n > sizeof seen) return NP_E_BADARG;
  /* Defaults come from the table, so --help can never disagree with them. */
  for (size_t k = 0; k < n; k++) {
    const np_flag *f = &flags[k];
    if (!f->def || f->type == NP_FLAG_LIST) continue;
    if (!*f->def && f->type != NP_FLAG_STRING) continue;
    char src[80];
    (void)snprintf(src, sizeof src, "the default of --%s", f->name);
    int rc = set_value(f, f->def, src, err, errcap);
    if (rc < 0) return rc;
  }
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) return 1;
    if (a[0] != '-' || a[1] == 0) break;
    const np_flag *f = NULL;
    const char *val = NULL;
    char src[80];
    if (a[1] == '-') {
      const char *name = a + 2;
      const char *eq = strchr(name, '=');
      size_t len = eq ? (size_t)(eq - name) : strlen(name);
      f = find_long(flags, n, name, len);
      if (eq) val = eq + 1;
      (void)snprintf(src, sizeof src, "--%.*s", (int)len, name);
    } else if (a[2] == 0) {
      for (size_t k = 0; k < n; k++)
        if (flags[k].short_name == a[1]) f = &flags[k];
      (void)snprintf(src, sizeof src, "-%c", a[1]);
    }
    if (!f) {
      (void)snprintf(err, errcap, "unknown flag %s (see --help)", a);
      return NP_E_BADARG;
    }
    if (!val) {
      if (f->type == NP_FLAG_BOOL) {
        val = "true";
      } else {
        if (i + 1 >= argc) {
          (void)snprintf(err, errcap, "flag %s needs a value", src);
          return NP_E_BADARG;
        }
        val = argv[++i];
      }
    }
    int rc = set_value(f, val, src, err, errcap);
    if (rc < 0) return rc;
    seen[f - flags] = 1;
  }
  if (ret_first_arg) *ret_first_arg = i;
  for (size_t k = 0; env_prefix && k < n; k++) {
    if (seen[k] || flags[k].no_env) continue;
    char name[96];
    env_name(env_prefix, flags[k].name, name, sizeof name);
    const char *v = getenv(name);
    if (!v) continue;
    if (flags[k].type == NP_FLAG_LIST) {
      /* Comma-separated in the environment; the list owns the split copy. */
      np_flag_list *l = flags[k].target;
      l->n = 0;
      free(l->owned);
      char *copy = l->owned = strdup(v);
      if (!copy) return -ENOMEM;
      char *save = NULL;
      for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int rc = set_value(&flags[k], t, name, err, errcap);
        if (rc < 0) return rc;
      }
      continue;
    }
    int rc = set_value(&flags[k], v, name, err, errcap);
    if (rc < 0) return rc;
  }
  return 0;
}

void np_flag_list_free(np_flag_list *l) {
  if (!l) return;
  free(l->owned);
  l->owned = NULL;
  l->n = 0;
}

void np_flags_usage(FILE *f, const np_flag *flags, size_t n, const char *env_prefix) {
  for (size_t i = 0; i < n; i++) {
    const np_flag *x = &flags[i];
    char left[64];
    if (x->short_name)
      (void)snprintf(left, sizeof left, "-%c, --%s%s%s", x->short_name, x->name,
                     x->metavar ? " " : "", x->metavar ? x->metavar : "");
    else
      (void)snprintf(left, sizeof left, "    --%s%s%s", x->name, x->metavar ? " " : "",
                     x->metavar ? x->metavar : "");
    fprintf(f, "  %-34s %s", left, x->help);
    if (x->def && *x->def) fprintf(f, " (default: %s)", x->def);
    if (env_prefix && !x->no_env) {
      char name[96];
      env_name(env_prefix, x->name, name, sizeof name);
      fprintf(f, " [$%s]", name);
    }
    fputc('\n', f);
  }
}
