/* Structured log lines (logfmt) on stderr, for the server's main only. */
#ifndef NP_SERVER_LOG_H
#define NP_SERVER_LOG_H

enum { NP_LOG_DEBUG = 0, NP_LOG_INFO = 1, NP_LOG_WARN = 2, NP_LOG_ERROR = 3 };

/* Sets the minimum level from "debug", "info", "warn" or "error". */
int np_log_set_level(const char *name);
int np_log_enabled(int level);

/* Writes `ts=... level=... msg="..."` followed by the formatted key=value
 * pairs in fmt (the caller quotes values that may contain spaces with
 * np_log_quote). */
void np_log(int level, const char *msg, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Quotes s for logfmt into out (escapes \" and \\, drops control chars). */
const char *np_log_quote(const char *s, char *out, unsigned cap);

#endif
