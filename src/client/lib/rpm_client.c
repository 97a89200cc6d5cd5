/* The responsiveness client behind include/netpulse/rpm.h: config, idle
 * latency, then the loaded phases (flows added per interval until goodput
 * and responsiveness are stable or time is up), then the summary POSTed to
 * the server. The algorithm is rpm/algo.c; probes are rpm_probe.c. */
#include "client/lib/rpm_client.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

#include "client/lib/setup.h"
#include "core/clock.h"
#include "core/error.h"
#include "http/url.h"

#define CONFIG_MAX (64u << 10)

static const char kLoadTag[] = "load"; /* stream_ud of load streams */

static void finish(np_rpm_client *k, int err, const char *text);
static void start_phase(np_rpm_client *k, int phase);

/* ---- requests and links ---------------------------------------------------- */

rpm_req *np_rpm_req_new(np_rpm_client *k, int kind, rpm_link *l, size_t body_cap) {
  rpm_req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->kind = kind;
  r->phase = k->phase;
  r->l = l;
  np_buf_init(&r->body, body_cap);
  r->next = k->reqs;
  if (k->reqs) k->reqs->prev = r;
  k->reqs = r;
  return r;
}

void np_rpm_req_free(np_rpm_client *k, rpm_req *r) {
  if (r->prev)
    r->prev->next = r->next;
  else
    k->reqs = r->next;
  if (r->next) r->next->prev = r->prev;
  np_buf_free(&r->body);
  free(r);
}

static void on_handle_closed(uv_handle_t *h);

static void maybe_free(np_rpm_client *k) {
  if (k->handles > 0) return;
  while (k->reqs) np_rpm_req_free(k, k->reqs);
  np_rpm_algo_free(&k->algo);
  np_tls_ctx_free(k->tls);
  free(k->payload);
  free(k->ca_file);
  free(k);
}

static void on_handle_closed(uv_handle_t *h) {
  np_rpm_client *k = h->data;
  k->handles--;
  maybe_free(k);
}

static void ev_ready(rpm_link *l, void *ud);
static void ev_closed(rpm_link *l, void *ud, int status);
static void ev_response(rpm_link *l, void *ud, int32_t id, int status, int retry_after, void *sud);
static void ev_body(rpm_link *l, void *ud, const uint8_t *data, size_t n, void *sud);
static void ev_end(rpm_link *l, void *ud, int32_t id, uint32_t error_code, void *sud);

static const rpm_link_events kEvents = {ev_ready, ev_closed, ev_response, ev_body, ev_end};

int np_rpm_open_link(np_rpm_client *k, int role, int dir, rpm_link **ret) {
  if (k->res.conns_opened >= k->max_conns) return NP_E_TOOBIG;
  rpm_link *l = NULL;
  int rc = rpm_link_open(k->loop, (const struct sockaddr *)&k->addr, k->tls, k->host, k->authority,
                         np_slice_make(k->payload, k->payload_len), &kEvents, k, &l);
  if (rc < 0) return rc;
  l->role = role;
  l->dir = dir;
  l->next = k->links;
  if (k->links) k->links->prev = l;
  k->links = l;
  k->handles++;
  k->res.conns_opened++;
  *ret = l;
  return 0;
}

static void post_on(np_rpm_client *k, rpm_link *l);

