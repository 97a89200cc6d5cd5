#!/usr/bin/env bash
# Runs netpulse's whole test suite on Debian 12: installs what the tests need
# (only what is missing), builds, checks that every test the tree defines is
# registered (counts per label), runs them all (unit, fuzz-corpus replay,
# integration against real peers, the browser client), then again under
# ASan+UBSan, then builds and smoke-tests the Docker image (starting dockerd
# when none runs) and tests the Debian packages in a clean container
# (scripts/docker-ci.sh). Exit status is non-zero if anything failed or was
# skipped.
#
# Usage: scripts/test.sh [--quick] [--no-docker]
#   --quick      skip the sanitizer pass
#   --no-docker  skip the container phase (ignored, with a note, when CI=true:
#                CI always tests the image)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
quick=0
docker=1
for a in "$@"; do
  case "$a" in
  --quick) quick=1 ;;
  --no-docker) docker=0 ;;
  -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "test.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
if [ "${CI:-}" = true ] && [ "$docker" = 0 ]; then
  echo "test.sh: CI=true: the container phase runs anyway (--no-docker is for local runs)" >&2
  docker=1
fi

t_start=$(date +%s)
phases=""
log() { printf '\n== %s ==\n' "$*" >&2; }
# phase NAME START: remembers how long a phase took, for the summary.
phase() { phases="$phases  $1: $(($(date +%s) - $2)) s"$'\n'; }

# ctest_all BUILD_DIR [ctest args]: runs ctest; a test reported as skipped
# or not run fails the suite, whatever ctest's own exit status says.
ctest_all() {
  local dir="$1" out rc=0
  shift
  out=$(mktemp /tmp/netpulse-ctest.XXXXXX)
  ctest --test-dir "$dir" --output-on-failure --no-tests=error "$@" 2>&1 | tee "$out" || rc=$?
  if grep -qE '\*\*\*(Skipped|Not Run)|\((Skipped|Not Run|Disabled)\)' "$out"; then
    echo "test.sh: some tests did not run (skipped or not run): a skip is not a pass" >&2
    grep -E '\*\*\*(Skipped|Not Run)|\((Skipped|Not Run|Disabled)\)' "$out" >&2
    rc=1
  fi
  rm -f "$out"
  return "$rc"
}

log "dependencies"
bash scripts/install-deps.sh

jobs=$(nproc)
[ "$jobs" -gt 2 ] && jobs=2

# Every option the suite depends on is set here, so a tree configured
# otherwise before (the demo's -DNP_TESTS=OFF, a fuzz or sanitizer tree in
# build/) is brought back to what the suite needs.
suite_opts=(-DNP_TESTS=ON -DNP_FUZZ=OFF -DNP_WERROR=ON -DNP_REQUIRE_ALL_TESTS=ON)

t=$(date +%s)
log "build (warnings are errors)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNP_SANITIZE=OFF "${suite_opts[@]}" >/dev/null
cmake --build build -j"$jobs"
python3 scripts/check-tests.py build

log "tests"
ctest_all build -j"$jobs" --timeout 600 -LE soak
# The soak sets its own concurrency and faults: alone, after the others.
log "soak (bench/soak.py --ci, 3 minutes)"
ctest_all build --timeout 600 -L soak
phase "build + tests" "$t"

if [ "$quick" -eq 0 ]; then
  t=$(date +%s)
  log "build with ASan+UBSan"
  cmake --preset asan "${suite_opts[@]}" >/dev/null
  cmake --build build-asan -j"$jobs"
  python3 scripts/check-tests.py build-asan
  # Browser tests, the accuracy lab (label lab: timings through a
  # 50 Mbit/s lab a sanitized client cannot fill) and the soak run in the
  # plain pass only.
  log "tests under ASan+UBSan (browser tests, the lab and the soak: plain build only)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest_all build-asan -j"$jobs" --timeout 900 -LE 'browser|lab|soak'
  phase "ASan+UBSan build + tests" "$t"
fi

# Alone, after the CPU-heavy passes: the image build compiles and runs the
# unit tests again, and the smoke test measures throughput.
if [ "$docker" -eq 1 ]; then
  t=$(date +%s)
  log "container: base image, docker build, smoke test (scripts/docker-ci.sh)"
  JOBS="$jobs" bash scripts/docker-ci.sh
  phase "container" "$t"
fi
printf '\n%s  total: %s s\n' "$phases" "$(($(date +%s) - t_start))" >&2
log "all tests passed"
