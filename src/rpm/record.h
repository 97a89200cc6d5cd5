/* What the server saw of one responsiveness measurement: its connections
 * (with TCP_INFO over time) and every request, bounded, without I/O; and
 * the JSON of the responsiveness1 record built from it. */
#ifndef NP_RPM_RECORD_H
#define NP_RPM_RECORD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "net/sockuuid.h"
#include "net/tcpinfo.h"

/* Connections open at once in one measurement, at most (the hard maximum
 * of --rpm-max-conns; rpm/service.h has the default and why). A
 * measurement may open any number over its life: a foreign probe is a
 * connection of its own, 100 a second at the draft's MPS. */
#define NP_RPM_MAX_CONNS 1024
/* Closed connections kept as full rows (TCP_INFO, samples, TLS): every one
 * that carried load or control requests, and the first NP_RPM_KEEP_OTHER
 * others (probes), up to NP_RPM_KEEP_CONNS in all; later ones are folded
 * into the record's summary of connections, which counts them. 32 load
 * flows per phase and a config/result connection fit many times over. */
#define NP_RPM_KEEP_CONNS 256
#define NP_RPM_KEEP_OTHER 64
/* Slots: kept rows plus those of open connections. */
#define NP_RPM_MAX_SLOTS (NP_RPM_KEEP_CONNS + NP_RPM_MAX_CONNS)
/* Requests kept: the draft's parameters make at most ~8,000 probes (2
 * phases x 20 s x 100 a second x foreign and self); a default
 * goresponsiveness run made 4,045. Later ones are counted, not kept. */
#define NP_RPM_MAX_REQUESTS 8192
#define NP_RPM_MAX_SAMPLES 120     /* TCP_INFO samples per connection */
#define NP_RPM_SAMPLE_NS 250000000 /* one sample per 250 ms of load */
/* TCP_INFO samples allocated in one measurement, at most: 32 load flows
 * sampled for 30 s each (the draft's phases last 20 s). Only load
 * connections are sampled; the others keep their last snapshot. Later
 * ones are counted. */
#define NP_RPM_MAX_SAMPLES_ALL 4096
/* Worst case memory of one measurement's record (64-bit, sizes of this
 * tree): slots 1280 x 816 B = 1.03 MB (grown on demand, so only a
 * measurement that held 1024 connections open at once gets there, and
 * the server-wide connection cap, 4096 by default, bounds the open ones
 * across all measurements), samples 4096 x 104 B = 426 KB, requests 8192
 * x 56 B = 459 KB: 1.95 MB, and 1.09 MB + open rows when only the kept
 * rows are counted. 256 live measurements: at most 280 MB + 3.3 MB for
 * 4096 open rows. A goresponsiveness run holds ~100 slots: ~80 KB. */

typedef enum {
  NP_RPM_EP_CONFIG,
  NP_RPM_EP_SMALL,
  NP_RPM_EP_LARGE,
  NP_RPM_EP_UPLOAD,
  NP_RPM_EP_RESULT,
  NP_RPM_EP_OTHER,
  NP_RPM_EP_COUNT
} np_rpm_endpoint;

/* "config", "small", ... */
const char *np_rpm_endpoint_name(np_rpm_endpoint ep);

/* Maps a request path (query excluded) to its endpoint. */
np_rpm_endpoint np_rpm_endpoint_of(const char *path, size_t len);

/* The TCP_INFO fields kept in samples over time (a full snapshot is kept
 * once, when the connection ends). */
typedef struct {
  uint64_t t_ns; /* since the measurement started */
  uint32_t rtt, rttvar, min_rtt, snd_cwnd, total_retrans, rcv_rtt;
  uint64_t bytes_acked, bytes_received, bytes_sent, bytes_retrans, notsent_bytes, delivery_rate;
  uint64_t busy_time, rwnd_limited, sndbuf_limited;
} np_rpm_sample;

typedef struct {
  char uuid[NP_UUID_BUFSZ];
  int client_port;
  int tls;
  char alpn[16];
  char tls_version[16];
  char cipher[64];
  char congestion[16];
  int64_t accept_ns;     /* relative to the measurement's start (may be < 0) */
  uint64_t handshake_ns; /* TLS handshake duration, 0 for cleartext */
  int64_t end_ns;        /* -1 while open */
  char end_reason[32];   /* e.g. "peer-closed", "goaway:window_update_flood" */
  uint64_t wire_sent, wire_received;
  uint64_t body_sent, body_received;
  uint32_t requests[NP_RPM_EP_COUNT];
  uint64_t large_bytes, upload_bytes;
  np_tcpinfo final;
  int has_final;
  np_rpm_sample *samples; /* grown on demand up to NP_RPM_MAX_SAMPLES */
  uint32_t nsamples, samples_cap;
  uint64_t last_sample_ns;
  uint32_t seq;       /* join order: this connection was the seq-th to join */
  uint32_t next_free; /* in a free slot: the next free one */
  uint8_t used;       /* 0: a free slot (its connection was summarised) */
} np_rpm_conn_rec;

