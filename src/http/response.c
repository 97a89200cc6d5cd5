/* Writers for HTTP/1.1 response heads, small error responses and client
 * requests, with every caller-supplied string checked for injection. */
#include "http/response.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "http/request.h"

static int is_tchar(uint8_t c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A field value without CR, LF or other controls (HTAB allowed). */
static int clean_value(const char *v) {
  for (const uint8_t *p = (const uint8_t *)v; *p; p++)
    if (*p != '\t' && (*p < 0x20 || *p == 0x7f)) return 0;
  return 1;
}

/* Length of the header name if line is "token: value" with a clean value. */
static size_t header_name_len(const char *line) {
  const uint8_t *p = (const uint8_t *)line;
  size_t n = 0;
  while (is_tchar(p[n])) n++;
  if (n == 0 || p[n] != ':' || !clean_value(line + n + 1)) return 0;
  return n;
}

static int name_is(const char *line, size_t n, const char *name) {
  return np_slice_ieq(np_slice_make(line, n), np_slice_cstr(name));
}

/* Appends each header line after checking it; forbidden names (if any) are
 * ones the writer sets itself. */
static int put_headers(np_buf *out, const char *const *headers, const char *forbid1,
                       const char *forbid2) {
  for (size_t i = 0; headers && headers[i]; i++) {
    size_t n = header_name_len(headers[i]);
    if (n == 0) return NP_E_BADARG;
    if ((forbid1 && name_is(headers[i], n, forbid1)) ||
        (forbid2 && name_is(headers[i], n, forbid2)))
      return NP_E_BADARG;
    int rc = np_buf_append(out, headers[i], strlen(headers[i]));
    if (rc < 0) return rc;
    rc = np_buf_append(out, "\r\n", 2);
    if (rc < 0) return rc;
  }
  return 0;
}

static int put_status(np_buf *out, int status) {
  if (status < 100 || status > 599) return NP_E_BADARG;
  return np_buf_printf(out, "HTTP/1.1 %d %s\r\nServer: netpulse\r\n", status,
                       np_http_reason(status));
}

int np_http_write_head(np_buf *out, int status, const char *const *headers,
                       int64_t content_length) {
  size_t mark = out->len;
  int rc = NP_E_BADARG;
  if (content_length < -1) goto fail;
  if (content_length >= 0 && (status < 200 || status == 204)) goto fail;
  rc = put_status(out, status);
  if (rc < 0) goto fail;
  rc = put_headers(out, headers, content_length >= 0 ? "Content-Length" : NULL, NULL);
  if (rc < 0) goto fail;
  if (content_length >= 0) {
    rc = np_buf_printf(out, "Content-Length: %" PRId64 "\r\n", content_length);
    if (rc < 0) goto fail;
  }
  rc = np_buf_append(out, "\r\n", 2);
  if (rc < 0) goto fail;
  return 0;
fail:
  out->len = mark;
  return rc;
}

int np_http_write_simple(np_buf *out, int status, const char *content_type, const char *body,
                         const char *const *extra_headers) {
  size_t mark = out->len;
  size_t blen = body ? strlen(body) : 0;
  int rc = NP_E_BADARG;
  if (status < 200 || status == 204 || status == 304) goto fail;
  rc = put_status(out, status);
  if (rc < 0) goto fail;
  if (content_type) {
    rc = clean_value(content_type) ? np_buf_printf(out, "Content-Type: %s\r\n", content_type)
                                   : NP_E_BADARG;
    if (rc < 0) goto fail;
  }
  rc = put_headers(out, extra_headers, "Content-Length", "Connection");
  if (rc < 0) goto fail;
  rc = np_buf_printf(out, "Content-Length: %zu\r\nConnection: close\r\n\r\n", blen);
  if (rc < 0) goto fail;
  rc = np_buf_append(out, body ? body : "", blen);
  if (rc < 0) goto fail;
  return 0;
fail:
  out->len = mark;
  return rc;
}

int np_http_write_error(np_buf *out, int status, int retry_after_s,
                        const char *const *extra_headers) {
  char body[96], retry[32];
  const char *pre[] = {"Cache-Control: no-store", NULL, NULL};
  size_t mark = out->len;
  if (status < 200 || status > 599) return NP_E_BADARG;
  /* Reasons are plain ASCII without quotes or backslashes: no escaping. */
  int n = snprintf(body, sizeof body, "{\"status\":%d,\"error\":\"%s\"}\n", status,
                   np_http_reason(status));
  if (n < 0 || (size_t)n >= sizeof body) return NP_E_BADARG;
  if (retry_after_s >= 0) {
    (void)snprintf(retry, sizeof retry, "Retry-After: %d", retry_after_s);
    pre[1] = retry;
  }
  /* Gather the fixed headers and the caller's into one list. */
  const char *all[40];
  size_t k = 0;
  for (size_t i = 0; pre[i]; i++) all[k++] = pre[i];
  for (size_t i = 0; extra_headers && extra_headers[i]; i++) {
    if (k + 1 >= sizeof all / sizeof all[0]) return NP_E_BADARG;
    all[k++] = extra_headers[i];
  }
  all[k] = NULL;
  int rc = np_http_write_simple(out, status, "application/json", body, all);
  if (rc < 0) out->len = mark;
  return rc;
}

static int visible_without(const char *s, const char *forbid) {
  if (!s || !*s) return 0;
  for (const uint8_t *p = (const uint8_t *)s; *p; p++)
    if (*p < 0x21 || *p > 0x7e || strchr(forbid, *p)) return 0;
  return 1;
}

int np_http_write_request(np_buf *out, const char *method, const char *host, const char *target,
                          const char *const *headers) {
  size_t mark = out->len;
  int rc = NP_E_BADARG;
  if (!method || !*method) goto fail;
  for (const uint8_t *p = (const uint8_t *)method; *p; p++)
    if (!is_tchar(*p)) goto fail;
  if (!visible_without(target, "#") || target[0] != '/') goto fail;
  if (!visible_without(host, "/?#@")) goto fail;
  rc = np_buf_printf(out, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, host);
  if (rc < 0) goto fail;
  rc = put_headers(out, headers, "Host", NULL);
  if (rc < 0) goto fail;
  rc = np_buf_append(out, "\r\n", 2);
  if (rc < 0) goto fail;
  return 0;
fail:
  out->len = mark;
  return rc;
}