static void ev_ready(rpm_link *l, void *ud) {
  np_rpm_client *k = ud;
  if (k->done) {
    rpm_link_abort(l);
    return;
  }
  if (l->role == ROLE_FOREIGN) {
    np_rpm_probe_foreign_ready(k, l);
  } else if (l->role == ROLE_LOAD) {
    int up = l->dir == DIR_UP;
    l->load_stream = rpm_link_request(l, up ? "POST" : "GET", up ? k->upload_path : k->large_path,
                                      NULL, 0, up, (void *)kLoadTag);
    if (l->load_stream < 0) rpm_link_abort(l);
  } else if (l->role == ROLE_RESULT) {
    post_on(k, l);
  } else if (l->role == ROLE_CONFIG) {
    (void)np_conn_peer_addr(l->c, k->res.server_ip, sizeof k->res.server_ip, &k->res.server_port);
    int cport = 0;
    (void)np_conn_local_addr(l->c, k->res.client_ip, sizeof k->res.client_ip, &cport);
    rpm_req *r = np_rpm_req_new(k, REQ_CONFIG, l, CONFIG_MAX);
    if (!r || rpm_link_request(l, "GET", k->cfg_path, NULL, 0, 0, r) < 0) {
      if (r) np_rpm_req_free(k, r);
      finish(k, -ENOMEM, "cannot request the config");
    }
  }
}

static void end_phase(np_rpm_client *k);

/* A load connection the server closed with a GOAWAY saying why (NO_ERROR:
 * its transmit allowance, not a failure): the phase ends with what it
 * measured, and says so. */
static void server_ended_load(np_rpm_client *k, const rpm_link *l) {
  np_rpm_phase_result *pr = &k->res.phase[k->phase];
  pr->server_ended = 1;
  (void)snprintf(pr->server_ended_why, sizeof pr->server_ended_why, "%s", l->goaway_why);
  pr->server_ended_s = (double)(np_mono_ns() - k->phase_t0) / 1e9;
  /* The intervals' count, and what came since on every load connection
   * (fast paths reach the allowance within the first interval). */
  uint64_t b =
      k->phase_bytes + (l->bytes_in_final > l->mark_bytes ? l->bytes_in_final - l->mark_bytes : 0);
  for (rpm_link *o = k->links; o; o = o->next) {
    uint64_t v = o->role == ROLE_LOAD && o->dir == DIR_DOWN ? rpm_link_bytes_in(o) : 0;
    b += v > o->mark_bytes ? v - o->mark_bytes : 0;
  }
  pr->server_ended_mb = (double)b / 1e6;
  /* Before a first interval the moving average has no goodput yet. */
  k->ended_mbps = pr->server_ended_s > 0 ? (double)b * 8 / pr->server_ended_s / 1e6 : 0;
  end_phase(k);
}

