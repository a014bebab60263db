#!/usr/bin/env bash
# Builds a local stand-in for the official HAProxy image that docker-compose.yml's balancer uses,
# for a Docker engine that cannot pull from Docker Hub: Debian bookworm's haproxy (2.6, the
# branch of the official tag) on the local python:3.11-slim-bookworm stand-in, run as the
# official image runs it (user haproxy, the config at /usr/local/etc/haproxy/haproxy.cfg, in the
# foreground), tagged as the official name, so `docker compose up` finds it.  Where Docker Hub
# answers, `docker pull haproxy:2.6` instead.  Uses the legacy builder (DOCKER_BUILDKIT=0) with
# the host's network.
#
#   bash deploy/haproxy/standin-image.sh            builds haproxy:2.6
set -euo pipefail
tag=${1:-haproxy:2.6}
DOCKER_BUILDKIT=0 docker build --network host -t "$tag" - <<'DOCKERFILE'
FROM python:3.11-slim-bookworm
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /usr/local/etc/haproxy
USER haproxy
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
DOCKERFILE
echo "built $tag (local stand-in: Debian's $(docker run --rm "$tag" sh -c 'haproxy -v | head -n 1'))"
