/* Bounded growable buffer. */
#include "core/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void np_buf_init(np_buf *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

void np_buf_free(np_buf *b) {
  if (!b) return;
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

int np_buf_reserve(np_buf *b, size_t n) {
  if (n > b->max || b->len > b->max - n) return NP_E_TOOBIG;
  size_t need = b->len + n;
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap = cap > b->max / 2 ? b->max : cap * 2;
  if (cap > b->max) cap = b->max;
  if (cap < need) cap = need;
  uint8_t *p = realloc(b->data, cap);
  if (!p) return -ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int np_buf_append(np_buf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  int rc = np_buf_reserve(b, n);
  if (rc < 0) return rc;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int np_buf_printf(np_buf *b, const char *fmt, ...) {
  char small[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return -EINVAL;
  if ((size_t)n < sizeof small) return np_buf_append(b, small, (size_t)n);
  char *tmp = malloc((size_t)n + 1);
  if (!tmp) return -ENOMEM;
  va_start(ap, fmt);
  (void)vsnprintf(tmp, (size_t)n + 1, fmt, ap);
  va_end(ap);
  int rc = np_buf_append(b, tmp, (size_t)n);
  free(tmp);
  return rc;
}

void np_buf_consume(np_buf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}
