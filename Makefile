# Developer shortcuts. The test command is the one README.md gives.
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build test
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/presenced ./cmd/presenced

test:
	$(GO) test -race ./...

# Container images, built from binaries compiled here (no base image is
# pulled): presenced and a nats-server built from the Go module.
PRESENCED_IMAGE ?= presenced:latest
NATS_LOCAL_IMAGE ?= presenced-nats:latest

.PHONY: image e2e
image:
	GO=$(GO) VERSION=$(VERSION) PRESENCED_IMAGE=$(PRESENCED_IMAGE) NATS_LOCAL_IMAGE=$(NATS_LOCAL_IMAGE) scripts/images.sh

# The compose cluster end to end (needs Docker and Compose).
e2e:
	GO=$(GO) scripts/e2e.sh
