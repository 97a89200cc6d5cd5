/* responsiveness1 records: what one measurement's connections and requests
 * did, as the server saw them, kept within fixed caps: full rows for load
 * and control connections and the first probes, a summary for the rest. */
#include "rpm/record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "rpm/config.h"

static const char *const ep_names[NP_RPM_EP_COUNT] = {"config", "small",  "large",
                                                      "upload", "result", "other"};

const char *np_rpm_endpoint_name(np_rpm_endpoint ep) {
  return ep >= 0 && ep < NP_RPM_EP_COUNT ? ep_names[ep] : "other";
}

np_rpm_endpoint np_rpm_endpoint_of(const char *path, size_t len) {
  static const struct {
    const char *path;
    np_rpm_endpoint ep;
  } map[] = {
      {NP_RPM_PATH_CONFIG, NP_RPM_EP_CONFIG}, {NP_RPM_PATH_CONFIG_ALT, NP_RPM_EP_CONFIG},
      {NP_RPM_PATH_SMALL, NP_RPM_EP_SMALL},   {NP_RPM_PATH_LARGE, NP_RPM_EP_LARGE},
      {NP_RPM_PATH_UPLOAD, NP_RPM_EP_UPLOAD}, {NP_RPM_PATH_RESULT, NP_RPM_EP_RESULT},
  };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strlen(map[i].path) == len && memcmp(map[i].path, path, len) == 0) return map[i].ep;
  return NP_RPM_EP_OTHER;
}

void np_rpm_record_init(np_rpm_record *r, uint64_t id, uint64_t start_mono_ns,
                        int64_t start_wall_ns) {
  memset(r, 0, sizeof *r);
  r->id = id;
  r->start_mono_ns = start_mono_ns;
  r->start_wall_ns = start_wall_ns;
  r->free_slot = UINT32_MAX;
}

void np_rpm_record_free(np_rpm_record *r) {
  if (!r) return;
  for (uint32_t i = 0; i < r->nslots; i++) free(r->conns[i].samples);
  free(r->conns);
  free(r->reqs);
  json_decref(r->client_summary);
  memset(r, 0, sizeof *r);
  r->free_slot = UINT32_MAX;
}

/* arr (cap elements of size) doubled, from first up to max elements:
 * the new array with *cap updated, or NULL (arr untouched). */
static void *grow(void *arr, uint32_t *cap, uint32_t first, uint32_t max, size_t size) {
  uint32_t n = *cap ? *cap * 2 : first;
  if (n > max) n = max;
  void *p = realloc(arr, (size_t)n * size);
  if (p) *cap = n;
  return p;
}

static np_rpm_conn_rec *open_slot(const np_rpm_record *r, int conn) {
  if (conn < 0 || (uint32_t)conn >= r->nslots || !r->conns[conn].used) return NULL;
  return &r->conns[conn];
}

/* A free slot (one a summarised connection left), or a new one. */
static int take_slot(np_rpm_record *r) {
  if (r->free_slot != UINT32_MAX) {
    uint32_t i = r->free_slot;
    r->free_slot = r->conns[i].next_free;
    return (int)i;
  }
  if (r->nslots == NP_RPM_MAX_SLOTS) return NP_E_TOOBIG; /* kept + open: unreachable */
  if (r->nslots == r->slots_cap) {
    np_rpm_conn_rec *n = grow(r->conns, &r->slots_cap, 16, NP_RPM_MAX_SLOTS, sizeof *n);
    if (!n) return -ENOMEM;
    r->conns = n;
  }
  return (int)r->nslots++;
}

int np_rpm_record_add_conn(np_rpm_record *r, const char *uuid, int client_port, int64_t accept_ns) {
  if (r->open >= NP_RPM_MAX_CONNS) {
    r->conns_refused++;
    return NP_E_TOOBIG;
  }
  int i = take_slot(r);
  if (i < 0) {
    if (i == NP_E_TOOBIG) r->conns_refused++;
    return i;
  }
  np_rpm_conn_rec *c = &r->conns[i];
  memset(c, 0, sizeof *c);
  (void)snprintf(c->uuid, sizeof c->uuid, "%s", uuid ? uuid : "");
  c->client_port = client_port;
  c->accept_ns = accept_ns;
  c->end_ns = -1;
  c->seq = r->nconns++;
  c->used = 1;
  if (++r->open > r->peak_open) r->peak_open = r->open;
  return i;
}

