/* One RPM connection's part in a measurement, whatever protocol it speaks
 * (HTTP/2 in server.c, HTTP/1.1 in http1.c): who the client is, which
 * measurement it joined, the decisions on config, IDs and results, and
 * what the record learns from the connection. */
#ifndef NP_RPM_PEER_H
#define NP_RPM_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/slice.h"
#include "net/conn.h"
#include "net/sockuuid.h"
#include "rpm/record.h"
#include "rpm/server.h"
#include "rpm/service.h"

typedef struct {
  np_conn *c;
  const np_rpm_server_cfg *cfg;
  const char *proto; /* metric label: "rpm+h2", "rpm+h2c", "rpm+h1", "rpm+h1c" (static) */
  const char *alpn;  /* the connection's ALPN for the record (static) */
  char uuid[NP_UUID_BUFSZ];
  char ip[64];
  int port;
  uint8_t addr[16];
  size_t addr_len;
  uint64_t mid; /* measurement joined (valid when joined) */
  int joined;
  int conn_idx;
  uint64_t reported;             /* wire bytes sent already reported to the host */
  uint64_t base_sent, base_read; /* wire bytes before the measurement joined */
  size_t out_cap;                /* bytes the protocol layer queues at most (np_rpm_peer_tick) */
  uint64_t acked_prev, acked_prev_ns; /* tcpi_bytes_acked at the last pacing sample */
  int paced;                          /* out_cap comes from a rate sample */
  uint32_t large_open;                /* large downloads in progress on it */
  uint64_t last_done_ns;              /* when its last request ended (0: none yet) */
  uint64_t probe_idle_ns;             /* NP_RPM_PROBE_IDLE_NS on HTTP/2, 0 on HTTP/1.1 */
  int idle_out;                       /* closed by np_rpm_peer_tick as an idle probe */
} np_rpm_peer;

/* A connection that has carried only small requests (a foreign probe) and
 * has none in progress is closed this long after its last one.
 * goresponsiveness opens one per probe, up to 100 a second, and never
 * closes them; they would fill the measurement's cap on open connections
 * in seconds. A client that wants another probe on it has had a second;
 * a GOAWAY on an idle connection is ordinary HTTP/2 (RFC 9113 §6.8).
 * HTTP/1.1 connections keep their own idle close (NP_RPM_H1_IDLE_NS, 5 s),
 * which browsers' pools meet. */
#define NP_RPM_PROBE_IDLE_NS 1000000000ull

/* What a request gets, decided without regard to protocol. */
typedef struct {
  int status;         /* 200, or an error status */
  const char *reason; /* for errors (static) */
  int retry_after;    /* seconds; < 0: none */
  const char *allow;  /* a 405's Allow value (static); NULL otherwise */
} np_rpm_verdict;

/* Sets p up for connection c (peer address, congestion control,
 * TCP_NOTSENT_LOWAT) and counts a live session. 0 or a negative error
 * (nothing counted then). */
int np_rpm_peer_init(np_rpm_peer *p, np_conn *c, const np_rpm_server_cfg *cfg, const char *uuid,
                     const char *proto, const char *alpn);

/* Bounds of out_cap and of the socket's unsent bytes: a queue of
 * NP_RPM_QUEUE_MS of the connection's own rate, within these. */
#define NP_RPM_OUT_MIN (8u << 10)
#define NP_RPM_OUT_MAX (1u << 20)
#define NP_RPM_QUEUE_MS 20
#define NP_RPM_EARLY_MS 20

/* The measurement p joined, while it lives; NULL otherwise. */
np_rpm_measurement *np_rpm_peer_measurement(np_rpm_peer *p);

/* The methods an endpoint takes, for Allow (405, OPTIONS) and a
 * preflight's Access-Control-Allow-Methods: "GET, HEAD, OPTIONS" or
 * "POST, OPTIONS". */
const char *np_rpm_allow(np_rpm_endpoint ep);

/* CORS (docs/responsiveness.md): the endpoints carry no credentials and
 * no cookies, so any origin's page may use them, read their answers and
 * time them (Resource Timing needs Timing-Allow-Origin). Every RPM answer
 * carries these three fields (name, value). */
#define NP_RPM_CORS_FIELDS(X)                                                                      \
  X("access-control-allow-origin", "*")                                                            \
  X("access-control-expose-headers", "retry-after")                                                \
  X("timing-allow-origin", "*")
#define NP_RPM_CORS_NFIELDS 3
/* A preflight's answer (204) adds the endpoint's methods and these.
 * Headers: a wildcard, which covers any request header but Authorization
 * for requests without credentials, so no peer bytes are echoed back;
 * content-type spelled out for browsers older than the wildcard. Max-Age
 * is Chromium's ceiling (Firefox's is a day). */
