/* Prometheus registry and text exposition (format 0.0.4) writer, I/O-free. */
#ifndef NP_OPS_PROM_H
#define NP_OPS_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Ownership: the registry owns every family and series it hands out; handles
 * stay valid until np_prom_free(). Nothing here is thread-safe: update and
 * write from one thread (the event loop). Every update function accepts a
 * NULL series and does nothing, so a refused np_prom_with() (cap reached,
 * bad value, no memory) degrades to "increments go nowhere". */
typedef struct np_prom_registry np_prom_registry;
typedef struct np_prom_family np_prom_family;
typedef struct np_prom_series np_prom_series;

/* A value computed at scrape time (e.g. resident memory). */
typedef double (*np_prom_value_fn)(void *arg);

/* Series per family beyond which new label combinations are dropped. */
#define NP_PROM_MAX_SERIES 256
/* Families per registry, labels per family, buckets per histogram. */
#define NP_PROM_MAX_FAMILIES 256
#define NP_PROM_MAX_LABELS 8
#define NP_PROM_MAX_BUCKETS 64
/* Longest label value accepted (longer values are dropped, not truncated,
 * so two distinct values never collide into one series). */
#define NP_PROM_MAX_VALUE_LEN 256

/* The registry always exports this counter: np_prom_with() calls refused
 * because a family was full or a label value was invalid. */
#define NP_PROM_DROPPED_NAME "netpulse_prom_series_dropped_total"

/* NULL on allocation failure. */
np_prom_registry *np_prom_new(void);
/* Frees the registry and every handle it gave out. NULL-safe. */
void np_prom_free(np_prom_registry *reg);

/* Create a family. name must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]* (no "__" prefix, not "le" for histograms), no
 * duplicates. help and names are copied. NULL on a bad argument, a duplicate
 * family name, too many families, or no memory. A family without labels
 * has its one series from the start (value 0). */
np_prom_family *np_prom_counter(np_prom_registry *reg, const char *name, const char *help,
                                size_t nlabels, const char *const *label_names);
np_prom_family *np_prom_gauge(np_prom_registry *reg, const char *name, const char *help,
                              size_t nlabels, const char *const *label_names);
/* bounds: strictly increasing, finite upper bounds (a trailing +Inf is
 * accepted and ignored: the +Inf bucket is always there). */
np_prom_family *np_prom_histogram(np_prom_registry *reg, const char *name, const char *help,
                                  size_t nlabels, const char *const *label_names,
                                  const double *bounds, size_t nbounds);

/* Find or create the series for label_values (nlabels strings, in the
 * family's label-name order; NULL when the family has no labels). Returns a
 * handle for fast updates, or NULL (counted as dropped) when the family
 * already holds NP_PROM_MAX_SERIES series, a value is NULL, too long or not
 * valid UTF-8, or memory ran out. */
np_prom_series *np_prom_with(np_prom_family *fam, const char *const *label_values);

/* Counters: adds v (v < 0 or NaN is ignored: counters never go down).
 * Gauges: adds v (may be negative). Histograms: ignored. */
void np_prom_inc(np_prom_series *s, double v);
/* Gauges, and counters mirroring a monotonic total kept elsewhere. */
void np_prom_set(np_prom_series *s, double v);
/* Histograms only: counts v in the first bucket whose bound is >= v. */
void np_prom_observe(np_prom_series *s, double v);
/* Counters and gauges: at every write, the value is fn(arg) instead of the
 * stored one. fn must be cheap and must not touch the registry. */
void np_prom_set_fn(np_prom_series *s, np_prom_value_fn fn, void *arg);

/* Current stored value of a counter/gauge series (0 for NULL). For tests
 * and for deltas inside the process. */
double np_prom_value(const np_prom_series *s);
/* Refused np_prom_with() calls, over all families. */
uint64_t np_prom_dropped(const np_prom_registry *reg);

/* Appends the whole exposition to out (families in creation order, series
 * in creation order). NP_E_TOOBIG if out's max is too small (out then holds
 * a truncated exposition that must not be served), -ENOMEM. */
int np_prom_write(const np_prom_registry *reg, np_buf *out);

/* Formats v the way the exposition does: integers without a fraction,
 * otherwise the shortest round-tripping decimal; "+Inf", "-Inf", "NaN".
 * Returns the length (< n) or NP_E_TOOBIG; n >= 32 always suffices. */
int np_prom_format_value(double v, char *out, size_t n);

/* The Content-Type to serve np_prom_write() output with. */
#define NP_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Registers the standard process_* metrics (process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds) with
 * values read from /proc/self at scrape time. Implemented in procstat.c. */
int np_procstat_register(np_prom_registry *reg);

#endif
