#!/usr/bin/env bash
# Builds the libFuzzer targets and runs them one at a time, each for a fixed
# time, reporting executions, coverage and findings per target.
#
# Usage: scripts/fuzz.sh [--time SECONDS] [--merge] [--merge-max N] [--no-build]
#                        [target...]
#
#   target       a name under fuzz/ (ndt7_measurement or fuzz_ndt7_measurement);
#                default: every fuzz/fuzz_*.c
#   --time S     seconds per target (default 600); 0 skips fuzzing (useful
#                with --merge)
#   --merge      afterwards, merge inputs that add coverage from the scratch
#                corpus back into fuzz/corpus/<name>/ (at most NP_FUZZ_MAX_CORPUS
#                files per target, default 50; those adding the most coverage
#                edges first; files over 8 KiB are never committed). Nothing
#                is added to git.
#   --merge-max N  add at most N new files per target per merge (default 10)
#   --no-build   use the existing build-fuzz/ binaries
#
# Each target fuzzes a scratch corpus build-fuzz/corpus/<name>/ seeded from
# the committed fuzz/corpus/<name>/; crashes, leaks, timeouts and OOMs land in
# build-fuzz/artifacts/<name>/, full logs in build-fuzz/logs/<name>.log.
# Fuzzers run one at a time under `nice -n 10` (shared machines).
#
# stdout: one summary table; stderr: progress. Exit status 0 when nothing was
# found, 1 when any target found something (or failed to run), 2 on bad usage.
set -euo pipefail
# One group, read whole before it runs: editing this file (or a checkout)
# during an hour of fuzzing must not change what the running copy does.
{

cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$ROOT/build-fuzz
TIME=600
MERGE=0
BUILD_FIRST=1
MAX_CORPUS=${NP_FUZZ_MAX_CORPUS:-50}
MAX_COMMIT_BYTES=8192
MERGE_MAX=10
TARGETS=()
BUILD_FAILED=""

usage() {  # $1: exit status (default 2)
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit "${1:-2}"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --time)
      [ $# -ge 2 ] || usage
      TIME=$2
      shift 2
      ;;
    --time=*) TIME=${1#--time=}; shift ;;
    --merge) MERGE=1; shift ;;
    --merge-max)
      [ $# -ge 2 ] || usage
      MERGE_MAX=$2
      shift 2
      ;;
    --no-build) BUILD_FIRST=0; shift ;;
    -h|--help) usage 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; usage ;;
    *) TARGETS+=("${1#fuzz_}"); shift ;;
  esac
done
case "$TIME" in ''|*[!0-9]*) echo "fuzz.sh: --time needs whole seconds" >&2; exit 2 ;; esac
case "$MERGE_MAX" in ''|*[!0-9]*) echo "fuzz.sh: --merge-max needs a number" >&2; exit 2 ;; esac

if [ ${#TARGETS[@]} -eq 0 ]; then
  for f in "$ROOT"/fuzz/fuzz_*.c; do
    n=$(basename "$f" .c)
    TARGETS+=("${n#fuzz_}")
  done
fi
for t in "${TARGETS[@]}"; do
  if [ ! -f "$ROOT/fuzz/fuzz_$t.c" ]; then
    echo "fuzz.sh: no fuzz target fuzz/fuzz_$t.c" >&2
    exit 2
  fi
done

# Inputs a little past each parser's own cap, so the "too big" paths are
# reachable without spending executions on sizes the target ignores.
max_len() {
  case "$1" in
    http_request) echo 9000 ;;        # head cap 8 KiB
    http_response) echo 4096 ;;       # body buffer 4 KiB
    query) echo 4200 ;;               # query cap 4096
    ws_frame) echo 4096 ;;
    jwt) echo 2048 ;;
    ndt7_measurement) echo 8192 ;;    # real ones are ~1.5 KiB
    locate) echo 16384 ;;
    h2_client) echo 20000 ;;          # a header block past the 16 KiB list cap
    *) echo 4096 ;;
  esac
}

if [ "$BUILD_FIRST" = 1 ]; then
  echo "fuzz.sh: building $BUILD" >&2
  nice -n 10 cmake -S "$ROOT" -B "$BUILD" -DNP_FUZZ=ON -DNP_TESTS=OFF \
    -DCMAKE_C_COMPILER=clang >&2
  # Only the fuzz targets: a half-finished program elsewhere in a shared
  # tree must not stop fuzzing. A target that fails to build is reported.
  bins=()
  for t in "${TARGETS[@]}"; do bins+=("fuzz_$t"); done
  if ! nice -n 10 cmake --build "$BUILD" -j2 --target "${bins[@]}" >&2; then
    for t in "${TARGETS[@]}"; do
      nice -n 10 cmake --build "$BUILD" -j2 --target "fuzz_$t" >&2 || BUILD_FAILED+=" $t "
    done
  fi
fi

