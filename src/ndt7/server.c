/* One ndt7 test on the server: upgrade, then a 10 s download (bulk binary
 * messages from one shared random buffer) or upload (payload discarded in
 * the kernel where possible), measurements at memoryless intervals, WebSocket
 * ping RTT samples, and the record M-Lab archives. */
#include "ndt7/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/rand.h"
#include "http/query.h"
#include "http/response.h"
#include "ndt7/ndt7.h"
#include "ws/frame.h"
#include "ws/handshake.h"
#include "ws/stream.h"

#define MAX_PING_SAMPLES 128
#define MIN_SUCCESS_FRACTION 0.9 /* a peer close this late still counts */

typedef struct {
  np_conn *c;
  np_ndt7_server_cfg cfg;
  np_ndt7_dir dir;
  np_ndt7_done_cb done;
  void *ud;
  uv_timer_t timer;
  np_ws_stream ws;
  uint64_t t0;
  uint64_t next_measure;
  int64_t start_wall;
  char start_str[48];
  char uuid[NP_UUID_BUFSZ];
  char client[96];
  char server[96];
  char client_ip[64];
  char server_ip[64];
  int client_port;
  int server_port;
  uint32_t msg_size;
  uint64_t sent;     /* binary payload bytes queued (download) */
  uint64_t received; /* binary payload bytes read (upload) */
  int early_exit;
  int sending;
  int close_sent;
  int close_received;
  int ignore_input;
  int conn_gone;
  int reported;
  const char *failure;
  uint64_t end_ns;
  json_t *server_ms;
  json_t *client_ms;
  json_t *pings;
  json_t *client_meta;
} session;

static const char *const kExtraKeys[] = {"early_exit", NULL};

static void measure(session *s, uint64_t now, int send);
static void arm_timer(session *s, uint64_t now);

static uint64_t elapsed_us(const session *s, uint64_t now) { return (now - s->t0) / NP_NS_PER_US; }

static void fail(session *s, const char *stage) {
  if (!s->failure) s->failure = stage;
}

/* Sends a frame whose payload is copied into the queue, header and payload
 * in one write. A peer that lets our queue fill to its memory cap (it does
 * not read) is dropped. */
static int send_frame(session *s, int opcode, const void *p, size_t n) {
  int rc = np_ws_stream_send(&s->ws, opcode, p, n);
  if (rc == -ENOBUFS) {
    fail(s, "send");
    np_conn_abort(s->c, rc);
  }
  return rc;
}

static void send_close(session *s, uint16_t code, const char *reason) {
  if (s->close_sent) return;
  uint8_t pl[NP_WS_MAX_CONTROL];
  size_t n = np_ws_close_payload(pl, code, reason);
  (void)send_frame(s, NP_WS_OP_CLOSE, pl, n);
  s->close_sent = 1;
  s->sending = 0;
  np_conn_want_writable(s->c, 0, 0);
}

/* Ends the test from our side: final measurement, close 1000. The peer's
 * close (or EOF) then completes it; the hard stop bounds the wait. */
static void end_test(session *s, uint64_t now) {
  if (s->close_sent) return;
  s->end_ns = now;
  measure(s, now, 0);
  send_close(s, NP_WS_CLOSE_NORMAL, "");
}

static void on_writable(np_conn *c, void *ud) {
  session *s = ud;
  /* Keep one message queued beyond what the kernel holds; the loop bound
   * keeps one fast connection from starving the others. */
  for (int i = 0; i < 8 && s->sending && np_conn_pending(c) == 0; i++) {
    if (s->cfg.max_sent_bytes && s->sent + s->msg_size > s->cfg.max_sent_bytes) {
      end_test(s, np_mono_ns());
      return;
    }
    if (np_ws_stream_send_ref(&s->ws, NP_WS_OP_BINARY, s->cfg.payload, s->msg_size) < 0) {
      fail(s, "send");
      np_conn_abort(c, -EIO);
      return;
    }
    s->sent += s->msg_size;
    s->msg_size = np_ndt7_next_size(s->msg_size, s->sent);
  }
}

