/* The ndt7 data file: ndt-server's top-level JSON shape and file name. */
#ifndef NP_DATA_NDT7_RECORD_H
#define NP_DATA_NDT7_RECORD_H

#include <stddef.h>

#include "core/buf.h"
#include "ndt7/server.h"

/* Serialises the outcome as one JSON object (GitShortCommit, Version,
 * ServerIP, ServerPort, ClientIP, ClientPort, StartTime, EndTime and
 * Download or Upload) into out, uncompressed, no trailing newline. */
int np_ndt7_record_json(const np_ndt7_outcome *o, np_buf *out);

/* "ndt7-<download|upload>-<YYYYMMDDTHHMMSS.nnnnnnnnnZ>.<uuid>.json.gz". The
 * UUID is server-made, never client bytes; characters outside pusher's set
 * are replaced. */
int np_ndt7_record_name(const np_ndt7_outcome *o, char *out, size_t cap);

#endif
