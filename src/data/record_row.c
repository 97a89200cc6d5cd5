/* Rows of the netpulse-data table from ndt7 and responsiveness1 records. */
#include "data/record_row.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

const char *const np_row_columns[] = {"datatype",
                                      "test",
                                      "start_time",
                                      "id",
                                      "throughput_mbps",
                                      "min_rtt_ms",
                                      "server_loaded_rtt_ms",
                                      "client_rpm",
                                      "client_loaded_latency_ms",
                                      "retrans_pct",
                                      "file",
                                      NULL};

const char *const np_row_numeric[NP_NCOLS] = {"throughput_mbps",          "min_rtt_ms",
                                              "server_loaded_rtt_ms",     "client_rpm",
                                              "client_loaded_latency_ms", "retrans_pct"};

/* What a column may hold; anything else is an empty cell. Bounds are wide
 * on purpose (the checker, not the table, judges records): a negative
 * duration or a 10 Tbit/s goodput is a broken record, not a figure. */
static const double col_max[NP_NCOLS] = {1e7,        /* Mbit/s: 10 Tbit/s */
                                         864e5,      /* ms: a day */
                                         864e5, 1e9, /* RPM: 60000 / 0.06 µs */
                                         864e5, 100};

typedef struct {
  const char *s;
  size_t len;
} text;

static int member(text t, np_skim_span obj, const char *key, np_skim_span *ret) {
  if (obj.end <= obj.start || t.s[obj.start] != '{') return 0;
  return np_skim_member(t.s, t.len, obj, key, ret) == 1;
}

/* A JSON number (not null, not a string) into *ret. */
static int number(text t, np_skim_span v, double *ret) {
  size_t n = v.end - v.start;
  char tmp[64];
  if (n == 0 || n >= sizeof tmp) return 0;
  const char *p = t.s + v.start;
  if (!(p[0] == '-' || (p[0] >= '0' && p[0] <= '9'))) return 0;
  for (size_t i = 0; i < n; i++)
    if (!strchr("0123456789.eE+-", p[i])) return 0;
  memcpy(tmp, p, n);
  tmp[n] = '\0';
  char *end;
  double d = strtod(tmp, &end);
  if (*end != '\0' || !isfinite(d)) return 0;
  *ret = d;
  return 1;
}

static int num_member(text t, np_skim_span obj, const char *key, double *ret) {
  np_skim_span v;
  return member(t, obj, key, &v) && number(t, v, ret);
}

static void set(np_row *r, int col, double v) {
  if (!(v >= 0 && v <= col_max[col])) return;
  r->v[col] = v;
  r->has |= 1u << col;
}

static void set_from(np_row *r, int col, text t, np_skim_span obj, const char *key) {
  double v;
  if (num_member(t, obj, key, &v)) set(r, col, v);
}

/* The server's own figures (issue 19's ServerSummary, or one phase of it). */
static void server_summary(np_row *r, text t, np_skim_span ss) {
  unsigned before = r->has;
  set_from(r, NP_COL_THROUGHPUT_MBPS, t, ss, "GoodputMbps");
  set_from(r, NP_COL_MIN_RTT_MS, t, ss, "MinRTTMs");
  set_from(r, NP_COL_SERVER_LOADED_RTT_MS, t, ss, "LoadedRTTMedianMs");
  set_from(r, NP_COL_RETRANS_PCT, t, ss, "RetransPct");
  if (r->has != before) r->server_from = NP_ROW_FROM_SUMMARY;
}

static void str_of(text t, int has, np_skim_span v, char *out, size_t cap) {
  out[0] = '\0';
  if (has && np_skim_string(t.s, v, out, cap) < 0) out[0] = '\0';
}

/* A record's top-level members, found in one pass (records are 70 KB to
 * 2 MB; a pass per member would be most of the cost). */
enum { K_RAW, K_MID, K_DOWNLOAD, K_UPLOAD, K_SS, K_CS, K_START, K_IP, K_N };
static const char *const top_keys[K_N] = {"raw",       "MeasurementID", "Download",
                                          "Upload",    "ServerSummary", "ClientSummary",
                                          "StartTime", "ClientIP"};
typedef struct {
  np_skim_span v[K_N];
  int has[K_N];
} top;

static int is_obj(text t, const top *tp, int k) { return tp->has[k] && t.s[tp->v[k].start] == '{'; }

/* ndt7 without a ServerSummary: the last ServerMeasurements entry's
 * TCPInfo, as ndt-server's data is read (download: BytesAcked; upload:
 * BytesReceived; over TCPInfo.ElapsedTime in µs, so bytes*8/µs = Mbit/s). */
static void ndt7_tcpinfo(np_row *r, text t, np_skim_span ms, int download) {
  np_skim_span last, ti;
  if (t.s[ms.start] != '[' || np_skim_last(t.s, t.len, ms, &last) != 1 ||
      !member(t, last, "TCPInfo", &ti))
    return;
  static const char *const keys[] = {"BytesAcked", "BytesReceived", "ElapsedTime",
                                     "MinRTT",     "BytesSent",     "BytesRetrans"};
  enum { ACKED, RECEIVED, US, MINRTT, SENT, RETRANS, N };
  np_skim_span v[N];
  int found[N];
  double x[N];
  if (np_skim_members(t.s, t.len, ti, keys, N, v, found) < 0) return;
  for (int i = 0; i < N; i++) found[i] = found[i] && number(t, v[i], &x[i]);
  unsigned before = r->has;
  double bytes = download ? x[ACKED] : x[RECEIVED];
  if (found[download ? ACKED : RECEIVED] && found[US] && x[US] > 0)
    set(r, NP_COL_THROUGHPUT_MBPS, bytes * 8 / x[US]);
  if (found[MINRTT]) set(r, NP_COL_MIN_RTT_MS, x[MINRTT] / 1000);
  /* Only the sender's retransmissions mean loss on the measured path. */
  if (download && found[SENT] && x[SENT] > 0 && found[RETRANS])
    set(r, NP_COL_RETRANS_PCT, x[RETRANS] * 100 / x[SENT]);
  if (r->has != before) r->server_from = NP_ROW_FROM_TCPINFO;
}

