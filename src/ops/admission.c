/* Admission control: who may start a test now, and when to come back. */
#include "ops/admission.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"

/* Budget history resolution: the controller samples every 100 ms, so the
 * ring keeps 100 ms slots and the window is exact to one slot. */
#define SLOT_NS NP_TXCTL_PERIOD_NS
#define SLOTS_PER_S 10

void np_txctl_init(np_txctl *c, double max_bps) {
  memset(c, 0, sizeof *c);
  c->max_bps = max_bps > 0 ? max_bps : 0;
}

int np_txctl_sample(np_txctl *c, uint64_t now_ns, uint64_t total) {
  if (!c->primed || total < c->last_bytes) {
    /* First sample, or the device counter was reset: nothing to rate. */
    c->primed = true;
    c->last_ns = now_ns;
    c->last_bytes = total;
    return 0;
  }
  if (now_ns <= c->last_ns) return NP_E_BADARG;
  double dt = (double)(now_ns - c->last_ns) / 1e9;
  double now_rate = (double)(total - c->last_bytes) * 8.0 / dt;
  double smooth = 0.95 * c->rate_bps + 0.05 * now_rate;
  /* Rises at once, decays slowly: bursts are seen immediately. */
  c->rate_bps = now_rate > smooth ? now_rate : smooth;
  c->last_ns = now_ns;
  c->last_bytes = total;
  return 0;
}

bool np_txctl_limited(const np_txctl *c) { return c->max_bps > 0 && c->rate_bps > c->max_bps; }

const char *np_admit_reason_str(np_admit_reason r) {
  switch (r) {
  case NP_ADMIT_OK:
    return "admitted";
  case NP_ADMIT_AT_CAPACITY:
    return "at_capacity";
  case NP_ADMIT_CLIENT_LIMIT:
    return "client_limit";
  case NP_ADMIT_TX_RATE:
    return "tx_rate";
  case NP_ADMIT_BUDGET:
    return "budget";
  case NP_ADMIT_SPOOL_FULL:
    return "spool_full";
  case NP_ADMIT_SPOOL_UNWRITABLE:
    return "spool_unwritable";
  case NP_ADMIT_LAME_DUCK:
    return "lame_duck";
  case NP_ADMIT_REASON_COUNT:
    break;
  }
  return "unknown";
}

typedef struct {
  bool used;
  uint32_t gen;
  uint64_t start_ns;
  uint64_t reserved;
  uint64_t sent; /* as reported by np_admit_progress(), capped at reserved */
  char ip[NP_ADMIT_MAX_IP_LEN + 1];
} test_slot;

typedef struct {
  uint32_t count; /* 0 = empty */
  char ip[NP_ADMIT_MAX_IP_LEN + 1];
} client_ent;

struct np_admission {
  np_admission_config cfg;
  np_txctl tx;
  bool lame_duck;
  uint64_t duration_ns;
  /* tests */
  test_slot *slots;
  uint32_t *free_idx;
  uint32_t nfree;
  uint32_t active;
  /* per-client counts: linear probing, at most max_concurrent entries in a
   * table of at least twice that, so it never fills */
  client_ent *clients;
  size_t cmask;
  /* budget */
  uint64_t reserve;    /* per transmitting test */
  uint64_t reserved;   /* sum over running tests */
  double budget_bytes; /* budget_bps * window / 8 */
  uint64_t *ring;
  size_t nring;
  uint64_t head; /* absolute slot index of the newest ring entry */
  uint64_t ring_sum;
  uint64_t last_total;
  bool ring_primed;
};

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ULL;
  return h;
}

