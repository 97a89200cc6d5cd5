/* Fuzzes the ndt7 measurement reader and the client-measurement sanitizer
 * against an independent model, and round-trips server measurements built
 * from fuzz-derived numbers through JSON text and back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/error.h"
#include "ndt7/ndt7.h"

#define CHECK(x)                                                                                   \
  do {                                                                                             \
    if (!(x)) abort();                                                                             \
  } while (0)

/* ---- the reader, checked against a model built on the same JSON ---- */

/* A member the reader takes: absent (0), a non-negative integer (1), or
 * anything else (-1), which makes the whole reading fail. */
/* The model's rule for a UUID the reader keeps (from ndt7.h's contract). */
static int model_uuid_ok(const char *s, size_t n) {
  static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-";
  if (n < 1 || n > 255) return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] == 0 || !strchr(ok, s[i])) return 0;
  return 1;
}

static int model_u64(const json_t *o, const char *k, uint64_t *out) {
  json_t *v = json_object_get(o, k);
  if (!v) return 0;
  if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
  *out = (uint64_t)json_integer_value(v);
  return 1;
}

/* Reads group g of root into the fields named by keys[]; -1 if it is bad. */
static int model_group(const json_t *root, const char *g, const char *const *keys,
                       uint64_t *const *outs, size_t n, int *ret_any) {
  const json_t *o = json_object_get(root, g);
  *ret_any = 0;
  if (!o) return 0;
  if (!json_is_object(o)) return -1;
  for (size_t i = 0; i < n; i++) {
    int x = model_u64(o, keys[i], outs[i]);
    if (x < 0) return -1;
    if (x > 0) *ret_any = 1;
  }
  return 0;
}

/* What np_ndt7_measurement_read should report for text: 0 and *ret, or
 * NP_E_JSON. Written from the header's contract, not from measure.c. */
static int model_read(const uint8_t *text, size_t len, np_ndt7_reading *ret) {
  json_t *root = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, NULL);
  if (!root) return NP_E_JSON;
  np_ndt7_reading r;
  memset(&r, 0, sizeof r);
  uint64_t app_el = 0, tcp_el = 0;
  int bad = !json_is_object(root);
  if (!bad) {
    static const char *const ak[] = {"NumBytes", "ElapsedTime"};
    uint64_t *const ao[] = {&r.app_bytes, &app_el};
    bad |= model_group(root, "AppInfo", ak, ao, 2, &r.has_app) < 0;
    static const char *const tk[] = {"BytesAcked", "BytesReceived", "BytesSent", "BytesRetrans",
                                     "MinRTT",     "RTT",           "RTTVar",    "ElapsedTime"};
    uint64_t *const to[] = {&r.bytes_acked, &r.bytes_received, &r.bytes_sent, &r.bytes_retrans,
                            &r.min_rtt_us,  &r.rtt_us,         &r.rttvar_us,  &tcp_el};
    bad |= model_group(root, "TCPInfo", tk, to, 8, &r.has_tcp) < 0;
    static const char *const bk[] = {"BW"};
    uint64_t *const bo[] = {&r.bbr_bw};
    bad |= model_group(root, "BBRInfo", bk, bo, 1, &r.has_bbr) < 0;
    const json_t *ci = json_object_get(root, "ConnectionInfo");
    if (ci) {
      const json_t *u = json_is_object(ci) ? json_object_get(ci, "UUID") : NULL;
      if (!json_is_object(ci) || (u && !json_is_string(u))) {
        bad = 1;
      } else if (u && model_uuid_ok(json_string_value(u), json_string_length(u))) {
        memcpy(r.uuid, json_string_value(u), json_string_length(u));
      }
    }
  }
  r.app_elapsed_us = (int64_t)app_el;
  r.tcp_elapsed_us = (int64_t)tcp_el;
  json_decref(root);
  if (bad) return NP_E_JSON;
  *ret = r;
  return 0;
}

