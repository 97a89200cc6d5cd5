/* netpulse CLI: the responsiveness result as a human summary, as versioned
 * JSON (the summary the server gets, plus what only the user needs), and
 * the live progress line. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "client/lib/rpm_client.h"

static double rfin(double v) { return isfinite(v) && v > 0 ? v : 0; }

static json_t *rnum(double v) { return json_real(round(rfin(v) * 1000) / 1000); }

int np_cli_rpm_failed(const np_rpm_result *r) { return r->error != 0 || !(r->rpm > 0); }

/* What a user reads when the server ended a phase's load early. */
static void server_note(const np_rpm_phase_result *p, char *out, size_t cap) {
  if (strstr(p->server_ended_why, "allowance"))
    (void)snprintf(out, cap,
                   "the server ended the load at its transmit allowance after %.1f s / %.0f MB",
                   rfin(p->server_ended_s), rfin(p->server_ended_mb));
  else
    (void)snprintf(out, cap, "the server ended the load (\"%s\") after %.1f s / %.0f MB",
                   p->server_ended_why, rfin(p->server_ended_s), rfin(p->server_ended_mb));
}

json_t *np_cli_rpm_json(const np_rpm_result *r, json_t *samples, const char *failure,
                        const char *hint) {
  json_t *o = np_rpm_summary_object(r);
  if (!o) return NULL;
  /* CLI additions (never renamed or removed, only added to). */
  (void)json_object_set_new(o, "Test", json_string("responsiveness"));
  (void)json_object_set_new(o, "Band", json_string(np_rpm_band_name(r->rpm)));
  (void)json_object_set_new(o, "IdleLatencyMs", rnum(r->idle_latency_ms));
  (void)json_object_set_new(o, "LoadedLatencyMs", rnum(r->loaded_latency_ms));
  double inc = r->loaded_latency_ms - r->idle_latency_ms;
  (void)json_object_set_new(
      o, "LatencyIncreaseMs",
      json_real(r->idle_latency_ms > 0 && r->loaded_latency_ms > 0 ? round(inc * 1000) / 1000 : 0));
  (void)json_object_set_new(o, "Server", json_string(r->server_host));
  (void)json_object_set_new(o, "ServerIP", json_string(r->server_ip));
  (void)json_object_set_new(o, "ServerPort", json_integer(r->server_port));
  (void)json_object_set_new(o, "ClientIP", json_string(r->client_ip));
  (void)json_object_set_new(o, "ConfigURL", json_string(r->config_url));
  (void)json_object_set_new(o, "ConnectionsOpened", json_integer(r->conns_opened));
  (void)json_object_set_new(o, "ResultSent", json_boolean(r->result_sent));
  json_t *par = json_object_get(o, "Parameters");
  if (par) {
    (void)json_object_set_new(par, "IdleMs", json_integer((json_int_t)r->idle_ms));
    (void)json_object_set_new(par, "MaxConns", json_integer(r->max_conns));
    (void)json_object_set_new(par, "Parallel", json_boolean(r->parallel));
  }
  const np_rpm_phase_result *par_ph = &r->phase[NP_RPM_PHASE_PARALLEL];
  json_t *pj = json_object_get(o, "Parallel");
  if (pj && par_ph->ran) {
    (void)json_object_set_new(pj, "DownloadMbps", rnum(par_ph->down_mbps));
    (void)json_object_set_new(pj, "UploadMbps", rnum(par_ph->up_mbps));
  }
  json_t *errs = json_array();
  if (failure) {
    json_t *e = json_pack("{s:s,s:s}", "Test", "responsiveness", "Failure", failure);
    if (hint && *hint) (void)json_object_set_new(e, "Hint", json_string(hint));
    if (r->retry_after_s > 0)
      (void)json_object_set_new(e, "RetryAfter", json_integer(r->retry_after_s));
    (void)json_array_append_new(errs, e);
  }
  (void)json_object_set_new(o, "Errors", errs);
  /* Each phase the server cut short says so in words, beside the
   * summary's LoadEndedBy/AfterMs/MB. */
  static const char *const keys[NP_RPM_PHASE_COUNT] = {NULL, "Download", "Upload", "Parallel"};
  for (int i = NP_RPM_PHASE_DOWNLOAD; i < NP_RPM_PHASE_COUNT; i++) {
    json_t *ph = json_object_get(o, keys[i]);
    if (!ph || !r->phase[i].server_ended) continue;
    char note[160];
    server_note(&r->phase[i], note, sizeof note);
    (void)json_object_set_new(ph, "Note", json_string(note));
  }
  if (samples) (void)json_object_set(o, "Samples", samples);
  return o;
}

