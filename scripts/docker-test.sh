#!/usr/bin/env bash
# Builds netpulse's Docker image and smoke-tests it the way M-Lab runs it,
# on loopback only:
#
#   1. base image (scripts/docker-base.sh, a no-op when it exists) and
#      `docker build` (which runs the unit tests and fuzz replays) of the
#      committed HEAD, from a fresh local clone, so that other people's
#      uncommitted edits in a shared work tree never reach the image
#      (--worktree builds the work tree as it is instead); the Dockerfile and
#      .dockerignore are always the work tree's;
#   2. netpulse-server in a container with --network=host (M-Lab gives each
#      pod its own IP; host networking is the local equivalent), configured
#      only through NETPULSE_* environment variables as in the k8s manifest,
#      on free loopback ports, as uid 65534, with a host directory mounted as
#      the ndt7 spool (/var/spool/netpulse/ndt7) and a socket-UUID prefix file
#      mounted read-only at /var/local/uuid; read-only root filesystem, all
#      capabilities dropped, no-new-privileges (as in the k8s manifest);
#   3. Docker's HEALTHCHECK turns healthy; `netpulse-server healthcheck`
#      (the exec livenessProbe) exits 0;
#   4. real ndt7 tests with the client inside the image (or --client PATH):
#      download+upload over ws://, download over wss:// (self-signed);
#   5. the result files appear in the host spool: complete gzip, owned by
#      65534, UUIDs with the mounted prefix, no staging leftovers; /metrics
#      counts the successes;
#   6. SIGTERM during a running upload: health goes 500 (probe exits 1),
#      a new test is refused, the running test finishes and its file is
#      written, and the container exits 0 by itself.
#
#   bash scripts/docker-test.sh [--no-build] [--worktree] [--client PATH]
#                               [--image NAME]
#
# Environment: IMAGE (default netpulse:dev), BASE_IMAGE (default
# netpulse-base/debian:bookworm), JOBS (build parallelism, default 2),
# KEEP=1 keeps the spool directory. Needs root (the spool is chowned to
# 65534), docker with a running daemon, curl or python3.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

image="${IMAGE:-netpulse:dev}"
base="${BASE_IMAGE:-netpulse-base/debian:bookworm}"
jobs="${JOBS:-2}"
build=1
worktree=0
client=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --worktree) worktree=1 ;;
    --client)
      client="$2"
      shift
      ;;
    --image)
      image="$2"
      shift
      ;;
    -h | --help)
      sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "docker-test.sh: unknown argument $1" >&2
      exit 2
      ;;
  esac
  shift
done

t0=$(date +%s)
fails=0
step() { printf '\n== %s\n' "$*"; }
ok() { printf 'ok   %s\n' "$*"; }
bad() {
  printf 'FAIL %s\n' "$*"
  fails=$((fails + 1))
}
# expect OK-TEXT FAIL-TEXT COMMAND...: ok or bad by COMMAND's status.
expect() {
  local good="$1" failed="$2"
  shift 2
  if "$@"; then ok "$good"; else bad "$failed"; fi
}
die() {
  printf 'FAIL %s\n' "$*"
  exit 1
}

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "cannot reach the Docker daemon (start dockerd)"
[ "$(id -u)" = 0 ] || die "run as root (the spool directory is chowned to 65534)"

http_get() { # URL -> body on stdout; prints the status code on fd 3
  if command -v curl >/dev/null; then
    curl -s -o /dev/stdout -w '%{http_code}' --max-time 5 "$1"
  else
    python3 - "$1" <<'EOF'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5); b = r.read(); c = r.status
except urllib.error.HTTPError as e:
    b = e.read(); c = e.code
except Exception:
    b = b""; c = 0
sys.stdout.write(b.decode("utf-8", "replace")); sys.stdout.write("%03d" % c)
EOF
  fi
}
# status URL: the HTTP status code only (000 when unreachable).
status_of() { http_get "$1" 2>/dev/null | tail -c 3; }

# Free TCP ports on 127.0.0.1 (others share this machine's loopback).
free_ports() {
  python3 - "$1" <<'EOF' 2>/dev/null && return 0
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
  local n="$1" out="" p
  while [ "$n" -gt 0 ]; do
    p=$((20000 + RANDOM % 40000))
    if ! ss -Htln "sport = :$p" | grep -q . && [[ " $out " != *" $p "* ]]; then
      out="$out $p"
      n=$((n - 1))
    fi
  done
  echo "${out# }"
}

