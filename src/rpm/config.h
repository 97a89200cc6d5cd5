/* The responsiveness config document served at /.well-known/nq: the draft's
 * keys and Apple's older ones, every URL carrying the measurement ID. */
#ifndef NP_RPM_CONFIG_H
#define NP_RPM_CONFIG_H

#include <stddef.h>

#include "core/buf.h"
#include "core/slice.h"

/* Paths of the RPM endpoints. */
#define NP_RPM_PATH_CONFIG "/.well-known/nq"
#define NP_RPM_PATH_CONFIG_ALT "/config"
#define NP_RPM_PATH_SMALL "/rpm/v1/small"
#define NP_RPM_PATH_LARGE "/rpm/v1/large"
#define NP_RPM_PATH_UPLOAD "/rpm/v1/upload"
#define NP_RPM_PATH_RESULT "/rpm/v1/result"

#define NP_RPM_MAX_AUTHORITY 262 /* 253-byte name or bracketed IPv6, ':' and a port */

/* Whether s is a usable URL authority: a DNS name or IPv4 address
 * ([A-Za-z0-9.-], 1..253 bytes, no leading '-' or '.') or a bracketed IPv6
 * literal, then optionally ':' and a port 1..65535. Client-sent
 * :authority values are checked with it before they go into URLs. */
int np_rpm_authority_ok(np_slice s);

/* The host part of a valid authority (without port; brackets kept). */
np_slice np_rpm_authority_host(np_slice s);

/* Appends the config JSON to out: {"version":1,"urls":{...},
 * "test_endpoint":host}, host without port or brackets ("::1"). The
 * *_https_* keys are there only when scheme is "https". scheme is "https"
 * or "http"; authority must pass
 * np_rpm_authority_ok; mid is the measurement ID (base64url). 0,
 * NP_E_BADARG, or the buffer's error. */
int np_rpm_config_json(np_buf *out, const char *scheme, np_slice authority, const char *mid);

#endif
