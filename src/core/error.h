/* Error codes: negative errno values or the project codes below, one table. */
#ifndef NP_CORE_ERROR_H
#define NP_CORE_ERROR_H

/* Functions return int: >= 0 on success, a negative errno (e.g. -ENOMEM) or
 * one of these project codes on failure. There is no global error state. */
enum {
  NP_E_BASE = -10000,
  NP_E_PROTO,          /* peer violated the protocol */
  NP_E_TOOBIG,         /* a peer-controlled size exceeded its cap */
  NP_E_HTTP_METHOD,    /* request method not allowed */
  NP_E_HTTP_VERSION,   /* HTTP version not supported */
  NP_E_UTF8,           /* text message is not valid UTF-8 */
  NP_E_TLS,            /* TLS handshake or record failure */
  NP_E_TLS_PLAINTEXT,  /* TLS handshake got a cleartext HTTP answer */
  NP_E_TIMEOUT,        /* a deadline passed */
  NP_E_CLOSED,         /* the peer closed the connection */
  NP_E_SUBPROTOCOL,    /* missing or wrong WebSocket subprotocol */
  NP_E_BADARG,         /* invalid argument or configuration value */
  NP_E_JSON,           /* JSON malformed or of the wrong shape */
  NP_E_REFUSED,        /* the server refused the test (busy, token) */
  NP_E_URI_TOOLONG,    /* request target or query over its cap */
  NP_E_HEADERS_TOOBIG, /* request head over its cap */
  NP_E_TOKEN,          /* access token rejected (reason from np_jwt_*) */
  NP_E_LAST
};

/* A static, human-readable description of err (never NULL). */
const char *np_strerror(int err);

#endif
