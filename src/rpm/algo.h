/* The responsiveness algorithm of draft-ietf-ippm-responsiveness-09 without
 * I/O or clocks: the caller reports probe times and each interval's load
 * bytes with the time they were taken; this module decides when to add a
 * load flow and when the test is done, and computes trimmed means, the RPM
 * figures and the confidence. */
#ifndef NP_RPM_ALGO_H
#define NP_RPM_ALGO_H

#include <stddef.h>
#include <stdint.h>

/* The draft's parameters (names as in the draft). */
typedef struct {
  uint64_t interval_ns;     /* ID: interval between flow additions and checks (1 s) */
  uint32_t mad;             /* MAD: intervals in a moving average (4) */
  double tmp;               /* TMP: fraction kept by the trimmed mean (0.95) */
  double sdt;               /* SDT: stability when stddev < SDT * mean (0.05) */
  double mps;               /* MPS: probes per second at most (100) */
  double ptc;               /* PTC: probe bytes at most this share of load bytes (0.05) */
  uint32_t max_flows;       /* load connections per direction at most (16) */
  uint64_t max_duration_ns; /* a loaded phase ends after this long (20 s) */
} np_rpm_params;

#define NP_RPM_MAX_INTERVALS 1024 /* intervals one phase can hold */
#define NP_RPM_MAX_PROBES 65536   /* probes kept per phase; later ones are dropped */

void np_rpm_params_default(np_rpm_params *p);

/* 0, or NP_E_BADARG naming nothing: the caller checks ranges for messages. */
int np_rpm_params_check(const np_rpm_params *p);

typedef enum { NP_RPM_CONF_LOW = 0, NP_RPM_CONF_MEDIUM, NP_RPM_CONF_HIGH } np_rpm_confidence;

/* "Low", "Medium", "High". */
const char *np_rpm_confidence_name(np_rpm_confidence c);

/* The draft's bands: "Poor" < 300 RPM, "Fair" < 1000, "Good" < 6000,
 * "Excellent" from 6000; "" for 0 (no result). */
const char *np_rpm_band(double rpm);

/* Single-sided trimmed mean: sorts v[0..n) ascending and averages the
 * smallest values after dropping floor(n * (1 - keep)) of the largest.
 * 0 when n == 0. */
double np_rpm_trimmed_mean(double *v, size_t n, double keep);

/* Mean and population standard deviation of v[0..n). */
void np_rpm_mean_stddev(const double *v, size_t n, double *ret_mean, double *ret_sd);

typedef enum { NP_RPM_KIND_FOREIGN = 0, NP_RPM_KIND_SELF = 1 } np_rpm_kind;

/* One probe as stored (times in ms; tls < 0 when there was no TLS). */
typedef struct {
  uint64_t t_ns; /* when it completed, since the phase started */
  uint32_t interval;
  uint8_t kind;
  double tcp_ms, tls_ms, http_ms;
} np_rpm_probe;

/* What np_rpm_algo_interval tells the caller to do next. */
typedef enum { NP_RPM_STEP_KEEP = 0, NP_RPM_STEP_ADD_FLOW, NP_RPM_STEP_DONE } np_rpm_step;

typedef struct {
  np_rpm_params p;
  uint64_t start_ns;
  uint64_t last_ns;                        /* when the last interval closed */
  uint32_t nint;                           /* completed intervals */
  double goodput[NP_RPM_MAX_INTERVALS];    /* bit/s of each interval */
  double secs[NP_RPM_MAX_INTERVALS];       /* real length of each interval */
  double gp_ma[NP_RPM_MAX_INTERVALS];      /* moving average of goodput (0: not yet) */
  double rpm_ma[NP_RPM_MAX_INTERVALS];     /* RPM over the last MAD intervals (0: none) */
  uint32_t flows_at[NP_RPM_MAX_INTERVALS]; /* flows during each interval */
  int goodput_stable;                      /* sticky once reached */
  uint32_t goodput_stable_at;              /* interval count when it was reached */
  int rpm_stable;
  int done;
  np_rpm_probe *probes; /* malloc'd, grows up to NP_RPM_MAX_PROBES */
  size_t nprobes, cap;
  uint64_t dropped;
} np_rpm_algo;

/* Starts a phase at now_ns. 0, NP_E_BADARG, -ENOMEM. */
int np_rpm_algo_init(np_rpm_algo *a, const np_rpm_params *p, uint64_t now_ns);
void np_rpm_algo_free(np_rpm_algo *a);

/* A foreign probe completed at now_ns: TCP handshake, TLS handshake per
 * round trip (< 0: cleartext) and HTTP GET times, in ms. 0 or -ENOMEM. */
int np_rpm_algo_foreign(np_rpm_algo *a, uint64_t now_ns, double tcp_ms, double tls_ms,
                        double http_ms);

/* A self probe (GET on a load connection) took http_ms. */
int np_rpm_algo_self(np_rpm_algo *a, uint64_t now_ns, double http_ms);

/* Closes the interval ending at now_ns in which the load flows (flows of
 * them) moved bytes: updates the moving averages and stability, and says
 * whether to add a flow, keep going, or stop (both stable, or
 * max_duration reached). */
np_rpm_step np_rpm_algo_interval(np_rpm_algo *a, uint64_t now_ns, uint64_t bytes, uint32_t flows);

/* The gap between probe rounds (one round = probes_per_round probes of
 * about bytes_per_probe wire bytes each) that keeps within MPS and PTC of
 * the last interval's goodput. */
uint64_t np_rpm_algo_probe_gap_ns(const np_rpm_algo *a, uint32_t probes_per_round,
                                  uint32_t bytes_per_probe);

/* The outcome of a phase. Times in ms, goodput in Mbit/s; 0 when unknown. */
typedef struct {
  double rpm, rpm_foreign, rpm_loaded;
  double tm_tcp_ms, tm_tls_ms, tm_http_foreign_ms, tm_http_self_ms;
  double latency_ms; /* 60000 / rpm: the round trip the RPM stands for */
  double goodput_mbps;
  uint32_t intervals, flows;
  uint64_t probes_foreign, probes_self; /* used in the trimmed means */
  uint64_t probes_total;
  int goodput_stable, rpm_stable;
  np_rpm_confidence confidence;
} np_rpm_outcome;

/* Computes the outcome from the probes of the last MAD intervals (all
 * intervals when fewer; with no completed interval, from every probe). */
void np_rpm_algo_outcome(const np_rpm_algo *a, np_rpm_outcome *ret);

#endif
