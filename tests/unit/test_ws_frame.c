/* Unit tests for ws/frame: RFC 6455 golden frames, every split, skipping, errors, UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "ws/frame.h"

#define MiB (UINT64_C(1) << 20)

/* ---- event traces: what a reader reported, independent of chunking ---- */

typedef struct {
  char s[8192];
  size_t n;
  uint64_t bin_hash; /* FNV-1a over the binary message so far */
  uint64_t bin_len;
} trace;

__attribute__((format(printf, 2, 3))) static void tr_add(trace *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(t->s + t->n, sizeof t->s - t->n, fmt, ap);
  va_end(ap);
  assert_true(w >= 0 && (size_t)w < sizeof t->s - t->n);
  t->n += (size_t)w;
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * UINT64_C(0x100000001b3);
  return h;
}

#define FNV0 UINT64_C(0xcbf29ce484222325)

/* Short printable payloads appear verbatim, others as length and hash. */
static void tr_payload(trace *t, np_slice d) {
  int printable = d.len <= 40;
  for (size_t i = 0; printable && i < d.len; i++)
    if (d.ptr[i] < 0x20 || d.ptr[i] > 0x7e) printable = 0;
  if (printable)
    tr_add(t, "%.*s", (int)d.len, d.len ? (const char *)d.ptr : "");
  else
    tr_add(t, "#%zu:%016llx", d.len, (unsigned long long)fnv(FNV0, d.ptr, d.len));
}

static void tr_binary_chunk(trace *t, const np_ws_event *ev) {
  if (ev->data.ptr)
    t->bin_hash = fnv(t->bin_hash, ev->data.ptr, ev->data.len);
  else if (ev->data.len)
    t->bin_hash = fnv(t->bin_hash, (const uint8_t *)"?", 1) + ev->data.len;
  t->bin_len += ev->data.len;
  assert_int_equal(ev->msg_len, t->bin_len);
}

static void tr_event(trace *t, const np_ws_event *ev) {
  switch (ev->type) {
  case NP_WS_EV_NONE:
    break;
  case NP_WS_EV_BINARY:
    assert_true(ev->data.len > 0);
    tr_binary_chunk(t, ev);
    break;
  case NP_WS_EV_BINARY_END:
    tr_binary_chunk(t, ev);
    tr_add(t, "B%llu:%016llx;", (unsigned long long)t->bin_len, (unsigned long long)t->bin_hash);
    t->bin_hash = FNV0;
    t->bin_len = 0;
    break;
  case NP_WS_EV_TEXT:
    assert_int_equal(ev->msg_len, ev->data.len);
    tr_add(t, "T:");
    tr_payload(t, ev->data);
    tr_add(t, ";");
    break;
  case NP_WS_EV_PING:
  case NP_WS_EV_PONG:
    assert_true(ev->data.len <= NP_WS_MAX_CONTROL);
    tr_add(t, ev->type == NP_WS_EV_PING ? "PING:" : "PONG:");
    tr_payload(t, ev->data);
    tr_add(t, ";");
    break;
  case NP_WS_EV_CLOSE:
    tr_add(t, "CLOSE%u:", ev->close_code);
    tr_payload(t, ev->data);
    tr_add(t, ";");
    break;
  }
}

static const char *err_name(int err) {
  switch (err) {
  case NP_E_PROTO:
    return "PROTO";
  case NP_E_TOOBIG:
    return "TOOBIG";
  case NP_E_UTF8:
    return "UTF8";
  default:
    return np_strerror(err);
  }
}

typedef struct {
  np_ws_role role;
  uint64_t max_message;
  size_t max_text;
} caps;

static const caps SRV = {NP_WS_ROLE_SERVER, 1 << 24, 1 << 20};
static const caps CLI = {NP_WS_ROLE_CLIENT, 1 << 24, 1 << 20};

/* Feeds a fresh copy of in[0..len) cut at the sorted positions cuts[]. */
static void feed(const caps *c, const uint8_t *in, size_t len, const size_t *cuts, size_t ncuts,
                 trace *t) {
  memset(t, 0, sizeof *t);
  t->bin_hash = FNV0;
  uint8_t *copy = malloc(len ? len : 1);
  assert_non_null(copy);
  if (len) memcpy(copy, in, len);
  np_ws_reader r;
  np_ws_reader_init(&r, c->role, c->max_message, c->max_text);
  size_t off = 0;
  for (size_t k = 0; k <= ncuts && off < len; k++) {
    size_t end = k < ncuts ? cuts[k] : len;
    while (off < end) {
      np_ws_event ev;
      int rc = np_ws_read(&r, copy + off, end - off, &ev);
      if (rc < 0) {
        tr_add(t, "E%s;", err_name(rc));
        /* Errors are sticky. */
        assert_int_equal(np_ws_read(&r, copy + off, end - off, &ev), rc);
        goto out;
      }
      assert_true(rc > 0 && (size_t)rc <= end - off);
      if (ev.type == NP_WS_EV_BINARY && ev.data.ptr) {
        assert_true(ev.data.ptr >= copy + off && ev.data.ptr + ev.data.len <= copy + off + rc);
      }
      off += (size_t)rc;
      tr_event(t, &ev);
    }
  }
out:
  np_ws_reader_free(&r);
  free(copy);
}

