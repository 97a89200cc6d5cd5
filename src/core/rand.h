/* Randomness for payloads, masks and schedules (from the OS CSPRNG). */
#ifndef NP_CORE_RAND_H
#define NP_CORE_RAND_H

#include <stddef.h>
#include <stdint.h>

/* Fills p with n random bytes. 0 or negative error. */
int np_random_bytes(void *p, size_t n);

/* A uniformly random 64-bit value (0 on the unlikely failure). */
uint64_t np_random_u64(void);

/* A uniform double in (0, 1], for exponential draws. */
double np_random_unit(void);

#endif
