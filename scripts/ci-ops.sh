#!/usr/bin/env bash
# Checks of the operations files against the real tools: installs Debian's
# prometheus (which ships promtool) and nginx when they are missing, checks
# and unit-tests the alert and recording rules with promtool, then runs the
# deploy/opstest suite (a real Prometheus scraping real nodes, promtool
# check metrics, a real nginx in front of a node).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

need=()
command -v promtool >/dev/null && command -v prometheus >/dev/null || need+=(prometheus)
command -v nginx >/dev/null || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
	# The packages' scripts would start the services; a policy-rc.d that
	# answers 101 keeps them stopped (the tests run their own, unprivileged).
	policy=/usr/sbin/policy-rc.d
	made_policy=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
	[ -z "$made_policy" ] || rm -f "$policy"
fi
promtool --version | head -n1
nginx -v

promtool check rules deploy/prometheus/rules/*.yml
promtool test rules deploy/prometheus/tests/*.yml

go test -race -count=1 -timeout 5m -tags ops ./deploy/opstest/
