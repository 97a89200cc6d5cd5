/* A JSON skimmer: finds members and value extents in a JSON text without
 * building a tree, so netpulse-data can pull a few figures out of a 70 KB
 * ndt7 record or a 600 KB responsiveness1 record at archive speed, and hand
 * only the small pieces it needs to jansson. */
#ifndef NP_DATA_JSON_SKIM_H
#define NP_DATA_JSON_SKIM_H

#include <stddef.h>

/* Nesting deeper than this is refused (NP_E_JSON): the records nest five
 * levels; the cap keeps hostile input from costing more than a linear scan. */
#define NP_SKIM_MAX_DEPTH 64

/* A value's extent in the text: [start, end). */
typedef struct {
  size_t start;
  size_t end;
} np_skim_span;

/* Index of the first byte at or after i that is not JSON whitespace (len
 * when none). */
size_t np_skim_ws(const char *s, size_t len, size_t i);

/* The extent of the value starting at s[i] (no leading whitespace). Strings,
 * objects and arrays are matched structurally (escapes, nesting, the caps
 * above); numbers and literals end at the next delimiter. Not a validator:
 * a malformed value may be accepted, but the extent never leaves [i, len).
 * 0 or NP_E_JSON; *ret untouched on failure. */
int np_skim_value(const char *s, size_t len, size_t i, np_skim_span *ret);

/* The value of member key (exact bytes, no escapes) in the object whose
 * extent is obj. 1 and *ret when found, 0 when the object has no such
 * member, NP_E_JSON when obj is not an object. A key present twice: the
 * first wins. */
int np_skim_member(const char *s, size_t len, np_skim_span obj, const char *key, np_skim_span *ret);

/* Several members in one pass: for each of the n keys, found[i] is set to 1
 * and vals[i] to the value's extent when the object has that member (the
 * first one), else found[i] is 0. 0, or NP_E_JSON when obj is not an
 * object. */
int np_skim_members(const char *s, size_t len, np_skim_span obj, const char *const *keys, size_t n,
                    np_skim_span *vals, int *found);

/* The last element of the array whose extent is arr. 1 and *ret, 0 when the
 * array is empty, NP_E_JSON when arr is not an array. */
int np_skim_last(const char *s, size_t len, np_skim_span arr, np_skim_span *ret);

/* Copies the string value at sp (quotes removed) into out (NUL-terminated).
 * Only strings without escapes and with printable ASCII are taken: the
 * fields read this way (times, ids, addresses) are server-made. 0, or
 * NP_E_JSON (not such a string) or NP_E_TOOBIG (does not fit). */
int np_skim_string(const char *s, np_skim_span sp, char *out, size_t cap);

#endif
