#!/usr/bin/env bash
# Builds netpulse's Debian packages into dist/: netpulse (client),
# netpulse-server (server, systemd unit, /etc/default/netpulse-server),
# libnetpulse1 and libnetpulse-dev; then runs lintian on them and fails on
# any lintian error.
#
#   bash scripts/package.sh [--worktree]
#
# The committed HEAD is packaged (git archive), so uncommitted edits never
# reach a package; --worktree packages the work tree as it is. The version
# is CMakeLists.txt's project(VERSION) (the one place it is written):
# debian/changelog is generated from it, with the commit, which the
# programs also print (`netpulse --version`). Needs the build dependencies
# and debhelper, dpkg-dev and lintian (bash scripts/install-deps.sh
# --package installs them on Debian 12). Environment: JOBS (default 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'package: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

worktree=0
for a in "$@"; do
  case "$a" in
    --worktree) worktree=1 ;;
    -h | --help)
      sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument $a (try --help)" ;;
  esac
done
for t in dpkg-buildpackage dh lintian; do
  command -v "$t" >/dev/null || die "$t not found (bash scripts/install-deps.sh --package)"
done

version=$(sed -nE 's/^project\(netpulse VERSION ([0-9]+\.[0-9]+\.[0-9]+).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || die "no project(netpulse VERSION x.y.z) in CMakeLists.txt"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
when=$(git log -1 --format=%ct 2>/dev/null || date +%s)
t0=$(date +%s)

work=$(mktemp -d /tmp/netpulse-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
src="$work/netpulse-$version"
if [ "$worktree" = 1 ]; then
  mkdir -p "$src"
  git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$src"
  commit="$commit-dirty"
else
  git archive --format=tar --prefix="netpulse-$version/" HEAD | tar -x -C "$work"
fi

# A native package: the version is the project's, nothing appended.
cat >"$src/debian/changelog" <<EOC
netpulse ($version) unstable; urgency=medium

  * Built from commit $commit (scripts/package.sh).

 -- netpulse maintainers <netpulse@example.org>  $(date -R -u -d "@$when")
EOC

log "dpkg-buildpackage netpulse $version (commit $commit) in $work"
(cd "$src" && SOURCE_DATE_EPOCH="$when" DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-} noautodbgsym" NP_GIT_COMMIT="$commit" \
  dpkg-buildpackage -us -uc -j"${JOBS:-2}" >"$work/build.log" 2>&1) || {
  tail -n 40 "$work/build.log" >&2
  die "dpkg-buildpackage failed"
}

rm -rf dist
mkdir -p dist
mv "$work"/*.deb "$work"/*.changes "$work"/*.dsc "$work"/*.tar.* "$work"/*.buildinfo dist/
ls -l dist/*.deb | awk '{ print "package:   " $5 "  " $NF }' >&2

# lintian on the source and the four binaries; errors fail, the rest is shown.
log "lintian"
rc=0
lintian --fail-on error --display-info --tag-display-limit 0 dist/*.changes >dist/lintian.txt 2>&1 || rc=$?
sed 's/^/    /' dist/lintian.txt >&2
[ "$rc" = 0 ] || die "lintian reports errors (dist/lintian.txt)"
log "done in $(($(date +%s) - t0)) s: $(grep -c '^E:' dist/lintian.txt || true) lintian errors," \
  "$(grep -c '^W:' dist/lintian.txt || true) warnings"