static void feed_chunks(const caps *c, const uint8_t *in, size_t len, size_t chunk, trace *t) {
  size_t ncuts = len / chunk + 1;
  size_t *cuts = malloc(ncuts * sizeof *cuts);
  assert_non_null(cuts);
  size_t n = 0;
  for (size_t p = chunk; p < len; p += chunk) cuts[n++] = p;
  feed(c, in, len, cuts, n, t);
  free(cuts);
}

/* Checks that in[] gives want in one piece and in every split: all two-way
 * and three-way splits (small inputs), and every fixed chunk size. */
static void check_all_splits(const caps *c, const uint8_t *in, size_t len, const char *want) {
  static trace t;
  feed(c, in, len, NULL, 0, &t);
  if (strcmp(t.s, want) != 0) fail_msg("whole input: got \"%s\", want \"%s\"", t.s, want);
  int big = len > 4096;
  for (size_t i = 1; i < len; i++) {
    if (big && i > 64 && i < len - 64) continue;
    feed(c, in, len, &i, 1, &t);
    if (strcmp(t.s, want) != 0) fail_msg("split at %zu: got \"%s\", want \"%s\"", i, t.s, want);
  }
  if (len <= 48) {
    for (size_t i = 1; i < len; i++)
      for (size_t j = i + 1; j < len; j++) {
        size_t cuts[2] = {i, j};
        feed(c, in, len, cuts, 2, &t);
        if (strcmp(t.s, want) != 0)
          fail_msg("split at %zu,%zu: got \"%s\", want \"%s\"", i, j, t.s, want);
      }
  }
  static const size_t big_chunks[] = {1, 2, 3, 7, 13, 126, 1000, 4096};
  size_t nchunks = big ? sizeof big_chunks / sizeof big_chunks[0] : len;
  for (size_t k = 0; k < nchunks; k++) {
    size_t chunk = big ? big_chunks[k] : k + 1;
    feed_chunks(c, in, len, chunk, &t);
    if (strcmp(t.s, want) != 0)
      fail_msg("chunks of %zu: got \"%s\", want \"%s\"", chunk, t.s, want);
  }
}

/* Appends a frame to w (masked when key != NULL); returns the new length. */
static size_t put_frame(uint8_t *w, size_t at, int fin, int op, const void *payload, size_t n,
                        const uint8_t *key) {
  at += np_ws_frame_header(w + at, fin, op, n, key);
  if (n) memcpy(w + at, payload, n);
  if (key) np_ws_mask(w + at, n, key, 0);
  return at + n;
}

static const uint8_t KEY[4] = {0x37, 0xfa, 0x21, 0x3d};

/* ---- RFC 6455 section 5.7, byte for byte ---- */

static void rfc_examples(void **state) {
  (void)state;
  static const uint8_t hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
  check_all_splits(&CLI, hello, sizeof hello, "T:Hello;");
  check_all_splits(&SRV, hello, sizeof hello, "EPROTO;");

  static const uint8_t hello_masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                         0x7f, 0x9f, 0x4d, 0x51, 0x58};
  check_all_splits(&SRV, hello_masked, sizeof hello_masked, "T:Hello;");
  check_all_splits(&CLI, hello_masked, sizeof hello_masked, "EPROTO;");

  static const uint8_t frag[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
  check_all_splits(&CLI, frag, sizeof frag, "T:Hello;");

  static const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
  check_all_splits(&CLI, ping, sizeof ping, "PING:Hello;");
  static const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  check_all_splits(&SRV, pong, sizeof pong, "PONG:Hello;");

  /* The encoder reproduces the example headers. */
  uint8_t h[NP_WS_MAX_FRAME_HEADER];
  assert_int_equal(np_ws_frame_header(h, 1, NP_WS_OP_TEXT, 5, NULL), 2);
  assert_memory_equal(h, hello, 2);
  assert_int_equal(np_ws_frame_header(h, 1, NP_WS_OP_TEXT, 5, KEY), 6);
  assert_memory_equal(h, hello_masked, 6);
  assert_int_equal(np_ws_frame_header(h, 0, NP_WS_OP_TEXT, 3, NULL), 2);
  assert_memory_equal(h, frag, 2);
  assert_int_equal(np_ws_frame_header(h, 1, NP_WS_OP_CONT, 2, NULL), 2);
  assert_memory_equal(h, frag + 5, 2);
  uint8_t m[5] = {'H', 'e', 'l', 'l', 'o'};
  np_ws_mask(m, 5, KEY, 0);
  assert_memory_equal(m, hello_masked + 6, 5);
}