static int carries_load(const np_rpm_conn_rec *c) {
  return c->requests[NP_RPM_EP_LARGE] || c->requests[NP_RPM_EP_UPLOAD];
}

static void fold(np_rpm_conn_summary *s, const np_rpm_conn_rec *c) {
  if (s->count == 0 || c->accept_ns < s->first_accept_ns) s->first_accept_ns = c->accept_ns;
  if (s->count == 0 || c->accept_ns > s->last_accept_ns) s->last_accept_ns = c->accept_ns;
  s->count++;
  s->tls += c->tls ? 1 : 0;
  s->handshake_ns_sum += c->handshake_ns;
  if (c->handshake_ns > s->handshake_ns_max) s->handshake_ns_max = c->handshake_ns;
  uint64_t d = c->end_ns > c->accept_ns ? (uint64_t)(c->end_ns - c->accept_ns) : 0;
  s->duration_ns_sum += d;
  if (d > s->duration_ns_max) s->duration_ns_max = d;
  s->wire_sent += c->wire_sent;
  s->wire_received += c->wire_received;
  s->body_sent += c->body_sent;
  s->body_received += c->body_received;
  for (int e = 0; e < NP_RPM_EP_COUNT; e++) s->requests[e] += c->requests[e];
}

int np_rpm_record_close_conn(np_rpm_record *r, int conn, int64_t end_ns, const char *reason) {
  np_rpm_conn_rec *c = open_slot(r, conn);
  if (!c || c->end_ns >= 0) return NP_E_BADARG;
  c->end_ns = end_ns;
  (void)snprintf(c->end_reason, sizeof c->end_reason, "%s", reason ? reason : "");
  r->open--;
  /* Load and control connections are what the record is for; probes past
   * the first few are alike, and a client opens 100 a second of them. */
  int other = !carries_load(c) && !c->requests[NP_RPM_EP_CONFIG] && !c->requests[NP_RPM_EP_RESULT];
  if (r->kept < NP_RPM_KEEP_CONNS && (!other || r->kept_other < NP_RPM_KEEP_OTHER)) {
    r->kept++;
    r->kept_other += other ? 1 : 0;
    return 0;
  }
  fold(&r->summary, c);
  r->samples_alloc -= c->samples_cap;
  free(c->samples);
  c->samples = NULL;
  c->used = 0;
  c->next_free = r->free_slot;
  r->free_slot = (uint32_t)conn;
  return 0;
}

void np_rpm_record_totals(const np_rpm_record *r, uint64_t *ret_sent, uint64_t *ret_received,
                          uint64_t *ret_load) {
  const np_rpm_conn_summary *s = &r->summary;
  uint64_t sent = s->wire_sent, received = s->wire_received;
  uint64_t load = (uint64_t)s->requests[NP_RPM_EP_LARGE] + s->requests[NP_RPM_EP_UPLOAD];
  for (uint32_t i = 0; i < r->nslots; i++) {
    const np_rpm_conn_rec *c = &r->conns[i];
    if (!c->used) continue;
    sent += c->wire_sent;
    received += c->wire_received;
    load += (uint64_t)c->requests[NP_RPM_EP_LARGE] + c->requests[NP_RPM_EP_UPLOAD];
  }
  *ret_sent = sent;
  *ret_received = received;
  *ret_load = load;
}

int np_rpm_record_add_request(np_rpm_record *r, int conn, np_rpm_endpoint ep, int32_t stream_id,
                              uint64_t now_ns) {
  np_rpm_conn_rec *c = open_slot(r, conn);
  if (!c) return NP_E_BADARG;
  c->requests[ep < NP_RPM_EP_COUNT ? ep : NP_RPM_EP_OTHER]++;
  if (r->nreqs == NP_RPM_MAX_REQUESTS) {
    r->reqs_dropped++;
    return NP_E_TOOBIG;
  }
  if (r->nreqs == r->reqs_cap) {
    np_rpm_req_rec *n = grow(r->reqs, &r->reqs_cap, 64, NP_RPM_MAX_REQUESTS, sizeof *n);
    if (!n) return -ENOMEM;
    r->reqs = n;
  }
  np_rpm_req_rec *q = &r->reqs[r->nreqs];
  memset(q, 0, sizeof *q);
  q->ep = ep;
  q->conn = c->seq;
  q->stream_id = stream_id;
  q->arrival_ns = now_ns > r->start_mono_ns ? now_ns - r->start_mono_ns : 0;
  return (int)r->nreqs++;
}

