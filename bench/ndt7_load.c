/* Benchmark load driver: runs one ndt7 test through the public client API
 * and prints the client-side result (plus this process's CPU time) as one
 * JSON line on stdout. Not installed; bench/ndt7_bench.py builds it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <uv.h>

#include "netpulse/ndt7.h"

typedef struct {
  int done;
  np_ndt7_result res;
  uint64_t nmeasurements;
} run_state;

static void on_measurement(void *ud, const np_ndt7_measurement *m) {
  run_state *st = ud;
  (void)m;
  st->nmeasurements++;
}

static void on_done(void *ud, const np_ndt7_result *r) {
  run_state *st = ud;
  st->res = *r;
  st->done = 1;
}

static double tv_s(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

/* Prints s as a JSON string body (the error text may hold anything). */
static void put_json_string(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      printf("\\%c", *p);
    else if (*p < 0x20)
      printf("\\u%04x", *p);
    else
      putchar(*p);
  }
  putchar('"');
}

/* JSON never carries NaN/Inf (STYLE.md 11). */
static double finite_or_zero(double v) { return v == v && v < 1e300 && v > -1e300 ? v : 0; }

static void usage(void) {
  fprintf(stderr, "usage: ndt7_load --server HOST:PORT [--scheme ws|wss] "
                  "(--download|--upload) [--no-verify] [--timeout-ms MS]\n");
}

int main(int argc, char **argv) {
  np_ndt7_options o;
  memset(&o, 0, sizeof o);
  o.scheme = "ws";
  o.verify_tls = 1;
  o.family = AF_UNSPEC;
  int have_dir = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--server") == 0 && i + 1 < argc) {
      o.server = argv[++i];
    } else if (strcmp(a, "--scheme") == 0 && i + 1 < argc) {
      o.scheme = argv[++i];
    } else if (strcmp(a, "--download") == 0) {
      o.direction = NP_NDT7_DOWNLOAD;
      have_dir = 1;
    } else if (strcmp(a, "--upload") == 0) {
      o.direction = NP_NDT7_UPLOAD;
      have_dir = 1;
    } else if (strcmp(a, "--no-verify") == 0) {
      o.verify_tls = 0;
    } else if (strcmp(a, "--timeout-ms") == 0 && i + 1 < argc) {
      char *end = NULL;
      errno = 0;
      unsigned long long v = strtoull(argv[++i], &end, 10);
      if (errno || !end || *end) {
        usage();
        return 2;
      }
      o.timeout_ms = v;
    } else {
      usage();
      return 2;
    }
  }
  if (!o.server || !have_dir) {
    usage();
    return 2;
  }
  static const np_ndt7_kv meta[] = {{"client_name", "netpulse-bench"}, {"client_version", "0"}};
  o.metadata = meta;
  o.nmetadata = sizeof meta / sizeof meta[0];

  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return 1;
  run_state st;
  memset(&st, 0, sizeof st);
  np_ndt7_callbacks cbs = {.on_measurement = on_measurement, .on_done = on_done};
  int rc = np_ndt7_client_start(&loop, &o, &cbs, &st, NULL);
  if (rc < 0) {
    printf("{\"error\":%d,\"error_text\":", rc);
    put_json_string(np_ndt7_strerror(rc));
    printf("}\n");
    return 1;
  }
  (void)uv_run(&loop, UV_RUN_DEFAULT);
  (void)uv_loop_close(&loop);

  struct rusage ru;
  (void)getrusage(RUSAGE_SELF, &ru);
  const np_ndt7_result *r = &st.res;
  printf("{\"direction\":\"%s\",\"scheme\":",
         o.direction == NP_NDT7_DOWNLOAD ? "download" : "upload");
  put_json_string(o.scheme);
  printf(",\"done\":%d,\"error\":%d,\"error_text\":", st.done, r->error);
  put_json_string(r->error_text);
  printf(",\"uuid\":");
  put_json_string(r->uuid);
  printf(",\"throughput_mbps\":%.3f,\"app_bytes\":%llu,\"elapsed_us\":%llu",
         finite_or_zero(r->throughput_mbps), (unsigned long long)r->app_bytes,
         (unsigned long long)r->elapsed_us);
  printf(",\"server_bytes_received\":%llu,\"server_bytes_acked\":%llu,\"server_elapsed_us\":%llu",
         (unsigned long long)r->last.server_bytes_received,
         (unsigned long long)r->last.server_bytes_acked,
         (unsigned long long)r->last.server_elapsed_us);
  printf(",\"min_rtt_ms\":%.3f,\"measurements\":%llu,\"client_cpu_s\":%.3f}\n",
         finite_or_zero(r->min_rtt_ms), (unsigned long long)st.nmeasurements,
         tv_s(ru.ru_utime) + tv_s(ru.ru_stime));
  return st.done && r->error == 0 ? 0 : 1;
}
