/* Unit tests for net/conn over real sockets: partial writes, gathered
 * writes and their completion callbacks, the queue's memory cap, close
 * ordering (write callbacks before on_close, graceful close with a queue),
 * kernel-side skip with a read hint, the read buffer's growth, and the
 * same writes over TLS. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "net/conn.h"
#include "net/tls.h"

#define BIG (1 << 20)

/* What the callbacks saw, in order: 'w' = write callback, 'c' = on_close. */
typedef struct {
  char order[64];
  int norder;
  int write_status[16];
  int nwrites;
  int close_status;
  int closed;
  int connected;
  int in_writev; /* set while np_conn_writev runs */
  int cb_inside_writev;
  int write_after_close_rc;
  np_conn *c;
  uint8_t *got; /* bytes on_data delivered */
  size_t ngot;
  size_t first_len; /* size of the first delivery */
  uint64_t skipped;
} events;

static void note(events *e, char ch) {
  if (e->norder < (int)sizeof e->order - 1) e->order[e->norder++] = ch;
}

static void on_written(np_conn *c, void *arg, int status) {
  events *e = arg;
  if (e->in_writev) e->cb_inside_writev = 1;
  if (e->nwrites < 16) e->write_status[e->nwrites++] = status;
  note(e, 'w');
  if (status < 0) e->write_after_close_rc = np_conn_write(c, "x", 1);
}

static size_t on_data(np_conn *c, void *ud, uint8_t *data, size_t len) {
  (void)c;
  events *e = ud;
  if (!data) {
    e->skipped += len;
    return len;
  }
  if (!e->ngot) e->first_len = len;
  e->got = realloc(e->got, e->ngot + len);
  memcpy(e->got + e->ngot, data, len);
  e->ngot += len;
  return len;
}

static void on_close(np_conn *c, void *ud, int status) {
  (void)c;
  events *e = ud;
  e->closed = 1;
  e->close_status = status;
  note(e, 'c');
}

static void on_connected(np_conn *c, void *ud, int status) {
  (void)c;
  events *e = ud;
  e->connected = status == 0 ? 1 : status;
}

static const np_conn_callbacks kCbs = {
    .on_data = on_data, .on_close = on_close, .on_connected = on_connected};

static uint8_t *pattern(size_t n) {
  uint8_t *p = malloc(n);
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 7 + (i >> 10));
  return p;
}

/* A conn on one end of a socketpair; the test reads the other end. */
static np_conn *pair_conn(uv_loop_t *loop, events *e, int *ret_peer, int sndbuf) {
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  if (sndbuf) {
    assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
    assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof sndbuf), 0);
  }
  np_conn *c = NULL;
  assert_int_equal(np_conn_accept(loop, sv[0], NULL, &c), 0);
  np_conn_set_callbacks(c, &kCbs, e);
  e->c = c;
  int fl = fcntl(sv[1], F_GETFL);
  assert_int_equal(fcntl(sv[1], F_SETFL, fl | O_NONBLOCK), 0);
  *ret_peer = sv[1];
  return c;
}

/* Runs the loop and drains the peer until want bytes arrived (or EOF). */
static size_t pump_read(uv_loop_t *loop, int peer, uint8_t *out, size_t want, int *ret_eof) {
  size_t got = 0;
  *ret_eof = 0;
  for (int i = 0; i < 200000 && got < want && !*ret_eof; i++) {
    (void)uv_run(loop, UV_RUN_NOWAIT);
    ssize_t r = recv(peer, out + got, want - got, 0);
    if (r == 0) *ret_eof = 1;
    if (r > 0) got += (size_t)r;
  }
  return got;
}

static void run_until(uv_loop_t *loop, const int *flag) {
  for (int i = 0; i < 100000 && !*flag; i++) (void)uv_run(loop, UV_RUN_NOWAIT);
}

/* A loop, a conn on a socketpair with small buffers, and its peer end. */
typedef struct {
  uv_loop_t loop;
  events e;
  int peer;
  np_conn *c;
  uint8_t *junk; /* 1 MiB the tests write by reference */
} fixture;

static int fx_setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  uv_loop_init(&f->loop);
  f->c = pair_conn(&f->loop, &f->e, &f->peer, 4096);
  f->junk = pattern(BIG);
  *state = f;
  return 0;
}

