/* The draft-09 responsiveness algorithm: flow ramp, moving averages over
 * MAD intervals, goodput then responsiveness stability (SDT), single-sided
 * trimmed means (TMP), the RPM formula and the confidence. Pure: time and
 * samples come from the caller. */
#include "rpm/algo.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"

void np_rpm_params_default(np_rpm_params *p) {
  p->interval_ns = NP_NS_PER_S;
  p->mad = 4;
  p->tmp = 0.95;
  p->sdt = 0.05;
  p->mps = 100;
  p->ptc = 0.05;
  p->max_flows = 16;
  p->max_duration_ns = 20 * NP_NS_PER_S;
}

int np_rpm_params_check(const np_rpm_params *p) {
  if (p->interval_ns < 10 * NP_NS_PER_MS || p->mad < 1 || p->mad > 64 || !(p->tmp > 0) ||
      p->tmp > 1 || !(p->sdt > 0) || p->sdt > 1 || !(p->mps > 0) || p->mps > 10000 ||
      !(p->ptc > 0) || p->ptc > 1 || p->max_flows < 1 || p->max_flows > 64 ||
      p->max_duration_ns < p->interval_ns ||
      p->max_duration_ns / p->interval_ns >= NP_RPM_MAX_INTERVALS)
    return NP_E_BADARG;
  return 0;
}

const char *np_rpm_confidence_name(np_rpm_confidence c) {
  return c == NP_RPM_CONF_HIGH ? "High" : c == NP_RPM_CONF_MEDIUM ? "Medium" : "Low";
}

