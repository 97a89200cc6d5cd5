/* The one table that names every project error code. */
#include "core/error.h"

#include <string.h>

const char *np_strerror(int err) {
  switch (err) {
  case NP_E_PROTO:
    return "protocol violation by peer";
  case NP_E_TOOBIG:
    return "size limit exceeded";
  case NP_E_HTTP_METHOD:
    return "HTTP method not allowed";
  case NP_E_HTTP_VERSION:
    return "HTTP version not supported";
  case NP_E_UTF8:
    return "invalid UTF-8 in text message";
  case NP_E_TLS:
    return "TLS failure";
  case NP_E_TLS_PLAINTEXT:
    return "TLS handshake answered in cleartext (is this a ws:// port?)";
  case NP_E_TIMEOUT:
    return "timed out";
  case NP_E_CLOSED:
    return "connection closed by peer";
  case NP_E_SUBPROTOCOL:
    return "missing or wrong WebSocket subprotocol";
  case NP_E_BADARG:
    return "invalid argument";
  case NP_E_JSON:
    return "malformed JSON";
  case NP_E_REFUSED:
    return "refused by server";
  case NP_E_URI_TOOLONG:
    return "request target too long";
  case NP_E_HEADERS_TOOBIG:
    return "request header too large";
  case NP_E_TOKEN:
    return "access token rejected";
  default:
    break;
  }
  if (err < 0 && err > NP_E_BASE) return strerror(-err);
  return err >= 0 ? "success" : "unknown error";
}
