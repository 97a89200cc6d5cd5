/* A growable byte buffer with a hard maximum fixed at creation. */
#ifndef NP_CORE_BUF_H
#define NP_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/slice.h"

/* The buffer owns data (malloc'd). len bytes are valid; cap is allocated;
 * max is the cap a peer can never push it past. */
typedef struct {
  uint8_t *data;
  size_t len;
  size_t cap;
  size_t max;
} np_buf;

/* Initialises an empty buffer that may grow to max bytes. No allocation. */
void np_buf_init(np_buf *b, size_t max);

/* Frees the storage; the buffer is empty and reusable afterwards. NULL-safe. */
void np_buf_free(np_buf *b);

/* Makes room for n more bytes. -ENOMEM, or NP_E_TOOBIG past max. */
int np_buf_reserve(np_buf *b, size_t n);

/* Appends n bytes. Untouched on failure (NP_E_TOOBIG / -ENOMEM). */
int np_buf_append(np_buf *b, const void *p, size_t n);

/* Appends a formatted string (no NUL kept). */
int np_buf_printf(np_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Drops the first n bytes (n <= len). */
void np_buf_consume(np_buf *b, size_t n);

static inline np_slice np_buf_slice(const np_buf *b) { return np_slice_make(b->data, b->len); }

#endif
