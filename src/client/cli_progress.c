/* netpulse CLI: the one updating progress line on a terminal's stderr. */
#include <math.h>
#include <stdio.h>

#include "client/cli.h"

int np_cli_progress_format(char *out, size_t cap, np_ndt7_direction dir, double elapsed_s,
                           double mbps, const char *server) {
  if (!isfinite(elapsed_s) || elapsed_s < 0) elapsed_s = 0;
  if (!isfinite(mbps) || mbps < 0) mbps = 0;
  int n = snprintf(out, cap, "%-8s %5.1f s %9.1f Mbit/s%s%s",
                   dir == NP_NDT7_UPLOAD ? "upload" : "download", elapsed_s, mbps,
                   server && server[0] ? "  " : "", server ? server : "");
  return n < 0 ? -1 : n;
}

void np_cli_progress_draw(FILE *f, const char *line) {
  /* \r and erase-line: one line that updates in place. */
  if (line)
    fprintf(f, "\r\033[K%s", line);
  else
    fputs("\r\033[K", f);
  (void)fflush(f);
}
