/* Fuzz target for access-token verification and JWK parsing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "ops/jwt.h"

/* Public halves of two throwaway keys; the seed corpus holds tokens they
 * signed, so the fuzzer starts past the signature check. */
static const char fuzz_jwks[] =
    "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"fuzz-ed\","
    "\"x\":\"Elecr7NJox9l_WVNnO0kAxMTckMy7bZ1IqAoPEolBEI\"},"
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"fuzz-ec\","
    "\"x\":\"tTF8y7mSFMM2qwWT2GXYILKt7kzl4uo8U-kSEduoLyM\","
    "\"y\":\"usdbiPtAiw17OWGZQEkgjN0wV9X-HfpSGe4irtRGpBg\"}]}";

/* Valid at FUZZ_NOW for audience "mlab1.fuzz". */
static const char *const valid[] = {
    "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6ImZ1enotZWQifQ."
    "eyJpc3MiOiJsb2NhdGUiLCJhdWQiOlsibWxhYjEuZnV6eiJdLCJzdWIiOiJtb25pdG9yaW5nIiwiZXhwIjoxNzAwMDAwMD"
    "YwLCJuYmYiOjE2OTk5OTk5OTB9.lY-M-SO9WcpMRCCZtT4446x8xFiG-sGNMJT71EXah_"
    "GZPbUZoa26Xj0N2HshUXX4B5Hhiyi2vZxsti29OSaDDA",
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImZ1enotZWMifQ."
    "eyJpc3MiOiJsb2NhdGUiLCJhdWQiOiJtbGFiMS5mdXp6Iiwic3ViIjoibW9uaXRvcmluZyIsImV4cCI6MTcwMDAwMDA2MC"
    "wibmJmIjoxNjk5OTk5OTkwfQ."
    "jly4ZQEs70cZaK1ujHfj3gyVs3IGlnrUxudiou2WtEqZ2Hf9nfUkRA9lUyTMGM3peMTeerl0xe7hFsELbgMz4g",
};

#define FUZZ_NOW 1700000000

static np_jwt_keyset *keys(void) {
  static np_jwt_keyset *ks;
  if (ks) return ks;
  ks = np_jwt_keyset_new();
  if (!ks || np_jwt_keyset_add_jwk(ks, fuzz_jwks, sizeof fuzz_jwks - 1) != 2) abort();
  /* A harness whose known-good tokens fail would only fuzz the rejects. */
  np_jwt_expect ex = {"locate", "mlab1.fuzz", FUZZ_NOW};
  for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
    np_jwt_reason r;
    np_jwt_claims c;
    if (np_jwt_verify(ks, valid[i], strlen(valid[i]), &ex, &c, &r) != 0 ||
        strcmp(c.sub, "monitoring") != 0)
      abort();
  }
  return ks;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const np_jwt_keyset *ks = keys();
  if (size > 0 && data[0] == '{') {
    /* Key documents come from operators, but parse them defensively too. */
    np_jwt_keyset *tmp = np_jwt_keyset_new();
    if (!tmp) return 0;
    int n = np_jwt_keyset_add_jwk(tmp, (const char *)data, size);
    if (n > 0 && np_jwt_keyset_count(tmp) != (size_t)n) abort();
    np_jwt_keyset_free(tmp);
    return 0;
  }
  np_jwt_expect ex = {"locate", "mlab1.fuzz", FUZZ_NOW};
  np_jwt_reason r = NP_JWT_REASON_COUNT;
  np_jwt_claims c;
  int rc = np_jwt_verify(ks, (const char *)data, size, &ex, &c, &r);
  if ((rc == 0) != (r == NP_JWT_OK) || r >= NP_JWT_REASON_COUNT) abort();
  if (rc == 0 && (strlen(c.sub) > NP_JWT_MAX_SUB || c.exp <= FUZZ_NOW)) abort();
  return 0;
}
