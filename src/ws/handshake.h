/* WebSocket opening handshake (RFC 6455 section 4) for both roles. */
#ifndef NP_WS_HANDSHAKE_H
#define NP_WS_HANDSHAKE_H

#include <stddef.h>

#include "core/buf.h"
#include "core/slice.h"
#include "http/request.h"

#define NP_WS_KEY_LEN 24     /* base64 of 16 bytes */
#define NP_WS_ACCEPT_LEN 28  /* base64 of a SHA-1 digest */

/* Computes Sec-WebSocket-Accept for key into out (>= 29 bytes, NUL-ended).
 * 0 or a negative error. */
int np_ws_accept_for_key(np_slice key, char *out, size_t cap);

/* Checks an upgrade request: GET, HTTP/1.1, Upgrade: websocket, Connection
 * has "upgrade", Sec-WebSocket-Version: 13, a valid 24-char key, and the
 * Sec-WebSocket-Protocol list contains subprotocol. Returns 0, or an error
 * and *ret_status: 400 (bad request / missing or wrong subprotocol), 405
 * (method), 426 (version; the caller adds Sec-WebSocket-Version: 13). */
int np_ws_check_upgrade(const np_http_request *req, const char *subprotocol,
                        int *ret_status);

/* Appends the 101 Switching Protocols response echoing subprotocol; never
 * negotiates extensions. */
int np_ws_write_accept(np_buf *out, np_slice key, const char *subprotocol);

/* Client: a fresh random key (24 chars + NUL) into key (>= 25 bytes). */
int np_ws_make_key(char *key, size_t cap);

/* Client: appends the GET upgrade request for host/target with subprotocol
 * (and an optional User-Agent). */
int np_ws_write_request(np_buf *out, const char *host, const char *target,
                        const char *key, const char *subprotocol, const char *user_agent);

/* Client: checks a parsed response: 101, Upgrade/Connection, the accept
 * value for key, the echoed subprotocol, and no extensions. Returns 0,
 * NP_E_SUBPROTOCOL, NP_E_REFUSED (a non-101 status, e.g. 503/401), or
 * NP_E_PROTO. */
int np_ws_check_accept(const np_http_response *resp, const char *key,
                       const char *subprotocol);

#endif
