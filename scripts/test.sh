#!/usr/bin/env bash
# Runs netpulse's whole test suite on Debian 12: installs what the tests need
# (only what is missing), builds, runs every test (unit, fuzz-corpus replay,
# integration against real peers, the browser client), then again under
# ASan+UBSan. Exit status is non-zero if anything failed.
#
# Usage: scripts/test.sh [--quick]   (--quick: skip the sanitizer pass)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
quick=0
for a in "$@"; do
  case "$a" in
  --quick) quick=1 ;;
  -h | --help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "test.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

log() { printf '\n== %s ==\n' "$*" >&2; }

log "dependencies"
bash scripts/install-deps.sh

jobs=$(nproc)
[ "$jobs" -gt 2 ] && jobs=2

log "build (warnings are errors)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNP_WERROR=ON -DNP_REQUIRE_ALL_TESTS=ON >/dev/null
cmake --build build -j"$jobs"

log "tests"
ctest --test-dir build -j"$jobs" --output-on-failure --timeout 600

if [ "$quick" -eq 0 ]; then
  log "build with ASan+UBSan"
  cmake --preset asan -DNP_REQUIRE_ALL_TESTS=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  log "tests under ASan+UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan -j"$jobs" --output-on-failure --timeout 900 -LE browser
fi
log "all tests passed"