const char *np_rpm_band(double rpm) {
  if (!(rpm > 0) || !isfinite(rpm)) return "";
  if (rpm < 300) return "Poor";
  if (rpm < 1000) return "Fair";
  if (rpm < 6000) return "Good";
  return "Excellent";
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

double np_rpm_trimmed_mean(double *v, size_t n, double keep) {
  if (n == 0) return 0;
  qsort(v, n, sizeof *v, cmp_double);
  /* Only the slow tail goes: a probe cannot be faster than the path, but
   * one stuck behind a loss is not what the test describes. */
  size_t drop = (size_t)floor((double)n * (1.0 - keep) + 1e-9);
  if (drop >= n) drop = n - 1;
  size_t k = n - drop;
  double sum = 0;
  for (size_t i = 0; i < k; i++) sum += v[i];
  return sum / (double)k;
}

void np_rpm_mean_stddev(const double *v, size_t n, double *ret_mean, double *ret_sd) {
  double m = 0, s = 0;
  for (size_t i = 0; i < n; i++) m += v[i];
  m = n ? m / (double)n : 0;
  for (size_t i = 0; i < n; i++) s += (v[i] - m) * (v[i] - m);
  *ret_mean = m;
  *ret_sd = n ? sqrt(s / (double)n) : 0;
}

int np_rpm_algo_init(np_rpm_algo *a, const np_rpm_params *p, uint64_t now_ns) {
  if (np_rpm_params_check(p) < 0) return NP_E_BADARG;
  memset(a, 0, sizeof *a);
  a->p = *p;
  a->start_ns = a->last_ns = now_ns;
  a->cap = 1024;
  a->probes = malloc(a->cap * sizeof *a->probes);
  return a->probes ? 0 : -ENOMEM;
}

void np_rpm_algo_free(np_rpm_algo *a) {
  if (!a) return;
  free(a->probes);
  a->probes = NULL;
  a->nprobes = a->cap = 0;
}

static int add_probe(np_rpm_algo *a, uint64_t now_ns, int kind, double tcp, double tls,
                     double http) {
  if (!isfinite(tcp) || !isfinite(tls) || !isfinite(http) || http < 0 || tcp < 0)
    return NP_E_BADARG;
  if (a->nprobes == NP_RPM_MAX_PROBES) {
    a->dropped++;
    return 0;
  }
  if (a->nprobes == a->cap) {
    size_t cap = a->cap * 2;
    np_rpm_probe *p = realloc(a->probes, cap * sizeof *p);
    if (!p) return -ENOMEM;
    a->probes = p;
    a->cap = cap;
  }
  np_rpm_probe *p = &a->probes[a->nprobes++];
  p->t_ns = now_ns > a->start_ns ? now_ns - a->start_ns : 0;
  /* A probe belongs to the interval that is open when it completes. */
  p->interval = a->nint;
  p->kind = (uint8_t)kind;
  p->tcp_ms = tcp;
  p->tls_ms = tls;
  p->http_ms = http;
  return 0;
}

int np_rpm_algo_foreign(np_rpm_algo *a, uint64_t now_ns, double tcp_ms, double tls_ms,
                        double http_ms) {
  return add_probe(a, now_ns, NP_RPM_KIND_FOREIGN, tcp_ms, tls_ms < 0 ? -1 : tls_ms, http_ms);
}

int np_rpm_algo_self(np_rpm_algo *a, uint64_t now_ns, double http_ms) {
  return add_probe(a, now_ns, NP_RPM_KIND_SELF, 0, -1, http_ms);
}

/* Trimmed means and RPM over the probes of intervals [lo, hi]. */
static void window(const np_rpm_algo *a, uint32_t lo, uint32_t hi, np_rpm_outcome *o) {
  size_t n = 0;
  for (size_t i = 0; i < a->nprobes; i++)
    if (a->probes[i].interval >= lo && a->probes[i].interval <= hi) n++;
  double *buf = n ? malloc(4 * n * sizeof *buf) : NULL;
  if (!buf) return;
  double *tcp = buf, *tls = buf + n, *hf = buf + 2 * n, *hs = buf + 3 * n;
  size_t nf = 0, nt = 0, ns = 0;
  for (size_t i = 0; i < a->nprobes; i++) {
    const np_rpm_probe *p = &a->probes[i];
    if (p->interval < lo || p->interval > hi) continue;
    if (p->kind == NP_RPM_KIND_SELF) {
      hs[ns++] = p->http_ms;
      continue;
    }
    tcp[nf] = p->tcp_ms;
    hf[nf++] = p->http_ms;
    if (p->tls_ms >= 0) tls[nt++] = p->tls_ms;
  }
  o->probes_foreign = nf;
  o->probes_self = ns;
  o->tm_tcp_ms = np_rpm_trimmed_mean(tcp, nf, a->p.tmp);
  o->tm_tls_ms = np_rpm_trimmed_mean(tls, nt, a->p.tmp);
  o->tm_http_foreign_ms = np_rpm_trimmed_mean(hf, nf, a->p.tmp);
  o->tm_http_self_ms = np_rpm_trimmed_mean(hs, ns, a->p.tmp);
  free(buf);
  /* Foreign: the mean of the handshakes and the GET, each one round trip
   * (TLS already per round trip); cleartext leaves TLS out. */
  double parts = nt ? 3 : 2;
  double fm = (o->tm_tcp_ms + (nt ? o->tm_tls_ms : 0) + o->tm_http_foreign_ms) / parts;
  o->rpm_foreign = nf && fm > 0 ? 60000.0 / fm : 0;
  o->rpm_loaded = ns && o->tm_http_self_ms > 0 ? 60000.0 / o->tm_http_self_ms : 0;
  if (o->rpm_foreign > 0 && o->rpm_loaded > 0)
    o->rpm = (o->rpm_foreign + o->rpm_loaded) / 2;
  else
    o->rpm = o->rpm_foreign > 0 ? o->rpm_foreign : o->rpm_loaded;
  o->latency_ms = o->rpm > 0 ? 60000.0 / o->rpm : 0;
}

/* Whether the last mad values of ma (ending at index i) exist and their
 * standard deviation is under sdt times the newest. */
static int stable(const double *ma, uint32_t i, uint32_t mad, double sdt) {
  if (i + 1 < mad) return 0;
  for (uint32_t k = i + 1 - mad; k <= i; k++)
    if (!(ma[k] > 0)) return 0;
  double m, sd;
  np_rpm_mean_stddev(ma + (i + 1 - mad), mad, &m, &sd);
  return sd < sdt * ma[i];
}

np_rpm_step np_rpm_algo_interval(np_rpm_algo *a, uint64_t now_ns, uint64_t bytes, uint32_t flows) {
  if (a->done || a->nint >= NP_RPM_MAX_INTERVALS) {
    a->done = 1;
    return NP_RPM_STEP_DONE;
  }
  uint32_t i = a->nint;
  uint32_t mad = a->p.mad;
  /* The real length of the interval: timers fire late under load. */
  uint64_t dt = now_ns > a->last_ns ? now_ns - a->last_ns : a->p.interval_ns;
  a->last_ns = now_ns;
  a->secs[i] = (double)dt / 1e9;
  a->goodput[i] = (double)bytes * 8.0 / a->secs[i];
  a->flows_at[i] = flows;
  if (i + 1 >= mad) {
    /* The window's bits over its time, not the mean of its rates: a late
     * timer makes a long interval whose bytes partly land in the next,
     * short one, and the mean of the two rates then reads above the link
     * (49.9 Mbit/s on a 47.8 lab link). */
    double bits = 0, t = 0;
    for (uint32_t k = i + 1 - mad; k <= i; k++) {
      bits += a->goodput[k] * a->secs[k];
      t += a->secs[k];
    }
    a->gp_ma[i] = t > 0 ? bits / t : 0;
    np_rpm_outcome w;
    memset(&w, 0, sizeof w);
    window(a, i + 1 - mad, i, &w);
    a->rpm_ma[i] = w.rpm;
  }
  a->nint++;
  if (!a->goodput_stable && stable(a->gp_ma, i, mad, a->p.sdt)) {
    a->goodput_stable = 1;
    a->goodput_stable_at = a->nint;
  }
  /* Responsiveness counts once the load stopped growing. */
  if (a->goodput_stable && stable(a->rpm_ma, i, mad, a->p.sdt)) a->rpm_stable = 1;
  uint64_t ran = now_ns > a->start_ns ? now_ns - a->start_ns : 0;
  if ((a->goodput_stable && a->rpm_stable) || ran + a->p.interval_ns / 2 >= a->p.max_duration_ns ||
      a->nint >= NP_RPM_MAX_INTERVALS) {
    a->done = 1;
    return NP_RPM_STEP_DONE;
  }
  if (!a->goodput_stable && flows < a->p.max_flows) return NP_RPM_STEP_ADD_FLOW;
  return NP_RPM_STEP_KEEP;
}

uint64_t np_rpm_algo_probe_gap_ns(const np_rpm_algo *a, uint32_t probes_per_round,
                                  uint32_t bytes_per_probe) {
  if (probes_per_round == 0) probes_per_round = 1;
  double rate = a->p.mps / probes_per_round; /* rounds per second */
  if (a->nint > 0 && bytes_per_probe > 0) {
    double load = a->goodput[a->nint - 1] / 8.0; /* bytes per second */
    double ptc = a->p.ptc * load / ((double)probes_per_round * bytes_per_probe);
    if (ptc < rate) rate = ptc;
  }
  double gap = rate > 0 ? 1e9 / rate : (double)a->p.interval_ns;
  /* At least one round per interval: a phase without probes says nothing. */
  if (gap > (double)a->p.interval_ns) gap = (double)a->p.interval_ns;
  return (uint64_t)gap;
}

/* The goodput figure of a phase: the median of the last MAD moving
 * averages (the values the stability check judged), not the last one
 * alone. Bytes read are credited when TCP hands them over: a loss hole
 * holds everything behind it in the receiver's out-of-order queue, up to
 * a round trip of the flow's data, and releases it at once when the
 * retransmission fills it. Inside a window that only moves bytes between
 * intervals; at a window's start it credits bytes that arrived before it
 * (a 4 s window read 49.47 Mbit/s on a 47.82 link). Such a shift across
 * one interval boundary lifts the one window that starts there and lowers
 * the one that ends there, so the median of the windows sets both aside. */
static double goodput_figure(const np_rpm_algo *a, uint32_t hi) {
  double v[64]; /* mad <= 64 (np_rpm_params_check) */
  size_t n = 0;
  for (uint32_t k = 0; k < a->p.mad && k <= hi && n < sizeof v / sizeof v[0]; k++)
    if (a->gp_ma[hi - k] > 0) v[n++] = a->gp_ma[hi - k];
  if (n == 0) return a->goodput[hi];
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void np_rpm_algo_outcome(const np_rpm_algo *a, np_rpm_outcome *o) {
  memset(o, 0, sizeof *o);
  uint32_t hi = a->nint ? a->nint - 1 : 0, lo = 0;
  if (a->nint >= a->p.mad) lo = a->nint - a->p.mad;
  /* Probes that completed after the last interval closed belong to it. */
  window(a, lo, a->nint ? a->nint : 0, o);
  o->intervals = a->nint;
  o->probes_total = a->nprobes;
  o->goodput_stable = a->goodput_stable;
  o->rpm_stable = a->rpm_stable;
  if (a->nint) {
    o->flows = a->flows_at[hi];
    o->goodput_mbps = goodput_figure(a, hi) / 1e6;
  }
  if (a->goodput_stable && a->rpm_stable)
    o->confidence = NP_RPM_CONF_HIGH;
  else if (a->nint >= a->p.mad && o->rpm > 0)
    o->confidence = NP_RPM_CONF_MEDIUM;
  else
    o->confidence = NP_RPM_CONF_LOW;
}
