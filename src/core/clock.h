/* Clocks: monotonic for durations, wall only for timestamps in data. */
#ifndef NP_CORE_CLOCK_H
#define NP_CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define NP_NS_PER_US 1000ULL
#define NP_NS_PER_MS 1000000ULL
#define NP_NS_PER_S 1000000000ULL

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t np_mono_ns(void);

/* CLOCK_REALTIME in nanoseconds since the Unix epoch. */
int64_t np_wall_ns(void);

/* Formats wall time as RFC 3339 with nanoseconds in UTC, the way Go's
 * time.RFC3339Nano does (trailing zeros of the fraction dropped), e.g.
 * "2026-11-27T07:51:59.123456789Z". Returns the length written, or a
 * negative error if out is too small (needs <= 40 bytes). */
int np_format_rfc3339nano(int64_t wall_ns, char *out, size_t n);

/* Formats wall time as ndt-server's file-name stamp
 * "20060102T150405.000000000Z" (always nine fraction digits). */
int np_format_filestamp(int64_t wall_ns, char *out, size_t n);

#endif
