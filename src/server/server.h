/* netpulse-server's process state, shared by its main, front door and data
 * hand-off. Lives on the loop thread. */
#ifndef NP_SERVER_SERVER_H
#define NP_SERVER_SERVER_H

#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "core/flags.h"
#include "data/spool.h"
#include "ndt7/server.h"
#include "net/listener.h"
#include "net/sockuuid.h"
#include "net/tls.h"
#include "ops/admission.h"
#include "ops/jwt.h"
#include "ops/prom.h"
#include "http/reply.h"
#include "http/static.h"
#include "server/route.h"
#include "rpm/server.h"
#include "rpm/service.h"

typedef struct {
  const char *http_addr;
  const char *https_addr;
  const char *ndt7_addr_cleartext; /* alias of http_addr (overrides it) */
  const char *ndt7_addr;           /* alias of https_addr (overrides it) */
  int no_rpm;
  const char *rpm_public_host;
  int no_web;
  const char *web_dir;
  long long rpm_notsent_lowat;
  const char *rpm_congestion;
  long long rpm_max_runtime_s;
  long long rpm_max_conns;
  const char *health_addr;
  const char *prometheus_addr;
  const char *cert;
  const char *key;
  int tls_self_signed;
  const char *datadir;
  const char *uuid_prefix_file;
  np_flag_list labels;
  long long header_timeout_ms;
  long long max_conns;
  long long drain_timeout_s;
  long long lame_duck_min_s;
  long long max_concurrent_tests;
  long long max_tests_per_client;
  long long tx_max_rate;
  const char *tx_device;
  long long bandwidth_budget;
  long long budget_window_s;
  long long budget_test_bytes;
  long long spool_max_bytes;
  long long spool_scan_interval_s;
  np_flag_list token_verify_keys;
  const char *token_machine;
  const char *token_required;
  const char *log_level;
} np_server_config;

/* One admitted test of any type (ndt7 now, rpm later): what admission, the
 * transmit budget and the metrics need to know about it. Owned by the
 * server; lives from np_server_admit() until the tick after it ended. */
typedef struct np_server_test {
  struct np_server *srv;
  struct np_server_test *prev, *next;
  const char *type;  /* "ndt7" (static) */
  const char *proto; /* "ndt7+ws", "ndt7+wss" (static) */
  const char *test;  /* "download", "upload" (static) */
  np_conn *conn;     /* the test's connection while it runs; NULL after */
  uint64_t ticket;
  uint64_t allowance; /* transmit bytes granted (0 = unlimited) */
  uint64_t tx_bytes;  /* socket bytes sent, final once ended */
  int ended;
  char uuid[NP_UUID_BUFSZ];
} np_server_test;

/* What a test type asks admission for (see np_server_admit). */
typedef struct {
  const char *type;
  const char *proto;
  const char *test;
  int transmits;              /* the server sends the bulk (downloads) */
  const np_http_request *req; /* HTTP/1.1: the request (its query holds the token) */
  np_conn *conn;              /* HTTP/1.1: the connection (its peer is the client) */
  np_slice query;             /* otherwise: the query with the access token */
  const char *client_ip;      /* otherwise: the client */
  const char *uuid;
} np_server_ask;

/* A refusal, as admission decided it; each protocol encodes it. */
typedef struct {
  int status;         /* 401, 503, 500 */
  int retry_after;    /* seconds; < 0: none */
  const char *reason; /* static */
} np_server_refusal;

/* A finished test's file for the spool (spoolq.c). */
typedef struct {
  const char *datatype;
  int64_t wall_ns; /* its date */
  const char *name;
  const char *label; /* "uuid=..." or "measurement=...", for the log */
  uint8_t *data;     /* malloc'd; ownership passes */
  size_t len;
  int gzip;          /* compress on the worker thread first */
  size_t raw_queued; /* bytes already counted in gzip_queued, released when done */
} np_server_file;

/* Metric handles (metrics.c). */
typedef struct {
  np_prom_registry *reg;
  np_prom_family *tests, *bytes_sent, *bytes_received, *duration, *rate, *active;
  np_prom_family *rejections, *files, *accept_pauses, *early_closes, *h2_goaways;
  np_prom_family *meta_dropped, *cm_dropped, *cm_members_dropped;
  np_prom_series *sat_concurrency, *sat_tx, *sat_budget, *sat_spool;
  np_prom_series *tx_rate, *tx_total, *spool_bytes, *spool_max, *lame_duck, *window_bytes;
  np_prom_series *open_conns, *conn_cap;
  np_prom_series *spool_held, *spool_writable;
} np_server_metrics;