static void record_client_measurement(session *s, np_slice text) {
  if (json_array_size(s->client_ms) >= NP_NDT7_MAX_CLIENT_MEASUREMENTS) return;
  np_ndt7_reading r;
  json_t *obj = NULL;
  if (np_ndt7_measurement_read((const char *)text.ptr, text.len, &r, &obj) < 0) return;
  json_t *clean = np_ndt7_measurement_sanitize(obj);
  json_decref(obj);
  if (clean) {
    json_t *el = json_integer((json_int_t)elapsed_us(s, np_mono_ns()));
    (void)json_object_set_new(clean, "ServerElapsedTime", el);
    (void)json_array_append_new(s->client_ms, clean);
  }
}

static void on_pong(session *s, np_slice p) {
  if (p.len != 8 || json_array_size(s->pings) >= MAX_PING_SAMPLES) return;
  uint64_t sent_at;
  memcpy(&sent_at, p.ptr, 8);
  uint64_t now = np_mono_ns();
  if (sent_at < s->t0 || sent_at > now) return; /* not one of ours */
  json_t *o = json_pack("{s:I,s:I}", "ElapsedTime", (json_int_t)elapsed_us(s, now), "RTT",
                        (json_int_t)((now - sent_at) / NP_NS_PER_US));
  if (o) (void)json_array_append_new(s->pings, o);
}

static void protocol_error(session *s, int err) {
  fail(s, err == NP_E_TOOBIG ? "message_too_big" : "protocol");
  s->close_sent = 0; /* our close must carry the error code */
  uint8_t pl[NP_WS_MAX_CONTROL];
  size_t n = np_ws_close_payload(pl, np_ws_close_code_for(err), np_strerror(err));
  (void)send_frame(s, NP_WS_OP_CLOSE, pl, n);
  s->close_sent = 1;
  s->sending = 0;
  s->ignore_input = 1;
  np_conn_want_writable(s->c, 0, 0);
  np_conn_close(s->c);
}

static int handle_event(void *ud, const np_ws_event *ev) {
  session *s = ud;
  switch (ev->type) {
  case NP_WS_EV_TEXT:
    record_client_measurement(s, ev->data);
    break;
  case NP_WS_EV_BINARY:
  case NP_WS_EV_BINARY_END: /* the end event carries the last chunk */
    if (s->dir == NP_NDT7_DIR_UPLOAD) {
      s->received += ev->data.len;
    } else {
      /* ndt7: a binary message during download ends the reading side. */
      s->ignore_input = 1;
      return 1;
    }
    break;
  case NP_WS_EV_PING:
    if (!s->close_sent && np_ws_stream_pong(&s->ws, ev->data) == -ENOBUFS) {
      fail(s, "send");
      np_conn_abort(s->c, -ENOBUFS);
      return 1;
    }
    break;
  case NP_WS_EV_PONG:
    on_pong(s, ev->data);
    break;
  case NP_WS_EV_CLOSE:
    s->close_received = 1;
    if (!s->close_sent) {
      s->end_ns = np_mono_ns();
      /* The official upload client closes at its own 10 s, a little before
       * ours; a close well before the end cut the test short. */
      if ((double)(s->end_ns - s->t0) < MIN_SUCCESS_FRACTION * (double)s->cfg.duration_ns)
        fail(s, "client_closed_early");
      measure(s, s->end_ns, 0);
      send_close(s, NP_WS_CLOSE_NORMAL, "");
    }
    s->ignore_input = 1;
    np_conn_close(s->c);
    return 1;
  default:
    break;
  }
  return 0;
}

static size_t on_data(np_conn *c, void *ud, uint8_t *data, size_t len) {
  (void)c;
  session *s = ud;
  if (s->ignore_input) return len;
  int rc = np_ws_stream_feed(&s->ws, data, len);
  if (rc < 0) protocol_error(s, rc);
  return len;
}