static void ev_closed(rpm_link *l, void *ud, int status) {
  np_rpm_client *k = ud;
  if (l->prev)
    l->prev->next = l->next;
  else
    k->links = l->next;
  if (l->next) l->next->prev = l->prev;
  /* Requests of this link end without an answer. */
  for (rpm_req *r = k->reqs, *nx; r; r = nx) {
    nx = r->next;
    if (r->l != l) continue;
    if (r->kind == REQ_SELF && k->self_inflight) k->self_inflight--;
    np_rpm_req_free(k, r);
  }
  if (l->role == ROLE_FOREIGN && k->foreign_inflight) k->foreign_inflight--;
  if (l->role == ROLE_LOAD && k->load_open) k->load_open--;
  /* The connection carrying the summary went away unanswered: the
   * measurement itself is complete. */
  if (!k->done && k->phase == PH_RESULT && (l->role == ROLE_RESULT || l == k->config_link))
    finish(k, 0, NULL);
  if (l == k->config_link) {
    k->config_link = NULL;
    if (!k->done && k->phase == PH_CONFIG) {
      char text[288];
      int e = status < 0 ? status : NP_E_CLOSED;
      /* Who ended it, in words: we did (our HTTP/2 session rejected what
       * the server sent: a flood or broken frames); the server did with a
       * GOAWAY; or it connected and closed with neither, i.e. it did not
       * take the HTTP/2 preface (an HTTP/1.1-only server answers 400 and
       * hangs up, and the status is then whatever the socket said). */
      int ours = (l->rejected || l->error[0]) && !l->http1;
      int no_h2 = (e == NP_E_PROTO && !l->ready) || l->http1 ||
                  (l->ready && !l->goaway && !ours && e != NP_E_TIMEOUT && e != -ECANCELED);
      if (no_h2) k->res.not_offered = 1;
      const char *why = no_h2 ? "the server does not speak HTTP/2 there (it does not offer RPM)"
                        : ours && l->error[0] ? l->error
                        : ours ? "the server broke HTTP/2 (what it sent was rejected), so we "
                                 "closed the connection"
                        : l->goaway
                            ? "the server closed the HTTP/2 session (GOAWAY) before answering"
                            : np_strerror(e);
      (void)snprintf(text, sizeof text, "cannot fetch the config from %.120s: %s", k->authority,
                     why);
      finish(k, no_h2 || ours ? NP_E_PROTO : l->goaway ? NP_E_REFUSED : e, text);
    }
  }
  /* A server that broke HTTP/2 on a load or probe connection broke the
   * measurement: said now, not at the deadline. */
  if (l->error[0] && !k->done && k->phase != PH_RESULT && k->phase != PH_CONFIG) {
    char text[200];
    (void)snprintf(text, sizeof text, "%s (on a %s connection)", l->error,
                   l->role == ROLE_LOAD      ? "load"
                   : l->role == ROLE_FOREIGN ? "probe"
                                             : "result");
    finish(k, NP_E_PROTO, text);
  }
  /* A link of this phase: an aborted download link may close during the
   * upload phase that followed. */
  int mine = k->phase == NP_RPM_PHASE_PARALLEL ||
             (k->phase == NP_RPM_PHASE_DOWNLOAD && l->dir == DIR_DOWN) ||
             (k->phase == NP_RPM_PHASE_UPLOAD && l->dir == DIR_UP);
  if (l->role == ROLE_LOAD && l->goaway && l->goaway_code == 0 && l->goaway_why[0] && !k->done &&
      k->algo_on && mine)
    server_ended_load(k, l);
  k->handles--;
  maybe_free(k);
}

static void ev_response(rpm_link *l, void *ud, int32_t id, int status, int retry_after, void *sud) {
  (void)l;
  (void)ud;
  (void)id;
  if (sud == kLoadTag) return;
  ((rpm_req *)sud)->status = status;
  ((rpm_req *)sud)->retry_after = retry_after;
}

static void ev_body(rpm_link *l, void *ud, const uint8_t *data, size_t n, void *sud) {
  (void)l;
  (void)ud;
  if (sud == kLoadTag) return;
  rpm_req *r = sud;
  if (r->kind == REQ_CONFIG || r->kind == REQ_RESULT) (void)np_buf_append(&r->body, data, n);
}

/* Copies the path and query of url into out when it names our server. */
static int url_path(np_rpm_client *k, const char *url, char *out, size_t cap) {
  np_url u;
  if (!url || np_url_parse(url, &u) < 0) return NP_E_BADARG;
  char port[8];
  (void)snprintf(port, sizeof port, "%d", u.port);
  if (strcasecmp(u.host, k->host) != 0 || strcmp(port, k->port) != 0) return NP_E_BADARG;
  int n = snprintf(out, cap, "%s", u.target);
  return n > 0 && (size_t)n < cap ? 0 : NP_E_TOOBIG;
}

static const char *url_of(json_t *urls, const char *key, const char *alt) {
  const char *v = json_string_value(json_object_get(urls, key));
  return v ? v : json_string_value(json_object_get(urls, alt));
}

