#!/usr/bin/env bash
# Proves the Debian packages the way a user meets them, in a clean Debian 12
# container (the base image of scripts/docker-base.sh plus a compiler, cmake
# and man-db, and without the image's "no manuals" dpkg filter):
#
#   1. bash scripts/package.sh (committed HEAD; lintian errors fail);
#   2. apt-get install ./dist/*.deb (apt pulls the dependencies the packages
#      declare); `netpulse --version` names the version and commit;
#   3. docs/examples/ndt7_embed.c and rpm_embed.c built against the installed
#      library with pkg-config alone, and with a three-line CMake project
#      (find_package(netpulse), netpulse::netpulse); all four run against
#      the installed netpulse-server, started with /etc/default/netpulse-server
#      (loopback ports instead of 80/443): ndt7 download and upload, RPM
#      over h2c, result files in the spool;
#   4. `man netpulse` and `man netpulse-server` render without warnings.
#
#   bash scripts/package-test.sh [--no-build]
#
# --no-build uses dist/ as it is. Environment: BASE_IMAGE (default
# netpulse-base/debian:bookworm). Needs root, a running Docker daemon and
# the base image (scripts/docker-ci.sh provides both); the tools layer is
# cached between runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

base="${BASE_IMAGE:-netpulse-base/debian:bookworm}"
tools=netpulse-pkgtest:tools
build=1
for a in "$@"; do
  case "$a" in
    --no-build) build=0 ;;
    -h | --help)
      sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "package-test.sh: unknown argument $a" >&2
      exit 2
      ;;
  esac
done
log() { printf 'package-test: %s\n' "$*" >&2; }
die() {
  printf 'FAIL %s\n' "$*"
  exit 1
}
t0=$(date +%s)
docker info >/dev/null 2>&1 || die "cannot reach the Docker daemon"
docker image inspect "$base" >/dev/null 2>&1 || die "no base image $base (bash scripts/docker-base.sh)"

if [ "$build" = 1 ]; then
  bash scripts/package.sh
fi
ls dist/netpulse_*.deb dist/netpulse-server_*.deb dist/libnetpulse1_*.deb \
  dist/libnetpulse-dev_*.deb >/dev/null || die "dist/ lacks one of the four packages"
t_pkg=$(date +%s)

