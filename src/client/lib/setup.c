/* Connection set-up shared by the client engines (setup.h). */
#include "client/lib/setup.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "core/rand.h"

#define REASON_MAX 40 /* the longest reason a server may name */

int np_client_tls(int verify, const char *ca_file, const char *alpn, np_tls_ctx **ret_ctx) {
  const char *const protos[] = {alpn, NULL};
  np_tls_client_opts to = {.verify = verify, .ca_file = ca_file, .alpn = protos};
  return np_tls_client_new(&to, ret_ctx, NULL, 0);
}

int np_client_resolve(uv_loop_t *loop, uv_getaddrinfo_t *gai, uv_getaddrinfo_cb cb,
                      const char *host, const char *port, int family) {
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  /* Ports are always numbers here: no service lookup. */
  hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
  return uv_getaddrinfo(loop, gai, cb, host, port, &hints);
}

int np_client_resolve_failed(char *text, size_t cap, const char *host, int uv_status) {
  (void)snprintf(text, cap, "cannot resolve %.200s: %s", host, uv_strerror(uv_status));
  return -EHOSTUNREACH;
}

void np_client_refusal_text(char *text, size_t cap, int status, int retry_after_s,
                            const uint8_t *body, size_t body_len) {
  char why[REASON_MAX + 4] = "";
  json_t *j = body && body_len ? json_loadb((const char *)body, body_len, 0, NULL) : NULL;
  const char *r = json_string_value(json_object_get(j, "error"));
  size_t n = r ? strlen(r) : 0;
  int word = n > 0 && n <= REASON_MAX;
  for (size_t i = 0; word && i < n; i++)
    word = (r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '_';
  if (word) (void)snprintf(why, sizeof why, " (%s)", r);
  json_decref(j);
  if (retry_after_s > 0)
    (void)snprintf(text, cap, "server refused the test: HTTP %d%s, retry after %d s", status, why,
                   retry_after_s);
  else
    (void)snprintf(text, cap, "server refused the test: HTTP %d%s", status, why);
}

int np_client_random_payload(size_t len, uint8_t **ret_payload) {
  uint8_t *p = malloc(len);
  if (!p) return -ENOMEM;
  int rc = np_random_bytes(p, len);
  if (rc < 0) {
    free(p);
    return rc;
  }
  *ret_payload = p;
  return 0;
}
