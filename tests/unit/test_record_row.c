/* Tests for data/record_row: ndt7 rows from ServerSummary or from the last
 * TCPInfo, responsiveness1 rows per phase, bundle lines, empty cells for
 * what a record does not say or says out of range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "data/record_row.h"

static int rows_of(const char *s, np_record_rows *out) {
  np_skim_span doc;
  if (np_skim_value(s, strlen(s), 0, &doc) < 0) return NP_E_JSON;
  return np_record_rows_of(s, strlen(s), doc, out);
}

#define HAS(r, c) (((r)->has >> (c)) & 1u)

static const char ndt7_dl[] =
    "{\"ClientIP\":\"192.0.2.1\",\"StartTime\":\"2026-01-01T00:00:00Z\",\"Download\":{\"UUID\":"
    "\"host_1_00000000000000AB\",\"StartTime\":\"2026-01-01T00:00:01Z\",\"ServerMeasurements\":["
    "{\"TCPInfo\":{\"BytesAcked\":1,\"ElapsedTime\":1}},{\"TCPInfo\":{\"BytesAcked\":125000000,"
    "\"ElapsedTime\":10000000,\"MinRTT\":12345,\"BytesSent\":200,\"BytesRetrans\":5}}]}}";

static void test_ndt7_from_tcpinfo(void **state) {
  (void)state;
  np_record_rows rr;
  assert_int_equal(rows_of(ndt7_dl, &rr), 0);
  assert_string_equal(rr.datatype, "ndt7");
  assert_int_equal(rr.n, 1);
  const np_row *r = &rr.rows[0];
  assert_string_equal(r->test, "download");
  assert_string_equal(r->start_time, "2026-01-01T00:00:01Z");
  assert_string_equal(r->id, "host_1_00000000000000AB");
  assert_string_equal(r->client_ip, "192.0.2.1");
  assert_int_equal(r->server_from, NP_ROW_FROM_TCPINFO);
  assert_float_equal(r->v[NP_COL_THROUGHPUT_MBPS], 100.0, 1e-9); /* 125 MB in 10 s */
  assert_float_equal(r->v[NP_COL_MIN_RTT_MS], 12.345, 1e-9);
  assert_float_equal(r->v[NP_COL_RETRANS_PCT], 2.5, 1e-9);
  assert_false(HAS(r, NP_COL_SERVER_LOADED_RTT_MS));
  assert_false(HAS(r, NP_COL_CLIENT_RPM));
}

static void test_ndt7_summary_wins(void **state) {
  (void)state;
  char s[2048];
  /* The summary as issue 19 part 1 writes it, as an extra top-level key. */
  snprintf(s, sizeof s,
           "%.*s,\"ServerSummary\":{\"SchemaVersion\":1,\"Direction\":\"download\","
           "\"GoodputMbps\":91.5,\"RTTSource\":\"tcpi_rtt\",\"RTTSamples\":40,\"MinRTTMs\":10.1,"
           "\"LoadedRTTMedianMs\":35.25,\"LoadedRTTP90Ms\":50,\"Retransmits\":3,"
           "\"RetransPct\":0.1}}",
           (int)strlen(ndt7_dl) - 1, ndt7_dl);
  np_record_rows rr;
  assert_int_equal(rows_of(s, &rr), 0);
  const np_row *r = &rr.rows[0];
  assert_int_equal(r->server_from, NP_ROW_FROM_SUMMARY);
  assert_float_equal(r->v[NP_COL_THROUGHPUT_MBPS], 91.5, 0);
  assert_float_equal(r->v[NP_COL_MIN_RTT_MS], 10.1, 0);
  assert_float_equal(r->v[NP_COL_SERVER_LOADED_RTT_MS], 35.25, 0);
  assert_float_equal(r->v[NP_COL_RETRANS_PCT], 0.1, 0);
}