# --- 1. images ------------------------------------------------------------
if [ "$build" = 1 ]; then
  step "base image $base"
  bash scripts/docker-base.sh "$base"
  ctx=.
  if [ "$worktree" = 0 ]; then
    ctx="$(mktemp -d /tmp/netpulse-docker-ctx.XXXXXX)"
    git clone -q "$PWD" "$ctx/src"
    cp Dockerfile .dockerignore "$ctx/src/"
    ctx="$ctx/src"
    step "docker build -t $image of HEAD $(git -C "$ctx" log -1 --format='%h %s' | cut -c1-70)"
  else
    step "docker build -t $image of the work tree (with uncommitted changes)"
  fi
  echo "     (the unit tests and fuzz replays run inside the build)"
  b0=$(date +%s)
  if ! docker build --network=host --build-arg BASE_IMAGE="$base" \
    --build-arg JOBS="$jobs" -t "$image" "$ctx" >/tmp/netpulse-docker-build.$$.log 2>&1; then
    [ "$ctx" = . ] || rm -rf "$(dirname "$ctx")"
    tail -n 60 /tmp/netpulse-docker-build.$$.log
    die "docker build failed (full log: /tmp/netpulse-docker-build.$$.log)"
  fi
  [ "$ctx" = . ] || rm -rf "$(dirname "$ctx")"
  grep -E 'tests passed|Total Test time' /tmp/netpulse-docker-build.$$.log | sed 's/^/     /' || true
  rm -f /tmp/netpulse-docker-build.$$.log
  ok "built $image in $(($(date +%s) - b0)) s"
fi
docker image inspect "$image" >/dev/null 2>&1 || die "no image $image (run without --no-build)"
size=$(docker image inspect -f '{{.Size}}' "$image")
ok "image $image: $((size / 1000000)) MB, user $(docker image inspect -f '{{.Config.User}}' "$image"), healthcheck $(docker image inspect -f '{{json .Config.Healthcheck.Test}}' "$image")"

# --- 2. the server container ----------------------------------------------
step "server container (--network=host, loopback ports, env configuration)"
read -r p_ws p_wss p_health p_prom < <(free_ports 4)
work="$(mktemp -d /tmp/netpulse-docker-test.XXXXXX)"
spool="$work/spool"
mkdir -p "$spool/ndt7" "$spool/responsiveness1" "$work/uuid"
chown 65534:65534 "$spool" "$spool/ndt7" "$spool/responsiveness1"
prefix="netpulse-smoke-$$_$(date +%s)"
printf '%s' "$prefix" >"$work/uuid/prefix"
name="netpulse-smoke-$$"

