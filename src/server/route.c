/* Route lookup: exact paths before prefixes, longest prefix first. */
#include "server/route.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"

int np_routes_add(np_routes *t, const char *method, const char *path, int prefix, np_route_fn fn) {
  if (t->n >= NP_ROUTES_MAX) return NP_E_TOOBIG;
  t->r[t->n++] = (np_route){method, path, prefix, fn};
  return 0;
}

static int path_matches(const np_route *r, np_slice path) {
  size_t n = strlen(r->path);
  if (!r->prefix) return np_slice_eq(path, np_slice_make(r->path, n));
  return path.len >= n && memcmp(path.ptr, r->path, n) == 0;
}

const np_route *np_routes_find(const np_routes *t, np_slice method, np_slice path,
                               int *ret_status) {
  const np_route *best = NULL;
  size_t best_len = 0;
  int path_seen = 0;
  /* Two passes: exact routes, then prefixes by length. A path with an
   * exact route never falls through to a prefix (a wrong method is 405). */
  for (int pass = 0; pass < 2 && !best && !path_seen; pass++) {
    for (size_t i = 0; i < t->n; i++) {
      const np_route *r = &t->r[i];
      if (r->prefix != pass || !path_matches(r, path)) continue;
      path_seen = 1;
      if (r->method && !np_slice_eq(method, np_slice_cstr(r->method))) continue;
      size_t n = strlen(r->path);
      if (!best || n > best_len) {
        best = r;
        best_len = n;
      }
    }
  }
  if (!best) *ret_status = path_seen ? 405 : 404;
  return best;
}

void np_routes_allow(const np_routes *t, np_slice path, char *out, size_t cap) {
  size_t len = 0;
  if (cap) out[0] = '\0';
  /* Exact routes only: a path with one never reaches a prefix route. */
  for (size_t i = 0; i < t->n; i++) {
    const np_route *r = &t->r[i];
    if (r->prefix || !r->method || !path_matches(r, path)) continue;
    if (cap && strstr(out, r->method)) continue;
    int w = snprintf(out + len, cap - len, "%s%s", len ? ", " : "", r->method);
    if (w < 0 || (size_t)w >= cap - len) break;
    len += (size_t)w;
  }
}
