/* How an ndt7 test ends: at most one Close from us, and a result that only
 * the test itself decides. I/O-free (time is passed in), so the rules are
 * unit-tested on their own (tests/unit/test_ndt7_ending.c). */
#ifndef NP_NDT7_ENDING_H
#define NP_NDT7_ENDING_H

#include <stdint.h>

/* A test's end state. Plain data owned by the session; all fields are read
 * only outside this module. */
typedef struct {
  uint64_t t0;          /* monotonic ns at the upgrade */
  uint64_t duration_ns; /* the test's planned length (10 s) */
  uint64_t end_ns;      /* when the test ended, 0 while it runs */
  int close_sent;       /* our Close frame is queued: never a second one */
  int close_received;
  const char *failure; /* the first failure stage; NULL = success so far */
} np_ndt7_ending;

void np_ndt7_ending_init(np_ndt7_ending *e, uint64_t t0, uint64_t duration_ns);

/* Records a failure stage unless one was recorded already (the first
 * cause is the one reported). */
void np_ndt7_ending_fail(np_ndt7_ending *e, const char *stage);

/* Our side ends the test at now (time is up, early exit, allowance spent).
 * Returns 1 if the caller must send Close(1000) now, 0 if a Close went out
 * already (nothing to do). */
int np_ndt7_ending_local(np_ndt7_ending *e, uint64_t now);

/* The peer's Close arrived at now. Returns 1 if the caller must answer with
 * Close(1000) (we had not closed yet; the test ends here, a failure
 * "client_closed_early" if it ran less than 90 % of its duration), 0 if
 * our Close was sent already. */
int np_ndt7_ending_peer_close(np_ndt7_ending *e, uint64_t now);

/* The peer broke the protocol (err, a negative netpulse error) at now.
 * Returns the Close status code the caller must send (1002, 1009, ...)
 * and records the failure ("protocol", "message_too_big") if the test was
 * still running. Returns 0 if our Close was sent already: the connection
 * just ends, and the result of a test that had ended stays what it was. */
int np_ndt7_ending_protocol_error(np_ndt7_ending *e, int err, uint64_t now);

/* The hard stop passed at now: a failure unless our Close was sent (then a
 * peer that never answers it does not spoil a complete test). */
void np_ndt7_ending_hard_stop(np_ndt7_ending *e, uint64_t now);

/* The connection closed at now with status (0, or a negative error such
 * as NP_E_TIMEOUT). Decides the result: 1 success, 0 failure (failure
 * names the stage). A peer may end the test itself (the official upload
 * client closes after its own 10 s, without a Close frame); EOF or a reset
 * after our Close is normal. Only an early end is a failure. */
int np_ndt7_ending_closed(np_ndt7_ending *e, int status, uint64_t now);

#endif
