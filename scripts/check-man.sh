#!/bin/sh
# Checks the generated man pages: man renders each without a warning, and
# every flag the program's --help names (and `rpm --help`, for the client)
# appears in the rendered page. Run by CTest as lint.man_pages.
#
#   sh scripts/check-man.sh PROGRAM PAGE [PROGRAM PAGE ...]
set -eu
[ $# -ge 2 ] || { echo "usage: check-man.sh PROGRAM PAGE [PROGRAM PAGE ...]" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
while [ $# -ge 2 ]; do
  prog="$1"
  page="$2"
  shift 2
  [ -f "$page" ] || { echo "check-man: no page $page"; status=1; continue; }
  # man-db passes --warnings on to groff (-ww: all warnings).
  MANWIDTH=120 man --warnings=w -E UTF-8 -l "$page" >"$tmp/page.txt" 2>"$tmp/warn.txt" || {
    echo "check-man: man -l $page failed"
    status=1
  }
  if [ -s "$tmp/warn.txt" ]; then
    echo "check-man: man -l $page warns:"
    sed 's/^/    /' "$tmp/warn.txt"
    status=1
  fi
  "$prog" --help >"$tmp/help.txt"
  "$prog" rpm --help >>"$tmp/help.txt" 2>/dev/null || true
  flags=$(grep -oE '(^|[ ,])--[a-z0-9][a-z0-9-]*' "$tmp/help.txt" | sed 's/^[ ,]*//' | sort -u)
  [ -n "$flags" ] || { echo "check-man: $prog --help names no flag"; status=1; }
  n=0
  for f in $flags; do
    n=$((n + 1))
    grep -qF -- "$f" "$tmp/page.txt" || {
      echo "check-man: $prog --help names $f, $(basename "$page") does not"
      status=1
    }
  done
  sections=$(grep -cE '^(ENVIRONMENT|EXIT STATUS|FILES|SIGNALS|EXAMPLES)$' "$tmp/page.txt" || true)
  [ "$sections" = 5 ] || {
    echo "check-man: $(basename "$page") lacks one of ENVIRONMENT, EXIT STATUS, FILES, SIGNALS, EXAMPLES"
    status=1
  }
  [ "$status" = 0 ] && echo "check-man: $(basename "$page"): $n flags of $(basename "$prog") --help, renders cleanly"
done
exit "$status"
