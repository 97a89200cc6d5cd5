/* What the ndt7, responsiveness and Locate clients share to start their
 * connections: a TLS context offering one ALPN protocol, the name lookup
 * and its failure text, and a buffer of random payload. */
#ifndef NP_CLIENT_LIB_SETUP_H
#define NP_CLIENT_LIB_SETUP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "net/tls.h"

/* A client TLS context that offers ALPN protocol alpn ("h2", "http/1.1"),
 * verifies the server unless verify is 0, and also trusts the CA
 * certificates in ca_file (may be NULL). 0 or NP_E_TLS/-errno. */
int np_client_tls(int verify, const char *ca_file, const char *alpn, np_tls_ctx **ret_ctx);

/* Starts resolving host and the numeric port for stream sockets of family
 * (AF_UNSPEC: either) on gai; cb runs from the loop. 0, or the negative uv
 * error when the lookup could not even start. */
int np_client_resolve(uv_loop_t *loop, uv_getaddrinfo_t *gai, uv_getaddrinfo_cb cb,
                      const char *host, const char *port, int family);

/* Writes "cannot resolve HOST: why" (uv_status: the lookup's error) into
 * text and returns -EHOSTUNREACH, the error such a test ends with. */
int np_client_resolve_failed(char *text, size_t cap, const char *host, int uv_status);

/* The error text of a refused test (HTTP 401, 429 or 503), e.g. "server
 * refused the test: HTTP 503 (lame_duck), retry after 30 s". The reason in
 * parentheses is the "error" member of a netpulse server's JSON body
 * ({"status":503,"error":"lame_duck"}), shown only when it is one short
 * word of [a-z0-9_] (body: what arrived of it, may be partial or NULL);
 * retry_after_s <= 0 leaves the retry out. */
void np_client_refusal_text(char *text, size_t cap, int status, int retry_after_s,
                            const uint8_t *body, size_t body_len);

/* len random bytes in a new buffer, *ret_payload (the caller frees it).
 * 0 or -ENOMEM / the random source's error. */
int np_client_random_payload(size_t len, uint8_t **ret_payload);

#endif
