#!/usr/bin/env bash
# Compiles static binaries and builds the container images from them:
#   $PRESENCED_IMAGE  presenced (default presenced:latest)
#   $NATS_LOCAL_IMAGE nats-server built from the Go module (default presenced-nats:latest)
# No base image is pulled: both images are FROM scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
PRESENCED_IMAGE=${PRESENCED_IMAGE:-presenced:latest}
NATS_LOCAL_IMAGE=${NATS_LOCAL_IMAGE:-presenced-nats:latest}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
GO=${GO:-go}

mkdir -p bin/image-data
touch bin/image-data/.keep
CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o bin/presenced ./cmd/presenced
CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w" -o bin/nats-server github.com/nats-io/nats-server/v2

# The legacy builder needs no buildx plugin; it is enough for two COPY lines.
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0}
docker build -q -t "$PRESENCED_IMAGE" -f Dockerfile . >/dev/null
docker build -q -t "$NATS_LOCAL_IMAGE" -f deploy/nats/Dockerfile . >/dev/null
echo "built $PRESENCED_IMAGE and $NATS_LOCAL_IMAGE"
