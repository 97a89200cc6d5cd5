/* Access-token verification: strict compact JWS, JWK keys, Locate claims. */
#include "ops/jwt.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

enum { KEY_ED25519 = 1, KEY_P256 = 2 };

typedef struct {
  char kid[NP_JWT_MAX_KID + 1];
  int has_kid;
  int type;
  EVP_PKEY *pkey;
} jwt_key;

struct np_jwt_keyset {
  jwt_key keys[NP_JWT_MAX_KEYS];
  size_t n;
};

const char *np_jwt_reason_str(np_jwt_reason r) {
  switch (r) {
  case NP_JWT_OK:
    return "ok";
  case NP_JWT_BAD_FORMAT:
    return "bad_format";
  case NP_JWT_BAD_ALG:
    return "bad_alg";
  case NP_JWT_UNKNOWN_KID:
    return "unknown_kid";
  case NP_JWT_BAD_SIGNATURE:
    return "bad_signature";
  case NP_JWT_EXPIRED:
    return "expired";
  case NP_JWT_NOT_YET_VALID:
    return "not_yet_valid";
  case NP_JWT_BAD_ISSUER:
    return "bad_issuer";
  case NP_JWT_BAD_AUDIENCE:
    return "bad_audience";
  case NP_JWT_INTERNAL:
    return "internal";
  case NP_JWT_REASON_COUNT:
    break;
  }
  return "unknown";
}

/* ---- keys --------------------------------------------------------------- */

np_jwt_keyset *np_jwt_keyset_new(void) { return calloc(1, sizeof(np_jwt_keyset)); }

void np_jwt_keyset_free(np_jwt_keyset *ks) {
  if (!ks) return;
  for (size_t i = 0; i < ks->n; i++) EVP_PKEY_free(ks->keys[i].pkey);
  free(ks);
}

size_t np_jwt_keyset_count(const np_jwt_keyset *ks) { return ks ? ks->n : 0; }

/* Decodes a fixed-size base64url member of a JWK. */
static int jwk_bytes(json_t *jwk, const char *name, uint8_t *out, size_t n) {
  const char *s = json_string_value(json_object_get(jwk, name));
  if (!s) return NP_E_BADARG;
  int r = np_b64url_decode(s, strlen(s), out, n);
  return r == (int)n ? 0 : NP_E_BADARG;
}

/* Decodes a P-256 coordinate into 32 bytes, big-endian. RFC 7518 6.2.1.2 says
 * it MUST be the full 32 bytes, but widely used signers strip leading zero
 * bytes (python3-jwt 2.6.0 in Debian 12 encodes the integer: about one key in
 * 128 has a 31-byte coordinate, which once failed a CI run here). The value is
 * the same integer either way and the point is still checked on the curve, so
 * a shorter coordinate is padded rather than refused. */
static int jwk_coord(json_t *jwk, const char *name, uint8_t out[32]) {
  const char *s = json_string_value(json_object_get(jwk, name));
  if (!s) return NP_E_BADARG;
  uint8_t tmp[32];
  int r = np_b64url_decode(s, strlen(s), tmp, sizeof tmp);
  if (r < 1) return NP_E_BADARG;
  memset(out, 0, 32);
  memcpy(out + 32 - r, tmp, (size_t)r);
  return 0;
}

static EVP_PKEY *ec_p256_key(const uint8_t x[32], const uint8_t y[32]) {
  uint8_t pub[65];
  char group[] = "P-256";
  pub[0] = 0x04; /* uncompressed point */
  memcpy(pub + 1, x, 32);
  memcpy(pub + 33, y, 32);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub),
      OSSL_PARAM_construct_end()};
  EVP_PKEY *pkey = NULL;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  EVP_PKEY_CTX *chk = NULL;
  if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
      EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    goto fail;
  /* A point off the curve must never become a key (invalid-curve attacks). */
  chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
  if (!chk || EVP_PKEY_public_check(chk) != 1) goto fail;
  EVP_PKEY_CTX_free(chk);
  EVP_PKEY_CTX_free(ctx);
  return pkey;
fail:
  EVP_PKEY_CTX_free(chk);
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  ERR_clear_error();
  return NULL;
}

