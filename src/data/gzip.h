/* gzip (RFC 1952) compression of whole in-memory files, via zlib. */
#ifndef NP_DATA_GZIP_H
#define NP_DATA_GZIP_H

#include <stddef.h>

#include "core/buf.h"

/* Appends one complete gzip member holding the len bytes at in to out, the
 * format ndt-server's .json.gz files use. out's max caps the result:
 * NP_E_TOOBIG if the member does not fit, -ENOMEM, or NP_E_BADARG. On
 * failure out->len is unchanged (its storage may have grown). */
int np_gzip(const void *in, size_t len, np_buf *out);

/* Appends the decompressed content of exactly one gzip member at in to out.
 * -EBADMSG if the input is not a single complete, intact gzip member
 * (truncated, corrupt, bad CRC, trailing bytes); NP_E_TOOBIG if the content
 * exceeds out's max (what keeps a hostile file from exhausting memory).
 * On failure out->len is unchanged. Meant for tests and tools. */
int np_gunzip(const void *in, size_t len, np_buf *out);

#endif
