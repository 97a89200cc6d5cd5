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
#      on free loopback ports, as uid 65534, with host directories mounted as
#      the ndt7 and responsiveness1 spools (/var/spool/netpulse/<datatype>)
#      and a socket-UUID prefix file mounted read-only at /var/local/uuid;
#      read-only root filesystem, all capabilities dropped, no-new-privileges
#      (as in the k8s manifest);
#   3. Docker's HEALTHCHECK turns healthy; `netpulse-server healthcheck`
#      (the exec livenessProbe) exits 0;
#   4. real ndt7 tests with the client inside the image (or --client PATH):
#      download+upload over ws://, download over wss:// (self-signed); and
#      one RPM measurement (`netpulse rpm`) over h2 on the wss port: idle
#      latency and the upload phase (a download would be cut at the
#      bandwidth budget's per-test bytes within a fraction of a second on
#      loopback), with its summary sent to the server;
#   5. the result files appear in the host spool: complete gzip, owned by
#      65534, UUIDs with the mounted prefix, no staging leftovers; exactly
#      one responsiveness1 file, one line, owned by 65534, valid against
#      schemas/responsiveness1.json (BigQuery) and .schema.json (JSON
#      Schema), its connections' UUIDs with the mounted prefix and the
#      client's summary in it; /metrics counts the successes and files of
#      each;
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
  -e NETPULSE_HTTP_ADDR="127.0.0.1:$p_ws" \
  -e NETPULSE_HTTPS_ADDR="127.0.0.1:$p_wss" \
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

# RPM over h2 (ALPN on the TLS front door, the port ndt7's wss uses). Under
# the bandwidth budget a download phase would end at the per-test bytes on
# loopback, so idle latency and the upload phase; short phases.
step "RPM client test (h2, ${client:-client inside $image})"
run_rpm() {
  if [ -n "$client" ]; then
    "$client" rpm --accept-data-policy --json --quiet "$@"
  else
    docker run --rm --network=host --entrypoint netpulse "$image" \
      rpm --accept-data-policy --json --quiet "$@"
  fi
}
if run_rpm --server "127.0.0.1:$p_wss" --no-verify --upload --rpm-idle-duration 1s \
  --rpm-max-duration 5s >"$work/rpm.out" 2>"$work/rpm.err" &&
  python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
assert o.get("Protocol") == "h2" and not o.get("Errors"), (o.get("Protocol"), o.get("Errors"))
assert o.get("RPM", 0) > 0 and o.get("ResultSent") is True, (o.get("RPM"), o.get("ResultSent"))
print("RPM %.0f (%s), upload %.0f Mbit/s, %d connections, summary sent" % (o["RPM"], o.get("Band"),
      o["Upload"]["ThroughputMbps"], o.get("ConnectionsOpened", 0)))
' "$work/rpm.out" >"$work/rpm.sum" 2>&1; then
  ok "h2 RPM: $(cat "$work/rpm.sum")"
else bad "h2 RPM failed: $(tail -n 3 "$work/rpm.sum" "$work/rpm.err" "$work/rpm.out" 2>/dev/null | cut -c1-300)"; fi

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

# The record is written once the measurement's connections have closed (the
# client closes them after its summary) plus a 5 s grace: wait up to 30 s.
step "responsiveness1 file in the host-mounted spool $spool/responsiveness1"
rpm_files() { find "$spool/responsiveness1" -type f -name 'responsiveness1-*.json' | sort; }
for _ in $(seq 1 60); do
  [ -n "$(rpm_files)" ] && break
  sleep 0.5
done
sleep 1 # a second file would be a bug: give it the chance to show
rfiles=$(rpm_files)
n=$(printf '%s' "$rfiles" | grep -c . || true)
expect "exactly 1 responsiveness1 file" "$n responsiveness1 files, expected 1" [ "$n" -eq 1 ]
for f in $rfiles; do
  rel="${f#"$spool"/}"
  own=$(stat -c %u:%g "$f")
  expect "$rel ($(stat -c %s "$f") bytes, $own)" "$rel: owner $own, expected 65534:65534" \
    [ "$own" = 65534:65534 ]
  expect "under responsiveness1/YYYY/MM/DD/" "$rel: not under responsiveness1/YYYY/MM/DD/" \
    grep -Eq '^responsiveness1/[0-9]{4}/[0-9]{2}/[0-9]{2}/responsiveness1-[0-9TZ.]+\.[0-9a-f]+\.json$' <<<"$rel"
