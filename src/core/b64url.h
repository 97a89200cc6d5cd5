/* Strict base64url (RFC 4648 §5) without padding: one encoding per byte
 * string, so tokens and IDs compare by their text. */
#ifndef NP_CORE_B64URL_H
#define NP_CORE_B64URL_H

#include <stddef.h>
#include <stdint.h>

/* Strict base64url (RFC 4648 section 5) without padding: rejects '=',
 * other alphabets, a length of 1 mod 4 and non-zero trailing bits, so each
 * byte string has exactly one accepted encoding. Writes at most out_max
 * bytes; returns the decoded length, NP_E_PROTO or NP_E_TOOBIG. */
int np_b64url_decode(const char *in, size_t len, uint8_t *out, size_t out_max);

/* Encodes without padding; returns the length written (NUL-terminated) or
 * NP_E_TOOBIG if out_max < 4*ceil(len/3)+1. */
int np_b64url_encode(const uint8_t *in, size_t len, char *out, size_t out_max);

#endif
