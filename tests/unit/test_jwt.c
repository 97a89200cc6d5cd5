/* Unit tests for ops/jwt: keys and tokens minted with OpenSSL at test time. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "core/error.h"
#include "ops/jwt.h"

#define MACHINE "mlab1-lga0t.mlab-oti.measurement-lab.org"
#define NOW 1700000000

typedef struct {
  EVP_PKEY *ed, *ec, *ed2;
  char ed_jwk[512], ec_jwk[512], ed2_jwk[512];
  np_jwt_keyset *ks;
} fixture;

static void b64(const uint8_t *p, size_t n, char *out, size_t max) {
  assert_true(np_b64url_encode(p, n, out, max) >= 0);
}

static void jwk_ed(EVP_PKEY *k, const char *kid, char *out, size_t max) {
  uint8_t x[32];
  size_t n = sizeof x;
  char xs[64];
  assert_int_equal(EVP_PKEY_get_raw_public_key(k, x, &n), 1);
  b64(x, n, xs, sizeof xs);
  snprintf(out, max,
           "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"%s\",\"x\":\"%s\",\"use\":\"sig\"}", kid,
           xs);
}

static void ec_xy(EVP_PKEY *k, uint8_t x[32], uint8_t y[32]) {
  BIGNUM *bx = NULL, *by = NULL;
  assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &bx), 1);
  assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &by), 1);
  assert_int_equal(BN_bn2binpad(bx, x, 32), 32);
  assert_int_equal(BN_bn2binpad(by, y, 32), 32);
  BN_free(bx);
  BN_free(by);
}

static void jwk_ec(EVP_PKEY *k, const char *kid, char *out, size_t max) {
  uint8_t x[32], y[32];
  char xs[64], ys[64];
  ec_xy(k, x, y);
  b64(x, 32, xs, sizeof xs);
  b64(y, 32, ys, sizeof ys);
  snprintf(out, max,
           "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"%s\",\"alg\":\"ES256\",\"x\":\"%s\",\"y\":"
           "\"%s\"}",
           kid, xs, ys);
}

/* header.payload.signature with a real signature by k (EC -> raw r||s). */
static void mint(EVP_PKEY *k, const char *hdr, const char *payload, char *out, size_t max) {
  char h[1024], p[4096];
  b64((const uint8_t *)hdr, strlen(hdr), h, sizeof h);
  b64((const uint8_t *)payload, strlen(payload), p, sizeof p);
  int n = snprintf(out, max, "%s.%s", h, p);
  assert_true(n > 0 && (size_t)n < max);
  int ec = EVP_PKEY_is_a(k, "EC");
  EVP_MD_CTX *m = EVP_MD_CTX_new();
  assert_int_equal(EVP_DigestSignInit_ex(m, NULL, ec ? "SHA256" : NULL, NULL, NULL, k, NULL), 1);
  uint8_t sig[128], raw[64];
  size_t siglen = sizeof sig;
  assert_int_equal(EVP_DigestSign(m, sig, &siglen, (uint8_t *)out, (size_t)n), 1);
  EVP_MD_CTX_free(m);
  const uint8_t *s = sig;
  if (ec) {
    const uint8_t *d = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &d, (long)siglen);
    assert_non_null(es);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32), 32);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32), 32);
    ECDSA_SIG_free(es);
    s = raw;
    siglen = 64;
  }
  out[n++] = '.';
  b64(s, siglen, out + n, max - (size_t)n);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  f->ed2 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  f->ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  assert_non_null(f->ed);
  assert_non_null(f->ec);
  jwk_ed(f->ed, "ed1", f->ed_jwk, sizeof f->ed_jwk);
  jwk_ed(f->ed2, "ed2", f->ed2_jwk, sizeof f->ed2_jwk);
  jwk_ec(f->ec, "ec1", f->ec_jwk, sizeof f->ec_jwk);
  f->ks = np_jwt_keyset_new();
  assert_int_equal(np_jwt_keyset_add_jwk(f->ks, f->ed_jwk, strlen(f->ed_jwk)), 1);
  assert_int_equal(np_jwt_keyset_add_jwk(f->ks, f->ec_jwk, strlen(f->ec_jwk)), 1);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  np_jwt_keyset_free(f->ks);
  EVP_PKEY_free(f->ed);
  EVP_PKEY_free(f->ed2);
  EVP_PKEY_free(f->ec);
  free(f);
  return 0;
}

