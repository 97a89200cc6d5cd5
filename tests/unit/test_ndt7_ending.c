/* Unit tests for ndt7/ending: one Close at most, and a finished test's
 * result survives whatever the peer does after our Close. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/error.h"
#include "ndt7/ending.h"

#define S 1000000000ull
#define T0 (100 * S)

static np_ndt7_ending fresh(void) {
  np_ndt7_ending e;
  np_ndt7_ending_init(&e, T0, 10 * S);
  return e;
}

/* The case: our Close(1000) at 10 s, then an invalid frame. No
 * second Close, and the test stays a success. */
static void protocol_error_after_our_close(void **state) {
  (void)state;
  np_ndt7_ending e = fresh();
  assert_int_equal(np_ndt7_ending_local(&e, T0 + 10 * S), 1);
  assert_int_equal(np_ndt7_ending_protocol_error(&e, NP_E_PROTO, T0 + 10 * S + 5), 0);
  assert_int_equal(np_ndt7_ending_protocol_error(&e, NP_E_TOOBIG, T0 + 11 * S), 0);
  assert_null(e.failure);
  assert_int_equal(e.end_ns, T0 + 10 * S);
  assert_int_equal(np_ndt7_ending_closed(&e, NP_E_CLOSED, T0 + 12 * S), 1);
  assert_null(e.failure);
  assert_int_equal(e.end_ns, T0 + 10 * S); /* the test's end, not the conn's */
}

static void protocol_error_during_test(void **state) {
  (void)state;
  np_ndt7_ending e = fresh();
  assert_int_equal(np_ndt7_ending_protocol_error(&e, NP_E_PROTO, T0 + 3 * S), 1002);
  assert_string_equal(e.failure, "protocol");
  /* Our error Close was the one Close: time running out sends nothing. */
  assert_int_equal(np_ndt7_ending_local(&e, T0 + 10 * S), 0);
  assert_int_equal(np_ndt7_ending_peer_close(&e, T0 + 4 * S), 0);
  assert_int_equal(np_ndt7_ending_closed(&e, 0, T0 + 4 * S), 0);
  assert_string_equal(e.failure, "protocol");

  e = fresh();
  assert_int_equal(np_ndt7_ending_protocol_error(&e, NP_E_TOOBIG, T0 + S), 1009);
  assert_string_equal(e.failure, "message_too_big");
}

static void local_end_once(void **state) {
  (void)state;
  np_ndt7_ending e = fresh();
  assert_int_equal(np_ndt7_ending_local(&e, T0 + 10 * S), 1);
  assert_int_equal(np_ndt7_ending_local(&e, T0 + 10 * S + 1), 0);
  /* The peer's answering Close needs no echo. */
  assert_int_equal(np_ndt7_ending_peer_close(&e, T0 + 10 * S + 2), 0);
  assert_true(e.close_received);
  /* A peer that never answers our Close does not spoil the test. */
  np_ndt7_ending_hard_stop(&e, T0 + 15 * S);
  assert_int_equal(np_ndt7_ending_closed(&e, NP_E_TIMEOUT, T0 + 15 * S), 1);
}

static void peer_close(void **state) {
  (void)state;
  /* The official upload client closes at its own 10 s, a bit before ours. */
  np_ndt7_ending e = fresh();
  assert_int_equal(np_ndt7_ending_peer_close(&e, T0 + 9500000000ull), 1);
  assert_int_equal(np_ndt7_ending_local(&e, T0 + 10 * S), 0);
  assert_int_equal(np_ndt7_ending_closed(&e, 0, T0 + 10 * S), 1);
  /* Well before the end, it cut the test short. */
  e = fresh();
  assert_int_equal(np_ndt7_ending_peer_close(&e, T0 + 2 * S), 1);
  assert_int_equal(np_ndt7_ending_protocol_error(&e, NP_E_PROTO, T0 + 2 * S), 0);
  assert_int_equal(np_ndt7_ending_closed(&e, 0, T0 + 2 * S), 0);
  assert_string_equal(e.failure, "client_closed_early");
}

static void closes_without_frames(void **state) {
  (void)state;
  np_ndt7_ending e = fresh();
  assert_int_equal(np_ndt7_ending_closed(&e, -104, T0 + 3 * S), 0);
  assert_string_equal(e.failure, "client_closed_early");
  e = fresh();
  assert_int_equal(np_ndt7_ending_closed(&e, NP_E_TIMEOUT, T0 + 3 * S), 0);
  assert_string_equal(e.failure, "timeout");
  /* An EOF after 90 % of the test is a complete test (upload clients). */
  e = fresh();
  assert_int_equal(np_ndt7_ending_closed(&e, 0, T0 + 9 * S), 1);
  /* The hard stop without our Close is the failure, whatever follows. */
  e = fresh();
  np_ndt7_ending_hard_stop(&e, T0 + 15 * S);
  assert_int_equal(np_ndt7_ending_closed(&e, NP_E_TIMEOUT, T0 + 15 * S), 0);
  assert_string_equal(e.failure, "hard_stop");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(protocol_error_after_our_close),
      cmocka_unit_test(protocol_error_during_test),
      cmocka_unit_test(local_end_once),
      cmocka_unit_test(peer_close),
      cmocka_unit_test(closes_without_frames),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
