/* URL query strings: pair splitting, percent coding, and the allow-list that
 * decides which client metadata is ever stored. */
#include "http/query.h"

#include <string.h>

#include "core/error.h"

static int hexval(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes in into out[0..cap) (NUL-terminated) and returns the length.
 * Decoded NUL bytes are refused because every consumer treats the result as
 * a C string and a hidden NUL would let two different values compare
 * equal. */
int np_percent_decode(np_slice in, char *out, size_t cap, int plus_is_space) {
  size_t n = 0;
  for (size_t i = 0; i < in.len; i++) {
    uint8_t c = in.ptr[i];
    if (c == '%') {
      if (in.len - i < 3) return NP_E_PROTO;
      int hi = hexval(in.ptr[i + 1]), lo = hexval(in.ptr[i + 2]);
      if (hi < 0 || lo < 0) return NP_E_PROTO;
      c = (uint8_t)(hi << 4 | lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == 0) return NP_E_PROTO;
    if (n + 1 >= cap) return NP_E_TOOBIG;
    out[n++] = (char)c;
  }
  if (cap == 0) return NP_E_TOOBIG;
  out[n] = '\0';
  return (int)n;
}

static int is_unreserved(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int np_percent_encode(const char *s, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t need = 0;
  for (const uint8_t *p = (const uint8_t *)s; *p; p++) need += is_unreserved(*p) ? 1 : 3;
  if (need + 1 > cap || need > (size_t)INT32_MAX) return NP_E_TOOBIG;
  size_t n = 0;
  for (const uint8_t *p = (const uint8_t *)s; *p; p++) {
    if (is_unreserved(*p)) {
      out[n++] = (char)*p;
    } else {
      out[n++] = '%';
      out[n++] = hex[*p >> 4];
      out[n++] = hex[*p & 15];
    }
  }
  out[n] = '\0';
  return (int)n;
}

int np_query_parse(np_slice raw, np_query *ret_q) {
  if (raw.len > NP_QUERY_MAX_BYTES) return NP_E_TOOBIG;
  np_query q;
  q.npairs = 0;
  size_t used = 0;
  size_t i = 0;
  while (i < raw.len) {
    size_t start = i;
    while (i < raw.len && raw.ptr[i] != '&') i++;
    size_t end = i++;
    if (end == start) continue; /* "a=1&&b=2", a trailing '&' */
    if (q.npairs == NP_QUERY_MAX_PAIRS) return NP_E_TOOBIG;
    const uint8_t *eq = memchr(raw.ptr + start, '=', end - start);
    size_t kend = eq ? (size_t)(eq - raw.ptr) : end;

    char *key = q.storage + used;
    int klen = np_percent_decode(np_slice_make(raw.ptr + start, kend - start), key,
                                 sizeof q.storage - used, 1);
    if (klen < 0) return klen;
    used += (size_t)klen + 1;
    const char *value = key + klen; /* its NUL: "" when there is no '=' */
    if (eq) {
      char *v = q.storage + used;
      int vlen =
          np_percent_decode(np_slice_make(eq + 1, end - kend - 1), v, sizeof q.storage - used, 1);
      if (vlen < 0) return vlen;
      used += (size_t)vlen + 1;
      value = v;
    }
    q.pairs[q.npairs].key = key;
    q.pairs[q.npairs].value = value;
    q.npairs++;
  }
  /* The pairs point into q.storage: rebase them onto the caller's copy. */
  ret_q->npairs = q.npairs;
  memcpy(ret_q->storage, q.storage, used);
  for (size_t k = 0; k < q.npairs; k++) {
    ret_q->pairs[k].key = ret_q->storage + (q.pairs[k].key - q.storage);
    ret_q->pairs[k].value = ret_q->storage + (q.pairs[k].value - q.storage);
  }
  return 0;
}

const char *np_query_get(const np_query *q, const char *key) {
  for (size_t i = 0; i < q->npairs; i++)
    if (strcmp(q->pairs[i].key, key) == 0) return q->pairs[i].value;
  return NULL;
}

/* A metadata value is a token, not text: what client names, versions,
 * operating systems and architectures look like ("ndt7-js", "1.2.3+git",
 * "linux/amd64"), so nothing personal can ride along. */
static int meta_char_ok(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '+' || c == '-' || c == '/' || c == ':';
}

/* NP_META_DROP_NONE when value may be stored as is, else why not. */
static np_meta_drop meta_value_check(const char *value) {
  size_t n = strlen(value);
  if (n > NP_META_MAX_VALUE) return NP_META_DROP_TOO_LONG;
  if (n == 0) return NP_META_DROP_BAD_VALUE;
  for (size_t i = 0; i < n; i++)
    if (!meta_char_ok(value[i])) return NP_META_DROP_BAD_VALUE;
  return NP_META_DROP_NONE;
}

static const char *const meta_allowed[] = {
    "client_name",
    "client_version",
    "client_library_name",
    "client_library_version",
    "client_os",
    "client_arch",
    NULL,
};

static int in_list(const char *const *list, const char *key) {
  for (size_t i = 0; list && list[i]; i++)
    if (strcmp(list[i], key) == 0) return 1;
  return 0;
}

const char *np_meta_drop_name(np_meta_drop reason) {
  switch (reason) {
  case NP_META_DROP_UNKNOWN_KEY:
    return "unknown_key";
  case NP_META_DROP_BAD_VALUE:
    return "bad_value";
  case NP_META_DROP_TOO_LONG:
    return "too_long";
  case NP_META_DROP_DUPLICATE:
    return "duplicate";
  default:
    return NULL;
  }
}

void np_meta_from_query(const np_query *q, const char *const *extra_keys, np_meta *ret_meta) {
  memset(ret_meta, 0, sizeof *ret_meta);
  for (size_t i = 0; i < q->npairs; i++) {
    const char *key = q->pairs[i].key;
    /* The token is a credential: never kept, whatever extra_keys says, and
     * not counted as a drop (every M-Lab client sends one). */
    if (strcmp(key, "access_token") == 0) continue;
    size_t klen = strlen(key);
    if ((!in_list(meta_allowed, key) && !in_list(extra_keys, key)) ||
        klen >= sizeof ret_meta->items[0].name) {
      ret_meta->dropped[NP_META_DROP_UNKNOWN_KEY]++;
      continue;
    }
    /* First occurrence decides, even when its value is dropped, so that a
     * later duplicate cannot replace a refused value. */
    int dup = 0;
    for (size_t k = 0; k < i && !dup; k++) dup = strcmp(q->pairs[k].key, key) == 0;
    np_meta_drop why = dup ? NP_META_DROP_DUPLICATE : meta_value_check(q->pairs[i].value);
    if (why == NP_META_DROP_NONE && ret_meta->n == NP_META_MAX_ITEMS) why = NP_META_DROP_DUPLICATE;
    if (why != NP_META_DROP_NONE) {
      ret_meta->dropped[why]++;
      continue;
    }
    np_meta_item *it = &ret_meta->items[ret_meta->n++];
    memcpy(it->name, key, klen + 1);
    memcpy(it->value, q->pairs[i].value, strlen(q->pairs[i].value) + 1);
  }
}
