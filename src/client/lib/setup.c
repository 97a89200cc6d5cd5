/* Connection set-up shared by the client engines (setup.h). */
#include "client/lib/setup.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/rand.h"

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