static void sample_tcp(session *s, np_tcpinfo *tcp, np_bbrinfo *bbr, int *has_tcp, int *has_bbr) {
  int fd = np_conn_fd(s->c);
  *has_tcp = fd >= 0 && np_tcpinfo_read(fd, tcp) == 0;
  *has_bbr = fd >= 0 && np_bbrinfo_read(fd, bbr) == 0;
}

/* Takes a measurement; appends it to the record and, when send is set,
 * sends it to the client with a ping whose payload is our clock. */
static void measure(session *s, uint64_t now, int send) {
  np_tcpinfo tcp;
  np_bbrinfo bbr;
  int has_tcp, has_bbr;
  sample_tcp(s, &tcp, &bbr, &has_tcp, &has_bbr);
  uint64_t app =
      s->dir == NP_NDT7_DIR_DOWNLOAD ? np_conn_get_stats(s->c)->app_written : s->received;
  np_ndt7_sample smp = {
      .app_bytes = app,
      .elapsed_us = (int64_t)elapsed_us(s, now),
      .client = s->client,
      .server = s->server,
      .uuid = s->uuid,
      .start_time = s->start_str,
      .tcp = has_tcp ? &tcp : NULL,
      .bbr = has_bbr ? &bbr : NULL,
  };
  json_t *m = np_ndt7_measurement_json(&smp);
  if (!m) return;
  if (send) {
    char *text = json_dumps(m, JSON_COMPACT);
    if (text) {
      (void)send_frame(s, NP_WS_OP_TEXT, text, strlen(text));
      free(text);
    }
    (void)send_frame(s, NP_WS_OP_PING, &now, sizeof now);
  }
  (void)json_array_append_new(s->server_ms, m);
  if (s->early_exit && has_tcp && tcp.bytes_acked >= NP_NDT7_EARLY_EXIT_BYTES && !s->close_sent) {
    s->end_ns = now;
    send_close(s, NP_WS_CLOSE_NORMAL, "");
  }
}

static void on_timer(uv_timer_t *t) {
  session *s = t->data;
  uint64_t now = np_mono_ns();
  if (now - s->t0 >= s->cfg.hard_stop_ns) {
    /* After our close, a peer that never answers is not a failure. */
    if (!s->close_sent) fail(s, "hard_stop");
    np_conn_abort(s->c, NP_E_TIMEOUT);
    return;
  }
  if (!s->close_sent && now - s->t0 >= s->cfg.duration_ns) {
    end_test(s, now);
  } else if (!s->close_sent && now >= s->next_measure) {
    measure(s, now, 1);
    s->next_measure = now + np_ndt7_next_interval_ns(np_random_unit());
  }
  arm_timer(s, now);
}

static void arm_timer(session *s, uint64_t now) {
  uint64_t due = s->t0 + s->cfg.hard_stop_ns;
  if (!s->close_sent) {
    uint64_t end = s->t0 + s->cfg.duration_ns;
    if (end < due) due = end;
    if (s->next_measure < due) due = s->next_measure;
  }
  uint64_t ms = due > now ? (due - now + NP_NS_PER_MS - 1) / NP_NS_PER_MS : 0;
  (void)uv_timer_start(&s->timer, on_timer, ms, 0);
}

static json_t *build_record(session *s, int64_t end_wall) {
  char end_str[48];
  (void)np_format_rfc3339nano(end_wall, end_str, sizeof end_str);
  json_t *r = json_object();
  if (!r) return NULL;
  (void)json_object_set_new(r, "UUID", json_string(s->uuid));
  (void)json_object_set_new(r, "StartTime", json_string(s->start_str));
  (void)json_object_set_new(r, "EndTime", json_string(end_str));
  (void)json_object_set(r, "ServerMeasurements", s->server_ms);
  (void)json_object_set(r, "ClientMeasurements", s->client_ms);
  (void)json_object_set(r, "ClientMetadata", s->client_meta);
  if (s->cfg.server_metadata)
    (void)json_object_set(r, "ServerMetadata", s->cfg.server_metadata);
  else
    (void)json_object_set_new(r, "ServerMetadata", json_array());
  (void)json_object_set(r, "PingSamples", s->pings);
  return r;
}

