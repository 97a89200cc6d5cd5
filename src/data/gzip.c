/* gzip members in and out of bounded buffers; zlib does the work. */
#include "data/gzip.h"

#include <errno.h>
#include <limits.h>
#include <zlib.h>

#include "core/error.h"

/* Output grows in steps of this size so that a small file never reserves a
 * large buffer and a large one never hits out->max early. */
#define GZ_STEP ((size_t)64 * 1024)

/* windowBits 15 + 16 asks zlib for a gzip header and trailer, not zlib's. */
#define GZ_WINDOW_BITS (15 + 16)
#define GZ_MEM_LEVEL 8

/* Makes at least some free space at the end of out, at most one step more. */
static int grow(np_buf *out) {
  if (out->len >= out->max) return NP_E_TOOBIG;
  size_t room = out->max - out->len;
  return np_buf_reserve(out, room < GZ_STEP ? room : GZ_STEP);
}

/* zlib counts in uInt; feed a size_t input in pieces it can take. */
static void feed(z_stream *z, const unsigned char **p, size_t *left) {
  if (z->avail_in != 0 || *left == 0) return;
  size_t n = *left < UINT_MAX ? *left : UINT_MAX;
  z->next_in = (unsigned char *)*p; /* zlib's API is not const-correct */
  z->avail_in = (uInt)n;
  *p += n;
  *left -= n;
}

/* Room zlib may fill: allocated and within max (np_buf may allocate more
 * than max, never let it be used). */
static size_t space_of(const np_buf *out) {
  size_t end = out->cap < out->max ? out->cap : out->max;
  return end > out->len ? end - out->len : 0;
}

static void expose_space(z_stream *z, np_buf *out) {
  size_t space = space_of(out);
  if (space > UINT_MAX) space = UINT_MAX;
  z->next_out = out->data + out->len;
  z->avail_out = (uInt)space;
}

int np_gzip(const void *in, size_t len, np_buf *out) {
  if (!out || (!in && len)) return NP_E_BADARG;
  z_stream z = {0};
  int zrc = deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, GZ_WINDOW_BITS, GZ_MEM_LEVEL,
                         Z_DEFAULT_STRATEGY);
  if (zrc == Z_MEM_ERROR) return -ENOMEM;
  if (zrc != Z_OK) return NP_E_BADARG;

  size_t start = out->len;
  const unsigned char *p = in;
  size_t left = len;
  int rc = 0;
  for (;;) {
    if (space_of(out) == 0 && (rc = grow(out)) < 0) break;
    feed(&z, &p, &left);
    expose_space(&z, out);
    uInt before = z.avail_out;
    zrc = deflate(&z, left == 0 ? Z_FINISH : Z_NO_FLUSH);
    out->len += before - z.avail_out;
    if (zrc == Z_STREAM_END) break;
    if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
      rc = zrc == Z_MEM_ERROR ? -ENOMEM : NP_E_BADARG;
      break;
    }
  }
  (void)deflateEnd(&z);
  if (rc < 0) out->len = start;
  return rc;
}

int np_gunzip(const void *in, size_t len, np_buf *out) {
  if (!out || (!in && len)) return NP_E_BADARG;
  z_stream z = {0};
  /* gzip only: a zlib or raw stream is not what our files contain. */
  int zrc = inflateInit2(&z, GZ_WINDOW_BITS);
  if (zrc == Z_MEM_ERROR) return -ENOMEM;
  if (zrc != Z_OK) return NP_E_BADARG;

  size_t start = out->len;
  const unsigned char *p = in;
  size_t left = len;
  int rc = 0;
  for (;;) {
    if (space_of(out) == 0 && (rc = grow(out)) < 0) break;
    feed(&z, &p, &left);
    expose_space(&z, out);
    uInt before_out = z.avail_out;
    zrc = inflate(&z, Z_NO_FLUSH);
    out->len += before_out - z.avail_out;
    if (zrc == Z_STREAM_END) {
      /* One member, nothing after it: concatenated members or junk would
       * mean the file is not what a single write produced. */
      if (z.avail_in != 0 || left != 0) rc = -EBADMSG;
      break;
    }
    if (zrc == Z_MEM_ERROR) {
      rc = -ENOMEM;
      break;
    }
    if (zrc == Z_DATA_ERROR || zrc == Z_NEED_DICT || zrc == Z_STREAM_ERROR) {
      rc = -EBADMSG;
      break;
    }
    /* All input consumed with output space to spare, yet no stream end:
     * the member is truncated. */
    if (z.avail_in == 0 && left == 0 && z.avail_out > 0) {
      rc = -EBADMSG;
      break;
    }
  }
  (void)inflateEnd(&z);
  if (rc < 0) out->len = start;
  return rc;
}
