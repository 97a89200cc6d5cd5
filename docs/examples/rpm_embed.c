/* A minimal program embedding netpulse's responsiveness (RPM) client: one
 * measurement against one server, with short phases, then the result.
 *
 *   cc -std=gnu17 -I include docs/examples/rpm_embed.c build/libnetpulse.a \
 *      $(pkg-config --libs libuv jansson libssl libcrypto zlib libnghttp2) \
 *      -lpthread -lm -o rpm_embed
 *   ./rpm_embed 127.0.0.1:8080 http
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <uv.h>

#include "netpulse/rpm.h"

static int failed = 1;

static void on_progress(void *ud, const np_rpm_progress *p) {
  (void)ud;
  fprintf(stderr, "\r%-8s %4.1f s %2u flows %8.1f/%8.1f Mbit/s", np_rpm_phase_name(p->phase),
          p->elapsed_s, p->flows, p->down_mbps, p->up_mbps);
}

static void on_done(void *ud, const np_rpm_result *r) {
  (void)ud;
  fprintf(stderr, "\n");
  if (r->error != 0) {
    printf("failed: %s\n", r->error_text);
    return;
  }
  printf("RPM %.0f (%s, %s confidence): idle %.1f ms, loaded %.1f ms\n", r->rpm,
         np_rpm_band_name(r->rpm), np_rpm_confidence_text(r->confidence), r->idle_latency_ms,
         r->loaded_latency_ms);
  printf("download %.1f Mbit/s, upload %.1f Mbit/s\n",
         r->phase[NP_RPM_PHASE_DOWNLOAD].throughput_mbps,
         r->phase[NP_RPM_PHASE_UPLOAD].throughput_mbps);
  /* The summary the library sent the server, as JSON. */
  char *js = np_rpm_result_json(r);
  if (js) printf("%s\n", js);
  free(js);
  failed = !(r->rpm > 0);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s HOST[:PORT] [https|http]\n", argv[0]);
    return 2;
  }
  np_rpm_options o;
  memset(&o, 0, sizeof o); /* zero: the draft's defaults */
  o.server = argv[1];
  o.tls = !(argc > 2 && strcmp(argv[2], "http") == 0);
  o.verify_tls = 1;
  o.family = AF_UNSPEC;
  o.max_duration_ms = 5000; /* short phases for a demonstration */
  o.idle_ms = 1000;
  np_rpm_callbacks cbs = {.on_progress = on_progress, .on_done = on_done};
  uv_loop_t *loop = uv_default_loop();
  int rc = np_rpm_client_start(loop, &o, &cbs, NULL, NULL);
  if (rc < 0) {
    fprintf(stderr, "cannot start: error %d\n", rc);
    return 1;
  }
  (void)uv_run(loop, UV_RUN_DEFAULT);
  (void)uv_loop_close(loop);
  return failed;
}
