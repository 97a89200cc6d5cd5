/* Gives the heap's free memory back to the system once the server has
 * gone idle after serving tests. */
#include <malloc.h>

#include "core/clock.h"
#include "ops/procstat.h"
#include "server/log.h"
#include "server/server.h"

/* Idle this long first: an ndt7 client's upload follows its download
 * within milliseconds, and trimming between the two would be wasted. */
#define TRIM_AFTER_IDLE_NS (2 * NP_NS_PER_S)

/* Why: glibc returns freed memory to the kernel only from the top of the
 * heap, and a few live blocks above the freed ones pin it all. After five
 * goresponsiveness runs (thousands of short TLS connections each) the
 * heap held 142 MB of which 0.8 MB was in use; malloc_trim(0) releases
 * the free pages wherever they are (RSS 140 -> 11 MB). It walks the free
 * lists once, a few milliseconds, and runs once per busy-to-idle turn. */
void np_server_trim_tick(np_server *s, uint64_t now) {
  int busy = s->active_tests || s->pending_writes || s->open_conns || np_rpm_sessions();
  if (busy) {
    s->trim_due = 1;
    s->idle_since_ns = 0;
    return;
  }
  if (!s->trim_due) return;
  if (!s->idle_since_ns) s->idle_since_ns = now;
  if (now - s->idle_since_ns < TRIM_AFTER_IDLE_NS) return;
  s->trim_due = 0;
#ifdef __GLIBC__
  np_procstat before = {0}, after = {0};
  (void)np_procstat_read(&before);
  (void)malloc_trim(0);
  (void)np_procstat_read(&after);
  np_log(NP_LOG_DEBUG, "idle: free memory returned to the system", "rss_before=%llu rss_after=%llu",
         (unsigned long long)before.resident_bytes, (unsigned long long)after.resident_bytes);
#endif
}
