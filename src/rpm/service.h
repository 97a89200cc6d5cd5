/* The server's live responsiveness measurements: minted with a config
 * request, joined by connections that present the measurement ID, ended
 * when their last connection has been gone for a grace period or their
 * runtime is up. No I/O; the caller drives time with np_rpm_service_tick. */
#ifndef NP_RPM_SERVICE_H
#define NP_RPM_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "core/slice.h"
#include "rpm/mid.h"
#include "rpm/record.h"

typedef struct {
  uint64_t max_runtime_ns;   /* a measurement ends this long after its config (120 s) */
  uint64_t idle_grace_ns;    /* ... or this long after its last connection closed,
                                or after the client's summary (5 s) */
  uint64_t key_rotate_ns;    /* secret rotation (longer than max_runtime; 1 h) */
  uint32_t max_conns;        /* connections open at once per measurement (600;
                                at most NP_RPM_MAX_CONNS) */
  uint32_t max_measurements; /* live at once (memory bound; 256) */
} np_rpm_service_cfg;

void np_rpm_service_cfg_default(np_rpm_service_cfg *cfg);

/* One live measurement. The record is the service's; callers fill in
 * what their connections and requests did through it. */
typedef struct np_rpm_measurement {
  struct np_rpm_measurement *next;
  np_rpm_record rec;
  char mid[NP_RPM_MID_LEN + 1];
  uint8_t client_addr[16];
  size_t client_addr_len;
  uint32_t open_conns;
  uint64_t last_close_ns; /* when open_conns fell to 0 */
  uint64_t result_ns;     /* when the client's summary arrived (0: not yet) */
  uint64_t budget_ns;     /* when it sent its transmit allowance (0: not yet) */
  void *host;             /* the caller's per-measurement state (e.g. admission) */
} np_rpm_measurement;

/* Called once per measurement when it ends, before it is freed: the record
 * is complete (end time and reason set). */
typedef void (*np_rpm_done_cb)(void *ud, np_rpm_measurement *m);

typedef struct np_rpm_service np_rpm_service;

/* Creates the service with a fresh key (NP_RPM_KEY_LEN random bytes).
 * 0, -ENOMEM. *ret untouched on failure. */
int np_rpm_service_new(np_rpm_service **ret, const np_rpm_service_cfg *cfg, const uint8_t *key,
                       uint64_t now_ns, np_rpm_done_cb done, void *ud);

/* Ends every live measurement (reason "shutdown", done called for each)
 * and frees the service. NULL-safe. */
void np_rpm_service_free(np_rpm_service *s, int64_t wall_ns);

/* Starts a measurement for a client (address bytes, 4 or 16) and mints its
 * ID. NP_E_REFUSED when max_measurements are live, NP_E_BADARG, -ENOMEM. */
int np_rpm_service_begin(np_rpm_service *s, np_slice client_addr, uint64_t now_ns, int64_t wall_ns,
                         np_rpm_measurement **ret);

/* Finds the live measurement a request's ID names, for the client at
 * client_addr. Returns NP_RPM_MID_OK and *ret, or why not (an ID for a
 * measurement that already ended counts as expired). */
np_rpm_mid_status np_rpm_service_find(np_rpm_service *s, np_slice mid, np_slice client_addr,
                                      uint64_t now_ns, np_rpm_measurement **ret);

/* The live measurement with this id, or NULL once it has ended (sessions
 * keep ids, never pointers, since a measurement can end under them). */
np_rpm_measurement *np_rpm_service_get(np_rpm_service *s, uint64_t id);

/* A connection joins m: its record slot (until it leaves), or NP_E_TOOBIG
 * when max_conns are open (or the record's cap; counted in conns_refused). */
int np_rpm_measurement_join(np_rpm_service *s, np_rpm_measurement *m, const char *uuid,
                            int client_port, uint64_t accept_mono_ns);

/* Connection slot conn of m closed at now_ns with reason (once; the slot
 * may be summarised and reused: the caller forgets it). */
void np_rpm_measurement_leave(np_rpm_measurement *m, int conn, uint64_t now_ns, const char *reason);

/* The client sent its summary at now_ns: its sessions close their idle
 * connections (a browser keeps them in its pool long after its last
 * request), and the measurement ends twice the grace period later even if
 * some stay open. */
void np_rpm_measurement_result(np_rpm_measurement *m, uint64_t now_ns);

/* Ends what is due (runtime up, idle for the grace period, or twice that
 * after the client's summary), rotates the
 * key when due (fresh: NP_RPM_KEY_LEN random bytes, used only then).
 * Returns the number of measurements ended. */
int np_rpm_service_tick(np_rpm_service *s, uint64_t now_ns, int64_t wall_ns, const uint8_t *fresh);

/* Ends m now with reason (e.g. "shutdown"), calling done. */
void np_rpm_service_end(np_rpm_service *s, np_rpm_measurement *m, int64_t wall_ns,
                        const char *reason);

/* Live measurements. */
uint32_t np_rpm_service_live(const np_rpm_service *s);

/* Whether the key is due for rotation at now_ns (so the caller knows to
 * draw fresh random bytes for the next tick). */
int np_rpm_service_rotation_due(const np_rpm_service *s, uint64_t now_ns);

#endif
