/* Byte views: a pointer and a length into memory someone else owns. */
#ifndef NP_CORE_SLICE_H
#define NP_CORE_SLICE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
  const uint8_t *ptr;
  size_t len;
} np_slice;

static inline np_slice np_slice_make(const void *p, size_t n) {
  np_slice s = {(const uint8_t *)p, n};
  return s;
}

static inline np_slice np_slice_cstr(const char *s) { return np_slice_make(s, strlen(s)); }

/* Exact byte equality. */
static inline int np_slice_eq(np_slice a, np_slice b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* ASCII case-insensitive equality (HTTP tokens). */
int np_slice_ieq(np_slice a, np_slice b);

/* Whether the comma-separated token list in s contains tok, ASCII
 * case-insensitive, ignoring optional whitespace around elements. */
int np_slice_list_has(np_slice s, np_slice tok);

#endif