int np_rpm_record_sample(np_rpm_record *r, int conn, const np_tcpinfo *ti, uint64_t now_ns) {
  np_rpm_conn_rec *c = open_slot(r, conn);
  if (!c) return NP_E_BADARG;
  uint64_t t = now_ns > r->start_mono_ns ? now_ns - r->start_mono_ns : 0;
  /* The sessions sample on a NP_RPM_SAMPLE_NS timer, whose ticks come a
   * little early as often as late: the gate is a quarter shorter, or every
   * other tick would be lost to jitter. */
  if (!carries_load(c) || c->nsamples == NP_RPM_MAX_SAMPLES ||
      (c->nsamples > 0 && t < c->last_sample_ns + NP_RPM_SAMPLE_NS / 4 * 3))
    return 0;
  if (c->nsamples == c->samples_cap) {
    /* The measurement's cap is on what is allocated, so the bound holds
     * whatever the doubling leaves unused. */
    uint32_t room = NP_RPM_MAX_SAMPLES_ALL - r->samples_alloc, old = c->samples_cap;
    if (room == 0) {
      r->samples_dropped++;
      return 0;
    }
    uint32_t max = old + room < NP_RPM_MAX_SAMPLES ? old + room : NP_RPM_MAX_SAMPLES;
    np_rpm_sample *n = grow(c->samples, &c->samples_cap, 8, max, sizeof *n);
    if (!n) return -ENOMEM;
    c->samples = n;
    r->samples_alloc += c->samples_cap - old;
  }
  np_rpm_sample *s = &c->samples[c->nsamples++];
  memset(s, 0, sizeof *s);
  s->t_ns = t;
  s->rtt = ti->rtt;
  s->rttvar = ti->rttvar;
  s->min_rtt = ti->min_rtt;
  s->snd_cwnd = ti->snd_cwnd;
  s->total_retrans = ti->total_retrans;
  s->rcv_rtt = ti->rcv_rtt;
  s->bytes_acked = ti->bytes_acked;
  s->bytes_received = ti->bytes_received;
  s->bytes_sent = ti->bytes_sent;
  s->bytes_retrans = ti->bytes_retrans;
  s->notsent_bytes = ti->notsent_bytes;
  s->delivery_rate = ti->delivery_rate;
  s->busy_time = ti->busy_time;
  s->rwnd_limited = ti->rwnd_limited;
  s->sndbuf_limited = ti->sndbuf_limited;
  c->last_sample_ns = t;
  return 1;
}

const char *np_rpm_conn_role(const np_rpm_conn_rec *c) {
  if (c->requests[NP_RPM_EP_UPLOAD] && c->upload_bytes >= c->large_bytes) return "load-upload";
  if (c->requests[NP_RPM_EP_LARGE]) return "load-download";
  if (c->requests[NP_RPM_EP_SMALL]) return "probe";
  if (c->requests[NP_RPM_EP_CONFIG] || c->requests[NP_RPM_EP_RESULT]) return "control";
  return "idle";
}

/* ---- JSON ------------------------------------------------------------------ */

static int64_t us(uint64_t ns) { return (int64_t)(ns / NP_NS_PER_US); }

static void set_int(json_t *o, const char *k, int64_t v) {
  (void)json_object_set_new(o, k, json_integer(v));
}

static void set_str(json_t *o, const char *k, const char *v) {
  (void)json_object_set_new(o, k, json_string(v ? v : ""));
}

static json_t *sample_json(const np_rpm_sample *s) {
  json_t *o = json_object();
  if (!o) return NULL;
  set_int(o, "ElapsedTime", us(s->t_ns));
  set_int(o, "RTT", s->rtt);
  set_int(o, "RTTVar", s->rttvar);
  set_int(o, "MinRTT", s->min_rtt);
  set_int(o, "SndCwnd", s->snd_cwnd);
  set_int(o, "TotalRetrans", s->total_retrans);
  set_int(o, "RcvRTT", s->rcv_rtt);
  set_int(o, "BytesAcked", (int64_t)s->bytes_acked);
  set_int(o, "BytesReceived", (int64_t)s->bytes_received);
  set_int(o, "BytesSent", (int64_t)s->bytes_sent);
  set_int(o, "BytesRetrans", (int64_t)s->bytes_retrans);
  set_int(o, "NotsentBytes", (int64_t)s->notsent_bytes);
  set_int(o, "DeliveryRate", (int64_t)s->delivery_rate);
  set_int(o, "BusyTime", (int64_t)s->busy_time);
  set_int(o, "RWndLimited", (int64_t)s->rwnd_limited);
  set_int(o, "SndBufLimited", (int64_t)s->sndbuf_limited);
  return o;
}

