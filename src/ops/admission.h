/* Admission control: concurrency, transmit rate, bandwidth budget, spool. */
#ifndef NP_OPS_ADMISSION_H
#define NP_OPS_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Pure: time is passed in (monotonic ns), no I/O, no clock, not
 * thread-safe (call from the event loop). */

/* ---- transmit controller (M-Lab access/controller/txcontroller) -------- */

/* Sample period the formula is tuned for. */
#define NP_TXCTL_PERIOD_NS 100000000ULL

typedef struct {
  double max_bps;  /* 0 = never limited */
  double rate_bps; /* smoothed rate */
  uint64_t last_ns;
  uint64_t last_bytes;
  bool primed;
} np_txctl;

void np_txctl_init(np_txctl *c, double max_bps);
/* Call every ~100 ms with a monotonic total of transmitted bytes (device or
 * process counter). rate = max(now_rate, 0.95*prev + 0.05*now_rate), in
 * bits/s. The first sample and a counter that went backwards only rebase.
 * Returns 0, or NP_E_BADARG for time that did not advance. */
int np_txctl_sample(np_txctl *c, uint64_t now_ns, uint64_t total_tx_bytes);
/* True while the smoothed rate exceeds max_bps. */
bool np_txctl_limited(const np_txctl *c);

/* ---- admission ---------------------------------------------------------- */

typedef enum {
  NP_ADMIT_OK = 0,
  NP_ADMIT_AT_CAPACITY,
  NP_ADMIT_CLIENT_LIMIT,
  NP_ADMIT_TX_RATE,
  NP_ADMIT_BUDGET,
  NP_ADMIT_SPOOL_FULL,
  NP_ADMIT_SPOOL_UNWRITABLE,
  NP_ADMIT_LAME_DUCK,
  NP_ADMIT_REASON_COUNT
} np_admit_reason;

/* "admitted", "at_capacity", "client_limit", "tx_rate", "budget",
 * "spool_full", "spool_unwritable", "lame_duck": stable, for metric labels and 503 bodies. */
const char *np_admit_reason_str(np_admit_reason r);

#define NP_ADMIT_MAX_CONCURRENT 65536
#define NP_ADMIT_MAX_WINDOW_S 3600
#define NP_ADMIT_MAX_IP_LEN 63

typedef struct {
  uint32_t max_concurrent;  /* required, 1..NP_ADMIT_MAX_CONCURRENT */
  uint32_t max_per_client;  /* 0 = no per-IP limit */
  double tx_max_rate_bps;   /* 0 = no transmit controller */
  double budget_bps;        /* 0 = no bandwidth budget */
  uint32_t budget_window_s; /* 1..NP_ADMIT_MAX_WINDOW_S when budget set */
  /* Transmit bytes reserved per admitted transmitting test: test_bytes if
   * non-zero, else test_rate_bps * test_duration_s / 8. The reservation is
   * the test's allowance: the budget holds only if the server stops a test's
   * transmission once it has sent this many bytes (decision.byte_allowance). */
  uint64_t test_bytes;
  double test_rate_bps;
  double test_duration_s;      /* also the expected test length for Retry-After */
  uint64_t spool_max_bytes;    /* 0 = no quota */
  uint32_t spool_retry_s;      /* Retry-After for spool_full (0: 60) */
  uint32_t unwritable_retry_s; /* Retry-After for spool_unwritable (0: 10) */
  uint32_t lame_duck_retry_s;  /* Retry-After for lame_duck (0: 30) */
} np_admission_config;

typedef struct np_admission np_admission;

/* NP_E_BADARG for an invalid config, including a per-test reservation
 * larger than the whole window's budget (no test could ever be admitted). */
int np_admission_new(const np_admission_config *cfg, np_admission **ret);
void np_admission_free(np_admission *a); /* NULL-safe */

typedef struct {
  const char *test;      /* "ndt7", "rpm": informational */
  bool transmits;        /* the server sends the bulk (a download) */
  bool monitoring;       /* token sub == "monitoring": no transmit limits */
  const char *client_ip; /* textual, <= NP_ADMIT_MAX_IP_LEN */
  uint64_t now_ns;       /* monotonic */
  uint64_t spool_bytes;  /* current spool usage */
  bool spool_unwritable; /* the last write or probe of the spool failed */
} np_admit_request;

typedef struct {
  np_admit_reason reason;
  uint32_t retry_after_s;  /* >= 1 when refused, 0 when admitted */
  uint64_t ticket;         /* pass to np_admit_release() */
  uint64_t byte_allowance; /* transmit bytes reserved (0: unlimited) */
} np_admit_decision;

/* Checks, in order: lame duck, spool quota, spool writable, concurrency, per-client limit,
 * transmit controller, bandwidth budget (the last two skipped for
 * monitoring and for tests that do not transmit). Returns 0 and a ticket
 * when admitted, NP_E_REFUSED with reason and retry_after_s when refused,
 * NP_E_BADARG for a bad request. *ret is always written. */
int np_admit(np_admission *a, const np_admit_request *req, np_admit_decision *ret);

/* Ends an admitted test. A stale or unknown ticket is ignored (-ENOENT). */
int np_admit_release(np_admission *a, uint64_t ticket);

/* Reports how many bytes a running test has transmitted so far (a running
 * total). Without it a test's bytes count twice while it runs (in the
 * history and in its full reservation): safe for the budget but wasteful,
 * and Retry-After is then only a lower bound. Report every test's total
 * right before np_admission_sample() in the same tick, from counters that
 * do not run ahead of the sampled total. -ENOENT for a stale ticket. */
int np_admit_progress(np_admission *a, uint64_t ticket, uint64_t sent_bytes);

/* Feeds the transmit controller and the budget history; call every
 * NP_TXCTL_PERIOD_NS with the same monotonic byte total. */
int np_admission_sample(np_admission *a, uint64_t now_ns, uint64_t total_tx_bytes);

void np_admission_set_lame_duck(np_admission *a, bool on);

typedef struct {
  uint32_t active;       /* tests running */
  double concurrency;    /* active / max_concurrent */
  double tx_rate_bps;    /* controller's smoothed rate */
  double budget;         /* (window bytes + reservations) / budget, 0..1+ */
  double spool;          /* spool_bytes / spool_max_bytes */
  uint64_t window_bytes; /* bytes sent in the current window */
} np_admission_stats;

/* Saturation per limit, for the 0..1 gauges. */
void np_admission_stats_get(const np_admission *a, uint64_t now_ns, uint64_t spool_bytes,
                            np_admission_stats *ret);

#endif
