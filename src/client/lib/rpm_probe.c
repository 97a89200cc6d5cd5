/* The responsiveness client's probes: foreign probes (a new connection:
 * TCP handshake, TLS handshake per round trip, GET of the small object)
 * and self probes (the small GET on a random load connection), paced by
 * MPS, PTC and the connection budget. */
#include <stdlib.h>
#include <string.h>

#include "client/lib/rpm_client.h"
#include "core/clock.h"
#include "core/error.h"

#define MAX_FOREIGN_INFLIGHT 2
#define MAX_SELF_INFLIGHT 4
#define FOREIGN_BYTES_TLS 6000 /* wire bytes of a TLS handshake and small GET */
#define FOREIGN_BYTES_PLAIN 600
#define SELF_BYTES 200

static uint64_t next_rand(np_rpm_client *k) {
  /* xorshift64*: picks a load connection; no secrecy needed. */
  k->rng ^= k->rng >> 12;
  k->rng ^= k->rng << 25;
  k->rng ^= k->rng >> 27;
  return k->rng * 2685821657736338717ULL;
}

static double ms(uint64_t ns) { return (double)ns / 1e6; }

static void report(np_rpm_client *k, int self, uint64_t now, double tcp, double tls, double http) {
  if (!k->cbs.on_probe) return;
  np_rpm_probe_sample s = {.phase = (np_rpm_phase)k->phase,
                           .self = self,
                           .t_s = (double)(now - k->t0) / 1e9,
                           .tcp_ms = tcp,
                           .tls_ms = tls,
                           .http_ms = http};
  k->cbs.on_probe(k->ud, &s);
}

static void self_probe(np_rpm_client *k, uint64_t now) {
  rpm_link *pick[64];
  uint32_t n = 0;
  for (rpm_link *l = k->links; l && n < 64; l = l->next)
    if (l->role == ROLE_LOAD && l->ready && !l->closing && l->load_stream > 0) pick[n++] = l;
  if (n == 0) return;
  rpm_link *l = pick[next_rand(k) % n];
  rpm_req *r = np_rpm_req_new(k, REQ_SELF, l, 0);
  if (!r) return;
  r->t0 = now;
  if (rpm_link_request(l, "GET", k->small_path, NULL, 0, 0, r) < 0) {
    np_rpm_req_free(k, r);
    return;
  }
  k->self_inflight++;
}

void np_rpm_probe_round(np_rpm_client *k, uint64_t now) {
  int loaded = k->phase != NP_RPM_PHASE_IDLE;
  if (k->foreign_used < k->foreign_budget && k->foreign_inflight < MAX_FOREIGN_INFLIGHT &&
      (k->last_foreign_ns == 0 || now - k->last_foreign_ns >= k->foreign_gap_ns)) {
    rpm_link *l = NULL;
    if (np_rpm_open_link(k, ROLE_FOREIGN, 0, &l) == 0) {
      k->foreign_used++;
      k->foreign_inflight++;
      k->last_foreign_ns = now;
    }
  }
  if (loaded && k->self_inflight < MAX_SELF_INFLIGHT) self_probe(k, now);
}

void np_rpm_probe_foreign_ready(np_rpm_client *k, rpm_link *l) {
  rpm_req *r = np_rpm_req_new(k, REQ_FOREIGN, l, 0);
  if (!r) {
    rpm_link_abort(l);
    return;
  }
  r->t0 = np_mono_ns();
  if (rpm_link_request(l, "GET", k->small_path, NULL, 0, 0, r) < 0) {
    np_rpm_req_free(k, r);
    rpm_link_abort(l);
  }
}

void np_rpm_probe_end(np_rpm_client *k, rpm_req *r, uint32_t error_code, uint64_t now) {
  int ok = error_code == 0 && r->status == 200 && r->phase == k->phase && k->algo_on;
  rpm_link *l = r->l;
  if (r->kind == REQ_SELF) {
    if (k->self_inflight) k->self_inflight--;
    if (ok) {
      double http = ms(now - r->t0);
      (void)np_rpm_algo_self(&k->algo, now, http);
      report(k, 1, now, 0, -1, http);
    }
    return;
  }
  /* Foreign: the connection served its one probe. */
  if (ok) {
    double tcp = ms(l->t_tcp - l->t_start);
    double tls = l->tls_rtts ? ms(l->t_tls - l->t_tcp) / l->tls_rtts : -1;
    double http = ms(now - r->t0);
    (void)np_rpm_algo_foreign(&k->algo, now, tcp, tls, http);
    report(k, 0, now, tcp, tls, http);
  }
  rpm_link_abort(l);
}

uint64_t np_rpm_round_gap(const np_rpm_client *k) {
  uint32_t bytes = k->tls ? FOREIGN_BYTES_TLS : FOREIGN_BYTES_PLAIN;
  return np_rpm_algo_probe_gap_ns(&k->algo, 2, (bytes + SELF_BYTES) / 2);
}

uint64_t np_rpm_foreign_gap(const np_rpm_client *k, uint64_t phase_ns) {
  uint64_t gap = np_rpm_round_gap(k);
  if (k->foreign_budget > 0) {
    uint64_t share = phase_ns / k->foreign_budget;
    if (share > gap) gap = share;
  }
  return gap;
}
