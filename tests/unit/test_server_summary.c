/* Tests for data/server_summary: quantiles; phases found from the
 * requests (sequential, parallel, idle only); the figures of each phase
 * from TCP_INFO samples and request timings; the JSON shapes of both
 * records' ServerSummary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/clock.h"
#include "data/server_summary.h"
#include "rpm/record.h"

#define T0 (1000 * NP_NS_PER_S)
#define MS(x) ((uint64_t)(x)*NP_NS_PER_MS)

static void test_quantile(void **state) {
  (void)state;
  double v[] = {4, 1, 3, 2};
  assert_float_equal(np_srv_quantile(v, 4, 0.5), 2.5, 1e-9);
  assert_float_equal(np_srv_quantile(v, 4, 0.9), 3.7, 1e-9);
  assert_float_equal(np_srv_quantile(v, 4, 0), 1, 1e-9);
  assert_float_equal(np_srv_quantile(v, 4, 1), 4, 1e-9);
  double one = 7;
  assert_float_equal(np_srv_quantile(&one, 1, 0.9), 7, 1e-9);
  assert_float_equal(np_srv_quantile(NULL, 0, 0.5), 0, 1e-9);
}

static np_rpm_record *new_record(uint64_t ran_ms) {
  np_rpm_record *r = malloc(sizeof *r);
  assert_non_null(r);
  np_rpm_record_init(r, 1, T0, 1764400000LL * 1000000000LL);
  r->end_wall_ns = r->start_wall_ns + (int64_t)MS(ran_ms);
  return r;
}

static void done(np_rpm_record *r, int req, uint64_t at_ms, uint64_t sent, uint64_t received) {
  r->reqs[req].done_ns = MS(at_ms);
  r->reqs[req].sent = sent;
  r->reqs[req].received = received;
}

/* A request that arrived at at_ms and ended at end_ms. */
static void request(np_rpm_record *r, int conn, np_rpm_endpoint ep, uint64_t at_ms, uint64_t end_ms,
                    uint64_t sent, uint64_t received) {
  int q = np_rpm_record_add_request(r, conn, ep, 1, T0 + MS(at_ms));
  assert_true(q >= 0);
  done(r, q, end_ms, sent, received);
}

/* Samples every 250 ms over [from_ms, to_ms]: rtt (or rcv_rtt) in µs is
 * base_us + k * step_us for the k-th, one retransmission per sample. */
static void samples(np_rpm_record *r, int conn, uint64_t from_ms, uint64_t to_ms, uint32_t base_us,
                    uint32_t step_us, int rcv) {
  np_tcpinfo ti;
  memset(&ti, 0, sizeof ti);
  ti.min_rtt = base_us;
  uint32_t k = 0;
  for (uint64_t t = from_ms; t <= to_ms; t += 250, k++) {
    if (rcv)
      ti.rcv_rtt = base_us + k * step_us;
    else
      ti.rtt = base_us + k * step_us;
    ti.total_retrans = k + 1;
    ti.bytes_retrans = (uint64_t)(k + 1) * 1000;
    ti.bytes_sent = (uint64_t)(k + 1) * 100000;
    assert_int_equal(np_rpm_record_sample(r, conn, &ti, T0 + MS(t)), 1);
  }
}

/* Idle probes on their own connection (closed at 1.9 s), then download
 * on two connections over [2 s, 12 s], upload on one over [12.5 s, 22.5
 * s], a probe in each loaded phase. */
