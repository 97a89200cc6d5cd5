/* The server's own summary of a test (the records' ServerSummary): per
 * phase, the load streams' body bytes and goodput, the load connections'
 * RTT under load from their TCP_INFO samples, retransmissions and the
 * probes' service time, computed from what the server's kernel and HTTP
 * layer recorded, never from the client's claims. No I/O; docs/data.md
 * has the definitions. */
#ifndef NP_DATA_SERVER_SUMMARY_H
#define NP_DATA_SERVER_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rpm/record.h"

#define NP_SRV_SUMMARY_VERSION 1

typedef enum {
  NP_SRV_IDLE,
  NP_SRV_DOWNLOAD,
  NP_SRV_UPLOAD,
  NP_SRV_PARALLEL,
  NP_SRV_PHASES
} np_srv_phase_id;

/* One phase. Times are ns since the measurement started; 0 in a "have"
 * count means the figures that depend on it are absent from the JSON. */
typedef struct {
  int present;
  int rcv_rtt;               /* RTT source: 0 tcpi_rtt, 1 tcpi_rcv_rtt */
  uint64_t start_ns, end_ns; /* the phase's span */
  uint32_t load_conns;       /* connections that carried its load streams */
  uint64_t body_bytes;       /* load streams' body bytes, its direction(s) */
  uint64_t down_bytes, up_bytes;
  uint32_t rtt_samples; /* loaded samples with a non-zero RTT */
  uint32_t min_rtt_us;  /* 0: none seen */
  double rtt_median_ms, rtt_p90_ms;
  uint32_t up_rtt_samples; /* parallel: the upload side's tcpi_rcv_rtt */
  double up_rtt_median_ms, up_rtt_p90_ms;
  uint64_t retransmits; /* segments the server retransmitted */
  uint64_t retrans_bytes, sent_bytes;
  uint32_t probes; /* small requests answered in the span */
  double probe_median_ms, probe_p90_ms;
} np_srv_phase;

typedef struct {
  np_srv_phase phase[NP_SRV_PHASES];
} np_srv_summary;

/* The value at quantile q (0..1) of v[0..n), sorted in place ascending,
 * interpolated linearly between the closest ranks (numpy's default); 0
 * when n is 0. */
double np_srv_quantile(double *v, size_t n, double q);

/* Finds the phases of a responsiveness measurement in its record and
 * computes each one's figures into *ret. 0, or -ENOMEM (*ret is then
 * zeroed). */
int np_srv_summary_rpm(const np_rpm_record *r, np_srv_summary *ret);

/* *s as the responsiveness1 ServerSummary object (caller owns it); NULL on
 * allocation failure. */
json_t *np_srv_summary_rpm_json(const np_srv_summary *s);

/* The ndt7 ServerSummary from the test's own ServerMeasurements (the
 * Download or Upload object of the record, borrowed): every measurement's
 * TCP_INFO is a loaded sample. upload selects tcpi_rcv_rtt and the bytes
 * received. A record without measurements (or NULL) gives a summary
 * without RTT figures. A new object (caller owns it); NULL on allocation
 * failure. */
json_t *np_srv_summary_ndt7_json(const json_t *record, int upload);

#endif
