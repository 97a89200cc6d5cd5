/* Tests for rpm/record: caps on connections, requests and samples; roles;
 * probe churn summarised; the JSON shape of a responsiveness1 record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/clock.h"
#include "core/error.h"
#include "rpm/record.h"

static void test_endpoints(void **state) {
  (void)state;
  assert_int_equal(np_rpm_endpoint_of("/.well-known/nq", 15), NP_RPM_EP_CONFIG);
  assert_int_equal(np_rpm_endpoint_of("/config", 7), NP_RPM_EP_CONFIG);
  assert_int_equal(np_rpm_endpoint_of("/rpm/v1/small", 13), NP_RPM_EP_SMALL);
  assert_int_equal(np_rpm_endpoint_of("/rpm/v1/large", 13), NP_RPM_EP_LARGE);
  assert_int_equal(np_rpm_endpoint_of("/rpm/v1/upload", 14), NP_RPM_EP_UPLOAD);
  assert_int_equal(np_rpm_endpoint_of("/rpm/v1/result", 14), NP_RPM_EP_RESULT);
  assert_int_equal(np_rpm_endpoint_of("/rpm/v1/smal", 12), NP_RPM_EP_OTHER);
  assert_string_equal(np_rpm_endpoint_name(NP_RPM_EP_UPLOAD), "upload");
}

static void test_caps_and_roles(void **state) {
  (void)state;
  np_rpm_record *r = malloc(sizeof *r);
  uint64_t t0 = 100 * NP_NS_PER_S;
  np_rpm_record_init(r, 0xabcdef, t0, 1764400000LL * 1000000000LL);
  /* The cap is on connections open at once. */
  for (int i = 0; i < NP_RPM_MAX_CONNS; i++)
    assert_int_equal(np_rpm_record_add_conn(r, "host_1_0000000000000001", 40000 + i, 0), i);
  assert_int_equal(np_rpm_record_add_conn(r, "x", 1, 0), NP_E_TOOBIG);
  assert_int_equal(r->conns_refused, 1);
  assert_int_equal(r->peak_open, NP_RPM_MAX_CONNS);
  /* Roles from what each connection carried. */
  assert_true(np_rpm_record_add_request(r, 0, NP_RPM_EP_CONFIG, 1, t0) >= 0);
  assert_true(np_rpm_record_add_request(r, 1, NP_RPM_EP_LARGE, 1, t0) >= 0);
  r->conns[1].large_bytes = 1000;
  assert_true(np_rpm_record_add_request(r, 1, NP_RPM_EP_SMALL, 3, t0) >= 0);
  assert_true(np_rpm_record_add_request(r, 2, NP_RPM_EP_UPLOAD, 1, t0) >= 0);
  r->conns[2].upload_bytes = 5000;
  assert_true(np_rpm_record_add_request(r, 3, NP_RPM_EP_SMALL, 1, t0) >= 0);
  assert_string_equal(np_rpm_conn_role(&r->conns[0]), "control");
  assert_string_equal(np_rpm_conn_role(&r->conns[1]), "load-download");
  assert_string_equal(np_rpm_conn_role(&r->conns[2]), "load-upload");
  assert_string_equal(np_rpm_conn_role(&r->conns[3]), "probe");
  assert_string_equal(np_rpm_conn_role(&r->conns[4]), "idle");
  /* Requests beyond the cap are counted, not kept. */
  for (int i = r->nreqs; i < NP_RPM_MAX_REQUESTS; i++)
    assert_true(np_rpm_record_add_request(r, 5, NP_RPM_EP_SMALL, 2 * i + 1, t0 + i) >= 0);
  assert_int_equal(np_rpm_record_add_request(r, 5, NP_RPM_EP_SMALL, 1, t0), NP_E_TOOBIG);
  assert_int_equal(r->reqs_dropped, 1);
  assert_int_equal(np_rpm_record_add_request(r, NP_RPM_MAX_CONNS + 1, NP_RPM_EP_SMALL, 1, t0),
                   NP_E_BADARG);
  /* Samples: at most one per 250 ms, at most NP_RPM_MAX_SAMPLES. */
  np_tcpinfo ti;
  memset(&ti, 0, sizeof ti);
  ti.rtt = 40000;
  assert_int_equal(np_rpm_record_sample(r, 1, &ti, t0), 1);
  assert_int_equal(np_rpm_record_sample(r, 1, &ti, t0 + 100 * NP_NS_PER_MS), 0);
  assert_int_equal(np_rpm_record_sample(r, 1, &ti, t0 + 250 * NP_NS_PER_MS), 1);
  for (int i = 2; i < NP_RPM_MAX_SAMPLES + 10; i++)
    (void)np_rpm_record_sample(r, 1, &ti, t0 + (uint64_t)i * NP_NS_PER_S);
  assert_int_equal(r->conns[1].nsamples, NP_RPM_MAX_SAMPLES);
  /* The measurement's samples are capped, whatever the connections:
   * 40 load flows of 120 samples each would be 4800. */
  for (int c = 100; c < 140; c++) {
    /* (past the request cap: counted on the connection all the same) */
    assert_int_equal(np_rpm_record_add_request(r, c, NP_RPM_EP_LARGE, 1, t0), NP_E_TOOBIG);
    for (int i = 0; i < NP_RPM_MAX_SAMPLES; i++)
      (void)np_rpm_record_sample(r, c, &ti, t0 + (uint64_t)i * NP_NS_PER_S);
  }
  uint32_t kept = 0;
  for (int c = 0; c < 140; c++) kept += r->conns[c].nsamples;
  assert_int_equal(kept, NP_RPM_MAX_SAMPLES_ALL);
  assert_int_equal(r->samples_alloc, NP_RPM_MAX_SAMPLES_ALL);
  assert_int_equal(r->samples_dropped, 40 * NP_RPM_MAX_SAMPLES + NP_RPM_MAX_SAMPLES - kept);
  /* Connections that carry no load keep only their last snapshot. */
  assert_int_equal(np_rpm_record_sample(r, 3, &ti, t0), 0);
  assert_int_equal(r->conns[3].nsamples, 0);
  /* One closes: a slot for one more (and the closed row is kept: it is
   * among the first probes). */
  assert_int_equal(np_rpm_record_close_conn(r, 3, 1000, "peer-closed"), 0);
  assert_int_equal(np_rpm_record_close_conn(r, 3, 2000, "again"), NP_E_BADARG);
  assert_int_equal(np_rpm_record_add_conn(r, "y", 2, 0), NP_RPM_MAX_CONNS);
  assert_int_equal(r->conns_refused, 1);
  np_rpm_record_free(r);
  np_rpm_record_free(NULL);
  free(r);
}

