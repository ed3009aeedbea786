// Package validate checks the Kubernetes manifests of deploy/kubernetes: its
// tests render every overlay with kustomize, decode every object strictly
// into the k8s.io/api (and Prometheus Operator) Go types, so that a
// misspelt or misplaced field fails, and check that the objects agree with
// each other and with presenced's flags.
//
// It is a module of its own so that the Kubernetes libraries never enter
// presenced's module or its `go test ./...`. scripts/ci-kube.sh runs these
// tests after it has applied every overlay to a real API server.
package validate