static void rfc_long_lengths(void **state) {
  (void)state;
  /* 256 bytes: 16-bit length. */
  size_t n = 256;
  uint8_t *f = malloc(10 + 65536 + 4);
  assert_non_null(f);
  static const uint8_t h16[] = {0x82, 0x7E, 0x01, 0x00};
  memcpy(f, h16, 4);
  for (size_t i = 0; i < n; i++) f[4 + i] = (uint8_t)(i * 7);
  uint8_t h[NP_WS_MAX_FRAME_HEADER];
  assert_int_equal(np_ws_frame_header(h, 1, NP_WS_OP_BINARY, n, NULL), 4);
  assert_memory_equal(h, h16, 4);
  char want[64];
  snprintf(want, sizeof want, "B256:%016llx;", (unsigned long long)fnv(FNV0, f + 4, n));
  check_all_splits(&CLI, f, 4 + n, want);

  /* 64 KiB: 64-bit length. */
  n = 65536;
  static const uint8_t h64[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00};
  memcpy(f, h64, 10);
  for (size_t i = 0; i < n; i++) f[10 + i] = (uint8_t)(i * 13 + (i >> 8));
  assert_int_equal(np_ws_frame_header(h, 1, NP_WS_OP_BINARY, n, NULL), 10);
  assert_memory_equal(h, h64, 10);
  snprintf(want, sizeof want, "B65536:%016llx;", (unsigned long long)fnv(FNV0, f + 10, n));
  check_all_splits(&CLI, f, 10 + n, want);

  /* The same, masked, to a server; the payload is unmasked in place. */
  uint8_t *g = malloc(14 + n);
  assert_non_null(g);
  size_t len = put_frame(g, 0, 1, NP_WS_OP_BINARY, f + 10, n, KEY);
  assert_int_equal(len, 14 + n);
  assert_int_equal(g[1], 0xFF);
  check_all_splits(&SRV, g, len, want);
  free(g);

  /* 64-bit length with the most significant bit set. */
  static const uint8_t msb[] = {0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1};
  check_all_splits(&CLI, msb, sizeof msb, "EPROTO;");
  /* Non-minimal encodings are accepted. */
  static const uint8_t nm16[] = {0x81, 0x7E, 0x00, 0x02, 'h', 'i'};
  check_all_splits(&CLI, nm16, sizeof nm16, "T:hi;");
  static const uint8_t nm64[] = {0x81, 0x7F, 0, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'};
  check_all_splits(&CLI, nm64, sizeof nm64, "T:hi;");
  free(f);
}

/* ---- framing rules ---- */

static void header_rules(void **state) {
  (void)state;
  uint8_t f[64];
  /* RSV bits. */
  for (int rsv = 1; rsv < 8; rsv++) {
    f[0] = (uint8_t)(0x81 | (rsv << 4));
    f[1] = 0x00;
    check_all_splits(&CLI, f, 2, "EPROTO;");
  }
  /* Unknown opcodes. */
  static const int bad_ops[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
  for (size_t i = 0; i < sizeof bad_ops / sizeof bad_ops[0]; i++) {
    f[0] = (uint8_t)(0x80 | bad_ops[i]);
    f[1] = 0x00;
    check_all_splits(&CLI, f, 2, "EPROTO;");
  }
  /* Control frames: fin required, at most 125 bytes. */
  static const uint8_t ping_nofin[] = {0x09, 0x00};
  check_all_splits(&CLI, ping_nofin, 2, "EPROTO;");
  static const uint8_t ping126[] = {0x89, 0x7E, 0x00, 0x7E};
  check_all_splits(&CLI, ping126, 4, "EPROTO;");
  static const uint8_t close127[] = {0x88, 0x7F, 0, 0, 0, 0, 0, 0, 0, 2};
  check_all_splits(&CLI, close127, sizeof close127, "EPROTO;");
  uint8_t big[2 + 125];
  memset(big, 'p', sizeof big);
  big[0] = 0x89;
  big[1] = 125;
  static trace t;
  feed(&CLI, big, sizeof big, NULL, 0, &t);
  char want[64];
  snprintf(want, sizeof want, "PING:#125:%016llx;", (unsigned long long)fnv(FNV0, big + 2, 125));
  assert_string_equal(t.s, want);
  /* Empty frames of each kind. */
  size_t n = 0;
  n = put_frame(f, n, 1, NP_WS_OP_TEXT, NULL, 0, NULL);
  n = put_frame(f, n, 1, NP_WS_OP_BINARY, NULL, 0, NULL);
  n = put_frame(f, n, 1, NP_WS_OP_PING, NULL, 0, NULL);
  n = put_frame(f, n, 1, NP_WS_OP_PONG, NULL, 0, NULL);
  n = put_frame(f, n, 1, NP_WS_OP_CLOSE, NULL, 0, NULL);
  check_all_splits(&CLI, f, n, "T:;B0:cbf29ce484222325;PING:;PONG:;CLOSE1005:;");
}

static void continuation_rules(void **state) {
  (void)state;
  uint8_t f[64];
  size_t n;
  /* CONT without a message. */
  n = put_frame(f, 0, 1, NP_WS_OP_CONT, "x", 1, NULL);
  check_all_splits(&CLI, f, n, "EPROTO;");
  /* A new TEXT while a message is in progress, and a new BINARY. */
  n = put_frame(f, 0, 0, NP_WS_OP_TEXT, "ab", 2, NULL);
  n = put_frame(f, n, 1, NP_WS_OP_TEXT, "cd", 2, NULL);
  check_all_splits(&CLI, f, n, "EPROTO;");
  n = put_frame(f, 0, 0, NP_WS_OP_BINARY, "ab", 2, NULL);
  n = put_frame(f, n, 1, NP_WS_OP_TEXT, "cd", 2, NULL);
  check_all_splits(&CLI, f, n, "EPROTO;");
  n = put_frame(f, 0, 0, NP_WS_OP_TEXT, "ab", 2, NULL);
  n = put_frame(f, n, 1, NP_WS_OP_BINARY, "cd", 2, NULL);
  check_all_splits(&CLI, f, n, "EPROTO;");
  /* After a complete message a CONT is an error again. */
  n = put_frame(f, 0, 1, NP_WS_OP_TEXT, "ab", 2, NULL);
  n = put_frame(f, n, 1, NP_WS_OP_CONT, "cd", 2, NULL);
  check_all_splits(&CLI, f, n, "T:ab;EPROTO;");
}

static void interleaved_control(void **state) {
  (void)state;
  uint8_t f[256];
  size_t n = 0;
  n = put_frame(f, n, 0, NP_WS_OP_TEXT, "Hel", 3, KEY);
  n = put_frame(f, n, 1, NP_WS_OP_PING, "p1", 2, KEY);
  n = put_frame(f, n, 0, NP_WS_OP_CONT, "", 0, KEY);
  n = put_frame(f, n, 1, NP_WS_OP_PONG, "p2", 2, KEY);
  n = put_frame(f, n, 1, NP_WS_OP_CONT, "lo", 2, KEY);
  n = put_frame(f, n, 0, NP_WS_OP_BINARY, "\x01\x02", 2, KEY);
  n = put_frame(f, n, 1, NP_WS_OP_PING, "p3", 2, KEY);
  n = put_frame(f, n, 1, NP_WS_OP_CONT, "\x03", 1, KEY);
  n = put_frame(f, n, 1, NP_WS_OP_CLOSE,
                "\x03\xe8"
                "bye",
                5, KEY);
  char want[256];
  snprintf(want, sizeof want, "PING:p1;PONG:p2;T:Hello;PING:p3;B3:%016llx;CLOSE1000:bye;",
           (unsigned long long)fnv(FNV0, (const uint8_t *)"\x01\x02\x03", 3));
  check_all_splits(&SRV, f, n, want);
  /* Anything after the close frame is a protocol error. */
  n = put_frame(f, n, 1, NP_WS_OP_PING, "", 0, KEY);
  strncat(want, "EPROTO;", sizeof want - strlen(want) - 1);
  check_all_splits(&SRV, f, n, want);
}

static void size_caps(void **state) {
  (void)state;
  caps c = {NP_WS_ROLE_CLIENT, 10, 6};
  uint8_t f[128];
  size_t n;
  char want[128];
  /* Binary: exactly max_message across fragments is fine, one more is not. */
  n = put_frame(f, 0, 0, NP_WS_OP_BINARY, "01234", 5, NULL);
  n = put_frame(f, n, 1, NP_WS_OP_CONT, "56789", 5, NULL);
  snprintf(want, sizeof want, "B10:%016llx;",
           (unsigned long long)fnv(FNV0, (const uint8_t *)"0123456789", 10));
  check_all_splits(&c, f, n, want);
  n = put_frame(f, 0, 0, NP_WS_OP_BINARY, "01234", 5, NULL);
  n = put_frame(f, n, 0, NP_WS_OP_CONT, "56789", 5, NULL);
  n = put_frame(f, n, 1, NP_WS_OP_CONT, "x", 1, NULL);
  check_all_splits(&c, f, n, "ETOOBIG;");
  /* The cap is judged on the header, before any payload arrives. */
  n = np_ws_frame_header(f, 1, NP_WS_OP_BINARY, 11, NULL);
  check_all_splits(&c, f, n, "ETOOBIG;");
  n = np_ws_frame_header(f, 1, NP_WS_OP_BINARY, UINT64_C(1) << 62, NULL);
  check_all_splits(&c, f, n, "ETOOBIG;");
  /* Text is capped at max_text, across fragments. */
  n = put_frame(f, 0, 0, NP_WS_OP_TEXT, "abc", 3, NULL);
  n = put_frame(f, n, 1, NP_WS_OP_CONT, "def", 3, NULL);
  check_all_splits(&c, f, n, "T:abcdef;");
  n = put_frame(f, 0, 0, NP_WS_OP_TEXT, "abc", 3, NULL);
  n = put_frame(f, n, 1, NP_WS_OP_CONT, "defg", 4, NULL);
  check_all_splits(&c, f, n, "ETOOBIG;");
  /* Caps reset between messages. */
  n = put_frame(f, 0, 1, NP_WS_OP_TEXT, "abcdef", 6, NULL);
  n = put_frame(f, n, 1, NP_WS_OP_TEXT, "ghijkl", 6, NULL);
  check_all_splits(&c, f, n, "T:abcdef;T:ghijkl;");
  /* Control frames do not count against the message in progress. */
  n = put_frame(f, 0, 0, NP_WS_OP_TEXT, "abc", 3, NULL);
  n = put_frame(f, n, 1, NP_WS_OP_PING, "0123456789ab", 12, NULL);
  n = put_frame(f, n, 1, NP_WS_OP_CONT, "def", 3, NULL);
  check_all_splits(&c, f, n, "PING:0123456789ab;T:abcdef;");
}

static void text_utf8(void **state) {
  (void)state;
  uint8_t f[128];
  size_t n;
  /* A 4-byte character split over three fragments, and a control frame. */
  n = put_frame(f, 0, 0, NP_WS_OP_TEXT, "a\xf0", 2, NULL);
  n = put_frame(f, n, 0, NP_WS_OP_CONT, "\x9f\x98", 2, NULL);
  n = put_frame(f, n, 1, NP_WS_OP_PING, "", 0, NULL);
  n = put_frame(f, n, 1, NP_WS_OP_CONT, "\x80z", 2, NULL);
  char want[64];
  snprintf(want, sizeof want, "PING:;T:#6:%016llx;",
           (unsigned long long)fnv(FNV0, (const uint8_t *)"a\xf0\x9f\x98\x80z", 6));
  check_all_splits(&CLI, f, n, want);
  /* Invalid bytes fail at once, before the message is complete. */
  n = put_frame(f, 0, 0, NP_WS_OP_TEXT, "ok\xc0\xaf", 4, NULL);
  check_all_splits(&CLI, f, n, "EUTF8;");
  n = put_frame(f, 0, 1, NP_WS_OP_TEXT, "\xed\xa0\x80", 3, NULL); /* surrogate */
  check_all_splits(&CLI, f, n, "EUTF8;");
  n = put_frame(f, 0, 1, NP_WS_OP_TEXT, "\xf4\x90\x80\x80", 4, NULL); /* > U+10FFFF */
  check_all_splits(&CLI, f, n, "EUTF8;");
  /* A character cut at the end of the message. */
  n = put_frame(f, 0, 0, NP_WS_OP_TEXT, "ab", 2, NULL);
  n = put_frame(f, n, 1, NP_WS_OP_CONT, "\xe2\x82", 2, NULL);
  check_all_splits(&CLI, f, n, "EUTF8;");
  /* Binary messages are not UTF-8 checked. */
  n = put_frame(f, 0, 1, NP_WS_OP_BINARY, "\xff", 1, NULL);
  snprintf(want, sizeof want, "B1:%016llx;", (unsigned long long)fnv(FNV0, f + 2, 1));
  check_all_splits(&CLI, f, n, want);
}

static void close_frames(void **state) {
  (void)state;
  uint8_t f[256];
  size_t n;
  n = put_frame(f, 0, 1, NP_WS_OP_CLOSE, "\x03", 1, KEY);
  check_all_splits(&SRV, f, n, "EPROTO;");
  n = put_frame(f, 0, 1, NP_WS_OP_CLOSE,
                "\x0f\xa0"
                "done",
                6, KEY);
  check_all_splits(&SRV, f, n, "CLOSE4000:done;");
  n = put_frame(f, 0, 1, NP_WS_OP_CLOSE,
                "\x03\xe8"
                "\xff",
                3, KEY);
  check_all_splits(&SRV, f, n, "EUTF8;");
  static const uint16_t bad[] = {0,    1,    999,  1004, 1005, 1006, 1015,
                                 1016, 1100, 2000, 2999, 5000, 65535};
  static const uint16_t good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                  1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
  char want[64];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint8_t p[2] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
    assert_false(np_ws_close_code_valid(bad[i]));
    n = put_frame(f, 0, 1, NP_WS_OP_CLOSE, p, 2, NULL);
    check_all_splits(&CLI, f, n, "EPROTO;");
  }
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    uint8_t p[2] = {(uint8_t)(good[i] >> 8), (uint8_t)good[i]};
    assert_true(np_ws_close_code_valid(good[i]));
    n = put_frame(f, 0, 1, NP_WS_OP_CLOSE, p, 2, NULL);
    snprintf(want, sizeof want, "CLOSE%u:;", good[i]);
    check_all_splits(&CLI, f, n, want);
  }
  /* The close payload builder: code, reason cut at a character boundary. */
  uint8_t out[NP_WS_MAX_CONTROL];
  assert_int_equal(np_ws_close_payload(out, 1000, NULL), 2);
  assert_memory_equal(out, "\x03\xe8", 2);
  assert_int_equal(np_ws_close_payload(out, 1001, "bye"), 5);
  assert_memory_equal(out,
                      "\x03\xe9"
                      "bye",
                      5);
  assert_int_equal(np_ws_close_payload(out, 1005, "x"), 0);
  char reason[200];
  memset(reason, 'r', 122);
  memcpy(reason + 122, "\xc3\xa9tail", 6); /* 'é' straddles byte 123 */
  reason[128] = '\0';
  size_t len = np_ws_close_payload(out, 1000, reason);
  assert_int_equal(len, 2 + 122);
  assert_int_equal(np_utf8_validate(0, out + 2, len - 2), 0);
  memset(reason, 'r', sizeof reason - 1);
  reason[sizeof reason - 1] = '\0';
  assert_int_equal(np_ws_close_payload(out, 1000, reason), NP_WS_MAX_CONTROL);
  /* Error to close code. */
  assert_int_equal(np_ws_close_code_for(NP_E_PROTO), 1002);
  assert_int_equal(np_ws_close_code_for(NP_E_TOOBIG), 1009);
  assert_int_equal(np_ws_close_code_for(NP_E_UTF8), 1007);
  assert_int_equal(np_ws_close_code_for(-12), 1011);
}