/* Ends the conn if the test did not, and checks nothing is left open. */
static int fx_teardown(void **state) {
  fixture *f = *state;
  if (!f->e.closed) np_conn_abort(f->c, 0);
  run_until(&f->loop, &f->e.closed);
  if (f->peer >= 0) close(f->peer);
  int rc = uv_loop_close(&f->loop);
  free(f->e.got);
  free(f->junk);
  free(f);
  return rc == 0 ? 0 : -1;
}

/* A connected loopback TCP pair (recv(MSG_TRUNC) and TLS need TCP). */
static void tcp_pair(int sv[2]) {
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(ls, 1), 0);
  assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
  sv[1] = socket(AF_INET, SOCK_STREAM, 0);
  assert_int_equal(connect(sv[1], (struct sockaddr *)&a, sizeof a), 0);
  sv[0] = accept(ls, NULL, NULL);
  assert_true(sv[0] >= 0);
  close(ls);
}

static void partial_gathered_write_completes_after_peer_reads(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  events e = {0};
  int peer;
  np_conn *c = pair_conn(&loop, &e, &peer, 16384);
  uint8_t *ref = pattern(BIG);
  const char head[] = "HEAD";
  const char tail[] = "TAIL";
  np_conn_buf bufs[3] = {{head, 4, 0}, {ref, BIG, 1}, {tail, 4, 0}};
  e.in_writev = 1;
  assert_int_equal(np_conn_writev(c, bufs, 3, on_written, &e), 0);
  e.in_writev = 0;
  /* The socket took only part: the rest is queued, nothing completed. */
  assert_true(np_conn_pending(c) > 0);
  assert_true(np_conn_pending(c) < BIG + 8);
  assert_int_equal(e.nwrites, 0);
  /* A ref is charged for its block, not its megabyte. */
  assert_true(np_conn_queue_mem(c) < 256);
  uint8_t *out = malloc(BIG + 8);
  int eof;
  size_t got = pump_read(&loop, peer, out, BIG + 8, &eof);
  assert_int_equal(got, BIG + 8);
  assert_memory_equal(out, "HEAD", 4);
  assert_memory_equal(out + 4, ref, BIG);
  assert_memory_equal(out + 4 + BIG, "TAIL", 4);
  run_until(&loop, &e.nwrites);
  assert_int_equal(e.nwrites, 1);
  assert_int_equal(e.write_status[0], 0);
  assert_int_equal(e.cb_inside_writev, 0);
  assert_int_equal(np_conn_pending(c), 0);
  assert_int_equal(np_conn_queue_mem(c), 0);
  assert_int_equal(np_conn_get_stats(c)->app_written, BIG + 8);
  np_conn_abort(c, 0);
  run_until(&loop, &e.closed);
  assert_string_equal(e.order, "wc");
  close(peer);
  free(out);
  free(ref);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void queue_cap_counts_memory_not_payload(void **state) {
  fixture *f = *state;
  np_conn *c = f->c;
  const size_t cap = 64 * 1024;
  np_conn_set_queue_cap(c, cap);
  /* Fill the socket first, so that what follows stays queued. */
  np_conn_buf b = {f->junk, BIG, 1};
  assert_int_equal(np_conn_writev(c, &b, 1, NULL, NULL), 0);
  size_t n = 0;
  int rc;
  while ((rc = np_conn_write(c, "", 1)) == 0) n++;
  assert_int_equal(rc, -ENOBUFS);
  /* Each 1-byte write is a block of its own: charged >= 32 bytes, so the
   * cap is reached after at most cap/32 of them, not after cap bytes. */
  assert_true(n > 0);
  assert_true(n <= cap / 32);
  assert_true(np_conn_queue_mem(c) <= cap);
  assert_true(np_conn_queue_mem(c) + 128 > cap); /* the next block did not fit */
  /* A write whose copy alone is over the cap never fits. */
  np_conn_set_queue_cap(c, NP_CONN_QUEUE_CAP);
  uint8_t *big = malloc(NP_CONN_QUEUE_CAP);
  memset(big, 1, NP_CONN_QUEUE_CAP);
  assert_int_equal(np_conn_write(c, big, NP_CONN_QUEUE_CAP), -ENOBUFS);
  free(big);
}

static void abort_cancels_queued_writes_before_on_close(void **state) {
  fixture *f = *state;
  events *e = &f->e;
  np_conn_buf b = {f->junk, BIG, 1};
  assert_int_equal(np_conn_writev(f->c, &b, 1, on_written, e), 0);
  np_conn_buf b2 = {"abc", 3, 0};
  assert_int_equal(np_conn_writev(f->c, &b2, 1, on_written, e), 0);
  np_conn_abort(f->c, -ECONNRESET);
  /* Nothing runs synchronously; no write is accepted after the close. */
  assert_int_equal(e->norder, 0);
  assert_int_equal(np_conn_write(f->c, "x", 1), NP_E_CLOSED);
  run_until(&f->loop, &e->closed);
  assert_string_equal(e->order, "wwc");
  assert_int_equal(e->write_status[0], NP_E_CLOSED);
  assert_int_equal(e->write_status[1], NP_E_CLOSED);
  assert_int_equal(e->write_after_close_rc, NP_E_CLOSED);
  assert_int_equal(e->close_status, -ECONNRESET);
}

static void graceful_close_flushes_queue_then_fin(void **state) {
  fixture *f = *state;
  np_conn *c = f->c;
  uint8_t *data = pattern(256 * 1024);
  np_conn_buf b = {data, 256 * 1024, 0};
  assert_int_equal(np_conn_writev(c, &b, 1, on_written, &f->e), 0);
  free(data); /* copied: the caller's buffer may go at once */
  np_conn_close(c);
  assert_int_equal(np_conn_write(c, "x", 1), NP_E_CLOSED);
  uint8_t *out = malloc(256 * 1024 + 1);
  int eof;
  size_t got = pump_read(&f->loop, f->peer, out, 256 * 1024 + 1, &eof);
  assert_int_equal(got, 256 * 1024);
  assert_true(eof); /* our FIN after the last byte */
  uint8_t *want = pattern(256 * 1024);
  assert_memory_equal(out, want, 256 * 1024);
  close(f->peer); /* the peer's end lets the conn finish */
  f->peer = -1;
  run_until(&f->loop, &f->e.closed);
  assert_string_equal(f->e.order, "wc");
  assert_int_equal(f->e.write_status[0], 0);
  free(want);
  free(out);
}

/* pause: the skipped bytes are all dropped (and the next read finds
 * nothing yet) before the tail is sent. */
static void skip_then_hint(int pause) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  events e = {0};
  int sv[2];
  tcp_pair(sv); /* recv(MSG_TRUNC) discards in the kernel on TCP */
  np_conn *c = NULL;
  assert_int_equal(np_conn_accept(&loop, sv[0], NULL, &c), 0);
  np_conn_set_callbacks(c, &kCbs, &e);
  np_conn_skip(c, 100000);
  np_conn_read_hint(c, 4);
  uint8_t *junk = pattern(100000);
  size_t off = 0;
  while (off < 100000) {
    ssize_t w = send(sv[1], junk + off, 100000 - off, 0);
    assert_true(w > 0);
    off += (size_t)w;
  }
  for (int i = 0; pause && i < 100000 && e.skipped < 100000; i++)
    (void)uv_run(&loop, UV_RUN_NOWAIT);
  if (pause) assert_int_equal(e.skipped, 100000);
  assert_int_equal(send(sv[1], "ABCDEFGH", 8, 0), 8);
  for (int i = 0; i < 100000 && e.ngot < 8; i++) (void)uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(e.skipped, 100000);
  assert_int_equal(e.ngot, 8);
  assert_memory_equal(e.got, "ABCDEFGH", 8);
  assert_int_equal(e.first_len, 4); /* the hint bounded the first read (also past a would-block) */
  assert_int_equal(np_conn_get_stats(c)->wire_read, 100008);
  np_conn_abort(c, 0);
  run_until(&loop, &e.closed);
  close(sv[1]);
  free(junk);
  free(e.got);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void skip_drops_bytes_and_hint_limits_next_read(void **state) {
  (void)state;
  skip_then_hint(0);
}

static void read_hint_survives_would_block(void **state) {
  (void)state;
  skip_then_hint(1);
}

/* An owner that takes a message only whole, larger than the read buffer a
 * connection starts with (4 KiB), still gets it: the buffer grows when a
 * read fills it. */
#define WHOLE 20000

static size_t on_data_whole(np_conn *c, void *ud, uint8_t *data, size_t len) {
  if (data && len < WHOLE) return 0;
  return on_data(c, ud, data, len);
}

static void read_buffer_grows_for_a_whole_message(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  events e = {0};
  int peer = -1;
  np_conn *c = pair_conn(&loop, &e, &peer, 0);
  static const np_conn_callbacks cbs = {.on_data = on_data_whole, .on_close = on_close};
  np_conn_set_callbacks(c, &cbs, &e);
  uint8_t *ref = pattern(WHOLE);
  assert_int_equal(send(peer, ref, WHOLE, 0), WHOLE);
  uint64_t deadline = uv_hrtime() + 10ull * 1000000000ull;
  while (e.ngot < WHOLE && uv_hrtime() < deadline) (void)uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(e.first_len, WHOLE);
  assert_memory_equal(e.got, ref, WHOLE);
  np_conn_abort(c, 0);
  run_until(&loop, &e.closed);
  close(peer);
  free(ref);
  free(e.got);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void tls_gathered_write_and_close_order(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  np_tls_ctx *sctx = NULL, *cctx = NULL;
  np_tls_server_opts so = {.self_signed = 1};
  np_tls_client_opts co = {.verify = 0};
  assert_int_equal(np_tls_server_new(&so, &sctx, NULL, 0), 0);
  assert_int_equal(np_tls_client_new(&co, &cctx, NULL, 0), 0);
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(ls, 1), 0);
  assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
  events ce = {0}, se = {0};
  np_conn *cc = NULL, *sc = NULL;
  assert_int_equal(
      np_conn_connect(&loop, (struct sockaddr *)&a, cctx, "127.0.0.1", &kCbs, &ce, &cc), 0);
  int fd = accept(ls, NULL, NULL);
  close(ls);
  assert_true(fd >= 0);
  int small = 4096; /* the socket refuses records: SSL_write must be retried */
  assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  assert_int_equal(np_conn_accept(&loop, fd, sctx, &sc), 0);
  np_conn_set_callbacks(sc, &kCbs, &se);
  run_until(&loop, &ce.connected);
  assert_int_equal(ce.connected, 1);
  /* Server to client: header copy + 1 MiB reference, one request. */
  uint8_t *ref = pattern(BIG);
  np_conn_buf bufs[2] = {{"hdr", 3, 0}, {ref, BIG, 1}};
  se.in_writev = 1;
  assert_int_equal(np_conn_writev(sc, bufs, 2, on_written, &se), 0);
  se.in_writev = 0;
  uint64_t deadline = uv_hrtime() + 20ull * 1000000000ull; /* slow under sanitizers */
  while (ce.ngot < BIG + 3 && uv_hrtime() < deadline) (void)uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(ce.ngot, BIG + 3);
  assert_memory_equal(ce.got, "hdr", 3);
  assert_memory_equal(ce.got + 3, ref, BIG);
  run_until(&loop, &se.nwrites);
  assert_int_equal(se.write_status[0], 0);
  assert_int_equal(se.cb_inside_writev, 0);
  assert_true(np_conn_get_stats(sc)->wire_written > BIG + 3); /* records cost bytes */
  /* Graceful close from the client: the server sees EOF, both close. */
  np_conn_close(cc);
  run_until(&loop, &se.closed);
  run_until(&loop, &ce.closed);
  assert_int_equal(se.close_status, NP_E_CLOSED);
  assert_string_equal(se.order, "wc");
  free(ref);
  free(ce.got);
  for (int i = 0; i < 10; i++) (void)uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(uv_loop_close(&loop), 0);
  np_tls_ctx_free(sctx);
  np_tls_ctx_free(cctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(partial_gathered_write_completes_after_peer_reads),
      cmocka_unit_test_setup_teardown(queue_cap_counts_memory_not_payload, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(abort_cancels_queued_writes_before_on_close, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(graceful_close_flushes_queue_then_fin, fx_setup, fx_teardown),
      cmocka_unit_test(skip_drops_bytes_and_hint_limits_next_read),
      cmocka_unit_test(read_hint_survives_would_block),
      cmocka_unit_test(read_buffer_grows_for_a_whole_message),
      cmocka_unit_test(tls_gathered_write_and_close_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
