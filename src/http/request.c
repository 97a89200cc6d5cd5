/* Strict HTTP/1.1 request and response head parser: a stateless re-scan of
 * the buffered bytes that reports "need more", a result, or an error. */
#include "http/request.h"

#include <string.h>

#include "core/error.h"

/* Scan results besides errors: NEED means the bytes ran out before a
 * decision; NEED_URI is the same while inside the request-target, so that a
 * target that fills the whole head cap is answered 414, not 431. */
enum { OK = 0, NEED = 1, NEED_URI = 2 };

typedef struct {
  const uint8_t *in;
  size_t lim; /* min(len, NP_HTTP_MAX_HEAD): nothing past it is looked at */
  size_t pos;
} scan;

static int is_tchar(uint8_t c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
  switch (c) {
  case '!':
  case '#':
  case '$':
  case '%':
  case '&':
  case '\'':
  case '*':
  case '+':
  case '-':
  case '.':
  case '^':
  case '_':
  case '`':
  case '|':
  case '~':
    return 1;
  default:
    return 0;
  }
}

/* field-value bytes: HTAB, SP, VCHAR, obs-text. */
static int is_value_byte(uint8_t c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

static int is_ows(uint8_t c) { return c == ' ' || c == '\t'; }

static np_slice sub(const scan *s, size_t start, size_t end) {
  return np_slice_make(s->in + start, end - start);
}

static int starts_with(np_slice s, const char *lit) {
  size_t n = strlen(lit);
  return s.len >= n && memcmp(s.ptr, lit, n) == 0;
}

/* Expects LF at pos (the CR was already taken). A CR not followed by LF is a
 * bare CR: rejected, as RFC 9112 section 2.2 allows. */
static int take_lf(scan *s) {
  if (s->pos >= s->lim) return NEED;
  if (s->in[s->pos] != '\n') return NP_E_PROTO;
  s->pos++;
  return OK;
}

/* Maps "HTTP/1.0" / "HTTP/1.1" to the minor version; other "HTTP/" versions
 * (including the HTTP/2 preface's "HTTP/2.0") are unsupported, anything else
 * is not HTTP. */
static int version_minor(np_slice v) {
  if (v.len == 8 && starts_with(v, "HTTP/1.") && (v.ptr[7] == '0' || v.ptr[7] == '1'))
    return v.ptr[7] - '0';
  return starts_with(v, "HTTP/") ? NP_E_HTTP_VERSION : NP_E_PROTO;
}

static int parse_request_line(scan *s, np_http_request *r) {
  size_t start = s->pos;
  for (;; s->pos++) {
    if (s->pos >= s->lim) return NEED;
    uint8_t c = s->in[s->pos];
    if (c == ' ') break;
    if (!is_tchar(c)) return NP_E_PROTO;
  }
  if (s->pos == start) return NP_E_PROTO;
  r->method = sub(s, start, s->pos);
  s->pos++;

  /* The target is any run of visible ASCII here; its form is checked once the
   * version is known, so that "PRI * HTTP/2.0" is answered 505. The query cap
   * is enforced while scanning so that an oversized query fails early. */
  size_t tstart = s->pos, qstart = 0;
  for (;; s->pos++) {
    if (s->pos >= s->lim) return NEED_URI;
    uint8_t c = s->in[s->pos];
    if (c == ' ') break;
    if (c < 0x21 || c > 0x7e) return NP_E_PROTO;
    if (c == '?' && qstart == 0) qstart = s->pos + 1;
    if (qstart && s->pos + 1 - qstart > NP_HTTP_MAX_QUERY) return NP_E_URI_TOOLONG;
  }
  size_t tend = s->pos;
  if (tend == tstart) return NP_E_PROTO;
  s->pos++;

  size_t vstart = s->pos;
  for (;; s->pos++) {
    if (s->pos >= s->lim) return NEED;
    uint8_t c = s->in[s->pos];
    if (c == '\r') break;
    if (c < 0x21 || c > 0x7e) return NP_E_PROTO;
  }
  np_slice version = sub(s, vstart, s->pos);
  s->pos++;
  int rc = take_lf(s);
  if (rc != OK) return rc;

  int minor = version_minor(version);
  if (minor < 0) return minor;
  r->minor_version = minor;

  /* origin-form only: absolute-form, authority-form and asterisk-form have
   * no use here, and a fragment is never part of a request-target. */
  if (s->in[tstart] != '/') return NP_E_PROTO;
  if (memchr(s->in + tstart, '#', tend - tstart)) return NP_E_PROTO;
  r->target = sub(s, tstart, tend);
  if (qstart) {
    r->path = sub(s, tstart, qstart - 1);
    r->query = sub(s, qstart, tend);
  } else {
    r->path = r->target;
    r->query = np_slice_make(s->in + tend, 0);
  }
  return OK;
}

/* Header lines up to and including the empty line. */
static int parse_headers(scan *s, np_http_header *h, size_t *ret_n) {
  size_t n = 0;
  for (;;) {
    if (s->pos >= s->lim) return NEED;
    uint8_t c = s->in[s->pos];
    if (c == '\r') {
      s->pos++;
      int rc = take_lf(s);
      if (rc != OK) return rc;
      *ret_n = n;
      return OK;
    }
    /* A line starting with whitespace is obs-fold (or whitespace before the
     * first header, RFC 9112 section 2.2): both rejected. */
    if (is_ows(c)) return NP_E_PROTO;
    if (n == NP_HTTP_MAX_HEADERS) return NP_E_HEADERS_TOOBIG;

    size_t nstart = s->pos;
    for (;; s->pos++) {
      if (s->pos >= s->lim) return NEED;
      c = s->in[s->pos];
      if (c == ':') break;
      if (!is_tchar(c)) return NP_E_PROTO; /* also whitespace before ':' */
    }
    if (s->pos == nstart) return NP_E_PROTO;
    size_t nend = s->pos++;

    size_t vstart = s->pos;
    for (;; s->pos++) {
      if (s->pos >= s->lim) return NEED;
      c = s->in[s->pos];
      if (c == '\r') break;
      if (!is_value_byte(c)) return NP_E_PROTO; /* NUL, bare LF, other CTLs */
    }
    size_t vend = s->pos++;
    int rc = take_lf(s);
    if (rc != OK) return rc;

    while (vstart < vend && is_ows(s->in[vstart])) vstart++;
    while (vend > vstart && is_ows(s->in[vend - 1])) vend--;
    h[n].name = sub(s, nstart, nend);
    h[n].value = sub(s, vstart, vend);
    n++;
  }
}

/* Turns a scan stop into the public result: 0 (need more) while the cap has
 * not been reached, otherwise the error for what overflowed. */
static int stop(int rc, size_t len) {
  if (rc < 0) return rc;
  if (len < NP_HTTP_MAX_HEAD) return 0;
  return rc == NEED_URI ? NP_E_URI_TOOLONG : NP_E_HEADERS_TOOBIG;
}

int np_http_parse_request(const uint8_t *in, size_t len, np_http_request *ret_req) {
  scan s = {in, len < NP_HTTP_MAX_HEAD ? len : NP_HTTP_MAX_HEAD, 0};
  np_http_request r;
  int rc = parse_request_line(&s, &r);
  if (rc != OK) return stop(rc, len);
  rc = parse_headers(&s, r.headers, &r.nheaders);
  if (rc != OK) return stop(rc, len);

  /* RFC 9112 section 3.2: a 1.1 request has exactly one Host, and no
   * request has two. */
  size_t hosts = np_http_header_count(r.headers, r.nheaders, "Host");
  if (hosts > 1 || (hosts == 0 && r.minor_version == 1)) return NP_E_PROTO;
  uint64_t clen;
  rc = np_http_content_length(r.headers, r.nheaders, &clen);
  if (rc < 0) return rc;
  /* Both framings at once is the request-smuggling shape (RFC 9112 section
   * 6.3): refuse rather than pick one. Transfer-Encoding alone is left to the
   * caller. */
  if (rc == 1 && np_http_header_count(r.headers, r.nheaders, "Transfer-Encoding"))
    return NP_E_PROTO;
  *ret_req = r;
  return (int)s.pos;
}

static int parse_status_line(scan *s, np_http_response *r) {
  /* Checked byte by byte so that a peer that is not speaking HTTP (or is
   * speaking TLS) is rejected at once instead of after 8 KiB. */
  static const char prefix[] = "HTTP/";
  size_t vstart = s->pos;
  for (;; s->pos++) {
    if (s->pos >= s->lim) return NEED;
    uint8_t c = s->in[s->pos];
    size_t i = s->pos - vstart;
    if (i < 5 && c != (uint8_t)prefix[i]) return NP_E_PROTO;
    if (c == ' ') break;
    if (c < 0x21 || c > 0x7e) return NP_E_PROTO;
  }
  int minor = version_minor(sub(s, vstart, s->pos));
  if (minor < 0) return minor;
  r->minor_version = minor;
  s->pos++;

  int status = 0;
  for (int i = 0; i < 3; i++, s->pos++) {
    if (s->pos >= s->lim) return NEED;
    uint8_t c = s->in[s->pos];
    if (c < '0' || c > '9') return NP_E_PROTO;
    status = status * 10 + (c - '0');
  }
  if (status < 100 || status > 599) return NP_E_PROTO;
  r->status = status;

  if (s->pos >= s->lim) return NEED;
  /* The SP before an empty reason is tolerated missing ("HTTP/1.1 200"). */
  if (s->in[s->pos] == ' ')
    s->pos++;
  else if (s->in[s->pos] != '\r')
    return NP_E_PROTO;
  size_t rstart = s->pos;
  for (;; s->pos++) {
    if (s->pos >= s->lim) return NEED;
    uint8_t c = s->in[s->pos];
    if (c == '\r') break;
    if (!is_value_byte(c)) return NP_E_PROTO;
  }
  r->reason = sub(s, rstart, s->pos);
  s->pos++;
  return take_lf(s);
}

int np_http_parse_response(const uint8_t *in, size_t len, np_http_response *ret_resp) {
  scan s = {in, len < NP_HTTP_MAX_HEAD ? len : NP_HTTP_MAX_HEAD, 0};
  np_http_response r;
  int rc = parse_status_line(&s, &r);
  if (rc != OK) return stop(rc, len);
  rc = parse_headers(&s, r.headers, &r.nheaders);
  if (rc != OK) return stop(rc, len);
  *ret_resp = r;
  return (int)s.pos;
}

np_slice np_http_header_get(const np_http_header *h, size_t n, const char *name) {
  np_slice want = np_slice_cstr(name);
  for (size_t i = 0; i < n; i++)
    if (np_slice_ieq(h[i].name, want)) return h[i].value;
  return np_slice_make(NULL, 0);
}

size_t np_http_header_count(const np_http_header *h, size_t n, const char *name) {
  np_slice want = np_slice_cstr(name);
  size_t count = 0;
  for (size_t i = 0; i < n; i++)
    if (np_slice_ieq(h[i].name, want)) count++;
  return count;
}

/* One Content-Length field value: 1*DIGIT, or a list of identical ones
 * ("42, 42", which RFC 9110 section 8.6 lets a recipient accept). 18 digits
 * at most, so the value never overflows. */
static int parse_clen_value(np_slice v, uint64_t *ret) {
  size_t i = 0;
  int have = 0;
  uint64_t first = 0;
  for (;;) {
    while (i < v.len && is_ows(v.ptr[i])) i++;
    size_t start = i;
    uint64_t x = 0;
    while (i < v.len && v.ptr[i] >= '0' && v.ptr[i] <= '9') {
      if (i - start == 18) return NP_E_PROTO;
      x = x * 10 + (uint64_t)(v.ptr[i++] - '0');
    }
    if (i == start) return NP_E_PROTO;
    if (have && x != first) return NP_E_PROTO;
    first = x;
    have = 1;
    while (i < v.len && is_ows(v.ptr[i])) i++;
    if (i == v.len) break;
    if (v.ptr[i++] != ',') return NP_E_PROTO;
  }
  *ret = first;
  return 0;
}

int np_http_content_length(const np_http_header *h, size_t n, uint64_t *ret_len) {
  int have = 0;
  uint64_t len = 0;
  np_slice want = np_slice_cstr("Content-Length");
  for (size_t i = 0; i < n; i++) {
    if (!np_slice_ieq(h[i].name, want)) continue;
    uint64_t x;
    if (parse_clen_value(h[i].value, &x) < 0) return NP_E_PROTO;
    if (have && x != len) return NP_E_PROTO;
    len = x;
    have = 1;
  }
  if (have) *ret_len = len;
  return have;
}

int np_http_status_for_error(int err) {
  switch (err) {
  case NP_E_URI_TOOLONG:
    return 414;
  case NP_E_HEADERS_TOOBIG:
    return 431;
  case NP_E_HTTP_VERSION:
    return 505;
  case NP_E_HTTP_METHOD:
    return 405;
  case NP_E_TOOBIG:
    return 413;
  default:
    break;
  }
  /* Other project codes are the peer's fault; errno values are ours. */
  return (err > NP_E_BASE && err < NP_E_LAST) ? 400 : 500;
}

const char *np_http_reason(int status) {
  switch (status) {
  case 100:
    return "Continue";
  case 101:
    return "Switching Protocols";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 206:
    return "Partial Content";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 304:
    return "Not Modified";
  case 307:
    return "Temporary Redirect";
  case 308:
    return "Permanent Redirect";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 411:
    return "Length Required";
  case 413:
    return "Content Too Large";
  case 414:
    return "URI Too Long";
  case 415:
    return "Unsupported Media Type";
  case 426:
    return "Upgrade Required";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return "";
  }
}
