/* Fuzzes query parsing, percent coding and the metadata allow-list, checking
 * caps, round trips, and that access_token is never kept. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "http/query.h"

#define CHECK(x)                                                                                   \
  do {                                                                                             \
    if (!(x)) abort();                                                                             \
  } while (0)

static const char *const allowed[] = {"client_name",         "client_version",
                                      "client_library_name", "client_library_version",
                                      "client_os",           "client_arch"};
static const char *const extra[] = {"early_exit", "access_token", "x", NULL};

/* Independent check: 1..64 bytes of [A-Za-z0-9._+-/:]. */
static int token_ok(const char *s) {
  static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-/:";
  size_t n = strlen(s);
  if (n < 1 || n > 64) return 0;
  for (size_t i = 0; i < n; i++)
    if (!strchr(ok, s[i])) return 0;
  return 1;
}

static int known(const char *name) {
  for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
    if (strcmp(name, allowed[i]) == 0) return 1;
  return strcmp(name, "early_exit") == 0 || strcmp(name, "x") == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static np_query q;
  static char enc[3 * NP_QUERY_MAX_BYTES + 1], dec[NP_QUERY_MAX_BYTES + 1];
  if (size > 2 * NP_QUERY_MAX_BYTES) return 0;
  int rc = np_query_parse(np_slice_make(data, size), &q);
  CHECK(rc == 0 || rc == NP_E_PROTO || rc == NP_E_TOOBIG);
  if (size > NP_QUERY_MAX_BYTES) CHECK(rc == NP_E_TOOBIG);

  /* Raw decoding with a small output: the cap holds. */
  size_t cap = size ? data[0] % 64 : 0;
  char small[64];
  int drc = np_percent_decode(np_slice_make(data, size), small, cap, 1);
  CHECK(drc == NP_E_PROTO || drc == NP_E_TOOBIG || (drc >= 0 && (size_t)drc < cap));
  if (drc >= 0) CHECK(small[drc] == '\0' && strlen(small) == (size_t)drc);

  if (rc != 0) return 0;
  CHECK(q.npairs <= NP_QUERY_MAX_PAIRS);
  const char *end = q.storage + sizeof q.storage;
  for (size_t i = 0; i < q.npairs; i++) {
    const char *k = q.pairs[i].key, *v = q.pairs[i].value;
    CHECK(k >= q.storage && k < end && v >= q.storage && v < end);
    CHECK(memchr(k, '\0', (size_t)(end - k)) && memchr(v, '\0', (size_t)(end - v)));
    /* get returns the first pair with that key */
    size_t first = 0;
    while (strcmp(q.pairs[first].key, k) != 0) first++;
    CHECK(np_query_get(&q, k) == q.pairs[first].value);
    /* encode/decode round trip */
    int en = np_percent_encode(v, enc, sizeof enc);
    CHECK(en >= 0);
    int de = np_percent_decode(np_slice_make(enc, (size_t)en), dec, sizeof dec, 1);
    CHECK(de >= 0 && strcmp(dec, v) == 0);
  }

  np_meta m;
  int use_extra = size && (data[0] & 1);
  np_meta_from_query(&q, use_extra ? extra : NULL, &m);
  CHECK(m.n <= NP_META_MAX_ITEMS);
  for (size_t i = 0; i < m.n; i++) {
    const np_meta_item *it = &m.items[i];
    CHECK(memchr(it->name, '\0', sizeof it->name) && memchr(it->value, '\0', sizeof it->value));
    CHECK(strcmp(it->name, "access_token") != 0);
    CHECK(known(it->name));
    if (!use_extra) CHECK(strcmp(it->name, "early_exit") != 0 && strcmp(it->name, "x") != 0);
    CHECK(token_ok(it->value));
    for (size_t j = 0; j < i; j++) CHECK(strcmp(m.items[j].name, it->name) != 0);
    /* the kept value is the first occurrence's value, whole */
    const char *orig = np_query_get(&q, it->name);
    CHECK(orig && strcmp(orig, it->value) == 0);
  }
  /* Every pair is kept or counted once; the token is neither. */
  size_t dropped = 0, tokens = 0;
  for (int r = 0; r < NP_META_DROP_N; r++) dropped += m.dropped[r];
  for (size_t i = 0; i < q.npairs; i++) tokens += strcmp(q.pairs[i].key, "access_token") == 0;
  CHECK(m.n + dropped + tokens == q.npairs);
  /* A known key whose first value is a token is kept. */
  for (size_t i = 0; i < q.npairs; i++) {
    const char *k = q.pairs[i].key;
    if (np_query_get(&q, k) != q.pairs[i].value || !known(k) || !token_ok(q.pairs[i].value))
      continue;
    if (!use_extra && (strcmp(k, "early_exit") == 0 || strcmp(k, "x") == 0)) continue;
    int found = 0;
    for (size_t j = 0; j < m.n; j++) found |= strcmp(m.items[j].name, k) == 0;
    CHECK(found || m.n == NP_META_MAX_ITEMS);
  }
  return 0;
}
