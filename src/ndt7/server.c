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
#include "ndt7/ending.h"
#include "ndt7/ndt7.h"
#include "ws/frame.h"
#include "ws/handshake.h"
#include "ws/stream.h"

#define MAX_PING_SAMPLES 128
/* Server measurements kept per test: a 15 s test at the shortest interval
 * stays far below it. */
#define MAX_SERVER_MEASUREMENTS 4096
/* A download keeps at most this much of its delivery rate unsent in the
 * kernel (at least UNSENT_MIN): enough to never starve the path, little
 * enough that our Close at 10 s reaches even a slow client well before the
 * 15 s hard stop. Without it Linux grows the send buffer to megabytes, ten
 * seconds and more of data at 1.6 Mbit/s, and the hard stop then resets the
 * connection before the client has read its way to the Close. Above
 * UNSENT_OFF the kernel's own buffer limit is the smaller one. */
#define UNSENT_MS 250
#define UNSENT_MIN (64u * 1024)
#define UNSENT_OFF (16u * 1024 * 1024)
/* Until the first rate estimate: the kernel would otherwise take its whole
 * send buffer (4 MiB) in the first milliseconds. */
#define UNSENT_START (256u * 1024)

/* One server measurement, kept as its compact JSON text: a jansson tree of
 * the same measurement costs ~6x the memory, which for 500 concurrent tests
 * is most of the server's RSS. Parsed back once, when the record is built. */
typedef struct text_node {
  struct text_node *next;
  size_t len;
  char text[];
} text_node;

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
  uint64_t sent;       /* binary payload bytes queued (download) */
  uint64_t received;   /* binary payload bytes read (upload) */
  uint64_t unsent_cap; /* download: kernel bytes unsent at most (0 = any) */
  uint64_t acked_prev; /* download: bytes_acked and when, for the rate */
  uint64_t acked_prev_ns;
  int early_exit;
  int sending;
  int ignore_input;
  int conn_gone;
  int reported;
  np_ndt7_ending end;                     /* Close sent/received, end time, result */
  text_node *server_ms, **server_ms_tail; /* oldest first */
  size_t server_ms_count;
  size_t server_ms_bytes;
  np_ndt7_client_log cms;
  json_t *pings;
  json_t *client_meta;
  unsigned meta_dropped[NP_META_DROP_N];
} session;

static const char *const kExtraKeys[] = {"early_exit", NULL};

static void measure(session *s, uint64_t now, int send);
static void arm_timer(session *s, uint64_t now);

static uint64_t elapsed_us(const session *s, uint64_t now) { return (now - s->t0) / NP_NS_PER_US; }

static void fail(session *s, const char *stage) { np_ndt7_ending_fail(&s->end, stage); }

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

/* Queues our one Close frame (np_ndt7_ending decided that it is due) and
 * stops the bulk sender. */
static void write_close(session *s, uint16_t code, const char *reason) {
  uint8_t pl[NP_WS_MAX_CONTROL];
  size_t n = np_ws_close_payload(pl, code, reason);
  (void)send_frame(s, NP_WS_OP_CLOSE, pl, n);
  s->sending = 0;
  np_conn_want_writable(s->c, 0, 0);
}

/* Ends the test from our side: final measurement, close 1000. The peer's
 * close (or EOF) then completes it; the hard stop bounds the wait. */
static void end_test(session *s, uint64_t now) {
  if (!np_ndt7_ending_local(&s->end, now)) return;
  measure(s, now, 0);
  write_close(s, NP_WS_CLOSE_NORMAL, "");
}