static np_jwt_reason check(const np_jwt_keyset *ks, const char *tok, np_jwt_claims *c) {
  np_jwt_expect ex = {"locate", MACHINE, NOW};
  np_jwt_reason r = NP_JWT_REASON_COUNT;
  np_jwt_claims tmp;
  int rc = np_jwt_verify(ks, tok, strlen(tok), &ex, c ? c : &tmp, &r);
  assert_int_equal(rc, r == NP_JWT_OK ? 0 : NP_E_TOKEN);
  return r;
}

#define GOOD_PL                                                                                    \
  "{\"iss\":\"locate\",\"aud\":[\"x\",\"" MACHINE                                                  \
  "\"],\"sub\":\"monitoring\",\"exp\":1700000060,\"nbf\":1699999990,\"iat\":1699999990}"

static void valid_tokens(void **state) {
  fixture *f = *state;
  char tok[4096];
  np_jwt_claims c;
  mint(f->ed, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"ed1\"}", GOOD_PL, tok, sizeof tok);
  assert_int_equal(check(f->ks, tok, &c), NP_JWT_OK);
  assert_string_equal(c.sub, "monitoring");
  assert_string_equal(c.kid, "ed1");
  assert_int_equal(c.exp, 1700000060);
  assert_int_equal(c.nbf, 1699999990);
  assert_true(c.alg_eddsa);
  mint(f->ec, "{\"alg\":\"ES256\",\"kid\":\"ec1\"}",
       "{\"iss\":\"locate\",\"aud\":\"" MACHINE "\",\"exp\":1700000001}", tok, sizeof tok);
  assert_int_equal(check(f->ks, tok, &c), NP_JWT_OK);
  assert_string_equal(c.sub, "");
  assert_false(c.alg_eddsa);
  /* nbf == now is valid (zero leeway, inclusive). */
  mint(f->ed, "{\"alg\":\"EdDSA\",\"kid\":\"ed1\"}",
       "{\"iss\":\"locate\",\"aud\":\"" MACHINE "\",\"exp\":1700000001,\"nbf\":1700000000}", tok,
       sizeof tok);
  assert_int_equal(check(f->ks, tok, NULL), NP_JWT_OK);
  /* Many ES256 signatures: r or s with a leading zero byte or high bit
   * exercise every branch of the raw -> DER conversion. */
  for (int i = 0; i < 64; i++) {
    char pl[256];
    snprintf(pl, sizeof pl, "{\"iss\":\"locate\",\"aud\":\"" MACHINE "\",\"exp\":%d}",
             1700000100 + i);
    mint(f->ec, "{\"alg\":\"ES256\",\"kid\":\"ec1\"}", pl, tok, sizeof tok);
    assert_int_equal(check(f->ks, tok, NULL), NP_JWT_OK);
  }
}

