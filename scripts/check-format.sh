#!/bin/sh
# Fails if any C file in the tree differs from what .clang-format asks for.
# Usage: scripts/check-format.sh [--fix]
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' '*.h.in' 2>/dev/null | grep -v '\.h\.in$' || find src include tests fuzz bench -name '*.[ch]')
if [ "${1:-}" = "--fix" ]; then
  # shellcheck disable=SC2086
  clang-format -i $files
  exit 0
fi
bad=0
for f in $files; do
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (run scripts/check-format.sh --fix)" >&2
    bad=$((bad + 1))
  fi
done
n=$(echo "$files" | wc -w)
if [ "$bad" -ne 0 ]; then
  echo "$bad of $n files need clang-format" >&2
  exit 1
fi
echo "all $n C files match .clang-format"
