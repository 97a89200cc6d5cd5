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

/* Independent check: valid UTF-8 without C0/DEL/C1 controls. */
static int clean_utf8(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t len;
    uint8_t c = s[i];
    if (c < 0x80)
      cp = c, len = 1;
    else if ((c & 0xe0) == 0xc0)
      cp = c & 0x1f, len = 2;
    else if ((c & 0xf0) == 0xe0)
      cp = c & 0x0f, len = 3;
    else if ((c & 0xf8) == 0xf0)
      cp = c & 0x07, len = 4;
    else
      return 0;
    if (n - i < len) return 0;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return 0;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return 0;
    i += len;
  }
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
    size_t vlen = strlen(it->value);
    CHECK(vlen <= NP_META_MAX_VALUE);
    CHECK(clean_utf8((const uint8_t *)it->value, vlen));
    for (size_t j = 0; j < i; j++) CHECK(strcmp(m.items[j].name, it->name) != 0);
    /* the kept value is a prefix of the first occurrence's value */
    const char *orig = np_query_get(&q, it->name);
    CHECK(orig && strncmp(orig, it->value, vlen) == 0);
    if (strlen(orig) <= NP_META_MAX_VALUE) CHECK(strlen(orig) == vlen);
  }
  return 0;
}