static np_rpm_record *sequential(void) {
  np_rpm_record *r = new_record(23000);
  int idle = np_rpm_record_add_conn(r, "i", 1, (int64_t)MS(100));
  request(r, idle, NP_RPM_EP_SMALL, 200, 203, 1, 0);
  request(r, idle, NP_RPM_EP_SMALL, 1000, 1005, 1, 0);
  r->conns[idle].has_final = 1;
  r->conns[idle].final.rtt = 40000;
  r->conns[idle].final.min_rtt = 39000;
  assert_int_equal(np_rpm_record_close_conn(r, idle, (int64_t)MS(1900), "idle"), 0);
  /* A probe connection of the idle phase that lives on into the load:
   * its minimum counts, its (loaded) smoothed RTT does not. */
  int late = np_rpm_record_add_conn(r, "p", 5, (int64_t)MS(1500));
  request(r, late, NP_RPM_EP_SMALL, 1600, 1602, 1, 0);
  r->conns[late].has_final = 1;
  r->conns[late].final.rtt = 150000;
  r->conns[late].final.min_rtt = 38000;
  int d1 = np_rpm_record_add_conn(r, "d1", 2, (int64_t)MS(1990));
  int d2 = np_rpm_record_add_conn(r, "d2", 3, (int64_t)MS(1990));
  request(r, d1, NP_RPM_EP_LARGE, 2000, 12000, 50000000, 0);
  request(r, d2, NP_RPM_EP_LARGE, 2100, 11900, 25000000, 0);
  request(r, d1, NP_RPM_EP_SMALL, 5000, 5100, 1, 0);
  /* 40 samples each: 40.0 .. 79.0 ms */
  samples(r, d1, 2250, 12000, 40000, 1000, 0);
  samples(r, d2, 2250, 12000, 40000, 1000, 0);
  int u = np_rpm_record_add_conn(r, "u", 4, (int64_t)MS(12400));
  request(r, u, NP_RPM_EP_UPLOAD, 12500, 22500, 1, 30000000);
  request(r, u, NP_RPM_EP_SMALL, 15000, 15020, 1, 0);
  request(r, u, NP_RPM_EP_SMALL, 16000, 16040, 1, 0);
  samples(r, u, 12750, 22500, 45000, 500, 1);
  return r;
}

static void test_sequential(void **state) {
  (void)state;
  np_rpm_record *r = sequential();
  np_srv_summary s;
  assert_int_equal(np_srv_summary_rpm(r, &s), 0);
  assert_false(s.phase[NP_SRV_PARALLEL].present);

  const np_srv_phase *d = &s.phase[NP_SRV_DOWNLOAD];
  assert_true(d->present);
  assert_int_equal(d->start_ns, MS(2000));
  assert_int_equal(d->end_ns, MS(12000));
  assert_int_equal(d->load_conns, 2);
  assert_int_equal(d->body_bytes, 75000000);
  assert_false(d->rcv_rtt);
  assert_int_equal(d->rtt_samples, 80);
  assert_int_equal(d->min_rtt_us, 40000);
  assert_float_equal(d->rtt_median_ms, 59.5, 1e-9);
  assert_float_equal(d->rtt_p90_ms, 75.1, 1e-6);
  assert_int_equal(d->retransmits, 80); /* 40 per connection, none before */
  assert_int_equal(d->retrans_bytes, 80000);
  assert_int_equal(d->sent_bytes, 8000000);
  assert_int_equal(d->probes, 1);
  assert_float_equal(d->probe_median_ms, 100, 1e-9);

  const np_srv_phase *u = &s.phase[NP_SRV_UPLOAD];
  assert_true(u->present);
  assert_int_equal(u->start_ns, MS(12500));
  assert_int_equal(u->end_ns, MS(22500));
  assert_int_equal(u->load_conns, 1);
  assert_int_equal(u->body_bytes, 30000000);
  assert_true(u->rcv_rtt);
  assert_int_equal(u->rtt_samples, 40);
  assert_float_equal(u->rtt_median_ms, 54.75, 1e-9);
  assert_int_equal(u->probes, 2);
  assert_float_equal(u->probe_median_ms, 30, 1e-9);

  const np_srv_phase *i = &s.phase[NP_SRV_IDLE];
  assert_true(i->present);
  assert_int_equal(i->start_ns, MS(200));
  assert_int_equal(i->end_ns, MS(1602));
  assert_int_equal(i->load_conns, 0);
  assert_int_equal(i->rtt_samples, 1);
  assert_float_equal(i->rtt_median_ms, 40, 1e-9);
  assert_int_equal(i->min_rtt_us, 38000);
  assert_int_equal(i->probes, 3);
  assert_float_equal(i->probe_median_ms, 3, 1e-9);

  json_t *j = np_srv_summary_rpm_json(&s);
  assert_non_null(j);
  assert_int_equal(json_integer_value(json_object_get(j, "SchemaVersion")), 1);
  json_t *jd = json_object_get(j, "Download"), *ju = json_object_get(j, "Upload");
  assert_non_null(json_object_get(j, "Idle"));
  assert_null(json_object_get(j, "Parallel"));
  assert_int_equal(json_integer_value(json_object_get(jd, "StartTime")), 2000000);
  assert_int_equal(json_integer_value(json_object_get(jd, "EndTime")), 12000000);
  assert_int_equal(json_integer_value(json_object_get(jd, "LoadBodyBytes")), 75000000);
  assert_float_equal(json_real_value(json_object_get(jd, "GoodputMbps")), 60, 1e-9);
  assert_string_equal(json_string_value(json_object_get(jd, "RTTSource")), "tcpi_rtt");
  assert_float_equal(json_real_value(json_object_get(jd, "MinRTTMs")), 40, 1e-9);
  assert_float_equal(json_real_value(json_object_get(jd, "LoadedRTTMedianMs")), 59.5, 1e-9);
  assert_float_equal(json_real_value(json_object_get(jd, "RetransPct")), 1, 1e-9);
  assert_float_equal(json_real_value(json_object_get(ju, "GoodputMbps")), 24, 1e-9);
  assert_string_equal(json_string_value(json_object_get(ju, "RTTSource")), "tcpi_rcv_rtt");
  assert_null(json_object_get(jd, "DownloadBodyBytes"));
  json_decref(j);
  np_rpm_record_free(r);
  free(r);
}

