/* Live responsiveness measurements: a short list (bounded), IDs checked by
 * MAC before any lookup, records handed over exactly once. */
#include "rpm/service.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"

struct np_rpm_service {
  np_rpm_service_cfg cfg;
  np_rpm_keys keys;
  np_rpm_measurement *live;
  uint32_t nlive;
  uint64_t next_id;
  np_rpm_done_cb done;
  void *ud;
};

void np_rpm_service_cfg_default(np_rpm_service_cfg *cfg) {
  cfg->max_runtime_ns = 120 * NP_NS_PER_S;
  cfg->idle_grace_ns = 5 * NP_NS_PER_S;
  cfg->key_rotate_ns = 3600 * NP_NS_PER_S;
  /* Open at once, not over the measurement's life: a foreign probe is a
   * connection of its own, 100 a second at the draft's MPS, and
   * goresponsiveness never closes them (the server closes idle probe
   * connections after NP_RPM_PROBE_IDLE_NS). 32 load flows, plus 100/s x
   * (two loaded round trips of up to 2 s each before the answer, TLS and
   * HTTP, + 1.25 s idle until closed) = 32 + 525, rounded up: a
   * conforming client on a badly bloated path stays under it, and the
   * server-wide connection cap (conns.c) still bounds all measurements. */
  cfg->max_conns = 600;
  cfg->max_measurements = 256;
}

int np_rpm_service_new(np_rpm_service **ret, const np_rpm_service_cfg *cfg, const uint8_t *key,
                       uint64_t now_ns, np_rpm_done_cb done, void *ud) {
  np_rpm_service *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  s->cfg = *cfg;
  /* An ID must not outlive two rotations, or its key is gone early. */
  if (s->cfg.key_rotate_ns < 2 * s->cfg.max_runtime_ns)
    s->cfg.key_rotate_ns = 2 * s->cfg.max_runtime_ns;
  np_rpm_keys_init(&s->keys, key, now_ns);
  /* IDs start from the key bytes so they differ across restarts. */
  memcpy(&s->next_id, key, sizeof s->next_id);
  s->done = done;
  s->ud = ud;
  *ret = s;
  return 0;
}

static void unlink_m(np_rpm_service *s, np_rpm_measurement *m) {
  for (np_rpm_measurement **p = &s->live; *p; p = &(*p)->next) {
    if (*p == m) {
      *p = m->next;
      s->nlive--;
      return;
    }
  }
}

void np_rpm_service_end(np_rpm_service *s, np_rpm_measurement *m, int64_t wall_ns,
                        const char *reason) {
  unlink_m(s, m);
  /* The allowance ended its download load; the rest (upload, probes, the
   * summary) went on, but the record says what cut the test short. */
  if (m->budget_ns && strcmp(reason, "shutdown") != 0) reason = "budget";
  m->rec.end_wall_ns = wall_ns;
  (void)snprintf(m->rec.end_reason, sizeof m->rec.end_reason, "%s", reason);
  if (s->done) s->done(s->ud, m);
  np_rpm_record_free(&m->rec);
  free(m);
}

void np_rpm_service_free(np_rpm_service *s, int64_t wall_ns) {
  if (!s) return;
  while (s->live) np_rpm_service_end(s, s->live, wall_ns, "shutdown");
  free(s);
}

int np_rpm_service_begin(np_rpm_service *s, np_slice client_addr, uint64_t now_ns, int64_t wall_ns,
                         np_rpm_measurement **ret) {
  if (client_addr.len != 4 && client_addr.len != 16) return NP_E_BADARG;
  if (s->nlive >= s->cfg.max_measurements) return NP_E_REFUSED;
  np_rpm_measurement *m = calloc(1, sizeof *m);
  if (!m) return -ENOMEM;
  uint64_t id = s->next_id++;
  int rc = np_rpm_mid_mint(&s->keys, id, client_addr, now_ns, s->cfg.max_runtime_ns, m->mid,
                           sizeof m->mid);
  if (rc < 0) {
    free(m);
    return rc;
  }
  np_rpm_record_init(&m->rec, id, now_ns, wall_ns);
  memcpy(m->client_addr, client_addr.ptr, client_addr.len);
  m->client_addr_len = client_addr.len;
  m->last_close_ns = now_ns; /* a measurement nobody joins ends after the grace */
  m->next = s->live;
  s->live = m;
  s->nlive++;
  *ret = m;
  return 0;
}