static void test_json_shape(void **state) {
  (void)state;
  np_rpm_record *r = malloc(sizeof *r);
  uint64_t t0 = 5 * NP_NS_PER_S;
  np_rpm_record_init(r, 0x0123456789abcdefULL, t0, 1764400000LL * 1000000000LL);
  r->end_wall_ns = r->start_wall_ns + 20 * (int64_t)NP_NS_PER_S;
  strcpy(r->protocol, "h2");
  strcpy(r->client_ip, "192.0.2.1");
  strcpy(r->server_ip, "192.0.2.2");
  r->server_port = 443;
  strcpy(r->end_reason, "idle");
  int c = np_rpm_record_add_conn(r, "host_1_00000000000000AA", 50000, -1000);
  r->conns[c].tls = 1;
  strcpy(r->conns[c].alpn, "h2");
  strcpy(r->conns[c].tls_version, "TLSv1.3");
  strcpy(r->conns[c].cipher, "TLS_AES_128_GCM_SHA256");
  strcpy(r->conns[c].congestion, "cubic");
  r->conns[c].handshake_ns = 2 * NP_NS_PER_MS;
  r->conns[c].end_ns = 19 * (int64_t)NP_NS_PER_S;
  int q = np_rpm_record_add_request(r, c, NP_RPM_EP_LARGE, 1, t0 + NP_NS_PER_MS);
  r->reqs[q].status = 200;
  r->reqs[q].first_byte_ns = 2 * NP_NS_PER_MS;
  r->reqs[q].sent = 123456;
  r->conns[c].large_bytes = 123456;
  np_tcpinfo ti;
  memset(&ti, 0, sizeof ti);
  ti.rtt = 1234;
  (void)np_rpm_record_sample(r, c, &ti, t0 + NP_NS_PER_S);
  r->client_summary = json_pack("{s:f}", "RPM", 800.0);
  json_t *j = np_rpm_record_json(r, "abc1234", "netpulse-0.1.0");
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "MeasurementID")), "0123456789abcdef");
  assert_string_equal(json_string_value(json_object_get(j, "StartTime")), "2025-11-29T07:06:40Z");
  json_t *conn = json_array_get(json_object_get(j, "Connections"), 0);
  assert_string_equal(json_string_value(json_object_get(conn, "Role")), "load-download");
  assert_string_equal(json_string_value(json_object_get(conn, "UUID")), "host_1_00000000000000AA");
  assert_int_equal(json_integer_value(json_object_get(conn, "AcceptTime")), -1);
  assert_int_equal(json_integer_value(json_object_get(conn, "HandshakeTime")), 2000);
  json_t *s = json_array_get(json_object_get(conn, "TCPInfoSamples"), 0);
  assert_int_equal(json_integer_value(json_object_get(s, "RTT")), 1234);
  assert_int_equal(json_integer_value(json_object_get(s, "ElapsedTime")), 1000000);
  json_t *req = json_array_get(json_object_get(j, "Requests"), 0);
  assert_string_equal(json_string_value(json_object_get(req, "Endpoint")), "large");
  assert_int_equal(json_integer_value(json_object_get(req, "Arrival")), 1000);
  assert_int_equal(json_integer_value(json_object_get(req, "FirstByte")), 2000);
  assert_true(json_real_value(json_object_get(json_object_get(j, "ClientSummary"), "RPM")) ==
              800.0);
  /* One line: the compact dump holds no newline. */
  char *text = json_dumps(j, JSON_COMPACT);
  assert_null(strchr(text, '\n'));
  free(text);
  json_decref(j);
  np_rpm_record_free(r);
  free(r);
}

