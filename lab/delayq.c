/* Bounded FIFO of packets with release times (see delayq.h). */
#include "delayq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Caps keep one queue under ~1 GiB even when both arguments are large. */
#define DQ_MAX_CAP (1u << 20)
#define DQ_MAX_SLOT 65536u

int np_dq_init(np_dq *q, uint32_t cap, size_t slot) {
  memset(q, 0, sizeof(*q));
  if (cap == 0 || slot == 0 || cap > DQ_MAX_CAP || slot > DQ_MAX_SLOT ||
      (uint64_t)cap * slot > (1ull << 30))
    return -EINVAL;
  q->slots = malloc((size_t)cap * slot);
  q->len = calloc(cap, sizeof(*q->len));
  q->due_ns = calloc(cap, sizeof(*q->due_ns));
  if (!q->slots || !q->len || !q->due_ns) {
    np_dq_free(q);
    return -ENOMEM;
  }
  q->cap = cap;
  q->slot = slot;
  return 0;
}

void np_dq_free(np_dq *q) {
  if (!q) return;
  free(q->slots);
  free(q->len);
  free(q->due_ns);
  memset(q, 0, sizeof(*q));
}

static uint32_t dq_index(const np_dq *q, uint32_t nth) {
  uint64_t i = (uint64_t)q->head + nth;
  return (uint32_t)(i % q->cap);
}

uint8_t *np_dq_tail(np_dq *q) {
  if (q->st.depth >= q->cap) return NULL;
  return q->slots + (size_t)dq_index(q, q->st.depth) * q->slot;
}

void np_dq_drop_full(np_dq *q) { q->st.dropped_full++; }

int np_dq_commit(np_dq *q, size_t len, uint64_t due_ns) {
  if (q->st.depth >= q->cap) {
    q->st.dropped_full++;
    return -ENOBUFS;
  }
  if (len > q->slot) {
    q->st.dropped_big++;
    return -EMSGSIZE;
  }
  uint32_t i = dq_index(q, q->st.depth);
  if (q->st.depth > 0) {
    uint64_t prev = q->due_ns[dq_index(q, q->st.depth - 1)];
    if (due_ns < prev) due_ns = prev;
  }
  q->len[i] = (uint32_t)len;
  q->due_ns[i] = due_ns;
  q->st.depth++;
  if (q->st.depth > q->st.max_depth) q->st.max_depth = q->st.depth;
  q->st.enqueued++;
  q->st.bytes_in += len;
  return 0;
}

int np_dq_push(np_dq *q, const void *pkt, size_t len, uint64_t due_ns) {
  uint8_t *t = np_dq_tail(q);
  if (!t) {
    q->st.dropped_full++;
    return -ENOBUFS;
  }
  if (len > q->slot) {
    q->st.dropped_big++;
    return -EMSGSIZE;
  }
  memcpy(t, pkt, len);
  return np_dq_commit(q, len, due_ns);
}

int np_dq_next_due(const np_dq *q, uint64_t *ret_due_ns) {
  if (q->st.depth == 0) return -ENOENT;
  *ret_due_ns = q->due_ns[q->head];
  return 0;
}

const uint8_t *np_dq_front_due(const np_dq *q, uint64_t now_ns, size_t *ret_len) {
  if (q->st.depth == 0 || q->due_ns[q->head] > now_ns) return NULL;
  *ret_len = q->len[q->head];
  return q->slots + (size_t)q->head * q->slot;
}

int np_dq_pop(np_dq *q, uint64_t now_ns) {
  if (q->st.depth == 0) return -ENOENT;
  uint64_t due = q->due_ns[q->head];
  uint64_t late = now_ns > due ? now_ns - due : 0;
  q->st.late_sum_ns += late;
  if (late > q->st.late_max_ns) q->st.late_max_ns = late;
  if (late > 1000000) q->st.late_over_1ms++;
  q->head = dq_index(q, 1);
  q->st.depth--;
  q->st.released++;
  return 0;
}
