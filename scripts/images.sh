#!/usr/bin/env bash
# Compiles static binaries and builds the container images from them:
#   $PRESENCED_IMAGE         presenced (default presenced:latest)
#   $NATS_LOCAL_IMAGE        nats-server built from the Go module (default presenced-nats:latest)
#   $PROMETHEUS_LOCAL_IMAGE  Prometheus from Debian's prometheus package
#                            (default presenced-prometheus:latest; empty: not built)
# No base image is pulled: every image is FROM scratch. The Prometheus image
# needs the Debian package installed (apt-get install prometheus); without
# it that image is skipped with a message, the others are still built.
set -euo pipefail
cd "$(dirname "$0")/.."
PRESENCED_IMAGE=${PRESENCED_IMAGE:-presenced:latest}
NATS_LOCAL_IMAGE=${NATS_LOCAL_IMAGE:-presenced-nats:latest}
PROMETHEUS_LOCAL_IMAGE=${PROMETHEUS_LOCAL_IMAGE-presenced-prometheus:latest}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
GO=${GO:-go}

mkdir -p bin/image-data
touch bin/image-data/.keep
CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o bin/presenced ./cmd/presenced
CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w" -o bin/nats-server github.com/nats-io/nats-server/v2

# The legacy builder needs no buildx plugin; it is enough for a few COPY lines.
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0}
docker build -q -t "$PRESENCED_IMAGE" -f Dockerfile . >/dev/null
docker build -q -t "$NATS_LOCAL_IMAGE" -f deploy/nats/Dockerfile . >/dev/null
built="$PRESENCED_IMAGE and $NATS_LOCAL_IMAGE"

# Prometheus: Debian's binary is linked against glibc, so the libraries
# ldd names go along, at the same paths.
prom=/usr/bin/prometheus
if [ -z "$PROMETHEUS_LOCAL_IMAGE" ]; then
	: # not wanted
elif [ -x "$prom" ] && command -v ldd >/dev/null; then
	stage=bin/prometheus-image
	rm -rf "$stage"
	mkdir -p "$stage/bin" "$stage/etc/prometheus" "$stage/usr/share/prometheus"
	cp "$prom" "$stage/bin/prometheus"
	ldd "$prom" | grep -o '/[^ ]*' | while read -r lib; do
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
	[ ! -d /usr/share/prometheus/web ] || cp -r /usr/share/prometheus/web "$stage/usr/share/prometheus/"
	cp deploy/compose/prometheus.yml "$stage/etc/prometheus/prometheus.yml"
	docker build -q -t "$PROMETHEUS_LOCAL_IMAGE" -f deploy/prometheus/Dockerfile . >/dev/null
	built="$PRESENCED_IMAGE, $NATS_LOCAL_IMAGE and $PROMETHEUS_LOCAL_IMAGE"
else
	echo "images.sh: $prom not found: $PROMETHEUS_LOCAL_IMAGE not built (apt-get install prometheus)" >&2
fi
echo "built $built"
