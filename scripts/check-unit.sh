#!/bin/sh
# Checks deploy/systemd/netpulse-server.service the ways a machine without
# systemd as PID 1 can: `systemd-analyze verify` (syntax, the ExecStart
# binary, the Documentation= man page), and `systemd-analyze security
# --offline` with a ceiling on the exposure score, so that a sandboxing line
# lost later fails. Run by CTest as lint.systemd_unit.
#
#   sh scripts/check-unit.sh UNIT SERVER_BINARY MAN_PAGE [MAX_EXPOSURE]
set -eu
unit="$1"
server="$2"
page="$3"
max="${4:-2.0}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
name=$(basename "$unit")
# The unit names /usr/bin/netpulse-server; verify needs a binary that
# exists, so the copy names the one just built. The man page goes where
# `man netpulse-server(8)` (Documentation=) finds it.
sed "s|^ExecStart=/usr/bin/netpulse-server|ExecStart=$server|" "$unit" >"$tmp/$name"
grep -q "^ExecStart=$server" "$tmp/$name" || { echo "check-unit: no ExecStart=/usr/bin/netpulse-server in $unit"; exit 1; }
mkdir -p "$tmp/man/man8"
cp "$page" "$tmp/man/man8/"
status=0
MANPATH="$tmp/man" systemd-analyze verify "$tmp/$name" >"$tmp/verify.txt" 2>&1 || status=1
if [ -s "$tmp/verify.txt" ]; then
  echo "check-unit: systemd-analyze verify $name:"
  sed 's/^/    /' "$tmp/verify.txt"
  status=1
fi
for line in '^ExecReload=/bin/kill -HUP \$MAINPID$' '^EnvironmentFile=-/etc/default/netpulse-server$' \
  '^DynamicUser=yes$' '^StateDirectory=' '^AmbientCapabilities=CAP_NET_BIND_SERVICE$'; do
  grep -q "$line" "$unit" || { echo "check-unit: $name lacks $line"; status=1; }
done
if systemd-analyze security --offline=true --threshold="$(echo "$max" | awk '{ print int($1 * 10) }')" \
  --no-pager "$tmp/$name" >"$tmp/security.txt" 2>&1; then
  :
else
  echo "check-unit: systemd-analyze security: exposure over $max"
  status=1
fi
score=$(grep -o 'Overall exposure level[^:]*: [0-9.]*' "$tmp/security.txt" | awk '{ print $NF }')
[ -n "$score" ] || { echo "check-unit: no exposure figure:"; cat "$tmp/security.txt"; status=1; }
[ "$status" = 0 ] && echo "check-unit: $name verifies; exposure $score (at most $max)"
exit "$status"
