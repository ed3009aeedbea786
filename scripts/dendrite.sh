#!/usr/bin/env bash
# Builds the Dendrite v0.13.8 commands that the dendrite-tagged tests run
# (dendrite, generate-config, generate-keys, create-account) from the Go module
# proxy into a cache directory, once, and prints that directory.
#
# v0.13.8 is the last Apache-2.0 release of github.com/matrix-org/dendrite.
# Nothing of Dendrite is part of this repository: it is built on demand.
#
# Usage: scripts/dendrite.sh            # builds if needed, prints the bin dir
# Env:   PRESENCED_DENDRITE_BIN         # the cache dir (default below)
set -euo pipefail
version=v0.13.8
bin="${PRESENCED_DENDRITE_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/presenced/dendrite-$version/bin}"
cmds=(dendrite generate-config generate-keys create-account)

missing=0
for c in "${cmds[@]}"; do
	[ -x "$bin/$c" ] || missing=1
done
if [ "$missing" = 1 ]; then
	mkdir -p "$bin"
	pkgs=()
	for c in "${cmds[@]}"; do
		pkgs+=("github.com/matrix-org/dendrite/cmd/$c@$version")
	done
	# Outside any module, so that the project's go.mod is neither read nor changed.
	(cd "$(mktemp -d)" && GOBIN="$bin" GOFLAGS=-mod=mod CGO_ENABLED=1 go install "${pkgs[@]}") >&2
fi
echo "$bin"