typedef struct np_server {
  uv_loop_t *loop;
  np_server_config cfg;
  char uuid_prefix[NP_UUID_PREFIX_BUFSZ];
  np_tls_ctx *tls;
  np_spool *spool;
  np_listener *ndt7_plain;
  np_listener *ndt7_tls;
  np_listener *health;
  np_listener *prometheus;
  np_server_metrics m;
  np_admission *adm;
  np_jwt_keyset *keys;
  int token_required_ndt7;
  int token_required_rpm;
  np_server_test *tests; /* admitted, running or ended since last tick */
  uint64_t tx_done;      /* socket bytes sent by tests already released */
  uv_timer_t tick;
  uv_timer_t spool_timer;
  uv_work_t spool_work;
  int spool_scanning;
  uint64_t spool_bytes; /* last scan plus files written since */
  uint64_t spool_scan_result;
  uint64_t spool_written_during_scan;
  /* The spool's health and the files held while it cannot be written
   * (spoolq.c). */
  int spool_fault; /* the negative errno that made it unwritable; 0: writable */
  uint64_t spool_fault_since_ms;
  struct np_spool_item *held_head, *held_tail, *spool_retrying;
  uint64_t held_files, held_bytes;
  uv_timer_t spool_retry;
  uv_work_t probe_req;
  int probing;
  int probe_result;
  int spool_probe_rc; /* the scan's probe (admit.c) */
  uint8_t *payload;
  json_t *server_metadata;
  np_ndt7_server_cfg ndt7;
  np_rpm_service *rpm_svc; /* NULL with --no-rpm */
  np_rpm_server_cfg rpm;
  uv_timer_t rpm_tick;
  uv_signal_t sigterm;
  uv_signal_t sigint;
  uv_signal_t sighup;
  uv_timer_t drain_timer;
  uv_timer_t lame_duck_timer;
  int draining;
  int lame_duck_held; /* draining, but the minimum lame-duck time runs */
  int terms;
  uint64_t active_tests;
  uint64_t pending_writes;
  uint64_t gzip_queued; /* raw bytes of documents waiting for a gzip worker */
  uint64_t open_conns;  /* ndt7 connections before their test starts */
  uint64_t aux_conns;   /* health and metrics connections */
  uint64_t conn_cap;    /* ndt7 connections (open_conns + active_tests) at most */
  int conn_pressure;    /* at the cap: request heads get a short deadline */
  uv_timer_t accept_retry;
  uint64_t accept_fail_logged_ms;
  struct np_front *fronts_oldest, *fronts_newest; /* before the head, by age */
  np_routes routes_front;                         /* --http-addr and --https-addr (HTTP/1.1) */
  np_routes routes_health;
  np_routes routes_metrics;
  np_static_site web; /* the test page (with web_on) */
  int web_on;
  int exit_code;

  int trim_due; /* tests ran since the heap was last trimmed (trim.c) */
} np_server;

/* Accept callbacks for the listeners (front.c). */
void np_front_accept_ndt7(np_listener *l, void *ud, int fd);
void np_front_accept_health(np_listener *l, void *ud, int fd);
void np_front_accept_metrics(np_listener *l, void *ud, int fd);
/* The route tables and the test page (routes.c). 0 or a negative error
 * (reported on stderr). */
int np_server_routes_setup(np_server *s);
/* The page's answer to method and path, for any protocol: 0 with *ret
 * (release it with np_http_reply_free), or a negative error (no page:
 * --no-web; or -ENOMEM). */
int np_server_web_reply(np_server *s, np_slice method, np_slice path, np_http_reply *ret);
/* Under pressure, connections still waiting for their request head get a
 * short deadline (counted from their accept, so the oldest go first). */
void np_front_pressure(np_server *s);

/* The connection budget (conns.c). Setup raises the soft fd limit to the
 * hard one, logs both and derives conn_cap (after the listeners exist).
 * conns_changed pauses or resumes the listeners after the counts changed
 * (closed: a connection went away, so descriptors are free again);
 * accept_failed handles a listener that ran out of descriptors. */
