package httpapi

import (
	"net/http"
	"testing"
)

// TestMethodLabel: known methods are labelled as sent; any other method,
// whatever a client makes up, is one label, so that clients cannot grow
// the metrics' series.
func TestMethodLabel(t *testing.T) {
	for m, want := range map[string]string{
		http.MethodGet: "GET", http.MethodPut: "PUT", http.MethodOptions: "OPTIONS", http.MethodPatch: "PATCH",
		"BREW": "OTHER", "get": "OTHER", "": "OTHER",
	} {
		if got := methodLabels[methodIndex(m)]; got != want {
			t.Errorf("method %q: label %q, want %q", m, got, want)
		}
	}
}