cleanup() {
  docker rm -f "$name" >/dev/null 2>&1 || true
  if [ "${KEEP:-0}" = 1 ]; then
    echo "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# As locked down as the k8s manifest: read-only root, no capabilities.
docker run -d --name "$name" --network=host \
  --read-only --cap-drop ALL --security-opt no-new-privileges \
  --stop-timeout 40 --health-interval 2s --health-start-period 2s \
  -v "$spool/ndt7:/var/spool/netpulse/ndt7" \
  -v "$spool/responsiveness1:/var/spool/netpulse/responsiveness1" \
  -v "$work/uuid:/var/local/uuid:ro" \
  -e NETPULSE_NDT7_ADDR_CLEARTEXT="127.0.0.1:$p_ws" \
  -e NETPULSE_NDT7_ADDR="127.0.0.1:$p_wss" \
  -e NETPULSE_TLS_SELF_SIGNED=true \
  -e NETPULSE_HEALTH_ADDR="127.0.0.1:$p_health" \
  -e NETPULSE_PROMETHEUS_ADDR="127.0.0.1:$p_prom" \
  -e NETPULSE_BANDWIDTH_BUDGET=100M \
  -e NETPULSE_BUDGET_WINDOW=300 \
  -e NETPULSE_DRAIN_TIMEOUT=30 \
  -e NETPULSE_LABEL=deployment=docker-smoke \
  "$image" >/dev/null
ok "started $name: ws :$p_ws, wss :$p_wss, health :$p_health, metrics :$p_prom, uid $(docker exec "$name" id -u)"

# --- 3. health ------------------------------------------------------------
step "health"
h=""
for _ in $(seq 1 60); do
  h=$(docker inspect -f '{{.State.Health.Status}}' "$name" 2>/dev/null || echo gone)
  [ "$h" = healthy ] && break
  [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ] || break
  sleep 0.5
done
if [ "$h" = healthy ]; then ok "Docker HEALTHCHECK: healthy"; else
  docker logs "$name" 2>&1 | tail -n 20
  die "Docker HEALTHCHECK: $h"
fi
if out=$(docker exec "$name" netpulse-server healthcheck 2>&1); then
  ok "exec probe 'netpulse-server healthcheck' exit 0 ($out)"
else bad "exec probe 'netpulse-server healthcheck' failed: $out"; fi
expect "GET /health from the host: 200" "GET /health from the host is not 200" \
  [ "$(status_of "http://127.0.0.1:$p_health/health")" = 200 ]

# --- 4. real client tests -------------------------------------------------
# The client in the image (a second container on the host network), unless
# --client names a binary on the host.
run_client() {
  if [ -n "$client" ]; then
    "$client" --accept-data-policy --format json --quiet "$@"
  else
    docker run --rm --network=host --entrypoint netpulse "$image" \
      --accept-data-policy --format json --quiet "$@"
  fi
}
summary() { # the client's JSON summary line -> "download X Mbit/s upload Y Mbit/s"
  python3 -c '
import json, sys
for line in sys.stdin:
    try: o = json.loads(line)
    except ValueError: continue
    if not isinstance(o, dict) or "Key" in o: continue
    out = []
    for t in ("Download", "Upload"):
        v = o.get(t)
        if isinstance(v, dict) and isinstance(v.get("Throughput"), dict):
            out.append("%s %.1f %s" % (t.lower(), v["Throughput"].get("Value", 0), v["Throughput"].get("Unit", "")))
    print(", ".join(out) or line.strip()[:200])
' 2>/dev/null || true
}
step "ndt7 client tests (${client:-client inside $image})"
if out=$(run_client --server "127.0.0.1:$p_ws" --scheme ws --no-rpm 2>&1); then
  ok "ws:// download+upload: $(printf '%s\n' "$out" | summary)"
else bad "ws:// download+upload failed: $(printf '%s\n' "$out" | tail -n 3)"; fi
if out=$(run_client --server "127.0.0.1:$p_wss" --scheme wss --no-verify --download 2>&1); then
  ok "wss:// download: $(printf '%s\n' "$out" | summary)"
else bad "wss:// download failed: $(printf '%s\n' "$out" | tail -n 3)"; fi

# --- 5. data files in the host spool --------------------------------------
step "data files in the host-mounted spool $spool/ndt7"
check_files() { # expected count
  local n files f
  files=$(find "$spool/ndt7" -type f -name 'ndt7-*.json.gz' | sort)
  n=$(printf '%s' "$files" | grep -c . || true)
  if [ "$n" -eq "$1" ]; then ok "$n result files"; else bad "$n result files, expected $1"; fi
  for f in $files; do
    local rel="${f#"$spool"/}" own
    own=$(stat -c %u:%g "$f")
    if gzip -t "$f" 2>/dev/null && [ "$own" = 65534:65534 ] && [[ "$f" == *".${prefix}_"* ]]; then
      ok "$rel ($(stat -c %s "$f") bytes, $own)"
    else
      bad "$rel: gzip ok? owner $own, prefix $prefix?"
    fi
  done
  local left
  left=$(find "$spool" -name '.*' -type f | wc -l)
  expect "no hidden staging files left" "$left hidden staging files left" [ "$left" -eq 0 ]
}
check_files 3
first=$(find "$spool/ndt7" -type f -name 'ndt7-download-*.json.gz' | head -n1)
if [ -n "$first" ] && zcat "$first" | python3 -c '
import json, sys
d = json.load(sys.stdin)
m = d["Download"]["ServerMetadata"]
assert {"Name": "deployment", "Value": "docker-smoke"} in m, m
assert d["Download"]["UUID"].startswith(sys.argv[1] + "_"), d["Download"]["UUID"]
print("GitShortCommit=%s UUID=%s" % (d.get("GitShortCommit"), d["Download"]["UUID"]))
' "$prefix" >"$work/json.out" 2>&1; then
  ok "JSON: $(cat "$work/json.out"), label from NETPULSE_LABEL present"
else bad "JSON of $first: $(tail -n 2 "$work/json.out" 2>/dev/null)"; fi

step "metrics on :$p_prom"
metrics=$(http_get "http://127.0.0.1:$p_prom/metrics" 2>/dev/null || true)
succ=$(printf '%s\n' "$metrics" | awk '/^netpulse_tests_total\{/ && /result="success"/ {s += $NF} END {print s + 0}')
files_written=$(printf '%s\n' "$metrics" | awk '/^netpulse_data_files_total\{/ && /result="written"/ {s += $NF} END {print s + 0}')
expect "netpulse_tests_total{result=\"success\"} = 3" \
  "netpulse_tests_total{result=\"success\"} = $succ, expected 3" [ "$succ" = 3 ]
expect "netpulse_data_files_total{result=\"written\"} = 3" \
  "netpulse_data_files_total{result=\"written\"} = $files_written, expected 3" \
  [ "$files_written" = 3 ]
printf '%s\n' "$metrics" | grep -E '^netpulse_(build_info|lame_duck|saturation\{limit="budget"\})' | sed 's/^/     /' || true

# --- 6. SIGTERM drains ----------------------------------------------------
# An upload: under a bandwidth budget a download stops after
# --budget-test-bytes (125 MB by default, a fraction of a second on loopback),
# while an upload runs its full 10 s.
step "SIGTERM during a running upload"
run_client --server "127.0.0.1:$p_ws" --scheme ws --upload >"$work/inflight.out" 2>&1 &
inflight=$!
for _ in $(seq 1 40); do # until the test is running
  a=$(http_get "http://127.0.0.1:$p_prom/metrics" 2>/dev/null |
    awk '/^netpulse_active_tests/ {s += $NF} END {print s + 0}')
  [ "${a:-0}" -ge 1 ] && break
  sleep 0.25
done
expect "an upload is running" "no running upload seen" [ "${a:-0}" -ge 1 ]
sleep 2
docker kill --signal TERM "$name" >/dev/null
ok "sent SIGTERM"
sleep 1
expect "lame duck: GET /health is 500" "GET /health is not 500 while draining" \
  [ "$(status_of "http://127.0.0.1:$p_health/health")" = 500 ]
if docker exec "$name" netpulse-server healthcheck >/dev/null 2>&1; then
  bad "exec probe still exits 0 while draining"
else ok "exec probe exits 1 while draining"; fi
if out=$(run_client --server "127.0.0.1:$p_ws" --scheme ws --download --timeout 5 2>&1); then
  bad "a new test was admitted while draining"
else
  why=$(printf '%s\n' "$out" | python3 -c '
import json, sys
for line in sys.stdin:
    try: o = json.loads(line)
    except ValueError: continue
    if isinstance(o, dict) and o.get("Key") == "error":
        print(o["Value"].get("Failure", "")); break
' 2>/dev/null || true)
  expect "a new test is refused while draining: $why" \
    "a new test failed, but not with a 503: ${why:-$out}" grep -q 503 <<<"$why"
fi
if wait "$inflight"; then
  ok "the running upload finished: $(summary <"$work/inflight.out")"
else bad "the running upload failed: $(tail -n 3 "$work/inflight.out")"; fi
code=$(timeout 60 docker wait "$name" 2>/dev/null || echo timeout)
expect "container exited by itself with status 0" "container exit status: $code" \
  [ "$code" = 0 ]
docker logs "$name" 2>&1 | grep -E 'lame duck|drained|drain timeout|test finished' | tail -n 5 | sed 's/^/     /' || true
check_files 4

step "result"
if [ "$fails" -eq 0 ]; then
  echo "PASS docker smoke test ($(($(date +%s) - t0)) s)"
else
  echo "FAIL docker smoke test: $fails check(s) failed ($(($(date +%s) - t0)) s)"
  echo "     server log:"
  docker logs "$name" 2>&1 | tail -n 30 | sed 's/^/     /'
  exit 1
fi
