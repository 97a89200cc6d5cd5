#!/usr/bin/env bash
# Installs netpulse's build (and, by default, test) dependencies on Debian 12;
# idempotent, non-interactive, installs only what is missing.
#
# Usage: scripts/install-deps.sh [--build-only | --package]
#   --build-only  only the packages needed to compile netpulse and its unit tests
#   --package     build packages + what scripts/package.sh needs (debhelper...)
#   (default)     build + test + package packages (with docker.io and
#                 debootstrap for the container phase), then the npm test
#                 peers in tests/peers
#
# Run as root (or with sudo available). Safe in CI with no stdin. All progress
# goes to stderr.
set -euo pipefail

log() { printf 'install-deps: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

build_only=0
package_only=0
for arg in "$@"; do
	case "$arg" in
	--build-only) build_only=1 ;;
	--package) package_only=1 ;;
	-h | --help)
		sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
		exit 0
		;;
	*) die "unknown option: $arg (try --help)" ;;
	esac
done

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

build_pkgs=(cmake gcc pkg-config libuv1-dev libssl-dev libjansson-dev
	zlib1g-dev libnghttp2-dev libcmocka-dev)
test_pkgs=(clang clang-format libclang-rt-14-dev python3 inotify-tools iperf3 nodejs npm chromium
	nghttp2-client curl python3-prometheus-client python3-jwt python3-jsonschema python3-yaml prometheus openssl
	iproute2 golang-go golang-golang-x-net-dev docker.io debootstrap
	man-db systemd)

# scripts/package.sh: the Debian packages (debhelper-compat 13) and lintian.
package_pkgs=(debhelper dpkg-dev lintian)

pkgs=("${build_pkgs[@]}")
if [ "$package_only" -eq 1 ]; then
	pkgs+=("${package_pkgs[@]}")
	build_only=1
elif [ "$build_only" -eq 0 ]; then
	pkgs+=("${test_pkgs[@]}" "${package_pkgs[@]}")
fi

# A package counts as present when dpkg says "install ok installed".
is_installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

missing=()
for p in "${pkgs[@]}"; do
	if is_installed "$p"; then
		continue
	fi
	# NodeSource's nodejs bundles npm and conflicts with Debian's npm
	# package: an npm on PATH is enough.
	if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then
		continue
	fi
	# Likewise a Docker engine from another package (docker-ce) conflicts
	# with docker.io: a dockerd on PATH is enough for the container phase.
	if [ "$p" = docker.io ] && command -v dockerd >/dev/null 2>&1; then
		continue
	fi
	missing+=("$p")
done

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || die "not root and no sudo; cannot install: ${missing[*]:-}"
	SUDO=sudo
fi

if [ "${#missing[@]}" -eq 0 ]; then
	log "all ${#pkgs[@]} Debian packages already installed"
else
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Another apt/dpkg run (e.g. unattended-upgrades) holds the lock: wait.
	apt_opts=(-o DPkg::Lock::Timeout=600)
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update -qq </dev/null >&2
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y -qq \
		--no-install-recommends "${missing[@]}" </dev/null >&2
	log "installed ${#missing[@]} package(s)"
fi

[ "$build_only" -eq 1 ] && exit 0

# --- npm test peers (tests/peers) -------------------------------------------
peers_dir="$root_dir/tests/peers"
[ -f "$peers_dir/package.json" ] || { log "no $peers_dir/package.json; skipping npm"; exit 0; }
command -v npm >/dev/null 2>&1 || die "npm not found after install"

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
	log "warning: Node.js $(node --version 2>/dev/null || echo '?') is older than 20;" \
		"playwright-core in tests/peers needs >= 20 (browser tests may fail)"
fi

# Skip when node_modules was installed from exactly this lockfile (the stamp
# is written only after a successful install).
stamp="$peers_dir/node_modules/.netpulse-lock.sha256"
if [ -f "$peers_dir/package-lock.json" ]; then
	want=$(sha256sum "$peers_dir/package-lock.json" "$peers_dir/package.json" | sha256sum | cut -d' ' -f1)
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		log "tests/peers/node_modules up to date with package-lock.json"
		exit 0
	fi
	log "npm ci in tests/peers"
	(cd "$peers_dir" && npm ci --no-audit --no-fund --loglevel=error </dev/null >&2)
	echo "$want" >"$stamp"
else
	log "no package-lock.json: npm install in tests/peers"
	(cd "$peers_dir" && npm install --no-audit --no-fund --loglevel=error </dev/null >&2)
	want=$(sha256sum "$peers_dir/package-lock.json" "$peers_dir/package.json" | sha256sum | cut -d' ' -f1)
	echo "$want" >"$stamp"
fi
log "npm test peers ready"
