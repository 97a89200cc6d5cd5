#!/bin/sh
# Runs netpulse-server as a spool writer for spool_watch.py: starts the
# server (this shell's PID becomes the server's, so the watcher's SIGKILL
# lands on the server itself) and, in the background, runs client tests
# against it; when they are done the server gets SIGTERM and drains.
#
# Usage: server_writer.sh DATADIR SERVER CLIENT TEST...
#   TEST: download | upload (each one client run over ws)
#   The server log goes to DATADIR.log (outside the watched tree).
set -eu
datadir=$1 server=$2 client=$3
shift 3
log="$datadir.log"
: >"$log"
(
  port=""
  for _ in $(seq 200); do
    port=$(sed -n 's/.*msg="listening" proto=ndt7+ws .* port=\([0-9]*\).*/\1/p' "$log" | head -n1)
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "server_writer: server did not start" >&2; exit 1; }
  for t in "$@"; do
    "$client" --server "127.0.0.1:$port" --scheme ws "--$t" --accept-data-policy \
      --format json >/dev/null || echo "server_writer: $t client failed" >&2
  done
  # $$ is the shell that exec'd the server: the server itself, unless the
  # watcher killed it meanwhile (then never signal a recycled PID).
  if [ "$(cat /proc/$$/comm 2>/dev/null)" = netpulse-server ]; then
    kill -TERM $$ 2>/dev/null || true
  fi
) &
exec "$server" --ndt7-addr-cleartext 127.0.0.1:0 --ndt7-addr "" --health-addr "" \
  --prometheus-addr "" --datadir "$datadir" 2>>"$log"
