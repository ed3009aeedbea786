#!/usr/bin/env bash
# Builds kube-apiserver and kubectl from the Go module proxy into a cache
# directory, once, and prints that directory. scripts/ci-kube.sh runs them to
# check deploy/kubernetes/ against a real API server.
#
# The k8s.io/kubernetes module cannot be built as published: its go.mod
# replaces every k8s.io/* staging module with ./staging/src/k8s.io/..., a
# directory that the module zip does not carry. A throw-away wrapper module
# therefore requires k8s.io/kubernetes at the tag and replaces each staging
# module it names with the published copy of the same release (v1.X.Y is
# published as k8s.io/<name> v0.X.Y). The list is read from that go.mod, so a
# new staging module in a later release needs no change here.
#
# Nothing of Kubernetes is part of this repository: it is built on demand.
#
# Usage: scripts/kube-apiserver.sh      # builds if needed, prints the bin dir
# Env:   PRESENCED_KUBE_VERSION         # the Kubernetes tag (default below)
#        PRESENCED_KUBE_BIN             # the cache dir (default below)
set -euo pipefail
version="${PRESENCED_KUBE_VERSION:-v1.35.4}"
bin="${PRESENCED_KUBE_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/presenced/kube-$version/bin}"
cmds=(kube-apiserver kubectl)

missing=0
for c in "${cmds[@]}"; do
	[ -x "$bin/$c" ] || missing=1
done
if [ "$missing" = 0 ]; then
	echo "$bin"
	exit 0
fi

case "$version" in
v1.*.*) ;;
*) echo "kube-apiserver.sh: version must look like v1.X.Y, got $version" >&2; exit 2 ;;
esac
minor="${version#v1.}"; minor="${minor%%.*}"
staging_version="v0.${version#v1.}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export GOWORK=off GOFLAGS="-mod=mod -buildvcs=false"
(
	cd "$work"
	gomod="$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
	[ -f "$gomod" ] || { echo "kube-apiserver.sh: no go.mod for k8s.io/kubernetes@$version" >&2; exit 1; }
	# Lines like "k8s.io/api => ./staging/src/k8s.io/api", inside or outside a replace block.
	staging="$(sed -n 's#^[[:space:]]*\(replace[[:space:]]\{1,\}\)\{0,1\}\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*#\2#p' "$gomod")"
	[ -n "$staging" ] || { echo "kube-apiserver.sh: no staging replaces in $gomod" >&2; exit 1; }
	goline="$(grep -m1 '^go ' "$gomod")"
	{
		echo "module presenced.invalid/kube-build"
		echo
		echo "$goline"
		echo
		echo "require k8s.io/kubernetes $version"
		echo
		echo "replace ("
		for m in $staging; do
			echo "	$m => $m $staging_version"
		done
		echo ")"
	} >go.mod
	echo "kube-apiserver.sh: building kube-apiserver and kubectl $version ($(echo "$staging" | wc -w) staging modules at $staging_version)" >&2
	ldflags="-s -w"
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X $p.gitVersion=$version -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
	done
	mkdir -p "$bin"
	for c in "${cmds[@]}"; do
		CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin/$c.tmp" "k8s.io/kubernetes/cmd/$c"
		mv "$bin/$c.tmp" "$bin/$c"
	done
) >&2
echo "$bin"
