/* WebSocket opening handshake (RFC 6455 section 4): checks and writes both sides. */
#include "ws/handshake.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/error.h"
#include "core/rand.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int np_ws_accept_for_key(np_slice key, char *out, size_t cap) {
  if (cap < NP_WS_ACCEPT_LEN + 1) return -ENOSPC;
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  int ok = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) return -ENOMEM;
  if (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
      (key.len == 0 || EVP_DigestUpdate(ctx, key.ptr, key.len) == 1) &&
      EVP_DigestUpdate(ctx, ws_guid, sizeof ws_guid - 1) == 1 &&
      EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 20)
    ok = 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return NP_E_TLS;
  /* 20 bytes encode to exactly 28 characters plus the NUL EVP writes. */
  if (EVP_EncodeBlock((unsigned char *)out, md, 20) != NP_WS_ACCEPT_LEN) return NP_E_TLS;
  return 0;
}

/* Header lookups, local so that this module links without the HTTP parser. */
static size_t hdr_count(const np_http_header *h, size_t n, const char *name) {
  np_slice nm = np_slice_cstr(name);
  size_t c = 0;
  for (size_t i = 0; i < n; i++) c += (size_t)np_slice_ieq(h[i].name, nm);
  return c;
}

static np_slice hdr_get(const np_http_header *h, size_t n, const char *name) {
  np_slice nm = np_slice_cstr(name);
  for (size_t i = 0; i < n; i++)
    if (np_slice_ieq(h[i].name, nm)) return h[i].value;
  return np_slice_make(NULL, 0);
}

static int b64_char(uint8_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

/* A key is the base64 of 16 bytes: 22 alphabet characters and "==". */
static int key_valid(np_slice k) {
  if (k.len != NP_WS_KEY_LEN) return 0;
  for (size_t i = 0; i < 22; i++)
    if (!b64_char(k.ptr[i])) return 0;
  return k.ptr[22] == '=' && k.ptr[23] == '=';
}

/* Whether any header named name carries tok in its comma-separated list;
 * ci selects ASCII case-insensitive comparison (HTTP tokens) or exact
 * comparison (subprotocol names are case-sensitive). */
static int headers_list_has(const np_http_header *h, size_t n, const char *name, np_slice tok,
                            int ci) {
  np_slice nm = np_slice_cstr(name);
  for (size_t i = 0; i < n; i++) {
    if (!np_slice_ieq(h[i].name, nm)) continue;
    np_slice v = h[i].value;
    size_t at = 0;
    while (at <= v.len) {
      size_t s = at, e;
      while (at < v.len && v.ptr[at] != ',') at++;
      e = at;
      while (s < e && (v.ptr[s] == ' ' || v.ptr[s] == '\t')) s++;
      while (e > s && (v.ptr[e - 1] == ' ' || v.ptr[e - 1] == '\t')) e--;
      np_slice el = np_slice_make(v.ptr + s, e - s);
      if (ci ? np_slice_ieq(el, tok) : np_slice_eq(el, tok)) return 1;
      at++;
    }
  }
  return 0;
}

static int reject(int *ret_status, int status, int err) {
  if (ret_status) *ret_status = status;
  return err;
}

int np_ws_check_upgrade(const np_http_request *req, const char *subprotocol, int *ret_status) {
  const np_http_header *h = req->headers;
  size_t n = req->nheaders;
  if (!np_slice_eq(req->method, np_slice_cstr("GET")))
    return reject(ret_status, 405, NP_E_HTTP_METHOD);
  if (req->minor_version < 1) return reject(ret_status, 400, NP_E_PROTO);
  if (hdr_count(h, n, "Host") != 1) return reject(ret_status, 400, NP_E_PROTO);
  if (!headers_list_has(h, n, "Upgrade", np_slice_cstr("websocket"), 1) ||
      !headers_list_has(h, n, "Connection", np_slice_cstr("upgrade"), 1))
    return reject(ret_status, 400, NP_E_PROTO);
  /* A version we do not speak is answered with 426 so that the client can
   * retry with 13; a missing one means this is no valid handshake at all. */
  size_t nver = hdr_count(h, n, "Sec-WebSocket-Version");
  if (nver == 0) return reject(ret_status, 400, NP_E_PROTO);
  if (nver != 1 || !np_slice_eq(hdr_get(h, n, "Sec-WebSocket-Version"), np_slice_cstr("13")))
    return reject(ret_status, 426, NP_E_PROTO);
  if (hdr_count(h, n, "Sec-WebSocket-Key") != 1 || !key_valid(hdr_get(h, n, "Sec-WebSocket-Key")))
    return reject(ret_status, 400, NP_E_PROTO);
  if (subprotocol &&
      !headers_list_has(h, n, "Sec-WebSocket-Protocol", np_slice_cstr(subprotocol), 0))
    return reject(ret_status, 400, NP_E_SUBPROTOCOL);
  return 0;
}

/* Whether s may be written into a header value (no CTLs: no injection). */
static int value_ok(const char *s, int allow_space) {
  if (!s || !*s) return 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p < 0x20 || *p == 0x7F) return 0;
    if (*p == ' ' && !allow_space) return 0;
  }
  return 1;
}

