#!/usr/bin/env bash
# Jepsen-style fault test (cmd/presence-jepsen, docs/reliability.md): the
# checker's unit tests, then a short seeded schedule against 3 NATS servers
# and 3 presence nodes on loopback (about 60-90 s with building), with a
# smaller load phase. A violation fails the script and leaves the history,
# porcupine's visualization and the process logs in the folder it prints.
#
#   scripts/ci-jepsen.sh                      short schedule (CI)
#   scripts/ci-jepsen.sh -duration 10m        a long one, on demand
#   JEPSEN_SEED=42 scripts/ci-jepsen.sh       replay a seed's schedule
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
go test -race -count=1 ./cmd/presence-jepsen/
go build -o "${TMPDIR:-/tmp}/presence-jepsen" ./cmd/presence-jepsen
seed="${JEPSEN_SEED:-$(date +%s)}"
short=
if [ $# -eq 0 ]; then
  short=1
  set -- -duration 45s -load-clients 300 -load-requests 5
fi
"${TMPDIR:-/tmp}/presence-jepsen" run -seed "$seed" "$@"
if [ -n "$short" ]; then
  # The embedded default on a full, then read-only, data dir (a tmpfs under a
  # fault-injecting FUSE loopback): needs root and /dev/fuse.
  if [ "$(id -u)" = 0 ] && [ -e /dev/fuse ]; then
    "${TMPDIR:-/tmp}/presence-jepsen" diskfull -publish-timeout 2s -apply-timeout 2s
  else
    echo "ci-jepsen: the disk-fault phase needs root and /dev/fuse; not run"
  fi
fi