/* A connection that carried load before the phase counts only what the
 * phase added; samples outside the span are not loaded samples. */
static void test_deltas_and_span(void **state) {
  (void)state;
  np_rpm_record *r = new_record(10000);
  int c = np_rpm_record_add_conn(r, "c", 1, 0);
  request(r, c, NP_RPM_EP_LARGE, 1000, 4000, 1000, 0);
  samples(r, c, 500, 8000, 10000, 1000, 0); /* 31 samples, 10..40 ms */
  np_srv_summary s;
  assert_int_equal(np_srv_summary_rpm(r, &s), 0);
  const np_srv_phase *d = &s.phase[NP_SRV_DOWNLOAD];
  assert_int_equal(d->rtt_samples, 13); /* 1000 .. 4000: 12 .. 24 ms */
  assert_float_equal(d->rtt_p90_ms, 22.8, 1e-6);
  assert_int_equal(d->retransmits, 15 - 2); /* the 500 and 750 ms samples had 2 */
  assert_false(s.phase[NP_SRV_IDLE].present);
  np_rpm_record_free(r);
  free(r);
}

static void test_parallel(void **state) {
  (void)state;
  np_rpm_record *r = new_record(12000);
  int d = np_rpm_record_add_conn(r, "d", 1, 0);
  int u = np_rpm_record_add_conn(r, "u", 2, 0);
  request(r, d, NP_RPM_EP_LARGE, 1000, 11000, 100000000, 0);
  request(r, u, NP_RPM_EP_UPLOAD, 1100, 11000, 0, 10000000);
  samples(r, d, 1250, 11000, 30000, 1000, 0);
  samples(r, u, 1250, 11000, 60000, 0, 1);
  np_srv_summary s;
  assert_int_equal(np_srv_summary_rpm(r, &s), 0);
  assert_false(s.phase[NP_SRV_DOWNLOAD].present);
  assert_false(s.phase[NP_SRV_UPLOAD].present);
  const np_srv_phase *p = &s.phase[NP_SRV_PARALLEL];
  assert_true(p->present);
  assert_int_equal(p->load_conns, 2);
  assert_int_equal(p->body_bytes, 110000000);
  assert_false(p->rcv_rtt);
  assert_int_equal(p->rtt_samples, 40);
  assert_int_equal(p->up_rtt_samples, 40);
  assert_float_equal(p->up_rtt_median_ms, 60, 1e-9);
  assert_int_equal(p->min_rtt_us, 30000);
  json_t *j = np_srv_summary_rpm_json(&s);
  json_t *jp = json_object_get(j, "Parallel");
  assert_non_null(jp);
  assert_float_equal(json_real_value(json_object_get(jp, "GoodputMbps")), 88, 1e-9);
  assert_float_equal(json_real_value(json_object_get(jp, "DownloadGoodputMbps")), 80, 1e-9);
  assert_float_equal(json_real_value(json_object_get(jp, "UploadGoodputMbps")), 8, 1e-9);
  assert_string_equal(json_string_value(json_object_get(jp, "UploadRTTSource")), "tcpi_rcv_rtt");
  assert_null(json_object_get(j, "Download"));
  json_decref(j);
  np_rpm_record_free(r);
  free(r);
}

/* Nothing measured: the summary says only its version; a load connection
 * without samples has no RTT figures, not zeros. */