int np_ws_write_accept(np_buf *out, np_slice key, const char *subprotocol) {
  char accept[NP_WS_ACCEPT_LEN + 1];
  if (subprotocol && !value_ok(subprotocol, 0)) return NP_E_BADARG;
  int rc = np_ws_accept_for_key(key, accept, sizeof accept);
  if (rc < 0) return rc;
  /* One append, so that out is untouched on failure. */
  return np_buf_printf(out,
                       "HTTP/1.1 101 Switching Protocols\r\n"
                       "Upgrade: websocket\r\n"
                       "Connection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: %s\r\n"
                       "%s%s%s"
                       "\r\n",
                       accept, subprotocol ? "Sec-WebSocket-Protocol: " : "",
                       subprotocol ? subprotocol : "", subprotocol ? "\r\n" : "");
}

int np_ws_make_key(char *key, size_t cap) {
  if (cap < NP_WS_KEY_LEN + 1) return -ENOSPC;
  uint8_t nonce[16];
  int rc = np_random_bytes(nonce, sizeof nonce);
  if (rc < 0) return rc;
  if (EVP_EncodeBlock((unsigned char *)key, nonce, sizeof nonce) != NP_WS_KEY_LEN) return NP_E_TLS;
  return 0;
}

int np_ws_write_request(np_buf *out, const char *host, const char *target, const char *key,
                        const char *subprotocol, const char *user_agent) {
  if (!value_ok(host, 0) || !value_ok(target, 0) || target[0] != '/' ||
      !key_valid(np_slice_cstr(key ? key : "")) || (subprotocol && !value_ok(subprotocol, 0)) ||
      (user_agent && !value_ok(user_agent, 1)))
    return NP_E_BADARG;
  return np_buf_printf(out,
                       "GET %s HTTP/1.1\r\n"
                       "Host: %s\r\n"
                       "Upgrade: websocket\r\n"
                       "Connection: Upgrade\r\n"
                       "Sec-WebSocket-Key: %s\r\n"
                       "Sec-WebSocket-Version: 13\r\n"
                       "%s%s%s"
                       "%s%s%s"
                       "\r\n",
                       target, host, key, subprotocol ? "Sec-WebSocket-Protocol: " : "",
                       subprotocol ? subprotocol : "", subprotocol ? "\r\n" : "",
                       user_agent ? "User-Agent: " : "", user_agent ? user_agent : "",
                       user_agent ? "\r\n" : "");
}

int np_ws_check_accept(const np_http_response *resp, const char *key, const char *subprotocol) {
  const np_http_header *h = resp->headers;
  size_t n = resp->nheaders;
  if (resp->status != 101) return NP_E_REFUSED;
  if (!headers_list_has(h, n, "Upgrade", np_slice_cstr("websocket"), 1) ||
      !headers_list_has(h, n, "Connection", np_slice_cstr("upgrade"), 1))
    return NP_E_PROTO;
  char want[NP_WS_ACCEPT_LEN + 1];
  int rc = np_ws_accept_for_key(np_slice_cstr(key ? key : ""), want, sizeof want);
  if (rc < 0) return rc;
  if (hdr_count(h, n, "Sec-WebSocket-Accept") != 1 ||
      !np_slice_eq(hdr_get(h, n, "Sec-WebSocket-Accept"), np_slice_cstr(want)))
    return NP_E_PROTO;
  /* We offered no extension, so the server may not select one. */
  if (hdr_count(h, n, "Sec-WebSocket-Extensions") != 0) return NP_E_PROTO;
  size_t nproto = hdr_count(h, n, "Sec-WebSocket-Protocol");
  if (!subprotocol) return nproto ? NP_E_SUBPROTOCOL : 0;
  if (nproto != 1 ||
      !np_slice_eq(hdr_get(h, n, "Sec-WebSocket-Protocol"), np_slice_cstr(subprotocol)))
    return NP_E_SUBPROTOCOL;
  return 0;
}
