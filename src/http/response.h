/* Building HTTP/1.1 response heads, small complete responses, and client
 * requests into a bounded buffer. No I/O. */
#ifndef NP_HTTP_RESPONSE_H
#define NP_HTTP_RESPONSE_H

#include <stdint.h>

#include "core/buf.h"

/* All writers append to out and leave it untouched on failure. Header
 * arguments are NULL-terminated arrays of complete "Name: value" strings
 * (NULL for none); a name that is not a token, or a CR, LF or other control
 * byte anywhere, is NP_E_BADARG, so peer-derived text can never inject
 * header lines. Errors: NP_E_BADARG, or NP_E_TOOBIG / -ENOMEM from out.
 *
 * Output is deterministic: no Date header is added (the protocol cores take
 * no clock; a caller that wants one passes it in headers). Every response
 * carries "Server: netpulse" (no version, to leak nothing useful). */

/* "HTTP/1.1 <status> <reason>", Server, headers, then "Content-Length: n"
 * when content_length >= 0, then the blank line. status is 100..599;
 * content_length must be -1 for 1xx and 204, and headers must not carry
 * their own Content-Length when content_length >= 0. */
int np_http_write_head(np_buf *out, int status, const char *const *headers, int64_t content_length);

/* A complete response that ends the connection: head with Content-Type (if
 * content_type is not NULL), extra_headers, Content-Length of body (NULL =
 * empty) and "Connection: close", then the body. */
int np_http_write_simple(np_buf *out, int status, const char *content_type, const char *body,
                         const char *const *extra_headers);

/* An error answer with a JSON body {"status":<status>,"error":"<reason>"}
 * via np_http_write_simple; "Retry-After: <s>" when retry_after_s >= 0
 * (for 429/503 refusals); "Cache-Control: no-store" always. */
int np_http_write_error(np_buf *out, int status, int retry_after_s,
                        const char *const *extra_headers);

/* Client: "<method> <target> HTTP/1.1", "Host: <host>", headers, blank line.
 * method is a token, target starts with '/' and is visible ASCII without
 * '#', host is non-empty visible ASCII without '/', '?', '#', '@'; headers
 * must not carry another Host. No body framing is added (for a body, pass
 * Content-Length in headers and append the body yourself). */
int np_http_write_request(np_buf *out, const char *method, const char *host, const char *target,
                          const char *const *headers);

#endif
