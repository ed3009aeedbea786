// Package apitest holds the black-box tests of the presence API: real nodes
// (nodetest.StartNode) with real embedded or loopback NATS servers, driven
// over HTTP only, every exchange checked against docs/openapi.yaml. It has
// no code of its own.
package apitest