static void check_same_reading(const np_ndt7_reading *a, const np_ndt7_reading *b) {
  CHECK(a->has_app == b->has_app && a->has_tcp == b->has_tcp && a->has_bbr == b->has_bbr);
  CHECK(a->app_bytes == b->app_bytes && a->app_elapsed_us == b->app_elapsed_us);
  CHECK(a->bytes_acked == b->bytes_acked && a->bytes_received == b->bytes_received);
  CHECK(a->bytes_sent == b->bytes_sent && a->bytes_retrans == b->bytes_retrans);
  CHECK(a->min_rtt_us == b->min_rtt_us && a->rtt_us == b->rtt_us);
  CHECK(a->rttvar_us == b->rttvar_us && a->tcp_elapsed_us == b->tcp_elapsed_us);
  CHECK(a->bbr_bw == b->bbr_bw);
  CHECK(memchr(a->uuid, '\0', sizeof a->uuid) && memchr(b->uuid, '\0', sizeof b->uuid));
  CHECK(strcmp(a->uuid, b->uuid) == 0);
}

/* Reads text with and without ret_obj; both agree with the model, and a
 * failure leaves the outputs untouched. Returns the object (or NULL). */
static json_t *check_read(const uint8_t *text, size_t len) {
  np_ndt7_reading want, got, got2;
  memset(&want, 0, sizeof want);
  int mrc = model_read(text, len, &want);

  memset(&got, 0xa5, sizeof got);
  json_t *obj = (json_t *)&got; /* sentinel: must survive a failure */
  int rc = np_ndt7_measurement_read((const char *)text, len, &got, &obj);
  CHECK(rc == mrc);
  if (rc != 0) {
    const uint8_t *p = (const uint8_t *)&got;
    for (size_t i = 0; i < sizeof got; i++) CHECK(p[i] == 0xa5);
    CHECK(obj == (json_t *)&got);
    obj = NULL;
  } else {
    CHECK(json_is_object(obj));
    check_same_reading(&got, &want);
    /* The uuid is ConnectionInfo.UUID when that is a plausible socket UUID
     * (1..255 bytes of [A-Za-z0-9._:-]), else empty: never cut, never
     * anything a terminal or a JSON encoder could choke on. */
    size_t ulen = strnlen(got.uuid, sizeof got.uuid);
    CHECK(ulen < sizeof got.uuid);
    const json_t *fu = json_object_get(json_object_get(obj, "ConnectionInfo"), "UUID");
    const char *full = json_string_value(fu);
    if (full && model_uuid_ok(full, json_string_length(fu)))
      CHECK(strcmp(full, got.uuid) == 0);
    else
      CHECK(ulen == 0);
  }

  memset(&got2, 0x5a, sizeof got2);
  int rc2 = np_ndt7_measurement_read((const char *)text, len, &got2, NULL);
  CHECK(rc2 == rc);
  if (rc2 == 0) check_same_reading(&got2, &want);
  return obj;
}

/* ---- the sanitizer ---- */

/* The allow-list, written out from ndt-server's records (AppInfo, BBRInfo,
 * and m-lab/tcp-info's LinuxTCPInfo plus ElapsedTime), not from measure.c. */
static const char *const kApp[] = {"NumBytes", "ElapsedTime", NULL};
static const char *const kBbr[] = {"BW", "MinRTT", "PacingGain", "CwndGain", "ElapsedTime", NULL};
static const char *const kTcp[] = {"State",       "CAState",       "Retransmits",  "Probes",
                                   "Backoff",     "Options",       "WScale",       "AppLimited",
                                   "RTO",         "ATO",           "SndMSS",       "RcvMSS",
                                   "Unacked",     "Sacked",        "Lost",         "Retrans",
                                   "Fackets",     "LastDataSent",  "LastAckSent",  "LastDataRecv",
                                   "LastAckRecv", "PMTU",          "RcvSsThresh",  "RTT",
                                   "RTTVar",      "SndSsThresh",   "SndCwnd",      "AdvMSS",
                                   "Reordering",  "RcvRTT",        "RcvSpace",     "TotalRetrans",
                                   "PacingRate",  "MaxPacingRate", "BytesAcked",   "BytesReceived",
                                   "SegsOut",     "SegsIn",        "NotsentBytes", "MinRTT",
                                   "DataSegsIn",  "DataSegsOut",   "DeliveryRate", "BusyTime",
                                   "RWndLimited", "SndBufLimited", "Delivered",    "DeliveredCE",
                                   "BytesSent",   "BytesRetrans",  "DSackDups",    "ReordSeen",
                                   "RcvOooPack",  "SndWnd",        "ElapsedTime",  NULL};

static const char *const *group_names(const char *k) {
  if (strcmp(k, "AppInfo") == 0) return kApp;
  if (strcmp(k, "BBRInfo") == 0) return kBbr;
  if (strcmp(k, "TCPInfo") == 0) return kTcp;
  return NULL;
}

