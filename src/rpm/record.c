/* responsiveness1 records: what one measurement's connections and requests
 * did, as the server saw them, kept within fixed caps. */
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
}

void np_rpm_record_free(np_rpm_record *r) {
  if (!r) return;
  for (uint32_t i = 0; i < r->nconns; i++) free(r->conns[i].samples);
  free(r->reqs);
  json_decref(r->client_summary);
  memset(r, 0, sizeof *r);
}

int np_rpm_record_add_conn(np_rpm_record *r, const char *uuid, int client_port, int64_t accept_ns) {
  if (r->nconns == NP_RPM_MAX_CONNS) {
    r->conns_refused++;
    return NP_E_TOOBIG;
  }
  np_rpm_conn_rec *c = &r->conns[r->nconns];
  memset(c, 0, sizeof *c);
  (void)snprintf(c->uuid, sizeof c->uuid, "%s", uuid ? uuid : "");
  c->client_port = client_port;
  c->accept_ns = accept_ns;
  c->end_ns = -1;
  return (int)r->nconns++;
}

int np_rpm_record_add_request(np_rpm_record *r, int conn, np_rpm_endpoint ep, int32_t stream_id,
                              uint64_t now_ns) {
  if (conn < 0 || (uint32_t)conn >= r->nconns) return NP_E_BADARG;
  r->conns[conn].requests[ep < NP_RPM_EP_COUNT ? ep : NP_RPM_EP_OTHER]++;
  if (r->nreqs == NP_RPM_MAX_REQUESTS) {
    r->reqs_dropped++;
    return NP_E_TOOBIG;
  }
  if (r->nreqs == r->reqs_cap) {
    uint32_t cap = r->reqs_cap ? r->reqs_cap * 2 : 64;
    if (cap > NP_RPM_MAX_REQUESTS) cap = NP_RPM_MAX_REQUESTS;
    np_rpm_req_rec *n = realloc(r->reqs, cap * sizeof *n);
    if (!n) return -ENOMEM;
    r->reqs = n;
    r->reqs_cap = cap;
  }
  np_rpm_req_rec *q = &r->reqs[r->nreqs];
  memset(q, 0, sizeof *q);
  q->ep = ep;
  q->conn = (uint16_t)conn;
  q->stream_id = stream_id;
  q->arrival_ns = now_ns > r->start_mono_ns ? now_ns - r->start_mono_ns : 0;
  return (int)r->nreqs++;
}

int np_rpm_record_sample(np_rpm_record *r, int conn, const np_tcpinfo *ti, uint64_t now_ns) {
  if (conn < 0 || (uint32_t)conn >= r->nconns) return NP_E_BADARG;
  np_rpm_conn_rec *c = &r->conns[conn];
  uint64_t t = now_ns > r->start_mono_ns ? now_ns - r->start_mono_ns : 0;
  /* The sessions sample on a NP_RPM_SAMPLE_NS timer, whose ticks come a
   * little early as often as late: the gate is a quarter shorter, or every
   * other tick would be lost to jitter. */
  if (c->nsamples == NP_RPM_MAX_SAMPLES ||
      (c->nsamples > 0 && t < c->last_sample_ns + NP_RPM_SAMPLE_NS / 4 * 3))
    return 0;
  if (!c->samples) {
    c->samples = calloc(NP_RPM_MAX_SAMPLES, sizeof *c->samples);
    if (!c->samples) return -ENOMEM;
  }
  np_rpm_sample *s = &c->samples[c->nsamples++];
  s->t_ns = t;
  s->rtt = ti->rtt;
  s->rttvar = ti->rttvar;
  s->min_rtt = ti->min_rtt;
  s->snd_cwnd = ti->snd_cwnd;
  s->total_retrans = ti->total_retrans;
  s->bytes_acked = ti->bytes_acked;
  s->bytes_received = ti->bytes_received;
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
  set_int(o, "BytesAcked", (int64_t)s->bytes_acked);
  set_int(o, "BytesReceived", (int64_t)s->bytes_received);
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

static json_t *req_json(const np_rpm_req_rec *q) {
  json_t *o = json_object();
  if (!o) return NULL;
  set_str(o, "Endpoint", np_rpm_endpoint_name(q->ep));
  set_int(o, "Connection", q->conn);
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
  for (uint32_t i = 0; i < r->nconns; i++) {
    json_t *c = conn_json(r, &r->conns[i]);
    if (c) (void)json_array_append_new(conns, c);
  }
  (void)json_object_set_new(o, "Connections", conns);
  set_int(o, "ConnectionsRefused", r->conns_refused);
  for (uint32_t i = 0; i < r->nreqs; i++) {
    json_t *q = req_json(&r->reqs[i]);
    if (q) (void)json_array_append_new(reqs, q);
  }
  (void)json_object_set_new(o, "Requests", reqs);
  set_int(o, "RequestsDropped", r->reqs_dropped);
  json_t *labels = r->server_metadata ? json_deep_copy(r->server_metadata) : json_array();
  if (labels) (void)json_object_set_new(o, "ServerMetadata", labels);
  if (r->client_summary) (void)json_object_set(o, "ClientSummary", r->client_summary);
  return o;
}
