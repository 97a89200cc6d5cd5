/* ServerSummary: what the server itself saw of a test, phase by phase,
 * from its own TCP_INFO samples and request timings (docs/data.md). */
#include "data/server_summary.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double np_srv_quantile(double *v, size_t n, double q) {
  if (n == 0) return 0;
  qsort(v, n, sizeof *v, cmp_double);
  double h = (double)(n - 1) * (q < 0 ? 0 : q > 1 ? 1 : q);
  size_t lo = (size_t)h;
  if (lo + 1 >= n) return v[n - 1];
  return v[lo] + (h - (double)lo) * (v[lo + 1] - v[lo]);
}

/* ---- responsiveness1 -------------------------------------------------- */

typedef struct {
  uint64_t start, end;
  int any;
} span;

static void span_add(span *s, uint64_t a, uint64_t b) {
  if (!s->any || a < s->start) s->start = a;
  if (!s->any || b > s->end) s->end = b;
  s->any = 1;
}

static uint64_t span_len(const span *s) { return s->any ? s->end - s->start : 0; }

/* A request still open when the record was written ends with it. */
static uint64_t req_end(const np_rpm_req_rec *q, uint64_t meas_end) {
  if (q->done_ns) return q->done_ns > q->arrival_ns ? q->done_ns : q->arrival_ns;
  return meas_end > q->arrival_ns ? meas_end : q->arrival_ns;
}

static int in_span(uint64_t t, uint64_t start, uint64_t end) { return t >= start && t <= end; }

/* Scratch space for the quantiles: one value per sample or request. */
typedef struct {
  double *rtt, *up_rtt, *svc;
} scratch;

static void probes_in(const np_rpm_record *r, np_srv_phase *p, double *svc) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < r->nreqs; i++) {
    const np_rpm_req_rec *q = &r->reqs[i];
    if (q->ep != NP_RPM_EP_SMALL || !q->done_ns || q->done_ns < q->arrival_ns ||
        !in_span(q->arrival_ns, p->start_ns, p->end_ns))
      continue;
    svc[n++] = (double)(q->done_ns - q->arrival_ns) / 1e6;
  }
  p->probes = n;
  if (n) {
    p->probe_median_ms = np_srv_quantile(svc, n, 0.5);
    p->probe_p90_ms = np_srv_quantile(svc, n, 0.9);
  }
}

static void note_min(uint32_t *m, uint32_t v) {
  if (v && (!*m || v < *m)) *m = v;
}

/* Counters of one connection over the span: what its last sample in the
 * span says, less what the last one before it said. */
static void deltas(const np_rpm_conn_rec *c, np_srv_phase *p) {
  const np_rpm_sample *before = NULL, *last = NULL;
  for (uint32_t k = 0; k < c->nsamples; k++) {
    const np_rpm_sample *s = &c->samples[k];
    if (s->t_ns < p->start_ns) before = s;
    if (in_span(s->t_ns, p->start_ns, p->end_ns)) last = s;
  }
  if (!last) return;
  uint32_t r0 = before ? before->total_retrans : 0;
  uint64_t b0 = before ? before->bytes_retrans : 0, s0 = before ? before->bytes_sent : 0;
  p->retransmits += last->total_retrans > r0 ? last->total_retrans - r0 : 0;
  p->retrans_bytes += last->bytes_retrans > b0 ? last->bytes_retrans - b0 : 0;
  p->sent_bytes += last->bytes_sent > s0 ? last->bytes_sent - s0 : 0;
}

/* A loaded phase: the load connections of its direction(s) are those that
 * carried such requests and were open during the span; their samples in
 * the span are the loaded samples. */