static void config_done(np_rpm_client *k, rpm_req *r, uint32_t error_code) {
  char text[256];
  if (error_code != 0 || r->status != 200) {
    if (r->status == 503 || r->status == 429 || r->status == 401) {
      k->res.retry_after_s = r->retry_after > 0 ? r->retry_after : 0;
      np_client_refusal_text(text, sizeof text, r->status, k->res.retry_after_s, r->body.data,
                             r->body.len);
      finish(k, NP_E_REFUSED, text);
    } else if (r->status == 404) {
      k->res.not_offered = 1;
      (void)snprintf(text, sizeof text, "the server does not offer RPM: HTTP 404 for %.120s",
                     k->res.config_url);
      finish(k, NP_E_PROTO, text);
    } else if (r->status == 0) {
      /* No answer at all: the server reset the stream or refused it in a
       * GOAWAY (streams above its last id close as REFUSED_STREAM). */
      (void)snprintf(text, sizeof text,
                     "the server ended the config request without an answer (HTTP/2 %s, by "
                     "GOAWAY or RST_STREAM)",
                     nghttp2_http2_strerror(error_code));
      finish(k, NP_E_REFUSED, text);
    } else {
      (void)snprintf(text, sizeof text, "config request failed: HTTP %d", r->status);
      finish(k, NP_E_PROTO, text);
    }
    return;
  }
  json_error_t je;
  json_t *doc = json_loadb((const char *)r->body.data, r->body.len, 0, &je);
  json_t *urls = json_object_get(doc, "urls");
  int rc = json_is_object(urls) ? 0 : NP_E_JSON;
  if (rc == 0)
    rc = url_path(k, url_of(urls, "small_download_url", "small_https_download_url"), k->small_path,
                  sizeof k->small_path);
  if (rc == 0)
    rc = url_path(k, url_of(urls, "large_download_url", "large_https_download_url"), k->large_path,
                  sizeof k->large_path);
  if (rc == 0)
    rc = url_path(k, url_of(urls, "upload_url", "https_upload_url"), k->upload_path,
                  sizeof k->upload_path);
  /* The result endpoint is netpulse's own; other servers have none. */
  const char *res = json_string_value(json_object_get(urls, "result_url"));
  if (rc == 0 && (!res || url_path(k, res, k->result_path, sizeof k->result_path) < 0))
    k->result_path[0] = 0;
  json_decref(doc);
  if (rc < 0) {
    finish(k, rc == NP_E_JSON ? NP_E_JSON : NP_E_BADARG,
           rc == NP_E_JSON ? "the config is not the draft's JSON"
                           : "the config's URLs are missing or point to another server "
                             "(only same-server configs are supported)");
    return;
  }
  k->res.measuring = 1;
  start_phase(k, NP_RPM_PHASE_IDLE);
}

static void ev_end(rpm_link *l, void *ud, int32_t id, uint32_t error_code, void *sud) {
  np_rpm_client *k = ud;
  (void)id;
  if (sud == kLoadTag) {
    if (l->load_stream == id) l->load_stream = -1;
    return;
  }
  rpm_req *r = sud;
  uint64_t now = np_mono_ns();
  if (!k->done) {
    if (r->kind == REQ_CONFIG) {
      config_done(k, r, error_code);
    } else if (r->kind == REQ_RESULT) {
      k->res.result_status = error_code ? 0 : r->status;
      k->res.result_sent = error_code == 0 && r->status == 200;
      np_rpm_req_free(k, r);
      finish(k, 0, NULL);
      return;
    } else {
      np_rpm_probe_end(k, r, error_code, now);
    }
  }
  np_rpm_req_free(k, r);
}

/* ---- phases ---------------------------------------------------------------- */

int np_rpm_next_phase(const np_rpm_client *k, int phase) {
  if (phase == NP_RPM_PHASE_IDLE)
    return k->parallel  ? NP_RPM_PHASE_PARALLEL
           : k->up_only ? NP_RPM_PHASE_UPLOAD
                        : NP_RPM_PHASE_DOWNLOAD;
  if (phase == NP_RPM_PHASE_DOWNLOAD && !k->down_only) return NP_RPM_PHASE_UPLOAD;
  return PH_RESULT;
}

static int dirs_of(int phase, int d) {
  if (phase == NP_RPM_PHASE_PARALLEL) return 1;
  return (phase == NP_RPM_PHASE_DOWNLOAD && d == DIR_DOWN) ||
         (phase == NP_RPM_PHASE_UPLOAD && d == DIR_UP);
}

