# netpulse: the M-Lab experiment image, built from source.
#
#   bash scripts/docker-base.sh            # once: local Debian 12 base image
#   docker build --network=host -t netpulse:dev .
#   bash scripts/docker-test.sh            # build + smoke test on loopback
#
# Stage 1 builds Release and runs the unit tests and the fuzz-corpus replays
# (a failing test fails the image build: unit tests on every build, as M-Lab
# recommends). Stage 2 holds only the two binaries and their runtime
# libraries, runs as nobody (65534) and starts netpulse-server.
#
# BASE_IMAGE is any Debian 12 (bookworm) image; the default is the one
# scripts/docker-base.sh makes with debootstrap, because no registry is
# needed. With a registry, --build-arg BASE_IMAGE=debian:bookworm-slim.
# Written for the classic builder and BuildKit alike (no RUN --mount, no
# syntax directive that would fetch a frontend image).
ARG BASE_IMAGE=netpulse-base/debian:bookworm

# ---------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS build

ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake make gcc libc6-dev pkg-config git \
      libuv1-dev libssl-dev libjansson-dev zlib1g-dev libnghttp2-dev \
      libcmocka-dev \
 && rm -rf /var/lib/apt/lists/*

# What the context holds is set by .dockerignore: sources, unit tests, fuzz
# corpora, schemas and .git (for the commit id CMake stamps into results).
COPY . /src
WORKDIR /src

# JOBS: parallel compile and test jobs (M-Lab's builders can raise it).
ARG JOBS=2
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build -j"${JOBS}" \
 && ctest --test-dir /build -L '^(unit|fuzz)$' -j"${JOBS}" --output-on-failure \
          --no-tests=error \
 && cmake --install /build --prefix /out --strip \
 && /out/bin/netpulse-server --help >/dev/null \
 && /out/bin/netpulse --version

# ---------------------------------------------------------------------------
FROM ${BASE_IMAGE}

ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libuv1 libssl3 libjansson4 zlib1g libnghttp2-14 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

COPY --from=build /out/bin/netpulse-server /out/bin/netpulse /usr/local/bin/
COPY --from=build /src/LICENSE /usr/share/doc/netpulse/LICENSE
# BigQuery schemas of the datatypes, for an init container that hands them to
# jostler (/var/spool/datatypes/<datatype>.json) once a datatype is autoloaded.
COPY --from=build /src/schemas/ /usr/share/netpulse/schemas/

# The spool (one directory per datatype; on M-Lab each is a hostPath mount)
# and the mount point of the socket-UUID prefix written by M-Lab's init
# container. Owned by nobody so that the image also works without mounts.
RUN mkdir -p /var/spool/netpulse/ndt7 /var/spool/netpulse/responsiveness1 /var/local/uuid \
 && chown -R 65534:65534 /var/spool/netpulse \
 && netpulse-server --help >/dev/null

# Every flag can be set as NETPULSE_<FLAG> (see netpulse-server --help).
# Deployments set the addresses, the TLS files and the admission limits; see
# deploy/k8s/netpulse.yaml and deploy/README.md.
ENV NETPULSE_DATADIR=/var/spool/netpulse

# ndt7 over ws:// and wss://, Prometheus /metrics. /health stays on
# 127.0.0.1:8000 (inside the pod or host network namespace).
EXPOSE 80 443 9990

USER 65534:65534
WORKDIR /var/spool/netpulse

# First SIGTERM: lame duck (health 500, new tests 503), running tests finish,
# exit 0 when idle or after --drain-timeout. Give `docker stop` at least that
# long (docker stop -t / docker run --stop-timeout).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["netpulse-server", "healthcheck"]
ENTRYPOINT ["netpulse-server"]

LABEL org.opencontainers.image.title="netpulse" \
      org.opencontainers.image.description="netpulse-server: ndt7 throughput tests for M-Lab, and the netpulse client" \
      org.opencontainers.image.licenses="Apache-2.0"
