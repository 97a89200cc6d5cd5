/* Bounded FIFO of packets, each held until a release time: the I/O-free core of lab/delayline. */
#ifndef NP_LAB_DELAYQ_H
#define NP_LAB_DELAYQ_H

#include <stddef.h>
#include <stdint.h>

/* Every counter the queue keeps; read them any time, they only grow (except depth). */
typedef struct {
  uint64_t enqueued;      /* packets accepted */
  uint64_t released;      /* packets handed out by np_dq_pop */
  uint64_t dropped_full;  /* refused because the queue held `cap` packets */
  uint64_t dropped_big;   /* refused because they exceed the slot size */
  uint64_t bytes_in;      /* bytes of accepted packets */
  uint32_t depth;         /* packets held now */
  uint32_t max_depth;     /* the most ever held at once */
  uint64_t late_sum_ns;   /* sum over released packets of (release - due) */
  uint64_t late_max_ns;   /* the latest release */
  uint64_t late_over_1ms; /* releases more than 1 ms after their due time */
} np_dq_stats;

/* The queue owns one allocation of cap fixed-size slots, made by np_dq_init
 * and freed by np_dq_free; nothing grows after init, so a flood costs
 * counted drops, never memory. Times are monotonic nanoseconds passed in. */
typedef struct {
  uint8_t *slots;   /* cap * slot bytes */
  uint32_t *len;    /* length of the packet in each slot */
  uint64_t *due_ns; /* release time of each slot */
  size_t slot;
  uint32_t cap;
  uint32_t head; /* oldest packet */
  np_dq_stats st;
} np_dq;

/* 0, -EINVAL (cap or slot 0, or absurdly large), -ENOMEM. On failure q is
 * left safe to pass to np_dq_free. */
int np_dq_init(np_dq *q, uint32_t cap, size_t slot);
/* Accepts a zeroed, half-initialised or initialised queue. */
void np_dq_free(np_dq *q);

/* The slot the next packet may be read into (slot bytes long), or NULL when
 * the queue is full: the caller still reads the packet, elsewhere, and
 * calls np_dq_drop_full. Valid until the next push or pop. */
uint8_t *np_dq_tail(np_dq *q);
/* Accepts the packet of len bytes now in np_dq_tail's slot, due at due_ns.
 * -ENOBUFS when full, -EMSGSIZE when len > slot (both counted). Due times
 * are expected not to decrease (one delay per queue); a smaller one is
 * raised to the previous packet's, so the order on the wire never changes. */
int np_dq_commit(np_dq *q, size_t len, uint64_t due_ns);
/* Counts a packet that arrived while full. */
void np_dq_drop_full(np_dq *q);
/* Copies and commits in one step (tests and callers without zero-copy). */
int np_dq_push(np_dq *q, const void *pkt, size_t len, uint64_t due_ns);

/* 0 and *ret_due_ns = the oldest packet's due time, or -ENOENT when empty. */
int np_dq_next_due(const np_dq *q, uint64_t *ret_due_ns);
/* The oldest packet if it is due at now_ns (pointer into the queue, valid
 * until the next pop), else NULL. */
const uint8_t *np_dq_front_due(const np_dq *q, uint64_t now_ns, size_t *ret_len);
/* Removes the oldest packet (released at now_ns, for the lateness counters).
 * -ENOENT when empty. */
int np_dq_pop(np_dq *q, uint64_t now_ns);

#endif