static void test_empty_and_unsampled(void **state) {
  (void)state;
  np_rpm_record *r = new_record(1000);
  np_srv_summary s;
  assert_int_equal(np_srv_summary_rpm(r, &s), 0);
  json_t *j = np_srv_summary_rpm_json(&s);
  assert_int_equal(json_object_size(j), 1);
  json_decref(j);
  int c = np_rpm_record_add_conn(r, "c", 1, 0);
  /* still open when the record was written: it ends with the record */
  assert_true(np_rpm_record_add_request(r, c, NP_RPM_EP_LARGE, 1, T0 + MS(100)) >= 0);
  assert_int_equal(np_srv_summary_rpm(r, &s), 0);
  assert_int_equal(s.phase[NP_SRV_DOWNLOAD].end_ns, MS(1000));
  j = np_srv_summary_rpm_json(&s);
  json_t *jd = json_object_get(j, "Download");
  assert_int_equal(json_integer_value(json_object_get(jd, "RTTSamples")), 0);
  assert_null(json_object_get(jd, "LoadedRTTMedianMs"));
  assert_null(json_object_get(jd, "MinRTTMs"));
  assert_null(json_object_get(jd, "RetransPct"));
  assert_null(json_object_get(jd, "ProbeServiceMedianMs"));
  json_decref(j);
  np_rpm_record_free(r);
  free(r);
}

static json_t *ndt7_record(void) {
  json_t *ms = json_array();
  for (int k = 0; k < 10; k++) {
    json_t *m = json_pack(
        "{s:{s:I,s:I},s:{s:I,s:I,s:I,s:I,s:I,s:I}}", "AppInfo", "NumBytes",
        (json_int_t)(k + 1) * 1000000, "ElapsedTime", (json_int_t)(k + 1) * 1000000, "TCPInfo",
        "RTT", (json_int_t)(20000 + k * 1000), "RcvRTT", (json_int_t)(k ? 30000 : 0), "MinRTT",
        (json_int_t)(19000 - k), "TotalRetrans", (json_int_t)k, "BytesRetrans", (json_int_t)k * 100,
        "BytesSent", (json_int_t)(k + 1) * 10000);
    assert_non_null(m);
    json_array_append_new(ms, m);
  }
  json_array_append_new(ms, json_pack("{s:{s:I}}", "BBRInfo", "BW", (json_int_t)1));
  return json_pack("{s:o}", "ServerMeasurements", ms);
}

static void test_ndt7(void **state) {
  (void)state;
  json_t *rec = ndt7_record();
  json_t *d = np_srv_summary_ndt7_json(rec, 0);
  assert_string_equal(json_string_value(json_object_get(d, "Direction")), "download");
  assert_int_equal(json_integer_value(json_object_get(d, "SchemaVersion")), 1);
  assert_float_equal(json_real_value(json_object_get(d, "GoodputMbps")), 8, 1e-9);
  assert_string_equal(json_string_value(json_object_get(d, "RTTSource")), "tcpi_rtt");
  assert_int_equal(json_integer_value(json_object_get(d, "RTTSamples")), 10);
  assert_float_equal(json_real_value(json_object_get(d, "MinRTTMs")), 18.991, 1e-9);
  assert_float_equal(json_real_value(json_object_get(d, "LoadedRTTMedianMs")), 24.5, 1e-9);
  assert_float_equal(json_real_value(json_object_get(d, "LoadedRTTP90Ms")), 28.1, 1e-9);
  assert_int_equal(json_integer_value(json_object_get(d, "Retransmits")), 9);
  assert_float_equal(json_real_value(json_object_get(d, "RetransPct")), 0.9, 1e-9);
  json_t *u = np_srv_summary_ndt7_json(rec, 1);
  assert_string_equal(json_string_value(json_object_get(u, "RTTSource")), "tcpi_rcv_rtt");
  assert_int_equal(json_integer_value(json_object_get(u, "RTTSamples")), 9); /* zeros skipped */
  assert_float_equal(json_real_value(json_object_get(u, "LoadedRTTMedianMs")), 30, 1e-9);
  json_decref(d);
  json_decref(u);
  /* No measurements: no RTT figures, no retransmission share. */
  json_t *none = np_srv_summary_ndt7_json(json_object_get(rec, "nothing"), 0);
  assert_non_null(none);
  assert_int_equal(json_integer_value(json_object_get(none, "RTTSamples")), 0);
  assert_null(json_object_get(none, "LoadedRTTMedianMs"));
  assert_null(json_object_get(none, "RetransPct"));
  json_decref(none);
  json_decref(rec);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_quantile),
      cmocka_unit_test(test_sequential),
      cmocka_unit_test(test_deltas_and_span),
      cmocka_unit_test(test_parallel),
      cmocka_unit_test(test_empty_and_unsampled),
      cmocka_unit_test(test_ndt7),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