static void free_session(uv_handle_t *h) {
  session *s = h->data;
  np_ws_stream_free(&s->ws);
  json_decref(s->server_ms);
  json_decref(s->client_ms);
  json_decref(s->pings);
  json_decref(s->client_meta);
  free(s);
}

static void on_close(np_conn *c, void *ud, int status) {
  session *s = ud;
  uint64_t now = np_mono_ns();
  const np_conn_stats *st = np_conn_get_stats(c);
  if (!s->end_ns) s->end_ns = now;
  uint64_t ran = s->end_ns - s->t0;
  /* The peer may end the test itself (the official upload client closes
   * after its own 10 s, without a status); EOF or RST after our close is
   * normal too. Only an early end without a protocol error is a failure. */
  if (!s->close_sent && !s->failure &&
      (double)ran < MIN_SUCCESS_FRACTION * (double)s->cfg.duration_ns)
    fail(s, status == NP_E_TIMEOUT ? "timeout" : "client_closed_early");
  np_ndt7_outcome o;
  memset(&o, 0, sizeof o);
  o.dir = s->dir;
  o.success = s->failure == NULL;
  o.failure = s->failure;
  memcpy(o.uuid, s->uuid, sizeof o.uuid);
  memcpy(o.client_ip, s->client_ip, sizeof o.client_ip);
  memcpy(o.server_ip, s->server_ip, sizeof o.server_ip);
  o.client_port = s->client_port;
  o.server_port = s->server_port;
  o.start_wall_ns = s->start_wall;
  o.end_wall_ns = s->start_wall + (int64_t)(now - s->t0);
  o.elapsed_ns = ran;
  o.app_bytes = s->dir == NP_NDT7_DIR_DOWNLOAD ? st->app_written : s->received;
  o.wire_read = st->wire_read;
  o.wire_written = st->wire_written;
  o.record = build_record(s, o.end_wall_ns);
  s->conn_gone = 1;
  s->done(s->ud, &o);
  uv_close((uv_handle_t *)&s->timer, free_session);
}

static int reply_error(np_conn *c, int status, const char *const *extra) {
  np_buf out;
  np_buf_init(&out, 4096);
  if (np_http_write_error(&out, status, -1, extra) == 0) (void)np_conn_write(c, out.data, out.len);
  np_buf_free(&out);
  np_conn_close(c);
  return status;
}

static void host_port(char *out, size_t cap, const char *ip, int port) {
  if (strchr(ip, ':'))
    (void)snprintf(out, cap, "[%s]:%d", ip, port);
  else
    (void)snprintf(out, cap, "%s:%d", ip, port);
}

static json_t *meta_json(const np_meta *m) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < m->n; i++)
    (void)json_array_append_new(
        a, json_pack("{s:s,s:s}", "Name", m->items[i].name, "Value", m->items[i].value));
  return a;
}

