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

typedef struct {
  const char *ndt7_addr_cleartext;
  const char *ndt7_addr;
  const char *health_addr;
  const char *prometheus_addr;
  const char *cert;
  const char *key;
  int tls_self_signed;
  const char *datadir;
  const char *uuid_prefix_file;
  np_flag_list labels;
  long long header_timeout_ms;
  long long drain_timeout_s;
  long long max_concurrent_tests;
  const char *log_level;
} np_server_config;

typedef struct np_server {
  uv_loop_t *loop;
  np_server_config cfg;
  char uuid_prefix[NP_UUID_PREFIX_BUFSZ];
  np_tls_ctx *tls;
  np_spool *spool;
  np_listener *ndt7_plain;
  np_listener *ndt7_tls;
  np_listener *health;
  uint8_t *payload;
  json_t *server_metadata;
  np_ndt7_server_cfg ndt7;
  uv_signal_t sigterm;
  uv_signal_t sigint;
  uv_signal_t sighup;
  uv_timer_t drain_timer;
  int draining;
  int terms;
  uint64_t active_tests;
  uint64_t pending_writes;
  uint64_t open_conns;
  int exit_code;
} np_server;

/* Accept callbacks for the listeners (front.c). */
void np_front_accept_ndt7(np_listener *l, void *ud, int fd);
void np_front_accept_health(np_listener *l, void *ud, int fd);

/* Hands a finished ndt7 test's record to the spool (data.c). */
void np_server_ndt7_done(void *ud, np_ndt7_outcome *o);

/* Exits the loop once draining and idle (main.c). */
void np_server_maybe_exit(np_server *s);

#endif
