#!/usr/bin/env bash
# GET throughput of presenced against a bare net/http handler (map lookup +
# encoding/json), both on loopback, measured with wrk (Debian's `wrk`).
# Each server is measured ROUNDS times, alternating, for DURATION each.
#   scripts/bench-get.sh            # ROUNDS=3 DURATION=10s CONNS=64
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10s} CONNS=${CONNS:-64}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

go build -o "$tmp/presenced" ./cmd/presenced
go build -o "$tmp/bareget" ./scripts/baseline/bareget
"$tmp/presenced" --tokens-file deploy/dev/tokens.yaml --data-dir "$tmp/data" --listen 127.0.0.1:8091 \
  --log-level warn --ratelimit-per-second 0 >"$tmp/presenced.log" 2>&1 &
pids+=($!)
"$tmp/bareget" --listen 127.0.0.1:8090 &
pids+=($!)
for _ in $(seq 100); do curl -fs http://127.0.0.1:8091/readyz >/dev/null && break; sleep 0.1; done
curl -fs -X PUT -H 'Authorization: Bearer alice_token' -d '{"presence":"online","status_msg":"benchmarking"}' \
  'http://127.0.0.1:8091/_matrix/client/v3/presence/%40alice%3Alocalhost/status' >/dev/null

path='/_matrix/client/v3/presence/%40alice%3Alocalhost/status'
bare_path='/_matrix/client/v3/presence/@alice:localhost/status'
rate() { wrk -t2 -c"$CONNS" -d"$DURATION" -H 'Authorization: Bearer bob_token' "$1" | awk '/Requests\/sec/ {print $2}'; }
for r in $(seq "$ROUNDS"); do
  p=$(rate "http://127.0.0.1:8091$path")
  b=$(rate "http://127.0.0.1:8090$bare_path")
  echo "round $r: presenced $p req/s, bare $b req/s, ratio $(awk -v p="$p" -v b="$b" 'BEGIN{printf "%.2f", p/b}')"
done
