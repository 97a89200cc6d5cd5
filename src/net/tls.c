/* TLS contexts over OpenSSL 3: certificate loading, an in-memory self-signed
 * certificate for local use, ALPN selection, and client verification. */
#include "net/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/error.h"

#define NP_ALPN_WIRE_MAX 256

struct np_tls_ctx {
  SSL_CTX *ssl_ctx;
  int is_server;
  unsigned char alpn[NP_ALPN_WIRE_MAX]; /* wire format: len-prefixed names */
  unsigned alpn_len;
};

static void set_err(char *err, size_t cap, const char *what) {
  if (!err || cap == 0) return;
  unsigned long e = ERR_peek_last_error();
  char detail[200] = "";
  if (e) ERR_error_string_n(e, detail, sizeof detail);
  (void)snprintf(err, cap, "%s%s%s", what, detail[0] ? ": " : "", detail);
  ERR_clear_error();
}

static int alpn_encode(np_tls_ctx *t, const char *const *alpn) {
  t->alpn_len = 0;
  for (size_t i = 0; alpn && alpn[i]; i++) {
    size_t n = strlen(alpn[i]);
    if (n == 0 || n > 255 || t->alpn_len + 1 + n > sizeof t->alpn) return NP_E_BADARG;
    t->alpn[t->alpn_len++] = (unsigned char)n;
    memcpy(t->alpn + t->alpn_len, alpn[i], n);
    t->alpn_len += (unsigned)n;
  }
  return 0;
}

/* Server ALPN: pick the first of our protocols that the client offers, in
 * our order of preference; no overlap means no ALPN (not a failure). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg) {
  (void)ssl;
  np_tls_ctx *t = arg;
  unsigned char *sel = NULL;
  if (SSL_select_next_proto(&sel, outlen, t->alpn, t->alpn_len, in, inlen) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

static int add_ext(X509 *cert, int nid, const char *value) {
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  if (!ext) return -1;
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok ? 0 : -1;
}

/* A P-256 key and a certificate for localhost / 127.0.0.1 / ::1, valid for
 * 30 days, never written to disk. */
