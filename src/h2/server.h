/* HTTP/2 server connections over nghttp2, without I/O: received bytes go in,
 * gathered bytes to write come out, requests go up as events. */
#ifndef NP_H2_SERVER_H
#define NP_H2_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/slice.h"

/* The 24-byte client connection preface (RFC 9113 §3.4). */
#define NP_H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define NP_H2_PREFACE_LEN 24

/* HTTP/2 error codes netpulse sends or reports. */
enum {
  NP_H2_NO_ERROR = 0x0,
  NP_H2_PROTOCOL_ERROR = 0x1,
  NP_H2_INTERNAL_ERROR = 0x2,
  NP_H2_REFUSED_STREAM = 0x7,
  NP_H2_CANCEL = 0x8,
  NP_H2_ENHANCE_YOUR_CALM = 0xb,
};

/* Limits and resources of one connection. Zero fields take the defaults
 * that np_h2_config_default documents. */
typedef struct {
  uint32_t max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS (100) */
  uint32_t max_streams_total;      /* streams one connection may open (10000) */
  uint32_t window;                 /* stream and connection receive window (16 MiB) */
  uint32_t max_header_list;        /* decoded header bytes per request (16 KiB) */
  uint32_t max_control_per_s;      /* SETTINGS, PING, PRIORITY, empty DATA and
                                      other frames that carry nothing, per
                                      second (1000) */
  uint32_t max_resets_per_s;       /* RST_STREAM frames per second (100) */
  uint32_t window_update_slack;    /* WINDOW_UPDATE frames a peer may send in the
                                      connection's life beyond the credit it
                                      can have to return (1000): see
                                      src/h2/server_guard.c */
  size_t out_high;                 /* bytes queued for the socket before more
                                      frames are made (256 KiB) */
  uint32_t max_frame;              /* SETTINGS_MAX_FRAME_SIZE advertised, and the
                                      largest streamed DATA frame sent when the
                                      peer allows it (1 MiB, 16 KiB..16 MiB-1).
                                      nghttp2 reserves a send buffer this large
                                      (untouched for no-copy DATA) and buffers
                                      a peer's GOAWAY debug data up to it */
  np_slice payload;                /* bytes streamed bodies are cut from; the
                                      caller owns them and keeps them alive
                                      longer than every connection (>= 16 KiB) */
} np_h2_config;

/* Fills cfg with the defaults above (payload left empty). */
void np_h2_config_default(np_h2_config *cfg);

/* One request's pseudo-headers, valid during the callback only. */
typedef struct {
  int32_t stream_id;
  np_slice method;
  np_slice path;
  np_slice authority; /* :authority, or Host when :authority is absent */
  np_slice scheme;
  int end_stream; /* the request has no body */
} np_h2_request;

/* What a connection reports. Callbacks run inside np_h2_conn_recv or
 * np_h2_conn_pull and may call np_h2_respond*. now_ns is the time the
 * caller passed in. */
typedef struct {
  /* A request's headers are complete. Answer now or later with
   * np_h2_respond or np_h2_respond_stream. Return < 0 to reset the
   * stream (REFUSED_STREAM). */
  int (*on_request)(void *ud, const np_h2_request *req, uint64_t now_ns);
  /* Request body bytes arrived on stream_id: data[0..n) is valid during
   * the call only (flow control credit is returned as they arrive, so a
   * caller that keeps bytes must cap what it keeps). */
  void (*on_body)(void *ud, int32_t stream_id, const uint8_t *data, size_t n, uint64_t now_ns);
  /* The client finished its request (END_STREAM). */
  void (*on_request_end)(void *ud, int32_t stream_id, uint64_t now_ns);
  /* The first byte of a response body was made ready for the socket. */
  void (*on_first_byte)(void *ud, int32_t stream_id, uint64_t now_ns);
  /* A stream that on_request reported closed (once per such stream, never
   * for one that closed before its headers were complete). error_code is an HTTP/2 code (0 =
   * NO_ERROR); sent/received count body bytes. */
  void (*on_stream_close)(void *ud, int32_t stream_id, uint32_t error_code, uint64_t sent,
                          uint64_t received, uint64_t now_ns);
} np_h2_callbacks;

typedef struct np_h2_conn np_h2_conn;

/* Creates a server connection that expects the client preface first, and
 * queues its SETTINGS. cfg is copied; cb and ud must outlive it.
 * 0, -ENOMEM, or NP_E_BADARG. *ret untouched on failure. */
int np_h2_conn_new(np_h2_conn **ret, const np_h2_config *cfg, const np_h2_callbacks *cb, void *ud);

/* Frees a connection. Pending output is dropped; no callbacks run. NULL-safe. */
void np_h2_conn_free(np_h2_conn *c);

/* Feeds received bytes. Returns 0, or NP_E_PROTO when the peer broke the
 * protocol or a limit (a GOAWAY is then queued: pull and write it, then
 * close), or -ENOMEM. */
int np_h2_conn_recv(np_h2_conn *c, const uint8_t *data, size_t len, uint64_t now_ns);

/* The application will not read stream_id's request body: on_body is not
 * called for it, and its DATA payload may be dropped unread (see
 * np_h2_conn_skippable). Its bytes still count in on_stream_close's
 * received. 0, or NP_E_BADARG for a stream without a request. */
