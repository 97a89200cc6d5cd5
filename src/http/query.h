/* URL query strings: splitting, percent-decoding, and the client metadata
 * allow-list. No I/O; every size capped. */
#ifndef NP_HTTP_QUERY_H
#define NP_HTTP_QUERY_H

#include <stddef.h>

#include "core/slice.h"

#define NP_QUERY_MAX_PAIRS 32
#define NP_QUERY_MAX_BYTES 4096 /* raw query length cap */

typedef struct {
  const char *key;   /* decoded, NUL-terminated, points into storage */
  const char *value; /* decoded, NUL-terminated ("" when no '=') */
} np_query_pair;

/* Decoded pairs in order; owns its storage (no heap). */
typedef struct {
  size_t npairs;
  np_query_pair pairs[NP_QUERY_MAX_PAIRS];
  char storage[NP_QUERY_MAX_BYTES + NP_QUERY_MAX_PAIRS * 2];
} np_query;

/* Parses a raw query (no leading '?'). '+' decodes to space; %XX escapes
 * must be valid hex; decoded NUL bytes are rejected. Pairs split on '&';
 * empty pairs ("a&&b", a trailing '&') are skipped; the first '=' splits key
 * from value. Returns 0, NP_E_TOOBIG (over NP_QUERY_MAX_BYTES or
 * NP_QUERY_MAX_PAIRS), or NP_E_PROTO; ret_q is written only on success. */
int np_query_parse(np_slice raw, np_query *ret_q);

/* Value of the first pair named key, NULL if absent. */
const char *np_query_get(const np_query *q, const char *key);

/* Percent-decodes in into out (cap bytes incl. NUL). '+' → ' ' when
 * plus_is_space. Returns decoded length or NP_E_PROTO (bad escape, or a
 * decoded NUL) / NP_E_TOOBIG. */
int np_percent_decode(np_slice in, char *out, size_t cap, int plus_is_space);

/* Percent-encodes s for a query value (unreserved chars kept, everything
 * else %XX in upper case, space as %20). Returns the length or NP_E_TOOBIG
 * if out (cap incl. NUL) is too small (out untouched then). */
int np_percent_encode(const char *s, char *out, size_t cap);

/* Client metadata: the allow-listed query keys kept in the data. */
#define NP_META_MAX_ITEMS 16
#define NP_META_MAX_VALUE 64 /* bytes; longer values are dropped whole */

typedef struct {
  char name[32];
  char value[NP_META_MAX_VALUE + 1];
} np_meta_item;

/* Why a query parameter was not kept (counted, never stored). */
typedef enum {
  NP_META_DROP_NONE = -1,
  NP_META_DROP_UNKNOWN_KEY = 0, /* not allow-listed (access_token is not counted) */
  NP_META_DROP_BAD_VALUE,       /* empty, or a byte outside [A-Za-z0-9._+-/:] */
  NP_META_DROP_TOO_LONG,        /* over NP_META_MAX_VALUE bytes */
  NP_META_DROP_DUPLICATE,       /* the key came before (or the item cap is reached) */
  NP_META_DROP_N
} np_meta_drop;

typedef struct {
  size_t n;
  np_meta_item items[NP_META_MAX_ITEMS];
  unsigned dropped[NP_META_DROP_N]; /* parameters not kept, by reason */
} np_meta;

/* The reason's metric label ("unknown_key", "bad_value", "too_long",
 * "duplicate"); NULL for anything else. */
const char *np_meta_drop_name(np_meta_drop reason);

/* Keeps only keys in the fixed allow-list (client_name, client_version,
 * client_library_name, client_library_version, client_os, client_arch)
 * plus those in extra_keys (NULL-terminated, may be NULL; keys of 32 bytes
 * or more are unknown). Never keeps access_token, even if listed in
 * extra_keys. A value is a token: 1..NP_META_MAX_VALUE bytes of letters,
 * digits and "._+-/:" after percent-decoding; any other value is dropped
 * whole, never cut or cleaned. Duplicate keys: the first occurrence
 * decides, even when its value was dropped. Items keep query order; at most
 * NP_META_MAX_ITEMS. Every parameter not kept (but access_token) is counted
 * in ret_meta->dropped. Always succeeds. */
void np_meta_from_query(const np_query *q, const char *const *extra_keys, np_meta *ret_meta);

#endif