found_any=0
SUMMARY=()
for t in "${TARGETS[@]}"; do
  bin=$BUILD/fuzz_$t
  seeds=$ROOT/fuzz/corpus/$t
  scratch=$BUILD/corpus/$t
  arts=$BUILD/artifacts/$t
  log=$BUILD/logs/$t.log
  len=$(max_len "$t")
  if [ ! -x "$bin" ] || [[ "$BUILD_FAILED" == *" $t "* ]]; then
    echo "fuzz.sh: $bin missing (build failed?)" >&2
    SUMMARY+=("$t|0|-|-|-|-|-|not built")
    found_any=1
    continue
  fi
  mkdir -p "$scratch" "$arts" "$(dirname "$log")"
  [ -d "$seeds" ] && cp -n "$seeds"/* "$scratch"/ 2>/dev/null || true

  if [ "$TIME" -gt 0 ]; then
    before=$(find "$arts" -type f | wc -l)
    touch "$log.start"
    echo "fuzz.sh: fuzzing $t for ${TIME}s (max_len $len, log $log)" >&2
    start=$(date +%s)
    rc=0
    nice -n 10 "$bin" -max_total_time="$TIME" -max_len="$len" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$arts/" \
      "$scratch" >"$log" 2>&1 || rc=$?
    secs=$(( $(date +%s) - start ))
    after=$(find "$arts" -type f | wc -l)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
    if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
      found_any=1
      what=$(grep -m1 -E '^(==[0-9]+== ?ERROR|SUMMARY|.*runtime error)' "$log" || echo "exit $rc")
      new=$(find "$arts" -type f -newer "$log.start" 2>/dev/null | head -3 | tr '\n' ' ' || true)
      finding="FOUND: $what ${new}(see $log, $arts/)"
    else
      finding="none"
    fi
    SUMMARY+=("$t|$secs|${execs:-?}|${rate:-?}|${cov:-?}|${ft:-?}|${corp:-?}|$finding")
    echo "fuzz.sh: $t: ${secs}s, ${execs:-?} execs, cov ${cov:-?} ft ${ft:-?}: $finding" >&2
  fi

  if [ "$MERGE" = 1 ]; then
    # Merge the scratch corpus against the committed one. libFuzzer's
    # control file credits each coverage edge (COV) and feature (FT) to the
    # first input that reaches it: the committed files first, then the new
    # ones smallest first. So the new inputs' COV sets are disjoint. Keeping
    # the ones credited with the most edges (then features, then the
    # smallest) adds the most coverage for the fewest committed files.
    tmp=$(mktemp -d)
    mkdir -p "$tmp/out" "$seeds"
    cp "$seeds"/* "$tmp/out/" 2>/dev/null || true
    nice -n 10 "$bin" -merge=1 -merge_control_file="$tmp/control" -max_len="$len" \
      -timeout=10 "$tmp/out" "$scratch" >"$BUILD/logs/$t.merge.log" 2>&1 || {
      echo "fuzz.sh: merge failed for $t (see $BUILD/logs/$t.merge.log)" >&2
      found_any=1
    }
    have=$(find "$seeds" -maxdepth 1 -type f | wc -l)
    room=$(( MAX_CORPUS - have ))
    [ "$room" -le "$MERGE_MAX" ] || room=$MERGE_MAX
    added=0
    gained=0
    while read -r cov ft size f; do
      [ "$room" -gt 0 ] || break
      b=$(basename "$f")
      [ -e "$seeds/$b" ] && continue
      [ "$size" -le "$MAX_COMMIT_BYTES" ] || continue
      cp "$f" "$seeds/$b"
      room=$((room - 1))
      added=$((added + 1))
      gained=$((gained + cov))
    done < <([ -f "$tmp/control" ] && awk '
      NR == 1 { total = $1; next }
      NR == 2 { first = $1; next }
      NR <= total + 2 { path[NR - 3] = $0; next }
      $1 == "STARTED" { size[$2] = $3 }
      $1 == "FT" { ft[$2] = NF - 2 }
      $1 == "COV" { cov[$2] = NF - 2 }
      END {
        for (i = first; i < total; i++)
          if (cov[i] + ft[i] > 0) print cov[i] + 0, ft[i] + 0, size[i] + 0, path[i]
      }' "$tmp/control" | sort -k1,1nr -k2,2nr -k3,3n)
    echo "fuzz.sh: $t: merged $added new input(s) adding $gained coverage edge(s)" \
      "into fuzz/corpus/$t ($((have + added)) files)" >&2
    rm -rf "$tmp"
  fi
done

if [ ${#SUMMARY[@]} -gt 0 ]; then
  printf '%-18s %7s %12s %9s %6s %7s %12s  %s\n' target seconds execs exec/s cov ft corpus findings
  for row in "${SUMMARY[@]}"; do
    IFS='|' read -r t secs execs rate cov ft corp finding <<<"$row"
    printf '%-18s %7s %12s %9s %6s %7s %12s  %s\n' "$t" "$secs" "$execs" "$rate" "$cov" "$ft" \
      "$corp" "$finding"
  done
fi
exit "$found_any"
}