/* ---- skipping binary payload unread ---- */

static void skip_within_and_across_frames(void **state) {
  (void)state;
  uint8_t payload[300];
  for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(i * 31 + 7);
  uint8_t f[512];
  size_t n = 0;
  n = put_frame(f, n, 0, NP_WS_OP_BINARY, payload, 100, KEY);
  n = put_frame(f, n, 1, NP_WS_OP_PING, "hi", 2, KEY);
  n = put_frame(f, n, 0, NP_WS_OP_CONT, payload + 100, 150, KEY);
  n = put_frame(f, n, 1, NP_WS_OP_CONT, payload + 250, 50, KEY);
  n = put_frame(f, n, 1, NP_WS_OP_TEXT, "t", 1, KEY);

  np_ws_reader r;
  np_ws_event ev;
  np_ws_reader_init(&r, NP_WS_ROLE_SERVER, 1 << 24, 1 << 20);
  size_t off = 0;
  assert_int_equal(np_ws_reader_skippable(&r), 0);
  /* Header of frame 1 plus 10 payload bytes: the reader stops after the
   * header of a binary frame, so that the caller may skip its payload. */
  int rc = np_ws_read(&r, f + off, 6 + 10, &ev);
  assert_int_equal(rc, 6);
  assert_int_equal(ev.type, NP_WS_EV_NONE);
  assert_int_equal(np_ws_reader_skippable(&r), 100);
  rc = np_ws_read(&r, f + off + 6, 10, &ev);
  assert_int_equal(rc, 10);
  assert_int_equal(ev.type, NP_WS_EV_BINARY);
  assert_memory_equal(ev.data.ptr, payload, 10);
  off += 16;
  assert_int_equal(np_ws_reader_skippable(&r), 90);
  /* Skip 33 (an odd count moves the masking phase), read 7, skip 50. */
  assert_int_equal(np_ws_reader_skip(&r, 91, &ev), NP_E_BADARG);
  assert_int_equal(np_ws_reader_skip(&r, 33, &ev), 0);
  assert_int_equal(ev.type, NP_WS_EV_BINARY);
  assert_null(ev.data.ptr);
  assert_int_equal(ev.data.len, 33);
  assert_int_equal(ev.msg_len, 43);
  off += 33;
  rc = np_ws_read(&r, f + off, 7, &ev);
  assert_int_equal(rc, 7);
  assert_int_equal(ev.type, NP_WS_EV_BINARY);
  assert_memory_equal(ev.data.ptr, payload + 43, 7);
  off += 7;
  assert_int_equal(np_ws_reader_skippable(&r), 50);
  assert_int_equal(np_ws_reader_skip(&r, 50, &ev), 0);
  assert_int_equal(ev.type, NP_WS_EV_BINARY); /* frame done, message not */
  assert_int_equal(ev.msg_len, 100);
  off += 50;
  /* Between frames, and during a control frame, nothing is skippable. */
  assert_int_equal(np_ws_reader_skippable(&r), 0);
  rc = np_ws_read(&r, f + off, 7, &ev); /* ping header + 1 byte */
  assert_int_equal(rc, 7);
  assert_int_equal(ev.type, NP_WS_EV_NONE);
  assert_int_equal(np_ws_reader_skippable(&r), 0);
  assert_int_equal(np_ws_reader_skip(&r, 1, &ev), NP_E_BADARG);
  off += 7;
  rc = np_ws_read(&r, f + off, 1, &ev);
  assert_int_equal(ev.type, NP_WS_EV_PING);
  assert_memory_equal(ev.data.ptr, "hi", 2);
  off += 1;
  /* Frame 3 header (16-bit length + key), then skip it entirely. */
  rc = np_ws_read(&r, f + off, 8, &ev);
  assert_int_equal(rc, 8);
  assert_int_equal(ev.type, NP_WS_EV_NONE);
  off += 8;
  assert_int_equal(np_ws_reader_skippable(&r), 150);
  assert_int_equal(np_ws_reader_skip(&r, 150, &ev), 0);
  off += 150;
  /* Frame 4: header, read 1 byte, then skip to the end of the message. */
  rc = np_ws_read(&r, f + off, 7, &ev);
  assert_int_equal(rc, 6);
  assert_int_equal(ev.type, NP_WS_EV_NONE);
  rc = np_ws_read(&r, f + off + 6, 1, &ev);
  assert_int_equal(rc, 1);
  assert_int_equal(ev.type, NP_WS_EV_BINARY);
  assert_int_equal(ev.data.ptr[0], payload[250]);
  off += 7;
  assert_int_equal(np_ws_reader_skip(&r, 49, &ev), 0);
  assert_int_equal(ev.type, NP_WS_EV_BINARY_END);
  assert_null(ev.data.ptr);
  assert_int_equal(ev.data.len, 49);
  assert_int_equal(ev.msg_len, 300);
  off += 49;
  assert_int_equal(np_ws_reader_skippable(&r), 0);
  /* The reader is in step: the text frame follows. */
  rc = np_ws_read(&r, f + off, n - off, &ev);
  assert_int_equal((size_t)rc, n - off);
  assert_int_equal(ev.type, NP_WS_EV_TEXT);
  assert_memory_equal(ev.data.ptr, "t", 1);
  np_ws_reader_free(&r);
}