static void claim_failures(void **state) {
  fixture *f = *state;
  char tok[4096];
  static const struct {
    const char *pl;
    np_jwt_reason want;
  } cases[] = {
      {"{\"iss\":\"locate\",\"aud\":\"other\",\"exp\":1700000060}", NP_JWT_BAD_AUDIENCE},
      {"{\"iss\":\"locate\",\"aud\":[\"a\",\"b\"],\"exp\":1700000060}", NP_JWT_BAD_AUDIENCE},
      {"{\"iss\":\"locate\",\"aud\":[],\"exp\":1700000060}", NP_JWT_BAD_AUDIENCE},
      {"{\"iss\":\"locate\",\"exp\":1700000060}", NP_JWT_BAD_AUDIENCE},
      {"{\"iss\":\"locate\",\"aud\":{\"" MACHINE "\":1},\"exp\":1700000060}", NP_JWT_BAD_AUDIENCE},
      {"{\"iss\":\"Locate\",\"aud\":\"" MACHINE "\",\"exp\":1700000060}", NP_JWT_BAD_ISSUER},
      {"{\"aud\":\"" MACHINE "\",\"exp\":1700000060}", NP_JWT_BAD_ISSUER},
      {"{\"iss\":\"locate\",\"aud\":\"" MACHINE "\",\"exp\":1700000000}", NP_JWT_EXPIRED},
      {"{\"iss\":\"locate\",\"aud\":\"" MACHINE "\",\"exp\":1600000000}", NP_JWT_EXPIRED},
      {"{\"iss\":\"locate\",\"aud\":\"" MACHINE "\",\"exp\":1700000060,\"nbf\":1700000001}",
       NP_JWT_NOT_YET_VALID},
      {"{\"iss\":\"locate\",\"aud\":\"" MACHINE "\"}", NP_JWT_BAD_FORMAT},
      {"{\"iss\":\"locate\",\"aud\":\"" MACHINE "\",\"exp\":\"1700000060\"}", NP_JWT_BAD_FORMAT},
      {"{\"iss\":\"locate\",\"aud\":\"" MACHINE "\",\"exp\":1700000060,\"sub\":7}",
       NP_JWT_BAD_FORMAT},
      {"{\"iss\":\"locate\",\"iss\":\"locate\",\"aud\":\"" MACHINE "\",\"exp\":1700000060}",
       NP_JWT_BAD_FORMAT},
      {"[1]", NP_JWT_BAD_FORMAT},
      {"{\"iss\":\"locate\",\"aud\":\"" MACHINE "\",\"exp\":1700000000.5}", NP_JWT_OK},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mint(f->ed, "{\"alg\":\"EdDSA\",\"kid\":\"ed1\"}", cases[i].pl, tok, sizeof tok);
    np_jwt_reason got = check(f->ks, tok, NULL);
    if (got != cases[i].want)
      fail_msg("case %zu (%s): got %s want %s", i, cases[i].pl, np_jwt_reason_str(got),
               np_jwt_reason_str(cases[i].want));
  }
}

/* NumericDates far outside int64_t: decided without undefined behaviour
 * (UBSan would abort here) and reported saturated. */
