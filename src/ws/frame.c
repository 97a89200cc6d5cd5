/* RFC 6455 framing: incremental frame reader, header encoder, masking, UTF-8. */
#include "ws/frame.h"

#include <limits.h>
#include <string.h>

#include "core/error.h"

/* Reader phases. A negative phase is a sticky error: after a violation the
 * connection is dead and every later call reports the same error. */
enum { PH_HDR = 0, PH_PAYLOAD = 1 };

/* UTF-8 validator states (0 and 1 are fixed by the public contract). */
enum {
  U8_ACCEPT = 0,
  U8_REJECT = 1,
  U8_NEED1 = 2, /* one continuation byte 80..BF to go */
  U8_NEED2 = 3, /* two to go */
  U8_NEED3 = 4, /* three to go */
  U8_E0 = 5,    /* after E0: A0..BF (no overlong 3-byte forms) */
  U8_ED = 6,    /* after ED: 80..9F (no UTF-16 surrogates) */
  U8_F0 = 7,    /* after F0: 90..BF (no overlong 4-byte forms) */
  U8_F4 = 8,    /* after F4: 80..8F (nothing above U+10FFFF) */
};

static uint32_t utf8_step(uint32_t s, uint8_t c) {
  switch (s) {
  case U8_ACCEPT:
    if (c < 0x80) return U8_ACCEPT;
    if (c < 0xC2) return U8_REJECT; /* stray continuation or overlong C0/C1 */
    if (c < 0xE0) return U8_NEED1;
    if (c == 0xE0) return U8_E0;
    if (c == 0xED) return U8_ED;
    if (c < 0xF0) return U8_NEED2;
    if (c == 0xF0) return U8_F0;
    if (c < 0xF4) return U8_NEED3;
    if (c == 0xF4) return U8_F4;
    return U8_REJECT;
  case U8_NEED1:
    return (c & 0xC0) == 0x80 ? U8_ACCEPT : U8_REJECT;
  case U8_NEED2:
    return (c & 0xC0) == 0x80 ? U8_NEED1 : U8_REJECT;
  case U8_NEED3:
    return (c & 0xC0) == 0x80 ? U8_NEED2 : U8_REJECT;
  case U8_E0:
    return (c >= 0xA0 && c <= 0xBF) ? U8_NEED1 : U8_REJECT;
  case U8_ED:
    return (c >= 0x80 && c <= 0x9F) ? U8_NEED1 : U8_REJECT;
  case U8_F0:
    return (c >= 0x90 && c <= 0xBF) ? U8_NEED2 : U8_REJECT;
  case U8_F4:
    return (c >= 0x80 && c <= 0x8F) ? U8_NEED2 : U8_REJECT;
  default:
    return U8_REJECT;
  }
}

uint32_t np_utf8_validate(uint32_t state, const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (state == U8_REJECT) return U8_REJECT;
    /* JSON text is almost all ASCII: skip it eight bytes at a time. */
    if (state == U8_ACCEPT) {
      while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & UINT64_C(0x8080808080808080)) break;
        i += 8;
      }
      if (i == n) break;
    }
    state = utf8_step(state, p[i++]);
  }
  return state;
}

void np_ws_mask(uint8_t *data, size_t len, const uint8_t key[4], uint64_t off) {
  /* Rotate the key so that byte 0 of data uses key[off % 4]; every later
   * block of 8 bytes then starts at the same key phase. */
  uint8_t k[8];
  for (int i = 0; i < 8; i++) k[i] = key[(off + (uint64_t)i) & 3];
  uint64_t k64;
  memcpy(&k64, k, 8);
  size_t i = 0;
  /* memcpy loads/stores let the compiler emit unaligned word (or vector)
   * moves without alignment or aliasing assumptions. */
  for (; len - i >= 32; i += 32) {
    uint64_t w[4];
    memcpy(w, data + i, 32);
    w[0] ^= k64;
    w[1] ^= k64;
    w[2] ^= k64;
    w[3] ^= k64;
    memcpy(data + i, w, 32);
  }
  for (; len - i >= 8; i += 8) {
    uint64_t w;
    memcpy(&w, data + i, 8);
    w ^= k64;
    memcpy(data + i, &w, 8);
  }
  for (; i < len; i++) data[i] ^= k[i & 7];
}