static int ndt7_rows(text t, const top *tp, np_record_rows *out) {
  int download = is_obj(t, tp, K_DOWNLOAD);
  if (!download && !is_obj(t, tp, K_UPLOAD)) return NP_E_JSON;
  np_skim_span test = tp->v[download ? K_DOWNLOAD : K_UPLOAD];
  static const char *const keys[] = {"StartTime", "UUID", "ServerMeasurements"};
  np_skim_span v[3];
  int found[3];
  if (np_skim_members(t.s, t.len, test, keys, 3, v, found) < 0) return NP_E_JSON;
  np_row *r = &out->rows[0];
  memset(r, 0, sizeof *r);
  r->test = download ? "download" : "upload";
  str_of(t, found[0], v[0], r->start_time, sizeof r->start_time);
  if (!r->start_time[0])
    str_of(t, tp->has[K_START], tp->v[K_START], r->start_time, sizeof r->start_time);
  str_of(t, found[1], v[1], r->id, sizeof r->id);
  str_of(t, tp->has[K_IP], tp->v[K_IP], r->client_ip, sizeof r->client_ip);
  if (tp->has[K_SS]) server_summary(r, t, tp->v[K_SS]);
  if (!r->server_from && found[2]) ndt7_tcpinfo(r, t, v[2], download);
  out->n = 1;
  return 0;
}

static const struct {
  const char *key;
  const char *test;
} phases[NP_RECORD_MAX_ROWS] = {
    {"Download", "download"}, {"Upload", "upload"}, {"Parallel", "parallel"}};

/* One row per loaded phase that either summary has; idle is not a test of
 * its own (its RTT is the rows' min_rtt_ms). */
static int rpm_rows(text t, const top *tp, np_record_rows *out) {
  char start[40], id[128], ip[64];
  str_of(t, tp->has[K_START], tp->v[K_START], start, sizeof start);
  str_of(t, tp->has[K_MID], tp->v[K_MID], id, sizeof id);
  str_of(t, tp->has[K_IP], tp->v[K_IP], ip, sizeof ip);
  out->n = 0;
  for (size_t i = 0; i < NP_RECORD_MAX_ROWS; i++) {
    np_skim_span cp = {0, 0}, sp = {0, 0};
    int c =
        is_obj(t, tp, K_CS) && member(t, tp->v[K_CS], phases[i].key, &cp) && t.s[cp.start] == '{';
    int s =
        is_obj(t, tp, K_SS) && member(t, tp->v[K_SS], phases[i].key, &sp) && t.s[sp.start] == '{';
    if (!c && !s) continue;
    np_row *r = &out->rows[out->n++];
    memset(r, 0, sizeof *r);
    r->test = phases[i].test;
    memcpy(r->start_time, start, sizeof start);
    memcpy(r->id, id, sizeof id);
    memcpy(r->client_ip, ip, sizeof ip);
    if (s) server_summary(r, t, sp);
    if (c) {
      set_from(r, NP_COL_CLIENT_RPM, t, cp, "RPM");
      set_from(r, NP_COL_CLIENT_LOADED_LATENCY_MS, t, cp, "LoadedLatencyMs");
    }
  }
  return 0;
}

static const char *classify(text t, np_skim_span doc, top *tp, np_skim_span *ret_rec) {
  if (doc.end <= doc.start || doc.end > t.len || t.s[doc.start] != '{') return NULL;
  if (np_skim_members(t.s, t.len, doc, top_keys, K_N, tp->v, tp->has) < 0) return NULL;
  np_skim_span rec = doc;
  /* A jostler bundle line: the record is its "raw" member. */
  if (is_obj(t, tp, K_RAW)) {
    rec = tp->v[K_RAW];
    if (np_skim_members(t.s, t.len, rec, top_keys, K_N, tp->v, tp->has) < 0) return NULL;
  }
  const char *dt = NULL;
  if (tp->has[K_MID])
    dt = "responsiveness1";
  else if (tp->has[K_DOWNLOAD] || tp->has[K_UPLOAD])
    dt = "ndt7";
  if (dt && ret_rec) *ret_rec = rec;
  return dt;
}

const char *np_record_datatype(const char *s, size_t len, np_skim_span doc, np_skim_span *ret_rec) {
  text t = {s, len};
  top tp;
  return classify(t, doc, &tp, ret_rec);
}

int np_record_rows_of(const char *s, size_t len, np_skim_span doc, np_record_rows *out) {
  text t = {s, len};
  top tp;
  out->n = 0;
  out->datatype = classify(t, doc, &tp, NULL);
  if (!out->datatype) return NP_E_JSON;
  if (strcmp(out->datatype, "ndt7") == 0) return ndt7_rows(t, &tp, out);
  return rpm_rows(t, &tp, out);
}
