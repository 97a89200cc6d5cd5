/* Message body framing: Content-Length, chunked, or (responses) until
 * close. */
#include <limits.h>
#include <string.h>

#include "core/error.h"
#include "http/request.h"

enum { M_NONE, M_LENGTH, M_CHUNKED, M_CLOSE };

/* Chunked decoder states (RFC 9112 section 7.1). */
enum {
  S_SIZE0,      /* first hex digit of a chunk-size */
  S_SIZE,       /* more hex digits, or the end of the size */
  S_EXT,        /* chunk extensions, skipped up to CR */
  S_SIZE_LF,    /* LF ending the chunk-size line */
  S_DATA,       /* chunk data */
  S_DATA_CR,    /* CR after chunk data */
  S_DATA_LF,    /* LF after chunk data */
  S_TRAILER0,   /* start of a trailer line, or the final CR */
  S_TRAILER,    /* trailer field line, skipped up to CR */
  S_TRAILER_LF, /* LF ending a trailer line */
  S_END_LF,     /* LF ending the message */
  S_DONE
};

#define MAX_SIZE_LINE 4096
#define MAX_HEX_DIGITS 16

void np_http_body_init_empty(np_http_body *b) {
  memset(b, 0, sizeof *b);
  b->mode = M_NONE;
}

/* Framing from a message's headers; without either framing header the
 * body is none_mode (until close for responses, empty for requests). */
static int init_from(np_http_body *b, const np_http_header *h, size_t n, int minor, uint64_t max,
                     int none_mode) {
  np_http_body nb;
  memset(&nb, 0, sizeof nb);
  nb.max = max;
  uint64_t clen = 0;
  int has_len = np_http_content_length(h, n, &clen);
  if (has_len < 0) return has_len;
  size_t te = np_http_header_count(h, n, "Transfer-Encoding");
  if (te) {
    /* We decode no other coding, and RFC 9112 section 6.1 calls an HTTP/1.0
     * message with Transfer-Encoding, or one with both framings, faulty. */
    np_slice v = np_http_header_get(h, n, "Transfer-Encoding");
    if (te > 1 || has_len || minor == 0 || !np_slice_ieq(v, np_slice_cstr("chunked")))
      return NP_E_PROTO;
    nb.mode = M_CHUNKED;
    nb.state = S_SIZE0;
  } else if (has_len) {
    if (clen > max) return NP_E_TOOBIG;
    nb.mode = M_LENGTH;
    nb.remaining = clen;
  } else {
    nb.mode = none_mode;
  }
  *b = nb;
  return 0;
}

int np_http_body_init(np_http_body *b, const np_http_response *resp, uint64_t max) {
  if (resp->status < 200 || resp->status == 204 || resp->status == 304) {
    np_http_body_init_empty(b);
    b->max = max;
    return 0;
  }
  return init_from(b, resp->headers, resp->nheaders, resp->minor_version, max, M_CLOSE);
}

int np_http_body_init_request(np_http_body *b, const np_http_request *req, uint64_t max) {
  return init_from(b, req->headers, req->nheaders, req->minor_version, max, M_NONE);
}

