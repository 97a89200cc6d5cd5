/* Tests for lab/delayq: the lab delay line's bounded queue of timed packets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "delayq.h"

#define MS UINT64_C(1000000)

static void init_refuses_bad_sizes(void **state) {
  np_dq q;
  assert_int_equal(np_dq_init(&q, 0, 2048), -EINVAL);
  np_dq_free(&q);
  assert_int_equal(np_dq_init(&q, 8, 0), -EINVAL);
  np_dq_free(&q);
  assert_int_equal(np_dq_init(&q, 1u << 21, 2048), -EINVAL);
  np_dq_free(&q);
  assert_int_equal(np_dq_init(&q, 1u << 20, 65536), -EINVAL);
  np_dq_free(&q);
  np_dq_free(NULL);
}

/* Nothing leaves before its due time; then in order, with its bytes. */
static void holds_until_due_then_fifo(void **state) {
  np_dq q;
  assert_int_equal(np_dq_init(&q, 4, 64), 0);
  uint64_t due;
  size_t len = 0;
  assert_int_equal(np_dq_next_due(&q, &due), -ENOENT);
  assert_null(np_dq_front_due(&q, UINT64_MAX, &len));
  assert_int_equal(np_dq_push(&q, "one", 3, 20 * MS), 0);
  assert_int_equal(np_dq_push(&q, "two!", 4, 21 * MS), 0);
  assert_int_equal(np_dq_next_due(&q, &due), 0);
  assert_int_equal(due, 20 * MS);
  assert_null(np_dq_front_due(&q, 20 * MS - 1, &len));
  const uint8_t *p = np_dq_front_due(&q, 20 * MS, &len);
  assert_non_null(p);
  assert_int_equal(len, 3);
  assert_memory_equal(p, "one", 3);
  assert_int_equal(np_dq_pop(&q, 20 * MS), 0);
  assert_null(np_dq_front_due(&q, 20 * MS + 999999, &len));
  p = np_dq_front_due(&q, 23 * MS, &len);
  assert_non_null(p);
  assert_int_equal(len, 4);
  assert_memory_equal(p, "two!", 4);
  assert_int_equal(np_dq_pop(&q, 23 * MS), 0); /* 2 ms late */
  assert_int_equal(np_dq_pop(&q, 23 * MS), -ENOENT);
  assert_int_equal(q.st.enqueued, 2);
  assert_int_equal(q.st.released, 2);
  assert_int_equal(q.st.bytes_in, 7);
  assert_int_equal(q.st.late_sum_ns, 2 * MS);
  assert_int_equal(q.st.late_max_ns, 2 * MS);
  assert_int_equal(q.st.late_over_1ms, 1);
  np_dq_free(&q);
}

/* A full queue refuses and counts; memory never grows; it recovers. */
static void bounded_drops_when_full(void **state) {
  np_dq q;
  assert_int_equal(np_dq_init(&q, 3, 16), 0);
  for (int i = 0; i < 3; i++) assert_int_equal(np_dq_push(&q, "x", 1, (uint64_t)i), 0);
  assert_null(np_dq_tail(&q));
  assert_int_equal(np_dq_push(&q, "y", 1, 5), -ENOBUFS);
  np_dq_drop_full(&q);
  assert_int_equal(np_dq_commit(&q, 1, 5), -ENOBUFS);
  assert_int_equal(q.st.dropped_full, 3);
  assert_int_equal(q.st.depth, 3);
  assert_int_equal(q.st.max_depth, 3);
  assert_int_equal(np_dq_pop(&q, 10), 0);
  assert_non_null(np_dq_tail(&q));
  assert_int_equal(np_dq_push(&q, "z", 1, 6), 0);
  assert_int_equal(q.st.enqueued, 4);
  np_dq_free(&q);
}

static void oversize_dropped_and_counted(void **state) {
  np_dq q;
  uint8_t big[17] = {0};
  assert_int_equal(np_dq_init(&q, 2, 16), 0);
  assert_int_equal(np_dq_push(&q, big, sizeof(big), 1), -EMSGSIZE);
  assert_int_equal(np_dq_commit(&q, sizeof(big), 1), -EMSGSIZE);
  assert_int_equal(q.st.dropped_big, 2);
  assert_int_equal(q.st.depth, 0);
  assert_int_equal(np_dq_push(&q, big, 16, 1), 0);
  np_dq_free(&q);
}

/* Zero-copy path: the tail slot holds what was read; the ring wraps many
 * times and keeps the order. A due time that goes backwards is raised so the
 * order never changes. */
static void wraps_in_order_and_never_reorders(void **state) {
  np_dq q;
  assert_int_equal(np_dq_init(&q, 5, 8), 0);
  uint32_t next_out = 0;
  for (uint32_t i = 0; i < 1000; i++) {
    uint8_t *t = np_dq_tail(&q);
    assert_non_null(t);
    memcpy(t, &i, sizeof(i));
    uint64_t due = (i % 7 == 3) ? 0 : (uint64_t)i * 10;
    assert_int_equal(np_dq_commit(&q, sizeof(i), due), 0);
    if (q.st.depth == 5) {
      size_t len = 0;
      const uint8_t *p = np_dq_front_due(&q, UINT64_MAX - 1, &len);
      assert_non_null(p);
      uint32_t got;
      memcpy(&got, p, sizeof(got));
      assert_int_equal(got, next_out);
      next_out++;
      assert_int_equal(np_dq_pop(&q, UINT64_MAX - 1), 0);
    }
  }
  uint64_t last = 0, due;
  while (np_dq_next_due(&q, &due) == 0) {
    assert_true(due >= last);
    last = due;
    assert_int_equal(np_dq_pop(&q, due), 0);
  }
  assert_int_equal(q.st.released, 1000);
  assert_int_equal(q.st.dropped_full, 0);
  np_dq_free(&q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(init_refuses_bad_sizes),
      cmocka_unit_test(holds_until_due_then_fifo),
      cmocka_unit_test(bounded_drops_when_full),
      cmocka_unit_test(oversize_dropped_and_counted),
      cmocka_unit_test(wraps_in_order_and_never_reorders),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
