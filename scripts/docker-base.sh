#!/usr/bin/env bash
# Makes the local Debian 12 base image that the Dockerfile builds FROM, with
# debootstrap and `docker import`, so that building netpulse's image needs no
# container registry (only a Debian mirror).
#
#   bash scripts/docker-base.sh [--force] [IMAGE]
#
# IMAGE defaults to netpulse-base/debian:bookworm (the Dockerfile's default
# BASE_IMAGE). Idempotent: when IMAGE already exists it does nothing, unless
# --force. Environment:
#   MIRROR           Debian mirror (default: the first .../debian URI in this
#                    machine's apt sources; no built-in fallback: without
#                    either the script stops and says so)
#   SECURITY_MIRROR  Debian security mirror written into the image's apt
#                    sources (default: the first .../debian-security URI in
#                    the apt sources; likewise required)
#   SUITE            Debian suite (default: bookworm)
#
# Needs root and a running Docker daemon; installs debootstrap with apt-get
# when it is missing. Where a registry is reachable, FROM debian:bookworm-slim
# (--build-arg BASE_IMAGE=debian:bookworm-slim) is equivalent.
set -euo pipefail

force=0
image=""
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    -h | --help)
      sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "docker-base.sh: unknown flag $a" >&2
      exit 2
      ;;
    *) image="$a" ;;
  esac
done
image="${image:-netpulse-base/debian:bookworm}"
suite="${SUITE:-bookworm}"

log() { printf 'docker-base: %s\n' "$*" >&2; }

if ! command -v docker >/dev/null 2>&1; then
  log "docker is not installed (apt-get install docker.io, then start dockerd)"
  exit 1
fi
if ! docker info >/dev/null 2>&1; then
  log "cannot reach the Docker daemon (is dockerd running?)"
  exit 1
fi
if [ "$force" = 0 ] && docker image inspect "$image" >/dev/null 2>&1; then
  log "$image exists; nothing to do (--force rebuilds it)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  log "debootstrap needs root"
  exit 1
fi

# The first URI of this machine's apt sources (one-line or deb822 format)
# that ends in the given path.
apt_uri() {
  local suffix="$1"
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    /etc/apt/sources.list.d/*.sources 2>/dev/null |
    sed -nE -e 's/^[[:space:]]*URIs:[[:space:]]*//p' \
      -e 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' |
    tr ' ' '\n' | sed 's,/*$,,' | grep -E "${suffix}\$" | head -n1 || true
}
# No host is built in: which mirror a machine may use is its operator's
# choice, already made in its apt sources.
mirror="${MIRROR:-$(apt_uri '/debian')}"
security="${SECURITY_MIRROR:-$(apt_uri '/debian-security')}"
if [ -z "$mirror" ]; then
  log "no Debian mirror: this machine's apt sources have no .../debian URI;"
  log "set MIRROR=<URL of a Debian mirror> (and SECURITY_MIRROR=...)"
  exit 1
fi
if [ -z "$security" ]; then
  log "no Debian security mirror: the apt sources have no .../debian-security URI;"
  log "set SECURITY_MIRROR=<URL of a Debian security mirror>"
  exit 1
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
fi

root="$(mktemp -d /var/tmp/netpulse-base.XXXXXX)"
trap 'rm -rf --one-file-system "$root"' EXIT

log "debootstrap --variant=minbase $suite from $mirror (a few minutes)"
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -n 30 "$root.log" >&2
  rm -f "$root.log"
  exit 1
}
rm -f "$root.log"

# Apt sources of the image: the release, its updates and security updates, so
# that `apt-get upgrade` in a derived image picks up fixes.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

# debootstrap installs the release as published; bring in bookworm-updates
# and bookworm-security now, so images built on this base start current.
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
log "apt-get upgrade inside the new root (updates and security)"
if ! { chroot "$root" apt-get update -q && 
  DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -y -q upgrade; } >"$root.log" 2>&1; then
  tail -n 30 "$root.log" >&2
  rm -f "$root.log"
  exit 1
fi
rm -f "$root.log"

# Like Docker's debian:*-slim: packages installed later leave out manuals,
# docs (except copyright) and translations; apt keeps no caches.
mkdir -p "$root/etc/dpkg/dpkg.cfg.d" "$root/etc/apt/apt.conf.d"
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
EOF
# What debootstrap left behind that an image does not need.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
  "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/log/apt/* \
  "$root"/usr/share/doc/*/changelog* "$root"/usr/share/man/* "$root"/usr/share/info/* \
  "$root"/tmp/* "$root"/root/.bash_history
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
find "$root/usr/share/doc" -type f ! -name copyright -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
: >"$root/etc/machine-id"
printf 'nameserver 127.0.0.1\n' >"$root/etc/resolv.conf" # Docker replaces it

created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
log "importing as $image"
tar --numeric-owner -C "$root" -c . |
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    --change "LABEL org.opencontainers.image.base.name=debian:$suite-minbase" \
    --change "LABEL org.opencontainers.image.created=$created" \
    --change "LABEL netpulse.base.mirror=$mirror" \
    --message "debootstrap --variant=minbase $suite $mirror" \
    - "$image" >/dev/null
docker image ls "$image" >&2