static client_ent *client_find(np_admission *a, const char *ip, bool create) {
  size_t i = fnv1a(ip) & a->cmask;
  while (a->clients[i].count) {
    if (strcmp(a->clients[i].ip, ip) == 0) return &a->clients[i];
    i = (i + 1) & a->cmask;
  }
  if (!create) return NULL;
  memcpy(a->clients[i].ip, ip, strlen(ip) + 1);
  return &a->clients[i];
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void client_remove(np_admission *a, client_ent *e) {
  size_t i = (size_t)(e - a->clients);
  size_t j = i;
  for (;;) {
    j = (j + 1) & a->cmask;
    if (!a->clients[j].count) break;
    size_t k = fnv1a(a->clients[j].ip) & a->cmask;
    bool movable = i <= j ? (k <= i || k > j) : (k <= i && k > j);
    if (movable) {
      a->clients[i] = a->clients[j];
      i = j;
    }
  }
  a->clients[i].count = 0;
  a->clients[i].ip[0] = '\0';
}

void np_admission_free(np_admission *a) {
  if (!a) return;
  free(a->slots);
  free(a->free_idx);
  free(a->clients);
  free(a->ring);
  free(a);
}

int np_admission_new(const np_admission_config *cfg, np_admission **ret) {
  if (!cfg || !ret) return NP_E_BADARG;
  if (cfg->max_concurrent == 0 || cfg->max_concurrent > NP_ADMIT_MAX_CONCURRENT) return NP_E_BADARG;
  if (!(cfg->tx_max_rate_bps >= 0) || !(cfg->budget_bps >= 0) || !(cfg->test_rate_bps >= 0) ||
      !(cfg->test_duration_s >= 0) || !isfinite(cfg->budget_bps) || !isfinite(cfg->test_rate_bps) ||
      !isfinite(cfg->test_duration_s) || cfg->test_duration_s > 86400)
    return NP_E_BADARG;
  uint64_t reserve = cfg->test_bytes;
  if (!reserve) reserve = (uint64_t)(cfg->test_rate_bps * cfg->test_duration_s / 8.0);
  double budget_bytes = cfg->budget_bps * (double)cfg->budget_window_s / 8.0;
  if (cfg->budget_bps > 0) {
    if (cfg->budget_window_s == 0 || cfg->budget_window_s > NP_ADMIT_MAX_WINDOW_S)
      return NP_E_BADARG;
    /* Without a reservation nothing bounds an admitted test's bytes. */
    if (reserve == 0 || (double)reserve > budget_bytes) return NP_E_BADARG;
  }
  np_admission *a = calloc(1, sizeof *a);
  if (!a) return -ENOMEM;
  a->cfg = *cfg;
  np_txctl_init(&a->tx, cfg->tx_max_rate_bps);
  a->duration_ns = (uint64_t)((cfg->test_duration_s > 0 ? cfg->test_duration_s : 10) * 1e9);
  a->reserve = reserve;
  a->budget_bytes = budget_bytes;
  size_t csize = 16;
  while (csize < 2 * (size_t)cfg->max_concurrent) csize *= 2;
  a->cmask = csize - 1;
  a->slots = calloc(cfg->max_concurrent, sizeof *a->slots);
  a->free_idx = calloc(cfg->max_concurrent, sizeof *a->free_idx);
  a->clients = calloc(csize, sizeof *a->clients);
  if (cfg->budget_bps > 0) {
    /* One extra slot so the partly elapsed oldest slot is still counted:
     * the ring always covers at least the full window (conservative). */
    a->nring = (size_t)cfg->budget_window_s * SLOTS_PER_S + 1;
    a->ring = calloc(a->nring, sizeof *a->ring);
  }
  if (!a->slots || !a->free_idx || !a->clients || (a->nring && !a->ring)) {
    np_admission_free(a);
    return -ENOMEM;
  }
  for (uint32_t i = 0; i < cfg->max_concurrent; i++) a->free_idx[i] = cfg->max_concurrent - 1 - i;
  a->nfree = cfg->max_concurrent;
  *ret = a;
  return 0;
}

/* Moves the ring's head to slot t, zeroing the slots that left the window. */
static void ring_advance(np_admission *a, uint64_t t) {
  if (!a->nring || t <= a->head) return;
  uint64_t steps = t - a->head;
  if (steps >= a->nring) {
    memset(a->ring, 0, a->nring * sizeof *a->ring);
    a->ring_sum = 0;
  } else {
    for (uint64_t k = a->head + 1; k <= t; k++) {
      a->ring_sum -= a->ring[k % a->nring];
      a->ring[k % a->nring] = 0;
    }
  }
  a->head = t;
}

/* Window bytes as of slot t, without mutating (for stats). */
static uint64_t window_at(const np_admission *a, uint64_t t) {
  if (!a->nring) return 0;
  if (t <= a->head) return a->ring_sum;
  uint64_t steps = t - a->head;
  if (steps >= a->nring) return 0;
  uint64_t sum = a->ring_sum;
  for (uint64_t k = a->head + 1; k <= t; k++) sum -= a->ring[k % a->nring];
  return sum;
}

int np_admission_sample(np_admission *a, uint64_t now_ns, uint64_t total) {
  if (!a) return NP_E_BADARG;
  int rc = np_txctl_sample(&a->tx, now_ns, total);
  if (!a->nring) return rc;
  uint64_t t = now_ns / SLOT_NS;
  if (!a->ring_primed || total < a->last_total) {
    a->ring_primed = true;
    a->last_total = total;
    ring_advance(a, t);
    return rc;
  }
  uint64_t delta = total - a->last_total;
  a->last_total = total;
  ring_advance(a, t);
  /* A late sample (t < head) is booked in the newest slot: later, never
   * earlier, so it never ages out too soon. */
  a->ring[a->head % a->nring] += delta;
  a->ring_sum += delta;
  return rc;
}

void np_admission_set_lame_duck(np_admission *a, bool on) {
  if (a) a->lame_duck = on;
}

static uint32_t ceil_s(uint64_t ns) {
  uint64_t s = (ns + NP_NS_PER_S - 1) / NP_NS_PER_S;
  if (s < 1) s = 1;
  return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/* Seconds until the first running test (of ip, if given) should end. */
static uint32_t retry_running(const np_admission *a, const char *ip, uint64_t now) {
  uint64_t best = UINT64_MAX;
  for (uint32_t i = 0; i < a->cfg.max_concurrent; i++) {
    const test_slot *s = &a->slots[i];
    if (!s->used || (ip && strcmp(s->ip, ip) != 0)) continue;
    uint64_t end = s->start_ns + a->duration_ns;
    uint64_t left = end > now ? end - now : 0;
    if (left < best) best = left;
  }
  return best == UINT64_MAX ? 1 : ceil_s(best);
}

/* Seconds until enough old bytes leave the window for `need` more. */
static uint32_t retry_budget(const np_admission *a, uint64_t now, double need) {
  uint64_t t = now / SLOT_NS;
  uint64_t oldest = t + 1 >= a->nring ? t + 1 - a->nring : 0;
  double acc = 0;
  for (uint64_t k = oldest; k <= a->head && k <= t; k++) {
    if (a->head - k >= a->nring) continue;
    acc += (double)a->ring[k % a->nring];
    if (acc >= need) {
      /* Slot k is counted while k > t' - nring, so until t' = k + nring. */
      uint64_t free_ns = (k + a->nring) * SLOT_NS;
      return ceil_s(free_ns > now ? free_ns - now : 0);
    }
  }
  /* The reservations of running tests alone are in the way: they turn into
   * history as the tests end, so only a full window clears them. */
  return a->cfg.budget_window_s;
}

static int refuse(np_admit_decision *d, np_admit_reason r, uint32_t retry) {
  d->reason = r;
  d->retry_after_s = retry ? retry : 1;
  return NP_E_REFUSED;
}

int np_admit(np_admission *a, const np_admit_request *req, np_admit_decision *ret) {
  memset(ret, 0, sizeof *ret);
  const char *ip = req && req->client_ip ? req->client_ip : "";
  if (!a || !req || strlen(ip) > NP_ADMIT_MAX_IP_LEN) {
    ret->reason = NP_ADMIT_AT_CAPACITY;
    ret->retry_after_s = 1;
    return NP_E_BADARG;
  }
  uint64_t now = req->now_ns;
  if (a->lame_duck)
    return refuse(ret, NP_ADMIT_LAME_DUCK,
                  a->cfg.lame_duck_retry_s ? a->cfg.lame_duck_retry_s : 30);
  if (a->cfg.spool_max_bytes && req->spool_bytes >= a->cfg.spool_max_bytes)
    return refuse(ret, NP_ADMIT_SPOOL_FULL, a->cfg.spool_retry_s ? a->cfg.spool_retry_s : 60);
  /* A test whose record could not be kept is a test for nothing; the
   * server probes the spool every few seconds while it is faulty. */
  if (req->spool_unwritable)
    return refuse(ret, NP_ADMIT_SPOOL_UNWRITABLE,
                  a->cfg.unwritable_retry_s ? a->cfg.unwritable_retry_s : 10);
  if (a->active >= a->cfg.max_concurrent)
    return refuse(ret, NP_ADMIT_AT_CAPACITY, retry_running(a, NULL, now));
  client_ent *ce = NULL;
  if (a->cfg.max_per_client) {
    ce = client_find(a, ip, false);
    if (ce && ce->count >= a->cfg.max_per_client)
      return refuse(ret, NP_ADMIT_CLIENT_LIMIT, retry_running(a, ip, now));
  }
  bool limited = req->transmits && !req->monitoring;
  if (limited && np_txctl_limited(&a->tx)) {
    /* With no traffic the rate decays by 0.95 per 100 ms sample. */
    double n = log(a->tx.max_bps / a->tx.rate_bps) / log(0.95);
    return refuse(ret, NP_ADMIT_TX_RATE, ceil_s((uint64_t)(n * 1e8)));
  }
  uint64_t reserve = 0;
  if (limited && a->nring) {
    ring_advance(a, now / SLOT_NS);
    double used = (double)a->ring_sum + (double)a->reserved + (double)a->reserve;
    if (used > a->budget_bytes)
      return refuse(ret, NP_ADMIT_BUDGET, retry_budget(a, now, used - a->budget_bytes));
    reserve = a->reserve;
  }
  /* Admitted: take a slot. */
  uint32_t idx = a->free_idx[--a->nfree];
  test_slot *s = &a->slots[idx];
  s->used = true;
  s->gen++;
  s->start_ns = now;
  s->reserved = reserve;
  s->sent = 0;
  memcpy(s->ip, ip, strlen(ip) + 1);
  if (a->cfg.max_per_client) {
    ce = client_find(a, ip, true);
    ce->count++;
  }
  a->active++;
  a->reserved += reserve;
  ret->reason = NP_ADMIT_OK;
  ret->ticket = ((uint64_t)s->gen << 32) | idx;
  ret->byte_allowance = reserve;
  return 0;
}

int np_admit_release(np_admission *a, uint64_t ticket) {
  if (!a) return NP_E_BADARG;
  uint32_t idx = (uint32_t)ticket;
  if (idx >= a->cfg.max_concurrent) return -ENOENT;
  test_slot *s = &a->slots[idx];
  if (!s->used || s->gen != (uint32_t)(ticket >> 32)) return -ENOENT;
  if (a->cfg.max_per_client) {
    client_ent *ce = client_find(a, s->ip, false);
    if (ce && --ce->count == 0) client_remove(a, ce);
  }
  a->reserved -= s->reserved - s->sent;
  s->used = false;
  a->free_idx[a->nfree++] = idx;
  a->active--;
  return 0;
}

int np_admit_progress(np_admission *a, uint64_t ticket, uint64_t sent) {
  if (!a) return NP_E_BADARG;
  uint32_t idx = (uint32_t)ticket;
  if (idx >= a->cfg.max_concurrent) return -ENOENT;
  test_slot *s = &a->slots[idx];
  if (!s->used || s->gen != (uint32_t)(ticket >> 32)) return -ENOENT;
  if (sent > s->reserved) sent = s->reserved;
  /* Bytes sent move from the reservation into the history (via the next
   * sample); a counter going backwards is ignored. */
  if (sent > s->sent) {
    a->reserved -= sent - s->sent;
    s->sent = sent;
  }
  return 0;
}

void np_admission_stats_get(const np_admission *a, uint64_t now_ns, uint64_t spool_bytes,
                            np_admission_stats *ret) {
  memset(ret, 0, sizeof *ret);
  if (!a) return;
  ret->active = a->active;
  ret->concurrency = (double)a->active / a->cfg.max_concurrent;
  ret->tx_rate_bps = a->tx.rate_bps;
  ret->window_bytes = window_at(a, now_ns / SLOT_NS);
  if (a->budget_bytes > 0)
    ret->budget = ((double)ret->window_bytes + (double)a->reserved) / a->budget_bytes;
  if (a->cfg.spool_max_bytes) ret->spool = (double)spool_bytes / (double)a->cfg.spool_max_bytes;
}
