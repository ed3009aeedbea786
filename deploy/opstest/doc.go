// Package opstest checks the operations files of deploy/ against the real
// programs they configure: a real Prometheus (Debian's package) scraping
// real presenced processes runs every dashboard query and every rule,
// promtool lints the node's /metrics, and a real nginx runs the shipped
// reverse-proxy configuration in front of a node.
//
// The tests carry the build tag "ops" and need prometheus, promtool and
// nginx on PATH (or in /usr/sbin); scripts/ci-ops.sh installs them and runs
//
//	go test -race -tags ops ./deploy/opstest/
package opstest