/* Alternating skip and read at every step size gives the right bytes. */
static void skip_read_mix_every_step(void **state) {
  (void)state;
  uint8_t payload[97];
  for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(i * 5 + 1);
  uint8_t f[256];
  size_t n = put_frame(f, 0, 0, NP_WS_OP_BINARY, payload, 40, KEY);
  n = put_frame(f, n, 1, NP_WS_OP_CONT, payload + 40, 57, KEY);
  uint8_t w[256];
  for (size_t step = 1; step <= 60; step++) {
    memcpy(w, f, n);
    np_ws_reader r;
    np_ws_event ev;
    np_ws_reader_init(&r, NP_WS_ROLE_SERVER, 1 << 24, 1 << 20);
    size_t off = 0, pos = 0, ends = 0;
    int do_skip = 0;
    while (off < n) {
      uint64_t sk = np_ws_reader_skippable(&r);
      if (do_skip && sk) {
        uint64_t k = sk < step ? sk : step;
        assert_int_equal(np_ws_reader_skip(&r, k, &ev), 0);
        off += k;
        pos += k;
      } else {
        size_t k = n - off < step ? n - off : step;
        int rc = np_ws_read(&r, w + off, k, &ev);
        assert_true(rc > 0);
        if (ev.data.ptr && (ev.type == NP_WS_EV_BINARY || ev.type == NP_WS_EV_BINARY_END)) {
          assert_memory_equal(ev.data.ptr, payload + pos, ev.data.len);
          pos += ev.data.len;
        }
        off += (size_t)rc;
      }
      if (ev.type == NP_WS_EV_BINARY_END) {
        ends++;
        assert_int_equal(ev.msg_len, sizeof payload);
      }
      do_skip = !do_skip;
    }
    assert_int_equal(pos, sizeof payload);
    assert_int_equal(ends, 1);
    np_ws_reader_free(&r);
  }
}

