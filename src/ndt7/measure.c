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

static int name_ok(const char *k) {
  size_t n = strlen(k);
  if (n == 0 || n > 32) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = k[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return 0;
  }
  return 1;
}

static json_t *ints_only(const json_t *in) {
  json_t *out = json_object();
  const char *k;
  json_t *v;
  size_t n = 0;
  json_object_foreach((json_t *)in, k, v) {
    if (n >= 96) break;
    if (!name_ok(k) || !json_is_integer(v)) continue;
    (void)json_object_set_new(out, k, json_integer(json_integer_value(v)));
    n++;
  }
  return out;
}

json_t *np_ndt7_measurement_sanitize(const json_t *in) {
  if (!json_is_object(in)) return NULL;
  json_t *out = json_object();
  if (!out) return NULL;
  static const char *const groups[] = {"AppInfo", "BBRInfo", "TCPInfo"};
  for (size_t i = 0; i < 3; i++) {
    json_t *g = json_object_get(in, groups[i]);
    if (json_is_object(g)) (void)json_object_set_new(out, groups[i], ints_only(g));
  }
  static const char *const words[][3] = {{"Origin", "client", "server"},
                                         {"Test", "download", "upload"}};
  for (size_t i = 0; i < 2; i++) {
    const char *v = json_string_value(json_object_get(in, words[i][0]));
    if (v && (strcmp(v, words[i][1]) == 0 || strcmp(v, words[i][2]) == 0))
      (void)json_object_set_new(out, words[i][0], json_string(v));
  }
  if (json_object_size(out) == 0) {
    json_decref(out);
    return NULL;
  }
  return out;
}
