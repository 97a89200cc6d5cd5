/* Small helpers over byte views. */
#include "core/slice.h"

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

int np_slice_ieq(np_slice a, np_slice b) {
  if (a.len != b.len) return 0;
  for (size_t i = 0; i < a.len; i++)
    if (lower(a.ptr[i]) != lower(b.ptr[i])) return 0;
  return 1;
}

int np_slice_list_has(np_slice s, np_slice tok) {
  size_t i = 0;
  while (i <= s.len) {
    size_t start = i;
    while (i < s.len && s.ptr[i] != ',') i++;
    size_t end = i;
    while (start < end && (s.ptr[start] == ' ' || s.ptr[start] == '\t')) start++;
    while (end > start && (s.ptr[end - 1] == ' ' || s.ptr[end - 1] == '\t')) end--;
    if (np_slice_ieq(np_slice_make(s.ptr + start, end - start), tok)) return 1;
    i++;
  }
  return 0;
}