int np_h2_discard_body(np_h2_conn *c, int32_t stream_id);

/* How many of the next bytes the client sends are DATA payload that nobody
 * reads (a stream marked with np_h2_discard_body, or one already refused
 * or reset): the caller may drop up to that many unread, e.g. in the
 * kernel, and report them with np_h2_conn_skip. 0 when none. */
uint64_t np_h2_conn_skippable(np_h2_conn *c);

/* n bytes (at most np_h2_conn_skippable) were dropped unread: the
 * connection accounts for them as if they had been received (flow control,
 * byte counts, END_STREAM once the frame is complete). Returns like
 * np_h2_conn_recv; NP_E_BADARG when n is more than was skippable. */
int np_h2_conn_skip(np_h2_conn *c, uint64_t n, uint64_t now_ns);

/* Points iov (at most max_iov entries, at most max_bytes in all) at the
 * next bytes to write. Returns the number of entries (0: nothing to write
 * now) or a negative error. The memory stays valid until np_h2_conn_sent. */
int np_h2_conn_pull(np_h2_conn *c, struct iovec *iov, int max_iov, size_t max_bytes,
                    uint64_t now_ns);

/* Streamed DATA frames made from now on carry at most n bytes (clamped to
 * 16 KiB..max_frame; max_frame until called). Every byte of a frame is
 * ahead of answers made after it, so an owner that knows the connection's
 * rate keeps a frame to a few ms of it. np_h2_conn_pull stages only what
 * it is asked for (max_bytes, at most out_high). */
void np_h2_conn_set_frame_max(np_h2_conn *c, size_t n);

/* Whether p (from np_h2_conn_pull) is in memory the connection keeps
 * unchanged until np_h2_conn_free (its pre-framed DATA frames): an owner
 * may hand it to the socket by reference, like the shared payload. */
int np_h2_conn_holds(const np_h2_conn *c, const void *p);

/* n bytes of what np_h2_conn_pull offered were written. */
void np_h2_conn_sent(np_h2_conn *c, size_t n);

/* Whether the connection has bytes to write, or may make some. */
int np_h2_conn_want_write(const np_h2_conn *c);

/* Whether the connection is finished: nothing more to read or write (after
 * a GOAWAY both ways, or a fatal error with its output written). */
int np_h2_conn_done(const np_h2_conn *c);

/* Queues a graceful GOAWAY (NO_ERROR): streams already open finish. */
int np_h2_conn_shutdown(np_h2_conn *c);

/* Queues a GOAWAY (NO_ERROR) whose debug data says why (a short static
 * text): no new streams; those open go on unless reset. reason is the
 * static token np_h2_conn_goaway_reason reports for it. */
int np_h2_conn_goaway(np_h2_conn *c, const char *reason, const char *why);

/* Why this side has sent or queued a GOAWAY: a short static token, one of
 * np_h2_goaway_reasons or the reason given to np_h2_conn_goaway; NULL
 * while there is none. "shutdown" is np_h2_conn_shutdown's; a GOAWAY for
 * an error (a flood, a protocol error) replaces a graceful one's reason.
 * The caller (a main) logs and counts it: this layer never logs. */
const char *np_h2_conn_goaway_reason(const np_h2_conn *c);

/* Every token np_h2_conn_goaway_reason returns on its own, NULL-terminated
 * (for metrics that register their label values up front). */
extern const char *const np_h2_goaway_reasons[];

/* Bytes queued for the socket and not yet written. */
size_t np_h2_conn_queued(const np_h2_conn *c);

/* One response header. */
typedef struct {
  const char *name; /* lower case */
  const char *value;
} np_h2_header;

/* Answers stream_id with status, headers and a body copied from body
 * (may be empty; a 204 has none and no content-length). 0, NP_E_BADARG
 * (unknown or answered stream), -ENOMEM. */
int np_h2_respond(np_h2_conn *c, int32_t stream_id, int status, const np_h2_header *hdrs,
                  size_t nhdrs, np_slice body);

/* Answers a HEAD on stream_id: the headers a GET would get, content-length
 * length included, and no body (RFC 9110 §9.3.2). 0, NP_E_BADARG, -ENOMEM. */
int np_h2_respond_head(np_h2_conn *c, int32_t stream_id, int status, const np_h2_header *hdrs,
                       size_t nhdrs, uint64_t length);

/* Answers stream_id with a body of length bytes cut from the configured
 * payload without copying, sent as fast as flow control allows. UINT64_MAX
 * means no end (no content-length; the stream ends when the client resets
 * it or the connection closes). */
int np_h2_respond_stream(np_h2_conn *c, int32_t stream_id, int status, const np_h2_header *hdrs,
                         size_t nhdrs, uint64_t length);

/* The connection is gone: reports every stream on_request announced and
 * that has not closed yet to on_stream_close with error_code, as if it
 * had closed now. Call before np_h2_conn_free when the socket closed. */
void np_h2_conn_end_streams(np_h2_conn *c, uint32_t error_code, uint64_t now_ns);

/* Resets stream_id with error_code. */
int np_h2_reset(np_h2_conn *c, int32_t stream_id, uint32_t error_code);

#endif
