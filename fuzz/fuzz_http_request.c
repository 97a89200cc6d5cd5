/* Fuzzes the HTTP request head parser: output invariants, and that every
 * prefix of an input yields 0 or the whole input's result; then the
 * request body framing over the bytes after the head. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "http/query.h"
#include "http/request.h"

#define CHECK(x)                                                                                   \
  do {                                                                                             \
    if (!(x)) abort();                                                                             \
  } while (0)

static int is_ows(uint8_t c) { return c == ' ' || c == '\t'; }

static int inside(np_slice s, const uint8_t *base, size_t len) {
  return s.len == 0 || (s.ptr >= base && s.ptr + s.len <= base + len);
}

static void check_request(const np_http_request *r, const uint8_t *in, int n) {
  size_t len = (size_t)n;
  CHECK(len <= NP_HTTP_MAX_HEAD);
  CHECK(len >= 4 && memcmp(in + len - 4, "\r\n\r\n", 4) == 0);
  CHECK(r->minor_version == 0 || r->minor_version == 1);
  CHECK(r->method.len > 0 && inside(r->method, in, len));
  CHECK(r->target.len > 0 && r->target.ptr[0] == '/' && inside(r->target, in, len));
  CHECK(r->path.ptr == r->target.ptr && r->path.len <= r->target.len);
  CHECK(r->query.len <= NP_HTTP_MAX_QUERY && inside(r->query, in, len));
  CHECK(!memchr(r->path.ptr, '?', r->path.len));
  for (size_t i = 0; i < r->target.len; i++)
    CHECK(r->target.ptr[i] > 0x20 && r->target.ptr[i] < 0x7f && r->target.ptr[i] != '#');
  CHECK(r->nheaders <= NP_HTTP_MAX_HEADERS);
  for (size_t i = 0; i < r->nheaders; i++) {
    np_slice k = r->headers[i].name, v = r->headers[i].value;
    CHECK(k.len > 0 && inside(k, in, len) && inside(v, in, len));
    CHECK(!memchr(k.ptr, ':', k.len) && !memchr(k.ptr, ' ', k.len));
    if (v.len) CHECK(!is_ows(v.ptr[0]) && !is_ows(v.ptr[v.len - 1]));
    for (size_t j = 0; j < v.len; j++)
      CHECK(v.ptr[j] == '\t' || (v.ptr[j] >= 0x20 && v.ptr[j] != 0x7f));
  }
  size_t hosts = np_http_header_count(r->headers, r->nheaders, "host");
  CHECK(hosts <= 1 && (hosts == 1 || r->minor_version == 0));
  /* The query must be safe to hand to the query parser as is. */
  np_query q;
  int qrc = np_query_parse(r->query, &q);
  CHECK(qrc == 0 || qrc == NP_E_PROTO || qrc == NP_E_TOOBIG);
}

/* The request body framing a server applies after the head (the RPM
 * session over HTTP/1.1): the body bytes after the head, fed whole and in
 * small pieces, give the same body and the same verdict; body bytes never
 * exceed what went in or the cap. */
static void check_body(const np_http_request *r, const uint8_t *rest, size_t n) {
  static const uint64_t caps[] = {UINT64_MAX, 16u << 10, 7};
  for (size_t k = 0; k < sizeof caps / sizeof caps[0]; k++) {
    np_http_body a, b;
    int ia = np_http_body_init_request(&a, r, caps[k]);
    CHECK(ia == 0 || ia == NP_E_PROTO || ia == NP_E_TOOBIG);
    if (ia < 0) continue;
    CHECK(np_http_body_init_request(&b, r, caps[k]) == 0);
    uint8_t *whole = malloc(n ? n : 1), *piece = malloc(n ? n : 1);
    if (!whole || !piece) abort();
    memcpy(whole, rest, n);
    size_t got = 0;
    int rc = np_http_body_read(&a, whole, n, &got);
    CHECK(rc < 0 || ((size_t)rc <= n && got <= (size_t)rc));
    /* Piecewise: 3 bytes at a time, body bytes gathered in order. */
    size_t total = 0, pos = 0;
    int prc = 0;
    while (pos < n && !np_http_body_done(&b)) {
      size_t len = n - pos < 3 ? n - pos : 3;
      memcpy(piece, rest + pos, len);
      size_t out = 0;
      prc = np_http_body_read(&b, piece, len, &out);
      if (prc < 0) break;
      CHECK(out <= len && (rc < 0 || total + out <= got));
      if (rc >= 0) CHECK(memcmp(piece, whole + total, out) == 0);
      total += out;
      pos += (size_t)prc;
      if (prc == 0) break;
    }
    /* An error is found at the same byte either way; otherwise the same
     * body comes out. */
    CHECK((rc < 0) == (prc < 0));
    if (rc >= 0) CHECK(total == got && np_http_body_done(&a) == np_http_body_done(&b));
    CHECK(a.total <= caps[k]);
    free(whole);
    free(piece);
  }
}

/* Parses in[0..p) from an exact-size copy so that ASan sees any overread. */
static int parse_prefix(const uint8_t *data, size_t p) {
  uint8_t *copy = malloc(p ? p : 1);
  if (!copy) abort();
  memcpy(copy, data, p);
  np_http_request r;
  int rc = np_http_parse_request(copy, p, &r);
  free(copy);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 2 * NP_HTTP_MAX_HEAD) return 0;
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy) abort();
  memcpy(copy, data, size);
  np_http_request r;
  int whole = np_http_parse_request(copy, size, &r);
  CHECK(whole >= 0 || whole == NP_E_PROTO || whole == NP_E_URI_TOOLONG ||
        whole == NP_E_HEADERS_TOOBIG || whole == NP_E_HTTP_VERSION);
  if (whole > 0) {
    check_request(&r, copy, whole);
    check_body(&r, copy + whole, size - (size_t)whole);
  }
  if (size >= NP_HTTP_MAX_HEAD) CHECK(whole != 0);
  free(copy);

  /* Split-parse equals whole-parse: every prefix when small, otherwise a
   * spread of prefixes (ascending, so "never goes back to 0" is checked). */
  size_t step = size <= 256 ? 1 : size / 64 + 1;
  int seen = 0;
  for (size_t p = 0; p <= size; p += step) {
    int rc = parse_prefix(data, p);
    if (whole > 0) {
      CHECK(rc == ((size_t)whole <= p ? whole : 0));
    } else {
      CHECK(rc == 0 || rc == whole);
      CHECK(!(seen && rc == 0));
      if (rc) seen = 1;
    }
  }
  if (whole > 1) CHECK(parse_prefix(data, (size_t)whole - 1) == 0);
  return 0;
}
