/* Internals of the responsiveness client shared by its runner
 * (rpm_client.c), its probes (rpm_probe.c) and its report (rpm_report.c). */
#ifndef NP_CLIENT_RPM_CLIENT_H
#define NP_CLIENT_RPM_CLIENT_H

#include <jansson.h>
#include <stdint.h>
#include <netdb.h>
#include <sys/socket.h>

#include <uv.h>

#include "client/lib/rpm_link.h"
#include "core/buf.h"
#include "netpulse/rpm.h"
#include "rpm/algo.h"

enum { ROLE_CONFIG, ROLE_LOAD, ROLE_FOREIGN, ROLE_RESULT };
enum { REQ_CONFIG, REQ_SELF, REQ_FOREIGN, REQ_RESULT };
enum { DIR_DOWN = 0, DIR_UP = 1 };

/* A request in flight (load streams carry no req). */
typedef struct rpm_req {
  struct rpm_req *prev, *next;
  int kind;
  int phase;
  int status;
  int retry_after;
  uint64_t t0;
  rpm_link *l;
  np_buf body; /* config and result answers, capped */
} rpm_req;

struct np_rpm_client {
  uv_loop_t *loop;
  np_rpm_callbacks cbs;
  void *ud;
  np_rpm_params p;
  uint64_t idle_ns, timeout_ms;
  uint32_t max_conns;
  int parallel, send_result, verify, family, down_only, up_only;
  np_tls_ctx *tls;
  char *ca_file;
  char host[256], port[8], authority[300];
  char cfg_path[2048], small_path[1024], large_path[1024], upload_path[1024], result_path[1024];
  struct sockaddr_storage addr;
  uv_getaddrinfo_t gai;
  uv_timer_t interval, probe, tick, deadline;
  int handles; /* uv handles and links still open */
  rpm_link *links;
  rpm_req *reqs;
  uint8_t *payload;
  size_t payload_len;
  int phase; /* np_rpm_phase, or one of the PH_ values below */
  np_rpm_algo algo;
  int algo_on;
  uint64_t t0, phase_t0, last_foreign_ns, foreign_gap_ns;
  uint32_t flows[2], load_open;
  uint32_t foreign_budget, foreign_used, foreign_inflight, self_inflight;
  double last_mbps[2];
  uint64_t phase_bytes; /* load bytes the phase's intervals counted */
  double ended_mbps;    /* the phase's mean rate when the server ended its load */
  uint64_t rng;
  int done, start_error;
  rpm_link *config_link;
  np_rpm_result res;
};

#define PH_CONFIG (-1)
#define PH_RESULT 10
#define PH_DONE 11

/* Phase order for a run. */
int np_rpm_next_phase(const np_rpm_client *k, int phase);

/* Probes (rpm_probe.c): one probe round if due, and their outcomes. */
void np_rpm_probe_round(np_rpm_client *k, uint64_t now);
void np_rpm_probe_foreign_ready(np_rpm_client *k, rpm_link *l);
void np_rpm_probe_end(np_rpm_client *k, rpm_req *r, uint32_t error_code, uint64_t now);

/* Gap between probe rounds (MPS and PTC through the algorithm), and
 * between foreign probes (also the phase's share of the connection budget
 * spread over its longest run). */
uint64_t np_rpm_round_gap(const np_rpm_client *k);
uint64_t np_rpm_foreign_gap(const np_rpm_client *k, uint64_t phase_ns);

/* Requests. */
rpm_req *np_rpm_req_new(np_rpm_client *k, int kind, rpm_link *l, size_t body_cap);
void np_rpm_req_free(np_rpm_client *k, rpm_req *r);

/* Opens a link of role (and direction) counted against max_conns. */
int np_rpm_open_link(np_rpm_client *k, int role, int dir, rpm_link **ret);

/* Loop callbacks of the run that rpm_start.c arms. */
void np_rpm_on_tick(uv_timer_t *t);
void np_rpm_on_deadline(uv_timer_t *t);
void np_rpm_on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *ai);

/* The summary object (rpm_report.c). */
json_t *np_rpm_summary_object(const np_rpm_result *r);

#endif