int np_server_conn_budget_setup(np_server *s);
uint64_t np_server_conns(const np_server *s);
void np_server_conns_changed(np_server *s, int closed);
void np_server_accept_failed(np_server *s, np_listener *l, int err);

/* Admission for every test type (admit.c): checks the access token (401)
 * and capacity (503 + Retry-After), logs and counts a refusal, and returns
 * 0 with the test's record or a negative error with *no filled. Nothing
 * is written to any connection. */
int np_server_decide(np_server *s, const np_server_ask *ask, np_server_test **ret,
                     np_server_refusal *no);
/* HTTP/1.1 admission: np_server_decide, then a refusal is answered on
 * ask->conn (which is closed). */
int np_server_admit(np_server *s, const np_server_ask *ask, np_server_test **ret);
/* The test's session could not start (its upgrade failed): drops it. */
void np_server_test_abandon(np_server_test *t);
/* The test ended with tx_bytes socket bytes sent; its admission ticket is
 * released at the next tick, after its last bytes were sampled. */
void np_server_test_end(np_server_test *t, uint64_t tx_bytes);
/* Payload bytes a session may send within the test's allowance (0 = no
 * cap). */
uint64_t np_server_payload_cap(const np_server_test *t);
/* A data file of this many bytes was written (for the spool quota). */
void np_server_spool_added(np_server *s, uint64_t bytes);
/* Answers a refused request: status, Retry-After (< 0: none), JSON body
 * {"status":..,"error":reason}; closes the conn. */
void np_server_refuse(np_conn *c, int status, int retry_after, const char *reason);
/* Admission, tokens, the 100 ms tick and the spool scan (admit.c). */
int np_server_admission_setup(np_server *s);
/* Starts the 100 ms tick and the spool scans (after the spool exists). */
void np_server_admission_start(np_server *s);
void np_server_set_lame_duck(np_server *s);
/* From the 100 ms tick: when the server has gone idle after serving
 * tests, returns the heap's free pages to the system (trim.c). */
void np_server_trim_tick(np_server *s);
int np_server_reload_keys(np_server *s, char *err, size_t errcap);

/* Metrics (metrics.c). */
int np_metrics_setup(np_server *s);
void np_metrics_test_done(np_server *s, const np_server_test *t, int success, const char *stage,
                          uint64_t sent, uint64_t received, double secs, double mbps);
void np_metrics_rejected(np_server *s, const char *proto, const char *reason);
void np_metrics_file(np_server *s, const char *datatype, int ok);
void np_metrics_active(np_server *s, const char *proto, int delta);
/* Counts what a finished test's client sent that its record does not hold. */
void np_metrics_client_drops(np_server *s, const np_ndt7_outcome *o);
void np_metrics_accept_paused(np_server *s, const char *reason);
void np_metrics_early_close(np_server *s, const char *reason);
/* An HTTP/2 connection sent a GOAWAY for reason (np_h2_conn_goaway_reason). */
void np_metrics_h2_goaway(np_server *s, const char *reason);
/* Writes the whole /metrics HTTP response (200, or 500 when too big). */
void np_metrics_respond(np_server *s, np_buf *out);

/* `netpulse-server healthcheck [--url URL]` (healthcheck.c). */
int np_healthcheck_main(int argc, char **argv, const char *health_addr);

/* The spool hand-off (spoolq.c). put takes f->data in every case: the file
 * is written on a worker thread, held in memory while the spool cannot be
 * written, and counted and logged if it is lost. spool_health takes the
 * result of a probe of the spool (np_spool_probe). abandon counts and logs
 * the files still held, at exit. */
void np_server_spool_setup(np_server *s);
void np_server_spool_put(np_server *s, const np_server_file *f);
void np_server_spool_health(np_server *s, int probe_rc);
void np_server_spool_abandon(np_server *s);

/* Hands a finished ndt7 test's record to the spool (data.c). */
void np_server_ndt7_done(void *ud, np_ndt7_outcome *o);

/* The responsiveness service (rpm.c): measurements, their admission and
 * records. 0 or a negative error. */
int np_server_rpm_setup(np_server *s);

/* Exits the loop once draining and idle (main.c). */
void np_server_maybe_exit(np_server *s);

#endif