/* A client opening a connection per probe, 100 a second for 50 s: none is
 * refused, the record keeps the load and control rows and the first
 * probes, and sums the rest; its slots stay few. */
static void test_probe_churn(void **state) {
  (void)state;
  np_rpm_record *r = malloc(sizeof *r);
  uint64_t t0 = NP_NS_PER_S;
  np_rpm_record_init(r, 1, t0, 1764400000LL * 1000000000LL);
  int cfg = np_rpm_record_add_conn(r, "u_cfg", 1, 0);
  assert_true(np_rpm_record_add_request(r, cfg, NP_RPM_EP_CONFIG, 1, t0) >= 0);
  int load = np_rpm_record_add_conn(r, "u_load", 2, 0);
  assert_true(np_rpm_record_add_request(r, load, NP_RPM_EP_LARGE, 1, t0) >= 0);
  int late = -1, probe_req = -1;
  uint32_t late_seq = 0;
  for (int i = 0; i < 5000; i++) {
    uint64_t t = t0 + (uint64_t)i * 10 * NP_NS_PER_MS;
    int c = np_rpm_record_add_conn(r, "u_probe", 10000 + i, (int64_t)(t - t0));
    assert_true(c >= 0);
    r->conns[c].tls = 1;
    r->conns[c].handshake_ns = 3 * NP_NS_PER_MS;
    r->conns[c].wire_sent = 1000;
    int q = np_rpm_record_add_request(r, c, i == 4000 ? NP_RPM_EP_UPLOAD : NP_RPM_EP_SMALL, 1, t);
    if (i == 4999) probe_req = q;
    if (i == 4000) {
      late = c; /* a load connection late in the run: kept, on a reused slot */
      late_seq = r->conns[c].seq;
      continue;
    }
    assert_int_equal(np_rpm_record_close_conn(r, c, (int64_t)(t - t0 + 5 * NP_NS_PER_MS), "idle"),
                     0);
  }
  assert_int_equal(r->conns_refused, 0);
  assert_int_equal(r->nconns, 5002);
  assert_int_equal(r->summary.count, 4999 - NP_RPM_KEEP_OTHER);
  assert_int_equal(r->summary.tls, 4999 - NP_RPM_KEEP_OTHER);
  assert_int_equal(r->summary.wire_sent, 1000ull * (4999 - NP_RPM_KEEP_OTHER));
  assert_int_equal(r->summary.duration_ns_max, 5 * NP_NS_PER_MS);
  assert_true(r->nslots <= 2 + NP_RPM_KEEP_OTHER + 2);
  assert_true(late < (int)r->nslots);
  uint64_t sent, received, loads;
  np_rpm_record_totals(r, &sent, &received, &loads);
  assert_int_equal(sent, 5000ull * 1000);
  assert_int_equal(loads, 2);
  json_t *j = np_rpm_record_json(r, "abc", "v");
  assert_non_null(j);
  json_t *conns = json_object_get(j, "Connections");
  assert_int_equal(json_array_size(conns), 2 + NP_RPM_KEEP_OTHER + 1);
  json_t *sum = json_object_get(j, "SummarizedConnections");
  assert_int_equal(json_integer_value(json_object_get(sum, "Count")), 4999 - NP_RPM_KEEP_OTHER);
  assert_int_equal(json_integer_value(json_object_get(sum, "HandshakeTimeMax")), 3000);
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(sum, "RequestCounts"), "small")),
      4999 - NP_RPM_KEEP_OTHER);
  assert_int_equal(json_integer_value(json_object_get(j, "ConnectionsJoined")), 5002);
  assert_int_equal(json_integer_value(json_object_get(j, "ConnectionsPeakOpen")), 4);
  /* Rows come in join order; a request names its connection's row, or
   * none when that connection was summarised. */
  json_t *last = json_array_get(conns, json_array_size(conns) - 1);
  assert_string_equal(json_string_value(json_object_get(last, "Role")), "load-upload");
  json_t *reqs = json_object_get(j, "Requests");
  json_t *up = NULL;
  for (size_t i = 0; i < json_array_size(reqs); i++) {
    json_t *q = json_array_get(reqs, i);
    if (strcmp(json_string_value(json_object_get(q, "Endpoint")), "upload") == 0) up = q;
  }
  assert_non_null(up);
  assert_int_equal(json_integer_value(json_object_get(up, "Connection")),
                   (json_int_t)json_array_size(conns) - 1);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 1), "Connection")), 1);
  assert_null(json_object_get(json_array_get(reqs, probe_req), "Connection"));
  assert_int_equal(r->conns[late].seq, late_seq);
  json_decref(j);
  np_rpm_record_free(r);
  free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_endpoints),
      cmocka_unit_test(test_caps_and_roles),
      cmocka_unit_test(test_probe_churn),
      cmocka_unit_test(test_json_shape),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
