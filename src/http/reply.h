/* A small complete response (status, fields, body) that each protocol
 * encodes its own way: HTTP/1.1 here, HTTP/2 by its session. No I/O. */
#ifndef NP_HTTP_REPLY_H
#define NP_HTTP_REPLY_H

#include <stddef.h>

#include "core/buf.h"
#include "core/slice.h"

#define NP_HTTP_REPLY_MAX_FIELDS 10

typedef struct {
  const char *name;  /* lower case (HTTP/2 needs it; HTTP/1.1 does not mind) */
  const char *value; /* static or owned by the reply's producer */
} np_http_field;

typedef struct {
  int status;
  size_t nfields;
  np_http_field fields[NP_HTTP_REPLY_MAX_FIELDS];
  np_slice body; /* the representation (its length is the Content-Length) */
  int head_only; /* answer to HEAD: the head says body.len, no body follows */
  void *owned;   /* memory behind body, freed by np_http_reply_free */
} np_http_reply;

/* Frees what the reply owns; the reply is empty afterwards. NULL-safe. */
void np_http_reply_free(np_http_reply *r);

/* Adds a field. NP_E_TOOBIG when NP_HTTP_REPLY_MAX_FIELDS are set. */
int np_http_reply_add(np_http_reply *r, const char *name, const char *value);

/* Appends the reply as HTTP/1.1 to out: head with Content-Length and,
 * unless keep_alive, "Connection: close"; then the body (not for HEAD).
 * Field values are checked for injection (NP_E_BADARG). out is untouched
 * on failure. */
int np_http_reply_write(np_buf *out, const np_http_reply *r, int keep_alive);

#endif