size_t np_ws_frame_header(uint8_t *out, int fin, int opcode, uint64_t payload_len,
                          const uint8_t *mask_key) {
  size_t n = 0;
  uint8_t mbit = mask_key ? 0x80 : 0;
  out[n++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
  if (payload_len <= 125) {
    out[n++] = (uint8_t)(mbit | payload_len);
  } else if (payload_len <= 0xFFFF) {
    out[n++] = (uint8_t)(mbit | 126);
    out[n++] = (uint8_t)(payload_len >> 8);
    out[n++] = (uint8_t)payload_len;
  } else {
    out[n++] = (uint8_t)(mbit | 127);
    for (int s = 56; s >= 0; s -= 8) out[n++] = (uint8_t)(payload_len >> s);
  }
  if (mask_key) {
    memcpy(out + n, mask_key, 4);
    n += 4;
  }
  return n;
}

int np_ws_close_code_valid(uint16_t code) {
  if (code >= 1000 && code <= 1003) return 1;
  if (code >= 1007 && code <= 1014) return 1; /* 1012-1014: IANA registry */
  return code >= 3000 && code <= 4999;
}

size_t np_ws_close_payload(uint8_t *out, uint16_t code, const char *reason) {
  if (!np_ws_close_code_valid(code)) return 0;
  out[0] = (uint8_t)(code >> 8);
  out[1] = (uint8_t)code;
  size_t n = reason ? strnlen(reason, NP_WS_MAX_CONTROL - 2 + 1) : 0;
  if (n > NP_WS_MAX_CONTROL - 2) {
    /* Cut at a character boundary so that the peer's UTF-8 check passes. */
    n = NP_WS_MAX_CONTROL - 2;
    while (n > 0 && ((uint8_t)reason[n] & 0xC0) == 0x80) n--;
  }
  if (n) memcpy(out + 2, reason, n);
  return 2 + n;
}

uint16_t np_ws_close_code_for(int err) {
  switch (err) {
  case NP_E_PROTO:
    return NP_WS_CLOSE_PROTOCOL;
  case NP_E_TOOBIG:
    return NP_WS_CLOSE_TOO_BIG;
  case NP_E_UTF8:
    return NP_WS_CLOSE_BAD_DATA;
  default:
    return err >= 0 ? NP_WS_CLOSE_NORMAL : NP_WS_CLOSE_INTERNAL;
  }
}

void np_ws_reader_init(np_ws_reader *r, np_ws_role role, uint64_t max_message, size_t max_text) {
  memset(r, 0, sizeof *r);
  r->role = role;
  r->max_message = max_message;
  if ((uint64_t)max_text > max_message) max_text = (size_t)max_message;
  r->phase = PH_HDR;
  r->hdr_need = 2;
  np_buf_init(&r->text, max_text);
  np_buf_init(&r->control, NP_WS_MAX_CONTROL);
}

void np_ws_reader_free(np_ws_reader *r) {
  if (!r) return;
  np_buf_free(&r->text);
  np_buf_free(&r->control);
}

static int fail(np_ws_reader *r, int err) {
  r->phase = err;
  return err;
}

static int is_control(int op) { return (op & 0x08) != 0; }

/* Checks what the first two header bytes alone decide, then sizes the rest. */
static int check_head(np_ws_reader *r) {
  uint8_t b0 = r->hdr[0], b1 = r->hdr[1];
  int op = b0 & 0x0F;
  unsigned len7 = b1 & 0x7F;
  if (b0 & 0x70) return NP_E_PROTO; /* RSV bits: no extension negotiated */
  switch (op) {
  case NP_WS_OP_CONT:
    if (!r->msg_opcode) return NP_E_PROTO;
    break;
  case NP_WS_OP_TEXT:
  case NP_WS_OP_BINARY:
    if (r->msg_opcode) return NP_E_PROTO;
    break;
  case NP_WS_OP_CLOSE:
  case NP_WS_OP_PING:
  case NP_WS_OP_PONG:
    if (!(b0 & 0x80) || len7 > NP_WS_MAX_CONTROL) return NP_E_PROTO;
    break;
  default:
    return NP_E_PROTO;
  }
  int masked = (b1 & 0x80) != 0;
  if (masked != (r->role == NP_WS_ROLE_SERVER)) return NP_E_PROTO;
  r->hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
  return 0;
}

/* Decodes a complete header and checks the sizes against the caps. */
static int begin_frame(np_ws_reader *r) {
  uint8_t b0 = r->hdr[0], b1 = r->hdr[1];
  unsigned len7 = b1 & 0x7F;
  size_t at = 2;
  uint64_t plen = len7;
  if (len7 == 126) {
    plen = ((uint64_t)r->hdr[2] << 8) | r->hdr[3];
    at = 4;
  } else if (len7 == 127) {
    plen = 0;
    for (int i = 0; i < 8; i++) plen = (plen << 8) | r->hdr[2 + i];
    at = 10;
    if (plen >> 63) return NP_E_PROTO;
  }
  /* Non-minimal length encodings are legal (RFC 6455 only says "should"). */
  r->fin = (b0 & 0x80) != 0;
  r->opcode = b0 & 0x0F;
  r->masked = (b1 & 0x80) != 0;
  if (r->masked) memcpy(r->mask, r->hdr + at, 4);
  if (is_control(r->opcode)) {
    r->control.len = 0;
  } else {
    if (r->opcode != NP_WS_OP_CONT) {
      r->msg_opcode = r->opcode;
      r->msg_len = 0;
      r->utf8_state = U8_ACCEPT;
      r->text.len = 0;
    }
    if (plen > r->max_message - r->msg_len) return NP_E_TOOBIG;
    if (r->msg_opcode == NP_WS_OP_TEXT && plen > r->text.max - r->text.len) return NP_E_TOOBIG;
  }
  r->remaining = plen;
  r->frame_off = 0;
  r->phase = PH_PAYLOAD;
  return 0;
}

static int finish_close(np_ws_reader *r, np_ws_event *ev) {
  const uint8_t *p = r->control.data;
  size_t n = r->control.len;
  r->closed = 1;
  ev->type = NP_WS_EV_CLOSE;
  if (n == 0) {
    ev->close_code = NP_WS_CLOSE_NO_STATUS;
    return 0;
  }
  if (n == 1) return NP_E_PROTO;
  uint16_t code = (uint16_t)((p[0] << 8) | p[1]);
  if (!np_ws_close_code_valid(code)) return NP_E_PROTO;
  if (np_utf8_validate(U8_ACCEPT, p + 2, n - 2) != U8_ACCEPT) return NP_E_UTF8;
  ev->close_code = code;
  ev->data = np_slice_make(p + 2, n - 2);
  return 0;
}

/* The current frame's payload is complete: report what it finishes. chunk
 * is the frame's last piece of binary payload (for the event). */
static int finish_frame(np_ws_reader *r, np_ws_event *ev, np_slice chunk) {
  r->phase = PH_HDR;
  r->hdr_len = 0;
  r->hdr_need = 2;
  switch (r->opcode) {
  case NP_WS_OP_PING:
  case NP_WS_OP_PONG:
    ev->type = r->opcode == NP_WS_OP_PING ? NP_WS_EV_PING : NP_WS_EV_PONG;
    ev->data = np_buf_slice(&r->control);
    return 0;
  case NP_WS_OP_CLOSE:
    return finish_close(r, ev);
  default:
    break;
  }
  if (r->msg_opcode == NP_WS_OP_BINARY) {
    if (r->fin) {
      ev->type = NP_WS_EV_BINARY_END;
      ev->msg_len = r->msg_len;
      r->msg_opcode = 0;
    } else if (chunk.len) {
      ev->type = NP_WS_EV_BINARY;
      ev->msg_len = r->msg_len;
    }
    ev->data = chunk;
  } else if (r->fin) {
    /* A character cut at the message end is as invalid as a bad byte. */
    if (r->utf8_state != U8_ACCEPT) return NP_E_UTF8;
    ev->type = NP_WS_EV_TEXT;
    ev->data = np_buf_slice(&r->text);
    ev->msg_len = r->text.len;
    r->msg_opcode = 0;
  }
  if (r->fin) r->msg_len = 0;
  return 0;
}

/* Takes payload bytes p[0..n) of the current frame (n <= remaining). */
static int take_payload(np_ws_reader *r, uint8_t *p, size_t n, np_ws_event *ev) {
  if (r->masked) np_ws_mask(p, n, r->mask, r->frame_off);
  r->frame_off += n;
  r->remaining -= n;
  if (is_control(r->opcode)) {
    int rc = np_buf_append(&r->control, p, n);
    if (rc < 0) return rc;
  } else if (r->msg_opcode == NP_WS_OP_TEXT) {
    /* Validate before buffering so that bad text fails as early as
     * possible, even mid-fragment. */
    r->utf8_state = np_utf8_validate(r->utf8_state, p, n);
    if (r->utf8_state == U8_REJECT) return NP_E_UTF8;
    int rc = np_buf_append(&r->text, p, n);
    if (rc < 0) return rc;
    r->msg_len += n;
  } else {
    r->msg_len += n;
    if (r->remaining) {
      ev->type = NP_WS_EV_BINARY;
      ev->data = np_slice_make(p, n);
      ev->msg_len = r->msg_len;
      return 0;
    }
  }
  if (r->remaining == 0)
    return finish_frame(
        r, ev, np_slice_make(is_control(r->opcode) ? NULL : p, is_control(r->opcode) ? 0 : n));
  return 0;
}

static void clear_event(np_ws_event *ev) {
  ev->type = NP_WS_EV_NONE;
  ev->data = np_slice_make(NULL, 0);
  ev->close_code = 0;
  ev->msg_len = 0;
}

int np_ws_read(np_ws_reader *r, uint8_t *in, size_t len, np_ws_event *ev) {
  clear_event(ev);
  if (r->phase < 0) return r->phase;
  if (len > INT_MAX) len = INT_MAX; /* the count must fit the return value */
  size_t used = 0;
  /* Keep going until something is worth reporting, so that runs of
   * headers, text fragments and empty frames cost one call. */
  while (used < len && ev->type == NP_WS_EV_NONE) {
    if (r->closed) return fail(r, NP_E_PROTO);
    if (r->phase == PH_HDR) {
      while (used < len && r->hdr_len < r->hdr_need) {
        r->hdr[r->hdr_len++] = in[used++];
        if (r->hdr_len == 2) {
          int rc = check_head(r);
          if (rc < 0) return fail(r, rc);
        }
      }
      if (r->hdr_len < r->hdr_need) break;
      int rc = begin_frame(r);
      if (rc < 0) return fail(r, rc);
      if (r->remaining == 0) {
        rc = finish_frame(r, ev, np_slice_make(NULL, 0));
        if (rc < 0) return fail(r, rc);
      } else if (np_ws_reader_skippable(r) > 0) {
        /* Stop at a binary payload: the caller may drop it unread. */
        break;
      }
    } else {
      size_t n = len - used;
      if ((uint64_t)n > r->remaining) n = (size_t)r->remaining;
      int rc = take_payload(r, in + used, n, ev);
      used += n;
      if (rc < 0) return fail(r, rc);
    }
  }
  return (int)used;
}

uint64_t np_ws_reader_skippable(const np_ws_reader *r) {
  if (r->phase != PH_PAYLOAD || r->msg_opcode != NP_WS_OP_BINARY || is_control(r->opcode)) return 0;
  return r->remaining;
}

int np_ws_reader_skip(np_ws_reader *r, uint64_t n, np_ws_event *ev) {
  clear_event(ev);
  if (r->phase < 0) return r->phase;
  if (n == 0) return 0;
  if (n > np_ws_reader_skippable(r)) return NP_E_BADARG;
  r->frame_off += n;
  r->remaining -= n;
  r->msg_len += n;
  np_slice none = np_slice_make(NULL, (size_t)n);
  if (r->remaining) {
    ev->type = NP_WS_EV_BINARY;
    ev->data = none;
    ev->msg_len = r->msg_len;
    return 0;
  }
  return finish_frame(r, ev, none);
}