static int listed(const char *const *list, const char *k) {
  for (size_t i = 0; list[i]; i++)
    if (strcmp(list[i], k) == 0) return 1;
  return 0;
}

static int known_word(const char *k, const char *v) {
  if (strcmp(k, "Origin") == 0) return strcmp(v, "client") == 0 || strcmp(v, "server") == 0;
  if (strcmp(k, "Test") == 0) return strcmp(v, "download") == 0 || strcmp(v, "upload") == 0;
  return 0;
}

/* Walks sanitize(in): only the allowed groups and names, integers copied
 * exactly, the known words, nothing else; NULL exactly when nothing would
 * be left; every member left out counted once; sanitizing twice changes
 * nothing and drops nothing more. */
static void check_sanitize(const json_t *in) {
  np_ndt7_cm_drops drops;
  memset(&drops, 0, sizeof drops);
  json_t *out = np_ndt7_measurement_sanitize(in, &drops);
  size_t expect_members = 0, expect_unknown = 0, expect_bad = 0;
  if (json_is_object(in)) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)in, k, v) {
      const char *const *names = group_names(k);
      if (names && json_is_object(v)) {
        expect_members++;
        const char *gk;
        json_t *gv;
        json_object_foreach(v, gk, gv) {
          if (!listed(names, gk))
            expect_unknown++;
          else if (!json_is_integer(gv))
            expect_bad++;
        }
      } else if (names || strcmp(k, "Origin") == 0 || strcmp(k, "Test") == 0) {
        if (json_is_string(v) && known_word(k, json_string_value(v)))
          expect_members++;
        else
          expect_bad++;
      } else {
        expect_unknown++;
      }
    }
  }
  CHECK(drops.members[NP_NDT7_MEMBER_UNKNOWN] == expect_unknown);
  CHECK(drops.members[NP_NDT7_MEMBER_BAD_VALUE] == expect_bad);
  for (int i = 0; i < NP_NDT7_CM_N; i++) CHECK(drops.messages[i] == 0);
  if (!out) {
    CHECK(expect_members == 0);
    return;
  }
  CHECK(json_is_object(out) && json_object_size(out) == expect_members);
  const char *k;
  json_t *v;
  json_object_foreach(out, k, v) {
    const json_t *src = json_object_get(in, k);
    CHECK(src != NULL);
    const char *const *names = group_names(k);
    if (names) {
      CHECK(json_is_object(v) && json_is_object(src));
      size_t valid = 0;
      const char *sk;
      json_t *sv;
      json_object_foreach((json_t *)src, sk, sv) valid += listed(names, sk) && json_is_integer(sv);
      CHECK(json_object_size(v) == valid);
      const char *gk;
      json_t *gv;
      json_object_foreach(v, gk, gv) {
        CHECK(listed(names, gk) && json_is_integer(gv));
        const json_t *orig = json_object_get(src, gk);
        CHECK(json_is_integer(orig) && json_integer_value(orig) == json_integer_value(gv));
      }
    } else {
      CHECK(json_is_string(v) && known_word(k, json_string_value(v)));
      CHECK(json_equal(v, src));
    }
  }
  np_ndt7_cm_drops again_drops;
  memset(&again_drops, 0, sizeof again_drops);
  json_t *again = np_ndt7_measurement_sanitize(out, &again_drops);
  CHECK(again && json_equal(again, out));
  CHECK(again_drops.members[0] == 0 && again_drops.members[1] == 0);
  json_decref(again);
  json_decref(out);
}

/* The per-test log: the input as a message, repeated; the caps hold and
 * every message is kept or counted. */
static void check_client_log(const uint8_t *data, size_t size) {
  np_ndt7_client_log l;
  CHECK(np_ndt7_client_log_init(&l) == 0);
  size_t reps = size ? 1 + data[0] % 4 : 1;
  for (size_t i = 0; i < reps; i++) np_ndt7_client_log_add(&l, (const char *)data, size, 7);
  CHECK(l.kept == json_array_size(l.list) && l.kept <= NP_NDT7_MAX_CLIENT_MEASUREMENTS);
  CHECK(l.bytes <= NP_NDT7_MAX_CLIENT_MEASUREMENT_BYTES);
  uint64_t n = l.kept;
  for (int i = 0; i < NP_NDT7_CM_N; i++) n += l.drops.messages[i];
  CHECK(n == reps);
  size_t bytes = 0;
  for (size_t i = 0; i < l.kept; i++) {
    const json_t *m = json_array_get(l.list, i);
    CHECK(json_integer_value(json_object_get(m, "ServerElapsedTime")) == 7);
    bytes += json_dumpb(m, NULL, 0, JSON_COMPACT) + 1;
  }
  CHECK(bytes == l.bytes);
  np_ndt7_client_log_free(&l);
}

