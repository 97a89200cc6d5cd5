/* The write queue of a connection, without I/O: gathered writes (caller
 * buffers referenced or copied in), each charged by the memory its one
 * heap block really holds so owners can cap it (np_conn_set_queue_cap),
 * and advanced by what the transport wrote. Finished requests move to the
 * done list; conn.c runs their callbacks from the poll, never from inside
 * a write call. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "net/conn_transport.h"

#define MALLOC_OVERHEAD 16 /* glibc: chunk header, 16-byte granules */

void np_conn_req_free(np_conn *c, np_wreq *r) {
  c->mem -= r->cost;
  free(r);
}

int np_conn_queue_add(np_conn *c, const np_conn_buf *bufs, int n, np_conn_write_cb cb, void *arg) {
  if (c->state == ST_CLOSED || c->state == ST_CLOSING) return NP_E_CLOSED;
  if (n < 1 || n > NP_CONN_MAX_BUFS) return -EINVAL;
  size_t copied = 0, total = 0;
  for (int i = 0; i < n; i++) {
    total += bufs[i].len;
    if (!bufs[i].ref) copied += bufs[i].len;
  }
  size_t head = sizeof(np_wreq) + (size_t)n * sizeof(struct iovec);
  size_t cost = ((head + copied + 15) & ~(size_t)15) + MALLOC_OVERHEAD;
  if (c->mem + cost > c->mem_cap) return -ENOBUFS;
  np_wreq *r = malloc(head + copied);
  if (!r) return -ENOMEM;
  uint8_t *dst = (uint8_t *)r + head;
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (bufs[i].len == 0) continue;
    if (bufs[i].ref) {
      r->iov[k].iov_base = (void *)bufs[i].base;
    } else {
      memcpy(dst, bufs[i].base, bufs[i].len);
      r->iov[k].iov_base = dst;
      dst += bufs[i].len;
    }
    r->iov[k++].iov_len = bufs[i].len;
  }
  r->next = NULL;
  r->cb = cb;
  r->arg = arg;
  r->cost = cost;
  r->left = total;
  r->n = k;
  r->idx = 0;
  if (c->tail)
    c->tail->next = r;
  else
    c->head = r;
  c->tail = r;
  c->pending += total;
  c->mem += cost;
  return 0;
}

static void complete(np_conn *c, np_wreq *r) {
  c->head = r->next;
  if (!c->head) c->tail = NULL;
  if (!r->cb) {
    np_conn_req_free(c, r);
    return;
  }
  r->next = NULL;
  if (c->done_tail)
    c->done_tail->next = r;
  else
    c->done = r;
  c->done_tail = r;
}

void np_conn_queue_advance(np_conn *c, size_t n) {
  c->pending -= n;
  c->stats.app_written += n;
  while (c->head && (n > 0 || c->head->left == 0)) {
    np_wreq *r = c->head;
    while (n > 0 && r->idx < r->n) {
      struct iovec *v = &r->iov[r->idx];
      size_t k = n < v->iov_len ? n : v->iov_len;
      v->iov_base = (uint8_t *)v->iov_base + k;
      v->iov_len -= k;
      r->left -= k;
      n -= k;
      if (v->iov_len == 0) r->idx++;
    }
    if (r->left > 0) break;
    complete(c, r);
  }
}

size_t np_conn_pending(const np_conn *c) { return c->pending; }

size_t np_conn_queue_mem(const np_conn *c) { return c->mem; }

void np_conn_set_queue_cap(np_conn *c, size_t bytes) { c->mem_cap = bytes; }
