/* The table netpulse-data makes: one row per test (per phase for
 * responsiveness1) with the figures a researcher asks for first, read from
 * a record's text with the skimmer (no tree is built). The definitions of
 * every column are in docs/data.md ("netpulse-data"); the SQL in
 * docs/queries/ computes the same columns in BigQuery and must be kept in step with these. */
#ifndef NP_DATA_RECORD_ROW_H
#define NP_DATA_RECORD_ROW_H

#include <stddef.h>

#include "data/json_skim.h"

/* The numeric columns, in output order (after datatype, test, start_time,
 * id and before file). */
enum {
  NP_COL_THROUGHPUT_MBPS,
  NP_COL_MIN_RTT_MS,
  NP_COL_SERVER_LOADED_RTT_MS,
  NP_COL_CLIENT_RPM,
  NP_COL_CLIENT_LOADED_LATENCY_MS,
  NP_COL_RETRANS_PCT,
  NP_NCOLS
};

/* Column names of the whole table, in order (NULL-terminated). */
extern const char *const np_row_columns[];
/* Names of the numeric columns, indexed by NP_COL_*. */
extern const char *const np_row_numeric[NP_NCOLS];

/* Where a row's throughput, min RTT and retransmissions came from: the
 * record's ServerSummary, or (ndt7 records without one) computed from the
 * last of its ServerMeasurements as ndt-server's readers do. */
enum { NP_ROW_FROM_SUMMARY = 1, NP_ROW_FROM_TCPINFO = 2 };

typedef struct {
  const char *test;    /* static: "download", "upload" or "parallel" */
  char start_time[40]; /* RFC 3339 as in the record, "" when absent */
  char id[128];        /* ndt7: the test's UUID; responsiveness1: MeasurementID */
  char client_ip[64];  /* "" when absent */
  double v[NP_NCOLS];
  unsigned has;    /* bit i set: v[i] holds a value; unset: an empty cell */
  int server_from; /* NP_ROW_FROM_* (0: no server figures) */
} np_row;

#define NP_RECORD_MAX_ROWS 3

typedef struct {
  const char *datatype; /* static: "ndt7" or "responsiveness1" */
  np_row rows[NP_RECORD_MAX_ROWS];
  size_t n;
} np_record_rows;

/* Fills out with the rows of the record whose extent in s is doc: a
 * netpulse record, or a jostler bundle line wrapping one in "raw". The
 * datatype is told by the content (ndt7: Download or Upload; responsiveness1:
 * MeasurementID). 0, or NP_E_JSON when doc is not an object or not a record
 * of either datatype (out->n is then 0). A field of the wrong type or out of
 * its column's range gives an empty cell, never a row with a made-up value. */
int np_record_rows_of(const char *s, size_t len, np_skim_span doc, np_record_rows *out);

/* The datatype of the record at doc (unwrapping "raw"), or NULL. */
const char *np_record_datatype(const char *s, size_t len, np_skim_span doc, np_skim_span *ret_rec);

#endif