json_t *np_cli_rpm_sample_json(const np_rpm_probe_sample *s) {
  json_t *o = json_pack("{s:s,s:s,s:o}", "Phase", np_rpm_phase_name(s->phase), "Kind",
                        s->self ? "self" : "foreign", "T", rnum(s->t_s));
  if (!s->self) {
    (void)json_object_set_new(o, "TCPMs", rnum(s->tcp_ms));
    if (s->tls_ms >= 0) (void)json_object_set_new(o, "TLSMs", rnum(s->tls_ms));
  }
  (void)json_object_set_new(o, "HTTPMs", rnum(s->http_ms));
  return o;
}

static void print_ms(FILE *f, const char *label, double v, const char *extra) {
  v = rfin(v);
  fprintf(f, "  %16s: %8.*f ms%s\n", label, v < 10 ? 2 : 1, v, extra ? extra : "");
}

static void print_phase(FILE *f, const char *title, const np_rpm_phase_result *p) {
  if (!p->ran) return;
  fprintf(f, "  %16s: %8.1f Mbit/s  %u flows, %.1f s, RPM %.0f (%s), %llu+%llu probes\n", title,
          rfin(p->throughput_mbps), p->flows, rfin(p->duration_ms) / 1000, rfin(p->rpm),
          np_rpm_confidence_text(p->confidence), (unsigned long long)p->probes_foreign,
          (unsigned long long)p->probes_self);
  if (p->server_ended) {
    char note[160];
    server_note(p, note, sizeof note);
    fprintf(f, "  %16s  note: %s; confidence is Low\n", "", note);
  }
}

const char *np_cli_rpm_server_note(const np_rpm_result *r, char *out, size_t cap) {
  for (int i = NP_RPM_PHASE_DOWNLOAD; i < NP_RPM_PHASE_COUNT; i++) {
    if (!r->phase[i].server_ended) continue;
    server_note(&r->phase[i], out, cap);
    return out;
  }
  return NULL;
}

void np_cli_rpm_print_human(FILE *f, const np_rpm_result *r, const char *failure,
                            const char *hint) {
  fprintf(f, "netpulse responsiveness (RPM) results\n\n");
  if (r->server_ip[0])
    fprintf(f, "  %16s: %s (%s port %d, %s)\n", "Server", r->server_host, r->server_ip,
            r->server_port, r->protocol);
  else
    fprintf(f, "  %16s: %s\n", "Server", r->server_host[0] ? r->server_host : "(none)");
  if (failure) {
    fprintf(f, "  %16s: %s\n", "failed", failure);
    if (hint && *hint) fprintf(f, "  %16s: %s\n", "hint", hint);
    if (!(r->rpm > 0)) {
      (void)fflush(f);
      return;
    }
    fprintf(f, "  %16s\n", "(partial figures follow)");
  }
  const char *band = np_rpm_band_name(r->rpm);
  fprintf(f, "  %16s: %8.0f RPM  %s (%.1f ms per round trip)\n", "Responsiveness", rfin(r->rpm),
          band[0] ? band : "n/a", rfin(r->loaded_latency_ms));
  fprintf(f, "  %16s: %s\n", "Confidence", np_rpm_confidence_text(r->confidence));
  print_ms(f, "Idle latency", r->idle_latency_ms, NULL);
  char inc[64] = "";
  if (r->idle_latency_ms > 0 && r->loaded_latency_ms > 0)
    (void)snprintf(inc, sizeof inc, "  (%+.1f ms under load)",
                   r->loaded_latency_ms - r->idle_latency_ms);
  print_ms(f, "Loaded latency", r->loaded_latency_ms, inc);
  print_phase(f, "Download", &r->phase[NP_RPM_PHASE_DOWNLOAD]);
  print_phase(f, "Upload", &r->phase[NP_RPM_PHASE_UPLOAD]);
  const np_rpm_phase_result *p = &r->phase[NP_RPM_PHASE_PARALLEL];
  if (p->ran) {
    print_phase(f, "Both ways", p);
    fprintf(f, "  %16s: %8.1f Mbit/s down, %.1f Mbit/s up (last interval)\n", "",
            rfin(p->down_mbps), rfin(p->up_mbps));
  }
  fprintf(f, "  %16s: %s\n", "Summary stored",
          r->result_sent ? "yes (the server keeps it with its own record)" : "no");
  (void)fflush(f);
}

int np_cli_rpm_progress_format(char *out, size_t cap, const np_rpm_progress *p) {
  int n;
  if (p->phase == NP_RPM_PHASE_IDLE)
    n = snprintf(out, cap, "%-8s %5.1f s  idle latency probes: %llu", "idle", rfin(p->elapsed_s),
                 (unsigned long long)p->probes);
  else
    n = snprintf(out, cap, "%-8s %5.1f s %2u flows %9.1f down %9.1f up Mbit/s  RPM %6.0f",
                 np_rpm_phase_name(p->phase), rfin(p->elapsed_s), p->flows, rfin(p->down_mbps),
                 rfin(p->up_mbps), rfin(p->rpm));
  return n < 0 ? -1 : n;
}