static void extreme_dates(void **state) {
  fixture *f = *state;
  char tok[4096];
  np_jwt_claims c;
  static const struct {
    const char *dates;
    np_jwt_reason want;
    int64_t exp, nbf;
  } cases[] = {
      {"\"exp\":1e300,\"nbf\":-1e300", NP_JWT_OK, INT64_MAX, INT64_MIN},
      {"\"exp\":9223372036854775807,\"nbf\":-9223372036854775808", NP_JWT_OK, INT64_MAX, INT64_MIN},
      {"\"exp\":9.3e18,\"nbf\":-9.3e18", NP_JWT_OK, INT64_MAX, INT64_MIN},
      {"\"exp\":1700000060,\"nbf\":-1e19", NP_JWT_OK, 1700000060, INT64_MIN},
      {"\"exp\":-1e300", NP_JWT_EXPIRED, 0, 0},
      {"\"exp\":1e300,\"nbf\":1e300", NP_JWT_NOT_YET_VALID, 0, 0},
      {"\"exp\":1e300,\"nbf\":-0.5", NP_JWT_OK, INT64_MAX, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char pl[512];
    snprintf(pl, sizeof pl, "{\"iss\":\"locate\",\"aud\":\"" MACHINE "\",%s}", cases[i].dates);
    mint(f->ed, "{\"alg\":\"EdDSA\",\"kid\":\"ed1\"}", pl, tok, sizeof tok);
    memset(&c, 0, sizeof c);
    np_jwt_reason got = check(f->ks, tok, &c);
    if (got != cases[i].want)
      fail_msg("case %zu (%s): got %s want %s", i, cases[i].dates, np_jwt_reason_str(got),
               np_jwt_reason_str(cases[i].want));
    if (got != NP_JWT_OK) continue;
    assert_int_equal(c.exp, cases[i].exp);
    assert_int_equal(c.nbf, cases[i].nbf);
  }
}

static void header_and_key_failures(void **state) {
  fixture *f = *state;
  char tok[4096], hp[2048];
  /* Bad signature: flip one bit in every signature byte position. */
  mint(f->ed, "{\"alg\":\"EdDSA\",\"kid\":\"ed1\"}", GOOD_PL, tok, sizeof tok);
  size_t n = strlen(tok);
  char *sig = strrchr(tok, '.') + 1;
  char saved = sig[3];
  sig[3] = sig[3] == 'A' ? 'B' : 'A';
  assert_int_equal(check(f->ks, tok, NULL), NP_JWT_BAD_SIGNATURE);
  sig[3] = saved;
  /* Signed by another key under the same kid. */
  mint(f->ed2, "{\"alg\":\"EdDSA\",\"kid\":\"ed1\"}", GOOD_PL, tok, sizeof tok);
  assert_int_equal(check(f->ks, tok, NULL), NP_JWT_BAD_SIGNATURE);
  /* Payload swapped after signing. */
  mint(f->ed, "{\"alg\":\"EdDSA\",\"kid\":\"ed1\"}", GOOD_PL, tok, sizeof tok);
  char other[4096];
  mint(f->ed, "{\"alg\":\"EdDSA\",\"kid\":\"ed1\"}",
       "{\"iss\":\"locate\",\"aud\":\"" MACHINE "\",\"exp\":1800000000}", other, sizeof other);
  char *d1 = strchr(other, '.'), *d2 = strrchr(other, '.');
  snprintf(hp, sizeof hp, "%.*s%s", (int)(d2 - other), other, strrchr(tok, '.'));
  (void)d1;
  assert_int_equal(check(f->ks, hp, NULL), NP_JWT_BAD_SIGNATURE);
  /* alg none, with and without a signature part. */
  char h[256], p[1024];
  b64((const uint8_t *)"{\"alg\":\"none\"}", 14, h, sizeof h);
  b64((const uint8_t *)GOOD_PL, strlen(GOOD_PL), p, sizeof p);
  snprintf(tok, sizeof tok, "%s.%s.", h, p);
  assert_int_equal(check(f->ks, tok, NULL), NP_JWT_BAD_ALG);
  snprintf(tok, sizeof tok, "%s.%s", h, p);
  assert_int_equal(check(f->ks, tok, NULL), NP_JWT_BAD_FORMAT);
  /* Other algs, and a key of the wrong type for the alg. */
  mint(f->ed, "{\"alg\":\"HS256\",\"kid\":\"ed1\"}", GOOD_PL, tok, sizeof tok);
  assert_int_equal(check(f->ks, tok, NULL), NP_JWT_BAD_ALG);
  mint(f->ed, "{\"alg\":\"RS256\",\"kid\":\"ed1\"}", GOOD_PL, tok, sizeof tok);
  assert_int_equal(check(f->ks, tok, NULL), NP_JWT_BAD_ALG);
  mint(f->ed, "{\"kid\":\"ed1\"}", GOOD_PL, tok, sizeof tok);
  assert_int_equal(check(f->ks, tok, NULL), NP_JWT_BAD_ALG);
  mint(f->ed, "{\"alg\":\"ES256\",\"kid\":\"ed1\"}", GOOD_PL, tok, sizeof tok);
  assert_int_equal(check(f->ks, tok, NULL), NP_JWT_BAD_ALG);
  /* Unknown kid; and no kid while two keys are loaded. */
  mint(f->ed, "{\"alg\":\"EdDSA\",\"kid\":\"nope\"}", GOOD_PL, tok, sizeof tok);
  assert_int_equal(check(f->ks, tok, NULL), NP_JWT_UNKNOWN_KID);
  mint(f->ed, "{\"alg\":\"EdDSA\"}", GOOD_PL, tok, sizeof tok);
  assert_int_equal(check(f->ks, tok, NULL), NP_JWT_UNKNOWN_KID);
  np_jwt_keyset *one = np_jwt_keyset_new();
  assert_int_equal(np_jwt_keyset_add_jwk(one, f->ed_jwk, strlen(f->ed_jwk)), 1);
  assert_int_equal(check(one, tok, NULL), NP_JWT_OK);
  np_jwt_keyset_free(one);
  /* Extensions we do not understand. */
  mint(f->ed, "{\"alg\":\"EdDSA\",\"kid\":\"ed1\",\"crit\":[\"exp\"]}", GOOD_PL, tok, sizeof tok);
  assert_int_equal(check(f->ks, tok, NULL), NP_JWT_BAD_FORMAT);
  (void)n;
}

static void truncated_and_garbage(void **state) {
  fixture *f = *state;
  char tok[4096], cut[4096 + 8];
  mint(f->ec, "{\"alg\":\"ES256\",\"kid\":\"ec1\"}", GOOD_PL, tok, sizeof tok);
  assert_int_equal(check(f->ks, tok, NULL), NP_JWT_OK);
  size_t n = strlen(tok);
  for (size_t i = 0; i < n; i++) {
    memcpy(cut, tok, i);
    cut[i] = '\0';
    np_jwt_reason r = check(f->ks, cut, NULL);
    assert_true(r == NP_JWT_BAD_FORMAT || r == NP_JWT_BAD_SIGNATURE);
  }
  /* Padding, foreign alphabet, extra part. */
  snprintf(cut, sizeof cut, "%s=", tok);
  assert_int_equal(check(f->ks, cut, NULL), NP_JWT_BAD_FORMAT);
  snprintf(cut, sizeof cut, "%s.", tok);
  assert_int_equal(check(f->ks, cut, NULL), NP_JWT_BAD_FORMAT);
  memcpy(cut, tok, n + 1);
  cut[2] = '+';
  assert_int_equal(check(f->ks, cut, NULL), NP_JWT_BAD_FORMAT);
  static const char *const junk[] = {
      "", ".", "..", "...", "a.b.c", "e30.e30.", "e30.e30.AAAA", "not a token", "\xff\xfe.."};
  for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
    np_jwt_reason r = check(f->ks, junk[i], NULL);
    assert_true(r == NP_JWT_BAD_FORMAT || r == NP_JWT_BAD_ALG);
  }
  char *big = malloc(NP_JWT_MAX_TOKEN + 2);
  memset(big, 'A', NP_JWT_MAX_TOKEN + 1);
  big[10] = '.';
  big[20] = '.';
  big[NP_JWT_MAX_TOKEN + 1] = '\0';
  assert_int_equal(check(f->ks, big, NULL), NP_JWT_BAD_FORMAT);
  free(big);
  np_jwt_reason r;
  np_jwt_expect ex = {"locate", MACHINE, NOW};
  assert_int_equal(np_jwt_verify(f->ks, tok, n - 1, &ex, NULL, &r), NP_E_TOKEN);
  assert_int_equal(np_jwt_verify(NULL, tok, n, &ex, NULL, &r), NP_E_BADARG);
}