/* ---- masking and UTF-8 ---- */

static void mask_matches_bytewise(void **state) {
  (void)state;
  static const uint8_t key[4] = {0xde, 0xad, 0xbe, 0xef};
  uint8_t a[80], b[80];
  for (size_t start = 0; start < 8; start++)
    for (size_t len = 0; len <= 70; len++)
      for (uint64_t off = 0; off < 9; off++) {
        for (size_t i = 0; i < sizeof a; i++) a[i] = b[i] = (uint8_t)(i * 11 + len);
        np_ws_mask(a + start, len, key, off + (UINT64_C(1) << 40));
        for (size_t i = 0; i < len; i++) b[start + i] ^= key[(off + i) & 3];
        assert_memory_equal(a, b, sizeof a);
      }
  /* Chunked masking equals one pass. */
  uint8_t c[200], d[200];
  for (size_t i = 0; i < sizeof c; i++) c[i] = d[i] = (uint8_t)i;
  np_ws_mask(c, sizeof c, key, 0);
  np_ws_mask(d, 3, key, 0);
  np_ws_mask(d + 3, 90, key, 3);
  np_ws_mask(d + 93, 107, key, 93);
  assert_memory_equal(c, d, sizeof c);
}

static void utf8_table(void **state) {
  (void)state;
  static const struct {
    const char *s;
    int ok;
  } cases[] = {
      {"", 1},
      {"plain ascii", 1},
      {"\x7f", 1},
      {"\xc2\x80", 1},         /* U+0080 */
      {"\xdf\xbf", 1},         /* U+07FF */
      {"\xe0\xa0\x80", 1},     /* U+0800 */
      {"\xed\x9f\xbf", 1},     /* U+D7FF */
      {"\xee\x80\x80", 1},     /* U+E000 */
      {"\xef\xbf\xbf", 1},     /* U+FFFF */
      {"\xf0\x90\x80\x80", 1}, /* U+10000 */
      {"\xf4\x8f\xbf\xbf", 1}, /* U+10FFFF */
      {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 1},
      {"\x80", 0}, /* lone continuation */
      {"\xbf", 0},
      {"\xc0\x80", 0},     /* overlong NUL */
      {"\xc1\xbf", 0},     /* overlong */
      {"\xe0\x80\x80", 0}, /* overlong 3-byte */
      {"\xe0\x9f\xbf", 0},
      {"\xf0\x80\x80\x80", 0}, /* overlong 4-byte */
      {"\xf0\x8f\xbf\xbf", 0},
      {"\xed\xa0\x80", 0},     /* U+D800 */
      {"\xed\xbf\xbf", 0},     /* U+DFFF */
      {"\xf4\x90\x80\x80", 0}, /* U+110000 */
      {"\xf5\x80\x80\x80", 0},
      {"\xf8\x88\x80\x80\x80", 0}, /* 5-byte form */
      {"\xfe", 0},
      {"\xff", 0},
      {"\xc2", 0}, /* truncated */
      {"\xe2\x82", 0},
      {"\xf0\x9f\x98", 0},
      {"\xc2\x41", 0}, /* continuation missing */
      {"\xe2\x28\xa1", 0},
      {"abcdefgh\xc2\x80ijklmnopqrstuvw", 1},
      {"abcdefghijklmnop\x80", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const uint8_t *p = (const uint8_t *)cases[i].s;
    size_t n = strlen(cases[i].s);
    uint32_t st = np_utf8_validate(0, p, n);
    if ((st == 0) != cases[i].ok) fail_msg("case %zu: state %u, want ok=%d", i, st, cases[i].ok);
    /* Fed one byte at a time: the same verdict; reject is sticky. */
    uint32_t s1 = 0;
    for (size_t k = 0; k < n; k++) s1 = np_utf8_validate(s1, p + k, 1);
    assert_int_equal(s1 == 0, cases[i].ok);
    if (st == 1) assert_int_equal(np_utf8_validate(st, (const uint8_t *)"a", 1), 1);
  }
}

static void frame_header_encoding(void **state) {
  (void)state;
  uint8_t h[NP_WS_MAX_FRAME_HEADER];
  assert_int_equal(np_ws_frame_header(h, 1, NP_WS_OP_BINARY, 125, NULL), 2);
  assert_int_equal(h[1], 125);
  assert_int_equal(np_ws_frame_header(h, 1, NP_WS_OP_BINARY, 126, NULL), 4);
  assert_memory_equal(h, "\x82\x7e\x00\x7e", 4);
  assert_int_equal(np_ws_frame_header(h, 0, NP_WS_OP_BINARY, 0xFFFF, NULL), 4);
  assert_memory_equal(h, "\x02\x7e\xff\xff", 4);
  assert_int_equal(np_ws_frame_header(h, 1, NP_WS_OP_BINARY, 0x10000, KEY), 14);
  assert_memory_equal(h, "\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00\x37\xfa\x21\x3d", 14);
  assert_int_equal(np_ws_frame_header(h, 1, NP_WS_OP_CLOSE, 2, NULL), 2);
  assert_memory_equal(h, "\x88\x02", 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rfc_examples),
      cmocka_unit_test(rfc_long_lengths),
      cmocka_unit_test(header_rules),
      cmocka_unit_test(continuation_rules),
      cmocka_unit_test(interleaved_control),
      cmocka_unit_test(size_caps),
      cmocka_unit_test(text_utf8),
      cmocka_unit_test(close_frames),
      cmocka_unit_test(skip_within_and_across_frames),
      cmocka_unit_test(skip_read_mix_every_step),
      cmocka_unit_test(mask_matches_bytewise),
      cmocka_unit_test(utf8_table),
      cmocka_unit_test(frame_header_encoding),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
