/* logfmt lines on stderr; one write per line so lines never interleave. */
#include "server/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"

static int g_level = NP_LOG_INFO;

int np_log_set_level(const char *name) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  for (int i = 0; i < 4; i++)
    if (strcmp(name, names[i]) == 0) return (g_level = i), 0;
  return -1;
}

int np_log_enabled(int level) { return level >= g_level; }

const char *np_log_quote(const char *s, char *out, unsigned cap) {
  unsigned k = 0;
  if (cap < 3) return "\"\"";
  out[k++] = '"';
  for (; s && *s && k + 3 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c < 0x20 || c == 0x7f) continue;
    if (c == '"' || c == '\\') out[k++] = '\\';
    out[k++] = (char)c;
  }
  out[k++] = '"';
  out[k] = 0;
  return out;
}

void np_log(int level, const char *msg, const char *fmt, ...) {
  if (!np_log_enabled(level)) return;
  static const char *const names[] = {"debug", "info", "warn", "error"};
  char line[2048], ts[48], q[512];
  (void)np_format_rfc3339nano(np_wall_ns(), ts, sizeof ts);
  int n = snprintf(line, sizeof line, "ts=%s level=%s msg=%s", ts, names[level],
                   np_log_quote(msg, q, sizeof q));
  if (n < 0) return;
  if (fmt && *fmt && (size_t)n < sizeof line - 2) {
    line[n++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (m > 0) n += m;
  }
  if ((size_t)n >= sizeof line - 1) n = (int)sizeof line - 2;
  line[n++] = '\n';
  (void)!write(2, line, (size_t)n);
}
