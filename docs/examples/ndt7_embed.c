/* A minimal program embedding netpulse's ndt7 client: runs a download and
 * then an upload against one server and prints what it measured.
 *
 *   cc -std=gnu17 -I include docs/examples/ndt7_embed.c build/libnetpulse.a \
 *      $(pkg-config --libs libuv jansson libssl libcrypto zlib) \
 *      -lpthread -lm -o ndt7_embed
 *   ./ndt7_embed 127.0.0.1:8080 ws
 *
 * Only run it against a server whose data policy your users accepted. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <uv.h>

#include "netpulse/ndt7.h"

typedef struct {
  const char *server, *scheme;
  int failures;
} run;

static void start(uv_loop_t *loop, run *r, np_ndt7_direction dir);

static void on_measurement(void *ud, const np_ndt7_measurement *m) {
  (void)ud;
  if (m->has_server) /* the server's view, from its TCP_INFO */
    fprintf(stderr, "  server: %6.2f s %10.1f Mbit/s  rtt %.1f ms\n",
            (double)m->server_elapsed_us / 1e6, m->server_mbps, (double)m->server_rtt_us / 1e3);
  else /* the client's own count, about every 250 ms */
    fprintf(stderr, "  client: %6.2f s %10.1f Mbit/s\n", (double)m->elapsed_us / 1e6,
            m->client_mbps);
}

static void on_done(void *ud, const np_ndt7_result *res) {
  run *r = ud;
  const char *name = res->direction == NP_NDT7_DOWNLOAD ? "download" : "upload";
  if (res->error) {
    r->failures++;
    printf("%s failed: %s", name, res->error_text);
    if (res->retry_after_s > 0) printf(" (retry after %d s)", res->retry_after_s);
    printf("\n");
  } else {
    printf("%s: %.1f Mbit/s, min RTT %.3f ms, loaded RTT %.3f ms, retrans %.2f %%, uuid %s\n", name,
           res->throughput_mbps, res->min_rtt_ms, res->loaded_rtt_ms, res->retrans_pct, res->uuid);
  }
  /* The client is freed after this returns; starting the next test here is
   * fine. */
  if (res->direction == NP_NDT7_DOWNLOAD) start(uv_default_loop(), r, NP_NDT7_UPLOAD);
}

static void start(uv_loop_t *loop, run *r, np_ndt7_direction dir) {
  static const np_ndt7_kv meta[] = {
      {"client_name", "ndt7-embed-example"},
      {"client_version", "1.0"},
      {"client_library_name", "libnetpulse"},
  };
  np_ndt7_options o = {
      .server = r->server,
      .scheme = r->scheme,
      .direction = dir,
      .verify_tls = 1,
      .family = AF_UNSPEC,
      .metadata = meta,
      .nmetadata = sizeof meta / sizeof meta[0],
  };
  np_ndt7_callbacks cbs = {.on_measurement = on_measurement, .on_done = on_done};
  int rc = np_ndt7_client_start(loop, &o, &cbs, r, NULL);
  if (rc < 0) {
    fprintf(stderr, "cannot start: %s\n", np_ndt7_strerror(rc));
    r->failures++;
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s HOST[:PORT] [ws|wss]\n", argv[0]);
    return 2;
  }
  run r = {.server = argv[1], .scheme = argc > 2 ? argv[2] : "wss"};
  start(uv_default_loop(), &r, NP_NDT7_DOWNLOAD);
  (void)uv_run(uv_default_loop(), UV_RUN_DEFAULT);
  (void)uv_loop_close(uv_default_loop());
  return r.failures;
}
