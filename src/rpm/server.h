/* The responsiveness server on one connection: HTTP/2 (TLS h2 or h2c) here,
 * HTTP/1.1 in rpm/http1.h; the config, small, large, upload and result
 * endpoints, measurement IDs, and the record of what the connection did. */
#ifndef NP_RPM_SERVER_H
#define NP_RPM_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "core/slice.h"
#include "h2/server.h"
#include "http/reply.h"
#include "net/conn.h"
#include "rpm/service.h"

/* The reason of the GOAWAY that stops a measurement's downloads at its
 * transmit allowance. */
#define NP_RPM_GOAWAY_BUDGET "transmit_budget"

/* A refusal decided by the host: the session encodes it as an HTTP/2
 * response on the config request's stream. */
typedef struct {
  int status;         /* 401 or 503 */
  int retry_after;    /* seconds; < 0: no Retry-After */
  const char *reason; /* static, e.g. "busy", "token_missing" */
} np_rpm_refusal;

/* What the session asks of the server around it. All run on the loop. */
typedef struct {
  /* A config request wants a new measurement: query is the request's
   * query (for access_token), client_ip the peer, proto the metric label
   * of the connection's protocol ("rpm+h2", "rpm+h2c", "rpm+h1",
   * "rpm+h1c"). Return 0 to admit, with *ret_host the host's state for it
   * (kept in the measurement), or < 0 with *ret filled. */
  int (*admit)(void *ud, np_slice query, const char *client_ip, const char *proto, void **ret_host,
               np_rpm_refusal *ret);
  /* A measurement's connection wrote bytes more to its socket (reported
   * as they are written and at its close; the transmit budget counts
   * them). Returns 1 once the measurement has used its transmit allowance:
   * it then ends (EndReason "budget") and its connections close. */
  int (*sent)(void *ud, void *host, uint64_t bytes);
  /* A request was refused without admission (bad or expired ID, caps):
   * reason is static ("mid_forged", "conn_cap", ...), proto as for admit. */
  void (*rejected)(void *ud, const char *proto, const char *reason);
  /* A session's connection closed (np_rpm_sessions went down by one). */
  void (*closed)(void *ud);
  /* An HTTP/2 connection that sent a GOAWAY closed: reason is
   * np_h2_conn_goaway_reason's token (or NP_RPM_GOAWAY_BUDGET), uuid the
   * connection's, mid its measurement (0: none). The host logs and counts
   * it; the record already says "goaway:<reason>". May be NULL. */
  void (*goaway)(void *ud, const char *proto, const char *reason, const char *uuid, uint64_t mid);
  /* A request for a path that is not an RPM endpoint (the test page):
   * 0 with *ret to send (the session frees it), or < 0 for a 404. May be
   * NULL. */
  int (*other)(void *ud, np_slice method, np_slice path, np_http_reply *ret);
} np_rpm_host;

typedef struct {
  np_rpm_service *svc;
  const np_rpm_host *host;
  void *host_ud;
  np_slice payload;         /* shared random bytes, outliving every session */
  const char *public_host;  /* authority for config URLs; NULL: the request's */
  uint64_t large_length;    /* declared size of the large object (>= 8 GB) */
  uint32_t notsent_lowat;   /* TCP_NOTSENT_LOWAT on RPM connections (0: off) */
  const char *congestion;   /* e.g. "cubic"; NULL or "": the kernel default */
  uint64_t join_timeout_ns; /* a connection that joins no measurement by then is closed */
  np_h2_config h2;
} np_rpm_server_cfg;

/* Takes over c, on which HTTP/2 was chosen (ALPN h2, or the cleartext
 * preface seen). initial[0..n) are bytes already read from it (they are
 * fed first). cfg must outlive the session. Returns 0 (the session owns c
 * and closes it), or a negative error (c is aborted with the caller's
 * callbacks still set: its on_close still comes to the caller). */
int np_rpm_serve(np_conn *c, const np_rpm_server_cfg *cfg, const char *uuid, const uint8_t *initial,
                 size_t n);

/* Live RPM connections (sessions, both protocols) in this process. */
uint64_t np_rpm_sessions(void);

#endif