/* Parses one JWK object into *k (pkey owned by the caller afterwards). */
static int parse_jwk(json_t *jwk, jwt_key *k) {
  memset(k, 0, sizeof *k);
  if (!json_is_object(jwk)) return NP_E_BADARG;
  const char *kty = json_string_value(json_object_get(jwk, "kty"));
  const char *crv = json_string_value(json_object_get(jwk, "crv"));
  const char *alg = json_string_value(json_object_get(jwk, "alg"));
  json_t *kid = json_object_get(jwk, "kid");
  json_t *use = json_object_get(jwk, "use");
  if (!kty || !crv) return NP_E_BADARG;
  if (use && !(json_is_string(use) && strcmp(json_string_value(use), "sig") == 0))
    return NP_E_BADARG;
  if (kid) {
    const char *s = json_string_value(kid);
    if (!s || strlen(s) > NP_JWT_MAX_KID) return NP_E_BADARG;
    memcpy(k->kid, s, strlen(s) + 1);
    k->has_kid = 1;
  }
  if (strcmp(kty, "OKP") == 0 && strcmp(crv, "Ed25519") == 0) {
    if (alg && strcmp(alg, "EdDSA") != 0) return NP_E_BADARG;
    uint8_t x[32];
    if (jwk_bytes(jwk, "x", x, sizeof x) < 0) return NP_E_BADARG;
    k->type = KEY_ED25519;
    k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, sizeof x);
  } else if (strcmp(kty, "EC") == 0 && strcmp(crv, "P-256") == 0) {
    if (alg && strcmp(alg, "ES256") != 0) return NP_E_BADARG;
    uint8_t x[32], y[32];
    if (jwk_coord(jwk, "x", x) < 0 || jwk_coord(jwk, "y", y) < 0) return NP_E_BADARG;
    k->type = KEY_P256;
    k->pkey = ec_p256_key(x, y);
  } else {
    return NP_E_BADARG;
  }
  if (!k->pkey) {
    ERR_clear_error();
    return NP_E_BADARG;
  }
  return 0;
}

int np_jwt_keyset_add_jwk(np_jwt_keyset *ks, const char *json, size_t len) {
  if (!ks || !json) return NP_E_BADARG;
  json_error_t err;
  json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
  if (!doc) return NP_E_JSON;
  json_t *list = json_object_get(doc, "keys");
  size_t n = list ? json_array_size(list) : 1;
  jwt_key staged[NP_JWT_MAX_KEYS];
  size_t added = 0;
  int rc = 0;
  if (list && !json_is_array(list))
    rc = NP_E_BADARG;
  else if (n == 0)
    rc = NP_E_BADARG;
  else if (ks->n + n > NP_JWT_MAX_KEYS)
    rc = NP_E_TOOBIG;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    rc = parse_jwk(list ? json_array_get(list, i) : doc, &staged[added]);
    if (rc < 0) break;
    added++;
    /* kids must be unique across the set and this document. */
    jwt_key *k = &staged[added - 1];
    for (size_t j = 0; rc == 0 && k->has_kid && j < ks->n + added - 1; j++) {
      const jwt_key *o = j < ks->n ? &ks->keys[j] : &staged[j - ks->n];
      if (o->has_kid && strcmp(o->kid, k->kid) == 0) rc = NP_E_BADARG;
    }
  }
  json_decref(doc);
  if (rc < 0) {
    for (size_t i = 0; i < added; i++) EVP_PKEY_free(staged[i].pkey);
    return rc;
  }
  memcpy(&ks->keys[ks->n], staged, added * sizeof staged[0]);
  ks->n += added;
  return (int)added;
}

int np_jwt_keyset_load_file(np_jwt_keyset *ks, const char *path) {
  enum { MAX_FILE = 64 * 1024 };
  if (!ks || !path) return NP_E_BADARG;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  char *buf = malloc(MAX_FILE + 1);
  if (!buf) {
    close(fd);
    return -ENOMEM;
  }
  size_t len = 0;
  int rc = 0;
  for (;;) {
    ssize_t r = read(fd, buf + len, MAX_FILE + 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = -errno;
      break;
    }
    if (r == 0) break;
    len += (size_t)r;
    if (len > MAX_FILE) {
      rc = NP_E_TOOBIG;
      break;
    }
  }
  close(fd);
  if (rc == 0) rc = np_jwt_keyset_add_jwk(ks, buf, len);
  free(buf);
  return rc;
}