#define NP_RPM_CORS_ALLOW_HEADERS "content-type, *"
#define NP_RPM_CORS_MAX_AGE "7200"

/* Splits a request target into endpoint and query, and checks the method.
 * Returns 0 (GET, or HEAD, on a download or the config; POST on upload or
 * result), 204 (OPTIONS on an RPM endpoint: answered at once, with no
 * measurement), 404 (not an RPM endpoint: *ep is NP_RPM_EP_OTHER) or 405. */
int np_rpm_route(np_slice method, np_slice target, np_rpm_endpoint *ep, np_slice *query,
                 size_t *path_len);

/* A config request: admission, a new measurement that p joins, and its
 * config JSON (for scheme and authority, unless --rpm-public-host) in
 * json. A browser has one HTTP/2 connection per origin and asks again on
 * it: on a connection that joined a measurement still running, the
 * answer is that measurement's config again (no admission, no new ID);
 * once that one has ended or has the client's summary, a new measurement
 * starts and the connection moves to it, provided idle is set (no other
 * request of the old one in progress on it: 409 conn_busy otherwise,
 * since those requests' records belong to the old one). Returns the
 * measurement, or NULL with *v the refusal (counted). */
np_rpm_measurement *np_rpm_peer_config(np_rpm_peer *p, const char *scheme, np_slice authority,
                                       np_slice query, int idle, uint64_t now, np_buf *json,
                                       np_rpm_verdict *v);

/* A HEAD on the config: the length its GET would have (the ID has a fixed
 * length), with no measurement begun and nothing admitted. The length,
 * or < 0 with *v the refusal (400 bad_authority). */
int np_rpm_peer_config_length(np_rpm_peer *p, const char *scheme, np_slice authority,
                              np_rpm_verdict *v);

/* A load or probe request: checks its ID and joins its measurement.
 * Returns the measurement, or NULL with *v the refusal (counted). */
np_rpm_measurement *np_rpm_peer_authorise(np_rpm_peer *p, np_slice query, uint64_t now,
                                          np_rpm_verdict *v);

/* A complete result body (too_big: it went over the cap): cleans it into
 * m's record and writes the answer's JSON body to answer. */
void np_rpm_peer_result(np_rpm_peer *p, np_rpm_measurement *m, const np_buf *body, int too_big,
                        np_rpm_verdict *v, char *answer, size_t cap);

/* Counts a refusal decided by the protocol layer (caps, framing). */
void np_rpm_peer_rejected(np_rpm_peer *p, int status, const char *reason);

/* Request bookkeeping on m's record (req from np_rpm_peer_request; a
 * negative req, or a measurement that has ended, is ignored). */
int np_rpm_peer_request(np_rpm_peer *p, np_rpm_endpoint ep, int32_t id, uint64_t now);
void np_rpm_peer_status(np_rpm_peer *p, int req, int status);
void np_rpm_peer_first_byte(np_rpm_peer *p, int req, uint64_t now);
void np_rpm_peer_request_done(np_rpm_peer *p, int req, np_rpm_endpoint ep, uint64_t sent,
                              uint64_t received, uint32_t h2_error, uint64_t now);

/* Reports the socket bytes written since the last report to the host
 * (for the transmit budget). Returns 1 when the measurement has used its
 * allowance and this connection carries a large download: the caller
 * closes it (the measurement goes on, its record ends "budget"). */
int np_rpm_peer_report(np_rpm_peer *p);

/* Whether p carries a large download of a measurement that has sent its
 * allowance (without reporting anything). */
int np_rpm_peer_over(np_rpm_peer *p);

/* Every 250 ms: bytes sent go to the host, a TCP_INFO sample to the
 * record. Returns 1 when the connection should close now: its
 * measurement has ended, it joined none within the join timeout, it is
 * idle (no request in progress) after the client's summary arrived, or it
 * is an idle probe connection (NP_RPM_PROBE_IDLE_NS). */
int np_rpm_peer_tick(np_rpm_peer *p, uint64_t now, int idle);

/* Takes the first rate sample NP_RPM_EARLY_MS after the connection
 * started, rather than at the first tick (call as bytes are written;
 * cheap once done). */
void np_rpm_peer_pace_early(np_rpm_peer *p, uint64_t now);

/* The connection closed with status (np_conn's on_close; server_closed:
 * the session closed it; goaway: the reason of the GOAWAY it sent, or
 * NULL): the record gets its end ("goaway:<reason>" for any GOAWAY but the
 * measurement's own "shutdown"), the host its bytes and the close, and the
 * live session count goes down. */
void np_rpm_peer_closed(np_rpm_peer *p, int status, int server_closed, const char *goaway);

#endif
