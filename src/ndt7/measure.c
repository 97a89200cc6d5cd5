/* ndt7 message scaling, measurement schedule and measurement JSON. */
#include "ndt7/ndt7.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "core/error.h"

uint32_t np_ndt7_next_size(uint32_t cur, uint64_t total) {
  if (cur >= NP_NDT7_MAX_SENT_MESSAGE) return NP_NDT7_MAX_SENT_MESSAGE;
  if ((uint64_t)cur > total / NP_NDT7_SCALING_FRACTION) return cur;
  return cur * 2;
}

uint64_t np_ndt7_next_interval_ns(double u) {
  if (!(u > 0.0) || u > 1.0) u = 1.0;
  double ns = -log(u) * (double)NP_NDT7_MEAN_INTERVAL_NS;
  if (ns < (double)NP_NDT7_MIN_INTERVAL_NS) return NP_NDT7_MIN_INTERVAL_NS;
  if (ns > (double)NP_NDT7_MAX_INTERVAL_NS) return NP_NDT7_MAX_INTERVAL_NS;
  return (uint64_t)ns;
}

static int set_new(json_t *o, const char *k, json_t *v) {
  return v ? json_object_set_new(o, k, v) : -1;
}

json_t *np_ndt7_measurement_json(const np_ndt7_sample *s) {
  json_t *m = json_object();
  json_t *app = json_object();
  json_t *ci = json_object();
  if (!m || !app || !ci) goto fail;
  int rc = 0;
  rc |= set_new(app, "NumBytes", json_integer((json_int_t)s->app_bytes));
  rc |= set_new(app, "ElapsedTime", json_integer(s->elapsed_us));
  rc |= json_object_set_new(m, "AppInfo", app);
  app = NULL;
  rc |= set_new(ci, "Client", json_string(s->client ? s->client : ""));
  rc |= set_new(ci, "Server", json_string(s->server ? s->server : ""));
  rc |= set_new(ci, "UUID", json_string(s->uuid ? s->uuid : ""));
  rc |= set_new(ci, "StartTime", json_string(s->start_time ? s->start_time : ""));
  rc |= json_object_set_new(m, "ConnectionInfo", ci);
  ci = NULL;
  rc |= set_new(m, "BBRInfo", np_bbrinfo_json(s->bbr, s->elapsed_us));
  if (s->tcp) rc |= set_new(m, "TCPInfo", np_tcpinfo_json(s->tcp, s->elapsed_us));
  if (rc) goto fail;
  return m;
fail:
  json_decref(app);
  json_decref(ci);
  json_decref(m);
  return NULL;
}

int np_ndt7_uuid_ok(const char *s, size_t n) {
  if (n == 0 || n > NP_NDT7_MAX_UUID) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-' || c == ':'))
      return 0;
  }
  return 1;
}

/* Reads a non-negative integer member; 0 = absent, 1 = read, -1 = bad. */
static int get_u64(const json_t *o, const char *k, uint64_t *out) {
  json_t *v = json_object_get(o, k);
  if (!v) return 0;
  if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
  *out = (uint64_t)json_integer_value(v);
  return 1;
}

