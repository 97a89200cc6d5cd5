/* One HTTP/2 connection of the responsiveness client: the shared transport
 * (TLS with ALPN h2, or h2c by prior knowledge) carrying an h2 client
 * session, with its handshake times and byte counts. Internal to
 * libnetpulse. */
#ifndef NP_CLIENT_RPM_LINK_H
#define NP_CLIENT_RPM_LINK_H

#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "core/slice.h"
#include "h2/client.h"
#include "net/conn.h"
#include "net/tls.h"

typedef struct rpm_link rpm_link;

/* What the owner hears. Stream events carry the stream_ud given to
 * rpm_link_request. */
typedef struct {
  void (*on_ready)(rpm_link *l, void *ud);              /* connected, handshakes done */
  void (*on_closed)(rpm_link *l, void *ud, int status); /* link freed after */
  void (*on_response)(rpm_link *l, void *ud, int32_t id, int status, int retry_after, void *sud);
  void (*on_body)(rpm_link *l, void *ud, const uint8_t *data, size_t n, void *sud);
  void (*on_end)(rpm_link *l, void *ud, int32_t id, uint32_t error_code, void *sud);
} rpm_link_events;

struct rpm_link {
  rpm_link *prev, *next; /* the owner's list */
  np_conn *c;
  np_h2c *h;
  const rpm_link_events *ev;
  void *ud;
  int role; /* the owner's label */
  int dir;  /* the owner's label: load direction */
  int ready;
  int closing;
  int got_data;                   /* the server has sent bytes */
  int http1;                      /* and the first began "HTTP/": an HTTP/1.x server's answer */
  int rejected;                   /* our HTTP/2 session refused what the server sent (we closed) */
  uint64_t t_start, t_tcp, t_tls; /* monotonic ns: connect(), TCP done, TLS done */
  int tls_rtts;                   /* round trips of the TLS handshake (1 or 2) */
  uint64_t mark_bytes;            /* the owner's interval bookkeeping */
  size_t queue;                   /* send queue target (user space, and kernel unsent) */
  int32_t load_stream;
  int goaway;              /* the server sent GOAWAY (known once the link closed) */
  uint32_t goaway_code;    /* its error code */
  char goaway_why[64];     /* its debug data, printable */
  uint64_t bytes_in_final; /* load body bytes received, once the link closed */
  uint64_t load_body_in;   /* response body bytes of load_stream */
  char error[112];         /* why the session failed ("the server broke HTTP/2: ..."), or "" */
  char scheme[6];          /* "https" or "http" */
  char authority[300];
};

/* Opens a link to addr (tls: NULL for h2c). Events start with on_ready or
 * on_closed. 0 or a negative error (then nothing was allocated). */
int rpm_link_open(uv_loop_t *loop, const struct sockaddr *addr, np_tls_ctx *tls,
                  const char *server_name, const char *authority, np_slice payload,
                  const rpm_link_events *ev, void *ud, rpm_link **ret);

/* Starts a request on a ready link (see np_h2c_request); sends at once. */
int32_t rpm_link_request(rpm_link *l, const char *method, const char *path, const uint8_t *body,
                         size_t len, int stream_upload, void *sud);

/* Sizes the link's send queue to a few ms of bytes_per_s (its measured
 * upload rate), within [8 KiB, 1 MiB]. */
void rpm_link_pace_queue(rpm_link *l, double bytes_per_s);

/* Drops the link now (on_closed follows from the loop). */
void rpm_link_abort(rpm_link *l);

/* Goodput, in HTTP body bytes of the load stream: received / delivered to
 * the peer (TCP_INFO's acknowledged plus SACKed segments, falling back to
 * bytes written, never more than the body bytes sent). Wire bytes would
 * count whatever a server chooses to send besides the body: padding,
 * empty DATA, unknown frames, WINDOW_UPDATEs. */
uint64_t rpm_link_bytes_in(const rpm_link *l);
uint64_t rpm_link_bytes_acked(const rpm_link *l);

#endif