# The tools an embedder has; not the packages' own dependencies, which apt
# must find from their Depends. The base image leaves manuals out (like
# Docker's slim images): a user's system has them.
log "tools image $tools (cached after the first run)"
docker build -q --network=host -t "$tools" --build-arg BASE="$base" - >/dev/null <<'EOD' ||
ARG BASE
FROM ${BASE}
RUN rm -f /etc/dpkg/dpkg.cfg.d/docker-slim \
 && apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      gcc libc6-dev make cmake pkg-config man-db \
 && rm -rf /var/lib/apt/lists/*
EOD
  die "docker build of $tools failed"

# Free loopback ports for the server (others share this machine).
read -r p_http p_health < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')

log "clean container: apt-get install ./dist/*.deb, build and run the examples"
status=0
docker run --rm --network=host -v "$PWD/dist:/dist:ro" -v "$PWD/docs/examples:/examples:ro" \
  -e P_HTTP="$p_http" -e P_HEALTH="$p_health" "$tools" bash -euo pipefail -c '
fails=0
ok() { printf "ok   %s\n" "$*"; }
bad() { printf "FAIL %s\n" "$*"; fails=$((fails + 1)); }
cd /tmp
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  /dist/netpulse_*.deb /dist/netpulse-server_*.deb /dist/libnetpulse1_*.deb \
  /dist/libnetpulse-dev_*.deb >apt.log 2>&1 || { tail -n 20 apt.log; exit 1; }
ok "apt-get install of the four packages: $(dpkg-query -W -f "\${Package} \${Version}, " netpulse netpulse-server libnetpulse1 libnetpulse-dev)"
v=$(netpulse --version)
case "$v" in "netpulse "[0-9]*" ("[0-9a-f]*")") ok "netpulse --version: $v" ;; *) bad "netpulse --version: $v" ;; esac

# 1. pkg-config alone.
for ex in ndt7_embed rpm_embed; do
  if cc -std=gnu17 -Wall -Werror -o pc_$ex /examples/$ex.c $(pkg-config --cflags --libs netpulse) 2>cc.log; then
    ok "pkg-config: cc $ex.c \$(pkg-config --cflags --libs netpulse)"
  else
    cat cc.log; bad "pkg-config build of $ex"
  fi
done
# (ldd into a file first: grep -q would end the pipe early, and pipefail.)
ldd pc_rpm_embed >ldd.txt
grep -qE "libnetpulse.so.1 => /(usr/)?lib/[a-z0-9_-]+/libnetpulse.so.1 " ldd.txt && ok "pc_rpm_embed loads the packaged libnetpulse.so.1" || bad "pc_rpm_embed: $(grep netpulse ldd.txt)"
# 2. a three-line CMake project.
mkdir -p cm && cp /examples/ndt7_embed.c /examples/rpm_embed.c cm/
cat >cm/CMakeLists.txt <<EOC
cmake_minimum_required(VERSION 3.25)
project(embed C)
find_package(netpulse 0.1 REQUIRED)
add_executable(ndt7_embed ndt7_embed.c)
target_link_libraries(ndt7_embed PRIVATE netpulse::netpulse)
add_executable(rpm_embed rpm_embed.c)
target_link_libraries(rpm_embed PRIVATE netpulse::netpulse)
EOC
if cmake -S cm -B cm/b >cm.log 2>&1 && cmake --build cm/b >>cm.log 2>&1; then
  ok "CMake: find_package(netpulse) + netpulse::netpulse"
else
  tail -n 20 cm.log; bad "CMake build of the examples"
fi

# 3. the installed server, configured by its /etc/default file.
mkdir -p spool
set -a; . /etc/default/netpulse-server; set +a
export NETPULSE_HTTP_ADDR=127.0.0.1:$P_HTTP NETPULSE_HTTPS_ADDR= NETPULSE_PROMETHEUS_ADDR= \
  NETPULSE_HEALTH_ADDR=127.0.0.1:$P_HEALTH NETPULSE_DATADIR=/tmp/spool
netpulse-server 2>server.log &
srv=$!
up=0
for _ in $(seq 1 50); do
  netpulse-server healthcheck >/dev/null 2>&1 && { up=1; break; }
  sleep 0.2
done
[ "$up" = 1 ] && ok "netpulse-server up with /etc/default/netpulse-server" || { cat server.log; bad "netpulse-server did not come up"; }
# All four at once: each only has to succeed.
pids=""
for b in pc_ndt7_embed cm/b/ndt7_embed; do ./$b 127.0.0.1:$P_HTTP ws >$(basename $b).$$.out 2>&1 & pids="$pids $!:$b"; done
for b in pc_rpm_embed cm/b/rpm_embed; do ./$b 127.0.0.1:$P_HTTP http >$(basename $b).$$.out 2>&1 & pids="$pids $!:$b"; done
for pb in $pids; do
  p=${pb%%:*}; b=${pb#*:}
  if wait $p; then ok "$b against netpulse-server: $(tail -n 1 $(basename $b).$$.out | cut -c1-100)"
  else tail -n 5 $(basename $b).$$.out; bad "$b against netpulse-server"; fi
done
kill -TERM $srv; wait $srv || bad "netpulse-server exit status after SIGTERM: $?"
n7=$(find spool/ndt7 -name "*.json.gz" | wc -l); nr=$(find spool/responsiveness1 -name "*.json" | wc -l)
[ "$n7" = 4 ] && [ "$nr" = 2 ] && ok "spool: $n7 ndt7 files, $nr responsiveness1 files" || bad "spool: $n7 ndt7 files (want 4), $nr responsiveness1 (want 2)"

# 4. the manuals.
for page in netpulse netpulse-server; do
  if MANWIDTH=100 man --warnings=w "$page" >man.txt 2>man.err && [ ! -s man.err ] && grep -q -- "--server\|--http-addr" man.txt; then
    ok "man $page renders ($(wc -l <man.txt) lines, no warning)"
  else
    cat man.err; bad "man $page"
  fi
done
exit $fails
' || status=$?
log "packages: $((t_pkg - t0)) s, container check $(($(date +%s) - t_pkg)) s, exit $status"
[ "$status" = 0 ] && echo "ok   package test: four packages install and work in a clean Debian 12 container"
exit "$status"
