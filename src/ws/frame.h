/* RFC 6455 framing for both roles: an incremental reader that emits events
 * and a header encoder. No I/O, no extensions. */
#ifndef NP_WS_FRAME_H
#define NP_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/slice.h"

#define NP_WS_MAX_FRAME_HEADER 14
#define NP_WS_MAX_CONTROL 125

enum {
  NP_WS_OP_CONT = 0x0,
  NP_WS_OP_TEXT = 0x1,
  NP_WS_OP_BINARY = 0x2,
  NP_WS_OP_CLOSE = 0x8,
  NP_WS_OP_PING = 0x9,
  NP_WS_OP_PONG = 0xA,
};

/* Close status codes used by netpulse. */
enum {
  NP_WS_CLOSE_NORMAL = 1000,
  NP_WS_CLOSE_GOING_AWAY = 1001,
  NP_WS_CLOSE_PROTOCOL = 1002,
  NP_WS_CLOSE_UNSUPPORTED = 1003,
  NP_WS_CLOSE_NO_STATUS = 1005, /* reported, never sent */
  NP_WS_CLOSE_ABNORMAL = 1006,  /* reported, never sent */
  NP_WS_CLOSE_BAD_DATA = 1007,
  NP_WS_CLOSE_POLICY = 1008,
  NP_WS_CLOSE_TOO_BIG = 1009,
  NP_WS_CLOSE_INTERNAL = 1011,
};

typedef enum {
  NP_WS_ROLE_SERVER, /* incoming frames must be masked */
  NP_WS_ROLE_CLIENT, /* incoming frames must not be masked */
} np_ws_role;

typedef enum {
  NP_WS_EV_NONE = 0,   /* bytes consumed, nothing to report yet */
  NP_WS_EV_BINARY,     /* a chunk of a binary message's payload (unmasked in
                          place); data.ptr is NULL for skipped bytes */
  NP_WS_EV_BINARY_END, /* the binary message is complete; msg_len = size.
                          data = the message's final chunk (possibly empty;
                          ptr NULL if skipped): count it like a BINARY chunk,
                          so that one call can finish a message */
  NP_WS_EV_TEXT,       /* a complete, UTF-8-valid text message in data */
  NP_WS_EV_PING,       /* data = ping payload (<= 125 bytes) */
  NP_WS_EV_PONG,       /* data = pong payload */
  NP_WS_EV_CLOSE,      /* close_code (1005 if none), data = reason */
} np_ws_event_type;

typedef struct {
  np_ws_event_type type;
  np_slice data; /* valid until the next np_ws_read/skip call */
  uint16_t close_code;
  uint64_t msg_len;
} np_ws_event;

/* Reader state. Initialise with np_ws_reader_init; free with
 * np_ws_reader_free (NULL-safe). Text messages are reassembled in an
 * internal buffer capped at max_text; binary messages are streamed and
 * capped at max_message in total. */
typedef struct {
  np_ws_role role;
  uint64_t max_message;
  /* frame state (internal) */
  int phase;
  uint8_t hdr[NP_WS_MAX_FRAME_HEADER];
  size_t hdr_len;
  size_t hdr_need;
  int fin;
  int opcode;
  int masked;
  uint8_t mask[4];
  uint64_t remaining; /* payload bytes of the current frame still to come */
  uint64_t frame_off; /* payload offset into the current frame (masking) */
  int msg_opcode;     /* TEXT/BINARY of the message in progress, or 0 */
  uint64_t msg_len;   /* bytes of the message in progress so far */
  uint32_t utf8_state;
  int closed;     /* a close frame was read */
  np_buf text;    /* text message reassembly */
  np_buf control; /* control frame payload */
} np_ws_reader;

/* max_message: cap for any data message (netpulse: 1<<24); max_text: cap for
 * text messages, which are buffered (<= max_message). */
void np_ws_reader_init(np_ws_reader *r, np_ws_role role, uint64_t max_message, size_t max_text);
void np_ws_reader_free(np_ws_reader *r);

/* Consumes bytes from in[0..len) (payload is unmasked in place) and reports
 * at most one event in *ev. Returns the bytes consumed (>= 0; 0 only when
 * len == 0) or a negative error after which the connection must be closed
 * with np_ws_close_code_for(err): NP_E_PROTO (1002), NP_E_TOOBIG (1009),
 * NP_E_UTF8 (1007); errors are sticky (later calls return the same one).
 * Call again with the rest until it consumes everything. One call goes on
 * through headers, empty frames and buffered (text/control) payload until
 * an event is ready, so it may consume several frames. Binary payload is
 * reported as it arrives, never copied; text and control payload is
 * reported from internal buffers once the message/frame is complete.
 * Input after a close frame is NP_E_PROTO. Consumes at most INT_MAX bytes. */
/* It returns right after the header of a binary frame with a payload, so
 * that the caller can drop that payload unread (np_ws_reader_skip). */
int np_ws_read(np_ws_reader *r, uint8_t *in, size_t len, np_ws_event *ev);

/* How many upcoming stream bytes are payload of a binary frame and may be
 * dropped unread (e.g. with recv(MSG_TRUNC)); 0 when not in such a payload. */
uint64_t np_ws_reader_skippable(const np_ws_reader *r);

/* Accounts for n dropped payload bytes (n <= skippable, else NP_E_BADARG).
 * Reports NP_WS_EV_BINARY with data = {NULL, n}, or NP_WS_EV_BINARY_END
 * (data = {NULL, n}) when they end the message. Reading with np_ws_read
 * may resume anywhere afterwards: the masking offset follows. */
int np_ws_reader_skip(np_ws_reader *r, uint64_t n, np_ws_event *ev);

/* The close code to send after a reader error. */
uint16_t np_ws_close_code_for(int err);

/* Writes a frame header into out (>= NP_WS_MAX_FRAME_HEADER bytes) and
 * returns its length. mask_key NULL = unmasked (server role); otherwise the
 * 4-byte key is included and the caller sends the payload masked with it. */
size_t np_ws_frame_header(uint8_t *out, int fin, int opcode, uint64_t payload_len,
                          const uint8_t *mask_key);

/* XORs data with key, starting at payload offset off (for chunked masking). */
void np_ws_mask(uint8_t *data, size_t len, const uint8_t key[4], uint64_t off);

/* Builds a close frame payload (code + reason, reason cut to fit 123 bytes
 * at a UTF-8 character boundary) into out (>= 125 bytes); returns its
 * length. A code that may not be sent (e.g. 1005) gives an empty payload. */
size_t np_ws_close_payload(uint8_t *out, uint16_t code, const char *reason);

/* Whether code may appear on the wire in a close frame (RFC 6455 7.4). */
int np_ws_close_code_valid(uint16_t code);

/* Incremental UTF-8 validation (Hoehrmann-style state). state starts at 0;
 * returns the new state: 0 = accept, 1 = reject (sticky), other = mid-char. */
uint32_t np_utf8_validate(uint32_t state, const uint8_t *p, size_t n);

#endif