static void add_flows(np_rpm_client *k) {
  for (int d = 0; d < 2; d++) {
    if (!dirs_of(k->phase, d) || k->flows[d] >= k->p.max_flows) continue;
    rpm_link *l = NULL;
    if (np_rpm_open_link(k, ROLE_LOAD, d, &l) == 0) {
      k->flows[d]++;
      k->load_open++;
    }
  }
}

static uint64_t phase_ns(const np_rpm_client *k, int phase) {
  return phase == NP_RPM_PHASE_IDLE ? k->idle_ns : k->p.max_duration_ns;
}

/* The foreign-probe budget of a phase: what the connection cap leaves
 * after the load flows still to come and the result, shared among the
 * phases still to run. */
static uint32_t foreign_budget(const np_rpm_client *k, int phase) {
  uint32_t phases = 0, flows = 0;
  for (int p = phase; p != PH_RESULT; p = np_rpm_next_phase(k, p)) {
    phases++;
    if (p != NP_RPM_PHASE_IDLE) flows += k->p.max_flows * (p == NP_RPM_PHASE_PARALLEL ? 2 : 1);
  }
  uint32_t used = k->res.conns_opened + flows + 1;
  if (used >= k->max_conns || phases == 0) return 0;
  return (k->max_conns - used) / phases;
}

static void fill_phase(np_rpm_client *k, int phase) {
  np_rpm_outcome o;
  np_rpm_algo_outcome(&k->algo, &o);
  np_rpm_phase_result *pr = &k->res.phase[phase];
  pr->ran = 1;
  pr->rpm = o.rpm;
  pr->rpm_foreign = o.rpm_foreign;
  pr->rpm_loaded = o.rpm_loaded;
  pr->latency_ms = o.latency_ms;
  pr->tm_tcp_ms = o.tm_tcp_ms;
  pr->tm_tls_ms = o.tm_tls_ms;
  pr->tm_http_foreign_ms = o.tm_http_foreign_ms;
  pr->tm_http_self_ms = o.tm_http_self_ms;
  pr->throughput_mbps = o.goodput_mbps;
  pr->flows =
      phase == NP_RPM_PHASE_IDLE ? 0 : (k->flows[0] > k->flows[1] ? k->flows[0] : k->flows[1]);
  pr->intervals = o.intervals;
  pr->probes_foreign = o.probes_foreign;
  pr->probes_self = o.probes_self;
  pr->goodput_stable = o.goodput_stable;
  pr->rpm_stable = o.rpm_stable;
  pr->confidence = (int)o.confidence;
  pr->duration_ms = (double)(np_mono_ns() - k->phase_t0) / 1e6;
  /* Cut short by the server: neither stability was reached. */
  if (pr->server_ended) pr->confidence = 0;
  if (pr->server_ended && !(pr->throughput_mbps > 0)) pr->throughput_mbps = k->ended_mbps;
  pr->down_mbps = k->last_mbps[DIR_DOWN];
  pr->up_mbps = k->last_mbps[DIR_UP];
}

static void overall(np_rpm_client *k) {
  np_rpm_result *r = &k->res;
  r->rpm = 0;
  r->confidence = 2;
  int any = 0;
  for (int p = NP_RPM_PHASE_DOWNLOAD; p < NP_RPM_PHASE_COUNT; p++) {
    const np_rpm_phase_result *pr = &r->phase[p];
    if (!pr->ran) continue;
    /* The worse direction limits the path under working conditions. */
    if (!any || (pr->rpm > 0 && (r->rpm == 0 || pr->rpm < r->rpm))) r->rpm = pr->rpm;
    if (pr->confidence < r->confidence) r->confidence = pr->confidence;
    any = 1;
  }
  if (!any) r->confidence = 0;
  r->idle_latency_ms = r->phase[NP_RPM_PHASE_IDLE].latency_ms;
  r->loaded_latency_ms = r->rpm > 0 ? 60000.0 / r->rpm : 0;
}

