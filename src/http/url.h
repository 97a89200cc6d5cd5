/* Absolute URLs ("scheme://host[:port][/path][?query]") and host[:port]
 * strings, split into NUL-terminated copies. Pure, capped, fuzzed (through
 * fuzz_locate). */
#ifndef NP_HTTP_URL_H
#define NP_HTTP_URL_H

#include <stddef.h>

#define NP_URL_MAX 2048     /* bytes of one URL incl. NUL */
#define NP_URL_MAX_HOST 256 /* bytes of a host name incl. NUL */

/* A split absolute URL. Strings are NUL-terminated copies. */
typedef struct {
  char scheme[8];                        /* "http", "https", "ws" or "wss" */
  char host[NP_URL_MAX_HOST];            /* without IPv6 brackets */
  int port;                              /* explicit, else the scheme's default */
  int has_port;                          /* 1 when the URL named the port */
  char host_header[NP_URL_MAX_HOST + 8]; /* "host", "[v6]" or with ":port" */
  char target[NP_URL_MAX];               /* path and query, starts with '/' */
} np_url;

/* Parses "scheme://host[:port][/path][?query]" with scheme http, https, ws
 * or wss (lower case), a host name or literal IPv4, or an IPv6 literal in
 * brackets. No user info, no fragment, no whitespace or control bytes; the
 * whole URL must fit NP_URL_MAX. An empty path becomes "/".
 * Returns 0, or NP_E_BADARG (ret_url untouched). */
int np_url_parse(const char *s, np_url *ret_url);

/* Splits "host", "host:port", "[v6]" or "[v6]:port" (a bare IPv6 literal
 * without brackets is accepted too, without a port). host gets the name
 * without brackets; the port is default_port when absent and must be 1..65535
 * when present. Returns 0, or NP_E_BADARG with outputs untouched. */
int np_hostport_parse(const char *s, int default_port, char *host, size_t hostcap, int *ret_port);

/* Whether s[0..len) is a host name or IPv4 literal as URLs here accept
 * them: 1..253 of letters, digits, '-', '.', '_'. */
int np_url_is_host_name(const char *s, size_t len);

#endif