int np_ndt7_serve(np_conn *c, const np_http_request *req, const np_ndt7_server_cfg *cfg,
                  const char *uuid, np_ndt7_done_cb done, void *ud, int *ret_status) {
  np_ndt7_dir dir;
  if (np_slice_eq(req->path, np_slice_cstr(NP_NDT7_PATH_DOWNLOAD)))
    dir = NP_NDT7_DIR_DOWNLOAD;
  else if (np_slice_eq(req->path, np_slice_cstr(NP_NDT7_PATH_UPLOAD)))
    dir = NP_NDT7_DIR_UPLOAD;
  else
    return (*ret_status = reply_error(c, 404, NULL)), NP_E_BADARG;
  int status = 0;
  int rc = np_ws_check_upgrade(req, NP_NDT7_SUBPROTOCOL, &status);
  if (rc < 0) {
    static const char *const v13[] = {"Sec-WebSocket-Version: 13", NULL};
    *ret_status = reply_error(c, status, status == 426 ? v13 : NULL);
    return rc;
  }
  /* An upgrade request has no body: bytes after the head are frames. */
  uint64_t clen = 0;
  if (np_http_content_length(req->headers, req->nheaders, &clen) < 0 || clen > 0 ||
      np_http_header_count(req->headers, req->nheaders, "Transfer-Encoding") > 0)
    return (*ret_status = reply_error(c, 400, NULL)), NP_E_PROTO;
  np_query q;
  rc = np_query_parse(req->query, &q);
  if (rc < 0) return (*ret_status = reply_error(c, rc == NP_E_TOOBIG ? 414 : 400, NULL)), rc;
  const char *ee = np_query_get(&q, "early_exit");
  if (ee && (strcmp(ee, "250") != 0 || dir != NP_NDT7_DIR_DOWNLOAD))
    return (*ret_status = reply_error(c, 400, NULL)), NP_E_BADARG;
  np_meta meta;
  np_meta_from_query(&q, kExtraKeys, &meta);

  session *s = calloc(1, sizeof *s);
  if (!s) return (*ret_status = reply_error(c, 500, NULL)), -ENOMEM;
  s->c = c;
  s->cfg = *cfg;
  if (!s->cfg.duration_ns) s->cfg.duration_ns = NP_NDT7_DURATION_NS;
  if (!s->cfg.hard_stop_ns) s->cfg.hard_stop_ns = NP_NDT7_HARD_STOP_NS;
  s->dir = dir;
  s->done = done;
  s->ud = ud;
  s->early_exit = ee != NULL;
  s->msg_size = NP_NDT7_MIN_MESSAGE;
  (void)snprintf(s->uuid, sizeof s->uuid, "%s", uuid);
  (void)np_conn_peer_addr(c, s->client_ip, sizeof s->client_ip, &s->client_port);
  (void)np_conn_local_addr(c, s->server_ip, sizeof s->server_ip, &s->server_port);
  host_port(s->client, sizeof s->client, s->client_ip, s->client_port);
  host_port(s->server, sizeof s->server, s->server_ip, s->server_port);
  s->server_ms = json_array();
  s->client_ms = json_array();
  s->pings = json_array();
  s->client_meta = meta_json(&meta);
  /* Upload payload is only counted: drop it unread. */
  np_ws_stream_init(&s->ws, c, NP_WS_ROLE_SERVER, NP_NDT7_MAX_MESSAGE, NP_NDT7_MAX_TEXT,
                    dir == NP_NDT7_DIR_UPLOAD, handle_event, s);
  np_buf out;
  np_buf_init(&out, 4096);
  rc =
      np_ws_write_accept(&out, np_http_header_get(req->headers, req->nheaders, "Sec-WebSocket-Key"),
                         NP_NDT7_SUBPROTOCOL);
  if (rc == 0) rc = np_conn_write(c, out.data, out.len);
  np_buf_free(&out);
  if (rc < 0 || !s->server_ms || !s->client_ms || !s->pings || !s->client_meta) {
    np_ws_stream_free(&s->ws);
    json_decref(s->server_ms);
    json_decref(s->client_ms);
    json_decref(s->pings);
    json_decref(s->client_meta);
    free(s);
    *ret_status = 500;
    np_conn_abort(c, rc < 0 ? rc : -ENOMEM);
    return rc < 0 ? rc : -ENOMEM;
  }
  (void)uv_timer_init(np_conn_loop(c), &s->timer);
  s->timer.data = s;
  s->t0 = np_mono_ns();
  s->start_wall = np_wall_ns();
  (void)np_format_rfc3339nano(s->start_wall, s->start_str, sizeof s->start_str);
  s->next_measure = s->t0 + np_ndt7_next_interval_ns(np_random_unit());
  static const np_conn_callbacks cbs = {
      .on_data = on_data, .on_writable = on_writable, .on_close = on_close};
  np_conn_set_callbacks(c, &cbs, s);
  if (dir == NP_NDT7_DIR_DOWNLOAD) {
    s->sending = 1;
    np_conn_want_writable(c, 1, 0);
  }
  arm_timer(s, s->t0);
  *ret_status = 101;
  return 0;
}
