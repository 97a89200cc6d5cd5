/* WebSocket interop, netpulse in the client role: drives src/net/conn and
 * src/ws against a real peer (tests/peers/ws_echo_server.mjs, Node `ws`). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/rand.h"
#include "http/request.h"
#include "net/conn.h"
#include "net/tls.h"
#include "ws/frame.h"
#include "ws/handshake.h"

#define SUBPROTOCOL "net.measurementlab.ndt.v7"
#define MAX_BATCH 16
#define MAX_MESSAGE (1u << 24)
#define MAX_TEXT (1u << 20)
#define TIMEOUT_MS 30000

/* One message (or ping) we send and the echo (or pong) we then expect. */
typedef struct {
  int opcode; /* NP_WS_OP_TEXT, _BINARY or _PING */
  size_t size;
  int fragments;   /* 1 = one frame; n = n frames (split at arbitrary bytes) */
  int ping_inside; /* a ping between the first two fragments */
} msg_spec;

typedef struct {
  const char *name;
  msg_spec msgs[MAX_BATCH];
  size_t nmsgs;
} batch;

/* Session 1: every batch is sent at once (pipelined), then every echo is
 * checked in order. Sizes straddle the 7-bit, 16-bit and 64-bit length
 * forms; texts mix 1- to 4-byte characters so fragment and read boundaries
 * fall inside characters. */
static const batch kBatches[] = {
    {"text small",
     {{NP_WS_OP_TEXT, 0, 1, 0},
      {NP_WS_OP_TEXT, 1, 1, 0},
      {NP_WS_OP_TEXT, 4, 1, 0},
      {NP_WS_OP_TEXT, 125, 1, 0},
      {NP_WS_OP_TEXT, 126, 1, 0},
      {NP_WS_OP_TEXT, 127, 1, 0}},
     6},
    {"text large and fragmented",
     {{NP_WS_OP_TEXT, 1000, 3, 0},
      {NP_WS_OP_TEXT, 65535, 1, 0},
      {NP_WS_OP_TEXT, 65536, 2, 1},
      {NP_WS_OP_TEXT, 200001, 7, 0}},
     4},
    {"pings", {{NP_WS_OP_PING, 0, 1, 0}, {NP_WS_OP_PING, 16, 1, 0}, {NP_WS_OP_PING, 125, 1, 0}}, 3},
    {"binary small",
     {{NP_WS_OP_BINARY, 0, 1, 0},
      {NP_WS_OP_BINARY, 1, 1, 0},
      {NP_WS_OP_BINARY, 125, 1, 0},
      {NP_WS_OP_BINARY, 126, 1, 0},
      {NP_WS_OP_BINARY, 127, 1, 0},
      {NP_WS_OP_BINARY, 65535, 1, 0},
      {NP_WS_OP_BINARY, 65536, 1, 0},
      {NP_WS_OP_BINARY, 65537, 1, 0},
      {NP_WS_OP_BINARY, 8192, 4, 1}},
     9},
    {"binary 1 MiB", {{NP_WS_OP_BINARY, 1u << 20, 1, 0}}, 1},
    {"binary 1 MiB fragmented", {{NP_WS_OP_BINARY, 1u << 20, 5, 1}}, 1},
    {"mixed",
     {{NP_WS_OP_TEXT, 300, 1, 0},
      {NP_WS_OP_BINARY, 300000, 2, 0},
      {NP_WS_OP_PING, 5, 1, 0},
      {NP_WS_OP_TEXT, 3, 1, 0}},
     4},
};
#define NBATCHES (sizeof kBatches / sizeof kBatches[0])

/* Sessions: 0 = the exchange, then our close 1000; 1 = the peer closes with
 * 4001 on request; 2 = the peer closes without a status code. */
enum { S_EXCHANGE, S_PEER_CLOSE, S_PEER_CLOSE_NONE, S_COUNT };

