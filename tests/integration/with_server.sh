#!/bin/sh
# Runs a command against a fresh netpulse-server on loopback: starts the
# server on free ports with a temporary datadir, replaces {ws}, {wss},
# {health} (ports) and {datadir} in the command's arguments, runs it, then
# stops the server with SIGTERM (it drains and writes its data first) and
# exits with the command's status (or 1 if the server did not exit 0).
#
# Usage: with_server.sh SERVER_BIN [SERVER_FLAG...] -- COMMAND [ARG...]
set -eu
server=$1
shift
sflags=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  sflags="$sflags $1"
  shift
done
[ "${1:-}" = "--" ] && shift
tmp=$(mktemp -d /tmp/np-with-server.XXXXXX)
datadir="$tmp/spool"
log="$tmp/server.log"
# shellcheck disable=SC2086
"$server" --ndt7-addr-cleartext 127.0.0.1:0 --ndt7-addr 127.0.0.1:0 --tls-self-signed \
  --health-addr 127.0.0.1:0 --prometheus-addr 127.0.0.1:0 --uuid-prefix-file "$tmp/none" \
  --datadir "$datadir" $sflags 2>"$log" &
srv=$!
port_of() { sed -n "s/.*msg=\"listening\" proto=$1 .* port=\([0-9]*\).*/\1/p" "$log" | head -n1; }
ws="" wss="" health=""
for _ in $(seq 200); do
  ws=$(port_of "ndt7+ws") wss=$(port_of "ndt7+wss") health=$(port_of health)
  [ -n "$ws" ] && [ -n "$wss" ] && [ -n "$health" ] && break
  kill -0 "$srv" 2>/dev/null || break
  sleep 0.05
done
if [ -z "$ws" ] || [ -z "$wss" ] || [ -z "$health" ]; then
  echo "with_server: server did not start:" >&2
  cat "$log" >&2
  kill "$srv" 2>/dev/null || true
  exit 1
fi
n=$#
i=0
while [ $i -lt $n ]; do
  a=$1
  shift
  a=$(printf '%s' "$a" | sed -e "s|{ws}|$ws|g" -e "s|{wss}|$wss|g" \
        -e "s|{health}|$health|g" -e "s|{datadir}|$datadir|g")
  set -- "$@" "$a"
  i=$((i + 1))
done
status=0
"$@" || status=$?
kill -TERM "$srv" 2>/dev/null || true
srv_status=0
wait "$srv" || srv_status=$?
if [ "$srv_status" -ne 0 ]; then
  echo "with_server: server exited with $srv_status; log:" >&2
  tail -n 50 "$log" >&2
  [ "$status" -eq 0 ] && status=1
fi
# Every data file the server wrote must fit the shipped schema.
if ! python3 "$(dirname "$0")/datafiles.py" check "$datadir" >&2; then
  [ "$status" -eq 0 ] && status=1
fi
if [ "$status" -ne 0 ]; then
  echo "with_server: server log kept at $log" >&2
else
  rm -rf "$tmp"
fi
exit "$status"
