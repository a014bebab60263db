#!/usr/bin/env bash
# Builds a local stand-in for the official nginx image that docker-compose.yml's balancer uses,
# for a Docker engine that cannot pull from Docker Hub: Debian bookworm's nginx (1.22) and curl
# (the healthcheck's) on the local python:3.11-slim-bookworm stand-in, tagged as the official
# name, so `docker-compose up` finds it.  Where Docker Hub answers, `docker pull nginx:1.27`
# instead.  Uses the legacy builder (DOCKER_BUILDKIT=0) with the host's network, like the other
# stand-ins.
#
#   bash deploy/nginx/standin-image.sh            builds nginx:1.27
set -euo pipefail
tag=${1:-nginx:1.27}
DOCKER_BUILDKIT=0 docker build --network host -t "$tag" - <<'EOF'
FROM python:3.11-slim-bookworm
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light curl \
    && rm -rf /var/lib/apt/lists/*
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
EOF
echo "built $tag (local stand-in: Debian's nginx $(docker run --rm "$tag" nginx -v 2>&1 | sed 's/.*\///'))"
