/* The server side of one ndt7 test: WebSocket upgrade, bulk download or
 * discarding upload, measurements, and the result record in ndt-server's
 * shape. Runs on an np_conn handed over by the HTTP front door. */
#ifndef NP_NDT7_SERVER_H
#define NP_NDT7_SERVER_H

#include <stdint.h>

#include <jansson.h>

#include "http/query.h"
#include "http/request.h"
#include "ndt7/ndt7.h"
#include "net/conn.h"
#include "net/sockuuid.h"
#include "net/tcpinfo.h"

typedef enum { NP_NDT7_DIR_DOWNLOAD = 0, NP_NDT7_DIR_UPLOAD = 1 } np_ndt7_dir;

typedef struct {
  /* NP_NDT7_MAX_SENT_MESSAGE random bytes, immutable, outliving every
   * session: every binary message is a view into it. */
  const uint8_t *payload;
  uint64_t duration_ns;  /* 0 = 10 s */
  uint64_t hard_stop_ns; /* 0 = 15 s */
  /* Transmit allowance (admission control's reservation): a download ends
   * normally, as if its time were up, before its queued payload bytes
   * would pass this. 0 = unlimited. */
  uint64_t max_sent_bytes;
  /* ServerMetadata as [{"Name":..,"Value":..}]; borrowed (loop thread). */
  json_t *server_metadata;
} np_ndt7_server_cfg;

/* What a finished session reports. */
typedef struct {
  np_ndt7_dir dir;
  int success;
  const char *failure; /* stage name when !success, e.g. "protocol" */
  char uuid[NP_UUID_BUFSZ];
  char client_ip[64];
  int client_port;
  char server_ip[64];
  int server_port;
  int64_t start_wall_ns;
  int64_t end_wall_ns;
  uint64_t elapsed_ns;
  uint64_t app_bytes; /* payload bytes sent (download) or received */
  uint64_t wire_read; /* socket bytes, for traffic metrics */
  uint64_t wire_written;
  json_t *record; /* the Download/Upload object; callee owns it */
  /* What the client sent that the record does not hold, for the metrics. */
  unsigned meta_dropped[NP_META_DROP_N];
  np_ndt7_cm_drops cm_drops;
} np_ndt7_outcome;

typedef void (*np_ndt7_done_cb)(void *ud, np_ndt7_outcome *o);

/* Validates req as an ndt7 upgrade (path, WebSocket headers, subprotocol,
 * query: early_exit) and, on success, answers 101 and runs the test on c,
 * taking over its callbacks; done is called once when it ends, after which
 * the conn is gone. On failure it answers the HTTP error, closes c, and
 * returns the negative error with *ret_status set (400, 404, 405, 426...);
 * done is not called. uuid is the connection's M-Lab UUID. */
int np_ndt7_serve(np_conn *c, const np_http_request *req, const np_ndt7_server_cfg *cfg,
                  const char *uuid, np_ndt7_done_cb done, void *ud, int *ret_status);

#endif