static void post_result(np_rpm_client *k) {
  k->phase = PH_RESULT;
  overall(k);
  if (!k->send_result || !k->result_path[0]) {
    finish(k, 0, NULL);
    return;
  }
  rpm_link *l = k->config_link;
  if (!l || !l->ready || l->closing) {
    /* The config connection is gone: a fresh one carries the result. */
    if (np_rpm_open_link(k, ROLE_RESULT, 0, &l) < 0) {
      finish(k, 0, NULL);
      return;
    }
    k->config_link = l;
    return; /* ev_ready of a ROLE_RESULT link posts */
  }
  post_on(k, l);
}

static void post_on(np_rpm_client *k, rpm_link *l) {
  char *body = np_rpm_result_json(&k->res);
  rpm_req *r = body ? np_rpm_req_new(k, REQ_RESULT, l, 4096) : NULL;
  if (!r ||
      rpm_link_request(l, "POST", k->result_path, (const uint8_t *)body, strlen(body), 0, r) < 0) {
    if (r) np_rpm_req_free(k, r);
    finish(k, 0, NULL);
  }
  free(body);
}

static void end_phase(np_rpm_client *k) {
  int ph = k->phase;
  fill_phase(k, ph);
  (void)uv_timer_stop(&k->interval);
  (void)uv_timer_stop(&k->probe);
  for (rpm_link *l = k->links; l; l = l->next)
    if (l->role == ROLE_LOAD || l->role == ROLE_FOREIGN) rpm_link_abort(l);
  np_rpm_algo_free(&k->algo);
  k->algo_on = 0;
  int next = np_rpm_next_phase(k, ph);
  if (next == PH_RESULT)
    post_result(k);
  else
    start_phase(k, next);
}

static void on_probe_timer(uv_timer_t *t) {
  np_rpm_client *k = t->data;
  if (k->done || !k->algo_on) return;
  uint64_t now = np_mono_ns();
  if (k->phase == NP_RPM_PHASE_IDLE && now - k->phase_t0 >= k->idle_ns) {
    end_phase(k);
    return;
  }
  np_rpm_probe_round(k, now);
  uint64_t gap = np_rpm_round_gap(k);
  (void)uv_timer_start(&k->probe, on_probe_timer, gap / NP_NS_PER_MS ? gap / NP_NS_PER_MS : 1, 0);
}

static void on_interval(uv_timer_t *t) {
  np_rpm_client *k = t->data;
  if (k->done || !k->algo_on) return;
  uint64_t now = np_mono_ns(), bytes[2] = {0, 0};
  for (rpm_link *l = k->links; l; l = l->next) {
    if (l->role != ROLE_LOAD) continue;
    uint64_t v = l->dir == DIR_UP ? rpm_link_bytes_acked(l) : rpm_link_bytes_in(l);
    uint64_t d = v >= l->mark_bytes ? v - l->mark_bytes : 0;
    bytes[l->dir] += d;
    l->mark_bytes = v;
    if (l->dir == DIR_UP) rpm_link_pace_queue(l, (double)d * 1e9 / (double)k->p.interval_ns);
  }
  double secs = (double)k->p.interval_ns / 1e9;
  for (int d = 0; d < 2; d++) k->last_mbps[d] = (double)bytes[d] * 8 / secs / 1e6;
  k->phase_bytes += bytes[0] + bytes[1];
  uint32_t flows = k->flows[0] > k->flows[1] ? k->flows[0] : k->flows[1];
  np_rpm_step st = np_rpm_algo_interval(&k->algo, now, bytes[0] + bytes[1], flows);
  k->foreign_gap_ns = np_rpm_foreign_gap(k, phase_ns(k, k->phase));
  if (st == NP_RPM_STEP_DONE)
    end_phase(k);
  else if (st == NP_RPM_STEP_ADD_FLOW)
    add_flows(k);
}

