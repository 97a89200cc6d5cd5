/* Strict HTTP/1.1 request and response head parsing; no I/O, no copies. */
#ifndef NP_HTTP_REQUEST_H
#define NP_HTTP_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/slice.h"

#define NP_HTTP_MAX_HEAD 8192 /* request line + headers + blank line */
#define NP_HTTP_MAX_HEADERS 64
#define NP_HTTP_MAX_QUERY 4096 /* bytes after '?' in the target */

typedef struct {
  np_slice name;  /* as sent (compare with np_slice_ieq) */
  np_slice value; /* leading/trailing whitespace removed */
} np_http_header;

/* All slices point into the caller's input buffer: valid while it is. */
typedef struct {
  np_slice method;   /* e.g. "GET" */
  np_slice target;   /* whole request-target */
  np_slice path;     /* target up to '?' */
  np_slice query;    /* after '?', without it; len 0 if none */
  int minor_version; /* HTTP/1.<minor> */
  size_t nheaders;
  np_http_header headers[NP_HTTP_MAX_HEADERS];
} np_http_request;

typedef struct {
  int minor_version;
  int status; /* 100..599 */
  np_slice reason;
  size_t nheaders;
  np_http_header headers[NP_HTTP_MAX_HEADERS];
} np_http_response;

/* Parses a request head from in[0..len).
 * Returns the head's length in bytes (> 0, including the final CRLFCRLF)
 * when complete; 0 when more bytes are needed (the caller enforces
 * NP_HTTP_MAX_HEAD on what it buffers: np_http_parse_request already returns
 * NP_E_HEADERS_TOOBIG once len >= NP_HTTP_MAX_HEAD without a complete head);
 * or a negative error: NP_E_PROTO (malformed: 400), NP_E_URI_TOOLONG (414),
 * NP_E_HEADERS_TOOBIG (431), NP_E_HTTP_VERSION (505).
 * ret_req is written only on success.
 *
 * Stateless: call it again on the whole buffer after each read. Errors are
 * reported as soon as the offending byte is buffered, so every prefix of an
 * input yields 0 or the whole input's result. Strict RFC 9112 rules:
 * - request-line "method SP target SP HTTP/1.x CRLF"; the method is a token
 *   (allowed methods are the caller's business); the target is origin-form
 *   ('/' then visible ASCII, no '#'); a query over NP_HTTP_MAX_QUERY bytes, or
 *   a target that does not end within the head cap, is NP_E_URI_TOOLONG;
 * - any other "HTTP/..." version (the HTTP/2 preface "PRI * HTTP/2.0"
 *   included) is NP_E_HTTP_VERSION;
 * - every line ends in CRLF: bare LF and bare CR are rejected, and so are
 *   empty lines before the request-line;
 * - header names are tokens directly followed by ':'; obs-fold is rejected;
 *   values may hold HTAB, SP, VCHAR and obs-text only (no NUL or other CTL)
 *   and are trimmed of SP/HTAB; more than NP_HTTP_MAX_HEADERS headers is
 *   NP_E_HEADERS_TOOBIG;
 * - HTTP/1.1 needs exactly one Host, HTTP/1.0 at most one;
 * - Content-Length must be valid and agree across fields; Content-Length
 *   together with Transfer-Encoding is rejected (smuggling); Transfer-Encoding
 *   alone is accepted and left to the caller. */
int np_http_parse_request(const uint8_t *in, size_t len, np_http_request *ret_req);

/* Parses a response head (client side), same return convention and line
 * rules; the status line is "HTTP/1.x NNN reason" with NNN in 100..599 (the
 * space before an empty reason may be missing). Framing headers are checked
 * later by np_http_body_init. */
int np_http_parse_response(const uint8_t *in, size_t len, np_http_response *ret_resp);

/* First header named name (case-insensitive); {NULL,0} when absent. */
np_slice np_http_header_get(const np_http_header *h, size_t n, const char *name);

/* Number of headers named name. */
size_t np_http_header_count(const np_http_header *h, size_t n, const char *name);

/* Content-Length over all fields named so: 1 and *ret_len when present and
 * valid (digits, at most 18; a list of identical values is accepted), 0 when
 * absent (ret_len untouched), NP_E_PROTO when malformed or conflicting. */
int np_http_content_length(const np_http_header *h, size_t n, uint64_t *ret_len);

/* The HTTP status that answers a parse error (400, 414, 431, 505; also 405
 * for NP_E_HTTP_METHOD, 413 for NP_E_TOOBIG, 400 for other project codes and
 * 500 for errno values). */
int np_http_status_for_error(int err);

/* The standard reason phrase for a status ("Bad Request"), "" if unknown. */
const char *np_http_reason(int status);

/* Incremental body framing for responses read by a client: Content-Length,
 * chunked, or until close. Chunk extensions and trailers are skipped. */
typedef struct {
  int mode;           /* internal */
  uint64_t remaining; /* internal */
  int state;          /* internal (negative: the sticky error) */
  uint32_t linelen;   /* internal: chunk-size line / trailer bytes seen */
  uint64_t total;     /* body bytes delivered so far */
  uint64_t max;       /* cap on total body bytes */
} np_http_body;

/* Sets up body framing from a parsed response; max caps the body size.
 * 1xx, 204 and 304 responses have no body. Transfer-Encoding must be exactly
 * "chunked" (one field, HTTP/1.1 only, no Content-Length beside it).
 * NP_E_PROTO on a bad/conflicting Content-Length or Transfer-Encoding,
 * NP_E_TOOBIG when Content-Length exceeds max. */
int np_http_body_init(np_http_body *b, const np_http_response *resp, uint64_t max);

/* Sets up body framing for a request read by a server: Content-Length or
 * chunked (same rules as for responses); neither means no body. max caps
 * the body (UINT64_MAX: any size). NP_E_PROTO, NP_E_TOOBIG as above. */
int np_http_body_init_request(np_http_body *b, const np_http_request *req, uint64_t max);

/* Sets up an empty body (the answer to a HEAD request, which the response
 * alone does not reveal). */
void np_http_body_init_empty(np_http_body *b);

/* Consumes framing from in[0..len). Body bytes are compacted in place at the
 * start of in; *ret_body_len says how many. Returns bytes consumed (>= 0),
 * or NP_E_PROTO / NP_E_TOOBIG (sticky: later calls return it again).
 * Everything is consumed until the body is done; bytes after its end are
 * left in in[consumed..len) untouched. Chunk-size lines are capped at 4096
 * bytes (16 hex digits) and trailers at NP_HTTP_MAX_HEAD bytes. */
int np_http_body_read(np_http_body *b, uint8_t *in, size_t len, size_t *ret_body_len);

/* 1 when the body is complete (for until-close bodies: never, the caller
 * ends it at EOF with np_http_body_eof). */
int np_http_body_done(const np_http_body *b);

/* Called at EOF: 0 if the body may end here, NP_E_PROTO if it was cut. */
int np_http_body_eof(const np_http_body *b);

#endif