/* What the connections without a row did, summed. */
typedef struct {
  uint32_t count, tls;
  int64_t first_accept_ns, last_accept_ns; /* as accept_ns */
  uint64_t handshake_ns_sum, handshake_ns_max;
  uint64_t duration_ns_sum, duration_ns_max;
  uint64_t wire_sent, wire_received, body_sent, body_received;
  uint32_t requests[NP_RPM_EP_COUNT];
} np_rpm_conn_summary;

typedef struct {
  uint8_t ep; /* np_rpm_endpoint */
  uint16_t status;
  uint32_t conn; /* the connection's seq (its slot may be reused later) */
  int32_t stream_id;
  uint32_t h2_error;
  uint64_t arrival_ns, first_byte_ns, done_ns; /* since start; 0 = not yet */
  uint64_t sent, received;
} np_rpm_req_rec;

typedef struct {
  uint64_t id;
  char protocol[8]; /* "h2", "h2c", "h1" or "h1c" */
  char client_ip[64];
  char server_ip[64];
  int server_port;
  int64_t start_wall_ns, end_wall_ns;
  uint64_t start_mono_ns;
  char end_reason[24];
  np_rpm_conn_rec *conns; /* slots, grown on demand up to NP_RPM_MAX_SLOTS */
  uint32_t nslots, slots_cap, free_slot;
  uint32_t nconns; /* connections that joined, over its life */
  uint32_t open, peak_open;
  uint32_t kept, kept_other; /* closed connections kept as rows */
  uint32_t conns_refused;    /* over a cap (counted by the caller or here) */
  np_rpm_conn_summary summary;
  uint32_t samples_alloc, samples_dropped; /* samples_alloc: capacity of all */
  np_rpm_req_rec *reqs;                    /* grows up to NP_RPM_MAX_REQUESTS */
  uint32_t nreqs, reqs_cap;
  uint32_t reqs_dropped;
  json_t *client_summary; /* owned; NULL until the client sends one */
  /* borrowed: the operator's --label pairs as ndt7 records carry them
   * ({Name, Value} array); NULL writes [] */
  const json_t *server_metadata;
} np_rpm_record;

/* Starts a record (zeroed, no allocation). */
void np_rpm_record_init(np_rpm_record *r, uint64_t id, uint64_t start_mono_ns,
                        int64_t start_wall_ns);

/* Frees what the record owns. NULL-safe; the record is empty afterwards. */
void np_rpm_record_free(np_rpm_record *r);

/* Adds a connection; returns its slot (valid until np_rpm_record_close_conn
 * for it), NP_E_TOOBIG when NP_RPM_MAX_CONNS are open (counted in
 * conns_refused), or -ENOMEM. */
int np_rpm_record_add_conn(np_rpm_record *r, const char *uuid, int client_port, int64_t accept_ns);

/* Connection slot conn ended at end_ns (relative) with reason: its row is
 * kept, or folded into the summary and its slot freed for a later
 * connection (the caller must not touch the slot again). 0, or
 * NP_E_BADARG when conn is not an open connection. */
int np_rpm_record_close_conn(np_rpm_record *r, int conn, int64_t end_ns, const char *reason);

/* Socket bytes of every connection (rows and summary) and the number of
 * load requests (large and upload). */
void np_rpm_record_totals(const np_rpm_record *r, uint64_t *ret_sent, uint64_t *ret_received,
                          uint64_t *ret_load);

/* Adds a request on connection conn; returns its index, NP_E_TOOBIG when
 * over NP_RPM_MAX_REQUESTS (counted in reqs_dropped), or -ENOMEM. */
int np_rpm_record_add_request(np_rpm_record *r, int conn, np_rpm_endpoint ep, int32_t stream_id,
                              uint64_t now_ns);

/* Takes a TCP_INFO sample of connection conn at now_ns if it carries load,
 * unless one was taken less than 3/4 NP_RPM_SAMPLE_NS ago or a cap is
 * reached (NP_RPM_MAX_SAMPLES_ALL counts in samples_dropped). Returns 1
 * when kept, 0 when not, or -ENOMEM. */
int np_rpm_record_sample(np_rpm_record *r, int conn, const np_tcpinfo *ti, uint64_t now_ns);

/* The record's role guess for a connection from what it carried:
 * "load-download", "load-upload", "probe", "control" or "idle". */
const char *np_rpm_conn_role(const np_rpm_conn_rec *c);

/* The record as a JSON object (the caller owns the reference), with
 * version strings and the wall-clock end time supplied by the caller;
 * NULL on allocation failure. */
json_t *np_rpm_record_json(const np_rpm_record *r, const char *git_commit, const char *version);

#endif