static json_t *conn_json(const np_rpm_record *r, const np_rpm_conn_rec *c) {
  json_t *o = json_object(), *samples = json_array(), *reqs = json_object();
  if (!o || !samples || !reqs) {
    json_decref(o);
    json_decref(samples);
    json_decref(reqs);
    return NULL;
  }
  set_str(o, "UUID", c->uuid);
  set_str(o, "Role", np_rpm_conn_role(c));
  set_int(o, "ClientPort", c->client_port);
  set_str(o, "ALPN", c->alpn);
  if (c->tls) {
    set_str(o, "TLSVersion", c->tls_version);
    set_str(o, "TLSCipher", c->cipher);
    set_int(o, "HandshakeTime", us(c->handshake_ns));
  }
  set_str(o, "CongestionControl", c->congestion);
  set_int(o, "AcceptTime", c->accept_ns / (int64_t)NP_NS_PER_US);
  if (c->end_ns >= 0) set_int(o, "EndTime", c->end_ns / (int64_t)NP_NS_PER_US);
  set_str(o, "EndReason", c->end_reason);
  set_int(o, "WireBytesSent", (int64_t)c->wire_sent);
  set_int(o, "WireBytesReceived", (int64_t)c->wire_received);
  set_int(o, "BodyBytesSent", (int64_t)c->body_sent);
  set_int(o, "BodyBytesReceived", (int64_t)c->body_received);
  for (int e = 0; e < NP_RPM_EP_COUNT; e++) set_int(reqs, ep_names[e], c->requests[e]);
  (void)json_object_set_new(o, "RequestCounts", reqs);
  if (c->has_final) {
    int64_t el = c->end_ns > c->accept_ns ? (c->end_ns - c->accept_ns) / 1000 : 0;
    json_t *ti = np_tcpinfo_json(&c->final, el);
    if (ti) (void)json_object_set_new(o, "TCPInfo", ti);
  }
  for (uint32_t i = 0; i < c->nsamples; i++) {
    json_t *s = sample_json(&c->samples[i]);
    if (s) (void)json_array_append_new(samples, s);
  }
  (void)json_object_set_new(o, "TCPInfoSamples", samples);
  (void)r;
  return o;
}

/* The rows in join order: Connections[i] is the i-th of them. */
typedef struct {
  uint32_t seq, slot;
} row_ref;

static int by_seq(const void *a, const void *b) {
  uint32_t x = ((const row_ref *)a)->seq, y = ((const row_ref *)b)->seq;
  return x < y ? -1 : x > y;
}

/* The position in Connections of the connection with seq, or -1 when it
 * was summarised. */
static int64_t row_of(const row_ref *rows, uint32_t n, uint32_t seq) {
  row_ref key = {seq, 0};
  const row_ref *hit = bsearch(&key, rows, n, sizeof *rows, by_seq);
  return hit ? hit - rows : -1;
}

static json_t *summary_json(const np_rpm_conn_summary *s) {
  json_t *o = json_object(), *reqs = json_object();
  if (!o || !reqs) {
    json_decref(o);
    json_decref(reqs);
    return NULL;
  }
  set_int(o, "Count", s->count);
  set_int(o, "TLS", s->tls);
  if (s->count) {
    set_int(o, "FirstAcceptTime", s->first_accept_ns / (int64_t)NP_NS_PER_US);
    set_int(o, "LastAcceptTime", s->last_accept_ns / (int64_t)NP_NS_PER_US);
  }
  set_int(o, "HandshakeTimeSum", us(s->handshake_ns_sum));
  set_int(o, "HandshakeTimeMax", us(s->handshake_ns_max));
  set_int(o, "DurationSum", us(s->duration_ns_sum));
  set_int(o, "DurationMax", us(s->duration_ns_max));
  set_int(o, "WireBytesSent", (int64_t)s->wire_sent);
  set_int(o, "WireBytesReceived", (int64_t)s->wire_received);
  set_int(o, "BodyBytesSent", (int64_t)s->body_sent);
  set_int(o, "BodyBytesReceived", (int64_t)s->body_received);
  for (int e = 0; e < NP_RPM_EP_COUNT; e++) set_int(reqs, ep_names[e], s->requests[e]);
  (void)json_object_set_new(o, "RequestCounts", reqs);
  return o;
}