static void loaded(const np_rpm_record *r, np_srv_phase *p, int down, int up, uint64_t meas_end,
                   const scratch *sc) {
  uint32_t nrtt = 0, nup = 0;
  for (uint32_t i = 0; i < r->nslots; i++) {
    const np_rpm_conn_rec *c = &r->conns[i];
    int is_down = down && c->requests[NP_RPM_EP_LARGE] > 0;
    int is_up = up && c->requests[NP_RPM_EP_UPLOAD] > 0;
    uint64_t from = c->accept_ns > 0 ? (uint64_t)c->accept_ns : 0;
    uint64_t to = c->end_ns >= 0 ? (uint64_t)c->end_ns : meas_end;
    if (!c->used || !(is_down || is_up) || to < p->start_ns || from > p->end_ns) continue;
    p->load_conns++;
    for (uint32_t k = 0; k < c->nsamples; k++) {
      const np_rpm_sample *s = &c->samples[k];
      if (!in_span(s->t_ns, p->start_ns, p->end_ns)) continue;
      note_min(&p->min_rtt_us, s->min_rtt);
      /* The server sends the download: its smoothed RTT. It receives
       * the upload: only the receiver's estimate is there (the phase's
       * own figure, or the second one of a parallel phase). */
      if (is_down) {
        if (s->rtt) sc->rtt[nrtt++] = s->rtt / 1e3;
      } else if (s->rcv_rtt && !down) {
        sc->rtt[nrtt++] = s->rcv_rtt / 1e3;
      } else if (s->rcv_rtt) {
        sc->up_rtt[nup++] = s->rcv_rtt / 1e3;
      }
    }
    deltas(c, p);
  }
  p->rcv_rtt = !down;
  p->rtt_samples = nrtt;
  if (nrtt) {
    p->rtt_median_ms = np_srv_quantile(sc->rtt, nrtt, 0.5);
    p->rtt_p90_ms = np_srv_quantile(sc->rtt, nrtt, 0.9);
  }
  p->up_rtt_samples = nup;
  if (nup) {
    p->up_rtt_median_ms = np_srv_quantile(sc->up_rtt, nup, 0.5);
    p->up_rtt_p90_ms = np_srv_quantile(sc->up_rtt, nup, 0.9);
  }
  probes_in(r, p, sc->svc);
}

/* Idle: the probes before any load. No load connection exists yet, so
 * the RTT is each probe connection's last TCP_INFO, for those that closed
 * before the load began (a later snapshot would be a loaded one); the
 * minimum, of every probe connection opened before it. */
static void idle(const np_rpm_record *r, np_srv_phase *p, uint64_t load_start, int any_load,
                 const scratch *sc) {
  span s = {0};
  for (uint32_t i = 0; i < r->nreqs; i++) {
    const np_rpm_req_rec *q = &r->reqs[i];
    if (q->ep == NP_RPM_EP_SMALL && (!any_load || q->arrival_ns < load_start))
      span_add(&s, q->arrival_ns, q->done_ns > q->arrival_ns ? q->done_ns : q->arrival_ns);
  }
  if (!s.any) return;
  p->present = 1;
  p->start_ns = s.start;
  p->end_ns = s.end;
  uint32_t n = 0;
  for (uint32_t i = 0; i < r->nslots; i++) {
    const np_rpm_conn_rec *c = &r->conns[i];
    if (!c->used || !c->has_final || !c->requests[NP_RPM_EP_SMALL] ||
        c->requests[NP_RPM_EP_LARGE] || c->requests[NP_RPM_EP_UPLOAD] ||
        (any_load && c->accept_ns > 0 && (uint64_t)c->accept_ns >= load_start))
      continue;
    /* A minimum stays what the idle path gave it (the load only adds
     * longer samples); the rest of a snapshot taken under load does not. */
    note_min(&p->min_rtt_us, c->final.min_rtt);
    if (c->end_ns < 0 || (any_load && (uint64_t)c->end_ns > load_start)) continue;
    if (c->final.rtt) sc->rtt[n++] = c->final.rtt / 1e3;
    p->retransmits += c->final.total_retrans;
    p->retrans_bytes += c->final.bytes_retrans;
    p->sent_bytes += c->final.bytes_sent;
  }
  p->rtt_samples = n;
  if (n) {
    p->rtt_median_ms = np_srv_quantile(sc->rtt, n, 0.5);
    p->rtt_p90_ms = np_srv_quantile(sc->rtt, n, 0.9);
  }
  probes_in(r, p, sc->svc);
}

typedef struct {
  np_srv_phase_id id;
  const span *s;
  int down, up;
} phase_job;

