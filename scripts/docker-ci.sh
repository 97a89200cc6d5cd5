#!/usr/bin/env bash
# The container phase of scripts/test.sh: makes sure a Docker daemon is
# reachable (starting dockerd itself when none runs, and stopping exactly that
# daemon again on exit), makes the base image (scripts/docker-base.sh), then
# builds and smoke-tests the image (scripts/docker-test.sh), then builds the
# Debian packages and tests them in a clean container
# (scripts/package-test.sh).
#
#   bash scripts/docker-ci.sh [docker-test.sh arguments]
#
# Images and the layer cache stay in /var/lib/docker, so a second run on the
# same machine reuses the base image and the cached apt layers; a fresh
# machine builds everything. The daemon this script starts has no iptables
# rules and no bridge (the smoke test uses --network=host), uses overlay2
# when the kernel and filesystem allow it, else vfs, and logs to
# /var/log/netpulse-dockerd.log (this run only). On that daemon, untagged
# images older than a day are pruned (younger ones are the next run's
# cache); a daemon that was already running is left as it is. Needs root and
# docker.io (scripts/install-deps.sh installs it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'docker-ci: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (dockerd, debootstrap and the smoke test need it)"
command -v dockerd >/dev/null || die "dockerd not found (apt-get install docker.io)"
command -v docker >/dev/null || die "docker not found (apt-get install docker.io)"

dlog=/var/log/netpulse-dockerd.log
pidfile=/run/netpulse-dockerd.pid
started=""

# Stops the daemon this script started (and, through it, the containerd it
# manages), never one that was already running.
stop_dockerd() {
  [ -n "$started" ] || return 0
  if kill -0 "$started" 2>/dev/null; then
    log "stopping the dockerd we started (pid $started)"
    kill -TERM "$started" 2>/dev/null || true
    for _ in $(seq 1 60); do
      kill -0 "$started" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$started" 2>/dev/null; then
      log "dockerd $started did not stop in 30 s: SIGKILL"
      kill -KILL "$started" 2>/dev/null || true
    fi
  fi
  started=""
}
trap stop_dockerd EXIT
trap 'exit 130' INT TERM

# start_dockerd DRIVER: 0 when a daemon with DRIVER answers within 60 s.
start_dockerd() {
  local driver="$1"
  log "starting dockerd (storage driver $driver, log $dlog)"
  printf '\n--- %s: dockerd --storage-driver=%s\n' "$(date -u +%FT%TZ)" "$driver" >>"$dlog"
  dockerd --iptables=false --ip-masq=false --bridge=none \
    --storage-driver="$driver" --pidfile="$pidfile" >>"$dlog" 2>&1 &
  started=$!
  for _ in $(seq 1 120); do
    if ! kill -0 "$started" 2>/dev/null; then
      wait "$started" 2>/dev/null || true
      started=""
      log "dockerd with $driver exited; last lines of $dlog:"
      tail -n 5 "$dlog" | sed 's/^/    /' >&2
      return 1
    fi
    docker info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  log "dockerd with $driver did not answer in 60 s"
  stop_dockerd
  return 1
}

t0=$(date +%s)
: >"$dlog" 2>/dev/null || true # this run's daemon log only
if docker info >/dev/null 2>&1; then
  log "using the running Docker daemon ($(docker info -f '{{.Driver}}' 2>/dev/null))"
else
  start_dockerd overlay2 || start_dockerd vfs || die "could not start dockerd (see $dlog)"
  log "dockerd $started ready ($(docker info -f '{{.Driver}}') storage) in $(($(date +%s) - t0)) s"
fi

status=0
bash scripts/docker-test.sh "$@" || status=$?
# The Debian packages, installed in a clean container and used the way a
# user and an embedder would (scripts/package-test.sh).
bash scripts/package-test.sh || status=$?
# Every build leaves the previous image and build stage untagged. Those a
# day old go; younger ones stay as the layer cache of the next run (the
# apt-get layers hang below them and are kept while anything uses them).
if [ -n "$started" ]; then
  docker image prune -f --filter until=24h >/dev/null 2>&1 || true
fi
docker system df 2>/dev/null | sed 's/^/    /' >&2 || true
log "container phase: $(($(date +%s) - t0)) s, exit $status"
exit "$status"
