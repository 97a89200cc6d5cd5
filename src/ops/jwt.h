/* Verification of M-Lab Locate access tokens (compact JWS, EdDSA / ES256). */
#ifndef NP_OPS_JWT_H
#define NP_OPS_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "core/b64url.h"

/* Caps on what a client controls. */
#define NP_JWT_MAX_TOKEN 4096
#define NP_JWT_MAX_HEADER_JSON 1024
#define NP_JWT_MAX_PAYLOAD_JSON 3072
#define NP_JWT_MAX_SUB 128
#define NP_JWT_MAX_KEYS 64
#define NP_JWT_MAX_KID 128

/* Why a token was refused. Stable: the strings below go into 401 bodies and
 * metric labels. */
typedef enum {
  NP_JWT_OK = 0,
  NP_JWT_BAD_FORMAT,    /* not three strict base64url parts, bad JSON,
                           exp missing or a claim of the wrong type */
  NP_JWT_BAD_ALG,       /* alg not EdDSA/ES256 (incl. "none"), or key type */
  NP_JWT_UNKNOWN_KID,   /* no loaded key for the token's kid */
  NP_JWT_BAD_SIGNATURE, /* signature does not verify */
  NP_JWT_EXPIRED,       /* now >= exp */
  NP_JWT_NOT_YET_VALID, /* now < nbf */
  NP_JWT_BAD_ISSUER,    /* iss missing or not the expected issuer */
  NP_JWT_BAD_AUDIENCE,  /* aud missing or without this machine */
  NP_JWT_INTERNAL,      /* out of memory or crypto library failure */
  NP_JWT_REASON_COUNT
} np_jwt_reason;

/* "ok", "bad_format", "bad_alg", "unknown_kid", "bad_signature", "expired",
 * "not_yet_valid", "bad_issuer", "bad_audience", "internal". */
const char *np_jwt_reason_str(np_jwt_reason r);

/* A set of verification keys. Owns its OpenSSL keys. */
typedef struct np_jwt_keyset np_jwt_keyset;

np_jwt_keyset *np_jwt_keyset_new(void);
void np_jwt_keyset_free(np_jwt_keyset *ks); /* NULL-safe */

/* Adds the public key(s) in a JWK (`{"kty":...}`) or JWK Set
 * (`{"keys":[...]}`) document: OKP/Ed25519 with "x", or EC/P-256 with "x"
 * and "y" (the point must be on the curve). "kid" is optional but must be
 * unique in the set; "alg", if present, must fit the key type and then
 * binds the key to that alg. Private parts ("d") are ignored. Returns the
 * number of keys added; NP_E_JSON on malformed JSON, NP_E_BADARG on an
 * unsupported or invalid key or a duplicate kid (nothing added then),
 * NP_E_TOOBIG past NP_JWT_MAX_KEYS, -ENOMEM. */
int np_jwt_keyset_add_jwk(np_jwt_keyset *ks, const char *json, size_t len);

/* Reads a JWK / JWK Set file (at most 64 KiB) and adds it (file I/O). */
int np_jwt_keyset_load_file(np_jwt_keyset *ks, const char *path);

size_t np_jwt_keyset_count(const np_jwt_keyset *ks);

/* What the token must say. */
typedef struct {
  const char *issuer;   /* e.g. "locate" */
  const char *audience; /* this machine's name */
  int64_t now;          /* Unix seconds; exp and nbf use zero leeway */
} np_jwt_expect;

/* What a valid token said. */
typedef struct {
  char sub[NP_JWT_MAX_SUB + 1]; /* "" when absent; "monitoring" is special */
  char kid[NP_JWT_MAX_KID + 1]; /* "" when absent */
  int64_t exp;
  int64_t nbf;   /* 0 when absent */
  int alg_eddsa; /* 1 EdDSA, 0 ES256 */
} np_jwt_claims;

/* Verifies a compact JWS token (len bytes, no NUL needed). Checks, in this
 * order: format and size caps, alg (EdDSA or ES256 only), key by kid (a
 * token without kid uses the only key when exactly one is loaded), the
 * signature, then iss, aud, exp, nbf. Returns 0 and fills *ret_claims when
 * valid; NP_E_TOKEN with *ret_reason set when refused; -ENOMEM (reason
 * NP_JWT_INTERNAL). *ret_reason is always written; *ret_claims (may be
 * NULL) only on success. Pure apart from CPU: no I/O, no clock. */
int np_jwt_verify(const np_jwt_keyset *ks, const char *token, size_t len,
                  const np_jwt_expect *expect, np_jwt_claims *ret_claims,
                  np_jwt_reason *ret_reason);

#endif
