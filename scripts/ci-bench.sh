#!/usr/bin/env bash
# CI smoke of the performance harness (cmd/presence-bench), so that it cannot
# rot: every phase at a tiny size with 1 s phases, Dendrite only if
# scripts/dendrite.sh has already built it. The figures of such a run mean
# nothing; this fails only if the harness itself fails (exit status, or no
# table), never because a target is missed.
#   scripts/ci-bench.sh           # about 30-60 s, most of it building
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -count=1 ./cmd/presence-bench/
go run ./cmd/presence-bench -users 256 -conns 8 -duration 1s -warmup 200ms -rounds 1 \
  -replay-users 2000 -replay-rounds 1 -dendrite cached -dendrite-users 64 \
  -feed-readers 16 -feed-users 16 -feed-rate 20 | tee "$out"
for want in '^GET +presenced' '^GET +bare-same' 'same bytes +[0-9.]+x +- +INFO' '^PUT +bare' '^visible A->B at 90%' '^replay 2000 +raw' '^TARGET' '^PUTs dropped by presenced' \
  '^fleet heartbeats +presenced +[0-9]' '^fleet feed long-poll x16 +presenced +[0-9]' '^fleet feed SSE x16 +presenced +[0-9]'; do
  grep -Eq "$want" "$out" || { echo "ci-bench: the table has no line matching '$want'" >&2; exit 1; }
done
echo "ci-bench: harness ran"