int np_srv_summary_rpm(const np_rpm_record *r, np_srv_summary *ret) {
  memset(ret, 0, sizeof *ret);
  uint64_t meas_end =
      r->end_wall_ns > r->start_wall_ns ? (uint64_t)(r->end_wall_ns - r->start_wall_ns) : 0;
  span down = {0}, up = {0};
  uint64_t down_bytes = 0, up_bytes = 0;
  for (uint32_t i = 0; i < r->nreqs; i++) {
    const np_rpm_req_rec *q = &r->reqs[i];
    if (q->ep == NP_RPM_EP_LARGE) {
      span_add(&down, q->arrival_ns, req_end(q, meas_end));
      down_bytes += q->sent;
    } else if (q->ep == NP_RPM_EP_UPLOAD) {
      span_add(&up, q->arrival_ns, req_end(q, meas_end));
      up_bytes += q->received;
    }
  }
  size_t nsamples = r->nslots + 1;
  for (uint32_t i = 0; i < r->nslots; i++) nsamples += r->conns[i].nsamples;
  scratch sc = {malloc(nsamples * sizeof(double)), malloc(nsamples * sizeof(double)),
                malloc(((size_t)r->nreqs + 1) * sizeof(double))};
  if (!sc.rtt || !sc.up_rtt || !sc.svc) {
    free(sc.rtt);
    free(sc.up_rtt);
    free(sc.svc);
    return -ENOMEM;
  }
  /* Both directions at once: the two spans overlap over at least half the
   * shorter one (a sequential run's phases touch at most at their ends). */
  uint64_t lo = down.start > up.start ? down.start : up.start;
  uint64_t hi = down.end < up.end ? down.end : up.end;
  uint64_t shorter = span_len(&down) < span_len(&up) ? span_len(&down) : span_len(&up);
  int parallel = down.any && up.any && hi > lo && (hi - lo) * 2 >= shorter;
  phase_job jobs[2];
  int n = 0;
  span both = down;
  if (parallel) {
    span_add(&both, up.start, up.end);
    jobs[n++] = (phase_job){NP_SRV_PARALLEL, &both, 1, 1};
  } else {
    if (down.any) jobs[n++] = (phase_job){NP_SRV_DOWNLOAD, &down, 1, 0};
    if (up.any) jobs[n++] = (phase_job){NP_SRV_UPLOAD, &up, 0, 1};
  }
  for (int i = 0; i < n; i++) {
    np_srv_phase *p = &ret->phase[jobs[i].id];
    p->present = 1;
    p->start_ns = jobs[i].s->start;
    p->end_ns = jobs[i].s->end;
    p->down_bytes = jobs[i].down ? down_bytes : 0;
    p->up_bytes = jobs[i].up ? up_bytes : 0;
    p->body_bytes = p->down_bytes + p->up_bytes;
    loaded(r, p, jobs[i].down, jobs[i].up, meas_end, &sc);
  }
  uint64_t load_start = down.any && (!up.any || down.start < up.start) ? down.start : up.start;
  idle(r, &ret->phase[NP_SRV_IDLE], load_start, down.any || up.any, &sc);
  free(sc.rtt);
  free(sc.up_rtt);
  free(sc.svc);
  return 0;
}

/* ---- JSON ------------------------------------------------------------------ */

/* Figures to the µs or the kbit/s: more digits would claim a precision
 * the samples do not have. */
static json_t *num(double v) {
  if (!isfinite(v) || v < 0) v = 0;
  return json_real(round(v * 1000) / 1000);
}

static void set(json_t *o, const char *k, json_t *v) { (void)json_object_set_new(o, k, v); }

static double mbps(uint64_t bytes, uint64_t ns) {
  return ns ? (double)bytes * 8e3 / (double)ns : 0;
}

static void rtt_json(json_t *o, int rcv, uint32_t n, uint32_t min_us, double med, double p90) {
  set(o, "RTTSource", json_string(rcv ? "tcpi_rcv_rtt" : "tcpi_rtt"));
  set(o, "RTTSamples", json_integer(n));
  if (min_us) set(o, "MinRTTMs", num(min_us / 1e3));
  if (n) {
    set(o, "LoadedRTTMedianMs", num(med));
    set(o, "LoadedRTTP90Ms", num(p90));
  }
}

static void retrans_json(json_t *o, uint64_t segs, uint64_t bytes, uint64_t sent) {
  set(o, "Retransmits", json_integer((json_int_t)segs));
  if (sent) set(o, "RetransPct", num(100.0 * (double)bytes / (double)sent));
}

