#!/usr/bin/env bash
# The end-to-end test against a real homeserver (e2e/homeserver): NATS,
# Dendrite v0.13.8 on it, presenced, the presence-dendrite bridge and
# Debian's nginx with deploy/nginx/presenced.conf, as processes on loopback.
#
# Installs what the test needs and is missing (nginx, and gcc for Dendrite's
# SQLite), builds Dendrite once into ~/.cache/presenced (scripts/dendrite.sh),
# then runs the test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v gcc >/dev/null || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
	# The package would start a system nginx on port 80; the test runs its
	# own. A policy-rc.d that refuses service starts prevents that; it is
	# removed when this script ends.
	policy=/usr/sbin/policy-rc.d
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod +x "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# Built before the test so that its time does not count against the test's.
scripts/dendrite.sh >/dev/null

go test -race -count=1 -timeout 10m -tags homeserver ./e2e/homeserver/
