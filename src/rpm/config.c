/* The responsiveness config document: built with jansson from checked
 * parts, so no client byte reaches it unvalidated. */
#include "rpm/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static int name_ok(np_slice h) {
  if (h.len == 0 || h.len > 253 || h.ptr[0] == '-' || h.ptr[0] == '.') return 0;
  for (size_t i = 0; i < h.len; i++) {
    uint8_t c = h.ptr[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.'))
      return 0;
  }
  return 1;
}

static int v6_ok(np_slice h) {
  /* "[...]": hex digits, ':' and '.' (embedded IPv4), at most 45 inside. */
  if (h.len < 4 || h.len > 47 || h.ptr[0] != '[' || h.ptr[h.len - 1] != ']') return 0;
  int colons = 0;
  for (size_t i = 1; i + 1 < h.len; i++) {
    uint8_t c = h.ptr[i];
    if (c == ':') colons++;
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
          c == '.'))
      return 0;
  }
  return colons >= 2;
}

static size_t host_len(np_slice s) {
  if (s.len && s.ptr[0] == '[') {
    const uint8_t *e = memchr(s.ptr, ']', s.len);
    return e ? (size_t)(e - s.ptr) + 1 : s.len;
  }
  const uint8_t *colon = memchr(s.ptr, ':', s.len);
  return colon ? (size_t)(colon - s.ptr) : s.len;
}

np_slice np_rpm_authority_host(np_slice s) { return np_slice_make(s.ptr, host_len(s)); }

int np_rpm_authority_ok(np_slice s) {
  if (!s.ptr || s.len == 0 || s.len > NP_RPM_MAX_AUTHORITY) return 0;
  size_t hl = host_len(s);
  np_slice host = np_slice_make(s.ptr, hl);
  if (!(host.ptr[0] == '[' ? v6_ok(host) : name_ok(host))) return 0;
  if (hl == s.len) return 1;
  if (s.ptr[hl] != ':' || s.len - hl - 1 == 0 || s.len - hl - 1 > 5) return 0;
  unsigned port = 0;
  for (size_t i = hl + 1; i < s.len; i++) {
    if (s.ptr[i] < '0' || s.ptr[i] > '9') return 0;
    port = port * 10 + (unsigned)(s.ptr[i] - '0');
  }
  return port >= 1 && port <= 65535;
}

static int add_url(json_t *urls, const char *key, const char *scheme, np_slice auth,
                   const char *path, const char *mid) {
  char url[512];
  int n = snprintf(url, sizeof url, "%s://%.*s%s?mid=%s", scheme, (int)auth.len,
                   (const char *)auth.ptr, path, mid);
  if (n < 0 || (size_t)n >= sizeof url) return NP_E_BADARG;
  return json_object_set_new(urls, key, json_string(url)) == 0 ? 0 : -ENOMEM;
}

int np_rpm_config_json(np_buf *out, const char *scheme, np_slice authority, const char *mid) {
  if (!np_rpm_authority_ok(authority) || !mid || strlen(mid) > 64 ||
      (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0))
    return NP_E_BADARG;
  for (const char *p = mid; *p; p++)
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
          *p == '-' || *p == '_'))
      return NP_E_BADARG;
  json_t *doc = json_object(), *urls = json_object();
  int rc = -ENOMEM;
  if (!doc || !urls) goto out;
  /* Draft-09 keys first, then the names Apple's networkQuality and
   * goresponsiveness read; same URLs. Those names promise https, and
   * both clients need it (goresponsiveness rejects any other scheme
   * there; Apple's server spec is TLS 1.3 over HTTP/2): a cleartext
   * config leaves them out rather than put http:// under them. */
  static const struct {
    const char *key;
    const char *path;
    int https_only;
  } keys[] = {
      {"small_download_url", NP_RPM_PATH_SMALL, 0},
      {"large_download_url", NP_RPM_PATH_LARGE, 0},
      {"upload_url", NP_RPM_PATH_UPLOAD, 0},
      {"small_https_download_url", NP_RPM_PATH_SMALL, 1},
      {"large_https_download_url", NP_RPM_PATH_LARGE, 1},
      {"https_upload_url", NP_RPM_PATH_UPLOAD, 1},
      {"result_url", NP_RPM_PATH_RESULT, 0},
  };
  int tls = strcmp(scheme, "https") == 0;
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    if (keys[i].https_only && !tls) continue;
    rc = add_url(urls, keys[i].key, scheme, authority, keys[i].path, mid);
    if (rc < 0) goto out;
  }
  /* A host to connect to, not an authority: clients join it with the
   * URL's port themselves (goresponsiveness: net.JoinHostPort, which adds
   * the brackets of an IPv6 address again), so no brackets here. */
  np_slice host = np_rpm_authority_host(authority);
  if (host.len >= 2 && host.ptr[0] == '[') host = np_slice_make(host.ptr + 1, host.len - 2);
  char endpoint[NP_RPM_MAX_AUTHORITY + 1];
  (void)snprintf(endpoint, sizeof endpoint, "%.*s", (int)host.len, (const char *)host.ptr);
  rc = -ENOMEM;
  if (json_object_set_new(doc, "version", json_integer(1)) != 0 ||
      json_object_set(doc, "urls", urls) != 0 ||
      json_object_set_new(doc, "test_endpoint", json_string(endpoint)) != 0)
    goto out;
  char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (!text) goto out;
  rc = np_buf_append(out, text, strlen(text));
  free(text);
out:
  json_decref(urls);
  json_decref(doc);
  return rc;
}
