/* The responsiveness1 data file: one measurement, one line of JSON, for
 * M-Lab's jostler (which bundles such files into JSONL for BigQuery). */
#ifndef NP_DATA_RPM_RECORD_H
#define NP_DATA_RPM_RECORD_H

#include <stddef.h>

#include "core/buf.h"
#include "rpm/record.h"

#define NP_RPM_DATATYPE "responsiveness1"

/* Appends the record as one line of compact JSON ending in '\n'. 0,
 * -ENOMEM, NP_E_JSON, or the buffer's NP_E_TOOBIG. */
int np_rpm_record_line(const np_rpm_record *r, np_buf *out);

/* "responsiveness1-<YYYYMMDDTHHMMSS.nnnnnnnnnZ>.<measurement id hex>.json"
 * from the start time and the server-minted id; no client bytes. Returns
 * the length or -ENOSPC. */
int np_rpm_record_name(const np_rpm_record *r, char *out, size_t cap);

#endif
