package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestHealthcheck runs the probe subcommand against a healthy and an
// unhealthy endpoint, and checks how it derives its default address.
func TestHealthcheck(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"status":"not ready"}`, http.StatusServiceUnavailable)
	}))
	defer bad.Close()
	var noenv []string
	var out, errOut bytes.Buffer
	if code := run([]string{"healthcheck", ok.URL}, noenv, &out, &errOut); code != 0 {
		t.Fatalf("healthy endpoint: exit %d, %s", code, errOut.String())
	}
	if code := run([]string{"healthcheck", ok.URL, bad.URL}, noenv, &out, &errOut); code != 1 {
		t.Fatalf("unhealthy endpoint: exit %d", code)
	}
	if !bytes.Contains(errOut.Bytes(), []byte("503")) {
		t.Fatalf("stderr does not say why: %s", errOut.String())
	}
	for listen, want := range map[string]string{"": "127.0.0.1:8008", ":8008": "127.0.0.1:8008", "0.0.0.0:9000": "127.0.0.1:9000", "10.0.0.1:80": "10.0.0.1:80"} {
		if got := probeAddr(listen); got != want {
			t.Errorf("probeAddr(%q) = %q, want %q", listen, got, want)
		}
	}
}