static json_t *phase_json(const np_srv_phase *p, int parallel) {
  json_t *o = json_object();
  if (!o) return NULL;
  uint64_t len = p->end_ns - p->start_ns;
  set(o, "StartTime", json_integer((json_int_t)(p->start_ns / NP_NS_PER_US)));
  set(o, "EndTime", json_integer((json_int_t)(p->end_ns / NP_NS_PER_US)));
  set(o, "LoadConnections", json_integer(p->load_conns));
  set(o, "LoadBodyBytes", json_integer((json_int_t)p->body_bytes));
  set(o, "GoodputMbps", num(mbps(p->body_bytes, len)));
  if (parallel) {
    set(o, "DownloadBodyBytes", json_integer((json_int_t)p->down_bytes));
    set(o, "UploadBodyBytes", json_integer((json_int_t)p->up_bytes));
    set(o, "DownloadGoodputMbps", num(mbps(p->down_bytes, len)));
    set(o, "UploadGoodputMbps", num(mbps(p->up_bytes, len)));
  }
  rtt_json(o, p->rcv_rtt, p->rtt_samples, p->min_rtt_us, p->rtt_median_ms, p->rtt_p90_ms);
  if (parallel) {
    set(o, "UploadRTTSource", json_string("tcpi_rcv_rtt"));
    set(o, "UploadRTTSamples", json_integer(p->up_rtt_samples));
    if (p->up_rtt_samples) {
      set(o, "UploadLoadedRTTMedianMs", num(p->up_rtt_median_ms));
      set(o, "UploadLoadedRTTP90Ms", num(p->up_rtt_p90_ms));
    }
  }
  retrans_json(o, p->retransmits, p->retrans_bytes, p->sent_bytes);
  set(o, "Probes", json_integer(p->probes));
  if (p->probes) {
    set(o, "ProbeServiceMedianMs", num(p->probe_median_ms));
    set(o, "ProbeServiceP90Ms", num(p->probe_p90_ms));
  }
  return o;
}

json_t *np_srv_summary_rpm_json(const np_srv_summary *s) {
  static const char *const names[NP_SRV_PHASES] = {"Idle", "Download", "Upload", "Parallel"};
  json_t *o = json_object();
  if (!o) return NULL;
  set(o, "SchemaVersion", json_integer(NP_SRV_SUMMARY_VERSION));
  for (int i = 0; i < NP_SRV_PHASES; i++) {
    if (!s->phase[i].present) continue;
    json_t *p = phase_json(&s->phase[i], i == NP_SRV_PARALLEL);
    if (!p) {
      json_decref(o);
      return NULL;
    }
    set(o, names[i], p);
  }
  return o;
}

/* ---- ndt7 ------------------------------------------------------------------ */

static uint64_t get_u64(const json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

json_t *np_srv_summary_ndt7_json(const json_t *record, int upload) {
  const json_t *ms = json_object_get(record, "ServerMeasurements");
  size_t n = json_array_size(ms);
  double *rtt = malloc((n + 1) * sizeof *rtt);
  json_t *o = json_object();
  if (!rtt || !o) {
    free(rtt);
    json_decref(o);
    return NULL;
  }
  uint32_t nrtt = 0, min_us = 0;
  const json_t *last_ti = NULL, *last_app = NULL;
  for (size_t i = 0; i < n; i++) {
    const json_t *m = json_array_get(ms, i), *ti = json_object_get(m, "TCPInfo");
    const json_t *app = json_object_get(m, "AppInfo");
    if (json_is_object(app)) last_app = app;
    if (!json_is_object(ti)) continue;
    last_ti = ti;
    uint64_t min = get_u64(ti, "MinRTT"), v = get_u64(ti, upload ? "RcvRTT" : "RTT");
    note_min(&min_us, min > UINT32_MAX ? UINT32_MAX : (uint32_t)min);
    if (v) rtt[nrtt++] = (double)v / 1e3;
  }
  set(o, "SchemaVersion", json_integer(NP_SRV_SUMMARY_VERSION));
  set(o, "Direction", json_string(upload ? "upload" : "download"));
  /* AppInfo: payload bytes the server wrote or read, over its own clock. */
  set(o, "GoodputMbps",
      num(mbps(get_u64(last_app, "NumBytes"), get_u64(last_app, "ElapsedTime") * NP_NS_PER_US)));
  double med = nrtt ? np_srv_quantile(rtt, nrtt, 0.5) : 0;
  double p90 = nrtt ? np_srv_quantile(rtt, nrtt, 0.9) : 0;
  rtt_json(o, upload, nrtt, min_us, med, p90);
  retrans_json(o, get_u64(last_ti, "TotalRetrans"), get_u64(last_ti, "BytesRetrans"),
               get_u64(last_ti, "BytesSent"));
  free(rtt);
  return o;
}
