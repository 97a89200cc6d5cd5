/* The responsiveness client's summary: the JSON it POSTs to the server's
 * result endpoint (only members src/rpm/summary.c allows) and that the CLI
 * extends for its output; names of bands, confidences and phases. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "client/lib/rpm_client.h"
#include "core/clock.h"

#define SUMMARY_SCHEMA_VERSION 1

const char *np_rpm_band_name(double rpm) { return np_rpm_band(rpm); }

const char *np_rpm_confidence_text(int c) {
  return np_rpm_confidence_name(c < 0 ? NP_RPM_CONF_LOW : (np_rpm_confidence)c);
}

const char *np_rpm_phase_name(np_rpm_phase p) {
  static const char *const names[] = {"idle", "download", "upload", "parallel"};
  return p >= 0 && p < NP_RPM_PHASE_COUNT ? names[p] : "";
}

/* Finite, non-negative and bounded as the server's allow-list wants. */
static json_t *num(double v) {
  if (!isfinite(v) || v < 0) v = 0;
  if (v > 1e12) v = 1e12;
  return json_real(round(v * 1000) / 1000);
}

static json_t *cnt(uint64_t v) {
  return json_integer(v > 1000000000000ULL ? 1000000000000LL : (json_int_t)v);
}

static json_t *phase_json(const np_rpm_phase_result *p) {
  json_t *o = json_object();
  (void)json_object_set_new(o, "RPM", num(p->rpm));
  (void)json_object_set_new(o, "RPMForeign", num(p->rpm_foreign));
  (void)json_object_set_new(o, "RPMLoaded", num(p->rpm_loaded));
  (void)json_object_set_new(o, "Confidence", json_string(np_rpm_confidence_text(p->confidence)));
  (void)json_object_set_new(o, "LoadedLatencyMs", num(p->latency_ms));
  (void)json_object_set_new(o, "ThroughputMbps", num(p->throughput_mbps));
  /* What ThroughputMbps counts: the load streams' HTTP response/request
   * body bytes, not frames, padding or TCP payload. */
  (void)json_object_set_new(o, "ThroughputBasis", json_string("http-body"));
  (void)json_object_set_new(o, "Flows", cnt(p->flows));
  (void)json_object_set_new(o, "DurationMs", num(p->duration_ms));
  (void)json_object_set_new(o, "ProbesForeign", cnt(p->probes_foreign));
  (void)json_object_set_new(o, "ProbesSelf", cnt(p->probes_self));
  (void)json_object_set_new(o, "TrimmedTCPMs", num(p->tm_tcp_ms));
  (void)json_object_set_new(o, "TrimmedTLSMs", num(p->tm_tls_ms));
  (void)json_object_set_new(o, "TrimmedHTTPForeignMs", num(p->tm_http_foreign_ms));
  (void)json_object_set_new(o, "TrimmedHTTPSelfMs", num(p->tm_http_self_ms));
  (void)json_object_set_new(o, "GoodputStable", cnt((uint64_t)(p->goodput_stable != 0)));
  (void)json_object_set_new(o, "ResponsivenessStable", cnt((uint64_t)(p->rpm_stable != 0)));
  if (p->server_ended) {
    /* A word, not the server's text: the summary is allow-listed. */
    int budget = strstr(p->server_ended_why, "allowance") != NULL;
    (void)json_object_set_new(o, "LoadEndedBy", json_string(budget ? "budget" : "server"));
    (void)json_object_set_new(o, "LoadEndedAfterMs", num(p->server_ended_s * 1000));
    (void)json_object_set_new(o, "LoadEndedMB", num(p->server_ended_mb));
  }
  return o;
}

json_t *np_rpm_summary_object(const np_rpm_result *r) {
  json_t *o = json_object();
  if (!o) return NULL;
  (void)json_object_set_new(o, "SchemaVersion", json_integer(SUMMARY_SCHEMA_VERSION));
  (void)json_object_set_new(o, "Variant", json_string("draft-09"));
  const np_rpm_phase_result *down = &r->phase[NP_RPM_PHASE_DOWNLOAD],
                            *up = &r->phase[NP_RPM_PHASE_UPLOAD];
  /* Both directions one after the other is "sequential". */
  if (r->parallel)
    (void)json_object_set_new(o, "Direction", json_string("parallel"));
  else if (down->ran || up->ran)
    (void)json_object_set_new(o, "Direction",
                              json_string(down->ran && up->ran ? "sequential"
                                          : down->ran          ? "download"
                                                               : "upload"));
  if (r->protocol[0]) (void)json_object_set_new(o, "Protocol", json_string(r->protocol));
  (void)json_object_set_new(o, "RPM", num(r->rpm));
  (void)json_object_set_new(o, "Confidence", json_string(np_rpm_confidence_text(r->confidence)));
  const np_rpm_phase_result *idle = &r->phase[NP_RPM_PHASE_IDLE];
  if (idle->ran)
    (void)json_object_set_new(o, "Idle",
                              json_pack("{s:o,s:o,s:o}", "LatencyMs", num(idle->latency_ms),
                                        "Probes", cnt(idle->probes_foreign), "DurationMs",
                                        num(idle->duration_ms)));
  static const char *const names[] = {NULL, "Download", "Upload", "Parallel"};
  for (int p = NP_RPM_PHASE_DOWNLOAD; p < NP_RPM_PHASE_COUNT; p++)
    if (r->phase[p].ran) (void)json_object_set_new(o, names[p], phase_json(&r->phase[p]));
  json_t *par = json_object();
  (void)json_object_set_new(par, "IntervalMs", num((double)r->interval_ms));
  (void)json_object_set_new(par, "MAD", cnt(r->mad));
  (void)json_object_set_new(par, "TMP", num(r->tmp));
  (void)json_object_set_new(par, "SDT", num(r->sdt));
  (void)json_object_set_new(par, "MPS", num(r->mps));
  (void)json_object_set_new(par, "PTC", num(r->ptc));
  (void)json_object_set_new(par, "MaxFlows", cnt(r->max_flows));
  (void)json_object_set_new(par, "MaxDurationMs", num((double)r->max_duration_ms));
  (void)json_object_set_new(o, "Parameters", par);
  return o;
}

char *np_rpm_result_json(const np_rpm_result *r) {
  json_t *o = np_rpm_summary_object(r);
  if (!o) return NULL;
  char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
  json_decref(o);
  return s;
}