static json_t *req_json(const np_rpm_req_rec *q, const row_ref *rows, uint32_t nrows) {
  json_t *o = json_object();
  if (!o) return NULL;
  set_str(o, "Endpoint", np_rpm_endpoint_name(q->ep));
  /* Absent when its connection has no row (SummarizedConnections). */
  int64_t row = row_of(rows, nrows, q->conn);
  if (row >= 0) set_int(o, "Connection", row);
  set_int(o, "StreamID", q->stream_id);
  set_int(o, "Status", q->status);
  set_int(o, "Arrival", us(q->arrival_ns));
  if (q->first_byte_ns) set_int(o, "FirstByte", us(q->first_byte_ns));
  if (q->done_ns) set_int(o, "Done", us(q->done_ns));
  set_int(o, "BytesSent", (int64_t)q->sent);
  set_int(o, "BytesReceived", (int64_t)q->received);
  if (q->h2_error) set_int(o, "H2Error", q->h2_error);
  return o;
}

json_t *np_rpm_record_json(const np_rpm_record *r, const char *git_commit, const char *version) {
  json_t *o = json_object(), *conns = json_array(), *reqs = json_array();
  if (!o || !conns || !reqs) {
    json_decref(o);
    json_decref(conns);
    json_decref(reqs);
    return NULL;
  }
  char start[48] = "", end[48] = "", id[24];
  (void)np_format_rfc3339nano(r->start_wall_ns, start, sizeof start);
  (void)np_format_rfc3339nano(r->end_wall_ns, end, sizeof end);
  (void)snprintf(id, sizeof id, "%016llx", (unsigned long long)r->id);
  set_int(o, "SchemaVersion", 1);
  set_str(o, "MeasurementID", id);
  set_str(o, "GitShortCommit", git_commit);
  set_str(o, "Version", version);
  set_str(o, "Protocol", r->protocol);
  set_str(o, "ServerIP", r->server_ip);
  set_int(o, "ServerPort", r->server_port);
  set_str(o, "ClientIP", r->client_ip);
  set_str(o, "StartTime", start);
  set_str(o, "EndTime", end);
  set_str(o, "EndReason", r->end_reason);
  row_ref *rows = malloc((r->nslots ? r->nslots : 1) * sizeof *rows);
  json_t *sum = summary_json(&r->summary);
  if (!rows || !sum) {
    free(rows);
    json_decref(sum);
    json_decref(o);
    json_decref(conns);
    json_decref(reqs);
    return NULL;
  }
  uint32_t nrows = 0;
  for (uint32_t i = 0; i < r->nslots; i++)
    if (r->conns[i].used) rows[nrows++] = (row_ref){r->conns[i].seq, i};
  qsort(rows, nrows, sizeof *rows, by_seq);
  for (uint32_t i = 0; i < nrows; i++) {
    json_t *c = conn_json(r, &r->conns[rows[i].slot]);
    if (c) (void)json_array_append_new(conns, c);
  }
  (void)json_object_set_new(o, "Connections", conns);
  set_int(o, "ConnectionsRefused", r->conns_refused);
  set_int(o, "ConnectionsJoined", r->nconns);
  set_int(o, "ConnectionsPeakOpen", r->peak_open);
  (void)json_object_set_new(o, "SummarizedConnections", sum);
  for (uint32_t i = 0; i < r->nreqs; i++) {
    json_t *q = req_json(&r->reqs[i], rows, nrows);
    if (q) (void)json_array_append_new(reqs, q);
  }
  free(rows);
  (void)json_object_set_new(o, "Requests", reqs);
  set_int(o, "RequestsDropped", r->reqs_dropped);
  set_int(o, "TCPInfoSamplesDropped", r->samples_dropped);
  json_t *labels = r->server_metadata ? json_deep_copy(r->server_metadata) : json_array();
  if (labels) (void)json_object_set_new(o, "ServerMetadata", labels);
  if (r->client_summary) (void)json_object_set(o, "ClientSummary", r->client_summary);
  return o;
}
