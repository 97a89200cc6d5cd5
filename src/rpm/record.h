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

#define NP_RPM_MAX_CONNS 256       /* 16 load flows each way, foreign probes, config */
#define NP_RPM_MAX_REQUESTS 8192   /* later ones are counted, not kept */
#define NP_RPM_MAX_SAMPLES 120     /* TCP_INFO samples per connection */
#define NP_RPM_SAMPLE_NS 250000000 /* one sample per 250 ms of load */

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
  uint32_t rtt, rttvar, min_rtt, snd_cwnd, total_retrans;
  uint64_t bytes_acked, bytes_received, bytes_retrans, notsent_bytes, delivery_rate;
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
  np_rpm_sample *samples; /* malloc'd on the first sample */
  uint32_t nsamples;
  uint64_t last_sample_ns;
} np_rpm_conn_rec;

typedef struct {
  np_rpm_endpoint ep;
  uint16_t conn; /* index into conns */
  uint16_t status;
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
  np_rpm_conn_rec conns[NP_RPM_MAX_CONNS];
  uint32_t nconns;
  uint32_t conns_refused; /* over NP_RPM_MAX_CONNS */
  np_rpm_req_rec *reqs;   /* grows up to NP_RPM_MAX_REQUESTS */
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

/* Adds a connection; returns its index, or NP_E_TOOBIG when the record
 * holds NP_RPM_MAX_CONNS already (counted in conns_refused). */
int np_rpm_record_add_conn(np_rpm_record *r, const char *uuid, int client_port, int64_t accept_ns);

/* Adds a request on connection conn; returns its index, NP_E_TOOBIG when
 * over NP_RPM_MAX_REQUESTS (counted in reqs_dropped), or -ENOMEM. */
int np_rpm_record_add_request(np_rpm_record *r, int conn, np_rpm_endpoint ep, int32_t stream_id,
                              uint64_t now_ns);

/* Takes a TCP_INFO sample of connection conn at now_ns unless one was
 * taken less than 3/4 NP_RPM_SAMPLE_NS ago or the cap is reached. Returns 1
 * when kept, 0 when not due, or -ENOMEM. */
int np_rpm_record_sample(np_rpm_record *r, int conn, const np_tcpinfo *ti, uint64_t now_ns);

/* The record's role guess for a connection from what it carried:
 * "load-download", "load-upload", "probe", "control" or "idle". */
const char *np_rpm_conn_role(const np_rpm_conn_rec *c);

/* The record as a JSON object (the caller owns the reference), with
 * version strings and the wall-clock end time supplied by the caller;
 * NULL on allocation failure. */
json_t *np_rpm_record_json(const np_rpm_record *r, const char *git_commit, const char *version);

#endif