int np_ndt7_measurement_read(const char *text, size_t len, np_ndt7_reading *ret, json_t **ret_obj) {
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) return NP_E_JSON;
  np_ndt7_reading r;
  memset(&r, 0, sizeof r);
  int bad = 0;
  if (!json_is_object(root)) bad = 1;
  json_t *app = bad ? NULL : json_object_get(root, "AppInfo");
  if (app) {
    uint64_t el = 0;
    if (!json_is_object(app))
      bad = 1;
    else {
      int a = get_u64(app, "NumBytes", &r.app_bytes);
      int b = get_u64(app, "ElapsedTime", &el);
      if (a < 0 || b < 0) bad = 1;
      r.has_app = a > 0 || b > 0;
      r.app_elapsed_us = (int64_t)el;
    }
  }
  json_t *tcp = bad ? NULL : json_object_get(root, "TCPInfo");
  if (tcp) {
    uint64_t el = 0;
    if (!json_is_object(tcp))
      bad = 1;
    else {
      int n = 0, x;
      const struct {
        const char *k;
        uint64_t *v;
      } f[] = {
          {"BytesAcked", &r.bytes_acked}, {"BytesReceived", &r.bytes_received},
          {"BytesSent", &r.bytes_sent},   {"BytesRetrans", &r.bytes_retrans},
          {"MinRTT", &r.min_rtt_us},      {"RTT", &r.rtt_us},
          {"RTTVar", &r.rttvar_us},       {"ElapsedTime", &el},
      };
      for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        x = get_u64(tcp, f[i].k, f[i].v);
        if (x < 0) bad = 1;
        n += x > 0;
      }
      r.has_tcp = n > 0;
      r.tcp_elapsed_us = (int64_t)el;
    }
  }
  json_t *bbr = bad ? NULL : json_object_get(root, "BBRInfo");
  if (bbr) {
    if (!json_is_object(bbr))
      bad = 1;
    else {
      int x = get_u64(bbr, "BW", &r.bbr_bw);
      if (x < 0) bad = 1;
      r.has_bbr = x > 0;
    }
  }
  json_t *ci = bad ? NULL : json_object_get(root, "ConnectionInfo");
  if (ci) {
    json_t *u = json_is_object(ci) ? json_object_get(ci, "UUID") : NULL;
    if (!json_is_object(ci) || (u && !json_is_string(u)))
      bad = 1;
    else if (u && np_ndt7_uuid_ok(json_string_value(u), json_string_length(u))) {
      memcpy(r.uuid, json_string_value(u), json_string_length(u) + 1);
    }
  }
  if (bad) {
    json_decref(root);
    return NP_E_JSON;
  }
  *ret = r;
  if (ret_obj)
    *ret_obj = root;
  else
    json_decref(root);
  return 0;
}

/* The members a client measurement may keep, per group: the ndt7 spec's
 * AppInfo, and the BBRInfo and TCPInfo names of ndt-server's own records
 * (m-lab/tcp-info's LinuxTCPInfo, np_tcpinfo_mlab_name). Anything else could
 * carry whatever a client wants published, so it is dropped. */
static int app_name_ok(const char *k) {
  return strcmp(k, "NumBytes") == 0 || strcmp(k, "ElapsedTime") == 0;
}

static int bbr_name_ok(const char *k) {
  static const char *const names[] = {"BW", "MinRTT", "PacingGain", "CwndGain", "ElapsedTime"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(k, names[i]) == 0) return 1;
  return 0;
}

typedef struct {
  const char *name;
  int (*member_ok)(const char *k);
} group_desc;

static const group_desc kGroups[] = {
    {"AppInfo", app_name_ok},
    {"BBRInfo", bbr_name_ok},
    {"TCPInfo", np_tcpinfo_mlab_name},
};

static json_t *allowed_ints(const json_t *in, int (*member_ok)(const char *),
                            np_ndt7_cm_drops *drops) {
  json_t *out = json_object();
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)in, k, v) {
    if (!member_ok(k)) {
      drops->members[NP_NDT7_MEMBER_UNKNOWN]++;
    } else if (!json_is_integer(v)) {
      drops->members[NP_NDT7_MEMBER_BAD_VALUE]++;
    } else if (out) {
      (void)json_object_set_new(out, k, json_integer(json_integer_value(v)));
    }
  }
  return out;
}

