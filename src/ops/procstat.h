/* Process statistics from /proc/self for the standard process_* metrics. */
#ifndef NP_OPS_PROCSTAT_H
#define NP_OPS_PROCSTAT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  double cpu_seconds;        /* utime + stime */
  double start_time_seconds; /* since the Unix epoch */
  uint64_t virtual_bytes;
  uint64_t resident_bytes;
  uint64_t open_fds;
  uint64_t max_fds;
} np_procstat;

/* Parses the text of /proc/<pid>/stat (fields after the command name, which
 * may itself hold spaces and parentheses). clk_tck is sysconf(_SC_CLK_TCK),
 * boot_time the "btime" of /proc/stat. Fills cpu_seconds,
 * start_time_seconds and virtual_bytes. NP_E_PROTO on malformed text. */
int np_procstat_parse_stat(const char *text, size_t len, long clk_tck, uint64_t boot_time,
                           np_procstat *ret);

/* Reads every field from /proc/self (this does file I/O). Fields it cannot
 * read are left 0; returns a negative errno only if /proc/self/stat is
 * unreadable. */
int np_procstat_read(np_procstat *ret);

#endif
