#!/usr/bin/env bash
# End-to-end test of the compose cluster: builds the images from source,
# starts three NATS servers and three presence nodes, writes and reads
# through different nodes, stops a NATS server and a presence node, checks
# that no acknowledged write was lost, and tears everything down whatever
# happens. Needs Go, a Docker engine and Compose (v2 plugin or
# docker-compose v1). Fails, never skips, when one of them is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
say() { printf 'e2e [%3ds] %s\n' "$(( $(date +%s) - start ))" "$*"; }
die() { say "FAIL: $*"; exit 1; }

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the Docker engine does not answer (docker info failed)"
if docker compose version >/dev/null 2>&1; then
	compose() { docker compose -p "$PROJECT" -f docker-compose.yml "$@"; }
elif command -v docker-compose >/dev/null; then
	compose() { docker-compose -p "$PROJECT" -f docker-compose.yml "$@"; }
else
	die "neither 'docker compose' nor docker-compose is installed"
fi
command -v curl >/dev/null || die "curl is not installed"

PROJECT=presenced-e2e-$$
TAG=e2e-$$
export PRESENCED_IMAGE=presenced:$TAG NATS_IMAGE=presenced-nats:$TAG NATS_LOCAL_IMAGE=presenced-nats:$TAG
# Empty host ports: Docker picks free ones, read back with "compose port".
export PRESENCED_1_PORT= PRESENCED_2_PORT= PRESENCED_3_PORT= PRESENCED_BIND=127.0.0.1

cleanup() {
	rc=$?
	if [ $rc -ne 0 ]; then
		say "logs of the failed run:"
		compose logs --no-color --tail 60 2>&1 | sed 's/^/    /' || true
	fi
	compose down -v --remove-orphans -t 5 >/dev/null 2>&1 || true
	docker rmi "$PRESENCED_IMAGE" "$NATS_IMAGE" >/dev/null 2>&1 || true
	say "torn down (exit $rc)"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building images"
PRESENCED_IMAGE=$PRESENCED_IMAGE NATS_LOCAL_IMAGE=$NATS_LOCAL_IMAGE scripts/images.sh

say "starting the cluster ($PROJECT)"
out=$(compose up -d 2>&1) || { printf '%s\n' "$out"; die "compose up failed"; }

health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$(compose ps -q "$1")"; }
wait_healthy() {
	local deadline=$(( $(date +%s) + $2 ))
	until [ "$(health "$1")" = healthy ]; do
		[ "$(date +%s)" -lt "$deadline" ] || die "$1 is not healthy after $2 s (status $(health "$1"))"
		sleep 1
	done
}
for s in presence-1 presence-2 presence-3; do wait_healthy "$s" 150; done
say "all presence nodes healthy"

url() { echo "http://$(compose port "$1" 8008 | tail -n1 | sed 's/^0\.0\.0\.0/127.0.0.1/')"; }
declare -A URL
for s in presence-1 presence-2 presence-3; do URL[$s]=$(url "$s"); done
declare -A TOKEN=([@alice:localhost]=alice_token [@bob:localhost]=bob_token [@carol:localhost]=carol_token)
declare -A ACKED
path() { echo "/_matrix/client/v3/presence/$1/status"; }

# put NODE USER MSG: one PUT; prints the HTTP status.
put() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 15 -X PUT \
		-H "Authorization: Bearer ${TOKEN[$2]}" -H 'Content-Type: application/json' \
		-d "{\"presence\":\"online\",\"status_msg\":\"$3\"}" "${URL[$1]}$(path "$2")" || echo 000
}
# put_acked NODE USER MSG: PUTs until acknowledged (a 503 says retry), then
# records MSG as the user's last acknowledged state.
put_acked() {
	local code
	for _ in $(seq 1 60); do
		code=$(put "$@")
		if [ "$code" = 200 ]; then ACKED[$2]=$3; return 0; fi
		case $code in 503|000) sleep 1 ;; *) die "PUT $2 via $1 answered $code" ;; esac
	done
	die "PUT $2 via $1 not acknowledged after 60 tries (last $code)"
}
# status NODE USER [QUERY]: the user's status_msg as NODE reads it.
status() {
	curl -s --max-time 15 -H "Authorization: Bearer ${TOKEN[$2]}" "${URL[$1]}$(path "$2")${3:-}" |
		sed -n 's/.*"status_msg":"\([^"]*\)".*/\1/p'
}
# check NODE...: every node shows every user's last acknowledged state.
check() {
	local n u got
	for n in "$@"; do
		for u in "${!ACKED[@]}"; do
			got=""
			for _ in $(seq 1 30); do
				got=$(status "$n" "$u" '?consistent=true')
				[ "$got" = "${ACKED[$u]}" ] && break
				sleep 1
			done
			[ "$got" = "${ACKED[$u]}" ] || die "$n shows '$got' for $u, last acknowledged '${ACKED[$u]}'"
		done
	done
}

nodes=(presence-1 presence-2 presence-3)
users=(@alice:localhost @bob:localhost @carol:localhost)
write_round() { # write_round LABEL NODE...: every user writes once through each given node
	local label=$1 i=0 n u; shift
	for n in "$@"; do for u in "${users[@]}"; do i=$((i + 1)); put_acked "$n" "$u" "$label-$i"; done; done
}

write_round a "${nodes[@]}"
[ "$(status presence-2 @alice:localhost)" != "" ] || die "presence-2 does not read alice"
check "${nodes[@]}"
say "writes through every node read back on every node"

say "stopping nats-1"
compose stop -t 10 nats-1 >/dev/null 2>&1
write_round b "${nodes[@]}"
check "${nodes[@]}"
say "writes survive the loss of nats-1"

say "stopping presence-3 (SIGTERM)"
compose stop -t 15 presence-3 >/dev/null 2>&1
code=$(docker inspect -f '{{.State.ExitCode}}' "$(compose ps -q presence-3)")
[ "$code" = 0 ] || die "presence-3 exited with $code on SIGTERM, want 0"
write_round c presence-1 presence-2
check presence-1 presence-2
say "presence-3 exited 0; writes go on through the other nodes"

say "restarting nats-1 and presence-3"
compose start nats-1 presence-3 >/dev/null 2>&1
wait_healthy presence-3 120
URL[presence-3]=$(url presence-3)
check "${nodes[@]}"
write_round d "${nodes[@]}"
check "${nodes[@]}"
say "PASS: nothing acknowledged was lost (${#ACKED[@]} users, last states checked on all nodes)"
