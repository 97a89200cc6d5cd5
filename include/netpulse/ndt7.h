/* netpulse public client API: run ndt7 download and upload tests from any
 * libuv-based program. Embedders include only headers under netpulse/. */
#ifndef NETPULSE_NDT7_H
#define NETPULSE_NDT7_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { NP_NDT7_DOWNLOAD = 0, NP_NDT7_UPLOAD = 1 } np_ndt7_direction;

typedef struct {
  const char *name; /* e.g. "client_name" */
  const char *value;
} np_ndt7_kv;

/* What to run. Strings are copied by np_ndt7_client_start. */
typedef struct {
  /* Either url (a full ws:// or wss:// URL, as Locate hands out, with its
   * access_token), or server + scheme. */
  const char *url;
  const char *server; /* "host", "host:port", "[v6]:port" */
  const char *scheme; /* "ws" or "wss" (default "wss") */
  np_ndt7_direction direction;
  int verify_tls;             /* 1: verify certificate and host name */
  const char *ca_file;        /* extra CA bundle, may be NULL */
  int family;                 /* AF_UNSPEC, AF_INET or AF_INET6 */
  const np_ndt7_kv *metadata; /* sent as query parameters */
  size_t nmetadata;
  uint64_t timeout_ms; /* whole-test cap; 0 = 20000 */
} np_ndt7_options;

/* One measurement: what the client counted and, when the server sent one,
 * the server's latest view (TCPInfo fields; 0 when unknown). */
typedef struct {
  np_ndt7_direction direction;
  uint64_t elapsed_us; /* since the WebSocket handshake */
  uint64_t app_bytes;  /* payload bytes this client received/sent */
  double client_mbps;  /* 8 * app_bytes / elapsed */
  int has_server;      /* server fields below are set */
  uint64_t server_elapsed_us;
  uint64_t server_bytes_acked;
  uint64_t server_bytes_received;
  uint64_t server_bytes_sent;
  uint64_t server_bytes_retrans;
  uint64_t server_min_rtt_us;
  uint64_t server_rtt_us;
  uint64_t server_rttvar_us;
  double server_mbps;  /* download: acked, upload: received */
  uint64_t bbr_bw_bps; /* 0 if no BBR info */
} np_ndt7_measurement;

/* The outcome of one test. */
typedef struct {
  np_ndt7_direction direction;
  int error;            /* 0 or a negative netpulse error code */
  char error_text[256]; /* human-readable when error != 0 */
  char uuid[256];       /* the server's connection UUID ("" unknown) */
  char server_ip[64];
  int server_port;
  char client_ip[64];
  int client_port;
  double throughput_mbps; /* download: client-counted; upload: server
                             TCPInfo.BytesReceived over its elapsed */
  double min_rtt_ms;      /* server TCPInfo.MinRTT */
  double retrans_pct;     /* 100 * BytesRetrans / BytesSent */
  double loaded_rtt_ms;   /* mean server-side RTT during the test */
  uint64_t app_bytes;
  uint64_t elapsed_us;
  np_ndt7_measurement last; /* the final measurement */
  int retry_after_s;        /* > 0 when the server refused with Retry-After */
  /* Server figures that cannot be true (NP_NDT7_IMPLAUSIBLE_* bits): the
   * figure is still in the fields above, as the server gave it, and must
   * not be shown as a measurement. */
  unsigned implausible;
} np_ndt7_result;

/* A minimum RTT longer than the test has run (or than 60 s). */
#define NP_NDT7_IMPLAUSIBLE_MIN_RTT 1u
/* More bytes retransmitted than sent (over 100 %). */
#define NP_NDT7_IMPLAUSIBLE_RETRANS 2u
/* Upload: the server counts more received bytes than we sent. */
#define NP_NDT7_IMPLAUSIBLE_THROUGHPUT 4u
/* A loaded (smoothed) RTT sample over 60 s: left out of the mean. */
#define NP_NDT7_IMPLAUSIBLE_RTT 8u

typedef struct {
  /* Called for each client-side progress tick (about every 250 ms) and for
   * every measurement the server sends. May be NULL. */
  void (*on_measurement)(void *ud, const np_ndt7_measurement *m);
  /* Called exactly once when the test has ended, successfully or not. The
   * client object is freed after this returns. */
  void (*on_done)(void *ud, const np_ndt7_result *r);
} np_ndt7_callbacks;

typedef struct np_ndt7_client np_ndt7_client;

/* Starts one test on loop. Returns 0 and later calls on_done once, or a
 * negative error (then no callback). */
int np_ndt7_client_start(uv_loop_t *loop, const np_ndt7_options *o, const np_ndt7_callbacks *cbs,
                         void *ud, np_ndt7_client **ret_client);

/* Cancels a running test; on_done follows with an error. */
void np_ndt7_client_cancel(np_ndt7_client *c);

/* Splits "host", "host:port" or "[v6]:port" into host (no brackets) and
 * port (default_port when absent), and writes the Host header value.
 * Returns 0 or a negative error for malformed input. */
int np_ndt7_split_server(const char *server, const char *default_port, char *host, size_t hostcap,
                         char *port, size_t portcap, char *host_header, size_t hhcap);

/* Human-readable text for a netpulse error code. */
const char *np_ndt7_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