/* ---- verification ------------------------------------------------------- */

/* JWS ES256 signatures are raw r||s; OpenSSL wants DER
 * SEQUENCE { INTEGER r, INTEGER s }. Returns the DER length. */
static size_t es256_der(const uint8_t raw[64], uint8_t der[72]) {
  size_t o = 2;
  for (int half = 0; half < 2; half++) {
    const uint8_t *p = raw + 32 * half;
    size_t n = 32;
    while (n > 1 && *p == 0) p++, n--; /* minimal encoding */
    int pad = (*p & 0x80) != 0;        /* stay positive */
    der[o++] = 0x02;
    der[o++] = (uint8_t)(n + (size_t)pad);
    if (pad) der[o++] = 0x00;
    memcpy(der + o, p, n);
    o += n;
  }
  der[0] = 0x30;
  der[1] = (uint8_t)(o - 2);
  return o;
}

static int verify_sig(const jwt_key *k, const uint8_t *sig, size_t siglen, const char *msg,
                      size_t msglen) {
  uint8_t der[72];
  const uint8_t *s = sig;
  size_t slen = siglen;
  if (siglen != 64) return 0; /* both algs: exactly 64 raw bytes */
  if (k->type == KEY_P256) {
    slen = es256_der(sig, der);
    s = der;
  }
  EVP_MD_CTX *m = EVP_MD_CTX_new();
  if (!m) return -ENOMEM;
  int ok = EVP_DigestVerifyInit_ex(m, NULL, k->type == KEY_P256 ? "SHA256" : NULL, NULL, NULL,
                                   k->pkey, NULL) == 1 &&
           EVP_DigestVerify(m, s, slen, (const uint8_t *)msg, msglen) == 1;
  EVP_MD_CTX_free(m);
  ERR_clear_error();
  return ok;
}

static json_t *decode_json(const char *part, size_t len, size_t max, uint8_t *scratch) {
  int n = np_b64url_decode(part, len, scratch, max);
  if (n <= 0) return NULL;
  json_error_t err;
  json_t *j = json_loadb((const char *)scratch, (size_t)n, JSON_REJECT_DUPLICATES, &err);
  if (j && !json_is_object(j)) {
    json_decref(j);
    return NULL;
  }
  return j;
}

static int aud_has(json_t *aud, const char *want) {
  if (json_is_string(aud)) return strcmp(json_string_value(aud), want) == 0;
  if (!json_is_array(aud)) return 0;
  size_t i;
  json_t *v;
  json_array_foreach(aud, i, v) {
    if (json_is_string(v) && strcmp(json_string_value(v), want) == 0) return 1;
  }
  return 0;
}

/* A NumericDate as whole seconds. Converting a double outside int64_t's
 * range is undefined behaviour in C, and a token may carry any number
 * (1e300, -1e300): saturate instead. Both bounds are exact doubles (2^63). */
static int64_t numeric_date(double v) {
  if (!(v > -9223372036854775808.0)) return INT64_MIN; /* NaN cannot come from JSON */
  if (v >= 9223372036854775808.0) return INT64_MAX;
  return (int64_t)v;
}

/* Checks the claims of a payload whose signature already verified. */
static np_jwt_reason check_claims(json_t *pl, const np_jwt_expect *ex, np_jwt_claims *c) {
  const char *iss = json_string_value(json_object_get(pl, "iss"));
  json_t *exp = json_object_get(pl, "exp");
  json_t *nbf = json_object_get(pl, "nbf");
  json_t *sub = json_object_get(pl, "sub");
  if (!json_is_number(exp) || (nbf && !json_is_number(nbf)) || (sub && !json_is_string(sub)))
    return NP_JWT_BAD_FORMAT;
  if (sub && strlen(json_string_value(sub)) > NP_JWT_MAX_SUB) return NP_JWT_BAD_FORMAT;
  if (!iss || !ex->issuer || strcmp(iss, ex->issuer) != 0) return NP_JWT_BAD_ISSUER;
  if (!ex->audience || !aud_has(json_object_get(pl, "aud"), ex->audience))
    return NP_JWT_BAD_AUDIENCE;
  /* NumericDate may be fractional; compare in double, zero leeway. */
  double e = json_number_value(exp);
  if (!((double)ex->now < e)) return NP_JWT_EXPIRED;
  if (nbf && (double)ex->now < json_number_value(nbf)) return NP_JWT_NOT_YET_VALID;
  c->exp = numeric_date(e);
  c->nbf = nbf ? numeric_date(json_number_value(nbf)) : 0;
  const char *s = sub ? json_string_value(sub) : "";
  memcpy(c->sub, s, strlen(s) + 1);
  return NP_JWT_OK;
}

