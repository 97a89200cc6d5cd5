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

static void str_member(text t, np_skim_span obj, const char *key, char *out, size_t cap) {
  np_skim_span v;
  out[0] = '\0';
  if (member(t, obj, key, &v) && np_skim_string(t.s, v, out, cap) < 0) out[0] = '\0';
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

/* ndt7 without a ServerSummary: the last ServerMeasurements entry's
 * TCPInfo, as ndt-server's data is read (download: BytesAcked; upload:
 * BytesReceived; over TCPInfo.ElapsedTime in µs, so bytes*8/µs = Mbit/s). */
static void ndt7_tcpinfo(np_row *r, text t, np_skim_span test, int download) {
  np_skim_span ms, last, ti;
  if (!member(t, test, "ServerMeasurements", &ms) || t.s[ms.start] != '[') return;
  if (np_skim_last(t.s, t.len, ms, &last) != 1 || !member(t, last, "TCPInfo", &ti)) return;
  unsigned before = r->has;
  double bytes, us, v;
  if (num_member(t, ti, download ? "BytesAcked" : "BytesReceived", &bytes) &&
      num_member(t, ti, "ElapsedTime", &us) && us > 0)
    set(r, NP_COL_THROUGHPUT_MBPS, bytes * 8 / us);
  if (num_member(t, ti, "MinRTT", &v)) set(r, NP_COL_MIN_RTT_MS, v / 1000);
  /* Only the sender's retransmissions mean loss on the measured path. */
  double sent, retrans;
  if (download && num_member(t, ti, "BytesSent", &sent) && sent > 0 &&
      num_member(t, ti, "BytesRetrans", &retrans))
    set(r, NP_COL_RETRANS_PCT, retrans * 100 / sent);
  if (r->has != before) r->server_from = NP_ROW_FROM_TCPINFO;
}

static int ndt7_rows(text t, np_skim_span rec, np_record_rows *out) {
  np_skim_span test, ss;
  int download = member(t, rec, "Download", &test) && t.s[test.start] == '{';
  if (!download && !(member(t, rec, "Upload", &test) && t.s[test.start] == '{')) return NP_E_JSON;
  np_row *r = &out->rows[0];
  memset(r, 0, sizeof *r);
  r->test = download ? "download" : "upload";
  str_member(t, test, "StartTime", r->start_time, sizeof r->start_time);
  if (!r->start_time[0]) str_member(t, rec, "StartTime", r->start_time, sizeof r->start_time);
  str_member(t, test, "UUID", r->id, sizeof r->id);
  str_member(t, rec, "ClientIP", r->client_ip, sizeof r->client_ip);
  if (member(t, rec, "ServerSummary", &ss)) server_summary(r, t, ss);
  if (!r->server_from) ndt7_tcpinfo(r, t, test, download);
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
static int rpm_rows(text t, np_skim_span rec, np_record_rows *out) {
  np_skim_span cs = {0, 0}, ss = {0, 0};
  int has_cs = member(t, rec, "ClientSummary", &cs);
  int has_ss = member(t, rec, "ServerSummary", &ss);
  char start[40], id[128], ip[64];
  str_member(t, rec, "StartTime", start, sizeof start);
  str_member(t, rec, "MeasurementID", id, sizeof id);
  str_member(t, rec, "ClientIP", ip, sizeof ip);
  out->n = 0;
  for (size_t i = 0; i < NP_RECORD_MAX_ROWS; i++) {
    np_skim_span cp = {0, 0}, sp = {0, 0};
    int c = has_cs && member(t, cs, phases[i].key, &cp) && t.s[cp.start] == '{';
    int s = has_ss && member(t, ss, phases[i].key, &sp) && t.s[sp.start] == '{';
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

const char *np_record_datatype(const char *s, size_t len, np_skim_span doc, np_skim_span *ret_rec) {
  text t = {s, len};
  np_skim_span rec = doc, raw, v;
  if (doc.end <= doc.start || doc.end > len || s[doc.start] != '{') return NULL;
  /* A jostler bundle line: the record is its "raw" member. */
  if (member(t, doc, "raw", &raw) && s[raw.start] == '{') rec = raw;
  const char *dt = NULL;
  if (member(t, rec, "MeasurementID", &v))
    dt = "responsiveness1";
  else if (member(t, rec, "Download", &v) || member(t, rec, "Upload", &v))
    dt = "ndt7";
  if (dt && ret_rec) *ret_rec = rec;
  return dt;
}

int np_record_rows_of(const char *s, size_t len, np_skim_span doc, np_record_rows *out) {
  text t = {s, len};
  np_skim_span rec;
  out->n = 0;
  out->datatype = np_record_datatype(s, len, doc, &rec);
  if (!out->datatype) return NP_E_JSON;
  if (strcmp(out->datatype, "ndt7") == 0) return ndt7_rows(t, rec, out);
  return rpm_rows(t, rec, out);
}