static void keyset_loading(void **state) {
  fixture *f = *state;
  np_jwt_keyset *ks = np_jwt_keyset_new();
  /* Duplicate kid within a set is refused whole. */
  char set[2048];
  snprintf(set, sizeof set, "{\"keys\":[%s,%s]}", f->ed_jwk, f->ed_jwk);
  assert_int_equal(np_jwt_keyset_add_jwk(ks, set, strlen(set)), NP_E_BADARG);
  assert_int_equal(np_jwt_keyset_count(ks), 0);
  snprintf(set, sizeof set, "{\"keys\":[%s,%s]}", f->ed_jwk, f->ec_jwk);
  assert_int_equal(np_jwt_keyset_add_jwk(ks, set, strlen(set)), 2);
  assert_int_equal(np_jwt_keyset_add_jwk(ks, f->ed_jwk, strlen(f->ed_jwk)), NP_E_BADARG);
  assert_int_equal(np_jwt_keyset_count(ks), 2);
  static const char *const bad[] = {
      "{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"AAAA\"}",
      "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}",
      "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
      "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"alg\":\"ES256\",\"x\":\"11qYAYKxCrfVS_"
      "7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
      /* (1, 1) is not on P-256. */
      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\","
      "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}",
      "{\"keys\":{}}",
      "{\"keys\":[]}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(np_jwt_keyset_add_jwk(ks, bad[i], strlen(bad[i])), NP_E_BADARG);
  assert_int_equal(np_jwt_keyset_add_jwk(ks, "{", 1), NP_E_JSON);
  /* RFC 8037 A.2 public key loads. */
  const char *rfc =
      "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
  assert_int_equal(np_jwt_keyset_add_jwk(ks, rfc, strlen(rfc)), 1);
  np_jwt_keyset_free(ks);

  /* From a file, the way --token-verify-key gives them. */
  char path[] = "/tmp/np_test_jwk_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, f->ed2_jwk, strlen(f->ed2_jwk)), (ssize_t)strlen(f->ed2_jwk));
  close(fd);
  ks = np_jwt_keyset_new();
  assert_int_equal(np_jwt_keyset_load_file(ks, path), 1);
  unlink(path);
  assert_int_equal(np_jwt_keyset_load_file(ks, path), -ENOENT);
  char tok[4096];
  mint(f->ed2, "{\"alg\":\"EdDSA\",\"kid\":\"ed2\"}", GOOD_PL, tok, sizeof tok);
  assert_int_equal(check(ks, tok, NULL), NP_JWT_OK);
  np_jwt_keyset_free(ks);
  np_jwt_keyset_free(NULL);
}

/* A P-256 coordinate with a leading zero byte, encoded without it (as
 * python3-jwt 2.6.0 writes one key in 128), still loads and verifies; the
 * full-length encoding of the same key is the same key. */
static void ec_short_coordinate(void **state) {
  (void)state;
  EVP_PKEY *k = NULL;
  uint8_t x[32], y[32];
  for (int i = 0; i < 4096; i++) {
    k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    ec_xy(k, x, y);
    if (x[0] == 0 || y[0] == 0) break;
    EVP_PKEY_free(k);
    k = NULL;
  }
  assert_non_null(k); /* P(no leading zero in 4096 keys) ~ 1e-14 */
  char xs[64], ys[64], jwk[512], tok[4096];
  int xo = x[0] == 0, yo = y[0] == 0;
  b64(x + xo, 32 - (size_t)xo, xs, sizeof xs);
  b64(y + yo, 32 - (size_t)yo, ys, sizeof ys);
  snprintf(jwk, sizeof jwk,
           "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec0\",\"x\":\"%s\",\"y\":\"%s\"}", xs, ys);
  assert_int_equal(strlen(xo ? xs : ys), 42); /* 31 bytes, not 43 chars for 32 */
  np_jwt_keyset *ks = np_jwt_keyset_new();
  assert_int_equal(np_jwt_keyset_add_jwk(ks, jwk, strlen(jwk)), 1);
  mint(k, "{\"alg\":\"ES256\",\"kid\":\"ec0\"}", GOOD_PL, tok, sizeof tok);
  assert_int_equal(check(ks, tok, NULL), NP_JWT_OK);
  np_jwt_keyset_free(ks);
  /* Longer than 32 bytes or empty stays refused. */
  static const char *const bad[] = {
      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"\",\"y\":\"AAAA\"}",
      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
      "\"y\":\"AAAA\"}",
  };
  ks = np_jwt_keyset_new();
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(np_jwt_keyset_add_jwk(ks, bad[i], strlen(bad[i])), NP_E_BADARG);
  np_jwt_keyset_free(ks);
  EVP_PKEY_free(k);
}

static void reason_strings(void **state) {
  (void)state;
  assert_string_equal(np_jwt_reason_str(NP_JWT_BAD_AUDIENCE), "bad_audience");
  assert_string_equal(np_jwt_reason_str(NP_JWT_NOT_YET_VALID), "not_yet_valid");
  for (int r = 0; r < NP_JWT_REASON_COUNT; r++)
    assert_string_not_equal(np_jwt_reason_str((np_jwt_reason)r), "unknown");
  assert_string_equal(np_strerror(NP_E_TOKEN), "access token rejected");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(reason_strings),
      cmocka_unit_test(ec_short_coordinate),
      cmocka_unit_test_setup_teardown(valid_tokens, setup, teardown),
      cmocka_unit_test_setup_teardown(claim_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(extreme_dates, setup, teardown),
      cmocka_unit_test_setup_teardown(header_and_key_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(truncated_and_garbage, setup, teardown),
      cmocka_unit_test_setup_teardown(keyset_loading, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
