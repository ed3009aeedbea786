#!/usr/bin/env bash
# Checks deploy/kubernetes against a real Kubernetes API server, then
# decodes every object strictly in Go:
#
#  1. installs what is missing (etcd, curl, openssl, gcc) with apt-get;
#  2. builds kube-apiserver and kubectl once (scripts/kube-apiserver.sh,
#     cached under ~/.cache/presenced/kube-<version>/);
#  3. starts etcd and kube-apiserver on 127.0.0.1 in a temporary directory
#     (no controller manager, scheduler or kubelet: nothing is run, objects
#     are only admitted or refused);
#  4. installs the minimal ServiceMonitor and PrometheusRule CRDs of
#     deploy/kubernetes/validate/crds;
#  5. for every overlay: renders it with `kubectl kustomize`, creates its
#     namespaces, and `kubectl apply --dry-run=server --validate=strict`s it;
#     any error or warning (an unknown field, a Pod Security violation, a
#     deprecated API) fails the check;
#  6. runs the Go tests of deploy/kubernetes/validate on the same rendered
#     files;
#  7. stops etcd and the API server and removes the directory, whatever
#     happened; exits non-zero on any failure.
#
# Env: PRESENCED_KUBE_VERSION (see scripts/kube-apiserver.sh),
#      PRESENCED_KUBE_PORT (API server, default 16443),
#      PRESENCED_ETCD_PORT (etcd client port, default 23790; peer port +1),
#      PRESENCED_KUBE_KEEP=1 keeps the temporary directory for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
api_port="${PRESENCED_KUBE_PORT:-16443}"
etcd_port="${PRESENCED_ETCD_PORT:-23790}"
etcd_peer_port=$((etcd_port + 1))
log() { echo "ci-kube: $*" >&2; }
start=$SECONDS

# 1. Debian packages.
need=()
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v gcc >/dev/null || need+=(gcc) # go test -race needs cgo
# Debian's etcd; scripts/kube-etcd.sh builds a newer one if it is too old.
command -v etcd >/dev/null || need+=(etcd-server)
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# 2. Binaries.
kube_bin="$(scripts/kube-apiserver.sh)"
etcd_cmd="$(scripts/kube-etcd.sh)"
kubectl="$kube_bin/kubectl"
log "binaries ready after $((SECONDS - start)) s: $kube_bin, $etcd_cmd"

# 3. etcd and kube-apiserver on loopback.
work="$(mktemp -d)"
pids=()
# stop ends one process this script started: SIGTERM, then SIGKILL if it
# has not exited within 20 s.
stop() {
	local pid="$1" i
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 40); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	local rc=$? i
	# Finish cleaning up even if the output pipe is gone or ^C comes again.
	trap '' PIPE INT TERM
	# The API server first: it keeps retrying a vanished etcd.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		stop "${pids[i]}"
	done
	if [ "${PRESENCED_KUBE_KEEP:-}" = 1 ]; then
		log "kept $work" 2>/dev/null || true
	else
		rm -rf "$work"
	fi
	if [ "$rc" = 0 ]; then
		log "passed in $((SECONDS - start)) s" 2>/dev/null || true
	else
		log "FAILED (exit $rc) after $((SECONDS - start)) s" 2>/dev/null || true
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for port in "$api_port" "$etcd_port" "$etcd_peer_port"; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		log "127.0.0.1:$port is in use; set PRESENCED_KUBE_PORT / PRESENCED_ETCD_PORT"
		exit 1
	fi
done

# dump_log prints the end of a log file, for a failure's cause.
dump_log() {
	log "last lines of $1:"
	tail -n 40 "$1" >&2 || true
}

# wait_for retries a command until it succeeds or the seconds run out.
wait_for() {
	local what="$1" seconds="$2" logfile="$3"
	shift 3
	local deadline=$((SECONDS + seconds))
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "$what not ready after $seconds s"
			dump_log "$logfile"
			return 1
		fi
		for pid in "${pids[@]}"; do
			if ! kill -0 "$pid" 2>/dev/null; then
				log "$what: a process exited"
				dump_log "$logfile"
				return 1
			fi
		done
		sleep 0.5
	done
}

etcd_url="http://127.0.0.1:$etcd_port"
"$etcd_cmd" --name ci-kube --data-dir "$work/etcd" \
	--listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
	--listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
	--initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
	--initial-cluster "ci-kube=http://127.0.0.1:$etcd_peer_port" \
	--listen-metrics-urls "" >"$work/etcd.log" 2>&1 &
