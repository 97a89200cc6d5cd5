#!/bin/sh
# Compares what libnetpulse.so exports with what include/netpulse/*.h
# declares: a symbol exported but not declared is private code leaking into
# the ABI (embedders would start to depend on it), a function declared but
# not exported cannot be linked. Run by CTest as lint.exported_symbols.
#
#   sh scripts/check-abi.sh LIBRARY.so INCLUDE_DIR
set -eu
lib="$1"
inc="$2"
[ -f "$lib" ] || { echo "check-abi: no library $lib" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Defined dynamic symbols, minus the version nodes (type A, absolute).
nm -D --defined-only "$lib" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' |
  sort -u >"$tmp/exported"
# Function names the public headers declare: "np_name(" at the start of a
# declaration or after its return type.
cat "$inc"/netpulse/*.h | grep -oE '\bnp_[a-z0-9_]+[[:space:]]*\(' | tr -d '( ' |
  sort -u >"$tmp/declared"

n=$(wc -l <"$tmp/exported")
[ "$n" -gt 0 ] || { echo "check-abi: $lib exports nothing" >&2; exit 1; }
status=0
for s in $(comm -23 "$tmp/exported" "$tmp/declared"); do
  echo "check-abi: $lib exports $s, which no include/netpulse header declares"
  status=1
done
for s in $(comm -13 "$tmp/exported" "$tmp/declared"); do
  echo "check-abi: include/netpulse declares $s, which $lib does not export"
  status=1
done
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }')
[ -n "$soname" ] || { echo "check-abi: $lib has no SONAME"; status=1; }
[ "$status" = 0 ] && echo "check-abi: $lib ($soname) exports exactly the $n declared functions"
exit "$status"
