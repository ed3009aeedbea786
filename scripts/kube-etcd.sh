#!/usr/bin/env bash
# Prints the path of an etcd that the Kubernetes API server of
# scripts/kube-apiserver.sh can use: Debian's (package etcd-server) when it
# is recent enough, otherwise one built once from the Go module proxy into
# a cache directory.
#
# Kubernetes 1.31 and later need etcd 3.4.29 / 3.5.11 or newer (the API
# server relies on health endpoints added in those releases); Debian 12
# ships 3.4.23. The build uses a throw-away wrapper module because
# go.etcd.io/etcd/server/v3 carries replace directives, which `go install
# module@version` refuses.
#
# Usage: scripts/kube-etcd.sh    # builds if needed, prints the etcd path
# Env:   PRESENCED_ETCD_VERSION (default below), PRESENCED_ETCD_BIN (cache dir)
set -euo pipefail
version="${PRESENCED_ETCD_VERSION:-v3.5.35}"
bin="${PRESENCED_ETCD_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/presenced/etcd-$version/bin}"

# recent_enough reports whether "etcd --version" of $1 is 3.4.29+, 3.5.11+ or 3.6+.
recent_enough() {
	local v major minor patch
	v="$("$1" --version 2>/dev/null | sed -n 's/^etcd Version: \([0-9.]*\).*/\1/p')"
	IFS=. read -r major minor patch <<<"$v"
	[ -n "${patch:-}" ] || return 1
	[ "$major" -gt 3 ] && return 0
	[ "$major" -eq 3 ] || return 1
	case "$minor" in
	4) [ "$patch" -ge 29 ] ;;
	5) [ "$patch" -ge 11 ] ;;
	*) [ "$minor" -ge 6 ] ;;
	esac
}

debian="$(command -v etcd || true)"
if [ -n "$debian" ] && recent_enough "$debian"; then
	echo "$debian"
	exit 0
fi
if [ -x "$bin/etcd" ]; then
	echo "$bin/etcd"
	exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(
	cd "$work"
	export GOWORK=off GOFLAGS="-mod=mod -buildvcs=false"
	printf 'module presenced.invalid/etcd-build\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$version" >go.mod
	why=""
	if [ -n "$debian" ]; then
		why=" ($debian is etcd $("$debian" --version | sed -n 's/^etcd Version: //p'), too old)"
	fi
	echo "kube-etcd.sh: building etcd $version$why" >&2
	mkdir -p "$bin"
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3
	mv "$bin/etcd.tmp" "$bin/etcd"
) >&2
echo "$bin/etcd"