pids+=($!)
wait_for etcd 60 "$work/etcd.log" curl -sf "$etcd_url/health"
log "etcd $("$etcd_cmd" --version | sed -n 's/^etcd Version: //p') on $etcd_url"

openssl genrsa -out "$work/sa.key" 2048 2>/dev/null
openssl rsa -in "$work/sa.key" -pubout -out "$work/sa.pub" 2>/dev/null
token="$(openssl rand -hex 24)"
echo "$token,ci-kube,ci-kube,system:masters" >"$work/tokens.csv"

"$kube_bin/kube-apiserver" \
	--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
	--cert-dir="$work/certs" \
	--etcd-servers="$etcd_url" \
	--token-auth-file="$work/tokens.csv" --authorization-mode=AlwaysAllow \
	--service-account-issuer=https://kubernetes.default.svc \
	--service-account-key-file="$work/sa.pub" \
	--service-account-signing-key-file="$work/sa.key" \
	--service-cluster-ip-range=10.96.0.0/16 \
	--profiling=false >"$work/apiserver.log" 2>&1 &
pids+=($!)

export KUBECONFIG="$work/kubeconfig"
wait_for "the API server's certificate" 60 "$work/apiserver.log" test -s "$work/certs/apiserver.crt"
"$kubectl" config set-cluster ci-kube --server="https://127.0.0.1:$api_port" \
	--certificate-authority="$work/certs/apiserver.crt" --embed-certs=true >/dev/null
"$kubectl" config set-credentials ci-kube --token="$token" >/dev/null
"$kubectl" config set-context ci-kube --cluster=ci-kube --user=ci-kube >/dev/null
"$kubectl" config use-context ci-kube >/dev/null
wait_for kube-apiserver 180 "$work/apiserver.log" "$kubectl" get --raw /readyz
log "kube-apiserver $("$kubectl" version -o json | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | tail -1) ready on 127.0.0.1:$api_port after $((SECONDS - start)) s"

# 4. The CRDs the overlays use.
"$kubectl" apply -f deploy/kubernetes/validate/crds/ >/dev/null
"$kubectl" wait --for condition=established --timeout=60s \
	crd/servicemonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com >/dev/null

# 5. Every overlay, rendered, its namespaces created, applied in dry-run.
rendered="$work/rendered"
mkdir -p "$rendered"
failed=0
for dir in deploy/kubernetes/overlays/*/; do
	overlay="$(basename "$dir")"
	out="$rendered/$overlay.yaml"
	"$kubectl" kustomize "$dir" >"$out"
	# The overlay's own Namespace objects, for real (a dry-run creates
	# nothing, so the namespaced objects would find no namespace) ...
	awk 'BEGIN { RS = "\n---\n" } /(^|\n)kind: Namespace(\n|$)/ { print "---"; print }' "$out" >"$work/$overlay-namespaces.yaml"
	if [ -s "$work/$overlay-namespaces.yaml" ]; then
		"$kubectl" apply -f "$work/$overlay-namespaces.yaml" >/dev/null
	fi
	# ... and any other namespace its objects name.
	for ns in $(sed -n 's/^  namespace: \([a-z0-9-]*\)$/\1/p' "$out" | sort -u); do
		"$kubectl" get namespace "$ns" >/dev/null 2>&1 || "$kubectl" create namespace "$ns" >/dev/null
	done
	if "$kubectl" apply --dry-run=server --validate=strict -f "$out" >"$work/$overlay-apply.log" 2>&1 &&
		! grep -q '^Warning:' "$work/$overlay-apply.log"; then
		log "overlay $overlay: $(grep -c . "$work/$overlay-apply.log") objects accepted by the API server (dry run)"
	else
		log "overlay $overlay: refused:"
		cat "$work/$overlay-apply.log" >&2
		failed=1
	fi
done

# 6. The strict decoding and consistency tests, on the files just applied.
log "go test ./deploy/kubernetes/validate"
if ! (cd deploy/kubernetes/validate && PRESENCED_KUBE_RENDERED="$rendered" GOWORK=off GOFLAGS=-mod=readonly \
	go test -race -count=1 ./...); then
	failed=1
fi
exit "$failed"