static int hexval(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Bytes allowed inside skipped extension and trailer lines. */
static int is_line_byte(uint8_t c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

/* One step of the chunked decoder over in[*pos]; data bytes are moved to
 * in[*out]. Returns 0 or an error. */
static int chunked_step(np_http_body *b, uint8_t *in, size_t len, size_t *pos, size_t *out) {
  uint8_t c = in[*pos];
  int v;
  switch (b->state) {
  case S_SIZE0:
  case S_SIZE:
    v = hexval(c);
    if (v >= 0) {
      if (++b->linelen > MAX_HEX_DIGITS) return NP_E_PROTO;
      b->remaining = (b->remaining << 4) | (uint64_t)v;
      b->state = S_SIZE;
    } else if (b->state == S_SIZE0) {
      return NP_E_PROTO;
    } else if (c == ';' || c == ' ' || c == '\t') {
      b->linelen++;
      b->state = S_EXT;
    } else if (c == '\r') {
      b->state = S_SIZE_LF;
    } else {
      return NP_E_PROTO;
    }
    break;
  case S_EXT:
    if (c == '\r') {
      b->state = S_SIZE_LF;
    } else {
      if (!is_line_byte(c)) return NP_E_PROTO;
      if (++b->linelen > MAX_SIZE_LINE) return NP_E_PROTO;
    }
    break;
  case S_SIZE_LF:
    if (c != '\n') return NP_E_PROTO;
    b->linelen = 0;
    if (b->remaining == 0) {
      b->state = S_TRAILER0;
    } else {
      if (b->remaining > b->max - b->total) return NP_E_TOOBIG;
      b->state = S_DATA;
    }
    break;
  case S_DATA: {
    size_t n = len - *pos;
    if (n > b->remaining) n = (size_t)b->remaining;
    memmove(in + *out, in + *pos, n);
    *out += n;
    *pos += n;
    b->remaining -= n;
    b->total += n;
    if (b->remaining == 0) b->state = S_DATA_CR;
    return 0; /* pos already advanced */
  }
  case S_DATA_CR:
    if (c != '\r') return NP_E_PROTO;
    b->state = S_DATA_LF;
    break;
  case S_DATA_LF:
    if (c != '\n') return NP_E_PROTO;
    b->state = S_SIZE0;
    break;
  case S_TRAILER0:
    if (c == '\r') {
      b->state = S_END_LF;
      break;
    }
    if (c == ' ' || c == '\t') return NP_E_PROTO; /* obs-fold */
    /* The first byte of a trailer line. */
    /* fall through */
  case S_TRAILER:
    if (c == '\r') {
      b->state = S_TRAILER_LF;
    } else {
      if (!is_line_byte(c)) return NP_E_PROTO;
      if (++b->linelen > NP_HTTP_MAX_HEAD) return NP_E_TOOBIG;
      b->state = S_TRAILER;
    }
    break;
  case S_TRAILER_LF:
    if (c != '\n') return NP_E_PROTO;
    b->state = S_TRAILER0;
    break;
  case S_END_LF:
    if (c != '\n') return NP_E_PROTO;
    b->state = S_DONE;
    break;
  default:
    return NP_E_PROTO;
  }
  (*pos)++;
  return 0;
}

int np_http_body_read(np_http_body *b, uint8_t *in, size_t len, size_t *ret_body_len) {
  *ret_body_len = 0;
  if (b->state < 0) return b->state;
  if (len > INT_MAX) len = INT_MAX; /* the count is returned as an int */
  size_t n;
  switch (b->mode) {
  case M_LENGTH:
    n = len;
    if (n > b->remaining) n = (size_t)b->remaining;
    b->remaining -= n;
    b->total += n;
    *ret_body_len = n;
    return (int)n;
  case M_CLOSE:
    if (len > b->max - b->total) {
      b->state = NP_E_TOOBIG;
      return NP_E_TOOBIG;
    }
    b->total += len;
    *ret_body_len = len;
    return (int)len;
  case M_CHUNKED: {
    size_t pos = 0, out = 0;
    while (pos < len && b->state != S_DONE) {
      int rc = chunked_step(b, in, len, &pos, &out);
      if (rc < 0) {
        b->state = rc;
        return rc;
      }
    }
    *ret_body_len = out;
    return (int)pos;
  }
  default:
    return 0;
  }
}

int np_http_body_done(const np_http_body *b) {
  switch (b->mode) {
  case M_NONE:
    return 1;
  case M_LENGTH:
    return b->state >= 0 && b->remaining == 0;
  case M_CHUNKED:
    return b->state == S_DONE;
  default:
    return 0;
  }
}

int np_http_body_eof(const np_http_body *b) {
  if (b->state < 0) return NP_E_PROTO;
  if (b->mode == M_CLOSE || np_http_body_done(b)) return 0;
  return NP_E_PROTO;
}
