/* WebSocket opening handshake (RFC 6455 section 4) for both roles. */
#ifndef NP_WS_HANDSHAKE_H
#define NP_WS_HANDSHAKE_H

#include <stddef.h>

#include "core/buf.h"
#include "core/slice.h"
#include "http/request.h"

#define NP_WS_KEY_LEN 24    /* base64 of 16 bytes */
#define NP_WS_ACCEPT_LEN 28 /* base64 of a SHA-1 digest */

/* Computes Sec-WebSocket-Accept for key into out (>= 29 bytes, NUL-ended).
 * 0 or a negative error. */
int np_ws_accept_for_key(np_slice key, char *out, size_t cap);

/* Checks an upgrade request: GET, HTTP/1.1, one Host, Upgrade: websocket, Connection
 * has "upgrade", Sec-WebSocket-Version: 13, a valid 24-char key, and the
 * Sec-WebSocket-Protocol list contains subprotocol. Returns 0, or an error
 * and *ret_status: 400 (bad request / missing or wrong subprotocol), 405
 * (method), 426 (version; the caller adds Sec-WebSocket-Version: 13).
 * Errors: NP_E_HTTP_METHOD (405), NP_E_SUBPROTOCOL (400), NP_E_PROTO (400
 * or 426; a missing version is 400). Header names and the Upgrade and
 * Connection tokens compare case-insensitively; subprotocol names exactly
 * (they may be listed across several header fields). subprotocol NULL
 * skips that check. Offered extensions are ignored (never accepted). */
int np_ws_check_upgrade(const np_http_request *req, const char *subprotocol, int *ret_status);

/* Appends the whole 101 Switching Protocols head (ending in the blank
 * line) echoing subprotocol (NULL: none); never negotiates extensions.
 * key is the request's Sec-WebSocket-Key value. out is untouched on
 * failure (NP_E_BADARG for a subprotocol with spaces/CTLs, NP_E_TOOBIG). */
int np_ws_write_accept(np_buf *out, np_slice key, const char *subprotocol);

/* Client: a fresh random key (24 chars + NUL) into key (>= 25 bytes). */
int np_ws_make_key(char *key, size_t cap);

/* Client: appends the whole GET upgrade request head for host/target
 * ("/path?query") with key, subprotocol (NULL: none) and an optional
 * User-Agent. NP_E_BADARG (out untouched) for values with CTLs, a target
 * not starting with '/', or a key that is not base64 of 16 bytes. */
int np_ws_write_request(np_buf *out, const char *host, const char *target, const char *key,
                        const char *subprotocol, const char *user_agent);

/* Client: checks a parsed response: 101, Upgrade/Connection, the accept
 * value for key, the echoed subprotocol, and no extensions. Returns 0,
 * NP_E_SUBPROTOCOL, NP_E_REFUSED (a non-101 status, e.g. 503/401), or
 * NP_E_PROTO. */
int np_ws_check_accept(const np_http_response *resp, const char *key, const char *subprotocol);

#endif
