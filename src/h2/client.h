/* HTTP/2 client connections over nghttp2, without I/O: received bytes go
 * in, bytes to write go out through a callback (small frames copied, bulk
 * upload bodies referenced from a shared payload), responses go up as
 * events. Used by the responsiveness client for h2 (TLS, ALPN) and h2c
 * (prior knowledge) alike. */
#ifndef NP_H2_CLIENT_H
#define NP_H2_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/slice.h"

typedef struct np_h2c np_h2c;

typedef struct {
  /* Bytes to write, in order: copy[0..ncopy) must be copied before the
   * call returns; ref[0..nref) (may be empty) points into the payload
   * given to np_h2c_new and may be referenced. Return 0, or < 0 to fail
   * the connection. */
  int (*write)(void *ud, const uint8_t *copy, size_t ncopy, const uint8_t *ref, size_t nref);
  /* The final response headers of stream id arrived, once (status is
   * :status, 200-999: 1xx responses are not reported; retry_after the
   * Retry-After seconds, -1 when absent or not a number). */
  void (*on_response)(void *ud, int32_t id, int status, int retry_after, void *stream_ud);
  /* n response body bytes arrived on stream id (not kept: count them). */
  void (*on_body)(void *ud, int32_t id, const uint8_t *data, size_t n, void *stream_ud);
  /* Stream id ended: error_code 0 for a complete response, else the
   * HTTP/2 error (RST_STREAM, or the connection failing). */
  void (*on_close)(void *ud, int32_t id, uint32_t error_code, void *stream_ud);
} np_h2c_callbacks;

/* Creates a client connection and queues its preface and SETTINGS (a
 * receive window of window bytes per stream and for the connection).
 * payload (>= 16 KiB) is what streamed upload bodies are cut from; the
 * caller keeps it alive longer than the connection. 0, NP_E_BADARG,
 * -ENOMEM; *ret untouched on failure. */
int np_h2c_new(np_h2c **ret, const np_h2c_callbacks *cb, void *ud, np_slice payload,
               uint32_t window);

/* Frees the connection; streams still open get no callback. NULL-safe. */
void np_h2c_free(np_h2c *h);

/* Feeds received bytes. 0, NP_E_PROTO (the peer broke the protocol, or
 * does not speak HTTP/2, or sent a response header block over the 16 KiB
 * we advertise: the session is dead, np_h2c_error says why; a GOAWAY may
 * have gone to write), or -ENOMEM. */
int np_h2c_recv(np_h2c *h, const uint8_t *data, size_t len);

/* Makes frames and hands them to write until about max_bytes went out or
 * nothing is left to send now: beyond max_bytes at most one upload DATA
 * frame and the one frame nghttp2 makes with it (16 KiB at most), and
 * upload frames no larger than max_bytes (16 KiB at least), since every
 * byte written is ahead of later requests. Returns the bytes written
 * (>= 0) or a negative error. */
long long np_h2c_flush(np_h2c *h, size_t max_bytes);

/* Whether nghttp2 has something to send (frames, or upload data that flow
 * control allows). */
int np_h2c_want_write(const np_h2c *h);

/* The peer's GOAWAY: its debug data (printable, at most 63 bytes, maybe
 * empty) and *code, or NULL when it sent none. Valid until np_h2c_free. */
const char *np_h2c_goaway_reason(const np_h2c *h, uint32_t *code);

/* Why the session failed, for a user ("the server broke HTTP/2: invalid
 * SETTINGS_MAX_FRAME_SIZE", "the server does not speak HTTP/2"), or NULL.
 * Valid until np_h2c_free. */
const char *np_h2c_error(const np_h2c *h);

/* Whether the peer sent GOAWAY or the session can no longer be used. */
int np_h2c_dead(const np_h2c *h);

/* Starts a request. body: NULL for none; else body_len bytes copied.
 * stream_upload: a body with no end, cut from the payload (the stream runs
 * until reset). Returns the stream id (> 0) or a negative error. stream_ud
 * comes back in the stream's callbacks. */
int32_t np_h2c_request(np_h2c *h, const char *method, const char *scheme, const char *authority,
                       const char *path, const uint8_t *body, size_t body_len, int stream_upload,
                       void *stream_ud);

/* Resets stream id with CANCEL (its on_close follows). */
int np_h2c_cancel(np_h2c *h, int32_t id);

/* Queues a GOAWAY (NO_ERROR). */
int np_h2c_goaway(np_h2c *h);

/* Response body bytes received and upload body bytes sent, all streams. */
uint64_t np_h2c_body_received(const np_h2c *h);
uint64_t np_h2c_body_sent(const np_h2c *h);

#endif
