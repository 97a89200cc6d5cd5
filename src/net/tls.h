/* TLS contexts (OpenSSL 3): server with certificate files or an in-memory
 * self-signed certificate, client with or without verification. */
#ifndef NP_NET_TLS_H
#define NP_NET_TLS_H

#include <stddef.h>

typedef struct np_tls_ctx np_tls_ctx;

typedef struct {
  const char *cert_file;   /* PEM chain; NULL with self_signed */
  const char *key_file;    /* PEM key */
  int self_signed;         /* generate an in-memory EC certificate */
  const char *const *alpn; /* NULL-terminated list offered/accepted, may be NULL */
} np_tls_server_opts;

typedef struct {
  int verify;              /* verify chain and host name (system CA store) */
  const char *ca_file;     /* extra CA file, may be NULL */
  const char *const *alpn; /* NULL-terminated, may be NULL */
} np_tls_client_opts;

/* Creates a context. On error returns NP_E_TLS/-errno and writes a one-line
 * reason into err (may be NULL). */
int np_tls_server_new(const np_tls_server_opts *o, np_tls_ctx **ret_ctx, char *err, size_t errcap);
int np_tls_client_new(const np_tls_client_opts *o, np_tls_ctx **ret_ctx, char *err, size_t errcap);

/* Replaces the certificate and key of a server context (new connections
 * use them; running ones keep theirs). */
int np_tls_server_reload(np_tls_ctx *ctx, const np_tls_server_opts *o, char *err, size_t errcap);

void np_tls_ctx_free(np_tls_ctx *ctx);

/* Internal: the SSL_CTX behind the context (for net/conn.c). */
void *np_tls_ctx_ssl_ctx(np_tls_ctx *ctx);
int np_tls_ctx_is_server(const np_tls_ctx *ctx);

#endif