static void on_writable(np_conn *c, void *ud) {
  session *s = ud;
  /* Keep one message queued beyond what the kernel holds; the loop bound
   * keeps one fast connection from starving the others. */
  for (int i = 0; i < 8 && s->sending && np_conn_pending(c) == 0; i++) {
    uint64_t unsent = 0;
    if (s->unsent_cap && np_tcp_unsent(np_conn_fd(c), &unsent) == 0 && unsent >= s->unsent_cap)
      return; /* TCP_NOTSENT_LOWAT wakes us once it has drained */
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
  np_ndt7_client_log_add(&s->cms, (const char *)text.ptr, text.len,
                         (int64_t)elapsed_us(s, np_mono_ns()));
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

/* After our Close the peer's bytes no longer matter: the connection just
 * ends, without a second Close and without touching the result. */
static void protocol_error(session *s, int err) {
  int code = np_ndt7_ending_protocol_error(&s->end, err, np_mono_ns());
  if (code > 0) write_close(s, (uint16_t)code, np_strerror(err));
  s->ignore_input = 1;
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
    if (!s->end.close_sent && np_ws_stream_pong(&s->ws, ev->data) == -ENOBUFS) {
      fail(s, "send");
      np_conn_abort(s->c, -ENOBUFS);
      return 1;
    }
    break;
  case NP_WS_EV_PONG:
    on_pong(s, ev->data);
    break;
  case NP_WS_EV_CLOSE:
    /* The official upload client closes at its own 10 s, a little before
     * ours; np_ndt7_ending fails a close well before the end. */
    if (np_ndt7_ending_peer_close(&s->end, np_mono_ns())) {
      measure(s, s->end.end_ns, 0);
      write_close(s, NP_WS_CLOSE_NORMAL, "");
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

/* Sizes the unsent-bytes bound of a download from the rate at which the
 * client acknowledged data since the last sample. Not TCP_INFO's delivery
 * rate: a flow held back by the client's window delivers each window in a
 * burst, which loopback reports as tens of Gbit/s. */
static void bound_unsent(session *s, uint64_t now, uint64_t bytes_acked) {
  if (now - s->acked_prev_ns < 100 * NP_NS_PER_MS || bytes_acked < s->acked_prev) return;
  uint64_t per_ms = (bytes_acked - s->acked_prev) / ((now - s->acked_prev_ns) / NP_NS_PER_MS);
  s->acked_prev = bytes_acked;
  s->acked_prev_ns = now;
  uint64_t cap = per_ms * UNSENT_MS;
  if (cap < UNSENT_MIN) cap = UNSENT_MIN;
  if (cap >= UNSENT_OFF) cap = 0;
  if (cap == s->unsent_cap) return;
  /* Poll then reports writable only below the cap, so waiting for it does
   * not spin; UNSENT_OFF itself is far above any send buffer. */
  if (np_tcp_notsent_lowat(np_conn_fd(s->c), cap ? (uint32_t)cap : UNSENT_OFF) == 0)
    s->unsent_cap = cap;
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
  if (s->dir == NP_NDT7_DIR_DOWNLOAD && has_tcp) bound_unsent(s, now, tcp.bytes_acked);
  json_t *m = np_ndt7_measurement_json(&smp);
  char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
  json_decref(m);
  if (!text) return;
  size_t len = strlen(text);
  if (send) {
    (void)send_frame(s, NP_WS_OP_TEXT, text, len);
    (void)send_frame(s, NP_WS_OP_PING, &now, sizeof now);
  }
  text_node *n = s->server_ms_count < MAX_SERVER_MEASUREMENTS ? malloc(sizeof *n + len) : NULL;
  if (n) {
    n->next = NULL;
    n->len = len;
    memcpy(n->text, text, len);
    *s->server_ms_tail = n;
    s->server_ms_tail = &n->next;
    s->server_ms_count++;
    s->server_ms_bytes += len;
  }
  free(text);
  if (s->early_exit && has_tcp && tcp.bytes_acked >= NP_NDT7_EARLY_EXIT_BYTES &&
      np_ndt7_ending_local(&s->end, now))
    write_close(s, NP_WS_CLOSE_NORMAL, "");
}

static void on_timer(uv_timer_t *t) {
  session *s = t->data;
  uint64_t now = np_mono_ns();
  if (now - s->t0 >= s->cfg.hard_stop_ns) {
    /* After our close, a peer that never answers is not a failure. */
    np_ndt7_ending_hard_stop(&s->end, now);
    np_conn_abort(s->c, NP_E_TIMEOUT);
    return;
  }
  if (!s->end.close_sent && now - s->t0 >= s->cfg.duration_ns) {
    end_test(s, now);
  } else if (!s->end.close_sent && now >= s->next_measure) {
    measure(s, now, 1);
    s->next_measure = now + np_ndt7_next_interval_ns(np_random_unit());
  }
  arm_timer(s, now);
}

static void arm_timer(session *s, uint64_t now) {
  uint64_t due = s->t0 + s->cfg.hard_stop_ns;
  if (!s->end.close_sent) {
    uint64_t end = s->t0 + s->cfg.duration_ns;
    if (end < due) due = end;
    if (s->next_measure < due) due = s->next_measure;
  }
  uint64_t ms = due > now ? (due - now + NP_NS_PER_MS - 1) / NP_NS_PER_MS : 0;
  (void)uv_timer_start(&s->timer, on_timer, ms, 0);
}

/* The kept server measurements as one JSON array (an empty one if memory
 * runs out: the record is still written). */
static json_t *server_ms_json(const session *s) {
  size_t cap = s->server_ms_bytes + s->server_ms_count + 2;
  char *text = malloc(cap);
  json_t *a = NULL;
  if (text) {
    size_t off = 0;
    text[off++] = '[';
    for (const text_node *n = s->server_ms; n; n = n->next) {
      if (n != s->server_ms) text[off++] = ',';
      memcpy(text + off, n->text, n->len);
      off += n->len;
    }
    text[off++] = ']';
    a = json_loadb(text, off, 0, NULL);
    free(text);
  }
  return a ? a : json_array();
}

static void free_server_ms(session *s) {
  while (s->server_ms) {
    text_node *n = s->server_ms;
    s->server_ms = n->next;
    free(n);
  }
  s->server_ms_tail = &s->server_ms;
}

static json_t *build_record(session *s, int64_t end_wall) {
  char end_str[48];
  (void)np_format_rfc3339nano(end_wall, end_str, sizeof end_str);
  json_t *r = json_object();
  if (!r) return NULL;
  (void)json_object_set_new(r, "UUID", json_string(s->uuid));
  (void)json_object_set_new(r, "StartTime", json_string(s->start_str));
  (void)json_object_set_new(r, "EndTime", json_string(end_str));
  (void)json_object_set_new(r, "ServerMeasurements", server_ms_json(s));
  (void)json_object_set(r, "ClientMeasurements", s->cms.list);
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
  free_server_ms(s);
  np_ndt7_client_log_free(&s->cms);
  json_decref(s->pings);
  json_decref(s->client_meta);
  free(s);
}

static void on_close(np_conn *c, void *ud, int status) {
  session *s = ud;
  uint64_t now = np_mono_ns();
  const np_conn_stats *st = np_conn_get_stats(c);
  int success = np_ndt7_ending_closed(&s->end, status, now);
  uint64_t ran = s->end.end_ns - s->t0;
  np_ndt7_outcome o;
  memset(&o, 0, sizeof o);
  o.dir = s->dir;
  o.success = success;
  o.failure = s->end.failure;
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
  o.cm_drops = s->cms.drops;
  memcpy(o.meta_dropped, s->meta_dropped, sizeof o.meta_dropped);
  free_server_ms(s); /* now in the record: do not hold it twice */
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
  s->server_ms_tail = &s->server_ms;
  int cms_rc = np_ndt7_client_log_init(&s->cms);
  s->pings = json_array();
  s->client_meta = meta_json(&meta);
  memcpy(s->meta_dropped, meta.dropped, sizeof s->meta_dropped);
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
  if (rc < 0 || cms_rc < 0 || !s->pings || !s->client_meta) {
    np_ws_stream_free(&s->ws);
    np_ndt7_client_log_free(&s->cms);
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
  np_ndt7_ending_init(&s->end, s->t0, s->cfg.duration_ns);
  s->acked_prev_ns = s->t0;
  s->start_wall = np_wall_ns();
  (void)np_format_rfc3339nano(s->start_wall, s->start_str, sizeof s->start_str);
  s->next_measure = s->t0 + np_ndt7_next_interval_ns(np_random_unit());
  static const np_conn_callbacks cbs = {
      .on_data = on_data, .on_writable = on_writable, .on_close = on_close};
  np_conn_set_callbacks(c, &cbs, s);
  if (dir == NP_NDT7_DIR_DOWNLOAD) {
    if (np_tcp_notsent_lowat(np_conn_fd(c), UNSENT_START) == 0) s->unsent_cap = UNSENT_START;
    s->sending = 1;
    np_conn_want_writable(c, 1, 0);
  }
  arm_timer(s, s->t0);
  *ret_status = 101;
  return 0;
}
