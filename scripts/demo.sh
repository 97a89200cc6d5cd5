#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs the build packages that
# are missing, builds netpulse, starts netpulse-server on loopback with a
# temporary spool directory, runs the netpulse client (ndt7 download, then
# upload, then the responsiveness (RPM) test over HTTP/2) against it, and
# prints the results and the data files the server wrote, then those files
# as a table (netpulse-data table).
#
# Usage: scripts/demo.sh [--scheme ws|wss] [--keep]
#   --scheme  ws (default) or wss (self-signed certificate, --no-verify)
#   --keep    keep the spool directory (it is kept anyway; this also keeps logs)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scheme=ws
for a in "$@"; do
  case "$a" in
  --scheme=*) scheme=${a#--scheme=} ;;
  ws | wss) scheme=$a ;;
  --scheme) ;;
  --keep) ;;
  -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "demo.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

say() { printf '\n== %s ==\n' "$*" >&2; }

say "installing missing build packages"
bash scripts/install-deps.sh --build-only

# A tree of its own: the test suite's build/ keeps its options (tests on),
# whichever of the README's two commands runs first.
bdir=build-demo
say "building (release, in $bdir/)"
cmake -S . -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DNP_TESTS=OFF >/dev/null
cmake --build "$bdir" -j"$(nproc)" --target netpulse-server netpulse-cli netpulse-data >/dev/null
echo "built $bdir/netpulse-server, $bdir/netpulse and $bdir/netpulse-data" >&2

work=$(mktemp -d /tmp/netpulse-demo.XXXXXX)
spool="$work/spool"
log="$work/server.log"
say "starting netpulse-server on loopback (spool: $spool)"
"$bdir/netpulse-server" --ndt7-addr-cleartext 127.0.0.1:0 --ndt7-addr 127.0.0.1:0 \
  --tls-self-signed --health-addr 127.0.0.1:0 --prometheus-addr 127.0.0.1:0 \
  --datadir "$spool" --label demo=true 2>"$log" &
srv=$!
stop_server() {
  if kill -0 "$srv" 2>/dev/null; then
    kill -TERM "$srv" 2>/dev/null || true
    wait "$srv" 2>/dev/null || true
  fi
}
trap stop_server EXIT

port_of() { sed -n "s/.*msg=\"listening\" proto=$1 .* port=\([0-9]*\).*/\1/p" "$log" | head -n1; }
for _ in $(seq 100); do
  [ -n "$(port_of "ndt7+ws")" ] && [ -n "$(port_of "ndt7+wss")" ] && break
  kill -0 "$srv" 2>/dev/null || { cat "$log" >&2; echo "server failed to start" >&2; exit 1; }
  sleep 0.1
done
if [ "$scheme" = wss ]; then
  port=$(port_of "ndt7+wss"); extra=(--no-verify)
else
  port=$(port_of "ndt7+ws"); extra=()
fi
echo "server listening on 127.0.0.1:$port ($scheme)" >&2

say "running the netpulse client: ndt7 download, then upload, then responsiveness (RPM) (under a minute)"
status=0
"$bdir/netpulse" --server "127.0.0.1:$port" --scheme "$scheme" "${extra[@]}" \
  --accept-data-policy || status=$?

say "stopping the server (it finishes writing its data first)"
stop_server
trap - EXIT

say "data files written by the server"
files=$(find "$spool" -type f \( -name '*.json.gz' -o -name '*.json' \) ! -name '.*' | sort)
if [ -z "$files" ]; then
  echo "no data files were written; server log: $log" >&2
  exit 1
fi
for f in $files; do
  echo "$f"
done
echo "(ndt7: gzip'd JSON in ndt-server's shape: zcat FILE | python3 -m json.tool;" >&2
echo " responsiveness1: one line of JSON with the client's summary: python3 -m json.tool FILE)" >&2
echo "server log: $log" >&2

say "the demo spool as a table (netpulse-data table; see docs/data.md)"
"$bdir/netpulse-data" table "$spool" || { echo "netpulse-data table failed" >&2; status=1; }
exit "$status"
