/* Strict base64url (RFC 4648 §5) without padding, for tokens and IDs. */
#include "core/b64url.h"

#include <stdint.h>

#include "core/error.h"

static int b64_val(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

int np_b64url_decode(const char *in, size_t len, uint8_t *out, size_t out_max) {
  if (len % 4 == 1) return NP_E_PROTO;
  size_t need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
  if (need > out_max) return NP_E_TOOBIG;
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    int v = b64_val((unsigned char)in[i]);
    if (v < 0) return NP_E_PROTO;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  /* Leftover bits must be zero, or two encodings would decode alike. */
  if (acc != 0) return NP_E_PROTO;
  return (int)o;
}

int np_b64url_encode(const uint8_t *in, size_t len, char *out, size_t out_max) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t need = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
  if (need + 1 > out_max || need > INT32_MAX) return NP_E_TOOBIG;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    acc = (acc << 8) | in[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out[o++] = tab[(acc >> bits) & 63];
    }
    acc &= (1u << bits) - 1;
  }
  if (bits) out[o++] = tab[(acc << (6 - bits)) & 63];
  out[o] = '\0';
  return (int)o;
}
