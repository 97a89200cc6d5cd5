/* Fuzzes the Locate v2 answer reader and the URL / host:port parsers: error
 * codes stay in their set, every URL kept re-parses with the right scheme and
 * path, and a parsed URL round-trips through its own pieces. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/lib/locate.h"
#include "core/error.h"

#define CHECK(x)                                                                                   \
  do {                                                                                             \
    if (!(x)) abort();                                                                             \
  } while (0)

static void check_url(const char *s, const char *scheme, const char *path) {
  if (!s[0]) return;
  np_url u;
  CHECK(np_url_parse(s, &u) == 0);
  CHECK(strcmp(u.scheme, scheme) == 0);
  CHECK(strncmp(u.target, path, strlen(path)) == 0);
  char c = u.target[strlen(path)];
  CHECK(c == 0 || c == '?');
}

static void check_list(const np_locate_list *l, const char *scheme) {
  CHECK(l->n >= 1 && l->n <= NP_LOCATE_MAX_RESULTS);
  for (size_t i = 0; i < l->n; i++) {
    const np_locate_server *s = &l->servers[i];
    CHECK(s->download_url[0] || s->upload_url[0]);
    check_url(s->download_url, scheme, "/ndt/v7/download");
    check_url(s->upload_url, scheme, "/ndt/v7/upload");
    for (const char *p = s->machine; *p; p++) CHECK(*p > 0x20 && *p < 0x7f);
  }
}

static void check_url_parser(const char *s) {
  np_url u;
  if (np_url_parse(s, &u) != 0) return;
  CHECK(u.host[0] && u.port >= 1 && u.port <= 65535 && u.target[0] == '/');
  for (const char *p = u.target; *p; p++) CHECK(*p > 0x20 && *p < 0x7f && *p != '#');
  /* Rebuilt from its pieces, the URL parses to the same thing. */
  static char again[NP_LOCATE_MAX_URL * 2];
  (void)snprintf(again, sizeof again, "%s://%s%s", u.scheme, u.host_header, u.target);
  np_url v;
  CHECK(np_url_parse(again, &v) == 0);
  CHECK(strcmp(u.host, v.host) == 0 && u.port == v.port && strcmp(u.target, v.target) == 0 &&
        strcmp(u.host_header, v.host_header) == 0);

  char host[NP_LOCATE_MAX_HOST];
  int port = 0;
  CHECK(np_hostport_parse(u.host_header, u.port, host, sizeof host, &port) == 0);
  CHECK(strcmp(host, u.host) == 0 && port == u.port);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 2 * NP_LOCATE_MAX_BODY) return 0;
  static np_locate_list l;
  static const char *const schemes[] = {"ws", "wss"};
  for (int k = 0; k < 2; k++) {
    memset(&l, 0, sizeof l);
    int rc = np_locate_parse((const char *)data, size, schemes[k], &l);
    CHECK(rc == 0 || rc == NP_E_JSON || rc == -ENOENT || rc == -ENOMEM);
    if (rc == 0) check_list(&l, schemes[k]);
  }
  /* The same bytes as a URL, a host:port and a Retry-After value. */
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = 0;
  check_url_parser(s);
  char host[NP_LOCATE_MAX_HOST];
  int port = 0;
  if (np_hostport_parse(s, 443, host, sizeof host, &port) == 0)
    CHECK(host[0] && port >= 1 && port <= 65535);
  int ra = np_locate_retry_after(s, size);
  CHECK(ra >= -1 && ra <= 86400);
  free(s);
  return 0;
}
