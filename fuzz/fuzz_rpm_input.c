/* Fuzz target for what an RPM client controls outside HTTP/2 framing: the
 * measurement ID in a URL, the :authority that goes into config URLs, and
 * the summary it posts. First byte picks the parser. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "rpm/config.h"
#include "rpm/mid.h"
#include "rpm/record.h"
#include "rpm/summary.h"

#define CHECK(c)                                                                                   \
  do {                                                                                             \
    if (!(c)) abort();                                                                             \
  } while (0)

static const uint8_t addr[4] = {192, 0, 2, 1};

/* Every string left is one of the summary's fixed words (<= 8 bytes), and
 * nesting is at most one level below the top. */
static void only_words(json_t *v, int depth) {
  CHECK(depth <= 2);
  if (json_is_string(v)) CHECK(json_string_length(v) <= 8);
  if (json_is_array(v)) CHECK(0);
  if (json_is_object(v)) {
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) only_words(x, depth + 1);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t which = data[0] % 4;
  np_slice in = np_slice_make(data + 1, size - 1);
  switch (which) {
  case 0: {
    uint8_t key[NP_RPM_KEY_LEN] = {1, 2, 3};
    np_rpm_keys k;
    np_rpm_keys_init(&k, key, 0);
    uint64_t id = 0;
    np_rpm_mid_status st = np_rpm_mid_check(&k, in, np_slice_make(addr, 4), NP_NS_PER_S, &id);
    CHECK(st != NP_RPM_MID_OK || in.len == NP_RPM_MID_LEN);
    (void)np_rpm_mid_status_name(st);
    break;
  }
  case 1: {
    int ok = np_rpm_authority_ok(in);
    np_buf b;
    np_buf_init(&b, 1u << 16);
    int rc = np_rpm_config_json(&b, "https", in, "abc");
    CHECK((rc == 0) == ok);
    if (rc == 0) {
      /* Whatever was accepted yields valid JSON whose URLs start with it. */
      json_error_t err;
      json_t *j = json_loadb((const char *)b.data, b.len, 0, &err);
      CHECK(j);
      const char *u = json_string_value(json_object_get(json_object_get(j, "urls"), "upload_url"));
      CHECK(u && strncmp(u, "https://", 8) == 0 &&
            strncmp(u + 8, (const char *)in.ptr, in.len) == 0);
      json_decref(j);
    }
    np_buf_free(&b);
    break;
  }
  case 2: {
    json_t *out = NULL;
    uint32_t dropped = 0;
    int rc = np_rpm_summary_clean(in.ptr, in.len, &out, &dropped);
    CHECK(rc == 0 || rc == NP_E_JSON || rc == NP_E_TOOBIG);
    if (rc == 0) {
      only_words(out, 0);
      json_decref(out);
    }
    break;
  }
  default:
    (void)np_rpm_endpoint_name(np_rpm_endpoint_of((const char *)in.ptr, in.len));
    break;
  }
  return 0;
}
