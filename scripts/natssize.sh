#!/usr/bin/env bash
# Measures what N users (default 100000) cost an external nats-server: its
# resident memory and its JetStream store on disk, after the writes and
# after a restart; and the node's resident memory. Loopback only; stops
# everything it started. Used for the sizing figures of docs/operations.md.
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${USERS:-100000}
W=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
go build -o "$W/presenced" ./cmd/presenced
go build -o "$W/nats-server" github.com/nats-io/nats-server/v2
go build -o "$W/natssize" ./scripts/natssize
rss() { echo $(( $(ps -o rss= -p "$1") / 1024 )); }

"$W/nats-server" -js -sd "$W/store" -a 127.0.0.1 -p 14222 >"$W/nats.log" 2>&1 & nats=$!; pids+=($nats)
sleep 1
"$W/presenced" --listen 127.0.0.1:18008 --nats-url nats://127.0.0.1:14222 --auth homeserver \
	--homeserver-url http://127.0.0.1:18448 --ratelimit-per-second 0 --log-level warn >"$W/node.log" 2>&1 & node=$!; pids+=($node)
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18008/readyz >/dev/null && break; sleep 0.2; done
echo "empty:        nats-server $(rss $nats) MiB, node $(rss $node) MiB, store $(du -sb "$W/store" | cut -f1) bytes"
"$W/natssize" http://127.0.0.1:18008 "$USERS"
sleep 2
store=$(du -sb "$W/store" | cut -f1)
echo "$USERS users:  nats-server $(rss $nats) MiB, node $(rss $node) MiB, store $store bytes ($(( store / USERS )) bytes/user)"
kill "$node" "$nats"; wait "$node" "$nats" 2>/dev/null || true
"$W/nats-server" -js -sd "$W/store" -a 127.0.0.1 -p 14222 >"$W/nats2.log" 2>&1 & nats=$!; pids+=($nats)
for _ in $(seq 1 100); do grep -q "Server is ready" "$W/nats2.log" && break; sleep 0.2; done
sleep 1
echo "restarted:    nats-server $(rss $nats) MiB (store recovered)"