static void test_ndt7_upload_no_retrans(void **state) {
  (void)state;
  const char *s = "{\"Upload\":{\"UUID\":\"u\",\"ServerMeasurements\":[{\"TCPInfo\":{"
                  "\"BytesReceived\":1000,\"ElapsedTime\":8,\"MinRTT\":-4,\"BytesSent\":9,"
                  "\"BytesRetrans\":1}}]}}";
  np_record_rows rr;
  assert_int_equal(rows_of(s, &rr), 0);
  const np_row *r = &rr.rows[0];
  assert_string_equal(r->test, "upload");
  assert_float_equal(r->v[NP_COL_THROUGHPUT_MBPS], 1000.0, 1e-9);
  assert_false(HAS(r, NP_COL_MIN_RTT_MS));  /* negative: an empty cell */
  assert_false(HAS(r, NP_COL_RETRANS_PCT)); /* the receiver's are not path loss */
  assert_string_equal(r->start_time, "");
}

static const char rpm[] =
    "{\"raw\":{\"SchemaVersion\":1,\"MeasurementID\":\"0a\",\"StartTime\":\"2026-01-01T00:00:00Z\","
    "\"ClientIP\":\"::1\",\"Connections\":[{\"x\":\"}\"}],"
    "\"ClientSummary\":{\"RPM\":1,\"Download\":{\"RPM\":900.5,\"LoadedLatencyMs\":66.63},"
    "\"Upload\":{\"RPM\":\"many\"}},"
    "\"ServerSummary\":{\"SchemaVersion\":1,\"Idle\":{\"MinRTTMs\":0.1},"
    "\"Download\":{\"GoodputMbps\":950,\"MinRTTMs\":0.05,\"LoadedRTTMedianMs\":4.5,"
    "\"RetransPct\":0.01},\"Parallel\":{\"LoadedRTTMedianMs\":7}}}}";

static void test_rpm_phases(void **state) {
  (void)state;
  np_record_rows rr;
  assert_int_equal(rows_of(rpm, &rr), 0);
  assert_string_equal(rr.datatype, "responsiveness1");
  assert_int_equal(rr.n, 3);
  assert_string_equal(rr.rows[0].test, "download");
  assert_string_equal(rr.rows[1].test, "upload");
  assert_string_equal(rr.rows[2].test, "parallel");
  const np_row *d = &rr.rows[0];
  assert_string_equal(d->id, "0a");
  assert_string_equal(d->client_ip, "::1");
  assert_float_equal(d->v[NP_COL_CLIENT_RPM], 900.5, 0);
  assert_float_equal(d->v[NP_COL_CLIENT_LOADED_LATENCY_MS], 66.63, 0);
  assert_float_equal(d->v[NP_COL_THROUGHPUT_MBPS], 950, 0);
  assert_float_equal(d->v[NP_COL_SERVER_LOADED_RTT_MS], 4.5, 0);
  assert_float_equal(d->v[NP_COL_MIN_RTT_MS], 0.05, 0);
  assert_float_equal(d->v[NP_COL_RETRANS_PCT], 0.01, 0);
  assert_int_equal(rr.rows[1].has, 0); /* "many" is not a number */
  assert_int_equal(rr.rows[2].has, 1u << NP_COL_SERVER_LOADED_RTT_MS);
}

static void test_not_records(void **state) {
  (void)state;
  np_record_rows rr;
  const char *bad[] = {"{}", "[1]", "{\"Download\":3}", "{\"raw\":{\"x\":1}}", "{\"a\":"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(rows_of(bad[i], &rr), NP_E_JSON);
    assert_int_equal(rr.n, 0);
  }
}

static void test_columns(void **state) {
  (void)state;
  const char *want[] = {"datatype",
                        "test",
                        "start_time",
                        "id",
                        "throughput_mbps",
                        "min_rtt_ms",
                        "server_loaded_rtt_ms",
                        "client_rpm",
                        "client_loaded_latency_ms",
                        "retrans_pct",
                        "file"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    assert_string_equal(np_row_columns[i], want[i]);
  assert_null(np_row_columns[sizeof want / sizeof want[0]]);
  for (int c = 0; c < NP_NCOLS; c++) assert_string_equal(np_row_numeric[c], want[4 + c]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ndt7_from_tcpinfo),
      cmocka_unit_test(test_ndt7_summary_wins),
      cmocka_unit_test(test_ndt7_upload_no_retrans),
      cmocka_unit_test(test_rpm_phases),
      cmocka_unit_test(test_not_records),
      cmocka_unit_test(test_columns),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