/* ---- round trip of a server measurement ---- */

typedef struct {
  const uint8_t *p;
  size_t n, off;
} stream;

static uint8_t take8(stream *s) { return s->off < s->n ? s->p[s->off++] : 0; }

static uint64_t take64(stream *s) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)take8(s) << (8 * i);
  return v;
}

/* A number biased toward the edges that matter: the int64 sign boundary,
 * the u32 range, small values. */
static uint64_t pick(stream *s) {
  static const uint64_t edges[] = {0,
                                   1,
                                   UINT32_MAX,
                                   (uint64_t)UINT32_MAX + 1,
                                   (uint64_t)INT64_MAX - 1,
                                   (uint64_t)INT64_MAX,
                                   (uint64_t)INT64_MAX + 1,
                                   UINT64_MAX,
                                   250ull * 1000 * 1000,
                                   10ull * 1000 * 1000};
  uint8_t b = take8(s);
  switch (b & 3) {
  case 0:
    return b >> 2;
  case 1:
    return edges[(b >> 2) % (sizeof edges / sizeof edges[0])];
  case 2:
    return take64(s) >> (b >> 2 & 63);
  default:
    return take64(s);
  }
}

/* A string of printable and control ASCII (JSON must escape some), up to
 * max bytes, NUL-terminated in buf. */
static const char *take_str(stream *s, char *buf, size_t max) {
  size_t n = take8(s);
  if (max > 255 && (n & 1)) n += take8(s); /* uuids longer than the reading keeps */
  if (n > max) n = max;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = take8(s) & 0x7f;
    buf[i] = c ? (char)c : 'x';
  }
  buf[n] = '\0';
  return buf;
}

static int over(uint64_t v) { return v > (uint64_t)INT64_MAX; }