typedef struct {
  uv_loop_t *loop;
  struct sockaddr_storage addr;
  np_tls_ctx *tls;
  char host[128];
  const char *path;
  uv_timer_t deadline;
  int failed;
  int session;
  np_conn *c;
  char key[32];
  int upgraded;
  np_ws_reader rd;
  size_t batch;             /* index into kBatches (session 0) */
  np_buf expect[MAX_BATCH]; /* what each echo must hold */
  int expect_op[MAX_BATCH];
  size_t nexpect, next; /* expected echoes, and the next one to check */
  np_buf bin;           /* binary message being reassembled */
  int close_sent, close_received;
  uint16_t close_code;
  char close_reason[128];
  uint64_t bytes_checked;
  size_t messages_checked;
} run;

static void start_session(run *r);

static void failf(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void failf(run *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "ws_interop_client: FAIL (session %d): ", r->session);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  r->failed = 1;
  if (r->c) np_conn_abort(r->c, NP_E_PROTO);
  uv_stop(r->loop);
}

static int send_masked(run *r, int fin, int opcode, const uint8_t *p, size_t n) {
  uint8_t key[4];
  uint8_t hdr[NP_WS_MAX_FRAME_HEADER];
  if (np_random_bytes(key, sizeof key) < 0) return -EIO;
  size_t h = np_ws_frame_header(hdr, fin, opcode, n, key);
  int rc = np_conn_write(r->c, hdr, h);
  if (rc < 0 || n == 0) return rc;
  uint8_t *m = malloc(n);
  if (!m) return -ENOMEM;
  memcpy(m, p, n);
  np_ws_mask(m, n, key, 0);
  rc = np_conn_write(r->c, m, n);
  free(m);
  return rc;
}

