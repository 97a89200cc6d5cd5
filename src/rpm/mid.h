/* RPM measurement IDs: stateless capabilities minted with each config
 * response, an HMAC over (id, client address, expiry) under a secret that
 * rotates in memory. No I/O; time and randomness are passed in. */
#ifndef NP_RPM_MID_H
#define NP_RPM_MID_H

#include <stddef.h>
#include <stdint.h>

#include "core/slice.h"

/* Raw form: version, key generation (low byte), id (8), expiry seconds
 * (4), truncated HMAC-SHA256 (16). Text form: base64url, 40 characters. */
#define NP_RPM_MID_RAW 30
#define NP_RPM_MID_LEN 40
#define NP_RPM_KEY_LEN 32

/* What np_rpm_mid_check finds wrong. */
typedef enum {
  NP_RPM_MID_OK = 0,
  NP_RPM_MID_MISSING, /* no mid at all */
  NP_RPM_MID_MALFORMED,
  NP_RPM_MID_FORGED, /* the MAC does not match: wrong client, old key, tampered */
  NP_RPM_MID_EXPIRED,
} np_rpm_mid_status;

/* A short name for logs and metrics ("forged", "expired", ...). */
const char *np_rpm_mid_status_name(np_rpm_mid_status s);

/* The current and previous secret. An ID minted under the previous
 * secret stays valid until it expires or the secret rotates again. */
typedef struct {
  uint8_t key[2][NP_RPM_KEY_LEN]; /* [gen & 1] */
  uint32_t gen;                   /* generation of the current key */
  uint64_t rotated_ns;            /* when the current key was made */
  uint64_t origin_ns;             /* expiry seconds count from here */
} np_rpm_keys;

/* Starts with a fresh random key (NP_RPM_KEY_LEN bytes) at now_ns. */
void np_rpm_keys_init(np_rpm_keys *k, const uint8_t *fresh, uint64_t now_ns);

/* Replaces the previous key with the current one and the current with
 * fresh (NP_RPM_KEY_LEN bytes). Call at an interval longer than the
 * longest ID lifetime, so an ID outlives at most one rotation. */
void np_rpm_keys_rotate(np_rpm_keys *k, const uint8_t *fresh, uint64_t now_ns);

/* Mints the text ID for measurement id, bound to the client's address
 * bytes (4 or 16) and valid for ttl_ns from now_ns. out receives
 * NP_RPM_MID_LEN characters and a NUL (out_max >= NP_RPM_MID_LEN + 1).
 * 0 or NP_E_BADARG. */
int np_rpm_mid_mint(const np_rpm_keys *k, uint64_t id, np_slice client_addr, uint64_t now_ns,
                    uint64_t ttl_ns, char *out, size_t out_max);

/* Checks a text ID presented by client_addr at now_ns. On NP_RPM_MID_OK
 * the measurement id is stored in *ret_id (untouched otherwise). */
np_rpm_mid_status np_rpm_mid_check(const np_rpm_keys *k, np_slice mid, np_slice client_addr,
                                   uint64_t now_ns, uint64_t *ret_id);

#endif
