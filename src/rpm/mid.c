/* RPM measurement IDs: HMAC-SHA256 over the raw ID and the client address,
 * two rotating keys, constant-time comparison. */
#include "rpm/mid.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "core/b64url.h"
#include "core/clock.h"
#include "core/error.h"

#define VERSION 1
#define MAC_LEN 16
#define BODY_LEN (NP_RPM_MID_RAW - MAC_LEN)

const char *np_rpm_mid_status_name(np_rpm_mid_status s) {
  switch (s) {
  case NP_RPM_MID_OK:
    return "ok";
  case NP_RPM_MID_MISSING:
    return "missing";
  case NP_RPM_MID_MALFORMED:
    return "malformed";
  case NP_RPM_MID_FORGED:
    return "forged";
  case NP_RPM_MID_EXPIRED:
    return "expired";
  }
  return "unknown";
}

void np_rpm_keys_init(np_rpm_keys *k, const uint8_t *fresh, uint64_t now_ns) {
  memset(k, 0, sizeof *k);
  memcpy(k->key[0], fresh, NP_RPM_KEY_LEN);
  /* The unused slot gets a key nobody knows either. */
  for (size_t i = 0; i < NP_RPM_KEY_LEN; i++) k->key[1][i] = (uint8_t)(fresh[i] ^ 0x5c);
  k->rotated_ns = now_ns;
  k->origin_ns = now_ns;
}

void np_rpm_keys_rotate(np_rpm_keys *k, const uint8_t *fresh, uint64_t now_ns) {
  k->gen++;
  memcpy(k->key[k->gen & 1], fresh, NP_RPM_KEY_LEN);
  k->rotated_ns = now_ns;
}

static void put_be(uint8_t *p, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = v << 8 | p[i];
  return v;
}

static int mac(const uint8_t *key, const uint8_t *body, np_slice addr, uint8_t *out) {
  uint8_t msg[BODY_LEN + 1 + 16];
  memcpy(msg, body, BODY_LEN);
  msg[BODY_LEN] = (uint8_t)addr.len;
  memcpy(msg + BODY_LEN + 1, addr.ptr, addr.len);
  uint8_t full[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!HMAC(EVP_sha256(), key, NP_RPM_KEY_LEN, msg, BODY_LEN + 1 + addr.len, full, &n) ||
      n < MAC_LEN)
    return NP_E_BADARG;
  memcpy(out, full, MAC_LEN);
  OPENSSL_cleanse(full, sizeof full);
  return 0;
}

static int addr_ok(np_slice a) { return a.ptr && (a.len == 4 || a.len == 16); }

int np_rpm_mid_mint(const np_rpm_keys *k, uint64_t id, np_slice client_addr, uint64_t now_ns,
                    uint64_t ttl_ns, char *out, size_t out_max) {
  if (!addr_ok(client_addr) || out_max < NP_RPM_MID_LEN + 1 || now_ns < k->origin_ns)
    return NP_E_BADARG;
  uint64_t expiry = (now_ns - k->origin_ns + ttl_ns) / NP_NS_PER_S + 1;
  if (expiry > UINT32_MAX) return NP_E_BADARG;
  uint8_t raw[NP_RPM_MID_RAW];
  raw[0] = VERSION;
  raw[1] = (uint8_t)k->gen;
  put_be(raw + 2, id, 8);
  put_be(raw + 10, expiry, 4);
  int rc = mac(k->key[k->gen & 1], raw, client_addr, raw + BODY_LEN);
  if (rc < 0) return rc;
  return np_b64url_encode(raw, sizeof raw, out, out_max) == NP_RPM_MID_LEN ? 0 : NP_E_BADARG;
}

np_rpm_mid_status np_rpm_mid_check(const np_rpm_keys *k, np_slice mid, np_slice client_addr,
                                   uint64_t now_ns, uint64_t *ret_id) {
  if (mid.len == 0) return NP_RPM_MID_MISSING;
  uint8_t raw[NP_RPM_MID_RAW];
  if (mid.len != NP_RPM_MID_LEN || !addr_ok(client_addr) ||
      np_b64url_decode((const char *)mid.ptr, mid.len, raw, sizeof raw) != NP_RPM_MID_RAW ||
      raw[0] != VERSION)
    return NP_RPM_MID_MALFORMED;
  /* Only the current generation and the one before it are known. */
  uint8_t g = raw[1];
  uint32_t gen;
  if (g == (uint8_t)k->gen)
    gen = k->gen;
  else if (k->gen > 0 && g == (uint8_t)(k->gen - 1))
    gen = k->gen - 1;
  else
    return NP_RPM_MID_FORGED;
  uint8_t want[MAC_LEN];
  if (mac(k->key[gen & 1], raw, client_addr, want) < 0 ||
      CRYPTO_memcmp(want, raw + BODY_LEN, MAC_LEN) != 0)
    return NP_RPM_MID_FORGED;
  uint64_t expiry_s = get_be(raw + 10, 4);
  if (now_ns < k->origin_ns || (now_ns - k->origin_ns) / NP_NS_PER_S >= expiry_s)
    return NP_RPM_MID_EXPIRED;
  if (ret_id) *ret_id = get_be(raw + 2, 8);
  return NP_RPM_MID_OK;
}
