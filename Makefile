# Developer shortcuts. The test command is the one README.md gives.
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build test
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/presenced ./cmd/presenced

test:
	$(GO) test -race ./...