/* Exactly size bytes of valid UTF-8 mixing 1- to 4-byte characters. */
static int make_text(np_buf *b, size_t size) {
  static const char *const chars[] = {
      "a", "Z", "0", " ", "{", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
  int rc = np_buf_reserve(b, size);
  if (rc < 0) return rc;
  while (b->len < size) {
    const char *ch = chars[np_random_u64() % 8];
    size_t n = strlen(ch);
    if (n > size - b->len) ch = "x", n = 1;
    memcpy(b->data + b->len, ch, n);
    b->len += n;
  }
  return 0;
}

static int send_message(run *r, const msg_spec *m, np_buf *payload) {
  int rc;
  if (m->opcode == NP_WS_OP_TEXT) {
    rc = make_text(payload, m->size);
  } else {
    rc = np_buf_reserve(payload, m->size);
    if (rc == 0 && m->size) rc = np_random_bytes(payload->data, m->size);
    if (rc == 0) payload->len = m->size;
  }
  if (rc < 0) return rc;
  if (m->opcode == NP_WS_OP_PING || m->fragments <= 1)
    return send_masked(r, 1, m->opcode, payload->data, payload->len);
  /* Fragments of uneven sizes, cut at byte (not character) offsets. */
  size_t off = 0;
  for (int i = 0; i < m->fragments; i++) {
    size_t end = i == m->fragments - 1
                     ? payload->len
                     : payload->len * (size_t)(2 * i + 1) / (size_t)(2 * m->fragments);
    if (end < off) end = off;
    rc = send_masked(r, i == m->fragments - 1, i == 0 ? m->opcode : NP_WS_OP_CONT,
                     payload->data + off, end - off);
    if (rc < 0) return rc;
    if (i == 0 && m->ping_inside) {
      /* Control frames may come between fragments; its pong comes first. */
      static const uint8_t inner[] = "between-fragments";
      rc = send_masked(r, 1, NP_WS_OP_PING, inner, sizeof inner - 1);
      if (rc < 0) return rc;
    }
    off = end;
  }
  return 0;
}

static void send_batch(run *r) {
  const batch *b = &kBatches[r->batch];
  r->nexpect = 0;
  r->next = 0;
  for (size_t i = 0; i < b->nmsgs; i++) {
    const msg_spec *m = &b->msgs[i];
    if (m->ping_inside) {
      /* The pong for the inner ping arrives before the message's echo. */
      np_buf_free(&r->expect[r->nexpect]);
      (void)np_buf_append(&r->expect[r->nexpect], "between-fragments", 17);
      r->expect_op[r->nexpect++] = NP_WS_OP_PONG;
    }
    np_buf *e = &r->expect[r->nexpect];
    np_buf_free(e);
    int rc = send_message(r, m, e);
    if (rc < 0) {
      failf(r, "sending \"%s\" failed: %s", b->name, np_strerror(rc));
      return;
    }
    r->expect_op[r->nexpect++] = m->opcode == NP_WS_OP_PING ? NP_WS_OP_PONG : m->opcode;
  }
  fprintf(stderr, "ws_interop_client: batch \"%s\": %zu message(s) sent\n", b->name, b->nmsgs);
}

static void send_close(run *r, uint16_t code, const char *reason) {
  if (r->close_sent) return;
  uint8_t pl[NP_WS_MAX_CONTROL];
  size_t n = np_ws_close_payload(pl, code, reason);
  (void)send_masked(r, 1, NP_WS_OP_CLOSE, pl, n);
  r->close_sent = 1;
}

static void check_echo(run *r, int op, np_slice data) {
  if (r->next >= r->nexpect) {
    failf(r, "unexpected %s of %zu bytes", op == NP_WS_OP_PONG ? "pong" : "message", data.len);
    return;
  }
  np_buf *e = &r->expect[r->next];
  if (op != r->expect_op[r->next]) {
    failf(r, "echo in \"%s\": opcode %d, expected %d", kBatches[r->batch].name, op,
          r->expect_op[r->next]);
    return;
  }
  if (data.len != e->len || (data.len && memcmp(data.ptr, e->data, data.len) != 0)) {
    size_t i = 0;
    while (i < data.len && i < e->len && data.ptr[i] == e->data[i]) i++;
    fprintf(stderr, "ws_interop_client: echo %zu of \"%s\": %zu bytes, expected %zu\n", r->next,
            kBatches[r->batch].name, data.len, e->len);
    failf(r, "echo differs from byte %zu on", i);
    return;
  }
  r->bytes_checked += data.len;
  r->messages_checked++;
  if (++r->next < r->nexpect) return;
  /* Batch done: next batch, or close the session. */
  if (++r->batch < NBATCHES) {
    send_batch(r);
  } else {
    fprintf(stderr, "ws_interop_client: exchange done: %zu messages, %llu bytes checked\n",
            r->messages_checked, (unsigned long long)r->bytes_checked);
    send_close(r, NP_WS_CLOSE_NORMAL, "bye");
  }
}

static void on_event(run *r, const np_ws_event *ev) {
  switch (ev->type) {
  case NP_WS_EV_BINARY:
  case NP_WS_EV_BINARY_END:
    if (ev->data.len && np_buf_append(&r->bin, ev->data.ptr, ev->data.len) < 0) {
      failf(r, "binary reassembly over %u bytes", MAX_MESSAGE);
      return;
    }
    if (ev->type == NP_WS_EV_BINARY_END) {
      if (ev->msg_len != r->bin.len) {
        failf(r, "msg_len %llu disagrees with the chunks (%zu)", (unsigned long long)ev->msg_len,
              r->bin.len);
        return;
      }
      check_echo(r, NP_WS_OP_BINARY, np_buf_slice(&r->bin));
      r->bin.len = 0;
    }
    break;
  case NP_WS_EV_TEXT:
    if (r->session == S_EXCHANGE)
      check_echo(r, NP_WS_OP_TEXT, ev->data);
    else
      failf(r, "unexpected text of %zu bytes", ev->data.len);
    break;
  case NP_WS_EV_PONG:
    check_echo(r, NP_WS_OP_PONG, ev->data);
    break;
  case NP_WS_EV_PING:
    if (!r->close_sent) (void)send_masked(r, 1, NP_WS_OP_PONG, ev->data.ptr, ev->data.len);
    break;
  case NP_WS_EV_CLOSE: {
    r->close_received = 1;
    r->close_code = ev->close_code;
    size_t n =
        ev->data.len < sizeof r->close_reason - 1 ? ev->data.len : sizeof r->close_reason - 1;
    if (n) memcpy(r->close_reason, ev->data.ptr, n); /* ptr may be NULL when empty */
    r->close_reason[n] = 0;
    fprintf(stderr, "ws_interop_client: close from peer: %u \"%s\"\n", r->close_code,
            r->close_reason);
    /* Echo the peer's code (none for 1005), as RFC 6455 5.5.1 suggests. */
    send_close(r, r->close_code == NP_WS_CLOSE_NO_STATUS ? NP_WS_CLOSE_NO_STATUS : r->close_code,
               "");
    np_conn_close(r->c);
    break;
  }
  default:
    break;
  }
}

static size_t on_data(np_conn *c, void *ud, uint8_t *data, size_t len) {
  run *r = ud;
  (void)c;
  if (!data || r->failed) return len;
  if (!r->upgraded) {
    np_http_response resp;
    int rc = np_http_parse_response(data, len, &resp);
    if (rc == 0) return 0;
    if (rc < 0) {
      failf(r, "bad response head: %s", np_strerror(rc));
      return len;
    }
    int chk = np_ws_check_accept(&resp, r->key, SUBPROTOCOL);
    if (chk < 0) {
      failf(r, "upgrade refused: HTTP %d, %s", resp.status, np_strerror(chk));
      return len;
    }
    r->upgraded = 1;
    fprintf(stderr, "ws_interop_client: session %d upgraded\n", r->session);
    if (r->session == S_EXCHANGE) {
      r->batch = 0;
      send_batch(r);
    } else {
      const char *t = r->session == S_PEER_CLOSE ? "close:4001" : "close:none";
      (void)send_masked(r, 1, NP_WS_OP_TEXT, (const uint8_t *)t, strlen(t));
    }
    return (size_t)rc;
  }
  size_t off = 0;
  while (off < len && !r->failed && !r->close_received) {
    np_ws_event ev;
    int rc = np_ws_read(&r->rd, data + off, len - off, &ev);
    if (rc < 0) {
      failf(r, "reader error: %s", np_strerror(rc));
      return len;
    }
    off += (size_t)rc;
    if (ev.type != NP_WS_EV_NONE) on_event(r, &ev);
    if (rc == 0 && ev.type == NP_WS_EV_NONE) break;
  }
  return len; /* after a close (or a failure) the rest is dropped */
}

static void on_connected(np_conn *c, void *ud, int status) {
  run *r = ud;
  if (status < 0) return; /* on_close reports it */
  np_buf req;
  np_buf_init(&req, 16384);
  int rc = np_ws_make_key(r->key, sizeof r->key);
  if (rc == 0)
    rc = np_ws_write_request(&req, r->host, r->path, r->key, SUBPROTOCOL, "netpulse-ws-interop");
  if (rc == 0) rc = np_conn_write(c, req.data, req.len);
  np_buf_free(&req);
  if (rc < 0) failf(r, "cannot send the upgrade request: %s", np_strerror(rc));
}

static void on_close(np_conn *c, void *ud, int status) {
  run *r = ud;
  (void)c;
  r->c = NULL;
  np_ws_reader_free(&r->rd);
  if (r->failed) return;
  if (!r->close_received) {
    failf(r, "connection ended without a close frame: %s", np_strerror(status));
    return;
  }
  /* A clean end after the close handshake: EOF (0 / NP_E_CLOSED). */
  if (status != 0 && status != NP_E_CLOSED) {
    failf(r, "connection ended with %s after the close handshake", np_strerror(status));
    return;
  }
  static const uint16_t want[S_COUNT] = {NP_WS_CLOSE_NORMAL, 4001, NP_WS_CLOSE_NO_STATUS};
  static const char *const want_reason[S_COUNT] = {"bye", "requested", ""};
  if (r->close_code != want[r->session]) {
    failf(r, "peer closed with %u, expected %u", r->close_code, want[r->session]);
    return;
  }
  if (strcmp(r->close_reason, want_reason[r->session]) != 0) {
    failf(r, "close reason \"%s\", expected \"%s\"", r->close_reason, want_reason[r->session]);
    return;
  }
  fprintf(stderr, "ws_interop_client: session %d ok (close %u)\n", r->session, r->close_code);
  if (++r->session < S_COUNT) {
    start_session(r);
  } else {
    (void)uv_timer_stop(&r->deadline);
    uv_close((uv_handle_t *)&r->deadline, NULL);
  }
}

static void start_session(run *r) {
  r->upgraded = 0;
  r->close_sent = r->close_received = 0;
  r->close_code = 0;
  r->close_reason[0] = 0;
  r->bin.len = 0;
  r->nexpect = r->next = 0;
  np_ws_reader_init(&r->rd, NP_WS_ROLE_CLIENT, MAX_MESSAGE, MAX_TEXT);
  static const np_conn_callbacks cbs = {
      .on_data = on_data, .on_connected = on_connected, .on_close = on_close};
  int rc = np_conn_connect(r->loop, (const struct sockaddr *)&r->addr, r->tls,
                           r->tls ? "localhost" : NULL, &cbs, r, &r->c);
  if (rc < 0) {
    r->c = NULL;
    failf(r, "connect: %s", np_strerror(rc));
  }
}

static void on_deadline(uv_timer_t *t) {
  run *r = t->data;
  failf(r, "no result within %d ms", TIMEOUT_MS);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  const char *path = "/ndt/v7/echo";
  long port = 0;
  int use_tls = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
      port = strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
      host = argv[++i];
    else if (strcmp(argv[i], "--path") == 0 && i + 1 < argc)
      path = argv[++i];
    else if (strcmp(argv[i], "--tls") == 0)
      use_tls = 1;
    else {
      fprintf(stderr, "usage: ws_interop_client --port N [--host IP] [--path P] [--tls]\n");
      return 2;
    }
  }
  if (port <= 0 || port > 65535) {
    fprintf(stderr, "ws_interop_client: --port 1..65535 is required\n");
    return 2;
  }
  static run r;
  r.loop = uv_default_loop();
  r.path = path;
  for (size_t i = 0; i < MAX_BATCH; i++) np_buf_init(&r.expect[i], MAX_MESSAGE);
  np_buf_init(&r.bin, MAX_MESSAGE);
  (void)snprintf(r.host, sizeof r.host, "%s:%ld", host, port);
  struct sockaddr_in *sin = (struct sockaddr_in *)&r.addr;
  if (uv_ip4_addr(host, (int)port, sin) != 0) {
    fprintf(stderr, "ws_interop_client: --host must be an IPv4 address\n");
    return 2;
  }
  if (use_tls) {
    static const char *const alpn[] = {"http/1.1", NULL};
    np_tls_client_opts o = {.verify = 0, .ca_file = NULL, .alpn = alpn};
    char err[256] = "";
    if (np_tls_client_new(&o, &r.tls, err, sizeof err) < 0) {
      fprintf(stderr, "ws_interop_client: TLS context: %s\n", err);
      return 1;
    }
  }
  (void)uv_timer_init(r.loop, &r.deadline);
  r.deadline.data = &r;
  (void)uv_timer_start(&r.deadline, on_deadline, TIMEOUT_MS, 0);
  start_session(&r);
  (void)uv_run(r.loop, UV_RUN_DEFAULT);
  for (size_t i = 0; i < MAX_BATCH; i++) np_buf_free(&r.expect[i]);
  np_buf_free(&r.bin);
  if (r.failed || r.session < S_COUNT) {
    fprintf(stderr, "ws_interop_client: FAILED\n");
    return 1;
  }
  printf("ok: %zu messages, %llu bytes echoed byte-exact; closes 1000, 4001, 1005\n",
         r.messages_checked, (unsigned long long)r.bytes_checked);
  np_tls_ctx_free(r.tls);
  return 0;
}
