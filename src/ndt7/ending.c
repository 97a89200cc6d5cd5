/* The ndt7 end-of-test rules: one Close at most, and a result a late
 * protocol error cannot change. */
#include "ndt7/ending.h"

#include <string.h>

#include "core/error.h"
#include "ws/frame.h"

/* A peer close this late still counts as a complete test. */
#define MIN_SUCCESS_FRACTION 0.9

void np_ndt7_ending_init(np_ndt7_ending *e, uint64_t t0, uint64_t duration_ns) {
  memset(e, 0, sizeof *e);
  e->t0 = t0;
  e->duration_ns = duration_ns;
}

void np_ndt7_ending_fail(np_ndt7_ending *e, const char *stage) {
  if (!e->failure) e->failure = stage;
}

static int ran_long_enough(const np_ndt7_ending *e, uint64_t end) {
  return (double)(end - e->t0) >= MIN_SUCCESS_FRACTION * (double)e->duration_ns;
}

static void mark_end(np_ndt7_ending *e, uint64_t now) {
  if (!e->end_ns) e->end_ns = now;
}

int np_ndt7_ending_local(np_ndt7_ending *e, uint64_t now) {
  if (e->close_sent) return 0;
  mark_end(e, now);
  e->close_sent = 1;
  return 1;
}

int np_ndt7_ending_peer_close(np_ndt7_ending *e, uint64_t now) {
  e->close_received = 1;
  if (e->close_sent) return 0;
  mark_end(e, now);
  if (!ran_long_enough(e, e->end_ns)) np_ndt7_ending_fail(e, "client_closed_early");
  e->close_sent = 1;
  return 1;
}

int np_ndt7_ending_protocol_error(np_ndt7_ending *e, int err, uint64_t now) {
  if (e->close_sent) return 0;
  mark_end(e, now);
  np_ndt7_ending_fail(e, err == NP_E_TOOBIG ? "message_too_big" : "protocol");
  e->close_sent = 1;
  return np_ws_close_code_for(err);
}

void np_ndt7_ending_hard_stop(np_ndt7_ending *e, uint64_t now) {
  if (e->close_sent) return;
  mark_end(e, now);
  np_ndt7_ending_fail(e, "hard_stop");
}

int np_ndt7_ending_closed(np_ndt7_ending *e, int status, uint64_t now) {
  mark_end(e, now);
  if (!e->close_sent && !ran_long_enough(e, e->end_ns))
    np_ndt7_ending_fail(e, status == NP_E_TIMEOUT ? "timeout" : "client_closed_early");
  return e->failure == NULL;
}
