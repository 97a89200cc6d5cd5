/* OS randomness: getrandom(2), no seeding and no global state. */
#include "core/rand.h"

#include <errno.h>
#include <sys/random.h>

int np_random_bytes(void *p, size_t n) {
  unsigned char *q = p;
  while (n > 0) {
    ssize_t r = getrandom(q, n, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    q += r;
    n -= (size_t)r;
  }
  return 0;
}

uint64_t np_random_u64(void) {
  uint64_t v = 0;
  (void)np_random_bytes(&v, sizeof v);
  return v;
}

double np_random_unit(void) {
  /* 53 random bits, shifted into (0, 1]. */
  return ((double)(np_random_u64() >> 11) + 1.0) / 9007199254740992.0;
}
