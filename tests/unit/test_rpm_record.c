/* Tests for rpm/record: caps on connections, requests and samples; roles;
 * the JSON shape of a responsiveness1 record. */
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
  for (int i = 0; i < NP_RPM_MAX_CONNS; i++)
    assert_int_equal(np_rpm_record_add_conn(r, "host_1_0000000000000001", 40000 + i, 0), i);
  assert_int_equal(np_rpm_record_add_conn(r, "x", 1, 0), NP_E_TOOBIG);
  assert_int_equal(r->conns_refused, 1);
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_endpoints),
      cmocka_unit_test(test_caps_and_roles),
      cmocka_unit_test(test_json_shape),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
