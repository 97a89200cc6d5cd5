/* The JSON skimmer: one forward pass per call, no allocation. */
#include "data/json_skim.h"

#include <string.h>

#include "core/error.h"

size_t np_skim_ws(const char *s, size_t len, size_t i) {
  while (i < len && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++;
  return i;
}

/* End (one past the closing quote) of the string starting at s[i] == '"'. */
static int skim_string(const char *s, size_t len, size_t i, size_t *ret_end) {
  for (i++; i < len; i++) {
    const char *q = memchr(s + i, '"', len - i);
    if (!q) return NP_E_JSON;
    size_t at = (size_t)(q - s);
    /* The quote ends the string unless an odd run of backslashes escapes it. */
    size_t bs = 0;
    while (at - bs > i && s[at - bs - 1] == '\\') bs++;
    i = at;
    if (bs % 2 == 0) {
      *ret_end = at + 1;
      return 0;
    }
  }
  return NP_E_JSON;
}

int np_skim_value(const char *s, size_t len, size_t i, np_skim_span *ret) {
  if (!s || i >= len) return NP_E_JSON;
  size_t start = i;
  char c = s[i];
  if (c == '"') {
    size_t end;
    int rc = skim_string(s, len, i, &end);
    if (rc < 0) return rc;
    ret->start = start;
    ret->end = end;
    return 0;
  }
  if (c != '{' && c != '[') {
    /* A number or literal: up to the next structural byte or whitespace. */
    while (i < len && !strchr(",]} \n\r\t:{[\"", s[i])) i++;
    if (i == start) return NP_E_JSON;
    ret->start = start;
    ret->end = i;
    return 0;
  }
  /* Brackets: a stack of the open kinds, so "[}" is refused. */
  char stack[NP_SKIM_MAX_DEPTH];
  size_t depth = 0;
  while (i < len) {
    c = s[i];
    if (c == '"') {
      int rc = skim_string(s, len, i, &i);
      if (rc < 0) return rc;
      continue;
    }
    if (c == '{' || c == '[') {
      if (depth == NP_SKIM_MAX_DEPTH) return NP_E_JSON;
      stack[depth++] = c == '{' ? '}' : ']';
    } else if (c == '}' || c == ']') {
      if (depth == 0 || stack[depth - 1] != c) return NP_E_JSON;
      if (--depth == 0) {
        ret->start = start;
        ret->end = i + 1;
        return 0;
      }
    }
    i++;
  }
  return NP_E_JSON;
}

int np_skim_members(const char *s, size_t len, np_skim_span obj, const char *const *keys, size_t n,
                    np_skim_span *vals, int *found) {
  if (!s || obj.end > len || obj.start >= obj.end || s[obj.start] != '{') return NP_E_JSON;
  size_t left = n;
  for (size_t k = 0; k < n; k++) found[k] = 0;
  size_t end = obj.end - 1; /* the closing brace */
  size_t i = np_skim_ws(s, end, obj.start + 1);
  while (i < end && left > 0) {
    np_skim_span k, v;
    if (s[i] != '"' || np_skim_value(s, end, i, &k) < 0) return NP_E_JSON;
    i = np_skim_ws(s, end, k.end);
    if (i >= end || s[i] != ':') return NP_E_JSON;
    i = np_skim_ws(s, end, i + 1);
    if (np_skim_value(s, end, i, &v) < 0) return NP_E_JSON;
    size_t klen = k.end - k.start - 2;
    for (size_t j = 0; j < n; j++) {
      if (found[j] || strlen(keys[j]) != klen || memcmp(s + k.start + 1, keys[j], klen) != 0)
        continue;
      found[j] = 1;
      vals[j] = v;
      left--;
    }
    i = np_skim_ws(s, end, v.end);
    if (i < end && s[i] == ',')
      i = np_skim_ws(s, end, i + 1);
    else if (i < end)
      return NP_E_JSON;
  }
  return 0;
}

int np_skim_member(const char *s, size_t len, np_skim_span obj, const char *key,
                   np_skim_span *ret) {
  int found;
  int rc = np_skim_members(s, len, obj, &key, 1, ret, &found);
  return rc < 0 ? rc : found;
}

int np_skim_last(const char *s, size_t len, np_skim_span arr, np_skim_span *ret) {
  if (!s || arr.end > len || arr.start >= arr.end || s[arr.start] != '[') return NP_E_JSON;
  size_t end = arr.end - 1;
  size_t i = np_skim_ws(s, end, arr.start + 1);
  int found = 0;
  np_skim_span last = {0, 0};
  while (i < end) {
    np_skim_span v;
    if (np_skim_value(s, end, i, &v) < 0) return NP_E_JSON;
    last = v;
    found = 1;
    i = np_skim_ws(s, end, v.end);
    if (i < end && s[i] == ',')
      i = np_skim_ws(s, end, i + 1);
    else if (i < end)
      return NP_E_JSON;
  }
  if (found) *ret = last;
  return found;
}

int np_skim_string(const char *s, np_skim_span sp, char *out, size_t cap) {
  if (!s || sp.end < sp.start + 2 || s[sp.start] != '"' || s[sp.end - 1] != '"') return NP_E_JSON;
  size_t n = sp.end - sp.start - 2;
  const char *p = s + sp.start + 1;
  for (size_t k = 0; k < n; k++)
    if (p[k] < 0x20 || p[k] > 0x7e || p[k] == '\\') return NP_E_JSON;
  if (n + 1 > cap) return NP_E_TOOBIG;
  memcpy(out, p, n);
  out[n] = '\0';
  return 0;
}