static void start_phase(np_rpm_client *k, int phase) {
  k->phase = phase;
  k->phase_t0 = np_mono_ns();
  k->flows[0] = k->flows[1] = 0;
  k->last_mbps[0] = k->last_mbps[1] = 0;
  k->phase_bytes = 0;
  k->foreign_used = 0;
  k->last_foreign_ns = 0;
  int rc = np_rpm_algo_init(&k->algo, &k->p, k->phase_t0);
  if (rc < 0) {
    finish(k, rc, "cannot start the measurement");
    return;
  }
  k->algo_on = 1;
  k->foreign_budget = foreign_budget(k, phase);
  k->foreign_gap_ns = np_rpm_foreign_gap(k, phase_ns(k, phase));
  if (phase != NP_RPM_PHASE_IDLE) {
    add_flows(k);
    uint64_t iv = k->p.interval_ns / NP_NS_PER_MS;
    (void)uv_timer_start(&k->interval, on_interval, iv, iv);
  }
  on_probe_timer(&k->probe);
}

/* ---- progress, end --------------------------------------------------------- */

void np_rpm_on_tick(uv_timer_t *t) {
  np_rpm_client *k = t->data;
  if (k->done || !k->algo_on || !k->cbs.on_progress) return;
  np_rpm_progress p = {.phase = (np_rpm_phase)k->phase,
                       .elapsed_s = (double)(np_mono_ns() - k->phase_t0) / 1e9,
                       .flows = k->flows[0] > k->flows[1] ? k->flows[0] : k->flows[1],
                       .down_mbps = k->last_mbps[DIR_DOWN],
                       .up_mbps = k->last_mbps[DIR_UP],
                       .rpm = k->algo.nint ? k->algo.rpm_ma[k->algo.nint - 1] : 0,
                       .probes = k->algo.nprobes};
  k->cbs.on_progress(k->ud, &p);
}

static void finish(np_rpm_client *k, int err, const char *text) {
  if (k->done) return;
  k->done = 1;
  np_rpm_result *r = &k->res;
  r->error = err;
  if (err && !r->error_text[0])
    (void)snprintf(r->error_text, sizeof r->error_text, "%s", text ? text : np_strerror(err));
  if (err && k->algo_on && k->phase >= 0 && k->phase < NP_RPM_PHASE_COUNT) fill_phase(k, k->phase);
  if (err) overall(k);
  k->phase = PH_DONE;
  if (k->cbs.on_done) k->cbs.on_done(k->ud, r);
  for (rpm_link *l = k->links; l; l = l->next) rpm_link_abort(l);
  uv_close((uv_handle_t *)&k->interval, on_handle_closed);
  uv_close((uv_handle_t *)&k->probe, on_handle_closed);
  uv_close((uv_handle_t *)&k->tick, on_handle_closed);
  uv_close((uv_handle_t *)&k->deadline, on_handle_closed);
}

void np_rpm_client_cancel(np_rpm_client *k) { finish(k, -ECANCELED, "cancelled"); }

void np_rpm_on_deadline(uv_timer_t *t) {
  np_rpm_client *k = t->data;
  if (k->start_error)
    finish(k, k->start_error, NULL);
  else if (k->phase == PH_RESULT)
    finish(k, 0, NULL); /* measured; only the summary's answer is missing */
  else
    finish(k, NP_E_TIMEOUT, "the measurement did not finish in time");
}

void np_rpm_on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *ai) {
  np_rpm_client *k = g->data;
  k->handles--;
  if (k->done) {
    uv_freeaddrinfo(ai);
    maybe_free(k);
    return;
  }
  if (status < 0 || !ai) {
    char text[300];
    finish(k, np_client_resolve_failed(text, sizeof text, k->host, status), text);
    return;
  }
  memcpy(&k->addr, ai->ai_addr, ai->ai_addrlen);
  uv_freeaddrinfo(ai);
  int rc = np_rpm_open_link(k, ROLE_CONFIG, 0, &k->config_link);
  if (rc < 0) finish(k, rc, NULL);
}
