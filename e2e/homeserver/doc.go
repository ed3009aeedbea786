// Package homeserver holds the end-to-end test of presenced in front of a
// real homeserver: Dendrite v0.13.8 on a NATS JetStream of the test's,
// presenced with --auth homeserver, the presence-dendrite bridge, and
// Debian's nginx with the shipped deploy/nginx/presenced.conf as the only
// address a Matrix client (mautrix-go) talks to. Every component is a real
// process on loopback.
//
// The test is behind the build tag homeserver; scripts/ci-homeserver.sh
// installs nginx, builds Dendrite and runs it:
//
//	go test -race -count=1 -tags homeserver ./e2e/homeserver/
package homeserver
