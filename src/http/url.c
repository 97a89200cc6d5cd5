/* Absolute URLs and host[:port] strings: the one parser the Locate client,
 * the ndt7 client and the healthcheck share. */
#include "http/url.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

static int parse_port(const char *s, size_t len, int *ret) {
  if (len == 0 || len > 5) return NP_E_BADARG;
  int v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return NP_E_BADARG;
    v = v * 10 + (s[i] - '0');
  }
  if (v < 1 || v > 65535) return NP_E_BADARG;
  *ret = v;
  return 0;
}

static int is_v6_literal(const char *s, size_t len) {
  char tmp[64];
  struct in6_addr a;
  if (len == 0 || len >= sizeof tmp) return 0;
  memcpy(tmp, s, len);
  tmp[len] = 0;
  return inet_pton(AF_INET6, tmp, &a) == 1;
}

/* Host names (and IPv4 literals): letters, digits, '-', '.', '_'. */
int np_url_is_host_name(const char *s, size_t len) {
  if (len == 0 || len > 253) return 0;
  for (size_t i = 0; i < len; i++) {
    char ch = s[i];
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '-' || ch == '.' || ch == '_';
    if (!ok) return 0;
  }
  return 1;
}

/* Splits s[0..len) into host and port; *ret_is_v6 and *ret_has_port say
 * what was found. Outputs written only on success. */
static int split_hostport(const char *s, size_t len, int default_port, char *host, size_t hostcap,
                          int *ret_port, int *ret_is_v6, int *ret_has_port) {
  const char *h = s;
  size_t hlen;
  int port = default_port, is_v6 = 0, has_port = 0;
  if (len > 0 && s[0] == '[') {
    const char *close = memchr(s, ']', len);
    if (!close) return NP_E_BADARG;
    h = s + 1;
    hlen = (size_t)(close - h);
    if (!is_v6_literal(h, hlen)) return NP_E_BADARG;
    is_v6 = 1;
    size_t rest = len - (size_t)(close + 1 - s);
    if (rest > 0) {
      if (close[1] != ':' || parse_port(close + 2, rest - 1, &port) < 0) return NP_E_BADARG;
      has_port = 1;
    }
  } else {
    const char *colon = memchr(s, ':', len);
    if (colon && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s))) {
      /* Several colons: a bare IPv6 literal, which cannot carry a port. */
      if (!is_v6_literal(s, len)) return NP_E_BADARG;
      hlen = len;
      is_v6 = 1;
    } else if (colon) {
      hlen = (size_t)(colon - s);
      if (parse_port(colon + 1, len - hlen - 1, &port) < 0) return NP_E_BADARG;
      has_port = 1;
    } else {
      hlen = len;
    }
    if (!is_v6 && !np_url_is_host_name(h, hlen)) return NP_E_BADARG;
  }
  if (hlen + 1 > hostcap || port < 1 || port > 65535) return NP_E_BADARG;
  memcpy(host, h, hlen);
  host[hlen] = 0;
  *ret_port = port;
  if (ret_is_v6) *ret_is_v6 = is_v6;
  if (ret_has_port) *ret_has_port = has_port;
  return 0;
}

int np_hostport_parse(const char *s, int default_port, char *host, size_t hostcap, int *ret_port) {
  if (!s || !host || !ret_port) return NP_E_BADARG;
  return split_hostport(s, strlen(s), default_port, host, hostcap, ret_port, NULL, NULL);
}

int np_url_parse(const char *s, np_url *ret_url) {
  static const struct {
    const char *name;
    int port;
  } schemes[] = {{"http", 80}, {"https", 443}, {"ws", 80}, {"wss", 443}};
  if (!s || !ret_url) return NP_E_BADARG;
  size_t len = strlen(s);
  if (len >= NP_URL_MAX) return NP_E_BADARG;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch <= 0x20 || ch >= 0x7f || ch == '#') return NP_E_BADARG;
  }
  const char *sep = strstr(s, "://");
  if (!sep) return NP_E_BADARG;
  size_t slen = (size_t)(sep - s);
  int def = -1;
  size_t k;
  for (k = 0; k < sizeof schemes / sizeof schemes[0]; k++) {
    if (strlen(schemes[k].name) == slen && memcmp(s, schemes[k].name, slen) == 0) {
      def = schemes[k].port;
      break;
    }
  }
  if (def < 0) return NP_E_BADARG;
  const char *auth = sep + 3;
  size_t alen = strcspn(auth, "/?");
  if (memchr(auth, '@', alen)) return NP_E_BADARG;
  np_url u;
  memset(&u, 0, sizeof u);
  int is_v6 = 0;
  if (split_hostport(auth, alen, def, u.host, sizeof u.host, &u.port, &is_v6, &u.has_port) < 0)
    return NP_E_BADARG;
  memcpy(u.scheme, s, slen);
  u.scheme[slen] = 0;
  int n;
  if (u.has_port)
    n = snprintf(u.host_header, sizeof u.host_header, "%s%s%s:%d", is_v6 ? "[" : "", u.host,
                 is_v6 ? "]" : "", u.port);
  else
    n = snprintf(u.host_header, sizeof u.host_header, "%s%s%s", is_v6 ? "[" : "", u.host,
                 is_v6 ? "]" : "");
  if (n < 0 || (size_t)n >= sizeof u.host_header) return NP_E_BADARG;
  const char *rest = auth + alen;
  n = snprintf(u.target, sizeof u.target, "%s%s", *rest == '/' ? "" : "/", rest);
  if (n < 0 || (size_t)n >= sizeof u.target) return NP_E_BADARG;
  *ret_url = u;
  return 0;
}
