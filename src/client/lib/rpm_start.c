/* Starting the responsiveness client: the target (server or config URL),
 * the parameters with the draft's defaults, TLS, the shared payload, the
 * timers and the name lookup. The run itself is rpm_client.c. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/lib/rpm_client.h"
#include "client/lib/setup.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/rand.h"
#include "http/url.h"
#include "netpulse/ndt7.h"

#define TICK_MS 250
#define PAYLOAD_LEN (1u << 20)
#define DEFAULT_MAX_CONNS 200
#define DEFAULT_IDLE_MS 2000

static int set_target(np_rpm_client *k, const np_rpm_options *o) {
  if (o->config_url) {
    np_url u;
    if (np_url_parse(o->config_url, &u) < 0) return NP_E_BADARG;
    if (strcmp(u.scheme, "https") != 0 && strcmp(u.scheme, "http") != 0) return NP_E_BADARG;
    int tls = strcmp(u.scheme, "https") == 0;
    (void)snprintf(k->res.protocol, sizeof k->res.protocol, "%s", tls ? "h2" : "h2c");
    int w1 = snprintf(k->host, sizeof k->host, "%s", u.host);
    (void)snprintf(k->port, sizeof k->port, "%d", u.port);
    int w2 = snprintf(k->authority, sizeof k->authority, "%s", u.host_header);
    int w3 = snprintf(k->cfg_path, sizeof k->cfg_path, "%s", u.target);
    int w4 = snprintf(k->res.config_url, sizeof k->res.config_url, "%s", o->config_url);
    if (w1 < 0 || (size_t)w1 >= sizeof k->host || w2 < 0 || (size_t)w2 >= sizeof k->authority ||
        w3 < 0 || (size_t)w3 >= sizeof k->cfg_path || w4 < 0 ||
        (size_t)w4 >= sizeof k->res.config_url)
      return NP_E_TOOBIG;
    return tls;
  }
  if (!o->server) return NP_E_BADARG;
  int tls = o->tls != 0;
  int rc = np_ndt7_split_server(o->server, tls ? "443" : "80", k->host, sizeof k->host, k->port,
                                sizeof k->port, k->authority, sizeof k->authority);
  if (rc < 0) return rc;
  (void)snprintf(k->res.protocol, sizeof k->res.protocol, "%s", tls ? "h2" : "h2c");
  (void)snprintf(k->cfg_path, sizeof k->cfg_path, "/.well-known/nq");
  (void)snprintf(k->res.config_url, sizeof k->res.config_url, "%s://%s/.well-known/nq",
                 tls ? "https" : "http", k->authority);
  return tls;
}

static int set_params(np_rpm_client *k, const np_rpm_options *o) {
  np_rpm_params_default(&k->p);
  if (o->interval_ms) k->p.interval_ns = o->interval_ms * NP_NS_PER_MS;
  if (o->mad) k->p.mad = o->mad;
  if (o->tmp > 0) k->p.tmp = o->tmp;
  if (o->sdt > 0) k->p.sdt = o->sdt;
  if (o->mps > 0) k->p.mps = o->mps;
  if (o->ptc > 0) k->p.ptc = o->ptc;
  if (o->max_flows) k->p.max_flows = o->max_flows;
  if (o->max_duration_ms) k->p.max_duration_ns = o->max_duration_ms * NP_NS_PER_MS;
  k->idle_ns = (o->idle_ms ? o->idle_ms : DEFAULT_IDLE_MS) * NP_NS_PER_MS;
  k->max_conns = o->max_conns ? o->max_conns : DEFAULT_MAX_CONNS;
  k->parallel = o->parallel != 0;
  k->down_only = !k->parallel && o->download_only && !o->upload_only;
  k->up_only = !k->parallel && o->upload_only && !o->download_only;
  k->send_result = !o->no_send_result;
  np_rpm_result *r = &k->res;
  r->interval_ms = k->p.interval_ns / NP_NS_PER_MS;
  r->max_duration_ms = k->p.max_duration_ns / NP_NS_PER_MS;
  r->idle_ms = k->idle_ns / NP_NS_PER_MS;
  r->mad = k->p.mad;
  r->max_flows = k->p.max_flows;
  r->max_conns = k->max_conns;
  r->tmp = k->p.tmp;
  r->sdt = k->p.sdt;
  r->mps = k->p.mps;
  r->ptc = k->p.ptc;
  r->parallel = k->parallel;
  int phases = k->parallel || k->down_only || k->up_only ? 1 : 2;
  uint64_t loaded = k->p.max_duration_ns / NP_NS_PER_MS * (uint64_t)phases;
  k->timeout_ms = o->timeout_ms ? o->timeout_ms : k->idle_ns / NP_NS_PER_MS + loaded + 30000;
  if (k->max_conns < 3) return NP_E_BADARG;
  return np_rpm_params_check(&k->p);
}

int np_rpm_client_start(uv_loop_t *loop, const np_rpm_options *o, const np_rpm_callbacks *cbs,
                        void *ud, np_rpm_client **ret_client) {
  np_rpm_client *k = calloc(1, sizeof *k);
  if (!k) return -ENOMEM;
  k->loop = loop;
  k->cbs = *cbs;
  k->ud = ud;
  k->phase = PH_CONFIG;
  k->rng = np_random_u64() | 1;
  int tls = set_target(k, o);
  int rc = tls < 0 ? tls : set_params(k, o);
  snprintf(k->res.server_host, sizeof k->res.server_host, "%s", k->host);
  if (rc == 0 && tls) rc = np_client_tls(o->verify_tls, o->ca_file, "h2", &k->tls);
  k->payload_len = PAYLOAD_LEN;
  if (rc == 0) rc = np_client_random_payload(k->payload_len, &k->payload);
  if (rc < 0) {
    np_tls_ctx_free(k->tls);
    free(k->payload);
    free(k);
    return rc;
  }
  k->t0 = np_mono_ns();
  uv_timer_t *timers[] = {&k->interval, &k->probe, &k->tick, &k->deadline};
  for (size_t i = 0; i < 4; i++) {
    (void)uv_timer_init(loop, timers[i]);
    timers[i]->data = k;
  }
  k->gai.data = k;
  k->handles = 5; /* four timers and getaddrinfo (then the links) */
  (void)uv_timer_start(&k->deadline, np_rpm_on_deadline, k->timeout_ms, 0);
  (void)uv_timer_start(&k->tick, np_rpm_on_tick, TICK_MS, TICK_MS);
  rc = np_client_resolve(loop, &k->gai, np_rpm_on_resolved, k->host, k->port, o->family);
  if (rc < 0) {
    /* Reported through on_done from the loop, never before returning. */
    k->handles--;
    k->start_error =
        np_client_resolve_failed(k->res.error_text, sizeof k->res.error_text, k->host, rc);
    (void)uv_timer_start(&k->deadline, np_rpm_on_deadline, 0, 0);
  }
  if (ret_client) *ret_client = k;
  return 0;
}
