/* Spool size: a bounded walk of the datadir, run on a worker thread. */
#ifndef NP_SERVER_SPOOLSCAN_H
#define NP_SERVER_SPOOLSCAN_H

#include <stddef.h>
#include <stdint.h>

/* Entries visited per walk at most; beyond it the sum is a lower bound. */
#define NP_SPOOL_SCAN_MAX_ENTRIES 1000000
/* Directory depth followed (datatype/YYYY/MM/DD/file is 5). */
#define NP_SPOOL_SCAN_MAX_DEPTH 8

/* Sums the allocated size (st_blocks) of the regular files under dir,
 * following no symlinks, visiting at most max_entries entries. Thread-safe.
 * Returns 0 with *ret_bytes set, or a negative errno when dir cannot be
 * opened (unreadable subdirectories are skipped). */
int np_spool_scan_bytes(const char *dir, size_t max_entries, uint64_t *ret_bytes);

#endif
