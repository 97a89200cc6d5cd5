/* netpulse public client API: measure responsiveness under working
 * conditions (RPM, draft-ietf-ippm-responsiveness-09) from any libuv-based
 * program, against any server that serves the draft's config. Embedders
 * include only headers under netpulse/. */
#ifndef NETPULSE_RPM_H
#define NETPULSE_RPM_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The phases of one measurement, in the order they run. */
typedef enum {
  NP_RPM_PHASE_IDLE = 0,     /* foreign probes on an unloaded path */
  NP_RPM_PHASE_DOWNLOAD = 1, /* load flows download; probes */
  NP_RPM_PHASE_UPLOAD = 2,   /* load flows upload; probes */
  NP_RPM_PHASE_PARALLEL = 3, /* both at once (options.parallel) */
  NP_RPM_PHASE_COUNT
} np_rpm_phase;

/* What to run. Strings are copied by np_rpm_client_start. Numeric
 * parameters left 0 take the draft's defaults (in brackets). */
typedef struct {
  /* Either config_url (http:// or https://, as a server publishes it), or
   * server ("host", "host:port", "[v6]:port") whose /.well-known/nq is
   * fetched over https (tls = 1) or http (h2c, tls = 0). */
  const char *config_url;
  const char *server;
  int tls;
  int verify_tls;           /* 1: verify certificate and host name */
  const char *ca_file;      /* extra CA bundle, may be NULL */
  int family;               /* AF_UNSPEC, AF_INET or AF_INET6 */
  int parallel;             /* 1: download and upload at once; else one after the other */
  int download_only;        /* 1: the download phase alone (not with parallel) */
  int upload_only;          /* 1: the upload phase alone (not with parallel) */
  uint64_t interval_ms;     /* ID: interval between flow additions (1000) */
  uint32_t mad;             /* MAD: intervals in a moving average (4) */
  double tmp;               /* TMP: fraction the trimmed mean keeps (0.95) */
  double sdt;               /* SDT: stability threshold (0.05) */
  double mps;               /* MPS: probes per second at most (100) */
  double ptc;               /* PTC: probe share of load bytes at most (0.05) */
  uint32_t max_flows;       /* load connections per direction (16) */
  uint64_t max_duration_ms; /* per loaded phase (20000) */
  uint64_t idle_ms;         /* idle-latency phase (2000) */
  uint32_t max_conns;       /* connections the whole measurement may open (200) */
  int no_send_result;       /* 1: do not POST the summary to the server */
  uint64_t timeout_ms;      /* whole-measurement cap; 0 = phases + 30 s */
} np_rpm_options;

/* One probe, reported to on_probe as it completes (times in ms; tls_ms < 0
 * when cleartext; foreign probes have tcp and tls, self probes only http). */
typedef struct {
  np_rpm_phase phase;
  int self;   /* 0: foreign (new connection), 1: self (on a load flow) */
  double t_s; /* since the measurement started */
  double tcp_ms, tls_ms, http_ms;
} np_rpm_probe_sample;

/* Live view, about every 250 ms. */
typedef struct {
  np_rpm_phase phase;
  double elapsed_s; /* since the phase started */
  uint32_t flows;   /* load flows open (per direction) */
  double down_mbps; /* last interval's goodput */
  double up_mbps;
  double rpm; /* over the last MAD intervals (0: not yet) */
  uint64_t probes;
} np_rpm_progress;

/* The outcome of one phase (idle: latency and probes only). */
typedef struct {
  int ran;
  double rpm, rpm_foreign, rpm_loaded;
  double latency_ms; /* 60000 / rpm: the round trip it stands for */
  double tm_tcp_ms, tm_tls_ms, tm_http_foreign_ms, tm_http_self_ms;
  double throughput_mbps;    /* TCP payload goodput, moving average at the end */
  double down_mbps, up_mbps; /* parallel: each direction's share */
  uint32_t flows, intervals;
  uint64_t probes_foreign, probes_self;
  int goodput_stable, rpm_stable;
  int confidence; /* 0 Low, 1 Medium, 2 High */
  double duration_ms;
  /* The server ended the load (its transmit allowance: HTTP/2 GOAWAY with
   * NO_ERROR and a reason) before the algorithm did: the phase's result is
   * what was measured until then, with Low confidence. */
  int server_ended;
  char server_ended_why[64]; /* the server's words, printable */
  double server_ended_s;     /* seconds into the phase */
  double server_ended_mb;    /* megabytes (10^6) of load the phase moved by then */
} np_rpm_phase_result;

typedef struct {
  int error;            /* 0 or a negative netpulse error code */
  char error_text[256]; /* human-readable when error != 0 */
  int retry_after_s;    /* > 0 when the server refused with Retry-After */
  char protocol[4];     /* "h2" or "h2c" */
  /* 1 when the server does not offer RPM at all (error set): the config
   * URL is 404, TLS without h2, or the connection closed before any HTTP/2
   * frame (a refused h2c preface). A server that answers HTTP/2 and then
   * fails the test leaves this 0. */
  int not_offered;
  char config_url[512];
  char server_host[256];
  char server_ip[64];
  int server_port;
  char client_ip[64];
  np_rpm_phase_result phase[NP_RPM_PHASE_COUNT];
  double rpm;     /* the loaded phases' result (sequential: the lower one) */
  int confidence; /* the lowest of the loaded phases */
  double idle_latency_ms, loaded_latency_ms;
  /* The parameters used (defaults filled in). */
  uint64_t interval_ms, max_duration_ms, idle_ms;
  uint32_t mad, max_flows, max_conns;
  double tmp, sdt, mps, ptc;
  int parallel;
  int result_sent;   /* the server accepted the summary */
  int result_status; /* HTTP status of the POST (0: not sent) */
  uint32_t conns_opened;
  /* 1 once the server's config was read and the measurement began: an
   * error after it is the server failing a test it offered. */
  int measuring;
} np_rpm_result;

typedef struct {
  void (*on_progress)(void *ud, const np_rpm_progress *p);  /* may be NULL */
  void (*on_probe)(void *ud, const np_rpm_probe_sample *s); /* may be NULL */
  /* Called exactly once when the measurement has ended, successfully or
   * not. The client object is freed after this returns. */
  void (*on_done)(void *ud, const np_rpm_result *r);
} np_rpm_callbacks;

typedef struct np_rpm_client np_rpm_client;

/* Starts one measurement on loop. Returns 0 and later calls on_done once,
 * or a negative error (then no callback). */
int np_rpm_client_start(uv_loop_t *loop, const np_rpm_options *o, const np_rpm_callbacks *cbs,
                        void *ud, np_rpm_client **ret_client);

/* Cancels a running measurement; on_done follows with an error. */
void np_rpm_client_cancel(np_rpm_client *c);

/* The summary the client sends to the server (and that the CLI prints),
 * as one line of JSON; free() it. NULL on allocation failure. */
char *np_rpm_result_json(const np_rpm_result *r);

/* "Poor", "Fair", "Good", "Excellent" for an RPM value ("" for 0). */
const char *np_rpm_band_name(double rpm);

/* "Low", "Medium", "High". */
const char *np_rpm_confidence_text(int confidence);

/* "idle", "download", "upload", "parallel". */
const char *np_rpm_phase_name(np_rpm_phase p);

#ifdef __cplusplus
}
#endif
#endif