static void round_trip(const uint8_t *data, size_t size) {
  stream s = {data, size, 0};
  uint8_t flags = take8(&s);
  np_ndt7_sample smp;
  memset(&smp, 0, sizeof smp);
  smp.app_bytes = pick(&s);
  smp.elapsed_us = (int64_t)pick(&s);
  char client[64], server[64], uuid[512], start[64];
  smp.client = (flags & 1) ? take_str(&s, client, sizeof client - 1) : NULL;
  smp.server = take_str(&s, server, sizeof server - 1);
  smp.uuid = (flags & 2) ? take_str(&s, uuid, sizeof uuid - 1) : NULL;
  smp.start_time = take_str(&s, start, sizeof start - 1);

  np_tcpinfo tcp;
  if (flags & 4) {
    /* The kernel's bytes as a kernel of some age would fill them. */
    static const size_t sizes[] = {0, 104, 120, 128, 136, 152, 200, 208, 216, 232, 280};
    uint8_t raw[NP_TCPINFO_KNOWN_SIZE];
    for (size_t i = 0; i < sizeof raw; i++) raw[i] = take8(&s);
    uint8_t z = take8(&s);
    size_t len = (z & 1) ? sizes[(z >> 1) % (sizeof sizes / sizeof sizes[0])] : take8(&s) + 25u;
    CHECK(np_tcpinfo_decode(raw, len, &tcp) == 0);
    if (flags & 8) {
      tcp.bytes_acked = pick(&s);
      tcp.bytes_received = pick(&s);
      tcp.bytes_sent = pick(&s);
      tcp.bytes_retrans = pick(&s);
    }
    smp.tcp = &tcp;
  }
  np_bbrinfo bbr;
  if (flags & 16) {
    bbr.bw = pick(&s);
    bbr.min_rtt = (uint32_t)pick(&s);
    bbr.pacing_gain = (uint32_t)pick(&s);
    bbr.cwnd_gain = (uint32_t)pick(&s);
    smp.bbr = &bbr;
  }

  json_t *m = np_ndt7_measurement_json(&smp);
  CHECK(m != NULL);
  CHECK(json_object_size(m) == (smp.tcp ? 4u : 3u));
  char *text = json_dumps(m, (flags & 32) ? JSON_INDENT(2) | JSON_SORT_KEYS : JSON_COMPACT);
  CHECK(text != NULL);

  /* Which read fields made it into the JSON depends on how much of
   * tcp_info the "kernel" filled. */
  const json_t *tj = json_object_get(m, "TCPInfo");
  int has_acked = json_object_get(tj, "BytesAcked") != NULL;
  int has_recv = json_object_get(tj, "BytesReceived") != NULL;
  int has_sent = json_object_get(tj, "BytesSent") != NULL;
  int has_retr = json_object_get(tj, "BytesRetrans") != NULL;
  int has_min = json_object_get(tj, "MinRTT") != NULL;
  int has_rtt = json_object_get(tj, "RTT") != NULL;
  int has_var = json_object_get(tj, "RTTVar") != NULL;
  /* Counters above INT64_MAX go out negative, as ndt-server's int64 fields
   * do, and a reader must then refuse them rather than misread them. */
  int expect_fail = over(smp.app_bytes) || smp.elapsed_us < 0 || (smp.bbr && over(bbr.bw));
  if (smp.tcp)
    expect_fail |= (has_acked && over(tcp.bytes_acked)) || (has_recv && over(tcp.bytes_received)) ||
                   (has_sent && over(tcp.bytes_sent)) || (has_retr && over(tcp.bytes_retrans));

  np_ndt7_reading r;
  json_t *back = NULL;
  int rc = np_ndt7_measurement_read(text, strlen(text), &r, &back);
  if (expect_fail) {
    CHECK(rc == NP_E_JSON);
  } else {
    CHECK(rc == 0);
    CHECK(json_equal(back, m));
    CHECK(r.has_app && r.has_bbr && r.has_tcp == (smp.tcp != NULL));
    CHECK(r.app_bytes == smp.app_bytes && r.app_elapsed_us == smp.elapsed_us);
    CHECK(r.bbr_bw == (smp.bbr ? bbr.bw : 0));
    if (smp.tcp) {
      CHECK(r.tcp_elapsed_us == smp.elapsed_us);
      CHECK(r.bytes_acked == (has_acked ? tcp.bytes_acked : 0));
      CHECK(r.bytes_received == (has_recv ? tcp.bytes_received : 0));
      CHECK(r.bytes_sent == (has_sent ? tcp.bytes_sent : 0));
      CHECK(r.bytes_retrans == (has_retr ? tcp.bytes_retrans : 0));
      CHECK(r.min_rtt_us == (has_min ? tcp.min_rtt : 0));
      CHECK(r.rtt_us == (has_rtt ? tcp.rtt : 0));
      CHECK(r.rttvar_us == (has_var ? tcp.rttvar : 0));
    }
    const char *u = smp.uuid && model_uuid_ok(smp.uuid, strlen(smp.uuid)) ? smp.uuid : "";
    CHECK(strcmp(r.uuid, u) == 0);
  }
  json_decref(back);

  /* A server measurement sanitized keeps AppInfo and BBRInfo whole, the
   * TCPInfo members ndt-server has, and drops ConnectionInfo (free text). */
  json_t *clean = np_ndt7_measurement_sanitize(m, NULL);
  CHECK(clean && json_object_get(clean, "ConnectionInfo") == NULL);
  CHECK(json_equal(json_object_get(clean, "AppInfo"), json_object_get(m, "AppInfo")));
  CHECK(json_equal(json_object_get(clean, "BBRInfo"), json_object_get(m, "BBRInfo")));
  const json_t *ct = json_object_get(clean, "TCPInfo");
  CHECK((ct == NULL) == (tj == NULL));
  if (tj) {
    const char *tk;
    json_t *tv;
    json_object_foreach((json_t *)tj, tk, tv) {
      const json_t *kept = json_object_get(ct, tk);
      CHECK(listed(kTcp, tk) ? json_equal(kept, tv) : kept == NULL);
    }
  }
  json_decref(clean);
  free(text);
  json_decref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > NP_NDT7_MAX_TEXT) return 0;
  json_t *obj = check_read(data, size);
  if (obj) check_sanitize(obj);
  json_decref(obj);
  /* The sanitizer also meets duplicate keys and any root a lax parse gives. */
  json_t *any = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
  if (any) check_sanitize(any);
  json_decref(any);
  round_trip(data, size);
  check_client_log(data, size);
  return 0;
}