int np_jwt_verify(const np_jwt_keyset *ks, const char *token, size_t len,
                  const np_jwt_expect *expect, np_jwt_claims *ret_claims,
                  np_jwt_reason *ret_reason) {
  np_jwt_reason why = NP_JWT_BAD_FORMAT;
  json_t *hdr = NULL, *pl = NULL;
  uint8_t scratch[NP_JWT_MAX_PAYLOAD_JSON];
  np_jwt_claims c;
  memset(&c, 0, sizeof c);
  if (!ks || !expect || (!token && len)) {
    *ret_reason = NP_JWT_INTERNAL;
    return NP_E_BADARG;
  }
  if (len == 0 || len > NP_JWT_MAX_TOKEN) goto out;
  const char *d1 = memchr(token, '.', len);
  if (!d1) goto out;
  const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token));
  if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token))) goto out;
  size_t hlen = (size_t)(d1 - token), plen = (size_t)(d2 - d1 - 1);
  size_t slen = len - (size_t)(d2 + 1 - token);

  hdr = decode_json(token, hlen, NP_JWT_MAX_HEADER_JSON, scratch);
  if (!hdr || json_object_get(hdr, "crit")) goto out; /* no extensions known */
  json_t *kidj = json_object_get(hdr, "kid");
  if (kidj && (!json_is_string(kidj) || strlen(json_string_value(kidj)) > NP_JWT_MAX_KID)) goto out;
  /* Payload and signature must be well-formed before any key is chosen. */
  uint8_t sig[64];
  int siglen = np_b64url_decode(d2 + 1, slen, sig, sizeof sig);
  if (siglen < 0) goto out;
  int plen_ok = np_b64url_decode(d1 + 1, plen, scratch, sizeof scratch);
  if (plen_ok <= 0) goto out;

  const char *alg = json_string_value(json_object_get(hdr, "alg"));
  int want_type;
  why = NP_JWT_BAD_ALG;
  if (!alg) goto out;
  if (strcmp(alg, "EdDSA") == 0)
    want_type = KEY_ED25519;
  else if (strcmp(alg, "ES256") == 0)
    want_type = KEY_P256;
  else
    goto out; /* "none", HS*, RS*, anything else */

  const jwt_key *key = NULL;
  why = NP_JWT_UNKNOWN_KID;
  if (kidj) {
    const char *kid = json_string_value(kidj);
    for (size_t i = 0; i < ks->n && !key; i++)
      if (ks->keys[i].has_kid && strcmp(ks->keys[i].kid, kid) == 0) key = &ks->keys[i];
  } else if (ks->n == 1) {
    key = &ks->keys[0];
  }
  if (!key) goto out;
  why = NP_JWT_BAD_ALG;
  if (key->type != want_type) goto out; /* never use a key for another alg */

  why = NP_JWT_BAD_SIGNATURE;
  int ok = verify_sig(key, sig, (size_t)siglen, token, (size_t)(d2 - token));
  if (ok < 0) {
    why = NP_JWT_INTERNAL;
    goto out;
  }
  if (!ok) goto out;

  why = NP_JWT_BAD_FORMAT;
  pl = decode_json(d1 + 1, plen, NP_JWT_MAX_PAYLOAD_JSON, scratch);
  if (!pl) goto out;
  why = check_claims(pl, expect, &c);
  if (why == NP_JWT_OK) {
    if (kidj) {
      const char *kid = json_string_value(kidj);
      memcpy(c.kid, kid, strlen(kid) + 1);
    }
    c.alg_eddsa = want_type == KEY_ED25519;
  }
out:
  json_decref(hdr);
  json_decref(pl);
  *ret_reason = why;
  if (why == NP_JWT_OK) {
    if (ret_claims) *ret_claims = c;
    return 0;
  }
  return why == NP_JWT_INTERNAL ? -ENOMEM : NP_E_TOKEN;
}
