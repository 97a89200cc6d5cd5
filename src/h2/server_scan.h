/* Internal to src/h2/: follows frame boundaries in the bytes a client
 * sends, alongside nghttp2 (which gets the same bytes), to know when the
 * next bytes are DATA payload. The server may then drop payload the
 * application does not read without looking at it (kernel-side on
 * cleartext) and hand nghttp2 as many zero bytes in its place: nghttp2
 * decides on DATA from its header, its pad-length byte and its length
 * alone, so flow control, content-length checks, stream states and errors
 * stay nghttp2's, byte for byte. The scanner checks nothing itself. */
#ifndef NP_H2_SERVER_SCAN_H
#define NP_H2_SERVER_SCAN_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t preface; /* connection preface bytes still to come */
  uint8_t hdr[9];   /* the frame header being gathered */
  uint8_t have;     /* its bytes so far; 9 while in the payload */
  uint8_t data;     /* the current frame is DATA */
  uint8_t pad_byte; /* PADDED DATA whose pad-length byte is still to come */
  uint32_t left;    /* payload bytes of the current frame still to come */
  int32_t stream_id;
} np_h2_scan;

void np_h2_scan_init(np_h2_scan *s);

/* Follows n more bytes. p may be NULL only for bytes np_h2_scan_skippable
 * allowed. */
void np_h2_scan_feed(np_h2_scan *s, const uint8_t *p, size_t n);

/* How many of the next bytes are DATA payload after its pad-length byte
 * (0 elsewhere); *ret_stream_id gets the frame's stream when not 0. */
uint32_t np_h2_scan_skippable(const np_h2_scan *s, int32_t *ret_stream_id);

#endif