np_rpm_mid_status np_rpm_service_find(np_rpm_service *s, np_slice mid, np_slice client_addr,
                                      uint64_t now_ns, np_rpm_measurement **ret) {
  uint64_t id = 0;
  np_rpm_mid_status st = np_rpm_mid_check(&s->keys, mid, client_addr, now_ns, &id);
  if (st != NP_RPM_MID_OK) return st;
  np_rpm_measurement *m = np_rpm_service_get(s, id);
  if (!m) return NP_RPM_MID_EXPIRED; /* authentic, but its measurement has ended */
  *ret = m;
  return NP_RPM_MID_OK;
}

np_rpm_measurement *np_rpm_service_get(np_rpm_service *s, uint64_t id) {
  for (np_rpm_measurement *m = s->live; m; m = m->next)
    if (m->rec.id == id) return m;
  return NULL;
}

int np_rpm_measurement_join(np_rpm_service *s, np_rpm_measurement *m, const char *uuid,
                            int client_port, uint64_t accept_mono_ns) {
  if (m->open_conns >= s->cfg.max_conns) {
    m->rec.conns_refused++;
    return NP_E_TOOBIG;
  }
  int64_t rel = (int64_t)(accept_mono_ns - m->rec.start_mono_ns);
  int idx = np_rpm_record_add_conn(&m->rec, uuid, client_port, rel);
  if (idx >= 0) m->open_conns++;
  return idx;
}

void np_rpm_measurement_leave(np_rpm_measurement *m, int conn, uint64_t now_ns,
                              const char *reason) {
  int64_t end = (int64_t)(now_ns - m->rec.start_mono_ns);
  if (np_rpm_record_close_conn(&m->rec, conn, end, reason) < 0) return; /* left already */
  if (m->open_conns > 0 && --m->open_conns == 0) m->last_close_ns = now_ns;
}

void np_rpm_measurement_result(np_rpm_measurement *m, uint64_t now_ns) {
  if (!m->result_ns) m->result_ns = now_ns ? now_ns : 1;
}

int np_rpm_service_rotation_due(const np_rpm_service *s, uint64_t now_ns) {
  return now_ns - s->keys.rotated_ns >= s->cfg.key_rotate_ns;
}

int np_rpm_service_tick(np_rpm_service *s, uint64_t now_ns, int64_t wall_ns, const uint8_t *fresh) {
  if (fresh && np_rpm_service_rotation_due(s, now_ns)) np_rpm_keys_rotate(&s->keys, fresh, now_ns);
  int n = 0;
  np_rpm_measurement *m = s->live;
  while (m) {
    np_rpm_measurement *next = m->next;
    if (now_ns - m->rec.start_mono_ns >= s->cfg.max_runtime_ns) {
      np_rpm_service_end(s, m, wall_ns, "runtime");
      n++;
    } else if (m->open_conns == 0 && now_ns - m->last_close_ns >= s->cfg.idle_grace_ns) {
      np_rpm_service_end(s, m, wall_ns, "idle");
      n++;
    } else if (m->result_ns && now_ns - m->result_ns >= 2 * s->cfg.idle_grace_ns) {
      np_rpm_service_end(s, m, wall_ns, "result");
      n++;
    }
    m = next;
  }
  return n;
}

uint32_t np_rpm_service_live(const np_rpm_service *s) { return s->nlive; }
