/* The client's own summary of a responsiveness measurement (POST
 * /rpm/v1/result): parsed under caps and reduced to an allow-list of
 * members, so nothing but numbers and fixed words reaches the data. */
#ifndef NP_RPM_SUMMARY_H
#define NP_RPM_SUMMARY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define NP_RPM_SUMMARY_MAX_BYTES (16u << 10)

/* Parses body (at most NP_RPM_SUMMARY_MAX_BYTES of JSON, one object) and
 * returns in *ret a new object holding only the allow-listed members with
 * values of their type: finite numbers in [0, 1e12], or one of a member's
 * fixed words. Everything else is dropped and counted in *ret_dropped.
 * 0, NP_E_TOOBIG, NP_E_JSON (not JSON, or not an object), -ENOMEM. *ret
 * and *ret_dropped are written only on success. */
int np_rpm_summary_clean(const uint8_t *body, size_t len, json_t **ret, uint32_t *ret_dropped);

#endif