static int make_self_signed(SSL_CTX *ctx) {
  int rc = -1;
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *cert = X509_new();
  if (!key || !cert) goto out;
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) goto out;
  serial[0] &= 0x7f;
  BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
  if (!bn) goto out;
  int ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
  BN_free(bn);
  if (!ok) goto out;
  if (!X509_set_version(cert, 2)) goto out;
  if (!X509_gmtime_adj(X509_getm_notBefore(cert), -3600)) goto out;
  if (!X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 24 * 3600)) goto out;
  if (!X509_set_pubkey(cert, key)) goto out;
  X509_NAME *name = X509_get_subject_name(cert);
  if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                  (const unsigned char *)"netpulse self-signed", -1, -1, 0))
    goto out;
  if (!X509_set_issuer_name(cert, name)) goto out;
  if (add_ext(cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") < 0) goto out;
  if (add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") < 0) goto out;
  if (add_ext(cert, NID_ext_key_usage, "serverAuth") < 0) goto out;
  if (!X509_sign(cert, key, EVP_sha256())) goto out;
  if (SSL_CTX_use_certificate(ctx, cert) != 1) goto out;
  if (SSL_CTX_use_PrivateKey(ctx, key) != 1) goto out;
  rc = 0;
out:
  X509_free(cert);
  EVP_PKEY_free(key);
  return rc;
}

static SSL_CTX *server_ssl_ctx(np_tls_ctx *t, const np_tls_server_opts *o, char *err,
                               size_t errcap) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    set_err(err, errcap, "cannot create TLS context");
    return NULL;
  }
  (void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  (void)SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  /* AES-128-GCM first (as Go's crypto/tls, which M-Lab's ndt-server uses,
   * orders it on AES-NI machines): about a third cheaper per byte than
   * OpenSSL's default AES-256-GCM, and the cipher is most of wss's cost. */
  (void)SSL_CTX_set_ciphersuites(
      ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (o->self_signed) {
    if (make_self_signed(ctx) < 0) {
      set_err(err, errcap, "cannot generate self-signed certificate");
      SSL_CTX_free(ctx);
      return NULL;
    }
  } else {
    if (!o->cert_file || !o->key_file) {
      if (err) (void)snprintf(err, errcap, "TLS needs --cert and --key (or --tls-self-signed)");
      SSL_CTX_free(ctx);
      return NULL;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1) {
      char what[512];
      (void)snprintf(what, sizeof what, "cannot load certificate %s", o->cert_file);
      set_err(err, errcap, what);
      SSL_CTX_free(ctx);
      return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      char what[512];
      (void)snprintf(what, sizeof what, "cannot load key %s", o->key_file);
      set_err(err, errcap, what);
      SSL_CTX_free(ctx);
      return NULL;
    }
  }
  if (t->alpn_len) SSL_CTX_set_alpn_select_cb(ctx, alpn_select, t);
  return ctx;
}

int np_tls_server_new(const np_tls_server_opts *o, np_tls_ctx **ret_ctx, char *err, size_t errcap) {
  np_tls_ctx *t = calloc(1, sizeof *t);
  if (!t) return -ENOMEM;
  t->is_server = 1;
  if (alpn_encode(t, o->alpn) < 0) {
    if (err) (void)snprintf(err, errcap, "bad ALPN list");
    free(t);
    return NP_E_BADARG;
  }
  t->ssl_ctx = server_ssl_ctx(t, o, err, errcap);
  if (!t->ssl_ctx) {
    free(t);
    return NP_E_TLS;
  }
  *ret_ctx = t;
  return 0;
}

int np_tls_server_reload(np_tls_ctx *t, const np_tls_server_opts *o, char *err, size_t errcap) {
  SSL_CTX *ctx = server_ssl_ctx(t, o, err, errcap);
  if (!ctx) return NP_E_TLS;
  /* Live connections hold their own reference to the old context. */
  SSL_CTX_free(t->ssl_ctx);
  t->ssl_ctx = ctx;
  return 0;
}

int np_tls_client_new(const np_tls_client_opts *o, np_tls_ctx **ret_ctx, char *err, size_t errcap) {
  np_tls_ctx *t = calloc(1, sizeof *t);
  if (!t) return -ENOMEM;
  if (alpn_encode(t, o->alpn) < 0) {
    if (err) (void)snprintf(err, errcap, "bad ALPN list");
    free(t);
    return NP_E_BADARG;
  }
  t->ssl_ctx = SSL_CTX_new(TLS_client_method());
  if (!t->ssl_ctx) {
    set_err(err, errcap, "cannot create TLS context");
    free(t);
    return NP_E_TLS;
  }
  (void)SSL_CTX_set_min_proto_version(t->ssl_ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(t->ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
  if (o->verify) {
    SSL_CTX_set_verify(t->ssl_ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_set_default_verify_paths(t->ssl_ctx) != 1) ERR_clear_error();
    if (o->ca_file && SSL_CTX_load_verify_locations(t->ssl_ctx, o->ca_file, NULL) != 1) {
      char what[512];
      (void)snprintf(what, sizeof what, "cannot load CA file %s", o->ca_file);
      set_err(err, errcap, what);
      SSL_CTX_free(t->ssl_ctx);
      free(t);
      return NP_E_TLS;
    }
  } else {
    SSL_CTX_set_verify(t->ssl_ctx, SSL_VERIFY_NONE, NULL);
  }
  if (t->alpn_len && SSL_CTX_set_alpn_protos(t->ssl_ctx, t->alpn, t->alpn_len) != 0) {
    set_err(err, errcap, "cannot set ALPN");
    SSL_CTX_free(t->ssl_ctx);
    free(t);
    return NP_E_TLS;
  }
  *ret_ctx = t;
  return 0;
}

void np_tls_ctx_free(np_tls_ctx *t) {
  if (!t) return;
  SSL_CTX_free(t->ssl_ctx);
  free(t);
}

void *np_tls_ctx_ssl_ctx(np_tls_ctx *t) { return t->ssl_ctx; }

int np_tls_ctx_is_server(const np_tls_ctx *t) { return t->is_server; }