done
# BigQuery schemas (jostler's for responsiveness1) and the one-line format:
# the suite's own validator, over the whole spool (the ndt7 files too).
if [ "$n" -ge 1 ] && python3 tests/integration/datafiles.py check "$spool" >"$work/rpm.check" 2>&1 &&
  grep -q ' 1 responsiveness1 file(s) .* 0 error(s)' "$work/rpm.check"; then
  ok "$(head -n 1 "$work/rpm.check" | sed 's/^datafiles: //')"
else bad "data files against schemas/: $(head -n 4 "$work/rpm.check" 2>/dev/null)"; fi
if [ "$n" -ge 1 ] && python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
try:
    import jsonschema  # Debian: python3-jsonschema
except ImportError:
    jsonschema = None
if jsonschema:
    jsonschema.Draft202012Validator(json.load(open(sys.argv[3]))).validate(d)
elif sys.argv[4] == "true":
    sys.exit("python3-jsonschema missing: the JSON Schema was not checked")
uuids = [c["UUID"] for c in d["Connections"]]
assert uuids and all(u.startswith(sys.argv[2] + "_") for u in uuids), uuids[:3]
assert d["Protocol"] == "h2", d["Protocol"]
assert d.get("ClientSummary", {}).get("Direction") == "upload", d.get("ClientSummary")
print("JSON Schema %s; MeasurementID=%s EndReason=%s, %d connections with the mounted UUID "
      "prefix, %d requests, the client summary" % ("valid" if jsonschema else "not checked",
      d["MeasurementID"], d["EndReason"], len(uuids), len(d["Requests"])))
' "$(printf '%s\n' "$rfiles" | head -n1)" "$prefix" schemas/responsiveness1.schema.json "${CI:-false}" \
  >"$work/rpm.json" 2>&1; then
  ok "$(cat "$work/rpm.json")"
else bad "responsiveness1 content: $(tail -n 2 "$work/rpm.json" 2>/dev/null)"; fi

step "metrics on :$p_prom"
metrics=$(http_get "http://127.0.0.1:$p_prom/metrics" 2>/dev/null || true)
# metric_sum NAME REGEX1 REGEX2: the sum of NAME's series matching both.
metric_sum() {
  printf '%s\n' "$metrics" | awk -v n="$1{" -v a="$2" -v b="$3" \
    'index($0, n) == 1 && $0 ~ a && $0 ~ b {s += $NF} END {print s + 0}'
}
succ=$(metric_sum netpulse_tests_total 'protocol="ndt7' 'result="success"')
rsucc=$(metric_sum netpulse_tests_total 'protocol="rpm[+]h2"' 'result="success"')
files_written=$(metric_sum netpulse_data_files_total 'datatype="ndt7"' 'result="written"')
rfiles_written=$(metric_sum netpulse_data_files_total 'datatype="responsiveness1"' 'result="written"')
expect "netpulse_tests_total{protocol=\"ndt7+*\",result=\"success\"} = 3" \
  "netpulse_tests_total{protocol=\"ndt7+*\",result=\"success\"} = $succ, expected 3" [ "$succ" = 3 ]
expect "netpulse_tests_total{protocol=\"rpm+h2\",result=\"success\"} = 1" \
  "netpulse_tests_total{protocol=\"rpm+h2\",result=\"success\"} = $rsucc, expected 1" [ "$rsucc" = 1 ]
expect "netpulse_data_files_total{datatype=\"ndt7\",result=\"written\"} = 3" \
  "netpulse_data_files_total{datatype=\"ndt7\",result=\"written\"} = $files_written, expected 3" \
  [ "$files_written" = 3 ]
expect "netpulse_data_files_total{datatype=\"responsiveness1\",result=\"written\"} = 1" \
  "netpulse_data_files_total{datatype=\"responsiveness1\",result=\"written\"} = $rfiles_written, expected 1" \
  [ "$rfiles_written" = 1 ]
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