json_t *np_ndt7_measurement_sanitize(const json_t *in, np_ndt7_cm_drops *drops) {
  np_ndt7_cm_drops scratch;
  if (!drops) drops = &scratch;
  if (!json_is_object(in)) return NULL;
  json_t *out = json_object();
  if (!out) return NULL;
  static const char *const words[][3] = {{"Origin", "client", "server"},
                                         {"Test", "download", "upload"}};
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)in, k, v) {
    const group_desc *g = NULL;
    for (size_t i = 0; i < sizeof kGroups / sizeof kGroups[0]; i++)
      if (strcmp(k, kGroups[i].name) == 0) g = &kGroups[i];
    int word = -1;
    for (int i = 0; i < 2; i++)
      if (strcmp(k, words[i][0]) == 0) word = i;
    if (g) {
      if (json_is_object(v))
        (void)json_object_set_new(out, k, allowed_ints(v, g->member_ok, drops));
      else
        drops->members[NP_NDT7_MEMBER_BAD_VALUE]++;
    } else if (word >= 0) {
      const char *w = json_string_value(v);
      if (w && (strcmp(w, words[word][1]) == 0 || strcmp(w, words[word][2]) == 0))
        (void)json_object_set_new(out, k, json_string(w));
      else
        drops->members[NP_NDT7_MEMBER_BAD_VALUE]++;
    } else {
      /* ConnectionInfo too: its addresses are already in the record. */
      drops->members[NP_NDT7_MEMBER_UNKNOWN]++;
    }
  }
  if (json_object_size(out) == 0) {
    json_decref(out);
    return NULL;
  }
  return out;
}

int np_ndt7_client_log_init(np_ndt7_client_log *l) {
  memset(l, 0, sizeof *l);
  l->list = json_array();
  return l->list ? 0 : -ENOMEM;
}

void np_ndt7_client_log_free(np_ndt7_client_log *l) {
  json_decref(l->list);
  l->list = NULL;
}

void np_ndt7_client_log_add(np_ndt7_client_log *l, const char *text, size_t len,
                            int64_t server_elapsed_us) {
  np_ndt7_cm_drops *d = &l->drops;
  /* The count cap goes first, so a flood past it costs no parsing. */
  if (l->kept >= NP_NDT7_MAX_CLIENT_MEASUREMENTS) {
    d->messages[NP_NDT7_CM_TEST_COUNT]++;
    return;
  }
  /* Not np_ndt7_measurement_read: a record keeps what ndt-server's would
   * (negative int64 such as PacingRate -1 included), so only JSON and an
   * object are required here; the sanitiser decides member by member. */
  json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
  if (!json_is_object(obj)) {
    json_decref(obj);
    d->messages[NP_NDT7_CM_BAD_MESSAGE]++;
    return;
  }
  json_t *clean = np_ndt7_measurement_sanitize(obj, d);
  json_decref(obj);
  if (!clean) {
    d->messages[NP_NDT7_CM_EMPTY]++;
    return;
  }
  (void)json_object_set_new(clean, "ServerElapsedTime", json_integer(server_elapsed_us));
  /* What it adds to the data file, as serialised (plus a comma). */
  size_t bytes = json_dumpb(clean, NULL, 0, JSON_COMPACT) + 1;
  if (l->bytes + bytes > NP_NDT7_MAX_CLIENT_MEASUREMENT_BYTES) {
    d->messages[NP_NDT7_CM_TEST_BYTES]++;
    json_decref(clean);
    return;
  }
  if (json_array_append_new(l->list, clean) == 0) {
    l->kept++;
    l->bytes += bytes;
  }
}

const char *np_ndt7_cm_drop_name(np_ndt7_cm_drop reason) {
  static const char *const names[NP_NDT7_CM_N] = {"bad_message", "empty", "test_count",
                                                  "test_bytes"};
  return reason >= 0 && reason < NP_NDT7_CM_N ? names[reason] : NULL;
}

const char *np_ndt7_member_drop_name(np_ndt7_member_drop reason) {
  static const char *const names[NP_NDT7_MEMBER_N] = {"unknown", "bad_value"};
  return reason >= 0 && reason < NP_NDT7_MEMBER_N ? names[reason] : NULL;
}
